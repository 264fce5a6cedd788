//! `cargo test` output: `test name ... ok|FAILED|ignored`, `---- name stdout ----` blocks with
//! the panic message, `test result:` lines (one per test binary), and compile errors.

use super::{is_repo_frame, push_unique};
use crate::testing::report::{FailureKind, Framework, TestFailure, TestReport, count_pairs};

const MAX_DETAIL_LINES: usize = 12;

pub fn looks_like(output: &str) -> bool {
    output.lines().any(|l| l.starts_with("test result: "))
        || output.contains("error: could not compile `")
}

pub fn parse(output: &str) -> TestReport {
    let mut report = TestReport::for_framework(Framework::Cargo);
    let lines: Vec<&str> = output.lines().collect();
    let mut failing: Vec<String> = Vec::new();
    let mut summaries = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(rest) = line.strip_prefix("test result: ") {
            for (n, word) in count_pairs(rest) {
                match word.as_str() {
                    "passed" => report.counts.passed += n,
                    "failed" => report.counts.failed += n,
                    "ignored" => report.counts.skipped += n,
                    _ => {}
                }
            }
            summaries.push(rest.trim().to_string());
        } else if let Some((name, status)) = result_line(line) {
            match status {
                "ok" => push_unique(&mut report.passed, name),
                "FAILED" => push_unique(&mut failing, name),
                _ => {}
            }
        } else if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|r| r.strip_suffix(" stdout ----"))
        {
            let mut end = i + 1;
            while end < lines.len() && !lines[end].starts_with("---- ") && lines[end] != "failures:"
            {
                end += 1;
            }
            report
                .failures
                .push(failure_from_block(name, &lines[i + 1..end]));
            i = end;
            continue;
        } else if (line.starts_with("error[") || line.starts_with("error: "))
            && let Some(failure) = compile_error(&lines, i)
        {
            report.counts.errors += 1;
            report.failures.push(failure);
        }
        i += 1;
    }
    // Failing tests without a stdout block (e.g. a timeout) still count.
    for name in failing {
        if !report.failures.iter().any(|f| f.name == name) {
            report
                .failures
                .push(TestFailure::new(name, FailureKind::Failed));
        }
    }
    if !summaries.is_empty() {
        report.summary = Some(report.counts_line());
    }
    report.fill_counts_from_lists();
    report
}

/// `test tests::adds ... ok` / `test x - should panic ... ok` → (name, status).
fn result_line(line: &str) -> Option<(String, &str)> {
    let rest = line.strip_prefix("test ")?;
    let (name, status) = rest.rsplit_once(" ... ")?;
    let name = name.trim_end_matches(" - should panic").trim();
    let status = status.trim();
    matches!(status, "ok" | "FAILED" | "ignored").then(|| (name.to_string(), status))
}

/// `thread 'name' (123) panicked at src/lib.rs:16:9:` then the message, up to the backtrace.
fn failure_from_block(name: &str, body: &[&str]) -> TestFailure {
    let mut failure = TestFailure::new(name, FailureKind::Failed);
    let mut message_lines: Vec<String> = Vec::new();
    let mut in_message = false;
    for line in body {
        if let Some(at) = line.find(" panicked at ") {
            let rest = &line[at + " panicked at ".len()..];
            // Older toolchains: `panicked at 'message', src/lib.rs:3:5`.
            if let Some(old) = rest.strip_prefix('\'') {
                if let Some((message, location)) = old.rsplit_once("', ") {
                    message_lines.push(message.to_string());
                    failure.location = Some(strip_column(location.trim_end_matches(':')));
                }
                in_message = true;
                continue;
            }
            failure.location = Some(strip_column(rest.trim_end_matches(':')));
            in_message = true;
            continue;
        }
        if in_message {
            if line.starts_with("stack backtrace:")
                || line.starts_with("note: ")
                || line.trim().is_empty()
            {
                in_message = false;
                continue;
            }
            message_lines.push(line.trim_end().to_string());
        } else if line.trim_start().starts_with("at ./") || line.trim_start().starts_with("at src/")
        {
            let frame = line.trim_start().trim_start_matches("at ").to_string();
            if is_repo_frame(&frame) && failure.details.len() < MAX_DETAIL_LINES {
                failure.details.push(format!("at {frame}"));
            }
        }
    }
    failure.message = message_lines.first().cloned();
    let mut details: Vec<String> = message_lines;
    details.append(&mut failure.details);
    details.truncate(MAX_DETAIL_LINES);
    failure.details = details;
    failure
}

fn strip_column(location: &str) -> String {
    let mut parts: Vec<&str> = location.rsplitn(3, ':').collect();
    if parts.len() == 3 && parts[0].chars().all(|c| c.is_ascii_digit()) {
        parts.reverse();
        format!("{}:{}", parts[0], parts[1])
    } else {
        location.to_string()
    }
}

/// `error[E0277]: msg` followed by ` --> src/lib.rs:2:7`: a build failure. Cargo's own
/// `error:` lines (`could not compile`, `1 target failed`) have no `-->` and are skipped.
fn compile_error(lines: &[&str], at: usize) -> Option<TestFailure> {
    let line = lines[at];
    let message = line.split_once(": ")?.1.trim().to_string();
    let mut failure = TestFailure::new("build", FailureKind::Error);
    failure.message = Some(message);
    failure.details.push(line.to_string());
    for next in lines.iter().skip(at + 1).take(8) {
        if next.starts_with("error") || next.starts_with("warning") || next.starts_with("For more")
        {
            break;
        }
        if failure.location.is_none()
            && let Some(location) = next.trim_start().strip_prefix("--> ")
        {
            failure.location = Some(strip_column(location.trim()));
        }
        failure.details.push(next.trim_end().to_string());
    }
    let location = failure.location.clone()?;
    failure.name = format!("build: {location}");
    Some(failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(report: &TestReport) {
        assert_eq!(report.counts.passed, 3);
        assert_eq!(report.counts.failed, 3);
        assert_eq!(report.counts.skipped, 1);
        let names: Vec<&str> = report.failures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "tests::adds_wrong",
                "tests::panics_plainly",
                "integration_bad"
            ]
        );
        let wrong = &report.failures[0];
        assert_eq!(
            wrong.message.as_deref(),
            Some("assertion `left == right` failed: two plus two")
        );
        assert_eq!(wrong.location.as_deref(), Some("src/lib.rs:16"));
        assert!(
            wrong.details.contains(&"  left: 4".to_string()),
            "{:?}",
            wrong.details
        );
        assert!(
            wrong.details.contains(&" right: 5".to_string()),
            "{:?}",
            wrong.details
        );
        assert_eq!(
            report.failures[1].message.as_deref(),
            Some("index out of bounds: the len is 0 but the index is 3")
        );
        assert_eq!(report.failures[2].message.as_deref(), Some("sum was 2"));
        assert_eq!(
            report.failures[2].location.as_deref(),
            Some("tests/integration.rs:8")
        );
        assert!(
            report
                .passed
                .contains(&"tests::should_panic_ok".to_string())
        );
        assert!(report.passed.contains(&"integration_ok".to_string()));
    }

    #[test]
    fn cargo_test_with_backtraces() {
        let output = include_str!("../fixtures/cargo_mixed.txt");
        assert!(looks_like(output));
        let report = parse(output);
        check(&report);
        // Only the repository's frames from the backtrace.
        let frames: Vec<&String> = report.failures[0]
            .details
            .iter()
            .filter(|l| l.starts_with("at "))
            .collect();
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert!(frames[0].contains("./src/lib.rs:16:9"));
    }

    #[test]
    fn cargo_test_without_backtraces() {
        check(&parse(include_str!("../fixtures/cargo_mixed_nobt.txt")));
    }

    #[test]
    fn compile_error_is_a_build_failure() {
        let output = include_str!("../fixtures/cargo_compile_error.txt");
        assert!(looks_like(output));
        let report = parse(output);
        assert_eq!(report.counts.errors, 1);
        assert_eq!(report.failures.len(), 1);
        let failure = &report.failures[0];
        assert_eq!(failure.kind, FailureKind::Error);
        assert_eq!(failure.name, "build: src/lib.rs:2");
        assert_eq!(
            failure.message.as_deref(),
            Some("cannot add `&str` to `i32`")
        );
    }
}
