//! `agent github …`: the checks and comments the GitHub Actions bot runs around `agent fix`,
//! and the GitHub flags `agent fix --issue` shares.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use git2::Repository;

use crate::config::process_env;
use crate::github::flow::{Target, resolve_target};
use crate::github::{GitHubApi, GitHubEnv, GitHubError, Identity, RetryPolicy, report};
use crate::printer::Printer;

/// Which GitHub repository and API to talk to (shared by `agent fix --issue`).
#[derive(Debug, Clone, Args)]
pub struct GitHubFlags {
    /// The GitHub repository as owner/name (default: from the `origin` remote).
    #[arg(long, value_name = "OWNER/NAME")]
    pub github_repo: Option<String>,
    /// The GitHub REST API root, e.g. https://ghe.example.com/api/v3 (default: GITHUB_API_URL,
    /// else derived from origin's host, else https://api.github.com).
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// Longest wait for a GitHub rate limit to reset before giving up, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub github_max_wait: u64,
    /// The account the token posts as, for a GitHub App's installation token (`<app>[bot]`).
    /// Default: what GET /user says, else `github-actions[bot]` (GitHub Actions' GITHUB_TOKEN).
    /// Only comments by this account are taken for the bot's own.
    #[arg(long, value_name = "LOGIN")]
    pub bot_login: Option<String>,
}

impl GitHubFlags {
    pub fn max_wait(&self) -> Duration {
        Duration::from_secs(self.github_max_wait)
    }
}

#[derive(Debug, Args)]
pub struct GithubArgs {
    #[command(subcommand)]
    pub command: GithubCommand,
}

#[derive(Debug, Subcommand)]
pub enum GithubCommand {
    /// Exit 0 when USER has write access (admin, maintain or write) to the repository, 1
    /// otherwise. The bot runs only for such users.
    CheckPermission(CheckPermissionArgs),
    /// Create or update the issue's one progress comment.
    Progress(ProgressArgs),
}

#[derive(Debug, Args)]
pub struct CheckPermissionArgs {
    /// The GitHub login to check (in Actions: the commenter or the labeler).
    #[arg(long)]
    pub user: String,
    /// The checkout (only used to find the repository from its `origin` remote).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    #[command(flatten)]
    pub github: GitHubFlags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressState {
    Started,
    Working,
    Succeeded,
    Failed,
}

#[derive(Debug, Args)]
pub struct ProgressArgs {
    /// The issue number.
    #[arg(long)]
    pub issue: u64,
    #[arg(long, value_enum)]
    pub state: ProgressState,
    /// Extra text for the comment.
    #[arg(long, default_value = "")]
    pub message: String,
    /// Only when the comment still says the agent is at work: a fallback after a crash that
    /// must not overwrite what a finished run wrote.
    #[arg(long)]
    pub if_unfinished: bool,
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    #[command(flatten)]
    pub github: GitHubFlags,
}

pub async fn run(args: GithubArgs, printer: &Printer) -> Result<ExitCode> {
    let env = GitHubEnv::read(&process_env);
    match args.command {
        GithubCommand::CheckPermission(a) => check_permission(a, &env, printer).await,
        GithubCommand::Progress(a) => progress(a, &env, printer).await,
    }
}

fn api_for(
    repo: &std::path::Path,
    flags: &GitHubFlags,
    env: &GitHubEnv,
) -> Result<(Target, GitHubApi)> {
    let repository = Repository::open(repo).ok();
    let target = resolve_target(
        repository.as_ref(),
        flags.github_repo.as_deref(),
        flags.api_url.as_deref(),
        env,
    )?;
    let token = env.token.clone().ok_or_else(|| {
        GitHubError::MissingToken("the bot's checks call the GitHub API with it".into())
    })?;
    let api = GitHubApi::new(
        &target.api_url,
        Some(&token),
        target.slug.clone(),
        RetryPolicy {
            max_wait: flags.max_wait(),
            ..RetryPolicy::default()
        },
    )?;
    Ok((target, api))
}

async fn check_permission(
    args: CheckPermissionArgs,
    env: &GitHubEnv,
    printer: &Printer,
) -> Result<ExitCode> {
    let (target, api) = api_for(&args.repo, &args.github, env)?;
    let user = args.user.trim().trim_start_matches('@');
    if user.is_empty() {
        anyhow::bail!("--user is empty; pass the GitHub login to check");
    }
    let access = api.access(user).await?;
    let allowed = access.as_ref().is_some_and(|a| a.can_write());
    let described = access
        .as_ref()
        .map(|a| a.describe())
        .unwrap_or_else(|| "none (not a collaborator)".into());
    printer.result(&format!("permission={described}\nallowed={allowed}\n"));
    if allowed {
        printer.status(&format!(
            "@{user} has {described} access to {}: allowed",
            target.slug
        ));
        Ok(ExitCode::SUCCESS)
    } else {
        printer.error(&format!(
            "@{user} has {described} access to {}; the agent runs only for users with write access (admin, maintain or write)",
            target.slug
        ));
        Ok(ExitCode::FAILURE)
    }
}

async fn progress(args: ProgressArgs, env: &GitHubEnv, printer: &Printer) -> Result<ExitCode> {
    let (_, api) = api_for(&args.repo, &args.github, env)?;
    let me = Identity::of_token(&api, args.github.bot_login.as_deref()).await?;
    let state = match args.state {
        ProgressState::Started => "started",
        ProgressState::Working => "working",
        ProgressState::Succeeded => "succeeded",
        ProgressState::Failed => "failed",
    };
    if args.if_unfinished {
        let current = api.progress_comment(args.issue, &me).await?;
        if !current.is_some_and(|c| report::progress_is_unfinished(&c.body)) {
            printer.status("the progress comment is already final (or absent); left as it is");
            return Ok(ExitCode::SUCCESS);
        }
    }
    let text = report::progress_text(state, &args.message, env.actions_run_url.as_deref());
    let posted = api.upsert_progress(args.issue, &me, &text).await?;
    if let Some(warning) = me.mismatch(&posted) {
        printer.warn(&warning);
    }
    printer.status(&format!("progress comment: {}", posted.html_url));
    Ok(ExitCode::SUCCESS)
}
