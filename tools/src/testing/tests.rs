//! The tool end to end on the host: a real cargo crate, run, fixed, run again.

use std::sync::Arc;

use super::*;
use crate::executor::LocalExecutor;
use crate::jail::PathJail;

fn crate_with(lib: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), lib).unwrap();
    dir
}

const LIB: &str = r#"
pub fn double(x: i32) -> i32 { x + 2 }

#[cfg(test)]
mod tests {
    #[test]
    fn doubles_two() { assert_eq!(super::double(2), 4); }
    #[test]
    fn doubles_three() { assert_eq!(super::double(3), 6, "three"); }
}
"#;

fn context(dir: &std::path::Path) -> ToolContext {
    ToolContext::new(
        PathJail::new(dir).unwrap(),
        Arc::new(LocalExecutor::new(dir)),
    )
}

#[tokio::test]
async fn detects_cargo_reports_failures_then_compares_with_the_fix() {
    let dir = crate_with(LIB);
    let ctx = context(dir.path());
    let tool = RunTests::new();

    let first = tool.call(&ctx, RunTestsArgs::default()).await.unwrap();
    assert!(
        first.text.starts_with("$ cargo test --no-fail-fast\n"),
        "{}",
        first.text
    );
    assert!(
        first.text.contains("cargo test: 1 failed, 1 passed"),
        "{}",
        first.text
    );
    assert!(
        first
            .text
            .contains("FAILED tests::doubles_three - assertion `left == right` failed: three"),
        "{}",
        first.text
    );
    assert!(first.text.contains("at src/lib.rs:"), "{}", first.text);
    assert!(!first.text.contains("Compared with the previous run"));

    std::fs::write(dir.path().join("src/lib.rs"), LIB.replace("x + 2", "x * 2")).unwrap();
    let second = tool.call(&ctx, RunTestsArgs::default()).await.unwrap();
    assert!(
        second.text.contains("cargo test: 2 passed"),
        "{}",
        second.text
    );
    assert!(
        second
            .text
            .contains("newly passing (1): tests::doubles_three"),
        "{}",
        second.text
    );

    let runs = tool.runs();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].report.counts.failed, 1);
    assert_eq!(
        runs[1].comparison.as_ref().unwrap().newly_passing,
        vec!["tests::doubles_three"]
    );
}

#[tokio::test]
async fn selector_narrows_and_configured_command_wins() {
    let dir = crate_with(LIB);
    let ctx = context(dir.path());
    let tool = RunTests::new();
    let args = RunTestsArgs {
        selector: Some("doubles_two".into()),
        ..RunTestsArgs::default()
    };
    let out = tool.call(&ctx, args).await.unwrap();
    assert!(
        out.text
            .starts_with("$ cargo test --no-fail-fast doubles_two\n"),
        "{}",
        out.text
    );
    assert!(out.text.contains("cargo test: 1 passed"), "{}", out.text);

    let configured = RunTests::with_command("cargo test --no-fail-fast --lib");
    let narrowed = RunTests::with_command("python -m pytest -x");
    let args = RunTestsArgs {
        paths: vec!["tests/a b.py".into()],
        selector: Some("slow".into()),
        ..RunTestsArgs::default()
    };
    let (command, _) = narrowed.resolve_command(&ctx, &args).unwrap();
    assert_eq!(command, "python -m pytest -x 'tests/a b.py' -k slow");
    let out = configured
        .call(&ctx, RunTestsArgs::default())
        .await
        .unwrap();
    assert!(
        out.text.starts_with("$ cargo test --no-fail-fast --lib\n"),
        "{}",
        out.text
    );
    assert!(out.text.contains("1 failed, 1 passed"), "{}", out.text);
}

#[tokio::test]
async fn unrecognised_output_shows_its_end_and_unknown_repos_ask_for_a_command() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    let tool = RunTests::new();
    let err = tool.call(&ctx, RunTestsArgs::default()).await.unwrap_err();
    assert!(matches!(err, ToolError::Model(_)));
    assert!(err.to_string().contains("pass `command`"), "{err}");

    let args = RunTestsArgs {
        command: Some("echo something else entirely; exit 4".into()),
        ..RunTestsArgs::default()
    };
    let out = tool.call(&ctx, args).await.unwrap();
    assert!(out.text.contains("[exit code 4;"), "{}", out.text);
    assert!(
        out.text.contains("No test results were recognised"),
        "{}",
        out.text
    );
    assert!(out.text.contains("something else entirely"), "{}", out.text);
}

#[test]
fn render_lists_changes_and_caps_long_failure_lists() {
    let mut report = TestReport::for_framework(Framework::Pytest);
    for i in 0..40 {
        let mut failure = TestFailure::new(format!("t{i}"), FailureKind::Failed);
        failure.message = Some(format!("assert {i} == 0"));
        report.failures.push(failure);
    }
    report.fill_counts_from_lists();
    let run = TestRun {
        command: "pytest".into(),
        exit_code: Some(1),
        timed_out: false,
        duration_ms: 1500,
        report,
        comparison: Some(Comparison {
            newly_failing: vec!["t1".into()],
            newly_passing: vec!["old".into()],
            still_failing: vec!["t0".into()],
        }),
    };
    let text = render(&run, &ExecOutput::default(), 600);
    assert!(text.contains("pytest: 40 failed"));
    assert!(text.contains("FAILED t9 - assert 9 == 0"));
    assert!(text.contains("  FAILED t10\n"));
    assert!(text.contains("... and 10 more"));
    assert!(text.contains("newly failing (1): t1"));
    assert!(text.contains("newly passing (1): old"));
    assert!(text.contains("still failing (1): t0"));
}
