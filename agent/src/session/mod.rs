//! The session loop: prompts → model → tool calls → observations, until `submit` or a budget ends.

mod budget;
mod compaction;
mod gates;
mod history;
mod outcome;
mod repetition;
mod reproduction;
pub mod review;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use minijinja::context;
use serde_json::Value;
use tokio::sync::watch;

use agent_tools::{Control, ToolContext, ToolError, ToolRegistry};

use crate::config::{Price, ToolMode};
use crate::model::text_actions::parse_text_call;
use crate::model::{ChatRequest, Message, ModelClient, ModelError, ToolCall, Usage};
use crate::prompts::{PromptError, Prompts};
use crate::redact::Redactor;
use crate::trajectory::{Event, TrajectoryError, TrajectoryWriter};

pub use budget::{Budget, BudgetKind};
use gates::SubmitGates;
use history::{ELIDED_OBSERVATION_CHARS, elide_old_observations, extract_plan};
pub use outcome::{CallRecord, ExitReason, SessionOutcome};
use repetition::{Escalation, RepetitionDetector, escalation};
pub use reproduction::Reproduction;
use reproduction::ReproductionTracker;

/// Malformed replies in a row that end the run.
pub const MALFORMED_LIMIT: u32 = 3;

#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub max_steps: u32,
    pub cost_limit: Option<f64>,
    pub time_limit: Option<Duration>,
    pub tool_mode: ToolMode,
    pub price: Option<Price>,
    pub max_observation_chars: usize,
    /// Show the current plan to the model again every this many steps.
    pub plan_reminder_every: u32,
    /// Tool observations shown in full; older ones are cut short so long runs fit the context.
    pub keep_full_observations: usize,
    pub sandboxed: bool,
    /// The system prompt template (`system.md`, or `system_compact.md` for small models).
    pub system_prompt: &'static str,
    /// The model's context window in tokens, when known: older turns are compacted before a
    /// request would pass 80% of it.
    pub context_window: Option<usize>,
    /// A submit without a recorded reproduction is sent back once.
    pub require_reproduction: bool,
    /// A review turn reads the diff on the first submit.
    pub review: bool,
    /// Ask native-mode servers to force a tool call (`tool_choice: "required"`).
    pub require_tool: bool,
    /// Tool and argument descriptions keep their first sentence (the compact profile).
    pub short_tool_descriptions: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            max_steps: 50,
            cost_limit: None,
            time_limit: None,
            tool_mode: ToolMode::Native,
            price: None,
            max_observation_chars: 16_000,
            plan_reminder_every: 8,
            keep_full_observations: 12,
            sandboxed: false,
            system_prompt: "system.md",
            context_window: None,
            require_reproduction: false,
            review: true,
            require_tool: false,
            short_tool_descriptions: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Trajectory(#[from] TrajectoryError),
    #[error(transparent)]
    Prompt(#[from] PromptError),
}

/// What the session needs to start: the task text and where it runs.
#[derive(Debug, Clone)]
pub struct Task {
    pub text: String,
    pub repo_root: String,
    pub head: String,
    /// A short map of the repository's files, shown in the task message.
    pub overview: Option<String>,
    pub overview_truncated: bool,
}

/// What the session may ask about the workspace while it runs.
pub trait WorkspaceProbe: Send + Sync {
    /// The diff of the run's changes so far (empty when nothing changed).
    fn diff(&self) -> String;
    /// Whether a repository path is a test file that existed before the run.
    fn is_existing_test(&self, path: &str) -> bool;
}

/// Looks at every edit right after it happens; may undo it and tell the model why.
pub trait EditGuard: Send + Sync {
    fn after_edit(&self, changed: &[std::path::PathBuf]) -> Option<String>;
}

pub struct Session<'a> {
    pub model: &'a dyn ModelClient,
    pub guard: Option<&'a dyn EditGuard>,
    pub probe: Option<&'a dyn WorkspaceProbe>,
    pub registry: &'a ToolRegistry,
    pub tools: &'a ToolContext,
    pub prompts: &'a Prompts,
    pub trajectory: &'a mut TrajectoryWriter,
    /// Removes secrets from every observation before the model or the trajectory sees it.
    pub redactor: &'a Redactor,
    pub settings: SessionSettings,
    /// Becomes `true` when the user interrupts (Ctrl-C); the run stops at the next await.
    pub cancel: watch::Receiver<bool>,
    /// The repository's `AGENTS.md` files.
    pub instructions: crate::instructions::ProjectInstructions,
}

/// Mutable state of one run.
struct RunState {
    /// The model error that ended the run, if one did (typed, for callers such as a batch).
    model_error: Option<ModelError>,
    messages: Vec<Message>,
    /// Messages already recorded in a `model_request` event.
    recorded: usize,
    step: u32,
    usage: Usage,
    cost: Option<f64>,
    plan: Option<String>,
    malformed_in_a_row: u32,
    repetition: RepetitionDetector,
    changed_files: BTreeSet<String>,
    summary: Option<String>,
    questions: Option<String>,
    test_runs: Vec<Value>,
    tool_calls: Vec<CallRecord>,
    reproduction: ReproductionTracker,
    gates: SubmitGates,
    /// The next request asks for a new plan without tools (loop escalation).
    force_replan: bool,
    /// The last submit was accepted with an unchanged repository.
    submitted_empty: bool,
    compactions: u32,
    task_text: String,
}

enum StepEnd {
    Continue,
    Exit(ExitReason, Option<String>),
}

impl<'a> Session<'a> {
    pub async fn run(mut self, task: &Task) -> Result<SessionOutcome, SessionError> {
        let tool_defs = self.tool_definitions();
        let system = self.prompts.render(
            self.settings.system_prompt,
            context! {
                repo_root => task.repo_root,
                tool_mode => tool_mode_name(self.settings.tool_mode),
                sandboxed => self.settings.sandboxed,
                tools => self.text_tool_list(),
            },
        )?;
        let project = self.instructions.at_root();
        let user = self.prompts.render(
            "task.md",
            context! {
                task => task.text,
                repo_root => task.repo_root,
                head => task.head,
                instructions => project.as_ref().map(|i| i.text.clone()),
                instructions_path => project.as_ref().map(|i| i.path.clone()),
                overview => task.overview,
                overview_truncated => task.overview_truncated,
            },
        )?;
        self.trajectory.write(Event::Prompt {
            name: self.settings.system_prompt.into(),
            text: system.clone(),
        })?;
        self.trajectory.write(Event::Prompt {
            name: "task.md".into(),
            text: user.clone(),
        })?;
        if let Some(project) = &project {
            self.trajectory.write(Event::Notice {
                step: 0,
                kind: "project_instructions".into(),
                text: project.record(),
            })?;
        }

        let mut budget = Budget::new(
            self.settings.max_steps,
            self.settings.cost_limit,
            self.settings.time_limit,
        );
        let mut state = RunState {
            messages: vec![Message::system(system), Message::user(user)],
            recorded: 0,
            step: 0,
            usage: Usage::default(),
            cost: self.settings.price.map(|_| 0.0),
            plan: None,
            malformed_in_a_row: 0,
            repetition: RepetitionDetector::default(),
            changed_files: BTreeSet::new(),
            summary: None,
            questions: None,
            test_runs: Vec::new(),
            tool_calls: Vec::new(),
            reproduction: ReproductionTracker::default(),
            gates: SubmitGates::default(),
            force_replan: false,
            submitted_empty: false,
            compactions: 0,
            task_text: task.text.clone(),
            model_error: None,
        };
        let (exit_reason, detail) = loop {
            if let Some(kind) = budget.exhausted(state.step, state.cost) {
                break (
                    budget_exit(kind),
                    Some(format!("the {} budget is used up", kind.name())),
                );
            }
            match self.step(&mut state, &mut budget, &tool_defs).await? {
                StepEnd::Continue => {}
                StepEnd::Exit(reason, detail) => break (reason, detail),
            }
        };
        Ok(SessionOutcome {
            exit_reason,
            detail,
            summary: state.summary,
            plan: state.plan,
            steps: state.step,
            usage: state.usage,
            cost_usd: state.cost,
            duration: budget.elapsed(),
            changed_files: state.changed_files,
            questions: state.questions,
            test_runs: state.test_runs,
            tool_calls: state.tool_calls,
            reproduction: state.reproduction.found().cloned(),
            review: state.gates.review.clone(),
            compactions: state.compactions,
            model_error: state.model_error,
        })
    }

    fn tool_definitions(&self) -> Vec<Value> {
        match self.settings.tool_mode {
            ToolMode::Native => {
                let mut defs = self.registry.openai_definitions();
                if self.settings.short_tool_descriptions {
                    defs.iter_mut()
                        .for_each(agent_tools::schema::shorten_definition);
                }
                defs
            }
            ToolMode::Text => Vec::new(),
        }
    }

    fn text_tool_list(&self) -> Vec<Value> {
        self.registry
            .tools()
            .map(|t| {
                serde_json::json!({
                    "name": t.name(),
                    "description": t.description(),
                    "parameters": t.parameters_schema().to_string(),
                })
            })
            .collect()
    }

    async fn step(
        &mut self,
        state: &mut RunState,
        budget: &mut Budget,
        tool_defs: &[Value],
    ) -> Result<StepEnd, SessionError> {
        let step_started = Instant::now();
        state.step += 1;
        let step = state.step;
        self.compact_if_needed(state, tool_defs, false).await?;
        self.trajectory.write(Event::ModelRequest {
            step,
            new_messages: state.messages[state.recorded..].to_vec(),
            message_count: state.messages.len(),
        })?;
        state.recorded = state.messages.len();

        let model_started = Instant::now();
        // A forced re-plan asks for text only: no tools offered.
        let replan = std::mem::take(&mut state.force_replan);
        let tools: &[Value] = if replan { &[] } else { tool_defs };
        let mut compacted_for_error = false;
        let response = loop {
            let context = elide_old_observations(
                &state.messages,
                self.settings.keep_full_observations,
                ELIDED_OBSERVATION_CHARS,
            );
            let request = ChatRequest {
                messages: &context,
                tools,
                require_tool: self.settings.require_tool && !replan,
            };
            match self.interruptible(budget, self.model.chat(request)).await {
                Interruptible::Done(Ok(r)) => break r,
                // The prompt outgrew the window: compact the older turns and ask again, once.
                Interruptible::Done(Err(ModelError::ContextLength { .. }))
                    if !compacted_for_error =>
                {
                    compacted_for_error = true;
                    if !self.compact_if_needed(state, tools, true).await? {
                        return Ok(StepEnd::Exit(
                            ExitReason::ModelError,
                            Some("the request is longer than the model's context and there are no older turns left to compact; use a model with a larger window".into()),
                        ));
                    }
                }
                Interruptible::Done(Err(e)) => {
                    let detail = e.to_string();
                    state.model_error = Some(e);
                    return Ok(StepEnd::Exit(ExitReason::ModelError, Some(detail)));
                }
                Interruptible::Cancelled => {
                    return Ok(StepEnd::Exit(ExitReason::Interrupted, None));
                }
                Interruptible::TimedOut => {
                    return Ok(StepEnd::Exit(
                        ExitReason::TimeLimit,
                        Some("the time budget ran out while waiting for the model".into()),
                    ));
                }
            }
        };
        let model_ms = model_started.elapsed().as_secs_f64() * 1000.0;
        state.usage += response.usage;
        let step_cost = self.settings.price.map(|p| {
            (response.usage.prompt_tokens as f64 * p.input_per_mtok
                + response.usage.completion_tokens as f64 * p.output_per_mtok)
                / 1_000_000.0
        });
        if let (Some(total), Some(c)) = (state.cost.as_mut(), step_cost) {
            *total += c;
        }
        self.trajectory.write(Event::ModelResponse {
            step,
            message: response.message.clone(),
            usage: response.usage,
            cost_usd: step_cost,
            latency_ms: model_ms as u64,
            attempts: response.attempts,
            finish_reason: response.finish_reason.clone(),
        })?;
        let assistant = response.message;
        let mut plan_set_now = false;
        if (state.plan.is_none() || replan)
            && let Some(plan) = extract_plan(assistant.text())
        {
            self.set_plan(state, plan, if replan { "replan" } else { "initial" })?;
            plan_set_now = true;
        }

        let (calls, native) = self.calls_in(&assistant, step);
        state.messages.push(assistant);
        let calls = match calls {
            Ok(calls) => calls,
            Err(problem) => {
                // A reply with only the plan asked for is a step, not a malformed reply.
                let end = if plan_set_now {
                    self.plan_only(state)?
                } else {
                    self.malformed(state, &problem)?
                };
                self.record_timing(step, step_started, model_ms, 0.0)?;
                return Ok(end);
            }
        };

        let tools_started = Instant::now();
        let mut all_well_formed = true;
        let mut submitted = false;
        let mut stuck: Option<String> = None;
        for call in &calls {
            self.trajectory.write(Event::ToolCall {
                step,
                call_id: call.id.clone(),
                name: call.name.clone(),
                arguments: call.arguments.clone(),
            })?;
            state.tool_calls.push(CallRecord {
                step,
                name: call.name.clone(),
                arguments: self.redactor.redact(&call.arguments),
            });
            let call_started = Instant::now();
            let args: Result<Value, _> = if call.arguments.trim().is_empty() {
                Ok(Value::Object(Default::default()))
            } else {
                serde_json::from_str(&call.arguments)
            };
            let result = match args {
                Ok(args) => match self
                    .interruptible(budget, self.registry.call(self.tools, &call.name, args))
                    .await
                {
                    Interruptible::Done(r) => r,
                    Interruptible::Cancelled => {
                        return Ok(StepEnd::Exit(ExitReason::Interrupted, None));
                    }
                    Interruptible::TimedOut => {
                        return Ok(StepEnd::Exit(
                            ExitReason::TimeLimit,
                            Some(format!("the time budget ran out during `{}`", call.name)),
                        ));
                    }
                },
                Err(e) => Err(ToolError::BadArguments(format!(
                    "the arguments of `{}` are not valid JSON ({e}); send a JSON object",
                    call.name
                ))),
            };
            let (ok, mut text) = match result {
                Ok(mut output) => {
                    for f in &output.changed_files {
                        state.changed_files.insert(f.display().to_string());
                    }
                    if let Some(data) = output.data.take() {
                        if output.test_run {
                            state.test_runs.push(data.clone());
                        }
                        self.observe_reproduction(state, call, &data)?;
                        self.trajectory.write(Event::ToolData {
                            step,
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
                        self.trajectory.write(Event::Notice {
                            step,
                            kind: "project_instructions".into(),
                            text: found.record(),
                        })?;
                        output.text = format!(
                            "{}\n\nProject instructions from `{}` (for files under its directory):\n{}",
                            output.text, found.path, found.text
                        );
                    }
                    match output.control {
                        Some(Control::Submit { summary }) => {
                            match self.submit_gate(state, budget).await? {
                                None => {
                                    state.summary = Some(summary);
                                    submitted = true;
                                }
                                Some(feedback) => output.text = feedback,
                            }
                        }
                        Some(Control::AskClarification { questions }) => {
                            state.questions = Some(questions);
                            submitted = true;
                        }
                        Some(Control::UpdatePlan { plan }) => {
                            self.set_plan(state, plan, "update_plan")?
                        }
                        None => {}
                    }
                    (true, output.text)
                }
                Err(ToolError::Fatal(message)) => {
                    self.trajectory.write(Event::Observation {
                        step,
                        call_id: call.id.clone(),
                        ok: false,
                        text: message.clone(),
                        duration_ms: call_started.elapsed().as_millis() as u64,
                        changed_files: Vec::new(),
                    })?;
                    return Ok(StepEnd::Exit(ExitReason::ToolError, Some(message)));
                }
                Err(ToolError::BadArguments(message)) => {
                    all_well_formed = false;
                    (false, format!("Error: {message}"))
                }
                Err(ToolError::Model(message)) => (false, format!("Error: {message}")),
            };
            // Redact before cutting, so no half of a secret survives the cut.
            text = self.redactor.redact(&text);
            text = agent_tools::text::truncate_middle(&text, self.settings.max_observation_chars);
            let seen = state.repetition.record(&call.name, &call.arguments, &text);
            let (kind, template) = match escalation(seen) {
                Escalation::None => ("", ""),
                Escalation::Notice => ("repeated_action", "repeated_action.md"),
                Escalation::Replan => ("replan", "replan.md"),
                Escalation::Stuck => ("stuck", ""),
            };
            if kind == "stuck" {
                stuck = Some(format!(
                    "`{}` with the same arguments gave the same result {seen} times, after a notice and a forced re-plan",
                    call.name
                ));
            } else if !template.is_empty() {
                let arguments = agent_tools::text::truncate_middle(&call.arguments, 200);
                let notice = self.prompts.render(
                    template,
                    context! { tool => call.name, arguments => arguments, count => seen },
                )?;
                self.trajectory.write(Event::Notice {
                    step,
                    kind: kind.into(),
                    text: notice.clone(),
                })?;
                text = format!("{text}\n\n{notice}");
                state.force_replan |= kind == "replan";
            }
            self.trajectory.write(Event::Observation {
                step,
                call_id: call.id.clone(),
                ok,
                text: text.clone(),
                duration_ms: call_started.elapsed().as_millis() as u64,
                changed_files: Vec::new(),
            })?;
            state.messages.push(if native {
                Message::tool_result(call.id.clone(), text)
            } else {
                Message::user(format!("Observation from `{}`:\n{text}", call.name))
            });
        }
        let tools_ms = tools_started.elapsed().as_secs_f64() * 1000.0;

        let end = if state.questions.is_some() {
            StepEnd::Exit(ExitReason::NeedsClarification, None)
        } else if submitted && state.submitted_empty {
            StepEnd::Exit(
                ExitReason::NoChange,
                Some("the model submitted without changing any file".into()),
            )
        } else if submitted {
            StepEnd::Exit(ExitReason::Submitted, None)
        } else if let Some(detail) = stuck {
            self.trajectory.write(Event::Notice {
                step,
                kind: "stuck".into(),
                text: detail.clone(),
            })?;
            StepEnd::Exit(ExitReason::Stuck, Some(detail))
        } else if all_well_formed {
            state.malformed_in_a_row = 0;
            StepEnd::Continue
        } else {
            self.count_malformed(state)
        };
        if matches!(end, StepEnd::Continue) {
            self.add_reminders(state, budget)?;
        }
        self.record_timing(step, step_started, model_ms, tools_ms)?;
        Ok(end)
    }

    /// The tool calls in an assistant message. Native mode falls back to an action block in the
    /// text, since some servers put the call there; `native` tells how to send results back.
    fn calls_in(&self, message: &Message, step: u32) -> (Result<Vec<ToolCall>, String>, bool) {
        if self.settings.tool_mode == ToolMode::Native && !message.tool_calls.is_empty() {
            return (Ok(message.tool_calls.clone()), true);
        }
        let known: Vec<&str> = self.registry.names().collect();
        let parsed =
            parse_text_call(message.text(), &known, &format!("step{step}")).map(|c| vec![c]);
        let problem = |e: String| match self.settings.tool_mode {
            ToolMode::Native => {
                "your reply has no tool call; call a tool (use `submit` when you are done)"
                    .to_string()
            }
            ToolMode::Text => e,
        };
        (parsed.map_err(|e| problem(e.to_string())), false)
    }

    fn malformed(&mut self, state: &mut RunState, problem: &str) -> Result<StepEnd, SessionError> {
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
        self.trajectory.write(Event::Notice {
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

    fn count_malformed(&mut self, state: &mut RunState) -> StepEnd {
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

    fn set_plan(
        &mut self,
        state: &mut RunState,
        plan: String,
        source: &str,
    ) -> Result<(), SessionError> {
        self.trajectory.write(Event::Plan {
            step: state.step,
            source: source.to_string(),
            plan: plan.clone(),
        })?;
        state.plan = Some(plan);
        Ok(())
    }

    /// Budget warnings and the periodic plan reminder, as one user message.
    fn add_reminders(
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
            self.trajectory.write(Event::Notice {
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
            self.trajectory.write(Event::Notice {
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

    fn record_timing(
        &mut self,
        step: u32,
        started: Instant,
        model_ms: f64,
        tools_ms: f64,
    ) -> Result<(), SessionError> {
        let total_ms = started.elapsed().as_secs_f64() * 1000.0;
        self.trajectory.write(Event::StepTiming {
            step,
            total_ms,
            model_ms,
            tools_ms,
            overhead_ms: (total_ms - model_ms - tools_ms).max(0.0),
        })?;
        Ok(())
    }

    /// Runs `fut` unless the user interrupts or the time budget runs out first.
    async fn interruptible<T>(
        &self,
        budget: &Budget,
        fut: impl std::future::Future<Output = T>,
    ) -> Interruptible<T> {
        let mut cancel = self.cancel.clone();
        if *cancel.borrow() {
            return Interruptible::Cancelled;
        }
        let deadline = budget
            .time_left()
            .unwrap_or(Duration::from_secs(u64::MAX / 4));
        tokio::select! {
            out = fut => Interruptible::Done(out),
            _ = cancel.wait_for(|c| *c) => Interruptible::Cancelled,
            _ = tokio::time::sleep(deadline) => Interruptible::TimedOut,
        }
    }
}

enum Interruptible<T> {
    Done(T),
    Cancelled,
    TimedOut,
}

fn budget_exit(kind: BudgetKind) -> ExitReason {
    match kind {
        BudgetKind::Steps => ExitReason::StepLimit,
        BudgetKind::Cost => ExitReason::CostLimit,
        BudgetKind::Time => ExitReason::TimeLimit,
    }
}

fn tool_mode_name(mode: ToolMode) -> &'static str {
    match mode {
        ToolMode::Native => "native",
        ToolMode::Text => "text",
    }
}
