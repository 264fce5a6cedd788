//! Building the Python environment image: PyPI reachability probe, host wheelhouse, build
//! context tar, and the engine's build API.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use agent_exec::ExecRequest;
use bollard::Docker;
use bollard::query_parameters::BuildImageOptionsBuilder;
use futures_util::StreamExt;

use super::recipe::{EnvRecipe, PIP_VERSION, PYTEST_VERSION};
use super::rootfs::find_program;
use super::{BuildEvent, Progress};
use crate::error::{ContainerError, Result};
use crate::sandbox::{DockerSandbox, SandboxConfig, SandboxUser};

/// Label on env images: the recipe hash they were built from.
pub const LABEL_RECIPE: &str = "agent.recipe";
pub const LABEL_PYTHON: &str = "agent.python";

const PROBE_SCRIPT: &str = r#"
import os, ssl, sys, urllib.request
ctx = ssl.create_default_context()
if os.path.getsize("/tmp/agent-ca.crt") > 0:
    ctx.load_verify_locations(cafile="/tmp/agent-ca.crt")
try:
    urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=20, context=ctx).read(64)
except Exception as e:
    print(type(e).__name__, e)
    sys.exit(1)
print("ok")
"#;

/// Whether a container on the engine's default bridge network can fetch from PyPI over TLS,
/// trusting `ca_bundle` in addition to the image's own certificates.
pub async fn probe_pypi(docker: &Docker, image: &str, ca_bundle: &[u8]) -> Result<(bool, String)> {
    let config = SandboxConfig::new(image)
        .network(true)
        .user(SandboxUser::Root);
    let sandbox = DockerSandbox::create_with(docker.clone(), config).await?;
    let result = async {
        sandbox
            .write_file("/tmp/agent-ca.crt", ca_bundle, 0o644)
            .await?;
        sandbox
            .write_file("/tmp/probe.py", PROBE_SCRIPT.as_bytes(), 0o644)
            .await?;
        let request = ExecRequest::new("python3 /tmp/probe.py").timeout(Duration::from_secs(60));
        sandbox.exec_streaming(request, None).await
    }
    .await;
    let _ = sandbox.remove().await;
    let out = result?.output;
    let detail = format!("{}{}", out.stdout.trim(), out.stderr.trim());
    Ok((out.success(), detail))
}

/// Downloads pip and pytest wheels for the image's Python on the host, for an offline install.
pub async fn prepare_wheelhouse(python: &str, dir: &Path, progress: &Progress) -> Result<()> {
    let host_python = find_program("python3").ok_or_else(|| {
        ContainerError::Build(
            "PyPI is unreachable from containers and the host has no python3 to prepare a \
             wheelhouse with; install python3 and pip on the host"
                .into(),
        )
    })?;
    let platform = match std::env::consts::ARCH {
        "aarch64" => "manylinux2014_aarch64",
        _ => "manylinux2014_x86_64",
    };
    progress(BuildEvent::Step(format!(
        "wheelhouse for Python {python}: pip download on the host"
    )));
    let output = tokio::process::Command::new(host_python)
        .args([
            "-m",
            "pip",
            "download",
            "--disable-pip-version-check",
            "--only-binary=:all:",
        ])
        .args([
            "--python-version",
            python,
            "--implementation",
            "cp",
            "--platform",
            platform,
        ])
        .arg("--dest")
        .arg(dir)
        .arg(format!("pip=={PIP_VERSION}"))
        .arg(format!("pytest=={PYTEST_VERSION}"))
        .output()
        .await
        .map_err(|e| ContainerError::Build(format!("running pip download on the host: {e}")))?;
    if !output.status.success() {
        return Err(ContainerError::Build(format!(
            "pip download on the host failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

/// A build context (tar) of in-memory files: (name, contents, mode).
pub fn tar_context(files: &[(&str, &[u8], u32)]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data, mode) in files {
        add_file(&mut builder, name, data, *mode)?;
    }
    builder
        .into_inner()
        .map_err(|e| ContainerError::io("writing the build context", e))
}

fn add_file(builder: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8], mode: u32) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(mode);
    header.set_entry_type(tar::EntryType::Regular);
    builder
        .append_data(&mut header, name, data)
        .map_err(|e| ContainerError::io("writing the build context", e))
}

/// The build context: the Dockerfile, the extra CA bundle and the wheelhouse directory.
pub fn build_context(recipe: &EnvRecipe, wheelhouse: Option<&Path>) -> Result<Vec<u8>> {
    let io = |e| ContainerError::io("writing the build context", e);
    let mut builder = tar::Builder::new(Vec::new());
    add_file(
        &mut builder,
        "Dockerfile",
        recipe.dockerfile.as_bytes(),
        0o644,
    )?;
    add_file(&mut builder, "extra-ca.crt", &recipe.ca_bundle, 0o644)?;
    add_file(&mut builder, "wheelhouse/.keep", b"", 0o644)?;
    if let Some(dir) = wheelhouse {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for name in names {
            let data = std::fs::read(dir.join(&name)).map_err(io)?;
            add_file(
                &mut builder,
                &format!("wheelhouse/{}", name.to_string_lossy()),
                &data,
                0o644,
            )?;
        }
    }
    builder.into_inner().map_err(io)
}

/// One image build from a Dockerfile in a context.
#[derive(Debug, Clone, Default)]
pub struct DockerfileBuild {
    pub tag: String,
    /// A tar holding `Dockerfile` and whatever it copies.
    pub context: Vec<u8>,
    pub labels: HashMap<String, String>,
    pub build_args: HashMap<String, String>,
}

/// How a build ended: the whole output of its steps, and the error if it failed (a failed step
/// is [`ContainerError::Build`]; an engine that cannot be reached keeps its own kind).
#[derive(Debug)]
pub struct BuildRun {
    pub log: String,
    pub result: Result<()>,
}

impl BuildRun {
    /// The last `n` lines of the output.
    pub fn tail(&self, n: usize) -> String {
        let lines: Vec<&str> = self.log.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// Builds an image through the engine's (classic) build API; each output line also goes to
/// `progress`.
pub async fn build_dockerfile(
    docker: &Docker,
    build: DockerfileBuild,
    progress: &Progress,
) -> BuildRun {
    let tag = build.tag.as_str();
    let options = BuildImageOptionsBuilder::new()
        .dockerfile("Dockerfile")
        .t(tag)
        .rm(true)
        .forcerm(true)
        .buildargs(&build.build_args)
        .labels(&build.labels)
        .build();
    let mut stream = docker.build_image(
        options,
        None,
        Some(bollard::body_full(build.context.into())),
    );
    let mut log = String::new();
    let mut result = Ok(());
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(text) = info.stream {
                    for line in text.lines().filter(|l| !l.trim().is_empty()) {
                        progress(BuildEvent::Line(line.to_string()));
                    }
                    log.push_str(&text);
                }
                if let Some(message) = info.error_detail.and_then(|d| d.message) {
                    result = Err(ContainerError::Build(format!("building {tag}: {message}")));
                }
            }
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                result = Err(ContainerError::Build(format!("building {tag}: {error}")));
                break;
            }
            Err(e) => {
                result = Err(ContainerError::engine(format!("building {tag}"), e));
                break;
            }
        }
    }
    BuildRun { log, result }
}

/// Builds the env image from its context through the engine's (classic) build API.
pub async fn build_env_image(
    docker: &Docker,
    recipe: &EnvRecipe,
    context: Vec<u8>,
    offline: bool,
    progress: &Progress,
) -> Result<()> {
    let tag = recipe.tag();
    progress(BuildEvent::Step(format!(
        "building {tag} on {} (pip from {})",
        recipe.base.tag(),
        if offline {
            "the host wheelhouse"
        } else {
            "PyPI"
        }
    )));
    let build = DockerfileBuild {
        tag: tag.clone(),
        context,
        labels: HashMap::from([
            (LABEL_RECIPE.to_string(), recipe.hash()),
            (LABEL_PYTHON.to_string(), recipe.env.python.to_string()),
        ]),
        build_args: recipe.build_args(offline).into_iter().collect(),
    };
    let run = build_dockerfile(docker, build, progress).await;
    let tail = run.tail(30);
    match run.result {
        Err(ContainerError::Build(message)) => Err(ContainerError::Build(format!(
            "{message}\nlast build output:\n{tail}"
        ))),
        other => other,
    }
}
