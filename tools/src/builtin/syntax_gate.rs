//! The syntax gate: an edit that turns a file which parsed cleanly into one with syntax errors
//! is rejected before anything is written, so the file keeps its last good state.

use std::path::Path;

use crate::error::{ToolError, ToolResult};

use super::fileio::push_numbered;

/// One syntax error, 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxProblem {
    pub line: usize,
    /// Last line of the region the parser could not place.
    pub end_line: usize,
    pub message: String,
}

/// Syntax errors of `source` as the file at `path`; `None` when the language is not supported.
fn syntax_problems(path: &Path, source: &str) -> Option<Vec<SyntaxProblem>> {
    let errors = crate::lang::syntax_errors(path, source)?;
    Some(
        errors
            .into_iter()
            .map(|e| SyntaxProblem {
                line: e.line,
                end_line: e.end_line.max(e.line),
                message: format!("{} (column {})", e.message, e.column),
            })
            .collect(),
    )
}

/// Whether `after` has syntax errors that `before` did not (the gate's condition).
pub(crate) fn breaks_syntax(path: &Path, before: Option<&str>, after: &str) -> bool {
    let Some(after_problems) = syntax_problems(path, after) else {
        return false;
    };
    if after_problems.is_empty() {
        return false;
    }
    let had_errors =
        before.is_some_and(|b| syntax_problems(path, b).is_some_and(|p| !p.is_empty()));
    !had_errors
}

/// Checks the edit of `path` from `before` (`None`: the file is new) to `after`.
/// `changed_from` is the first changed line (1-based), used to pick the error to report.
pub(crate) fn check_edit(
    path: &Path,
    shown: &str,
    before: Option<&str>,
    after: &str,
    changed_from: usize,
) -> ToolResult<()> {
    let Some(after_problems) = syntax_problems(path, after) else {
        return Ok(());
    };
    if after_problems.is_empty() {
        return Ok(());
    }
    let had_errors = match before {
        Some(before) => syntax_problems(path, before).is_some_and(|p| !p.is_empty()),
        None => false,
    };
    if had_errors {
        // The file was already broken; blocking edits would stop the model from fixing it.
        return Ok(());
    }
    Err(ToolError::model(rejection(
        shown,
        before.is_none(),
        after,
        &after_problems,
        changed_from,
    )))
}

fn rejection(
    shown: &str,
    new_file: bool,
    after: &str,
    problems: &[SyntaxProblem],
    changed_from: usize,
) -> String {
    // Report the first error at or after the change; else one whose region covers the change
    // (tree-sitter can wrap a whole file in one error starting at line 1).
    let problem = problems
        .iter()
        .find(|p| p.line >= changed_from)
        .or_else(|| problems.iter().rev().find(|p| p.end_line >= changed_from))
        .unwrap_or(&problems[0]);
    let lines: Vec<&str> = after.lines().collect();
    let at = if problem.line < changed_from && problem.end_line >= changed_from {
        changed_from
    } else {
        problem.line
    };
    let at = at.clamp(1, lines.len().max(1));
    let from = at.saturating_sub(2).max(1);
    let to = (at + 1).min(lines.len());
    let mut shown_lines = String::new();
    if from <= to && !lines.is_empty() {
        push_numbered(&mut shown_lines, &lines[from - 1..to], from);
    }
    let what = if new_file {
        format!("`{shown}` would be created with a syntax error")
    } else {
        format!("the edit would introduce a syntax error into `{shown}`")
    };
    let others = problems.len() - 1;
    let others = if others > 0 {
        format!(" ({others} more syntax errors)")
    } else {
        String::new()
    };
    format!(
        "Edit rejected: {what} at line {at}: {}{others}\n{shown_lines}The file was left unchanged. Fix the edit and retry{}.",
        problem.message,
        if new_file {
            " (if the broken syntax is intended, e.g. a parser test fixture, write the file with the run tool)"
        } else {
            ""
        }
    )
}
