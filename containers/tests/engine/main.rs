//! Tests against the real Docker engine. The first test to run builds the Python 3.11 image
//! (minutes, once; later runs find it by its content hash and reuse it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod copied;
mod faults;
mod images;
mod restart;
mod run_tests;
mod sandbox;

use agent_containers::{DockerSandbox, ImageRef, SandboxConfig};

/// The Python 3.11 environment image, built when missing.
pub async fn env_image() -> ImageRef {
    agent_containers::ensure_image("3.11").await.expect(
        "building the Python 3.11 image (needs mmdebstrap or debootstrap and the Debian mirror)",
    )
}

pub async fn sandbox(config: impl FnOnce(SandboxConfig) -> SandboxConfig) -> DockerSandbox {
    let image = env_image().await;
    DockerSandbox::create(config(SandboxConfig::new(image.tag)))
        .await
        .expect("creating a sandbox")
}

/// Waits up to `secs` for a container to disappear from the engine.
pub async fn gone_within(id: &str, secs: u64) -> bool {
    let docker = agent_containers::engine::connect().await.unwrap();
    for _ in 0..(secs * 10) {
        if docker.inspect_container(id, None).await.is_err() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}
