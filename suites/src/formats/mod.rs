//! Loaders for more suites, beside (not instead of) the C-Eval/CMMLU API in
//! [`crate::load`]: every loader here reads one published file layout into [`EvalItem`]s,
//! a general item type that also covers multi-answer, multi-question, span, numeric and
//! free-text items.
//!
//! # Layout
//! - [`gaokao`]: GAOKAO-Bench objective questions (options inside the question text).
//! - [`agieval`]: AGIEval-style JSONL (`passage`, `question`, `options`, `label`, `answer`).
//! - [`c3`]: C3 reading comprehension (the answer is the text of the right choice).
//! - [`cmrc2018`]: CMRC2018 span extraction, plain and SQuAD-style.
//! - [`ocnli`]: OCNLI natural-language inference (records labelled `-` are dropped;
//!   `test.json`, whose labels are withheld, as [`ItemKind::Withheld`] items).
//! - [`fewclue`]: the nine FewCLUE tasks, each with its own fields (the unlabelled
//!   `test.json` too).
//! - [`simpleqa`]: Chinese SimpleQA short factual questions.
//! - [`cmath`]: CMATH grade-school maths (numeric `golden`).
//! - [`score`]: GAOKAO-Bench partial credit, CMRC2018 span F1/EM, CMATH numeric match.
//!
//! Loaders never trim or rewrite text: prompts are built from it as published. A record
//! that cannot be read exactly never becomes an item with a guessed answer: the
//! `load_file_with` variants pass each record through a [`crate::left_out::Intake`],
//! which leaves it out naming the file and the line (JSONL) or the record's position
//! (one-document JSON files), or refuses it (strict); the plain `load_file`s refuse.

pub mod agieval;
pub mod c3;
pub mod cmath;
pub mod cmrc2018;
pub mod fewclue;
pub mod gaokao;
pub mod ocnli;
pub mod score;
pub mod simpleqa;

pub(crate) mod json;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One evaluation item of any suite loaded through this module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalItem {
    /// Stable id within the suite, `{subject}/{record id}`; unique within one load, so it
    /// can key results like [`crate::McItem::id`].
    pub id: String,
    /// Which suite this came from (`gaokao`, `agieval`, `c3`, `cmrc2018`, `ocnli`,
    /// `fewclue`, `simpleqa`, `cmath`), so mixed item lists stay attributable.
    pub suite: String,
    /// The suite's grouping: GAOKAO-Bench file keyword, AGIEval file stem, C3 subset
    /// (`c3-d`, `c3-m`), FewCLUE task, SimpleQA primary category, CMATH grade, ...
    pub subject: String,
    /// Reading material the question is about (C3 dialogue, CMRC2018 paragraph, AGIEval
    /// passage, FewCLUE premise); `None` when the question stands alone.
    pub context: Option<String>,
    /// The question as published. GAOKAO-Bench questions include their options.
    pub question: String,
    /// Further named prompt fields a template may need (`sentence2`, `keywords`,
    /// `span1_text`, ...). Which keys a loader sets is documented on the loader.
    pub fields: BTreeMap<String, String>,
    pub kind: ItemKind,
    /// Points per (sub-)answer where the suite weights items (GAOKAO-Bench's `score`);
    /// `None` means every item counts the same.
    pub points: Option<f64>,
    pub source: RecordSource,
}

/// What kind of answer an item expects, with its gold answer.
///
/// Choices are indices into the options (`0` is A); [`letter`] turns one into its letter.
/// Indices rather than letters, because FewCLUE's iflytek has more than 26 labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ItemKind {
    /// Exactly one option is right.
    SingleChoice { options: Options, answer: usize },
    /// Several options may be right and the answer is the set (GAOKAO-Bench physics,
    /// AGIEval list labels); scored with partial credit by
    /// [`score::score_letter_answers`].
    MultiChoice {
        options: Options,
        answers: BTreeSet<usize>,
    },
    /// One item holding several sub-questions, each with its own answer set (GAOKAO-Bench
    /// reading comprehension, cloze, seven-choose-five); sub-answers are scored separately.
    MultiQuestion {
        /// The options every sub-question chooses from.
        options: Options,
        answers: Vec<BTreeSet<usize>>,
    },
    /// The answer is a span of [`EvalItem::context`]; any reference counts (CMRC2018).
    Span { answers: Vec<String> },
    /// The answer is a number, kept as published (`"12"`, `"2/7"`, `"0.5"`, `"12%"`) and
    /// matched with [`score::numbers_match`] (CMATH).
    Numeric { answer: String },
    /// A short free answer; any reference counts (Chinese SimpleQA, AGIEval cloze).
    FreeText { answers: Vec<String> },
    /// One option is right but the benchmark withholds which (a hidden test split: OCNLI's
    /// and FewCLUE's `test.json`): the reply is a prediction for the benchmark's
    /// leaderboard, never scored here.
    Withheld {
        options: Options,
        /// Option `i` as the benchmark's files and submission format name it: OCNLI
        /// `entailment`, tnews `101`, iflytek `99`, chid the candidate's index `3`.
        labels: Vec<String>,
        /// Option `i` as a template's fixed label list matches it: the label itself,
        /// except tnews, whose template maps by `label_desc` (`news_story`).
        keys: Vec<String>,
    },
}

/// The options of a choice item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Options {
    /// Option texts in order, without their letter prefixes.
    Listed(Vec<String>),
    /// The options are written inside the question text (GAOKAO-Bench); only their
    /// number is known, so answers are letters among the first `count`.
    InQuestion { count: usize },
}

impl Options {
    /// How many options there are to choose from.
    pub fn count(&self) -> usize {
        match self {
            Options::Listed(texts) => texts.len(),
            Options::InQuestion { count } => *count,
        }
    }
}

/// The letter of option `index` (`0` → `A`); `None` past `Z`.
pub fn letter(index: usize) -> Option<char> {
    u8::try_from(index)
        .ok()
        .filter(|index| *index < 26)
        .map(|index| char::from(b'A' + index))
}

/// The option index of `letter` (`A` → `0`, case-insensitive); `None` for a non-letter.
pub fn index_of_letter(letter: char) -> Option<usize> {
    let upper = letter.to_ascii_uppercase();
    upper
        .is_ascii_uppercase()
        .then(|| usize::from(upper as u8 - b'A'))
}

/// Where an item was read from, so every error and report row points back to the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordSource {
    pub path: PathBuf,
    /// 1-based line, for line-per-record files (JSONL); `None` for one-document JSON.
    pub line: Option<u64>,
    /// The record's position in the file, e.g. `line 12` or `example[3]`.
    pub record: String,
}

impl RecordSource {
    pub(crate) fn at_line(path: &std::path::Path, line: u64) -> RecordSource {
        RecordSource {
            path: path.to_path_buf(),
            line: Some(line),
            record: format!("line {line}"),
        }
    }

    pub(crate) fn at_record(path: &std::path::Path, record: String) -> RecordSource {
        RecordSource {
            path: path.to_path_buf(),
            line: None,
            record,
        }
    }

    /// The error for a bad record here, naming the line or the record position.
    pub(crate) fn malformed(&self, problem: impl Into<String>) -> crate::SuiteError {
        match self.line {
            Some(line) => crate::SuiteError::Malformed {
                path: self.path.clone(),
                line,
                problem: problem.into(),
            },
            None => crate::SuiteError::MalformedRecord {
                path: self.path.clone(),
                record: self.record.clone(),
                problem: problem.into(),
            },
        }
    }
}

/// Gives every item a unique id: a record id seen before in the same load gets its
/// position appended (`…/42@line 7`), since some published files repeat ids (FewCLUE
/// csldcp's test set holds 49 repeated ids).
pub(crate) fn make_ids_unique(items: &mut [EvalItem]) {
    let mut seen = std::collections::HashSet::new();
    for item in items.iter_mut() {
        if !seen.insert(item.id.clone()) {
            item.id = format!("{}@{}", item.id, item.source.record);
            seen.insert(item.id.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_and_indices_round_trip() {
        assert_eq!(letter(0), Some('A'));
        assert_eq!(letter(25), Some('Z'));
        assert_eq!(letter(26), None);
        assert_eq!(index_of_letter('c'), Some(2));
        assert_eq!(index_of_letter('1'), None);
        assert_eq!(Options::InQuestion { count: 7 }.count(), 7);
    }

    #[test]
    fn record_errors_name_line_or_position() {
        let at_line = RecordSource::at_line(std::path::Path::new("x.jsonl"), 3);
        assert_eq!(
            at_line.malformed("no `question`").to_string(),
            "x.jsonl:3: no `question`; fix or remove this record"
        );
        let at_record =
            RecordSource::at_record(std::path::Path::new("x.json"), "example[2]".into());
        assert_eq!(
            at_record.malformed("no `answer`").to_string(),
            "x.json: example[2]: no `answer`; fix or remove this record"
        );
    }
}
