//! `agent replay`: re-apply a trajectory's tool calls with no model and print the resulting diff.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::Value;

use agent_tools::{LocalExecutor, PathJail, ToolContext, ToolError};

use crate::printer::Printer;
use crate::trajectory::{self, Event};
use crate::workspace::Workspace;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The trajectory file (.jsonl) to replay.
    pub trajectory: PathBuf,
    /// The repository to replay into (should be at the commit the run started from).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Skip `run` calls (shell commands) and only re-apply file edits.
    #[arg(long)]
    pub skip_commands: bool,
}

/// Tools whose replay changes nothing in the repository.
const NO_EFFECT_TOOLS: &[&str] = &["submit", "update_plan"];

pub async fn run(args: ReplayArgs, printer: &Printer) -> Result<ExitCode> {
    let events = trajectory::read(&args.trajectory)?;
    let workspace = Workspace::open(&args.repo)?;
    let root = workspace.root().to_path_buf();
    let jail =
        PathJail::new(&root).with_context(|| format!("cannot resolve {}", root.display()))?;
    let tools = ToolContext::new(jail, Arc::new(LocalExecutor::new(&root)));
    let registry = agent_tools::builtin::default_registry();
    let before = workspace.snapshot()?;
    let (mut replayed, mut failed) = (0usize, 0usize);
    for event in events {
        let Event::ToolCall {
            step,
            name,
            arguments,
            ..
        } = event
        else {
            continue;
        };
        if NO_EFFECT_TOOLS.contains(&name.as_str()) || (args.skip_commands && name == "run") {
            continue;
        }
        let args_value: Value = serde_json::from_str(&arguments).unwrap_or(Value::Null);
        match registry.call(&tools, &name, args_value).await {
            Ok(_) => replayed += 1,
            Err(ToolError::Fatal(m)) => anyhow::bail!("step {step}: `{name}` failed fatally: {m}"),
            Err(e) => {
                // The original run saw this error too; replaying it is faithful, so just note it.
                failed += 1;
                printer.status(&format!(
                    "step {step}: `{name}` failed as it may have in the run: {e}"
                ));
            }
        }
    }
    let after = workspace.snapshot()?;
    printer.diff(&workspace.diff(before, after)?);
    printer.status(&format!("replayed {replayed} tool calls ({failed} failed)"));
    Ok(ExitCode::SUCCESS)
}
