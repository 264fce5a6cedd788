//! `insert`: add lines after a given line of a file.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{ToolError, ToolResult};
use crate::tool::{Effect, ToolContext, ToolOutput, TypedTool};

use super::edit::{ASCII_NOTE, line_range, write_checked_or_ascii};
use super::fileio::{Doc, read_text_for_edit, snippet};
use super::matching::normalize_punctuation;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct InsertArgs {
    /// Path relative to the repository root.
    pub path: String,
    /// The new text goes after this line (1-based); 0 inserts at the top of the file, and the
    /// file's line count appends at the end.
    pub line: usize,
    /// The lines to insert, with their indentation. A final newline is optional.
    pub text: String,
}

pub struct Insert;

#[async_trait]
impl TypedTool for Insert {
    type Args = InsertArgs;
    const NAME: &'static str = "insert";
    const EFFECT: Effect = Effect::WritesFiles;
    const DESCRIPTION: &'static str = "Insert text as new lines after line `line` of a file (0 = at the top; the line count = at the end). Existing lines are not changed. Edits that would introduce a syntax error are rejected. Shows the inserted lines with their new line numbers and some context.";

    async fn call(&self, ctx: &ToolContext, args: InsertArgs) -> ToolResult<ToolOutput> {
        let path = ctx.jail.resolve(&args.path)?;
        let rel = ctx.jail.relative(&path).to_path_buf();
        let shown = rel.display().to_string();
        if args.text.is_empty() {
            return Err(ToolError::model("`text` is empty; nothing to insert"));
        }
        let content = read_text_for_edit(&path, &shown).await?;
        let mut doc = Doc::parse(&content);
        let total = doc.lines.len();
        if args.line > total {
            return Err(ToolError::model(format!(
                "line {} is past the end of `{shown}`, which has {total} lines; use line={total} to append",
                args.line
            )));
        }
        let text = args.text.strip_suffix('\n').unwrap_or(&args.text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        let new_lines: Vec<String> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
            .collect();
        let count = new_lines.len();
        if total == 0 {
            doc.final_newline = true;
        }
        let mut ascii_doc = doc.clone();
        ascii_doc.lines.splice(
            args.line..args.line,
            new_lines.iter().map(|l| normalize_punctuation(l)),
        );
        doc.lines.splice(args.line..args.line, new_lines);
        let used_ascii = write_checked_or_ascii(
            &path,
            &shown,
            Some(&content),
            &doc.render(),
            &ascii_doc.render(),
            args.line + 1,
        )
        .await?;
        if used_ascii {
            doc = ascii_doc;
        }
        let mut out = format!(
            "Inserted {count} line{} into `{shown}` as {}{}.\n",
            if count == 1 { "" } else { "s" },
            line_range(args.line + 1, count),
            if used_ascii {
                format!(" ({ASCII_NOTE})")
            } else {
                String::new()
            }
        );
        out.push_str(&snippet(&doc.lines, args.line, args.line + count));
        Ok(ToolOutput::text(out).with_changed(rel))
    }
}
