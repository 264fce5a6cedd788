//! What a workspace holds, path by path, on the host and in the container: the manifests the
//! copied workspace is kept in step by. Only entries whose stamp changed are copied.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{ContainerError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    Link(String),
}

/// One entry's stamp. `mtime` and `ctime` are decimal seconds as the side reports them (the
/// host: nanoseconds; the container: GNU find's `%T@`), compared only with the same side's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub kind: Kind,
    pub size: u64,
    pub mtime: String,
    pub ctime: String,
    pub mode: u32,
}

impl Stamp {
    /// Whether the entry changed since `before` (same side). A directory changes only by its
    /// mode: its entries show up by themselves.
    pub fn changed_since(&self, before: &Stamp) -> bool {
        match (&self.kind, &before.kind) {
            (Kind::Dir, Kind::Dir) => self.mode != before.mode,
            _ => self != before,
        }
    }

    /// Whether a host entry and a container entry hold the same thing, judged by what a tar
    /// copy keeps: kind, size, whole seconds of mtime and mode.
    pub fn same_across(&self, other: &Stamp) -> bool {
        let secs = |t: &str| t.split('.').next().unwrap_or("").to_string();
        match (&self.kind, &other.kind) {
            (Kind::Dir, Kind::Dir) => self.mode == other.mode,
            (Kind::Link(a), Kind::Link(b)) => a == b,
            (Kind::File, Kind::File) => {
                self.size == other.size
                    && self.mode == other.mode
                    && secs(&self.mtime) == secs(&other.mtime)
            }
            _ => false,
        }
    }
}

/// Relative paths (`/`-separated, no leading `./`) to stamps, parents before children.
pub(crate) type Manifest = BTreeMap<String, Stamp>;

/// Whether `path` is one of `excluded` or inside one.
pub(crate) fn is_excluded(path: &str, excluded: &[String]) -> bool {
    excluded.iter().any(|e| {
        path == e
            || path
                .strip_prefix(e.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// The host workspace under `root`, without `excluded` paths. Entries whose names are not
/// UTF-8 are skipped (the container side could not name them either).
pub(crate) fn walk_host(root: &Path, excluded: &[String]) -> Result<Manifest> {
    let mut manifest = Manifest::new();
    let mut stack = vec![String::new()];
    while let Some(dir) = stack.pop() {
        let full = if dir.is_empty() {
            root.to_path_buf()
        } else {
            root.join(&dir)
        };
        let entries = std::fs::read_dir(&full)
            .map_err(|e| ContainerError::io(format!("reading {}", full.display()), e))?;
        for entry in entries.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let relative = if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            };
            if is_excluded(&relative, excluded) {
                continue;
            }
            // Gone since it was listed: a concurrent change, seen next time.
            let Ok(stamp) = host_stamp(&entry.path()) else {
                continue;
            };
            if stamp.kind == Kind::Dir {
                stack.push(relative.clone());
            }
            manifest.insert(relative, stamp);
        }
    }
    Ok(manifest)
}

/// The stamp of one host path (not following a final symlink).
pub(crate) fn host_stamp(path: &Path) -> std::io::Result<Stamp> {
    let meta = std::fs::symlink_metadata(path)?;
    let kind = if meta.file_type().is_symlink() {
        Kind::Link(std::fs::read_link(path)?.to_string_lossy().into_owned())
    } else if meta.is_dir() {
        Kind::Dir
    } else {
        Kind::File
    };
    Ok(Stamp {
        size: if kind == Kind::File { meta.size() } else { 0 },
        kind,
        mtime: format!("{}.{:09}", meta.mtime(), meta.mtime_nsec()),
        ctime: format!("{}.{:09}", meta.ctime(), meta.ctime_nsec()),
        mode: meta.mode() & 0o7777,
    })
}

/// The command that lists the container workspace (run in it): seven NUL-terminated fields per
/// entry (type, size, mtime, ctime, octal mode, link target, path), `excluded` pruned.
pub(crate) fn listing_command(excluded: &[String]) -> String {
    let prune = if excluded.is_empty() {
        String::new()
    } else {
        let tests: Vec<String> = excluded
            .iter()
            .map(|e| format!("-path {}", agent_exec::shell_quote(&format!("./{e}"))))
            .collect();
        format!("\\( {} \\) -prune -o", tests.join(" -o "))
    };
    format!(
        "find . -mindepth 1 {prune} \\( -type f -o -type d -o -type l \\) -printf '%y\\0%s\\0%T@\\0%C@\\0%m\\0%l\\0%P\\0'"
    )
}

/// Parses what [`listing_command`] printed. Sockets, FIFOs and devices were left out by it.
pub(crate) fn parse_listing(text: &str) -> Result<Manifest> {
    let mut fields = text.split('\0');
    let mut manifest = Manifest::new();
    while let Some(kind) = fields.next() {
        if kind.is_empty() {
            break;
        }
        let mut next = || {
            fields.next().ok_or_else(|| {
                ContainerError::Invalid("the workspace listing of the sandbox was cut short".into())
            })
        };
        let (size, mtime, ctime, mode, target, path) =
            (next()?, next()?, next()?, next()?, next()?, next()?);
        let kind = match kind {
            "f" => Kind::File,
            "d" => Kind::Dir,
            "l" => Kind::Link(target.to_string()),
            _ => continue,
        };
        let stamp = Stamp {
            size: if kind == Kind::File {
                size.parse().unwrap_or(0)
            } else {
                0
            },
            kind,
            mtime: mtime.to_string(),
            ctime: ctime.to_string(),
            mode: u32::from_str_radix(mode, 8).unwrap_or(0),
        };
        manifest.insert(path.to_string(), stamp);
    }
    Ok(manifest)
}

/// What changed from `before` to `now` (same side): entries new or changed, and entries gone
/// (only the topmost of a removed tree).
pub(crate) fn changes(before: &Manifest, now: &Manifest) -> (Vec<String>, Vec<String>) {
    let changed = now
        .iter()
        .filter(|(path, stamp)| before.get(*path).is_none_or(|old| stamp.changed_since(old)))
        .map(|(path, _)| path.clone())
        .collect();
    (changed, gone(before, now))
}

/// Paths of `before` missing from `now`, without those under a missing directory.
pub(crate) fn gone(before: &Manifest, now: &Manifest) -> Vec<String> {
    let mut removed: Vec<String> = Vec::new();
    for path in before.keys() {
        if now.contains_key(path) {
            continue;
        }
        if removed
            .last()
            .is_some_and(|top| path.starts_with(top.as_str()) && path[top.len()..].starts_with('/'))
        {
            continue;
        }
        removed.push(path.clone());
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_parses_and_changes_are_found() {
        let text = "d\x004096\x001.5\x001.5\x00755\x00\x00src\x00\
                    f\x0012\x002.25\x002.25\x00644\x00\x00src/a.py\x00\
                    l\x004\x003.0\x003.0\x00777\x00a.py\x00src/link\x00";
        let before = parse_listing(text).unwrap();
        assert_eq!(before.len(), 3);
        assert_eq!(before["src/link"].kind, Kind::Link("a.py".into()));
        assert_eq!(before["src"].mode, 0o755);
        let mut now = before.clone();
        now.get_mut("src/a.py").unwrap().ctime = "9.0".into();
        now.get_mut("src").unwrap().mtime = "9.0".into();
        now.remove("src/link");
        let (changed, removed) = changes(&before, &now);
        assert_eq!(changed, vec!["src/a.py"]);
        assert_eq!(removed, vec!["src/link"]);
        let (_, removed) = changes(&before, &Manifest::new());
        assert_eq!(removed, vec!["src"], "only the top of a removed tree");
    }

    #[test]
    fn host_walk_skips_excluded_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".git/objects")).unwrap();
        std::fs::create_dir_all(dir.path().join("pkg")).unwrap();
        std::fs::write(dir.path().join("pkg/m.py"), "x = 1\n").unwrap();
        std::fs::write(dir.path().join(".gitignore"), "*.pyc\n").unwrap();
        let all = walk_host(dir.path(), &[]).unwrap();
        assert!(all.contains_key(".git/objects"));
        let some = walk_host(dir.path(), &[".git".into()]).unwrap();
        let keys: Vec<&str> = some.keys().map(String::as_str).collect();
        assert_eq!(keys, vec![".gitignore", "pkg", "pkg/m.py"]);
        assert_eq!(some["pkg/m.py"].size, 6);
        assert!(listing_command(&[".git".into()]).contains("-path ./.git"));
    }
}
