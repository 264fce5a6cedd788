//! Python `unittest` output (also Django's `runtests.py`): `FAIL: test (module.Class)` blocks,
//! verbose `test (id) ... ok` lines, `Ran N tests` and `FAILED (failures=1, errors=1)`.

use super::{is_repo_frame, push_unique};
use crate::testing::report::{FailureKind, Framework, TestFailure, TestReport};

const MAX_DETAIL_LINES: usize = 20;

pub fn looks_like(output: &str) -> bool {
    output.lines().any(|l| ran_count(l).is_some())
}

pub fn parse(output: &str) -> TestReport {
    let mut report = TestReport::for_framework(Framework::Unittest);
    let lines: Vec<&str> = output.lines().collect();
    let mut ran = None;
    let mut skipped = 0;
    let mut expected_failures = 0;
    let mut unexpected_successes = 0;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(n) = ran_count(line) {
            ran = Some(n);
            report.summary = Some(line.trim().to_string());
        } else if let Some(rest) = line
            .strip_prefix("FAILED (")
            .or_else(|| line.strip_prefix("OK ("))
        {
            for part in rest.trim_end_matches(')').split(',') {
                let Some((key, value)) = part.trim().split_once('=') else {
                    continue;
                };
                let n: u32 = value.trim().parse().unwrap_or(0);
                match key {
                    "skipped" => skipped = n,
                    "expected failures" => expected_failures = n,
                    "unexpected successes" => unexpected_successes = n,
                    _ => {}
                }
            }
            if let Some(summary) = &mut report.summary {
                summary.push_str(&format!("; {}", line.trim()));
            }
        } else if let Some((name, status)) = verbose_result(line) {
            if status == "ok" {
                push_unique(&mut report.passed, name);
            }
        } else if let Some((kind, name)) = block_start(line, lines.get(i + 1).copied()) {
            // The block runs from after the dashes to the next rule line.
            let body_start = i + 2;
            let mut end = body_start;
            while end < lines.len() && !is_rule(lines[end]) {
                end += 1;
            }
            report.failures.push(failure_from_block(
                name,
                kind,
                &lines[body_start.min(end)..end],
            ));
            i = end;
            continue;
        }
        i += 1;
    }
    let failed = report
        .failures
        .iter()
        .filter(|f| f.kind == FailureKind::Failed)
        .count() as u32;
    let errors = report.failures.len() as u32 - failed;
    report.counts.failed = failed;
    report.counts.errors = errors;
    report.counts.skipped = skipped;
    report.counts.xfailed = expected_failures;
    report.counts.xpassed = unexpected_successes;
    if let Some(ran) = ran {
        report.counts.passed = ran
            .saturating_sub(failed + errors + skipped + expected_failures + unexpected_successes);
    } else {
        report.counts.passed = report.passed.len() as u32;
    }
    report
}

/// `Ran 4 tests in 0.006s` → 4.
fn ran_count(line: &str) -> Option<u32> {
    let rest = line.trim().strip_prefix("Ran ")?;
    let (n, rest) = rest.split_once(' ')?;
    (rest.starts_with("test") && rest.contains(" in ")).then_some(())?;
    n.parse().ok()
}

fn is_rule(line: &str) -> bool {
    line.len() >= 20 && (line.chars().all(|c| c == '=') || line.chars().all(|c| c == '-'))
}

/// `FAIL: test_fail (tests.test_unit.AddTests.test_fail)` followed by a dashed rule.
fn block_start(line: &str, next: Option<&str>) -> Option<(FailureKind, String)> {
    let (kind, rest) = if let Some(rest) = line.strip_prefix("FAIL: ") {
        (FailureKind::Failed, rest)
    } else if let Some(rest) = line.strip_prefix("ERROR: ") {
        (FailureKind::Error, rest)
    } else {
        return None;
    };
    if !next.is_some_and(is_rule) {
        return None;
    }
    Some((kind, test_id(rest.trim())))
}

/// `test_x (pkg.mod.Class.test_x)` (3.11+) or `test_x (pkg.mod.Class)` (older) →
/// `pkg.mod.Class.test_x`; a bare name stays as it is.
fn test_id(text: &str) -> String {
    let Some((method, rest)) = text.split_once(" (") else {
        return text.to_string();
    };
    let inner = rest.split(')').next().unwrap_or("");
    if inner.ends_with(&format!(".{method}")) {
        inner.to_string()
    } else if inner.is_empty() {
        method.to_string()
    } else {
        format!("{inner}.{method}")
    }
}

/// `test_ok (tests.test_unit.AddTests.test_ok) ... ok` → (id, "ok").
fn verbose_result(line: &str) -> Option<(String, &'static str)> {
    let (name, status) = line.rsplit_once(" ... ")?;
    let status = status.trim();
    let status = if status == "ok" {
        "ok"
    } else if status.starts_with("FAIL") {
        "FAIL"
    } else if status.starts_with("ERROR") {
        "ERROR"
    } else if status.starts_with("skipped") {
        "skipped"
    } else if status.starts_with("expected failure") {
        "xfail"
    } else {
        return None;
    };
    Some((test_id(name.trim()), status))
}

fn failure_from_block(name: String, kind: FailureKind, body: &[&str]) -> TestFailure {
    let mut failure = TestFailure::new(name, kind);
    let mut details = Vec::new();
    let mut keep_code = false;
    let mut last_frame_index = None;
    for (index, line) in body.iter().enumerate() {
        let trimmed = line.trim_start();
        if let Some(location) = frame_location(trimmed) {
            let repo = is_repo_frame(&location);
            keep_code = repo;
            last_frame_index = Some(index);
            if repo {
                failure.location = Some(location);
                details.push(line.trim_end().to_string());
            }
        } else if keep_code && line.starts_with("    ") {
            details.push(line.trim_end().to_string());
            keep_code = false;
        }
    }
    // The exception is what follows the last frame and its code line.
    let exception_start = last_frame_index.map(|i| i + 2).unwrap_or(0);
    let exception: Vec<&str> = body
        .get(exception_start..)
        .unwrap_or(&[])
        .iter()
        .copied()
        .filter(|l| !l.trim().is_empty())
        .collect();
    if let Some(first) = exception.first() {
        failure.message = Some(first.trim().to_string());
    }
    details.extend(exception.iter().take(8).map(|l| l.trim_end().to_string()));
    if details.len() > MAX_DETAIL_LINES {
        details.drain(..details.len() - MAX_DETAIL_LINES);
    }
    failure.details = details;
    failure
}

/// `File "/w/tests/test_unit.py", line 10, in test_fail` → `/w/tests/test_unit.py:10`.
fn frame_location(line: &str) -> Option<String> {
    let rest = line.strip_prefix("File \"")?;
    let (file, rest) = rest.split_once("\", line ")?;
    let number: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    (!number.is_empty()).then(|| format!("{file}:{number}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unittest_verbose_run() {
        let output = include_str!("../fixtures/unittest_mixed.txt");
        assert!(looks_like(output));
        let report = parse(output);
        assert_eq!(report.counts.failed, 1);
        assert_eq!(report.counts.errors, 1);
        assert_eq!(report.counts.skipped, 1);
        assert_eq!(report.counts.passed, 1);
        assert_eq!(report.passed, vec!["tests.test_unit.AddTests.test_ok"]);
        let names: Vec<&str> = report.failures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "tests.test_unit.AddTests.test_error",
                "tests.test_unit.AddTests.test_fail"
            ]
        );
        let fail = &report.failures[1];
        assert_eq!(fail.kind, FailureKind::Failed);
        assert_eq!(fail.message.as_deref(), Some("AssertionError: 2 != 3"));
        assert_eq!(
            fail.location.as_deref(),
            Some("/workspace/tests/test_unit.py:10")
        );
        assert!(
            fail.details
                .iter()
                .any(|l| l.contains("self.assertEqual(add(1, 1), 3)"))
        );
        assert_eq!(
            report.failures[0].message.as_deref(),
            Some("ValueError: boom")
        );
    }

    #[test]
    fn old_style_ids_get_the_method_appended() {
        assert_eq!(
            test_id("test_fail (tests.test_unit.AddTests)"),
            "tests.test_unit.AddTests.test_fail"
        );
        assert_eq!(
            test_id("test_fail (tests.test_unit.AddTests.test_fail)"),
            "tests.test_unit.AddTests.test_fail"
        );
    }
}
