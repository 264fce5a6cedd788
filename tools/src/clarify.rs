//! `ask_clarification`: when an issue is too ambiguous to act on, the agent asks instead of
//! guessing (ClarifyGPT's idea). The run ends and the questions go to the author.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{ToolError, ToolResult};
use crate::tool::{Control, Effect, ToolContext, ToolOutput, TypedTool};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AskClarificationArgs {
    /// The questions whose answers you need, each specific and answerable, as a numbered list.
    pub questions: String,
}

pub struct AskClarification;

#[async_trait]
impl TypedTool for AskClarification {
    type Args = AskClarificationArgs;
    const NAME: &'static str = "ask_clarification";
    const EFFECT: Effect = Effect::ControlsSession;
    const DESCRIPTION: &'static str = "Stop and ask the issue's author clarifying questions. Use this only when the task is too ambiguous to act on after you have read the relevant code: the expected behaviour is unclear or contradictory, or several incompatible fixes are equally plausible. The run ends; no change is submitted.";

    async fn call(&self, _ctx: &ToolContext, args: AskClarificationArgs) -> ToolResult<ToolOutput> {
        let questions = args.questions.trim().to_string();
        if questions.is_empty() {
            return Err(ToolError::BadArguments("`questions` is empty".into()));
        }
        Ok(ToolOutput::text(
            "Your questions will be sent to the issue's author; the run ends here.",
        )
        .with_control(Control::AskClarification { questions }))
    }
}
