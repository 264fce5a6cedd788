//! One tool call of a turn: run it, take in what it returned (data, edits, control), shape the
//! observation, and record it.

use std::time::Instant;

use minijinja::context;
use serde_json::Value;

use agent_tools::{Control, ToolError, ToolOutput, ToolResult};

use super::repetition::{Escalation, escalation};
use super::{Budget, ExitReason, Interruptible, RunState, Session, SessionError, StepEnd, Turn};
use crate::events::RunEvent as Event;
use crate::model::{Message, ToolCall};

/// How running a call went, before its output is looked at.
enum Called {
    Done(ToolResult<ToolOutput>),
    End(StepEnd),
}

impl Session<'_> {
    /// Runs one call and records its observation. `Some(end)` ends the run (interrupt, time
    /// budget, a fatal tool error).
    pub(super) async fn handle_call(
        &mut self,
        state: &mut RunState,
        budget: &mut Budget,
        call: &ToolCall,
        native: bool,
        turn: &mut Turn,
    ) -> Result<Option<StepEnd>, SessionError> {
        let step = state.step;
        self.events.publish(Event::ToolCall {
            step,
            call_id: call.id.clone(),
            name: call.name.clone(),
            arguments: call.arguments.clone(),
        })?;
        let started = Instant::now();
        let result = match self.call_tool(budget, call).await {
            Called::Done(result) => result,
            Called::End(end) => return Ok(Some(end)),
        };
        let (ok, text, changed_files) = match result {
            Ok(output) => {
                let changed: Vec<String> = output
                    .changed_files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect();
                let text = self.take_output(state, budget, call, output, turn).await?;
                (true, text, changed)
            }
            Err(ToolError::Fatal(message)) => {
                self.events.publish(Event::Observation {
                    step,
                    call_id: call.id.clone(),
                    ok: false,
                    text: message.clone(),
                    duration_ms: started.elapsed().as_millis() as u64,
                    changed_files: Vec::new(),
                })?;
                return Ok(Some(StepEnd::Exit(ExitReason::ToolError, Some(message))));
            }
            Err(ToolError::BadArguments(message)) => {
                turn.all_well_formed = false;
                (false, format!("Error: {message}"), Vec::new())
            }
            Err(ToolError::Model(message)) => (false, format!("Error: {message}"), Vec::new()),
        };
        let text = self.shape_observation(state, call, &text, turn)?;
        self.events.publish(Event::Observation {
            step,
            call_id: call.id.clone(),
            ok,
            text: text.clone(),
            duration_ms: started.elapsed().as_millis() as u64,
            changed_files,
        })?;
        state.messages.push(if native {
            Message::tool_result(call.id.clone(), text)
        } else {
            Message::user(format!("Observation from `{}`:\n{text}", call.name))
        });
        Ok(None)
    }

    /// Parses the arguments and runs the tool, unless the user interrupts or time runs out.
    async fn call_tool(&self, budget: &Budget, call: &ToolCall) -> Called {
        let args: Result<Value, _> = if call.arguments.trim().is_empty() {
            Ok(Value::Object(Default::default()))
        } else {
            serde_json::from_str(&call.arguments)
        };
        let args = match args {
            Ok(args) => args,
            Err(e) => {
                return Called::Done(Err(ToolError::BadArguments(format!(
                    "the arguments of `{}` are not valid JSON ({e}); send a JSON object",
                    call.name
                ))));
            }
        };
        match self
            .interruptible(budget, self.registry.call(self.tools, &call.name, args))
            .await
        {
            Interruptible::Done(result) => Called::Done(result),
            Interruptible::Cancelled => Called::End(StepEnd::Exit(ExitReason::Interrupted, None)),
            Interruptible::TimedOut => Called::End(StepEnd::Exit(
                ExitReason::TimeLimit,
                Some(format!("the time budget ran out during `{}`", call.name)),
            )),
        }
    }

    /// Takes in what a call returned: its structured data, the edit guard's and the project
    /// instructions' word on its edits, and its control signal. Returns the observation text.
    async fn take_output(
        &mut self,
        state: &mut RunState,
        budget: &Budget,
        call: &ToolCall,
        mut output: ToolOutput,
        turn: &mut Turn,
    ) -> Result<String, SessionError> {
        if let Some(data) = output.data.take() {
            self.observe_reproduction(state, call, &data)?;
            self.events.publish(Event::ToolData {
                step: state.step,
                call_id: call.id.clone(),
                tool: call.name.clone(),
                data,
            })?;
        }
        if let Some(guard) = self.guard
            && !output.changed_files.is_empty()
            && let Some(refusal) = guard.after_edit(&output.changed_files)
        {
            output.text = format!("{}\n\n{refusal}", output.text);
        }
        for found in self.instructions.for_edits(&output.changed_files) {
            self.events.publish(Event::Notice {
                step: state.step,
                kind: "project_instructions".into(),
                text: found.record(),
            })?;
            output.text = format!(
                "{}\n\nProject instructions from `{}` (for files under its directory):\n{}",
                output.text, found.path, found.text
            );
        }
        match output.control {
            Some(Control::Submit { summary }) => match self.submit_gate(state, budget).await? {
                None => {
                    state.summary = Some(summary);
                    turn.submitted = true;
                }
                Some(feedback) => output.text = feedback,
            },
            Some(Control::AskClarification { questions }) => {
                state.questions = Some(questions);
                turn.submitted = true;
            }
            Some(Control::UpdatePlan { plan }) => self.set_plan(state, plan, "update_plan")?,
            None => {}
        }
        Ok(output.text)
    }

    /// The observation as the model sees it: redacted, cut to size, and with a notice when
    /// the same call keeps giving the same result.
    fn shape_observation(
        &mut self,
        state: &mut RunState,
        call: &ToolCall,
        text: &str,
        turn: &mut Turn,
    ) -> Result<String, SessionError> {
        // Redact before cutting, so no half of a secret survives the cut.
        let text = self.redactor.redact(text);
        let text = agent_tools::text::truncate_middle(&text, self.settings.max_observation_chars);
        let seen = state.repetition.record(&call.name, &call.arguments, &text);
        let (kind, template) = match escalation(seen) {
            Escalation::None => return Ok(text),
            Escalation::Notice => ("repeated_action", "repeated_action.md"),
            Escalation::Replan => ("replan", "replan.md"),
            Escalation::Stuck => {
                turn.stuck = Some(format!(
                    "`{}` with the same arguments gave the same result {seen} times, after a notice and a forced re-plan",
                    call.name
                ));
                return Ok(text);
            }
        };
        let arguments = agent_tools::text::truncate_middle(&call.arguments, 200);
        let notice = self.prompts.render(
            template,
            context! { tool => call.name, arguments => arguments, count => seen },
        )?;
        self.events.publish(Event::Notice {
            step: state.step,
            kind: kind.into(),
            text: notice.clone(),
        })?;
        state.force_replan |= kind == "replan";
        Ok(format!("{text}\n\n{notice}"))
    }
}
