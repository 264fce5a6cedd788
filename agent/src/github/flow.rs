//! `agent fix --issue N [--pr]`: read the issue, run the agent, and publish the result.
//!
//! Everything that can be checked before the model runs is checked first (clean tree, the
//! issue exists here, the token may push), so bad input costs nothing and leaves nothing.
//! With `--pr` the user's checkout is put back as it was after the run: the change lives only
//! on the branch `agent/issue-N-…`, locally and on the remote, and in the pull request.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use git2::{Oid, Repository};

use super::api::Posted;
use super::issue::Issue;
use super::{GitHubApi, GitHubError, Identity, Remote, RepoSlug, RetryPolicy, git, report, trust};
use crate::config::{Config, process_env};
use crate::fix::{self, FixOptions, FixReport};
use crate::printer::Printer;
use crate::redact::Redactor;
use crate::session::ExitReason;
use crate::workspace::Workspace;

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
        .or_else(|| process_env("GITHUB_API_URL"))
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

/// Checked before the model runs, used after it.
struct PublishPlan {
    head_commit: Oid,
    branch: String,
    base: String,
    push_url: String,
}

pub async fn run(
    workspace: &Workspace,
    config: &Config,
    request: &IssueRequest,
    mut options: FixOptions,
    printer: &Printer,
) -> Result<IssueRun> {
    if request.pr && options.allow_dirty {
        bail!(
            "--pr cannot be combined with --allow-dirty: the pull request must hold only the agent's change; commit or stash your changes first"
        );
    }
    if !options.allow_dirty {
        workspace.ensure_clean()?;
    }
    let target = resolve_target(
        Some(workspace.repository()),
        request.github_repo.as_deref(),
        request.api_url.as_deref(),
    )?;
    let token = process_env("GITHUB_TOKEN");
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
    let mut issue = api.issue(request.number).await?;
    // Whose comments are the bot's own; without a token nothing is taken for them.
    let me = match &token {
        Some(_) => Some(Identity::of_token(&api, request.bot_login.as_deref()).await?),
        None => None,
    };
    let all_comments = issue.comments.len();
    trust::sift(&mut issue, me.as_ref(), token.is_some().then_some(&api)).await;
    printer.status(&format!(
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
        printer.warn(&note);
    }
    let plan = if request.pr {
        Some(prepare_publish(workspace, &api, &target, &issue, request).await?)
    } else {
        None
    };
    let run_url = report::actions_run_url();
    // The account whose progress comment this run keeps up to date, if it keeps one.
    let keeper = me.as_ref().filter(|_| request.progress_comment);
    if let Some(me) = keeper {
        let text = report::progress_text(
            "working",
            &format!("Model `{}`.", config.model),
            run_url.as_deref(),
        );
        let posted = api.upsert_progress(issue.number, me, &text).await?;
        if let Some(warning) = me.mismatch(&posted) {
            printer.warn(&warning);
        }
    }

    options.task = issue.task_text();
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
    // The same redactor as the run's: secret values and well-known token formats.
    let redactor = fix::redactor(config);
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            if request.pr {
                let text = redactor.redact(&format!("{error:#}"));
                let comment = report::error_comment(&issue, &text);
                if let Err(e) = api.create_comment(issue.number, &comment).await {
                    printer.warn(&format!("could not report the failure on the issue: {e}"));
                }
                progress(
                    &api,
                    keeper,
                    &issue,
                    "failed",
                    "The run failed; see the report below.",
                    run_url.as_deref(),
                    printer,
                )
                .await;
            }
            return Err(error);
        }
    };
    let mut run = IssueRun {
        issue,
        report,
        published: None,
        publish_error: None,
        comment: None,
    };
    let Some(plan) = plan else {
        return Ok(run);
    };
    let issue = &run.issue;
    let outcome = &run.report.outcome;
    match outcome.exit_reason {
        ExitReason::Submitted if run.report.secret_refusal().is_some() => {
            run.publish_error = run.report.secret_refusal();
        }
        ExitReason::Submitted if !run.report.diff.trim().is_empty() => {
            match publish(
                workspace,
                &api,
                issue,
                &run.report,
                &plan,
                token.as_deref(),
                &redactor,
            )
            .await
            {
                Ok(published) => {
                    let verb = if published.updated {
                        "Updated"
                    } else {
                        "Opened"
                    };
                    progress(
                        &api,
                        keeper,
                        issue,
                        "succeeded",
                        &format!("{verb} pull request #{}.", published.number),
                        run_url.as_deref(),
                        printer,
                    )
                    .await;
                    run.published = Some(published);
                }
                Err(e) => {
                    let text = redactor.redact(&format!("{e:#}"));
                    progress(
                        &api,
                        keeper,
                        issue,
                        "failed",
                        &format!("Publishing the fix failed: {text}"),
                        run_url.as_deref(),
                        printer,
                    )
                    .await;
                    run.publish_error = Some(text);
                }
            }
        }
        ExitReason::NeedsClarification => {
            let questions = outcome
                .questions
                .as_deref()
                .unwrap_or("(no questions given)");
            let body = redactor.redact(&report::questions_comment(issue, questions));
            let posted = api.create_comment(issue.number, &body).await?;
            progress(
                &api,
                keeper,
                issue,
                "clarification",
                &format!("It asked questions: {}", posted.html_url),
                run_url.as_deref(),
                printer,
            )
            .await;
            run.comment = Some(posted);
        }
        _ => {
            let steps = report::steps(&run.report.outcome.tool_calls);
            let body = redactor.redact(&report::failure_comment(issue, &run.report, &steps));
            let posted = api.create_comment(issue.number, &body).await?;
            let why = report::stop_reason(&run.report);
            progress(
                &api,
                keeper,
                issue,
                "failed",
                &format!("It stopped because {why}. Report: {}", posted.html_url),
                run_url.as_deref(),
                printer,
            )
            .await;
            run.comment = Some(posted);
        }
    }
    Ok(run)
}

/// Updates the progress comment when the run keeps one (`keeper` is then the token's
/// account); a failure here only warns, since the outcome itself was already recorded.
async fn progress(
    api: &GitHubApi,
    keeper: Option<&Identity>,
    issue: &Issue,
    state: &str,
    detail: &str,
    run_url: Option<&str>,
    printer: &Printer,
) {
    let Some(me) = keeper else {
        return;
    };
    let text = report::progress_text(state, detail, run_url);
    if let Err(e) = api.upsert_progress(issue.number, me, &text).await {
        printer.warn(&format!("could not update the progress comment: {e}"));
    }
}

/// Everything `--pr` needs, checked before any model call.
async fn prepare_publish(
    workspace: &Workspace,
    api: &GitHubApi,
    target: &Target,
    issue: &Issue,
    request: &IssueRequest,
) -> Result<PublishPlan> {
    let repo = workspace.repository();
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .context("--pr needs a repository with at least one commit to start the branch from")?;
    let branch = issue.branch_name();
    if let Ok(current) = repo.head()
        && current.is_branch()
        && current.shorthand().ok() == Some(branch.as_str())
    {
        bail!(
            "the branch {branch} is checked out; switch to the branch the fix should start from (e.g. `git switch main`) and run again"
        );
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
        .context("HEAD is detached and GitHub did not name a default branch; pass --base BRANCH")?;
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
    api: &GitHubApi,
    issue: &Issue,
    report: &FixReport,
    plan: &PublishPlan,
    token: Option<&str>,
    redactor: &Redactor,
) -> Result<Published> {
    let repo = workspace.repository();
    let changed = workspace.changed_paths(report.baseline, report.final_tree)?;
    let message = report::commit_message(issue, report, &changed);
    let commit = git::commit_tree(repo, plan.head_commit, report.final_tree, &message)?;
    let undo = git::set_branch(repo, &plan.branch, commit)?;
    let existing = match api.open_pull_for_branch(&plan.branch).await {
        Ok(existing) => existing,
        Err(e) => {
            git::undo_branch(repo, &plan.branch, undo)?;
            return Err(e.into());
        }
    };
    let refspec = format!("+refs/heads/{0}:refs/heads/{0}", plan.branch);
    if let Err(e) = git::push(repo, &plan.push_url, &refspec, token) {
        git::undo_branch(repo, &plan.branch, undo)?;
        return Err(e.into());
    }
    let steps = report::steps(&report.outcome.tool_calls);
    let title = report::pr_title(issue);
    let body = redactor.redact(&report::pr_body(issue, report, &steps, &changed));
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
            Err(e.into())
        }
    }
}
