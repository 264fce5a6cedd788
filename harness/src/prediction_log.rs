//! The predictions file as a run writes it: SWE-bench's `.jsonl` format (one prediction a line,
//! extra keys `cost_usd` and `sample` that SWE-bench loaders ignore), appended a whole line at a
//! time and fsynced, so that a process killed at any point leaves a file every loader reads.
//!
//! [`PredictionsLog::open`] reads the file once: it drops a line that a crash cut short (it was
//! never acknowledged, so its instance is still to do) and hands back the complete lines.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{HarnessError, IoContext, Result};

/// One line of a predictions file as a run writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionLine {
    pub instance_id: String,
    pub model_name_or_path: String,
    pub model_patch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<usize>,
}

impl PredictionLine {
    /// Whether the line holds a patch (an empty or null patch is no submission).
    pub fn submitted(&self) -> bool {
        self.model_patch.as_deref().is_some_and(|p| !p.is_empty())
    }
}

/// The complete lines of a predictions file by instance id. A later line for the same id
/// replaces an earlier one, as when SWE-bench loads the file.
pub type DoneLines = BTreeMap<String, PredictionLine>;

/// An append-only predictions file: each line is written whole and fsynced before
/// [`PredictionsLog::append`] returns.
pub struct PredictionsLog {
    file: File,
    path: PathBuf,
}

impl PredictionsLog {
    /// Opens (creating it and its folder when missing) the file for appending, after one read
    /// of what it holds: a line cut short by a crash is removed; the complete lines are
    /// returned.
    pub fn open(path: &Path) -> Result<(Self, DoneLines)> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .context(|| format!("cannot open {}", path.display()))?;
        let mut text = Vec::new();
        file.read_to_end(&mut text)
            .context(|| format!("cannot read {}", path.display()))?;
        let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete < text.len() {
            file.set_len(complete as u64)
                .context(|| format!("cannot truncate {}", path.display()))?;
            file.seek(SeekFrom::End(0))
                .context(|| format!("cannot seek {}", path.display()))?;
            file.sync_all()
                .context(|| format!("cannot sync {}", path.display()))?;
        }
        let done = parse_lines(path, &text[..complete])?;
        Ok((
            Self {
                file,
                path: path.to_path_buf(),
            },
            done,
        ))
    }

    /// The complete lines of `path` without opening it for writing (missing file: none).
    pub fn read(path: &Path) -> Result<DoneLines> {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => {
                return Err(HarnessError::io(
                    format!("cannot read {}", path.display()),
                    e,
                ));
            }
        };
        let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        parse_lines(path, &text[..complete])
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line and fsyncs it.
    pub fn append(&mut self, line: &PredictionLine) -> Result<()> {
        let mut text = serde_json::to_string(line)
            .map_err(|e| HarnessError::Invalid(format!("cannot encode a prediction: {e}")))?;
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .and_then(|_| self.file.sync_data())
            .context(|| format!("cannot append to {}", self.path.display()))
    }
}

fn parse_lines(path: &Path, bytes: &[u8]) -> Result<DoneLines> {
    let text = std::str::from_utf8(bytes).map_err(|e| HarnessError::Input {
        path: path.to_path_buf(),
        message: format!("not UTF-8 text: {e}"),
    })?;
    let mut done = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed: PredictionLine = serde_json::from_str(line).map_err(|e| HarnessError::Row {
            path: path.to_path_buf(),
            row: index + 1,
            field: "(line)".into(),
            message: format!("not a prediction: {e}"),
        })?;
        done.insert(parsed.instance_id.clone(), parsed);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, cost: f64) -> PredictionLine {
        PredictionLine {
            instance_id: id.into(),
            model_name_or_path: "m".into(),
            model_patch: Some(format!("diff for {id}\n")),
            cost_usd: Some(cost),
            sample: None,
        }
    }

    #[test]
    fn a_line_cut_by_a_crash_is_dropped_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/predictions.jsonl");
        {
            let (mut log, done) = PredictionsLog::open(&path).unwrap();
            assert!(done.is_empty());
            log.append(&line("a-1", 0.5)).unwrap();
        }
        // kill -9 in the middle of writing a-2's line.
        let mut partial = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        partial
            .write_all(b"{\"instance_id\":\"a-2\",\"model_na")
            .unwrap();
        drop(partial);
        assert_eq!(
            PredictionsLog::read(&path)
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["a-1"]
        );
        let (mut log, done) = PredictionsLog::open(&path).unwrap();
        assert_eq!(done.keys().collect::<Vec<_>>(), ["a-1"]);
        log.append(&line("a-2", 0.25)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(
            text.lines()
                .all(|l| serde_json::from_str::<PredictionLine>(l).is_ok())
        );
        // The file is a valid SWE-bench predictions file.
        let preds = crate::Predictions::from_file(&path).unwrap();
        assert_eq!(preds.len(), 2);
    }

    #[test]
    fn a_malformed_complete_line_names_the_file_and_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("predictions.jsonl");
        std::fs::write(&path, "{\"instance_id\":\"a\"}\n").unwrap();
        let err = PredictionsLog::open(&path).err().unwrap().to_string();
        assert!(err.contains("predictions.jsonl: row 1"), "{err}");
    }
}
