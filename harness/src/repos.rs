//! Repositories offline: where an instance's repository comes from (`--repos DIR` of bare
//! clones named `owner__name.git`, or a URL template), and a checkout at `base_commit` in which
//! nothing after `base_commit` is visible.
//!
//! The checkout is a fresh repository that fetched `base_commit` (and so exactly its history)
//! from the source: later commits were never transferred, so they are not hidden but absent.
//! Tags are kept only when they point into that history; no remote, no reflog, no FETCH_HEAD.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::error::{HarnessError, Result};

/// Where repositories come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoSource {
    /// A directory of mirrors or bare clones named `owner__name.git` (or `owner__name`).
    Dir(PathBuf),
    /// A URL with `{repo}` (`owner/name`), `{owner}`, `{name}` or `{slug}` (`owner__name`),
    /// e.g. `https://github.com/{repo}.git`.
    UrlTemplate(String),
}

impl RepoSource {
    /// A value with `{` is a template, anything else a directory.
    pub fn parse(value: &str) -> Self {
        if value.contains('{') {
            Self::UrlTemplate(value.to_string())
        } else {
            Self::Dir(PathBuf::from(value))
        }
    }

    /// The URL or path git fetches `repo` (`owner/name`) from.
    pub fn locate(&self, repo: &str) -> Result<String> {
        let slug = repo.replace('/', "__");
        match self {
            Self::Dir(dir) => {
                for candidate in [format!("{slug}.git"), slug.clone()] {
                    let path = dir.join(&candidate);
                    if path.is_dir() {
                        return Ok(path.to_string_lossy().into_owned());
                    }
                }
                Err(HarnessError::Invalid(format!(
                    "no mirror of `{repo}` in {}: expected {}/{slug}.git (a bare clone: \
                     `git clone --mirror https://github.com/{repo} {}/{slug}.git`)",
                    dir.display(),
                    dir.display(),
                    dir.display()
                )))
            }
            Self::UrlTemplate(template) => {
                let (owner, name) = repo.split_once('/').unwrap_or((repo, ""));
                Ok(template
                    .replace("{repo}", repo)
                    .replace("{owner}", owner)
                    .replace("{name}", name)
                    .replace("{slug}", &slug))
            }
        }
    }
}

/// Runs git with a clean environment (no user config influencing object ids or hooks).
pub(crate) async fn git(dir: Option<&Path>, args: &[&str]) -> Result<String> {
    let mut command = tokio::process::Command::new("git");
    if let Some(dir) = dir {
        command.arg("-C").arg(dir);
    }
    command
        .args([
            "-c",
            "core.logAllRefUpdates=false",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = command
        .output()
        .await
        .map_err(|e| HarnessError::Git(format!("cannot run git {}: {e}", args.join(" "))))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(HarnessError::Git(format!(
            "`git {}`{} failed: {}",
            args.join(" "),
            dir.map(|d| format!(" in {}", d.display()))
                .unwrap_or_default(),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// Creates `dest` (which must not exist) as a repository checked out at `base_commit` on branch
/// `main`, with the history of `base_commit` and nothing after it.
pub async fn checkout_at_base(source: &str, base_commit: &str, dest: &Path) -> Result<()> {
    if dest.exists() {
        return Err(HarnessError::Invalid(format!(
            "{} already exists; checkouts are made in fresh directories",
            dest.display()
        )));
    }
    if base_commit.len() < 7 || !base_commit.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(HarnessError::Invalid(format!(
            "base_commit `{base_commit}` is not a commit id"
        )));
    }
    let dest_str = dest.to_string_lossy().into_owned();
    git(None, &["init", "-q", "-b", "main", &dest_str]).await?;
    git(Some(dest), &["config", "core.logAllRefUpdates", "false"]).await?;
    git(
        Some(dest),
        &[
            "fetch",
            "-q",
            "--no-tags",
            "--update-head-ok",
            "--no-write-fetch-head",
            source,
            &format!("{base_commit}:refs/heads/main"),
        ],
    )
    .await
    .map_err(|e| {
        let hint = if lacks_objects(&e.to_string()) {
            " (the repository lacks files this commit needs: an incomplete clone or snapshot; \
             use a full clone)"
        } else {
            ""
        };
        HarnessError::Git(format!(
            "cannot fetch base_commit {base_commit} from {source}{hint}: {e}"
        ))
    })?;
    keep_tags_in_history(source, dest).await?;
    git(Some(dest), &["reset", "-q", "--hard", "main"]).await?;
    verify_nothing_after(dest, base_commit).await
}

/// Whether git's message says the source repository is missing objects (a partial clone, or
/// a snapshot that left out its largest files), rather than the commit being unknown.
fn lacks_objects(git_message: &str) -> bool {
    [
        "unable to read",
        "missing blob",
        "did not send all necessary objects",
    ]
    .iter()
    .any(|sign| git_message.contains(sign))
}

/// Tags of the source that point at commits we have (all of which are in the history of
/// `base_commit`, since nothing else was fetched).
async fn keep_tags_in_history(source: &str, dest: &Path) -> Result<()> {
    let listing = git(None, &["ls-remote", "--tags", source]).await?;
    // `sha refs/tags/x` and, for annotated tags, `sha refs/tags/x^{}` with the commit.
    let mut commit_of: std::collections::BTreeMap<String, String> = Default::default();
    for line in listing.lines() {
        let Some((sha, name)) = line.split_once('\t') else {
            continue;
        };
        let Some(tag) = name.strip_prefix("refs/tags/") else {
            continue;
        };
        match tag.strip_suffix("^{}") {
            Some(peeled) => {
                commit_of.insert(peeled.to_string(), sha.to_string());
            }
            None => {
                commit_of
                    .entry(tag.to_string())
                    .or_insert_with(|| sha.to_string());
            }
        }
    }
    if commit_of.is_empty() {
        return Ok(());
    }
    let mut keep = Vec::new();
    for (tag, commit) in &commit_of {
        let present = git(
            Some(dest),
            &["cat-file", "-e", &format!("{commit}^{{commit}}")],
        )
        .await
        .is_ok();
        if present {
            keep.push(format!("refs/tags/{tag}:refs/tags/{tag}"));
        }
    }
    if keep.is_empty() {
        return Ok(());
    }
    let mut args = vec!["fetch", "-q", "--no-tags", "--no-write-fetch-head", source];
    args.extend(keep.iter().map(String::as_str));
    git(Some(dest), &args).await.map(|_| ())
}

/// Every ref, object and log in `dest` must be in the history of `base_commit`.
pub async fn verify_nothing_after(dest: &Path, base_commit: &str) -> Result<()> {
    let later = git(Some(dest), &["rev-list", "--all", "--not", base_commit]).await?;
    if !later.trim().is_empty() {
        return Err(HarnessError::Git(format!(
            "checkout {} has commits that are not in the history of {base_commit}",
            dest.display()
        )));
    }
    if dest.join(".git/logs").exists() || dest.join(".git/FETCH_HEAD").exists() {
        return Err(HarnessError::Git(format!(
            "checkout {} keeps a reflog or FETCH_HEAD",
            dest.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn commit(dir: &Path, file: &str, content: &str, message: &str) -> String {
        std::fs::write(dir.join(file), content).unwrap();
        git(Some(dir), &["add", file]).await.unwrap();
        git(
            Some(dir),
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-q",
                "-m",
                message,
            ],
        )
        .await
        .unwrap();
        git(Some(dir), &["rev-parse", "HEAD"])
            .await
            .unwrap()
            .trim()
            .to_string()
    }

    /// A bare mirror with c1 (tag v1, annotated), c2 (tag v2), c3 (tag v3, and a branch).
    async fn mirror(root: &Path) -> (PathBuf, Vec<String>) {
        let work = root.join("work");
        git(None, &["init", "-q", "-b", "main", work.to_str().unwrap()])
            .await
            .unwrap();
        let mut commits = Vec::new();
        for i in 1..=3 {
            commits.push(commit(&work, "f.txt", &format!("{i}\n"), &format!("c{i}")).await);
            let tag = format!("v{i}");
            if i == 1 {
                git(
                    Some(&work),
                    &[
                        "-c",
                        "user.name=t",
                        "-c",
                        "user.email=t@t",
                        "tag",
                        "-a",
                        "-m",
                        "one",
                        &tag,
                    ],
                )
                .await
                .unwrap();
            } else {
                git(Some(&work), &["tag", &tag]).await.unwrap();
            }
        }
        git(Some(&work), &["branch", "later"]).await.unwrap();
        let bare = root.join("repos").join("acme__widget.git");
        git(
            None,
            &[
                "clone",
                "-q",
                "--mirror",
                work.to_str().unwrap(),
                bare.to_str().unwrap(),
            ],
        )
        .await
        .unwrap();
        (root.join("repos"), commits)
    }

    #[tokio::test]
    async fn checkout_hides_everything_after_base() {
        let root = tempfile::tempdir().unwrap();
        let (repos, commits) = mirror(root.path()).await;
        let source = RepoSource::parse(repos.to_str().unwrap());
        let url = source.locate("acme/widget").unwrap();
        let dest = root.path().join("testbed");
        checkout_at_base(&url, &commits[1], &dest).await.unwrap();

        assert_eq!(std::fs::read_to_string(dest.join("f.txt")).unwrap(), "2\n");
        let head = git(Some(&dest), &["rev-parse", "HEAD"]).await.unwrap();
        assert_eq!(head.trim(), commits[1]);
        let all = git(Some(&dest), &["log", "--all", "--format=%H"])
            .await
            .unwrap();
        let all: Vec<&str> = all.lines().collect();
        assert_eq!(all, vec![commits[1].as_str(), commits[0].as_str()]);
        // The later commit's object is absent, not merely unreferenced.
        assert!(
            git(Some(&dest), &["cat-file", "-e", &commits[2]])
                .await
                .is_err()
        );
        let tags = git(Some(&dest), &["tag", "--list"]).await.unwrap();
        assert_eq!(tags.lines().collect::<Vec<_>>(), vec!["v1", "v2"]);
        let branches = git(Some(&dest), &["branch", "--list", "--all"])
            .await
            .unwrap();
        assert_eq!(branches.trim(), "* main");
        assert!(
            git(Some(&dest), &["remote"])
                .await
                .unwrap()
                .trim()
                .is_empty()
        );
        assert!(
            git(Some(&dest), &["reflog"])
                .await
                .unwrap()
                .trim()
                .is_empty()
        );
        assert!(!dest.join(".git/FETCH_HEAD").exists());
        let status = git(Some(&dest), &["status", "--porcelain"]).await.unwrap();
        assert!(status.is_empty(), "{status}");
    }

    #[tokio::test]
    async fn url_templates_and_missing_mirrors() {
        let t = RepoSource::parse("https://example.invalid/{owner}/{name}.git#{slug}");
        assert_eq!(
            t.locate("psf/requests").unwrap(),
            "https://example.invalid/psf/requests.git#psf__requests"
        );
        let dir = tempfile::tempdir().unwrap();
        let err = RepoSource::parse(dir.path().to_str().unwrap())
            .locate("psf/requests")
            .unwrap_err()
            .to_string();
        assert!(err.contains("psf__requests.git"), "{err}");
        let root = tempfile::tempdir().unwrap();
        let (repos, _) = mirror(root.path()).await;
        let url = RepoSource::Dir(repos).locate("acme/widget").unwrap();
        let err = checkout_at_base(&url, "deadbeefdeadbeef", &root.path().join("x"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("deadbeefdeadbeef"), "{err}");
    }

    /// A repository without one of its files' contents (as a snapshot that left out its
    /// largest files): the error says so and names the fix, not only git's complaint.
    #[tokio::test]
    async fn a_repository_missing_a_file_is_named_incomplete() {
        let root = tempfile::tempdir().unwrap();
        let work = root.path().join("work");
        git(None, &["init", "-q", "-b", "main", work.to_str().unwrap()])
            .await
            .unwrap();
        let base = commit(&work, "big.dat", "large data\n", "c1").await;
        let blob = git(Some(&work), &["rev-parse", "HEAD:big.dat"])
            .await
            .unwrap();
        let blob = blob.trim();
        let loose = work.join(".git/objects").join(&blob[..2]).join(&blob[2..]);
        std::fs::remove_file(&loose).unwrap();
        let err = checkout_at_base(work.to_str().unwrap(), &base, &root.path().join("co"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("incomplete clone or snapshot"), "{err}");
        assert!(err.contains(&base), "{err}");
    }
}
