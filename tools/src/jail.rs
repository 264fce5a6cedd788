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
    #[error("cannot resolve `{0}`: {1}")]
    Io(String, String),
}

/// Resolves user- or model-supplied paths against a fixed root and refuses any that escape it.
#[derive(Debug, Clone)]
pub struct PathJail {
    root: PathBuf,
}

impl PathJail {
    /// `root` is canonicalized once, so symlinked checkouts still work.
    pub fn new(root: impl AsRef<Path>) -> std::io::Result<Self> {
        Ok(Self {
            root: root.as_ref().canonicalize()?,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves `input` to an absolute path inside the root. The target need not exist (so that
    /// files can be created), but every existing ancestor is resolved through its symlinks.
    pub fn resolve(&self, input: &str) -> Result<PathBuf, JailError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(JailError::Empty);
        }
        let raw = Path::new(trimmed);
        let joined = if raw.is_absolute() {
            raw.to_path_buf()
        } else {
            self.root.join(raw)
        };
        let lexical =
            normalize_lexically(&joined).ok_or_else(|| JailError::Outside(input.to_string()))?;
        if !lexical.starts_with(&self.root) {
            return Err(JailError::Outside(input.to_string()));
        }
        // Resolve the deepest existing ancestor through symlinks, then re-append the rest.
        let mut existing = lexical.clone();
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
        let real = existing
            .canonicalize()
            .map_err(|e| JailError::Io(input.to_string(), e.to_string()))?;
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
}
