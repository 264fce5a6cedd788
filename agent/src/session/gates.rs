//! What stands between `submit` and the end of a run (an unchanged repository, a missing
//! reproduction, a review of the diff), and the session's other side turns: the reproduction on
//! the record, a plan-only reply, compaction.

use minijinja::context;
use serde_json::Value;

use super::compaction::{self, COMPACT_AT, KnownState};
use super::history::{ELIDED_OBSERVATION_CHARS, elide_old_observations};
use super::review::{self, ReviewError};
use super::{Interruptible, RunState, Session, SessionError, StepEnd};
use agent_tools::ToolData;

use crate::events::RunEvent as Event;
use crate::model::{Role, ToolCall, Usage};
use crate::session::Budget;

/// Each gate sends a submit back at most once.
#[derive(Debug, Default)]
pub(super) struct SubmitGates {
    pub empty_warned: bool,
    pub reproduction_warned: bool,
    pub reviewed: bool,
    /// The review's findings (`ok` when it found nothing).
    pub review: Option<String>,
}

impl Session<'_> {
    /// Decides on a `submit`: `None` accepts it, `Some(text)` sends it back with `text` as the
    /// observation.
    pub(super) async fn submit_gate(
        &mut self,
        state: &mut RunState,
        budget: &Budget,
    ) -> Result<Option<String>, SessionError> {
        let Some(probe) = self.probe else {
            return Ok(None);
        };
        // The review turn sends the diff to the model: secrets in it are redacted like any
        // observation.
        let diff = self.redactor.redact(&probe.diff());
        if diff.trim().is_empty() {
            if state.gates.empty_warned {
                state.submitted_empty = true;
                return Ok(None);
            }
            state.gates.empty_warned = true;
            return self.refuse(state, "submit_empty", "submit_empty.md", context! {});
        }
        state.submitted_empty = false;
        if self.settings.require_reproduction
            && state.reproduction.found().is_none()
            && !state.gates.reproduction_warned
        {
            state.gates.reproduction_warned = true;
            return self.refuse(
                state,
                "submit_no_reproduction",
                "submit_no_reproduction.md",
                context! {},
            );
        }
        if !self.settings.review || state.gates.reviewed {
            return Ok(None);
        }
        state.gates.reviewed = true;
        let checks = review::diff_checks(&diff, &|p| probe.is_existing_test(p));
        self.review_turn(state, budget, &diff, &checks).await
    }

    /// The review turn: a model call reads the diff; findings send the submit back once.
    async fn review_turn(
        &mut self,
        state: &mut RunState,
        budget: &Budget,
        diff: &str,
        checks: &[String],
    ) -> Result<Option<String>, SessionError> {
        let task = state.task_text.clone();
        let outcome = self
            .interruptible(
                budget,
                review::review(self.model, self.prompts, &task, diff, checks),
            )
            .await;
        match outcome {
            Interruptible::Done(Ok(r)) => {
                self.add_side_usage(state, r.usage);
                let verdict = if r.ok { "ok" } else { "revise" };
                self.events.publish(Event::Notice {
                    step: state.step,
                    kind: "review".into(),
                    text: format!("VERDICT: {verdict}\n{}", r.findings),
                })?;
                state.gates.review = Some(if r.ok {
                    "ok".to_string()
                } else {
                    r.findings.clone()
                });
                if r.ok {
                    return Ok(None);
                }
                self.refuse(
                    state,
                    "review_feedback",
                    "review_feedback.md",
                    context! { findings => r.findings },
                )
            }
            Interruptible::Done(Err(ReviewError::Prompt(e))) => Err(e.into()),
            Interruptible::Done(Err(ReviewError::Model(e))) => {
                let text = format!("the review could not run ({e}); the submit was accepted");
                self.events.publish(Event::Notice {
                    step: state.step,
                    kind: "review".into(),
                    text: text.clone(),
                })?;
                state.gates.review = Some(text);
                Ok(None)
            }
            Interruptible::Cancelled | Interruptible::TimedOut => Ok(None),
        }
    }

    fn refuse(
        &mut self,
        state: &RunState,
        kind: &str,
        template: &str,
        ctx: minijinja::Value,
    ) -> Result<Option<String>, SessionError> {
        let text = self.prompts.render(template, ctx)?;
        self.events.publish(Event::Notice {
            step: state.step,
            kind: kind.into(),
            text: text.clone(),
        })?;
        Ok(Some(text))
    }

    /// Records a reproduction when a command's result completes one.
    pub(super) fn observe_reproduction(
        &mut self,
        state: &mut RunState,
        call: &ToolCall,
        data: &ToolData,
    ) -> Result<(), SessionError> {
        let Some(probe) = self.probe else {
            return Ok(());
        };
        let Some(command) = data.command() else {
            return Ok(());
        };
        let diff = probe.diff();
        let found = state
            .reproduction
            .observe(&call.name, &call.arguments, &command, &diff, state.step)
            .cloned();
        if let Some(r) = found {
            self.events.publish(Event::Notice {
                step: state.step,
                kind: "reproduction".into(),
                text: format!(
                    "reproduction recorded: `{}` {} failed at step {} and passes at step {} after the change",
                    r.tool, r.arguments, r.failed_at_step, r.passed_at_step
                ),
            })?;
        }
        Ok(())
    }

    /// A reply with only a plan: acknowledged, and the model is asked for its first call.
    pub(super) fn plan_only(&mut self, state: &mut RunState) -> Result<StepEnd, SessionError> {
        let text = self.prompts.render("plan_ack.md", context! {})?;
        self.events.publish(Event::Notice {
            step: state.step,
            kind: "plan_only".into(),
            text: text.clone(),
        })?;
        state.messages.push(crate::model::Message::user(text));
        Ok(StepEnd::Continue)
    }

    /// Compacts older turns into a ledger when the next request would pass 80% of the context
    /// window, or at once when `forced` (the server said the request is too long). Returns
    /// whether anything was compacted.
    pub(super) async fn compact_if_needed(
        &mut self,
        state: &mut RunState,
        tool_defs: &[Value],
        forced: bool,
    ) -> Result<bool, SessionError> {
        let window = self.settings.context_window;
        if !forced {
            let Some(window) = window else {
                return Ok(false);
            };
            let context = elide_old_observations(
                &state.messages,
                self.settings.keep_full_observations,
                ELIDED_OBSERVATION_CHARS,
            );
            let estimate = compaction::estimate_tokens(&context, tool_defs);
            if (estimate as f64) < COMPACT_AT * window as f64 {
                return Ok(false);
            }
        }
        let keep = if forced { 3 } else { 6 };
        let Some(split) = compaction::split_point(&state.messages, keep) else {
            return Ok(false);
        };
        // A ledger and a message or two behind it are not worth another model call; wait
        // until a few more turns have aged (a forced compaction does not wait).
        if !forced && state.compactions > 0 && split < 2 + 1 + 4 {
            return Ok(false);
        }
        let older = &state.messages[2..split];
        let known = KnownState {
            plan: state.plan.clone(),
            changed_files: self.probe.map(|p| p.changed_files()).unwrap_or_default(),
            last_observations: older
                .iter()
                .rev()
                .filter(|m| m.role == Role::Tool || m.text().starts_with("Observation from `"))
                .take(3)
                .map(|m| m.text().to_string())
                .collect(),
        };
        let compacted = compaction::compact(
            self.model,
            self.prompts,
            &state.task_text,
            older,
            window.unwrap_or(8192),
            &known,
        )
        .await?;
        self.add_side_usage(state, compacted.usage);
        let unrecorded = state.messages.len().saturating_sub(state.recorded);
        let dropped = compacted.dropped;
        state.messages.splice(2..split, [compacted.message]);
        state.recorded = state.messages.len().saturating_sub(unrecorded);
        state.compactions += 1;
        let why = if forced {
            "the server said the request is longer than the model's context"
        } else {
            "the next request would pass 80% of the context window"
        };
        let fallback = compacted
            .fallback
            .map(|f| format!(" (ledger built without the model: {f})"))
            .unwrap_or_default();
        self.events.publish(Event::Notice {
            step: state.step,
            kind: "compaction".into(),
            text: format!(
                "{dropped} older messages compacted because {why}{fallback}. Ledger:\n{}",
                compacted.ledger
            ),
        })?;
        Ok(true)
    }

    /// Tokens (and cost) of a call beside the main loop: the review, a compaction.
    fn add_side_usage(&self, state: &mut RunState, usage: Usage) {
        state.usage += usage;
        if let (Some(total), Some(p)) = (state.cost.as_mut(), self.settings.price) {
            *total += (usage.prompt_tokens as f64 * p.input_per_mtok
                + usage.completion_tokens as f64 * p.output_per_mtok)
                / 1_000_000.0;
        }
    }
}
