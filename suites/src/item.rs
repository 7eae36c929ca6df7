//! The unit a suite is made of: one multiple-choice item, with where it came from.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::SuiteError;

/// The suites Jianzhen can load. Each has its own file layout and default template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SuiteName {
    /// C-Eval: `{dev,val,test}/{subject}_{split}.csv`, 52 subjects.
    Ceval,
    /// CMMLU: `{dev,test}/{subject}.csv`, 67 subjects, unnamed index column first.
    Cmmlu,
}

impl SuiteName {
    pub const ALL: [SuiteName; 2] = [SuiteName::Ceval, SuiteName::Cmmlu];

    pub fn as_str(self) -> &'static str {
        match self {
            SuiteName::Ceval => "ceval",
            SuiteName::Cmmlu => "cmmlu",
        }
    }

    /// The split evaluated when the user names none: C-Eval's test answers are hidden,
    /// so its default is `val`; CMMLU publishes answers for `test`.
    pub fn default_split(self) -> &'static str {
        match self {
            SuiteName::Ceval => "val",
            SuiteName::Cmmlu => "test",
        }
    }
}

impl fmt::Display for SuiteName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SuiteName {
    type Err = SuiteError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "ceval" => Ok(SuiteName::Ceval),
            "cmmlu" => Ok(SuiteName::Cmmlu),
            _ => Err(SuiteError::UnknownSuite {
                name: name.to_string(),
            }),
        }
    }
}

/// Where an item was read from, so every error and every report row can point back to
/// the exact record in the user's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLocation {
    pub path: PathBuf,
    /// 1-based line of the record's first line in the file (a quoted cell may span lines).
    pub line: u64,
}

/// One multiple-choice question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct McItem {
    /// Stable id within the suite, `{subject}/{split}/{row id}`; the planner hashes it
    /// (with the prompt) into the item key, so re-planning finds finished work.
    pub id: String,
    /// Subject key as the suite names its files, e.g. `computer_network`.
    pub subject: String,
    pub question: String,
    /// Option texts in letter order: `options[0]` is A.
    pub options: Vec<String>,
    /// Gold letter; `None` where the split hides answers (C-Eval test).
    pub answer: Option<char>,
    /// C-Eval dev rows carry an explanation (used by chain-of-thought few-shot prompts).
    pub explanation: Option<String>,
    pub source: SourceLocation,
}

impl McItem {
    /// The option letters this item offers, `A`, `B`, ... in order.
    pub fn letters(&self) -> impl Iterator<Item = char> + '_ {
        (0..self.options.len()).filter_map(|index| char::from_u32('A' as u32 + index as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_names_parse_loosely_and_print_canonically() {
        assert_eq!("C-Eval".parse::<SuiteName>().ok(), Some(SuiteName::Ceval));
        assert_eq!("cmmlu".parse::<SuiteName>().ok(), Some(SuiteName::Cmmlu));
        assert!("mmlu".parse::<SuiteName>().is_err());
        assert_eq!(SuiteName::Ceval.to_string(), "ceval");
    }
}
