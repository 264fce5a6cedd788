//! The live progress line of `agent fix` on stderr: step, last tool, tokens and cost, redrawn
//! as the trajectory's events arrive. Drawn only when stderr is a terminal.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::trajectory::Event;

/// What the line shows.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StepProgress {
    pub step: u32,
    pub max_steps: u32,
    pub last_tool: Option<String>,
    pub tokens: u64,
    pub cost: Option<f64>,
}

impl StepProgress {
    /// Updates from one event; `true` when the line changed.
    pub fn on_event(&mut self, event: &Event) -> bool {
        match event {
            Event::ModelResponse {
                step,
                usage,
                cost_usd,
                ..
            } => {
                self.step = *step;
                self.tokens += usage.prompt_tokens + usage.completion_tokens;
                if let Some(c) = cost_usd {
                    self.cost = Some(self.cost.unwrap_or(0.0) + c);
                }
                true
            }
            Event::ToolCall { step, name, .. } => {
                self.step = *step;
                self.last_tool = Some(name.clone());
                true
            }
            _ => false,
        }
    }

    pub fn line(&self) -> String {
        let cost = match self.cost {
            Some(c) => format!("${c:.4}"),
            None => "cost unknown".into(),
        };
        format!(
            "step {}/{} · last tool {} · {} tokens · {cost}",
            self.step,
            self.max_steps,
            self.last_tool.as_deref().unwrap_or("-"),
            self.tokens
        )
    }
}

/// A spinner line on stderr fed by trajectory events; hidden when stderr is not a terminal.
pub struct ProgressLine {
    bar: ProgressBar,
    state: StepProgress,
}

impl ProgressLine {
    pub fn new(max_steps: u32) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        let state = StepProgress {
            max_steps,
            ..StepProgress::default()
        };
        bar.set_message(state.line());
        Self { bar, state }
    }

    pub fn on_event(&mut self, event: &Event) {
        if self.state.on_event(event) {
            self.bar.set_message(self.state.line());
        }
        if matches!(event, Event::End { .. }) {
            self.bar.finish_and_clear();
        }
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Message, Usage};

    #[test]
    fn the_line_follows_steps_tools_tokens_and_cost() {
        let mut p = StepProgress {
            max_steps: 50,
            ..StepProgress::default()
        };
        assert!(p.on_event(&Event::ModelResponse {
            step: 2,
            message: Message::assistant("x"),
            usage: Usage {
                prompt_tokens: 100,
                completion_tokens: 20,
            },
            cost_usd: Some(0.0012),
            latency_ms: 5,
            attempts: 1,
            finish_reason: None,
        }));
        assert!(p.on_event(&Event::ToolCall {
            step: 2,
            call_id: "c".into(),
            name: "run_tests".into(),
            arguments: "{}".into(),
        }));
        assert_eq!(
            p.line(),
            "step 2/50 · last tool run_tests · 120 tokens · $0.0012"
        );
    }
}
