//! Reading files for a model, and the line model the edit tools share.

use std::path::Path;

use crate::error::{ToolError, ToolResult};

/// Bytes inspected for NUL when deciding whether a file is binary (git and ripgrep do the same).
const BINARY_SNIFF_BYTES: usize = 8 * 1024;
/// Displayed lines longer than this are cut (minified code would flood the context).
pub(crate) const MAX_LINE_CHARS: usize = 500;

/// What a file's bytes turned out to be.
pub(crate) enum FileText {
    Utf8(String),
    /// Text, but not valid UTF-8: shown lossily, never edited.
    Lossy(String),
    Binary,
}

pub(crate) fn classify(bytes: Vec<u8>) -> FileText {
    let sniff = &bytes[..bytes.len().min(BINARY_SNIFF_BYTES)];
    if sniff.contains(&0) {
        return FileText::Binary;
    }
    match String::from_utf8(bytes) {
        Ok(text) => FileText::Utf8(text),
        Err(err) => {
            let bytes = err.into_bytes();
            let lossy = String::from_utf8_lossy(&bytes).into_owned();
            // Mostly replacement characters means it is not text in any encoding we can show.
            let bad = lossy.chars().filter(|&c| c == '\u{FFFD}').count();
            if bad * 10 > lossy.chars().count().max(1) {
                FileText::Binary
            } else {
                FileText::Lossy(lossy)
            }
        }
    }
}

/// What a path is when it is not a regular file or a directory, in words.
fn special_kind(file_type: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        Some("a named pipe (FIFO)")
    } else if file_type.is_socket() {
        Some("a socket")
    } else if file_type.is_char_device() {
        Some("a character device")
    } else if file_type.is_block_device() {
        Some("a block device")
    } else {
        None
    }
}

/// The error for a path that is a pipe, socket or device: reading or writing one can block
/// forever or never end, so the file tools refuse it.
fn special_file_error(kind: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        format!(
            "it is {kind}, not a regular file; the file tools only read and write regular files"
        ),
    )
}

/// Opens `path` without blocking on a FIFO (`O_NONBLOCK`) and refuses anything but a regular
/// file or directory, checked on the opened descriptor so a swap after the check cannot slip
/// through.
fn open_regular(path: &Path, options: &mut std::fs::OpenOptions) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = options.custom_flags(libc::O_NONBLOCK).open(path)?;
    if let Some(kind) = special_kind(file.metadata()?.file_type()) {
        return Err(special_file_error(kind));
    }
    Ok(file)
}

/// Reads a regular file (blocking; see [`read_regular`] for async callers).
pub fn read_regular_blocking(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut file = open_regular(path, std::fs::OpenOptions::new().read(true))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Reads a regular file; pipes, sockets and devices are refused instead of blocking.
pub async fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || read_regular_blocking(&path))
        .await
        .map_err(std::io::Error::other)?
}

/// Replaces a regular file's content (creating it if missing); refuses pipes, sockets and
/// devices, which an ordinary write would block on or pass through.
pub async fn write_regular(path: &Path, content: Vec<u8>) -> std::io::Result<()> {
    use std::io::Write;
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut file = open_regular(&path, std::fs::OpenOptions::new().write(true).create(true))?;
        file.set_len(0)?;
        file.write_all(&content)
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Reads a file, turning "not found" and "is a directory" into messages the model can act on.
pub(crate) async fn read_bytes(path: &Path, shown: &str) -> ToolResult<Vec<u8>> {
    match read_regular(path).await {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ToolError::model(format!(
            "`{shown}` does not exist; use find_files to locate the file"
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Err(ToolError::model(format!(
            "`{shown}` is a directory, not a file"
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
            Err(ToolError::model(format!("`{shown}`: {e}")))
        }
        Err(e) => Err(ToolError::from_io(&format!("cannot read `{shown}`"), e)),
    }
}

/// Reads a file that is about to be edited: it must be UTF-8 text.
pub(crate) async fn read_text_for_edit(path: &Path, shown: &str) -> ToolResult<String> {
    match classify(read_bytes(path, shown).await?) {
        FileText::Utf8(text) => Ok(text),
        FileText::Lossy(_) => Err(ToolError::model(format!(
            "`{shown}` is not valid UTF-8; the edit tools only change UTF-8 text (use the run tool for other encodings)"
        ))),
        FileText::Binary => Err(ToolError::model(format!(
            "`{shown}` is a binary file; the edit tools only change text files"
        ))),
    }
}

/// A file as lines, remembering how to write it back byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Doc {
    pub lines: Vec<String>,
    /// Every line ended with `\r\n`; the `\r` is stripped from `lines` and put back on render.
    pub crlf: bool,
    pub final_newline: bool,
}

impl Doc {
    pub fn parse(text: &str) -> Self {
        if text.is_empty() {
            return Self {
                lines: Vec::new(),
                crlf: false,
                final_newline: true,
            };
        }
        let newlines = text.matches('\n').count();
        let crlf = newlines > 0 && text.matches("\r\n").count() == newlines;
        let final_newline = text.ends_with('\n');
        let body = text.strip_suffix('\n').unwrap_or(text);
        let lines = body
            .split('\n')
            .map(|line| {
                if crlf {
                    line.strip_suffix('\r').unwrap_or(line).to_string()
                } else {
                    line.to_string()
                }
            })
            .collect();
        Self {
            lines,
            crlf,
            final_newline,
        }
    }

    pub fn render(&self) -> String {
        let eol = if self.crlf { "\r\n" } else { "\n" };
        let mut out = self.lines.join(eol);
        if self.final_newline && !self.lines.is_empty() {
            out.push_str(eol);
        }
        out
    }
}

/// Cuts a long line for display, saying how much was cut.
pub(crate) fn clip_line(line: &str) -> std::borrow::Cow<'_, str> {
    match line.char_indices().nth(MAX_LINE_CHARS) {
        None => std::borrow::Cow::Borrowed(line),
        Some((cut, _)) => {
            let rest = line[cut..].chars().count();
            std::borrow::Cow::Owned(format!("{}[... {rest} more characters]", &line[..cut]))
        }
    }
}

/// Appends `lines` numbered from `first` (1-based) in the `  12\tcode` form view_file uses.
pub(crate) fn push_numbered<S: AsRef<str>>(out: &mut String, lines: &[S], first: usize) {
    for (i, line) in lines.iter().enumerate() {
        out.push_str(&format!("{:>6}\t{}\n", first + i, clip_line(line.as_ref())));
    }
}

/// Lines shown around a change after an edit.
const SNIPPET_CONTEXT: usize = 3;
/// A changed region longer than this is shown as its head and tail.
const SNIPPET_MAX_CHANGED: usize = 30;

/// A numbered excerpt of `lines` around the changed range `[start, end)` (0-based), for the
/// model to check its edit without another view_file call.
pub(crate) fn snippet<S: AsRef<str>>(lines: &[S], start: usize, end: usize) -> String {
    let start = start.min(lines.len());
    let end = end.clamp(start, lines.len());
    let from = start.saturating_sub(SNIPPET_CONTEXT);
    let to = (end + SNIPPET_CONTEXT).min(lines.len());
    let mut out = String::new();
    if end - start > SNIPPET_MAX_CHANGED {
        let half = SNIPPET_MAX_CHANGED / 2;
        push_numbered(&mut out, &lines[from..start + half], from + 1);
        out.push_str(&format!(
            "   ...\t[{} changed lines not shown]\n",
            end - start - 2 * half
        ));
        push_numbered(&mut out, &lines[end - half..to], end - half + 1);
    } else {
        push_numbered(&mut out, &lines[from..to], from + 1);
    }
    if out.is_empty() {
        out.push_str("(the file is now empty)\n");
    }
    out
}

/// 1-based line number of a byte offset.
pub(crate) fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_round_trips_lf_crlf_and_missing_final_newline() {
        for text in [
            "a\nb\n",
            "a\r\nb\r\n",
            "a\nb",
            "",
            "\n",
            "a\r\nb\nc\n",
            "x\r\n\r\n",
        ] {
            assert_eq!(Doc::parse(text).render(), text, "{text:?}");
        }
        assert!(Doc::parse("a\r\nb\r\n").crlf);
        assert!(!Doc::parse("a\r\nb\n").crlf);
    }

    #[test]
    fn nul_bytes_mean_binary_and_latin1_is_lossy_text() {
        assert!(matches!(classify(b"ab\0cd".to_vec()), FileText::Binary));
        assert!(matches!(
            classify(b"caf\xe9 au lait".to_vec()),
            FileText::Lossy(_)
        ));
        assert!(matches!(classify(b"plain".to_vec()), FileText::Utf8(_)));
    }

    #[test]
    fn snippet_shows_context_and_elides_long_changes() {
        let lines: Vec<String> = (1..=100).map(|i| format!("l{i}")).collect();
        let s = snippet(&lines, 10, 12);
        assert!(s.starts_with("     8\tl8\n"), "{s}");
        assert!(s.ends_with("    15\tl15\n"), "{s}");
        let s = snippet(&lines, 10, 80);
        assert!(s.contains("[40 changed lines not shown]"), "{s}");
    }

    #[test]
    fn long_lines_are_clipped_with_a_count() {
        let line = "x".repeat(MAX_LINE_CHARS + 7);
        assert!(clip_line(&line).ends_with("[... 7 more characters]"));
    }
}
