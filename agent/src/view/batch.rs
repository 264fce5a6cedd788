//! A `bench run` output folder as one table: each instance (and sample) with its outcome, cost,
//! steps, time and end reason, graded by an evaluation run when one is named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use agent_harness::InstanceReport;
use agent_harness::report::instance_log_dir;

use super::ViewError;
use super::trajectory::{duration_ms, money};
use crate::trajectory::{self, Event};

/// An evaluation run whose reports grade the rows.
#[derive(Debug, Clone)]
pub struct EvalRun {
    pub run_id: String,
    /// The directory `bench eval --log-dir` wrote `logs/` under.
    pub log_dir: PathBuf,
}

#[derive(Debug, Default, Serialize)]
pub struct BatchPage {
    pub title: String,
    pub run_id: Option<String>,
    pub rows: Vec<BatchRow>,
    pub totals: Totals,
}

#[derive(Debug, Default, Serialize)]
pub struct Totals {
    pub rows: usize,
    pub resolved: usize,
    pub unresolved: usize,
    pub error: usize,
    pub empty: usize,
    pub submitted: usize,
    pub unfinished: usize,
    pub cost: String,
    pub steps: u64,
    pub duration: String,
}

#[derive(Debug, Default, Serialize)]
pub struct BatchRow {
    pub id: String,
    pub sample: Option<usize>,
    /// resolved, unresolved, error, empty, submitted (not graded) or unfinished.
    pub status: String,
    pub cost: f64,
    pub cost_text: String,
    pub steps: u32,
    pub duration_ms: u64,
    pub duration: String,
    pub end_reason: String,
    /// The trajectory file, when there is one.
    #[serde(skip)]
    pub trajectory: Option<PathBuf>,
    /// The trajectory page, relative to the batch page.
    pub link: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PredictionLine {
    instance_id: String,
    #[serde(default)]
    model_name_or_path: String,
    #[serde(default)]
    model_patch: Option<String>,
    #[serde(default)]
    cost_usd: Option<f64>,
}

/// (instance id, sample) → prediction, from `predictions.jsonl` and `samples/<k>/predictions.jsonl`.
fn read_predictions(
    dir: &Path,
) -> Result<BTreeMap<(String, Option<usize>), PredictionLine>, ViewError> {
    let mut files = vec![(dir.join("predictions.jsonl"), None)];
    if let Ok(entries) = std::fs::read_dir(dir.join("samples")) {
        for entry in entries.flatten() {
            if let Some(k) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<usize>().ok())
            {
                files.push((entry.path().join("predictions.jsonl"), Some(k)));
            }
        }
    }
    let mut predictions = BTreeMap::new();
    for (path, sample) in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            // A line cut short by a crash is skipped, as `bench run` does on resume.
            if let Ok(p) = serde_json::from_str::<PredictionLine>(line) {
                predictions.insert((p.instance_id.clone(), sample), p);
            }
        }
    }
    Ok(predictions)
}

/// `<id>.traj.json` → (id, None); `<id>.s<k>.traj.json` → (id, Some(k)).
fn trajectory_key(file_name: &str) -> Option<(String, Option<usize>)> {
    let stem = file_name.strip_suffix(".traj.json")?;
    if let Some((id, k)) = stem.rsplit_once(".s")
        && let Ok(k) = k.parse::<usize>()
    {
        return Some((id.to_string(), Some(k)));
    }
    Some((stem.to_string(), None))
}

fn read_trajectories(dir: &Path) -> BTreeMap<(String, Option<usize>), PathBuf> {
    let mut found = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(dir.join("trajectories")) {
        for entry in entries.flatten() {
            if let Some(key) = entry.file_name().to_str().and_then(trajectory_key) {
                found.insert(key, entry.path());
            }
        }
    }
    found
}

/// What the end event says: (end reason, steps, cost, duration), or the steps seen so far.
fn summarize(path: &Path) -> (String, u32, Option<f64>, u64) {
    let Ok(events) = trajectory::read(path) else {
        return ("unreadable trajectory".into(), 0, None, 0);
    };
    let mut last_step = 0;
    for event in events.iter().rev() {
        match event {
            Event::End {
                exit_reason,
                steps,
                cost_usd,
                duration_ms,
                ..
            } => return (exit_reason.clone(), *steps, *cost_usd, *duration_ms),
            Event::ModelResponse { step, .. } | Event::StepTiming { step, .. } => {
                last_step = last_step.max(*step);
            }
            _ => {}
        }
    }
    ("unfinished".into(), last_step, None, 0)
}

fn graded(eval: &EvalRun, prediction: &PredictionLine) -> &'static str {
    let empty = prediction
        .model_patch
        .as_deref()
        .is_none_or(|p| p.trim().is_empty());
    if empty {
        return "empty";
    }
    let dir = instance_log_dir(
        &eval.log_dir,
        &eval.run_id,
        &prediction.model_name_or_path,
        &prediction.instance_id,
    );
    match std::fs::read_to_string(dir.join("report.json")) {
        Ok(text) => match InstanceReport::read_resolved(&text, &prediction.instance_id) {
            Some(true) => "resolved",
            Some(false) => "unresolved",
            None => "error",
        },
        // Evaluated (it has a log) but no report: the evaluation ended in error.
        Err(_) if dir.exists() => "error",
        Err(_) => "not evaluated",
    }
}

/// Reads a `bench run --output DIR` folder.
pub fn build(dir: &Path, eval: Option<&EvalRun>) -> Result<BatchPage, ViewError> {
    if !dir.join("predictions.jsonl").is_file()
        && !dir.join("trajectories").is_dir()
        && !dir.join("samples").is_dir()
    {
        return Err(ViewError::NotABatch(dir.to_path_buf()));
    }
    let predictions = read_predictions(dir)?;
    let trajectories = read_trajectories(dir);
    let mut keys: Vec<(String, Option<usize>)> = predictions
        .keys()
        .chain(trajectories.keys())
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    let mut page = BatchPage {
        title: dir.display().to_string(),
        run_id: eval.map(|e| e.run_id.clone()),
        ..BatchPage::default()
    };
    let mut cost_total = 0.0;
    let mut cost_known = false;
    let mut duration_total = 0u64;
    for (id, sample) in keys {
        let key = (id.clone(), sample);
        let trajectory = trajectories.get(&key).cloned();
        let (end_reason, steps, traj_cost, duration) = match &trajectory {
            Some(path) => summarize(path),
            None => ("no trajectory".into(), 0, None, 0),
        };
        let prediction = predictions.get(&key);
        let cost = traj_cost.or(prediction.and_then(|p| p.cost_usd));
        let status = match (prediction, eval) {
            (None, _) => "unfinished",
            (Some(p), Some(eval)) => graded(eval, p),
            (Some(p), None) if p.model_patch.as_deref().is_none_or(|x| x.trim().is_empty()) => {
                "empty"
            }
            (Some(_), None) => "submitted",
        };
        match status {
            "resolved" => page.totals.resolved += 1,
            "unresolved" => page.totals.unresolved += 1,
            "error" => page.totals.error += 1,
            "empty" => page.totals.empty += 1,
            "submitted" => page.totals.submitted += 1,
            _ => page.totals.unfinished += 1,
        }
        if let Some(c) = cost {
            cost_total += c;
            cost_known = true;
        }
        duration_total += duration;
        page.totals.steps += u64::from(steps);
        page.rows.push(BatchRow {
            id,
            sample,
            status: status.to_string(),
            cost: cost.unwrap_or(0.0),
            cost_text: money(cost),
            steps,
            duration_ms: duration,
            duration: duration_ms(duration as f64),
            end_reason,
            trajectory,
            link: None,
        });
    }
    page.totals.rows = page.rows.len();
    page.totals.cost = money(cost_known.then_some(cost_total));
    page.totals.duration = duration_ms(duration_total as f64);
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trajectory_names_give_instance_and_sample() {
        assert_eq!(
            trajectory_key("a__b-1.traj.json"),
            Some(("a__b-1".into(), None))
        );
        assert_eq!(
            trajectory_key("a__b-1.s2.traj.json"),
            Some(("a__b-1".into(), Some(2)))
        );
        assert_eq!(trajectory_key("notes.txt"), None);
    }
}
