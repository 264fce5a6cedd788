//! JavaScript runners behind `npm test`: TAP (`node --test`, tap), mocha's spec reporter and
//! jest's default reporter.

use super::{is_repo_frame, push_unique};
use crate::testing::report::{FailureKind, Framework, TestFailure, TestReport, count_pairs};

const MAX_DETAIL_LINES: usize = 12;

pub fn looks_like_tap(output: &str) -> bool {
    output
        .lines()
        .any(|l| l.starts_with("TAP version") || l.starts_with("# pass "))
}

pub fn looks_like_mocha(output: &str) -> bool {
    output.lines().any(|l| {
        let t = l.trim();
        t.ends_with(" passing") || t.contains(" passing (") || t.ends_with(" failing")
    })
}

pub fn looks_like_jest(output: &str) -> bool {
    output
        .lines()
        .any(|l| l.starts_with("Tests:") && l.contains(" total"))
}

/// TAP: `ok 1 - name`, `not ok 2 - name` with an indented YAML block; nesting by indentation
/// (`# Subtest: group` then the children, then the group's own result).
pub fn parse_tap(output: &str) -> TestReport {
    let mut report = TestReport::for_framework(Framework::Tap);
    let lines: Vec<&str> = output.lines().collect();
    let mut subtests: Vec<(usize, String)> = Vec::new();
    let mut counted = false;
    for (i, line) in lines.iter().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        if let Some(name) = trimmed.strip_prefix("# Subtest: ") {
            subtests.retain(|(depth, _)| *depth < indent);
            subtests.push((indent, name.trim().to_string()));
            continue;
        }
        // Totals: `# pass 1`, `# fail 2`, `# skipped 1`.
        if indent == 0
            && let Some((word, n)) = trimmed.strip_prefix("# ").and_then(|r| r.split_once(' '))
            && let Ok(n) = n.trim().parse::<u32>()
        {
            counted = true;
            match word {
                "pass" => report.counts.passed = n,
                "fail" => report.counts.failed = n,
                "skipped" | "todo" => report.counts.skipped += n,
                "cancelled" => report.counts.errors += n,
                _ => {}
            }
            continue;
        }
        let (ok, rest) = if let Some(rest) = trimmed.strip_prefix("not ok ") {
            (false, rest)
        } else if let Some(rest) = trimmed.strip_prefix("ok ") {
            (true, rest)
        } else {
            continue;
        };
        let title = rest
            .split_once(" - ")
            .map(|(_, t)| t)
            .unwrap_or(rest)
            .split(" # ")
            .next()
            .unwrap_or("")
            .trim();
        let parents: Vec<&str> = subtests
            .iter()
            .filter(|(depth, _)| *depth < indent)
            .map(|(_, n)| n.as_str())
            .collect();
        let name = if parents.is_empty() {
            title.to_string()
        } else {
            format!("{} > {title}", parents.join(" > "))
        };
        let yaml = yaml_block(&lines[i + 1..], indent);
        if ok {
            if !rest.contains("# SKIP") && !rest.contains("# TODO") && !is_suite(&yaml) {
                push_unique(&mut report.passed, name);
            }
        } else if !yaml
            .iter()
            .any(|l| l.contains("failureType: 'subtestsFailed'"))
        {
            report.failures.push(tap_failure(name, &yaml));
        }
    }
    if !counted {
        report.fill_counts_from_lists();
    } else {
        report.summary = Some(report.counts_line());
    }
    report
}

fn is_suite(yaml: &[&str]) -> bool {
    yaml.iter().any(|l| l.trim() == "type: 'suite'")
}

/// The `---` … `...` block after a result line at `indent`.
fn yaml_block<'a>(rest: &[&'a str], indent: usize) -> Vec<&'a str> {
    let mut block = Vec::new();
    let mut started = false;
    for line in rest {
        let trimmed = line.trim();
        if !started {
            if trimmed == "---" {
                started = true;
                continue;
            }
            break;
        }
        if trimmed == "..." && line.len() - line.trim_start().len() <= indent + 2 {
            break;
        }
        block.push(*line);
    }
    block
}

fn tap_failure(name: String, yaml: &[&str]) -> TestFailure {
    let mut failure = TestFailure::new(name, FailureKind::Failed);
    let key_indent = indent_of(yaml);
    let mut error_type = None;
    let mut in_error = false;
    let mut error_lines = Vec::new();
    for line in yaml {
        let trimmed = line.trim();
        let indent = line.len() - line.trim_start().len();
        // A multi-line `error: |-` value is indented deeper than the keys.
        if in_error {
            if trimmed.is_empty() || indent > key_indent {
                if !trimmed.is_empty() {
                    error_lines.push(trimmed.to_string());
                }
                continue;
            }
            in_error = false;
        }
        if let Some(value) = trimmed.strip_prefix("error: ") {
            in_error = value == "|-" || value == "|";
            if !in_error {
                error_lines.push(value.trim_matches('\'').to_string());
            }
        } else if let Some(value) = trimmed.strip_prefix("name: ") {
            error_type = Some(value.trim_matches('\'').to_string());
        } else if let Some(value) = trimmed.strip_prefix("location: ") {
            failure.location = Some(short_location(value.trim_matches('\'')));
        }
    }
    let first = error_lines.first().cloned();
    failure.message = match (error_type, first) {
        (Some(kind), Some(text)) => Some(format!("{kind}: {text}")),
        (None, text) => text,
        (Some(kind), None) => Some(kind),
    };
    failure.details = error_lines.into_iter().take(MAX_DETAIL_LINES).collect();
    failure
}

fn indent_of(yaml: &[&str]) -> usize {
    yaml.first()
        .map(|l| l.len() - l.trim_start().len())
        .unwrap_or(0)
}

/// `/abs/path/test/x.js:4:1` → `/abs/path/test/x.js:4`.
fn short_location(location: &str) -> String {
    let parts: Vec<&str> = location.rsplitn(3, ':').collect();
    if parts.len() == 3 && parts[0].chars().all(|c| c.is_ascii_digit()) {
        format!("{}:{}", parts[2], parts[1])
    } else {
        location.to_string()
    }
}

/// `at Context.<anonymous> (test/add.test.js:5:41)` → `test/add.test.js:5`, for the
/// repository's frames only.
fn stack_location(line: &str) -> Option<String> {
    let rest = line.trim().strip_prefix("at ")?;
    let inner = match rest.rfind('(') {
        Some(open) => rest[open + 1..].trim_end_matches(')'),
        None => rest,
    };
    let location = short_location(inner);
    is_repo_frame(&location).then_some(location)
}

/// mocha: `N passing (25ms)`, `N failing`, `N pending`, and numbered failure blocks
/// (`  1) suite\n       test:\n     Error: message\n      at …`).
pub fn parse_mocha(output: &str) -> TestReport {
    let mut report = TestReport::for_framework(Framework::Mocha);
    let lines: Vec<&str> = output.lines().collect();
    let mut in_failures = false;
    let mut i = 0;
    while i < lines.len() {
        let trimmed = lines[i].trim();
        for (n, word) in count_pairs(trimmed) {
            if trimmed.starts_with(&n.to_string()) {
                match word.as_str() {
                    "passing" => report.counts.passed = n,
                    "failing" => {
                        report.counts.failed = n;
                        in_failures = true;
                    }
                    "pending" => report.counts.skipped = n,
                    _ => {}
                }
            }
        }
        if in_failures && let Some((_, title)) = numbered(trimmed) {
            // The title continues over indented lines until one ends with ':'.
            let mut parts = vec![title.trim_end_matches(':').to_string()];
            let mut j = i;
            while !lines[j].trim_end().ends_with(':') && j + 1 < lines.len() {
                j += 1;
                parts.push(lines[j].trim().trim_end_matches(':').to_string());
            }
            let mut failure = TestFailure::new(parts.join(" "), FailureKind::Failed);
            let mut k = j + 1;
            while k < lines.len() && numbered(lines[k].trim()).is_none() {
                let line = lines[k].trim();
                if failure.message.is_none() && !line.is_empty() {
                    failure.message = Some(line.to_string());
                }
                if let Some(location) = stack_location(line) {
                    if failure.location.is_none() {
                        failure.location = Some(location);
                    }
                    failure.details.push(line.to_string());
                } else if !line.is_empty()
                    && !line.starts_with("at ")
                    && failure.details.len() < MAX_DETAIL_LINES
                {
                    failure.details.push(line.to_string());
                }
                k += 1;
            }
            report.failures.push(failure);
            i = k;
            continue;
        }
        i += 1;
    }
    report.summary = Some(report.counts_line());
    report
}

/// `1) add` → (1, "add").
fn numbered(line: &str) -> Option<(u32, &str)> {
    let (n, rest) = line.split_once(") ")?;
    Some((n.parse().ok()?, rest))
}

/// jest: `  ● Suite › test` failure headers, the message below, `at … (file:line:col)`, and the
/// `Tests:       1 failed, 1 skipped, 2 passed, 4 total` line.
pub fn parse_jest(output: &str) -> TestReport {
    let mut report = TestReport::for_framework(Framework::Jest);
    let lines: Vec<&str> = output.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(rest) = line.strip_prefix("Tests:") {
            for (n, word) in count_pairs(rest) {
                match word.as_str() {
                    "passed" => report.counts.passed = n,
                    "failed" => report.counts.failed = n,
                    "skipped" | "todo" => report.counts.skipped += n,
                    _ => {}
                }
            }
            report.summary = Some(rest.trim().to_string());
        } else if let Some(title) = line.trim_start().strip_prefix("● ") {
            let kind = if title.starts_with("Test suite failed to run") {
                FailureKind::Error
            } else {
                FailureKind::Failed
            };
            let mut failure = TestFailure::new(title.trim().replace(" › ", " > "), kind);
            let mut k = i + 1;
            while k < lines.len()
                && !lines[k].trim_start().starts_with("● ")
                && !lines[k].starts_with("Tests:")
                && !lines[k].starts_with("Test Suites:")
            {
                let text = lines[k].trim();
                if failure.message.is_none() && !text.is_empty() {
                    failure.message = Some(text.to_string());
                }
                if let Some(location) = stack_location(text) {
                    failure.location.get_or_insert(location);
                } else if (text.starts_with("Expected")
                    || text.starts_with("Received")
                    || text.starts_with('>'))
                    && failure.details.len() < MAX_DETAIL_LINES
                {
                    failure.details.push(text.to_string());
                }
                k += 1;
            }
            if !report.failures.iter().any(|f| f.name == failure.name) {
                report.failures.push(failure);
            }
            i = k;
            continue;
        }
        i += 1;
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_test_tap() {
        let output = include_str!("../fixtures/node_test_npm.txt");
        assert!(looks_like_tap(output));
        let report = parse_tap(output);
        assert_eq!(report.counts.passed, 1);
        assert_eq!(report.counts.failed, 2);
        assert_eq!(report.counts.skipped, 1);
        let names: Vec<&str> = report.failures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["adds wrong", "group > throws"]);
        let wrong = &report.failures[0];
        assert_eq!(
            wrong.message.as_deref(),
            Some("AssertionError: Expected values to be strictly equal:")
        );
        assert!(
            wrong.details.contains(&"4 !== 5".to_string()),
            "{:?}",
            wrong.details
        );
        assert_eq!(
            wrong.location.as_deref(),
            Some("/tmp/fx/node/test/math.test.js:4")
        );
        assert_eq!(
            report.failures[1].message.as_deref(),
            Some("TypeError: bad thing")
        );
        assert_eq!(report.passed, vec!["adds"]);
    }

    #[test]
    fn mocha_spec_reporter() {
        let output = include_str!("../fixtures/mocha_npm.txt");
        assert!(looks_like_mocha(output));
        let report = parse_mocha(output);
        assert_eq!(report.counts.passed, 1);
        assert_eq!(report.counts.failed, 2);
        assert_eq!(report.counts.skipped, 1);
        let names: Vec<&str> = report.failures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["add adds wrong", "add nested throws"]);
        let wrong = &report.failures[0];
        assert_eq!(
            wrong.message.as_deref(),
            Some("AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:")
        );
        assert_eq!(wrong.location.as_deref(), Some("test/add.test.js:5"));
        assert_eq!(
            report.failures[1].message.as_deref(),
            Some("TypeError: bad thing")
        );
        assert_eq!(
            report.failures[1].location.as_deref(),
            Some("test/add.test.js:8")
        );
    }

    /// Written by hand in jest's default-reporter layout: jest cannot be installed on the
    /// machine these fixtures were recorded on (no npm registry).
    #[test]
    fn jest_default_reporter_layout() {
        let output = include_str!("../fixtures/jest_layout_handwritten.txt");
        assert!(looks_like_jest(output));
        let report = parse_jest(output);
        assert_eq!(report.counts.failed, 1);
        assert_eq!(report.counts.passed, 2);
        assert_eq!(report.counts.skipped, 1);
        assert_eq!(report.failures.len(), 1);
        let failure = &report.failures[0];
        assert_eq!(failure.name, "math > adds wrong");
        assert_eq!(
            failure.message.as_deref(),
            Some("expect(received).toBe(expected) // Object.is equality")
        );
        assert_eq!(failure.location.as_deref(), Some("src/math.test.js:9"));
        assert!(
            failure.details.contains(&"Expected: 5".to_string()),
            "{:?}",
            failure.details
        );
    }
}
