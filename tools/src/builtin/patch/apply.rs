//! Applying parsed hunks to a file in memory, with graded matching, idempotence and
//! failure reports that name the closest candidate.

use super::super::edit::line_range;
use super::super::fileio::Doc;
use super::super::matching::{
    Found, Haystack, Level, closest_region_near, first_difference, mistyped_chars, normalize_chars,
    normalize_punctuation, reindent,
};
use super::parse::{Hunk, HunkLine};
use super::repair::{ParsesCleanly, Repair, inverted, restore_missing_context};

/// What happened to one hunk that did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HunkOutcome {
    Applied(Level),
    /// Applied after putting back context lines missing from the hunk; `decided_by` names
    /// the rules that chose where they go when that was not obvious.
    Repaired {
        level: Level,
        restored: usize,
        decided_by: Vec<&'static str>,
    },
    AlreadyApplied,
    /// Only context lines: nothing to change.
    NoChange,
}

/// Where the previous hunk left off, to place hunks without line numbers and to correct the
/// line numbers of later hunks.
#[derive(Debug, Default)]
struct Cursor {
    /// Line index after the previous hunk.
    pos: usize,
    /// Lines added minus removed so far (hunk numbers refer to the original file).
    offset: isize,
    /// Whether `pos` means something (a hunk was placed before).
    anchored: bool,
    /// Write added lines with typographic punctuation replaced by ASCII.
    ascii_added: bool,
}

/// Applies `hunks` in order to `doc`. Failures of individual hunks are collected (as messages
/// naming the hunk) so the model can fix them all in one go.
pub(crate) fn apply_hunks(
    doc: &mut Doc,
    hunks: &[Hunk],
    shown: &str,
    ascii_added: bool,
) -> Result<Vec<HunkOutcome>, Vec<String>> {
    let mut cursor = Cursor {
        ascii_added,
        ..Cursor::default()
    };
    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    let path = std::path::Path::new(shown);
    let parses = |lines: &[String]| {
        let mut text = lines.join("\n");
        text.push('\n');
        crate::lang::syntax_errors(path, &text).map(|errors| errors.is_empty())
    };
    for (index, hunk) in hunks.iter().enumerate() {
        match apply_hunk(doc, hunk, &mut cursor, Some(&parses)) {
            Ok(outcome) => outcomes.push(outcome),
            Err(why) => failures.push(format!(
                "`{shown}` hunk {} of {} (`{}`): {why}",
                index + 1,
                hunks.len(),
                hunk.header
            )),
        }
    }
    if failures.is_empty() {
        Ok(outcomes)
    } else {
        Err(failures)
    }
}

// Kept whole: one decision ladder (exact match, already applied, context repair, inverse
// repair, advice) whose rungs share the match lists, hint and cursor; each returns its outcome.
fn apply_hunk(
    doc: &mut Doc,
    hunk: &Hunk,
    cursor: &mut Cursor,
    repair_with: Option<ParsesCleanly<'_>>,
) -> Result<HunkOutcome, String> {
    if !hunk.has_changes() {
        return Ok(HunkOutcome::NoChange);
    }
    let old = hunk.old_lines();
    let new = hunk.new_lines();
    let mut search_from = cursor.pos;
    let mut anchored = cursor.anchored;
    if let Some(locator) = &hunk.locator
        && let Some(at) = find_locator(&doc.lines, locator, cursor.pos)
    {
        search_from = at;
        anchored = true;
    }
    let hint = if hunk.at_end {
        Some(doc.lines.len().saturating_sub(old.len()))
    } else {
        hunk.old_start
            .map(|s| (s as isize - 1 + cursor.offset).max(0) as usize)
    };
    if old.is_empty() {
        if let (Some(count @ 1..), Some(start)) = (hunk.old_count, hunk.old_start)
            && !hunk.at_end
        {
            // The header counts existing lines the body does not show: its context was lost,
            // and the added lines could go before or after it.
            return Err(format!(
                "the hunk only adds lines, yet its header says it covers {count} existing line{} from line {start}; the context is missing, so where the lines go is unclear: include the lines around the insertion as context (prefixed with a space)",
                if count == 1 { "" } else { "s" }
            ));
        }
        return Ok(insert_without_context(doc, hunk, &new, cursor, hint));
    }
    let hay = Haystack::new(&doc.lines);
    let olds = hay.find_graded(&old);
    let news = if new.is_empty() {
        Vec::new()
    } else {
        hay.find_graded(&new)
    };
    // A header that counts more old lines than the hunk shows says context is missing.
    let context_lost = hunk.old_count.is_some_and(|n| n > old.len());
    if !olds.is_empty() {
        let chosen = pick(&olds, hint, search_from, anchored)?;
        if context_lost
            && matches!(hunk.lines.last(), Some(HunkLine::Add(_)))
            && let Some(parses) = repair_with
        {
            // Lines lost from the end of the context sit somewhere among the trailing added
            // lines; where the header starts at the block, it says how many there are.
            return match trailing_context_restored(&doc.lines, hunk, chosen.start, hint, parses) {
                Some(repaired) => match apply_hunk(doc, &repaired, cursor, None)? {
                    HunkOutcome::Applied(level) => Ok(HunkOutcome::Repaired {
                        level,
                        restored: repaired.old_lines().len() - old.len(),
                        decided_by: vec![
                            "the header's line numbers and count agree",
                            "the result parses",
                        ],
                    }),
                    other => Ok(other),
                },
                None => Err(format!(
                    "the header counts {} old lines but the hunk has {}, so context is missing, and where the missing lines go among the added lines at its end changes the result; include all the context lines",
                    hunk.old_count.unwrap_or_default(),
                    old.len()
                )),
            };
        }
        // Both sides can match at the same place when one extends the other (lines appended
        // after context, or deleted at the end). The new side proves the hunk applied only if
        // it is the longer one, or as long and matches more strictly; otherwise the old text
        // is there (a shorter new side is found inside it).
        if news.iter().any(|n| {
            n.start == chosen.start
                && (new.len() > old.len() || (new.len() == old.len() && n.level < chosen.level))
        }) {
            advance(cursor, chosen.start + new.len(), &old, &new);
            return Ok(HunkOutcome::AlreadyApplied);
        }
        let replacement = replacement_lines(&doc.lines, hunk, &old, chosen, cursor.ascii_added);
        let len = replacement.len();
        doc.lines
            .splice(chosen.start..chosen.start + old.len(), replacement);
        if chosen.start + len == doc.lines.len() {
            if hunk.new_no_newline {
                doc.final_newline = false;
            } else if hunk.old_no_newline {
                doc.final_newline = true;
            }
        }
        advance(cursor, chosen.start + len, &old, &new);
        return Ok(HunkOutcome::Applied(chosen.level));
    }
    // With context missing, finding the new side may just mean that the missing line looks
    // like an added one.
    if distinctive(hunk, &new)
        && !context_lost
        && let Ok(at) = pick(&news, hint, search_from, anchored)
    {
        advance(cursor, at.start + new.len(), &old, &new);
        return Ok(HunkOutcome::AlreadyApplied);
    }
    let mut advice = None;
    if let Some(parses) = repair_with {
        match restore_missing_context(&doc.lines, hunk, hint, parses) {
            Ok(Repair {
                hunk: repaired,
                restored,
                decided_by,
            }) => {
                return match apply_hunk(doc, &repaired, cursor, None)? {
                    HunkOutcome::Applied(level) => Ok(HunkOutcome::Repaired {
                        level,
                        restored,
                        decided_by,
                    }),
                    other => Ok(other),
                };
            }
            Err(why) => advice = why,
        }
        // Its result may be there already, with the same lines missing from the context.
        if let Ok(Repair { hunk: repaired, .. }) =
            restore_missing_context(&doc.lines, &inverted(hunk), hint, parses)
        {
            let done = repaired.old_lines();
            let hay = Haystack::new(&doc.lines);
            if let Ok(at) = pick(&hay.find_graded(&done), hint, search_from, anchored) {
                advance(cursor, at.start + done.len(), &old, &new);
                return Ok(HunkOutcome::AlreadyApplied);
            }
        }
    }
    if let Some(advice) = advice {
        return Err(advice);
    }
    Err(describe_miss(&doc.lines, &old, hint))
}

/// The hunk with the file lines after its matched block, up to the header's old count, put
/// back as context among its trailing added lines. Each position among them is a reading;
/// those whose result does not parse are dropped, and the rest must agree. `None` unless the
/// header starts exactly at the block and the readings agree.
fn trailing_context_restored(
    lines: &[String],
    hunk: &Hunk,
    start: usize,
    hint: Option<usize>,
    parses: ParsesCleanly<'_>,
) -> Option<Hunk> {
    let count = hunk.old_count?;
    let old_len = hunk.old_lines().len();
    if hint != Some(start) || start + count > lines.len() {
        return None;
    }
    let trailing_adds = hunk
        .lines
        .iter()
        .rev()
        .take_while(|l| matches!(l, HunkLine::Add(_)))
        .count();
    let first_add = hunk.lines.len() - trailing_adds;
    let restored: Vec<HunkLine> = lines[start + old_len..start + count]
        .iter()
        .map(|l| HunkLine::Context(l.clone()))
        .collect();
    let file_parses = parses(lines) == Some(true);
    // (result of the region, hunk) per placement that keeps the file parsing.
    let mut readings: Vec<(Vec<String>, Hunk)> = Vec::new();
    for at in first_add..=hunk.lines.len() {
        let mut repaired = hunk.clone();
        repaired.lines.splice(at..at, restored.iter().cloned());
        let mut result: Vec<String> = lines[..start].to_vec();
        result.extend(repaired.new_lines().into_iter().map(str::to_string));
        result.extend_from_slice(&lines[start + count..]);
        if file_parses && parses(&result) != Some(true) {
            continue;
        }
        readings.push((result, repaired));
    }
    let (first, _) = readings.first()?;
    if readings.iter().all(|(result, _)| result == first) {
        return readings.into_iter().next().map(|(_, hunk)| hunk);
    }
    None
}

fn advance(cursor: &mut Cursor, pos: usize, old: &[&str], new: &[&str]) {
    cursor.pos = pos;
    cursor.offset += new.len() as isize - old.len() as isize;
    cursor.anchored = true;
}

/// Whether finding the hunk's new side proves it was applied: it must add a non-blank line,
/// or (for a pure deletion) keep at least two non-blank context lines.
fn distinctive(hunk: &Hunk, new: &[&str]) -> bool {
    let adds_text = hunk
        .lines
        .iter()
        .any(|l| matches!(l, HunkLine::Add(s) if !s.trim().is_empty()));
    adds_text || new.iter().filter(|l| !l.trim().is_empty()).count() >= 2
}

/// Chooses among matches: the one nearest the line-number hint; without one, the first after
/// the previous hunk; with neither, only a unique match.
fn pick(
    found: &[Found],
    hint: Option<usize>,
    from: usize,
    anchored: bool,
) -> Result<Found, String> {
    if found.is_empty() {
        return Err("no match".into());
    }
    if let Some(hint) = hint {
        // Line numbers choose among identical blocks only when they are exact: with stale
        // numbers, the nearest copy may well be the wrong one.
        if found.len() == 1 {
            return Ok(found[0]);
        }
        if let Some(exact) = found.iter().find(|f| f.start == hint) {
            return Ok(*exact);
        }
        return Err(ambiguous(found, Some(hint)));
    }
    if anchored && let Some(first) = found.iter().find(|f| f.start >= from) {
        return Ok(*first);
    }
    if found.len() == 1 {
        return Ok(found[0]);
    }
    Err(ambiguous(found, None))
}

fn ambiguous(found: &[Found], hint: Option<usize>) -> String {
    let starts: Vec<String> = found
        .iter()
        .take(10)
        .map(|f| (f.start + 1).to_string())
        .collect();
    let hint = match hint {
        Some(h) => format!(", none of them at line {} where the header points", h + 1),
        None => String::new(),
    };
    format!(
        "its lines occur {} times (starting at lines {}){hint}; add more context lines around the change, or give exact line numbers in the `@@ -N,M +N,M @@` header",
        found.len(),
        starts.join(", ")
    )
}

/// A line at or after `from` (else anywhere) containing the locator text.
fn find_locator(lines: &[String], locator: &str, from: usize) -> Option<usize> {
    let want = normalize_punctuation(locator.trim());
    let hit = |l: &String| normalize_punctuation(l.trim()).contains(want.as_str());
    lines
        .iter()
        .skip(from)
        .position(hit)
        .map(|i| i + from)
        .or_else(|| lines.iter().position(hit))
}

/// The lines that replace the matched region: context lines keep the file's exact text,
/// added lines are re-indented (and de-typographed) the way the match needed.
fn replacement_lines(
    lines: &[String],
    hunk: &Hunk,
    old: &[&str],
    found: Found,
    ascii_added: bool,
) -> Vec<String> {
    let region = &lines[found.start..found.start + old.len()];
    let mistyped = if found.level == Level::Punctuation {
        mistyped_chars(old, region)
    } else {
        Default::default()
    };
    let mut out = Vec::new();
    let mut j = found.start;
    for line in &hunk.lines {
        match line {
            HunkLine::Context(_) => {
                out.push(lines[j].clone());
                j += 1;
            }
            HunkLine::Remove(_) => j += 1,
            HunkLine::Add(text) => {
                let text = match found.shift {
                    Some(shift) => reindent(text, shift),
                    None => text.clone(),
                };
                out.push(if ascii_added {
                    normalize_punctuation(&text)
                } else {
                    normalize_chars(&text, &mistyped)
                });
            }
        }
    }
    out
}

/// A hunk with only added lines: it goes where its line number says, or at the end.
fn insert_without_context(
    doc: &mut Doc,
    hunk: &Hunk,
    new: &[&str],
    cursor: &mut Cursor,
    hint: Option<usize>,
) -> HunkOutcome {
    // `@@ -N,0 +M,K @@` inserts after old line N, so the hint is one line further on.
    let at = match (hunk.old_start, hunk.at_end) {
        (Some(_), false) => hint.map(|h| h + 1).unwrap_or(doc.lines.len()),
        _ => doc.lines.len(),
    };
    let at = if hunk.old_start == Some(0) { 0 } else { at }.min(doc.lines.len());
    let hay = Haystack::new(&doc.lines);
    let already = hay
        .find_at_level(new, Level::TrailingWhitespace)
        .iter()
        .any(|f| f.start + new.len() >= at && f.start <= at);
    if already {
        advance(cursor, at, &[], &[]);
        cursor.offset += new.len() as isize;
        return HunkOutcome::AlreadyApplied;
    }
    let added: Vec<String> = new
        .iter()
        .map(|s| {
            if cursor.ascii_added {
                normalize_punctuation(s)
            } else {
                s.to_string()
            }
        })
        .collect();
    let len = added.len();
    doc.lines.splice(at..at, added);
    if at + len == doc.lines.len() && hunk.new_no_newline {
        doc.final_newline = false;
    }
    advance(cursor, at + len, &[], new);
    HunkOutcome::Applied(Level::Exact)
}

fn describe_miss(lines: &[String], old: &[&str], hint: Option<usize>) -> String {
    let what = format!(
        "its {} context and removed lines match nowhere in the file (tried exact, ignoring trailing whitespace, ignoring indentation, normalising quotes/dashes)",
        old.len()
    );
    let Some(closest) = closest_region_near(lines, old, hint) else {
        return format!("{what}; the file is empty");
    };
    let percent = (closest.similarity * 100.0).round() as u32;
    let mut out = format!(
        "{what}. Closest candidate: {} ({percent}% similar",
        line_range(closest.start + 1, closest.len)
    );
    if let Some(h) = hint {
        out.push_str(&format!("; the hunk header points at line {}", h + 1));
    }
    out.push(')');
    if let Some((i, have, want, kind)) = first_difference(lines, closest.start, old) {
        out.push_str(&format!(
            "; first difference at file line {} ({kind}):\n    file:  {have:?}\n    patch: {want:?}",
            closest.start + i + 1
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_patch;
    use super::*;

    fn apply(text: &str, patch: &str) -> Result<(String, Vec<HunkOutcome>), Vec<String>> {
        let files = parse_patch(patch).unwrap();
        let mut doc = Doc::parse(text);
        let outcomes = apply_hunks(&mut doc, &files[0].hunks, "f.py", false)?;
        Ok((doc.render(), outcomes))
    }

    const FILE: &str = "import os\n\ndef f():\n    x = 1\n    return x\n\ndef g():\n    return 2\n";

    #[test]
    fn exact_hunk_applies_and_second_run_reports_already_applied() {
        let patch = "--- a/f.py\n+++ b/f.py\n@@ -3,3 +3,3 @@\n def f():\n-    x = 1\n+    x = 10\n     return x\n";
        let (out, outcomes) = apply(FILE, patch).unwrap();
        assert!(out.contains("    x = 10\n"));
        assert_eq!(outcomes, vec![HunkOutcome::Applied(Level::Exact)]);
        let files = parse_patch(patch).unwrap();
        let mut doc = Doc::parse(&out);
        let again = apply_hunks(&mut doc, &files[0].hunks, "f.py", false).unwrap();
        assert_eq!(again, vec![HunkOutcome::AlreadyApplied]);
        assert_eq!(doc.render(), out);
    }

    #[test]
    fn added_context_suffix_is_not_duplicated_on_reapply() {
        let patch =
            "--- f.py\n+++ f.py\n@@\n def g():\n     return 2\n+\n+def h():\n+    return 3\n";
        let (out, _) = apply(FILE, patch).unwrap();
        let (again, outcomes) = apply(&out, patch).unwrap();
        assert_eq!(again, out);
        assert_eq!(outcomes, vec![HunkOutcome::AlreadyApplied]);
    }

    #[test]
    fn deleting_lines_after_context_is_not_mistaken_for_already_applied() {
        let text = "def f():\n    return 1\n\n\ndef g():\n    pass\n\n\nX = 1\n";
        let patch =
            "--- f.py\n+++ f.py\n@@\n def f():\n     return 1\n-\n-\n-def g():\n-    pass\n \n \n";
        let (out, outcomes) = apply(text, patch).unwrap();
        assert_eq!(out, "def f():\n    return 1\n\n\nX = 1\n");
        assert_eq!(outcomes, vec![HunkOutcome::Applied(Level::Exact)]);
    }

    #[test]
    fn whitespace_only_change_is_applied_not_skipped() {
        let patch = "--- f.py\n+++ f.py\n@@\n import os\n-\n+    \n";
        let (out, _) = apply("import os\n\nx = 1\n", patch).unwrap();
        assert_eq!(out, "import os\n    \nx = 1\n");
    }

    #[test]
    fn wrong_indentation_is_fixed_and_added_lines_reindented() {
        let patch = "--- f.py\n+++ f.py\n@@\n-x = 1\n-return x\n+y = 1\n+return y\n";
        let (out, outcomes) = apply(FILE, patch).unwrap();
        assert!(out.contains("    y = 1\n    return y\n"), "{out}");
        assert_eq!(outcomes, vec![HunkOutcome::Applied(Level::Indentation)]);
    }

    #[test]
    fn stale_line_numbers_still_find_the_block() {
        let patch =
            "--- f.py\n+++ f.py\n@@ -40,2 +40,2 @@\n def g():\n-    return 2\n+    return 3\n";
        let (out, _) = apply(FILE, patch).unwrap();
        assert!(out.ends_with("def g():\n    return 3\n"));
    }

    #[test]
    fn ambiguous_numberless_hunk_is_refused() {
        let text = "a\nx = 1\nb\nx = 1\n";
        let err = apply(text, "--- f\n+++ f\n@@\n-x = 1\n+x = 2\n").unwrap_err();
        assert!(err[0].contains("occur 2 times"), "{err:?}");
    }

    #[test]
    fn miss_names_closest_candidate_and_first_difference() {
        let patch = "--- f.py\n+++ f.py\n@@\n def f():\n-    x = 2\n+    x = 3\n     return x\n";
        let err = apply(FILE, patch).unwrap_err();
        assert!(err[0].contains("hunk 1 of 1"), "{err:?}");
        assert!(err[0].contains("Closest candidate: lines 3-5"), "{err:?}");
        assert!(err[0].contains("file line 4"), "{err:?}");
    }

    #[test]
    fn pure_insertion_with_line_number() {
        let patch = "--- a/f.py\n+++ b/f.py\n@@ -1,0 +2,1 @@\n+import sys\n";
        let (out, _) = apply(FILE, patch).unwrap();
        assert!(out.starts_with("import os\nimport sys\n\n"), "{out}");
        let (again, outcomes) = apply(&out, patch).unwrap();
        assert_eq!(again, out);
        assert_eq!(outcomes, vec![HunkOutcome::AlreadyApplied]);
    }

    fn repaired_rules(outcomes: &[HunkOutcome]) -> Vec<&'static str> {
        match &outcomes[0] {
            HunkOutcome::Repaired { decided_by, .. } => decided_by.clone(),
            other => panic!("not repaired: {other:?}"),
        }
    }

    #[test]
    fn missing_line_next_to_insertion_is_placed_where_the_result_parses() {
        // Dropped: `    def g(self):`. Put after the added method, the added `h` would lose
        // its body; only one placement parses.
        let text =
            "class A:\n    def f(self):\n        return 1\n\n    def g(self):\n        return 2\n";
        let patch = "--- f.py\n+++ f.py\n@@ -1,6 +1,8 @@\n class A:\n     def f(self):\n         return 1\n \n+    def h(self):\n+        return 3\n         return 2\n";
        let (out, outcomes) = apply(text, patch).unwrap();
        assert_eq!(
            out,
            "class A:\n    def f(self):\n        return 1\n\n    def h(self):\n        return 3\n    def g(self):\n        return 2\n"
        );
        assert!(repaired_rules(&outcomes).contains(&"the result parses"));
    }

    #[test]
    fn missing_import_is_placed_so_imports_stay_sorted() {
        let text = "import os\nimport re\nimport sys\n\nX = 1\n";
        // Dropped: `import re`; `import pathlib` belongs before it.
        let patch =
            "--- f.py\n+++ f.py\n@@ -1,4 +1,5 @@\n import os\n+import pathlib\n import sys\n \n";
        let (out, outcomes) = apply(text, patch).unwrap();
        assert_eq!(
            out,
            "import os\nimport pathlib\nimport re\nimport sys\n\nX = 1\n"
        );
        assert_eq!(repaired_rules(&outcomes), ["sorted lines stay sorted"]);
    }

    #[test]
    fn rewritten_line_keeps_its_place() {
        let text = "def f():\n    a = 1\n    b = 2\n    c = 3\n    return a\n";
        // Dropped: `    b = 2`, between the rewritten line and the next context.
        let rewrite = "--- f.py\n+++ f.py\n@@ -1,5 +1,5 @@\n def f():\n-    a = 1\n+    a = 10\n     c = 3\n     return a\n";
        let (out, outcomes) = apply(text, rewrite).unwrap();
        assert_eq!(
            out,
            "def f():\n    a = 10\n    b = 2\n    c = 3\n    return a\n"
        );
        assert_eq!(
            repaired_rules(&outcomes),
            ["added lines stay next to the lines they replace"]
        );
    }

    #[test]
    fn two_line_hunk_is_repaired_only_where_the_header_vouches_for_it() {
        let text = "a = 1\nb = 2\nc = 3\n";
        let patch = "--- f.py\n+++ f.py\n@@ -1,3 +1,4 @@\n a = 1\n c = 3\n+d = 4\n";
        let (out, _) = apply(text, patch).unwrap();
        assert_eq!(out, "a = 1\nb = 2\nc = 3\nd = 4\n");
        let elsewhere = "--- f.py\n+++ f.py\n@@ -7,3 +7,4 @@\n a = 1\n c = 3\n+d = 4\n";
        assert!(apply(text, elsewhere).is_err());
    }

    #[test]
    fn insertion_whose_header_counts_lost_context_is_refused() {
        let patch = "--- a/f.py\n+++ b/f.py\n@@ -1,1 +1,3 @@\n+import sys\n+\n";
        let err = apply(FILE, patch).unwrap_err();
        assert!(err[0].contains("the context is missing"), "{err:?}");
    }

    #[test]
    fn new_side_found_is_not_already_applied_when_the_header_counts_a_lost_line() {
        // The file has one blank line between the two; the hunk adds a second and lost the
        // first from its context, so its new side matches the file as it is.
        let text = "from a import b\n\nX = [\n    1,\n]\n";
        let patch = "--- f.py\n+++ f.py\n@@ -1,4 +1,5 @@\n from a import b\n+\n X = [\n     1,\n";
        let (out, _) = apply(text, patch).unwrap();
        assert_eq!(out, "from a import b\n\n\nX = [\n    1,\n]\n");
    }

    #[test]
    fn deletion_at_the_end_with_mistyped_quotes_is_applied() {
        let text = "x = 1\n\n\ndef f():\n    return \"a\"\n";
        let patch = "--- f.py\n+++ f.py\n@@ -1,5 +1,1 @@\n x = 1\n-\n-\n-def f():\n-    return \u{201C}a\u{201D}\n";
        let (out, outcomes) = apply(text, patch).unwrap();
        assert_eq!(out, "x = 1\n");
        assert_eq!(outcomes, vec![HunkOutcome::Applied(Level::Punctuation)]);
    }

    #[test]
    fn trailing_insertion_after_lost_context_goes_where_the_header_says() {
        // The hunk lost `    return 1` from the end of its context; its header still counts
        // it, and only one place among the added lines keeps the file parsing.
        let text = "def f():\n    return 1\n";
        let patch = "--- f.py\n+++ f.py\n@@ -1,2 +1,4 @@\n def f():\n+def g():\n+    return 2\n";
        let (out, _) = apply(text, patch).unwrap();
        assert_eq!(out, "def f():\n    return 1\ndef g():\n    return 2\n");
        // Both orders parse: refused, naming the problem.
        let text = "a = 1\nb = 2\nc = 3\nd = 4\n";
        let either = "--- f.py\n+++ f.py\n@@ -1,3 +1,4 @@\n a = 1\n b = 2\n+x = 0\n";
        let err = apply(text, either).unwrap_err();
        assert!(err[0].contains("changes the result"), "{err:?}");
        let stale = "--- f.py\n+++ f.py\n@@ -9,3 +9,4 @@\n a = 1\n b = 2\n+x = 0\n";
        let err = apply(text, stale).unwrap_err();
        assert!(err[0].contains("context is missing"), "{err:?}");
    }
}
