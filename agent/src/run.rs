//! The Run API: one agent run, assembled and driven from one [`RunRequest`].
//!
//! A run checks the workspace, starts where the model's commands run (unless the caller brings
//! a [`Runner`]), assembles the model client, the tools, the prompts, the budgets, the
//! trajectory and the redactor, drives the session, and assembles the [`RunReport`] in memory
//! from the session's outcome, the [`ReportCollector`](crate::events::ReportCollector) and the
//! final diff. `agent fix`, the GitHub flow and `bench run` all come through here; nothing else
//! assembles a session.
//!
//! Several runs may go side by side (`--samples`): give each its own workspace (a worktree),
//! trajectory path and sandbox, one shared [`Interrupt`], and `progress: false`.

pub mod interrupt;
mod probe;
pub mod runner;
pub mod shape;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use git2::Oid;

use agent_tools::testing::TestRun;
use agent_tools::{PathJail, ToolContext, ToolRegistry};

use crate::config::{Config, ToolMode};
use crate::events::{EventBus, RunEvent};
use crate::fix::{overview, test_integrity};
use crate::model::{ModelClient, ModelError, OpenAiCompatible};
use crate::printer::Printer;
use crate::progress::ProgressLine;
use crate::prompts::{PromptError, Prompts};
use crate::redact::{Finding, Redactor};
use crate::session::{
    CallRecord, EditGuard, Session, SessionError, SessionOutcome, SessionSettings, Task,
};
use crate::trajectory::{self, TrajectoryError, TrajectoryWriter};
use crate::workspace::{Workspace, WorkspaceError};

pub use interrupt::{Interrupt, interrupt_flag};
use probe::{Probe, TestProtector};
pub use runner::{LOCAL_SANDBOX_WARNING, READ_ONLY_IN_SANDBOX, Runner, protected, start_runner};
pub use shape::{COMPACT_TOOLS, COMPACT_WINDOW_TOKENS, RunShape, model_client, run_shape};

/// Everything one run needs.
pub struct RunRequest<'a> {
    /// The repository (or worktree) the run changes.
    pub workspace: &'a Workspace,
    pub config: &'a Config,
    pub printer: &'a Printer,
    /// The issue text.
    pub task: String,
    /// Where the trajectory goes; `None` = `.agent/trajectories/` in the repository.
    pub trajectory: Option<PathBuf>,
    /// Run on a repository with uncommitted changes (only the agent's changes are reported).
    pub allow_dirty: bool,
    /// Where the model's commands run. `None`: started as the config says and removed at the
    /// end. `Some`: the caller's, which the caller stops.
    pub runner: Option<&'a Runner>,
    /// The interrupt flag. `None`: this run installs its own Ctrl-C/SIGTERM handler.
    pub interrupt: Option<Interrupt>,
    /// Draw the live progress line on the terminal (not for runs side by side).
    pub progress: bool,
}

impl<'a> RunRequest<'a> {
    /// A run of `task` in `workspace` as the config says: clean tree required, its own sandbox,
    /// its own interrupt handler, the progress line unless the printer is quiet.
    pub fn new(
        workspace: &'a Workspace,
        config: &'a Config,
        printer: &'a Printer,
        task: String,
    ) -> Self {
        Self {
            workspace,
            config,
            printer,
            task,
            trajectory: None,
            allow_dirty: false,
            runner: None,
            interrupt: None,
            progress: !printer.is_quiet(),
        }
    }
}

/// What a run produced, assembled in memory (the trajectory is never read back).
#[derive(Debug, Clone)]
pub struct RunReport {
    pub outcome: SessionOutcome,
    pub diff: String,
    pub baseline: Oid,
    pub final_tree: Oid,
    /// The files the run changed (from the final diff): the one list of changed files.
    pub changed_files: Vec<String>,
    pub trajectory_path: PathBuf,
    /// Test files that existed before the run and that it changed (or tried to, when protected).
    pub edited_tests: BTreeSet<String>,
    /// Every test run, in order.
    pub test_runs: Vec<TestRun>,
    /// Every tool call, in order (arguments redacted).
    pub tool_calls: Vec<CallRecord>,
    pub model: String,
    /// Secrets found on the diff's added lines: `--commit` and `--pr` refuse such a diff.
    pub secret_findings: Vec<Finding>,
    /// Git files (`.git/...`) the model's commands changed and that were put back.
    pub git_reverted: Vec<String>,
    /// With `--samples`: how this attempt was chosen among the others.
    pub selection: Option<crate::select::Selection>,
}

impl RunReport {
    /// The refusal to commit or push a diff that holds secrets, naming where they are.
    pub fn secret_refusal(&self) -> Option<String> {
        (!self.secret_findings.is_empty()).then(|| {
            let places: Vec<String> = self.secret_findings.iter().map(|f| f.to_string()).collect();
            format!(
                "the change holds what looks like a secret at {}; it was not committed or pushed. Remove it from the change (the printed diff shows it as [REDACTED]) and commit by hand if it is a deliberate fake",
                places.join(", ")
            )
        })
    }
}

/// Why a run could not be made or finished (as opposed to a run that ended without a fix,
/// which is a [`RunReport`] with its exit reason).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Prompt(#[from] PromptError),
    #[error(transparent)]
    Trajectory(#[from] TrajectoryError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("cannot resolve {path}: {source}")]
    Jail {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} (use --sandbox local to run without Docker): {source}")]
    Sandbox {
        what: &'static str,
        source: agent_containers::ContainerError,
    },
    #[error("{what} {path}: {message}")]
    Git {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Runs the agent once, as `request` says, and returns its report. The trajectory is written
/// as the run goes; a sandbox this run started is removed at the end, whatever happened.
pub async fn run(request: RunRequest<'_>) -> Result<RunReport, RunError> {
    if !request.allow_dirty {
        request.workspace.ensure_clean()?;
    }
    if let Some(runner) = request.runner {
        return drive(&request, runner).await;
    }
    let runner = start_runner(request.config, request.workspace.root(), request.printer).await?;
    let result = drive(&request, &runner).await;
    runner.stop(request.printer).await;
    result
}

/// The secret values a run redacts: every credential variable's value and the API key.
pub fn secrets(config: &Config) -> Vec<String> {
    let mut out = crate::secrets::secret_values();
    out.extend(config.api_key.clone());
    out
}

/// The redactor for a run: the user's secret values and the well-known token formats.
pub fn redactor(config: &Config) -> Arc<Redactor> {
    Arc::new(Redactor::new(secrets(config)))
}

/// Where a run's trajectory goes by default: `.agent/trajectories/<time>-<pid>-<slug>.jsonl`.
pub fn default_trajectory_path(repo_root: &Path, task: &str) -> PathBuf {
    let slug: String = task
        .split_whitespace()
        .take(6)
        .collect::<Vec<_>>()
        .join("-")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(40)
        .collect::<String>()
        .to_ascii_lowercase();
    let slug = if slug.is_empty() {
        "task".to_string()
    } else {
        slug
    };
    repo_root
        .join(".agent")
        .join("trajectories")
        // Milliseconds and the pid keep two runs in the same second from sharing a file.
        .join(format!(
            "{}-{}-{slug}.jsonl",
            trajectory::unix_millis(),
            std::process::id()
        ))
}

/// The parts of a run, assembled.
struct Assembled {
    model: OpenAiCompatible,
    prompts: Prompts,
    shape: RunShape,
    registry: ToolRegistry,
    tools: ToolContext,
    baseline: Oid,
    redactor: Arc<Redactor>,
    events: EventBus,
    trajectory_path: PathBuf,
}

async fn drive(request: &RunRequest<'_>, runner: &Runner) -> Result<RunReport, RunError> {
    let progress = request
        .progress
        .then(|| request.printer.progress_line(request.config.max_steps))
        .flatten();
    let result = async {
        let mut run = assemble(request, runner, progress.as_ref()).await?;
        start(request, runner, &mut run)?;
        let (outcome, protector) = session(request, runner, &mut run).await?;
        finish(request, runner, run, outcome, &protector)
    }
    .await;
    if let Some(line) = progress {
        line.finish();
    }
    result
}

/// Model client, prompts, tools, the baseline snapshot and the event bus.
async fn assemble(
    request: &RunRequest<'_>,
    runner: &Runner,
    progress: Option<&ProgressLine>,
) -> Result<Assembled, RunError> {
    let config = request.config;
    let root = request.workspace.root();
    let mut model = model_client(config)?;
    if let Some(line) = progress.filter(|_| config.stream) {
        model = model.with_text_sink(line.text_sink());
    }
    if config.cost_limit.is_some() && config.price().is_none() {
        request.printer.warn(&format!(
            "--cost-limit is set but the price of `{}` is unknown, so cost cannot be tracked; add it under [prices] in the config",
            config.model
        ));
    }
    let shape = run_shape(config).await;
    let jail = PathJail::new(root).map_err(|source| RunError::Jail {
        path: root.to_path_buf(),
        source,
    })?;
    let trajectory_path = request
        .trajectory
        .clone()
        .unwrap_or_else(|| default_trajectory_path(root, &request.task));
    let redactor = redactor(config);
    let mut events = EventBus::new(
        TrajectoryWriter::create(&trajectory_path, redactor.clone())?,
        redactor.clone(),
    );
    if let Some(line) = progress {
        events.add_sink(Box::new(line.clone()));
    }
    Ok(Assembled {
        model,
        prompts: Prompts::load(config.prompts_dir.as_deref())?,
        shape,
        registry: shape::registry(config, shape),
        tools: ToolContext::new(jail, runner.executor.clone()),
        baseline: request.workspace.snapshot()?,
        redactor,
        events,
        trajectory_path,
    })
}

/// Records the run's start and says on the terminal what runs where.
fn start(request: &RunRequest<'_>, runner: &Runner, run: &mut Assembled) -> Result<(), RunError> {
    let config = request.config;
    let root = request.workspace.root();
    run.events.publish(RunEvent::Start {
        format_version: trajectory::FORMAT_VERSION,
        model: config.model.clone(),
        base_url: config.base_url.clone(),
        repo: root.display().to_string(),
        task: request.task.clone(),
        tool_mode: format!("{:?}", config.tool_mode).to_lowercase(),
        executor: runner.executor.describe(),
        tools: run.registry.openai_definitions(),
        unix_time: trajectory::unix_time(),
    })?;
    request.printer.status(&format!(
        "agent: {} on {} with {} ({}; {} profile, context window {})",
        crate::fix::short(&request.task),
        root.display(),
        run.model.model_name(),
        runner.executor.describe(),
        if run.shape.compact { "compact" } else { "full" },
        run.shape
            .context_window
            .map(|n| format!("{n} tokens"))
            .unwrap_or_else(|| "unknown".into())
    ));
    Ok(())
}

/// The task as the session sees it: the issue, where it runs, and a short map of the files.
fn task(request: &RunRequest<'_>, compact: bool) -> Task {
    let overview_chars = if compact { 1_200 } else { 4_000 };
    let (overview, overview_truncated) = match overview::overview(request.workspace, overview_chars)
    {
        Some((text, cut)) => (Some(text), cut),
        None => (None, false),
    };
    Task {
        text: request.task.clone(),
        repo_root: request.workspace.root().display().to_string(),
        head: request.workspace.head_description(),
        overview,
        overview_truncated,
    }
}

/// The session's settings, from the config and the run's shape.
fn settings(config: &Config, runner: &Runner, shape: RunShape) -> SessionSettings {
    SessionSettings {
        max_steps: config.max_steps,
        cost_limit: config.cost_limit,
        time_limit: config.time_limit,
        tool_mode: config.tool_mode,
        price: config.price(),
        sandboxed: runner.sandbox.is_some() && !config.network,
        system_prompt: if shape.compact {
            "system_compact.md"
        } else {
            "system.md"
        },
        context_window: shape.context_window.map(|n| n as usize),
        require_reproduction: config.require_reproduction,
        review: config.review,
        require_tool: config.tool_mode == ToolMode::Native,
        short_tool_descriptions: shape.compact,
        ..SessionSettings::default()
    }
}

/// Drives the session to its end.
async fn session(
    request: &RunRequest<'_>,
    runner: &Runner,
    run: &mut Assembled,
) -> Result<(SessionOutcome, TestProtector), RunError> {
    let root = request.workspace.root().to_path_buf();
    let protector = TestProtector {
        root: root.clone(),
        baseline: run.baseline,
        attempted: Default::default(),
    };
    let probe = Probe {
        root: root.clone(),
        baseline: run.baseline,
    };
    let task = task(request, run.shape.compact);
    let session = Session {
        model: &run.model,
        guard: request
            .config
            .protect_tests
            .then_some(&protector as &dyn EditGuard),
        probe: Some(&probe),
        registry: &run.registry,
        tools: &run.tools,
        prompts: &run.prompts,
        events: &mut run.events,
        redactor: &run.redactor,
        settings: settings(request.config, runner, run.shape),
        cancel: request
            .interrupt
            .clone()
            .unwrap_or_else(|| interrupt_flag(*request.printer)),
        instructions: crate::instructions::ProjectInstructions::new(&root),
    };
    let outcome = session.run(&task).await?;
    Ok((outcome, protector))
}

/// The final diff, the end of the trajectory, and the report.
fn finish(
    request: &RunRequest<'_>,
    runner: &Runner,
    mut run: Assembled,
    outcome: SessionOutcome,
    protector: &TestProtector,
) -> Result<RunReport, RunError> {
    let workspace = request.workspace;
    let baseline = run.baseline;
    if request.config.protect_tests {
        // Commands (`sed -i`, scripts) can touch tests without an edit tool: undo those too.
        let changed = workspace.changed_paths(baseline, workspace.snapshot()?)?;
        let touched: Vec<PathBuf> = changed.iter().map(PathBuf::from).collect();
        protector.after_edit(&touched);
    }
    let final_tree = workspace.snapshot()?;
    let diff = workspace.diff(baseline, final_tree)?;
    let changed_files = workspace.changed_paths(baseline, final_tree)?;
    let mut edited_tests =
        test_integrity::edited_existing_tests(changed_files.iter().map(String::as_str), &|p| {
            workspace.file_at(baseline, p).ok().flatten().is_some()
        });
    edited_tests.extend(protector.attempted());
    run.events.publish(RunEvent::End {
        exit_reason: outcome.exit_reason.as_str().to_string(),
        detail: outcome.detail.clone(),
        summary: outcome.summary.clone(),
        plan: outcome.plan.clone(),
        steps: outcome.steps,
        usage: outcome.usage,
        cost_usd: outcome.cost_usd,
        duration_ms: outcome.duration.as_millis() as u64,
        diff: diff.clone(),
    })?;
    run.events.trajectory().sync()?;
    let collected = run.events.into_collector();
    Ok(RunReport {
        // The readable form: a file that is not UTF-8 is a binary patch in `diff`.
        secret_findings: run
            .redactor
            .scan_diff(&workspace.diff_lossy(baseline, final_tree)?),
        git_reverted: runner
            .git_guard
            .as_ref()
            .map(|g| g.reverted())
            .unwrap_or_default(),
        outcome,
        diff,
        baseline,
        final_tree,
        changed_files,
        trajectory_path: run.trajectory_path,
        edited_tests,
        test_runs: collected.test_runs,
        tool_calls: collected.tool_calls,
        model: request.config.model.clone(),
        selection: None,
    })
}
