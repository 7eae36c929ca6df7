//! Behavioural agreement between two endpoints on the same multiple-choice items.
//!
//! Two models that are good at a test agree on most items simply because both are right,
//! so raw agreement says little. What gives a wrapper away is the wrong answers: when two
//! independent models both miss an item, they usually pick different wrong options; a
//! wrapper of another model, or a model trained on its answers, picks the same one. The
//! report therefore leads with **wrong-answer agreement**: of the items both got wrong,
//! the fraction where both chose the same wrong option, with a Wilson 95% interval, and
//! two baselines for independent models:
//! - uniform: each wrong option equally likely, `1/(k-1)` for `k` options, averaged over
//!   the items both got wrong;
//! - letter preference: each model's own distribution of wrong letters (a model that
//!   falls back to "A" when unsure is not copying another that does the same), estimated
//!   from all its wrong answers on the common items with add-one smoothing, restricted to
//!   each item's wrong options and renormalised; the chance of the same pick is the sum of
//!   the products, averaged over the items both got wrong.
//!
//! Beside it, for completeness: raw agreement, Cohen's kappa (chance from the two answer
//! letter distributions) and CAPA, the chance-adjusted probabilistic agreement of Goel et
//! al. 2025 ("Great Models Think Alike and this Undermines AI Oversight"), computed here
//! with one-hot answers: `κp = (c_obs − c_exp) / (1 − c_exp)` where `c_obs` is the raw
//! agreement and `c_exp = a₁a₂ + (1−a₁)(1−a₂)·mean(1/(k−1))` from the two accuracies
//! `a₁, a₂`. CAPA asks "do they agree more than their accuracies predict?".
//!
//! Only items both endpoints answered count; an unanswered item (refusal, unparseable
//! reply) says nothing about which option a model prefers.
//!
//! Independent models still share some wrong answers above the uniform baseline, because
//! good distractors attract everyone. The strength thresholds are set with that in mind:
//! only a rate whose interval lies well above what independent models reach counts as
//! strong.
//!
//! # Power before conclusions
//! A rate is judged between two levels: what independent models share (the baseline
//! above) and what the same model shares with itself ([`SameModelLevel`]: assumed
//! [`ASSUMED_SAME_MODEL_WRONG_AGREEMENT`], or measured as a persona band, see
//! [`crate::persona`]). When the 95%
//! interval reaches both, the data cannot tell them apart and the statement says so — "too few shared errors to tell (n = 16; about 51
//! needed)" — rather than calling the pair independent. The number needed is the
//! interval-width sample size `N = ⌈z² p̃(1 − p̃) / h²⌉` with `z = 1.96`, `p̃ = (x + z²/2) /
//! (n + z²)` the centre of the Wilson interval of the observed `x` of `n`, and `h` half
//! the distance between the two levels: with about `N` items both got wrong, an interval
//! of half-width `h` cannot contain both levels ([`items_needed_to_tell`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::evidence::EvidenceStrength;

/// Fewest items both got wrong before wrong-answer agreement says anything.
pub const MIN_ITEMS_BOTH_WRONG: usize = 10;
/// Lower end of the 95% interval from which shared wrong answers are strong evidence.
pub const STRONG_WRONG_AGREEMENT_LOWER_BOUND: f64 = 0.8;
/// Lower end of the 95% interval from which they are moderate evidence.
pub const MODERATE_WRONG_AGREEMENT_LOWER_BOUND: f64 = 0.6;
/// How far above the independence baseline the lower end must lie for weak evidence.
pub const WEAK_MARGIN_ABOVE_BASELINE: f64 = 0.1;
/// The share of wrong answers the same model behind two endpoints is assumed to share
/// when nothing was measured: a wrapper without a persona shares nearly all of them, and
/// this is the level from which the audit calls shared errors strong. A persona band
/// (re-asking a reference under personas) replaces it with a measured level.
pub const ASSUMED_SAME_MODEL_WRONG_AGREEMENT: f64 = 0.8;

const WILSON_Z_95: f64 = 1.959_963_984_540_054;

/// One endpoint's answer to one multiple-choice item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct McAnswer {
    /// The suite the item comes from ("ceval", "cmmlu"), for per-suite breakdowns.
    pub suite: String,
    /// The correct letter.
    pub gold: char,
    /// How many options the item has; the wrong options are the other `k - 1`.
    pub option_count: u8,
    /// The letter the endpoint chose; `None` when it refused or the reply had no letter.
    pub chosen: Option<char>,
}

/// Answers keyed by item key (suite/subject/index as the suite crate writes it).
pub type AnswerSheet = BTreeMap<String, McAnswer>;

/// A 95% interval for a proportion.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProportionInterval {
    pub lower: f64,
    pub upper: f64,
}

/// The Wilson score interval at 95%; `None` for no trials. Wilson rather than the normal
/// approximation because shared-error rates sit near 1 for wrappers, where the normal
/// interval overshoots.
pub fn wilson_interval_95(successes: usize, trials: usize) -> Option<ProportionInterval> {
    wilson_interval_95_for_points(successes as f64, trials)
}

/// [`wilson_interval_95`] for a mean credit: `points` may be fractional where items earn
/// partial credit (the coordinator's scores use it for GAOKAO-Bench multi-select and
/// CMRC2018 F1). The points are treated as that many successes, an approximation that
/// is, if anything, conservative (partial credit varies less than a coin).
pub fn wilson_interval_95_for_points(points: f64, trials: usize) -> Option<ProportionInterval> {
    if trials == 0 {
        return None;
    }
    let trials_f = trials as f64;
    let proportion = points / trials_f;
    let z_squared = WILSON_Z_95 * WILSON_Z_95;
    let denominator = 1.0 + z_squared / trials_f;
    let centre = (proportion + z_squared / (2.0 * trials_f)) / denominator;
    let half_width = WILSON_Z_95 / denominator
        * (proportion * (1.0 - proportion) / trials_f + z_squared / (4.0 * trials_f * trials_f))
            .sqrt();
    Some(ProportionInterval {
        lower: (centre - half_width).max(0.0),
        upper: (centre + half_width).min(1.0),
    })
}

/// Agreement on the items both endpoints got wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WrongAnswerAgreement {
    pub items_both_wrong: usize,
    pub items_same_wrong_option: usize,
    /// `items_same_wrong_option / items_both_wrong`.
    pub rate: Option<f64>,
    pub interval_95: Option<ProportionInterval>,
    /// Independence with wrong options equally likely: mean of `1/(k-1)`.
    pub expected_if_uniform: Option<f64>,
    /// Independence with each model's own preference among wrong letters.
    pub expected_from_letter_preferences: Option<f64>,
}

impl WrongAnswerAgreement {
    /// The larger of the two baselines: claims are judged against the more generous
    /// explanation by chance.
    pub fn expected_under_independence(&self) -> Option<f64> {
        match (
            self.expected_if_uniform,
            self.expected_from_letter_preferences,
        ) {
            (Some(uniform), Some(letters)) => Some(uniform.max(letters)),
            (uniform, letters) => uniform.or(letters),
        }
    }
}

/// Where the same-model level comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SameModelLevelSource {
    /// [`ASSUMED_SAME_MODEL_WRONG_AGREEMENT`]: nothing was measured.
    Assumed,
    /// The lower edge of a reference's self-agreement under personas.
    PersonaBand,
}

/// What the same model behind both endpoints would share of its wrong answers: the upper
/// of the two levels a shared-error rate is judged between.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SameModelLevel {
    pub rate: f64,
    pub source: SameModelLevelSource,
}

impl SameModelLevel {
    /// The assumed level, for pairs with no measured persona band.
    pub const ASSUMED: SameModelLevel = SameModelLevel {
        rate: ASSUMED_SAME_MODEL_WRONG_AGREEMENT,
        source: SameModelLevelSource::Assumed,
    };
}

impl Default for SameModelLevel {
    fn default() -> SameModelLevel {
        SameModelLevel::ASSUMED
    }
}

/// Whether the items both got wrong are enough to tell independent models from the same
/// model, and how many would be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerAssessment {
    /// What independent models share ([`WrongAnswerAgreement::expected_under_independence`]).
    pub independent_level: f64,
    pub same_model: SameModelLevel,
    /// False when the 95% interval contains both levels.
    pub can_tell: bool,
    /// Items both got wrong for an interval that cannot contain both levels
    /// ([`items_needed_to_tell`]); `None` when the levels do not differ, so no number of
    /// items can tell them apart by shared errors.
    pub items_both_wrong_needed: Option<usize>,
}

/// The interval-width sample size: how many items both got wrong make the 95% interval
/// narrow enough (half-width `h`, half the gap between the levels) that it cannot
/// contain both `independent_level` and `same_model_level`, at the rate observed so far
/// (`successes` of `trials`, taken at the Wilson centre `p̃ = (x + z²/2)/(n + z²)` so that
/// 0 of 3 or 3 of 3 do not claim zero variance). `N = ⌈z² p̃(1 − p̃) / h²⌉`, at least one
/// more than `trials` when the current interval still contains both. `None` when the
/// same-model level is not above the independent level.
pub fn items_needed_to_tell(
    successes: usize,
    trials: usize,
    independent_level: f64,
    same_model_level: f64,
) -> Option<usize> {
    let gap = same_model_level - independent_level;
    if gap <= 0.0 || !gap.is_finite() {
        return None;
    }
    let z_squared = WILSON_Z_95 * WILSON_Z_95;
    let centre = (successes as f64 + z_squared / 2.0) / (trials as f64 + z_squared);
    let half_width = gap / 2.0;
    let needed = (z_squared * centre * (1.0 - centre) / (half_width * half_width)).ceil();
    // The ratio is finite and positive here; the cast saturates, never wraps.
    let needed = needed as usize;
    let still_spans = wilson_interval_95(successes, trials).is_none_or(|interval| {
        interval.lower <= independent_level && interval.upper >= same_model_level
    });
    Some(if still_spans {
        needed.max(trials + 1)
    } else {
        needed
    })
}

/// Everything [`compare_answer_sheets`] measures for one pair of endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementReport {
    /// Items present in both sheets with the same gold letter and option count.
    pub items_in_common: usize,
    /// Items in both sheets whose gold letter or option count differ; skipped, because
    /// they cannot be the same item.
    pub items_with_conflicting_gold: usize,
    /// Common items both endpoints answered with a letter.
    pub items_both_answered: usize,
    /// Of those, items where they chose the same letter.
    pub items_same_answer: usize,
    pub raw_agreement: Option<f64>,
    pub first_accuracy: Option<f64>,
    pub second_accuracy: Option<f64>,
    pub cohens_kappa: Option<f64>,
    /// The chance agreement CAPA expects from the two accuracies.
    pub capa_expected_agreement: Option<f64>,
    pub capa: Option<f64>,
    pub wrong_answers: WrongAnswerAgreement,
    /// Whether the shared errors can tell independent models from the same model;
    /// `None` when no item was wrong for both.
    #[serde(default)]
    pub power: Option<PowerAssessment>,
    pub strength: EvidenceStrength,
    /// A plain sentence for the report, without endpoint names: figures, then meaning.
    pub statement: String,
    /// The meaning alone ("strong evidence of shared weights…"), for summaries that
    /// quote the figures in their own words.
    pub interpretation: String,
}

fn letter_index(letter: char) -> Option<usize> {
    let upper = letter.to_ascii_uppercase();
    upper
        .is_ascii_uppercase()
        .then(|| (upper as u8 - b'A') as usize)
}

/// One item both endpoints answered, in the form the statistics need.
struct PairedItem {
    gold: usize,
    option_count: usize,
    first: usize,
    second: usize,
}

/// Compares two endpoints' answers on the items they share, judging shared errors
/// against the assumed same-model level.
pub fn compare_answer_sheets(first: &AnswerSheet, second: &AnswerSheet) -> AgreementReport {
    compare_answer_sheets_with(first, second, SameModelLevel::ASSUMED)
}

/// As [`compare_answer_sheets`], judging shared errors against a given same-model level
/// (a measured persona band).
pub fn compare_answer_sheets_with(
    first: &AnswerSheet,
    second: &AnswerSheet,
    same_model: SameModelLevel,
) -> AgreementReport {
    let mut items_in_common = 0;
    let mut items_with_conflicting_gold = 0;
    let mut paired: Vec<PairedItem> = Vec::new();
    for (item_key, first_answer) in first {
        let Some(second_answer) = second.get(item_key) else {
            continue;
        };
        let gold_matches = first_answer.gold.eq_ignore_ascii_case(&second_answer.gold)
            && first_answer.option_count == second_answer.option_count;
        if !gold_matches {
            items_with_conflicting_gold += 1;
            continue;
        }
        items_in_common += 1;
        let (Some(first_choice), Some(second_choice), Some(gold)) = (
            first_answer.chosen.and_then(letter_index),
            second_answer.chosen.and_then(letter_index),
            letter_index(first_answer.gold),
        ) else {
            continue;
        };
        paired.push(PairedItem {
            gold,
            option_count: usize::from(first_answer.option_count),
            first: first_choice,
            second: second_choice,
        });
    }

    let items_both_answered = paired.len();
    let items_same_answer = paired
        .iter()
        .filter(|item| item.first == item.second)
        .count();
    let raw_agreement = ratio(items_same_answer, items_both_answered);
    let first_accuracy = ratio(
        paired.iter().filter(|item| item.first == item.gold).count(),
        items_both_answered,
    );
    let second_accuracy = ratio(
        paired
            .iter()
            .filter(|item| item.second == item.gold)
            .count(),
        items_both_answered,
    );
    let cohens_kappa = cohens_kappa(&paired);
    let mean_uniform_wrong_pick = mean(
        paired
            .iter()
            .map(|item| uniform_same_wrong_pick(item.option_count)),
    );
    let capa_expected_agreement = match (first_accuracy, second_accuracy, mean_uniform_wrong_pick) {
        (Some(first_acc), Some(second_acc), Some(uniform)) => {
            Some(first_acc * second_acc + (1.0 - first_acc) * (1.0 - second_acc) * uniform)
        }
        _ => None,
    };
    let capa = match (raw_agreement, capa_expected_agreement) {
        (Some(observed), Some(expected)) if expected < 1.0 => {
            Some((observed - expected) / (1.0 - expected))
        }
        _ => None,
    };
    let wrong_answers = wrong_answer_agreement(&paired);
    let judgement = judge_wrong_answers(&wrong_answers, same_model);
    AgreementReport {
        items_in_common,
        items_with_conflicting_gold,
        items_both_answered,
        items_same_answer,
        raw_agreement,
        first_accuracy,
        second_accuracy,
        cohens_kappa,
        capa_expected_agreement,
        capa,
        wrong_answers,
        power: judgement.power,
        strength: judgement.strength,
        statement: judgement.statement,
        interpretation: judgement.interpretation,
    }
}

fn ratio(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, count) = values.fold((0.0, 0usize), |(sum, count), value| {
        (sum + value, count + 1)
    });
    (count > 0).then(|| sum / count as f64)
}

/// Chance that two independent uniform pickers among the `k - 1` wrong options agree.
fn uniform_same_wrong_pick(option_count: usize) -> f64 {
    if option_count >= 2 {
        1.0 / (option_count - 1) as f64
    } else {
        1.0
    }
}

fn cohens_kappa(paired: &[PairedItem]) -> Option<f64> {
    if paired.is_empty() {
        return None;
    }
    let mut first_letter_counts: BTreeMap<usize, usize> = BTreeMap::new();
    let mut second_letter_counts: BTreeMap<usize, usize> = BTreeMap::new();
    for item in paired {
        *first_letter_counts.entry(item.first).or_default() += 1;
        *second_letter_counts.entry(item.second).or_default() += 1;
    }
    let total = paired.len() as f64;
    let observed = paired
        .iter()
        .filter(|item| item.first == item.second)
        .count() as f64
        / total;
    let expected: f64 = first_letter_counts
        .iter()
        .map(|(letter, count)| {
            let second_count = second_letter_counts.get(letter).copied().unwrap_or(0);
            (*count as f64 / total) * (second_count as f64 / total)
        })
        .sum();
    (expected < 1.0).then(|| (observed - expected) / (1.0 - expected))
}

fn wrong_answer_agreement(paired: &[PairedItem]) -> WrongAnswerAgreement {
    let both_wrong: Vec<&PairedItem> = paired
        .iter()
        .filter(|item| item.first != item.gold && item.second != item.gold)
        .collect();
    let items_both_wrong = both_wrong.len();
    let items_same_wrong_option = both_wrong
        .iter()
        .filter(|item| item.first == item.second)
        .count();

    // Each model's wrong letters over all common items it got wrong.
    let mut first_wrong_letters: BTreeMap<usize, usize> = BTreeMap::new();
    let mut second_wrong_letters: BTreeMap<usize, usize> = BTreeMap::new();
    for item in paired {
        if item.first != item.gold {
            *first_wrong_letters.entry(item.first).or_default() += 1;
        }
        if item.second != item.gold {
            *second_wrong_letters.entry(item.second).or_default() += 1;
        }
    }
    let expected_from_letter_preferences = mean(both_wrong.iter().map(|item| {
        let wrong_options: Vec<usize> = (0..item.option_count.max(item.first.max(item.second) + 1))
            .filter(|letter| *letter != item.gold)
            .collect();
        let smoothed = |counts: &BTreeMap<usize, usize>, letter: usize| {
            counts.get(&letter).copied().unwrap_or(0) as f64 + 1.0
        };
        let first_total: f64 = wrong_options
            .iter()
            .map(|letter| smoothed(&first_wrong_letters, *letter))
            .sum();
        let second_total: f64 = wrong_options
            .iter()
            .map(|letter| smoothed(&second_wrong_letters, *letter))
            .sum();
        wrong_options
            .iter()
            .map(|letter| {
                smoothed(&first_wrong_letters, *letter) / first_total
                    * smoothed(&second_wrong_letters, *letter)
                    / second_total
            })
            .sum::<f64>()
    }));
    WrongAnswerAgreement {
        items_both_wrong,
        items_same_wrong_option,
        rate: ratio(items_same_wrong_option, items_both_wrong),
        interval_95: wilson_interval_95(items_same_wrong_option, items_both_wrong),
        expected_if_uniform: mean(
            both_wrong
                .iter()
                .map(|item| uniform_same_wrong_pick(item.option_count)),
        ),
        expected_from_letter_preferences,
    }
}

fn percent(value: f64) -> String {
    format!("{:.0}%", value * 100.0)
}

/// What the shared errors show: strength, full statement, meaning alone, and the power.
#[derive(Debug, Clone, PartialEq)]
pub struct WrongAnswerJudgement {
    pub strength: EvidenceStrength,
    /// Figures, then meaning.
    pub statement: String,
    /// The meaning alone.
    pub interpretation: String,
    pub power: Option<PowerAssessment>,
}

/// Judges a shared-error rate between the independence baseline and the same-model
/// level. The order of the checks is the point: first whether the data can tell the two
/// apart at all, only then how strong the evidence is.
pub fn judge_wrong_answers(
    wrong: &WrongAnswerAgreement,
    same_model: SameModelLevel,
) -> WrongAnswerJudgement {
    let (Some(rate), Some(interval), Some(expected)) = (
        wrong.rate,
        wrong.interval_95,
        wrong.expected_under_independence(),
    ) else {
        let meaning =
            "no items that both endpoints got wrong, so wrong-answer agreement cannot be measured";
        return WrongAnswerJudgement {
            strength: EvidenceStrength::Insufficient,
            statement: meaning.to_owned(),
            interpretation: meaning.to_owned(),
            power: None,
        };
    };
    let same_level = same_model.rate;
    let same_level_words = match same_model.source {
        SameModelLevelSource::Assumed => {
            format!("about {} for the same model", percent(same_level))
        }
        SameModelLevelSource::PersonaBand => format!(
            "{} for the same model under a persona, as measured",
            percent(same_level)
        ),
    };
    let figures = format!(
        "share {} of their wrong answers ({} of {} items both got wrong, 95% interval {}–{}; expected {} for independent models, {same_level_words})",
        percent(rate),
        wrong.items_same_wrong_option,
        wrong.items_both_wrong,
        percent(interval.lower),
        percent(interval.upper),
        percent(expected)
    );
    let needed = items_needed_to_tell(
        wrong.items_same_wrong_option,
        wrong.items_both_wrong,
        expected,
        same_level,
    );
    let spans_both = interval.lower <= expected && interval.upper >= same_level;
    let levels_coincide = needed.is_none();
    let can_tell =
        !levels_coincide && !spans_both && wrong.items_both_wrong >= MIN_ITEMS_BOTH_WRONG;
    // Below the minimum the interval itself is not trusted, so more are needed however
    // narrow it looks.
    let needed = needed.map(|needed| {
        if can_tell {
            needed
        } else {
            needed
                .max(MIN_ITEMS_BOTH_WRONG)
                .max(wrong.items_both_wrong + 1)
        }
    });
    let power = Some(PowerAssessment {
        independent_level: expected,
        same_model,
        can_tell,
        items_both_wrong_needed: needed,
    });
    let judged = |strength: EvidenceStrength, meaning: String| WrongAnswerJudgement {
        strength,
        statement: format!("the two endpoints {figures}: {meaning}"),
        interpretation: meaning,
        power: power.clone(),
    };
    if levels_coincide {
        return judged(
            EvidenceStrength::None,
            format!(
                "independent models with these answer-letter habits would share about as many wrong answers ({}) as the same model ({}), so shared errors cannot tell them apart here",
                percent(expected),
                percent(same_level)
            ),
        );
    }
    if !can_tell {
        let needed_text =
            needed.map_or_else(String::new, |needed| format!("; about {needed} needed"));
        return judged(
            EvidenceStrength::Insufficient,
            format!(
                "too few shared errors to tell (n = {}{needed_text}): the interval is compatible with independent models and with the same model, so this neither suggests nor rules out a common origin; run more multiple-choice items",
                wrong.items_both_wrong
            ),
        );
    }
    // Every level also needs the interval well above the baseline, so a shared habit
    // (both fall back to "A") never reads as a shared origin.
    if interval.lower
        >= STRONG_WRONG_AGREEMENT_LOWER_BOUND.max(expected + 2.0 * WEAK_MARGIN_ABOVE_BASELINE)
    {
        judged(
            EvidenceStrength::Strong,
            "strong evidence of shared weights or shared answers (one serving the other, or trained on the other's answers); it does not by itself prove a wrapper".to_owned(),
        )
    } else if interval.lower
        >= MODERATE_WRONG_AGREEMENT_LOWER_BOUND.max(expected + 2.0 * WEAK_MARGIN_ABOVE_BASELINE)
    {
        judged(
            EvidenceStrength::Moderate,
            "moderate evidence of a common origin, such as training on the other's answers or on the same data; independent models rarely share this many errors".to_owned(),
        )
    } else if interval.lower >= expected + WEAK_MARGIN_ABOVE_BASELINE {
        judged(
            EvidenceStrength::Weak,
            "weak evidence: more than chance, but attractive distractors make independent models share errors too".to_owned(),
        )
    } else if interval.upper < same_level {
        judged(
            EvidenceStrength::None,
            format!(
                "consistent with independent models, and below the {} the same model would share",
                percent(same_level)
            ),
        )
    } else {
        judged(
            EvidenceStrength::None,
            format!(
                "no clear evidence either way: the interval lies only just above what independent models share (within the {}-point margin that attractive distractors explain) and still reaches the same-model level",
                (WEAK_MARGIN_ABOVE_BASELINE * 100.0).round()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(gold: char, chosen: Option<char>) -> McAnswer {
        McAnswer {
            suite: "ceval".to_owned(),
            gold,
            option_count: 4,
            chosen,
        }
    }

    fn sheet(rows: &[(&str, char, Option<char>)]) -> AnswerSheet {
        rows.iter()
            .map(|(key, gold, chosen)| ((*key).to_owned(), answer(*gold, *chosen)))
            .collect()
    }

    fn close(actual: Option<f64>, expected: f64) -> bool {
        actual.is_some_and(|value| (value - expected).abs() < 1e-9)
    }

    #[test]
    fn hand_computed_small_example() {
        let first = sheet(&[
            ("i1", 'A', Some('A')),
            ("i2", 'B', Some('B')),
            ("i3", 'C', Some('D')),
            ("i4", 'D', Some('A')),
            ("i5", 'A', None),
            ("i6", 'A', Some('A')),
        ]);
        let second = sheet(&[
            ("i1", 'A', Some('A')),
            ("i2", 'B', Some('C')),
            ("i3", 'C', Some('D')),
            ("i4", 'D', Some('B')),
            ("i5", 'A', Some('A')),
        ]);
        let report = compare_answer_sheets(&first, &second);
        assert_eq!(report.items_in_common, 5);
        assert_eq!(report.items_both_answered, 4);
        assert_eq!(report.items_same_answer, 2);
        assert!(close(report.raw_agreement, 0.5));
        assert!(close(report.first_accuracy, 0.5));
        assert!(close(report.second_accuracy, 0.25));
        // Letter marginals: first A .5 B .25 D .25; second A B C D .25 each; p_e = .25.
        assert!(
            close(report.cohens_kappa, 1.0 / 3.0),
            "{:?}",
            report.cohens_kappa
        );
        // c_exp = .5 × .25 + .5 × .75 × 1/3 = .25.
        assert!(close(report.capa_expected_agreement, 0.25));
        assert!(close(report.capa, 1.0 / 3.0));
        let wrong = &report.wrong_answers;
        assert_eq!(wrong.items_both_wrong, 2);
        assert_eq!(wrong.items_same_wrong_option, 1);
        assert!(close(wrong.rate, 0.5));
        assert!(close(wrong.expected_if_uniform, 1.0 / 3.0));
        // i3 (gold C): first .4/.2/.4 over A/B/D, second .2/.4/.4 → .32;
        // i4 (gold D): first .5/.25/.25 over A/B/C, second .2/.4/.4 → .30.
        assert!(
            close(wrong.expected_from_letter_preferences, 0.31),
            "{:?}",
            wrong.expected_from_letter_preferences
        );
        let interval = wrong.interval_95.expect("two trials");
        assert!(
            (interval.lower - 0.0945).abs() < 1e-3 && (interval.upper - 0.9055).abs() < 1e-3,
            "{interval:?}"
        );
        assert_eq!(report.strength, EvidenceStrength::Insufficient);
    }

    /// The shared-error figures of issue 17's Xingchen-vs-Qwen run: 10 of 16 items both got
    /// wrong share the wrong option, and the letter-preference baseline is 53%.
    fn issue_17_wrong_answers() -> WrongAnswerAgreement {
        WrongAnswerAgreement {
            items_both_wrong: 16,
            items_same_wrong_option: 10,
            rate: Some(10.0 / 16.0),
            interval_95: wilson_interval_95(10, 16),
            expected_if_uniform: Some(1.0 / 3.0),
            expected_from_letter_preferences: Some(0.53),
        }
    }

    #[test]
    fn items_needed_follow_the_interval_width_formula() {
        // z² = 3.841459; p̃ = (10 + 1.920729) / (16 + 3.841459) = 0.600799;
        // h = (0.80 − 0.53) / 2 = 0.135; N = 3.841459 × 0.600799 × 0.399201 / 0.135² = 50.55.
        assert_eq!(items_needed_to_tell(10, 16, 0.53, 0.8), Some(51));
        // 5 of 5: p̃ = 6.920729 / 8.841459 = 0.782759; h = 0.233333; N = 11.998 → 12.
        assert_eq!(items_needed_to_tell(5, 5, 1.0 / 3.0, 0.8), Some(12));
        // 20 of 60 (interval 23–46%, already below 80%): p̃ = 0.343362; N = 15.91 → 16.
        assert_eq!(items_needed_to_tell(20, 60, 1.0 / 3.0, 0.8), Some(16));
        // A measured persona band at 45%: h = 0.058333; N = 254.53 → 255.
        assert_eq!(items_needed_to_tell(20, 60, 1.0 / 3.0, 0.45), Some(255));
        // Levels that do not differ cannot be told apart by any number of items.
        assert_eq!(items_needed_to_tell(40, 40, 0.9, 0.8), None);
        assert_eq!(items_needed_to_tell(3, 3, 0.8, 0.8), None);
    }

    #[test]
    fn issue_17_case_is_too_few_shared_errors_to_tell_not_independent() {
        let wrong = issue_17_wrong_answers();
        let interval = wrong.interval_95.expect("sixteen trials");
        assert!(
            (interval.lower - 0.3864).abs() < 1e-3 && (interval.upper - 0.8152).abs() < 1e-3,
            "{interval:?}"
        );
        let judgement = judge_wrong_answers(&wrong, SameModelLevel::ASSUMED);
        assert_eq!(judgement.strength, EvidenceStrength::Insufficient);
        assert_eq!(
            judgement.statement,
            "the two endpoints share 62% of their wrong answers (10 of 16 items both got wrong, 95% interval 39%–82%; expected 53% for independent models, about 80% for the same model): too few shared errors to tell (n = 16; about 51 needed): the interval is compatible with independent models and with the same model, so this neither suggests nor rules out a common origin; run more multiple-choice items"
        );
        assert!(
            !judgement
                .statement
                .contains("consistent with independent models")
        );
        let power = judgement.power.expect("figures exist");
        assert!(!power.can_tell);
        assert_eq!(power.items_both_wrong_needed, Some(51));
        assert!((power.independent_level - 0.53).abs() < 1e-12);
    }

    #[test]
    fn few_shared_errors_outside_both_levels_are_still_too_few() {
        // 5 of 5 lies above the baseline (interval 57–100%), but five items are too few
        // to trust an interval: the statement asks for more, with the formula's count.
        let wrong = WrongAnswerAgreement {
            items_both_wrong: 5,
            items_same_wrong_option: 5,
            rate: Some(1.0),
            interval_95: wilson_interval_95(5, 5),
            expected_if_uniform: Some(1.0 / 3.0),
            expected_from_letter_preferences: None,
        };
        let judgement = judge_wrong_answers(&wrong, SameModelLevel::ASSUMED);
        assert_eq!(judgement.strength, EvidenceStrength::Insufficient);
        assert!(
            judgement
                .interpretation
                .starts_with("too few shared errors to tell (n = 5; about 12 needed)"),
            "{}",
            judgement.interpretation
        );
    }

    #[test]
    fn enough_errors_below_the_same_model_level_are_independent_and_say_why() {
        let wrong = WrongAnswerAgreement {
            items_both_wrong: 60,
            items_same_wrong_option: 20,
            rate: Some(20.0 / 60.0),
            interval_95: wilson_interval_95(20, 60),
            expected_if_uniform: Some(1.0 / 3.0),
            expected_from_letter_preferences: None,
        };
        let judgement = judge_wrong_answers(&wrong, SameModelLevel::ASSUMED);
        assert_eq!(judgement.strength, EvidenceStrength::None);
        assert_eq!(
            judgement.interpretation,
            "consistent with independent models, and below the 80% the same model would share"
        );
        assert!(judgement.power.as_ref().is_some_and(|power| power.can_tell));

        // The same figures against a measured persona band of 45%: the interval (23–46%)
        // now reaches the same-model level too, so the data can no longer tell.
        let band = SameModelLevel {
            rate: 0.45,
            source: SameModelLevelSource::PersonaBand,
        };
        let judgement = judge_wrong_answers(&wrong, band);
        assert_eq!(judgement.strength, EvidenceStrength::Insufficient);
        assert!(
            judgement
                .statement
                .contains("45% for the same model under a persona, as measured): too few shared errors to tell (n = 60; about 255 needed)"),
            "{}",
            judgement.statement
        );
    }

    #[test]
    fn an_interval_just_above_the_baseline_that_reaches_the_same_model_level_claims_nothing() {
        // 30 of 40: interval 60–86%, baseline 53%: above chance by less than the margin,
        // and the same model is not ruled out.
        let wrong = WrongAnswerAgreement {
            items_both_wrong: 40,
            items_same_wrong_option: 30,
            rate: Some(0.75),
            interval_95: wilson_interval_95(30, 40),
            expected_if_uniform: Some(1.0 / 3.0),
            expected_from_letter_preferences: Some(0.53),
        };
        let judgement = judge_wrong_answers(&wrong, SameModelLevel::ASSUMED);
        assert_eq!(judgement.strength, EvidenceStrength::None);
        assert!(
            judgement
                .interpretation
                .starts_with("no clear evidence either way"),
            "{}",
            judgement.interpretation
        );
    }

    #[test]
    fn wilson_interval_matches_published_values() {
        let interval = wilson_interval_95(8, 10).expect("ten trials");
        assert!((interval.lower - 0.4902).abs() < 1e-3, "{interval:?}");
        assert!((interval.upper - 0.9433).abs() < 1e-3, "{interval:?}");
        let all = wilson_interval_95(40, 40).expect("forty trials");
        assert!((all.upper - 1.0).abs() < 1e-12);
        assert!((all.lower - 0.9124).abs() < 1e-3, "{all:?}");
        assert!(wilson_interval_95(0, 0).is_none());
    }

    /// splitmix64: a seeded generator, so the "independent models" test is reproducible
    /// without a dependency.
    struct SeededGenerator(u64);

    impl SeededGenerator {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut mixed = self.0;
            mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            mixed ^ (mixed >> 31)
        }

        fn below(&mut self, bound: u64) -> u64 {
            self.next_u64() % bound
        }

        fn chance(&mut self, probability: f64) -> bool {
            (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= probability
        }
    }

    const LETTERS: [char; 4] = ['A', 'B', 'C', 'D'];

    fn gold_letters(generator: &mut SeededGenerator, count: usize) -> Vec<char> {
        (0..count)
            .map(|_| LETTERS[generator.below(4) as usize])
            .collect()
    }

    fn independent_model_sheet(
        generator: &mut SeededGenerator,
        golds: &[char],
        accuracy: f64,
    ) -> AnswerSheet {
        golds
            .iter()
            .enumerate()
            .map(|(index, gold)| {
                let chosen = if generator.chance(accuracy) {
                    *gold
                } else {
                    let wrong: Vec<char> = LETTERS
                        .iter()
                        .copied()
                        .filter(|letter| letter != gold)
                        .collect();
                    wrong[generator.below(3) as usize]
                };
                (format!("item-{index:04}"), answer(*gold, Some(chosen)))
            })
            .collect()
    }

    #[test]
    fn identical_answer_sheets_share_every_wrong_answer() {
        let mut generator = SeededGenerator(7);
        let golds = gold_letters(&mut generator, 200);
        let source = independent_model_sheet(&mut generator, &golds, 0.6);
        let wrapper = source.clone();
        let report = compare_answer_sheets(&wrapper, &source);
        assert!(close(report.raw_agreement, 1.0));
        assert!(close(report.cohens_kappa, 1.0));
        assert!(close(report.wrong_answers.rate, 1.0));
        assert!(report.wrong_answers.items_both_wrong >= 50);
        assert_eq!(report.strength, EvidenceStrength::Strong);
        assert!(
            report
                .statement
                .contains("share 100% of their wrong answers"),
            "{}",
            report.statement
        );
        assert!(
            report
                .statement
                .contains("does not by itself prove a wrapper")
        );
    }

    #[test]
    fn independent_random_sheets_share_wrong_answers_near_the_independence_baseline() {
        let mut generator = SeededGenerator(2025);
        let golds = gold_letters(&mut generator, 3000);
        let first = independent_model_sheet(&mut generator, &golds, 0.5);
        let second = independent_model_sheet(&mut generator, &golds, 0.55);
        let report = compare_answer_sheets(&first, &second);
        let wrong = &report.wrong_answers;
        let rate = wrong.rate.expect("many items both wrong");
        let expected = wrong.expected_under_independence().expect("baseline");
        assert!(wrong.items_both_wrong > 500, "{}", wrong.items_both_wrong);
        assert!((rate - 1.0 / 3.0).abs() < 0.05, "rate {rate}");
        assert!((expected - 1.0 / 3.0).abs() < 0.02, "expected {expected}");
        assert_eq!(
            report.strength,
            EvidenceStrength::None,
            "{}",
            report.statement
        );
        assert!(
            report.capa.is_some_and(|capa| capa.abs() < 0.05),
            "{:?}",
            report.capa
        );
    }

    #[test]
    fn shared_letter_bias_raises_the_baseline() {
        // Both models answer "A" whenever wrong, and "A" is never gold: the shared wrong
        // answers are explained by a shared habit, and the baseline says so.
        let rows: Vec<(String, char)> = (0..60)
            .map(|index| (format!("i{index}"), LETTERS[1 + index % 3]))
            .collect();
        let make = |correct_every: usize| -> AnswerSheet {
            rows.iter()
                .enumerate()
                .map(|(index, (key, gold))| {
                    let chosen = if index % correct_every == 0 {
                        *gold
                    } else {
                        'A'
                    };
                    (key.clone(), answer(*gold, Some(chosen)))
                })
                .collect()
        };
        let report = compare_answer_sheets(&make(3), &make(3));
        let wrong = &report.wrong_answers;
        assert!(close(wrong.rate, 1.0));
        assert!(
            wrong
                .expected_from_letter_preferences
                .is_some_and(|value| value > 0.8),
            "{wrong:?}"
        );
        assert_eq!(
            report.strength,
            EvidenceStrength::None,
            "{}",
            report.statement
        );
    }

    #[test]
    fn items_with_conflicting_gold_are_skipped_and_counted() {
        let first = sheet(&[("i1", 'A', Some('A')), ("i2", 'B', Some('B'))]);
        let second = sheet(&[("i1", 'A', Some('A')), ("i2", 'C', Some('B'))]);
        let report = compare_answer_sheets(&first, &second);
        assert_eq!(report.items_in_common, 1);
        assert_eq!(report.items_with_conflicting_gold, 1);
    }

    #[test]
    fn no_common_items_gives_no_figures() {
        let report = compare_answer_sheets(
            &sheet(&[("i1", 'A', Some('A'))]),
            &sheet(&[("i2", 'A', Some('A'))]),
        );
        assert_eq!(report.items_both_answered, 0);
        assert!(
            report.raw_agreement.is_none()
                && report.cohens_kappa.is_none()
                && report.capa.is_none()
        );
        assert_eq!(report.strength, EvidenceStrength::Insufficient);
    }

    #[test]
    fn lower_case_letters_are_the_same_option() {
        let first = sheet(&[("i1", 'A', Some('b'))]);
        let second = sheet(&[("i1", 'a', Some('B'))]);
        let report = compare_answer_sheets(&first, &second);
        assert_eq!(report.wrong_answers.items_same_wrong_option, 1);
    }
}
