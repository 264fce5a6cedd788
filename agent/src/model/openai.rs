//! `OpenAiCompatible`: any `/v1/chat/completions` endpoint (OpenAI, vLLM, Ollama, llama.cpp's
//! server), on async-openai with our retrying transport.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_trait::async_trait;
use serde_json::{Value, json};

use super::retry::{RetryPolicy, RetryingTransport};
use super::stream::{self, TextSink};
use super::{ChatRequest, ChatResponse, Message, ModelClient, ModelError, Role, ToolCall, Usage};

/// Settings for one endpoint.
#[derive(Debug, Clone)]
pub struct EndpointSettings {
    pub base_url: String,
    pub api_key: Option<String>,
    pub model: String,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    pub request_timeout: Duration,
    /// `stream: true`: read Server-Sent Events; `request_timeout` then bounds each read.
    pub stream: bool,
    pub retry: RetryPolicy,
}

pub struct OpenAiCompatible {
    client: Client<OpenAIConfig>,
    settings: EndpointSettings,
    attempts: Arc<AtomicU32>,
    stream_http: reqwest::Client,
    text_sink: Option<TextSink>,
    /// Set once the server refused `tool_choice: "required"`; then `auto` is sent.
    required_refused: AtomicBool,
}

impl OpenAiCompatible {
    pub fn new(settings: EndpointSettings) -> Result<Self, ModelError> {
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ModelError::Unreachable {
                url: settings.base_url.clone(),
                attempts: 0,
                detail: format!("cannot build the HTTP client: {e}"),
            })?;
        let transport = RetryingTransport::new(http, settings.retry);
        let attempts = transport.attempts_counter();
        // async-openai sends `Authorization: Bearer <key>`; local servers ignore it.
        let config = OpenAIConfig::new()
            .with_api_base(settings.base_url.clone())
            .with_api_key(
                settings
                    .api_key
                    .clone()
                    .unwrap_or_else(|| "none".to_string()),
            );
        let client = Client::with_config(config).with_http_service(transport);
        let stream_http =
            stream::client(settings.request_timeout).map_err(|e| ModelError::Unreachable {
                url: settings.base_url.clone(),
                attempts: 0,
                detail: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Self {
            client,
            settings,
            attempts,
            stream_http,
            text_sink: None,
            required_refused: AtomicBool::new(false),
        })
    }

    /// With streaming on, `sink` receives the model's text as it is generated.
    pub fn with_text_sink(mut self, sink: TextSink) -> Self {
        self.text_sink = Some(sink);
        self
    }

    async fn chat_streaming(&self, request: &ChatRequest<'_>) -> Result<ChatResponse, ModelError> {
        let url = format!("{}/chat/completions", self.settings.base_url);
        let mut body = self.request_body(request);
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
        let (completion, attempts) = stream::send(stream::StreamCall {
            http: &self.stream_http,
            url: url.clone(),
            api_key: self.settings.api_key.as_deref(),
            body,
            retry: self.settings.retry,
            sink: self.text_sink.as_ref(),
        })
        .await?;
        parse_completion(&completion, attempts)
            .map_err(|detail| ModelError::Malformed { url, detail })
    }

    fn request_body(&self, request: &ChatRequest<'_>) -> Value {
        let mut body = json!({
            "model": self.settings.model,
            "messages": request.messages.iter().map(Message::to_wire).collect::<Vec<_>>(),
            "stream": false,
        });
        if !request.tools.is_empty() {
            body["tools"] = Value::Array(request.tools.to_vec());
            let required = request.require_tool && !self.required_refused.load(Ordering::Relaxed);
            body["tool_choice"] = json!(if required { "required" } else { "auto" });
        }
        if let Some(t) = self.settings.temperature {
            // Through its shortest decimal form, so 0.2 goes out as 0.2, not 0.20000000298.
            let t: f64 = t.to_string().parse().unwrap_or(f64::from(t));
            body["temperature"] = json!(t);
        }
        if let Some(m) = self.settings.max_tokens {
            body["max_tokens"] = json!(m);
        }
        body
    }

    fn map_error(&self, err: OpenAIError) -> ModelError {
        let url = format!("{}/chat/completions", self.settings.base_url);
        let attempts = self.attempts.load(Ordering::Relaxed);
        match err {
            OpenAIError::ApiError(api) => {
                let status = api.status_code.as_u16();
                let message = first_line(&api.api_error.message);
                if status == 401 || status == 403 {
                    ModelError::Auth { url, status }
                } else if is_context_length_error(&message, api.api_error.code.as_deref()) {
                    ModelError::ContextLength { url, message }
                } else {
                    ModelError::Http {
                        url,
                        status,
                        message,
                    }
                }
            }
            OpenAIError::Reqwest(e) if e.is_timeout() => ModelError::Timeout {
                url,
                secs: self.settings.request_timeout.as_secs(),
                attempts,
            },
            OpenAIError::Reqwest(e) => ModelError::Unreachable {
                url,
                attempts,
                detail: error_chain(&e),
            },
            OpenAIError::JSONDeserialize(e, content) => ModelError::Malformed {
                url,
                detail: format!(
                    "{e}; body starts with {:?}",
                    content.chars().take(120).collect::<String>()
                ),
            },
            other => ModelError::Unreachable {
                url,
                attempts,
                detail: other.to_string(),
            },
        }
    }
}

#[async_trait]
impl ModelClient for OpenAiCompatible {
    async fn chat(&self, request: ChatRequest<'_>) -> Result<ChatResponse, ModelError> {
        if self.settings.stream {
            return self.chat_streaming(&request).await;
        }
        let mut body = self.request_body(&request);
        // A 200 whose body is not JSON is usually a proxy hiccup: try it again a few times.
        let mut malformed_tries = 0;
        loop {
            let result: Result<Value, OpenAIError> = self.client.chat().create_byot(&body).await;
            match result {
                Ok(value) => {
                    let attempts = self.attempts.load(Ordering::Relaxed);
                    return parse_completion(&value, attempts).map_err(|detail| {
                        ModelError::Malformed {
                            url: format!("{}/chat/completions", self.settings.base_url),
                            detail,
                        }
                    });
                }
                Err(OpenAIError::ApiError(api))
                    if body["tool_choice"] == "required"
                        && api.status_code.as_u16() == 400
                        && api.api_error.message.contains("tool_choice") =>
                {
                    tracing::warn!("the server refused tool_choice=required; sending auto");
                    self.required_refused.store(true, Ordering::Relaxed);
                    body["tool_choice"] = json!("auto");
                }
                Err(OpenAIError::JSONDeserialize(..)) if malformed_tries < 2 => {
                    malformed_tries += 1;
                    tracing::warn!("model endpoint sent malformed JSON; asking again");
                }
                Err(e) => return Err(self.map_error(e)),
            }
        }
    }

    fn model_name(&self) -> &str {
        &self.settings.model
    }
}

/// Reads a chat completion tolerantly: servers differ in which optional fields they send.
fn parse_completion(value: &Value, attempts: u32) -> Result<ChatResponse, String> {
    let choice = value
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| "no `choices[0]` in the response".to_string())?;
    let message = choice
        .get("message")
        .ok_or_else(|| "no `choices[0].message` in the response".to_string())?;
    let content = message
        .get("content")
        .and_then(Value::as_str)
        .map(str::to_string)
        .filter(|s| !s.is_empty());
    let mut tool_calls = Vec::new();
    if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
        for (i, call) in calls.iter().enumerate() {
            let function = call.get("function").unwrap_or(&Value::Null);
            let name = function
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let arguments = match function.get("arguments") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                // Some servers send the arguments as an object rather than a JSON string.
                Some(other) => other.to_string(),
            };
            let id = call
                .get("id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| format!("call_{i}"));
            tool_calls.push(ToolCall {
                id,
                name,
                arguments,
            });
        }
    }
    let usage = value.get("usage").map(|u| Usage {
        prompt_tokens: u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
        completion_tokens: u
            .get("completion_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    });
    Ok(ChatResponse {
        message: Message {
            role: Role::Assistant,
            content,
            tool_calls,
            tool_call_id: None,
        },
        usage: usage.unwrap_or_default(),
        finish_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
        attempts,
    })
}

/// Whether an error message is a provider's "the prompt is too long" (OpenAI's code, vLLM's and
/// llama.cpp's wording).
pub fn is_context_length_error(message: &str, code: Option<&str>) -> bool {
    let m = message.to_ascii_lowercase();
    code == Some("context_length_exceeded")
        || m.contains("context length")
        || m.contains("context_length")
        || m.contains("context size")
        || m.contains("context window")
        || m.contains("maximum context")
        || m.contains("too many tokens")
}

pub(super) fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    // Error bodies are often JSON: pull out `error.message` when present.
    parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message").and_then(Value::as_str))
        .map(str::to_string)
        .unwrap_or_else(|| line.chars().take(300).collect())
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tool_calls_with_string_or_object_arguments() {
        let v = json!({"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[
            {"id":"a","type":"function","function":{"name":"view_file","arguments":"{\"path\":\"x\"}"}},
            {"type":"function","function":{"name":"run","arguments":{"command":"ls"}}}
        ]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":10,"completion_tokens":3}});
        let r = parse_completion(&v, 1).unwrap();
        assert_eq!(r.message.tool_calls.len(), 2);
        assert_eq!(r.message.tool_calls[0].arguments, "{\"path\":\"x\"}");
        assert_eq!(r.message.tool_calls[1].id, "call_1");
        assert_eq!(r.message.tool_calls[1].arguments, "{\"command\":\"ls\"}");
        assert_eq!(r.usage.prompt_tokens, 10);
    }

    #[test]
    fn missing_choices_is_an_error() {
        assert!(parse_completion(&json!({"object":"list"}), 1).is_err());
    }
}
