//! `find_files`: files (and directories) by glob or by name, .gitignore respected.

use std::path::Path;
use std::sync::Mutex;

use async_trait::async_trait;
use globset::{GlobBuilder, GlobMatcher};
use ignore::WalkState;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{ToolError, ToolResult};
use crate::tool::{Effect, ToolContext, ToolOutput, TypedTool};

use super::walk::{threads, walker};

/// Paths listed; the total is always given.
const MAX_RESULTS: usize = 100;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct FindFilesArgs {
    /// A glob such as `*.py`, `test_*.py` or `src/**/models.rs`, or a plain name fragment such as
    /// `settings` (case-insensitive substring of the file name). A pattern without `/` is
    /// matched against file names at any depth; one with `/` against the path.
    pub pattern: String,
    /// Directory to search, relative to the repository root (default: the whole repository).
    #[serde(default)]
    pub path: Option<String>,
}

pub struct FindFiles;

#[async_trait]
impl TypedTool for FindFiles {
    type Args = FindFilesArgs;
    const NAME: &'static str = "find_files";
    const EFFECT: Effect = Effect::ReadsFiles;
    const DESCRIPTION: &'static str = "Find files and directories by glob (`*.py`, `tests/**/test_*.py`) or by a name fragment (`settings` matches any path whose file name contains it, case-insensitive). Skips .gitignored files. Lists up to 100 paths relative to the repository root (directories end with `/`) and gives the total count.";

    async fn call(&self, ctx: &ToolContext, args: FindFilesArgs) -> ToolResult<ToolOutput> {
        let pattern = args.pattern.trim().to_string();
        if pattern.is_empty() {
            return Err(ToolError::model(
                "`pattern` is empty; give a glob like `*.py` or a name fragment",
            ));
        }
        let dir = ctx.jail.resolve(args.path.as_deref().unwrap_or("."))?;
        let shown_dir = display_dir(ctx.jail.relative(&dir));
        if !dir.exists() {
            return Err(ToolError::model(format!(
                "`{shown_dir}` does not exist; give a directory relative to the repository root"
            )));
        }
        let matcher = NameMatcher::new(&pattern)?;
        let root = ctx.repo_root().to_path_buf();
        let found = tokio::task::spawn_blocking(move || find(&root, &dir, &matcher))
            .await
            .map_err(|e| ToolError::fatal(format!("file search failed: {e}")))?;
        Ok(ToolOutput::text(render(&pattern, &shown_dir, found)))
    }
}

pub(crate) fn display_dir(rel: &Path) -> String {
    let s = rel.display().to_string();
    if s.is_empty() { ".".to_string() } else { s }
}

/// How a pattern is compared with a path.
enum NameMatcher {
    /// A glob against the file name (pattern without `/`).
    NameGlob(GlobMatcher),
    /// A glob against the path relative to the search directory or to the repository root.
    PathGlob(GlobMatcher),
    /// A case-insensitive fragment of the file name.
    NameFragment(String),
    /// A case-insensitive fragment of the relative path.
    PathFragment(String),
}

impl NameMatcher {
    fn new(pattern: &str) -> ToolResult<Self> {
        let is_glob = pattern.contains(['*', '?', '[', '{']);
        let has_slash = pattern.contains('/');
        if !is_glob {
            let fragment = pattern.trim_start_matches("./").to_lowercase();
            return Ok(if has_slash {
                Self::PathFragment(fragment)
            } else {
                Self::NameFragment(fragment)
            });
        }
        let glob = GlobBuilder::new(pattern.trim_start_matches("./"))
            .literal_separator(true)
            .case_insensitive(true)
            .build()
            .map_err(|e| {
                ToolError::model(format!(
                    "invalid glob `{pattern}`: {e}; use `*`, `?`, `**` and `{{a,b}}`"
                ))
            })?
            .compile_matcher();
        Ok(if has_slash {
            Self::PathGlob(glob)
        } else {
            Self::NameGlob(glob)
        })
    }

    fn matches(&self, name: &str, rel_to_dir: &Path, rel_to_root: &Path) -> bool {
        match self {
            Self::NameGlob(g) => g.is_match(name),
            Self::PathGlob(g) => g.is_match(rel_to_dir) || g.is_match(rel_to_root),
            Self::NameFragment(f) => name.to_lowercase().contains(f.as_str()),
            Self::PathFragment(f) => rel_to_root
                .to_string_lossy()
                .to_lowercase()
                .contains(f.as_str()),
        }
    }

    /// Whether `name` is exactly what was asked for (ranked first).
    fn is_exact(&self, name: &str) -> bool {
        matches!(self, Self::NameFragment(f) if name.to_lowercase() == *f)
    }
}

struct Found {
    /// (exact name match, path relative to the root, is a directory)
    hits: Vec<(bool, String, bool)>,
}

fn find(root: &Path, dir: &Path, matcher: &NameMatcher) -> Found {
    let hits = Mutex::new(Vec::new());
    let mut builder = walker(dir);
    builder.threads(threads());
    builder.build_parallel().run(|| {
        let hits = &hits;
        Box::new(move |entry| {
            let Ok(entry) = entry else {
                return WalkState::Continue;
            };
            if entry.depth() == 0 {
                return WalkState::Continue;
            }
            let path = entry.path();
            let name = entry.file_name().to_string_lossy();
            let rel_to_dir = path.strip_prefix(dir).unwrap_or(path);
            let rel_to_root = path.strip_prefix(root).unwrap_or(path);
            if matcher.matches(&name, rel_to_dir, rel_to_root) {
                let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
                let hit = (
                    matcher.is_exact(&name),
                    rel_to_root.display().to_string(),
                    is_dir,
                );
                if let Ok(mut hits) = hits.lock() {
                    hits.push(hit);
                }
            }
            WalkState::Continue
        })
    });
    let mut hits = hits.into_inner().unwrap_or_default();
    hits.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Found { hits }
}

fn render(pattern: &str, shown_dir: &str, found: Found) -> String {
    let total = found.hits.len();
    let under = if shown_dir == "." {
        "the repository".to_string()
    } else {
        format!("`{shown_dir}`")
    };
    if total == 0 {
        return format!(
            "no files matching `{pattern}` under {under} (.gitignored files are not searched)\n"
        );
    }
    let mut out = if total > MAX_RESULTS {
        format!("{total} paths match `{pattern}` under {under}; the first {MAX_RESULTS}:\n")
    } else if total == 1 {
        format!("1 path matches `{pattern}` under {under}:\n")
    } else {
        format!("{total} paths match `{pattern}` under {under}:\n")
    };
    for (_, path, is_dir) in found.hits.iter().take(MAX_RESULTS) {
        out.push_str(path);
        if *is_dir {
            out.push('/');
        }
        out.push('\n');
    }
    if total > MAX_RESULTS {
        out.push_str(&format!(
            "[{} more not shown; narrow the pattern or the path]\n",
            total - MAX_RESULTS
        ));
    }
    out
}

/// Files anywhere under `root` whose name equals `name` (case-insensitive), for "did you mean".
pub(crate) fn same_name_files(root: &Path, name: &str, limit: usize) -> Vec<String> {
    if name.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<String> = walker(root)
        .build()
        .flatten()
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .filter(|e| e.file_name().to_string_lossy().eq_ignore_ascii_case(name))
        .filter_map(|e| {
            e.path()
                .strip_prefix(root)
                .ok()
                .map(|p| p.display().to_string())
        })
        .take(limit)
        .collect();
    out.sort();
    out
}
