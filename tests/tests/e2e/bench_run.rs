//! `agent bench run` end to end: the scripted model applies each instance's gold patch through
//! `apply_patch`, the predictions are graded by `agent bench eval`, and a killed run resumes.

#[path = "bench_run/engines.rs"]
mod engines;
#[path = "bench_run/stops.rs"]
mod stops;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agent_tests::fixtures::agent_binary;
use agent_tests::{Reply, ScriptedServer};
use serde_json::{Value, json};

fn mini_dataset() -> Vec<Value> {
    agent_tests::engines::mini_instances().unwrap()
}

/// For each instance in order: apply the gold patch, then submit.
fn gold_script(instances: &[Value]) -> Vec<Reply> {
    instances
        .iter()
        .flat_map(|i| {
            [
                Reply::tool("apply_patch", json!({"patch": i["patch"]})),
                Reply::tool("submit", json!({"summary": "applied the fix"})),
            ]
        })
        .collect()
}

fn agent(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(agent_binary().unwrap());
    cmd.args(args)
        .current_dir(dir)
        .env_remove("OPENAI_API_KEY")
        .env("AGENT_CONFIG", dir.join("no-user-config.toml"));
    cmd
}

/// `agent bench run` on the mini dataset's `ids`, writing to `out/`, with the scripted model.
fn run_args(base_url: &str, ids: &[String]) -> Vec<String> {
    let mut args: Vec<String> = [
        "bench",
        "run",
        "--dataset",
        "mini",
        "--output",
        "out",
        "--base-url",
        base_url,
        "--model",
        "scripted",
        "--instances",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(ids.iter().cloned());
    args
}

/// `agent bench eval` arguments: `predictions` on the mini dataset's `ids`, `extra` options
/// before the ids.
fn eval_args<'a>(
    predictions: &'a str,
    run_id: &'a str,
    ids: &[&'a str],
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "bench",
        "eval",
        "--dataset",
        "mini",
        "--predictions",
        predictions,
        "--run-id",
        run_id,
    ];
    args.extend_from_slice(extra);
    args.push("--instances");
    args.extend_from_slice(ids);
    args
}

/// Runs `bench eval` in `dir` (see [`eval_args`]), asserts it succeeded, and returns the run
/// summary it wrote for `model`.
fn eval_summary(dir: &Path, model: &str, args: &[&str]) -> Value {
    let out = agent(dir, args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run_id = args[args.iter().position(|a| *a == "--run-id").unwrap() + 1];
    let path = dir.join(format!("{model}.{run_id}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn predictions(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn bench_run_writes_predictions_that_eval_resolves() {
    let instances: Vec<Value> = mini_dataset().into_iter().take(2).collect();
    let ids: Vec<String> = instances
        .iter()
        .map(|i| i["instance_id"].as_str().unwrap().to_string())
        .collect();
    let server = ScriptedServer::start(gold_script(&instances)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = server.base_url();
    let args = run_args(&base, &ids);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = agent(dir.path(), &args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let preds = predictions(&dir.path().join("out/predictions.jsonl"));
    assert_eq!(preds.len(), 2);
    for (p, i) in preds.iter().zip(&instances) {
        assert_eq!(p["instance_id"], i["instance_id"]);
        assert_eq!(p["model_name_or_path"], "scripted");
        assert!(!p["model_patch"].as_str().unwrap().is_empty());
        let traj = dir.path().join(format!(
            "out/trajectories/{}.traj.json",
            p["instance_id"].as_str().unwrap()
        ));
        assert!(
            std::fs::read_to_string(traj)
                .unwrap()
                .contains("\"exit_reason\":\"submitted\"")
        );
    }

    let id_args: Vec<&str> = ids.iter().map(String::as_str).collect();
    let eval = eval_args("out/predictions.jsonl", "graded", &id_args, &[]);
    let summary = eval_summary(dir.path(), "scripted", &eval);
    assert_eq!(summary["resolved_instances"], 2, "{summary}");

    // pass@k over the whole mini dataset: two of seven instances were run and resolved.
    let out = agent(
        dir.path(),
        &[
            "bench",
            "metrics",
            "--dataset",
            "mini",
            "--run-id",
            "graded",
        ],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metrics: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(metrics["instances"], 7);
    assert_eq!(metrics["samples"], 1);
    assert!(
        (metrics["pass_at_k"]["pass@1"].as_f64().unwrap() - 2.0 / 7.0).abs() < 1e-9,
        "{metrics}"
    );
    assert!(
        (metrics["pass_ratio_at_n"].as_f64().unwrap() - 2.0 / 7.0).abs() < 1e-9,
        "{metrics}"
    );

    // A second run finds everything done and does nothing.
    let again = agent(dir.path(), &args).output().unwrap();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already have predictions"));
    assert_eq!(
        predictions(&dir.path().join("out/predictions.jsonl")).len(),
        2
    );
}

#[test]
fn a_killed_bench_run_resumes_without_losing_or_repeating_work() {
    // Instances apart from the other test's, so both can run at once.
    let instances: Vec<Value> = mini_dataset().into_iter().skip(3).take(3).collect();
    let ids: Vec<String> = instances
        .iter()
        .map(|i| i["instance_id"].as_str().unwrap().to_string())
        .collect();
    // The second instance's model turn hangs, so the process is killed mid-instance.
    let mut script = gold_script(&instances[..1]);
    script.push(Reply::Delayed(
        Duration::from_secs(120),
        Box::new(Reply::tool("submit", json!({"summary": "x"}))),
    ));
    let server = ScriptedServer::start(script).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = server.base_url();
    let args = run_args(&base, &ids);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = agent(dir.path(), &args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let preds_path = dir.path().join("out/predictions.jsonl");
    let started = Instant::now();
    while predictions(&preds_path).is_empty() && started.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(200));
    }
    // Wait until the second instance is talking to the model, then kill -9.
    while server.requests().len() < 3 && started.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(predictions(&preds_path).len(), 1);
    drop(server);

    let server = ScriptedServer::start(gold_script(&instances[1..])).unwrap();
    let base = server.base_url();
    let args = run_args(&base, &ids);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = agent(dir.path(), &args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 runs already done"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let preds = predictions(&preds_path);
    let got: Vec<&str> = preds
        .iter()
        .map(|p| p["instance_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        ids.iter().map(String::as_str).collect::<Vec<_>>(),
        "each instance exactly once, in order"
    );
    assert_eq!(server.remaining(), 0);
    // The killed run's sandbox was pruned, and the resumed run removed its own.
    for id in &ids {
        let out = Command::new("docker")
            .args(["ps", "-aq", "--filter", &format!("label=agent.run={id}")])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).trim().is_empty(),
            "a container for {id} was left"
        );
    }
}

/// A fresh machine: no engine at the address, no root filesystem tool, no images. Every missing
/// requirement is named once with its fix, and nothing is started (no dataset, no logs).
#[test]
fn preflight_names_each_missing_requirement_once_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    // Only git on PATH (mmdebstrap lives in /usr/bin, which is left out).
    let git = std::process::Command::new("bash")
        .args(["-c", "command -v git"])
        .output()
        .unwrap();
    let git = String::from_utf8(git.stdout).unwrap();
    std::os::unix::fs::symlink(git.trim(), bin.join("git")).unwrap();
    let cache = dir.path().join("cache");
    let out = agent(
        dir.path(),
        &[
            "bench",
            "eval",
            "--dataset",
            "mini",
            "--predictions",
            "gold",
            "--run-id",
            "first",
        ],
    )
    .env("PATH", &bin)
    .env("AGENT_ROOTFS_TOOL", "mmdebstrap")
    .env("AGENT_CACHE_DIR", &cache)
    .env(
        "DOCKER_HOST",
        format!("unix://{}", dir.path().join("no.sock").display()),
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: 2 host requirements are missing (nothing was started)"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("cannot reach the Docker engine").count(),
        1,
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("apt-get install -y mmdebstrap").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("--yes"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no colour codes: {stderr:?}");
    assert!(!cache.exists(), "nothing was prepared before the check");
    assert!(!dir.path().join("logs").exists());
}

/// One prediction whose patch does not apply: that instance is an error, printed once, and
/// `bench eval` exits 1 while the other instance is still graded.
#[test]
fn bench_eval_exits_non_zero_when_an_instance_ends_in_error() {
    let instances: Vec<Value> = mini_dataset().into_iter().take(2).collect();
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = instances
        .iter()
        .enumerate()
        .map(|(n, i)| {
            let patch = if n == 0 {
                "--- a/nowhere.py\n+++ b/nowhere.py\n@@ -1,1 +1,1 @@\n-not here\n+still not\n"
                    .to_string()
            } else {
                i["patch"].as_str().unwrap().to_string()
            };
            json!({"instance_id": i["instance_id"], "model_name_or_path": "m", "model_patch": patch})
                .to_string()
        })
        .collect();
    std::fs::write(dir.path().join("p.jsonl"), lines.join("\n") + "\n").unwrap();
    let ids: Vec<&str> = instances
        .iter()
        .map(|i| i["instance_id"].as_str().unwrap())
        .collect();
    let args = eval_args("p.jsonl", "broken", &ids, &[]);
    let out = agent(dir.path(), &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let bad = instances[0]["instance_id"].as_str().unwrap();
    assert_eq!(stderr.matches(bad).count(), 1, "{stderr}");
    assert_eq!(
        stderr.matches("the patch did not apply").count(),
        1,
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "no colour codes: {stderr:?}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("m.broken.json")).unwrap())
            .unwrap();
    assert_eq!(summary["resolved_instances"], 1, "{summary}");
    assert_eq!(summary["error_instances"], 1, "{summary}");
}

/// Issue 15: the instance setup (install) needs the network and happens in the instance image,
/// so that the agent's sandbox, network off, starts with the repository installed; an instance
/// whose setup fails is an environment error, recorded once and not retried by a rerun.
#[test]
fn setup_happens_in_the_image_with_network_and_a_failed_setup_is_an_env_error() {
    let all = mini_dataset();
    // One instance of each mini repository: the spec override changes both repositories' setup.
    let tinyconf = all
        .iter()
        .find(|i| i["repo"] == "minibench/tinyconf")
        .unwrap()
        .clone();
    let unitwise = all
        .iter()
        .find(|i| i["repo"] == "minibench/unitwise")
        .unwrap()
        .clone();
    let dir = tempfile::tempdir().unwrap();
    // tinyconf: an install that resolves a host name (fails without a network) and leaves a
    // mark outside the repository; unitwise: an install that fails.
    let specs = json!({"repos": {
        "minibench/tinyconf": {"log_parser": "pytest", "versions": {"0.1": {
            "python": "3.11", "pip_packages": ["pytest==8.3.5"], "test_cmd": "pytest -rA",
            "install": "python -c \"import socket; socket.getaddrinfo('pypi.org', 443)\" && echo installed-in-image > /opt/setup-mark"}}},
        "minibench/unitwise": {"log_parser": "pytest", "versions": {"0.3": {
            "python": "3.11", "pip_packages": ["pytest==8.3.5"], "test_cmd": "pytest -rA",
            "install": "echo the build backend is missing >&2; exit 7"}}}
    }});
    std::fs::write(dir.path().join("specs.json"), specs.to_string()).unwrap();
    let id = tinyconf["instance_id"].as_str().unwrap().to_string();
    let broken = unitwise["instance_id"].as_str().unwrap().to_string();
    // The model checks the mark and the network from its sandbox, then applies the gold patch.
    let probe = "cat /opt/setup-mark; python -c \"import socket; socket.getaddrinfo('pypi.org', 443)\" 2>/dev/null && echo network-on || echo network-off";
    let server = ScriptedServer::start(vec![
        Reply::tool("run", json!({"command": probe})),
        Reply::tool("apply_patch", json!({"patch": tinyconf["patch"]})),
        Reply::tool("submit", json!({"summary": "applied the fix"})),
    ])
    .unwrap();
    let base = server.base_url();
    let mut args = run_args(&base, &[id.clone(), broken.clone()]);
    args.extend(["--specs".to_string(), "specs.json".to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = agent(dir.path(), &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let preds = predictions(&dir.path().join("out/predictions.jsonl"));
    assert_eq!(preds.len(), 1, "{stderr}");
    assert_eq!(preds[0]["instance_id"], id.as_str());
    assert!(!preds[0]["model_patch"].as_str().unwrap().is_empty());
    assert_eq!(server.remaining(), 0);
    let observation = server.last_message(1)["content"].to_string();
    assert!(observation.contains("installed-in-image"), "{observation}");
    assert!(observation.contains("network-off"), "{observation}");
    // The failed setup: an environment error naming the instance and the install's output.
    let errors = std::fs::read_to_string(dir.path().join("out/env_errors.jsonl")).unwrap();
    assert_eq!(errors.lines().count(), 1, "{errors}");
    let error: Value = serde_json::from_str(errors.lines().next().unwrap()).unwrap();
    assert_eq!(error["instance_id"], broken.as_str());
    assert!(
        error["reason"]
            .as_str()
            .unwrap()
            .contains("the build backend is missing"),
        "{error}"
    );
    assert!(stderr.contains("environment error"), "{stderr}");
    // A rerun neither retries it nor redoes the other; --retry-env-errors tries it again.
    let again = agent(dir.path(), &args).output().unwrap();
    let again_err = String::from_utf8_lossy(&again.stderr).to_string();
    assert!(again.status.success(), "{again_err}");
    assert!(
        again_err.contains("1 of them environment errors"),
        "{again_err}"
    );
    let mut retry = args.clone();
    retry.push("--retry-env-errors");
    let retried = agent(dir.path(), &retry).output().unwrap();
    assert_eq!(retried.status.code(), Some(3));
    let errors = std::fs::read_to_string(dir.path().join("out/env_errors.jsonl")).unwrap();
    assert_eq!(errors.lines().count(), 1, "{errors}");
    assert_eq!(
        predictions(&dir.path().join("out/predictions.jsonl")).len(),
        1
    );

    // The prediction made in the set-up image resolves when graded.
    let eval = eval_args(
        "out/predictions.jsonl",
        "graded",
        &[id.as_str()],
        &["--specs", "specs.json"],
    );
    let summary = eval_summary(dir.path(), "scripted", &eval);
    assert_eq!(summary["resolved_instances"], 1, "{summary}");
}

/// `--image-source official`: an official name pulled from a configurable registry. The
/// registry is Debian's `docker-registry`, started here on a free port, holding a stand-in
/// under the official name of a mini instance (its locally built instance image plus a conda
/// activation shim, as the official images have).
#[test]
fn official_images_are_pulled_by_their_official_names_from_the_registry() {
    let instance = mini_dataset().into_iter().nth(2).unwrap();
    let id = instance["instance_id"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    // The instance image built here, to stand in for the official one.
    eval_summary(
        dir.path(),
        "gold",
        &eval_args("gold", "local", &[id.as_str()], &[]),
    );
    let images = Command::new("docker")
        .args([
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "agent-swe-inst",
        ])
        .output()
        .unwrap();
    let prefix = format!("agent-swe-inst:{}-", id.to_lowercase());
    let local = String::from_utf8_lossy(&images.stdout)
        .lines()
        .find(|l| l.starts_with(&prefix))
        .expect("the local instance image")
        .to_string();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let storage = dir.path().join("registry");
    std::fs::create_dir_all(&storage).unwrap();
    let config = dir.path().join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        ),
    )
    .unwrap();
    let mut registry = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry (Debian package docker-registry; .ci/run installs it)");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
        && started.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let official = format!(
        "127.0.0.1:{port}/swebench/sweb.eval.{}.{}:latest",
        if std::env::consts::ARCH == "aarch64" {
            "arm64"
        } else {
            std::env::consts::ARCH
        },
        id.replace("__", "_1776_").to_lowercase()
    );
    let dockerfile = format!(
        "FROM {local}\nLABEL agent.managed=false agent.pid=\nRUN mkdir -p /opt/miniconda3/bin && printf 'conda() {{ . /opt/venv/bin/activate; }}\\n' > /opt/miniconda3/bin/activate\n"
    );
    let mut build = Command::new("docker")
        .args(["build", "--network", "none", "-q", "-t", &official, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    build
        .stdin
        .take()
        .unwrap()
        .write_all(dockerfile.as_bytes())
        .unwrap();
    assert!(build.wait().unwrap().success());
    let docker = |args: &[&str]| {
        let out = Command::new("docker").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    docker(&["push", "-q", &official]);
    // Only the registry has it now: the evaluation must pull it.
    docker(&["rmi", &official]);

    let registry_address = format!("127.0.0.1:{port}");
    let from_registry = [
        "--image-source",
        "official",
        "--registry",
        &registry_address,
    ];
    let result = agent(
        dir.path(),
        &eval_args("gold", "official", &[id.as_str()], &from_registry),
    )
    .output()
    .unwrap();
    let _ = registry.kill();
    let _ = registry.wait();
    let pulled = Command::new("docker")
        .args(["image", "inspect", &official])
        .output()
        .unwrap();
    let _ = Command::new("docker").args(["rmi", &official]).output();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(pulled.status.success(), "the official name was not pulled");
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("gold.official.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["resolved_instances"], 1, "{summary}");
    let run_dir = dir
        .path()
        .join(format!("logs/run_evaluation/official/gold/{id}"));
    let log = std::fs::read_to_string(run_dir.join("run_instance.log")).unwrap();
    assert!(log.contains(&official), "{log}");
    let script = std::fs::read_to_string(run_dir.join("eval.sh")).unwrap();
    assert!(script.contains("conda activate testbed"), "{script}");

    // Without the registry the name cannot be pulled: an error naming the image and the fix.
    let missing = agent(
        dir.path(),
        &eval_args("gold", "gone", &[id.as_str()], &from_registry),
    )
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&missing.stderr);
    assert!(
        text.contains("cannot pull the official image") && text.contains("--registry"),
        "{text}"
    );
}

#[test]
fn samples_with_select_write_one_chosen_prediction_per_instance_and_keep_every_sample() {
    use agent_tests::Scripts;
    // Instances apart from the other tests', so all can run at once.
    let all = mini_dataset();
    let instances: Vec<Value> = vec![all[2].clone(), all[6].clone()];
    let ids: Vec<String> = instances
        .iter()
        .map(|i| i["instance_id"].as_str().unwrap().to_string())
        .collect();
    // Per instance: samples 0 and 2 apply the gold patch, sample 1 changes nothing.
    let mut keyed = Vec::new();
    for i in &instances {
        let id = i["instance_id"].as_str().unwrap();
        let gold = || {
            vec![
                Reply::tool("apply_patch", json!({"patch": i["patch"]})),
                Reply::tool("submit", json!({"summary": "applied the fix"})),
            ]
        };
        let nothing = vec![
            Reply::tool("submit", json!({"summary": "nothing to do"})),
            Reply::tool("submit", json!({"summary": "nothing to do"})),
        ];
        keyed.push((format!("{id}.s0"), gold()));
        keyed.push((format!("{id}.s1"), nothing));
        keyed.push((format!("{id}.s2"), gold()));
    }
    let server = ScriptedServer::start_scripts(Scripts {
        keyed,
        ..Scripts::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = server.base_url();
    let mut args = run_args(&base, &ids);
    args.extend(
        [
            "--samples",
            "3",
            "--select",
            "--workers",
            "3",
            "--no-review",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = agent(dir.path(), &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Every sample is kept for pass@k.
    for k in 0..3 {
        let samples = predictions(
            &dir.path()
                .join(format!("out/samples/{k}/predictions.jsonl")),
        );
        assert_eq!(samples.len(), 2, "sample {k}");
        for p in &samples {
            assert_eq!(p["sample"], k);
            assert_eq!(p["model_patch"].as_str().unwrap().is_empty(), k == 1, "{p}");
        }
    }
    // One chosen prediction per instance: a gold sample, by the tests or the vote (0 and 2
    // made the same change; 1 is out).
    let chosen = predictions(&dir.path().join("out/predictions.jsonl"));
    assert_eq!(chosen.len(), 2, "{stderr}");
    for p in &chosen {
        let id = p["instance_id"].as_str().unwrap();
        assert_eq!(p["sample"], 0, "{p}");
        assert!(!p["model_patch"].as_str().unwrap().is_empty());
        let record: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(format!("out/selection/{id}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(record["chosen"], 0, "{record:#}");
        assert_eq!(record["candidates"][1]["status"], "empty", "{record:#}");
        assert!(
            ["tests", "vote"].contains(&record["decided_by"].as_str().unwrap()),
            "{record:#}"
        );
        assert!(
            stderr.contains(&format!("{id}: sample 0 chosen")),
            "{stderr}"
        );
    }
    assert!(server.judge_requests().is_empty());

    // The chosen predictions are what bench eval grades: both resolve.
    let id_args: Vec<&str> = ids.iter().map(String::as_str).collect();
    let eval = eval_args("out/predictions.jsonl", "selected", &id_args, &[]);
    let summary = eval_summary(dir.path(), "scripted", &eval);
    assert_eq!(summary["resolved_instances"], 2, "{summary}");

    // A rerun finds everything done, selection included.
    let again = agent(dir.path(), &args).output().unwrap();
    assert!(again.status.success());
    assert_eq!(
        predictions(&dir.path().join("out/predictions.jsonl")).len(),
        2
    );
}
