//! Cost of the trust boundary's text passes: redacting one 16 kB observation (what every tool
//! result goes through) and scanning a 1 MB diff for secrets (what every final diff goes
//! through). Prints median, min and max over the runs; `cargo bench -p agent --bench redaction`.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::Instant;

use agent::redact::Redactor;

/// Python test output with the kind of lines a real observation has, plus a few secrets.
fn observation(bytes: usize) -> String {
    let lines = [
        "tests/test_core.py::MeanTest::test_mean_of_three PASSED                     [ 12%]",
        "    assert mean([1, 2, 3]) == 2, f\"got {result!r} for values={values}\"",
        "E       AssertionError: assert 1.5 == 2",
        "HOME=/root PATH=/usr/local/bin:/usr/bin LANG=C.UTF-8 PYTHONPATH=/workspace",
        "  File \"/workspace/stats/core.py\", line 9, in mean",
        "DEPLOY_TOKEN=ghp_R3alL00kingT0kenValue0123456789abcdefgh",
        "def test_settings(settings): settings.SECRET_KEY = compute_key(seed=42)",
    ];
    let mut out = String::new();
    let mut i = 0;
    while out.len() < bytes {
        out.push_str(lines[i % lines.len()]);
        out.push('\n');
        i += 1;
    }
    out
}

fn diff(bytes: usize) -> String {
    let mut out =
        String::from("diff --git a/src/app.py b/src/app.py\n--- a/src/app.py\n+++ b/src/app.py\n");
    let mut n = 1;
    while out.len() < bytes {
        out.push_str(&format!("@@ -{n},3 +{n},4 @@\n context line {n}\n-    value = compute({n})\n+    value = compute({n}, strict=True)\n+    log.debug(\"value=%s\", value)\n context after\n"));
        n += 4;
    }
    out
}

fn measure(runs: usize, mut f: impl FnMut()) -> (f64, f64, f64) {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    (times[times.len() / 2], times[0], times[times.len() - 1])
}

fn main() {
    let redactor = Redactor::new(vec![
        "sk-proj-userskey0123456789abcdefghijklmnop".to_string(),
        "custom-service-credential-7f3a9b".to_string(),
    ]);
    let text = observation(16 * 1024);
    let redacted = redactor.redact(&text);
    assert!(!redacted.contains("ghp_R3al"));
    let (median, min, max) = measure(501, || {
        std::hint::black_box(redactor.redact(std::hint::black_box(&text)));
    });
    println!(
        "redact one {} B observation: median {median:.1} µs (min {min:.1}, max {max:.1}; 501 runs)",
        text.len()
    );
    let big = diff(1024 * 1024);
    let (median, min, max) = measure(21, || {
        std::hint::black_box(redactor.scan_diff(std::hint::black_box(&big)));
    });
    println!(
        "scan a {} B diff: median {:.2} ms (min {:.2}, max {:.2}; 21 runs)",
        big.len(),
        median / 1000.0,
        min / 1000.0,
        max / 1000.0
    );
}
