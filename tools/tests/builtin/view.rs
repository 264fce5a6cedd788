use serde_json::json;

use super::support::Repo;

#[tokio::test]
async fn view_file_shows_length_and_numbered_window() {
    let repo = Repo::new();
    let body: String = (1..=250).map(|i| format!("line {i}\n")).collect();
    repo.write("src/big.py", &body);
    let out = repo
        .call("view_file", json!({"path": "src/big.py"}))
        .await
        .unwrap();
    assert!(
        out.starts_with("src/big.py (250 lines), lines 1-100\n"),
        "{out}"
    );
    assert!(out.contains("     1\tline 1\n"));
    assert!(out.contains("   100\tline 100\n"));
    assert!(!out.contains("line 101\n"));
    assert!(out.contains("[150 more lines; use start_line=101 to continue]"));

    let out = repo
        .call(
            "view_file",
            json!({"path": "src/big.py", "start_line": 240, "end_line": 400}),
        )
        .await
        .unwrap();
    assert!(out.contains("lines 240-250"), "{out}");
    assert!(out.contains("   250\tline 250\n"));

    let err = repo
        .call(
            "view_file",
            json!({"path": "src/big.py", "start_line": 300}),
        )
        .await
        .unwrap_err();
    assert!(err.contains("has 250 lines"), "{err}");
}

#[tokio::test]
async fn view_file_refuses_binary_files() {
    let repo = Repo::new();
    repo.write("logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    let err = repo
        .call("view_file", json!({"path": "logo.png"}))
        .await
        .unwrap_err();
    assert!(err.contains("`logo.png` is a binary file"), "{err}");
}

#[tokio::test]
async fn view_file_of_a_directory_prints_a_tree_without_ignored_entries() {
    let repo = Repo::new();
    repo.write(".gitignore", "build/\n*.log\n");
    repo.write("pkg/core/models.py", "x = 1\n");
    repo.write("pkg/core/deep/deeper/deepest/leaf.py", "x = 1\n");
    repo.write("pkg/__init__.py", "");
    repo.write("build/out.py", "x = 1\n");
    repo.write("pkg/debug.log", "noise\n");
    std::fs::create_dir_all(repo.path(".git/objects")).unwrap();
    let out = repo.call("view_file", json!({"path": "."})).await.unwrap();
    assert!(out.contains("pkg/\n"), "{out}");
    assert!(out.contains("    models.py\n"), "{out}");
    assert!(out.contains(".gitignore\n"), "{out}");
    assert!(!out.contains("build"), "ignored directory listed: {out}");
    assert!(!out.contains("debug.log"), "ignored file listed: {out}");
    assert!(!out.contains(".git/"), ".git listed: {out}");
    // Depth 3: `pkg/core/deep/` is shown unexpanded with its entry count.
    assert!(out.contains("    deep/  (1 entry)\n"), "{out}");
    assert!(!out.contains("leaf.py"), "{out}");
}

#[tokio::test]
async fn wide_directories_get_a_shallower_tree_and_a_cut_marker() {
    let repo = Repo::new();
    for d in 0..30 {
        for f in 0..20 {
            repo.write(&format!("d{d:02}/f{f:02}.py"), "");
        }
    }
    let out = repo.call("view_file", json!({"path": "."})).await.unwrap();
    assert!(out.contains("tree to depth 1"), "{out}");
    assert!(out.contains("d00/  (20 entries)"), "{out}");
}

#[tokio::test]
async fn a_missing_file_suggests_files_with_the_same_name() {
    let repo = Repo::new();
    repo.write("django/db/models/query.py", "x = 1\n");
    let err = repo
        .call("view_file", json!({"path": "django/models/query.py"}))
        .await
        .unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
    assert!(err.contains("django/db/models/query.py"), "{err}");
}

#[tokio::test]
async fn paths_outside_the_repository_are_refused() {
    let repo = Repo::new();
    let err = repo
        .call("view_file", json!({"path": "../../etc/passwd"}))
        .await
        .unwrap_err();
    assert!(err.contains("outside the repository"), "{err}");
    let err = repo
        .call("view_file", json!({"path": "/etc/passwd"}))
        .await
        .unwrap_err();
    assert!(err.contains("outside the repository"), "{err}");
    std::os::unix::fs::symlink("/etc", repo.path("etc_link")).unwrap();
    let err = repo
        .call("view_file", json!({"path": "etc_link/passwd"}))
        .await
        .unwrap_err();
    assert!(err.contains("symlink"), "{err}");
}

#[tokio::test]
async fn registry_has_the_issue_tools_with_descriptions_and_schemas() {
    let repo = Repo::new();
    let names: Vec<&str> = repo.registry.names().collect();
    for name in [
        "view_file",
        "find_files",
        "grep",
        "str_replace",
        "insert",
        "create_file",
        "apply_patch",
        "run",
        "update_plan",
        "submit",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    for def in repo.registry.openai_definitions() {
        let f = &def["function"];
        assert!(f["description"].as_str().unwrap().len() > 40, "{def}");
        assert_eq!(f["parameters"]["type"], "object", "{def}");
    }
    let grep = repo.registry.get("grep").unwrap().parameters_schema();
    let props = grep["properties"].as_object().unwrap();
    let mut keys: Vec<&str> = props.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["context", "files_only", "literal", "path", "pattern"]
    );
    assert_eq!(grep["required"], json!(["pattern"]));
}
