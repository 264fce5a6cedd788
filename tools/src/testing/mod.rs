//! `run_tests`: runs the repository's tests through the executor (the sandbox when there is
//! one) and turns the output into counts, failing tests with their messages and traceback
//! lines, and what changed since the previous run of the session.

pub mod compare;
pub mod detect;
pub mod parse;
pub mod report;

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

pub use compare::{Comparison, compare};
pub use detect::{Runner, command_for, detect_runner};
pub use parse::parse_output;
pub use report::{Counts, FailureKind, Framework, TestFailure, TestReport};

use crate::error::{ToolError, ToolResult};
use crate::executor::{ExecError, ExecOutput, ExecRequest};
use crate::text::truncate_middle;
use crate::tool::{Effect, ToolContext, ToolData, ToolOutput, TypedTool};

const DEFAULT_TIMEOUT_SECS: u64 = 600;
const MAX_TIMEOUT_SECS: u64 = 3600;
/// Failures shown in full; the rest are listed by name.
const MAX_FAILURES_SHOWN: usize = 10;
const MAX_NAMES_LISTED: usize = 30;
const RAW_TAIL_CHARS: usize = 4_000;

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct RunTestsArgs {
    /// Test files, directories or test ids to run (e.g. `tests/test_x.py::test_y`, `./pkg`,
    /// `tests/integration.rs`). Default: the whole suite.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Only tests whose name matches (pytest `-k`, cargo test filter, go test `-run`, jest `-t`).
    #[serde(default)]
    pub selector: Option<String>,
    /// A full test command to run instead of the configured or detected one.
    #[serde(default)]
    pub command: Option<String>,
    /// Seconds before the run is killed (default 600).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// One finished run, as the session keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TestRun {
    pub command: String,
    pub exit_code: Option<i64>,
    pub timed_out: bool,
    pub duration_ms: u64,
    pub report: TestReport,
    /// Against the previous run of this session (`None` for the first).
    pub comparison: Option<Comparison>,
}

/// The tool. Holds the session's runs, so keep one instance per session.
#[derive(Debug, Default)]
pub struct RunTests {
    /// The configured test command (config `test_command`); detected when `None`.
    configured: Option<String>,
    runs: Mutex<Vec<TestRun>>,
}

impl RunTests {
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `command` as the repository's test command instead of detecting one.
    pub fn with_command(command: impl Into<String>) -> Self {
        Self {
            configured: Some(command.into()),
            runs: Mutex::new(Vec::new()),
        }
    }

    /// Every run of this session so far, oldest first.
    pub fn runs(&self) -> Vec<TestRun> {
        self.runs.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn resolve_command(
        &self,
        ctx: &ToolContext,
        args: &RunTestsArgs,
    ) -> ToolResult<(String, Option<Framework>)> {
        let narrowed = |base: &str| {
            let mut parts = vec![base.to_string()];
            parts.extend(args.paths.iter().map(|p| detect::shell_quote(p)));
            // A name pattern only means something to a runner we recognise in the command.
            if let Some(selector) = &args.selector {
                if base.contains("pytest") || base.contains("runtests.py") {
                    parts.push(format!("-k {}", detect::shell_quote(selector)));
                } else if base.contains("go test") {
                    parts.push(format!("-run {}", detect::shell_quote(selector)));
                }
            }
            parts.join(" ")
        };
        if let Some(command) = args.command.as_deref().filter(|c| !c.trim().is_empty()) {
            return Ok((command.to_string(), None));
        }
        if let Some(configured) = &self.configured {
            return Ok((narrowed(configured), None));
        }
        let runner = detect_runner(ctx.repo_root()).ok_or_else(|| {
            ToolError::model(
                "cannot tell how this repository runs its tests (no pytest/tox/setup.cfg/pyproject \
                 settings, Cargo.toml, go.mod or package.json test script); pass `command`",
            )
        })?;
        Ok((
            command_for(runner, &args.paths, args.selector.as_deref()),
            runner.framework(),
        ))
    }
}

#[async_trait]
impl TypedTool for RunTests {
    type Args = RunTestsArgs;
    const NAME: &'static str = "run_tests";
    const EFFECT: Effect = Effect::RunsCommands;
    const DESCRIPTION: &'static str = "Run the repository's tests (its configured or detected test command: pytest, Django's runtests.py, cargo test, go test, npm test) in the sandbox and get a structured result: counts, each failing test with its assertion message, location and traceback lines, and what changed since your previous run_tests call (newly failing, newly passing, still failing). Narrow the run with `paths` (files, directories, test ids) or `selector` (a name pattern).";

    async fn call(&self, ctx: &ToolContext, args: RunTestsArgs) -> ToolResult<ToolOutput> {
        let (command, expected) = self.resolve_command(ctx, &args)?;
        let timeout = args
            .timeout_secs
            .unwrap_or(DEFAULT_TIMEOUT_SECS)
            .clamp(1, MAX_TIMEOUT_SECS);
        let mut request = ExecRequest::new(command.clone()).timeout(Duration::from_secs(timeout));
        // Wide terminal lines keep pytest from cutting messages; no bytecode or cache files
        // end up in the diff.
        request.env.push(("COLUMNS".into(), "200".into()));
        request
            .env
            .push(("PYTHONDONTWRITEBYTECODE".into(), "1".into()));
        let output = ctx.executor.exec(request).await.map_err(|e| match e {
            ExecError::Unavailable(m) => ToolError::fatal(m),
            ExecError::Io(m) => ToolError::model(m),
        })?;
        let combined = format!("{}\n{}", output.stdout, output.stderr);
        let report = parse_output(&combined, expected);
        let run = {
            let mut runs = self
                .runs
                .lock()
                .map_err(|_| ToolError::fatal("the test history lock is poisoned"))?;
            let comparison = runs
                .last()
                .map(|prev| compare(&prev.report, &report, prev.command == command));
            let run = TestRun {
                command: command.clone(),
                exit_code: output.exit_code,
                timed_out: output.timed_out,
                duration_ms: output.duration_ms,
                report,
                comparison,
            };
            runs.push(run.clone());
            run
        };
        let text = render(&run, &output, timeout);
        // The structured run goes into the trajectory and the pull-request report.
        Ok(ToolOutput::text(text).with_data(ToolData::TestRun(Box::new(run))))
    }
}

/// The observation the model sees.
pub fn render(run: &TestRun, output: &ExecOutput, timeout_secs: u64) -> String {
    let mut text = format!(
        "$ {}\n[exit code {}; {:.1}s]\n",
        run.command,
        run.exit_code
            .map_or("none (killed)".to_string(), |c| c.to_string()),
        run.duration_ms as f64 / 1000.0
    );
    if run.timed_out {
        text.push_str(&format!(
            "[timed out after {timeout_secs}s; the results below are partial]\n"
        ));
    }
    let report = &run.report;
    if report.is_empty() {
        text.push_str("No test results were recognised in the output. Its end:\n");
        text.push_str(&raw_tail(output));
        return text;
    }
    let framework = report.framework.map_or("tests", Framework::name);
    text.push_str(&format!("{framework}: {}\n", report.counts_line()));
    if !report.failures.is_empty() {
        text.push_str("\nFailing:\n");
    }
    for (index, failure) in report.failures.iter().enumerate() {
        let label = match failure.kind {
            FailureKind::Failed => "FAILED",
            FailureKind::Error => "ERROR",
        };
        if index >= MAX_FAILURES_SHOWN {
            if index < MAX_NAMES_LISTED {
                text.push_str(&format!("  {label} {}\n", failure.name));
            } else if index == MAX_NAMES_LISTED {
                text.push_str(&format!(
                    "  ... and {} more\n",
                    report.failures.len() - MAX_NAMES_LISTED
                ));
            }
            continue;
        }
        text.push_str(&format!("  {label} {}", failure.name));
        if let Some(message) = &failure.message {
            text.push_str(&format!(" - {message}"));
        }
        text.push('\n');
        if let Some(location) = &failure.location {
            text.push_str(&format!("      at {location}\n"));
        }
        for line in &failure.details {
            text.push_str(&format!("      | {line}\n"));
        }
    }
    if let Some(comparison) = &run.comparison {
        text.push_str("\nCompared with the previous run:\n");
        if comparison.is_empty() {
            text.push_str("  no failing tests before or now\n");
        }
        for (label, names) in [
            ("newly failing", &comparison.newly_failing),
            ("newly passing", &comparison.newly_passing),
            ("still failing", &comparison.still_failing),
        ] {
            if !names.is_empty() {
                text.push_str(&format!("  {label} ({}): {}\n", names.len(), list(names)));
            }
        }
    }
    // Without messages the model needs the raw output to see what happened.
    if report.failures.iter().any(|f| f.message.is_none()) || run.timed_out {
        text.push_str("\nEnd of the output:\n");
        text.push_str(&raw_tail(output));
    }
    text
}

fn list(names: &[String]) -> String {
    let shown: Vec<&str> = names
        .iter()
        .take(MAX_NAMES_LISTED)
        .map(String::as_str)
        .collect();
    let mut text = shown.join(", ");
    if names.len() > MAX_NAMES_LISTED {
        text.push_str(&format!(
            ", ... and {} more",
            names.len() - MAX_NAMES_LISTED
        ));
    }
    text
}

fn raw_tail(output: &ExecOutput) -> String {
    let mut raw = output.stdout.clone();
    if !output.stderr.trim().is_empty() {
        raw.push_str("\n[stderr]\n");
        raw.push_str(&output.stderr);
    }
    let chars: Vec<char> = raw.chars().collect();
    let tail: String = if chars.len() > RAW_TAIL_CHARS {
        let start = chars.len() - RAW_TAIL_CHARS;
        format!(
            "[... {start} characters before ...]\n{}",
            chars[start..].iter().collect::<String>()
        )
    } else {
        raw
    };
    let mut tail = truncate_middle(&tail, RAW_TAIL_CHARS + 200);
    if !tail.ends_with('\n') {
        tail.push('\n');
    }
    tail
}

#[cfg(test)]
mod tests;
