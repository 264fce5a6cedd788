//! `agent fix --issue N [--pr]`: read the issue, run the agent, and publish the result.
//!
//! Everything that can be checked before the model runs is checked first (clean tree, the
//! issue exists here, the token may push), so bad input costs nothing and leaves nothing.
//! With `--pr` the user's checkout is put back as it was after the run: the change lives only
//! on the branch `agent/issue-N-…`, locally and on the remote, and in the pull request.

use std::time::Duration;

use std::sync::Arc;

use git2::{Oid, Repository};

use super::api::Posted;
use super::issue::Issue;
use super::{
    GitHubApi, GitHubEnv, GitHubError, Identity, Remote, RepoSlug, RetryPolicy, git, report, trust,
};
use crate::config::Config;
use crate::fix::{self, FixError, FixOptions, FixReport};
use crate::printer::Printer;
use crate::redact::Redactor;
use crate::session::ExitReason;
use crate::workspace::{Workspace, WorkspaceError};

/// Where the repository lives on GitHub and how to reach its API.
#[derive(Debug, Clone)]
pub struct Target {
    pub slug: RepoSlug,
    pub api_url: String,
    /// The `origin` remote, when it names this repository.
    pub origin: Option<Remote>,
}

/// Finds the repository (`--github-repo`, else `origin`) and its API root (`--api-url`, else
/// `GITHUB_API_URL` as GitHub Actions sets it, else derived from origin's host).
pub fn resolve_target(
    repo: Option<&Repository>,
    github_repo: Option<&str>,
    api_url: Option<&str>,
    env: &GitHubEnv,
) -> Result<Target, GitHubError> {
    let origin_url = repo
        .and_then(|r| r.find_remote("origin").ok())
        .and_then(|r| r.url().ok().map(str::to_string));
    let origin = origin_url.as_deref().map(Remote::parse);
    let slug = match (github_repo, &origin) {
        (Some(given), _) => RepoSlug::parse(given)?,
        (None, Some(Ok(remote))) => remote.slug.clone(),
        (None, Some(Err(e))) => return Err(GitHubError::NotGitHubRemote(e_url(e))),
        (None, None) => return Err(GitHubError::NoOrigin),
    };
    let origin = origin
        .and_then(Result::ok)
        .filter(|r| r.slug.full_name().eq_ignore_ascii_case(&slug.full_name()));
    let api_url = api_url
        .map(str::to_string)
        .or_else(|| env.api_url.clone())
        .or_else(|| origin.as_ref().map(Remote::api_url))
        .unwrap_or_else(|| "https://api.github.com/".to_string());
    Ok(Target {
        slug,
        api_url,
        origin,
    })
}

fn e_url(e: &GitHubError) -> String {
    match e {
        GitHubError::NotGitHubRemote(url) => url.clone(),
        other => other.to_string(),
    }
}

impl Target {
    /// Where `--pr` pushes when no `--push-url` is given: origin over HTTPS, or the web host
    /// that goes with the API URL.
    pub fn default_push_url(&self) -> String {
        if let Some(origin) = &self.origin {
            return origin.https_url();
        }
        let api = url::Url::parse(&self.api_url).ok();
        let host = api
            .as_ref()
            .and_then(|u| u.host_str())
            .map(|h| {
                if h == "api.github.com" {
                    "github.com"
                } else {
                    h
                }
            })
            .unwrap_or("github.com");
        format!("https://{host}/{}/{}.git", self.slug.owner, self.slug.name)
    }
}

/// What `agent fix --issue` was asked to do beyond a plain fix.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    pub number: u64,
    pub github_repo: Option<String>,
    pub api_url: Option<String>,
    pub pr: bool,
    pub push_url: Option<String>,
    pub base: Option<String>,
    pub progress_comment: bool,
    pub max_wait: Duration,
    /// `--bot-login`: the account the token posts as, when GitHub cannot tell.
    pub bot_login: Option<String>,
    /// What the process environment says about GitHub (read once, by the command line).
    pub env: GitHubEnv,
}

/// A pull request the run opened or updated.
#[derive(Debug, Clone)]
pub struct Published {
    pub number: u64,
    pub url: String,
    pub branch: String,
    pub commit: Oid,
    /// An open pull request from the branch existed and was updated instead of opening another.
    pub updated: bool,
}

/// How an issue run ended.
#[derive(Debug)]
pub struct IssueRun {
    pub issue: Issue,
    pub report: FixReport,
    pub published: Option<Published>,
    /// Why publishing failed (push rejected, no permission); nothing was left behind.
    pub publish_error: Option<String>,
    /// The comment left instead of a pull request (a failure report or questions).
    pub comment: Option<Posted>,
}

/// Why an issue run could not be made (as opposed to a run that ended without a fix, which
/// is an [`IssueRun`] with a comment).
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(transparent)]
    Run(#[from] FixError),
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    /// Input the flow refuses before anything is done; the message names the fix.
    #[error("{0}")]
    Refused(String),
}

/// Checked before the model runs, used after it.
struct PublishPlan {
    head_commit: Oid,
    branch: String,
    base: String,
    push_url: String,
}

/// What the steps after the run share: the API, the progress comment's keeper, the printer.
struct Reporter<'a> {
    api: GitHubApi,
    token: Option<String>,
    /// The account the token posts as (`None` without a token).
    me: Option<Identity>,
    /// Whether this run keeps a progress comment up to date (as `me`).
    keeps_progress: bool,
    run_url: Option<String>,
    redactor: Arc<Redactor>,
    printer: &'a Printer,
}

pub async fn run(
    workspace: &Workspace,
    config: &Config,
    request: &IssueRequest,
    options: FixOptions,
    printer: &Printer,
) -> Result<IssueRun, FlowError> {
    check_request(workspace, request, &options)?;
    let (target, reporter) = connect(workspace, config, request, printer).await?;
    let issue = read_issue(&reporter, &target, request).await?;
    let plan = match request.pr {
        true => Some(prepare_publish(workspace, &reporter.api, &target, &issue, request).await?),
        false => None,
    };
    reporter
        .start_progress(&issue, &format!("Model `{}`.", config.model))
        .await?;
    let result = run_agent(workspace, config, request, options, &issue, printer).await;
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            if request.pr {
                reporter.run_failed(&issue, &error).await;
            }
            return Err(error.into());
        }
    };
    let mut run = IssueRun {
        issue,
        report,
        published: None,
        publish_error: None,
        comment: None,
    };
    if let Some(plan) = plan {
        conclude(workspace, &reporter, &mut run, &plan).await?;
    }
    Ok(run)
}

/// Refuses what cannot work before anything is done.
fn check_request(
    workspace: &Workspace,
    request: &IssueRequest,
    options: &FixOptions,
) -> Result<(), FlowError> {
    if request.pr && options.allow_dirty {
        return Err(FlowError::Refused(
            "--pr cannot be combined with --allow-dirty: the pull request must hold only the agent's change; commit or stash your changes first".into(),
        ));
    }
    if !options.allow_dirty {
        workspace.ensure_clean()?;
    }
    Ok(())
}

/// Finds the repository on GitHub and connects to its API (with the token, when there is one).
async fn connect<'a>(
    workspace: &Workspace,
    config: &Config,
    request: &IssueRequest,
    printer: &'a Printer,
) -> Result<(Target, Reporter<'a>), FlowError> {
    let target = resolve_target(
        Some(workspace.repository()),
        request.github_repo.as_deref(),
        request.api_url.as_deref(),
        &request.env,
    )?;
    let token = request.env.token.clone();
    if (request.pr || request.progress_comment) && token.is_none() {
        return Err(GitHubError::MissingToken(
            "--pr and --progress-comment write to GitHub and need a token with contents, issues and pull-requests write access".into(),
        )
        .into());
    }
    let api = GitHubApi::new(
        &target.api_url,
        token.as_deref(),
        target.slug.clone(),
        RetryPolicy {
            max_wait: request.max_wait,
            ..RetryPolicy::default()
        },
    )?;
    // Whose comments are the bot's own; without a token nothing is taken for them.
    let me = match &token {
        Some(_) => Some(Identity::of_token(&api, request.bot_login.as_deref()).await?),
        None => None,
    };
    let reporter = Reporter {
        api,
        token,
        me,
        keeps_progress: request.progress_comment,
        run_url: request.env.actions_run_url.clone(),
        // The same redactor as the run's: secret values and well-known token formats.
        redactor: fix::redactor(config),
        printer,
    };
    Ok((target, reporter))
}

/// The issue, with the comments of untrusted authors left out, as the agent will see it.
async fn read_issue(
    reporter: &Reporter<'_>,
    target: &Target,
    request: &IssueRequest,
) -> Result<Issue, FlowError> {
    let api = &reporter.api;
    let mut issue = api.issue(request.number).await?;
    let all_comments = issue.comments.len();
    let with_api = reporter.token.is_some().then_some(api);
    trust::sift(&mut issue, reporter.me.as_ref(), with_api).await;
    reporter.printer.status(&format!(
        "issue {}#{}: {} ({} of {all_comments} comments given to the agent, labels: {})",
        target.slug,
        issue.number,
        issue.title,
        issue.comments.len(),
        if issue.labels.is_empty() {
            "none".to_string()
        } else {
            issue.labels.join(", ")
        }
    ));
    if let Some(note) = issue.left_out_note() {
        reporter.printer.warn(&note);
    }
    Ok(issue)
}

/// Runs the agent on the issue; with `--pr` the checkout is put back afterwards, since the
/// change lives only on the pull request's branch.
async fn run_agent(
    workspace: &Workspace,
    config: &Config,
    request: &IssueRequest,
    mut options: FixOptions,
    issue: &Issue,
    printer: &Printer,
) -> Result<FixReport, FixError> {
    options.task = issue.task_text();
    // One run, or with `--samples` several and the one chosen.
    let result = fix::execute(workspace, config, &options, printer).await;
    if request.pr {
        match git::restore_checkout(workspace) {
            Ok(paths) if !paths.is_empty() => printer.status(&format!(
                "restored the checkout ({} files); the change is only on the pull request's branch",
                paths.len()
            )),
            Ok(_) => {}
            Err(e) => printer.warn(&format!("could not restore the checkout: {e}")),
        }
    }
    result
}

/// After a `--pr` run: the pull request, the questions, or the report of why there is none.
async fn conclude(
    workspace: &Workspace,
    reporter: &Reporter<'_>,
    run: &mut IssueRun,
    plan: &PublishPlan,
) -> Result<(), FlowError> {
    let issue = &run.issue;
    let report = &run.report;
    match report.outcome.exit_reason {
        ExitReason::Submitted if report.secret_refusal().is_some() => {
            run.publish_error = report.secret_refusal();
        }
        ExitReason::Submitted if !report.diff.trim().is_empty() => {
            match publish(workspace, reporter, issue, report, plan).await {
                Ok(published) => {
                    let verb = if published.updated {
                        "Updated"
                    } else {
                        "Opened"
                    };
                    let detail = format!("{verb} pull request #{}.", published.number);
                    reporter.progress(issue, "succeeded", &detail).await;
                    run.published = Some(published);
                }
                Err(e) => {
                    let text = reporter.redactor.redact(&e.to_string());
                    let detail = format!("Publishing the fix failed: {text}");
                    reporter.progress(issue, "failed", &detail).await;
                    run.publish_error = Some(text);
                }
            }
        }
        ExitReason::NeedsClarification => {
            let questions = report.outcome.questions.as_deref();
            let body =
                report::questions_comment(issue, questions.unwrap_or("(no questions given)"));
            let posted = reporter.comment(issue, &body).await?;
            let detail = format!("It asked questions: {}", posted.html_url);
            reporter.progress(issue, "clarification", &detail).await;
            run.comment = Some(posted);
        }
        _ => {
            let body = report::failure_comment(issue, report);
            let posted = reporter.comment(issue, &body).await?;
            let why = report::stop_reason(report);
            let detail = format!("It stopped because {why}. Report: {}", posted.html_url);
            reporter.progress(issue, "failed", &detail).await;
            run.comment = Some(posted);
        }
    }
    Ok(())
}

impl Reporter<'_> {
    fn keeper(&self) -> Option<&Identity> {
        self.me.as_ref().filter(|_| self.keeps_progress)
    }

    /// Posts `body` on the issue, redacted.
    async fn comment(&self, issue: &Issue, body: &str) -> Result<Posted, GitHubError> {
        let body = self.redactor.redact(body);
        self.api.create_comment(issue.number, &body).await
    }

    /// The first progress comment of a run that keeps one.
    async fn start_progress(&self, issue: &Issue, detail: &str) -> Result<(), GitHubError> {
        let Some(me) = self.keeper() else {
            return Ok(());
        };
        let text = report::progress_text("working", detail, self.run_url.as_deref());
        let posted = self.api.upsert_progress(issue.number, me, &text).await?;
        if let Some(warning) = me.mismatch(&posted) {
            self.printer.warn(&warning);
        }
        Ok(())
    }

    /// Updates the progress comment when the run keeps one; a failure here only warns, since
    /// the outcome itself was already recorded.
    async fn progress(&self, issue: &Issue, state: &str, detail: &str) {
        let Some(me) = self.keeper() else {
            return;
        };
        let text = report::progress_text(state, detail, self.run_url.as_deref());
        if let Err(e) = self.api.upsert_progress(issue.number, me, &text).await {
            self.printer
                .warn(&format!("could not update the progress comment: {e}"));
        }
    }

    /// A run that failed before it could report: the error goes on the issue.
    async fn run_failed(&self, issue: &Issue, error: &FixError) {
        let text = self.redactor.redact(&error.to_string());
        let comment = report::error_comment(issue, &text);
        if let Err(e) = self.api.create_comment(issue.number, &comment).await {
            self.printer
                .warn(&format!("could not report the failure on the issue: {e}"));
        }
        self.progress(issue, "failed", "The run failed; see the report below.")
            .await;
    }
}

/// Everything `--pr` needs, checked before any model call.
async fn prepare_publish(
    workspace: &Workspace,
    api: &GitHubApi,
    target: &Target,
    issue: &Issue,
    request: &IssueRequest,
) -> Result<PublishPlan, FlowError> {
    let repo = workspace.repository();
    let head = repo.head().and_then(|h| h.peel_to_commit()).map_err(|_| {
        FlowError::Refused(
            "--pr needs a repository with at least one commit to start the branch from".into(),
        )
    })?;
    let branch = issue.branch_name();
    if let Ok(current) = repo.head()
        && current.is_branch()
        && current.shorthand().ok() == Some(branch.as_str())
    {
        return Err(FlowError::Refused(format!(
            "the branch {branch} is checked out; switch to the branch the fix should start from (e.g. `git switch main`) and run again"
        )));
    }
    let info = api.repository().await?;
    if info.can_push == Some(false) {
        return Err(GitHubError::Forbidden {
            action: "push a branch".into(),
            repo: target.slug.full_name(),
            message: "the token has no push permission".into(),
        }
        .into());
    }
    let current_branch = repo
        .head()
        .ok()
        .filter(|h| h.is_branch())
        .and_then(|h| h.shorthand().ok().map(str::to_string));
    let base = request
        .base
        .clone()
        .or(current_branch)
        .or(info.default_branch)
        .ok_or_else(|| {
            FlowError::Refused(
                "HEAD is detached and GitHub did not name a default branch; pass --base BRANCH"
                    .into(),
            )
        })?;
    let push_url = request
        .push_url
        .clone()
        .unwrap_or_else(|| target.default_push_url());
    Ok(PublishPlan {
        head_commit: head.id(),
        branch,
        base,
        push_url,
    })
}

/// Commit, branch, push, pull request. On failure, what was done is undone: the local branch
/// goes back to where it was and a newly pushed branch is deleted again.
async fn publish(
    workspace: &Workspace,
    reporter: &Reporter<'_>,
    issue: &Issue,
    report: &FixReport,
    plan: &PublishPlan,
) -> Result<Published, GitHubError> {
    let (api, token) = (&reporter.api, reporter.token.as_deref());
    let repo = workspace.repository();
    let message = report::commit_message(issue, report);
    let commit = git::commit_tree(repo, plan.head_commit, report.final_tree, &message)?;
    let undo = git::set_branch(repo, &plan.branch, commit)?;
    let existing = match api.open_pull_for_branch(&plan.branch).await {
        Ok(existing) => existing,
        Err(e) => {
            git::undo_branch(repo, &plan.branch, undo)?;
            return Err(e);
        }
    };
    let refspec = format!("+refs/heads/{0}:refs/heads/{0}", plan.branch);
    if let Err(e) = git::push(repo, &plan.push_url, &refspec, token) {
        git::undo_branch(repo, &plan.branch, undo)?;
        return Err(e);
    }
    let title = report::pr_title(issue);
    let body = reporter.redactor.redact(&report::pr_body(issue, report));
    let result = match &existing {
        Some(pull) => api.update_pull(pull.number, &title, &body).await,
        None => {
            api.create_pull(&title, &plan.branch, &plan.base, &body)
                .await
        }
    };
    match result {
        Ok(pull) => Ok(Published {
            number: pull.number,
            url: pull.html_url,
            branch: plan.branch.clone(),
            commit,
            updated: existing.is_some(),
        }),
        Err(e) => {
            // A branch we pushed for a pull request that does not exist helps no one.
            if existing.is_none() {
                let _ = git::delete_remote_branch(repo, &plan.push_url, &plan.branch, token);
            }
            git::undo_branch(repo, &plan.branch, undo)?;
            Err(e)
        }
    }
}
