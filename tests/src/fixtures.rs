//! Fixture repositories (real git repositories in temp dirs) and running the real `agent` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result};
use git2::{Repository, Signature};

/// Creates a git repository in `dir` holding `files` in one commit.
pub fn git_repo(dir: &Path, files: &[(&str, &str)]) -> Result<()> {
    let repo = Repository::init(dir)?;
    for (path, content) in files {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&full, content)?;
    }
    let mut index = repo.index()?;
    index.add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let sig = Signature::now("Fixture", "fixture@example.com")?;
    repo.commit(Some("HEAD"), &sig, &sig, "initial commit", &tree, &[])?;
    Ok(())
}

/// The buggy line in [`STATS_FILES`] and its fix.
pub const STATS_BUG: &str = "    return total / (len(values) + 1)\n";
pub const STATS_FIX: &str = "    return total / len(values)\n";

/// A small Python project with a real bug: `mean` divides by one too many.
pub const STATS_FILES: &[(&str, &str)] = &[
    ("stats/__init__.py", "from .core import mean, median\n"),
    (
        "stats/core.py",
        "\"\"\"Basic descriptive statistics.\"\"\"\n\n\ndef mean(values):\n    \"\"\"Arithmetic mean of a non-empty sequence.\"\"\"\n    if not values:\n        raise ValueError(\"mean() of an empty sequence\")\n    total = sum(values)\n    return total / (len(values) + 1)\n\n\ndef median(values):\n    \"\"\"Middle value of a non-empty sequence.\"\"\"\n    ordered = sorted(values)\n    n = len(ordered)\n    if n == 0:\n        raise ValueError(\"median() of an empty sequence\")\n    mid = n // 2\n    if n % 2:\n        return ordered[mid]\n    return (ordered[mid - 1] + ordered[mid]) / 2\n",
    ),
    (
        "tests/test_core.py",
        "import unittest\n\nfrom stats import mean, median\n\n\nclass MeanTest(unittest.TestCase):\n    def test_mean_of_three(self):\n        self.assertEqual(mean([1, 2, 3]), 2)\n\n    def test_empty_raises(self):\n        with self.assertRaises(ValueError):\n            mean([])\n\n\nclass MedianTest(unittest.TestCase):\n    def test_odd(self):\n        self.assertEqual(median([3, 1, 2]), 2)\n\n    def test_even(self):\n        self.assertEqual(median([4, 1, 3, 2]), 2.5)\n\n\nif __name__ == \"__main__\":\n    unittest.main()\n",
    ),
    ("README.md", "# stats\n\nTiny statistics helpers.\n"),
    (".gitignore", "__pycache__/\n"),
];

pub const STATS_ISSUE: &str =
    "mean() returns the wrong value\n\n`stats.mean([1, 2, 3])` returns 1.5 instead of 2.\n";

/// The command that runs the stats fixture's own tests.
pub const STATS_TEST_COMMAND: &str = "python3 -m unittest discover -s tests 2>&1";

/// A fresh git repository holding [`STATS_FILES`], in a temp dir removed on drop.
pub fn stats_repo() -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    git_repo(dir.path(), STATS_FILES)?;
    Ok(dir)
}

/// Runs the fixture's own test suite; `true` when it passes.
pub fn stats_tests_pass(dir: &Path) -> Result<bool> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(STATS_TEST_COMMAND)
        .current_dir(dir)
        .output()?;
    Ok(out.status.success())
}

/// The `agent` binary built from this workspace (next to the test executable's directory).
pub fn agent_binary() -> Result<PathBuf> {
    if let Ok(p) = std::env::var("AGENT_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    // A test runs from target/<profile>/deps/, a benchmark binary from target/<profile>/.
    let candidates: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("agent"))
        .collect();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .with_context(|| {
            format!(
                "the agent binary is not in {:?}: build it first with `cargo build -p agent` (the README's test command does)",
                candidates
            )
        })
}

/// Runs `agent` with `args` in `cwd`, with a clean environment for model settings and a private
/// user config that selects `sandbox = "local"` (tests that want Docker pass `--sandbox docker`),
/// plus `env`.
pub fn run_agent(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Output> {
    let mut cmd = Command::new(agent_binary()?);
    cmd.args(args).current_dir(cwd);
    for var in [
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "AGENT_MODEL",
        "GITHUB_TOKEN",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    let user_config = tempfile::NamedTempFile::new()?;
    std::fs::write(user_config.path(), "sandbox = \"local\"\n")?;
    cmd.env("AGENT_CONFIG", user_config.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Ok(cmd.output()?)
}
