//! Sandbox figures against the docker CLI, and leak counts after killed processes.
//!
//! `cargo bench -p agent-containers --bench sandbox` (release). Needs the engine, the `docker`
//! CLI for the reference timings, and the Python 3.11 image (built when missing).
//! `SANDBOX_BENCH_RUNS` sets the runs per figure (default 20).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agent_containers::{DockerSandbox, PruneScope, SandboxConfig, cleanup, engine};
use agent_exec::{ExecRequest, Executor};

const CHILD_ENV: &str = "SANDBOX_BENCH_CHILD";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Ok(image) = std::env::var(CHILD_ENV) {
        runtime.block_on(child(image));
        return;
    }
    let runs: usize = std::env::var("SANDBOX_BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    runtime.block_on(bench(runs));
}

/// Holds a sandbox until killed.
async fn child(image: String) {
    let sandbox = DockerSandbox::create(SandboxConfig::new(image).run_id("bench-kill"))
        .await
        .unwrap();
    println!("READY {}", sandbox.id());
    tokio::time::sleep(Duration::from_secs(600)).await;
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn docker_cli(args: &[&str]) {
    let status = Command::new("docker")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running the docker CLI");
    assert!(status.success(), "docker {args:?} failed");
}

async fn bench(runs: usize) {
    let image = agent_containers::ensure_image("3.11").await.unwrap().tag;
    println!("image: {image}; {runs} runs per figure; medians\n");
    let exec_true = || ExecRequest::new("true").timeout(Duration::from_secs(60));

    // Warm-up: the first container of an image pays for layer setup.
    let warm = DockerSandbox::create(SandboxConfig::new(&image))
        .await
        .unwrap();
    warm.exec(exec_true()).await.unwrap();
    warm.remove().await.unwrap();
    docker_cli(&["run", "--rm", &image, "true"]);

    // 1. A whole container lifetime. The three ways alternate within each round, so that all
    // see the same background load.
    let mut ours = Vec::new();
    let mut to_first_exec = Vec::new();
    let mut to_ready = Vec::new();
    let mut cli = Vec::new();
    // The same four steps through the CLI: `docker run … true` skips the exec.
    let mut cli_steps = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let sandbox = DockerSandbox::create(SandboxConfig::new(&image))
            .await
            .unwrap();
        to_ready.push(started.elapsed());
        let out = sandbox.exec(exec_true()).await.unwrap();
        assert!(out.success());
        to_first_exec.push(started.elapsed());
        sandbox.remove().await.unwrap();
        ours.push(started.elapsed());

        let started = Instant::now();
        docker_cli(&["run", "--rm", "--network", "none", &image, "true"]);
        cli.push(started.elapsed());

        let started = Instant::now();
        let out = Command::new("docker")
            .args(["run", "-d", "-i", "--network", "none", &image, "cat"])
            .output()
            .expect("running the docker CLI");
        assert!(out.status.success(), "docker run -d failed");
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        docker_cli(&["exec", &id, "true"]);
        docker_cli(&["rm", "-f", &id]);
        cli_steps.push(started.elapsed());
    }
    let (ours, cli, cli_steps) = (median(ours), median(cli), median(cli_steps));
    println!(
        "create + start + exec `true` + remove (DockerSandbox): {:8.1} ms",
        ms(ours)
    );
    println!(
        "docker run --rm --network none IMAGE true (CLI):       {:8.1} ms",
        ms(cli)
    );
    println!(
        "  ratio sandbox/CLI: {:.2}x",
        ours.as_secs_f64() / cli.as_secs_f64()
    );
    println!(
        "docker run -d + docker exec true + docker rm -f (CLI): {:8.1} ms",
        ms(cli_steps)
    );
    println!(
        "  ratio sandbox/CLI doing the same steps: {:.2}x\n",
        ours.as_secs_f64() / cli_steps.as_secs_f64()
    );
    println!(
        "create → sandbox ready:      {:8.1} ms",
        ms(median(to_ready))
    );
    println!(
        "create → first exec done:    {:8.1} ms\n",
        ms(median(to_first_exec))
    );

    // 2. Exec in a running container.
    let sandbox = DockerSandbox::create(SandboxConfig::new(&image))
        .await
        .unwrap();
    sandbox.exec(exec_true()).await.unwrap();
    docker_cli(&["exec", sandbox.id(), "true"]);
    let mut ours = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let out = sandbox.exec(exec_true()).await.unwrap();
        assert!(out.success());
        ours.push(started.elapsed());
    }
    let mut cli = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        docker_cli(&["exec", sandbox.id(), "bash", "-c", "true"]);
        cli.push(started.elapsed());
    }
    sandbox.remove().await.unwrap();
    let (ours, cli) = (median(ours), median(cli));
    println!(
        "exec `bash -c true` in a running container (DockerSandbox): {:8.1} ms",
        ms(ours)
    );
    println!(
        "docker exec ID bash -c true (CLI):                          {:8.1} ms",
        ms(cli)
    );
    println!(
        "  ratio sandbox/CLI: {:.2}x\n",
        ours.as_secs_f64() / cli.as_secs_f64()
    );

    // 3. Killed processes.
    let docker = engine::connect().await.unwrap();
    for signal in ["INT", "KILL"] {
        let mut ids = Vec::new();
        for _ in 0..runs {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .env(CHILD_ENV, &image)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap();
            let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
            let id = stdout
                .lines()
                .map_while(Result::ok)
                .find_map(|l| l.strip_prefix("READY ").map(str::to_string))
                .expect("child sandbox");
            Command::new("kill")
                .args([format!("-{signal}"), child.id().to_string()])
                .status()
                .unwrap();
            child.wait().unwrap();
            ids.push(id);
        }
        let left_at_once = count_existing(&docker, &ids).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let left_after_3s = count_existing(&docker, &ids).await;
        let report = cleanup::prune(&docker, PruneScope::Orphaned).await.unwrap();
        let left_after_prune = count_existing(&docker, &ids).await;
        println!(
            "{runs} processes killed with SIG{signal}: containers left right after the kills: {left_at_once}, \
             3 s later: {left_after_3s}, after prune: {left_after_prune} (prune removed {})",
            report.removed.len()
        );
    }
    let still = cleanup::run_containers(&docker, "bench-kill")
        .await
        .unwrap();
    println!(
        "bench-kill containers in the engine at the end: {}",
        still.len()
    );
}

async fn count_existing(docker: &bollard::Docker, ids: &[String]) -> usize {
    let mut n = 0;
    for id in ids {
        if docker.inspect_container(id, None).await.is_ok() {
            n += 1;
        }
    }
    n
}
