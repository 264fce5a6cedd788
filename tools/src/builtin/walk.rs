//! The one directory-walk configuration every search tool shares, so `find_files`, `grep` and
//! the directory tree agree on what "the repository's files" are.

use std::path::Path;

use ignore::WalkBuilder;

/// A walker rooted at `dir` that respects `.gitignore`, `.ignore` and `.git/info/exclude` (also
/// outside a git checkout), shows hidden files such as `.github/` (they matter to a coding
/// agent) but never descends into `.git` itself, and does not follow symlinks, so a walk cannot
/// leave the repository.
pub(crate) fn walker(dir: &Path) -> WalkBuilder {
    let mut builder = WalkBuilder::new(dir);
    builder
        .hidden(false)
        .require_git(false)
        .git_global(false)
        .parents(true)
        .follow_links(false)
        .filter_entry(|entry| {
            let name = entry.file_name();
            // `.git` anywhere (submodules too); `.agent` where the walk starts.
            name != ".git" && (entry.depth() != 1 || name != ".agent")
        });
    builder
}

/// Thread count for parallel walks: all cores, as ripgrep does.
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(12)
}
