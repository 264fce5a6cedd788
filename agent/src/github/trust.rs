//! Whose words the bot acts on.
//!
//! **The bot's identity.** The bot's own comments are the ones whose author is the account the
//! token acts as, never the ones that merely carry a hidden marker (anyone can type one):
//!
//! - a personal or fine-grained token, or an OAuth token: `GET /user` names the login;
//! - an installation token (GitHub Actions' `GITHUB_TOKEN`, a GitHub App's token): GitHub
//!   answers `GET /user` with 403 "Resource not accessible by integration", and the token's
//!   comments are authored by the app's bot account, `github-actions[bot]` for Actions' token.
//!   `--bot-login` names another app's account (`<app-slug>[bot]`).
//!
//! A comment is the bot's when its author's login is that login (GitHub logins are unique and
//! case-insensitive) and, for a `[bot]` login, the author's type is `Bot`: `[` and `]` are not
//! allowed in user names, so no user can register `github-actions[bot]`, and the type check
//! holds even against a look-alike. With Actions' token any workflow of the repository posts as
//! `github-actions[bot]`; only users with write access can change those workflows, but a
//! workflow that reposts outsiders' text under that account would have it trusted as the
//! bot's (a dedicated GitHub App's token with `--bot-login` shares its account with no one).
//!
//! Remembering the id of the comment `progress --state started` created was considered: it
//! would save one lookup, but a rerun (`/agent fix` again) is a new workflow run that does not
//! know it, so the lookup by marker and author is needed anyway, and it is the author check,
//! not the id, that makes the comment unspoofable.
//!
//! **Whose comments become the task.** The issue's title and body are the task already, so its
//! author's comments are taken like the body (they are also the answers to the bot's
//! questions). The bot's own questions and reports are kept so a rerun sees what was asked;
//! its progress comment is status, not task, and is dropped. Every other comment is kept only
//! when its author has admin, maintain or write access, asked once per distinct author through
//! the collaborator-permission endpoint; triage, read, no access, an unknown (deleted) author,
//! or a permission that cannot be checked (no token, an API error, more than
//! [`MAX_AUTHORS_CHECKED`] commenters, newest checked first) leave the comment out. What
//! was left out is listed in the pull request and the issue comments the bot writes.

use std::collections::HashMap;

use super::api::Posted;
use super::issue::{Comment, Issue, LeftOut, Why};
use super::{GitHubApi, GitHubError, PROGRESS_MARKER, Result};

/// The login every comment made with GitHub Actions' `GITHUB_TOKEN` is authored by.
pub const ACTIONS_BOT: &str = "github-actions[bot]";

/// The account the token posts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub login: String,
    /// A GitHub App's bot account (`…[bot]`), whose comments have author type `Bot`.
    pub bot: bool,
}

impl Identity {
    pub fn new(login: &str) -> Self {
        let login = login.trim().trim_start_matches('@').to_string();
        let bot = login.to_ascii_lowercase().ends_with("[bot]");
        Self { login, bot }
    }

    /// Whether `comment` was written by this account.
    pub fn authored(&self, comment: &Comment) -> bool {
        !self.login.is_empty()
            && comment.author.eq_ignore_ascii_case(&self.login)
            && (!self.bot || comment.author_type == "Bot")
    }

    /// A warning when GitHub says `posted` was written by another account than this one: the
    /// bot would not recognise it as its own later (e.g. a GitHub App's token without
    /// `--bot-login`).
    pub fn mismatch(&self, posted: &Posted) -> Option<String> {
        (!posted.author.is_empty() && !posted.author.eq_ignore_ascii_case(&self.login)).then(|| {
            format!(
                "GitHub says the token posts as @{}, but the bot took itself for @{}: later runs will not recognise this comment as the bot's own; pass --bot-login '{}'",
                posted.author, self.login, posted.author
            )
        })
    }

    /// Resolves the token's account: `given` (`--bot-login`) when set, else `GET /user`, else,
    /// for an installation token, [`ACTIONS_BOT`].
    pub async fn of_token(api: &GitHubApi, given: Option<&str>) -> Result<Identity> {
        if let Some(login) = given.map(str::trim).filter(|l| !l.is_empty()) {
            return Ok(Identity::new(login));
        }
        Ok(match api.token_login().await? {
            Some(login) => Identity::new(&login),
            None => Identity::new(ACTIONS_BOT),
        })
    }
}

/// The most distinct commenters whose access one run asks GitHub about (one request each);
/// the latest commenters are asked first, as the task keeps the latest comments.
pub const MAX_AUTHORS_CHECKED: usize = 50;

/// Keeps in `issue.comments` only the comments the agent may act on, and records the others in
/// `issue.left_out`. `me` is the token's account (`None` without a token); `api` answers the
/// permission questions (`None` without a token: then no one's access can be checked).
pub async fn sift(issue: &mut Issue, me: Option<&Identity>, api: Option<&GitHubApi>) {
    let is_mine = |c: &Comment| me.is_some_and(|me| me.authored(c));
    let is_authors =
        |c: &Comment| !issue.author.is_empty() && c.author.eq_ignore_ascii_case(&issue.author);
    // Whose access matters, newest commenter first, each once.
    let mut to_check: Vec<&str> = Vec::new();
    for c in issue.comments.iter().rev() {
        let new = !to_check.iter().any(|u| u.eq_ignore_ascii_case(&c.author));
        if new && !is_mine(c) && !is_authors(c) && !c.author.is_empty() {
            to_check.push(&c.author);
        }
    }
    let mut access: HashMap<String, Option<Why>> = HashMap::new();
    for (n, user) in to_check.into_iter().enumerate() {
        let why = if n < MAX_AUTHORS_CHECKED {
            distrust(api, user).await
        } else {
            Some(Why::Unchecked(format!(
                "more than {MAX_AUTHORS_CHECKED} commenters; only the latest are checked"
            )))
        };
        access.insert(user.to_ascii_lowercase(), why);
    }
    let mut kept = Vec::new();
    let mut left_out = Vec::new();
    for comment in std::mem::take(&mut issue.comments) {
        let why = if is_mine(&comment) {
            if comment.body.contains(PROGRESS_MARKER) {
                continue;
            }
            None
        } else if is_authors(&comment) {
            None
        } else if comment.author.is_empty() {
            Some(Why::UnknownAuthor)
        } else {
            access
                .get(&comment.author.to_ascii_lowercase())
                .cloned()
                .unwrap_or_else(|| Some(Why::Unchecked("not checked".into())))
        };
        match why {
            None => kept.push(comment),
            Some(why) => left_out.push(LeftOut {
                author: comment.author,
                html_url: comment.html_url,
                why,
            }),
        }
    }
    issue.comments = kept;
    issue.left_out = left_out;
}

/// Why `user`'s comments cannot be trusted, or `None` when they have write access.
async fn distrust(api: Option<&GitHubApi>, user: &str) -> Option<Why> {
    let Some(api) = api else {
        return Some(Why::Unchecked(
            "no GITHUB_TOKEN to ask GitHub for their access".into(),
        ));
    };
    match api.access(user).await {
        Ok(Some(access)) if access.can_write() => None,
        Ok(Some(access)) => Some(Why::NoWriteAccess(
            access.role_name.unwrap_or(access.permission),
        )),
        Ok(None) => Some(Why::NoWriteAccess("not a collaborator".into())),
        Err(e) => Some(Why::Unchecked(short_error(&e))),
    }
}

fn short_error(e: &GitHubError) -> String {
    match e {
        GitHubError::Unauthorized { .. } => "GitHub rejected the token (401)".into(),
        GitHubError::Forbidden { message, .. } => format!("GitHub said 403: {message}"),
        GitHubError::Api {
            status, message, ..
        } => format!("GitHub said {status}: {message}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(author: &str, author_type: &str) -> Comment {
        Comment {
            id: 1,
            author: author.into(),
            author_type: author_type.into(),
            body: format!("{PROGRESS_MARKER}\nworking"),
            html_url: String::new(),
        }
    }

    #[test]
    fn a_comment_is_the_bots_by_author_not_by_marker() {
        let me = Identity::new("agent-bot");
        assert!(!me.bot);
        assert!(me.authored(&comment("agent-bot", "User")));
        assert!(me.authored(&comment("Agent-Bot", "User")));
        assert!(!me.authored(&comment("mallory", "User")));
        assert!(!me.authored(&comment("agent-bot2", "User")));
        assert!(!me.authored(&comment("", "User")));

        let actions = Identity::new(ACTIONS_BOT);
        assert!(actions.bot);
        assert!(actions.authored(&comment("github-actions[bot]", "Bot")));
        assert!(!actions.authored(&comment("github-actions", "User")));
        assert!(!actions.authored(&comment("github-actions[bot]", "User")));
        assert!(!actions.authored(&comment("other-app[bot]", "Bot")));

        assert!(!Identity::new("").authored(&comment("", "User")));
    }

    #[tokio::test]
    async fn without_a_token_only_the_author_and_the_bot_are_kept() {
        let mut issue = Issue {
            number: 7,
            title: "t".into(),
            body: "b".into(),
            author: "alice".into(),
            labels: vec![],
            html_url: String::new(),
            comments: vec![
                Comment {
                    body: "by alice".into(),
                    ..comment("Alice", "User")
                },
                Comment {
                    body: "by mallory".into(),
                    ..comment("mallory", "User")
                },
                Comment {
                    body: "by a deleted user".into(),
                    ..comment("", "User")
                },
                comment("github-actions[bot]", "Bot"),
            ],
            left_out: vec![],
        };
        let me = Identity::new(ACTIONS_BOT);
        sift(&mut issue, Some(&me), None).await;
        let kept: Vec<&str> = issue.comments.iter().map(|c| c.body.as_str()).collect();
        assert_eq!(
            kept,
            ["by alice"],
            "the bot's progress comment is dropped too"
        );
        assert_eq!(issue.left_out.len(), 2);
        assert!(matches!(issue.left_out[0].why, Why::Unchecked(_)));
        assert_eq!(issue.left_out[1].why, Why::UnknownAuthor);
    }

    #[tokio::test]
    async fn the_latest_commenters_are_checked_first_and_their_number_is_bounded() {
        let total = MAX_AUTHORS_CHECKED + 10;
        let mut issue = Issue {
            number: 7,
            title: "t".into(),
            body: "b".into(),
            author: "alice".into(),
            labels: vec![],
            html_url: String::new(),
            comments: (0..total)
                .map(|n| Comment {
                    body: format!("comment {n}"),
                    ..comment(&format!("user{n}"), "User")
                })
                .collect(),
            left_out: vec![],
        };
        sift(&mut issue, None, None).await;
        assert!(issue.comments.is_empty());
        let unchecked = |l: &LeftOut, needle: &str| matches!(&l.why, Why::Unchecked(why) if why.contains(needle));
        assert!(unchecked(&issue.left_out[0], "more than 50 commenters"));
        assert!(unchecked(&issue.left_out[9], "more than 50 commenters"));
        assert!(unchecked(&issue.left_out[10], "no GITHUB_TOKEN"));
        assert!(unchecked(&issue.left_out[total - 1], "no GITHUB_TOKEN"));
    }
}
