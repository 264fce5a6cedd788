//! How a run is shaped for its model: the client, the context window, the profile (full or
//! compact) and the tools that go with it.

use crate::config::{Config, Profile};
use crate::model::context_window;
use crate::model::openai::EndpointSettings;
use crate::model::{ModelError, OpenAiCompatible, RetryPolicy};

/// The model client the config describes.
pub fn model_client(config: &Config) -> Result<OpenAiCompatible, ModelError> {
    OpenAiCompatible::new(EndpointSettings {
        base_url: config.base_url.clone(),
        api_key: config.api_key.clone(),
        model: config.model.clone(),
        temperature: config.temperature,
        max_tokens: config.max_tokens,
        request_timeout: config.request_timeout,
        stream: config.stream,
        retry: RetryPolicy {
            max_retries: config.max_retries,
            ..RetryPolicy::default()
        },
    })
}

/// The tools of the compact profile: enough to find, reproduce, fix and submit.
pub const COMPACT_TOOLS: &[&str] = &[
    "view_file",
    "grep",
    "str_replace",
    "create_file",
    "run",
    "run_tests",
    "submit",
];
/// Windows up to this many tokens get the compact profile under `--profile auto`.
pub const COMPACT_WINDOW_TOKENS: u32 = 32_768;

/// How a run is shaped for its model: the profile in effect and the context window.
#[derive(Debug, Clone, Copy)]
pub struct RunShape {
    pub compact: bool,
    pub context_window: Option<u32>,
}

/// The context window (config, else the server, else the table) and the profile it implies.
pub async fn run_shape(config: &Config) -> RunShape {
    let context_window = match config.context_window {
        Some(n) => Some(n),
        None => {
            context_window::from_server(&config.base_url, config.api_key.as_deref(), &config.model)
                .await
                .or_else(|| context_window::from_table(&config.model))
        }
    };
    let compact = match config.profile {
        Profile::Compact => true,
        Profile::Full => false,
        Profile::Auto => context_window.is_some_and(|n| n <= COMPACT_WINDOW_TOKENS),
    };
    RunShape {
        compact,
        context_window,
    }
}

/// The tools of a run: the built-in set, `ask_clarification`, the configured test command,
/// cut to [`COMPACT_TOOLS`] for the compact profile.
pub fn registry(config: &Config, shape: RunShape) -> agent_tools::ToolRegistry {
    let mut registry = agent_tools::builtin::default_registry();
    registry.register(agent_tools::clarify::AskClarification);
    if let Some(command) = &config.test_command {
        registry.register(agent_tools::testing::RunTests::with_command(
            command.clone(),
        ));
    }
    if shape.compact {
        registry.retain(COMPACT_TOOLS);
    }
    registry
}
