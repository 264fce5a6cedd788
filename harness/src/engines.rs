//! A batch across several Docker engines, without a scheduler of our own: each engine has its
//! own number of workers; a worker takes the next instance from one shared queue, so an
//! instance goes to whichever engine has a free worker. When an engine stops answering, the
//! instance its worker was running goes back to the front of the queue for the other engines,
//! and that engine's workers stop: nothing is lost, and nothing finished is done again (an
//! instance counts as done only once its result is recorded, and a result is recorded once).
//!
//! `--engine URL[=N]` names an engine (any address `agent_containers::EngineAddress` takes) and
//! its workers (default 1). Images reach an engine at first use: copied from an engine that has
//! them (`docker save | docker load` through the APIs), else built there.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use agent_containers::engine::{Engine, EngineAddress, TlsEnv};

use crate::context::{BenchContext, ContextOptions};
use crate::error::{HarnessError, IoContext, Result};

/// How long an engine gets to answer a ping before it is taken for dead.
const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an idle worker looks again while other workers' instances may still come back.
const IDLE_POLL: Duration = Duration::from_millis(200);

/// `URL[=N]`: an engine and its worker count. In the user's config file:
/// `[[bench.engines]]` with `url = "..."` and `workers = N` (default 1).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSpec {
    pub url: String,
    #[serde(default = "one_worker")]
    pub workers: usize,
}

fn one_worker() -> usize {
    1
}

impl EngineSpec {
    /// A usable spec: an address and at least one worker. The error says what to write.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.url.trim().is_empty() || self.workers == 0 {
            return Err(format!(
                "engine `{}` with {} workers is not URL[=N] with N >= 1 (e.g. \
                 unix:///var/run/docker.sock=4 or tcp://10.0.0.5:2376=8)",
                self.url, self.workers
            ));
        }
        Ok(())
    }
}

impl std::str::FromStr for EngineSpec {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        let (url, workers) = match s.rsplit_once('=') {
            Some((url, n)) => {
                let workers: usize = n.trim().parse().map_err(|_| {
                    format!("`--engine {s}`: the worker count after `=` must be a number >= 1")
                })?;
                (url.trim(), workers)
            }
            None => (s, 1),
        };
        let spec = Self {
            url: url.to_string(),
            workers,
        };
        spec.check().map_err(|e| format!("`--engine {s}`: {e}"))?;
        Ok(spec)
    }
}

/// One engine of a batch: its context (client, image caches) and whether it still answers.
pub struct PoolEngine {
    pub address: EngineAddress,
    pub workers: usize,
    pub ctx: BenchContext,
    alive: AtomicBool,
}

impl PoolEngine {
    pub fn url(&self) -> &str {
        &self.address.url
    }

    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// Whether the engine answers a ping (twice, a second apart, before giving up on it).
    pub async fn answers(&self) -> bool {
        for attempt in 0..2 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let ping = tokio::time::timeout(PING_TIMEOUT, self.ctx.docker.ping()).await;
            if matches!(ping, Ok(Ok(_))) {
                return true;
            }
        }
        false
    }

    fn mark_dead(&self) -> bool {
        self.alive.swap(false, Ordering::SeqCst)
    }
}

/// The engines of a batch.
pub struct EnginePool {
    pub engines: Vec<PoolEngine>,
}

impl EnginePool {
    /// Connects to every engine (an unreachable one is an error naming it), each with its own
    /// context, and lets each copy images from the others.
    pub async fn connect(specs: &[EngineSpec], options: &ContextOptions) -> Result<Self> {
        let tls = TlsEnv::from_env();
        let mut engines: Vec<PoolEngine> = Vec::new();
        for spec in specs {
            let address = EngineAddress::parse(&spec.url, &tls)?;
            if engines.iter().any(|e| e.address.url == address.url) {
                return Err(HarnessError::Invalid(format!(
                    "engine {} is named twice; give it once with its worker count (URL=N)",
                    address.url
                )));
            }
            let docker =
                agent_containers::engine::connect_address(&address, Duration::from_secs(3600))
                    .await?;
            let engine = Engine {
                address: address.clone(),
                docker,
            };
            engines.push(PoolEngine {
                ctx: BenchContext::with_engine(engine, options.clone()),
                address,
                workers: spec.workers,
                alive: AtomicBool::new(true),
            });
        }
        let dockers: Vec<_> = engines.iter().map(|e| e.ctx.docker.clone()).collect();
        for (index, engine) in engines.iter_mut().enumerate() {
            let peers = dockers
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != index)
                .map(|(_, d)| d.clone())
                .collect();
            engine.ctx.set_image_peers(peers);
        }
        if let Some((first, rest)) = engines.split_first_mut() {
            for engine in rest {
                engine.ctx.share_locks_with(&first.ctx);
            }
        }
        Ok(Self { engines })
    }

    /// One engine (the context's) with `workers` workers, around an existing context.
    pub fn single(ctx: BenchContext, workers: usize) -> Result<Self> {
        Ok(Self {
            engines: vec![PoolEngine {
                address: ctx.address.clone(),
                workers: workers.max(1),
                ctx,
                alive: AtomicBool::new(true),
            }],
        })
    }

    pub fn total_workers(&self) -> usize {
        self.engines.iter().map(|e| e.workers).sum()
    }
}

/// What a worker's attempt at an item came to.
pub enum Attempt<R> {
    /// A result to keep (success or a failure that is the item's own).
    Finished(R),
    /// It failed; if the engine no longer answers, the item is retried elsewhere.
    Failed(R),
    /// The work itself found its engine gone (it asked, see [`PoolEngine::answers`]): the item
    /// goes back to the queue for the other engines without asking again.
    EngineLost,
}

/// One item's final result and the engine that produced it.
pub struct Placed<T, R> {
    pub item: T,
    pub result: R,
    pub engine: String,
}

pub struct Distribution<T, R> {
    pub placed: Vec<Placed<T, R>>,
    /// Items no engine could run: every engine stopped answering.
    pub not_run: Vec<T>,
    /// Engines that stopped answering during the batch.
    pub lost_engines: Vec<String>,
    /// Times an item went back to the queue because its engine died under it.
    pub retried: usize,
}

impl<T, R> Distribution<T, R> {
    /// Which engine ran which items (each named by `name`, which leaves out an item whose
    /// result says it did not run), and what was lost on the way.
    pub fn usage(&self, name: impl Fn(&T, &R) -> Option<String>) -> EngineUse {
        let mut usage = EngineUse {
            lost_engines: self.lost_engines.clone(),
            retried: self.retried,
            ..EngineUse::default()
        };
        for placed in &self.placed {
            if let Some(name) = name(&placed.item, &placed.result) {
                usage
                    .by_engine
                    .entry(placed.engine.clone())
                    .or_default()
                    .push(name);
            }
        }
        usage
    }
}

/// Which engine ran which items, and what was lost on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineUse {
    /// Engine URL → the items it ran (in the order they finished).
    pub by_engine: BTreeMap<String, Vec<String>>,
    /// Engines that stopped answering during the batch.
    pub lost_engines: Vec<String>,
    /// Items sent back to the queue because their engine died under them.
    pub retried: usize,
    /// Where this was written.
    pub path: PathBuf,
}

impl EngineUse {
    /// Writes this as JSON (`engines`, `lost_engines`, `retried`) to `path`, and keeps `path`.
    pub fn write(&mut self, path: PathBuf) -> Result<()> {
        let value = serde_json::json!({
            "engines": self.by_engine,
            "lost_engines": self.lost_engines,
            "retried": self.retried,
        });
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).context(|| format!("cannot create {}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(&value)
            .map_err(|e| HarnessError::Invalid(format!("cannot encode engine use: {e}")))?;
        std::fs::write(&path, text + "\n")
            .context(|| format!("cannot write {}", path.display()))?;
        self.path = path;
        Ok(())
    }
}

/// Runs `work` on every item, on the pool's workers, as described in the module docs.
pub async fn distribute<'p, T, R, F, Fut>(
    pool: &'p EnginePool,
    items: Vec<T>,
    work: F,
) -> Distribution<T, R>
where
    T: Clone,
    F: Fn(&'p PoolEngine, T) -> Fut,
    Fut: std::future::Future<Output = Attempt<R>>,
{
    let queue = Mutex::new(items.into_iter().collect::<VecDeque<T>>());
    let in_flight = AtomicUsize::new(0);
    let placed = Mutex::new(Vec::new());
    let lost = Mutex::new(Vec::new());
    let retried = AtomicUsize::new(0);
    let mut workers = Vec::new();
    for engine in &pool.engines {
        for _ in 0..engine.workers {
            let (queue, in_flight, placed, lost, retried, work) =
                (&queue, &in_flight, &placed, &lost, &retried, &work);
            workers.push(async move {
                while engine.is_alive() {
                    let next = {
                        let mut q = lock_mutex(queue);
                        let item = q.pop_front();
                        if item.is_some() {
                            in_flight.fetch_add(1, Ordering::SeqCst);
                        }
                        item
                    };
                    let Some(item) = next else {
                        if in_flight.load(Ordering::SeqCst) == 0 {
                            break;
                        }
                        tokio::time::sleep(IDLE_POLL).await;
                        continue;
                    };
                    let result = match work(engine, item.clone()).await {
                        Attempt::Finished(r) => Some(r),
                        Attempt::Failed(r) => engine.answers().await.then_some(r),
                        Attempt::EngineLost => None,
                    };
                    let Some(result) = result else {
                        // The engine is gone: its workers stop, the item waits for another.
                        if engine.mark_dead() {
                            lock_mutex(lost).push(engine.url().to_string());
                        }
                        lock_mutex(queue).push_front(item);
                        retried.fetch_add(1, Ordering::SeqCst);
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        break;
                    };
                    lock_mutex(placed).push(Placed {
                        item,
                        result,
                        engine: engine.url().to_string(),
                    });
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                }
            });
        }
    }
    futures_util::future::join_all(workers).await;
    Distribution {
        placed: placed.into_inner().unwrap_or_else(|p| p.into_inner()),
        not_run: queue
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .into_iter()
            .collect(),
        lost_engines: lost.into_inner().unwrap_or_else(|p| p.into_inner()),
        retried: retried.into_inner(),
    }
}

fn lock_mutex<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_specs_parse() {
        let spec: EngineSpec = "tcp://10.0.0.5:2376=8".parse().unwrap();
        assert_eq!(spec.url, "tcp://10.0.0.5:2376");
        assert_eq!(spec.workers, 8);
        let spec: EngineSpec = "unix:///var/run/docker.sock".parse().unwrap();
        assert_eq!(spec.workers, 1);
        for bad in ["tcp://h:1=0", "tcp://h:1=x", "=3", ""] {
            let err = bad.parse::<EngineSpec>().unwrap_err();
            assert!(err.contains("URL[=N]") || err.contains("number"), "{err}");
        }
    }
}
