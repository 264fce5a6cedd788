//! The two kinds of trouble a batch meets, kept apart in the type: an instance that failed
//! (recorded, and the batch goes on) and a fatal error after which no instance can succeed
//! (the engine is gone, the disk is full, the model endpoint refuses the key or cannot be
//! reached, the run's own records cannot be written): the batch stops starting instances, lets
//! the running ones finish and record, and ends with a message that names the cause.

use std::path::PathBuf;

use thiserror::Error;

use agent_containers::ContainerError;
use agent_harness::HarnessError;

use crate::model::ModelError;
use crate::run::RunError;

/// A file of the run's output that could not be read or written.
#[derive(Debug, Error)]
#[error("{action} {}: {source}", path.display())]
pub struct OutputError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl OutputError {
    pub fn new(action: &'static str, path: PathBuf, source: std::io::Error) -> Self {
        Self {
            action,
            path,
            source,
        }
    }
}

/// Why a batch stopped before its end. Every message says that a rerun of the same command
/// resumes (the caller adds where the predictions are).
#[derive(Debug, Error)]
pub enum FatalError {
    /// The engine cannot be reached (its message names the address and the fix).
    #[error("{0}")]
    Engine(String),
    #[error("the disk is full: {0}; free some space")]
    DiskFull(String),
    #[error("{0}")]
    Model(ModelError),
    /// The predictions or the environment errors could not be recorded.
    #[error("the run's records cannot be written: {0}")]
    Output(OutputError),
    #[error("the predictions cannot be written: {0}")]
    Predictions(HarnessError),
    #[error("interrupted")]
    Interrupted,
}

/// How one (instance, sample) ended without a prediction.
#[derive(Debug)]
pub enum InstanceFailure {
    /// Its environment could not be made: recorded in `env_errors.jsonl`, not retried by a
    /// rerun unless asked.
    Environment(String),
    /// The agent did not finish (a model error, a sandbox that would not start): nothing is
    /// recorded, so a rerun does it again.
    Unfinished(String),
    /// No instance can succeed after this one.
    Fatal(FatalError),
}

impl From<OutputError> for FatalError {
    fn from(e: OutputError) -> Self {
        if is_disk_full(&e.source) {
            FatalError::DiskFull(e.to_string())
        } else {
            FatalError::Output(e)
        }
    }
}

impl FatalError {
    /// A prediction that could not be appended: nothing more can be recorded.
    pub fn predictions(e: HarnessError) -> Self {
        fatal_cause(&e).unwrap_or(FatalError::Predictions(e))
    }
}

/// Whether an I/O error means the disk (or the user's quota) is full.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
        || e.raw_os_error() == Some(libc::ENOSPC)
        || e.raw_os_error() == Some(libc::EDQUOT)
}

/// The fatal cause in an error's chain of sources, if there is one: an unavailable engine, a
/// full disk, or a model error that every later request would meet too.
pub fn fatal_cause(error: &(dyn std::error::Error + 'static)) -> Option<FatalError> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(c) = e.downcast_ref::<ContainerError>()
            && c.is_unavailable()
        {
            return Some(FatalError::Engine(c.to_string()));
        }
        if let Some(h) = e.downcast_ref::<HarnessError>()
            && h.is_fatal()
        {
            return Some(match h {
                HarnessError::Stopped | HarnessError::StoppedAfter { .. } => {
                    FatalError::Interrupted
                }
                _ => FatalError::Engine(h.to_string()),
            });
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && is_disk_full(io)
        {
            return Some(FatalError::DiskFull(error.to_string()));
        }
        // `RunError::Model` is transparent: its `source()` skips the model error itself.
        let model = match e.downcast_ref::<RunError>() {
            Some(RunError::Model(m)) => Some(m),
            _ => e.downcast_ref::<ModelError>(),
        };
        if let Some(m) = model
            && m.ends_every_run()
        {
            return Some(FatalError::Model(m.clone()));
        }
        current = e.source();
    }
    None
}

/// An agent run's error: fatal when its chain holds a fatal cause, else the instance is
/// unfinished (a rerun does it again).
pub fn classify_run_error(error: &(dyn std::error::Error + 'static)) -> InstanceFailure {
    if let Some(fatal) = fatal_cause(error) {
        return InstanceFailure::Fatal(fatal);
    }
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    InstanceFailure::Unfinished(text)
}

/// A failure to make an instance's environment: fatal when the engine is gone or the disk is
/// full, else an environment error of that instance.
pub fn classify_setup_error(error: HarnessError) -> InstanceFailure {
    match fatal_cause(&error) {
        Some(fatal) => InstanceFailure::Fatal(fatal),
        None => InstanceFailure::Environment(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_anywhere_in_the_chain_is_fatal() {
        let io = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let harness = HarnessError::Io {
            context: "cannot copy the workspace".into(),
            source: io,
        };
        match classify_setup_error(harness) {
            InstanceFailure::Fatal(FatalError::DiskFull(text)) => {
                assert!(text.contains("cannot copy the workspace"), "{text}");
            }
            other => panic!("expected a full disk, got {other:?}"),
        }
        let wrapped = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::StorageFull))
            .context("writing the trajectory");
        assert!(matches!(
            classify_run_error(wrapped.as_ref()),
            InstanceFailure::Fatal(FatalError::DiskFull(_))
        ));
    }

    #[test]
    fn an_engine_gone_is_fatal_and_a_failed_install_is_not() {
        let gone = HarnessError::Container(ContainerError::EngineUnavailable(
            "cannot reach the Docker engine at unix:///x.sock".into(),
        ));
        assert!(matches!(
            classify_setup_error(gone),
            InstanceFailure::Fatal(FatalError::Engine(_))
        ));
        let install = HarnessError::ImageBuild("instance setup of a-1 failed (exit 7)".into());
        assert!(matches!(
            classify_setup_error(install),
            InstanceFailure::Environment(_)
        ));
    }

    #[test]
    fn a_rejected_key_is_fatal_and_a_server_error_is_not() {
        let auth = RunError::Model(ModelError::Auth {
            url: "http://127.0.0.1:1/v1".into(),
            status: 401,
        });
        assert!(matches!(
            classify_run_error(&auth),
            InstanceFailure::Fatal(FatalError::Model(ModelError::Auth { .. }))
        ));
        let http = RunError::Model(ModelError::Http {
            url: "http://127.0.0.1:1/v1".into(),
            status: 500,
            message: "boom".into(),
        });
        assert!(matches!(
            classify_run_error(&http),
            InstanceFailure::Unfinished(_)
        ));
    }
}
