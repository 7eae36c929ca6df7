//! Similarity of open-ended answers: character n-gram overlap between two endpoints'
//! answers to the same open prompts (`probes/open_prompts.jsonl`).
//!
//! Characters, not whitespace-separated words, because Chinese has no spaces between
//! words; character bigrams and trigrams are the usual unit for Chinese text overlap.
//! Before counting, text is lower-cased, full-width ASCII is folded to half-width
//! (`ＡＢＣ１２３` → `abc123`), punctuation becomes a space and runs of whitespace collapse
//! to one, so formatting differences do not count as content differences.
//!
//! Overlap is measured on sets of n-grams: Jaccard (`|A∩B| / |A∪B|`) and containment in
//! both directions (`|A∩B| / |A|`), since a wrapper that appends a sentence keeps the
//! source's answer contained in its own while lowering Jaccard.
//!
//! Open answers depend on sampling temperature, so this is the weakest of the lines of
//! evidence; the thresholds below are heuristics, not calibrated on reference models.
//! Independent models rarely exceed a trigram Jaccard of 0.2 on the same prompt.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::evidence::EvidenceStrength;

/// Fewest prompts compared before a statement is made.
pub const MIN_PROMPTS_COMPARED: usize = 5;
/// Mean trigram Jaccard from which answers are near-verbatim copies (strong).
pub const STRONG_MEAN_TRIGRAM_JACCARD: f64 = 0.8;
/// Mean trigram Jaccard from which answers share much of their wording (moderate).
pub const MODERATE_MEAN_TRIGRAM_JACCARD: f64 = 0.5;
/// Mean trigram Jaccard from which overlap is above what independent models show (weak).
pub const WEAK_MEAN_TRIGRAM_JACCARD: f64 = 0.3;

/// Text normalised for n-gram counting (see the module docs).
pub fn normalise_for_ngrams(text: &str) -> String {
    let mut normalised = String::with_capacity(text.len());
    let mut previous_was_space = true;
    for character in text.chars() {
        let folded = fold_full_width(character);
        if folded.is_alphanumeric() {
            normalised.extend(folded.to_lowercase());
            previous_was_space = false;
        } else if !previous_was_space {
            normalised.push(' ');
            previous_was_space = true;
        }
    }
    if normalised.ends_with(' ') {
        normalised.pop();
    }
    normalised
}

/// Folds U+FF01–U+FF5E to ASCII and the ideographic space to a space.
fn fold_full_width(character: char) -> char {
    match character {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(character as u32 - 0xFEE0).unwrap_or(character),
        '\u{3000}' => ' ',
        _ => character,
    }
}

/// The set of character n-grams of the normalised text. A text shorter than `n`
/// characters contributes itself as one gram, so short answers still compare.
pub fn character_ngrams(text: &str, n: usize) -> HashSet<String> {
    let characters: Vec<char> = normalise_for_ngrams(text).chars().collect();
    if characters.is_empty() || n == 0 {
        return HashSet::new();
    }
    if characters.len() < n {
        return HashSet::from([characters.iter().collect()]);
    }
    characters
        .windows(n)
        .map(|window| window.iter().collect())
        .collect()
}

/// Overlap of two answers' n-gram sets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NgramOverlap {
    pub n: usize,
    pub jaccard: f64,
    /// Share of the first answer's n-grams found in the second.
    pub containment_of_first_in_second: f64,
    /// Share of the second answer's n-grams found in the first.
    pub containment_of_second_in_first: f64,
}

impl NgramOverlap {
    pub fn max_containment(&self) -> f64 {
        self.containment_of_first_in_second
            .max(self.containment_of_second_in_first)
    }
}

/// The n-gram overlap of two texts; all zeros when either has no n-grams.
pub fn ngram_overlap(first: &str, second: &str, n: usize) -> NgramOverlap {
    let first_grams = character_ngrams(first, n);
    let second_grams = character_ngrams(second, n);
    let shared = first_grams.intersection(&second_grams).count();
    let union = first_grams.len() + second_grams.len() - shared;
    let share = |part: usize, whole: usize| {
        if whole == 0 {
            0.0
        } else {
            part as f64 / whole as f64
        }
    };
    NgramOverlap {
        n,
        jaccard: share(shared, union),
        containment_of_first_in_second: share(shared, first_grams.len()),
        containment_of_second_in_first: share(shared, second_grams.len()),
    }
}

/// Bigram and trigram overlap for one prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptSimilarity {
    pub prompt_id: String,
    pub bigrams: NgramOverlap,
    pub trigrams: NgramOverlap,
}

/// Overlap over all prompts both endpoints answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenAnswerSimilarity {
    /// In prompt id order.
    pub per_prompt: Vec<PromptSimilarity>,
    pub mean_bigram_jaccard: Option<f64>,
    pub mean_trigram_jaccard: Option<f64>,
    pub mean_trigram_max_containment: Option<f64>,
    pub strength: EvidenceStrength,
    pub statement: String,
}

/// Compares two endpoints' open answers, keyed by prompt id. Prompts either endpoint
/// left unanswered (missing or blank) are skipped.
pub fn compare_open_answers(
    first: &BTreeMap<String, String>,
    second: &BTreeMap<String, String>,
) -> OpenAnswerSimilarity {
    let per_prompt: Vec<PromptSimilarity> = first
        .iter()
        .filter_map(|(prompt_id, first_answer)| {
            let second_answer = second.get(prompt_id)?;
            if normalise_for_ngrams(first_answer).is_empty()
                || normalise_for_ngrams(second_answer).is_empty()
            {
                return None;
            }
            Some(PromptSimilarity {
                prompt_id: prompt_id.clone(),
                bigrams: ngram_overlap(first_answer, second_answer, 2),
                trigrams: ngram_overlap(first_answer, second_answer, 3),
            })
        })
        .collect();
    let mean_of = |value: fn(&PromptSimilarity) -> f64| {
        (!per_prompt.is_empty())
            .then(|| per_prompt.iter().map(value).sum::<f64>() / per_prompt.len() as f64)
    };
    let mean_bigram_jaccard = mean_of(|prompt| prompt.bigrams.jaccard);
    let mean_trigram_jaccard = mean_of(|prompt| prompt.trigrams.jaccard);
    let mean_trigram_max_containment = mean_of(|prompt| prompt.trigrams.max_containment());

    let compared = per_prompt.len();
    let (strength, statement) = match mean_trigram_jaccard {
        None => (
            EvidenceStrength::Insufficient,
            "no open prompt was answered by both endpoints".to_owned(),
        ),
        Some(trigram) if compared < MIN_PROMPTS_COMPARED => (
            EvidenceStrength::Insufficient,
            format!(
                "mean trigram overlap {trigram:.2} on only {compared} prompt(s); at least {MIN_PROMPTS_COMPARED} are needed"
            ),
        ),
        Some(trigram) => {
            let figures =
                format!("mean character-trigram Jaccard {trigram:.2} over {compared} open prompts");
            if trigram >= STRONG_MEAN_TRIGRAM_JACCARD {
                (
                    EvidenceStrength::Strong,
                    format!(
                        "{figures}: the answers are near-verbatim the same, which independent models do not produce; strong evidence that one serves or copies the other"
                    ),
                )
            } else if trigram >= MODERATE_MEAN_TRIGRAM_JACCARD {
                (
                    EvidenceStrength::Moderate,
                    format!(
                        "{figures}: much shared wording; moderate evidence of a common origin, such as training on the other's answers"
                    ),
                )
            } else if trigram >= WEAK_MEAN_TRIGRAM_JACCARD {
                (
                    EvidenceStrength::Weak,
                    format!(
                        "{figures}: more shared wording than usual between independent models; weak evidence, as sampling and common phrasing also produce it"
                    ),
                )
            } else {
                (
                    EvidenceStrength::None,
                    format!(
                        "{figures}: the wording is no more alike than between independent models"
                    ),
                )
            }
        }
    };
    OpenAnswerSimilarity {
        per_prompt,
        mean_bigram_jaccard,
        mean_trigram_jaccard,
        mean_trigram_max_containment,
        strength,
        statement,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_folds_width_case_and_punctuation() {
        assert_eq!(
            normalise_for_ngrams("ＡＢＣ１２３，你好！  World."),
            "abc123 你好 world"
        );
        assert_eq!(normalise_for_ngrams("……"), "");
    }

    #[test]
    fn chinese_is_split_into_characters_not_words() {
        let grams = character_ngrams("长江东去", 2);
        let expected: HashSet<String> = ["长江", "江东", "东去"]
            .iter()
            .map(|gram| (*gram).to_owned())
            .collect();
        assert_eq!(grams, expected);
    }

    #[test]
    fn short_text_counts_as_one_gram() {
        assert_eq!(character_ngrams("好", 3).len(), 1);
        assert!(character_ngrams("", 3).is_empty());
    }

    #[test]
    fn hand_computed_overlap() {
        // Bigrams: 长江 江东 东去 vs 长江 江水 → shared 1, union 4.
        let overlap = ngram_overlap("长江东去", "长江水", 2);
        assert_eq!(overlap.jaccard, 0.25);
        assert!((overlap.containment_of_first_in_second - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(overlap.containment_of_second_in_first, 0.5);
    }

    #[test]
    fn identical_answers_overlap_fully_and_an_appended_sentence_keeps_containment() {
        let answer = "过拟合是指模型在训练数据上表现很好，但在新数据上表现较差。";
        assert_eq!(ngram_overlap(answer, answer, 3).jaccard, 1.0);
        let longer = format!("{answer}希望这个解释对你有帮助！");
        let overlap = ngram_overlap(answer, &longer, 3);
        assert_eq!(overlap.containment_of_first_in_second, 1.0);
        assert!(overlap.jaccard < 0.8);
    }

    fn answers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(id, answer)| ((*id).to_owned(), (*answer).to_owned()))
            .collect()
    }

    #[test]
    fn a_copy_of_every_answer_is_strong_and_independent_answers_are_not() {
        let source = answers(&[
            (
                "p1",
                "秋天的傍晚，夕阳把天空染成橘红色，落叶在风中轻轻飘舞。",
            ),
            (
                "p2",
                "过拟合是指模型把训练数据中的噪声也学了进去，导致在新数据上表现变差。",
            ),
            (
                "p3",
                "Photosynthesis is how plants use sunlight, water and air to make their own food.",
            ),
            (
                "p4",
                "First, keep it to one page. Second, lead with results.",
            ),
            ("p5", "长江万里向东流，浪卷千堆雪未休。"),
        ]);
        let copy = source.clone();
        let report = compare_open_answers(&copy, &source);
        assert_eq!(report.mean_trigram_jaccard, Some(1.0));
        assert_eq!(report.strength, EvidenceStrength::Strong);

        let independent = answers(&[
            ("p1", "黄昏时分，街灯一盏盏亮起，晚归的人们匆匆走过。"),
            (
                "p2",
                "就像学生死记硬背考试题目，换一道新题就不会做了，这就是过拟合。",
            ),
            (
                "p3",
                "Plants are like little kitchens: leaves catch light and turn it into sugar.",
            ),
            (
                "p4",
                "Tailor each resume to the job and quantify your achievements.",
            ),
            ("p5", "大江东去水茫茫，两岸青山映夕阳。"),
        ]);
        let report = compare_open_answers(&independent, &source);
        assert_eq!(
            report.strength,
            EvidenceStrength::None,
            "{}",
            report.statement
        );
        assert!(report.mean_trigram_jaccard.is_some_and(|value| value < 0.2));
    }

    #[test]
    fn unanswered_prompts_are_skipped() {
        let first = answers(&[("p1", "你好"), ("p2", "  ")]);
        let second = answers(&[("p1", "你好"), ("p2", "好"), ("p3", "x")]);
        let report = compare_open_answers(&first, &second);
        assert_eq!(report.per_prompt.len(), 1);
        assert_eq!(report.strength, EvidenceStrength::Insufficient);
    }
}
