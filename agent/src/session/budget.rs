//! Budgets: steps, cost and wall time. Each warns once at 80% and stops the run at 100%.

use std::time::{Duration, Instant};

pub const WARN_FRACTION: f64 = 0.8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetKind {
    Steps,
    Cost,
    Time,
}

impl BudgetKind {
    pub fn name(self) -> &'static str {
        match self {
            BudgetKind::Steps => "step",
            BudgetKind::Cost => "cost",
            BudgetKind::Time => "time",
        }
    }
}

/// Where one budget stands, for the wrap-up prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetStatus {
    pub kind: BudgetKind,
    pub fraction: f64,
    pub used: String,
    pub limit: String,
}

#[derive(Debug)]
pub struct Budget {
    max_steps: u32,
    cost_limit: Option<f64>,
    time_limit: Option<Duration>,
    started: Instant,
    warned: Vec<BudgetKind>,
}

impl Budget {
    pub fn new(max_steps: u32, cost_limit: Option<f64>, time_limit: Option<Duration>) -> Self {
        Self {
            max_steps,
            cost_limit,
            time_limit,
            started: Instant::now(),
            warned: Vec::new(),
        }
    }

    pub fn max_steps(&self) -> u32 {
        self.max_steps
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Time left before the time limit, if there is one.
    pub fn time_left(&self) -> Option<Duration> {
        self.time_limit
            .map(|l| l.saturating_sub(self.started.elapsed()))
    }

    fn statuses(&self, steps: u32, cost: Option<f64>) -> Vec<BudgetStatus> {
        let mut out = vec![BudgetStatus {
            kind: BudgetKind::Steps,
            fraction: f64::from(steps) / f64::from(self.max_steps.max(1)),
            used: steps.to_string(),
            limit: self.max_steps.to_string(),
        }];
        if let (Some(limit), Some(cost)) = (self.cost_limit, cost) {
            out.push(BudgetStatus {
                kind: BudgetKind::Cost,
                fraction: cost / limit,
                used: format!("${cost:.4}"),
                limit: format!("${limit:.4}"),
            });
        }
        if let Some(limit) = self.time_limit {
            let elapsed = self.started.elapsed();
            out.push(BudgetStatus {
                kind: BudgetKind::Time,
                fraction: elapsed.as_secs_f64() / limit.as_secs_f64().max(1e-9),
                used: format!("{}s", elapsed.as_secs()),
                limit: format!("{}s", limit.as_secs()),
            });
        }
        out
    }

    /// The first exhausted budget, if any.
    pub fn exhausted(&self, steps: u32, cost: Option<f64>) -> Option<BudgetKind> {
        self.statuses(steps, cost)
            .into_iter()
            .find(|s| s.fraction >= 1.0)
            .map(|s| s.kind)
    }

    /// Budgets that just crossed 80%; each is reported once.
    pub fn newly_warned(&mut self, steps: u32, cost: Option<f64>) -> Vec<BudgetStatus> {
        let crossed: Vec<BudgetStatus> = self
            .statuses(steps, cost)
            .into_iter()
            .filter(|s| {
                s.fraction >= WARN_FRACTION && s.fraction < 1.0 && !self.warned.contains(&s.kind)
            })
            .collect();
        self.warned.extend(crossed.iter().map(|s| s.kind));
        crossed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_warn_once_at_80_percent_and_stop_at_100() {
        let mut b = Budget::new(10, None, None);
        assert!(b.newly_warned(7, None).is_empty());
        let w = b.newly_warned(8, None);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].kind, BudgetKind::Steps);
        assert!(b.newly_warned(9, None).is_empty());
        assert_eq!(b.exhausted(9, None), None);
        assert_eq!(b.exhausted(10, None), Some(BudgetKind::Steps));
    }

    #[test]
    fn cost_budget_needs_a_known_cost() {
        let mut b = Budget::new(100, Some(1.0), None);
        assert_eq!(b.exhausted(1, None), None);
        assert_eq!(b.newly_warned(1, Some(0.85))[0].kind, BudgetKind::Cost);
        assert_eq!(b.exhausted(1, Some(1.0)), Some(BudgetKind::Cost));
    }
}
