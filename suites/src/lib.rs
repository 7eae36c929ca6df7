//! # jianzhen-suites
//!
//! Everything Jianzhen knows about benchmark suites, with no async runtime and no IO
//! beyond reading the user's data files. The coordinator builds on it; workers never do.
//!
//! # Layout
//! - [`item`]: the multiple-choice item and where it came from, the suite names.
//! - [`load`]: C-Eval and CMMLU by name: thin entry points over their shipped specs
//!   ([`spec::builtin_spec`]), and the load result types every loader shares.
//! - [`subjects`]: subject keys, Chinese names and published category mappings.
//! - [`template`]: prompt templates reproduced byte for byte from OpenCompass and
//!   lm-evaluation-harness, as chat messages and (for log-likelihood scoring) as one text
//!   per option; [`template::ScoringMode`] says how a template's prompts are scored.
//! - [`spec`]: declarative TOML suite specs (files, field map, subjects, categories,
//!   few-shot source, template, scoring mode) and a loader that turns any CSV / JSONL /
//!   JSON multiple-choice set into [`McItem`]s; C-Eval and CMMLU ship as such specs.
//! - [`extract`]: answer extraction from Chinese and English model output, and refusal
//!   detection; checked against the regression corpus in `corpus/extraction.jsonl`.
//! - [`peer`]: the answer readings of the frameworks whose templates are reproduced
//!   (OpenCompass's post-processors), as named extractors, to score a run as they do.
//! - [`grading`]: the typed item model's scoring half — [`grading::ItemKind`] (how an
//!   item is asked and scored, stored by name), [`grading::Response`] (what the endpoint
//!   answered) and the pure [`grading::grade`], used alike for new answers, cached answers
//!   and `rescore`.
//! - [`outcome`]: outcome classes and per-item scoring of multiple-choice replies.
//! - [`formats`]: loaders for more suites (GAOKAO-Bench, AGIEval, C3, CMRC2018, OCNLI,
//!   FewCLUE, Chinese SimpleQA, CMATH) into a general [`formats::EvalItem`], with their
//!   scoring rules; a parallel API beside [`load`], run through [`tasks`].
//! - [`tasks`]: the `formats` suites as runnable suites: data layouts and splits, prompt
//!   templates, and grading of multi-answer, span, numeric, free-text and label replies.
//! - [`left_out`]: records that cannot become items, left out visibly (or refused under
//!   `--strict`), counted per file and subject.
//! - [`contamination`]: the contamination audit's pure half: option permutations, masked
//!   options, the control set and the paired tests.
//! - [`error`]: the crate's error type.

pub mod contamination;
pub mod error;
pub mod extract;
pub mod formats;
pub mod grading;
pub mod item;
pub mod left_out;
pub mod load;
pub mod outcome;
pub mod peer;
pub mod spec;
pub mod subjects;
pub mod tasks;
pub mod template;
#[cfg(test)]
mod test_fixtures;

pub use error::SuiteError;
pub use item::{McItem, SourceLocation, SuiteName};
pub use left_out::{Intake, LeftOut, RecordPolicy};
pub use spec::{DeclarativeSuite, load_spec_file, load_with_spec};
pub use template::ScoringMode;
