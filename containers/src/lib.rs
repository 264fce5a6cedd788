//! The Docker sandbox on bollard: images built locally from Debian packages, containers that
//! run the agent's commands with the workspace bind-mounted, and cleanup that leaves nothing
//! behind.
//!
//! - [`images`]: `ensure_image("3.11")` gives an [`ImageRef`], building what is missing.
//! - [`DockerSandbox`]: implements [`agent_exec::Executor`]; create it from a [`SandboxConfig`].
//! - [`cleanup`]: `prune`, the Ctrl-C and panic helpers for the binary.
//! - [`engine`]: connecting (`DOCKER_HOST`, `--engine`: unix socket, `tcp://` plain or TLS,
//!   `ssh://`), errors that name the engine and what failed.

pub mod cleanup;
pub mod engine;
pub mod error;
pub mod host;
pub mod images;
pub mod sandbox;

pub use cleanup::{PruneReport, PruneScope, prune};
pub use engine::{Engine, EngineAddress};
pub use error::{ContainerError, Result};
pub use host::HostEnv;
pub use images::{
    BuildEvent, BuildOptions, ImageRef, ensure_image, ensure_image_with, require_image,
};
pub use sandbox::{
    DockerSandbox, Limits, OutputLine, OutputStream, SandboxConfig, SandboxOutput, SandboxUser,
    SyncStats, WORKSPACE_MODE_VAR, WORKSPACE_MOUNT, WorkspaceMode,
};
