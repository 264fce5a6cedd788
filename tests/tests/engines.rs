//! Engines beyond the local socket: a private engine on loopback TCP with TLS certificates made
//! here; what each connection failure says; a sandbox with a copied workspace on it; the
//! `DOCKER_HOST` / `DOCKER_TLS_VERIFY` / `DOCKER_CERT_PATH` variables through the CLI. These
//! tests start engines of their own and need root (CI runs as root).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use agent_containers::engine::{EngineAddress, TlsEnv, connect_address};
use agent_containers::{DockerSandbox, Engine, SandboxConfig, WorkspaceMode};
use agent_tests::engines::{PrivateEngine, can_start_engines, free_port, make_tls};
use agent_tests::fixtures::agent_binary;
use agent_tools::{ExecRequest, Executor};

async fn error_of(url: &str, tls: &TlsEnv) -> String {
    let address = EngineAddress::parse(url, tls).unwrap();
    match connect_address(&address, Duration::from_secs(10)).await {
        Ok(_) => panic!("{url} connected"),
        Err(e) => e.to_string(),
    }
}

/// The Python 3.11 sandbox image, from the machine's engine, loaded into `engine` when missing.
async fn sandbox_image_on(engine: &Engine) -> String {
    let image = agent_containers::ensure_image("3.11").await.unwrap();
    let local = agent_containers::engine::connect().await.unwrap();
    agent_containers::images::transfer::transfer(&local, &engine.docker, &image.tag)
        .await
        .unwrap();
    image.tag
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_engine_connects_and_each_failure_says_what_failed() {
    if !can_start_engines() {
        eprintln!("skipped: starting a private dockerd needs root");
        return;
    }
    let engine = PrivateEngine::start("tls", "203.0.113.193/27", true).unwrap();
    engine.wait_ready().await.unwrap();
    let url = engine.url();
    let good = TlsEnv::with_certs(engine.cert_path().unwrap());
    let address = EngineAddress::parse(&url, &good).unwrap();
    let docker = connect_address(&address, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(docker.version().await.unwrap().version.is_some());

    // Certificates from another CA: the engine's certificate is not trusted by us...
    let other = tempfile::tempdir().unwrap();
    let stranger = make_tls(other.path(), "stranger").unwrap();
    let err = error_of(&url, &TlsEnv::with_certs(&stranger.client_dir)).await;
    assert!(err.contains(&url) && err.contains("TLS failed"), "{err}");
    assert!(err.contains("not trusted"), "{err}");
    // ...and with our CA but a client certificate it did not sign, we are not trusted by it.
    let mixed = other.path().join("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    std::fs::copy(
        engine.cert_path().unwrap().join("ca.pem"),
        mixed.join("ca.pem"),
    )
    .unwrap();
    std::fs::copy(stranger.client_dir.join("cert.pem"), mixed.join("cert.pem")).unwrap();
    std::fs::copy(stranger.client_dir.join("key.pem"), mixed.join("key.pem")).unwrap();
    let err = error_of(&url, &TlsEnv::with_certs(&mixed)).await;
    assert!(err.contains(&url) && err.contains("TLS"), "{err}");
    assert!(err.contains("client certificate"), "{err}");
    // Plain HTTP to the TLS port, TLS to a port where nothing listens, missing files.
    let err = error_of(&url, &TlsEnv::default()).await;
    assert!(
        err.contains("speaks TLS") && err.contains("DOCKER_TLS_VERIFY"),
        "{err}"
    );
    let closed = format!("tcp://127.0.0.1:{}", free_port().unwrap());
    let err = error_of(&closed, &good).await;
    assert!(err.contains(&closed) && err.contains("refused"), "{err}");
    let err = error_of(&url, &TlsEnv::with_certs("/nonexistent/certs")).await;
    assert!(
        err.contains("/nonexistent/certs/ca.pem") && err.contains("DOCKER_CERT_PATH"),
        "{err}"
    );

    // A sandbox there copies its workspace (a TCP engine may be another machine).
    let engine_handle = Engine::connect(&address, Duration::from_secs(600))
        .await
        .unwrap();
    let image = sandbox_image_on(&engine_handle).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("host.txt"), "from the host\n").unwrap();
    let sandbox = DockerSandbox::create_on(
        &engine_handle,
        SandboxConfig::new(&image).workspace(dir.path()),
    )
    .await
    .unwrap();
    assert!(sandbox.copies_workspace());
    assert_eq!(sandbox.engine().url, url);
    let out = sandbox
        .exec(ExecRequest::new(
            "cat host.txt && echo made-inside > inside.txt",
        ))
        .await
        .unwrap();
    assert_eq!(out.stdout, "from the host\n");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("inside.txt")).unwrap(),
        "made-inside\n"
    );
    let id = sandbox.id().to_string();
    sandbox.remove().await.unwrap();
    for _ in 0..50 {
        if docker.inspect_container(&id, None).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        docker.inspect_container(&id, None).await.is_err(),
        "removed"
    );
    let _ = WorkspaceMode::Auto;
}

#[test]
fn the_docker_tls_variables_reach_the_engine_through_the_cli() {
    if !can_start_engines() {
        eprintln!("skipped: starting a private dockerd needs root");
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let engine = PrivateEngine::start("cli", "203.0.113.225/27", true).unwrap();
    rt.block_on(engine.wait_ready()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let prune = |cert_path: &Path, verify: bool| {
        let mut cmd = Command::new(agent_binary().unwrap());
        cmd.args(["containers", "prune"])
            .current_dir(dir.path())
            .env("AGENT_CONFIG", dir.path().join("none.toml"))
            .env("DOCKER_HOST", engine.url())
            .env("DOCKER_CERT_PATH", cert_path);
        if verify {
            cmd.env("DOCKER_TLS_VERIFY", "1");
        } else {
            cmd.env_remove("DOCKER_TLS_VERIFY");
        }
        cmd.output().unwrap()
    };
    let out = prune(engine.cert_path().unwrap(), true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = prune(engine.cert_path().unwrap(), false);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&engine.url()) && err.contains("DOCKER_TLS_VERIFY"),
        "{err}"
    );
}
