//! `agent bench merge`: the outputs of `--shard I/N` runs (one folder per shard) into one
//! folder, as if one unsharded run had written it: one predictions file per sample, the
//! trajectories, the environment errors, the evaluation logs and reports, and one summary per
//! evaluation run, recomputed over the whole dataset.
//!
//! Merging is idempotent (merging again, or into a folder that already holds a merge, changes
//! nothing) and refuses conflicts: the same instance with different predictions or different
//! evaluation reports in two places is an error naming both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::dataset::Dataset;
use crate::error::{HarnessError, IoContext, Result};
use crate::grading::HarnessVersion;
use crate::predictions::Predictions;
use crate::report::{LOG_REPORT, RunSummary};

/// What to merge and how.
#[derive(Debug, Clone)]
pub struct MergeRequest {
    /// The shards' folders: each a `bench run --output` folder and/or the `--log-dir` and
    /// `--report-dir` of a `bench eval`.
    pub shards: Vec<PathBuf>,
    pub output: PathBuf,
    /// The whole dataset (as selected by `--instances`): totals and order come from it.
    pub dataset: Dataset,
    /// The predictions the evaluations graded (`gold` or a file); by default the merged
    /// `predictions.jsonl`, or gold for runs whose logs are under `gold`.
    pub predictions: Option<String>,
    pub harness_version: HarnessVersion,
}

/// What a merge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeOutcome {
    /// Predictions files written, with their line counts.
    pub predictions: Vec<(PathBuf, usize)>,
    pub trajectories: usize,
    pub env_errors: usize,
    /// Instance report folders merged, per evaluation run id.
    pub reports: BTreeMap<String, usize>,
    /// Summary files written.
    pub summaries: Vec<PathBuf>,
}

pub fn merge(request: &MergeRequest) -> Result<MergeOutcome> {
    if request.shards.is_empty() {
        return Err(HarnessError::Invalid(
            "bench merge needs at least one shard folder".into(),
        ));
    }
    for shard in &request.shards {
        if !shard.is_dir() {
            return Err(HarnessError::Invalid(format!(
                "shard folder {} does not exist",
                shard.display()
            )));
        }
    }
    std::fs::create_dir_all(&request.output)
        .context(|| format!("cannot create {}", request.output.display()))?;
    let mut outcome = MergeOutcome::default();
    for relative in predictions_files(&request.shards) {
        let lines = merge_predictions(request, &relative)?;
        outcome
            .predictions
            .push((request.output.join(&relative), lines));
    }
    outcome.trajectories = merge_tree(request, Path::new("trajectories"), &|_| true)?;
    outcome.env_errors = merge_env_errors(request)?;
    for run_id in evaluation_runs(&request.shards)? {
        let run_dir = Path::new("logs").join("run_evaluation").join(&run_id);
        let count = merge_tree(request, &run_dir, &|p| p.ends_with(LOG_REPORT))?;
        outcome.reports.insert(run_id.clone(), count);
        outcome.summaries.extend(write_summaries(request, &run_id)?);
    }
    Ok(outcome)
}

/// `predictions.jsonl` and `samples/<k>/predictions.jsonl`, relative, wherever a shard has one.
fn predictions_files(shards: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = std::collections::BTreeSet::new();
    for shard in shards {
        if shard.join("predictions.jsonl").is_file() {
            found.insert(PathBuf::from("predictions.jsonl"));
        }
        if let Ok(samples) = std::fs::read_dir(shard.join("samples")) {
            for sample in samples.flatten() {
                let relative = Path::new("samples")
                    .join(sample.file_name())
                    .join("predictions.jsonl");
                if shard.join(&relative).is_file() {
                    found.insert(relative);
                }
            }
        }
    }
    found.into_iter().collect()
}

/// The complete lines of a predictions file by instance id, with where each came from.
fn read_lines(path: &Path, into: &mut BTreeMap<String, (Value, PathBuf)>) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(HarnessError::io(
                format!("cannot read {}", path.display()),
                e,
            ));
        }
    };
    // A line after the last newline was cut by a crash and never acknowledged.
    let complete = text.rfind('\n').map_or("", |i| &text[..=i]);
    for (index, line) in complete.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|e| HarnessError::Row {
            path: path.to_path_buf(),
            row: index + 1,
            field: "(line)".into(),
            message: format!("not a prediction: {e}"),
        })?;
        let id = value["instance_id"]
            .as_str()
            .ok_or_else(|| HarnessError::Row {
                path: path.to_path_buf(),
                row: index + 1,
                field: "instance_id".into(),
                message: "missing".into(),
            })?
            .to_string();
        match into.get(&id) {
            Some((earlier, _)) if earlier == &value => {}
            Some((_, from)) if from != path => {
                return Err(conflict("predictions", &id, from, path));
            }
            // A rerun's later line for the same id replaces the earlier one, as SWE-bench
            // loads a file.
            _ => {
                into.insert(id, (value, path.to_path_buf()));
            }
        }
    }
    Ok(())
}

fn conflict(what: &str, id: &str, a: &Path, b: &Path) -> HarnessError {
    HarnessError::Invalid(format!(
        "conflicting {what} for {id}: {} and {} differ; an instance must be in one shard only \
         (were the shards made with different --shard N or datasets?). Remove the wrong one \
         and merge again",
        a.display(),
        b.display()
    ))
}

fn merge_predictions(request: &MergeRequest, relative: &Path) -> Result<usize> {
    let target = request.output.join(relative);
    let mut lines = BTreeMap::new();
    read_lines(&target, &mut lines)?;
    for shard in &request.shards {
        let path = shard.join(relative);
        if path != target {
            read_lines(&path, &mut lines)?;
        }
    }
    let order: BTreeMap<&str, usize> = request
        .dataset
        .instances
        .iter()
        .enumerate()
        .map(|(i, inst)| (inst.instance_id.as_str(), i))
        .collect();
    let mut ordered: Vec<(&String, &Value)> = lines.iter().map(|(id, (v, _))| (id, v)).collect();
    ordered.sort_by_key(|(id, _)| (order.get(id.as_str()).copied().unwrap_or(usize::MAX), *id));
    let mut text = String::new();
    for (_, value) in &ordered {
        text.push_str(&value.to_string());
        text.push('\n');
    }
    write_atomically(&target, text.as_bytes())?;
    Ok(ordered.len())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).context(|| format!("cannot create {}", dir.display()))?;
    }
    let staging = path.with_extension(format!("merge-{}", std::process::id()));
    std::fs::write(&staging, bytes).context(|| format!("cannot write {}", staging.display()))?;
    std::fs::rename(&staging, path).context(|| format!("cannot write {}", path.display()))
}

/// Copies every file under `relative` of each shard into the output. A file already there
/// with the same content is left alone; with other content it is a conflict when `strict`
/// says so for that file (reports), else the first one stays (logs with timings). Returns the
/// number of folders or files merged at the first level below `relative`.
fn merge_tree(
    request: &MergeRequest,
    relative: &Path,
    strict: &dyn Fn(&Path) -> bool,
) -> Result<usize> {
    let mut entries = std::collections::BTreeSet::new();
    for shard in &request.shards {
        let root = shard.join(relative);
        if !root.is_dir() || root == request.output.join(relative) {
            continue;
        }
        for file in files_under(&root)? {
            let inside = file.strip_prefix(&root).unwrap_or(&file).to_path_buf();
            let top = first_levels(&inside, relative);
            let target = request.output.join(relative).join(&inside);
            let bytes =
                std::fs::read(&file).context(|| format!("cannot read {}", file.display()))?;
            match std::fs::read(&target) {
                Ok(existing) if existing == bytes => {}
                Ok(_) if strict(&target) => {
                    return Err(conflict(
                        "results",
                        &inside.display().to_string(),
                        &target,
                        &file,
                    ));
                }
                Ok(_) => {}
                Err(_) => write_atomically(&target, &bytes)?,
            }
            entries.insert(top);
        }
    }
    Ok(entries.len())
}

/// Trajectories count by file; reports by `MODEL/INSTANCE` folder.
fn first_levels(inside: &Path, relative: &Path) -> PathBuf {
    let depth = if relative.starts_with("logs") { 2 } else { 1 };
    inside.components().take(depth).collect()
}

fn files_under(root: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).context(|| format!("cannot read {}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => files.push(path),
                _ => {}
            }
        }
    }
    files.sort();
    Ok(files)
}

/// `env_errors.jsonl` of every shard (and of an earlier merge), one line per (instance,
/// sample): the first seen stays.
fn merge_env_errors(request: &MergeRequest) -> Result<usize> {
    const ENV_ERRORS: &str = "env_errors.jsonl";
    let mut seen: BTreeMap<(String, u64), Value> = BTreeMap::new();
    for root in std::iter::once(&request.output).chain(&request.shards) {
        let path = root.join(ENV_ERRORS);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for value in text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        {
            let Some(id) = value["instance_id"].as_str() else {
                continue;
            };
            let sample = value["sample"].as_u64().unwrap_or(0);
            seen.entry((id.to_string(), sample)).or_insert(value);
        }
    }
    if seen.is_empty() {
        return Ok(0);
    }
    let mut text = String::new();
    for value in seen.values() {
        text.push_str(&value.to_string());
        text.push('\n');
    }
    write_atomically(&request.output.join(ENV_ERRORS), text.as_bytes())?;
    Ok(seen.len())
}

/// Run ids under `logs/run_evaluation/` in any shard.
fn evaluation_runs(shards: &[PathBuf]) -> Result<Vec<String>> {
    let mut runs = std::collections::BTreeSet::new();
    for shard in shards {
        let Ok(entries) = std::fs::read_dir(shard.join("logs").join("run_evaluation")) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir())
                && let Some(name) = entry.file_name().to_str()
            {
                runs.insert(name.to_string());
            }
        }
    }
    Ok(runs.into_iter().collect())
}

/// One summary per model folder of `run_id`, over the whole dataset.
fn write_summaries(request: &MergeRequest, run_id: &str) -> Result<Vec<PathBuf>> {
    let run_dir = request
        .output
        .join("logs")
        .join("run_evaluation")
        .join(run_id);
    let mut written = Vec::new();
    let models =
        std::fs::read_dir(&run_dir).context(|| format!("cannot read {}", run_dir.display()))?;
    for model in models.flatten() {
        let Some(model_dir) = model.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let predictions = match (&request.predictions, model_dir.as_str()) {
            (Some(source), _) => Predictions::load(source, &request.dataset)?,
            (None, "gold") => Predictions::gold(&request.dataset),
            (None, _) => {
                let path = request.output.join("predictions.jsonl");
                if !path.is_file() {
                    return Err(HarnessError::Invalid(format!(
                        "the evaluation {run_id} graded `{model_dir}`, but no merged \
                         predictions.jsonl exists to count it against; pass --predictions FILE"
                    )));
                }
                Predictions::from_file(&path)?
            }
        };
        let mut summary =
            RunSummary::collect(&request.output, run_id, &request.dataset, &predictions);
        if request.harness_version == HarnessVersion::V5 {
            summary.classify_failures(&request.output, run_id, &predictions);
        }
        let model = predictions.model_name().unwrap_or("None");
        written.push(summary.write(&request.output, model, run_id)?);
    }
    Ok(written)
}
