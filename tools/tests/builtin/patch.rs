use serde_json::json;

use super::support::Repo;

const APP: &str = "import os\n\n\ndef load(path):\n    with open(path) as f:\n        return f.read()\n\n\ndef save(path, data):\n    with open(path, \"w\") as f:\n        f.write(data)\n";
const UTIL: &str = "def helper():\n    return 1\n";

fn repo() -> Repo {
    let repo = Repo::new();
    repo.write("pkg/app.py", APP);
    repo.write("pkg/util.py", UTIL);
    repo
}

#[tokio::test]
async fn unified_diff_over_two_files_applies_and_reports_snippets() {
    let repo = repo();
    let patch = "diff --git a/pkg/app.py b/pkg/app.py\n--- a/pkg/app.py\n+++ b/pkg/app.py\n@@ -4,3 +4,3 @@ import os\n def load(path):\n-    with open(path) as f:\n+    with open(path, encoding=\"utf-8\") as f:\n         return f.read()\ndiff --git a/pkg/util.py b/pkg/util.py\n--- a/pkg/util.py\n+++ b/pkg/util.py\n@@ -1,2 +1,2 @@\n def helper():\n-    return 1\n+    return 2\n";
    let out = repo
        .output("apply_patch", json!({"patch": patch}))
        .await
        .unwrap();
    assert!(
        out.text.starts_with("Patch applied to 2 files.\n"),
        "{}",
        out.text
    );
    assert!(
        out.text.contains("`pkg/app.py`: 1 hunk applied\n"),
        "{}",
        out.text
    );
    assert!(
        out.text
            .contains("     5\t    with open(path, encoding=\"utf-8\") as f:\n"),
        "{}",
        out.text
    );
    assert_eq!(out.changed_files.len(), 2);
    assert!(repo.read("pkg/app.py").contains("encoding=\"utf-8\""));
    assert_eq!(repo.read("pkg/util.py"), "def helper():\n    return 2\n");
}

#[tokio::test]
async fn a_failing_hunk_leaves_every_file_untouched_and_names_the_candidate() {
    let repo = repo();
    let patch = "--- a/pkg/util.py\n+++ b/pkg/util.py\n@@ -1,2 +1,2 @@\n def helper():\n-    return 1\n+    return 2\n--- a/pkg/app.py\n+++ b/pkg/app.py\n@@ -9,3 +9,3 @@\n def save(path, data):\n-    with open(path, \"wb\") as f:\n+    with open(path, \"xb\") as f:\n         f.write(data)\n";
    let err = repo
        .call("apply_patch", json!({"patch": patch}))
        .await
        .unwrap_err();
    assert!(
        err.starts_with("apply_patch failed; no file was changed.\n"),
        "{err}"
    );
    assert!(
        err.contains("`pkg/app.py` hunk 1 of 1 (`@@ -9,3 +9,3 @@`)"),
        "{err}"
    );
    assert!(err.contains("Closest candidate: lines 9-11"), "{err}");
    assert!(
        err.contains("first difference at file line 10 (text differs)"),
        "{err}"
    );
    assert_eq!(
        repo.read("pkg/util.py"),
        UTIL,
        "the good file must not be written"
    );
    assert_eq!(repo.read("pkg/app.py"), APP);
}

#[tokio::test]
async fn applying_the_same_patch_twice_reports_already_applied() {
    let repo = repo();
    let patch = "--- a/pkg/app.py\n+++ b/pkg/app.py\n@@ -1,3 +1,4 @@\n import os\n+import sys\n \n \n@@ -9,3 +10,4 @@\n def save(path, data):\n     with open(path, \"w\") as f:\n         f.write(data)\n+        f.flush()\n";
    repo.call("apply_patch", json!({"patch": patch}))
        .await
        .unwrap();
    let once = repo.read("pkg/app.py");
    assert!(once.starts_with("import os\nimport sys\n\n"), "{once}");
    assert!(
        once.ends_with("        f.write(data)\n        f.flush()\n"),
        "{once}"
    );
    let out = repo
        .output("apply_patch", json!({"patch": patch}))
        .await
        .unwrap();
    assert_eq!(
        out.text,
        "Nothing changed: everything in the patch is already applied.\n"
    );
    assert!(out.changed_files.is_empty());
    assert_eq!(repo.read("pkg/app.py"), once);
}

#[tokio::test]
async fn partly_applied_patch_applies_the_rest() {
    let repo = repo();
    repo.write("pkg/util.py", "def helper():\n    return 2\n");
    let patch = "--- a/pkg/util.py\n+++ b/pkg/util.py\n@@\n def helper():\n-    return 1\n+    return 2\n+\n+\n+def other():\n+    return 3\n";
    // The first hunk's `-` side is gone and its `+` side is only partly there: a real miss.
    let err = repo
        .call("apply_patch", json!({"patch": patch}))
        .await
        .unwrap_err();
    assert!(err.contains("first difference"), "{err}");
    let patch = "--- a/pkg/util.py\n+++ b/pkg/util.py\n@@\n def helper():\n-    return 1\n+    return 2\n@@\n     return 2\n+\n+\n+def other():\n+    return 3\n";
    let out = repo
        .call("apply_patch", json!({"patch": patch}))
        .await
        .unwrap();
    assert!(out.contains("1 hunk applied; 1 already applied"), "{out}");
    assert!(
        repo.read("pkg/util.py")
            .ends_with("def other():\n    return 3\n")
    );
}

#[tokio::test]
async fn graded_matching_levels_each_apply_with_a_note() {
    let cases = [
        // Trailing whitespace in the patch's context.
        (
            "def load(path):   \n-    with open(path) as f:\n+    with open(path, 'rb') as f:\n",
            "ignoring trailing whitespace",
            "    with open(path, 'rb') as f:\n",
        ),
        // Whole hunk de-indented by 4: re-indented on the way in.
        (
            "-with open(path) as f:\n-    return f.read()\n+with open(path) as fh:\n+    return fh.read()\n",
            "ignoring indentation",
            "    with open(path) as fh:\n        return fh.read()\n",
        ),
        // Smart quotes in context and added lines.
        (
            " with open(path, \u{201C}w\u{201D}) as f:\n-    f.write(data)\n+    f.write(data or \u{201C}\u{201D})\n",
            "normalising quotes",
            "        f.write(data or \"\")\n",
        ),
    ];
    for (body, note, expected) in cases {
        let repo = repo();
        let hunk: String = body
            .lines()
            .map(|l| {
                if l.starts_with(['-', '+', ' ']) {
                    format!("{l}\n")
                } else {
                    format!(" {l}\n")
                }
            })
            .collect();
        let patch = format!("--- a/pkg/app.py\n+++ b/pkg/app.py\n@@\n{hunk}");
        let out = repo
            .call("apply_patch", json!({"patch": patch}))
            .await
            .unwrap();
        assert!(out.contains(note), "{note}: {out}");
        assert!(
            repo.read("pkg/app.py").contains(expected),
            "{note}: {}",
            repo.read("pkg/app.py")
        );
    }
}

#[tokio::test]
async fn create_delete_and_rename_in_one_patch() {
    let repo = repo();
    let patch = "--- /dev/null\n+++ b/pkg/new_mod.py\n@@ -0,0 +1,2 @@\n+VALUE = 1\n+OTHER = 2\n--- a/pkg/util.py\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-def helper():\n-    return 1\ndiff --git a/pkg/app.py b/pkg/core.py\nsimilarity index 90%\nrename from pkg/app.py\nrename to pkg/core.py\n--- a/pkg/app.py\n+++ b/pkg/core.py\n@@ -1,1 +1,1 @@\n-import os\n+import os.path\n";
    let out = repo
        .output("apply_patch", json!({"patch": patch}))
        .await
        .unwrap();
    assert!(
        out.text.contains("`pkg/new_mod.py`: created (2 lines)"),
        "{}",
        out.text
    );
    assert!(out.text.contains("`pkg/util.py`: deleted"), "{}", out.text);
    assert_eq!(repo.read("pkg/new_mod.py"), "VALUE = 1\nOTHER = 2\n");
    assert!(!repo.exists("pkg/util.py"));
    assert!(!repo.exists("pkg/app.py"));
    assert!(repo.read("pkg/core.py").starts_with("import os.path\n"));
    assert_eq!(out.changed_files.len(), 4, "{:?}", out.changed_files);
    // Again: nothing to do.
    let out = repo.call("apply_patch", json!({"patch": patch})).await;
    // The rename source is gone, so the update section cannot be re-applied, but creation and
    // deletion are idempotent.
    assert!(out.is_err() || out.unwrap().contains("already"));
}

#[tokio::test]
async fn codex_style_patch_without_line_numbers() {
    let repo = repo();
    let patch = "*** Begin Patch\n*** Update File: pkg/app.py\n@@ def save(path, data):\n     with open(path, \"w\") as f:\n-        f.write(data)\n+        f.write(data.encode())\n*** Add File: pkg/extra.py\n+X = 1\n*** Delete File: pkg/util.py\n*** End Patch\n";
    repo.call("apply_patch", json!({"patch": patch}))
        .await
        .unwrap();
    assert!(repo.read("pkg/app.py").contains("f.write(data.encode())"));
    assert_eq!(repo.read("pkg/extra.py"), "X = 1\n");
    assert!(!repo.exists("pkg/util.py"));
}

#[tokio::test]
async fn identical_blocks_need_exact_line_numbers() {
    let repo = Repo::new();
    let block = "    if x:\n        return 1\n";
    let text = format!("def a(x):\n{block}\n\ndef b(x):\n{block}");
    repo.write("m.py", &text);
    // Stale numbers near the second block: refused rather than guessed.
    let stale = "--- a/m.py\n+++ b/m.py\n@@ -9,2 +9,2 @@\n     if x:\n-        return 1\n+        return 2\n";
    let err = repo
        .call("apply_patch", json!({"patch": stale}))
        .await
        .unwrap_err();
    assert!(
        err.contains("occur 2 times (starting at lines 2, 7), none of them at line 9"),
        "{err}"
    );
    assert_eq!(repo.read("m.py"), text);
    // Exact numbers pick the second block.
    let exact = stale.replace("@@ -9,2 +9,2 @@", "@@ -7,2 +7,2 @@");
    repo.call("apply_patch", json!({"patch": exact}))
        .await
        .unwrap();
    assert_eq!(
        repo.read("m.py"),
        "def a(x):\n    if x:\n        return 1\n\n\ndef b(x):\n    if x:\n        return 2\n"
    );
}

#[tokio::test]
async fn a_context_line_missing_between_changes_is_restored_from_the_file() {
    let repo = Repo::new();
    repo.write(
        "m.py",
        "def f():\n    a = 1\n    b = 2\n    c = 3\n    d = 4\n    return a\n",
    );
    let patch = "--- a/m.py\n+++ b/m.py\n@@\n def f():\n-    a = 1\n+    a = 10\n     b = 2\n     d = 4\n-    return a\n+    return a + d\n";
    let out = repo
        .call("apply_patch", json!({"patch": patch}))
        .await
        .unwrap();
    assert!(out.contains("missing 1 context line"), "{out}");
    assert_eq!(
        repo.read("m.py"),
        "def f():\n    a = 10\n    b = 2\n    c = 3\n    d = 4\n    return a + d\n"
    );
    let out = repo
        .call("apply_patch", json!({"patch": patch}))
        .await
        .unwrap();
    assert!(out.contains("already applied"), "{out}");
}

#[tokio::test]
async fn curly_quotes_that_break_syntax_are_written_as_ascii() {
    let repo = repo();
    let patch = "--- a/pkg/util.py\n+++ b/pkg/util.py\n@@\n def helper():\n-    return 1\n+    return \u{201C}one\u{201D}\n";
    let out = repo
        .call("apply_patch", json!({"patch": patch}))
        .await
        .unwrap();
    assert!(out.contains("replaced by ASCII"), "{out}");
    assert_eq!(
        repo.read("pkg/util.py"),
        "def helper():\n    return \"one\"\n"
    );
    // Inside a string they are valid code and stay as written.
    let out = repo
        .call(
            "str_replace",
            json!({"path": "pkg/util.py", "old_str": "\"one\"", "new_str": "\"it\u{2019}s\""}),
        )
        .await
        .unwrap();
    assert!(!out.contains("ASCII"), "{out}");
    assert!(repo.read("pkg/util.py").contains("it\u{2019}s"));
    let out = repo
        .call(
            "insert",
            json!({"path": "pkg/util.py", "line": 2, "text": "X = \u{2018}x\u{2019}"}),
        )
        .await
        .unwrap();
    assert!(out.contains("replaced by ASCII"), "{out}");
    assert!(repo.read("pkg/util.py").ends_with("X = 'x'\n"));
}

#[tokio::test]
async fn a_patch_that_breaks_syntax_is_rejected_whole() {
    let repo = repo();
    let patch = "--- a/pkg/util.py\n+++ b/pkg/util.py\n@@\n def helper():\n-    return 1\n+    return 2\n--- a/pkg/app.py\n+++ b/pkg/app.py\n@@\n-def load(path):\n+def load(path:\n";
    let err = repo
        .call("apply_patch", json!({"patch": patch}))
        .await
        .unwrap_err();
    assert!(
        err.starts_with("apply_patch rejected; no file was changed.\n"),
        "{err}"
    );
    assert!(err.contains("`pkg/app.py` at line 4"), "{err}");
    assert_eq!(repo.read("pkg/util.py"), UTIL);
    assert_eq!(repo.read("pkg/app.py"), APP);
}

#[tokio::test]
async fn patch_paths_are_jailed() {
    let repo = repo();
    let patch = "--- /dev/null\n+++ b/../evil.py\n@@ -0,0 +1 @@\n+x = 1\n";
    let err = repo
        .call("apply_patch", json!({"patch": patch}))
        .await
        .unwrap_err();
    assert!(err.contains("outside the repository"), "{err}");
    assert!(!repo.dir.path().parent().unwrap().join("evil.py").exists());
}

#[tokio::test]
async fn garbage_is_explained() {
    let repo = repo();
    let err = repo
        .call(
            "apply_patch",
            json!({"patch": "please change helper to return 2"}),
        )
        .await
        .unwrap_err();
    assert!(err.contains("no file sections found"), "{err}");
}

#[tokio::test]
async fn a_missing_line_next_to_added_lines_is_named_not_guessed() {
    let repo = Repo::new();
    let text =
        "FORMATS = [\n    \"%d/%m/%Y\",\n    \"%d/%m\",\n]\nDECIMAL = \",\"\nTHOUSAND = \".\"\n";
    repo.write("f.py", text);
    // `]` is missing: do the comments go before or after it? Refuse and say which line.
    let patch = "--- a/f.py\n+++ b/f.py\n@@ -2,5 +2,7 @@\n     \"%d/%m/%Y\",\n     \"%d/%m\",\n+\n+# Separators.\n DECIMAL = \",\"\n THOUSAND = \".\"\n";
    let err = repo
        .call("apply_patch", json!({"patch": patch}))
        .await
        .unwrap_err();
    assert!(
        err.contains("the hunk's context lacks file line 4 `]`"),
        "{err}"
    );
    assert_eq!(repo.read("f.py"), text);
}

#[tokio::test]
async fn crlf_files_keep_their_line_endings() {
    let repo = Repo::new();
    repo.write("w.py", "a = 1\r\nb = 2\r\nc = 3\r\n");
    let patch = "--- a/w.py\n+++ b/w.py\n@@ -1,3 +1,3 @@\n a = 1\n-b = 2\n+b = 20\n c = 3\n";
    repo.call("apply_patch", json!({"patch": patch}))
        .await
        .unwrap();
    assert_eq!(repo.read("w.py"), "a = 1\r\nb = 20\r\nc = 3\r\n");
}

#[tokio::test]
async fn the_syntax_gate_covers_other_languages() {
    let repo = Repo::new();
    let text = "fn main() {\n    let x = 1;\n    println!(\"{x}\");\n}\n";
    repo.write("src/main.rs", text);
    let patch = "--- a/src/main.rs\n+++ b/src/main.rs\n@@\n fn main() {\n-    let x = 1;\n+    let x = (1;\n";
    let err = repo
        .call("apply_patch", json!({"patch": patch}))
        .await
        .unwrap_err();
    assert!(
        err.contains("syntax error into `src/main.rs` at line 2"),
        "{err}"
    );
    assert_eq!(repo.read("src/main.rs"), text);
}
