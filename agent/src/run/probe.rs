//! What the session may ask of the workspace while it runs, and the guard of `--protect-tests`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use git2::Oid;

use crate::fix::test_integrity;
use crate::session::{EditGuard, WorkspaceProbe};
use crate::workspace::Workspace;

/// The session's view of the workspace: the diff so far (as text to read: the review turn
/// shows it to the model), and which paths are existing tests.
pub(super) struct Probe {
    pub root: PathBuf,
    pub baseline: Oid,
}

impl WorkspaceProbe for Probe {
    fn diff(&self) -> String {
        let Ok(workspace) = Workspace::open(&self.root) else {
            return String::new();
        };
        workspace
            .snapshot()
            .and_then(|tree| workspace.diff_lossy(self.baseline, tree))
            .unwrap_or_default()
    }

    fn changed_files(&self) -> Vec<String> {
        let Ok(workspace) = Workspace::open(&self.root) else {
            return Vec::new();
        };
        workspace
            .snapshot()
            .and_then(|tree| workspace.changed_paths(self.baseline, tree))
            .unwrap_or_default()
    }

    fn is_existing_test(&self, path: &str) -> bool {
        test_integrity::is_test_path(Path::new(path))
            && Workspace::open(&self.root)
                .ok()
                .and_then(|w| w.file_at(self.baseline, path).ok().flatten())
                .is_some()
    }
}

/// Reverts edits to pre-existing test files as they happen (`--protect-tests`).
pub(super) struct TestProtector {
    pub root: PathBuf,
    pub baseline: Oid,
    pub attempted: Mutex<BTreeSet<String>>,
}

impl TestProtector {
    /// The existing test files the run changed or tried to change while they were protected.
    pub fn attempted(&self) -> BTreeSet<String> {
        self.attempted.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

impl EditGuard for TestProtector {
    fn after_edit(&self, changed: &[PathBuf]) -> Option<String> {
        let Ok(workspace) = Workspace::open(&self.root) else {
            return None;
        };
        let mut reverted = Vec::new();
        for path in changed {
            let rel = path.display().to_string();
            if !test_integrity::is_test_path(path) {
                continue;
            }
            let Ok(Some(original)) = workspace.file_at(self.baseline, &rel) else {
                continue;
            };
            if std::fs::write(self.root.join(path), original).is_ok() {
                reverted.push(rel.clone());
                if let Ok(mut a) = self.attempted.lock() {
                    a.insert(rel);
                }
            }
        }
        (!reverted.is_empty()).then(|| {
            format!(
                "Refused: existing test files are protected in this run (--protect-tests), so your change to {} was reverted. Fix the code under test instead; you may add new test files.",
                reverted.join(", ")
            )
        })
    }
}
