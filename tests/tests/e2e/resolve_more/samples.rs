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
    let traj = repo.path().join(".agent/fix.jsonl");
    let args = samples_args(&server.base_url(), &traj, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_agent(repo.path(), &args, &[]).unwrap();
    Samples {
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
        diff: String::from_utf8_lossy(&out.stdout).into(),
        events: read_events(&traj),
        repo,
    }
}

/// `agent fix --samples 3` on the stats fixture against `base`, writing `traj`, then `extra`.
fn samples_args(base: &str, traj: &std::path::Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "fix",
        "--issue-text",
        STATS_ISSUE,
        "--base-url",
        base,
        "--trajectory",
        traj.to_str().unwrap(),
        "--samples",
        "3",
        "--test-command",
        TEST_COMMAND,
    ];
    args.extend_from_slice(extra);
    args.into_iter().map(String::from).collect()
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
fn a_candidate_that_changes_a_latin1_file_applies_byte_for_byte() {
    // A Latin-1 file: its diff is not UTF-8 text, so it travels as a git binary patch.
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
        vec![submit(), submit()],
    ]);
    let server = ScriptedServer::start_scripts(Scripts {
        keyed: scripts,
        ..Scripts::default()
    })
    .unwrap();
    let run = fix_samples_in(&server, repo, &["--no-review"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let selection = run.selection();
    assert_eq!(selection["chosen"], 2, "{selection:#}");
    assert_eq!(selection["decided_by"], "only_candidate");
    assert_eq!(run.candidate(1)["status"], "empty");
    assert_eq!(run.candidate(2)["status"], "eligible", "{selection:#}");
    assert!(
        selection["reasons"]
            .to_string()
            .contains("attempt 1 is out: its diff is empty")
    );
    // The user's checkout has the attempt's bytes, the Latin-1 byte included.
    assert_eq!(
        std::fs::read(run.repo.path().join("stats/legacy.py")).unwrap(),
        b"# caf\xe9\nX = 2\n"
    );
    assert!(agent_tests::fixtures::stats_tests_pass(run.repo.path()).unwrap());
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

/// A user config: the local sandbox and $10 per million prompt tokens for the `scripted` model
/// (each scripted reply, 1000 prompt tokens, costs $0.01).
fn priced_config() -> tempfile::NamedTempFile {
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        "sandbox = \"local\"\n[prices.scripted]\ninput_per_mtok = 10.0\noutput_per_mtok = 0.0\n",
    )
    .unwrap();
    config
}

#[test]
fn the_cost_line_counts_the_judge_too() {
    let server = ScriptedServer::start_scripts(Scripts {
        keyed: three_different_right_fixes(),
        judges: vec![Reply::Text("CHOICE: 2\nREASON: shortest.".into())],
        ..Scripts::default()
    })
    .unwrap();
    let repo = tempfile::tempdir().unwrap();
    git_repo(repo.path(), STATS_FILES).unwrap();
    let config = priced_config();
    let base = server.base_url();
    let traj = repo.path().join(".agent/fix.jsonl");
    let args = [
        "fix",
        "--issue-text",
        STATS_ISSUE,
        "--base-url",
        &base,
        "--model",
        "scripted",
        "--trajectory",
        traj.to_str().unwrap(),
        "--samples",
        "3",
        "--test-command",
        TEST_COMMAND,
        "--no-review",
    ];
    let config_path = config.path().to_str().unwrap();
    let out = run_agent(repo.path(), &args, &[("AGENT_CONFIG", config_path)]).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(server.judge_requests().len(), 1, "{stderr}");
    // Six attempt replies and the judge's: 7000 prompt tokens, $0.07.
    assert!(
        stderr.contains(
            "all 3 attempts and the judge: 7000 prompt + 700 completion tokens, cost $0.0700 \
             (the judge: 1000 prompt + 100 completion tokens)"
        ),
        "{stderr}"
    );
    let end = read_events(&traj)
        .into_iter()
        .find(|e| e["event"] == "end")
        .unwrap();
    assert!(
        (end["cost_usd"].as_f64().unwrap() - 0.07).abs() < 1e-9,
        "{end}"
    );
    assert_eq!(end["usage"]["prompt_tokens"], 7000, "{end}");
}

/// Three right fixes that each also add a long comment block (about 6000 characters).
fn three_long_right_fixes() -> Vec<(String, Vec<Reply>)> {
    let long = |tag: &str, fix: &str| {
        let comment: String = (0..120)
            .map(|i| format!("    # {tag} note {i:03}: the divisor is the number of values\n"))
            .collect();
        edit(&format!("{comment}{fix}"))
    };
    keyed(vec![
        vec![long("first", STATS_FIX), submit()],
        vec![
            long("second", "    return sum(values) / len(values)\n"),
            submit(),
        ],
        vec![
            long("third", "    return total / float(len(values))\n"),
            submit(),
        ],
    ])
}

#[test]
fn the_judge_request_fits_a_small_context_window() {
    let server = ScriptedServer::start_scripts(Scripts {
        keyed: three_long_right_fixes(),
        judges: vec![Reply::Text("CHOICE: 1\nREASON: plainest.".into())],
        ..Scripts::default()
    })
    .unwrap();
    let run = fix_samples(&server, &["--no-review", "--context-window", "4096"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.selection()["decided_by"], "judge", "{}", run.stderr);
    let judged = server.judge_requests();
    assert_eq!(judged.len(), 1);
    let text = |i: usize| {
        judged[0]["messages"][i]["content"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (system, user) = (text(0), text(1));
    // By compaction's estimate (3 characters a token), within 80% of the window.
    let chars = system.chars().count() + user.chars().count();
    assert!(chars <= 4096 * 3 * 8 / 10, "{chars} characters:\n{user}");
    // Every candidate is there, cut in the middle with a marker that says so.
    for n in 1..=3 {
        assert!(
            user.contains(&format!("<candidate number=\"{n}\">")),
            "{user}"
        );
    }
    assert_eq!(user.matches("cut from the middle").count(), 3, "{user}");
    assert!(
        user.contains("Some text above was cut in the middle"),
        "{user}"
    );
    // Without a window the same diffs go whole (each is under the 12000-character cap).
    let server = ScriptedServer::start_scripts(Scripts {
        keyed: three_long_right_fixes(),
        judges: vec![Reply::Text("CHOICE: 1".into())],
        ..Scripts::default()
    })
    .unwrap();
    let run = fix_samples(&server, &["--no-review"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let user = server.judge_requests()[0]["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!user.contains("cut from the middle"), "{user}");
    assert!(user.contains("third note 119"), "{user}");
}

/// A second Ctrl-C while the judge is being asked (the selection does not stop on the first)
/// exits at once, with 130, and removes the attempts' clones.
#[test]
fn a_second_interrupt_exits_at_once_and_removes_the_clones() {
    use std::io::BufRead;
    let server = ScriptedServer::start_scripts(Scripts {
        keyed: three_different_right_fixes(),
        judges: vec![Reply::Delayed(
            std::time::Duration::from_secs(60),
            Box::new(Reply::Text("CHOICE: 1".into())),
        )],
        ..Scripts::default()
    })
    .unwrap();
    let repo = tempfile::tempdir().unwrap();
    git_repo(repo.path(), STATS_FILES).unwrap();
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), "sandbox = \"local\"\n").unwrap();
    let mut child = std::process::Command::new(agent_tests::fixtures::agent_binary().unwrap())
        .args(["fix", "--issue-text", STATS_ISSUE, "--samples", "3"])
        .args(["--base-url", &server.base_url(), "--no-review"])
        .args(["--test-command", TEST_COMMAND])
        .env("AGENT_CONFIG", config.path())
        .env_remove("OPENAI_API_KEY")
        .current_dir(repo.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while server.judge_requests().is_empty()
        && started.elapsed() < std::time::Duration::from_secs(120)
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(server.judge_requests().len(), 1, "the judge was asked");
    let clones = repo.path().join(".agent/attempts");
    assert!(std::fs::read_dir(&clones).unwrap().next().is_some());
    let pid = child.id().to_string();
    let interrupt = || {
        let kill = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap();
        assert!(kill.success());
    };
    interrupt();
    // The second signal once the first was handled (its warning is printed).
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        let first_handled = line.contains("interrupt again to exit at once");
        line.clear();
        if first_handled {
            interrupt();
            break;
        }
    }
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    seen.push_str(&rest);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}");
    assert!(seen.contains("exiting now"), "{seen}");
    let left: Vec<_> = std::fs::read_dir(&clones).unwrap().flatten().collect();
    assert!(left.is_empty(), "clones left behind: {left:?}\n{seen}");
    // The checkout is as it was.
    assert!(
        std::fs::read_to_string(repo.path().join("stats/core.py"))
            .unwrap()
            .contains(STATS_BUG)
    );
}

/// An error the run's own kinds cover (here: the run's trajectory cannot be written) ends
/// `--samples` with the same message a single run gives.
#[test]
fn a_run_kind_error_after_the_attempts_reads_as_a_single_runs() {
    let server = ScriptedServer::start_scripts(Scripts {
        keyed: three_different_right_fixes(),
        judges: vec![Reply::Text("CHOICE: 1".into())],
        ..Scripts::default()
    })
    .unwrap();
    let repo = tempfile::tempdir().unwrap();
    git_repo(repo.path(), STATS_FILES).unwrap();
    // The attempts' trajectories go beside it; the run's own cannot be a directory.
    let traj = repo.path().join(".agent/fix.jsonl");
    std::fs::create_dir_all(&traj).unwrap();
    let args = samples_args(&server.base_url(), &traj, &["--no-review"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_agent(repo.path(), &args, &[]).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: cannot write trajectory {}",
            traj.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("check free disk space and permissions"),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(repo.path().join(".agent/attempts"))
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "clones left behind: {left:?}");
}
