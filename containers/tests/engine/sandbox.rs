use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::Duration;

use agent_containers::{Limits, OutputStream, SandboxUser, cleanup};
use agent_tools::{ExecRequest, Executor};

use crate::{gone_within, sandbox};

fn request(command: &str) -> ExecRequest {
    ExecRequest::new(command).timeout(Duration::from_secs(60))
}

#[tokio::test]
async fn exec_reports_exit_code_output_env_and_workdir() {
    let sandbox = sandbox(|c| c.env("FROM_CONFIG", "config-value")).await;
    let mut req = request(
        "mkdir -p sub && cd sub && pwd && echo $FROM_CONFIG $FROM_REQUEST; echo oops >&2; exit 3",
    );
    req.env
        .push(("FROM_REQUEST".into(), "request-value".into()));
    let out = sandbox.exec(req).await.unwrap();
    assert_eq!(out.exit_code, Some(3));
    assert!(!out.timed_out);
    assert_eq!(out.stdout, "/workspace/sub\nconfig-value request-value\n");
    assert_eq!(out.stderr, "oops\n");

    let mut req = request("pwd");
    req.workdir = Some("sub".into());
    assert_eq!(sandbox.exec(req).await.unwrap().stdout, "/workspace/sub\n");
    assert!(sandbox.describe().starts_with("docker:agent-"));
    sandbox.remove().await.unwrap();
}

#[tokio::test]
async fn workspace_is_bind_mounted_and_stays_writable_for_its_owner() {
    // A workspace owned by root (as here) runs commands as root; one owned by uid 1000 as 1000.
    for uid in [0u32, 1000] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("host.txt"), "from the host\n").unwrap();
        std::process::Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{uid}"))
            .arg(dir.path())
            .status()
            .unwrap();
        let sandbox = sandbox(|c| c.workspace(dir.path())).await;
        assert_eq!(sandbox.user(), format!("{uid}:{uid}"));
        let out = sandbox
            .exec(request("id -u && cat host.txt && echo made-inside > inside.txt && git init -q . && git status --short"))
            .await
            .unwrap();
        assert!(out.success(), "{out:?}");
        assert!(
            out.stdout.starts_with(&format!("{uid}\nfrom the host\n")),
            "{out:?}"
        );
        let inside = dir.path().join("inside.txt");
        assert_eq!(std::fs::read_to_string(&inside).unwrap(), "made-inside\n");
        assert_eq!(std::fs::metadata(&inside).unwrap().uid(), uid);
        sandbox.remove().await.unwrap();
    }
}

#[tokio::test]
async fn network_is_off_by_default_and_can_be_turned_on() {
    let probe = "getent hosts pypi.org >/dev/null && echo resolved || echo no-network";
    let offline = sandbox(|c| c).await;
    let out = offline.exec(request(probe)).await.unwrap();
    assert_eq!(out.stdout.trim(), "no-network");
    let online = sandbox(|c| c.network(true)).await;
    let out = online.exec(request(probe)).await.unwrap();
    assert_eq!(out.stdout.trim(), "resolved", "{out:?}");
    offline.remove().await.unwrap();
    online.remove().await.unwrap();
}

#[tokio::test]
async fn limits_are_applied_to_the_container() {
    let limits = Limits {
        memory_bytes: 256 << 20,
        nano_cpus: 500_000_000,
        pids: 64,
    };
    let sandbox = sandbox(|c| c.limits(limits).user(SandboxUser::Named("agent".into()))).await;
    let info = sandbox
        .docker()
        .inspect_container(sandbox.id(), None)
        .await
        .unwrap();
    let host = info.host_config.unwrap();
    assert_eq!(host.memory, Some(256 << 20));
    assert_eq!(host.nano_cpus, Some(500_000_000));
    assert_eq!(host.pids_limit, Some(64));
    assert_eq!(host.network_mode.as_deref(), Some("none"));
    let labels = info.config.unwrap().labels.unwrap();
    assert_eq!(
        labels.get(cleanup::LABEL_MANAGED).map(String::as_str),
        Some("true")
    );
    assert_eq!(
        labels.get(cleanup::LABEL_PID),
        Some(&std::process::id().to_string())
    );
    // The pids limit holds: 100 background sleeps cannot all start.
    let out = sandbox
        .exec(request(
            "id -un; for i in $(seq 100); do sleep 5 & done 2>&1 | tail -n 1; wait",
        ))
        .await
        .unwrap();
    assert!(out.stdout.starts_with("agent\n"), "{out:?}");
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains("fork"), "{all}");
    sandbox.remove().await.unwrap();
}

#[tokio::test]
async fn output_is_capped_keeping_head_and_tail() {
    let sandbox = sandbox(|c| c).await;
    let mut req = request("echo FIRST; seq 1 100000; echo LAST");
    req.output_cap = 2000;
    let out = sandbox.exec(req).await.unwrap();
    assert!(out.success());
    assert!(out.dropped_bytes > 500_000, "{}", out.dropped_bytes);
    assert!(
        out.stdout.starts_with("FIRST\n1\n2\n"),
        "{}",
        &out.stdout[..50]
    );
    assert!(out.stdout.ends_with("99999\n100000\nLAST\n"));
    assert!(out.stdout.contains("bytes dropped"));
    sandbox.remove().await.unwrap();
}

#[tokio::test]
async fn output_lines_stream_while_the_command_runs() {
    let sandbox = Arc::new(sandbox(|c| c).await);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let running = sandbox.clone();
    let task = tokio::spawn(async move {
        running
            .exec_streaming(
                request("echo first; sleep 3; echo err-line >&2; echo second"),
                Some(tx),
            )
            .await
    });
    let first = rx.recv().await.unwrap();
    assert_eq!(first.line, "first");
    assert_eq!(first.stream, OutputStream::Stdout);
    // The first line arrived while the command was still sleeping.
    assert!(!task.is_finished());
    let out = task.await.unwrap().unwrap();
    assert_eq!(out.output.stdout, "first\nsecond\n");
    let mut rest = Vec::new();
    while let Ok(line) = rx.try_recv() {
        rest.push((line.stream, line.line));
    }
    assert!(
        rest.contains(&(OutputStream::Stderr, "err-line".to_string())),
        "{rest:?}"
    );
    assert!(
        rest.contains(&(OutputStream::Stdout, "second".to_string())),
        "{rest:?}"
    );
    sandbox.remove().await.unwrap();
}

#[tokio::test]
async fn files_are_copied_in_and_out() {
    let sandbox = sandbox(|c| c.user(SandboxUser::Named("1000:1000".into()))).await;
    let host = tempfile::tempdir().unwrap();
    let tree = host.path().join("tree");
    std::fs::create_dir_all(tree.join("nested")).unwrap();
    std::fs::write(tree.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(tree.join("nested/b.txt"), "beta\n").unwrap();
    std::os::unix::fs::symlink("a.txt", tree.join("link")).unwrap();
    sandbox.copy_in(&tree, "/tmp").await.unwrap();
    let out = sandbox
        .exec(request("cat /tmp/tree/a.txt /tmp/tree/nested/b.txt && readlink /tmp/tree/link && stat -c %u /tmp/tree/a.txt && echo more >> /tmp/tree/a.txt"))
        .await
        .unwrap();
    assert_eq!(out.stdout, "alpha\nbeta\na.txt\n1000\n", "{out:?}");

    sandbox
        .write_file("/tmp/tree/new.txt", b"written\n", 0o600)
        .await
        .unwrap();
    assert_eq!(
        sandbox.read_file("/tmp/tree/new.txt").await.unwrap(),
        b"written\n"
    );
    let back = tempfile::tempdir().unwrap();
    let copied = sandbox.copy_out("/tmp/tree", back.path()).await.unwrap();
    assert_eq!(copied, back.path().join("tree"));
    assert_eq!(
        std::fs::read_to_string(copied.join("a.txt")).unwrap(),
        "alpha\nmore\n"
    );
    assert_eq!(
        std::fs::read_to_string(copied.join("nested/b.txt")).unwrap(),
        "beta\n"
    );
    assert_eq!(
        std::fs::read_to_string(copied.join("new.txt")).unwrap(),
        "written\n"
    );
    assert!(sandbox.read_file("/tmp/does-not-exist").await.is_err());
    sandbox.remove().await.unwrap();
}

#[tokio::test]
async fn dropping_the_sandbox_removes_its_container() {
    let sandbox = sandbox(|c| c).await;
    let id = sandbox.id().to_string();
    assert!(cleanup::live_containers().contains(&id));
    drop(sandbox);
    assert!(!cleanup::live_containers().contains(&id));
    assert!(
        gone_within(&id, 20).await,
        "container {id} still exists after drop"
    );
}
