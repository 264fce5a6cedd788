//! The user's credentials, kept out of this process's visible environment.
//!
//! With `--sandbox local` the model's commands run as the user, next to the agent: `cat
//! /proc/$PPID/environ` would hand them the API key and the GitHub token, since a process's
//! initial environment stays readable there for its whole life. So when credential variables
//! are present at start-up, the agent re-executes itself once with them removed from the
//! environment and hands their values over through a pipe. [`var`] is how the rest of the
//! program reads a variable; it sees the handed-over values first.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::sync::OnceLock;

use agent_tools::is_secret_env_name;

/// Names the pipe's file descriptor in the re-executed process (its name is itself scrubbed
/// from the model's commands, as a credential's would be).
const HANDOFF_FD_ENV: &str = "AGENT_SECRETS_FD";
/// Largest handoff written before the exec: a pipe holds 64 KiB without a reader.
const MAX_HANDOFF_BYTES: usize = 60 * 1024;

static HANDED_OVER: OnceLock<BTreeMap<String, String>> = OnceLock::new();

/// Called first thing in `main`, before any thread starts. Either reads the values handed over
/// by the previous image of this process, or (when credential variables are present) re-executes
/// the program without them. On any failure the program simply goes on as it is.
pub fn hide_from_environment() {
    if let Some(fd) = std::env::var_os(HANDOFF_FD_ENV) {
        let _ = HANDED_OVER.set(read_handoff(&fd.to_string_lossy()).unwrap_or_default());
        return;
    }
    let secrets: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| is_secret_env_name(k))
        .collect();
    if secrets.is_empty() {
        let _ = HANDED_OVER.set(BTreeMap::new());
        return;
    }
    if let Err(e) = reexec_without(&secrets) {
        tracing::debug!("keeping credentials in the environment: {e}");
    }
    let _ = HANDED_OVER.set(BTreeMap::new());
}

fn read_handoff(fd: &str) -> Option<BTreeMap<String, String>> {
    let fd: u32 = fd.parse().ok()?;
    let mut text = String::new();
    std::fs::File::open(format!("/proc/self/fd/{fd}"))
        .ok()?
        .read_to_string(&mut text)
        .ok()?;
    serde_json::from_str(&text).ok()
}

/// Only returns on failure: on success the process image is replaced.
fn reexec_without(secrets: &BTreeMap<String, String>) -> std::io::Result<()> {
    let payload = serde_json::to_vec(secrets)?;
    if payload.len() > MAX_HANDOFF_BYTES {
        return Err(std::io::Error::other(
            "the credentials are too large to hand over",
        ));
    }
    let exe = std::env::current_exe()?;
    let (reader, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    // The read end must survive the exec; the write end is closed before it.
    rustix::io::fcntl_setfd(&reader, rustix::io::FdFlags::empty())?;
    std::fs::File::from(writer).write_all(&payload)?;
    let mut command = std::process::Command::new(exe);
    command.args(std::env::args_os().skip(1));
    for name in secrets.keys() {
        command.env_remove(name);
    }
    command.env(HANDOFF_FD_ENV, reader.as_raw_fd().to_string());
    let error = command.exec();
    Err(error)
}

/// A variable of the user's environment: the handed-over credentials first, then the process
/// environment. Empty values count as unset.
pub fn var(name: &str) -> Option<String> {
    HANDED_OVER
        .get()
        .and_then(|m| m.get(name).cloned())
        .or_else(|| std::env::var(name).ok())
        .filter(|v| !v.is_empty())
}

/// The values of every credential variable the user started the agent with.
pub fn secret_values() -> Vec<String> {
    let mut values: Vec<String> = HANDED_OVER
        .get()
        .map(|m| m.values().cloned().collect())
        .unwrap_or_default();
    values.extend(
        std::env::vars()
            .filter(|(k, _)| is_secret_env_name(k))
            .map(|(_, v)| v),
    );
    values
}
