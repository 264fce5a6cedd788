//! `view_file`: a line-numbered window onto a file, or the tree of a directory.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{ToolError, ToolResult};
use crate::tool::{Effect, ToolContext, ToolOutput, TypedTool};

use super::fileio::{FileText, classify, push_numbered, read_bytes};
use super::find_files::same_name_files;
use super::tree::render_tree;

const DEFAULT_WINDOW: usize = 100;
/// The most lines one call shows, whatever range is asked for.
const MAX_WINDOW: usize = 400;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ViewFileArgs {
    /// File or directory path, relative to the repository root ("." is the root).
    pub path: String,
    /// First line to show (1-based, default 1).
    #[serde(default)]
    pub start_line: Option<usize>,
    /// Last line to show, inclusive (default start_line + 99; at most 400 lines per call).
    #[serde(default)]
    pub end_line: Option<usize>,
}

pub struct ViewFile;

#[async_trait]
impl TypedTool for ViewFile {
    type Args = ViewFileArgs;
    const NAME: &'static str = "view_file";
    const EFFECT: Effect = Effect::ReadsFiles;
    const DESCRIPTION: &'static str = "Show a text file with line numbers, 100 lines at a time (start_line/end_line choose another window, up to 400 lines). The header gives the file's total line count. Given a directory, shows its tree (a few levels deep, .gitignored entries omitted). Binary files are refused.";

    async fn call(&self, ctx: &ToolContext, args: ViewFileArgs) -> ToolResult<ToolOutput> {
        let path = ctx.jail.resolve(&args.path)?;
        let rel = ctx.jail.relative(&path).display().to_string();
        let rel = if rel.is_empty() { ".".to_string() } else { rel };
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_dir() => {
                let shown = rel.clone();
                let tree = tokio::task::spawn_blocking(move || render_tree(&path, &shown))
                    .await
                    .map_err(|e| ToolError::fatal(format!("directory walk failed: {e}")))?;
                return Ok(ToolOutput::text(tree));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(missing_file(ctx, &rel).await);
            }
            Err(e) => return Err(ToolError::from_io(&format!("cannot read `{rel}`"), e)),
        }
        let bytes = read_bytes(&path, &rel).await?;
        let size = bytes.len();
        let (content, note) = match classify(bytes) {
            FileText::Utf8(text) => (text, ""),
            FileText::Lossy(text) => (
                text,
                " [not valid UTF-8: undecodable bytes are shown as \u{FFFD}]",
            ),
            FileText::Binary => {
                return Err(ToolError::model(format!(
                    "`{rel}` is a binary file ({size} bytes); view_file shows text files only"
                )));
            }
        };
        Ok(ToolOutput::text(window(&rel, &content, note, &args)?))
    }
}

fn window(rel: &str, content: &str, note: &str, args: &ViewFileArgs) -> ToolResult<String> {
    let lines: Vec<&str> = content.lines().collect();
    let total = lines.len();
    if total == 0 {
        return Ok(format!("`{rel}` is empty (0 lines)\n"));
    }
    let start = args.start_line.unwrap_or(1).max(1);
    if start > total {
        return Err(ToolError::model(format!(
            "start_line {start} is past the end of `{rel}`, which has {total} lines"
        )));
    }
    if let Some(end) = args.end_line
        && end < start
    {
        return Err(ToolError::model(format!(
            "end_line {end} is before start_line {start}"
        )));
    }
    let asked_end = args.end_line.unwrap_or(start + DEFAULT_WINDOW - 1);
    let end = asked_end.min(total).min(start + MAX_WINDOW - 1);
    let mut text = if start == 1 && end == total {
        format!("{rel} ({total} lines, whole file){note}\n")
    } else {
        format!("{rel} ({total} lines), lines {start}-{end}{note}\n")
    };
    push_numbered(&mut text, &lines[start - 1..end], start);
    if end < total {
        let capped = if asked_end > end && end < total && end == start + MAX_WINDOW - 1 {
            format!(" (at most {MAX_WINDOW} lines per call)")
        } else {
            String::new()
        };
        text.push_str(&format!(
            "[{} more lines{capped}; use start_line={} to continue]\n",
            total - end,
            end + 1
        ));
    }
    Ok(text)
}

async fn missing_file(ctx: &ToolContext, rel: &str) -> ToolError {
    let name = std::path::Path::new(rel)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let root = ctx.repo_root().to_path_buf();
    let candidates = tokio::task::spawn_blocking(move || same_name_files(&root, &name, 5))
        .await
        .unwrap_or_default();
    if candidates.is_empty() {
        ToolError::model(format!(
            "`{rel}` does not exist; use find_files to locate the file"
        ))
    } else {
        ToolError::model(format!(
            "`{rel}` does not exist. Files with the same name: {}",
            candidates.join(", ")
        ))
    }
}
