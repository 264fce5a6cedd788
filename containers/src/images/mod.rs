//! Images built locally, without a registry: a Debian root filesystem imported into the engine,
//! and Python environments built on it. See `containers/images/README.md`.
//!
//! Callers that need an environment call [`ensure_image`] (build when missing) or
//! [`require_image`] (fail with the command to run when missing).

pub mod build;
pub mod pull;
pub mod recipe;
pub mod rootfs;
pub mod transfer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;

pub use recipe::{
    BaseRecipe, DEFAULT_PYTHON, EnvRecipe, PYTHON_ENVS, PythonEnv, default_ca_bundle, python_env,
};

use crate::engine;
use crate::error::{ContainerError, Result, status_code};

/// What a build is doing, for a progress bar or log lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildEvent {
    /// A new step starts.
    Step(String),
    /// One line of output of the current step.
    Line(String),
}

pub type Progress = dyn Fn(BuildEvent) + Send + Sync;

/// Progress as `tracing` events (steps at info, lines at debug).
pub fn log_progress() -> Arc<Progress> {
    Arc::new(|event| match event {
        BuildEvent::Step(step) => tracing::info!("{step}"),
        BuildEvent::Line(line) => tracing::debug!("{line}"),
    })
}

/// Where pip gets pytest during the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PipSource {
    /// Probe PyPI from a container; use the host wheelhouse when it is unreachable.
    #[default]
    Auto,
    Index,
    Wheelhouse,
}

#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Extra PEM certificates to trust inside the image.
    pub ca_bundle: Option<PathBuf>,
    /// Debian mirror for the root filesystem.
    pub mirror: String,
    /// Where root filesystem tarballs are cached.
    pub cache_dir: PathBuf,
    pub pip_source: PipSource,
    /// Build the base on this pulled image (e.g. `debian:bookworm-slim`) instead of a root
    /// filesystem made on the host; part of the images' hashes.
    pub base_image: Option<String>,
}

impl BuildOptions {
    /// Defaults from the environment ([`crate::HostEnv`]): CA bundle from `$SSL_CERT_FILE`/`$PIP_CERT`, mirror from
    /// `$AGENT_DEBIAN_MIRROR`, cache under `$AGENT_CACHE_DIR` or `~/.cache/agent`, base image
    /// from `$AGENT_BASE_IMAGE` (none: the host-made root filesystem).
    pub fn from_env() -> Self {
        let host = crate::HostEnv::get();
        Self {
            ca_bundle: default_ca_bundle(None),
            mirror: host
                .debian_mirror
                .clone()
                .unwrap_or_else(|| recipe::DEFAULT_MIRROR.to_string()),
            cache_dir: host.cache_root.join("rootfs"),
            pip_source: PipSource::Auto,
            base_image: host.base_image.clone(),
        }
    }

    /// The recipe of the `python` environment with these options' CA bundle and base image.
    pub fn recipe(&self, python: &str) -> Result<EnvRecipe> {
        Ok(EnvRecipe::new(python, self.ca_bundle.clone())?.on_base_image(self.base_image.clone()))
    }
}

/// A usable environment image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `agent-env:py3.11-<hash12>`; what `SandboxConfig::new` takes.
    pub tag: String,
    pub id: String,
    pub python: String,
    pub suite: String,
    /// Whether this call built it (false: it was already there).
    pub built: bool,
    pub build_time: Option<Duration>,
}

/// The image for `python`, built (with progress in the logs) when missing.
pub async fn ensure_image(python: &str) -> Result<ImageRef> {
    let docker = engine::connect_with_timeout(Duration::from_secs(3600)).await?;
    ensure_image_with(&docker, python, &BuildOptions::from_env(), &*log_progress()).await
}

/// The image for `python` if it is built; otherwise an error that says how to build it.
pub async fn require_image(python: &str) -> Result<ImageRef> {
    let docker = engine::connect().await?;
    let recipe = BuildOptions::from_env().recipe(python)?;
    match image_id(&docker, &recipe.tag()).await? {
        Some(id) => Ok(image_ref(&recipe, id, None)),
        None => Err(ContainerError::ImageMissing(format!(
            "the Python {} image {} is not built; run `agent images build --python {}` \
             (it takes a few minutes the first time)",
            recipe.env.python,
            recipe.tag(),
            recipe.env.python
        ))),
    }
}

/// The id of `tag` in the engine, or `None` when it is not there.
pub async fn image_id(docker: &Docker, tag: &str) -> Result<Option<String>> {
    match docker.inspect_image(tag).await {
        Ok(info) => Ok(Some(info.id.unwrap_or_default())),
        Err(e) if status_code(&e) == Some(404) => Ok(None),
        Err(e) => Err(ContainerError::engine(format!("inspecting image {tag}"), e)),
    }
}

fn image_ref(recipe: &EnvRecipe, id: String, build_time: Option<Duration>) -> ImageRef {
    ImageRef {
        tag: recipe.tag(),
        id,
        python: recipe.env.python.to_string(),
        suite: recipe.env.suite.to_string(),
        built: build_time.is_some(),
        build_time,
    }
}

/// Serializes builds within this process; a file lock does it across processes.
static BUILD_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Builds what is missing of the `python` environment (root filesystem, base image, env image)
/// and returns it. Idempotent: an existing image with the recipe's hash is returned as is.
pub async fn ensure_image_with(
    docker: &Docker,
    python: &str,
    options: &BuildOptions,
    progress: &Progress,
) -> Result<ImageRef> {
    let recipe = options.recipe(python)?;
    let tag = recipe.tag();
    if let Some(id) = image_id(docker, &tag).await? {
        return Ok(image_ref(&recipe, id, None));
    }
    let _in_process = BUILD_LOCK.lock().await;
    let _across_processes = lock_file(options.cache_dir.join("build.lock")).await?;
    // Another process may have built it while we waited.
    if let Some(id) = image_id(docker, &tag).await? {
        return Ok(image_ref(&recipe, id, None));
    }
    let started = Instant::now();
    let base_tag = recipe.base.tag();
    if image_id(docker, &base_tag).await?.is_some() {
        progress(BuildEvent::Step(format!(
            "base image {base_tag} is present"
        )));
    } else if recipe.base.from_image.is_some() {
        pull::build_pulled_base(docker, &recipe.base, &options.mirror, progress).await?;
    } else {
        let tarball = rootfs::ensure_rootfs_tarball(
            &recipe.base,
            &options.cache_dir,
            &options.mirror,
            progress,
        )
        .await?;
        rootfs::import_rootfs(docker, &tarball, &base_tag, progress).await?;
    }
    let offline = match options.pip_source {
        PipSource::Index => false,
        PipSource::Wheelhouse => true,
        PipSource::Auto => {
            progress(BuildEvent::Step("probing PyPI from a container".into()));
            let (reachable, detail) =
                build::probe_pypi(docker, &base_tag, &recipe.ca_bundle).await?;
            progress(BuildEvent::Line(format!(
                "PyPI from a container: {} ({detail})",
                if reachable {
                    "reachable"
                } else {
                    "unreachable"
                }
            )));
            !reachable
        }
    };
    let wheelhouse = if offline {
        let dir = tempfile::Builder::new()
            .prefix("agent-wheelhouse-")
            .tempdir()
            .map_err(|e| ContainerError::io("creating a wheelhouse directory", e))?;
        build::prepare_wheelhouse(recipe.env.python, dir.path(), progress).await?;
        Some(dir)
    } else {
        None
    };
    let context = build::build_context(&recipe, wheelhouse.as_ref().map(|d| d.path()))?;
    build::build_env_image(docker, &recipe, context, offline, progress).await?;
    let id = image_id(docker, &tag).await?.ok_or_else(|| {
        ContainerError::Build(format!("the build finished but {tag} is not in the engine"))
    })?;
    let elapsed = started.elapsed();
    progress(BuildEvent::Step(format!(
        "built {tag} in {:.0}s",
        elapsed.as_secs_f64()
    )));
    Ok(image_ref(&recipe, id, Some(elapsed)))
}

/// Holds an exclusive lock on `path` until dropped.
async fn lock_file(path: PathBuf) -> Result<std::fs::File> {
    tokio::task::spawn_blocking(move || {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| ContainerError::io(format!("creating {}", dir.display()), e))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| ContainerError::io(format!("opening {}", path.display()), e))?;
        file.lock()
            .map_err(|e| ContainerError::io(format!("locking {}", path.display()), e))?;
        Ok(file)
    })
    .await
    .map_err(|e| ContainerError::Invalid(format!("lock task failed: {e}")))?
}
