//! Where a batch writes under `--output DIR`, and the record of environment errors.
//!
//! - `predictions.jsonl` (one sample) or `samples/<k>/predictions.jsonl` (k = 0..K): SWE-bench
//!   predictions, one line per finished instance, fsynced; extra keys `cost_usd` and `sample`
//!   are ignored by SWE-bench loaders.
//! - `trajectories/<instance_id>.traj.json` (or `.../<instance_id>.s<k>.traj.json`).
//! - `workspaces/<instance_id>[.s<k>]/`: the repository the agent edits.
//! - `env_errors.jsonl`: (instance, sample, reason) whose environment could not be built.

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::OutputError;

/// Paths under `--output DIR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLayout {
    pub root: PathBuf,
    /// K in `--samples K` (1 = the plain SWE-bench layout).
    pub samples: usize,
}

/// An instance whose environment (environment image, instance image, or the copy of its
/// repository) could not be made: no agent ran, no prediction was written. A rerun does not
/// try it again unless asked (`--retry-env-errors`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvError {
    pub instance_id: String,
    pub sample: usize,
    pub reason: String,
}

impl RunLayout {
    pub fn new(root: impl Into<PathBuf>, samples: usize) -> Self {
        Self {
            root: root.into(),
            samples: samples.max(1),
        }
    }

    pub fn predictions_path(&self, sample: usize) -> PathBuf {
        if self.samples == 1 {
            self.root.join("predictions.jsonl")
        } else {
            self.root
                .join("samples")
                .join(sample.to_string())
                .join("predictions.jsonl")
        }
    }

    /// `.s<k>` with several samples, nothing with one.
    pub fn suffix(&self, sample: usize) -> String {
        if self.samples == 1 {
            String::new()
        } else {
            format!(".s{sample}")
        }
    }

    pub fn trajectory_path(&self, instance_id: &str, sample: usize) -> PathBuf {
        self.root
            .join("trajectories")
            .join(format!("{instance_id}{}.traj.json", self.suffix(sample)))
    }

    pub fn workspace_path(&self, instance_id: &str, sample: usize) -> PathBuf {
        self.root
            .join("workspaces")
            .join(format!("{instance_id}{}", self.suffix(sample)))
    }

    /// Environment errors of earlier runs: one JSON object a line.
    pub fn env_errors_path(&self) -> PathBuf {
        self.root.join("env_errors.jsonl")
    }

    /// The recorded environment errors (missing file: none; a line cut by a crash is ignored).
    pub fn env_errors(&self) -> Result<Vec<EnvError>, OutputError> {
        let path = self.env_errors_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(OutputError::new("cannot read", path, e)),
        };
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// Forgets the recorded environment errors, so that this run tries those instances again.
    /// Returns how many there were.
    pub fn clear_env_errors(&self) -> Result<usize, OutputError> {
        let count = self.env_errors()?.len();
        let path = self.env_errors_path();
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(count),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(OutputError::new("cannot remove", path, e)),
        }
    }

    /// Appends one environment error (fsynced).
    pub fn record_env_error(&self, error: &EnvError) -> Result<(), OutputError> {
        let path = self.env_errors_path();
        std::fs::create_dir_all(&self.root)
            .map_err(|e| OutputError::new("cannot create", self.root.clone(), e))?;
        let mut text = serde_json::to_string(error).unwrap_or_default();
        text.push('\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| OutputError::new("cannot open", path.clone(), e))?;
        file.write_all(text.as_bytes())
            .and_then(|_| file.sync_data())
            .map_err(|e| OutputError::new("cannot append to", path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_have_their_own_files() {
        let dir = tempfile::tempdir().unwrap();
        let layout = RunLayout::new(dir.path(), 3);
        assert!(
            layout
                .predictions_path(2)
                .ends_with("samples/2/predictions.jsonl")
        );
        assert!(
            layout
                .trajectory_path("a-1", 2)
                .ends_with("trajectories/a-1.s2.traj.json")
        );
        let single = RunLayout::new(dir.path(), 1);
        assert_eq!(
            single.predictions_path(0),
            dir.path().join("predictions.jsonl")
        );
        assert!(
            single
                .trajectory_path("a-1", 0)
                .ends_with("trajectories/a-1.traj.json")
        );
    }

    #[test]
    fn env_errors_are_recorded_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let layout = RunLayout::new(dir.path().join("out"), 1);
        assert!(layout.env_errors().unwrap().is_empty());
        let error = EnvError {
            instance_id: "a-1".into(),
            sample: 0,
            reason: "install failed".into(),
        };
        layout.record_env_error(&error).unwrap();
        assert_eq!(layout.env_errors().unwrap(), vec![error]);
        assert_eq!(layout.clear_env_errors().unwrap(), 1);
        assert!(layout.env_errors().unwrap().is_empty());
        assert_eq!(layout.clear_env_errors().unwrap(), 0);
    }
}
