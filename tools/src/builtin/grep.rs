//! `grep`: search file contents, grouped by file, capped with counts of what was cut.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{ToolError, ToolResult};
use crate::tool::{Effect, ToolContext, ToolOutput, TypedTool};

use super::find_files::display_dir;
use super::search::{FileHits, GrepHits, GrepOptions, MAX_CONTEXT, search};

/// Output lines (matches and context) shown in total.
const LINE_BUDGET: usize = 150;
/// Paths listed in files_only mode.
const MAX_FILES_LISTED: usize = 200;
/// Files named (with their counts) after the line budget ran out.
const MAX_FILES_SUMMARISED: usize = 40;
/// Characters of one line shown.
const MAX_LINE_CHARS: usize = 300;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GrepArgs {
    /// Regular expression (Rust regex syntax, like ripgrep), or plain text when literal is true.
    /// Matched within single lines; case-sensitive.
    pub pattern: String,
    /// File or directory to search, relative to the repository root (default: the whole
    /// repository).
    #[serde(default)]
    pub path: Option<String>,
    /// Treat the pattern as plain text (no regex special characters). Default false.
    #[serde(default)]
    pub literal: Option<bool>,
    /// Only list the files that contain a match. Default false.
    #[serde(default)]
    pub files_only: Option<bool>,
    /// Lines of context to show before and after each match (0-10, default 0).
    #[serde(default)]
    pub context: Option<usize>,
}

pub struct Grep;

#[async_trait]
impl TypedTool for Grep {
    type Args = GrepArgs;
    const NAME: &'static str = "grep";
    const EFFECT: Effect = Effect::ReadsFiles;
    const DESCRIPTION: &'static str = "Search file contents with a regular expression (ripgrep syntax; literal=true for plain text), case-sensitive, skipping .gitignored and binary files. Results are grouped by file, sorted by path, as `line: text` (context lines as `line- text`). Output is capped and says how many matches and files were cut; use files_only=true to list every matching file first, then narrow with path.";

    async fn call(&self, ctx: &ToolContext, args: GrepArgs) -> ToolResult<ToolOutput> {
        if args.pattern.is_empty() {
            return Err(ToolError::model("`pattern` is empty"));
        }
        let target = ctx.jail.resolve(args.path.as_deref().unwrap_or("."))?;
        let shown = display_dir(ctx.jail.relative(&target));
        if !target.exists() {
            return Err(ToolError::model(format!(
                "`{shown}` does not exist; give a file or directory relative to the repository root"
            )));
        }
        let opts = GrepOptions {
            pattern: args.pattern.clone(),
            literal: args.literal.unwrap_or(false),
            files_only: args.files_only.unwrap_or(false),
            context: args.context.unwrap_or(0).min(MAX_CONTEXT),
        };
        let root = ctx.repo_root().to_path_buf();
        let search_opts = opts.clone();
        let hits = tokio::task::spawn_blocking(move || search(&root, &target, &search_opts))
            .await
            .map_err(|e| ToolError::fatal(format!("search failed: {e}")))?
            .map_err(|e| {
                ToolError::model(format!(
                    "{e}\nTo search for this text exactly, pass literal=true (or escape the regex special characters with `\\`)."
                ))
            })?;
        Ok(ToolOutput::text(render(&opts, &shown, &hits)))
    }
}

fn render(opts: &GrepOptions, shown: &str, hits: &GrepHits) -> String {
    let under = if shown == "." {
        "the repository".to_string()
    } else {
        format!("`{shown}`")
    };
    let pattern = &opts.pattern;
    if hits.files.is_empty() {
        let mut out = format!(
            "no matches for `{pattern}` in {under} ({} files searched; .gitignored and binary files skipped)\n",
            hits.files_searched
        );
        if !opts.literal
            && pattern.contains([
                '(', ')', '[', ']', '{', '}', '.', '*', '+', '?', '|', '\\', '^', '$',
            ])
        {
            out.push_str("The pattern was read as a regular expression; pass literal=true to search for the exact text.\n");
        }
        return out;
    }
    if opts.files_only {
        return render_files_only(pattern, &under, hits);
    }
    let total = hits.total_matches();
    let nfiles = hits.files.len();
    let mut out = format!(
        "{total} matching {} in {nfiles} {} for `{pattern}` in {under}:\n",
        plural(total as usize, "line", "lines"),
        plural(nfiles, "file", "files"),
    );
    // Share the budget across files so one noisy file cannot hide the others.
    let per_match = 1 + 2 * opts.context;
    let per_file = (LINE_BUDGET / per_match / nfiles).clamp(3, LINE_BUDGET);
    let mut used = 0;
    let mut shown_files = 0;
    for file in &hits.files {
        if used >= LINE_BUDGET {
            break;
        }
        used += render_file(file, per_file, &mut out);
        shown_files += 1;
    }
    let rest = &hits.files[shown_files..];
    if !rest.is_empty() {
        let rest_matches: u64 = rest.iter().map(|f| f.match_count).sum();
        out.push_str(&format!(
            "[{} more {} with {rest_matches} matching lines not shown: ",
            rest.len(),
            plural(rest.len(), "file", "files")
        ));
        let named: Vec<String> = rest
            .iter()
            .take(MAX_FILES_SUMMARISED)
            .map(|f| format!("{} ({})", f.path, f.match_count))
            .collect();
        out.push_str(&named.join(", "));
        if rest.len() > MAX_FILES_SUMMARISED {
            out.push_str(&format!(", and {} more", rest.len() - MAX_FILES_SUMMARISED));
        }
        out.push_str("; narrow the path or the pattern]\n");
    }
    out
}

/// Renders one file's lines, showing at most `max_matches` matches; returns lines written.
fn render_file(file: &FileHits, max_matches: usize, out: &mut String) -> usize {
    out.push_str(&file.path);
    out.push('\n');
    let mut written = 1;
    let mut matches_shown = 0u64;
    for line in &file.lines {
        if line.is_match {
            if matches_shown as usize == max_matches {
                break;
            }
            matches_shown += 1;
        }
        if line.gap_before {
            out.push_str("  --\n");
        }
        let sep = if line.is_match { ':' } else { '-' };
        out.push_str(&format!("  {}{sep} {}\n", line.number, clip(&line.text)));
        written += 1;
    }
    if file.match_count > matches_shown {
        out.push_str(&format!(
            "  [{} more matching lines in this file; grep with path=\"{}\" to see them]\n",
            file.match_count - matches_shown,
            file.path
        ));
        written += 1;
    }
    written
}

fn render_files_only(pattern: &str, under: &str, hits: &GrepHits) -> String {
    let n = hits.files.len();
    let mut out = format!(
        "{n} {} in {under} contain `{pattern}`:\n",
        plural(n, "file", "files")
    );
    for file in hits.files.iter().take(MAX_FILES_LISTED) {
        out.push_str(&file.path);
        out.push('\n');
    }
    if n > MAX_FILES_LISTED {
        out.push_str(&format!(
            "[{} more files not listed; narrow the path or the pattern]\n",
            n - MAX_FILES_LISTED
        ));
    }
    out
}

fn clip(text: &str) -> String {
    let text = text.trim_end();
    match text.char_indices().nth(MAX_LINE_CHARS) {
        None => text.to_string(),
        Some((cut, _)) => format!(
            "{}[... {} more characters]",
            &text[..cut],
            text[cut..].chars().count()
        ),
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}
