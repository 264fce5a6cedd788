//! SWE-bench dataset rows: loading from JSON (a list), JSONL, and saving back.
//!
//! Every field of a row is a string in the Hugging Face data; `FAIL_TO_PASS` and `PASS_TO_PASS`
//! are JSON-encoded lists there, while local files often hold real lists: both are accepted and
//! the form is remembered so that `bench validate --write` saves the file the way it came.

use std::collections::HashSet;
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{HarnessError, IoContext, Result};

/// One task instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub instance_id: String,
    /// `owner/name`.
    pub repo: String,
    pub base_commit: String,
    /// The gold patch (non-test files).
    pub patch: String,
    pub test_patch: String,
    pub problem_statement: String,
    pub hints_text: String,
    pub created_at: String,
    pub version: String,
    pub environment_setup_commit: String,
    pub fail_to_pass: Vec<String>,
    pub pass_to_pass: Vec<String>,
    /// Whether the two test lists were JSON-encoded strings (the Hugging Face form).
    pub test_lists_encoded: bool,
    /// Fields this harness does not interpret (e.g. `difficulty`), kept for round trips.
    pub extra: Map<String, Value>,
}

impl Instance {
    /// A string field of the row beyond the official ones (5.x: `image`, `eval_script`,
    /// `log_parser`, `eval_type`), when present and not empty.
    pub fn row_str(&self, key: &str) -> Option<&str> {
        self.extra
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// `owner__name`, the form used in instance ids and mirror directory names.
    pub fn repo_slug(&self) -> String {
        self.repo.replace('/', "__")
    }

    /// The row as JSON, in the field order of the official dataset.
    pub fn to_json(&self) -> Value {
        let mut row = Map::new();
        let lists = |tests: &[String]| -> Value {
            if self.test_lists_encoded {
                // As the Hugging Face data holds them: Python's `json.dumps(list)`.
                Value::String(crate::pyjson::PyJson::str_list(tests.iter().cloned()).dumps())
            } else {
                Value::Array(tests.iter().cloned().map(Value::String).collect())
            }
        };
        row.insert("repo".into(), self.repo.clone().into());
        row.insert("instance_id".into(), self.instance_id.clone().into());
        row.insert("base_commit".into(), self.base_commit.clone().into());
        row.insert("patch".into(), self.patch.clone().into());
        row.insert("test_patch".into(), self.test_patch.clone().into());
        row.insert(
            "problem_statement".into(),
            self.problem_statement.clone().into(),
        );
        row.insert("hints_text".into(), self.hints_text.clone().into());
        row.insert("created_at".into(), self.created_at.clone().into());
        row.insert("version".into(), self.version.clone().into());
        row.insert("FAIL_TO_PASS".into(), lists(&self.fail_to_pass));
        row.insert("PASS_TO_PASS".into(), lists(&self.pass_to_pass));
        row.insert(
            "environment_setup_commit".into(),
            self.environment_setup_commit.clone().into(),
        );
        for (k, v) in &self.extra {
            row.insert(k.clone(), v.clone());
        }
        Value::Object(row)
    }
}

/// A loaded dataset: rows in file order.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub instances: Vec<Instance>,
}

impl Dataset {
    /// Load `.json` (a list of rows) or `.jsonl` (one row a line).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .context(|| format!("cannot read dataset {}", path.display()))?;
        Self::parse(path, &text)
    }

    /// Parses a dataset's text; `path` names it in errors and its extension picks the format.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let rows = parse_rows(path, text)?;
        let mut instances = Vec::with_capacity(rows.len());
        let mut seen = HashSet::new();
        for (row_number, value) in rows {
            let instance = instance_from_value(path, row_number, value)?;
            if !seen.insert(instance.instance_id.clone()) {
                return Err(HarnessError::Row {
                    path: path.to_path_buf(),
                    row: row_number,
                    field: "instance_id".into(),
                    message: format!("duplicate instance id `{}`", instance.instance_id),
                });
            }
            instances.push(instance);
        }
        Ok(Self { instances })
    }

    /// Keep only the named instances, in dataset order. Unknown ids are an error.
    pub fn select(&self, ids: &[String]) -> Result<Self> {
        if ids.is_empty() {
            return Ok(self.clone());
        }
        let known: HashSet<&str> = self
            .instances
            .iter()
            .map(|i| i.instance_id.as_str())
            .collect();
        let mut missing: Vec<String> = ids
            .iter()
            .filter(|id| !known.contains(id.as_str()))
            .cloned()
            .collect();
        if !missing.is_empty() {
            missing.sort();
            missing.dedup();
            return Err(HarnessError::UnknownInstanceIds { ids: missing });
        }
        let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
        Ok(Self {
            instances: self
                .instances
                .iter()
                .filter(|i| wanted.contains(i.instance_id.as_str()))
                .cloned()
                .collect(),
        })
    }

    pub fn get(&self, instance_id: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.instance_id == instance_id)
    }

    pub fn ids(&self) -> Vec<String> {
        self.instances
            .iter()
            .map(|i| i.instance_id.clone())
            .collect()
    }

    /// Write the dataset back in the format its extension names (`.json` or `.jsonl`).
    pub fn save(&self, path: &Path) -> Result<()> {
        let rows: Vec<Value> = self.instances.iter().map(Instance::to_json).collect();
        let text = if is_jsonl(path) {
            let mut text = String::new();
            for row in &rows {
                text.push_str(&serde_json::to_string(row).map_err(|e| {
                    HarnessError::Invalid(format!("cannot encode dataset row: {e}"))
                })?);
                text.push('\n');
            }
            text
        } else {
            let mut text = serde_json::to_string_pretty(&rows)
                .map_err(|e| HarnessError::Invalid(format!("cannot encode dataset: {e}")))?;
            text.push('\n');
            text
        };
        std::fs::write(path, text).context(|| format!("cannot write dataset {}", path.display()))
    }
}

fn is_jsonl(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "jsonl")
}

/// Split a file into (1-based row number, JSON value) pairs.
pub(crate) fn parse_rows(path: &Path, text: &str) -> Result<Vec<(usize, Value)>> {
    let input_error = |message: String| HarnessError::Input {
        path: path.to_path_buf(),
        message,
    };
    match path.extension().and_then(|e| e.to_str()) {
        Some("jsonl") => {
            let mut rows = Vec::new();
            for (index, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let value: Value = serde_json::from_str(line).map_err(|e| HarnessError::Row {
                    path: path.to_path_buf(),
                    row: index + 1,
                    field: "(line)".into(),
                    message: format!("not valid JSON: {e}"),
                })?;
                rows.push((index + 1, value));
            }
            Ok(rows)
        }
        Some("json") => {
            let value: Value = serde_json::from_str(text)
                .map_err(|e| input_error(format!("not valid JSON: {e}")))?;
            match value {
                Value::Array(items) => Ok(items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (i + 1, v))
                    .collect()),
                other => Err(input_error(format!(
                    "expected a JSON list of rows, found {}",
                    json_kind(&other)
                ))),
            }
        }
        Some("parquet") => Err(input_error(
            "parquet is not read directly; convert it once with `python3 -c \"import pandas; \
             pandas.read_parquet('IN.parquet').to_json('OUT.jsonl', orient='records', lines=True)\"`"
                .into(),
        )),
        _ => Err(input_error(
            "unsupported file type: use .json (a list of rows) or .jsonl (one row a line)".into(),
        )),
    }
}

pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

const REQUIRED: [&str; 5] = [
    "instance_id",
    "repo",
    "base_commit",
    "test_patch",
    "version",
];
const OPTIONAL: [&str; 5] = [
    "patch",
    "problem_statement",
    "hints_text",
    "created_at",
    "environment_setup_commit",
];

fn instance_from_value(path: &Path, row: usize, value: Value) -> Result<Instance> {
    let row_error = |field: &str, message: String| HarnessError::Row {
        path: path.to_path_buf(),
        row,
        field: field.into(),
        message,
    };
    let Value::Object(mut map) = value else {
        return Err(row_error(
            "(row)",
            format!("expected an object, found {}", json_kind(&value)),
        ));
    };
    let mut take_string = |field: &str, required: bool| -> Result<String> {
        match map.remove(field) {
            Some(Value::String(s)) => Ok(s),
            Some(Value::Null) | None if !required => Ok(String::new()),
            None | Some(Value::Null) => {
                Err(row_error(field, "missing (a string is required)".into()))
            }
            Some(other) => Err(row_error(
                field,
                format!("expected a string, found {}", json_kind(&other)),
            )),
        }
    };
    let mut strings = std::collections::HashMap::new();
    for field in REQUIRED {
        strings.insert(field, take_string(field, true)?);
    }
    for field in OPTIONAL {
        strings.insert(field, take_string(field, false)?);
    }
    let mut encoded = false;
    let mut take_tests = |field: &str| -> Result<Vec<String>> {
        match map.remove(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) => {
                encoded = true;
                let parsed: Value = serde_json::from_str(&s).map_err(|e| {
                    row_error(field, format!("not a JSON-encoded list of test names: {e}"))
                })?;
                test_names(parsed).ok_or_else(|| {
                    row_error(field, "expected a JSON-encoded list of strings".into())
                })
            }
            Some(Value::Array(items)) => test_names(Value::Array(items))
                .ok_or_else(|| row_error(field, "expected a list of strings".into())),
            Some(other) => Err(row_error(
                field,
                format!(
                    "expected a list of test names (or its JSON encoding), found {}",
                    json_kind(&other)
                ),
            )),
        }
    };
    let fail_to_pass = take_tests("FAIL_TO_PASS")?;
    let pass_to_pass = take_tests("PASS_TO_PASS")?;
    let mut get = |field: &str| strings.remove(field).unwrap_or_default();
    Ok(Instance {
        instance_id: get("instance_id"),
        repo: get("repo"),
        base_commit: get("base_commit"),
        patch: get("patch"),
        test_patch: get("test_patch"),
        problem_statement: get("problem_statement"),
        hints_text: get("hints_text"),
        created_at: get("created_at"),
        version: get("version"),
        environment_setup_commit: get("environment_setup_commit"),
        fail_to_pass,
        pass_to_pass,
        test_lists_encoded: encoded,
        extra: map,
    })
}

fn test_names(value: Value) -> Option<Vec<String>> {
    match value {
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str) -> Value {
        serde_json::json!({
            "instance_id": id, "repo": "psf/requests", "base_commit": "abc",
            "patch": "diff --git a/x b/x\n", "test_patch": "diff --git a/t b/t\n",
            "problem_statement": "p", "hints_text": "", "created_at": "2020-01-01T00:00:00Z",
            "version": "2.0", "environment_setup_commit": "def",
            "FAIL_TO_PASS": "[\"test_a.py::test_one\"]", "PASS_TO_PASS": "[]",
            "difficulty": "<15 min fix"
        })
    }

    #[test]
    fn loads_jsonl_with_encoded_lists_and_keeps_extra_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        let text = format!("{}\n\n{}\n", row("psf__requests-1"), row("psf__requests-2"));
        std::fs::write(&path, text).unwrap();
        let dataset = Dataset::load(&path).unwrap();
        assert_eq!(dataset.ids(), vec!["psf__requests-1", "psf__requests-2"]);
        let first = &dataset.instances[0];
        assert_eq!(first.fail_to_pass, vec!["test_a.py::test_one"]);
        assert!(first.pass_to_pass.is_empty());
        assert!(first.test_lists_encoded);
        assert_eq!(first.extra["difficulty"], "<15 min fix");
        assert_eq!(first.repo_slug(), "psf__requests");
    }

    #[test]
    fn loads_json_list_with_real_lists_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.json");
        let mut value = row("a__b-1");
        value["FAIL_TO_PASS"] = serde_json::json!(["t1", "t 2[x]"]);
        value["PASS_TO_PASS"] = serde_json::json!(["t3"]);
        std::fs::write(&path, serde_json::to_string(&vec![value]).unwrap()).unwrap();
        let dataset = Dataset::load(&path).unwrap();
        let instance = &dataset.instances[0];
        assert_eq!(instance.fail_to_pass, vec!["t1", "t 2[x]"]);
        assert!(!instance.test_lists_encoded);
        let out = dir.path().join("out.jsonl");
        dataset.save(&out).unwrap();
        let again = Dataset::load(&out).unwrap();
        assert_eq!(again.instances, dataset.instances);
    }

    #[test]
    fn malformed_row_names_row_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        let mut bad = row("x__y-2");
        bad["FAIL_TO_PASS"] = serde_json::json!("not json");
        std::fs::write(&path, format!("{}\n{}\n", row("x__y-1"), bad)).unwrap();
        let err = Dataset::load(&path).unwrap_err().to_string();
        assert!(err.contains("row 2"), "{err}");
        assert!(err.contains("`FAIL_TO_PASS`"), "{err}");

        let mut bad = row("x__y-3");
        bad.as_object_mut().unwrap().remove("base_commit");
        std::fs::write(&path, format!("{bad}\n")).unwrap();
        let err = Dataset::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("row 1") && err.contains("`base_commit`"),
            "{err}"
        );

        let mut bad = row("x__y-4");
        bad["version"] = serde_json::json!(3.1);
        let list = dir.path().join("d.json");
        std::fs::write(
            &list,
            serde_json::to_string(&vec![row("x__y-1"), bad]).unwrap(),
        )
        .unwrap();
        let err = Dataset::load(&list).unwrap_err().to_string();
        assert!(
            err.contains("row 2") && err.contains("`version`") && err.contains("a number"),
            "{err}"
        );
    }

    #[test]
    fn invalid_json_line_and_wrong_extension_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        std::fs::write(&path, format!("{}\n{{oops\n", row("a__b-1"))).unwrap();
        let err = Dataset::load(&path).unwrap_err().to_string();
        assert!(err.contains("row 2"), "{err}");
        let csv = dir.path().join("d.csv");
        std::fs::write(&csv, "x").unwrap();
        let err = Dataset::load(&csv).unwrap_err().to_string();
        assert!(err.contains(".jsonl"), "{err}");
    }

    #[test]
    fn select_keeps_order_and_rejects_unknown_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        let text = format!("{}\n{}\n{}\n", row("a-1"), row("a-2"), row("a-3"));
        std::fs::write(&path, text).unwrap();
        let dataset = Dataset::load(&path).unwrap();
        let picked = dataset.select(&["a-3".into(), "a-1".into()]).unwrap();
        assert_eq!(picked.ids(), vec!["a-1", "a-3"]);
        let err = dataset.select(&["a-9".into()]).unwrap_err().to_string();
        assert!(err.contains("a-9"), "{err}");
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        std::fs::write(&path, format!("{}\n{}\n", row("a-1"), row("a-1"))).unwrap();
        let err = Dataset::load(&path).unwrap_err().to_string();
        assert!(err.contains("row 2") && err.contains("duplicate"), "{err}");
    }
}
