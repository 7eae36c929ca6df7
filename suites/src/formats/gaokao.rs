//! GAOKAO-Bench objective questions.
//!
//! Layout of a GAOKAO-Bench clone: `Data/Objective_Questions/{keyword}.json`, each one
//! document `{"keywords": "...", "example": [{"year", "category", "question", "answer",
//! "analysis", "index", "score"}, ...]}`, and `Bench/Obj_Prompt.json`, which gives each
//! file's question type (`single_choice`, `multi_choice`, `multi_question_choice`,
//! `five_out_of_seven`) and its instruction prompt.
//!
//! Quirks kept as published: the options are written inside `question`; `answer` is a
//! list of strings, one per sub-question, each a letter set (`["AC"]` for a multi-select
//! physics item, `["B", "C"]` for a two-question geography item); `index` is a number and
//! `score` (points per sub-answer) is a number, `1.5` for English fill-in-the-blanks.
//!
//! Items carry `fields`: `year`, `category`, `analysis` (the published solution) and
//! `prefix_prompt` (the file's instruction from `Obj_Prompt.json`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::SuiteError;
use crate::formats::json::{self, array, as_object, number, scalar_text, string};
use crate::formats::score::parse_letter_answer;
use crate::formats::{EvalItem, ItemKind, Options, RecordSource, make_ids_unique};
use crate::left_out::{Intake, RecordPolicy};

/// Where the objective question files live in a GAOKAO-Bench clone.
pub const OBJECTIVE_DIR: &str = "Data/Objective_Questions";
/// Where the question types and prompts live in a GAOKAO-Bench clone.
pub const PROMPT_FILE: &str = "Bench/Obj_Prompt.json";

/// A file's question type, as `Obj_Prompt.json` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionType {
    /// One letter among A-D.
    SingleChoice,
    /// A letter set among A-D, half credit for a correct subset (physics).
    MultiChoice,
    /// Several sub-questions, one letter among A-D each.
    MultiQuestionChoice,
    /// English seven-choose-five cloze: five letters among A-G.
    FiveOutOfSeven,
}

impl QuestionType {
    fn option_count(self) -> usize {
        match self {
            QuestionType::FiveOutOfSeven => 7,
            _ => 4,
        }
    }
}

impl FromStr for QuestionType {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "single_choice" => Ok(QuestionType::SingleChoice),
            "multi_choice" => Ok(QuestionType::MultiChoice),
            "multi_question_choice" => Ok(QuestionType::MultiQuestionChoice),
            "five_out_of_seven" => Ok(QuestionType::FiveOutOfSeven),
            other => Err(format!(
                "question type `{other}` is not an objective type this loader reads \
                 (single_choice, multi_choice, multi_question_choice, five_out_of_seven)"
            )),
        }
    }
}

/// One file's entry in `Obj_Prompt.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePrompt {
    pub question_type: QuestionType,
    pub prefix_prompt: String,
}

/// Reads `Obj_Prompt.json`: file keyword → question type and prompt.
///
/// # Errors
/// [`SuiteError::Io`], [`SuiteError::Malformed`] for invalid JSON and
/// [`SuiteError::MalformedRecord`] for an entry without `keyword` or with an unknown type.
pub fn read_prompts(path: &Path) -> Result<BTreeMap<String, FilePrompt>, SuiteError> {
    let document = json::read_document(path)?;
    let top = RecordSource::at_record(path, "top level".to_string());
    let examples = array(as_object(&document, &top)?, "examples", &top)?;
    let mut prompts = BTreeMap::new();
    for (position, entry) in examples.iter().enumerate() {
        let source = RecordSource::at_record(path, format!("examples[{position}]"));
        let entry = as_object(entry, &source)?;
        let keyword = string(entry, "keyword", &source)?;
        let question_type = string(entry, "type", &source)?
            .parse()
            .map_err(|problem: String| source.malformed(problem))?;
        let prefix_prompt = string(entry, "prefix_prompt", &source)?;
        prompts.insert(
            keyword,
            FilePrompt {
                question_type,
                prefix_prompt,
            },
        );
    }
    Ok(prompts)
}

/// Loads every objective question file of a GAOKAO-Bench clone at `root`, in file name
/// order.
///
/// # Errors
/// As [`read_prompts`] and [`load_file`]; [`SuiteError::MissingSplit`] when
/// `Data/Objective_Questions` is absent, [`SuiteError::MalformedRecord`] naming a data
/// file that `Obj_Prompt.json` gives no type for.
pub fn load_objective(root: &Path) -> Result<Vec<EvalItem>, SuiteError> {
    load_objective_with(root, &mut Intake::new(RecordPolicy::Refuse))
}

/// [`load_objective`], passing each question through `intake` (left out or refused).
///
/// # Errors
/// As [`load_objective`] for whole-file problems; a record's problem under
/// [`RecordPolicy::Refuse`]; [`SuiteError::NothingReadable`].
pub fn load_objective_with(root: &Path, intake: &mut Intake) -> Result<Vec<EvalItem>, SuiteError> {
    let prompts = read_prompts(&root.join(PROMPT_FILE))?;
    let directory = root.join(OBJECTIVE_DIR);
    if !directory.is_dir() {
        return Err(SuiteError::MissingSplit {
            path: directory,
            split: "Objective_Questions".to_string(),
            expected_layout: format!(
                "a GAOKAO-Bench clone at {} with `{OBJECTIVE_DIR}/*.json` and `{PROMPT_FILE}`",
                root.display()
            ),
        });
    }
    let mut paths = Vec::new();
    let entries = std::fs::read_dir(&directory).map_err(|source| SuiteError::Io {
        path: directory.clone(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| SuiteError::Io {
            path: directory.clone(),
            source,
        })?;
        let path = entry.path();
        let hidden = path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with('.'));
        if path
            .extension()
            .is_some_and(|extension| extension == "json")
            && !hidden
        {
            paths.push(path);
        }
    }
    paths.sort();
    let mut items = Vec::new();
    for path in paths {
        let keyword = json::file_stem(&path);
        let prompt = prompts
            .get(&keyword)
            .ok_or_else(|| SuiteError::MalformedRecord {
                path: path.clone(),
                record: "whole file".to_string(),
                problem: format!(
                    "{PROMPT_FILE} gives no question type for `{keyword}`; add an entry with \
                 this keyword or move the file out of {OBJECTIVE_DIR}"
                ),
            })?;
        items.extend(load_file_with(&path, prompt, intake)?);
    }
    make_ids_unique(&mut items);
    Ok(items)
}

/// Loads one objective question file, whose items are all of `prompt.question_type`.
///
/// # Errors
/// [`SuiteError::Io`], [`SuiteError::Malformed`] for invalid JSON,
/// [`SuiteError::MalformedRecord`] naming `example[i]` for a record without its fields or
/// with an answer that is not a letter set the type allows.
pub fn load_file(path: &Path, prompt: &FilePrompt) -> Result<Vec<EvalItem>, SuiteError> {
    load_file_with(path, prompt, &mut Intake::new(RecordPolicy::Refuse))
}

/// [`load_file`], passing each question through `intake` (left out or refused).
///
/// # Errors
/// As [`load_file`] for whole-file problems; a record's problem under
/// [`RecordPolicy::Refuse`]; [`SuiteError::NothingReadable`].
pub fn load_file_with(
    path: &Path,
    prompt: &FilePrompt,
    intake: &mut Intake,
) -> Result<Vec<EvalItem>, SuiteError> {
    let document = json::read_document(path)?;
    let top = RecordSource::at_record(path, "top level".to_string());
    let top_object = as_object(&document, &top)?;
    // Published files say `keywords`; a few forks say `keyword`.
    let keyword = match (top_object.get("keywords"), top_object.get("keyword")) {
        (Some(Value::String(keyword)), _) | (None, Some(Value::String(keyword))) => keyword.clone(),
        _ => json::file_stem(path),
    };
    let examples = array(top_object, "example", &top)?;
    let mut items = Vec::with_capacity(examples.len());
    for (position, example) in examples.iter().enumerate() {
        let source = RecordSource::at_record(path, format!("example[{position}]"));
        if let Some(item) =
            intake.take(read_example(example, &keyword, prompt, source), &keyword)?
        {
            items.push(item);
        }
    }
    intake.finish_file(path, items.len())?;
    Ok(items)
}

fn read_example(
    example: &Value,
    keyword: &str,
    prompt: &FilePrompt,
    source: RecordSource,
) -> Result<EvalItem, SuiteError> {
    let record = as_object(example, &source)?;
    let question = string(record, "question", &source)?;
    let index = scalar_text(record, "index", &source)?;
    let points = number(record, "score", &source)?;
    let option_count = prompt.question_type.option_count();
    let answers = json::strings(record, "answer", &source)?
        .iter()
        .enumerate()
        .map(|(position, answer)| {
            parse_letter_answer(answer)
                .filter(|letters| {
                    !letters.is_empty() && letters.iter().all(|letter| *letter < option_count)
                })
                .ok_or_else(|| {
                    source.malformed(format!(
                        "`answer[{position}]` is `{answer}`, not letters among the first \
                         {option_count}"
                    ))
                })
        })
        .collect::<Result<Vec<BTreeSet<usize>>, SuiteError>>()?;
    let options = Options::InQuestion {
        count: option_count,
    };
    let kind = match (prompt.question_type, answers.as_slice()) {
        (QuestionType::SingleChoice, [answer]) if answer.len() == 1 => ItemKind::SingleChoice {
            options,
            answer: answer.first().copied().unwrap_or_default(),
        },
        (QuestionType::SingleChoice, _) => {
            return Err(source.malformed(format!(
                "a single_choice item needs exactly one answer letter, found {answers:?}"
            )));
        }
        (QuestionType::MultiChoice, [answer]) => ItemKind::MultiChoice {
            options,
            answers: answer.clone(),
        },
        (QuestionType::MultiChoice, _) => {
            return Err(source.malformed(format!(
                "a multi_choice item needs exactly one answer entry, found {}",
                answers.len()
            )));
        }
        (QuestionType::MultiQuestionChoice | QuestionType::FiveOutOfSeven, []) => {
            return Err(source.malformed("`answer` is empty"));
        }
        (QuestionType::MultiQuestionChoice | QuestionType::FiveOutOfSeven, _) => {
            ItemKind::MultiQuestion { options, answers }
        }
    };
    let mut fields = BTreeMap::new();
    for key in ["year", "category", "analysis"] {
        if let Some(value) = json::optional_string(record, key, &source)? {
            fields.insert(key.to_string(), value);
        }
    }
    fields.insert("prefix_prompt".to_string(), prompt.prefix_prompt.clone());
    Ok(EvalItem {
        id: format!("{keyword}/{index}"),
        suite: "gaokao".to_string(),
        subject: keyword.to_string(),
        context: None,
        question,
        fields,
        kind,
        points: Some(points),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMPTS: &str = r#"{"examples": [
        {"type": "single_choice", "keyword": "2010-2022_Test_MCQs", "prefix_prompt": "请做单选题"},
        {"type": "multi_choice", "keyword": "2010-2022_Test_Multi", "prefix_prompt": "请做多选题", "comment": ""},
        {"type": "multi_question_choice", "keyword": "2010-2022_Test_Reading", "prefix_prompt": "请做阅读题"},
        {"type": "five_out_of_seven", "keyword": "2012-2022_Test_Cloze", "prefix_prompt": "七选五"}
    ]}"#;

    fn write_bench(files: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(root.path().join("Bench")).expect("mkdir");
        std::fs::create_dir_all(root.path().join(OBJECTIVE_DIR)).expect("mkdir");
        std::fs::write(root.path().join(PROMPT_FILE), PROMPTS).expect("write");
        for (name, text) in files {
            std::fs::write(root.path().join(OBJECTIVE_DIR).join(name), text).expect("write");
        }
        root
    }

    const SINGLE: &str = r#"{"keywords": "2010-2022_Test_MCQs", "example": [
        {"year": "2015", "category": "（新课标Ⅰ）", "question": "1．下列说法正确的是（　　）\nA．甲\nB．乙\nC．丙\nD．丁", "answer": ["B"], "analysis": "乙对。", "index": 0, "score": 5},
        {"year": "2016", "category": "（全国卷）", "question": "2．1+1=（　　）A．1 B．2 C．3 D．4", "answer": ["B"], "analysis": "", "index": 1, "score": 5}
    ]}"#;

    #[test]
    fn every_question_type_becomes_its_kind() {
        let root = write_bench(&[
            ("2010-2022_Test_MCQs.json", SINGLE),
            (
                "2010-2022_Test_Multi.json",
                r#"{"keywords": "2010-2022_Test_Multi", "example": [
                    {"year": "2019", "category": "（全国卷）", "question": "物理题 A．a B．b C．c D．d", "answer": ["AC"], "analysis": "", "index": 0, "score": 6}]}"#,
            ),
            (
                "2010-2022_Test_Reading.json",
                r#"{"keywords": "2010-2022_Test_Reading", "example": [
                    {"year": "2020", "category": "", "question": "阅读材料……1．… 2．… 3．…", "answer": ["A", "D", "C"], "analysis": "", "index": "7", "score": 2}]}"#,
            ),
            (
                "2012-2022_Test_Cloze.json",
                r#"{"keywords": "2012-2022_Test_Cloze", "example": [
                    {"year": "2021", "category": "", "question": "Passage ... A. x B. y ... G. z", "answer": ["G", "A", "C", "E", "B"], "analysis": "", "index": 0, "score": 2}]}"#,
            ),
        ]);
        let items = load_objective(root.path()).expect("fixture loads");
        assert_eq!(items.len(), 5);
        // Files load in name order: MCQs (2 items), Multi, Reading, Cloze.
        let kinds: Vec<&ItemKind> = items.iter().map(|item| &item.kind).collect();
        assert_eq!(
            kinds[0],
            &ItemKind::SingleChoice {
                options: Options::InQuestion { count: 4 },
                answer: 1,
            }
        );
        assert_eq!(
            kinds[2],
            &ItemKind::MultiChoice {
                options: Options::InQuestion { count: 4 },
                answers: BTreeSet::from([0, 2]),
            }
        );
        assert_eq!(
            kinds[3],
            &ItemKind::MultiQuestion {
                options: Options::InQuestion { count: 4 },
                answers: vec![
                    BTreeSet::from([0]),
                    BTreeSet::from([3]),
                    BTreeSet::from([2])
                ],
            }
        );
        assert!(matches!(
            kinds[4],
            ItemKind::MultiQuestion { options: Options::InQuestion { count: 7 }, answers } if answers.len() == 5
        ));
        let first_single = &items[0];
        assert_eq!(first_single.id, "2010-2022_Test_MCQs/0");
        assert_eq!(first_single.points, Some(5.0));
        assert_eq!(first_single.fields["prefix_prompt"], "请做单选题");
        assert_eq!(first_single.fields["year"], "2015");
        assert!(
            first_single.question.contains("D．丁"),
            "question kept as published"
        );
        assert_eq!(items[3].id, "2010-2022_Test_Reading/7");
    }

    #[test]
    fn malformed_records_name_the_file_and_record() {
        let root = write_bench(&[(
            "2010-2022_Test_MCQs.json",
            r#"{"keywords": "2010-2022_Test_MCQs", "example": [
                {"year": "2015", "question": "q", "answer": ["B"], "index": 0, "score": 5},
                {"year": "2015", "question": "q", "answer": ["E"], "index": 1, "score": 5}]}"#,
        )]);
        let error = load_objective(root.path())
            .expect_err("E is not A-D")
            .to_string();
        assert!(
            error.contains("2010-2022_Test_MCQs.json: example[1]: `answer[0]` is `E`"),
            "{error}"
        );
        assert!(error.ends_with("fix or remove this record"), "{error}");

        let root = write_bench(&[(
            "2010-2022_Test_MCQs.json",
            r#"{"keywords": "2010-2022_Test_MCQs", "example": [{"question": "q", "answer": ["A", "B"], "index": 0, "score": 5}]}"#,
        )]);
        let error = load_objective(root.path())
            .expect_err("two answers")
            .to_string();
        assert!(
            error.contains("example[0]: a single_choice item needs exactly one"),
            "{error}"
        );

        let root = write_bench(&[("2010-2022_Unknown.json", SINGLE)]);
        let error = load_objective(root.path())
            .expect_err("no prompt entry")
            .to_string();
        assert!(
            error.contains("gives no question type for `2010-2022_Unknown`"),
            "{error}"
        );

        let root = write_bench(&[(
            "2010-2022_Test_MCQs.json",
            "{\"example\": [\n{\"question\": }\n]}",
        )]);
        let error = load_objective(root.path())
            .expect_err("bad JSON")
            .to_string();
        assert!(
            error.contains("2010-2022_Test_MCQs.json:2: not valid JSON"),
            "{error}"
        );
    }

    #[test]
    fn missing_layout_is_explained() {
        let root = tempfile::tempdir().expect("temp dir");
        let error = load_objective(root.path())
            .expect_err("empty dir")
            .to_string();
        assert!(error.contains("Bench/Obj_Prompt.json"), "{error}");
    }
}
