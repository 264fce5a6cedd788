//! Reading unified diffs as selection needs them: the files a diff touches, the new files it
//! creates (their content, for reproduction scripts), and a normal form in which equivalent
//! changes compare equal.

/// One file section of a unified diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// The path after the change (before it, for a deletion).
    pub path: String,
    pub new_file: bool,
    pub deleted: bool,
    /// Added lines (without the `+`).
    pub added: Vec<String>,
    /// Removed lines (without the `-`).
    pub removed: Vec<String>,
}

/// The file sections of `diff`, in order.
pub fn file_changes(diff: &str) -> Vec<FileChange> {
    let mut out: Vec<FileChange> = Vec::new();
    let mut in_hunk = false;
    for line in diff.lines() {
        if let Some(rest) = line.strip_prefix("diff --git ") {
            in_hunk = false;
            let path = rest
                .rsplit_once(" b/")
                .map(|(_, b)| b.to_string())
                .unwrap_or_else(|| rest.to_string());
            out.push(FileChange {
                path,
                new_file: false,
                deleted: false,
                added: Vec::new(),
                removed: Vec::new(),
            });
            continue;
        }
        let Some(current) = out.last_mut() else {
            continue;
        };
        if line.starts_with("@@") {
            in_hunk = true;
        } else if !in_hunk {
            if line.starts_with("new file mode") {
                current.new_file = true;
            } else if line.starts_with("deleted file mode") {
                current.deleted = true;
            } else if let Some(path) = line.strip_prefix("+++ b/") {
                current.path = path.to_string();
            }
        } else if let Some(added) = line.strip_prefix('+') {
            current.added.push(added.to_string());
        } else if let Some(removed) = line.strip_prefix('-') {
            current.removed.push(removed.to_string());
        }
    }
    out
}

/// The paths a diff changes.
pub fn changed_paths(diff: &str) -> Vec<String> {
    file_changes(diff).into_iter().map(|c| c.path).collect()
}

/// The files `diff` creates, with their content, when the diff holds it as text.
pub fn new_files(diff: &str) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut current: Option<(String, String, bool)> = None;
    let mut in_hunk = false;
    for line in diff.lines() {
        if line.starts_with("diff --git ") {
            if let Some((path, text, true)) = current.take() {
                files.push((path, text));
            }
            current = Some((String::new(), String::new(), false));
            in_hunk = false;
            continue;
        }
        let Some((path, text, is_new)) = current.as_mut() else {
            continue;
        };
        if line.starts_with("@@") {
            in_hunk = true;
        } else if !in_hunk {
            if line.starts_with("new file mode") {
                *is_new = true;
            } else if let Some(p) = line.strip_prefix("+++ b/") {
                *path = p.to_string();
            }
        } else if let Some(added) = line.strip_prefix('+') {
            text.push_str(added);
            text.push('\n');
        } else if line.starts_with("\\ No newline") && text.ends_with('\n') {
            text.pop();
        }
    }
    if let Some((path, text, true)) = current {
        files.push((path, text));
    }
    files.retain(|(path, _)| !path.is_empty());
    files
}

/// A normal form of a diff: per file (in path order), its removed and added lines with
/// whitespace collapsed, blank lines, context, hunk headers and index lines left out. Two
/// diffs with the same normal form make the same change.
pub fn normalise(diff: &str) -> String {
    let mut changes = file_changes(diff);
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    let squash = |l: &String| l.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::new();
    for change in changes {
        let removed: Vec<String> = change
            .removed
            .iter()
            .map(squash)
            .filter(|l| !l.is_empty())
            .collect();
        let added: Vec<String> = change
            .added
            .iter()
            .map(squash)
            .filter(|l| !l.is_empty())
            .collect();
        if removed.is_empty() && added.is_empty() && !change.new_file && !change.deleted {
            continue;
        }
        out.push_str(&format!("file {}\n", change.path));
        for l in removed {
            out.push_str(&format!("-{l}\n"));
        }
        for l in added {
            out.push_str(&format!("+{l}\n"));
        }
    }
    out
}

/// Lines added plus lines removed: the size of a change.
pub fn changed_lines(diff: &str) -> usize {
    file_changes(diff)
        .iter()
        .map(|c| c.added.len() + c.removed.len())
        .sum()
}

/// Applies `diff` to the checkout at `root` with `git apply` (all or nothing, as SWE-bench
/// applies predictions). `Err` holds git's reason.
pub async fn apply(root: &std::path::Path, diff: &str) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("git")
        .args(["apply", "--whitespace=nowarn", "-"])
        .current_dir(root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git apply: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(diff.as_bytes())
            .await
            .map_err(|e| format!("cannot give the diff to git apply: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| format!("git apply did not finish: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let reason = String::from_utf8_lossy(&output.stderr);
    let reason: Vec<&str> = reason
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(3)
        .collect();
    Err(reason.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "diff --git a/stats/core.py b/stats/core.py\nindex 1111111..2222222 100644\n--- a/stats/core.py\n+++ b/stats/core.py\n@@ -6,4 +6,4 @@ def mean(values):\n     total = sum(values)\n-    return total / (len(values) + 1)\n+    return total / len(values)\n \n";
    const A_SPACED: &str = "diff --git a/stats/core.py b/stats/core.py\nindex 1111111..3333333 100644\n--- a/stats/core.py\n+++ b/stats/core.py\n@@ -5,6 +5,7 @@ def mean(values):\n     \"\"\"doc\"\"\"\n     total = sum(values)\n-    return total / (len(values) + 1)\n+    return total  /  len(values)\n+\n \n";
    const B: &str = "diff --git a/stats/core.py b/stats/core.py\n--- a/stats/core.py\n+++ b/stats/core.py\n@@ -6,4 +6,4 @@\n-    return total / (len(values) + 1)\n+    return sum(values) / len(values)\n";
    const NEW: &str = "diff --git a/repro.py b/repro.py\nnew file mode 100644\nindex 0000000..1234567\n--- /dev/null\n+++ b/repro.py\n@@ -0,0 +1,2 @@\n+from stats import mean\n+assert mean([1, 2, 3]) == 2\ndiff --git a/x.txt b/x.txt\nnew file mode 100644\n--- /dev/null\n+++ b/x.txt\n@@ -0,0 +1 @@\n+no newline\n\\ No newline at end of file\n";

    #[test]
    fn whitespace_blank_lines_and_hunk_headers_do_not_make_diffs_differ() {
        assert_eq!(normalise(A), normalise(A_SPACED));
        assert_ne!(normalise(A), normalise(B));
        assert_eq!(normalise(""), "");
        assert_eq!(changed_lines(A), 2);
    }

    #[test]
    fn new_files_are_read_with_their_content() {
        let files = new_files(NEW);
        assert_eq!(
            files,
            vec![
                (
                    "repro.py".to_string(),
                    "from stats import mean\nassert mean([1, 2, 3]) == 2\n".to_string()
                ),
                ("x.txt".to_string(), "no newline".to_string()),
            ]
        );
        assert!(new_files(A).is_empty());
        assert_eq!(changed_paths(NEW), ["repro.py", "x.txt"]);
    }
}
