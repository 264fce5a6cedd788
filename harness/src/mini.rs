//! The bundled mini dataset (`harness/data/mini`): two small Python repositories stored as
//! `git fast-import` streams, seven instances in SWE-bench format, and a set of plausible but
//! wrong predictions. [`materialize`] writes them out as files and bare repositories, so that
//! `agent bench eval --dataset mini --predictions gold` needs nothing but Docker.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{HarnessError, IoContext, Result};
use crate::repos::git;

/// The word that names the bundled dataset on the command line.
pub const MINI: &str = "mini";

const DATASET: &str = include_str!("../data/mini/dataset.jsonl");
const WRONG_PREDICTIONS: &str = include_str!("../data/mini/wrong_predictions.jsonl");
const REPOS: [(&str, &str); 2] = [
    (
        "minibench__tinyconf",
        include_str!("../data/mini/repos/minibench__tinyconf.fi"),
    ),
    (
        "minibench__unitwise",
        include_str!("../data/mini/repos/minibench__unitwise.fi"),
    ),
];

/// The bundled dataset itself, without writing anything (e.g. to know its Python versions).
pub fn dataset() -> Result<crate::Dataset> {
    crate::Dataset::parse(Path::new("mini/dataset.jsonl"), DATASET)
}

/// Where the materialized mini dataset lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiniPaths {
    pub dataset: PathBuf,
    /// A `--repos` directory with `minibench__*.git` bare repositories.
    pub repos: PathBuf,
    pub wrong_predictions: PathBuf,
}

/// The cache root: `$AGENT_CACHE_DIR`, else the user's cache directory, + `agent/bench`.
pub fn cache_root() -> PathBuf {
    agent_containers::HostEnv::get().cache_root.join("bench")
}

fn content_hash() -> String {
    let mut hasher = Sha256::new();
    for part in [DATASET, WRONG_PREDICTIONS]
        .into_iter()
        .chain(REPOS.iter().flat_map(|(n, s)| [*n, *s]))
    {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes the mini dataset under `cache/mini-<hash>` (once; later calls reuse it).
pub async fn materialize(cache: &Path) -> Result<MiniPaths> {
    let root = cache.join(format!("mini-{}", content_hash()));
    let paths = MiniPaths {
        dataset: root.join("dataset.jsonl"),
        repos: root.join("repos"),
        wrong_predictions: root.join("wrong_predictions.jsonl"),
    };
    if paths.dataset.exists() {
        return Ok(paths);
    }
    std::fs::create_dir_all(cache).context(|| format!("cannot create {}", cache.display()))?;
    // Built beside its final place and renamed, so a concurrent or killed run never sees half.
    let staging = tempfile::Builder::new()
        .prefix(".mini-")
        .tempdir_in(cache)
        .context(|| format!("cannot create a directory in {}", cache.display()))?;
    let dir = staging.path();
    std::fs::write(dir.join("dataset.jsonl"), DATASET)
        .context(|| "cannot write the mini dataset".into())?;
    std::fs::write(dir.join("wrong_predictions.jsonl"), WRONG_PREDICTIONS)
        .context(|| "cannot write the mini predictions".into())?;
    for (slug, stream) in REPOS {
        let bare = dir.join("repos").join(format!("{slug}.git"));
        git(None, &["init", "-q", "--bare", &bare.to_string_lossy()]).await?;
        fast_import(&bare, stream).await?;
    }
    match std::fs::rename(dir, &root) {
        Ok(()) => {
            // The directory now lives at `root`; nothing left to clean.
            let _ = staging.keep();
        }
        Err(_) if paths.dataset.exists() => {}
        Err(e) => {
            return Err(HarnessError::io(
                format!("cannot move the mini dataset to {}", root.display()),
                e,
            ));
        }
    }
    Ok(paths)
}

async fn fast_import(bare: &Path, stream: &str) -> Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("git")
        .arg("-C")
        .arg(bare)
        .args(["fast-import", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| HarnessError::Git(format!("cannot run git fast-import: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(stream.as_bytes())
            .await
            .map_err(|e| HarnessError::Git(format!("writing to git fast-import: {e}")))?;
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| HarnessError::Git(format!("git fast-import: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(HarnessError::Git(format!(
            "git fast-import into {} failed: {}",
            bare.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Dataset;
    use crate::predictions::Predictions;
    use crate::repos::{RepoSource, checkout_at_base};
    use crate::specs::SpecTable;
    use crate::testspec::modified_files;

    #[tokio::test]
    async fn mini_dataset_is_consistent() {
        let cache = tempfile::tempdir().unwrap();
        let paths = materialize(cache.path()).await.unwrap();
        // Idempotent.
        assert_eq!(materialize(cache.path()).await.unwrap(), paths);
        let dataset = Dataset::load(&paths.dataset).unwrap();
        assert!(dataset.instances.len() >= 6);
        let repos: std::collections::BTreeSet<&str> =
            dataset.instances.iter().map(|i| i.repo.as_str()).collect();
        assert!(repos.len() >= 2);
        let multi_file = dataset
            .instances
            .iter()
            .filter(|i| i.patch.matches("diff --git").count() > 1)
            .count();
        assert!(multi_file >= 2);
        let specs = SpecTable::bundled().unwrap();
        let wrong = Predictions::load(paths.wrong_predictions.to_str().unwrap(), &dataset).unwrap();
        assert_eq!(wrong.len(), dataset.instances.len());
        let source = RepoSource::Dir(paths.repos.clone());
        for instance in &dataset.instances {
            specs.lookup(&instance.repo, &instance.version).unwrap();
            assert!(
                !instance.fail_to_pass.is_empty(),
                "{}",
                instance.instance_id
            );
            // The base commit exists, and the test patch only touches tests.
            let url = source.locate(&instance.repo).unwrap();
            let dest = cache.path().join(&instance.instance_id);
            checkout_at_base(&url, &instance.base_commit, &dest)
                .await
                .unwrap();
            assert!(
                modified_files(&instance.test_patch)
                    .iter()
                    .all(|f| f.starts_with("tests/"))
            );
            assert!(
                modified_files(&instance.patch)
                    .iter()
                    .all(|f| !f.starts_with("tests/"))
            );
        }
    }
}
