//! The agent's tools.
//!
//! A [`Tool`] is what the model calls: it has a name, a description, a JSON schema derived from
//! its argument struct, and an async `call`. The [`ToolRegistry`] maps names to tools so the
//! session loop never matches on tool-name strings. Commands run through an [`Executor`], which is
//! either the local shell or (in `agent-containers`) a Docker sandbox.

pub mod builtin;
pub mod clarify;
pub mod error;
pub mod executor;
pub mod jail;
pub mod lang;
mod python_layout;
pub mod registry;
pub mod schema;
pub mod secret_env;
pub mod symbols;
pub mod testing;
pub mod text;
pub mod tool;

pub use error::{ToolError, ToolResult};
pub use executor::{ExecError, ExecOutput, ExecRequest, Executor, LocalExecutor};
pub use jail::{JailError, PathJail};
pub use registry::ToolRegistry;
pub use secret_env::is_secret_env_name;
pub use tool::{CommandRun, Control, Effect, Tool, ToolContext, ToolData, ToolOutput, TypedTool};
