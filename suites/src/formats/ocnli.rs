//! OCNLI natural-language inference: JSONL with `sentence1` (premise), `sentence2`
//! (hypothesis), `label` (`entailment`, `neutral`, `contradiction`), five annotator
//! labels `label0`…`label4`, `genre` and `id`.
//!
//! Records whose gold `label` is `-` (annotators did not agree; 50 in dev) are dropped,
//! as OCNLI's own evaluation does, and reported in [`OcnliFile::dropped`]. A record with
//! no `label` at all is an error in a labelled file. `test.json` hides its labels: it is
//! read by [`load_withheld_with`] into [`ItemKind::Withheld`] items, whose replies are
//! predictions for CLUE's leaderboard.
//!
//! Items are single-choice over [`LABELS`]; the context is the premise, the question the
//! hypothesis, `fields["genre"]` the genre. The same reader serves FewCLUE's ocnli task.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::SuiteError;
use crate::formats::json::{self, string};
use crate::formats::{EvalItem, ItemKind, Options, RecordSource};
use crate::left_out::{Intake, LeftOut, RecordPolicy};

/// The label vocabulary, in option order.
pub const LABELS: [&str; 3] = ["entailment", "neutral", "contradiction"];

/// The gold label OCNLI uses for records without annotator agreement.
pub const NO_AGREEMENT: &str = "-";

/// What one OCNLI file holds.
#[derive(Debug, Clone)]
pub struct OcnliFile {
    pub items: Vec<EvalItem>,
    /// Records skipped because their label is `-`, so a report can say how many.
    pub dropped: Vec<RecordSource>,
}

/// Loads one OCNLI JSONL file (`dev.json`, `train.*.json`).
///
/// # Errors
/// [`SuiteError::Io`]; [`SuiteError::Malformed`] naming the line of a record that is not
/// JSON, lacks a field, or has no or an unknown label.
pub fn load_file(path: &Path) -> Result<OcnliFile, SuiteError> {
    let mut intake = Intake::new(RecordPolicy::Refuse);
    let items = load_file_with(path, &mut intake)?;
    let dropped = intake
        .into_left_out()
        .into_iter()
        .map(|left_out| RecordSource {
            path: path.to_path_buf(),
            line: left_out
                .record
                .strip_prefix("line ")
                .and_then(|line| line.parse().ok()),
            record: left_out.record,
        })
        .collect();
    Ok(OcnliFile { items, dropped })
}

/// [`load_file`], passing each record through `intake`: records labelled `-` are left
/// out under any policy (OCNLI's own evaluation drops them), broken ones as the policy
/// says.
///
/// # Errors
/// As [`load_file`] for whole-file problems; a record's problem under
/// [`RecordPolicy::Refuse`]; [`SuiteError::NothingReadable`].
pub fn load_file_with(path: &Path, intake: &mut Intake) -> Result<Vec<EvalItem>, SuiteError> {
    let mut items = Vec::new();
    for (source, record) in json::read_lines(path)? {
        match read_record(&record, "ocnli", "ocnli", &json::file_stem(path), source) {
            Ok(Ok(item)) => items.push(item),
            Ok(Err(source)) => intake.leave_out(no_agreement(&source, "ocnli")),
            Err(error) => {
                if let Some(item) = intake.take(Err::<EvalItem, _>(error), "ocnli")? {
                    items.push(item);
                }
            }
        }
    }
    intake.finish_file(path, items.len())?;
    crate::formats::make_ids_unique(&mut items);
    Ok(items)
}

/// Loads OCNLI's `test.json`, whose labels the authors withhold: every record becomes an
/// [`ItemKind::Withheld`] item over [`LABELS`] (a `label` in a record, if any, is not
/// read), in file order, since CLUE's scorer compares a submission line by line.
///
/// # Errors
/// As [`load_file`] for whole-file problems; a record without `id`, `sentence1` or
/// `sentence2` under [`RecordPolicy::Refuse`]; [`SuiteError::NothingReadable`].
pub fn load_withheld_with(path: &Path, intake: &mut Intake) -> Result<Vec<EvalItem>, SuiteError> {
    let stem = json::file_stem(path);
    let mut items = Vec::new();
    for (source, record) in json::read_lines(path)? {
        let item = read_withheld_record(&record, "ocnli", "ocnli", &stem, source);
        if let Some(item) = intake.take(item, "ocnli")? {
            items.push(item);
        }
    }
    intake.finish_file(path, items.len())?;
    crate::formats::make_ids_unique(&mut items);
    Ok(items)
}

/// One record of a file whose labels are withheld, as an item without gold.
pub(crate) fn read_withheld_record(
    record: &Map<String, Value>,
    suite: &str,
    subject: &str,
    stem: &str,
    source: RecordSource,
) -> Result<EvalItem, SuiteError> {
    let labels: Vec<String> = LABELS.map(String::from).to_vec();
    pair_item(
        record,
        suite,
        subject,
        stem,
        source,
        ItemKind::Withheld {
            options: Options::Listed(labels.clone()),
            keys: labels.clone(),
            labels,
        },
    )
}

/// The item of a sentence pair with `kind`: id, premise as context, hypothesis as
/// question, genre.
fn pair_item(
    record: &Map<String, Value>,
    suite: &str,
    subject: &str,
    stem: &str,
    source: RecordSource,
    kind: ItemKind,
) -> Result<EvalItem, SuiteError> {
    let id = json::scalar_text(record, "id", &source)?;
    let mut fields = BTreeMap::new();
    if let Some(genre) = json::optional_string(record, "genre", &source)? {
        fields.insert("genre".to_string(), genre);
    }
    Ok(EvalItem {
        id: format!("{stem}/{id}"),
        suite: suite.to_string(),
        subject: subject.to_string(),
        context: Some(string(record, "sentence1", &source)?),
        question: string(record, "sentence2", &source)?,
        fields,
        kind,
        points: None,
        source,
    })
}

/// A record labelled `-` as left out by OCNLI's own rule.
pub(crate) fn no_agreement(source: &RecordSource, subject: &str) -> LeftOut {
    LeftOut {
        file: source.path.display().to_string(),
        record: source.record.clone(),
        subject: subject.to_string(),
        reason: "label `-`: the annotators did not agree, and OCNLI's own evaluation leaves \
                 such records out"
            .to_string(),
    }
}

/// One record as an item, or `Err(source)` for a `-` record that is skipped.
pub(crate) fn read_record(
    record: &Map<String, Value>,
    suite: &str,
    subject: &str,
    stem: &str,
    source: RecordSource,
) -> Result<Result<EvalItem, RecordSource>, SuiteError> {
    let label = match record.get("label") {
        None | Some(Value::Null) => {
            return Err(source.malformed(
                "no `label`; OCNLI's test.json hides its labels: run it as `--split test` (predictions for CLUE's leaderboard), or evaluate on dev.json",
            ));
        }
        Some(_) => string(record, "label", &source)?,
    };
    if label == NO_AGREEMENT {
        return Ok(Err(source));
    }
    let answer = LABELS
        .iter()
        .position(|known| *known == label)
        .ok_or_else(|| {
            source.malformed(format!(
                "label `{label}` is not one of {}",
                LABELS.join(", ")
            ))
        })?;
    pair_item(
        record,
        suite,
        subject,
        stem,
        source,
        ItemKind::SingleChoice {
            options: Options::Listed(LABELS.map(String::from).to_vec()),
            answer,
        },
    )
    .map(Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<OcnliFile, SuiteError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("dev.json");
        std::fs::write(&path, text).expect("write");
        load_file(&path)
    }

    #[test]
    fn records_without_agreement_are_dropped_and_counted() {
        let file = load(concat!(
            r#"{"level": "easy", "sentence1": "他在看书。", "sentence2": "他在阅读。", "label": "entailment", "label0": "entailment", "label1": "entailment", "label2": "neutral", "label3": "entailment", "label4": "entailment", "genre": "lit", "prem_id": "lit_1", "id": 0}"#,
            "\n",
            r#"{"sentence1": "天下雨了。", "sentence2": "地是干的。", "label": "-", "genre": "news", "id": 1}"#,
            "\n",
            r#"{"sentence1": "天下雨了。", "sentence2": "地是湿的。", "label": "contradiction", "genre": "news", "id": 2}"#,
            "\n",
        ))
        .expect("fixture loads");
        assert_eq!(file.items.len(), 2);
        assert_eq!(file.dropped.len(), 1);
        assert_eq!(file.dropped[0].line, Some(2));
        let first = &file.items[0];
        assert_eq!(first.id, "dev/0");
        assert_eq!(first.context.as_deref(), Some("他在看书。"));
        assert_eq!(first.question, "他在阅读。");
        assert_eq!(first.fields["genre"], "lit");
        assert!(matches!(
            file.items[1].kind,
            ItemKind::SingleChoice { answer: 2, .. }
        ));
    }

    #[test]
    fn unlabelled_and_unknown_labels_name_the_line() {
        let error = load(r#"{"sentence1": "a", "sentence2": "b", "id": 0}"#)
            .expect_err("test split")
            .to_string();
        assert!(
            error.contains("dev.json:1: no `label`; OCNLI's test.json hides"),
            "{error}"
        );
        let error = load(concat!(
            r#"{"sentence1": "a", "sentence2": "b", "label": "neutral", "id": 0}"#,
            "\n",
            r#"{"sentence1": "a", "sentence2": "b", "label": "maybe", "id": 1}"#
        ))
        .expect_err("unknown label")
        .to_string();
        assert!(
            error.contains("dev.json:2: label `maybe` is not one of"),
            "{error}"
        );
    }
}
