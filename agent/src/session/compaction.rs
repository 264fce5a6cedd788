//! Keeping the conversation inside the context window: older turns become a ledger (plan, facts,
//! files touched, tests, failed attempts) written by a model call, the newest turns stay whole.

use minijinja::context;

use crate::model::{ChatRequest, Message, ModelClient, Role, Usage};
use crate::prompts::{PromptError, Prompts};

/// Fraction of the context window a request may fill before older turns are compacted.
pub const COMPACT_AT: f64 = 0.8;
/// Characters per token assumed when estimating (conservative for code and JSON).
pub const CHARS_PER_TOKEN: usize = 3;

/// Rough token count of a request: its messages and tool definitions.
pub fn estimate_tokens(messages: &[Message], tool_defs: &[serde_json::Value]) -> usize {
    let chars: usize = messages
        .iter()
        .map(|m| {
            m.text().len()
                + m.tool_calls
                    .iter()
                    .map(|c| c.name.len() + c.arguments.len())
                    .sum::<usize>()
                + 16
        })
        .sum::<usize>()
        + tool_defs.iter().map(|d| d.to_string().len()).sum::<usize>();
    chars / CHARS_PER_TOKEN
}

/// Where the kept tail starts when the newest `keep` messages stay whole: never on a tool
/// result (it must follow the assistant message that called it). `None` when there is nothing
/// older than the tail to compact (the first two messages, system and task, always stay).
pub fn split_point(messages: &[Message], keep: usize) -> Option<usize> {
    let mut split = messages.len().saturating_sub(keep).max(2);
    while split < messages.len() && messages[split].role == Role::Tool {
        split += 1;
    }
    (split > 2 && split < messages.len()).then_some(split)
}

/// The older messages as plain text for the compaction call, at most `max_chars`.
pub fn transcript(messages: &[Message], max_chars: usize) -> String {
    let mut text = String::new();
    for m in messages {
        let who = match m.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool result",
        };
        text.push_str(&format!("[{who}] {}\n", m.text()));
        for c in &m.tool_calls {
            text.push_str(&format!("[call] {} {}\n", c.name, c.arguments));
        }
    }
    agent_tools::text::truncate_middle(&text, max_chars)
}

/// What a compaction produced.
pub struct Compacted {
    /// The ledger message that replaces the older turns.
    pub message: Message,
    pub ledger: String,
    /// Messages replaced.
    pub dropped: usize,
    pub usage: Usage,
    /// Why the ledger is mechanical, if the model call failed.
    pub fallback: Option<String>,
}

/// Summarises `older` into a ledger with one model call. When that call fails (the transcript
/// alone can be too long for a tiny window) the ledger is built from what the session knows.
pub async fn compact(
    model: &dyn ModelClient,
    prompts: &Prompts,
    task: &str,
    older: &[Message],
    window_tokens: usize,
    known: &KnownState,
) -> Result<Compacted, PromptError> {
    let budget_chars = (window_tokens / 2).max(1000) * CHARS_PER_TOKEN;
    let request = prompts.render(
        "compact.md",
        context! { task => agent_tools::text::truncate_middle(task, budget_chars / 4), transcript => transcript(older, budget_chars) },
    )?;
    let messages = [Message::user(request)];
    let (ledger, usage, fallback) = match model
        .chat(ChatRequest {
            messages: &messages,
            tools: &[],
            require_tool: false,
        })
        .await
    {
        Ok(r) if !r.message.text().trim().is_empty() => {
            (r.message.text().trim().to_string(), r.usage, None)
        }
        Ok(r) => (
            known.mechanical_ledger(),
            r.usage,
            Some("the model's ledger was empty".to_string()),
        ),
        Err(e) => (
            known.mechanical_ledger(),
            Usage::default(),
            Some(e.to_string()),
        ),
    };
    let text = prompts.render(
        "ledger.md",
        context! { dropped => older.len(), ledger => ledger, changed_files => known.changed_files.join(", ") },
    )?;
    Ok(Compacted {
        message: Message::user(text),
        ledger,
        dropped: older.len(),
        usage,
        fallback,
    })
}

/// What the session itself knows, for a ledger without a model.
#[derive(Debug, Default)]
pub struct KnownState {
    pub plan: Option<String>,
    pub changed_files: Vec<String>,
    pub last_observations: Vec<String>,
}

impl KnownState {
    fn mechanical_ledger(&self) -> String {
        let mut out = format!(
            "PLAN: {}\n",
            self.plan.as_deref().unwrap_or("(none recorded)")
        );
        if !self.last_observations.is_empty() {
            out.push_str("LAST RESULTS:\n");
            for o in &self.last_observations {
                out.push_str(&format!(
                    "- {}\n",
                    agent_tools::text::truncate_middle(o, 400)
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_never_starts_with_a_tool_result() {
        let mut m = vec![Message::system("s"), Message::user("t")];
        for i in 0..4 {
            m.push(Message::assistant(format!("a{i}")));
            m.push(Message::tool_result(format!("c{i}"), "r"));
        }
        // keep 3 → would start at index 7 (a tool result): moves to 8.
        assert_eq!(split_point(&m, 3), Some(8));
        assert_eq!(split_point(&m, 4), Some(6));
        assert_eq!(split_point(&m, 8), None);
        assert_eq!(split_point(&m[..3], 1), None);
    }

    #[test]
    fn estimates_grow_with_text_and_tools() {
        let m = vec![Message::user("x".repeat(3000))];
        let small = estimate_tokens(&m, &[]);
        assert!((1000..1100).contains(&small), "{small}");
        let tools = vec![serde_json::json!({"name": "y".repeat(300)})];
        assert!(estimate_tokens(&m, &tools) > small + 90);
    }
}
