//! Benchmark: `bench eval` (gold patches of the mini dataset) or `bench run` (the agent with
//! the scripted model applying each gold patch) with 1, 2 and 3 engines: this machine's, plus
//! private engines started here (one on a unix socket, one on TCP with TLS).
//! All engines run on this machine and share its CPUs. A warm-up pass across all three
//! copies instance images to the engines that grade them; images copied later count in the
//! figures. Prints instances per
//! minute; asserts nothing. Needs root (it starts dockerd).
//!
//! `cargo run --release -p agent-tests --bin bench-engines [RUNS] [WORKERS_PER_ENGINE] [eval|run]`

// A benchmark: printing its figures is its job.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use agent_tests::engines::{PrivateEngine, local_engine_url};
use agent_tests::fixtures::agent_binary;
use agent_tests::{Reply, ScriptedServer, Scripts};
use anyhow::{Result, bail};
use serde_json::json;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// One `bench eval` of the gold patches across `engines`; its seconds.
fn eval(dir: &Path, run_id: &str, engines: &[String], cert_path: &Path) -> Result<f64> {
    let mut cmd = Command::new(agent_binary()?);
    cmd.args([
        "bench",
        "eval",
        "--dataset",
        "mini",
        "--predictions",
        "gold",
        "--run-id",
        run_id,
    ]);
    timed(cmd, dir, engines, cert_path)
}

/// One `bench run` over the mini dataset into `dir/run_id`, the scripted model applying each
/// gold patch (one conversation per instance, keyed by its id); its seconds.
fn run(dir: &Path, run_id: &str, engines: &[String], cert_path: &Path) -> Result<f64> {
    let keyed = agent_harness::mini::dataset()?
        .instances
        .into_iter()
        .map(|i| {
            let script = vec![
                Reply::tool("apply_patch", json!({"patch": i.patch})),
                Reply::tool("submit", json!({"summary": "applied the fix"})),
            ];
            (i.instance_id, script)
        })
        .collect();
    let server = ScriptedServer::start_scripts(Scripts {
        keyed,
        ..Scripts::default()
    })?;
    let mut cmd = Command::new(agent_binary()?);
    cmd.args(["bench", "run", "--dataset", "mini", "--no-review"])
        .args(["--model", "scripted", "--base-url", &server.base_url()])
        .arg("--output")
        .arg(dir.join(run_id));
    cmd.env_remove("OPENAI_API_KEY");
    timed(cmd, dir, engines, cert_path)
}

fn timed(mut cmd: Command, dir: &Path, engines: &[String], cert_path: &Path) -> Result<f64> {
    cmd.current_dir(dir)
        .env("AGENT_CONFIG", dir.join("none.toml"))
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", cert_path);
    for engine in engines {
        cmd.arg("--engine").arg(engine);
    }
    let started = Instant::now();
    let out = cmd.output()?;
    if !out.status.success() {
        bail!("the batch failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3);
    let workers: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    let batch: fn(&Path, &str, &[String], &Path) -> Result<f64> = match args.next().as_deref() {
        None | Some("eval") => eval,
        Some("run") => run,
        Some(other) => bail!("unknown batch `{other}`: eval or run"),
    };
    let unix = PrivateEngine::start("pb", "203.0.113.65/27", false)?;
    let tls = PrivateEngine::start("pc", "203.0.113.97/27", true)?;
    unix.wait_ready().await?;
    tls.wait_ready().await?;
    let cert_path = tls
        .cert_path()
        .unwrap_or(std::path::Path::new("/"))
        .to_path_buf();
    let local = local_engine_url();
    let engines = [
        format!("{local}={workers}"),
        format!("{}={workers}", unix.url()),
        format!("{}={workers}", tls.url()),
    ];
    let dir = tempfile::tempdir()?;
    // Warm-up: one pass across all three (an engine alone has no peer to copy images from, and
    // the private engines have no network to build them). Images an engine still lacks later
    // are copied during the measured runs, and counted in them.
    let took = batch(dir.path(), "warm", &engines, &cert_path)?;
    println!("warm-up across the three engines: {took:.1} s (images copied at first use)");
    let instances = agent_harness::mini::dataset()?.instances.len() as f64;
    println!(
        "mini dataset: {instances} instances, {workers} worker(s) per engine, {runs} runs each; all engines share this machine's CPUs"
    );
    for count in 1..=3 {
        let mut rates = Vec::new();
        for run in 0..runs {
            let took = batch(
                dir.path(),
                &format!("e{count}r{run}"),
                &engines[..count],
                &cert_path,
            )?;
            let rate = instances / took * 60.0;
            println!("{count} engine(s), run {run}: {took:.1} s, {rate:.2} instances/min");
            rates.push(rate);
        }
        println!(
            "{count} engine(s): median {:.2} instances/min",
            median(&mut rates)
        );
    }
    Ok(())
}
