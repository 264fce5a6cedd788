//! What the agent writes on GitHub: the commit message, the pull request's title and body, the
//! report when it stops without a fix, its clarifying questions, and the progress comment.

use std::collections::BTreeSet;

use serde_json::Value;

use super::issue::Issue;
use super::{PR_MARKER, QUESTIONS_MARKER, REPORT_MARKER};
use agent_tools::testing::TestRun;

use crate::fix::FixReport;
use crate::session::{CallRecord, ExitReason};

/// GitHub refuses bodies over 65536 characters; stay well below.
const MAX_BODY_CHARS: usize = 60_000;
const MAX_STEPS_LISTED: usize = 40;
const MAX_TEST_ROWS: usize = 10;
const MAX_NAMES: usize = 8;

/// The tool calls of a run, one short line each, from the run's own record in memory.
fn steps(calls: &[CallRecord]) -> Vec<String> {
    calls
        .iter()
        .map(|call| {
            format!(
                "{}. `{}` {}",
                call.step,
                call.name,
                describe_arguments(&call.arguments)
            )
        })
        .collect()
}

/// The telling argument of a tool call (its path, command or pattern), shortened.
fn describe_arguments(arguments: &str) -> String {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(arguments) else {
        return String::new();
    };
    let key = [
        "path",
        "command",
        "pattern",
        "paths",
        "selector",
        "summary",
        "questions",
    ]
    .iter()
    .find_map(|k| map.get(*k));
    match key {
        Some(Value::String(s)) => format!("`{}`", one_line(s, 80).replace('`', "'")),
        Some(other) => format!("`{}`", one_line(&other.to_string(), 80).replace('`', "'")),
        None => String::new(),
    }
}

fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    clip(&flat, max)
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub fn pr_title(issue: &Issue) -> String {
    clip(
        &format!("Fix #{}: {}", issue.number, issue.title.trim()),
        100,
    )
}

/// A commit message that says what changed and why: the issue as the title, the agent's
/// summary as the body, the changed files, and the issue reference.
pub fn commit_message(issue: &Issue, report: &FixReport) -> String {
    let changed = &report.changed_files;
    let mut message = format!("{}\n\n", clip(&pr_title(issue), 72));
    if let Some(summary) = report
        .outcome
        .summary
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        message.push_str(summary.trim());
        message.push_str("\n\n");
    }
    if !changed.is_empty() {
        message.push_str("Changed: ");
        message.push_str(&changed.join(", "));
        message.push_str("\n\n");
    }
    message.push_str(&format!(
        "Written by the agent ({}) for issue #{}.\n\nFixes #{}\n",
        report.model, issue.number, issue.number
    ));
    message
}

fn usage_line(report: &FixReport) -> String {
    let o = &report.outcome;
    let cost = o
        .cost_usd
        .map(|c| format!("${c:.4}"))
        .unwrap_or_else(|| "unknown (no price configured for the model)".into());
    format!(
        "{} prompt + {} completion tokens ({} total), cost {cost}, {} steps, {:.0}s, model `{}`",
        o.usage.prompt_tokens,
        o.usage.completion_tokens,
        o.usage.prompt_tokens + o.usage.completion_tokens,
        o.steps,
        o.duration.as_secs_f64(),
        report.model
    )
}

fn section(title: &str, body: &str) -> String {
    format!("### {title}\n\n{}\n\n", body.trim())
}

fn plan_text(report: &FixReport) -> String {
    report
        .outcome
        .plan
        .clone()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "(the agent recorded no plan)".into())
}

/// Counts of one test run, e.g. `3 passed, 1 failed`.
fn run_result(run: &TestRun) -> String {
    if run.timed_out {
        return "timed out".into();
    }
    let counts = &run.report.counts;
    let parts: Vec<String> = [
        (counts.passed, "passed"),
        (counts.failed, "failed"),
        (counts.errors, "errors"),
        (counts.skipped, "skipped"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, k)| format!("{n} {k}"))
    .collect();
    if parts.is_empty() {
        match run.exit_code {
            Some(code) => format!("exit code {code}, no results recognised"),
            None => "no results recognised".into(),
        }
    } else {
        parts.join(", ")
    }
}

fn names(set: &BTreeSet<String>) -> String {
    let mut shown: Vec<String> = set
        .iter()
        .take(MAX_NAMES)
        .map(|n| format!("`{n}`"))
        .collect();
    if set.len() > MAX_NAMES {
        shown.push(format!("and {} more", set.len() - MAX_NAMES));
    }
    shown.join(", ")
}

/// The tests the agent ran (`run_tests` calls), first and last marked as before and after.
pub fn tests_section(test_runs: &[TestRun]) -> String {
    if test_runs.is_empty() {
        return "No test runs recorded (the agent did not call `run_tests`).".into();
    }
    let last = test_runs.len() - 1;
    let mut rows = vec![
        "| Run | Command | Result |".to_string(),
        "|---|---|---|".to_string(),
    ];
    for (i, run) in test_runs.iter().enumerate() {
        let shown = i < MAX_TEST_ROWS.saturating_sub(1) || i == last;
        if !shown {
            continue;
        }
        let label = match (i, last) {
            (0, 0) => "1 (only run)".to_string(),
            (0, _) => "1 (before)".to_string(),
            (i, l) if i == l => format!("{} (after)", i + 1),
            (i, _) => (i + 1).to_string(),
        };
        let command = one_line(&run.command, 80).replace('|', "\\|");
        rows.push(format!("| {label} | `{command}` | {} |", run_result(run)));
    }
    let mut text = rows.join("\n");
    if test_runs.len() > MAX_TEST_ROWS {
        text.push_str(&format!(
            "\n\n({} runs in between are not shown.)",
            test_runs.len() - MAX_TEST_ROWS
        ));
    }
    let before = test_runs[0].report.failing_names();
    let after = test_runs[last].report.failing_names();
    if last > 0 {
        let fixed: BTreeSet<String> = before.difference(&after).cloned().collect();
        let broke: BTreeSet<String> = after.difference(&before).cloned().collect();
        if !fixed.is_empty() {
            text.push_str(&format!(
                "\n\nFailing before, not after: {}.",
                names(&fixed)
            ));
        }
        if !broke.is_empty() {
            text.push_str(&format!(
                "\n\nFailing after, not before: {}.",
                names(&broke)
            ));
        }
    }
    if !after.is_empty() {
        text.push_str(&format!(
            "\n\nStill failing in the last run: {}.",
            names(&after)
        ));
    }
    text
}

fn steps_section(steps: &[String]) -> String {
    if steps.is_empty() {
        return "(no tool calls)".into();
    }
    let mut lines: Vec<String> = steps.iter().take(MAX_STEPS_LISTED).cloned().collect();
    if steps.len() > MAX_STEPS_LISTED {
        lines.push(format!("… and {} more", steps.len() - MAX_STEPS_LISTED));
    }
    lines.join("\n")
}

/// The "Comments left out" section when some comments were not given to the agent.
fn left_out_section(issue: &Issue) -> String {
    issue
        .left_out_note()
        .map(|note| {
            section(
                "Comments left out",
                &format!(
                    "{note} Only the issue's author, users with write access and the bot itself are trusted; ask someone with write access to restate what matters."
                ),
            )
        })
        .unwrap_or_default()
}

fn details(summary: &str, body: &str) -> String {
    format!("<details><summary>{summary}</summary>\n\n{body}\n\n</details>\n\n")
}

fn diff_block(diff: &str, max: usize) -> String {
    let fence = if diff.contains("```") { "~~~~" } else { "```" };
    let shown = if diff.len() > max {
        let cut = (0..=max)
            .rev()
            .find(|i| diff.is_char_boundary(*i))
            .unwrap_or(0);
        format!("{}\n… (diff cut at {max} bytes)", &diff[..cut])
    } else {
        diff.trim_end().to_string()
    };
    format!("{fence}diff\n{shown}\n{fence}")
}

fn finish(mut body: String) -> String {
    if body.len() > MAX_BODY_CHARS {
        let cut = (0..=MAX_BODY_CHARS - 100)
            .rev()
            .find(|i| body.is_char_boundary(*i))
            .unwrap_or(0);
        body.truncate(cut);
        body.push_str("\n\n… (cut to fit GitHub's size limit)\n");
    }
    body
}

/// The pull request: what changed and why, how it was checked, what it cost, and the link
/// that closes the issue.
pub fn pr_body(issue: &Issue, report: &FixReport) -> String {
    let changed = &report.changed_files;
    let summary = report
        .outcome
        .summary
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "(the agent gave no summary)".into());
    let mut body = format!("{PR_MARKER}\n");
    body.push_str(&format!(
        "The agent's fix for #{}: {}\n\n",
        issue.number,
        issue.title.trim()
    ));
    body.push_str(&section("Summary", &summary));
    if let Some(selection) = &report.selection {
        body.push_str(&section("Selection", &selection.markdown()));
    }
    body.push_str(&section("Plan", &plan_text(report)));
    body.push_str(&section("Tests", &tests_section(&report.test_runs)));
    body.push_str(&section("Reproduction", &reproduction_text(report)));
    if let Some(review) = &report.outcome.review {
        body.push_str(&section("Review before submit", review));
    }
    if !changed.is_empty() {
        let files: Vec<String> = changed.iter().map(|f| format!("- `{f}`")).collect();
        body.push_str(&section("Files changed", &files.join("\n")));
    }
    if !report.edited_tests.is_empty() {
        let files: Vec<String> = report
            .edited_tests
            .iter()
            .map(|f| format!("`{f}`"))
            .collect();
        body.push_str(&section(
            "Test integrity",
            &format!(
                "⚠️ This change edits existing tests: {}. Review them with care.",
                files.join(", ")
            ),
        ));
    }
    body.push_str(&left_out_section(issue));
    body.push_str(&section("Usage", &usage_line(report)));
    body.push_str(&details(
        "Steps the agent took",
        &steps_section(&steps(&report.tool_calls)),
    ));
    body.push_str(&format!(
        "Review before merging: this pull request was written by an AI agent.\n\nFixes #{}\n",
        issue.number
    ));
    finish(body)
}

/// The reproduction on the record, in words.
fn reproduction_text(report: &FixReport) -> String {
    match &report.outcome.reproduction {
        Some(r) => format!(
            "`{}` failed at step {} and passed at step {}, after the change.",
            r.command.as_deref().unwrap_or(&r.arguments),
            r.failed_at_step,
            r.passed_at_step
        ),
        None => {
            "None on the record: no command failed before the change and passed after it.".into()
        }
    }
}

/// Why a run stopped, in words.
pub fn stop_reason(report: &FixReport) -> String {
    let o = &report.outcome;
    let why = match o.exit_reason {
        ExitReason::Submitted => "it submitted without changing any file",
        ExitReason::StepLimit => "it ran out of steps",
        ExitReason::CostLimit => "it reached the cost limit",
        ExitReason::TimeLimit => "it reached the time limit",
        ExitReason::MalformedOutput => "the model kept answering in a form the agent cannot use",
        ExitReason::ModelError => "the model endpoint failed",
        ExitReason::ToolError => "a tool failed in a way the model cannot fix",
        ExitReason::Interrupted => "the run was interrupted",
        ExitReason::NeedsClarification => "it needs answers to its questions",
        ExitReason::Stuck => "it kept repeating the same step",
        ExitReason::NoChange => "it submitted without changing any file",
    };
    match o.detail.as_deref().filter(|d| !d.trim().is_empty()) {
        Some(d) => format!("{why} (`{}`: {})", o.exit_reason.as_str(), d.trim()),
        None => format!("{why} (`{}`)", o.exit_reason.as_str()),
    }
}

/// The comment left when a run ends without a pull request: what it tried and why it stopped.
pub fn failure_comment(issue: &Issue, report: &FixReport) -> String {
    let mut body = format!("{REPORT_MARKER}\n");
    body.push_str(&format!(
        "The agent could not fix #{} and opened no pull request: {}.\n\n",
        issue.number,
        stop_reason(report)
    ));
    if let Some(summary) = report
        .outcome
        .summary
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        body.push_str(&section("Its last words", summary));
    }
    body.push_str(&section("Plan", &plan_text(report)));
    body.push_str(&section(
        "Steps",
        &steps_section(&steps(&report.tool_calls)),
    ));
    let last_tests = report
        .test_runs
        .last()
        .map(|run| tests_section(std::slice::from_ref(run)))
        .unwrap_or_else(|| tests_section(&[]));
    body.push_str(&section("Last test results", &last_tests));
    body.push_str(&left_out_section(issue));
    body.push_str(&section("Usage", &usage_line(report)));
    if !report.diff.trim().is_empty() {
        body.push_str(&details(
            "The unfinished change (not pushed)",
            &diff_block(&report.diff, 20_000),
        ));
    }
    body.push_str("Add details to the issue and run the agent again, or take it from here.\n");
    finish(body)
}

/// The comment left when a run ends in an error before the agent could report.
pub fn error_comment(issue: &Issue, error: &str) -> String {
    finish(format!(
        "{REPORT_MARKER}\nThe agent's run on #{} failed before it could finish, and opened no pull request:\n\n```\n{}\n```\n\n{}",
        issue.number,
        error.trim().replace("```", "'''"),
        left_out_section(issue)
    ))
}

/// The agent's clarifying questions to the issue's author.
pub fn questions_comment(issue: &Issue, questions: &str) -> String {
    let to = if issue.author.is_empty() {
        String::new()
    } else {
        format!("@{} ", issue.author)
    };
    finish(format!(
        "{QUESTIONS_MARKER}\n{to}Before changing any code, the agent needs answers to these questions about #{}:\n\n{}\n\nReply in a comment, then run the agent again (e.g. comment `/agent fix`). Only answers by the issue's author or by users with write access reach the agent.\n\n{}",
        issue.number,
        questions.trim(),
        left_out_section(issue)
    ))
}

const UNFINISHED: &str = "⏳";

/// Whether a progress comment still says the agent is at work.
pub fn progress_is_unfinished(body: &str) -> bool {
    body.contains(UNFINISHED)
}

/// The progress comment's text for one state of a run.
pub fn progress_text(state: &str, detail: &str, run_url: Option<&str>) -> String {
    let mut text = match state {
        "started" => format!("{UNFINISHED} The agent has started working on this issue."),
        "working" => format!("{UNFINISHED} The agent is working on this issue."),
        "succeeded" => "✅ The agent finished.".to_string(),
        "clarification" => "❓ The agent needs more information.".to_string(),
        _ => "❌ The agent stopped without a fix.".to_string(),
    };
    if !detail.trim().is_empty() {
        text.push(' ');
        text.push_str(detail.trim());
    }
    if let Some(url) = run_url {
        text.push_str(&format!("\n\n[Workflow run]({url})"));
    }
    text
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
