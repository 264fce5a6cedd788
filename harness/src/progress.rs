//! A progress bar for `bench eval` / `bench validate`: done/total, ETA, and the counts of
//! resolved, unresolved and errored instances (drawn on stderr, hidden when it is not a
//! terminal).

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

use crate::evaluate::{EvalEvent, Verdict};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub resolved: usize,
    pub unresolved: usize,
    pub errors: usize,
}

pub struct EvalProgress {
    bar: ProgressBar,
    counts: Mutex<Counts>,
    /// Words for the two outcomes (`✓`/`✖` for eval; `ok`/`differs` for validate).
    labels: (&'static str, &'static str),
}

impl EvalProgress {
    pub fn new(title: &str, labels: (&'static str, &'static str)) -> Self {
        let bar = ProgressBar::new(0);
        let style = ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} (eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(title.to_string());
        Self {
            bar,
            counts: Mutex::new(Counts::default()),
            labels,
        }
    }

    pub fn counts(&self) -> Counts {
        *self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Feed one event.
    pub fn on_event(&self, event: &EvalEvent) {
        match event {
            EvalEvent::Planned { to_run, .. } => self.bar.set_length(*to_run as u64),
            EvalEvent::PreparingEnvironment(what) => {
                self.bar.set_message(format!("environment for {what}"));
            }
            EvalEvent::Started(_) => {}
            EvalEvent::Finished(outcome) => {
                let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
                match &outcome.verdict {
                    Verdict::Resolved | Verdict::AlreadyDone { resolved: true } => {
                        counts.resolved += 1;
                    }
                    Verdict::Unresolved | Verdict::AlreadyDone { resolved: false } => {
                        counts.unresolved += 1;
                    }
                    Verdict::Error(_) => counts.errors += 1,
                }
                self.bar.set_message(format!(
                    "{} {}  {} {}  error {}",
                    self.labels.0, counts.resolved, self.labels.1, counts.unresolved, counts.errors
                ));
                self.bar.inc(1);
            }
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The bar of `agent bench run`: done/total with ETA, money spent so far and the number of
/// instances that ended with a submitted (non-empty) patch.
pub struct BatchProgress {
    bar: ProgressBar,
    state: Mutex<(f64, usize)>,
}

impl BatchProgress {
    /// `total` pairs to run now; `cost_so_far` and `submitted_so_far` from earlier runs.
    pub fn new(total: usize, cost_so_far: f64, submitted_so_far: usize) -> Self {
        let bar = ProgressBar::new(total as u64);
        let style = ProgressStyle::with_template(
            "run [{elapsed_precise}] {bar:30} {pos}/{len} (eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        let progress = Self {
            bar,
            state: Mutex::new((cost_so_far, submitted_so_far)),
        };
        progress.redraw();
        progress
    }

    /// One instance finished: what it cost and whether it produced a patch.
    pub fn finished(&self, cost_usd: f64, submitted: bool) {
        {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.0 += cost_usd;
            state.1 += usize::from(submitted);
        }
        self.redraw();
        self.bar.inc(1);
    }

    /// (cost so far, submitted so far).
    pub fn totals(&self) -> (f64, usize) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn redraw(&self) {
        let (cost, submitted) = self.totals();
        self.bar
            .set_message(format!("${cost:.2} spent, {submitted} submitted"));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::InstanceOutcome;

    #[test]
    fn counts_follow_verdicts() {
        let progress = EvalProgress::new("eval", ("✓", "✖"));
        progress.on_event(&EvalEvent::Planned {
            to_run: 3,
            already_done: 0,
            empty_patches: 0,
        });
        for verdict in [
            Verdict::Resolved,
            Verdict::Unresolved,
            Verdict::Error("x".into()),
        ] {
            progress.on_event(&EvalEvent::Finished(InstanceOutcome {
                instance_id: "i".into(),
                verdict,
                timings: Default::default(),
            }));
        }
        assert_eq!(
            progress.counts(),
            Counts {
                resolved: 1,
                unresolved: 1,
                errors: 1
            }
        );
        assert_eq!(progress.bar.position(), 3);
        progress.finish();
    }

    #[test]
    fn batch_totals_add_up() {
        let progress = BatchProgress::new(3, 1.5, 2);
        progress.finished(0.25, true);
        progress.finished(0.5, false);
        let (cost, submitted) = progress.totals();
        assert!((cost - 2.25).abs() < 1e-12);
        assert_eq!(submitted, 3);
        assert_eq!(progress.bar.position(), 2);
        progress.finish();
    }
}
