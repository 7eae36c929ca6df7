//! The suites read by [`crate::formats`] as runnable suites: where each one's files are
//! under the folder the user names, its splits, its prompt templates
//! ([`prompts`]) and how its replies are graded ([`grade`]).
//!
//! | suite | `--data` | splits | items |
//! |---|---|---|---|
//! | `gaokao` | GAOKAO-Bench clone (`Data/Objective_Questions`, `Bench/Obj_Prompt.json`) | `objective` | choice, multi-select, multi-question |
//! | `agieval` | folder of AGIEval `*.jsonl` (the Chinese subsets present are read) | `test` | choice, multi-select, cloze |
//! | `c3` | C3 `data/` | `dev`, `test`, `train` | choice |
//! | `cmrc2018` | CMRC2018 `squad-style-data/` or `data/` | `dev`, `trial`, `train` | span |
//! | `ocnli` | OCNLI `data/ocnli/` | `dev`, `train.3k`, ..., `test` (hidden) | choice (label `-` dropped) |
//! | `fewclue_TASK` | FewCLUE `datasets/` | `test_public`, `dev_few_all`, `test` (hidden) | choice; iflytek and csldcp: label |
//!
//! OCNLI's and FewCLUE's `test` split withholds its labels ([`TaskSuite::answers_hidden`]):
//! its items are [`ItemKind::Withheld`], answered as predictions for CLUE's leaderboards
//! and written in their submission format ([`submission`]).
//! | `simpleqa` | Chinese SimpleQA `data/` | `test` | free text |
//! | `cmath` | CMATH `datasets/` | `dev`, `test` | number |

pub mod grade;
pub mod judge;
pub mod prompts;
pub mod submission;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::error::SuiteError;
use crate::formats::fewclue::{self, FewClueTask};
use crate::formats::{
    EvalItem, ItemKind, Options, agieval, c3, cmath, cmrc2018, gaokao, letter, ocnli, simpleqa,
};
use crate::left_out::{Intake, LeftOut, RecordPolicy};
use crate::load::DataFileDigest;
use grade::{AnswerKind, encode_letter_sets, letters_of};

/// The AGIEval subsets in Chinese, read when present in the data folder.
pub const AGIEVAL_CHINESE_SUBSETS: [&str; 12] = [
    "gaokao-chinese",
    "gaokao-english",
    "gaokao-geography",
    "gaokao-history",
    "gaokao-biology",
    "gaokao-chemistry",
    "gaokao-physics",
    "gaokao-mathqa",
    "logiqa-zh",
    "jec-qa-kd",
    "jec-qa-ca",
    "gaokao-mathcloze",
];

/// A suite loaded through [`crate::formats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskSuite {
    Gaokao,
    Agieval,
    C3,
    Cmrc2018,
    Ocnli,
    FewClue(FewClueTask),
    SimpleQa,
    Cmath,
}

impl TaskSuite {
    /// Every task suite, in listing order.
    pub fn all() -> Vec<TaskSuite> {
        let mut suites = vec![
            TaskSuite::Gaokao,
            TaskSuite::Agieval,
            TaskSuite::C3,
            TaskSuite::Cmrc2018,
            TaskSuite::Ocnli,
        ];
        suites.extend(FewClueTask::ALL.map(TaskSuite::FewClue));
        suites.extend([TaskSuite::SimpleQa, TaskSuite::Cmath]);
        suites
    }

    /// The suite's name in specs, results and reports.
    pub fn name(self) -> String {
        match self {
            TaskSuite::Gaokao => "gaokao".to_string(),
            TaskSuite::Agieval => "agieval".to_string(),
            TaskSuite::C3 => "c3".to_string(),
            TaskSuite::Cmrc2018 => "cmrc2018".to_string(),
            TaskSuite::Ocnli => "ocnli".to_string(),
            TaskSuite::FewClue(task) => format!("fewclue_{task}"),
            TaskSuite::SimpleQa => "simpleqa".to_string(),
            TaskSuite::Cmath => "cmath".to_string(),
        }
    }

    pub fn default_split(self) -> &'static str {
        match self {
            TaskSuite::Gaokao => "objective",
            TaskSuite::Agieval | TaskSuite::SimpleQa => "test",
            TaskSuite::FewClue(_) => "test_public",
            TaskSuite::C3 | TaskSuite::Cmrc2018 | TaskSuite::Ocnli | TaskSuite::Cmath => "dev",
        }
    }

    /// Whether the benchmark withholds the answers of `split`: OCNLI's and FewCLUE's
    /// `test.json`, which their leaderboards score. Such a split is read without labels
    /// and run as predictions, never scored here.
    pub fn answers_hidden(self, split: &str) -> bool {
        matches!(self, TaskSuite::Ocnli | TaskSuite::FewClue(_)) && split == "test"
    }

    /// The category a subject of this suite counts in, in C-Eval's four (STEM, Social
    /// Science, Humanities, Other) where the subject is an exam subject, as C-Eval files
    /// them: mathematics and the sciences are STEM; geography and politics Social
    /// Science; history, Chinese, English, law (JEC-QA) and logic (LogiQA) Humanities.
    /// CLUE's reading and inference tasks are `Language understanding`; Chinese
    /// SimpleQA's subjects are its own published primary categories and stay so.
    pub fn category(self, subject: &str) -> String {
        match self {
            TaskSuite::Gaokao | TaskSuite::Agieval => exam_category(subject).to_string(),
            TaskSuite::Cmath => "STEM".to_string(),
            TaskSuite::C3 | TaskSuite::Cmrc2018 | TaskSuite::Ocnli | TaskSuite::FewClue(_) => {
                "Language understanding".to_string()
            }
            TaskSuite::SimpleQa if !subject.trim().is_empty() => subject.to_string(),
            TaskSuite::SimpleQa => "Other".to_string(),
        }
    }

    /// What `--data` should point at, for messages and `suites list`.
    pub fn expected_layout(self) -> &'static str {
        match self {
            TaskSuite::Gaokao => {
                "a GAOKAO-Bench clone holding Data/Objective_Questions/*.json and Bench/Obj_Prompt.json"
            }
            TaskSuite::Agieval => "a folder of AGIEval files such as logiqa-zh.jsonl",
            TaskSuite::C3 => "C3's data/ folder with c3-d-{split}.json and c3-m-{split}.json",
            TaskSuite::Cmrc2018 => {
                "CMRC2018's squad-style-data/ (or data/) folder with cmrc2018_{split}.json"
            }
            TaskSuite::Ocnli => "OCNLI's data/ocnli/ folder with {split}.json",
            TaskSuite::FewClue(_) => "FewCLUE's datasets/ folder with {task}/{split}.json",
            TaskSuite::SimpleQa => "Chinese SimpleQA's data/ folder with chinese_simpleqa.jsonl",
            TaskSuite::Cmath => "CMATH's datasets/ folder with cmath_{split}.jsonl",
        }
    }
}

/// The C-Eval category of a GAOKAO-Bench or AGIEval subject, by the exam subject its
/// file key names (`2010-2022_Physics_MCQs`, `gaokao-geography`, `jec-qa-kd`).
fn exam_category(subject: &str) -> &'static str {
    let key = subject.to_ascii_lowercase();
    let names = |words: &[&str]| words.iter().any(|word| key.contains(word));
    if names(&["math", "physics", "chemistry", "biology"]) {
        return "STEM";
    }
    if names(&["geography", "political"]) {
        return "Social Science";
    }
    if names(&["history", "chinese", "english", "jec-qa", "logiqa"]) {
        return "Humanities";
    }
    "Other"
}

impl fmt::Display for TaskSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for TaskSuite {
    type Err = SuiteError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let key = name.to_ascii_lowercase().replace('-', "_");
        let suite = match key.as_str() {
            "gaokao" | "gaokao_bench" | "gaokaobench" => TaskSuite::Gaokao,
            "agieval" => TaskSuite::Agieval,
            "c3" | "clue_c3" => TaskSuite::C3,
            "cmrc2018" | "cmrc" | "clue_cmrc2018" => TaskSuite::Cmrc2018,
            "ocnli" | "clue_ocnli" => TaskSuite::Ocnli,
            "simpleqa" | "chinese_simpleqa" => TaskSuite::SimpleQa,
            "cmath" => TaskSuite::Cmath,
            other => match other.strip_prefix("fewclue_") {
                Some(task) => {
                    TaskSuite::FewClue(task.parse().map_err(|_| SuiteError::UnknownSuite {
                        name: name.to_string(),
                    })?)
                }
                None => {
                    return Err(SuiteError::UnknownSuite {
                        name: name.to_string(),
                    });
                }
            },
        };
        Ok(suite)
    }
}

/// Every task suite's name, comma-separated, for messages.
pub fn known_task_names() -> String {
    TaskSuite::all()
        .into_iter()
        .map(TaskSuite::name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A task suite's items as loaded, with every file read and what was left out.
#[derive(Debug, Clone)]
pub struct TaskLoad {
    pub suite: TaskSuite,
    pub split: String,
    pub items: Vec<EvalItem>,
    /// Every file read, with its hash and the number of items it gave.
    pub files: Vec<DataFileDigest>,
    /// Records left out, with file (relative to the data folder), record, subject and
    /// reason: the suite's own rules (OCNLI's label `-`) and records that cannot become an
    /// item (under [`RecordPolicy::LeaveOut`]).
    pub left_out: Vec<LeftOut>,
}

impl TaskLoad {
    /// Keeps the items of `subjects` only; empty keeps all.
    ///
    /// # Errors
    /// [`SuiteError::UnknownSubject`] for a subject no item has, listing those they have.
    pub fn keep_subjects(&mut self, subjects: &[String]) -> Result<(), SuiteError> {
        if subjects.is_empty() {
            return Ok(());
        }
        let available: std::collections::BTreeSet<&str> = self
            .items
            .iter()
            .map(|item| item.subject.as_str())
            .collect();
        let available: Vec<String> = available.into_iter().map(str::to_string).collect();
        crate::load::require_known_subjects(&self.suite.name(), &self.split, subjects, &available)?;
        self.items.retain(|item| subjects.contains(&item.subject));
        self.left_out
            .retain(|record| subjects.contains(&record.subject));
        Ok(())
    }
}

/// Loads `split` of `suite` from `data_dir`, refusing any record that cannot become an
/// item (as `--strict`).
///
/// # Errors
/// As [`load_task_with`] under [`RecordPolicy::Refuse`].
pub fn load_task(suite: TaskSuite, data_dir: &Path, split: &str) -> Result<TaskLoad, SuiteError> {
    load_task_with(suite, data_dir, split, RecordPolicy::Refuse)
}

/// Loads `split` of `suite` from `data_dir`; records that cannot become an item are left
/// out (named in [`TaskLoad::left_out`]) or refused, as `policy` says.
///
/// # Errors
/// [`SuiteError::MissingSplit`] when the split's files are not where the suite keeps
/// them; the loaders' errors, which name the file and line or record.
pub fn load_task_with(
    suite: TaskSuite,
    data_dir: &Path,
    split: &str,
    policy: RecordPolicy,
) -> Result<TaskLoad, SuiteError> {
    let missing = |path: PathBuf| SuiteError::MissingTaskFile {
        suite: suite.name(),
        split: split.to_string(),
        path,
        expected_layout: suite.expected_layout().to_string(),
    };
    let require = |path: PathBuf| {
        if path.is_file() {
            Ok(path)
        } else {
            Err(missing(path))
        }
    };
    let mut extra_files = Vec::new();
    let mut intake = Intake::new(policy);
    let items = match suite {
        TaskSuite::Gaokao => {
            if split != "objective" {
                return Err(missing(data_dir.join(gaokao::OBJECTIVE_DIR)));
            }
            extra_files.push(require(data_dir.join(gaokao::PROMPT_FILE))?);
            gaokao::load_objective_with(data_dir, &mut intake)?
        }
        TaskSuite::Agieval => {
            let mut items = Vec::new();
            let mut read_any = false;
            for subset in AGIEVAL_CHINESE_SUBSETS {
                let path = data_dir.join(format!("{subset}.jsonl"));
                if path.is_file() {
                    read_any = true;
                    items.extend(agieval::load_file_with(&path, &mut intake)?);
                }
            }
            if !read_any {
                return Err(missing(data_dir.join("logiqa-zh.jsonl")));
            }
            items
        }
        TaskSuite::C3 => {
            for subset in c3::SUBSETS {
                require(data_dir.join(format!("{subset}-{split}.json")))?;
            }
            c3::load_split_with(data_dir, split, &mut intake)?
        }
        TaskSuite::Cmrc2018 => cmrc2018::load_file_with(
            &require(data_dir.join(format!("cmrc2018_{split}.json")))?,
            &mut intake,
        )?,
        TaskSuite::Ocnli if suite.answers_hidden(split) => ocnli::load_withheld_with(
            &require(data_dir.join(format!("{split}.json")))?,
            &mut intake,
        )?,
        TaskSuite::Ocnli => ocnli::load_file_with(
            &require(data_dir.join(format!("{split}.json")))?,
            &mut intake,
        )?,
        TaskSuite::FewClue(task) => {
            let path = require(data_dir.join(task.as_str()).join(format!("{split}.json")))?;
            let folder = data_dir.join(task.as_str());
            match task {
                FewClueTask::Tnews => extra_files.push(folder.join(fewclue::TNEWS_LABEL_FILE)),
                FewClueTask::Csldcp => extra_files.push(folder.join(fewclue::CSLDCP_LABEL_FILE)),
                _ => {}
            }
            if suite.answers_hidden(split) {
                fewclue::load_withheld_with(task, &path, &mut intake)?
            } else {
                fewclue::load_file_with(task, &path, &mut intake)?
            }
        }
        TaskSuite::SimpleQa => simpleqa::load_file_with(
            &require(data_dir.join("chinese_simpleqa.jsonl"))?,
            &mut intake,
        )?,
        TaskSuite::Cmath => cmath::load_file_with(
            &require(data_dir.join(format!("cmath_{split}.jsonl")))?,
            &mut intake,
        )?,
    };
    let mut left_out = intake.into_left_out();
    // A file whose every record was left out is not hashed by item source; hash it too,
    // since what was left out depends on its bytes.
    for record in &left_out {
        let path = PathBuf::from(&record.file);
        if !extra_files.contains(&path) {
            extra_files.push(path);
        }
    }
    let files = digests(data_dir, &items, &extra_files)?;
    crate::left_out::relativize(&mut left_out, data_dir);
    Ok(TaskLoad {
        suite,
        split: split.to_string(),
        items,
        files,
        left_out,
    })
}

/// Hashes every file the items came from, plus the auxiliary files (prompt and label
/// files), sorted by path relative to `data_dir`.
fn digests(
    data_dir: &Path,
    items: &[EvalItem],
    extra_files: &[PathBuf],
) -> Result<Vec<DataFileDigest>, SuiteError> {
    let mut counts: std::collections::BTreeMap<PathBuf, usize> = Default::default();
    for item in items {
        *counts.entry(item.source.path.clone()).or_insert(0) += 1;
    }
    for path in extra_files {
        counts.entry(path.clone()).or_insert(0);
    }
    let mut files = Vec::with_capacity(counts.len());
    for (path, rows) in counts {
        let bytes = std::fs::read(&path).map_err(|source| SuiteError::Io {
            path: path.clone(),
            source,
        })?;
        let relative = path.strip_prefix(data_dir).unwrap_or(&path);
        files.push(DataFileDigest {
            relative_path: relative.to_string_lossy().replace('\\', "/"),
            sha256: hex::encode(Sha256::digest(&bytes)),
            rows,
        });
    }
    Ok(files)
}

/// How one item is graded: its kind, its gold answer as that kind writes it, and its
/// option texts (blank where the options are inside the question).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemGold {
    pub kind: AnswerKind,
    pub gold: String,
    pub options: Vec<String>,
}

/// The grading of `item`. Choice items with more options than letters (FewCLUE iflytek's
/// 119 labels, csldcp's 67) are answered by label name.
pub fn item_gold(item: &EvalItem) -> ItemGold {
    let option_texts = |options: &Options| match options {
        Options::Listed(texts) => texts.clone(),
        Options::InQuestion { count } => vec![String::new(); *count],
    };
    match &item.kind {
        ItemKind::SingleChoice { options, answer } => {
            let texts = option_texts(options);
            match letter(*answer).filter(|_| texts.len() <= 26) {
                Some(letter) => ItemGold {
                    kind: AnswerKind::Choice,
                    gold: letter.to_string(),
                    options: texts,
                },
                None => ItemGold {
                    kind: AnswerKind::Label,
                    gold: texts.get(*answer).cloned().unwrap_or_default(),
                    options: texts,
                },
            }
        }
        ItemKind::MultiChoice { options, answers } => ItemGold {
            kind: AnswerKind::MultiChoice,
            gold: letters_of(answers),
            options: option_texts(options),
        },
        ItemKind::MultiQuestion { options, answers } => ItemGold {
            kind: AnswerKind::MultiQuestion,
            gold: encode_letter_sets(answers),
            options: option_texts(options),
        },
        ItemKind::Span { answers } => ItemGold {
            kind: AnswerKind::Span,
            gold: serde_json::Value::from(answers.clone()).to_string(),
            options: Vec::new(),
        },
        ItemKind::Numeric { answer } => ItemGold {
            kind: AnswerKind::Numeric,
            gold: answer.clone(),
            options: Vec::new(),
        },
        ItemKind::FreeText { answers } => ItemGold {
            kind: AnswerKind::FreeText,
            gold: serde_json::Value::from(answers.clone()).to_string(),
            options: Vec::new(),
        },
        // No gold: the reply is a prediction, read as a letter or (past 26 options) a
        // label name, as the item would be graded.
        ItemKind::Withheld { options, .. } => {
            let texts = option_texts(options);
            ItemGold {
                kind: if texts.len() <= 26 {
                    AnswerKind::Choice
                } else {
                    AnswerKind::Label
                },
                gold: String::new(),
                options: texts,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exam_subjects_fall_in_c_eval_s_categories() {
        let gaokao = [
            ("2010-2022_Math_I_MCQs", "STEM"),
            ("2010-2022_Biology_MCQs", "STEM"),
            ("2010-2022_Political_Science_MCQs", "Social Science"),
            ("2010-2022_Geography_MCQs", "Social Science"),
            ("2010-2022_History_MCQs", "Humanities"),
            ("2010-2022_Chinese_Modern_Lit", "Humanities"),
            ("2012-2022_English_Cloze_Test", "Humanities"),
        ];
        for (subject, category) in gaokao {
            assert_eq!(TaskSuite::Gaokao.category(subject), category, "{subject}");
        }
        let agieval = [
            ("gaokao-mathcloze", "STEM"),
            ("gaokao-physics", "STEM"),
            ("gaokao-geography", "Social Science"),
            ("jec-qa-kd", "Humanities"),
            ("logiqa-zh", "Humanities"),
            ("some-new-subset", "Other"),
        ];
        for (subject, category) in agieval {
            assert_eq!(TaskSuite::Agieval.category(subject), category, "{subject}");
        }
        assert_eq!(TaskSuite::Cmath.category("grade3"), "STEM");
        assert_eq!(TaskSuite::C3.category("c3-d"), "Language understanding");
        assert_eq!(TaskSuite::SimpleQa.category("自然科学"), "自然科学");
    }

    #[test]
    fn names_parse_loosely_and_print_canonically() {
        for suite in TaskSuite::all() {
            assert_eq!(suite.name().parse::<TaskSuite>().ok(), Some(suite));
        }
        assert_eq!(
            "FewCLUE-tnews".parse::<TaskSuite>().ok(),
            Some(TaskSuite::FewClue(FewClueTask::Tnews))
        );
        assert_eq!(
            "chinese_simpleqa".parse::<TaskSuite>().ok(),
            Some(TaskSuite::SimpleQa)
        );
        assert!("fewclue_nope".parse::<TaskSuite>().is_err());
        assert!("ceval".parse::<TaskSuite>().is_err());
    }

    #[test]
    fn a_missing_split_names_the_expected_file() {
        let folder = std::env::temp_dir().join("jianzhen-tasks-missing");
        let error = load_task(TaskSuite::Cmath, &folder, "test").expect_err("no file");
        let message = error.to_string();
        assert!(message.contains("cmath_test.jsonl"), "{message}");
        assert!(message.contains("CMATH's datasets/"), "{message}");
    }
}
