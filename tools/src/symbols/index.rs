//! The repository-wide index: built in parallel, persisted on disk keyed by content hash,
//! updated incrementally.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::extract;
use super::model::{FileSymbols, content_hash};
use crate::lang::Lang;

/// Files larger than this are generated or minified; they are not indexed.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Bump when the stored format or the extraction changes, so old caches are rebuilt.
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Error)]
pub enum IndexError {
    #[error("cannot read the symbol cache {path}: {message}")]
    CacheRead { path: PathBuf, message: String },
    #[error(
        "cannot write the symbol cache {path}: {message} (set XDG_CACHE_HOME to a writable directory)"
    )]
    CacheWrite { path: PathBuf, message: String },
    #[error("cannot open repository root {path}: {message}")]
    Root { path: PathBuf, message: String },
}

/// What the last build, load or update did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshStats {
    /// Files in the index afterwards.
    pub files: usize,
    /// Files parsed because they were new or their content hash changed.
    pub reparsed_files: usize,
    /// Files dropped because they no longer exist.
    pub removed_files: usize,
    /// Whether a stored index was found and used.
    pub loaded_from_cache: bool,
    pub elapsed: Duration,
}

/// The symbols of every supported source file under a root.
pub struct SymbolIndex {
    root: PathBuf,
    cache_file: Option<PathBuf>,
    files: HashMap<String, Arc<FileSymbols>>,
    last: RefreshStats,
    pending_save: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for SymbolIndex {
    fn drop(&mut self) {
        // Do not leave a half-written temporary file behind.
        self.wait_for_background_save();
    }
}

#[derive(Serialize)]
struct CacheOut<'a> {
    version: u32,
    root: &'a str,
    files: Vec<&'a FileSymbols>,
}

#[derive(Deserialize)]
struct CacheIn {
    version: u32,
    root: String,
    files: Vec<FileSymbols>,
}

impl SymbolIndex {
    /// Loads the stored index for `root` from `cache_dir` (if any), re-parses files whose
    /// content changed, drops deleted files, parses new ones, and stores the result.
    /// With `cache_dir = None` nothing is read or written.
    pub fn open(root: &Path, cache_dir: Option<&Path>) -> Result<Self, IndexError> {
        let started = Instant::now();
        let root = root.canonicalize().map_err(|e| IndexError::Root {
            path: root.to_path_buf(),
            message: e.to_string(),
        })?;
        let cache_file = cache_dir.map(|dir| cache_file_for(dir, &root));
        let mut index = SymbolIndex {
            root,
            cache_file,
            files: HashMap::new(),
            last: RefreshStats::default(),
            pending_save: Mutex::new(None),
        };
        let loaded = index.load_cache();
        if let (Some(dir), Some(file)) = (cache_dir, &index.cache_file) {
            prune_cache(dir, file);
        }
        let mut stats = index.refresh();
        stats.loaded_from_cache = loaded;
        if !loaded || stats.reparsed_files > 0 || stats.removed_files > 0 {
            index.save_or_warn();
        }
        stats.elapsed = started.elapsed();
        index.last = stats.clone();
        Ok(index)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn cache_file(&self) -> Option<&Path> {
        self.cache_file.as_deref()
    }

    /// What the last open/refresh/update did.
    pub fn last_stats(&self) -> &RefreshStats {
        &self.last
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Files in path order.
    pub fn files(&self) -> Vec<&FileSymbols> {
        let mut files: Vec<&FileSymbols> = self.files.values().map(|f| f.as_ref()).collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files
    }

    pub fn file(&self, rel_path: &str) -> Option<&FileSymbols> {
        self.files.get(rel_path).map(|f| f.as_ref())
    }

    fn load_cache(&mut self) -> bool {
        let Some(path) = &self.cache_file else {
            return false;
        };
        let Ok(bytes) = std::fs::read(path) else {
            return false;
        };
        match postcard::from_bytes::<CacheIn>(&bytes) {
            Ok(cache)
                if cache.version == FORMAT_VERSION
                    && Path::new(&cache.root) == self.root.as_path() =>
            {
                self.files = cache
                    .files
                    .into_iter()
                    .map(|f| (f.path.clone(), Arc::new(f)))
                    .collect();
                true
            }
            Ok(_) => {
                tracing::info!("symbol cache {} is stale; rebuilding", path.display());
                false
            }
            Err(err) => {
                tracing::warn!(
                    "symbol cache {} is unreadable ({err}); rebuilding",
                    path.display()
                );
                false
            }
        }
    }

    fn save_or_warn(&self) {
        if let Err(err) = self.save() {
            // The index still works in memory; only the next start is slower.
            tracing::warn!("{err}");
        }
    }

    /// Writes the index to its cache file (atomically: a temporary file, then a rename) and
    /// waits for it.
    pub fn save(&self) -> Result<(), IndexError> {
        self.wait_for_background_save();
        let Some(path) = &self.cache_file else {
            return Ok(());
        };
        let files: Vec<Arc<FileSymbols>> = self.files.values().cloned().collect();
        write_cache(path, &self.root, &files)
    }

    /// Writes the cache on a background thread: an update returns as soon as the index in
    /// memory is current. Saves run one at a time, in order.
    fn save_in_background(&mut self) {
        self.wait_for_background_save();
        let Some(path) = self.cache_file.clone() else {
            return;
        };
        let files: Vec<Arc<FileSymbols>> = self.files.values().cloned().collect();
        let root = self.root.clone();
        let spawned = std::thread::Builder::new()
            .name("symbol-cache-writer".into())
            .spawn(move || {
                if let Err(err) = write_cache(&path, &root, &files) {
                    tracing::warn!("{err}");
                }
            });
        match spawned {
            Ok(handle) => {
                *self.pending_save.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle)
            }
            Err(err) => tracing::warn!("cannot start the symbol cache writer: {err}"),
        }
    }

    /// Blocks until a background save (if any) has finished.
    pub fn wait_for_background_save(&self) {
        let handle = self
            .pending_save
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::warn!("the symbol cache writer panicked");
        }
    }

    /// Walks the tree (in parallel, respecting .gitignore) and brings every file up to date.
    pub fn refresh(&mut self) -> RefreshStats {
        let started = Instant::now();
        let found: Mutex<Found> = Mutex::new(Vec::new());
        let old = &self.files;
        let root = &self.root;
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        walker(root).threads(threads).build_parallel().run(|| {
            let mut collector = Collector {
                found: &found,
                local: Vec::new(),
            };
            Box::new(move |entry| {
                let Ok(entry) = entry else {
                    return ignore::WalkState::Continue;
                };
                if entry.file_type().is_some_and(|t| t.is_file())
                    && let Some(result) = index_file(root, entry.path(), old)
                {
                    collector.local.push(result);
                }
                ignore::WalkState::Continue
            })
        });
        let found = found.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut stats = RefreshStats::default();
        let mut files = HashMap::with_capacity(found.len());
        for (file, reparsed) in found {
            if reparsed {
                stats.reparsed_files += 1;
            }
            files.insert(file.path.clone(), file);
        }
        stats.removed_files = self
            .files
            .keys()
            .filter(|k| !files.contains_key(*k))
            .count();
        self.files = files;
        stats.files = self.files.len();
        stats.elapsed = started.elapsed();
        self.last = stats.clone();
        stats
    }

    /// Re-indexes just these paths (relative to the root): changed files are re-parsed, deleted
    /// ones dropped, new ones added; then the cache is written (in the background) if anything
    /// changed.
    pub fn update_files(&mut self, rel_paths: &[PathBuf]) -> RefreshStats {
        let started = Instant::now();
        let mut stats = RefreshStats::default();
        for rel in rel_paths {
            let abs = self.root.join(rel);
            let key = rel_key(rel);
            if !abs.is_file() {
                if self.files.remove(&key).is_some() {
                    stats.removed_files += 1;
                }
                continue;
            }
            if let Some((file, reparsed)) = index_file(&self.root, &abs, &self.files) {
                if reparsed {
                    stats.reparsed_files += 1;
                }
                self.files.insert(file.path.clone(), file);
            } else if self.files.remove(&key).is_some() {
                // It became unsupported (too large, say).
                stats.removed_files += 1;
            }
        }
        if stats.reparsed_files > 0 || stats.removed_files > 0 {
            self.save_in_background();
        }
        stats.files = self.files.len();
        stats.elapsed = started.elapsed();
        self.last = stats.clone();
        stats
    }
}

/// The `ignore` walker configured the way the index walks: .gitignore respected even outside a
/// git checkout, hidden files skipped.
fn walker(root: &Path) -> ignore::WalkBuilder {
    let mut builder = ignore::WalkBuilder::new(root);
    builder.require_git(false).follow_links(false);
    builder
}

type Found = Vec<(Arc<FileSymbols>, bool)>;

/// One walker thread's results, moved into the shared list when the thread is done.
struct Collector<'a> {
    found: &'a Mutex<Found>,
    local: Found,
}

impl Drop for Collector<'_> {
    fn drop(&mut self) {
        let mut all = self.found.lock().unwrap_or_else(|e| e.into_inner());
        all.append(&mut self.local);
    }
}

/// Path key: relative, `/`-separated.
fn rel_key(rel: &Path) -> String {
    let s = rel.to_string_lossy();
    if std::path::MAIN_SEPARATOR == '/' {
        s.into_owned()
    } else {
        s.replace(std::path::MAIN_SEPARATOR, "/")
    }
}

/// Reads and (if its hash changed) parses one file. `None` if the file is not indexed.
/// The flag says whether it was parsed (true) or reused from `old` (false).
fn index_file(
    root: &Path,
    path: &Path,
    old: &HashMap<String, Arc<FileSymbols>>,
) -> Option<(Arc<FileSymbols>, bool)> {
    let lang = Lang::from_path(path)?;
    let name = path.file_name()?.to_string_lossy();
    if name.ends_with(".min.js") {
        return None;
    }
    // One open+fstat+read; a file found too large is dropped after reading (rare).
    let bytes = crate::builtin::read_regular_blocking(path).ok()?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return None;
    }
    let rel = rel_key(path.strip_prefix(root).ok()?);
    let hash = content_hash(&bytes);
    if let Some(existing) = old.get(&rel)
        && existing.hash == hash
    {
        return Some((existing.clone(), false));
    }
    let source = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    let mut symbols = extract::extract(lang, &rel, &source);
    // Hash the bytes on disk, not the lossy text, so an unchanged file is recognised.
    symbols.hash = hash;
    Some((Arc::new(symbols), true))
}

fn write_cache(path: &Path, root: &Path, files: &[Arc<FileSymbols>]) -> Result<(), IndexError> {
    let write_err = |message: String| IndexError::CacheWrite {
        path: path.to_path_buf(),
        message,
    };
    let root = root.to_string_lossy();
    let out = CacheOut {
        version: FORMAT_VERSION,
        root: &root,
        files: files.iter().map(|f| f.as_ref()).collect(),
    };
    let bytes = postcard::to_stdvec(&out).map_err(|e| write_err(e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| write_err(e.to_string()))?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &bytes).map_err(|e| write_err(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| write_err(e.to_string()))?;
    Ok(())
}

/// `<cache_dir>/<hash of the root path>/index.bin`.
pub fn cache_file_for(cache_dir: &Path, root: &Path) -> PathBuf {
    let digest = blake3::hash(root.to_string_lossy().as_bytes());
    let hex: String = digest.as_bytes()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    cache_dir.join(hex).join("index.bin")
}

/// Environment variable overriding where the index is stored: a directory, or `off`.
pub const CACHE_ENV: &str = "AGENT_SYMBOL_CACHE";

/// Stored indexes not used for this long are deleted when another index is opened.
const CACHE_MAX_AGE: Duration = Duration::from_secs(14 * 24 * 3600);

/// The default cache directory: `$AGENT_SYMBOL_CACHE` if set (`off` disables persistence),
/// else `$XDG_CACHE_HOME/agent/symbols` (or the platform's cache dir). The environment is read
/// once, on the first call.
pub fn default_cache_dir() -> Option<PathBuf> {
    static DIR: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| match std::env::var_os(CACHE_ENV) {
        Some(value) if matches!(value.to_str(), Some("off" | "0" | "none" | "")) => None,
        Some(value) => Some(PathBuf::from(value)),
        None => dirs::cache_dir().map(|d| d.join("agent").join("symbols")),
    })
    .clone()
}

/// Deletes stored indexes (one directory per repository root) unused for `CACHE_MAX_AGE`, so
/// many short-lived checkouts (benchmark workspaces) do not fill the disk.
fn prune_cache(cache_dir: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(cache_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        if keep.starts_with(&dir) {
            continue;
        }
        let index = dir.join("index.bin");
        let age = std::fs::metadata(&index)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok());
        if age.is_some_and(|age| age > CACHE_MAX_AGE)
            && let Err(err) = std::fs::remove_dir_all(&dir)
        {
            tracing::debug!("cannot prune {}: {err}", dir.display());
        }
    }
}
