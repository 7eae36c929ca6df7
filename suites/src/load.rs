//! C-Eval and CMMLU read through their shipped specs, under the names the rest of the
//! workspace calls them by.
//!
//! The records are parsed by the spec loader ([`crate::spec::load_with_spec_options`] with
//! [`crate::spec::builtin_spec`]); this module only keeps the built-in entry points
//! ([`load_suite`], [`load_suite_with`], [`list_subjects`]), the result types every loader
//! shares ([`LoadedSuite`], [`DataFileDigest`]) and the byte-level helpers the loaders use
//! ([`decode_like_python`], [`require_known_subjects`]).
//!
//! What the shipped specs keep from the published layouts (see `suites/specs/*.toml`):
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

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::SuiteError;
use crate::item::{McItem, SuiteName};
use crate::left_out::{LeftOut, RecordPolicy};
use crate::spec::{SpecLoadOptions, builtin_spec, list_file_subjects, load_with_spec_options};

/// The split few-shot examples are drawn from, in both suites.
pub const FEWSHOT_SPLIT: &str = "dev";

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
/// [`LoadedSuite::left_out`]) or refused, as `policy` says. Reads through the suite's
/// shipped spec.
///
/// # Errors
/// As [`load_suite`]; a record's problem only under [`RecordPolicy::Refuse`];
/// [`SuiteError::NothingReadable`] for a file with no readable record;
/// [`SuiteError::MissingFewshotFile`] for a subject without its dev file.
pub fn load_suite_with(
    suite: SuiteName,
    data_dir: &Path,
    split: &str,
    subjects: &[String],
    load_fewshot: bool,
    policy: RecordPolicy,
) -> Result<LoadedSuite, SuiteError> {
    let spec = builtin_spec(suite)?;
    let options = SpecLoadOptions {
        subjects: subjects.to_vec(),
        skip_fewshot: !load_fewshot,
        strict: policy == RecordPolicy::Refuse,
    };
    load_with_spec_options(&spec, data_dir, split, &options)?.into_loaded_suite()
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
    list_file_subjects(&builtin_spec(suite)?, data_dir, split)
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use sha2::{Digest, Sha256};

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
