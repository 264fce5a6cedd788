//! Project instructions: `AGENTS.md` files, as Codex and other agents read them. The one at the
//! repository root goes into the task prompt; one in the directory of a file the agent edits (or
//! a directory between it and the root, nearest first) is added to that edit's observation, once.
//! Each file is capped, and so is their total; the trajectory records which files were read.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "AGENTS.md";
/// At most this many bytes of one file reach the model.
pub const MAX_FILE_BYTES: usize = 8 * 1024;
/// At most this many bytes of all files together.
pub const MAX_TOTAL_BYTES: usize = 32 * 1024;

/// One file that was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instructions {
    /// Relative to the repository root, e.g. `AGENTS.md` or `src/pkg/AGENTS.md`.
    pub path: String,
    /// The text given to the model (capped).
    pub text: String,
    /// The file's size on disk.
    pub bytes: usize,
    /// Whether `text` was cut at a cap.
    pub truncated: bool,
}

impl Instructions {
    /// The line the trajectory records.
    pub fn record(&self) -> String {
        if self.truncated {
            format!(
                "read {} ({} bytes; {} given to the model, the cap)",
                self.path,
                self.bytes,
                self.text.len()
            )
        } else {
            format!("read {} ({} bytes)", self.path, self.bytes)
        }
    }
}

/// Finds and reads `AGENTS.md` files, each at most once per run.
#[derive(Debug)]
pub struct ProjectInstructions {
    root: PathBuf,
    seen: HashSet<PathBuf>,
    budget: usize,
}

impl ProjectInstructions {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            seen: HashSet::new(),
            budget: MAX_TOTAL_BYTES,
        }
    }

    /// The root's `AGENTS.md`, when there is one.
    pub fn at_root(&mut self) -> Option<Instructions> {
        self.read(Path::new(""))
    }

    /// Files not read yet in the directories of `changed` (relative paths), from each file's
    /// directory up to the root, nearest first.
    pub fn for_edits(&mut self, changed: &[PathBuf]) -> Vec<Instructions> {
        let mut found = Vec::new();
        for file in changed {
            let relative = file.strip_prefix(&self.root).unwrap_or(file);
            let mut dir = relative.parent();
            while let Some(d) = dir {
                if let Some(instructions) = self.read(d) {
                    found.push(instructions);
                }
                dir = d.parent();
            }
        }
        found
    }

    fn read(&mut self, dir: &Path) -> Option<Instructions> {
        // Paths that climb out of the repository are not followed.
        if dir
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return None;
        }
        let relative = dir.join(FILE_NAME);
        if !self.seen.insert(relative.clone()) {
            return None;
        }
        let path = self.root.join(&relative);
        // A symlink could point outside the repository: only regular files are read.
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() || self.budget == 0 {
            return None;
        }
        let raw = std::fs::read(&path).ok()?;
        let text = String::from_utf8_lossy(&raw);
        let cap = MAX_FILE_BYTES.min(self.budget);
        let (text, truncated) = if text.len() > cap {
            let mut end = cap;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            (text[..end].to_string(), true)
        } else {
            (text.into_owned(), false)
        };
        self.budget -= text.len();
        Some(Instructions {
            path: relative.display().to_string(),
            text,
            bytes: raw.len(),
            truncated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_then_nearest_first_each_once_and_capped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/pkg")).unwrap();
        std::fs::write(root.join("AGENTS.md"), "root rules").unwrap();
        std::fs::write(root.join("src/AGENTS.md"), "src rules").unwrap();
        std::fs::write(
            root.join("src/pkg/AGENTS.md"),
            "x".repeat(MAX_FILE_BYTES + 10),
        )
        .unwrap();
        let mut p = ProjectInstructions::new(root);
        let top = p.at_root().unwrap();
        assert_eq!(
            (top.path.as_str(), top.text.as_str()),
            ("AGENTS.md", "root rules")
        );
        let found = p.for_edits(&[PathBuf::from("src/pkg/mod.py")]);
        let paths: Vec<&str> = found.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["src/pkg/AGENTS.md", "src/AGENTS.md"]);
        assert!(found[0].truncated);
        assert_eq!(found[0].text.len(), MAX_FILE_BYTES);
        assert!(found[0].record().contains("the cap"));
        assert!(p.for_edits(&[PathBuf::from("src/pkg/other.py")]).is_empty());
        assert!(p.for_edits(&[PathBuf::from("../outside/x.py")]).is_empty());
    }

    #[test]
    fn the_total_is_capped_too() {
        let dir = tempfile::tempdir().unwrap();
        let mut changed = Vec::new();
        for n in 0..6 {
            let d = dir.path().join(format!("d{n}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("AGENTS.md"), "y".repeat(MAX_FILE_BYTES)).unwrap();
            changed.push(PathBuf::from(format!("d{n}/f.py")));
        }
        let mut p = ProjectInstructions::new(dir.path());
        let total: usize = p.for_edits(&changed).iter().map(|i| i.text.len()).sum();
        assert_eq!(total, MAX_TOTAL_BYTES);
    }
}
