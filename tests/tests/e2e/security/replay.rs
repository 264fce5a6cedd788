//! Replay is safe by default: a trajectory is untrusted input, so its commands run only with
//! `--run-commands`.

use agent_tests::fixtures::run_agent;
use serde_json::json;

use super::repo;

fn trajectory_with_commands(path: &std::path::Path, marker: &std::path::Path) {
    let lines = [
        json!({"t_ms": 0, "event": "tool_call", "step": 1, "call_id": "a", "name": "run", "arguments": json!({"command": format!("touch {}", marker.display())}).to_string()}),
        json!({"t_ms": 1, "event": "tool_call", "step": 2, "call_id": "b", "name": "run_tests", "arguments": json!({"command": format!("touch {}.tests", marker.display())}).to_string()}),
        json!({"t_ms": 2, "event": "tool_call", "step": 3, "call_id": "c", "name": "create_file", "arguments": json!({"path": "NEW.md", "content": "hello\n"}).to_string()}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(path, text).unwrap();
}

#[test]
fn replay_runs_no_commands_unless_asked() {
    let repo = repo();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let traj = dir.path().join("t.jsonl");
    trajectory_with_commands(&traj, &marker);
    let out = run_agent(repo.path(), &["replay", traj.to_str().unwrap()], &[]).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!marker.exists(), "`run` ran on the host");
    assert!(
        !dir.path().join("ran.tests").exists(),
        "`run_tests` ran on the host"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("+hello"),
        "edits are still replayed"
    );
    assert!(stderr.contains("skipped 2 recorded commands"), "{stderr}");

    let again = super::repo();
    let out = run_agent(
        again.path(),
        &["replay", traj.to_str().unwrap(), "--run-commands"],
        &[],
    )
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(marker.exists(), "--run-commands runs them");
}
