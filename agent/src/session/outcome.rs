//! What a session ends with: why it stopped and what it did, kept in memory for reports.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::model::Usage;

use super::Reproduction;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    Submitted,
    StepLimit,
    CostLimit,
    TimeLimit,
    MalformedOutput,
    ModelError,
    ToolError,
    Interrupted,
    NeedsClarification,
    /// The model repeated the same call with the same result until the loop escalation ended it.
    Stuck,
    /// The model submitted, but the repository is unchanged.
    NoChange,
}

impl ExitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::Submitted => "submitted",
            ExitReason::StepLimit => "step_limit",
            ExitReason::CostLimit => "cost_limit",
            ExitReason::TimeLimit => "time_limit",
            ExitReason::MalformedOutput => "malformed_output",
            ExitReason::ModelError => "model_error",
            ExitReason::ToolError => "tool_error",
            ExitReason::Interrupted => "interrupted",
            ExitReason::NeedsClarification => "needs_clarification",
            ExitReason::Stuck => "stuck",
            ExitReason::NoChange => "no_change",
        }
    }

    /// Whether the run ended because something went wrong (as opposed to a budget or submit).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            ExitReason::MalformedOutput
                | ExitReason::ModelError
                | ExitReason::ToolError
                | ExitReason::NoChange
        )
    }
}

#[derive(Debug, Clone)]
pub struct SessionOutcome {
    pub exit_reason: ExitReason,
    pub detail: Option<String>,
    pub summary: Option<String>,
    pub plan: Option<String>,
    pub steps: u32,
    pub usage: Usage,
    pub cost_usd: Option<f64>,
    pub duration: Duration,
    pub changed_files: BTreeSet<String>,
    /// Set when the model asked the author clarifying questions instead of acting.
    pub questions: Option<String>,
    /// A command that failed before the change and passes after it, if one was run.
    pub reproduction: Option<Reproduction>,
    /// The review of the diff on submit: its findings, or `None` when there was no review.
    pub review: Option<String>,
    /// Times older turns were compacted into a ledger.
    pub compactions: u32,
    /// The structured results of every test run (tools that run commands and report data), in
    /// order, kept in memory so the end of the run never depends on the trajectory file.
    pub test_runs: Vec<Value>,
    /// With `ExitReason::ModelError`: the error, typed (a rejected key ends a whole batch).
    pub model_error: Option<crate::model::ModelError>,
    /// Every tool call, in order (arguments redacted), for reports.
    pub tool_calls: Vec<CallRecord>,
}

/// One tool call as reports list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    pub step: u32,
    pub name: String,
    pub arguments: String,
}
