//! The harness error type. Every message names the input it is about and, where there is one,
//! the fix.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum HarnessError {
    /// A whole input file is unusable (cannot be parsed, wrong shape, wrong extension).
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
    /// One row of a dataset or predictions file is malformed.
    #[error("{path}: row {row}: field `{field}`: {message}")]
    Row {
        path: PathBuf,
        /// 1-based: the line of a JSONL file, the element of a JSON list.
        row: usize,
        field: String,
        message: String,
    },
    /// No environment spec for this repository or version.
    #[error("{0}")]
    UnknownSpec(String),
    /// Predictions name instances that the dataset does not have.
    #[error(
        "{} prediction id(s) not found in the dataset: {}; check that --dataset and --predictions belong together",
        ids.len(),
        ids.join(" ")
    )]
    UnknownPredictionIds { ids: Vec<String> },
    /// `--instances` names instances that the dataset does not have.
    #[error("instance id(s) not found in the dataset: {}", ids.join(" "))]
    UnknownInstanceIds { ids: Vec<String> },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A git command failed (repository mirrors, checkouts).
    #[error("git: {0}")]
    Git(String),
    /// The Docker engine refused or failed a request.
    #[error("docker: {0}")]
    Docker(String),
    /// Building an environment or instance image failed; the build log is named.
    #[error("image build failed: {0}")]
    ImageBuild(String),
    /// The container layer failed (engine unreachable, container gone, base image build).
    #[error(transparent)]
    Container(#[from] agent_containers::ContainerError),
    /// Any other invalid argument.
    #[error("{0}")]
    Invalid(String),
    /// The stop flag was set while this instance ran (its container is removed).
    #[error("stopped before it finished")]
    Stopped,
    /// The evaluation was stopped from outside; what was graded is kept.
    #[error(
        "stopped: {graded} of {total} instances graded (their reports are kept); rerunning the same command resumes"
    )]
    StoppedAfter { graded: usize, total: usize },
}

pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

impl HarnessError {
    /// Errors after which no further instance can succeed (the engine is gone) or should run
    /// (a stop was asked for).
    pub fn is_fatal(&self) -> bool {
        matches!(self, Self::Container(e) if e.is_unavailable())
            || matches!(self, Self::Stopped | Self::StoppedAfter { .. })
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// Attach a description of what was being done to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::result::Result<T, std::io::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| HarnessError::io(what(), e))
    }
}
