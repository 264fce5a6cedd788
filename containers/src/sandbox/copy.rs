//! Copying files into and out of the sandbox, as tar archives through the engine.

use std::path::{Path, PathBuf};

use bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::DockerSandbox;
use crate::error::{ContainerError, Result};

impl DockerSandbox {
    /// Copies a host file or directory into the container directory `container_dir` (which must
    /// exist), keeping its base name. Entries belong to the sandbox's user.
    pub async fn copy_in(&self, host_path: &Path, container_dir: &str) -> Result<()> {
        let (uid, gid) = self.numeric_owner();
        let source = host_path.to_path_buf();
        let archive = tokio::task::spawn_blocking(move || tar_path(&source, uid, gid))
            .await
            .map_err(|e| ContainerError::Invalid(format!("archiving task failed: {e}")))??;
        self.upload(archive, container_dir).await
    }

    /// Writes `contents` to `container_path` (its directory must exist).
    pub async fn write_file(&self, container_path: &str, contents: &[u8], mode: u32) -> Result<()> {
        let (dir, name) = split_container_path(container_path)?;
        let (uid, gid) = self.numeric_owner();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(mode);
        header.set_uid(uid);
        header.set_gid(gid);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, name, contents)
            .map_err(|e| ContainerError::io(format!("archiving {container_path}"), e))?;
        let archive = builder
            .into_inner()
            .map_err(|e| ContainerError::io(format!("archiving {container_path}"), e))?;
        self.upload(archive, dir).await
    }

    pub(super) async fn upload(&self, archive: Vec<u8>, container_dir: &str) -> Result<()> {
        let options = UploadToContainerOptionsBuilder::new()
            .path(container_dir)
            .build();
        self.docker
            .upload_to_container(&self.id, Some(options), bollard::body_full(archive.into()))
            .await
            .map_err(|e| {
                ContainerError::engine(format!("copying into {container_dir} of {}", self.name), e)
            })
    }

    /// The raw tar archive of a container path (a file or a directory, under its base name).
    pub async fn download(&self, container_path: &str) -> Result<Vec<u8>> {
        let options = DownloadFromContainerOptionsBuilder::new()
            .path(container_path)
            .build();
        let mut stream = self.docker.download_from_container(&self.id, Some(options));
        let mut archive = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                ContainerError::engine(format!("copying {container_path} out of {}", self.name), e)
            })?;
            archive.extend_from_slice(&chunk);
        }
        Ok(archive)
    }

    /// Copies a container file or directory into the host directory `host_dir`, keeping its
    /// base name. Returns the path of the copy.
    pub async fn copy_out(&self, container_path: &str, host_dir: &Path) -> Result<PathBuf> {
        let archive = self.download(container_path).await?;
        let dir = host_dir.to_path_buf();
        let name = Path::new(container_path.trim_end_matches('/'))
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_default();
        tokio::task::spawn_blocking(move || {
            let mut unpacker = tar::Archive::new(archive.as_slice());
            unpacker.set_preserve_permissions(true);
            unpacker
                .unpack(&dir)
                .map_err(|e| ContainerError::io(format!("unpacking into {}", dir.display()), e))
                .map(|()| dir.join(name))
        })
        .await
        .map_err(|e| ContainerError::Invalid(format!("unpacking task failed: {e}")))?
    }

    /// The contents of one container file.
    pub async fn read_file(&self, container_path: &str) -> Result<Vec<u8>> {
        let archive = self.download(container_path).await?;
        let mut unpacker = tar::Archive::new(archive.as_slice());
        let entries = unpacker.entries().map_err(|e| {
            ContainerError::io(format!("reading the archive of {container_path}"), e)
        })?;
        for entry in entries {
            let mut entry = entry.map_err(|e| {
                ContainerError::io(format!("reading the archive of {container_path}"), e)
            })?;
            if entry.header().entry_type().is_file() {
                let mut contents = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut contents)
                    .map_err(|e| ContainerError::io(format!("reading {container_path}"), e))?;
                return Ok(contents);
            }
        }
        Err(ContainerError::Invalid(format!(
            "{container_path} in the sandbox is not a regular file"
        )))
    }

    /// The sandbox user as numbers for tar headers; root when it is a name we cannot resolve.
    pub(super) fn numeric_owner(&self) -> (u64, u64) {
        let mut parts = self.user.split(':');
        let uid = parts.next().and_then(|u| u.parse().ok()).unwrap_or(0);
        let gid = parts.next().and_then(|g| g.parse().ok()).unwrap_or(uid);
        (uid, gid)
    }
}

fn split_container_path(path: &str) -> Result<(&str, &str)> {
    match path.rsplit_once('/') {
        Some((dir, name)) if !name.is_empty() => Ok((if dir.is_empty() { "/" } else { dir }, name)),
        _ => Err(ContainerError::Invalid(format!(
            "`{path}` is not an absolute file path inside the sandbox"
        ))),
    }
}

/// A tar of `source` under its base name, owned by `uid:gid`, symlinks kept as links.
fn tar_path(source: &Path, uid: u64, gid: u64) -> Result<Vec<u8>> {
    let name = source.file_name().map(PathBuf::from).ok_or_else(|| {
        ContainerError::Invalid(format!("{} has no file name to copy", source.display()))
    })?;
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    append_tree(&mut builder, source, &name, uid, gid)?;
    builder
        .into_inner()
        .map_err(|e| ContainerError::io(format!("archiving {}", source.display()), e))
}

fn append_tree(
    builder: &mut tar::Builder<Vec<u8>>,
    path: &Path,
    name: &Path,
    uid: u64,
    gid: u64,
) -> Result<()> {
    let io = |e| ContainerError::io(format!("archiving {}", path.display()), e);
    let meta = std::fs::symlink_metadata(path).map_err(io)?;
    let mut header = tar::Header::new_gnu();
    header.set_metadata(&meta);
    header.set_uid(uid);
    header.set_gid(gid);
    if meta.is_dir() {
        header.set_size(0);
        builder
            .append_data(&mut header, name, std::io::empty())
            .map_err(io)?;
        let mut children: Vec<_> = std::fs::read_dir(path)
            .map_err(io)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        children.sort();
        for child in children {
            append_tree(builder, &path.join(&child), &name.join(&child), uid, gid)?;
        }
    } else if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path).map_err(io)?;
        header.set_size(0);
        builder.append_link(&mut header, name, target).map_err(io)?;
    } else if meta.is_file() {
        let file = std::fs::File::open(path).map_err(io)?;
        builder.append_data(&mut header, name, file).map_err(io)?;
    }
    Ok(())
}
