//! Outcome classes. They are counted apart and never folded into "wrong": a model that
//! answers in a form we cannot read, or an endpoint that fails, is a different finding
//! from a model that picks the wrong option.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::extract::Extraction;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Correct,
    Wrong,
    /// The model answered, but no option letter could be read from the answer.
    Unextractable,
    /// The answer was cut off by the token limit (`finish_reason: length`): the model did
    /// not finish, so whatever letter it was writing about is not its answer.
    Truncated,
    /// The endpoint never gave an answer (transport error, HTTP error, bad body).
    ApiError,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Correct,
        Outcome::Wrong,
        Outcome::Unextractable,
        Outcome::Truncated,
        Outcome::ApiError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Correct => "correct",
            Outcome::Wrong => "wrong",
            Outcome::Unextractable => "unextractable",
            Outcome::Truncated => "truncated",
            Outcome::ApiError => "api_error",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Outcome::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == text)
            .ok_or_else(|| format!("unknown outcome `{text}`"))
    }
}

/// Scores one multiple-choice answer against the gold letter.
pub fn score_choice(extraction: &Extraction, gold: char) -> Outcome {
    match extraction {
        Extraction::Choice(letter) if *letter == gold => Outcome::Correct,
        Extraction::Choice(_) => Outcome::Wrong,
        Extraction::Unextractable => Outcome::Unextractable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_through_their_names() {
        for outcome in Outcome::ALL {
            assert_eq!(outcome.as_str().parse::<Outcome>(), Ok(outcome));
        }
    }

    #[test]
    fn unreadable_answers_are_not_wrong() {
        assert_eq!(
            score_choice(&Extraction::Choice('B'), 'B'),
            Outcome::Correct
        );
        assert_eq!(score_choice(&Extraction::Choice('C'), 'B'), Outcome::Wrong);
        assert_eq!(
            score_choice(&Extraction::Unextractable, 'B'),
            Outcome::Unextractable
        );
    }
}
