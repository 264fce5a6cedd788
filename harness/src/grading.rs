//! Grading with the official 4.1.0 semantics: what a test log says about the listed tests,
//! and the per-instance `report.json`.

use crate::log_parsers::{LogParser, StatusMap, TestStatus};
use crate::pyjson::PyJson;

pub const APPLY_PATCH_FAIL: &str = ">>>>> Patch Apply Failed";
pub const APPLY_PATCH_PASS: &str = ">>>>> Applied Patch";
pub const RESET_FAILED: &str = ">>>>> Reset Failed";
pub const TESTS_ERROR: &str = ">>>>> Tests Errored";
pub const TESTS_TIMEOUT: &str = ">>>>> Tests Timed Out";
pub const START_TEST_OUTPUT: &str = ">>>>> Start Test Output";
pub const END_TEST_OUTPUT: &str = ">>>>> End Test Output";

/// PASSED or XFAIL.
pub fn test_passed(name: &str, map: &StatusMap) -> bool {
    matches!(map.get(name), Some(TestStatus::Passed | TestStatus::Xfail))
}

/// Missing, FAILED or ERROR. (SKIPPED, and any other word, is neither passed nor failed.)
pub fn test_failed(name: &str, map: &StatusMap) -> bool {
    matches!(
        map.get(name),
        None | Some(TestStatus::Failed | TestStatus::Error)
    )
}

/// What the grader reads from a test log.
#[derive(Debug, Clone, PartialEq)]
pub enum LogVerdict {
    /// The log carries a failure marker or lacks a test-output marker.
    NotApplied,
    /// The parsed statuses.
    Parsed(StatusMap),
}

/// `get_logs_eval`: the statuses between the markers, or, when that section yields nothing,
/// from the whole log.
pub fn parse_eval_log(parser: LogParser, content: &str) -> LogVerdict {
    let bad = [APPLY_PATCH_FAIL, RESET_FAILED, TESTS_ERROR, TESTS_TIMEOUT];
    if bad.iter().any(|marker| content.contains(marker)) {
        return LogVerdict::NotApplied;
    }
    if !(content.contains(START_TEST_OUTPUT) && content.contains(END_TEST_OUTPUT)) {
        return LogVerdict::NotApplied;
    }
    // content.split(START)[1].split(END)[0]
    let after_start = content.split(START_TEST_OUTPUT).nth(1).unwrap_or_default();
    let section = after_start
        .split(END_TEST_OUTPUT)
        .next()
        .unwrap_or_default();
    let map = parser.parse(section);
    if map.is_empty() {
        LogVerdict::Parsed(parser.parse(content))
    } else {
        LogVerdict::Parsed(map)
    }
}

/// Successes and failures of one list of tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestOutcome {
    pub success: Vec<String>,
    pub failure: Vec<String>,
}

impl TestOutcome {
    fn of(tests: &[String], map: &StatusMap) -> Self {
        let mut outcome = Self::default();
        for test in tests {
            if test_passed(test, map) {
                outcome.success.push(test.clone());
            } else if test_failed(test, map) {
                outcome.failure.push(test.clone());
            }
        }
        outcome
    }

    /// The fraction passed; 1 when nothing was counted.
    pub fn ratio(&self) -> f64 {
        let total = self.success.len() + self.failure.len();
        if total == 0 {
            1.0
        } else {
            self.success.len() as f64 / total as f64
        }
    }

    fn to_pyjson(&self) -> PyJson {
        PyJson::Dict(vec![
            (
                "success".into(),
                PyJson::str_list(self.success.iter().cloned()),
            ),
            (
                "failure".into(),
                PyJson::str_list(self.failure.iter().cloned()),
            ),
        ])
    }
}

/// The four lists of `tests_status` (the last two are always empty in evaluation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestsStatus {
    pub fail_to_pass: TestOutcome,
    pub pass_to_pass: TestOutcome,
    pub fail_to_fail: TestOutcome,
    pub pass_to_fail: TestOutcome,
}

impl TestsStatus {
    pub fn grade(fail_to_pass: &[String], pass_to_pass: &[String], map: &StatusMap) -> Self {
        Self {
            fail_to_pass: TestOutcome::of(fail_to_pass, map),
            pass_to_pass: TestOutcome::of(pass_to_pass, map),
            ..Self::default()
        }
    }

    pub fn resolution(&self) -> Resolution {
        let f2p = self.fail_to_pass.ratio();
        let p2p = self.pass_to_pass.ratio();
        if f2p == 1.0 && p2p == 1.0 {
            Resolution::Full
        } else if f2p > 0.0 && f2p < 1.0 && p2p == 1.0 {
            Resolution::Partial
        } else {
            Resolution::No
        }
    }

    fn to_pyjson(&self) -> PyJson {
        PyJson::Dict(vec![
            ("FAIL_TO_PASS".into(), self.fail_to_pass.to_pyjson()),
            ("PASS_TO_PASS".into(), self.pass_to_pass.to_pyjson()),
            ("FAIL_TO_FAIL".into(), self.fail_to_fail.to_pyjson()),
            ("PASS_TO_FAIL".into(), self.pass_to_fail.to_pyjson()),
        ])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Full,
    Partial,
    No,
}

/// One instance's `report.json` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceReport {
    pub instance_id: String,
    pub patch_is_none: bool,
    pub patch_exists: bool,
    pub patch_successfully_applied: bool,
    pub resolved: bool,
    /// Absent when the patch is None or the log was not applicable.
    pub tests_status: Option<TestsStatus>,
}

impl InstanceReport {
    /// `get_eval_report(..., include_tests_status=True)`.
    pub fn grade(
        instance_id: &str,
        model_patch: Option<&str>,
        fail_to_pass: &[String],
        pass_to_pass: &[String],
        parser: LogParser,
        test_log: &str,
    ) -> Self {
        let mut report = Self {
            instance_id: instance_id.to_string(),
            patch_is_none: false,
            patch_exists: false,
            patch_successfully_applied: false,
            resolved: false,
            tests_status: None,
        };
        if model_patch.is_none() {
            report.patch_is_none = true;
            return report;
        }
        report.patch_exists = true;
        let LogVerdict::Parsed(map) = parse_eval_log(parser, test_log) else {
            return report;
        };
        report.patch_successfully_applied = true;
        let status = TestsStatus::grade(fail_to_pass, pass_to_pass, &map);
        report.resolved = status.resolution() == Resolution::Full;
        report.tests_status = Some(status);
        report
    }

    /// `{ID: {...}}` as `json.dumps(report, indent=4)` writes it.
    pub fn to_json_text(&self) -> String {
        let mut fields = vec![
            (
                "patch_is_None".to_string(),
                PyJson::Bool(self.patch_is_none),
            ),
            ("patch_exists".to_string(), PyJson::Bool(self.patch_exists)),
            (
                "patch_successfully_applied".to_string(),
                PyJson::Bool(self.patch_successfully_applied),
            ),
            ("resolved".to_string(), PyJson::Bool(self.resolved)),
        ];
        if let Some(status) = &self.tests_status {
            fields.push(("tests_status".into(), status.to_pyjson()));
        }
        PyJson::Dict(vec![(self.instance_id.clone(), PyJson::Dict(fields))]).dumps_indent4()
    }

    /// Read back the `resolved` flag of a `report.json` (for resume and summaries).
    pub fn read_resolved(text: &str, instance_id: &str) -> Option<bool> {
        let value: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
        value.get(instance_id)?.get("resolved")?.as_bool()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn log(body: &str) -> String {
        format!(
            "+ git apply -v -\n+ : '{START_TEST_OUTPUT}'\n+ pytest -rA tests/t.py\n{body}\n+ : '{END_TEST_OUTPUT}'\n+ git checkout abc tests/t.py\n"
        )
    }

    #[test]
    fn resolved_when_all_listed_tests_pass_or_xfail() {
        let text = log(
            "PASSED tests/t.py::test_a\nXFAIL tests/t.py::test_b - flaky\nPASSED tests/t.py::test_c",
        );
        let report = InstanceReport::grade(
            "o__r-1",
            Some("diff"),
            &names(&["tests/t.py::test_a", "tests/t.py::test_b"]),
            &names(&["tests/t.py::test_c"]),
            LogParser::Pytest,
            &text,
        );
        assert!(report.resolved && report.patch_successfully_applied);
        let status = report.tests_status.unwrap();
        assert_eq!(status.fail_to_pass.success.len(), 2);
    }

    #[test]
    fn skipped_counts_as_neither_and_missing_as_failure() {
        let text = log("SKIPPED tests/t.py::test_a\nPASSED tests/t.py::test_c");
        let status = TestsStatus::grade(
            &names(&["tests/t.py::test_a"]),
            &names(&["tests/t.py::test_c", "tests/t.py::test_gone"]),
            &match parse_eval_log(LogParser::Pytest, &text) {
                LogVerdict::Parsed(m) => m,
                LogVerdict::NotApplied => panic!("should parse"),
            },
        );
        assert!(status.fail_to_pass.success.is_empty() && status.fail_to_pass.failure.is_empty());
        assert_eq!(status.pass_to_pass.failure, vec!["tests/t.py::test_gone"]);
        // F2P has nothing counted → ratio 1, but P2P < 1 → not resolved.
        assert_eq!(status.resolution(), Resolution::No);
    }

    #[test]
    fn partial_resolution_is_not_resolved() {
        let text = log(
            "PASSED tests/t.py::test_a\nFAILED tests/t.py::test_b - boom\nPASSED tests/t.py::test_c",
        );
        let report = InstanceReport::grade(
            "o__r-1",
            Some("x"),
            &names(&["tests/t.py::test_a", "tests/t.py::test_b"]),
            &names(&["tests/t.py::test_c"]),
            LogParser::Pytest,
            &text,
        );
        assert!(!report.resolved);
        assert_eq!(
            report.tests_status.unwrap().resolution(),
            Resolution::Partial
        );
    }

    #[test]
    fn markers_decide_applicability() {
        let no_end = format!("+ : '{START_TEST_OUTPUT}'\nPASSED a\n");
        assert_eq!(
            parse_eval_log(LogParser::Pytest, &no_end),
            LogVerdict::NotApplied
        );
        let failed = format!("{}\n{APPLY_PATCH_FAIL}\n", log("PASSED a"));
        assert_eq!(
            parse_eval_log(LogParser::Pytest, &failed),
            LogVerdict::NotApplied
        );
        let report = InstanceReport::grade("i", Some("x"), &[], &[], LogParser::Pytest, &failed);
        assert!(report.patch_exists && !report.patch_successfully_applied && !report.resolved);
        assert!(report.tests_status.is_none());
    }

    #[test]
    fn falls_back_to_whole_log_when_section_is_empty() {
        // Output that reached the log before the start marker (stderr ordering).
        let text = format!(
            "PASSED tests/t.py::test_a\n+ : '{START_TEST_OUTPUT}'\n+ : '{END_TEST_OUTPUT}'\n"
        );
        let LogVerdict::Parsed(map) = parse_eval_log(LogParser::Pytest, &text) else {
            panic!("should parse");
        };
        assert_eq!(map["tests/t.py::test_a"], TestStatus::Passed);
    }

    #[test]
    fn section_ends_at_first_end_marker_after_first_start() {
        let text = format!(
            "{START_TEST_OUTPUT}\nPASSED a\n{END_TEST_OUTPUT}\nPASSED b\n{START_TEST_OUTPUT}\nPASSED c\n{END_TEST_OUTPUT}\n"
        );
        let LogVerdict::Parsed(map) = parse_eval_log(LogParser::Pytest, &text) else {
            panic!("should parse");
        };
        assert_eq!(map.keys().collect::<Vec<_>>(), vec!["a"]);
    }

    #[test]
    fn report_json_has_official_layout() {
        let text = log("PASSED t1\nFAILED t2");
        let report = InstanceReport::grade(
            "o__r-7",
            Some("x"),
            &names(&["t1"]),
            &names(&["t2"]),
            LogParser::Pytest,
            &text,
        );
        let json = report.to_json_text();
        let expected = r#"{
    "o__r-7": {
        "patch_is_None": false,
        "patch_exists": true,
        "patch_successfully_applied": true,
        "resolved": false,
        "tests_status": {
            "FAIL_TO_PASS": {
                "success": [
                    "t1"
                ],
                "failure": []
            },
            "PASS_TO_PASS": {
                "success": [],
                "failure": [
                    "t2"
                ]
            },
            "FAIL_TO_FAIL": {
                "success": [],
                "failure": []
            },
            "PASS_TO_FAIL": {
                "success": [],
                "failure": []
            }
        }
    }
}"#;
        assert_eq!(json, expected);
        assert_eq!(InstanceReport::read_resolved(&json, "o__r-7"), Some(false));
        let none = InstanceReport::grade("o__r-8", None, &[], &[], LogParser::Pytest, "");
        assert!(none.patch_is_none && !none.patch_exists);
    }
}
