//! One (instance, sample) of a batch in its prepared copy: a sandbox from the instance image
//! (already set up; network as configured, off by default), then one agent run.

use std::sync::Arc;

use std::time::Duration;

use agent_containers::{DockerSandbox, Engine, SandboxConfig};
use agent_harness::Instance;

use super::error::{FatalError, InstanceFailure, classify_run_error, fatal_cause};
use super::prepare::InstanceCopy;
use crate::config::Config;
use crate::fix::{self, FixOptions, Runner};
use crate::printer::Printer;
use crate::run::Interrupt;
use crate::session::ExitReason;
use crate::workspace::Workspace;

/// What the agent produced for one (instance, sample).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRun {
    /// Empty: no change was submitted.
    pub model_patch: String,
    pub cost_usd: f64,
}

/// What one instance run needs besides its copy.
pub struct InstanceRequest<'a> {
    pub config: &'a Config,
    /// Where the sandbox runs: the workspace is bind-mounted on a unix-socket engine (this
    /// host's), copied in and kept in step on any other (it may be another machine).
    pub engine: Engine,
    pub instance: &'a Instance,
    pub copy: InstanceCopy,
    pub trajectory: std::path::PathBuf,
    /// Keep how the run ended and its reproduction beside the trajectory, for `--select`.
    pub keep_attempt: bool,
    /// Per-instance output (the session's own lines) goes here; quiet in a batch.
    pub printer: &'a Printer,
    /// The batch's Ctrl-C/SIGTERM flag (one for every run, so none installs its own).
    pub interrupt: Interrupt,
}

/// Runs the agent on one prepared instance. A run that ended on its own terms (submitted, a
/// budget, stuck, ...) is an [`AgentRun`]; one that did not finish is
/// [`InstanceFailure::Unfinished`] (a rerun does it again), or fatal when its cause ends every
/// later run too.
pub async fn run_instance(request: InstanceRequest<'_>) -> Result<AgentRun, InstanceFailure> {
    let InstanceRequest {
        config,
        engine,
        instance,
        copy,
        trajectory,
        keep_attempt,
        printer,
        interrupt,
    } = request;
    let sandbox = DockerSandbox::create_on(
        &engine,
        SandboxConfig::new(copy.image.clone())
            .workspace(&copy.path)
            .mount_workspace_at(copy.mount.clone())
            .network(config.network)
            .run_id(instance.instance_id.clone()),
    )
    .await
    .map_err(|e| match fatal_cause(&e) {
        Some(fatal) => InstanceFailure::Fatal(fatal),
        None => {
            InstanceFailure::Unfinished(format!("cannot start the sandbox on {}: {e}", copy.image))
        }
    })?;
    let sandbox = Arc::new(sandbox);
    let runner = Runner {
        executor: sandbox.clone(),
        sandbox: Some(sandbox.clone()),
        git_guard: None,
    };
    let result = async {
        let workspace = Workspace::open(&copy.path)?;
        let options = FixOptions {
            trajectory: Some(trajectory.clone()),
            allow_dirty: true,
            ..FixOptions::new(instance.problem_statement.clone())
        };
        fix::execute_with(&workspace, config, &options, printer, &runner, interrupt).await
    }
    .await;
    runner.stop(printer).await;
    let report = result.map_err(|e| classify_run_error(&e))?;
    if keep_attempt && let Err(e) = super::select::save_attempt(&trajectory, &report) {
        tracing::warn!(
            "cannot keep the attempt record beside {}: {e}",
            trajectory.display()
        );
    }
    let outcome = report.outcome;
    match outcome.exit_reason {
        ExitReason::Interrupted => return Err(InstanceFailure::Fatal(FatalError::Interrupted)),
        ExitReason::ModelError => {
            return Err(match outcome.model_error {
                Some(e) if e.ends_every_run() => InstanceFailure::Fatal(FatalError::Model(e)),
                _ => InstanceFailure::Unfinished(format!(
                    "model_error: {}",
                    outcome.detail.unwrap_or_default()
                )),
            });
        }
        // A tool that could not run may have lost the engine: then no later instance can run.
        ExitReason::ToolError => {
            if let Err(e) = Engine::connect(&engine.address, Duration::from_secs(10)).await {
                return Err(InstanceFailure::Fatal(FatalError::Engine(e.to_string())));
            }
        }
        _ => {}
    }
    Ok(AgentRun {
        model_patch: report.diff,
        cost_usd: outcome.cost_usd.unwrap_or(0.0),
    })
}
