//! The binary's command-line surface. (Also makes `cargo test` build the `agent` binary that the
//! end-to-end suites in `agent-tests` run.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_agent"))
}

#[test]
fn help_lists_the_subcommands() {
    let out = agent().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["fix", "replay", "tools"] {
        assert!(text.contains(sub), "{sub} missing from help:\n{text}");
    }
}

#[test]
fn fix_requires_an_issue_source() {
    let out = agent().args(["fix", "--repo", "."]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--issue-file") || err.contains("--issue-text"),
        "{err}"
    );
}

#[test]
fn tools_list_shows_each_tool_with_its_arguments() {
    let out = agent().args(["tools", "list"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("view_file --path [--end-line] [--start-line]"),
        "{text}"
    );
    assert!(text.contains("str_replace"), "{text}");
}

#[test]
fn tools_run_directly_from_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "one\ntwo\nthree\n").unwrap();
    let out = agent()
        .args(["tools", "view_file", "--repo"])
        .arg(dir.path())
        .args(["--path", "hello.txt", "--start-line", "2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("2\ttwo") && !text.contains("1\tone"),
        "{text}"
    );

    let out = agent()
        .args(["tools", "view_file", "--repo"])
        .arg(dir.path())
        .args(["--path", "../etc/passwd"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside the repository"));
}
