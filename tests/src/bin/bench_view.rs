//! Benchmark: `agent view` (the real binary) on trajectories of 50 and 5,000 steps (the latter
//! about 50 MB) and on a 500-row batch folder, plus the time headless Chromium takes to load the
//! largest page. Prints figures (median of RUNS); asserts nothing.
//!
//! `cargo build --release -p agent && cargo run --release -p agent-tests --bin bench-view [RUNS]`

// A benchmark: printing its figures is its job.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use agent::model::{Message, Usage};
use agent::trajectory::{Event, TrajectoryWriter};
use agent_tests::browser::Browser;
use agent_tests::fixtures::agent_binary;
use anyhow::{Context, Result, bail};
use serde_json::json;

/// Writes a synthetic trajectory of `steps` steps whose observations are `obs_bytes` long,
/// through the agent's own writer (the format `agent fix` writes).
fn write_trajectory(path: &Path, steps: u32, obs_bytes: usize) -> Result<()> {
    let mut w = TrajectoryWriter::create(
        path,
        std::sync::Arc::new(agent::redact::Redactor::new(Vec::new())),
    )?;
    w.write(&Event::Start {
        format_version: 1,
        model: "bench".into(),
        base_url: "http://127.0.0.1/v1".into(),
        repo: "/repo".into(),
        task: "mean() returns the wrong value".into(),
        tool_mode: "native".into(),
        executor: "local".into(),
        tools: Vec::new(),
        unix_time: 0,
    })?;
    let line = "    a line of a file the model looked at, as view_file prints it\n";
    let observation: String = line.repeat(obs_bytes / line.len() + 1);
    for step in 1..=steps {
        w.write(&Event::ModelRequest {
            step,
            new_messages: vec![Message::user(format!("observation of step {}", step - 1))],
            message_count: step as usize * 2,
        })?;
        w.write(&Event::ModelResponse {
            step,
            message: Message::assistant(format!(
                "Step {step}: reading the next part of the code before changing it."
            )),
            usage: Usage {
                prompt_tokens: 1000 + u64::from(step),
                completion_tokens: 80,
            },
            cost_usd: Some(0.001),
            latency_ms: 900,
            attempts: 1,
            finish_reason: Some("tool_calls".into()),
        })?;
        let call_id = format!("call_{step}");
        w.write(&Event::ToolCall {
            step,
            call_id: call_id.clone(),
            name: "view_file".into(),
            arguments: json!({"path": format!("src/module_{}.py", step % 40)}).to_string(),
        })?;
        w.write(&Event::Observation {
            step,
            call_id: call_id.clone(),
            ok: true,
            text: observation.clone(),
            duration_ms: 3,
            changed_files: Vec::new(),
        })?;
        if step % 50 == 0 {
            w.write(&Event::ToolData {
                step,
                call_id,
                tool: "run_tests".into(),
                data: serde_json::from_value(json!({"command": "pytest -q", "exit_code": 1, "timed_out": false, "duration_ms": 900,
                    "report": {"framework": "pytest", "counts": {"passed": 40, "failed": 2, "errors": 0, "skipped": 0, "xfailed": 0, "xpassed": 0}, "failures": [], "passed": []},
                    "comparison": {"newly_passing": ["t::a"], "newly_failing": [], "still_failing": ["t::b", "t::c"]}}))?,
            })?;
        }
        w.write(&Event::StepTiming {
            step,
            total_ms: 910.0,
            model_ms: 900.0,
            tools_ms: 3.0,
            overhead_ms: 7.0,
        })?;
    }
    w.write(&Event::End {
        exit_reason: "submitted".into(),
        detail: None,
        summary: Some("benchmark".into()),
        plan: None,
        steps,
        usage: Usage {
            prompt_tokens: 1000 * u64::from(steps),
            completion_tokens: 80 * u64::from(steps),
        },
        cost_usd: Some(0.001 * f64::from(steps)),
        duration_ms: 910 * u64::from(steps),
        diff: "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-old\n+new\n".into(),
    })?;
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs `agent view ARGS` `runs` times; (median seconds, bytes written in all).
fn time_view(args: &[&str], runs: usize, written: &dyn Fn() -> u64) -> Result<(f64, u64)> {
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let out = Command::new(agent_binary()?)
            .arg("view")
            .args(args)
            .output()?;
        times.push(started.elapsed().as_secs_f64());
        if !out.status.success() {
            bail!(
                "agent view failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok((median(&mut times), written()))
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        dir_bytes(&p)
                    } else {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn main() -> Result<()> {
    let runs: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(3);
    let dir = tempfile::tempdir()?;
    println!(
        "agent view, median of {runs} runs ({})",
        agent_binary()?.display()
    );
    for (name, steps, obs) in [("50 steps", 50, 2_000), ("5000 steps", 5_000, 10_000)] {
        let traj = dir.path().join(format!("t{steps}.jsonl"));
        write_trajectory(&traj, steps, obs)?;
        let input = std::fs::metadata(&traj)?.len();
        let page = dir.path().join(format!("t{steps}.html"));
        let (secs, bytes) = time_view(&[traj.to_str().context("path")?], runs, &|| {
            std::fs::metadata(&page).map(|m| m.len()).unwrap_or(0)
        })?;
        println!(
            "{name:>12}: trajectory {:.1} MB -> page {:.1} MB in {secs:.2}s",
            input as f64 / 1e6,
            bytes as f64 / 1e6
        );
        if steps == 5_000 {
            match Browser::find() {
                Ok(browser) => {
                    let mut loads = Vec::new();
                    for _ in 0..runs {
                        let started = Instant::now();
                        let dom = browser.dump_dom(&page)?;
                        loads.push(started.elapsed().as_secs_f64());
                        if !dom.contains("id=\"step-5000\"") {
                            bail!("chromium's DOM of the 5000-step page lacks step 5000");
                        }
                    }
                    let mut shots = Vec::new();
                    for _ in 0..runs {
                        let started = Instant::now();
                        browser.screenshot(&page, &dir.path().join("shot.png"), (1280, 900))?;
                        shots.push(started.elapsed().as_secs_f64());
                    }
                    println!(
                        "{:>12}: chromium --headless: --screenshot {:.2}s, --dump-dom {:.2}s",
                        "",
                        median(&mut shots),
                        median(&mut loads)
                    );
                    if let Some(keep) = std::env::var_os("BENCH_VIEW_KEEP") {
                        std::fs::copy(&page, keep)?;
                    }
                }
                Err(e) => println!("{:>12}: no browser timing ({e})", ""),
            }
        }
    }
    // A 500-row batch: 500 trajectories of 30 steps, as `bench run --output` lays them out.
    let batch = dir.path().join("batch");
    std::fs::create_dir_all(batch.join("trajectories"))?;
    let mut predictions = String::new();
    for i in 0..500 {
        let id = format!("repo__name-{i}");
        write_trajectory(
            &batch.join(format!("trajectories/{id}.traj.json")),
            30,
            1_000,
        )?;
        predictions.push_str(
            &json!({"instance_id": id, "model_name_or_path": "bench", "model_patch": if i % 5 == 0 { "" } else { "diff" }})
                .to_string(),
        );
        predictions.push('\n');
    }
    std::fs::write(batch.join("predictions.jsonl"), predictions)?;
    let view_dir = batch.join("view");
    let (secs, bytes) = time_view(&[batch.to_str().context("path")?], runs, &|| {
        dir_bytes(&view_dir)
    })?;
    let index = std::fs::metadata(view_dir.join("index.html"))?.len();
    println!(
        "{:>12}: index {:.2} MB + 500 trajectory pages, {:.1} MB in all, in {secs:.2}s",
        "500-row batch",
        index as f64 / 1e6,
        bytes as f64 / 1e6
    );
    Ok(())
}
