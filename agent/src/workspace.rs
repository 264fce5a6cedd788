//! The repository the agent works in, through git2: cleanliness checks, snapshots of the working
//! tree, diffs between snapshots, and commits.

use std::path::{Path, PathBuf};

use git2::{DiffFormat, DiffOptions, IndexAddOption, Oid, Repository, Signature, StatusOptions};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum WorkspaceError {
    #[error("{0} is not a git repository: run `git init` there or pass --repo PATH")]
    NotARepo(PathBuf),
    #[error(
        "{path} has uncommitted changes ({files}); commit or stash them, or pass --allow-dirty"
    )]
    Dirty { path: PathBuf, files: String },
    #[error("git error in {path}: {message}")]
    Git { path: PathBuf, message: String },
}

pub struct Workspace {
    repo: Repository,
    root: PathBuf,
}

/// The paths a diff's files have (the new path; the old one for a deletion).
fn changed(diff: &git2::Diff<'_>) -> Vec<String> {
    diff.deltas().filter_map(|d| delta_path(&d)).collect()
}

fn delta_path(delta: &git2::DiffDelta<'_>) -> Option<String> {
    delta
        .new_file()
        .path()
        .or_else(|| delta.old_file().path())
        .map(|p| p.to_string_lossy().into_owned())
}

/// Files the agent writes inside the repository that must never show up in its diff.
const AGENT_DIR_PATTERN: &str = "/.agent/";

impl Workspace {
    pub fn open(path: &Path) -> Result<Self, WorkspaceError> {
        let repo =
            Repository::open(path).map_err(|_| WorkspaceError::NotARepo(path.to_path_buf()))?;
        let root = repo
            .workdir()
            .ok_or_else(|| WorkspaceError::NotARepo(path.to_path_buf()))?
            .to_path_buf();
        let ws = Self { repo, root };
        ws.exclude_agent_dir()?;
        Ok(ws)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    fn git_err(&self, e: git2::Error) -> WorkspaceError {
        WorkspaceError::Git {
            path: self.root.clone(),
            message: e.message().to_string(),
        }
    }

    /// Keeps `.agent/` (trajectories, caches) out of status and diffs without touching tracked
    /// files: the pattern goes into `.git/info/exclude`.
    fn exclude_agent_dir(&self) -> Result<(), WorkspaceError> {
        let info = self.repo.path().join("info");
        let exclude = info.join("exclude");
        let current = std::fs::read_to_string(&exclude).unwrap_or_default();
        if current.lines().any(|l| l.trim() == AGENT_DIR_PATTERN) {
            return Ok(());
        }
        let io = |e: std::io::Error| WorkspaceError::Git {
            path: self.root.clone(),
            message: format!("cannot update {}: {e}", exclude.display()),
        };
        std::fs::create_dir_all(&info).map_err(io)?;
        let mut text = current;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(AGENT_DIR_PATTERN);
        text.push('\n');
        std::fs::write(&exclude, text).map_err(io)
    }

    /// Paths with uncommitted changes (modified, staged or untracked; ignored files excluded).
    pub fn dirty_paths(&self) -> Result<Vec<String>, WorkspaceError> {
        let mut opts = StatusOptions::new();
        opts.include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false);
        let statuses = self
            .repo
            .statuses(Some(&mut opts))
            .map_err(|e| self.git_err(e))?;
        Ok(statuses
            .iter()
            .filter_map(|s| s.path().ok().map(str::to_string))
            .filter(|p| !is_cache_path(Path::new(p)))
            .collect())
    }

    pub fn ensure_clean(&self) -> Result<(), WorkspaceError> {
        let dirty = self.dirty_paths()?;
        if dirty.is_empty() {
            return Ok(());
        }
        let mut files: Vec<String> = dirty.iter().take(5).cloned().collect();
        if dirty.len() > 5 {
            files.push(format!("and {} more", dirty.len() - 5));
        }
        Err(WorkspaceError::Dirty {
            path: self.root.clone(),
            files: files.join(", "),
        })
    }

    /// A tree object holding the working tree as it is now (tracked and untracked files, not
    /// ignored ones). The on-disk index is left untouched.
    pub fn snapshot(&self) -> Result<Oid, WorkspaceError> {
        let mut index = self.repo.index().map_err(|e| self.git_err(e))?;
        let result = (|| {
            // Byte-code caches appear whenever tests run; they are never part of a fix.
            let mut skip_caches = |path: &Path, _: &[u8]| -> i32 { i32::from(is_cache_path(path)) };
            index.add_all(
                ["*"].iter(),
                IndexAddOption::DEFAULT,
                Some(&mut skip_caches),
            )?;
            // Files deleted from the working tree must leave the snapshot too.
            index.update_all(["*"].iter(), None)?;
            index.write_tree()
        })();
        // Drop the in-memory changes so the user's staging area stays as it was.
        index.read(true).map_err(|e| self.git_err(e))?;
        result.map_err(|e| self.git_err(e))
    }

    /// A unified diff between two snapshots, in `git diff --binary` format and byte-exact:
    /// `git apply` turns `from` into `to`, files that are not UTF-8 included.
    pub fn diff(&self, from: Oid, to: Oid) -> Result<String, WorkspaceError> {
        let whole = self.tree_diff(from, to, &[], false)?;
        let not_utf8 = self.non_utf8_paths(&whole)?;
        if not_utf8.is_empty() {
            return self.patch_text(&whole);
        }
        // Text that is not UTF-8 (a Latin-1 source file) cannot travel in a `String` as it is:
        // those files go as git binary patches, which `git apply` applies byte for byte.
        let others: Vec<String> = changed(&whole)
            .into_iter()
            .filter(|p| !not_utf8.contains(p))
            .collect();
        let mut text = String::new();
        if !others.is_empty() {
            text = self.patch_text(&self.tree_diff(from, to, &others, false)?)?;
        }
        text.push_str(&self.patch_text(&self.tree_diff(from, to, &not_utf8, true)?)?);
        Ok(text)
    }

    /// The diff for reading (the review turn, the secret scan): every file as text, bytes that
    /// are not UTF-8 replaced. Not for applying.
    pub fn diff_lossy(&self, from: Oid, to: Oid) -> Result<String, WorkspaceError> {
        self.patch_text(&self.tree_diff(from, to, &[], false)?)
    }

    /// The tree-to-tree diff, limited to exactly `paths` when given, binary patches for every
    /// file with `binary`.
    fn tree_diff(
        &self,
        from: Oid,
        to: Oid,
        paths: &[String],
        binary: bool,
    ) -> Result<git2::Diff<'_>, WorkspaceError> {
        let a = self.repo.find_tree(from).map_err(|e| self.git_err(e))?;
        let b = self.repo.find_tree(to).map_err(|e| self.git_err(e))?;
        let mut opts = DiffOptions::new();
        opts.show_binary(true).force_binary(binary);
        if !paths.is_empty() {
            opts.disable_pathspec_match(true);
            for path in paths {
                opts.pathspec(path.as_str());
            }
        }
        self.repo
            .diff_tree_to_tree(Some(&a), Some(&b), Some(&mut opts))
            .map_err(|e| self.git_err(e))
    }

    /// Paths of the text files (by git's NUL test) whose old or new content is not UTF-8.
    fn non_utf8_paths(&self, diff: &git2::Diff<'_>) -> Result<Vec<String>, WorkspaceError> {
        let mut paths = Vec::new();
        for delta in diff.deltas() {
            let mut not_utf8 = false;
            for file in [delta.old_file(), delta.new_file()] {
                if file.id().is_zero() {
                    continue;
                }
                let blob = self
                    .repo
                    .find_blob(file.id())
                    .map_err(|e| self.git_err(e))?;
                not_utf8 |= !blob.is_binary() && std::str::from_utf8(blob.content()).is_err();
            }
            if not_utf8 && let Some(path) = delta_path(&delta) {
                paths.push(path);
            }
        }
        Ok(paths)
    }

    /// The patch of a diff whose contents are UTF-8 (only a path could still not be).
    fn patch_text(&self, diff: &git2::Diff<'_>) -> Result<String, WorkspaceError> {
        let mut out = Vec::new();
        self.print(diff, &mut out)?;
        Ok(String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    fn print(&self, diff: &git2::Diff<'_>, out: &mut Vec<u8>) -> Result<(), WorkspaceError> {
        diff.print(DiffFormat::Patch, |_, _, line| {
            if matches!(line.origin(), '+' | '-' | ' ') {
                out.push(line.origin() as u8);
            }
            out.extend_from_slice(line.content());
            true
        })
        .map_err(|e| self.git_err(e))
    }

    /// Paths that differ between two snapshots (added, modified or deleted).
    pub fn changed_paths(&self, from: Oid, to: Oid) -> Result<Vec<String>, WorkspaceError> {
        let a = self.repo.find_tree(from).map_err(|e| self.git_err(e))?;
        let b = self.repo.find_tree(to).map_err(|e| self.git_err(e))?;
        let diff = self
            .repo
            .diff_tree_to_tree(Some(&a), Some(&b), None)
            .map_err(|e| self.git_err(e))?;
        Ok(diff
            .deltas()
            .filter_map(|d| d.new_file().path().or_else(|| d.old_file().path()))
            .map(|p| p.display().to_string())
            .collect())
    }

    /// The content of `path` in snapshot `tree`, or `None` if it is not there.
    pub fn file_at(&self, tree: Oid, path: &str) -> Result<Option<Vec<u8>>, WorkspaceError> {
        let tree = self.repo.find_tree(tree).map_err(|e| self.git_err(e))?;
        let Ok(entry) = tree.get_path(Path::new(path)) else {
            return Ok(None);
        };
        let blob = self
            .repo
            .find_blob(entry.id())
            .map_err(|e| self.git_err(e))?;
        Ok(Some(blob.content().to_vec()))
    }

    /// Commits the snapshot `tree` on the current branch.
    pub fn commit(&self, tree: Oid, message: &str) -> Result<Oid, WorkspaceError> {
        let tree = self.repo.find_tree(tree).map_err(|e| self.git_err(e))?;
        let sig = self
            .repo
            .signature()
            .or_else(|_| Signature::now("agent", "agent@localhost"))
            .map_err(|e| self.git_err(e))?;
        let parent = self.repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        let oid = self
            .repo
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
            .map_err(|e| self.git_err(e))?;
        // Make the index match the new commit so `git status` is clean.
        let mut index = self.repo.index().map_err(|e| self.git_err(e))?;
        index.read_tree(&tree).map_err(|e| self.git_err(e))?;
        index.write().map_err(|e| self.git_err(e))?;
        Ok(oid)
    }

    pub fn head_description(&self) -> String {
        match self.repo.head() {
            Ok(h) => format!(
                "{} at {}",
                h.shorthand().unwrap_or("HEAD"),
                h.target()
                    .map(|o| o.to_string()[..12].to_string())
                    .unwrap_or_default()
            ),
            Err(_) => "no commits yet".to_string(),
        }
    }
}

/// Byte-code and test caches: they appear whenever tests run and are never part of a change.
fn is_cache_path(path: &Path) -> bool {
    path.components().any(|c| {
        matches!(
            c.as_os_str().to_str(),
            Some("__pycache__" | ".pytest_cache")
        )
    }) || path.extension().is_some_and(|e| e == "pyc")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_with_file() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        std::fs::write(dir.path().join("a.txt"), "one\n").unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new("a.txt")).unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = Signature::now("t", "t@t").unwrap();
        repo.commit(Some("HEAD"), &sig, &sig, "init", &tree, &[])
            .unwrap();
        let ws = Workspace::open(dir.path()).unwrap();
        (dir, ws)
    }

    #[test]
    fn not_a_repo_names_the_path_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = Workspace::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("not a git repository"), "{err}");
        assert!(err.contains("--repo"), "{err}");
    }

    #[test]
    fn snapshots_diff_edits_new_and_deleted_files_but_not_agent_dir() {
        let (dir, ws) = repo_with_file();
        ws.ensure_clean().unwrap();
        let before = ws.snapshot().unwrap();
        std::fs::write(dir.path().join("a.txt"), "two\n").unwrap();
        std::fs::write(dir.path().join("new.txt"), "new\n").unwrap();
        std::fs::create_dir_all(dir.path().join(".agent/trajectories")).unwrap();
        std::fs::write(dir.path().join(".agent/trajectories/x.jsonl"), "{}\n").unwrap();
        let after = ws.snapshot().unwrap();
        let diff = ws.diff(before, after).unwrap();
        assert!(diff.contains("-one\n+two\n"), "{diff}");
        assert!(diff.contains("+++ b/new.txt"), "{diff}");
        assert!(!diff.contains(".agent"), "{diff}");
        assert!(ws.ensure_clean().unwrap_err().to_string().contains("a.txt"));
        // The user's index was not changed by snapshotting.
        let repo = Repository::open(dir.path()).unwrap();
        assert!(
            repo.index()
                .unwrap()
                .get_path(Path::new("new.txt"), 0)
                .is_none()
        );

        std::fs::remove_file(dir.path().join("a.txt")).unwrap();
        let gone = ws.snapshot().unwrap();
        assert!(ws.diff(before, gone).unwrap().contains("deleted file mode"));
    }

    #[test]
    fn a_file_that_is_not_utf8_diffs_byte_exact_and_applies() {
        let (dir, ws) = repo_with_file();
        std::fs::write(dir.path().join("legacy.py"), b"# caf\xe9\nX = 1\n").unwrap();
        let before = ws.snapshot().unwrap();
        std::fs::write(dir.path().join("legacy.py"), b"# caf\xe9\nX = 2\n").unwrap();
        std::fs::write(dir.path().join("a.txt"), "two\n").unwrap();
        let after = ws.snapshot().unwrap();
        let diff = ws.diff(before, after).unwrap();
        assert!(
            diff.contains("-one\n+two\n"),
            "the UTF-8 file stays text: {diff}"
        );
        assert!(diff.contains("GIT binary patch"), "{diff}");
        assert!(ws.diff_lossy(before, after).unwrap().contains("+X = 2"));
        // Applied to a checkout of `before`, it gives `after`'s bytes.
        let other = tempfile::tempdir().unwrap();
        let git = |dir: &Path, args: &[&str]| {
            let status = std::process::Command::new("git")
                .args(args)
                .current_dir(dir)
                .status()
                .unwrap();
            assert!(status.success(), "git {args:?}");
        };
        git(other.path(), &["init", "-q"]);
        std::fs::write(other.path().join("a.txt"), "one\n").unwrap();
        std::fs::write(other.path().join("legacy.py"), b"# caf\xe9\nX = 1\n").unwrap();
        std::fs::write(other.path().join("change.diff"), &diff).unwrap();
        git(other.path(), &["apply", "change.diff"]);
        assert_eq!(
            std::fs::read(other.path().join("legacy.py")).unwrap(),
            b"# caf\xe9\nX = 2\n"
        );
        assert_eq!(
            std::fs::read_to_string(other.path().join("a.txt")).unwrap(),
            "two\n"
        );
    }

    #[test]
    fn python_caches_are_neither_dirt_nor_diff() {
        let (dir, ws) = repo_with_file();
        let before = ws.snapshot().unwrap();
        std::fs::create_dir_all(dir.path().join("pkg/__pycache__")).unwrap();
        std::fs::write(
            dir.path().join("pkg/__pycache__/m.cpython-311.pyc"),
            [0u8, 1, 2],
        )
        .unwrap();
        std::fs::write(dir.path().join("stray.pyc"), [0u8]).unwrap();
        ws.ensure_clean().unwrap();
        let after = ws.snapshot().unwrap();
        assert_eq!(ws.diff(before, after).unwrap(), "");
    }

    #[test]
    fn commit_moves_head_and_leaves_status_clean() {
        let (dir, ws) = repo_with_file();
        std::fs::write(dir.path().join("a.txt"), "changed\n").unwrap();
        let snap = ws.snapshot().unwrap();
        ws.commit(snap, "agent: change a").unwrap();
        ws.ensure_clean().unwrap();
    }
}
