//! Running commands: the `Executor` trait (from `agent-exec`, re-exported) and the local (no
//! sandbox) implementation.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;

use async_trait::async_trait;
use tokio::io::AsyncReadExt;

pub use agent_exec::{ExecError, ExecOutput, ExecRequest, Executor};

/// Runs commands on the host, in the repository. For users who opt out of Docker.
#[derive(Debug, Clone)]
pub struct LocalExecutor {
    root: PathBuf,
}

impl LocalExecutor {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
}

#[async_trait]
impl Executor for LocalExecutor {
    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, ExecError> {
        let started = Instant::now();
        let workdir = match &request.workdir {
            Some(dir) => self.root.join(dir),
            None => self.root.clone(),
        };
        let mut command = tokio::process::Command::new("bash");
        command
            .arg("-c")
            .arg(&request.command)
            .current_dir(&workdir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        // Credentials never reach the model's commands, whatever they are called.
        for name in crate::secret_env::secret_env_names() {
            command.env_remove(name);
        }
        for (k, v) in &request.env {
            command.env(k, v);
        }
        let mut child = command.spawn().map_err(|e| {
            ExecError::Unavailable(format!("cannot start bash in {}: {e}", workdir.display()))
        })?;
        let pid = child.id();
        // If this future is dropped mid-command (Ctrl-C, SIGTERM, the time budget), the whole
        // process group dies with it, not only `bash`.
        let mut group = KillGroupOnDrop(pid);
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let cap = request.output_cap;
        let read_out = async move { read_capped(stdout.as_mut(), cap).await };
        let read_err = async move { read_capped(stderr.as_mut(), cap).await };
        let run = async {
            let (out, err, status) = tokio::join!(read_out, read_err, child.wait());
            (out, err, status)
        };
        match tokio::time::timeout(request.timeout, run).await {
            Ok((out, err, status)) => {
                group.disarm();
                let status =
                    status.map_err(|e| ExecError::Io(format!("waiting for command: {e}")))?;
                Ok(ExecOutput {
                    exit_code: status.code().map(i64::from),
                    stdout: out.text,
                    stderr: err.text,
                    duration_ms: started.elapsed().as_millis() as u64,
                    timed_out: false,
                    dropped_bytes: out.dropped + err.dropped,
                })
            }
            Err(_) => {
                // Kill the whole process group so background children die too.
                group.kill();
                Ok(ExecOutput {
                    exit_code: None,
                    stdout: String::new(),
                    stderr: format!(
                        "command timed out after {}s and was killed",
                        request.timeout.as_secs()
                    ),
                    duration_ms: started.elapsed().as_millis() as u64,
                    timed_out: true,
                    dropped_bytes: 0,
                })
            }
        }
    }

    fn describe(&self) -> String {
        format!("local:{}", self.root.display())
    }
}

/// Kills a command's process group when dropped, unless disarmed after a normal finish.
struct KillGroupOnDrop(Option<u32>);

impl KillGroupOnDrop {
    fn disarm(&mut self) {
        self.0 = None;
    }

    fn kill(&mut self) {
        if let Some(pid) = self.0.take() {
            kill_process_group(pid);
        }
    }
}

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        self.kill();
    }
}

fn kill_process_group(pid: u32) {
    // `kill -KILL -- -PGID` avoids an unsafe libc call. The `--` matters: without it procps
    // `kill` reads `-PGID` as an option, exits 0 and kills nothing.
    let _ = std::process::Command::new("kill")
        .arg("-KILL")
        .arg("--")
        .arg(format!("-{pid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

struct Captured {
    text: String,
    dropped: u64,
}

async fn read_capped<R: tokio::io::AsyncRead + Unpin>(
    reader: Option<&mut R>,
    cap: usize,
) -> Captured {
    let mut kept = Vec::new();
    let mut dropped = 0u64;
    if let Some(reader) = reader {
        let mut buf = [0u8; 8192];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = cap.saturating_sub(kept.len());
                    let take = room.min(n);
                    kept.extend_from_slice(&buf[..take]);
                    dropped += (n - take) as u64;
                }
            }
        }
    }
    Captured {
        text: String::from_utf8_lossy(&kept).into_owned(),
        dropped,
    }
}
