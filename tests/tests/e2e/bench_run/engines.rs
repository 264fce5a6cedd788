//! `bench run` across engines: this machine's, a private one on a unix socket and a private one
//! on loopback TCP with TLS (started here, with no images and no network: environments are made
//! on the first engine, instance images copied or set up at first use). One engine is killed
//! (SIGKILL) while the agent runs an instance on it: that instance goes back to the queue, and
//! the predictions hold every instance exactly once. And the engines a user's config names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use agent_tests::engines::{
    PrivateEngine, can_start_engines, labelled_containers, local_engine_url,
};
use agent_tests::{Reply, ScriptedServer, Scripts};
use serde_json::{Value, json};

use super::{agent, mini_dataset, predictions, run_args};

fn id_of(instance: &Value) -> String {
    instance["instance_id"].as_str().unwrap().to_string()
}

/// Per instance, keyed by its id (its workspace path is in the task): a command that takes a
/// few seconds (the window in which an engine is killed), the gold patch, submit; twice, so
/// that an instance redone after its engine died finds the patch and submit again wherever
/// its first attempt stopped.
fn keyed_gold_scripts(instances: &[Value]) -> Scripts {
    let keyed = instances
        .iter()
        .map(|i| {
            let once = [
                Reply::tool("run", json!({"command": "sleep 4"})),
                Reply::tool("apply_patch", json!({"patch": i["patch"]})),
                Reply::tool("submit", json!({"summary": "applied the fix"})),
            ];
            (id_of(i), [once.clone(), once].concat())
        })
        .collect();
    Scripts {
        keyed,
        ..Scripts::default()
    }
}

/// Every container (any state) the agent process `pid` made, on `docker`.
async fn containers_of_pid(docker: &bollard::Docker, pid: u32) -> Option<Vec<String>> {
    labelled_containers(docker, "agent.pid", |p| p == pid.to_string()).await
}

/// The instance ids in a predictions file, in order.
fn predicted_ids(path: &Path) -> Vec<String> {
    predictions(path).iter().map(id_of).collect()
}

#[test]
fn a_bench_run_across_three_engines_loses_and_repeats_nothing_when_one_dies() {
    if !can_start_engines() {
        eprintln!("skipped: starting private dockerds needs root");
        return;
    }
    let instances = mini_dataset();
    let ids: BTreeSet<String> = instances.iter().map(id_of).collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut doomed = PrivateEngine::start("rb", "203.0.113.129/27", false).unwrap();
    let tls = PrivateEngine::start("rc", "203.0.113.161/27", true).unwrap();
    rt.block_on(doomed.wait_ready()).unwrap();
    rt.block_on(tls.wait_ready()).unwrap();
    let server = ScriptedServer::start_scripts(keyed_gold_scripts(&instances)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<String> = ids.iter().cloned().collect();
    let mut args = run_args(&server.base_url(), &all);
    args.push("--no-review".into());
    for engine in [local_engine_url(), doomed.url(), tls.url()] {
        args.extend(["--engine".to_string(), format!("{engine}=1")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let child = agent(dir.path(), &args)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", tls.cert_path().unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut child = child;
    // Kill the unix-socket engine once the agent's sandbox for an instance runs there (its
    // `agent.run` label is the instance id; copy and setup containers have prefixes).
    let mut killed = false;
    while started.elapsed() < Duration::from_secs(900) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        let running = rt.block_on(doomed.labelled_containers("agent.run", |r| ids.contains(r)));
        if running.is_some_and(|c| !c.is_empty()) {
            doomed.kill();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(killed, "the engine never ran an instance:\n{stderr}");
    assert!(out.status.success(), "{stderr}\n{}", doomed.log());

    // Each instance exactly once, each with the gold patch's change.
    let preds = predictions(&dir.path().join("out/predictions.jsonl"));
    let mut got: Vec<String> = preds.iter().map(id_of).collect();
    got.sort();
    let lost = ids.iter().filter(|id| !got.contains(id)).count();
    let doubled = got.len() - got.iter().collect::<BTreeSet<_>>().len();
    eprintln!(
        "after killing {} mid-batch: {lost} lost, {doubled} doubled, in {:.1} s",
        doomed.url(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!((lost, doubled), (0, 0), "{stderr}");
    for p in &preds {
        assert!(!p["model_patch"].as_str().unwrap().is_empty(), "{p}");
    }

    // The summary and engines.json say which engine ran what; the killed one is named.
    let usage: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/engines.json")).unwrap(),
    )
    .unwrap();
    let by_engine: BTreeMap<String, Vec<String>> =
        serde_json::from_value(usage["engines"].clone()).unwrap();
    let mut ran: Vec<String> = by_engine.values().flatten().cloned().collect();
    ran.sort();
    assert_eq!(ran, got, "each run on one engine: {usage}");
    assert_eq!(usage["lost_engines"], json!([doomed.url()]), "{usage}");
    assert!(usage["retried"].as_u64().unwrap() >= 1, "{usage}");
    assert!(
        by_engine.get(&tls.url()).is_some_and(|v| !v.is_empty()),
        "the TLS engine ran instances: {usage}"
    );
    assert!(
        stderr.contains(&format!("{} stopped answering", doomed.url())),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("{} ran ", tls.url())), "{stderr}");
    eprintln!("engine use: {usage}");

    // No container of this run anywhere, the killed engine included once it is back.
    let local = rt.block_on(agent_containers::engine::connect()).unwrap();
    assert_eq!(rt.block_on(containers_of_pid(&local, pid)), Some(vec![]));
    let tls_left = rt.block_on(tls.labelled_containers("agent.pid", |p| p == pid.to_string()));
    assert_eq!(tls_left, Some(vec![]));
    let left = rt
        .block_on(doomed.restart_and_list("agent.pid", |p| p == pid.to_string()))
        .unwrap();
    assert_eq!(left, Some(vec![]), "{}", doomed.log());

    // A rerun finds everything done.
    let again = agent(dir.path(), &args)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", tls.cert_path().unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(stderr.contains("already have predictions"), "{stderr}");
    assert_eq!(
        predicted_ids(&dir.path().join("out/predictions.jsonl")).len(),
        ids.len()
    );
}

/// The user's `[[bench.engines]]` is the batch's pool unless `--engine` is given; a
/// repository's `.agent.toml` that names engines is refused with its path and the fix.
#[test]
fn engines_come_from_the_users_config_and_never_from_the_repository() {
    // Instances apart from the other bench_run tests', so all can run at once.
    let instances: Vec<Value> = mini_dataset().into_iter().skip(5).take(2).collect();
    let ids: Vec<String> = instances.iter().map(id_of).collect();
    let server = ScriptedServer::start_scripts(keyed_gold_scripts(&instances)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let local = local_engine_url();
    // `agent()` points AGENT_CONFIG here.
    std::fs::write(
        dir.path().join("no-user-config.toml"),
        format!("[[bench.engines]]\nurl = \"{local}\"\nworkers = 2\n"),
    )
    .unwrap();
    let mut args = run_args(&server.base_url(), &ids);
    args.push("--no-review".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = agent(dir.path(), &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("{local} ran 2 instances")),
        "{stderr}"
    );
    let usage: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/engines.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        usage["engines"][&local].as_array().unwrap().len(),
        2,
        "{usage}"
    );

    // `--engine` replaces the config's list: its engine (nothing listens there) is not used.
    std::fs::write(
        dir.path().join("no-user-config.toml"),
        "[[bench.engines]]\nurl = \"tcp://127.0.0.1:9\"\n",
    )
    .unwrap();
    let mut flagged: Vec<&str> = args.clone();
    let engine = format!("{local}=1");
    flagged.extend(["--engine", &engine]);
    let out = agent(dir.path(), &flagged).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("already have predictions"), "{stderr}");
    // Without the flag, the config's engine is the one tried, and named.
    let out = agent(dir.path(), &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("127.0.0.1:9"), "{stderr}");

    // A repository's file may not name engines, trusted or not.
    std::fs::write(dir.path().join("no-user-config.toml"), "").unwrap();
    std::fs::write(
        dir.path().join(".agent.toml"),
        "[[bench.engines]]\nurl = \"tcp://203.0.113.9:2375\"\n",
    )
    .unwrap();
    let out = agent(dir.path(), &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(".agent.toml"), "{stderr}");
    assert!(stderr.contains("[bench]"), "{stderr}");
    assert!(stderr.contains("your own config"), "{stderr}");
}

/// SIGTERM while sandboxes run on this machine's engine and on a private one: the batch stops
/// and no container of the run is left on either.
#[test]
fn a_bench_run_stopped_by_sigterm_leaves_no_container_on_any_engine() {
    if !can_start_engines() {
        eprintln!("skipped: starting private dockerds needs root");
        return;
    }
    let instances: Vec<Value> = mini_dataset().into_iter().take(2).collect();
    let ids: BTreeSet<String> = instances.iter().map(id_of).collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let other = PrivateEngine::start("rd", "198.51.100.1/27", false).unwrap();
    rt.block_on(other.wait_ready()).unwrap();
    // Each instance's first command outlasts the test's patience.
    let keyed = instances
        .iter()
        .map(|i| {
            (
                id_of(i),
                vec![Reply::tool("run", json!({"command": "sleep 120"}))],
            )
        })
        .collect();
    let server = ScriptedServer::start_scripts(Scripts {
        keyed,
        ..Scripts::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<String> = ids.iter().cloned().collect();
    let mut args = run_args(&server.base_url(), &all);
    args.push("--no-review".into());
    for engine in [local_engine_url(), other.url()] {
        args.extend(["--engine".to_string(), format!("{engine}=1")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let child = agent(dir.path(), &args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let ours = |p: &str| p == pid.to_string();
    let local = rt.block_on(agent_containers::engine::connect()).unwrap();
    // Both engines run an agent sandbox (the command server answers inside each).
    let started = Instant::now();
    let mut both = false;
    while started.elapsed() < Duration::from_secs(600) && !both {
        std::thread::sleep(Duration::from_millis(200));
        let here = rt.block_on(labelled_containers(&local, "agent.run", |r| {
            ids.contains(r)
        }));
        let there = rt.block_on(other.labelled_containers("agent.run", |r| ids.contains(r)));
        both = here.is_some_and(|c| !c.is_empty()) && there.is_some_and(|c| !c.is_empty());
    }
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        both,
        "the two engines never ran a sandbox at once:\n{stderr}"
    );
    assert!(!out.status.success(), "{stderr}");
    assert_eq!(
        rt.block_on(labelled_containers(&local, "agent.pid", ours)),
        Some(vec![]),
        "{stderr}"
    );
    assert_eq!(
        rt.block_on(other.labelled_containers("agent.pid", ours)),
        Some(vec![]),
        "{stderr}"
    );
    // Nothing was predicted; a rerun would do both.
    assert!(predicted_ids(&dir.path().join("out/predictions.jsonl")).is_empty());
}

/// `--samples K --select` across engines: each (instance, sample) is one unit of work on any
/// engine; the choice follows once an instance has its samples.
#[test]
fn samples_and_selection_run_across_engines() {
    if !can_start_engines() {
        eprintln!("skipped: starting private dockerds needs root");
        return;
    }
    let all = mini_dataset();
    let instances: Vec<Value> = vec![all[3].clone(), all[4].clone()];
    let rt = tokio::runtime::Runtime::new().unwrap();
    let other = PrivateEngine::start("re", "198.51.100.33/27", false).unwrap();
    rt.block_on(other.wait_ready()).unwrap();
    let mut keyed = Vec::new();
    for i in &instances {
        for k in 0..2 {
            keyed.push((
                format!("{}.s{k}", id_of(i)),
                vec![
                    Reply::tool("apply_patch", json!({"patch": i["patch"]})),
                    Reply::tool("submit", json!({"summary": "applied the fix"})),
                ],
            ));
        }
    }
    let server = ScriptedServer::start_scripts(Scripts {
        keyed,
        ..Scripts::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = instances.iter().map(id_of).collect();
    let mut args = run_args(&server.base_url(), &ids);
    args.extend(["--no-review", "--samples", "2", "--select"].map(String::from));
    for engine in [local_engine_url(), other.url()] {
        args.extend(["--engine".to_string(), format!("{engine}=1")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = agent(dir.path(), &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for k in 0..2 {
        let mut got = predicted_ids(
            &dir.path()
                .join(format!("out/samples/{k}/predictions.jsonl")),
        );
        got.sort();
        assert_eq!(got, ids, "sample {k}: {stderr}");
    }
    let mut chosen = predicted_ids(&dir.path().join("out/predictions.jsonl"));
    chosen.sort();
    assert_eq!(chosen, ids, "{stderr}");
    let usage: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/engines.json")).unwrap(),
    )
    .unwrap();
    let by_engine: BTreeMap<String, Vec<String>> =
        serde_json::from_value(usage["engines"].clone()).unwrap();
    let mut ran: Vec<String> = by_engine.values().flatten().cloned().collect();
    ran.sort();
    let want: Vec<String> = ids
        .iter()
        .flat_map(|id| [format!("{id}.s0"), format!("{id}.s1")])
        .collect();
    assert_eq!(ran, want, "each sample once, on some engine: {usage}");
}
