//! Metrics over K samples per instance: pass@k with the unbiased estimator of Chen et al.
//! (2021), and pass-ratio@n, the mean over samples of the squared fraction of listed tests
//! (FAIL_TO_PASS + PASS_TO_PASS) that pass.

use serde::Serialize;

/// One evaluated sample of one instance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleOutcome {
    pub resolved: bool,
    /// Listed tests that passed, and how many were listed (0 when the run errored: counted as
    /// a fraction of 0).
    pub tests_passed: usize,
    pub tests_total: usize,
}

impl SampleOutcome {
    pub fn fraction_passed(&self) -> f64 {
        if self.tests_total == 0 {
            if self.resolved { 1.0 } else { 0.0 }
        } else {
            self.tests_passed as f64 / self.tests_total as f64
        }
    }
}

/// 1 - C(n-c, k) / C(n, k), computed as a product to stay exact for large n.
pub fn pass_at_k(n: usize, c: usize, k: usize) -> f64 {
    if k == 0 || n == 0 {
        return 0.0;
    }
    if n - c.min(n) < k {
        return 1.0;
    }
    let mut all_fail = 1.0;
    for i in (n - c + 1)..=n {
        all_fail *= 1.0 - k as f64 / i as f64;
    }
    1.0 - all_fail
}

/// Mean over samples of (fraction of tests passed)².
pub fn pass_ratio(samples: &[SampleOutcome]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples
        .iter()
        .map(|s| s.fraction_passed().powi(2))
        .sum::<f64>()
        / samples.len() as f64
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsSummary {
    pub instances: usize,
    /// Samples per instance (the smallest count when instances differ).
    pub samples: usize,
    /// (k, mean pass@k over instances) for k = 1, 2, 5, 10, ... up to `samples`.
    pub pass_at_k: Vec<(usize, f64)>,
    /// Mean over instances of pass-ratio@n, n = each instance's sample count.
    pub pass_ratio_at_n: f64,
}

/// Aggregate per-instance samples.
pub fn summarise(per_instance: &[Vec<SampleOutcome>]) -> MetricsSummary {
    let instances = per_instance.len();
    let samples = per_instance.iter().map(Vec::len).min().unwrap_or(0);
    let mut ks: Vec<usize> = [1, 2, 3, 5, 10, 20, 50, 100]
        .into_iter()
        .filter(|&k| k <= samples)
        .collect();
    if samples > 0 && !ks.contains(&samples) {
        ks.push(samples);
    }
    let mean = |f: &dyn Fn(&Vec<SampleOutcome>) -> f64| {
        if instances == 0 {
            0.0
        } else {
            per_instance.iter().map(f).sum::<f64>() / instances as f64
        }
    };
    let pass_at = ks
        .iter()
        .map(|&k| {
            let value = mean(&|s: &Vec<SampleOutcome>| {
                pass_at_k(s.len(), s.iter().filter(|o| o.resolved).count(), k)
            });
            (k, value)
        })
        .collect();
    MetricsSummary {
        instances,
        samples,
        pass_at_k: pass_at,
        pass_ratio_at_n: mean(&|s: &Vec<SampleOutcome>| pass_ratio(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binomial(n: u64, k: u64) -> f64 {
        if k > n {
            return 0.0;
        }
        (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
    }

    #[test]
    fn pass_at_k_matches_the_binomial_definition() {
        for n in 1..=12usize {
            for c in 0..=n {
                for k in 1..=n {
                    let direct =
                        1.0 - binomial((n - c) as u64, k as u64) / binomial(n as u64, k as u64);
                    let got = pass_at_k(n, c, k);
                    assert!(
                        (got - direct).abs() < 1e-9,
                        "n={n} c={c} k={k}: {got} vs {direct}"
                    );
                }
            }
        }
        assert_eq!(pass_at_k(10, 0, 1), 0.0);
        assert_eq!(pass_at_k(10, 10, 1), 1.0);
        assert!((pass_at_k(10, 3, 1) - 0.3).abs() < 1e-12);
    }

    #[test]
    fn pass_ratio_squares_fractions() {
        let s = |p, t| SampleOutcome {
            resolved: p == t,
            tests_passed: p,
            tests_total: t,
        };
        assert!((pass_ratio(&[s(1, 2), s(2, 2)]) - (0.25 + 1.0) / 2.0).abs() < 1e-12);
        let summary = summarise(&[
            vec![s(2, 2), s(0, 2), s(1, 2)],
            vec![s(0, 4), s(0, 4), s(0, 4)],
        ]);
        assert_eq!(summary.samples, 3);
        assert_eq!(summary.pass_at_k[0].0, 1);
        assert!((summary.pass_at_k[0].1 - (1.0 / 3.0) / 2.0).abs() < 1e-12);
        let (k, last) = *summary.pass_at_k.last().unwrap();
        assert_eq!(k, 3);
        assert!((last - 0.5).abs() < 1e-12);
        assert!((summary.pass_ratio_at_n - ((1.0 + 0.0 + 0.25) / 3.0) / 2.0).abs() < 1e-12);
    }
}
