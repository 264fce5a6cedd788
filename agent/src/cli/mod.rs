//! Command-line definitions (clap) and dispatch. One file per subcommand.

mod bench;
mod bench_merge;
mod bench_metrics;
mod bench_run;
mod containers;
mod fix;
mod github;
mod images;
mod replay;
mod tools;
mod trust;
mod view;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::printer::Printer;

#[derive(Debug, Parser)]
#[command(
    name = "agent",
    version,
    about = "An autonomous repository-level coding agent"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fix an issue in a repository: plan, explore, edit, test, and leave a reviewed diff.
    Fix(Box<fix::FixArgs>),
    /// Re-apply the tool calls recorded in a trajectory, with no model, and print the diff.
    Replay(replay::ReplayArgs),
    /// Run one of the agent's tools directly, e.g. `agent tools grep --pattern foo`.
    Tools(tools::ToolsArgs),
    /// Build the Docker images the sandbox runs in (from Debian packages, no registry).
    Images(images::ImagesArgs),
    /// Manage the sandbox containers, e.g. `agent containers prune`.
    Containers(containers::ContainersArgs),
    /// SWE-bench: `agent bench eval` grades predictions, `agent bench validate` checks datasets.
    Bench(bench::BenchArgs),
    /// Trust this repository's own `.agent.toml` as it is now (needed for keys such as
    /// `base_url`, `sandbox` or `network` in a repository's config).
    Trust(trust::TrustArgs),
    /// Write one self-contained HTML page for a trajectory or a `bench run` output folder.
    View(view::ViewArgs),
    /// The GitHub bot's checks: `agent github check-permission`, `agent github progress`.
    Github(github::GithubArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let printer = Printer::stderr().with_colour(crate::config::process_env("NO_COLOR").is_none());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            printer.error(&format!("cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Fix(args) => fix::run(*args, &printer).await,
            Command::Replay(args) => replay::run(args, &printer).await,
            Command::Tools(args) => tools::run(args, &printer).await,
            Command::Images(args) => images::run(args, &printer).await,
            Command::Containers(args) => containers::run(args, &printer).await,
            Command::Bench(args) => bench::run(args, &printer).await,
            Command::Trust(args) => trust::run(args, &printer).await,
            Command::View(args) => view::run(args, &printer).await,
            Command::Github(args) => github::run(args, &printer).await,
        }
    });
    // Work still blocking a thread (a command's stream, a stuck engine call) must not keep the
    // process alive once the command has its answer.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(code) => code,
        Err(e) => {
            printer.error(&format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
