//! Scoring for the item kinds of [`crate::formats`], each as its suite's own evaluation
//! script scores it, so numbers stay comparable with published ones.
//!
//! - Letter answers ([`score_letter_answers`]): GAOKAO-Bench's `OBJ_score_evaluation.py`.
//!   Every (sub-)answer earns its points when its letter set equals the gold set; for
//!   multi-select items (physics) a non-empty subset of the gold set earns half.
//! - Spans ([`span_em`], [`span_f1`]): CMRC2018's evaluation script. Text is lowercased,
//!   its punctuation removed, and split into Chinese characters and non-Chinese words;
//!   F1 comes from the longest common *contiguous* run of tokens, and the best reference
//!   counts.
//! - Numbers ([`numbers_match`], [`score_numeric`]): CMATH's `utils.py`. `12%`, `2/7`,
//!   `0.5` and `12` are read as numbers; two integers must be equal, anything else must
//!   agree within 1% relative difference; a reply is right when one of the last two
//!   numbers in it matches.

use std::collections::BTreeSet;

use crate::formats::{ItemKind, index_of_letter};

/// Points earned out of points possible for one item.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Points {
    pub earned: f64,
    pub possible: f64,
}

/// Reads a letter answer such as `"AC"`, `"A C"` or `"a,c"` into option indices; `None`
/// when it holds anything but letters and separators.
pub fn parse_letter_answer(text: &str) -> Option<BTreeSet<usize>> {
    let mut letters = BTreeSet::new();
    for c in text.chars() {
        if c.is_whitespace() || matches!(c, ',' | '，' | '、') {
            continue;
        }
        letters.insert(index_of_letter(c).filter(|_| c.is_ascii_alphabetic())?);
    }
    Some(letters)
}

/// Scores predicted letter sets against gold ones, `points_per_answer` each.
///
/// A prediction list of another length than the gold list earns nothing, as in
/// GAOKAO-Bench (it replaces such predictions with `Z`). With `partial_credit`, a
/// non-empty prediction that is a strict subset of the gold set earns half its points
/// ("选对但不全得一半分"). GAOKAO-Bench's script also gives half to an *empty* prediction,
/// because its subset test loops over no letters; a blank answer earns nothing here.
pub fn score_letter_answers(
    gold: &[BTreeSet<usize>],
    predicted: &[BTreeSet<usize>],
    points_per_answer: f64,
    partial_credit: bool,
) -> Points {
    let possible = gold.len() as f64 * points_per_answer;
    if gold.len() != predicted.len() {
        return Points {
            earned: 0.0,
            possible,
        };
    }
    let earned = gold
        .iter()
        .zip(predicted)
        .map(|(gold, predicted)| {
            if gold == predicted {
                points_per_answer
            } else if partial_credit && !predicted.is_empty() && predicted.is_subset(gold) {
                points_per_answer / 2.0
            } else {
                0.0
            }
        })
        .sum();
    Points { earned, possible }
}

/// Scores the letter sets predicted for a choice item, with the item's own rule: one
/// set for single and multi-choice items (partial credit for multi-choice), one set per
/// sub-question for multi-question items. `None` for items that are not choice items,
/// and for withheld items, which have no gold to score against.
pub fn score_choice_item(
    kind: &ItemKind,
    predicted: &[BTreeSet<usize>],
    points_per_answer: f64,
) -> Option<Points> {
    match kind {
        ItemKind::SingleChoice { answer, .. } => Some(score_letter_answers(
            &[BTreeSet::from([*answer])],
            predicted,
            points_per_answer,
            false,
        )),
        ItemKind::MultiChoice { answers, .. } => Some(score_letter_answers(
            std::slice::from_ref(answers),
            predicted,
            points_per_answer,
            true,
        )),
        ItemKind::MultiQuestion { answers, .. } => Some(score_letter_answers(
            answers,
            predicted,
            points_per_answer,
            false,
        )),
        ItemKind::Span { .. }
        | ItemKind::Numeric { .. }
        | ItemKind::FreeText { .. }
        | ItemKind::Withheld { .. } => None,
    }
}

/// Punctuation CMRC2018's script removes before comparing. Its list also names `……`,
/// which can never match a single character, so a lone `…` is kept, as there.
const SPAN_PUNCTUATION: &[char] = &[
    '-', ':', '_', '*', '^', '/', '\\', '~', '`', '+', '=', '，', '。', '：', '？', '！', '“', '”',
    '；', '’', '《', '》', '·', '、', '「', '」', '（', '）', '－', '～', '『', '』',
];

fn is_cjk(c: char) -> bool {
    ('\u{4e00}'..='\u{9fa5}').contains(&c)
}

/// Lowercased, trimmed, without [`SPAN_PUNCTUATION`].
fn remove_punctuation(text: &str) -> String {
    text.trim()
        .to_lowercase()
        .chars()
        .filter(|c| !SPAN_PUNCTUATION.contains(c))
        .collect()
}

/// CMRC2018's mixed segmentation: each Chinese character is a token; other text is split
/// into words. The script splits non-Chinese runs with NLTK's word tokenizer; here a word
/// is a run of letters and digits (with `.` or `,` inside a number), and every other
/// visible character is a token of its own, which agrees with NLTK on the short spans
/// CMRC2018 answers are.
fn segment(text: &str) -> Vec<String> {
    let chars: Vec<char> = remove_punctuation(text).chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        if c.is_whitespace() {
            index += 1;
        } else if is_cjk(c) || !c.is_alphanumeric() {
            tokens.push(c.to_string());
            index += 1;
        } else {
            let start = index;
            while index < chars.len() {
                let c = chars[index];
                let inside_number = matches!(c, '.' | ',')
                    && index > start
                    && chars[index - 1].is_ascii_digit()
                    && chars.get(index + 1).is_some_and(char::is_ascii_digit);
                if (c.is_alphanumeric() && !is_cjk(c)) || inside_number {
                    index += 1;
                } else {
                    break;
                }
            }
            tokens.push(chars[start..index].iter().collect());
        }
    }
    tokens
}

/// Length of the longest common contiguous run of tokens.
fn longest_common_run(left: &[String], right: &[String]) -> usize {
    let mut previous = vec![0usize; right.len() + 1];
    let mut best = 0;
    for left_token in left {
        let mut current = vec![0usize; right.len() + 1];
        for (j, right_token) in right.iter().enumerate() {
            if left_token == right_token {
                current[j + 1] = previous[j] + 1;
                best = best.max(current[j + 1]);
            }
        }
        previous = current;
    }
    best
}

/// CMRC2018 exact match: the prediction equals some reference once both are lowercased
/// and stripped of punctuation.
pub fn span_em(prediction: &str, answers: &[String]) -> bool {
    let prediction = remove_punctuation(prediction);
    answers
        .iter()
        .any(|answer| remove_punctuation(answer) == prediction)
}

/// CMRC2018 F1 in `[0, 1]`: the best over references of the F1 of the longest common
/// contiguous token run; `0` when there are no references.
pub fn span_f1(prediction: &str, answers: &[String]) -> f64 {
    let prediction_tokens = segment(prediction);
    answers
        .iter()
        .map(|answer| {
            let answer_tokens = segment(answer);
            let common = longest_common_run(&answer_tokens, &prediction_tokens);
            if common == 0 {
                return 0.0;
            }
            let precision = common as f64 / prediction_tokens.len() as f64;
            let recall = common as f64 / answer_tokens.len() as f64;
            2.0 * precision * recall / (precision + recall)
        })
        .fold(0.0, f64::max)
}

/// A number as CMATH reads it: integers stay integers, so that two of them must match
/// exactly; fractions, decimals and percentages are floats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    pub fn value(self) -> f64 {
        match self {
            Number::Int(value) => value as f64,
            Number::Float(value) => value,
        }
    }
}

/// Reads `12`, `0.5`, `2/7` or `12%` (surrounding spaces allowed); `None` otherwise. A
/// zero denominator is `None` (CMATH's script reads it as `0` with a warning).
pub fn parse_number(text: &str) -> Option<Number> {
    let text = text.trim();
    if let Some(percent) = text.strip_suffix('%') {
        return parse_decimal(percent).map(|value| Number::Float(value / 100.0));
    }
    if let Some((numerator, denominator)) = text.split_once('/') {
        let numerator = parse_decimal(numerator)?;
        let denominator = parse_decimal(denominator)?;
        return (denominator != 0.0).then(|| Number::Float(numerator / denominator));
    }
    if text.contains('.') {
        return parse_decimal(text).map(Number::Float);
    }
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
        return Some(
            text.parse()
                .map(Number::Int)
                .unwrap_or_else(|_| Number::Float(text.parse().unwrap_or(f64::INFINITY))),
        );
    }
    None
}

/// Digits with at most one decimal point, nothing else (no sign, exponent or `inf`).
fn parse_decimal(text: &str) -> Option<f64> {
    let text = text.trim();
    let valid = !text.is_empty()
        && text.chars().any(|c| c.is_ascii_digit())
        && text.chars().all(|c| c.is_ascii_digit() || c == '.')
        && text.matches('.').count() <= 1;
    valid.then(|| text.parse().ok()).flatten()
}

/// CMATH's comparison: two integers must be equal; otherwise the relative difference,
/// against the smaller magnitude, must be under 1%.
pub fn numbers_match(golden: Number, predicted: Number) -> bool {
    match (golden, predicted) {
        (Number::Int(golden), Number::Int(predicted)) => golden == predicted,
        _ => {
            let (golden, predicted) = (golden.value(), predicted.value());
            (golden - predicted).abs() / (golden.abs().min(predicted.abs()) + 1e-6) < 1e-2
        }
    }
}

/// The numbers a reply gives, in order: `\frac{a}{b}` and `b分之a` are read as `a/b`,
/// and digit-group separators (`1,000`, `1 000`) are dropped. Signs are ignored, as in
/// CMATH. CMATH also requires a number to stand next to Chinese text or `=`; this reads
/// every number, which only differs on replies that use digits inside Latin words.
pub fn numbers_in(response: &str) -> Vec<String> {
    let text = rewrite_fractions(response);
    let chars: Vec<char> = text.chars().collect();
    let mut numbers = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        if !chars[index].is_ascii_digit() {
            index += 1;
            continue;
        }
        let mut number = String::new();
        let mut separator_seen = false;
        while index < chars.len() {
            let c = chars[index];
            let next_is_digit = chars.get(index + 1).is_some_and(char::is_ascii_digit);
            if c.is_ascii_digit() {
                number.push(c);
            } else if matches!(c, ',' | ' ') && next_is_digit && !separator_seen {
                // A digit-group separator; dropped, as CMATH's normalisation does.
            } else if matches!(c, '.' | '/') && next_is_digit && !separator_seen {
                separator_seen = true;
                number.push(c);
            } else {
                break;
            }
            index += 1;
        }
        if chars.get(index) == Some(&'%') {
            number.push('%');
            index += 1;
        }
        numbers.push(number);
    }
    numbers
}

/// `\frac{a}{b}` → `a/b`, `b分之a` → `a/b`.
fn rewrite_fractions(text: &str) -> String {
    let mut text = text.to_string();
    while let Some(start) = text.find("\\frac{") {
        let rest = &text[start + "\\frac{".len()..];
        let Some((numerator, after)) = rest.split_once("}{") else {
            break;
        };
        let Some((denominator, tail)) = after.split_once('}') else {
            break;
        };
        text = format!("{}{numerator}/{denominator}{tail}", &text[..start]);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut index = 0;
    while index < chars.len() {
        // `b分之a`: digits, 分之, digits.
        let digits_end = (index..chars.len())
            .find(|&i| !chars[i].is_ascii_digit())
            .unwrap_or(chars.len());
        let rewritten = digits_end > index
            && chars.get(digits_end) == Some(&'分')
            && chars.get(digits_end + 1) == Some(&'之')
            && chars.get(digits_end + 2).is_some_and(char::is_ascii_digit);
        if rewritten && (index == 0 || !chars[index - 1].is_ascii_digit()) {
            let numerator_start = digits_end + 2;
            let numerator_end = (numerator_start..chars.len())
                .find(|&i| !chars[i].is_ascii_digit())
                .unwrap_or(chars.len());
            let denominator: String = chars[index..digits_end].iter().collect();
            let numerator: String = chars[numerator_start..numerator_end].iter().collect();
            out.push_str(&format!("{numerator}/{denominator}"));
            index = numerator_end;
        } else {
            out.push(chars[index]);
            index += 1;
        }
    }
    out
}

/// CMATH scoring of one reply: right when one of the last two numbers in it matches the
/// golden answer. `None` when `golden` is not a number CMATH can read.
pub fn score_numeric(response: &str, golden: &str) -> Option<bool> {
    let golden = parse_number(golden)?;
    let numbers = numbers_in(response);
    let last_two = &numbers[numbers.len().saturating_sub(2)..];
    Some(
        last_two
            .iter()
            .filter_map(|number| parse_number(number))
            .any(|number| numbers_match(golden, number)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(letters: &str) -> BTreeSet<usize> {
        parse_letter_answer(letters).expect("letters")
    }

    #[test]
    fn multi_select_earns_half_for_a_correct_subset() {
        let gold = [set("AC")];
        let score =
            |predicted: &str| score_letter_answers(&gold, &[set(predicted)], 6.0, true).earned;
        assert_eq!(score("AC"), 6.0);
        assert_eq!(score("CA"), 6.0);
        assert_eq!(score("A"), 3.0);
        assert_eq!(score("AB"), 0.0);
        assert_eq!(score("ABC"), 0.0);
        assert_eq!(score(""), 0.0);
        let without_partial = score_letter_answers(&gold, &[set("A")], 6.0, false);
        assert_eq!(
            without_partial,
            Points {
                earned: 0.0,
                possible: 6.0
            }
        );
    }

    #[test]
    fn sub_questions_score_separately_and_length_mismatch_scores_nothing() {
        let gold = [set("B"), set("C"), set("A")];
        let points = score_letter_answers(&gold, &[set("B"), set("D"), set("A")], 2.0, false);
        assert_eq!(
            points,
            Points {
                earned: 4.0,
                possible: 6.0
            }
        );
        let short = score_letter_answers(&gold, &[set("B"), set("C")], 2.0, false);
        assert_eq!(
            short,
            Points {
                earned: 0.0,
                possible: 6.0
            }
        );
    }

    #[test]
    fn choice_items_use_their_own_rule() {
        use crate::formats::Options;
        let options = Options::InQuestion { count: 4 };
        let multi = ItemKind::MultiChoice {
            options: options.clone(),
            answers: set("AD"),
        };
        assert_eq!(
            score_choice_item(&multi, &[set("D")], 6.0),
            Some(Points {
                earned: 3.0,
                possible: 6.0
            })
        );
        let single = ItemKind::SingleChoice { options, answer: 1 };
        assert_eq!(
            score_choice_item(&single, &[set("B")], 1.0),
            Some(Points {
                earned: 1.0,
                possible: 1.0
            })
        );
        let span = ItemKind::Span { answers: vec![] };
        assert_eq!(score_choice_item(&span, &[], 1.0), None);
        assert_eq!(parse_letter_answer("A、C"), Some(set("AC")));
        assert_eq!(parse_letter_answer("A1"), None);
    }

    #[test]
    fn span_scores_follow_cmrc2018() {
        let answers = vec!["北京大学".to_string(), "北大".to_string()];
        assert!(span_em("北京大学。", &answers));
        assert!(span_em(" 《北大》", &answers));
        assert!(!span_em("北京", &answers));
        assert_eq!(span_f1("北京大学", &answers), 1.0);
        // 北京 against 北京大学: precision 1, recall 1/2.
        assert!((span_f1("北京", &answers) - 2.0 / 3.0).abs() < 1e-9);
        // Longest common *contiguous* run: 北京 (2 of 4), not 北京学 (3).
        assert!((span_f1("北京的学", &answers[..1]) - 0.5).abs() < 1e-9);
        assert_eq!(span_f1("上海", &answers), 0.0);
        assert_eq!(span_f1("北京", &[]), 0.0);
        // English words are single tokens, numbers keep their decimal point.
        assert_eq!(
            segment("Apple公司 3.5 亿"),
            ["apple", "公", "司", "3.5", "亿"]
        );
        assert!((span_f1("apple inc", &["Apple".to_string()]) - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn numbers_match_like_cmath() {
        let n = |text: &str| parse_number(text).expect("a number");
        assert_eq!(n("12"), Number::Int(12));
        assert_eq!(n("12%"), Number::Float(0.12));
        assert!(numbers_match(n("2/6"), n("1/3")));
        assert!(numbers_match(n("0.333"), n("1/3")));
        assert!(!numbers_match(n("0.32"), n("1/3")));
        assert!(numbers_match(n("5"), n("5.0")));
        assert!(!numbers_match(n("5"), n("6")));
        assert_eq!(parse_number("1/0"), None);
        assert_eq!(parse_number("abc"), None);
        assert_eq!(parse_number("-3"), None);
    }

    #[test]
    fn numeric_replies_are_read_from_their_last_two_numbers() {
        assert_eq!(
            score_numeric("小明有3个苹果，又买了5个，一共8个。", "8"),
            Some(true)
        );
        assert_eq!(score_numeric("答案是8，验算：3+5=8", "8"), Some(true));
        assert_eq!(
            score_numeric("一共8个。其中3个红的，5个绿的。", "8"),
            Some(false)
        );
        assert_eq!(score_numeric("结果是\\frac{1}{3}", "2/6"), Some(true));
        assert_eq!(score_numeric("占三分之一，即3分之1", "1/3"), Some(true));
        assert_eq!(score_numeric("总价是1,200元", "1200"), Some(true));
        assert_eq!(score_numeric("答案：12%", "0.12"), Some(true));
        assert_eq!(score_numeric("我不会", "3"), Some(false));
        assert_eq!(score_numeric("3", "三"), None);
        assert_eq!(numbers_in("3.5元和2/7，以及5."), ["3.5", "2/7", "5"]);
    }
}
