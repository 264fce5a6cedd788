//! Persistence keyed by content hash, incremental updates, .gitignore.

use std::path::PathBuf;

use agent_tools::symbols::SymbolIndex;

use super::support::{Repo, python_repo};

#[test]
fn second_open_reparses_nothing_and_changes_are_picked_up() {
    let repo = python_repo();
    let cache = tempfile::tempdir().unwrap();

    let first = SymbolIndex::open(repo.root(), Some(cache.path())).unwrap();
    let stats = first.last_stats().clone();
    assert!(!stats.loaded_from_cache);
    assert_eq!(stats.files, 4, "four Python files; the .txt is not indexed");
    assert_eq!(stats.reparsed_files, 4);
    let cache_file = first.cache_file().unwrap().to_path_buf();
    assert!(cache_file.starts_with(cache.path()));
    assert!(cache_file.exists());
    drop(first);

    let second = SymbolIndex::open(repo.root(), Some(cache.path())).unwrap();
    let stats = second.last_stats();
    assert!(stats.loaded_from_cache);
    assert_eq!(stats.reparsed_files, 0);
    assert_eq!(stats.files, 4);
    assert!(
        second
            .file("pkg/sessions.py")
            .unwrap()
            .defs
            .iter()
            .any(|d| d.name == "Session")
    );
    drop(second);

    // Change one file, delete one, add one: only those are parsed.
    repo.write("pkg/adapters.py", "class RenamedAdapter:\n    pass\n");
    std::fs::remove_file(repo.root().join("tests/test_sessions.py")).unwrap();
    repo.write("pkg/new.py", "def fresh():\n    return 1\n");
    let third = SymbolIndex::open(repo.root(), Some(cache.path())).unwrap();
    let stats = third.last_stats();
    assert!(stats.loaded_from_cache);
    assert_eq!(stats.reparsed_files, 2, "{stats:?}");
    assert_eq!(stats.removed_files, 1);
    assert_eq!(stats.files, 4);
    let adapters = third.file("pkg/adapters.py").unwrap();
    assert_eq!(adapters.defs[0].name, "RenamedAdapter");
    assert!(third.file("tests/test_sessions.py").is_none());
    assert!(third.file("pkg/new.py").is_some());
}

#[test]
fn a_corrupt_cache_is_rebuilt() {
    let repo = python_repo();
    let cache = tempfile::tempdir().unwrap();
    let index = SymbolIndex::open(repo.root(), Some(cache.path())).unwrap();
    let cache_file = index.cache_file().unwrap().to_path_buf();
    drop(index);
    std::fs::write(&cache_file, b"not an index").unwrap();
    let index = SymbolIndex::open(repo.root(), Some(cache.path())).unwrap();
    assert!(!index.last_stats().loaded_from_cache);
    assert_eq!(index.last_stats().reparsed_files, 4);
}

#[test]
fn update_files_reparses_only_what_changed() {
    let repo = python_repo();
    let cache = tempfile::tempdir().unwrap();
    let mut index = SymbolIndex::open(repo.root(), Some(cache.path())).unwrap();

    repo.write(
        "pkg/adapters.py",
        "class BaseAdapter:\n    def send(self, request):\n        raise NotImplementedError\n\n    def mount(self, prefix):\n        pass\n",
    );
    let changed = vec![
        PathBuf::from("pkg/adapters.py"),
        PathBuf::from("pkg/sessions.py"),
    ];
    let stats = index.update_files(&changed);
    assert_eq!(
        stats.reparsed_files, 1,
        "sessions.py is unchanged: {stats:?}"
    );
    let mount = index
        .file("pkg/adapters.py")
        .unwrap()
        .defs
        .iter()
        .find(|d| d.name == "mount")
        .unwrap();
    assert_eq!((mount.line, mount.container.as_str()), (5, "BaseAdapter"));

    std::fs::remove_file(repo.root().join("pkg/adapters.py")).unwrap();
    let stats = index.update_files(&[PathBuf::from("pkg/adapters.py")]);
    assert_eq!(stats.removed_files, 1);
    assert!(index.file("pkg/adapters.py").is_none());

    // The stored index has the update: a fresh open re-parses nothing.
    drop(index);
    let reopened = SymbolIndex::open(repo.root(), Some(cache.path())).unwrap();
    assert_eq!(reopened.last_stats().reparsed_files, 0);
    assert!(reopened.file("pkg/adapters.py").is_none());
}

#[test]
fn gitignored_hidden_minified_and_huge_files_are_skipped() {
    let repo = Repo::new(&[
        (".gitignore", "build/\n"),
        ("build/gen.py", "def generated():\n    pass\n"),
        (".hidden/secret.py", "def hidden():\n    pass\n"),
        ("static/app.min.js", "function a(){}\n"),
        ("src/app.js", "function real() {}\n"),
    ]);
    repo.write("src/huge.py", &"x = 1\n".repeat(200_000));
    let index = repo.index();
    let paths: Vec<&str> = index.files().iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, vec!["src/app.js"]);
}

#[test]
fn stale_stored_indexes_of_other_roots_are_pruned() {
    let repo = python_repo();
    let cache = tempfile::tempdir().unwrap();
    let old = cache.path().join("0123456789abcdef");
    let recent = cache.path().join("fedcba9876543210");
    for dir in [&old, &recent] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("index.bin"), b"x").unwrap();
    }
    let month_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(30 * 24 * 3600);
    std::fs::File::options()
        .write(true)
        .open(old.join("index.bin"))
        .unwrap()
        .set_modified(month_ago)
        .unwrap();
    let index = SymbolIndex::open(repo.root(), Some(cache.path())).unwrap();
    assert!(!old.exists(), "an index unused for a month is deleted");
    assert!(recent.exists(), "a recent one stays");
    assert!(index.cache_file().unwrap().exists());
}
