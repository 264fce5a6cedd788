//! `agent bench run`: the agent over a SWE-bench dataset, N instances at a time, each in its own
//! workspace at `base_commit` with a sandbox from the instance's environment image. Predictions
//! are appended (and fsynced) as soon as each exists, so a killed run resumes with nothing lost
//! and nothing done twice.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};

use agent_containers::{DockerSandbox, SandboxConfig};
use agent_harness::Dataset;
use agent_harness::batch::{PredictionLine, PredictionsLog, RunLayout, prepare_workspace};
use agent_harness::context::BenchContext;
use agent_harness::dataset::Instance;
use agent_tools::{ExecRequest, Executor};

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
    /// Seconds for an instance's setup (install) in its sandbox.
    #[arg(long, default_value_t = 1800)]
    pub setup_timeout: u64,
    #[command(flatten)]
    pub run: RunFlags,
}

/// Totals shown on the progress bar.
#[derive(Default)]
struct Totals {
    submitted: AtomicUsize,
    cost_micro_usd: AtomicUsize,
}

impl Totals {
    fn cost(&self) -> f64 {
        self.cost_micro_usd.load(Ordering::Relaxed) as f64 / 1e6
    }

    fn add_cost(&self, usd: f64) {
        self.cost_micro_usd
            .fetch_add((usd * 1e6).round() as usize, Ordering::Relaxed);
    }
}

pub async fn run(args: BenchRunArgs, printer: &Printer) -> Result<ExitCode> {
    let (dataset_path, repos) = dataset_and_repos(&args.common).await?;
    let dataset = Dataset::load(&dataset_path)?.select(&args.common.instances)?;
    let layout = RunLayout::new(&args.output, args.samples);
    let config = load_config(&std::env::current_dir()?, &args.run)?;
    let ctx = bench_context(&args.common, repos).await?;
    // A killed earlier run may have left sandboxes behind; their owner process is gone.
    let pruned =
        agent_containers::prune(&ctx.docker, agent_containers::PruneScope::Orphaned).await?;
    if !pruned.removed.is_empty() {
        printer.status(&format!(
            "removed {} containers left by an interrupted run",
            pruned.removed.len()
        ));
    }
    let pending = layout.pending(&dataset)?;
    let done = dataset.instances.len() * layout.samples - pending.len();
    if pending.is_empty() {
        printer.status(&format!(
            "all {done} runs already have predictions in {}",
            args.output.display()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let totals = Arc::new(Totals::default());
    totals.add_cost(layout.cost_so_far()?);
    let logs: Vec<Mutex<PredictionsLog>> = (0..layout.samples)
        .map(|s| PredictionsLog::open(&layout.predictions_path(s)).map(Mutex::new))
        .collect::<Result<_, _>>()?;
    let bar = ProgressBar::new(pending.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}, eta {eta}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if done > 0 {
        printer.status(&format!(
            "resuming: {done} runs already done, {} to go",
            pending.len()
        ));
    }
    // Lines around the bar: shown above it on a terminal, and plainly in logs.
    let say = |bar: &ProgressBar, text: String| bar.suspend(|| printer.status(&text));
    let update_message = |bar: &ProgressBar| {
        bar.set_message(format!(
            "cost ${:.4}, submitted {}",
            totals.cost(),
            totals.submitted.load(Ordering::Relaxed)
        ))
    };
    update_message(&bar);
    let quiet = Printer::quiet();
    let results = futures_util::stream::iter(pending)
        .map(|(instance, sample)| {
            let (ctx, layout, config, totals, logs, bar) =
                (&ctx, &layout, &config, &totals, &logs, &bar);
            let (args, say) = (&args, &say);
            async move {
                if let Some(limit) = args.max_cost_total
                    && totals.cost() >= limit
                {
                    return Err(anyhow::anyhow!(
                        "skipped: the --max-cost-total of ${limit} is spent"
                    ));
                }
                let result = run_instance(
                    ctx,
                    layout,
                    config,
                    instance,
                    sample,
                    args.setup_timeout,
                    &quiet,
                )
                .await;
                match &result {
                    Ok(line) => {
                        totals.add_cost(line.cost_usd.unwrap_or(0.0));
                        if line.model_patch.as_deref().is_some_and(|p| !p.is_empty()) {
                            totals.submitted.fetch_add(1, Ordering::Relaxed);
                        }
                        let appended = logs[sample]
                            .lock()
                            .map_err(|_| anyhow::anyhow!("predictions log lock poisoned"))
                            .and_then(|mut log| Ok(log.append(line)?));
                        if let Err(e) = appended {
                            say(
                                bar,
                                format!(
                                    "{}: cannot record the prediction: {e:#}",
                                    instance.instance_id
                                ),
                            );
                        }
                    }
                    Err(e) => say(bar, format!("{}: {e:#}", instance.instance_id)),
                }
                bar.inc(1);
                update_message(bar);
                result.map(|_| ())
            }
        })
        .buffer_unordered(args.common.workers.max(1))
        .collect::<Vec<_>>()
        .await;
    bar.finish();
    let failed = results.iter().filter(|r| r.is_err()).count();
    printer.status(&format!(
        "{} runs finished, {failed} without a prediction (rerun the same command to retry them); total cost ${:.4}; predictions in {}",
        results.len() - failed,
        totals.cost(),
        layout.predictions_path(0).display()
    ));
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

/// One (instance, sample): workspace, sandbox, setup, session, prediction.
async fn run_instance(
    ctx: &BenchContext,
    layout: &RunLayout,
    config: &Config,
    instance: &Instance,
    sample: usize,
    setup_timeout: u64,
    printer: &Printer,
) -> Result<PredictionLine> {
    let prepared = prepare_workspace(ctx, instance, layout, sample).await?;
    let sandbox = DockerSandbox::create(
        SandboxConfig::new(prepared.image.clone())
            .workspace(&prepared.path)
            .network(config.network)
            .run_id(instance.instance_id.clone()),
    )
    .await
    .with_context(|| format!("cannot start the sandbox on {}", prepared.image))?;
    let sandbox = Arc::new(sandbox);
    let runner = Runner {
        executor: sandbox.clone(),
        sandbox: Some(sandbox.clone()),
    };
    let result = async {
        let setup = sandbox
            .exec(
                ExecRequest::new(prepared.setup_script.clone())
                    .timeout(Duration::from_secs(setup_timeout)),
            )
            .await?;
        if !setup.success() {
            anyhow::bail!(
                "instance setup failed (exit {:?}): {}",
                setup.exit_code,
                setup
                    .stderr
                    .lines()
                    .rev()
                    .take(5)
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
        }
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
    Ok(PredictionLine {
        instance_id: instance.instance_id.clone(),
        model_name_or_path: config.model.clone(),
        model_patch: Some(report.diff),
        cost_usd: report.outcome.cost_usd,
        sample: (layout.samples > 1).then_some(sample),
    })
}
