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
}
