//! `agent fix --samples N`: N attempts at the same task, each in its own clone of the
//! repository and its own sandbox, `workers` at a time; then [`crate::select`] chooses one,
//! and its diff is applied to the user's checkout as a single run's would be.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;

use super::{FixOptions, FixReport};
use crate::config::Config;
use crate::model::{ModelError, Usage};
use crate::printer::Printer;
use crate::prompts::{PromptError, Prompts};
use crate::run::{Interrupt, RunError, RunRequest};
use crate::select::{self, Attempt, Environment, SelectError, Selection};
use crate::session::ExitReason;
use crate::trajectory::{self, Event, TrajectoryError, TrajectoryWriter};
use crate::workspace::{Workspace, WorkspaceError};

/// Why the attempts or the selection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SamplesError {
    #[error(
        "--samples cannot be used with --allow-dirty: every attempt starts from a clean clone of HEAD; commit or stash your changes first"
    )]
    Dirty,
    #[error(
        "--samples needs a commit to start the attempts from, and {path} has none ({message}); commit first"
    )]
    NoCommit { path: PathBuf, message: String },
    #[error("cannot create {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("none of the {0} attempts could run; the first error: {1}")]
    NoAttempt(usize, String),
    #[error("the chosen diff applied to a clean clone but not to {path}: {message}")]
    Apply { path: PathBuf, message: String },
    #[error(transparent)]
    Checkout(#[from] SelectError),
    /// What a single run can meet (the workspace, the trajectory, the prompts, the model).
    #[error(transparent)]
    Run(#[from] RunError),
}

/// A run's own errors, met here outside a run, are the run's kinds.
macro_rules! through_run_error {
    ($($error:ty),*) => {$(
        impl From<$error> for SamplesError {
            fn from(error: $error) -> Self {
                Self::Run(error.into())
            }
        }
    )*};
}
through_run_error!(WorkspaceError, TrajectoryError, PromptError, ModelError);

type Result<T, E = SamplesError> = std::result::Result<T, E>;

/// N attempts and a selection.
pub struct SamplesRequest<'a> {
    pub workspace: &'a Workspace,
    pub config: &'a Config,
    pub options: &'a FixOptions,
    pub printer: &'a Printer,
}

/// Runs the attempts, selects one and applies its diff to `request.workspace`. The report is the
/// chosen attempt's, with the checkout's baseline and final tree and the selection; when none
/// was chosen, the first attempt's, with no diff.
pub async fn execute(request: SamplesRequest<'_>) -> Result<FixReport> {
    let workspace = request.workspace;
    if request.options.allow_dirty {
        return Err(SamplesError::Dirty);
    }
    workspace.ensure_clean()?;
    let head = head_commit(workspace)?;
    let base = workspace
        .root()
        .join(".agent")
        .join("attempts")
        .join(format!(
            "{}-{}",
            trajectory::unix_millis(),
            std::process::id()
        ));
    std::fs::create_dir_all(&base).map_err(|source| SamplesError::Io {
        path: base.clone(),
        source,
    })?;
    // A second Ctrl-C exits at once: the clones go then too.
    let _discard = crate::run::interrupt::DiscardOnForcedExit::new(base.clone());
    let clones = Clones {
        source: workspace.root().to_path_buf(),
        head,
        base: base.clone(),
        config: Config {
            network: false,
            ..request.config.clone()
        },
    };
    let result = attempts_then_select(&request, &clones).await;
    if let Err(e) = std::fs::remove_dir_all(&base) {
        request
            .printer
            .warn(&format!("could not remove {}: {e}", base.display()));
    }
    result
}

async fn attempts_then_select(request: &SamplesRequest<'_>, clones: &Clones) -> Result<FixReport> {
    let trajectory = request.options.trajectory.clone().unwrap_or_else(|| {
        super::default_trajectory_path(clones.source.as_path(), &request.options.task)
    });
    request.printer.status(&format!(
        "agent: {} attempts at {}, {} at a time; trajectories {}",
        request.options.samples,
        super::short(&request.options.task),
        request.options.workers.max(1),
        attempt_trajectory(&trajectory, 0)
            .display()
            .to_string()
            .replace(".attempt-0.", ".attempt-N.")
    ));
    if request.config.sandbox == crate::config::SandboxKind::Local {
        request.printer.warn(crate::run::LOCAL_SANDBOX_WARNING);
    }
    let mut reports = run_attempts(request, clones, &trajectory).await?;
    reports.sort_by_key(|(n, _)| *n);
    if let Some(index) = reports
        .iter()
        .position(|(_, r)| r.outcome.exit_reason == ExitReason::Interrupted)
    {
        // Stopped by the user: no selection, nothing applied; the trajectories are kept.
        request.printer.warn(
            "interrupted: no attempt was chosen and your checkout is unchanged; the attempts' trajectories are listed above",
        );
        let mut report = reports.swap_remove(index).1;
        report.diff = String::new();
        report.baseline = request.workspace.snapshot()?;
        report.final_tree = report.baseline;
        report.trajectory_path = trajectory;
        return Ok(report);
    }
    let attempts: Vec<Attempt> = reports
        .iter()
        .map(|(number, report)| Attempt {
            number: *number,
            diff: report.diff.clone(),
            exit_reason: report.outcome.exit_reason.as_str().to_string(),
            reproduction: report.outcome.reproduction.clone(),
            trajectory: Some(report.trajectory_path.clone()),
        })
        .collect();
    request
        .printer
        .status("selection: checking every candidate in a fresh sandbox");
    let selection = choose(request, clones, &attempts).await?;
    for line in selection.summary_lines() {
        request.printer.status(&line);
    }
    let totals = Totals::of(&reports, &selection, request.config);
    request
        .printer
        .status(&totals.line(reports.len(), &selection));
    let report = adopt(request, reports, &selection, &trajectory).await?;
    record(request, &trajectory, &selection, &report, &totals)?;
    Ok(report)
}

/// What all the attempts and the judge used together.
struct Totals {
    usage: Usage,
    /// Unknown when the price of any part is.
    cost_usd: Option<f64>,
}

impl Totals {
    fn of(reports: &[(usize, FixReport)], selection: &Selection, config: &Config) -> Self {
        let mut usage = selection.usage;
        let mut cost = config.price().map(|p| p.cost_of(selection.usage));
        for (_, report) in reports {
            usage += report.outcome.usage;
            cost = cost.zip(report.outcome.cost_usd).map(|(a, b)| a + b);
        }
        Self {
            usage,
            cost_usd: cost,
        }
    }

    fn line(&self, attempts: usize, selection: &Selection) -> String {
        let judge = match &selection.judge {
            Some(_) => format!(
                " (the judge: {} prompt + {} completion tokens)",
                selection.usage.prompt_tokens, selection.usage.completion_tokens
            ),
            None => " (the judge was not asked)".into(),
        };
        format!(
            "all {attempts} attempts and the judge: {} prompt + {} completion tokens, cost {}{judge}",
            self.usage.prompt_tokens,
            self.usage.completion_tokens,
            self.cost_usd
                .map_or("unknown".into(), |c| format!("${c:.4}"))
        )
    }
}

/// The attempts, `workers` at a time, each reported on one line as it ends; one interrupt flag
/// stops them all.
async fn run_attempts(
    request: &SamplesRequest<'_>,
    clones: &Clones,
    trajectory: &Path,
) -> Result<Vec<(usize, FixReport)>> {
    let quiet = Printer::quiet();
    let interrupt = crate::run::interrupt_flag(*request.printer);
    let results: Vec<Result<(usize, FixReport)>> =
        futures_util::stream::iter(1..=request.options.samples)
            .map(|number| {
                let (quiet, interrupt) = (&quiet, interrupt.clone());
                async move {
                    let report =
                        run_attempt(request, clones, trajectory, number, quiet, interrupt).await?;
                    request.printer.status(&format!(
                        "attempt {number}: {}, {} steps, {} changed lines; trajectory {}",
                        report.outcome.exit_reason.as_str(),
                        report.outcome.steps,
                        select::diffs::changed_lines(&report.diff),
                        report.trajectory_path.display()
                    ));
                    Ok((number, report))
                }
            })
            .buffer_unordered(request.options.workers.max(1))
            .collect()
            .await;
    let mut reports = Vec::new();
    let mut first_error = None;
    for result in results {
        match result {
            Ok(report) => reports.push(report),
            Err(e) => {
                request
                    .printer
                    .warn(&format!("an attempt could not run: {e}"));
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    if reports.is_empty() {
        return Err(SamplesError::NoAttempt(
            request.options.samples,
            first_error.unwrap_or_default(),
        ));
    }
    Ok(reports)
}

/// One attempt: a clone of its own, one run there (its own sandbox, no progress line).
async fn run_attempt(
    request: &SamplesRequest<'_>,
    clones: &Clones,
    trajectory: &Path,
    number: usize,
    quiet: &Printer,
    interrupt: Interrupt,
) -> Result<FixReport> {
    let root = clones.clone_at(&format!("attempt-{number}")).await?;
    let workspace = Workspace::open(&root)?;
    Ok(crate::run::run(RunRequest {
        trajectory: Some(attempt_trajectory(trajectory, number)),
        interrupt: Some(interrupt),
        progress: false,
        ..RunRequest::new(
            &workspace,
            request.config,
            quiet,
            request.options.task.clone(),
        )
    })
    .await?)
}

/// `fix.jsonl` → `fix.attempt-2.jsonl`.
pub fn attempt_trajectory(trajectory: &Path, number: usize) -> PathBuf {
    let stem = trajectory
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "trajectory".into());
    let ext = trajectory
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    trajectory.with_file_name(format!("{stem}.attempt-{number}{ext}"))
}

async fn choose(
    request: &SamplesRequest<'_>,
    clones: &Clones,
    attempts: &[Attempt],
) -> Result<Selection> {
    let mut registry = agent_tools::builtin::default_registry();
    if let Some(command) = &request.config.test_command {
        registry.register(agent_tools::testing::RunTests::with_command(
            command.clone(),
        ));
    }
    let model = super::model_client(request.config)?;
    let prompts = Prompts::load(request.config.prompts_dir.as_deref())?;
    let shape = crate::run::run_shape(request.config).await;
    Ok(select::select(select::SelectRequest {
        task: &request.options.task,
        attempts,
        environment: clones,
        registry: &registry,
        model: &model,
        prompts: &prompts,
        context_window: shape.context_window,
        workers: request.options.workers,
    })
    .await)
}

/// The chosen attempt's report, its diff applied to the user's checkout (when none was chosen,
/// the first attempt's, and the checkout stays as it was).
async fn adopt(
    request: &SamplesRequest<'_>,
    mut reports: Vec<(usize, FixReport)>,
    selection: &Selection,
    trajectory: &Path,
) -> Result<FixReport> {
    let workspace = request.workspace;
    let baseline = workspace.snapshot()?;
    let index = reports
        .iter()
        .position(|(n, _)| Some(*n) == selection.chosen)
        .unwrap_or(0);
    let mut report = reports.swap_remove(index).1;
    if selection.chosen.is_some() {
        select::diffs::apply(workspace.root(), selection.chosen_diff())
            .await
            .map_err(|message| SamplesError::Apply {
                path: workspace.root().to_path_buf(),
                message,
            })?;
    }
    report.baseline = baseline;
    report.final_tree = workspace.snapshot()?;
    report.diff = workspace.diff(report.baseline, report.final_tree)?;
    report.trajectory_path = trajectory.to_path_buf();
    report.selection = Some(selection.clone());
    Ok(report)
}

/// The run's own trajectory: what was attempted, the selection, and the diff it chose.
fn record(
    request: &SamplesRequest<'_>,
    path: &Path,
    selection: &Selection,
    report: &FixReport,
    totals: &Totals,
) -> Result<()> {
    let config = request.config;
    let mut writer = TrajectoryWriter::create(path, super::redactor(config))?;
    writer.write(&Event::Start {
        format_version: trajectory::FORMAT_VERSION,
        model: config.model.clone(),
        base_url: config.base_url.clone(),
        repo: request.workspace.root().display().to_string(),
        task: request.options.task.clone(),
        tool_mode: format!("{:?}", config.tool_mode).to_lowercase(),
        executor: format!("{} attempts", request.options.samples),
        tools: Vec::new(),
        unix_time: trajectory::unix_time(),
    })?;
    writer.write(&Event::Selection {
        chosen: selection.chosen,
        decided_by: selection.decided_by.clone(),
        reasons: selection.reasons.clone(),
        record: serde_json::to_value(selection).unwrap_or_default(),
    })?;
    let outcome = &report.outcome;
    writer.write(&Event::End {
        exit_reason: outcome.exit_reason.as_str().to_string(),
        detail: outcome.detail.clone(),
        summary: outcome.summary.clone(),
        plan: outcome.plan.clone(),
        steps: outcome.steps,
        // The whole run's: every attempt and the judge.
        usage: totals.usage,
        cost_usd: totals.cost_usd,
        duration_ms: selection.duration_ms,
        diff: report.diff.clone(),
    })?;
    writer.sync()?;
    Ok(())
}

fn head_commit(workspace: &Workspace) -> Result<String> {
    let head = workspace
        .repository()
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(|e| SamplesError::NoCommit {
            path: workspace.root().to_path_buf(),
            message: e.message().to_string(),
        })?;
    Ok(head.id().to_string())
}

/// Clean clones of the user's repository at its HEAD, under `.agent/attempts/<run>/`: one per
/// attempt, and one per candidate for the selection. A clone (objects hard-linked, not a
/// `git worktree`) has its own `.git` directory, so git works inside the sandbox too.
struct Clones {
    source: PathBuf,
    head: String,
    base: PathBuf,
    /// The run's config with the network off, for the selection's sandboxes.
    config: Config,
}

impl Clones {
    async fn clone_at(&self, label: &str) -> Result<PathBuf, SelectError> {
        let dest = self.base.join(label);
        let fail = |message: String| SelectError::Checkout {
            label: label.to_string(),
            message,
        };
        let source = self.source.display().to_string();
        let target = dest.display().to_string();
        git(
            &self.base,
            &["clone", "-q", "--local", "--no-checkout", &source, &target],
        )
        .await
        .map_err(fail)?;
        git(&dest, &["checkout", "-q", "--detach", &self.head])
            .await
            .map_err(fail)?;
        Ok(dest)
    }
}

async fn git(cwd: &Path, args: &[&str]) -> Result<(), String> {
    let output = tokio::process::Command::new("git")
        .args(args)
        .current_dir(cwd)
        .output()
        .await
        .map_err(|e| format!("cannot run git: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "git {} failed: {}",
            args.first().copied().unwrap_or(""),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

#[async_trait]
impl Environment for Clones {
    async fn checkout(&self, label: &str) -> Result<PathBuf, SelectError> {
        self.clone_at(label).await
    }

    async fn sandbox(&self, root: &Path) -> Result<select::Sandbox, SelectError> {
        let runner = super::start_runner(&self.config, root, &Printer::quiet())
            .await
            .map_err(|e| SelectError::Sandbox {
                label: root.display().to_string(),
                message: e.to_string(),
            })?;
        Ok(select::Sandbox {
            executor: Arc::clone(&runner.executor),
            container: runner.sandbox.clone(),
        })
    }

    async fn discard(&self, root: &Path) {
        if root.starts_with(&self.base) {
            let _ = tokio::fs::remove_dir_all(root).await;
        }
    }
}
