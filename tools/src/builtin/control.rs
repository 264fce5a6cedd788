//! `update_plan` and `submit`: tools that talk to the session loop rather than the repository.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{ToolError, ToolResult};
use crate::tool::{Control, Effect, ToolContext, ToolOutput, TypedTool};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdatePlanArgs {
    /// The whole revised plan, as numbered steps. Mark finished steps with [x].
    pub plan: String,
}

pub struct UpdatePlan;

#[async_trait]
impl TypedTool for UpdatePlan {
    type Args = UpdatePlanArgs;
    const NAME: &'static str = "update_plan";
    const EFFECT: Effect = Effect::ControlsSession;
    const DESCRIPTION: &'static str = "Replace your current plan with a revised one. Use it when you learn something that changes what you will do, and to mark steps done. The current plan is shown back to you as the conversation grows.";

    async fn call(&self, _ctx: &ToolContext, args: UpdatePlanArgs) -> ToolResult<ToolOutput> {
        let plan = args.plan.trim().to_string();
        if plan.is_empty() {
            return Err(ToolError::model(
                "`plan` is empty; give the whole revised plan",
            ));
        }
        Ok(ToolOutput::text("Plan updated.").with_control(Control::UpdatePlan { plan }))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SubmitArgs {
    /// What you changed and why, and how you verified it. Shown to the user.
    pub summary: String,
}

pub struct Submit;

#[async_trait]
impl TypedTool for Submit {
    type Args = SubmitArgs;
    const NAME: &'static str = "submit";
    const EFFECT: Effect = Effect::ControlsSession;
    const DESCRIPTION: &'static str = "Finish the task. Call this once your change is complete and verified. The current state of the repository is the result.";

    async fn call(&self, _ctx: &ToolContext, args: SubmitArgs) -> ToolResult<ToolOutput> {
        Ok(
            ToolOutput::text("Submitted.").with_control(Control::Submit {
                summary: args.summary,
            }),
        )
    }
}
