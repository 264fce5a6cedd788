//! Graded line matching for the edit tools: find a block of lines in a file exactly, then
//! ignoring trailing whitespace, then ignoring indentation (keeping relative indentation), then
//! after normalising Unicode punctuation. Also: the closest region when nothing matches.

use std::collections::HashSet;

use similar::TextDiff;

/// How loosely a block matched, from strictest to loosest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Exact,
    TrailingWhitespace,
    Indentation,
    Punctuation,
}

impl Level {
    pub const ALL: [Level; 4] = [
        Level::Exact,
        Level::TrailingWhitespace,
        Level::Indentation,
        Level::Punctuation,
    ];

    /// A note for the model when the match was not exact.
    pub fn note(self) -> Option<&'static str> {
        match self {
            Level::Exact => None,
            Level::TrailingWhitespace => Some("matched after ignoring trailing whitespace"),
            Level::Indentation => Some("matched after ignoring indentation (re-indented to fit)"),
            Level::Punctuation => Some(
                "matched after normalising quotes, dashes and non-breaking spaces (and indentation)",
            ),
        }
    }
}

/// Indentation style of the matched region, to re-indent inserted lines the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shift {
    /// Columns added to the needle's indentation to get the file's.
    pub delta: isize,
    pub tabs: bool,
    pub tab_width: usize,
}

/// A place where the needle matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    pub start: usize,
    pub level: Level,
    /// `Some` at the indentation and punctuation levels: inserted lines get re-indented.
    pub shift: Option<Shift>,
}

fn leading_ws(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

fn indent_width(line: &str, tab_width: usize) -> usize {
    leading_ws(line)
        .chars()
        .map(|c| if c == '\t' { tab_width } else { 1 })
        .sum()
}

/// Maps typographic punctuation and exotic spaces to ASCII.
pub(crate) fn normalize_punctuation(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{00B4}' => {
                out.push('\'')
            }
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' | '\u{00AB}'
            | '\u{00BB}' => out.push('"'),
            '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
            | '\u{2212}' => out.push('-'),
            '\u{00A0}' | '\u{2002}' | '\u{2003}' | '\u{2004}' | '\u{2005}' | '\u{2006}'
            | '\u{2007}' | '\u{2008}' | '\u{2009}' | '\u{200A}' | '\u{202F}' | '\u{205F}'
            | '\u{3000}' => out.push(' '),
            '\u{2026}' => out.push_str("..."),
            '\u{200B}' | '\u{FEFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// The typographic characters of `lines` that [`normalize_punctuation`] would change.
pub(crate) fn fancy_chars<S: AsRef<str>>(lines: &[S]) -> HashSet<char> {
    lines
        .iter()
        .flat_map(|l| l.as_ref().chars())
        .filter(|&c| {
            !c.is_ascii() && normalize_punctuation(c.encode_utf8(&mut [0; 4])) != c.to_string()
        })
        .collect()
}

/// The characters to turn into ASCII in the lines an edit adds, after its old text matched
/// only at the punctuation level: every character of a class (quotes, dashes, spaces,
/// ellipsis) that the model mistyped in the old text, except those the file region itself
/// uses. A model that typed curly single quotes for ASCII ones types curly double quotes too.
pub(crate) fn mistyped_chars<S: AsRef<str>, T: AsRef<str>>(
    old: &[S],
    region: &[T],
) -> HashSet<char> {
    let in_file = fancy_chars(region);
    let typed = fancy_chars(old);
    let mut out = HashSet::new();
    for class in PUNCTUATION_CLASSES {
        if class
            .chars()
            .any(|c| typed.contains(&c) && !in_file.contains(&c))
        {
            out.extend(class.chars().filter(|c| !in_file.contains(c)));
        }
    }
    out
}

/// Typographic characters by kind, for [`mistyped_chars`].
const PUNCTUATION_CLASSES: [&str; 4] = [
    "\u{2018}\u{2019}\u{201A}\u{201B}\u{2032}\u{00B4}\u{201C}\u{201D}\u{201E}\u{201F}\u{2033}\u{00AB}\u{00BB}",
    "\u{2010}\u{2011}\u{2012}\u{2013}\u{2014}\u{2015}\u{2212}",
    "\u{00A0}\u{2002}\u{2003}\u{2004}\u{2005}\u{2006}\u{2007}\u{2008}\u{2009}\u{200A}\u{202F}\u{205F}\u{3000}\u{200B}\u{FEFF}",
    "\u{2026}",
];

/// [`normalize_punctuation`] restricted to `chars`.
pub(crate) fn normalize_chars(s: &str, chars: &HashSet<char>) -> String {
    if chars.is_empty() || !s.chars().any(|c| chars.contains(&c)) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if chars.contains(&c) {
            out.push_str(&normalize_punctuation(c.encode_utf8(&mut [0; 4])));
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `s` contains characters [`normalize_punctuation`] would change.
pub(crate) fn has_fancy_punctuation(s: &str) -> bool {
    normalize_punctuation(s) != s
}

/// The key a line is compared by at `level` (indentation is checked separately).
fn key(line: &str, level: Level) -> String {
    match level {
        Level::Exact => line.to_string(),
        Level::TrailingWhitespace => line.trim_end().to_string(),
        Level::Indentation => line.trim().to_string(),
        Level::Punctuation => normalize_punctuation(line).trim().to_string(),
    }
}

/// Lines of a file, with their per-level keys computed once.
pub(crate) struct Haystack<'a> {
    lines: &'a [String],
    keys: [Vec<String>; 4],
}

impl<'a> Haystack<'a> {
    pub fn new(lines: &'a [String]) -> Self {
        let keys = Level::ALL.map(|level| lines.iter().map(|l| key(l, level)).collect());
        Self { lines, keys }
    }

    /// Every start where `needle` matches at `level`.
    pub fn find_at_level<S: AsRef<str>>(&self, needle: &[S], level: Level) -> Vec<Found> {
        let m = needle.len();
        let n = self.lines.len();
        if m == 0 || m > n {
            return Vec::new();
        }
        let needle_keys: Vec<String> = needle.iter().map(|l| key(l.as_ref(), level)).collect();
        let keys = &self.keys[level as usize];
        let mut out = Vec::new();
        for start in 0..=n - m {
            if keys[start..start + m] != needle_keys[..] {
                continue;
            }
            let shift = match level {
                Level::Exact | Level::TrailingWhitespace => None,
                Level::Indentation | Level::Punctuation => {
                    match self.relative_indent(start, needle) {
                        Some(shift) => Some(shift),
                        None => continue,
                    }
                }
            };
            out.push(Found {
                start,
                level,
                shift,
            });
        }
        out
    }

    /// All matches at the strictest level that has any.
    pub fn find_graded<S: AsRef<str>>(&self, needle: &[S]) -> Vec<Found> {
        for level in Level::ALL {
            let found = self.find_at_level(needle, level);
            if !found.is_empty() {
                return found;
            }
        }
        Vec::new()
    }

    /// The constant indentation shift between the needle and the file at `start`, if every
    /// non-blank line is shifted by the same number of columns (tabs counted as 4, then 8).
    fn relative_indent<S: AsRef<str>>(&self, start: usize, needle: &[S]) -> Option<Shift> {
        let region = &self.lines[start..start + needle.len()];
        let tabs = region
            .iter()
            .any(|l| !l.trim().is_empty() && leading_ws(l).starts_with('\t'));
        'widths: for tab_width in [4usize, 8] {
            let mut delta = None;
            for (file_line, needle_line) in region.iter().zip(needle) {
                let needle_line = needle_line.as_ref();
                if file_line.trim().is_empty() || needle_line.trim().is_empty() {
                    continue;
                }
                let d = indent_width(file_line, tab_width) as isize
                    - indent_width(needle_line, tab_width) as isize;
                match delta {
                    None => delta = Some(d),
                    Some(prev) if prev == d => {}
                    Some(_) => continue 'widths,
                }
            }
            return Some(Shift {
                delta: delta.unwrap_or(0),
                tabs,
                tab_width,
            });
        }
        None
    }
}

/// Re-indents a line written against the needle's indentation into the file's style.
pub(crate) fn reindent(line: &str, shift: Shift) -> String {
    if line.trim().is_empty() {
        return line.trim_end_matches([' ', '\t']).to_string();
    }
    let width = indent_width(line, shift.tab_width) as isize + shift.delta;
    let width = width.max(0) as usize;
    let indent = if shift.tabs {
        format!(
            "{}{}",
            "\t".repeat(width / shift.tab_width),
            " ".repeat(width % shift.tab_width)
        )
    } else {
        " ".repeat(width)
    };
    format!("{indent}{}", line.trim_start())
}

/// The region of the file most similar to the needle (same number of lines).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Closest {
    pub start: usize,
    pub len: usize,
    /// 0.0-1.0, character-level.
    pub similarity: f32,
}

fn tokens(line: &str) -> HashSet<&str> {
    line.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|t| !t.is_empty())
        .collect()
}

/// Finds the window of the file most like `needle`: a cheap token-overlap pass ranks all
/// windows, then a character diff scores the best few.
pub(crate) fn closest_region<S: AsRef<str>>(lines: &[String], needle: &[S]) -> Option<Closest> {
    let m = needle.len().max(1).min(lines.len());
    if lines.is_empty() {
        return None;
    }
    let line_tokens: Vec<HashSet<&str>> = lines.iter().map(|l| tokens(l)).collect();
    let needle_tokens: Vec<HashSet<&str>> = needle.iter().map(|l| tokens(l.as_ref())).collect();
    let mut scored: Vec<(usize, f32)> = (0..=lines.len() - m)
        .map(|start| {
            let score: f32 = needle_tokens
                .iter()
                .zip(&line_tokens[start..start + m])
                .map(|(a, b)| {
                    let union = a.union(b).count();
                    if union == 0 {
                        1.0
                    } else {
                        a.intersection(b).count() as f32 / union as f32
                    }
                })
                .sum();
            (start, score)
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let needle_text = join(needle);
    scored
        .into_iter()
        .take(8)
        .map(|(start, _)| {
            let window = join(&lines[start..start + m]);
            let similarity = TextDiff::from_chars(window.as_str(), needle_text.as_str()).ratio();
            Closest {
                start,
                len: m,
                similarity,
            }
        })
        .max_by(|a, b| {
            a.similarity
                .total_cmp(&b.similarity)
                .then(b.start.cmp(&a.start))
        })
}

/// Like [`closest_region`], but a region within a few lines of `hint` (where a patch header
/// points) wins unless another is clearly more similar.
pub(crate) fn closest_region_near<S: AsRef<str>>(
    lines: &[String],
    needle: &[S],
    hint: Option<usize>,
) -> Option<Closest> {
    let best = closest_region(lines, needle)?;
    let Some(hint) = hint else {
        return Some(best);
    };
    let m = best.len;
    let needle_text = join(needle);
    let near = (hint.saturating_sub(3)..=hint + 3)
        .filter(|&start| start + m <= lines.len())
        .map(|start| {
            let window = join(&lines[start..start + m]);
            Closest {
                start,
                len: m,
                similarity: TextDiff::from_chars(window.as_str(), needle_text.as_str()).ratio(),
            }
        })
        .max_by(|a, b| a.similarity.total_cmp(&b.similarity));
    match near {
        Some(near) if near.similarity + 0.15 >= best.similarity => Some(near),
        _ => Some(best),
    }
}

fn join<S: AsRef<str>>(lines: &[S]) -> String {
    let mut out = String::new();
    for line in lines {
        out.push_str(line.as_ref());
        out.push('\n');
    }
    out
}

/// The first line where the file (from `start`) and the needle differ: (needle index, file line,
/// needle line), plus what kind of difference it is.
pub(crate) fn first_difference<S: AsRef<str>>(
    lines: &[String],
    start: usize,
    needle: &[S],
) -> Option<(usize, String, String, &'static str)> {
    for (i, want) in needle.iter().enumerate() {
        let want = want.as_ref();
        let have = lines.get(start + i).map(String::as_str).unwrap_or("");
        if have != want {
            let kind = if have.trim_end() == want.trim_end() {
                "trailing whitespace differs"
            } else if have.trim() == want.trim() {
                "indentation differs"
            } else if normalize_punctuation(have).trim() == normalize_punctuation(want).trim() {
                "quotes/dashes/spaces differ"
            } else {
                "text differs"
            };
            return Some((i, have.to_string(), want.to_string(), kind));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(str::to_string).collect()
    }

    #[test]
    fn levels_are_tried_strictest_first() {
        let file = lines("def f():\n    x = 1  \n    return x\n");
        let hay = Haystack::new(&file);
        assert_eq!(hay.find_graded(&["    return x"])[0].level, Level::Exact);
        assert_eq!(
            hay.find_graded(&["    x = 1", "    return x"])[0].level,
            Level::TrailingWhitespace
        );
        let found = hay.find_graded(&["x = 1", "return x"]);
        assert_eq!(found[0].level, Level::Indentation);
        assert_eq!(found[0].shift.map(|s| s.delta), Some(4));
    }

    #[test]
    fn relative_indentation_must_be_preserved() {
        let file = lines("if a:\n    b()\n");
        let hay = Haystack::new(&file);
        // Same text, but the needle flattens the nesting: not a match.
        assert!(hay.find_graded(&["if a:", "b()"]).is_empty());
        assert_eq!(
            hay.find_graded(&["  if a:", "      b()"])[0].level,
            Level::Indentation
        );
    }

    #[test]
    fn smart_quotes_and_dashes_match_at_the_last_level() {
        let file = lines("msg = \"it's a test -- ok\"\n");
        let hay = Haystack::new(&file);
        let found = hay.find_graded(&["msg = \u{201C}it\u{2019}s a test -- ok\u{201D}"]);
        assert_eq!(found[0].level, Level::Punctuation);
    }

    #[test]
    fn reindent_converts_to_the_file_style() {
        let shift = Shift {
            delta: 4,
            tabs: true,
            tab_width: 4,
        };
        assert_eq!(reindent("    x()", shift), "\t\tx()");
        let shift = Shift {
            delta: -2,
            tabs: false,
            tab_width: 4,
        };
        assert_eq!(reindent("    x()", shift), "  x()");
        assert_eq!(reindent(" x()", shift), "x()");
    }

    #[test]
    fn closest_region_and_first_difference() {
        let file: Vec<String> = (0..200)
            .map(|i| format!("value_{i} = compute({i})"))
            .collect();
        let needle = ["value_120 = compute(120)", "value_121 = compute(999)"];
        let closest = closest_region(&file, &needle).unwrap();
        assert_eq!(closest.start, 120);
        let (i, have, _, kind) = first_difference(&file, closest.start, &needle).unwrap();
        assert_eq!(
            (i, have.as_str(), kind),
            (1, "value_121 = compute(121)", "text differs")
        );
    }
}
