//! Statistics for honest error bars: Wilson intervals for one proportion, a seeded
//! percentile bootstrap for macro averages (mean over subjects), and McNemar's test with a
//! paired difference interval for comparing two endpoints on the same items.
//!
//! Pure functions; checked against hand-computed values in the tests.

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Wilson score interval for a binomial proportion at 95%; honest for small n and for
/// accuracies near 0 or 1, where the normal approximation is not.
pub fn wilson_interval(successes: i64, trials: i64) -> (f64, f64) {
    wilson_interval_for_points(successes as f64, trials)
}

/// [`wilson_interval`] for a mean credit: `points` may be fractional where items earn
/// partial credit (GAOKAO-Bench multi-select, CMRC2018 F1). One implementation serves
/// scores and provenance: the provenance crate's (see its note on the approximation).
pub fn wilson_interval_for_points(points: f64, trials: i64) -> (f64, f64) {
    let Ok(trials) = usize::try_from(trials) else {
        return (0.0, 0.0);
    };
    jianzhen_provenance::agreement::wilson_interval_95_for_points(points, trials)
        .map_or((0.0, 0.0), |interval| (interval.lower, interval.upper))
}

/// SplitMix64: a tiny, well-mixed generator, so a seed reproduces a bootstrap exactly
/// on every platform without a dependency.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (bound > 0), by rejection so there is no modulo bias.
    pub fn below(&mut self, bound: usize) -> usize {
        let bound = bound as u64;
        let zone = u64::MAX - (u64::MAX % bound);
        loop {
            let value = self.next_u64();
            if value < zone {
                return (value % bound) as usize;
            }
        }
    }
}

/// Percentile bootstrap 95% interval of the mean of `values` (e.g. per-subject
/// accuracies, for a suite's mean over subjects), with `resamples` resamples from `seed`.
pub fn bootstrap_mean_interval(values: &[f64], resamples: usize, seed: u64) -> (f64, f64) {
    if values.is_empty() || resamples == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = SplitMix64::new(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            let sum: f64 = (0..values.len())
                .map(|_| values[rng.below(values.len())])
                .sum();
            sum / values.len() as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |fraction: f64| means[((resamples as f64 - 1.0) * fraction).round() as usize];
    (at(0.025), at(0.975))
}

/// Paired comparison of two endpoints on the same items.
#[derive(Debug, Clone, PartialEq)]
pub struct PairedComparison {
    pub items: u64,
    pub both_correct: u64,
    /// Correct for the first endpoint only.
    pub only_first: u64,
    /// Correct for the second endpoint only.
    pub only_second: u64,
    pub both_wrong: u64,
    /// Accuracy of the first minus accuracy of the second.
    pub difference: f64,
    /// 95% Wald interval of the paired difference.
    pub interval: (f64, f64),
    /// McNemar's two-sided p-value: exact binomial when fewer than 25 discordant pairs,
    /// chi-square with continuity correction otherwise.
    pub p_value: f64,
    pub exact: bool,
}

impl PairedComparison {
    pub fn significant(&self) -> bool {
        self.p_value < 0.05
    }
}

/// Compares two endpoints from (first correct, second correct) per shared item.
pub fn paired_comparison(pairs: &[(bool, bool)]) -> PairedComparison {
    let count = |wanted: (bool, bool)| pairs.iter().filter(|pair| **pair == wanted).count() as u64;
    let both_correct = count((true, true));
    let only_first = count((true, false));
    let only_second = count((false, true));
    let both_wrong = count((false, false));
    let n = pairs.len() as f64;
    let (difference, interval) = if pairs.is_empty() {
        (0.0, (0.0, 0.0))
    } else {
        let b = only_first as f64;
        let c = only_second as f64;
        let difference = (b - c) / n;
        let standard_error = ((b + c) - (b - c).powi(2) / n).max(0.0).sqrt() / n;
        (
            difference,
            (
                difference - Z95 * standard_error,
                difference + Z95 * standard_error,
            ),
        )
    };
    let discordant = only_first + only_second;
    let (p_value, exact) = if discordant < 25 {
        (
            exact_binomial_two_sided(only_first.min(only_second), discordant),
            true,
        )
    } else {
        let statistic = ((only_first as f64 - only_second as f64).abs() - 1.0)
            .max(0.0)
            .powi(2)
            / discordant as f64;
        (erfc((statistic / 2.0).sqrt()), false)
    };
    PairedComparison {
        items: pairs.len() as u64,
        both_correct,
        only_first,
        only_second,
        both_wrong,
        difference,
        interval,
        p_value,
        exact,
    }
}

/// Two-sided exact binomial test of `k` (the smaller count) out of `n` at p = 1/2.
fn exact_binomial_two_sided(k: u64, n: u64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    // Sum C(n, i) / 2^n for i <= k in log space, to stay exact enough for large n.
    let mut log_choose = 0.0f64; // ln C(n, 0)
    let mut tail = 0.0f64;
    let log_half_n = n as f64 * std::f64::consts::LN_2;
    for i in 0..=k {
        if i > 0 {
            log_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (log_choose - log_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

/// Complementary error function, for p-values: the one implementation, in the suites
/// crate (its contamination tests use it too, and it cannot depend on this crate).
pub use jianzhen_suites::contamination::erfc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_hand_computed_values() {
        // 50/100: centre 0.5, half-width 1.96*sqrt(0.0025 + 0.000096)/1.0384 = 0.0962.
        let (low, high) = wilson_interval(50, 100);
        assert!(
            (low - 0.403_8).abs() < 1e-4 && (high - 0.596_2).abs() < 1e-4,
            "{low} {high}"
        );
        // 0/10 has a lower bound of exactly 0 and an upper bound of z²/(n+z²) = 0.2775.
        let (low, high) = wilson_interval(0, 10);
        assert_eq!(low, 0.0);
        assert!((high - 0.277_5).abs() < 1e-4, "{high}");
        assert_eq!(wilson_interval(0, 0), (0.0, 0.0));
    }

    #[test]
    fn mcnemar_exact_for_few_discordant_pairs() {
        // b = 10, c = 2: p = 2 * (C(12,0) + C(12,1) + C(12,2)) / 2^12 = 158/4096.
        let mut pairs = vec![(true, false); 10];
        pairs.extend(vec![(false, true); 2]);
        pairs.extend(vec![(true, true); 30]);
        pairs.extend(vec![(false, false); 8]);
        let comparison = paired_comparison(&pairs);
        assert!(comparison.exact);
        assert!(
            (comparison.p_value - 158.0 / 4096.0).abs() < 1e-12,
            "{}",
            comparison.p_value
        );
        assert!(comparison.significant());
        assert_eq!(
            (
                comparison.both_correct,
                comparison.only_first,
                comparison.only_second,
                comparison.both_wrong
            ),
            (30, 10, 2, 8)
        );
        // Difference (10 - 2) / 50 = 0.16, se = sqrt(12 - 64/50) / 50 = 0.06548.
        assert!((comparison.difference - 0.16).abs() < 1e-12);
        let half = Z95 * (12.0f64 - 64.0 / 50.0).sqrt() / 50.0;
        assert!((comparison.interval.0 - (0.16 - half)).abs() < 1e-12);
        assert!((comparison.interval.1 - (0.16 + half)).abs() < 1e-12);
    }

    #[test]
    fn mcnemar_chi_square_for_many_discordant_pairs() {
        // b = 30, c = 15: chi² = (15 - 1)² / 45 = 4.3556, p = erfc(sqrt(chi²/2)) = 0.036888.
        let mut pairs = vec![(true, false); 30];
        pairs.extend(vec![(false, true); 15]);
        let comparison = paired_comparison(&pairs);
        assert!(!comparison.exact);
        assert!(
            (comparison.p_value - 0.036_888_425_7).abs() < 1e-6,
            "{}",
            comparison.p_value
        );
    }

    #[test]
    fn identical_answer_sheets_do_not_differ() {
        let pairs = vec![(true, true), (false, false), (true, true)];
        let comparison = paired_comparison(&pairs);
        assert_eq!(comparison.p_value, 1.0);
        assert_eq!(comparison.difference, 0.0);
        assert!(!comparison.significant());
    }

    #[test]
    fn erfc_matches_known_values() {
        assert!((erfc(0.0) - 1.0).abs() < 1e-7);
        assert!((erfc(1.0) - 0.157_299_207_05).abs() < 1e-7);
        assert!((erfc(-1.0) - 1.842_700_792_95).abs() < 1e-7);
        assert!((erfc(2.5) - 0.000_406_952_017_4).abs() < 1e-8);
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_mean() {
        let accuracies = [0.2, 0.4, 0.5, 0.55, 0.6, 0.7, 0.9];
        let mean = accuracies.iter().sum::<f64>() / accuracies.len() as f64;
        let first = bootstrap_mean_interval(&accuracies, 2000, 7);
        let again = bootstrap_mean_interval(&accuracies, 2000, 7);
        assert_eq!(first, again, "the same seed gives the same interval");
        assert!(first.0 < mean && mean < first.1, "{first:?} around {mean}");
        // The bootstrap interval of a mean is close to mean ± 1.96·sd/√n (here ±0.155).
        let width = first.1 - first.0;
        assert!(width > 0.2 && width < 0.4, "{first:?}");
        // Constant values have a zero-width interval.
        assert_eq!(bootstrap_mean_interval(&[0.5; 5], 100, 1), (0.5, 0.5));
    }

    #[test]
    fn splitmix_reproduces_its_reference_sequence() {
        // First outputs of SplitMix64 seeded with 0 (reference implementation by Vigna).
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }
}
