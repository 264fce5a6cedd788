//! `bench run --samples K --select`: once an instance has all K samples, [`crate::select`]
//! chooses one, checking every candidate in a fresh copy of the instance's `/testbed` with a
//! sandbox from its image (network off). The chosen prediction goes to `DIR/predictions.jsonl`
//! (one per instance, what `bench eval` grades), the selection's record to
//! `DIR/selection/<instance_id>.json`; the samples stay in `samples/<k>/` for pass@k.
//!
//! A sample's reproduction and how its run ended are kept beside its trajectory
//! (`<trajectory>.attempt.json`, written when the sample finishes), so a rerun that only has
//! selection left to do has them too.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use agent_containers::{DockerSandbox, SandboxConfig};
use agent_harness::context::BenchContext;
use agent_harness::prediction_log::{PredictionLine, PredictionsLog};
use agent_harness::{Dataset, HarnessError, Instance};

use super::layout::RunLayout;
use super::prepare::prepare_at;
use crate::config::Config;
use crate::fix::FixReport;
use crate::printer::Printer;
use crate::prompts::Prompts;
use crate::select::{self, Attempt, Environment, SelectError, Selection};
use crate::session::Reproduction;

/// How a sample's run ended and its reproduction, kept for the selection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub exit_reason: String,
    #[serde(default)]
    pub reproduction: Option<Reproduction>,
}

/// `x.traj.json` → `x.traj.attempt.json`.
pub fn attempt_record_path(trajectory: &Path) -> PathBuf {
    trajectory.with_extension("attempt.json")
}

/// Writes a finished sample's [`AttemptRecord`] beside its trajectory.
pub fn save_attempt(trajectory: &Path, report: &FixReport) -> std::io::Result<()> {
    let record = AttemptRecord {
        exit_reason: report.outcome.exit_reason.as_str().to_string(),
        reproduction: report.outcome.reproduction.clone(),
    };
    let text = serde_json::to_string(&record).map_err(std::io::Error::other)?;
    std::fs::write(attempt_record_path(trajectory), text)
}

/// Where the chosen predictions go.
pub fn selected_path(layout: &RunLayout) -> PathBuf {
    layout.root.join("predictions.jsonl")
}

/// Where an instance's selection record goes.
pub fn record_path(layout: &RunLayout, instance_id: &str) -> PathBuf {
    layout
        .root
        .join("selection")
        .join(format!("{instance_id}.json"))
}

pub struct SelectBatchRequest<'a> {
    pub ctx: &'a BenchContext,
    pub dataset: &'a Dataset,
    pub layout: &'a RunLayout,
    pub config: &'a Config,
    /// Candidates checked at the same time.
    pub workers: usize,
    pub setup_timeout: Duration,
    pub printer: &'a Printer,
}

#[derive(Debug, Default)]
pub struct SelectBatchSummary {
    /// Instances whose choice this run wrote.
    pub selected: usize,
    /// Instances chosen by an earlier run.
    pub already: usize,
    /// Instances still missing samples (a rerun makes them, then selects).
    pub waiting: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchSelectError {
    #[error(transparent)]
    Predictions(#[from] HarnessError),
    #[error("cannot write the selection record {path}: {message}")]
    Record { path: PathBuf, message: String },
    #[error("cannot prepare the judge: {0}")]
    Judge(String),
}

/// Selects one sample for every instance that has all its samples and no choice yet.
pub async fn select_batch(
    request: &SelectBatchRequest<'_>,
) -> Result<SelectBatchSummary, BenchSelectError> {
    let layout = request.layout;
    let (mut log, done) = PredictionsLog::open(&selected_path(layout))?;
    let mut samples = Vec::new();
    for k in 0..layout.samples {
        samples.push(PredictionsLog::open(&layout.predictions_path(k))?.1);
    }
    let mut summary = SelectBatchSummary::default();
    let model = crate::fix::model_client(request.config)
        .map_err(|e| BenchSelectError::Judge(format!("{e:#}")))?;
    let prompts = Prompts::load(request.config.prompts_dir.as_deref())
        .map_err(|e| BenchSelectError::Judge(e.to_string()))?;
    let registry = registry(request.config);
    let context_window = crate::run::run_shape(request.config).await.context_window;
    for instance in &request.dataset.instances {
        let id = &instance.instance_id;
        if done.contains_key(id) {
            summary.already += 1;
            continue;
        }
        let lines: Option<Vec<&PredictionLine>> = samples.iter().map(|s| s.get(id)).collect();
        let Some(lines) = lines else {
            summary.waiting.push(id.clone());
            continue;
        };
        let attempts = attempts(layout, id, &lines);
        let copies = InstanceCopies {
            ctx: request.ctx,
            instance,
            dir: layout.root.join("workspaces"),
            setup_timeout: request.setup_timeout,
            image: tokio::sync::Mutex::new(None),
        };
        let selection = select::select(select::SelectRequest {
            task: &instance.problem_statement,
            attempts: &attempts,
            environment: &copies,
            registry: &registry,
            model: &model,
            prompts: &prompts,
            context_window,
            workers: request.workers,
        })
        .await;
        write_record(layout, id, &selection)?;
        log.append(&PredictionLine {
            instance_id: id.clone(),
            model_name_or_path: request.config.model.clone(),
            model_patch: Some(selection.chosen_diff().to_string()),
            // The samples' and the judge's.
            cost_usd: Some(
                lines.iter().filter_map(|l| l.cost_usd).sum::<f64>()
                    + request
                        .config
                        .price()
                        .map_or(0.0, |p| p.cost_of(selection.usage)),
            ),
            sample: selection.chosen,
        })?;
        summary.selected += 1;
        request.printer.status(&match selection.chosen {
            Some(k) => format!(
                "{id}: sample {k} chosen ({}): {}",
                selection.decided_by.replace('_', " "),
                selection.reasons.join("; ")
            ),
            None => format!(
                "{id}: no sample chosen: {}; its prediction is empty",
                selection.reasons.join("; ")
            ),
        });
    }
    Ok(summary)
}

fn registry(config: &Config) -> agent_tools::ToolRegistry {
    let mut registry = agent_tools::builtin::default_registry();
    if let Some(command) = &config.test_command {
        registry.register(agent_tools::testing::RunTests::with_command(
            command.clone(),
        ));
    }
    registry
}

/// The samples as attempts; attempt numbers are the sample numbers.
fn attempts(layout: &RunLayout, id: &str, lines: &[&PredictionLine]) -> Vec<Attempt> {
    lines
        .iter()
        .enumerate()
        .map(|(k, line)| {
            let trajectory = layout.trajectory_path(id, k);
            let record: Option<AttemptRecord> =
                std::fs::read_to_string(attempt_record_path(&trajectory))
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok());
            Attempt {
                number: k,
                diff: line.model_patch.clone().unwrap_or_default(),
                exit_reason: record
                    .as_ref()
                    .map_or_else(|| "unknown".into(), |r| r.exit_reason.clone()),
                reproduction: record.and_then(|r| r.reproduction),
                trajectory: Some(trajectory),
            }
        })
        .collect()
}

fn write_record(
    layout: &RunLayout,
    id: &str,
    selection: &Selection,
) -> Result<(), BenchSelectError> {
    let path = record_path(layout, id);
    let fail = |message: String| BenchSelectError::Record {
        path: path.clone(),
        message,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    }
    let text = serde_json::to_string_pretty(selection).map_err(|e| fail(e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| fail(e.to_string()))
}

/// Fresh copies of an instance's `/testbed` (`workspaces/<id>.<label>`) and sandboxes from its
/// image over them.
struct InstanceCopies<'a> {
    ctx: &'a BenchContext,
    instance: &'a Instance,
    dir: PathBuf,
    setup_timeout: Duration,
    /// The instance image and where it mounts the workspace, from the first copy.
    image: tokio::sync::Mutex<Option<(String, String)>>,
}

#[async_trait]
impl Environment for InstanceCopies<'_> {
    async fn checkout(&self, label: &str) -> Result<PathBuf, SelectError> {
        let dest = self
            .dir
            .join(format!("{}.{label}", self.instance.instance_id));
        let copy = prepare_at(self.ctx, self.instance, &dest, self.setup_timeout)
            .await
            .map_err(|e| SelectError::Checkout {
                label: label.to_string(),
                message: e.to_string(),
            })?;
        *self.image.lock().await = Some((copy.image, copy.mount));
        Ok(copy.path)
    }

    async fn sandbox(&self, root: &Path) -> Result<select::Sandbox, SelectError> {
        let fail = |message: String| SelectError::Sandbox {
            label: root.display().to_string(),
            message,
        };
        let Some((image, mount)) = self.image.lock().await.clone() else {
            return Err(fail("no copy of the instance was made".into()));
        };
        let sandbox = DockerSandbox::create_on(
            &self.ctx.engine(),
            SandboxConfig::new(image)
                .workspace(root)
                .mount_workspace_at(mount)
                .network(false)
                .run_id(format!("select-{}", self.instance.instance_id)),
        )
        .await
        .map_err(|e| fail(e.to_string()))?;
        let sandbox = Arc::new(sandbox);
        Ok(select::Sandbox {
            executor: sandbox.clone(),
            container: Some(sandbox),
        })
    }

    async fn discard(&self, root: &Path) {
        if root.starts_with(&self.dir) {
            let _ = tokio::fs::remove_dir_all(root).await;
        }
    }
}
