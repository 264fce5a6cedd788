//! One trajectory as the page shows it: the run's header, the plans, one entry per step (the
//! model's text, each tool call with its observation, notices, tokens, cost and time), the test
//! runs, and the final diff split into coloured lines.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use agent_tools::ToolData;
use agent_tools::testing::TestRun;

use crate::trajectory::Event;

/// Observations longer than this many lines or bytes start collapsed.
const COLLAPSE_LINES: usize = 12;
const COLLAPSE_BYTES: usize = 1200;
/// The page shows at most this much of one observation (the trajectory file keeps it all).
const OBSERVATION_CAP: usize = 64 * 1024;

#[derive(Debug, Default, Serialize)]
pub struct TrajectoryPage {
    pub title: String,
    pub model: String,
    pub repo: String,
    pub task: String,
    pub end: Option<EndView>,
    pub plans: Vec<PlanView>,
    /// Notices before the first step (e.g. the project instructions that were read).
    pub notices: Vec<NoticeView>,
    pub steps: Vec<StepView>,
    pub test_runs: Vec<TestRunView>,
    pub diff: Vec<DiffLine>,
    pub diff_added: usize,
    pub diff_removed: usize,
    /// The text of collapsed observations, kept out of the DOM until one is opened (a page
    /// with thousands of long observations stays quick to load): `CallView::folded` indexes it.
    #[serde(skip)]
    pub folded: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct EndView {
    pub reason: String,
    pub detail: Option<String>,
    pub summary: Option<String>,
    pub steps: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost: String,
    pub duration: String,
}

#[derive(Debug, Serialize)]
pub struct PlanView {
    pub step: u32,
    pub source: String,
    pub plan: String,
}

#[derive(Debug, Default, Serialize)]
pub struct StepView {
    pub step: u32,
    pub reasoning: String,
    pub calls: Vec<CallView>,
    pub notices: Vec<NoticeView>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost: String,
    pub model_time: String,
    pub total_time: String,
}

#[derive(Debug, Default, Serialize)]
pub struct CallView {
    pub id: String,
    pub name: String,
    pub arguments: String,
    pub observation: String,
    pub observation_lines: usize,
    /// Bytes of the observation left out of the page.
    pub truncated: usize,
    pub ok: bool,
    pub collapsed: bool,
    /// For a collapsed observation, its index in `TrajectoryPage::folded`.
    pub folded: Option<usize>,
    pub duration: String,
    pub changed_files: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct NoticeView {
    pub kind: String,
    pub text: String,
}

#[derive(Debug, Serialize)]
pub struct TestRunView {
    pub step: u32,
    pub command: String,
    pub passed: u64,
    pub failed: u64,
    pub errors: u64,
    pub skipped: u64,
    pub newly_passing: Vec<String>,
    pub newly_failing: Vec<String>,
    pub still_failing: usize,
    pub first: bool,
}

#[derive(Debug, Serialize)]
pub struct DiffLine {
    /// `add`, `del`, `hunk`, `file` or `ctx`.
    pub kind: &'static str,
    pub text: String,
}

pub fn money(cost: Option<f64>) -> String {
    match cost {
        Some(c) if c >= 0.01 => format!("${c:.2}"),
        Some(c) => format!("${c:.4}"),
        None => "unknown".into(),
    }
}

pub fn duration_ms(ms: f64) -> String {
    if ms >= 60_000.0 {
        format!(
            "{:.0}m{:02.0}s",
            (ms / 60_000.0).floor(),
            (ms % 60_000.0) / 1000.0
        )
    } else if ms >= 1000.0 {
        format!("{:.1}s", ms / 1000.0)
    } else {
        format!("{ms:.0}ms")
    }
}

/// Splits a unified diff into lines the page colours.
pub fn diff_lines(diff: &str) -> Vec<DiffLine> {
    diff.lines()
        .map(|line| {
            let kind = if ["+++", "---", "diff ", "index "]
                .iter()
                .any(|p| line.starts_with(p))
            {
                "file"
            } else if line.starts_with("@@") {
                "hunk"
            } else if line.starts_with('+') {
                "add"
            } else if line.starts_with('-') {
                "del"
            } else {
                "ctx"
            };
            DiffLine {
                kind,
                text: line.to_string(),
            }
        })
        .collect()
}

fn pretty_arguments(raw: &str) -> String {
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => {
            // Strings are shown as they are (a patch or a command reads better unescaped).
            map.iter()
                .map(|(k, v)| match v {
                    Value::String(s) if s.contains('\n') => format!("{k}:\n{s}"),
                    Value::String(s) => format!("{k}: {s}"),
                    other => format!("{k}: {other}"),
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
        _ => raw.to_string(),
    }
}

fn cap(text: &str) -> (String, usize) {
    if text.len() <= OBSERVATION_CAP {
        return (text.to_string(), 0);
    }
    let mut end = OBSERVATION_CAP;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (text[..end].to_string(), text.len() - end)
}

fn test_run(step: u32, run: &TestRun) -> TestRunView {
    let counts = &run.report.counts;
    let comparison = run.comparison.clone().unwrap_or_default();
    TestRunView {
        step,
        command: run.command.clone(),
        passed: counts.passed as u64,
        failed: counts.failed as u64,
        errors: counts.errors as u64,
        skipped: counts.skipped as u64,
        newly_passing: comparison.newly_passing,
        newly_failing: comparison.newly_failing,
        still_failing: comparison.still_failing.len(),
        first: run.comparison.is_none(),
    }
}

/// Builds the page's model from a trajectory's events.
pub fn build(name: &str, events: Vec<Event>) -> TrajectoryPage {
    let mut builder = PageBuilder {
        page: TrajectoryPage {
            title: name.to_string(),
            ..TrajectoryPage::default()
        },
        steps: Vec::new(),
        index: HashMap::new(),
    };
    for event in events {
        builder.add(event);
    }
    let mut page = builder.page;
    let mut steps = builder.steps;
    steps.sort_by_key(|s| s.step);
    page.steps = steps;
    page
}

/// The page as events are added, with the steps seen so far.
struct PageBuilder {
    page: TrajectoryPage,
    steps: Vec<StepView>,
    /// Step number → its index in `steps`.
    index: HashMap<u32, usize>,
}

impl PageBuilder {
    fn add(&mut self, event: Event) {
        match event {
            Event::Start {
                model, repo, task, ..
            } => {
                self.page.model = model;
                self.page.repo = repo;
                self.page.task = task;
            }
            Event::Prompt { .. } | Event::ModelRequest { .. } => {}
            Event::ModelResponse {
                step,
                message,
                usage,
                cost_usd,
                latency_ms,
                ..
            } => {
                let s = self.step(step);
                s.reasoning = message.content.unwrap_or_default();
                s.prompt_tokens = usage.prompt_tokens;
                s.completion_tokens = usage.completion_tokens;
                s.cost = money(cost_usd);
                s.model_time = duration_ms(latency_ms as f64);
            }
            Event::Plan { step, source, plan } => {
                self.page.plans.push(PlanView { step, source, plan })
            }
            Event::ToolCall {
                step,
                call_id,
                name,
                arguments,
            } => self.step(step).calls.push(CallView {
                id: call_id,
                name,
                arguments: pretty_arguments(&arguments),
                ..CallView::default()
            }),
            Event::Observation { .. } => self.observation(event),
            Event::ToolData {
                step,
                data: ToolData::TestRun(run),
                ..
            } => self.page.test_runs.push(test_run(step, &run)),
            Event::ToolData { .. } => {}
            Event::Notice {
                step: 0,
                kind,
                text,
            } => self.page.notices.push(NoticeView { kind, text }),
            Event::Notice { step, kind, text } => {
                self.step(step).notices.push(NoticeView { kind, text })
            }
            Event::Selection {
                chosen,
                decided_by,
                reasons,
                ..
            } => self.page.notices.push(NoticeView {
                kind: "selection".into(),
                text: format!(
                    "{} ({}):\n{}",
                    chosen.map_or("no attempt chosen".into(), |n| format!(
                        "attempt {n} chosen"
                    )),
                    decided_by.replace('_', " "),
                    reasons.join("\n")
                ),
            }),
            Event::StepTiming { step, total_ms, .. } => {
                self.step(step).total_time = duration_ms(total_ms)
            }
            Event::End { .. } => self.end(event),
        }
    }

    /// The view of step `step`, made on first sight.
    fn step(&mut self, step: u32) -> &mut StepView {
        let steps = &mut self.steps;
        let i = *self.index.entry(step).or_insert_with(|| {
            steps.push(StepView {
                step,
                ..StepView::default()
            });
            steps.len() - 1
        });
        &mut self.steps[i]
    }

    fn observation(&mut self, event: Event) {
        let Event::Observation {
            step,
            call_id,
            ok,
            text,
            duration_ms: took,
            changed_files,
        } = event
        else {
            return;
        };
        let lines = text.lines().count();
        let collapsed = lines > COLLAPSE_LINES || text.len() > COLLAPSE_BYTES;
        let (shown, truncated) = cap(&text);
        let folded = collapsed.then(|| {
            self.page.folded.push(shown.clone());
            self.page.folded.len() - 1
        });
        let s = self.step(step);
        let call = match s.calls.iter().position(|c| c.id == call_id) {
            Some(p) => &mut s.calls[p],
            None => {
                s.calls.push(CallView {
                    id: call_id,
                    ..CallView::default()
                });
                let last = s.calls.len() - 1;
                &mut s.calls[last]
            }
        };
        call.collapsed = collapsed;
        call.folded = folded;
        if !collapsed {
            call.observation = shown;
        }
        call.truncated = truncated;
        call.observation_lines = lines;
        call.ok = ok;
        call.duration = duration_ms(took as f64);
        call.changed_files = changed_files;
    }

    fn end(&mut self, event: Event) {
        let Event::End {
            exit_reason,
            detail,
            summary,
            steps,
            usage,
            cost_usd,
            duration_ms: took,
            diff,
            ..
        } = event
        else {
            return;
        };
        let page = &mut self.page;
        page.diff = diff_lines(&diff);
        page.diff_added = page.diff.iter().filter(|l| l.kind == "add").count();
        page.diff_removed = page.diff.iter().filter(|l| l.kind == "del").count();
        page.end = Some(EndView {
            reason: exit_reason,
            detail,
            summary,
            steps,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cost: money(cost_usd),
            duration: duration_ms(took as f64),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_lines_are_classified() {
        let lines =
            diff_lines("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n same");
        let kinds: Vec<&str> = lines.iter().map(|l| l.kind).collect();
        assert_eq!(kinds, ["file", "file", "file", "hunk", "del", "add", "ctx"]);
    }

    #[test]
    fn long_observations_are_capped_on_a_char_boundary() {
        let text = "é".repeat(OBSERVATION_CAP);
        let (shown, left) = cap(&text);
        assert!(shown.len() <= OBSERVATION_CAP);
        assert_eq!(shown.len() + left, text.len());
    }
}
