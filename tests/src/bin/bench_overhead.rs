//! Benchmark: the agent's own overhead per step and its peak memory, with the scripted model
//! server on loopback and a 50-step script. Prints figures; asserts nothing.
//!
//! `cargo build --release -p agent && cargo run --release -p agent-tests --bin bench-overhead [RUNS]`
//! (`AGENT_BIN=path/to/agent` measures another build of the agent, e.g. an older one.)

// A benchmark: printing its figures is its job.
#![allow(clippy::print_stdout)]

use std::process::Command;

use agent_tests::fixtures::{STATS_FILES, git_repo};
use agent_tests::{Reply, ScriptedServer};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

const STEPS: usize = 50;

fn script() -> Vec<Reply> {
    let files = [
        "stats/core.py",
        "tests/test_core.py",
        "README.md",
        "stats/__init__.py",
    ];
    let mut s: Vec<Reply> = (0..STEPS - 2)
        .map(|i| {
            Reply::tool(
                "view_file",
                json!({"path": files[i % files.len()], "start_line": 1 + i % 3}),
            )
        })
        .collect();
    // A change, so the submit is accepted (an unchanged repository sends it back once).
    s.push(Reply::tool(
        "create_file",
        json!({"path": "NOTES.md", "content": "benchmark\n"}),
    ));
    s.push(Reply::tool("submit", json!({"summary": "benchmark"})));
    s
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let runs: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5);
    let agent = agent_tests::fixtures::agent_binary()?;
    let mut per_run_median = Vec::new();
    let mut rss = Vec::new();
    let mut per_run_upper = Vec::new();
    for run in 0..runs {
        let repo = tempfile::tempdir()?;
        git_repo(repo.path(), STATS_FILES)?;
        let server = ScriptedServer::start(script())?;
        let traj = repo.path().join(".agent/bench.jsonl");
        // Python's getrusage(RUSAGE_CHILDREN) gives the child's exact peak RSS.
        let py = "import resource,subprocess,sys\nr=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)\nprint(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)";
        let out = Command::new("python3")
            .arg("-c")
            .arg(py)
            .arg(&agent)
            .args([
                "fix",
                "--issue-text",
                "benchmark",
                "--max-steps",
                "60",
                // The review turn is a model call outside the step loop; not what is measured.
                "--no-review",
                "--base-url",
                &server.base_url(),
            ])
            .arg("--trajectory")
            .arg(&traj)
            .current_dir(repo.path())
            .env_remove("OPENAI_API_KEY")
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut parts = text.split_whitespace();
        let code: i32 = parts.next().context("no exit code")?.parse()?;
        let max_rss_kb: f64 = parts.next().context("no rss")?.parse()?;
        if code != 0 {
            bail!("run {run}: agent exited with {code}");
        }
        let timings: Vec<Value> = std::fs::read_to_string(&traj)?
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["event"] == "step_timing")
            .collect();
        let mut overheads: Vec<f64> = timings
            .iter()
            .filter_map(|e| e["overhead_ms"].as_f64())
            .collect();
        // Upper bound: everything but tool execution, i.e. including request building, the
        // loopback HTTP round trip and the scripted server's own work.
        let mut non_tool: Vec<f64> = timings
            .iter()
            .filter_map(|e| Some(e["total_ms"].as_f64()? - e["tools_ms"].as_f64()?))
            .collect();
        if overheads.len() != STEPS {
            bail!("run {run}: expected {STEPS} steps, saw {}", overheads.len());
        }
        let m = median(&mut overheads);
        let upper = median(&mut non_tool);
        println!(
            "run {run}: median overhead {m:.3} ms/step (with the model HTTP round trip: {upper:.3} ms), peak RSS {:.1} MB",
            max_rss_kb / 1024.0
        );
        per_run_median.push(m);
        per_run_upper.push(upper);
        rss.push(max_rss_kb / 1024.0);
    }
    println!(
        "over {runs} runs of {STEPS} steps: median overhead {:.3} ms/step (target < 5; {:.3} ms including the loopback model round trip), median peak RSS {:.1} MB (target < 30)",
        median(&mut per_run_median),
        median(&mut per_run_upper),
        median(&mut rss)
    );
    Ok(())
}
