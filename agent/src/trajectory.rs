//! The trajectory: every prompt, model request and response, tool call, observation, timing,
//! token count and cost of a run, as JSON Lines. Each event is written and flushed as it happens,
//! so a crash keeps everything up to it.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::redact::Redactor;

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Error)]
pub enum TrajectoryError {
    #[error("cannot write trajectory {path}: {source} (check free disk space and permissions)")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read trajectory {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("trajectory {path} line {line} is not a trajectory event: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// The trajectory's lines are the run's events.
pub use crate::events::RunEvent as Event;

/// A line as written: the event and the milliseconds since the run started.
#[derive(Debug, Serialize)]
struct LineOut<'a> {
    t_ms: u64,
    #[serde(flatten)]
    event: &'a Event,
}

/// A line as read back.
#[derive(Debug, Deserialize)]
struct Line {
    #[serde(rename = "t_ms")]
    _t_ms: u64,
    #[serde(flatten)]
    event: Event,
}

/// Appends events to a trajectory file, replacing secrets on the way.
///
/// The file lives where the model's commands may reach it (by default `.agent/` in the
/// repository, and with `--sandbox local` nothing stops `git clean -fdx` or `rm`). So every line
/// is also kept in memory, and before each write the file is checked: if it was deleted,
/// replaced, truncated or appended to, it is written again whole from memory, and a `notice`
/// event records that it happened.
pub struct TrajectoryWriter {
    path: PathBuf,
    file: File,
    started: Instant,
    redactor: Arc<Redactor>,
    /// Every byte written so far.
    written: String,
    /// The file's identity when we last wrote it: device and inode.
    identity: (u64, u64),
    restored: u32,
}

impl TrajectoryWriter {
    pub fn create(path: &Path, redactor: Arc<Redactor>) -> Result<Self, TrajectoryError> {
        let file = open_truncated(path)?;
        let identity = identity_of(&file, path)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            started: Instant::now(),
            redactor,
            written: String::new(),
            identity,
            restored: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many times the file had to be written again because something changed it.
    pub fn restored(&self) -> u32 {
        self.restored
    }

    pub fn write(&mut self, event: &Event) -> Result<(), TrajectoryError> {
        if self.tampered() {
            self.restore()?;
        }
        let line = LineOut {
            t_ms: self.started.elapsed().as_millis() as u64,
            event,
        };
        let text = self.line(&line)?;
        self.append(&text)
    }

    fn line(&self, line: &LineOut<'_>) -> Result<String, TrajectoryError> {
        let text = serde_json::to_string(line).map_err(|e| TrajectoryError::Write {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        let mut text = self.redactor.redact(&text);
        text.push('\n');
        Ok(text)
    }

    fn append(&mut self, text: &str) -> Result<(), TrajectoryError> {
        self.file
            .write_all(text.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|source| TrajectoryError::Write {
                path: self.path.clone(),
                source,
            })?;
        self.written.push_str(text);
        Ok(())
    }

    /// Whether the file at our path is no longer exactly what we wrote.
    fn tampered(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(&self.path) {
            Ok(meta) => {
                (meta.dev(), meta.ino()) != self.identity || meta.len() != self.written.len() as u64
            }
            Err(_) => true,
        }
    }

    /// Writes the whole trajectory again from memory, then records that it had to. Whatever
    /// now sits at the path (a symlink planted to make us overwrite another file, say) is
    /// removed first, and the new file is created without following links.
    fn restore(&mut self) -> Result<(), TrajectoryError> {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path)
            && !meta.is_dir()
        {
            let _ = std::fs::remove_file(&self.path);
        }
        self.file = open_truncated(&self.path)?;
        self.identity = identity_of(&self.file, &self.path)?;
        let all = std::mem::take(&mut self.written);
        self.append(&all)?;
        self.restored += 1;
        let notice = Event::Notice {
            step: 0,
            kind: "record_restored".into(),
            text: "the trajectory file was deleted or changed during the run (by a command?) and was written again from memory".into(),
        };
        let notice = self.line(&LineOut {
            t_ms: self.started.elapsed().as_millis() as u64,
            event: &notice,
        })?;
        self.append(&notice)
    }

    /// Forces the file to disk (restoring it first if needed); called at the end of a run.
    pub fn sync(&mut self) -> Result<(), TrajectoryError> {
        if self.tampered() {
            self.restore()?;
        }
        self.file
            .sync_all()
            .map_err(|source| TrajectoryError::Write {
                path: self.path.clone(),
                source,
            })
    }
}

fn open_truncated(path: &Path) -> Result<File, TrajectoryError> {
    let err = |source| TrajectoryError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(err)
}

fn identity_of(file: &File, path: &Path) -> Result<(u64, u64), TrajectoryError> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().map_err(|source| TrajectoryError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok((meta.dev(), meta.ino()))
}

/// Reads a trajectory. A torn last line (the process died mid-write) is skipped, not an error.
pub fn read(path: &Path) -> Result<Vec<Event>, TrajectoryError> {
    let file = File::open(path).map_err(|source| TrajectoryError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(|source| TrajectoryError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    let mut events = Vec::new();
    let last = lines.len().saturating_sub(1);
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Line>(line) {
            Ok(l) => events.push(l.event),
            Err(_) if i == last => break,
            Err(e) => {
                return Err(TrajectoryError::Parse {
                    path: path.to_path_buf(),
                    line: i + 1,
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(events)
}

pub fn unix_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

pub fn unix_time() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_secrets_are_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t/traj.jsonl");
        let redactor = Arc::new(Redactor::new(["sk-verysecret123".to_string()]));
        let mut w = TrajectoryWriter::create(&path, redactor).unwrap();
        w.write(&Event::Prompt {
            name: "system".into(),
            text: "key is sk-verysecret123".into(),
        })
        .unwrap();
        w.write(&Event::Notice {
            step: 1,
            kind: "wrap_up".into(),
            text: "hurry".into(),
        })
        .unwrap();
        let raw = std::fs::read_to_string(&path).unwrap();
        assert!(!raw.contains("sk-verysecret123"));
        let events = read(&path).unwrap();
        assert_eq!(events.len(), 2);
        assert!(matches!(&events[0], Event::Prompt { text, .. } if text == "key is [REDACTED]"));
    }

    #[test]
    fn torn_last_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("traj.jsonl");
        let mut w = TrajectoryWriter::create(&path, Arc::new(Redactor::new(Vec::new()))).unwrap();
        w.write(&Event::Plan {
            step: 0,
            source: "initial".into(),
            plan: "1. fix".into(),
        })
        .unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"t_ms\":3,\"event\":\"not").unwrap();
        assert_eq!(read(&path).unwrap().len(), 1);
    }

    fn plan(step: u32) -> Event {
        Event::Plan {
            step,
            source: "update_plan".into(),
            plan: format!("step {step}"),
        }
    }

    #[test]
    fn a_deleted_truncated_or_appended_file_is_written_again_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".agent/trajectories/t.jsonl");
        let mut w = TrajectoryWriter::create(&path, Arc::new(Redactor::new(Vec::new()))).unwrap();
        w.write(&plan(1)).unwrap();
        std::fs::remove_dir_all(dir.path().join(".agent")).unwrap();
        w.write(&plan(2)).unwrap();
        std::fs::write(&path, "").unwrap();
        w.write(&plan(3)).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(
            b"{\"t_ms\":1,\"event\":\"plan\",\"step\":99,\"source\":\"x\",\"plan\":\"forged\"}\n",
        )
        .unwrap();
        w.write(&plan(4)).unwrap();
        w.sync().unwrap();
        let events = read(&path).unwrap();
        let steps: Vec<u32> = events
            .iter()
            .filter_map(|e| match e {
                Event::Plan { step, .. } => Some(*step),
                _ => None,
            })
            .collect();
        assert_eq!(steps, vec![1, 2, 3, 4], "{events:?}");
        assert_eq!(w.restored(), 3);
        let notices = events
            .iter()
            .filter(|e| matches!(e, Event::Notice { kind, .. } if kind == "record_restored"))
            .count();
        assert_eq!(notices, 3);
    }

    #[test]
    fn a_symlink_planted_at_the_path_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious\n").unwrap();
        let path = dir.path().join("t.jsonl");
        let mut w = TrajectoryWriter::create(&path, Arc::new(Redactor::new(Vec::new()))).unwrap();
        w.write(&plan(1)).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        w.write(&plan(2)).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert!(
            !std::fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(read(&path).unwrap().len(), 3);
    }
}
