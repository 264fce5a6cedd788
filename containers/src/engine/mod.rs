//! Connecting to Docker engines: `DOCKER_HOST` (unix socket, `tcp://` plain or with TLS,
//! `ssh://`) or the default socket, API version negotiation, and error messages that say which
//! engine failed, what failed (refused, TLS, authentication) and how to fix it.

mod address;
mod diagnose;

pub use address::{EngineAddress, TlsEnv, TlsFiles, Transport};

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bollard::{ClientVersion, Docker};

use crate::error::{ContainerError, Result};

/// The socket used when `DOCKER_HOST` is not set.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Seconds a request may take until the engine answers (not counting streamed bodies).
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// The API version agreed with each engine (by URL) once per process. Clients are not cached:
/// connecting is cheap, and a client per caller keeps connections on the caller's runtime.
static NEGOTIATED: Mutex<Option<HashMap<String, ClientVersion>>> = Mutex::new(None);

/// An engine we are connected to: its address and a client.
#[derive(Clone)]
pub struct Engine {
    pub address: EngineAddress,
    pub docker: Docker,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("address", &self.address.url)
            .finish()
    }
}

impl Engine {
    /// Connects to `address` and checks that it answers.
    pub async fn connect(address: &EngineAddress, timeout: Duration) -> Result<Self> {
        let docker = connect_address(address, timeout).await?;
        Ok(Self {
            address: address.clone(),
            docker,
        })
    }

    /// The engine of `DOCKER_HOST` (or the default socket).
    pub async fn from_env(timeout: Duration) -> Result<Self> {
        Self::connect(&EngineAddress::from_env()?, timeout).await
    }
}

/// Where we connect: `DOCKER_HOST` when set, the default socket otherwise.
pub fn engine_address() -> String {
    match &crate::HostEnv::get().docker_host {
        Some(host) => host.clone(),
        None => format!("unix://{DEFAULT_SOCKET}"),
    }
}

/// Connects to the engine and checks that it answers, negotiating the API version on first use.
pub async fn connect() -> Result<Docker> {
    connect_with_timeout(Duration::from_secs(REQUEST_TIMEOUT_SECS)).await
}

/// Like [`connect`], with a longer per-request timeout for image imports and builds, whose
/// responses start only after the engine has read the whole upload.
pub async fn connect_with_timeout(timeout: Duration) -> Result<Docker> {
    connect_address(&EngineAddress::from_env()?, timeout).await
}

/// Connects to the engine at `url` (any form [`EngineAddress::parse`] takes; TLS settings from
/// the environment).
pub async fn connect_to(url: &str, timeout: Duration) -> Result<Docker> {
    connect_address(&EngineAddress::parse(url, &TlsEnv::from_env())?, timeout).await
}

/// Connects to `address` and checks that it answers (one round trip, so that a dead engine
/// fails here with a clear message rather than in the middle of an operation).
pub async fn connect_address(address: &EngineAddress, timeout: Duration) -> Result<Docker> {
    let known = crate::sandbox::lock(&NEGOTIATED)
        .as_ref()
        .and_then(|m| m.get(&address.url).cloned());
    if let Some(version) = known {
        let docker = open(address, timeout.as_secs(), &version)?;
        docker
            .ping()
            .await
            .map_err(|e| ContainerError::EngineUnavailable(diagnose::describe(address, &e)))?;
        return Ok(docker);
    }
    let docker = open(address, timeout.as_secs(), bollard::API_DEFAULT_VERSION)?;
    let docker = docker
        .negotiate_version()
        .await
        .map_err(|e| ContainerError::EngineUnavailable(diagnose::describe(address, &e)))?;
    crate::sandbox::lock(&NEGOTIATED)
        .get_or_insert_with(HashMap::new)
        .insert(address.url.clone(), docker.client_version());
    Ok(docker)
}

fn open(address: &EngineAddress, timeout_secs: u64, version: &ClientVersion) -> Result<Docker> {
    let result = match &address.transport {
        Transport::Unix(path) => match path.to_str() {
            Some(path) => Docker::connect_with_socket(path, timeout_secs, version),
            None => {
                return Err(ContainerError::EngineUnavailable(format!(
                    "socket path {} is not UTF-8",
                    path.display()
                )));
            }
        },
        Transport::Tcp(authority) => {
            Docker::connect_with_http(&format!("tcp://{authority}"), timeout_secs, version)
        }
        Transport::Tls { authority, files } => {
            files.check()?;
            Docker::connect_with_ssl(
                &format!("tcp://{authority}"),
                &files.key,
                &files.cert,
                &files.ca,
                timeout_secs,
                version,
            )
        }
        Transport::Ssh(destination) => {
            Docker::connect_with_ssh(&format!("ssh://{destination}"), timeout_secs, version, None)
        }
    };
    result.map_err(|e| ContainerError::EngineUnavailable(diagnose::describe(address, &e)))
}

/// Whether a bollard error means the engine is not there (as opposed to answering with an error).
pub(crate) fn is_connection_error(err: &bollard::errors::Error) -> bool {
    use bollard::errors::Error as E;
    matches!(
        err,
        E::SocketNotFoundError(_)
            | E::HyperLegacyError { .. }
            | E::HyperResponseError { .. }
            | E::IOError { .. }
            | E::RequestTimeoutError
            | E::APIVersionParseError {}
    )
}

/// A message that names the default engine's address, what failed and how to fix it.
pub(crate) fn unreachable_message(err: &bollard::errors::Error) -> String {
    match EngineAddress::from_env() {
        Ok(address) => diagnose::describe(&address, err),
        Err(e) => e.to_string(),
    }
}

/// Checks that the engine answers; the error names the address and the fix.
pub async fn ping() -> Result<()> {
    let docker = connect().await?;
    docker
        .ping()
        .await
        .map(|_| ())
        .map_err(|e| ContainerError::EngineUnavailable(unreachable_message(&e)))
}
