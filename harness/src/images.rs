//! Environment and instance images, built locally on the containers crate's Python images and
//! cached by content hash (a tag that names the hash of everything that goes into the image).
//!
//! - Environment image (`agent-swe-env:py3.11-<hash>`): the spec's packages, pip packages and
//!   requirements file installed into the base image's virtualenv (`/opt/venv`).
//! - Instance image (`agent-swe-inst:<id>-<hash>`): the environment plus `/testbed` at
//!   `base_commit`, pre-install and install run, and the setup committed as the official
//!   harness does (`git commit --allow-empty -am SWE-bench`). Made by running the setup in a
//!   container and committing it (see `context.rs`): one layer, several times faster than a
//!   Dockerfile build on engines with slow layer commits (fuse-overlayfs).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use agent_containers::images::build::{DockerfileBuild, build_dockerfile, tar_context};
use agent_containers::images::{BuildOptions, Progress, ensure_image_with, image_id};
use agent_exec::shell_quote;
use bollard::Docker;
use sha2::{Digest, Sha256};

use crate::dataset::Instance;
use crate::error::{HarnessError, Result};
use crate::repos;
use crate::specs::ResolvedSpec;
use crate::testspec::{ACTIVATE, TESTBED};

pub const ENV_REPOSITORY: &str = "agent-swe-env";
pub const INSTANCE_REPOSITORY: &str = "agent-swe-inst";
/// Label on every image this module builds (for `docker image prune --filter label=...`).
pub const LABEL_HARNESS: &str = "agent.harness";
/// Bumped when the way images are built changes in a way the hashed inputs don't show.
const RECIPE_VERSION: &str = "swe-v2";

fn short_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What goes into an environment image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvRecipe {
    pub python: String,
    /// The containers crate's image this one builds on.
    pub base_tag: String,
    pub dockerfile: String,
    /// The requirements file, when the spec installs one.
    pub requirements: Option<String>,
}

impl EnvRecipe {
    pub fn tag(&self) -> String {
        let hash = short_hash(&[
            RECIPE_VERSION,
            &self.base_tag,
            &self.dockerfile,
            self.requirements.as_deref().unwrap_or(""),
        ]);
        format!("{ENV_REPOSITORY}:py{}-{hash}", self.python)
    }
}

/// The environment recipe of a spec. `requirements` is the text of the repository's
/// requirements file when the spec says `packages = "requirements.txt"`.
pub fn env_recipe(
    spec: &ResolvedSpec<'_>,
    base_tag: &str,
    requirements: Option<String>,
) -> Result<EnvRecipe> {
    let mut lines = vec![
        format!("FROM {base_tag}"),
        "SHELL [\"/bin/bash\", \"-c\"]".to_string(),
    ];
    let pip = "python -m pip install --no-cache-dir --disable-pip-version-check";
    match spec.spec.packages.as_deref() {
        Some("environment.yml") => {
            return Err(HarnessError::UnknownSpec(format!(
                "`{}` {} installs a conda environment.yml, which this harness does not build \
                 (no conda); give it pip packages in a specs file (--specs)",
                spec.repo, spec.version
            )));
        }
        Some("requirements.txt") => {
            if requirements.is_none() {
                return Err(HarnessError::UnknownSpec(format!(
                    "`{}` {} installs requirements.txt but none of its paths ({}) exists at the \
                     environment setup commit",
                    spec.repo,
                    spec.version,
                    spec.reqs_paths.join(", ")
                )));
            }
            lines.push("COPY requirements.txt /root/requirements.txt".into());
            lines.push(format!(
                "RUN set -euxo pipefail; {pip} -r /root/requirements.txt; rm /root/requirements.txt"
            ));
        }
        Some(packages) if !packages.trim().is_empty() => {
            // Conda package lists of the official table, installed with pip.
            lines.push(format!("RUN set -euxo pipefail; {pip} {packages}"));
        }
        _ => {}
    }
    if !spec.spec.pip_packages.is_empty() {
        let quoted: Vec<String> = spec
            .spec
            .pip_packages
            .iter()
            .map(|p| shell_quote(p))
            .collect();
        lines.push(format!(
            "RUN set -euxo pipefail; {pip} {}",
            quoted.join(" ")
        ));
    }
    lines.push(format!("WORKDIR {TESTBED}"));
    let mut dockerfile = lines.join("\n");
    dockerfile.push('\n');
    Ok(EnvRecipe {
        python: spec.spec.python.clone(),
        base_tag: base_tag.to_string(),
        dockerfile,
        requirements,
    })
}

/// The requirements text for a spec that installs `requirements.txt`: the first of the repo's
/// requirements paths that exists at `commit`, with `-r` includes inlined and the lines the
/// official harness drops (`-e .`, comments, `.[test`) dropped.
pub async fn requirements_at(
    source: &str,
    commit: &str,
    paths: &[String],
    scratch: &Path,
) -> Result<Option<String>> {
    let checkout = scratch.join(format!("reqs-{}", &commit[..commit.len().min(12)]));
    if !checkout.exists() {
        repos::checkout_at_base(source, commit, &checkout).await?;
    }
    for path in paths {
        let file = checkout.join(path);
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let dir = Path::new(path).parent().unwrap_or(Path::new(""));
        let excluded = |line: &str| {
            let t = line.trim();
            t.starts_with("-e .") || t.starts_with('#') || t.starts_with(".[test")
        };
        let mut included = Vec::new();
        let mut own = Vec::new();
        for line in text.split('\n') {
            if let Some(rest) = line.trim().strip_prefix("-r") {
                let nested = checkout.join(dir).join(rest.trim());
                if let Ok(nested) = std::fs::read_to_string(nested) {
                    included.extend(
                        nested
                            .split('\n')
                            .filter(|l| !excluded(l))
                            .map(str::to_string),
                    );
                }
            } else if !excluded(line) {
                own.push(line.to_string());
            }
        }
        included.push(own.join("\n"));
        return Ok(Some(clean_requirements(&included.join("\n"))));
    }
    Ok(None)
}

/// The official clean-up of a requirements text: `types-pkg_resources` (yanked from PyPI) with
/// any version specifier becomes a bare `types-setuptools`, at the start of a line.
pub fn clean_requirements(text: &str) -> String {
    const OLD: &str = "types-pkg_resources";
    text.split('\n')
        .map(|line| match line.strip_prefix(OLD) {
            Some(rest) if rest.is_empty() || rest.starts_with(['<', '>', '=', '!', '~']) => {
                "types-setuptools".to_string()
            }
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Builds images through the engine, logging build output to a file per image.
#[derive(Clone)]
pub struct ImageBuilder {
    pub docker: Docker,
    pub base_options: BuildOptions,
    pub progress: Arc<Progress>,
    /// `logs/build_images`: one log per built image.
    pub log_dir: std::path::PathBuf,
}

impl ImageBuilder {
    /// The containers crate's image for a Python version (built when missing).
    pub async fn base_image(&self, python: &str) -> Result<String> {
        let image =
            ensure_image_with(&self.docker, python, &self.base_options, &*self.progress).await?;
        Ok(image.tag)
    }

    /// Builds `recipe` unless its tag exists. Returns the tag and whether it was built.
    pub async fn ensure_env_image(&self, recipe: &EnvRecipe) -> Result<(String, bool)> {
        let tag = recipe.tag();
        if image_id(&self.docker, &tag).await?.is_some() {
            return Ok((tag, false));
        }
        let mut files: Vec<(&str, &[u8], u32)> =
            vec![("Dockerfile", recipe.dockerfile.as_bytes(), 0o644)];
        if let Some(reqs) = &recipe.requirements {
            files.push(("requirements.txt", reqs.as_bytes(), 0o644));
        }
        let context = tar_context(&files)?;
        self.build(&tag, context, "env").await?;
        Ok((tag, true))
    }

    async fn build(&self, tag: &str, context: Vec<u8>, kind: &str) -> Result<()> {
        (self.progress)(agent_containers::BuildEvent::Step(format!(
            "building {tag}"
        )));
        let build = DockerfileBuild {
            tag: tag.to_string(),
            context,
            labels: HashMap::from([(LABEL_HARNESS.to_string(), kind.to_string())]),
            build_args: HashMap::new(),
        };
        let run = build_dockerfile(&self.docker, build, &*self.progress).await;
        let log_path = self
            .log_dir
            .join(format!("{}.log", tag.replace([':', '/'], "__")));
        let _ = std::fs::create_dir_all(&self.log_dir);
        let _ = std::fs::write(&log_path, &run.log);
        let tail = run.tail(20);
        match run.result {
            Ok(()) => Ok(()),
            // The engine is gone: no build can succeed; keep the kind for the caller.
            Err(e) if e.is_unavailable() => Err(e.into()),
            Err(e) => Err(HarnessError::ImageBuild(format!(
                "{e}\nfull log: {}\nlast lines:\n{}",
                log_path.display(),
                tail
            ))),
        }
    }
}

/// `agent-swe-inst:<instance id>-<hash>`; the hash covers the environment, the repository
/// state and the setup script.
pub fn instance_image_tag(env_tag: &str, instance: &Instance, setup_script: &str) -> String {
    let hash = short_hash(&[
        RECIPE_VERSION,
        env_tag,
        &instance.repo,
        &instance.base_commit,
        setup_script,
    ]);
    let id: String = instance
        .instance_id
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(100)
        .collect();
    format!("{INSTANCE_REPOSITORY}:{id}-{hash}")
}

/// Puts the checkout on the environment's import path, as the `setup.py develop` installs of the
/// official environments did. Today's setuptools makes `pip install -e .` a PEP 660 install whose
/// import hook maps the package but leaves the checkout off `sys.path`; a tool that removes the
/// working directory from `sys.path` and loads its own modules by file path then finds none of
/// them (pylint 2.x: its checkers, so `UnknownMessageError: 'c-extension-no-member'` at start-up).
const TESTBED_ON_PATH: &str = "python -c \"import site; open(site.getsitepackages()[0] + '/testbed-checkout.pth', 'w').write('/testbed\\n')\"";

/// The instance setup of the official harness, after the clone: pre-install, install, and a
/// commit of whatever setup changed, so that `git diff` shows only later changes.
pub fn setup_repo_script(spec: &ResolvedSpec<'_>) -> String {
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        "set -euxo pipefail".to_string(),
        format!("chmod -R 777 {TESTBED}"),
        format!("cd {TESTBED}"),
        ACTIVATE.to_string(),
    ];
    lines.extend(spec.spec.pre_install.iter().cloned());
    if let Some(install) = &spec.spec.install {
        lines.push(install.clone());
        if install.contains(" install -e ") {
            lines.push(TESTBED_ON_PATH.to_string());
        }
    }
    lines.extend([
        "git config --global user.email setup@swebench.config".to_string(),
        "git config --global user.name SWE-bench".to_string(),
        "git commit --allow-empty -am SWE-bench".to_string(),
    ]);
    let mut script = lines.join("\n");
    script.push('\n');
    script
}

#[cfg(test)]
mod tests {
    #[test]
    fn yanked_types_pkg_resources_becomes_unpinned_types_setuptools() {
        let text = "pytest==7.0\ntypes-pkg_resources==0.1.3\ntypes-pkg_resources\n# types-pkg_resources==1\ntypes-pkg_resources-x==2";
        assert_eq!(
            super::clean_requirements(text),
            "pytest==7.0\ntypes-setuptools\ntypes-setuptools\n# types-pkg_resources==1\ntypes-pkg_resources-x==2"
        );
    }

    use super::*;
    use crate::specs::SpecTable;

    #[test]
    fn an_editable_install_puts_the_checkout_on_the_import_path() {
        let table = SpecTable::bundled().unwrap();
        let pylint = table.lookup("pylint-dev/pylint", "2.15").unwrap();
        let script = setup_repo_script(&pylint);
        let install = script.find("python -m pip install -e .").unwrap();
        let on_path = script.find("testbed-checkout.pth").unwrap();
        assert!(install < on_path, "{script}");
        assert!(script.contains(".write('/testbed\\n')"), "{script}");
    }

    #[test]
    fn env_recipes_hash_their_inputs() {
        let table = SpecTable::bundled().unwrap();
        let sympy = table.lookup("sympy/sympy", "1.12").unwrap();
        let recipe = env_recipe(&sympy, "agent-env:py3.9-abc", None).unwrap();
        assert!(recipe.dockerfile.starts_with("FROM agent-env:py3.9-abc\n"));
        assert!(
            recipe
                .dockerfile
                .contains("install --no-cache-dir --disable-pip-version-check mpmath flake8\n")
        );
        assert!(
            recipe
                .dockerfile
                .contains("mpmath==1.3.0 flake8-comprehensions")
        );
        let tag = recipe.tag();
        assert!(tag.starts_with("agent-swe-env:py3.9-"), "{tag}");
        let other = env_recipe(&sympy, "agent-env:py3.9-def", None).unwrap();
        assert_ne!(other.tag(), tag);
        assert_eq!(
            env_recipe(&sympy, "agent-env:py3.9-abc", None)
                .unwrap()
                .tag(),
            tag
        );

        let flask = table.lookup("pallets/flask", "2.3").unwrap();
        assert!(
            env_recipe(&flask, "b", None)
                .unwrap_err()
                .to_string()
                .contains("requirements")
        );
        let with_reqs = env_recipe(&flask, "b", Some("click\n".into())).unwrap();
        assert!(with_reqs.dockerfile.contains("-r /root/requirements.txt"));
        assert_ne!(
            with_reqs.tag(),
            env_recipe(&flask, "b", Some("click>8\n".into()))
                .unwrap()
                .tag()
        );

        let xarray = table.lookup("pydata/xarray", "2022.06").unwrap();
        assert!(
            env_recipe(&xarray, "b", None)
                .unwrap_err()
                .to_string()
                .contains("environment.yml")
        );
    }

    #[test]
    fn setup_script_runs_pre_install_install_and_commits() {
        let table = SpecTable::bundled().unwrap();
        let pytest = table.lookup("pytest-dev/pytest", "6.3").unwrap();
        let script = setup_repo_script(&pytest);
        let lines: Vec<&str> = script.lines().collect();
        assert_eq!(lines[1], "set -euxo pipefail");
        let sed = lines.iter().position(|l| l.starts_with("sed -i")).unwrap();
        let install = lines
            .iter()
            .position(|l| *l == "python -m pip install -e .")
            .unwrap();
        let commit = lines
            .iter()
            .position(|l| *l == "git commit --allow-empty -am SWE-bench")
            .unwrap();
        assert!(sed < install && install < commit);
    }

    #[test]
    fn quoting_for_shell_lines() {
        assert_eq!(shell_quote("numpy==1.19.2"), "numpy==1.19.2");
        // `<` would be a redirection in the Dockerfile's RUN line.
        assert_eq!(shell_quote("pandas<2.0.0"), "'pandas<2.0.0'");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[tokio::test]
    async fn requirements_follow_includes_and_drop_editable_lines() {
        let root = tempfile::tempdir().unwrap();
        let work = root.path().join("w");
        repos::git(None, &["init", "-q", "-b", "main", work.to_str().unwrap()])
            .await
            .unwrap();
        std::fs::create_dir_all(work.join("requirements")).unwrap();
        std::fs::write(
            work.join("requirements/dev.txt"),
            "-r tests.txt\n-e .\n# comment\nclick==8.1.3\n",
        )
        .unwrap();
        std::fs::write(work.join("requirements/tests.txt"), "pytest\n.[test]\n").unwrap();
        repos::git(Some(&work), &["add", "-A"]).await.unwrap();
        repos::git(
            Some(&work),
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-qm",
                "x",
            ],
        )
        .await
        .unwrap();
        let sha = repos::git(Some(&work), &["rev-parse", "HEAD"])
            .await
            .unwrap();
        let text = requirements_at(
            work.to_str().unwrap(),
            sha.trim(),
            &["nope.txt".to_string(), "requirements/dev.txt".to_string()],
            root.path(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(text, "pytest\n\nclick==8.1.3\n");
    }
}
