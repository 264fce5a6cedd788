//! The `Tool` trait and what a call returns.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ToolError, ToolResult};
use crate::executor::Executor;
use crate::jail::PathJail;
use crate::testing::TestRun;

/// What every tool call can reach: the repository (through the path jail) and the executor.
#[derive(Clone)]
pub struct ToolContext {
    pub jail: PathJail,
    pub executor: Arc<dyn Executor>,
}

impl ToolContext {
    pub fn new(jail: PathJail, executor: Arc<dyn Executor>) -> Self {
        Self { jail, executor }
    }

    pub fn repo_root(&self) -> &std::path::Path {
        self.jail.root()
    }
}

/// A signal from a tool to the session loop, beyond the observation text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Control {
    /// The model is done; the run ends with this summary.
    Submit { summary: String },
    /// The model revised its plan.
    UpdatePlan { plan: String },
    /// The task is too ambiguous: the run ends with these questions for the author.
    AskClarification { questions: String },
}

/// What calling a tool can do, declared by the tool itself. Replay, reports and the security
/// rules read this, never the tool's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Reads files in the repository; changes nothing.
    ReadsFiles,
    /// Writes files in the repository (through the path jail).
    WritesFiles,
    /// Runs commands in the executor (a sandbox, or the host with `--sandbox local`).
    RunsCommands,
    /// Only talks to the session loop (plan, submit, questions).
    ControlsSession,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::ReadsFiles => "reads_files",
            Effect::WritesFiles => "writes_files",
            Effect::RunsCommands => "runs_commands",
            Effect::ControlsSession => "controls_session",
        }
    }
}

/// A command's exit status, as `run` reports it beside its output.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommandRun {
    pub command: String,
    /// `None` when the process was killed (timeout, signal).
    pub exit_code: Option<i64>,
    pub timed_out: bool,
}

/// Structured results of a tool call, beside the text the model sees. Serialized without a
/// tag, so the trajectory's `tool_data` events keep the shape they always had.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum ToolData {
    /// A test run: counts, failing tests, the comparison with the previous run.
    TestRun(Box<TestRun>),
    /// A command's exit status (the session reads it to find a reproduction).
    Command(CommandRun),
    /// Data this version does not know (read from another version's trajectory).
    Other(serde_json::Value),
}

impl ToolData {
    /// The command and how it ended, for every tool that ran one.
    pub fn command(&self) -> Option<CommandRun> {
        match self {
            ToolData::TestRun(run) => Some(CommandRun {
                command: run.command.clone(),
                exit_code: run.exit_code,
                timed_out: run.timed_out,
            }),
            ToolData::Command(run) => Some(run.clone()),
            ToolData::Other(_) => None,
        }
    }

    pub fn test_run(&self) -> Option<&TestRun> {
        match self {
            ToolData::TestRun(run) => Some(run),
            _ => None,
        }
    }
}

/// The successful result of a tool call.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ToolOutput {
    /// The observation shown to the model.
    pub text: String,
    /// Files (relative to the repository root) this call changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_files: Vec<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<Control>,
    /// Structured results for the trajectory and reports (e.g. a test run's counts), beside the
    /// text the model sees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ToolData>,
}

impl ToolOutput {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    pub fn with_changed(mut self, path: impl Into<PathBuf>) -> Self {
        self.changed_files.push(path.into());
        self
    }

    pub fn with_data(mut self, data: ToolData) -> Self {
        self.data = Some(data);
        self
    }

    pub fn with_control(mut self, control: Control) -> Self {
        self.control = Some(control);
        self
    }
}

/// A tool as the registry and the session see it: untyped JSON in, observation out.
#[async_trait]
pub trait Tool: Send + Sync {
    fn name(&self) -> &'static str;
    /// The description the model sees.
    fn description(&self) -> &'static str;
    /// JSON schema of the arguments object.
    fn parameters_schema(&self) -> Value;
    /// What a call can do.
    fn effect(&self) -> Effect;
    async fn call_json(&self, ctx: &ToolContext, args: Value) -> ToolResult<ToolOutput>;
    /// Called after any tool call changed files (paths relative to the repository root), so
    /// tools with state (the symbol index) can update incrementally.
    async fn files_changed(&self, _ctx: &ToolContext, _paths: &[std::path::PathBuf]) {}
}

/// A tool with a typed argument struct. Its schema is derived from the same struct that
/// deserializes the arguments, so the two cannot drift apart.
#[async_trait]
pub trait TypedTool: Send + Sync {
    type Args: DeserializeOwned + JsonSchema + Send;
    const NAME: &'static str;
    const DESCRIPTION: &'static str;
    const EFFECT: Effect;
    async fn call(&self, ctx: &ToolContext, args: Self::Args) -> ToolResult<ToolOutput>;
    async fn files_changed(&self, _ctx: &ToolContext, _paths: &[std::path::PathBuf]) {}
}

#[async_trait]
impl<T: TypedTool> Tool for T {
    fn name(&self) -> &'static str {
        T::NAME
    }

    fn description(&self) -> &'static str {
        T::DESCRIPTION
    }

    fn parameters_schema(&self) -> Value {
        schema_for::<T::Args>()
    }

    fn effect(&self) -> Effect {
        T::EFFECT
    }

    async fn call_json(&self, ctx: &ToolContext, args: Value) -> ToolResult<ToolOutput> {
        // Some models send `null` or a JSON string holding the object; accept both.
        let args = match args {
            Value::Null => Value::Object(Default::default()),
            Value::String(s) => serde_json::from_str(&s).map_err(|e| {
                ToolError::BadArguments(format!(
                    "arguments for `{}` are not a JSON object: {e}",
                    T::NAME
                ))
            })?,
            other => other,
        };
        let typed: T::Args = serde_json::from_value(args.clone()).map_err(|e| {
            ToolError::BadArguments(format!(
                "invalid arguments for `{}`: {e}. You sent {}; `{}` takes {}",
                T::NAME,
                crate::text::truncate_middle(&args.to_string(), 300),
                T::NAME,
                crate::schema::argument_summary(&schema_for::<T::Args>())
            ))
        })?;
        self.call(ctx, typed).await
    }

    async fn files_changed(&self, ctx: &ToolContext, paths: &[std::path::PathBuf]) {
        TypedTool::files_changed(self, ctx, paths).await
    }
}

/// The parameters schema of an argument struct, in the shape function-calling APIs expect:
/// an object schema without the `$schema`/`title` noise.
pub fn schema_for<A: JsonSchema>() -> Value {
    let settings = schemars::generate::SchemaSettings::draft07().with(|s| {
        s.inline_subschemas = true;
    });
    let schema = settings.into_generator().into_root_schema_for::<A>();
    let mut value = schema.to_value();
    if let Value::Object(map) = &mut value {
        map.remove("$schema");
        map.remove("title");
        map.entry("properties")
            .or_insert_with(|| Value::Object(Default::default()));
    }
    crate::schema::clean_schema(&mut value);
    value
}

#[cfg(test)]
mod data_tests {
    use super::*;
    use crate::testing::{Comparison, FailureKind, TestFailure, TestReport};

    /// A test run written to a trajectory reads back as a test run (not as unknown data), and a
    /// command's status as a command's status: the JSON has no tag, so each shape must parse.
    #[test]
    fn tool_data_reads_back_as_what_was_written() {
        let mut report = TestReport::default();
        report.counts.failed = 1;
        report.failures.push(TestFailure::new(
            "tests/test_a.py::test_a",
            FailureKind::Failed,
        ));
        let run = ToolData::TestRun(Box::new(TestRun {
            command: "pytest -q".into(),
            exit_code: Some(1),
            timed_out: false,
            duration_ms: 12,
            report,
            comparison: Some(Comparison::default()),
        }));
        let command = ToolData::Command(CommandRun {
            command: "python repro.py".into(),
            exit_code: None,
            timed_out: true,
        });
        for data in [run, command] {
            let text = serde_json::to_string(&data).unwrap();
            let back: ToolData = serde_json::from_str(&text).unwrap();
            assert_eq!(back, data, "{text}");
        }
        let other: ToolData = serde_json::from_str(r#"{"lines": 3}"#).unwrap();
        assert!(matches!(other, ToolData::Other(_)));
        assert!(other.command().is_none());
    }
}
