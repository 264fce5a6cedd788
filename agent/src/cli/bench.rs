//! `agent bench eval|validate`: SWE-bench evaluation with the official grader's verdicts, in
//! fresh Docker containers on any engine (`DOCKER_HOST`), offline (`--repos`).
//!
//! `--dataset mini` is the bundled mini dataset (two small repositories, seven instances):
//! `agent bench eval --dataset mini --predictions gold --run-id first` needs only Docker.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use agent_harness::context::{BenchContext, ContextOptions, SetupMode};
use agent_harness::engines::EnginePool;
use agent_harness::engines::EngineUse;
use agent_harness::evaluate::{EvalEvent, EvalOptions, Verdict, evaluate};
use agent_harness::evaluate_pool::evaluate_on;
use agent_harness::grading::HarnessVersion;
use agent_harness::official::ImageSource;
use agent_harness::repos::RepoSource;
use agent_harness::stop::StopFlag;
use agent_harness::validate::{ValidateOptions, apply_validations, validate};
use agent_harness::{Dataset, HarnessError, Predictions, SpecTable, mini};

use crate::bench::progress::EvalProgress;
use crate::printer::Printer;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Evaluate predictions (a .json/.jsonl file, or `gold`) as the official harness grades them.
    Eval(EvalArgs),
    /// Run the tests before and after each gold patch; check or write FAIL_TO_PASS/PASS_TO_PASS.
    Validate(ValidateArgs),
    /// Run the agent over a dataset, in parallel and resumably, writing SWE-bench predictions.
    Run(Box<super::bench_run::BenchRunArgs>),
    /// pass@k and pass-ratio@n over several evaluation runs (one per sample).
    Metrics(super::bench_metrics::BenchMetricsArgs),
    /// Merge the folders of `--shard I/N` runs into one: predictions, trajectories, reports and
    /// one summary per evaluation, as one unsharded run would have written them.
    Merge(super::bench_merge::BenchMergeArgs),
}

/// What `eval` and `validate` share.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Dataset file (.json list or .jsonl), or `mini` for the bundled mini dataset.
    #[arg(long)]
    pub dataset: String,
    /// Only these instance ids.
    #[arg(long, num_args = 1..)]
    pub instances: Vec<String>,
    /// Only shard I of N (0-based): the instances whose id's SHA-256 (first 8 bytes,
    /// big-endian) is I modulo N. Stable across runs and datasets; `agent bench merge` joins
    /// the shards' folders. In a Kubernetes Indexed Job: `$JOB_COMPLETION_INDEX/N`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<agent_harness::shard::Shard>,
    /// A Docker engine and its worker count (repeatable; `bench eval` and `bench run`): the
    /// batch runs across all of them, an instance on a free worker of any; an engine that dies
    /// has its instances redone on the others. Any address DOCKER_HOST takes (TLS from
    /// DOCKER_TLS_VERIFY and DOCKER_CERT_PATH). Replaces the user config's
    /// `[[bench.engines]]`. Without either: DOCKER_HOST with --workers.
    #[arg(long = "engine", value_name = "URL[=N]")]
    pub engines: Vec<agent_harness::engines::EngineSpec>,
    /// Directory of bare clones named `owner__name.git`, or a URL template such as
    /// `https://github.com/{repo}.git`. Defaults to the bundled repositories for `mini`.
    #[arg(long)]
    pub repos: Option<String>,
    /// Extra environment specs (JSON or TOML), merged over the bundled table.
    #[arg(long)]
    pub specs: Option<PathBuf>,
    /// Parallel instances.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Seconds for each instance's eval script; a timeout makes the instance an error.
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
    /// Where instance setup happens: `image` (a cached image layer per instance; faster from
    /// the second evaluation on) or `container` (in each fresh container; no image on disk).
    #[arg(long, default_value = "image")]
    pub setup: SetupMode,
    /// Directory under which `logs/` is written.
    #[arg(long, default_value = ".")]
    pub log_dir: PathBuf,
    /// Turn networking off in evaluation containers (installs that download will fail).
    #[arg(long)]
    pub no_network: bool,
    /// Install missing host requirements (with apt-get) instead of only naming them.
    #[arg(long)]
    pub yes: bool,
    /// Instance images: `local` (built here from the specs) or `official` (the prebuilt
    /// official images by their official names, pulled; conda environments included).
    #[arg(long, default_value = "local")]
    pub image_source: String,
    /// With `--image-source official`: the registry or mirror to pull from (HOST[:PORT][/PATH]);
    /// Docker Hub without it.
    #[arg(long)]
    pub registry: Option<String>,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Predictions file (.json or .jsonl), or `gold` for each instance's own patch.
    #[arg(long)]
    pub predictions: String,
    /// Names this evaluation; logs go to logs/run_evaluation/RUN_ID/.
    #[arg(long)]
    pub run_id: String,
    /// Where the summary MODEL.RUN_ID.json is written.
    #[arg(long, default_value = ".")]
    pub report_dir: PathBuf,
    /// Grade as this official harness does: `4.1.0` or `5` (5.x: rows' eval_script,
    /// log_parser and eval_type decide; skipped FAIL_TO_PASS fail; test exit code recorded).
    #[arg(long, default_value = "4.1.0")]
    pub harness_version: HarnessVersion,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Write the derived lists into the dataset file instead of only checking them.
    #[arg(long)]
    pub write: bool,
    #[arg(long, default_value = "validate")]
    pub run_id: String,
}

pub async fn run(args: BenchArgs, printer: &Printer) -> Result<ExitCode> {
    match args.command {
        BenchCommand::Eval(args) => eval(args, printer).await,
        BenchCommand::Validate(args) => validate_cmd(args, printer).await,
        BenchCommand::Run(args) => super::bench_run::run(*args, printer).await,
        BenchCommand::Metrics(args) => super::bench_metrics::run(args, printer).await,
        BenchCommand::Merge(args) => super::bench_merge::run(args, printer),
    }
}

/// The dataset file and the repository source, resolving `mini`.
pub(super) async fn dataset_and_repos(common: &CommonArgs) -> Result<(PathBuf, RepoSource)> {
    if common.dataset == mini::MINI {
        let paths = mini::materialize(&mini::cache_root())
            .await
            .context("preparing the bundled mini dataset")?;
        let repos = match &common.repos {
            Some(r) => RepoSource::parse(r),
            None => RepoSource::Dir(paths.repos),
        };
        return Ok((paths.dataset, repos));
    }
    let repos = common.repos.as_deref().ok_or_else(|| {
        anyhow::anyhow!(
            "--repos is required with --dataset {}: a directory of bare clones named \
             owner__name.git, or a URL template like https://github.com/{{repo}}.git",
            common.dataset
        )
    })?;
    Ok((PathBuf::from(&common.dataset), RepoSource::parse(repos)))
}

/// Checks the host before any work starts: git, the Docker engine, and what building the
/// dataset's missing Python images needs. Every missing requirement is named once.
pub(super) async fn preflight(common: &CommonArgs, printer: &Printer) -> Result<()> {
    let dataset = if common.dataset == mini::MINI {
        mini::dataset()?
    } else {
        Dataset::load(std::path::Path::new(&common.dataset))?
    }
    .select(&common.instances)?
    .shard(common.shard)?;
    let specs = SpecTable::load(common.specs.as_deref())?;
    let mut pythons: Vec<String> = dataset
        .instances
        .iter()
        .filter_map(|i| specs.lookup(&i.repo, &i.version).ok())
        .map(|s| s.spec.python.clone())
        .collect();
    pythons.sort();
    pythons.dedup();
    let needs = crate::preflight::Needs {
        git: true,
        docker: true,
        pythons,
        base_image: None,
    };
    let sink = *printer;
    crate::preflight::ensure(&needs, common.yes, &move |s| sink.status(s)).await?;
    Ok(())
}

pub(super) async fn bench_context(common: &CommonArgs, repos: RepoSource) -> Result<BenchContext> {
    Ok(BenchContext::connect(context_options(common, repos)?).await?)
}

fn context_options(common: &CommonArgs, repos: RepoSource) -> Result<ContextOptions> {
    let specs = SpecTable::load(common.specs.as_deref())?;
    let mut options = ContextOptions::new(specs, repos);
    options.setup_mode = common.setup;
    options.network = !common.no_network;
    options.log_root = common.log_dir.clone();
    options.image_source = ImageSource::parse(&common.image_source, common.registry.as_deref())
        .map_err(|e| anyhow::anyhow!(e))?;
    Ok(options)
}

fn sink(progress: &Arc<EvalProgress>) -> impl Fn(EvalEvent) + Send + Sync + 'static {
    let progress = progress.clone();
    move |event| progress.on_event(&event)
}

async fn eval(args: EvalArgs, printer: &Printer) -> Result<ExitCode> {
    preflight(&args.common, printer).await?;
    let (dataset_path, repos) = dataset_and_repos(&args.common).await?;
    let full = Dataset::load(&dataset_path)?;
    let predictions = Predictions::load(&args.predictions, &full)?;
    let dataset = full
        .select(&args.common.instances)?
        .shard(args.common.shard)?;
    let options = EvalOptions {
        run_id: args.run_id.clone(),
        workers: args.common.workers,
        timeout: Duration::from_secs(args.common.timeout),
        log_root: args.common.log_dir.clone(),
        report_dir: args.report_dir.clone(),
        harness_version: args.harness_version,
        stop: stop_flag(printer),
    };
    let progress = Arc::new(EvalProgress::new(printer, "eval", ("✓", "✖")));
    let engines = chosen_engines(
        &args.common,
        &crate::config::user_bench_engines(&crate::config::process_env)?,
    );
    let report = if engines.is_empty() {
        let ctx = bench_context(&args.common, repos).await?;
        evaluate(&ctx, &dataset, &predictions, &options, &sink(&progress)).await
    } else {
        let pool = engine_pool(&args.common, repos, &engines).await?;
        let result = evaluate_on(&pool, &dataset, &predictions, &options, &sink(&progress)).await;
        result.map(|(report, usage)| {
            print_engine_use(&usage, "graded", printer);
            report
        })
    };
    progress.finish();
    let report = match report {
        Err(e) => return stopped(e, printer),
        Ok(report) => report,
    };
    let errors = errors_by_reason(&report.outcomes);
    for (reason, ids) in &errors {
        printer.error(&format!(
            "{} ({}): {reason}",
            plural_instances(ids.len()),
            ids.join(", ")
        ));
    }
    let mut text = report.summary.lines().join("\n");
    text.push_str(&format!(
        "\nReport written to {}\n",
        report.summary_path.display()
    ));
    printer.result(&text);
    // Any instance that ended in error makes the command fail (README: exit codes).
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Ctrl-C/SIGTERM stop the evaluation through this flag (see `run::interrupt`).
fn stop_flag(printer: &Printer) -> StopFlag {
    StopFlag::new(crate::run::interrupt::interrupt_flag_saying(
        *printer,
        "interrupted: no new instance starts; the running ones are stopped and their containers removed",
        crate::run::interrupt::BATCH_STOP_GRACE,
    ))
}

/// A stopped evaluation ends with one line and 130 (SIGINT) or 143 (SIGTERM); any other error
/// is returned.
fn stopped(error: HarnessError, printer: &Printer) -> Result<ExitCode> {
    if let (HarnessError::StoppedAfter { .. }, Some(signal)) =
        (&error, crate::run::interrupt::stop_signal())
    {
        printer.error(&format!("{error} (stopped by {})", signal.name()));
        return Ok(ExitCode::from(signal.exit_code()));
    }
    Err(error.into())
}

/// `--engine` is implemented for `bench eval` and `bench run`: elsewhere it is refused rather
/// than ignored.
pub(super) fn refuse_engines(common: &CommonArgs, command: &str) -> Result<()> {
    if common.engines.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "`{command}` does not take --engine (only `bench eval` and `bench run` run across \
         engines); point DOCKER_HOST at one engine and use --workers, or split the dataset \
         with --shard I/N"
    )
}

/// The engines of a batch: `--engine` when given, else the user's `[[bench.engines]]`; none
/// means `DOCKER_HOST` alone with `--workers`.
pub(super) fn chosen_engines(
    common: &CommonArgs,
    from_config: &[agent_harness::engines::EngineSpec],
) -> Vec<agent_harness::engines::EngineSpec> {
    if common.engines.is_empty() {
        from_config.to_vec()
    } else {
        common.engines.clone()
    }
}

/// The pool a batch runs on: the chosen engines, each with its own context, or one context on
/// `DOCKER_HOST` with `--workers`.
pub(super) async fn engine_pool(
    common: &CommonArgs,
    repos: RepoSource,
    engines: &[agent_harness::engines::EngineSpec],
) -> Result<EnginePool> {
    if engines.is_empty() {
        let ctx = bench_context(common, repos).await?;
        return Ok(EnginePool::single(ctx, common.workers)?);
    }
    Ok(EnginePool::connect(engines, &context_options(common, repos)?).await?)
}

/// Which engine ran what (`what`: "graded", "ran"), and what was redone after an engine died.
pub(super) fn print_engine_use(usage: &EngineUse, what: &str, printer: &Printer) {
    for (engine, ids) in &usage.by_engine {
        printer.status(&format!("{engine} {what} {}", plural_instances(ids.len())));
    }
    for engine in &usage.lost_engines {
        printer.warn(&format!("{engine} stopped answering during the batch"));
    }
    if usage.retried > 0 {
        printer.status(&format!(
            "{} redone on another engine after theirs died",
            plural_instances(usage.retried)
        ));
    }
    if !usage.path.as_os_str().is_empty() {
        printer.status(&format!("engines per instance in {}", usage.path.display()));
    }
}

/// Instance errors grouped by their reason, so that one cause (an environment that could not be
/// built) is printed once with the instances it hit, not once per instance.
fn errors_by_reason(
    outcomes: &[agent_harness::evaluate::InstanceOutcome],
) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for outcome in outcomes {
        if let Verdict::Error(reason) = &outcome.verdict {
            match groups.iter_mut().find(|(r, _)| r == reason) {
                Some((_, ids)) => ids.push(outcome.instance_id.clone()),
                None => groups.push((reason.clone(), vec![outcome.instance_id.clone()])),
            }
        }
    }
    groups
}

fn plural_instances(n: usize) -> String {
    if n == 1 {
        "1 instance".into()
    } else {
        format!("{n} instances")
    }
}

async fn validate_cmd(args: ValidateArgs, printer: &Printer) -> Result<ExitCode> {
    refuse_engines(&args.common, "bench validate")?;
    preflight(&args.common, printer).await?;
    let (dataset_path, repos) = dataset_and_repos(&args.common).await?;
    let full = Dataset::load(&dataset_path)?;
    let dataset = full
        .select(&args.common.instances)?
        .shard(args.common.shard)?;
    let ctx = bench_context(&args.common, repos).await?;
    let options = ValidateOptions {
        run_id: args.run_id.clone(),
        workers: args.common.workers,
        timeout: Duration::from_secs(args.common.timeout),
        log_root: args.common.log_dir.clone(),
        stop: stop_flag(printer),
    };
    let progress = Arc::new(EvalProgress::new(printer, "validate", ("match", "differ")));
    let validations = validate(&ctx, &dataset, &options, &sink(&progress)).await;
    progress.finish();
    let validations = match validations {
        Err(e) => return stopped(e, printer),
        Ok(validations) => validations,
    };
    let mut lines = Vec::new();
    let mut all_ok = true;
    for v in &validations {
        let instance = dataset.get(&v.instance_id);
        match &v.derived {
            Ok((f2p, p2p)) => {
                let same = instance.is_some_and(|i| v.matches(i));
                all_ok &= same || args.write;
                lines.push(format!(
                    "{}: FAIL_TO_PASS {} PASS_TO_PASS {} {}",
                    v.instance_id,
                    f2p.len(),
                    p2p.len(),
                    if same {
                        "(matches the dataset)"
                    } else {
                        "(differs from the dataset)"
                    }
                ));
            }
            Err(reason) => {
                all_ok = false;
                lines.push(format!("{}: invalid: {reason}", v.instance_id));
            }
        }
    }
    if args.write {
        if args.common.dataset == mini::MINI {
            anyhow::bail!("--write needs a dataset file, not the bundled `mini`");
        }
        let updated = apply_validations(&full, &validations);
        updated.save(&dataset_path)?;
        lines.push(format!("wrote {}", dataset_path.display()));
    }
    printer.result(&(lines.join("\n") + "\n"));
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
