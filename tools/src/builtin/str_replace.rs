//! `str_replace`: replace one occurrence of a text in a file, with diagnostics that let the
//! model fix a miss in one step.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{ToolError, ToolResult};
use crate::tool::{Effect, ToolContext, ToolOutput, TypedTool};

use super::edit::{ASCII_NOTE, line_range, write_checked_or_ascii};
use super::fileio::{Doc, line_of_offset, push_numbered, read_text_for_edit, snippet};
use super::matching::{
    Found, Haystack, Level, closest_region, first_difference, mistyped_chars, normalize_chars,
    normalize_punctuation, reindent,
};

/// Line numbers listed when old_str occurs many times.
const MAX_LISTED_MATCHES: usize = 20;
/// Lines of the most similar region shown when nothing matched.
const MAX_REGION_LINES: usize = 15;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct StrReplaceArgs {
    /// Path relative to the repository root.
    pub path: String,
    /// The text to replace, copied from the file including indentation; it must occur exactly
    /// once, so include surrounding lines when it is not unique.
    pub old_str: String,
    /// The replacement text (empty to delete old_str).
    pub new_str: String,
}

pub struct StrReplace;

#[async_trait]
impl TypedTool for StrReplace {
    type Args = StrReplaceArgs;
    const NAME: &'static str = "str_replace";
    const EFFECT: Effect = Effect::WritesFiles;
    const DESCRIPTION: &'static str = "Replace one occurrence of old_str in a file with new_str. old_str must occur exactly once: copy it from the file with its indentation and add surrounding lines to make it unique. If it only differs from the file in trailing whitespace, indentation or typographic quotes, the unique whole-line match is used (new_str re-indented to fit). Otherwise nothing changes and you get the line numbers of every occurrence, or the most similar region and its first differing line. Edits that would introduce a syntax error are rejected. On success shows the edited region with line numbers.";

    async fn call(&self, ctx: &ToolContext, args: StrReplaceArgs) -> ToolResult<ToolOutput> {
        let path = ctx.jail.resolve(&args.path)?;
        let rel = ctx.jail.relative(&path).to_path_buf();
        let shown = rel.display().to_string();
        if args.old_str.is_empty() {
            return Err(ToolError::model(
                "`old_str` is empty; give the exact text to replace (use insert to add lines, create_file for a new file)",
            ));
        }
        if args.old_str == args.new_str {
            return Err(ToolError::model(
                "`old_str` and `new_str` are identical; nothing would change",
            ));
        }
        let content = read_text_for_edit(&path, &shown).await?;
        let edit = plan_replacement(&content, &args.old_str, &args.new_str, &shown)?;
        let ascii_new = normalize_punctuation(&args.new_str);
        let ascii_edit = if ascii_new != args.new_str {
            plan_replacement(&content, &args.old_str, &ascii_new, &shown).ok()
        } else {
            None
        };
        let ascii_updated = ascii_edit.as_ref().map(|e| e.updated.as_str());
        let used_ascii = write_checked_or_ascii(
            &path,
            &shown,
            Some(&content),
            &edit.updated,
            ascii_updated.unwrap_or(&edit.updated),
            edit.first_line,
        )
        .await?;
        let edit = match ascii_edit {
            Some(ascii_edit) if used_ascii => ascii_edit,
            _ => edit,
        };
        let new_lines: Vec<&str> = edit.updated.lines().collect();
        let mut text = format!(
            "Edited `{shown}`: replaced {} with {} line{}",
            line_range(edit.first_line, edit.old_line_count),
            edit.new_line_count,
            if edit.new_line_count == 1 { "" } else { "s" }
        );
        if let Some(note) = edit.level.note() {
            text.push_str(&format!(" ({note})"));
        }
        if used_ascii {
            text.push_str(&format!(" ({ASCII_NOTE})"));
        }
        text.push_str(".\n");
        text.push_str(&snippet(
            &new_lines,
            edit.first_line - 1,
            edit.first_line - 1 + edit.new_line_count,
        ));
        Ok(ToolOutput::text(text).with_changed(rel))
    }
}

/// The file after the replacement, and where it changed.
#[derive(Debug)]
struct Replacement {
    updated: String,
    first_line: usize,
    old_line_count: usize,
    new_line_count: usize,
    level: Level,
}

fn plan_replacement(
    content: &str,
    old_str: &str,
    new_str: &str,
    shown: &str,
) -> ToolResult<Replacement> {
    let doc = Doc::parse(content);
    // A CRLF file: the model writes `\n`; match and write with the file's line endings.
    let (old_owned, new_owned);
    let (old, new) = if doc.crlf && !old_str.contains("\r\n") {
        old_owned = old_str.replace('\n', "\r\n");
        new_owned = new_str.replace('\n', "\r\n");
        (old_owned.as_str(), new_owned.as_str())
    } else {
        (old_str, new_str)
    };
    let positions: Vec<usize> = content.match_indices(old).map(|(i, _)| i).collect();
    match positions.len() {
        1 => {
            let at = positions[0];
            let updated = format!("{}{new}{}", &content[..at], &content[at + old.len()..]);
            return Ok(Replacement {
                updated,
                first_line: line_of_offset(content, at),
                old_line_count: old.trim_end_matches('\n').lines().count().max(1),
                new_line_count: new.trim_end_matches('\n').lines().count(),
                level: Level::Exact,
            });
        }
        0 => {}
        n => {
            return Err(ToolError::model(several_matches(
                content, &positions, n, shown,
            )));
        }
    }
    // No exact occurrence: try whole lines with the looser levels.
    let needle: Vec<&str> = old_str.lines().collect();
    let hay = Haystack::new(&doc.lines);
    let found = hay.find_graded(&needle);
    match found.len() {
        0 => Err(ToolError::model(no_match(&doc.lines, &needle, shown))),
        1 => Ok(replace_lines(&doc, found[0], &needle, new_str)),
        n => {
            let lines: Vec<String> = found
                .iter()
                .take(MAX_LISTED_MATCHES)
                .map(|f| (f.start + 1).to_string())
                .collect();
            Err(ToolError::model(format!(
                "`old_str` does not occur exactly in `{shown}`, and {n} places match it when {} (starting at lines {}); copy the text exactly from the file and include more surrounding lines",
                found[0]
                    .level
                    .note()
                    .unwrap_or("")
                    .trim_start_matches("matched after "),
                lines.join(", ")
            )))
        }
    }
}

fn replace_lines(doc: &Doc, found: Found, needle: &[&str], new_str: &str) -> Replacement {
    let region = &doc.lines[found.start..found.start + needle.len()];
    let mistyped = if found.level == Level::Punctuation {
        mistyped_chars(needle, region)
    } else {
        Default::default()
    };
    let new_lines: Vec<String> = new_str
        .lines()
        .map(|line| {
            let line = match found.shift {
                Some(shift) => reindent(line, shift),
                None => line.to_string(),
            };
            normalize_chars(&line, &mistyped)
        })
        .collect();
    let new_line_count = new_lines.len();
    let mut updated = doc.clone();
    updated
        .lines
        .splice(found.start..found.start + needle.len(), new_lines);
    Replacement {
        updated: updated.render(),
        first_line: found.start + 1,
        old_line_count: needle.len(),
        new_line_count,
        level: found.level,
    }
}

fn several_matches(content: &str, positions: &[usize], n: usize, shown: &str) -> String {
    let mut out = format!(
        "`old_str` occurs {n} times in `{shown}`; include more surrounding lines to make it unique. Occurrences:\n"
    );
    let lines: Vec<&str> = content.lines().collect();
    for &at in positions.iter().take(MAX_LISTED_MATCHES) {
        let line = line_of_offset(content, at);
        push_numbered(&mut out, &lines[line - 1..line], line);
    }
    if n > MAX_LISTED_MATCHES {
        out.push_str(&format!("[{} more occurrences]\n", n - MAX_LISTED_MATCHES));
    }
    out
}

fn no_match(lines: &[String], needle: &[&str], shown: &str) -> String {
    let Some(closest) = closest_region(lines, needle) else {
        return format!("no match for `old_str` in `{shown}`: the file is empty");
    };
    let percent = (closest.similarity * 100.0).round() as u32;
    let range = line_range(closest.start + 1, closest.len);
    if percent < 50 {
        return format!(
            "no match for `old_str` in `{shown}`, and nothing in the file resembles it (best: {range}, {percent}% similar). Check the path, then view the file and copy the text exactly."
        );
    }
    let mut out = format!(
        "no match for `old_str` in `{shown}`. The most similar region is {range} ({percent}% similar)"
    );
    if let Some((i, have, want, kind)) = first_difference(lines, closest.start, needle) {
        out.push_str(&format!(
            "; the first difference is at line {} ({kind}):\n  file:    {have:?}\n  old_str: {want:?}\n",
            closest.start + i + 1
        ));
    } else {
        out.push_str(":\n");
    }
    let end = (closest.start + closest.len).min(closest.start + MAX_REGION_LINES);
    push_numbered(&mut out, &lines[closest.start..end], closest.start + 1);
    out.push_str("Copy the text exactly from the file and retry.\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_single_match_is_replaced() {
        let r = plan_replacement("a\nb\nc\n", "b\n", "B\nB2\n", "f").unwrap();
        assert_eq!(r.updated, "a\nB\nB2\nc\n");
        assert_eq!((r.first_line, r.new_line_count), (2, 2));
    }

    #[test]
    fn crlf_files_are_matched_with_lf_text() {
        let r = plan_replacement("a\r\nb\r\nc\r\n", "a\nb", "x\ny", "f").unwrap();
        assert_eq!(r.updated, "x\r\ny\r\nc\r\n");
    }

    #[test]
    fn wrong_indentation_is_reindented() {
        let content = "class A:\n    def f(self):\n        return 1\n";
        let r = plan_replacement(
            content,
            "def f(self):\n    return 1",
            "def f(self):\n    return 2",
            "f",
        )
        .unwrap();
        assert_eq!(r.updated, "class A:\n    def f(self):\n        return 2\n");
        assert_eq!(r.level, Level::Indentation);
    }
}
