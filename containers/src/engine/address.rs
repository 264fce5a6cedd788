//! Engine addresses as the Docker CLI takes them: `unix:///path` (or a bare socket path),
//! `tcp://host:port` (plain, or TLS with `DOCKER_TLS_VERIFY` and the certificates in
//! `DOCKER_CERT_PATH`), and `ssh://[user@]host` (a port goes in `~/.ssh/config`).

use std::path::{Path, PathBuf};

use crate::error::{ContainerError, Result};

/// The three files of a TLS client, as the Docker CLI names them in `DOCKER_CERT_PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The directory they came from (for messages).
    pub dir: PathBuf,
    /// The CA that signed the engine's certificate.
    pub ca: PathBuf,
    /// Our client certificate and its key, which the engine checks (`--tlsverify`).
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// `ca.pem`, `cert.pem` and `key.pem` in `dir`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            dir,
        }
    }

    /// Each file must exist: the error names the missing one and the variable to set.
    pub fn check(&self) -> Result<()> {
        for (what, path) in [
            ("CA certificate", &self.ca),
            ("client certificate", &self.cert),
            ("client key", &self.key),
        ] {
            if !path.is_file() {
                return Err(ContainerError::EngineUnavailable(format!(
                    "TLS is on (DOCKER_TLS_VERIFY) but the {what} {} does not exist; put \
                     ca.pem, cert.pem and key.pem in one directory and set DOCKER_CERT_PATH to \
                     it (default ~/.docker)",
                    path.display()
                )));
            }
        }
        Ok(())
    }
}

/// How we reach an engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A unix socket on this host.
    Unix(PathBuf),
    /// Plain HTTP over TCP: `host:port`.
    Tcp(String),
    /// HTTPS with client certificates: `host:port`.
    Tls { authority: String, files: TlsFiles },
    /// `docker system dial-stdio` run on the remote host through the system's ssh client.
    Ssh(String),
}

/// An engine's address: the URL as given, and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineAddress {
    pub url: String,
    pub transport: Transport,
}

/// TLS settings from the environment, as the Docker CLI reads them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsEnv {
    /// `DOCKER_TLS_VERIFY` is set (to anything non-empty).
    pub verify: bool,
    /// `DOCKER_CERT_PATH`, else `~/.docker`.
    pub cert_path: Option<PathBuf>,
}

impl TlsEnv {
    pub fn from_env() -> Self {
        let host = crate::HostEnv::get();
        let cert_path = host
            .docker_cert_path
            .clone()
            .or_else(|| dirs::home_dir().map(|h| h.join(".docker")));
        Self {
            verify: host.docker_tls_verify,
            cert_path,
        }
    }

    /// TLS with the certificates of `dir`.
    pub fn with_certs(dir: impl Into<PathBuf>) -> Self {
        Self {
            verify: true,
            cert_path: Some(dir.into()),
        }
    }
}

impl EngineAddress {
    /// Parses `url`; `tcp://` uses TLS when `tls.verify` is set.
    pub fn parse(url: &str, tls: &TlsEnv) -> Result<Self> {
        let url = url.trim();
        let invalid = |why: &str| {
            ContainerError::EngineUnavailable(format!(
                "engine address `{url}` is not valid: {why}. Use unix:///path/to/docker.sock, \
                 tcp://host:port (TLS with DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH) or \
                 ssh://[user@]host"
            ))
        };
        let transport = if let Some(path) = url.strip_prefix("unix://") {
            Transport::Unix(PathBuf::from(path))
        } else if url.starts_with('/') {
            Transport::Unix(PathBuf::from(url))
        } else if let Some(rest) = url
            .strip_prefix("tcp://")
            .or_else(|| url.strip_prefix("http://"))
        {
            let authority = authority(rest).ok_or_else(|| invalid("no host:port"))?;
            match (&tls.cert_path, tls.verify) {
                (Some(dir), true) => Transport::Tls {
                    authority,
                    files: TlsFiles::in_dir(dir),
                },
                (None, true) => {
                    return Err(invalid(
                        "DOCKER_TLS_VERIFY is set but no certificate directory is known (set \
                         DOCKER_CERT_PATH)",
                    ));
                }
                _ => Transport::Tcp(authority),
            }
        } else if let Some(rest) = url.strip_prefix("https://") {
            let authority = authority(rest).ok_or_else(|| invalid("no host:port"))?;
            let dir = tls.cert_path.clone().ok_or_else(|| {
                invalid("https:// needs the client certificates (set DOCKER_CERT_PATH)")
            })?;
            Transport::Tls {
                authority,
                files: TlsFiles::in_dir(dir),
            }
        } else if let Some(rest) = url.strip_prefix("ssh://") {
            let destination = rest.trim_end_matches('/');
            if destination.is_empty() || destination.contains('/') {
                return Err(invalid("ssh:// takes [user@]host and no path"));
            }
            let host = destination.rsplit('@').next().unwrap_or(destination);
            if host.contains(':') {
                return Err(invalid(
                    "a port in an ssh:// address is not supported (the ssh transport would pass \
                     host:port to ssh as a host name); give the port in ~/.ssh/config \
                     (`Host NAME`, `HostName`, `Port`) and use ssh://[user@]NAME",
                ));
            }
            Transport::Ssh(destination.to_string())
        } else {
            return Err(invalid("unknown scheme"));
        };
        Ok(Self {
            url: url.to_string(),
            transport,
        })
    }

    /// `DOCKER_HOST` (with the TLS variables), or the default socket.
    pub fn from_env() -> Result<Self> {
        Self::parse(&super::engine_address(), &TlsEnv::from_env())
    }

    /// Whether the engine shares this host's filesystem for sure: only a unix socket does. A
    /// TCP or SSH engine, even on loopback, may be a sidecar or a tunnel to another machine,
    /// so bind mounts of host folders are not used with it.
    pub fn shares_host_filesystem(&self) -> bool {
        matches!(self.transport, Transport::Unix(_))
    }

    /// The socket path of a unix engine.
    pub fn socket(&self) -> Option<&Path> {
        match &self.transport {
            Transport::Unix(path) => Some(path),
            _ => None,
        }
    }
}

impl std::fmt::Display for EngineAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.transport {
            Transport::Tls { .. } => write!(f, "{} (TLS)", self.url),
            _ => f.write_str(&self.url),
        }
    }
}

/// `host:port` from what follows the scheme (a trailing `/` allowed; the port defaults as the
/// CLI's: 2375 plain).
fn authority(rest: &str) -> Option<String> {
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') {
        return None;
    }
    if rest
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        Some(rest.to_string())
    } else {
        Some(format!("{rest}:2375"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_as_the_cli_takes_them() {
        let plain = TlsEnv::default();
        let unix = EngineAddress::parse("unix:///var/run/docker.sock", &plain).unwrap();
        assert_eq!(
            unix.transport,
            Transport::Unix("/var/run/docker.sock".into())
        );
        assert!(unix.shares_host_filesystem());
        let bare = EngineAddress::parse("/tmp/d.sock", &plain).unwrap();
        assert_eq!(bare.socket(), Some(Path::new("/tmp/d.sock")));

        let tcp = EngineAddress::parse("tcp://10.0.0.5:2375", &plain).unwrap();
        assert_eq!(tcp.transport, Transport::Tcp("10.0.0.5:2375".into()));
        assert!(!tcp.shares_host_filesystem());
        let no_port = EngineAddress::parse("tcp://builder", &plain).unwrap();
        assert_eq!(no_port.transport, Transport::Tcp("builder:2375".into()));

        let tls = EngineAddress::parse("tcp://127.0.0.1:2376", &TlsEnv::with_certs("/c")).unwrap();
        let Transport::Tls { authority, files } = &tls.transport else {
            panic!("{tls:?}");
        };
        assert_eq!(authority, "127.0.0.1:2376");
        assert_eq!(files.ca, Path::new("/c/ca.pem"));
        assert_eq!(files.key, Path::new("/c/key.pem"));
        assert!(tls.to_string().contains("TLS"));

        let ssh = EngineAddress::parse("ssh://me@host", &plain).unwrap();
        assert_eq!(ssh.transport, Transport::Ssh("me@host".into()));
        assert!(!ssh.shares_host_filesystem());
        let err = EngineAddress::parse("ssh://me@host:2222", &plain).unwrap_err();
        assert!(err.to_string().contains("~/.ssh/config"), "{err}");
    }

    #[test]
    fn bad_addresses_name_the_address_and_the_forms() {
        for bad in [
            "npipe:////./pipe/docker",
            "tcp://",
            "ssh://host/path",
            "fd://",
        ] {
            let err = EngineAddress::parse(bad, &TlsEnv::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains(bad), "{err}");
            assert!(err.contains("tcp://host:port"), "{err}");
        }
        let err = EngineAddress::parse(
            "tcp://h:1",
            &TlsEnv {
                verify: true,
                cert_path: None,
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("DOCKER_CERT_PATH"), "{err}");
    }

    #[test]
    fn missing_certificate_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "x").unwrap();
        let err = TlsFiles::in_dir(dir.path())
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("cert.pem"), "{err}");
        assert!(err.contains("DOCKER_CERT_PATH"), "{err}");
    }
}
