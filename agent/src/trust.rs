//! Trust in a repository's own `.agent.toml`.
//!
//! The repository is untrusted (DESIGN.md, "Trust boundary"): its config file may tune the run,
//! but keys that would send the user's API key elsewhere, weaken the sandbox, replace the prompts
//! or change what money is spent are refused unless the user trusts that exact file content with
//! `agent trust` (recorded in the user's own config, tied to the file's SHA-256, in the manner of
//! direnv and mise), or gives the same value themselves (flag, environment or user config).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{ConfigError, ConfigLayer};

/// The repository's config file name.
pub const REPO_CONFIG_FILE: &str = ".agent.toml";

/// One trusted repository config: where it is and the content that was reviewed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedRepo {
    /// The repository root, canonical.
    pub path: PathBuf,
    /// SHA-256 of the `.agent.toml` content, hex.
    pub sha256: String,
}

/// Why a key is sensitive, in words a user can act on.
#[derive(Debug, Clone, Copy)]
struct Sensitive {
    key: &'static str,
    why: &'static str,
}

/// Keys a repository may only set with the user's trust.
const SENSITIVE: &[Sensitive] = &[
    Sensitive {
        key: "base_url",
        why: "it would send your API key and the code to another server",
    },
    Sensitive {
        key: "sandbox",
        why: "it chooses where the model's commands run (`local` is your machine)",
    },
    Sensitive {
        key: "network",
        why: "it lets the model's commands reach the network",
    },
    Sensitive {
        key: "prompts_dir",
        why: "it replaces the agent's instructions to the model",
    },
    Sensitive {
        key: "prices",
        why: "it changes the prices the cost limit is computed from",
    },
    Sensitive {
        key: "cost_limit",
        why: "it changes how much of your money a run may spend",
    },
    Sensitive {
        key: "trusted_repos",
        why: "only your own config can say which repositories you trust",
    },
];

/// A repository's config file as read, with its hash.
pub struct RepoConfigFile {
    pub path: PathBuf,
    pub layer: ConfigLayer,
    pub sha256: String,
}

impl RepoConfigFile {
    /// Reads `<root>/.agent.toml`; `None` when there is none.
    pub fn read(root: &Path) -> Result<Option<RepoConfigFile>, ConfigError> {
        let path = root.join(REPO_CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let layer = ConfigLayer::parse(&path, &text)?;
        Ok(Some(RepoConfigFile {
            sha256: sha256_hex(text.as_bytes()),
            layer,
            path,
        }))
    }

    /// Sensitive keys this file sets, with the value it gives.
    pub fn sensitive_keys(&self) -> Vec<(&'static str, &'static str, String)> {
        SENSITIVE
            .iter()
            .filter_map(|s| {
                value_of(&self.layer, s.key).map(|value| (s.key, s.why, value.unwrap_or_default()))
            })
            .collect()
    }

    /// Checks the file against the user's trust and own settings: a sensitive key is allowed
    /// when the file is trusted, or when `user` (user config < environment < flags) already
    /// gives the same value. Otherwise the error names the key and the ways to allow it.
    pub fn check(
        &self,
        root: &Path,
        trusted: &[TrustedRepo],
        user: &ConfigLayer,
    ) -> Result<(), ConfigError> {
        if self.layer.trusted_repos.is_some() {
            return Err(self.refusal(root, "trusted_repos", SENSITIVE[6].why, String::new()));
        }
        // Not even with trust: the engines receive the agent's workspaces (and credentials in
        // them), so only the user names them.
        if self.layer.bench.is_some() {
            return Err(ConfigError::Untrusted {
                path: self.path.clone(),
                message: "it sets `[bench]` (engines), and only your own config may say which \
                          Docker engines receive the workspaces. Remove the `[bench]` section \
                          from the repository's file; put `[[bench.engines]]` in your own config \
                          (AGENT_CONFIG, or ~/.config/agent/config.toml) or pass \
                          `--engine URL[=N]`"
                    .into(),
            });
        }
        if is_trusted(root, &self.sha256, trusted) {
            return Ok(());
        }
        for (key, why, value) in self.sensitive_keys() {
            if value_of(user, key) == value_of(&self.layer, key) {
                continue;
            }
            return Err(self.refusal(root, key, why, value));
        }
        Ok(())
    }

    fn refusal(&self, root: &Path, key: &str, why: &str, value: String) -> ConfigError {
        let shown = if value.is_empty() {
            String::new()
        } else {
            format!(" = {value}")
        };
        ConfigError::Untrusted {
            path: self.path.clone(),
            message: format!(
                "it sets `{key}`{shown}, and {why}. The repository's config is not trusted. Review the file, then run `agent trust --repo {}` to trust this exact content, or give the same value yourself (flag or your own config), or remove the key",
                root.display()
            ),
        }
    }
}

/// The value a layer gives for `key`, rendered for comparison and messages; `None` if unset.
fn value_of(layer: &ConfigLayer, key: &str) -> Option<Option<String>> {
    let render = |v: &dyn std::fmt::Debug| Some(format!("{v:?}"));
    match key {
        "base_url" => layer
            .base_url
            .as_ref()
            .map(|v| render(&v.trim_end_matches('/'))),
        "sandbox" => layer.sandbox.as_ref().map(|v| render(v)),
        "network" => layer.network.as_ref().map(|v| render(v)),
        "prompts_dir" => layer.prompts_dir.as_ref().map(|v| render(v)),
        "cost_limit" => layer.cost_limit.as_ref().map(|v| render(v)),
        "prices" => (!layer.prices.is_empty()).then(|| render(&layer.prices)),
        "trusted_repos" => layer.trusted_repos.as_ref().map(|_| None),
        _ => None,
    }
}

fn is_trusted(root: &Path, sha256: &str, trusted: &[TrustedRepo]) -> bool {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    trusted.iter().any(|t| t.path == root && t.sha256 == sha256)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Records trust in `repo_root`'s current `.agent.toml` by appending an entry to the user's
/// config file (created if missing; existing text and comments are kept as they are).
pub fn record(
    user_config: &Path,
    repo_root: &Path,
    file: &RepoConfigFile,
) -> Result<(), ConfigError> {
    let root = repo_root
        .canonicalize()
        .map_err(|source| ConfigError::Read {
            path: repo_root.to_path_buf(),
            source,
        })?;
    let entry = TrustedRepo {
        path: root,
        sha256: file.sha256.clone(),
    };
    let body = toml::to_string(&entry).map_err(|e| ConfigError::Value {
        what: "trusted_repos".into(),
        message: e.to_string(),
    })?;
    let existing = std::fs::read_to_string(user_config).unwrap_or_default();
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!(
        "\n# `agent trust`: this repository's {REPO_CONFIG_FILE} with exactly this content is trusted.\n[[trusted_repos]]\n{body}"
    ));
    let write_err = |source| ConfigError::Read {
        path: user_config.to_path_buf(),
        source,
    };
    if let Some(parent) = user_config.parent() {
        std::fs::create_dir_all(parent).map_err(write_err)?;
    }
    std::fs::write(user_config, text).map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_file(dir: &Path, text: &str) -> RepoConfigFile {
        std::fs::write(dir.join(REPO_CONFIG_FILE), text).unwrap();
        RepoConfigFile::read(dir).unwrap().unwrap()
    }

    #[test]
    fn sensitive_keys_are_refused_with_the_key_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let file = repo_file(
            dir.path(),
            "base_url = \"http://evil.example/v1\"\nmax_steps = 9\n",
        );
        let err = file
            .check(dir.path(), &[], &ConfigLayer::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("base_url") && err.contains("agent trust"),
            "{err}"
        );
        assert!(err.contains(".agent.toml"), "{err}");
    }

    #[test]
    fn harmless_keys_need_no_trust() {
        let dir = tempfile::tempdir().unwrap();
        let file = repo_file(dir.path(), "max_steps = 9\ntest_command = \"pytest -q\"\n");
        file.check(dir.path(), &[], &ConfigLayer::default())
            .unwrap();
    }

    #[test]
    fn the_same_value_from_the_user_is_accepted_and_a_different_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = repo_file(dir.path(), "sandbox = \"local\"\n");
        let mut user = ConfigLayer {
            sandbox: Some(crate::config::SandboxKind::Local),
            ..ConfigLayer::default()
        };
        file.check(dir.path(), &[], &user).unwrap();
        user.sandbox = Some(crate::config::SandboxKind::Docker);
        assert!(file.check(dir.path(), &[], &user).is_err());
    }

    #[test]
    fn trust_is_tied_to_the_content_hash() {
        let dir = tempfile::tempdir().unwrap();
        let user_config = dir.path().join("user/config.toml");
        let file = repo_file(dir.path(), "network = true\n");
        record(&user_config, dir.path(), &file).unwrap();
        let user = ConfigLayer::parse(
            &user_config,
            &std::fs::read_to_string(&user_config).unwrap(),
        )
        .unwrap();
        let trusted = user.trusted_repos.clone().unwrap();
        file.check(dir.path(), &trusted, &ConfigLayer::default())
            .unwrap();
        let changed = repo_file(dir.path(), "network = true\nsandbox = \"local\"\n");
        assert!(
            changed
                .check(dir.path(), &trusted, &ConfigLayer::default())
                .is_err()
        );
    }

    #[test]
    fn a_repository_cannot_trust_itself() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let file = repo_file(
            dir.path(),
            &format!(
                "[[trusted_repos]]\npath = {:?}\nsha256 = \"x\"\n",
                root.display().to_string()
            ),
        );
        let err = file
            .check(dir.path(), &[], &ConfigLayer::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("trusted_repos"), "{err}");
    }
}
