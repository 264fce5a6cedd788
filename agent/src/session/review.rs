//! The review turn on `submit`: a separate model call reads the final diff against the task,
//! with a few mechanical checks of the diff beside it.

use minijinja::context;

use crate::model::{ChatRequest, Message, ModelClient, ModelError, Usage};
use crate::prompts::{PromptError, Prompts};

/// Characters of diff shown to the reviewer.
const MAX_REVIEW_DIFF_CHARS: usize = 24_000;

/// What the review said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// `true` when the reviewer found nothing to change.
    pub ok: bool,
    /// The findings (the reviewer's, then the mechanical checks').
    pub findings: String,
    pub usage: Usage,
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error(transparent)]
    Prompt(#[from] PromptError),
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Mechanical findings in a unified diff: debugging leftovers, scratch files, edited tests.
pub fn diff_checks(diff: &str, is_test_path: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut checks = Vec::new();
    let mut file = String::new();
    let mut new_file = false;
    for line in diff.lines() {
        if let Some(path) = line.strip_prefix("+++ b/") {
            file = path.to_string();
            let name = file
                .rsplit('/')
                .next()
                .unwrap_or(&file)
                .to_ascii_lowercase();
            if new_file
                && ["repro", "reproduce", "debug", "scratch", "tmp_", "temp_"]
                    .iter()
                    .any(|p| name.starts_with(p))
            {
                checks.push(format!(
                    "{file} is a new scratch or reproduction file; remove it unless it belongs in the change"
                ));
            }
            if !new_file && is_test_path(&file) {
                checks.push(format!("{file} is an existing test file and was edited"));
            }
        } else if line.starts_with("diff --git") {
            new_file = false;
        } else if line.starts_with("new file mode") || line == "--- /dev/null" {
            new_file = true;
        } else if let Some(added) = line.strip_prefix('+') {
            let code = added.trim_start();
            if [
                "breakpoint()",
                "pdb.set_trace",
                "import pdb",
                "console.log(",
                "dbg!(",
            ]
            .iter()
            .any(|p| code.starts_with(p))
                || (code.starts_with("print(") && code.to_ascii_lowercase().contains("debug"))
            {
                checks.push(format!("{file}: debugging leftover `{}`", code.trim()));
            }
        }
    }
    checks.dedup();
    checks
}

/// Asks the model to review `diff` against `task`.
pub async fn review(
    model: &dyn ModelClient,
    prompts: &Prompts,
    task: &str,
    diff: &str,
    checks: &[String],
) -> Result<Review, ReviewError> {
    let system = prompts.render("review_system.md", context! {})?;
    let request = prompts.render(
        "review_request.md",
        context! {
            task => task,
            diff => agent_tools::text::truncate_middle(diff, MAX_REVIEW_DIFF_CHARS),
            checks => checks,
        },
    )?;
    let messages = [Message::system(system), Message::user(request)];
    let response = model
        .chat(ChatRequest {
            messages: &messages,
            tools: &[],
            require_tool: false,
        })
        .await?;
    let (verdict_ok, findings) = parse_verdict(response.message.text());
    let mut all: Vec<String> = Vec::new();
    if !findings.is_empty() {
        all.push(findings);
    }
    all.extend(checks.iter().map(|c| format!("- {c}")));
    Ok(Review {
        ok: verdict_ok && checks.is_empty(),
        findings: all.join("\n"),
        usage: response.usage,
    })
}

/// `VERDICT: ok|revise` and the findings after it. A reply without a verdict counts as
/// `revise` with its whole text as the finding, unless it is empty.
fn parse_verdict(text: &str) -> (bool, String) {
    let lower = text.to_ascii_lowercase();
    let Some(at) = lower.find("verdict:") else {
        let text = text.trim();
        return (text.is_empty(), text.to_string());
    };
    let rest = lower[at + "verdict:".len()..].trim_start();
    let ok = rest.starts_with("ok") || rest.starts_with("approve") || rest.starts_with("pass");
    let findings = match lower.find("findings:") {
        Some(f) => text[f + "findings:".len()..].trim().to_string(),
        None => String::new(),
    };
    let findings = if ok || !findings.is_empty() {
        findings
    } else {
        text[at..].trim().to_string()
    };
    (ok, findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_read() {
        assert_eq!(parse_verdict("VERDICT: ok"), (true, String::new()));
        let (ok, f) = parse_verdict("VERDICT: revise\nFINDINGS:\n- a.py: remove the print");
        assert!(!ok);
        assert_eq!(f, "- a.py: remove the print");
        let (ok, f) = parse_verdict("The change edits an unrelated file.");
        assert!(!ok);
        assert!(f.contains("unrelated"));
    }

    #[test]
    fn checks_find_leftovers_scratch_files_and_edited_tests() {
        let diff = "diff --git a/src/a.py b/src/a.py\n--- a/src/a.py\n+++ b/src/a.py\n@@ -1 +1,2 @@\n+import pdb\n x = 1\ndiff --git a/reproduce_bug.py b/reproduce_bug.py\nnew file mode 100644\n--- /dev/null\n+++ b/reproduce_bug.py\n@@ -0,0 +1 @@\n+print(1)\ndiff --git a/tests/test_a.py b/tests/test_a.py\n--- a/tests/test_a.py\n+++ b/tests/test_a.py\n@@ -1 +1 @@\n-assert f() == 1\n+assert f() == 2\n";
        let checks = diff_checks(diff, &|p| p.starts_with("tests/"));
        assert_eq!(checks.len(), 3, "{checks:?}");
        assert!(checks[0].contains("src/a.py") && checks[0].contains("import pdb"));
        assert!(checks[1].contains("reproduce_bug.py"));
        assert!(checks[2].contains("tests/test_a.py"));
        assert!(diff_checks("diff --git a/x b/x\n+++ b/x\n+y = 2\n", &|_| false).is_empty());
    }
}
