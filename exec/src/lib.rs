//! Running a command somewhere: the [`Executor`] trait, with a timeout and an output cap, its
//! request and output types, and [`shell_quote`] for building command lines. A light crate so
//! that what runs commands (the Docker sandbox, the SWE-bench harness) and what asks for them
//! (the agent's tools) share the interface without compiling each other.

use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;

/// One command to run.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    /// A shell command line, run with `bash -c`.
    pub command: String,
    /// Working directory; `None` means the repository root (or the sandbox's workdir).
    pub workdir: Option<String>,
    pub timeout: Duration,
    /// Bytes kept from each of stdout and stderr; the rest is dropped and counted.
    pub output_cap: usize,
    pub env: Vec<(String, String)>,
}

impl ExecRequest {
    pub fn new(command: impl Into<String>) -> Self {
        Self {
            command: command.into(),
            workdir: None,
            timeout: Duration::from_secs(120),
            output_cap: 1 << 20,
            env: Vec::new(),
        }
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// What a finished (or timed-out) command produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExecOutput {
    /// `None` when the process was killed (timeout, signal).
    pub exit_code: Option<i64>,
    pub stdout: String,
    pub stderr: String,
    pub duration_ms: u64,
    pub timed_out: bool,
    /// Bytes dropped because of the output cap.
    pub dropped_bytes: u64,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

#[derive(Debug, Error)]
pub enum ExecError {
    /// The executor itself is unusable (engine gone, cannot spawn a shell).
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Io(String),
}

#[async_trait]
pub trait Executor: Send + Sync {
    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, ExecError>;
    /// A short description for logs and trajectories, e.g. `local:/repo` or `docker:abc123`.
    fn describe(&self) -> String;
}

/// Quotes a word for bash unless it is made of characters that need none.
pub fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("numpy==1.19.2"), "numpy==1.19.2");
        assert_eq!(shell_quote("pandas<2.0.0"), "'pandas<2.0.0'");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
