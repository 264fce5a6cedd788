//! The command server. The container's main process is a small bash loop that runs each
//! command sent over its attached stdin and ends the command's stdout and stderr with a marker
//! that carries the exit code. A command then costs one write and the output, instead of
//! `runc exec` and three engine round trips (about 50 ms here). `docker exec` stays the path
//! for root helpers, for a second command while one runs, and for images without bash.

use std::pin::Pin;
use std::time::Duration;

use agent_exec::shell_quote;
use futures_util::StreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::AttachOutput;
use bollard::container::LogOutput;

/// The main process: the server when the image has bash, else `cat` after saying so. The
/// server script comes as `$0`.
pub(crate) const MAIN_PROCESS: &str = "if command -v bash >/dev/null 2>&1; then exec bash -c \"$0\"; fi; \
     echo AGENT-NO-SERVER; exec cat";

/// One request per line: `NONCE WORKDIR ENV COMMAND`, each field's bytes escaped for
/// `printf %b`. The command runs under its own `bash -c` in a forked subshell, as `docker exec`
/// would run it, with the working directory and the exported environment set first.
pub(crate) const SERVER: &str = r#"echo AGENT-SERVER-1
while IFS=' ' read -r nonce wd env cmd; do
  printf -v wd '%b' "$wd"
  printf -v env '%b' "$env"
  printf -v cmd '%b' "$cmd"
  ( cd -- "$wd" || exit 126; eval "$env"; exec bash -c "$cmd" ) </dev/null
  code=$?
  printf '%s:%s\n' "$nonce" "$code"
  printf '%s:%s\n' "$nonce" "$code" >&2
done"#;

const HELLO: &str = "AGENT-SERVER-1";
/// How long the first command waits for the server to say it is there.
const HELLO_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerState {
    /// Not heard from yet.
    Starting,
    Ready,
    /// No bash in the image, or the server stopped making sense: use `docker exec`.
    Unusable,
}

/// The attached stdio of the main process. Dropping it closes stdin, which ends the server
/// (or `cat`) and so the container.
pub(crate) struct Channel {
    pub input: Pin<Box<dyn AsyncWrite + Send>>,
    pub output: AttachOutput,
    pub state: ServerState,
    /// A command was sent and its end not read (its caller stopped waiting, e.g. on Ctrl-C):
    /// the server is still running it and will not see stdin close until it ends.
    pub in_flight: bool,
}

impl Channel {
    /// Whether the server can take a command, reading its greeting the first time.
    pub async fn ready(&mut self) -> bool {
        if self.state == ServerState::Starting {
            self.state = match tokio::time::timeout(HELLO_TIMEOUT, self.greeting()).await {
                Ok(true) => ServerState::Ready,
                _ => ServerState::Unusable,
            };
        }
        self.state == ServerState::Ready
    }

    async fn greeting(&mut self) -> bool {
        let mut seen = Vec::new();
        while let Some(Ok(item)) = self.output.next().await {
            if let LogOutput::StdOut { message } = item {
                seen.extend_from_slice(&message);
                if let Some(end) = seen.iter().position(|&b| b == b'\n') {
                    return &seen[..end] == HELLO.as_bytes();
                }
            }
        }
        false
    }

    /// Sends one command; `false` when the server cannot be written to.
    pub async fn send(
        &mut self,
        nonce: &str,
        command: &str,
        workdir: &str,
        env: &[(String, String)],
    ) -> bool {
        let exports: String = env
            .iter()
            .map(|(key, value)| format!("export {key}={}\n", shell_quote(value)))
            .collect();
        let line = format!(
            "{nonce} {} {} {}\n",
            escape(workdir),
            escape(&exports),
            escape(command)
        );
        let sent =
            self.input.write_all(line.as_bytes()).await.is_ok() && self.input.flush().await.is_ok();
        if !sent {
            self.state = ServerState::Unusable;
        }
        sent
    }
}

/// Escapes every byte but a few safe ones as `\xHH`, for bash's `printf %b`: a field travels
/// as one word, without spaces or newlines, whatever it holds.
fn escape(text: &str) -> String {
    if text.is_empty() {
        // `read` would merge an empty field away; `\0` (an octal escape) prints nothing.
        return r"\0".to_string();
    }
    let mut out = String::with_capacity(text.len() * 2);
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b"_./-=:,+@%".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Finds the end marker `NONCE:CODE\n` in one output stream, holding back the bytes that may
/// be its start.
pub(crate) struct MarkerScan {
    marker: Vec<u8>,
    pending: Vec<u8>,
    pub code: Option<i64>,
}

impl MarkerScan {
    pub fn new(nonce: &str) -> Self {
        Self {
            marker: format!("{nonce}:").into_bytes(),
            pending: Vec::new(),
            code: None,
        }
    }

    pub fn done(&self) -> bool {
        self.code.is_some()
    }

    /// Takes a chunk of the stream; returns the bytes that are the command's output for sure.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        if self.done() {
            return Vec::new();
        }
        self.pending.extend_from_slice(bytes);
        if let Some(at) = find(&self.pending, &self.marker) {
            let rest = &self.pending[at + self.marker.len()..];
            if let Some(end) = rest.iter().position(|&b| b == b'\n') {
                let code = String::from_utf8_lossy(&rest[..end]).trim().parse().ok();
                self.code = Some(code.unwrap_or(-1));
                let out = self.pending[..at].to_vec();
                self.pending.clear();
                return out;
            }
            // The marker is there but not its code yet.
            let out = self.pending[..at].to_vec();
            self.pending.drain(..at);
            return out;
        }
        // Hold back only a tail that could be the start of the marker, so that lines reach
        // the live output as soon as they arrive.
        let keep = (1..self.marker.len().min(self.pending.len() + 1))
            .rev()
            .find(|&k| self.pending.ends_with(&self.marker[..k]))
            .unwrap_or(0);
        let cut = self.pending.len() - keep;
        self.pending.drain(..cut).collect()
    }

    /// What is held back, when the stream ended without a marker.
    pub fn rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_split_across_chunks_is_found_and_output_kept() {
        let mut scan = MarkerScan::new("N-1");
        let mut out = scan.feed(b"hello wor");
        // Nothing that cannot start the marker is held back.
        assert_eq!(out, b"hello wor");
        out.extend(scan.feed(b"ld\nno newline N-"));
        assert_eq!(out, b"hello world\nno newline ");
        assert!(!scan.done());
        out.extend(scan.feed(b"1:3"));
        out.extend(scan.feed(b"\n"));
        assert_eq!(scan.code, Some(3));
        assert_eq!(out, b"hello world\nno newline ");
    }

    #[test]
    fn escaped_fields_round_trip_through_printf() {
        for text in [
            "printf '%s\\n' \"a b\" $'\\t' \\\\ \n echo ünï",
            "",
            "/work space",
        ] {
            let field = escape(text);
            assert!(!field.contains(' ') && !field.contains('\n'), "{field}");
            let out = std::process::Command::new("bash")
                .args([
                    "-c",
                    "printf -v s '%b' \"$1\"; printf '%s' \"$s\"",
                    "x",
                    &field,
                ])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), text);
        }
    }
}
