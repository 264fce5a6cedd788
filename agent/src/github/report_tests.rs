use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use git2::Oid;
use serde_json::json;

use super::*;
use crate::model::Usage;
use crate::session::{CallRecord, SessionOutcome};

fn issue() -> Issue {
    Issue {
        number: 7,
        title: "mean() is wrong".into(),
        body: "it is".into(),
        author: "alice".into(),
        labels: vec![],
        html_url: String::new(),
        comments: vec![],
        left_out: vec![],
    }
}

fn report(reason: ExitReason, test_runs: Vec<TestRun>) -> FixReport {
    FixReport {
        outcome: SessionOutcome {
            exit_reason: reason,
            detail: Some("the steps budget is used up".into()),
            summary: Some("Divide by len, not len + 1.".into()),
            plan: Some("1. read\n2. fix".into()),
            steps: 5,
            usage: Usage {
                prompt_tokens: 5000,
                completion_tokens: 500,
            },
            cost_usd: Some(0.0123),
            duration: Duration::from_secs(12),
            questions: None,
            reproduction: None,
            review: None,
            compactions: 0,
            model_error: None,
        },
        diff: "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n".into(),
        baseline: Oid::ZERO_SHA1,
        final_tree: Oid::ZERO_SHA1,
        changed_files: vec!["stats/core.py".into()],
        trajectory_path: PathBuf::from("/nonexistent"),
        edited_tests: BTreeSet::new(),
        test_runs,
        tool_calls: vec![
            CallRecord {
                step: 1,
                name: "view_file".into(),
                arguments: r#"{"path": "a.py"}"#.into(),
            },
            CallRecord {
                step: 2,
                name: "run".into(),
                arguments: r#"{"command": "pytest"}"#.into(),
            },
        ],
        model: "scripted".into(),
        secret_findings: Vec::new(),
        git_reverted: Vec::new(),
        selection: None,
    }
}

fn test_run(command: &str, passed: u64, failed: &[&str]) -> TestRun {
    serde_json::from_value(json!({
        "command": command,
        "exit_code": if failed.is_empty() { 0 } else { 1 },
        "timed_out": false,
        "duration_ms": 10,
        "report": {
            "framework": "unittest",
            "counts": {"passed": passed, "failed": failed.len()},
            "failures": failed.iter().map(|n| json!({"name": n, "kind": "failed"})).collect::<Vec<_>>(),
            "passed": [],
        },
        "comparison": null,
    }))
    .unwrap()
}

#[test]
fn pr_body_has_summary_plan_tests_before_and_after_usage_and_the_closing_link() {
    let runs = vec![
        test_run("python -m pytest", 3, &["test_mean"]),
        test_run("python -m pytest", 4, &[]),
    ];
    let body = pr_body(&issue(), &report(ExitReason::Submitted, runs));
    for needle in [
        PR_MARKER,
        "Divide by len, not len + 1.",
        "1. read\n2. fix",
        "| 1 (before) | `python -m pytest` | 3 passed, 1 failed |",
        "| 2 (after) | `python -m pytest` | 4 passed |",
        "Failing before, not after: `test_mean`",
        "5000 prompt + 500 completion tokens",
        "$0.0123",
        "`stats/core.py`",
        "`view_file`",
        "Fixes #7",
    ] {
        assert!(body.contains(needle), "missing {needle:?} in\n{body}");
    }
}

#[test]
fn no_test_runs_is_said_plainly() {
    let body = pr_body(&issue(), &report(ExitReason::Submitted, vec![]));
    assert!(body.contains("No test runs recorded"), "{body}");
}

#[test]
fn failure_comment_says_what_was_tried_and_why_it_stopped() {
    let runs = vec![test_run("pytest", 1, &["test_a", "test_b"])];
    let body = failure_comment(&issue(), &report(ExitReason::StepLimit, runs));
    for needle in [
        REPORT_MARKER,
        "ran out of steps",
        "step_limit",
        "1. read\n2. fix",
        "2. `run` `pytest`",
        "1 passed, 2 failed",
        "Still failing in the last run: `test_a`, `test_b`",
        "```diff",
    ] {
        assert!(body.contains(needle), "missing {needle:?} in\n{body}");
    }
    assert!(!body.contains("Fixes #7"));
}

#[test]
fn commit_message_explains_the_change() {
    let msg = commit_message(&issue(), &report(ExitReason::Submitted, vec![]));
    assert!(
        msg.starts_with("Fix #7: mean() is wrong\n\nDivide by len"),
        "{msg}"
    );
    assert!(msg.contains("Changed: stats/core.py"), "{msg}");
    assert!(msg.trim_end().ends_with("Fixes #7"), "{msg}");
}

#[test]
fn huge_bodies_are_cut_below_githubs_limit() {
    let mut r = report(ExitReason::StepLimit, vec![]);
    r.outcome.plan = Some("x".repeat(100_000));
    let body = failure_comment(&issue(), &r);
    assert!(body.len() <= MAX_BODY_CHARS, "{}", body.len());
    assert!(body.ends_with("size limit)\n"));
}

#[test]
fn arguments_are_described_by_their_telling_field() {
    assert_eq!(
        describe_arguments(r#"{"path": "a.py", "old_str": "x"}"#),
        "`a.py`"
    );
    assert_eq!(
        describe_arguments(r#"{"command": "ls   -la\n"}"#),
        "`ls -la`"
    );
    assert_eq!(describe_arguments("not json"), "");
}

#[test]
fn left_out_comments_are_named_in_every_body_the_bot_writes() {
    use crate::github::{LeftOut, Why};
    let mut i = issue();
    let plain = pr_body(&i, &report(ExitReason::Submitted, vec![]));
    assert!(!plain.contains("Comments left out"), "{plain}");
    i.left_out = vec![LeftOut {
        author: "mallory".into(),
        html_url: String::new(),
        why: Why::NoWriteAccess("not a collaborator".into()),
    }];
    let expected = "1 comment by users without write access was not given to the agent: @mallory (not a collaborator).";
    let bodies = [
        pr_body(&i, &report(ExitReason::Submitted, vec![])),
        failure_comment(&i, &report(ExitReason::StepLimit, vec![])),
        questions_comment(&i, "1. Which one?"),
        error_comment(&i, "boom"),
    ];
    for body in bodies {
        assert!(
            body.contains("### Comments left out") && body.contains(expected),
            "{body}"
        );
    }
}

#[test]
fn the_selection_is_in_the_pr_body_with_its_reasons() {
    use crate::select::{Candidate, Cell, MatrixCommand, Selection, Standing};
    let cell = |passed| Cell {
        passed,
        exit_code: Some(if passed { 0 } else { 1 }),
        error: None,
        duration_ms: 5,
    };
    let candidate = |attempt, standing, cells: Vec<Cell>| Candidate {
        attempt,
        exit_reason: "submitted".into(),
        standing,
        changed_lines: 2,
        passed: cells.iter().filter(|c| c.passed).count(),
        cells,
        votes: 1,
        trajectory: None,
        diff: "+x\n".into(),
    };
    let mut r = report(ExitReason::Submitted, vec![]);
    r.selection = Some(Selection {
        chosen: Some(2),
        decided_by: "tests".into(),
        candidates: vec![
            candidate(1, Standing::Eligible, vec![cell(false)]),
            candidate(2, Standing::Eligible, vec![cell(true)]),
            candidate(3, Standing::Empty, vec![]),
        ],
        commands: vec![MatrixCommand {
            origin: "reproduction of attempt 2".into(),
            tool: "run".into(),
            arguments: json!({"command": "python repro.py"}),
            display: "python repro.py".into(),
            files: vec![],
        }],
        judge: None,
        reasons: vec![
            "attempt 3 is out: its diff is empty (it ended with no_change)".into(),
            "attempt 2 passed the most checks (1 of 1); attempt 1 passed 0".into(),
        ],
        duration_ms: 1200,
        usage: Usage::default(),
    });
    let body = pr_body(&issue(), &r);
    assert!(body.contains("### Selection"), "{body}");
    assert!(body.contains("3 attempts were made; **attempt 2** was chosen (tests)."));
    assert!(
        body.contains("| 2 | submitted, 2 changed lines | 1 of 1 | 1 |"),
        "{body}"
    );
    assert!(
        body.contains("| 3 | out: empty diff (submitted) | - | - |"),
        "{body}"
    );
    assert!(body.contains("1. `python repro.py` (reproduction of attempt 2)"));
    assert!(body.contains("- attempt 2 passed the most checks (1 of 1); attempt 1 passed 0"));
    // Before the plan: the reviewer reads how the change was chosen first.
    assert!(body.find("### Selection") < body.find("### Plan"));
}

/// The whole texts the bot writes, reviewed as snapshots (`cargo insta review` after a change).
#[test]
fn snapshots_of_the_pr_body_and_the_comments() {
    let runs = vec![
        test_run("python -m pytest", 3, &["test_mean"]),
        test_run("python -m pytest", 4, &[]),
    ];
    let mut submitted = report(ExitReason::Submitted, runs);
    submitted.outcome.review = Some("ok".into());
    submitted.outcome.reproduction = Some(crate::session::Reproduction {
        tool: "run".into(),
        arguments: r#"{"command":"python repro.py"}"#.into(),
        command: Some("python repro.py".into()),
        failed_at_step: 2,
        passed_at_step: 5,
        files: vec![],
    });
    insta::assert_snapshot!("pr_body", pr_body(&issue(), &submitted));
    insta::assert_snapshot!("commit_message", commit_message(&issue(), &submitted));
    let stopped = report(
        ExitReason::StepLimit,
        vec![test_run("pytest", 1, &["test_a", "test_b"])],
    );
    insta::assert_snapshot!("failure_comment", failure_comment(&issue(), &stopped));
    insta::assert_snapshot!(
        "questions_comment",
        questions_comment(&issue(), "1. Should the mean of [] be 0 or an error?")
    );
    insta::assert_snapshot!(
        "error_comment",
        error_comment(&issue(), "cannot start the sandbox container: no engine")
    );
    insta::assert_snapshot!(
        "progress_comment",
        progress_text(
            "failed",
            "It stopped because it ran out of steps.",
            Some("https://github.com/acme/widgets/actions/runs/1")
        )
    );
}
