//! C3 multiple-choice reading comprehension.
//!
//! Layout: `{data_dir}/c3-d-{split}.json` (dialogues) and `c3-m-{split}.json` (mixed
//! genre), each one JSON list of documents `[[paragraph, ...], [{"question", "choice",
//! "answer"}, ...], "document id"]`. The answer is the *text* of the right choice, not a
//! letter, and a question has two to four choices.
//!
//! Each question becomes one item: the paragraphs joined with `\n` are its context, the
//! choices its options, and the answer the index of the choice whose text equals it. The
//! subject is the subset (`c3-d`, `c3-m`); the id `{file stem}/{document id}/{question}`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::SuiteError;
use crate::formats::json::{self, as_object, kind_of};
use crate::formats::{EvalItem, ItemKind, Options, RecordSource};
use crate::left_out::{Intake, RecordPolicy};

/// The two C3 subsets, in the order they are loaded.
pub const SUBSETS: [&str; 2] = ["c3-d", "c3-m"];

/// Loads both subsets of `split` (`dev`, `test`, `train`) from `data_dir`.
///
/// # Errors
/// As [`load_file`]; [`SuiteError::Io`] names a missing subset file.
pub fn load_split(data_dir: &Path, split: &str) -> Result<Vec<EvalItem>, SuiteError> {
    load_split_with(data_dir, split, &mut Intake::new(RecordPolicy::Refuse))
}

/// [`load_split`], passing each question through `intake` (left out or refused).
///
/// # Errors
/// As [`load_file_with`].
pub fn load_split_with(
    data_dir: &Path,
    split: &str,
    intake: &mut Intake,
) -> Result<Vec<EvalItem>, SuiteError> {
    let mut items = Vec::new();
    for subset in SUBSETS {
        items.extend(load_file_with(
            &data_dir.join(format!("{subset}-{split}.json")),
            intake,
        )?);
    }
    Ok(items)
}

/// Loads one C3 file.
///
/// # Errors
/// [`SuiteError::Io`], [`SuiteError::Malformed`] for invalid JSON, and
/// [`SuiteError::MalformedRecord`] naming `[document][question]` for a document that is
/// not `[paragraphs, questions, id]`, fewer than two choices, or an answer that is not
/// exactly one of its choices.
pub fn load_file(path: &Path) -> Result<Vec<EvalItem>, SuiteError> {
    load_file_with(path, &mut Intake::new(RecordPolicy::Refuse))
}

/// [`load_file`], passing each document and question through `intake`: a broken one is
/// left out (or refused) with its position.
///
/// # Errors
/// Whole-file problems as [`load_file`]; a record's problem under
/// [`RecordPolicy::Refuse`]; [`SuiteError::NothingReadable`].
pub fn load_file_with(path: &Path, intake: &mut Intake) -> Result<Vec<EvalItem>, SuiteError> {
    let stem = json::file_stem(path);
    let subject = SUBSETS
        .iter()
        .find(|subset| stem.starts_with(*subset))
        .map_or(stem.as_str(), |subset| subset)
        .to_string();
    let document = json::read_document(path)?;
    let top = RecordSource::at_record(path, "top level".to_string());
    let documents = document
        .as_array()
        .ok_or_else(|| top.malformed("expected a list of documents"))?;
    let mut items = Vec::new();
    for (document_index, document) in documents.iter().enumerate() {
        let parsed = read_document(path, document_index, document);
        let Some((paragraphs, document_id, questions)) = intake.take(parsed, &subject)? else {
            continue;
        };
        for (question_index, question) in questions.iter().enumerate() {
            let source = RecordSource::at_record(
                path,
                format!("[{document_index}][1][{question_index}] (document {document_id})"),
            );
            let item =
                read_question(question, source).map(|(question_text, choices, answer, source)| {
                    EvalItem {
                        id: format!("{stem}/{document_id}/{question_index}"),
                        suite: "c3".to_string(),
                        subject: subject.clone(),
                        context: Some(paragraphs.join("\n")),
                        question: question_text,
                        fields: BTreeMap::new(),
                        kind: ItemKind::SingleChoice {
                            options: Options::Listed(choices),
                            answer,
                        },
                        points: None,
                        source,
                    }
                });
            if let Some(item) = intake.take(item, &subject)? {
                items.push(item);
            }
        }
    }
    intake.finish_file(path, items.len())?;
    Ok(items)
}

/// A document's paragraphs, id and question list.
fn read_document<'value>(
    path: &Path,
    document_index: usize,
    document: &'value serde_json::Value,
) -> Result<(Vec<String>, String, &'value Vec<serde_json::Value>), SuiteError> {
    let source = RecordSource::at_record(path, format!("[{document_index}]"));
    let parts = match document.as_array().map(Vec::as_slice) {
        Some([paragraphs, questions, id]) => (paragraphs, questions, id),
        _ => {
            return Err(
                source.malformed("a document should be [paragraphs, questions, id], three entries")
            );
        }
    };
    let (paragraphs, questions, id) = parts;
    let paragraphs = text_list(paragraphs, "paragraphs", &source)?;
    let document_id = match id {
        serde_json::Value::String(id) => id.clone(),
        serde_json::Value::Number(id) => id.to_string(),
        other => {
            return Err(source.malformed(format!(
                "the document id should be a string, found {}",
                kind_of(other)
            )));
        }
    };
    let questions = questions
        .as_array()
        .ok_or_else(|| source.malformed("the second entry should be the question list"))?;
    Ok((paragraphs, document_id, questions))
}

/// One question's text, choices and answer index, with its source.
fn read_question(
    question: &serde_json::Value,
    source: RecordSource,
) -> Result<(String, Vec<String>, usize, RecordSource), SuiteError> {
    let record = as_object(question, &source)?;
    let question_text = json::string(record, "question", &source)?;
    let choices = json::strings(record, "choice", &source)?;
    let answer = json::string(record, "answer", &source)?;
    if choices.len() < 2 {
        return Err(source.malformed(format!(
            "a question needs at least two choices, found {}",
            choices.len()
        )));
    }
    let matching: Vec<usize> = choices
        .iter()
        .enumerate()
        .filter(|(_, choice)| **choice == answer)
        .map(|(index, _)| index)
        .collect();
    let answer_index = match matching.as_slice() {
        [index] => *index,
        [] => {
            return Err(
                source.malformed(format!("answer `{answer}` is not the text of any choice"))
            );
        }
        _ => {
            return Err(source.malformed(format!(
                "answer `{answer}` matches {} choices",
                matching.len()
            )));
        }
    };
    Ok((question_text, choices, answer_index, source))
}

fn text_list(
    value: &serde_json::Value,
    what: &str,
    source: &RecordSource,
) -> Result<Vec<String>, SuiteError> {
    let values = value
        .as_array()
        .ok_or_else(|| source.malformed(format!("`{what}` should be a list of strings")))?;
    values
        .iter()
        .enumerate()
        .map(|(index, value)| {
            value.as_str().map(str::to_string).ok_or_else(|| {
                source.malformed(format!(
                    "`{what}[{index}]` should be a string, found {}",
                    kind_of(value)
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIALOGUE: &str = r#"[
        [["男：今天几号？", "女：十五号。"], [
            {"question": "今天几号？", "choice": ["十四号", "十五号", "十六号"], "answer": "十五号"},
            {"question": "谁在问？", "choice": ["男的", "女的"], "answer": "男的"}
        ], "d1-1"],
        [["女：你去哪儿？", "男：去图书馆。"], [
            {"question": "男的去哪儿？", "choice": ["商店", "学校", "图书馆", "医院"], "answer": "图书馆"}
        ], "d1-2"]
    ]"#;

    #[test]
    fn answers_are_matched_to_choice_texts() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("c3-d-dev.json"), DIALOGUE).expect("write");
        std::fs::write(
            dir.path().join("c3-m-dev.json"),
            r#"[[["短文。"], [{"question": "主旨？", "choice": ["甲", "乙", "丙", "丁"], "answer": "丁"}], "m1"]]"#,
        )
        .expect("write");
        let items = load_split(dir.path(), "dev").expect("fixture loads");
        assert_eq!(items.len(), 4);
        assert_eq!(
            items[0].context.as_deref(),
            Some("男：今天几号？\n女：十五号。")
        );
        assert_eq!(items[0].id, "c3-d-dev/d1-1/0");
        assert_eq!(items[0].subject, "c3-d");
        assert!(
            matches!(&items[0].kind, ItemKind::SingleChoice { answer: 1, options } if options.count() == 3)
        );
        assert!(
            matches!(&items[1].kind, ItemKind::SingleChoice { answer: 0, options } if options.count() == 2)
        );
        assert!(matches!(
            &items[2].kind,
            ItemKind::SingleChoice { answer: 2, .. }
        ));
        assert_eq!(items[3].subject, "c3-m");
    }

    #[test]
    fn an_answer_that_is_no_choice_names_the_record() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("c3-d-test.json");
        std::fs::write(
            &path,
            r#"[[["对话"], [{"question": "q", "choice": ["甲", "乙"], "answer": "甲"}, {"question": "q2", "choice": ["甲", "乙"], "answer": "丙"}], "d9"]]"#,
        )
        .expect("write");
        let error = load_file(&path).expect_err("丙 is no choice").to_string();
        assert!(
            error.contains(
                "c3-d-test.json: [0][1][1] (document d9): answer `丙` is not the text of any choice"
            ),
            "{error}"
        );
        std::fs::write(&path, r#"[[["对话"], []]]"#).expect("write");
        let error = load_file(&path).expect_err("two entries").to_string();
        assert!(error.contains("[0]: a document should be"), "{error}");
    }
}
