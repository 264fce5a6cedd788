//! Benchmark: what `--samples 3` selection and the review turn add per instance, with the
//! scripted model server (so model time is near zero and what is left is the agent's own work:
//! clones, sandboxes, the test matrix, the review call). Prints figures; asserts nothing.
//!
//! `cargo build --release -p agent && cargo run --release -p agent-tests --bin bench-select [RUNS] [docker|local]`

// A benchmark: printing its figures is its job.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use agent_tests::fixtures::{STATS_BUG, STATS_FILES, STATS_FIX, STATS_ISSUE, git_repo, run_agent};
use agent_tests::{Reply, ScriptedServer, Scripts};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

const REPRO: &str = "python3 -c 'from stats import mean; assert mean([1, 2, 3]) == 2'";

fn edit(new: &str) -> Reply {
    Reply::tool(
        "str_replace",
        json!({"path": "stats/core.py", "old_str": STATS_BUG, "new_str": new}),
    )
}

/// One attempt that reproduces, fixes and checks; `wrong` makes a wrong edit instead.
fn attempt(wrong: bool) -> Vec<Reply> {
    let new = if wrong {
        "    return total / (len(values) - 1)\n"
    } else {
        STATS_FIX
    };
    vec![
        Reply::tool("run", json!({"command": REPRO})),
        edit(new),
        Reply::tool("run", json!({"command": REPRO})),
        Reply::tool("submit", json!({"summary": "fixed the divisor"})),
    ]
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

struct Timed {
    wall_ms: f64,
    events: Vec<Value>,
}

fn fix(server: &ScriptedServer, sandbox: &str, extra: &[&str]) -> Result<Timed> {
    let repo = tempfile::tempdir()?;
    git_repo(repo.path(), STATS_FILES)?;
    let traj = repo.path().join(".agent/bench.jsonl");
    let base = server.base_url();
    let mut args = vec![
        "fix",
        "--issue-text",
        STATS_ISSUE,
        "--base-url",
        &base,
        "--sandbox",
        sandbox,
        "--python",
        "3.11",
        "--test-command",
        "python3 -m unittest",
        "--trajectory",
        traj.to_str().context("path")?,
    ];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let out = run_agent(repo.path(), &args, &[])?;
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    if !out.status.success() {
        bail!("agent failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let events = std::fs::read_to_string(&traj)?
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    Ok(Timed { wall_ms, events })
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let sandbox = args.next().unwrap_or_else(|| "docker".into());
    let (mut selection, mut total, mut attempts) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let server = ScriptedServer::start_scripts(Scripts {
            keyed: vec![
                ("attempt-1".into(), attempt(true)),
                ("attempt-2".into(), attempt(false)),
                ("attempt-3".into(), attempt(true)),
            ],
            ..Scripts::default()
        })?;
        let t = fix(&server, &sandbox, &["--samples", "3", "--no-review"])?;
        let record = t
            .events
            .iter()
            .find(|e| e["event"] == "selection")
            .context("no selection event")?;
        let select_ms = record["record"]["duration_ms"].as_f64().unwrap_or(0.0);
        let chosen = record["chosen"].clone();
        println!(
            "samples run {run}: {:.0} ms in all, selection {select_ms:.0} ms, the rest (clones, 3 attempts side by side) {:.0} ms; chose attempt {chosen}",
            t.wall_ms,
            t.wall_ms - select_ms
        );
        selection.push(select_ms);
        attempts.push(t.wall_ms - select_ms);
        total.push(t.wall_ms);
    }
    let (mut with_review, mut without) = (Vec::new(), Vec::new());
    for run in 0..runs {
        for review in [true, false] {
            let server = ScriptedServer::start(attempt(false))?;
            let extra: &[&str] = if review { &[] } else { &["--no-review"] };
            let t = fix(&server, &sandbox, extra)?;
            println!(
                "single run {run} {}: {:.0} ms",
                if review { "with review" } else { "--no-review" },
                t.wall_ms
            );
            if review {
                with_review.push(t.wall_ms);
            } else {
                without.push(t.wall_ms);
            }
        }
    }
    let (s, a, tot) = (
        median(&mut selection),
        median(&mut attempts),
        median(&mut total),
    );
    let (r, n) = (median(&mut with_review), median(&mut without));
    println!(
        "over {runs} runs ({sandbox} sandbox), per instance: --samples 3 takes {tot:.0} ms, of which selection {s:.0} ms ({:.0}% of the attempts' {a:.0} ms); one attempt takes {r:.0} ms with the review turn and {n:.0} ms with --no-review (review: {:+.0} ms)",
        100.0 * s / a,
        r - n
    );
    Ok(())
}
