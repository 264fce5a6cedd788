//! The agent: configuration, the model client, the session loop, trajectories and the commands
//! the `agent` binary runs.

pub mod bench;
pub mod cli;
pub mod config;
pub mod fix;
pub mod git_guard;
pub mod github;
pub mod instructions;
pub mod model;
pub mod preflight;
pub mod printer;
pub mod progress;
pub mod prompts;
pub mod redact;
pub mod secrets;
pub mod session;
pub mod trajectory;
pub mod trust;
pub mod view;
pub mod workspace;
