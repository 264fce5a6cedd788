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
