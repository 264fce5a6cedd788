//! `agent fix`: one issue, one repository, one reviewed diff.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::github::GitHubFlags;
use crate::config::{
    Config, ConfigLayer, ConfigSources, Profile, SandboxKind, ToolMode, process_env,
};
use crate::fix::{self, FixOptions, FixReport};
use crate::github::GitHubEnv;
use crate::github::flow::{self as issue_flow, IssueRequest, IssueRun};
use crate::printer::Printer;
use crate::session::ExitReason;
use crate::workspace::Workspace;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("issue_source").required(true).args(["issue_file", "issue_text", "issue"])))]
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
    /// A GitHub issue number: its title, body, labels and comments are the task (repository
    /// from `origin` or --github-repo, token from GITHUB_TOKEN).
    #[arg(long, value_name = "N")]
    pub issue: Option<u64>,
    /// With --issue: publish the fix as a pull request from the branch agent/issue-N-<slug>
    /// (updating the open one if there is one), or comment on the issue why there is none.
    /// The checkout is left as it was.
    #[arg(long, requires = "issue", conflicts_with = "commit")]
    pub pr: bool,
    /// With --pr: the URL to push the branch to (default: origin, over HTTPS).
    #[arg(long, requires = "pr", value_name = "URL")]
    pub push_url: Option<String>,
    /// With --pr: the branch the pull request merges into (default: the current branch).
    #[arg(long, requires = "pr", value_name = "BRANCH")]
    pub base: Option<String>,
    /// With --pr: keep one progress comment on the issue up to date (the Actions bot's).
    #[arg(long, requires = "pr")]
    pub progress_comment: bool,
    #[command(flatten)]
    pub github: GitHubFlags,
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
    /// Make N attempts, each in its own clone and sandbox, and keep the one the tests, a vote
    /// among equivalent diffs and a model judge choose.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub samples: u32,
    /// With --samples: attempts run at the same time (default: all of them).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub workers: Option<u32>,
    #[command(flatten)]
    pub run: RunFlags,
}

impl FixArgs {
    fn options(&self, task: String) -> FixOptions {
        let samples = self.samples as usize;
        FixOptions {
            trajectory: self.trajectory.clone(),
            allow_dirty: self.allow_dirty,
            samples,
            workers: self.workers.map_or(samples, |w| w as usize),
            ..FixOptions::new(task)
        }
    }
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
    /// Where the model's commands run: a Docker container (default) or this machine.
    #[arg(long, value_enum)]
    pub sandbox: Option<SandboxKind>,
    /// Python version of the sandbox image (3.9, 3.11, 3.13).
    #[arg(long)]
    pub python: Option<String>,
    /// Let sandboxed commands reach the network (off by default).
    #[arg(long)]
    pub network: bool,
    /// Refuse edits to test files that existed before the run.
    #[arg(long)]
    pub protect_tests: bool,
    /// The repository's test command for `run_tests` (detected when unset).
    #[arg(long)]
    pub test_command: Option<String>,
    /// Stream the model's replies (Server-Sent Events): text shows as it is generated and a
    /// slow server is only cut off after --request-timeout seconds of silence.
    #[arg(long)]
    pub stream: bool,
    /// Most tokens per model reply (default for local servers: 2048; else the server's).
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Sampling temperature (default for local servers: 0.2; else the server's).
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Prompt and tool set: full, compact (short prompt, few tools) or auto (compact when the
    /// context window is at most 32k tokens).
    #[arg(long, value_enum)]
    pub profile: Option<Profile>,
    /// The model's context window in tokens (default: asked from the server, else a table).
    #[arg(long)]
    pub context_window: Option<u32>,
    /// Send a submit back once when no reproduction (a command that failed before the edit and
    /// passes after it) is on the record.
    #[arg(long)]
    pub require_reproduction: bool,
    /// Skip the review turn that reads the diff when the model submits.
    #[arg(long)]
    pub no_review: bool,
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
            sandbox: self.sandbox,
            python: self.python.clone(),
            network: self.network.then_some(true),
            protect_tests: self.protect_tests.then_some(true),
            test_command: self.test_command.clone(),
            stream: self.stream.then_some(true),
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            profile: self.profile,
            context_window: self.context_window,
            require_reproduction: self.require_reproduction.then_some(true),
            review: self.no_review.then_some(false),
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

pub async fn run(args: FixArgs, printer: &Printer) -> Result<ExitCode> {
    let workspace = Workspace::open(&args.repo)?;
    if let Some(number) = args.issue {
        return run_github_issue(&args, number, &workspace, printer).await;
    }
    let issue = read_issue(args.issue_file.as_deref(), args.issue_text.as_deref())?;
    let config = load_config(workspace.root(), &args.run)?;
    let options = args.options(issue);
    let report = fix::execute(&workspace, &config, &options, printer).await?;
    deliver(&args, &workspace, &report, &options.task, &config, printer)?;
    Ok(exit_code(&report, printer))
}

/// The end of a run for the user: the diff (secrets shown as `[REDACTED]`), the commit with
/// `--commit` (refused when the diff holds a secret), and the summary.
fn deliver(
    args: &FixArgs,
    workspace: &Workspace,
    report: &FixReport,
    task: &str,
    config: &Config,
    printer: &Printer,
) -> Result<()> {
    let shown = if report.secret_findings.is_empty() {
        report.diff.clone()
    } else {
        fix::redactor(config).redact(&report.diff)
    };
    match &args.output_patch {
        Some(path) => std::fs::write(path, &shown)
            .with_context(|| format!("cannot write patch {}", path.display()))?,
        None => printer.diff(&shown),
    }
    print_summary(report, printer);
    if let Some(refusal) = report.secret_refusal() {
        if args.commit {
            bail!("{refusal}");
        }
        printer.warn(&refusal);
    }
    if args.commit && !report.diff.is_empty() {
        let message = fix::commit_message(task, report.outcome.summary.as_deref());
        let oid = workspace.commit(report.final_tree, &message)?;
        printer.status(&format!("committed {}", &oid.to_string()[..12]));
    }
    Ok(())
}

/// `--issue N`: the task comes from GitHub; with `--pr` the result goes back there.
async fn run_github_issue(
    args: &FixArgs,
    number: u64,
    workspace: &Workspace,
    printer: &Printer,
) -> Result<ExitCode> {
    let config = load_config(workspace.root(), &args.run)?;
    let request = IssueRequest {
        number,
        github_repo: args.github.github_repo.clone(),
        api_url: args.github.api_url.clone(),
        pr: args.pr,
        push_url: args.push_url.clone(),
        base: args.base.clone(),
        progress_comment: args.progress_comment,
        max_wait: args.github.max_wait(),
        bot_login: args.github.bot_login.clone(),
        env: GitHubEnv::read(&process_env),
    };
    let options = args.options(String::new());
    let run = issue_flow::run(workspace, &config, &request, options, printer).await?;
    deliver(
        args,
        workspace,
        &run.report,
        &run.issue.task_text(),
        &config,
        printer,
    )?;
    Ok(github_exit_code(args.pr, &run, printer))
}

fn github_exit_code(pr: bool, run: &IssueRun, printer: &Printer) -> ExitCode {
    if let Some(published) = &run.published {
        printer.status(&format!(
            "{} pull request #{} from {}: {}",
            if published.updated {
                "updated"
            } else {
                "opened"
            },
            published.number,
            published.branch,
            published.url
        ));
        return ExitCode::SUCCESS;
    }
    if let Some(comment) = &run.comment {
        printer.status(&format!("commented on the issue: {}", comment.html_url));
    }
    if let Some(error) = &run.publish_error {
        printer.error(&format!(
            "{error}; no pull request was opened and nothing was left behind (the diff is above and in the trajectory {})",
            run.report.trajectory_path.display()
        ));
        return ExitCode::FAILURE;
    }
    if pr
        && run.report.outcome.exit_reason == ExitReason::Submitted
        && run.report.diff.trim().is_empty()
    {
        printer.error("the agent submitted without changing anything; no pull request was opened");
        return ExitCode::FAILURE;
    }
    exit_code(&run.report, printer)
}

fn print_summary(report: &FixReport, printer: &Printer) {
    let outcome = &report.outcome;
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
        report.trajectory_path.display()
    ));
    match &outcome.reproduction {
        Some(r) => printer.status(&format!(
            "reproduction: `{}` failed at step {} and passed at step {} after the change",
            r.command.as_deref().unwrap_or(&r.arguments),
            r.failed_at_step,
            r.passed_at_step
        )),
        None => printer.status("reproduction: none on the record"),
    }
    if let Some(review) = &outcome.review {
        printer.status(&format!("review: {}", review.lines().next().unwrap_or("")));
    }
    if outcome.compactions > 0 {
        printer.status(&format!(
            "older turns were compacted {} time(s) to fit the context window",
            outcome.compactions
        ));
    }
    if !report.edited_tests.is_empty() {
        printer.warn(&format!(
            "test integrity: the run changed existing test files: {} (review them; --protect-tests refuses such edits)",
            report.edited_tests.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if !report.git_reverted.is_empty() {
        printer.warn(&format!(
            "the model's commands changed git's own files, which were put back: {}",
            report.git_reverted.join(", ")
        ));
    }
    if report.diff.is_empty() {
        printer.status("no changes were made");
    }
}

fn exit_code(report: &FixReport, printer: &Printer) -> ExitCode {
    if let Some(selection) = &report.selection {
        // Several attempts: a success when a candidate with a change was chosen.
        return if selection.chosen.is_some() && !report.diff.trim().is_empty() {
            ExitCode::SUCCESS
        } else {
            printer.error(&format!(
                "none of the {} attempts left a diff that applies; their trajectories are listed above",
                selection.candidates.len()
            ));
            ExitCode::FAILURE
        };
    }
    let outcome = &report.outcome;
    match outcome.exit_reason {
        ExitReason::Submitted => ExitCode::SUCCESS,
        ExitReason::NeedsClarification => {
            printer.status(&format!(
                "the issue is too ambiguous to act on; the agent asks:\n{}",
                outcome.questions.as_deref().unwrap_or("")
            ));
            ExitCode::from(4)
        }
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
