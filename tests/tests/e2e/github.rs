//! End-to-end: `agent fix --issue N --pr` and `agent github …` through the real binary, against
//! the fake GitHub API, a bare repository served over smart HTTP, and the scripted model.

#[path = "github/support.rs"]
mod support;
#[path = "github/trust.rs"]
mod trust;

use agent_tests::Reply;
use agent_tests::ScriptedServer;
use agent_tests::fake_github::FakeIssue;
use agent_tests::fixtures::{STATS_FIX, run_agent};
use git2::Repository;
use serde_json::json;
use std::path::Path;

use support::*;

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
        "### Reproduction",
        "failed at step 2 and passed at step 4, after the change",
        "### Review before submit",
        "test_mean_of_three",
        // Five steps and the review turn.
        "6000 prompt + 600 completion tokens",
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
            "redirects it to acme/other#3",
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
    // And a server error on reading the comments, retried once.
    s.fake.fail("GET", "/issues/7/comments", 502, &[], 1);
    let model = ScriptedServer::start(vec![
        Reply::tool(
            "create_file",
            json!({"path": "NOTES.md", "content": "read\n"}),
        ),
        Reply::tool("submit", json!({"summary": "a note"})),
    ])
    .unwrap();
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
    let comment_reads = s
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/issues/7/comments"))
        .count();
    assert_eq!(comment_reads, 2);

    // The first run left its change in the working tree; the next needs a clean one.
    std::fs::remove_file(s.repo.path().join("NOTES.md")).unwrap();

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
    let issue_reads = |s: &Setup| {
        s.fake
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with("/issues/7"))
            .count()
    };
    let reads_before = issue_reads(&s);
    let out = agent(&s, &model, &["--pr"]);
    assert_refused_up_front(
        &s,
        &model,
        &out,
        &["rate limit", "resets in", "--github-max-wait"],
    );
    // It gave up on the first answer instead of waiting for the reset and asking again.
    assert_eq!(
        issue_reads(&s),
        reads_before + 1,
        "it retried the limited request"
    );

    // A limit that keeps coming back fails after a bounded number of retries.
    s.fake
        .fail("GET", "/issues/7", 429, &[("retry-after", "1")], 10);
    let out = agent(&s, &model, &["--pr"]);
    assert_refused_up_front(&s, &model, &out, &["still limited after 3 retries"]);
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

#[test]
fn the_pull_request_goes_out_over_https() {
    let s = setup_https();
    assert!(s.fake.api_url().starts_with("https://"));
    // Without trusting the test CA, the certificate is refused.
    let api = s.fake.api_url();
    let out = run_agent(
        s.repo.path(),
        &[
            "fix",
            "--issue",
            "7",
            "--api-url",
            &api,
            "--base-url",
            "http://127.0.0.1:9/v1",
        ],
        &[("GITHUB_TOKEN", TOKEN), ("SSL_CERT_FILE", "/dev/null")],
    )
    .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("cannot reach the GitHub API") && stderr.contains("certificate"),
        "{stderr}"
    );
    let model = ScriptedServer::start(fixing_script(SUMMARY)).unwrap();
    let out = agent(&s, &model, &["--pr"]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "stderr: {stderr}");
    assert_eq!(s.fake.pulls(REPO).len(), 1);
    assert!(branch_in(&s.bare, BRANCH).is_some());
    let git_requests: Vec<_> = s
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/git/"))
        .collect();
    assert!(!git_requests[0].authorized, "{git_requests:?}");
    assert!(
        git_requests
            .iter()
            .any(|r| r.authorized && r.path.ends_with("git-receive-pack"))
    );
    for dir in [s.repo.path(), s.fake.git_root()] {
        assert!(files_containing(dir, TOKEN).is_empty());
    }
}

#[test]
fn a_fix_that_holds_a_secret_is_not_pushed() {
    let s = setup();
    let leaked = "AKIAZZZZZZZZZZZZZZZZ";
    let mut script = fixing_script(SUMMARY);
    script.insert(
        3,
        Reply::tool(
            "create_file",
            json!({"path": "stats/aws.py", "content": format!("KEY_ID = \"{leaked}\"\n")}),
        ),
    );
    let model = ScriptedServer::start(script).unwrap();
    let out = agent(&s, &model, &["--pr"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("stats/aws.py:1"), "{stderr}");
    assert!(
        !stdout.contains(leaked) && stdout.contains("[REDACTED]"),
        "{stdout}"
    );
    assert!(s.fake.pulls(REPO).is_empty());
    assert_eq!(branch_in(&s.bare, BRANCH), None, "nothing may be pushed");
    assert!(files_containing(&s.bare, leaked).is_empty());
    assert_checkout_untouched(&s);
}

#[test]
fn with_samples_the_chosen_attempt_becomes_the_pull_request_and_says_why() {
    use agent_tests::Scripts;
    use agent_tests::fixtures::STATS_BUG;
    let s = setup();
    let wrong = vec![
        Reply::tool(
            "str_replace",
            json!({"path": "stats/core.py", "old_str": STATS_BUG, "new_str": "    return total / (len(values) - 1)\n"}),
        ),
        Reply::tool("submit", json!({"summary": "changed the divisor"})),
    ];
    let model = ScriptedServer::start_scripts(Scripts {
        keyed: vec![
            ("attempt-1".into(), wrong),
            ("attempt-2".into(), fixing_script(SUMMARY)),
        ],
        ..Scripts::default()
    })
    .unwrap();
    let out = agent(
        &s,
        &model,
        &[
            "--pr",
            "--samples",
            "2",
            "--test-command",
            "python3 -m unittest",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(stderr.contains("opened pull request #8"), "{stderr}");
    assert!(stdout.contains(&format!("+{STATS_FIX}")), "{stdout}");
    let pulls = s.fake.pulls(REPO);
    assert_eq!(pulls.len(), 1);
    let body = &pulls[0].body;
    for needle in [
        "### Selection",
        "2 attempts were made; **attempt 2** was chosen (tests).",
        "(reproduction of attempt 2)",
        "(existing tests)",
        "attempt 2 passed the most checks (2 of 2); attempt 1 passed 0",
        SUMMARY,
        "Fixes #7",
    ] {
        assert!(
            body.contains(needle),
            "{needle:?} not in the PR body:\n{body}"
        );
    }
    let tip = branch_in(&s.bare, BRANCH).expect("branch pushed");
    let bare = Repository::open(&s.bare).unwrap();
    let tree = bare.find_commit(tip).unwrap().tree().unwrap();
    let blob = tree.get_path(Path::new("stats/core.py")).unwrap();
    let content = bare.find_blob(blob.id()).unwrap().content().to_vec();
    assert!(String::from_utf8(content).unwrap().contains(STATS_FIX));
    assert_checkout_untouched(&s);
}
