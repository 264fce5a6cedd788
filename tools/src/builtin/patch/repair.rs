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
}

/// The hunk with its missing context lines restored, and how many were restored. Every way of
/// placing the hunk's old lines as a subsequence of the region most like them (a few lines
/// missing strictly inside), and of ordering restored lines around added lines at the same
/// gap, is tried; the repair is used only if all of them produce the same file. Errors: not a
/// missing-context case (`None`), or readings that disagree (`Some(advice)`).
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
    let limit = MAX_MISSING.min(old.len() / 2);
    let embeddings = embeddings(&window, &wanted, limit).ok_or(None)?;
    let mut readings = Vec::new();
    for at in &embeddings {
        let Some(delta) = consistent_delta(lines, from, at, &old) else {
            continue;
        };
        readings.extend(readings_of(lines, hunk, from, at, delta));
        if readings.len() > MAX_READINGS {
            return Err(None);
        }
    }
    let first = readings.first().ok_or(None)?;
    let lo = readings
        .iter()
        .map(|r| r.start)
        .min()
        .unwrap_or(first.start);
    let hi = readings.iter().map(|r| r.end).max().unwrap_or(first.end);
    let expected = outcome(lines, first, lo, hi);
    if readings
        .iter()
        .all(|r| outcome(lines, r, lo, hi) == expected)
    {
        let first = readings.swap_remove(0);
        return Ok((first.hunk, first.missing));
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

/// The readings of one embedding: restored lines before or after the added lines at each gap
/// that has both.
fn readings_of(
    lines: &[String],
    hunk: &Hunk,
    from: usize,
    at: &[usize],
    delta: isize,
) -> Vec<Reading> {
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
    // Gaps (after old line i) that have added lines next to them can be read two ways.
    let choices: Vec<usize> = (0..at.len().saturating_sub(1))
        .filter(|&i| at[i + 1] - at[i] > 1 && !groups[i + 1].1.is_empty())
        .collect();
    let missing: usize = at.windows(2).map(|w| w[1] - w[0] - 1).sum();
    let mut out = Vec::new();
    for variant in 0..1usize << choices.len() {
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
            let before_adds = choices
                .iter()
                .position(|&c| c == old_index)
                .is_some_and(|bit| variant & (1 << bit) != 0);
            if before_adds {
                repaired.extend(gap);
                repaired.extend(adds.iter().map(|l| (*l).clone()));
            } else {
                repaired.extend(adds.iter().map(|l| (*l).clone()));
                repaired.extend(gap);
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
        });
    }
    out
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
