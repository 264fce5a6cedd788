//! The git side of a pull request, through git2: a commit of the agent's tree on top of the
//! commit the run started from, a local branch for it, a push that authenticates only through
//! the credential callback, and putting the user's checkout back as it was.

use std::cell::RefCell;
use std::path::Path;

use git2::build::CheckoutBuilder;
use git2::{Cred, CredentialType, Oid, PushOptions, RemoteCallbacks, Repository, Signature};

use super::{GitHubError, Result};
use crate::workspace::Workspace;

/// Commits `tree` with `parent` as its only parent, without moving any branch or HEAD.
pub fn commit_tree(repo: &Repository, parent: Oid, tree: Oid, message: &str) -> Result<Oid> {
    let tree = repo.find_tree(tree)?;
    let parent = repo.find_commit(parent)?;
    let sig = repo
        .signature()
        .or_else(|_| Signature::now("agent", "agent@localhost"))?;
    Ok(repo.commit(None, &sig, &sig, message, &tree, &[&parent])?)
}

/// What a local branch pointed at before we moved it, so a failed publish can undo the move.
#[derive(Debug, Clone, Copy)]
pub struct BranchUndo {
    previous: Option<Oid>,
}

/// Points the local branch `name` at `commit` (creating or moving it), refusing when it is the
/// branch checked out, since moving it would change the user's working tree under them.
pub fn set_branch(repo: &Repository, name: &str, commit: Oid) -> Result<BranchUndo> {
    let refname = format!("refs/heads/{name}");
    if let Ok(head) = repo.head()
        && head.is_branch()
        && head.name().ok() == Some(refname.as_str())
    {
        return Err(GitHubError::Git(format!(
            "the branch {name} is checked out; switch to the branch the fix should start from (e.g. `git switch main`) and run again"
        )));
    }
    let previous = repo.refname_to_id(&refname).ok();
    let target = repo.find_commit(commit)?;
    repo.branch(name, &target, true)?;
    Ok(BranchUndo { previous })
}

/// Puts the local branch back where it was (or deletes it if we created it).
pub fn undo_branch(repo: &Repository, name: &str, undo: BranchUndo) -> Result<()> {
    let refname = format!("refs/heads/{name}");
    match undo.previous {
        Some(oid) => {
            repo.reference(&refname, oid, true, "agent: undo a failed publish")?;
        }
        None => {
            if let Ok(mut reference) = repo.find_reference(&refname) {
                reference.delete()?;
            }
        }
    }
    Ok(())
}

/// Pushes `refspec` to `url`. Credentials for HTTP(S) come from `token` through git2's callback
/// only: they never enter the URL, the repository's config, or any file.
///
/// A refusal by the server (a protected branch, a failing pre-receive hook) is an error that
/// carries the server's messages.
pub fn push(repo: &Repository, url: &str, refspec: &str, token: Option<&str>) -> Result<()> {
    let branch = refspec
        .rsplit(':')
        .next()
        .unwrap_or(refspec)
        .trim_start_matches("refs/heads/")
        .to_string();
    let rejected: RefCell<Vec<String>> = RefCell::new(Vec::new());
    let remote_messages: RefCell<String> = RefCell::new(String::new());
    let auth_attempts = RefCell::new(0u32);
    let result = {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(|_url, _username, allowed| {
            let mut attempts = auth_attempts.borrow_mut();
            *attempts += 1;
            match token {
                // A second request means the first token was refused; stop instead of looping.
                Some(token) if *attempts == 1 && allowed.contains(CredentialType::USER_PASS_PLAINTEXT) => {
                    Cred::userpass_plaintext("x-access-token", token)
                }
                Some(_) if *attempts > 1 => Err(git2::Error::from_str(
                    "the server refused the GITHUB_TOKEN for pushing; the token needs contents: write",
                )),
                Some(_) => Err(git2::Error::from_str(
                    "the remote asks for credentials other than a username and password; push over HTTPS (--push-url https://…)",
                )),
                None => Err(git2::Error::from_str(
                    "the remote asks for credentials and GITHUB_TOKEN is not set",
                )),
            }
        });
        callbacks.push_update_reference(|refname, status| {
            if let Some(message) = status {
                rejected.borrow_mut().push(format!("{refname}: {message}"));
            }
            Ok(())
        });
        callbacks.sideband_progress(|data| {
            remote_messages
                .borrow_mut()
                .push_str(&String::from_utf8_lossy(data));
            true
        });
        let mut options = PushOptions::new();
        options.remote_callbacks(callbacks);
        let mut remote = repo.remote_anonymous(url)?;
        remote.push(&[refspec], Some(&mut options))
    };
    let remote_text = remote_messages
        .into_inner()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let with_remote = |mut message: String| {
        if !remote_text.is_empty() {
            message.push_str(&format!(" (remote said: {remote_text})"));
        }
        message
    };
    if let Err(e) = result {
        return Err(GitHubError::Push {
            url: url.to_string(),
            branch,
            message: with_remote(e.message().to_string()),
        });
    }
    let rejected = rejected.into_inner();
    if !rejected.is_empty() {
        return Err(GitHubError::PushRejected {
            url: url.to_string(),
            branch,
            message: with_remote(rejected.join("; ")),
        });
    }
    Ok(())
}

/// Deletes `branch` on the remote (used to undo a push when the pull request cannot be opened).
pub fn delete_remote_branch(
    repo: &Repository,
    url: &str,
    branch: &str,
    token: Option<&str>,
) -> Result<()> {
    push(repo, url, &format!(":refs/heads/{branch}"), token)
}

/// Puts the working tree back to the commit the run started from: files the run changed get
/// their committed content again, files it created are removed. Only paths that differ from
/// `HEAD` are touched, and the run refused to start on a dirty tree, so nothing of the user's
/// is lost. Returns the paths restored.
pub fn restore_checkout(workspace: &Workspace) -> Result<Vec<String>> {
    let dirty = workspace
        .dirty_paths()
        .map_err(|e| GitHubError::Git(e.to_string()))?;
    if dirty.is_empty() {
        return Ok(dirty);
    }
    let repo = workspace.repository();
    let head_tree = repo.head()?.peel_to_tree()?;
    let mut checkout = CheckoutBuilder::new();
    checkout.force().disable_pathspec_match(true);
    let mut any_tracked = false;
    for path in &dirty {
        if head_tree.get_path(Path::new(path)).is_ok() {
            checkout.path(path);
            any_tracked = true;
        } else {
            remove_created(workspace.root(), Path::new(path))?;
        }
    }
    if any_tracked {
        repo.checkout_head(Some(&mut checkout))?;
    }
    Ok(dirty)
}

/// Removes a file the run created, then its parent directories if they became empty.
fn remove_created(root: &Path, relative: &Path) -> Result<()> {
    let full = root.join(relative);
    let io = |e: std::io::Error| {
        GitHubError::Git(format!(
            "cannot remove {} created by the run: {e}",
            full.display()
        ))
    };
    match std::fs::symlink_metadata(&full) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&full).map_err(io)?,
        Ok(_) => std::fs::remove_file(&full).map_err(io)?,
        Err(_) => return Ok(()),
    }
    let mut dir = full.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) {
            break;
        }
        if std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_with_commit(dir: &Path) -> (Repository, Oid) {
        let repo = Repository::init(dir).unwrap();
        std::fs::write(dir.join("a.txt"), "one\n").unwrap();
        let oid = {
            let mut index = repo.index().unwrap();
            index.add_path(Path::new("a.txt")).unwrap();
            index.write().unwrap();
            let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
            let sig = Signature::now("t", "t@t").unwrap();
            repo.commit(Some("HEAD"), &sig, &sig, "init", &tree, &[])
                .unwrap()
        };
        (repo, oid)
    }

    #[test]
    fn restore_puts_back_edits_and_removes_new_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let (_repo, _) = repo_with_commit(dir.path());
        let ws = Workspace::open(dir.path()).unwrap();
        std::fs::write(dir.path().join("a.txt"), "two\n").unwrap();
        std::fs::create_dir_all(dir.path().join("new/deep")).unwrap();
        std::fs::write(dir.path().join("new/deep/b.txt"), "b\n").unwrap();
        std::fs::create_dir_all(dir.path().join(".agent")).unwrap();
        std::fs::write(dir.path().join(".agent/keep.jsonl"), "{}\n").unwrap();
        let restored = restore_checkout(&ws).unwrap();
        assert_eq!(restored.len(), 2, "{restored:?}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
            "one\n"
        );
        assert!(!dir.path().join("new").exists());
        assert!(dir.path().join(".agent/keep.jsonl").exists());
        ws.ensure_clean().unwrap();
    }

    #[test]
    fn branches_move_and_undo_and_refuse_the_checked_out_one() {
        let dir = tempfile::tempdir().unwrap();
        let (repo, base) = repo_with_commit(dir.path());
        let tree = repo.find_commit(base).unwrap().tree_id();
        let commit = commit_tree(&repo, base, tree, "agent: change").unwrap();
        assert_eq!(
            repo.find_commit(commit).unwrap().parent_id(0).unwrap(),
            base
        );
        assert_eq!(
            repo.head().unwrap().target(),
            Some(base),
            "HEAD did not move"
        );
        let undo = set_branch(&repo, "agent/issue-1-x", commit).unwrap();
        assert_eq!(
            repo.refname_to_id("refs/heads/agent/issue-1-x").unwrap(),
            commit
        );
        undo_branch(&repo, "agent/issue-1-x", undo).unwrap();
        assert!(repo.refname_to_id("refs/heads/agent/issue-1-x").is_err());
        let current = repo.head().unwrap().shorthand().unwrap().to_string();
        let err = set_branch(&repo, &current, commit).unwrap_err().to_string();
        assert!(err.contains("checked out"), "{err}");
    }
}
