//! `str_replace`: replace one exact occurrence of a string in a file.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{ToolError, ToolResult};
use crate::tool::{ToolContext, ToolOutput, TypedTool};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct StrReplaceArgs {
    /// Path relative to the repository root.
    pub path: String,
    /// The exact text to replace; it must occur exactly once in the file.
    pub old_str: String,
    /// The replacement text.
    pub new_str: String,
}

pub struct StrReplace;

#[async_trait]
impl TypedTool for StrReplace {
    type Args = StrReplaceArgs;
    const NAME: &'static str = "str_replace";
    const DESCRIPTION: &'static str = "Replace text in a file. old_str must match exactly once, including whitespace and indentation; include enough surrounding lines to make it unique.";

    async fn call(&self, ctx: &ToolContext, args: StrReplaceArgs) -> ToolResult<ToolOutput> {
        let path = ctx.jail.resolve(&args.path)?;
        let rel = ctx.jail.relative(&path).to_path_buf();
        let shown = rel.display().to_string();
        if args.old_str.is_empty() {
            return Err(ToolError::model(
                "`old_str` is empty; give the exact text to replace",
            ));
        }
        let content = tokio::fs::read_to_string(&path)
            .await
            .map_err(|e| ToolError::from_io(&format!("cannot read `{shown}`"), e))?;
        let positions: Vec<usize> = content
            .match_indices(&args.old_str)
            .map(|(i, _)| i)
            .collect();
        match positions.len() {
            0 => Err(ToolError::model(format!(
                "no match for `old_str` in `{shown}`; view the file and copy the text exactly"
            ))),
            1 => {
                let at = positions[0];
                let updated = format!(
                    "{}{}{}",
                    &content[..at],
                    args.new_str,
                    &content[at + args.old_str.len()..]
                );
                tokio::fs::write(&path, &updated)
                    .await
                    .map_err(|e| ToolError::from_io(&format!("cannot write `{shown}`"), e))?;
                let line = content[..at].matches('\n').count() + 1;
                Ok(ToolOutput::text(format!("Edited `{shown}` at line {line}.")).with_changed(rel))
            }
            n => {
                let lines: Vec<String> = positions
                    .iter()
                    .map(|&i| (content[..i].matches('\n').count() + 1).to_string())
                    .collect();
                Err(ToolError::model(format!(
                    "`old_str` occurs {n} times in `{shown}` (lines {}); include more context to make it unique",
                    lines.join(", ")
                )))
            }
        }
    }
}
