//! Django's test runner (`./tests/runtests.py --verbosity 2`).

use std::sync::LazyLock;

use regex::Regex;

use super::pytext::{before_first, py_lstrip, py_split, py_strip};
use super::{StatusMap, TestStatus};

/// Test output that Django prints between `name ...` and `ok` on the next line.
static INTERRUPTED_OK: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"(?m)^(.*?)\s\.\.\.\sTesting against Django installed in ((?s:.*?)) silenced\)\.\nok$",
        r"(?m)^(.*?)\s\.\.\.\sInternal Server Error: /(.*)/\nok$",
        r"(?m)^(.*?)\s\.\.\.\sSystem check identified no issues \(0 silenced\)\nok$",
    ]
    .iter()
    .filter_map(|p| Regex::new(p).ok())
    .collect()
});

const PASS_SUFFIXES: [&str; 3] = [" ... ok", " ... OK", " ...  OK"];

pub fn parse_django(log: &str) -> StatusMap {
    let mut map = StatusMap::new();
    let mut previous_test: Option<String> = None;
    for raw in log.split('\n') {
        let mut line: String = py_strip(raw).to_string();

        if line.contains("--version is equivalent to version") {
            map.insert(
                "--version is equivalent to version".into(),
                TestStatus::Passed,
            );
        }
        if line.contains(" ... ") {
            previous_test = Some(before_first(&line, " ... ").to_string());
        }
        for suffix in PASS_SUFFIXES {
            if line.ends_with(suffix) {
                // django__django-7188 prints a migration line before its test name.
                if line.starts_with("Applying sites.0002_alter_domain_unique...test_no_migrations")
                {
                    let rest = line.split_once("...").map(|(_, r)| r).unwrap_or(&line);
                    line = py_strip(rest).to_string();
                }
                let test = line.rsplit_once(suffix).map(|(t, _)| t).unwrap_or(&line);
                map.insert(test.to_string(), TestStatus::Passed);
                break;
            }
        }
        if line.contains(" ... skipped") {
            map.insert(
                before_first(&line, " ... skipped").to_string(),
                TestStatus::Skipped,
            );
        }
        if line.ends_with(" ... FAIL") {
            map.insert(
                before_first(&line, " ... FAIL").to_string(),
                TestStatus::Failed,
            );
        }
        if line.starts_with("FAIL:")
            && let Some(name) = py_split(&line).get(1)
        {
            map.insert(py_strip(name).to_string(), TestStatus::Failed);
        }
        if line.ends_with(" ... ERROR") {
            map.insert(
                before_first(&line, " ... ERROR").to_string(),
                TestStatus::Error,
            );
        }
        if line.starts_with("ERROR:")
            && let Some(name) = py_split(&line).get(1)
        {
            map.insert(py_strip(name).to_string(), TestStatus::Error);
        }
        if py_lstrip(&line).starts_with("ok")
            && let Some(test) = &previous_test
        {
            map.insert(test.clone(), TestStatus::Passed);
        }
    }
    for pattern in INTERRUPTED_OK.iter() {
        for captures in pattern.captures_iter(log) {
            if let Some(name) = captures.get(1) {
                map.insert(name.as_str().to_string(), TestStatus::Passed);
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
Testing against Django installed in '/testbed/django'
Importing application admin_views
Skipping setup of unused database(s): other.
Operations to perform:
  Apply all migrations: admin, sites
Running migrations:
  Applying admin.0001_initial... OK
System check identified no issues (1 silenced).
test_add_view (admin_views.tests.AdminViewBasicTest) ... ok
test_change_view (admin_views.tests.AdminViewBasicTest.test_change_view) ... FAIL
test_delete_view (admin_views.tests.AdminViewBasicTest) ... ERROR
test_history_view (admin_views.tests.AdminViewBasicTest) ... skipped 'Database has feature(s) supports_transactions'
test_lazy (admin_views.tests.AdminViewBasicTest)
Lazy objects are evaluated ... ok
test_unicode (admin_views.tests.UnicodeTest) ... Some printed output
ok
test_with_output (admin_views.tests.OutputTest) ... System check identified no issues (0 silenced)
ok
test_expected_failure (admin_views.tests.X) ... expected failure
test_unexpected_success (admin_views.tests.X) ...  OK

======================================================================
FAIL: test_change_view (admin_views.tests.AdminViewBasicTest.test_change_view)
----------------------------------------------------------------------
Traceback (most recent call last):
AssertionError: 200 != 302

======================================================================
ERROR: test_delete_view (admin_views.tests.AdminViewBasicTest)
----------------------------------------------------------------------
Ran 8 tests in 0.513s

FAILED (failures=1, errors=1, skipped=1)
";

    #[test]
    fn django_statuses() {
        let map = parse_django(LOG);
        assert_eq!(
            map["test_add_view (admin_views.tests.AdminViewBasicTest)"],
            TestStatus::Passed
        );
        // `ERROR:`/`FAIL:` lines keep only the first word after the colon.
        assert_eq!(map["test_change_view"], TestStatus::Failed);
        assert_eq!(
            map["test_change_view (admin_views.tests.AdminViewBasicTest.test_change_view)"],
            TestStatus::Failed
        );
        assert_eq!(
            map["test_delete_view (admin_views.tests.AdminViewBasicTest)"],
            TestStatus::Error
        );
        assert_eq!(map["test_delete_view"], TestStatus::Error);
        assert_eq!(
            map["test_history_view (admin_views.tests.AdminViewBasicTest)"],
            TestStatus::Skipped
        );
        // A docstring line takes the place of the name.
        assert_eq!(map["Lazy objects are evaluated"], TestStatus::Passed);
        // `ok` on the line after `name ... output`.
        assert_eq!(
            map["test_unicode (admin_views.tests.UnicodeTest)"],
            TestStatus::Passed
        );
        assert_eq!(
            map["test_with_output (admin_views.tests.OutputTest)"],
            TestStatus::Passed
        );
        assert_eq!(
            map["test_unexpected_success (admin_views.tests.X)"],
            TestStatus::Passed
        );
        // "expected failure" is not a status the parser knows.
        assert!(!map.contains_key("test_expected_failure (admin_views.tests.X)"));
    }

    #[test]
    fn version_line_and_migration_prefix() {
        let log = "test_version (admin_scripts.tests.CommandTypes)\n--version is equivalent to version ... ok\n\
                   Applying sites.0002_alter_domain_unique...test_no_migrations (migrations.test_x.T) ... ok\n";
        let map = parse_django(log);
        assert_eq!(
            map["--version is equivalent to version"],
            TestStatus::Passed
        );
        assert_eq!(
            map["test_no_migrations (migrations.test_x.T)"],
            TestStatus::Passed
        );
    }
}
