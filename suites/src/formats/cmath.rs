//! CMATH grade-school maths: JSONL with `input` (the problem), `golden` (the answer as a
//! string: `"12"`, `"2/7"`, `"0.5"`, `"12%"`), `grade` (1-6), `reasoning_step` and
//! `num_digits`.
//!
//! Items are [`ItemKind::Numeric`]; a `golden` that [`score::parse_number`] cannot read
//! is an error at load time, so it cannot silently score every reply wrong. The subject
//! is `grade{n}` (`cmath` when a file has no grade, like `distractor.jsonl`), the id
//! `{file stem}/{line}` since records carry no id, and `fields` hold `reasoning_step` and
//! `num_digits` where present.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::error::SuiteError;
use crate::formats::json::{self, string};
use crate::formats::{EvalItem, ItemKind, score};
use crate::left_out::{Intake, RecordPolicy};

/// Loads one CMATH JSONL file.
///
/// # Errors
/// [`SuiteError::Io`]; [`SuiteError::Malformed`] naming the line of a record that is not
/// JSON, lacks `input` or `golden`, or whose `golden` is not a number.
pub fn load_file(path: &Path) -> Result<Vec<EvalItem>, SuiteError> {
    load_file_with(path, &mut Intake::new(RecordPolicy::Refuse))
}

/// [`load_file`], passing each record through `intake` (left out or refused).
///
/// # Errors
/// As [`load_file`] for whole-file problems; a record's problem under
/// [`RecordPolicy::Refuse`]; [`SuiteError::NothingReadable`].
pub fn load_file_with(path: &Path, intake: &mut Intake) -> Result<Vec<EvalItem>, SuiteError> {
    let stem = json::file_stem(path);
    let mut items = Vec::new();
    for (source, record) in json::read_lines(path)? {
        let subject = match record.get("grade") {
            Some(Value::Number(grade)) => format!("grade{grade}"),
            Some(Value::String(grade)) => format!("grade{}", grade.trim()),
            _ => "cmath".to_string(),
        };
        if let Some(item) = intake.take(read_record(&record, &stem, source), &subject)? {
            items.push(item);
        }
    }
    intake.finish_file(path, items.len())?;
    Ok(items)
}

fn read_record(
    record: &serde_json::Map<String, Value>,
    stem: &str,
    source: crate::formats::RecordSource,
) -> Result<EvalItem, SuiteError> {
    let golden = json::scalar_text(record, "golden", &source)?;
    if score::parse_number(&golden).is_none() {
        return Err(source.malformed(format!(
            "`golden` is `{golden}`, not a number CMATH can compare (write e.g. 12, \
             0.5, 2/7 or 12%)"
        )));
    }
    let subject = match record.get("grade") {
        None | Some(Value::Null) => "cmath".to_string(),
        Some(_) => format!("grade{}", json::index(record, "grade", &source)?),
    };
    let mut fields = BTreeMap::new();
    for key in ["reasoning_step", "num_digits"] {
        if record.get(key).is_some_and(|value| !value.is_null()) {
            fields.insert(key.to_string(), json::scalar_text(record, key, &source)?);
        }
    }
    let line = source.line.unwrap_or_default();
    Ok(EvalItem {
        id: format!("{stem}/{line}"),
        suite: "cmath".to_string(),
        subject,
        context: None,
        question: string(record, "input", &source)?,
        fields,
        kind: ItemKind::Numeric { answer: golden },
        points: None,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Vec<EvalItem>, SuiteError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("cmath_fixture.jsonl");
        std::fs::write(&path, text).expect("write");
        load_file(&path)
    }

    #[test]
    fn numeric_answers_and_grades() {
        let items = load(concat!(
            r#"{"grade": 1, "reasoning_step": 1, "num_digits": 1, "input": "小红有3个苹果，又买了2个，一共几个？", "golden": "5"}"#,
            "\n",
            r#"{"grade": 5, "reasoning_step": 2, "num_digits": 2, "input": "一块蛋糕平均分成7份，吃了2份，吃了几分之几？", "golden": "2/7"}"#,
            "\n"
        ))
        .expect("fixture loads");
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].subject, "grade1");
        assert_eq!(items[1].id, "cmath_fixture/2");
        assert_eq!(items[1].fields["reasoning_step"], "2");
        assert_eq!(
            items[1].kind,
            ItemKind::Numeric {
                answer: "2/7".to_string()
            }
        );
        assert_eq!(score::score_numeric("吃了2/7。", "2/7"), Some(true));
    }

    #[test]
    fn unreadable_golden_names_the_line() {
        let error = load(concat!(
            r#"{"grade": 1, "input": "q", "golden": "5"}"#,
            "\n",
            r#"{"grade": 1, "input": "q", "golden": "五"}"#
        ))
        .expect_err("五 is not a number")
        .to_string();
        assert!(
            error.contains("cmath_fixture.jsonl:2: `golden` is `五`"),
            "{error}"
        );
    }
}
