//! A scripted OpenAI-compatible `/v1/chat/completions` server on 127.0.0.1.
//!
//! It answers each request with the next reply of its script (tool calls, text, an HTTP error,
//! a malformed body) and records every request body so tests can assert on what the agent sent.
//! It runs on its own thread and runtime, so both sync and async tests can use it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// An assistant message with tool calls: (name, raw arguments string). `content` may be set.
    ToolCalls {
        content: Option<String>,
        calls: Vec<(String, String)>,
    },
    /// An assistant message with text only.
    Text(String),
    /// An HTTP error status with an optional `Retry-After` header.
    Status {
        code: u16,
        retry_after: Option<String>,
        body: String,
    },
    /// HTTP 200 with a body that is not JSON.
    MalformedBody(String),
    /// Waits, then sends the inner reply.
    Delayed(Duration, Box<Reply>),
}

impl Reply {
    /// A single tool call with JSON arguments.
    pub fn tool(name: &str, args: Value) -> Reply {
        Reply::ToolCalls {
            content: None,
            calls: vec![(name.to_string(), args.to_string())],
        }
    }

    /// Reasoning text plus a tool call, as a model's first turn often looks.
    pub fn think_then_tool(text: &str, name: &str, args: Value) -> Reply {
        Reply::ToolCalls {
            content: Some(text.to_string()),
            calls: vec![(name.to_string(), args.to_string())],
        }
    }

    /// A tool call whose arguments are sent verbatim (e.g. broken JSON).
    pub fn raw_tool(name: &str, raw_args: &str) -> Reply {
        Reply::ToolCalls {
            content: None,
            calls: vec![(name.to_string(), raw_args.to_string())],
        }
    }

    pub fn status(code: u16) -> Reply {
        Reply::Status {
            code,
            retry_after: None,
            body: json!({"error": {"message": format!("scripted status {code}"), "type": "server_error"}}).to_string(),
        }
    }

    pub fn rate_limited(retry_after_secs: u64) -> Reply {
        Reply::Status {
            code: 429,
            retry_after: Some(retry_after_secs.to_string()),
            body: json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}).to_string(),
        }
    }
}

/// How the agent's review turn starts (`prompts/review_system.md`): such requests are answered
/// by the reviewer script, `VERDICT: ok` when it is empty, and kept apart from `requests()`.
pub const REVIEW_MARKER: &str = "You review a change";

/// How the selection's judge starts (`prompts/judge_system.md`): such requests are answered by
/// the judge script (an HTTP 400 when it is exhausted) and kept apart from `requests()`.
pub const JUDGE_MARKER: &str = "You compare candidate changes";

/// Everything a server answers with.
#[derive(Debug, Clone, Default)]
pub struct Scripts {
    /// For requests no key claims, in order.
    pub main: Vec<Reply>,
    /// Conversations by key: a request whose first user message (the task, which names the
    /// repository the attempt works in) holds the key, not followed by a letter or digit, is
    /// answered from that key's script. Parallel attempts each get their own.
    pub keyed: Vec<(String, Vec<Reply>)>,
    /// Review turns, in order (then `VERDICT: ok`).
    pub reviews: Vec<Reply>,
    /// Judge turns, in order.
    pub judges: Vec<Reply>,
}

struct Shared {
    script: Mutex<VecDeque<Reply>>,
    keyed: Mutex<Vec<(String, VecDeque<Reply>)>>,
    keyed_requests: Mutex<Vec<(String, Value)>>,
    reviews: Mutex<VecDeque<Reply>>,
    review_requests: Mutex<Vec<Value>>,
    judges: Mutex<VecDeque<Reply>>,
    judge_requests: Mutex<Vec<Value>>,
    requests: Mutex<Vec<Value>>,
    counter: Mutex<u64>,
}

pub struct ScriptedServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ScriptedServer {
    pub fn start(script: Vec<Reply>) -> std::io::Result<ScriptedServer> {
        Self::start_with_reviews(script, Vec::new())
    }

    /// A server whose review requests get `reviews` in order (then `VERDICT: ok`).
    pub fn start_with_reviews(
        script: Vec<Reply>,
        reviews: Vec<Reply>,
    ) -> std::io::Result<ScriptedServer> {
        Self::start_scripts(Scripts {
            main: script,
            reviews,
            ..Scripts::default()
        })
    }

    /// A server with keyed conversations and a judge script beside the main one.
    pub fn start_scripts(scripts: Scripts) -> std::io::Result<ScriptedServer> {
        let shared = Arc::new(Shared {
            script: Mutex::new(scripts.main.into()),
            keyed: Mutex::new(
                scripts
                    .keyed
                    .into_iter()
                    .map(|(k, s)| (k, s.into()))
                    .collect(),
            ),
            keyed_requests: Mutex::new(Vec::new()),
            reviews: Mutex::new(scripts.reviews.into()),
            review_requests: Mutex::new(Vec::new()),
            judges: Mutex::new(scripts.judges.into()),
            judge_requests: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            counter: Mutex::new(0),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/chat/completions", post(chat))
            .with_state(Arc::clone(&shared));
        let thread = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
            });
        });
        Ok(ScriptedServer {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The base URL to give the agent, ending in `/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request body received so far, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.shared
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Every review request received so far (not part of [`ScriptedServer::requests`]).
    pub fn review_requests(&self) -> Vec<Value> {
        self.shared
            .review_requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Every judge request received so far (not part of [`ScriptedServer::requests`]).
    pub fn judge_requests(&self) -> Vec<Value> {
        self.shared
            .judge_requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// The requests answered from the script of `key`, in order.
    pub fn keyed_requests(&self, key: &str) -> Vec<Value> {
        self.shared
            .keyed_requests
            .lock()
            .map(|r| {
                r.iter()
                    .filter(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Replies not yet used in the script of `key`.
    pub fn remaining_for(&self, key: &str) -> usize {
        self.shared
            .keyed
            .lock()
            .map(|k| {
                k.iter()
                    .find(|(name, _)| name == key)
                    .map_or(0, |(_, s)| s.len())
            })
            .unwrap_or(0)
    }

    /// The last message of request `index` (usually the observation the agent just sent), or
    /// `Null` when there is no such request.
    pub fn last_message(&self, index: usize) -> Value {
        self.requests()
            .get(index)
            .and_then(|r| r["messages"].as_array().and_then(|m| m.last().cloned()))
            .unwrap_or(Value::Null)
    }

    /// Replies not yet used.
    pub fn remaining(&self) -> usize {
        self.shared.script.lock().map(|s| s.len()).unwrap_or(0)
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn chat(State(shared): State<Arc<Shared>>, body: String) -> Response {
    let parsed: Value =
        serde_json::from_str(&body).unwrap_or_else(|_| json!({"unparsable_body": body}));
    let is_review = parsed["messages"][0]["content"]
        .as_str()
        .is_some_and(|c| c.starts_with(REVIEW_MARKER));
    if is_review {
        if let Ok(mut r) = shared.review_requests.lock() {
            r.push(parsed.clone());
        }
        let reply = shared
            .reviews
            .lock()
            .ok()
            .and_then(|mut s| s.pop_front())
            .unwrap_or_else(|| Reply::Text("VERDICT: ok".into()));
        return respond(reply, 0, "reviewer", None).await;
    }
    let is_judge = parsed["messages"][0]["content"]
        .as_str()
        .is_some_and(|c| c.starts_with(JUDGE_MARKER));
    if is_judge {
        if let Ok(mut r) = shared.judge_requests.lock() {
            r.push(parsed.clone());
        }
        return match shared.judges.lock().ok().and_then(|mut s| s.pop_front()) {
            Some(reply) => respond(reply, 0, "judge", None).await,
            None => exhausted("judge"),
        };
    }
    if let Ok(mut r) = shared.requests.lock() {
        r.push(parsed.clone());
    }
    let key = conversation_key(&shared, &parsed);
    let next = match &key {
        Some(key) => {
            if let Ok(mut r) = shared.keyed_requests.lock() {
                r.push((key.clone(), parsed.clone()));
            }
            shared.keyed.lock().ok().and_then(|mut k| {
                k.iter_mut()
                    .find(|(name, _)| name == key)
                    .and_then(|(_, s)| s.pop_front())
            })
        }
        None => shared.script.lock().ok().and_then(|mut s| s.pop_front()),
    };
    let n = shared
        .counter
        .lock()
        .map(|mut c| {
            *c += 1;
            *c
        })
        .unwrap_or(0);
    let model = parsed["model"].as_str().unwrap_or("scripted").to_string();
    // `stream: true` gets Server-Sent Events, with usage in a last chunk when asked for.
    let stream =
        (parsed["stream"] == true).then(|| parsed["stream_options"]["include_usage"] == true);
    match next {
        Some(reply) => respond(reply, n, &model, stream).await,
        None => exhausted(key.as_deref().unwrap_or("main")),
    }
}

fn exhausted(which: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        json!({"error": {"message": format!("the scripted server's {which} script is exhausted"), "type": "invalid_request_error"}}).to_string(),
    )
        .into_response()
}

/// The key whose script answers `request`: the first key its first user message holds, not
/// followed by a letter or digit.
fn conversation_key(shared: &Shared, request: &Value) -> Option<String> {
    let task = request["messages"]
        .as_array()?
        .iter()
        .find(|m| m["role"] == "user")?["content"]
        .as_str()?
        .to_string();
    let keys = shared.keyed.lock().ok()?;
    keys.iter()
        .map(|(k, _)| k)
        .find(|key| {
            task.match_indices(key.as_str()).any(|(at, _)| {
                !task[at + key.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric())
            })
        })
        .cloned()
}

fn respond(
    reply: Reply,
    n: u64,
    model: &str,
    stream: Option<bool>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send + '_>> {
    Box::pin(async move {
        match reply {
            Reply::Delayed(d, inner) => {
                tokio::time::sleep(d).await;
                respond(*inner, n, model, stream).await
            }
            Reply::Status {
                code,
                retry_after,
                body,
            } => {
                let mut headers = HeaderMap::new();
                headers.insert("content-type", HeaderValue::from_static("application/json"));
                if let Some(ra) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
                    headers.insert("retry-after", ra);
                }
                let status =
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                (status, headers, body).into_response()
            }
            Reply::MalformedBody(text) => {
                (StatusCode::OK, [("content-type", "application/json")], text).into_response()
            }
            Reply::Text(text) => completion(
                n,
                model,
                json!({"role": "assistant", "content": text}),
                "stop",
                stream,
            ),
            Reply::ToolCalls { content, calls } => {
                let tool_calls: Vec<Value> = calls
                    .iter()
                    .enumerate()
                    .map(|(i, (name, args))| {
                        json!({"id": format!("call_{n}_{i}"), "type": "function", "function": {"name": name, "arguments": args}})
                    })
                    .collect();
                completion(
                    n,
                    model,
                    json!({"role": "assistant", "content": content, "tool_calls": tool_calls}),
                    "tool_calls",
                    stream,
                )
            }
        }
    })
}

fn completion(n: u64, model: &str, message: Value, finish: &str, stream: Option<bool>) -> Response {
    if let Some(include_usage) = stream {
        return sse(n, model, &message, finish, include_usage);
    }
    let body = json!({
        "id": format!("chatcmpl-{n}"),
        "object": "chat.completion",
        "created": 1_700_000_000u64 + n,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100},
    });
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The same completion as Server-Sent Events: the text in small pieces, each tool call's
/// arguments in two fragments, the finish reason, then usage (when asked for) and `[DONE]`.
fn sse(n: u64, model: &str, message: &Value, finish: &str, include_usage: bool) -> Response {
    let chunk = |choices: Value| json!({"id": format!("chatcmpl-{n}"), "object": "chat.completion.chunk", "model": model, "choices": choices});
    let mut chunks = vec![chunk(json!([{"index": 0, "delta": {"role": "assistant"}}]))];
    let text: Vec<char> = message["content"].as_str().unwrap_or("").chars().collect();
    for piece in text.chunks(8) {
        let piece: String = piece.iter().collect();
        chunks.push(chunk(json!([{"index": 0, "delta": {"content": piece}}])));
    }
    for (i, call) in message["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let args: Vec<char> = call["function"]["arguments"]
            .as_str()
            .unwrap_or("")
            .chars()
            .collect();
        let (first, rest) = args.split_at(args.len() / 2);
        chunks.push(chunk(json!([{"index": 0, "delta": {"tool_calls": [{"index": i, "id": call["id"], "type": "function",
            "function": {"name": call["function"]["name"], "arguments": first.iter().collect::<String>()}}]}}])));
        chunks.push(chunk(
            json!([{"index": 0, "delta": {"tool_calls": [{"index": i,
            "function": {"arguments": rest.iter().collect::<String>()}}]}}]),
        ));
    }
    chunks.push(chunk(
        json!([{"index": 0, "delta": {}, "finish_reason": finish}]),
    ));
    if include_usage {
        let mut last = chunk(json!([]));
        last["usage"] =
            json!({"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100});
        chunks.push(last);
    }
    let mut body: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    body.push_str("data: [DONE]\n\n");
    (
        StatusCode::OK,
        [("content-type", "text/event-stream")],
        body,
    )
        .into_response()
}
