//! Leaving no containers behind: labels, the registry of this process's live containers, the
//! Ctrl-C and panic helpers the binary installs, and `prune` for what a killed process left.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::ListContainersOptionsBuilder;

use crate::engine::EngineAddress;
use crate::error::{ContainerError, Result};
use crate::sandbox::{force_remove, lock};

/// Every container we create carries `agent.managed=true`.
pub const LABEL_MANAGED: &str = "agent.managed";
/// The pid of the process that created it.
pub const LABEL_PID: &str = "agent.pid";
/// The host that process ran on (pids mean nothing elsewhere).
pub const LABEL_HOST: &str = "agent.host";
/// An optional run id (a bench run, an instance).
pub const LABEL_RUN: &str = "agent.run";

/// Live containers by id, with the engine each lives on.
static LIVE: Mutex<BTreeMap<String, EngineAddress>> = Mutex::new(BTreeMap::new());
static NAME_COUNTER: AtomicU64 = AtomicU64::new(0);

pub(crate) fn register(id: &str, engine: &EngineAddress) {
    lock(&LIVE).insert(id.to_string(), engine.clone());
}

pub(crate) fn unregister(id: &str) {
    lock(&LIVE).remove(id);
}

/// Ids of the containers this process created and has not removed.
pub fn live_containers() -> Vec<String> {
    lock(&LIVE).keys().cloned().collect()
}

pub(crate) fn new_container_name() -> String {
    format!(
        "agent-{}-{}",
        std::process::id(),
        NAME_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub(crate) fn labels(run_id: Option<&str>) -> HashMap<String, String> {
    let mut labels = HashMap::from([
        (LABEL_MANAGED.to_string(), "true".to_string()),
        (LABEL_PID.to_string(), std::process::id().to_string()),
        (LABEL_HOST.to_string(), hostname()),
    ]);
    if let Some(run) = run_id {
        labels.insert(LABEL_RUN.to_string(), run.to_string());
    }
    labels
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Force-removes every container this process still has, on whichever engine each lives.
/// Returns how many were removed.
pub async fn remove_live_containers() -> usize {
    let live: Vec<(String, EngineAddress)> = lock(&LIVE)
        .iter()
        .map(|(id, engine)| (id.clone(), engine.clone()))
        .collect();
    let mut engines: BTreeMap<String, Option<Docker>> = BTreeMap::new();
    let mut removed = 0;
    for (id, address) in live {
        if !engines.contains_key(&address.url) {
            let docker = crate::engine::connect_address(&address, Duration::from_secs(10))
                .await
                .ok();
            engines.insert(address.url.clone(), docker);
        }
        let Some(Some(docker)) = engines.get(&address.url) else {
            continue;
        };
        if force_remove(docker, &id).await.is_ok() {
            unregister(&id);
            removed += 1;
        }
    }
    removed
}

/// For the binary: on Ctrl-C or SIGTERM, remove this process's containers, then exit with
/// 130 (SIGINT) or 143 (SIGTERM). Call once, inside the runtime.
pub fn spawn_signal_cleanup() {
    tokio::spawn(async {
        let code = wait_for_termination().await;
        let removed = tokio::time::timeout(Duration::from_secs(10), remove_live_containers()).await;
        tracing::info!(?removed, "interrupted; removed the sandbox containers");
        std::process::exit(code);
    });
}

async fn wait_for_termination() -> i32 {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => 130,
            _ = term.recv() => 143,
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            130
        }
    }
}

/// For the binary: a panic hook that removes this process's containers before the previous
/// hook runs. Not for test processes, where one test's panic would remove its neighbours'.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        remove_live_containers_now();
        previous(info);
    }));
}

/// [`remove_live_containers`] from anywhere, a runtime's thread included (on its own thread
/// and runtime, within 10 seconds): for a panic, or a forced exit after an interrupt, where
/// containers on every engine must go before the process does.
pub fn remove_live_containers_now() {
    if live_containers().is_empty() {
        return;
    }
    let _ = std::thread::spawn(|| {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(async {
                let _ =
                    tokio::time::timeout(Duration::from_secs(10), remove_live_containers()).await;
            });
        }
    })
    .join();
}

/// Which managed containers `prune` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PruneScope {
    /// Those whose creating process is gone (or ran on another host): safe while agents run.
    #[default]
    Orphaned,
    /// Every container with the `agent.managed` label.
    All,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Names of the removed containers.
    pub removed: Vec<String>,
    /// Names of containers kept because their process still runs.
    pub kept: Vec<String>,
}

/// Managed containers in any state carrying `label` (`key=value`).
async fn labelled(
    docker: &Docker,
    label: String,
) -> Result<Vec<bollard::models::ContainerSummary>> {
    let filters = HashMap::from([("label".to_string(), vec![label])]);
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    docker
        .list_containers(Some(options))
        .await
        .map_err(|e| ContainerError::engine("listing managed containers", e))
}

/// The IDs of the containers, in any state, that sandboxes of run `run_id` created.
pub async fn run_containers(docker: &Docker, run_id: &str) -> Result<Vec<String>> {
    Ok(labelled(docker, format!("{LABEL_RUN}={run_id}"))
        .await?
        .into_iter()
        .filter_map(|c| c.id)
        .collect())
}

/// Removes managed containers left behind, found by label.
pub async fn prune(docker: &Docker, scope: PruneScope) -> Result<PruneReport> {
    let containers = labelled(docker, format!("{LABEL_MANAGED}=true")).await?;
    let this_host = hostname();
    let mut report = PruneReport::default();
    for container in containers {
        let Some(id) = container.id else { continue };
        let name = container
            .names
            .and_then(|n| n.into_iter().next())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_else(|| id.chars().take(12).collect());
        let labels = container.labels.unwrap_or_default();
        let owner_alive = labels.get(LABEL_HOST) == Some(&this_host)
            && labels
                .get(LABEL_PID)
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(process_alive);
        if scope == PruneScope::Orphaned && owner_alive {
            report.kept.push(name);
            continue;
        }
        force_remove(docker, &id).await?;
        report.removed.push(name);
    }
    Ok(report)
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}
