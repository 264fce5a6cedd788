//! Parsing the patch formats models write: git/unified diffs (line numbers optional, counts
//! possibly wrong) and the `*** Begin Patch` format (codex style, `@@` with an optional
//! locator line instead of numbers).

/// What a file section does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileOp {
    Update,
    Add,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HunkLine {
    Context(String),
    Remove(String),
    Add(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Hunk {
    /// The `@@ ... @@` line as written, for messages.
    pub header: String,
    /// 1-based start line in the old file, when the header has numbers.
    pub old_start: Option<usize>,
    /// Old-side line count from the header, when it has one (models get it wrong at times).
    pub old_count: Option<usize>,
    /// Text after a number-less `@@` (codex style): a line to find before searching.
    pub locator: Option<String>,
    pub lines: Vec<HunkLine>,
    /// `\ No newline at end of file` after the old / the new side.
    pub old_no_newline: bool,
    pub new_no_newline: bool,
    /// `*** End of File`: the hunk is anchored at the end of the file.
    pub at_end: bool,
}

impl Hunk {
    /// The lines the file has before the change (context and removed).
    pub fn old_lines(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|l| match l {
                HunkLine::Context(s) | HunkLine::Remove(s) => Some(s.as_str()),
                HunkLine::Add(_) => None,
            })
            .collect()
    }

    /// The lines the file has after the change (context and added).
    pub fn new_lines(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|l| match l {
                HunkLine::Context(s) | HunkLine::Add(s) => Some(s.as_str()),
                HunkLine::Remove(_) => None,
            })
            .collect()
    }

    pub fn has_changes(&self) -> bool {
        self.lines
            .iter()
            .any(|l| !matches!(l, HunkLine::Context(_)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FilePatch {
    pub op: FileOp,
    /// The path the section applies to (for Add: the new file).
    pub path: String,
    /// Rename target (`*** Move to:`, or differing `---`/`+++` paths).
    pub move_to: Option<String>,
    pub hunks: Vec<Hunk>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError(pub String);

/// Parses a patch in any supported format.
pub(crate) fn parse_patch(text: &str) -> Result<Vec<FilePatch>, ParseError> {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim_start().starts_with("```"))
        .collect();
    let codex = lines.iter().any(|l| {
        let l = l.trim();
        l == "*** Begin Patch"
            || l.starts_with("*** Update File:")
            || l.starts_with("*** Add File:")
            || l.starts_with("*** Delete File:")
    });
    let files = if codex {
        parse_codex(&lines)?
    } else {
        parse_unified(&lines)?
    };
    if files.is_empty() {
        return Err(ParseError(
            "no file sections found: start each file with `--- a/path` and `+++ b/path` lines (or `*** Update File: path`), followed by `@@` hunks".into(),
        ));
    }
    Ok(files)
}

/// Strips `a/`/`b/` git prefixes, timestamps and quotes from a `---`/`+++` path.
fn header_path(raw: &str) -> Option<String> {
    let path = raw.split('\t').next().unwrap_or(raw).trim();
    let path = path.trim_matches('"');
    if path == "/dev/null" || path.is_empty() {
        return None;
    }
    Some(path.to_string())
}

fn strip_git_prefix(path: &str, prefix: &str) -> String {
    path.strip_prefix(prefix).unwrap_or(path).to_string()
}

/// Parses `@@ -12,5 +12,6 @@ section` or a number-less `@@ locator` line.
fn parse_hunk_header(line: &str) -> Hunk {
    let body = line.trim_start_matches('@').trim();
    let mut hunk = Hunk {
        header: line.trim().to_string(),
        ..Hunk::default()
    };
    if let Some(rest) = body.strip_prefix('-')
        && rest.starts_with(|c: char| c.is_ascii_digit())
    {
        let numbers = rest.split_whitespace().next().unwrap_or("");
        let start = numbers.split(',').next().unwrap_or("");
        hunk.old_start = start.parse().ok();
        return hunk;
    }
    let locator = body.trim_end_matches('@').trim();
    if !locator.is_empty() {
        hunk.locator = Some(locator.to_string());
    }
    hunk
}

/// The counts of a numbered header, to delimit the hunk when they are right.
fn header_counts(line: &str) -> Option<(usize, usize)> {
    let body = line.trim_start_matches('@').trim();
    let mut parts = body.split_whitespace();
    let old = parts.next()?.strip_prefix('-')?;
    let new = parts.next()?.strip_prefix('+')?;
    let count = |s: &str| -> Option<usize> {
        match s.split_once(',') {
            Some((_, n)) => n.parse().ok(),
            None => s.parse::<usize>().ok().map(|_| 1),
        }
    };
    Some((count(old)?, count(new)?))
}

/// Reads hunk body lines from `i`; returns the index after the hunk. Counts from a numbered
/// header are trusted to resolve ambiguous lines, but models get them wrong, so a hunk also
/// continues past its counts while lines still look like hunk lines.
// Kept whole: one loop whose remaining counts and previous-line state decide each line.
fn read_hunk_body(
    lines: &[&str],
    mut i: usize,
    hunk: &mut Hunk,
    counts: Option<(usize, usize)>,
) -> usize {
    let start = i;
    let (mut old_left, mut new_left) = counts.unwrap_or((0, 0));
    let counted = counts.is_some();
    let mut last_was_add = false;
    while i < lines.len() {
        let line = lines[i];
        let counts_done = old_left == 0 && new_left == 0;
        if line.starts_with("@@")
            || line.starts_with("*** ")
            || line.starts_with("diff --git ")
            || line.starts_with("Index: ")
        {
            break;
        }
        if line.starts_with("--- ") && lines.get(i + 1).is_some_and(|n| n.starts_with("+++ ")) {
            // A removed line `-- x` followed by an added `++ y` looks like a file header; the
            // counts decide, unless a hunk header follows right after.
            let expects_more = counted && old_left > 0 && new_left > 0;
            let header_follows = lines.get(i + 2).is_some_and(|n| n.starts_with("@@"));
            if !expects_more || header_follows {
                break;
            }
        }
        if counted && counts_done && line.is_empty() && !hunk_continues_after_blanks(lines, i) {
            break;
        }
        if let Some(marker) = line.strip_prefix('\\') {
            // `\ No newline at end of file` applies to the line before it.
            if marker.to_lowercase().contains("newline") {
                match hunk.lines.last() {
                    Some(HunkLine::Add(_)) if last_was_add => hunk.new_no_newline = true,
                    Some(HunkLine::Remove(_)) => hunk.old_no_newline = true,
                    _ => {
                        hunk.old_no_newline = true;
                        hunk.new_no_newline = true;
                    }
                }
            }
            i += 1;
            continue;
        }
        let parsed = if let Some(rest) = line.strip_prefix(' ') {
            HunkLine::Context(rest.to_string())
        } else if let Some(rest) = line.strip_prefix('-') {
            HunkLine::Remove(rest.to_string())
        } else if let Some(rest) = line.strip_prefix('+') {
            HunkLine::Add(rest.to_string())
        } else if line.is_empty() {
            // Editors and models drop the space of an empty context line.
            HunkLine::Context(String::new())
        } else {
            break;
        };
        match &parsed {
            HunkLine::Context(_) => {
                old_left = old_left.saturating_sub(1);
                new_left = new_left.saturating_sub(1);
            }
            HunkLine::Remove(_) => old_left = old_left.saturating_sub(1),
            HunkLine::Add(_) => new_left = new_left.saturating_sub(1),
        }
        last_was_add = matches!(parsed, HunkLine::Add(_));
        hunk.lines.push(parsed);
        i += 1;
    }
    if !counted {
        // Raw empty lines ending an uncounted hunk separate sections; they are not context.
        let trailing_empty = lines[start..i]
            .iter()
            .rev()
            .take_while(|l| l.is_empty())
            .count();
        for _ in 0..trailing_empty {
            if matches!(hunk.lines.last(), Some(HunkLine::Context(s)) if s.is_empty()) {
                hunk.lines.pop();
            }
        }
    }
    i
}

/// Whether the next non-blank line after `i` still belongs to a hunk (so blank lines in
/// between are context the counts forgot).
fn hunk_continues_after_blanks(lines: &[&str], i: usize) -> bool {
    let next = lines[i..].iter().find(|l| !l.is_empty());
    match next {
        Some(l) => {
            (l.starts_with(' ') || l.starts_with('+') || l.starts_with('-'))
                && !(l.starts_with("--- ") || l.starts_with("+++ "))
        }
        None => false,
    }
}

// Kept whole: one loop over the lines holding the current file patch; each header kind
// (diff --git, ---/+++, mode and rename lines, @@) updates it; `read_hunk_body` reads bodies.
fn parse_unified(lines: &[&str]) -> Result<Vec<FilePatch>, ParseError> {
    let mut files: Vec<FilePatch> = Vec::new();
    let mut current: Option<FilePatch> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(rest) = line.strip_prefix("diff --git ") {
            if let Some(done) = current.take() {
                files.push(done);
            }
            // Paths from `diff --git a/x b/y`; `---`/`+++` lines, when present, override them.
            let (old, new) = split_git_paths(rest);
            current = Some(FilePatch {
                op: FileOp::Update,
                path: strip_git_prefix(&old, "a/"),
                move_to: {
                    let new = strip_git_prefix(&new, "b/");
                    (new != strip_git_prefix(&old, "a/")).then_some(new)
                },
                hunks: Vec::new(),
            });
            i += 1;
            continue;
        }
        if line.starts_with("--- ") && lines.get(i + 1).is_some_and(|n| n.starts_with("+++ ")) {
            let old = header_path(&line[4..]);
            let new = header_path(&lines[i + 1][4..]);
            let reuse = current.as_ref().is_some_and(|c| c.hunks.is_empty());
            if !reuse && let Some(done) = current.take() {
                files.push(done);
            }
            let git_style = old.as_deref().is_none_or(|o| o.starts_with("a/"))
                && new.as_deref().is_none_or(|n| n.starts_with("b/"));
            let clean = |p: &str, prefix: &str| {
                if git_style {
                    strip_git_prefix(p, prefix)
                } else {
                    p.to_string()
                }
            };
            let section = match (old, new) {
                (None, Some(new)) => FilePatch {
                    op: FileOp::Add,
                    path: clean(&new, "b/"),
                    move_to: None,
                    hunks: Vec::new(),
                },
                (Some(old), None) => FilePatch {
                    op: FileOp::Delete,
                    path: clean(&old, "a/"),
                    move_to: None,
                    hunks: Vec::new(),
                },
                (Some(old), Some(new)) => {
                    let (old, new) = (clean(&old, "a/"), clean(&new, "b/"));
                    FilePatch {
                        op: FileOp::Update,
                        move_to: (old != new).then(|| new.clone()),
                        path: old,
                        hunks: Vec::new(),
                    }
                }
                (None, None) => {
                    return Err(ParseError(format!(
                        "line {}: both `---` and `+++` are /dev/null",
                        i + 1
                    )));
                }
            };
            current = Some(section);
            i += 2;
            continue;
        }
        if let Some(section) = current.as_mut() {
            if line.starts_with("new file mode") {
                section.op = FileOp::Add;
                section.move_to = None;
            } else if line.starts_with("deleted file mode") {
                section.op = FileOp::Delete;
            } else if let Some(to) = line.strip_prefix("rename to ") {
                section.move_to = Some(to.trim().to_string());
            } else if let Some(from) = line.strip_prefix("rename from ") {
                section.path = from.trim().to_string();
            } else if line.starts_with("@@") {
                let mut hunk = parse_hunk_header(line);
                let counts = header_counts(line);
                hunk.old_count = counts.map(|(old, _)| old);
                i = read_hunk_body(lines, i + 1, &mut hunk, counts);
                if hunk.lines.is_empty() {
                    return Err(ParseError(format!(
                        "hunk `{}` for `{}` has no lines; each line of a hunk starts with ` ` (context), `-` (remove) or `+` (add)",
                        hunk.header, section.path
                    )));
                }
                section.hunks.push(hunk);
                continue;
            }
        } else if line.starts_with("@@") {
            return Err(ParseError(format!(
                "line {}: hunk `{}` comes before any file header; start the file's section with `--- a/path` and `+++ b/path`",
                i + 1,
                line.trim()
            )));
        }
        i += 1;
    }
    if let Some(done) = current.take() {
        files.push(done);
    }
    Ok(files)
}

/// Splits `a/x b/y` (paths without spaces, or `a/p q b/p q` with the same path twice).
fn split_git_paths(rest: &str) -> (String, String) {
    let rest = rest.trim();
    if let Some(idx) = rest.find(" b/") {
        return (rest[..idx].to_string(), rest[idx + 1..].to_string());
    }
    match rest.split_once(' ') {
        Some((a, b)) => (a.to_string(), b.to_string()),
        None => (rest.to_string(), rest.to_string()),
    }
}

fn parse_codex(lines: &[&str]) -> Result<Vec<FilePatch>, ParseError> {
    let mut files: Vec<FilePatch> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        let section = [
            ("*** Update File:", FileOp::Update),
            ("*** Add File:", FileOp::Add),
            ("*** Delete File:", FileOp::Delete),
        ]
        .into_iter()
        .find_map(|(prefix, op)| line.strip_prefix(prefix).map(|p| (op, p.trim())));
        let Some((op, path)) = section else {
            i += 1;
            continue;
        };
        let mut file = FilePatch {
            op,
            path: path.to_string(),
            move_to: None,
            hunks: Vec::new(),
        };
        i += 1;
        match op {
            FileOp::Delete => {}
            FileOp::Add => {
                let mut hunk = Hunk {
                    header: format!("*** Add File: {path}"),
                    ..Hunk::default()
                };
                while i < lines.len() && !lines[i].starts_with("*** ") {
                    let content = lines[i].strip_prefix('+').unwrap_or(lines[i]);
                    hunk.lines.push(HunkLine::Add(content.to_string()));
                    i += 1;
                }
                file.hunks.push(hunk);
            }
            FileOp::Update => {
                if let Some(to) = lines.get(i).and_then(|l| l.strip_prefix("*** Move to:")) {
                    file.move_to = Some(to.trim().to_string());
                    i += 1;
                }
                while i < lines.len() {
                    let line = lines[i];
                    if line.trim_end() == "*** End of File" {
                        if let Some(last) = file.hunks.last_mut() {
                            last.at_end = true;
                        }
                        i += 1;
                        continue;
                    }
                    if line.starts_with("*** ") {
                        break;
                    }
                    let mut hunk = if line.starts_with("@@") {
                        i += 1;
                        parse_hunk_header(line)
                    } else {
                        Hunk {
                            header: "(first hunk)".to_string(),
                            ..Hunk::default()
                        }
                    };
                    let before = i;
                    i = read_hunk_body(lines, i, &mut hunk, None);
                    if i == before && hunk.lines.is_empty() {
                        // An unrecognised line: skip it rather than loop.
                        i += 1;
                        continue;
                    }
                    file.hunks.push(hunk);
                }
            }
        }
        files.push(file);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_diff_with_two_files_and_numbers() {
        let patch = "diff --git a/x.py b/x.py\nindex 1..2 100644\n--- a/x.py\n+++ b/x.py\n@@ -1,3 +1,3 @@ def f():\n a\n-b\n+B\n c\ndiff --git a/y.py b/y.py\nnew file mode 100644\n--- /dev/null\n+++ b/y.py\n@@ -0,0 +1,2 @@\n+1\n+2\n";
        let files = parse_patch(patch).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(
            (files[0].op, files[0].path.as_str()),
            (FileOp::Update, "x.py")
        );
        assert_eq!(files[0].hunks[0].old_start, Some(1));
        assert_eq!(files[0].hunks[0].old_lines(), vec!["a", "b", "c"]);
        assert_eq!(files[0].hunks[0].new_lines(), vec!["a", "B", "c"]);
        assert_eq!((files[1].op, files[1].path.as_str()), (FileOp::Add, "y.py"));
        assert_eq!(files[1].hunks[0].new_lines(), vec!["1", "2"]);
    }

    #[test]
    fn numberless_hunks_and_dropped_spaces_on_blank_context() {
        let patch = "--- src/m.py\n+++ src/m.py\n@@\n def f():\n\n-    return 1\n+    return 2\n@@ class A:\n-    x = 1\n+    x = 2\n\n";
        let files = parse_patch(patch).unwrap();
        assert_eq!(files[0].path, "src/m.py");
        let hunks = &files[0].hunks;
        assert_eq!(hunks.len(), 2);
        assert_eq!(hunks[0].old_lines(), vec!["def f():", "", "    return 1"]);
        assert_eq!(hunks[1].locator.as_deref(), Some("class A:"));
        // The trailing blank line after the last hunk is a separator, not context.
        assert_eq!(hunks[1].old_lines(), vec!["    x = 1"]);
    }

    #[test]
    fn removed_line_that_looks_like_a_header_is_kept_when_counts_say_so() {
        let patch = "--- a/n.md\n+++ b/n.md\n@@ -1,2 +1,2 @@\n--- old\n+++ new\n";
        let files = parse_patch(patch).unwrap();
        assert_eq!(files[0].hunks[0].old_lines(), vec!["-- old"]);
        assert_eq!(files[0].hunks[0].new_lines(), vec!["++ new"]);
    }

    #[test]
    fn codex_format_with_add_delete_move_and_locator() {
        let patch = "*** Begin Patch\n*** Update File: a.py\n*** Move to: b.py\n@@ def f():\n-    return 1\n+    return 2\n*** End of File\n*** Add File: n.py\n+x = 1\n*** Delete File: old.py\n*** End Patch\n";
        let files = parse_patch(patch).unwrap();
        assert_eq!(files.len(), 3);
        assert_eq!(files[0].move_to.as_deref(), Some("b.py"));
        assert_eq!(files[0].hunks[0].locator.as_deref(), Some("def f():"));
        assert!(files[0].hunks[0].at_end);
        assert_eq!(files[1].op, FileOp::Add);
        assert_eq!(files[1].hunks[0].new_lines(), vec!["x = 1"]);
        assert_eq!(
            (files[2].op, files[2].path.as_str()),
            (FileOp::Delete, "old.py")
        );
    }

    #[test]
    fn no_newline_marker_is_recorded() {
        let patch = "--- a/t\n+++ b/t\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+b\n\\ No newline at end of file\n";
        let files = parse_patch(patch).unwrap();
        let h = &files[0].hunks[0];
        assert!(h.old_no_newline && h.new_no_newline);
    }
}
