use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use git2::Oid;
use serde_json::json;

use super::*;
use crate::model::Usage;
use crate::session::SessionOutcome;

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

fn report(reason: ExitReason, test_runs: Vec<Value>) -> FixReport {
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
            changed_files: BTreeSet::new(),
            questions: None,
            test_runs: test_runs.clone(),
            tool_calls: Vec::new(),
            reproduction: None,
            review: None,
            compactions: 0,
            model_error: None,
        },
        diff: "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n".into(),
        baseline: Oid::ZERO_SHA1,
        final_tree: Oid::ZERO_SHA1,
        trajectory_path: PathBuf::from("/nonexistent"),
        edited_tests: BTreeSet::new(),
        test_runs,
        model: "scripted".into(),
        secret_findings: Vec::new(),
        git_reverted: Vec::new(),
    }
}

fn test_run(command: &str, passed: u64, failed: &[&str]) -> Value {
    json!({
        "command": command,
        "exit_code": if failed.is_empty() { 0 } else { 1 },
        "timed_out": false,
        "duration_ms": 10,
        "report": {
            "framework": "unittest",
            "counts": {"passed": passed, "failed": failed.len(), "errors": 0, "skipped": 0},
            "failures": failed.iter().map(|n| json!({"name": n, "kind": "failed"})).collect::<Vec<_>>(),
            "passed": [],
        },
        "comparison": null,
    })
}

#[test]
fn pr_body_has_summary_plan_tests_before_and_after_usage_and_the_closing_link() {
    let runs = vec![
        test_run("python -m pytest", 3, &["test_mean"]),
        test_run("python -m pytest", 4, &[]),
    ];
    let body = pr_body(
        &issue(),
        &report(ExitReason::Submitted, runs),
        &["1. `view_file` `a.py`".into()],
        &["stats/core.py".into()],
    );
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
    let body = pr_body(&issue(), &report(ExitReason::Submitted, vec![]), &[], &[]);
    assert!(body.contains("No test runs recorded"), "{body}");
}

#[test]
fn failure_comment_says_what_was_tried_and_why_it_stopped() {
    let runs = vec![test_run("pytest", 1, &["test_a", "test_b"])];
    let body = failure_comment(
        &issue(),
        &report(ExitReason::StepLimit, runs),
        &["1. `run` `pytest`".into()],
    );
    for needle in [
        REPORT_MARKER,
        "ran out of steps",
        "step_limit",
        "1. read\n2. fix",
        "1. `run` `pytest`",
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
    let msg = commit_message(
        &issue(),
        &report(ExitReason::Submitted, vec![]),
        &["stats/core.py".into()],
    );
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
    let body = failure_comment(&issue(), &r, &[]);
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
    let plain = pr_body(&i, &report(ExitReason::Submitted, vec![]), &[], &[]);
    assert!(!plain.contains("Comments left out"), "{plain}");
    i.left_out = vec![LeftOut {
        author: "mallory".into(),
        html_url: String::new(),
        why: Why::NoWriteAccess("not a collaborator".into()),
    }];
    let expected = "1 comment by users without write access was not given to the agent: @mallory (not a collaborator).";
    let bodies = [
        pr_body(&i, &report(ExitReason::Submitted, vec![]), &[], &[]),
        failure_comment(&i, &report(ExitReason::StepLimit, vec![]), &[]),
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
