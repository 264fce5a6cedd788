//! Shaping the conversation: the plan in the first reply, and old observations shortened.

use crate::model::{Message, Role};

/// Characters kept of an observation older than the newest `keep_full_observations`.
pub(super) const ELIDED_OBSERVATION_CHARS: usize = 600;

/// The conversation as sent to the model: the newest `keep` observations in full, older ones
/// shortened with a marker. The trajectory keeps everything; this only shapes the request.
pub(super) fn elide_old_observations(
    messages: &[Message],
    keep: usize,
    max_chars: usize,
) -> Vec<Message> {
    let is_observation =
        |m: &Message| m.role == Role::Tool || m.text().starts_with("Observation from `");
    let total = messages.iter().filter(|m| is_observation(m)).count();
    let mut seen = 0;
    messages
        .iter()
        .map(|m| {
            if !is_observation(m) {
                return m.clone();
            }
            seen += 1;
            let text = m.text();
            if total - seen < keep || text.chars().count() <= max_chars {
                return m.clone();
            }
            let head: String = text.chars().take(max_chars).collect();
            let mut short = m.clone();
            short.content = Some(format!(
                "{head}\n[... older output shortened to save context; run the tool again to see it in full]"
            ));
            short
        })
        .collect()
}

/// The plan in the model's first reply: the text after a `PLAN:` line, else the whole reasoning.
pub(super) fn extract_plan(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let plan = match lower.find("plan:") {
        Some(i) => text[i + "plan:".len()..].trim(),
        None => text,
    };
    // Stop before an action block, which is not part of the plan.
    let plan = plan.split("```action").next().unwrap_or(plan).trim();
    (!plan.is_empty()).then(|| plan.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_long_observations_are_shortened() {
        let long = "x".repeat(2000);
        let mut messages = vec![Message::system("s"), Message::user("task")];
        for i in 0..5 {
            messages.push(Message::assistant(format!("step {i}")));
            messages.push(Message::tool_result(format!("c{i}"), long.clone()));
        }
        messages.push(Message::tool_result("short", "ok"));
        let out = elide_old_observations(&messages, 3, 100);
        let lens: Vec<usize> = out.iter().map(|m| m.text().len()).collect();
        // Observations 0..2 are old and long: shortened. 3, 4 and "short" are the newest three.
        assert!(lens[3] < 300 && lens[5] < 300 && lens[7] < 300, "{lens:?}");
        assert_eq!(lens[9], 2000);
        assert_eq!(lens[11], 2000);
        assert!(out[3].text().contains("run the tool again"));
        assert_eq!(out[0], messages[0]);
    }

    #[test]
    fn plan_is_taken_after_the_plan_marker() {
        let t = "The bug is in x.\nPLAN:\n1. read x\n2. fix\n```action\n{}\n```";
        assert_eq!(extract_plan(t).unwrap(), "1. read x\n2. fix");
        assert_eq!(extract_plan("just think").unwrap(), "just think");
        assert_eq!(extract_plan("  "), None);
    }
}
