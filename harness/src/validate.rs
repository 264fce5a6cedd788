//! `agent bench validate`: run each instance's tests before and after its gold patch (test
//! patch applied both times, fresh containers) and derive FAIL_TO_PASS (not passing before,
//! passing after) and PASS_TO_PASS (passing both times); check them against the dataset or
//! write them into it.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};

use crate::context::BenchContext;
use crate::dataset::{Dataset, Instance};
use crate::error::{HarnessError, IoContext, Result};
use crate::evaluate::{EvalEvent, EventSink, ScriptRun, prepare_environments_until, run_script};
use crate::grading::{LogVerdict, parse_eval_log, test_passed};
use crate::log_parsers::StatusMap;
use crate::report::{LOG_EVAL_SCRIPT, LOG_INSTANCE, LOG_PATCH, LOG_TEST_OUTPUT};
use crate::runlog::InstanceLog;
use crate::stop::StopFlag;
use crate::testspec::eval_script;

#[derive(Debug, Clone)]
pub struct ValidateOptions {
    pub run_id: String,
    pub workers: usize,
    pub timeout: Duration,
    /// `logs/run_validation/RUN_ID/INSTANCE_ID/{before,after}/` goes here.
    pub log_root: PathBuf,
    /// Set from outside: no new instance starts, running ones stop, and validation ends with
    /// [`HarnessError::StoppedAfter`].
    pub stop: StopFlag,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    pub instance_id: String,
    /// Derived lists (sorted), or the reason they could not be derived.
    pub derived: std::result::Result<(Vec<String>, Vec<String>), String>,
}

impl Validation {
    /// Whether the derived lists equal the dataset's (order ignored).
    pub fn matches(&self, instance: &Instance) -> bool {
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v
        };
        match &self.derived {
            Ok((f2p, p2p)) => {
                *f2p == sorted(&instance.fail_to_pass) && *p2p == sorted(&instance.pass_to_pass)
            }
            Err(_) => false,
        }
    }
}

/// FAIL_TO_PASS and PASS_TO_PASS from the two status maps.
pub fn derive_lists(before: &StatusMap, after: &StatusMap) -> (Vec<String>, Vec<String>) {
    let mut f2p = Vec::new();
    let mut p2p = Vec::new();
    for test in after.keys() {
        if !test_passed(test, after) {
            continue;
        }
        if test_passed(test, before) {
            p2p.push(test.clone());
        } else {
            f2p.push(test.clone());
        }
    }
    (f2p, p2p)
}

pub async fn validate(
    ctx: &BenchContext,
    dataset: &Dataset,
    options: &ValidateOptions,
    events: &EventSink,
) -> Result<Vec<Validation>> {
    for instance in &dataset.instances {
        ctx.spec(instance)?;
    }
    events(EvalEvent::Planned {
        to_run: dataset.instances.len(),
        already_done: 0,
        empty_patches: 0,
    });
    let failed_envs =
        prepare_environments_until(ctx, dataset.instances.iter(), events, &options.stop).await?;
    let failed_envs = &failed_envs;
    let validations: Vec<Option<Validation>> = futures_util::stream::iter(&dataset.instances)
        .map(|instance| async move {
            if options.stop.is_set() {
                return Ok(None);
            }
            events(EvalEvent::Started(instance.instance_id.clone()));
            let key = (instance.repo.clone(), instance.version.clone());
            let validation = match failed_envs.get(&key) {
                Some(reason) => Validation {
                    instance_id: instance.instance_id.clone(),
                    derived: Err(format!("environment: {reason}")),
                },
                None => match validate_instance(ctx, instance, options).await {
                    Err(HarnessError::Stopped) => return Ok(None),
                    other => other?,
                },
            };
            let verdict = match &validation.derived {
                Ok(_) if validation.matches(instance) => crate::evaluate::Verdict::Resolved,
                Ok(_) => crate::evaluate::Verdict::Unresolved,
                Err(e) => crate::evaluate::Verdict::Error(e.clone()),
            };
            events(EvalEvent::Finished(crate::evaluate::InstanceOutcome {
                instance_id: instance.instance_id.clone(),
                verdict,
                timings: Default::default(),
            }));
            Ok::<_, HarnessError>(Some(validation))
        })
        .buffered(options.workers.max(1))
        .try_collect()
        .await?;
    if options.stop.is_set() {
        let done = validations.iter().flatten().count();
        let total = dataset.instances.len();
        return Err(crate::evaluate::stopped_after(done, total, &[ctx]).await);
    }
    Ok(validations.into_iter().flatten().collect())
}

async fn validate_instance(
    ctx: &BenchContext,
    instance: &Instance,
    options: &ValidateOptions,
) -> Result<Validation> {
    let spec = ctx.spec(instance)?;
    let script = eval_script(instance, spec.spec)?;
    let mut maps = Vec::new();
    for (phase, patch) in [("before", None), ("after", Some(instance.patch.as_str()))] {
        let dir = options
            .log_root
            .join("logs")
            .join("run_validation")
            .join(&options.run_id)
            .join(&instance.instance_id)
            .join(phase);
        std::fs::create_dir_all(&dir).context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(dir.join(LOG_PATCH), patch.unwrap_or_default())
            .context(|| format!("cannot write in {}", dir.display()))?;
        std::fs::write(dir.join(LOG_EVAL_SCRIPT), &script)
            .context(|| format!("cannot write in {}", dir.display()))?;
        let mut log = InstanceLog::open(&dir.join(LOG_INSTANCE))?;
        let label = format!(
            "{}.{}.{phase}",
            options.run_id,
            instance.instance_id.to_lowercase()
        );
        let run = run_script(
            ctx,
            instance,
            crate::evaluate::ScriptRequest {
                patch,
                script: &script,
                timeout: options.timeout,
                label: &label,
                version: crate::grading::HarnessVersion::V4_1_0,
                stop: &options.stop,
            },
            &mut log,
        )
        .await;
        let failure = |reason: String| Validation {
            instance_id: instance.instance_id.clone(),
            derived: Err(format!("{phase} the gold patch: {reason}")),
        };
        let output = match run {
            Ok((ScriptRun::Completed(output), _)) => output,
            Ok((ScriptRun::PatchFailed(out), _)) => {
                return Ok(failure(format!(
                    "the gold patch did not apply: {}",
                    out.trim()
                )));
            }
            Ok((ScriptRun::TimedOut(_), _)) => return Ok(failure("timed out".into())),
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => return Ok(failure(e.to_string())),
        };
        std::fs::write(dir.join(LOG_TEST_OUTPUT), &output)
            .context(|| format!("cannot write in {}", dir.display()))?;
        match parse_eval_log(spec.log_parser, &output) {
            LogVerdict::Parsed(map) => maps.push(map),
            LogVerdict::NotApplied => {
                return Ok(failure(
                    "the log has a failure marker or lacks the test output markers".into(),
                ));
            }
        }
    }
    let (f2p, p2p) = derive_lists(&maps[0], &maps[1]);
    if f2p.is_empty() {
        return Ok(Validation {
            instance_id: instance.instance_id.clone(),
            derived: Err("no test goes from failing to passing with the gold patch".into()),
        });
    }
    Ok(Validation {
        instance_id: instance.instance_id.clone(),
        derived: Ok((f2p, p2p)),
    })
}

/// The dataset with the derived lists written in (instances that failed validation keep
/// theirs).
pub fn apply_validations(dataset: &Dataset, validations: &[Validation]) -> Dataset {
    let mut updated = dataset.clone();
    for instance in &mut updated.instances {
        if let Some(Validation {
            derived: Ok((f2p, p2p)),
            ..
        }) = validations
            .iter()
            .find(|v| v.instance_id == instance.instance_id)
        {
            instance.fail_to_pass = f2p.clone();
            instance.pass_to_pass = p2p.clone();
        }
    }
    updated
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log_parsers::TestStatus;

    #[test]
    fn lists_from_before_and_after() {
        let before: StatusMap = [
            ("a", TestStatus::Passed),
            ("b", TestStatus::Failed),
            ("c", TestStatus::Passed),
            ("e", TestStatus::Skipped),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let after: StatusMap = [
            ("a", TestStatus::Passed),
            ("b", TestStatus::Passed),
            ("c", TestStatus::Failed),
            ("d", TestStatus::Xfail),
            ("e", TestStatus::Skipped),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let (f2p, p2p) = derive_lists(&before, &after);
        assert_eq!(f2p, vec!["b", "d"]);
        assert_eq!(p2p, vec!["a"]);
    }
}
