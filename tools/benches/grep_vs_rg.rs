//! Prints how long our `grep` search (the library call behind the tool) takes compared with the
//! `rg` binary, same patterns and equivalent flags, median of several runs per tree.
//!
//! Usage: cargo bench -p agent-tools --bench grep_vs_rg -- [TREE ...]
//! Without trees it uses the Django sdist unpacked under /tmp/django
//! (`pip download --no-deps --no-binary :all: django -d /tmp/django && tar xf ...`) and the
//! CPython standard library: /tmp/cpython-stdlib if present (a copy without site-packages),
//! else the `stdlib` path python3 reports.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agent_tools::builtin::search::{GrepOptions, search};

const RUNS: usize = 9;

struct Case {
    label: &'static str,
    pattern: &'static str,
    literal: bool,
    files_only: bool,
    context: usize,
}

const CASES: &[Case] = &[
    Case {
        label: "literal, many hits",
        pattern: "def __init__(self",
        literal: true,
        files_only: false,
        context: 0,
    },
    Case {
        label: "regex",
        pattern: r"def \w+_(get|set)_\w+\(self",
        literal: false,
        files_only: false,
        context: 0,
    },
    Case {
        label: "common word, files only",
        pattern: "import",
        literal: true,
        files_only: true,
        context: 0,
    },
    Case {
        label: "regex with context 2",
        pattern: r"raise (Type|Value)Error\(",
        literal: false,
        files_only: false,
        context: 2,
    },
    Case {
        label: "no match (walk + scan)",
        pattern: "zq_no_such_identifier_qz",
        literal: true,
        files_only: false,
        context: 0,
    },
];

/// Flags that make rg behave like our walker and searcher: hidden files searched, .gitignore
/// honoured without a git repository, no global gitignore, line numbers on, output to a pipe.
fn rg_command(case: &Case, tree: &Path) -> Command {
    let mut cmd = Command::new("rg");
    cmd.args([
        "--hidden",
        "--no-require-git",
        "--no-ignore-global",
        "-n",
        "--no-heading",
        "--color=never",
    ]);
    if case.literal {
        cmd.arg("-F");
    }
    if case.files_only {
        cmd.arg("-l");
    }
    if case.context > 0 {
        cmd.arg(format!("-C{}", case.context));
    }
    cmd.arg("-e").arg(case.pattern).arg(tree);
    cmd
}

fn time_rg(case: &Case, tree: &Path) -> Duration {
    let start = Instant::now();
    let out = rg_command(case, tree)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .expect("run rg");
    let elapsed = start.elapsed();
    std::hint::black_box(out.stdout.len());
    elapsed
}

fn time_ours(case: &Case, tree: &Path) -> Duration {
    let opts = options(case);
    let start = Instant::now();
    let hits = search(tree, tree, &opts).expect("valid pattern");
    let elapsed = start.elapsed();
    std::hint::black_box(hits.files.len());
    elapsed
}

fn options(case: &Case) -> GrepOptions {
    GrepOptions {
        pattern: case.pattern.to_string(),
        literal: case.literal,
        files_only: case.files_only,
        context: case.context,
    }
}

/// (files with a match, matching lines) as rg counts them, to check both tools agree.
fn rg_counts(case: &Case, tree: &Path) -> (usize, u64) {
    let mut cmd = Command::new("rg");
    cmd.args([
        "--hidden",
        "--no-require-git",
        "--no-ignore-global",
        "-c",
        "--color=never",
    ]);
    if case.literal {
        cmd.arg("-F");
    }
    cmd.arg("-e").arg(case.pattern).arg(tree);
    let out = cmd.output().expect("run rg -c");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut files = 0;
    let mut lines = 0;
    for line in text.lines() {
        if let Some((_, n)) = line.rsplit_once(':') {
            files += 1;
            lines += n.parse::<u64>().unwrap_or(0);
        }
    }
    (files, lines)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn default_trees() -> Vec<PathBuf> {
    let mut trees = Vec::new();
    let django = Path::new("/tmp/django");
    if let Ok(entries) = std::fs::read_dir(django) {
        for entry in entries.flatten() {
            if entry.path().is_dir() {
                trees.push(entry.path());
            }
        }
    }
    let stripped = PathBuf::from("/tmp/cpython-stdlib");
    if stripped.is_dir() {
        trees.push(stripped);
    } else if let Ok(out) = Command::new("python3")
        .args([
            "-c",
            "import sysconfig;print(sysconfig.get_paths()['stdlib'])",
        ])
        .output()
    {
        trees.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    trees
}

fn main() {
    let args: Vec<PathBuf> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .collect();
    let trees = if args.is_empty() {
        default_trees()
    } else {
        args
    };
    if Command::new("rg").arg("--version").output().is_err() {
        println!("rg is not installed (apt-get install ripgrep)");
        return;
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("grep vs rg: median of {RUNS} runs, {threads} cores, warm page cache");
    for tree in &trees {
        let files = ignore::WalkBuilder::new(tree).hidden(false).build().count();
        println!("\ntree {} ({files} entries)", tree.display());
        println!(
            "{:<26} {:>10} {:>10} {:>7}   {:>16} {:>16}",
            "case", "ours ms", "rg ms", "ratio", "ours files/lines", "rg files/lines"
        );
        let mut ratios = Vec::new();
        for case in CASES {
            // Warm-up: page cache and the rg binary.
            time_rg(case, tree);
            time_ours(case, tree);
            let mut ours = Vec::new();
            let mut rg = Vec::new();
            for _ in 0..RUNS {
                ours.push(time_ours(case, tree));
                rg.push(time_rg(case, tree));
            }
            let (ours_ms, rg_ms) = (
                median(ours).as_secs_f64() * 1e3,
                median(rg).as_secs_f64() * 1e3,
            );
            let ratio = ours_ms / rg_ms;
            ratios.push(ratio);
            let hits = search(tree, tree, &options(case)).expect("valid pattern");
            let ours_counts = if case.files_only {
                format!("{}/-", hits.files.len())
            } else {
                format!("{}/{}", hits.files.len(), hits.total_matches())
            };
            let (rg_files, rg_lines) = rg_counts(case, tree);
            let rg_counts = if case.files_only {
                format!("{rg_files}/-")
            } else {
                format!("{rg_files}/{rg_lines}")
            };
            println!(
                "{:<26} {ours_ms:>10.1} {rg_ms:>10.1} {ratio:>6.2}x   {ours_counts:>16} {rg_counts:>16}",
                case.label
            );
        }
        let geo = ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64;
        println!("geometric mean ratio ours/rg: {:.2}x", geo.exp());
    }
}
