//! Tool schemas as the model sees them: without the noise a derive leaves in (`format: uint`,
//! `default: null`, `["integer", "null"]`), and as a one-line argument summary for error messages.

use serde_json::{Map, Value};

/// Removes what only costs tokens: `format` and `minimum` of integers, `default: null`, and a
/// nullable type (`["integer", "null"]` becomes `"integer"`: a missing optional argument says
/// the same). Applies recursively.
pub fn clean_schema(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            map.remove("format");
            if map.get("type").is_some_and(|t| {
                t == "integer"
                    || t.as_array()
                        .is_some_and(|a| a.iter().any(|v| v == "integer"))
            }) {
                map.remove("minimum");
            }
            if map.get("default").is_some_and(Value::is_null) {
                map.remove("default");
            }
            if let Some(Value::Array(types)) = map.get("type") {
                let non_null: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                if non_null.len() == 1 {
                    map.insert("type".into(), non_null[0].clone());
                }
            }
            // `anyOf: [{...}, {"type": "null"}]` is how an optional enum comes out.
            if let Some(Value::Array(any)) = map.get("anyOf") {
                let non_null: Vec<Value> = any
                    .iter()
                    .filter(|v| v.get("type").is_none_or(|t| t != "null"))
                    .cloned()
                    .collect();
                if non_null.len() == 1
                    && let Value::Object(inner) = &non_null[0]
                {
                    let inner: Map<String, Value> = inner.clone();
                    map.remove("anyOf");
                    for (k, v) in inner {
                        map.entry(k).or_insert(v);
                    }
                }
            }
            for v in map.values_mut() {
                clean_schema(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(clean_schema),
        _ => {}
    }
}

/// Shortens an OpenAI tool definition for small context windows: the tool's description and
/// every argument's description keep their first sentence only.
pub fn shorten_definition(definition: &mut Value) {
    let function = if definition.get("function").is_some() {
        &mut definition["function"]
    } else {
        definition
    };
    shorten_description(function);
    if let Some(Value::Object(props)) = function.pointer_mut("/parameters/properties") {
        for prop in props.values_mut() {
            shorten_description(prop);
        }
    }
}

fn shorten_description(v: &mut Value) {
    if let Some(Value::String(d)) = v.get_mut("description") {
        let end = d
            .match_indices(". ")
            .map(|(i, _)| i + 1)
            .chain(d.find(".\n").map(|i| i + 1))
            .min()
            .unwrap_or(d.len());
        d.truncate(end);
    }
}

/// `path (string, required), start_line (integer)`: the arguments a schema takes, for the
/// message that tells the model its call was wrong.
pub fn argument_summary(schema: &Value) -> String {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return "no arguments".into();
    };
    if props.is_empty() {
        return "no arguments".into();
    }
    props
        .iter()
        .map(|(name, prop)| {
            let ty = match prop.get("type") {
                Some(Value::String(t)) => t.clone(),
                Some(Value::Array(ts)) => ts
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|t| *t != "null")
                    .collect::<Vec<_>>()
                    .join("|"),
                _ if prop.get("enum").is_some() => "enum".into(),
                _ => "value".into(),
            };
            if required.contains(&name.as_str()) {
                format!("{name} ({ty}, required)")
            } else {
                format!("{name} ({ty})")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn noise_is_removed_and_meaning_kept() {
        let mut s = json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "file"},
                "start_line": {"type": ["integer", "null"], "format": "uint", "minimum": 0, "default": null},
                "mode": {"anyOf": [{"type": "string", "enum": ["a", "b"]}, {"type": "null"}]},
            },
            "required": ["path"],
        });
        clean_schema(&mut s);
        assert_eq!(
            s,
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "file"},
                    "start_line": {"type": "integer"},
                    "mode": {"type": "string", "enum": ["a", "b"]},
                },
                "required": ["path"],
            })
        );
    }

    #[test]
    fn shortened_definitions_keep_first_sentences() {
        let mut d = json!({"type": "function", "function": {
            "name": "grep",
            "description": "Search files. Uses regex. Many options.",
            "parameters": {"type": "object", "properties": {
                "pattern": {"type": "string", "description": "A regex. Rust syntax."},
                "path": {"type": "string"}
            }}
        }});
        shorten_definition(&mut d);
        assert_eq!(d["function"]["description"], "Search files.");
        assert_eq!(
            d["function"]["parameters"]["properties"]["pattern"]["description"],
            "A regex."
        );
        assert!(
            d["function"]["parameters"]["properties"]["path"]
                .get("description")
                .is_none()
        );
    }

    #[test]
    fn summary_lists_arguments_and_marks_required_ones() {
        let s = json!({"type": "object", "properties": {
            "pattern": {"type": "string"}, "path": {"type": ["string", "null"]}
        }, "required": ["pattern"]});
        assert_eq!(
            argument_summary(&s),
            "path (string), pattern (string, required)"
        );
        assert_eq!(
            argument_summary(&json!({"type": "object", "properties": {}})),
            "no arguments"
        );
    }
}
