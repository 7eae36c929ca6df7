//! Records left out of a suite: published files carry a handful of records that cannot
//! become a valid item (an empty label list, an empty option, an answer outside the
//! options, a multi-answer record in a single-choice set). By default such a record is
//! left out **visibly**, with its file, record and reason, and the run goes on; under
//! [`RecordPolicy::Refuse`] (`--strict`, `strict = true`) it stops the load, as before.
//!
//! Only record-level problems are left out. Whole-file problems (unreadable, not UTF-8,
//! not JSON, missing CSV columns, a file whose every record is unreadable, which is a
//! wrong format rather than a few broken records) still stop the load.
//!
//! The left-out set is a function of the files' bytes, so the same files give the same
//! items everywhere; it is part of the run id and of the manifest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::SuiteError;

/// What to do with a record that cannot become a valid item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordPolicy {
    /// Leave it out, name it (file, record, reason) and go on.
    #[default]
    LeaveOut,
    /// Stop the load with an error naming it (`--strict`).
    Refuse,
}

impl RecordPolicy {
    /// `Refuse` when `strict`, else `LeaveOut`.
    pub fn strict(strict: bool) -> RecordPolicy {
        if strict {
            RecordPolicy::Refuse
        } else {
            RecordPolicy::LeaveOut
        }
    }
}

/// One record left out of a load.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LeftOut {
    /// The file, relative to the data directory (with `/`), once the load knows it;
    /// the path as read before that.
    pub file: String,
    /// Where in the file: `line 212` (line-per-record files, CSV) or the record's
    /// position in a one-document JSON file (`example[3]`).
    pub record: String,
    /// The subject the record would have counted in (empty when the record does not say,
    /// e.g. a spec whose subject field is the broken part).
    pub subject: String,
    /// What is wrong with it, phrased as in the error `--strict` gives.
    pub reason: String,
}

impl LeftOut {
    /// The record-level error `error` as a left-out record of `subject`; `None` for an
    /// error about the whole file (line 0: no record to point at) or not about data.
    fn from_error(error: &SuiteError, subject: &str) -> Option<LeftOut> {
        match error {
            SuiteError::Malformed {
                path,
                line,
                problem,
            } if *line > 0 => Some(LeftOut {
                file: path.display().to_string(),
                record: format!("line {line}"),
                subject: subject.to_string(),
                reason: problem.clone(),
            }),
            SuiteError::MalformedRecord {
                path,
                record,
                problem,
            } => Some(LeftOut {
                file: path.display().to_string(),
                record: record.clone(),
                subject: subject.to_string(),
                reason: problem.clone(),
            }),
            _ => None,
        }
    }

    /// `file: record: reason`, for listings.
    pub fn describe(&self) -> String {
        format!("{}: {}: {}", self.file, self.record, self.reason)
    }
}

/// Rewrites the files of `left_out` relative to `data_dir` (with `/`), as the manifest's
/// file digests name them.
pub fn relativize(left_out: &mut [LeftOut], data_dir: &Path) {
    for record in left_out {
        let path = PathBuf::from(&record.file);
        if let Ok(relative) = path.strip_prefix(data_dir) {
            record.file = relative.to_string_lossy().replace('\\', "/");
        }
    }
}

/// Left-out records counted by (file, subject), for `suites check`, reports and status.
pub fn counts(left_out: &[LeftOut]) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for record in left_out {
        *counts
            .entry((record.file.clone(), record.subject.clone()))
            .or_insert(0) += 1;
    }
    counts
}

/// Applies a [`RecordPolicy`] to the records of one load and collects what it leaves out.
///
/// A loader passes every record's result through [`Intake::take`] (only results of
/// reading one record: file-level errors never go through it) and calls
/// [`Intake::finish_file`] after each file.
#[derive(Debug, Default)]
pub struct Intake {
    policy: RecordPolicy,
    left_out: Vec<LeftOut>,
}

impl Intake {
    pub fn new(policy: RecordPolicy) -> Intake {
        Intake {
            policy,
            left_out: Vec::new(),
        }
    }

    /// The item of a record read as `result`, `None` when it is left out.
    ///
    /// # Errors
    /// `result`'s error under [`RecordPolicy::Refuse`], and any error that is not about
    /// one record.
    pub fn take<T>(
        &mut self,
        result: Result<T, SuiteError>,
        subject: &str,
    ) -> Result<Option<T>, SuiteError> {
        match result {
            Ok(item) => Ok(Some(item)),
            Err(error) if self.policy == RecordPolicy::LeaveOut => {
                match LeftOut::from_error(&error, subject) {
                    Some(left_out) => {
                        self.left_out.push(left_out);
                        Ok(None)
                    }
                    None => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// Records a record left out by the suite's own published rules (OCNLI's label `-`),
    /// which no policy turns into an error.
    pub fn leave_out(&mut self, left_out: LeftOut) {
        self.left_out.push(left_out);
    }

    /// Checks a file once its records are read: a file that gave no item while records
    /// of it were left out is in the wrong format (or the spec names the wrong fields),
    /// not a file with a few broken records.
    ///
    /// # Errors
    /// [`SuiteError::NothingReadable`] for such a file.
    pub fn finish_file(&self, path: &Path, items: usize) -> Result<(), SuiteError> {
        if items > 0 {
            return Ok(());
        }
        let file = path.display().to_string();
        let mut of_file = self.left_out.iter().filter(|record| record.file == file);
        let Some(first) = of_file.next() else {
            return Ok(());
        };
        Err(SuiteError::NothingReadable {
            path: path.to_path_buf(),
            left_out: 1 + of_file.count(),
            first: format!("{}: {}", first.record, first.reason),
        })
    }

    /// What was left out, in reading order.
    pub fn into_left_out(self) -> Vec<LeftOut> {
        self.left_out
    }

    pub fn left_out(&self) -> &[LeftOut] {
        &self.left_out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad_line(line: u64) -> Result<u32, SuiteError> {
        Err(SuiteError::Malformed {
            path: PathBuf::from("/data/x.jsonl"),
            line,
            problem: "option A is empty".to_string(),
        })
    }

    #[test]
    fn record_errors_are_left_out_and_file_errors_are_not() {
        let mut intake = Intake::new(RecordPolicy::LeaveOut);
        assert_eq!(intake.take(Ok(1), "law").expect("ok"), Some(1));
        assert_eq!(intake.take(bad_line(4), "law").expect("left out"), None);
        // Line 0 is a file-level problem (no record to point at): it stops the load.
        assert!(intake.take(bad_line(0), "law").is_err());
        let io = SuiteError::Io {
            path: PathBuf::from("/data/x.jsonl"),
            source: std::io::Error::other("gone"),
        };
        assert!(intake.take::<u32>(Err(io), "law").is_err());
        let mut left_out = intake.into_left_out();
        relativize(&mut left_out, Path::new("/data"));
        assert_eq!(
            left_out,
            vec![LeftOut {
                file: "x.jsonl".to_string(),
                record: "line 4".to_string(),
                subject: "law".to_string(),
                reason: "option A is empty".to_string(),
            }]
        );
        assert_eq!(left_out[0].describe(), "x.jsonl: line 4: option A is empty");
        assert_eq!(
            counts(&left_out)[&("x.jsonl".to_string(), "law".to_string())],
            1
        );
    }

    #[test]
    fn refuse_keeps_the_error_and_an_unreadable_file_stops() {
        let mut strict = Intake::new(RecordPolicy::strict(true));
        let error = strict.take(bad_line(4), "law").expect_err("strict");
        assert_eq!(
            error.to_string(),
            "/data/x.jsonl:4: option A is empty; fix or remove this record"
        );
        let mut lenient = Intake::new(RecordPolicy::strict(false));
        lenient.take(bad_line(1), "law").expect("left out");
        lenient.take(bad_line(2), "law").expect("left out");
        let path = Path::new("/data/x.jsonl");
        assert!(lenient.finish_file(path, 1).is_ok());
        let error = lenient.finish_file(path, 0).expect_err("nothing readable");
        let message = error.to_string();
        assert!(message.contains("none of the 2 records"), "{message}");
        assert!(message.contains("line 1: option A is empty"), "{message}");
        assert!(
            lenient
                .finish_file(Path::new("/data/other.jsonl"), 0)
                .is_ok()
        );
    }
}
