//! A stop asked for from outside (the binary's Ctrl-C/SIGTERM flag): no new instance starts, a
//! running one stops at its next await and its owner removes its container, reports already
//! written stay.

use tokio::sync::watch;

/// Set once, never cleared. The default never stops.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Option<watch::Receiver<bool>>);

impl StopFlag {
    /// Stops once `flag` becomes `true`.
    pub fn new(flag: watch::Receiver<bool>) -> Self {
        Self(Some(flag))
    }

    pub fn is_set(&self) -> bool {
        self.0.as_ref().is_some_and(|f| *f.borrow())
    }

    /// Resolves when the flag is set; never when it cannot be (no flag, or its sender gone).
    pub async fn wait(&self) {
        if let Some(flag) = &self.0 {
            let mut flag = flag.clone();
            if flag.wait_for(|set| *set).await.is_ok() {
                return;
            }
        }
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dropped_sender_never_stops_and_a_set_flag_does() {
        let (tx, rx) = watch::channel(false);
        let flag = StopFlag::new(rx);
        drop(tx);
        use futures_util::FutureExt;
        assert!(flag.wait().now_or_never().is_none() && !flag.is_set());
        let (tx, rx) = watch::channel(false);
        let flag = StopFlag::new(rx);
        tx.send(true).unwrap();
        flag.wait().await;
        assert!(flag.is_set());
        assert!(!StopFlag::default().is_set());
    }
}
