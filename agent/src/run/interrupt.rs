//! Ctrl-C and SIGTERM, the one stop mechanism of every command (`fix`, `fix --samples`, `bench
//! run`, `bench eval`, `bench validate`): the first signal sets a flag that the work reads at
//! its next await (no new run or instance starts; running ones stop and their owners remove
//! their containers); a second signal, or an orderly stop that hangs, exits at once after a
//! best-effort removal of this process's containers and of the directories registered with
//! [`DiscardOnForcedExit`].

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use crate::printer::Printer;

/// Becomes `true` when the user interrupts. One flag can serve several runs side by side.
pub type Interrupt = tokio::sync::watch::Receiver<bool>;

/// Time between the first Ctrl-C/SIGTERM and a forced exit, should the orderly stop of a run
/// hang (a stuck engine, a command that ignores signals).
pub const RUN_STOP_GRACE: Duration = Duration::from_secs(5);
/// The same for a batch, whose owners remove several containers, maybe on remote engines.
pub const BATCH_STOP_GRACE: Duration = Duration::from_secs(30);
/// How long a forced exit spends removing containers.
const FORCED_REMOVAL: Duration = Duration::from_secs(10);

/// What `agent fix` says on the first signal.
pub const RUN_STOPPING: &str =
    "interrupted: stopping after the current step and keeping the diff so far";

/// Which signal stopped the process (the first one received).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// Ctrl-C.
    Interrupt,
    /// `kill`, `docker stop`, a CI runner's cancel.
    Terminate,
}

impl StopSignal {
    /// 128 + the signal's number, as a shell reports a process killed by it.
    pub fn exit_code(self) -> u8 {
        match self {
            StopSignal::Interrupt => 130,
            StopSignal::Terminate => 143,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        }
    }
}

/// 0: none yet; else 1 + the [`StopSignal`]'s index.
static RECEIVED: AtomicU8 = AtomicU8::new(0);

/// The first stop signal this process received, if any.
pub fn stop_signal() -> Option<StopSignal> {
    match RECEIVED.load(Ordering::SeqCst) {
        1 => Some(StopSignal::Interrupt),
        2 => Some(StopSignal::Terminate),
        _ => None,
    }
}

/// [`interrupt_flag_saying`] with `agent fix`'s message and grace.
pub fn interrupt_flag(printer: Printer) -> Interrupt {
    interrupt_flag_saying(printer, RUN_STOPPING, RUN_STOP_GRACE)
}

/// Sets the returned flag on Ctrl-C or SIGTERM (saying `stopping` once), so the work stops
/// cleanly: a run still writes its diff and its trajectory's `end` event and removes its
/// sandbox. A second signal, or the orderly stop taking longer than `grace`, ends the process
/// at once (see [`force_exit`]). Install one per command and share it.
pub fn interrupt_flag_saying(
    printer: Printer,
    stopping: &'static str,
    grace: Duration,
) -> Interrupt {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let signal = next_stop_signal(&mut term).await;
        let _ = RECEIVED.compare_exchange(0, signal as u8 + 1, Ordering::SeqCst, Ordering::SeqCst);
        printer.warn(&format!("{stopping} (interrupt again to exit at once)"));
        let _ = tx.send(true);
        std::thread::spawn(move || {
            std::thread::sleep(grace);
            force_exit(
                &printer,
                signal,
                "the stop did not finish in time after the interrupt",
            );
        });
        next_stop_signal(&mut term).await;
        force_exit(&printer, signal, "interrupted again");
    });
    rx
}

/// Removes what it can (this process's containers on every engine, then the registered
/// directories) and exits with the first signal's code.
fn force_exit(printer: &Printer, signal: StopSignal, why: &str) -> ! {
    let removed = agent_containers::cleanup::remove_own_containers_blocking(FORCED_REMOVAL);
    let left = agent_containers::cleanup::live_containers().len();
    let dirs: Vec<PathBuf> = lock_discards().drain(..).collect();
    let mut kept = Vec::new();
    for dir in dirs {
        if std::fs::remove_dir_all(&dir).is_err() && dir.exists() {
            kept.push(dir.display().to_string());
        }
    }
    let mut message = format!("{why}: exiting now; {removed} containers removed");
    if left > 0 {
        message.push_str(&format!(
            ", {left} could not be (`agent containers prune` removes them)"
        ));
    }
    if !kept.is_empty() {
        message.push_str(&format!("; could not remove {}", kept.join(", ")));
    }
    printer.error(&message);
    std::process::exit(i32::from(signal.exit_code()));
}

/// Waits for Ctrl-C or SIGTERM (when its handler could be installed) and says which came.
async fn next_stop_signal(term: &mut Option<tokio::signal::unix::Signal>) -> StopSignal {
    match term {
        Some(term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => StopSignal::Interrupt,
                _ = term.recv() => StopSignal::Terminate,
            }
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
            StopSignal::Interrupt
        }
    }
}

/// Directories a forced exit removes (scratch clones that an orderly stop removes itself).
static DISCARDS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn lock_discards() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    DISCARDS.lock().unwrap_or_else(|p| p.into_inner())
}

/// While alive, a forced exit removes `dir`; dropped (the owner removed it or keeps it), not.
#[derive(Debug)]
pub struct DiscardOnForcedExit(PathBuf);

impl DiscardOnForcedExit {
    pub fn new(dir: PathBuf) -> Self {
        lock_discards().push(dir.clone());
        Self(dir)
    }
}

impl Drop for DiscardOnForcedExit {
    fn drop(&mut self) {
        lock_discards().retain(|d| d != &self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_128_plus_the_signal() {
        assert_eq!(StopSignal::Interrupt.exit_code(), 130);
        assert_eq!(StopSignal::Terminate.exit_code(), 143);
    }

    #[test]
    fn a_discard_is_registered_while_its_guard_lives() {
        let dir = PathBuf::from("/nonexistent/discard-test");
        let guard = DiscardOnForcedExit::new(dir.clone());
        assert!(lock_discards().contains(&dir));
        drop(guard);
        assert!(!lock_discards().contains(&dir));
    }
}
