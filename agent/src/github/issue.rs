//! An issue as the agent sees it, and the task text made from it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub author: String,
    pub labels: Vec<String>,
    pub html_url: String,
    /// The comments the agent may act on (all of them until [`super::trust::sift`] ran).
    pub comments: Vec<Comment>,
    /// Comments left out of the task, and why.
    #[serde(default)]
    pub left_out: Vec<LeftOut>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: u64,
    pub author: String,
    /// GitHub's account type of the author: `User`, `Bot` or `Organization`.
    #[serde(default)]
    pub author_type: String,
    pub body: String,
    pub html_url: String,
}

/// A comment that was not given to the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftOut {
    pub author: String,
    pub html_url: String,
    pub why: Why,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Why {
    /// The author's access is below write: their role (`triage`, `read`, …) or `not a
    /// collaborator`.
    NoWriteAccess(String),
    /// The author's access could not be checked (no token, an API error).
    Unchecked(String),
    /// The author's account is gone.
    UnknownAuthor,
}

/// Longest comment thread given to the model; the oldest comments are dropped first, since the
/// latest ones (answers to questions) matter most.
const MAX_COMMENT_CHARS: usize = 30_000;

impl Issue {
    /// The task text for the agent: title, labels, body, then the discussion with authors
    /// (the comments [`super::trust::sift`] kept).
    pub fn task_text(&self) -> String {
        let mut text = format!("# {}\n\nIssue #{}", self.title.trim(), self.number);
        if !self.author.is_empty() {
            text.push_str(&format!(", opened by @{}", self.author));
        }
        text.push('\n');
        if !self.labels.is_empty() {
            text.push_str(&format!("Labels: {}\n", self.labels.join(", ")));
        }
        text.push('\n');
        let body = self.body.trim();
        text.push_str(if body.is_empty() {
            "(The issue has no description.)"
        } else {
            body
        });
        text.push('\n');

        let relevant: Vec<&Comment> = self
            .comments
            .iter()
            .filter(|c| !c.body.trim().is_empty())
            .collect();
        let mut kept: Vec<String> = Vec::new();
        let mut size = 0;
        for comment in relevant.iter().rev() {
            let rendered = format!("### @{} wrote\n\n{}\n", comment.author, comment.body.trim());
            if size + rendered.len() > MAX_COMMENT_CHARS && !kept.is_empty() {
                break;
            }
            size += rendered.len();
            kept.push(rendered);
        }
        kept.reverse();
        if !kept.is_empty() {
            text.push_str("\n## Comments\n\n");
            if kept.len() < relevant.len() {
                text.push_str(&format!(
                    "({} older comments left out.)\n\n",
                    relevant.len() - kept.len()
                ));
            }
            text.push_str(&kept.join("\n"));
        }
        text
    }

    /// Which comments were not given to the agent and why, one sentence per reason, e.g. "2
    /// comments by users without write access were not given to the agent: @x (read), @y (not
    /// a collaborator)."; `None` when every comment was.
    pub fn left_out_note(&self) -> Option<String> {
        if self.left_out.is_empty() {
            return None;
        }
        let mut sentences = Vec::new();
        let no_write: Vec<&LeftOut> = self
            .left_out
            .iter()
            .filter(|l| matches!(l.why, Why::NoWriteAccess(_)))
            .collect();
        if !no_write.is_empty() {
            let who = authors(&no_write, |l| match &l.why {
                Why::NoWriteAccess(role) => format!("@{} ({role})", l.author),
                _ => format!("@{}", l.author),
            });
            sentences.push(format!(
                "{} by users without write access {} not given to the agent: {who}.",
                count(no_write.len()),
                were(no_write.len())
            ));
        }
        let unchecked: Vec<&LeftOut> = self
            .left_out
            .iter()
            .filter(|l| matches!(l.why, Why::Unchecked(_)))
            .collect();
        if !unchecked.is_empty() {
            let who = authors(&unchecked, |l| match &l.why {
                Why::Unchecked(reason) => format!("@{} ({reason})", l.author),
                _ => format!("@{}", l.author),
            });
            sentences.push(format!(
                "{} whose author's access could not be checked {} not given to the agent: {who}.",
                count(unchecked.len()),
                were(unchecked.len())
            ));
        }
        let unknown = self
            .left_out
            .iter()
            .filter(|l| l.why == Why::UnknownAuthor)
            .count();
        if unknown > 0 {
            sentences.push(format!(
                "{} by deleted accounts {} not given to the agent.",
                count(unknown),
                were(unknown)
            ));
        }
        Some(sentences.join(" "))
    }

    /// The branch the fix goes on: `agent/issue-<N>-<slug of the title>`.
    pub fn branch_name(&self) -> String {
        let slug = slug(&self.title, 40);
        if slug.is_empty() {
            format!("agent/issue-{}", self.number)
        } else {
            format!("agent/issue-{}-{slug}", self.number)
        }
    }
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 comment".into()
    } else {
        format!("{n} comments")
    }
}

fn were(n: usize) -> &'static str {
    if n == 1 { "was" } else { "were" }
}

/// Each distinct author once, in order of first appearance.
fn authors(left: &[&LeftOut], show: impl Fn(&LeftOut) -> String) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut shown = Vec::new();
    for l in left {
        let key = l.author.to_ascii_lowercase();
        if !seen.contains(&key) {
            seen.push(key);
            shown.push(show(l));
        }
    }
    shown.join(", ")
}

/// Lowercase ASCII words joined by `-`, cut at a word boundary within `max` characters.
pub fn slug(text: &str, max: usize) -> String {
    let mut out = String::new();
    let words = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase);
    for word in words {
        let extra = if out.is_empty() { 0 } else { 1 } + word.len();
        if out.len() + extra > max {
            if out.is_empty() {
                out = word.chars().take(max).collect();
            }
            break;
        }
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue() -> Issue {
        Issue {
            number: 7,
            title: "mean() returns the WRONG value!".into(),
            body: "`mean([1, 2, 3])` is 1.5".into(),
            author: "alice".into(),
            labels: vec!["bug".into(), "agent".into()],
            html_url: "https://github.com/acme/stats/issues/7".into(),
            comments: vec![
                Comment {
                    id: 1,
                    author: "bob".into(),
                    author_type: "User".into(),
                    body: "Same here with `[2, 4]`.".into(),
                    html_url: String::new(),
                },
                Comment {
                    id: 2,
                    author: "carol".into(),
                    author_type: "User".into(),
                    body: "  \n".into(),
                    html_url: String::new(),
                },
            ],
            left_out: vec![],
        }
    }

    #[test]
    fn task_text_holds_title_body_labels_and_comments_with_authors() {
        let text = issue().task_text();
        assert!(
            text.starts_with("# mean() returns the WRONG value!"),
            "{text}"
        );
        assert!(text.contains("Labels: bug, agent"), "{text}");
        assert!(text.contains("`mean([1, 2, 3])` is 1.5"), "{text}");
        assert!(text.contains("### @bob wrote\n\nSame here"), "{text}");
        assert!(text.contains("opened by @alice"), "{text}");
        assert!(
            !text.contains("@carol"),
            "empty comments are skipped: {text}"
        );
    }

    #[test]
    fn the_note_names_who_was_left_out_and_why() {
        let mut i = issue();
        assert_eq!(i.left_out_note(), None);
        let left = |author: &str, why: Why| LeftOut {
            author: author.into(),
            html_url: String::new(),
            why,
        };
        i.left_out = vec![
            left("mallory", Why::NoWriteAccess("not a collaborator".into())),
            left("tia", Why::NoWriteAccess("triage".into())),
            left("mallory", Why::NoWriteAccess("not a collaborator".into())),
            left("eve", Why::Unchecked("GitHub said 500: boom".into())),
            left("", Why::UnknownAuthor),
        ];
        assert_eq!(
            i.left_out_note().unwrap(),
            "3 comments by users without write access were not given to the agent: \
             @mallory (not a collaborator), @tia (triage). 1 comment whose author's access \
             could not be checked was not given to the agent: @eve (GitHub said 500: boom). \
             1 comment by deleted accounts was not given to the agent."
        );
    }

    #[test]
    fn long_threads_keep_the_latest_comments() {
        let mut i = issue();
        i.comments = (0..100)
            .map(|n| Comment {
                id: n,
                author: format!("user{n}"),
                author_type: "User".into(),
                body: format!("comment {n} {}", "x".repeat(1000)),
                html_url: String::new(),
            })
            .collect();
        let text = i.task_text();
        assert!(text.contains("@user99 wrote"));
        assert!(!text.contains("@user0 wrote"));
        assert!(text.contains("older comments left out"));
    }

    #[test]
    fn branch_names_are_short_slugs() {
        assert_eq!(
            issue().branch_name(),
            "agent/issue-7-mean-returns-the-wrong-value"
        );
        let mut i = issue();
        i.title = "日本語".into();
        assert_eq!(i.branch_name(), "agent/issue-7");
        assert_eq!(
            slug("a very long title that keeps going and going on", 20),
            "a-very-long-title"
        );
        assert_eq!(slug("supercalifragilisticexpialidocious", 10), "supercalif");
    }
}
