//! `agent containers prune`: remove the sandbox containers a killed agent left behind, found by
//! their `agent.managed` label.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};

use agent_containers::{PruneScope, cleanup};

use crate::printer::Printer;

#[derive(Debug, Args)]
pub struct ContainersArgs {
    #[command(subcommand)]
    pub command: ContainersCommand,
}

#[derive(Debug, Subcommand)]
pub enum ContainersCommand {
    /// Remove managed containers whose agent process is gone (with --all: every managed one).
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Also remove containers of agent processes that are still running.
    #[arg(long)]
    pub all: bool,
}

pub async fn run(args: ContainersArgs, printer: &Printer) -> Result<ExitCode> {
    match args.command {
        ContainersCommand::Prune(prune) => {
            let docker = agent_containers::engine::connect().await?;
            let scope = if prune.all {
                PruneScope::All
            } else {
                PruneScope::Orphaned
            };
            let report = cleanup::prune(&docker, scope).await?;
            for name in &report.removed {
                printer.status(&format!("removed {name}"));
            }
            let mut summary = format!("removed {} container(s)", report.removed.len());
            if !report.kept.is_empty() {
                summary.push_str(&format!(
                    "; kept {} of running agents (use --all to remove them too)",
                    report.kept.len()
                ));
            }
            printer.result(&format!("{summary}\n"));
            Ok(ExitCode::SUCCESS)
        }
    }
}
