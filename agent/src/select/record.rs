//! The selection in words: its reasons as it decides, and how it is shown on the terminal and
//! in a pull request's body.

use super::vote::VoteOutcome;
use super::{JudgeRecord, Selection, Standing};

/// "attempt 2", "attempts 1 and 3", "attempts 1, 2 and 3".
fn attempts(numbers: &[usize]) -> String {
    let names: Vec<String> = numbers.iter().map(usize::to_string).collect();
    match names.as_slice() {
        [] => "no attempt".into(),
        [one] => format!("attempt {one}"),
        [init @ .., last] => format!("attempts {} and {last}", init.join(", ")),
    }
}

pub(super) fn explain_standings(selection: &mut Selection) {
    for c in &selection.candidates {
        let why = match &c.standing {
            Standing::Eligible => continue,
            Standing::Empty => format!("its diff is empty (it ended with {})", c.exit_reason),
            Standing::DoesNotApply { error } => {
                format!("its diff does not apply to a clean checkout ({error})")
            }
            Standing::NoCheckout { error } => format!("it could not be checked out ({error})"),
        };
        selection
            .reasons
            .push(format!("attempt {} is out: {why}", c.attempt));
    }
}

pub(super) fn explain_ranking(selection: &mut Selection, outcome: &VoteOutcome, eligible: usize) {
    let total = selection.commands.len();
    if eligible == 1 {
        selection.reasons.push(format!(
            "{} is the only candidate whose diff applies",
            attempts(&outcome.best)
        ));
        return;
    }
    if total == 0 {
        selection.reasons.push(
            "no check to run: no attempt recorded a reproduction and no existing test is near the changed code"
                .into(),
        );
    } else {
        let others: Vec<String> = selection
            .candidates
            .iter()
            .filter(|c| c.standing == Standing::Eligible && !outcome.best.contains(&c.attempt))
            .map(|c| format!("attempt {} passed {}", c.attempt, c.passed))
            .collect();
        let rest = if others.is_empty() {
            String::new()
        } else {
            format!("; {}", others.join(", "))
        };
        selection.reasons.push(format!(
            "{} passed the most checks ({} of {total}){rest}",
            attempts(&outcome.best),
            outcome.best_passed
        ));
    }
    if outcome.best.len() == 1 {
        return;
    }
    let sizes: Vec<String> = outcome
        .groups
        .iter()
        .map(|g| format!("{} ({} vote{})", attempts(g), g.len(), plural(g.len())))
        .collect();
    match outcome.winner {
        Some(winner) => selection.reasons.push(format!(
            "among them, equivalent changes vote: {}; attempt {winner} stands for the largest group",
            sizes.join(" against ")
        )),
        None => selection.reasons.push(format!(
            "the vote is tied: {}; the judge compares them",
            sizes.join(", ")
        )),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub(super) fn explain_judge(selection: &mut Selection, verdict: &JudgeRecord) {
    let sentence = match (&verdict.fallback, &verdict.reason) {
        (Some(fallback), _) => format!("the judge's answer was not used: {fallback}"),
        (None, Some(reason)) => format!("the judge chose attempt {}: {reason}", verdict.choice),
        (None, None) => format!("the judge chose attempt {}", verdict.choice),
    };
    selection.reasons.push(sentence);
}

impl Selection {
    /// A few lines for the terminal: the choice, each attempt's standing, the checks, the
    /// reasons.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut lines = vec![match self.chosen {
            Some(n) => format!(
                "selection: attempt {n} of {} chosen ({}), {:.1}s",
                self.candidates.len(),
                self.decided_by.replace('_', " "),
                self.duration_ms as f64 / 1000.0
            ),
            None => format!(
                "selection: none of the {} attempts left a diff that applies",
                self.candidates.len()
            ),
        }];
        for c in &self.candidates {
            lines.push(format!(
                "  attempt {}: {}",
                c.attempt,
                self.standing_text(c)
            ));
        }
        for (i, command) in self.commands.iter().enumerate() {
            lines.push(format!(
                "  check {}: `{}` ({})",
                i + 1,
                one_line(&command.display),
                command.origin
            ));
        }
        lines.extend(self.reasons.iter().map(|r| format!("  - {r}")));
        lines
    }

    fn standing_text(&self, c: &super::Candidate) -> String {
        match &c.standing {
            Standing::Eligible => {
                let marks: String = c
                    .cells
                    .iter()
                    .map(|cell| if cell.passed { '✓' } else { '✗' })
                    .collect();
                format!(
                    "{}, {} changed lines, passed {} of {} checks{}{}",
                    c.exit_reason,
                    c.changed_lines,
                    c.passed,
                    self.commands.len(),
                    if marks.is_empty() {
                        String::new()
                    } else {
                        format!(" [{marks}]")
                    },
                    if c.votes > 0 {
                        format!(", {} vote{}", c.votes, plural(c.votes))
                    } else {
                        String::new()
                    }
                )
            }
            Standing::Empty => format!("out: empty diff ({})", c.exit_reason),
            Standing::DoesNotApply { .. } => "out: the diff does not apply".into(),
            Standing::NoCheckout { .. } => "out: no clean checkout".into(),
        }
    }

    /// The selection in Markdown, for a pull request's body (without a heading).
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "{} attempts were made; {}.\n\n| attempt | result | checks passed | votes |\n|---|---|---|---|\n",
            self.candidates.len(),
            match self.chosen {
                Some(n) => format!(
                    "**attempt {n}** was chosen ({})",
                    self.decided_by.replace('_', " ")
                ),
                None => "none was chosen".into(),
            }
        );
        for c in &self.candidates {
            let (result, checks, votes) = match &c.standing {
                Standing::Eligible => (
                    format!("{}, {} changed lines", c.exit_reason, c.changed_lines),
                    format!("{} of {}", c.passed, self.commands.len()),
                    if c.votes > 0 {
                        c.votes.to_string()
                    } else {
                        "-".into()
                    },
                ),
                _ => (
                    self.standing_text(c).replace('|', "\\|"),
                    "-".into(),
                    "-".into(),
                ),
            };
            out.push_str(&format!(
                "| {} | {result} | {checks} | {votes} |\n",
                c.attempt
            ));
        }
        if !self.commands.is_empty() {
            out.push_str("\nChecks run against every candidate, each in a fresh sandbox:\n");
            for (i, command) in self.commands.iter().enumerate() {
                out.push_str(&format!(
                    "{}. `{}` ({})\n",
                    i + 1,
                    one_line(&command.display).replace('`', "'"),
                    command.origin
                ));
            }
        }
        out.push_str("\nWhy:\n");
        for reason in &self.reasons {
            out.push_str(&format!("- {}\n", one_line(reason)));
        }
        out
    }
}

fn one_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 160 {
        let cut: String = flat.chars().take(159).collect();
        format!("{cut}…")
    } else {
        flat
    }
}
