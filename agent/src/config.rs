//! Configuration: `~/.config/agent/config.toml` < `.agent.toml` at the repo root < environment <
//! command-line flags.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use agent_harness::engines::EngineSpec;

use crate::trust::{RepoConfigFile, TrustedRepo};

pub const DEFAULT_MODEL: &str = "gpt-4o-mini";
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_PYTHON: &str = "3.11";
pub const API_KEY_ENV: &str = "OPENAI_API_KEY";
pub const BASE_URL_ENV: &str = "OPENAI_BASE_URL";
pub const MODEL_ENV: &str = "AGENT_MODEL";
/// Overrides the user config file's location (tests, unusual setups).
pub const CONFIG_PATH_ENV: &str = "AGENT_CONFIG";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "invalid config file {path}: {message} (remove or rename the key; see README.md, \"Configuration\")"
    )]
    Invalid { path: PathBuf, message: String },
    #[error(
        "no API key for {base_url}: set the {API_KEY_ENV} environment variable (or point --base-url at a local server)"
    )]
    MissingApiKey { base_url: String },
    #[error("invalid value for {what}: {message}")]
    Value { what: String, message: String },
    #[error("refusing the repository's config file {path}: {message}")]
    Untrusted { path: PathBuf, message: String },
}

/// How the model is asked to call tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ToolMode {
    /// OpenAI function calling (`tools` in the request).
    #[default]
    Native,
    /// A fenced action block in the message text, for models without tool calling.
    Text,
}

/// Where the model's commands run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum SandboxKind {
    /// A Docker container with the repository mounted, network off.
    #[default]
    Docker,
    /// The host shell, with no isolation.
    Local,
}

/// Sampling temperature sent to a local server when none is configured.
pub const LOCAL_TEMPERATURE: f32 = 0.2;
/// Most tokens per reply asked of a local server when none is configured.
pub const LOCAL_MAX_TOKENS: u32 = 2048;

/// Which prompt and tool set a run uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// `compact` when the context window is known to be at most 32k tokens, else `full`.
    #[default]
    Auto,
    /// Every tool, the full prompt.
    Full,
    /// A short prompt and a few tools, for small models and small windows.
    Compact,
}

/// Prices in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

impl Price {
    /// What `usage` costs at this price, in USD.
    pub fn cost_of(&self, usage: crate::model::Usage) -> f64 {
        (usage.prompt_tokens as f64 * self.input_per_mtok
            + usage.completion_tokens as f64 * self.output_per_mtok)
            / 1_000_000.0
    }
}

/// One layer of configuration as it appears in a file. Every field is optional so layers merge.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigLayer {
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub tool_mode: Option<ToolMode>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    pub request_timeout_secs: Option<u64>,
    pub max_retries: Option<u32>,
    pub max_steps: Option<u32>,
    pub cost_limit: Option<f64>,
    pub time_limit_secs: Option<u64>,
    /// Directory whose `*.md` files override the built-in prompt templates.
    pub prompts_dir: Option<PathBuf>,
    pub sandbox: Option<SandboxKind>,
    /// Python version of the sandbox image, e.g. "3.11".
    pub python: Option<String>,
    /// Let sandboxed commands reach the network.
    pub network: Option<bool>,
    /// Refuse edits to test files that existed before the run.
    pub protect_tests: Option<bool>,
    /// The repository's test command for `run_tests`; detected when unset.
    pub test_command: Option<String>,
    /// Ask the endpoint to stream (Server-Sent Events) instead of answering in one body.
    pub stream: Option<bool>,
    /// Prompt and tool set: `full`, `compact` (small context windows), or `auto`.
    pub profile: Option<Profile>,
    /// The model's context window in tokens; asked from the server or a table when unset.
    pub context_window: Option<u32>,
    /// Send a submit without a recorded reproduction back once.
    pub require_reproduction: Option<bool>,
    /// A review turn reads the diff on `submit` (default on).
    pub review: Option<bool>,
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
    /// Repositories whose `.agent.toml` the user trusts (`agent trust`); honoured only in the
    /// user's own config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_repos: Option<Vec<TrustedRepo>>,
    /// `agent bench` settings; honoured only in the user's own config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bench: Option<BenchLayer>,
}

/// `[bench]` in the user's config.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchLayer {
    /// `[[bench.engines]]`: the Docker engines `bench run` and `bench eval` spread a batch
    /// over (`url`, `workers`), as `--engine URL=N` does; `--engine` replaces the list. Only
    /// the user's own config may name them: the agent's workspaces go to these engines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engines: Option<Vec<EngineSpec>>,
}

impl ConfigLayer {
    /// Fields set in `over` win; price tables merge by model name.
    fn merge(mut self, over: ConfigLayer) -> ConfigLayer {
        macro_rules! take {
            ($($f:ident),*) => { $( if over.$f.is_some() { self.$f = over.$f; } )* };
        }
        take!(
            model,
            base_url,
            tool_mode,
            temperature,
            max_tokens,
            request_timeout_secs,
            max_retries,
            max_steps,
            cost_limit,
            time_limit_secs,
            prompts_dir,
            sandbox,
            python,
            network,
            protect_tests,
            test_command,
            stream,
            profile,
            context_window,
            require_reproduction,
            review,
            bench
        );
        self.prices.extend(over.prices);
        self
    }

    pub fn from_file(path: &Path) -> Result<Option<ConfigLayer>, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Self::parse(path, &text).map(Some)
    }

    /// Parses a config file's text; `path` is for the error message.
    pub fn parse(path: &Path, text: &str) -> Result<ConfigLayer, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })
    }
}

/// The resolved configuration a run uses.
#[derive(Debug, Clone)]
pub struct Config {
    pub model: String,
    pub base_url: String,
    pub api_key: Option<String>,
    pub tool_mode: ToolMode,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    pub request_timeout: Duration,
    pub max_retries: u32,
    pub max_steps: u32,
    pub cost_limit: Option<f64>,
    pub time_limit: Option<Duration>,
    pub prompts_dir: Option<PathBuf>,
    pub sandbox: SandboxKind,
    pub python: String,
    pub network: bool,
    pub protect_tests: bool,
    pub test_command: Option<String>,
    pub stream: bool,
    pub profile: Profile,
    pub context_window: Option<u32>,
    pub require_reproduction: bool,
    pub review: bool,
    pub prices: BTreeMap<String, Price>,
    /// The engines of the user's `[[bench.engines]]` (none: `DOCKER_HOST` alone).
    pub bench_engines: Vec<EngineSpec>,
}

/// Where the layers come from. Environment access is injected so tests stay hermetic.
pub struct ConfigSources<'a> {
    pub user_file: Option<PathBuf>,
    pub repo_root: Option<&'a Path>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub flags: ConfigLayer,
}

impl<'a> ConfigSources<'a> {
    pub fn user_config_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        env(CONFIG_PATH_ENV)
            .map(PathBuf::from)
            .or_else(|| dirs::config_dir().map(|d| d.join("agent").join("config.toml")))
    }
}

/// A variable of the user's environment (credentials included, see [`crate::secrets`]).
pub fn process_env(key: &str) -> Option<String> {
    crate::secrets::var(key)
}

impl Config {
    pub fn load(sources: ConfigSources<'_>) -> Result<Config, ConfigError> {
        let user_layer = match &sources.user_file {
            Some(path) => ConfigLayer::from_file(path)?.unwrap_or_default(),
            None => ConfigLayer::default(),
        };
        let trusted = user_layer.trusted_repos.clone().unwrap_or_default();
        let env_layer = ConfigLayer {
            model: (sources.env)(MODEL_ENV),
            base_url: (sources.env)(BASE_URL_ENV),
            ..ConfigLayer::default()
        };
        // Everything the user chose themselves, which the repository's file may only repeat
        // where it touches credentials or isolation.
        let users_own = user_layer
            .clone()
            .merge(env_layer.clone())
            .merge(sources.flags.clone());
        let mut layer = default_prices_layer().merge(user_layer);
        if let Some(root) = sources.repo_root
            && let Some(repo) = RepoConfigFile::read(root)?
        {
            repo.check(root, &trusted, &users_own)?;
            layer = layer.merge(repo.layer);
        }
        layer = layer.merge(env_layer).merge(sources.flags);

        let base_url = layer
            .base_url
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string())
            .trim_end_matches('/')
            .to_string();
        let api_key = (sources.env)(API_KEY_ENV);
        if api_key.is_none() && !is_local_endpoint(&base_url) {
            return Err(ConfigError::MissingApiKey { base_url });
        }
        if let Some(limit) = layer.cost_limit
            && (limit.is_nan() || limit <= 0.0)
        {
            return Err(ConfigError::Value {
                what: "cost_limit".into(),
                message: format!("{limit} is not a positive number of USD"),
            });
        }
        // Local servers default to sampling at random (llama.cpp: 0.8) and to unbounded replies;
        // tool calls from small models need neither.
        let local = is_local_endpoint(&base_url);
        let bench_engines = bench_engines(layer.bench.as_ref(), sources.user_file.as_deref())?;
        Ok(Config {
            model: layer.model.unwrap_or_else(|| DEFAULT_MODEL.to_string()),
            api_key,
            tool_mode: layer.tool_mode.unwrap_or_default(),
            temperature: layer.temperature.or(local.then_some(LOCAL_TEMPERATURE)),
            max_tokens: layer.max_tokens.or(local.then_some(LOCAL_MAX_TOKENS)),
            base_url,
            request_timeout: Duration::from_secs(layer.request_timeout_secs.unwrap_or(300)),
            max_retries: layer.max_retries.unwrap_or(5),
            max_steps: layer.max_steps.unwrap_or(50),
            cost_limit: layer.cost_limit,
            time_limit: layer.time_limit_secs.map(Duration::from_secs),
            prompts_dir: layer.prompts_dir,
            sandbox: layer.sandbox.unwrap_or_default(),
            python: layer.python.unwrap_or_else(|| DEFAULT_PYTHON.to_string()),
            network: layer.network.unwrap_or(false),
            protect_tests: layer.protect_tests.unwrap_or(false),
            test_command: layer.test_command,
            stream: layer.stream.unwrap_or(false),
            profile: layer.profile.unwrap_or_default(),
            context_window: layer.context_window,
            require_reproduction: layer.require_reproduction.unwrap_or(false),
            review: layer.review.unwrap_or(true),
            prices: layer.prices,
            bench_engines,
        })
    }

    /// The price of the configured model, if the table knows it (exact name, then the longest
    /// known prefix, so `gpt-4o-2024-08-06` finds `gpt-4o`).
    pub fn price(&self) -> Option<Price> {
        if let Some(p) = self.prices.get(&self.model) {
            return Some(*p);
        }
        self.prices
            .iter()
            .filter(|(name, _)| self.model.starts_with(name.as_str()))
            .max_by_key(|(name, _)| name.len())
            .map(|(_, p)| *p)
    }
}

/// The engines a layer names, each checked (`file` is for the error message). A repository's
/// file never gets here: [`RepoConfigFile::check`] refuses `[bench]` outright.
fn bench_engines(
    bench: Option<&BenchLayer>,
    file: Option<&Path>,
) -> Result<Vec<EngineSpec>, ConfigError> {
    let engines = bench.and_then(|b| b.engines.clone()).unwrap_or_default();
    for engine in &engines {
        engine.check().map_err(|message| ConfigError::Invalid {
            path: file.map(Path::to_path_buf).unwrap_or_default(),
            message: format!("[[bench.engines]]: {message}"),
        })?;
    }
    Ok(engines)
}

/// The engines of `[[bench.engines]]` in the user's own config file alone (for commands that
/// need no model, such as `bench eval`); no repository's file is read.
pub fn user_bench_engines(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<EngineSpec>, ConfigError> {
    let path = ConfigSources::user_config_path(env);
    let layer = match &path {
        Some(path) => ConfigLayer::from_file(path)?.unwrap_or_default(),
        None => ConfigLayer::default(),
    };
    bench_engines(layer.bench.as_ref(), path.as_deref())
}

/// Local servers (llama.cpp, Ollama, vLLM on this machine) need no key.
pub fn is_local_endpoint(base_url: &str) -> bool {
    let rest = base_url
        .strip_prefix("http://")
        .or_else(|| base_url.strip_prefix("https://"))
        .unwrap_or(base_url);
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = if host.starts_with('[') {
        host.split(']').next().unwrap_or("").trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or("")
    };
    host == "localhost" || host.starts_with("127.") || host == "::1" || host == "0.0.0.0"
}

/// Built-in list prices (USD per million tokens); users extend or override them with `[prices]`.
fn default_prices_layer() -> ConfigLayer {
    let table = [
        ("gpt-4o", 2.5, 10.0),
        ("gpt-4o-mini", 0.15, 0.6),
        ("gpt-4.1", 2.0, 8.0),
        ("gpt-4.1-mini", 0.4, 1.6),
        ("gpt-4.1-nano", 0.1, 0.4),
        ("o3", 2.0, 8.0),
        ("o4-mini", 1.1, 4.4),
    ];
    ConfigLayer {
        prices: table
            .into_iter()
            .map(|(name, input, output)| {
                (
                    name.to_string(),
                    Price {
                        input_per_mtok: input,
                        output_per_mtok: output,
                    },
                )
            })
            .collect(),
        ..ConfigLayer::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_from(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn precedence_is_file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("user.toml");
        std::fs::write(
            &user,
            "model = \"from-user\"\nmax_steps = 7\nbase_url = \"http://127.0.0.1:1/v1\"\n",
        )
        .unwrap();
        std::fs::write(dir.path().join(".agent.toml"), "model = \"from-repo\"\n").unwrap();
        let env = env_from(&[]);
        let cfg = Config::load(ConfigSources {
            user_file: Some(user.clone()),
            repo_root: Some(dir.path()),
            env: &env,
            flags: ConfigLayer::default(),
        })
        .unwrap();
        assert_eq!(cfg.model, "from-repo");
        assert_eq!(cfg.max_steps, 7);

        let env = env_from(&[("AGENT_MODEL", "from-env")]);
        let cfg = Config::load(ConfigSources {
            user_file: Some(user.clone()),
            repo_root: Some(dir.path()),
            env: &env,
            flags: ConfigLayer::default(),
        })
        .unwrap();
        assert_eq!(cfg.model, "from-env");

        let cfg = Config::load(ConfigSources {
            user_file: Some(user),
            repo_root: Some(dir.path()),
            env: &env,
            flags: ConfigLayer {
                model: Some("from-flag".into()),
                ..ConfigLayer::default()
            },
        })
        .unwrap();
        assert_eq!(cfg.model, "from-flag");
    }

    #[test]
    fn engines_come_from_the_users_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("user.toml");
        std::fs::write(
            &user,
            "base_url = \"http://127.0.0.1:1/v1\"\n[[bench.engines]]\nurl = \"unix:///a.sock\"\nworkers = 3\n[[bench.engines]]\nurl = \"tcp://10.0.0.5:2376\"\n",
        )
        .unwrap();
        let env = env_from(&[]);
        let load = |root: &Path| {
            Config::load(ConfigSources {
                user_file: Some(user.clone()),
                repo_root: Some(root),
                env: &env,
                flags: ConfigLayer::default(),
            })
        };
        let cfg = load(dir.path()).unwrap();
        let engines: Vec<(String, usize)> = cfg
            .bench_engines
            .iter()
            .map(|e| (e.url.clone(), e.workers))
            .collect();
        assert_eq!(
            engines,
            [
                ("unix:///a.sock".to_string(), 3),
                ("tcp://10.0.0.5:2376".to_string(), 1)
            ]
        );
        // A repository's file naming an engine is refused, naming the file and the fix.
        std::fs::write(
            dir.path().join(".agent.toml"),
            "[[bench.engines]]\nurl = \"tcp://203.0.113.9:2375\"\n",
        )
        .unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains(".agent.toml"), "{err}");
        assert!(
            err.contains("[bench]") && err.contains("your own config"),
            "{err}"
        );
        // Zero workers is named with the file.
        std::fs::write(
            &user,
            "[[bench.engines]]\nurl = \"unix:///a.sock\"\nworkers = 0\n",
        )
        .unwrap();
        let err =
            user_bench_engines(&|k| (k == CONFIG_PATH_ENV).then(|| user.display().to_string()))
                .unwrap_err()
                .to_string();
        assert!(err.contains("user.toml") && err.contains("N >= 1"), "{err}");
    }

    #[test]
    fn unknown_key_names_the_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".agent.toml"), "modle = \"x\"\n").unwrap();
        let env = env_from(&[("OPENAI_API_KEY", "k")]);
        let err = Config::load(ConfigSources {
            user_file: None,
            repo_root: Some(dir.path()),
            env: &env,
            flags: ConfigLayer::default(),
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("modle"), "{err}");
        assert!(err.contains(".agent.toml"), "{err}");
    }

    #[test]
    fn remote_endpoint_without_key_names_the_env_var() {
        let env = env_from(&[]);
        let err = Config::load(ConfigSources {
            user_file: None,
            repo_root: None,
            env: &env,
            flags: ConfigLayer::default(),
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("OPENAI_API_KEY"), "{err}");
    }

    #[test]
    fn local_endpoints_need_no_key() {
        assert!(is_local_endpoint("http://127.0.0.1:8080/v1"));
        assert!(is_local_endpoint("http://localhost:11434/v1"));
        assert!(is_local_endpoint("http://[::1]:8000/v1"));
        assert!(!is_local_endpoint("https://api.openai.com/v1"));
    }

    #[test]
    fn price_lookup_uses_longest_prefix_and_unknown_is_none() {
        let env = env_from(&[("OPENAI_API_KEY", "k")]);
        let mut cfg = Config::load(ConfigSources {
            user_file: None,
            repo_root: None,
            env: &env,
            flags: ConfigLayer {
                model: Some("gpt-4o-mini-2024-07-18".into()),
                ..ConfigLayer::default()
            },
        })
        .unwrap();
        assert_eq!(cfg.price().unwrap().input_per_mtok, 0.15);
        cfg.model = "my-local-model".into();
        assert!(cfg.price().is_none());
    }
}
