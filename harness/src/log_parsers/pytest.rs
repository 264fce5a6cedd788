//! The pytest family: plain, "options", "v2", matplotlib and seaborn.

use std::sync::LazyLock;

use regex::Regex;

use super::pytext::py_split;
use super::{StatusMap, TestStatus, ends_with_status, starts_with_status};

/// A summary line `STATUS name [- message]`: FAILED lines lose their " - " first.
fn status_and_name(line: &str) -> Option<(String, String)> {
    if !starts_with_status(line) {
        return None;
    }
    let owned;
    let line = if line.starts_with("FAILED") {
        owned = line.replace(" - ", " ");
        owned.as_str()
    } else {
        line
    };
    let words = py_split(line);
    if words.len() <= 1 {
        return None;
    }
    Some((words[0].to_string(), words[1].to_string()))
}

pub fn parse_pytest(log: &str) -> StatusMap {
    let mut map = StatusMap::new();
    for line in log.split('\n') {
        if let Some((status, name)) = status_and_name(line) {
            map.insert(name, TestStatus::from_word(&status));
        }
    }
    map
}

/// Parameters that are absolute paths (`[/tmp/pytest-0/x/file]`) differ between machines; the
/// official parser keeps only `/` + the last component.
fn normalise_option(name: &str) -> String {
    let (Some(open), Some(close)) = (name.find('['), name.rfind(']')) else {
        return name.to_string();
    };
    if close <= open {
        return name.to_string();
    }
    let main = &name[..open];
    let mut option = name[open + 1..close].to_string();
    if option.starts_with('/') && !option.starts_with("//") && !option.contains('*') {
        let last = option.rsplit('/').next().unwrap_or_default();
        option = format!("/{last}");
    }
    format!("{main}[{option}]")
}

pub fn parse_pytest_options(log: &str) -> StatusMap {
    let mut map = StatusMap::new();
    for line in log.split('\n') {
        if let Some((status, name)) = status_and_name(line) {
            map.insert(normalise_option(&name), TestStatus::from_word(&status));
        }
    }
    map
}

static COLOUR_CODE: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(r"\[(\d+)m").expect("static regex")
});

/// Removes `[<digits>m` and every control character U+0001..U+001F, as the official v2 parser
/// does (so `\x1b[1;31m` leaves `[1;31m` behind: kept for identical verdicts).
fn strip_colours(line: &str) -> String {
    COLOUR_CODE
        .replace_all(line, "")
        .chars()
        .filter(|c| !('\u{1}'..='\u{1f}').contains(c))
        .collect()
}

pub fn parse_pytest_v2(log: &str) -> StatusMap {
    let mut map = StatusMap::new();
    for raw in log.split('\n') {
        let line = strip_colours(raw);
        if let Some((status, name)) = status_and_name(&line) {
            map.insert(name, TestStatus::from_word(&status));
        } else if !starts_with_status(&line) && ends_with_status(&line) {
            // Older pytest: `path::test STATUS`.
            let words = py_split(&line);
            if words.len() >= 2 {
                map.insert(words[0].to_string(), TestStatus::from_word(words[1]));
            }
        }
    }
    map
}

/// The 5.x pytest-v2 parser: ids with spaces are kept whole (a FAILED line loses only its
/// ` - message` tail), and `SKIPPED [N]` summary lines are not tests.
pub fn parse_pytest_v2_v5(log: &str) -> StatusMap {
    let mut map = StatusMap::new();
    for raw in log.split('\n') {
        let mut line = strip_colours(raw);
        if starts_with_status(&line) {
            if line.starts_with("FAILED")
                && let Some(at) = line.find(" - ")
            {
                line.truncate(at);
            }
            let words = py_split(&line);
            if words.len() >= 2 && !is_skip_summary(words[0], words[1]) {
                map.insert(words[1..].join(" "), TestStatus::from_word(words[0]));
            }
        } else if ends_with_status(&line) {
            let words = py_split(&line);
            if words.len() >= 2 {
                let (last, rest) = words.split_last().unwrap_or((&"", &[]));
                map.insert(rest.join(" "), TestStatus::from_word(last));
            }
        }
    }
    map
}

/// 5.x `_is_skip_summary`: pytest's `SKIPPED [N] path:line: reason`, where `[N]` is a count.
pub fn is_skip_summary(status: &str, name: &str) -> bool {
    status == "SKIPPED"
        && name.len() > 2
        && name.starts_with('[')
        && name.ends_with(']')
        && name[1..name.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

pub fn parse_matplotlib(log: &str) -> StatusMap {
    let mut map = StatusMap::new();
    for raw in log.split('\n') {
        let line = raw
            .replace("MouseButton.LEFT", "1")
            .replace("MouseButton.RIGHT", "3");
        if let Some((status, name)) = status_and_name(&line) {
            map.insert(name, TestStatus::from_word(&status));
        }
    }
    map
}

pub fn parse_seaborn(log: &str) -> StatusMap {
    let mut map = StatusMap::new();
    for line in log.split('\n') {
        if line.starts_with("FAILED") {
            if let Some(name) = py_split(line).get(1) {
                map.insert(name.to_string(), TestStatus::Failed);
            }
        } else if line.contains(" PASSED ") {
            let words = py_split(line);
            if words.len() >= 2 && words[1] == "PASSED" {
                map.insert(words[0].to_string(), TestStatus::Passed);
            }
        } else if line.starts_with("PASSED")
            && let Some(name) = py_split(line).get(1)
        {
            map.insert(name.to_string(), TestStatus::Passed);
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    const PYTEST_RA: &str = "\
============================= test session starts ==============================
platform linux -- Python 3.9.20, pytest-7.4.4, pluggy-1.3.0
rootdir: /testbed
collected 9 items

tests/test_utils.py ..F.sxE..                                            [100%]

==================================== ERRORS ====================================
___________________ ERROR at setup of test_requires_fixture ____________________
file /testbed/tests/test_utils.py, line 40
E       fixture 'httpbin' not found
=================================== FAILURES ===================================
=========================== short test summary info ============================
PASSED tests/test_utils.py::TestSuperLen::test_io_streams[StringIO-Test]
PASSED tests/test_utils.py::test_parse_header_links[<http:/.../front.jpeg>; type=\"image/jpeg\"-expected0]
PASSED tests/test_utils.py::test_unquote_unreserved[http://example.com/?a=%300-http://example.com/?a=00]
PASSED tests/test_utils.py::test_zipped_paths[/tmp/pytest-of-root/pytest-0/test_zipped0/file.txt-True]
PASSED tests/test_utils.py::test_case with spaces
SKIPPED [1] tests/test_utils.py:77: requires network
XFAIL tests/test_utils.py::test_known_bug - reason: upstream issue
FAILED tests/test_utils.py::test_get_auth_from_url[http://user:pass@complex.url.com/path?query=yes-auth0] - AssertionError: assert ('user', 'pass') == ('user', 'wrong')
ERROR tests/test_utils.py::test_requires_fixture - fixture 'httpbin' not found
PASSED tests/test_utils.py::test_flaky
FAILED tests/test_utils.py::test_flaky
=================== 2 failed, 5 passed, 1 skipped, 1 xfailed, 1 error in 0.41s ===================
";

    #[test]
    fn pytest_summary_lines() {
        let map = parse_pytest(PYTEST_RA);
        assert_eq!(
            map["tests/test_utils.py::TestSuperLen::test_io_streams[StringIO-Test]"],
            TestStatus::Passed
        );
        assert_eq!(
            map["tests/test_utils.py::test_get_auth_from_url[http://user:pass@complex.url.com/path?query=yes-auth0]"],
            TestStatus::Failed
        );
        assert_eq!(
            map["tests/test_utils.py::test_requires_fixture"],
            TestStatus::Error
        );
        assert_eq!(
            map["tests/test_utils.py::test_known_bug"],
            TestStatus::Xfail
        );
        // A later line overwrites an earlier one.
        assert_eq!(map["tests/test_utils.py::test_flaky"], TestStatus::Failed);
        // Names with spaces are cut at the first space (the official behaviour).
        assert_eq!(map["tests/test_utils.py::test_case"], TestStatus::Passed);
        assert!(!map.contains_key("tests/test_utils.py::test_case with spaces"));
        // `SKIPPED [1] path:line: reason` records the word after the status, verbatim.
        assert_eq!(map["[1]"], TestStatus::Skipped);
        // Attribute-style parametrised ids keep everything up to the first whitespace.
        assert_eq!(
            map["tests/test_utils.py::test_parse_header_links[<http:/.../front.jpeg>;"],
            TestStatus::Passed
        );
        // The absolute-path parameter is kept whole by the plain parser.
        assert!(map.contains_key(
            "tests/test_utils.py::test_zipped_paths[/tmp/pytest-of-root/pytest-0/test_zipped0/file.txt-True]"
        ));
        // The "=== 2 failed ..." line does not start with a status word.
        assert_eq!(map.len(), 10);
    }

    #[test]
    fn pytest_options_cuts_absolute_path_parameters() {
        let map = parse_pytest_options(PYTEST_RA);
        assert!(map.contains_key("tests/test_utils.py::test_zipped_paths[/file.txt-True]"));
        // Not an absolute path: unchanged.
        assert!(map.contains_key(
            "tests/test_utils.py::test_unquote_unreserved[http://example.com/?a=%300-http://example.com/?a=00]"
        ));
        let log = "PASSED tests/test_x.py::test_a[//network/share]\nPASSED tests/test_x.py::test_b[/a/*/c]\nPASSED tests/test_x.py::test_c[/a/b/c]tail\n";
        let map = parse_pytest_options(log);
        assert!(map.contains_key("tests/test_x.py::test_a[//network/share]"));
        assert!(map.contains_key("tests/test_x.py::test_b[/a/*/c]"));
        // Text after the last `]` is dropped, as the official regex search does.
        assert!(map.contains_key("tests/test_x.py::test_c[/c]"));
    }

    #[test]
    fn pytest_v2_strips_colours_and_reads_old_form() {
        let log = "\u{1b}[32mPASSED\u{1b}[0m astropy/io/fits/tests/test_header.py::TestHeaderFunctions::test_card_constructor_default_args\n\
                   \u{1b}[31mFAILED\u{1b}[0m astropy/units/tests/test_quantity.py::test_arrays[float64] - assert False\n\
                   astropy/wcs/tests/test_wcs.py::test_fixes PASSED\n\
                   astropy/wcs/tests/test_wcs.py::test_broken FAILED\n\
                   \u{1b}[1;31mERROR\u{1b}[0m astropy/x.py::test_bold\n\
                   sklearn/tests/test_x.py::test_skipme SKIPPED\n";
        let map = parse_pytest_v2(log);
        assert_eq!(
            map["astropy/io/fits/tests/test_header.py::TestHeaderFunctions::test_card_constructor_default_args"],
            TestStatus::Passed
        );
        assert_eq!(
            map["astropy/units/tests/test_quantity.py::test_arrays[float64]"],
            TestStatus::Failed
        );
        assert_eq!(
            map["astropy/wcs/tests/test_wcs.py::test_fixes"],
            TestStatus::Passed
        );
        assert_eq!(
            map["astropy/wcs/tests/test_wcs.py::test_broken"],
            TestStatus::Failed
        );
        assert_eq!(
            map["sklearn/tests/test_x.py::test_skipme"],
            TestStatus::Skipped
        );
        // `[1;31m` is not a `[<digits>m` code, so it stays and the line starts with `[`; it
        // ends with no status word either: not parsed, as in the official harness.
        assert!(!map.contains_key("astropy/x.py::test_bold"));
        // Plain pytest parser does not read coloured lines.
        assert!(
            !parse_pytest(log)
                .contains_key("astropy/units/tests/test_quantity.py::test_arrays[float64]")
        );
    }

    #[test]
    fn matplotlib_replaces_mouse_buttons() {
        let log = "PASSED lib/matplotlib/tests/test_widgets.py::test_span_selector_drag[MouseButton.LEFT-True]\n\
                   FAILED lib/matplotlib/tests/test_backend_qt.py::test_other[MouseButton.RIGHT] - Failed\n";
        let map = parse_matplotlib(log);
        assert_eq!(
            map["lib/matplotlib/tests/test_widgets.py::test_span_selector_drag[1-True]"],
            TestStatus::Passed
        );
        assert_eq!(
            map["lib/matplotlib/tests/test_backend_qt.py::test_other[3]"],
            TestStatus::Failed
        );
    }

    #[test]
    fn seaborn_reads_passed_and_failed_only() {
        let log = "tests/test_core.py::TestSemanticMapping::test_call_lookup PASSED [  1%]\n\
                   PASSED tests/test_core.py::test_b\n\
                   FAILED tests/test_core.py::test_c - AssertionError\n\
                   SKIPPED [1] tests/test_core.py:12: no scipy\n\
                   XFAIL tests/test_core.py::test_d\n";
        let map = parse_seaborn(log);
        assert_eq!(
            map["tests/test_core.py::TestSemanticMapping::test_call_lookup"],
            TestStatus::Passed
        );
        assert_eq!(map["tests/test_core.py::test_b"], TestStatus::Passed);
        assert_eq!(map["tests/test_core.py::test_c"], TestStatus::Failed);
        assert_eq!(map.len(), 3);
    }
}
