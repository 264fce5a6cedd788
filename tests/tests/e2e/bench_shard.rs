//! Kubernetes runs the shards, we merge them: the Indexed Job manifest in `deploy/k8s/` is read,
//! each of its pods' commands is run as the Job would run it (same script, same environment
//! variables, `JOB_COMPLETION_INDEX` = the pod's index), and `agent bench merge` joins the
//! shards. The result must equal one unsharded run of the same model on the same dataset.
//!
//! What the test changes in the pods' environment, and why: DATASET (the bundled mini dataset),
//! REPOS (empty: its bundled repositories), RESULTS (a temporary folder for the volume),
//! OPENAI_BASE_URL and AGENT_MODEL (the scripted model of each pod), WORKERS=1 (a scripted
//! model answers in order), and DOCKER_HOST: the pods' engine sidecar is this machine's engine
//! (the sidecar image is the user's to provide). AGENT_WORKSPACE_MODE=copy stays as the
//! manifest sets it, so the sandboxes copy their workspace as they would beside a sidecar.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use agent_harness::shard::Shard;
use agent_tests::fixtures::agent_binary;
use agent_tests::{Reply, ScriptedServer};
use serde_json::{Value, json};
use serde_yaml::Value as Yaml;

fn mini_dataset() -> Vec<Value> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let paths = rt
        .block_on(agent_harness::mini::materialize(
            &agent_harness::mini::cache_root(),
        ))
        .unwrap();
    std::fs::read_to_string(paths.dataset)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// For each instance in order: apply the gold patch, then submit.
fn gold_script(instances: &[&Value]) -> Vec<Reply> {
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

fn manifest() -> Yaml {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/k8s/bench-job.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn named<'a>(list: &'a Yaml, name: &str) -> &'a Yaml {
    list.as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no container `{name}` in the manifest"))
}

/// The Job as the test runs it: the agent container's command and its plain env values.
struct JobSpec {
    completions: u64,
    command: Vec<String>,
    env: BTreeMap<String, String>,
}

/// Reads the manifest and checks what makes it an Indexed Job with an engine beside the agent.
fn read_job() -> JobSpec {
    let job = manifest();
    assert_eq!(job["kind"].as_str(), Some("Job"));
    assert_eq!(job["apiVersion"].as_str(), Some("batch/v1"));
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let completions = spec["completions"].as_u64().unwrap();
    assert_eq!(spec["parallelism"].as_u64(), Some(completions));
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"].as_str(), Some("Never"));
    // The engine is a native sidecar (so the pod completes when the agent is done), privileged,
    // and listens on the pod's loopback where DOCKER_HOST points.
    let engine = named(&pod["initContainers"], "engine");
    assert_eq!(engine["restartPolicy"].as_str(), Some("Always"));
    assert_eq!(
        engine["securityContext"]["privileged"].as_bool(),
        Some(true)
    );
    let agent = named(&pod["containers"], "agent");
    let mut command: Vec<String> = agent["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    command.extend(
        agent["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string()),
    );
    let env: BTreeMap<String, String> = agent["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_string(),
                e["value"].as_str()?.to_string(),
            ))
        })
        .collect();
    assert_eq!(
        env["SHARDS"],
        completions.to_string(),
        "SHARDS = completions"
    );
    let listens = engine["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .any(|a| a.as_str() == Some("--host=tcp://127.0.0.1:2375"));
    assert!(listens, "the sidecar listens on loopback");
    assert_eq!(env["DOCKER_HOST"], "tcp://127.0.0.1:2375");
    assert_eq!(env["AGENT_WORKSPACE_MODE"], "copy");
    let script = command.last().unwrap();
    assert!(script.contains("--shard \"$shard\""), "{script}");
    JobSpec {
        completions,
        command,
        env,
    }
}

fn local_engine() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

/// One pod: the manifest's command with its environment, as the Job would start it.
fn run_pod(
    job: &JobSpec,
    index: u64,
    results: &Path,
    base_url: &str,
    home: &Path,
) -> std::process::Output {
    let agent = agent_binary().unwrap();
    let path = format!(
        "{}:{}",
        agent.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(&job.command[0]);
    cmd.args(&job.command[1..])
        .env_clear()
        .envs(&job.env)
        .env("JOB_COMPLETION_INDEX", index.to_string())
        .env("DATASET", "mini")
        .env("REPOS", "")
        .env("RESULTS", results)
        .env("WORKERS", "1")
        .env("OPENAI_BASE_URL", base_url)
        .env("AGENT_MODEL", "scripted")
        .env("DOCKER_HOST", local_engine())
        .env("PATH", path)
        .env("HOME", home)
        .env("AGENT_CONFIG", home.join("no-user-config.toml"))
        .current_dir(home);
    cmd.output().unwrap()
}

fn agent(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(agent_binary().unwrap())
        .args(args)
        .current_dir(dir)
        .env_remove("OPENAI_API_KEY")
        .env("AGENT_CONFIG", dir.join("no-user-config.toml"))
        .output()
        .unwrap()
}

fn patches(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| {
            (
                v["instance_id"].as_str().unwrap().to_string(),
                v["model_patch"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn json_file(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ok(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_indexed_job_shards_merge_into_what_one_unsharded_run_writes() {
    let job = read_job();
    let dataset = mini_dataset();
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    // Every pod at once, as the Job runs them (parallelism = completions).
    let pods: Vec<_> = (0..job.completions)
        .map(|index| {
            let shard = Shard {
                index,
                count: job.completions,
            };
            let mine: Vec<&Value> = dataset
                .iter()
                .filter(|i| shard.contains(i["instance_id"].as_str().unwrap()))
                .collect();
            let server = ScriptedServer::start(gold_script(&mine)).unwrap();
            let home = dir.path().join(format!("pod-{index}"));
            std::fs::create_dir_all(&home).unwrap();
            (server, home, mine.len())
        })
        .collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = pods
            .iter()
            .enumerate()
            .map(|(index, (server, home, _))| {
                let (job, results) = (&job, &results);
                scope.spawn(move || run_pod(job, index as u64, results, &server.base_url(), home))
            })
            .collect();
        for (index, handle) in handles.into_iter().enumerate() {
            ok(&handle.join().unwrap(), &format!("pod {index}"));
        }
    });
    for (index, (server, _, count)) in pods.iter().enumerate() {
        assert_eq!(
            server.remaining(),
            0,
            "pod {index} ran its {count} instances"
        );
    }

    let shard_dirs: Vec<PathBuf> = (0..job.completions)
        .map(|i| results.join(format!("shard-{i}")))
        .collect();
    let mut merge_args: Vec<String> = ["bench", "merge", "--dataset", "mini", "--output", "merged"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    merge_args.extend(shard_dirs.iter().map(|d| d.display().to_string()));
    let merge_args: Vec<&str> = merge_args.iter().map(String::as_str).collect();
    ok(&agent(dir.path(), &merge_args), "merge");
    let merged = dir.path().join("merged");

    // One unsharded run of the same model, evaluated the same way.
    let all: Vec<&Value> = dataset.iter().collect();
    let server = ScriptedServer::start(gold_script(&all)).unwrap();
    let base = server.base_url();
    let run = agent(
        dir.path(),
        &[
            "bench",
            "run",
            "--dataset",
            "mini",
            "--output",
            "single",
            "--base-url",
            &base,
            "--model",
            "scripted",
        ],
    );
    ok(&run, "unsharded run");
    let eval = agent(
        dir.path(),
        &[
            "bench",
            "eval",
            "--dataset",
            "mini",
            "--predictions",
            "single/predictions.jsonl",
            "--run-id",
            "eval",
            "--log-dir",
            "single",
            "--report-dir",
            "single",
        ],
    );
    ok(&eval, "unsharded eval");
    let single = dir.path().join("single");

    let merged_patches = patches(&merged.join("predictions.jsonl"));
    assert_eq!(merged_patches.len(), dataset.len(), "nothing lost");
    assert_eq!(merged_patches, patches(&single.join("predictions.jsonl")));
    let summary = json_file(&merged.join("scripted.eval.json"));
    assert_eq!(summary, json_file(&single.join("scripted.eval.json")));
    assert_eq!(summary["resolved_instances"], json!(dataset.len()));
    for instance in &dataset {
        let id = instance["instance_id"].as_str().unwrap();
        assert!(
            merged
                .join(format!("trajectories/{id}.traj.json"))
                .is_file()
        );
        assert!(
            merged
                .join(format!(
                    "logs/run_evaluation/eval/scripted/{id}/report.json"
                ))
                .is_file()
        );
    }

    // Merging again changes nothing.
    let before = std::fs::read(merged.join("predictions.jsonl")).unwrap();
    ok(&agent(dir.path(), &merge_args), "merge again");
    assert_eq!(
        std::fs::read(merged.join("predictions.jsonl")).unwrap(),
        before
    );
    assert_eq!(json_file(&merged.join("scripted.eval.json")), summary);

    // The same instance with another prediction in a shard is refused, naming it.
    let (victim_dir, victim) = shard_dirs
        .iter()
        .find_map(|d| {
            let text = std::fs::read_to_string(d.join("predictions.jsonl")).ok()?;
            let line: Value = serde_json::from_str(text.lines().next()?).ok()?;
            Some((d.clone(), line))
        })
        .unwrap();
    let mut changed = victim.clone();
    changed["model_patch"] = json!("diff --git a/x b/x\n");
    let path = victim_dir.join("predictions.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}{changed}\n")).unwrap();
    let out = agent(dir.path(), &merge_args);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let id = victim["instance_id"].as_str().unwrap();
    assert!(
        err.contains(&format!("conflicting predictions for {id}")),
        "{err}"
    );
    assert_eq!(
        std::fs::read(merged.join("predictions.jsonl")).unwrap(),
        before
    );
}
