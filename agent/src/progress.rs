//! The live progress line of `agent fix` on stderr: step, last tool, tokens and cost, redrawn
//! as the run's events arrive (it is one of the run's sinks; the printer makes it). Drawn only
//! when stderr is a terminal.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::events::{RunEvent as Event, RunSink};

/// What the line shows.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StepProgress {
    pub step: u32,
    pub max_steps: u32,
    pub last_tool: Option<String>,
    pub tokens: u64,
    pub cost: Option<f64>,
    /// The model's text streamed so far in this turn (its tail is shown).
    pub streaming: String,
}

/// How much of the streamed text the line shows.
const STREAM_TAIL_CHARS: usize = 60;

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
                self.streaming.clear();
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
        let head = format!(
            "step {}/{} · last tool {} · {} tokens · {cost}",
            self.step,
            self.max_steps,
            self.last_tool.as_deref().unwrap_or("-"),
            self.tokens
        );
        if self.streaming.is_empty() {
            return head;
        }
        let flat: String = self
            .streaming
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let count = flat.chars().count();
        let tail: String = flat
            .chars()
            .skip(count.saturating_sub(STREAM_TAIL_CHARS))
            .collect();
        format!("{head} · model: {}", tail.trim_start())
    }
}

/// A spinner line on stderr fed by trajectory events (and streamed text); hidden when stderr is
/// not a terminal. Clones share the line.
#[derive(Clone)]
pub struct ProgressLine {
    bar: ProgressBar,
    state: Arc<Mutex<StepProgress>>,
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
        Self {
            bar,
            state: Arc::new(Mutex::new(state)),
        }
    }

    fn update(&self, change: impl FnOnce(&mut StepProgress) -> bool) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if change(&mut state) {
            self.bar.set_message(state.line());
        }
    }

    pub fn on_event(&self, event: &Event) {
        self.update(|state| state.on_event(event));
        if matches!(event, Event::End { .. }) {
            self.bar.finish_and_clear();
        }
    }

    /// A sink for the model's streamed text.
    pub fn text_sink(&self) -> crate::model::stream::TextSink {
        let line = self.clone();
        Arc::new(move |text: &str| {
            line.update(|state| {
                state.streaming.push_str(text);
                true
            })
        })
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl RunSink for ProgressLine {
    fn publish(&mut self, event: &Event) {
        self.on_event(event);
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
        p.streaming = format!("{}\nthe tail", "x".repeat(100));
        assert!(
            p.line()
                .ends_with(&format!(" · model: {} the tail", "x".repeat(51)))
        );
    }
}
