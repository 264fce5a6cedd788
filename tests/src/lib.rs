//! Shared test support: a scripted OpenAI-compatible model server, fixture repositories, and
//! helpers to run the real `agent` binary.

pub mod browser;
pub mod engine_proxy;
pub mod engines;
pub mod fake_github;
pub mod fixtures;
pub mod scripted_server;

pub use scripted_server::{Reply, ScriptedServer, Scripts};
