//! CMRC2018 span-extraction reading comprehension, in both published layouts:
//!
//! - plain (`data/cmrc2018_{dev,trial}.json`): a list of `{"context_id", "context_text",
//!   "title", "qas": [{"query_id", "query_text", "answers": [text, ...]}]}`;
//! - SQuAD-style (`squad-style-data/…`): `{"version", "data": [{"id", "title",
//!   "paragraphs": [{"id", "context", "qas": [{"id", "question", "answers": [{"text",
//!   "answer_start"}]}]}]}]}`.
//!
//! The layout is told from the top-level value (list or object). Answers are kept as
//! their texts. In the plain dev file 29 answers are JSON numbers (spreadsheet residue:
//! `39764.0` is a date serial); they are read as their JSON text, which is how the
//! SQuAD-style file writes them, so both layouts give the same items. `answer_start` is not used, since CMRC2018 scores text against text and
//! some published offsets do not point at the answer (200 of the SQuAD-style dev answers).
//!
//! Each question is a [`ItemKind::Span`] item whose context is the paragraph; the subject
//! is the file stem, the id `{file stem}/{query id}`, and `fields["title"]` the article
//! title.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::SuiteError;
use crate::formats::json::{self, array, as_object, string};
use crate::formats::{EvalItem, ItemKind, RecordSource};
use crate::left_out::{Intake, RecordPolicy};

/// Loads one CMRC2018 file in either layout.
///
/// # Errors
/// [`SuiteError::Io`], [`SuiteError::Malformed`] for invalid JSON, and
/// [`SuiteError::MalformedRecord`] naming the record's position for missing fields or a
/// question without reference answers.
pub fn load_file(path: &Path) -> Result<Vec<EvalItem>, SuiteError> {
    load_file_with(path, &mut Intake::new(RecordPolicy::Refuse))
}

/// [`load_file`], passing each question through `intake` (left out or refused); a
/// broken article or paragraph still stops the load.
///
/// # Errors
/// As [`load_file`]; a question's problem under [`RecordPolicy::Refuse`];
/// [`SuiteError::NothingReadable`].
pub fn load_file_with(path: &Path, intake: &mut Intake) -> Result<Vec<EvalItem>, SuiteError> {
    let stem = json::file_stem(path);
    let document = json::read_document(path)?;
    let mut items = Vec::new();
    match &document {
        Value::Array(articles) => {
            for (article_index, article) in articles.iter().enumerate() {
                let source = RecordSource::at_record(path, format!("[{article_index}]"));
                let article = as_object(article, &source)?;
                let context = string(article, "context_text", &source)?;
                let title = json::optional_string(article, "title", &source)?;
                for (question_index, question) in array(article, "qas", &source)?.iter().enumerate()
                {
                    let source = RecordSource::at_record(
                        path,
                        format!("[{article_index}].qas[{question_index}]"),
                    );
                    let item = as_object(question, &source).and_then(|question| {
                        span_item(
                            &stem,
                            json::scalar_text(question, "query_id", &source)?,
                            string(question, "query_text", &source)?,
                            &context,
                            title.as_deref(),
                            json::texts(question, "answers", &source)?,
                            source.clone(),
                        )
                    });
                    if let Some(item) = intake.take(item, &stem)? {
                        items.push(item);
                    }
                }
            }
        }
        Value::Object(top) => {
            let top_source = RecordSource::at_record(path, "top level".to_string());
            for (article_index, article) in array(top, "data", &top_source)?.iter().enumerate() {
                let source = RecordSource::at_record(path, format!("data[{article_index}]"));
                let article = as_object(article, &source)?;
                let title = json::optional_string(article, "title", &source)?;
                for (paragraph_index, paragraph) in
                    array(article, "paragraphs", &source)?.iter().enumerate()
                {
                    let source = RecordSource::at_record(
                        path,
                        format!("data[{article_index}].paragraphs[{paragraph_index}]"),
                    );
                    let paragraph = as_object(paragraph, &source)?;
                    let context = string(paragraph, "context", &source)?;
                    for (question_index, question) in
                        array(paragraph, "qas", &source)?.iter().enumerate()
                    {
                        let source = RecordSource::at_record(
                            path,
                            format!(
                                "data[{article_index}].paragraphs[{paragraph_index}].qas[{question_index}]"
                            ),
                        );
                        let item = as_object(question, &source).and_then(|question| {
                            span_item(
                                &stem,
                                json::scalar_text(question, "id", &source)?,
                                string(question, "question", &source)?,
                                &context,
                                title.as_deref(),
                                squad_answers(question, &source)?,
                                source.clone(),
                            )
                        });
                        if let Some(item) = intake.take(item, &stem)? {
                            items.push(item);
                        }
                    }
                }
            }
        }
        _ => {
            return Err(
                RecordSource::at_record(path, "top level".to_string()).malformed(
                    "expected a list of articles (plain layout) or an object with `data` \
                 (SQuAD-style layout)",
                ),
            );
        }
    }
    intake.finish_file(path, items.len())?;
    crate::formats::make_ids_unique(&mut items);
    Ok(items)
}

fn squad_answers(
    question: &Map<String, Value>,
    source: &RecordSource,
) -> Result<Vec<String>, SuiteError> {
    array(question, "answers", source)?
        .iter()
        .enumerate()
        .map(|(index, answer)| {
            let answer = as_object(answer, source)?;
            string(answer, "text", source)
                .map_err(|_| source.malformed(format!("`answers[{index}]` has no `text`")))
        })
        .collect()
}

fn span_item(
    stem: &str,
    question_id: String,
    question: String,
    context: &str,
    title: Option<&str>,
    answers: Vec<String>,
    source: RecordSource,
) -> Result<EvalItem, SuiteError> {
    if answers.iter().all(|answer| answer.trim().is_empty()) {
        return Err(source.malformed(format!(
            "question `{question_id}` has no reference answer; CMRC2018 needs at least one"
        )));
    }
    let mut fields = BTreeMap::new();
    if let Some(title) = title {
        fields.insert("title".to_string(), title.to_string());
    }
    Ok(EvalItem {
        id: format!("{stem}/{question_id}"),
        suite: "cmrc2018".to_string(),
        subject: stem.to_string(),
        context: Some(context.to_string()),
        question,
        fields,
        kind: ItemKind::Span { answers },
        points: None,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str, text: &str) -> Result<Vec<EvalItem>, SuiteError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        load_file(&path)
    }

    #[test]
    fn both_layouts_give_the_same_items() {
        let plain = load(
            "cmrc_fixture.json",
            r#"[{"context_id": "C1", "title": "长城", "context_text": "长城位于中国北方，全长两万多公里，建于2.5千年前。",
                "qas": [{"query_id": "C1_Q1", "query_text": "长城位于哪里？", "answers": ["中国北方", "中国北方", "北方"]},
                        {"query_id": "C1_Q2", "query_text": "长城多长？", "answers": ["两万多公里"]},
                        {"query_id": "C1_Q3", "query_text": "建于多少千年前？", "answers": ["2.5", 2.5]}]}]"#,
        )
        .expect("plain loads");
        let squad = load(
            "cmrc_fixture.json",
            r#"{"version": "v1.0", "data": [{"id": "C1", "title": "长城", "paragraphs": [{"id": "C1", "context": "长城位于中国北方，全长两万多公里，建于2.5千年前。",
                "qas": [{"id": "C1_Q1", "question": "长城位于哪里？", "answers": [{"text": "中国北方", "answer_start": 4}, {"text": "中国北方", "answer_start": 99}, {"text": "北方", "answer_start": 6}]},
                        {"id": "C1_Q2", "question": "长城多长？", "answers": [{"text": "两万多公里", "answer_start": 11}]},
                        {"id": "C1_Q3", "question": "建于多少千年前？", "answers": [{"text": "2.5", "answer_start": 19}, {"text": "2.5", "answer_start": 19}]}]}]}]}"#,
        )
        .expect("squad loads");
        assert_eq!(plain.len(), 3);
        assert_eq!(plain.len(), squad.len());
        for (plain, squad) in plain.iter().zip(&squad) {
            assert_eq!(plain.id, squad.id);
            assert_eq!(plain.question, squad.question);
            assert_eq!(plain.context, squad.context);
            assert_eq!(plain.kind, squad.kind);
            assert_eq!(plain.fields["title"], "长城");
        }
        assert_eq!(plain[0].id, "cmrc_fixture/C1_Q1");
        assert!(matches!(&plain[0].kind, ItemKind::Span { answers } if answers.len() == 3));
    }

    #[test]
    fn malformed_records_name_their_position() {
        let error = load(
            "cmrc_bad.json",
            r#"[{"context_text": "c", "qas": [{"query_id": "Q1", "query_text": "q", "answers": ["a"]}, {"query_id": "Q2", "query_text": "q", "answers": []}]}]"#,
        )
        .expect_err("no answers")
        .to_string();
        assert!(
            error.contains("cmrc_bad.json: [0].qas[1]: question `Q2` has no reference answer"),
            "{error}"
        );
        let error = load(
            "cmrc_bad.json",
            r#"{"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "Q1", "answers": [{"text": "a"}]}]}]}]}"#,
        )
        .expect_err("no question")
        .to_string();
        assert!(
            error.contains("data[0].paragraphs[0].qas[0]: missing field `question`"),
            "{error}"
        );
        let error = load("cmrc_bad.json", "\"text\"")
            .expect_err("a string")
            .to_string();
        assert!(
            error.contains("top level: expected a list of articles"),
            "{error}"
        );
    }
}
