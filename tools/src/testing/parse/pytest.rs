//! pytest output: the FAILURES/ERRORS sections, the short test summary (`-rA`, default `-rfE`),
//! verbose result lines (`-v`) and the final `=== 5 failed, 3 passed in 0.08s ===` line.

use std::collections::HashSet;

use super::{is_repo_frame, push_unique};
use crate::testing::report::{
    FailureKind, Framework, TestFailure, TestReport, count_pairs, leading_location,
};

const MAX_DETAIL_LINES: usize = 20;

pub fn looks_like(output: &str) -> bool {
    output.contains("test session starts") || output.lines().any(|l| final_summary(l).is_some())
}

/// One `____ name ____` block inside FAILURES or ERRORS.
struct Block<'a> {
    header: String,
    lines: Vec<&'a str>,
    used: bool,
}

// Kept whole: one pass over the output lines; the current section and its blocks are state
// that each kind of line reads and updates.
pub fn parse(output: &str) -> TestReport {
    let mut report = TestReport::for_framework(Framework::Pytest);
    let mut blocks: Vec<Block> = Vec::new();
    let mut section = "";
    let mut listed: Vec<(FailureKind, String, Option<String>)> = Vec::new();
    let mut seen_failed: HashSet<String> = HashSet::new();

    for line in output.lines() {
        if let Some(summary) = final_summary(line) {
            apply_counts(&mut report, &summary);
            report.summary = Some(summary);
            section = "";
            continue;
        }
        if let Some(title) = section_title(line) {
            section = match title {
                "FAILURES" | "ERRORS" => "blocks",
                "short test summary info" => "summary",
                _ => "",
            };
            continue;
        }
        if section == "blocks" {
            if let Some(header) = block_header(line) {
                blocks.push(Block {
                    header: header.to_string(),
                    lines: Vec::new(),
                    used: false,
                });
            } else if let Some(block) = blocks.last_mut() {
                block.lines.push(line);
            }
            continue;
        }
        // Short summary (`FAILED id - msg`) and verbose (`id FAILED [ 50%]`) result lines.
        if let Some((status, id, message)) = summary_result(line).or_else(|| verbose_result(line)) {
            match status {
                "PASSED" => push_unique(&mut report.passed, id),
                "FAILED" | "ERROR" => {
                    let kind = if status == "FAILED" {
                        FailureKind::Failed
                    } else {
                        FailureKind::Error
                    };
                    if seen_failed.insert(id.clone()) {
                        listed.push((kind, id, message));
                    } else if let Some(entry) = listed.iter_mut().find(|e| e.1 == id) {
                        // The short summary's message beats the verbose line's absence of one.
                        if entry.2.is_none() {
                            entry.2 = message;
                        }
                    }
                }
                _ => {}
            }
        }
    }

    for (kind, id, summary_message) in listed {
        let mut failure = TestFailure::new(id.clone(), kind);
        if let Some(block) = find_block(&mut blocks, &id, kind) {
            fill_from_block(&mut failure, &block.lines);
        }
        if failure.message.is_none() {
            failure.message = summary_message;
        }
        report.failures.push(failure);
    }
    // Blocks with no summary line (no -r, no -v): still report them by their header.
    for block in blocks.iter().filter(|b| !b.used) {
        let kind = if block.header.starts_with("ERROR ") {
            FailureKind::Error
        } else {
            FailureKind::Failed
        };
        let mut failure = TestFailure::new(block.header.clone(), kind);
        fill_from_block(&mut failure, &block.lines);
        report.failures.push(failure);
    }
    report.fill_counts_from_lists();
    report
}

/// `===== 5 failed, 3 passed in 0.08s =====` → `5 failed, 3 passed in 0.08s`.
fn final_summary(line: &str) -> Option<String> {
    let inner = strip_rule(line, '=')?;
    let has_time = inner.contains(" in ") && inner.trim_end().ends_with('s')
        || inner.trim_end().ends_with(')') && inner.contains(" in ");
    let known = [
        "passed",
        "failed",
        "error",
        "errors",
        "skipped",
        "xfailed",
        "xpassed",
        "deselected",
        "no tests ran",
        "warning",
        "warnings",
    ];
    (has_time && known.iter().any(|k| inner.contains(k))).then(|| inner.to_string())
}

fn apply_counts(report: &mut TestReport, summary: &str) {
    let counts = &mut report.counts;
    for (n, word) in count_pairs(summary) {
        match word.as_str() {
            "passed" => counts.passed = n,
            "failed" => counts.failed = n,
            "error" | "errors" => counts.errors = n,
            "skipped" => counts.skipped = n,
            "xfailed" => counts.xfailed = n,
            "xpassed" => counts.xpassed = n,
            _ => {}
        }
    }
}

/// The text between runs of `fill`: `=== FAILURES ===` → `FAILURES`.
fn strip_rule(line: &str, fill: char) -> Option<&str> {
    let line = line.trim_end();
    let leading = line.len() - line.trim_start_matches(fill).len();
    let trailing = line.len() - line.trim_end_matches(fill).len();
    if leading < 3 || trailing < 3 || leading + trailing >= line.len() {
        return None;
    }
    let inner = &line[leading..line.len() - trailing];
    inner
        .strip_prefix(' ')
        .and_then(|s| s.strip_suffix(' '))
        .filter(|s| !s.is_empty())
}

fn section_title(line: &str) -> Option<&str> {
    strip_rule(line, '=').filter(|t| {
        matches!(
            *t,
            "FAILURES" | "ERRORS" | "PASSES" | "short test summary info" | "warnings summary"
        ) || t.starts_with("captured ")
    })
}

fn block_header(line: &str) -> Option<&str> {
    strip_rule(line, '_')
}

/// `FAILED tests/x.py::test_y - AssertionError: boom` → (status, id, message).
fn summary_result(line: &str) -> Option<(&'static str, String, Option<String>)> {
    for status in ["PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS"] {
        if let Some(rest) = line.strip_prefix(status).and_then(|r| r.strip_prefix(' ')) {
            if status == "SKIPPED" {
                return Some(("SKIPPED", rest.to_string(), None));
            }
            let (id, message) = match rest.split_once(" - ") {
                Some((id, msg)) => (id.trim(), Some(msg.trim().to_string())),
                None => (rest.trim(), None),
            };
            if id.is_empty() || id.starts_with('(') || id.contains(' ') && !id.contains("::") {
                return None;
            }
            return Some((status, id.to_string(), message));
        }
    }
    None
}

/// `tests/x.py::test_y[a-b] FAILED    [ 50%]` → (status, id, None). Parametrized ids may
/// contain spaces (`test_eq[x-x y] FAILED`), so the status is searched, not split on.
fn verbose_result(line: &str) -> Option<(&'static str, String, Option<String>)> {
    if line.starts_with(char::is_whitespace) || !line.contains("::") {
        return None;
    }
    for status in ["PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS"] {
        let needle = format!(" {status}");
        if let Some(pos) = line.find(&needle) {
            let id = &line[..pos];
            let after = line[pos + needle.len()..].trim_start();
            if id.contains("::") && (after.is_empty() || after.starts_with(['[', '('])) {
                return Some((status, id.to_string(), None));
            }
        }
    }
    None
}

/// The block for a test id: its header is the id without the file, `::` as `.`
/// (`tests/x.py::TestC::test_m` → `TestC.test_m`), or `ERROR at setup of test_m`,
/// or `ERROR collecting tests/x.py`.
fn find_block<'b, 'a>(
    blocks: &'b mut [Block<'a>],
    id: &str,
    kind: FailureKind,
) -> Option<&'b Block<'a>> {
    let (file, rest) = id.split_once("::").unwrap_or((id, ""));
    let dotted = rest.replace("::", ".");
    let candidates = [
        dotted.clone(),
        format!("ERROR at setup of {dotted}"),
        format!("ERROR at teardown of {dotted}"),
        format!("ERROR collecting {id}"),
        id.to_string(),
    ];
    let index = blocks.iter().position(|b| {
        !b.used
            && candidates.iter().any(|c| !c.is_empty() && *c == b.header)
            && (kind == FailureKind::Error
                || b.lines.iter().any(|l| l.contains(file))
                || !b.lines.iter().any(|l| leading_location(l).is_some()))
    })?;
    blocks[index].used = true;
    Some(&blocks[index])
}

/// Message from the first `E ` line; location from the last repository frame; details: the
/// repository's frames, their code lines and the `E` lines.
fn fill_from_block(failure: &mut TestFailure, lines: &[&str]) {
    let error_lines: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("E ").map(str::trim))
        .filter(|l| !l.is_empty())
        .collect();
    if let Some(first) = error_lines.first() {
        failure.message = Some(first.to_string());
    }
    let mut relevant = Vec::new();
    let mut keep_next_code_line = false;
    for line in lines {
        if let Some(location) = leading_location(line) {
            let repo = is_repo_frame(&location);
            if repo {
                failure.location = Some(location);
            }
            keep_next_code_line = repo;
            if repo {
                relevant.push(line.trim_end().to_string());
            }
        } else if line.starts_with("E ")
            || line.starts_with('>')
            || keep_next_code_line && line.starts_with("    ")
        {
            relevant.push(line.trim_end().to_string());
            keep_next_code_line = false;
        }
    }
    if relevant.len() > MAX_DETAIL_LINES {
        relevant.drain(..relevant.len() - MAX_DETAIL_LINES);
    }
    failure.details = relevant;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::report::FailureKind::{Error, Failed};

    const MIXED: &str = include_str!("../fixtures/pytest8_mixed.txt");
    const MIXED6: &str = include_str!("../fixtures/pytest6_mixed.txt");

    fn check_mixed(report: &TestReport) {
        assert_eq!(report.counts.failed, 5);
        assert_eq!(report.counts.passed, 3);
        assert_eq!(report.counts.skipped, 2);
        assert_eq!(report.counts.errors, 1);
        let names: Vec<(&str, FailureKind)> = report
            .failures
            .iter()
            .map(|f| (f.name.as_str(), f.kind))
            .collect();
        assert_eq!(
            names,
            vec![
                ("tests/test_math.py::test_uses_broken", Error),
                ("tests/test_math.py::test_add_wrong", Failed),
                ("tests/test_math.py::test_divide_by_zero", Failed),
                ("tests/test_math.py::TestClass::test_method_bad", Failed),
                ("tests/test_unit.py::AddTests::test_error", Failed),
                ("tests/test_unit.py::AddTests::test_fail", Failed),
            ]
        );
        let wrong = &report.failures[1];
        assert_eq!(
            wrong.message.as_deref(),
            Some("AssertionError: two plus two")
        );
        assert_eq!(wrong.location.as_deref(), Some("tests/test_math.py:11"));
        assert!(
            wrong.details.contains(&"E   assert 4 == 5".to_string()),
            "{:?}",
            wrong.details
        );
        assert!(
            wrong
                .details
                .iter()
                .any(|l| l.contains("assert result == 5")),
            "{:?}",
            wrong.details
        );
        // The deepest repository frame is where it failed, not the test line.
        let zero = &report.failures[2];
        assert_eq!(
            zero.message.as_deref(),
            Some("ZeroDivisionError: division by zero")
        );
        assert_eq!(zero.location.as_deref(), Some("pkg/__init__.py:5"));
        let broken = &report.failures[0];
        assert_eq!(
            broken.message.as_deref(),
            Some("RuntimeError: fixture exploded")
        );
        assert_eq!(
            report.passed,
            vec![
                "tests/test_math.py::test_add",
                "tests/test_math.py::TestClass::test_method_ok",
                "tests/test_unit.py::AddTests::test_ok"
            ]
        );
    }

    #[test]
    fn pytest8_mixed_results() {
        assert!(looks_like(MIXED));
        let report = parse(MIXED);
        check_mixed(&report);
        assert_eq!(
            report.summary.as_deref(),
            Some("5 failed, 3 passed, 2 skipped, 1 error in 0.08s")
        );
    }

    #[test]
    fn pytest6_has_the_same_shape() {
        check_mixed(&parse(MIXED6));
    }

    #[test]
    fn verbose_parametrized_ids_with_spaces() {
        let report = parse(include_str!("../fixtures/pytest8_verbose_param.txt"));
        assert_eq!(report.counts.failed, 2);
        assert_eq!(report.counts.passed, 1);
        assert_eq!(report.counts.xfailed, 1);
        let names: Vec<&str> = report.failures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "tests/test_param.py::test_equal[2-3]",
                "tests/test_param.py::test_equal[x-x y]"
            ]
        );
        assert_eq!(report.failures[0].message.as_deref(), Some("assert 2 == 3"));
        assert_eq!(
            report.failures[1].message.as_deref(),
            Some("AssertionError: assert 'x' == 'x y'")
        );
        assert_eq!(report.passed, vec!["tests/test_param.py::test_equal[1-1]"]);
    }

    #[test]
    fn collection_error_is_an_error_with_its_cause() {
        let report = parse(include_str!("../fixtures/pytest8_collect_error.txt"));
        assert_eq!(report.counts.errors, 1);
        assert_eq!(report.failures.len(), 1);
        let failure = &report.failures[0];
        assert_eq!(failure.name, "tests/test_collect_error.py");
        assert_eq!(failure.kind, Error);
        assert_eq!(
            failure.message.as_deref(),
            Some("ModuleNotFoundError: No module named 'does_not_exist'")
        );
        assert_eq!(
            failure.location.as_deref(),
            Some("tests/test_collect_error.py:1")
        );
    }

    #[test]
    fn all_passing_run() {
        let report = parse(include_str!("../fixtures/pytest8_pass.txt"));
        assert_eq!(report.counts.passed, 1);
        assert!(report.failures.is_empty());
        assert_eq!(report.passed, vec!["tests/test_math.py::test_add"]);
    }
}
