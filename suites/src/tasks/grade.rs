//! Grading of replies to the items of [`crate::formats`] that are not plain single-letter
//! choices: letter sets (GAOKAO-Bench multi-select), several sub-answers (GAOKAO-Bench
//! reading and cloze, seven-choose-five), spans (CMRC2018), numbers (CMATH), short free
//! answers (Chinese SimpleQA, AGIEval cloze) and label names (FewCLUE tasks with more
//! labels than letters).
//!
//! Every grade has an outcome, as for multiple choice, and a *credit* in `[0, 1]`, the
//! share of the item's points earned: partial credit for a correct subset of a
//! multi-select answer, the share of right sub-answers, the span F1. The outcome is
//! `correct` only with full credit (for spans: an exact match). Credit is a function of
//! the stored extraction and gold ([`credit_of`]), so reports recompute it from what is
//! stored and `jianzhen rescore` needs nothing else.
//!
//! The kinds travel as strings (`eval:multi_choice`, ...) in the plan and the store, with
//! the gold encoded as described on [`AnswerKind`].

use std::collections::BTreeSet;

use crate::extract::{Extraction, extract_choice};
use crate::formats::score::{
    numbers_in, numbers_match, parse_letter_answer, parse_number, score_letter_answers, span_em,
    span_f1,
};
use crate::formats::{index_of_letter, letter};
use crate::outcome::Outcome;

/// How an item's reply is graded, and how its gold answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnswerKind {
    /// One letter; gold is the letter (`"B"`). Graded by the multiple-choice cascade.
    Choice,
    /// A set of letters with half credit for a correct subset; gold is the letters
    /// (`"AC"`).
    MultiChoice,
    /// One letter set per sub-question, no partial credit; gold is a JSON list of letter
    /// sets (`["B","AC"]`).
    MultiQuestion,
    /// A span of the passage; gold is a JSON list of references. Credit is CMRC2018's F1.
    Span,
    /// A number; gold is the number as published (`"2/7"`).
    Numeric,
    /// A short answer; gold is a JSON list of references.
    FreeText,
    /// One label name among many (more than 26, so letters do not work); gold is the
    /// label, the options are the label names.
    Label,
}

impl AnswerKind {
    pub const ALL: [AnswerKind; 7] = [
        AnswerKind::Choice,
        AnswerKind::MultiChoice,
        AnswerKind::MultiQuestion,
        AnswerKind::Span,
        AnswerKind::Numeric,
        AnswerKind::FreeText,
        AnswerKind::Label,
    ];

    /// The item kind stored with each planned item.
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerKind::Choice => "choice",
            AnswerKind::MultiChoice => "eval:multi_choice",
            AnswerKind::MultiQuestion => "eval:multi_question",
            AnswerKind::Span => "eval:span",
            AnswerKind::Numeric => "eval:numeric",
            AnswerKind::FreeText => "eval:free_text",
            AnswerKind::Label => "eval:label",
        }
    }

    /// The kind named `text`; `None` for kinds graded elsewhere (probes, first token).
    pub fn from_kind(text: &str) -> Option<AnswerKind> {
        AnswerKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// What a reply amounts to.
#[derive(Debug, Clone, PartialEq)]
pub struct Grade {
    /// What was read from the reply, in the form [`credit_of`] reads back: letters
    /// (`"AC"`), sub-answers joined by `,` (`"B,AC"`), the span, the number, the answer
    /// text, the label.
    pub extracted: Option<String>,
    pub outcome: Outcome,
    /// Share of the item's points earned, in `[0, 1]`.
    pub credit: f64,
}

impl Grade {
    fn unread(outcome: Outcome) -> Grade {
        Grade {
            extracted: None,
            outcome,
            credit: 0.0,
        }
    }
}

/// Grades a finished reply (not truncated, not an API error: the caller tells those
/// apart first, as they are not visible in the text).
///
/// `options` are the option texts (empty strings where the options are written inside
/// the question). A reply that declines and gives no answer is `refused`; one from
/// which nothing can be read is `unextractable`.
pub fn grade_reply(kind: AnswerKind, gold: &str, options: &[String], reply: &str) -> Grade {
    // The text after the last `</think>`. A reasoning block that never closes holds no
    // answer, as for multiple choice: reading it whole would grade the numbers and
    // phrases the model was still weighing (CMATH takes the last number).
    let Some(answer_text) = crate::extract::strip_reasoning(reply) else {
        return Grade::unread(Outcome::Unextractable);
    };
    let extracted = match kind {
        AnswerKind::Choice => match extract_choice(answer_text, options.len().max(1)) {
            Extraction::Choice(letter) => Some(letter.to_string()),
            Extraction::Unextractable => None,
        },
        AnswerKind::MultiChoice => read_letter_set(answer_text, options.len().max(1)),
        AnswerKind::MultiQuestion => {
            let expected = gold_letter_sets(gold).map_or(1, |sets| sets.len());
            read_sub_answers(answer_text, expected, options.len().max(1))
        }
        AnswerKind::Span | AnswerKind::FreeText => read_short_answer(answer_text),
        AnswerKind::Numeric => numbers_in(answer_text).last().cloned(),
        AnswerKind::Label => read_label(answer_text, options),
    };
    let Some(extracted) = extracted else {
        if crate::extract::is_refusal(reply) {
            return Grade::unread(Outcome::Refused);
        }
        return Grade::unread(Outcome::Unextractable);
    };
    // Numeric: CMATH accepts either of the last two numbers of the reply.
    let extracted = if kind == AnswerKind::Numeric {
        numeric_pick(answer_text, gold).unwrap_or(extracted)
    } else {
        extracted
    };
    let credit = credit_of(kind, gold, &extracted);
    if full_credit(kind, gold, &extracted) {
        return Grade {
            extracted: Some(extracted),
            outcome: Outcome::Correct,
            credit,
        };
    }
    // A reply that declines ("抱歉，我无法回答") is read as text by the short-answer
    // kinds; it is a refusal, not a wrong answer.
    if crate::extract::is_refusal(reply) {
        return Grade::unread(Outcome::Refused);
    }
    let outcome = Outcome::Wrong;
    Grade {
        extracted: Some(extracted),
        outcome,
        credit,
    }
}

/// Reads a finished reply to an item whose gold the benchmark withholds (a hidden test
/// split): the prediction (an option letter for [`AnswerKind::Choice`], a label name for
/// [`AnswerKind::Label`]) as [`grade_reply`] would read it, or why there is none
/// (`refused`, `unextractable`). Truncation and API errors are the caller's to tell
/// apart first, as for [`grade_reply`].
///
/// # Errors
/// The outcome of a reply without a prediction; also for a kind that is not read as
/// one option ([`AnswerKind::Choice`], [`AnswerKind::Label`]), which has no prediction
/// format here.
pub fn read_prediction(
    kind: AnswerKind,
    options: &[String],
    reply: &str,
) -> Result<String, Outcome> {
    match kind {
        AnswerKind::Choice => match crate::outcome::classify_choice(reply, options) {
            (Extraction::Choice(letter), None) => Ok(letter.to_string()),
            (_, Some(outcome)) => Err(outcome),
            (Extraction::Unextractable, None) => Err(Outcome::Unextractable),
        },
        AnswerKind::Label => {
            let Some(answer_text) = crate::extract::strip_reasoning(reply) else {
                return Err(Outcome::Unextractable);
            };
            // A reply that declines may still name a label in passing ("无法判断是否属于
            // 射击游戏"); as in grading, it is a refusal.
            if crate::extract::is_refusal(reply) {
                return Err(Outcome::Refused);
            }
            read_label(answer_text, options).ok_or(Outcome::Unextractable)
        }
        _ => Err(Outcome::Unextractable),
    }
}

/// The credit of an extracted answer against the gold, as [`grade_reply`] gives it; `0`
/// for an answer that cannot be read back.
pub fn credit_of(kind: AnswerKind, gold: &str, extracted: &str) -> f64 {
    match kind {
        AnswerKind::Choice | AnswerKind::Numeric | AnswerKind::FreeText | AnswerKind::Label => {
            if full_credit(kind, gold, extracted) {
                1.0
            } else {
                0.0
            }
        }
        AnswerKind::MultiChoice => {
            let (Some(gold), Some(predicted)) =
                (parse_letter_answer(gold), parse_letter_answer(extracted))
            else {
                return 0.0;
            };
            share(score_letter_answers(&[gold], &[predicted], 1.0, true))
        }
        AnswerKind::MultiQuestion => {
            let Some(gold) = gold_letter_sets(gold) else {
                return 0.0;
            };
            let predicted: Option<Vec<BTreeSet<usize>>> =
                extracted.split(',').map(parse_letter_answer).collect();
            let Some(predicted) = predicted else {
                return 0.0;
            };
            share(score_letter_answers(&gold, &predicted, 1.0, false))
        }
        AnswerKind::Span => span_f1(extracted, &references(gold)),
    }
}

fn share(points: crate::formats::score::Points) -> f64 {
    if points.possible <= 0.0 {
        return 0.0;
    }
    points.earned / points.possible
}

fn full_credit(kind: AnswerKind, gold: &str, extracted: &str) -> bool {
    match kind {
        AnswerKind::Choice => gold.trim().eq_ignore_ascii_case(extracted.trim()),
        AnswerKind::MultiChoice | AnswerKind::MultiQuestion => {
            (credit_of(kind, gold, extracted) - 1.0).abs() < 1e-9
        }
        AnswerKind::Span => span_em(extracted, &references(gold)),
        AnswerKind::Numeric => match (parse_number(gold), parse_number(extracted)) {
            (Some(gold), Some(predicted)) => numbers_match(gold, predicted),
            _ => false,
        },
        AnswerKind::FreeText => {
            let answer = normalize_free_text(extracted);
            !answer.is_empty()
                && references(gold).iter().any(|reference| {
                    let reference = normalize_free_text(reference);
                    !reference.is_empty() && answer.contains(&reference)
                })
        }
        AnswerKind::Label => extracted == gold,
    }
}

/// The gold references of a span or free-text item: a JSON list, or one plain answer.
pub fn references(gold: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(gold).unwrap_or_else(|_| vec![gold.to_string()])
}

/// The gold letter sets of a multi-question item (`["B","AC"]`).
fn gold_letter_sets(gold: &str) -> Option<Vec<BTreeSet<usize>>> {
    let sets: Vec<String> = serde_json::from_str(gold).ok()?;
    sets.iter().map(|set| parse_letter_answer(set)).collect()
}

/// Writes letter sets as [`AnswerKind::MultiQuestion`] gold.
pub fn encode_letter_sets(sets: &[BTreeSet<usize>]) -> String {
    let texts: Vec<String> = sets.iter().map(letters_of).collect();
    serde_json::Value::from(texts).to_string()
}

/// `{0, 2}` → `"AC"`.
pub fn letters_of(set: &BTreeSet<usize>) -> String {
    set.iter().filter_map(|index| letter(*index)).collect()
}

/// Markers after which replies give their final answer, most specific first.
const ANSWER_MARKERS: [&str; 8] = [
    "【答案】",
    "正确答案是",
    "正确答案为",
    "答案是",
    "答案为",
    "答案：",
    "答案:",
    "Answer:",
];

/// The text after the last answer marker, if any.
fn after_last_marker(text: &str) -> Option<&str> {
    ANSWER_MARKERS
        .iter()
        .filter_map(|marker| text.rfind(marker).map(|at| (at, marker.len())))
        .max_by_key(|(at, _)| *at)
        .map(|(at, length)| &text[at + length..])
}

fn is_letter_in_range(c: char, option_count: usize) -> bool {
    c.is_ascii_uppercase() && index_of_letter(c).is_some_and(|index| index < option_count)
}

/// Option letters standing alone: runs of uppercase letters that are all options
/// (`A`, `AC`, `A、C`), not letters inside words (`The`, `DNA` when D is past the
/// options).
fn standalone_letters(text: &str, option_count: usize) -> Vec<char> {
    let mut letters = Vec::new();
    let mut run: Vec<char> = Vec::new();
    let flush = |run: &mut Vec<char>, letters: &mut Vec<char>| {
        if !run.is_empty()
            && run.len() <= option_count
            && run.iter().all(|c| is_letter_in_range(*c, option_count))
        {
            letters.extend(run.iter().copied());
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphabetic() {
            run.push(c);
        } else {
            flush(&mut run, &mut letters);
        }
    }
    flush(&mut run, &mut letters);
    letters
}

/// A multi-select answer: the letters after the last answer marker (`【答案】AC`,
/// `答案是A、C`), or, without a marker, the letters of the last line that has any.
/// GAOKAO-Bench reads the letters after `【答案】` the same way, falling back to the last
/// ten characters.
fn read_letter_set(text: &str, option_count: usize) -> Option<String> {
    let region = after_last_marker(text)
        .map(|rest| {
            rest.lines()
                .find(|line| !line.trim().is_empty())
                .unwrap_or("")
        })
        .filter(|line| !standalone_letters(line, option_count).is_empty())
        .or_else(|| {
            text.lines()
                .rev()
                .find(|line| !standalone_letters(line, option_count).is_empty())
        })?;
    let letters: BTreeSet<char> = standalone_letters(region, option_count)
        .into_iter()
        .collect();
    (!letters.is_empty()).then(|| letters.into_iter().collect())
}

/// One letter set per sub-question: the letters after each `【答案】` when there are as
/// many markers as sub-questions (GAOKAO-Bench's own rule), else the first `expected`
/// standalone letters of the reply in order. `None` when the reply gives no letter.
fn read_sub_answers(text: &str, expected: usize, option_count: usize) -> Option<String> {
    let marked: Vec<char> = text
        .split("【答案】")
        .skip(1)
        .filter_map(|part| {
            standalone_letters(part.trim_start_matches([':', '：', ' ']), option_count)
                .first()
                .copied()
        })
        .collect();
    let letters = if marked.len() == expected {
        marked
    } else {
        standalone_letters(after_last_marker_or_all(text), option_count)
    };
    if letters.is_empty() {
        return None;
    }
    // Fewer answers than sub-questions read as given; like GAOKAO-Bench (which replaces
    // such a list with `Z`s), they earn nothing, but they are answers, not unreadable.
    let picked: Vec<String> = letters[..expected.min(letters.len())]
        .iter()
        .map(char::to_string)
        .collect();
    Some(picked.join(","))
}

/// For sub-answers listed after one marker (`答案：A B C`), the text after the first
/// marker; otherwise the whole reply.
fn after_last_marker_or_all(text: &str) -> &str {
    ANSWER_MARKERS
        .iter()
        .filter_map(|marker| text.find(marker).map(|at| (at, marker.len())))
        .min_by_key(|(at, _)| *at)
        .map_or(text, |(at, length)| &text[at + length..])
}

/// A short answer: after the last answer marker (`答案是：…`), else the first non-empty
/// line; trimmed of surrounding space, quotes, brackets and a closing full stop.
/// CMRC2018's OpenCompass post-processing likewise keeps what follows `答案是`.
fn read_short_answer(text: &str) -> Option<String> {
    let region = after_last_marker(text).unwrap_or(text);
    let line = region
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())?;
    let trimmed = line
        .trim_start_matches([':', '：', ' ', '“', '"', '「', '《', '\''])
        .trim_end_matches(['。', '.', ' ', '”', '"', '」', '》', '\'', '；', ';'])
        .trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// Lowercased, without whitespace and punctuation, for comparing short answers.
fn normalize_free_text(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// The label the reply names: the label found after an answer marker, else the label
/// that occurs in the reply. When several occur, the longest wins (`数学` vs
/// `应用数学`); ties go to the one named first.
fn read_label(text: &str, labels: &[String]) -> Option<String> {
    let region = after_last_marker(text).unwrap_or(text);
    let find_in = |region: &str| {
        labels
            .iter()
            .filter(|label| !label.is_empty())
            .filter_map(|label| region.find(label.as_str()).map(|at| (label, at)))
            .max_by(|(a, at_a), (b, at_b)| {
                a.chars()
                    .count()
                    .cmp(&b.chars().count())
                    .then(at_b.cmp(at_a))
            })
            .map(|(label, _)| label.clone())
    };
    find_in(region).or_else(|| find_in(text))
}

/// CMATH: of the last two numbers in the reply, the one that matches the gold (so the
/// stored extraction reads back as correct), else the last.
fn numeric_pick(text: &str, gold: &str) -> Option<String> {
    let golden = parse_number(gold)?;
    let numbers = numbers_in(text);
    let last_two = &numbers[numbers.len().saturating_sub(2)..];
    last_two
        .iter()
        .find(|number| parse_number(number).is_some_and(|value| numbers_match(golden, value)))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blanks(count: usize) -> Vec<String> {
        vec![String::new(); count]
    }

    #[test]
    fn predictions_are_read_as_grading_reads_them_and_say_why_when_absent() {
        let labels: Vec<String> = ["射击游戏", "射击", "小说"].map(String::from).to_vec();
        // The longest label named wins, as in grading.
        assert_eq!(
            read_prediction(AnswerKind::Label, &labels, "这是一款射击游戏。"),
            Ok("射击游戏".to_string())
        );
        assert_eq!(
            read_prediction(AnswerKind::Label, &labels, "抱歉，我无法回答这个问题。"),
            Err(Outcome::Refused)
        );
        assert_eq!(
            read_prediction(AnswerKind::Label, &labels, "<think>像是射击游戏"),
            Err(Outcome::Unextractable)
        );
        assert_eq!(
            read_prediction(AnswerKind::Label, &labels, "工具类"),
            Err(Outcome::Unextractable)
        );
        let options = ["蕴含", "矛盾", "无关"].map(String::from).to_vec();
        assert_eq!(
            read_prediction(AnswerKind::Choice, &options, "答案是B"),
            Ok("B".to_string())
        );
        assert_eq!(
            read_prediction(AnswerKind::Choice, &options, "我不确定。"),
            Err(Outcome::Unextractable)
        );
        assert_eq!(
            read_prediction(AnswerKind::Span, &[], "答案是北京"),
            Err(Outcome::Unextractable)
        );
    }

    #[test]
    fn multi_select_earns_half_for_a_correct_subset() {
        let grade = grade_reply(
            AnswerKind::MultiChoice,
            "AC",
            &blanks(4),
            "【答案】AC <eoa>",
        );
        assert_eq!((grade.outcome, grade.credit), (Outcome::Correct, 1.0));
        let grade = grade_reply(AnswerKind::MultiChoice, "AC", &blanks(4), "答案是A");
        assert_eq!(grade.extracted.as_deref(), Some("A"));
        assert_eq!((grade.outcome, grade.credit), (Outcome::Wrong, 0.5));
        let grade = grade_reply(AnswerKind::MultiChoice, "AC", &blanks(4), "答案：A、B、C");
        assert_eq!(grade.extracted.as_deref(), Some("ABC"));
        assert_eq!(grade.credit, 0.0);
        let grade = grade_reply(AnswerKind::MultiChoice, "AC", &blanks(4), "我不知道");
        assert_eq!(grade.outcome, Outcome::Unextractable);
    }

    #[test]
    fn sub_answers_are_read_per_marker_or_in_order() {
        let gold = encode_letter_sets(&[BTreeSet::from([1]), BTreeSet::from([2])]);
        assert_eq!(gold, r#"["B","C"]"#);
        let grade = grade_reply(
            AnswerKind::MultiQuestion,
            &gold,
            &blanks(4),
            "（1）【答案】B <eoa>\n（2）【答案】D <eoa>",
        );
        assert_eq!(grade.extracted.as_deref(), Some("B,D"));
        assert_eq!((grade.outcome, grade.credit), (Outcome::Wrong, 0.5));
        let grade = grade_reply(AnswerKind::MultiQuestion, &gold, &blanks(4), "答案：B C");
        assert_eq!((grade.outcome, grade.credit), (Outcome::Correct, 1.0));
        let grade = grade_reply(
            AnswerKind::MultiQuestion,
            &gold,
            &blanks(4),
            "【答案】B <eoa>",
        );
        assert_eq!(
            (grade.outcome, grade.credit, grade.extracted.as_deref()),
            (Outcome::Wrong, 0.0, Some("B")),
            "one answer for two earns nothing, as in GAOKAO-Bench"
        );
        let grade = grade_reply(AnswerKind::MultiQuestion, &gold, &blanks(4), "略");
        assert_eq!(grade.outcome, Outcome::Unextractable);
    }

    #[test]
    fn spans_score_f1_and_exact_match() {
        let gold = r#"["1927年","1927"]"#;
        let grade = grade_reply(AnswerKind::Span, gold, &[], "答案是1927年。");
        assert_eq!((grade.outcome, grade.credit), (Outcome::Correct, 1.0));
        let grade = grade_reply(AnswerKind::Span, r#"["北京大学"]"#, &[], "答案是北京");
        assert_eq!(grade.outcome, Outcome::Wrong);
        assert!(
            (grade.credit - 2.0 * 0.5 * 1.0 / 1.5).abs() < 1e-9,
            "{}",
            grade.credit
        );
    }

    #[test]
    fn numbers_match_either_of_the_last_two() {
        let grade = grade_reply(AnswerKind::Numeric, "12", &[], "3×4=12，所以答案是12个。");
        assert_eq!((grade.outcome, grade.credit), (Outcome::Correct, 1.0));
        let grade = grade_reply(AnswerKind::Numeric, "0.5", &[], "答案是1/2，即50%");
        assert_eq!(grade.outcome, Outcome::Correct);
        let grade = grade_reply(AnswerKind::Numeric, "7", &[], "答案是8");
        assert_eq!(
            (grade.outcome, grade.extracted.as_deref()),
            (Outcome::Wrong, Some("8"))
        );
        let grade = grade_reply(AnswerKind::Numeric, "7", &[], "我不会");
        assert_eq!(grade.outcome, Outcome::Unextractable);
    }

    #[test]
    fn reasoning_is_skipped_and_an_unclosed_block_holds_no_answer() {
        let closed = "<think>12个苹果减去5个是7，再加3……不对，应该是8</think>答案是7";
        let grade = grade_reply(AnswerKind::Numeric, "7", &[], closed);
        assert_eq!(
            (grade.outcome, grade.extracted.as_deref()),
            (Outcome::Correct, Some("7"))
        );
        // The last number inside the unfinished reasoning (7) matches the gold; reading
        // it as the answer would score a reply that never answered.
        let unclosed = "<think>先算12减5，得到7";
        for kind in [AnswerKind::Numeric, AnswerKind::FreeText, AnswerKind::Span] {
            let grade = grade_reply(kind, r#"["7"]"#, &[], unclosed);
            assert_eq!(
                (grade.outcome, grade.credit, grade.extracted),
                (Outcome::Unextractable, 0.0, None),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn free_text_contains_a_reference() {
        let gold = r#"["鲁迅"]"#;
        let grade = grade_reply(AnswerKind::FreeText, gold, &[], "答案是：鲁迅。");
        assert_eq!(grade.outcome, Outcome::Correct);
        let grade = grade_reply(AnswerKind::FreeText, gold, &[], "《狂人日记》的作者是鲁迅");
        assert_eq!(grade.outcome, Outcome::Correct);
        let grade = grade_reply(AnswerKind::FreeText, gold, &[], "郭沫若");
        assert_eq!(grade.outcome, Outcome::Wrong);
        let grade = grade_reply(
            AnswerKind::FreeText,
            gold,
            &[],
            "抱歉，我无法回答这个问题。",
        );
        assert_eq!(grade.outcome, Outcome::Refused);
    }

    #[test]
    fn labels_prefer_the_longest_name() {
        let labels: Vec<String> = ["数学", "应用数学", "物理"].map(String::from).to_vec();
        let grade = grade_reply(AnswerKind::Label, "应用数学", &labels, "类别：应用数学");
        assert_eq!(grade.outcome, Outcome::Correct);
        let grade = grade_reply(AnswerKind::Label, "物理", &labels, "这篇属于数学");
        assert_eq!(
            (grade.outcome, grade.extracted.as_deref()),
            (Outcome::Wrong, Some("数学"))
        );
    }

    #[test]
    fn credit_reads_back_from_the_stored_extraction() {
        assert_eq!(credit_of(AnswerKind::MultiChoice, "ACD", "AD"), 0.5);
        assert_eq!(
            credit_of(AnswerKind::MultiQuestion, r#"["A","B","C"]"#, "A,B,D"),
            2.0 / 3.0
        );
        assert_eq!(credit_of(AnswerKind::Choice, "B", "B"), 1.0);
        assert_eq!(
            credit_of(AnswerKind::MultiQuestion, r#"["A"]"#, "garbage!"),
            0.0
        );
        for kind in AnswerKind::ALL {
            assert_eq!(AnswerKind::from_kind(kind.as_str()), Some(kind));
        }
        assert_eq!(AnswerKind::from_kind("probe:identity"), None);
    }
}
