//! `apply_patch`: a unified diff or a line-number-free patch over one or more files, applied
//! all-or-nothing with graded matching.

mod apply;
mod parse;
mod repair;

use std::path::PathBuf;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{ToolError, ToolResult};
use crate::tool::{Effect, ToolContext, ToolOutput, TypedTool};

use super::edit::{ASCII_NOTE, write_file};
use super::fileio::{Doc, FileText, classify, snippet};
use super::matching::{has_fancy_punctuation, normalize_punctuation};
use super::syntax_gate::check_edit;
use apply::{HunkOutcome, apply_hunks};
use parse::{FileOp, FilePatch, HunkLine, parse_patch};

/// Changed regions shown per file after a successful patch.
const MAX_SNIPPETS_PER_FILE: usize = 4;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ApplyPatchArgs {
    /// The patch text: a unified diff (`--- a/path`, `+++ b/path`, `@@ -12,5 +12,6 @@` hunks; line
    /// numbers may be omitted as a bare `@@` or `@@ <a line above the change>`), or the
    /// `*** Begin Patch` / `*** Update File: path` / `*** Add File: path` /
    /// `*** Delete File: path` / `*** End Patch` format. Hunk lines start with ` ` (context),
    /// `-` (remove) or `+` (add). `/dev/null` as the old path creates a file, as the new path
    /// deletes it.
    pub patch: String,
}

pub struct ApplyPatch;

#[async_trait]
impl TypedTool for ApplyPatch {
    type Args = ApplyPatchArgs;
    const NAME: &'static str = "apply_patch";
    const EFFECT: Effect = Effect::WritesFiles;
    const DESCRIPTION: &'static str = "Apply a patch (unified diff, or hunks without line numbers) to one or more files: edit, create, delete, rename. Each hunk's context and removed lines are located exactly, then ignoring trailing whitespace, then ignoring indentation (relative indentation kept; added lines re-indented), then ignoring typographic quotes/dashes; line numbers, when given, only pick among matches, so stale numbers are fine. All-or-nothing: if any hunk fails, or an edit would introduce a syntax error, no file is changed and each failure names the hunk, the closest matching location and its first differing line. Hunks already present in the file are reported as already applied, so resending a patch is safe. Include 2-3 context lines around each change.";

    async fn call(&self, ctx: &ToolContext, args: ApplyPatchArgs) -> ToolResult<ToolOutput> {
        if args.patch.trim().is_empty() {
            return Err(ToolError::model("`patch` is empty"));
        }
        let sections = parse_patch(&args.patch)
            .map_err(|e| ToolError::model(format!("cannot read the patch: {}", e.0)))?;
        let (files, ascii) = match prepare(ctx, &sections, false).await {
            Ok(files) => (files, false),
            // Curly quotes typed as string delimiters: retry with ASCII in the added lines.
            Err(Problem::Rejected(first)) if adds_typographic_punctuation(&sections) => {
                match prepare(ctx, &sections, true).await {
                    Ok(files) => (files, true),
                    Err(_) => return Err(Problem::Rejected(first).into_error()),
                }
            }
            Err(problem) => return Err(problem.into_error()),
        };
        write_all(&files).await?;
        let mut output = report(&files);
        if ascii {
            output.text.push_str(&format!("Note: {ASCII_NOTE}.\n"));
        }
        Ok(output)
    }
}

/// Why a patch was not applied.
enum Problem {
    /// Hunks that did not apply.
    Failed(Vec<String>),
    /// Edits the syntax gate refused.
    Rejected(Vec<String>),
}

impl Problem {
    fn into_error(self) -> ToolError {
        match self {
            Problem::Failed(failures) => ToolError::model(format!(
                "apply_patch failed; no file was changed.\n{}\nFix the failing hunks and send the whole patch again.",
                failures.join("\n")
            )),
            Problem::Rejected(rejections) => ToolError::model(format!(
                "apply_patch rejected; no file was changed.\n{}",
                rejections.join("\n")
            )),
        }
    }
}

/// Applies every section in memory and runs the syntax gate on each changed file.
async fn prepare(
    ctx: &ToolContext,
    sections: &[FilePatch],
    ascii_added: bool,
) -> Result<Files, Problem> {
    let mut files = Files::default();
    let mut failures = Vec::new();
    for section in sections {
        if let Err(mut why) = apply_section(ctx, &mut files, section, ascii_added).await {
            failures.append(&mut why);
        }
    }
    if !failures.is_empty() {
        return Err(Problem::Failed(failures));
    }
    let rejections: Vec<String> = files
        .changed()
        .filter_map(|f| {
            let after = f.current.as_deref()?;
            let first = first_changed_line(f.original.as_deref().unwrap_or(""), after);
            check_edit(&f.abs, &f.shown, f.original.as_deref(), after, first)
                .err()
                .map(|e| e.to_string())
        })
        .collect();
    if rejections.is_empty() {
        Ok(files)
    } else {
        Err(Problem::Rejected(rejections))
    }
}

fn adds_typographic_punctuation(sections: &[FilePatch]) -> bool {
    sections
        .iter()
        .flat_map(|s| &s.hunks)
        .flat_map(|h| &h.lines)
        .any(|l| matches!(l, HunkLine::Add(text) if has_fancy_punctuation(text)))
}

/// A file as the patch sees it: what it was on disk and what it becomes.
struct FileState {
    abs: PathBuf,
    rel: PathBuf,
    shown: String,
    original: Option<String>,
    current: Option<String>,
    notes: Vec<String>,
}

#[derive(Default)]
struct Files {
    states: Vec<FileState>,
}

impl Files {
    /// The state of `path`, loading it from disk the first time.
    async fn get(&mut self, ctx: &ToolContext, path: &str) -> Result<usize, String> {
        let abs = ctx.jail.resolve(path).map_err(|e| e.to_string())?;
        if let Some(i) = self.states.iter().position(|s| s.abs == abs) {
            return Ok(i);
        }
        let rel = ctx.jail.relative(&abs).to_path_buf();
        let shown = rel.display().to_string();
        if shown.is_empty() {
            return Err(format!("`{path}` names the repository root, not a file"));
        }
        let original = match super::fileio::read_regular(&abs).await {
            Ok(bytes) => match classify(bytes) {
                FileText::Utf8(text) => Some(text),
                FileText::Lossy(_) => return Err(format!("`{shown}` is not valid UTF-8 text")),
                FileText::Binary => return Err(format!("`{shown}` is a binary file")),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => {
                return Err(format!("`{shown}` is a directory"));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                return Err(format!("`{shown}`: {e}"));
            }
            Err(e) => return Err(format!("cannot read `{shown}`: {e}")),
        };
        self.states.push(FileState {
            abs,
            rel,
            shown,
            current: original.clone(),
            original,
            notes: Vec::new(),
        });
        Ok(self.states.len() - 1)
    }

    fn changed(&self) -> impl Iterator<Item = &FileState> {
        self.states.iter().filter(|s| s.current != s.original)
    }
}

async fn apply_section(
    ctx: &ToolContext,
    files: &mut Files,
    section: &FilePatch,
    ascii_added: bool,
) -> Result<(), Vec<String>> {
    let index = files.get(ctx, &section.path).await.map_err(|e| vec![e])?;
    let state = &mut files.states[index];
    let shown = state.shown.clone();
    match section.op {
        FileOp::Add => {
            let content = added_content(section, ascii_added);
            match &state.current {
                Some(existing) if *existing == content => {
                    state
                        .notes
                        .push("already exists with this content (already applied)".into());
                }
                Some(_) => {
                    return Err(vec![format!(
                        "`{shown}`: the patch creates this file, but it already exists with other content; send an update section (`--- a/{shown}` / `+++ b/{shown}`) instead"
                    )]);
                }
                None => {
                    state.current = Some(content);
                }
            }
        }
        FileOp::Delete => {
            if state.current.is_none() {
                state.notes.push("already deleted".into());
            } else {
                state.current = None;
            }
        }
        FileOp::Update => {
            let Some(current) = &state.current else {
                return Err(vec![format!(
                    "`{shown}` does not exist; to create it use `--- /dev/null` and `+++ b/{shown}` (or `*** Add File: {shown}`)"
                )]);
            };
            let mut doc = Doc::parse(current);
            let outcomes = apply_hunks(&mut doc, &section.hunks, &shown, ascii_added)?;
            state.current = Some(doc.render());
            state.notes.push(describe_outcomes(&outcomes));
            if let Some(to) = &section.move_to {
                let content = state.current.take();
                let target = files.get(ctx, to).await.map_err(|e| vec![e])?;
                let target_state = &mut files.states[target];
                if target_state.current.is_some() {
                    return Err(vec![format!(
                        "`{shown}` is to be moved to `{}`, which already exists",
                        target_state.shown
                    )]);
                }
                target_state.current = content;
                target_state
                    .notes
                    .push(format!("moved here from `{shown}`"));
            }
        }
    }
    Ok(())
}

/// The content of a file the patch creates.
fn added_content(section: &FilePatch, ascii_added: bool) -> String {
    let mut lines = Vec::new();
    let mut no_newline = false;
    for hunk in &section.hunks {
        for line in &hunk.lines {
            if let HunkLine::Add(text) | HunkLine::Context(text) = line {
                lines.push(text.as_str());
            }
        }
        no_newline = hunk.new_no_newline;
    }
    let mut content = lines.join("\n");
    if ascii_added {
        content = normalize_punctuation(&content);
    }
    if !lines.is_empty() && !no_newline {
        content.push('\n');
    }
    content
}

fn describe_outcomes(outcomes: &[HunkOutcome]) -> String {
    let applied = outcomes
        .iter()
        .filter(|o| matches!(o, HunkOutcome::Applied(_) | HunkOutcome::Repaired { .. }))
        .count();
    let already = outcomes
        .iter()
        .filter(|o| **o == HunkOutcome::AlreadyApplied)
        .count();
    let mut parts = vec![format!(
        "{applied} hunk{} applied",
        if applied == 1 { "" } else { "s" }
    )];
    if already > 0 {
        parts.push(format!("{already} already applied"));
    }
    for (i, outcome) in outcomes.iter().enumerate() {
        let (level, restored, decided_by) = match outcome {
            HunkOutcome::Applied(level) => (*level, 0, &[][..]),
            HunkOutcome::Repaired {
                level,
                restored,
                decided_by,
            } => (*level, *restored, &decided_by[..]),
            _ => continue,
        };
        if restored > 0 {
            let mut note = format!(
                "hunk {} was missing {restored} context line{} that the file has; matched with {} restored",
                i + 1,
                if restored == 1 { "" } else { "s" },
                if restored == 1 { "it" } else { "them" }
            );
            if !decided_by.is_empty() {
                note.push_str(&format!(
                    ", placed so that {} (check the snippet below)",
                    decided_by.join(", and ")
                ));
            }
            parts.push(note);
        }
        if let Some(note) = level.note() {
            parts.push(format!("hunk {} {note}", i + 1));
        }
    }
    parts.join("; ")
}

fn first_changed_line(before: &str, after: &str) -> usize {
    before
        .lines()
        .zip(after.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| before.lines().count().min(after.lines().count()))
        + 1
}

/// Writes every changed file; on an I/O failure, puts back what was already written.
async fn write_all(files: &Files) -> ToolResult<()> {
    let mut done: Vec<&FileState> = Vec::new();
    for state in files.changed() {
        let result = match &state.current {
            Some(content) => write_file(&state.abs, &state.shown, content).await,
            None => tokio::fs::remove_file(&state.abs)
                .await
                .map_err(|e| ToolError::from_io(&format!("cannot delete `{}`", state.shown), e)),
        };
        if let Err(err) = result {
            for written in done {
                let _ = match &written.original {
                    Some(original) => tokio::fs::write(&written.abs, original).await,
                    None => tokio::fs::remove_file(&written.abs).await,
                };
            }
            return Err(err);
        }
        done.push(state);
    }
    Ok(())
}

fn report(files: &Files) -> ToolOutput {
    let changed: Vec<&FileState> = files.changed().collect();
    if changed.is_empty() {
        return ToolOutput::text("Nothing changed: everything in the patch is already applied.\n");
    }
    let mut text = format!(
        "Patch applied to {} file{}.\n",
        changed.len(),
        if changed.len() == 1 { "" } else { "s" }
    );
    let mut output = ToolOutput::default();
    for state in &files.states {
        let was_changed = state.current != state.original;
        match (&state.original, &state.current) {
            (_, None) if was_changed => text.push_str(&format!("`{}`: deleted\n", state.shown)),
            (None, Some(content)) => {
                let lines: Vec<&str> = content.lines().collect();
                text.push_str(&format!(
                    "`{}`: created ({} lines){}\n",
                    state.shown,
                    lines.len(),
                    notes(state)
                ));
                text.push_str(&snippet(&lines, 0, lines.len().min(10)));
            }
            (Some(before), Some(after)) if was_changed => {
                text.push_str(&format!("`{}`: {}\n", state.shown, state.notes.join("; ")));
                text.push_str(&changed_snippets(before, after));
            }
            _ => text.push_str(&format!("`{}`: {}\n", state.shown, state.notes.join("; "))),
        }
        if was_changed {
            output = output.with_changed(state.rel.clone());
        }
    }
    output.text = text;
    output
}

fn notes(state: &FileState) -> String {
    if state.notes.is_empty() {
        String::new()
    } else {
        format!("; {}", state.notes.join("; "))
    }
}

/// Numbered excerpts of the regions that changed between `before` and `after`.
fn changed_snippets(before: &str, after: &str) -> String {
    let old: Vec<&str> = before.lines().collect();
    let new: Vec<&str> = after.lines().collect();
    let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &old, &new);
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for op in ops {
        if matches!(op, similar::DiffOp::Equal { .. }) {
            continue;
        }
        let range = op.new_range();
        match ranges.last_mut() {
            Some(last) if range.start <= last.1 + 6 => last.1 = last.1.max(range.end),
            _ => ranges.push((range.start, range.end)),
        }
    }
    let mut out = String::new();
    for (start, end) in ranges.iter().take(MAX_SNIPPETS_PER_FILE) {
        if !out.is_empty() {
            out.push_str("   ...\n");
        }
        out.push_str(&snippet(&new, *start, *end));
    }
    if ranges.len() > MAX_SNIPPETS_PER_FILE {
        out.push_str(&format!(
            "[{} more changed regions not shown]\n",
            ranges.len() - MAX_SNIPPETS_PER_FILE
        ));
    }
    out
}
