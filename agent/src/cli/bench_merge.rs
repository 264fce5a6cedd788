//! `agent bench merge`: the shard folders of `--shard I/N` runs into one folder.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use agent_harness::grading::HarnessVersion;
use agent_harness::merge::{MergeRequest, merge};
use agent_harness::{Dataset, mini};

use crate::printer::Printer;

#[derive(Debug, Args)]
pub struct BenchMergeArgs {
    /// The shards' folders (each a `bench run --output` and/or `bench eval --log-dir
    /// --report-dir` folder).
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// Where the merged predictions, trajectories, logs and summaries go (may already hold an
    /// earlier merge: merging is idempotent).
    #[arg(long)]
    pub output: PathBuf,
    /// The dataset the shards were cut from (.json/.jsonl, or `mini`): totals and order.
    #[arg(long)]
    pub dataset: String,
    /// Only these instance ids (as the shards' runs were given).
    #[arg(long, num_args = 1..)]
    pub instances: Vec<String>,
    /// The predictions the evaluations graded (`gold` or a file); default: the merged
    /// predictions.jsonl (gold for evaluations logged under `gold`).
    #[arg(long)]
    pub predictions: Option<String>,
    /// As the evaluations were graded: `4.1.0` or `5`.
    #[arg(long, default_value = "4.1.0")]
    pub harness_version: HarnessVersion,
}

pub fn run(args: BenchMergeArgs, printer: &Printer) -> Result<ExitCode> {
    let dataset = if args.dataset == mini::MINI {
        mini::dataset()?
    } else {
        Dataset::load(std::path::Path::new(&args.dataset))?
    }
    .select(&args.instances)?;
    let request = MergeRequest {
        shards: args.shards.clone(),
        output: args.output.clone(),
        dataset,
        predictions: args.predictions.clone(),
        harness_version: args.harness_version,
    };
    let outcome = merge(&request).with_context(|| {
        format!(
            "cannot merge {} shard folders into {}",
            args.shards.len(),
            args.output.display()
        )
    })?;
    let mut lines = Vec::new();
    for (path, count) in &outcome.predictions {
        lines.push(format!("{}: {count} predictions", path.display()));
    }
    lines.push(format!("{} trajectories", outcome.trajectories));
    if outcome.env_errors > 0 {
        lines.push(format!("{} environment errors", outcome.env_errors));
    }
    for (run_id, count) in &outcome.reports {
        lines.push(format!("evaluation {run_id}: {count} instance reports"));
    }
    for path in &outcome.summaries {
        lines.push(format!("summary written to {}", path.display()));
    }
    printer.result(&(lines.join("\n") + "\n"));
    Ok(ExitCode::SUCCESS)
}
