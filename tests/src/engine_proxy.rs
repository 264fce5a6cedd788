//! A Docker engine that can go away: a unix socket that forwards every connection to the real
//! engine's socket until [`EngineProxy::cut`], which closes the socket and every connection
//! through it, as when an engine dies. Point the agent at it with
//! `DOCKER_HOST=unix://<EngineProxy::path>`.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub struct EngineProxy {
    path: PathBuf,
    cut: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<UnixStream>>>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl EngineProxy {
    /// Listens at `path`, forwarding to `engine` (e.g. `/var/run/docker.sock`).
    pub fn start(path: &Path, engine: &Path) -> std::io::Result<Self> {
        let listener = UnixListener::bind(path)?;
        let cut = Arc::new(AtomicBool::new(false));
        let streams: Arc<Mutex<Vec<UnixStream>>> = Arc::default();
        let engine = engine.to_path_buf();
        let accept = {
            let (cut, streams) = (cut.clone(), streams.clone());
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if cut.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let Ok(upstream) = UnixStream::connect(&engine) else {
                        continue;
                    };
                    forward(client, upstream, &streams);
                }
            })
        };
        Ok(Self {
            path: path.to_path_buf(),
            cut,
            streams,
            accept: Some(accept),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The engine goes away: no new connection, and the open ones are closed.
    pub fn cut(&mut self) {
        if self.cut.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the accept loop so that it sees the flag, then remove the socket.
        let _ = UnixStream::connect(&self.path);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        let _ = std::fs::remove_file(&self.path);
        for stream in self
            .streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for EngineProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Copies both ways between `client` and `upstream` on two threads; both streams are kept so
/// that [`EngineProxy::cut`] can close them.
fn forward(client: UnixStream, upstream: UnixStream, streams: &Mutex<Vec<UnixStream>>) {
    let (Ok(client2), Ok(upstream2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    if let (Ok(c), Ok(u)) = (client.try_clone(), upstream.try_clone()) {
        let mut kept = streams.lock().unwrap_or_else(|p| p.into_inner());
        kept.push(c);
        kept.push(u);
    }
    std::thread::spawn(move || pipe(client, upstream));
    std::thread::spawn(move || pipe(upstream2, client2));
}

fn pipe(mut from: UnixStream, mut to: UnixStream) {
    let mut buf = [0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}
