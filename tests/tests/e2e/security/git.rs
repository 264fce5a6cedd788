//! `.git`: out of the tools' reach; commands cannot change config, hooks, HEAD or refs, and the
//! user's branch never moves without `--commit`.

use agent_tests::Reply;
use agent_tests::fixtures::STATS_FIX;
use serde_json::json;

use super::{fix, fixing_edit, head, repo};

#[test]
fn file_tools_refuse_the_git_directory_even_through_a_symlink() {
    let repo = repo();
    std::os::unix::fs::symlink(".git/config", repo.path().join("notes.txt")).unwrap();
    let config_before = std::fs::read_to_string(repo.path().join(".git/config")).unwrap();
    let scratch_traj = tempfile::tempdir().unwrap();
    let traj = scratch_traj.path().join("t-git-tools.jsonl");
    let run = fix(
        repo.path(),
        vec![
            Reply::tool(
                "str_replace",
                json!({"path": ".git/config", "old_str": "[core]", "new_str": "[core]\n\tfsmonitor = touch /nonexistent/agent-pwned"}),
            ),
            Reply::tool(
                "create_file",
                json!({"path": ".git/hooks/post-checkout", "content": "#!/bin/sh\ntouch /nonexistent/agent-pwned\n"}),
            ),
            Reply::tool("view_file", json!({"path": "notes.txt"})),
            fixing_edit(),
            Reply::tool("submit", json!({"summary": "done"})),
        ],
        Some(&traj),
        &["--allow-dirty"],
        &[],
    );
    assert!(run.out.status.success(), "{}", run.stderr());
    assert_eq!(
        std::fs::read_to_string(repo.path().join(".git/config")).unwrap(),
        config_before
    );
    assert!(!repo.path().join(".git/hooks/post-checkout").exists());
    let observations = run.observations();
    assert_eq!(observations.len(), 5);
    for text in &observations[..3] {
        assert!(text.contains("may not touch"), "{text}");
    }
}

#[test]
fn commands_cannot_plant_git_config_hooks_or_move_the_branch_in_local_mode() {
    let repo = repo();
    let (commit_before, branch_before) = head(repo.path());
    let config_before = std::fs::read_to_string(repo.path().join(".git/config")).unwrap();
    // What the planted config and hook would do to the user: create this file.
    let scratch = tempfile::tempdir().unwrap();
    let marker = scratch.path().join("pwned");
    let attack = format!(
        "git config core.fsmonitor 'touch {m}'; \
         printf '#!/bin/sh\\ntouch {m}\\n' > .git/hooks/pre-commit; chmod +x .git/hooks/pre-commit; \
         git -c user.name=m -c user.email=m@m commit -qam 'model commit'; \
         git checkout -q -b model-branch; git stash list; echo done",
        m = marker.display()
    );
    let run = fix(
        repo.path(),
        vec![
            fixing_edit(),
            Reply::tool("run", json!({"command": attack})),
            Reply::tool("submit", json!({"summary": "fixed"})),
        ],
        None,
        &[],
        &[],
    );
    assert!(run.out.status.success(), "{}", run.stderr());
    assert_eq!(
        head(repo.path()),
        (commit_before, branch_before),
        "the branch moved"
    );
    assert_eq!(
        std::fs::read_to_string(repo.path().join(".git/config")).unwrap(),
        config_before
    );
    assert!(!repo.path().join(".git/hooks/pre-commit").exists());
    assert!(!repo.path().join(".git/refs/heads/model-branch").exists());
    // The user's own git commands afterwards run nothing the model planted.
    let _ = std::fs::remove_file(&marker);
    for args in [
        &["status"][..],
        &[
            "-c",
            "user.name=u",
            "-c",
            "user.email=u@u",
            "commit",
            "-qam",
            "user",
        ][..],
    ] {
        std::process::Command::new("git")
            .args(args)
            .current_dir(repo.path())
            .output()
            .unwrap();
    }
    assert!(!marker.exists(), "a planted command ran in the user's git");
    // The model and the user are both told; the fix itself is still the diff.
    assert!(
        run.observations()[1].contains("put back"),
        "{:?}",
        run.observations()
    );
    assert!(run.stderr().contains(".git/config"), "{}", run.stderr());
    assert!(
        run.stdout().contains(&format!("+{STATS_FIX}")),
        "{}",
        run.stdout()
    );
}

#[test]
fn in_the_docker_sandbox_git_and_the_records_are_read_only_but_history_is_readable() {
    let repo = repo();
    let before = head(repo.path());
    let config_before = std::fs::read_to_string(repo.path().join(".git/config")).unwrap();
    let attack = "git config core.fsmonitor 'touch /tmp/pwned' 2>&1; \
                  echo '#!/bin/sh' > .git/hooks/pre-commit 2>&1; \
                  git -c user.name=m -c user.email=m@m commit -qam 'model commit' 2>&1; \
                  rm -rf .agent .git 2>&1; git clean -fdxq 2>&1; echo ---; git log --oneline | head -1; \
                  git show HEAD:README.md | head -1";
    let run = fix(
        repo.path(),
        vec![
            fixing_edit(),
            Reply::tool("run", json!({"command": attack})),
            Reply::tool("submit", json!({"summary": "fixed"})),
        ],
        None,
        &["--sandbox", "docker", "--python", "3.11"],
        &[],
    );
    assert!(run.out.status.success(), "{}", run.stderr());
    let observation = &run.observations()[1];
    assert!(
        observation.contains("Read-only file system"),
        "{observation}"
    );
    assert!(
        observation.contains("initial commit") && observation.contains("# stats"),
        "history must stay readable: {observation}"
    );
    assert_eq!(head(repo.path()), before, "the branch moved");
    assert_eq!(
        std::fs::read_to_string(repo.path().join(".git/config")).unwrap(),
        config_before
    );
    assert!(!repo.path().join(".git/hooks/pre-commit").exists());
    assert_eq!(
        run.exit_reason(),
        "submitted",
        "the trajectory under .agent/ survived"
    );
    assert!(run.stdout().contains(&format!("+{STATS_FIX}")));
}

#[test]
fn a_hostile_repository_symlink_or_a_planted_one_cannot_reach_outside() {
    let repo = repo();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("id_rsa"),
        "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n",
    )
    .unwrap();
    // Committed by the repository's author, pointing at a private key.
    std::os::unix::fs::symlink(outside.path().join("id_rsa"), repo.path().join("notes.md"))
        .unwrap();
    let planted = format!("ln -s {} escape; ls -la escape", outside.path().display());
    let scratch = tempfile::tempdir().unwrap();
    let traj = scratch.path().join("t.jsonl");
    let run = fix(
        repo.path(),
        vec![
            Reply::tool("view_file", json!({"path": "notes.md"})),
            Reply::tool("run", json!({"command": planted})),
            Reply::tool(
                "create_file",
                json!({"path": "escape/authorized_keys", "content": "ssh-ed25519 AAAA attacker\n"}),
            ),
            Reply::tool("submit", json!({"summary": "done"})),
        ],
        Some(&traj),
        &["--allow-dirty"],
        &[],
    );
    assert!(run.out.status.success(), "{}", run.stderr());
    let observations = run.observations();
    assert!(
        observations[0].contains("outside the repository"),
        "{}",
        observations[0]
    );
    assert!(
        observations[2].contains("outside the repository"),
        "{}",
        observations[2]
    );
    assert!(!outside.path().join("authorized_keys").exists());
    assert!(!run.sent_to_model().contains("AAAA\\n"));
}
