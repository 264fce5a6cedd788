//! `agent replay`: re-apply a trajectory's tool calls with no model and print the resulting diff.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::Value;

use agent_tools::{Effect, LocalExecutor, PathJail, ToolContext, ToolError};

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
    /// Also re-run the recorded commands (`run`, `run_tests`) on this machine, without a
    /// sandbox. By default only file edits are re-applied: a trajectory is untrusted input.
    #[arg(long)]
    pub run_commands: bool,
    /// The old default's opposite, kept so existing scripts work: commands are skipped unless
    /// --run-commands is given.
    #[arg(long, hide = true, conflicts_with = "run_commands")]
    pub skip_commands: bool,
}

pub async fn run(args: ReplayArgs, printer: &Printer) -> Result<ExitCode> {
    let events = trajectory::read(&args.trajectory)?;
    let workspace = Workspace::open(&args.repo)?;
    let root = workspace.root().to_path_buf();
    let jail =
        PathJail::new(&root).with_context(|| format!("cannot resolve {}", root.display()))?;
    let tools = ToolContext::new(jail, Arc::new(LocalExecutor::new(&root)));
    let registry = agent_tools::builtin::default_registry();
    if args.run_commands {
        printer.warn(
            "--run-commands: the trajectory's commands run on this machine without isolation",
        );
    }
    let before = workspace.snapshot()?;
    let (mut replayed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
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
        let effect = registry.get(&name).map(|t| t.effect());
        match effect {
            Some(Effect::WritesFiles) => {}
            Some(Effect::RunsCommands) if args.run_commands => {}
            Some(Effect::RunsCommands) => {
                skipped += 1;
                continue;
            }
            // Reading and session control change nothing; unknown tools failed in the run too.
            Some(Effect::ReadsFiles | Effect::ControlsSession) | None => continue,
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
    if skipped > 0 {
        printer.status(&format!(
            "skipped {skipped} recorded commands (pass --run-commands to run them on this machine)"
        ));
    }
    Ok(ExitCode::SUCCESS)
}
