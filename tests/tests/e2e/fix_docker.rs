//! `agent fix` with its default Docker sandbox, through the real engine.

use std::process::Command;

use agent_tests::fixtures::{
    STATS_BUG, STATS_FILES, STATS_FIX, STATS_ISSUE, STATS_TEST_COMMAND, git_repo, run_agent,
    stats_tests_pass,
};
use agent_tests::{Reply, ScriptedServer};
use serde_json::json;

#[test]
fn fix_runs_commands_in_a_sandbox_without_network_and_leaves_no_container() {
    let repo = tempfile::tempdir().unwrap();
    git_repo(repo.path(), STATS_FILES).unwrap();
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
    // Only this run's containers: other tests create and remove theirs concurrently.
    assert_eq!(
        containers_over(repo.path()),
        Vec::<String>::new(),
        "the sandbox container was removed"
    );
}

/// Containers of the agent whose bind mounts come from under `dir`.
fn containers_over(dir: &std::path::Path) -> Vec<String> {
    let ids = Command::new("docker")
        .args(["ps", "-aq", "--filter", "label=agent.managed=true"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&ids.stdout)
        .lines()
        .filter(|id| {
            let mounts = Command::new("docker")
                .args([
                    "inspect",
                    "--format",
                    "{{range .Mounts}}{{.Source}} {{end}}",
                    id,
                ])
                .output()
                .unwrap();
            String::from_utf8_lossy(&mounts.stdout).contains(&*dir.to_string_lossy())
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn samples_run_and_are_checked_in_their_own_containers_and_leave_none() {
    use agent_tests::Scripts;
    let repo = tempfile::tempdir().unwrap();
    git_repo(repo.path(), STATS_FILES).unwrap();
    let repro = "python3 -c 'from stats import mean; assert mean([1, 2, 3]) == 2'";
    let edit = |new: &str| {
        Reply::tool(
            "str_replace",
            json!({"path": "stats/core.py", "old_str": STATS_BUG, "new_str": new}),
        )
    };
    let submit = || Reply::tool("submit", json!({"summary": "changed the mean"}));
    let server = ScriptedServer::start_scripts(Scripts {
        keyed: vec![
            (
                "attempt-1".into(),
                vec![edit("    return total / (len(values) - 1)\n"), submit()],
            ),
            (
                "attempt-2".into(),
                vec![
                    // Where the attempt's commands run: a container, not this host.
                    Reply::tool("run", json!({"command": "cat /etc/debian_version"})),
                    Reply::tool("run", json!({"command": repro})),
                    edit(STATS_FIX),
                    Reply::tool("run", json!({"command": repro})),
                    submit(),
                ],
            ),
        ],
        ..Scripts::default()
    })
    .unwrap();
    let base = server.base_url();
    let traj = repo.path().join(".agent/fix.jsonl");
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
            "--samples",
            "2",
            "--no-review",
            "--test-command",
            "python3 -m unittest",
            "--trajectory",
            traj.to_str().unwrap(),
        ],
        &[],
    )
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let in_sandbox = server.keyed_requests("attempt-2")[1]["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["content"]
        .to_string();
    assert!(
        in_sandbox.contains("12."),
        "Debian bookworm inside: {in_sandbox}"
    );
    let events: Vec<serde_json::Value> = std::fs::read_to_string(&traj)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let selection = events.iter().find(|e| e["event"] == "selection").unwrap();
    assert_eq!(selection["chosen"], 2, "{selection:#}");
    assert_eq!(selection["decided_by"], "tests");
    let cells = &selection["record"]["candidates"][1]["cells"];
    assert_eq!(cells.as_array().unwrap().len(), 2, "{cells:#}");
    assert!(
        cells[0]["passed"] == true && cells[1]["passed"] == true,
        "{cells:#}"
    );
    assert!(stats_tests_pass(repo.path()).unwrap());
    assert!(
        containers_over(repo.path()).is_empty(),
        "no attempt or selection container is left"
    );
}
