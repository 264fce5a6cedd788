//! Test integrity: an agent that edits the tests it is judged by has not fixed anything. Edits to
//! files that were tests before the run are flagged in the report, and with `--protect-tests`
//! they are refused (reverted on the spot).

use std::collections::BTreeSet;
use std::path::{Component, Path};

/// Whether `path` (relative to the repository root) looks like a test file in any of the
/// languages we support.
pub fn is_test_path(path: &Path) -> bool {
    let in_test_dir = path.components().any(|c| match c {
        Component::Normal(name) => matches!(
            name.to_str(),
            Some("test" | "tests" | "testing" | "__tests__" | "spec" | "specs")
        ),
        _ => false,
    });
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let stem_rules = name.starts_with("test_")
        || name == "conftest.py"
        || name.ends_with("_test.py")
        || name.ends_with("_test.go")
        || name.ends_with("_tests.rs")
        || name.ends_with("_test.rs")
        || name.contains(".test.")
        || name.contains(".spec.")
        || name.ends_with("Test.java")
        || name.ends_with("Tests.java");
    in_test_dir || stem_rules
}

/// Test files that existed before the run and were changed (modified or deleted) by it.
pub fn edited_existing_tests<'a>(
    changed: impl IntoIterator<Item = &'a str>,
    existed_before: &dyn Fn(&str) -> bool,
) -> BTreeSet<String> {
    changed
        .into_iter()
        .filter(|p| is_test_path(Path::new(p)) && existed_before(p))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_test_files_across_languages() {
        for p in [
            "tests/test_core.py",
            "pkg/test_x.py",
            "conftest.py",
            "src/foo_test.go",
            "web/app.test.ts",
            "web/app.spec.js",
            "src/test/java/FooTest.java",
            "crate/tests/it.rs",
            "lib/__tests__/a.js",
        ] {
            assert!(is_test_path(Path::new(p)), "{p}");
        }
        for p in [
            "src/core.py",
            "README.md",
            "src/contest.py",
            "attest.go",
            "latest/x.py",
        ] {
            assert!(!is_test_path(Path::new(p)), "{p}");
        }
    }

    #[test]
    fn only_pre_existing_tests_count() {
        let before = |p: &str| p == "tests/test_old.py";
        let edited = edited_existing_tests(
            ["tests/test_old.py", "tests/test_new.py", "src/a.py"],
            &before,
        );
        assert_eq!(
            edited.into_iter().collect::<Vec<_>>(),
            vec!["tests/test_old.py".to_string()]
        );
    }
}
