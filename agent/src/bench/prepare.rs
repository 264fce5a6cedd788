//! The repository the agent edits for one (instance, sample): the instance image's `/testbed`
//! (repository at `base_commit`, installed, setup committed, with whatever the install built),
//! copied to the host, and the image its sandbox starts from.
//!
//! Environment and instance setup happen where the evaluation does them, in the instance image
//! (built with the network the context allows); the agent's sandbox then starts from that image
//! with the copy mounted at `/testbed` and needs no network.

use std::path::{Path, PathBuf};
use std::time::Duration;

use agent_containers::{DockerSandbox, SandboxConfig, SandboxUser};
use agent_harness::context::BenchContext;
use agent_harness::testspec::TESTBED;
use agent_harness::{HarnessError, Instance};

use super::layout::RunLayout;

/// An instance's `/testbed`, copied out of its image, and that image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceCopy {
    /// On the host: `OUTPUT/workspaces/<id>[.s<k>]`.
    pub path: PathBuf,
    /// The instance image: environment, repository installed at `/testbed`, setup committed.
    pub image: String,
    /// Where the sandbox mounts `path`: where the image installed the repository, so that
    /// editable installs and built extensions resolve to the agent's copy.
    pub mount: String,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> HarnessError {
    move |source| HarnessError::Io { context, source }
}

/// Makes `layout.workspace_path(instance, sample)` afresh from the instance image (built when
/// missing, with the context's network, within `setup_timeout`): its `/testbed`, copied out
/// through a staging folder, so that a killed copy never looks finished.
pub async fn prepare(
    ctx: &BenchContext,
    instance: &Instance,
    layout: &RunLayout,
    sample: usize,
    setup_timeout: Duration,
) -> Result<InstanceCopy, HarnessError> {
    let dest = layout.workspace_path(&instance.instance_id, sample);
    prepare_at(ctx, instance, &dest, setup_timeout).await
}

/// Makes `dest` afresh as [`prepare`] does (also for the copies `--select` checks candidates
/// in).
pub async fn prepare_at(
    ctx: &BenchContext,
    instance: &Instance,
    dest: &Path,
    setup_timeout: Duration,
) -> Result<InstanceCopy, HarnessError> {
    let (image, _) = ctx.instance_image(instance, setup_timeout).await?;
    remove_if_present(dest, "the old workspace")?;
    let parent = dest.parent().unwrap_or(Path::new("."));
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = parent.join(format!(".staging-{}-{name}", std::process::id()));
    remove_if_present(&staging, "a staging folder")?;
    std::fs::create_dir_all(&staging)
        .map_err(io(format!("cannot create {}", staging.display())))?;
    let config = SandboxConfig::new(&image)
        .user(SandboxUser::Root)
        .network(false)
        .run_id(format!("copy-{}", instance.instance_id));
    let sandbox = DockerSandbox::create_on(&ctx.engine(), config).await?;
    let copied = sandbox.copy_out(TESTBED, &staging).await;
    let _ = sandbox.remove().await;
    let copied = copied?;
    std::fs::rename(&copied, dest).map_err(io(format!(
        "cannot move the workspace to {}",
        dest.display()
    )))?;
    let _ = std::fs::remove_dir_all(&staging);
    Ok(InstanceCopy {
        path: dest.to_path_buf(),
        image,
        mount: TESTBED.to_string(),
    })
}

fn remove_if_present(path: &Path, what: &str) -> Result<(), HarnessError> {
    if path.exists() {
        std::fs::remove_dir_all(path)
            .map_err(io(format!("cannot remove {what} {}", path.display())))?;
    }
    Ok(())
}
