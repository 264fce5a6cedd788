//! The bars of the bench commands, drawn through the [`Printer`]: `bench run` (done/total, ETA,
//! money spent, submitted patches) and `bench eval` / `bench validate` (done/total, ETA, and
//! the counts of resolved, unresolved and errored instances).

use std::sync::Mutex;

use indicatif::ProgressBar;

use agent_harness::evaluate::{EvalEvent, Verdict};

use crate::printer::Printer;

/// The bar of `agent bench run`.
pub struct BatchProgress {
    bar: ProgressBar,
    /// (cost so far, submitted so far), earlier runs included.
    state: Mutex<(f64, usize)>,
}

impl BatchProgress {
    /// `total` pairs to run now; `cost_so_far` and `submitted_so_far` from earlier runs.
    pub fn new(printer: &Printer, total: usize, cost_so_far: f64, submitted_so_far: usize) -> Self {
        let bar = printer.bar(
            total as u64,
            "run [{elapsed_precise}] {bar:30} {pos}/{len} (eta {eta}) {msg}",
        );
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

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub resolved: usize,
    pub unresolved: usize,
    pub errors: usize,
}

/// The bar of `agent bench eval` and `agent bench validate`, fed by the evaluation's events.
pub struct EvalProgress {
    bar: ProgressBar,
    counts: Mutex<Counts>,
    /// Words for the two outcomes (`✓`/`✖` for eval; `match`/`differ` for validate).
    labels: (&'static str, &'static str),
}

impl EvalProgress {
    pub fn new(printer: &Printer, title: &str, labels: (&'static str, &'static str)) -> Self {
        let bar = printer.bar(
            0,
            "{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} (eta {eta}) {msg}",
        );
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

#[cfg(test)]
mod tests {
    use super::*;
    use agent_harness::evaluate::InstanceOutcome;

    #[test]
    fn counts_follow_verdicts() {
        let progress = EvalProgress::new(&Printer::quiet(), "eval", ("✓", "✖"));
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
        assert_eq!(progress.bar.length(), Some(3));
        progress.finish();
    }

    #[test]
    fn batch_totals_add_up() {
        let progress = BatchProgress::new(&Printer::quiet(), 3, 1.5, 2);
        progress.finished(0.25, true);
        progress.finished(0.5, false);
        let (cost, submitted) = progress.totals();
        assert!((cost - 2.25).abs() < 1e-12);
        assert_eq!(submitted, 3);
        assert_eq!(progress.bar.position(), 2);
        progress.finish();
    }
}
