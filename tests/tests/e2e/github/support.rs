//! Shared setup for the GitHub end-to-end tests: the fake GitHub with a bare remote, a stats
//! checkout whose origin names it, the model scripts, and assertions on what a run left.

use std::path::{Path, PathBuf};
use std::process::Output;

use agent_tests::fake_github::{FakeComment, FakeGitHub, FakeIssue};
use agent_tests::fixtures::{
    STATS_BUG, STATS_FILES, STATS_FIX, STATS_TEST_COMMAND, git_repo, run_agent,
};
use agent_tests::{Reply, ScriptedServer};
use git2::Repository;
use serde_json::json;

/// Long enough to be redacted, distinctive enough to find anywhere.
pub const TOKEN: &str = "ghp_FAKEtoken0123456789abcdefSECRETvalue";
pub const REPO: &str = "acme/stats";
pub const BRANCH: &str = "agent/issue-7-mean-returns-the-wrong-value";
pub const SUMMARY: &str = "mean() divided by len+1; it now divides by len.";

pub struct Setup {
    pub fake: FakeGitHub,
    pub repo: tempfile::TempDir,
    pub bare: PathBuf,
    /// The branch the fixture checkout is on (git's default name for a new repository).
    pub base: String,
    pub head: git2::Oid,
}

pub fn setup() -> Setup {
    setup_on(FakeGitHub::start(TOKEN).unwrap())
}

/// The same, with the fake speaking HTTPS (its CA is trusted through `SSL_CERT_FILE`).
pub fn setup_https() -> Setup {
    setup_on(FakeGitHub::start_https(TOKEN).unwrap())
}

fn setup_on(fake: FakeGitHub) -> Setup {
    let bare = fake.add_repo(REPO).unwrap();
    fake.add_issue(
        REPO,
        FakeIssue {
            labels: vec!["bug".into(), "agent".into()],
            ..FakeIssue::new(
                7,
                "mean() returns the wrong value",
                "`stats.mean([1, 2, 3])` returns 1.5 instead of 2.",
            )
        },
    );
    // bob can write to the repository, so his comment is part of the task.
    fake.set_role(REPO, "bob", "write");
    fake.add_comment(REPO, 7, "bob", "Same here: mean([2, 4]) gives 2.");
    let repo = tempfile::tempdir().unwrap();
    git_repo(repo.path(), STATS_FILES).unwrap();
    let git = Repository::open(repo.path()).unwrap();
    git.remote("origin", "https://github.com/acme/stats.git")
        .unwrap();
    let head = git.head().unwrap();
    let base = head.shorthand().unwrap().to_string();
    let head = head.target().unwrap();
    // The remote starts with the base branch, as on GitHub.
    let mut remote = git.remote_anonymous(bare.to_str().unwrap()).unwrap();
    remote
        .push(&[format!("refs/heads/{base}:refs/heads/{base}")], None)
        .unwrap();
    Setup {
        fake,
        repo,
        bare,
        base,
        head,
    }
}

pub fn fixing_script(summary: &str) -> Vec<Reply> {
    vec![
        Reply::think_then_tool(
            "PLAN:\n1. Read stats/core.py\n2. Fix the divisor\n3. Run the tests",
            "view_file",
            json!({"path": "stats/core.py"}),
        ),
        Reply::tool("run_tests", json!({"command": STATS_TEST_COMMAND})),
        Reply::tool(
            "str_replace",
            json!({"path": "stats/core.py", "old_str": STATS_BUG, "new_str": STATS_FIX}),
        ),
        Reply::tool("run_tests", json!({"command": STATS_TEST_COMMAND})),
        Reply::tool("submit", json!({"summary": summary})),
    ]
}

pub fn agent(s: &Setup, model: &ScriptedServer, extra: &[&str]) -> Output {
    let api = s.fake.api_url();
    let push = s.fake.git_url(REPO);
    let base_url = model.base_url();
    let mut args = vec![
        "fix",
        "--issue",
        "7",
        "--api-url",
        &api,
        "--base-url",
        &base_url,
        "--model",
        "scripted",
    ];
    if extra.contains(&"--pr") {
        args.extend_from_slice(&["--push-url", &push]);
    }
    args.extend_from_slice(extra);
    let ca = s.fake.ca_file().map(|p| p.display().to_string());
    let mut env = vec![
        ("GITHUB_TOKEN", TOKEN),
        ("GITHUB_API_URL", ""),
        ("RUST_LOG", "debug"),
    ];
    if let Some(ca) = &ca {
        env.push(("SSL_CERT_FILE", ca));
    }
    run_agent(s.repo.path(), &args, &env).unwrap()
}

pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn core_py(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("stats/core.py")).unwrap()
}

pub fn branch_in(path: &Path, branch: &str) -> Option<git2::Oid> {
    Repository::open(path)
        .unwrap()
        .refname_to_id(&format!("refs/heads/{branch}"))
        .ok()
}

/// Every file under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
            {
                found.push(path);
            }
        }
    }
    found
}

/// The checkout is as it was: HEAD on the base commit, the bug still there, nothing dirty.
pub fn assert_checkout_untouched(s: &Setup) {
    let git = Repository::open(s.repo.path()).unwrap();
    assert_eq!(git.head().unwrap().target(), Some(s.head));
    assert_eq!(git.head().unwrap().shorthand().unwrap(), s.base);
    assert!(core_py(s.repo.path()).contains(STATS_BUG));
    let mut options = git2::StatusOptions::new();
    options.include_untracked(true).include_ignored(false);
    let dirty: Vec<String> = git
        .statuses(Some(&mut options))
        .unwrap()
        .iter()
        .filter_map(|e| e.path().ok().map(str::to_string))
        .collect();
    assert!(dirty.is_empty(), "dirty after the run: {dirty:?}");
}

/// Bad input that must fail before the model is asked anything, writing nothing anywhere.
pub fn assert_refused_up_front(s: &Setup, model: &ScriptedServer, out: &Output, expected: &[&str]) {
    let (_, stderr) = text(out);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    for needle in expected {
        assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    }
    assert!(model.requests().is_empty(), "the model was called");
    assert!(s.fake.writes().is_empty(), "{:?}", s.fake.writes());
    assert!(s.fake.pulls(REPO).is_empty());
    assert_eq!(branch_in(&s.bare, BRANCH), None);
    assert_eq!(branch_in(s.repo.path(), BRANCH), None);
}

pub fn github_command(s: &Setup, args: &[&str]) -> Output {
    let api = s.fake.api_url();
    let mut all = vec!["github"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--github-repo", REPO, "--api-url", &api]);
    run_agent(
        s.repo.path(),
        &all,
        &[("GITHUB_TOKEN", TOKEN), ("GITHUB_API_URL", "")],
    )
    .unwrap()
}

pub fn report_url(comment: &FakeComment) -> String {
    format!("#issuecomment-{}", comment.id)
}
