//! The contamination audit's pure half: was a model trained on the benchmark it is scored
//! on? Everything here is deterministic and has no IO; the coordinator plans the items
//! and reads the answers (`jianzhen_coordinator::contamination`).
//!
//! # Layout
//! - Option order: [`order_shift`] and [`permute`] turn an item into the same item with
//!   its options rotated by a fixed, non-zero shift derived from the item id, so the gold
//!   always moves to a new letter (a rotation by `s ≠ 0` moves every option).
//! - Masked option (TS-Guessing, Deng et al. 2023): [`masked_index`] picks one wrong
//!   option to hide, [`masked_prompt`] asks for it, [`read_guess`] and [`match_guess`]
//!   read and compare the model's guess with the hidden text.
//! - Guided completion (Golchin & Surdeanu 2023): [`split_question`],
//!   [`guided_prompt`] (with the dataset's name and split) against [`general_prompt`]
//!   (without), compared by character overlap with the true second half.
//! - The control set: [`control_items`], Chinese multiple-choice items written for the
//!   project (`data/contamination-control.jsonl`), which no model can have seen in a
//!   benchmark.
//! - Min-K% prompt log-probability (Shi et al. 2023): [`min_k_score`] is the mean of a
//!   text's lowest [`MIN_K_PERCENT`]% token log-probabilities; [`min_k_figures`] compares
//!   the benchmark's items with the control items by a one-sided Mann–Whitney U test
//!   ([`mann_whitney_greater`]).
//! - Statistics: [`mcnemar_exact`] (paired test on discordant pairs), [`fisher_greater`]
//!   (one-sided two-proportion test), [`wilson`] (95% intervals), [`Strength`].

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Character overlap (Sørensen–Dice over characters, as multisets, after normalising)
/// at or above which a guess counts as a near-exact match with the hidden option.
/// 0.8 lets one character in five differ: a short option with a changed particle or
/// digit still matches, a different option on the same topic does not.
pub const NEAR_EXACT_THRESHOLD: f64 = 0.8;

/// Tokens the masked-option prompt puts where the hidden option was.
pub const MASK: &str = "[MASK]";

/// FNV-1a (64 bit): a fixed, documented hash, so the shift of an item never depends on
/// the platform or on a library's version.
fn fnv1a(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The rotation of an item's options in the option-order test: `1 + fnv1a(id) mod (n−1)`
/// for `n ≥ 2` options (never 0, so every option, the gold among them, moves), 0 when
/// there is nothing to rotate.
pub fn order_shift(item_id: &str, option_count: usize) -> usize {
    if option_count < 2 {
        return 0;
    }
    1 + (fnv1a(item_id) % (option_count as u64 - 1)) as usize
}

/// An item's options rotated by `shift`: the option at new position `i` is the old option
/// `(i + shift) mod n`. Returns the new options, the new gold letter and the permutation
/// as the old letters in new order (`"BCDA"`: new A is old B).
pub fn permute(options: &[String], gold: char, shift: usize) -> (Vec<String>, char, String) {
    let count = options.len();
    if count == 0 {
        return (Vec::new(), gold, String::new());
    }
    let new: Vec<String> = (0..count)
        .map(|index| options[(index + shift) % count].clone())
        .collect();
    let old_gold = letter_index(gold).unwrap_or(0);
    let new_gold = letter((old_gold + count - shift % count) % count);
    let order: String = (0..count)
        .map(|index| letter((index + shift) % count))
        .collect();
    (new, new_gold, order)
}

fn letter(index: usize) -> char {
    char::from_u32('A' as u32 + index as u32).unwrap_or('?')
}

fn letter_index(letter: char) -> Option<usize> {
    let index = (letter as u32).checked_sub('A' as u32)? as usize;
    (index < 26).then_some(index)
}

/// Which wrong option the masked-option test hides: the `fnv1a(id) mod (n−1)`-th of the
/// wrong options in letter order. `None` without a wrong option.
pub fn masked_index(item_id: &str, option_count: usize, gold: char) -> Option<usize> {
    let gold = letter_index(gold)?;
    let wrong: Vec<usize> = (0..option_count).filter(|index| *index != gold).collect();
    if wrong.is_empty() {
        return None;
    }
    // A different salt from the order test, so the two choices are independent.
    Some(wrong[(fnv1a(&format!("mask:{item_id}")) % wrong.len() as u64) as usize])
}

/// The masked-option request (one user message): the question with every option shown
/// except the hidden one, which reads [`MASK`], and the request to write it.
pub fn masked_prompt(question: &str, options: &[String], hidden: usize) -> String {
    let mut prompt = String::from(
        "下面是一道单项选择题，其中一个选项的内容被替换成了[MASK]。请写出[MASK]处原本的选项内容。只输出该选项的原文，不要解释，也不要输出选项字母。\n\n",
    );
    prompt.push_str(question.trim());
    prompt.push('\n');
    for (index, option) in options.iter().enumerate() {
        let text = if index == hidden {
            MASK
        } else {
            option.as_str()
        };
        prompt.push_str(&format!("{}. {}\n", letter(index), text));
    }
    prompt.push_str("\n[MASK]处的选项内容：");
    prompt
}

/// The guess read from a masked-option reply: its first non-empty line without a
/// leading label (`答案：`, `[MASK]：`, `C.`), quotes or trailing punctuation.
pub fn read_guess(reply: &str) -> String {
    let Some(line) = reply.lines().map(str::trim).find(|line| !line.is_empty()) else {
        return String::new();
    };
    let mut text = line;
    for label in [
        "[MASK]处的选项内容",
        "[MASK]处原本的选项内容",
        "[MASK]",
        "选项内容",
        "答案",
        "原文",
    ] {
        if let Some(rest) = text.strip_prefix(label) {
            text = rest.trim_start_matches([':', '：', ' ', '是', '为']);
        }
    }
    // A leading option letter ("C. ", "C：").
    let mut characters = text.chars();
    if let (Some(first), Some(second)) = (characters.next(), characters.next())
        && first.is_ascii_uppercase()
        && matches!(second, '.' | '．' | '、' | ':' | '：' | ')' | '）')
    {
        text = characters.as_str();
    }
    const QUOTES: [char; 8] = ['"', '\'', '“', '”', '「', '」', '《', '》'];
    const END: [char; 6] = ['。', '.', '；', ';', '，', ','];
    text.trim()
        .trim_end_matches(|c: char| QUOTES.contains(&c) || END.contains(&c) || c.is_whitespace())
        .trim_start_matches(|c: char| QUOTES.contains(&c) || c.is_whitespace())
        .to_string()
}

/// Text compared for a match: whitespace and punctuation removed, ASCII lowercased.
fn normalised(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Sørensen–Dice over the characters of two texts, as multisets, after normalising:
/// `2·|common| / (|a| + |b|)`, 1.0 for identical texts, 0.0 when nothing is shared.
pub fn char_overlap(a: &str, b: &str) -> f64 {
    let (a, mut b) = (normalised(a), normalised(b));
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let total = a.len() + b.len();
    let mut common = 0usize;
    for character in &a {
        if let Some(position) = b.iter().position(|other| other == character) {
            b.swap_remove(position);
            common += 1;
        }
    }
    2.0 * common as f64 / total as f64
}

/// How a guess compares with the hidden option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuessMatch {
    /// The same text after normalising.
    Exact,
    /// Not the same, but a character overlap of at least [`NEAR_EXACT_THRESHOLD`].
    Near,
    /// Anything else (including an empty guess).
    Miss,
}

/// Compares a guess (already read with [`read_guess`]) with the hidden option's text.
pub fn match_guess(guess: &str, hidden: &str) -> GuessMatch {
    let (left, right) = (normalised(guess), normalised(hidden));
    if left.is_empty() || right.is_empty() {
        return GuessMatch::Miss;
    }
    if left == right {
        return GuessMatch::Exact;
    }
    if char_overlap(guess, hidden) >= NEAR_EXACT_THRESHOLD {
        GuessMatch::Near
    } else {
        GuessMatch::Miss
    }
}

/// A question cut in two for guided completion: the first ⌈n/2⌉ characters (of the
/// trimmed question) and the rest, which the model is asked to write.
pub fn split_question(question: &str) -> (String, String) {
    let characters: Vec<char> = question.trim().chars().collect();
    let cut = characters.len().div_ceil(2);
    (
        characters[..cut].iter().collect(),
        characters[cut..].iter().collect(),
    )
}

/// The name a dataset is published under, for the guided instruction.
pub fn dataset_name(suite: &str) -> &str {
    match suite {
        "ceval" => "C-Eval",
        "cmmlu" => "CMMLU",
        other => other,
    }
}

/// Guided completion (Golchin & Surdeanu 2023): the dataset's name and split, and the
/// first half of a question, with the request to finish it as the dataset has it.
pub fn guided_prompt(dataset: &str, split: &str, first_half: &str) -> String {
    format!(
        "下面是{dataset}数据集{split}划分中一道题目的前半部分。请按照该数据集中的原文，写出这道题目的后半部分。只输出后半部分。\n\n{dataset}（{split}）题目前半部分：{first_half}"
    )
}

/// The general instruction: the same request without the dataset.
pub fn general_prompt(first_half: &str) -> String {
    format!(
        "下面是一道题目的前半部分。请写出这道题目的后半部分，使它成为一道完整的题目。只输出后半部分。\n\n题目前半部分：{first_half}"
    )
}

/// The guided-completion figures over items asked both ways: per item the character
/// overlap of each completion with the true second half.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionFigures {
    pub pairs: u64,
    pub mean_overlap_guided: f64,
    pub mean_overlap_general: f64,
    /// Items whose guided completion overlaps more / less than the general one.
    pub guided_higher: u64,
    pub general_higher: u64,
    /// Guided completions that are near-exact (overlap ≥ [`NEAR_EXACT_THRESHOLD`]).
    pub guided_near_exact: u64,
    pub guided_near_exact_interval: (f64, f64),
    /// One-sided exact sign test: P(X ≥ guided_higher), X ~ Bin(higher + lower, ½).
    pub sign_test_p: f64,
    pub strength: Strength,
}

/// Guided-completion figures from `(guided overlap, general overlap)` per item, with
/// their strength: **strong** when the guided instruction recalls more (sign test
/// p < 0.01) by a mean of at least 0.1; **weak** at p < 0.05; **none** otherwise.
pub fn completion_figures(pairs: &[(f64, f64)]) -> CompletionFigures {
    let total = pairs.len() as u64;
    let mean = |pick: &dyn Fn(&(f64, f64)) -> f64| {
        if total == 0 {
            0.0
        } else {
            pairs.iter().map(pick).sum::<f64>() / total as f64
        }
    };
    let guided_higher = pairs.iter().filter(|(g, n)| g > n).count() as u64;
    let general_higher = pairs.iter().filter(|(g, n)| g < n).count() as u64;
    let near = pairs
        .iter()
        .filter(|(g, _)| *g >= NEAR_EXACT_THRESHOLD)
        .count() as u64;
    let discordant = guided_higher + general_higher;
    let sign_test_p = if discordant == 0 {
        1.0
    } else {
        (guided_higher..=discordant)
            .map(|k| (ln_choose(discordant, k) - discordant as f64 * std::f64::consts::LN_2).exp())
            .sum::<f64>()
            .min(1.0)
    };
    let mean_guided = mean(&|pair| pair.0);
    let mean_general = mean(&|pair| pair.1);
    let strength = if sign_test_p < 0.01 && mean_guided - mean_general >= 0.1 {
        Strength::Strong
    } else if sign_test_p < 0.05 {
        Strength::Weak
    } else {
        Strength::None
    };
    CompletionFigures {
        pairs: total,
        mean_overlap_guided: mean_guided,
        mean_overlap_general: mean_general,
        guided_higher,
        general_higher,
        guided_near_exact: near,
        guided_near_exact_interval: wilson(near, total),
        sign_test_p,
        strength,
    }
}

/// The completion read from a reply: its text without a leading label or quotes.
pub fn read_completion(reply: &str) -> String {
    let text = reply.trim();
    let text = ["题目后半部分：", "后半部分：", "后半部分:"]
        .iter()
        .find_map(|label| text.strip_prefix(label))
        .unwrap_or(text);
    text.trim().to_string()
}

/// One item of the project's control set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlItem {
    /// `control-NNN`.
    pub id: String,
    pub subject: String,
    pub question: String,
    /// Four option texts, A to D.
    pub options: Vec<String>,
    /// The gold letter.
    pub answer: char,
}

/// The control set, shipped in the binary.
const CONTROL_JSONL: &str = include_str!("../data/contamination-control.jsonl");

/// A control item that does not parse or breaks the set's rules (a build defect).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "contamination control set, line {line}: {problem}; fix suites/data/contamination-control.jsonl and rebuild"
)]
pub struct ControlSetError {
    pub line: usize,
    pub problem: String,
}

/// The control set: items written for the project in the style of Chinese exam questions
/// (four options, one gold letter), never taken from a benchmark.
///
/// # Errors
/// A line that does not parse, a duplicate id, an item without four distinct options or
/// with a gold letter outside A–D.
pub fn control_items() -> Result<Vec<ControlItem>, ControlSetError> {
    let mut items = Vec::new();
    let mut ids = BTreeSet::new();
    for (index, line) in CONTROL_JSONL.lines().enumerate() {
        let line_number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let error = |problem: String| ControlSetError {
            line: line_number,
            problem,
        };
        let item: ControlItem =
            serde_json::from_str(line).map_err(|parse| error(parse.to_string()))?;
        if !ids.insert(item.id.clone()) {
            return Err(error(format!("duplicate id {}", item.id)));
        }
        let distinct: BTreeSet<&String> = item.options.iter().collect();
        if item.options.len() != 4 || distinct.len() != 4 {
            return Err(error("an item needs four distinct options".to_string()));
        }
        if !('A'..='D').contains(&item.answer) {
            return Err(error(format!("answer {} is not A–D", item.answer)));
        }
        items.push(item);
    }
    Ok(items)
}

/// How strongly a test's figures indicate contamination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    None,
    Weak,
    Strong,
}

impl Strength {
    pub fn as_str(self) -> &'static str {
        match self {
            Strength::None => "none",
            Strength::Weak => "weak",
            Strength::Strong => "strong",
        }
    }
}

/// The 95% Wilson score interval of `successes` out of `trials` ((0, 1) for no trials).
pub fn wilson(successes: u64, trials: u64) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let n = trials as f64;
    let p = successes as f64 / n;
    let denominator = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denominator;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

fn ln_choose(n: u64, k: u64) -> f64 {
    let k = k.min(n - k);
    (0..k)
        .map(|i| ((n - i) as f64).ln() - ((i + 1) as f64).ln())
        .sum()
}

/// McNemar's exact test: two-sided binomial p-value of `b` against `c` discordant pairs
/// under p = ½ (`min(1, 2·P(X ≤ min(b, c)))`, X ~ Bin(b + c, ½)); 1.0 without discordant
/// pairs.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let smaller = b.min(c);
    let tail: f64 = (0..=smaller)
        .map(|k| (ln_choose(n, k) - n as f64 * std::f64::consts::LN_2).exp())
        .sum();
    (2.0 * tail).min(1.0)
}

/// Fisher's exact test, one-sided: the probability of at least `x1` successes in the
/// first group of `n1` when `x1 + x2` successes fall at random over the `n1 + n2` trials
/// (is the first group's rate higher?).
pub fn fisher_greater(x1: u64, n1: u64, x2: u64, n2: u64) -> f64 {
    let successes = x1 + x2;
    let total = n1 + n2;
    if total == 0 {
        return 1.0;
    }
    let denominator = ln_choose(total, successes);
    let upper = successes.min(n1);
    let p: f64 = (x1..=upper)
        .filter(|k| successes - k <= n2)
        .map(|k| (ln_choose(n1, k) + ln_choose(n2, successes - k) - denominator).exp())
        .sum();
    p.min(1.0)
}

/// The option-order test's figures over a set of items asked in both orders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderFigures {
    /// Items answered in both orders.
    pub pairs: u64,
    pub correct_original: u64,
    pub correct_permuted: u64,
    pub accuracy_original: f64,
    pub accuracy_original_interval: (f64, f64),
    pub accuracy_permuted: f64,
    pub accuracy_permuted_interval: (f64, f64),
    /// Permuted answers that name the original order's gold letter (now a wrong option).
    pub followed_old_letter: u64,
    pub old_letter_share: f64,
    pub old_letter_interval: (f64, f64),
    /// Discordant pairs: right in the original order only (`b`), in the permuted only (`c`).
    pub right_original_only: u64,
    pub right_permuted_only: u64,
    pub mcnemar_p: f64,
    pub strength: Strength,
}

/// One item asked in both orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderPair {
    pub correct_original: bool,
    pub correct_permuted: bool,
    /// The permuted answer is the original order's gold letter.
    pub followed_old_letter: bool,
    /// The item's option count (for the chance rate of the old letter).
    pub option_count: usize,
}

/// The option-order figures of `pairs`, with their strength: **strong** when accuracy
/// falls significantly (McNemar p < 0.01, more items right only in the original order)
/// and the lower bound of the old-letter share is above the chance of picking any one
/// wrong letter (1/n); **weak** when only one of the two holds, or the fall is significant
/// at 0.05 only; **none** otherwise.
pub fn order_figures(pairs: &[OrderPair]) -> OrderFigures {
    let count = |keep: &dyn Fn(&OrderPair) -> bool| pairs.iter().filter(|p| keep(p)).count() as u64;
    let total = pairs.len() as u64;
    let correct_original = count(&|p| p.correct_original);
    let correct_permuted = count(&|p| p.correct_permuted);
    let followed = count(&|p| p.followed_old_letter);
    let b = count(&|p| p.correct_original && !p.correct_permuted);
    let c = count(&|p| !p.correct_original && p.correct_permuted);
    let rate = |k: u64| {
        if total == 0 {
            0.0
        } else {
            k as f64 / total as f64
        }
    };
    let p_value = mcnemar_exact(b, c);
    let old_letter_interval = wilson(followed, total);
    let options = pairs
        .iter()
        .map(|p| p.option_count)
        .max()
        .unwrap_or(4)
        .max(2);
    let chance = 1.0 / options as f64;
    let falls = b > c && p_value < 0.01;
    let falls_weakly = b > c && p_value < 0.05;
    let follows = total > 0 && old_letter_interval.0 > chance;
    let strength = match (falls, follows) {
        (true, true) => Strength::Strong,
        (true, false) | (false, true) => Strength::Weak,
        _ if falls_weakly => Strength::Weak,
        _ => Strength::None,
    };
    OrderFigures {
        pairs: total,
        correct_original,
        correct_permuted,
        accuracy_original: rate(correct_original),
        accuracy_original_interval: wilson(correct_original, total),
        accuracy_permuted: rate(correct_permuted),
        accuracy_permuted_interval: wilson(correct_permuted, total),
        followed_old_letter: followed,
        old_letter_share: rate(followed),
        old_letter_interval,
        right_original_only: b,
        right_permuted_only: c,
        mcnemar_p: p_value,
        strength,
    }
}

/// Masked-option guesses counted: exact and near-exact matches out of the items asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GuessCounts {
    pub asked: u64,
    pub exact: u64,
    pub near: u64,
}

impl GuessCounts {
    pub fn add(&mut self, found: GuessMatch) {
        self.asked += 1;
        match found {
            GuessMatch::Exact => self.exact += 1,
            GuessMatch::Near => self.near += 1,
            GuessMatch::Miss => {}
        }
    }

    /// Exact or near-exact.
    pub fn matched(&self) -> u64 {
        self.exact + self.near
    }
}

/// The masked-option test's figures: benchmark items against the control set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuessFigures {
    pub benchmark: GuessCounts,
    pub control: GuessCounts,
    pub exact_rate: f64,
    pub exact_interval: (f64, f64),
    pub matched_rate: f64,
    pub matched_interval: (f64, f64),
    pub control_exact_rate: f64,
    pub control_exact_interval: (f64, f64),
    pub control_matched_rate: f64,
    /// One-sided Fisher test of the exact-match rate against the control's.
    pub fisher_p: f64,
    pub strength: Strength,
}

/// The masked-option figures with their strength: **strong** when the benchmark's exact
/// rate is above the control's (Fisher p < 0.01) and at least 5% of items are recited
/// exactly; **weak** when exact or near-exact matches are above the control's at 0.05;
/// **none** otherwise.
pub fn guess_figures(benchmark: GuessCounts, control: GuessCounts) -> GuessFigures {
    let rate = |k: u64, n: u64| if n == 0 { 0.0 } else { k as f64 / n as f64 };
    let fisher_p = fisher_greater(
        benchmark.exact,
        benchmark.asked,
        control.exact,
        control.asked,
    );
    let matched_p = fisher_greater(
        benchmark.matched(),
        benchmark.asked,
        control.matched(),
        control.asked,
    );
    let exact_rate = rate(benchmark.exact, benchmark.asked);
    let strength = if fisher_p < 0.01 && exact_rate >= 0.05 {
        Strength::Strong
    } else if fisher_p < 0.05 || matched_p < 0.05 {
        Strength::Weak
    } else {
        Strength::None
    };
    GuessFigures {
        benchmark,
        control,
        exact_rate,
        exact_interval: wilson(benchmark.exact, benchmark.asked),
        matched_rate: rate(benchmark.matched(), benchmark.asked),
        matched_interval: wilson(benchmark.matched(), benchmark.asked),
        control_exact_rate: rate(control.exact, control.asked),
        control_exact_interval: wilson(control.exact, control.asked),
        control_matched_rate: rate(control.matched(), control.asked),
        fisher_p,
        strength,
    }
}

/// K of Min-K%: the share of a text's tokens, its least likely ones, whose mean
/// log-probability is the item's score. 20 is the value Shi et al. (2023) found best on
/// their benchmark (WikiMIA) and recommend as the default.
pub const MIN_K_PERCENT: u32 = 20;

/// Min-K% of one text: the mean of its lowest `percent`% token log-probabilities (at
/// least one token: `ceil(n · percent / 100)` of the `n` finite values); `None` for a
/// text without any. Higher (closer to 0) means even the text's least likely tokens
/// were expected: a sign the model has seen the text.
pub fn min_k_score(logprobs: &[f64], percent: u32) -> Option<f64> {
    let mut values: Vec<f64> = logprobs
        .iter()
        .copied()
        .filter(|value| value.is_finite())
        .collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let count = (values.len() * percent.clamp(1, 100) as usize).div_ceil(100);
    let lowest = &values[..count.clamp(1, values.len())];
    Some(lowest.iter().sum::<f64>() / lowest.len() as f64)
}

/// The median of `values` (the mean of the middle two for an even count); 0 for none.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    }
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// Complementary error function (Numerical Recipes' `erfcc`, a Chebyshev fit with a
/// fractional error below 1.2e-7 everywhere, so small p-values keep their digits). The
/// workspace's one copy: it lives here, at the bottom of the dependency graph, and the
/// coordinator's McNemar test uses it through `stats::erfc`.
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let polynomial = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let value = t * polynomial.exp();
    if x >= 0.0 { value } else { 2.0 - value }
}

/// A one-sided Mann–Whitney U test: is `sample` stochastically greater than `control`?
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MannWhitney {
    /// Pairs (sample, control) where the sample's value is greater, ties counting ½.
    pub u: f64,
    /// `u / (n₁ · n₂)`: the probability that a sample value beats a control value (the
    /// area under the ROC curve); ½ when neither side is higher.
    pub auc: f64,
    /// `(u − n₁n₂/2 − ½) / σ`, σ with the tie correction.
    pub z: f64,
    /// One-sided p by the normal approximation, `P(Z ≥ z)`; 1 when there is nothing to
    /// rank (an empty side, or every value tied).
    pub p: f64,
}

/// The one-sided Mann–Whitney U test of `sample` > `control` by the normal approximation
/// with a continuity correction and the tie correction of the variance:
/// σ² = n₁n₂/12 · ((N + 1) − Σ(t³ − t) / (N(N − 1))), t the sizes of the tied groups.
pub fn mann_whitney_greater(sample: &[f64], control: &[f64]) -> MannWhitney {
    let (n1, n2) = (sample.len() as f64, control.len() as f64);
    let u: f64 = sample
        .iter()
        .map(|x| {
            control
                .iter()
                .map(|y| match x.total_cmp(y) {
                    std::cmp::Ordering::Greater => 1.0,
                    std::cmp::Ordering::Equal => 0.5,
                    std::cmp::Ordering::Less => 0.0,
                })
                .sum::<f64>()
        })
        .sum();
    let pairs = n1 * n2;
    if pairs == 0.0 {
        return MannWhitney {
            u,
            auc: 0.5,
            z: 0.0,
            p: 1.0,
        };
    }
    let mut pooled: Vec<f64> = sample.iter().chain(control).copied().collect();
    pooled.sort_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut start = 0;
    while start < pooled.len() {
        let end = pooled[start..]
            .iter()
            .position(|value| value.total_cmp(&pooled[start]).is_ne())
            .map_or(pooled.len(), |offset| start + offset);
        let size = (end - start) as f64;
        ties += size * size * size - size;
        start = end;
    }
    let total = n1 + n2;
    let variance = pairs / 12.0 * ((total + 1.0) - ties / (total * (total - 1.0)));
    let auc = u / pairs;
    if variance <= 0.0 {
        return MannWhitney {
            u,
            auc,
            z: 0.0,
            p: 1.0,
        };
    }
    let z = (u - pairs / 2.0 - 0.5) / variance.sqrt();
    MannWhitney {
        u,
        auc,
        z,
        p: (0.5 * erfc(z / std::f64::consts::SQRT_2)).min(1.0),
    }
}

/// The Min-K% test's figures: the benchmark's items' Min-K% scores against the control
/// items'.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinKFigures {
    /// K, in percent.
    pub k_percent: u32,
    pub items: u64,
    pub control_items: u64,
    pub median: f64,
    pub mean: f64,
    pub control_median: f64,
    pub control_mean: f64,
    pub mann_whitney: MannWhitney,
    /// 95% interval of the AUC (Hanley & McNeil's standard error), clamped to [0, 1].
    pub auc_interval: (f64, f64),
    pub strength: Strength,
}

/// Min-K% figures from the benchmark's and the control's per-item scores, with their
/// strength: **strong** when the benchmark's scores are higher (Mann–Whitney p < 0.01)
/// and a benchmark item beats a control item in at least 3 of 4 pairs (AUC ≥ 0.75);
/// **weak** at p < 0.05; **none** otherwise.
pub fn min_k_figures(benchmark: &[f64], control: &[f64]) -> MinKFigures {
    let test = mann_whitney_greater(benchmark, control);
    let (n1, n2) = (benchmark.len() as f64, control.len() as f64);
    let area = test.auc;
    let auc_interval = if n1 == 0.0 || n2 == 0.0 {
        (0.0, 1.0)
    } else {
        let q1 = area / (2.0 - area);
        let q2 = 2.0 * area * area / (1.0 + area);
        let variance = (area * (1.0 - area)
            + (n1 - 1.0) * (q1 - area * area)
            + (n2 - 1.0) * (q2 - area * area))
            / (n1 * n2);
        let half = 1.96 * variance.max(0.0).sqrt();
        ((area - half).max(0.0), (area + half).min(1.0))
    };
    let strength = if test.p < 0.01 && area >= 0.75 {
        Strength::Strong
    } else if test.p < 0.05 {
        Strength::Weak
    } else {
        Strength::None
    };
    MinKFigures {
        k_percent: MIN_K_PERCENT,
        items: benchmark.len() as u64,
        control_items: control.len() as u64,
        median: median(benchmark),
        mean: mean(benchmark),
        control_median: median(control),
        control_mean: mean(control),
        mann_whitney: test,
        auc_interval,
        strength,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_k_is_the_mean_of_the_lowest_k_percent_by_hand() {
        // Ten tokens: the lowest 20% are the two lowest, -5 and -3: mean -4.
        let tokens = [-0.1, -5.0, -0.2, -3.0, -0.3, -0.4, -0.5, -0.6, -0.7, -0.8];
        assert_eq!(min_k_score(&tokens, 20), Some(-4.0));
        // Seven tokens: ceil(1.4) = 2 lowest.
        assert_eq!(
            min_k_score(&[-1.0, -2.0, -6.0, -0.5, -4.0, -0.1, -0.2], 20),
            Some(-5.0)
        );
        // Three tokens: ceil(0.6) = 1, the minimum; a NaN token is no token.
        assert_eq!(min_k_score(&[-1.0, f64::NAN, -2.5, -0.5], 20), Some(-2.5));
        // K = 100 is the mean log-probability.
        assert_eq!(min_k_score(&[-1.0, -3.0], 100), Some(-2.0));
        assert_eq!(min_k_score(&[], 20), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn mann_whitney_matches_hand_computed_values() {
        // Sample 3, 4, 5 against control 1, 2, 3: U = (1 + 1 + ½) + 3 + 3 = 8.5 of 9.
        // One tie group of 2 in N = 6: σ² = 9/12 · (7 − 6/30) = 5.1.
        // z = (8.5 − 4.5 − 0.5) / √5.1 = 1.549 826; P(Z ≥ z) = 0.060 592.
        let test = mann_whitney_greater(&[3.0, 4.0, 5.0], &[1.0, 2.0, 3.0]);
        assert_eq!(test.u, 8.5);
        assert!((test.auc - 8.5 / 9.0).abs() < 1e-12);
        assert!((test.z - 3.5 / 5.1f64.sqrt()).abs() < 1e-12, "{test:?}");
        assert!((test.p - 0.060_592).abs() < 1e-6, "{test:?}");
        // Every value tied: nothing to rank.
        let tied = mann_whitney_greater(&[-4.0, -4.0], &[-4.0, -4.0, -4.0]);
        assert_eq!((tied.u, tied.auc, tied.p), (3.0, 0.5, 1.0));
        // The sample lower: p near 1.
        assert!(mann_whitney_greater(&[1.0, 2.0], &[5.0, 6.0, 7.0]).p > 0.9);
        assert_eq!(mann_whitney_greater(&[], &[1.0]).p, 1.0);
    }

    #[test]
    fn min_k_figures_rate_the_evidence() {
        // Ten memorised items (-0.04) against 44 ordinary control items (-4): U = 440 of
        // 440, no ties across; ties within each side: Σ(t³ − t) = 990 + 85 140 = 86 130.
        // σ² = 440/12 · (55 − 86 130 / (54 · 53)) = 913.21; z = 219.5 / 30.219 = 7.264.
        let memorised = vec![-0.04; 10];
        let control = vec![-4.0; 44];
        let figures = min_k_figures(&memorised, &control);
        assert_eq!(figures.mann_whitney.u, 440.0);
        let sigma = (440.0f64 / 12.0 * (55.0 - 86_130.0 / 2862.0)).sqrt();
        assert!((figures.mann_whitney.z - 219.5 / sigma).abs() < 1e-9);
        assert!(
            (figures.mann_whitney.z - 7.2636).abs() < 1e-3,
            "{figures:?}"
        );
        assert!(figures.mann_whitney.p < 1e-10, "{figures:?}");
        assert_eq!(figures.strength, Strength::Strong);
        assert_eq!((figures.median, figures.control_median), (-0.04, -4.0));
        // AUC 1: Hanley–McNeil's variance is 0, so the interval is [1, 1].
        assert_eq!(figures.auc_interval, (1.0, 1.0));
        let ordinary = min_k_figures(&[-4.0; 10], &control);
        assert_eq!(ordinary.strength, Strength::None);
        assert_eq!(ordinary.mann_whitney.p, 1.0);
        // Interleaved: 1 beats nothing, 4 and 5 beat 2 and 3: U = 4 of 9.
        let mixed = min_k_figures(&[1.0, 4.0, 5.0], &[2.0, 3.0, 6.0]);
        assert_eq!(mixed.mann_whitney.auc, 4.0 / 9.0);
        assert_eq!(mixed.strength, Strength::None);
    }

    fn texts(items: &[&str]) -> Vec<String> {
        items.iter().map(|text| text.to_string()).collect()
    }

    #[test]
    fn a_rotation_moves_every_option_and_the_gold_to_a_new_letter() {
        let options = texts(&["甲", "乙", "丙", "丁"]);
        let (new, gold, order) = permute(&options, 'A', 1);
        assert_eq!(new, texts(&["乙", "丙", "丁", "甲"]));
        assert_eq!(gold, 'D');
        assert_eq!(order, "BCDA");
        let (new, gold, order) = permute(&options, 'C', 3);
        assert_eq!(new, texts(&["丁", "甲", "乙", "丙"]));
        assert_eq!(gold, 'D');
        assert_eq!(order, "DABC");
        for id in ["law/val/0", "law/val/1", "logic/val/17", "x"] {
            let shift = order_shift(id, 4);
            assert!((1..4).contains(&shift), "{id}: {shift}");
            assert_eq!(shift, order_shift(id, 4), "deterministic");
            for gold in ['A', 'B', 'C', 'D'] {
                let (new, new_gold, _) = permute(&options, gold, shift);
                assert_ne!(new_gold, gold);
                let old = letter_index(gold).expect("letter");
                let moved = letter_index(new_gold).expect("letter");
                assert_eq!(new[moved], options[old], "the gold text follows its letter");
            }
        }
        assert_eq!(order_shift("anything", 1), 0);
        // FNV-1a of the empty string is its offset basis: a fixed value, not a library's.
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn the_masked_option_is_a_wrong_one_and_the_prompt_hides_it() {
        for id in ["a", "b", "c", "law/val/3"] {
            for gold in ['A', 'B', 'C', 'D'] {
                let hidden = masked_index(id, 4, gold).expect("a wrong option");
                assert_ne!(letter(hidden), gold);
            }
        }
        let prompt = masked_prompt("题目？", &texts(&["甲", "乙", "丙", "丁"]), 2);
        assert!(
            prompt.contains("题目？\nA. 甲\nB. 乙\nC. [MASK]\nD. 丁\n"),
            "{prompt}"
        );
        assert!(!prompt.contains("丙"));
    }

    #[test]
    fn guesses_are_read_and_matched_by_character_overlap() {
        assert_eq!(read_guess("\n  答案：“光合作用”。\n解释……"), "光合作用");
        assert_eq!(read_guess("C. 北京"), "北京");
        assert_eq!(read_guess("[MASK]处的选项内容：长江"), "长江");
        assert_eq!(read_guess(""), "");
        assert_eq!(match_guess("光合作用", "光合作用。"), GuessMatch::Exact);
        // 2·4 / (5 + 4) = 0.889 ≥ 0.8
        assert!((char_overlap("光合作用了", "光合作用") - 8.0 / 9.0).abs() < 1e-12);
        assert_eq!(match_guess("光合作用了", "光合作用"), GuessMatch::Near);
        // 2·2 / (4 + 4) = 0.5
        assert!((char_overlap("呼吸作用", "光合作用") - 0.5).abs() < 1e-12);
        assert_eq!(match_guess("呼吸作用", "光合作用"), GuessMatch::Miss);
        assert_eq!(match_guess("", "光合作用"), GuessMatch::Miss);
    }

    #[test]
    fn mcnemar_and_fisher_match_hand_computed_values() {
        // b = 10, c = 0: 2 · 0.5^10 = 0.001953125
        assert!((mcnemar_exact(10, 0) - 0.001_953_125).abs() < 1e-12);
        // b = 6, c = 2: 2 · (1 + 8 + 28) / 256 = 0.2890625
        assert!((mcnemar_exact(6, 2) - 0.289_062_5).abs() < 1e-12);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        assert_eq!(mcnemar_exact(3, 3), 1.0);
        // 3 of 3 against 0 of 3: C(3,3)·C(3,0)/C(6,3) = 1/20
        assert!((fisher_greater(3, 3, 0, 3) - 0.05).abs() < 1e-12);
        // 2 of 4 against 1 of 4: (C(4,2)C(4,1) + C(4,3)C(4,0)) / C(8,3) = 28/56
        assert!((fisher_greater(2, 4, 1, 4) - 0.5).abs() < 1e-12);
        assert!((fisher_greater(0, 5, 0, 5) - 1.0).abs() < 1e-12);
        // Wilson for 0 of 10: (0, 3.8415 / 13.8415) = (0, 0.27753)
        let (low, high) = wilson(0, 10);
        assert_eq!(low, 0.0);
        assert!((high - 0.277_532).abs() < 1e-5, "{high}");
    }

    fn pair(original: bool, permuted: bool, old: bool) -> OrderPair {
        OrderPair {
            correct_original: original,
            correct_permuted: permuted,
            followed_old_letter: old,
            option_count: 4,
        }
    }

    #[test]
    fn order_figures_and_strengths() {
        // A memoriser: right in the original order, the old letter in the permuted.
        let memoriser = order_figures(&[pair(true, false, true); 12]);
        assert_eq!(memoriser.right_original_only, 12);
        assert!((memoriser.mcnemar_p - 2.0 / 4096.0).abs() < 1e-12);
        assert_eq!(memoriser.old_letter_share, 1.0);
        assert_eq!(memoriser.strength, Strength::Strong);
        // A reasoner: the same answers in both orders.
        let reasoner = order_figures(
            &[
                vec![pair(true, true, false); 9],
                vec![pair(false, false, false); 3],
            ]
            .concat(),
        );
        assert_eq!(reasoner.accuracy_original, 0.75);
        assert_eq!(reasoner.accuracy_permuted, 0.75);
        assert_eq!(reasoner.mcnemar_p, 1.0);
        assert_eq!(reasoner.strength, Strength::None);
        // A fall without the old letter: weak (6 vs 2 discordant is not significant;
        // 10 vs 0 is, but the answers do not follow the old letter).
        let fall = order_figures(&[pair(true, false, false); 10]);
        assert_eq!(fall.strength, Strength::Weak);
        assert_eq!(order_figures(&[]).strength, Strength::None);
    }

    #[test]
    fn guess_figures_and_strengths() {
        let recited = GuessCounts {
            asked: 12,
            exact: 12,
            near: 0,
        };
        let control = GuessCounts {
            asked: 40,
            exact: 0,
            near: 0,
        };
        let figures = guess_figures(recited, control);
        // C(12,12)·C(40,0)/C(52,12) = 1/206379406870
        assert!((figures.fisher_p - 1.0 / 206_379_406_870.0).abs() < 1e-20);
        assert_eq!(figures.strength, Strength::Strong);
        let nothing = guess_figures(
            GuessCounts {
                asked: 12,
                ..GuessCounts::default()
            },
            control,
        );
        assert_eq!(nothing.fisher_p, 1.0);
        assert_eq!(nothing.strength, Strength::None);
    }

    #[test]
    fn guided_completion_splits_prompts_and_sign_test() {
        assert_eq!(
            split_question(" 甲乙丙丁戊 "),
            ("甲乙丙".to_string(), "丁戊".to_string())
        );
        assert_eq!(split_question(""), (String::new(), String::new()));
        let guided = guided_prompt("C-Eval", "val", "甲乙丙");
        assert!(
            guided.ends_with("C-Eval（val）题目前半部分：甲乙丙"),
            "{guided}"
        );
        assert!(!general_prompt("甲乙丙").contains("C-Eval"));
        assert_eq!(read_completion("后半部分：丁戊\n"), "丁戊");
        // 10 items recalled under the guided instruction only: P(X ≥ 10 | 10) = 1/1024.
        let recalled = completion_figures(&[(1.0, 0.2); 10]);
        assert!((recalled.sign_test_p - 1.0 / 1024.0).abs() < 1e-15);
        assert!((recalled.mean_overlap_guided - recalled.mean_overlap_general - 0.8).abs() < 1e-12);
        assert_eq!(recalled.guided_near_exact, 10);
        assert_eq!(recalled.strength, Strength::Strong);
        // 4 higher, 1 lower, 1 tied: P(X ≥ 4 | 5) = 6/32.
        let mixed = completion_figures(&[
            (0.5, 0.4),
            (0.5, 0.4),
            (0.5, 0.4),
            (0.5, 0.4),
            (0.1, 0.4),
            (0.3, 0.3),
        ]);
        assert!((mixed.sign_test_p - 6.0 / 32.0).abs() < 1e-12);
        assert_eq!(mixed.strength, Strength::None);
        assert_eq!(completion_figures(&[(0.2, 0.2); 5]).sign_test_p, 1.0);
    }

    #[test]
    fn the_control_set_has_forty_well_formed_chinese_items() {
        let items = control_items().expect("the control set parses");
        assert!(items.len() >= 40, "{} items", items.len());
        for (index, item) in items.iter().enumerate() {
            assert_eq!(item.id, format!("control-{:03}", index + 1));
            assert!(
                item.question
                    .chars()
                    .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{} is not Chinese",
                item.id
            );
            assert!(!item.subject.is_empty());
            // The hidden option exists and the prompt hides it.
            let hidden = masked_index(&item.id, 4, item.answer).expect("a wrong option");
            assert!(
                !masked_prompt(&item.question, &item.options, hidden).contains(&format!(
                    "{}. {}\n",
                    letter(hidden),
                    item.options[hidden]
                ))
            );
        }
    }
}
