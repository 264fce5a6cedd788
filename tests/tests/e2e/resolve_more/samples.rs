//! `agent fix --samples 3`: three attempts, each answered by its own script (keyed by the
//! attempt's clone, which the task message names), checked in fresh sandboxes, then one
//! chosen by the tests, the vote or the judge.

use std::path::Path;

use agent_tests::fixtures::{STATS_BUG, STATS_FILES, STATS_FIX, STATS_ISSUE, git_repo, run_agent};
use agent_tests::{Reply, ScriptedServer, Scripts};
use serde_json::{Value, json};

/// The command the stats fixture's tests run with (`run_tests` adds the test files to it).
const TEST_COMMAND: &str = "python3 -m unittest";
const REPRO: &str =
    "python3 -c 'from stats import mean; assert mean([1, 2, 3]) == 2, mean([1, 2, 3])'";

struct Samples {
    code: i32,
    stderr: String,
    diff: String,
    /// The run's own trajectory: start, selection, end.
    events: Vec<Value>,
    repo: tempfile::TempDir,
}

impl Samples {
    fn selection(&self) -> &Value {
        self.events
            .iter()
            .find(|e| e["event"] == "selection")
            .expect("a selection event")
    }

    fn candidate(&self, attempt: u64) -> &Value {
        self.selection()["record"]["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["attempt"] == attempt)
            .unwrap()
    }
}

fn edit(new: &str) -> Reply {
    Reply::tool(
        "str_replace",
        json!({"path": "stats/core.py", "old_str": STATS_BUG, "new_str": new}),
    )
}

fn submit() -> Reply {
    Reply::tool("submit", json!({"summary": "changed the mean"}))
}

fn keyed(scripts: Vec<Vec<Reply>>) -> Vec<(String, Vec<Reply>)> {
    scripts
        .into_iter()
        .enumerate()
        .map(|(i, s)| (format!("attempt-{}", i + 1), s))
        .collect()
}

fn read_events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .map(|t| {
            t.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

fn fix_samples(server: &ScriptedServer, extra: &[&str]) -> Samples {
    let repo = tempfile::tempdir().unwrap();
    git_repo(repo.path(), STATS_FILES).unwrap();
    fix_samples_in(server, repo, extra)
}

fn fix_samples_in(server: &ScriptedServer, repo: tempfile::TempDir, extra: &[&str]) -> Samples {
    let base = server.base_url();
    let traj = repo.path().join(".agent/fix.jsonl");
    let mut args = vec![
        "fix",
        "--issue-text",
        STATS_ISSUE,
        "--base-url",
        &base,
        "--trajectory",
        traj.to_str().unwrap(),
        "--samples",
        "3",
        "--test-command",
        TEST_COMMAND,
    ];
    args.extend_from_slice(extra);
    let out = run_agent(repo.path(), &args, &[]).unwrap();
    Samples {
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
        diff: String::from_utf8_lossy(&out.stdout).into(),
        events: read_events(&traj),
        repo,
    }
}

fn attempt_trajectories_exist(run: &Samples) {
    for n in 1..=3 {
        let path = run
            .repo
            .path()
            .join(format!(".agent/fix.attempt-{n}.jsonl"));
        let events = read_events(&path);
        assert_eq!(
            events.last().map(|e| e["event"].clone()),
            Some(json!("end")),
            "attempt {n} keeps its own trajectory"
        );
    }
    // The clones are gone; the user's checkout holds the chosen change only.
    let attempts = run.repo.path().join(".agent/attempts");
    let left: Vec<_> = std::fs::read_dir(&attempts)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "clones left behind: {left:?}");
}

fn commit_all(dir: &Path) {
    for args in [
        vec!["add", "-A"],
        vec![
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "legacy file",
        ],
    ] {
        let status = std::process::Command::new("git")
            .args(&args)
            .current_dir(dir)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

#[test]
fn of_three_attempts_the_one_the_tests_pass_is_chosen() {
    let scripts = keyed(vec![
        vec![edit("    return total / (len(values) - 1)\n"), submit()],
        vec![
            Reply::tool("run", json!({"command": REPRO})),
            edit(STATS_FIX),
            Reply::tool("run", json!({"command": REPRO})),
            submit(),
        ],
        vec![edit("    return total / (len(values) + 2)\n"), submit()],
    ]);
    let server = ScriptedServer::start_scripts(Scripts {
        keyed: scripts,
        ..Scripts::default()
    })
    .unwrap();
    let run = fix_samples(&server, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for key in ["attempt-1", "attempt-2", "attempt-3"] {
        assert_eq!(server.remaining_for(key), 0, "{key} ran its script");
    }
    let selection = run.selection();
    assert_eq!(selection["chosen"], 2, "{selection:#}");
    assert_eq!(selection["decided_by"], "tests");
    // Two checks: attempt 2's reproduction and the existing tests near stats/core.py.
    let commands = selection["record"]["commands"].as_array().unwrap();
    assert_eq!(commands.len(), 2, "{commands:#?}");
    assert_eq!(commands[0]["origin"], "reproduction of attempt 2");
    assert_eq!(
        commands[1]["arguments"],
        json!({"paths": ["tests/test_core.py"]})
    );
    assert_eq!(run.candidate(2)["passed"], 2);
    assert_eq!(run.candidate(1)["passed"], 0);
    assert_eq!(run.candidate(3)["passed"], 0);
    assert!(server.judge_requests().is_empty(), "no tie, no judge");
    // The chosen diff is printed and applied to the user's checkout.
    assert!(
        run.diff.contains("+    return total / len(values)"),
        "{}",
        run.diff
    );
    assert!(agent_tests::fixtures::stats_tests_pass(run.repo.path()).unwrap());
    assert!(
        run.stderr
            .contains("selection: attempt 2 of 3 chosen (tests)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("attempt 2 passed the most checks (2 of 2)")
    );
    attempt_trajectories_exist(&run);
}

#[test]
fn two_equivalent_diffs_outvote_a_third() {
    let scripts = keyed(vec![
        vec![edit(STATS_FIX), submit()],
        vec![edit("    return sum(values) / len(values)\n"), submit()],
        // The same change as attempt 1 but for its spacing.
        vec![edit("    return total /  len(values)\n"), submit()],
    ]);
    let server = ScriptedServer::start_scripts(Scripts {
        keyed: scripts,
        ..Scripts::default()
    })
    .unwrap();
    let run = fix_samples(&server, &["--no-review"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let selection = run.selection();
    assert_eq!(selection["decided_by"], "vote", "{selection:#}");
    assert_eq!(selection["chosen"], 1);
    assert_eq!(run.candidate(1)["votes"], 2);
    assert_eq!(run.candidate(3)["votes"], 2);
    assert_eq!(run.candidate(2)["votes"], 1);
    assert!(server.judge_requests().is_empty());
    assert!(
        run.diff.contains("+    return total / len(values)"),
        "{}",
        run.diff
    );
}

fn three_different_right_fixes() -> Vec<(String, Vec<Reply>)> {
    keyed(vec![
        vec![edit(STATS_FIX), submit()],
        vec![edit("    return sum(values) / len(values)\n"), submit()],
        vec![edit("    return total / float(len(values))\n"), submit()],
    ])
}

#[test]
fn a_tie_goes_to_the_judge_and_a_malformed_answer_to_the_smallest_change() {
    let server = ScriptedServer::start_scripts(Scripts {
        keyed: three_different_right_fixes(),
        judges: vec![Reply::Text(
            "CHOICE: 3\nREASON: it keeps the float result explicit.".into(),
        )],
        ..Scripts::default()
    })
    .unwrap();
    let run = fix_samples(&server, &["--no-review"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let selection = run.selection();
    assert_eq!(selection["decided_by"], "judge", "{selection:#}");
    assert_eq!(selection["chosen"], 3);
    assert_eq!(
        selection["record"]["judge"]["reason"],
        "it keeps the float result explicit."
    );
    assert!(run.diff.contains("float(len(values))"), "{}", run.diff);
    // The judge saw the three candidates side by side.
    let judged = server.judge_requests();
    assert_eq!(judged.len(), 1);
    let shown = judged[0]["messages"][1]["content"].as_str().unwrap();
    for (n, text) in [
        (1, "total / len(values)"),
        (2, "sum(values)"),
        (3, "float("),
    ] {
        assert!(
            shown.contains(&format!("<candidate number=\"{n}\">")),
            "{shown}"
        );
        assert!(shown.contains(text), "{shown}");
    }
    assert!(
        run.stderr.contains("the judge chose attempt 3"),
        "{}",
        run.stderr
    );

    // An answer that names no candidate: the smallest change (all are 2 lines: the first).
    let server = ScriptedServer::start_scripts(Scripts {
        keyed: three_different_right_fixes(),
        judges: vec![Reply::Text("They all look fine to me.".into())],
        ..Scripts::default()
    })
    .unwrap();
    let run = fix_samples(&server, &["--no-review"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let selection = run.selection();
    assert_eq!(selection["decided_by"], "judge_fallback", "{selection:#}");
    assert_eq!(selection["chosen"], 1);
    let fallback = selection["record"]["judge"]["fallback"].as_str().unwrap();
    assert!(fallback.contains("named no candidate"), "{fallback}");
    assert!(
        run.stderr.contains("the judge's answer was not used"),
        "{}",
        run.stderr
    );
}

#[test]
fn empty_and_non_applying_candidates_are_out() {
    // A Latin-1 file: an edit next to its first line makes a diff whose context (decoded
    // lossily) no longer matches the file, so it does not apply to a clean checkout.
    let repo = tempfile::tempdir().unwrap();
    git_repo(repo.path(), STATS_FILES).unwrap();
    std::fs::write(repo.path().join("stats/legacy.py"), b"# caf\xe9\nX = 1\n").unwrap();
    commit_all(repo.path());
    let scripts = keyed(vec![
        // Submits twice without a change: the run ends with no_change and an empty diff.
        vec![submit(), submit()],
        vec![
            Reply::tool(
                "run",
                json!({"command": "sed -i 's/X = 1/X = 2/' stats/legacy.py"}),
            ),
            edit(STATS_FIX),
            submit(),
        ],
        vec![edit(STATS_FIX), submit()],
    ]);
    let server = ScriptedServer::start_scripts(Scripts {
        keyed: scripts,
        ..Scripts::default()
    })
    .unwrap();
    let run = fix_samples_in(&server, repo, &["--no-review"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let selection = run.selection();
    assert_eq!(selection["chosen"], 3, "{selection:#}");
    assert_eq!(selection["decided_by"], "only_candidate");
    assert_eq!(run.candidate(1)["status"], "empty");
    assert_eq!(
        run.candidate(2)["status"],
        "does_not_apply",
        "{selection:#}"
    );
    let reasons = selection["reasons"].to_string();
    assert!(
        reasons.contains("attempt 1 is out: its diff is empty"),
        "{reasons}"
    );
    assert!(
        reasons.contains("attempt 2 is out: its diff does not apply to a clean checkout"),
        "{reasons}"
    );
    assert!(
        run.stderr
            .contains("attempt 2: out: the diff does not apply"),
        "{}",
        run.stderr
    );
}

#[test]
fn when_no_attempt_changes_anything_the_run_fails() {
    let scripts = keyed(vec![
        vec![submit(), submit()],
        vec![submit(), submit()],
        vec![submit(), submit()],
    ]);
    let server = ScriptedServer::start_scripts(Scripts {
        keyed: scripts,
        ..Scripts::default()
    })
    .unwrap();
    let run = fix_samples(&server, &["--no-review"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.diff.is_empty());
    assert!(
        run.stderr
            .contains("none of the 3 attempts left a diff that applies"),
        "{}",
        run.stderr
    );
    assert_eq!(run.selection()["chosen"], Value::Null);
}

#[test]
fn an_interrupted_samples_run_chooses_nothing_and_leaves_the_checkout_as_it_was() {
    let hang = || Reply::Delayed(std::time::Duration::from_secs(60), Box::new(submit()));
    let scripts = keyed(vec![
        vec![edit(STATS_FIX), hang()],
        vec![edit(STATS_FIX), hang()],
    ]);
    let server = ScriptedServer::start_scripts(Scripts {
        keyed: scripts,
        ..Scripts::default()
    })
    .unwrap();
    let repo = tempfile::tempdir().unwrap();
    git_repo(repo.path(), STATS_FILES).unwrap();
    let traj = repo.path().join(".agent/fix.jsonl");
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), "sandbox = \"local\"\n").unwrap();
    let child = std::process::Command::new(agent_tests::fixtures::agent_binary().unwrap())
        .args(["fix", "--issue-text", STATS_ISSUE, "--samples", "2"])
        .args(["--base-url", &server.base_url(), "--trajectory"])
        .arg(&traj)
        .env("AGENT_CONFIG", config.path())
        .env_remove("OPENAI_API_KEY")
        .current_dir(repo.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    // Both attempts made their edit and wait for their second reply.
    while server.requests().len() < 4 && started.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("no attempt was chosen"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing is printed as the fix");
    assert!(
        std::fs::read_to_string(repo.path().join("stats/core.py"))
            .unwrap()
            .contains(STATS_BUG)
    );
    for n in 1..=2 {
        let events = read_events(&repo.path().join(format!(".agent/fix.attempt-{n}.jsonl")));
        assert_eq!(events.last().unwrap()["exit_reason"], "interrupted");
    }
    assert!(!traj.exists() || read_events(&traj).iter().all(|e| e["event"] != "selection"));
}
