use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_containers::images::{self, BuildOptions, EnvRecipe, PipSource, build};
use agent_containers::{BuildEvent, ContainerError, DockerSandbox, SandboxConfig};
use agent_tools::{ExecRequest, Executor};

use crate::{env_image, sandbox};

async fn run(sandbox: &DockerSandbox, command: &str) -> agent_tools::ExecOutput {
    sandbox
        .exec(ExecRequest::new(command).timeout(Duration::from_secs(60)))
        .await
        .unwrap()
}

#[tokio::test]
async fn python_env_image_is_built_once_and_has_the_tools() {
    let first = env_image().await;
    assert!(first.tag.starts_with("agent-env:py3.11-"), "{}", first.tag);
    // The second call finds the image by its content hash instead of building.
    let second = env_image().await;
    assert!(!second.built);
    assert_eq!(first.tag, second.tag);
    assert_eq!(first.id, second.id);

    let sandbox = sandbox(|c| c).await;
    let out = run(
        &sandbox,
        "python --version && pytest --version && pip --version && git --version && patch --version | head -n1 && id agent && bash --version | head -n1",
    )
    .await;
    assert!(out.success(), "{out:?}");
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains("Python 3.11"), "{all}");
    assert!(all.contains("pytest 8.3.5"), "{all}");
    assert!(all.contains("pip 25.0.1"), "{all}");
    assert!(all.contains("git version"), "{all}");
    assert!(all.contains("GNU patch"), "{all}");
    assert!(all.contains("uid=1000(agent)"), "{all}");
    // The extra CA bundle is in the trust store and named by the usual variables.
    let out = run(
        &sandbox,
        "echo $PIP_CERT; grep -c 'BEGIN CERTIFICATE' /etc/ssl/certs/ca-certificates.crt",
    )
    .await;
    assert!(
        out.stdout.starts_with("/etc/ssl/certs/ca-certificates.crt"),
        "{out:?}"
    );
    sandbox.remove().await.unwrap();
}

#[tokio::test]
async fn missing_image_names_the_build_command() {
    let err = DockerSandbox::create(SandboxConfig::new("agent-env:py3.11-000000000000"))
        .await
        .unwrap_err();
    assert!(matches!(err, ContainerError::ImageMissing(_)), "{err:?}");
    assert!(err.to_string().contains("agent images build"), "{err}");
}

#[tokio::test]
async fn pypi_reachability_from_a_container_is_probed() {
    let image = env_image().await;
    let recipe = EnvRecipe::new("3.11", BuildOptions::from_env().ca_bundle).unwrap();
    let docker = agent_containers::engine::connect().await.unwrap();
    let (reachable, detail) = build::probe_pypi(&docker, &recipe.base.tag(), &recipe.ca_bundle)
        .await
        .unwrap();
    eprintln!(
        "PyPI from a container (bridge network, extra CA bundle): reachable={reachable} ({detail})"
    );
    assert!(reachable || !detail.is_empty());
    assert!(image.tag.contains("py3.11"));
}

/// A different CA bundle is a different recipe: a new tag, built on the existing base image,
/// here with pip installing from a wheelhouse prepared on the host (the offline path).
#[tokio::test]
async fn changed_recipe_rebuilds_and_offline_wheelhouse_install_works() {
    let original = env_image().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let mut bundle = BuildOptions::from_env()
        .ca_bundle
        .map(|p| std::fs::read(p).unwrap())
        .unwrap_or_default();
    bundle.extend_from_slice(b"\n# a changed bundle for the rebuild test\n");
    std::fs::write(&ca, &bundle).unwrap();
    let options = BuildOptions {
        ca_bundle: Some(ca),
        pip_source: PipSource::Wheelhouse,
        ..BuildOptions::from_env()
    };
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let progress = move |event: BuildEvent| sink.lock().unwrap().push(event);
    let docker = agent_containers::engine::connect_with_timeout(Duration::from_secs(3600))
        .await
        .unwrap();
    let rebuilt = images::ensure_image_with(&docker, "3.11", &options, &progress)
        .await
        .unwrap();
    assert_ne!(rebuilt.tag, original.tag);
    assert!(rebuilt.built);
    let steps: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            BuildEvent::Step(s) => Some(s.clone()),
            BuildEvent::Line(_) => None,
        })
        .collect();
    // Only the missing layer was built: the base image was reused, pip used the wheelhouse.
    assert!(steps.iter().any(|s| s.contains("is present")), "{steps:?}");
    assert!(steps.iter().any(|s| s.contains("wheelhouse")), "{steps:?}");
    assert!(
        !steps
            .iter()
            .any(|s| s.contains("mmdebstrap") || s.contains("debootstrap")),
        "{steps:?}"
    );

    let sandbox = DockerSandbox::create(SandboxConfig::new(&rebuilt.tag))
        .await
        .unwrap();
    let out = run(
        &sandbox,
        "pytest --version && tail -n 1 /etc/ssl/certs/ca-certificates.crt",
    )
    .await;
    assert!(out.success(), "{out:?}");
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("pytest 8.3.5"),
        "{out:?}"
    );
    sandbox.remove().await.unwrap();
    docker
        .remove_image(
            &rebuilt.tag,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await
        .unwrap();
}
