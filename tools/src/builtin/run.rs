//! `run`: a shell command through the executor.

use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{ToolError, ToolResult};
use crate::executor::{ExecError, ExecRequest};
use crate::text::truncate_middle;
use crate::tool::{CommandRun, Effect, ToolContext, ToolData, ToolOutput, TypedTool};

/// Characters of command output shown to the model.
const MAX_OBSERVATION_CHARS: usize = 12_000;
const DEFAULT_TIMEOUT_SECS: u64 = 120;
const MAX_TIMEOUT_SECS: u64 = 1800;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RunArgs {
    /// The bash command line to run from the repository root.
    pub command: String,
    /// Seconds before the command is killed (default 120, at most 1800).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

pub struct Run;

#[async_trait]
impl TypedTool for Run {
    type Args = RunArgs;
    const NAME: &'static str = "run";
    const EFFECT: Effect = Effect::RunsCommands;
    const DESCRIPTION: &'static str = "Run a bash command in the repository root (in the sandbox when one is configured) and see its exit code and output. Use it to run tests and reproduction scripts. Non-interactive only; long output keeps its head and tail.";

    async fn call(&self, ctx: &ToolContext, args: RunArgs) -> ToolResult<ToolOutput> {
        if args.command.trim().is_empty() {
            return Err(ToolError::model("`command` is empty"));
        }
        let timeout = args
            .timeout_secs
            .unwrap_or(DEFAULT_TIMEOUT_SECS)
            .clamp(1, MAX_TIMEOUT_SECS);
        let command = args.command.clone();
        let request = ExecRequest::new(args.command).timeout(Duration::from_secs(timeout));
        let output = ctx.executor.exec(request).await.map_err(|e| match e {
            ExecError::Unavailable(m) => ToolError::fatal(m),
            ExecError::Io(m) => ToolError::model(m),
        })?;
        let mut text = String::new();
        match (output.timed_out, output.exit_code) {
            (true, _) => text.push_str(&format!(
                "[timed out after {timeout}s; partial output below]\n"
            )),
            (false, Some(code)) => text.push_str(&format!("[exit code {code}]\n")),
            (false, None) => text.push_str("[killed by a signal]\n"),
        }
        if !output.stdout.is_empty() {
            text.push_str(&output.stdout);
            if !output.stdout.ends_with('\n') {
                text.push('\n');
            }
        }
        if !output.stderr.is_empty() {
            text.push_str("[stderr]\n");
            text.push_str(&output.stderr);
        }
        if output.stdout.is_empty() && output.stderr.is_empty() {
            text.push_str("(no output)\n");
        }
        if output.dropped_bytes > 0 {
            text.push_str(&format!(
                "[{} more bytes of output were dropped]\n",
                output.dropped_bytes
            ));
        }
        // The exit status goes on the record too: the session reads it to find a reproduction.
        Ok(
            ToolOutput::text(truncate_middle(&text, MAX_OBSERVATION_CHARS)).with_data(
                ToolData::Command(CommandRun {
                    command,
                    exit_code: output.exit_code,
                    timed_out: output.timed_out,
                }),
            ),
        )
    }
}
