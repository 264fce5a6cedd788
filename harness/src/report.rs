//! The run summary `MODEL.RUN_ID.json` (the official `make_run_report`) and the log layout
//! `logs/run_evaluation/RUN_ID/MODEL/INSTANCE_ID/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::dataset::Dataset;
use crate::error::{IoContext, Result};
use crate::grading::InstanceReport;
use crate::predictions::{Predictions, model_dir_name};
use crate::pyjson::PyJson;

pub const LOG_REPORT: &str = "report.json";
pub const LOG_INSTANCE: &str = "run_instance.log";
pub const LOG_TEST_OUTPUT: &str = "test_output.txt";
pub const LOG_PATCH: &str = "patch.diff";
pub const LOG_EVAL_SCRIPT: &str = "eval.sh";

/// `ROOT/logs/run_evaluation/RUN_ID/MODEL/INSTANCE_ID`.
pub fn instance_log_dir(root: &Path, run_id: &str, model: &str, instance_id: &str) -> PathBuf {
    root.join("logs")
        .join("run_evaluation")
        .join(run_id)
        .join(model_dir_name(model))
        .join(instance_id)
}

/// The counts and id lists of a run, with the official keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub total_instances: usize,
    pub submitted_instances: usize,
    pub completed_ids: BTreeSet<String>,
    pub incomplete_ids: BTreeSet<String>,
    pub empty_patch_ids: BTreeSet<String>,
    pub submitted_ids: BTreeSet<String>,
    pub resolved_ids: BTreeSet<String>,
    pub unresolved_ids: BTreeSet<String>,
    pub error_ids: BTreeSet<String>,
    /// 5.x only: why unresolved and error instances failed, when their logs show it:
    /// id → (reason, whether it is an environment fault).
    pub failure_reasons: Option<std::collections::BTreeMap<String, (String, bool)>>,
}

/// 5.x splits failed instances by their reason: the environment's (infra) or not (ambiguous).
struct FailureTiers {
    infra: BTreeSet<String>,
    ambiguous: BTreeSet<String>,
    reasons: PyJson,
}

impl FailureTiers {
    fn of(reasons: &std::collections::BTreeMap<String, (String, bool)>) -> Self {
        let tier = |environment: bool| -> BTreeSet<String> {
            reasons
                .iter()
                .filter(|(_, (_, e))| *e == environment)
                .map(|(id, _)| id.clone())
                .collect()
        };
        let reasons = reasons
            .iter()
            .map(|(id, (reason, _))| (id.clone(), PyJson::Str(reason.clone())))
            .collect();
        FailureTiers {
            infra: tier(true),
            ambiguous: tier(false),
            reasons: PyJson::Dict(reasons),
        }
    }
}

impl RunSummary {
    /// Build the summary from the reports on disk. `dataset` is the dataset as selected by
    /// `--instances` (the official `full_dataset`); `predictions` are all loaded predictions.
    pub fn collect(
        root: &Path,
        run_id: &str,
        dataset: &Dataset,
        predictions: &Predictions,
    ) -> Self {
        let mut summary = Self {
            total_instances: dataset.instances.len(),
            submitted_instances: predictions.len(),
            submitted_ids: predictions.by_id.keys().cloned().collect(),
            ..Self::default()
        };
        for instance in &dataset.instances {
            let id = &instance.instance_id;
            let Some(prediction) = predictions.get(id) else {
                summary.incomplete_ids.insert(id.clone());
                continue;
            };
            if prediction.is_empty() {
                summary.empty_patch_ids.insert(id.clone());
                continue;
            }
            let report =
                instance_log_dir(root, run_id, &prediction.model_name_or_path, id).join(LOG_REPORT);
            let Ok(text) = std::fs::read_to_string(&report) else {
                summary.error_ids.insert(id.clone());
                continue;
            };
            summary.completed_ids.insert(id.clone());
            match InstanceReport::read_resolved(&text, id) {
                Some(true) => {
                    summary.resolved_ids.insert(id.clone());
                }
                Some(false) => {
                    summary.unresolved_ids.insert(id.clone());
                }
                None => {
                    summary.error_ids.insert(id.clone());
                }
            }
        }
        summary
    }

    /// 5.x: classify the failed instances' logs (`test_output.txt` and `run_instance.log`).
    pub fn classify_failures(&mut self, root: &Path, run_id: &str, predictions: &Predictions) {
        let mut reasons = std::collections::BTreeMap::new();
        for id in self.unresolved_ids.iter().chain(&self.error_ids) {
            let Some(prediction) = predictions.get(id) else {
                continue;
            };
            let dir = instance_log_dir(root, run_id, &prediction.model_name_or_path, id);
            let text: Vec<String> = [LOG_TEST_OUTPUT, LOG_INSTANCE]
                .iter()
                .filter_map(|name| std::fs::read(dir.join(name)).ok())
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .collect();
            if let Some((reason, environment)) =
                crate::grading::classify_infra_failure(&text.join("\n"))
            {
                reasons.insert(id.clone(), (reason.to_string(), environment));
            }
        }
        self.failure_reasons = Some(reasons);
    }

    /// The summary as the official harness dumps it; with 5.x failure reasons, the 5.x keys
    /// come in where 5.x puts them (the 4.1.0 keys keep their order around them).
    pub fn to_pyjson(&self) -> PyJson {
        let count = |n: usize| PyJson::Int(n as i64);
        let ids = |set: &BTreeSet<String>| PyJson::str_list(set.iter().cloned());
        let v5 = self.failure_reasons.as_ref().map(FailureTiers::of);
        let mut entries: Vec<(String, PyJson)> = vec![
            ("total_instances".into(), count(self.total_instances)),
            (
                "submitted_instances".into(),
                count(self.submitted_instances),
            ),
            (
                "completed_instances".into(),
                count(self.completed_ids.len()),
            ),
            ("resolved_instances".into(), count(self.resolved_ids.len())),
            (
                "unresolved_instances".into(),
                count(self.unresolved_ids.len()),
            ),
        ];
        if let Some(v5) = &v5 {
            entries.push(("infra_failure_instances".into(), count(v5.infra.len())));
            entries.push((
                "ambiguous_failure_instances".into(),
                count(v5.ambiguous.len()),
            ));
        }
        entries.extend([
            (
                "empty_patch_instances".into(),
                count(self.empty_patch_ids.len()),
            ),
            ("error_instances".into(), count(self.error_ids.len())),
            ("completed_ids".into(), ids(&self.completed_ids)),
            ("incomplete_ids".into(), ids(&self.incomplete_ids)),
            ("empty_patch_ids".into(), ids(&self.empty_patch_ids)),
            ("submitted_ids".into(), ids(&self.submitted_ids)),
            ("resolved_ids".into(), ids(&self.resolved_ids)),
            ("unresolved_ids".into(), ids(&self.unresolved_ids)),
        ]);
        if let Some(v5) = v5 {
            entries.push(("infra_failure_ids".into(), ids(&v5.infra)));
            entries.push(("ambiguous_failure_ids".into(), ids(&v5.ambiguous)));
            entries.push(("failure_reasons".into(), v5.reasons));
        }
        entries.push(("error_ids".into(), ids(&self.error_ids)));
        entries.push(("schema_version".into(), PyJson::Int(2)));
        PyJson::Dict(entries)
    }

    /// The file name `MODEL.RUN_ID.json` (model with `/` as `__`).
    pub fn file_name(model: &str, run_id: &str) -> String {
        format!("{}.{run_id}.json", model_dir_name(model))
    }

    /// Write the summary into `report_dir`, as `print(json.dumps(report, indent=4), file=f)`.
    pub fn write(&self, report_dir: &Path, model: &str, run_id: &str) -> Result<PathBuf> {
        std::fs::create_dir_all(report_dir)
            .context(|| format!("cannot create report directory {}", report_dir.display()))?;
        let path = report_dir.join(Self::file_name(model, run_id));
        let mut text = self.to_pyjson().dumps_indent4();
        text.push('\n');
        std::fs::write(&path, text).context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// The human summary lines the official harness prints.
    pub fn lines(&self) -> Vec<String> {
        vec![
            format!("Total instances: {}", self.total_instances),
            format!("Instances submitted: {}", self.submitted_instances),
            format!("Instances completed: {}", self.completed_ids.len()),
            format!("Instances incomplete: {}", self.incomplete_ids.len()),
            format!("Instances resolved: {}", self.resolved_ids.len()),
            format!("Instances unresolved: {}", self.unresolved_ids.len()),
            format!(
                "Instances with empty patches: {}",
                self.empty_patch_ids.len()
            ),
            format!("Instances with errors: {}", self.error_ids.len()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log_parsers::LogParser;

    fn dataset(dir: &Path, ids: &[&str]) -> Dataset {
        let path = dir.join("d.jsonl");
        let text: String = ids
            .iter()
            .map(|id| {
                format!(
                    "{}\n",
                    serde_json::json!({"instance_id": id, "repo": "o/r", "base_commit": "a",
                        "version": "1", "test_patch": "", "patch": "p"})
                )
            })
            .collect();
        std::fs::write(&path, text).unwrap();
        Dataset::load(&path).unwrap()
    }

    #[test]
    fn summary_counts_from_reports_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let ids = ["o__r-1", "o__r-2", "o__r-3", "o__r-4", "o__r-5", "o__r-6"];
        let ds = dataset(dir.path(), &ids);
        let preds_path = dir.path().join("p.jsonl");
        let mut text = String::new();
        for (id, patch) in [
            ("o__r-1", "x"),
            ("o__r-2", "x"),
            ("o__r-3", ""),
            ("o__r-4", "x"),
            ("o__r-6", "x"),
        ] {
            text.push_str(&format!(
                "{}\n",
                serde_json::json!({"instance_id": id, "model_name_or_path": "org/model", "model_patch": patch})
            ));
        }
        std::fs::write(&preds_path, text).unwrap();
        let preds = Predictions::load(preds_path.to_str().unwrap(), &ds).unwrap();
        let root = dir.path().join("out");
        let write_report = |id: &str, log: &str| {
            let d = instance_log_dir(&root, "run1", "org/model", id);
            std::fs::create_dir_all(&d).unwrap();
            let report = InstanceReport::grade(
                id,
                Some("x"),
                &["t".to_string()],
                &[],
                LogParser::Pytest,
                log,
            );
            std::fs::write(d.join(LOG_REPORT), report.to_json_text()).unwrap();
        };
        write_report(
            "o__r-1",
            ">>>>> Start Test Output\nPASSED t\n>>>>> End Test Output",
        );
        write_report(
            "o__r-2",
            ">>>>> Start Test Output\nFAILED t\n>>>>> End Test Output",
        );
        // o__r-4: no report (error); o__r-6: empty report file (error but completed).
        let d6 = instance_log_dir(&root, "run1", "org/model", "o__r-6");
        std::fs::create_dir_all(&d6).unwrap();
        std::fs::write(d6.join(LOG_REPORT), "").unwrap();
        assert!(
            d6.to_string_lossy()
                .contains("run_evaluation/run1/org__model/o__r-6")
        );

        let summary = RunSummary::collect(&root, "run1", &ds, &preds);
        assert_eq!(summary.total_instances, 6);
        assert_eq!(summary.submitted_instances, 5);
        assert_eq!(
            summary.resolved_ids.iter().collect::<Vec<_>>(),
            vec!["o__r-1"]
        );
        assert_eq!(
            summary.unresolved_ids.iter().collect::<Vec<_>>(),
            vec!["o__r-2"]
        );
        assert_eq!(
            summary.empty_patch_ids.iter().collect::<Vec<_>>(),
            vec!["o__r-3"]
        );
        assert_eq!(
            summary.incomplete_ids.iter().collect::<Vec<_>>(),
            vec!["o__r-5"]
        );
        assert_eq!(
            summary.error_ids.iter().collect::<Vec<_>>(),
            vec!["o__r-4", "o__r-6"]
        );
        assert_eq!(summary.completed_ids.len(), 3);

        let path = summary.write(dir.path(), "org/model", "run1").unwrap();
        assert!(path.ends_with("org__model.run1.json"));
        let value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        let mut expected = vec![
            "total_instances",
            "submitted_instances",
            "completed_instances",
            "resolved_instances",
            "unresolved_instances",
            "empty_patch_instances",
            "error_instances",
            "completed_ids",
            "incomplete_ids",
            "empty_patch_ids",
            "submitted_ids",
            "resolved_ids",
            "unresolved_ids",
            "error_ids",
            "schema_version",
        ];
        expected.sort();
        let mut keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
        keys.sort();
        assert_eq!(keys, expected);
        assert_eq!(value["schema_version"], 2);
        assert_eq!(value["error_instances"], 2);
    }

    #[test]
    fn the_5x_summary_has_the_failure_keys_in_the_official_order() {
        let mut summary = RunSummary::default();
        summary.unresolved_ids.insert("a".into());
        summary.error_ids.insert("b".into());
        summary.failure_reasons = Some(std::collections::BTreeMap::from([
            ("a".to_string(), ("network_unreachable".to_string(), true)),
            ("b".to_string(), ("missing_module".to_string(), false)),
        ]));
        let text = summary.to_pyjson().dumps_indent4();
        let keys: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("    \"") && l.contains("\":"))
            .map(|l| l.trim().split('"').nth(1).unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "total_instances",
                "submitted_instances",
                "completed_instances",
                "resolved_instances",
                "unresolved_instances",
                "infra_failure_instances",
                "ambiguous_failure_instances",
                "empty_patch_instances",
                "error_instances",
                "completed_ids",
                "incomplete_ids",
                "empty_patch_ids",
                "submitted_ids",
                "resolved_ids",
                "unresolved_ids",
                "infra_failure_ids",
                "ambiguous_failure_ids",
                "failure_reasons",
                "error_ids",
                "schema_version"
            ]
        );
        assert!(text.contains("\"infra_failure_instances\": 1,"));
        assert!(text.contains("\"a\": \"network_unreachable\""));
    }
}
