//! The GitHub REST calls the agent makes, through octocrab, with a bounded rate-limit retry.
//!
//! Payloads are decoded into small local structs rather than octocrab's full models, so older
//! GitHub Enterprise versions and partial answers still work.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use octocrab::Octocrab;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::issue::{Comment, Issue};
use super::trust::Identity;
use super::{GitHubError, PROGRESS_MARKER, RepoSlug, Result};

/// How long and how often to wait out GitHub's rate limits before giving up.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: u32,
    /// The longest single wait; a limit that resets later than this fails at once.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            max_wait: Duration::from_secs(60),
        }
    }
}

/// A comment or pull request we created or found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub id: u64,
    pub number: u64,
    pub html_url: String,
    /// Who GitHub says wrote it (empty when the answer does not say).
    pub author: String,
}

#[derive(Debug, Clone, Default)]
pub struct RepoInfo {
    pub default_branch: Option<String>,
    /// The token's own permissions, when GitHub reports them.
    pub can_push: Option<bool>,
}

/// A collaborator's access as the permission endpoint reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// `admin`, `write`, `read` or `none` (maintain shows as `write`, triage as `read`).
    pub permission: String,
    /// The finer role: `admin`, `maintain`, `write`, `triage`, `read`, or a custom role.
    pub role_name: Option<String>,
}

impl Access {
    /// Write access or more: admin, maintain or write.
    pub fn can_write(&self) -> bool {
        let strong = |p: &str| matches!(p, "admin" | "maintain" | "write");
        strong(&self.permission) || self.role_name.as_deref().is_some_and(strong)
    }

    pub fn describe(&self) -> String {
        match &self.role_name {
            Some(role) if role != &self.permission => format!("{} (role {role})", self.permission),
            _ => self.permission.clone(),
        }
    }
}

pub struct GitHubApi {
    crab: Octocrab,
    repo: RepoSlug,
    policy: RetryPolicy,
}

#[derive(Deserialize)]
struct RawUser {
    login: String,
    /// `User`, `Bot` or `Organization`.
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawLabel {
    Named { name: String },
    Plain(String),
}

#[derive(Deserialize)]
struct RawIssue {
    number: u64,
    title: String,
    body: Option<String>,
    html_url: Option<String>,
    repository_url: Option<String>,
    pull_request: Option<Value>,
    #[serde(default)]
    labels: Vec<RawLabel>,
    user: Option<RawUser>,
}

#[derive(Deserialize)]
struct RawComment {
    id: u64,
    body: Option<String>,
    user: Option<RawUser>,
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct RawPosted {
    id: u64,
    #[serde(default)]
    number: u64,
    html_url: Option<String>,
    user: Option<RawUser>,
}

impl From<RawPosted> for Posted {
    fn from(r: RawPosted) -> Self {
        Posted {
            id: r.id,
            number: r.number,
            html_url: r.html_url.unwrap_or_default(),
            author: r.user.map(|u| u.login).unwrap_or_default(),
        }
    }
}

impl From<RawComment> for Comment {
    fn from(c: RawComment) -> Self {
        let (author, author_type) = c
            .user
            .map(|u| (u.login, u.kind.unwrap_or_default()))
            .unwrap_or_default();
        Comment {
            id: c.id,
            author,
            author_type,
            body: c.body.unwrap_or_default(),
            html_url: c.html_url.unwrap_or_default(),
        }
    }
}

/// Pages of comments read at most (100 each).
const MAX_COMMENT_PAGES: u32 = 10;

impl GitHubApi {
    /// A client for `repo` at `api_url` (e.g. `https://api.github.com/`), authenticated with
    /// `token` when given.
    pub fn new(
        api_url: &str,
        token: Option<&str>,
        repo: RepoSlug,
        policy: RetryPolicy,
    ) -> Result<Self> {
        let bad = |message: String| GitHubError::BadApiUrl {
            url: api_url.to_string(),
            message,
        };
        if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
            return Err(bad("it must start with https:// or http://".into()));
        }
        let mut builder = Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| bad(e.to_string()))?
            .set_connect_timeout(Some(Duration::from_secs(30)))
            .set_read_timeout(Some(Duration::from_secs(60)));
        if let Some(token) = token {
            builder = builder.personal_token(token.to_string());
        }
        let crab = builder.build().map_err(|e| bad(e.to_string()))?;
        Ok(Self { crab, repo, policy })
    }

    pub fn repo(&self) -> &RepoSlug {
        &self.repo
    }

    fn route(&self, tail: &str) -> String {
        format!("/repos/{}/{}{tail}", self.repo.owner, self.repo.name)
    }

    /// Runs `request`, waiting out rate limits within the policy's bounds and retrying server
    /// errors of idempotent requests.
    async fn call<T, F, Fut>(&self, action: &str, idempotent: bool, request: F) -> Result<T>
    where
        T: DeserializeOwned,
        F: Fn() -> Fut,
        Fut: Future<Output = octocrab::Result<Value>>,
    {
        let mut retries = 0;
        loop {
            let error = match request().await {
                Ok(value) => {
                    return serde_json::from_value(value).map_err(|e| GitHubError::Decode {
                        action: action.to_string(),
                        message: e.to_string(),
                    });
                }
                Err(e) => e,
            };
            match self.after_error(action, idempotent, &error, retries) {
                Next::RetryAfter(wait) => {
                    retries += 1;
                    tokio::time::sleep(wait).await;
                }
                Next::Fail(e) => return Err(e),
            }
        }
    }

    /// What to do after a failed request: wait and try again, or give up with a clear error.
    fn after_error(
        &self,
        action: &str,
        idempotent: bool,
        error: &octocrab::Error,
        retries: u32,
    ) -> Next {
        let can_retry = retries < self.policy.max_retries;
        let backoff = Duration::from_secs(1 << retries.min(4));
        let octocrab::Error::GitHub { source, .. } = error else {
            let message = error_chain(error);
            // A refused certificate will be refused again; connection drops may pass.
            let retryable = !message.to_ascii_lowercase().contains("certificate");
            if idempotent && retryable && can_retry {
                return Next::RetryAfter(backoff);
            }
            return Next::Fail(GitHubError::Unreachable {
                action: action.to_string(),
                message,
            });
        };
        let status = source.status_code.as_u16();
        let headers = source.headers.clone().unwrap_or_default();
        if let Some(wait) = rate_limit_wait(status, &headers, &source.message, unix_now()) {
            let detail = if wait > self.policy.max_wait {
                format!(
                    "the limit resets in {}s, longer than the {}s this run waits (--github-max-wait); try again later",
                    wait.as_secs(),
                    self.policy.max_wait.as_secs()
                )
            } else if !can_retry {
                format!("still limited after {retries} retries; try again later")
            } else {
                tracing::warn!(
                    "GitHub rate limit on {action}: waiting {}s (retry {})",
                    wait.as_secs(),
                    retries + 1
                );
                return Next::RetryAfter(wait);
            };
            return Next::Fail(GitHubError::RateLimited {
                action: action.to_string(),
                detail,
            });
        }
        if source.status_code.is_server_error() && idempotent && can_retry {
            return Next::RetryAfter(backoff);
        }
        Next::Fail(match status {
            401 => GitHubError::Unauthorized {
                action: action.to_string(),
            },
            403 => GitHubError::Forbidden {
                action: action.to_string(),
                repo: self.repo.full_name(),
                message: source.message.clone(),
            },
            _ => GitHubError::Api {
                action: action.to_string(),
                status,
                message: source.message.clone(),
            },
        })
    }

    async fn get<T: DeserializeOwned>(&self, action: &str, route: &str) -> Result<T> {
        self.call(action, true, || self.crab.get(route, None::<&()>))
            .await
    }

    async fn post<T: DeserializeOwned>(&self, action: &str, route: &str, body: Value) -> Result<T> {
        self.call(action, false, || self.crab.post(route, Some(&body)))
            .await
    }

    async fn patch<T: DeserializeOwned>(
        &self,
        action: &str,
        route: &str,
        body: Value,
    ) -> Result<T> {
        // PATCH sets fields to given values, so repeating it is safe.
        self.call(action, true, || self.crab.patch(route, Some(&body)))
            .await
    }

    /// The issue with its labels and comments. Pull requests and issues that were transferred
    /// to another repository are refused.
    pub async fn issue(&self, number: u64) -> Result<Issue> {
        let action = format!("read issue #{number}");
        let raw: RawIssue = match self
            .get(&action, &self.route(&format!("/issues/{number}")))
            .await
        {
            Err(GitHubError::Api {
                status: 404 | 410, ..
            }) => {
                return Err(GitHubError::IssueNotFound {
                    repo: self.repo.full_name(),
                    number,
                });
            }
            other => other?,
        };
        // GitHub answers a transferred issue with a redirect to its new home, which the client
        // follows: the answer then names another repository.
        if let Some(url) = &raw.repository_url
            && !self.repo.matches_api_url(url)
        {
            let to_repo = url
                .trim_end_matches('/')
                .rsplit('/')
                .take(2)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("/");
            return Err(GitHubError::Transferred {
                repo: self.repo.full_name(),
                number,
                to: format!("{to_repo}#{}", raw.number),
                to_repo,
                to_number: raw.number,
            });
        }
        if raw.pull_request.is_some() {
            return Err(GitHubError::IsPullRequest {
                repo: self.repo.full_name(),
                number,
            });
        }
        let comments = self.comments(number).await?;
        Ok(Issue {
            number: raw.number,
            title: raw.title,
            body: raw.body.unwrap_or_default(),
            author: raw.user.map(|u| u.login).unwrap_or_default(),
            labels: raw
                .labels
                .into_iter()
                .map(|l| match l {
                    RawLabel::Named { name } | RawLabel::Plain(name) => name,
                })
                .collect(),
            html_url: raw.html_url.unwrap_or_default(),
            comments,
            left_out: Vec::new(),
        })
    }

    /// Every comment of the issue, oldest first.
    pub async fn comments(&self, number: u64) -> Result<Vec<Comment>> {
        let action = format!("read the comments of issue #{number}");
        let mut all = Vec::new();
        for page in 1..=MAX_COMMENT_PAGES {
            let route = self.route(&format!(
                "/issues/{number}/comments?per_page=100&page={page}"
            ));
            let batch: Vec<RawComment> = self.get(&action, &route).await?;
            let full = batch.len() == 100;
            all.extend(batch.into_iter().map(Comment::from));
            if !full {
                break;
            }
        }
        Ok(all)
    }

    pub async fn create_comment(&self, number: u64, body: &str) -> Result<Posted> {
        let raw: RawPosted = self
            .post(
                &format!("comment on issue #{number}"),
                &self.route(&format!("/issues/{number}/comments")),
                json!({ "body": body }),
            )
            .await?;
        Ok(raw.into())
    }

    pub async fn update_comment(&self, id: u64, body: &str) -> Result<Posted> {
        let raw: RawPosted = self
            .patch(
                &format!("edit comment {id}"),
                &self.route(&format!("/issues/comments/{id}")),
                json!({ "body": body }),
            )
            .await?;
        Ok(raw.into())
    }

    /// The login the token acts as (`GET /user`), or `None` for an installation token (GitHub
    /// Actions' `GITHUB_TOKEN`, a GitHub App's), which GitHub refuses that endpoint with 403
    /// "Resource not accessible by integration".
    pub async fn token_login(&self) -> Result<Option<String>> {
        match self
            .get::<RawUser>("find out which account the token belongs to", "/user")
            .await
        {
            Ok(user) => Ok(Some(user.login)),
            Err(GitHubError::Forbidden { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The issue's progress comment: the latest comment that carries the marker **and** was
    /// written by `me`, the token's account. Another user's comment with the marker is never
    /// taken for it (see [`super::trust`]).
    pub async fn progress_comment(&self, number: u64, me: &Identity) -> Result<Option<Comment>> {
        Ok(self
            .comments(number)
            .await?
            .into_iter()
            .rev()
            .find(|c| c.body.contains(PROGRESS_MARKER) && me.authored(c)))
    }

    /// Creates the issue's progress comment, or edits `me`'s existing one: one per issue.
    pub async fn upsert_progress(&self, number: u64, me: &Identity, body: &str) -> Result<Posted> {
        let body = format!("{PROGRESS_MARKER}\n{body}");
        match self.progress_comment(number, me).await? {
            Some(comment) => self.update_comment(comment.id, &body).await,
            None => self.create_comment(number, &body).await,
        }
    }

    pub async fn repository(&self) -> Result<RepoInfo> {
        let value: Value = self
            .get(&format!("read repository {}", self.repo), &self.route(""))
            .await?;
        let permissions = &value["permissions"];
        Ok(RepoInfo {
            default_branch: value["default_branch"].as_str().map(str::to_string),
            can_push: permissions.is_object().then(|| {
                ["admin", "maintain", "push"]
                    .iter()
                    .any(|k| permissions[k].as_bool() == Some(true))
            }),
        })
    }

    /// The open pull request whose head is `branch` in this repository, if any.
    pub async fn open_pull_for_branch(&self, branch: &str) -> Result<Option<Posted>> {
        let head = format!("{}:{branch}", self.repo.owner);
        let route = self.route(&format!(
            "/pulls?state=open&head={}",
            url::form_urlencoded::byte_serialize(head.as_bytes()).collect::<String>()
        ));
        let pulls: Vec<RawPosted> = self
            .get(
                &format!("look for an open pull request from {branch}"),
                &route,
            )
            .await?;
        Ok(pulls.into_iter().next().map(Posted::from))
    }

    pub async fn create_pull(
        &self,
        title: &str,
        head: &str,
        base: &str,
        body: &str,
    ) -> Result<Posted> {
        let raw: RawPosted = self
            .post(
                &format!("open a pull request from {head} into {base}"),
                &self.route("/pulls"),
                json!({ "title": title, "head": head, "base": base, "body": body }),
            )
            .await?;
        Ok(raw.into())
    }

    pub async fn update_pull(&self, number: u64, title: &str, body: &str) -> Result<Posted> {
        let raw: RawPosted = self
            .patch(
                &format!("update pull request #{number}"),
                &self.route(&format!("/pulls/{number}")),
                json!({ "title": title, "body": body }),
            )
            .await?;
        Ok(raw.into())
    }

    /// `user`'s access to the repository; `None` when they are not a collaborator at all.
    pub async fn access(&self, user: &str) -> Result<Option<Access>> {
        let action = format!("read the permission of @{user}");
        let route = self.route(&format!("/collaborators/{user}/permission"));
        let value: Value = match self.get(&action, &route).await {
            Err(GitHubError::Api { status: 404, .. }) => return Ok(None),
            other => other?,
        };
        let permission = value["permission"].as_str().unwrap_or("none").to_string();
        Ok(Some(Access {
            permission,
            role_name: value["role_name"].as_str().map(str::to_string),
        }))
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// How long GitHub asks us to wait, when a response is a rate limit rather than a refusal.
///
/// 429 always is one; 403 is one when it says so (`retry-after`, `x-ratelimit-remaining: 0`, or
/// a secondary-limit message) and a plain permission refusal otherwise.
pub fn rate_limit_wait(
    status: u16,
    headers: &HeaderMap,
    message: &str,
    now_unix: u64,
) -> Option<Duration> {
    if status != 429 && status != 403 {
        return None;
    }
    if let Some(secs) = header_u64(headers, "retry-after") {
        return Some(Duration::from_secs(secs.max(1)));
    }
    if header_u64(headers, "x-ratelimit-remaining") == Some(0)
        && let Some(reset) = header_u64(headers, "x-ratelimit-reset")
    {
        return Some(Duration::from_secs(reset.saturating_sub(now_unix).max(1)));
    }
    // Secondary limits without headers: GitHub asks for at least a minute.
    if status == 429 || message.to_ascii_lowercase().contains("rate limit") {
        return Some(Duration::from_secs(60));
    }
    None
}

/// After a failed request: wait this long and try again, or give up.
enum Next {
    RetryAfter(Duration),
    Fail(GitHubError),
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn rate_limits_are_told_apart_from_refusals() {
        let now = 1_000_000;
        assert_eq!(
            rate_limit_wait(429, &headers(&[("retry-after", "7")]), "", now),
            Some(Duration::from_secs(7))
        );
        let reset = (now + 30).to_string();
        assert_eq!(
            rate_limit_wait(
                403,
                &headers(&[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", &reset)
                ]),
                "API rate limit exceeded",
                now
            ),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            rate_limit_wait(
                403,
                &headers(&[("x-ratelimit-remaining", "4999")]),
                "Resource not accessible by integration",
                now
            ),
            None
        );
        assert_eq!(
            rate_limit_wait(
                403,
                &HeaderMap::new(),
                "You have exceeded a secondary rate limit",
                now
            ),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            rate_limit_wait(404, &headers(&[("retry-after", "1")]), "", now),
            None
        );
    }

    #[test]
    fn write_access_means_admin_maintain_or_write() {
        let access = |p: &str, r: Option<&str>| Access {
            permission: p.into(),
            role_name: r.map(str::to_string),
        };
        assert!(access("admin", Some("admin")).can_write());
        assert!(access("write", Some("maintain")).can_write());
        assert!(access("write", None).can_write());
        assert!(!access("read", Some("triage")).can_write());
        assert!(!access("none", None).can_write());
        assert_eq!(
            access("read", Some("triage")).describe(),
            "read (role triage)"
        );
    }
}
