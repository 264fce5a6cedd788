//! The line between a failed instance and a fatal error, through the real binary: a failed
//! instance is recorded and the batch goes on; a fatal error (the model endpoint refuses the
//! key, the Docker engine goes away) stops the batch with a message naming the cause, keeps
//! every prediction written before it, and a rerun finishes the rest.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use agent_tests::engine_proxy::EngineProxy;
use agent_tests::{Reply, ScriptedServer};
use serde_json::{Value, json};

use super::{agent, eval_args, gold_script, mini_dataset, predictions, run_args};

fn ids(instances: &[Value]) -> Vec<String> {
    instances
        .iter()
        .map(|i| i["instance_id"].as_str().unwrap().to_string())
        .collect()
}

fn predicted(path: &Path) -> Vec<String> {
    predictions(path)
        .iter()
        .map(|p| p["instance_id"].as_str().unwrap().to_string())
        .collect()
}

/// The rerun with a good model does what is left, and only that.
fn rerun_finishes(dir: &Path, instances: &[Value], left: &[Value]) {
    let server = ScriptedServer::start(gold_script(left)).unwrap();
    let args = run_args(&server.base_url(), &ids(instances));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = agent(dir, &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(server.remaining(), 0, "{stderr}");
    let mut got = predicted(&dir.join("out/predictions.jsonl"));
    got.sort();
    let mut want = ids(instances);
    want.sort();
    assert_eq!(got, want, "each instance exactly once");
}

#[test]
fn a_rejected_key_stops_the_batch_and_keeps_what_was_done() {
    let instances: Vec<Value> = mini_dataset().into_iter().take(3).collect();
    // The first instance is fixed; on the second the endpoint rejects the key.
    let mut script = gold_script(&instances[..1]);
    script.push(Reply::status(401));
    let server = ScriptedServer::start(script).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let args = run_args(&server.base_url(), &ids(&instances));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = agent(dir.path(), &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: the batch stopped"), "{stderr}");
    assert!(stderr.contains("rejected the API key (401)"), "{stderr}");
    assert!(stderr.contains("1 runs were not started"), "{stderr}");
    assert!(
        stderr.contains("rerun the same command to resume"),
        "{stderr}"
    );
    // The third instance never reached the model.
    assert_eq!(server.requests().len(), 3, "{stderr}");
    assert_eq!(
        predicted(&dir.path().join("out/predictions.jsonl")),
        ids(&instances[..1])
    );
    assert!(!dir.path().join("out/env_errors.jsonl").exists());
    rerun_finishes(dir.path(), &instances, &instances[1..]);
}

#[test]
fn a_failed_instance_is_recorded_and_the_batch_goes_on() {
    let instances: Vec<Value> = mini_dataset().into_iter().skip(4).take(2).collect();
    // The first instance's model answers 500 (no retries): that instance fails, the next runs.
    let mut script = vec![Reply::status(500)];
    script.extend(gold_script(&instances[1..]));
    let server = ScriptedServer::start(script).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut args = run_args(&server.base_url(), &ids(&instances));
    args.extend(["--max-retries".to_string(), "0".to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = agent(dir.path(), &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains("the batch stopped"), "{stderr}");
    let failed = instances[0]["instance_id"].as_str().unwrap();
    assert!(
        stderr.contains(&format!("{failed} (sample 0): model_error:")),
        "{stderr}"
    );
    assert!(stderr.contains("answered 500"), "{stderr}");
    assert!(stderr.contains("1 predictions written"), "{stderr}");
    assert_eq!(server.remaining(), 0);
    assert_eq!(
        predicted(&dir.path().join("out/predictions.jsonl")),
        ids(&instances[1..])
    );
    rerun_finishes(dir.path(), &instances, &instances[..1]);
}

/// The cost cap: once the money spent (earlier runs included) reaches `--max-cost-total`, no
/// new instance starts; a rerun without the cap does the rest.
#[test]
fn the_cost_cap_stops_starting_instances() {
    let instances: Vec<Value> = mini_dataset().into_iter().skip(1).take(3).collect();
    let dir = tempfile::tempdir().unwrap();
    // $10 per million prompt tokens: each scripted reply (1000 prompt tokens) costs $0.01, an
    // instance (patch, submit, the review turn) $0.03.
    std::fs::write(
        dir.path().join("config.toml"),
        "[prices.scripted]\ninput_per_mtok = 10.0\noutput_per_mtok = 0.0\n",
    )
    .unwrap();
    let server = ScriptedServer::start(gold_script(&instances[..2])).unwrap();
    let mut args = run_args(&server.base_url(), &ids(&instances));
    args.extend(["--max-cost-total".to_string(), "0.05".to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = agent(dir.path(), &args)
        .env("AGENT_CONFIG", dir.path().join("config.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("1 runs not started: the --max-cost-total budget is spent"),
        "{stderr}"
    );
    let preds = predictions(&dir.path().join("out/predictions.jsonl"));
    assert_eq!(preds.len(), 2, "{stderr}");
    for p in &preds {
        assert!((p["cost_usd"].as_f64().unwrap() - 0.03).abs() < 1e-9, "{p}");
    }
    let server = ScriptedServer::start(gold_script(&instances[2..])).unwrap();
    let args = run_args(&server.base_url(), &ids(&instances));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = agent(dir.path(), &args)
        .env("AGENT_CONFIG", dir.path().join("config.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("total cost $0.0900"), "{stderr}");
    assert_eq!(
        predicted(&dir.path().join("out/predictions.jsonl")),
        ids(&instances)
    );
}

/// The engine goes away while the second instance runs: the batch stops with the engine's
/// message, the first prediction is kept, the third instance is not started; with the engine
/// back, a rerun removes the sandbox the stopped run could not remove and finishes the rest.
#[test]
fn an_engine_that_goes_away_stops_the_batch() {
    // Not the instances of the kill test, which checks that none of its containers is left.
    let instances: Vec<Value> = mini_dataset().into_iter().take(3).collect();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("engine.sock");
    let engine = Path::new("/var/run/docker.sock");
    let mut proxy = EngineProxy::start(&socket, engine).unwrap();
    // The second instance runs a command in its sandbox; its reply comes after the cut.
    let mut script = gold_script(&instances[..1]);
    script.push(Reply::Delayed(
        Duration::from_secs(3),
        Box::new(Reply::tool("run", json!({"command": "echo still here"}))),
    ));
    let server = ScriptedServer::start(script).unwrap();
    let args = run_args(&server.base_url(), &ids(&instances));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let docker_host = format!("unix://{}", socket.display());
    let child = agent(dir.path(), &args)
        .env("DOCKER_HOST", &docker_host)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let started = Instant::now();
    while server.requests().len() < 3 && started.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(100));
    }
    proxy.cut();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: the batch stopped"), "{stderr}");
    assert!(
        stderr.contains("cannot reach the Docker engine"),
        "{stderr}"
    );
    assert!(stderr.contains(&docker_host), "{stderr}");
    assert!(stderr.contains("1 runs were not started"), "{stderr}");
    assert_eq!(server.remaining(), 0);
    assert_eq!(
        predicted(&dir.path().join("out/predictions.jsonl")),
        ids(&instances[..1])
    );

    // The sandbox of the second instance could not be removed without an engine (a
    // concurrent test's run may prune it as an orphan before the rerun does).
    assert!(
        stderr.contains("could not remove the sandbox container"),
        "{stderr}"
    );

    let _proxy = EngineProxy::start(&socket, engine).unwrap();
    let server = ScriptedServer::start(gold_script(&instances[1..])).unwrap();
    let args = run_args(&server.base_url(), &ids(&instances));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = agent(dir.path(), &args)
        .env("DOCKER_HOST", &docker_host)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The rerun removed it (as an orphan: its owner process is gone).
    assert_eq!(sandboxes_of(pid), Vec::<String>::new());
    assert_eq!(
        predicted(&dir.path().join("out/predictions.jsonl")),
        ids(&instances)
    );
}

/// The containers whose owner label is the agent process `pid`.
fn sandboxes_of(pid: u32) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=agent.pid={pid}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Gold for `minibench__tinyconf-12`, plus a `conftest.py` that holds the tests for a while:
/// the evaluation is surely still running when the signal comes.
fn slow_gold_predictions(dir: &Path) -> std::path::PathBuf {
    let instance = mini_dataset()
        .into_iter()
        .find(|i| i["instance_id"] == "minibench__tinyconf-12")
        .unwrap();
    let slow = "diff --git a/conftest.py b/conftest.py\nnew file mode 100644\n--- /dev/null\n\
                +++ b/conftest.py\n@@ -0,0 +1,2 @@\n+import time\n+time.sleep(20)\n";
    let patch = format!("{}{slow}", instance["patch"].as_str().unwrap());
    let path = dir.join("slow.jsonl");
    let line = json!({
        "instance_id": "minibench__tinyconf-12",
        "model_name_or_path": "slow-gold",
        "model_patch": patch,
    });
    std::fs::write(&path, format!("{line}\n")).unwrap();
    path
}

/// `bench eval` stopped by SIGTERM while an evaluation container runs: the owner removes its
/// container, the command exits 143 with one line saying what was graded, and the same
/// command run again finishes the evaluation.
#[test]
fn bench_eval_stopped_by_sigterm_removes_its_containers() {
    let dir = tempfile::tempdir().unwrap();
    let predictions = slow_gold_predictions(dir.path());
    let args = eval_args(
        predictions.to_str().unwrap(),
        "sigterm",
        &["minibench__tinyconf-12"],
        &[],
    );
    let child = agent(dir.path(), &args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let started = Instant::now();
    while sandboxes_of(pid).is_empty() && started.elapsed() < Duration::from_secs(600) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !sandboxes_of(pid).is_empty(),
        "no evaluation container was started"
    );
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(
        stderr.contains(
            "error: stopped: 0 of 1 instances graded (their reports are kept); rerunning the \
             same command resumes (stopped by SIGTERM)"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("removed from outside"), "{stderr}");
    assert_eq!(sandboxes_of(pid), Vec::<String>::new());

    let out = agent(dir.path(), &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report = dir
        .path()
        .join("logs/run_evaluation/sigterm/slow-gold/minibench__tinyconf-12/report.json");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(
        report["minibench__tinyconf-12"]["resolved"], true,
        "{report:#}"
    );
}

/// A second SIGTERM right after the first one's warning: the process exits at once with 143
/// (or the orderly stop, if it was quicker, does) and no container is left either way.
#[test]
fn bench_eval_signalled_twice_exits_and_leaves_no_container() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let predictions = slow_gold_predictions(dir.path());
    let args = eval_args(
        predictions.to_str().unwrap(),
        "twice",
        &["minibench__tinyconf-12"],
        &[],
    );
    let mut child = agent(dir.path(), &args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let started = Instant::now();
    while sandboxes_of(pid).is_empty() && started.elapsed() < Duration::from_secs(600) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!sandboxes_of(pid).is_empty(), "no container was started");
    let term = || {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    term();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        let warned = line.contains("interrupt again to exit at once");
        line.clear();
        if warned {
            term();
            break;
        }
    }
    std::io::Read::read_to_string(&mut stderr, &mut line).unwrap();
    seen.push_str(&line);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{seen}");
    assert!(
        seen.contains("interrupted again: exiting now") || seen.contains("error: stopped: "),
        "{seen}"
    );
    assert_eq!(sandboxes_of(pid), Vec::<String>::new(), "{seen}");
}

/// `bench run` stopped by SIGTERM while an instance's model turn is pending: the run stops, no
/// further instance starts, its sandbox is removed, the command exits 143 with one line saying
/// what was kept, and the same command run again finishes.
#[test]
fn bench_run_stopped_by_sigterm_exits_143_and_resumes() {
    let instances: Vec<Value> = mini_dataset().into_iter().skip(5).take(2).collect();
    let dir = tempfile::tempdir().unwrap();
    let server = ScriptedServer::start(vec![Reply::Delayed(
        Duration::from_secs(60),
        Box::new(Reply::tool("submit", json!({"summary": "never reached"}))),
    )])
    .unwrap();
    let args = run_args(&server.base_url(), &ids(&instances));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let child = agent(dir.path(), &args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let started = Instant::now();
    while server.requests().is_empty() && started.elapsed() < Duration::from_secs(600) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        server.requests().len(),
        1,
        "the first instance asks the model"
    );
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(
        stderr.contains(
            "error: stopped by SIGTERM: 0 predictions written and kept, 1 runs not started; \
             rerunning the same command resumes"
        ),
        "{stderr}"
    );
    assert_eq!(sandboxes_of(pid), Vec::<String>::new());
    assert!(predicted(&dir.path().join("out/predictions.jsonl")).is_empty());
    rerun_finishes(dir.path(), &instances, &instances);
}
