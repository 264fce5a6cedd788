//! The copied workspace, for engines that do not share this host's filesystem (or when asked
//! with `WorkspaceMode::Copy`). The workspace is copied into the container at start (only what
//! the image does not already hold), then kept in step around every command: host changes
//! (the file tools edit the host folder) go in before it, container changes come out after it.
//! Both directions copy only entries whose stamp (kind, size, mtime, ctime, mode, link target)
//! changed since the last sync, as one tar through the engine's archive API; deletions are
//! carried over too. Paths the sandbox protects (`read_only`, e.g. `.git`) are copied in at
//! start and never copied back: a command may change them in the container, never on the host.

use std::path::{Component, Path};
use std::time::{Duration, Instant};

use agent_exec::ExecRequest;
use agent_exec::shell_quote;

use super::DockerSandbox;
use super::manifest::{self, Manifest};
use crate::error::{ContainerError, Result};

/// Where a pull's archive is made inside the container.
const PULL_ARCHIVE: &str = "/tmp/.agent-sync.tar";
/// Output cap of the listing (about 600,000 entries).
const LISTING_CAP: usize = 64 << 20;
const HELPER_TIMEOUT: Duration = Duration::from_secs(600);

/// What syncing has cost so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Entries copied into the container (the first copy included).
    pub copied_in: u64,
    /// Entries copied out to the host.
    pub copied_out: u64,
    /// Entries deleted on either side.
    pub deleted: u64,
    /// Time spent syncing (listing, archiving, copying).
    pub time: Duration,
}

#[derive(Debug, Default)]
pub(crate) struct SyncState {
    /// The host workspace (without protected paths) as of the last sync.
    host: Manifest,
    /// The container workspace as of the last sync; `None` after a copy in changed it.
    container: Option<Manifest>,
    stats: SyncStats,
}

impl DockerSandbox {
    /// How much copying the workspace has cost; `None` when it is bind-mounted.
    pub async fn sync_stats(&self) -> Option<SyncStats> {
        let state = self.sync.as_ref()?.lock().await;
        Some(state.stats)
    }

    fn excluded(&self) -> Vec<String> {
        self.config
            .read_only
            .iter()
            .map(|p| p.trim_matches('/').to_string())
            .filter(|p| !p.is_empty())
            .collect()
    }

    fn host_root(&self) -> Result<&Path> {
        self.config
            .workspace
            .as_deref()
            .ok_or_else(|| ContainerError::Invalid("a copied workspace needs a host folder".into()))
    }

    /// The first copy: makes the workspace folder, then copies in what the container does not
    /// already hold the same (nothing, for a fresh folder; only the differences, when the image
    /// already has the repository), and deletes what the host does not have.
    pub(crate) async fn sync_initial(&self) -> Result<()> {
        let Some(sync) = &self.sync else {
            return Ok(());
        };
        let started = Instant::now();
        let mount = self.config.workspace_mount.clone();
        let owner = if self.user.is_empty() {
            String::new()
        } else {
            format!(
                " && chown {} {}",
                shell_quote(&self.user),
                shell_quote(&mount)
            )
        };
        self.run_as_root_checked(&format!("mkdir -p {}{owner}", shell_quote(&mount)))
            .await?;
        let container = self.list_container(&[]).await?;
        let root = self.host_root()?.to_path_buf();
        let host = blocking(move || manifest::walk_host(&root, &[])).await??;
        let differing: Vec<String> = host
            .iter()
            .filter(|(path, stamp)| container.get(*path).is_none_or(|c| !stamp.same_across(c)))
            .map(|(path, _)| path.clone())
            .collect();
        let extra = manifest::gone(&container, &host);
        let mut state = sync.lock().await;
        self.delete_in_container(&extra).await?;
        self.copy_in_entries(&differing).await?;
        let excluded = self.excluded();
        state.host = host
            .into_iter()
            .filter(|(p, _)| !manifest::is_excluded(p, &excluded))
            .collect();
        state.container = None;
        state.stats.copied_in += differing.len() as u64;
        state.stats.deleted += extra.len() as u64;
        state.stats.time += started.elapsed();
        tracing::debug!(
            copied = differing.len(),
            deleted = extra.len(),
            ms = started.elapsed().as_millis() as u64,
            "workspace copied into the sandbox"
        );
        Ok(())
    }

    /// Before a command: host changes since the last sync go into the container.
    pub(crate) async fn sync_before(&self) -> Result<()> {
        let Some(sync) = &self.sync else {
            return Ok(());
        };
        let started = Instant::now();
        let mut state = sync.lock().await;
        let excluded = self.excluded();
        let root = self.host_root()?.to_path_buf();
        let walk_excluded = excluded.clone();
        let host = blocking(move || manifest::walk_host(&root, &walk_excluded)).await??;
        let (changed, removed) = manifest::changes(&state.host, &host);
        if !changed.is_empty() || !removed.is_empty() {
            self.delete_in_container(&removed).await?;
            self.copy_in_entries(&changed).await?;
            state.container = None;
            state.stats.copied_in += changed.len() as u64;
            state.stats.deleted += removed.len() as u64;
        }
        state.host = host;
        if state.container.is_none() {
            state.container = Some(self.list_container(&excluded).await?);
        }
        state.stats.time += started.elapsed();
        Ok(())
    }

    /// After a command: what it changed in the container comes out to the host.
    pub(crate) async fn sync_after(&self) -> Result<()> {
        let Some(sync) = &self.sync else {
            return Ok(());
        };
        let started = Instant::now();
        let mut state = sync.lock().await;
        let excluded = self.excluded();
        let now = self.list_container(&excluded).await?;
        let (changed, removed) = match &state.container {
            Some(before) => manifest::changes(before, &now),
            // Not listed since a copy in (it failed half-way): judge by the host's copy.
            None => (
                now.iter()
                    .filter(|(p, s)| state.host.get(*p).is_none_or(|h| !h.same_across(s)))
                    .map(|(p, _)| p.clone())
                    .collect(),
                manifest::gone(&state.host, &now),
            ),
        };
        let root = self.host_root()?.to_path_buf();
        if !changed.is_empty() {
            let archive = self.pull_archive(&changed).await?;
            let (into, skip) = (root.clone(), excluded.clone());
            blocking(move || unpack_safely(&archive, &into, &skip)).await??;
        }
        if !removed.is_empty() {
            let (from, skip, paths) = (root.clone(), excluded.clone(), removed.clone());
            blocking(move || delete_on_host(&from, &paths, &skip)).await??;
        }
        for path in changed.iter().chain(&removed) {
            match manifest::host_stamp(&root.join(path)) {
                Ok(stamp) => {
                    state.host.insert(path.clone(), stamp);
                }
                Err(_) => {
                    let prefix = format!("{path}/");
                    state
                        .host
                        .retain(|p, _| p != path && !p.starts_with(&prefix));
                }
            }
        }
        state.container = Some(now);
        state.stats.copied_out += changed.len() as u64;
        state.stats.deleted += removed.len() as u64;
        state.stats.time += started.elapsed();
        Ok(())
    }

    async fn list_container(&self, excluded: &[String]) -> Result<Manifest> {
        let out = self
            .helper(&manifest::listing_command(excluded), LISTING_CAP)
            .await?;
        if out.dropped_bytes > 0 {
            return Err(ContainerError::Invalid(format!(
                "the workspace {} in the sandbox is too large to list for copying (over {} MiB \
                 of names); use a bind mount (a local engine)",
                self.config.workspace_mount,
                LISTING_CAP >> 20
            )));
        }
        manifest::parse_listing(&out.stdout)
    }

    /// Runs a helper command in the workspace as the sandbox user, without syncing; exit codes
    /// 0 and 1 (tar's "some files changed while read") are success.
    async fn helper(&self, command: &str, cap: usize) -> Result<agent_exec::ExecOutput> {
        let request = ExecRequest {
            command: command.to_string(),
            workdir: Some(self.config.workspace_mount.clone()),
            timeout: HELPER_TIMEOUT,
            output_cap: cap,
            env: Vec::new(),
        };
        let out = self.run_command(request, None).await?.output;
        if matches!(out.exit_code, Some(0) | Some(1)) {
            return Ok(out);
        }
        Err(ContainerError::Invalid(format!(
            "syncing the copied workspace failed in the sandbox {} (`{}` exited with {:?}): {}",
            self.name,
            command.chars().take(80).collect::<String>(),
            out.exit_code,
            out.stderr.trim()
        )))
    }

    async fn run_as_root_checked(&self, script: &str) -> Result<()> {
        self.run_as_root(script).await.map(|_| ())
    }

    async fn delete_in_container(&self, paths: &[String]) -> Result<()> {
        for chunk in paths.chunks(500) {
            let quoted: Vec<String> = chunk.iter().map(|p| shell_quote(p)).collect();
            self.helper(&format!("rm -rf -- {}", quoted.join(" ")), 1 << 16)
                .await?;
        }
        Ok(())
    }

    /// One tar of the host entries `paths` (parents first), uploaded into the workspace.
    async fn copy_in_entries(&self, paths: &[String]) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let (uid, gid) = self.numeric_owner();
        let root = self.host_root()?.to_path_buf();
        let paths = paths.to_vec();
        let archive = blocking(move || tar_entries(&root, &paths, uid, gid)).await??;
        self.upload(archive, &self.config.workspace_mount.clone())
            .await
    }

    /// The container entries `paths`, as one tar made in the container and downloaded.
    async fn pull_archive(&self, paths: &[String]) -> Result<Vec<u8>> {
        let mut list = String::new();
        for path in paths {
            list.push(' ');
            list.push_str(&shell_quote(path));
        }
        let command = format!(
            "rm -f {PULL_ARCHIVE} && printf '%s\\0'{list} | tar --null --no-recursion \
             --ignore-failed-read -T - -cf {PULL_ARCHIVE}"
        );
        self.helper(&command, 1 << 16).await?;
        let outer = self.download(PULL_ARCHIVE).await?;
        let mut archive = tar::Archive::new(outer.as_slice());
        let entries = archive
            .entries()
            .map_err(|e| ContainerError::io("reading the copied-out archive", e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| ContainerError::io("reading the archive", e))?;
            if entry.header().entry_type().is_file() {
                let mut inner = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut inner)
                    .map_err(|e| ContainerError::io("reading the archive", e))?;
                return Ok(inner);
            }
        }
        Err(ContainerError::Invalid(format!(
            "{PULL_ARCHIVE} in the sandbox {} is not a regular file",
            self.name
        )))
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ContainerError::Invalid(format!("a sync task failed: {e}")))
}

/// A tar of the host entries `paths` under `root` (directories empty; their entries are listed
/// on their own), owned by `uid:gid`, symlinks kept as links.
fn tar_entries(root: &Path, paths: &[String], uid: u64, gid: u64) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    for relative in paths {
        let path = root.join(relative);
        let io = |e| ContainerError::io(format!("archiving {}", path.display()), e);
        // Gone since it was listed: the next sync sees that.
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let mut header = tar::Header::new_gnu();
        header.set_metadata(&meta);
        header.set_uid(uid);
        header.set_gid(gid);
        if meta.is_dir() {
            header.set_size(0);
            builder
                .append_data(&mut header, relative, std::io::empty())
                .map_err(io)?;
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).map_err(io)?;
            header.set_size(0);
            builder
                .append_link(&mut header, relative, target)
                .map_err(io)?;
        } else if meta.is_file() {
            let file = std::fs::File::open(&path).map_err(io)?;
            builder
                .append_data(&mut header, relative, file)
                .map_err(io)?;
        }
    }
    builder
        .into_inner()
        .map_err(|e| ContainerError::io("archiving the workspace", e))
}

/// Whether `relative` is a plain relative path whose parents under `root` are real directories
/// (or missing), so writing it cannot land outside `root`.
fn safe_destination(root: &Path, relative: &Path, excluded: &[String]) -> bool {
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return false;
    }
    if relative
        .to_str()
        .is_none_or(|p| p.is_empty() || manifest::is_excluded(p, excluded))
    {
        return false;
    }
    let mut parent = root.to_path_buf();
    let mut components: Vec<_> = relative.components().collect();
    components.pop();
    for component in components {
        parent.push(component);
        if std::fs::symlink_metadata(&parent).is_ok_and(|m| !m.is_dir()) {
            return false;
        }
    }
    true
}

/// Unpacks an archive made in the (untrusted) container into `root`: only plain relative paths,
/// never through a symlink, never into `excluded` paths; an entry replaces whatever is there.
fn unpack_safely(archive: &[u8], root: &Path, excluded: &[String]) -> Result<()> {
    // Entries belong to the workspace's owner, as with a bind mount.
    let owner = std::fs::metadata(root).ok().map(|m| {
        use std::os::unix::fs::MetadataExt;
        (m.uid(), m.gid())
    });
    let mut unpacker = tar::Archive::new(archive);
    unpacker.set_preserve_permissions(true);
    unpacker.set_preserve_mtime(true);
    let entries = unpacker
        .entries()
        .map_err(|e| ContainerError::io("reading the copied-out archive", e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| ContainerError::io("reading the archive", e))?;
        let relative = entry
            .path()
            .map_err(|e| ContainerError::io("reading the archive", e))?
            .into_owned();
        if !safe_destination(root, &relative, excluded) {
            tracing::warn!(path = %relative.display(), "not copied out of the sandbox");
            continue;
        }
        let dest = root.join(&relative);
        let io = |e| ContainerError::io(format!("copying out {}", dest.display()), e);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let is_dir = entry.header().entry_type().is_dir();
        match std::fs::symlink_metadata(&dest) {
            Ok(meta) if meta.is_dir() && !is_dir => std::fs::remove_dir_all(&dest).map_err(io)?,
            Ok(meta) if !meta.is_dir() => std::fs::remove_file(&dest).map_err(io)?,
            _ => {}
        }
        if !matches!(
            entry.header().entry_type(),
            tar::EntryType::Regular | tar::EntryType::Directory | tar::EntryType::Symlink
        ) {
            continue;
        }
        entry.unpack(&dest).map_err(io)?;
        if let Some((uid, gid)) = owner {
            // Only root may give files away; for anyone else they are theirs already.
            let _ = std::os::unix::fs::lchown(&dest, Some(uid), Some(gid));
        }
    }
    Ok(())
}

fn delete_on_host(root: &Path, paths: &[String], excluded: &[String]) -> Result<()> {
    for relative in paths {
        if !safe_destination(root, Path::new(relative), excluded) {
            continue;
        }
        let path = root.join(relative);
        let result = match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&path),
            Ok(_) => std::fs::remove_file(&path),
            Err(_) => Ok(()),
        };
        result.map_err(|e| ContainerError::io(format!("deleting {}", path.display()), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpacking_refuses_paths_out_of_the_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("etc-link")).unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        for (name, body) in [
            ("ok.txt", "fine"),
            ("etc-link/evil", "no"),
            (".git/config", "no"),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            builder
                .append_data(&mut header, name, body.as_bytes())
                .unwrap();
        }
        let archive = builder.into_inner().unwrap();
        unpack_safely(&archive, &root, &[".git".into()]).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("ok.txt")).unwrap(),
            "fine"
        );
        assert!(!Path::new("/etc/evil").exists());
        assert!(!root.join(".git/config").exists());
        assert!(!safe_destination(&root, Path::new("../x"), &[]));
    }
}
