//! Predictions: `.jsonl` (one object a line), `.json` (a list, or a dict whose values are the
//! predictions), or the word `gold` (each row's own `patch`, model name `gold`).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::dataset::{Dataset, json_kind, parse_rows};
use crate::error::{HarnessError, IoContext, Result};

pub const GOLD: &str = "gold";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prediction {
    pub instance_id: String,
    pub model_name_or_path: String,
    /// `None` when the file holds `null`; see [`Prediction::is_empty`].
    pub model_patch: Option<String>,
}

impl Prediction {
    /// Empty or null patches are not evaluated and are counted apart.
    pub fn is_empty(&self) -> bool {
        self.model_patch.as_deref().is_none_or(str::is_empty)
    }

    /// The model name as it appears in paths: `/` becomes `__`.
    pub fn model_dir_name(&self) -> String {
        model_dir_name(&self.model_name_or_path)
    }
}

pub fn model_dir_name(model: &str) -> String {
    model.replace('/', "__")
}

/// Predictions keyed by instance id (a later duplicate replaces an earlier one).
#[derive(Debug, Clone, Default)]
pub struct Predictions {
    pub by_id: BTreeMap<String, Prediction>,
}

impl Predictions {
    /// `source` is a path or the word `gold`.
    pub fn load(source: &str, dataset: &Dataset) -> Result<Self> {
        let predictions = if source == GOLD {
            Self::gold(dataset)
        } else {
            Self::from_file(Path::new(source))?
        };
        predictions.check_against(dataset)?;
        Ok(predictions)
    }

    pub fn gold(dataset: &Dataset) -> Self {
        let by_id = dataset
            .instances
            .iter()
            .map(|i| {
                (
                    i.instance_id.clone(),
                    Prediction {
                        instance_id: i.instance_id.clone(),
                        model_name_or_path: GOLD.into(),
                        model_patch: Some(i.patch.clone()),
                    },
                )
            })
            .collect();
        Self { by_id }
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .context(|| format!("cannot read predictions {}", path.display()))?;
        let rows: Vec<(usize, Value)> = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => {
                let value: Value =
                    serde_json::from_str(&text).map_err(|e| HarnessError::Input {
                        path: path.to_path_buf(),
                        message: format!("not valid JSON: {e}"),
                    })?;
                match value {
                    Value::Array(items) => items
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| (i + 1, v))
                        .collect(),
                    // SWE-agent writes {instance_id: prediction}.
                    Value::Object(map) => map
                        .into_iter()
                        .enumerate()
                        .map(|(i, (_, v))| (i + 1, v))
                        .collect(),
                    other => {
                        return Err(HarnessError::Input {
                            path: path.to_path_buf(),
                            message: format!(
                                "predictions must be a list of predictions or a dict of instance_id to prediction, found {}",
                                json_kind(&other)
                            ),
                        });
                    }
                }
            }
            Some("jsonl") => parse_rows(path, &text)?,
            _ => {
                return Err(HarnessError::Input {
                    path: path.to_path_buf(),
                    message: "predictions path must end in .json or .jsonl (or be the word `gold`)"
                        .into(),
                });
            }
        };
        let mut by_id = BTreeMap::new();
        for (row, value) in rows {
            let prediction = prediction_from_value(path, row, value)?;
            by_id.insert(prediction.instance_id.clone(), prediction);
        }
        Ok(Self { by_id })
    }

    /// Every prediction must name an instance of the dataset.
    pub fn check_against(&self, dataset: &Dataset) -> Result<()> {
        let known: std::collections::HashSet<&str> = dataset
            .instances
            .iter()
            .map(|i| i.instance_id.as_str())
            .collect();
        let unknown: Vec<String> = self
            .by_id
            .keys()
            .filter(|id| !known.contains(id.as_str()))
            .cloned()
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(HarnessError::UnknownPredictionIds { ids: unknown })
        }
    }

    pub fn get(&self, instance_id: &str) -> Option<&Prediction> {
        self.by_id.get(instance_id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The model name of the run (that of the first prediction), as the summary file uses it.
    pub fn model_name(&self) -> Option<&str> {
        self.by_id
            .values()
            .next()
            .map(|p| p.model_name_or_path.as_str())
    }
}

fn prediction_from_value(path: &Path, row: usize, value: Value) -> Result<Prediction> {
    let row_error = |field: &str, message: String| HarnessError::Row {
        path: path.to_path_buf(),
        row,
        field: field.into(),
        message,
    };
    let Value::Object(mut map) = value else {
        return Err(row_error(
            "(row)",
            format!(
                "each prediction must be an object, found {}",
                json_kind(&value)
            ),
        ));
    };
    let mut string = |field: &str| -> Result<String> {
        match map.remove(field) {
            Some(Value::String(s)) => Ok(s),
            None => Err(row_error(field, "missing (a string is required)".into())),
            Some(other) => Err(row_error(
                field,
                format!("expected a string, found {}", json_kind(&other)),
            )),
        }
    };
    let instance_id = string("instance_id")?;
    let model_name_or_path = string("model_name_or_path")?;
    let model_patch = match map.remove("model_patch") {
        Some(Value::String(s)) => Some(s),
        Some(Value::Null) => None,
        None => {
            return Err(row_error(
                "model_patch",
                "missing (a string, or null for no patch, is required)".into(),
            ));
        }
        Some(other) => {
            return Err(row_error(
                "model_patch",
                format!("expected a string or null, found {}", json_kind(&other)),
            ));
        }
    };
    Ok(Prediction {
        instance_id,
        model_name_or_path,
        model_patch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Dataset;

    fn dataset(dir: &Path) -> Dataset {
        let path = dir.join("d.jsonl");
        let mut text = String::new();
        for id in ["o__r-1", "o__r-2", "o__r-3"] {
            let row = serde_json::json!({
                "instance_id": id, "repo": "o/r", "base_commit": "abc", "version": "1.0",
                "patch": format!("gold-{id}"), "test_patch": "",
            });
            text.push_str(&format!("{row}\n"));
        }
        std::fs::write(&path, text).unwrap();
        Dataset::load(&path).unwrap()
    }

    #[test]
    fn gold_uses_each_rows_patch() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dataset(dir.path());
        let preds = Predictions::load("gold", &ds).unwrap();
        assert_eq!(preds.len(), 3);
        let p = preds.get("o__r-2").unwrap();
        assert_eq!(p.model_name_or_path, "gold");
        assert_eq!(p.model_patch.as_deref(), Some("gold-o__r-2"));
    }

    #[test]
    fn jsonl_duplicates_last_wins_and_null_or_empty_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dataset(dir.path());
        let path = dir.path().join("p.jsonl");
        std::fs::write(
            &path,
            concat!(
                "{\"instance_id\":\"o__r-1\",\"model_name_or_path\":\"org/m\",\"model_patch\":\"first\"}\n",
                "{\"instance_id\":\"o__r-2\",\"model_name_or_path\":\"org/m\",\"model_patch\":null}\n",
                "{\"instance_id\":\"o__r-3\",\"model_name_or_path\":\"org/m\",\"model_patch\":\"\"}\n",
                "{\"instance_id\":\"o__r-1\",\"model_name_or_path\":\"org/m\",\"model_patch\":\"second\"}\n",
            ),
        )
        .unwrap();
        let preds = Predictions::load(path.to_str().unwrap(), &ds).unwrap();
        assert_eq!(preds.len(), 3);
        assert_eq!(
            preds.get("o__r-1").unwrap().model_patch.as_deref(),
            Some("second")
        );
        assert!(preds.get("o__r-2").unwrap().is_empty());
        assert!(preds.get("o__r-3").unwrap().is_empty());
        assert!(!preds.get("o__r-1").unwrap().is_empty());
        assert_eq!(preds.get("o__r-1").unwrap().model_dir_name(), "org__m");
    }

    #[test]
    fn json_list_and_dict_forms() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dataset(dir.path());
        let list = dir.path().join("p.json");
        std::fs::write(
            &list,
            r#"[{"instance_id":"o__r-1","model_name_or_path":"m","model_patch":"x"}]"#,
        )
        .unwrap();
        assert_eq!(
            Predictions::load(list.to_str().unwrap(), &ds)
                .unwrap()
                .len(),
            1
        );
        std::fs::write(
            &list,
            r#"{"o__r-1":{"instance_id":"o__r-1","model_name_or_path":"m","model_patch":"x"},
                "o__r-3":{"instance_id":"o__r-3","model_name_or_path":"m","model_patch":"y"}}"#,
        )
        .unwrap();
        let preds = Predictions::load(list.to_str().unwrap(), &ds).unwrap();
        assert_eq!(
            preds.get("o__r-3").unwrap().model_patch.as_deref(),
            Some("y")
        );
    }

    #[test]
    fn unknown_ids_and_bad_rows_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dataset(dir.path());
        let path = dir.path().join("p.jsonl");
        std::fs::write(
            &path,
            "{\"instance_id\":\"nope-9\",\"model_name_or_path\":\"m\",\"model_patch\":\"x\"}\n",
        )
        .unwrap();
        let err = Predictions::load(path.to_str().unwrap(), &ds)
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope-9"), "{err}");

        std::fs::write(
            &path,
            "{\"instance_id\":\"o__r-1\",\"model_name_or_path\":\"m\",\"model_patch\":\"x\"}\n{\"instance_id\":\"o__r-2\",\"model_patch\":\"x\"}\n",
        )
        .unwrap();
        let err = Predictions::load(path.to_str().unwrap(), &ds)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("row 2") && err.contains("model_name_or_path"),
            "{err}"
        );

        let txt = dir.path().join("p.txt");
        std::fs::write(&txt, "").unwrap();
        assert!(Predictions::load(txt.to_str().unwrap(), &ds).is_err());
    }
}
