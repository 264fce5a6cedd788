//! `go test` output, verbose (`=== RUN`, messages, `--- FAIL:`) or not (`--- FAIL:` then
//! indented messages), panics, package lines (`ok  \tpkg`, `FAIL\tpkg [build failed]`).

use super::push_unique;
use crate::testing::report::{FailureKind, Framework, TestFailure, TestReport, leading_location};

const MAX_DETAIL_LINES: usize = 12;

pub fn looks_like(output: &str) -> bool {
    output.lines().any(|l| {
        let t = l.trim_start();
        t.starts_with("--- FAIL: ")
            || t.starts_with("--- PASS: ")
            || l.starts_with("ok  \t")
            || l.starts_with("FAIL\t")
    })
}

// Kept whole: one pass over the output lines; the last RUN/FAIL names, the verbosity and the
// package counts are state that each kind of line reads and updates.
pub fn parse(output: &str) -> TestReport {
    let mut report = TestReport::for_framework(Framework::Go);
    let mut last_run: Option<String> = None;
    let mut last_fail: Option<String> = None;
    let mut verbose = false;
    let mut build_output: Vec<String> = Vec::new();
    let mut messages: Vec<(String, String)> = Vec::new();
    let mut packages_ok = 0;
    let mut packages_failed = 0;
    for line in output.lines() {
        let trimmed = line.trim_start();
        if let Some(name) = trimmed
            .strip_prefix("=== RUN   ")
            .or_else(|| trimmed.strip_prefix("=== CONT  "))
            .or_else(|| trimmed.strip_prefix("=== NAME  "))
        {
            verbose = true;
            last_run = Some(name.trim().to_string());
        } else if let Some((status, name)) = result_line(trimmed) {
            match status {
                "PASS" => {
                    push_unique(&mut report.passed, name);
                    report.counts.passed += 1;
                }
                "SKIP" => report.counts.skipped += 1,
                _ => {
                    report.counts.failed += 1;
                    last_fail = Some(name.clone());
                    if !report.failures.iter().any(|f| f.name == name) {
                        report
                            .failures
                            .push(TestFailure::new(name, FailureKind::Failed));
                    }
                }
            }
        } else if let Some(rest) = line.strip_prefix("FAIL\t") {
            packages_failed += 1;
            if let Some(package) = rest.strip_suffix(" [build failed]") {
                let mut failure = TestFailure::new(format!("build: {package}"), FailureKind::Error);
                failure.message = build_output
                    .iter()
                    .find(|l| leading_location(l).is_some())
                    .cloned();
                failure.location = failure.message.as_deref().and_then(leading_location);
                failure.details = std::mem::take(&mut build_output);
                report.counts.errors += 1;
                report.failures.push(failure);
            }
        } else if line.starts_with("ok  \t") {
            packages_ok += 1;
        } else if line.starts_with("# ") {
            build_output.clear();
            build_output.push(line.to_string());
        } else if !build_output.is_empty()
            && leading_location(line).is_some()
            && !line.starts_with(' ')
        {
            build_output.push(line.to_string());
        } else if let Some(message) = trimmed.strip_prefix("panic: ") {
            let owner = if verbose {
                last_run.clone()
            } else {
                last_fail.clone()
            };
            if let Some(owner) = owner.or_else(|| last_fail.clone()) {
                messages.push((owner, format!("panic: {message}")));
            }
        } else if line.starts_with("    ") && leading_location(trimmed).is_some() {
            // `    calc_test.go:13: Add(2, 2) = 4, want 5`: a t.Error/t.Fatal message.
            let owner = if verbose {
                last_run.clone()
            } else {
                last_fail.clone()
            };
            if let Some(owner) = owner {
                messages.push((owner, trimmed.to_string()));
            }
        }
    }
    for (owner, text) in messages {
        let Some(failure) = report.failures.iter_mut().find(|f| f.name == owner) else {
            continue;
        };
        if failure.message.is_none() {
            failure.location = leading_location(&text);
            failure.message = Some(match failure.location.as_deref() {
                Some(location) => text[location.len()..]
                    .trim_start_matches(':')
                    .trim()
                    .to_string(),
                None => text.clone(),
            });
        }
        if failure.details.len() < MAX_DETAIL_LINES {
            failure.details.push(text);
        }
    }
    // A parent whose only failure is its failing subtests says nothing itself.
    let names: Vec<String> = report.failures.iter().map(|f| f.name.clone()).collect();
    report.failures.retain(|f| {
        f.message.is_some() || !names.iter().any(|n| n.starts_with(&format!("{}/", f.name)))
    });
    if packages_ok + packages_failed > 0 {
        report.summary = Some(format!(
            "{packages_ok} package(s) ok, {packages_failed} failed"
        ));
    }
    report
}

/// `--- FAIL: TestX (0.00s)` → ("FAIL", "TestX").
fn result_line(line: &str) -> Option<(&'static str, String)> {
    for status in ["PASS", "FAIL", "SKIP"] {
        if let Some(rest) = line.strip_prefix(&format!("--- {status}: ")) {
            let name = rest.split(" (").next().unwrap_or(rest).trim();
            return Some((status, name.to_string()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(report: &TestReport) {
        let names: Vec<&str> = report.failures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["TestAddWrong", "TestTable/bad", "TestPanics"]);
        let wrong = &report.failures[0];
        assert_eq!(wrong.message.as_deref(), Some("Add(2, 2) = 4, want 5"));
        assert_eq!(wrong.location.as_deref(), Some("calc_test.go:13"));
        assert_eq!(report.failures[1].message.as_deref(), Some("got 2 want 3"));
        assert_eq!(
            report.failures[2].message.as_deref(),
            Some("panic: assignment to entry in nil map [recovered]")
        );
        assert_eq!(report.summary.as_deref(), Some("1 package(s) ok, 1 failed"));
    }

    #[test]
    fn go_test_verbose() {
        let output = include_str!("../fixtures/go_verbose.txt");
        assert!(looks_like(output));
        let report = parse(output);
        check(&report);
        assert_eq!(report.counts.passed, 3);
        assert_eq!(report.counts.failed, 4);
        assert_eq!(report.counts.skipped, 1);
        assert!(report.passed.contains(&"TestTable/ok".to_string()));
    }

    #[test]
    fn go_test_plain() {
        check(&parse(include_str!("../fixtures/go_plain.txt")));
    }

    #[test]
    fn go_build_failure() {
        let output = include_str!("../fixtures/go_build_failed.txt");
        assert!(looks_like(output));
        let report = parse(output);
        assert_eq!(report.counts.errors, 1);
        let failure = &report.failures[0];
        assert_eq!(failure.name, "build: example.com/fx/calc");
        assert_eq!(failure.location.as_deref(), Some("calc/calc.go:3"));
        assert!(
            failure
                .message
                .as_deref()
                .unwrap_or("")
                .contains("mismatched types int and untyped string")
        );
    }
}
