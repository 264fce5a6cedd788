//! Connecting to the Docker engine: `DOCKER_HOST` or the default socket, API version negotiation,
//! and error messages that say which address failed and how to fix it.

use std::sync::OnceLock;
use std::time::Duration;

use bollard::{ClientVersion, Docker};

use crate::error::{ContainerError, Result};

/// The socket used when `DOCKER_HOST` is not set.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Seconds a request may take until the engine answers (not counting streamed bodies).
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// The API version agreed with the engine once per process. The client itself is not cached:
/// connecting to a unix socket is a path check, and a client per caller keeps connections on
/// the caller's runtime.
static NEGOTIATED: OnceLock<ClientVersion> = OnceLock::new();

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
    connect_to(&engine_address(), timeout).await
}

/// Connects to the engine at `address` (`unix:///path`, a socket path, or `tcp://host:port`).
pub async fn connect_to(address: &str, timeout: Duration) -> Result<Docker> {
    if let Some(version) = NEGOTIATED.get() {
        // One round trip, so that a dead engine fails here with a clear message rather than
        // later in the middle of an operation.
        let docker = open(address, timeout.as_secs(), version)?;
        docker
            .ping()
            .await
            .map_err(|e| ContainerError::EngineUnavailable(unreachable_message_for(address, &e)))?;
        return Ok(docker);
    }
    let docker = open(address, timeout.as_secs(), bollard::API_DEFAULT_VERSION)?;
    let docker = docker
        .negotiate_version()
        .await
        .map_err(|e| ContainerError::EngineUnavailable(unreachable_message_for(address, &e)))?;
    let _ = NEGOTIATED.set(docker.client_version());
    Ok(docker)
}

fn open(address: &str, timeout_secs: u64, version: &ClientVersion) -> Result<Docker> {
    let result = if let Some(path) = address.strip_prefix("unix://") {
        Docker::connect_with_socket(path, timeout_secs, version)
    } else if address.starts_with('/') {
        Docker::connect_with_socket(address, timeout_secs, version)
    } else if address.starts_with("tcp://") || address.starts_with("http://") {
        Docker::connect_with_http(address, timeout_secs, version)
    } else {
        return Err(ContainerError::EngineUnavailable(format!(
            "DOCKER_HOST={address} is not supported: use unix:///path/to/docker.sock or \
             tcp://host:port (TLS and ssh:// are not supported)"
        )));
    };
    result.map_err(|e| ContainerError::EngineUnavailable(unreachable_message_for(address, &e)))
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

/// A message that names the address we tried and how to point us elsewhere.
pub(crate) fn unreachable_message(err: &bollard::errors::Error) -> String {
    unreachable_message_for(&engine_address(), err)
}

fn unreachable_message_for(address: &str, err: &bollard::errors::Error) -> String {
    let how = if crate::HostEnv::get().docker_host.is_some() {
        format!("DOCKER_HOST is set to `{address}`; check that the engine listens there")
    } else {
        format!(
            "DOCKER_HOST is not set, so the default socket {DEFAULT_SOCKET} was used; start the \
             engine (e.g. `systemctl start docker` or `dockerd &`) or set DOCKER_HOST to its \
             address"
        )
    };
    match err {
        bollard::errors::Error::SocketNotFoundError(path) => {
            format!("cannot reach the Docker engine: socket {path} does not exist. {how}")
        }
        other => format!("cannot reach the Docker engine at {address}: {other}. {how}"),
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
