//! Leaderboard submission files of the task suites' hidden test splits: OCNLI's and
//! FewCLUE's `test.json`, whose labels are withheld and scored only by CLUE's
//! leaderboards.
//!
//! # The format and its sources
//! One file per task, one JSON object a line, one line per record of `test.json` **in its
//! order**: CLUE's submission guide ("中文任务基准测评 CLUE benchmark 任务提交说明") says the
//! scorer reads only each line's label and compares it with the true label line by line,
//! so every record needs a line, in the test file's order. A line is `{"id": <record
//! id>, "label": "<label>"}`, the label as the task's files write it; chid's is `{"id":
//! <id>, "answer": <candidate index>}`.
//!
//! | suite | file | label | source |
//! |---|---|---|---|
//! | `ocnli` | `ocnli_50k_predict.json` | `entailment`, `neutral`, `contradiction` | PaddleNLP `examples/benchmark/clue/classification/predict_clue_classifier.py` @ 59f2ffb0 (`ocnli` → `ocnli_50k`, `{"id", "label"}`) |
//! | `fewclue_tnews` | `tnewsf_predict.json` | label id (`"101"`) | PaddleNLP `examples/few_shot/efl/predict.py` @ 6f8ff18c (`predict_file`, `write_*`) for all FewCLUE tasks |
//! | `fewclue_iflytek` | `iflytekf_predict.json` | label id (`"99"`) | |
//! | `fewclue_ocnli` | `ocnlif_predict.json` | as OCNLI | |
//! | `fewclue_cluewsc` | `cluewscf_predict.json` | `"true"`, `"false"` | |
//! | `fewclue_csl` | `cslf_predict.json` | `"0"`, `"1"` | |
//! | `fewclue_csldcp` | `csldcp_predict.json` | the discipline's name | |
//! | `fewclue_bustm` | `bustm_predict.json` | `"0"`, `"1"` | |
//! | `fewclue_eprstmt` | `eprstmt_predict.json` | `"Positive"`, `"Negative"` | |
//! | `fewclue_chid` | `chidf_predict.json` | `"answer"`: the candidate's index, a number | |
//!
//! A record without a prediction (an unreadable or refused reply, an API error, a record
//! not asked under a limit, a record left out of the file) still gets its line, with
//! the label `""` (chid: `-1`), which matches no true label: the lines stay aligned and
//! the record counts as wrong, as a missing answer does. Ids that are integers are written
//! as numbers, as the published files and the examples write them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::TaskSuite;
use super::prompts::prediction_labels;
use crate::error::SuiteError;
use crate::formats::EvalItem;
use crate::formats::fewclue::FewClueTask;
use crate::left_out::LeftOut;

/// The submission file of one task's hidden test split, with everything needed to write
/// it from the run's predictions. Kept in the run's manifest, so a report can be written
/// again from the store alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClueSubmission {
    /// The name the leaderboard expects (`ocnli_50k_predict.json`).
    pub file_name: String,
    /// The field holding the prediction: `label`, or `answer` for chid.
    pub field: String,
    /// What each reading of a reply (an option letter as the prompt shows the options,
    /// or a label name) is written as.
    pub labels: BTreeMap<String, Value>,
    /// What a record without a prediction is written with.
    pub missing: Value,
    /// Every record of the test file, in its order.
    pub records: Vec<SubmissionRecord>,
}

/// One line of the submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmissionRecord {
    /// The item the record became; `None` for a record left out of the file, which still
    /// gets a line so that the lines after it stay aligned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// The record's id as the test file writes it (`null` when it could not be read).
    pub id: Value,
}

/// A written submission file and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedSubmission {
    pub content: Vec<u8>,
    /// Lines with a prediction.
    pub answered: usize,
    /// Lines in all: the records of the test file.
    pub lines: usize,
}

/// The file name CLUE's or FewCLUE's leaderboard expects for `suite`'s predictions;
/// `None` for a suite without a hidden split.
pub fn file_name(suite: TaskSuite) -> Option<&'static str> {
    Some(match suite {
        TaskSuite::Ocnli => "ocnli_50k_predict.json",
        TaskSuite::FewClue(task) => match task {
            FewClueTask::Tnews => "tnewsf_predict.json",
            FewClueTask::Iflytek => "iflytekf_predict.json",
            FewClueTask::Ocnli => "ocnlif_predict.json",
            FewClueTask::Cluewsc => "cluewscf_predict.json",
            FewClueTask::Csl => "cslf_predict.json",
            FewClueTask::Csldcp => "csldcp_predict.json",
            FewClueTask::Bustm => "bustm_predict.json",
            FewClueTask::Eprstmt => "eprstmt_predict.json",
            FewClueTask::Chid => "chidf_predict.json",
        },
        _ => return None,
    })
}

impl ClueSubmission {
    /// The submission of `split` of `suite` read with `template`: `None` unless the split's
    /// answers are withheld. `items` are every item loaded from the test file (not only
    /// those a limit keeps: the file needs a line for each record) and `left_out` the
    /// records left out of it.
    ///
    /// # Errors
    /// [`SuiteError::UnknownTemplate`]; a malformed-record error for an item whose
    /// labels the template cannot show, or whose readings name another label than the
    /// other items'.
    pub fn for_split(
        suite: TaskSuite,
        split: &str,
        template: &str,
        items: &[EvalItem],
        left_out: &[LeftOut],
    ) -> Result<Option<ClueSubmission>, SuiteError> {
        let Some(file_name) = file_name(suite).filter(|_| suite.answers_hidden(split)) else {
            return Ok(None);
        };
        let chid = suite == TaskSuite::FewClue(FewClueTask::Chid);
        let value_of = |label: &str| match label.parse::<u64>() {
            // chid names the candidate by its index, a number.
            Ok(index) if chid => Value::from(index),
            _ => Value::from(label),
        };
        let mut labels: BTreeMap<String, Value> = BTreeMap::new();
        let mut lines: Vec<(u64, SubmissionRecord)> = Vec::with_capacity(items.len());
        for item in items {
            for (reading, label) in prediction_labels(template, item)? {
                let value = value_of(&label);
                match labels.get(&reading) {
                    Some(known) if *known != value => {
                        return Err(item.source.malformed(format!(
                            "the reading `{reading}` names label {value} here but {known} in earlier records"
                        )));
                    }
                    Some(_) => {}
                    None => {
                        labels.insert(reading, value);
                    }
                }
            }
            lines.push((
                item.source.line.unwrap_or(u64::MAX),
                SubmissionRecord {
                    item: Some(item.id.clone()),
                    id: id_value(record_id(&item.id)),
                },
            ));
        }
        for record in left_out {
            let line = record
                .record
                .strip_prefix("line ")
                .and_then(|line| line.parse().ok())
                .unwrap_or(u64::MAX);
            lines.push((
                line,
                SubmissionRecord {
                    item: None,
                    id: Value::Null,
                },
            ));
        }
        // File order: the scorer compares line by line.
        lines.sort_by_key(|(line, _)| *line);
        Ok(Some(ClueSubmission {
            file_name: file_name.to_string(),
            field: if chid { "answer" } else { "label" }.to_string(),
            labels,
            missing: if chid {
                Value::from(-1)
            } else {
                Value::from("")
            },
            records: lines.into_iter().map(|(_, record)| record).collect(),
        }))
    }

    /// The file, from `predictions`: item id → the reading of its reply (the stored
    /// extraction of an `answered` item). Records without one get [`Self::missing`].
    pub fn render(&self, predictions: &BTreeMap<String, String>) -> RenderedSubmission {
        let mut content = String::new();
        let mut answered = 0;
        for record in &self.records {
            let value = record
                .item
                .as_ref()
                .and_then(|item| predictions.get(item))
                .and_then(|reading| self.labels.get(reading));
            if value.is_some() {
                answered += 1;
            }
            // `{"id": 0, "label": "0"}`: the field order and spacing of CLUE's examples.
            content.push_str(&format!(
                "{{\"id\": {}, \"{}\": {}}}\n",
                record.id,
                self.field,
                value.unwrap_or(&self.missing)
            ));
        }
        RenderedSubmission {
            content: content.into_bytes(),
            answered,
            lines: self.records.len(),
        }
    }
}

/// The test file's record id inside an item id (`test/17`, `tnews/test/17`, and
/// `…/17@line 9` for a repeated id).
fn record_id(item_id: &str) -> &str {
    let without_position = item_id.split('@').next().unwrap_or(item_id);
    without_position
        .rsplit('/')
        .next()
        .unwrap_or(without_position)
}

/// A record id as JSON: a number when it is an integer, as the files write them.
fn id_value(id: &str) -> Value {
    match id.parse::<i64>() {
        Ok(number) if number.to_string() == id => Value::from(number),
        _ => Value::from(id),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::formats::{fewclue, ocnli};
    use crate::left_out::{Intake, RecordPolicy};

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    #[test]
    fn ocnli_readings_follow_the_prompt_and_lines_follow_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("test.json");
        // Ids out of order and a broken record in the middle: the lines keep file order
        // and the broken record keeps its line.
        write(
            &path,
            concat!(
                "{\"sentence1\": \"他在看书。\", \"sentence2\": \"他在阅读。\", \"id\": 7}\n",
                "{\"sentence1\": \"天下雨了。\", \"id\": 3}\n",
                "{\"sentence1\": \"天下雨了。\", \"sentence2\": \"地是干的。\", \"id\": 2}\n",
            ),
        );
        let mut intake = Intake::new(RecordPolicy::LeaveOut);
        let items = ocnli::load_withheld_with(&path, &mut intake).expect("loads");
        assert_eq!(items.len(), 2);
        let left_out = intake.into_left_out();
        assert_eq!(left_out.len(), 1);
        let submission = ClueSubmission::for_split(
            TaskSuite::Ocnli,
            "test",
            "clue_ocnli_gen_c4cb6c",
            &items,
            &left_out,
        )
        .expect("builds")
        .expect("a hidden split");
        assert_eq!(submission.file_name, "ocnli_50k_predict.json");
        // The prompt shows 蕴含 A, 矛盾 B, 无关 C.
        let labels: Vec<(&str, &Value)> = submission
            .labels
            .iter()
            .map(|(reading, label)| (reading.as_str(), label))
            .collect();
        assert_eq!(
            labels,
            vec![
                ("A", &Value::from("entailment")),
                ("B", &Value::from("contradiction")),
                ("C", &Value::from("neutral")),
            ]
        );
        let predictions = BTreeMap::from([
            ("test/7".to_string(), "B".to_string()),
            ("test/2".to_string(), "C".to_string()),
        ]);
        let rendered = submission.render(&predictions);
        assert_eq!(
            String::from_utf8(rendered.content).expect("utf-8"),
            "{\"id\": 7, \"label\": \"contradiction\"}\n{\"id\": null, \"label\": \"\"}\n{\"id\": 2, \"label\": \"neutral\"}\n"
        );
        assert_eq!((rendered.answered, rendered.lines), (2, 3));
        // A labelled split has no submission.
        assert_eq!(
            ClueSubmission::for_split(
                TaskSuite::Ocnli,
                "dev",
                "clue_ocnli_gen_c4cb6c",
                &items,
                &[]
            )
            .expect("no error"),
            None
        );
    }

    #[test]
    fn fewclue_tasks_write_their_own_labels() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        // tnews's 15 labels: the template shows every one of them.
        let tnews_labels: String = [
            ("100", "news_story"),
            ("101", "news_culture"),
            ("102", "news_entertainment"),
            ("103", "news_sports"),
            ("104", "news_finance"),
            ("106", "news_house"),
            ("107", "news_car"),
            ("108", "news_edu"),
            ("109", "news_tech"),
            ("110", "news_military"),
            ("112", "news_travel"),
            ("113", "news_world"),
            ("114", "news_stock"),
            ("115", "news_agriculture"),
            ("116", "news_game"),
        ]
        .iter()
        .map(|(label, desc)| {
            format!(
                "{{\"label\": \"{label}\", \"label_desc\": \"{desc}\", \"label_zh\": \"{desc}\"}}\n"
            )
        })
        .collect();
        write(
            &root.join("tnews").join(fewclue::TNEWS_LABEL_FILE),
            &tnews_labels,
        );
        write(
            &root.join("tnews/test.json"),
            "{\"id\": 0, \"sentence\": \"球队夺冠\", \"keywords\": \"\"}\n",
        );
        write(
            &root.join("chid/test.json"),
            "{\"id\": 3000, \"candidates\": [\"甲\", \"乙\", \"丙\", \"丁\", \"戊\", \"己\", \"庚\"], \"content\": \"#idiom#。\"}\n",
        );
        write(
            &root.join("iflytek/test.json"),
            "{\"id\": 5, \"sentence\": \"一款射击手游\"}\n",
        );
        write(
            &root.join("eprstmt/test.json"),
            "{\"id\": 111, \"sentence\": \"很好用\"}\n",
        );
        let load = |task: FewClueTask| {
            let mut intake = Intake::new(RecordPolicy::Refuse);
            let path = root.join(task.as_str()).join("test.json");
            fewclue::load_withheld_with(task, &path, &mut intake).expect("loads")
        };
        let file = |task: FewClueTask, template: &str, reading: &str| {
            let items = load(task);
            let submission =
                ClueSubmission::for_split(TaskSuite::FewClue(task), "test", template, &items, &[])
                    .expect("builds")
                    .expect("hidden");
            let predictions = BTreeMap::from([(items[0].id.clone(), reading.to_string())]);
            (
                submission.file_name.clone(),
                String::from_utf8(submission.render(&predictions).content).expect("utf-8"),
            )
        };
        // tnews's prompt lists 体育类别新闻 fifth (E); its submission names label 103.
        assert_eq!(
            file(FewClueTask::Tnews, "fewclue_tnews_gen_b90e4a", "E"),
            (
                "tnewsf_predict.json".to_string(),
                "{\"id\": 0, \"label\": \"103\"}\n".to_string()
            )
        );
        assert_eq!(
            file(FewClueTask::Chid, "fewclue_chid_gen_0a29a2", "D"),
            (
                "chidf_predict.json".to_string(),
                "{\"id\": 3000, \"answer\": 3}\n".to_string()
            )
        );
        assert_eq!(
            file(
                FewClueTask::Iflytek,
                "jianzhen_iflytek_labels_v1",
                "射击游戏"
            ),
            (
                "iflytekf_predict.json".to_string(),
                "{\"id\": 5, \"label\": \"16\"}\n".to_string()
            )
        );
        // eprstmt's prompt shows 积极 A, 消极 B.
        assert_eq!(
            file(FewClueTask::Eprstmt, "fewclue_eprstmt_gen_740ea0", "B"),
            (
                "eprstmt_predict.json".to_string(),
                "{\"id\": 111, \"label\": \"Negative\"}\n".to_string()
            )
        );
        // No prediction: chid's placeholder is an index that names no candidate.
        let items = load(FewClueTask::Chid);
        let submission = ClueSubmission::for_split(
            TaskSuite::FewClue(FewClueTask::Chid),
            "test",
            "fewclue_chid_gen_0a29a2",
            &items,
            &[],
        )
        .expect("builds")
        .expect("hidden");
        assert_eq!(
            String::from_utf8(submission.render(&BTreeMap::new()).content).expect("utf-8"),
            "{\"id\": 3000, \"answer\": -1}\n"
        );
    }

    #[test]
    fn record_ids_come_out_of_item_ids() {
        assert_eq!(record_id("test/17"), "17");
        assert_eq!(record_id("tnews/test/17@line 9"), "17");
        assert_eq!(id_value("17"), Value::from(17));
        assert_eq!(id_value("017"), Value::from("017"));
        assert_eq!(id_value("a-1"), Value::from("a-1"));
    }
}
