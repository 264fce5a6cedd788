//! `agent images build`: build the Python environment images that are missing, from Debian
//! packages, with no registry. Idempotent: images are tagged by the hash of their recipe.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};

use agent_containers::images::{self, BuildEvent, BuildOptions, PYTHON_ENVS, PipSource};

use crate::printer::Printer;

#[derive(Debug, Args)]
pub struct ImagesArgs {
    #[command(subcommand)]
    pub command: ImagesCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Build the environment images that are missing (all Python versions by default).
    #[command(
        after_help = "Examples:\n  agent images build --python 3.11\n  agent images build --ca-bundle /etc/ssl/certs/ca-certificates.crt\n  agent images build --python 3.11 --base debian:bookworm-slim"
    )]
    Build(BuildArgs),
    /// List the environment images and whether each is built.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Python version to build (3.9, 3.11, 3.13); repeat for several. Default: all.
    #[arg(long = "python", value_name = "X.Y")]
    pub pythons: Vec<String>,
    /// Extra CA certificates (PEM) to trust inside the images. Default: $SSL_CERT_FILE, else
    /// $PIP_CERT.
    #[arg(long, value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,
    /// Where pip gets pytest: probe PyPI from a container and fall back to a host wheelhouse
    /// (auto), always PyPI (index), or always the host wheelhouse (wheelhouse).
    #[arg(long, value_enum, default_value_t = PipSourceArg::Auto)]
    pub pip_source: PipSourceArg,
    /// Build on this image, pulled from its registry when not present (e.g. debian:bookworm-slim
    /// for Python 3.11), instead of a Debian root filesystem made on the host with mmdebstrap.
    /// Its Debian suite must match the Python version. Other commands use these images when
    /// AGENT_BASE_IMAGE names the same image.
    #[arg(long, value_name = "IMAGE", env = "AGENT_BASE_IMAGE")]
    pub base: Option<String>,
    /// Show every line of the build output.
    #[arg(long, short)]
    pub verbose: bool,
    /// Install missing host requirements (with apt-get) instead of only naming them.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Extra CA bundle the images were built with (it is part of their hash).
    #[arg(long, value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,
    /// The pulled image the images were built on (`images build --base`; part of their hash).
    #[arg(long, value_name = "IMAGE", env = "AGENT_BASE_IMAGE")]
    pub base: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PipSourceArg {
    Auto,
    Index,
    Wheelhouse,
}

pub async fn run(args: ImagesArgs, printer: &Printer) -> Result<ExitCode> {
    match args.command {
        ImagesCommand::Build(build) => run_build(build, printer).await,
        ImagesCommand::List(list) => run_list(list, printer).await,
    }
}

fn options(
    ca_bundle: Option<PathBuf>,
    pip_source: PipSourceArg,
    base: Option<String>,
) -> BuildOptions {
    let mut options = BuildOptions::from_env();
    options.ca_bundle = images::default_ca_bundle(ca_bundle);
    options.base_image = base.filter(|b| !b.trim().is_empty());
    options.pip_source = match pip_source {
        PipSourceArg::Auto => PipSource::Auto,
        PipSourceArg::Index => PipSource::Index,
        PipSourceArg::Wheelhouse => PipSource::Wheelhouse,
    };
    options
}

fn selected(pythons: &[String]) -> Result<Vec<String>> {
    if pythons.is_empty() {
        return Ok(PYTHON_ENVS.iter().map(|e| e.python.to_string()).collect());
    }
    pythons
        .iter()
        .map(|p| Ok(images::python_env(p)?.python.to_string()))
        .collect()
}

async fn run_build(args: BuildArgs, printer: &Printer) -> Result<ExitCode> {
    // One pulled image is one Debian suite, which is one Python version.
    if args.base.is_some() && args.pythons.len() != 1 {
        anyhow::bail!(
            "--base builds one Python version (the one of the image's Debian suite); add \
             --python X.Y (3.9: bullseye, 3.11: bookworm, 3.13: trixie)"
        );
    }
    let pythons = selected(&args.pythons)?;
    let needs = crate::preflight::Needs {
        git: false,
        docker: true,
        pythons: pythons.clone(),
        base_image: args.base.clone(),
    };
    let sink = *printer;
    crate::preflight::ensure(&needs, args.yes, &move |s| sink.status(s)).await?;
    let options = options(args.ca_bundle, args.pip_source, args.base);
    let docker = agent_containers::engine::connect_with_timeout(Duration::from_secs(3600)).await?;
    let verbose = args.verbose;
    let sink = *printer;
    let progress: Arc<images::Progress> = Arc::new(move |event| match event {
        BuildEvent::Step(step) => sink.status(&format!("==> {step}")),
        // Without --verbose, only the build's step headers and mmdebstrap's stage lines.
        BuildEvent::Line(line) => {
            if verbose
                || line.starts_with("Step ")
                || line.starts_with("I: ")
                || line.starts_with("PyPI")
            {
                sink.status(&format!("    {line}"));
            }
        }
    });
    let mut summary = String::new();
    for python in pythons {
        let image = images::ensure_image_with(&docker, &python, &options, &*progress)
            .await
            .with_context(|| format!("building the Python {python} image"))?;
        let state = match image.build_time {
            Some(took) => format!("built in {:.0}s", took.as_secs_f64()),
            None => "already built".to_string(),
        };
        summary.push_str(&format!(
            "py{:<5} {:<32} {state}\n",
            image.python, image.tag
        ));
    }
    printer.result(&summary);
    Ok(ExitCode::SUCCESS)
}

async fn run_list(args: ListArgs, printer: &Printer) -> Result<ExitCode> {
    let options = options(args.ca_bundle, PipSourceArg::Auto, args.base);
    let docker = agent_containers::engine::connect().await?;
    let mut out = String::new();
    for env in PYTHON_ENVS {
        let recipe = options.recipe(env.python)?;
        let tag = recipe.tag();
        let state = match images::image_id(&docker, &tag).await? {
            Some(_) => "built".to_string(),
            None => match &options.base_image {
                Some(base) => format!(
                    "missing (agent images build --python {} --base {base})",
                    env.python
                ),
                None => "missing (agent images build)".to_string(),
            },
        };
        out.push_str(&format!(
            "py{:<5} {:<9} {:<32} {state}\n",
            env.python, env.suite, tag
        ));
    }
    printer.result(&out);
    Ok(ExitCode::SUCCESS)
}
