//! Repairing a hunk whose context lost a line or two, a common model mistake: its old lines
//! are then no longer contiguous in the file. If they form a subsequence of the region most
//! like them, with a few file lines missing strictly inside, the missing lines are put back as
//! context and the hunk is matched again as usual (so line-number and uniqueness checks still
//! apply).

use similar::{Algorithm, DiffOp, capture_diff_slices};

use super::super::matching::{Shift, closest_region, normalize_punctuation, reindent};
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

/// The hunk with its missing context lines restored, and how many were restored; `None` when
/// the hunk cannot be repaired safely (including when a restored line would sit next to added
/// lines with no way to tell on which side).
pub(crate) fn restore_missing_context(lines: &[String], hunk: &Hunk) -> Option<(Hunk, usize)> {
    let old = hunk.old_lines();
    if old.len() < 3 {
        return None;
    }
    let closest = closest_region(lines, &old)?;
    if closest.similarity < MIN_SIMILARITY {
        return None;
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
            DiffOp::Insert { .. } | DiffOp::Replace { .. } => return None,
        }
    }
    let at: Vec<usize> = at.into_iter().collect::<Option<Vec<_>>>()?;
    let missing: usize = at.windows(2).map(|w| w[1] - w[0] - 1).sum();
    if missing == 0 || missing > MAX_MISSING || missing * 2 > old.len() {
        return None;
    }
    // Re-indent restored lines into the hunk's indentation (the file may be shifted from it).
    let delta = consistent_delta(lines, from, &at, &old)?;
    let patch_tabs = old.iter().any(|l| l.starts_with('\t'));
    let shift = Shift {
        delta: -delta,
        tabs: patch_tabs,
        tab_width: 4,
    };
    let mut repaired = Vec::with_capacity(hunk.lines.len() + missing);
    let mut old_index = 0;
    let mut pending: Vec<String> = Vec::new();
    let mut previous_old: Option<&HunkLine> = None;
    for line in &hunk.lines {
        match line {
            HunkLine::Add(_) => {
                if !pending.is_empty() && !matches!(previous_old, Some(HunkLine::Remove(_))) {
                    // Added lines after context, with a gap: before or after the gap? Unknown.
                    return None;
                }
                repaired.push(line.clone());
            }
            HunkLine::Context(_) | HunkLine::Remove(_) => {
                repaired.extend(pending.drain(..).map(HunkLine::Context));
                repaired.push(line.clone());
                if let Some(&here) = at.get(old_index)
                    && let Some(&next) = at.get(old_index + 1)
                {
                    pending = (here + 1..next)
                        .map(|w| {
                            let file_line = &lines[from + w];
                            if delta == 0 {
                                file_line.clone()
                            } else {
                                reindent(file_line, shift)
                            }
                        })
                        .collect();
                }
                previous_old = Some(line);
                old_index += 1;
            }
        }
    }
    let mut hunk = hunk.clone();
    hunk.lines = repaired;
    Some((hunk, missing))
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
        let (repaired, n) = restore_missing_context(&file, &h).unwrap();
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
        assert!(restore_missing_context(&file, &h).is_none());
    }

    #[test]
    fn lines_the_file_does_not_have_are_not_a_repair_case() {
        let file = lines("a = 1\nb = 2\nc = 3\nd = 4\n");
        let h = hunk("--- f\n+++ f\n@@\n a = 1\n b = 2\n-zzz\n+x = 0\n d = 4\n");
        assert!(restore_missing_context(&file, &h).is_none());
    }
}
