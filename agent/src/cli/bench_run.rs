//! `agent bench run`: the agent over a SWE-bench dataset, N instances at a time, each in its own
//! workspace at `base_commit` with a sandbox from the instance's image (environment and install
//! done there, where the network is allowed; the sandbox itself keeps it off). Predictions
//! are appended (and fsynced) as soon as each exists, so a killed run resumes with nothing lost
//! and nothing done twice.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use agent_containers::PruneScope;
use agent_harness::Dataset;
use agent_harness::engines::EnginePool;

use super::bench::{CommonArgs, chosen_engines, dataset_and_repos, engine_pool, print_engine_use};
use super::fix::{RunFlags, load_config};
use crate::bench::error::FatalError;
use crate::bench::select as bench_select;
use crate::bench::{BatchRequest, BatchSummary, Resume, RunLayout, run_batch};
use crate::printer::Printer;

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
    /// With --samples K: once an instance has its K samples, choose one (tests, vote, judge,
    /// as `agent fix --samples` does) and write it to DIR/predictions.jsonl; the record of
    /// each choice goes to DIR/selection/<instance_id>.json.
    #[arg(long)]
    pub select: bool,
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
    if args.select && args.samples < 2 {
        anyhow::bail!(
            "--select chooses among samples: pass --samples 2 or more (it is {})",
            args.samples
        );
    }
    super::bench::preflight(&args.common, printer).await?;
    let (dataset_path, repos) = dataset_and_repos(&args.common).await?;
    let dataset = Dataset::load(&dataset_path)?
        .select(&args.common.instances)?
        .shard(args.common.shard)?;
    let layout = RunLayout::new(&args.output, args.samples);
    // The predictions files exist from the start, empty when there is nothing to do (a shard
    // may hold no instance): what reads them next finds a file, not a missing path.
    for sample in 0..layout.samples {
        agent_harness::prediction_log::PredictionsLog::open(&layout.predictions_path(sample))?;
    }
    if args.retry_env_errors {
        let cleared = layout.clear_env_errors()?;
        if cleared > 0 {
            printer.status(&format!("retrying {cleared} runs whose environment failed"));
        }
    }
    let config = load_config(&std::env::current_dir()?, &args.run)?;
    let engines = chosen_engines(&args.common, &config.bench_engines);
    let pool = engine_pool(&args.common, repos, &engines).await?;
    prune_orphans(&pool, printer).await?;
    // The only read of the output folder: each predictions file once, before any instance.
    let resume = Resume::open(&layout)?;
    let pending = resume.pending(&dataset).len();
    let done = dataset.instances.len() * layout.samples - pending;
    let env_note = match resume.env_errors.len() {
        0 => String::new(),
        n => format!(
            " ({n} of them environment errors in {}; --retry-env-errors tries them again)",
            layout.env_errors_path().display()
        ),
    };
    if pending == 0 {
        printer.status(&format!(
            "all {done} runs already have predictions in {}{env_note}",
            args.output.display()
        ));
        if args.select {
            select_samples(&args, &pool, &dataset, &layout, &config, printer).await?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if done > 0 {
        printer.status(&format!(
            "resuming: {done} runs already done{env_note}, {pending} to go"
        ));
    }
    prepare_environments(&pool, &resume, &dataset, printer).await?;
    let request = BatchRequest {
        pool: &pool,
        dataset: &dataset,
        layout: &layout,
        config: &config,
        max_cost_total: args.max_cost_total,
        setup_timeout: Duration::from_secs(args.setup_timeout),
        printer,
        interrupt: crate::run::interrupt::interrupt_flag_saying(
            *printer,
            "interrupted: no new instance starts; the running ones stop and are recorded",
            crate::run::interrupt::BATCH_STOP_GRACE,
        ),
    };
    let mut summary = run_batch(&request, resume).await;
    // Every sandbox was removed by its run; any left (an engine that came back) goes now, on
    // whichever engine it lives.
    agent_containers::cleanup::remove_live_containers().await;
    if !engines.is_empty() || !summary.engines.lost_engines.is_empty() {
        summary.engines.write(layout.root.join("engines.json"))?;
        print_engine_use(&summary.engines, "ran", printer);
    }
    if args.select && summary.stopped.is_none() {
        select_samples(&args, &pool, &dataset, &layout, &config, printer).await?;
    }
    Ok(report(&summary, &layout, printer))
}

/// With several engines, the environment images are made first on the first engine (as
/// `bench eval` does), so that every other engine copies them rather than building its own:
/// an engine without network can still run instances. A failed environment is left to its
/// instances, which record it as theirs.
async fn prepare_environments(
    pool: &EnginePool,
    resume: &Resume,
    dataset: &Dataset,
    printer: &Printer,
) -> Result<()> {
    let [first, _, ..] = pool.engines.as_slice() else {
        return Ok(());
    };
    let pending = resume.pending(dataset);
    let (sink, url) = (*printer, first.url().to_string());
    let events = move |event: agent_harness::evaluate::EvalEvent| {
        if let agent_harness::evaluate::EvalEvent::PreparingEnvironment(what) = event {
            sink.status(&format!("preparing the environment {what} on {url}"));
        }
    };
    agent_harness::evaluate::prepare_environments(
        &first.ctx,
        pending.iter().map(|(instance, _)| *instance),
        &events,
    )
    .await?;
    Ok(())
}

/// A killed earlier run may have left sandboxes behind on any engine; their owner process is
/// gone. An engine that does not answer is named, not skipped.
async fn prune_orphans(pool: &EnginePool, printer: &Printer) -> Result<()> {
    let mut removed = 0;
    for engine in &pool.engines {
        let pruned = agent_containers::prune(&engine.ctx.docker, PruneScope::Orphaned)
            .await
            .with_context(|| format!("removing leftover sandboxes on {}", engine.url()))?;
        removed += pruned.removed.len();
    }
    if removed > 0 {
        printer.status(&format!(
            "removed {removed} containers left by an interrupted run"
        ));
    }
    Ok(())
}

/// `--select`: one sample chosen per instance that has all of them, on the first engine of
/// the pool that still answers (the choice reads the samples; it is short next to them).
async fn select_samples(
    args: &BenchRunArgs,
    pool: &EnginePool,
    dataset: &Dataset,
    layout: &RunLayout,
    config: &crate::config::Config,
    printer: &Printer,
) -> Result<()> {
    let mut engine = None;
    for candidate in pool.engines.iter().filter(|e| e.is_alive()) {
        if candidate.answers().await {
            engine = Some(candidate);
            break;
        }
    }
    let engine = engine.ok_or_else(|| {
        anyhow::anyhow!(
            "no engine answers for the selection; rerun the same command with a working engine"
        )
    })?;
    let summary = bench_select::select_batch(&bench_select::SelectBatchRequest {
        ctx: &engine.ctx,
        dataset,
        layout,
        config,
        workers: args.common.workers,
        setup_timeout: Duration::from_secs(args.setup_timeout),
        printer,
    })
    .await?;
    let waiting = match summary.waiting.len() {
        0 => String::new(),
        n => format!("; {n} wait for their samples (rerun the same command)"),
    };
    printer.status(&format!(
        "selection: {} instances chosen now, {} earlier{waiting}; chosen predictions in {}",
        summary.selected,
        summary.already,
        bench_select::selected_path(layout).display()
    ));
    Ok(())
}

/// Prints what the batch did and returns the exit code: 0 when every run has a prediction, 3
/// when some have none (a rerun tries them), 1 when a fatal error stopped the batch, 130/143
/// when Ctrl-C/SIGTERM did.
fn report(summary: &BatchSummary, layout: &RunLayout, printer: &Printer) -> ExitCode {
    for (id, sample, reason) in &summary.unfinished {
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
        summary.unfinished.len()
            + summary.skipped_for_budget
            + summary.not_started
            + summary.ended_by_fatal,
        summary.cost_usd,
        layout.predictions_path(0).display()
    ));
    if let (Some(FatalError::Interrupted), Some(signal)) =
        (&summary.stopped, crate::run::interrupt::stop_signal())
    {
        printer.error(&format!(
            "stopped by {}: {} predictions written and kept, {} runs not started; rerunning the same command resumes",
            signal.name(),
            summary.written,
            summary.not_started
        ));
        return ExitCode::from(signal.exit_code());
    }
    if let Some(error) = &summary.stopped {
        printer.error(&format!(
            "the batch stopped: {error}. The {} predictions written are kept; {} runs were not started; rerun the same command to resume",
            summary.written, summary.not_started
        ));
        return ExitCode::FAILURE;
    }
    if summary.unfinished.is_empty()
        && summary.skipped_for_budget == 0
        && summary.env_errors.is_empty()
    {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}
