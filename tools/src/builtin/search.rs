//! The search engine behind `grep`: ripgrep's own libraries (grep-searcher, grep-regex, ignore)
//! with a parallel walk. Public so that benchmarks and the CLI call the same code the tool does.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{
    BinaryDetection, Searcher, SearcherBuilder, Sink, SinkContext, SinkContextKind, SinkMatch,
};
use ignore::WalkState;
use thiserror::Error;

use super::walk::{threads, walker};

/// Matched lines remembered per file (all matches are still counted).
pub const MAX_KEPT_PER_FILE: usize = 150;
/// Context lines on each side of a match, at most.
pub const MAX_CONTEXT: usize = 10;

#[derive(Debug, Clone, Default)]
pub struct GrepOptions {
    pub pattern: String,
    /// Match the pattern as plain text, not as a regular expression.
    pub literal: bool,
    /// Only find which files match (stops reading a file at its first match).
    pub files_only: bool,
    /// Lines of context before and after each match.
    pub context: usize,
}

#[derive(Debug, Error)]
pub enum GrepError {
    #[error("invalid regex `{pattern}`: {message}")]
    InvalidPattern { pattern: String, message: String },
}

/// One line of output: a match or a context line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrepLine {
    pub number: u64,
    pub text: String,
    pub is_match: bool,
    /// The previous kept line of this file is not adjacent (a `--` goes before this one).
    pub gap_before: bool,
}

#[derive(Debug, Clone)]
pub struct FileHits {
    /// Path relative to the repository root.
    pub path: String,
    /// Matching lines in the file (all of them, also those not kept).
    pub match_count: u64,
    /// The first [`MAX_KEPT_PER_FILE`] matching lines and their context.
    pub lines: Vec<GrepLine>,
}

#[derive(Debug, Clone, Default)]
pub struct GrepHits {
    /// Files with at least one match, sorted by path.
    pub files: Vec<FileHits>,
    /// Files searched (text files that the walk reached).
    pub files_searched: usize,
}

impl GrepHits {
    pub fn total_matches(&self) -> u64 {
        self.files.iter().map(|f| f.match_count).sum()
    }
}

/// Compiles the pattern the way `grep` will use it.
pub fn build_matcher(opts: &GrepOptions) -> Result<RegexMatcher, GrepError> {
    RegexMatcherBuilder::new()
        .line_terminator(Some(b'\n'))
        .fixed_strings(opts.literal)
        .build(&opts.pattern)
        .map_err(|e| GrepError::InvalidPattern {
            pattern: opts.pattern.clone(),
            message: e.to_string(),
        })
}

/// Searches every non-ignored text file under `dir` (a directory or one file). Paths in the
/// result are relative to `root`.
pub fn search(root: &Path, dir: &Path, opts: &GrepOptions) -> Result<GrepHits, GrepError> {
    let matcher = build_matcher(opts)?;
    let context = opts.context.min(MAX_CONTEXT);
    let mut searcher_builder = SearcherBuilder::new();
    searcher_builder
        .line_number(true)
        .binary_detection(BinaryDetection::quit(0))
        .before_context(if opts.files_only { 0 } else { context })
        .after_context(if opts.files_only { 0 } else { context });
    let files = Mutex::new(Vec::new());
    let searched = std::sync::atomic::AtomicUsize::new(0);
    let mut walk = walker(dir);
    walk.threads(threads());
    walk.build_parallel().run(|| {
        let matcher = matcher.clone();
        let mut searcher = searcher_builder.build();
        let files = &files;
        let searched = &searched;
        let files_only = opts.files_only;
        Box::new(move |entry| {
            let Ok(entry) = entry else {
                return WalkState::Continue;
            };
            // Regular files only: a symlink is not followed, so it cannot lead outside the root.
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                return WalkState::Continue;
            }
            if let Some(hits) = search_file(&mut searcher, &matcher, entry.path(), files_only) {
                searched.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if hits.match_count > 0 {
                    let path = entry.into_path();
                    if let Ok(mut files) = files.lock() {
                        files.push((path, hits));
                    }
                }
            }
            WalkState::Continue
        })
    });
    let mut files: Vec<FileHits> = files
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|(path, mut hits): (PathBuf, FileHits)| {
            hits.path = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            hits
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(GrepHits {
        files,
        files_searched: searched.into_inner(),
    })
}

/// `None` when the file is binary or unreadable.
fn search_file(
    searcher: &mut Searcher,
    matcher: &RegexMatcher,
    path: &Path,
    files_only: bool,
) -> Option<FileHits> {
    let mut collector = Collector {
        files_only,
        ..Collector::default()
    };
    searcher.search_path(matcher, path, &mut collector).ok()?;
    if collector.binary {
        return None;
    }
    Some(FileHits {
        path: String::new(),
        match_count: collector.count,
        lines: collector.lines,
    })
}

#[derive(Default)]
struct Collector {
    files_only: bool,
    count: u64,
    kept: usize,
    /// Still keeping after-context of the last kept match.
    keeping_after: bool,
    gap: bool,
    binary: bool,
    lines: Vec<GrepLine>,
}

impl Collector {
    fn push(&mut self, number: Option<u64>, bytes: &[u8], is_match: bool) {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim_end_matches(['\n', '\r']).to_string();
        self.lines.push(GrepLine {
            number: number.unwrap_or(0),
            text,
            is_match,
            gap_before: std::mem::take(&mut self.gap) && !self.lines.is_empty(),
        });
    }
}

impl Sink for Collector {
    type Error = std::io::Error;

    fn matched(&mut self, _: &Searcher, mat: &SinkMatch<'_>) -> Result<bool, std::io::Error> {
        self.count += 1;
        if self.files_only {
            return Ok(false);
        }
        if self.kept < MAX_KEPT_PER_FILE {
            self.kept += 1;
            self.keeping_after = true;
            self.push(mat.line_number(), mat.bytes(), true);
        } else {
            self.keeping_after = false;
        }
        Ok(true)
    }

    fn context(&mut self, _: &Searcher, ctx: &SinkContext<'_>) -> Result<bool, std::io::Error> {
        let keep = match ctx.kind() {
            SinkContextKind::Before => self.kept < MAX_KEPT_PER_FILE,
            _ => self.keeping_after,
        };
        if keep {
            self.push(ctx.line_number(), ctx.bytes(), false);
        }
        Ok(true)
    }

    fn context_break(&mut self, _: &Searcher) -> Result<bool, std::io::Error> {
        self.gap = true;
        Ok(true)
    }

    fn binary_data(&mut self, _: &Searcher, _offset: u64) -> Result<bool, std::io::Error> {
        self.binary = true;
        Ok(false)
    }
}
