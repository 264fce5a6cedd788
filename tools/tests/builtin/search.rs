use serde_json::json;

use super::support::Repo;

fn sample_repo() -> Repo {
    let repo = Repo::new();
    repo.write(".gitignore", "generated/\n");
    repo.write(
        "app/models.py",
        "class User:\n    def save(self):\n        return save_all(self)\n",
    );
    repo.write(
        "app/views.py",
        "from .models import User\n\ndef view():\n    User().save()\n",
    );
    repo.write(
        "app/tests/test_models.py",
        "def test_save():\n    assert save_all\n",
    );
    repo.write("generated/models.py", "def save_all(): pass\n");
    repo.write("data.bin", b"save_all\0\0\0binary");
    repo.write(".github/workflows/ci.yml", "run: save_all\n");
    repo
}

#[tokio::test]
async fn find_files_by_glob_skips_ignored_files() {
    let repo = sample_repo();
    let out = repo
        .call("find_files", json!({"pattern": "*.py"}))
        .await
        .unwrap();
    assert!(
        out.starts_with("3 paths match `*.py` under the repository:\n"),
        "{out}"
    );
    assert!(out.contains("app/models.py\n") && out.contains("app/tests/test_models.py\n"));
    assert!(!out.contains("generated/"), "{out}");

    let out = repo
        .call("find_files", json!({"pattern": "test_*.py", "path": "app"}))
        .await
        .unwrap();
    assert!(out.contains("1 path matches"), "{out}");
    assert!(out.contains("app/tests/test_models.py"), "{out}");

    let out = repo
        .call("find_files", json!({"pattern": "app/*.py"}))
        .await
        .unwrap();
    assert!(out.contains("2 paths match"), "{out}");
}

#[tokio::test]
async fn find_files_by_name_fragment_ranks_exact_names_first() {
    let repo = sample_repo();
    repo.write("app/models/__init__.py", "");
    let out = repo
        .call("find_files", json!({"pattern": "models"}))
        .await
        .unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[1], "app/models/", "{out}");
    assert!(out.contains("app/models.py\n") && out.contains("app/tests/test_models.py\n"));
}

#[tokio::test]
async fn find_files_says_when_nothing_matches_and_caps_long_lists() {
    let repo = sample_repo();
    let out = repo
        .call("find_files", json!({"pattern": "*.rs", "path": "app"}))
        .await
        .unwrap();
    assert_eq!(
        out,
        "no files matching `*.rs` under `app` (.gitignored files are not searched)\n"
    );
    for i in 0..130 {
        repo.write(&format!("many/f{i:03}.txt"), "");
    }
    let out = repo
        .call("find_files", json!({"pattern": "*.txt"}))
        .await
        .unwrap();
    assert!(
        out.starts_with("130 paths match `*.txt` under the repository; the first 100:"),
        "{out}"
    );
    assert!(
        out.contains("[30 more not shown; narrow the pattern or the path]"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 102, "{out}");
}

#[tokio::test]
async fn grep_groups_by_file_with_line_numbers_and_skips_ignored_and_binary() {
    let repo = sample_repo();
    let out = repo
        .call("grep", json!({"pattern": "save_all"}))
        .await
        .unwrap();
    assert!(
        out.starts_with("3 matching lines in 3 files for `save_all` in the repository:\n"),
        "{out}"
    );
    assert!(
        out.contains(".github/workflows/ci.yml\n  1: run: save_all\n"),
        "{out}"
    );
    assert!(
        out.contains("app/models.py\n  3:         return save_all(self)\n"),
        "{out}"
    );
    assert!(
        out.contains("app/tests/test_models.py\n  2:     assert save_all\n"),
        "{out}"
    );
    assert!(!out.contains("generated"), "{out}");
    assert!(!out.contains("data.bin"), "{out}");
}

#[tokio::test]
async fn grep_context_files_only_and_path() {
    let repo = sample_repo();
    let out = repo
        .call(
            "grep",
            json!({"pattern": "def save", "path": "app/models.py", "context": 1}),
        )
        .await
        .unwrap();
    assert!(
        out.contains(
            "  1- class User:\n  2:     def save(self):\n  3-         return save_all(self)\n"
        ),
        "{out}"
    );

    let out = repo
        .call(
            "grep",
            json!({"pattern": "save", "files_only": true, "path": "app"}),
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        "3 files in `app` contain `save`:\napp/models.py\napp/tests/test_models.py\napp/views.py\n"
    );
}

#[tokio::test]
async fn grep_invalid_regex_suggests_literal_and_literal_works() {
    let repo = sample_repo();
    let err = repo
        .call("grep", json!({"pattern": "save_all(self"}))
        .await
        .unwrap_err();
    assert!(err.contains("invalid regex"), "{err}");
    assert!(err.contains("literal=true"), "{err}");
    let out = repo
        .call("grep", json!({"pattern": "save_all(self", "literal": true}))
        .await
        .unwrap();
    assert!(out.contains("app/models.py\n  3:"), "{out}");
}

#[tokio::test]
async fn grep_says_when_nothing_matches() {
    let repo = sample_repo();
    let out = repo
        .call("grep", json!({"pattern": "no_such_name", "path": "app"}))
        .await
        .unwrap();
    assert!(
        out.starts_with("no matches for `no_such_name` in `app` (3 files searched"),
        "{out}"
    );
    let out = repo
        .call("grep", json!({"pattern": "save_all(x)"}))
        .await
        .unwrap();
    assert!(out.contains("pass literal=true"), "{out}");
}

#[tokio::test]
async fn grep_caps_output_and_counts_what_was_cut() {
    let repo = Repo::new();
    let body: String = (0..500).map(|i| format!("needle {i}\n")).collect();
    repo.write("big.txt", &body);
    for f in 0..80 {
        repo.write(&format!("many/f{f:02}.txt"), "needle\nneedle\n");
    }
    let out = repo
        .call("grep", json!({"pattern": "needle"}))
        .await
        .unwrap();
    assert!(out.starts_with("660 matching lines in 81 files"), "{out}");
    assert!(out.contains("more matching lines in this file"), "{out}");
    assert!(out.contains("more files with"), "{out}");
    assert!(out.lines().count() < 200, "{} lines", out.lines().count());

    let out = repo
        .call("grep", json!({"pattern": "needle", "path": "big.txt"}))
        .await
        .unwrap();
    // A single file gets the whole budget, and the rest is counted.
    assert!(out.contains("  150: needle 149\n"), "{out}");
    assert!(
        out.contains("[350 more matching lines in this file"),
        "{out}"
    );
}
