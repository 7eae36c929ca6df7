//! Chinese SimpleQA: JSONL with `id`, `primary_category`, `secondary_category`,
//! `question`, `answer` (a short free text) and `urls` (sources).
//!
//! Items are [`ItemKind::FreeText`] with the one published answer; the subject is the
//! primary category, `fields["secondary_category"]` the secondary one, and the id
//! `{primary category}/{id}`. The published benchmark grades answers with an LLM judge;
//! that is not reproduced here.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::SuiteError;
use crate::formats::json::{self, string};
use crate::formats::{EvalItem, ItemKind};
use crate::left_out::{Intake, RecordPolicy};

/// Loads `chinese_simpleqa.jsonl`.
///
/// # Errors
/// [`SuiteError::Io`]; [`SuiteError::Malformed`] naming the line of a record that is not
/// JSON, lacks a field, or has an empty answer.
pub fn load_file(path: &Path) -> Result<Vec<EvalItem>, SuiteError> {
    load_file_with(path, &mut Intake::new(RecordPolicy::Refuse))
}

/// [`load_file`], passing each record through `intake` (left out or refused).
///
/// # Errors
/// As [`load_file`] for whole-file problems; a record's problem under
/// [`RecordPolicy::Refuse`]; [`SuiteError::NothingReadable`].
pub fn load_file_with(path: &Path, intake: &mut Intake) -> Result<Vec<EvalItem>, SuiteError> {
    let mut items = Vec::new();
    for (source, record) in json::read_lines(path)? {
        // The subject is the record's category, when it has one to name.
        let subject = json::optional_string(&record, "primary_category", &source)
            .ok()
            .flatten()
            .unwrap_or_default();
        if let Some(item) = intake.take(read_record(&record, source), &subject)? {
            items.push(item);
        }
    }
    intake.finish_file(path, items.len())?;
    crate::formats::make_ids_unique(&mut items);
    Ok(items)
}

fn read_record(
    record: &serde_json::Map<String, serde_json::Value>,
    source: crate::formats::RecordSource,
) -> Result<EvalItem, SuiteError> {
    let id = json::scalar_text(record, "id", &source)?;
    let category = string(record, "primary_category", &source)?;
    let answer = string(record, "answer", &source)?;
    if answer.trim().is_empty() {
        return Err(source.malformed(format!("record `{id}` has an empty `answer`")));
    }
    let mut fields = BTreeMap::new();
    if let Some(secondary) = json::optional_string(record, "secondary_category", &source)? {
        fields.insert("secondary_category".to_string(), secondary);
    }
    Ok(EvalItem {
        id: format!("{category}/{id}"),
        suite: "simpleqa".to_string(),
        subject: category,
        context: None,
        question: string(record, "question", &source)?,
        fields,
        kind: ItemKind::FreeText {
            answers: vec![answer],
        },
        points: None,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Vec<EvalItem>, SuiteError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("simpleqa.jsonl");
        std::fs::write(&path, text).expect("write");
        load_file(&path)
    }

    #[test]
    fn free_answers_are_kept() {
        let items = load(concat!(
            r#"{"id": "a1", "primary_category": "自然与自然科学", "secondary_category": "天文学", "question": "太阳系有几颗行星？", "answer": "8颗", "urls": ["https://example.org"]}"#,
            "\n"
        ))
        .expect("fixture loads");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].id, "自然与自然科学/a1");
        assert_eq!(items[0].fields["secondary_category"], "天文学");
        assert_eq!(
            items[0].kind,
            ItemKind::FreeText {
                answers: vec!["8颗".to_string()]
            }
        );
    }

    #[test]
    fn empty_answer_names_the_line() {
        let error = load(concat!(
            r#"{"id": "a1", "primary_category": "c", "question": "q", "answer": "x"}"#,
            "\n",
            r#"{"id": "a2", "primary_category": "c", "question": "q", "answer": " "}"#
        ))
        .expect_err("empty answer")
        .to_string();
        assert!(
            error.contains("simpleqa.jsonl:2: record `a2` has an empty `answer`"),
            "{error}"
        );
    }
}
