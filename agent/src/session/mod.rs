//! The session loop: prompts → model → tool calls → observations, until `submit` or a budget ends.

mod budget;
mod calls;
pub(crate) mod compaction;
mod gates;
mod guidance;
mod history;
mod outcome;
mod repetition;
mod reproduction;
pub mod review;

use std::time::{Duration, Instant};

use minijinja::context;
use serde_json::Value;
use tokio::sync::watch;

use agent_tools::{ToolContext, ToolRegistry};

use crate::config::{Price, ToolMode};
use crate::events::{EventBus, RunEvent as Event};
use crate::model::text_actions::parse_text_call;
use crate::model::{ChatRequest, ChatResponse, Message, ModelClient, ModelError, ToolCall, Usage};
use crate::prompts::{PromptError, Prompts};
use crate::redact::Redactor;
use crate::trajectory::TrajectoryError;

pub use budget::{Budget, BudgetKind};
use gates::SubmitGates;
use history::{ELIDED_OBSERVATION_CHARS, elide_old_observations, extract_plan};
pub use outcome::{CallRecord, ExitReason, SessionOutcome};
use repetition::RepetitionDetector;
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
    /// The files the run has changed so far (by any means: edits and commands).
    fn changed_files(&self) -> Vec<String>;
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
    /// Where every event goes: the trajectory, the report collector, the progress line.
    pub events: &'a mut EventBus,
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
    summary: Option<String>,
    questions: Option<String>,
    reproduction: ReproductionTracker,
    gates: SubmitGates,
    /// The next request asks for a new plan without tools (loop escalation).
    force_replan: bool,
    /// The last submit was accepted with an unchanged repository.
    submitted_empty: bool,
    compactions: u32,
    task_text: String,
}

impl RunState {
    fn new(system: String, user: String, task: &str, priced: bool) -> Self {
        Self {
            messages: vec![Message::system(system), Message::user(user)],
            recorded: 0,
            step: 0,
            usage: Usage::default(),
            cost: priced.then_some(0.0),
            plan: None,
            malformed_in_a_row: 0,
            repetition: RepetitionDetector::default(),
            summary: None,
            questions: None,
            reproduction: ReproductionTracker::default(),
            gates: SubmitGates::default(),
            force_replan: false,
            submitted_empty: false,
            compactions: 0,
            task_text: task.to_string(),
            model_error: None,
        }
    }
}

enum StepEnd {
    Continue,
    Exit(ExitReason, Option<String>),
}

/// What the calls of one turn added up to.
struct Turn {
    all_well_formed: bool,
    submitted: bool,
    /// Set when the loop escalation gave up on a repeated call.
    stuck: Option<String>,
}

impl Default for Turn {
    fn default() -> Self {
        Self {
            all_well_formed: true,
            submitted: false,
            stuck: None,
        }
    }
}

impl<'a> Session<'a> {
    pub async fn run(mut self, task: &Task) -> Result<SessionOutcome, SessionError> {
        let tool_defs = self.tool_definitions();
        let (system, user) = self.opening(task)?;
        let mut budget = Budget::new(
            self.settings.max_steps,
            self.settings.cost_limit,
            self.settings.time_limit,
        );
        let mut state = RunState::new(system, user, &task.text, self.settings.price.is_some());
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
            questions: state.questions,
            reproduction: state.reproduction.found().cloned(),
            review: state.gates.review.clone(),
            compactions: state.compactions,
            model_error: state.model_error,
        })
    }

    /// The system prompt and the task message, rendered and recorded.
    fn opening(&mut self, task: &Task) -> Result<(String, String), SessionError> {
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
        self.events.publish(Event::Prompt {
            name: self.settings.system_prompt.into(),
            text: system.clone(),
        })?;
        self.events.publish(Event::Prompt {
            name: "task.md".into(),
            text: user.clone(),
        })?;
        if let Some(project) = &project {
            self.events.publish(Event::Notice {
                step: 0,
                kind: "project_instructions".into(),
                text: project.record(),
            })?;
        }
        Ok((system, user))
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

    /// One model turn and the tool calls it asks for.
    async fn step(
        &mut self,
        state: &mut RunState,
        budget: &mut Budget,
        tool_defs: &[Value],
    ) -> Result<StepEnd, SessionError> {
        let step_started = Instant::now();
        state.step += 1;
        self.compact_if_needed(state, tool_defs, false).await?;
        self.record_request(state)?;
        // A forced re-plan asks for text only: no tools offered.
        let replan = std::mem::take(&mut state.force_replan);
        let model_started = Instant::now();
        let response = match self.ask_model(state, budget, tool_defs, replan).await? {
            Ok(response) => response,
            Err(end) => return Ok(end),
        };
        let model_ms = model_started.elapsed().as_secs_f64() * 1000.0;
        self.record_response(state, &response, model_ms)?;
        let assistant = response.message;
        let plan_set_now = self.take_plan(state, assistant.text(), replan)?;
        let (calls, native) = self.calls_in(&assistant, state.step);
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
                self.record_timing(state.step, step_started, model_ms, 0.0)?;
                return Ok(end);
            }
        };
        let tools_started = Instant::now();
        let mut turn = Turn::default();
        for call in &calls {
            if let Some(end) = self
                .handle_call(state, budget, call, native, &mut turn)
                .await?
            {
                return Ok(end);
            }
        }
        let tools_ms = tools_started.elapsed().as_secs_f64() * 1000.0;
        let end = self.end_of_turn(state, turn)?;
        if matches!(end, StepEnd::Continue) {
            self.add_reminders(state, budget)?;
        }
        self.record_timing(state.step, step_started, model_ms, tools_ms)?;
        Ok(end)
    }

    /// Records the messages added since the last request.
    fn record_request(&mut self, state: &mut RunState) -> Result<(), SessionError> {
        self.events.publish(Event::ModelRequest {
            step: state.step,
            new_messages: state.messages[state.recorded..].to_vec(),
            message_count: state.messages.len(),
        })?;
        state.recorded = state.messages.len();
        Ok(())
    }

    /// Asks the model for its next turn; `Err(end)` when the run ends instead (model error,
    /// interrupt, time budget). A prompt that outgrew the window is compacted and sent again,
    /// once.
    async fn ask_model(
        &mut self,
        state: &mut RunState,
        budget: &Budget,
        tool_defs: &[Value],
        replan: bool,
    ) -> Result<Result<ChatResponse, StepEnd>, SessionError> {
        let tools: &[Value] = if replan { &[] } else { tool_defs };
        let mut compacted_for_error = false;
        loop {
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
            let exit = |reason, detail: &str| Ok(Err(StepEnd::Exit(reason, Some(detail.into()))));
            match self.interruptible(budget, self.model.chat(request)).await {
                Interruptible::Done(Ok(r)) => return Ok(Ok(r)),
                Interruptible::Done(Err(ModelError::ContextLength { .. }))
                    if !compacted_for_error =>
                {
                    compacted_for_error = true;
                    if !self.compact_if_needed(state, tools, true).await? {
                        return exit(
                            ExitReason::ModelError,
                            "the request is longer than the model's context and there are no older turns left to compact; use a model with a larger window",
                        );
                    }
                }
                Interruptible::Done(Err(e)) => {
                    let detail = e.to_string();
                    state.model_error = Some(e);
                    return exit(ExitReason::ModelError, &detail);
                }
                Interruptible::Cancelled => {
                    return Ok(Err(StepEnd::Exit(ExitReason::Interrupted, None)));
                }
                Interruptible::TimedOut => {
                    return exit(
                        ExitReason::TimeLimit,
                        "the time budget ran out while waiting for the model",
                    );
                }
            }
        }
    }

    /// Adds the reply's tokens and cost to the run's and records the reply.
    fn record_response(
        &mut self,
        state: &mut RunState,
        response: &ChatResponse,
        model_ms: f64,
    ) -> Result<(), SessionError> {
        state.usage += response.usage;
        let step_cost = self.settings.price.map(|p| {
            (response.usage.prompt_tokens as f64 * p.input_per_mtok
                + response.usage.completion_tokens as f64 * p.output_per_mtok)
                / 1_000_000.0
        });
        if let (Some(total), Some(c)) = (state.cost.as_mut(), step_cost) {
            *total += c;
        }
        self.events.publish(Event::ModelResponse {
            step: state.step,
            message: response.message.clone(),
            usage: response.usage,
            cost_usd: step_cost,
            latency_ms: model_ms as u64,
            attempts: response.attempts,
            finish_reason: response.finish_reason.clone(),
        })?;
        Ok(())
    }

    /// Takes the plan from the reply when the run has none yet or asked for a new one; returns
    /// whether it did.
    fn take_plan(
        &mut self,
        state: &mut RunState,
        text: &str,
        replan: bool,
    ) -> Result<bool, SessionError> {
        if state.plan.is_some() && !replan {
            return Ok(false);
        }
        let Some(plan) = extract_plan(text) else {
            return Ok(false);
        };
        self.set_plan(state, plan, if replan { "replan" } else { "initial" })?;
        Ok(true)
    }

    /// How the turn ends once all its calls ran.
    fn end_of_turn(&mut self, state: &mut RunState, turn: Turn) -> Result<StepEnd, SessionError> {
        Ok(if state.questions.is_some() {
            StepEnd::Exit(ExitReason::NeedsClarification, None)
        } else if turn.submitted && state.submitted_empty {
            StepEnd::Exit(
                ExitReason::NoChange,
                Some("the model submitted without changing any file".into()),
            )
        } else if turn.submitted {
            StepEnd::Exit(ExitReason::Submitted, None)
        } else if let Some(detail) = turn.stuck {
            self.events.publish(Event::Notice {
                step: state.step,
                kind: "stuck".into(),
                text: detail.clone(),
            })?;
            StepEnd::Exit(ExitReason::Stuck, Some(detail))
        } else if turn.all_well_formed {
            state.malformed_in_a_row = 0;
            StepEnd::Continue
        } else {
            self.count_malformed(state)
        })
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
