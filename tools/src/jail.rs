//! The path jail: every path a tool touches resolves inside the repository root (CWE-22).

use std::path::{Component, Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum JailError {
    #[error("path `{0}` is outside the repository; use a path relative to the repository root")]
    Outside(String),
    #[error("path `{0}` goes through a symlink that leads outside the repository ({1})")]
    SymlinkEscape(String, String),
    #[error("path is empty; give a path relative to the repository root")]
    Empty,
    #[error("path `{0}` contains a NUL byte")]
    Nul(String),
    #[error("cannot resolve `{0}`: {1}")]
    Io(String, String),
    #[error(
        "path `{0}` is inside `{1}/`, which the agent's tools may not touch (git's own data and the agent's run records); use `run` with read-only git commands (git log, git show, git diff) to read history"
    )]
    Reserved(String, &'static str),
}

/// Top-level entries of the repository that tools never read or write: git's own data (its
/// config and hooks run code on the user's machine) and the agent's records of the run.
pub const RESERVED_DIRS: &[&str] = &[".git", ".agent"];

/// Symlinks followed while resolving one path before giving up (the kernel's limit is 40).
const MAX_SYMLINK_HOPS: usize = 40;

/// Resolves user- or model-supplied paths against a fixed root and refuses any that escape it.
///
/// A resolved path is absolute, has no `.`/`..` components, lies under the root, and every
/// existing part of it has been resolved through its symlinks, so opening it cannot land outside
/// the root (short of the tree changing between the check and the use).
#[derive(Debug, Clone)]
pub struct PathJail {
    root: PathBuf,
    /// The root as given (made absolute, not canonicalized): absolute paths the model copies from
    /// an error message or a command's output often use this spelling.
    given_root: PathBuf,
}

impl PathJail {
    /// `root` is canonicalized once, so symlinked checkouts still work.
    pub fn new(root: impl AsRef<Path>) -> std::io::Result<Self> {
        let root_ref = root.as_ref();
        let canonical = root_ref.canonicalize()?;
        let absolute = if root_ref.is_absolute() {
            root_ref.to_path_buf()
        } else {
            std::env::current_dir()?.join(root_ref)
        };
        let given_root = normalize_lexically(&absolute).unwrap_or_else(|| canonical.clone());
        Ok(Self {
            root: canonical,
            given_root,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves `input` to an absolute path inside the root. The target need not exist (so that
    /// files can be created), but every existing ancestor is resolved through its symlinks, and a
    /// dangling symlink is followed to where it would create its target.
    pub fn resolve(&self, input: &str) -> Result<PathBuf, JailError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(JailError::Empty);
        }
        if trimmed.contains('\0') {
            return Err(JailError::Nul(input.to_string()));
        }
        let raw = Path::new(trimmed);
        let joined = if raw.is_absolute() {
            raw.to_path_buf()
        } else {
            self.root.join(raw)
        };
        let mut lexical =
            normalize_lexically(&joined).ok_or_else(|| JailError::Outside(input.to_string()))?;
        if !lexical.starts_with(&self.root)
            && let Ok(rest) = lexical.strip_prefix(&self.given_root)
        {
            lexical = self.root.join(rest);
        }
        if !lexical.starts_with(&self.root) {
            return Err(JailError::Outside(input.to_string()));
        }
        let resolved = self.resolve_existing(input, lexical, 0)?;
        self.refuse_reserved(input, &resolved)?;
        Ok(resolved)
    }

    /// Refuses a resolved path under one of [`RESERVED_DIRS`] (checked after symlinks are
    /// followed, so a link to `.git/config` is refused too).
    fn refuse_reserved(&self, input: &str, resolved: &Path) -> Result<(), JailError> {
        let first = resolved
            .strip_prefix(&self.root)
            .ok()
            .and_then(|rel| rel.components().next());
        if let Some(Component::Normal(name)) = first
            && let Some(reserved) = RESERVED_DIRS.iter().find(|r| name == **r)
        {
            return Err(JailError::Reserved(input.to_string(), reserved));
        }
        Ok(())
    }

    /// Resolves the deepest existing ancestor of `lexical` through its symlinks and re-appends
    /// the components that do not exist yet.
    fn resolve_existing(
        &self,
        input: &str,
        lexical: PathBuf,
        hops: usize,
    ) -> Result<PathBuf, JailError> {
        let mut existing = lexical;
        let mut rest = Vec::new();
        loop {
            if existing.symlink_metadata().is_ok() {
                break;
            }
            match (
                existing.file_name().map(|n| n.to_os_string()),
                existing.parent(),
            ) {
                (Some(name), Some(parent)) => {
                    rest.push(name);
                    existing = parent.to_path_buf();
                }
                _ => break,
            }
        }
        let real = match existing.canonicalize() {
            Ok(real) => real,
            Err(err) => return self.follow_dangling(input, &existing, rest, hops, err),
        };
        if !real.starts_with(&self.root) {
            return Err(JailError::SymlinkEscape(
                input.to_string(),
                real.display().to_string(),
            ));
        }
        let mut resolved = real;
        for name in rest.into_iter().rev() {
            resolved.push(name);
        }
        Ok(resolved)
    }

    /// `existing` exists but cannot be canonicalized: a dangling symlink (or a loop). Writing
    /// through it would create its target, so the target must be inside the root too.
    fn follow_dangling(
        &self,
        input: &str,
        existing: &Path,
        rest: Vec<std::ffi::OsString>,
        hops: usize,
        err: std::io::Error,
    ) -> Result<PathBuf, JailError> {
        let Ok(target) = existing.read_link() else {
            return Err(JailError::Io(input.to_string(), err.to_string()));
        };
        if hops >= MAX_SYMLINK_HOPS {
            return Err(JailError::Io(
                input.to_string(),
                "too many levels of symbolic links".to_string(),
            ));
        }
        let base = existing.parent().unwrap_or(&self.root);
        // The link's own directory is real (it was canonicalized as an ancestor), so joining the
        // target to it and normalizing is what the kernel would do for a relative target.
        let parent = base.canonicalize().unwrap_or_else(|_| base.to_path_buf());
        let mut next = if target.is_absolute() {
            target.clone()
        } else {
            parent.join(&target)
        };
        for name in rest.into_iter().rev() {
            next.push(name);
        }
        let Some(next) = normalize_lexically(&next).filter(|p| p.starts_with(&self.root)) else {
            return Err(JailError::SymlinkEscape(
                input.to_string(),
                target.display().to_string(),
            ));
        };
        self.resolve_existing(input, next, hops + 1)
    }

    /// The path relative to the root, for display. Falls back to the path itself.
    pub fn relative<'a>(&self, path: &'a Path) -> &'a Path {
        path.strip_prefix(&self.root).unwrap_or(path)
    }
}

/// Removes `.` and applies `..` without touching the filesystem. `None` if `..` climbs past `/`.
fn normalize_lexically(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Prefix(p) => out.push(p.as_os_str()),
            Component::RootDir => out.push("/"),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(name) => out.push(name),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jail() -> (tempfile::TempDir, PathJail) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/a.py"), "x = 1\n").unwrap();
        let jail = PathJail::new(dir.path()).unwrap();
        (dir, jail)
    }

    #[test]
    fn relative_paths_resolve_inside() {
        let (_dir, jail) = jail();
        let p = jail.resolve("src/a.py").unwrap();
        assert_eq!(jail.relative(&p), Path::new("src/a.py"));
        let p = jail.resolve("src/../src/./new.py").unwrap();
        assert_eq!(jail.relative(&p), Path::new("src/new.py"));
    }

    #[test]
    fn parent_escapes_are_refused() {
        let (_dir, jail) = jail();
        assert!(matches!(
            jail.resolve("../etc/passwd"),
            Err(JailError::Outside(_))
        ));
        assert!(matches!(
            jail.resolve("src/../../x"),
            Err(JailError::Outside(_))
        ));
        assert!(matches!(
            jail.resolve("/etc/passwd"),
            Err(JailError::Outside(_))
        ));
    }

    #[test]
    fn absolute_path_inside_root_is_accepted() {
        let (_dir, jail) = jail();
        let inside = jail.root().join("src/a.py");
        assert!(jail.resolve(inside.to_str().unwrap()).is_ok());
    }

    #[test]
    fn symlink_leading_outside_is_refused() {
        let (dir, jail) = jail();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        assert!(matches!(
            jail.resolve("link/secret"),
            Err(JailError::SymlinkEscape(..))
        ));
        assert!(matches!(
            jail.resolve("link/new-file"),
            Err(JailError::SymlinkEscape(..))
        ));
    }

    #[test]
    fn empty_path_is_refused() {
        let (_dir, jail) = jail();
        assert_eq!(jail.resolve("  "), Err(JailError::Empty));
    }

    #[test]
    fn dangling_symlinks_are_followed_to_their_target() {
        let (dir, jail) = jail();
        std::os::unix::fs::symlink("src/new.py", dir.path().join("pending")).unwrap();
        let p = jail.resolve("pending").unwrap();
        assert_eq!(jail.relative(&p), Path::new("src/new.py"));
        std::os::unix::fs::symlink("/nonexistent-dir/x", dir.path().join("gone")).unwrap();
        assert!(matches!(
            jail.resolve("gone"),
            Err(JailError::SymlinkEscape(..))
        ));
        std::os::unix::fs::symlink("loop", dir.path().join("loop")).unwrap();
        assert!(jail.resolve("loop/x").is_err());
    }

    #[test]
    fn the_root_as_given_is_accepted_in_absolute_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("alias")).unwrap();
        let jail = PathJail::new(dir.path().join("alias")).unwrap();
        let p = jail
            .resolve(dir.path().join("alias/x.py").to_str().unwrap())
            .unwrap();
        assert_eq!(jail.relative(&p), Path::new("x.py"));
    }

    #[test]
    fn git_and_agent_dirs_are_refused_directly_and_through_symlinks() {
        let (dir, jail) = jail();
        std::fs::create_dir_all(dir.path().join(".git/hooks")).unwrap();
        std::fs::write(dir.path().join(".git/config"), "[core]\n").unwrap();
        for path in [
            ".git/config",
            ".git",
            ".git/hooks/pre-commit",
            "src/../.git/HEAD",
            ".agent/t.jsonl",
        ] {
            assert!(
                matches!(jail.resolve(path), Err(JailError::Reserved(..))),
                "{path} must be refused"
            );
        }
        std::os::unix::fs::symlink(".git/config", dir.path().join("innocent.txt")).unwrap();
        assert!(matches!(
            jail.resolve("innocent.txt"),
            Err(JailError::Reserved(..))
        ));
        assert!(jail.resolve(".github/workflows/ci.yml").is_ok());
        assert!(jail.resolve(".gitignore").is_ok());
    }

    #[test]
    fn nul_bytes_are_refused() {
        let (_dir, jail) = jail();
        assert!(matches!(jail.resolve("a\0b"), Err(JailError::Nul(_))));
    }
}
