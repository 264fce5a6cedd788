//! What earlier runs left in `--output DIR`, read once before the first instance: each sample's
//! predictions file (opened for appending in the same read, a line cut by a crash dropped) and
//! the environment errors. Everything the batch needs to resume is computed from this.

use std::collections::HashSet;

use agent_harness::prediction_log::{DoneLines, PredictionsLog};
use agent_harness::{Dataset, HarnessError, Instance};

use super::error::OutputError;
use super::layout::{EnvError, RunLayout};

/// The output folder as the batch found it.
pub struct Resume {
    /// One per sample, ready to append to.
    pub logs: Vec<PredictionsLog>,
    /// The complete lines of each sample's file.
    pub done: Vec<DoneLines>,
    /// Recorded environment errors (not retried).
    pub env_errors: Vec<EnvError>,
}

/// The output folder could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error(transparent)]
    Predictions(#[from] HarnessError),
    #[error(transparent)]
    Output(#[from] OutputError),
}

impl Resume {
    /// Reads `layout`'s files: each predictions file once, and `env_errors.jsonl`.
    pub fn open(layout: &RunLayout) -> Result<Self, ResumeError> {
        let mut logs = Vec::with_capacity(layout.samples);
        let mut done = Vec::with_capacity(layout.samples);
        for sample in 0..layout.samples {
            let (log, lines) = PredictionsLog::open(&layout.predictions_path(sample))?;
            logs.push(log);
            done.push(lines);
        }
        Ok(Self {
            logs,
            done,
            env_errors: layout.env_errors()?,
        })
    }

    /// (instance, sample) pairs without a prediction or an environment error yet, in dataset
    /// order.
    pub fn pending<'a>(&self, dataset: &'a Dataset) -> Vec<(&'a Instance, usize)> {
        let env_errors: HashSet<(&str, usize)> = self
            .env_errors
            .iter()
            .map(|e| (e.instance_id.as_str(), e.sample))
            .collect();
        let mut pending = Vec::new();
        for instance in &dataset.instances {
            for (sample, done) in self.done.iter().enumerate() {
                let id = instance.instance_id.as_str();
                if !done.contains_key(id) && !env_errors.contains(&(id, sample)) {
                    pending.push((instance, sample));
                }
            }
        }
        pending
    }

    /// Total `cost_usd` of the predictions already written (for `--max-cost-total`).
    pub fn cost_so_far(&self) -> f64 {
        self.lines().map(|line| line.cost_usd.unwrap_or(0.0)).sum()
    }

    /// Predictions already written with a non-empty patch.
    pub fn submitted_so_far(&self) -> usize {
        self.lines().filter(|line| line.submitted()).count()
    }

    fn lines(&self) -> impl Iterator<Item = &agent_harness::prediction_log::PredictionLine> {
        self.done.iter().flat_map(|lines| lines.values())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::Path;

    use agent_harness::prediction_log::PredictionLine;

    use super::*;

    fn line(id: &str, cost: f64, patch: &str) -> PredictionLine {
        PredictionLine {
            instance_id: id.into(),
            model_name_or_path: "m".into(),
            model_patch: Some(patch.into()),
            cost_usd: Some(cost),
            sample: None,
        }
    }

    fn dataset(dir: &Path, ids: &[&str]) -> Dataset {
        let path = dir.join("d.jsonl");
        let text: String = ids
            .iter()
            .map(|id| {
                format!(
                    "{}\n",
                    serde_json::json!({"instance_id": id, "repo": "o/r", "base_commit": "a",
                        "version": "1", "test_patch": ""})
                )
            })
            .collect();
        std::fs::write(&path, text).unwrap();
        Dataset::load(&path).unwrap()
    }

    #[test]
    fn a_killed_run_resumes_with_its_cut_line_redone() {
        let dir = tempfile::tempdir().unwrap();
        let layout = RunLayout::new(dir.path().join("out"), 1);
        let ds = dataset(dir.path(), &["a-1", "a-2", "a-3"]);
        {
            let mut resume = Resume::open(&layout).unwrap();
            assert_eq!(resume.pending(&ds).len(), 3);
            resume.logs[0].append(&line("a-1", 0.5, "diff\n")).unwrap();
        }
        let mut partial = std::fs::OpenOptions::new()
            .append(true)
            .open(layout.predictions_path(0))
            .unwrap();
        partial
            .write_all(b"{\"instance_id\":\"a-2\",\"model_na")
            .unwrap();
        drop(partial);
        let mut resume = Resume::open(&layout).unwrap();
        let pending: Vec<&str> = resume
            .pending(&ds)
            .iter()
            .map(|(i, _)| i.instance_id.as_str())
            .collect();
        assert_eq!(pending, vec!["a-2", "a-3"]);
        resume.logs[0].append(&line("a-2", 0.25, "")).unwrap();
        let resume = Resume::open(&layout).unwrap();
        assert!((resume.cost_so_far() - 0.75).abs() < 1e-12);
        assert_eq!(resume.submitted_so_far(), 1);
        let text = std::fs::read_to_string(layout.predictions_path(0)).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
    }

    #[test]
    fn samples_and_env_errors_count_apart() {
        let dir = tempfile::tempdir().unwrap();
        let layout = RunLayout::new(dir.path().join("out"), 3);
        let ds = dataset(dir.path(), &["a-1", "a-2"]);
        {
            let mut resume = Resume::open(&layout).unwrap();
            resume.logs[1].append(&line("a-2", 1.0, "diff\n")).unwrap();
        }
        layout
            .record_env_error(&EnvError {
                instance_id: "a-1".into(),
                sample: 2,
                reason: "no".into(),
            })
            .unwrap();
        let resume = Resume::open(&layout).unwrap();
        let pending: Vec<(&str, usize)> = resume
            .pending(&ds)
            .iter()
            .map(|(i, s)| (i.instance_id.as_str(), *s))
            .collect();
        assert_eq!(
            pending,
            vec![("a-1", 0), ("a-1", 1), ("a-2", 0), ("a-2", 2)]
        );
    }
}
