//! What every edit tool does last: run the syntax gate on the new content, then write it.

use std::path::Path;

use crate::error::{ToolError, ToolResult};

use super::syntax_gate::check_edit;

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

/// Writes a file, creating missing parent directories.
pub(crate) async fn write_file(path: &Path, shown: &str, content: &str) -> ToolResult<()> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(|e| {
            ToolError::from_io(&format!("cannot create the directory for `{shown}`"), e)
        })?;
    }
    tokio::fs::write(path, content)
        .await
        .map_err(|e| ToolError::from_io(&format!("cannot write `{shown}`"), e))
}

/// "line 7" or "lines 7-9".
pub(crate) fn line_range(first: usize, count: usize) -> String {
    if count <= 1 {
        format!("line {first}")
    } else {
        format!("lines {first}-{}", first + count - 1)
    }
}
