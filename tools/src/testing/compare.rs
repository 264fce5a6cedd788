//! What changed between two runs: newly failing, newly passing, still failing.

use serde::{Deserialize, Serialize};

use crate::testing::report::TestReport;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    pub newly_failing: Vec<String>,
    pub newly_passing: Vec<String>,
    pub still_failing: Vec<String>,
}

impl Comparison {
    pub fn is_empty(&self) -> bool {
        self.newly_failing.is_empty()
            && self.newly_passing.is_empty()
            && self.still_failing.is_empty()
    }
}

/// Compares `current` with `previous`. A test that failed before counts as newly passing when
/// this run lists it as passed, or, when the runner lists no passes, when the same command ran
/// and it no longer fails. Tests this run did not include are not judged.
pub fn compare(previous: &TestReport, current: &TestReport, same_command: bool) -> Comparison {
    let before = previous.failing_names();
    let now = current.failing_names();
    let passed_now = current.passing_names();
    let newly_failing = now.difference(&before).cloned().collect();
    let still_failing = now.intersection(&before).cloned().collect();
    let newly_passing = before
        .difference(&now)
        .filter(|name| {
            passed_now.contains(*name)
                || (passed_now.is_empty() && same_command && !current.is_empty())
        })
        .cloned()
        .collect();
    Comparison {
        newly_failing,
        newly_passing,
        still_failing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::report::{FailureKind, TestFailure};

    fn report(failing: &[&str], passing: &[&str]) -> TestReport {
        let mut report = TestReport {
            failures: failing
                .iter()
                .map(|n| TestFailure::new(*n, FailureKind::Failed))
                .collect(),
            passed: passing.iter().map(|n| n.to_string()).collect(),
            ..TestReport::default()
        };
        report.fill_counts_from_lists();
        report
    }

    #[test]
    fn classifies_changes_between_runs() {
        let before = report(&["a", "b"], &["c"]);
        let after = report(&["b", "c"], &["a"]);
        let diff = compare(&before, &after, true);
        assert_eq!(diff.newly_failing, vec!["c"]);
        assert_eq!(diff.newly_passing, vec!["a"]);
        assert_eq!(diff.still_failing, vec!["b"]);
    }

    #[test]
    fn tests_outside_a_narrower_run_are_not_called_passing() {
        let before = report(&["a", "b"], &[]);
        // Only `b` ran this time (a different command) and it still fails.
        let after = report(&["b"], &[]);
        let diff = compare(&before, &after, false);
        assert!(diff.newly_passing.is_empty());
        assert_eq!(diff.still_failing, vec!["b"]);
        // The same command without pass listings: `a` disappearing from failures means it passed.
        let diff = compare(&before, &after, true);
        assert_eq!(diff.newly_passing, vec!["a"]);
    }
}
