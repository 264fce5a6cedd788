//! Errors of the container layer.

use thiserror::Error;

pub type Result<T> = std::result::Result<T, ContainerError>;

#[derive(Debug, Error)]
pub enum ContainerError {
    /// The engine cannot be reached: no socket, refused connection, wrong `DOCKER_HOST`.
    #[error("{0}")]
    EngineUnavailable(String),
    /// The engine answered with an error.
    #[error("docker engine: {context}: {message}")]
    Engine { context: String, message: String },
    /// An image we need is not there and was not built.
    #[error("{0}")]
    ImageMissing(String),
    /// Building an image failed (rootfs, import or Dockerfile build).
    #[error("image build failed: {0}")]
    Build(String),
    /// The container went away while we used it (removed from outside, engine restarted).
    #[error("{0}")]
    ContainerGone(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl ContainerError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ContainerError::Io {
            context: context.into(),
            source,
        }
    }

    /// Maps a bollard error, turning connection failures into a message that names the socket.
    pub(crate) fn engine(context: impl Into<String>, err: bollard::errors::Error) -> Self {
        let context = context.into();
        if crate::engine::is_connection_error(&err) {
            return ContainerError::EngineUnavailable(crate::engine::unreachable_message(&err));
        }
        ContainerError::Engine {
            context,
            message: err.to_string(),
        }
    }

    /// Whether the engine (not a request) is the problem: callers end the run on these.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            ContainerError::EngineUnavailable(_) | ContainerError::ContainerGone(_)
        )
    }
}

impl From<ContainerError> for agent_exec::ExecError {
    fn from(err: ContainerError) -> Self {
        match err {
            e @ (ContainerError::EngineUnavailable(_)
            | ContainerError::ContainerGone(_)
            | ContainerError::ImageMissing(_)
            | ContainerError::Build(_)) => agent_exec::ExecError::Unavailable(e.to_string()),
            e => agent_exec::ExecError::Io(e.to_string()),
        }
    }
}

/// The HTTP status of an engine error response, if it was one.
pub(crate) fn status_code(err: &bollard::errors::Error) -> Option<u16> {
    match err {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}
