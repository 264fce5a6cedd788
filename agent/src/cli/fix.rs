//! `agent fix`: one issue, one repository, one reviewed diff.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;

use agent_tools::{LocalExecutor, PathJail, SECRET_ENV_VARS, ToolContext};

use crate::config::{Config, ConfigLayer, ConfigSources, ToolMode, process_env};
use crate::model::openai::EndpointSettings;
use crate::model::{ModelClient, OpenAiCompatible, RetryPolicy};
use crate::printer::Printer;
use crate::prompts::Prompts;
use crate::session::{ExitReason, Session, SessionSettings, Task};
use crate::trajectory::{self, Event, TrajectoryWriter};
use crate::workspace::Workspace;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("issue_source").required(true).args(["issue_file", "issue_text"])))]
pub struct FixArgs {
    /// The repository to work in.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// A file holding the issue text.
    #[arg(long)]
    pub issue_file: Option<PathBuf>,
    /// The issue text itself.
    #[arg(long)]
    pub issue_text: Option<String>,
    /// Write the final diff here instead of stdout.
    #[arg(long)]
    pub output_patch: Option<PathBuf>,
    /// Where to write the trajectory (default: .agent/trajectories/ in the repository).
    #[arg(long)]
    pub trajectory: Option<PathBuf>,
    /// Work even if the repository has uncommitted changes (only the agent's changes are reported).
    #[arg(long)]
    pub allow_dirty: bool,
    /// Commit the result on the current branch.
    #[arg(long)]
    pub commit: bool,
    #[command(flatten)]
    pub run: RunFlags,
}

/// Model and budget flags shared by the commands that run the agent.
#[derive(Debug, Clone, Args)]
pub struct RunFlags {
    /// Model name (env AGENT_MODEL).
    #[arg(long)]
    pub model: Option<String>,
    /// Base URL of an OpenAI-compatible API, e.g. http://127.0.0.1:8080/v1 (env OPENAI_BASE_URL).
    #[arg(long)]
    pub base_url: Option<String>,
    /// How the model calls tools: native function calling, or text action blocks.
    #[arg(long, value_enum)]
    pub tool_mode: Option<ToolMode>,
    /// Most model turns (default 50).
    #[arg(long)]
    pub max_steps: Option<u32>,
    /// Most USD to spend (needs a known price for the model).
    #[arg(long)]
    pub cost_limit: Option<f64>,
    /// Most wall time, e.g. 900, 15m or 1h.
    #[arg(long, value_parser = parse_duration)]
    pub time_limit: Option<Duration>,
    /// Seconds one model request may take.
    #[arg(long)]
    pub request_timeout: Option<u64>,
    /// Retries for 429, 5xx and connection errors.
    #[arg(long)]
    pub max_retries: Option<u32>,
}

impl RunFlags {
    pub fn layer(&self) -> ConfigLayer {
        ConfigLayer {
            model: self.model.clone(),
            base_url: self.base_url.clone(),
            tool_mode: self.tool_mode,
            max_steps: self.max_steps,
            cost_limit: self.cost_limit,
            time_limit_secs: self.time_limit.map(|d| d.as_secs().max(1)),
            request_timeout_secs: self.request_timeout,
            max_retries: self.max_retries,
            ..ConfigLayer::default()
        }
    }
}

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(text.len()),
    );
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; use seconds (900) or 15m / 1h"))?;
    let secs = match unit {
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown unit `{unit}` in `{text}`; use s, m or h")),
    };
    if secs <= 0.0 {
        return Err(format!("`{text}` must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

pub fn read_issue(file: Option<&Path>, text: Option<&str>) -> Result<String> {
    let issue = match (file, text) {
        (Some(path), _) => {
            if !path.exists() {
                bail!(
                    "issue file {} does not exist; pass an existing file to --issue-file",
                    path.display()
                );
            }
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read issue file {}", path.display()))?
        }
        (None, Some(t)) => t.to_string(),
        (None, None) => bail!("no issue given: pass --issue-file FILE or --issue-text TEXT"),
    };
    if issue.trim().is_empty() {
        match file {
            Some(path) => bail!(
                "issue file {} is empty; write the issue's text in it",
                path.display()
            ),
            None => bail!("--issue-text is empty; give the issue's text"),
        }
    }
    Ok(issue)
}

pub fn load_config(repo_root: &Path, flags: &RunFlags) -> Result<Config> {
    let env = process_env;
    let config = Config::load(ConfigSources {
        user_file: ConfigSources::user_config_path(&env),
        repo_root: Some(repo_root),
        env: &env,
        flags: flags.layer(),
    })?;
    Ok(config)
}

pub fn model_client(config: &Config) -> Result<OpenAiCompatible> {
    Ok(OpenAiCompatible::new(EndpointSettings {
        base_url: config.base_url.clone(),
        api_key: config.api_key.clone(),
        model: config.model.clone(),
        temperature: config.temperature,
        max_tokens: config.max_tokens,
        request_timeout: config.request_timeout,
        retry: RetryPolicy {
            max_retries: config.max_retries,
            ..RetryPolicy::default()
        },
    })?)
}

/// Values that must never reach a trajectory or log.
pub fn secrets(config: &Config) -> Vec<String> {
    let mut out: Vec<String> = SECRET_ENV_VARS
        .iter()
        .filter_map(|n| process_env(n))
        .collect();
    out.extend(config.api_key.clone());
    out
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
    repo_root.join(".agent").join("trajectories").join(format!(
        "{}-{}.jsonl",
        trajectory::unix_time(),
        if slug.is_empty() { "task".into() } else { slug }
    ))
}

/// Sets the returned flag when the user presses Ctrl-C, so the session can stop cleanly.
pub fn interrupt_flag(printer: Printer) -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            printer
                .warn("interrupted: stopping after the current step and keeping the diff so far");
            let _ = tx.send(true);
        }
    });
    rx
}

pub async fn run(args: FixArgs, printer: &Printer) -> Result<ExitCode> {
    let workspace = Workspace::open(&args.repo)?;
    let root = workspace.root().to_path_buf();
    let issue = read_issue(args.issue_file.as_deref(), args.issue_text.as_deref())?;
    if !args.allow_dirty {
        workspace.ensure_clean()?;
    }
    let config = load_config(&root, &args.run)?;
    let model = model_client(&config)?;
    if config.cost_limit.is_some() && config.price().is_none() {
        printer.warn(&format!(
            "--cost-limit is set but the price of `{}` is unknown, so cost cannot be tracked; add it under [prices] in the config",
            config.model
        ));
    }
    let prompts = Prompts::load(config.prompts_dir.as_deref())?;
    let registry = agent_tools::builtin::default_registry();
    let jail =
        PathJail::new(&root).with_context(|| format!("cannot resolve {}", root.display()))?;
    printer.warn("running commands on the host without a sandbox (--sandbox local)");
    let executor = Arc::new(LocalExecutor::new(&root));
    let tools = ToolContext::new(jail, executor.clone());

    let trajectory_path = args
        .trajectory
        .clone()
        .unwrap_or_else(|| default_trajectory_path(&root, &issue));
    let mut trajectory = TrajectoryWriter::create(&trajectory_path, secrets(&config))?;
    trajectory.write(Event::Start {
        format_version: trajectory::FORMAT_VERSION,
        model: config.model.clone(),
        base_url: config.base_url.clone(),
        repo: root.display().to_string(),
        task: issue.clone(),
        tool_mode: format!("{:?}", config.tool_mode).to_lowercase(),
        executor: agent_tools::Executor::describe(executor.as_ref()),
        tools: registry.openai_definitions(),
        unix_time: trajectory::unix_time(),
    })?;

    let baseline = workspace.snapshot()?;
    printer.status(&format!(
        "agent: {} on {} with {}",
        short(&issue),
        root.display(),
        model.model_name()
    ));
    let task = Task {
        text: issue,
        repo_root: root.display().to_string(),
        head: workspace.head_description(),
    };
    let session = Session {
        model: &model,
        registry: &registry,
        tools: &tools,
        prompts: &prompts,
        trajectory: &mut trajectory,
        settings: SessionSettings {
            max_steps: config.max_steps,
            cost_limit: config.cost_limit,
            time_limit: config.time_limit,
            tool_mode: config.tool_mode,
            price: config.price(),
            sandboxed: false,
            ..SessionSettings::default()
        },
        cancel: interrupt_flag(*printer),
    };
    let outcome = session.run(&task).await?;
    let final_tree = workspace.snapshot()?;
    let diff = workspace.diff(baseline, final_tree)?;
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

    match &args.output_patch {
        Some(path) => std::fs::write(path, &diff)
            .with_context(|| format!("cannot write patch {}", path.display()))?,
        None => printer.result(&diff),
    }
    if args.commit && !diff.is_empty() {
        let message = commit_message(&task.text, outcome.summary.as_deref());
        let oid = workspace.commit(final_tree, &message)?;
        printer.status(&format!("committed {}", &oid.to_string()[..12]));
    }
    let cost = outcome
        .cost_usd
        .map(|c| format!("${c:.4}"))
        .unwrap_or_else(|| "unknown".into());
    printer.status(&format!(
        "{}: {} steps, {} prompt + {} completion tokens, cost {cost}, {:.1}s; trajectory {}",
        outcome.exit_reason.as_str(),
        outcome.steps,
        outcome.usage.prompt_tokens,
        outcome.usage.completion_tokens,
        outcome.duration.as_secs_f64(),
        trajectory_path.display()
    ));
    if diff.is_empty() {
        printer.status("no changes were made");
    }
    Ok(match outcome.exit_reason {
        ExitReason::Submitted => ExitCode::SUCCESS,
        reason if reason.is_failure() => {
            printer.error(outcome.detail.as_deref().unwrap_or(reason.as_str()));
            ExitCode::FAILURE
        }
        _ => {
            if let Some(d) = &outcome.detail {
                printer.warn(&format!("stopped early: {d}; the diff so far was kept"));
            }
            ExitCode::from(3)
        }
    })
}

fn short(text: &str) -> String {
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

fn commit_message(task: &str, summary: Option<&str>) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_reject_nonsense() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("0").is_err());
    }

    #[test]
    fn empty_or_missing_issue_files_are_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.md");
        let err = read_issue(Some(&missing), None).unwrap_err().to_string();
        assert!(
            err.contains("does not exist") && err.contains("--issue-file"),
            "{err}"
        );
        let empty = dir.path().join("empty.md");
        std::fs::write(&empty, "  \n").unwrap();
        let err = read_issue(Some(&empty), None).unwrap_err().to_string();
        assert!(err.contains("is empty"), "{err}");
    }
}
