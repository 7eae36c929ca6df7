//! Runs every case of the extraction regression corpus (`corpus/extraction.jsonl`) and
//! fails with the full list of mismatches, so a change to the cascade shows at once every
//! reply it reads differently.
//!
//! The corpus was written for the project (no benchmark rows); each `expected` value is
//! what a careful human grader reads from the reply: a letter, `unextractable` when no
//! single option can be read, or `refused` when the model declines to answer.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use jianzhen_suites::extract::Extraction;
use jianzhen_suites::outcome::{Outcome, classify_choice};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    id: String,
    response: String,
    options: Vec<String>,
    expected: String,
    note: String,
}

fn corpus_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/extraction.jsonl")
}

fn read_corpus() -> Vec<Case> {
    let path = corpus_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line).unwrap_or_else(|error| {
                panic!(
                    "{}:{}: not a corpus case ({error}); each line is one JSON object with \
                     id, response, options, expected, note",
                    path.display(),
                    index + 1
                )
            })
        })
        .collect()
}

/// The label a reply gets: the letter read, or the outcome when none was.
fn label(response: &str, options: &[String]) -> String {
    match classify_choice(response, options) {
        (Extraction::Choice(letter), None) => letter.to_string(),
        (Extraction::Unextractable, Some(outcome)) => outcome.as_str().to_string(),
        other => panic!("classify_choice returned an inconsistent pair {other:?}"),
    }
}

#[test]
fn corpus_is_well_formed() {
    let cases = read_corpus();
    assert!(cases.len() >= 320, "only {} cases", cases.len());
    let mut ids = HashSet::new();
    let allowed = ["A", "B", "C", "D", "unextractable", "refused"];
    for case in &cases {
        assert!(ids.insert(case.id.as_str()), "duplicate id {}", case.id);
        assert!(
            allowed.contains(&case.expected.as_str()),
            "{}: expected `{}` is not one of {allowed:?}",
            case.id,
            case.expected
        );
        assert_eq!(case.options.len(), 4, "{}: four options", case.id);
        assert!(
            !case.note.is_empty(),
            "{}: every case says what it covers",
            case.id
        );
    }
    let mut distribution = BTreeMap::new();
    for case in &cases {
        *distribution.entry(case.expected.as_str()).or_insert(0) += 1;
    }
    // Every label is represented, so no class of reply goes untested.
    for label in allowed {
        assert!(
            distribution.get(label).copied().unwrap_or(0) >= 20,
            "{distribution:?}"
        );
    }
}

#[test]
fn every_corpus_case_is_read_as_a_grader_would() {
    let cases = read_corpus();
    let mismatches: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let got = label(&case.response, &case.options);
            (got != case.expected).then(|| {
                format!(
                    "{} ({}): response {:?}: expected {}, got {got}",
                    case.id, case.note, case.response, case.expected
                )
            })
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} corpus cases mismatch:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}

#[test]
fn refused_is_only_given_without_an_answer() {
    for case in read_corpus() {
        if let (Extraction::Choice(letter), Some(outcome)) =
            classify_choice(&case.response, &case.options)
        {
            panic!("{}: read {letter} but also {outcome}", case.id);
        }
    }
    assert_eq!(Outcome::Refused.as_str(), "refused");
}
