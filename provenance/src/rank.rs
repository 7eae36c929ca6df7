//! First-token log-probability rank agreement of the options, per item.
//!
//! Where an endpoint returns the log-probabilities of the first answer token (the
//! OpenAI-style `logprobs` with `top_logprobs`), each item gives a ranking of all its
//! options rather than one letter. That is far more information per item than the
//! argmax, and steadier under a persona: a system prompt may tip the top choice between
//! two close options while leaving the order of the rest alone.
//!
//! As with wrong answers, the order of the **wrong** options is what tells models apart
//! (two models that know the answer both rank the gold first). Per item, the statistic
//! is Kendall's τ-b between the two endpoints' log-probabilities over the item's wrong
//! options; letters missing from an endpoint's top log-probabilities are tied last. Items
//! where either endpoint ties all its wrong options say nothing and are skipped. The
//! items' τ are averaged, with a normal 95% interval `mean ± 1.96·s/√n`.
//!
//! The mean is judged, as in [`crate::agreement`], between two levels: an independent
//! level (0 when nothing better is known; better, the largest mean τ between references
//! known to be independent) and a same-model level (the lower end of a reference's own
//! rank agreement across personas, [`rank_band`]). When the interval reaches both, the
//! statement is "too few items to tell (n = …; about N needed)" with the interval-width
//! sample size for a mean, `N = ⌈z² s² / h²⌉`, `h` half the gap between the levels.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::evidence::EvidenceStrength;

const Z_95: f64 = 1.959_963_984_540_054;
/// Fewest items with a defined τ before the mean says anything.
pub const MIN_RANKED_ITEMS: usize = 10;

/// One endpoint's first-token log-probabilities for one item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedItem {
    pub gold: char,
    pub option_count: u8,
    /// Log-probability per option letter; a letter absent from the endpoint's top
    /// log-probabilities is absent here.
    pub logprobs: BTreeMap<char, f64>,
}

/// Log-probabilities keyed by item key, as [`crate::agreement::AnswerSheet`].
pub type RankSheet = BTreeMap<String, RankedItem>;

/// Kendall's τ-b of two score lists of the same length; `None` when either list is
/// constant (τ is undefined) or shorter than two.
pub fn kendall_tau_b(first: &[f64], second: &[f64]) -> Option<f64> {
    if first.len() != second.len() || first.len() < 2 {
        return None;
    }
    let mut concordant_minus_discordant = 0i64;
    let mut untied_first = 0i64;
    let mut untied_second = 0i64;
    for left in 0..first.len() {
        for right in left + 1..first.len() {
            let first_sign = sign(first[left], first[right]);
            let second_sign = sign(second[left], second[right]);
            concordant_minus_discordant += i64::from(first_sign * second_sign);
            untied_first += i64::from(first_sign != 0);
            untied_second += i64::from(second_sign != 0);
        }
    }
    if untied_first == 0 || untied_second == 0 {
        return None;
    }
    Some(concordant_minus_discordant as f64 / ((untied_first * untied_second) as f64).sqrt())
}

/// -1, 0 or 1; equal values (including two missing letters, both -∞) tie.
fn sign(left: f64, right: f64) -> i8 {
    if left < right {
        -1
    } else if left > right {
        1
    } else {
        0
    }
}

/// A letter's log-probability, -∞ when it was not among the top log-probabilities.
fn logprob_of(item: &RankedItem, letter: char) -> f64 {
    item.logprobs
        .iter()
        .find(|(candidate, _)| candidate.eq_ignore_ascii_case(&letter))
        .map_or(f64::NEG_INFINITY, |(_, logprob)| *logprob)
}

/// Mean rank agreement of the wrong options over the items two sheets share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankAgreement {
    /// Items in both sheets with the same gold and option count.
    pub items_in_common: usize,
    /// Of those, items where τ is defined for both.
    pub items_ranked: usize,
    pub mean_tau: Option<f64>,
    /// Sample standard deviation of the per-item τ (n − 1).
    pub standard_deviation: Option<f64>,
    pub interval_95: Option<(f64, f64)>,
}

/// Compares two endpoints' first-token log-probabilities on the items they share.
pub fn compare_rank_sheets(first: &RankSheet, second: &RankSheet) -> RankAgreement {
    let mut items_in_common = 0;
    let mut taus = Vec::new();
    for (key, first_item) in first {
        let Some(second_item) = second.get(key) else {
            continue;
        };
        if !first_item.gold.eq_ignore_ascii_case(&second_item.gold)
            || first_item.option_count != second_item.option_count
        {
            continue;
        }
        items_in_common += 1;
        let gold = first_item.gold.to_ascii_uppercase();
        let wrong: Vec<char> = (0..first_item.option_count)
            .map(|offset| char::from(b'A' + offset))
            .filter(|letter| *letter != gold)
            .collect();
        let first_scores: Vec<f64> = wrong.iter().map(|l| logprob_of(first_item, *l)).collect();
        let second_scores: Vec<f64> = wrong.iter().map(|l| logprob_of(second_item, *l)).collect();
        if let Some(tau) = kendall_tau_b(&first_scores, &second_scores) {
            taus.push(tau);
        }
    }
    let items_ranked = taus.len();
    let mean_tau = (items_ranked > 0).then(|| taus.iter().sum::<f64>() / items_ranked as f64);
    let standard_deviation = mean_tau.filter(|_| items_ranked >= 2).map(|mean| {
        (taus.iter().map(|tau| (tau - mean).powi(2)).sum::<f64>() / (items_ranked - 1) as f64)
            .sqrt()
    });
    let interval_95 = mean_tau.zip(standard_deviation).map(|(mean, deviation)| {
        let half_width = Z_95 * deviation / (items_ranked as f64).sqrt();
        ((mean - half_width).max(-1.0), (mean + half_width).min(1.0))
    });
    RankAgreement {
        items_in_common,
        items_ranked,
        mean_tau,
        standard_deviation,
        interval_95,
    }
}

/// The interval-width sample size for a mean: items for a 95% interval of half-width
/// half the gap between the levels, `⌈z² s² / h²⌉`. `None` when the levels do not
/// differ.
pub fn ranked_items_needed(
    standard_deviation: f64,
    independent_level: f64,
    same_model_level: f64,
) -> Option<usize> {
    let half_gap = (same_model_level - independent_level) / 2.0;
    (half_gap > 0.0 && half_gap.is_finite()).then(|| {
        // Finite and non-negative: the cast saturates, never wraps.
        (Z_95 * Z_95 * standard_deviation * standard_deviation / (half_gap * half_gap)).ceil()
            as usize
    })
}

/// What rank agreement shows between two levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankJudgement {
    pub strength: EvidenceStrength,
    pub items_needed: Option<usize>,
    pub statement: String,
}

/// Judges a mean rank agreement between the independent and same-model levels. The
/// strength stops at moderate: until the real-model zoo measures how high independent
/// models' distractor orders agree, a same-model-like τ is not called strong.
pub fn judge_rank_agreement(
    agreement: &RankAgreement,
    independent_level: f64,
    same_model_level: f64,
) -> RankJudgement {
    let (Some(mean), Some(deviation), Some((lower, upper))) = (
        agreement.mean_tau,
        agreement.standard_deviation,
        agreement.interval_95,
    ) else {
        return RankJudgement {
            strength: EvidenceStrength::Insufficient,
            items_needed: None,
            statement: format!(
                "only {} items with ranked wrong options, too few for rank agreement",
                agreement.items_ranked
            ),
        };
    };
    let figures = format!(
        "mean Kendall τ of the wrong options' first-token log-probabilities {mean:.2} over {} items (95% interval {lower:.2} to {upper:.2}; {independent_level:.2} for independent models, {same_model_level:.2} for the same model under a persona)",
        agreement.items_ranked
    );
    let needed = ranked_items_needed(deviation, independent_level, same_model_level);
    let Some(needed) = needed else {
        return RankJudgement {
            strength: EvidenceStrength::None,
            items_needed: None,
            statement: format!(
                "{figures}: independent models agree as much as the same model does here, so rank agreement cannot tell them apart"
            ),
        };
    };
    if agreement.items_ranked < MIN_RANKED_ITEMS
        || (lower <= independent_level && upper >= same_model_level)
    {
        let needed = needed.max(MIN_RANKED_ITEMS).max(agreement.items_ranked + 1);
        return RankJudgement {
            strength: EvidenceStrength::Insufficient,
            items_needed: Some(needed),
            statement: format!(
                "{figures}: too few items to tell (n = {}; about {needed} needed)",
                agreement.items_ranked
            ),
        };
    }
    let (strength, meaning) = if lower > independent_level && upper >= same_model_level {
        (
            EvidenceStrength::Moderate,
            "the options are ordered as the same model orders them, and more alike than independent models order them",
        )
    } else if lower > independent_level {
        (
            EvidenceStrength::Weak,
            "more alike than independent models, less than the same model under a persona",
        )
    } else {
        (
            EvidenceStrength::None,
            "consistent with independent models, and below the same model under a persona",
        )
    };
    RankJudgement {
        strength,
        items_needed: Some(needed),
        statement: format!("{figures}: {meaning}"),
    }
}

/// The same-model level for rank agreement: a reference's pairs of persona runs pooled
/// (every item's τ from every pair), and the lower end of the interval of their mean.
/// `None` with fewer than [`MIN_RANKED_ITEMS`] pooled items.
pub fn rank_band(sheets_by_persona: &BTreeMap<String, RankSheet>) -> Option<f64> {
    let sheets: Vec<&RankSheet> = sheets_by_persona.values().collect();
    let mut pooled_items = 0usize;
    let mut sum = 0.0;
    let mut sum_of_squares = 0.0;
    for (index, first) in sheets.iter().enumerate() {
        for second in sheets.iter().skip(index + 1) {
            let agreement = compare_rank_sheets(first, second);
            let (Some(mean), deviation) = (agreement.mean_tau, agreement.standard_deviation) else {
                continue;
            };
            let count = agreement.items_ranked as f64;
            let variance = deviation.map_or(0.0, |deviation| deviation * deviation);
            pooled_items += agreement.items_ranked;
            sum += mean * count;
            // Σx² = (n − 1)s² + n·mean².
            sum_of_squares += (count - 1.0) * variance + count * mean * mean;
        }
    }
    if pooled_items < MIN_RANKED_ITEMS {
        return None;
    }
    let count = pooled_items as f64;
    let mean = sum / count;
    let variance = ((sum_of_squares - count * mean * mean) / (count - 1.0)).max(0.0);
    Some((mean - Z_95 * variance.sqrt() / count.sqrt()).max(-1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: Option<f64>, expected: f64) -> bool {
        actual.is_some_and(|value| (value - expected).abs() < 1e-9)
    }

    #[test]
    fn kendall_tau_b_hand_computed() {
        // Same order: 3 concordant pairs of 3.
        assert!(close(
            kendall_tau_b(&[3.0, 2.0, 1.0], &[-0.1, -1.0, -2.0]),
            1.0
        ));
        // Reversed: −1.
        assert!(close(
            kendall_tau_b(&[3.0, 2.0, 1.0], &[1.0, 2.0, 3.0]),
            -1.0
        ));
        // One swap of three: (2 − 1) / 3.
        assert!(close(
            kendall_tau_b(&[3.0, 2.0, 1.0], &[3.0, 1.0, 2.0]),
            1.0 / 3.0
        ));
        // A tie in the second list: pairs (0,1) C, (0,2) C, (1,2) tied in second;
        // τ-b = 2 / √(3 · 2) = 0.8165.
        assert!(close(
            kendall_tau_b(
                &[3.0, 2.0, 1.0],
                &[1.0, f64::NEG_INFINITY, f64::NEG_INFINITY]
            ),
            2.0 / 6.0_f64.sqrt()
        ));
        // A constant list has no order.
        assert_eq!(kendall_tau_b(&[1.0, 1.0, 1.0], &[3.0, 2.0, 1.0]), None);
        assert_eq!(kendall_tau_b(&[1.0], &[1.0]), None);
    }

    fn item(gold: char, logprobs: &[(char, f64)]) -> RankedItem {
        RankedItem {
            gold,
            option_count: 4,
            logprobs: logprobs.iter().copied().collect(),
        }
    }

    #[test]
    fn only_the_wrong_options_are_ranked_and_missing_letters_tie_last() {
        // Gold A. First orders the wrong options B > C > D; second C > B > D: one swap,
        // τ = 1/3. The gold's own log-probability does not enter.
        let first: RankSheet = [(
            "i1".to_owned(),
            item('A', &[('A', -0.1), ('B', -2.0), ('C', -3.0), ('D', -4.0)]),
        )]
        .into_iter()
        .collect();
        let second: RankSheet = [(
            "i1".to_owned(),
            item('A', &[('A', -5.0), ('B', -2.5), ('C', -2.0), ('D', -6.0)]),
        )]
        .into_iter()
        .collect();
        let agreement = compare_rank_sheets(&first, &second);
        assert_eq!(agreement.items_ranked, 1);
        assert!(close(agreement.mean_tau, 1.0 / 3.0));
        // With one item there is no spread, so no interval.
        assert_eq!(agreement.interval_95, None);

        // Second only returned A and B: C and D tie last; B > C = D against B > C > D
        // gives 2 / √(3 · 2).
        let sparse: RankSheet = [("i1".to_owned(), item('A', &[('A', -0.1), ('B', -2.0)]))]
            .into_iter()
            .collect();
        assert!(close(
            compare_rank_sheets(&first, &sparse).mean_tau,
            2.0 / 6.0_f64.sqrt()
        ));
    }

    /// `count` items; on `agreeing` of them the second endpoint orders the wrong options
    /// as the first does (τ = 1), on the rest with one swap (τ = 1/3).
    fn sheets(count: usize, agreeing: usize) -> (RankSheet, RankSheet) {
        let first: RankSheet = (0..count)
            .map(|index| {
                (
                    format!("i{index:03}"),
                    item('A', &[('A', -0.1), ('B', -1.0), ('C', -2.0), ('D', -3.0)]),
                )
            })
            .collect();
        let second: RankSheet = (0..count)
            .map(|index| {
                let logprobs = if index < agreeing {
                    [('A', -0.1), ('B', -1.0), ('C', -2.0), ('D', -3.0)]
                } else {
                    [('A', -0.1), ('B', -2.0), ('C', -1.0), ('D', -3.0)]
                };
                (format!("i{index:03}"), item('A', &logprobs))
            })
            .collect();
        (first, second)
    }

    #[test]
    fn mean_interval_and_items_needed_hand_computed() {
        // 12 items, 6 at τ = 1 and 6 at τ = 1/3: mean 2/3; s² = 12 · (1/3)² / 11 =
        // 0.121212, s = 0.348155; half-width 1.959964 · 0.348155 / √12 = 0.196985.
        let (first, second) = sheets(12, 6);
        let agreement = compare_rank_sheets(&first, &second);
        assert_eq!(agreement.items_ranked, 12);
        assert!(close(agreement.mean_tau, 2.0 / 3.0));
        let deviation = agreement.standard_deviation.expect("spread");
        assert!((deviation - 0.348155).abs() < 1e-6, "{deviation}");
        let (lower, upper) = agreement.interval_95.expect("interval");
        assert!((lower - 0.469682).abs() < 1e-5 && (upper - 0.863652).abs() < 1e-5);
        // Levels 0.5 (independent) and 0.8 (band): the interval reaches both.
        // N = 3.841459 · 0.121212 / 0.15² = 20.69 → 21.
        assert_eq!(ranked_items_needed(deviation, 0.5, 0.8), Some(21));
        let judgement = judge_rank_agreement(&agreement, 0.5, 0.8);
        assert_eq!(judgement.strength, EvidenceStrength::Insufficient);
        assert!(
            judgement
                .statement
                .ends_with("too few items to tell (n = 12; about 21 needed)"),
            "{}",
            judgement.statement
        );
        // Against independent 0 and a band at 0.6, the same figures tell.
        let judgement = judge_rank_agreement(&agreement, 0.0, 0.6);
        assert_eq!(judgement.strength, EvidenceStrength::Moderate);
        assert_eq!(ranked_items_needed(deviation, 0.8, 0.8), None);
    }

    #[test]
    fn rank_band_pools_persona_pairs() {
        // Two personas agreeing on every item (τ = 1, no spread) → the band is 1.
        let (first, _) = sheets(12, 12);
        let band: BTreeMap<String, RankSheet> = [
            ("built-in".to_owned(), first.clone()),
            ("neutral".to_owned(), first),
        ]
        .into_iter()
        .collect();
        assert!(close(rank_band(&band), 1.0));
        // The 6-and-6 pair as the only pair: the band is its interval's lower end.
        let (first, second) = sheets(12, 6);
        let band: BTreeMap<String, RankSheet> = [
            ("built-in".to_owned(), first),
            ("vendor-like".to_owned(), second),
        ]
        .into_iter()
        .collect();
        let level = rank_band(&band).expect("twelve items");
        assert!((level - 0.469682).abs() < 1e-5, "{level}");
        // Too few items: no band.
        let (first, second) = sheets(4, 2);
        let band: BTreeMap<String, RankSheet> = [("a".to_owned(), first), ("b".to_owned(), second)]
            .into_iter()
            .collect();
        assert_eq!(rank_band(&band), None);
    }
}
