//! Prints how well `apply_patch` applies real edits perturbed the way models err.
//!
//! The edits are the hunks between two releases of a real Python project (default: the Django
//! 5.2 and 5.2.19 sdists). Each hunk is applied alone to the old file through the real tool,
//! once as is and once per perturbation: wrong indentation, trailing spaces, stale line
//! numbers, smart quotes, a missing context line. A result is "correct" when the file equals
//! the old file with exactly that hunk applied. "as written" means the tool applied the
//! perturbed hunk faithfully at the right place but the perturbation changed the hunk's meaning
//! (curly quotes inside added strings or comments; a context line dropped right next to an
//! insertion, which moves the insertion past it). "wrong" is anything else the tool reported as
//! success: a wrong place or wrong content. "refused" means the tool said no (the model would
//! get a message naming the hunk and its closest location).
//!
//! Usage: cargo bench -p agent-tools --bench edit_corpus -- [OLD_TREE NEW_TREE]
//!   pip download --no-deps --no-binary :all: django==5.2 django==5.2.19, unpack both.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agent_tools::builtin::default_registry;
use agent_tools::{LocalExecutor, PathJail, ToolContext};
use similar::{ChangeTag, TextDiff};

/// One real edit: a hunk of the diff between two versions of a file.
struct Edit {
    rel: String,
    old_text: String,
    /// 0-based start of the hunk in the old file.
    old_start: usize,
    /// (' ' | '-' | '+', line without newline)
    lines: Vec<(char, String)>,
}

impl Edit {
    fn expected(&self) -> String {
        let old: Vec<&str> = self.old_text.split_inclusive('\n').collect();
        let old_len = self.lines.iter().filter(|(t, _)| *t != '+').count();
        let mut out: String = old[..self.old_start].concat();
        for (tag, text) in &self.lines {
            if *tag != '-' {
                out.push_str(text);
                out.push('\n');
            }
        }
        out.push_str(&old[self.old_start + old_len..].concat());
        out
    }
}

fn collect_edits(old_root: &Path, new_root: &Path) -> Vec<Edit> {
    let mut edits = Vec::new();
    let mut files: Vec<PathBuf> = ignore::WalkBuilder::new(old_root)
        .build()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "py"))
        .map(|e| e.into_path())
        .collect();
    files.sort();
    for old_path in files {
        let rel = old_path.strip_prefix(old_root).unwrap();
        let Ok(new_text) = std::fs::read_to_string(new_root.join(rel)) else {
            continue;
        };
        let Ok(old_text) = std::fs::read_to_string(&old_path) else {
            continue;
        };
        // Whole-line model: files must end with a newline for the expected result to be exact.
        if old_text == new_text || !old_text.ends_with('\n') || !new_text.ends_with('\n') {
            continue;
        }
        let diff = TextDiff::from_lines(&old_text, &new_text);
        for group in diff.grouped_ops(3) {
            let old_start = group[0].old_range().start;
            let mut lines = Vec::new();
            for op in &group {
                for change in diff.iter_changes(op) {
                    let tag = match change.tag() {
                        ChangeTag::Equal => ' ',
                        ChangeTag::Delete => '-',
                        ChangeTag::Insert => '+',
                    };
                    let text = change.value().trim_end_matches('\n').to_string();
                    lines.push((tag, text));
                }
            }
            edits.push(Edit {
                rel: rel.display().to_string(),
                old_text: old_text.clone(),
                old_start,
                lines,
            });
        }
    }
    edits
}

/// A tiny deterministic generator, so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Perturbation {
    None,
    Indentation,
    TrailingSpaces,
    StaleLineNumbers,
    SmartQuotes,
    /// A context line dropped, chosen among all context lines.
    MissingContextLine,
    /// A context line dropped between two changed lines when the hunk has one (the hard case).
    MissingInteriorLine,
}

const ALL: [Perturbation; 7] = [
    Perturbation::None,
    Perturbation::Indentation,
    Perturbation::TrailingSpaces,
    Perturbation::StaleLineNumbers,
    Perturbation::SmartQuotes,
    Perturbation::MissingContextLine,
    Perturbation::MissingInteriorLine,
];

/// The patch text for `edit` with `p` applied; `None` when `p` cannot change this hunk.
fn patch_text(edit: &Edit, p: Perturbation, rng: &mut Rng) -> Option<String> {
    let mut lines = edit.lines.clone();
    let mut start = edit.old_start + 1;
    let old_count = lines.iter().filter(|(t, _)| *t != '+').count();
    let new_count = lines.iter().filter(|(t, _)| *t != '-').count();
    match p {
        Perturbation::None => {}
        Perturbation::Indentation => {
            let indent = |s: &str| s.len() - s.trim_start().len();
            let min = lines
                .iter()
                .filter(|(_, s)| !s.trim().is_empty())
                .map(|(_, s)| indent(s))
                .min()?;
            for (_, s) in lines.iter_mut() {
                if s.trim().is_empty() {
                    continue;
                }
                *s = if min >= 4 {
                    s[4..].to_string()
                } else {
                    format!("  {s}")
                };
            }
        }
        Perturbation::TrailingSpaces => {
            let mut changed = false;
            for (tag, s) in lines.iter_mut() {
                if *tag != '+' && (rng.below(2) == 0 || !changed) {
                    s.push_str(if rng.below(2) == 0 { "  " } else { " \t" });
                    changed = true;
                }
            }
            if !changed {
                return None;
            }
        }
        Perturbation::StaleLineNumbers => {
            let shift = 5 + rng.below(36);
            start = if rng.below(2) == 0 || start <= shift {
                start + shift
            } else {
                start - shift
            };
        }
        Perturbation::SmartQuotes => {
            let mut changed = false;
            for (_, s) in lines.iter_mut() {
                let before = s.clone();
                let mut out = String::new();
                let mut open_double = true;
                for c in s.chars() {
                    match c {
                        '"' => {
                            out.push(if open_double { '\u{201C}' } else { '\u{201D}' });
                            open_double = !open_double;
                        }
                        '\'' => out.push('\u{2019}'),
                        c => out.push(c),
                    }
                }
                *s = out;
                changed |= *s != before;
            }
            if !changed {
                return None;
            }
        }
        Perturbation::MissingContextLine | Perturbation::MissingInteriorLine => {
            let context: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].0 == ' ').collect();
            // Prefer a context line between two changes, the hardest case; else any.
            let interior: Vec<usize> = context
                .iter()
                .copied()
                .filter(|&i| {
                    lines[..i].iter().any(|(t, _)| *t != ' ')
                        && lines[i + 1..].iter().any(|(t, _)| *t != ' ')
                })
                .collect();
            let pool = if interior.is_empty() || p == Perturbation::MissingContextLine {
                &context
            } else {
                &interior
            };
            if pool.is_empty() {
                return None;
            }
            let victim = pool[rng.below(pool.len())];
            if victim == 0 {
                start += 1;
            }
            lines.remove(victim);
        }
    }
    let mut text = format!(
        "--- a/{rel}\n+++ b/{rel}\n@@ -{start},{old_count} +{start},{new_count} @@\n",
        rel = edit.rel
    );
    for (tag, s) in &lines {
        text.push(*tag);
        text.push_str(s);
        text.push('\n');
    }
    Some(text)
}

#[derive(Default)]
struct Tally {
    total: usize,
    correct: usize,
    as_written: usize,
    wrong: usize,
    refused: usize,
}

/// Maps typographic punctuation to ASCII (as the tool's last matching level does).
fn ascii(s: &str) -> String {
    s.replace(['\u{201C}', '\u{201D}'], "\"")
        .replace(['\u{2018}', '\u{2019}'], "'")
}

/// The old file with the perturbed hunk applied literally where its old lines are, if they
/// occur exactly once contiguously (what the patch means as written).
fn literal_result(old_text: &str, patch: &str) -> Option<String> {
    let body: Vec<&str> = patch.lines().skip(3).collect();
    let old: Vec<&str> = body
        .iter()
        .filter(|l| !l.starts_with('+'))
        .map(|l| &l[1..])
        .collect();
    let lines: Vec<&str> = old_text.lines().collect();
    let starts: Vec<usize> = (0..=lines.len().saturating_sub(old.len()))
        .filter(|&i| lines[i..].starts_with(&old))
        .collect();
    let [start] = starts.as_slice() else {
        return None;
    };
    let mut out: Vec<&str> = lines[..*start].to_vec();
    out.extend(body.iter().filter(|l| !l.starts_with('-')).map(|l| &l[1..]));
    out.extend(&lines[start + old.len()..]);
    Some(out.join("\n") + "\n")
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let (old_root, new_root) = match args.as_slice() {
        [old, new] => (PathBuf::from(old), PathBuf::from(new)),
        _ => (
            PathBuf::from("/tmp/django-hist/Django-5.2"),
            PathBuf::from("/tmp/django/django-5.2.19"),
        ),
    };
    let edits = collect_edits(&old_root, &new_root);
    println!(
        "edit corpus: {} hunks from {} -> {} (*.py)",
        edits.len(),
        old_root.display(),
        new_root.display()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let registry = default_registry();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut tallies: BTreeMap<Perturbation, Tally> = BTreeMap::new();
    let mut wrong_examples = Vec::new();
    // EDIT_CORPUS_SHOW=SmartQuotes prints refusals of that perturbation, to study them.
    let show = std::env::var("EDIT_CORPUS_SHOW").unwrap_or_default();
    let env_count = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(default)
    };
    let (show_max, wrong_max) = (
        env_count("EDIT_CORPUS_SHOW_MAX", 6),
        env_count("EDIT_CORPUS_WRONG_MAX", 5),
    );
    let mut shown = 0;
    for edit in &edits {
        let expected = edit.expected();
        for p in ALL {
            let Some(patch) = patch_text(edit, p, &mut rng) else {
                continue;
            };
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(&edit.rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &edit.old_text).unwrap();
            let ctx = ToolContext::new(
                PathJail::new(dir.path()).unwrap(),
                Arc::new(LocalExecutor::new(dir.path())),
            );
            let result = runtime.block_on(registry.call(
                &ctx,
                "apply_patch",
                serde_json::json!({ "patch": patch }),
            ));
            let after = std::fs::read_to_string(&path).unwrap_or_default();
            let tally = tallies.entry(p).or_default();
            tally.total += 1;
            match result {
                Ok(_) if after == expected => tally.correct += 1,
                Ok(_)
                    if (p == Perturbation::SmartQuotes && ascii(&after) == ascii(&expected))
                        || (matches!(
                            p,
                            Perturbation::MissingContextLine | Perturbation::MissingInteriorLine
                        ) && literal_result(&edit.old_text, &patch).as_deref()
                            == Some(after.as_str())) =>
                {
                    tally.as_written += 1
                }
                Ok(out) => {
                    tally.wrong += 1;
                    if wrong_examples.len() < wrong_max {
                        wrong_examples.push(format!("{p:?} {}:\n{patch}{}", edit.rel, out.text));
                    }
                }
                Err(err) => {
                    tally.refused += 1;
                    if format!("{p:?}") == show && shown < show_max {
                        shown += 1;
                        println!("\n--- refused {p:?} {} ---\n{patch}{err}", edit.rel);
                    }
                }
            }
        }
    }
    println!(
        "{:<22} {:>6} {:>10} {:>11} {:>10} {:>10}",
        "perturbation", "edits", "correct", "as written", "wrong", "refused"
    );
    let mut all = Tally::default();
    for (p, t) in &tallies {
        let pct = |n: usize| 100.0 * n as f64 / t.total.max(1) as f64;
        println!(
            "{:<22} {:>6} {:>9.1}% {:>10.1}% {:>9.1}% {:>9.1}%",
            format!("{p:?}"),
            t.total,
            pct(t.correct),
            pct(t.as_written),
            pct(t.wrong),
            pct(t.refused)
        );
        all.total += t.total;
        all.correct += t.correct;
        all.as_written += t.as_written;
        all.wrong += t.wrong;
        all.refused += t.refused;
    }
    // The five perturbations: all but the unperturbed control and the hard variant.
    let mut five = Tally::default();
    for (p, t) in &tallies {
        if !matches!(p, Perturbation::None | Perturbation::MissingInteriorLine) {
            five.total += t.total;
            five.correct += t.correct;
            five.as_written += t.as_written;
            five.wrong += t.wrong;
            five.refused += t.refused;
        }
    }
    let pct5 = |n: usize| 100.0 * n as f64 / five.total.max(1) as f64;
    println!(
        "{:<22} {:>6} {:>9.1}% {:>10.1}% {:>9.1}% {:>9.1}%",
        "the five (issue)",
        five.total,
        pct5(five.correct),
        pct5(five.as_written),
        pct5(five.wrong),
        pct5(five.refused)
    );
    let pct = |n: usize| 100.0 * n as f64 / all.total.max(1) as f64;
    println!(
        "{:<22} {:>6} {:>9.1}% {:>10.1}% {:>9.1}% {:>9.1}%",
        "all seven",
        all.total,
        pct(all.correct),
        pct(all.as_written),
        pct(all.wrong),
        pct(all.refused)
    );
    for example in wrong_examples {
        println!("\n--- wrong result example ---\n{example}");
    }
}
