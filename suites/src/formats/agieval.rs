//! AGIEval-style JSONL: one object per line with `passage` (string or null), `question`,
//! `options` (list or null), `label` and `answer`.
//!
//! - `label` a string of one letter: a single-choice item; several letters (`"AC"`) or a
//!   list (`["A", "C"]`, as the law and physics tasks write it): a multi-choice item.
//! - `label` null or absent and `answer` given: a cloze item, kept as free text
//!   (`gaokao-mathcloze`, `math`); `answer` may be a number.
//! - Options are usually prefixed with their letter (`(A)…`, `（A）…`, `A.…`, `A:…`); the
//!   prefix is removed only when it is the option's own letter, and unprefixed options
//!   are kept whole.
//!
//! `fields["options_text"]` holds the options as published, joined with newlines.
//!
//! The subject is the file stem (`logiqa-zh`); the id is `{stem}/{line}`, since the
//! files carry no id.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::error::SuiteError;
use crate::formats::json::{self, kind_of};
use crate::formats::score::parse_letter_answer;
use crate::formats::{EvalItem, ItemKind, Options, RecordSource, letter};
use crate::left_out::{Intake, RecordPolicy};

/// Loads one AGIEval-style JSONL file.
///
/// # Errors
/// [`SuiteError::Io`]; [`SuiteError::Malformed`] naming the line of a record that is not
/// JSON, lacks `question`, has a label outside its options, or has neither label nor
/// answer.
pub fn load_file(path: &Path) -> Result<Vec<EvalItem>, SuiteError> {
    load_file_with(path, &mut Intake::new(RecordPolicy::Refuse))
}

/// Loads one AGIEval-style JSONL file, passing each record through `intake`, which
/// leaves out (or refuses) records that cannot become an item: the published `data/v1`
/// files hold a few (an empty `label` list, a label `。`).
///
/// # Errors
/// As [`load_file`] for whole-file problems; a record's problem under
/// [`RecordPolicy::Refuse`]; [`SuiteError::NothingReadable`] when no record is readable.
pub fn load_file_with(path: &Path, intake: &mut Intake) -> Result<Vec<EvalItem>, SuiteError> {
    let stem = json::file_stem(path);
    let mut items = Vec::new();
    for (source, record) in json::read_lines(path)? {
        if let Some(item) = intake.take(read_record(&record, &stem, source), &stem)? {
            items.push(item);
        }
    }
    intake.finish_file(path, items.len())?;
    Ok(items)
}

fn read_record(
    record: &serde_json::Map<String, Value>,
    stem: &str,
    source: RecordSource,
) -> Result<EvalItem, SuiteError> {
    let question = json::string(record, "question", &source)?;
    let passage = json::optional_string(record, "passage", &source)?
        .filter(|passage| !passage.trim().is_empty());
    let raw_options = match record.get("options") {
        None | Some(Value::Null) => Vec::new(),
        Some(_) => json::strings(record, "options", &source)?,
    };
    let options: Vec<String> = raw_options
        .iter()
        .enumerate()
        .map(|(index, option)| strip_letter_prefix(option, index).to_string())
        .collect();
    let label = match record.get("label") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(parse_label(text, &source)?),
        Some(Value::Array(values)) => {
            if values.is_empty() {
                return Err(
                    source.malformed("`label` is an empty list: the record names no answer")
                );
            }
            let mut letters = BTreeSet::new();
            for value in values {
                let text = value.as_str().ok_or_else(|| {
                    source.malformed(format!(
                        "`label` entries should be letters, found {}",
                        kind_of(value)
                    ))
                })?;
                letters.extend(parse_label(text, &source)?.letters());
            }
            // A list label marks a multi-select task even when it holds one letter.
            Some(Label::List(letters))
        }
        Some(other) => {
            return Err(source.malformed(format!(
                "`label` should be a letter, a letter string or a list, found {}",
                kind_of(other)
            )));
        }
    };
    let kind = match label {
        Some(label) => {
            let letters = label.letters();
            if options.is_empty() {
                return Err(source.malformed("the item has a `label` but no `options`"));
            }
            if letters.iter().any(|index| *index >= options.len()) {
                return Err(source.malformed(format!(
                    "`label` names a letter outside the {} options",
                    options.len()
                )));
            }
            let options = Options::Listed(options);
            match label {
                Label::Text(letters) if letters.len() == 1 => ItemKind::SingleChoice {
                    options,
                    answer: letters.first().copied().unwrap_or_default(),
                },
                Label::Text(letters) | Label::List(letters) => ItemKind::MultiChoice {
                    options,
                    answers: letters,
                },
            }
        }
        None => {
            let answer = match record.get("answer") {
                Some(Value::String(text)) if !text.trim().is_empty() => text.clone(),
                Some(Value::Number(number)) => number.to_string(),
                _ => {
                    return Err(source.malformed(
                        "the item has neither a `label` (choice items) nor an `answer` \
                         (cloze items)",
                    ));
                }
            };
            ItemKind::FreeText {
                answers: vec![answer],
            }
        }
    };
    let id = format!("{stem}/{}", source.line.unwrap_or_default());
    Ok(EvalItem {
        id,
        suite: "agieval".to_string(),
        subject: stem.to_string(),
        context: passage,
        question,
        // The options as published (with their letter prefixes), one per line, as
        // OpenCompass puts them into its prompt.
        fields: BTreeMap::from([("options_text".to_string(), raw_options.join("\n"))]),
        kind,
        points: None,
        source,
    })
}

enum Label {
    /// `"B"` or `"AC"`.
    Text(BTreeSet<usize>),
    /// `["A", "C"]`.
    List(BTreeSet<usize>),
}

impl Label {
    fn letters(&self) -> &BTreeSet<usize> {
        match self {
            Label::Text(letters) | Label::List(letters) => letters,
        }
    }
}

fn parse_label(text: &str, source: &RecordSource) -> Result<Label, SuiteError> {
    if text.trim().is_empty() {
        return Err(source.malformed("`label` is empty: the record names no answer"));
    }
    parse_letter_answer(text)
        .filter(|letters| !letters.is_empty())
        .map(Label::Text)
        .ok_or_else(|| source.malformed(format!("`label` `{text}` is not an option letter")))
}

/// `(A)北京` → `北京` for option 0; text without its own letter prefix is kept whole.
fn strip_letter_prefix(option: &str, index: usize) -> &str {
    let Some(own_letter) = letter(index) else {
        return option;
    };
    let trimmed = option.trim_start();
    let after_open = trimmed
        .strip_prefix('(')
        .or_else(|| trimmed.strip_prefix('（'));
    let rest = match after_open {
        Some(inner) => inner
            .strip_prefix(own_letter)
            .and_then(|rest| rest.strip_prefix(')').or_else(|| rest.strip_prefix('）'))),
        None => trimmed.strip_prefix(own_letter).and_then(|rest| {
            ['.', '．', ':', '：', '、', ')', '）']
                .iter()
                .find_map(|separator| rest.strip_prefix(*separator))
        }),
    };
    rest.map_or(option, str::trim_start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Vec<EvalItem>, SuiteError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("logic-zh.jsonl");
        std::fs::write(&path, text).expect("write");
        load_file(&path)
    }

    #[test]
    fn labels_decide_the_kind_and_prefixes_are_stripped() {
        let items = load(concat!(
            r#"{"passage": "甲说……", "question": "由此可知", "options": ["(A)甲对", "(B)乙对", "(C)丙对", "(D)都不对"], "label": "B", "answer": null, "other": null}"#,
            "\n",
            r#"{"passage": null, "question": "以下正确的有", "options": ["A. 一", "B．二", "C：三", "D、四"], "label": ["A", "C"], "answer": null}"#,
            "\n",
            r#"{"passage": null, "question": "选一个", "options": ["红色", "蓝色"], "label": ["B"]}"#,
            "\n\n",
            r#"{"passage": null, "question": "1+1=", "options": null, "label": null, "answer": "2"}"#,
            "\n",
            r#"{"passage": "", "question": "x", "options": ["Apple", "Banana"], "label": "A"}"#,
            "\n",
        ))
        .expect("fixture loads");
        assert_eq!(items.len(), 5);
        assert_eq!(items[0].context.as_deref(), Some("甲说……"));
        assert_eq!(
            items[0].kind,
            ItemKind::SingleChoice {
                options: Options::Listed(
                    ["甲对", "乙对", "丙对", "都不对"]
                        .map(String::from)
                        .to_vec()
                ),
                answer: 1,
            }
        );
        assert_eq!(
            items[1].kind,
            ItemKind::MultiChoice {
                options: Options::Listed(["一", "二", "三", "四"].map(String::from).to_vec()),
                answers: BTreeSet::from([0, 2]),
            }
        );
        assert!(
            matches!(&items[2].kind, ItemKind::MultiChoice { answers, .. } if answers.len() == 1)
        );
        assert_eq!(
            items[3].kind,
            ItemKind::FreeText {
                answers: vec!["2".to_string()]
            }
        );
        assert_eq!(
            items[3].id, "logic-zh/5",
            "ids follow lines, blank lines included"
        );
        assert_eq!(items[4].context, None);
        // "Apple" starts with A but has no separator: it is not a prefix.
        assert!(
            matches!(&items[4].kind, ItemKind::SingleChoice { options: Options::Listed(texts), .. } if texts[0] == "Apple")
        );
    }

    #[test]
    fn malformed_records_name_the_line() {
        let error = load(concat!(
            r#"{"question": "q", "options": ["(A)x", "(B)y"], "label": "A"}"#,
            "\n",
            r#"{"question": "q", "options": ["(A)x", "(B)y"], "label": "C"}"#,
            "\n"
        ))
        .expect_err("C is not an option")
        .to_string();
        assert!(
            error.contains("logic-zh.jsonl:2: `label` names a letter outside the 2 options"),
            "{error}"
        );
        let error = load(r#"{"question": "q", "options": null, "label": null, "answer": null}"#)
            .expect_err("no gold")
            .to_string();
        assert!(
            error.contains("logic-zh.jsonl:1: the item has neither"),
            "{error}"
        );
        let error = load(r#"{"options": ["x"], "label": "A"}"#)
            .expect_err("no question")
            .to_string();
        assert!(
            error.contains("logic-zh.jsonl:1: missing field `question`"),
            "{error}"
        );
    }
}
