//! Extra Docker engines for tests: a private `dockerd` with its own data root, exec root,
//! pidfile, unix socket and bridge (an RFC 5737 address, no iptables), optionally listening on
//! loopback TCP with TLS certificates made here (a CA, a server and a client certificate).
//! Stopped, with its state and bridge removed, on drop. Needs root and the dockerd binary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};

/// TLS material for an engine: the directory a client points `DOCKER_CERT_PATH` at holds
/// `ca.pem`, `cert.pem` and `key.pem`; the server's files sit beside them.
pub struct TlsMaterial {
    pub client_dir: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

/// Makes a CA, a server certificate for 127.0.0.1/localhost, and a client certificate, in `dir`.
pub fn make_tls(dir: &Path, name: &str) -> Result<TlsMaterial> {
    let client_dir = dir.join("client");
    std::fs::create_dir_all(&client_dir)?;
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let ca = ca_params.self_signed(&ca_key)?;
    let server_key = KeyPair::generate()?;
    let mut server_params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server = server_params.signed_by(&server_key, &ca, &ca_key)?;
    let client_key = KeyPair::generate()?;
    let mut client_params = CertificateParams::new(Vec::<String>::new())?;
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    client_params
        .distinguished_name
        .push(DnType::CommonName, "agent test client");
    let client = client_params.signed_by(&client_key, &ca, &ca_key)?;
    std::fs::write(dir.join("ca.pem"), ca.pem())?;
    std::fs::write(client_dir.join("ca.pem"), ca.pem())?;
    std::fs::write(client_dir.join("cert.pem"), client.pem())?;
    std::fs::write(client_dir.join("key.pem"), client_key.serialize_pem())?;
    let material = TlsMaterial {
        client_dir,
        server_cert: dir.join("server-cert.pem"),
        server_key: dir.join("server-key.pem"),
    };
    std::fs::write(&material.server_cert, server.pem())?;
    std::fs::write(&material.server_key, server_key.serialize_pem())?;
    Ok(material)
}

/// A free loopback port (bound, then released).
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

pub struct PrivateEngine {
    pub dir: PathBuf,
    pub bridge: String,
    /// `(port, TLS)` when it also listens on loopback TCP.
    pub tcp: Option<(u16, TlsMaterial)>,
    child: Option<Child>,
}

impl PrivateEngine {
    /// Starts an engine. `subnet` is the bridge's address (e.g. `203.0.113.1/26`), distinct per
    /// engine. With `tls`, it listens on `tcp://127.0.0.1:PORT` with `--tlsverify` instead of
    /// a unix socket.
    pub fn start(tag: &str, subnet: &str, tls: bool) -> Result<Self> {
        // Unix socket paths are limited to about 100 bytes: keep the directory short.
        let dir = tempfile::Builder::new()
            .prefix(&format!("agent-{tag}-"))
            .tempdir_in("/tmp")?
            .keep();
        let bridge = format!("ag{tag}{}", std::process::id() % 10_000);
        create_bridge(&bridge, subnet)?;
        let tcp = if tls {
            Some((free_port()?, make_tls(&dir, tag)?))
        } else {
            None
        };
        let mut engine = Self {
            dir,
            bridge,
            tcp,
            child: None,
        };
        engine.spawn()?;
        Ok(engine)
    }

    /// The address clients use: `tcp://127.0.0.1:PORT` (TLS) or `unix://…/docker.sock`.
    pub fn url(&self) -> String {
        match &self.tcp {
            Some((port, _)) => format!("tcp://127.0.0.1:{port}"),
            None => format!("unix://{}", self.dir.join("docker.sock").display()),
        }
    }

    /// The client certificate directory, for `DOCKER_CERT_PATH`.
    pub fn cert_path(&self) -> Option<&Path> {
        self.tcp.as_ref().map(|(_, tls)| tls.client_dir.as_path())
    }

    fn spawn(&mut self) -> Result<()> {
        std::fs::write(self.dir.join("daemon.json"), "{}")?;
        let mut command = Command::new("dockerd");
        command
            .arg("--config-file")
            .arg(self.dir.join("daemon.json"))
            .arg("--data-root")
            .arg(self.dir.join("data"))
            .arg("--exec-root")
            .arg(self.dir.join("exec"))
            .arg("--pidfile")
            .arg(self.dir.join("docker.pid"))
            .arg(format!("--bridge={}", self.bridge))
            .args([
                "--storage-driver=fuse-overlayfs",
                "--iptables=false",
                "--ip-masq=false",
                "--ip-forward=false",
                "--shutdown-timeout=2",
            ]);
        match &self.tcp {
            Some((port, tls)) => {
                command
                    .arg(format!("--host=tcp://127.0.0.1:{port}"))
                    .arg("--tlsverify")
                    .arg("--tlscacert")
                    .arg(self.dir.join("ca.pem"))
                    .arg("--tlscert")
                    .arg(&tls.server_cert)
                    .arg("--tlskey")
                    .arg(&tls.server_key);
            }
            None => {
                command.arg(format!("--host={}", self.url()));
            }
        }
        let log = std::fs::File::create(self.dir.join("dockerd.log"))?;
        let child = command
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting dockerd (needs root and the dockerd binary)")?;
        self.child = Some(child);
        Ok(())
    }

    /// Starts the engine again (after [`PrivateEngine::kill`] or [`PrivateEngine::stop`]).
    pub fn restart(&mut self) -> Result<()> {
        self.spawn()
    }

    /// The engine's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    /// The engine process's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: the engine dies at once, as a crashed machine's engine would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.kill_leftover_shims();
    }

    /// SIGTERM and wait.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
        self.kill_leftover_shims();
    }

    /// A killed engine's containerd, container shims and fuse-overlayfs mounts keep running;
    /// end those of this engine (found by their command lines naming its directory).
    fn kill_leftover_shims(&self) {
        let marker = self.dir.display().to_string();
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in procs.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            let program = cmdline.split('\0').next().unwrap_or("");
            let program = program.rsplit('/').next().unwrap_or(program);
            // Only the engine's own helpers: a client naming the engine's socket lives on.
            let helper = program.starts_with("containerd") || program == "fuse-overlayfs";
            if helper && cmdline.contains(&marker) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }

    /// Waits until the engine answers (through the agent's own connection code).
    pub async fn wait_ready(&self) -> Result<()> {
        let address = self.address()?;
        for _ in 0..300 {
            if agent_containers::engine::connect_address(&address, Duration::from_secs(10))
                .await
                .is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the private dockerd did not come up:\n{}", self.log())
    }

    /// Its address, with the TLS settings a client needs.
    pub fn address(&self) -> Result<agent_containers::EngineAddress> {
        let tls = match self.cert_path() {
            Some(dir) => agent_containers::engine::TlsEnv::with_certs(dir),
            None => agent_containers::engine::TlsEnv::default(),
        };
        Ok(agent_containers::EngineAddress::parse(&self.url(), &tls)?)
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        self.stop();
        let _ = Command::new("ip")
            .args(["link", "delete", &self.bridge])
            .status();
        // Mounts of fuse-overlayfs may linger a moment after the engine exits.
        let data = self.dir.join("data");
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "grep -o ' {0}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l",
                data.display()
            ))
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn create_bridge(name: &str, subnet: &str) -> Result<()> {
    let _ = Command::new("ip")
        .args(["link", "delete", name])
        .stderr(Stdio::null())
        .status();
    for args in [
        vec!["link", "add", name, "type", "bridge"],
        vec!["addr", "add", subnet, "dev", name],
        vec!["link", "set", name, "up"],
    ] {
        let status = Command::new("ip")
            .args(&args)
            .status()
            .context("running `ip` (iproute2)")?;
        if !status.success() {
            bail!("ip {args:?} failed");
        }
    }
    Ok(())
}

/// The ids of the containers (any state) on `docker` whose label `key` passes `keep`; `None`
/// when the engine does not answer.
pub async fn labelled_containers(
    docker: &bollard::Docker,
    key: &str,
    keep: impl Fn(&str) -> bool,
) -> Option<Vec<String>> {
    let options = bollard::query_parameters::ListContainersOptionsBuilder::new()
        .all(true)
        .build();
    let list = docker.list_containers(Some(options)).await.ok()?;
    Some(
        list.into_iter()
            .filter(|c| {
                c.labels
                    .as_ref()
                    .and_then(|l| l.get(key))
                    .is_some_and(|v| keep(v))
            })
            .filter_map(|c| c.id)
            .collect(),
    )
}

/// The local engine's (`DOCKER_HOST`, or the default socket) address as `--engine` takes it.
pub fn local_engine_url() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

impl PrivateEngine {
    /// [`labelled_containers`] on this engine.
    pub async fn labelled_containers(
        &self,
        key: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Option<Vec<String>> {
        let docker = agent_containers::engine::connect_address(
            &self.address().ok()?,
            Duration::from_secs(5),
        )
        .await
        .ok()?;
        labelled_containers(&docker, key, keep).await
    }

    /// Starts a killed engine again and returns the containers labelled as `keep` says that
    /// are still there once it has settled (a killed engine's auto-remove containers go when
    /// it comes back, within a few seconds).
    pub async fn restart_and_list(
        &mut self,
        key: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Option<Vec<String>>> {
        self.restart()?;
        self.wait_ready().await?;
        let mut left = self.labelled_containers(key, &keep).await;
        for _ in 0..50 {
            if left == Some(vec![]) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            left = self.labelled_containers(key, &keep).await;
        }
        Ok(left)
    }
}

/// The bundled mini dataset's instances, as JSON rows.
pub fn mini_instances() -> Result<Vec<serde_json::Value>> {
    let rt = tokio::runtime::Runtime::new()?;
    let paths = rt.block_on(agent_harness::mini::materialize(
        &agent_harness::mini::cache_root(),
    ))?;
    std::fs::read_to_string(paths.dataset)?
        .lines()
        .map(|l| Ok(serde_json::from_str(l)?))
        .collect()
}

/// Whether this process can start engines (root).
pub fn can_start_engines() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
