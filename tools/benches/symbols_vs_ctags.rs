//! Symbol index vs `ctags -R` (universal-ctags) on a real tree (the Django sdist).
//!
//! Run: `cargo bench -p agent-tools --bench symbols_vs_ctags -- [TREE] [RUNS]`
//! TREE defaults to the first `/tmp/django/django-*` directory (get it with
//! `pip download --no-deps --no-binary :all: django -d /tmp/django` and untar it).
//! Prints medians; the tree is only read, except one file that is edited and restored.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use agent_tools::lang::Lang;
use agent_tools::symbols::SymbolIndex;
use agent_tools::symbols::extract::extract_with;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU time of this process so far (all threads).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn default_tree() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/tmp/django")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.into_iter().next()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let tree = args
        .first()
        .map(PathBuf::from)
        .or_else(default_tree)
        .expect("give the tree to index (e.g. the untarred Django sdist) as the first argument");
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(7);
    if std::env::args().any(|a| a == "--build-once") {
        // For `perf stat`: one cold build and nothing else.
        let start = Instant::now();
        let index = SymbolIndex::open(&tree, None).unwrap();
        println!("built {} files in {}", index.len(), ms(start.elapsed()));
        return;
    }
    let version = Command::new("ctags")
        .arg("--version")
        .output()
        .expect("ctags not found");
    let version = String::from_utf8_lossy(&version.stdout);
    let first = version.lines().next().unwrap_or("");
    assert!(
        first.contains("Universal Ctags"),
        "need universal-ctags, found: {first}"
    );
    println!("tree: {} ({runs} runs each, medians)", tree.display());
    println!("ctags: {first}");

    // Warm the page cache for both tools.
    let _ = SymbolIndex::open(&tree, None).unwrap();

    // Runs alternate between ctags and ours so that both see the same background load.
    let tags = std::env::temp_dir().join("symbols_bench.tags");
    let mut ctags_times = Vec::new();
    let mut ctags_rss = 0u64;
    let mut ctags_cpu = Vec::new();
    let mut ours = Vec::new();
    let mut ours_cpu = Vec::new();
    let mut stats = None;
    let mut our_rss = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let out = Command::new("/usr/bin/time")
            .args(["-f", "%M %U %S", "ctags", "-R", "-f"])
            .arg(&tags)
            .arg(&tree)
            .output()
            .expect("run ctags");
        ctags_times.push(start.elapsed());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last: Vec<f64> = stderr
            .lines()
            .last()
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if let [kib, user, sys] = last[..] {
            ctags_rss = ctags_rss.max(kib as u64);
            ctags_cpu.push(Duration::from_secs_f64(user + sys));
        }

        let start = Instant::now();
        let cpu_start = cpu_time();
        let index = SymbolIndex::open(&tree, None).unwrap();
        ours.push(start.elapsed());
        ours_cpu.push(cpu_time() - cpu_start);
        // Peak RSS of this process while it holds one full index (before anything else ran).
        if our_rss == 0 {
            our_rss = peak_rss_kib();
        }
        stats = Some((
            index.len(),
            index.files().iter().map(|f| f.defs.len()).sum::<usize>(),
            index
                .files()
                .iter()
                .map(|f| f.refs.occurrence_count())
                .sum::<usize>(),
        ));
    }
    let ctags_tags = std::fs::read_to_string(&tags)
        .map(|t| t.lines().filter(|l| !l.starts_with("!_")).count())
        .unwrap_or(0);
    let (files, defs, refs) = stats.unwrap();

    let mut with_save = Vec::new();
    let mut warm = Vec::new();
    let mut cache_size = 0;
    for _ in 0..runs {
        let cache = tempfile::tempdir().unwrap();
        let start = Instant::now();
        let index = SymbolIndex::open(&tree, Some(cache.path())).unwrap();
        with_save.push(start.elapsed());
        cache_size = std::fs::metadata(index.cache_file().unwrap())
            .map(|m| m.len())
            .unwrap_or(0);
        drop(index);
        let start = Instant::now();
        let index = SymbolIndex::open(&tree, Some(cache.path())).unwrap();
        warm.push(start.elapsed());
        assert_eq!(index.last_stats().reparsed_files, 0);
    }

    // Incremental: edit one mid-size file, update just it, restore it.
    let target = pick_file(&tree);
    let rel = target.strip_prefix(&tree).unwrap().to_path_buf();
    let original = std::fs::read_to_string(&target).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut index = SymbolIndex::open(&tree, Some(cache.path())).unwrap();
    let mut incremental = Vec::new();
    let mut cache_write = Vec::new();
    for i in 0..runs {
        let edited = format!("{original}\n\ndef added_by_bench_{i}(x):\n    return x\n");
        std::fs::write(&target, &edited).unwrap();
        let start = Instant::now();
        let s = index.update_files(std::slice::from_ref(&rel));
        incremental.push(start.elapsed());
        assert_eq!(s.reparsed_files, 1);
        assert!(
            index
                .file(&rel.to_string_lossy())
                .unwrap()
                .defs
                .iter()
                .any(|d| d.name == format!("added_by_bench_{i}"))
        );
        // The cache file is written in the background; time until it is on disk.
        index.wait_for_background_save();
        cache_write.push(start.elapsed());
    }
    std::fs::write(&target, &original).unwrap();
    index.update_files(std::slice::from_ref(&rel));

    let ctags_median = median(ctags_times);
    let ours_median = median(ours);
    println!();
    println!(
        "ctags -R:                        {} ({ctags_tags} tags, peak RSS {} MiB)",
        ms(ctags_median),
        ctags_rss / 1024
    );
    println!(
        "ours, full build (no cache):     {} ({files} files, {defs} definitions, {refs} references, peak RSS {} MiB)",
        ms(ours_median),
        our_rss / 1024
    );
    println!(
        "ratio ours/ctags:                {:.2} (wall time)",
        ours_median.as_secs_f64() / ctags_median.as_secs_f64()
    );
    let (ctags_cpu, ours_cpu) = (median(ctags_cpu), median(ours_cpu));
    println!(
        "CPU time (user+sys):             ctags {}, ours {} (ratio {:.2}; ours on {} threads)",
        ms(ctags_cpu),
        ms(ours_cpu),
        ours_cpu.as_secs_f64() / ctags_cpu.as_secs_f64().max(1e-9),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "ours, build + write cache:       {} (cache file {:.1} MiB)",
        ms(median(with_save)),
        cache_size as f64 / 1048576.0
    );
    println!("ours, load unchanged from cache: {}", ms(median(warm)));
    println!(
        "incremental after editing {} ({} lines): index updated in {}; cache file rewritten (background) after {}",
        rel.display(),
        original.lines().count(),
        ms(median(incremental)),
        ms(median(cache_write))
    );

    if std::env::args().any(|a| a == "--verify") {
        verify_skipping(&tree);
    }
    if std::env::args().any(|a| a == "--breakdown") {
        breakdown(&tree);
    }
}

/// A Python file of about 1000 lines outside the tests.
fn pick_file(tree: &Path) -> PathBuf {
    let candidate = tree.join("django/db/models/fields/related.py");
    if candidate.exists() {
        return candidate;
    }
    let index = SymbolIndex::open(tree, None).unwrap();
    let file = index
        .files()
        .into_iter()
        .filter(|f| f.lang == Lang::Python)
        .min_by_key(|f| (f.line_count as i64 - 1000).abs())
        .expect("no Python file in the tree")
        .path
        .clone();
    tree.join(file)
}

/// Checks that skipping Python function bodies yields the same definitions as a full parse.
fn verify_skipping(tree: &Path) {
    let index = SymbolIndex::open(tree, None).unwrap();
    let mut files = 0;
    let mut differing = Vec::new();
    let (mut t_skip, mut t_full) = (Duration::ZERO, Duration::ZERO);
    for f in index.files() {
        if !matches!(f.lang, Lang::Python | Lang::JavaScript) {
            continue;
        }
        files += 1;
        let source = std::fs::read_to_string(tree.join(&f.path)).unwrap_or_default();
        let start = Instant::now();
        let skipped = extract_with(f.lang, &f.path, &source, true);
        t_skip += start.elapsed();
        let start = Instant::now();
        let full = extract_with(f.lang, &f.path, &source, false);
        t_full += start.elapsed();
        if skipped.defs != full.defs {
            let first = skipped
                .defs
                .iter()
                .zip(&full.defs)
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("skipped {a:?}\n    full    {b:?}"))
                .unwrap_or_else(|| {
                    format!("{} vs {} definitions", skipped.defs.len(), full.defs.len())
                });
            differing.push(format!("{}: {first}", f.path));
        }
    }
    println!(
        "verify: {files} Python and JavaScript files, {} differ between skipped and full parse; single-thread extract {} skipped vs {} full",
        differing.len(),
        ms(t_skip),
        ms(t_full)
    );
    for path in differing.iter().take(10) {
        println!("  differs: {path}");
    }
}

/// Single-thread extraction time per language (files read beforehand), to see where time goes.
fn breakdown(tree: &Path) {
    let index = SymbolIndex::open(tree, None).unwrap();
    let sources: Vec<(Lang, String, String)> = index
        .files()
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(tree.join(&f.path)).unwrap_or_default();
            (f.lang, f.path.clone(), text)
        })
        .collect();
    let mut per_lang: std::collections::BTreeMap<&str, (usize, usize, Duration)> =
        std::collections::BTreeMap::new();
    for (lang, path, text) in &sources {
        let cpu = cpu_time();
        let start = Instant::now();
        for _ in 0..3 {
            std::hint::black_box(extract_with(*lang, path, text, true));
        }
        let elapsed = start.elapsed() / 3;
        let _ = cpu;
        let entry = per_lang.entry(lang.name()).or_default();
        entry.0 += 1;
        entry.1 += text.len();
        entry.2 += elapsed;
    }
    println!("breakdown (single thread, files in memory, mean of 3):");
    for (lang, (files, bytes, time)) in per_lang {
        println!(
            "  {lang:<12} {files:>5} files {:>6.1} MiB  {}",
            bytes as f64 / 1048576.0,
            ms(time)
        );
    }
}
