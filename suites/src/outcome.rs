//! Outcome classes. They are counted apart and never folded into "wrong": a model that
//! answers in a form we cannot read, or an endpoint that fails, is a different finding
//! from a model that picks the wrong option.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::extract::{Extraction, extract_choice_with_options, is_refusal_given};

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
    /// The model declined to answer ("抱歉，我无法回答这个问题", "I can't help with
    /// that") and named no option. Counted apart from `unextractable`, because a refusal
    /// rate is a finding about the model's safety tuning, not about our parser.
    Refused,
    /// An item of a split whose gold the benchmark withholds, whose reply names an
    /// option: a prediction for the benchmark's leaderboard, never scored.
    Answered,
    /// A provenance probe's answer: evidence, recorded as it is, not a score.
    Recorded,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Correct,
        Outcome::Wrong,
        Outcome::Unextractable,
        Outcome::Truncated,
        Outcome::ApiError,
        Outcome::Refused,
        Outcome::Answered,
        Outcome::Recorded,
    ];

    /// The outcomes of a scored item (every one but `answered` and `recorded`), in the
    /// order the report's tables show them.
    pub const SCORED: [Outcome; 6] = [
        Outcome::Correct,
        Outcome::Wrong,
        Outcome::Unextractable,
        Outcome::Truncated,
        Outcome::Refused,
        Outcome::ApiError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Correct => "correct",
            Outcome::Wrong => "wrong",
            Outcome::Unextractable => "unextractable",
            Outcome::Truncated => "truncated",
            Outcome::ApiError => "api_error",
            Outcome::Refused => "refused",
            Outcome::Answered => "answered",
            Outcome::Recorded => "recorded",
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

/// Reads a reply to a multiple-choice item and says what it amounts to before it is
/// compared with a gold letter.
///
/// - A letter was read: `(Choice(letter), None)`; score it with [`score_choice`].
/// - No letter, and the reply declines to answer: `(Unextractable, Some(Refused))`.
/// - No letter otherwise: `(Unextractable, Some(Unextractable))`.
///
/// The extraction is exactly [`extract_choice_with_options`]'s, so results stored before
/// refusals were told apart keep their letters; only the outcome of some unextractable
/// replies changes.
pub fn classify_choice(response: &str, options: &[String]) -> (Extraction, Option<Outcome>) {
    let extraction = extract_choice_with_options(response, options);
    match extraction {
        Extraction::Choice(_) => (extraction, None),
        Extraction::Unextractable if is_refusal_given(response, extraction) => {
            (extraction, Some(Outcome::Refused))
        }
        Extraction::Unextractable => (extraction, Some(Outcome::Unextractable)),
    }
}

/// [`classify_choice`] and [`score_choice`] in one: the outcome of a finished reply
/// against its gold letter. Truncation and API errors are the caller's to detect first,
/// since they are not visible in the reply text.
pub fn score_choice_reply(response: &str, options: &[String], gold: char) -> (Extraction, Outcome) {
    match classify_choice(response, options) {
        (extraction, Some(outcome)) => (extraction, outcome),
        (extraction, None) => (extraction, score_choice(&extraction, gold)),
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

    #[test]
    fn refusals_are_told_apart_from_unreadable_answers() {
        let options: Vec<String> = ["甲", "乙", "丙", "丁"].map(String::from).to_vec();
        assert_eq!(
            score_choice_reply("抱歉，我无法回答这个问题。", &options, 'B'),
            (Extraction::Unextractable, Outcome::Refused)
        );
        assert_eq!(
            score_choice_reply("我不知道", &options, 'B'),
            (Extraction::Unextractable, Outcome::Unextractable)
        );
        assert_eq!(
            score_choice_reply("抱歉，我不确定，但答案是B", &options, 'B'),
            (Extraction::Choice('B'), Outcome::Correct)
        );
        assert_eq!(
            classify_choice("丙", &options),
            (Extraction::Choice('C'), None)
        );
    }
}
