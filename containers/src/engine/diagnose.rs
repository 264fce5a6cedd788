//! What went wrong reaching an engine, in words: which engine, what failed (no socket, refused,
//! TLS, authentication, ssh) and how to fix it.

use std::error::Error as _;

use super::DEFAULT_SOCKET;
use super::address::{EngineAddress, Transport};

/// The failure classes a user acts on differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    NoSocket,
    Refused,
    /// The engine's certificate is not trusted by our CA, or its name does not match.
    ServerCertificate,
    /// The engine refused our client certificate (or none was sent).
    ClientRejected,
    /// We spoke TLS to a plain engine.
    NotTls,
    /// We spoke plain HTTP to a TLS engine.
    NeedsTls,
    /// A certificate or key file could not be read or parsed.
    CertificateFile,
    /// The engine answered 401/403.
    Unauthorized,
    /// ssh could not log in or run `docker system dial-stdio` there.
    Ssh,
    Timeout,
    Other,
}

/// Sorts a bollard error into a [`Failure`] by its variant and the messages of its causes.
pub fn classify(err: &bollard::errors::Error) -> Failure {
    use bollard::errors::Error as E;
    match err {
        E::SocketNotFoundError(_) => return Failure::NoSocket,
        E::CertPathError { .. } | E::CertParseError { .. } | E::CertMultipleKeys { .. } => {
            return Failure::CertificateFile;
        }
        E::RequestTimeoutError => return Failure::Timeout,
        E::DockerResponseServerError {
            status_code,
            message,
        } => {
            if message.contains("HTTP request to an HTTPS server") {
                return Failure::NeedsTls;
            }
            if matches!(status_code, 401 | 403) {
                return Failure::Unauthorized;
            }
            return Failure::Other;
        }
        _ => {}
    }
    let chain = causes(err).to_lowercase();
    if chain.contains("openssh") || chain.contains("ssh") && chain.contains("connect") {
        Failure::Ssh
    } else if chain.contains("connection refused") {
        Failure::Refused
    } else if chain.contains("unknownissuer")
        || chain.contains("notvalidforname")
        || chain.contains("invalid peer certificate")
    {
        Failure::ServerCertificate
    } else if chain.contains("badcertificate")
        || chain.contains("certificaterequired")
        || chain.contains("unknownca")
        || chain.contains("decrypterror")
        || chain.contains("handshakefailure")
    {
        Failure::ClientRejected
    } else if chain.contains("invalidcontenttype")
        || chain.contains("corrupt message")
        || chain.contains("invalid message")
    {
        Failure::NotTls
    } else if chain.contains("no such file") && chain.contains("sock") {
        Failure::NoSocket
    } else {
        Failure::Other
    }
}

/// The error and every cause below it, joined.
fn causes(err: &bollard::errors::Error) -> String {
    let mut text = format!("{err:?} {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(" | ");
        text.push_str(&format!("{cause} {cause:?}"));
        source = cause.source();
    }
    text
}

/// One message: the engine, what failed, the underlying error, and how to fix it.
pub fn describe(address: &EngineAddress, err: &bollard::errors::Error) -> String {
    let mut failure = classify(err);
    if matches!(address.transport, Transport::Ssh(_))
        && matches!(failure, Failure::Other | Failure::Refused)
    {
        // Whatever broke, it broke in ssh: the connection is ssh's own.
        failure = Failure::Ssh;
    }
    let what = match (failure, &address.transport) {
        (Failure::NoSocket, Transport::Unix(path)) => {
            format!("socket {} does not exist", path.display())
        }
        (Failure::Refused, _) => "connection refused (nothing listens there)".to_string(),
        (Failure::ServerCertificate, Transport::Tls { files, .. }) => format!(
            "TLS failed: the engine's certificate is not trusted (not signed by {}, or not \
             issued for this host name)",
            files.ca.display()
        ),
        (Failure::ClientRejected, Transport::Tls { files, .. }) => format!(
            "TLS failed: the engine rejected our client certificate {} (authentication)",
            files.cert.display()
        ),
        (Failure::NotTls, _) => {
            "TLS failed: the engine does not speak TLS there (unset DOCKER_TLS_VERIFY for a \
             plain tcp:// engine)"
                .to_string()
        }
        (Failure::NeedsTls, _) => {
            "the engine speaks TLS there: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to the \
             directory with ca.pem, cert.pem and key.pem"
                .to_string()
        }
        (Failure::CertificateFile, _) => {
            "a TLS certificate or key file could not be read or parsed".to_string()
        }
        (Failure::Unauthorized, _) => "the engine refused the request (authentication)".into(),
        (Failure::Ssh, Transport::Ssh(dest)) => format!(
            "ssh to {dest} failed (check `ssh {dest} docker version` works without a prompt: \
             key in the agent or ~/.ssh, host key known, docker CLI installed there)"
        ),
        (Failure::Timeout, _) => "the engine did not answer in time".to_string(),
        _ => "the engine could not be reached".to_string(),
    };
    format!(
        "cannot reach the Docker engine at {address}: {what} ({err}). {}",
        how_to_point(address)
    )
}

fn how_to_point(address: &EngineAddress) -> String {
    match &crate::HostEnv::get().docker_host {
        Some(host) if host == &address.url => {
            format!("DOCKER_HOST is set to `{host}`; check that the engine listens there")
        }
        Some(_) => {
            "Check that the engine listens there (set with --engine or in the config)".into()
        }
        None if address.url == format!("unix://{DEFAULT_SOCKET}") => format!(
            "DOCKER_HOST is not set, so the default socket {DEFAULT_SOCKET} was used; start the \
             engine (e.g. `systemctl start docker` or `dockerd &`) or set DOCKER_HOST to its \
             address"
        ),
        None => "Check that the engine listens there, or set DOCKER_HOST".into(),
    }
}
