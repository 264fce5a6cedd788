//! Several attempts, one answer: choosing among the diffs of N attempts at the same task.
//!
//! 1. Candidates: an empty diff, or one that does not apply to a clean checkout, is out.
//! 2. Test matrix ([`matrix`]): every attempt's recorded reproduction and the repository's
//!    existing tests near the changed code run against every candidate, each in its own clean
//!    checkout and fresh sandbox (network off).
//! 3. Vote ([`vote`]): among the candidates that pass the most checks, equivalent diffs
//!    (normalised: whitespace, blank lines, hunk headers) vote.
//! 4. Judge ([`judge`]): a remaining tie goes to a model call that compares the candidates side
//!    by side; a malformed answer falls back to the smallest change, on the record.
//!
//! `agent fix --samples N` and `bench run --samples N --select` both call [`select`]; where
//! candidates are checked out and sandboxed is theirs to say ([`Environment`]).

pub mod diffs;
pub mod judge;
pub mod matrix;
mod record;
pub mod vote;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use futures_util::StreamExt;
use serde::Serialize;

use agent_containers::DockerSandbox;
use agent_tools::{Executor, ToolRegistry};

use crate::model::{ModelClient, Usage};
use crate::prompts::Prompts;
use crate::session::Reproduction;

pub use judge::JudgeRecord;
pub use matrix::{Cell, MatrixCommand};

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("cannot make a clean checkout for {label}: {message}")]
    Checkout { label: String, message: String },
    #[error("cannot start a sandbox for {label}: {message}")]
    Sandbox { label: String, message: String },
}

/// What one attempt produced.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// 1-based.
    pub number: usize,
    pub diff: String,
    /// How its session ended (`submitted`, `step_limit`, ...).
    pub exit_reason: String,
    pub reproduction: Option<Reproduction>,
    pub trajectory: Option<PathBuf>,
}

/// A sandbox over a candidate's checkout.
pub struct Sandbox {
    pub executor: Arc<dyn Executor>,
    /// The container to remove afterwards (none with `--sandbox local`).
    pub container: Option<Arc<DockerSandbox>>,
}

impl Sandbox {
    /// Removes the container; a failure is logged (`agent containers prune` removes leftovers).
    pub async fn stop(self) {
        if let Some(container) = self.container
            && let Err(e) = container.remove().await
        {
            tracing::warn!(
                "could not remove the selection sandbox {}: {e}",
                container.name()
            );
        }
    }
}

/// Where candidates are tried: clean checkouts of the attempts' starting point, and sandboxes
/// like the attempts' over them.
#[async_trait]
pub trait Environment: Send + Sync {
    /// A new clean checkout of the baseline, that no attempt used, named after `label`.
    async fn checkout(&self, label: &str) -> Result<PathBuf, SelectError>;
    /// A fresh sandbox over `root` (network off, as the attempts had it).
    async fn sandbox(&self, root: &Path) -> Result<Sandbox, SelectError>;
    /// Removes a checkout made by [`Environment::checkout`].
    async fn discard(&self, root: &Path);
}

pub struct SelectRequest<'a> {
    pub task: &'a str,
    pub attempts: &'a [Attempt],
    pub environment: &'a dyn Environment,
    /// The tools the matrix's commands are run with (as the attempts ran them).
    pub registry: &'a ToolRegistry,
    /// The judge's model and prompts.
    pub model: &'a dyn ModelClient,
    pub prompts: &'a Prompts,
    /// The judge model's context window in tokens, when known: the candidates' diffs are cut
    /// to fit it.
    pub context_window: Option<u32>,
    /// Candidates checked at the same time.
    pub workers: usize,
}

/// Why a candidate is in or out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Standing {
    Eligible,
    Empty,
    DoesNotApply { error: String },
    NoCheckout { error: String },
}

/// One attempt's part in the selection.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub attempt: usize,
    pub exit_reason: String,
    #[serde(flatten)]
    pub standing: Standing,
    pub changed_lines: usize,
    /// One cell per matrix command (eligible candidates only).
    pub cells: Vec<Cell>,
    pub passed: usize,
    /// Attempts whose change is equivalent to this one (itself included), among those that
    /// passed the most checks; 0 for the others.
    pub votes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trajectory: Option<PathBuf>,
    #[serde(skip)]
    pub diff: String,
}

/// The selection's record: what was checked, how it ranked, what was chosen and why.
#[derive(Debug, Clone, Serialize)]
pub struct Selection {
    /// The chosen attempt; `None` when no candidate applies.
    pub chosen: Option<usize>,
    /// How the choice was made: `only_candidate`, `tests`, `vote`, `judge`, `judge_fallback`,
    /// or `none`.
    pub decided_by: String,
    pub candidates: Vec<Candidate>,
    pub commands: Vec<MatrixCommand>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeRecord>,
    /// The reasons, one sentence each, in order.
    pub reasons: Vec<String>,
    pub duration_ms: u64,
    /// Tokens the judge used.
    pub usage: Usage,
}

impl Selection {
    /// The chosen attempt's diff (empty when none was chosen).
    pub fn chosen_diff(&self) -> &str {
        self.chosen
            .and_then(|n| self.candidates.iter().find(|c| c.attempt == n))
            .map_or("", |c| c.diff.as_str())
    }
}

/// Chooses one attempt's diff (see the module's steps).
pub async fn select(request: SelectRequest<'_>) -> Selection {
    let started = Instant::now();
    let mut candidates: Vec<Candidate> = request.attempts.iter().map(candidate).collect();
    let (checkouts, baseline) = check_out(&request, &mut candidates).await;
    let commands = matrix::commands(request.attempts, request.registry, &baseline);
    run_matrix(&request, &mut candidates, &checkouts, &commands).await;
    for root in checkouts.iter().map(|(_, root)| root) {
        request.environment.discard(root).await;
    }
    let mut selection = Selection {
        chosen: None,
        decided_by: "none".into(),
        candidates,
        commands,
        judge: None,
        reasons: Vec::new(),
        duration_ms: 0,
        usage: Usage::default(),
    };
    decide(&request, &mut selection).await;
    selection.duration_ms = started.elapsed().as_millis() as u64;
    selection
}

fn candidate(attempt: &Attempt) -> Candidate {
    Candidate {
        attempt: attempt.number,
        exit_reason: attempt.exit_reason.clone(),
        standing: if attempt.diff.trim().is_empty() {
            Standing::Empty
        } else {
            Standing::Eligible
        },
        changed_lines: diffs::changed_lines(&attempt.diff),
        cells: Vec::new(),
        passed: 0,
        votes: 0,
        trajectory: attempt.trajectory.clone(),
        diff: attempt.diff.clone(),
    }
}

/// A clean checkout per non-empty candidate with its diff applied (a diff that does not apply
/// puts the candidate out). The existing tests near the changed code are read from the first
/// checkout before its diff goes in.
async fn check_out(
    request: &SelectRequest<'_>,
    candidates: &mut [Candidate],
) -> (Vec<(usize, PathBuf)>, matrix::Baseline) {
    let mut checkouts = Vec::new();
    let mut baseline: Option<matrix::Baseline> = None;
    for candidate in candidates.iter_mut() {
        if candidate.standing != Standing::Eligible {
            continue;
        }
        let label = format!("candidate-{}", candidate.attempt);
        let root = match request.environment.checkout(&label).await {
            Ok(root) => root,
            Err(e) => {
                candidate.standing = Standing::NoCheckout {
                    error: e.to_string(),
                };
                continue;
            }
        };
        if baseline.is_none() {
            baseline = Some(matrix::Baseline::read(&root, request.attempts).await);
        }
        match diffs::apply(&root, &candidate.diff).await {
            Ok(()) => checkouts.push((candidate.attempt, root)),
            Err(error) => {
                candidate.standing = Standing::DoesNotApply { error };
                request.environment.discard(&root).await;
            }
        }
    }
    (checkouts, baseline.unwrap_or_default())
}

/// Runs the commands on each eligible candidate's checkout, `workers` at a time.
async fn run_matrix(
    request: &SelectRequest<'_>,
    candidates: &mut [Candidate],
    checkouts: &[(usize, PathBuf)],
    commands: &[MatrixCommand],
) {
    let rows: Vec<(usize, Vec<Cell>)> = futures_util::stream::iter(checkouts)
        .map(|(attempt, root)| async move {
            let cells =
                matrix::run_row(request.environment, request.registry, root, commands).await;
            (*attempt, cells)
        })
        .buffer_unordered(request.workers.max(1))
        .collect()
        .await;
    for (attempt, cells) in rows {
        if let Some(c) = candidates.iter_mut().find(|c| c.attempt == attempt) {
            c.passed = cells.iter().filter(|cell| cell.passed).count();
            c.cells = cells;
        }
    }
}

/// Ranks the eligible candidates and chooses: tests, then the vote, then the judge.
async fn decide(request: &SelectRequest<'_>, selection: &mut Selection) {
    record::explain_standings(selection);
    let ballots: Vec<vote::Ballot> = selection
        .candidates
        .iter()
        .filter(|c| c.standing == Standing::Eligible)
        .map(|c| vote::Ballot {
            attempt: c.attempt,
            passed: c.passed,
            normal: diffs::normalise(&c.diff),
        })
        .collect();
    if ballots.is_empty() {
        selection.reasons.push(format!(
            "no candidate: none of the {} attempts left a diff that applies",
            selection.candidates.len()
        ));
        return;
    }
    let outcome = vote::vote(&ballots);
    for group in &outcome.groups {
        for attempt in group {
            if let Some(c) = selection
                .candidates
                .iter_mut()
                .find(|c| c.attempt == *attempt)
            {
                c.votes = group.len();
            }
        }
    }
    record::explain_ranking(selection, &outcome, ballots.len());
    if let Some(winner) = outcome.winner {
        selection.chosen = Some(winner);
        selection.decided_by = if ballots.len() == 1 {
            "only_candidate"
        } else if outcome.best.len() == 1 {
            "tests"
        } else {
            "vote"
        }
        .into();
        return;
    }
    let tied: Vec<judge::JudgeCandidate> = outcome
        .tied()
        .iter()
        .filter_map(|group| selection.candidates.iter().find(|c| c.attempt == group[0]))
        .map(|c| judge::JudgeCandidate {
            attempt: c.attempt,
            diff: c.diff.clone(),
            passed: c.passed,
            total: selection.commands.len(),
            votes: c.votes,
            changed_lines: c.changed_lines,
        })
        .collect();
    let verdict = judge::judge(judge::JudgeRequest {
        task: request.task,
        candidates: &tied,
        model: request.model,
        prompts: request.prompts,
        context_window: request.context_window,
    })
    .await;
    record::explain_judge(selection, &verdict);
    selection.chosen = Some(verdict.choice);
    selection.decided_by = if verdict.fallback.is_some() {
        "judge_fallback"
    } else {
        "judge"
    }
    .into();
    selection.usage = verdict.usage;
    selection.judge = Some(verdict);
}
