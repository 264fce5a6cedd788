//! Evaluation against the real Docker engine, on the bundled mini dataset: gold patches resolve
//! every instance, empty and wrong ones none; resume, apply failures, timeouts, both setup
//! modes, and validation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use agent_harness::context::{BenchContext, ContextOptions, SetupMode};
use agent_harness::evaluate::{EvalOptions, EvalReport, Verdict, evaluate};
use agent_harness::mini::{self, MiniPaths};
use agent_harness::repos::RepoSource;
use agent_harness::validate::{ValidateOptions, validate};
use agent_harness::{Dataset, Predictions, SpecTable};

/// One scenario at a time: they share images and the machine has two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn mini_paths() -> MiniPaths {
    mini::materialize(&mini::cache_root()).await.unwrap()
}

async fn context(
    paths: &MiniPaths,
    logs: &Path,
    mode: SetupMode,
    specs: Option<&Path>,
) -> BenchContext {
    let mut options = ContextOptions::new(
        SpecTable::load(specs).unwrap(),
        RepoSource::Dir(paths.repos.clone()),
    );
    options.log_root = logs.to_path_buf();
    options.setup_mode = mode;
    BenchContext::connect(options)
        .await
        .expect("the Docker engine must be reachable")
}

fn options(run_id: &str, logs: &Path) -> EvalOptions {
    let mut options = EvalOptions::new(run_id);
    options.workers = 2;
    options.timeout = Duration::from_secs(300);
    options.log_root = logs.to_path_buf();
    options.report_dir = logs.to_path_buf();
    options
}

/// `evaluate` with the tests' options and no progress events.
async fn run(
    ctx: &BenchContext,
    dataset: &Dataset,
    predictions: &Predictions,
    run_id: &str,
    logs: &Path,
) -> EvalReport {
    evaluate(
        ctx,
        dataset,
        predictions,
        &options(run_id, logs),
        &no_events(),
    )
    .await
    .unwrap()
}

fn no_events() -> impl Fn(agent_harness::evaluate::EvalEvent) + Send + Sync {
    |_| {}
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn gold_resolves_every_instance_and_wrong_or_empty_none() {
    let _serial = SERIAL.lock().await;
    let paths = mini_paths().await;
    let logs = tempfile::tempdir().unwrap();
    let ctx = context(&paths, logs.path(), SetupMode::ImageLayer, None).await;
    let dataset = Dataset::load(&paths.dataset).unwrap();
    let n = dataset.instances.len();

    let gold = Predictions::load("gold", &dataset).unwrap();
    let report = run(&ctx, &dataset, &gold, "gold-run", logs.path()).await;
    assert_eq!(
        report.summary.resolved_ids.len(),
        n,
        "{:?}",
        report.outcomes
    );
    assert!(report.summary_path.ends_with("gold.gold-run.json"));
    let summary = read_json(&report.summary_path);
    assert_eq!(summary["resolved_instances"], n);
    assert_eq!(summary["schema_version"], 2);
    for instance in &dataset.instances {
        let dir = logs
            .path()
            .join("logs/run_evaluation/gold-run/gold")
            .join(&instance.instance_id);
        for file in [
            "patch.diff",
            "eval.sh",
            "test_output.txt",
            "run_instance.log",
            "report.json",
        ] {
            assert!(
                dir.join(file).is_file(),
                "{} lacks {file}",
                instance.instance_id
            );
        }
        let report = read_json(&dir.join("report.json"));
        let entry = &report[&instance.instance_id];
        assert_eq!(entry["resolved"], true);
        let f2p = entry["tests_status"]["FAIL_TO_PASS"]["success"]
            .as_array()
            .unwrap();
        assert_eq!(f2p.len(), instance.fail_to_pass.len());
        let output = std::fs::read_to_string(dir.join("test_output.txt")).unwrap();
        assert!(output.contains("+ : '>>>>> Start Test Output'"));
        assert!(output.contains("+ : '>>>>> End Test Output'"));
    }

    let wrong = Predictions::load(paths.wrong_predictions.to_str().unwrap(), &dataset).unwrap();
    let report = run(&ctx, &dataset, &wrong, "wrong-run", logs.path()).await;
    assert_eq!(
        report.summary.completed_ids.len(),
        n,
        "{:?}",
        report.outcomes
    );
    assert!(
        report.summary.resolved_ids.is_empty(),
        "{:?}",
        report.summary.resolved_ids
    );

    // Empty and null patches are not run and are counted apart.
    let empty_path = logs.path().join("empty.jsonl");
    let lines: String = dataset
        .instances
        .iter()
        .enumerate()
        .map(|(i, inst)| {
            let patch = if i % 2 == 0 { serde_json::Value::Null } else { "".into() };
            format!(
                "{}\n",
                serde_json::json!({"instance_id": inst.instance_id, "model_name_or_path": "org/none", "model_patch": patch})
            )
        })
        .collect();
    std::fs::write(&empty_path, lines).unwrap();
    let empty = Predictions::load(empty_path.to_str().unwrap(), &dataset).unwrap();
    let report = run(&ctx, &dataset, &empty, "empty-run", logs.path()).await;
    assert_eq!(report.summary.empty_patch_ids.len(), n);
    assert!(report.summary.resolved_ids.is_empty());
    assert!(report.summary_path.ends_with("org__none.empty-run.json"));
}

#[tokio::test]
async fn resume_apply_failure_and_timeout() {
    let _serial = SERIAL.lock().await;
    let paths = mini_paths().await;
    let logs = tempfile::tempdir().unwrap();
    let full = Dataset::load(&paths.dataset).unwrap();
    let dataset = full
        .select(&["minibench__unitwise-14".to_string()])
        .unwrap();
    let ctx = context(&paths, logs.path(), SetupMode::ImageLayer, None).await;
    let gold = Predictions::load("gold", &full).unwrap();

    // Resume: the second run with the same id finds the report and does not run again.
    let first = run(&ctx, &dataset, &gold, "resume", logs.path()).await;
    assert_eq!(first.outcomes[0].verdict, Verdict::Resolved);
    let report_path = logs
        .path()
        .join("logs/run_evaluation/resume/gold/minibench__unitwise-14/report.json");
    let written = std::fs::metadata(&report_path).unwrap().modified().unwrap();
    let second = run(&ctx, &dataset, &gold, "resume", logs.path()).await;
    assert_eq!(
        second.outcomes[0].verdict,
        Verdict::AlreadyDone { resolved: true }
    );
    assert_eq!(
        std::fs::metadata(&report_path).unwrap().modified().unwrap(),
        written
    );
    // The summary covers the selected instance; all gold predictions count as submitted.
    assert_eq!(second.summary.total_instances, 1);
    assert_eq!(second.summary.submitted_instances, full.instances.len());

    // A patch that applies nowhere: an error, no report.
    let bad_path = logs.path().join("bad.jsonl");
    let bad = serde_json::json!({
        "instance_id": "minibench__unitwise-14", "model_name_or_path": "bad",
        "model_patch": "diff --git a/nope.py b/nope.py\n--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n-x\n+y\n"
    });
    std::fs::write(&bad_path, format!("{bad}\n")).unwrap();
    let bad = Predictions::load(bad_path.to_str().unwrap(), &full).unwrap();
    let report = run(&ctx, &dataset, &bad, "bad", logs.path()).await;
    assert!(matches!(report.outcomes[0].verdict, Verdict::Error(_)));
    let dir = logs
        .path()
        .join("logs/run_evaluation/bad/bad/minibench__unitwise-14");
    assert!(!dir.join("report.json").exists());
    let log = std::fs::read_to_string(dir.join("run_instance.log")).unwrap();
    assert!(log.contains(">>>>> Patch Apply Failed"), "{log}");
    assert!(log.contains("Failed to apply patch to container: patch --batch --fuzz=5 -p1 -i"));
    assert_eq!(report.summary.error_ids.len(), 1);

    // A test command slower than the timeout: an error, the partial output kept.
    let specs = logs.path().join("slow.toml");
    std::fs::write(
        &specs,
        "[repos.\"minibench/unitwise\".versions.\"0.3\"]\npython = \"3.11\"\npip_packages = [\"pytest==8.3.5\"]\ntest_cmd = \"echo started; sleep 60; pytest -rA\"\n",
    )
    .unwrap();
    let slow = context(&paths, logs.path(), SetupMode::ImageLayer, Some(&specs)).await;
    let mut opts = options("slow", logs.path());
    opts.timeout = Duration::from_secs(5);
    // The test command sleeps 60s first: the verdict and the output's last line show the
    // timeout ended it.
    let report = evaluate(&slow, &dataset, &gold, &opts, &no_events())
        .await
        .unwrap();
    assert_eq!(
        report.outcomes[0].verdict,
        Verdict::Error("timed out after 5s".into())
    );
    let dir = logs
        .path()
        .join("logs/run_evaluation/slow/gold/minibench__unitwise-14");
    let output = std::fs::read_to_string(dir.join("test_output.txt")).unwrap();
    assert!(output.contains("started"), "{output}");
    assert!(
        output.ends_with("\n\nTimeout error: 5 seconds exceeded."),
        "{output}"
    );
    assert!(!dir.join("report.json").exists());
}

#[tokio::test]
async fn container_start_setup_gives_the_same_verdicts() {
    let _serial = SERIAL.lock().await;
    let paths = mini_paths().await;
    let logs = tempfile::tempdir().unwrap();
    let full = Dataset::load(&paths.dataset).unwrap();
    let dataset = full
        .select(&[
            "minibench__tinyconf-23".to_string(),
            "minibench__unitwise-21".to_string(),
        ])
        .unwrap();
    let ctx = context(&paths, logs.path(), SetupMode::ContainerStart, None).await;
    let gold = Predictions::load("gold", &full).unwrap();
    let report = run(&ctx, &dataset, &gold, "cs-gold", logs.path()).await;
    assert_eq!(
        report.summary.resolved_ids.len(),
        2,
        "{:?}",
        report.outcomes
    );
    let wrong = Predictions::load(paths.wrong_predictions.to_str().unwrap(), &full).unwrap();
    let report = run(&ctx, &dataset, &wrong, "cs-wrong", logs.path()).await;
    assert_eq!(
        report.summary.unresolved_ids.len(),
        2,
        "{:?}",
        report.outcomes
    );
}

#[tokio::test]
async fn validation_reproduces_the_dataset_lists() {
    let _serial = SERIAL.lock().await;
    let paths = mini_paths().await;
    let logs = tempfile::tempdir().unwrap();
    let full = Dataset::load(&paths.dataset).unwrap();
    let dataset = full
        .select(&[
            "minibench__tinyconf-31".to_string(),
            "minibench__unitwise-8".to_string(),
        ])
        .unwrap();
    let ctx = context(&paths, logs.path(), SetupMode::ImageLayer, None).await;
    let options = ValidateOptions {
        run_id: "v".into(),
        workers: 2,
        timeout: Duration::from_secs(300),
        log_root: logs.path().to_path_buf(),
        stop: Default::default(),
    };
    let results = validate(&ctx, &dataset, &options, &no_events())
        .await
        .unwrap();
    for (validation, instance) in results.iter().zip(&dataset.instances) {
        assert!(validation.matches(instance), "{validation:?}");
    }
    assert!(
        logs.path()
            .join("logs/run_validation/v/minibench__unitwise-8/before/test_output.txt")
            .is_file()
    );
}

#[tokio::test]
async fn an_environment_that_cannot_be_built_fails_only_its_instances() {
    let _serial = SERIAL.lock().await;
    let paths = mini_paths().await;
    let logs = tempfile::tempdir().unwrap();
    let specs = logs.path().join("old.json");
    std::fs::write(
        &specs,
        r#"{"repos": {"minibench/unitwise": {"versions": {"0.3": {"python": "3.6", "test_cmd": "pytest -rA"}}}}}"#,
    )
    .unwrap();
    let ctx = context(&paths, logs.path(), SetupMode::ImageLayer, Some(&specs)).await;
    let full = Dataset::load(&paths.dataset).unwrap();
    let dataset = full
        .select(&[
            "minibench__tinyconf-12".to_string(),
            "minibench__unitwise-14".to_string(),
        ])
        .unwrap();
    let gold = Predictions::load("gold", &full).unwrap();
    let report = run(&ctx, &dataset, &gold, "old-python", logs.path()).await;
    let verdict = |id: &str| {
        report
            .outcomes
            .iter()
            .find(|o| o.instance_id == id)
            .map(|o| o.verdict.clone())
            .unwrap()
    };
    assert_eq!(verdict("minibench__tinyconf-12"), Verdict::Resolved);
    match verdict("minibench__unitwise-14") {
        Verdict::Error(reason) => assert!(reason.contains("3.6"), "{reason}"),
        other => panic!("expected an error, got {other:?}"),
    }
    assert_eq!(report.summary.error_ids.len(), 1);
    let log = std::fs::read_to_string(
        logs.path()
            .join("logs/run_evaluation/old-python/gold/minibench__unitwise-14/run_instance.log"),
    )
    .unwrap();
    assert!(log.contains("Error building the environment"), "{log}");
}
