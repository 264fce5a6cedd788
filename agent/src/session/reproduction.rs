//! The reproduction on the record: a command that failed before the model's change and passes
//! after it, with the same arguments. Read from the structured result any command-running tool
//! leaves (`exit_code`), never from tool names.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use agent_tools::CommandRun;

/// A command that flipped from failing to passing across a change of the diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reproduction {
    pub tool: String,
    /// The call's arguments (canonical JSON).
    pub arguments: String,
    /// The command line, when the tool reported it.
    pub command: Option<String>,
    pub failed_at_step: u32,
    pub passed_at_step: u32,
    /// Files the command names that the change had created when it passed (a reproduction
    /// script, a new test file), with their content then: selection runs the command on other
    /// attempts' changes with these in place, even if the model removed them afterwards.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<(String, String)>,
}

#[derive(Debug, Default)]
pub struct ReproductionTracker {
    /// Call key → (step, hash of the diff) of its first failure.
    failures: HashMap<String, (u32, u64)>,
    found: Option<Reproduction>,
}

impl ReproductionTracker {
    /// Looks at one command a tool ran: how it ended, and `diff`, the workspace's diff right
    /// after the call. Returns the reproduction when this call completes one.
    pub fn observe(
        &mut self,
        tool: &str,
        arguments: &str,
        run: &CommandRun,
        diff: &str,
        step: u32,
    ) -> Option<&Reproduction> {
        let passed = run.exit_code == Some(0) && !run.timed_out;
        let canonical = serde_json::from_str::<Value>(arguments)
            .map(|v| v.to_string())
            .unwrap_or_else(|_| arguments.trim().to_string());
        let key = format!("{tool} {canonical}");
        let diff_hash = hash(diff);
        if !passed {
            self.failures.entry(key).or_insert((step, diff_hash));
            return None;
        }
        if self.found.is_some() {
            return None;
        }
        let (failed_at_step, failed_diff) = *self.failures.get(&key)?;
        if failed_diff == diff_hash || diff.trim().is_empty() {
            return None;
        }
        self.found = Some(Reproduction {
            tool: tool.to_string(),
            arguments: canonical,
            command: Some(run.command.clone()),
            failed_at_step,
            passed_at_step: step,
            files: named_new_files(diff, arguments),
        });
        self.found.as_ref()
    }

    pub fn found(&self) -> Option<&Reproduction> {
        self.found.as_ref()
    }
}

/// The files `diff` creates whose path the command's arguments name.
fn named_new_files(diff: &str, arguments: &str) -> Vec<(String, String)> {
    crate::select::diffs::new_files(diff)
        .into_iter()
        .filter(|(path, _)| arguments.contains(path.as_str()))
        .collect()
}

fn hash(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ran(command: &str, exit_code: Option<i64>, timed_out: bool) -> CommandRun {
        CommandRun {
            command: command.into(),
            exit_code,
            timed_out,
        }
    }

    #[test]
    fn a_command_that_fails_then_passes_after_a_change_is_a_reproduction() {
        let mut t = ReproductionTracker::default();
        let args = r#"{"command": "python repro.py"}"#;
        let fail = ran("python repro.py", Some(1), false);
        let pass = ran("python repro.py", Some(0), false);
        assert!(t.observe("run", args, &fail, "diff-a", 2).is_none());
        // Passing without a change in between is not a reproduction (flaky, or not the bug).
        assert!(t.observe("run", args, &pass, "diff-a", 3).is_none());
        // Another command passing after the change is not either.
        assert!(
            t.observe("run", r#"{"command":"ls"}"#, &pass, "diff-b", 4)
                .is_none()
        );
        let r = t.observe("run", args, &pass, "diff-b", 5).cloned().unwrap();
        assert_eq!((r.failed_at_step, r.passed_at_step), (2, 5));
        assert_eq!(r.command.as_deref(), Some("python repro.py"));
        assert_eq!(t.found(), Some(&r));
        assert!(r.files.is_empty(), "diff-b creates no file");
    }

    #[test]
    fn the_script_a_reproduction_names_is_kept_with_its_content() {
        let mut t = ReproductionTracker::default();
        let args = r#"{"command": "python repro.py"}"#;
        let with_script = "diff --git a/repro.py b/repro.py\nnew file mode 100644\n--- /dev/null\n+++ b/repro.py\n@@ -0,0 +1 @@\n+assert 1 == 1\n";
        let fixed = format!(
            "{with_script}diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
        );
        t.observe(
            "run",
            args,
            &ran("python repro.py", Some(1), false),
            with_script,
            1,
        );
        let r = t
            .observe(
                "run",
                args,
                &ran("python repro.py", Some(0), false),
                &fixed,
                2,
            )
            .unwrap();
        assert_eq!(
            r.files,
            vec![("repro.py".to_string(), "assert 1 == 1\n".to_string())]
        );
    }

    #[test]
    fn killed_or_timed_out_commands_do_not_count() {
        let mut t = ReproductionTracker::default();
        assert!(
            t.observe("run", "{}", &ran("x", None, true), "d", 1)
                .is_none()
        );
        t.observe("run", "{}", &ran("x", Some(1), false), "a", 1);
        let timed_out = ran("x", Some(0), true);
        assert!(t.observe("run", "{}", &timed_out, "b", 2).is_none());
        assert!(t.found().is_none());
    }
}
