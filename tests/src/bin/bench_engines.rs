//! Benchmark: `bench eval` (gold patches of the mini dataset) with 1, 2 and 3 engines: this
//! machine's, plus private engines started here (one on a unix socket, one on TCP with TLS).
//! All engines run on this machine and share its CPUs. A warm-up pass across all three
//! copies instance images to the engines that grade them; images copied later count in the
//! figures. Prints instances per
//! minute; asserts nothing. Needs root (it starts dockerd).
//!
//! `cargo run --release -p agent-tests --bin bench-engines [RUNS] [WORKERS_PER_ENGINE]`

// A benchmark: printing its figures is its job.
#![allow(clippy::print_stdout)]

use std::process::Command;
use std::time::Instant;

use agent_tests::engines::PrivateEngine;
use agent_tests::fixtures::agent_binary;
use anyhow::{Result, bail};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn eval(
    dir: &std::path::Path,
    run_id: &str,
    engines: &[String],
    cert_path: &std::path::Path,
) -> Result<f64> {
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
    ])
    .current_dir(dir)
    .env("AGENT_CONFIG", dir.join("none.toml"))
    .env("DOCKER_TLS_VERIFY", "1")
    .env("DOCKER_CERT_PATH", cert_path);
    for engine in engines {
        cmd.arg("--engine").arg(engine);
    }
    let started = Instant::now();
    let out = cmd.output()?;
    if !out.status.success() {
        bail!(
            "bench eval failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3);
    let workers: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    let unix = PrivateEngine::start("pb", "203.0.113.65/27", false)?;
    let tls = PrivateEngine::start("pc", "203.0.113.97/27", true)?;
    unix.wait_ready().await?;
    tls.wait_ready().await?;
    let cert_path = tls
        .cert_path()
        .unwrap_or(std::path::Path::new("/"))
        .to_path_buf();
    let local =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let engines = [
        format!("{local}={workers}"),
        format!("{}={workers}", unix.url()),
        format!("{}={workers}", tls.url()),
    ];
    let dir = tempfile::tempdir()?;
    // Warm-up: one pass across all three (an engine alone has no peer to copy images from, and
    // the private engines have no network to build them). Images an engine still lacks later
    // are copied during the measured runs, and counted in them.
    let took = eval(dir.path(), "warm", &engines, &cert_path)?;
    println!("warm-up across the three engines: {took:.1} s (images copied at first use)");
    let instances = agent_harness::mini::dataset()?.instances.len() as f64;
    println!(
        "mini dataset: {instances} instances, {workers} worker(s) per engine, {runs} runs each; all engines share this machine's CPUs"
    );
    for count in 1..=3 {
        let mut rates = Vec::new();
        for run in 0..runs {
            let took = eval(
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
