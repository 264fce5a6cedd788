//! The copied workspace (engines that do not share this host's filesystem), forced on the local
//! engine with `WorkspaceMode::Copy`: the host folder and the container keep seeing each other's
//! changes, protected paths never come back, and the same commands leave the host folder as a
//! bind mount would.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use agent_containers::{DockerSandbox, SandboxConfig, WorkspaceMode};
use agent_tools::{ExecRequest, Executor};

use crate::env_image;

fn request(command: &str) -> ExecRequest {
    ExecRequest::new(command).timeout(Duration::from_secs(60))
}

fn repo(dir: &Path) {
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    std::fs::write(dir.join("pkg/core.py"), "def mean(xs):\n    return 0\n").unwrap();
    std::fs::write(dir.join("README.md"), "# demo\n").unwrap();
    std::fs::write(dir.join("old.txt"), "to be removed\n").unwrap();
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@e")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@e")
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q", "."]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "init"]);
    std::fs::create_dir_all(dir.join(".agent")).unwrap();
}

/// Every path under `dir` except `.git`, with its contents (or link target) and mode.
fn tree(dir: &Path) -> BTreeMap<String, (String, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            if rel == ".git" {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let what = if meta.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                stack.push(path.clone());
                "dir".to_string()
            } else {
                std::fs::read_to_string(&path).unwrap_or_else(|_| "(binary)".into())
            };
            out.insert(rel, (what, meta.permissions().mode() & 0o777));
        }
    }
    out
}

async fn sandbox_over(dir: &Path, mode: WorkspaceMode) -> DockerSandbox {
    let image = env_image().await;
    DockerSandbox::create(
        SandboxConfig::new(image.tag)
            .workspace(dir)
            .workspace_mode(mode)
            .read_only(".git")
            .read_only(".agent"),
    )
    .await
    .expect("creating a sandbox")
}

/// The same steps a run takes: commands that create, change, delete, chmod and link, with
/// host edits (as the file tools make them) in between.
async fn session(sandbox: &DockerSandbox, dir: &Path) -> Vec<String> {
    let mut outputs = Vec::new();
    let mut run = async |command: &str| {
        let out = sandbox.exec(request(command)).await.unwrap();
        assert!(
            out.success() || command.contains("git"),
            "{command}: {out:?}"
        );
        outputs.push(out.stdout);
    };
    run("cat pkg/core.py && ls -a | sort").await;
    std::fs::write(
        dir.join("pkg/core.py"),
        "def mean(xs):\n    return sum(xs) / len(xs)\n",
    )
    .unwrap();
    run("python3 -c 'import pkg.core as c; print(c.mean([1, 2, 3]))'").await;
    run("mkdir -p tests/data && printf 'x = 1\\n' > tests/test_new.py && echo d > tests/data/f && rm old.txt && chmod +x README.md && ln -s pkg/core.py core-link").await;
    std::fs::remove_file(dir.join("README.md")).unwrap();
    std::fs::write(dir.join("pkg/extra.py"), "Y = 2\n").unwrap();
    run("ls README.md 2>&1; cat pkg/extra.py; rm -r tests/data; echo same-size > pkg/extra.py")
        .await;
    run("cat pkg/extra.py && git status --short | sort").await;
    // Changes to protected paths stay in the container.
    run("git config user.name changed-inside; echo planted > .agent/note; true").await;
    outputs
}

#[tokio::test]
async fn a_copied_workspace_keeps_host_and_container_in_step_like_a_bind_mount() {
    let bind_dir = tempfile::tempdir().unwrap();
    let copy_dir = tempfile::tempdir().unwrap();
    repo(bind_dir.path());
    repo(copy_dir.path());

    let bound = sandbox_over(bind_dir.path(), WorkspaceMode::Bind).await;
    assert!(!bound.copies_workspace());
    let bind_outputs = session(&bound, bind_dir.path()).await;
    bound.remove().await.unwrap();

    let copied = sandbox_over(copy_dir.path(), WorkspaceMode::Copy).await;
    assert!(copied.copies_workspace());
    let info = copied
        .docker()
        .inspect_container(copied.id(), None)
        .await
        .unwrap();
    let binds = info.host_config.and_then(|h| h.binds).unwrap_or_default();
    assert!(binds.is_empty(), "no bind mounts: {binds:?}");
    let copy_outputs = session(&copied, copy_dir.path()).await;
    let stats = copied.sync_stats().await.unwrap();
    copied.remove().await.unwrap();

    assert_eq!(copy_outputs, bind_outputs, "commands saw the same files");
    assert!(copy_outputs[1].contains("2.0"), "{copy_outputs:?}");
    assert!(
        copy_outputs[3].contains("No such file"),
        "host deletion reached the container"
    );
    let (bind_tree, copy_tree) = (tree(bind_dir.path()), tree(copy_dir.path()));
    // Protected paths: the bind mount is read-only there (the write failed), the copy drops it.
    assert!(!copy_tree.contains_key(".agent/note"));
    assert_eq!(copy_tree, bind_tree, "the host folder ends the same");
    assert_eq!(copy_tree["core-link"].0, "-> pkg/core.py");
    assert_eq!(copy_tree["pkg/extra.py"].0, "same-size\n");
    assert!(!copy_tree.contains_key("old.txt"));
    assert!(!copy_tree.contains_key("tests/data"));
    let config = std::fs::read_to_string(copy_dir.path().join(".git/config")).unwrap();
    assert!(!config.contains("changed-inside"), "{config}");
    assert!(stats.copied_in >= 5 && stats.copied_out >= 4, "{stats:?}");
}

#[tokio::test]
async fn the_workspace_mode_variable_and_engine_decide_auto() {
    let local =
        agent_containers::EngineAddress::parse("unix:///var/run/docker.sock", &Default::default())
            .unwrap();
    let remote =
        agent_containers::EngineAddress::parse("tcp://10.1.2.3:2375", &Default::default()).unwrap();
    // Tests share the process environment: only read the variable's effect when it is unset.
    if std::env::var_os(agent_containers::WORKSPACE_MODE_VAR).is_none() {
        assert!(!WorkspaceMode::Auto.copies_on(&local).unwrap());
        assert!(WorkspaceMode::Auto.copies_on(&remote).unwrap());
    }
    assert!(WorkspaceMode::Copy.copies_on(&local).unwrap());
    assert!(!WorkspaceMode::Bind.copies_on(&remote).unwrap());
    let err = "sync".parse::<WorkspaceMode>().unwrap_err().to_string();
    assert!(err.contains("copy") && err.contains("bind"), "{err}");
}
