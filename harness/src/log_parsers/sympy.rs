//! SymPy's own runner (`bin/test -C --verbose`).

use std::sync::LazyLock;

use regex::Regex;

use super::pytext::{py_split, py_strip};
use super::{StatusMap, TestStatus};

/// `____ sympy/core/tests/test_basic.py:test_name ____` headers of failure reports.
static FAILURE_HEADER: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(_*) (.*)\.py:(.*) (_*)").ok());

pub fn parse_sympy(log: &str) -> StatusMap {
    let mut map = StatusMap::new();
    if let Some(header) = FAILURE_HEADER.as_ref() {
        for captures in header.captures_iter(log) {
            let path = captures.get(2).map_or("", |m| m.as_str());
            let name = captures.get(3).map_or("", |m| m.as_str());
            map.insert(format!("{path}.py:{name}"), TestStatus::Failed);
        }
    }
    for raw in log.split('\n') {
        let line = py_strip(raw);
        if !line.starts_with("test_") {
            continue;
        }
        let first = || py_split(line).first().map(|w| w.to_string());
        if line.ends_with(" E")
            && let Some(test) = first()
        {
            map.insert(test, TestStatus::Error);
        }
        if line.ends_with(" F")
            && let Some(test) = first()
        {
            map.insert(test, TestStatus::Failed);
        }
        if line.ends_with(" ok")
            && let Some(test) = first()
        {
            map.insert(test, TestStatus::Passed);
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
============================= test process starts ==============================
executable:         /usr/bin/python  (3.9.19-final-0) [CPython]
architecture:       64-bit
cache:              no
ground types:       python
random seed:        12345678
hash randomization: on (PYTHONHASHSEED=1234)

sympy/core/tests/test_basic.py[3]
test__aresame ok
test_structure ok
test_equality F
sympy/core/tests/test_sympify.py[2]
test_issue_3538 E
test_sympify_slow f

________________________________________________________________________________
__________ sympy/core/tests/test_basic.py:test_equality ___________
Traceback (most recent call last):
AssertionError

========== tests finished: 2 passed, 1 failed, 1 expected to fail, 1 exceptions, in 0.31 seconds ==========
DO *NOT* COMMIT!
";

    #[test]
    fn sympy_statuses() {
        let map = parse_sympy(LOG);
        assert_eq!(map["test__aresame"], TestStatus::Passed);
        assert_eq!(map["test_structure"], TestStatus::Passed);
        assert_eq!(map["test_equality"], TestStatus::Failed);
        assert_eq!(map["test_issue_3538"], TestStatus::Error);
        assert_eq!(
            map["sympy/core/tests/test_basic.py:test_equality"],
            TestStatus::Failed
        );
        // Expected failures (`f`) are not recorded.
        assert!(!map.contains_key("test_sympify_slow"));
    }
}
