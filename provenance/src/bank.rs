//! The built-in multiple-choice bank for the provenance fingerprint, and how many
//! multiple-choice items a provenance run needs before shared errors can tell anything.
//!
//! Shared wrong answers are the strongest evidence of a wrapper, but only with enough
//! items both endpoints got wrong (issue 17: 16 shared errors from a 50-item suite could
//! tell nothing). A provenance run whose suites hold fewer single-letter items than
//! [`multiple_choice_items_for_power`] therefore adds this bank: 64 four-option Chinese
//! general-knowledge items written for the project (`suites/data/provenance-bank.jsonl`,
//! never taken from a benchmark), asked by first-token log-probabilities so a long
//! reply cannot be cut at the token limit and the options' order is recorded too.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::agreement::{ASSUMED_SAME_MODEL_WRONG_AGREEMENT, items_needed_to_tell};

/// The bank, shipped in the binary.
const BANK_JSONL: &str = include_str!("../../suites/data/provenance-bank.jsonl");

/// The suite name the bank's items are keyed under in profiles (`provenance-bank/ID#0`).
pub const BANK_SUITE: &str = "provenance-bank";

/// What a first-token reply to a bank item is most likely to be (a C-Eval-style prompt
/// ending in "答案：" so the answer's first token is the letter).
pub const BANK_PROMPT_HEAD: &str = "以下是中国关于常识的单项选择题，请直接给出正确答案的选项字母。";

/// One item of the bank.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankItem {
    /// `bank-NNN`.
    pub id: String,
    pub subject: String,
    pub question: String,
    /// Four option texts, A to D.
    pub options: Vec<String>,
    /// The gold letter.
    pub answer: char,
}

impl BankItem {
    /// The one user message the item is asked with.
    pub fn prompt(&self) -> String {
        let mut prompt = format!("{BANK_PROMPT_HEAD}\n\n{}\n", self.question);
        for (letter, option) in ('A'..='D').zip(&self.options) {
            prompt.push_str(&format!("{letter}. {option}\n"));
        }
        prompt.push_str("答案：");
        prompt
    }
}

/// A bank line that does not parse or breaks the bank's rules (a build defect).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "provenance bank, line {line}: {problem}; fix suites/data/provenance-bank.jsonl and rebuild"
)]
pub struct BankError {
    pub line: usize,
    pub problem: String,
}

/// The bank's items, in file order.
///
/// # Errors
/// A line that does not parse, a duplicate id or question, an item without four
/// distinct options or with a gold letter outside A–D.
pub fn bank_items() -> Result<Vec<BankItem>, BankError> {
    let mut items = Vec::new();
    let mut ids = BTreeSet::new();
    let mut questions = BTreeSet::new();
    for (index, line) in BANK_JSONL.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let error = |problem: String| BankError {
            line: index + 1,
            problem,
        };
        let item: BankItem =
            serde_json::from_str(line).map_err(|parse| error(parse.to_string()))?;
        if !ids.insert(item.id.clone()) {
            return Err(error(format!("duplicate id {}", item.id)));
        }
        if !questions.insert(item.question.clone()) {
            return Err(error(format!("question of {} asked twice", item.id)));
        }
        let distinct: BTreeSet<&String> = item.options.iter().collect();
        if item.options.len() != 4 || distinct.len() != 4 {
            return Err(error(format!("{} needs four distinct options", item.id)));
        }
        if !('A'..='D').contains(&item.answer) {
            return Err(error(format!(
                "{}: answer {} is not A–D",
                item.id, item.answer
            )));
        }
        items.push(item);
    }
    Ok(items)
}

/// The share of items two small models both get wrong, assumed before any answer is
/// seen: issue 17's Qwen and Xingchen were both wrong on 16 of 50.
pub const ASSUMED_BOTH_WRONG_FRACTION: f64 = 16.0 / 50.0;

/// The independence level for four options with no letter preference known: ⅓.
pub const UNIFORM_FOUR_OPTION_LEVEL: f64 = 1.0 / 3.0;

/// How many single-letter items a provenance run needs before it starts: the items both
/// endpoints must get wrong to tell independence (⅓ for four options) from the same
/// model (the assumed 80%) at an unknown rate (Wilson centre of 0 of 0, ½) —
/// [`items_needed_to_tell`], 18 — divided by [`ASSUMED_BOTH_WRONG_FRACTION`]: 57.
pub fn multiple_choice_items_for_power() -> usize {
    let both_wrong = items_needed_to_tell(
        0,
        0,
        UNIFORM_FOUR_OPTION_LEVEL,
        ASSUMED_SAME_MODEL_WRONG_AGREEMENT,
    )
    .unwrap_or(usize::MAX);
    // Positive and finite: the cast saturates, never wraps.
    (both_wrong as f64 / ASSUMED_BOTH_WRONG_FRACTION).ceil() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bank_parses_and_has_enough_balanced_items_for_power() {
        let items = bank_items().expect("the shipped bank parses");
        assert_eq!(items.len(), 64);
        assert!(items.len() >= multiple_choice_items_for_power());
        for letter in 'A'..='D' {
            let count = items.iter().filter(|item| item.answer == letter).count();
            assert_eq!(count, 16, "gold {letter}");
        }
        for (index, item) in items.iter().enumerate() {
            assert_eq!(item.id, format!("bank-{:03}", index + 1));
            assert!(!item.subject.is_empty() && !item.question.is_empty());
        }
    }

    #[test]
    fn the_power_threshold_is_the_hand_computed_one() {
        // p̃ = ½, h = (0.8 − ⅓)/2 = 0.2333; N = 1.96² · ¼ / 0.2333² = 17.64 → 18;
        // 18 / 0.32 = 56.25 → 57.
        assert_eq!(
            items_needed_to_tell(0, 0, UNIFORM_FOUR_OPTION_LEVEL, 0.8),
            Some(18)
        );
        assert_eq!(multiple_choice_items_for_power(), 57);
    }

    #[test]
    fn a_bank_item_is_asked_with_lettered_options_ending_in_the_answer_cue() {
        let items = bank_items().expect("bank");
        let prompt = items[0].prompt();
        assert!(prompt.starts_with(BANK_PROMPT_HEAD));
        assert!(prompt.contains(&format!("\nA. {}\n", items[0].options[0])));
        assert!(prompt.contains(&format!("\nD. {}\n", items[0].options[3])));
        assert!(prompt.ends_with("答案："));
    }
}
