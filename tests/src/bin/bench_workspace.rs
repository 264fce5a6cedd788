//! Benchmark: what copying the workspace costs against bind-mounting it, per instance. For each
//! mode, a sandbox over a fresh copy of a repository runs what one instance typically does
//! (12 commands, a host edit before every other one, as the file tools make them), then is
//! removed. Prints medians; asserts nothing.
//!
//! `cargo run --release -p agent-tests --bin bench-workspace [RUNS] [REPO]` (REPO: a git
//! repository to copy for each run; default: this project's own checkout).

// A benchmark: printing its figures is its job.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use agent_containers::{DockerSandbox, SandboxConfig, WorkspaceMode};
use agent_tools::{ExecRequest, Executor};
use anyhow::{Context, Result, bail};

const COMMANDS: usize = 12;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// A fresh clone of `repo` (working tree and `.git`) in a temporary folder.
fn fresh_copy(repo: &Path) -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let status = Command::new("git")
        .args(["clone", "-q", "--no-hardlinks"])
        .arg(repo)
        .arg(dir.path().join("ws"))
        .status()?;
    if !status.success() {
        bail!("git clone {} failed", repo.display());
    }
    Ok(dir)
}

/// The first tracked `.rs`/`.py` file, which the "host edits" append to.
fn some_source(ws: &Path) -> Result<PathBuf> {
    let out = Command::new("git")
        .args(["ls-files", "*.py", "*.rs"])
        .current_dir(ws)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text
        .lines()
        .next()
        .context("no .py or .rs file in the repository")?;
    Ok(ws.join(first))
}

struct Timing {
    create: f64,
    commands: f64,
    remove: f64,
}

async fn one_instance(image: &str, repo: &Path, mode: WorkspaceMode) -> Result<Timing> {
    let copy = fresh_copy(repo)?;
    let ws = copy.path().join("ws");
    let source = some_source(&ws)?;
    let started = Instant::now();
    let sandbox = DockerSandbox::create(
        SandboxConfig::new(image)
            .workspace(&ws)
            .workspace_mode(mode)
            .read_only(".git"),
    )
    .await?;
    let create = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for i in 0..COMMANDS {
        if i % 2 == 0 {
            let mut text = std::fs::read_to_string(&source)?;
            text.push_str(&format!("\n// edit {i}\n"));
            std::fs::write(&source, text)?;
        }
        let command = match i % 3 {
            0 => "git status --short | head -5",
            1 => {
                "grep -rl edit --include=*.rs --include=*.py . | head -3; echo out-$RANDOM > scratch.txt"
            }
            _ => "ls -R | wc -l",
        };
        let out = sandbox
            .exec(ExecRequest::new(command).timeout(Duration::from_secs(120)))
            .await?;
        if !out.success() {
            bail!("`{command}` failed: {out:?}");
        }
    }
    let commands = started.elapsed().as_secs_f64();
    let started = Instant::now();
    sandbox.remove().await?;
    Ok(Timing {
        create,
        commands,
        remove: started.elapsed().as_secs_f64(),
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let repo = match args.next() {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
    };
    let files = Command::new("git")
        .args(["ls-files"])
        .current_dir(&repo)
        .output()?
        .stdout
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    let image = agent_containers::ensure_image("3.11").await?.tag;
    println!(
        "workspace: {} ({files} tracked files plus .git), {COMMANDS} commands per instance, {runs} runs per mode, alternating",
        repo.display()
    );
    let mut totals = [Vec::new(), Vec::new()];
    let mut parts = [Vec::new(), Vec::new()];
    for run in 0..runs {
        for (i, mode) in [WorkspaceMode::Bind, WorkspaceMode::Copy]
            .into_iter()
            .enumerate()
        {
            let t = one_instance(&image, &repo, mode).await?;
            let total = t.create + t.commands + t.remove;
            println!(
                "run {run} {mode:?}: create {:.3} s, {COMMANDS} commands {:.3} s, remove {:.3} s, total {total:.3} s",
                t.create, t.commands, t.remove
            );
            totals[i].push(total);
            parts[i].push((t.create, t.commands / COMMANDS as f64));
        }
    }
    let summary = |i: usize| {
        let mut create: Vec<f64> = parts[i].iter().map(|p| p.0).collect();
        let mut per_command: Vec<f64> = parts[i].iter().map(|p| p.1).collect();
        (
            median(&mut totals[i].clone()),
            median(&mut create),
            median(&mut per_command),
        )
    };
    let (bind_total, bind_create, bind_cmd) = summary(0);
    let (copy_total, copy_create, copy_cmd) = summary(1);
    println!(
        "median per instance: bind {bind_total:.3} s (create {bind_create:.3} s, {:.1} ms/command); copy {copy_total:.3} s (create {copy_create:.3} s, {:.1} ms/command)",
        bind_cmd * 1000.0,
        copy_cmd * 1000.0
    );
    println!(
        "copy overhead per instance: {:.3} s ({:+.0}%), of which the first copy {:.3} s and {:.1} ms per command",
        copy_total - bind_total,
        (copy_total / bind_total - 1.0) * 100.0,
        copy_create - bind_create,
        (copy_cmd - bind_cmd) * 1000.0
    );
    Ok(())
}
