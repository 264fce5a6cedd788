//! Turning a test runner's output into a [`TestReport`].

mod cargo;
mod gotest;
mod js;
mod pytest;
mod unittest;

use crate::testing::report::{Framework, TestReport};

/// A framework, how to recognise its output, and how to parse it.
type Parser = (Framework, fn(&str) -> bool, fn(&str) -> TestReport);

/// Parses `output`, trying the expected framework first, then any whose markers appear.
/// Returns an empty report (no framework) when nothing is recognised.
pub fn parse_output(output: &str, expected: Option<Framework>) -> TestReport {
    let parsers: [Parser; 7] = [
        (Framework::Pytest, pytest::looks_like, pytest::parse),
        (Framework::Unittest, unittest::looks_like, unittest::parse),
        (Framework::Cargo, cargo::looks_like, cargo::parse),
        (Framework::Go, gotest::looks_like, gotest::parse),
        (Framework::Tap, js::looks_like_tap, js::parse_tap),
        (Framework::Jest, js::looks_like_jest, js::parse_jest),
        (Framework::Mocha, js::looks_like_mocha, js::parse_mocha),
    ];
    if let Some(expected) = expected
        && let Some((_, looks, parse)) = parsers.iter().find(|(f, _, _)| *f == expected)
        && looks(output)
    {
        let report = parse(output);
        if !report.is_empty() {
            return report;
        }
    }
    // Otherwise the recognised parser that found the most.
    parsers
        .iter()
        .filter(|(_, looks, _)| looks(output))
        .map(|(_, _, parse)| parse(output))
        .filter(|r| !r.is_empty())
        .max_by_key(|r| (r.counts.total(), r.failures.len()))
        .unwrap_or_default()
}

/// Whether a `file:line` location is the repository's code rather than the interpreter's,
/// the toolchain's or a dependency's.
pub(crate) fn is_repo_frame(location: &str) -> bool {
    const FOREIGN: &[&str] = &[
        "site-packages/",
        "dist-packages/",
        "/usr/lib/",
        "/usr/local/lib/",
        "/usr/share/",
        "/opt/venv/",
        "<frozen ",
        "/rustc/",
        "/.cargo/registry/",
        "/.rustup/",
        "node_modules/",
        "node:",
        "/go/pkg/mod/",
    ];
    !FOREIGN.iter().any(|f| location.contains(f)) && !location.starts_with('<')
}

pub(crate) fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fixture_is_recognised_without_a_hint() {
        let cases: &[(&str, Framework)] = &[
            (
                include_str!("../fixtures/pytest8_mixed.txt"),
                Framework::Pytest,
            ),
            (
                include_str!("../fixtures/unittest_mixed.txt"),
                Framework::Unittest,
            ),
            (
                include_str!("../fixtures/cargo_mixed.txt"),
                Framework::Cargo,
            ),
            (include_str!("../fixtures/go_verbose.txt"), Framework::Go),
            (
                include_str!("../fixtures/node_test_npm.txt"),
                Framework::Tap,
            ),
            (include_str!("../fixtures/mocha_npm.txt"), Framework::Mocha),
            (
                include_str!("../fixtures/jest_layout_handwritten.txt"),
                Framework::Jest,
            ),
        ];
        for (output, framework) in cases {
            let report = parse_output(output, None);
            assert_eq!(report.framework, Some(*framework), "{output}");
            assert!(!report.failures.is_empty());
        }
    }

    #[test]
    fn unrecognised_output_gives_an_empty_report() {
        let report = parse_output("bash: pytest: command not found\n", Some(Framework::Pytest));
        assert!(report.is_empty());
        assert_eq!(report.framework, None);
    }

    #[test]
    fn repo_frames_exclude_toolchains_and_dependencies() {
        assert!(is_repo_frame("tests/test_x.py:3"));
        assert!(is_repo_frame("/workspace/pkg/mod.py:10"));
        assert!(!is_repo_frame(
            "/usr/lib/python3.11/importlib/__init__.py:126"
        ));
        assert!(!is_repo_frame(
            "/opt/venv/lib/python3.11/site-packages/_pytest/x.py:1"
        ));
        assert!(!is_repo_frame(
            "/rustc/abc/library/core/src/panicking.rs:80:14"
        ));
        assert!(!is_repo_frame("node:internal/timers:483"));
    }
}
