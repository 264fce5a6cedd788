//! Figures for the harness on the bundled mini dataset, against the real engine:
//! wall time per instance (cold: no environment or instance images; warm: all built), time
//! outside the test command, throughput with 1 and 2 workers, both setup modes, image disk
//! use, and gold verdicts over repeated runs.
//!
//! `cargo run --release -p agent-harness --example bench_eval -- [repeats]`
//! `BENCH_SPECS=FILE` merges a specs file (e.g. one that adds an install step);
//! `BENCH_QUICK=1` skips the repeated-verdicts part.

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::expect_used)] // a benchmark program: prints figures, stops on failure

use std::time::{Duration, Instant};

use agent_harness::context::{BenchContext, ContextOptions, SetupMode};
use agent_harness::evaluate::{EvalOptions, InstanceOutcome, Verdict, evaluate};
use agent_harness::images::{ENV_REPOSITORY, INSTANCE_REPOSITORY};
use agent_harness::mini;
use agent_harness::repos::RepoSource;
use agent_harness::{Dataset, Predictions, SpecTable};

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

async fn remove_images(ctx: &BenchContext, repository: &str) {
    use bollard::query_parameters::{ListImagesOptionsBuilder, RemoveImageOptionsBuilder};
    let filters = std::collections::HashMap::from([(
        "reference".to_string(),
        vec![format!("{repository}:*")],
    )]);
    let options = ListImagesOptionsBuilder::new().filters(&filters).build();
    let images = ctx
        .docker
        .list_images(Some(options))
        .await
        .unwrap_or_default();
    for image in images {
        for tag in image.repo_tags {
            let options = RemoveImageOptionsBuilder::new().force(true).build();
            let _ = ctx.docker.remove_image(&tag, Some(options), None).await;
        }
    }
}

struct Run {
    wall: Duration,
    outcomes: Vec<InstanceOutcome>,
}

async fn run(
    ctx: &BenchContext,
    dataset: &Dataset,
    predictions: &Predictions,
    workers: usize,
    label: &str,
) -> Run {
    let logs = tempfile::tempdir().expect("temp dir");
    let mut options = EvalOptions::new(label);
    options.workers = workers;
    options.log_root = logs.path().to_path_buf();
    options.report_dir = logs.path().to_path_buf();
    let started = Instant::now();
    let report = evaluate(ctx, dataset, predictions, &options, &|_| {})
        .await
        .expect("evaluation");
    Run {
        wall: started.elapsed(),
        outcomes: report.outcomes,
    }
}

fn describe(name: &str, run: &Run) {
    let n = run.outcomes.len() as f64;
    let totals: Vec<f64> = run.outcomes.iter().map(|o| secs(o.timings.total)).collect();
    let overheads: Vec<f64> = run
        .outcomes
        .iter()
        .map(|o| secs(o.timings.overhead()))
        .collect();
    let tests: Vec<f64> = run
        .outcomes
        .iter()
        .filter_map(|o| o.timings.tests.map(secs))
        .collect();
    let setups: Vec<f64> = run
        .outcomes
        .iter()
        .map(|o| secs(o.timings.setup.setup))
        .collect();
    let resolved = run
        .outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::Resolved)
        .count();
    println!(
        "{name:<34} wall {:>6.1}s  {:>5.2} inst/min  per-instance median {:>5.2}s (setup {:>5.2}s, tests {:>4.2}s, outside tests {:>4.2}s)  resolved {resolved}/{}",
        secs(run.wall),
        n / secs(run.wall) * 60.0,
        median(totals),
        median(setups),
        median(tests),
        median(overheads),
        run.outcomes.len()
    );
}

async fn context(paths: &mini::MiniPaths, mode: SetupMode) -> BenchContext {
    let mut options = ContextOptions::new(
        SpecTable::load(
            std::env::var_os("BENCH_SPECS")
                .map(std::path::PathBuf::from)
                .as_deref(),
        )
        .expect("specs"),
        RepoSource::Dir(paths.repos.clone()),
    );
    options.setup_mode = mode;
    options.log_root = std::env::temp_dir().join("agent-bench-eval-logs");
    BenchContext::connect(options).await.expect("engine")
}

#[tokio::main]
async fn main() {
    let repeats: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    let paths = mini::materialize(&mini::cache_root())
        .await
        .expect("mini dataset");
    let dataset = Dataset::load(&paths.dataset).expect("dataset");
    let gold = Predictions::load("gold", &dataset).expect("gold");

    for mode in [SetupMode::ImageLayer, SetupMode::ContainerStart] {
        println!("== setup mode {mode:?} ==");
        let ctx = context(&paths, mode).await;
        remove_images(&ctx, INSTANCE_REPOSITORY).await;
        remove_images(&ctx, ENV_REPOSITORY).await;
        let cold = run(&ctx, &dataset, &gold, 1, "cold").await;
        describe("cold, 1 worker (builds env image)", &cold);
        for workers in [1, 2] {
            for i in 0..repeats {
                let warm = run(
                    &ctx,
                    &dataset,
                    &gold,
                    workers,
                    &format!("warm{workers}-{i}"),
                )
                .await;
                describe(&format!("warm, {workers} worker(s), run {}", i + 1), &warm);
            }
        }
    }

    if std::env::var_os("BENCH_QUICK").is_some() {
        return;
    }
    // Gold verdicts repeated: every run must resolve every instance.
    let ctx = context(&paths, SetupMode::ImageLayer).await;
    let mut flips = 0;
    let mut first: Option<Vec<(String, bool)>> = None;
    for i in 0..repeats {
        let r = run(&ctx, &dataset, &gold, 2, &format!("repeat-{i}")).await;
        let mut verdicts: Vec<(String, bool)> = r
            .outcomes
            .iter()
            .map(|o| (o.instance_id.clone(), o.verdict == Verdict::Resolved))
            .collect();
        verdicts.sort();
        match &first {
            None => first = Some(verdicts),
            Some(base) => {
                flips += base
                    .iter()
                    .zip(&verdicts)
                    .filter(|(a, b)| a.1 != b.1)
                    .count();
            }
        }
    }
    println!(
        "gold verdicts over {repeats} runs: {} instances, {flips} flips, resolved in run 1: {}",
        dataset.instances.len(),
        first.map_or(0, |v| v.iter().filter(|(_, r)| *r).count())
    );
}
