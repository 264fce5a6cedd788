//! What `agent bench run` needs from the harness (the agent session itself lives in `agent`):
//! the output layout, an append-only predictions log that survives `kill -9`, the instances
//! still to do on resume, and a per-instance workspace: the instance image's `/testbed`
//! (repository at `base_commit`, installed, setup committed), copied to the host.
//!
//! Environment and instance setup happen where the evaluation does them, in the instance image
//! (built with the network the context allows); the agent's sandbox then starts from that image
//! with the workspace mounted at `/testbed` and needs no network. An instance whose environment
//! cannot be built is an environment error: recorded in `env_errors.jsonl`, and not retried by
//! a rerun unless asked (`RunLayout::clear_env_errors`).
//!
//! Layout of `--output DIR`:
//! - `predictions.jsonl` (one sample) or `samples/<k>/predictions.jsonl` (k = 0..K): SWE-bench
//!   predictions, one line per finished instance, fsynced; extra keys `cost_usd` and `sample`
//!   are ignored by SWE-bench loaders.
//! - `trajectories/<instance_id>.traj.json` (or `.../<instance_id>.s<k>.traj.json`).
//! - `workspaces/<instance_id>[.s<k>]/`: the repository the agent edits.
//! - `env_errors.jsonl`: (instance, sample, reason) whose environment could not be built.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::context::BenchContext;
use crate::dataset::{Dataset, Instance};
use crate::error::{HarnessError, IoContext, Result};
use crate::testspec::TESTBED;
use agent_containers::{DockerSandbox, SandboxConfig, SandboxUser};

/// Paths under `--output DIR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLayout {
    pub root: PathBuf,
    /// K in `--samples K` (1 = the plain SWE-bench layout).
    pub samples: usize,
}

impl RunLayout {
    pub fn new(root: impl Into<PathBuf>, samples: usize) -> Self {
        Self {
            root: root.into(),
            samples: samples.max(1),
        }
    }

    pub fn predictions_path(&self, sample: usize) -> PathBuf {
        if self.samples == 1 {
            self.root.join("predictions.jsonl")
        } else {
            self.root
                .join("samples")
                .join(sample.to_string())
                .join("predictions.jsonl")
        }
    }

    fn suffix(&self, sample: usize) -> String {
        if self.samples == 1 {
            String::new()
        } else {
            format!(".s{sample}")
        }
    }

    pub fn trajectory_path(&self, instance_id: &str, sample: usize) -> PathBuf {
        self.root
            .join("trajectories")
            .join(format!("{instance_id}{}.traj.json", self.suffix(sample)))
    }

    pub fn workspace_path(&self, instance_id: &str, sample: usize) -> PathBuf {
        self.root
            .join("workspaces")
            .join(format!("{instance_id}{}", self.suffix(sample)))
    }

    /// Environment errors of earlier runs: one JSON object a line.
    pub fn env_errors_path(&self) -> PathBuf {
        self.root.join("env_errors.jsonl")
    }

    /// The recorded environment errors (missing file: none; a line cut by a crash is ignored).
    pub fn env_errors(&self) -> Result<Vec<EnvError>> {
        let path = self.env_errors_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(HarnessError::io(
                    format!("cannot read {}", path.display()),
                    e,
                ));
            }
        };
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// Forgets the recorded environment errors, so that a rerun tries those instances again.
    pub fn clear_env_errors(&self) -> Result<usize> {
        let count = self.env_errors()?.len();
        match std::fs::remove_file(self.env_errors_path()) {
            Ok(()) => Ok(count),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(HarnessError::io(
                format!("cannot remove {}", self.env_errors_path().display()),
                e,
            )),
        }
    }

    fn record_env_error(&self, error: &EnvError) -> Result<()> {
        let path = self.env_errors_path();
        std::fs::create_dir_all(&self.root)
            .context(|| format!("cannot create {}", self.root.display()))?;
        let mut text = serde_json::to_string(error)
            .map_err(|e| HarnessError::Invalid(format!("cannot encode an error: {e}")))?;
        text.push('\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .context(|| format!("cannot open {}", path.display()))?;
        file.write_all(text.as_bytes())
            .and_then(|_| file.sync_data())
            .context(|| format!("cannot append to {}", path.display()))
    }

    /// (instance, sample) pairs without a prediction or an environment error yet, in dataset
    /// order.
    pub fn pending<'a>(&self, dataset: &'a Dataset) -> Result<Vec<(&'a Instance, usize)>> {
        let mut pending = Vec::new();
        let mut done = Vec::new();
        for sample in 0..self.samples {
            done.push(PredictionsLog::read_done(&self.predictions_path(sample))?);
        }
        let env_errors: HashSet<(String, usize)> = self
            .env_errors()?
            .into_iter()
            .map(|e| (e.instance_id, e.sample))
            .collect();
        for instance in &dataset.instances {
            for (sample, done) in done.iter().enumerate() {
                if !done.contains_key(&instance.instance_id)
                    && !env_errors.contains(&(instance.instance_id.clone(), sample))
                {
                    pending.push((instance, sample));
                }
            }
        }
        Ok(pending)
    }

    /// Total `cost_usd` of the predictions already written (for `--max-cost-total` on resume).
    pub fn cost_so_far(&self) -> Result<f64> {
        let mut total = 0.0;
        for sample in 0..self.samples {
            total += PredictionsLog::read_done(&self.predictions_path(sample))?
                .values()
                .map(|line| line.cost_usd.unwrap_or(0.0))
                .sum::<f64>();
        }
        Ok(total)
    }
}

/// An instance whose environment (environment image, instance image, or the copy of its
/// repository) could not be made: no agent ran, no prediction was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvError {
    pub instance_id: String,
    pub sample: usize,
    pub reason: String,
}

/// One line of a predictions file as `bench run` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionLine {
    pub instance_id: String,
    pub model_name_or_path: String,
    pub model_patch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<usize>,
}

/// An append-only predictions file: each line is written whole and fsynced before
/// [`PredictionsLog::append`] returns. A line cut short by a crash is removed on open.
pub struct PredictionsLog {
    file: File,
    path: PathBuf,
}

impl PredictionsLog {
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .context(|| format!("cannot open {}", path.display()))?;
        let text = std::fs::read(path).context(|| format!("cannot read {}", path.display()))?;
        let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete < text.len() {
            // The tail after the last newline is a line a crash cut short: it was never
            // acknowledged, so its instance is still pending.
            file.set_len(complete as u64)
                .context(|| format!("cannot truncate {}", path.display()))?;
            file.seek(SeekFrom::End(0))
                .context(|| format!("cannot seek {}", path.display()))?;
            file.sync_all()
                .context(|| format!("cannot sync {}", path.display()))?;
        }
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Appends one line and fsyncs it.
    pub fn append(&mut self, line: &PredictionLine) -> Result<()> {
        let mut text = serde_json::to_string(line)
            .map_err(|e| HarnessError::Invalid(format!("cannot encode a prediction: {e}")))?;
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .and_then(|_| self.file.sync_data())
            .context(|| format!("cannot append to {}", self.path.display()))
    }

    /// The complete lines of `path` by instance id (missing file: none). A later line for the
    /// same id replaces an earlier one, as when SWE-bench loads the file.
    pub fn read_done(path: &Path) -> Result<BTreeMap<String, PredictionLine>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => {
                return Err(HarnessError::io(
                    format!("cannot read {}", path.display()),
                    e,
                ));
            }
        };
        let mut done = BTreeMap::new();
        let complete = text.rfind('\n').map_or("", |i| &text[..=i]);
        for (index, line) in complete.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let parsed: PredictionLine =
                serde_json::from_str(line).map_err(|e| HarnessError::Row {
                    path: path.to_path_buf(),
                    row: index + 1,
                    field: "(line)".into(),
                    message: format!("not a prediction: {e}"),
                })?;
            done.insert(parsed.instance_id.clone(), parsed);
        }
        Ok(done)
    }
}

/// A workspace for the agent: the instance image's `/testbed` copied to the host (repository at
/// `base_commit`, installed, with the setup commit and whatever the install built), and the
/// image its sandbox runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub path: PathBuf,
    pub base_commit: String,
    /// The instance image: environment, repository installed at `/testbed`, setup committed.
    pub image: String,
    /// Where the sandbox mounts `path`: where the image installed the repository, so that
    /// editable installs and built extensions resolve to the agent's copy.
    pub mount: String,
}

/// Makes `layout.workspace_path(instance, sample)` afresh from the instance image (built when
/// missing, with the context's network, within `setup_timeout`): its `/testbed`, copied out.
pub async fn prepare_workspace(
    ctx: &BenchContext,
    instance: &Instance,
    layout: &RunLayout,
    sample: usize,
    setup_timeout: std::time::Duration,
) -> Result<Workspace> {
    let (image, _) = ctx.instance_image(instance, setup_timeout).await?;
    let dest = layout.workspace_path(&instance.instance_id, sample);
    if dest.exists() {
        std::fs::remove_dir_all(&dest)
            .context(|| format!("cannot remove the old workspace {}", dest.display()))?;
    }
    let parent = dest.parent().unwrap_or(layout.root.as_path());
    let staging = parent.join(format!(
        ".staging-{}-{}{}",
        std::process::id(),
        instance.instance_id,
        layout.suffix(sample)
    ));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .context(|| format!("cannot remove {}", staging.display()))?;
    }
    std::fs::create_dir_all(&staging).context(|| format!("cannot create {}", staging.display()))?;
    let config = SandboxConfig::new(&image)
        .user(SandboxUser::Root)
        .network(false)
        .run_id(format!("copy-{}", instance.instance_id));
    let sandbox = DockerSandbox::create_with(ctx.docker.clone(), config).await?;
    let copied = sandbox.copy_out(TESTBED, &staging).await;
    let _ = sandbox.remove().await;
    let copied = copied?;
    std::fs::rename(&copied, &dest)
        .context(|| format!("cannot move the workspace to {}", dest.display()))?;
    let _ = std::fs::remove_dir_all(&staging);
    Ok(Workspace {
        path: dest,
        base_commit: instance.base_commit.clone(),
        image,
        mount: TESTBED.to_string(),
    })
}

/// The workspace's changes against HEAD (the setup commit, or `base_commit` when setup did not
/// commit), new files included, as a patch `git apply` takes.
pub async fn workspace_diff(path: &Path) -> Result<String> {
    crate::repos::git(Some(path), &["add", "-A"]).await?;
    crate::repos::git(Some(path), &["diff", "--cached", "--binary", "HEAD"]).await
}

/// What the agent produced for one (instance, sample).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRun {
    /// `None` or empty: no submission.
    pub model_patch: Option<String>,
    pub cost_usd: f64,
}

#[derive(Debug, Clone)]
pub struct BatchOptions {
    pub model_name_or_path: String,
    pub workers: usize,
    /// No new instance starts once the total (including earlier runs) reaches this.
    pub max_cost_total: Option<f64>,
    /// For building an instance image (its install); past it, an environment error.
    pub setup_timeout: std::time::Duration,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchSummary {
    /// Predictions written by this run.
    pub written: usize,
    /// (instance id, sample, reason): no prediction written; a later run retries them.
    pub failed: Vec<(String, usize, String)>,
    /// Not started because the cost limit was reached.
    pub skipped_for_budget: usize,
    /// No environment could be made (recorded in `env_errors.jsonl`; not retried by a rerun).
    pub env_errors: Vec<EnvError>,
    /// Total cost, earlier runs included.
    pub cost_usd: f64,
}

/// Runs `agent` over every (instance, sample) without a prediction yet, `workers` at a time,
/// each in a fresh workspace at `base_commit`, appending each prediction (fsynced) as soon as
/// it exists. Killed at any point, a rerun resumes with nothing lost and nothing done twice.
pub async fn run_batch<F, Fut>(
    ctx: &BenchContext,
    dataset: &Dataset,
    layout: &RunLayout,
    options: &BatchOptions,
    progress: Option<&crate::progress::BatchProgress>,
    agent: F,
) -> Result<BatchSummary>
where
    F: Fn(Workspace, Instance, usize) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<AgentRun, String>>,
{
    use futures_util::StreamExt;
    let pending = layout.pending(dataset)?;
    let mut logs = Vec::new();
    for sample in 0..layout.samples {
        logs.push(tokio::sync::Mutex::new(PredictionsLog::open(
            &layout.predictions_path(sample),
        )?));
    }
    let spent = std::sync::Mutex::new(layout.cost_so_far()?);
    let summary = std::sync::Mutex::new(BatchSummary::default());
    let over_budget = || {
        options
            .max_cost_total
            .is_some_and(|max| *spent.lock().unwrap_or_else(|p| p.into_inner()) >= max)
    };
    let results: Vec<Result<()>> = futures_util::stream::iter(pending)
        .map(|(instance, sample)| {
            let agent = &agent;
            let logs = &logs;
            let spent = &spent;
            let summary = &summary;
            async move {
                if over_budget() {
                    summary
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .skipped_for_budget += 1;
                    return Ok(());
                }
                let prepared =
                    prepare_workspace(ctx, instance, layout, sample, options.setup_timeout).await;
                let workspace = match prepared {
                    Ok(w) => w,
                    Err(e) if e.is_fatal() => return Err(e),
                    Err(e) => {
                        let error = EnvError {
                            instance_id: instance.instance_id.clone(),
                            sample,
                            reason: e.to_string(),
                        };
                        let _guard = logs[sample].lock().await;
                        layout.record_env_error(&error)?;
                        summary
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .env_errors
                            .push(error);
                        return Ok(());
                    }
                };
                match agent(workspace, instance.clone(), sample).await {
                    Ok(run) => {
                        let line = PredictionLine {
                            instance_id: instance.instance_id.clone(),
                            model_name_or_path: options.model_name_or_path.clone(),
                            model_patch: run.model_patch.clone(),
                            cost_usd: Some(run.cost_usd),
                            sample: (layout.samples > 1).then_some(sample),
                        };
                        logs[sample].lock().await.append(&line)?;
                        *spent.lock().unwrap_or_else(|p| p.into_inner()) += run.cost_usd;
                        summary.lock().unwrap_or_else(|p| p.into_inner()).written += 1;
                        if let Some(progress) = progress {
                            let submitted =
                                run.model_patch.as_deref().is_some_and(|p| !p.is_empty());
                            progress.finished(run.cost_usd, submitted);
                        }
                    }
                    Err(reason) => {
                        summary
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .failed
                            .push((instance.instance_id.clone(), sample, reason));
                    }
                }
                Ok(())
            }
        })
        .buffer_unordered(options.workers.max(1))
        .collect()
        .await;
    for result in results {
        result?;
    }
    let mut summary = summary.into_inner().unwrap_or_else(|p| p.into_inner());
    summary.cost_usd = spent.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok(summary)
}

/// Recursive copy keeping symlinks as links and the executable bit.
pub fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).context(|| format!("cannot create {}", to.display()))?;
    let entries = std::fs::read_dir(from).context(|| format!("cannot read {}", from.display()))?;
    for entry in entries {
        let entry = entry.context(|| format!("cannot read {}", from.display()))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry
            .file_type()
            .context(|| format!("cannot stat {}", source.display()))?;
        if kind.is_dir() {
            copy_dir(&source, &target)?;
        } else if kind.is_symlink() {
            let link = std::fs::read_link(&source)
                .context(|| format!("cannot read link {}", source.display()))?;
            std::os::unix::fs::symlink(&link, &target)
                .context(|| format!("cannot create link {}", target.display()))?;
        } else {
            std::fs::copy(&source, &target)
                .context(|| format!("cannot copy {}", source.display()))?;
        }
    }
    Ok(())
}

/// Ids seen twice across the files of a run (should be none: each instance is done once).
pub fn duplicate_ids(layout: &RunLayout) -> Result<Vec<String>> {
    let mut duplicates = Vec::new();
    for sample in 0..layout.samples {
        let path = layout.predictions_path(sample);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let mut seen = HashSet::new();
        for line in text.lines() {
            if let Ok(p) = serde_json::from_str::<PredictionLine>(line)
                && !seen.insert(p.instance_id.clone())
            {
                duplicates.push(p.instance_id);
            }
        }
    }
    Ok(duplicates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, cost: f64) -> PredictionLine {
        PredictionLine {
            instance_id: id.into(),
            model_name_or_path: "m".into(),
            model_patch: Some(format!("diff for {id}\n")),
            cost_usd: Some(cost),
            sample: None,
        }
    }

    fn dataset(dir: &Path, ids: &[&str]) -> Dataset {
        let path = dir.join("d.jsonl");
        let text: String = ids
            .iter()
            .map(|id| {
                format!(
                    "{}\n",
                    serde_json::json!({"instance_id": id, "repo": "o/r", "base_commit": "a",
                        "version": "1", "test_patch": ""})
                )
            })
            .collect();
        std::fs::write(&path, text).unwrap();
        Dataset::load(&path).unwrap()
    }

    #[test]
    fn a_line_cut_by_a_crash_is_dropped_and_redone() {
        let dir = tempfile::tempdir().unwrap();
        let layout = RunLayout::new(dir.path(), 1);
        let ds = dataset(dir.path(), &["a-1", "a-2", "a-3"]);
        let path = layout.predictions_path(0);
        {
            let mut log = PredictionsLog::open(&path).unwrap();
            log.append(&line("a-1", 0.5)).unwrap();
        }
        // kill -9 in the middle of writing a-2's line.
        let mut partial = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        partial
            .write_all(b"{\"instance_id\":\"a-2\",\"model_na")
            .unwrap();
        drop(partial);
        let pending: Vec<&str> = layout
            .pending(&ds)
            .unwrap()
            .iter()
            .map(|(i, _)| i.instance_id.as_str())
            .collect();
        assert_eq!(pending, vec!["a-2", "a-3"]);
        let mut log = PredictionsLog::open(&path).unwrap();
        log.append(&line("a-2", 0.25)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(
            text.lines()
                .all(|l| serde_json::from_str::<PredictionLine>(l).is_ok())
        );
        assert!((layout.cost_so_far().unwrap() - 0.75).abs() < 1e-12);
        assert!(duplicate_ids(&layout).unwrap().is_empty());
        // The file is a valid SWE-bench predictions file.
        let preds = crate::Predictions::load(path.to_str().unwrap(), &ds).unwrap();
        assert_eq!(preds.len(), 2);
    }

    #[test]
    fn samples_have_their_own_files() {
        let dir = tempfile::tempdir().unwrap();
        let layout = RunLayout::new(dir.path(), 3);
        let ds = dataset(dir.path(), &["a-1", "a-2"]);
        let mut log = PredictionsLog::open(&layout.predictions_path(1)).unwrap();
        log.append(&line("a-2", 1.0)).unwrap();
        assert_eq!(layout.pending(&ds).unwrap().len(), 5);
        assert!(
            layout
                .predictions_path(2)
                .ends_with("samples/2/predictions.jsonl")
        );
        assert!(
            layout
                .trajectory_path("a-1", 2)
                .ends_with("trajectories/a-1.s2.traj.json")
        );
        assert!(
            RunLayout::new(dir.path(), 1)
                .trajectory_path("a-1", 0)
                .ends_with("trajectories/a-1.traj.json")
        );
    }

    #[test]
    fn copy_keeps_links_and_modes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            src.join("sub/run.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("sub/run.sh", src.join("link")).unwrap();
        copy_dir(&src, &dir.path().join("dst")).unwrap();
        let mode = std::fs::metadata(dir.path().join("dst/sub/run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111);
        assert_eq!(
            std::fs::read_link(dir.path().join("dst/link")).unwrap(),
            Path::new("sub/run.sh")
        );
    }
}
