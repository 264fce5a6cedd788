//! `agent fix` as a library call, over the Run API ([`crate::run`]): the options the command
//! takes, and the small texts it writes (the task's short form, the commit message).

pub mod overview;
pub mod samples;
pub mod test_integrity;

use std::path::PathBuf;

use crate::config::Config;
use crate::printer::Printer;
use crate::run::{RunError, RunRequest};
use crate::workspace::Workspace;

pub use crate::run::{
    READ_ONLY_IN_SANDBOX, RunReport as FixReport, Runner, default_trajectory_path, interrupt_flag,
    model_client, protected, redactor, secrets, start_runner,
};

/// What to fix and how.
#[derive(Debug, Clone)]
pub struct FixOptions {
    pub task: String,
    /// Where the trajectory goes; `None` = `.agent/trajectories/` in the repository.
    pub trajectory: Option<PathBuf>,
    pub allow_dirty: bool,
    /// Attempts at the task (`--samples`); more than one goes through [`samples::execute`]: each
    /// attempt in its own clone and sandbox, then one diff chosen.
    pub samples: usize,
    /// Attempts run at the same time.
    pub workers: usize,
}

/// Why `agent fix` could not run: one run's error, or the attempts' and selection's.
#[derive(Debug, thiserror::Error)]
pub enum FixError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Samples(#[from] samples::SamplesError),
}

impl FixOptions {
    /// One attempt at `task` on a clean repository, the trajectory in the default place.
    pub fn new(task: String) -> Self {
        Self {
            task,
            trajectory: None,
            allow_dirty: false,
            samples: 1,
            workers: 1,
        }
    }

    /// The run request these options make, on the config's own sandbox.
    pub fn request<'a>(
        &self,
        workspace: &'a Workspace,
        config: &'a Config,
        printer: &'a Printer,
    ) -> RunRequest<'a> {
        RunRequest {
            trajectory: self.trajectory.clone(),
            allow_dirty: self.allow_dirty,
            ..RunRequest::new(workspace, config, printer, self.task.clone())
        }
    }
}

/// Runs the agent on `workspace` in a sandbox chosen by the config, and returns its report
/// (with `samples` above one: the chosen attempt's, see [`samples::execute`]).
pub async fn execute(
    workspace: &Workspace,
    config: &Config,
    options: &FixOptions,
    printer: &Printer,
) -> Result<FixReport, FixError> {
    if options.samples > 1 {
        return Ok(samples::execute(samples::SamplesRequest {
            workspace,
            config,
            options,
            printer,
        })
        .await?);
    }
    Ok(crate::run::run(options.request(workspace, config, printer)).await?)
}

/// Runs the agent with a runner the caller made (and will stop), e.g. a bench instance's
/// sandbox on the instance's environment image, and the caller's interrupt flag.
pub async fn execute_with(
    workspace: &Workspace,
    config: &Config,
    options: &FixOptions,
    printer: &Printer,
    runner: &Runner,
    interrupt: crate::run::Interrupt,
) -> Result<FixReport, RunError> {
    crate::run::run(RunRequest {
        runner: Some(runner),
        interrupt: Some(interrupt),
        ..options.request(workspace, config, printer)
    })
    .await
}

pub fn short(text: &str) -> String {
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let mut s: String = first.chars().take(60).collect();
    if first.chars().count() > 60 {
        s.push('…');
    }
    format!("\"{s}\"")
}

pub fn commit_message(task: &str, summary: Option<&str>) -> String {
    let title = task
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("agent change")
        .trim();
    let title: String = title
        .trim_start_matches('#')
        .trim()
        .chars()
        .take(68)
        .collect();
    match summary {
        Some(s) if !s.trim().is_empty() => format!("Fix: {title}\n\n{}\n", s.trim()),
        _ => format!("Fix: {title}\n"),
    }
}
