//! `--image-source official`: evaluate (and run the agent) in the official prebuilt instance
//! images, by their official names, pulled from a configurable registry or mirror. Every
//! instance the official harness can run is then in reach, conda environments included.
//!
//! Names: a 5.x row's `image` decides; otherwise the 4.1.0 instance image key
//! `swebench/sweb.eval.<arch>.<instance id with "__" as "_1776_">:latest` (lower case). With
//! `--registry HOST[:PORT][/PATH]` the name is pulled from there (`HOST/swebench/sweb.eval...`);
//! without it, from Docker Hub. The official images keep the repository at `/testbed` and its
//! environment in conda (`testbed`), so scripts made from our specs activate that instead of
//! the venv of our own images.

use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;

use crate::dataset::Instance;
use crate::error::{HarnessError, Result};
use crate::testspec::ACTIVATE;

/// How the official images enter their environment.
pub const OFFICIAL_ACTIVATE: &str = "source /opt/miniconda3/bin/activate\nconda activate testbed";

/// Where instance images come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ImageSource {
    /// Built here from the specs (environment image + instance layer).
    #[default]
    Local,
    /// The official prebuilt images, pulled from `registry` (None: Docker Hub).
    Official { registry: Option<String> },
}

impl ImageSource {
    /// `local`, or `official` with an optional registry.
    pub fn parse(source: &str, registry: Option<&str>) -> std::result::Result<Self, String> {
        match source {
            "local" if registry.is_some() => {
                Err("--registry is used with --image-source official only".into())
            }
            "local" => Ok(Self::Local),
            "official" => Ok(Self::Official {
                registry: registry
                    .map(|r| r.trim_end_matches('/').to_string())
                    .filter(|r| !r.is_empty()),
            }),
            other => Err(format!(
                "unknown image source `{other}`: use `local` (built here) or `official` (the \
                 prebuilt official images, pulled; --registry names a mirror)"
            )),
        }
    }
}

/// The official name of `instance`'s image (without a registry host).
pub fn official_name(instance: &Instance) -> String {
    if let Some(image) = instance.row_str("image") {
        return image.to_string();
    }
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    };
    format!(
        "swebench/sweb.eval.{arch}.{}:latest",
        instance.instance_id.replace("__", "_1776_").to_lowercase()
    )
}

/// The reference to pull: the official name, under `registry` when one is given (a name that
/// already names a registry host keeps its path only).
pub fn official_reference(instance: &Instance, registry: Option<&str>) -> String {
    let name = official_name(instance);
    match registry {
        None => name,
        Some(registry) => {
            let path = match name.split_once('/') {
                Some((first, rest)) if first.contains('.') || first.contains(':') => rest,
                _ => name.as_str(),
            };
            format!("{registry}/{path}")
        }
    }
}

/// A script made for our images, adapted to the official ones (their conda environment).
pub fn adapt_script(script: &str) -> String {
    script.replace(ACTIVATE, OFFICIAL_ACTIVATE)
}

/// Pulls `reference` when the engine does not have it. Returns whether it pulled.
pub async fn ensure_pulled(docker: &Docker, reference: &str) -> Result<bool> {
    if agent_containers::images::image_id(docker, reference)
        .await?
        .is_some()
    {
        return Ok(false);
    }
    let (repo, tag) = match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    };
    let options = CreateImageOptionsBuilder::new()
        .from_image(repo)
        .tag(tag)
        .build();
    let mut stream = docker.create_image(Some(options), None, None);
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            return Err(HarnessError::Docker(format!(
                "cannot pull the official image {reference}: {e}; check --registry (a mirror \
                 that holds swebench/sweb.eval.* images) and `docker login` for it"
            )));
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(extra: serde_json::Value) -> Instance {
        let mut row = serde_json::json!({"instance_id": "astropy__astropy-12907", "repo": "astropy/astropy",
            "base_commit": "a", "version": "4.3", "test_patch": ""});
        if let (Some(row), Some(extra)) = (row.as_object_mut(), extra.as_object()) {
            row.extend(extra.clone());
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        std::fs::write(&path, format!("{row}\n")).unwrap();
        crate::Dataset::load(&path).unwrap().instances.remove(0)
    }

    #[test]
    fn official_names_and_registries() {
        let plain = instance(serde_json::json!({}));
        let arch = if std::env::consts::ARCH == "aarch64" {
            "arm64"
        } else {
            std::env::consts::ARCH
        };
        let name = format!("swebench/sweb.eval.{arch}.astropy_1776_astropy-12907:latest");
        assert_eq!(official_reference(&plain, None), name);
        assert_eq!(
            official_reference(&plain, Some("127.0.0.1:5000")),
            format!("127.0.0.1:5000/{name}")
        );
        let row = instance(serde_json::json!({"image": "docker.io/swebench/x:v2"}));
        assert_eq!(official_reference(&row, None), "docker.io/swebench/x:v2");
        assert_eq!(
            official_reference(&row, Some("mirror.local/hub")),
            "mirror.local/hub/swebench/x:v2"
        );
        assert!(ImageSource::parse("local", Some("x")).is_err());
        assert_eq!(
            ImageSource::parse("official", Some("r:5000/")).unwrap(),
            ImageSource::Official {
                registry: Some("r:5000".into())
            }
        );
        assert!(
            adapt_script("a\nsource /opt/venv/bin/activate\nb").contains("conda activate testbed")
        );
    }
}
