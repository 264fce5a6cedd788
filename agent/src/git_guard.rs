//! Keeps the model's commands from changing the repository's git state with `--sandbox local`.
//!
//! In the Docker sandbox `.git` is mounted read-only. On the host there is no such wall, and a
//! changed `.git/config` (`core.fsmonitor`, `core.hooksPath`) or a planted hook runs code the
//! next time the user runs git; a `git commit` or `git stash` moves the user's branch. So the
//! files that decide those things are captured at the start, compared after every command, and
//! put back when a command changed them; the command's output says what was reverted. Objects
//! are not guarded: new ones are harmless, and reading history keeps working.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use agent_tools::{ExecError, ExecOutput, ExecRequest, Executor};

/// Files directly in the git directory that are guarded. Not the index: `git status` refreshes
/// it as a matter of course, and staging changes nothing the user relies on.
const GUARDED_FILES: &[&str] = &[
    "config",
    "config.worktree",
    "HEAD",
    "packed-refs",
    "info/attributes",
    "info/exclude",
    "commondir",
];
/// Folders whose whole content is guarded (new files in them are removed).
const GUARDED_DIRS: &[&str] = &["refs", "hooks"];

/// The guarded files' content at the start of the run, by path.
pub struct GitStateGuard {
    git_dirs: Vec<PathBuf>,
    saved: BTreeMap<PathBuf, Vec<u8>>,
}

impl GitStateGuard {
    /// Captures the guarded state of the repository whose git directory is `git_dir` (and its
    /// common directory, for a linked worktree).
    pub fn capture(git_dir: &Path, common_dir: &Path) -> std::io::Result<GitStateGuard> {
        let mut git_dirs = vec![git_dir.to_path_buf()];
        if common_dir != git_dir {
            git_dirs.push(common_dir.to_path_buf());
        }
        let mut guard = GitStateGuard {
            git_dirs,
            saved: BTreeMap::new(),
        };
        guard.saved = guard.current()?;
        Ok(guard)
    }

    fn current(&self) -> std::io::Result<BTreeMap<PathBuf, Vec<u8>>> {
        let mut files = BTreeMap::new();
        for dir in &self.git_dirs {
            for name in GUARDED_FILES {
                let path = dir.join(name);
                if let Ok(bytes) = std::fs::read(&path) {
                    files.insert(path, bytes);
                }
            }
            for name in GUARDED_DIRS {
                collect_files(&dir.join(name), &mut files)?;
            }
        }
        Ok(files)
    }

    /// Puts back every guarded file a command changed, created or deleted; returns their paths
    /// relative to the git directory.
    pub fn revert_changes(&self) -> std::io::Result<Vec<String>> {
        let now = self.current()?;
        let mut reverted = Vec::new();
        for (path, bytes) in &self.saved {
            if now.get(path) != Some(bytes) {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(path, bytes)?;
                reverted.push(self.shown(path));
            }
        }
        for path in now.keys().filter(|p| !self.saved.contains_key(*p)) {
            std::fs::remove_file(path)?;
            reverted.push(self.shown(path));
        }
        Ok(reverted)
    }

    fn shown(&self, path: &Path) -> String {
        self.git_dirs
            .iter()
            .find_map(|d| path.strip_prefix(d).ok())
            .map(|p| format!(".git/{}", p.display()))
            .unwrap_or_else(|| path.display().to_string())
    }
}

fn collect_files(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect_files(&entry.path(), out)?;
        } else if kind.is_file() || kind.is_symlink() {
            out.insert(
                entry.path(),
                std::fs::read(entry.path()).unwrap_or_default(),
            );
        }
    }
    Ok(())
}

/// An executor that checks the git state after each command and reverts what changed.
pub struct GitGuardedExecutor {
    inner: Arc<dyn Executor>,
    guard: GitStateGuard,
    /// Everything reverted so far in this run, for the end-of-run report.
    reverted: Mutex<Vec<String>>,
}

impl GitGuardedExecutor {
    pub fn new(inner: Arc<dyn Executor>, guard: GitStateGuard) -> GitGuardedExecutor {
        GitGuardedExecutor {
            inner,
            guard,
            reverted: Mutex::new(Vec::new()),
        }
    }

    /// The git files the run's commands changed and that were put back, in order.
    pub fn reverted(&self) -> Vec<String> {
        self.reverted.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Executor for GitGuardedExecutor {
    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, ExecError> {
        let result = self.inner.exec(request).await;
        let reverted = self.guard.revert_changes().map_err(|e| {
            ExecError::Io(format!(
                "cannot check the repository's .git after the command: {e}"
            ))
        })?;
        let mut output = result?;
        if !reverted.is_empty() {
            output.stderr.push_str(&format!(
                "\n[agent] this command changed git's own files, which is not allowed; they were put back: {}. Read history with git log/show/diff and restore files with `git show HEAD:path > path`; do not commit, stash, or change git config or hooks.\n",
                reverted.join(", ")
            ));
            if let Ok(mut all) = self.reverted.lock() {
                all.extend(reverted);
            }
        }
        Ok(output)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_created_and_deleted_files_are_put_back() {
        let dir = tempfile::tempdir().unwrap();
        let git = dir.path();
        std::fs::create_dir_all(git.join("refs/heads")).unwrap();
        std::fs::create_dir_all(git.join("hooks")).unwrap();
        std::fs::write(git.join("config"), "[core]\n").unwrap();
        std::fs::write(git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(git.join("refs/heads/main"), "aaaa\n").unwrap();
        let guard = GitStateGuard::capture(git, git).unwrap();
        assert!(guard.revert_changes().unwrap().is_empty());

        std::fs::write(
            git.join("config"),
            "[core]\n\tfsmonitor = touch /tmp/pwned\n",
        )
        .unwrap();
        std::fs::write(git.join("hooks/pre-commit"), "#!/bin/sh\n").unwrap();
        std::fs::write(git.join("refs/heads/main"), "bbbb\n").unwrap();
        std::fs::remove_file(git.join("HEAD")).unwrap();
        let mut reverted = guard.revert_changes().unwrap();
        reverted.sort();
        assert_eq!(
            reverted,
            vec![
                ".git/HEAD",
                ".git/config",
                ".git/hooks/pre-commit",
                ".git/refs/heads/main"
            ]
        );
        assert_eq!(
            std::fs::read_to_string(git.join("config")).unwrap(),
            "[core]\n"
        );
        assert_eq!(
            std::fs::read_to_string(git.join("refs/heads/main")).unwrap(),
            "aaaa\n"
        );
        assert!(!git.join("hooks/pre-commit").exists());
        assert!(git.join("HEAD").exists());
    }
}
