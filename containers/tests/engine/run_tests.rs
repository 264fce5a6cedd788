use std::sync::Arc;

use agent_tools::testing::{RunTests, RunTestsArgs};
use agent_tools::{PathJail, ToolContext, TypedTool};

use crate::sandbox;

const CALC: &str = "def add(a, b):\n    return a - b\n";
const TESTS: &str = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n";

/// pytest in the Python image, through the sandbox: detected from pyproject.toml, parsed, and
/// compared with the previous run after the fix.
#[tokio::test]
async fn run_tests_in_the_sandbox_reports_and_compares() {
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(
        repo.path().join("pyproject.toml"),
        "[tool.pytest.ini_options]\n",
    )
    .unwrap();
    std::fs::write(repo.path().join("calc.py"), CALC).unwrap();
    std::fs::write(repo.path().join("test_calc.py"), TESTS).unwrap();
    let sandbox = Arc::new(sandbox(|c| c.workspace(repo.path())).await);
    let ctx = ToolContext::new(PathJail::new(repo.path()).unwrap(), sandbox.clone());
    let tool = RunTests::new();

    let first = tool.call(&ctx, RunTestsArgs::default()).await.unwrap();
    assert!(
        first.text.starts_with("$ python -m pytest -rA"),
        "{}",
        first.text
    );
    assert!(
        first.text.contains("pytest: 1 failed, 1 passed"),
        "{}",
        first.text
    );
    assert!(
        first
            .text
            .contains("FAILED test_calc.py::test_add - assert -1 == 5"),
        "{}",
        first.text
    );
    assert!(first.text.contains("at test_calc.py:5"), "{}", first.text);

    std::fs::write(repo.path().join("calc.py"), CALC.replace("a - b", "a + b")).unwrap();
    let second = tool.call(&ctx, RunTestsArgs::default()).await.unwrap();
    assert!(second.text.contains("pytest: 2 passed"), "{}", second.text);
    assert!(
        second
            .text
            .contains("newly passing (1): test_calc.py::test_add"),
        "{}",
        second.text
    );
    // No cache or bytecode was written into the repository.
    assert!(!repo.path().join(".pytest_cache").exists());
    assert!(!repo.path().join("__pycache__").exists());
    sandbox.remove().await.unwrap();
}
