//! `bench eval` across three engines: this machine's, a private one on a unix socket, and a
//! private one on loopback TCP with TLS (certificates made here). The extra engines start with
//! no images: each instance image is copied to them at first use. One engine is killed
//! (SIGKILL) while it grades an instance; the evaluation must still grade every instance once,
//! say which engine graded what, and leave no container on any engine.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agent_tests::engines::{
    PrivateEngine, can_start_engines, labelled_containers, local_engine_url, mini_instances,
};
use agent_tests::fixtures::agent_binary;
use serde_json::Value;

const RUN_ID: &str = "across";

/// Whether a container belongs to this evaluation: labelled `RUN_ID.<id>`.
fn ours(run: &str) -> bool {
    run.starts_with(&format!("{RUN_ID}."))
}

fn mini_ids() -> BTreeSet<String> {
    mini_instances()
        .unwrap()
        .iter()
        .map(|i| i["instance_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_evaluation_across_three_engines_loses_nothing_when_one_dies() {
    if !can_start_engines() {
        eprintln!("skipped: starting private dockerds needs root");
        return;
    }
    let ids = mini_ids();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut doomed = PrivateEngine::start("b", "203.0.113.1/27", false).unwrap();
    let tls = PrivateEngine::start("c", "203.0.113.33/27", true).unwrap();
    rt.block_on(doomed.wait_ready()).unwrap();
    rt.block_on(tls.wait_ready()).unwrap();
    let local = local_engine_url();
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = Command::new(agent_binary().unwrap())
        .args([
            "bench",
            "eval",
            "--dataset",
            "mini",
            "--predictions",
            "gold",
            "--run-id",
            RUN_ID,
        ])
        .args(["--log-dir", ".", "--report-dir", "."])
        .arg("--engine")
        .arg(format!("{local}=1"))
        .arg("--engine")
        .arg(format!("{}=1", doomed.url()))
        .arg("--engine")
        .arg(format!("{}=1", tls.url()))
        .current_dir(dir.path())
        .env("AGENT_CONFIG", dir.path().join("none.toml"))
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", tls.cert_path().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the unix-socket engine while it grades an instance (its container exists).
    let mut killed = false;
    while started.elapsed() < Duration::from_secs(600) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if rt
            .block_on(doomed.labelled_containers("agent.run", ours))
            .is_some_and(|c| !c.is_empty())
        {
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

    // Every instance graded, resolved, once.
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(format!("gold.{RUN_ID}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["resolved_instances"], ids.len(), "{summary}");
    assert_eq!(summary["error_instances"], 0, "{summary}");
    let usage: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(format!("gold.{RUN_ID}.engines.json"))).unwrap(),
    )
    .unwrap();
    let by_engine: BTreeMap<String, Vec<String>> =
        serde_json::from_value(usage["engines"].clone()).unwrap();
    let mut graded: Vec<String> = by_engine.values().flatten().cloned().collect();
    graded.sort();
    let unique: BTreeSet<String> = graded.iter().cloned().collect();
    assert_eq!(
        graded.len(),
        unique.len(),
        "an instance graded twice: {usage}"
    );
    assert_eq!(unique, ids, "every instance graded: {usage}");
    assert_eq!(
        usage["lost_engines"],
        serde_json::json!([doomed.url()]),
        "{usage}"
    );
    assert!(usage["retried"].as_u64().unwrap() >= 1, "{usage}");
    assert!(
        by_engine.get(&tls.url()).is_some_and(|v| !v.is_empty()),
        "the TLS engine worked: {usage}"
    );
    assert!(stderr.contains("stopped answering"), "{stderr}");
    eprintln!(
        "engine use: {usage}\nin {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // No container of the evaluation left anywhere, the killed engine included once it is back.
    let local_docker = rt.block_on(agent_containers::engine::connect()).unwrap();
    assert_eq!(
        rt.block_on(labelled_containers(&local_docker, "agent.run", ours)),
        Some(vec![])
    );
    assert_eq!(
        rt.block_on(tls.labelled_containers("agent.run", ours)),
        Some(vec![])
    );
    let left = rt
        .block_on(doomed.restart_and_list("agent.run", ours))
        .unwrap();
    assert_eq!(left, Some(vec![]), "{}", doomed.log());
}
