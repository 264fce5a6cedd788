//! What runs in an evaluation container: test directives, the files a test patch touches, and
//! the eval script (bash, `set -uxo pipefail`, markers, reset, test patch, test command).

use std::sync::LazyLock;

use regex::Regex;

use crate::dataset::Instance;
use crate::error::{HarnessError, Result};
use crate::grading::{END_TEST_OUTPUT, START_TEST_OUTPUT};
use crate::specs::Spec;

/// Where the repository lives in every container.
pub const TESTBED: &str = "/testbed";
/// Where the model patch is copied in the container.
pub const CONTAINER_PATCH: &str = "/tmp/patch.diff";
pub const CONTAINER_EVAL_SCRIPT: &str = "/eval.sh";
const HEREDOC: &str = "EOF_114329324912";

/// Paths that are not tests even when a test patch touches them (`csv` has no dot, as in the
/// official list).
const NON_TEST_EXTS: [&str; 11] = [
    ".json", ".png", "csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml", ".toml",
];

static DIFF_GIT_TARGET: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"diff --git a/.* b/(.*)").ok());

/// The `b/` paths of every `diff --git` line, in order, minus non-test files; for Django,
/// dotted module names.
pub fn test_directives(instance: &Instance) -> Vec<String> {
    let Some(pattern) = DIFF_GIT_TARGET.as_ref() else {
        return Vec::new();
    };
    let directives = pattern
        .captures_iter(&instance.test_patch)
        .filter_map(|c| c.get(1).map(|m| m.as_str().to_string()))
        .filter(|path| !NON_TEST_EXTS.iter().any(|ext| path.ends_with(ext)));
    if instance.repo == "django/django" {
        directives
            .map(|d| {
                let d = d.strip_suffix(".py").unwrap_or(&d);
                let d = d.strip_prefix("tests/").unwrap_or(d);
                d.replace('/', ".")
            })
            .collect()
    } else {
        directives.collect()
    }
}

/// Files that existed before the patch and that it changes (new files excluded), as the
/// `source_file` of each file of a unified diff, without its `a/` prefix.
pub fn modified_files(patch: &str) -> Vec<String> {
    files_of(patch)
        .into_iter()
        .filter(|f| f.source != "/dev/null")
        .filter_map(|f| f.source.strip_prefix("a/").map(str::to_string))
        .collect()
}

/// The files a patch touches (sources, then targets), for listing and workspace checks.
pub fn touched_paths(patch: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for file in files_of(patch) {
        for side in [&file.source, &file.target] {
            if let Some(p) = side.strip_prefix("a/").or_else(|| side.strip_prefix("b/"))
                && !paths.iter().any(|x| x == p)
            {
                paths.push(p.to_string());
            }
        }
    }
    paths
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PatchedFile {
    source: String,
    target: String,
}

static GIT_HEADER: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^diff --git (a/[^\t\n]+) (b/[^\t\n]+)").ok());
static HUNK_HEADER: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@").ok());

/// A small unified-diff reader: git headers, `---`/`+++` lines, and hunks (counted, so that a
/// removed line starting with `-- ` is never taken for a header).
fn files_of(patch: &str) -> Vec<PatchedFile> {
    let mut files: Vec<PatchedFile> = Vec::new();
    let mut in_git_header = false;
    let mut old_left = 0usize;
    let mut new_left = 0usize;
    let filename = |rest: &str| rest.split('\t').next().unwrap_or(rest).to_string();
    for line in patch.lines() {
        if old_left > 0 || new_left > 0 {
            match line.chars().next() {
                Some('-') => old_left = old_left.saturating_sub(1),
                Some('+') => new_left = new_left.saturating_sub(1),
                Some('\\') => {}
                _ => {
                    old_left = old_left.saturating_sub(1);
                    new_left = new_left.saturating_sub(1);
                }
            }
            continue;
        }
        if let Some(c) = GIT_HEADER.as_ref().and_then(|r| r.captures(line)) {
            files.push(PatchedFile {
                source: c.get(1).map_or("", |m| m.as_str()).to_string(),
                target: c.get(2).map_or("", |m| m.as_str()).to_string(),
            });
            in_git_header = true;
        } else if line.starts_with("new file mode") && in_git_header {
            if let Some(f) = files.last_mut() {
                f.source = "/dev/null".into();
            }
        } else if line.starts_with("deleted file mode") && in_git_header {
            if let Some(f) = files.last_mut() {
                f.target = "/dev/null".into();
            }
        } else if let Some(rest) = line.strip_prefix("--- ") {
            if in_git_header {
                if let Some(f) = files.last_mut() {
                    f.source = filename(rest);
                }
            } else {
                files.push(PatchedFile {
                    source: filename(rest),
                    target: String::new(),
                });
            }
            in_git_header = false;
        } else if let Some(rest) = line.strip_prefix("+++ ") {
            if let Some(f) = files.last_mut() {
                f.target = filename(rest);
            }
        } else if let Some(c) = HUNK_HEADER.as_ref().and_then(|r| r.captures(line)) {
            let count = |i: usize| {
                c.get(i)
                    .map_or(Some(1), |m| m.as_str().parse::<usize>().ok())
                    .unwrap_or(0)
            };
            old_left = count(2);
            new_left = count(4);
            in_git_header = false;
        }
    }
    files
}

/// How the environment's Python is put on PATH inside our images (the official images use
/// `source /opt/miniconda3/bin/activate; conda activate testbed`).
pub const ACTIVATE: &str = "source /opt/venv/bin/activate";

/// The eval script of the official harness for Python repositories, line for line, with our
/// environment activation in place of conda's.
pub fn eval_script(instance: &Instance, spec: &Spec) -> Result<String> {
    let base = &instance.base_commit;
    let test_files = modified_files(&instance.test_patch);
    let reset_tests = format!("git checkout {base} {}", test_files.join(" "));
    let apply_test_patch = format!(
        "git apply -v - <<'{HEREDOC}'\n{}\n{HEREDOC}",
        instance.test_patch
    );
    let mut test_commands = spec.test_commands()?;
    let directives = test_directives(instance);
    if let Some(last) = test_commands.last_mut() {
        *last = std::iter::once(last.as_str())
            .chain(directives.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
    }
    let mut lines: Vec<String> = vec![
        "#!/bin/bash".into(),
        "set -uxo pipefail".into(),
        ACTIVATE.into(),
        format!("cd {TESTBED}"),
    ];
    lines.extend(spec.eval_commands.iter().cloned());
    lines.extend([
        format!("git config --global --add safe.directory {TESTBED}"),
        format!("cd {TESTBED}"),
        "git status".into(),
        "git show".into(),
        format!("git -c core.fileMode=false diff {base}"),
        ACTIVATE.into(),
    ]);
    if let Some(install) = &spec.install {
        lines.push(install.clone());
    }
    lines.push(reset_tests.clone());
    lines.push(apply_test_patch);
    lines.push(format!(": '{START_TEST_OUTPUT}'"));
    lines.extend(test_commands);
    lines.push(format!(": '{END_TEST_OUTPUT}'"));
    lines.push(reset_tests);
    let mut script = lines.join("\n");
    script.push('\n');
    Ok(script)
}

/// The eval script for `instance` under `version`: a 5.x row's own `eval_script` decides when
/// present (its lines, without shebang and `set` line, after `#!/bin/bash` and
/// `set -uxo pipefail`); otherwise the script made from the spec. 5.x records the test
/// command's exit status after the end marker.
pub fn eval_script_for(
    instance: &Instance,
    spec: Option<&Spec>,
    version: crate::grading::HarnessVersion,
) -> Result<String> {
    let script = match instance.row_str("eval_script") {
        Some(row_script) => {
            let mut lines = vec!["#!/bin/bash", "set -uxo pipefail"];
            lines.extend(
                row_script
                    .trim()
                    .split('\n')
                    .filter(|l| *l != "#!/bin/bash" && *l != "set -uxo pipefail"),
            );
            lines.join("\n") + "\n"
        }
        None => match spec {
            Some(spec) => eval_script(instance, spec)?,
            None => {
                return Err(HarnessError::UnknownSpec(format!(
                    "{} has no eval_script and its (repo, version) has no spec; add one with \
                     --specs or use a dataset whose rows carry eval_script",
                    instance.instance_id
                )));
            }
        },
    };
    Ok(match version {
        crate::grading::HarnessVersion::V4_1_0 => script,
        crate::grading::HarnessVersion::V5 => record_test_exit_code(&script),
    })
}

/// 5.x `record_test_exit_code`: keep `$?` of the test command right before the end marker and
/// echo it after it (outside the parsed region). A script without the marker is unchanged.
pub fn record_test_exit_code(script: &str) -> String {
    use crate::grading::{TEST_EXIT_CODE, TEST_EXIT_CODE_VAR};
    let mut lines: Vec<String> = script.split('\n').map(str::to_string).collect();
    if let Some(i) = lines.iter().position(|l| l.contains(END_TEST_OUTPUT)) {
        lines.insert(i, format!("{TEST_EXIT_CODE_VAR}=$?"));
        lines.insert(
            i + 2,
            format!("echo \"{TEST_EXIT_CODE}: ${TEST_EXIT_CODE_VAR}\""),
        );
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::specs::{SpecTable, TestCmd};

    #[test]
    fn v5_records_the_test_exit_code_after_the_end_marker() {
        let script = "#!/bin/bash\n: '>>>>> Start Test Output'\npytest -rA\n: '>>>>> End Test Output'\ngit checkout x\n";
        assert_eq!(
            record_test_exit_code(script),
            "#!/bin/bash\n: '>>>>> Start Test Output'\npytest -rA\nSWEBENCH_TEST_EXIT_CODE=$?\n: '>>>>> End Test Output'\necho \">>>>> Test Exit Code: $SWEBENCH_TEST_EXIT_CODE\"\ngit checkout x\n"
        );
    }

    const TEST_PATCH: &str = "\
diff --git a/tests/test_utils.py b/tests/test_utils.py
index 1111111..2222222 100644
--- a/tests/test_utils.py
+++ b/tests/test_utils.py
@@ -1,3 +1,4 @@
 import pytest
--- not a header: a removed line that starts with two dashes
+-- added line that starts with two dashes
+++ also not a header
 def test_x():
diff --git a/tests/data/sample.json b/tests/data/sample.json
new file mode 100644
--- /dev/null
+++ b/tests/data/sample.json
@@ -0,0 +1 @@
+{}
diff --git a/tests/new_test.py b/tests/new_test.py
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/tests/new_test.py
@@ -0,0 +1,2 @@
+def test_new():
+    pass
diff --git a/tests/admin_views/tests.py b/tests/admin_views/tests.py
--- a/tests/admin_views/tests.py
+++ b/tests/admin_views/tests.py
@@ -10 +10 @@
-a
+b
diff --git a/docs/data.csv b/docs/data.csv
--- a/docs/data.csv
+++ b/docs/data.csv
@@ -1 +1 @@
-x
+y
";

    fn instance(repo: &str) -> Instance {
        Instance {
            instance_id: "o__r-1".into(),
            repo: repo.into(),
            base_commit: "abc123".into(),
            patch: String::new(),
            test_patch: TEST_PATCH.into(),
            problem_statement: String::new(),
            hints_text: String::new(),
            created_at: String::new(),
            version: "1.0".into(),
            environment_setup_commit: String::new(),
            fail_to_pass: vec![],
            pass_to_pass: vec![],
            test_lists_encoded: true,
            extra: Default::default(),
        }
    }

    #[test]
    fn directives_drop_non_test_files() {
        assert_eq!(
            test_directives(&instance("psf/requests")),
            vec![
                "tests/test_utils.py",
                "tests/new_test.py",
                "tests/admin_views/tests.py"
            ]
        );
    }

    #[test]
    fn django_directives_are_modules() {
        assert_eq!(
            test_directives(&instance("django/django")),
            vec!["test_utils", "new_test", "admin_views.tests"]
        );
    }

    #[test]
    fn modified_files_skip_new_files_and_hunk_lines() {
        assert_eq!(
            modified_files(TEST_PATCH),
            vec![
                "tests/test_utils.py",
                "tests/admin_views/tests.py",
                "docs/data.csv"
            ]
        );
        let plain = "--- a/x.py\t2020-01-01\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n";
        assert_eq!(modified_files(plain), vec!["x.py"]);
        assert_eq!(touched_paths(plain), vec!["x.py"]);
    }

    #[test]
    fn eval_script_follows_the_official_order() {
        let table = SpecTable::bundled().unwrap();
        let spec = table.lookup("psf/requests", "2.0").unwrap().spec.clone();
        let script = eval_script(&instance("psf/requests"), &spec).unwrap();
        let lines: Vec<&str> = script.lines().collect();
        assert_eq!(lines[0], "#!/bin/bash");
        assert_eq!(lines[1], "set -uxo pipefail");
        let reset =
            "git checkout abc123 tests/test_utils.py tests/admin_views/tests.py docs/data.csv";
        let position = |needle: &str| lines.iter().position(|l| *l == needle).unwrap();
        let install = position("python -m pip install .");
        let first_reset = position(reset);
        let apply = position("git apply -v - <<'EOF_114329324912'");
        let start = position(": '>>>>> Start Test Output'");
        let test =
            position("pytest -rA tests/test_utils.py tests/new_test.py tests/admin_views/tests.py");
        let end = position(": '>>>>> End Test Output'");
        assert!(install < first_reset && first_reset < apply && apply < start);
        assert_eq!(test, start + 1);
        assert_eq!(end, test + 1);
        assert_eq!(lines[end + 1], reset);
        assert_eq!(lines.len(), end + 2);
        assert!(script.contains("git -c core.fileMode=false diff abc123\n"));
        assert!(!script.contains("set -e"));
        // The test patch is embedded verbatim.
        assert!(script.contains(TEST_PATCH));
    }

    #[test]
    fn eval_commands_and_multi_line_test_cmd() {
        let spec = Spec {
            python: "3.11".into(),
            eval_commands: vec!["export LANG=en_US.UTF-8".into()],
            test_cmd: Some(TestCmd::Many(vec!["make".into(), "pytest -rA".into()])),
            ..Spec::default()
        };
        let script = eval_script(&instance("o/r"), &spec).unwrap();
        assert!(script.contains("cd /testbed\nexport LANG=en_US.UTF-8\ngit config"));
        assert!(script.contains("'\nmake\npytest -rA tests/test_utils.py"));
        let no_cmd = Spec {
            python: "3".into(),
            ..Spec::default()
        };
        assert!(eval_script(&instance("o/r"), &no_cmd).is_err());
    }
}
