//! The base root filesystem: Debian packages → a tarball (mmdebstrap, or debootstrap + tar),
//! cached on disk by recipe hash, then imported into the engine (`POST /images/create?fromSrc=-`).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::recipe::{BaseRecipe, MMDEBSTRAP_VARIANT};
use super::{BuildEvent, Progress};
use crate::error::{ContainerError, Result};

/// Which program makes the root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootfsTool {
    Mmdebstrap(PathBuf),
    Debootstrap(PathBuf),
}

impl RootfsTool {
    /// mmdebstrap when installed (faster, writes the tarball itself), else debootstrap.
    /// `AGENT_ROOTFS_TOOL=debootstrap` (or `mmdebstrap`) picks one.
    pub fn detect() -> Result<Self> {
        match crate::HostEnv::get().rootfs_tool.as_deref() {
            Some("debootstrap") => {
                return find_program("debootstrap")
                    .map(RootfsTool::Debootstrap)
                    .ok_or_else(|| {
                        ContainerError::Build(
                            "AGENT_ROOTFS_TOOL=debootstrap but debootstrap is not installed \
                         (apt-get install -y debootstrap)"
                                .into(),
                        )
                    });
            }
            Some("mmdebstrap") => {
                return find_program("mmdebstrap")
                    .map(RootfsTool::Mmdebstrap)
                    .ok_or_else(|| {
                        ContainerError::Build(
                            "AGENT_ROOTFS_TOOL=mmdebstrap but mmdebstrap is not installed \
                         (apt-get install -y mmdebstrap)"
                                .into(),
                        )
                    });
            }
            _ => {}
        }
        if let Some(path) = find_program("mmdebstrap") {
            return Ok(RootfsTool::Mmdebstrap(path));
        }
        if let Some(path) = find_program("debootstrap") {
            return Ok(RootfsTool::Debootstrap(path));
        }
        Err(ContainerError::Build(
            "neither mmdebstrap nor debootstrap is installed; install one with \
             `apt-get install -y mmdebstrap` (or `debootstrap`) and run `agent images build` again"
                .into(),
        ))
    }
}

/// Looks a program up on `PATH` and in the sbin directories (debootstrap lives in /usr/sbin).
pub fn find_program(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&crate::HostEnv::get().path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Returns the cached tarball for `recipe`, making it first when it is not cached.
pub async fn ensure_rootfs_tarball(
    recipe: &BaseRecipe,
    cache_dir: &Path,
    mirror: &str,
    progress: &Progress,
) -> Result<PathBuf> {
    let target = cache_dir.join(recipe.tarball_name());
    if target.is_file() {
        progress(BuildEvent::Step(format!(
            "rootfs {}: cached at {}",
            recipe.suite,
            target.display()
        )));
        return Ok(target);
    }
    tokio::fs::create_dir_all(cache_dir)
        .await
        .map_err(|e| ContainerError::io(format!("creating {}", cache_dir.display()), e))?;
    let tool = RootfsTool::detect()?;
    // Written next to the target and renamed, so a killed build never leaves a half tarball.
    // The name keeps the `.tar` extension, from which mmdebstrap picks the (absent) compression.
    let partial = cache_dir.join(format!(
        ".partial-{}-{}",
        std::process::id(),
        recipe.tarball_name()
    ));
    let result = match &tool {
        RootfsTool::Mmdebstrap(program) => {
            run_mmdebstrap(program, recipe, mirror, &partial, progress).await
        }
        RootfsTool::Debootstrap(program) => {
            run_debootstrap(program, recipe, mirror, &partial, progress).await
        }
    };
    if let Err(err) = result {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(err);
    }
    tokio::fs::rename(&partial, &target).await.map_err(|e| {
        ContainerError::io(format!("moving the tarball to {}", target.display()), e)
    })?;
    Ok(target)
}

async fn run_mmdebstrap(
    program: &Path,
    recipe: &BaseRecipe,
    mirror: &str,
    output: &Path,
    progress: &Progress,
) -> Result<()> {
    progress(BuildEvent::Step(format!(
        "rootfs {}: mmdebstrap --variant={MMDEBSTRAP_VARIANT} ({} packages)",
        recipe.suite,
        recipe.packages.len()
    )));
    let mut command = tokio::process::Command::new(program);
    command
        .arg(format!("--variant={MMDEBSTRAP_VARIANT}"))
        .arg(format!("--include={}", recipe.packages.join(",")))
        .arg("--aptopt=APT::Install-Recommends \"false\"")
        // Documentation and translations are most of a minimal system's size.
        .arg("--dpkgopt=path-exclude=/usr/share/man/*")
        .arg("--dpkgopt=path-exclude=/usr/share/doc/*")
        .arg("--dpkgopt=path-include=/usr/share/doc/*/copyright")
        .arg("--dpkgopt=path-exclude=/usr/share/locale/*")
        .arg("--format=tar")
        .arg(&recipe.suite)
        .arg(output)
        .arg(mirror);
    run_logged(command, "mmdebstrap", progress).await
}

async fn run_debootstrap(
    program: &Path,
    recipe: &BaseRecipe,
    mirror: &str,
    output: &Path,
    progress: &Progress,
) -> Result<()> {
    progress(BuildEvent::Step(format!(
        "rootfs {}: debootstrap --variant=minbase ({} packages)",
        recipe.suite,
        recipe.packages.len()
    )));
    let root = tempfile::Builder::new()
        .prefix("agent-rootfs-")
        .tempdir()
        .map_err(|e| ContainerError::io("creating a directory for debootstrap", e))?;
    let mut command = tokio::process::Command::new(program);
    command
        .arg("--variant=minbase")
        .arg(format!("--include={}", recipe.packages.join(",")))
        .arg(&recipe.suite)
        .arg(root.path())
        .arg(mirror);
    run_logged(command, "debootstrap", progress).await?;
    // apt's downloaded packages are not part of the image.
    let archives = root.path().join("var/cache/apt/archives");
    if let Ok(mut entries) = tokio::fs::read_dir(&archives).await {
        while let Ok(Some(entry)) = entries.next_entry().await {
            if entry.path().extension().is_some_and(|ext| ext == "deb") {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
    }
    let mut tar = tokio::process::Command::new("tar");
    tar.arg("--numeric-owner")
        .arg("-C")
        .arg(root.path())
        .arg("-cf")
        .arg(output)
        .arg(".");
    run_logged(tar, "tar", progress).await
}

/// Runs a command, passing each output line to `progress`, and fails with its last lines.
async fn run_logged(
    mut command: tokio::process::Command,
    name: &str,
    progress: &Progress,
) -> Result<()> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| {
        ContainerError::Build(format!(
            "cannot start {name}: {e} (is it installed and are you root?)"
        ))
    })?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    for reader in [
        stdout.map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        stderr.map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(reader).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut tail: Vec<String> = Vec::new();
    while let Some(line) = rx.recv().await {
        progress(BuildEvent::Line(line.clone()));
        tail.push(line);
        if tail.len() > 20 {
            tail.remove(0);
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| ContainerError::Build(format!("waiting for {name}: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(ContainerError::Build(format!(
            "{name} failed ({status}); last output:\n{}",
            tail.join("\n")
        )))
    }
}

/// Imports a root filesystem tarball as `tag` through the engine's import endpoint.
pub async fn import_rootfs(
    docker: &Docker,
    tarball: &Path,
    tag: &str,
    progress: &Progress,
) -> Result<()> {
    let (repo, tag_part) = tag.split_once(':').unwrap_or((tag, "latest"));
    progress(BuildEvent::Step(format!(
        "importing {} as {tag}",
        tarball.display()
    )));
    let file = tokio::fs::File::open(tarball)
        .await
        .map_err(|e| ContainerError::io(format!("opening {}", tarball.display()), e))?;
    let body = bollard::body_try_stream(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20));
    let options = CreateImageOptionsBuilder::new()
        .from_src("-")
        .repo(repo)
        .tag(tag_part)
        .message("agent base root filesystem (Debian packages)")
        .build();
    let mut stream = docker.create_image(Some(options), Some(body), None);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| ContainerError::engine(format!("importing {tag}"), e))?;
        if let Some(status) = info.status {
            progress(BuildEvent::Line(status));
        }
    }
    Ok(())
}
