//! The typed item model's scoring half: what kind of item a planned item is
//! ([`ItemKind`]), what an endpoint answered for it ([`Response`]), and the one pure
//! function that turns the two into a [`Score`] ([`grade`]).
//!
//! The coordinator reads a kind out of its store once, with [`ItemKind::from_str`], and
//! builds a [`Response`] once — from a worker's report, a cached answer or a stored row —
//! so the live path, the response cache and `rescore` all grade through [`grade`] and
//! none of them builds wire messages to reuse a scorer. A kind this build does not know is
//! an error where it is read, never an item silently recorded instead of scored.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::contamination::{GuessMatch, match_guess, read_guess};
use crate::extract::{Extraction, extract_choice_with_options};
use crate::outcome::{Outcome, score_choice_reply};
use crate::peer::{AnswerShape, PeerExtractor, peer_credit, peer_text, shape_of};
use crate::tasks::grade::{AnswerKind, credit_of, grade_reply};
use crate::tasks::judge::read_verdict;

/// The kind of provenance probe: its answer is evidence, recorded as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ProbeKind {
    /// "Who made you?": the answer's claims about the model's maker.
    Identity,
    /// A fixed text whose prompt token count fingerprints the tokenizer.
    Tokenizer,
    /// An open question whose answer's style is compared between endpoints.
    Open,
    /// A multiple-choice item asked for the provenance fingerprint (the built-in bank, or
    /// a run item re-asked under a persona), its reply read for one option letter as
    /// [`ItemKind::Choice`] is. A probe, so it never counts in the benchmark's scores.
    McChoice,
    /// The same, scored by the first token's log-probabilities as
    /// [`ItemKind::FirstToken`]; the stored candidates give the options' rank order.
    McFirstToken,
}

impl ProbeKind {
    pub const ALL: [ProbeKind; 5] = [
        ProbeKind::Identity,
        ProbeKind::Tokenizer,
        ProbeKind::Open,
        ProbeKind::McChoice,
        ProbeKind::McFirstToken,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Identity => "identity",
            ProbeKind::Tokenizer => "tokenizer",
            ProbeKind::Open => "open",
            ProbeKind::McChoice => "mc_choice",
            ProbeKind::McFirstToken => "mc_first_token",
        }
    }

    /// Whether the probe's answer is an option letter, scored against a gold letter.
    pub fn is_multiple_choice(self) -> bool {
        matches!(self, ProbeKind::McChoice | ProbeKind::McFirstToken)
    }
}

impl fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProbeKind {
    type Err = UnknownItemKind;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ProbeKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| UnknownItemKind(format!("{}{text}", ItemKind::PROBE_PREFIX)))
    }
}

/// How a planned item is asked and scored. Stored by name (the names below are the
/// store's, unchanged since before the kinds were typed, so stores written earlier read
/// back as they were), in serde too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ItemKind {
    /// `choice`: a generated reply read for a single option letter by Jianzhen's cascade.
    Choice,
    /// `choice@NAME`: a generated reply read for a single letter as a peer framework's
    /// post-processor reads it.
    PeerChoice(PeerExtractor),
    /// `choice:hidden`: a split whose gold the benchmark withholds; the letter read is a
    /// prediction (`answered`), never scored.
    HiddenChoice,
    /// `label:hidden`: the same for items answered by label name (FewCLUE iflytek and
    /// csldcp's test split): the label read is the prediction.
    HiddenLabel,
    /// `choice:first_token`: the option letter with the highest first-token log-probability.
    FirstToken,
    /// `choice:loglik_echo`: the option whose text's echoed tokens have the highest sum.
    LoglikEcho,
    /// `eval:…`: a task-suite answer that is not a single letter (multi-select,
    /// sub-questions, span, number, free text, label). Never [`AnswerKind::Choice`].
    Graded(AnswerKind),
    /// `eval:multi_choice@NAME`, `eval:multi_question@NAME`: a multi-select or
    /// sub-question answer read and credited as a peer framework's evaluator does
    /// (GAOKAO-Bench's half credit for a subset, AGIEval's whole-string match).
    PeerGraded(AnswerKind, PeerExtractor),
    /// `judge:simpleqa`: graded by the run's judge model's verdict.
    JudgeSimpleQa,
    /// `probe:…`: a provenance probe, recorded as it is.
    Probe(ProbeKind),
    /// `contamination:order`: a multiple-choice item asked again with its options
    /// rotated (the contamination audit); its stored options and gold are the rotated
    /// ones, and it is read and scored as [`ItemKind::Choice`].
    PermutedChoice,
    /// `contamination:masked`: a wrong option hidden and the model asked to write it
    /// (TS-Guessing); the gold is the hidden text, `correct` an exact match.
    MaskedOption,
    /// `contamination:guided`: the first half of a question with the dataset's name and
    /// split, the model asked to finish it (guided completion); the gold is the true
    /// second half, and the reply is recorded, compared by the audit.
    GuidedCompletion,
    /// `contamination:general`: the same without the dataset's name.
    GeneralCompletion,
    /// `contamination:min_k`: a question's text echoed for every prompt token's
    /// log-probability (Min-K%, Shi et al. 2023); the tokens are recorded, and the audit
    /// compares the benchmark's items with the control items.
    MinKProbability,
}

/// A stored kind this build does not know (a store written by a newer Jianzhen, or edited
/// by hand).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown item kind `{0}`: this store was written by another version of Jianzhen; run this run with the version that planned it, or plan it again"
)]
pub struct UnknownItemKind(pub String);

impl ItemKind {
    /// The prefix every probe kind's name starts with (the store selects probes by it).
    pub const PROBE_PREFIX: &'static str = "probe:";
    /// The prefix of a peer-read single-letter kind's name.
    pub const PEER_CHOICE_PREFIX: &'static str = "choice@";
    /// The prefix of the contamination audit's kinds (kept out of the benchmark's scores).
    pub const CONTAMINATION_PREFIX: &'static str = "contamination:";

    /// The kind of a multiple-choice item scored in `mode`.
    pub fn for_choice(mode: crate::template::ScoringMode) -> ItemKind {
        use crate::template::ScoringMode;
        match mode {
            ScoringMode::Gen => ItemKind::Choice,
            ScoringMode::LoglikFirstToken => ItemKind::FirstToken,
            ScoringMode::LoglikEcho => ItemKind::LoglikEcho,
        }
    }

    /// Whether the item is asked for one token with its top log-probabilities (the
    /// worker sends `logprobs` and `top_logprobs`).
    pub fn asks_first_token(self) -> bool {
        matches!(
            self,
            ItemKind::FirstToken | ItemKind::Probe(ProbeKind::McFirstToken)
        )
    }

    /// The kind of a task-suite item graded as `answer`.
    pub fn for_answer(answer: AnswerKind) -> ItemKind {
        match answer {
            AnswerKind::Choice => ItemKind::Choice,
            other => ItemKind::Graded(other),
        }
    }

    /// The name the store keeps.
    pub fn name(self) -> String {
        match self {
            ItemKind::Choice => "choice".to_string(),
            ItemKind::PeerChoice(peer) => format!("{}{peer}", ItemKind::PEER_CHOICE_PREFIX),
            ItemKind::HiddenChoice => "choice:hidden".to_string(),
            ItemKind::HiddenLabel => "label:hidden".to_string(),
            ItemKind::FirstToken => "choice:first_token".to_string(),
            ItemKind::LoglikEcho => "choice:loglik_echo".to_string(),
            ItemKind::Graded(answer) => answer.as_str().to_string(),
            ItemKind::PeerGraded(answer, peer) => format!("{}@{peer}", answer.as_str()),
            ItemKind::JudgeSimpleQa => "judge:simpleqa".to_string(),
            ItemKind::Probe(probe) => format!("{}{probe}", ItemKind::PROBE_PREFIX),
            ItemKind::PermutedChoice => format!("{}order", ItemKind::CONTAMINATION_PREFIX),
            ItemKind::MaskedOption => format!("{}masked", ItemKind::CONTAMINATION_PREFIX),
            ItemKind::GuidedCompletion => format!("{}guided", ItemKind::CONTAMINATION_PREFIX),
            ItemKind::GeneralCompletion => format!("{}general", ItemKind::CONTAMINATION_PREFIX),
            ItemKind::MinKProbability => format!("{}min_k", ItemKind::CONTAMINATION_PREFIX),
        }
    }

    /// The kind of the same item read by `peer` (`None`: Jianzhen's own reading). Only
    /// generated letter answers have a peer reading; every other kind stays as it is.
    pub fn read_by(self, peer: Option<PeerExtractor>) -> ItemKind {
        let answer = match self {
            ItemKind::Choice | ItemKind::PeerChoice(_) => AnswerKind::Choice,
            ItemKind::Graded(answer) | ItemKind::PeerGraded(answer, _)
                if matches!(answer, AnswerKind::MultiChoice | AnswerKind::MultiQuestion) =>
            {
                answer
            }
            other => return other,
        };
        match (answer, peer) {
            (AnswerKind::Choice, None) => ItemKind::Choice,
            (AnswerKind::Choice, Some(peer)) => ItemKind::PeerChoice(peer),
            (answer, None) => ItemKind::Graded(answer),
            (answer, Some(peer)) => ItemKind::PeerGraded(answer, peer),
        }
    }

    /// The grading of a task-suite answer, where the kind has one.
    pub fn answer_kind(self) -> Option<AnswerKind> {
        match self {
            ItemKind::Graded(answer) | ItemKind::PeerGraded(answer, _) => Some(answer),
            ItemKind::Choice | ItemKind::PeerChoice(_) => Some(AnswerKind::Choice),
            _ => None,
        }
    }

    /// The credit of one stored result: partial credit and span F1 for the graded kinds
    /// when the answer was read (`correct` or `wrong`), otherwise 1 for `correct` and 0
    /// for everything else.
    pub fn credit(self, gold: &str, extracted: Option<&str>, outcome: Outcome) -> f64 {
        match (self, extracted) {
            (ItemKind::Graded(answer), Some(extracted))
                if matches!(outcome, Outcome::Correct | Outcome::Wrong) =>
            {
                credit_of(answer, gold, extracted)
            }
            (ItemKind::PeerGraded(_, peer), Some(extracted))
                if matches!(outcome, Outcome::Correct | Outcome::Wrong) =>
            {
                peer_graded_credit(peer, gold, extracted)
            }
            _ if outcome == Outcome::Correct => 1.0,
            _ => 0.0,
        }
    }

    /// The weight of one item in averages: the number of sub-answers of a multi-question
    /// item, 1 for every other item.
    pub fn weight(self, gold: &str) -> f64 {
        if self.answer_kind() != Some(AnswerKind::MultiQuestion) {
            return 1.0;
        }
        serde_json::from_str::<Vec<String>>(gold).map_or(1.0, |sets| sets.len().max(1) as f64)
    }
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for ItemKind {
    type Err = UnknownItemKind;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownItemKind(text.to_string());
        match text {
            "choice" => return Ok(ItemKind::Choice),
            "choice:hidden" => return Ok(ItemKind::HiddenChoice),
            "label:hidden" => return Ok(ItemKind::HiddenLabel),
            "choice:first_token" => return Ok(ItemKind::FirstToken),
            "choice:loglik_echo" => return Ok(ItemKind::LoglikEcho),
            "judge:simpleqa" => return Ok(ItemKind::JudgeSimpleQa),
            "contamination:order" => return Ok(ItemKind::PermutedChoice),
            "contamination:masked" => return Ok(ItemKind::MaskedOption),
            "contamination:guided" => return Ok(ItemKind::GuidedCompletion),
            "contamination:general" => return Ok(ItemKind::GeneralCompletion),
            "contamination:min_k" => return Ok(ItemKind::MinKProbability),
            _ => {}
        }
        if let Some(name) = text.strip_prefix(ItemKind::PEER_CHOICE_PREFIX) {
            return name
                .parse::<PeerExtractor>()
                .map(ItemKind::PeerChoice)
                .map_err(|_| unknown());
        }
        if let Some((answer, peer)) = text.split_once('@') {
            return match (AnswerKind::from_kind(answer), peer.parse::<PeerExtractor>()) {
                (
                    Some(answer @ (AnswerKind::MultiChoice | AnswerKind::MultiQuestion)),
                    Ok(peer),
                ) => Ok(ItemKind::PeerGraded(answer, peer)),
                _ => Err(unknown()),
            };
        }
        if let Some(name) = text.strip_prefix(ItemKind::PROBE_PREFIX) {
            return name.parse::<ProbeKind>().map(ItemKind::Probe);
        }
        match AnswerKind::from_kind(text) {
            Some(AnswerKind::Choice) | None => Err(unknown()),
            Some(answer) => Ok(ItemKind::Graded(answer)),
        }
    }
}

impl From<ItemKind> for String {
    fn from(kind: ItemKind) -> String {
        kind.name()
    }
}

impl TryFrom<String> for ItemKind {
    type Error = UnknownItemKind;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

/// Why an endpoint gave no answer, as far as scoring cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The endpoint (or its moderation) refused the request: `refused`.
    Moderation,
    /// Transport, HTTP or body error: `api_error`.
    Failed,
}

/// What an endpoint answered for one item, read once from wherever it comes from (a
/// worker's report, the response cache, a stored row).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    /// The reply text (empty for log-probability items and failures).
    pub text: String,
    /// The endpoint's finish reason (`stop`, `length`, `content_filter`, …).
    pub finish_reason: String,
    /// `None` when the endpoint answered.
    pub failure: Option<Failure>,
    /// Candidates with their log-probabilities: the first token's top candidates, or the
    /// options' summed echo log-probabilities, each named by the option letter.
    pub logprobs: Vec<(String, f64)>,
    /// The judge model's reply, for judged items.
    pub judge_text: String,
}

/// Finish reasons with which providers signal that they withheld the answer: OpenAI and
/// Azure `content_filter`, Zhipu `sensitive`.
const CONTENT_FILTER_FINISH_REASONS: [&str; 2] = ["content_filter", "sensitive"];

impl Response {
    /// Whether the reply was cut off by the token limit.
    pub fn is_truncated(&self) -> bool {
        self.finish_reason == "length"
    }

    /// The outcome of a response that carries no answer at all: an endpoint failure
    /// (`api_error`) or a refusal by moderation (`refused`); `None` for an answer.
    fn non_answer_outcome(&self) -> Option<Outcome> {
        match self.failure {
            Some(Failure::Moderation) => return Some(Outcome::Refused),
            Some(Failure::Failed) => return Some(Outcome::ApiError),
            None => {}
        }
        CONTENT_FILTER_FINISH_REASONS
            .contains(&self.finish_reason.as_str())
            .then_some(Outcome::Refused)
    }
}

/// What a response amounts to: what was read from it and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Score {
    pub extracted: Option<String>,
    pub outcome: Outcome,
}

impl Score {
    fn new(extracted: Option<String>, outcome: Outcome) -> Score {
        Score { extracted, outcome }
    }
}

/// Scores one response to an item of `kind` against its `gold` and `options`: the one
/// place a kind decides how a reply is read. Nothing that is not an answer is scored
/// wrong: endpoint failures are `api_error`; moderation refusals (an HTTP refusal, a
/// `content_filter` finish, or a reply that declines) are `refused`; answers cut off by
/// the token limit are `truncated` (what was read from them is still kept, for
/// inspection); replies with nothing readable are `unextractable`.
pub fn grade(kind: ItemKind, gold: &str, options: &[String], response: &Response) -> Score {
    // A multiple-choice probe is read and scored as the item kind it is asked as.
    let kind = match kind {
        ItemKind::Probe(ProbeKind::McChoice) => ItemKind::Choice,
        ItemKind::Probe(ProbeKind::McFirstToken) => ItemKind::FirstToken,
        other => other,
    };
    if let ItemKind::Probe(_) = kind {
        let outcome = match response.failure {
            None => Outcome::Recorded,
            Some(_) => Outcome::ApiError,
        };
        return Score::new(None, outcome);
    }
    if let Some(outcome) = response.non_answer_outcome() {
        return Score::new(None, outcome);
    }
    match kind {
        ItemKind::Choice | ItemKind::PermutedChoice => grade_choice(gold, options, response),
        ItemKind::MaskedOption => grade_masked(gold, response),
        // A completion is evidence compared by the audit, not an answer to score.
        ItemKind::GuidedCompletion | ItemKind::GeneralCompletion => {
            Score::new(None, Outcome::Recorded)
        }
        // The prompt's token log-probabilities are the evidence; an answer without any
        // (an endpoint that answered but echoed nothing) has nothing to read.
        ItemKind::MinKProbability if response.logprobs.is_empty() => {
            Score::new(None, Outcome::Unextractable)
        }
        ItemKind::MinKProbability => Score::new(None, Outcome::Recorded),
        ItemKind::PeerChoice(peer) => grade_peer(peer, gold, response),
        ItemKind::HiddenChoice => read_prediction(AnswerKind::Choice, options, response),
        ItemKind::HiddenLabel => read_prediction(AnswerKind::Label, options, response),
        ItemKind::FirstToken | ItemKind::LoglikEcho => grade_logprobs(gold, options, response),
        ItemKind::Graded(answer) => {
            let grade = grade_reply(answer, gold, options, &response.text);
            if response.is_truncated() {
                return Score::new(grade.extracted, Outcome::Truncated);
            }
            Score::new(grade.extracted, grade.outcome)
        }
        ItemKind::PeerGraded(_, peer) => grade_peer_graded(peer, gold, response),
        ItemKind::JudgeSimpleQa => {
            if response.is_truncated() {
                return Score::new(None, Outcome::Truncated);
            }
            // The verdict is stored as the extraction (`judge:correct`, ...); a judge
            // reply without a verdict leaves the answer `unextractable`, never wrong.
            match read_verdict(&response.judge_text) {
                Some(verdict) => Score::new(Some(verdict.as_str().to_string()), verdict.outcome()),
                None => Score::new(None, Outcome::Unextractable),
            }
        }
        ItemKind::Probe(_) => Score::new(None, Outcome::Recorded),
    }
}

/// A masked-option guess: the guess read from the reply, `correct` when it is the hidden
/// text exactly (near-exact matches are counted by the audit from the stored reply).
fn grade_masked(hidden: &str, response: &Response) -> Score {
    let guess = read_guess(&response.text);
    if response.is_truncated() {
        return Score::new(Some(guess).filter(|g| !g.is_empty()), Outcome::Truncated);
    }
    if guess.is_empty() {
        return Score::new(None, Outcome::Unextractable);
    }
    let outcome = if match_guess(&guess, hidden) == GuessMatch::Exact {
        Outcome::Correct
    } else {
        Outcome::Wrong
    };
    Score::new(Some(guess), outcome)
}

fn letter_of(extraction: Extraction) -> Option<String> {
    match extraction {
        Extraction::Choice(letter) => Some(letter.to_string()),
        Extraction::Unextractable => None,
    }
}

/// A generated reply read by Jianzhen's cascade for a single option letter.
fn grade_choice(gold: &str, options: &[String], response: &Response) -> Score {
    if response.is_truncated() {
        let extraction = extract_choice_with_options(&response.text, options);
        return Score::new(letter_of(extraction), Outcome::Truncated);
    }
    let Some(gold_letter) = gold.chars().next() else {
        return Score::new(None, Outcome::Unextractable);
    };
    let (extraction, outcome) = score_choice_reply(&response.text, options, gold_letter);
    Score::new(letter_of(extraction), outcome)
}

/// A single-letter reply as a peer framework reads it: its post-processor's letter
/// against the gold; a reply the peer reads no letter from is `unextractable`.
fn grade_peer(peer: PeerExtractor, gold: &str, response: &Response) -> Score {
    let letter = peer
        .read(&response.text, AnswerShape::Single)
        .into_iter()
        .next();
    if response.is_truncated() {
        return Score::new(letter, Outcome::Truncated);
    }
    match letter {
        Some(letter) if letter == gold => Score::new(Some(letter), Outcome::Correct),
        Some(letter) => Score::new(Some(letter), Outcome::Wrong),
        None => Score::new(None, Outcome::Unextractable),
    }
}

/// A multi-select or sub-question reply as a peer framework reads and credits it: its
/// reading (letters, or a JSON list of sub-answers) is kept; full credit is `correct`,
/// anything less `wrong` with its partial credit ([`ItemKind::credit`]).
fn grade_peer_graded(peer: PeerExtractor, gold: &str, response: &Response) -> Score {
    let Some((shape, gold_answers)) = shape_of(gold) else {
        return Score::new(None, Outcome::Unextractable);
    };
    let read = peer.read(&response.text, shape);
    let extracted = (!read.is_empty()).then(|| peer_text(shape, &read));
    if response.is_truncated() {
        return Score::new(extracted, Outcome::Truncated);
    }
    let Some(extracted) = extracted else {
        return Score::new(None, Outcome::Unextractable);
    };
    let outcome = if peer_credit(peer, shape, &gold_answers, &read) >= 1.0 {
        Outcome::Correct
    } else {
        Outcome::Wrong
    };
    Score::new(Some(extracted), outcome)
}

/// The peer's credit of a stored peer reading ([`peer_text`]'s form) against the gold.
fn peer_graded_credit(peer: PeerExtractor, gold: &str, extracted: &str) -> f64 {
    let Some((shape, gold_answers)) = shape_of(gold) else {
        return 0.0;
    };
    let read = match shape {
        AnswerShape::SubQuestions(_) | AnswerShape::FiveOutOfSeven => {
            serde_json::from_str::<Vec<String>>(extracted).unwrap_or_default()
        }
        AnswerShape::Single | AnswerShape::MultiSelect => vec![extracted.to_string()],
    };
    peer_credit(peer, shape, &gold_answers, &read)
}

/// A reply to an item whose gold the benchmark withholds: the option letter (or label
/// name) is a prediction (`answered`); refusals, cut-off and unreadable replies are
/// counted as for scored items, and none of them is a prediction.
fn read_prediction(answer: AnswerKind, options: &[String], response: &Response) -> Score {
    let prediction = crate::tasks::grade::read_prediction(answer, options, &response.text);
    if response.is_truncated() {
        return Score::new(prediction.ok(), Outcome::Truncated);
    }
    match prediction {
        Ok(reading) => Score::new(Some(reading), Outcome::Answered),
        Err(outcome) => Score::new(None, outcome),
    }
}

/// Log-probability scoring: among the candidates, the option letter with the highest
/// log-probability is the answer (whitespace around a token ignored, since tokenizers
/// often join a space to the letter). No letter among them: unextractable.
fn grade_logprobs(gold: &str, options: &[String], response: &Response) -> Score {
    let letters: Vec<char> = (0..options.len().max(1))
        .filter_map(|index| char::from_u32('A' as u32 + index as u32))
        .collect();
    let best = response
        .logprobs
        .iter()
        .filter_map(|(token, logprob)| {
            let mut characters = token.trim().chars();
            let letter = characters.next()?;
            (characters.next().is_none() && letters.contains(&letter)).then_some((letter, *logprob))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let Some((letter, _)) = best else {
        return Score::new(None, Outcome::Unextractable);
    };
    let outcome = if gold.starts_with(letter) {
        Outcome::Correct
    } else {
        Outcome::Wrong
    };
    Score::new(Some(letter.to_string()), outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Vec<String> {
        ["甲", "乙", "丙", "丁"].map(String::from).to_vec()
    }

    fn reply(text: &str) -> Response {
        Response {
            text: text.to_string(),
            finish_reason: "stop".to_string(),
            ..Response::default()
        }
    }

    #[test]
    fn every_kind_reads_back_from_its_stored_name() {
        let mut kinds = vec![
            ItemKind::Choice,
            ItemKind::HiddenChoice,
            ItemKind::HiddenLabel,
            ItemKind::FirstToken,
            ItemKind::LoglikEcho,
            ItemKind::JudgeSimpleQa,
            ItemKind::PermutedChoice,
            ItemKind::MaskedOption,
            ItemKind::GuidedCompletion,
            ItemKind::GeneralCompletion,
            ItemKind::MinKProbability,
        ];
        kinds.extend(ProbeKind::ALL.map(ItemKind::Probe));
        kinds.extend(
            AnswerKind::ALL
                .into_iter()
                .filter(|answer| *answer != AnswerKind::Choice)
                .map(ItemKind::Graded),
        );
        kinds.extend(PeerExtractor::ALL.map(ItemKind::PeerChoice));
        for answer in [AnswerKind::MultiChoice, AnswerKind::MultiQuestion] {
            kinds.extend(PeerExtractor::ALL.map(|peer| ItemKind::PeerGraded(answer, peer)));
        }
        for kind in kinds {
            assert_eq!(kind.name().parse::<ItemKind>(), Ok(kind), "{kind}");
        }
        // The names stores already hold.
        assert_eq!(
            ItemKind::Probe(ProbeKind::Identity).name(),
            "probe:identity"
        );
        assert_eq!(ItemKind::Graded(AnswerKind::Span).name(), "eval:span");
        assert_eq!(ItemKind::FirstToken.name(), "choice:first_token");
    }

    #[test]
    fn an_unknown_kind_is_an_error_not_a_recorded_probe() {
        for text in [
            "",
            "choise",
            "probe:",
            "probe:mystery",
            "choice@nobody",
            "eval:choice",
            "eval:span@gaokao_bench",
            "eval:multi_choice@nobody",
        ] {
            let error = text.parse::<ItemKind>().expect_err(text);
            assert!(error.to_string().contains("unknown item kind"), "{error}");
        }
    }

    #[test]
    fn choices_are_graded_and_non_answers_kept_apart() {
        let kind = ItemKind::Choice;
        assert_eq!(
            grade(kind, "B", &options(), &reply("答案是B")).outcome,
            Outcome::Correct
        );
        assert_eq!(
            grade(kind, "B", &options(), &reply("答案是C")).outcome,
            Outcome::Wrong
        );
        let cut = Response {
            finish_reason: "length".to_string(),
            ..reply("答案是B")
        };
        assert_eq!(
            grade(kind, "B", &options(), &cut),
            Score::new(Some("B".to_string()), Outcome::Truncated)
        );
        let failed = Response {
            failure: Some(Failure::Failed),
            ..reply("")
        };
        assert_eq!(
            grade(kind, "B", &options(), &failed).outcome,
            Outcome::ApiError
        );
        let filtered = Response {
            finish_reason: "content_filter".to_string(),
            ..reply("")
        };
        assert_eq!(
            grade(kind, "B", &options(), &filtered).outcome,
            Outcome::Refused
        );
    }

    #[test]
    fn probes_are_recorded_and_hidden_items_answered() {
        let probe = ItemKind::Probe(ProbeKind::Identity);
        assert_eq!(
            grade(probe, "", &[], &reply("我是通义千问")).outcome,
            Outcome::Recorded
        );
        assert_eq!(
            grade(ItemKind::HiddenChoice, "", &options(), &reply("答案是D")),
            Score::new(Some("D".to_string()), Outcome::Answered)
        );
    }

    #[test]
    fn multiple_choice_probes_are_graded_as_the_kind_they_are_asked_as() {
        let generated = ItemKind::Probe(ProbeKind::McChoice);
        assert_eq!(
            grade(generated, "C", &options(), &reply("答案是C")),
            Score::new(Some("C".to_string()), Outcome::Correct)
        );
        let first_token = ItemKind::Probe(ProbeKind::McFirstToken);
        assert!(first_token.asks_first_token() && !generated.asks_first_token());
        let candidates = Response {
            logprobs: vec![("答".to_string(), -0.1), (" B".to_string(), -0.7)],
            finish_reason: "length".to_string(),
            ..Response::default()
        };
        assert_eq!(
            grade(first_token, "A", &options(), &candidates),
            Score::new(Some("B".to_string()), Outcome::Wrong)
        );
        for kind in [generated, first_token] {
            assert!(kind.name().starts_with(ItemKind::PROBE_PREFIX), "{kind}");
        }
    }

    #[test]
    fn contamination_items_are_graded_as_choices_and_guesses() {
        assert_eq!(
            grade(ItemKind::PermutedChoice, "D", &options(), &reply("答案是D")).outcome,
            Outcome::Correct
        );
        assert_eq!(
            grade(
                ItemKind::MaskedOption,
                "光合作用",
                &[],
                &reply("答案：光合作用。")
            ),
            Score::new(Some("光合作用".to_string()), Outcome::Correct)
        );
        assert_eq!(
            grade(ItemKind::MaskedOption, "光合作用", &[], &reply("呼吸作用")).outcome,
            Outcome::Wrong
        );
        assert_eq!(
            grade(ItemKind::MaskedOption, "光合作用", &[], &reply("  ")).outcome,
            Outcome::Unextractable
        );
        assert_eq!(ItemKind::MaskedOption.name(), "contamination:masked");
        assert_eq!(ItemKind::MinKProbability.name(), "contamination:min_k");
        let echoed = Response {
            logprobs: vec![("题".to_string(), -0.4), ("目".to_string(), -2.0)],
            ..Response::default()
        };
        assert_eq!(
            grade(ItemKind::MinKProbability, "", &[], &echoed).outcome,
            Outcome::Recorded
        );
        assert_eq!(
            grade(ItemKind::MinKProbability, "", &[], &Response::default()).outcome,
            Outcome::Unextractable
        );
        let failed = Response {
            failure: Some(Failure::Failed),
            ..Response::default()
        };
        assert_eq!(
            grade(ItemKind::MinKProbability, "", &[], &failed).outcome,
            Outcome::ApiError
        );
    }

    #[test]
    fn log_probability_items_take_the_best_option_letter() {
        let response = Response {
            logprobs: vec![
                (" C".to_string(), -0.4),
                ("B".to_string(), -1.2),
                ("Z".to_string(), 0.0),
            ],
            ..Response::default()
        };
        assert_eq!(
            grade(ItemKind::FirstToken, "C", &options(), &response),
            Score::new(Some("C".to_string()), Outcome::Correct)
        );
        assert_eq!(
            grade(ItemKind::LoglikEcho, "B", &options(), &response).outcome,
            Outcome::Wrong
        );
        assert_eq!(
            grade(ItemKind::FirstToken, "B", &options(), &Response::default()).outcome,
            Outcome::Unextractable
        );
    }

    #[test]
    fn graded_kinds_give_partial_credit_only_for_read_answers() {
        let multi = ItemKind::Graded(AnswerKind::MultiChoice);
        assert!(
            (multi.credit("AC", Some("A"), Outcome::Wrong)
                - credit_of(AnswerKind::MultiChoice, "AC", "A"))
            .abs()
                < 1e-12
        );
        assert_eq!(multi.credit("AC", None, Outcome::Unextractable), 0.0);
        assert_eq!(
            ItemKind::Choice.credit("A", Some("A"), Outcome::Correct),
            1.0
        );
        assert_eq!(
            ItemKind::Graded(AnswerKind::MultiQuestion).weight(r#"["A","BC","D"]"#),
            3.0
        );
        assert_eq!(ItemKind::Choice.weight("A"), 1.0);
    }

    #[test]
    fn multi_answers_are_read_and_credited_as_the_peer_evaluator_does() {
        let gaokao = ItemKind::PeerGraded(AnswerKind::MultiChoice, PeerExtractor::GaokaoBench);
        assert_eq!(gaokao.name(), "eval:multi_choice@gaokao_bench");
        // GAOKAO-Bench reads the letters after 【答案】 and gives half for a subset.
        let subset = grade(gaokao, "AC", &[], &reply("【答案】A <eoa>"));
        assert_eq!(subset, Score::new(Some("A".to_string()), Outcome::Wrong));
        assert_eq!(gaokao.credit("AC", Some("A"), Outcome::Wrong), 0.5);
        let whole = grade(gaokao, "AC", &[], &reply("【答案】AC <eoa>"));
        assert_eq!(whole, Score::new(Some("AC".to_string()), Outcome::Correct));
        assert_eq!(gaokao.credit("AC", Some("AC"), Outcome::Correct), 1.0);
        // Sub-questions: one answer each, stored as a JSON list; credit per sub-answer.
        let sub = ItemKind::PeerGraded(AnswerKind::MultiQuestion, PeerExtractor::GaokaoBench);
        let gold = r#"["B","C"]"#;
        let read = grade(
            sub,
            gold,
            &[],
            &reply("(1)【答案】B <eoa>\n(2)【答案】D <eoa>"),
        );
        assert_eq!(read.outcome, Outcome::Wrong, "{read:?}");
        let extracted = read.extracted.expect("a reading");
        assert_eq!(
            sub.credit(gold, Some(&extracted), Outcome::Wrong),
            0.5,
            "{extracted}"
        );
        assert_eq!(sub.weight(gold), 2.0);
        assert_eq!(
            grade(gaokao, "AC", &[], &reply("不知道")).outcome,
            Outcome::Unextractable
        );
    }
}
