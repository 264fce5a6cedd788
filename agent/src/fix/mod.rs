//! One `agent fix` run as a library call: workspace checks, sandbox, session, final diff and
//! report. The CLI and the GitHub flow both drive it.

pub mod overview;
pub mod samples;
pub mod test_integrity;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use git2::Oid;
use serde_json::Value;

use agent_containers::{DockerSandbox, SandboxConfig};
use agent_tools::{Executor, LocalExecutor, PathJail, ToolContext};

use crate::config::{Config, Profile, SandboxKind, ToolMode};
use crate::git_guard::{GitGuardedExecutor, GitStateGuard};
use crate::model::context_window;
use crate::model::openai::EndpointSettings;
use crate::model::{ModelClient, OpenAiCompatible, RetryPolicy};
use crate::printer::Printer;
use crate::prompts::Prompts;
use crate::redact::{Finding, Redactor};
use crate::session::{EditGuard, Session, SessionOutcome, SessionSettings, Task, WorkspaceProbe};
use crate::trajectory::{self, Event, TrajectoryWriter};
use crate::workspace::Workspace;

/// What to fix and how.
#[derive(Debug, Clone)]
pub struct FixOptions {
    pub task: String,
    /// Where the trajectory goes; `None` = `.agent/trajectories/` in the repository.
    pub trajectory: Option<PathBuf>,
    pub allow_dirty: bool,
    /// Attempts at the task (`--samples`); more than one goes through [`samples::execute`]: each
    /// attempt in its own clone and sandbox, then one diff chosen.
    pub samples: usize,
    /// Attempts run at the same time.
    pub workers: usize,
}

impl FixOptions {
    /// One attempt at `task` on a clean repository, the trajectory in the default place.
    pub fn new(task: String) -> Self {
        Self {
            task,
            trajectory: None,
            allow_dirty: false,
            samples: 1,
            workers: 1,
        }
    }
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct FixReport {
    pub outcome: SessionOutcome,
    pub diff: String,
    pub baseline: Oid,
    pub final_tree: Oid,
    pub trajectory_path: PathBuf,
    /// Test files that existed before the run and that it changed (or tried to, when protected).
    pub edited_tests: BTreeSet<String>,
    /// The structured results of every `run_tests` call, in order.
    pub test_runs: Vec<Value>,
    pub model: String,
    /// Secrets found on the diff's added lines: `--commit` and `--pr` refuse such a diff.
    pub secret_findings: Vec<Finding>,
    /// Git files (`.git/...`) the model's commands changed and that were put back.
    pub git_reverted: Vec<String>,
    /// With `--samples`: how this attempt was chosen among the others.
    pub selection: Option<crate::select::Selection>,
}

impl FixReport {
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

pub fn model_client(config: &Config) -> Result<OpenAiCompatible> {
    Ok(OpenAiCompatible::new(EndpointSettings {
        base_url: config.base_url.clone(),
        api_key: config.api_key.clone(),
        model: config.model.clone(),
        temperature: config.temperature,
        max_tokens: config.max_tokens,
        request_timeout: config.request_timeout,
        stream: config.stream,
        retry: RetryPolicy {
            max_retries: config.max_retries,
            ..RetryPolicy::default()
        },
    })?)
}

/// Values that must never reach a trajectory or log: every credential variable's value and the
/// API key.
pub fn secrets(config: &Config) -> Vec<String> {
    let mut out = crate::secrets::secret_values();
    out.extend(config.api_key.clone());
    out
}

/// The redactor for a run: the user's secret values and the well-known token formats.
pub fn redactor(config: &Config) -> Arc<Redactor> {
    Arc::new(Redactor::new(secrets(config)))
}

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

/// Seconds between the first Ctrl-C/SIGTERM and a forced exit, should the orderly stop hang
/// (a stuck engine, a command that ignores signals).
const STOP_GRACE_SECS: u64 = 5;

/// Sets the returned flag on Ctrl-C or SIGTERM, so the session stops cleanly: the diff so far and
/// the trajectory's `end` event are still written, and the sandbox is removed. A second signal,
/// or the orderly stop taking longer than [`STOP_GRACE_SECS`], ends the process at once.
pub fn interrupt_flag(printer: Printer) -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        next_stop_signal(&mut term).await;
        printer.warn("interrupted: stopping after the current step and keeping the diff so far");
        let _ = tx.send(true);
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(STOP_GRACE_SECS));
            printer.error("the run did not stop in time after the interrupt; exiting now");
            std::process::exit(130);
        });
        next_stop_signal(&mut term).await;
        printer.error("interrupted again: exiting now");
        std::process::exit(130);
    });
    rx
}

/// Waits for Ctrl-C or SIGTERM (when its handler could be installed).
async fn next_stop_signal(term: &mut Option<tokio::signal::unix::Signal>) {
    match term {
        Some(term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The executor the model's commands run in, and the sandbox to remove afterwards.
pub struct Runner {
    pub executor: Arc<dyn Executor>,
    pub sandbox: Option<Arc<DockerSandbox>>,
    /// With `--sandbox local`: the guard that puts back what commands change in `.git`.
    pub git_guard: Option<Arc<GitGuardedExecutor>>,
}

/// Paths of the workspace that the model's commands may read but never change: git's own data
/// (config and hooks run code for the user; refs are the user's branches) and the run's records.
pub const READ_ONLY_IN_SANDBOX: &[&str] = &[".git", ".agent"];

impl Runner {
    /// Removes the sandbox container, if any; a failure is reported, not fatal.
    pub async fn stop(&self, printer: &Printer) {
        if let Some(sandbox) = &self.sandbox
            && let Err(e) = sandbox.remove().await
        {
            printer.warn(&format!(
                "could not remove the sandbox container {}: {e}; run `agent containers prune`",
                sandbox.name()
            ));
        }
    }
}

pub const LOCAL_SANDBOX_WARNING: &str =
    "--sandbox local: the model's commands run on this machine without isolation";

/// Starts where the model's commands run, as the config says (Docker by default; the warning
/// for `--sandbox local` goes to a printer that is not quiet).
pub async fn start_runner(config: &Config, root: &Path, printer: &Printer) -> Result<Runner> {
    match config.sandbox {
        SandboxKind::Local => {
            if !printer.is_quiet() {
                printer.warn(LOCAL_SANDBOX_WARNING);
            }
            let repo = git2::Repository::open(root)
                .with_context(|| format!("cannot open the repository {}", root.display()))?;
            let guard = GitStateGuard::capture(repo.path(), repo.commondir())
                .with_context(|| format!("cannot read the git state of {}", root.display()))?;
            let guarded = Arc::new(GitGuardedExecutor::new(
                Arc::new(LocalExecutor::new(root)),
                guard,
            ));
            Ok(Runner {
                executor: guarded.clone(),
                sandbox: None,
                git_guard: Some(guarded),
            })
        }
        SandboxKind::Docker => {
            printer.status(&format!(
                "preparing the Python {} sandbox (the image is built on first use; `agent images build` does it ahead)",
                config.python
            ));
            let image = agent_containers::ensure_image(&config.python)
                .await
                .context(
                    "cannot prepare the sandbox image (use --sandbox local to run without Docker)",
                )?;
            let sandbox = DockerSandbox::create(protected(
                root,
                SandboxConfig::new(image.tag.clone())
                    .workspace(root)
                    .network(config.network),
            )?)
            .await
            .context(
                "cannot start the sandbox container (use --sandbox local to run without Docker)",
            )?;
            let sandbox = Arc::new(sandbox);
            Ok(Runner {
                executor: sandbox.clone(),
                sandbox: Some(sandbox),
                git_guard: None,
            })
        }
    }
}

/// Adds the read-only mounts of [`READ_ONLY_IN_SANDBOX`] to a sandbox over `root` (creating
/// `.agent/`, so the records under it are protected from the first command on).
pub fn protected(root: &Path, mut config: SandboxConfig) -> Result<SandboxConfig> {
    std::fs::create_dir_all(root.join(".agent"))
        .with_context(|| format!("cannot create {}", root.join(".agent").display()))?;
    for path in READ_ONLY_IN_SANDBOX {
        config = config.read_only(*path);
    }
    Ok(config)
}

/// The tools of the compact profile: enough to find, reproduce, fix and submit.
pub const COMPACT_TOOLS: &[&str] = &[
    "view_file",
    "grep",
    "str_replace",
    "create_file",
    "run",
    "run_tests",
    "submit",
];
/// Windows up to this many tokens get the compact profile under `--profile auto`.
pub const COMPACT_WINDOW_TOKENS: u32 = 32_768;

/// How a run is shaped for its model: the profile in effect and the context window.
#[derive(Debug, Clone, Copy)]
pub struct RunShape {
    pub compact: bool,
    pub context_window: Option<u32>,
}

/// The context window (config, else the server, else the table) and the profile it implies.
pub async fn run_shape(config: &Config) -> RunShape {
    let context_window = match config.context_window {
        Some(n) => Some(n),
        None => {
            context_window::from_server(&config.base_url, config.api_key.as_deref(), &config.model)
                .await
                .or_else(|| context_window::from_table(&config.model))
        }
    };
    let compact = match config.profile {
        Profile::Compact => true,
        Profile::Full => false,
        Profile::Auto => context_window.is_some_and(|n| n <= COMPACT_WINDOW_TOKENS),
    };
    RunShape {
        compact,
        context_window,
    }
}

/// The session's view of the workspace: the diff so far, and which paths are existing tests.
struct Probe {
    root: PathBuf,
    baseline: Oid,
}

impl WorkspaceProbe for Probe {
    fn diff(&self) -> String {
        let Ok(workspace) = Workspace::open(&self.root) else {
            return String::new();
        };
        workspace
            .snapshot()
            .and_then(|tree| workspace.diff(self.baseline, tree))
            .unwrap_or_default()
    }

    fn is_existing_test(&self, path: &str) -> bool {
        test_integrity::is_test_path(Path::new(path))
            && Workspace::open(&self.root)
                .ok()
                .and_then(|w| w.file_at(self.baseline, path).ok().flatten())
                .is_some()
    }
}

/// Reverts edits to pre-existing test files as they happen (`--protect-tests`).
struct TestProtector {
    root: PathBuf,
    baseline: Oid,
    attempted: std::sync::Mutex<BTreeSet<String>>,
}

impl EditGuard for TestProtector {
    fn after_edit(&self, changed: &[PathBuf]) -> Option<String> {
        let Ok(workspace) = Workspace::open(&self.root) else {
            return None;
        };
        let mut reverted = Vec::new();
        for path in changed {
            let rel = path.display().to_string();
            if !test_integrity::is_test_path(path) {
                continue;
            }
            let Ok(Some(original)) = workspace.file_at(self.baseline, &rel) else {
                continue;
            };
            if std::fs::write(self.root.join(path), original).is_ok() {
                reverted.push(rel.clone());
                if let Ok(mut a) = self.attempted.lock() {
                    a.insert(rel);
                }
            }
        }
        (!reverted.is_empty()).then(|| {
            format!(
                "Refused: existing test files are protected in this run (--protect-tests), so your change to {} was reverted. Fix the code under test instead; you may add new test files.",
                reverted.join(", ")
            )
        })
    }
}

/// Runs the agent on `workspace` in a sandbox chosen by the config, and returns its report.
/// Writes the trajectory as it goes; the sandbox is removed at the end.
pub async fn execute(
    workspace: &Workspace,
    config: &Config,
    options: &FixOptions,
    printer: &Printer,
) -> Result<FixReport> {
    if options.samples > 1 {
        return samples::execute(samples::SamplesRequest {
            workspace,
            config,
            options,
            printer,
        })
        .await;
    }
    if !options.allow_dirty {
        workspace.ensure_clean()?;
    }
    let runner = start_runner(config, workspace.root(), printer).await?;
    let result = execute_with(workspace, config, options, printer, &runner).await;
    runner.stop(printer).await;
    result
}

/// Runs the agent with a runner the caller made (and will stop), e.g. a bench instance's
/// sandbox on the instance's environment image.
pub async fn execute_with(
    workspace: &Workspace,
    config: &Config,
    options: &FixOptions,
    printer: &Printer,
    runner: &Runner,
) -> Result<FixReport> {
    let root = workspace.root().to_path_buf();
    let progress =
        (!printer.is_quiet()).then(|| crate::progress::ProgressLine::new(config.max_steps));
    let mut model = model_client(config)?;
    if let Some(line) = progress.as_ref().filter(|_| config.stream) {
        model = model.with_text_sink(line.text_sink());
    }
    if config.cost_limit.is_some() && config.price().is_none() {
        printer.warn(&format!(
            "--cost-limit is set but the price of `{}` is unknown, so cost cannot be tracked; add it under [prices] in the config",
            config.model
        ));
    }
    let prompts = Prompts::load(config.prompts_dir.as_deref())?;
    let shape = run_shape(config).await;
    let mut registry = agent_tools::builtin::default_registry();
    registry.register(agent_tools::clarify::AskClarification);
    if let Some(command) = &config.test_command {
        registry.register(agent_tools::testing::RunTests::with_command(
            command.clone(),
        ));
    }
    if shape.compact {
        registry.retain(COMPACT_TOOLS);
    }
    let jail =
        PathJail::new(&root).with_context(|| format!("cannot resolve {}", root.display()))?;
    let baseline = workspace.snapshot()?;
    let tools = ToolContext::new(jail, runner.executor.clone());
    let trajectory_path = options
        .trajectory
        .clone()
        .unwrap_or_else(|| default_trajectory_path(&root, &options.task));
    let result = run_session(
        workspace,
        config,
        options,
        printer,
        &model,
        &prompts,
        &registry,
        &tools,
        baseline,
        &trajectory_path,
        runner,
        progress.clone(),
        shape,
    )
    .await;
    if let Some(line) = progress {
        line.finish();
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn run_session(
    workspace: &Workspace,
    config: &Config,
    options: &FixOptions,
    printer: &Printer,
    model: &OpenAiCompatible,
    prompts: &Prompts,
    registry: &agent_tools::ToolRegistry,
    tools: &ToolContext,
    baseline: Oid,
    trajectory_path: &Path,
    runner: &Runner,
    progress: Option<crate::progress::ProgressLine>,
    shape: RunShape,
) -> Result<FixReport> {
    let root = workspace.root().to_path_buf();
    let redactor = redactor(config);
    let mut trajectory = TrajectoryWriter::create(trajectory_path, redactor.clone())?;
    if let Some(line) = progress {
        trajectory.observe(Box::new(move |event| line.on_event(event)));
    }
    trajectory.write(Event::Start {
        format_version: trajectory::FORMAT_VERSION,
        model: config.model.clone(),
        base_url: config.base_url.clone(),
        repo: root.display().to_string(),
        task: options.task.clone(),
        tool_mode: format!("{:?}", config.tool_mode).to_lowercase(),
        executor: runner.executor.describe(),
        tools: registry.openai_definitions(),
        unix_time: trajectory::unix_time(),
    })?;
    printer.status(&format!(
        "agent: {} on {} with {} ({}; {} profile, context window {})",
        short(&options.task),
        root.display(),
        model.model_name(),
        runner.executor.describe(),
        if shape.compact { "compact" } else { "full" },
        shape
            .context_window
            .map(|n| format!("{n} tokens"))
            .unwrap_or_else(|| "unknown".into())
    ));
    let protector = TestProtector {
        root: root.clone(),
        baseline,
        attempted: Default::default(),
    };
    let overview_chars = if shape.compact { 1_200 } else { 4_000 };
    let (overview, overview_truncated) = match overview::overview(workspace, overview_chars) {
        Some((text, cut)) => (Some(text), cut),
        None => (None, false),
    };
    let task = Task {
        text: options.task.clone(),
        repo_root: root.display().to_string(),
        head: workspace.head_description(),
        overview,
        overview_truncated,
    };
    let probe = Probe {
        root: root.clone(),
        baseline,
    };
    let session = Session {
        model,
        guard: config.protect_tests.then_some(&protector as &dyn EditGuard),
        probe: Some(&probe),
        registry,
        tools,
        prompts,
        trajectory: &mut trajectory,
        redactor: &redactor,
        settings: SessionSettings {
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
        },
        cancel: interrupt_flag(*printer),
        instructions: crate::instructions::ProjectInstructions::new(&root),
    };
    let outcome = session.run(&task).await?;
    if config.protect_tests {
        // Commands (`sed -i`, scripts) can touch tests without an edit tool: undo those too.
        let changed = workspace.changed_paths(baseline, workspace.snapshot()?)?;
        let touched: Vec<PathBuf> = changed.iter().map(PathBuf::from).collect();
        protector.after_edit(&touched);
    }
    let final_tree = workspace.snapshot()?;
    let diff = workspace.diff(baseline, final_tree)?;
    let changed = workspace.changed_paths(baseline, final_tree)?;
    let mut edited_tests =
        test_integrity::edited_existing_tests(changed.iter().map(String::as_str), &|p| {
            workspace.file_at(baseline, p).ok().flatten().is_some()
        });
    if let Ok(attempted) = protector.attempted.lock() {
        edited_tests.extend(attempted.iter().cloned());
    }
    trajectory.write(Event::End {
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
    trajectory.sync()?;
    let secret_findings = redactor.scan_diff(&diff);
    let git_reverted = runner
        .git_guard
        .as_ref()
        .map(|g| g.reverted())
        .unwrap_or_default();
    Ok(FixReport {
        test_runs: outcome.test_runs.clone(),
        outcome,
        diff,
        baseline,
        final_tree,
        trajectory_path: trajectory_path.to_path_buf(),
        edited_tests,
        model: config.model.clone(),
        secret_findings,
        git_reverted,
        selection: None,
    })
}

pub fn short(text: &str) -> String {
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let mut s: String = first.chars().take(60).collect();
    if first.chars().count() > 60 {
        s.push('…');
    }
    format!("\"{s}\"")
}

pub fn commit_message(task: &str, summary: Option<&str>) -> String {
    let title = task
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("agent change")
        .trim();
    let title: String = title
        .trim_start_matches('#')
        .trim()
        .chars()
        .take(68)
        .collect();
    match summary {
        Some(s) if !s.trim().is_empty() => format!("Fix: {title}\n\n{}\n", s.trim()),
        _ => format!("Fix: {title}\n"),
    }
}
