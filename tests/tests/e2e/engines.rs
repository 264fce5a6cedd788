//! Engines beyond the local socket: a private engine on loopback TCP with TLS certificates made
//! here; what each connection failure says; a sandbox with a copied workspace on it; the
//! `DOCKER_HOST` / `DOCKER_TLS_VERIFY` / `DOCKER_CERT_PATH` variables through the CLI. These
//! tests start engines of their own and need root (CI runs as root).

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

/// An sshd on loopback for this test only: its own host key, config and authorized key.
struct Sshd {
    child: std::process::Child,
    port: u16,
    home: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sshd() -> Sshd {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keygen = |path: &Path| {
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    };
    keygen(&d.join("host_key"));
    let home = d.join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    keygen(&home.join(".ssh/id_ed25519"));
    std::fs::copy(home.join(".ssh/id_ed25519.pub"), d.join("authorized_keys")).unwrap();
    let port = free_port().unwrap();
    std::fs::write(
        d.join("sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {0}/host_key\nAuthorizedKeysFile {0}/authorized_keys\n\
             PidFile {0}/sshd.pid\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nStrictModes no\n",
            d.display()
        ),
    )
    .unwrap();
    std::fs::write(
        home.join(".ssh/config"),
        format!(
            "Host agent-test-engine\n  HostName 127.0.0.1\n  Port {port}\n  User root\n\
             \x20 StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n\
             Host agent-test-closed\n  HostName 127.0.0.1\n  Port {}\n  User root\n  LogLevel ERROR\n",
            free_port().unwrap()
        ),
    )
    .unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    let child = Command::new("/usr/sbin/sshd")
        .args(["-D", "-e", "-f"])
        .arg(d.join("sshd_config"))
        .stderr(std::fs::File::create(d.join("sshd.log")).unwrap())
        .spawn()
        .expect("starting sshd (apt-get install openssh-server)");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Sshd {
        child,
        port,
        home,
        _dir: dir,
    }
}

#[test]
fn an_ssh_engine_is_reached_through_the_system_ssh_client() {
    if !can_start_engines() || !Path::new("/usr/sbin/sshd").exists() {
        eprintln!("skipped: needs root and sshd (apt-get install openssh-server)");
        return;
    }
    let sshd = start_sshd();
    let dir = tempfile::tempdir().unwrap();
    // ssh reads the config of the passwd entry's home, not $HOME: a wrapper first on PATH
    // gives it this test's config instead of touching the machine's.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(
        bin.join("ssh"),
        format!(
            "#!/bin/sh\nexec /usr/bin/ssh -F {} -i {} \"$@\"\n",
            sshd.home.join(".ssh/config").display(),
            sshd.home.join(".ssh/id_ed25519").display()
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(bin.join("ssh"))
        .status()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let prune = |url: &str| {
        Command::new(agent_binary().unwrap())
            .args(["containers", "prune"])
            .current_dir(dir.path())
            .env("AGENT_CONFIG", dir.path().join("none.toml"))
            .env("PATH", &path)
            .env("DOCKER_HOST", url)
            .output()
            .unwrap()
    };
    // The engine behind it is this machine's (the ssh session's docker CLI uses its default).
    let out = prune("ssh://agent-test-engine");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = prune("ssh://root@agent-test-closed");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ssh://root@agent-test-closed")
            && err.contains("ssh to root@agent-test-closed failed"),
        "{err}"
    );
    // A port in the URL is refused with the way to give it.
    let out = prune(&format!("ssh://root@127.0.0.1:{}", sshd.port));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("~/.ssh/config"),
        "{err}"
    );
}
