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

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use agent_containers::engine::{EngineAddress, TlsEnv};

use crate::context::{BenchContext, ContextOptions};
use crate::error::{HarnessError, Result};

/// How long an engine gets to answer a ping before it is taken for dead.
const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an idle worker looks again while other workers' instances may still come back.
const IDLE_POLL: Duration = Duration::from_millis(200);

/// `URL[=N]`: an engine and its worker count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSpec {
    pub url: String,
    pub workers: usize,
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
        if url.is_empty() || workers == 0 {
            return Err(format!(
                "`--engine {s}` is not URL[=N] with N >= 1 (e.g. unix:///var/run/docker.sock=4 \
                 or tcp://10.0.0.5:2376=8)"
            ));
        }
        Ok(Self {
            url: url.to_string(),
            workers,
        })
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
            engines.push(PoolEngine {
                ctx: BenchContext::with_docker(docker, options.clone()),
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
        Ok(Self { engines })
    }

    /// One engine (the `DOCKER_HOST` one) with `workers` workers, around an existing context.
    pub fn single(ctx: BenchContext, workers: usize) -> Result<Self> {
        Ok(Self {
            engines: vec![PoolEngine {
                address: EngineAddress::from_env()?,
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
                        Attempt::Finished(r) => r,
                        Attempt::Failed(r) => {
                            if engine.answers().await {
                                r
                            } else {
                                if engine.mark_dead() {
                                    lock_mutex(lost).push(engine.url().to_string());
                                }
                                lock_mutex(queue).push_front(item);
                                retried.fetch_add(1, Ordering::SeqCst);
                                in_flight.fetch_sub(1, Ordering::SeqCst);
                                break;
                            }
                        }
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
