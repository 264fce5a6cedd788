//! `DockerSandbox`: one container with the workspace bind-mounted (or, on an engine that does
//! not share this host's filesystem, copied in and kept in step: see `sync.rs`), in which
//! commands run.
//!
//! Lifetime. The container's main process is our command server (a bash loop, see `server.rs`;
//! `cat` in images without bash) reading its stdin, and we hold the only attached stdin
//! stream. When the sandbox is dropped, or our process ends in any way (Ctrl-C, panic,
//! SIGKILL), that stream closes, the main process exits, and the engine removes the container
//! (`AutoRemove`). `remove()` does the same eagerly; `prune` finds what is left by label (a
//! process killed between create and attach).
//!
//! Commands. They go to the command server over that stream when it is free, which avoids
//! `runc exec` (about 3 ms per command instead of 50 here); `docker exec` runs root helpers, a
//! second command while one runs, and everything in images without bash.
//!
//! User. Files in the bind-mounted workspace must stay writable, so commands run as the
//! workspace's owner (`uid:gid` of the directory). When that owner is root (as on CI machines
//! where everything belongs to root) commands run as root in the container, with
//! `no-new-privileges`; otherwise as the owner's uid, which needs no passwd entry.

mod copy;
mod exec;
mod manifest;
mod server;
mod sync;

pub use exec::{OutputLine, OutputStream, SandboxOutput};
pub use sync::SyncStats;

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use futures_util::{Stream, StreamExt};

use crate::cleanup;
use crate::engine::{Engine, EngineAddress};
use crate::error::{ContainerError, Result, status_code};

/// Where the workspace appears inside the container.
pub const WORKSPACE_MOUNT: &str = "/workspace";

/// Resource limits of a sandbox container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: i64,
    /// CPUs in billionths (2 CPUs = 2_000_000_000).
    pub nano_cpus: i64,
    pub pids: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 4 << 30,
            nano_cpus: 2_000_000_000,
            pids: 1024,
        }
    }
}

/// How the host workspace reaches the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkspaceMode {
    /// `AGENT_WORKSPACE_MODE` when set, else a bind mount on an engine reached through a unix
    /// socket and a copy on any other (`tcp://`, `ssh://`: maybe another machine).
    #[default]
    Auto,
    /// The host folder is bind-mounted: the engine must see this host's filesystem.
    Bind,
    /// The folder is copied into the container and kept in step around every command.
    Copy,
}

/// The variable that chooses the workspace mode when the configuration leaves it to `Auto`.
pub const WORKSPACE_MODE_VAR: &str = "AGENT_WORKSPACE_MODE";

impl std::str::FromStr for WorkspaceMode {
    type Err = ContainerError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "auto" | "" => Ok(Self::Auto),
            "bind" => Ok(Self::Bind),
            "copy" => Ok(Self::Copy),
            other => Err(ContainerError::Invalid(format!(
                "unknown workspace mode `{other}`: use `bind` (mount the host folder; the engine \
                 must run on this host), `copy` (copy it in and out through the engine's API) \
                 or `auto` (bind on a unix socket, copy otherwise)"
            ))),
        }
    }
}

impl WorkspaceMode {
    /// Whether a sandbox on `engine` copies its workspace. `Auto` reads
    /// [`WORKSPACE_MODE_VAR`], then the engine's address.
    pub fn copies_on(self, engine: &EngineAddress) -> Result<bool> {
        let mode = match self {
            Self::Auto => match &crate::HostEnv::get().workspace_mode {
                Some(value) => value.parse().map_err(|e: ContainerError| {
                    ContainerError::Invalid(format!("{WORKSPACE_MODE_VAR}: {e}"))
                })?,
                None => Self::Auto,
            },
            other => other,
        };
        Ok(match mode {
            Self::Bind => false,
            Self::Copy => true,
            Self::Auto => !engine.shares_host_filesystem(),
        })
    }
}

/// Who commands run as.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SandboxUser {
    /// The workspace directory's owner (root when root owns it); the image's user without one.
    #[default]
    WorkspaceOwner,
    Root,
    /// A user name or `uid[:gid]` known to the image.
    Named(String),
}

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub image: String,
    /// Host directory bind-mounted read-write at `workspace_mount`.
    pub workspace: Option<PathBuf>,
    /// Where the workspace is mounted: [`WORKSPACE_MOUNT`] unless set (SWE-bench instance
    /// images keep their installed repository at `/testbed`).
    pub workspace_mount: String,
    /// Working directory of commands; relative request workdirs are joined to it.
    pub workdir: String,
    pub env: Vec<(String, String)>,
    /// Off by default: commands cannot reach the network.
    pub network: bool,
    pub limits: Limits,
    pub user: SandboxUser,
    /// Ties containers to a run (`agent.run` label), e.g. a bench instance id.
    pub run_id: Option<String>,
    /// Paths inside the workspace (relative, e.g. `.git`) mounted read-only over themselves, so
    /// commands can read them but never change them. With a copied workspace they are copied
    /// in at start and never copied back.
    pub read_only: Vec<String>,
    /// Bind mount or copy (see [`WorkspaceMode`]).
    pub workspace_mode: WorkspaceMode,
}

impl SandboxConfig {
    pub fn new(image: impl Into<String>) -> Self {
        Self {
            image: image.into(),
            workspace: None,
            workspace_mount: WORKSPACE_MOUNT.to_string(),
            workdir: WORKSPACE_MOUNT.to_string(),
            env: Vec::new(),
            network: false,
            limits: Limits::default(),
            user: SandboxUser::default(),
            run_id: None,
            read_only: Vec::new(),
            workspace_mode: WorkspaceMode::Auto,
        }
    }

    pub fn workspace_mode(mut self, mode: WorkspaceMode) -> Self {
        self.workspace_mode = mode;
        self
    }

    /// Mounts `relative` (inside the workspace) read-only, when it exists.
    pub fn read_only(mut self, relative: impl Into<String>) -> Self {
        self.read_only.push(relative.into());
        self
    }

    pub fn workspace(mut self, dir: impl Into<PathBuf>) -> Self {
        self.workspace = Some(dir.into());
        self
    }

    /// Mounts the workspace at `path` instead of [`WORKSPACE_MOUNT`], and runs commands there.
    pub fn mount_workspace_at(mut self, path: impl Into<String>) -> Self {
        self.workspace_mount = path.into();
        self.workdir = self.workspace_mount.clone();
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn network(mut self, enabled: bool) -> Self {
        self.network = enabled;
        self
    }

    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn user(mut self, user: SandboxUser) -> Self {
        self.user = user;
        self
    }

    pub fn run_id(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = Some(run_id.into());
        self
    }
}

type AttachOutput =
    Pin<Box<dyn Stream<Item = std::result::Result<LogOutput, bollard::errors::Error>> + Send>>;

pub struct DockerSandbox {
    docker: Docker,
    engine: EngineAddress,
    /// The copied workspace's state; `None` when it is bind-mounted (or there is none).
    sync: Option<tokio::sync::Mutex<sync::SyncState>>,
    id: String,
    name: String,
    config: SandboxConfig,
    /// The `--user` value commands run with ("" = the image's user).
    user: String,
    /// The main process's attached stdio: the command server, and what keeps the container.
    channel: tokio::sync::Mutex<Option<server::Channel>>,
    /// OOM kills already reported, from the container's memory cgroup counter.
    oom_kills_seen: AtomicU64,
    removed: AtomicBool,
}

impl std::fmt::Debug for DockerSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerSandbox")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("image", &self.config.image)
            .field("user", &self.user)
            .finish()
    }
}

impl DockerSandbox {
    /// Creates and starts a container. Fails with [`ContainerError::ImageMissing`] (naming the
    /// build command) when the image is not there, and [`ContainerError::EngineUnavailable`]
    /// when the engine is not reachable.
    pub async fn create(config: SandboxConfig) -> Result<Self> {
        let engine = Engine::from_env(Duration::from_secs(120)).await?;
        Self::create_on(&engine, config).await
    }

    /// On the engine of `DOCKER_HOST` (or the default socket), through `docker`.
    pub async fn create_with(docker: Docker, config: SandboxConfig) -> Result<Self> {
        let address = EngineAddress::from_env()?;
        Self::create_on(&Engine { address, docker }, config).await
    }

    /// On `engine`; the workspace is bind-mounted or copied as [`WorkspaceMode::copies_on`]
    /// says for it.
    pub async fn create_on(engine: &Engine, config: SandboxConfig) -> Result<Self> {
        let docker = engine.docker.clone();
        let user = resolve_user(&config)?;
        let name = cleanup::new_container_name();
        let copied =
            config.workspace.is_some() && config.workspace_mode.copies_on(&engine.address)?;
        let body = container_body(&config, &user, copied)?;
        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        let created = match docker.create_container(Some(options), body).await {
            Ok(created) => created,
            Err(e) if status_code(&e) == Some(404) => {
                return Err(ContainerError::ImageMissing(format!(
                    "image `{}` does not exist in the engine; build it with `agent images build` \
                     (or `agent images build --python X.Y`)",
                    config.image
                )));
            }
            Err(e) => {
                return Err(ContainerError::engine(
                    format!("creating a container from {}", config.image),
                    e,
                ));
            }
        };
        let id = created.id;
        cleanup::register(&id, &engine.address);
        let sandbox = Self {
            docker,
            engine: engine.address.clone(),
            sync: copied.then(|| tokio::sync::Mutex::new(sync::SyncState::default())),
            id,
            name,
            config,
            user,
            channel: tokio::sync::Mutex::new(None),
            oom_kills_seen: AtomicU64::new(0),
            removed: AtomicBool::new(false),
        };
        // On failure `sandbox` is dropped, which force-removes the created container.
        sandbox.attach_and_start().await?;
        sandbox.sync_initial().await?;
        tracing::debug!(id = %sandbox.id, image = %sandbox.config.image, user = %sandbox.user, "sandbox started");
        Ok(sandbox)
    }

    /// Attaches to the main process's stdin and starts the container, both at once: `cat`
    /// blocks on its open stdin until the first attached client, ours, goes away.
    async fn attach_and_start(&self) -> Result<()> {
        let options = AttachContainerOptionsBuilder::new()
            .stdin(true)
            .stdout(true)
            .stderr(true)
            .stream(true)
            .build();
        let (attached, started) = tokio::join!(
            self.docker.attach_container(&self.id, Some(options)),
            self.docker.start_container(&self.id, None)
        );
        let attached =
            attached.map_err(|e| ContainerError::engine("attaching to the sandbox's stdin", e))?;
        *self.channel.lock().await = Some(server::Channel {
            input: attached.input,
            output: attached.output,
            state: server::ServerState::Starting,
            in_flight: false,
        });
        started.map_err(|e| ContainerError::engine(format!("starting container {}", self.name), e))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// The user commands run as (`uid:gid`, a name, or empty for the image's user).
    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The engine the container runs on.
    pub fn engine(&self) -> &EngineAddress {
        &self.engine
    }

    /// Whether the workspace is copied (not bind-mounted).
    pub fn copies_workspace(&self) -> bool {
        self.sync.is_some()
    }

    /// Stops and removes the container now. Idempotent.
    pub async fn remove(&self) -> Result<()> {
        if self.removed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        // The container stays in the live registry until it is gone: a process that must exit
        // during the removal (a second Ctrl-C, the grace period after one) still removes it.
        // Closing the main process's stdin ends the container like `docker run --rm` ends:
        // the process exits and the engine removes it. Forced removal is the fallback.
        // A command still running holds the channel, or was cut off while the server still
        // runs it: then removal is forced.
        let ends_on_its_own = match self.channel.try_lock() {
            Ok(mut channel) => channel.take().is_some_and(|c| !c.in_flight),
            Err(_) => false,
        };
        if ends_on_its_own {
            // Whether the wait is registered before or after the removal, it ends once the
            // container is gone (a 404 if it already is).
            let options = WaitContainerOptionsBuilder::new()
                .condition("removed")
                .build();
            let mut wait = self.docker.wait_container(&self.id, Some(options));
            let waited = tokio::time::timeout(Duration::from_secs(10), wait.next()).await;
            let gone = match waited {
                Ok(None) | Ok(Some(Ok(_))) => true,
                Ok(Some(Err(e))) => {
                    status_code(&e) == Some(404)
                        || matches!(e, bollard::errors::Error::DockerContainerWaitError { .. })
                }
                Err(_) => false,
            };
            if gone {
                cleanup::unregister(&self.id);
                return Ok(());
            }
        }
        force_remove(&self.docker, &self.id).await?;
        cleanup::unregister(&self.id);
        Ok(())
    }

    /// Whether the container still exists and runs.
    pub async fn is_running(&self) -> Result<bool> {
        match self.docker.inspect_container(&self.id, None).await {
            Ok(info) => Ok(info.state.and_then(|s| s.running).unwrap_or(false)),
            Err(e) if status_code(&e) == Some(404) => Ok(false),
            Err(e) => Err(ContainerError::engine("inspecting the sandbox", e)),
        }
    }
}

impl Drop for DockerSandbox {
    fn drop(&mut self) {
        if self.removed.swap(true, Ordering::SeqCst) {
            return;
        }
        cleanup::unregister(&self.id);
        // Closing the attached stdin ends the main process, and the engine auto-removes the
        // container.
        self.channel.get_mut().take();
        // A container that never started (attach or start failed) is not auto-removed.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let docker = self.docker.clone();
            let id = self.id.clone();
            handle.spawn(async move {
                let _ = force_remove(&docker, &id).await;
            });
        }
    }
}

/// `docker rm -f`, treating "already gone" and "removal in progress" as done.
pub(crate) async fn force_remove(docker: &Docker, id: &str) -> Result<()> {
    let options = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if matches!(status_code(&e), Some(404) | Some(409)) => Ok(()),
        Err(e) => Err(ContainerError::engine(
            format!("removing container {id}"),
            e,
        )),
    }
}

pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn resolve_user(config: &SandboxConfig) -> Result<String> {
    match &config.user {
        SandboxUser::Root => Ok("0:0".into()),
        SandboxUser::Named(name) => Ok(name.clone()),
        SandboxUser::WorkspaceOwner => match &config.workspace {
            Some(dir) => {
                let meta = std::fs::metadata(dir).map_err(|e| {
                    ContainerError::io(format!("reading the workspace {}", dir.display()), e)
                })?;
                Ok(format!("{}:{}", meta.uid(), meta.gid()))
            }
            None => Ok(String::new()),
        },
    }
}

fn container_body(config: &SandboxConfig, user: &str, copied: bool) -> Result<ContainerCreateBody> {
    let mut binds = Vec::new();
    if let Some(dir) = config.workspace.as_ref().filter(|_| !copied) {
        let dir = dir.canonicalize().map_err(|e| {
            ContainerError::io(format!("resolving the workspace {}", dir.display()), e)
        })?;
        let dir = dir.to_str().ok_or_else(|| {
            ContainerError::Invalid(format!("workspace path {} is not UTF-8", dir.display()))
        })?;
        binds.push(format!("{dir}:{}:rw", config.workspace_mount));
        for relative in &config.read_only {
            let inside = relative.trim_matches('/');
            if inside.is_empty() || inside.split('/').any(|c| c == "..") {
                return Err(ContainerError::Invalid(format!(
                    "read-only path `{relative}` must be a plain path inside the workspace"
                )));
            }
            // A symlink here could point the mount anywhere on the host: only real entries.
            let host = std::path::Path::new(dir).join(inside);
            if host
                .symlink_metadata()
                .is_ok_and(|m| !m.file_type().is_symlink())
            {
                binds.push(format!(
                    "{dir}/{inside}:{}/{inside}:ro",
                    config.workspace_mount
                ));
            }
        }
    }
    let mut env: Vec<String> = config.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let non_root = !user.is_empty() && !user.starts_with("0:") && user != "0" && user != "root";
    if non_root && !config.env.iter().any(|(k, _)| k == "HOME") {
        // A uid without a passwd entry would get HOME=/, where it cannot write caches.
        env.push("HOME=/tmp".into());
    }
    let host_config = HostConfig {
        binds: Some(binds),
        network_mode: Some(if config.network { "bridge" } else { "none" }.into()),
        memory: Some(config.limits.memory_bytes),
        // Equal to memory: no swap, so a memory hog is OOM-killed instead of thrashing.
        memory_swap: Some(config.limits.memory_bytes),
        nano_cpus: Some(config.limits.nano_cpus),
        pids_limit: Some(config.limits.pids),
        // docker-init as PID 1 reaps the zombies of exec'd commands.
        init: Some(true),
        auto_remove: Some(true),
        security_opt: Some(vec!["no-new-privileges".into()]),
        ..Default::default()
    };
    Ok(ContainerCreateBody {
        image: Some(config.image.clone()),
        entrypoint: Some(vec![
            "sh".into(),
            "-c".into(),
            server::MAIN_PROCESS.into(),
            server::SERVER.into(),
        ]),
        cmd: None,
        user: (!user.is_empty()).then(|| user.to_string()),
        working_dir: Some(config.workdir.clone()),
        env: Some(env),
        labels: Some(cleanup::labels(config.run_id.as_deref())),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        open_stdin: Some(true),
        stdin_once: Some(true),
        tty: Some(false),
        host_config: Some(host_config),
        ..Default::default()
    })
}

/// Labels as a map, for callers that add their own.
pub fn label_map(run_id: Option<&str>) -> HashMap<String, String> {
    cleanup::labels(run_id)
}
