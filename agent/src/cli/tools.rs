//! `agent tools NAME --arg value ...`: run one of the agent's tools from the shell, with the same
//! code and output the model gets. Flags are mapped onto the tool's JSON schema.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Map, Value};

use agent_tools::{LocalExecutor, PathJail, ToolContext, ToolRegistry};

use crate::printer::Printer;

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  agent tools list\n  agent tools grep --pattern 'def main' --path src\n  agent tools view_file --path README.md --start-line 10\n  agent tools apply_patch --json '{\"patch\": \"...\"}'"
)]
pub struct ToolsArgs {
    /// The tool to run, or `list` to show them all.
    pub tool: String,
    /// The repository the tool works in.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// All arguments as one JSON object (instead of flags).
    #[arg(long)]
    pub json: Option<String>,
    /// The tool's arguments as `--name value` pairs (`--flag` alone means true).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub async fn run(args: ToolsArgs, printer: &Printer) -> Result<ExitCode> {
    let registry = agent_tools::builtin::default_registry();
    if args.tool == "list" {
        printer.result(&list(&registry));
        return Ok(ExitCode::SUCCESS);
    }
    let Some(tool) = registry.get(&args.tool) else {
        bail!(
            "unknown tool `{}`; run `agent tools list` (available: {})",
            args.tool,
            registry.names().collect::<Vec<_>>().join(", ")
        );
    };
    let schema = tool.parameters_schema();
    let arguments = match &args.json {
        Some(text) => serde_json::from_str(text).context("--json is not a valid JSON object")?,
        None => flags_to_json(&schema, &args.args)?,
    };
    let root = std::fs::canonicalize(&args.repo)
        .with_context(|| format!("cannot open {}", args.repo.display()))?;
    let jail =
        PathJail::new(&root).with_context(|| format!("cannot resolve {}", root.display()))?;
    let ctx = ToolContext::new(jail, Arc::new(LocalExecutor::new(&root)));
    match registry.call(&ctx, &args.tool, arguments).await {
        Ok(output) => {
            let mut text = output.text;
            if !text.ends_with('\n') {
                text.push('\n');
            }
            printer.result(&text);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            printer.error(&e.to_string());
            Ok(ExitCode::FAILURE)
        }
    }
}

fn list(registry: &ToolRegistry) -> String {
    let mut out = String::new();
    for tool in registry.tools() {
        let schema = tool.parameters_schema();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        // Required arguments first, in declaration order, then the optional ones.
        let mut params: Vec<String> = required
            .iter()
            .map(|k| format!("--{}", k.replace('_', "-")))
            .collect();
        if let Some(props) = schema["properties"].as_object() {
            params.extend(
                props
                    .keys()
                    .filter(|k| !required.contains(&k.as_str()))
                    .map(|k| format!("[--{}]", k.replace('_', "-"))),
            );
        }
        out.push_str(&format!(
            "{} {}\n    {}\n",
            tool.name(),
            params.join(" "),
            tool.description()
        ));
    }
    out
}

/// Maps `--start-line 10 --literal --pattern x` onto the schema's properties, typing each value
/// by the property's declared type.
fn flags_to_json(schema: &Value, flags: &[String]) -> Result<Value> {
    let props = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut out = Map::new();
    let mut i = 0;
    while i < flags.len() {
        let flag = &flags[i];
        let Some(name) = flag.strip_prefix("--") else {
            bail!("unexpected argument `{flag}`; give arguments as --name value");
        };
        let (name, inline) = match name.split_once('=') {
            Some((n, v)) => (n.replace('-', "_"), Some(v.to_string())),
            None => (name.replace('-', "_"), None),
        };
        let Some(prop) = props.get(&name) else {
            bail!(
                "unknown argument --{} for this tool; it takes: {}",
                name.replace('_', "-"),
                props
                    .keys()
                    .map(|k| format!("--{}", k.replace('_', "-")))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        let kind = property_type(prop);
        let value = if kind == "boolean"
            && inline.is_none()
            && flags.get(i + 1).is_none_or(|n| n.starts_with("--"))
        {
            Value::Bool(true)
        } else {
            let raw = match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    flags
                        .get(i)
                        .cloned()
                        .with_context(|| format!("--{} needs a value", name.replace('_', "-")))?
                }
            };
            match kind.as_str() {
                "integer" | "number" | "boolean" => {
                    serde_json::from_str(&raw).with_context(|| {
                        format!("--{} expects a {kind}, got `{raw}`", name.replace('_', "-"))
                    })?
                }
                _ => Value::String(raw),
            }
        };
        out.insert(name, value);
        i += 1;
    }
    Ok(Value::Object(out))
}

/// The JSON type of a schema property; `Option<T>` fields appear as `["T", "null"]`.
fn property_type(prop: &Value) -> String {
    match &prop["type"] {
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("string")
            .to_string(),
        _ => "string".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flags_are_typed_by_the_schema() {
        let schema = json!({"properties": {
            "path": {"type": "string"},
            "start_line": {"type": ["integer", "null"]},
            "literal": {"type": ["boolean", "null"]}
        }});
        let flags: Vec<String> = ["--path", "a.py", "--start-line", "3", "--literal"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            flags_to_json(&schema, &flags).unwrap(),
            json!({"path": "a.py", "start_line": 3, "literal": true})
        );
        let bad: Vec<String> = ["--nope", "1"].iter().map(|s| s.to_string()).collect();
        assert!(
            flags_to_json(&schema, &bad)
                .unwrap_err()
                .to_string()
                .contains("--path")
        );
        let bad: Vec<String> = ["--start-line", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(flags_to_json(&schema, &bad).is_err());
    }
}
