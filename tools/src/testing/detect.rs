//! Which test command a repository uses, from the files at its root, and how to narrow it to
//! some paths or a name pattern.

use std::path::Path;

use crate::testing::report::Framework;

/// A repository's test runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    Pytest,
    /// Django's own suite: `tests/runtests.py` with dotted labels.
    DjangoRuntests,
    Cargo,
    Go,
    /// `npm test`, with the framework its `test` script names (for output parsing and `-t`).
    Npm(Option<Framework>),
}

impl Runner {
    pub fn framework(self) -> Option<Framework> {
        match self {
            Runner::Pytest => Some(Framework::Pytest),
            Runner::DjangoRuntests => Some(Framework::Unittest),
            Runner::Cargo => Some(Framework::Cargo),
            Runner::Go => Some(Framework::Go),
            Runner::Npm(framework) => framework,
        }
    }
}

/// Looks at the repository root. `None` when nothing says how its tests run.
pub fn detect_runner(root: &Path) -> Option<Runner> {
    let exists = |name: &str| root.join(name).exists();
    let contains = |name: &str, needle: &str| {
        std::fs::read_to_string(root.join(name)).is_ok_and(|text| text.contains(needle))
    };
    if exists("tests/runtests.py") && exists("django") {
        return Some(Runner::DjangoRuntests);
    }
    let pytest_configured = exists("pytest.ini")
        || exists("conftest.py")
        || contains("tox.ini", "[pytest]")
        || contains("setup.cfg", "[tool:pytest]")
        || contains("pyproject.toml", "[tool.pytest");
    if pytest_configured {
        return Some(Runner::Pytest);
    }
    if exists("Cargo.toml") {
        return Some(Runner::Cargo);
    }
    if exists("go.mod") {
        return Some(Runner::Go);
    }
    if let Some(script) = npm_test_script(root) {
        let framework = if script.contains("jest") {
            Some(Framework::Jest)
        } else if script.contains("mocha") {
            Some(Framework::Mocha)
        } else if script.contains("node --test") || script.contains("tap") {
            Some(Framework::Tap)
        } else {
            None
        };
        return Some(Runner::Npm(framework));
    }
    let python_project = [
        "setup.py",
        "pyproject.toml",
        "setup.cfg",
        "requirements.txt",
    ]
    .iter()
    .any(|f| exists(f));
    (python_project || tests_import_pytest(root)).then_some(Runner::Pytest)
}

/// Whether a Python test file in `tests/`, `test/` or the root imports pytest: a repository
/// without any config whose tests are written for pytest.
fn tests_import_pytest(root: &Path) -> bool {
    ["tests", "test", "."].iter().any(|dir| {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            return false;
        };
        entries.flatten().take(200).any(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_test =
                name.ends_with(".py") && (name.starts_with("test_") || name.ends_with("_test.py"));
            is_test
                && std::fs::read_to_string(entry.path()).is_ok_and(|text| {
                    text.lines().any(|l| {
                        let l = l.trim_start();
                        l.starts_with("import pytest") || l.starts_with("from pytest")
                    })
                })
        })
    })
}

/// The `scripts.test` of package.json, unless it is npm's placeholder.
fn npm_test_script(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(root.join("package.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let script = json.get("scripts")?.get("test")?.as_str()?.to_string();
    (!script.contains("no test specified")).then_some(script)
}

/// The command line for `runner`, narrowed to `paths` and `selector` when given.
pub fn command_for(runner: Runner, paths: &[String], selector: Option<&str>) -> String {
    let quoted: Vec<String> = paths.iter().map(|p| shell_quote(p)).collect();
    let mut parts: Vec<String> = Vec::new();
    match runner {
        Runner::Pytest => {
            parts.push("python -m pytest -rA --tb=short -p no:cacheprovider".into());
            parts.extend(quoted);
            if let Some(selector) = selector {
                parts.push(format!("-k {}", shell_quote(selector)));
            }
        }
        Runner::DjangoRuntests => {
            parts.push("python tests/runtests.py --verbosity 2 --parallel 1".into());
            parts.extend(paths.iter().map(|p| shell_quote(&django_label(p))));
            if let Some(selector) = selector {
                parts.push(format!("-k {}", shell_quote(selector)));
            }
        }
        Runner::Cargo => {
            parts.push("cargo test --no-fail-fast".into());
            let mut filters = Vec::new();
            for path in paths {
                match path
                    .strip_prefix("tests/")
                    .and_then(|p| p.strip_suffix(".rs"))
                {
                    Some(target) => parts.push(format!("--test {}", shell_quote(target))),
                    None => filters.push(shell_quote(path)),
                }
            }
            if let Some(selector) = selector {
                filters.push(shell_quote(selector));
            }
            // cargo test takes one name filter; more go after `--`.
            if let Some(first) = filters.first() {
                parts.push(first.clone());
            }
        }
        Runner::Go => {
            parts.push("go test -v".into());
            if let Some(selector) = selector {
                parts.push(format!("-run {}", shell_quote(selector)));
            }
            if paths.is_empty() {
                parts.push("./...".into());
            } else {
                parts.extend(paths.iter().map(|p| shell_quote(&go_package(p))));
            }
        }
        Runner::Npm(framework) => {
            parts.push("npm test".into());
            let mut extra = quoted;
            if let Some(selector) = selector {
                match framework {
                    Some(Framework::Jest) => extra.push(format!("-t {}", shell_quote(selector))),
                    Some(Framework::Mocha) => {
                        extra.push(format!("--grep {}", shell_quote(selector)))
                    }
                    Some(Framework::Tap) => {
                        extra.push(format!("--test-name-pattern={}", shell_quote(selector)))
                    }
                    _ => {}
                }
            }
            if !extra.is_empty() {
                parts.push("--".into());
                parts.extend(extra);
            }
        }
    }
    parts.join(" ")
}

/// `tests/admin_views/tests.py` → `admin_views.tests`; a dotted label stays as it is.
fn django_label(path: &str) -> String {
    let trimmed = path.strip_prefix("tests/").unwrap_or(path);
    if !trimmed.contains('/') && !trimmed.ends_with(".py") {
        return trimmed.to_string();
    }
    trimmed
        .trim_end_matches(".py")
        .trim_end_matches('/')
        .replace('/', ".")
}

/// A directory or file → its package pattern (`pkg/x_test.go` → `./pkg`).
fn go_package(path: &str) -> String {
    let dir = if path.ends_with(".go") {
        path.rsplit_once('/').map(|(d, _)| d).unwrap_or(".")
    } else {
        path
    };
    if dir.starts_with("./")
        || dir.starts_with('/')
        || dir == "."
        || dir.contains("...") && dir.starts_with('.')
    {
        dir.to_string()
    } else {
        format!("./{dir}")
    }
}

/// Quotes for bash unless the word is made of characters that need none.
pub use agent_exec::shell_quote;

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        dir
    }

    #[test]
    fn detects_runners_from_repository_files() {
        type Case<'a> = (Vec<(&'a str, &'a str)>, Option<Runner>);
        let cases: Vec<Case> = vec![
            (
                vec![("pyproject.toml", "[tool.pytest.ini_options]\n")],
                Some(Runner::Pytest),
            ),
            (vec![("setup.py", "")], Some(Runner::Pytest)),
            (
                vec![("tests/runtests.py", ""), ("django/__init__.py", "")],
                Some(Runner::DjangoRuntests),
            ),
            (vec![("Cargo.toml", "[package]\n")], Some(Runner::Cargo)),
            (vec![("go.mod", "module x\n")], Some(Runner::Go)),
            (
                vec![("package.json", r#"{"scripts":{"test":"jest --ci"}}"#)],
                Some(Runner::Npm(Some(Framework::Jest))),
            ),
            (
                vec![("package.json", r#"{"scripts":{"test":"node --test"}}"#)],
                Some(Runner::Npm(Some(Framework::Tap))),
            ),
            (
                vec![(
                    "package.json",
                    r#"{"scripts":{"test":"echo \"Error: no test specified\" && exit 1"}}"#,
                )],
                None,
            ),
            (vec![("README.md", "")], None),
            (
                vec![(
                    "tests/test_core.py",
                    "import pytest\n\ndef test_x():\n    pass\n",
                )],
                Some(Runner::Pytest),
            ),
            (
                vec![("test_app.py", "from pytest import raises\n")],
                Some(Runner::Pytest),
            ),
            (vec![("tests/test_core.py", "import unittest\n")], None),
        ];
        for (files, expected) in cases {
            let dir = repo(&files);
            assert_eq!(detect_runner(dir.path()), expected, "{files:?}");
        }
    }

    #[test]
    fn commands_are_narrowed_and_quoted() {
        assert_eq!(
            command_for(
                Runner::Pytest,
                &["tests/test_x.py::test_y[a b]".into()],
                Some("slow and not db")
            ),
            "python -m pytest -rA --tb=short -p no:cacheprovider 'tests/test_x.py::test_y[a b]' -k 'slow and not db'"
        );
        assert_eq!(
            command_for(
                Runner::DjangoRuntests,
                &["tests/admin_views/tests.py".into(), "auth_tests".into()],
                None
            ),
            "python tests/runtests.py --verbosity 2 --parallel 1 admin_views.tests auth_tests"
        );
        assert_eq!(
            command_for(
                Runner::Cargo,
                &["tests/integration.rs".into()],
                Some("parser::")
            ),
            "cargo test --no-fail-fast --test integration parser::"
        );
        assert_eq!(
            command_for(Runner::Go, &["calc/calc_test.go".into()], Some("TestAdd$")),
            "go test -v -run 'TestAdd$' ./calc"
        );
        assert_eq!(command_for(Runner::Go, &[], None), "go test -v ./...");
        assert_eq!(
            command_for(
                Runner::Npm(Some(Framework::Jest)),
                &["src/a.test.js".into()],
                Some("adds")
            ),
            "npm test -- src/a.test.js -t adds"
        );
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
