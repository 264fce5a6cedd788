//! `agent trust`: trust a repository's own `.agent.toml`, as it is now.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::config::{ConfigSources, process_env};
use crate::printer::Printer;
use crate::trust::{self, REPO_CONFIG_FILE, RepoConfigFile};
use crate::workspace::Workspace;

#[derive(Debug, Args)]
pub struct TrustArgs {
    /// The repository whose `.agent.toml` you reviewed and trust.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
}

pub async fn run(args: TrustArgs, printer: &Printer) -> Result<ExitCode> {
    let workspace = Workspace::open(&args.repo)?;
    let root = workspace.root();
    let Some(file) = RepoConfigFile::read(root)? else {
        bail!(
            "{} has no {REPO_CONFIG_FILE}; there is nothing to trust",
            root.display()
        );
    };
    let user_config = ConfigSources::user_config_path(&process_env)
        .context("cannot tell where your config file is: set AGENT_CONFIG to its path")?;
    let sensitive = file.sensitive_keys();
    for (key, why, value) in &sensitive {
        printer.status(&format!("  {key} = {value}: {why}"));
    }
    trust::record(&user_config, root, &file)?;
    printer.status(&format!(
        "trusted {} (sha256 {}), recorded in {}; any change to the file needs `agent trust` again",
        file.path.display(),
        &file.sha256[..16],
        user_config.display()
    ));
    Ok(ExitCode::SUCCESS)
}
