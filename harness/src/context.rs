//! What every bench command shares: the engine, the specs, where repositories come from, the
//! cache of checkouts, and the images built so far. Containers for evaluation and validation
//! are created here, with instance setup either in an image layer or at container start.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_containers::engine::{Engine, EngineAddress};
use agent_containers::images::image_id;
use agent_containers::images::{BuildOptions, Progress, log_progress};
use agent_containers::{DockerSandbox, Limits, SandboxConfig, SandboxUser, cleanup};
use agent_exec::ExecRequest;
use bollard::Docker;
use bollard::models::ContainerConfig;
use bollard::query_parameters::CommitContainerOptionsBuilder;
use tokio::sync::Mutex;

use crate::dataset::Instance;
use crate::error::{HarnessError, IoContext, Result};
use crate::images::{
    ImageBuilder, LABEL_HARNESS, env_recipe, instance_image_tag, requirements_at, setup_repo_script,
};
use crate::official::{ImageSource, ensure_pulled, official_reference};
use crate::repos::{RepoSource, checkout_at_base};
use crate::specs::{ResolvedSpec, SpecTable};
use crate::testspec::TESTBED;

/// Where an instance's repository is set up (clone + pre-install + install + setup commit).
/// Both are exact: the same files, the same commands. Measured on the mini dataset (engine on
/// fuse-overlayfs, 2 cores): the image layer costs ~3.4 s more once per instance and saves
/// ~1 s on every later evaluation (no copy, no setup), more when the spec installs; it is the
/// default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetupMode {
    /// In an instance image, made once (setup in a container, then committed) and reused.
    #[default]
    ImageLayer,
    /// In each fresh container, from the environment image (no per-instance image on disk).
    ContainerStart,
}

impl std::str::FromStr for SetupMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "image" | "image-layer" => Ok(Self::ImageLayer),
            "container" | "container-start" => Ok(Self::ContainerStart),
            other => Err(format!(
                "unknown setup mode `{other}`: use `image` (an image layer per instance) or \
                 `container` (set up at container start)"
            )),
        }
    }
}

#[derive(Clone)]
pub struct ContextOptions {
    pub specs: SpecTable,
    pub repos: RepoSource,
    /// Checkouts, scratch space (see [`crate::mini::cache_root`]).
    pub cache: PathBuf,
    /// `logs/build_images` goes here.
    pub log_root: PathBuf,
    pub setup_mode: SetupMode,
    /// Network in evaluation containers (the official harness has it; installs may need it).
    pub network: bool,
    pub base_options: BuildOptions,
    pub progress: Arc<Progress>,
    /// Instance images built here, or the official ones pulled.
    pub image_source: ImageSource,
}

impl ContextOptions {
    pub fn new(specs: SpecTable, repos: RepoSource) -> Self {
        Self {
            specs,
            repos,
            cache: crate::mini::cache_root(),
            log_root: PathBuf::from("."),
            setup_mode: SetupMode::default(),
            network: true,
            base_options: BuildOptions::from_env(),
            progress: log_progress(),
            image_source: ImageSource::Local,
        }
    }
}

pub struct BenchContext {
    pub docker: Docker,
    /// Where `docker` points: containers are registered for cleanup with it, and a sandbox's
    /// workspace is bind-mounted or copied as it allows.
    pub address: EngineAddress,
    pub options: ContextOptions,
    pub builder: ImageBuilder,
    /// Environment image tag per (repo, version), once built or found.
    env_tags: Mutex<HashMap<(String, String), String>>,
    /// One lock per checkout directory and per image tag, so that concurrent workers make each
    /// once; shared by the contexts of an engine pool, so that an image is built on one engine
    /// while the others wait, then copy it.
    checkout_locks: Arc<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>>,
    /// Other engines of the batch: an image one of them has is copied from it, not built.
    image_peers: Vec<Docker>,
}

/// How long the parts of container preparation took.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SetupTimings {
    /// Building the instance image (zero when it existed) or running setup in the container.
    pub setup: Duration,
    /// Creating and starting the container (plus copying the repository in, at container start).
    pub container: Duration,
    pub image_built: bool,
}

impl BenchContext {
    /// Connects to the engine (`DOCKER_HOST` or the default socket).
    pub async fn connect(options: ContextOptions) -> Result<Self> {
        let address = EngineAddress::from_env()?;
        let docker =
            agent_containers::engine::connect_address(&address, Duration::from_secs(3600)).await?;
        Ok(Self::with_engine(Engine { address, docker }, options))
    }

    pub fn with_engine(engine: Engine, options: ContextOptions) -> Self {
        let Engine { address, docker } = engine;
        let builder = ImageBuilder {
            docker: docker.clone(),
            base_options: options.base_options.clone(),
            progress: options.progress.clone(),
            log_dir: options.log_root.join("logs").join("build_images"),
        };
        Self {
            docker,
            address,
            options,
            builder,
            env_tags: Mutex::new(HashMap::new()),
            checkout_locks: Arc::new(Mutex::new(HashMap::new())),
            image_peers: Vec::new(),
        }
    }

    /// The engine this context works on, for creating sandboxes there.
    pub fn engine(&self) -> Engine {
        Engine {
            address: self.address.clone(),
            docker: self.docker.clone(),
        }
    }

    /// Engines to copy images from before building them here.
    pub fn set_image_peers(&mut self, peers: Vec<Docker>) {
        self.image_peers = peers;
    }

    /// Uses `other`'s locks (the pool's first context), so that each checkout and image is
    /// made once across the pool.
    pub fn share_locks_with(&mut self, other: &BenchContext) {
        self.checkout_locks = other.checkout_locks.clone();
    }

    /// The lock for making `key` (a checkout directory or an image tag) once.
    async fn lock_for(&self, key: PathBuf) -> Arc<Mutex<()>> {
        let mut locks = self.checkout_locks.lock().await;
        locks.entry(key).or_default().clone()
    }

    /// Copies `tag` here from the first peer engine that has it; whether one did.
    async fn copy_from_peers(&self, tag: &str) -> bool {
        for peer in &self.image_peers {
            if !matches!(image_id(peer, tag).await, Ok(Some(_))) {
                continue;
            }
            let started = Instant::now();
            match agent_containers::images::transfer::transfer(peer, &self.docker, tag).await {
                Ok(_) => {
                    tracing::info!(
                        tag,
                        ms = started.elapsed().as_millis() as u64,
                        "image copied from another engine"
                    );
                    return true;
                }
                Err(e) => tracing::warn!(tag, "copying the image from another engine failed: {e}"),
            }
        }
        false
    }

    pub fn spec<'a>(&'a self, instance: &'a Instance) -> Result<ResolvedSpec<'a>> {
        self.options.specs.lookup(&instance.repo, &instance.version)
    }

    /// The repository at `base_commit` (cached; the directory is named `testbed`).
    pub async fn checkout(&self, instance: &Instance) -> Result<PathBuf> {
        self.checkout_commit(&instance.repo, &instance.base_commit)
            .await
    }

    async fn checkout_commit(&self, repo: &str, commit: &str) -> Result<PathBuf> {
        let parent = self
            .options
            .cache
            .join("checkouts")
            .join(repo.replace('/', "__"))
            .join(commit);
        let dir = parent.join("testbed");
        let lock = self.lock_for(dir.clone()).await;
        let _guard = lock.lock().await;
        if dir.join(".git").exists() {
            return Ok(dir);
        }
        std::fs::create_dir_all(&parent)
            .context(|| format!("cannot create {}", parent.display()))?;
        let source = self.options.repos.locate(repo)?;
        let staging = parent.join(format!(".testbed-{}", std::process::id()));
        if staging.exists() {
            std::fs::remove_dir_all(&staging)
                .context(|| format!("cannot remove {}", staging.display()))?;
        }
        checkout_at_base(&source, commit, &staging).await?;
        move_into_place(&staging, &dir)?;
        Ok(dir)
    }

    /// The environment image of an instance's (repo, version): here already, copied from a
    /// peer engine, or built (with its base image) when missing.
    pub async fn env_image(&self, instance: &Instance) -> Result<String> {
        let key = (instance.repo.clone(), instance.version.clone());
        let mut tags = self.env_tags.lock().await;
        if let Some(tag) = tags.get(&key) {
            return Ok(tag.clone());
        }
        let spec = self.spec(instance)?;
        let recipe = self.planned_env_recipe(instance).await?;
        let tag = recipe.tag();
        let lock = self.lock_for(PathBuf::from(&tag)).await;
        let _guard = lock.lock().await;
        if image_id(&self.docker, &tag).await?.is_none() && !self.copy_from_peers(&tag).await {
            let base = self.builder.base_image(&spec.spec.python).await?;
            let recipe = env_recipe(&spec, &base, recipe.requirements.clone())?;
            self.builder.ensure_env_image(&recipe).await?;
        }
        tags.insert(key, tag.clone());
        Ok(tag)
    }

    /// The environment recipe of an instance, named without building anything (the base
    /// image's tag comes from its recipe).
    async fn planned_env_recipe(&self, instance: &Instance) -> Result<crate::images::EnvRecipe> {
        let spec = self.spec(instance)?;
        let base = self.options.base_options.recipe(&spec.spec.python)?.tag();
        let requirements = if spec.spec.packages.as_deref() == Some("requirements.txt") {
            let commit = if instance.environment_setup_commit.is_empty() {
                &instance.base_commit
            } else {
                &instance.environment_setup_commit
            };
            let source = self.options.repos.locate(&instance.repo)?;
            let scratch = self
                .options
                .cache
                .join("scratch")
                .join(instance.repo_slug());
            std::fs::create_dir_all(&scratch)
                .context(|| format!("cannot create {}", scratch.display()))?;
            requirements_at(&source, commit, spec.reqs_paths, &scratch).await?
        } else {
            None
        };
        env_recipe(&spec, &base, requirements)
    }

    /// A fresh container for `instance` with `/testbed` set up, ready for a patch and the eval
    /// script. `label` ties it to a run (for cleanup by label).
    pub async fn instance_container(
        &self,
        instance: &Instance,
        label: &str,
        setup_timeout: Duration,
    ) -> Result<(DockerSandbox, SetupTimings)> {
        if let ImageSource::Official { .. } = &self.options.image_source {
            let started = Instant::now();
            let (tag, pulled) = self.instance_image(instance, setup_timeout).await?;
            let mut timings = SetupTimings {
                setup: started.elapsed(),
                image_built: pulled,
                ..SetupTimings::default()
            };
            let started = Instant::now();
            let mut config = SandboxConfig::new(&tag)
                .user(SandboxUser::Root)
                .network(self.options.network)
                .run_id(label);
            config.workdir = TESTBED.into();
            let sandbox = DockerSandbox::create_on(&self.engine(), config).await?;
            timings.container = started.elapsed();
            return Ok((sandbox, timings));
        }
        let spec = self.spec(instance)?;
        let env_tag = self.env_image(instance).await?;
        let script = setup_repo_script(&spec);
        let mut limits = Limits::default();
        if let Some(nano) = spec.spec.nano_cpus {
            limits.nano_cpus = nano;
        }
        let config = |image: &str| {
            SandboxConfig::new(image)
                .user(SandboxUser::Root)
                .network(self.options.network)
                .limits(limits)
                .run_id(label)
        };
        let mut timings = SetupTimings::default();
        match self.options.setup_mode {
            SetupMode::ImageLayer => {
                let started = Instant::now();
                let (tag, built) = self.instance_image(instance, setup_timeout).await?;
                timings.image_built = built;
                timings.setup = started.elapsed();
                let started = Instant::now();
                let mut config = config(&tag);
                config.workdir = TESTBED.into();
                let sandbox = DockerSandbox::create_on(&self.engine(), config).await?;
                timings.container = started.elapsed();
                Ok((sandbox, timings))
            }
            SetupMode::ContainerStart => {
                let checkout = self.checkout(instance).await?;
                let started = Instant::now();
                let sandbox = DockerSandbox::create_on(&self.engine(), config(&env_tag)).await?;
                timings.container = started.elapsed();
                let started = Instant::now();
                if let Err(e) = self
                    .set_up(&sandbox, instance, &checkout, &script, setup_timeout)
                    .await
                {
                    let _ = sandbox.remove().await;
                    return Err(e);
                }
                timings.setup = started.elapsed();
                Ok((sandbox, timings))
            }
        }
    }

    /// The instance image of `instance` (environment + `/testbed` set up and committed), built
    /// when missing, with the network setting of the context; with the official image source,
    /// the official image, pulled when missing. Returns its tag and whether it was
    /// built now. Concurrent callers for the same instance build it once.
    pub async fn instance_image(
        &self,
        instance: &Instance,
        setup_timeout: Duration,
    ) -> Result<(String, bool)> {
        if let ImageSource::Official { registry } = &self.options.image_source {
            let reference = official_reference(instance, registry.as_deref());
            let lock = self.lock_for(PathBuf::from(&reference)).await;
            let _guard = lock.lock().await;
            let pulled = ensure_pulled(&self.docker, &reference).await?;
            return Ok((reference, pulled));
        }
        let spec = self.spec(instance)?;
        // The instance image's name needs only the environment's name: an engine that can copy
        // the instance image from a peer needs no environment image of its own.
        let env_tag = self.planned_env_recipe(instance).await?.tag();
        let script = setup_repo_script(&spec);
        let tag = instance_image_tag(&env_tag, instance, &script);
        let lock = self.lock_for(PathBuf::from(&tag)).await;
        let _guard = lock.lock().await;
        if image_id(&self.docker, &tag).await?.is_some() || self.copy_from_peers(&tag).await {
            return Ok((tag, false));
        }
        let env_tag = self.env_image(instance).await?;
        let checkout = self.checkout(instance).await?;
        let mut limits = Limits::default();
        if let Some(nano) = spec.spec.nano_cpus {
            limits.nano_cpus = nano;
        }
        let config = SandboxConfig::new(&env_tag)
            .user(SandboxUser::Root)
            .network(self.options.network)
            .limits(limits)
            .run_id(format!("setup-{}", instance.instance_id));
        let sandbox = DockerSandbox::create_on(&self.engine(), config).await?;
        let result = async {
            self.set_up(&sandbox, instance, &checkout, &script, setup_timeout)
                .await?;
            commit_instance_image(&self.docker, sandbox.id(), &tag).await
        }
        .await;
        let _ = sandbox.remove().await;
        result?;
        Ok((tag, true))
    }

    /// Copies the checkout to `/testbed` and runs the setup script there.
    async fn set_up(
        &self,
        sandbox: &DockerSandbox,
        instance: &Instance,
        checkout: &Path,
        script: &str,
        timeout: Duration,
    ) -> Result<()> {
        sandbox.copy_in(checkout, "/").await?;
        sandbox
            .write_file("/root/setup_repo.sh", script.as_bytes(), 0o755)
            .await?;
        let request = ExecRequest {
            command: "/bin/bash /root/setup_repo.sh 2>&1".into(),
            workdir: Some(TESTBED.into()),
            timeout,
            output_cap: 8 << 20,
            env: Vec::new(),
        };
        let out = sandbox.exec_streaming(request, None).await?.output;
        if out.success() {
            return Ok(());
        }
        Err(HarnessError::ImageBuild(format!(
            "instance setup of {} failed ({}):\n{}",
            instance.instance_id,
            if out.timed_out {
                "timed out".to_string()
            } else {
                format!("exit {:?}", out.exit_code)
            },
            tail(&out.stdout, 30)
        )))
    }
}

/// Saves a set-up container as the instance image (one layer; faster than a Dockerfile build,
/// whose every step is a container commit).
async fn commit_instance_image(docker: &Docker, container: &str, tag: &str) -> Result<()> {
    let (repo, tag_part) = tag.split_once(':').unwrap_or((tag, "latest"));
    let options = CommitContainerOptionsBuilder::new()
        .container(container)
        .repo(repo)
        .tag(tag_part)
        .comment("agent-harness instance setup")
        .pause(false)
        .build();
    // A commit keeps the container's labels unless they are overridden, and the set-up
    // container carries the sandbox's ownership labels (managed, pid, run): an image with them
    // would make every container started from it look like an orphan of a dead agent process,
    // which `prune` removes (it killed a `docker build FROM` such an image mid-step).
    let mut labels = HashMap::from([(LABEL_HARNESS.to_string(), "instance".to_string())]);
    for owner in [cleanup::LABEL_PID, cleanup::LABEL_RUN, cleanup::LABEL_HOST] {
        labels.insert(owner.to_string(), String::new());
    }
    labels.insert(cleanup::LABEL_MANAGED.to_string(), "false".to_string());
    let config = ContainerConfig {
        working_dir: Some(TESTBED.into()),
        labels: Some(labels),
        ..Default::default()
    };
    docker
        .commit_container(options, config)
        .await
        .map(|_| ())
        .map_err(|e| HarnessError::Docker(format!("committing {tag}: {e}")))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `path` relative to the current directory when possible, for messages.
pub fn display_path(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_modes_parse() {
        assert_eq!(
            "container".parse::<SetupMode>().unwrap(),
            SetupMode::ContainerStart
        );
        assert_eq!("image".parse::<SetupMode>().unwrap(), SetupMode::ImageLayer);
        assert!(
            "fast"
                .parse::<SetupMode>()
                .unwrap_err()
                .contains("container")
        );
    }
}

/// Moves a finished checkout from `staging` to `dir`. Another process sharing the cache (a
/// second `bench run` or `bench eval`) may have finished the same checkout first: the rename is
/// atomic, so theirs is whole, and ours is dropped.
fn move_into_place(staging: &Path, dir: &Path) -> Result<()> {
    match std::fs::rename(staging, dir) {
        Ok(()) => Ok(()),
        Err(_) if dir.join(".git").exists() => {
            let _ = std::fs::remove_dir_all(staging);
            Ok(())
        }
        Err(e) => Err(e).context(|| format!("cannot move the checkout to {}", dir.display())),
    }
}

#[cfg(test)]
mod checkout_race_tests {
    use super::move_into_place;

    #[test]
    fn a_checkout_finished_first_by_another_process_is_used() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("testbed");
        std::fs::create_dir_all(dir.join(".git")).unwrap();
        std::fs::write(dir.join("theirs"), "").unwrap();
        let staging = root.path().join(".testbed-1");
        std::fs::create_dir_all(staging.join(".git")).unwrap();
        std::fs::write(staging.join("ours"), "").unwrap();

        move_into_place(&staging, &dir).unwrap();

        assert!(dir.join("theirs").exists(), "the finished checkout is kept");
        assert!(!staging.exists(), "our staging copy is removed");
    }

    #[test]
    fn a_half_made_destination_is_an_error_naming_it() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("testbed");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("stray"), "").unwrap();
        let staging = root.path().join(".testbed-1");
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::write(staging.join("ours"), "").unwrap();

        let error = move_into_place(&staging, &dir).unwrap_err().to_string();
        assert!(error.contains("cannot move the checkout to"), "{error}");
        assert!(error.contains("testbed"), "{error}");
    }
}
