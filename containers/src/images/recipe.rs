//! What goes into each image, and the content hashes that name them. Pure: no engine needed.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::error::{ContainerError, Result};

/// The package list of every base root filesystem (`containers/images/base/packages.txt`).
pub const BASE_PACKAGES: &str = include_str!("../../images/base/packages.txt");
/// The Dockerfile of the Python environments (`containers/images/python-env/Dockerfile`).
pub const PYTHON_ENV_DOCKERFILE: &str = include_str!("../../images/python-env/Dockerfile");
/// The Dockerfile of a base built on a pulled image (`containers/images/pulled-base/Dockerfile`).
pub const PULLED_BASE_DOCKERFILE: &str = include_str!("../../images/pulled-base/Dockerfile");

/// Bumped when the way we build the root filesystem changes in a way the files above don't show.
const BASE_RECIPE_VERSION: &str = "base-v1";
/// mmdebstrap's variant: Essential packages plus apt, so derived images can `apt-get install`.
pub const MMDEBSTRAP_VARIANT: &str = "apt";

/// Pinned so that an image built today and one built next month run the same test runner.
/// Both support Python 3.8 to 3.13.
pub const PIP_VERSION: &str = "25.0.1";
pub const PYTEST_VERSION: &str = "8.3.5";

pub const BASE_REPOSITORY: &str = "agent-base";
pub const ENV_REPOSITORY: &str = "agent-env";
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// A Python version and the Debian suite whose `python3` it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PythonEnv {
    pub python: &'static str,
    pub suite: &'static str,
}

/// Every Python environment we can build. No Debian suite has 3.12 as its `python3`.
pub const PYTHON_ENVS: &[PythonEnv] = &[
    PythonEnv {
        python: "3.9",
        suite: "bullseye",
    },
    PythonEnv {
        python: "3.11",
        suite: "bookworm",
    },
    PythonEnv {
        python: "3.13",
        suite: "trixie",
    },
];

pub const DEFAULT_PYTHON: &str = "3.11";

/// Finds the environment for `3.11`, `py3.11`, `python3.11` or `3.11.4`.
pub fn python_env(version: &str) -> Result<PythonEnv> {
    let trimmed = version
        .trim()
        .trim_start_matches("python")
        .trim_start_matches("py");
    let major_minor: String = trimmed.split('.').take(2).collect::<Vec<_>>().join(".");
    PYTHON_ENVS
        .iter()
        .find(|env| env.python == major_minor)
        .copied()
        .ok_or_else(|| {
            let known: Vec<&str> = PYTHON_ENVS.iter().map(|e| e.python).collect();
            ContainerError::Invalid(format!(
                "no image recipe for Python `{version}`; available: {}",
                known.join(", ")
            ))
        })
}

/// The packages named in a package list (one per line, `#` comments).
pub fn parse_packages(list: &str) -> Vec<String> {
    let mut packages: Vec<String> = list
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect();
    packages.sort();
    packages.dedup();
    packages
}

/// A base image: a Debian suite with our packages, either imported from a root filesystem made
/// on the host or built on a pulled image (`from_image`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseRecipe {
    pub suite: String,
    pub packages: Vec<String>,
    /// The pulled image the base is built `FROM` (e.g. `debian:bookworm-slim`); `None` for the
    /// root filesystem made on the host.
    pub from_image: Option<String>,
}

impl BaseRecipe {
    pub fn new(suite: &str) -> Self {
        Self {
            suite: suite.to_string(),
            packages: parse_packages(BASE_PACKAGES),
            from_image: None,
        }
    }

    /// Covers the suite, the package list, the way we build and the pulled image's reference;
    /// not the mirror, which serves the same packages.
    pub fn hash(&self) -> String {
        let mut hasher = Sha256::new();
        for part in [BASE_RECIPE_VERSION, MMDEBSTRAP_VARIANT, self.suite.as_str()] {
            hash_field(&mut hasher, part.as_bytes());
        }
        for package in &self.packages {
            hash_field(&mut hasher, package.as_bytes());
        }
        if let Some(from) = &self.from_image {
            hash_field(&mut hasher, b"from-image");
            hash_field(&mut hasher, from.as_bytes());
            hash_field(&mut hasher, PULLED_BASE_DOCKERFILE.as_bytes());
        }
        short_hex(hasher)
    }

    pub fn tag(&self) -> String {
        format!("{BASE_REPOSITORY}:{}-{}", self.suite, self.hash())
    }

    /// The cached tarball's file name.
    pub fn tarball_name(&self) -> String {
        format!("{}-{}.tar", self.suite, self.hash())
    }
}

/// A Python environment image: the Dockerfile on top of a base, plus the extra CA bundle.
#[derive(Debug, Clone)]
pub struct EnvRecipe {
    pub env: PythonEnv,
    pub base: BaseRecipe,
    pub dockerfile: String,
    /// PEM certificates added to the image's trust store (may be empty).
    pub ca_bundle: Vec<u8>,
    pub ca_bundle_path: Option<PathBuf>,
}

impl EnvRecipe {
    pub fn new(python: &str, ca_bundle_path: Option<PathBuf>) -> Result<Self> {
        let env = python_env(python)?;
        let ca_bundle = match &ca_bundle_path {
            Some(path) => std::fs::read(path).map_err(|e| {
                ContainerError::io(
                    format!(
                        "reading the CA bundle {} (set by --ca-bundle, SSL_CERT_FILE or PIP_CERT)",
                        path.display()
                    ),
                    e,
                )
            })?,
            None => Vec::new(),
        };
        Ok(Self {
            env,
            base: BaseRecipe::new(env.suite),
            dockerfile: PYTHON_ENV_DOCKERFILE.to_string(),
            ca_bundle,
            ca_bundle_path,
        })
    }

    pub fn hash(&self) -> String {
        let mut hasher = Sha256::new();
        for part in [
            self.env.python.as_bytes(),
            self.base.tag().as_bytes(),
            self.dockerfile.as_bytes(),
            PIP_VERSION.as_bytes(),
            PYTEST_VERSION.as_bytes(),
            &self.ca_bundle,
        ] {
            hash_field(&mut hasher, part);
        }
        short_hex(hasher)
    }

    pub fn tag(&self) -> String {
        format!("{ENV_REPOSITORY}:py{}-{}", self.env.python, self.hash())
    }

    /// The same recipe on a base built `FROM image` (a pulled image) instead of a root
    /// filesystem made on the host; `None` keeps the host-made one.
    pub fn on_base_image(mut self, image: Option<String>) -> Self {
        self.base.from_image = image.filter(|i| !i.trim().is_empty());
        self
    }

    pub fn build_args(&self, offline: bool) -> Vec<(String, String)> {
        vec![
            ("BASE_IMAGE".into(), self.base.tag()),
            ("PIP_VERSION".into(), PIP_VERSION.into()),
            ("PYTEST_VERSION".into(), PYTEST_VERSION.into()),
            ("PIP_OFFLINE".into(), if offline { "1" } else { "0" }.into()),
        ]
    }
}

/// Length-prefixed so that ("ab","c") and ("a","bc") hash differently.
fn hash_field(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

fn short_hex(hasher: Sha256) -> String {
    let digest = hasher.finalize();
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The extra CA bundle to trust inside images: an explicit path, else `$SSL_CERT_FILE`, else
/// `$PIP_CERT`, else none.
pub fn default_ca_bundle(explicit: Option<PathBuf>) -> Option<PathBuf> {
    explicit.or_else(|| crate::HostEnv::get().ca_bundle.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_versions_resolve_to_suites() {
        assert_eq!(python_env("3.9").unwrap().suite, "bullseye");
        assert_eq!(python_env("py3.11").unwrap().suite, "bookworm");
        assert_eq!(python_env("python3.13").unwrap().suite, "trixie");
        assert_eq!(python_env("3.11.4").unwrap().python, "3.11");
        let err = python_env("3.12").unwrap_err().to_string();
        assert!(err.contains("3.9, 3.11, 3.13"), "{err}");
    }

    #[test]
    fn package_list_ignores_comments_and_blank_lines() {
        let parsed = parse_packages("# header\n\ngit # vcs\nbash\n  patch  \ngit\n");
        assert_eq!(parsed, vec!["bash", "git", "patch"]);
        let shipped = parse_packages(BASE_PACKAGES);
        for needed in ["git", "patch", "python3", "python3-venv", "ca-certificates"] {
            assert!(shipped.iter().any(|p| p == needed), "{needed} missing");
        }
    }

    #[test]
    fn tags_change_when_the_recipe_changes() {
        let a = EnvRecipe::new("3.11", None).unwrap();
        let mut b = a.clone();
        assert_eq!(a.tag(), b.tag());
        assert!(a.tag().starts_with("agent-env:py3.11-"));
        assert_eq!(a.tag().len(), "agent-env:py3.11-".len() + 12);
        b.dockerfile.push_str("\nRUN true\n");
        assert_ne!(a.tag(), b.tag());
        let mut c = a.clone();
        c.ca_bundle = b"-----BEGIN CERTIFICATE-----".to_vec();
        assert_ne!(a.tag(), c.tag());
        let mut d = a.clone();
        d.base.packages.push("curl".into());
        assert_ne!(a.base.tag(), d.base.tag());
        assert_ne!(a.tag(), d.tag());
    }

    #[test]
    fn base_image_reference_is_part_of_both_tags() {
        let host = EnvRecipe::new("3.11", None).unwrap();
        let slim = host
            .clone()
            .on_base_image(Some("debian:bookworm-slim".into()));
        let local = host
            .clone()
            .on_base_image(Some("127.0.0.1:5000/debian:bookworm-slim".into()));
        let tags = [host.tag(), slim.tag(), local.tag()];
        let bases = [host.base.tag(), slim.base.tag(), local.base.tag()];
        for list in [&tags, &bases] {
            assert_ne!(list[0], list[1]);
            assert_ne!(list[0], list[2]);
            assert_ne!(list[1], list[2]);
        }
        assert!(slim.base.tag().starts_with("agent-base:bookworm-"));
        assert!(slim.tag().starts_with("agent-env:py3.11-"));
        // An empty reference means the host-made root filesystem.
        assert_eq!(
            host.clone().on_base_image(Some(" ".into())).tag(),
            host.tag()
        );
    }

    #[test]
    fn ca_bundle_is_read_into_the_recipe() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "PEM DATA").unwrap();
        let recipe = EnvRecipe::new("3.9", Some(path.clone())).unwrap();
        assert_eq!(recipe.ca_bundle, b"PEM DATA");
        let missing = EnvRecipe::new("3.9", Some(dir.path().join("nope.pem"))).unwrap_err();
        assert!(missing.to_string().contains("nope.pem"), "{missing}");
        assert_eq!(default_ca_bundle(Some(path.clone())), Some(path));
    }
}
