//! Text the model sees: compact, line-numbered, explicit when empty, capped with markers.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use super::complete::{Completion, Miss};
use super::index::SymbolIndex;
use super::model::{Definition, FileSymbols, SymbolKind};
use super::query::{self, MatchTier};
use crate::lang::shorten;

/// Most definition lines in an outline.
const OUTLINE_MAX_LINES: usize = 400;
/// Most results `find_definition` prints in full.
const MAX_DEFINITIONS: usize = 15;
/// Most reference lines printed, and per file.
const MAX_REFERENCE_LINES: usize = 60;
const MAX_REFERENCE_LINES_PER_FILE: usize = 8;
/// Files listed with counts only, after the printed ones.
const MAX_REFERENCE_FILES_LISTED: usize = 30;
const MAX_MEMBERS: usize = 150;

fn line_span(def: &Definition) -> String {
    if def.end_line > def.line {
        format!("{}-{}", def.line, def.end_line)
    } else {
        def.line.to_string()
    }
}

fn describe(def: &Definition) -> String {
    let mut text = def.signature.clone();
    if text.is_empty() {
        text = def.name.clone();
    }
    if matches!(
        def.kind,
        SymbolKind::Property | SymbolKind::EnumMember | SymbolKind::Field
    ) && !text.contains(def.kind.label())
    {
        let _ = write!(text, "  [{}]", def.kind.label());
    }
    text
}

fn depth_of(defs: &[Definition], def: &Definition) -> usize {
    let mut depth = 0;
    let mut parent = def.parent;
    while let Some(p) = parent {
        depth += 1;
        parent = defs.get(p as usize).and_then(|d| d.parent);
        if depth > 32 {
            break;
        }
    }
    depth
}

/// The definitions of one file, nested by container.
pub fn outline_file(file: &FileSymbols) -> String {
    let shown: Vec<&Definition> = file
        .defs
        .iter()
        .filter(|d| d.kind != SymbolKind::Import)
        .collect();
    let mut out = format!(
        "{} ({} lines, {} definitions)\n",
        file.path,
        file.line_count,
        shown.len()
    );
    if shown.is_empty() {
        let _ = writeln!(out, "no definitions found in {}", file.path);
        return out;
    }
    for (n, def) in shown.iter().enumerate() {
        if n == OUTLINE_MAX_LINES {
            let _ = writeln!(
                out,
                "[... {} more definitions not shown; view the file from line {} on]",
                shown.len() - n,
                def.line
            );
            break;
        }
        let indent = "  ".repeat(depth_of(&file.defs, def));
        let _ = write!(out, "{:>11}  {indent}{}", line_span(def), describe(def));
        if let Some(doc) = &def.doc {
            let _ = write!(out, "  # {}", shorten(doc, 80));
        }
        out.push('\n');
    }
    out
}

/// Top-level definitions of every indexed file under `prefix`.
pub fn outline_dir(index: &SymbolIndex, prefix: &str) -> String {
    let files: Vec<&FileSymbols> = index
        .files()
        .into_iter()
        .filter(|f| query::under(&f.path, prefix))
        .collect();
    if files.is_empty() {
        return format!(
            "no source files in a supported language (Python, Rust, JavaScript, TypeScript, Go, Java) under `{prefix}`\n"
        );
    }
    let mut out = format!(
        "{} source files under `{prefix}` (top-level definitions):\n",
        files.len()
    );
    let mut lines = 0;
    for (n, file) in files.iter().enumerate() {
        if lines >= OUTLINE_MAX_LINES {
            let _ = writeln!(
                out,
                "[... {} more files not shown; outline a subdirectory or a file]",
                files.len() - n
            );
            break;
        }
        let top: Vec<&Definition> = file
            .defs
            .iter()
            .filter(|d| d.parent.is_none() && d.kind != SymbolKind::Import)
            .collect();
        let _ = writeln!(out, "{} ({} lines)", file.path, file.line_count);
        lines += 1;
        for def in top {
            let _ = writeln!(out, "{:>11}  {}", line_span(def), describe(def));
            lines += 1;
        }
    }
    out
}

pub fn definitions(index: &SymbolIndex, name: &str) -> String {
    let found = query::find_definitions(index, name);
    if found.is_empty() {
        return no_definitions(index, name);
    }
    let mut out = String::new();
    match found[0].0 {
        MatchTier::Exact => {}
        MatchTier::CaseInsensitive => {
            let _ = writeln!(out, "no exact match for `{name}`; matches ignoring case:");
        }
        MatchTier::NameOnly => {
            let last = name.rsplit(['.', ':']).next().unwrap_or(name);
            let _ = writeln!(out, "no `{name}` found; other definitions named `{last}`:");
        }
    }
    let shown = found.len().min(MAX_DEFINITIONS);
    let _ = writeln!(
        out,
        "{} definition{} of `{name}`{}:",
        found.len(),
        if found.len() == 1 { "" } else { "s" },
        if shown < found.len() {
            format!(" (best {shown} shown)")
        } else {
            String::new()
        }
    );
    let mut previous_tier = found[0].0;
    for (tier, r) in found.iter().take(shown) {
        if *tier != previous_tier {
            let label = match tier {
                MatchTier::Exact => "exact matches:",
                MatchTier::CaseInsensitive => "matches ignoring case:",
                MatchTier::NameOnly => "same name, other containers:",
            };
            let _ = writeln!(out, "{label}");
            previous_tier = *tier;
        }
        let def = r.def();
        let _ = writeln!(
            out,
            "{}:{}  {} {}",
            r.file.path,
            def.line,
            def.kind.label(),
            def.qualified_name()
        );
        let _ = writeln!(out, "    {}", def.signature);
        if let Some(doc) = &def.doc {
            let _ = writeln!(out, "    # {doc}");
        }
    }
    if shown < found.len() {
        let rest = &found[shown..];
        let tests = rest
            .iter()
            .filter(|(_, r)| query::is_test_path(&r.file.path))
            .count();
        let _ = writeln!(
            out,
            "[... {} more not shown ({tests} in test files); qualify the name, e.g. `Class.{}`, to narrow]",
            rest.len(),
            name.rsplit('.').next().unwrap_or(name)
        );
    }
    out
}

/// What `definitions` says when nothing matches: where the name is imported, and similar
/// names.
fn no_definitions(index: &SymbolIndex, name: &str) -> String {
    let mut out = format!(
        "no definition of `{name}` in the index ({} files)\n",
        index.len()
    );
    let last = name.rsplit(['.', ':']).next().unwrap_or(name);
    let imports: Vec<String> = index
        .files()
        .into_iter()
        .flat_map(|f| {
            f.defs
                .iter()
                .filter(|d| d.kind == SymbolKind::Import && d.name == last)
                .map(move |d| format!("{}:{}  {}", f.path, d.line, d.signature))
        })
        .take(5)
        .collect();
    if !imports.is_empty() {
        let _ = writeln!(
            out,
            "it is imported (probably from a package outside the repository):"
        );
        for i in imports {
            let _ = writeln!(out, "  {i}");
        }
    }
    let similar = query::similar_names(last, query::definition_names(index), 8);
    if !similar.is_empty() {
        let _ = writeln!(out, "similar names: {}", similar.join(", "));
    }
    out
}

pub fn references(
    index: &SymbolIndex,
    root: &Path,
    name: &str,
    prefix: Option<&str>,
    note: Option<String>,
) -> String {
    let mut found = query::find_references(index, name, prefix);
    let scope = prefix.map(|p| format!(" under `{p}`")).unwrap_or_default();
    let mut out = String::new();
    if let Some(note) = note {
        let _ = writeln!(out, "{note}");
    }
    if found.is_empty() {
        let _ = writeln!(
            out,
            "no references to `{name}`{scope} in the index ({} files)",
            index.len()
        );
        note_similar_identifiers(&mut out, index, name);
        return out;
    }
    found.sort_by_key(|(f, _)| (query::is_test_path(&f.path), f.path.clone()));
    let total_lines: usize = found.iter().map(|(_, l)| l.len()).sum();
    let _ = writeln!(
        out,
        "`{name}`: {total_lines} lines in {} files{scope} (* = defines it)",
        found.len()
    );
    let mut printed = 0;
    let mut listed_only = Vec::new();
    for (file, lines) in &found {
        if printed >= MAX_REFERENCE_LINES {
            listed_only.push((file.path.as_str(), lines.len()));
            continue;
        }
        let text = crate::builtin::read_regular_blocking(&root.join(&file.path))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let source_lines: Vec<&str> = text.lines().collect();
        let def_lines: HashMap<u32, ()> = file
            .defs
            .iter()
            .filter(|d| d.name == name && d.kind != SymbolKind::Import)
            .map(|d| (d.line, ()))
            .collect();
        let _ = writeln!(out, "{} ({})", file.path, lines.len());
        let take = lines
            .len()
            .min(MAX_REFERENCE_LINES_PER_FILE)
            .min(MAX_REFERENCE_LINES - printed);
        for line in &lines[..take] {
            let content = source_lines
                .get(*line as usize - 1)
                .map_or("", |l| l.trim_end());
            let mark = if def_lines.contains_key(line) {
                '*'
            } else {
                ' '
            };
            let _ = writeln!(
                out,
                "{line:>7}{mark} {}",
                shorten(content.trim_start(), 160)
            );
        }
        printed += take;
        if take < lines.len() {
            let _ = writeln!(
                out,
                "        [... {} more in this file]",
                lines.len() - take
            );
        }
    }
    list_remaining_files(&mut out, &listed_only);
    out
}

/// Identifiers in the index that look like `name`, for a search that found nothing.
fn note_similar_identifiers(out: &mut String, index: &SymbolIndex, name: &str) {
    let similar = query::similar_names(
        name,
        index.files().into_iter().flat_map(|f| f.refs.names()),
        8,
    );
    if !similar.is_empty() {
        let _ = writeln!(out, "similar identifiers: {}", similar.join(", "));
    }
}

/// The files past the line budget, by name and reference count.
fn list_remaining_files(out: &mut String, listed_only: &[(&str, usize)]) {
    if listed_only.is_empty() {
        return;
    }
    let _ = writeln!(out, "more files (reference count):");
    for (path, count) in listed_only.iter().take(MAX_REFERENCE_FILES_LISTED) {
        let _ = writeln!(out, "  {path} ({count})");
    }
    if listed_only.len() > MAX_REFERENCE_FILES_LISTED {
        let _ = writeln!(
            out,
            "[... {} more files not listed; give `path` to narrow the search]",
            listed_only.len() - MAX_REFERENCE_FILES_LISTED
        );
    }
}

pub fn completion(found: &Completion<'_>, prefix: &str) -> String {
    let prefix = prefix.trim();
    let filter = if prefix.is_empty() {
        String::new()
    } else {
        format!(" starting with `{prefix}`")
    };
    let mut out = format!(
        "{}: {} member{}{filter}\n",
        found.target,
        found.members.len(),
        if found.members.len() == 1 { "" } else { "s" }
    );
    if found.members.is_empty() && found.submodules.is_empty() {
        let _ = writeln!(out, "no members{filter} found");
    }
    let mut current_group: Option<&str> = None;
    for (n, member) in found.members.iter().enumerate() {
        if n == MAX_MEMBERS {
            let _ = writeln!(
                out,
                "[... {} more members not shown; give a prefix to narrow]",
                found.members.len() - n
            );
            break;
        }
        let group = member.inherited_from.as_deref();
        if group != current_group {
            if let Some(base) = group {
                let _ = writeln!(out, "inherited from {base}:");
            }
            current_group = group;
        }
        let def = member.def.def();
        let location = if member.def.file.path.is_empty() {
            String::new()
        } else {
            format!("  (line {})", def.line)
        };
        let _ = write!(
            out,
            "  {:<11} {}{location}",
            def.kind.label(),
            describe(def)
        );
        if let Some(doc) = &def.doc {
            let _ = write!(out, "  # {}", shorten(doc, 80));
        }
        out.push('\n');
    }
    if !found.submodules.is_empty() {
        let names: Vec<&str> = found.submodules.iter().map(|s| s.name.as_str()).collect();
        let _ = writeln!(out, "submodules: {}", names.join(", "));
    }
    for note in &found.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

pub fn miss(miss: &Miss) -> String {
    let mut out = format!("{}\n", miss.message);
    if !miss.suggestions.is_empty() {
        let _ = writeln!(out, "did you mean: {}", miss.suggestions.join(", "));
    }
    out
}
