//! Tool errors, split by who can fix them.

use thiserror::Error;

/// The result of a tool call.
pub type ToolResult<T> = std::result::Result<T, ToolError>;

/// Why a tool call did not succeed.
///
/// `Model` errors are the model's to fix (bad arguments, no match for an edit, a path outside the
/// repository): they go back to the model as the tool's observation. `Fatal` errors are not
/// (the Docker engine is gone, the disk is full): they end the run with a clear message.
#[derive(Debug, Error)]
pub enum ToolError {
    /// The call itself was malformed (arguments missing or of the wrong type). The session counts
    /// these separately from ordinary failures: several in a row end the run.
    #[error("{0}")]
    BadArguments(String),
    #[error("{0}")]
    Model(String),
    #[error("{0}")]
    Fatal(String),
}

impl ToolError {
    pub fn model(message: impl Into<String>) -> Self {
        ToolError::Model(message.into())
    }

    pub fn fatal(message: impl Into<String>) -> Self {
        ToolError::Fatal(message.into())
    }

    /// Maps an I/O error: a full disk or a permission problem on our own files cannot be fixed by
    /// the model, a missing file can.
    pub fn from_io(context: &str, err: std::io::Error) -> Self {
        use std::io::ErrorKind;
        match err.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::ReadOnlyFilesystem => {
                ToolError::Fatal(format!(
                    "{context}: {err} (free disk space and resume the run)"
                ))
            }
            _ => ToolError::Model(format!("{context}: {err}")),
        }
    }

    pub fn is_fatal(&self) -> bool {
        matches!(self, ToolError::Fatal(_))
    }
}
