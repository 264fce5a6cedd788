//! Repairing a hunk whose context lost a line or two, a common model mistake: its old lines
//! are then no longer contiguous in the file. If they form a subsequence of the region most
//! like them, with a few file lines missing strictly inside, the missing lines are put back as
//! context and the hunk is matched again as usual (so line-number and uniqueness checks still
//! apply).

use similar::{Algorithm, DiffOp, capture_diff_slices};

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

/// The hunk with its missing context lines restored, and how many were restored; an error
/// when the hunk is not a missing-context case (`None`) or cannot be repaired safely because a
/// missing line sits next to added lines with no way to tell on which side (`Some(advice)`).
pub(crate) fn restore_missing_context(
    lines: &[String],
    hunk: &Hunk,
    hint: Option<usize>,
) -> Result<(Hunk, usize), Option<String>> {
    let old = hunk.old_lines();
    if old.len() < 3 {
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
    // Position in the window of every old line of the hunk.
    let mut at: Vec<Option<usize>> = vec![None; old.len()];
    for op in capture_diff_slices(Algorithm::Myers, &window, &wanted) {
        match op {
            DiffOp::Equal {
                old_index,
                new_index,
                len,
            } => {
                for k in 0..len {
                    at[new_index + k] = Some(old_index + k);
                }
            }
            DiffOp::Delete { .. } => {}
            // A hunk line the file does not have: not a missing-context case.
            DiffOp::Insert { .. } | DiffOp::Replace { .. } => return Err(None),
        }
    }
    let at: Vec<usize> = at.into_iter().collect::<Option<Vec<_>>>().ok_or(None)?;
    let missing: usize = at.windows(2).map(|w| w[1] - w[0] - 1).sum();
    if missing == 0 || missing > MAX_MISSING || missing * 2 > old.len() {
        return Err(None);
    }
    // Re-indent restored lines into the hunk's indentation (the file may be shifted from it).
    let delta = consistent_delta(lines, from, &at, &old).ok_or(None)?;
    let patch_tabs = old.iter().any(|l| l.starts_with('\t'));
    let shift = Shift {
        delta: -delta,
        tabs: patch_tabs,
        tab_width: 4,
    };
    // Added lines between old line k-1 and old line k, for k in 0..=old.len().
    let mut adds_between = vec![0usize; old.len() + 1];
    let mut seen_old = 0;
    for line in &hunk.lines {
        match line {
            HunkLine::Add(_) => adds_between[seen_old] += 1,
            _ => seen_old += 1,
        }
    }
    for (i, pair) in at.windows(2).enumerate() {
        if pair[1] - pair[0] > 1 && gap_is_ambiguous(&wanted, &window, pair, i, &adds_between) {
            let missing_lines: Vec<String> = (pair[0] + 1..pair[1])
                .map(|w| format!("{} `{}`", from + w + 1, lines[from + w].trim()))
                .collect();
            return Err(Some(format!(
                "file line{} {} {} missing from the hunk's context, right next to added lines, so where the added lines go is ambiguous; include {} in the hunk",
                if missing_lines.len() == 1 { "" } else { "s" },
                missing_lines.join(", "),
                if missing_lines.len() == 1 {
                    "is"
                } else {
                    "are"
                },
                if missing_lines.len() == 1 {
                    "it"
                } else {
                    "them"
                },
            )));
        }
    }
    // Missing lines go right before the old line that follows them (there are no added lines
    // at a gap: the checks above refuse those, as ambiguous).
    let mut repaired = Vec::with_capacity(hunk.lines.len() + missing);
    let mut old_index = 0;
    for line in &hunk.lines {
        if !matches!(line, HunkLine::Add(_)) {
            if old_index > 0 {
                let (before, here) = (at[old_index - 1], at[old_index]);
                repaired.extend((before + 1..here).map(|w| {
                    let file_line = &lines[from + w];
                    HunkLine::Context(if delta == 0 {
                        file_line.clone()
                    } else {
                        reindent(file_line, shift)
                    })
                }));
            }
            old_index += 1;
        }
        repaired.push(line.clone());
    }
    let mut hunk = hunk.clone();
    hunk.lines = repaired;
    Ok((hunk, missing))
}

/// Whether the lines missing between old lines `i` and `i + 1` could also belong elsewhere in
/// a way that changes the result: added lines right at the gap (before or after the missing
/// lines?), or equal neighbouring lines that let the gap slide across added lines.
fn gap_is_ambiguous(
    wanted: &[String],
    window: &[String],
    pair: &[usize],
    i: usize,
    adds_between: &[usize],
) -> bool {
    let missing = &window[pair[0] + 1..pair[1]];
    let (Some(first), Some(last)) = (missing.first(), missing.last()) else {
        return false;
    };
    if missing.len() > 1 && (wanted[i] == *last || wanted[i + 1] == *first) {
        return true;
    }
    // A single missing line can slide over equal old lines next to it: the gap may sit after
    // any old line from `low` to `high` (`low` = -1: before the first).
    let mut low = i as isize;
    while low >= 0 && wanted[low as usize] == *last {
        low -= 1;
    }
    let mut high = i;
    while high + 1 < wanted.len() && wanted[high + 1] == *first {
        high += 1;
    }
    ((low + 1) as usize..=high + 1).any(|k| adds_between[k] > 0)
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
        let (repaired, n) = restore_missing_context(&file, &h, None).unwrap();
        assert_eq!(n, 1);
        assert_eq!(
            repaired.old_lines(),
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
        assert!(restore_missing_context(&file, &h, None).is_err());
    }

    #[test]
    fn lines_the_file_does_not_have_are_not_a_repair_case() {
        let file = lines("a = 1\nb = 2\nc = 3\nd = 4\n");
        let h = hunk("--- f\n+++ f\n@@\n a = 1\n b = 2\n-zzz\n+x = 0\n d = 4\n");
        assert!(restore_missing_context(&file, &h, None).is_err());
    }
}
