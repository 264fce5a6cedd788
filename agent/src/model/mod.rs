//! The model: chat messages, the `ModelClient` trait, and its OpenAI-compatible implementation.

pub mod context_window;
pub mod openai;
mod retry;
pub mod stream;
pub mod text_actions;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use thiserror::Error;

pub use openai::OpenAiCompatible;
pub use retry::RetryPolicy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// A tool call as the model wrote it. `arguments` is kept raw: it may not even be JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    pub fn system(text: impl Into<String>) -> Self {
        Self::plain(Role::System, text)
    }

    pub fn user(text: impl Into<String>) -> Self {
        Self::plain(Role::User, text)
    }

    pub fn assistant(text: impl Into<String>) -> Self {
        Self::plain(Role::Assistant, text)
    }

    pub fn tool_result(call_id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            role: Role::Tool,
            content: Some(text.into()),
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.into()),
        }
    }

    fn plain(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(text.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    pub fn text(&self) -> &str {
        self.content.as_deref().unwrap_or("")
    }

    /// The message in `/v1/chat/completions` wire format.
    pub fn to_wire(&self) -> Value {
        let mut v = json!({ "role": self.role, "content": self.content });
        if !self.tool_calls.is_empty() {
            v["tool_calls"] = self
                .tool_calls
                .iter()
                .map(|c| {
                    json!({
                        "id": c.id,
                        "type": "function",
                        "function": { "name": c.name, "arguments": c.arguments },
                    })
                })
                .collect();
        }
        if let Some(id) = &self.tool_call_id {
            v["tool_call_id"] = json!(id);
        }
        v
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

/// One chat turn to send.
#[derive(Debug, Clone)]
pub struct ChatRequest<'a> {
    pub messages: &'a [Message],
    /// OpenAI `tools` definitions; empty in text-action mode.
    pub tools: &'a [Value],
    /// Ask the server to force a tool call (`tool_choice: "required"`); clients fall back to
    /// `auto` on servers that refuse it.
    pub require_tool: bool,
}

/// What came back from one chat turn.
#[derive(Debug, Clone)]
pub struct ChatResponse {
    pub message: Message,
    pub usage: Usage,
    pub finish_reason: Option<String>,
    /// HTTP attempts this turn took (1 = no retry).
    pub attempts: u32,
}

/// Errors that end a run: the model cannot fix them by trying again.
#[derive(Debug, Clone, Error)]
pub enum ModelError {
    #[error(
        "model endpoint {url} is unreachable after {attempts} attempts: {detail}; check --base-url / OPENAI_BASE_URL and that the server is running"
    )]
    Unreachable {
        url: String,
        attempts: u32,
        detail: String,
    },
    #[error(
        "model endpoint {url} did not answer within {secs} s ({attempts} attempts): the server is up but slow; raise --request-timeout (a small model on a CPU can take minutes per reply)"
    )]
    Timeout {
        url: String,
        secs: u64,
        attempts: u32,
    },
    #[error("model endpoint {url} says the request is longer than the model's context: {message}")]
    ContextLength { url: String, message: String },
    #[error("model endpoint {url} rejected the API key ({status}): check OPENAI_API_KEY")]
    Auth { url: String, status: u16 },
    #[error("model endpoint {url} answered {status}: {message}")]
    Http {
        url: String,
        status: u16,
        message: String,
    },
    #[error("model endpoint {url} sent a response that is not a chat completion: {detail}")]
    Malformed { url: String, detail: String },
}

impl ModelError {
    /// Whether every later request to the same endpoint fails the same way (a rejected key, a
    /// server that cannot be reached), so that a batch stops instead of starting the next
    /// instance only to fail it.
    pub fn ends_every_run(&self) -> bool {
        matches!(self, Self::Auth { .. } | Self::Unreachable { .. })
    }
}

/// One chat turn with tool definitions in; assistant message, tool calls and usage out.
#[async_trait]
pub trait ModelClient: Send + Sync {
    async fn chat(&self, request: ChatRequest<'_>) -> Result<ChatResponse, ModelError>;
    fn model_name(&self) -> &str;
}
