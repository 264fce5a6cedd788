use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use agent_containers::{ContainerError, Limits, PruneScope, cleanup, engine, prune};
use agent_tools::{ExecError, ExecRequest, Executor};
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::CreateContainerOptionsBuilder;

use crate::{env_image, gone_within, sandbox};

#[tokio::test]
async fn timeout_kills_the_whole_process_tree_and_keeps_partial_output() {
    let sandbox = sandbox(|c| c).await;
    // A background child, and one that left the process group with setsid, both outlive bash.
    let command = "echo started; sleep 300 & setsid sleep 301 & echo waiting >&2; sleep 302";
    let out = sandbox
        .exec(ExecRequest::new(command).timeout(Duration::from_secs(2)))
        .await
        .unwrap();
    assert!(out.timed_out);
    assert_eq!(out.exit_code, None);
    assert_eq!(out.stdout, "started\n");
    assert!(out.stderr.starts_with("waiting\n"), "{}", out.stderr);
    assert!(out.stderr.contains("timed out after 2s"), "{}", out.stderr);
    let ps = sandbox
        .exec(ExecRequest::new(
            "ps -eo args | grep '^sleep 30' || echo none-left",
        ))
        .await
        .unwrap();
    assert_eq!(ps.stdout.trim(), "none-left", "{ps:?}");
    sandbox.remove().await.unwrap();
}

#[tokio::test]
async fn out_of_memory_kill_is_reported_as_such() {
    let limits = Limits {
        memory_bytes: 96 << 20,
        ..Limits::default()
    };
    let sandbox = sandbox(|c| c.limits(limits)).await;
    let hog = "python3 -c \"chunks = [b'x' * (16 << 20) for _ in range(64)]; print(len(chunks))\"";
    let out = sandbox
        .exec_streaming(
            ExecRequest::new(hog).timeout(Duration::from_secs(120)),
            None,
        )
        .await
        .unwrap();
    assert!(out.oom_killed, "{out:?}");
    assert_eq!(out.output.exit_code, Some(137));
    assert!(
        out.output.stderr.contains("out of memory"),
        "{}",
        out.output.stderr
    );
    assert!(
        out.output.stderr.contains("96 MiB"),
        "{}",
        out.output.stderr
    );
    // The sandbox survives, and a later SIGKILL that is not an OOM is not reported as one.
    let out = sandbox
        .exec_streaming(ExecRequest::new("echo alive; kill -KILL $$"), None)
        .await
        .unwrap();
    assert_eq!(out.output.stdout, "alive\n");
    assert_eq!(out.output.exit_code, Some(137));
    assert!(!out.oom_killed, "{out:?}");
    sandbox.remove().await.unwrap();
}

/// Restarting the engine would disturb everything else on this machine, so the container is
/// killed and removed from outside mid-command: what an engine restart does to it.
#[tokio::test]
async fn container_lost_mid_run_is_a_clear_error_and_nothing_leaks() {
    let sandbox = Arc::new(sandbox(|c| c).await);
    let id = sandbox.id().to_string();
    let running = sandbox.clone();
    let task = tokio::spawn(async move {
        running
            .exec(ExecRequest::new("echo before; sleep 120").timeout(Duration::from_secs(200)))
            .await
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let outside = engine::connect().await.unwrap();
    outside
        .remove_container(
            &id,
            Some(
                bollard::query_parameters::RemoveContainerOptionsBuilder::new()
                    .force(true)
                    .build(),
            ),
        )
        .await
        .unwrap();
    let err = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("the exec returned after its container died")
        .unwrap()
        .unwrap_err();
    let ExecError::Unavailable(message) = err else {
        panic!("expected Unavailable, got {err:?}");
    };
    assert!(message.contains("engine restarted"), "{message}");
    assert!(message.contains("before"), "partial output kept: {message}");
    // The next command fails the same clear way, and nothing is left in the engine.
    let next = sandbox.exec(ExecRequest::new("true")).await.unwrap_err();
    assert!(matches!(next, ExecError::Unavailable(_)), "{next:?}");
    assert!(gone_within(&id, 10).await);
    sandbox.remove().await.unwrap();
    assert!(!cleanup::live_containers().contains(&id));
}

#[tokio::test]
async fn unreachable_engine_names_the_socket_or_docker_host() {
    let err = engine::connect_to("unix:///nonexistent/docker.sock", Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ContainerError::EngineUnavailable(_)),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("/nonexistent/docker.sock"), "{text}");
    assert!(text.contains("DOCKER_HOST"), "{text}");

    let err = engine::connect_to("tcp://127.0.0.1:9", Duration::from_secs(5))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("tcp://127.0.0.1:9"), "{text}");
    assert!(text.contains("DOCKER_HOST"), "{text}");
}

#[tokio::test]
async fn prune_removes_orphans_and_keeps_live_sandboxes() {
    let image = env_image().await;
    let docker = engine::connect().await.unwrap();
    // What a SIGKILLed process leaves: a labelled container whose pid no longer runs.
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let labels = HashMap::from([
        (cleanup::LABEL_MANAGED.to_string(), "true".to_string()),
        (cleanup::LABEL_PID.to_string(), "4000000".to_string()),
        (cleanup::LABEL_HOST.to_string(), hostname.trim().to_string()),
    ]);
    let orphan_name = format!("agent-orphan-test-{}", std::process::id());
    let orphan = docker
        .create_container(
            Some(
                CreateContainerOptionsBuilder::new()
                    .name(&orphan_name)
                    .build(),
            ),
            ContainerCreateBody {
                image: Some(image.tag.clone()),
                cmd: Some(vec!["sleep".into(), "600".into()]),
                labels: Some(labels),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    docker.start_container(&orphan.id, None).await.unwrap();
    let live = sandbox(|c| c).await;

    let report = prune(&docker, PruneScope::Orphaned).await.unwrap();
    assert!(report.removed.contains(&orphan_name), "{report:?}");
    assert!(report.kept.contains(&live.name().to_string()), "{report:?}");
    assert!(gone_within(&orphan.id, 10).await);
    assert!(live.is_running().await.unwrap());
    live.remove().await.unwrap();
}

/// Run by `killed_process_leaves_no_container` in a child process: holds a sandbox until killed.
#[tokio::test]
#[ignore = "helper: run in a child process by killed_process_leaves_no_container"]
async fn child_holds_a_sandbox() {
    if std::env::var_os("AGENT_TEST_SIGNAL_CLEANUP").is_some() {
        // What the binary's forced exit (a second Ctrl-C) does: remove, then exit 130.
        tokio::spawn(async {
            let _ = tokio::signal::ctrl_c().await;
            cleanup::remove_own_containers_blocking(Duration::from_secs(10));
            std::process::exit(130);
        });
    }
    let sandbox = sandbox(|c| c.run_id("kill-test")).await;
    println!("READY {}", sandbox.id());
    tokio::time::sleep(Duration::from_secs(300)).await;
}

/// A process killed with SIGINT or SIGKILL leaves no container: the attached stdin that keeps
/// the container alive closes with the process, and the engine removes the container.
#[tokio::test]
async fn killed_process_leaves_no_container() {
    use std::io::BufRead;
    env_image().await;
    for (signal, handler) in [("INT", false), ("KILL", false), ("INT", true)] {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "faults::child_holds_a_sandbox",
                "--nocapture",
            ])
            .env_remove("AGENT_TEST_SIGNAL_CLEANUP")
            .envs(handler.then_some(("AGENT_TEST_SIGNAL_CLEANUP", "1")))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let id = stdout
            .lines()
            .map_while(Result::ok)
            .find_map(|line| line.strip_prefix("READY ").map(str::to_string))
            .expect("the child started a sandbox");
        let docker = engine::connect().await.unwrap();
        let running = docker.inspect_container(&id, None).await.unwrap();
        assert_eq!(
            running.state.and_then(|s| s.running),
            Some(true),
            "{id} runs with its child"
        );
        std::process::Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        let status = child.wait().unwrap();
        if handler {
            // The handler removed the container before exiting with 128 + SIGINT.
            assert_eq!(status.code(), Some(130));
            assert!(
                docker.inspect_container(&id, None).await.is_err(),
                "{id} left by the handler"
            );
        }
        assert!(
            gone_within(&id, 20).await,
            "SIG{signal}: container {id} outlived its process"
        );
    }
}
