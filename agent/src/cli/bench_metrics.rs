//! `agent bench metrics`: pass@k and pass-ratio@n over K evaluated samples per instance.
//!
//! Each sample is one evaluation run (`agent bench eval --run-id R_k`) of one sample's
//! predictions (`bench run --samples K` writes `samples/<k>/predictions.jsonl`). An instance
//! without a report in a run (empty patch, error) counts as unresolved with no test passed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};

use agent_harness::metrics::{SampleOutcome, summarise};
use agent_harness::{Dataset, mini};

use crate::printer::Printer;

#[derive(Debug, Args)]
pub struct BenchMetricsArgs {
    /// Dataset file (.json list or .jsonl), or `mini`.
    #[arg(long)]
    pub dataset: String,
    /// The evaluation run ids, one per sample (repeat the flag or list them).
    #[arg(long = "run-id", num_args = 1.., required = true)]
    pub run_ids: Vec<String>,
    /// Directory holding `logs/run_evaluation/`.
    #[arg(long, default_value = ".")]
    pub log_dir: PathBuf,
}

pub async fn run(args: BenchMetricsArgs, printer: &Printer) -> Result<ExitCode> {
    let dataset_path = if args.dataset == mini::MINI {
        mini::materialize(&mini::cache_root()).await?.dataset
    } else {
        PathBuf::from(&args.dataset)
    };
    let dataset = Dataset::load(&dataset_path)?;
    let runs_root = args.log_dir.join("logs").join("run_evaluation");
    let mut reports = Vec::new();
    for run_id in &args.run_ids {
        let dir = runs_root.join(run_id);
        if !dir.is_dir() {
            bail!(
                "no evaluation run `{run_id}` under {}: run `agent bench eval --run-id {run_id}` first, or pass --log-dir",
                runs_root.display()
            );
        }
        reports.push(dir);
    }
    let per_instance: Vec<Vec<SampleOutcome>> = dataset
        .instances
        .iter()
        .map(|i| {
            reports
                .iter()
                .map(|run| sample_outcome(run, &i.instance_id))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<_>>()?;
    let summary = summarise(&per_instance);
    let out = json!({
        "instances": summary.instances,
        "samples": summary.samples,
        "pass_at_k": summary.pass_at_k.iter().map(|(k, v)| (format!("pass@{k}"), json!(v))).collect::<serde_json::Map<_, _>>(),
        "pass_ratio_at_n": summary.pass_ratio_at_n,
    });
    printer.result(&format!("{}\n", serde_json::to_string_pretty(&out)?));
    Ok(ExitCode::SUCCESS)
}

/// The instance's outcome in one evaluation run: its `report.json` under any model folder.
fn sample_outcome(run_dir: &Path, instance_id: &str) -> Result<SampleOutcome> {
    let models =
        std::fs::read_dir(run_dir).with_context(|| format!("cannot read {}", run_dir.display()))?;
    for model in models.flatten() {
        let path = model.path().join(instance_id).join("report.json");
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let report: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let entry = &report[instance_id];
        let count = |list: &str, kind: &str| {
            entry["tests_status"][list][kind]
                .as_array()
                .map_or(0, Vec::len)
        };
        let passed = count("FAIL_TO_PASS", "success") + count("PASS_TO_PASS", "success");
        let failed = count("FAIL_TO_PASS", "failure") + count("PASS_TO_PASS", "failure");
        return Ok(SampleOutcome {
            resolved: entry["resolved"].as_bool().unwrap_or(false),
            tests_passed: passed,
            tests_total: passed + failed,
        });
    }
    Ok(SampleOutcome {
        resolved: false,
        tests_passed: 0,
        tests_total: 0,
    })
}
