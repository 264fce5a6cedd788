//! Issue 14's mechanisms through the real binary and the scripted server: tool calls written in
//! the text, a plan-only first reply, loop escalation, the submit gates (unchanged repository,
//! reproduction, review), compaction at a small window and after a context-length error, the
//! compact profile, and the request's sampling defaults for local servers.

#[path = "resolve_more/samples.rs"]
mod samples;

use agent_tests::fixtures::{STATS_BUG, STATS_FIX, STATS_ISSUE, run_agent};
use agent_tests::{Reply, ScriptedServer};
use serde_json::{Value, json};

struct Run {
    code: i32,
    stderr: String,
    events: Vec<Value>,
    diff: String,
}

fn fix_with(server: &ScriptedServer, extra: &[&str]) -> (Run, tempfile::TempDir) {
    let repo = agent_tests::fixtures::stats_repo().unwrap();
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
    let out = run_agent(repo.path(), &args, &[]).unwrap();
    let events = std::fs::read_to_string(&traj)
        .map(|t| {
            t.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        })
        .unwrap_or_default();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
        events,
        diff: String::from_utf8_lossy(&out.stdout).into(),
    };
    (run, repo)
}

fn fix(script: Vec<Reply>, extra: &[&str]) -> (Run, ScriptedServer, tempfile::TempDir) {
    let server = ScriptedServer::start(script).unwrap();
    let (run, repo) = fix_with(&server, extra);
    (run, server, repo)
}

fn end(run: &Run) -> &Value {
    run.events
        .last()
        .filter(|e| e["event"] == "end")
        .expect("trajectory has an end event")
}

fn notices<'a>(run: &'a Run, kind: &str) -> Vec<&'a Value> {
    run.events
        .iter()
        .filter(|e| e["event"] == "notice" && e["kind"] == kind)
        .collect()
}

fn the_fix() -> Reply {
    Reply::tool(
        "str_replace",
        json!({"path": "stats/core.py", "old_str": STATS_BUG, "new_str": STATS_FIX}),
    )
}

fn submit() -> Reply {
    Reply::tool("submit", json!({"summary": "fixed mean"}))
}

fn tool_calls(run: &Run) -> Vec<String> {
    run.events
        .iter()
        .filter(|e| e["event"] == "tool_call")
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_text_spelling_of_a_call_is_run_in_native_mode() {
    let fix_args = json!({"path": "stats/core.py", "old_str": STATS_BUG, "new_str": STATS_FIX});
    let script = vec![
        // A bare JSON object after some reasoning.
        Reply::Text(
            "I will read the code.\n{\"name\": \"view_file\", \"arguments\": {\"path\": \"stats/core.py\"}}"
                .into(),
        ),
        // Qwen's own spelling.
        Reply::Text(
            "<tool_call>\n{\"name\": \"grep\", \"arguments\": {\"pattern\": \"def mean\"}}\n</tool_call>"
                .into(),
        ),
        // A fenced json block.
        Reply::Text(format!(
            "```json\n{}\n```",
            json!({"name": "str_replace", "arguments": fix_args})
        )),
        // The action block of text mode.
        Reply::Text("```action\n{\"tool\": \"submit\", \"arguments\": {\"summary\": \"fixed\"}}\n```".into()),
    ];
    let (run, server, repo) = fix(script, &["--no-review"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        tool_calls(&run),
        ["view_file", "grep", "str_replace", "submit"]
    );
    assert!(notices(&run, "malformed").is_empty());
    assert!(agent_tests::fixtures::stats_tests_pass(repo.path()).unwrap());
    // Calls found in the text get their results back as user messages.
    let second = server.last_message(1);
    assert_eq!(second["role"], "user");
    assert!(
        second["content"].as_str().unwrap().contains("def mean"),
        "{second}"
    );
}

#[test]
fn json_naming_no_known_tool_is_not_run() {
    let script = vec![
        Reply::Text("The data is {\"name\": \"prod\", \"arguments\": {}} here.".into()),
        Reply::Text("still nothing".into()),
        Reply::Text("and again".into()),
    ];
    let (run, _server, _repo) = fix(script, &[]);
    // The first reply counts as the plan; the next two are malformed, and so is the third…
    assert!(tool_calls(&run).is_empty());
    assert_eq!(notices(&run, "plan_only").len(), 1);
    assert_eq!(notices(&run, "malformed").len(), 2);
}

#[test]
fn a_plan_only_first_reply_is_a_step_and_tool_choice_is_required() {
    let script = vec![
        Reply::Text("PLAN:\n1. read stats/core.py\n2. fix the division\n3. test".into()),
        the_fix(),
        submit(),
    ];
    let (run, server, _repo) = fix(script, &["--no-review"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(notices(&run, "plan_only").len(), 1);
    assert!(notices(&run, "malformed").is_empty());
    let plan = run.events.iter().find(|e| e["event"] == "plan").unwrap();
    assert!(plan["plan"].as_str().unwrap().starts_with("1. read"));
    let requests = server.requests();
    assert_eq!(requests[0]["tool_choice"], "required");
    assert!(
        server.last_message(1)["content"]
            .as_str()
            .unwrap()
            .contains("first step")
    );
}

#[test]
fn a_server_that_refuses_required_tool_choice_gets_auto() {
    let refusal = Reply::Status {
        code: 400,
        retry_after: None,
        body: json!({"error": {"message": "tool_choice \"required\" is not supported", "type": "invalid_request_error"}}).to_string(),
    };
    let (run, server, _repo) = fix(vec![refusal, the_fix(), submit()], &["--no-review"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let choices: Vec<Value> = server
        .requests()
        .iter()
        .map(|r| r["tool_choice"].clone())
        .collect();
    // The refused request, then the same turn with `auto`, then `auto` from then on.
    assert_eq!(choices, [json!("required"), json!("auto"), json!("auto")]);
}

#[test]
fn loops_escalate_from_a_notice_to_a_replan_to_stuck() {
    let repeat = || Reply::tool("update_plan", json!({"plan": "1. look again"}));
    let script = vec![
        repeat(),
        repeat(),
        repeat(),
        repeat(),
        Reply::Text("I learned nothing new.\nPLAN:\n1. read stats/core.py".into()),
        repeat(),
        submit(),
    ];
    let (run, server, _repo) = fix(script, &[]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(end(&run)["exit_reason"], "stuck");
    assert!(run.stderr.contains("update_plan"), "{}", run.stderr);
    assert_eq!(server.remaining(), 1, "the run ended before the submit");
    // The notice names the repeated call and never recommends it.
    let notice = notices(&run, "repeated_action")[0]["text"]
        .as_str()
        .unwrap();
    assert!(
        notice.contains("`update_plan`") && notice.contains("look again"),
        "{notice}"
    );
    assert!(!notice.contains("call `update_plan`"), "{notice}");
    // The forced re-plan is a request without tools, and its text becomes the plan.
    assert_eq!(notices(&run, "replan").len(), 1);
    let requests = server.requests();
    assert!(requests[3].get("tools").is_some());
    assert!(requests[4].get("tools").is_none(), "{}", requests[4]);
    let plans: Vec<&Value> = run
        .events
        .iter()
        .filter(|e| e["event"] == "plan" && e["source"] == "replan")
        .collect();
    assert_eq!(plans.len(), 1);
}

#[test]
fn an_unchanged_repository_is_sent_back_then_reported_as_no_change() {
    let (run, server, _repo) = fix(vec![submit(), submit()], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(end(&run)["exit_reason"], "no_change");
    assert_eq!(notices(&run, "submit_empty").len(), 1);
    assert!(run.stderr.contains("without changing"), "{}", run.stderr);
    assert!(
        server.review_requests().is_empty(),
        "an empty diff is not reviewed"
    );
}

#[test]
fn a_reproduction_that_flips_is_recorded_and_required_once() {
    let repro = json!({"command": "python3 -c 'import stats; assert stats.mean([1,2,3]) == 2'"});
    let script = vec![
        Reply::tool("run", repro.clone()),
        the_fix(),
        // Submitting without re-running: no reproduction yet, sent back once.
        submit(),
        Reply::tool("run", repro.clone()),
        submit(),
    ];
    let (run, _server, _repo) = fix(script, &["--require-reproduction", "--no-review"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(notices(&run, "submit_no_reproduction").len(), 1);
    let recorded = notices(&run, "reproduction");
    assert_eq!(recorded.len(), 1);
    let text = recorded[0]["text"].as_str().unwrap();
    assert!(
        text.contains("failed at step 1") && text.contains("passes at step 4"),
        "{text}"
    );
    assert!(
        run.stderr.contains("reproduction: `python3 -c"),
        "{}",
        run.stderr
    );
}

#[test]
fn without_a_flip_there_is_no_reproduction() {
    let passing = json!({"command": "true"});
    let script = vec![
        Reply::tool("run", passing.clone()),
        the_fix(),
        Reply::tool("run", passing),
        submit(),
    ];
    let (run, _server, _repo) = fix(script, &["--no-review"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(notices(&run, "reproduction").is_empty());
    assert!(run.stderr.contains("reproduction: none"), "{}", run.stderr);
}

#[test]
fn a_review_that_catches_an_unrelated_edit_sends_the_submit_back_once() {
    let unrelated = Reply::tool(
        "str_replace",
        json!({"path": "README.md", "old_str": "Tiny statistics helpers.", "new_str": "Tiny statistics helpers!"}),
    );
    let undo = Reply::tool(
        "str_replace",
        json!({"path": "README.md", "old_str": "Tiny statistics helpers!", "new_str": "Tiny statistics helpers."}),
    );
    let review =
        Reply::Text("VERDICT: revise\nFINDINGS:\n- README.md: unrelated edit, revert it".into());
    let server = ScriptedServer::start_with_reviews(
        vec![the_fix(), unrelated, submit(), undo, submit()],
        vec![review],
    )
    .unwrap();
    let (run, repo) = fix_with(&server, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // One review, on the first submit; its findings went back to the model.
    let reviews = server.review_requests();
    assert_eq!(reviews.len(), 1);
    let asked = reviews[0]["messages"][1]["content"].as_str().unwrap();
    assert!(
        asked.contains("README.md") && asked.contains("mean()"),
        "{asked}"
    );
    let feedback = server.last_message(3);
    assert!(
        feedback["content"]
            .as_str()
            .unwrap()
            .contains("unrelated edit, revert it"),
        "{feedback}"
    );
    assert_eq!(notices(&run, "review").len(), 1);
    assert!(!run.diff.contains("README.md"), "{}", run.diff);
    assert!(run.diff.contains("stats/core.py"));
    assert!(agent_tests::fixtures::stats_tests_pass(repo.path()).unwrap());
}

#[test]
fn debugging_leftovers_are_found_without_the_model() {
    let leftover = Reply::tool(
        "create_file",
        json!({"path": "reproduce_mean.py", "content": "import stats\nprint(stats.mean([1, 2, 3]))\n"}),
    );
    let server =
        ScriptedServer::start_with_reviews(vec![the_fix(), leftover, submit(), submit()], vec![])
            .unwrap();
    let (run, _repo) = fix_with(&server, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let review = notices(&run, "review")[0]["text"].as_str().unwrap();
    assert!(
        review.starts_with("VERDICT: revise") && review.contains("reproduce_mean.py"),
        "{review}"
    );
}

#[test]
fn older_turns_are_compacted_into_a_ledger_at_a_small_window() {
    let grep = |p: &str| Reply::tool("grep", json!({"pattern": p}));
    let ledger = Reply::Text(
        "PLAN: fix mean\nFACTS: mean divides by len+1 in stats/core.py line 9\nFILES TOUCHED: none\nTESTS: none\nFAILED ATTEMPTS: none".into(),
    );
    // At a 1000-token window every request is past 80%; the newest 6 messages stay whole, so
    // the first compaction comes before step 5, when 4 steps lie behind.
    let script = vec![
        Reply::tool("view_file", json!({"path": "README.md"})),
        grep("def median"),
        grep("import"),
        grep("values"),
        ledger,
        the_fix(),
        submit(),
    ];
    let (run, server, _repo) = fix(
        script,
        &[
            "--context-window",
            "1000",
            "--no-review",
            "--profile",
            "compact",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let compactions = notices(&run, "compaction");
    assert_eq!(
        compactions.len(),
        1,
        "a fresh ledger is not compacted again at once"
    );
    assert!(compactions[0]["text"].as_str().unwrap().contains("len+1"));
    let requests = server.requests();
    assert!(
        requests[4]["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("Write a ledger")
    );
    // The request after it carries the ledger in place of the older turns.
    let after: Vec<&str> = requests[5]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap_or(""))
        .collect();
    assert!(
        after[2].contains("Ledger of the work so far") && after[2].contains("len+1"),
        "{after:?}"
    );
    assert!(
        !after.iter().any(|t| t.contains("Tiny statistics helpers")),
        "{after:?}"
    );
    assert_eq!(after.len(), 3 + 6);
}

#[test]
fn a_context_length_error_compacts_and_retries() {
    let too_long = Reply::Status {
        code: 400,
        retry_after: None,
        body: json!({"error": {"message": "the request exceeds the available context size, try increasing it", "type": "exceed_context_size_error"}}).to_string(),
    };
    let script = vec![
        Reply::tool("view_file", json!({"path": "stats/core.py"})),
        Reply::tool("view_file", json!({"path": "README.md"})),
        Reply::tool("grep", json!({"pattern": "mean"})),
        too_long,
        Reply::Text("PLAN: fix mean in stats/core.py\nFACTS: divides by len+1".into()),
        the_fix(),
        submit(),
    ];
    let (run, server, _repo) = fix(script, &["--no-review"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let compactions = notices(&run, "compaction");
    assert_eq!(compactions.len(), 1);
    assert!(
        compactions[0]["text"]
            .as_str()
            .unwrap()
            .contains("longer than the model's context")
    );
    assert_eq!(server.remaining(), 0);
}

#[test]
fn the_compact_profile_sends_few_clean_tools_and_a_repository_overview() {
    let (run, server, _repo) = fix(
        vec![the_fix(), submit()],
        &["--profile", "compact", "--no-review"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let first = &server.requests()[0];
    let names: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "view_file",
            "grep",
            "str_replace",
            "create_file",
            "run",
            "run_tests",
            "submit"
        ]
    );
    let tools = first["tools"].to_string();
    assert!(
        !tools.contains("\"null\"") && !tools.contains("\"format\""),
        "{tools}"
    );
    // Descriptions keep their first sentence: none goes on past its first full stop.
    for t in first["tools"].as_array().unwrap() {
        let d = t["function"]["description"].as_str().unwrap();
        assert!(!d.trim_end_matches('.').contains(". "), "{d}");
    }
    let task = first["messages"][1]["content"].as_str().unwrap();
    assert!(task.contains("stats: __init__.py, core.py"), "{task}");
    let system = first["messages"][0]["content"].as_str().unwrap();
    assert!(system.len() < 1200, "{}", system.len());
    // Local servers get a low temperature and a bounded reply unless told otherwise.
    assert_eq!(first["temperature"], json!(0.2));
    assert_eq!(first["max_tokens"], 2048);
}

#[test]
fn sampling_flags_override_the_local_defaults() {
    let (run, server, _repo) = fix(
        vec![the_fix(), submit()],
        &["--temperature", "0.7", "--max-tokens", "300", "--no-review"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let first = &server.requests()[0];
    assert_eq!(first["temperature"], json!(0.7));
    assert_eq!(first["max_tokens"], 300);
}

#[test]
fn a_slow_server_is_reported_as_slow_not_unreachable() {
    let slow = Reply::Delayed(std::time::Duration::from_secs(3), Box::new(submit()));
    let (run, _server, _repo) = fix(
        vec![slow.clone(), slow],
        &["--request-timeout", "1", "--max-retries", "0"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("did not answer within 1 s")
            && run.stderr.contains("--request-timeout"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("unreachable"), "{}", run.stderr);
}
