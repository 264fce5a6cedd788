//! `agent view` in a real browser: pages rendered from real trajectories (the real binary with
//! the scripted model server), loaded in headless Chromium, screenshotted, and checked through
//! the DOM after a probe script clicked what a user would click.

use std::path::{Path, PathBuf};

use agent_tests::browser::{Browser, element_text, with_probe};
use agent_tests::fixtures::{STATS_BUG, STATS_FIX, STATS_ISSUE, STATS_TEST_COMMAND, run_agent};
use agent_tests::{Reply, ScriptedServer};
use serde_json::{Value, json};

/// Where screenshots are kept for a person to look at.
fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("view-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `agent fix` on a fresh copy of the stats fixture with `script`; returns the trajectory.
fn run_fix(script: Vec<Reply>, extra: &[&str], traj: &Path) -> std::process::Output {
    let repo = agent_tests::fixtures::stats_repo().unwrap();
    let server = ScriptedServer::start(script).unwrap();
    let base = server.base_url();
    let mut args = vec![
        "fix",
        "--issue-text",
        STATS_ISSUE,
        "--base-url",
        &base,
        "--model",
        "scripted",
        "--trajectory",
        traj.to_str().unwrap(),
    ];
    args.extend(extra);
    run_agent(repo.path(), &args, &[]).unwrap()
}

fn fixing_script() -> Vec<Reply> {
    vec![
        Reply::think_then_tool(
            "The mean is off by one. PLAN:\n1. Read stats/core.py\n2. Reproduce\n3. Fix the divisor\n4. Re-run the tests",
            "view_file",
            json!({"path": "stats/core.py"}),
        ),
        Reply::think_then_tool(
            "A long listing, to see how the page folds it.",
            "run",
            json!({"command": "seq 1 60"}),
        ),
        Reply::tool("run_tests", json!({"command": STATS_TEST_COMMAND})),
        Reply::tool(
            "str_replace",
            json!({"path": "stats/core.py", "old_str": STATS_BUG, "new_str": STATS_FIX}),
        ),
        Reply::tool("run_tests", json!({"command": STATS_TEST_COMMAND})),
        Reply::tool(
            "submit",
            json!({"summary": "mean() divided by len+1; now by len."}),
        ),
    ]
}

fn view(args: &[&str]) -> PathBuf {
    let cwd = tempfile::tempdir().unwrap();
    let out = run_agent(cwd.path(), args, &[]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The page's path is the command's result (stdout).
    let page = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    assert!(page.is_file(), "{}", page.display());
    page
}

fn probe(browser: &Browser, page: &Path, name: &str, script: &str) -> (PathBuf, Value) {
    let probed = with_probe(page, name, script).unwrap();
    let dom = browser.dump_dom(&probed).unwrap();
    let text = element_text(&dom, "probe").unwrap_or_else(|| panic!("no probe result in {dom}"));
    (probed, serde_json::from_str(&text).unwrap())
}

const TRAJECTORY_PROBE: &str = r##"(function () {
  var r = {};
  r.sections = document.querySelectorAll("section.step").length;
  r.stepCount = document.getElementById("step-count").textContent;
  r.endReason = document.getElementById("end-reason").textContent;
  r.testRuns = document.querySelectorAll("#test-runs tbody tr").length;
  var d = Array.prototype.find.call(document.querySelectorAll("details.obs"), function (e) {
    return e.querySelector("summary").textContent.indexOf("61 lines") >= 0;
  });
  r.collapsedBefore = !!d && !d.open;
  r.visibleBefore = d ? d.querySelector("pre").checkVisibility() : null;
  if (d) {
    d.querySelector("summary").click();
    r.openAfter = d.open;
    r.visibleAfter = d.querySelector("pre").checkVisibility();
    r.expandedLines = d.querySelector("pre").textContent.split("\n").length;
    r.expandedHeight = d.querySelector("pre").getBoundingClientRect().height;
  }
  r.added = Array.prototype.map.call(document.querySelectorAll("#diff .add"), function (e) { return e.textContent; });
  r.removed = Array.prototype.map.call(document.querySelectorAll("#diff .del"), function (e) { return e.textContent; });
  r.addedBackground = getComputedStyle(document.querySelector("#diff .add")).backgroundColor;
  var s = document.getElementById("search");
  s.value = "str_replace";
  s.dispatchEvent(new Event("input"));
  r.searchShown = document.querySelectorAll("section.step:not(.hidden)").length;
  r.searchCount = document.getElementById("search-count").textContent;
  s.value = "";
  s.dispatchEvent(new Event("input"));
  r.external = document.querySelectorAll("[src], link[href]").length;
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(r);
  document.body.appendChild(out);
})();"##;

#[test]
fn a_trajectory_page_renders_and_behaves_in_a_real_browser() {
    let browser = Browser::find().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let traj = dir.path().join("run.jsonl");
    let out = run_fix(fixing_script(), &[], &traj);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = view(&["view", traj.to_str().unwrap()]);
    assert_eq!(
        page,
        dir.path().join("run.html"),
        "the default page sits beside the trajectory"
    );

    let shots = screenshot_dir();
    browser
        .screenshot(&page, &shots.join("trajectory.png"), (1280, 2200))
        .unwrap();
    // The final diff, with the steps folded away so that it is in the picture.
    let diff_only = with_probe(
        &page,
        "run.diff.html",
        "document.getElementById('steps').style.display = 'none';",
    )
    .unwrap();
    browser
        .screenshot(&diff_only, &shots.join("trajectory-diff.png"), (1280, 1100))
        .unwrap();
    let (probed, r) = probe(&browser, &page, "run.probed.html", TRAJECTORY_PROBE);
    browser
        .screenshot(
            &probed,
            &shots.join("trajectory-expanded.png"),
            (1280, 2200),
        )
        .unwrap();

    assert_eq!(r["sections"], 6, "{r}");
    assert_eq!(r["stepCount"], "6", "{r}");
    assert_eq!(r["endReason"], "submitted", "{r}");
    assert_eq!(r["testRuns"], 2, "{r}");
    // `seq 1 60` is long: folded at first, then opened by a click on its summary.
    assert_eq!(r["collapsedBefore"], true, "{r}");
    assert_eq!(r["visibleBefore"], false, "{r}");
    assert_eq!(r["openAfter"], true, "{r}");
    assert_eq!(r["visibleAfter"], true, "{r}");
    assert!(r["expandedLines"].as_u64().unwrap() >= 60, "{r}");
    assert!(r["expandedHeight"].as_f64().unwrap() > 300.0, "{r}");
    assert_eq!(
        r["added"],
        json!([format!("+{}", STATS_FIX.trim_end())]),
        "{r}"
    );
    assert_eq!(
        r["removed"],
        json!([format!("-{}", STATS_BUG.trim_end())]),
        "{r}"
    );
    assert_eq!(r["addedBackground"], "rgb(230, 255, 236)", "{r}");
    assert_eq!(r["searchShown"], 1, "{r}");
    assert_eq!(r["searchCount"], "1 of 6 steps", "{r}");
    assert_eq!(
        r["external"], 0,
        "the page loads nothing from elsewhere: {r}"
    );
}

/// A batch folder as `bench run` lays it out, from three real runs: one submitted, one out of
/// steps, one that submitted nothing; an evaluation run grades the first two.
fn batch_folder(root: &Path) {
    let trajectories = root.join("out/trajectories");
    std::fs::create_dir_all(&trajectories).unwrap();
    let runs: [(&str, Vec<Reply>, &[&str]); 3] = [
        ("mini__stats-1", fixing_script(), &[]),
        (
            "mini__stats-2",
            vec![
                Reply::tool("view_file", json!({"path": "stats/core.py"})),
                Reply::tool(
                    "str_replace",
                    json!({"path": "stats/core.py", "old_str": STATS_BUG, "new_str": "    return total / (len(values) + 2)\n"}),
                ),
                Reply::tool("run", json!({"command": "ls -a"})),
            ],
            &["--max-steps", "3"],
        ),
        (
            "mini__stats-3",
            // A submit without a change is sent back once; the second one ends the run.
            vec![
                Reply::tool("submit", json!({"summary": "nothing to do"})),
                Reply::tool("submit", json!({"summary": "nothing to do"})),
            ],
            &[],
        ),
    ];
    let mut predictions = String::new();
    for (id, script, extra) in runs {
        let traj = trajectories.join(format!("{id}.traj.json"));
        run_fix(script, extra, &traj);
        let end: Value = std::fs::read_to_string(&traj)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|e| e["event"] == "end")
            .unwrap();
        predictions.push_str(
            &json!({"instance_id": id, "model_name_or_path": "scripted", "model_patch": end["diff"]})
                .to_string(),
        );
        predictions.push('\n');
    }
    std::fs::write(root.join("out/predictions.jsonl"), predictions).unwrap();
    // The reports `bench eval --run-id graded` writes (SWE-bench's report.json format).
    for (id, resolved) in [("mini__stats-1", true), ("mini__stats-2", false)] {
        let dir = root.join(format!("logs/run_evaluation/graded/scripted/{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("report.json"),
            json!({id: {"patch_is_None": false, "patch_exists": true, "patch_successfully_applied": true, "resolved": resolved}}).to_string(),
        )
        .unwrap();
    }
}

const BATCH_PROBE: &str = r##"(function () {
  function ids() {
    return Array.prototype.map.call(document.querySelectorAll("#instances tbody tr"), function (r) {
      return r.cells[0].textContent.trim();
    });
  }
  var r = {};
  r.rows = document.querySelectorAll("#instances tbody tr").length;
  r.resolved = document.getElementById("total-resolved").textContent;
  r.statuses = Array.prototype.map.call(document.querySelectorAll("#instances tbody tr"), function (row) {
    return row.getAttribute("data-status");
  });
  r.links = Array.prototype.map.call(document.querySelectorAll("#instances tbody a"), function (a) {
    return a.getAttribute("href");
  });
  var steps = document.querySelectorAll("#instances th")[3];
  steps.click();
  r.ascending = ids();
  r.ascendingClass = steps.className;
  steps.click();
  r.descending = ids();
  var status = document.getElementById("status");
  status.value = "resolved";
  status.dispatchEvent(new Event("change"));
  r.filtered = document.querySelectorAll("#instances tbody tr:not(.hidden)").length;
  r.rowCount = document.getElementById("row-count").textContent;
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(r);
  document.body.appendChild(out);
})();"##;

#[test]
fn a_batch_page_sorts_filters_and_links_in_a_real_browser() {
    let browser = Browser::find().unwrap();
    let root = tempfile::tempdir().unwrap();
    batch_folder(root.path());
    let out_dir = root.path().join("out");
    let log_dir = root.path().to_str().unwrap().to_string();
    let page = view(&[
        "view",
        out_dir.to_str().unwrap(),
        "--run-id",
        "graded",
        "--log-dir",
        &log_dir,
    ]);
    assert_eq!(page, out_dir.join("view/index.html"));
    let shots = screenshot_dir();
    browser
        .screenshot(&page, &shots.join("batch.png"), (1280, 500))
        .unwrap();
    let (probed, r) = probe(&browser, &page, "index.probed.html", BATCH_PROBE);
    browser
        .screenshot(
            &probed,
            &shots.join("batch-sorted-filtered.png"),
            (1280, 500),
        )
        .unwrap();

    assert_eq!(r["rows"], 3, "{r}");
    assert_eq!(r["resolved"], "1", "{r}");
    assert_eq!(
        r["statuses"],
        json!(["resolved", "unresolved", "empty"]),
        "{r}"
    );
    // Steps: 2 (submitted nothing, twice) < 3 (out of steps) < 6 (the fix).
    assert_eq!(
        r["ascending"],
        json!(["mini__stats-3", "mini__stats-2", "mini__stats-1"]),
        "{r}"
    );
    assert_eq!(r["ascendingClass"], "num sorted-asc", "{r}");
    assert_eq!(
        r["descending"],
        json!(["mini__stats-1", "mini__stats-2", "mini__stats-3"]),
        "{r}"
    );
    assert_eq!(r["filtered"], 1, "{r}");
    assert_eq!(r["rowCount"], "1 of 3 rows", "{r}");
    for link in r["links"].as_array().unwrap() {
        let target = page.parent().unwrap().join(link.as_str().unwrap());
        assert!(target.is_file(), "{}", target.display());
    }
    assert_eq!(r["links"].as_array().unwrap().len(), 3, "{r}");
}

/// Runs `agent fix` with the fixing script in a pseudo-terminal (`script`), so that stdout and
/// stderr are a TTY as for a person at a terminal; returns what the terminal received.
fn fix_in_a_terminal(env: &[(&str, &str)], extra: &str) -> String {
    let repo = agent_tests::fixtures::stats_repo().unwrap();
    let server = ScriptedServer::start(fixing_script()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let issue = dir.path().join("issue.md");
    std::fs::write(&issue, STATS_ISSUE).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "sandbox = \"local\"\n").unwrap();
    let agent = agent_tests::fixtures::agent_binary().unwrap();
    let command = format!(
        "'{}' fix --issue-file '{}' --base-url '{}' --model scripted --trajectory '{}' {extra}",
        agent.display(),
        issue.display(),
        server.base_url(),
        dir.path().join("t.jsonl").display()
    );
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-q", "-e", "-c", &command, "/dev/null"])
        .current_dir(repo.path())
        .env("AGENT_CONFIG", &config)
        .env_remove("NO_COLOR");
    for var in [
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "AGENT_MODEL",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    text
}

#[test]
fn the_terminal_gets_a_coloured_diff_and_a_progress_line_but_pipes_and_no_color_do_not() {
    let added = format!("+{}", STATS_FIX.trim_end());
    let tty = fix_in_a_terminal(&[], "");
    assert!(
        tty.contains(&format!("\u{1b}[32m{added}\u{1b}[0m")),
        "the added line is green on a terminal: {tty:?}"
    );
    assert!(tty.contains("step 1/50 · last tool"), "{tty:?}");

    let no_color = fix_in_a_terminal(&[("NO_COLOR", "1")], "");
    assert!(no_color.contains(&added), "{no_color:?}");
    assert!(!no_color.contains("\u{1b}[32m"), "{no_color:?}");

    // Streaming: the model's text reaches the progress line as it arrives.
    let streamed = fix_in_a_terminal(&[], "--stream");
    assert!(
        streamed.contains("· model: The mean is off"),
        "{streamed:?}"
    );
    assert!(!tty.contains("· model: "), "{tty:?}");

    // Piped: a plain patch on stdout, and no progress line on stderr.
    let repo = agent_tests::fixtures::stats_repo().unwrap();
    let server = ScriptedServer::start(fixing_script()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let traj = dir.path().join("t.jsonl");
    let base = server.base_url();
    let out = run_agent(
        repo.path(),
        &[
            "fix",
            "--issue-text",
            STATS_ISSUE,
            "--base-url",
            &base,
            "--model",
            "scripted",
            "--trajectory",
            traj.to_str().unwrap(),
        ],
        &[],
    )
    .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stdout.contains(&added), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "{stdout:?}");
    assert!(!stderr.contains("last tool"), "{stderr}");
}
