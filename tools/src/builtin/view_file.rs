//! `view_file`: a line-numbered window onto a file.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{ToolError, ToolResult};
use crate::tool::{ToolContext, ToolOutput, TypedTool};

const DEFAULT_WINDOW: usize = 100;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ViewFileArgs {
    /// Path relative to the repository root.
    pub path: String,
    /// First line to show (1-based, default 1).
    #[serde(default)]
    pub start_line: Option<usize>,
    /// Last line to show (inclusive, default start_line + 99).
    #[serde(default)]
    pub end_line: Option<usize>,
}

pub struct ViewFile;

#[async_trait]
impl TypedTool for ViewFile {
    type Args = ViewFileArgs;
    const NAME: &'static str = "view_file";
    const DESCRIPTION: &'static str = "Show a file with line numbers, 100 lines at a time by default. Give start_line/end_line to see another window.";

    async fn call(&self, ctx: &ToolContext, args: ViewFileArgs) -> ToolResult<ToolOutput> {
        let path = ctx.jail.resolve(&args.path)?;
        let rel = ctx.jail.relative(&path).display().to_string();
        let content = tokio::fs::read_to_string(&path)
            .await
            .map_err(|e| ToolError::from_io(&format!("cannot read `{rel}`"), e))?;
        let lines: Vec<&str> = content.lines().collect();
        let total = lines.len();
        let start = args.start_line.unwrap_or(1).max(1);
        if total == 0 {
            return Ok(ToolOutput::text(format!("{rel} is empty (0 lines)")));
        }
        if start > total {
            return Err(ToolError::model(format!(
                "start_line {start} is past the end of `{rel}` ({total} lines)"
            )));
        }
        let end = args
            .end_line
            .unwrap_or(start + DEFAULT_WINDOW - 1)
            .min(total)
            .max(start);
        let mut text = format!("{rel} ({total} lines), showing {start}-{end}:\n");
        for (i, line) in lines[start - 1..end].iter().enumerate() {
            text.push_str(&format!("{:>6}\t{line}\n", start + i));
        }
        if end < total {
            text.push_str(&format!(
                "[{} more lines; use start_line={} to continue]\n",
                total - end,
                end + 1
            ));
        }
        Ok(ToolOutput::text(text))
    }
}
