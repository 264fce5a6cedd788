//! An issue as the agent sees it, and the task text made from it.

use serde::{Deserialize, Serialize};

use super::PROGRESS_MARKER;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub author: String,
    pub labels: Vec<String>,
    pub html_url: String,
    pub comments: Vec<Comment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: u64,
    pub author: String,
    pub body: String,
    pub html_url: String,
}

/// Longest comment thread given to the model; the oldest comments are dropped first, since the
/// latest ones (answers to questions) matter most.
const MAX_COMMENT_CHARS: usize = 30_000;

impl Issue {
    /// The task text for the agent: title, labels, body, then the discussion with authors.
    /// The agent's own progress comments are left out; its questions and reports stay, so a
    /// rerun sees what was asked and answered.
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
            .filter(|c| !c.body.contains(PROGRESS_MARKER) && !c.body.trim().is_empty())
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
                    body: "Same here with `[2, 4]`.".into(),
                    html_url: String::new(),
                },
                Comment {
                    id: 2,
                    author: "agent-bot".into(),
                    body: format!("{PROGRESS_MARKER}\nworking"),
                    html_url: String::new(),
                },
            ],
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
            !text.contains("working"),
            "progress comments are left out: {text}"
        );
    }

    #[test]
    fn long_threads_keep_the_latest_comments() {
        let mut i = issue();
        i.comments = (0..100)
            .map(|n| Comment {
                id: n,
                author: format!("user{n}"),
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
