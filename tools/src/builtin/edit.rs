//! What every edit tool does last: run the syntax gate on the new content, then write it.

use std::path::Path;

use crate::error::{ToolError, ToolResult};

use super::syntax_gate::{breaks_syntax, check_edit};

/// Writes `after` to `path` unless it introduces a syntax error. `before` is `None` for a new
/// file; `changed_from` is the first changed line (1-based), to report the relevant error.
pub(crate) async fn write_checked(
    path: &Path,
    shown: &str,
    before: Option<&str>,
    after: &str,
    changed_from: usize,
) -> ToolResult<()> {
    check_edit(path, shown, before, after, changed_from)?;
    write_file(path, shown, after).await
}

/// Like [`write_checked`], but when `after` breaks the syntax and `ascii_after` (the same edit
/// with typographic quotes/dashes in the inserted text replaced by ASCII) does not, writes that
/// instead: curly quotes as string delimiters are a model's typing error, never intended code.
/// Returns whether the ASCII version was written.
pub(crate) async fn write_checked_or_ascii(
    path: &Path,
    shown: &str,
    before: Option<&str>,
    after: &str,
    ascii_after: &str,
    changed_from: usize,
) -> ToolResult<bool> {
    if ascii_after != after
        && breaks_syntax(path, before, after)
        && !breaks_syntax(path, before, ascii_after)
    {
        write_file(path, shown, ascii_after).await?;
        return Ok(true);
    }
    write_checked(path, shown, before, after, changed_from).await?;
    Ok(false)
}

/// The note added to an edit's result when [`write_checked_or_ascii`] chose the ASCII version.
pub(crate) const ASCII_NOTE: &str = "typographic quotes/dashes in your text were syntax errors here and were replaced by ASCII ones";

/// Writes a file, creating missing parent directories.
pub(crate) async fn write_file(path: &Path, shown: &str, content: &str) -> ToolResult<()> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(|e| {
            ToolError::from_io(&format!("cannot create the directory for `{shown}`"), e)
        })?;
    }
    match super::fileio::write_regular(path, content.as_bytes().to_vec()).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
            Err(ToolError::model(format!("`{shown}`: {e}")))
        }
        Err(e) => Err(ToolError::from_io(&format!("cannot write `{shown}`"), e)),
    }
}

/// "line 7" or "lines 7-9".
pub(crate) fn line_range(first: usize, count: usize) -> String {
    if count <= 1 {
        format!("line {first}")
    } else {
        format!("lines {first}-{}", first + count - 1)
    }
}
