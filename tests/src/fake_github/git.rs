//! Smart-HTTP git for the fake: the real `git http-backend` as a CGI program, behind HTTP Basic
//! auth that accepts only the token as password.

use std::process::Stdio;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncWriteExt;

use super::GitContext;

pub(super) async fn serve(
    ctx: &GitContext,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let authorized = ctx.basic_auth_ok(headers);
    ctx.record(method.as_str(), path, query, authorized);
    if !authorized {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("www-authenticate", "Basic realm=\"fake GitHub\"")
            .body(Body::from("authentication required\n"))
            .unwrap_or_else(|_| StatusCode::UNAUTHORIZED.into_response());
    }
    let path_info = path.trim_start_matches("/git");
    match run_backend(ctx, method, path_info, query, headers, body).await {
        Ok(response) => response,
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("git http-backend failed: {e}\n"),
        )
            .into_response(),
    }
}

async fn run_backend(
    ctx: &GitContext,
    method: &Method,
    path_info: &str,
    query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> std::io::Result<Response> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut command = tokio::process::Command::new("git");
    command
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", &ctx.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", path_info)
        .env("QUERY_STRING", query)
        .env("REQUEST_METHOD", method.as_str())
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", "x-access-token")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let encoding = header("content-encoding");
    if !encoding.is_empty() {
        command.env("HTTP_CONTENT_ENCODING", encoding);
    }
    let protocol = header("git-protocol");
    if !protocol.is_empty() {
        command.env("GIT_PROTOCOL", protocol);
    }
    let mut child = command.spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // Written from its own task so a large answer cannot block on a full pipe.
        tokio::spawn(async move {
            let _ = stdin.write_all(&body).await;
            let _ = stdin.shutdown().await;
        });
    }
    let output = child.wait_with_output().await?;
    Ok(cgi_response(&output.stdout))
}

/// Turns CGI output (headers, blank line, body) into an HTTP response.
fn cgi_response(output: &[u8]) -> Response {
    let split = output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4))
        .or_else(|| output.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)));
    let Some((at, gap)) = split else {
        return (StatusCode::BAD_GATEWAY, "malformed CGI output\n").into_response();
    };
    let head = String::from_utf8_lossy(&output[..at]);
    let mut builder = Response::builder().status(StatusCode::OK);
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value
                .split_whitespace()
                .next()
                .and_then(|c| c.parse::<u16>().ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::OK);
            builder = builder.status(code);
        } else {
            builder = builder.header(name.trim(), value);
        }
    }
    builder
        .body(Body::from(output[at + gap..].to_vec()))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}
