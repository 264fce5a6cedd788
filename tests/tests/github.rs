//! End-to-end: `agent fix --issue N --pr` and `agent github …` through the real binary, against
//! the fake GitHub API, a bare repository served over smart HTTP, and the scripted model.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Output;

use agent_tests::fake_github::{FakeGitHub, FakeIssue};
use agent_tests::fixtures::{
    STATS_BUG, STATS_FILES, STATS_FIX, STATS_TEST_COMMAND, git_repo, run_agent,
};
use agent_tests::{Reply, ScriptedServer};
use git2::Repository;
use serde_json::json;

/// Long enough to be redacted, distinctive enough to find anywhere.
const TOKEN: &str = "ghp_FAKEtoken0123456789abcdefSECRETvalue";
const REPO: &str = "acme/stats";
const BRANCH: &str = "agent/issue-7-mean-returns-the-wrong-value";
const SUMMARY: &str = "mean() divided by len+1; it now divides by len.";

struct Setup {
    fake: FakeGitHub,
    repo: tempfile::TempDir,
    bare: PathBuf,
    /// The branch the fixture checkout is on (git's default name for a new repository).
    base: String,
    head: git2::Oid,
}

fn setup() -> Setup {
    let fake = FakeGitHub::start(TOKEN).unwrap();
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

fn fixing_script(summary: &str) -> Vec<Reply> {
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

fn agent(s: &Setup, model: &ScriptedServer, extra: &[&str]) -> Output {
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
    run_agent(
        s.repo.path(),
        &args,
        &[
            ("GITHUB_TOKEN", TOKEN),
            ("GITHUB_API_URL", ""),
            ("RUST_LOG", "debug"),
        ],
    )
    .unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn core_py(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("stats/core.py")).unwrap()
}

fn branch_in(path: &Path, branch: &str) -> Option<git2::Oid> {
    Repository::open(path)
        .unwrap()
        .refname_to_id(&format!("refs/heads/{branch}"))
        .ok()
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
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
fn assert_checkout_untouched(s: &Setup) {
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

#[test]
fn a_fixed_issue_becomes_a_pull_request_and_a_rerun_updates_it() {
    let s = setup();
    let model = ScriptedServer::start(fixing_script(SUMMARY)).unwrap();
    let out = agent(&s, &model, &["--pr", "--progress-comment"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(stderr.contains("opened pull request #8"), "{stderr}");
    assert!(
        stdout.contains(&format!("+{STATS_FIX}")),
        "the diff is still printed: {stdout}"
    );

    // The model got the issue: title, body, labels, and the comment with its author.
    let first = model.requests()[0]["messages"].to_string();
    for needle in [
        "mean() returns the wrong value",
        "returns 1.5 instead of 2",
        "Labels: bug, agent",
        "@bob wrote",
        "mean([2, 4]) gives 2",
    ] {
        assert!(first.contains(needle), "{needle} not in the task: {first}");
    }

    // The branch on the remote: one commit on the base, holding the fix, explaining it.
    let remote_tip = branch_in(&s.bare, BRANCH).expect("branch pushed");
    let bare = Repository::open(&s.bare).unwrap();
    let commit = bare.find_commit(remote_tip).unwrap();
    assert_eq!(commit.parent_id(0).unwrap(), s.head);
    let message = commit.message().unwrap();
    assert!(
        message.starts_with("Fix #7: mean() returns the wrong value"),
        "{message}"
    );
    assert!(
        message.contains(SUMMARY) && message.contains("Fixes #7"),
        "{message}"
    );
    let blob = commit
        .tree()
        .unwrap()
        .get_path(Path::new("stats/core.py"))
        .unwrap();
    let content = bare.find_blob(blob.id()).unwrap().content().to_vec();
    assert!(String::from_utf8(content).unwrap().contains(STATS_FIX));
    assert_eq!(
        branch_in(s.repo.path(), BRANCH),
        Some(remote_tip),
        "local branch too"
    );

    // The pull request.
    let pulls = s.fake.pulls(REPO);
    assert_eq!(pulls.len(), 1);
    let pr = &pulls[0];
    assert_eq!(
        (pr.head.as_str(), pr.base.as_str()),
        (BRANCH, s.base.as_str())
    );
    assert!(pr.title.starts_with("Fix #7:"), "{}", pr.title);
    for needle in [
        SUMMARY,
        "1. Read stats/core.py",
        "### Tests",
        "(before)",
        "(after)",
        "Failing before, not after:",
        "test_mean_of_three",
        "5000 prompt + 500 completion tokens",
        "`stats/core.py`",
        "Fixes #7",
    ] {
        assert!(
            pr.body.contains(needle),
            "{needle:?} not in the PR body:\n{}",
            pr.body
        );
    }

    // The checkout is left as it was; the change lives only on the branch.
    assert_checkout_untouched(&s);

    // One progress comment, finished with the pull request.
    let comments = s.fake.comments(REPO, 7);
    let progress: Vec<_> = comments
        .iter()
        .filter(|c| c.body.contains("agent:progress"))
        .collect();
    assert_eq!(progress.len(), 1, "{comments:?}");
    assert!(
        progress[0].body.contains("Opened pull request #8"),
        "{}",
        progress[0].body
    );

    // The token went to the API as a header and to git only through the credential callback:
    // git's first request is refused for lack of it, the next ones carry it.
    let requests = s.fake.requests();
    assert!(
        requests
            .iter()
            .filter(|r| !r.path.starts_with("/git/"))
            .all(|r| r.authorized)
    );
    let git_requests: Vec<_> = requests
        .iter()
        .filter(|r| r.path.starts_with("/git/"))
        .collect();
    assert!(!git_requests[0].authorized, "{git_requests:?}");
    assert!(
        git_requests
            .iter()
            .any(|r| r.authorized && r.path.ends_with("git-receive-pack"))
    );
    assert!(
        requests
            .iter()
            .all(|r| !r.path.contains(TOKEN) && !r.query.contains(TOKEN))
    );

    // A second run updates the same pull request instead of opening another.
    let second = "Second attempt: divide by len, with the same tests passing.";
    let model2 = ScriptedServer::start(fixing_script(second)).unwrap();
    let out = agent(&s, &model2, &["--pr", "--progress-comment"]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(stderr.contains("updated pull request #8"), "{stderr}");
    let pulls = s.fake.pulls(REPO);
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    assert!(pulls[0].body.contains(second) && !pulls[0].body.contains(SUMMARY));
    let new_tip = branch_in(&s.bare, BRANCH).unwrap();
    assert_ne!(new_tip, remote_tip, "the branch was force-pushed");
    assert_eq!(
        bare.find_commit(new_tip).unwrap().parent_id(0).unwrap(),
        s.head
    );
    let progress: Vec<_> = s
        .fake
        .comments(REPO, 7)
        .into_iter()
        .filter(|c| c.body.contains("agent:progress"))
        .collect();
    assert_eq!(progress.len(), 1);
    assert!(progress[0].body.contains("Updated pull request #8"));
    assert_checkout_untouched(&s);

    // No file written by either run holds the token: the checkout with .git and the
    // trajectories in .agent/, and the remote. Nor does the output, even at debug log level.
    for dir in [s.repo.path(), s.fake.git_root()] {
        let leaks = files_containing(dir, TOKEN);
        assert!(leaks.is_empty(), "token written to {leaks:?}");
    }
    assert!(
        s.repo
            .path()
            .join(".agent/trajectories")
            .read_dir()
            .unwrap()
            .count()
            >= 2
    );
    assert!(!stderr.contains(TOKEN) && !stdout.contains(TOKEN));
}

#[test]
fn a_run_that_runs_out_of_steps_reports_on_the_issue_and_opens_nothing() {
    let s = setup();
    let model = ScriptedServer::start(fixing_script(SUMMARY)).unwrap();
    let out = agent(&s, &model, &["--pr", "--max-steps", "3"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
    assert!(s.fake.pulls(REPO).is_empty());
    assert_eq!(branch_in(&s.bare, BRANCH), None);
    assert_eq!(branch_in(s.repo.path(), BRANCH), None);
    let comments = s.fake.comments(REPO, 7);
    let report = comments
        .iter()
        .find(|c| c.body.contains("agent:report"))
        .expect("a report");
    for needle in [
        "ran out of steps",
        "1. Read stats/core.py",
        "`view_file` `stats/core.py`",
        "`str_replace` `stats/core.py`",
        "`run_tests`",
        "Still failing in the last run",
        "The unfinished change",
        "Fixes #7",
    ] {
        let expected = needle != "Fixes #7";
        assert_eq!(
            report.body.contains(needle),
            expected,
            "{needle:?} in\n{}",
            report.body
        );
    }
    // Its edit was undone in the checkout (the report keeps it).
    assert_checkout_untouched(&s);
}

#[test]
fn a_failing_model_is_reported_on_the_issue() {
    let s = setup();
    // The script is empty: the endpoint answers 400 to the first request.
    let model = ScriptedServer::start(vec![]).unwrap();
    let out = agent(&s, &model, &["--pr", "--progress-comment"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    let comments = s.fake.comments(REPO, 7);
    let report = comments
        .iter()
        .find(|c| c.body.contains("agent:report"))
        .expect("a report");
    assert!(
        report.body.contains("the model endpoint failed") && report.body.contains("model_error"),
        "{}",
        report.body
    );
    let progress = comments
        .iter()
        .find(|c| c.body.contains("agent:progress"))
        .expect("progress");
    assert!(
        progress.body.contains("stopped without a fix")
            && progress.body.contains(&report_url(report)),
        "{}",
        progress.body
    );
    assert!(s.fake.pulls(REPO).is_empty());
    assert_eq!(branch_in(&s.bare, BRANCH), None);
    assert_checkout_untouched(&s);
}

fn report_url(comment: &agent_tests::fake_github::FakeComment) -> String {
    format!("#issuecomment-{}", comment.id)
}

#[test]
fn an_ambiguous_issue_gets_questions_and_no_pull_request() {
    let s = setup();
    let questions = "1. Should mean([]) return 0 or raise?\n2. Is integer division wanted?";
    let model = ScriptedServer::start(vec![Reply::tool(
        "ask_clarification",
        json!({"questions": questions}),
    )])
    .unwrap();
    let out = agent(&s, &model, &["--pr"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "stderr: {stderr}");
    let comments = s.fake.comments(REPO, 7);
    let asked = comments
        .iter()
        .find(|c| c.body.contains("agent:questions"))
        .expect("questions");
    assert!(
        asked.body.contains(questions) && asked.body.contains("@alice"),
        "{}",
        asked.body
    );
    assert!(s.fake.pulls(REPO).is_empty());
    assert_eq!(branch_in(&s.bare, BRANCH), None);
}

#[test]
fn a_rejected_push_leaves_nothing_behind() {
    let s = setup();
    let hook = s.bare.join("hooks/pre-receive");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'policy: agent branches are not allowed here' >&2\nexit 1\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let model = ScriptedServer::start(fixing_script(SUMMARY)).unwrap();
    let out = agent(&s, &model, &["--pr"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("rejected") && stderr.contains("pre-receive hook declined"),
        "{stderr}"
    );
    assert!(
        stderr.contains("agent branches are not allowed"),
        "the server's reason: {stderr}"
    );
    assert!(
        stdout.contains(&format!("+{STATS_FIX}")),
        "the diff is not lost: {stdout}"
    );
    assert!(s.fake.pulls(REPO).is_empty());
    assert_eq!(branch_in(&s.bare, BRANCH), None);
    assert_eq!(
        branch_in(s.repo.path(), BRANCH),
        None,
        "the local branch was undone"
    );
    assert_checkout_untouched(&s);
}

#[test]
fn a_refused_pull_request_deletes_the_pushed_branch() {
    let s = setup();
    s.fake.fail("POST", "/pulls", 403, &[], 1);
    let model = ScriptedServer::start(fixing_script(SUMMARY)).unwrap();
    let out = agent(&s, &model, &["--pr"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("no permission to open a pull request"),
        "{stderr}"
    );
    assert!(s.fake.pulls(REPO).is_empty());
    assert_eq!(
        branch_in(&s.bare, BRANCH),
        None,
        "the pushed branch was deleted again"
    );
    assert_eq!(branch_in(s.repo.path(), BRANCH), None);
    assert_checkout_untouched(&s);
}

/// Bad input that must fail before the model is asked anything, writing nothing anywhere.
fn assert_refused_up_front(s: &Setup, model: &ScriptedServer, out: &Output, expected: &[&str]) {
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

#[test]
fn bad_issues_are_refused_before_the_model_runs() {
    let s = setup();
    s.fake.add_repo("acme/other").unwrap();
    s.fake
        .add_issue("acme/other", FakeIssue::new(3, "moved here", "text"));
    s.fake.add_issue(
        REPO,
        FakeIssue {
            pull_request: true,
            ..FakeIssue::new(8, "a PR", "")
        },
    );
    s.fake.add_issue(
        REPO,
        FakeIssue {
            transferred_to: Some(("acme/other".into(), 3)),
            ..FakeIssue::new(9, "moved", "")
        },
    );
    let model = ScriptedServer::start(vec![]).unwrap();
    let run = |n: &str| {
        let api = s.fake.api_url();
        let push = s.fake.git_url(REPO);
        let base_url = model.base_url();
        run_agent(
            s.repo.path(),
            &[
                "fix",
                "--issue",
                n,
                "--pr",
                "--api-url",
                &api,
                "--push-url",
                &push,
                "--base-url",
                &base_url,
            ],
            &[("GITHUB_TOKEN", TOKEN), ("GITHUB_API_URL", "")],
        )
        .unwrap()
    };
    assert_refused_up_front(
        &s,
        &model,
        &run("99"),
        &["issue #99 does not exist in acme/stats"],
    );
    assert_refused_up_front(
        &s,
        &model,
        &run("8"),
        &["#8 in acme/stats is a pull request"],
    );
    assert_refused_up_front(
        &s,
        &model,
        &run("9"),
        &[
            "transferred to acme/other#3",
            "--github-repo acme/other --issue 3",
        ],
    );
}

#[test]
fn a_dirty_tree_or_a_token_without_push_is_refused_before_the_model_runs() {
    let s = setup();
    let model = ScriptedServer::start(vec![]).unwrap();
    std::fs::write(s.repo.path().join("notes.txt"), "mine\n").unwrap();
    let out = agent(&s, &model, &["--pr"]);
    assert_refused_up_front(&s, &model, &out, &["uncommitted changes", "notes.txt"]);
    assert!(
        s.fake.requests().is_empty(),
        "checked before calling GitHub"
    );
    std::fs::remove_file(s.repo.path().join("notes.txt")).unwrap();

    s.fake.set_token_can_push(REPO, false);
    let out = agent(&s, &model, &["--pr"]);
    assert_refused_up_front(
        &s,
        &model,
        &out,
        &["no permission to push a branch on acme/stats"],
    );

    let base_url = model.base_url();
    let out = run_agent(
        s.repo.path(),
        &["fix", "--issue", "7", "--pr", "--base-url", &base_url],
        &[],
    )
    .unwrap();
    assert_refused_up_front(&s, &model, &out, &["GITHUB_TOKEN is not set"]);
}

#[test]
fn rate_limits_are_waited_out_within_a_bound_then_fail_clearly() {
    let s = setup();
    // Two 429s with Retry-After: 1, then the answer.
    s.fake
        .fail("GET", "/issues/7", 429, &[("retry-after", "1")], 2);
    let model =
        ScriptedServer::start(vec![Reply::tool("submit", json!({"summary": "nothing"}))]).unwrap();
    let out = agent(&s, &model, &[]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "stderr: {stderr}");
    let reads = s
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/issues/7"))
        .count();
    assert_eq!(reads, 3);

    // A limit that resets in an hour is not waited for.
    let reset = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600)
        .to_string();
    s.fake.fail(
        "GET",
        "/issues/7",
        403,
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ],
        1,
    );
    let model = ScriptedServer::start(vec![]).unwrap();
    let started = std::time::Instant::now();
    let out = agent(&s, &model, &["--pr"]);
    assert_refused_up_front(
        &s,
        &model,
        &out,
        &["rate limit", "resets in", "--github-max-wait"],
    );
    assert!(
        started.elapsed().as_secs() < 30,
        "it did not wait for the reset"
    );

    // A limit that keeps coming back fails after a bounded number of retries.
    s.fake
        .fail("GET", "/issues/7", 429, &[("retry-after", "1")], 10);
    let out = agent(&s, &model, &["--pr"]);
    assert_refused_up_front(&s, &model, &out, &["still limited after 3 retries"]);
}

fn github_command(s: &Setup, args: &[&str]) -> Output {
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

#[test]
fn only_users_with_write_access_may_start_the_bot() {
    let s = setup();
    for (user, role) in [
        ("ada", "admin"),
        ("max", "maintain"),
        ("wes", "write"),
        ("tia", "triage"),
        ("rea", "read"),
    ] {
        s.fake.set_role(REPO, user, role);
    }
    for user in ["ada", "max", "wes"] {
        let out = github_command(&s, &["check-permission", "--user", user]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{user}: {stderr}");
        assert!(stdout.contains("allowed=true"), "{stdout}");
    }
    for (user, why) in [
        ("tia", "read (role triage)"),
        ("rea", "read"),
        ("outsider", "not a collaborator"),
    ] {
        let out = github_command(&s, &["check-permission", "--user", user]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{user}: {stderr}");
        assert!(stdout.contains("allowed=false"), "{stdout}");
        assert!(
            stderr.contains(why) && stderr.contains("write access"),
            "{stderr}"
        );
    }
    assert!(s.fake.writes().is_empty());
}

#[test]
fn the_progress_comment_is_created_once_then_edited() {
    let s = setup();
    let out = github_command(&s, &["progress", "--issue", "7", "--state", "started"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let fallback = [
        "progress",
        "--issue",
        "7",
        "--state",
        "failed",
        "--if-unfinished",
        "--message",
    ];
    let out = github_command(&s, &[&fallback[..], &["The build broke."]].concat());
    assert!(out.status.success(), "{}", text(&out).1);
    // A final comment is not overwritten by the crash fallback.
    let out = github_command(&s, &[&fallback[..], &["Overwritten!"]].concat());
    assert!(out.status.success(), "{}", text(&out).1);
    let progress: Vec<_> = s
        .fake
        .comments(REPO, 7)
        .into_iter()
        .filter(|c| c.body.contains("agent:progress"))
        .collect();
    assert_eq!(progress.len(), 1);
    let body = &progress[0].body;
    assert!(
        body.contains("stopped without a fix") && body.contains("The build broke."),
        "{body}"
    );
    assert!(!body.contains("Overwritten!"), "{body}");
    let methods: Vec<String> = s.fake.writes().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["POST", "PATCH"]);
}

#[test]
fn an_enterprise_origin_gives_the_repository_api_and_push_url() {
    let s = setup();
    // origin on the fake's host: the API root (…/api/v3/) and the push URL come from it.
    let git = Repository::open(s.repo.path()).unwrap();
    git.remote_set_url("origin", &s.fake.git_url(REPO)).unwrap();
    let model = ScriptedServer::start(fixing_script(SUMMARY)).unwrap();
    let base_url = model.base_url();
    let out = run_agent(
        s.repo.path(),
        &[
            "fix",
            "--issue",
            "7",
            "--pr",
            "--base-url",
            &base_url,
            "--model",
            "scripted",
        ],
        &[("GITHUB_TOKEN", TOKEN), ("GITHUB_API_URL", "")],
    )
    .unwrap();
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "stderr: {stderr}");
    assert_eq!(s.fake.pulls(REPO).len(), 1);
    assert!(branch_in(&s.bare, BRANCH).is_some());
    let config = std::fs::read_to_string(s.repo.path().join(".git/config")).unwrap();
    assert!(!config.contains(TOKEN), "{config}");
}
