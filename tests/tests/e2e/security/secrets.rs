//! Secrets: never in the model's requests, the trajectory or the printed diff; a diff holding
//! one is neither committed nor pushed.

use agent_tests::Reply;
use serde_json::json;

use super::{fix, head, repo};

const GITHUB_TOKEN: &str = "ghp_R3alL00kingT0kenValue0123456789abcdefgh";
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzEXAMPLEKEY";
const CUSTOM_SECRET: &str = "custom-service-credential-7f3a9b";
const DOTENV_TOKEN: &str = "ghp_D0tEnvT0kenInTheRepository0123456789ab";

#[test]
fn environment_dotenv_and_proc_environ_are_redacted_everywhere() {
    let repo = repo();
    std::fs::write(
        repo.path().join(".env"),
        format!("DEPLOY_TOKEN={DOTENV_TOKEN}\nDEBUG=1\n"),
    )
    .unwrap();
    let traj_dir = tempfile::tempdir().unwrap();
    let traj = traj_dir.path().join("t.jsonl");
    let run = fix(
        repo.path(),
        vec![
            Reply::tool("run", json!({"command": "env; cat .env"})),
            Reply::tool(
                "run",
                json!({"command": "tr '\\0' '\\n' < /proc/$PPID/environ; cat /proc/self/environ"}),
            ),
            Reply::tool("view_file", json!({"path": ".env"})),
            Reply::tool(
                "run",
                json!({"command": "grep -rh . /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c AWS_SECRET || true"}),
            ),
            super::fixing_edit(),
            Reply::tool("submit", json!({"summary": "looked around"})),
        ],
        Some(&traj),
        &["--allow-dirty"],
        &[
            ("GITHUB_TOKEN", GITHUB_TOKEN),
            ("AWS_SECRET_ACCESS_KEY", AWS_SECRET),
            ("MY_SERVICE_PASSWORD", CUSTOM_SECRET),
        ],
    );
    assert!(run.out.status.success(), "{}", run.stderr());
    let sent = run.sent_to_model();
    let recorded = run.trajectory_text();
    for secret in [GITHUB_TOKEN, AWS_SECRET, CUSTOM_SECRET, DOTENV_TOKEN] {
        assert!(!sent.contains(secret), "{secret} reached the model");
        assert!(
            !recorded.contains(secret),
            "{secret} reached the trajectory"
        );
        assert!(!run.stdout().contains(secret) && !run.stderr().contains(secret));
    }
    // The commands ran and saw ordinary variables; only the secrets are gone.
    let first = &run.observations()[0];
    assert!(
        first.contains("PATH=") && first.contains("DEBUG=1"),
        "{first}"
    );
    assert!(first.contains("DEPLOY_TOKEN=[REDACTED]"), "{first}");
    assert!(
        !first.contains("GITHUB_TOKEN="),
        "commands must not get the variable at all: {first}"
    );
    // The agent's own environment, as /proc shows it, no longer holds them either.
    let proc_environ = &run.observations()[1];
    assert!(proc_environ.contains("PATH="), "{proc_environ}");
    assert!(
        !proc_environ.contains("AWS_SECRET_ACCESS_KEY"),
        "{proc_environ}"
    );
}

#[test]
fn a_diff_holding_a_secret_is_printed_redacted_and_not_committed() {
    let repo = repo();
    let before = head(repo.path());
    let run = fix(
        repo.path(),
        vec![
            Reply::tool(
                "create_file",
                json!({"path": "deploy.py", "content": format!("TOKEN = \"{GITHUB_TOKEN}\"\nREGION = 'eu'\n")}),
            ),
            Reply::tool("submit", json!({"summary": "added deploy settings"})),
        ],
        None,
        &["--commit"],
        &[],
    );
    assert_eq!(run.out.status.code(), Some(1), "{}", run.stderr());
    assert!(run.stderr().contains("deploy.py:1"), "{}", run.stderr());
    assert!(
        run.stdout().contains("+TOKEN = \"[REDACTED]\""),
        "{}",
        run.stdout()
    );
    assert!(!run.stdout().contains(GITHUB_TOKEN));
    assert_eq!(head(repo.path()), before, "nothing may be committed");
}
