//! The crate's error type. Every variant names the file (and line, where there is one)
//! and says what the user can do next, because these messages reach people running a
//! benchmark on their own copy of the data.

use std::path::PathBuf;

use crate::template::ScoringMode;

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error(
        "unknown suite `{name}`; known suites: ceval, cmmlu, {}",
        crate::tasks::known_task_names()
    )]
    UnknownSuite { name: String },

    #[error(
        "unknown prompt template `{name}`; known templates: {}",
        crate::template::known_template_names()
    )]
    UnknownTemplate { name: String },

    #[error(
        "template `{template}` cannot be scored in mode {mode}; it supports {supported}; \
         pick a template made for {mode} (e.g. ceval_ppl_578f8d, lmeval_cmmlu for log-likelihood)"
    )]
    ScoringModeUnsupported {
        template: String,
        mode: ScoringMode,
        /// The template's modes, comma-separated.
        supported: String,
    },

    #[error("cannot read {}: {source}; check the path and its permissions", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "suite {suite} split `{split}` needs {}, which does not exist; --data should be {expected_layout}",
        path.display()
    )]
    MissingTaskFile {
        suite: String,
        split: String,
        path: PathBuf,
        expected_layout: String,
    },

    #[error(
        "data directory {} has no `{split}` split folder; expected {expected_layout}",
        path.display()
    )]
    MissingSplit {
        /// The folder that should exist, `{data_dir}/{split}`.
        path: PathBuf,
        split: String,
        /// The layout the suite expects, spelled out for the user.
        expected_layout: String,
    },

    #[error(
        "no {suite} data files found in {}; expected files named {expected_pattern}",
        path.display()
    )]
    NoSubjects {
        /// The suite's name (a spec's `name`).
        suite: String,
        path: PathBuf,
        expected_pattern: String,
    },

    #[error(
        "suite {suite} has no subject `{subject}` in split `{split}`; its subjects are: {}",
        available.join(", ")
    )]
    UnknownSubject {
        suite: String,
        subject: String,
        split: String,
        available: Vec<String>,
    },

    #[error(
        "suite {suite} has no dev file {} for subject `{subject}`, which few-shot prompts \
         draw their examples from; add the file or run with 0 shots",
        path.display()
    )]
    MissingFewshotFile {
        /// The suite's name (a spec's `name`).
        suite: String,
        subject: String,
        path: PathBuf,
    },

    #[error("{}:{line}: {problem}; fix or remove this record", path.display())]
    Malformed {
        path: PathBuf,
        /// 1-based line where the bad record starts (0 when the file itself is unreadable
        /// as CSV before any record, e.g. a missing header).
        line: u64,
        problem: String,
    },

    /// A bad record in a file that is one JSON document (GAOKAO-Bench, C3, CMRC2018),
    /// where the record is named by its position rather than a line.
    #[error("{}: {record}: {problem}; fix or remove this record", path.display())]
    MalformedRecord {
        path: PathBuf,
        /// The record's position, e.g. `example[12]` or `data[3].paragraphs[0].qas[1]`.
        record: String,
        problem: String,
    },

    /// A file none of whose records could be read: the wrong format, or a spec naming
    /// the wrong fields, rather than a few broken records (which are left out).
    #[error(
        "{}: none of the {left_out} records could be read (first: {first}); the file as a \
         whole does not fit (its format, a spec's field names, or a split whose answers are \
         withheld): the first reason says which",
        path.display()
    )]
    NothingReadable {
        path: PathBuf,
        left_out: usize,
        /// The first record's position and problem.
        first: String,
    },

    #[error(
        "subject `{subject}` has {available} dev examples but {wanted} shots were asked for; \
         ask for at most {available} shots"
    )]
    NotEnoughShots {
        subject: String,
        wanted: usize,
        available: usize,
    },

    #[error(
        "{}: invalid suite spec: {problem}; see docs/suite-spec.md",
        spec_location(origin, *line)
    )]
    SpecInvalid {
        /// The spec file's path, or `builtin:NAME` for a shipped spec.
        origin: String,
        /// 1-based line, where the problem can be placed.
        line: Option<u64>,
        problem: String,
    },

    #[error("suite spec `{suite}` {problem}")]
    SpecLoad {
        /// The spec's `name`.
        suite: String,
        /// What went wrong and what to do, phrased to follow the suite name.
        problem: String,
    },

    #[error("item `{item_id}` cannot be rendered with template `{template}`: {problem}")]
    Render {
        template: String,
        item_id: String,
        problem: String,
    },
}

fn spec_location(origin: &str, line: Option<u64>) -> String {
    match line {
        Some(line) => format!("{origin}:{line}"),
        None => origin.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_message_names_file_and_line() {
        let error = SuiteError::Malformed {
            path: PathBuf::from("val/law_val.csv"),
            line: 7,
            problem: "answer `E` is not one of A-D".to_string(),
        };
        assert_eq!(
            error.to_string(),
            "val/law_val.csv:7: answer `E` is not one of A-D; fix or remove this record"
        );
    }
}
