//! The run's record survives whatever the model's commands do to the repository.

use agent_tests::Reply;
use agent_tests::fixtures::STATS_FIX;
use serde_json::json;

use super::{fix, fixing_edit, head, repo};

#[test]
fn git_clean_rm_and_truncation_lose_neither_the_diff_nor_the_trajectory() {
    for attack in [
        "git clean -fdxq; ls -a",
        "rm -rf .agent; ls -a",
        "for f in .agent/trajectories/*; do : > \"$f\"; done",
        "echo '{\"t_ms\":0,\"event\":\"end\",\"exit_reason\":\"forged\"}' >> .agent/trajectories/*.jsonl",
    ] {
        let repo = repo();
        let run = fix(
            repo.path(),
            vec![
                fixing_edit(),
                Reply::tool("run", json!({"command": attack})),
                Reply::tool("view_file", json!({"path": "README.md"})),
                Reply::tool("submit", json!({"summary": "fixed"})),
            ],
            None,
            &[],
            &[],
        );
        assert!(run.out.status.success(), "{attack}: {}", run.stderr());
        assert!(
            run.stdout().contains(&format!("+{STATS_FIX}")),
            "{attack}: no diff printed"
        );
        let events = run.events();
        let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
        assert_eq!(kinds.first(), Some(&"start"), "{attack}: {kinds:?}");
        assert_eq!(kinds.last(), Some(&"end"), "{attack}: {kinds:?}");
        assert_eq!(
            kinds.iter().filter(|k| **k == "tool_call").count(),
            4,
            "{attack}"
        );
        assert_eq!(run.exit_reason(), "submitted", "{attack}");
        assert!(
            kinds.contains(&"notice") && run.trajectory_text().contains("record_restored"),
            "{attack}: the restoration must be on the record"
        );
        let ends = events.iter().filter(|e| e["event"] == "end").count();
        assert_eq!(ends, 1, "{attack}: a forged end event survived");
    }
}

#[test]
fn git_commit_and_stash_by_the_model_do_not_move_the_branch_or_lose_the_run() {
    let repo = repo();
    let before = head(repo.path());
    let run = fix(
        repo.path(),
        vec![
            fixing_edit(),
            Reply::tool(
                "run",
                json!({"command": "git -c user.name=m -c user.email=m@m commit -qam wip; git log --oneline | head -3"}),
            ),
            Reply::tool("submit", json!({"summary": "fixed"})),
        ],
        None,
        &[],
        &[],
    );
    assert!(run.out.status.success(), "{}", run.stderr());
    assert_eq!(head(repo.path()), before);
    assert!(
        run.stdout().contains(&format!("+{STATS_FIX}")),
        "{}",
        run.stdout()
    );
    assert_eq!(run.exit_reason(), "submitted");
}
