use serde_json::json;

use super::support::Repo;

const MODULE: &str = "import os\n\n\ndef load(path):\n    with open(path) as f:\n        return f.read()\n\n\ndef save(path, data):\n    with open(path, \"w\") as f:\n        f.write(data)\n";

#[tokio::test]
async fn str_replace_success_shows_a_numbered_snippet_and_reports_the_change() {
    let repo = Repo::new();
    repo.write("io_utils.py", MODULE);
    let out = repo
        .output(
            "str_replace",
            json!({"path": "io_utils.py", "old_str": "        return f.read()", "new_str": "        data = f.read()\n        return data.strip()"}),
        )
        .await
        .unwrap();
    assert!(
        out.text
            .starts_with("Edited `io_utils.py`: replaced line 6 with 2 lines.\n"),
        "{}",
        out.text
    );
    assert!(
        out.text
            .contains("     6\t        data = f.read()\n     7\t        return data.strip()\n"),
        "{}",
        out.text
    );
    assert!(
        out.text.contains("     4\tdef load(path):\n"),
        "{}",
        out.text
    );
    assert_eq!(
        out.changed_files,
        vec![std::path::PathBuf::from("io_utils.py")]
    );
    assert!(repo.read("io_utils.py").contains("return data.strip()\n"));
}

#[tokio::test]
async fn str_replace_with_several_matches_lists_each_line() {
    let repo = Repo::new();
    repo.write("io_utils.py", MODULE);
    let err = repo
        .call(
            "str_replace",
            json!({"path": "io_utils.py", "old_str": "with open(path", "new_str": "x"}),
        )
        .await
        .unwrap_err();
    assert!(err.contains("occurs 2 times"), "{err}");
    assert!(err.contains("     5\t    with open(path) as f:"), "{err}");
    assert!(
        err.contains("    10\t    with open(path, \"w\") as f:"),
        "{err}"
    );
    assert_eq!(repo.read("io_utils.py"), MODULE);
}

#[tokio::test]
async fn str_replace_miss_shows_the_most_similar_region_and_first_difference() {
    let repo = Repo::new();
    repo.write("io_utils.py", MODULE);
    let err = repo
        .call(
            "str_replace",
            json!({"path": "io_utils.py", "old_str": "def save(path, data):\n    with open(path, \"wb\") as f:\n        f.write(data)", "new_str": "pass"}),
        )
        .await
        .unwrap_err();
    assert!(err.contains("most similar region is lines 9-11"), "{err}");
    assert!(
        err.contains("first difference is at line 10 (text differs)"),
        "{err}"
    );
    assert!(
        err.contains(r#"file:    "    with open(path, \"w\") as f:""#),
        "{err}"
    );
    assert_eq!(repo.read("io_utils.py"), MODULE);
}

#[tokio::test]
async fn str_replace_tolerates_wrong_indentation_and_smart_quotes() {
    let repo = Repo::new();
    repo.write("io_utils.py", MODULE);
    let out = repo
        .call(
            "str_replace",
            json!({"path": "io_utils.py", "old_str": "with open(path, \u{201C}w\u{201D}) as f:\n    f.write(data)", "new_str": "with open(path, \u{201C}w\u{201D}) as f:\n    f.write(data)\n    f.flush()"}),
        )
        .await
        .unwrap();
    assert!(out.contains("normalising quotes"), "{out}");
    assert!(
        repo.read("io_utils.py").ends_with(
            "    with open(path, \"w\") as f:\n        f.write(data)\n        f.flush()\n"
        ),
        "{}",
        repo.read("io_utils.py")
    );
}

#[tokio::test]
async fn insert_at_top_middle_and_end() {
    let repo = Repo::new();
    repo.write("a.txt", "one\ntwo\n");
    let out = repo
        .call(
            "insert",
            json!({"path": "a.txt", "line": 0, "text": "zero"}),
        )
        .await
        .unwrap();
    assert!(
        out.starts_with("Inserted 1 line into `a.txt` as line 1.\n"),
        "{out}"
    );
    repo.call(
        "insert",
        json!({"path": "a.txt", "line": 2, "text": "one and a half\n"}),
    )
    .await
    .unwrap();
    repo.call(
        "insert",
        json!({"path": "a.txt", "line": 4, "text": "three\nfour"}),
    )
    .await
    .unwrap();
    assert_eq!(
        repo.read("a.txt"),
        "zero\none\none and a half\ntwo\nthree\nfour\n"
    );
    let err = repo
        .call("insert", json!({"path": "a.txt", "line": 9, "text": "x"}))
        .await
        .unwrap_err();
    assert!(err.contains("has 6 lines; use line=6 to append"), "{err}");
}

#[tokio::test]
async fn create_file_makes_parents_and_says_when_it_overwrites() {
    let repo = Repo::new();
    let out = repo
        .call(
            "create_file",
            json!({"path": "pkg/sub/new.py", "content": "x = 1\ny = 2\n"}),
        )
        .await
        .unwrap();
    assert!(
        out.starts_with("Created `pkg/sub/new.py` (2 lines).\n"),
        "{out}"
    );
    assert_eq!(repo.read("pkg/sub/new.py"), "x = 1\ny = 2\n");
    let out = repo
        .call(
            "create_file",
            json!({"path": "pkg/sub/new.py", "content": "z = 3\n"}),
        )
        .await
        .unwrap();
    assert!(
        out.starts_with("Overwrote `pkg/sub/new.py` (it had 2 lines; now 1 line).\n"),
        "{out}"
    );
    assert_eq!(repo.read("pkg/sub/new.py"), "z = 3\n");
}

#[tokio::test]
async fn edits_refuse_binary_files_and_escapes() {
    let repo = Repo::new();
    repo.write("blob.bin", b"ab\0cd");
    let err = repo
        .call(
            "str_replace",
            json!({"path": "blob.bin", "old_str": "ab", "new_str": "x"}),
        )
        .await
        .unwrap_err();
    assert!(err.contains("binary"), "{err}");
    let err = repo
        .call(
            "create_file",
            json!({"path": "../escape.py", "content": "x"}),
        )
        .await
        .unwrap_err();
    assert!(err.contains("outside the repository"), "{err}");
    assert!(!repo.dir.path().parent().unwrap().join("escape.py").exists());
}

#[tokio::test]
async fn syntax_gate_rejects_an_edit_that_breaks_a_clean_file() {
    let repo = Repo::new();
    repo.write("io_utils.py", MODULE);
    let err = repo
        .call("str_replace", json!({"path": "io_utils.py", "old_str": "def save(path, data):", "new_str": "def save(path, data:"}))
        .await
        .unwrap_err();
    assert!(
        err.starts_with(
            "Edit rejected: the edit would introduce a syntax error into `io_utils.py` at line 9"
        ),
        "{err}"
    );
    assert!(err.contains("     9\tdef save(path, data:\n"), "{err}");
    assert!(err.contains("left unchanged"), "{err}");
    assert_eq!(repo.read("io_utils.py"), MODULE);

    let err = repo
        .call(
            "insert",
            json!({"path": "io_utils.py", "line": 6, "text": "    )"}),
        )
        .await
        .unwrap_err();
    assert!(err.contains("syntax error"), "{err}");
    assert_eq!(repo.read("io_utils.py"), MODULE);

    let err = repo
        .call(
            "create_file",
            json!({"path": "broken.py", "content": "def f(:\n    pass\n"}),
        )
        .await
        .unwrap_err();
    assert!(
        err.contains("would be created with a syntax error at line 1"),
        "{err}"
    );
    assert!(!repo.exists("broken.py"));
}

#[tokio::test]
async fn syntax_gate_lets_edits_through_when_the_file_was_already_broken_or_unsupported() {
    let repo = Repo::new();
    repo.write("broken.py", "def f(:\n    pass\n");
    repo.call(
        "str_replace",
        json!({"path": "broken.py", "old_str": "pass", "new_str": "return ("}),
    )
    .await
    .unwrap();
    repo.write("notes.txt", "a\n");
    repo.call(
        "str_replace",
        json!({"path": "notes.txt", "old_str": "a", "new_str": "def f(:"}),
    )
    .await
    .unwrap();
    assert_eq!(repo.read("notes.txt"), "def f(:\n");
}
