//! Nothing hangs and nothing is left behind: special files are refused, and SIGTERM ends the run
//! and its commands' whole process group. The waits below are hang guards (a broken build would
//! otherwise block the suite forever), not speed assertions.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agent_tests::Reply;
use agent_tests::ScriptedServer;
use agent_tests::fixtures::{STATS_ISSUE, agent_binary};
use serde_json::json;

use super::{fix, repo};

/// Starts `agent fix` in the background (local sandbox) with `extra` flags; the returned file is
/// the user config, which must live as long as the process.
fn spawn_fix(
    repo: &std::path::Path,
    server: &ScriptedServer,
    extra: &[&str],
) -> (std::process::Child, tempfile::NamedTempFile) {
    let user_config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(user_config.path(), "sandbox = \"local\"\n").unwrap();
    let child = Command::new(agent_binary().unwrap())
        .args([
            "fix",
            "--issue-text",
            STATS_ISSUE,
            "--base-url",
            &server.base_url(),
        ])
        .args(extra)
        .env("AGENT_CONFIG", user_config.path())
        .env_remove("OPENAI_API_KEY")
        .current_dir(repo)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (child, user_config)
}

/// Waits for `child` up to `limit`; kills it and fails the test if it is still running.
fn wait_or_kill(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the agent did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn fifos_and_devices_are_refused_by_the_file_tools() {
    let repo = repo();
    let fifo = repo.path().join("pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let scratch_traj = tempfile::tempdir().unwrap();
    let traj = scratch_traj.path().join("t-fifo.jsonl");
    let run = fix(
        repo.path(),
        vec![
            Reply::tool("view_file", json!({"path": "pipe"})),
            Reply::tool(
                "str_replace",
                json!({"path": "pipe", "old_str": "a", "new_str": "b"}),
            ),
            Reply::tool("create_file", json!({"path": "pipe", "content": "x"})),
            Reply::tool("grep", json!({"pattern": "anything"})),
            super::fixing_edit(),
            Reply::tool("submit", json!({"summary": "done"})),
        ],
        Some(&traj),
        &["--allow-dirty"],
        &[],
    );
    assert!(run.out.status.success(), "{}", run.stderr());
    let observations = run.observations();
    for text in &observations[..3] {
        assert!(text.contains("named pipe (FIFO)"), "{text}");
    }
}

#[test]
fn sigterm_ends_the_run_its_commands_and_keeps_the_record() {
    let repo = repo();
    let scratch_pidfile = tempfile::tempdir().unwrap();
    let pidfile = scratch_pidfile.path().join("sleeper.pid");
    let server = ScriptedServer::start(vec![
        Reply::tool(
            "run",
            json!({"command": format!("sleep 300 & echo $! > {}; sleep 300", pidfile.display()), "timeout_secs": 600}),
        ),
        Reply::tool("submit", json!({"summary": "never reached"})),
    ])
    .unwrap();
    let scratch_traj = tempfile::tempdir().unwrap();
    let traj = scratch_traj.path().join("t-term.jsonl");
    let (mut child, _config) = spawn_fix(
        repo.path(),
        &server,
        &["--trajectory", traj.to_str().unwrap()],
    );
    let start = Instant::now();
    while !pidfile.exists() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let sleeper = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = wait_or_kill(&mut child, Duration::from_secs(30));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.code(),
        Some(3),
        "an interrupted run exits 3 (signal {:?})",
        status.signal()
    );
    let text = std::fs::read_to_string(&traj).unwrap();
    assert!(text.contains("\"exit_reason\":\"interrupted\""), "{text}");
    // The background child of the command died with its process group (a zombie waiting for
    // its reaper counts as dead).
    let start = Instant::now();
    while running(&sleeper) && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !running(&sleeper),
        "the command's background process {sleeper} survived"
    );
}

/// Whether process `pid` exists and is not a zombie.
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        })
        .unwrap_or(false)
}

#[test]
fn the_time_limit_ends_a_blocking_command_and_the_process_exits() {
    let repo = repo();
    let scratch = tempfile::tempdir().unwrap();
    let traj = scratch.path().join("t.jsonl");
    let server = ScriptedServer::start(vec![Reply::tool(
        "run",
        json!({"command": "cat /dev/zero | sleep 600", "timeout_secs": 900}),
    )])
    .unwrap();
    let (mut child, _config) = spawn_fix(
        repo.path(),
        &server,
        &["--trajectory", traj.to_str().unwrap(), "--time-limit", "3"],
    );
    let status = wait_or_kill(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(3));
    let text = std::fs::read_to_string(&traj).unwrap();
    assert!(text.contains("\"exit_reason\":\"time_limit\""), "{text}");
}
