//! `create_file`: write a whole file, creating parent directories.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{ToolError, ToolResult};
use crate::tool::{Effect, ToolContext, ToolOutput, TypedTool};

use super::edit::{ASCII_NOTE, write_checked_or_ascii};
use super::fileio::{FileText, classify, read_bytes, snippet};
use super::matching::normalize_punctuation;

/// Lines of the new file echoed back.
const SHOWN_LINES: usize = 20;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateFileArgs {
    /// Path relative to the repository root; missing parent directories are created.
    pub path: String,
    /// The complete content of the file.
    pub content: String,
}

pub struct CreateFile;

#[async_trait]
impl TypedTool for CreateFile {
    type Args = CreateFileArgs;
    const NAME: &'static str = "create_file";
    const EFFECT: Effect = Effect::WritesFiles;
    const DESCRIPTION: &'static str = "Create a file with the given content, creating missing parent directories. If the file exists it is overwritten and the result says so (prefer str_replace, insert or apply_patch to change part of an existing file). Content with a syntax error is rejected.";

    async fn call(&self, ctx: &ToolContext, args: CreateFileArgs) -> ToolResult<ToolOutput> {
        let path = ctx.jail.resolve(&args.path)?;
        let rel = ctx.jail.relative(&path).to_path_buf();
        let shown = rel.display().to_string();
        if shown.is_empty() {
            return Err(ToolError::model(
                "`path` names the repository root; give a file path",
            ));
        }
        let previous = match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_dir() => {
                return Err(ToolError::model(format!(
                    "`{shown}` is a directory; give a file path"
                )));
            }
            Ok(_) => Some(classify(read_bytes(&path, &shown).await?)),
            Err(_) => None,
        };
        let before = match &previous {
            Some(FileText::Utf8(text)) => Some(text.as_str()),
            _ => None,
        };
        if previous
            .as_ref()
            .is_some_and(|p| matches!(p, FileText::Utf8(t) if *t == args.content))
        {
            return Ok(ToolOutput::text(format!(
                "`{shown}` already has exactly this content; nothing changed."
            )));
        }
        let ascii = normalize_punctuation(&args.content);
        let used_ascii =
            write_checked_or_ascii(&path, &shown, before, &args.content, &ascii, 1).await?;
        let content = if used_ascii { &ascii } else { &args.content };
        let lines: Vec<&str> = content.lines().collect();
        let now = plural_lines(lines.len());
        let mut out = match &previous {
            None => format!("Created `{shown}` ({now})"),
            Some(FileText::Utf8(old)) => format!(
                "Overwrote `{shown}` (it had {}; now {now})",
                plural_lines(old.lines().count())
            ),
            Some(_) => format!("Overwrote the non-text file `{shown}` (now {now})"),
        };
        if used_ascii {
            out.push_str(&format!("; {ASCII_NOTE}"));
        }
        out.push_str(".\n");
        if lines.len() > SHOWN_LINES {
            out.push_str(&snippet(&lines[..SHOWN_LINES], 0, SHOWN_LINES));
            out.push_str(&format!("[{} more lines]\n", lines.len() - SHOWN_LINES));
        } else {
            out.push_str(&snippet(&lines, 0, lines.len()));
        }
        Ok(ToolOutput::text(out).with_changed(rel))
    }
}

fn plural_lines(n: usize) -> String {
    if n == 1 {
        "1 line".to_string()
    } else {
        format!("{n} lines")
    }
}
