//! GitHub: read an issue (`agent fix --issue N`), publish the fix as a pull request (`--pr`),
//! report failures and clarifying questions as comments, and the checks the Actions bot runs
//! (`agent github check-permission`, `agent github progress`).
//!
//! REST calls go through octocrab with our own bounded rate-limit retry ([`api`]); branches,
//! commits and pushes go through git2 ([`git`]). The token is only ever held in memory: it goes
//! to the API as a header and to git2 through its credential callback.

pub mod api;
pub mod flow;
pub mod git;
pub mod issue;
pub mod repo;
pub mod report;
pub mod trust;

use thiserror::Error;

pub use api::{GitHubApi, RetryPolicy};
pub use issue::{Comment, Issue, LeftOut, Why};
pub use repo::{Remote, RepoSlug};
pub use trust::Identity;

/// What the process environment says about GitHub, read once by the command line: the token,
/// the API root GitHub Actions sets, and the Actions run this process belongs to.
#[derive(Debug, Clone, Default)]
pub struct GitHubEnv {
    /// `GITHUB_TOKEN`.
    pub token: Option<String>,
    /// `GITHUB_API_URL`.
    pub api_url: Option<String>,
    /// The Actions run's page, from `GITHUB_SERVER_URL`, `GITHUB_REPOSITORY` and `GITHUB_RUN_ID`.
    pub actions_run_url: Option<String>,
}

impl GitHubEnv {
    /// Reads the variables through `env` (the command line passes the process environment).
    pub fn read(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let actions_run_url = match (
            env("GITHUB_SERVER_URL"),
            env("GITHUB_REPOSITORY"),
            env("GITHUB_RUN_ID"),
        ) {
            (Some(server), Some(repo), Some(run)) => {
                Some(format!("{server}/{repo}/actions/runs/{run}"))
            }
            _ => None,
        };
        Self {
            token: env("GITHUB_TOKEN"),
            api_url: env("GITHUB_API_URL"),
            actions_run_url,
        }
    }
}

/// Hidden HTML comments that mark what the agent wrote, so later runs find and update it. A
/// marker alone proves nothing (anyone can type it): the bot's comments are those with the
/// marker whose author is the token's account ([`trust::Identity`]).
pub const PROGRESS_MARKER: &str = "<!-- agent:progress -->";
pub const REPORT_MARKER: &str = "<!-- agent:report -->";
pub const QUESTIONS_MARKER: &str = "<!-- agent:questions -->";
pub const PR_MARKER: &str = "<!-- agent:pull-request -->";

#[derive(Debug, Error)]
pub enum GitHubError {
    #[error("`{0}` is not a repository name; pass --github-repo as owner/name, e.g. acme/widgets")]
    BadRepoSlug(String),
    #[error(
        "the remote URL `{0}` does not name a GitHub repository (expected https://host/owner/name or git@host:owner/name); pass --github-repo owner/name"
    )]
    NotGitHubRemote(String),
    #[error(
        "cannot tell which GitHub repository this is: the checkout has no `origin` remote; pass --github-repo owner/name"
    )]
    NoOrigin,
    #[error("GITHUB_TOKEN is not set; {0}")]
    MissingToken(String),
    #[error("`{url}` is not a usable API URL for --api-url: {message}")]
    BadApiUrl { url: String, message: String },
    #[error(
        "issue #{number} does not exist in {repo} (or the token cannot see it); check the number and --github-repo"
    )]
    IssueNotFound { repo: String, number: u64 },
    #[error(
        "#{number} in {repo} is a pull request, not an issue; the agent fixes issues (pass an issue number)"
    )]
    IsPullRequest { repo: String, number: u64 },
    #[error(
        "issue #{number} no longer belongs to {repo}: GitHub redirects it to {to} (it was transferred, or the repository renamed); run with --github-repo {to_repo} --issue {to_number}"
    )]
    Transferred {
        repo: String,
        number: u64,
        to: String,
        to_repo: String,
        to_number: u64,
    },
    #[error(
        "GitHub rejected the token (401 Bad credentials) while trying to {action}; set GITHUB_TOKEN to a valid token"
    )]
    Unauthorized { action: String },
    #[error(
        "no permission to {action} on {repo} (GitHub said 403: {message}); the token needs contents, issues and pull-requests write access"
    )]
    Forbidden {
        action: String,
        repo: String,
        message: String,
    },
    #[error("GitHub's rate limit stopped the request to {action}: {detail}")]
    RateLimited { action: String, detail: String },
    #[error("GitHub answered {status} to the request to {action}: {message}")]
    Api {
        action: String,
        status: u16,
        message: String,
    },
    #[error("cannot reach the GitHub API to {action}: {message} (check --api-url and the network)")]
    Unreachable { action: String, message: String },
    #[error("unexpected answer from GitHub to {action}: {message}")]
    Decode { action: String, message: String },
    #[error("git: {0}")]
    Git(String),
    #[error("push of {branch} to {url} was rejected: {message}")]
    PushRejected {
        url: String,
        branch: String,
        message: String,
    },
    #[error("cannot push {branch} to {url}: {message}")]
    Push {
        url: String,
        branch: String,
        message: String,
    },
}

pub type Result<T, E = GitHubError> = std::result::Result<T, E>;

impl From<git2::Error> for GitHubError {
    fn from(e: git2::Error) -> Self {
        GitHubError::Git(e.message().to_string())
    }
}
