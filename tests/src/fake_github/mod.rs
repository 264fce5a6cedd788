//! A local fake of the GitHub REST API (the endpoints the agent uses) plus a smart-HTTP git
//! server for bare repositories, on 127.0.0.1.
//!
//! API (under `/api/v3`, like GitHub Enterprise): repository, issues (with 301 for transferred
//! ones), issue comments (list with pages, create, edit), pull requests (list filtered by
//! `head` and `state`, create — refusing a second open one for the same head, as GitHub does —
//! and edit), collaborator permission (a role per user), and `GET /user` for the token's own
//! account: a user's token (login `agent-bot` unless [`FakeGitHub::set_token_login`]) or,
//! after [`FakeGitHub::use_integration_token`], an installation token like Actions'
//! `GITHUB_TOKEN` (403 "Resource not accessible by integration"; comments authored by
//! `github-actions[bot]`). Authors' `type` is `Bot` for `…[bot]` logins, `User` otherwise, as on
//! GitHub, where no user may take a name with brackets. Every answer carries `x-ratelimit-*`
//! headers; faults (a 403/429 with `retry-after`, a 500) can be queued per endpoint. Every
//! request is recorded.
//!
//! Git (under `/git/<owner>/<name>.git`): the real `git http-backend` serves bare repositories
//! in a temp dir, so pushes run the repository's hooks, and it demands HTTP Basic auth whose
//! password is the token, so a push only works through the client's credential callback.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

mod api;
mod git;
mod tls;

/// An issue (or, with `pull_request`, a pull request seen through the issues API).
#[derive(Debug, Clone, Default)]
pub struct FakeIssue {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub author: String,
    pub labels: Vec<String>,
    pub pull_request: bool,
    /// Moved to (`owner/name`, number): GitHub answers with a redirect there.
    pub transferred_to: Option<(String, u64)>,
}

impl FakeIssue {
    pub fn new(number: u64, title: &str, body: &str) -> Self {
        Self {
            number,
            title: title.into(),
            body: body.into(),
            author: "alice".into(),
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeComment {
    pub id: u64,
    pub issue: u64,
    pub author: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakePull {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    pub state: String,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path without the `/api/v3` prefix (git requests keep their `/git/...` path).
    pub path: String,
    pub query: String,
    pub body: Value,
    /// Whether it carried the expected token.
    pub authorized: bool,
}

#[derive(Debug, Clone)]
struct Fault {
    method: String,
    path_suffix: String,
    status: u16,
    headers: Vec<(String, String)>,
    remaining: usize,
}

#[derive(Debug, Default)]
struct FakeRepo {
    issues: BTreeMap<u64, FakeIssue>,
    pulls: Vec<FakePull>,
    /// Login → role: admin, maintain, write, triage or read.
    roles: BTreeMap<String, String>,
    /// The `permissions.push` the repository endpoint reports for the token.
    token_can_push: bool,
}

/// Whom the token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenAccount {
    /// A personal (or fine-grained, or OAuth) token: `GET /user` names this login.
    User(String),
    /// An installation token: `GET /user` is refused, comments are by `github-actions[bot]`.
    Integration,
}

impl TokenAccount {
    /// The login the token's comments are authored by.
    pub fn login(&self) -> String {
        match self {
            TokenAccount::User(login) => login.clone(),
            TokenAccount::Integration => "github-actions[bot]".into(),
        }
    }
}

#[derive(Debug)]
struct Inner {
    /// `http://127.0.0.1:port` or `https://…`.
    origin: String,
    token: String,
    account: TokenAccount,
    repos: BTreeMap<String, FakeRepo>,
    comments: Vec<(String, FakeComment)>,
    requests: Vec<Recorded>,
    faults: Vec<Fault>,
    next_id: u64,
    rate_remaining: u64,
    git_root: PathBuf,
}

type Shared = Arc<Mutex<Inner>>;

pub struct FakeGitHub {
    origin: String,
    shared: Shared,
    git_root: tempfile::TempDir,
    /// The CA file clients must trust when the server speaks HTTPS.
    ca_file: Option<tempfile::NamedTempFile>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeGitHub {
    /// Starts the server over HTTP; requests must carry `token` (as `Bearer`/`token` for the
    /// API, as the Basic-auth password for git).
    pub fn start(token: &str) -> std::io::Result<FakeGitHub> {
        Self::start_with(token, false)
    }

    /// Starts the server over HTTPS with a certificate from a throwaway CA; point clients at
    /// [`FakeGitHub::ca_file`] through `SSL_CERT_FILE`.
    pub fn start_https(token: &str) -> std::io::Result<FakeGitHub> {
        Self::start_with(token, true)
    }

    fn start_with(token: &str, https: bool) -> std::io::Result<FakeGitHub> {
        let git_root = tempfile::tempdir()?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr: SocketAddr = listener.local_addr()?;
        let tls = if https { Some(tls::make()?) } else { None };
        let ca_file = match &tls {
            Some(t) => {
                let file = tempfile::NamedTempFile::new()?;
                std::fs::write(file.path(), &t.ca_pem)?;
                Some(file)
            }
            None => None,
        };
        let origin = format!("{}://{addr}", if https { "https" } else { "http" });
        let shared: Shared = Arc::new(Mutex::new(Inner {
            origin: origin.clone(),
            token: token.to_string(),
            account: TokenAccount::User("agent-bot".into()),
            repos: BTreeMap::new(),
            comments: Vec::new(),
            requests: Vec::new(),
            faults: Vec::new(),
            next_id: 1000,
            rate_remaining: 5000,
            git_root: git_root.path().to_path_buf(),
        }));
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(tcp) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let shutdown = async {
                    let _ = rx.await;
                };
                let _ = match tls {
                    Some(t) => {
                        let listener = tls::TlsListener {
                            tcp,
                            acceptor: t.acceptor,
                        };
                        axum::serve(listener, app)
                            .with_graceful_shutdown(shutdown)
                            .await
                    }
                    None => axum::serve(tcp, app).with_graceful_shutdown(shutdown).await,
                };
            });
        });
        Ok(FakeGitHub {
            origin,
            shared,
            git_root,
            ca_file,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The API root to pass as `--api-url`.
    pub fn api_url(&self) -> String {
        format!("{}/api/v3/", self.origin)
    }

    /// The smart-HTTP(S) URL of `owner/name`'s bare repository.
    pub fn git_url(&self, full_name: &str) -> String {
        format!("{}/git/{full_name}.git", self.origin)
    }

    /// The CA certificate (PEM) to trust, for a server started with [`FakeGitHub::start_https`].
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_ref().map(|f| f.path())
    }

    /// Where the bare repositories live (to inspect them or add hooks).
    pub fn git_root(&self) -> &Path {
        self.git_root.path()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut guard = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Adds a repository whose token may push, with a bare git repository behind it.
    pub fn add_repo(&self, full_name: &str) -> std::io::Result<PathBuf> {
        let path = self.git_root.path().join(format!("{full_name}.git"));
        git2::Repository::init_bare(&path).map_err(std::io::Error::other)?;
        self.with(|s| {
            s.repos.insert(
                full_name.to_lowercase(),
                FakeRepo {
                    token_can_push: true,
                    ..FakeRepo::default()
                },
            )
        });
        Ok(path)
    }

    pub fn add_issue(&self, full_name: &str, issue: FakeIssue) {
        self.with(|s| {
            if let Some(r) = s.repos.get_mut(&full_name.to_lowercase()) {
                r.issues.insert(issue.number, issue);
            }
        });
    }

    pub fn add_comment(&self, full_name: &str, issue: u64, author: &str, body: &str) {
        self.with(|s| {
            s.next_id += 1;
            let comment = FakeComment {
                id: s.next_id,
                issue,
                author: author.into(),
                body: body.into(),
            };
            s.comments.push((full_name.to_lowercase(), comment));
        });
    }

    pub fn set_role(&self, full_name: &str, user: &str, role: &str) {
        self.with(|s| {
            if let Some(r) = s.repos.get_mut(&full_name.to_lowercase()) {
                r.roles.insert(user.into(), role.into());
            }
        });
    }

    /// The token is a user's with this login.
    pub fn set_token_login(&self, login: &str) {
        self.with(|s| s.account = TokenAccount::User(login.into()));
    }

    /// The token is an installation token, as GitHub Actions' `GITHUB_TOKEN` is.
    pub fn use_integration_token(&self) {
        self.with(|s| s.account = TokenAccount::Integration);
    }

    /// The login the token's comments are authored by.
    pub fn token_login(&self) -> String {
        self.with(|s| s.account.login())
    }

    pub fn set_token_can_push(&self, full_name: &str, can_push: bool) {
        self.with(|s| {
            if let Some(r) = s.repos.get_mut(&full_name.to_lowercase()) {
                r.token_can_push = can_push;
            }
        });
    }

    /// The next `times` requests with `method` whose path ends with `path_suffix` get `status`
    /// with `headers` instead of their answer.
    pub fn fail(
        &self,
        method: &str,
        path_suffix: &str,
        status: u16,
        headers: &[(&str, &str)],
        times: usize,
    ) {
        self.with(|s| {
            s.faults.push(Fault {
                method: method.to_uppercase(),
                path_suffix: path_suffix.into(),
                status,
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                remaining: times,
            })
        });
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.with(|s| s.requests.clone())
    }

    /// Requests that change something (POST, PATCH, PUT, DELETE) to the API.
    pub fn writes(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| !r.path.starts_with("/git/") && r.method != "GET")
            .collect()
    }

    pub fn comments(&self, full_name: &str, issue: u64) -> Vec<FakeComment> {
        let key = full_name.to_lowercase();
        self.with(|s| {
            s.comments
                .iter()
                .filter(|(r, c)| *r == key && c.issue == issue)
                .map(|(_, c)| c.clone())
                .collect()
        })
    }

    pub fn pulls(&self, full_name: &str) -> Vec<FakePull> {
        self.with(|s| {
            s.repos
                .get(&full_name.to_lowercase())
                .map(|r| r.pulls.clone())
                .unwrap_or_default()
        })
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn json_response(status: u16, headers: &[(String, String)], body: Value) -> Response {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json");
    for (k, v) in headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    builder
        .body(axum::body::Body::from(body.to_string()))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn message(status: u16, text: &str) -> (u16, Value) {
    (
        status,
        json!({ "message": text, "documentation_url": "https://docs.github.com/rest" }),
    )
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    if path.starts_with("/git/") {
        return git::serve(&shared_git(&shared), &method, &path, &query, &headers, body).await;
    }
    let Some(api_path) = path.strip_prefix("/api/v3") else {
        return json_response(404, &[], json!({"message": "Not Found"}));
    };
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut guard = shared.lock().unwrap_or_else(|p| p.into_inner());
    let state = &mut *guard;
    let authorized =
        auth == format!("Bearer {}", state.token) || auth == format!("token {}", state.token);
    let parsed_body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state.requests.push(Recorded {
        method: method.to_string(),
        path: api_path.to_string(),
        query: query.clone(),
        body: parsed_body.clone(),
        authorized,
    });
    state.rate_remaining = state.rate_remaining.saturating_sub(1);
    let mut headers_out = vec![
        ("x-ratelimit-limit".to_string(), "5000".to_string()),
        (
            "x-ratelimit-remaining".to_string(),
            state.rate_remaining.to_string(),
        ),
        (
            "x-ratelimit-reset".to_string(),
            (now_unix() + 3600).to_string(),
        ),
        ("x-ratelimit-resource".to_string(), "core".to_string()),
    ];
    if let Some(fault) = state.faults.iter_mut().find(|f| {
        f.remaining > 0 && f.method == method.as_str() && api_path.ends_with(&f.path_suffix)
    }) {
        fault.remaining -= 1;
        let mut fault_headers = fault.headers.clone();
        // A fault's own rate-limit headers replace the defaults.
        headers_out.retain(|(k, _)| !fault_headers.iter().any(|(fk, _)| fk == k));
        fault_headers.extend(headers_out);
        let says_limit = fault_headers
            .iter()
            .any(|(k, v)| k == "retry-after" || (k == "x-ratelimit-remaining" && v == "0"));
        let text = match fault.status {
            429 => "API rate limit exceeded",
            403 if says_limit => "API rate limit exceeded",
            403 => "Resource not accessible by integration",
            404 => "Not Found",
            _ => "Server Error",
        };
        let (status, body) = message(fault.status, text);
        return json_response(status, &fault_headers, body);
    }
    if !authorized {
        let (status, body) = message(401, "Bad credentials");
        return json_response(status, &headers_out, body);
    }
    let base = format!("{}/api/v3", state.origin);
    let (status, body, extra) = api::route(state, &base, &method, api_path, &query, &parsed_body);
    headers_out.extend(extra);
    json_response(status, &headers_out, body)
}

/// What the git handler needs from the shared state.
struct GitContext {
    token: String,
    root: PathBuf,
    shared: Shared,
}

fn shared_git(shared: &Shared) -> GitContext {
    let guard = shared.lock().unwrap_or_else(|p| p.into_inner());
    GitContext {
        token: guard.token.clone(),
        root: guard.git_root.clone(),
        shared: Arc::clone(shared),
    }
}

impl GitContext {
    fn record(&self, method: &str, path: &str, query: &str, authorized: bool) {
        let mut guard = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        guard.requests.push(Recorded {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            body: Value::Null,
            authorized,
        });
    }

    /// Whether a Basic-auth header carries the token as its password.
    fn basic_auth_ok(&self, headers: &HeaderMap) -> bool {
        let Some(encoded) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
        else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let text = String::from_utf8_lossy(&decoded);
        text.split_once(':')
            .is_some_and(|(_, password)| password == self.token)
    }
}
