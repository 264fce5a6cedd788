//! End-to-end: the real `agent` binary against the scripted model server on real git repositories.

use std::path::Path;

use agent_tests::fixtures::{
    STATS_BUG, STATS_FIX, STATS_ISSUE, STATS_TEST_COMMAND, run_agent, stats_tests_pass,
};
use agent_tests::{Reply, ScriptedServer};
use serde_json::{Value, json};

fn stats_repo() -> tempfile::TempDir {
    agent_tests::fixtures::stats_repo().unwrap()
}

fn read_events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn events_of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// The script a competent model would follow to fix the stats bug.
fn fixing_script() -> Vec<Reply> {
    vec![
        Reply::think_then_tool(
            "The mean is off. PLAN:\n1. Read stats/core.py\n2. Reproduce with the tests\n3. Fix the divisor\n4. Re-run tests",
            "view_file",
            json!({"path": "stats/core.py"}),
        ),
        Reply::tool("run", json!({"command": STATS_TEST_COMMAND})),
        Reply::tool(
            "str_replace",
            json!({"path": "stats/core.py", "old_str": STATS_BUG, "new_str": STATS_FIX}),
        ),
        Reply::tool("run", json!({"command": STATS_TEST_COMMAND})),
        Reply::tool(
            "submit",
            json!({"summary": "mean() divided by len+1; it now divides by len. Tests pass."}),
        ),
    ]
}

fn fix_args<'a>(server: &'a str, traj: &'a str) -> Vec<&'a str> {
    vec![
        "fix",
        "--issue-text",
        STATS_ISSUE,
        "--base-url",
        server,
        "--model",
        "scripted",
        "--trajectory",
        traj,
    ]
}

#[test]
fn agent_fixes_a_real_bug_end_to_end() {
    let repo = stats_repo();
    assert!(
        !stats_tests_pass(repo.path()).unwrap(),
        "the fixture's test must fail before the run"
    );
    let server = ScriptedServer::start(fixing_script()).unwrap();
    let traj_dir = tempfile::tempdir().unwrap();
    let traj = traj_dir.path().join("t.jsonl");
    let base = server.base_url();
    let out = run_agent(repo.path(), &fix_args(&base, traj.to_str().unwrap()), &[]).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(
        stats_tests_pass(repo.path()).unwrap(),
        "the fixture's test must pass after the run"
    );

    // The diff on stdout is exactly the fix, and applies to a fresh copy.
    assert!(stdout.contains("--- a/stats/core.py"), "{stdout}");
    assert!(
        stdout.contains(&format!("-{STATS_BUG}")) && stdout.contains(&format!("+{STATS_FIX}")),
        "{stdout}"
    );
    let fresh = stats_repo();
    std::fs::write(fresh.path().join("fix.patch"), stdout.as_bytes()).unwrap();
    let applied = std::process::Command::new("git")
        .args(["apply", "fix.patch"])
        .current_dir(fresh.path())
        .status()
        .unwrap();
    assert!(applied.success());
    assert!(stats_tests_pass(fresh.path()).unwrap());

    // What the agent sent: tool definitions, then tool results tied to the right call ids.
    let requests = server.requests();
    assert_eq!(requests.len(), 5);
    let tool_names: Vec<&str> = requests[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    for name in ["view_file", "str_replace", "run", "update_plan", "submit"] {
        assert!(
            tool_names.contains(&name),
            "{name} missing from {tool_names:?}"
        );
    }
    assert_eq!(requests[0]["model"], "scripted");
    let second = requests[1]["messages"].as_array().unwrap();
    let last = second.last().unwrap();
    assert_eq!(last["role"], "tool");
    assert_eq!(last["tool_call_id"], "call_1_0");
    assert!(
        last["content"].as_str().unwrap().contains("def mean"),
        "{last}"
    );
    let third = server.last_message(2);
    assert!(
        third["content"].as_str().unwrap().contains("FAILED"),
        "{third}"
    );
    let fifth = server.last_message(4);
    assert!(fifth["content"].as_str().unwrap().contains("OK"), "{fifth}");

    // The trajectory holds the plan, the calls, usage, cost and the final diff.
    let events = read_events(&traj);
    assert_eq!(events[0]["event"], "start");
    assert_eq!(events_of(&events, "prompt").len(), 2);
    let plan = events_of(&events, "plan");
    assert!(
        plan[0]["plan"]
            .as_str()
            .unwrap()
            .starts_with("1. Read stats/core.py")
    );
    assert_eq!(events_of(&events, "tool_call").len(), 5);
    assert_eq!(events_of(&events, "model_response").len(), 5);
    assert_eq!(events_of(&events, "step_timing").len(), 5);
    let end = events.last().unwrap();
    assert_eq!(end["event"], "end");
    assert_eq!(end["exit_reason"], "submitted");
    // Five steps and the review turn on submit, 1000 prompt tokens each.
    assert_eq!(end["usage"]["prompt_tokens"], 6000);
    assert!(
        end["cost_usd"].is_null(),
        "the scripted model has no price, so cost is unknown"
    );
    assert!(end["diff"].as_str().unwrap().contains(STATS_FIX));
    // The user's branch was not committed to.
    let repo_git = git2::Repository::open(repo.path()).unwrap();
    assert_eq!(
        repo_git
            .head()
            .unwrap()
            .peel_to_commit()
            .unwrap()
            .message()
            .unwrap(),
        "initial commit"
    );
}

#[test]
fn replay_reproduces_the_diff_without_a_model() {
    let repo = stats_repo();
    let server = ScriptedServer::start(fixing_script()).unwrap();
    let traj_dir = tempfile::tempdir().unwrap();
    let traj = traj_dir.path().join("t.jsonl");
    let base = server.base_url();
    let out = run_agent(repo.path(), &fix_args(&base, traj.to_str().unwrap()), &[]).unwrap();
    assert!(out.status.success());
    let original_diff = String::from_utf8_lossy(&out.stdout).to_string();

    let fresh = stats_repo();
    let replay = run_agent(fresh.path(), &["replay", traj.to_str().unwrap()], &[]).unwrap();
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&replay.stdout), original_diff);
    assert!(stats_tests_pass(fresh.path()).unwrap());
}

#[test]
fn commit_flag_commits_and_output_patch_writes_a_file() {
    let repo = stats_repo();
    let server = ScriptedServer::start(fixing_script()).unwrap();
    let base = server.base_url();
    let patch = repo.path().join(".agent/out.patch");
    std::fs::create_dir_all(patch.parent().unwrap()).unwrap();
    let out = run_agent(
        repo.path(),
        &[
            "fix",
            "--issue-text",
            STATS_ISSUE,
            "--base-url",
            &base,
            "--commit",
            "--output-patch",
            patch.to_str().unwrap(),
        ],
        &[],
    )
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout.is_empty(),
        "the diff goes to the file, not stdout"
    );
    assert!(std::fs::read_to_string(&patch).unwrap().contains(STATS_FIX));
    let git = git2::Repository::open(repo.path()).unwrap();
    let head = git.head().unwrap().peel_to_commit().unwrap();
    assert!(
        head.message()
            .unwrap()
            .starts_with("Fix: mean() returns the wrong value"),
        "{:?}",
        head.message()
    );
    assert!(head.message().unwrap().contains("divides by len"));
    // The default trajectory location is inside .agent/, which never dirties the repo.
    assert!(
        std::fs::read_dir(repo.path().join(".agent/trajectories"))
            .unwrap()
            .count()
            == 1
    );
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).include_ignored(false);
    let statuses = git.statuses(Some(&mut opts)).unwrap();
    assert_eq!(
        statuses.len(),
        0,
        "working tree must be clean after --commit"
    );
}

#[test]
fn dirty_repository_is_refused_unless_allowed() {
    let repo = stats_repo();
    std::fs::write(repo.path().join("README.md"), "local edit\n").unwrap();
    let out = run_agent(
        repo.path(),
        &[
            "fix",
            "--issue-text",
            "x",
            "--base-url",
            "http://127.0.0.1:9/v1",
        ],
        &[],
    )
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("uncommitted changes")
            && err.contains("README.md")
            && err.contains("--allow-dirty"),
        "{err}"
    );

    // With --allow-dirty the user's own edit is not part of the agent's diff.
    let server = ScriptedServer::start(fixing_script()).unwrap();
    let base = server.base_url();
    let out = run_agent(
        repo.path(),
        &[
            "fix",
            "--issue-text",
            STATS_ISSUE,
            "--base-url",
            &base,
            "--allow-dirty",
        ],
        &[],
    )
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(
        diff.contains("stats/core.py") && !diff.contains("README.md"),
        "{diff}"
    );
}

/// `AGENTS.md` at the root is in the task prompt; one in the directory of an edited file comes
/// with that edit's observation, once; the trajectory records both reads.
#[test]
fn agents_md_files_are_the_projects_instructions() {
    let repo = tempfile::tempdir().unwrap();
    let mut files: Vec<(&str, &str)> = agent_tests::fixtures::STATS_FILES.to_vec();
    files.push(("AGENTS.md", "Run the tests with unittest, never pytest."));
    files.push((
        "stats/AGENTS.md",
        "Keep stats/ free of third-party imports.",
    ));
    agent_tests::fixtures::git_repo(repo.path(), &files).unwrap();
    let script = vec![
        Reply::tool(
            "str_replace",
            json!({"path": "stats/core.py", "old_str": STATS_BUG, "new_str": STATS_FIX}),
        ),
        Reply::tool(
            "str_replace",
            json!({"path": "stats/core.py", "old_str": "\"\"\"Basic", "new_str": "\"\"\"Simple"}),
        ),
        Reply::tool("submit", json!({"summary": "fixed"})),
    ];
    let server = ScriptedServer::start(script).unwrap();
    let traj_dir = tempfile::tempdir().unwrap();
    let traj = traj_dir.path().join("t.jsonl");
    let base = server.base_url();
    let out = run_agent(repo.path(), &fix_args(&base, traj.to_str().unwrap()), &[]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let requests = server.requests();
    let task = requests[0]["messages"][1]["content"].as_str().unwrap();
    assert!(
        task.contains("Run the tests with unittest, never pytest."),
        "{task}"
    );
    assert!(!task.contains("third-party"), "{task}");
    let first_edit = server.last_message(1);
    let first_edit = first_edit["content"].as_str().unwrap();
    assert!(
        first_edit.contains("Project instructions from `stats/AGENTS.md`")
            && first_edit.contains("Keep stats/ free of third-party imports."),
        "{first_edit}"
    );
    let second_edit = server.last_message(2);
    assert!(
        !second_edit["content"]
            .as_str()
            .unwrap()
            .contains("third-party"),
        "given once: {second_edit}"
    );
    let events = read_events(&traj);
    let reads: Vec<&str> = events_of(&events, "notice")
        .into_iter()
        .filter(|e| e["kind"] == "project_instructions")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        reads,
        [
            "read AGENTS.md (42 bytes)",
            "read stats/AGENTS.md (40 bytes)"
        ],
        "{reads:?}"
    );
}

/// `--stream`: the same run over Server-Sent Events; the request asks for streaming and usage,
/// and the text, tool calls (sent in fragments) and token counts come out as without streaming.
#[test]
fn streaming_replies_give_the_same_run() {
    let repo = stats_repo();
    let server = ScriptedServer::start(fixing_script()).unwrap();
    let traj_dir = tempfile::tempdir().unwrap();
    let traj = traj_dir.path().join("t.jsonl");
    let base = server.base_url();
    let mut args = fix_args(&base, traj.to_str().unwrap());
    args.push("--stream");
    let out = run_agent(repo.path(), &args, &[]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stats_tests_pass(repo.path()).unwrap());
    let requests = server.requests();
    assert_eq!(requests.len(), 5);
    assert_eq!(requests[0]["stream"], true);
    assert_eq!(requests[0]["stream_options"]["include_usage"], true);
    let events = read_events(&traj);
    let responses = events_of(&events, "model_response");
    assert!(
        responses[0]["message"]["content"]
            .as_str()
            .unwrap()
            .starts_with("The mean is off. PLAN:"),
        "{}",
        responses[0]
    );
    assert_eq!(responses[0]["usage"]["prompt_tokens"], 1000);
    assert_eq!(responses[0]["usage"]["completion_tokens"], 100);
    let calls = events_of(&events, "tool_call");
    assert_eq!(calls[0]["name"], "view_file");
    assert_eq!(calls[0]["arguments"], "{\"path\":\"stats/core.py\"}");
    assert_eq!(calls[2]["name"], "str_replace");
}
