//! The security suite: the real `agent` binary against the scripted model server, one test per
//! attack from a repository, an issue or a model we do not trust. Each asserts that the attack
//! fails and that the user is told.

#[path = "security/config.rs"]
mod config;
#[path = "security/git.rs"]
mod git;
#[path = "security/hangs.rs"]
mod hangs;
#[path = "security/record.rs"]
mod record;
#[path = "security/replay.rs"]
mod replay;
#[path = "security/secrets.rs"]
mod secrets;

use std::path::{Path, PathBuf};
use std::process::Output;

use agent_tests::fixtures::{STATS_FILES, STATS_ISSUE, git_repo, run_agent};
use agent_tests::{Reply, ScriptedServer};
use serde_json::Value;

/// The model's edit that fixes the stats bug.
pub fn fixing_edit() -> Reply {
    Reply::tool(
        "str_replace",
        serde_json::json!({"path": "stats/core.py", "old_str": agent_tests::fixtures::STATS_BUG, "new_str": agent_tests::fixtures::STATS_FIX}),
    )
}

/// A fixture repository with the stats project.
pub fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git_repo(dir.path(), STATS_FILES).unwrap();
    dir
}

/// One scripted run of `agent fix` in `repo` (local sandbox unless `extra` says otherwise).
pub struct Run {
    pub out: Output,
    pub server: ScriptedServer,
    pub trajectory: PathBuf,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    /// Every byte the model was sent, over all requests.
    pub fn sent_to_model(&self) -> String {
        serde_json::to_string(&self.server.requests()).unwrap()
    }

    pub fn trajectory_text(&self) -> String {
        std::fs::read_to_string(&self.trajectory).unwrap_or_default()
    }

    pub fn events(&self) -> Vec<Value> {
        self.trajectory_text()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The observation text sent back for each tool call, in order.
    pub fn observations(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter(|e| e["event"] == "observation")
            .map(|e| e["text"].as_str().unwrap_or("").to_string())
            .collect()
    }

    pub fn exit_reason(&self) -> String {
        self.events()
            .iter()
            .find(|e| e["event"] == "end")
            .map(|e| e["exit_reason"].as_str().unwrap_or("").to_string())
            .unwrap_or_default()
    }
}

/// Runs `agent fix` with `script`, the trajectory at `trajectory` (default: the repository's own
/// `.agent/` folder, found after the run), `extra` flags and `env`.
pub fn fix(
    repo: &Path,
    script: Vec<Reply>,
    trajectory: Option<&Path>,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let server = ScriptedServer::start(script).unwrap();
    let base = server.base_url();
    let mut args = vec!["fix", "--issue-text", STATS_ISSUE, "--base-url", &base];
    let traj_arg;
    if let Some(t) = trajectory {
        traj_arg = t.display().to_string();
        args.extend(["--trajectory", &traj_arg]);
    }
    args.extend(extra);
    let out = run_agent(repo, &args, env).unwrap();
    let trajectory = match trajectory {
        Some(t) => t.to_path_buf(),
        None => newest_trajectory(repo),
    };
    Run {
        out,
        server,
        trajectory,
    }
}

fn newest_trajectory(repo: &Path) -> PathBuf {
    let dir = repo.join(".agent/trajectories");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files.pop().unwrap_or(dir.join("missing.jsonl"))
}

/// The commit HEAD points at, and the branch it is on.
pub fn head(repo: &Path) -> (String, String) {
    let r = git2::Repository::open(repo).unwrap();
    let head = r.head().unwrap();
    (
        head.peel_to_commit().unwrap().id().to_string(),
        head.shorthand().unwrap_or("").to_string(),
    )
}
