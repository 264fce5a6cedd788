//! `agent bench run`: the agent over a SWE-bench dataset, N instances at a time, each in its own
//! workspace at `base_commit` with a sandbox from the instance's image (environment and install
//! done there, where the network is allowed; the sandbox itself keeps it off). Predictions
//! are appended (and fsynced) as soon as each exists, so a killed run resumes with nothing lost
//! and nothing done twice.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use agent_containers::{DockerSandbox, PruneScope, SandboxConfig};
use agent_harness::Dataset;
use agent_harness::batch::{
    AgentRun, BatchOptions, PredictionsLog, RunLayout, Workspace as BatchWorkspace, run_batch,
};
use agent_harness::dataset::Instance;
use agent_harness::progress::BatchProgress;

use super::bench::{CommonArgs, bench_context, dataset_and_repos};
use super::fix::{RunFlags, load_config};
use crate::config::Config;
use crate::fix::{self, FixOptions, Runner};
use crate::printer::Printer;
use crate::session::ExitReason;
use crate::workspace::Workspace;

#[derive(Debug, Args)]
pub struct BenchRunArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Where predictions, trajectories and workspaces go; rerun with the same DIR to resume.
    #[arg(long)]
    pub output: PathBuf,
    /// Samples per instance (for pass@k); each has its own predictions file.
    #[arg(long, default_value_t = 1)]
    pub samples: usize,
    /// Stop starting new instances once this many USD have been spent (including earlier runs).
    #[arg(long)]
    pub max_cost_total: Option<f64>,
    /// Seconds for building an instance's image (its install); past it, an environment error.
    #[arg(long, default_value_t = 1800)]
    pub setup_timeout: u64,
    /// Try again the instances whose environment failed in an earlier run (env_errors.jsonl).
    #[arg(long)]
    pub retry_env_errors: bool,
    #[command(flatten)]
    pub run: RunFlags,
}

pub async fn run(args: BenchRunArgs, printer: &Printer) -> Result<ExitCode> {
    super::bench::refuse_engines(&args.common, "bench run")?;
    super::bench::preflight(&args.common, printer).await?;
    let (dataset_path, repos) = dataset_and_repos(&args.common).await?;
    let dataset = Dataset::load(&dataset_path)?
        .select(&args.common.instances)?
        .shard(args.common.shard)?;
    let layout = RunLayout::new(&args.output, args.samples);
    // The predictions files exist from the start, empty when there is nothing to do (a shard
    // may hold no instance): what reads them next finds a file, not a missing path.
    for sample in 0..layout.samples {
        PredictionsLog::open(&layout.predictions_path(sample))?;
    }
    if args.retry_env_errors {
        let cleared = layout.clear_env_errors()?;
        if cleared > 0 {
            printer.status(&format!("retrying {cleared} runs whose environment failed"));
        }
    }
    let earlier_env_errors = layout.env_errors()?.len();
    let config = load_config(&std::env::current_dir()?, &args.run)?;
    let ctx = bench_context(&args.common, repos).await?;
    // A killed earlier run may have left sandboxes behind; their owner process is gone.
    let pruned = agent_containers::prune(&ctx.docker, PruneScope::Orphaned).await?;
    if !pruned.removed.is_empty() {
        printer.status(&format!(
            "removed {} containers left by an interrupted run",
            pruned.removed.len()
        ));
    }
    let pending = layout.pending(&dataset)?.len();
    let done = dataset.instances.len() * layout.samples - pending;
    let env_note = if earlier_env_errors > 0 {
        format!(
            " ({earlier_env_errors} of them environment errors in {}; --retry-env-errors tries them again)",
            layout.env_errors_path().display()
        )
    } else {
        String::new()
    };
    if pending == 0 {
        printer.status(&format!(
            "all {done} runs already have predictions in {}{env_note}",
            args.output.display()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    if done > 0 {
        printer.status(&format!(
            "resuming: {done} runs already done{env_note}, {pending} to go"
        ));
    }
    let submitted_before = (0..layout.samples)
        .map(|s| PredictionsLog::read_done(&layout.predictions_path(s)))
        .collect::<Result<Vec<_>, _>>()?
        .iter()
        .flat_map(|m| m.values())
        .filter(|l| l.model_patch.as_deref().is_some_and(|p| !p.is_empty()))
        .count();
    let progress = BatchProgress::new(pending, layout.cost_so_far()?, submitted_before);
    let options = BatchOptions {
        model_name_or_path: config.model.clone(),
        workers: args.common.workers,
        max_cost_total: args.max_cost_total,
        setup_timeout: Duration::from_secs(args.setup_timeout),
    };
    let quiet = Printer::quiet();
    let summary = run_batch(
        &ctx,
        &dataset,
        &layout,
        &options,
        Some(&progress),
        |workspace, instance, sample| {
            let (layout, config, quiet) = (&layout, &config, &quiet);
            async move {
                run_instance(layout, config, workspace, &instance, sample, quiet)
                    .await
                    .map_err(|e| format!("{e:#}"))
            }
        },
    )
    .await;
    progress.finish();
    let summary = summary?;
    for (id, sample, reason) in &summary.failed {
        printer.warn(&format!("{id} (sample {sample}): {reason}"));
    }
    for error in &summary.env_errors {
        printer.warn(&format!(
            "{} (sample {}): environment error, not retried by a rerun (--retry-env-errors does): {}",
            error.instance_id, error.sample, error.reason
        ));
    }
    if summary.skipped_for_budget > 0 {
        printer.warn(&format!(
            "{} runs not started: the --max-cost-total budget is spent",
            summary.skipped_for_budget
        ));
    }
    printer.status(&format!(
        "{} predictions written, {} environment errors, {} runs without one (rerun the same command to retry them); total cost ${:.4}; predictions in {}",
        summary.written,
        summary.env_errors.len(),
        summary.failed.len() + summary.skipped_for_budget,
        summary.cost_usd,
        layout.predictions_path(0).display()
    ));
    Ok(
        if summary.failed.is_empty()
            && summary.skipped_for_budget == 0
            && summary.env_errors.is_empty()
        {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(3)
        },
    )
}

/// One (instance, sample) in its prepared workspace: a sandbox from the instance image (already
/// set up; network as configured, off by default), then the session.
async fn run_instance(
    layout: &RunLayout,
    config: &Config,
    prepared: BatchWorkspace,
    instance: &Instance,
    sample: usize,
    printer: &Printer,
) -> Result<AgentRun> {
    let sandbox = DockerSandbox::create(
        SandboxConfig::new(prepared.image.clone())
            .workspace(&prepared.path)
            .mount_workspace_at(prepared.mount.clone())
            .network(config.network)
            .run_id(instance.instance_id.clone()),
    )
    .await
    .with_context(|| format!("cannot start the sandbox on {}", prepared.image))?;
    let sandbox = Arc::new(sandbox);
    let runner = Runner {
        executor: sandbox.clone(),
        sandbox: Some(sandbox.clone()),
        git_guard: None,
    };
    let result = async {
        let workspace = Workspace::open(&prepared.path)?;
        let options = FixOptions {
            task: instance.problem_statement.clone(),
            trajectory: Some(layout.trajectory_path(&instance.instance_id, sample)),
            allow_dirty: true,
        };
        fix::execute_with(&workspace, config, &options, printer, &runner).await
    }
    .await;
    runner.stop(printer).await;
    let report = result?;
    if matches!(
        report.outcome.exit_reason,
        ExitReason::Interrupted | ExitReason::ModelError
    ) {
        // Not a finished attempt: leave it pending so a rerun does it again.
        anyhow::bail!(
            "{}: {}",
            report.outcome.exit_reason.as_str(),
            report.outcome.detail.unwrap_or_default()
        );
    }
    Ok(AgentRun {
        model_patch: Some(report.diff),
        cost_usd: report.outcome.cost_usd.unwrap_or(0.0),
    })
}
