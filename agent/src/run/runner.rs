//! Where the model's commands run: a Docker sandbox over the workspace (the default), or this
//! machine with `--sandbox local` (behind the guard that puts back what commands change in
//! `.git`).

use std::path::Path;
use std::sync::Arc;

use agent_containers::{ContainerError, DockerSandbox, SandboxConfig};
use agent_tools::{Executor, LocalExecutor};

use super::RunError;
use crate::config::{Config, SandboxKind};
use crate::git_guard::{GitGuardedExecutor, GitStateGuard};
use crate::printer::Printer;

/// The executor the model's commands run in, and the sandbox to remove afterwards.
pub struct Runner {
    pub executor: Arc<dyn Executor>,
    pub sandbox: Option<Arc<DockerSandbox>>,
    /// With `--sandbox local`: the guard that puts back what commands change in `.git`.
    pub git_guard: Option<Arc<GitGuardedExecutor>>,
}

/// Paths of the workspace that the model's commands may read but never change: git's own data
/// (config and hooks run code for the user; refs are the user's branches) and the run's records.
pub const READ_ONLY_IN_SANDBOX: &[&str] = &[".git", ".agent"];

impl Runner {
    /// A runner on a sandbox the caller started (a bench instance's, on its own image).
    pub fn sandbox(sandbox: Arc<DockerSandbox>) -> Self {
        Self {
            executor: sandbox.clone(),
            sandbox: Some(sandbox),
            git_guard: None,
        }
    }

    /// Removes the sandbox container, if any; a failure is reported, not fatal.
    pub async fn stop(&self, printer: &Printer) {
        if let Some(sandbox) = &self.sandbox
            && let Err(e) = sandbox.remove().await
        {
            printer.warn(&format!(
                "could not remove the sandbox container {}: {e}; run `agent containers prune`",
                sandbox.name()
            ));
        }
    }
}

/// Starts where the model's commands run, as the config says (Docker by default).
/// Said once a run (to a printer that is not quiet) when commands run on the host.
pub const LOCAL_SANDBOX_WARNING: &str =
    "--sandbox local: the model's commands run on this machine without isolation";

pub async fn start_runner(
    config: &Config,
    root: &Path,
    printer: &Printer,
) -> Result<Runner, RunError> {
    match config.sandbox {
        SandboxKind::Local => {
            if !printer.is_quiet() {
                printer.warn(LOCAL_SANDBOX_WARNING);
            }
            local_runner(root)
        }
        SandboxKind::Docker => {
            printer.status(&format!(
                "preparing the Python {} sandbox (the image is built on first use; `agent images build` does it ahead)",
                config.python
            ));
            let image = agent_containers::ensure_image(&config.python)
                .await
                .map_err(sandbox_error("cannot prepare the sandbox image"))?;
            let sandbox = DockerSandbox::create(protected(
                root,
                SandboxConfig::new(image.tag.clone())
                    .workspace(root)
                    .network(config.network),
            )?)
            .await
            .map_err(sandbox_error("cannot start the sandbox container"))?;
            Ok(Runner::sandbox(Arc::new(sandbox)))
        }
    }
}

/// Commands on this machine, in the repository, with `.git` put back after each.
fn local_runner(root: &Path) -> Result<Runner, RunError> {
    let git_error = |what: &'static str, message: String| RunError::Git {
        what,
        path: root.to_path_buf(),
        message,
    };
    let repo = git2::Repository::open(root)
        .map_err(|e| git_error("cannot open the repository", e.to_string()))?;
    let guard = GitStateGuard::capture(repo.path(), repo.commondir())
        .map_err(|e| git_error("cannot read the git state of", e.to_string()))?;
    let guarded = Arc::new(GitGuardedExecutor::new(
        Arc::new(LocalExecutor::new(root)),
        guard,
    ));
    Ok(Runner {
        executor: guarded.clone(),
        sandbox: None,
        git_guard: Some(guarded),
    })
}

/// The error for a sandbox step that failed.
fn sandbox_error(what: &'static str) -> impl FnOnce(ContainerError) -> RunError {
    move |source| RunError::Sandbox { what, source }
}

/// Adds the read-only mounts of [`READ_ONLY_IN_SANDBOX`] to a sandbox over `root` (creating
/// `.agent/`, so the records under it are protected from the first command on).
pub fn protected(root: &Path, mut config: SandboxConfig) -> Result<SandboxConfig, RunError> {
    let dir = root.join(".agent");
    std::fs::create_dir_all(&dir).map_err(|source| RunError::Io {
        what: "cannot create",
        path: dir.clone(),
        source,
    })?;
    for path in READ_ONLY_IN_SANDBOX {
        config = config.read_only(*path);
    }
    Ok(config)
}
