//! The test matrix: every attempt's recorded reproduction and the repository's existing tests
//! near the changed code, each run against every candidate in its own clean checkout and a
//! fresh sandbox, through the same tools the attempts used.

use std::collections::BTreeSet;
use std::path::{Component, Path};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};

use agent_tools::{Effect, PathJail, ToolContext, ToolRegistry};

use super::diffs;
use super::{Attempt, Environment};
use crate::fix::test_integrity::is_test_path;

/// Existing test files run at most.
const MAX_RELATED_TESTS: usize = 20;

/// One command of the matrix.
#[derive(Debug, Clone, Serialize)]
pub struct MatrixCommand {
    /// Where it comes from: `reproduction of attempt N`, or `existing tests`.
    pub origin: String,
    pub tool: String,
    /// The tool's arguments (JSON).
    pub arguments: Value,
    /// What it runs, for people.
    pub display: String,
    /// Files put in place before it runs (and put back after): a reproduction's script, or
    /// the original version of the existing tests a candidate edited.
    #[serde(skip)]
    pub files: Vec<(String, Vec<u8>)>,
}

/// One command run on one candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// Why it did not run (a tool or sandbox error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// The reproductions of all attempts (one per distinct call), then the existing tests near
/// what the candidates change.
pub fn commands(
    attempts: &[Attempt],
    registry: &ToolRegistry,
    baseline: &Baseline,
) -> Vec<MatrixCommand> {
    let mut out: Vec<MatrixCommand> = Vec::new();
    for attempt in attempts {
        let Some(r) = &attempt.reproduction else {
            continue;
        };
        let runs_commands = registry
            .get(&r.tool)
            .is_some_and(|t| t.effect() == Effect::RunsCommands);
        let Ok(arguments) = serde_json::from_str::<Value>(&r.arguments) else {
            continue;
        };
        let same = |c: &MatrixCommand| c.tool == r.tool && c.arguments == arguments;
        if !runs_commands || out.iter().any(same) {
            continue;
        }
        out.push(MatrixCommand {
            origin: format!("reproduction of attempt {}", attempt.number),
            tool: r.tool.clone(),
            display: r
                .command
                .clone()
                .unwrap_or_else(|| format!("{} {}", r.tool, r.arguments)),
            arguments,
            files: r
                .files
                .iter()
                .map(|(p, c)| (p.clone(), c.as_bytes().to_vec()))
                .collect(),
        });
    }
    if !baseline.tests.is_empty() && registry.get(TEST_TOOL).is_some() {
        let paths: Vec<&str> = baseline.tests.iter().map(|(p, _)| p.as_str()).collect();
        out.push(MatrixCommand {
            origin: "existing tests".into(),
            tool: TEST_TOOL.into(),
            display: format!("{TEST_TOOL} {}", paths.join(" ")),
            arguments: json!({ "paths": paths }),
            files: baseline.tests.clone(),
        });
    }
    out
}

/// The tool that runs the repository's tests (its configured or detected command).
const TEST_TOOL: &str = "run_tests";

/// The existing tests near what the attempts change, with their original content, read from a
/// clean checkout before any change is applied.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    pub tests: Vec<(String, Vec<u8>)>,
}

impl Baseline {
    pub async fn read(root: &Path, attempts: &[Attempt]) -> Self {
        let files = tracked_files(root).await;
        let changed: Vec<String> = attempts
            .iter()
            .flat_map(|a| diffs::changed_paths(&a.diff))
            .collect();
        let tests = related_tests(&changed, &files)
            .into_iter()
            .filter(|t| safe_relative(t))
            .filter_map(|t| std::fs::read(root.join(&t)).ok().map(|c| (t, c)))
            .collect();
        Self { tests }
    }
}

/// The files git tracks in the checkout at `root`.
async fn tracked_files(root: &Path) -> Vec<String> {
    let output = tokio::process::Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .output()
        .await;
    match output {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .split('\0')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Existing test files near the changed non-test files (named after the module, or in its
/// folder), and the existing test files the candidates changed, sorted, at most
/// [`MAX_RELATED_TESTS`].
pub fn related_tests(changed: &[String], baseline: &[String]) -> Vec<String> {
    let existing: BTreeSet<&str> = baseline.iter().map(String::as_str).collect();
    let mut found: BTreeSet<String> = changed
        .iter()
        .filter(|p| is_test_path(Path::new(p)) && existing.contains(p.as_str()))
        .filter(|p| !p.ends_with("conftest.py"))
        .cloned()
        .collect();
    for path in changed.iter().filter(|p| !is_test_path(Path::new(p))) {
        let path = Path::new(path);
        let (Some(stem), Some(ext)) = (module_name(path), path.extension()) else {
            continue;
        };
        let dir = path.parent().unwrap_or(Path::new(""));
        for test in baseline {
            let test_path = Path::new(test);
            if !is_test_path(test_path)
                || test_path.extension() != Some(ext)
                || test.ends_with("conftest.py")
            {
                continue;
            }
            let Some(test_stem) = test_path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let named = [
                format!("test_{stem}"),
                format!("{stem}_test"),
                format!("{stem}_tests"),
                format!("tests_{stem}"),
            ]
            .contains(&test_stem.to_string())
                || test_stem.starts_with(&format!("test_{stem}_"));
            let beside = test_path.parent() == Some(dir);
            if named || beside {
                found.insert(test.clone());
            }
        }
    }
    found.into_iter().take(MAX_RELATED_TESTS).collect()
}

/// The module a file is: its stem, or its folder's name for `__init__`, `mod`, `index`, `lib`.
fn module_name(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    if ["__init__", "mod", "index", "lib", "main"].contains(&stem) {
        return path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .map(str::to_string);
    }
    Some(stem.to_string())
}

/// A path inside the checkout: relative, no `..`.
pub fn safe_relative(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Runs every command on the candidate checked out at `root`, in a fresh sandbox over it.
pub async fn run_row(
    environment: &dyn Environment,
    registry: &ToolRegistry,
    root: &Path,
    commands: &[MatrixCommand],
) -> Vec<Cell> {
    if commands.is_empty() {
        return Vec::new();
    }
    let failed_all = |error: String| {
        commands
            .iter()
            .map(|_| Cell {
                passed: false,
                exit_code: None,
                error: Some(error.clone()),
                duration_ms: 0,
            })
            .collect()
    };
    let jail = match PathJail::new(root) {
        Ok(jail) => jail,
        Err(e) => return failed_all(format!("cannot use the checkout: {e}")),
    };
    let sandbox = match environment.sandbox(root).await {
        Ok(s) => s,
        Err(e) => return failed_all(e.to_string()),
    };
    let ctx = ToolContext::new(jail, Arc::clone(&sandbox.executor));
    let mut cells = Vec::new();
    for command in commands {
        cells.push(run_cell(registry, &ctx, root, command).await);
    }
    sandbox.stop().await;
    cells
}

async fn run_cell(
    registry: &ToolRegistry,
    ctx: &ToolContext,
    root: &Path,
    command: &MatrixCommand,
) -> Cell {
    let started = Instant::now();
    let saved = overlay(root, &command.files);
    let result = registry
        .call(ctx, &command.tool, command.arguments.clone())
        .await;
    restore(root, saved);
    let duration_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(output) => {
            // How the command ended, as the tool reported it (the same reading as the
            // reproduction tracker's).
            let run = output.data.and_then(|d| d.command());
            let exit_code = run.as_ref().and_then(|r| r.exit_code);
            let timed_out = run.as_ref().is_some_and(|r| r.timed_out);
            Cell {
                passed: exit_code == Some(0) && !timed_out,
                exit_code,
                error: None,
                duration_ms,
            }
        }
        Err(e) => Cell {
            passed: false,
            exit_code: None,
            error: Some(e.to_string()),
            duration_ms,
        },
    }
}

type Saved = Vec<(String, Option<Vec<u8>>)>;

/// Writes `files` into the checkout, returning what was there before.
fn overlay(root: &Path, files: &[(String, Vec<u8>)]) -> Saved {
    let mut saved = Vec::new();
    for (path, content) in files.iter().filter(|(p, _)| safe_relative(p)) {
        let full = root.join(path);
        saved.push((path.clone(), std::fs::read(&full).ok()));
        if let Some(dir) = full.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(&full, content);
    }
    saved
}

/// Puts back what [`overlay`] replaced.
fn restore(root: &Path, saved: Saved) {
    for (path, before) in saved {
        let full = root.join(&path);
        let _ = match before {
            Some(content) => std::fs::write(&full, content),
            None => std::fs::remove_file(&full),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_near_the_changed_module_are_found() {
        let baseline: Vec<String> = [
            "stats/core.py",
            "stats/__init__.py",
            "tests/test_core.py",
            "tests/test_other.py",
            "tests/conftest.py",
            "pkg/util.py",
            "pkg/test_helpers.py",
            "docs/core.md",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let changed = vec!["stats/core.py".to_string(), "pkg/util.py".to_string()];
        assert_eq!(
            related_tests(&changed, &baseline),
            ["pkg/test_helpers.py", "tests/test_core.py"]
        );
        // An edited existing test is run too (at its original version); a new one is not
        // "existing".
        let changed = vec!["tests/test_other.py".into(), "tests/test_new.py".into()];
        assert_eq!(related_tests(&changed, &baseline), ["tests/test_other.py"]);
        assert!(related_tests(&["README.md".into()], &baseline).is_empty());
    }

    #[test]
    fn only_paths_inside_the_checkout_are_written() {
        assert!(safe_relative("tests/x.py"));
        assert!(!safe_relative("../x.py"));
        assert!(!safe_relative("/etc/passwd"));
        assert!(!safe_relative("a/../../b"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.py"), "old").unwrap();
        let saved = overlay(
            dir.path(),
            &[
                ("a.py".into(), b"new".to_vec()),
                ("sub/b.py".into(), b"b".to_vec()),
                ("../escape.py".into(), b"x".to_vec()),
            ],
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.py")).unwrap(),
            "new"
        );
        assert!(!dir.path().join("../escape.py").exists());
        restore(dir.path(), saved);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.py")).unwrap(),
            "old"
        );
        assert!(!dir.path().join("sub/b.py").exists());
    }
}
