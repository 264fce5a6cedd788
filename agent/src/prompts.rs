//! Prompt templates: files under `prompts/`, embedded at build time, overridable at run time from
//! a directory (`prompts_dir` in the config) holding files of the same names.

use std::path::Path;

use minijinja::Environment;
use serde::Serialize;
use thiserror::Error;

macro_rules! embedded {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../prompts/", $name)))),*]
    };
}

const EMBEDDED: &[(&str, &str)] = embedded![
    "system.md",
    "task.md",
    "text_actions.md",
    "wrap_up.md",
    "repeated_action.md",
    "plan_reminder.md",
    "malformed.md",
    "system_compact.md",
    "replan.md",
    "plan_ack.md",
    "submit_empty.md",
    "submit_no_reproduction.md",
    "review_system.md",
    "review_request.md",
    "review_feedback.md",
    "compact.md",
    "ledger.md",
    "judge_system.md",
    "judge_request.md",
];

#[derive(Debug, Error)]
pub enum PromptError {
    #[error("cannot read prompt override {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("prompt template {name}: {message}")]
    Template { name: String, message: String },
}

pub struct Prompts {
    env: Environment<'static>,
}

impl Prompts {
    /// The embedded templates, with any same-named files in `override_dir` taking their place.
    pub fn load(override_dir: Option<&Path>) -> Result<Self, PromptError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_keep_trailing_newline(true);
        for (name, source) in EMBEDDED {
            let source = match override_dir.map(|d| d.join(name)).filter(|p| p.is_file()) {
                Some(path) => {
                    std::fs::read_to_string(&path).map_err(|source| PromptError::Read {
                        path: path.display().to_string(),
                        source,
                    })?
                }
                None => (*source).to_string(),
            };
            env.add_template_owned(*name, source)
                .map_err(|e| PromptError::Template {
                    name: (*name).to_string(),
                    message: e.to_string(),
                })?;
        }
        Ok(Self { env })
    }

    pub fn render(&self, name: &str, context: impl Serialize) -> Result<String, PromptError> {
        let err = |e: minijinja::Error| PromptError::Template {
            name: name.to_string(),
            message: e.to_string(),
        };
        self.env
            .get_template(name)
            .map_err(err)?
            .render(context)
            .map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn embedded_templates_render() {
        let p = Prompts::load(None).unwrap();
        let s = p
            .render("system.md", context! { repo_root => "/r", tool_mode => "native", sandboxed => true, tools => Vec::<String>::new() })
            .unwrap();
        assert!(s.contains("/r"));
        assert!(s.contains("without network"));
        assert!(!s.contains("```action"));
    }

    #[test]
    fn overrides_replace_embedded_templates() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("task.md"), "custom {{ task }}").unwrap();
        let p = Prompts::load(Some(dir.path())).unwrap();
        assert_eq!(
            p.render("task.md", context! { task => "x" }).unwrap(),
            "custom x"
        );
    }

    /// Every template rendered with a representative context, reviewed as snapshots
    /// (`cargo insta review` after a change to a prompt).
    #[test]
    fn every_prompt_renders_as_snapshotted() {
        let p = Prompts::load(None).unwrap();
        let tools = vec![context! {
            name => "view_file",
            description => "Show a file with line numbers.",
            parameters => r#"{"type":"object","properties":{"path":{"type":"string"}}}"#,
        }];
        let ctx = |tool_mode: &str, sandboxed: bool| {
            context! {
                repo_root => "/work/repo",
                tool_mode => tool_mode,
                sandboxed => sandboxed,
                tools => tools.clone(),
                task => "mean() of an empty list raises ZeroDivisionError",
                head => "main at 1a2b3c4 (\"initial\")",
                instructions => "Run tests with `pytest -q`.",
                instructions_path => "AGENTS.md",
                overview => "stats/\n  core.py\ntests/\n  test_core.py",
                overview_truncated => false,
                problem => "your reply has no tool call",
                tool_names => "view_file, grep, submit",
                count => 2,
                limit => 3,
                percent => 80,
                budget => "steps",
                used => 40,
                plan => "1. read core.py\n2. fix mean\n3. run the tests",
                step => 8,
                max_steps => 50,
                tool => "run",
                arguments => r#"{"command":"pytest -q"}"#,
                findings => "- stats/core.py: the debug print is left in",
                diff => "--- a/stats/core.py\n+++ b/stats/core.py\n@@ -1 +1 @@\n-return s / (n + 1)\n+return s / n\n",
                checks => vec!["stats/core.py: debugging leftover `print(x)`"],
                dropped => 12,
                ledger => "- read stats/core.py",
                changed_files => "stats/core.py",
                transcript => "assistant: view_file stats/core.py",
                candidates => vec![
                    context! { attempt => 1, passed => 2, total => 2, votes => 2,
                        diff => "--- a/stats/core.py\n+++ b/stats/core.py\n@@ -1 +1 @@\n-return s / (n + 1)\n+return s / n\n" },
                    context! { attempt => 3, passed => 2, total => 2, votes => 1,
                        diff => "--- a/stats/core.py\n+++ b/stats/core.py\n@@ -1 +1 @@\n-return s / (n + 1)\n+return sum(v) / len(v)\n" },
                ],
                numbers => "1, 3",
            }
        };
        let mut names: Vec<&str> = EMBEDDED.iter().map(|(name, _)| *name).collect();
        names.sort();
        for name in names {
            let native = p.render(name, ctx("native", true)).unwrap();
            insta::assert_snapshot!(format!("prompt_{name}"), native);
            let text = p.render(name, ctx("text", false)).unwrap();
            if text != native {
                insta::assert_snapshot!(format!("prompt_{name}_text_mode"), text);
            }
        }
    }
}
