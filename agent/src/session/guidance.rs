//! What the session tells the model on its own between calls: malformed replies, the plan and
//! its reminders, budget warnings; and each step's timing record.

use std::time::Instant;

use minijinja::context;

use super::tool_mode_name;
use super::{Budget, ExitReason, MALFORMED_LIMIT, RunState, Session, SessionError, StepEnd};
use crate::events::RunEvent as Event;
use crate::model::Message;

impl Session<'_> {
    pub(super) fn malformed(
        &mut self,
        state: &mut RunState,
        problem: &str,
    ) -> Result<StepEnd, SessionError> {
        state.malformed_in_a_row += 1;
        let text = self.prompts.render(
            "malformed.md",
            context! {
                problem => problem,
                tool_mode => tool_mode_name(self.settings.tool_mode),
                tool_names => self.registry.names().collect::<Vec<_>>().join(", "),
                count => state.malformed_in_a_row,
                limit => MALFORMED_LIMIT,
            },
        )?;
        self.events.publish(Event::Notice {
            step: state.step,
            kind: "malformed".into(),
            text: text.clone(),
        })?;
        state.messages.push(Message::user(text));
        if state.malformed_in_a_row >= MALFORMED_LIMIT {
            return Ok(StepEnd::Exit(
                ExitReason::MalformedOutput,
                Some(format!(
                    "the model sent {MALFORMED_LIMIT} malformed replies in a row (last: {problem}); try a model with better tool calling, or --tool-mode text"
                )),
            ));
        }
        Ok(StepEnd::Continue)
    }

    pub(super) fn count_malformed(&mut self, state: &mut RunState) -> StepEnd {
        state.malformed_in_a_row += 1;
        if state.malformed_in_a_row >= MALFORMED_LIMIT {
            StepEnd::Exit(
                ExitReason::MalformedOutput,
                Some(format!(
                    "the model sent {MALFORMED_LIMIT} malformed tool calls in a row (bad JSON, unknown tools or missing arguments); see the trajectory's observations"
                )),
            )
        } else {
            StepEnd::Continue
        }
    }

    pub(super) fn set_plan(
        &mut self,
        state: &mut RunState,
        plan: String,
        source: &str,
    ) -> Result<(), SessionError> {
        self.events.publish(Event::Plan {
            step: state.step,
            source: source.to_string(),
            plan: plan.clone(),
        })?;
        state.plan = Some(plan);
        Ok(())
    }

    /// Budget warnings and the periodic plan reminder, as one user message.
    pub(super) fn add_reminders(
        &mut self,
        state: &mut RunState,
        budget: &mut Budget,
    ) -> Result<(), SessionError> {
        let mut parts = Vec::new();
        for status in budget.newly_warned(state.step, state.cost) {
            let text = self.prompts.render(
                "wrap_up.md",
                context! {
                    percent => (status.fraction * 100.0).round() as u32,
                    budget => status.kind.name(),
                    used => status.used,
                    limit => status.limit,
                },
            )?;
            self.events.publish(Event::Notice {
                step: state.step,
                kind: "wrap_up".into(),
                text: text.clone(),
            })?;
            parts.push(text);
        }
        let every = self.settings.plan_reminder_every;
        if every > 0
            && state.step.is_multiple_of(every)
            && let Some(plan) = &state.plan
        {
            let text = self.prompts.render(
                "plan_reminder.md",
                context! { plan => plan, step => state.step, max_steps => budget.max_steps() },
            )?;
            self.events.publish(Event::Notice {
                step: state.step,
                kind: "plan_reminder".into(),
                text: text.clone(),
            })?;
            parts.push(text);
        }
        if !parts.is_empty() {
            state.messages.push(Message::user(parts.join("\n\n")));
        }
        Ok(())
    }

    pub(super) fn record_timing(
        &mut self,
        step: u32,
        started: Instant,
        model_ms: f64,
        tools_ms: f64,
    ) -> Result<(), SessionError> {
        let total_ms = started.elapsed().as_secs_f64() * 1000.0;
        self.events.publish(Event::StepTiming {
            step,
            total_ms,
            model_ms,
            tools_ms,
            overhead_ms: (total_ms - model_ms - tools_ms).max(0.0),
        })?;
        Ok(())
    }
}
