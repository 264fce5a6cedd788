//! Detects the same action giving the same result again and again.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

pub const REPEAT_THRESHOLD: u32 = 3;

/// What the session does about a repeated (action, result) pair, by how often it was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escalation {
    None,
    /// A notice naming the repeated call.
    Notice,
    /// The next reply must be a new plan, with no tool call.
    Replan,
    /// The run ends, marked stuck.
    Stuck,
}

pub fn escalation(count: u32) -> Escalation {
    match count {
        c if c < REPEAT_THRESHOLD => Escalation::None,
        c if c == REPEAT_THRESHOLD => Escalation::Notice,
        c if c == REPEAT_THRESHOLD + 1 => Escalation::Replan,
        _ => Escalation::Stuck,
    }
}

#[derive(Debug, Default)]
pub struct RepetitionDetector {
    seen: HashMap<u64, u32>,
}

impl RepetitionDetector {
    /// Records an (action, result) pair and returns how many times it has now been seen.
    /// Arguments are compared as parsed JSON when possible, so key order and spacing don't matter.
    pub fn record(&mut self, tool: &str, arguments: &str, observation: &str) -> u32 {
        let canonical = serde_json::from_str::<serde_json::Value>(arguments)
            .map(|v| v.to_string())
            .unwrap_or_else(|_| arguments.trim().to_string());
        let mut h = DefaultHasher::new();
        tool.hash(&mut h);
        canonical.hash(&mut h);
        observation.hash(&mut h);
        let count = self.seen.entry(h.finish()).or_insert(0);
        *count += 1;
        *count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetition_escalates_notice_then_replan_then_stuck() {
        let steps: Vec<Escalation> = (1..=6).map(escalation).collect();
        use Escalation::*;
        assert_eq!(steps, [None, None, Notice, Replan, Stuck, Stuck]);
    }

    #[test]
    fn same_action_and_result_counts_up_regardless_of_json_layout() {
        let mut d = RepetitionDetector::default();
        assert_eq!(
            d.record("run", r#"{"command":"ls","timeout_secs":5}"#, "a"),
            1
        );
        assert_eq!(
            d.record("run", r#"{ "timeout_secs": 5, "command": "ls" }"#, "a"),
            2
        );
        assert_eq!(
            d.record("run", r#"{"command":"ls","timeout_secs":5}"#, "b"),
            1
        );
        assert_eq!(
            d.record("run", r#"{"command":"ls","timeout_secs":5}"#, "a"),
            3
        );
    }
}
