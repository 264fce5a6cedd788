//! Ctrl-C and SIGTERM: the run stops cleanly at its next await.

use crate::printer::Printer;

/// Becomes `true` when the user interrupts. One flag can serve several runs side by side.
pub type Interrupt = tokio::sync::watch::Receiver<bool>;

/// Seconds between the first Ctrl-C/SIGTERM and a forced exit, should the orderly stop hang
/// (a stuck engine, a command that ignores signals).
const STOP_GRACE_SECS: u64 = 5;

/// Sets the returned flag on Ctrl-C or SIGTERM, so the session stops cleanly: the diff so far and
/// the trajectory's `end` event are still written, and the sandbox is removed. A second signal,
/// or the orderly stop taking longer than [`STOP_GRACE_SECS`], ends the process at once, after
/// removing this process's containers on every engine they live on.
pub fn interrupt_flag(printer: Printer) -> Interrupt {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        next_stop_signal(&mut term).await;
        printer.warn("interrupted: stopping after the current step and keeping the diff so far");
        let _ = tx.send(true);
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(STOP_GRACE_SECS));
            printer.error("the run did not stop in time after the interrupt; exiting now");
            agent_containers::cleanup::remove_live_containers_now();
            std::process::exit(130);
        });
        next_stop_signal(&mut term).await;
        printer.error("interrupted again: exiting now");
        agent_containers::cleanup::remove_live_containers_now();
        std::process::exit(130);
    });
    rx
}

/// Waits for Ctrl-C or SIGTERM (when its handler could be installed).
async fn next_stop_signal(term: &mut Option<tokio::signal::unix::Signal>) {
    match term {
        Some(term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
