//! Text-action mode: for models without function calling, the action is a fenced block in the
//! message text. The format is documented for the model in `prompts/text_actions.md`:
//!
//! ````text
//! ```action
//! {"tool": "view_file", "arguments": {"path": "src/app.py"}}
//! ```
//! ````

use serde_json::Value;

use super::ToolCall;

/// Why no action could be read from a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionParseError {
    NoActionBlock,
    SeveralActionBlocks(usize),
    BadJson(String),
    MissingTool,
}

impl std::fmt::Display for ActionParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoActionBlock => write!(f, "no ```action block found in your message"),
            Self::SeveralActionBlocks(n) => write!(
                f,
                "{n} ```action blocks found; send exactly one per message"
            ),
            Self::BadJson(e) => write!(f, "the ```action block is not valid JSON: {e}"),
            Self::MissingTool => write!(f, "the ```action block has no \"tool\" field"),
        }
    }
}

/// Finds the single ```action block in `text` and reads the call from it.
pub fn parse_action(text: &str, call_id: &str) -> Result<ToolCall, ActionParseError> {
    let blocks = fenced_blocks(text, "action");
    let body = match blocks.as_slice() {
        [] => return Err(ActionParseError::NoActionBlock),
        [one] => one,
        many => return Err(ActionParseError::SeveralActionBlocks(many.len())),
    };
    let value: Value =
        serde_json::from_str(body.trim()).map_err(|e| ActionParseError::BadJson(e.to_string()))?;
    let name = value
        .get("tool")
        .or_else(|| value.get("name"))
        .and_then(Value::as_str)
        .ok_or(ActionParseError::MissingTool)?;
    let arguments = value
        .get("arguments")
        .or_else(|| value.get("args"))
        .cloned()
        .unwrap_or(Value::Object(Default::default()));
    Ok(ToolCall {
        id: call_id.to_string(),
        name: name.to_string(),
        arguments: arguments.to_string(),
    })
}

/// A tool call written in the text, in any spelling small models use: the ```action block,
/// a `<tool_call>` block, a fenced `json` (or untagged) block, or a bare JSON object. Outside the
/// action block, an object counts only when it names one of `known` tools, so JSON the model
/// quotes for another reason is not run. The first call found wins.
pub fn parse_text_call(
    text: &str,
    known: &[&str],
    call_id: &str,
) -> Result<ToolCall, ActionParseError> {
    match parse_action(text, call_id) {
        Err(ActionParseError::NoActionBlock) => {}
        other => return other,
    }
    let candidates = tagged_blocks(text, "<tool_call>", "</tool_call>")
        .into_iter()
        .chain(
            fenced_blocks_any(text)
                .into_iter()
                .filter(|(info, _)| matches!(*info, "json" | "" | "tool_call" | "tool"))
                .map(|(_, body)| body),
        )
        .flat_map(json_objects)
        .chain(json_objects(text));
    for value in candidates {
        if let Some(call) = call_from_value(&value, call_id)
            && known.contains(&call.name.as_str())
        {
            return Ok(call);
        }
    }
    Err(ActionParseError::NoActionBlock)
}

/// `{"tool"|"name": ..., "arguments"|"args"|"parameters": {...}}`, also nested under
/// `"function"` as the OpenAI wire format has it.
fn call_from_value(value: &Value, call_id: &str) -> Option<ToolCall> {
    let value = value
        .get("function")
        .filter(|f| f.is_object())
        .unwrap_or(value);
    let name = value
        .get("tool")
        .or_else(|| value.get("name"))
        .and_then(Value::as_str)?;
    let arguments = value
        .get("arguments")
        .or_else(|| value.get("args"))
        .or_else(|| value.get("parameters"))
        .cloned()
        .unwrap_or(Value::Object(Default::default()));
    // Arguments sent as a JSON string holding the object.
    let arguments = match arguments {
        Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        other => other,
    };
    Some(ToolCall {
        id: call_id.to_string(),
        name: name.to_string(),
        arguments: arguments.to_string(),
    })
}

/// Every JSON object that starts at a `{` in `text` and parses, outermost first.
fn json_objects(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(offset) = text[from..].find('{') {
        let start = from + offset;
        let mut stream = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(value)) if value.is_object() => {
                out.push(value);
                from = start + stream.byte_offset();
            }
            _ => from = start + 1,
        }
    }
    out
}

/// Bodies between `open` and `close` markers.
fn tagged_blocks<'a>(text: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(open) {
        let after = &rest[start + open.len()..];
        let end = after.find(close).unwrap_or(after.len());
        out.push(&after[..end]);
        rest = &after[end..];
        if rest.is_empty() {
            break;
        }
        rest = &rest[close.len().min(rest.len())..];
    }
    out
}

/// (info string, body) of every ``` fence.
fn fenced_blocks_any(text: &str) -> Vec<(&str, &str)> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let info_end = after.find('\n').unwrap_or(after.len());
        let info = after[..info_end].trim();
        let body_start = (info_end + 1).min(after.len());
        let Some(close) = after[body_start..].find("```") else {
            break;
        };
        blocks.push((info, &after[body_start..body_start + close]));
        rest = &after[body_start + close + 3..];
    }
    blocks
}

/// Bodies of ``` fences whose info string is `tag`.
fn fenced_blocks<'a>(text: &'a str, tag: &str) -> Vec<&'a str> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let info_end = after.find('\n').unwrap_or(after.len());
        let info = after[..info_end].trim();
        let body_start = (info_end + 1).min(after.len());
        let Some(close) = after[body_start..].find("```") else {
            break;
        };
        if info == tag {
            blocks.push(&after[body_start..body_start + close]);
        }
        rest = &after[body_start + close + 3..];
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_action_block() {
        let text = "I will look.\n```action\n{\"tool\": \"view_file\", \"arguments\": {\"path\": \"a.py\"}}\n```\n";
        let call = parse_action(text, "t1").unwrap();
        assert_eq!(call.name, "view_file");
        assert_eq!(call.arguments, "{\"path\":\"a.py\"}");
    }

    #[test]
    fn other_fences_are_ignored_and_args_alias_works() {
        let text = "```python\nx = 1\n```\n```action\n{\"tool\": \"run\", \"args\": {\"command\": \"ls\"}}\n```";
        assert_eq!(parse_action(text, "t").unwrap().name, "run");
    }

    #[test]
    fn every_spelling_of_a_known_tool_call_is_read() {
        let known = ["view_file", "grep"];
        let spellings = [
            "Let me look.\n{\"name\": \"view_file\", \"arguments\": {\"path\": \"a.py\"}}",
            "<tool_call>\n{\"name\": \"view_file\", \"arguments\": {\"path\": \"a.py\"}}\n</tool_call>",
            "```json\n{\"name\": \"view_file\", \"arguments\": {\"path\": \"a.py\"}}\n```",
            "```action\n{\"tool\": \"view_file\", \"arguments\": {\"path\": \"a.py\"}}\n```",
            "{\"type\": \"function\", \"function\": {\"name\": \"view_file\", \"arguments\": \"{\\\"path\\\": \\\"a.py\\\"}\"}}",
            "{\"name\": \"view_file\", \"parameters\": {\"path\": \"a.py\"}}",
        ];
        for text in spellings {
            let call = parse_text_call(text, &known, "t").unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(call.name, "view_file", "{text}");
            assert_eq!(call.arguments, "{\"path\":\"a.py\"}", "{text}");
        }
    }

    #[test]
    fn json_that_names_no_known_tool_is_not_a_call() {
        let known = ["view_file"];
        for text in [
            "The config is {\"name\": \"prod\", \"arguments\": {}}.",
            "```json\n{\"path\": \"a.py\"}\n```",
            "PLAN:\n1. read the code\n2. fix it",
        ] {
            assert_eq!(
                parse_text_call(text, &known, "t"),
                Err(ActionParseError::NoActionBlock),
                "{text}"
            );
        }
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            parse_action("nothing", "t"),
            Err(ActionParseError::NoActionBlock)
        );
        let two = "```action\n{\"tool\":\"a\"}\n```\n```action\n{\"tool\":\"b\"}\n```";
        assert_eq!(
            parse_action(two, "t"),
            Err(ActionParseError::SeveralActionBlocks(2))
        );
        assert!(matches!(
            parse_action("```action\n{oops\n```", "t"),
            Err(ActionParseError::BadJson(_))
        ));
        assert_eq!(
            parse_action("```action\n{\"x\":1}\n```", "t"),
            Err(ActionParseError::MissingTool)
        );
    }
}
