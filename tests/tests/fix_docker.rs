//! `agent fix` with its default Docker sandbox, through the real engine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use agent_tests::fixtures::{
    STATS_BUG, STATS_FILES, STATS_FIX, STATS_ISSUE, STATS_TEST_COMMAND, git_repo, run_agent,
    stats_tests_pass,
};
use agent_tests::{Reply, ScriptedServer};
use serde_json::json;

fn managed_containers() -> usize {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", "label=agent.managed=true"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn fix_runs_commands_in_a_sandbox_without_network_and_leaves_no_container() {
    let repo = tempfile::tempdir().unwrap();
    git_repo(repo.path(), STATS_FILES).unwrap();
    let before = managed_containers();
    let script = vec![
        Reply::tool(
            "run",
            json!({"command": "python3 --version; id -un; cat /etc/debian_version"}),
        ),
        Reply::tool(
            "run",
            json!({"command": "python3 -c 'import socket; socket.create_connection((\"1.1.1.1\", 53), timeout=3)' 2>&1 | tail -1"}),
        ),
        Reply::tool("run", json!({"command": STATS_TEST_COMMAND})),
        Reply::tool(
            "str_replace",
            json!({"path": "stats/core.py", "old_str": STATS_BUG, "new_str": STATS_FIX}),
        ),
        Reply::tool("run", json!({"command": STATS_TEST_COMMAND})),
        Reply::tool("submit", json!({"summary": "fixed the divisor"})),
    ];
    let server = ScriptedServer::start(script).unwrap();
    let base = server.base_url();
    let out = run_agent(
        repo.path(),
        &[
            "fix",
            "--issue-text",
            STATS_ISSUE,
            "--base-url",
            &base,
            "--sandbox",
            "docker",
            "--python",
            "3.11",
        ],
        &[],
    )
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let requests = server.requests();
    let observation = |i: usize| {
        requests[i]["messages"].as_array().unwrap().last().unwrap()["content"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let env = observation(1);
    assert!(env.contains("Python 3.11"), "{env}");
    assert!(env.contains("12."), "Debian bookworm inside: {env}");
    let net = observation(2);
    assert!(
        net.contains("Error") || net.contains("unreachable"),
        "network is off: {net}"
    );
    assert!(observation(3).contains("FAILED"), "{}", observation(3));
    assert!(observation(5).contains("OK"), "{}", observation(5));
    assert!(stats_tests_pass(repo.path()).unwrap());
    assert_eq!(
        managed_containers(),
        before,
        "the sandbox container was removed"
    );
}
