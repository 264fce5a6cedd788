//! The session loop under bad conditions: rate limits, server errors, malformed output, budgets,
//! repetition, and bad input, through the real binary and the scripted server.

use agent_tests::fixtures::{STATS_ISSUE, run_agent};
use agent_tests::{Reply, ScriptedServer};
use serde_json::{Value, json};

fn stats_repo() -> tempfile::TempDir {
    agent_tests::fixtures::stats_repo().unwrap()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    events: Vec<Value>,
}

fn fix(
    script: Vec<Reply>,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Run, ScriptedServer, tempfile::TempDir) {
    let repo = stats_repo();
    let server = ScriptedServer::start(script).unwrap();
    let base = server.base_url();
    let traj = repo.path().join(".agent/t.jsonl");
    let mut args = vec![
        "fix",
        "--issue-text",
        STATS_ISSUE,
        "--base-url",
        &base,
        "--trajectory",
        traj.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = run_agent(repo.path(), &args, env).unwrap();
    let events = std::fs::read_to_string(&traj)
        .map(|t| {
            t.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        })
        .unwrap_or_default();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
        events,
    };
    (run, server, repo)
}

fn end(run: &Run) -> &Value {
    run.events
        .last()
        .filter(|e| e["event"] == "end")
        .expect("trajectory has an end event")
}

fn submit() -> Reply {
    Reply::tool("submit", json!({"summary": "done"}))
}

/// A change, so that the following `submit` is accepted (an unchanged repository is sent back).
fn note() -> Reply {
    Reply::tool(
        "create_file",
        json!({"path": "NOTES.md", "content": "checked\n"}),
    )
}

fn view() -> Reply {
    Reply::tool("view_file", json!({"path": "README.md"}))
}

#[test]
fn rate_limits_and_server_errors_are_retried() {
    let script = vec![
        Reply::rate_limited(1),
        Reply::status(500),
        Reply::status(503),
        view(),
        note(),
        submit(),
    ];
    let started = std::time::Instant::now();
    let (run, server, _repo) = fix(script, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(server.requests().len(), 6);
    // Retry-After: 1 was honoured.
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    let first_response = run
        .events
        .iter()
        .find(|e| e["event"] == "model_response")
        .unwrap();
    assert_eq!(first_response["attempts"], 4);
}

#[test]
fn malformed_body_is_asked_again() {
    let (run, server, _repo) = fix(
        vec![
            Reply::MalformedBody("{not json".into()),
            view(),
            note(),
            submit(),
        ],
        &[],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(server.requests().len(), 4);
}

#[test]
fn three_malformed_calls_in_a_row_end_the_run_with_a_clear_error() {
    let script = vec![
        Reply::raw_tool("view_file", "{\"path\": \"README.md\""),
        Reply::tool("no_such_tool", json!({})),
        Reply::tool("view_file", json!({"start_line": 3})),
        submit(),
    ];
    let (run, server, _repo) = fix(script, &[], &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("3 malformed"), "{}", run.stderr);
    assert_eq!(end(&run)["exit_reason"], "malformed_output");
    assert_eq!(
        server.remaining(),
        1,
        "the run stopped before the fourth reply"
    );
    let observations: Vec<&str> = run
        .events
        .iter()
        .filter(|e| e["event"] == "observation")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert!(
        observations[0].contains("not valid JSON"),
        "{}",
        observations[0]
    );
    assert!(
        observations[1].contains("unknown tool `no_such_tool`")
            && observations[1].contains("view_file"),
        "{}",
        observations[1]
    );
    assert!(
        observations[2].contains("missing field `path`"),
        "{}",
        observations[2]
    );
}

#[test]
fn a_good_call_resets_the_malformed_count() {
    let bad = || Reply::tool("no_such_tool", json!({}));
    let (run, _server, _repo) = fix(
        vec![bad(), bad(), view(), bad(), bad(), note(), submit()],
        &[],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn text_without_a_tool_call_is_pointed_out() {
    let (run, server, _repo) = fix(
        vec![
            // The first reply's text is its plan; text without a call after that is pointed out.
            Reply::think_then_tool("PLAN:\n1. look", "view_file", json!({"path": "README.md"})),
            Reply::Text("I think the bug is in mean.".into()),
            note(),
            submit(),
        ],
        &[],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let second = server.last_message(2);
    assert!(
        second["content"].as_str().unwrap().contains("no tool call"),
        "{second}"
    );
}

#[test]
fn step_budget_warns_at_80_percent_and_stops_keeping_the_diff() {
    let edit = Reply::tool(
        "str_replace",
        json!({"path": "README.md", "old_str": "Tiny statistics helpers.", "new_str": "Tiny stats helpers."}),
    );
    let script = vec![
        edit,
        view(),
        Reply::tool("run", json!({"command": "true"})),
        Reply::tool("run", json!({"command": "echo 4"})),
        Reply::tool("run", json!({"command": "echo 5"})),
        submit(),
    ];
    let (run, server, _repo) = fix(script, &["--max-steps", "5"], &[]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(end(&run)["exit_reason"], "step_limit");
    assert_eq!(server.requests().len(), 5);
    assert!(
        run.stdout.contains("+Tiny stats helpers."),
        "the diff so far is kept: {}",
        run.stdout
    );
    let wrap: Vec<&Value> = run
        .events
        .iter()
        .filter(|e| e["event"] == "notice" && e["kind"] == "wrap_up")
        .collect();
    assert_eq!(wrap.len(), 1);
    assert_eq!(wrap[0]["step"], 4);
    let fifth = server.last_message(4);
    assert!(
        fifth["content"].as_str().unwrap().contains("Wrap up now"),
        "{fifth}"
    );
}

#[test]
fn cost_budget_uses_the_price_table() {
    let repo = stats_repo();
    // Prices are the user's to set (a repository's own config may not change them).
    let user_config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        user_config.path(),
        "sandbox = \"local\"\n[prices.scripted]\ninput_per_mtok = 100.0\noutput_per_mtok = 1000.0\n",
    )
    .unwrap();
    // Each scripted turn costs 1000*100/1e6 + 100*1000/1e6 = $0.2.
    let server = ScriptedServer::start(vec![view(), view(), view(), view(), submit()]).unwrap();
    let base = server.base_url();
    let traj = repo.path().join(".agent/t.jsonl");
    let out = run_agent(
        repo.path(),
        &[
            "fix",
            "--issue-text",
            "x",
            "--base-url",
            &base,
            "--model",
            "scripted",
            "--cost-limit",
            "0.5",
            "--allow-dirty",
            "--trajectory",
            traj.to_str().unwrap(),
        ],
        &[("AGENT_CONFIG", user_config.path().to_str().unwrap())],
    )
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&traj).unwrap();
    let end: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(end["exit_reason"], "cost_limit");
    assert!(
        (end["cost_usd"].as_f64().unwrap() - 0.6).abs() < 1e-9,
        "{end}"
    );
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn repeated_identical_actions_get_a_notice_that_names_them() {
    let (run, server, _repo) = fix(vec![view(), view(), view(), note(), submit()], &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let notices: Vec<&Value> = run
        .events
        .iter()
        .filter(|e| e["event"] == "notice" && e["kind"] == "repeated_action")
        .collect();
    assert_eq!(notices.len(), 1);
    let fourth = server.last_message(3);
    let text = fourth["content"].as_str().unwrap();
    assert!(
        text.contains("`view_file`") && text.contains("README.md") && !text.contains("update_plan"),
        "{fourth}"
    );
}

#[test]
fn update_plan_is_recorded_and_shown_again_later() {
    let mut script = vec![Reply::think_then_tool(
        "PLAN:\n1. look",
        "view_file",
        json!({"path": "README.md"}),
    )];
    script.push(Reply::tool(
        "update_plan",
        json!({"plan": "1. [x] look\n2. fix mean"}),
    ));
    for i in 0..6 {
        script.push(Reply::tool("run", json!({"command": format!("echo {i}")})));
    }
    script.push(note());
    script.push(submit());
    let (run, server, _repo) = fix(script, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plans: Vec<&Value> = run.events.iter().filter(|e| e["event"] == "plan").collect();
    assert_eq!(plans.len(), 2);
    assert_eq!(plans[1]["plan"], "1. [x] look\n2. fix mean");
    assert_eq!(end(&run)["plan"], "1. [x] look\n2. fix mean");
    // The reminder after step 8 carries the current plan.
    let ninth = server.last_message(8);
    let text = ninth["content"].as_str().unwrap();
    assert!(
        text.contains("current plan") && text.contains("2. fix mean"),
        "{text}"
    );
}

#[test]
fn text_action_mode_works_without_function_calling() {
    let action = |tool: &str, args: Value| {
        Reply::Text(format!(
            "Let me act.\n```action\n{}\n```\n",
            json!({"tool": tool, "arguments": args})
        ))
    };
    let script = vec![
        action("view_file", json!({"path": "README.md"})),
        action(
            "create_file",
            json!({"path": "NOTES.md", "content": "checked\n"}),
        ),
        action("submit", json!({"summary": "ok"})),
    ];
    let (run, server, _repo) = fix(script, &["--tool-mode", "text"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let requests = server.requests();
    assert!(
        requests[0].get("tools").is_none(),
        "no tools are sent in text mode"
    );
    let system = requests[0]["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("```action") && system.contains("### view_file"),
        "{system}"
    );
    let obs = server.last_message(1);
    assert_eq!(obs["role"], "user");
    assert!(
        obs["content"]
            .as_str()
            .unwrap()
            .contains("Tiny statistics helpers"),
        "{obs}"
    );
}

#[test]
fn long_outputs_keep_head_and_tail() {
    let script = vec![
        Reply::tool("run", json!({"command": "seq 1 100000"})),
        note(),
        submit(),
    ];
    let (run, server, _repo) = fix(script, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let obs = server.requests()[1]["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        obs.contains("\n1\n2\n3\n") && obs.contains("\n99999\n100000"),
        "head and tail kept"
    );
    assert!(obs.contains("cut from the middle"));
    assert!(obs.len() < 20_000);
}

#[test]
fn secrets_never_reach_commands_or_the_trajectory() {
    let key = "sk-test-0123456789abcdef";
    let script = vec![
        Reply::tool("run", json!({"command": "echo key=[$OPENAI_API_KEY]"})),
        note(),
        submit(),
    ];
    let (run, server, repo) = fix(script, &[], &[("OPENAI_API_KEY", key)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let obs = server.requests()[1]["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(obs.contains("key=[]"), "the command saw no key: {obs}");
    let traj = std::fs::read_to_string(repo.path().join(".agent/t.jsonl")).unwrap();
    assert!(!traj.contains(key));
}

#[test]
fn unreachable_endpoint_names_the_url() {
    let repo = stats_repo();
    // Port 9 (discard) on loopback: nothing listens there.
    let out = run_agent(
        repo.path(),
        &[
            "fix",
            "--issue-text",
            "x",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--max-retries",
            "1",
        ],
        &[],
    )
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("http://127.0.0.1:9/v1/chat/completions")
            && err.contains("unreachable after 2 attempts"),
        "{err}"
    );
}

#[test]
fn bad_input_gets_one_line_errors_that_name_the_fix() {
    let repo = stats_repo();
    let not_repo = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<String>, &std::path::Path, &str)> = vec![
        (
            vec![
                "fix".into(),
                "--issue-text".into(),
                "x".into(),
                "--base-url".into(),
                "https://api.example.com/v1".into(),
            ],
            repo.path(),
            "OPENAI_API_KEY",
        ),
        (
            vec!["fix".into(), "--issue-text".into(), "x".into()],
            not_repo.path(),
            "not a git repository",
        ),
        (
            vec!["fix".into(), "--issue-file".into(), "missing.md".into()],
            repo.path(),
            "does not exist",
        ),
    ];
    for (args, cwd, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_agent(cwd, &args, &[]).unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    std::fs::write(repo.path().join("empty.md"), "\n").unwrap();
    let out = run_agent(
        repo.path(),
        &["fix", "--issue-file", "empty.md", "--allow-dirty"],
        &[],
    )
    .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("is empty"));

    std::fs::write(repo.path().join(".agent.toml"), "max_step = 3\n").unwrap();
    let out = run_agent(
        repo.path(),
        &[
            "fix",
            "--issue-text",
            "x",
            "--allow-dirty",
            "--base-url",
            "http://127.0.0.1:9/v1",
        ],
        &[],
    )
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("max_step") && err.contains(".agent.toml"),
        "{err}"
    );
}

#[test]
fn an_ambiguous_issue_ends_with_clarifying_questions() {
    let script = vec![Reply::tool(
        "ask_clarification",
        json!({"questions": "1. Should mean([]) return 0 or raise?"}),
    )];
    let (run, _server, _repo) = fix(script, &[], &[]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("Should mean([]) return 0 or raise?"),
        "{}",
        run.stderr
    );
    assert_eq!(end(&run)["exit_reason"], "needs_clarification");
    assert!(run.stdout.is_empty(), "no diff");
}

#[test]
fn a_request_that_outlives_its_timeout_is_retried() {
    let slow = Reply::Delayed(std::time::Duration::from_secs(4), Box::new(view()));
    let (run, server, _repo) = fix(
        vec![slow, view(), note(), submit()],
        &["--request-timeout", "1"],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(server.requests().len(), 4);
    let first = run
        .events
        .iter()
        .find(|e| e["event"] == "model_response")
        .unwrap();
    assert_eq!(first["attempts"], 2);
}

#[test]
fn the_time_limit_stops_a_run_waiting_on_the_model() {
    let slow = Reply::Delayed(std::time::Duration::from_secs(30), Box::new(view()));
    let (run, _server, _repo) = fix(vec![view(), slow], &["--time-limit", "2"], &[]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let end = end(&run);
    assert_eq!(end["exit_reason"], "time_limit");
    assert_eq!(
        end["detail"],
        "the time budget ran out while waiting for the model"
    );
    // The second reply never arrived: the run ended during the wait, not after it.
    let responses = run
        .events
        .iter()
        .filter(|e| e["event"] == "model_response")
        .count();
    assert_eq!(responses, 1);
    assert!(end["duration_ms"].as_u64().unwrap() < 30_000, "{end}");
}

#[test]
fn sigterm_stops_the_run_cleanly_and_keeps_the_diff() {
    let edit = Reply::tool(
        "str_replace",
        json!({"path": "README.md", "old_str": "Tiny statistics helpers.", "new_str": "Tiny stats helpers."}),
    );
    let hang = Reply::Delayed(std::time::Duration::from_secs(60), Box::new(submit()));
    let repo = stats_repo();
    let server = ScriptedServer::start(vec![edit, hang]).unwrap();
    let traj = repo.path().join(".agent/t.jsonl");
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), "sandbox = \"local\"\n").unwrap();
    let child = std::process::Command::new(agent_tests::fixtures::agent_binary().unwrap())
        .args([
            "fix",
            "--issue-text",
            "x",
            "--base-url",
            &server.base_url(),
            "--trajectory",
        ])
        .arg(&traj)
        .env("AGENT_CONFIG", config.path())
        .env_remove("OPENAI_API_KEY")
        .current_dir(repo.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while server.requests().len() < 2 && started.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("+Tiny stats helpers."));
    let text = std::fs::read_to_string(&traj).unwrap();
    let end: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(end["exit_reason"], "interrupted");
}
