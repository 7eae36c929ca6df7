//! The persona null band: how far a system prompt moves a model's own answers.
//!
//! A reseller's wrapper puts its own persona in a system prompt ("你是星辰大模型…"). That
//! moves a model's answers — a small model's more than a large one's — so a wrapper of
//! Qwen shares fewer wrong answers with Qwen than Qwen shares with itself under no
//! prompt. Judged against "the same model shares nearly all", the wrapper looks
//! independent. The right null is measured: re-ask each reference endpoint a slice of the
//! items under two or three personas ([`BAND_PERSONAS`]), and take what the reference
//! shares with itself across personas as the same-model level.
//!
//! The band pools every pair of personas: of the items both runs got wrong, how often
//! they chose the same wrong option, with a Wilson 95% interval. The level a suspect is
//! judged against is the interval's **lower end** — the least the same model shares
//! under a persona, within the data — so the band never makes a suspect look more like
//! the reference than the reference is like itself. With it,
//! [`crate::agreement::compare_answer_sheets_with`] states "too few shared errors to
//! tell" whenever the suspect's interval reaches both the band and the independence
//! baseline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::agreement::{
    AgreementReport, AnswerSheet, MIN_ITEMS_BOTH_WRONG, ProportionInterval, SameModelLevel,
    SameModelLevelSource, compare_answer_sheets, compare_answer_sheets_with, wilson_interval_95,
};

/// A system prompt under which a reference is re-asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Persona {
    /// Stable id; answer sheets are keyed by it.
    pub id: &'static str,
    /// `None`: the endpoint's built-in behaviour, no system message.
    pub system: Option<&'static str>,
}

/// The personas of the band: built-in, neutral, and vendor-like (the kind a reseller
/// writes, naming a made-up company so no real maker is named).
pub const BAND_PERSONAS: [Persona; 3] = [
    Persona {
        id: "built-in",
        system: None,
    },
    Persona {
        id: "neutral",
        system: Some("You are a helpful assistant."),
    },
    Persona {
        id: "vendor-like",
        system: Some(
            "你是星辰大模型，由星辰智能科技公司自主研发的人工智能助手。请用专业、友好的语气回答用户的问题。",
        ),
    },
];

/// One pair of persona runs of the same reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonaPair {
    pub first: String,
    pub second: String,
    pub items_both_answered: usize,
    pub raw_agreement: Option<f64>,
    pub items_both_wrong: usize,
    pub items_same_wrong_option: usize,
}

/// What a reference shares with itself across personas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonaBand {
    pub reference_endpoint: String,
    pub personas: Vec<String>,
    pub pairs: Vec<PersonaPair>,
    /// All pairs pooled: items both runs got wrong.
    pub items_both_wrong: usize,
    pub items_same_wrong_option: usize,
    pub rate: Option<f64>,
    pub interval_95: Option<ProportionInterval>,
    /// The same-model level for suspects: the interval's lower end. `None` when fewer
    /// than [`MIN_ITEMS_BOTH_WRONG`] pooled items were wrong for both, so the band is not
    /// measured and the assumed level stands.
    pub same_model_level: Option<SameModelLevel>,
    pub statement: String,
}

impl PersonaBand {
    /// The level to judge suspects against: the measured band, or the assumed level
    /// when the band could not be measured.
    pub fn level_or_assumed(&self) -> SameModelLevel {
        self.same_model_level.unwrap_or(SameModelLevel::ASSUMED)
    }
}

/// Measures the band from one reference's answer sheets, one per persona id.
pub fn persona_band(
    reference_endpoint: &str,
    sheets_by_persona: &BTreeMap<String, AnswerSheet>,
) -> PersonaBand {
    let personas: Vec<String> = sheets_by_persona.keys().cloned().collect();
    let mut pairs = Vec::new();
    for (index, (first, first_sheet)) in sheets_by_persona.iter().enumerate() {
        for (second, second_sheet) in sheets_by_persona.iter().skip(index + 1) {
            let report = compare_answer_sheets(first_sheet, second_sheet);
            pairs.push(PersonaPair {
                first: first.clone(),
                second: second.clone(),
                items_both_answered: report.items_both_answered,
                raw_agreement: report.raw_agreement,
                items_both_wrong: report.wrong_answers.items_both_wrong,
                items_same_wrong_option: report.wrong_answers.items_same_wrong_option,
            });
        }
    }
    let items_both_wrong: usize = pairs.iter().map(|pair| pair.items_both_wrong).sum();
    let items_same_wrong_option: usize =
        pairs.iter().map(|pair| pair.items_same_wrong_option).sum();
    let rate =
        (items_both_wrong > 0).then(|| items_same_wrong_option as f64 / items_both_wrong as f64);
    let interval_95 = wilson_interval_95(items_same_wrong_option, items_both_wrong);
    let same_model_level = interval_95
        .filter(|_| items_both_wrong >= MIN_ITEMS_BOTH_WRONG)
        .map(|interval| SameModelLevel {
            rate: interval.lower,
            source: SameModelLevelSource::PersonaBand,
        });
    let statement = match (rate, interval_95, same_model_level) {
        (Some(rate), Some(interval), Some(level)) => format!(
            "{reference_endpoint} re-asked under {} personas shares {:.0}% of its wrong answers with itself ({items_same_wrong_option} of {items_both_wrong} items both runs got wrong, pooled over {} pairs; 95% interval {:.0}%–{:.0}%): suspects are judged against {:.0}%, the least the same model shares under a persona",
            personas.len(),
            rate * 100.0,
            pairs.len(),
            interval.lower * 100.0,
            interval.upper * 100.0,
            level.rate * 100.0
        ),
        _ => format!(
            "{reference_endpoint} under {} personas: only {items_both_wrong} items both runs got wrong (at least {MIN_ITEMS_BOTH_WRONG} needed), so the persona band is not measured and the assumed same-model level stands",
            personas.len()
        ),
    };
    PersonaBand {
        reference_endpoint: reference_endpoint.to_owned(),
        personas,
        pairs,
        items_both_wrong,
        items_same_wrong_option,
        rate,
        interval_95,
        same_model_level,
        statement,
    }
}

/// Compares a suspect with a reference, judging the shared errors against the
/// reference's persona band rather than the assumed same-model level.
pub fn compare_against_band(
    suspect: &AnswerSheet,
    reference: &AnswerSheet,
    band: &PersonaBand,
) -> AgreementReport {
    compare_answer_sheets_with(suspect, reference, band.level_or_assumed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agreement::McAnswer;
    use crate::evidence::EvidenceStrength;

    const LETTERS: [char; 4] = ['A', 'B', 'C', 'D'];

    /// A reference answering 200 items, gold cycling A–D; wrong on items where
    /// `index % 5 != 0`, picking the wrong option `pick(index)`.
    fn sheet(pick: impl Fn(usize) -> usize) -> AnswerSheet {
        (0..200)
            .map(|index| {
                let gold = LETTERS[index % 4];
                let chosen = if index % 5 == 0 {
                    gold
                } else {
                    let wrong: Vec<char> = LETTERS
                        .iter()
                        .copied()
                        .filter(|letter| *letter != gold)
                        .collect();
                    wrong[pick(index) % 3]
                };
                (
                    format!("cmmlu/x/{index:03}"),
                    McAnswer {
                        suite: "cmmlu".to_owned(),
                        gold,
                        option_count: 4,
                        chosen: Some(chosen),
                    },
                )
            })
            .collect()
    }

    /// The same wrong option as `base` except where `shifted(index)`: the persona moved
    /// the answer to the next wrong option.
    fn shifted_sheet(shifted: impl Fn(usize) -> bool) -> AnswerSheet {
        sheet(|index| index + usize::from(shifted(index)))
    }

    #[test]
    fn band_from_three_personas_with_known_shifts() {
        // 160 items wrong in every run. The neutral persona moves 1 in 8 wrong answers,
        // the vendor-like persona a different 1 in 8 (items 8k+1 and 8k+5 among the wrong).
        let built_in = shifted_sheet(|_| false);
        let neutral = shifted_sheet(|index| index % 8 == 1);
        let vendor_like = shifted_sheet(|index| index % 8 == 5);
        let sheets: BTreeMap<String, AnswerSheet> = [
            ("built-in".to_owned(), built_in),
            ("neutral".to_owned(), neutral),
            ("vendor-like".to_owned(), vendor_like),
        ]
        .into_iter()
        .collect();
        let band = persona_band("qwen", &sheets);
        assert_eq!(band.pairs.len(), 3);
        // Items with index % 8 == 1 and index % 5 != 0: 25 of 200, less 5 that are
        // multiples of 5 (index 25, 65, 105, 145, 185) → 20; the same for % 8 == 5.
        // built-in/neutral: 160 both wrong, 140 same; built-in/vendor-like: 160, 140;
        // neutral/vendor-like: 160 both wrong, 120 same (both shifts differ).
        let same: Vec<usize> = band
            .pairs
            .iter()
            .map(|pair| pair.items_same_wrong_option)
            .collect();
        assert_eq!(same, vec![140, 140, 120]);
        assert_eq!(band.items_both_wrong, 480);
        assert_eq!(band.items_same_wrong_option, 400);
        // Wilson 95% for 400 / 480: 0.7974–0.8640.
        let level = band.same_model_level.expect("measured");
        assert!((level.rate - 0.7974).abs() < 1e-3, "{level:?}");
        assert_eq!(level.source, SameModelLevelSource::PersonaBand);
        assert!(
            band.statement
                .starts_with("qwen re-asked under 3 personas shares 83% of its wrong answers with itself (400 of 480"),
            "{}",
            band.statement
        );
    }

    #[test]
    fn a_persona_shifted_wrapper_is_judged_against_the_band() {
        // A model a persona moves a lot: the reference shares 60% with itself across
        // personas, and the wrapper (under its own persona) shares 60% with it.
        let reference = sheet(|index| index);
        let shift_two_in_five = |index: usize| matches!(index % 5, 1 | 2);
        let persona_a = shifted_sheet(shift_two_in_five);
        let sheets: BTreeMap<String, AnswerSheet> = [
            ("built-in".to_owned(), reference.clone()),
            ("vendor-like".to_owned(), persona_a),
        ]
        .into_iter()
        .collect();
        let band = persona_band("qwen", &sheets);
        // Wrong on index % 5 ∈ {1,2,3,4}: 160 items; shifted on {1,2}: 80 → 80 of 160,
        // Wilson 95% interval 42.35%–57.65%.
        assert_eq!(band.items_both_wrong, 160);
        assert_eq!(band.items_same_wrong_option, 80);
        let wrapper = shifted_sheet(|index| matches!(index % 5, 3 | 4));
        // The wrapper also shares 80 of 160 (50%, interval 42–58%). Against the assumed
        // 80% that reads as independent; against the band's lower end (42%) it no longer
        // does: the interval excludes chance by less than the distractor margin and
        // reaches what the same model shares under a persona.
        let assumed = compare_answer_sheets(&wrapper, &reference);
        assert_eq!(assumed.wrong_answers.items_same_wrong_option, 80);
        assert_eq!(assumed.strength, EvidenceStrength::None);
        assert!(
            assumed
                .interpretation
                .starts_with("consistent with independent models"),
            "{}",
            assumed.interpretation
        );
        let banded = compare_against_band(&wrapper, &reference, &band);
        assert!(
            !banded
                .statement
                .contains("consistent with independent models"),
            "{}",
            banded.statement
        );
        assert!(
            banded
                .interpretation
                .starts_with("no clear evidence either way"),
            "{}",
            banded.interpretation
        );
        assert!(
            banded
                .statement
                .contains("42% for the same model under a persona, as measured"),
            "{}",
            banded.statement
        );
        let power = banded.power.expect("figures exist");
        assert_eq!(power.same_model.source, SameModelLevelSource::PersonaBand);
        assert!((power.same_model.rate - 0.4235).abs() < 1e-3, "{power:?}");

        // Asked only a slice (the first 40 items: 32 both wrong, 16 shared, interval
        // 34–66%), the same wrapper cannot be told from the reference under a persona
        // nor from an independent model whose letter habits were this close.
        let slice: AnswerSheet = wrapper
            .iter()
            .take(40)
            .map(|(key, answer)| (key.clone(), answer.clone()))
            .collect();
        let sliced = compare_against_band(&slice, &reference, &band);
        assert_eq!(sliced.wrong_answers.items_both_wrong, 32);
        assert_eq!(sliced.wrong_answers.items_same_wrong_option, 16);
        assert_ne!(sliced.strength, EvidenceStrength::Weak);
        assert!(
            !sliced
                .statement
                .contains("consistent with independent models"),
            "{}",
            sliced.statement
        );
    }

    #[test]
    fn too_few_errors_leave_the_band_unmeasured() {
        let one_item: AnswerSheet = [(
            "i".to_owned(),
            McAnswer {
                suite: "s".to_owned(),
                gold: 'A',
                option_count: 4,
                chosen: Some('B'),
            },
        )]
        .into_iter()
        .collect();
        let sheets: BTreeMap<String, AnswerSheet> = [
            ("built-in".to_owned(), one_item.clone()),
            ("neutral".to_owned(), one_item),
        ]
        .into_iter()
        .collect();
        let band = persona_band("qwen", &sheets);
        assert_eq!(band.same_model_level, None);
        assert_eq!(band.level_or_assumed(), SameModelLevel::ASSUMED);
        assert!(
            band.statement.contains("not measured"),
            "{}",
            band.statement
        );
    }

    #[test]
    fn band_personas_are_built_in_neutral_and_vendor_like() {
        let ids: Vec<&str> = BAND_PERSONAS.iter().map(|persona| persona.id).collect();
        assert_eq!(ids, vec!["built-in", "neutral", "vendor-like"]);
        assert!(BAND_PERSONAS[0].system.is_none());
        // The vendor-like persona names no real maker, so it cannot plant a claim.
        let vendor_like = BAND_PERSONAS[2].system.unwrap_or_default();
        assert!(
            crate::identity::classify_identity(vendor_like)
                .claimed_makers
                .is_empty()
        );
    }
}
