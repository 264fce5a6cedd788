//! The process environment the container and harness layers use, read in one place, once per
//! process: the engine's address, the cache folder, the Debian mirror, the base image, the root
//! filesystem tool, `PATH` and the extra CA bundle. Everything else takes its values from here.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The variables, as they were when first asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostEnv {
    /// `DOCKER_HOST`, when set and not blank.
    pub docker_host: Option<String>,
    /// `AGENT_CACHE_DIR`, else the user's cache directory + `agent`, else a temp folder.
    pub cache_root: PathBuf,
    /// `AGENT_DEBIAN_MIRROR`, when set and not blank.
    pub debian_mirror: Option<String>,
    /// `AGENT_BASE_IMAGE`, when set and not blank.
    pub base_image: Option<String>,
    /// `AGENT_ROOTFS_TOOL` (`mmdebstrap` or `debootstrap`), when set.
    pub rootfs_tool: Option<String>,
    /// `PATH`.
    pub path: OsString,
    /// `SSL_CERT_FILE`, else `PIP_CERT`, when it names a file.
    pub ca_bundle: Option<PathBuf>,
    /// `DOCKER_TLS_VERIFY` is set to anything non-empty (as the Docker CLI reads it).
    pub docker_tls_verify: bool,
    /// `DOCKER_CERT_PATH`, when set and not blank.
    pub docker_cert_path: Option<PathBuf>,
    /// `AGENT_WORKSPACE_MODE`, when set and not blank.
    pub workspace_mode: Option<String>,
}

static HOST_ENV: OnceLock<HostEnv> = OnceLock::new();

impl HostEnv {
    /// The values of this process (read on the first call).
    pub fn get() -> &'static HostEnv {
        HOST_ENV.get_or_init(Self::read)
    }

    fn read() -> Self {
        let text = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Self {
            docker_host: text("DOCKER_HOST"),
            cache_root: std::env::var_os("AGENT_CACHE_DIR")
                .map(PathBuf::from)
                .or_else(|| dirs::cache_dir().map(|d| d.join("agent")))
                .unwrap_or_else(|| std::env::temp_dir().join("agent-cache")),
            debian_mirror: text("AGENT_DEBIAN_MIRROR"),
            base_image: text("AGENT_BASE_IMAGE"),
            rootfs_tool: std::env::var("AGENT_ROOTFS_TOOL").ok(),
            path: std::env::var_os("PATH").unwrap_or_default(),
            ca_bundle: ["SSL_CERT_FILE", "PIP_CERT"]
                .iter()
                .filter_map(std::env::var_os)
                .map(PathBuf::from)
                .find(|path| path.is_file()),
            docker_tls_verify: std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty()),
            docker_cert_path: text("DOCKER_CERT_PATH").map(PathBuf::from),
            workspace_mode: text("AGENT_WORKSPACE_MODE"),
        }
    }
}
