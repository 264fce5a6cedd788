//! A real engine restart mid-command. Restarting the machine's engine would disturb every other
//! test, so this starts a private `dockerd` (own socket, data and exec roots, no networking),
//! imports a tiny image built from the host's bash and coreutils, and restarts that engine
//! while a sandbox command runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use agent_containers::{DockerSandbox, SandboxConfig, cleanup, engine};
use agent_tools::{ExecError, ExecRequest, Executor};
use bollard::Docker;

const IMAGE: &str = "agent-restart-test:1";
const RUN_ID: &str = "engine-restart-test";

/// A private engine; stopped (and its state and bridge removed) on drop.
struct PrivateEngine {
    dir: PathBuf,
    /// Its own bridge interface: `--bridge=none` would make dockerd delete the host engine's
    /// `docker0`, and sharing `docker0` would mix the two engines' networks.
    bridge: String,
    child: Option<Child>,
}

impl PrivateEngine {
    fn socket(&self) -> String {
        format!("unix://{}", self.dir.join("docker.sock").display())
    }

    fn start(&mut self) {
        std::fs::write(self.dir.join("daemon.json"), "{}").unwrap();
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(self.dir.join("daemon.json"))
            .arg("--host")
            .arg(self.socket())
            .arg("--data-root")
            .arg(self.dir.join("data"))
            .arg("--exec-root")
            .arg(self.dir.join("exec"))
            .arg("--pidfile")
            .arg(self.dir.join("docker.pid"))
            .arg(format!("--bridge={}", self.bridge))
            .args([
                "--iptables=false",
                "--ip-masq=false",
                "--ip-forward=false",
                "--shutdown-timeout=2",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("dockerd.log")).unwrap())
            .spawn()
            .expect("starting dockerd (this test needs root and the dockerd binary)");
        self.child = Some(child);
    }

    /// SIGTERM, as `systemctl restart docker` sends, and wait for the engine to exit.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    async fn connect(&self) -> Docker {
        for _ in 0..300 {
            if let Ok(docker) = engine::connect_to(&self.socket(), Duration::from_secs(30)).await {
                return docker;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        panic!("the private dockerd did not come up:\n{log}");
    }

    fn docker_cli(&self, args: &[&str], stdin: Option<&Path>) {
        let mut command = Command::new("docker");
        command.arg("-H").arg(self.socket()).args(args);
        if let Some(path) = stdin {
            command.stdin(std::fs::File::open(path).unwrap());
        }
        let out = command.output().expect("running the docker CLI");
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        self.stop();
        let _ = Command::new("ip")
            .args(["link", "delete", &self.bridge])
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Creates the private engine's bridge, with an address from a test range (RFC 5737) so that
/// it routes nothing real.
fn create_bridge(name: &str) {
    for args in [
        vec!["link", "add", name, "type", "bridge"],
        vec!["addr", "add", "198.51.100.1/24", "dev", name],
        vec!["link", "set", name, "up"],
    ] {
        let status = Command::new("ip")
            .args(&args)
            .status()
            .expect("running `ip` (iproute2)");
        assert!(status.success(), "ip {args:?}");
    }
}

/// A root filesystem with bash, cat, sleep, sh, grep and kill from the host, and their
/// libraries: enough for the sandbox's main process, commands and timeout kills.
fn tiny_rootfs_tar(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    let tar = dir.join("rootfs.tar");
    let script = r#"
        set -e
        root="$1"
        mkdir -p "$root"/proc "$root"/sys "$root"/dev "$root"/etc "$root"/tmp "$root"/workspace
        chmod 1777 "$root"/tmp
        for b in /bin/bash /bin/sh /bin/dash /bin/cat /bin/sleep /bin/grep /bin/kill /usr/bin/true /usr/bin/env; do
            [ -e "$b" ] || continue
            mkdir -p "$root$(dirname "$b")"
            cp -L "$b" "$root$b"
            for lib in $(ldd "$b" 2>/dev/null | grep -o '/[^ ]*'); do
                mkdir -p "$root$(dirname "$lib")"
                cp -Ln "$lib" "$root$lib"
            done
        done
        tar -C "$root" -cf "$2" .
    "#;
    let status = Command::new("bash")
        .args(["-c", script, "rootfs"])
        .arg(&root)
        .arg(&tar)
        .status()
        .unwrap();
    assert!(status.success(), "building the tiny root filesystem");
    tar
}

#[tokio::test]
async fn engine_restart_mid_command_is_a_clear_error_and_nothing_leaks() {
    let uid = Command::new("id").arg("-u").output().unwrap().stdout;
    if String::from_utf8_lossy(&uid).trim() != "0" {
        // A second engine needs root; CI runs as root, so there the test always runs.
        eprintln!("skipped: starting a private dockerd needs root");
        return;
    }
    // Unix socket paths are limited to about 100 bytes: keep the directory short.
    let dir = tempfile::Builder::new()
        .prefix("agent-dockerd-")
        .tempdir_in("/tmp")
        .unwrap()
        .keep();
    let mut private = PrivateEngine {
        dir,
        bridge: format!("agtest{}", std::process::id() % 100_000),
        child: None,
    };
    create_bridge(&private.bridge);
    private.start();
    let docker = private.connect().await;
    let tar = tiny_rootfs_tar(&private.dir);
    private.docker_cli(&["import", "-", IMAGE], Some(&tar));

    let sandbox = std::sync::Arc::new(
        DockerSandbox::create_with(docker.clone(), SandboxConfig::new(IMAGE).run_id(RUN_ID))
            .await
            .expect("a sandbox in the private engine"),
    );
    let out = sandbox.exec(ExecRequest::new("echo ready")).await.unwrap();
    assert_eq!(out.stdout, "ready\n");
    // The label lookup used at the end sees this sandbox.
    let before = cleanup::run_containers(&docker, RUN_ID).await.unwrap();
    assert_eq!(before, [sandbox.id().to_string()]);

    let running = sandbox.clone();
    let task = tokio::spawn(async move {
        running
            .exec(ExecRequest::new("echo before; sleep 120").timeout(Duration::from_secs(200)))
            .await
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    private.stop();
    private.start();
    let docker = private.connect().await;

    let err = tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("the command returned once the engine went away")
        .unwrap()
        .unwrap_err();
    let ExecError::Unavailable(message) = &err else {
        panic!("expected a clear `Unavailable` error, got {err:?}");
    };
    assert!(
        message.contains("Docker engine stopped answering") && message.contains("restarted"),
        "the error says what happened: {message}"
    );
    assert!(message.contains("before"), "partial output kept: {message}");

    // The next command fails the same clear way.
    let next = sandbox.exec(ExecRequest::new("true")).await.unwrap_err();
    assert!(matches!(next, ExecError::Unavailable(_)), "{next:?}");
    // Removing the sandbox succeeds, and the restarted engine holds none of our containers.
    sandbox.remove().await.unwrap();
    let mut left = cleanup::run_containers(&docker, RUN_ID).await.unwrap();
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = cleanup::run_containers(&docker, RUN_ID).await.unwrap();
    }
    assert!(
        left.is_empty(),
        "containers left after the restart: {left:?}"
    );
}
