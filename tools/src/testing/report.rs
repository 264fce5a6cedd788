//! The structured result of one test run, whatever the framework.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// The test runners whose output we understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framework {
    Pytest,
    Unittest,
    Cargo,
    Go,
    /// The Test Anything Protocol (node --test, tap).
    Tap,
    Mocha,
    Jest,
}

impl Framework {
    pub fn name(self) -> &'static str {
        match self {
            Framework::Pytest => "pytest",
            Framework::Unittest => "unittest",
            Framework::Cargo => "cargo test",
            Framework::Go => "go test",
            Framework::Tap => "tap",
            Framework::Mocha => "mocha",
            Framework::Jest => "jest",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    pub passed: u32,
    pub failed: u32,
    /// Errors outside assertions: fixture setup, collection, build.
    pub errors: u32,
    pub skipped: u32,
    pub xfailed: u32,
    pub xpassed: u32,
}

impl Counts {
    pub fn total(&self) -> u32 {
        self.passed + self.failed + self.errors + self.skipped + self.xfailed + self.xpassed
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    Failed,
    Error,
}

/// One failing test (or a build/collection error, named after what failed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestFailure {
    pub name: String,
    pub kind: FailureKind,
    /// The assertion or exception message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `file:line` where it failed, when the output says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The relevant traceback lines (the repository's frames and the error lines).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

impl TestFailure {
    pub fn new(name: impl Into<String>, kind: FailureKind) -> Self {
        Self {
            name: name.into(),
            kind,
            message: None,
            location: None,
            details: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TestReport {
    pub framework: Option<Framework>,
    pub counts: Counts,
    pub failures: Vec<TestFailure>,
    /// Names of passing tests, when the output lists them (pytest -rA/-v, cargo, go -v, TAP).
    pub passed: Vec<String>,
    /// The runner's own summary line, e.g. `5 failed, 3 passed in 0.08s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

impl TestReport {
    pub fn for_framework(framework: Framework) -> Self {
        Self {
            framework: Some(framework),
            ..Self::default()
        }
    }

    /// Whether the output told us anything about tests.
    pub fn is_empty(&self) -> bool {
        self.counts.total() == 0 && self.failures.is_empty() && self.passed.is_empty()
    }

    pub fn failing_names(&self) -> BTreeSet<String> {
        self.failures.iter().map(|f| f.name.clone()).collect()
    }

    pub fn passing_names(&self) -> BTreeSet<String> {
        self.passed.iter().cloned().collect()
    }

    /// Fills in counts from the lists when the runner printed no summary line.
    pub(crate) fn fill_counts_from_lists(&mut self) {
        if self.counts.total() == 0 {
            self.counts.passed = self.passed.len() as u32;
            for failure in &self.failures {
                match failure.kind {
                    FailureKind::Failed => self.counts.failed += 1,
                    FailureKind::Error => self.counts.errors += 1,
                }
            }
        }
    }

    /// A one-line summary: `3 failed, 12 passed, 1 skipped`.
    pub fn counts_line(&self) -> String {
        let c = &self.counts;
        let mut parts = Vec::new();
        for (n, label) in [
            (c.failed, "failed"),
            (c.errors, "errors"),
            (c.passed, "passed"),
            (c.skipped, "skipped"),
            (c.xfailed, "xfailed"),
            (c.xpassed, "xpassed"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {label}"));
            }
        }
        if parts.is_empty() {
            "no tests ran".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// Numbers before words in a summary such as `5 failed, 3 passed, 2 skipped, 1 error in 0.08s`
/// or `2 passed; 1 failed; 0 ignored`: (count, word) pairs.
pub(crate) fn count_pairs(text: &str) -> Vec<(u32, String)> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter_map(|pair| {
            let n = pair[0].parse::<u32>().ok()?;
            let word = pair[1]
                .trim_end_matches(|c: char| !c.is_alphanumeric())
                .to_ascii_lowercase();
            Some((n, word))
        })
        .collect()
}

/// `file:line` at the start of `text` (`tests/test_x.py:12: in test_y` → `tests/test_x.py:12`).
pub(crate) fn leading_location(text: &str) -> Option<String> {
    let text = text.trim_start();
    let mut parts = text.splitn(3, ':');
    let file = parts.next()?;
    let line = parts.next()?;
    if file.is_empty()
        || file.contains(' ')
        || !line.chars().all(|c| c.is_ascii_digit())
        || line.is_empty()
    {
        return None;
    }
    Some(format!("{file}:{line}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_pairs_reads_runner_summaries() {
        assert_eq!(
            count_pairs("5 failed, 3 passed, 2 skipped, 1 error in 0.08s"),
            vec![
                (5, "failed".into()),
                (3, "passed".into()),
                (2, "skipped".into()),
                (1, "error".into())
            ]
        );
        assert_eq!(
            count_pairs("FAILED. 2 passed; 2 failed; 1 ignored;"),
            vec![
                (2, "passed".into()),
                (2, "failed".into()),
                (1, "ignored".into())
            ]
        );
    }

    #[test]
    fn leading_location_needs_a_line_number() {
        assert_eq!(
            leading_location("tests/test_x.py:12: in test_y").as_deref(),
            Some("tests/test_x.py:12")
        );
        assert_eq!(leading_location("E   assert 1 == 2"), None);
        assert_eq!(leading_location("Hint: make sure"), None);
    }
}
