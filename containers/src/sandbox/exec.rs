//! Running a command in the sandbox: timeout that kills the command's whole process tree,
//! output cap (head and tail kept), live output lines, OOM and lost-container detection.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agent_exec::{ExecError, ExecOutput, ExecRequest, Executor};
use async_trait::async_trait;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedSender;

use super::DockerSandbox;
use super::server::{self, MarkerScan};
use crate::error::{ContainerError, Result, status_code};

/// How long we wait for the output stream to close after killing a timed-out command.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(5);
/// How long a command killed by a signal waits for its container to be seen stopped.
const CONTAINER_EXIT_GRACE: Duration = Duration::from_millis(500);
/// A line longer than this is passed on in pieces.
const MAX_LIVE_LINE: usize = 64 * 1024;

static EXEC_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A `docker exec`'s attached output.
type ExecStream = std::pin::Pin<
    Box<
        dyn futures_util::Stream<Item = std::result::Result<LogOutput, bollard::errors::Error>>
            + Send,
    >,
>;

/// A marker unique to one command (process id, counter, time), put in its environment so its
/// processes can be found and killed.
fn next_exec_marker() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{nanos}",
        std::process::id(),
        EXEC_COUNTER.fetch_add(1, Ordering::Relaxed),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// One line of a running command's output, as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub stream: OutputStream,
    pub line: String,
}

/// An [`ExecOutput`] plus what only a container can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxOutput {
    pub output: ExecOutput,
    /// The kernel killed a process of this command because the container hit its memory limit.
    pub oom_killed: bool,
}

impl DockerSandbox {
    /// Runs `request` with `bash -c`, sending each output line to `live` as it arrives.
    ///
    /// At the deadline every process started by the command is killed (found by a marker in
    /// its environment, so children that left the process group die too) and the output so far
    /// is returned with `timed_out`. A container that disappears mid-command (removed from
    /// outside, engine restarted) is an error, not an exit code.
    ///
    /// With a copied workspace, host changes are copied in before the command and the
    /// command's changes copied out after it (also after a timeout).
    pub async fn exec_streaming(
        &self,
        request: ExecRequest,
        live: Option<UnboundedSender<OutputLine>>,
    ) -> Result<SandboxOutput> {
        self.sync_before().await?;
        let output = self.run_command(request, live).await?;
        self.sync_after().await?;
        Ok(output)
    }

    /// Runs a command without syncing a copied workspace (the sync's own helpers use it).
    pub(super) async fn run_command(
        &self,
        request: ExecRequest,
        live: Option<UnboundedSender<OutputLine>>,
    ) -> Result<SandboxOutput> {
        let started = Instant::now();
        let marker = next_exec_marker();
        if let Some(run) = self.run_on_server(&request, &marker, &live, started).await {
            return self.conclude(&request, run).await;
        }
        let (exec_id, output) = self.start_attached_exec(&request, &marker).await?;
        let mut stdout = Capture::new(request.output_cap, OutputStream::Stdout, live.clone());
        let mut stderr = Capture::new(request.output_cap, OutputStream::Stderr, live);
        let deadline = tokio::time::Instant::from_std(started + request.timeout);
        let (timed_out, stream_error) = self
            .read_until_deadline(output, (&mut stdout, &mut stderr), deadline, &marker)
            .await;
        let duration_ms = started.elapsed().as_millis() as u64;

        let exit_code = match self.docker.inspect_exec(&exec_id).await {
            Ok(info) => info.exit_code,
            Err(e) if crate::engine::is_connection_error(&e) => {
                let partial = stdout.finish() + &stderr.finish();
                return Err(self.engine_lost(&request.command, &e.to_string(), &partial));
            }
            Err(e) => return Err(self.lost_or(e, "inspecting the exec")),
        };
        let run = Run {
            stdout,
            stderr,
            exit_code,
            timed_out,
            stream_error,
            duration_ms,
        };
        self.conclude(&request, run).await
    }

    /// Creates and starts a `docker exec` of `bash -c` with the command's environment plus the
    /// marker; returns the exec id and its attached output stream.
    async fn start_attached_exec(
        &self,
        request: &ExecRequest,
        marker: &str,
    ) -> Result<(String, ExecStream)> {
        let mut env: Vec<String> = request
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        env.push(format!("AGENT_EXEC_ID={marker}"));
        let options = CreateExecOptions {
            cmd: Some(vec![
                "bash".to_string(),
                "-c".to_string(),
                request.command.clone(),
            ]),
            env: Some(env),
            working_dir: Some(self.resolve_workdir(request.workdir.as_deref())),
            user: (!self.user.is_empty()).then(|| self.user.clone()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            attach_stdin: Some(false),
            tty: Some(false),
            ..Default::default()
        };
        let exec = self
            .docker
            .create_exec(&self.id, options)
            .await
            .map_err(|e| self.lost_or(e, "creating the exec"))?;
        let started_exec = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(|e| self.lost_or(e, "starting the exec"))?;
        let StartExecResults::Attached { output, input } = started_exec else {
            return Err(ContainerError::Invalid("exec started detached".into()));
        };
        drop(input);
        Ok((exec.id, output))
    }

    /// Reads the exec's output into the captures until the stream ends or the deadline passes;
    /// at the deadline the command's processes are killed and what they still wrote is drained.
    /// Returns whether it timed out and the stream error that ended it, if any.
    async fn read_until_deadline(
        &self,
        mut output: ExecStream,
        (stdout, stderr): (&mut Capture, &mut Capture),
        deadline: tokio::time::Instant,
        marker: &str,
    ) -> (bool, Option<bollard::errors::Error>) {
        let mut timed_out = false;
        let mut stream_error = None;
        loop {
            tokio::select! {
                item = output.next() => match item {
                    Some(Ok(LogOutput::StdOut { message })) | Some(Ok(LogOutput::Console { message })) => stdout.push(&message),
                    Some(Ok(LogOutput::StdErr { message })) => stderr.push(&message),
                    Some(Ok(LogOutput::StdIn { .. })) => {}
                    Some(Err(e)) => { stream_error = Some(e); break; }
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline), if !timed_out => {
                    timed_out = true;
                    self.kill_marked(marker).await;
                    // The stream closes once the killed processes' pipes do.
                    let drain_until = tokio::time::Instant::now() + DRAIN_AFTER_KILL;
                    loop {
                        match tokio::time::timeout_at(drain_until, output.next()).await {
                            Ok(Some(Ok(LogOutput::StdOut { message }))) => stdout.push(&message),
                            Ok(Some(Ok(LogOutput::StdErr { message }))) => stderr.push(&message),
                            Ok(Some(Ok(_))) => {}
                            Ok(Some(Err(_))) | Ok(None) | Err(_) => break,
                        }
                    }
                    break;
                }
            }
        }
        (timed_out, stream_error)
    }

    /// Runs the command through the command server when it is free and working; `None` means
    /// use `docker exec` instead.
    async fn run_on_server(
        &self,
        request: &ExecRequest,
        marker: &str,
        live: &Option<UnboundedSender<OutputLine>>,
        started: Instant,
    ) -> Option<Run> {
        let mut guard = self.channel.try_lock().ok()?;
        let channel = guard.as_mut()?;
        if !channel.ready().await {
            return None;
        }
        let mut env: Vec<(String, String)> = request
            .env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.push(("AGENT_EXEC_ID".into(), marker.to_string()));
        let workdir = self.resolve_workdir(request.workdir.as_deref());
        let nonce = format!("AGENT-END-{marker}");
        if !channel.send(&nonce, &request.command, &workdir, &env).await {
            return None;
        }
        channel.in_flight = true;
        let mut stdout = Capture::new(request.output_cap, OutputStream::Stdout, live.clone());
        let mut stderr = Capture::new(request.output_cap, OutputStream::Stderr, live.clone());
        let (mut out_end, mut err_end) = (MarkerScan::new(&nonce), MarkerScan::new(&nonce));
        let deadline = tokio::time::Instant::from_std(started + request.timeout);
        let mut drain_until = None;
        let mut timed_out = false;
        let mut stream_error = None;
        let mut ended = false;
        while !(out_end.done() && err_end.done()) {
            let wait_until = drain_until.unwrap_or(deadline);
            match tokio::time::timeout_at(wait_until, channel.output.next()).await {
                Ok(Some(Ok(LogOutput::StdOut { message }))) => stdout.push(&out_end.feed(&message)),
                Ok(Some(Ok(LogOutput::StdErr { message }))) => stderr.push(&err_end.feed(&message)),
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) => {
                    stream_error = Some(e);
                    ended = true;
                    break;
                }
                Ok(None) => {
                    ended = true;
                    break;
                }
                Err(_) if drain_until.is_none() => {
                    timed_out = true;
                    self.kill_marked(marker).await;
                    drain_until = Some(tokio::time::Instant::now() + DRAIN_AFTER_KILL);
                }
                Err(_) => break,
            }
        }
        channel.in_flight = !(out_end.done() && err_end.done());
        if channel.in_flight {
            // The server did not finish this command: it cannot be trusted with another.
            channel.state = server::ServerState::Unusable;
            stdout.push(&out_end.rest());
            stderr.push(&err_end.rest());
        }
        Some(Run {
            stdout,
            stderr,
            exit_code: if ended { None } else { out_end.code },
            timed_out,
            stream_error,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }

    /// Turns what a command run produced into its result: OOM kills and lost containers are
    /// recognised, and notes are added for timeouts and OOM kills.
    async fn conclude(&self, request: &ExecRequest, run: Run) -> Result<SandboxOutput> {
        let Run {
            mut stdout,
            mut stderr,
            exit_code,
            timed_out,
            stream_error,
            duration_ms,
        } = run;
        // The stream also ends when the container dies under us (the command then looks killed
        // by a signal); such exit codes mean nothing. The engine may record the command's exit
        // a moment before the container's, so a kill that is not an OOM is looked at twice.
        let killed_like =
            exit_code.is_none_or(|code| !(0..128).contains(&code)) || stream_error.is_some();
        let oom_killed = !timed_out && exit_code == Some(137) && self.new_oom_kill().await;
        let lost = if timed_out || oom_killed {
            self.is_running().await.map(|running| !running)
        } else if killed_like {
            self.stopped_within(CONTAINER_EXIT_GRACE).await
        } else {
            Ok(false)
        };
        let lost = match lost {
            Ok(lost) => lost,
            Err(ContainerError::EngineUnavailable(why)) => {
                let partial = stdout.finish() + &stderr.finish();
                return Err(self.engine_lost(&request.command, &why, &partial));
            }
            Err(e) => return Err(e),
        };
        if lost {
            let partial = stdout.finish() + &stderr.finish();
            return Err(self.gone_error(&request.command, &partial));
        }
        if let Some(err) = stream_error.filter(|_| !timed_out) {
            return Err(ContainerError::engine("reading the command's output", err));
        }
        let dropped_bytes = stdout.dropped + stderr.dropped;
        let mut stderr_text = stderr.finish();
        if timed_out {
            push_note(
                &mut stderr_text,
                &format!(
                    "[timed out after {}s: the command and its child processes were killed; output above is partial]",
                    request.timeout.as_secs()
                ),
            );
        }
        if oom_killed {
            push_note(
                &mut stderr_text,
                &format!(
                    "[killed: out of memory (the sandbox's memory limit is {} MiB)]",
                    self.config.limits.memory_bytes >> 20
                ),
            );
        }
        Ok(SandboxOutput {
            output: ExecOutput {
                exit_code: if timed_out { None } else { exit_code },
                stdout: stdout.finish(),
                stderr: stderr_text,
                duration_ms,
                timed_out,
                dropped_bytes,
            },
            oom_killed,
        })
    }

    /// Whether the container is seen stopped within `grace` (polled).
    async fn stopped_within(&self, grace: Duration) -> Result<bool> {
        let until = Instant::now() + grace;
        loop {
            if !self.is_running().await? {
                return Ok(true);
            }
            if Instant::now() >= until {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn resolve_workdir(&self, requested: Option<&str>) -> String {
        match requested {
            None | Some("") | Some(".") => self.config.workdir.clone(),
            Some(dir) if dir.starts_with('/') => dir.to_string(),
            Some(dir) => format!("{}/{}", self.config.workdir.trim_end_matches('/'), dir),
        }
    }

    /// Kills every process whose environment carries `marker`, as root.
    async fn kill_marked(&self, marker: &str) {
        let script = format!(
            "for d in /proc/[0-9]*; do \
               if grep -qzx 'AGENT_EXEC_ID={marker}' \"$d/environ\" 2>/dev/null; then \
                 kill -KILL \"${{d#/proc/}}\" 2>/dev/null; \
               fi; \
             done; true"
        );
        if let Err(err) = self.run_as_root(&script).await {
            tracing::warn!(id = %self.id, "killing a timed-out command failed: {err}");
        }
    }

    /// Whether the memory cgroup's OOM-kill counter grew since we last looked. Falls back to
    /// the engine's sticky `OOMKilled` flag when the counter is not readable.
    async fn new_oom_kill(&self) -> bool {
        let script = "cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null; true";
        if let Ok(text) = self.run_as_root(script).await
            && let Some(count) = parse_oom_kill_count(&text)
        {
            let before = self.oom_kills_seen.swap(count, Ordering::SeqCst);
            return count > before;
        }
        match self.docker.inspect_container(&self.id, None).await {
            Ok(info) => info.state.and_then(|s| s.oom_killed).unwrap_or(false),
            Err(_) => false,
        }
    }

    /// A short helper command, run as root, whose stdout we want.
    pub(super) async fn run_as_root(&self, script: &str) -> Result<String> {
        let options = CreateExecOptions {
            cmd: Some(vec!["sh".to_string(), "-c".to_string(), script.to_string()]),
            user: Some("0:0".to_string()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let exec = self
            .docker
            .create_exec(&self.id, options)
            .await
            .map_err(|e| self.lost_or(e, "creating a helper exec"))?;
        let mut text = String::new();
        if let StartExecResults::Attached { mut output, .. } = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(|e| self.lost_or(e, "starting a helper exec"))?
        {
            while let Some(Ok(item)) = output.next().await {
                if let LogOutput::StdOut { message } = item {
                    text.push_str(&String::from_utf8_lossy(&message));
                }
            }
        }
        Ok(text)
    }

    /// Maps an engine error during an exec: a 404/409 means our container is gone.
    fn lost_or(&self, err: bollard::errors::Error, context: &str) -> ContainerError {
        match status_code(&err) {
            Some(404) | Some(409) => ContainerError::ContainerGone(format!(
                "the sandbox container {} is gone or stopped ({context}: {err}); it was removed \
                 from outside or the Docker engine restarted. Start a new sandbox.",
                self.name
            )),
            _ => ContainerError::engine(context, err),
        }
    }

    fn gone_error(&self, command: &str, partial: &str) -> ContainerError {
        ContainerError::ContainerGone(format!(
            "the sandbox container {} stopped while running `{command}` (removed from outside, \
             killed, or the Docker engine restarted); nothing was left running. Partial output:\n{}",
            self.name,
            tail_of(partial)
        ))
    }

    /// The engine stopped answering mid-command (stopped or restarting): the container does
    /// not survive that without live-restore, so the sandbox is lost.
    fn engine_lost(&self, command: &str, cause: &str, partial: &str) -> ContainerError {
        ContainerError::ContainerGone(format!(
            "the Docker engine stopped answering while the sandbox {} ran `{command}` (the engine \
             was stopped or restarted: {cause}); the sandbox is lost, start a new one once the \
             engine is back. Partial output:\n{}",
            self.name,
            tail_of(partial)
        ))
    }
}

/// The last 2,000 characters of a command's partial output, or "(none)".
fn tail_of(partial: &str) -> String {
    let partial = partial.trim();
    if partial.is_empty() {
        return "(none)".into();
    }
    let skip = partial.chars().count().saturating_sub(2000);
    partial.chars().skip(skip).collect()
}

fn push_note(text: &mut String, note: &str) {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(note);
    text.push('\n');
}

/// `oom_kill N` from cgroup v2 `memory.events` or cgroup v1 `memory.oom_control`.
pub(crate) fn parse_oom_kill_count(text: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next()) {
            (Some("oom_kill"), Some(n)) => n.parse().ok(),
            _ => None,
        }
    })
}

/// What one command run produced, before it is interpreted.
pub(super) struct Run {
    pub stdout: Capture,
    pub stderr: Capture,
    pub exit_code: Option<i64>,
    pub timed_out: bool,
    pub stream_error: Option<bollard::errors::Error>,
    pub duration_ms: u64,
}

/// Keeps the first and last `cap / 2` bytes of a stream, counts the rest, and passes complete
/// lines on as they arrive.
pub(super) struct Capture {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    head_cap: usize,
    tail_cap: usize,
    dropped: u64,
    stream: OutputStream,
    live: Option<UnboundedSender<OutputLine>>,
    line: Vec<u8>,
}

impl Capture {
    pub(super) fn new(
        cap: usize,
        stream: OutputStream,
        live: Option<UnboundedSender<OutputLine>>,
    ) -> Self {
        let head_cap = cap - cap / 2;
        Self {
            head: Vec::new(),
            tail: VecDeque::new(),
            head_cap,
            tail_cap: cap / 2,
            dropped: 0,
            stream,
            live,
            line: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, bytes: &[u8]) {
        self.forward_lines(bytes);
        let room = self.head_cap.saturating_sub(self.head.len());
        let (to_head, rest) = bytes.split_at(room.min(bytes.len()));
        self.head.extend_from_slice(to_head);
        for &b in rest {
            if self.tail.len() == self.tail_cap {
                if self.tail.pop_front().is_none() {
                    // tail_cap == 0: nothing kept.
                    self.dropped += 1;
                    continue;
                }
                self.dropped += 1;
            }
            self.tail.push_back(b);
        }
    }

    fn forward_lines(&mut self, bytes: &[u8]) {
        let Some(live) = &self.live else { return };
        for &b in bytes {
            if b == b'\n' || self.line.len() >= MAX_LIVE_LINE {
                let line = String::from_utf8_lossy(&self.line).into_owned();
                let _ = live.send(OutputLine {
                    stream: self.stream,
                    line,
                });
                self.line.clear();
                if b == b'\n' {
                    continue;
                }
            }
            self.line.push(b);
        }
    }

    pub(super) fn finish(&mut self) -> String {
        if let Some(live) = &self.live
            && !self.line.is_empty()
        {
            let _ = live.send(OutputLine {
                stream: self.stream,
                line: String::from_utf8_lossy(&self.line).into_owned(),
            });
            self.line.clear();
        }
        let mut text = String::from_utf8_lossy(&self.head).into_owned();
        if self.dropped > 0 {
            push_note(
                &mut text,
                &format!("[... {} bytes dropped ...]", self.dropped),
            );
        }
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        text.push_str(&String::from_utf8_lossy(&tail));
        text
    }
}

#[async_trait]
impl Executor for DockerSandbox {
    async fn exec(&self, request: ExecRequest) -> std::result::Result<ExecOutput, ExecError> {
        self.exec_streaming(request, None)
            .await
            .map(|out| out.output)
            .map_err(ExecError::from)
    }

    fn describe(&self) -> String {
        format!("docker:{} ({})", self.name, self.config.image)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_keeps_head_and_tail_and_counts_the_middle() {
        let mut capture = Capture::new(10, OutputStream::Stdout, None);
        capture.push(b"0123456789abcdefghij");
        assert_eq!(capture.dropped, 10);
        let text = capture.finish();
        assert!(
            text.starts_with("01234\n[... 10 bytes dropped ...]\n"),
            "{text}"
        );
        assert!(text.ends_with("fghij"), "{text}");

        let mut small = Capture::new(100, OutputStream::Stdout, None);
        small.push(b"hello ");
        small.push(b"world");
        assert_eq!(small.finish(), "hello world");
        assert_eq!(small.dropped, 0);
    }

    #[test]
    fn capture_forwards_complete_lines() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut capture = Capture::new(1000, OutputStream::Stderr, Some(tx));
        capture.push(b"one\ntw");
        capture.push(b"o\nthree");
        let _ = capture.finish();
        let mut lines = Vec::new();
        while let Ok(line) = rx.try_recv() {
            assert_eq!(line.stream, OutputStream::Stderr);
            lines.push(line.line);
        }
        assert_eq!(lines, vec!["one", "two", "three"]);
    }

    #[test]
    fn oom_counter_parses_both_cgroup_versions() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(parse_oom_kill_count(v1), Some(3));
        let v2 = "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n";
        assert_eq!(parse_oom_kill_count(v2), Some(2));
        assert_eq!(parse_oom_kill_count(""), None);
    }
}
