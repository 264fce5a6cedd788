//! `agent images build --base IMAGE`: the base is pulled from a registry (Debian's
//! `docker-registry`, started here on a free loopback port) instead of being made on the host.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use agent_containers::images::{self, BuildOptions, EnvRecipe};
use agent_tests::fixtures::agent_binary;

/// The registry process and the image tags this test made; all gone when dropped.
struct Cleanup {
    registry: Option<Child>,
    tags: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(mut child) = self.registry.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Children before parents: the env image, its base, then the pulled reference. `rmi` of
        // a tag that shares its image with another tag only untags.
        for tag in &self.tags {
            let _ = Command::new("docker").args(["rmi", tag]).output();
        }
    }
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().unwrap()
}

fn image_present(reference: &str) -> bool {
    docker(&["image", "inspect", reference]).status.success()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_registry(dir: &Path, port: u16) -> Child {
    let program = ["docker-registry", "/usr/bin/docker-registry"]
        .into_iter()
        .find(|p| Command::new(p).arg("--version").output().is_ok())
        .expect("Debian's docker-registry is not installed: apt-get install -y docker-registry (.ci/run does)");
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("storage").display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("registry.log")).unwrap();
    let child = Command::new(program)
        .arg("serve")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the registry did not listen on 127.0.0.1:{port}: {}",
            std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child
}

fn run_agent_images(args: &[&str]) -> Output {
    Command::new(agent_binary().unwrap())
        .arg("images")
        .args(args)
        .env_remove("AGENT_BASE_IMAGE")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn build_with_base_pulls_from_a_local_registry_and_gives_a_working_environment() {
    // The stand-in for debian:bookworm-slim: the project's own Debian bookworm base, built from a
    // host root filesystem when it is not there yet (a no-op after the README's first command).
    images::ensure_image("3.11").await.unwrap();
    let ca_bundle = BuildOptions::from_env().ca_bundle;
    let host_base = EnvRecipe::new("3.11", ca_bundle.clone())
        .unwrap()
        .base
        .tag();
    assert!(image_present(&host_base), "{host_base} is not built");

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let reference = format!("127.0.0.1:{port}/agent-test/debian:bookworm-slim");
    let recipe = EnvRecipe::new("3.11", ca_bundle)
        .unwrap()
        .on_base_image(Some(reference.clone()));
    let mut cleanup = Cleanup {
        registry: Some(start_registry(dir.path(), port)),
        tags: vec![recipe.tag(), recipe.base.tag(), reference.clone()],
    };
    // A port is in the reference, so these tags are new to this run.
    assert!(!image_present(&recipe.tag()) && !image_present(&recipe.base.tag()));

    // Fill the registry, then forget the local tag so that the build has to pull.
    assert!(docker(&["tag", &host_base, &reference]).status.success());
    let push = docker(&["push", &reference]);
    assert!(push.status.success(), "{}", text(&push));
    assert!(docker(&["rmi", &reference]).status.success());
    assert!(!image_present(&reference));
    let log_path = dir.path().join("registry.log");
    let pushed_log_len = std::fs::read_to_string(&log_path).unwrap().len();

    let started = Instant::now();
    let out = run_agent_images(&["build", "--python", "3.11", "--base", &reference]);
    let took = started.elapsed();
    let output = text(&out);
    assert!(out.status.success(), "{output}");
    eprintln!("agent images build --base took {:.0}s", took.as_secs_f64());
    assert!(output.contains(&format!("pulling {reference}")), "{output}");
    assert!(output.contains(&recipe.tag()), "{output}");

    // The registry answered the engine's manifest lookup after the push: the pull resolves the
    // tag (HEAD, or GET) and GETs the manifest by digest unless the engine already knows that
    // digest. Nothing else talks to a registry on this run's port.
    let log = std::fs::read_to_string(&log_path).unwrap();
    let pull_lines: Vec<&str> = log[pushed_log_len..]
        .lines()
        .filter(|l| {
            (l.contains("\"GET /v2/agent-test/debian/manifests/")
                || l.contains("\"HEAD /v2/agent-test/debian/manifests/bookworm-slim"))
                && l.contains("\" 200 ")
        })
        .collect();
    assert!(
        !pull_lines.is_empty(),
        "no pull in the registry log:\n{log}"
    );
    assert!(
        image_present(&reference),
        "the pulled image is not in the engine"
    );
    let label = docker(&[
        "image",
        "inspect",
        "--format",
        "{{index .Config.Labels \"agent.from-image\"}}",
        &recipe.base.tag(),
    ]);
    assert_eq!(String::from_utf8_lossy(&label.stdout).trim(), reference);

    // The environment works like the one on the host-made root filesystem.
    let run = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &recipe.tag(),
        "sh",
        "-c",
        "python3.11 --version && python --version && pytest --version && git --version && id -un 1000",
    ]);
    let ran = text(&run);
    assert!(run.status.success(), "{ran}");
    for expected in ["Python 3.11", "pytest 8.3.5", "git version", "agent"] {
        assert!(ran.contains(expected), "{expected} missing: {ran}");
    }

    // `images list` finds it under the same base; a second build builds nothing.
    let list = run_agent_images(&["list", "--base", &reference]);
    let listed = text(&list);
    assert!(list.status.success(), "{listed}");
    let line = listed
        .lines()
        .find(|l| l.starts_with("py3.11"))
        .unwrap_or_default();
    assert!(
        line.contains(&recipe.tag()) && line.contains("built"),
        "{listed}"
    );
    let again = run_agent_images(&["build", "--python", "3.11", "--base", &reference]);
    assert!(text(&again).contains("already built"), "{}", text(&again));

    // A registry that does not answer is named, with the cause.
    let closed = format!("127.0.0.1:{}/agent-test/debian:bookworm-slim", free_port());
    let failed = run_agent_images(&["build", "--python", "3.11", "--base", &closed]);
    let message = text(&failed);
    assert!(!failed.status.success(), "{message}");
    assert!(message.contains(&closed), "{message}");
    assert!(message.contains("unreachable"), "{message}");

    cleanup.registry.take().map(|mut c| {
        c.kill().unwrap();
        c.wait().unwrap()
    });
    drop(cleanup);
    assert!(!image_present(&recipe.tag()) && !image_present(&reference));
    assert!(
        image_present(&host_base),
        "the stand-in's own tag must stay"
    );
}

/// A machine without mmdebstrap/debootstrap and without an engine: with `--base` (or
/// `AGENT_BASE_IMAGE` for other commands) the preflight asks only for the engine; without it, for
/// the root filesystem tool too.
#[test]
fn preflight_does_not_ask_for_a_rootfs_tool_with_a_base_image() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let git = Command::new("bash")
        .args(["-c", "command -v git"])
        .output()
        .unwrap();
    std::os::unix::fs::symlink(
        String::from_utf8(git.stdout).unwrap().trim(),
        bin.join("git"),
    )
    .unwrap();
    let run = |args: &[&str], base_env: Option<&str>| {
        let mut cmd = Command::new(agent_binary().unwrap());
        cmd.args(args)
            .current_dir(dir.path())
            .env("PATH", &bin)
            .env("AGENT_ROOTFS_TOOL", "mmdebstrap")
            .env("AGENT_CACHE_DIR", dir.path().join("cache"))
            .env("NO_COLOR", "1")
            .env_remove("AGENT_BASE_IMAGE")
            .env(
                "DOCKER_HOST",
                format!("unix://{}", dir.path().join("no.sock").display()),
            );
        if let Some(base) = base_env {
            cmd.env("AGENT_BASE_IMAGE", base);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let build = ["images", "build", "--python", "3.11"];
    let with_base = run(
        &[&build[..], &["--base", "debian:bookworm-slim"]].concat(),
        None,
    );
    assert!(
        with_base.contains("cannot reach the Docker engine"),
        "{with_base}"
    );
    assert!(!with_base.contains("mmdebstrap"), "{with_base}");
    let without = run(&build, None);
    assert!(
        without.contains("apt-get install -y mmdebstrap"),
        "{without}"
    );
    let eval = [
        "bench",
        "eval",
        "--dataset",
        "mini",
        "--predictions",
        "gold",
        "--run-id",
        "first",
    ];
    let env_base = run(&eval, Some("debian:bookworm-slim"));
    assert!(
        env_base.contains("cannot reach the Docker engine"),
        "{env_base}"
    );
    assert!(!env_base.contains("mmdebstrap"), "{env_base}");
}
