//! Property test of the path jail: whatever path a model sends, a path the jail accepts never
//! leads outside the root, through `..`, absolute parts or symlinks.

use std::path::{Component, Path, PathBuf};

use agent_tools::PathJail;
use proptest::prelude::*;

struct Fixture {
    _outer: tempfile::TempDir,
    root: PathBuf,
    jail: PathJail,
}

/// root/ holds dirs, a file, and symlinks leading inside, outside, nowhere and in a loop; the
/// root's parent holds a secret the jail must never reach.
fn fixture() -> Fixture {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("repo");
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::write(root.join("a/f.txt"), "f").unwrap();
    std::fs::write(outer.path().join("secret"), "s").unwrap();
    std::fs::create_dir(outer.path().join("outside")).unwrap();
    let link = |target: &str, at: &str| std::os::unix::fs::symlink(target, root.join(at)).unwrap();
    link("a", "in_link");
    link(outer.path().join("outside").to_str().unwrap(), "out_link");
    link("..", "a/up_link");
    link("../..", "a/escape");
    link("../secret", "secret_link");
    link("/nonexistent-xyz/file", "dangling_out");
    link("a/new-file", "dangling_in");
    link("loop", "loop");
    let jail = PathJail::new(&root).unwrap();
    let root = root.canonicalize().unwrap();
    Fixture {
        _outer: outer,
        root,
        jail,
    }
}

fn component() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a",
        "b",
        "f.txt",
        "new",
        "in_link",
        "out_link",
        "up_link",
        "escape",
        "secret_link",
        "dangling_out",
        "dangling_in",
        "loop",
        "..",
        ".",
        "",
        "secret",
        "outside",
    ])
}

fn input() -> impl Strategy<Value = (u8, Vec<&'static str>)> {
    (0u8..4, prop::collection::vec(component(), 0..7))
}

/// Where the kernel would land for `path`: its deepest existing ancestor, fully resolved.
fn real_location(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    while existing.symlink_metadata().is_err() {
        if !existing.pop() {
            break;
        }
    }
    existing.canonicalize().unwrap_or(existing)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn accepted_paths_never_leave_the_root((prefix, parts) in input()) {
        let fx = fixture();
        let joined = parts.join("/");
        let text = match prefix {
            0 => joined.clone(),
            1 => format!("/{joined}"),
            2 => format!("{}/{joined}", fx.root.display()),
            _ => format!("{}/../{joined}", fx.root.display()),
        };
        if let Ok(resolved) = fx.jail.resolve(&text) {
            prop_assert!(resolved.starts_with(&fx.root), "{text} -> {}", resolved.display());
            prop_assert!(
                resolved.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_))),
                "{text} -> {} keeps . or ..", resolved.display()
            );
            prop_assert!(
                real_location(&resolved).starts_with(&fx.root),
                "{text} -> {} really lands at {}", resolved.display(), real_location(&resolved).display()
            );
            if resolved.exists() {
                prop_assert!(resolved.canonicalize().unwrap().starts_with(&fx.root));
            }
        }
    }

    #[test]
    fn plain_relative_paths_inside_are_accepted(parts in prop::collection::vec("[a-z]{1,6}", 1..5)) {
        let fx = fixture();
        let text = parts.join("/");
        // Skip names that happen to be the fixture's links.
        prop_assume!(!parts.iter().any(|p| ["loop", "escape"].contains(&p.as_str())));
        let resolved = fx.jail.resolve(&text);
        prop_assert!(resolved.is_ok(), "{text}: {resolved:?}");
    }
}
