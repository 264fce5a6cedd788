//! The batch loop: every (instance, sample) without a prediction yet, `workers` at a time, each
//! in a fresh copy of its instance's `/testbed`, each prediction appended (fsynced) as soon as
//! it exists. Killed at any point, a rerun resumes with nothing lost and nothing done twice.
//!
//! A failed instance is recorded (an environment error in `env_errors.jsonl`, or an unfinished
//! run left for a rerun) and the batch goes on. A fatal error stops it: no further instance
//! starts, the running ones finish and are recorded, and the summary carries the cause.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;

use agent_harness::context::BenchContext;
use agent_harness::prediction_log::{PredictionLine, PredictionsLog};
use agent_harness::{Dataset, Instance};

use super::error::{FatalError, InstanceFailure, classify_setup_error};
use super::instance::{AgentRun, InstanceRequest, run_instance};
use super::layout::{EnvError, RunLayout};
use super::prepare::prepare;
use super::progress::BatchProgress;
use super::resume::Resume;
use crate::config::Config;
use crate::printer::Printer;

/// One batch: what to run, where, and how.
pub struct BatchRequest<'a> {
    pub ctx: &'a BenchContext,
    pub dataset: &'a Dataset,
    pub layout: &'a RunLayout,
    /// The agent's configuration (model, budgets, network, ...), the same for every run.
    pub config: &'a Config,
    pub workers: usize,
    /// No new instance starts once the total (including earlier runs) reaches this.
    pub max_cost_total: Option<f64>,
    /// For building an instance image (its install); past it, an environment error.
    pub setup_timeout: Duration,
    /// Where the batch's own lines and bar go (each run's own output is quiet).
    pub printer: &'a Printer,
    /// Ctrl-C/SIGTERM: no new instance starts; the running runs stop and are recorded.
    pub interrupt: crate::run::Interrupt,
}

#[derive(Debug, Default)]
pub struct BatchSummary {
    /// Predictions written by this run.
    pub written: usize,
    /// (instance id, sample, reason): no prediction written; a rerun tries them again.
    pub unfinished: Vec<(String, usize, String)>,
    /// Not started because the cost limit was reached.
    pub skipped_for_budget: usize,
    /// Not started because the batch stopped on a fatal error.
    pub not_started: usize,
    /// No environment could be made (recorded in `env_errors.jsonl`; not retried by a rerun).
    pub env_errors: Vec<EnvError>,
    /// Total cost, earlier runs included.
    pub cost_usd: f64,
    /// The fatal error that stopped the batch, if one did.
    pub stopped: Option<FatalError>,
    /// Runs that ended on a fatal error (no prediction; a rerun does them again).
    pub ended_by_fatal: usize,
}

/// State shared by the concurrent instances.
struct Shared {
    logs: Vec<tokio::sync::Mutex<PredictionsLog>>,
    summary: Mutex<BatchSummary>,
    stop: AtomicBool,
    progress: BatchProgress,
}

impl Shared {
    fn summary(&self) -> std::sync::MutexGuard<'_, BatchSummary> {
        self.summary.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a fatal error (the first one is kept) and stops further starts.
    fn stop(&self, error: FatalError) {
        self.stop.store(true, Ordering::SeqCst);
        let mut summary = self.summary();
        if summary.stopped.is_none() {
            summary.stopped = Some(error);
        }
    }
}

/// Runs the batch over `resume`'s pending pairs. Never fails as a whole: a fatal error is in
/// [`BatchSummary::stopped`], next to everything that was recorded before it.
pub async fn run_batch(request: &BatchRequest<'_>, resume: Resume) -> BatchSummary {
    let pending = resume.pending(request.dataset);
    let progress = BatchProgress::new(
        request.printer,
        pending.len(),
        resume.cost_so_far(),
        resume.submitted_so_far(),
    );
    let shared = Shared {
        logs: resume
            .logs
            .into_iter()
            .map(tokio::sync::Mutex::new)
            .collect(),
        summary: Mutex::new(BatchSummary {
            cost_usd: progress.totals().0,
            ..BatchSummary::default()
        }),
        stop: AtomicBool::new(false),
        progress,
    };
    futures_util::stream::iter(pending)
        .for_each_concurrent(request.workers.max(1), |(instance, sample)| {
            one(request, &shared, instance, sample)
        })
        .await;
    shared.progress.finish();
    shared
        .summary
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
}

/// One (instance, sample): unless the batch stopped or the budget is spent, prepare its copy,
/// run the agent, record what came of it.
async fn one(request: &BatchRequest<'_>, shared: &Shared, instance: &Instance, sample: usize) {
    if *request.interrupt.borrow() {
        shared.stop(FatalError::Interrupted);
    }
    if shared.stop.load(Ordering::SeqCst) {
        shared.summary().not_started += 1;
        return;
    }
    if request
        .max_cost_total
        .is_some_and(|max| shared.summary().cost_usd >= max)
    {
        shared.summary().skipped_for_budget += 1;
        return;
    }
    let outcome = match prepare(
        request.ctx,
        instance,
        request.layout,
        sample,
        request.setup_timeout,
    )
    .await
    {
        Ok(copy) => {
            let quiet = Printer::quiet();
            run_instance(InstanceRequest {
                config: request.config,
                instance,
                copy,
                trajectory: request
                    .layout
                    .trajectory_path(&instance.instance_id, sample),
                keep_attempt: request.layout.samples > 1,
                printer: &quiet,
                interrupt: request.interrupt.clone(),
            })
            .await
        }
        Err(e) => Err(classify_setup_error(e)),
    };
    let id = &instance.instance_id;
    match outcome {
        Ok(run) => record_prediction(request, shared, id, sample, run).await,
        Err(InstanceFailure::Environment(reason)) => {
            let error = EnvError {
                instance_id: id.clone(),
                sample,
                reason,
            };
            // The same lock as the predictions: one writer in the output folder at a time.
            let _guard = shared.logs[sample].lock().await;
            match request.layout.record_env_error(&error) {
                Ok(()) => shared.summary().env_errors.push(error),
                Err(e) => shared.stop(e.into()),
            }
        }
        Err(InstanceFailure::Unfinished(reason)) => {
            shared
                .summary()
                .unfinished
                .push((id.clone(), sample, reason));
        }
        Err(InstanceFailure::Fatal(error)) => {
            shared.summary().ended_by_fatal += 1;
            shared.stop(error);
        }
    }
}

async fn record_prediction(
    request: &BatchRequest<'_>,
    shared: &Shared,
    id: &str,
    sample: usize,
    run: AgentRun,
) {
    let line = PredictionLine {
        instance_id: id.to_string(),
        model_name_or_path: request.config.model.clone(),
        model_patch: Some(run.model_patch),
        cost_usd: Some(run.cost_usd),
        sample: (request.layout.samples > 1).then_some(sample),
    };
    if let Err(e) = shared.logs[sample].lock().await.append(&line) {
        shared.stop(FatalError::predictions(e));
        return;
    }
    {
        let mut summary = shared.summary();
        summary.cost_usd += run.cost_usd;
        summary.written += 1;
    }
    shared.progress.finished(run.cost_usd, line.submitted());
}
