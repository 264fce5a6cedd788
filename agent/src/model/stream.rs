//! Streaming chat completions (`stream: true`): Server-Sent Events read as they arrive, text
//! deltas handed to a sink (the terminal), tool-call fragments joined by index, usage taken from
//! the final chunk (`stream_options.include_usage`). The per-read timeout replaces the whole-
//! request timeout, so a slow local server that keeps sending is never cut off.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::ModelError;
use super::retry::{RetryPolicy, retry_after};

/// Receives the model's text as it is generated.
pub type TextSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Joins the chunks of one streamed completion.
#[derive(Debug, Default)]
pub struct StreamAccumulator {
    content: String,
    /// index → (id, name, arguments)
    calls: BTreeMap<u64, (String, String, String)>,
    finish_reason: Option<String>,
    usage: Option<Value>,
    pub done: bool,
}

impl StreamAccumulator {
    /// Feeds one `data:` payload; returns the text delta it carried, if any.
    pub fn feed(&mut self, data: &str) -> Result<Option<String>, String> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(None);
        }
        let chunk: Value = serde_json::from_str(data).map_err(|e| {
            format!(
                "a streamed chunk is not JSON ({e}): {:?}",
                data.chars().take(120).collect::<String>()
            )
        })?;
        if let Some(message) = chunk.pointer("/error/message").and_then(Value::as_str) {
            return Err(format!("the stream ended with an error: {message}"));
        }
        if let Some(usage) = chunk.get("usage").filter(|u| !u.is_null()) {
            self.usage = Some(usage.clone());
        }
        let Some(choice) = chunk.get("choices").and_then(|c| c.get(0)) else {
            return Ok(None);
        };
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(reason.to_string());
        }
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for (position, call) in calls.iter().enumerate() {
                let index = call
                    .get("index")
                    .and_then(Value::as_u64)
                    .unwrap_or(position as u64);
                let entry = self.calls.entry(index).or_default();
                if let Some(id) = call.get("id").and_then(Value::as_str) {
                    entry.0.push_str(id);
                }
                let function = call.get("function").unwrap_or(&Value::Null);
                if let Some(name) = function.get("name").and_then(Value::as_str) {
                    entry.1.push_str(name);
                }
                match function.get("arguments") {
                    Some(Value::String(s)) => entry.2.push_str(s),
                    Some(Value::Null) | None => {}
                    Some(other) => entry.2.push_str(&other.to_string()),
                }
            }
        }
        match delta.get("content").and_then(Value::as_str) {
            Some(text) if !text.is_empty() => {
                self.content.push_str(text);
                Ok(Some(text.to_string()))
            }
            _ => Ok(None),
        }
    }

    /// The completion the chunks add up to, in the non-streaming response's shape.
    pub fn completion(&self) -> Value {
        let tool_calls: Vec<Value> = self
            .calls
            .values()
            .map(|(id, name, arguments)| {
                json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}})
            })
            .collect();
        let mut message = json!({"role": "assistant", "content": self.content});
        if !tool_calls.is_empty() {
            message["tool_calls"] = Value::Array(tool_calls);
        }
        let mut completion = json!({
            "choices": [{"message": message, "finish_reason": self.finish_reason}],
        });
        if let Some(usage) = &self.usage {
            completion["usage"] = usage.clone();
        }
        completion
    }
}

/// Splits a byte stream into SSE events' `data` payloads (lines joined with `\n`).
#[derive(Debug, Default)]
pub struct SseParser {
    buffer: Vec<u8>,
    data: Vec<String>,
}

impl SseParser {
    /// Feeds bytes; returns the payloads of the events they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() {
                    events.push(self.data.join("\n"));
                    self.data.clear();
                }
            } else if let Some(value) = line.strip_prefix("data:") {
                self.data
                    .push(value.strip_prefix(' ').unwrap_or(value).to_string());
            }
            // `event:`, `id:`, `retry:` and `:` comments carry nothing we use.
        }
        events
    }

    /// What is left when the body ends (a last event without its blank line).
    pub fn finish(&mut self) -> Option<String> {
        if !self.buffer.is_empty() {
            let rest = std::mem::take(&mut self.buffer);
            self.push(&rest);
            self.push(b"\n");
        }
        (!self.data.is_empty()).then(|| std::mem::take(&mut self.data).join("\n"))
    }
}

/// What a streaming call needs from the client.
pub struct StreamCall<'a> {
    pub http: &'a reqwest::Client,
    pub url: String,
    pub api_key: Option<&'a str>,
    pub body: Value,
    pub retry: RetryPolicy,
    pub sink: Option<&'a TextSink>,
}

/// Sends the request (retrying 429, 5xx and connection errors before the stream starts) and
/// reads the stream to its end. Returns the completion JSON and the attempts used.
pub async fn send(call: StreamCall<'_>) -> Result<(Value, u32), ModelError> {
    let mut attempt = 0u32;
    let mut response = loop {
        attempt += 1;
        let mut request = call.http.post(&call.url).json(&call.body);
        if let Some(key) = call.api_key {
            request = request.bearer_auth(key);
        }
        let can_retry = attempt <= call.retry.max_retries;
        match request.send().await {
            Ok(response) if response.status().is_success() => break response,
            Ok(response) => {
                let status = response.status();
                let wait = retry_after(response.headers())
                    .map(|d| d.min(call.retry.max_retry_after))
                    .unwrap_or_else(|| call.retry.backoff(attempt - 1));
                if can_retry && (status.as_u16() == 429 || status.is_server_error()) {
                    tokio::time::sleep(wait).await;
                    continue;
                }
                let text = response.text().await.unwrap_or_default();
                return Err(status_error(&call.url, status.as_u16(), &text));
            }
            Err(e) if can_retry && (e.is_connect() || e.is_timeout() || e.is_request()) => {
                tokio::time::sleep(call.retry.backoff(attempt - 1)).await;
            }
            Err(e) => {
                return Err(ModelError::Unreachable {
                    url: call.url.clone(),
                    attempts: attempt,
                    detail: e.to_string(),
                });
            }
        }
    };
    let mut parser = SseParser::default();
    let mut accumulator = StreamAccumulator::default();
    let malformed = |detail: String| ModelError::Malformed {
        url: call.url.clone(),
        detail,
    };
    let feed = |payload: &str, accumulator: &mut StreamAccumulator| -> Result<(), ModelError> {
        if let Some(text) = accumulator.feed(payload).map_err(malformed)?
            && let Some(sink) = call.sink
        {
            sink(&text);
        }
        Ok(())
    };
    loop {
        let chunk = response
            .chunk()
            .await
            .map_err(|e| ModelError::Unreachable {
                url: call.url.clone(),
                attempts: attempt,
                detail: format!("the stream broke off: {e}"),
            })?;
        let Some(bytes) = chunk else {
            break;
        };
        for payload in parser.push(&bytes) {
            feed(&payload, &mut accumulator)?;
        }
        if accumulator.done {
            break;
        }
    }
    if let Some(payload) = parser.finish() {
        feed(&payload, &mut accumulator)?;
    }
    Ok((accumulator.completion(), attempt))
}

fn status_error(url: &str, status: u16, body: &str) -> ModelError {
    if status == 401 || status == 403 {
        return ModelError::Auth {
            url: url.to_string(),
            status,
        };
    }
    ModelError::Http {
        url: url.to_string(),
        status,
        message: super::openai::first_line(body),
    }
}

/// The HTTP client for streaming: a connect timeout and a per-read timeout, no total timeout.
pub fn client(read_timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .read_timeout(read_timeout)
        .connect_timeout(Duration::from_secs(10))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_split_across_reads_are_joined() {
        let mut p = SseParser::default();
        assert!(p.push(b"data: {\"a\":").is_empty());
        assert_eq!(
            p.push(b"1}\r\n\r\n: keep-alive\n\ndata: [DONE]\n\n"),
            ["{\"a\":1}", "[DONE]"]
        );
    }

    #[test]
    fn text_tool_call_fragments_and_final_usage_add_up() {
        let mut a = StreamAccumulator::default();
        let chunks = [
            r#"{"choices":[{"delta":{"role":"assistant","content":"Let me "}}]}"#,
            r#"{"choices":[{"delta":{"content":"look."}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"view_file","arguments":"{\"pa"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"th\":\"x\"}"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5}}"#,
            "[DONE]",
        ];
        let mut text = String::new();
        for c in chunks {
            if let Some(t) = a.feed(c).unwrap() {
                text.push_str(&t);
            }
        }
        assert!(a.done);
        assert_eq!(text, "Let me look.");
        let v = a.completion();
        assert_eq!(v["choices"][0]["message"]["content"], "Let me look.");
        assert_eq!(
            v["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"path\":\"x\"}"
        );
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(v["usage"]["completion_tokens"], 5);
    }

    #[test]
    fn an_error_chunk_is_an_error() {
        let mut a = StreamAccumulator::default();
        assert!(a.feed(r#"{"error":{"message":"overloaded"}}"#).is_err());
    }
}
