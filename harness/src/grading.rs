//! Grading with the official semantics of 4.1.0 or 5.x ([`HarnessVersion`]): what a test log
//! says about the listed tests, and the per-instance `report.json`.
//!
//! 5.x differs (read in swebench 5.0.2): a SKIPPED FAIL_TO_PASS test fails while a SKIPPED
//! PASS_TO_PASS test is kept; an expected id with more `[` than `]` (cut mid-parameter)
//! prefix-matches parsed ids when they all agree on pass or not; a log with no parsed result and
//! no sign that a suite ran, or whose recorded test exit code is non-zero while nothing failed,
//! is "not applied"; `eval_type = fail_only` counts every test not FAILED as passing; and
//! `report.json` gains `infra_failure` (with a reason when the log shows one).

use crate::log_parsers::{LogParser, StatusMap, TestStatus};
use crate::pyjson::PyJson;

pub const APPLY_PATCH_FAIL: &str = ">>>>> Patch Apply Failed";
pub const APPLY_PATCH_PASS: &str = ">>>>> Applied Patch";
pub const RESET_FAILED: &str = ">>>>> Reset Failed";
pub const TESTS_ERROR: &str = ">>>>> Tests Errored";
pub const TESTS_TIMEOUT: &str = ">>>>> Tests Timed Out";
pub const START_TEST_OUTPUT: &str = ">>>>> Start Test Output";
pub const END_TEST_OUTPUT: &str = ">>>>> End Test Output";
/// 5.x: the eval script echoes the test command's exit status after the end marker.
pub const TEST_EXIT_CODE: &str = ">>>>> Test Exit Code";
/// 5.x: the shell variable the exit status is kept in.
pub const TEST_EXIT_CODE_VAR: &str = "SWEBENCH_TEST_EXIT_CODE";

/// Which official harness the verdicts follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HarnessVersion {
    /// swebench 4.1.0: the harness behind most published results.
    #[default]
    V4_1_0,
    /// swebench 5.x (5.0.2 read).
    V5,
}

impl HarnessVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V4_1_0 => "4.1.0",
            Self::V5 => "5.x",
        }
    }
}

impl std::str::FromStr for HarnessVersion {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "4" | "4.1" | "4.1.0" => Ok(Self::V4_1_0),
            "5" | "5.x" | "5.0" | "5.0.2" => Ok(Self::V5),
            other => Err(format!(
                "unknown harness version `{other}`: use `4.1.0` or `5` (5.x)"
            )),
        }
    }
}

/// A row's `eval_type` (5.x).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EvalType {
    #[default]
    PassAndFail,
    /// Only FAILED counts as failing (a missing test passes).
    FailOnly,
}

impl std::str::FromStr for EvalType {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "" | "pass_and_fail" => Ok(Self::PassAndFail),
            "fail_only" => Ok(Self::FailOnly),
            other => Err(format!(
                "unknown eval_type `{other}`: use `pass_and_fail` or `fail_only`"
            )),
        }
    }
}

/// How one instance is graded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Grading {
    pub version: HarnessVersion,
    pub eval_type: EvalType,
}

/// 5.x `_resolve_case`: the parsed status of `case`, prefix-matching an id cut mid-parameter
/// when every candidate agrees on passing or not.
fn resolve_case<'a>(
    case: &str,
    map: &'a StatusMap,
    version: HarnessVersion,
) -> Option<&'a TestStatus> {
    if let Some(status) = map.get(case) {
        return Some(status);
    }
    if version == HarnessVersion::V4_1_0 || case.matches('[').count() <= case.matches(']').count() {
        return None;
    }
    let passing = |s: &TestStatus| matches!(s, TestStatus::Passed | TestStatus::Xfail);
    let mut matches = map
        .iter()
        .filter(|(k, _)| k.starts_with(case))
        .map(|(_, v)| v);
    let first = matches.next()?;
    let mut agree = true;
    for other in matches {
        agree &= passing(other) == passing(first);
    }
    agree.then_some(first)
}

fn passed_as(case: &str, map: &StatusMap, version: HarnessVersion) -> bool {
    matches!(
        resolve_case(case, map, version),
        Some(TestStatus::Passed | TestStatus::Xfail)
    )
}

fn failed_as(case: &str, map: &StatusMap, version: HarnessVersion) -> bool {
    match resolve_case(case, map, version) {
        None | Some(TestStatus::Failed | TestStatus::Error) => true,
        Some(TestStatus::Skipped) => version == HarnessVersion::V5,
        Some(_) => false,
    }
}

/// 5.x `SUITE_RAN`: evidence that a test runner executed although nothing was parsed.
fn suite_ran(content: &str) -> bool {
    static SUITE_RAN: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    SUITE_RAN
        .get_or_init(|| {
            regex::Regex::new(concat!(
                r"(?m)Executed [1-9]\d* of \d+|TOTAL: [1-9]\d* (?:SUCCESS|FAILED)|[1-9]\d* passing",
                r"|Tests:\s+[1-9]\d*|Test Suites:\s+(?:\d+ \w+, )*[1-9]\d* total|^# tests [1-9]\d*",
                r"|[1-9]\d* specs?, \d+ failures?|': ok$"
            ))
            .ok()
        })
        .as_ref()
        .is_some_and(|re| re.is_match(content))
}

/// 5.x: the exit status the eval script recorded, if it did.
pub fn recorded_exit_code(content: &str) -> Option<i64> {
    let at = content.find(TEST_EXIT_CODE)?;
    let rest = content[at + TEST_EXIT_CODE.len()..].strip_prefix(':')?;
    let rest = rest.trim_start();
    let end = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(rest.len(), |(i, _)| i);
    rest[..end].parse().ok()
}

/// 5.x `infra_failure` signatures: (reason, is an environment fault, pattern), first hit wins.
const INFRA_SIGNATURES: &[(&str, bool, &str)] = &[
    (
        "browser_launch_failed",
        true,
        r"Failed to launch|Failed to connect to the bus",
    ),
    (
        "display_unavailable",
        true,
        r"cannot open display|Missing X server|unable to open X display",
    ),
    (
        "out_of_memory",
        true,
        r"(?m)Cannot allocate memory|OutOfMemoryError|^Killed$",
    ),
    (
        "container_unavailable",
        true,
        r"Error response from daemon|Cannot connect to the Docker daemon",
    ),
    (
        "network_unreachable",
        true,
        r"Could not resolve host|Temporary failure in name resolution",
    ),
    (
        "missing_module",
        false,
        r"Cannot find module|MODULE_NOT_FOUND|ModuleNotFoundError",
    ),
    (
        "no_tests_collected",
        false,
        r"no tests ran|collected 0 items",
    ),
    (
        "tests_timed_out",
        false,
        r"Timeout error: \d+ seconds exceeded",
    ),
];

/// 5.x `classify_logs` on a test log: (reason, is an environment fault).
pub fn classify_infra_failure(content: &str) -> Option<(&'static str, bool)> {
    INFRA_SIGNATURES
        .iter()
        .find_map(|(reason, environment, pattern)| {
            regex::Regex::new(pattern)
                .ok()
                .filter(|re| re.is_match(content))
                .map(|_| (*reason, *environment))
        })
}

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

/// `get_logs_eval` (4.1.0): the statuses between the markers, or, when that section yields
/// nothing, from the whole log.
pub fn parse_eval_log(parser: LogParser, content: &str) -> LogVerdict {
    parse_eval_log_as(parser, content, HarnessVersion::V4_1_0)
}

/// `get_logs_eval` of the given version.
pub fn parse_eval_log_as(parser: LogParser, content: &str, version: HarnessVersion) -> LogVerdict {
    let verdict = parse_eval_log_v4(parser, content, version);
    let LogVerdict::Parsed(map) = &verdict else {
        return verdict;
    };
    if version == HarnessVersion::V4_1_0 {
        return verdict;
    }
    if map.is_empty() && !suite_ran(content) {
        return LogVerdict::NotApplied;
    }
    let exit = recorded_exit_code(content);
    let nothing_failed = !map
        .values()
        .any(|s| matches!(s, TestStatus::Failed | TestStatus::Error));
    if exit.is_some_and(|code| code != 0) && !map.is_empty() && nothing_failed {
        return LogVerdict::NotApplied;
    }
    verdict
}

fn parse_eval_log_v4(parser: LogParser, content: &str, version: HarnessVersion) -> LogVerdict {
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
    let map = parser.parse_as(section, version);
    if map.is_empty() {
        LogVerdict::Parsed(parser.parse_as(content, version))
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
    /// `maintained`: the PASS_TO_PASS rule of 5.x (a SKIPPED test is kept).
    fn of(tests: &[String], map: &StatusMap, grading: Grading, maintained: bool) -> Self {
        let version = grading.version;
        let mut outcome = Self::default();
        for test in tests {
            let success = match grading.eval_type {
                EvalType::FailOnly => map.get(test.as_str()) != Some(&TestStatus::Failed),
                EvalType::PassAndFail => {
                    passed_as(test, map, version)
                        || (maintained
                            && version == HarnessVersion::V5
                            && resolve_case(test, map, version) == Some(&TestStatus::Skipped))
                }
            };
            if success {
                outcome.success.push(test.clone());
            } else if grading.eval_type == EvalType::FailOnly || failed_as(test, map, version) {
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
        Self::grade_as(fail_to_pass, pass_to_pass, map, Grading::default())
    }

    pub fn grade_as(
        fail_to_pass: &[String],
        pass_to_pass: &[String],
        map: &StatusMap,
        grading: Grading,
    ) -> Self {
        Self {
            fail_to_pass: TestOutcome::of(fail_to_pass, map, grading, false),
            pass_to_pass: TestOutcome::of(pass_to_pass, map, grading, true),
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
    /// 5.x only: whether the log shows an environment fault, and the reason found.
    pub infra_failure: Option<(bool, Option<String>)>,
}

impl InstanceReport {
    /// `get_eval_report(..., include_tests_status=True)` of 4.1.0.
    pub fn grade(
        instance_id: &str,
        model_patch: Option<&str>,
        fail_to_pass: &[String],
        pass_to_pass: &[String],
        parser: LogParser,
        test_log: &str,
    ) -> Self {
        Self::grade_as(
            instance_id,
            model_patch,
            (fail_to_pass, pass_to_pass),
            parser,
            test_log,
            Grading::default(),
        )
    }

    /// `get_eval_report(..., include_tests_status=True)` of `grading.version`.
    pub fn grade_as(
        instance_id: &str,
        model_patch: Option<&str>,
        (fail_to_pass, pass_to_pass): (&[String], &[String]),
        parser: LogParser,
        test_log: &str,
        grading: Grading,
    ) -> Self {
        let mut report = Self {
            instance_id: instance_id.to_string(),
            patch_is_none: false,
            patch_exists: false,
            patch_successfully_applied: false,
            resolved: false,
            tests_status: None,
            infra_failure: (grading.version == HarnessVersion::V5).then_some((false, None)),
        };
        if model_patch.is_none() {
            report.patch_is_none = true;
            return report;
        }
        report.patch_exists = true;
        let LogVerdict::Parsed(map) = parse_eval_log_as(parser, test_log, grading.version) else {
            if grading.version == HarnessVersion::V5
                && let Some((reason, environment)) = classify_infra_failure(test_log)
            {
                report.infra_failure = Some((environment, Some(reason.to_string())));
            }
            return report;
        };
        report.patch_successfully_applied = true;
        let status = TestsStatus::grade_as(fail_to_pass, pass_to_pass, &map, grading);
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
        if let Some((infra, reason)) = &self.infra_failure {
            fields.push(("infra_failure".into(), PyJson::Bool(*infra)));
            if let Some(reason) = reason {
                fields.push(("infra_failure_reason".into(), PyJson::Str(reason.clone())));
            }
        }
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

    fn v5() -> Grading {
        Grading {
            version: HarnessVersion::V5,
            eval_type: EvalType::PassAndFail,
        }
    }

    fn grade(text: &str, f2p: &[&str], p2p: &[&str], grading: Grading) -> InstanceReport {
        InstanceReport::grade_as(
            "o__r-1",
            Some("diff"),
            (&names(f2p), &names(p2p)),
            LogParser::Pytest,
            text,
            grading,
        )
    }

    #[test]
    fn a_skipped_fail_to_pass_test_fails_in_5_but_not_in_4() {
        let text = log(
            "SKIPPED tests/t.py::test_a\nPASSED tests/t.py::test_b\nSKIPPED tests/t.py::test_c",
        );
        let (f2p, p2p) = (
            &["tests/t.py::test_a", "tests/t.py::test_b"][..],
            &["tests/t.py::test_c"][..],
        );
        let v4 = grade(&text, f2p, p2p, Grading::default());
        assert!(v4.resolved, "4.1.0 counts a skipped test as neither");
        assert_eq!(v4.infra_failure, None);
        let status = v4.tests_status.unwrap();
        assert!(status.pass_to_pass.success.is_empty() && status.pass_to_pass.failure.is_empty());
        let v5 = grade(&text, f2p, p2p, v5());
        assert!(!v5.resolved);
        let status = v5.tests_status.clone().unwrap();
        assert_eq!(status.fail_to_pass.failure, names(&["tests/t.py::test_a"]));
        // A skipped PASS_TO_PASS test is kept.
        assert_eq!(status.pass_to_pass.success, names(&["tests/t.py::test_c"]));
        assert!(v5.to_json_text().contains(
            "\"resolved\": false,\n        \"infra_failure\": false,\n        \"tests_status\""
        ));
    }

    #[test]
    fn in_5_an_id_cut_mid_parameter_matches_when_candidates_agree() {
        let text = log(
            "PASSED tests/t.py::test_a[x-1]\nPASSED tests/t.py::test_a[x-2]\nPASSED tests/t.py::test_b[y-1]\nFAILED tests/t.py::test_b[y-2]",
        );
        let f2p = &["tests/t.py::test_a[x"][..];
        assert!(!grade(&text, f2p, &[], Grading::default()).resolved);
        assert!(grade(&text, f2p, &[], v5()).resolved);
        assert!(!grade(&text, &["tests/t.py::test_b[y"], &[], v5()).resolved);
    }

    #[test]
    fn in_5_a_log_without_results_or_with_a_contradicting_exit_code_is_not_applied() {
        let empty = log("nothing here");
        assert!(grade(&empty, &[], &[], Grading::default()).patch_successfully_applied);
        let report = grade(&empty, &[], &[], v5());
        assert!(!report.patch_successfully_applied && !report.resolved);
        let lying = format!(
            "{}\n{TEST_EXIT_CODE}: 1\n",
            log("PASSED tests/t.py::test_a")
        );
        assert!(grade(&lying, &["tests/t.py::test_a"], &[], Grading::default()).resolved);
        assert!(!grade(&lying, &["tests/t.py::test_a"], &[], v5()).patch_successfully_applied);
        let honest = format!(
            "{}\n{TEST_EXIT_CODE}: 0\n",
            log("PASSED tests/t.py::test_a")
        );
        assert!(grade(&honest, &["tests/t.py::test_a"], &[], v5()).resolved);
        assert_eq!(recorded_exit_code(">>>>> Test Exit Code: -9\n"), Some(-9));
        // An environment fault in an unusable log is reported.
        let broken = grade("Temporary failure in name resolution\n", &[], &[], v5());
        assert_eq!(
            broken.infra_failure,
            Some((true, Some("network_unreachable".to_string())))
        );
        assert!(
            broken
                .to_json_text()
                .contains("\"infra_failure_reason\": \"network_unreachable\"")
        );
    }

    #[test]
    fn fail_only_counts_everything_but_failed_as_passing() {
        let text = log("FAILED tests/t.py::test_a\nERROR tests/t.py::test_b");
        let grading = Grading {
            version: HarnessVersion::V5,
            eval_type: EvalType::FailOnly,
        };
        let report = grade(
            &text,
            &["tests/t.py::test_b", "tests/t.py::test_missing"],
            &[],
            grading,
        );
        assert!(report.resolved);
        assert!(!grade(&text, &["tests/t.py::test_a"], &[], grading).resolved);
        assert!("fail_only".parse::<EvalType>().is_ok());
        assert!("5".parse::<HarnessVersion>().is_ok() && "4.1.0".parse::<HarnessVersion>().is_ok());
        assert!("6".parse::<HarnessVersion>().unwrap_err().contains("4.1.0"));
    }

    #[test]
    fn the_5_parsers_keep_ids_with_spaces_and_drop_skip_summaries() {
        let text = "FAILED a.py::test_x[a b] - assert 1\nSKIPPED [2] a.py:3: no numpy\nPASSED a.py::test_y\n";
        let v4 = LogParser::PytestV2.parse_as(text, HarnessVersion::V4_1_0);
        assert_eq!(v4.get("a.py::test_x[a"), Some(&TestStatus::Failed));
        assert!(v4.contains_key("[2]"));
        let v5 = LogParser::PytestV2.parse_as(text, HarnessVersion::V5);
        assert_eq!(v5.get("a.py::test_x[a b]"), Some(&TestStatus::Failed));
        assert!(!v5.contains_key("[2]"));
        assert!(
            !LogParser::Pytest
                .parse_as(text, HarnessVersion::V5)
                .contains_key("[2]")
        );
        assert!(
            LogParser::Pytest
                .parse_as(text, HarnessVersion::V4_1_0)
                .contains_key("[2]")
        );
        assert_eq!(
            LogParser::from_official_name("parse_log_pytest_v2"),
            Some(LogParser::PytestV2)
        );
    }
}
