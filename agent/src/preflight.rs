//! The host requirements of a command, checked before any work starts: every missing one is
//! named once, with the command that installs it; `--yes` runs those commands instead.
//!
//! What is checked: `git` (datasets and repositories are prepared with it), the Docker engine,
//! and for each Python image that is not built yet and has no cached root filesystem, a
//! program that makes a Debian root filesystem (mmdebstrap or debootstrap); none with a base
//! image to pull (`--base`, `AGENT_BASE_IMAGE`).

use std::path::PathBuf;
use std::process::Stdio;

use agent_containers::images::{self, BuildOptions, rootfs};
use thiserror::Error;

/// One requirement that is not met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// What is missing, e.g. `mmdebstrap (or debootstrap)`.
    pub what: String,
    /// Why the command needs it.
    pub why: String,
    /// Debian packages that provide it (installed by `--yes`); empty when it cannot be
    /// installed by a package (e.g. an engine that is installed but not running).
    pub packages: Vec<String>,
    /// The command to run, or what to do.
    pub fix: String,
}

/// What a command needs from the host.
#[derive(Debug, Clone, Default)]
pub struct Needs {
    pub git: bool,
    pub docker: bool,
    /// Python versions whose sandbox image the command builds when it is missing.
    pub pythons: Vec<String>,
    /// The pulled image the sandbox images are built on (`--base`); `None`: `$AGENT_BASE_IMAGE`,
    /// else a root filesystem made on the host.
    pub base_image: Option<String>,
}

#[derive(Debug, Error)]
pub enum PreflightError {
    #[error("{}", describe(.0))]
    Missing(Vec<Missing>),
    #[error("installing {packages} failed: {detail}")]
    Install { packages: String, detail: String },
}

/// Checks everything `needs` asks for and returns what is missing (each requirement once).
pub async fn check(needs: &Needs) -> Vec<Missing> {
    let mut missing = Vec::new();
    if needs.git && rootfs::find_program("git").is_none() {
        missing.push(package(
            "git",
            "prepares the repositories and datasets",
            &["git"],
        ));
    }
    if !needs.docker {
        return missing;
    }
    // Without an engine, every image counts as missing, so that what building them needs is
    // named now rather than after the engine is fixed.
    let docker = match agent_containers::engine::connect().await {
        Ok(docker) => Some(docker),
        Err(e) => {
            missing.push(engine_missing(&e.to_string()));
            None
        }
    };
    let mut options = BuildOptions::from_env();
    if needs.base_image.is_some() {
        options.base_image = needs.base_image.clone();
    }
    let mut needs_rootfs = Vec::new();
    for python in &needs.pythons {
        // Versions without a recipe are reported by the command itself, per instance.
        let Ok(recipe) = options.recipe(python) else {
            continue;
        };
        // A base built on a pulled image needs no root filesystem from the host.
        if recipe.base.from_image.is_some() {
            continue;
        }
        let present = |tag: String| {
            let docker = docker.clone();
            async move {
                match docker {
                    Some(docker) => matches!(images::image_id(&docker, &tag).await, Ok(Some(_))),
                    None => false,
                }
            }
        };
        if present(recipe.tag()).await
            || present(recipe.base.tag()).await
            || options.cache_dir.join(recipe.base.tarball_name()).is_file()
        {
            continue;
        }
        needs_rootfs.push(python.clone());
    }
    if !needs_rootfs.is_empty() && rootfs::RootfsTool::detect().is_err() {
        let (tool, what) = match std::env::var("AGENT_ROOTFS_TOOL").as_deref() {
            Ok("debootstrap") => ("debootstrap", "debootstrap (AGENT_ROOTFS_TOOL)"),
            Ok("mmdebstrap") => ("mmdebstrap", "mmdebstrap (AGENT_ROOTFS_TOOL)"),
            _ => ("mmdebstrap", "mmdebstrap (or debootstrap)"),
        };
        missing.push(package(
            what,
            &format!(
                "makes the Debian root filesystem of the Python {} sandbox image{} (built once, \
                 then cached)",
                needs_rootfs.join(", "),
                if needs_rootfs.len() > 1 { "s" } else { "" }
            ),
            &[tool],
        ));
    }
    missing
}

fn package(what: &str, why: &str, packages: &[&str]) -> Missing {
    Missing {
        what: what.to_string(),
        why: why.to_string(),
        packages: packages.iter().map(|p| p.to_string()).collect(),
        fix: install_command(packages),
    }
}

fn engine_missing(error: &str) -> Missing {
    let installed = rootfs::find_program("dockerd").is_some()
        || std::path::Path::new("/var/run/docker.sock").exists();
    if installed || std::env::var_os("DOCKER_HOST").is_some() {
        Missing {
            what: "a reachable Docker engine".into(),
            why: "runs the sandboxes and evaluation containers".into(),
            packages: Vec::new(),
            fix: error.to_string(),
        }
    } else {
        Missing {
            what: "the Docker engine".into(),
            why: "runs the sandboxes and evaluation containers".into(),
            packages: vec!["docker.io".into()],
            fix: format!(
                "{} && systemctl start docker (or set DOCKER_HOST to an engine's address)",
                install_command(&["docker.io"])
            ),
        }
    }
}

fn is_root() -> bool {
    // The effective user id, read without libc: /proc/self/status holds `Uid: real effective ...`.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn install_command(packages: &[&str]) -> String {
    let sudo = if is_root() { "" } else { "sudo " };
    format!("{sudo}apt-get install -y {}", packages.join(" "))
}

fn describe(missing: &[Missing]) -> String {
    let mut text = format!(
        "{} host requirement{} missing (nothing was started):",
        missing.len(),
        if missing.len() == 1 { " is" } else { "s are" }
    );
    for m in missing {
        text.push_str(&format!("\n  - {}: {}\n      {}", m.what, m.why, m.fix));
    }
    if missing.iter().any(|m| !m.packages.is_empty()) {
        text.push_str("\nRun the commands above, or run again with --yes to install the packages.");
    }
    text
}

/// Checks `needs`; with `install`, installs the missing packages with apt-get and checks again.
/// `status` receives what is being installed.
pub async fn ensure(
    needs: &Needs,
    install: bool,
    status: &dyn Fn(&str),
) -> Result<(), PreflightError> {
    let missing = check(needs).await;
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<String> = missing.iter().flat_map(|m| m.packages.clone()).collect();
    if !install || packages.is_empty() {
        return Err(PreflightError::Missing(missing));
    }
    status(&format!("installing {}", packages.join(" ")));
    apt_install(&packages).await?;
    let still = check(needs).await;
    if still.is_empty() {
        Ok(())
    } else {
        Err(PreflightError::Missing(still))
    }
}

async fn apt_install(packages: &[String]) -> Result<(), PreflightError> {
    let failed = |detail: String| PreflightError::Install {
        packages: packages.join(" "),
        detail,
    };
    let apt = rootfs::find_program("apt-get").ok_or_else(|| {
        failed(
            "apt-get is not available; install the packages with your system's package manager"
                .into(),
        )
    })?;
    let (program, prefix): (PathBuf, Vec<PathBuf>) = if is_root() {
        (apt, Vec::new())
    } else {
        let sudo = rootfs::find_program("sudo")
            .ok_or_else(|| failed("not root and sudo is not installed".into()))?;
        (sudo, vec![apt])
    };
    for args in [vec!["update", "-qq"], {
        let mut a = vec!["install", "-y", "-qq"];
        a.extend(packages.iter().map(String::as_str));
        a
    }] {
        let output = tokio::process::Command::new(&program)
            .args(&prefix)
            .args(&args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| failed(format!("cannot run {}: {e}", program.display())))?;
        if !output.status.success() {
            return Err(failed(format!(
                "apt-get {} exited with {}: {}",
                args[0],
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_each_requirement_once_with_its_fix() {
        let missing = vec![
            package("git", "prepares repositories", &["git"]),
            package("mmdebstrap", "makes the root filesystem", &["mmdebstrap"]),
        ];
        let text = PreflightError::Missing(missing).to_string();
        assert!(
            text.starts_with("2 host requirements are missing"),
            "{text}"
        );
        assert_eq!(text.matches("apt-get install -y git").count(), 1, "{text}");
        assert_eq!(
            text.matches("apt-get install -y mmdebstrap").count(),
            1,
            "{text}"
        );
        assert!(text.contains("--yes"), "{text}");
    }
}
