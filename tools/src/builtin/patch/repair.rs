//! Repairing a hunk whose context lost a line or two, a common model mistake: its old lines
//! are then no longer contiguous in the file. If they form a subsequence of the region most
//! like them, with a few file lines missing strictly inside, the missing lines are put back as
//! context and the hunk is matched again as usual (so line-number and uniqueness checks still
//! apply).

use super::super::matching::{Shift, closest_region_near, normalize_punctuation, reindent};
use super::parse::{Hunk, HunkLine};

/// File lines that may be missing from one hunk's context.
const MAX_MISSING: usize = 3;
/// The region must be at least this similar to the hunk's old lines.
const MIN_SIMILARITY: f32 = 0.6;

fn key(line: &str) -> String {
    normalize_punctuation(line).trim().to_string()
}

fn indent_width(line: &str) -> isize {
    line.chars()
        .take_while(|c| c.is_whitespace())
        .map(|c| if c == '\t' { 4 } else { 1 })
        .sum()
}

/// Readings of one hunk considered at most (embeddings times placements).
const MAX_READINGS: usize = 256;

/// One way to read a hunk with missing context: where its old lines sit in the file and which
/// file lines fill the gaps.
struct Reading {
    hunk: Hunk,
    missing: usize,
    /// File lines the reading covers, `[start, end)`.
    start: usize,
    end: usize,
    delta: isize,
    /// File-line offsets (in the window) where the hunk's old lines sit.
    embedding: Vec<usize>,
    /// A restored line separates removed lines from the added lines that replace them.
    splits_replacement: bool,
    /// Where a restored line sits next to added lines, the lines there read in sorted order
    /// (imports, names in a list).
    keeps_order: bool,
}

/// Tells whether a whole file, as lines, parses without syntax errors; `None` when the
/// language is not supported.
pub(crate) type ParsesCleanly<'a> = &'a dyn Fn(&[String]) -> Option<bool>;

/// A named piece of evidence about a reading.
type Rule<'a> = (&'static str, &'a dyn Fn(&Reading) -> bool);

/// A hunk with its missing context put back.
#[derive(Debug)]
pub(crate) struct Repair {
    pub hunk: Hunk,
    /// Context lines restored.
    pub restored: usize,
    /// The rules that chose among readings that disagreed, in the order applied.
    pub decided_by: Vec<&'static str>,
}

/// The hunk with its missing context lines restored. Every way of placing the hunk's old
/// lines as a subsequence of the region most like them (a few lines missing strictly inside),
/// and of ordering restored lines around added lines at the same gap, is a reading. When the
/// readings produce different files, evidence narrows them, strongest first: the header's
/// line numbers and count, a result that parses, added lines kept next to the lines they
/// replace, sorted runs kept sorted. The repair is used only when the readings left all
/// produce the same file. Errors: not a missing-context case (`None`), or readings that still
/// disagree (`Some(advice)`).
// Kept whole: the evidence steps narrow one pool of readings in a fixed order (the order is
// the rule's strength); they share the pool, the window bounds and the parse check.
pub(crate) fn restore_missing_context(
    lines: &[String],
    hunk: &Hunk,
    hint: Option<usize>,
    parses: ParsesCleanly<'_>,
) -> Result<Repair, Option<String>> {
    let old = hunk.old_lines();
    // A two-line hunk is too weak to place by content alone; its header must vouch for it.
    let header_says_missing = hint.is_some() && hunk.old_count.is_some_and(|n| n > old.len());
    if old.len() < 2 || (old.len() < 3 && !header_says_missing) {
        return Err(None);
    }
    let closest = closest_region_near(lines, &old, hint).ok_or(None)?;
    if closest.similarity < MIN_SIMILARITY {
        return Err(None);
    }
    let from = closest.start.saturating_sub(MAX_MISSING + 1);
    let to = (closest.start + old.len() + MAX_MISSING + 1).min(lines.len());
    let window: Vec<String> = lines[from..to].iter().map(|l| key(l)).collect();
    let wanted: Vec<String> = old.iter().map(|l| key(l)).collect();
    let limit = MAX_MISSING.min((old.len() / 2).max(1));
    let embeddings = embeddings(&window, &wanted, limit).ok_or(None)?;
    let mut readings = Vec::new();
    for at in &embeddings {
        let Some(delta) = consistent_delta(lines, from, at, &old) else {
            continue;
        };
        readings.extend(readings_of(lines, hunk, from, at, delta).ok_or(None)?);
        if readings.len() > MAX_READINGS {
            return Err(None);
        }
    }
    let matches_header =
        |r: &Reading| Some(r.start) == hint && hunk.old_count == Some(r.end - r.start);
    if old.len() < 3 {
        readings.retain(matches_header);
    }
    if readings.is_empty() {
        return Err(None);
    }
    let lo = readings.iter().map(|r| r.start).min().unwrap_or(0);
    let hi = readings.iter().map(|r| r.end).max().unwrap_or(0);
    let file_after = |r: &Reading| -> Vec<String> {
        let mut out: Vec<String> = lines[..lo].to_vec();
        out.extend(outcome(lines, r, lo, hi).1.into_iter().map(str::to_string));
        out.extend_from_slice(&lines[hi..]);
        out
    };
    let file_parses = parses(lines) == Some(true);
    let mut pool: Vec<&Reading> = readings.iter().collect();
    let mut decided_by = Vec::new();
    // Evidence about where the hunk is may drop whole embeddings. The flag says that no
    // reading passing means none is right: when every reading breaks a file that parsed, the
    // hunk means something none of them capture.
    let placement_rules: [(Rule<'_>, bool); 2] = [
        (
            ("the header's line numbers and count agree", &matches_header),
            false,
        ),
        (
            ("the result parses", &|r| {
                !file_parses || parses(&file_after(r)) == Some(true)
            }),
            file_parses,
        ),
    ];
    for ((name, rule), none_means_wrong) in placement_rules {
        if all_agree(lines, &pool, lo, hi) {
            break;
        }
        let kept: Vec<&Reading> = pool.iter().copied().filter(|r| rule(r)).collect();
        if kept.is_empty() && none_means_wrong {
            pool.clear();
            break;
        }
        if !kept.is_empty() && kept.len() < pool.len() {
            pool = kept;
            decided_by.push(name);
        }
    }
    // Conventions only order restored lines around added lines within one embedding.
    let order_rules: [Rule<'_>; 2] = [
        ("sorted lines stay sorted", &|r| r.keeps_order),
        ("added lines stay next to the lines they replace", &|r| {
            !r.splits_replacement
        }),
    ];
    for (name, rule) in order_rules {
        if pool.is_empty() || all_agree(lines, &pool, lo, hi) {
            break;
        }
        let mut kept = Vec::new();
        for r in &pool {
            let siblings = pool.iter().filter(|o| o.embedding == r.embedding);
            let any_passes = siblings.clone().any(|o| rule(o));
            if rule(r) || !any_passes {
                kept.push(*r);
            }
        }
        if kept.len() < pool.len() {
            pool = kept;
            decided_by.push(name);
        }
    }
    if all_agree(lines, &pool, lo, hi) {
        let chosen = pool[0];
        return Ok(Repair {
            hunk: chosen.hunk.clone(),
            restored: chosen.missing,
            decided_by,
        });
    }
    let at = &embeddings[0];
    let missing_lines: Vec<String> = at
        .windows(2)
        .flat_map(|w| w[0] + 1..w[1])
        .map(|w| format!("{} `{}`", from + w + 1, lines[from + w].trim()))
        .collect();
    Err(Some(format!(
        "the hunk's context lacks file line{} {}, and where it goes relative to the added lines (or which equal line is meant) changes the result; include the missing context in the hunk",
        if missing_lines.len() == 1 { "" } else { "s" },
        missing_lines.join(", "),
    )))
}

fn all_agree(lines: &[String], pool: &[&Reading], lo: usize, hi: usize) -> bool {
    let Some(first) = pool.first() else {
        return false;
    };
    let expected = outcome(lines, first, lo, hi);
    pool.iter().all(|r| outcome(lines, r, lo, hi) == expected)
}

/// The file lines `[lo, hi)` as they are after applying reading `r`.
fn outcome<'a>(lines: &'a [String], r: &'a Reading, lo: usize, hi: usize) -> (isize, Vec<&'a str>) {
    let mut out: Vec<&str> = lines[lo..r.start].iter().map(String::as_str).collect();
    let mut j = r.start;
    for line in &r.hunk.lines {
        match line {
            HunkLine::Context(_) => {
                out.push(&lines[j]);
                j += 1;
            }
            HunkLine::Remove(_) => j += 1,
            HunkLine::Add(text) => out.push(text),
        }
    }
    out.extend(lines[r.end..hi].iter().map(String::as_str));
    (r.delta, out)
}

/// Every placement of `wanted` as a subsequence of `window` with between 1 and `max_gap`
/// lines skipped strictly inside; `None` when there are too many to consider.
fn embeddings(window: &[String], wanted: &[String], max_gap: usize) -> Option<Vec<Vec<usize>>> {
    fn extend(
        window: &[String],
        wanted: &[String],
        gaps_left: usize,
        max_gap: usize,
        current: &mut Vec<usize>,
        out: &mut Vec<Vec<usize>>,
    ) -> bool {
        let j = current.len();
        if j == wanted.len() {
            if gaps_left < max_gap {
                out.push(current.clone());
            }
            return out.len() <= MAX_READINGS;
        }
        let prev = current[j - 1];
        let last = (prev + 1 + gaps_left).min(window.len().saturating_sub(1));
        for p in prev + 1..=last {
            if window[p] == wanted[j] {
                current.push(p);
                let ok = extend(
                    window,
                    wanted,
                    gaps_left - (p - prev - 1),
                    max_gap,
                    current,
                    out,
                );
                current.pop();
                if !ok {
                    return false;
                }
            }
        }
        true
    }
    let mut out = Vec::new();
    for start in (0..window.len()).filter(|&s| window[s] == wanted[0]) {
        let mut current = vec![start];
        if !extend(window, wanted, max_gap, max_gap, &mut current, &mut out) {
            return None;
        }
    }
    Some(out)
}

/// The readings of one embedding: restored lines before, after or among the added lines at
/// each gap that has both; `None` when there are too many to consider.
// Kept whole: the grouped hunk lines, gap choices and removed-run closures are built once and
// used by every variant in the loop; a split would pass them all as parameters.
fn readings_of(
    lines: &[String],
    hunk: &Hunk,
    from: usize,
    at: &[usize],
    delta: isize,
) -> Option<Vec<Reading>> {
    let patch_tabs = hunk.old_lines().iter().any(|l| l.starts_with('\t'));
    let shift = Shift {
        delta: -delta,
        tabs: patch_tabs,
        tab_width: 4,
    };
    let restored = |w: usize| {
        let file_line = &lines[from + w];
        HunkLine::Context(if delta == 0 {
            file_line.clone()
        } else {
            reindent(file_line, shift)
        })
    };
    // Hunk lines grouped as: old line, then the added lines that follow it.
    let mut groups: Vec<(Option<&HunkLine>, Vec<&HunkLine>)> = vec![(None, Vec::new())];
    for line in &hunk.lines {
        match line {
            HunkLine::Add(_) => {
                if let Some(group) = groups.last_mut() {
                    group.1.push(line);
                }
            }
            _ => groups.push((Some(line), Vec::new())),
        }
    }
    // Gaps (after old line i) that have added lines next to them can be read several ways:
    // the restored lines go before the added lines, after them, or between two of them.
    let choices: Vec<usize> = (0..at.len().saturating_sub(1))
        .filter(|&i| at[i + 1] - at[i] > 1 && !groups[i + 1].1.is_empty())
        .collect();
    let radix: Vec<usize> = choices.iter().map(|&c| groups[c + 1].1.len() + 1).collect();
    let variants = radix.iter().try_fold(1usize, |n, &r| {
        n.checked_mul(r).filter(|&n| n <= MAX_READINGS)
    })?;
    let missing: usize = at.windows(2).map(|w| w[1] - w[0] - 1).sum();
    let is_remove = |old_index: usize| {
        groups
            .get(old_index + 1)
            .is_some_and(|g| matches!(g.0, Some(HunkLine::Remove(_))))
    };
    let old_text = |k: usize| groups.get(k + 1).and_then(|g| g.0).map(line_text);
    // The removed lines that end at (start at) old line k.
    let removed_run_ending = |k: usize| -> Vec<&str> {
        let mut run: Vec<&str> = (0..=k)
            .rev()
            .take_while(|&j| is_remove(j) && (j == k || groups[j + 1].1.is_empty()))
            .filter_map(old_text)
            .collect();
        run.reverse();
        run
    };
    let removed_run_starting = |k: usize| -> Vec<&str> {
        (k..at.len())
            .take_while(|&j| is_remove(j) && (j == k || groups[j].1.is_empty()))
            .filter_map(old_text)
            .collect()
    };
    let mut out = Vec::new();
    for variant in 0..variants {
        // The number of added lines that come before the restored lines, per choice.
        let mut split_at = vec![usize::MAX; at.len()];
        let mut rest = variant;
        for (&c, &r) in choices.iter().zip(&radix) {
            split_at[c] = rest % r;
            rest /= r;
        }
        let mut repaired = groups[0].1.iter().map(|l| (*l).clone()).collect::<Vec<_>>();
        for (i, (old_line, adds)) in groups.iter().enumerate().skip(1) {
            let old_index = i - 1;
            if let Some(line) = old_line {
                repaired.push((*line).clone());
            }
            let gap: Vec<HunkLine> = match at.get(old_index + 1) {
                Some(&next) => (at[old_index] + 1..next).map(restored).collect(),
                None => Vec::new(),
            };
            let split = split_at[old_index].min(adds.len());
            repaired.extend(adds[..split].iter().map(|l| (*l).clone()));
            repaired.extend(gap);
            repaired.extend(adds[split..].iter().map(|l| (*l).clone()));
        }
        let mut splits_replacement = false;
        let mut keeps_order = true;
        for &c in &choices {
            let adds = &groups[c + 1].1;
            let split = split_at[c];
            // Only a rewrite of the removed lines counts as their replacement.
            let (prev_removed, next_removed) = (
                is_remove(c) && rewrites(&removed_run_ending(c), adds),
                is_remove(c + 1) && rewrites(&removed_run_starting(c + 1), adds),
            );
            splits_replacement |= (prev_removed && !next_removed && split != adds.len())
                || (next_removed && !prev_removed && split != 0);
            // The added and restored lines in this order, between their neighbours when those
            // are imports too.
            let mut run: Vec<&str> = Vec::new();
            run.extend(adds[..split].iter().map(|l| line_text(l)));
            run.extend((at[c] + 1..at[c + 1]).map(|w| lines[from + w].as_str()));
            run.extend(adds[split..].iter().map(|l| line_text(l)));
            if let Some(HunkLine::Context(s)) = groups[c + 1].0
                && import_key(s).is_some()
            {
                run.insert(0, s);
            }
            if let Some(Some(HunkLine::Context(s))) = groups.get(c + 2).map(|g| g.0)
                && import_key(s).is_some()
            {
                run.push(s);
            }
            // Only imports have a conventional order; blank lines separate isort's sections,
            // each sorted on its own.
            let all_imports = run
                .iter()
                .all(|l| l.trim().is_empty() || import_key(l).is_some());
            if all_imports {
                keeps_order &= run
                    .split(|l| l.trim().is_empty())
                    .all(|section| section.len() < 2 || is_sorted_run(section));
            }
        }
        let mut reading_hunk = hunk.clone();
        reading_hunk.lines = repaired;
        out.push(Reading {
            hunk: reading_hunk,
            missing,
            start: from + at[0],
            end: from + at[at.len() - 1] + 1,
            delta,
            embedding: at.to_vec(),
            splits_replacement,
            keeps_order,
        });
    }
    Some(out)
}

/// Whether `adds` reads as a rewrite of `removed`: mostly the same text, but not the same
/// (the same text removed and added is a move, which says nothing about where it goes).
fn rewrites(removed: &[&str], adds: &[&HunkLine]) -> bool {
    let before = removed.join("\n");
    let after: Vec<&str> = adds.iter().map(|l| line_text(l)).collect();
    let after = after.join("\n");
    let (before, after) = (before.trim(), after.trim());
    before != after && similar::TextDiff::from_chars(before, after).ratio() >= REWRITE_SIMILARITY
}

/// How alike removed and added text must be for the added lines to count as their rewrite.
const REWRITE_SIMILARITY: f32 = 0.7;

fn line_text(line: &HunkLine) -> &str {
    match line {
        HunkLine::Context(s) | HunkLine::Remove(s) | HunkLine::Add(s) => s,
    }
}

/// Whether `run`, import lines of one section, is sorted in one of isort's orders: by module, or plain
/// imports before `from` imports, each by module. Other sorted-looking lists (parameters,
/// dict items) are not sorted by convention, so they say nothing.
fn is_sorted_run(run: &[&str]) -> bool {
    let Some(keys) = run
        .iter()
        .map(|l| import_key(l))
        .collect::<Option<Vec<_>>>()
    else {
        return false;
    };
    let by_module = keys.windows(2).all(|w| w[0].1 <= w[1].1);
    by_module || keys.is_sorted()
}

/// For an import line: whether it is a `from` import, and the module it names (lowercase).
fn import_key(line: &str) -> Option<(bool, String)> {
    let line = line.trim();
    let (from, rest) = if let Some(rest) = line.strip_prefix("from ") {
        (true, rest)
    } else if let Some(rest) = line.strip_prefix("import ") {
        (false, rest)
    } else if let Some(rest) = line.strip_prefix("use ") {
        (false, rest)
    } else {
        return None;
    };
    let module = rest.split_whitespace().next()?.trim_end_matches([',', ';']);
    Some((from, module.to_lowercase()))
}

/// The indentation difference file - hunk over the matched non-blank lines, if constant.
fn consistent_delta(lines: &[String], from: usize, at: &[usize], old: &[&str]) -> Option<isize> {
    let mut delta = None;
    for (&w, patch_line) in at.iter().zip(old) {
        let file_line = &lines[from + w];
        if file_line.trim().is_empty() || patch_line.trim().is_empty() {
            continue;
        }
        let d = indent_width(file_line) - indent_width(patch_line);
        match delta {
            None => delta = Some(d),
            Some(prev) if prev == d => {}
            Some(_) => return None,
        }
    }
    Some(delta.unwrap_or(0))
}

/// The hunk read backwards (added and removed swapped), to recognise an already applied hunk
/// whose context lost a line.
pub(crate) fn inverted(hunk: &Hunk) -> Hunk {
    let mut inverse = hunk.clone();
    inverse.lines = hunk
        .lines
        .iter()
        .map(|l| match l {
            HunkLine::Add(s) => HunkLine::Remove(s.clone()),
            HunkLine::Remove(s) => HunkLine::Add(s.clone()),
            HunkLine::Context(s) => HunkLine::Context(s.clone()),
        })
        .collect();
    inverse
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_patch;
    use super::*;

    fn hunk(patch: &str) -> Hunk {
        parse_patch(patch).unwrap()[0].hunks[0].clone()
    }

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(str::to_string).collect()
    }

    #[test]
    fn a_missing_line_between_changes_is_restored() {
        let file = lines("def f():\n    a = 1\n    b = 2\n    c = 3\n    d = 4\n    return a\n");
        let h = hunk(
            "--- f\n+++ f\n@@\n def f():\n-    a = 1\n+    a = 10\n     b = 2\n     d = 4\n-    return a\n+    return a + d\n",
        );
        let repair = restore_missing_context(&file, &h, None, &|_| None).unwrap();
        assert_eq!(repair.restored, 1);
        assert_eq!(
            repair.hunk.old_lines(),
            vec![
                "def f():",
                "    a = 1",
                "    b = 2",
                "    c = 3",
                "    d = 4",
                "    return a"
            ]
        );
    }

    #[test]
    fn a_gap_next_to_a_pure_insertion_is_ambiguous() {
        let file = lines("a = 1\nb = 2\nc = 3\nd = 4\n");
        let h = hunk("--- f\n+++ f\n@@\n a = 1\n+x = 0\n c = 3\n d = 4\n");
        assert!(restore_missing_context(&file, &h, None, &|_| None).is_err());
    }

    #[test]
    fn lines_the_file_does_not_have_are_not_a_repair_case() {
        let file = lines("a = 1\nb = 2\nc = 3\nd = 4\n");
        let h = hunk("--- f\n+++ f\n@@\n a = 1\n b = 2\n-zzz\n+x = 0\n d = 4\n");
        assert!(restore_missing_context(&file, &h, None, &|_| None).is_err());
    }
}
