//! Loaders for the published file layouts of C-Eval and CMMLU.
//!
//! - C-Eval: `{data_dir}/{split}/{subject}_{split}.csv`, header `id,question,A,B,C,D`
//!   plus `answer` (dev, val) and `explanation` (dev). CRLF line endings, and some quoted
//!   cells span several lines.
//! - CMMLU: `{data_dir}/{split}/{subject}.csv`, header `,Question,A,B,C,D,Answer` whose
//!   first column is an unnamed row index.
//!
//! Cell text is kept as published (no trimming), because the prompt templates must match
//! OpenCompass byte for byte. The one change is line endings: OpenCompass opens the files
//! in Python's universal-newline mode, which turns `\r\n` and a lone `\r` into `\n` even
//! inside quoted cells, so we do the same before parsing.
//!
//! A record that cannot be read exactly (empty option, answer that is not a letter) never
//! turns into an item with a wrong answer: it is left out with its file, line and reason
//! ([`load_suite_with`], [`crate::left_out`]), or refused naming them ([`load_suite`],
//! `--strict`). A missing column is a whole-file problem and always stops the load.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::SuiteError;
use crate::item::{McItem, SourceLocation, SuiteName};
use crate::left_out::{Intake, LeftOut, RecordPolicy};

/// The split few-shot examples are drawn from, in both suites.
pub const FEWSHOT_SPLIT: &str = "dev";

/// Letters a four-option item may have as its answer.
const OPTION_LETTERS: [&str; 4] = ["A", "B", "C", "D"];

/// Fingerprint of one data file, recorded in run metadata so a result can be tied to the
/// exact bytes it was computed from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DataFileDigest {
    /// Path relative to the data directory, with `/` separators on every platform.
    pub relative_path: String,
    /// Hex sha256 of the raw file bytes (before any line-ending normalisation).
    pub sha256: String,
    /// Number of records (items) read from the file.
    pub rows: usize,
}

/// Everything read for one evaluation run of one suite.
#[derive(Debug, Clone)]
pub struct LoadedSuite {
    pub suite: SuiteName,
    pub split: String,
    /// Items to evaluate, sorted by subject and then by their order in the file.
    pub items: Vec<McItem>,
    /// Dev-split items by subject, in file order; empty unless few-shot was requested.
    pub fewshot_pool: BTreeMap<String, Vec<McItem>>,
    /// Every file read (including dev files), sorted by relative path.
    pub files: Vec<DataFileDigest>,
    /// Records left out (evaluated and few-shot files), in reading order.
    pub left_out: Vec<LeftOut>,
}

/// Loads `split` of `suite` from `data_dir`, optionally with the dev split as the
/// few-shot pool.
///
/// `subjects` empty means every subject that has a file; otherwise each named subject must
/// have one.
///
/// # Errors
/// [`SuiteError::MissingSplit`] when the split folder (or the dev folder, for few-shot) is
/// absent, [`SuiteError::NoSubjects`] when it holds no data files,
/// [`SuiteError::UnknownSubject`] for a requested subject without a file,
/// [`SuiteError::Io`] for unreadable files and [`SuiteError::Malformed`] for bad records.
pub fn load_suite(
    suite: SuiteName,
    data_dir: &Path,
    split: &str,
    subjects: &[String],
    load_fewshot: bool,
) -> Result<LoadedSuite, SuiteError> {
    load_suite_with(
        suite,
        data_dir,
        split,
        subjects,
        load_fewshot,
        RecordPolicy::Refuse,
    )
}

/// [`load_suite`], with records that cannot become an item left out (named in
/// [`LoadedSuite::left_out`]) or refused, as `policy` says.
///
/// # Errors
/// As [`load_suite`]; a record's problem only under [`RecordPolicy::Refuse`];
/// [`SuiteError::NothingReadable`] for a file with no readable record.
pub fn load_suite_with(
    suite: SuiteName,
    data_dir: &Path,
    split: &str,
    subjects: &[String],
    load_fewshot: bool,
    policy: RecordPolicy,
) -> Result<LoadedSuite, SuiteError> {
    let mut intake = Intake::new(policy);
    let available_subjects = list_subjects(suite, data_dir, split)?;
    let selected_subjects = select_subjects(suite, split, &available_subjects, subjects)?;

    let mut items = Vec::new();
    let mut files = Vec::new();
    let mut items_by_subject_for_split = BTreeMap::new();
    for subject in &selected_subjects {
        let (subject_items, digest) =
            load_subject_file(suite, data_dir, split, subject, &mut intake)?;
        files.push(digest);
        if load_fewshot && split == FEWSHOT_SPLIT {
            // The evaluated split is the dev split itself: reuse it rather than reading
            // (and listing) the same file twice.
            items_by_subject_for_split.insert(subject.clone(), subject_items.clone());
        }
        items.extend(subject_items);
    }

    let mut fewshot_pool = BTreeMap::new();
    if load_fewshot {
        if split == FEWSHOT_SPLIT {
            fewshot_pool = items_by_subject_for_split;
        } else {
            let dev_subjects = list_split_files(suite, data_dir, FEWSHOT_SPLIT, true)?;
            for subject in &selected_subjects {
                if !dev_subjects.contains(subject) {
                    return Err(SuiteError::MissingFewshotFile {
                        suite,
                        subject: subject.clone(),
                        path: data_dir.join(FEWSHOT_SPLIT).join(file_name(
                            suite,
                            FEWSHOT_SPLIT,
                            subject,
                        )),
                    });
                }
                let (dev_items, digest) =
                    load_subject_file(suite, data_dir, FEWSHOT_SPLIT, subject, &mut intake)?;
                files.push(digest);
                fewshot_pool.insert(subject.clone(), dev_items);
            }
        }
    }

    files.sort_by(|left, right| left.relative_path.cmp(&right.relative_path));
    let mut left_out = intake.into_left_out();
    crate::left_out::relativize(&mut left_out, data_dir);
    Ok(LoadedSuite {
        suite,
        split: split.to_string(),
        items,
        fewshot_pool,
        files,
        left_out,
    })
}

/// The subjects that have a data file in `split`, sorted.
///
/// # Errors
/// [`SuiteError::MissingSplit`] when `{data_dir}/{split}` is not a folder,
/// [`SuiteError::NoSubjects`] when it holds no file named like a data file,
/// [`SuiteError::Io`] when it cannot be listed.
pub fn list_subjects(
    suite: SuiteName,
    data_dir: &Path,
    split: &str,
) -> Result<Vec<String>, SuiteError> {
    let subjects = list_split_files(suite, data_dir, split, false)?;
    Ok(subjects.into_iter().collect())
}

fn list_split_files(
    suite: SuiteName,
    data_dir: &Path,
    split: &str,
    for_fewshot: bool,
) -> Result<BTreeSet<String>, SuiteError> {
    let split_dir = data_dir.join(split);
    if !split_dir.is_dir() {
        let mut expected_layout = expected_layout(suite, data_dir, split);
        if for_fewshot {
            expected_layout.push_str(
                " (few-shot examples come from the dev split; run with 0 shots to do without)",
            );
        }
        return Err(SuiteError::MissingSplit {
            path: split_dir,
            split: split.to_string(),
            expected_layout,
        });
    }
    let entries = std::fs::read_dir(&split_dir).map_err(|source| SuiteError::Io {
        path: split_dir.clone(),
        source,
    })?;
    let mut subjects = BTreeSet::new();
    for entry in entries {
        let entry = entry.map_err(|source| SuiteError::Io {
            path: split_dir.clone(),
            source,
        })?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            // A non-UTF-8 name cannot be a subject key of either suite.
            continue;
        };
        if let Some(subject) = subject_from_file_name(suite, split, &name) {
            subjects.insert(subject.to_string());
        }
    }
    if subjects.is_empty() {
        return Err(SuiteError::NoSubjects {
            suite,
            path: split_dir,
            expected_pattern: file_name(suite, split, "{subject}"),
        });
    }
    Ok(subjects)
}

fn expected_layout(suite: SuiteName, data_dir: &Path, split: &str) -> String {
    match suite {
        SuiteName::Ceval => format!(
            "C-Eval's layout `{}/{{dev,val,test}}/{{subject}}_{{split}}.csv`, e.g. `{split}/computer_network_{split}.csv`",
            data_dir.display()
        ),
        SuiteName::Cmmlu => format!(
            "CMMLU's layout `{}/{{dev,test}}/{{subject}}.csv`, e.g. `{split}/agronomy.csv` \
             (in a clone of the CMMLU repository this is its `data` folder)",
            data_dir.display()
        ),
    }
}

fn file_name(suite: SuiteName, split: &str, subject: &str) -> String {
    match suite {
        SuiteName::Ceval => format!("{subject}_{split}.csv"),
        SuiteName::Cmmlu => format!("{subject}.csv"),
    }
}

fn subject_from_file_name<'name>(
    suite: SuiteName,
    split: &str,
    name: &'name str,
) -> Option<&'name str> {
    let stem = name.strip_suffix(".csv")?;
    let subject = match suite {
        SuiteName::Ceval => stem.strip_suffix(split)?.strip_suffix('_')?,
        SuiteName::Cmmlu => stem,
    };
    // Hidden files (editor backups, `._x.csv` from macOS archives) are never subjects.
    if subject.is_empty() || subject.starts_with('.') {
        return None;
    }
    Some(subject)
}

/// Checks that every requested subject is one of `available`.
///
/// # Errors
/// [`SuiteError::UnknownSubject`] for the first that is not, listing the available ones.
pub(crate) fn require_known_subjects(
    suite: &str,
    split: &str,
    requested: &[String],
    available: &[String],
) -> Result<(), SuiteError> {
    match requested
        .iter()
        .find(|subject| !available.contains(subject))
    {
        Some(subject) => Err(SuiteError::UnknownSubject {
            suite: suite.to_string(),
            subject: subject.clone(),
            split: split.to_string(),
            available: available.to_vec(),
        }),
        None => Ok(()),
    }
}

fn select_subjects(
    suite: SuiteName,
    split: &str,
    available_subjects: &[String],
    requested_subjects: &[String],
) -> Result<Vec<String>, SuiteError> {
    if requested_subjects.is_empty() {
        return Ok(available_subjects.to_vec());
    }
    require_known_subjects(
        &suite.to_string(),
        split,
        requested_subjects,
        available_subjects,
    )?;
    let selected: BTreeSet<String> = requested_subjects.iter().cloned().collect();
    Ok(selected.into_iter().collect())
}

/// Column positions of one file, found by header name.
struct ColumnLayout {
    id: usize,
    question: usize,
    options: [usize; 4],
    answer: Option<usize>,
    explanation: Option<usize>,
    column_count: usize,
}

fn load_subject_file(
    suite: SuiteName,
    data_dir: &Path,
    split: &str,
    subject: &str,
    intake: &mut Intake,
) -> Result<(Vec<McItem>, DataFileDigest), SuiteError> {
    let relative_path = format!("{split}/{}", file_name(suite, split, subject));
    let path = data_dir.join(split).join(file_name(suite, split, subject));
    let raw_bytes = std::fs::read(&path).map_err(|source| SuiteError::Io {
        path: path.clone(),
        source,
    })?;
    let sha256 = hex::encode(Sha256::digest(&raw_bytes));
    let text = decode_like_python(&path, &raw_bytes)?;
    let items = parse_records(suite, split, subject, &path, &text, intake)?;
    let digest = DataFileDigest {
        relative_path,
        sha256,
        rows: items.len(),
    };
    Ok((items, digest))
}

/// UTF-8 decode, drop a BOM, and normalise line endings the way Python's universal-newline
/// mode does (`\r\n` and lone `\r` become `\n`).
pub(crate) fn decode_like_python(path: &Path, raw_bytes: &[u8]) -> Result<String, SuiteError> {
    let text = std::str::from_utf8(raw_bytes).map_err(|error| {
        let valid_prefix = &raw_bytes[..error.valid_up_to()];
        let line = 1 + valid_prefix.iter().filter(|byte| **byte == b'\n').count() as u64;
        SuiteError::Malformed {
            path: path.to_path_buf(),
            line,
            problem: "file is not valid UTF-8; re-save it as UTF-8".to_string(),
        }
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    Ok(text.replace("\r\n", "\n").replace('\r', "\n"))
}

fn parse_records(
    suite: SuiteName,
    split: &str,
    subject: &str,
    path: &Path,
    text: &str,
    intake: &mut Intake,
) -> Result<Vec<McItem>, SuiteError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        // Checked by hand below so the error names the line and the expected count.
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|error| csv_error(path, &error))?
        .clone();
    let layout = column_layout(suite, split, path, &headers)?;

    let mut items = Vec::new();
    let mut seen_ids = HashSet::new();
    for record in reader.records() {
        let record = record.map_err(|error| csv_error(path, &error))?;
        let item = parse_record(&record, &layout, &mut seen_ids, split, subject, path);
        if let Some(item) = intake.take(item, subject)? {
            items.push(item);
        }
    }
    intake.finish_file(path, items.len())?;
    Ok(items)
}

/// One CSV record as an item; an error names its line and what is wrong with it.
fn parse_record(
    record: &csv::StringRecord,
    layout: &ColumnLayout,
    seen_ids: &mut HashSet<String>,
    split: &str,
    subject: &str,
    path: &Path,
) -> Result<McItem, SuiteError> {
    let line = record.position().map_or(0, csv::Position::line);
    let malformed = |problem: String| SuiteError::Malformed {
        path: path.to_path_buf(),
        line,
        problem,
    };
    if record.len() != layout.column_count {
        return Err(malformed(format!(
            "record has {} columns but the header has {}",
            record.len(),
            layout.column_count
        )));
    }
    let cell = |index: usize| record.get(index).unwrap_or_default();

    let row_id = cell(layout.id).trim();
    if row_id.is_empty() {
        return Err(malformed("the id column is empty".to_string()));
    }
    if !seen_ids.insert(row_id.to_string()) {
        return Err(malformed(format!(
            "id `{row_id}` appears twice in this file; item ids must be unique"
        )));
    }
    let question = cell(layout.question);
    if question.trim().is_empty() {
        return Err(malformed("the question is empty".to_string()));
    }
    let mut options = Vec::with_capacity(layout.options.len());
    for (letter, column) in OPTION_LETTERS.iter().zip(layout.options) {
        let option = cell(column);
        if option.trim().is_empty() {
            return Err(malformed(format!("option {letter} is empty")));
        }
        options.push(option.to_string());
    }
    let answer = match layout.answer {
        None => None,
        Some(column) => parse_answer(cell(column), split).map_err(malformed)?,
    };
    let explanation = layout
        .explanation
        .map(|column| cell(column).to_string())
        .filter(|text| !text.trim().is_empty());

    Ok(McItem {
        id: format!("{subject}/{split}/{row_id}"),
        subject: subject.to_string(),
        question: question.to_string(),
        options,
        answer,
        explanation,
        source: SourceLocation {
            path: path.to_path_buf(),
            line,
        },
    })
}

fn csv_error(path: &Path, error: &csv::Error) -> SuiteError {
    let line = error.position().map_or(0, csv::Position::line);
    SuiteError::Malformed {
        path: path.to_path_buf(),
        line,
        problem: format!("cannot parse CSV: {error}"),
    }
}

/// Reads the answer cell. Surrounding whitespace is tolerated (it cannot change which
/// letter is meant); anything but one letter A-D is an error, except an empty cell in the
/// `test` split, where answers may be withheld.
fn parse_answer(cell: &str, split: &str) -> Result<Option<char>, String> {
    let answer = cell.trim();
    if answer.is_empty() {
        if split == "test" {
            return Ok(None);
        }
        return Err("the answer is empty".to_string());
    }
    let mut characters = answer.chars();
    match (characters.next(), characters.next()) {
        (Some(letter @ 'A'..='D'), None) => Ok(Some(letter)),
        _ => Err(format!(
            "answer `{answer}` is not a single letter A-D (multi-answer or lowercase answers are not supported)"
        )),
    }
}

fn column_layout(
    suite: SuiteName,
    split: &str,
    path: &Path,
    headers: &csv::StringRecord,
) -> Result<ColumnLayout, SuiteError> {
    let find = |name: &str| headers.iter().position(|header| header.trim() == name);
    let missing = |name: &str| SuiteError::Malformed {
        path: path.to_path_buf(),
        line: 1,
        problem: format!(
            "header has no `{name}` column (header is `{}`)",
            headers.iter().collect::<Vec<_>>().join(",")
        ),
    };
    let require = |name: &str| find(name).ok_or_else(|| missing(name));

    let (id, question, answer_name, answer_required) = match suite {
        // C-Eval hides test answers, so its test files have no `answer` column.
        SuiteName::Ceval => (
            require("id")?,
            require("question")?,
            "answer",
            split != "test",
        ),
        SuiteName::Cmmlu => {
            // The index column has an empty header; a file whose first column is a named
            // field has no index, and ids would then not match the published ones.
            let first_header = headers.get(0).unwrap_or_default().trim();
            if !first_header.is_empty() {
                return Err(SuiteError::Malformed {
                    path: path.to_path_buf(),
                    line: 1,
                    problem: format!(
                        "first column should be the unnamed index column of CMMLU's \
                         `,Question,A,B,C,D,Answer` header, found `{first_header}`"
                    ),
                });
            }
            (0, require("Question")?, "Answer", true)
        }
    };
    let options = [require("A")?, require("B")?, require("C")?, require("D")?];
    let answer = match find(answer_name) {
        Some(column) => Some(column),
        None if answer_required => return Err(missing(answer_name)),
        None => None,
    };
    let explanation = match suite {
        SuiteName::Ceval => find("explanation"),
        SuiteName::Cmmlu => None,
    };
    Ok(ColumnLayout {
        id,
        question,
        options,
        answer,
        explanation,
        column_count: headers.len(),
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    use crate::test_fixtures::{CEVAL_TEST, CEVAL_VAL, CMMLU_DEV, CMMLU_TEST, ceval_folder, write};

    fn ceval_fixture() -> tempfile::TempDir {
        ceval_folder(&["toy_subject"], &["another"])
    }

    #[test]
    fn ceval_val_handles_crlf_and_embedded_newlines() {
        let dir = ceval_fixture();
        let loaded = load_suite(
            SuiteName::Ceval,
            dir.path(),
            "val",
            &["toy_subject".to_string()],
            false,
        )
        .expect("load");
        assert_eq!(loaded.items.len(), 2);
        let first = &loaded.items[0];
        assert_eq!(first.id, "toy_subject/val/0");
        assert_eq!(first.subject, "toy_subject");
        // The CRLF inside the quoted cell becomes LF, as in Python's universal newlines.
        assert_eq!(first.question, "下列哪个是质数？\n（单选）");
        assert_eq!(first.options, vec!["4", "6", "7", "9"]);
        assert_eq!(first.answer, Some('C'));
        assert_eq!(first.explanation, None);
        assert_eq!(first.source.line, 2);
        // The second record starts after the two-line first record.
        assert_eq!(loaded.items[1].source.line, 4);
        assert_eq!(loaded.items[1].question, "水的化学式是____。");
        assert!(loaded.fewshot_pool.is_empty());
        assert_eq!(loaded.files.len(), 1);
        assert_eq!(loaded.files[0].relative_path, "val/toy_subject_val.csv");
        assert_eq!(loaded.files[0].rows, 2);
        assert_eq!(
            loaded.files[0].sha256,
            hex::encode(Sha256::digest(CEVAL_VAL.as_bytes()))
        );
    }

    #[test]
    fn ceval_headers_differ_per_split() {
        let dir = ceval_fixture();
        let dev = load_suite(SuiteName::Ceval, dir.path(), "dev", &[], false).expect("dev");
        assert_eq!(dev.items[0].answer, Some('B'));
        assert_eq!(
            dev.items[0].explanation.as_deref(),
            Some("1. 一加一。\n2. 等于二。")
        );
        let test = load_suite(SuiteName::Ceval, dir.path(), "test", &[], false).expect("test");
        assert_eq!(test.items.len(), 1);
        assert_eq!(test.items[0].answer, None);
        assert_eq!(test.items[0].id, "toy_subject/test/0");
    }

    #[test]
    fn all_subjects_sorted_and_fewshot_pool_from_dev() {
        let dir = ceval_fixture();
        let loaded = load_suite(SuiteName::Ceval, dir.path(), "val", &[], false).expect("load");
        let subjects: Vec<&str> = loaded
            .items
            .iter()
            .map(|item| item.subject.as_str())
            .collect();
        assert_eq!(
            subjects,
            vec!["another", "another", "toy_subject", "toy_subject"]
        );
        // `another` has no dev file, so few-shot for it cannot be served.
        let error = load_suite(
            SuiteName::Ceval,
            dir.path(),
            "val",
            &["another".to_string()],
            true,
        )
        .expect_err("missing dev file");
        assert!(matches!(error, SuiteError::MissingFewshotFile { .. }));

        let only_toy = load_suite(
            SuiteName::Ceval,
            dir.path(),
            "val",
            &["toy_subject".to_string()],
            true,
        )
        .expect("load with few-shot");
        assert_eq!(only_toy.fewshot_pool["toy_subject"].len(), 2);
        let paths: Vec<&str> = only_toy
            .files
            .iter()
            .map(|file| file.relative_path.as_str())
            .collect();
        assert_eq!(
            paths,
            vec!["dev/toy_subject_dev.csv", "val/toy_subject_val.csv"]
        );
    }

    #[test]
    fn fewshot_without_dev_split_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "val/toy_val.csv", CEVAL_VAL);
        let error =
            load_suite(SuiteName::Ceval, dir.path(), "val", &[], true).expect_err("no dev split");
        assert!(matches!(&error, SuiteError::MissingSplit { split, .. } if split == "dev"));
        assert!(error.to_string().contains("few-shot"), "{error}");
    }

    #[test]
    fn cmmlu_uses_index_column_and_keeps_cell_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "test/agronomy.csv", CMMLU_TEST);
        write(dir.path(), "dev/agronomy.csv", CMMLU_DEV);
        let loaded = load_suite(SuiteName::Cmmlu, dir.path(), "test", &[], true).expect("load");
        let ids: Vec<&str> = loaded.items.iter().map(|item| item.id.as_str()).collect();
        assert_eq!(
            ids,
            vec!["agronomy/test/0", "agronomy/test/1", "agronomy/test/2"]
        );
        assert_eq!(loaded.items[0].answer, Some('D'));
        assert_eq!(loaded.items[1].question, "另一个问题，\n跨两行");
        // Whitespace around option text is part of the published prompt; keep it.
        assert_eq!(loaded.items[2].options[1], " 二 ");
        assert_eq!(loaded.items[2].source.line, 5);
        assert_eq!(loaded.fewshot_pool["agronomy"][0].id, "agronomy/dev/0");
        assert_eq!(
            list_subjects(SuiteName::Cmmlu, dir.path(), "test").expect("list"),
            vec!["agronomy"]
        );
    }

    #[test]
    fn byte_order_mark_is_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "test/arts.csv", &format!("\u{feff}{CMMLU_DEV}"));
        let loaded = load_suite(SuiteName::Cmmlu, dir.path(), "test", &[], false).expect("load");
        assert_eq!(loaded.items[0].question, "示例问题");
    }

    fn malformed_line(error: SuiteError) -> (PathBuf, u64, String) {
        match error {
            SuiteError::Malformed {
                path,
                line,
                problem,
            } => (path, line, problem),
            other => panic!("expected malformed, got {other:?}"),
        }
    }

    #[test]
    fn bad_answer_letter_names_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "val/toy_val.csv",
            "id,question,A,B,C,D,answer\r\n0,好问题,1,2,3,4,A\r\n1,坏问题,1,2,3,4,E\r\n",
        );
        let error =
            load_suite(SuiteName::Ceval, dir.path(), "val", &[], false).expect_err("bad letter");
        let message = error.to_string();
        let (path, line, problem) = malformed_line(error);
        assert!(path.ends_with("val/toy_val.csv"));
        assert_eq!(line, 3);
        assert!(problem.contains("`E`"), "{problem}");
        assert!(message.contains("toy_val.csv:3:"), "{message}");
    }

    #[test]
    fn missing_answer_column_is_malformed_outside_test() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "val/toy_val.csv", CEVAL_TEST);
        let error =
            load_suite(SuiteName::Ceval, dir.path(), "val", &[], false).expect_err("no answer");
        let (_, line, problem) = malformed_line(error);
        assert_eq!(line, 1);
        assert!(problem.contains("`answer`"), "{problem}");

        let cmmlu = tempfile::tempdir().expect("tempdir");
        write(
            cmmlu.path(),
            "test/arts.csv",
            ",Question,A,B,C,D\n0,问题,1,2,3,4\n",
        );
        let error =
            load_suite(SuiteName::Cmmlu, cmmlu.path(), "test", &[], false).expect_err("no Answer");
        let (_, _, problem) = malformed_line(error);
        assert!(problem.contains("`Answer`"), "{problem}");
    }

    #[test]
    fn other_malformed_records_are_rejected() {
        let cases = [
            // Empty option.
            (
                ",Question,A,B,C,D,Answer\n0,问题,1,,3,4,A\n",
                2,
                "option B is empty",
            ),
            // Too few columns.
            (
                ",Question,A,B,C,D,Answer\n0,问题,1,2,3,4,A\n1,问题,1,2,3\n",
                3,
                "columns",
            ),
            // Empty answer in a split that must have answers... CMMLU always does.
            (",Question,A,B,C,D,Answer\n0,问题,1,2,3,4,AB\n", 2, "`AB`"),
            // Lowercase letters are not guessed at.
            (",Question,A,B,C,D,Answer\n0,问题,1,2,3,4,b\n", 2, "`b`"),
            // Duplicate ids would collide in the planner.
            (
                ",Question,A,B,C,D,Answer\n0,问题,1,2,3,4,A\n0,问题,1,2,3,4,B\n",
                3,
                "twice",
            ),
            // No index column.
            ("Question,A,B,C,D,Answer\n问题,1,2,3,4,A\n", 1, "index"),
        ];
        for (contents, expected_line, expected_problem) in cases {
            let dir = tempfile::tempdir().expect("tempdir");
            write(dir.path(), "dev/arts.csv", contents);
            let error =
                load_suite(SuiteName::Cmmlu, dir.path(), "dev", &[], false).expect_err(contents);
            let (_, line, problem) = malformed_line(error);
            assert_eq!(line, expected_line, "{contents}");
            assert!(problem.contains(expected_problem), "{problem}");
        }
    }

    #[test]
    fn empty_answer_is_allowed_only_in_test() {
        let dir = tempfile::tempdir().expect("tempdir");
        let contents = "id,question,A,B,C,D,answer\n0,问题,1,2,3,4,\n";
        write(dir.path(), "test/toy_test.csv", contents);
        write(dir.path(), "val/toy_val.csv", contents);
        let test = load_suite(SuiteName::Ceval, dir.path(), "test", &[], false).expect("test");
        assert_eq!(test.items[0].answer, None);
        let error = load_suite(SuiteName::Ceval, dir.path(), "val", &[], false).expect_err("val");
        assert!(error.to_string().contains("answer is empty"), "{error}");
    }

    #[test]
    fn layout_errors_say_what_is_expected() {
        let dir = ceval_fixture();
        let error = load_suite(SuiteName::Ceval, dir.path(), "train", &[], false)
            .expect_err("no such split");
        assert!(matches!(error, SuiteError::MissingSplit { .. }));
        assert!(
            error.to_string().contains("{subject}_{split}.csv"),
            "{error}"
        );

        let error = load_suite(
            SuiteName::Ceval,
            dir.path(),
            "val",
            &["astrology".to_string()],
            false,
        )
        .expect_err("unknown subject");
        assert!(
            matches!(error, SuiteError::UnknownSubject { subject, .. } if subject == "astrology")
        );

        let empty = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(empty.path().join("val")).expect("mkdir");
        write(empty.path(), "val/notes.txt", "not data");
        let error =
            load_suite(SuiteName::Ceval, empty.path(), "val", &[], false).expect_err("no files");
        assert!(matches!(error, SuiteError::NoSubjects { .. }));
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut bytes = b",Question,A,B,C,D,Answer\n0,ok,1,2,3,4,A\n1,".to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        bytes.extend_from_slice(b",1,2,3,4,A\n");
        std::fs::create_dir_all(dir.path().join("test")).expect("mkdir");
        std::fs::write(dir.path().join("test/arts.csv"), bytes).expect("write");
        let error =
            load_suite(SuiteName::Cmmlu, dir.path(), "test", &[], false).expect_err("bad utf8");
        let (_, line, _) = malformed_line(error);
        assert_eq!(line, 3);
    }
}
