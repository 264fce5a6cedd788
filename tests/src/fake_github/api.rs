//! The fake's REST routes, answering with the fields GitHub sends that the agent reads.

use axum::http::Method;
use serde_json::{Value, json};

use super::{FakeComment, FakeIssue, FakePull, Inner, TokenAccount, message};

type Answer = (u16, Value, Vec<(String, String)>);

fn plain((status, body): (u16, Value)) -> Answer {
    (status, body, Vec::new())
}

fn query_param(query: &str, name: &str) -> Option<String> {
    url_decode_pairs(query)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn url_decode_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn issue_json(base: &str, full: &str, issue: &FakeIssue, comments: usize) -> Value {
    let mut value = json!({
        "id": 100_000 + issue.number,
        "number": issue.number,
        "title": issue.title,
        "body": issue.body,
        "state": "open",
        "user": user_json(&issue.author),
        "labels": issue.labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
        "comments": comments,
        "html_url": format!("https://github.example/{full}/issues/{}", issue.number),
        "url": format!("{base}/repos/{full}/issues/{}", issue.number),
        "repository_url": format!("{base}/repos/{full}"),
    });
    if issue.pull_request {
        value["pull_request"] =
            json!({"url": format!("{base}/repos/{full}/pulls/{}", issue.number)});
    }
    value
}

/// A user object as GitHub sends it: bots' logins end with `[bot]` and their type is `Bot`.
fn user_json(login: &str) -> Value {
    let kind = if login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    };
    json!({"login": login, "type": kind})
}

fn comment_json(full: &str, c: &FakeComment) -> Value {
    json!({
        "id": c.id,
        "body": c.body,
        "user": user_json(&c.author),
        "html_url": format!("https://github.example/{full}/issues/{}#issuecomment-{}", c.issue, c.id),
    })
}

fn pull_json(base: &str, full: &str, p: &FakePull) -> Value {
    let owner = full.split('/').next().unwrap_or("");
    json!({
        "id": 200_000 + p.number,
        "number": p.number,
        "title": p.title,
        "body": p.body,
        "state": p.state,
        "head": {"ref": p.head, "label": format!("{owner}:{}", p.head)},
        "base": {"ref": p.base},
        "html_url": format!("https://github.example/{full}/pull/{}", p.number),
        "url": format!("{base}/repos/{full}/pulls/{}", p.number),
    })
}

fn branch_exists(state: &Inner, full: &str, branch: &str) -> bool {
    let path = state.git_root.join(format!("{full}.git"));
    git2::Repository::open_bare(path)
        .and_then(|r| r.refname_to_id(&format!("refs/heads/{branch}")))
        .is_ok()
}

pub(super) fn route(
    state: &mut Inner,
    base: &str,
    method: &Method,
    path: &str,
    query: &str,
    body: &Value,
) -> Answer {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let not_found = || plain(message(404, "Not Found"));
    if method == Method::GET && segments == ["user"] {
        return plain(match &state.account {
            TokenAccount::User(login) => (200, user_json(login)),
            TokenAccount::Integration => message(403, "Resource not accessible by integration"),
        });
    }
    if segments.len() < 3 || segments[0] != "repos" {
        return not_found();
    }
    let full = format!("{}/{}", segments[1], segments[2]).to_lowercase();
    if !state.repos.contains_key(&full) {
        return not_found();
    }
    let rest = &segments[3..];
    match (method.as_str(), rest) {
        ("GET", []) => {
            let repo = &state.repos[&full];
            plain((
                200,
                json!({
                    "full_name": full,
                    "default_branch": "main",
                    "permissions": {"admin": false, "maintain": false, "push": repo.token_can_push, "triage": true, "pull": true},
                }),
            ))
        }
        ("GET", ["issues", number]) => {
            let Ok(number) = number.parse::<u64>() else {
                return not_found();
            };
            let Some(issue) = state.repos[&full].issues.get(&number).cloned() else {
                return not_found();
            };
            if let Some((to, to_number)) = &issue.transferred_to {
                let location = format!("{base}/repos/{to}/issues/{to_number}");
                return (
                    301,
                    json!({"message": "Moved Permanently", "url": location}),
                    vec![("location".into(), location)],
                );
            }
            let count = state
                .comments
                .iter()
                .filter(|(r, c)| *r == full && c.issue == number)
                .count();
            plain((200, issue_json(base, &full, &issue, count)))
        }
        ("GET", ["issues", number, "comments"]) => {
            let number: u64 = number.parse().unwrap_or(0);
            if !state.repos[&full].issues.contains_key(&number) {
                return not_found();
            }
            let per_page: usize = query_param(query, "per_page")
                .and_then(|v| v.parse().ok())
                .unwrap_or(30)
                .clamp(1, 100);
            let page: usize = query_param(query, "page")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1)
                .max(1);
            let all: Vec<Value> = state
                .comments
                .iter()
                .filter(|(r, c)| *r == full && c.issue == number)
                .map(|(_, c)| comment_json(&full, c))
                .collect();
            let shown: Vec<Value> = all
                .into_iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .collect();
            plain((200, Value::Array(shown)))
        }
        ("POST", ["issues", number, "comments"]) => {
            let number: u64 = number.parse().unwrap_or(0);
            if !state.repos[&full].issues.contains_key(&number) {
                return not_found();
            }
            let Some(text) = body["body"].as_str() else {
                return plain(message(422, "body is missing"));
            };
            state.next_id += 1;
            let comment = FakeComment {
                id: state.next_id,
                issue: number,
                author: state.account.login(),
                body: text.into(),
            };
            let value = comment_json(&full, &comment);
            state.comments.push((full.clone(), comment));
            plain((201, value))
        }
        ("PATCH", ["issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let Some(text) = body["body"].as_str() else {
                return plain(message(422, "body is missing"));
            };
            match state
                .comments
                .iter_mut()
                .find(|(r, c)| *r == full && c.id == id)
            {
                Some((_, c)) => {
                    c.body = text.into();
                    plain((200, comment_json(&full, c)))
                }
                None => not_found(),
            }
        }
        ("GET", ["pulls"]) => {
            let state_filter = query_param(query, "state").unwrap_or_else(|| "open".into());
            let head = query_param(query, "head");
            let owner = segments[1].to_lowercase();
            let shown: Vec<Value> = state.repos[&full]
                .pulls
                .iter()
                .filter(|p| state_filter == "all" || p.state == state_filter)
                .filter(|p| match &head {
                    Some(h) => h.to_lowercase() == format!("{owner}:{}", p.head.to_lowercase()),
                    None => true,
                })
                .map(|p| pull_json(base, &full, p))
                .collect();
            plain((200, Value::Array(shown)))
        }
        ("POST", ["pulls"]) => {
            let (Some(title), Some(head), Some(base_ref)) = (
                body["title"].as_str(),
                body["head"].as_str(),
                body["base"].as_str(),
            ) else {
                return plain(message(
                    422,
                    "Validation Failed: title, head and base are required",
                ));
            };
            let head = head.rsplit(':').next().unwrap_or(head).to_string();
            if !branch_exists(state, &full, &head) {
                return plain(message(422, "Validation Failed: head does not exist"));
            }
            if state.repos[&full]
                .pulls
                .iter()
                .any(|p| p.head == head && p.state == "open")
            {
                return plain(message(
                    422,
                    &format!(
                        "Validation Failed: A pull request already exists for {}:{head}.",
                        segments[1]
                    ),
                ));
            }
            let number = state.repos[&full]
                .issues
                .keys()
                .max()
                .copied()
                .unwrap_or(0)
                .max(
                    state.repos[&full]
                        .pulls
                        .iter()
                        .map(|p| p.number)
                        .max()
                        .unwrap_or(0),
                )
                + 1;
            let pull = FakePull {
                number,
                title: title.into(),
                body: body["body"].as_str().unwrap_or("").into(),
                head,
                base: base_ref.into(),
                state: "open".into(),
            };
            let value = pull_json(base, &full, &pull);
            if let Some(repo) = state.repos.get_mut(&full) {
                repo.pulls.push(pull);
            }
            plain((201, value))
        }
        ("PATCH", ["pulls", number]) => {
            let number: u64 = number.parse().unwrap_or(0);
            let Some(repo) = state.repos.get_mut(&full) else {
                return not_found();
            };
            let Some(pull) = repo.pulls.iter_mut().find(|p| p.number == number) else {
                return not_found();
            };
            if let Some(t) = body["title"].as_str() {
                pull.title = t.into();
            }
            if let Some(b) = body["body"].as_str() {
                pull.body = b.into();
            }
            let pull = pull.clone();
            plain((200, pull_json(base, &full, &pull)))
        }
        ("GET", ["collaborators", user, "permission"]) => {
            let Some(role) = state.repos[&full].roles.get(*user).cloned() else {
                return plain(message(404, &format!("{user} is not a collaborator")));
            };
            let permission = match role.as_str() {
                "admin" => "admin",
                "maintain" | "write" => "write",
                "triage" | "read" => "read",
                _ => "none",
            };
            plain((
                200,
                json!({"permission": permission, "role_name": role, "user": {"login": user}}),
            ))
        }
        _ => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode() {
        assert_eq!(decode("acme%3Aagent%2Fissue-7"), "acme:agent/issue-7");
        assert_eq!(
            query_param("state=open&head=a%3Ab", "head").as_deref(),
            Some("a:b")
        );
    }
}
