//! What happens in a run, as typed events, and the sinks they are published to.
//!
//! The session publishes every [`RunEvent`] once, to an [`EventBus`]. The bus hands it to the
//! trajectory writer (the JSON Lines record), to the [`ReportCollector`] (what the end of the
//! run is assembled from, in memory) and to any other [`RunSink`] (the terminal's progress
//! line). Nothing reads the trajectory file back during a run.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use agent_tools::ToolData;
use agent_tools::testing::TestRun;

use crate::model::{Message, Usage};
use crate::redact::Redactor;
use crate::session::CallRecord;
use crate::trajectory::{TrajectoryError, TrajectoryWriter};

/// One thing that happened in a run. Serialized with an `event` tag: these are the lines of
/// the trajectory file, whose event names and fields stay as they are for `agent replay`,
/// `agent view` and users' scripts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    Start {
        format_version: u32,
        model: String,
        base_url: String,
        repo: String,
        task: String,
        tool_mode: String,
        executor: String,
        /// Tool definitions sent with every request.
        tools: Vec<Value>,
        unix_time: u64,
    },
    /// A rendered prompt template.
    Prompt { name: String, text: String },
    /// Messages added to the conversation since the previous request; the full request is the
    /// concatenation of all `new_messages` so far (this keeps the file linear in the run's size).
    ModelRequest {
        step: u32,
        new_messages: Vec<Message>,
        message_count: usize,
    },
    ModelResponse {
        step: u32,
        message: Message,
        usage: Usage,
        cost_usd: Option<f64>,
        latency_ms: u64,
        attempts: u32,
        finish_reason: Option<String>,
    },
    Plan {
        step: u32,
        source: String,
        plan: String,
    },
    ToolCall {
        step: u32,
        call_id: String,
        name: String,
        arguments: String,
    },
    Observation {
        step: u32,
        call_id: String,
        ok: bool,
        text: String,
        duration_ms: u64,
        /// Files the call changed, as the tool reported them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        changed_files: Vec<String>,
    },
    /// Structured results of a tool call (a test run's counts and failing tests, a command's
    /// exit status).
    ToolData {
        step: u32,
        call_id: String,
        tool: String,
        data: ToolData,
    },
    /// Something the session told the model on its own (wrap up, repeated action, malformed).
    Notice {
        step: u32,
        kind: String,
        text: String,
    },
    StepTiming {
        step: u32,
        total_ms: f64,
        model_ms: f64,
        tools_ms: f64,
        overhead_ms: f64,
    },
    /// `--samples`: how one attempt's diff was chosen among several (the attempts' own
    /// trajectories are beside this one, `<name>.attempt-N.jsonl`).
    Selection {
        chosen: Option<usize>,
        decided_by: String,
        reasons: Vec<String>,
        /// Candidates, checks, test matrix, votes and the judge ([`crate::select::Selection`]).
        record: serde_json::Value,
    },
    End {
        exit_reason: String,
        detail: Option<String>,
        summary: Option<String>,
        plan: Option<String>,
        steps: u32,
        usage: Usage,
        cost_usd: Option<f64>,
        duration_ms: u64,
        diff: String,
    },
}

/// Sees every event of a run, after the trajectory has it.
pub trait RunSink: Send {
    fn publish(&mut self, event: &RunEvent);
}

/// Where a run's events go: the trajectory (whose write errors end the run), the report
/// collector, and the other sinks.
pub struct EventBus {
    trajectory: TrajectoryWriter,
    collector: ReportCollector,
    sinks: Vec<Box<dyn RunSink>>,
}

impl EventBus {
    pub fn new(trajectory: TrajectoryWriter, redactor: Arc<Redactor>) -> Self {
        Self {
            trajectory,
            collector: ReportCollector::new(redactor),
            sinks: Vec::new(),
        }
    }

    pub fn add_sink(&mut self, sink: Box<dyn RunSink>) {
        self.sinks.push(sink);
    }

    /// Writes `event` to the trajectory, then hands it to the collector and the sinks (those see
    /// it even when the write failed, so the report and the terminal stay whole).
    pub fn publish(&mut self, event: RunEvent) -> Result<(), TrajectoryError> {
        let written = self.trajectory.write(&event);
        self.collector.publish(&event);
        for sink in &mut self.sinks {
            sink.publish(&event);
        }
        written
    }

    pub fn collector(&self) -> &ReportCollector {
        &self.collector
    }

    pub fn trajectory(&mut self) -> &mut TrajectoryWriter {
        &mut self.trajectory
    }

    /// The collector, once the run is over.
    pub fn into_collector(self) -> ReportCollector {
        self.collector
    }
}

/// What the end of a run is assembled from: the record of what the run did, kept in memory as
/// the events pass.
pub struct ReportCollector {
    redactor: Arc<Redactor>,
    /// Every test run, in order.
    pub test_runs: Vec<TestRun>,
    /// Every tool call, in order (arguments redacted).
    pub tool_calls: Vec<CallRecord>,
}

impl ReportCollector {
    pub fn new(redactor: Arc<Redactor>) -> Self {
        Self {
            redactor,
            test_runs: Vec::new(),
            tool_calls: Vec::new(),
        }
    }
}

impl RunSink for ReportCollector {
    fn publish(&mut self, event: &RunEvent) {
        match event {
            RunEvent::ToolCall {
                step,
                name,
                arguments,
                ..
            } => self.tool_calls.push(CallRecord {
                step: *step,
                name: name.clone(),
                arguments: self.redactor.redact(arguments),
            }),
            RunEvent::ToolData {
                data: ToolData::TestRun(run),
                ..
            } => self.test_runs.push(run.as_ref().clone()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use agent_tools::CommandRun;
    use agent_tools::testing::TestReport;

    use super::*;

    /// A sink that keeps the kinds of the events it saw.
    struct Seen(Arc<Mutex<Vec<String>>>);

    impl RunSink for Seen {
        fn publish(&mut self, event: &RunEvent) {
            let value = serde_json::to_value(event).unwrap();
            self.0
                .lock()
                .unwrap()
                .push(value["event"].as_str().unwrap().to_string());
        }
    }

    #[test]
    fn every_event_reaches_the_file_the_collector_and_the_sinks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let redactor = Arc::new(Redactor::new(["sk-secret-value-123".to_string()]));
        let mut bus = EventBus::new(
            TrajectoryWriter::create(&path, redactor.clone()).unwrap(),
            redactor,
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        bus.add_sink(Box::new(Seen(seen.clone())));
        let run = TestRun {
            command: "pytest".into(),
            exit_code: Some(0),
            timed_out: false,
            duration_ms: 5,
            report: TestReport::default(),
            comparison: None,
        };
        let events = [
            RunEvent::ToolCall {
                step: 1,
                call_id: "a".into(),
                name: "run".into(),
                arguments: r#"{"command": "echo sk-secret-value-123"}"#.into(),
            },
            RunEvent::ToolData {
                step: 1,
                call_id: "a".into(),
                tool: "run".into(),
                data: ToolData::Command(CommandRun {
                    command: "echo".into(),
                    exit_code: Some(0),
                    timed_out: false,
                }),
            },
            RunEvent::ToolData {
                step: 2,
                call_id: "b".into(),
                tool: "run_tests".into(),
                data: ToolData::TestRun(Box::new(run.clone())),
            },
        ];
        for event in events {
            bus.publish(event).unwrap();
        }
        assert_eq!(
            *seen.lock().unwrap(),
            vec!["tool_call", "tool_data", "tool_data"]
        );
        let read = crate::trajectory::read(&path).unwrap();
        assert_eq!(read.len(), 3);
        let collector = bus.into_collector();
        assert_eq!(collector.test_runs, vec![run]);
        assert_eq!(collector.tool_calls.len(), 1);
        assert_eq!(
            collector.tool_calls[0].arguments,
            r#"{"command": "echo [REDACTED]"}"#
        );
    }
}
