//! A base image built on a pulled image (`agent images build --base IMAGE`): the image is pulled
//! through the engine when it is not present, then `pulled-base/Dockerfile` installs the same
//! Debian packages the host-made root filesystem has.

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;

use super::recipe::{BaseRecipe, DEFAULT_MIRROR, PULLED_BASE_DOCKERFILE};
use super::{BuildEvent, Progress, image_id};
use crate::error::{ContainerError, Result};

/// Label on bases built on a pulled image: the image's reference.
pub const LABEL_FROM_IMAGE: &str = "agent.from-image";

/// The registry a reference is pulled from: its first path component when that names a host
/// (has a `.` or `:`, or is `localhost`), else Docker Hub.
pub fn registry_of(reference: &str) -> &str {
    match reference.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

/// Why a pull failed, from the engine's message.
fn pull_failure(message: &str) -> &'static str {
    let lower = message.to_lowercase();
    if lower.contains("unauthorized")
        || lower.contains("authentication required")
        || lower.contains("access denied")
        || lower.contains("denied")
    {
        "unauthorized (log in with `docker login`, or the repository does not exist)"
    } else if lower.contains("not found") || lower.contains("manifest unknown") {
        "not found (no such repository or tag in the registry)"
    } else if lower.contains("connection refused")
        || lower.contains("no such host")
        || lower.contains("timeout")
        || lower.contains("i/o timeout")
        || lower.contains("dial tcp")
        || lower.contains("network is unreachable")
        || lower.contains("server gave http response to https client")
    {
        "unreachable (the engine cannot connect to the registry)"
    } else {
        "failed"
    }
}

fn pull_error(reference: &str, message: &str) -> ContainerError {
    ContainerError::Build(format!(
        "pulling the base image {reference} from the registry {}: {}: {}",
        registry_of(reference),
        pull_failure(message),
        message.trim()
    ))
}

/// Pulls `reference` through the engine unless it is already present. Returns whether it pulled.
pub async fn ensure_pulled(docker: &Docker, reference: &str, progress: &Progress) -> Result<bool> {
    if image_id(docker, reference).await?.is_some() {
        progress(BuildEvent::Step(format!(
            "base image {reference} is present locally"
        )));
        return Ok(false);
    }
    progress(BuildEvent::Step(format!(
        "pulling {reference} from {}",
        registry_of(reference)
    )));
    // Without a tag or digest the engine would pull every tag of the repository.
    let last = reference.rsplit('/').next().unwrap_or(reference);
    let (image, tag) = if reference.contains('@') || !last.contains(':') {
        (
            reference,
            if reference.contains('@') {
                ""
            } else {
                "latest"
            },
        )
    } else {
        reference
            .rsplit_once(':')
            .map_or((reference, "latest"), |(i, t)| (i, t))
    };
    let mut builder = CreateImageOptionsBuilder::new().from_image(image);
    if !tag.is_empty() {
        builder = builder.tag(tag);
    }
    let mut stream = docker.create_image(Some(builder.build()), None, None);
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(error) = info.error_detail.and_then(|d| d.message) {
                    return Err(pull_error(reference, &error));
                }
                if let Some(status) = info.status {
                    progress(BuildEvent::Line(status));
                }
            }
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
            | Err(bollard::errors::Error::DockerStreamError { error: message }) => {
                return Err(pull_error(reference, &message));
            }
            Err(e) => {
                return Err(ContainerError::engine(
                    format!("pulling the base image {reference}"),
                    e,
                ));
            }
        }
    }
    if image_id(docker, reference).await?.is_none() {
        return Err(pull_error(
            reference,
            "the engine reported no error but the image is not there",
        ));
    }
    Ok(true)
}

/// Builds `recipe`'s base (`agent-base:<suite>-<hash>`) on its pulled image.
pub async fn build_pulled_base(
    docker: &Docker,
    recipe: &BaseRecipe,
    mirror: &str,
    progress: &Progress,
) -> Result<()> {
    let from = recipe.from_image.as_deref().ok_or_else(|| {
        ContainerError::Invalid("a pulled base needs the image to build on".into())
    })?;
    ensure_pulled(docker, from, progress).await?;
    let tag = recipe.tag();
    progress(BuildEvent::Step(format!(
        "building {tag} on {from} (apt-get install, {} packages)",
        recipe.packages.len()
    )));
    let build_args = HashMap::from([
        ("FROM_IMAGE".to_string(), from.to_string()),
        ("SUITE".to_string(), recipe.suite.clone()),
        ("PACKAGES".to_string(), recipe.packages.join(" ")),
        (
            "MIRROR".to_string(),
            if mirror.trim().is_empty() {
                DEFAULT_MIRROR.to_string()
            } else {
                mirror.trim_end_matches('/').to_string()
            },
        ),
    ]);
    let labels = HashMap::from([(LABEL_FROM_IMAGE.to_string(), from.to_string())]);
    let options = BuildImageOptionsBuilder::new()
        .dockerfile("Dockerfile")
        .t(&tag)
        .rm(true)
        .forcerm(true)
        .buildargs(&build_args)
        .labels(&labels)
        .build();
    let context = dockerfile_context()?;
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    let mut tail: Vec<String> = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                for line in info.stream.iter().flat_map(|t| t.lines()).map(strip_ansi) {
                    if line.trim().is_empty() {
                        continue;
                    }
                    progress(BuildEvent::Line(line.clone()));
                    if line.starts_with(" ---> Running in ") {
                        tail.clear();
                    }
                    tail.push(line);
                    if tail.len() > 30 {
                        tail.remove(0);
                    }
                }
            }
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                // The failing step's output says why; the engine's message repeats the command.
                let code = error.rsplit("returned a").next().unwrap_or(&error).trim();
                return Err(ContainerError::Build(format!(
                    "building {tag} on {from} failed (returned {code}); output of the step:\n{}",
                    tail.join("\n")
                )));
            }
            Err(e) => {
                return Err(ContainerError::engine(
                    format!("building {tag} on {from}"),
                    e,
                ));
            }
        }
    }
    Ok(())
}

/// The build output without terminal colour codes (the engine wraps a step's stderr in them).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

fn dockerfile_context() -> Result<Vec<u8>> {
    let io = |e| ContainerError::io("writing the build context", e);
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(PULLED_BASE_DOCKERFILE.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    builder
        .append_data(&mut header, "Dockerfile", PULLED_BASE_DOCKERFILE.as_bytes())
        .map_err(io)?;
    builder.into_inner().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_codes_are_stripped() {
        assert_eq!(
            strip_ansi("\u{1b}[91mthe base image\u{1b}[0m"),
            "the base image"
        );
        assert_eq!(strip_ansi("plain"), "plain");
    }

    #[test]
    fn registry_is_named_from_the_reference() {
        assert_eq!(registry_of("debian:bookworm-slim"), "docker.io");
        assert_eq!(registry_of("library/debian:bookworm"), "docker.io");
        assert_eq!(
            registry_of("127.0.0.1:5000/debian:bookworm-slim"),
            "127.0.0.1:5000"
        );
        assert_eq!(registry_of("ghcr.io/org/debian"), "ghcr.io");
        assert_eq!(registry_of("localhost/debian"), "localhost");
    }

    #[test]
    fn pull_errors_name_image_registry_and_cause() {
        let err = pull_error(
            "127.0.0.1:1/debian:bookworm-slim",
            "Get \"http://127.0.0.1:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused",
        )
        .to_string();
        assert!(err.contains("127.0.0.1:1/debian:bookworm-slim"), "{err}");
        assert!(err.contains("registry 127.0.0.1:1"), "{err}");
        assert!(err.contains("unreachable"), "{err}");
        let err = pull_error(
            "debian:nope",
            "manifest for debian:nope not found: manifest unknown",
        )
        .to_string();
        assert!(
            err.contains("not found") && err.contains("docker.io"),
            "{err}"
        );
        let err = pull_error(
            "private/x:1",
            "pull access denied for private/x, repository does not exist or may require 'docker login'",
        )
        .to_string();
        assert!(err.contains("unauthorized"), "{err}");
    }
}
