//! `bench eval` across several engines (`--engine URL[=N]`): the same grading, each instance on
//! a free worker of any engine (see [`crate::engines`]). An instance whose engine stops
//! answering before its report exists is graded again on another engine; one whose report was
//! written is never graded twice. Which engine graded what is written beside the summary
//! (`MODEL.RUN_ID.engines.json`) and returned.

use crate::dataset::{Dataset, Instance};
pub use crate::engines::EngineUse;
use crate::engines::{Attempt, EnginePool, distribute};
use crate::error::{HarnessError, Result};
use crate::evaluate::{
    EvalEvent, EvalOptions, EvalReport, EventSink, InstanceOutcome, Verdict, environment_failed,
    evaluate_instance, log_dir, plan, prepare_environments_until, stopped_after, summarize,
};
use crate::predictions::{Prediction, Predictions};
use crate::report::{LOG_REPORT, RunSummary};

/// Evaluates `predictions` on `dataset` across the pool's engines.
pub async fn evaluate_on(
    pool: &EnginePool,
    dataset: &Dataset,
    predictions: &Predictions,
    options: &EvalOptions,
    events: &EventSink,
) -> Result<(EvalReport, EngineUse)> {
    let (to_run, mut outcomes) = plan(dataset, predictions, options, events)?;
    let total = to_run.len() + outcomes.len();
    let first = pool
        .engines
        .first()
        .ok_or_else(|| HarnessError::Invalid("no engine to evaluate on".into()))?;
    for (instance, _) in &to_run {
        first.ctx.spec(instance)?;
    }
    // Environments are made once, on the first engine; the others copy what they need.
    let failed_envs = prepare_environments_until(
        &first.ctx,
        to_run.iter().map(|(i, _)| *i),
        events,
        &options.stop,
    )
    .await?;
    let failed_envs = &failed_envs;
    let distribution = distribute(pool, to_run, |engine, (instance, prediction)| async move {
        // Stopped: the queue drains without starting anything, and nothing is retried.
        if options.stop.is_set() {
            return Attempt::Finished(Err(HarnessError::Stopped));
        }
        events(EvalEvent::Started(instance.instance_id.clone()));
        let key = (instance.repo.clone(), instance.version.clone());
        let result = match failed_envs.get(&key) {
            Some(reason) => environment_failed(instance, prediction, options, reason),
            None => evaluate_instance(&engine.ctx, instance, prediction, options).await,
        };
        let graded = log_dir(options, prediction, instance)
            .join(LOG_REPORT)
            .is_file();
        let result = match result {
            // The report exists: graded, whatever failed after it (the container's removal).
            Err(_) if graded => Ok(graded_outcome(options, prediction, instance)),
            other => other,
        };
        match result {
            Err(HarnessError::Stopped) => Attempt::Finished(Err(HarnessError::Stopped)),
            Ok(outcome) if graded || !matches!(outcome.verdict, Verdict::Error(_)) => {
                events(EvalEvent::Finished(outcome.clone()));
                Attempt::Finished(Ok(outcome))
            }
            other => Attempt::Failed(other),
        }
    })
    .await;
    if options.stop.is_set() {
        let graded: Vec<InstanceOutcome> = distribution
            .placed
            .into_iter()
            .filter_map(|placed| placed.result.ok())
            .chain(outcomes)
            .collect();
        let engines: Vec<_> = pool.engines.iter().map(|e| &e.ctx).collect();
        return Err(stopped_after(crate::evaluate::graded(&graded), total, &engines).await);
    }
    let mut usage = distribution.usage(|(instance, _), _| Some(instance.instance_id.clone()));
    for placed in distribution.placed {
        let outcome: InstanceOutcome = placed.result?;
        if matches!(outcome.verdict, Verdict::Error(_)) {
            events(EvalEvent::Finished(outcome.clone()));
        }
        outcomes.push(outcome);
    }
    if !distribution.not_run.is_empty() {
        let ids: Vec<&str> = distribution
            .not_run
            .iter()
            .map(|(i, _)| i.instance_id.as_str())
            .collect();
        return Err(HarnessError::Docker(format!(
            "every engine stopped answering ({}); {} instances were not evaluated: {}. Rerun \
             with a working engine: graded instances are kept",
            usage.lost_engines.join(", "),
            ids.len(),
            ids.join(", ")
        )));
    }
    let report = summarize(dataset, predictions, options, outcomes)?;
    let model = predictions.model_name().unwrap_or("None");
    let name = RunSummary::file_name(model, &options.run_id).replace(".json", ".engines.json");
    usage.write(options.report_dir.join(name))?;
    Ok((report, usage))
}

/// The outcome an instance's report on disk says.
fn graded_outcome(
    options: &EvalOptions,
    prediction: &Prediction,
    instance: &Instance,
) -> InstanceOutcome {
    let path = log_dir(options, prediction, instance).join(LOG_REPORT);
    let resolved = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            crate::grading::InstanceReport::read_resolved(&text, &instance.instance_id)
        })
        .unwrap_or(false);
    InstanceOutcome {
        instance_id: instance.instance_id.clone(),
        verdict: if resolved {
            Verdict::Resolved
        } else {
            Verdict::Unresolved
        },
        timings: Default::default(),
    }
}
