//! `agent bench eval`: each prediction in a fresh container, the official patch-apply
//! fallbacks, the eval script with its markers and timeout, the log layout, grading, resume
//! (an existing `report.json` is skipped) and the run summary. A bounded pool of workers, no
//! scheduler: the engine (any `DOCKER_HOST`) does the work.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agent_containers::{DockerSandbox, OutputLine};
use agent_exec::ExecRequest;
use futures_util::{StreamExt, TryStreamExt};

use crate::context::{BenchContext, SetupTimings};
use crate::dataset::{Dataset, Instance};
use crate::error::{HarnessError, IoContext, Result};
use crate::grading::{
    APPLY_PATCH_FAIL, APPLY_PATCH_PASS, END_TEST_OUTPUT, EvalType, Grading, HarnessVersion,
    InstanceReport, LogVerdict, START_TEST_OUTPUT, parse_eval_log_as,
};
use crate::log_parsers::LogParser;
use crate::predictions::{Prediction, Predictions};
use crate::report::{
    LOG_EVAL_SCRIPT, LOG_INSTANCE, LOG_PATCH, LOG_REPORT, LOG_TEST_OUTPUT, RunSummary,
    instance_log_dir,
};
use crate::runlog::InstanceLog;
use crate::stop::StopFlag;
use crate::testspec::{CONTAINER_EVAL_SCRIPT, CONTAINER_PATCH, TESTBED, eval_script_for};

/// Tried in order; the first that exits 0 applies the patch (4.1.0).
pub const GIT_APPLY_CMDS: [&str; 3] = [
    "git apply --verbose",
    "git apply --verbose --reject",
    "patch --batch --fuzz=5 -p1 -i",
];

/// 5.x: with a 3-way try, `--forward`, a reset between tries, and "the reverse applies" also
/// counting as applied.
pub const GIT_APPLY_CMDS_V5: [&str; 4] = [
    "git apply --verbose",
    "git apply --verbose --3way",
    "git apply --verbose --reject",
    "patch --batch --forward --fuzz=5 -p1 -i",
];

fn apply_commands(version: HarnessVersion) -> &'static [&'static str] {
    match version {
        HarnessVersion::V4_1_0 => &GIT_APPLY_CMDS,
        HarnessVersion::V5 => &GIT_APPLY_CMDS_V5,
    }
}

/// The official default per-instance timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
/// Test logs larger than this are cut (head and tail kept) by the sandbox.
const OUTPUT_CAP: usize = 256 << 20;

#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub run_id: String,
    pub workers: usize,
    /// For the eval script; a timeout makes the instance an error (no report).
    pub timeout: Duration,
    /// `logs/run_evaluation/...` is created under this directory.
    pub log_root: PathBuf,
    /// Where `MODEL.RUN_ID.json` is written.
    pub report_dir: PathBuf,
    /// Whose verdicts: swebench 4.1.0 (default) or 5.x.
    pub harness_version: HarnessVersion,
    /// Set from outside (Ctrl-C): no new instance starts, running ones stop, and the evaluation
    /// ends with [`HarnessError::StoppedAfter`].
    pub stop: StopFlag,
}

impl EvalOptions {
    pub fn new(run_id: impl Into<String>) -> Self {
        Self {
            run_id: run_id.into(),
            workers: 1,
            timeout: DEFAULT_TIMEOUT,
            log_root: PathBuf::from("."),
            report_dir: PathBuf::from("."),
            harness_version: HarnessVersion::default(),
            stop: StopFlag::default(),
        }
    }
}

/// Timings of one instance, for progress and the benchmark figures.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct InstanceTimings {
    pub setup: SetupTimings,
    /// Copying the patch in and applying it.
    pub apply: Duration,
    /// The whole eval script.
    pub eval_script: Duration,
    /// From the start marker to the end marker (the test command), when both were seen.
    pub tests: Option<Duration>,
    /// Everything, from the first image lookup to the container's removal.
    pub total: Duration,
}

impl InstanceTimings {
    /// Time spent outside the test command.
    pub fn overhead(&self) -> Duration {
        self.total.saturating_sub(self.tests.unwrap_or_default())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Resolved,
    Unresolved,
    /// No report: patch did not apply, timeout, setup or engine failure.
    Error(String),
    /// A report from an earlier run with this run id exists (resume).
    AlreadyDone {
        resolved: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct InstanceOutcome {
    pub instance_id: String,
    pub verdict: Verdict,
    pub timings: InstanceTimings,
}

/// What the caller (the progress bar) hears about.
#[derive(Debug, Clone, PartialEq)]
pub enum EvalEvent {
    /// After planning: instances to run, reports already there, empty patches.
    Planned {
        to_run: usize,
        already_done: usize,
        empty_patches: usize,
    },
    /// Building an environment image (the first time for a spec).
    PreparingEnvironment(String),
    Started(String),
    Finished(InstanceOutcome),
}

pub type EventSink = dyn Fn(EvalEvent) + Send + Sync;

#[derive(Debug, Clone)]
pub struct EvalReport {
    pub summary: RunSummary,
    pub summary_path: PathBuf,
    pub outcomes: Vec<InstanceOutcome>,
}

/// Evaluates `predictions` on `dataset` (already narrowed by `--instances`).
pub async fn evaluate(
    ctx: &BenchContext,
    dataset: &Dataset,
    predictions: &Predictions,
    options: &EvalOptions,
    events: &EventSink,
) -> Result<EvalReport> {
    let (to_run, mut outcomes) = plan(dataset, predictions, options, events)?;
    // Unknown specs fail the run before anything starts, as in the official harness.
    for (instance, _) in &to_run {
        ctx.spec(instance)?;
    }
    let total = to_run.len() + outcomes.len();
    let failed_envs =
        prepare_environments_until(ctx, to_run.iter().map(|(i, _)| *i), events, &options.stop)
            .await?;

    let workers = options.workers.max(1);
    let failed_envs = &failed_envs;
    let finished: Vec<Option<InstanceOutcome>> = futures_util::stream::iter(to_run)
        .map(|(instance, prediction)| async move {
            if options.stop.is_set() {
                return Ok(None);
            }
            events(EvalEvent::Started(instance.instance_id.clone()));
            let key = (instance.repo.clone(), instance.version.clone());
            let outcome = match failed_envs.get(&key) {
                Some(reason) => environment_failed(instance, prediction, options, reason)?,
                None => match evaluate_instance(ctx, instance, prediction, options).await {
                    Err(HarnessError::Stopped) => return Ok(None),
                    other => other?,
                },
            };
            events(EvalEvent::Finished(outcome.clone()));
            Ok::<_, HarnessError>(Some(outcome))
        })
        .buffer_unordered(workers)
        .try_collect()
        .await?;
    outcomes.extend(finished.into_iter().flatten());
    if options.stop.is_set() {
        return Err(stopped_after(graded(&outcomes), total, &[ctx]).await);
    }
    summarize(dataset, predictions, options, outcomes)
}

/// The error a stopped evaluation ends with, after a sweep of this process's containers on
/// every engine it used (one whose creation was cut short has no owner to remove it).
pub(crate) async fn stopped_after(
    graded: usize,
    total: usize,
    engines: &[&BenchContext],
) -> HarnessError {
    for ctx in engines {
        if let Err(e) = agent_containers::cleanup::remove_own_containers(&ctx.docker).await {
            tracing::warn!("after the stop, could not remove this run's containers: {e}");
        }
    }
    HarnessError::StoppedAfter { graded, total }
}

/// Outcomes with a report (this run's or an earlier one's).
pub(crate) fn graded(outcomes: &[InstanceOutcome]) -> usize {
    outcomes
        .iter()
        .filter(|o| !matches!(o.verdict, Verdict::Error(_)))
        .count()
}

/// What is to run (instances with a non-empty prediction and no report yet), and the outcomes
/// of those already graded by an earlier run with this run id.
pub(crate) type Plan<'a> = (Vec<(&'a Instance, &'a Prediction)>, Vec<InstanceOutcome>);

pub(crate) fn plan<'a>(
    dataset: &'a Dataset,
    predictions: &'a Predictions,
    options: &EvalOptions,
    events: &EventSink,
) -> Result<Plan<'a>> {
    if options.run_id.trim().is_empty() {
        return Err(HarnessError::Invalid("--run-id must not be empty".into()));
    }
    let mut to_run: Vec<(&Instance, &Prediction)> = Vec::new();
    let mut outcomes = Vec::new();
    let mut empty = 0;
    for instance in &dataset.instances {
        let Some(prediction) = predictions.get(&instance.instance_id) else {
            continue;
        };
        if prediction.is_empty() {
            empty += 1;
            continue;
        }
        let report = log_dir(options, prediction, instance).join(LOG_REPORT);
        if let Ok(text) = std::fs::read_to_string(&report) {
            let resolved =
                InstanceReport::read_resolved(&text, &instance.instance_id).unwrap_or(false);
            outcomes.push(InstanceOutcome {
                instance_id: instance.instance_id.clone(),
                verdict: Verdict::AlreadyDone { resolved },
                timings: InstanceTimings::default(),
            });
            continue;
        }
        to_run.push((instance, prediction));
    }
    events(EvalEvent::Planned {
        to_run: to_run.len(),
        already_done: outcomes.len(),
        empty_patches: empty,
    });
    Ok((to_run, outcomes))
}

/// The summary over the reports on disk, written to the report directory.
pub(crate) fn summarize(
    dataset: &Dataset,
    predictions: &Predictions,
    options: &EvalOptions,
    outcomes: Vec<InstanceOutcome>,
) -> Result<EvalReport> {
    let mut summary = RunSummary::collect(&options.log_root, &options.run_id, dataset, predictions);
    if options.harness_version == HarnessVersion::V5 {
        summary.classify_failures(&options.log_root, &options.run_id, predictions);
    }
    let model = predictions.model_name().unwrap_or("None");
    let summary_path = summary.write(&options.report_dir, model, &options.run_id)?;
    Ok(EvalReport {
        summary,
        summary_path,
        outcomes,
    })
}

/// Builds (or finds) the environment image of every distinct spec, one at a time. A spec whose
/// environment cannot be built (e.g. a Python version without an image recipe) is returned
/// with the reason, so that its instances become errors while the others run; an unreachable
/// engine stops everything.
pub async fn prepare_environments<'a>(
    ctx: &BenchContext,
    instances: impl Iterator<Item = &'a Instance>,
    events: &EventSink,
) -> Result<HashMap<(String, String), String>> {
    prepare_environments_until(ctx, instances, events, &StopFlag::default()).await
}

/// [`prepare_environments`] that builds nothing more once `stop` is set (the caller then ends
/// with a stop).
pub async fn prepare_environments_until<'a>(
    ctx: &BenchContext,
    instances: impl Iterator<Item = &'a Instance>,
    events: &EventSink,
    stop: &StopFlag,
) -> Result<HashMap<(String, String), String>> {
    let mut seen = std::collections::HashSet::new();
    let mut failed = HashMap::new();
    for instance in instances {
        let key = (instance.repo.clone(), instance.version.clone());
        if stop.is_set() {
            break;
        }
        if seen.insert(key.clone()) {
            events(EvalEvent::PreparingEnvironment(format!(
                "{} {}",
                instance.repo, instance.version
            )));
            let built = tokio::select! {
                built = ctx.env_image(instance) => built,
                () = stop.wait() => break,
            };
            match built {
                Ok(_) => {}
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => {
                    // Not a warning: the caller reports each failed instance's reason once.
                    tracing::debug!(
                        "environment for {} {}: {e}",
                        instance.repo,
                        instance.version
                    );
                    failed.insert(key, e.to_string());
                }
            }
        }
    }
    Ok(failed)
}

pub(crate) fn log_dir(
    options: &EvalOptions,
    prediction: &Prediction,
    instance: &Instance,
) -> PathBuf {
    instance_log_dir(
        &options.log_root,
        &options.run_id,
        &prediction.model_name_or_path,
        &instance.instance_id,
    )
}

/// Evaluates one prediction. Instance-level failures become `Verdict::Error` (logged in
/// `run_instance.log`); only engine-level failures are returned as errors.
pub async fn evaluate_instance(
    ctx: &BenchContext,
    instance: &Instance,
    prediction: &Prediction,
    options: &EvalOptions,
) -> Result<InstanceOutcome> {
    let dir = log_dir(options, prediction, instance);
    std::fs::create_dir_all(&dir).context(|| format!("cannot create {}", dir.display()))?;
    let mut log = InstanceLog::open(&dir.join(LOG_INSTANCE))?;
    let patch = prediction.model_patch.clone().unwrap_or_default();
    let (run, timings) = match write_and_run(ctx, instance, &patch, options, &dir, &mut log).await {
        Ok(ok) => ok,
        Err(e) if e.is_fatal() => return Err(e),
        Err(e) => {
            log.error(&format!(
                "Error in evaluating model for {}: {e}",
                instance.instance_id
            ));
            return Ok(InstanceOutcome {
                instance_id: instance.instance_id.clone(),
                verdict: Verdict::Error(e.to_string()),
                timings: InstanceTimings::default(),
            });
        }
    };
    let verdict = verdict_of(ctx, instance, prediction, options, &dir, &mut log, run)?;
    Ok(InstanceOutcome {
        instance_id: instance.instance_id.clone(),
        verdict,
        timings,
    })
}

/// Builds the eval script, writes the patch and script to the log directory, and runs them.
async fn write_and_run(
    ctx: &BenchContext,
    instance: &Instance,
    patch: &str,
    options: &EvalOptions,
    dir: &Path,
    log: &mut InstanceLog,
) -> Result<(ScriptRun, InstanceTimings)> {
    let label = format!("{}.{}", options.run_id, instance.instance_id.to_lowercase());
    let spec = ctx.spec(instance).ok();
    let mut script = eval_script_for(instance, spec.map(|s| s.spec), options.harness_version)?;
    if ctx.options.image_source != crate::official::ImageSource::Local
        && instance.row_str("eval_script").is_none()
    {
        script = crate::official::adapt_script(&script);
    }
    std::fs::write(dir.join(LOG_PATCH), patch)
        .context(|| format!("cannot write {}", dir.join(LOG_PATCH).display()))?;
    std::fs::write(dir.join(LOG_EVAL_SCRIPT), &script)
        .context(|| format!("cannot write {}", dir.join(LOG_EVAL_SCRIPT).display()))?;
    run_script(
        ctx,
        instance,
        ScriptRequest {
            patch: Some(patch),
            script: &script,
            timeout: options.timeout,
            label: &label,
            version: options.harness_version,
            stop: &options.stop,
        },
        log,
    )
    .await
}

/// The verdict for a finished script run; writes the test output and, when the tests ran, the
/// report.
fn verdict_of(
    ctx: &BenchContext,
    instance: &Instance,
    prediction: &Prediction,
    options: &EvalOptions,
    dir: &Path,
    log: &mut InstanceLog,
    run: ScriptRun,
) -> Result<Verdict> {
    Ok(match run {
        ScriptRun::PatchFailed(_) => Verdict::Error("the patch did not apply".into()),
        ScriptRun::TimedOut(output) => {
            let text = format!(
                "{output}\n\nTimeout error: {} seconds exceeded.",
                options.timeout.as_secs()
            );
            write_text(&dir.join(LOG_TEST_OUTPUT), &text)?;
            log.info(&format!(
                "Test timed out after {} seconds.",
                options.timeout.as_secs()
            ));
            Verdict::Error(format!("timed out after {}s", options.timeout.as_secs()))
        }
        ScriptRun::Completed(output) => {
            write_text(&dir.join(LOG_TEST_OUTPUT), &output)?;
            let (parser, grading) = grading_of(ctx, instance, options.harness_version)?;
            let report = InstanceReport::grade_as(
                &instance.instance_id,
                prediction.model_patch.as_deref(),
                (&instance.fail_to_pass, &instance.pass_to_pass),
                parser,
                &output,
                grading,
            );
            note_parser_misses(log, instance, parser, &output, grading.version);
            write_text(&dir.join(LOG_REPORT), &report.to_json_text())?;
            log.info(&format!(
                "Result for {}: resolved: {}",
                instance.instance_id,
                if report.resolved { "True" } else { "False" }
            ));
            if report.resolved {
                Verdict::Resolved
            } else {
                Verdict::Unresolved
            }
        }
    })
}

/// An instance whose environment image could not be built: logged, no report.
pub(crate) fn environment_failed(
    instance: &Instance,
    prediction: &Prediction,
    options: &EvalOptions,
    reason: &str,
) -> Result<InstanceOutcome> {
    let dir = log_dir(options, prediction, instance);
    let mut log = InstanceLog::open(&dir.join(LOG_INSTANCE))?;
    log.error(&format!(
        "Error building the environment of {}: {reason}",
        instance.instance_id
    ));
    Ok(InstanceOutcome {
        instance_id: instance.instance_id.clone(),
        verdict: Verdict::Error(format!("environment: {reason}")),
        timings: InstanceTimings::default(),
    })
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).context(|| format!("cannot write {}", path.display()))
}

/// The parser and grading rules of an instance: a 5.x row's `log_parser` and `eval_type` decide
/// when present, else the spec's parser and pass-and-fail.
pub fn grading_of(
    ctx: &BenchContext,
    instance: &Instance,
    version: HarnessVersion,
) -> Result<(LogParser, Grading)> {
    let parser = match instance.row_str("log_parser") {
        Some(name) => LogParser::from_official_name(name).ok_or_else(|| {
            HarnessError::UnknownSpec(format!(
                "{}: log_parser `{name}` is not one this harness has (parse_log_pytest, \
                 parse_log_pytest_options, parse_log_pytest_v2, parse_log_django, \
                 parse_log_sympy, parse_log_matplotlib, parse_log_seaborn)",
                instance.instance_id
            ))
        })?,
        None => ctx.spec(instance)?.log_parser,
    };
    let eval_type: EvalType = instance
        .row_str("eval_type")
        .unwrap_or_default()
        .parse()
        .map_err(|e| HarnessError::UnknownSpec(format!("{}: {e}", instance.instance_id)))?;
    Ok((parser, Grading { version, eval_type }))
}

/// Listed tests that the parser did not find are graded as failures, as the official harness
/// does; the log says so, since that is how parser misses (truncated names) show up.
fn note_parser_misses(
    log: &mut InstanceLog,
    instance: &Instance,
    parser: LogParser,
    output: &str,
    version: HarnessVersion,
) {
    let LogVerdict::Parsed(map) = parse_eval_log_as(parser, output, version) else {
        return;
    };
    let missing: Vec<&String> = instance
        .fail_to_pass
        .iter()
        .chain(&instance.pass_to_pass)
        .filter(|t| !map.contains_key(*t))
        .collect();
    if !missing.is_empty() {
        log.info(&format!(
            "{} listed test(s) not found in the test output by the {} parser (graded as \
             failed): {}",
            missing.len(),
            parser.name(),
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
}

/// What running the eval script in a fresh container gave.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptRun {
    /// None of the apply commands succeeded; their last output.
    PatchFailed(String),
    TimedOut(String),
    /// The combined output of the eval script.
    Completed(String),
}

/// What [`run_script`] runs.
#[derive(Debug, Clone, Copy)]
pub struct ScriptRequest<'a> {
    pub patch: Option<&'a str>,
    pub script: &'a str,
    pub timeout: Duration,
    /// Ties the container to a run (for cleanup by label).
    pub label: &'a str,
    /// Whose patch fallbacks.
    pub version: HarnessVersion,
    /// Set: the script stops and the container is removed ([`HarnessError::Stopped`]).
    pub stop: &'a StopFlag,
}

/// A fresh container; the patch (if any and not empty) applied with the fallbacks; the eval
/// script run with `timeout`; the container removed in every case, a stop included.
pub async fn run_script(
    ctx: &BenchContext,
    instance: &Instance,
    request: ScriptRequest<'_>,
    log: &mut InstanceLog,
) -> Result<(ScriptRun, InstanceTimings)> {
    let ScriptRequest {
        patch,
        script,
        timeout,
        label,
        version,
        stop,
    } = request;
    let started = Instant::now();
    let mut timings = InstanceTimings::default();
    // Cut short, a creation's container is found by the sweep after the stop.
    let (sandbox, setup) = tokio::select! {
        made = ctx.instance_container(instance, label, timeout) => made?,
        () = stop.wait() => return Err(HarnessError::Stopped),
    };
    timings.setup = setup;
    log.info(&format!(
        "Container for {} started: {} ({})",
        instance.instance_id,
        sandbox.id(),
        sandbox.config().image
    ));
    let result = tokio::select! {
        result = in_container(&sandbox, patch, script, timeout, log, &mut timings, version) => result,
        () = stop.wait() => Err(HarnessError::Stopped),
    };
    let removed = sandbox.remove().await;
    timings.total = started.elapsed();
    let run = result?;
    removed?;
    log.info(&format!(
        "Timings: setup {:.2}s (image built: {}), container {:.2}s, apply {:.2}s, eval script {:.2}s, tests {}, total {:.2}s",
        timings.setup.setup.as_secs_f64(),
        timings.setup.image_built,
        timings.setup.container.as_secs_f64(),
        timings.apply.as_secs_f64(),
        timings.eval_script.as_secs_f64(),
        timings.tests.map_or("-".to_string(), |d| format!("{:.2}s", d.as_secs_f64())),
        timings.total.as_secs_f64()
    ));
    Ok((run, timings))
}

async fn exec(
    sandbox: &DockerSandbox,
    command: String,
    timeout: Duration,
) -> Result<agent_exec::ExecOutput> {
    let request = ExecRequest {
        command,
        workdir: Some(TESTBED.into()),
        timeout,
        output_cap: OUTPUT_CAP,
        env: Vec::new(),
    };
    Ok(sandbox.exec_streaming(request, None).await?.output)
}

async fn in_container(
    sandbox: &DockerSandbox,
    patch: Option<&str>,
    script: &str,
    timeout: Duration,
    log: &mut InstanceLog,
    timings: &mut InstanceTimings,
    version: HarnessVersion,
) -> Result<ScriptRun> {
    let apply_started = Instant::now();
    if let Some(patch) = patch.filter(|p| !p.is_empty())
        && let Some(failure) = apply_patch(sandbox, patch, timeout, log, version).await?
    {
        timings.apply = apply_started.elapsed();
        return Ok(ScriptRun::PatchFailed(failure));
    }
    timings.apply = apply_started.elapsed();
    let diff = exec(sandbox, "git -c core.fileMode=false diff".into(), timeout).await?;
    log.info(&format!("Git diff before:\n{}", diff.stdout.trim()));

    let out = run_eval_script(sandbox, script, timeout, timings).await?;
    log.info(&format!(
        "Test runtime: {:.2} seconds",
        timings.eval_script.as_secs_f64()
    ));
    if out.timed_out {
        return Ok(ScriptRun::TimedOut(out.stdout));
    }
    let after = exec(sandbox, "git -c core.fileMode=false diff".into(), timeout).await?;
    log.info(&format!("Git diff after:\n{}", after.stdout.trim()));
    if after.stdout.trim() != diff.stdout.trim() {
        log.info("Git diff changed after running eval script");
    }
    let mut output = out.stdout;
    if !out.stderr.is_empty() {
        output.push_str(&out.stderr);
    }
    Ok(ScriptRun::Completed(output))
}

/// Writes the patch into the container and tries the version's apply commands in turn.
/// `None` when it applied (or, on 5.x, was already applied); otherwise the last command's
/// output.
async fn apply_patch(
    sandbox: &DockerSandbox,
    patch: &str,
    timeout: Duration,
    log: &mut InstanceLog,
    version: HarnessVersion,
) -> Result<Option<String>> {
    sandbox
        .write_file(CONTAINER_PATCH, patch.as_bytes(), 0o644)
        .await?;
    let mut last_output = String::new();
    for (attempt, command) in apply_commands(version).iter().enumerate() {
        if attempt > 0 && version == HarnessVersion::V5 {
            // 5.x: a failed try (notably --reject) leaves partial state; start clean.
            exec(sandbox, "git checkout -- . ; git clean -fd".into(), timeout).await?;
        }
        let out = exec(sandbox, format!("{command} {CONTAINER_PATCH}"), timeout).await?;
        last_output = format!("{}{}", out.stdout, out.stderr);
        if out.success() {
            log.info(&format!("{APPLY_PATCH_PASS}:\n{last_output}"));
            return Ok(None);
        }
        log.info(&format!("Failed to apply patch to container: {command}"));
    }
    if version == HarnessVersion::V5 {
        let reverse = exec(
            sandbox,
            format!("git apply --check --reverse {CONTAINER_PATCH}"),
            timeout,
        )
        .await?;
        if reverse.success() {
            log.info(&format!("{APPLY_PATCH_PASS}: verified already applied"));
            return Ok(None);
        }
    }
    log.info(&format!("{APPLY_PATCH_FAIL}:\n{last_output}"));
    Ok(Some(last_output))
}

/// Writes and runs the eval script, recording its duration and the test command's duration
/// (between the output markers) in `timings`.
async fn run_eval_script(
    sandbox: &DockerSandbox,
    script: &str,
    timeout: Duration,
    timings: &mut InstanceTimings,
) -> Result<agent_exec::ExecOutput> {
    sandbox
        .write_file(CONTAINER_EVAL_SCRIPT, script.as_bytes(), 0o755)
        .await?;
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<OutputLine>();
    // Marker times from the live output: the test command's duration without touching the
    // script.
    let watcher = tokio::spawn(async move {
        let (mut start, mut end) = (None, None);
        while let Some(line) = receiver.recv().await {
            if start.is_none() && line.line.contains(START_TEST_OUTPUT) {
                start = Some(Instant::now());
            } else if start.is_some() && end.is_none() && line.line.contains(END_TEST_OUTPUT) {
                end = Some(Instant::now());
            }
        }
        start.zip(end).map(|(s, e)| e.duration_since(s))
    });
    let eval_started = Instant::now();
    // One pipe for both streams keeps the order in which bash wrote them.
    let request = ExecRequest {
        command: format!("/bin/bash {CONTAINER_EVAL_SCRIPT} 2>&1"),
        workdir: Some(TESTBED.into()),
        timeout,
        output_cap: OUTPUT_CAP,
        env: Vec::new(),
    };
    let result = sandbox.exec_streaming(request, Some(sender)).await;
    timings.eval_script = eval_started.elapsed();
    timings.tests = watcher.await.ok().flatten();
    Ok(result?.output)
}
