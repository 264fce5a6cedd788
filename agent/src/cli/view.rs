//! `agent view`: one self-contained HTML page for a trajectory, or for a `bench run` output
//! folder (a table of instances linking to a page per trajectory).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::Args;

use crate::printer::Printer;
use crate::view::{self, EvalRun, ViewRequest};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  agent view .agent/trajectories/run.jsonl --open\n  \
agent view out --run-id graded           # a `bench run --output out` folder, graded by `bench eval --run-id graded`"
)]
pub struct ViewArgs {
    /// A trajectory file, or a `bench run --output` folder.
    pub input: PathBuf,
    /// The page to write. Default: `X.html` beside the trajectory `X.traj.json`/`X.jsonl`, or
    /// `FOLDER/view/index.html` for a batch (with one page per trajectory beside it).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// For a batch: the `bench eval --run-id` whose reports grade the rows.
    #[arg(long)]
    pub run_id: Option<String>,
    /// For a batch: where that evaluation wrote `logs/` (its `--log-dir`).
    #[arg(long, default_value = ".")]
    pub log_dir: PathBuf,
    /// Open the page in the default browser.
    #[arg(long)]
    pub open: bool,
}

pub async fn run(args: ViewArgs, printer: &Printer) -> Result<ExitCode> {
    let request = ViewRequest {
        input: args.input,
        eval: args.run_id.map(|run_id| EvalRun {
            run_id,
            log_dir: args.log_dir,
        }),
        output: args.output,
    };
    let started = Instant::now();
    let written = tokio::task::spawn_blocking(move || view::write(&request)).await??;
    printer.status(&format!(
        "wrote {} page{} ({:.1} MB) in {:.2}s",
        written.pages,
        if written.pages == 1 { "" } else { "s" },
        written.bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    ));
    printer.result(&format!("{}\n", written.page.display()));
    if args.open {
        open_in_browser(&written.page, printer);
    }
    Ok(ExitCode::SUCCESS)
}

fn open_in_browser(page: &std::path::Path, printer: &Printer) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let page = std::fs::canonicalize(page).unwrap_or_else(|_| page.to_path_buf());
    match std::process::Command::new(opener)
        .arg(&page)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(_) => {}
        Err(e) => printer.warn(&format!(
            "cannot run `{opener}` to open the page ({e}); open {} in a browser",
            page.display()
        )),
    }
}
