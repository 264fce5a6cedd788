//! The batch loop: every (instance, sample) without a prediction yet, each one unit of work on
//! a free worker of any engine of the pool (`agent_harness::engines::distribute`), each in a
//! fresh copy of its instance's `/testbed`, each prediction appended (fsynced) as soon as it
//! exists. Killed at any point, a rerun resumes with nothing lost and nothing done twice.
//!
//! A failed instance is recorded (an environment error in `env_errors.jsonl`, or an unfinished
//! run left for a rerun) and the batch goes on. A failure on an engine that no longer answers
//! is the engine's, not the instance's: nothing is recorded and the pair goes back to the
//! queue for the other engines (with one engine, or when every engine is gone, the batch stops
//! as on any fatal error). A fatal error stops it: no further instance starts, the running
//! ones finish and are recorded, and the summary carries the cause.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use agent_containers::Engine;
use agent_harness::engines::{Attempt, EnginePool, EngineUse, PoolEngine, distribute};
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
use crate::run::Interrupt;

/// Seconds a sandbox request may take before the engine is taken for unresponsive.
const SANDBOX_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// One batch: what to run, where, and how.
pub struct BatchRequest<'a> {
    /// The engines and their workers (one engine, `DOCKER_HOST`'s, unless `--engine` or the
    /// user's config names others).
    pub pool: &'a EnginePool,
    pub dataset: &'a Dataset,
    pub layout: &'a RunLayout,
    /// The agent's configuration (model, budgets, network, ...), the same for every run.
    pub config: &'a Config,
    /// No new instance starts once the total (including earlier runs) reaches this.
    pub max_cost_total: Option<f64>,
    /// For building an instance image (its install); past it, an environment error.
    pub setup_timeout: Duration,
    /// Where the batch's own lines and bar go (each run's own output is quiet).
    pub printer: &'a Printer,
    /// Set on Ctrl-C or SIGTERM: the running agents stop at their next step, none starts.
    pub interrupt: Interrupt,
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
    /// Which engine ran which runs (`<id>` or `<id>.s<k>`), the engines lost on the way, and
    /// how many runs went back to the queue because their engine died under them.
    pub engines: EngineUse,
}

/// State shared by the concurrent instances.
struct Shared {
    logs: Vec<tokio::sync::Mutex<PredictionsLog>>,
    summary: Mutex<BatchSummary>,
    stop: AtomicBool,
    progress: BatchProgress,
    /// Runs that were started, so that those an engine's death left undone count as ended,
    /// not as never started.
    started: Mutex<HashSet<(String, usize)>>,
    /// Why each lost engine was taken for dead (its connection error), by URL.
    engine_errors: Mutex<BTreeMap<String, String>>,
}

impl Shared {
    fn summary(&self) -> std::sync::MutexGuard<'_, BatchSummary> {
        lock(&self.summary)
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
        started: Mutex::new(HashSet::new()),
        engine_errors: Mutex::new(BTreeMap::new()),
    };
    let distribution = distribute(request.pool, pending, |engine, (instance, sample)| {
        one(request, &shared, engine, instance, sample)
    })
    .await;
    shared.progress.finish();
    let samples = request.layout.samples;
    let usage =
        distribution.usage(|(i, k), ran| ran.then(|| run_name(&i.instance_id, *k, samples)));
    let started = std::mem::take(&mut *lock(&shared.started));
    let engine_errors = std::mem::take(&mut *lock(&shared.engine_errors));
    let mut summary = shared
        .summary
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    summary.engines = usage;
    if !distribution.not_run.is_empty() {
        // Every engine is gone: what they had started ended with them, the rest never began.
        for (instance, sample) in &distribution.not_run {
            if started.contains(&(instance.instance_id.clone(), *sample)) {
                summary.ended_by_fatal += 1;
            } else {
                summary.not_started += 1;
            }
        }
        if summary.stopped.is_none() {
            summary.stopped = Some(every_engine_gone(engine_errors));
        }
    }
    summary
}

/// How a run is named in the engine use: its instance, and its sample when there are several.
fn run_name(id: &str, sample: usize, samples: usize) -> String {
    if samples > 1 {
        format!("{id}.s{sample}")
    } else {
        id.to_string()
    }
}

/// The fatal error once no engine is left: with one engine, its own connection error.
fn every_engine_gone(errors: BTreeMap<String, String>) -> FatalError {
    if errors.len() == 1 {
        return FatalError::Engine(errors.into_values().next().unwrap_or_default());
    }
    let each: Vec<String> = errors.into_values().collect();
    FatalError::Engine(format!(
        "every engine stopped answering: {}",
        each.join("; ")
    ))
}

/// One (instance, sample) on `engine`: unless the batch stopped or the budget is spent,
/// prepare its copy, run the agent, record what came of it, or hand it back when the engine
/// died under it. Finished with whether it ran.
async fn one(
    request: &BatchRequest<'_>,
    shared: &Shared,
    engine: &PoolEngine,
    instance: &Instance,
    sample: usize,
) -> Attempt<bool> {
    if *request.interrupt.borrow() {
        shared.stop(FatalError::Interrupted);
    }
    if shared.stop.load(Ordering::SeqCst) {
        shared.summary().not_started += 1;
        return Attempt::Finished(false);
    }
    if request
        .max_cost_total
        .is_some_and(|max| shared.summary().cost_usd >= max)
    {
        shared.summary().skipped_for_budget += 1;
        return Attempt::Finished(false);
    }
    let id = &instance.instance_id;
    lock(&shared.started).insert((id.clone(), sample));
    let outcome = attempt(request, engine, instance, sample).await;
    let failure = match outcome {
        Ok(run) => {
            record_prediction(request, shared, id, sample, run).await;
            return Attempt::Finished(true);
        }
        Err(failure) => failure,
    };
    if let Some(reason) = engine_gone(engine, &failure).await {
        lock(&shared.engine_errors).insert(engine.url().to_string(), reason);
        return Attempt::EngineLost;
    }
    record_failure(request, shared, id, sample, failure).await;
    Attempt::Finished(true)
}

/// Prepares the pair's copy on the engine (its image built or copied there first) and runs the
/// agent in a sandbox on the same engine.
async fn attempt(
    request: &BatchRequest<'_>,
    engine: &PoolEngine,
    instance: &Instance,
    sample: usize,
) -> Result<AgentRun, InstanceFailure> {
    let copy = prepare(
        &engine.ctx,
        instance,
        request.layout,
        sample,
        request.setup_timeout,
    )
    .await
    .map_err(classify_setup_error)?;
    // The sandbox's own client, with the request timeout `agent fix` uses: a hung engine ends
    // the run in minutes rather than the hour an image build may take.
    let sandbox_engine = Engine::connect(&engine.address, SANDBOX_REQUEST_TIMEOUT)
        .await
        .map_err(|e| InstanceFailure::Fatal(FatalError::Engine(e.to_string())))?;
    let quiet = Printer::quiet();
    run_instance(InstanceRequest {
        config: request.config,
        engine: sandbox_engine,
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

/// Whether a failure was the engine's: it could be (an engine error, or a run or setup that
/// did not finish) and the engine no longer answers. Then the engine's connection error.
async fn engine_gone(engine: &PoolEngine, failure: &InstanceFailure) -> Option<String> {
    let could_be = matches!(
        failure,
        InstanceFailure::Fatal(FatalError::Engine(_))
            | InstanceFailure::Unfinished(_)
            | InstanceFailure::Environment(_)
    );
    if !could_be || engine.answers().await {
        return None;
    }
    Some(
        match Engine::connect(&engine.address, Duration::from_secs(10)).await {
            Err(e) => e.to_string(),
            Ok(_) => format!("the Docker engine at {} stopped answering", engine.url()),
        },
    )
}

/// Records a failure that is the instance's (or a fatal error, which stops the batch).
async fn record_failure(
    request: &BatchRequest<'_>,
    shared: &Shared,
    id: &str,
    sample: usize,
    failure: InstanceFailure,
) {
    match failure {
        InstanceFailure::Environment(reason) => {
            let error = EnvError {
                instance_id: id.to_string(),
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
        InstanceFailure::Unfinished(reason) => {
            shared
                .summary()
                .unfinished
                .push((id.to_string(), sample, reason));
        }
        InstanceFailure::Fatal(error) => {
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
