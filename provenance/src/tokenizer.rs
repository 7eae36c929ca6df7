//! Tokenizer fingerprint: which tokenizer does the endpoint use?
//!
//! Each fixed text (see [`crate::probes::tokenizer_texts`]) is sent as a single user
//! message with `max_tokens: 1`, and the endpoint reports `usage.prompt_tokens`. That
//! count is the text's token count plus the chat template's overhead (role markers,
//! default system prompt), which is the same for every text. So for each candidate
//! tokenizer:
//!
//! `observed(text) = candidate(text) + overhead + residual(text)`
//!
//! and the overhead is estimated by least squares with the slope fixed at 1, which is the
//! mean of the differences. The mean is pulled by texts where the candidate is wrong, so
//! the residuals are taken against the median difference (rounded, since overheads are
//! whole tokens); the mean is reported beside it. A candidate that is the endpoint's
//! tokenizer leaves every residual at exactly zero.
//!
//! Candidates are the local tokenizers ([`LocalTokenizer`]: OpenAI's cl100k_base and
//! o200k_base through tiktoken-rs, whose rank files are compiled into the binary, so no
//! network is needed) and the stored counts of reference endpoints. For a reference
//! endpoint the "overhead" is the difference between the two endpoints' overheads.
//!
//! A tokenizer is public: a match says how the endpoint tokenizes, not whose weights it
//! runs. Qwen's vocabulary, for one, extends cl100k_base, so the two agree on much English
//! and code and differ on Chinese; that is why most texts here are Chinese.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use tiktoken_rs::CoreBPE;

use crate::error::ProvenanceError;
use crate::evidence::EvidenceStrength;
use crate::probes::TokenizerText;

/// Fewest texts compared for a full match to count as strong evidence; with fewer, a
/// match can be luck on texts that many tokenizers split alike.
pub const MIN_TEXTS_FOR_STRONG_MATCH: usize = 20;
/// Fewest texts compared for any statement at all.
pub const MIN_TEXTS_FOR_ANY_STATEMENT: usize = 10;
/// Fraction of exact matches from which a candidate is a "close" match (moderate).
pub const CLOSE_MATCH_FRACTION: f64 = 0.9;
/// Fraction of exact matches from which a candidate is a "partial" match (weak).
pub const PARTIAL_MATCH_FRACTION: f64 = 0.75;

/// Tokenizers computed locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalTokenizer {
    /// GPT-3.5-turbo and GPT-4.
    Cl100kBase,
    /// GPT-4o and later OpenAI models.
    O200kBase,
}

impl LocalTokenizer {
    pub const ALL: [LocalTokenizer; 2] = [LocalTokenizer::Cl100kBase, LocalTokenizer::O200kBase];

    pub fn name(self) -> &'static str {
        match self {
            LocalTokenizer::Cl100kBase => "cl100k_base",
            LocalTokenizer::O200kBase => "o200k_base",
        }
    }

    /// The models known to use this tokenizer, for report text.
    pub fn used_by(self) -> &'static str {
        match self {
            LocalTokenizer::Cl100kBase => "OpenAI GPT-3.5-turbo and GPT-4",
            LocalTokenizer::O200kBase => "OpenAI GPT-4o and later",
        }
    }

    /// Builds the tokenizer once per process; building o200k_base parses a 3.6 MB rank
    /// file, which is too slow to repeat per text.
    fn core_bpe(self) -> Result<&'static CoreBPE, ProvenanceError> {
        static CL100K_BASE: OnceLock<Result<CoreBPE, String>> = OnceLock::new();
        static O200K_BASE: OnceLock<Result<CoreBPE, String>> = OnceLock::new();
        let cell = match self {
            LocalTokenizer::Cl100kBase => &CL100K_BASE,
            LocalTokenizer::O200kBase => &O200K_BASE,
        };
        let built = cell.get_or_init(|| {
            let result = match self {
                LocalTokenizer::Cl100kBase => tiktoken_rs::cl100k_base(),
                LocalTokenizer::O200kBase => tiktoken_rs::o200k_base(),
            };
            result.map_err(|error| format!("{error:#}"))
        });
        built
            .as_ref()
            .map_err(|reason| ProvenanceError::TokenizerUnavailable {
                tokenizer: self.name(),
                reason: reason.clone(),
            })
    }

    /// Counts the tokens of `text` as ordinary text: special-token strings in it are not
    /// treated as special, as an API does with user content.
    ///
    /// # Errors
    /// [`ProvenanceError::TokenizerUnavailable`] if the embedded ranks fail to load.
    pub fn count_tokens(self, text: &str) -> Result<u64, ProvenanceError> {
        let tokenizer = self.core_bpe()?;
        Ok(tokenizer.encode_ordinary(text).len() as u64)
    }

    /// Counts per text id for a set of texts.
    ///
    /// # Errors
    /// As for [`LocalTokenizer::count_tokens`].
    pub fn count_texts(
        self,
        texts: &[TokenizerText],
    ) -> Result<BTreeMap<String, u64>, ProvenanceError> {
        texts
            .iter()
            .map(|text| Ok((text.id.clone(), self.count_tokens(&text.text)?)))
            .collect()
    }
}

/// Where a candidate's counts come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CandidateSource {
    /// Computed here by a known tokenizer.
    LocalTokenizer { tokenizer: LocalTokenizer },
    /// Reported by a reference endpoint and stored in its profile.
    ReferenceProfile { endpoint_name: String },
    /// Computed here by a model family's own tokenizer file, checked by its sha256.
    FamilyTokenizer {
        family: crate::family::FamilyTokenizer,
        sha256: String,
    },
}

/// Token counts per text id from one candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCountCandidate {
    /// Shown in the match table ("cl100k_base", "reference qwen-official").
    pub name: String,
    pub source: CandidateSource,
    pub counts: BTreeMap<String, u64>,
}

/// The local tokenizers as candidates over the given texts.
///
/// # Errors
/// As for [`LocalTokenizer::count_tokens`].
pub fn local_candidates(
    texts: &[TokenizerText],
) -> Result<Vec<TokenCountCandidate>, ProvenanceError> {
    LocalTokenizer::ALL
        .iter()
        .map(|tokenizer| {
            Ok(TokenCountCandidate {
                name: tokenizer.name().to_owned(),
                source: CandidateSource::LocalTokenizer {
                    tokenizer: *tokenizer,
                },
                counts: tokenizer.count_texts(texts)?,
            })
        })
        .collect()
}

/// One text's residual after the overhead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextResidual {
    pub text_id: String,
    /// What the endpoint reported, overhead included.
    pub observed: u64,
    /// What the candidate counts for the text alone.
    pub candidate: u64,
    /// `observed - candidate - overhead`; zero where the candidate explains the count.
    pub residual: i64,
}

/// How well one candidate explains the observed counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateMatch {
    pub candidate_name: String,
    pub source: CandidateSource,
    /// Texts with both an observed and a candidate count.
    pub texts_compared: usize,
    /// The median difference, rounded: the template overhead if this is the tokenizer.
    pub estimated_overhead: i64,
    /// The least-squares estimate with slope 1 (the mean difference), for comparison: it
    /// equals `estimated_overhead` when the candidate matches.
    pub least_squares_overhead: f64,
    pub exact_matches: usize,
    pub exact_match_fraction: f64,
    pub mean_absolute_residual: f64,
    pub max_absolute_residual: i64,
    /// Per text, in text id order.
    pub residuals: Vec<TextResidual>,
    pub strength: EvidenceStrength,
    pub statement: String,
}

/// Fits the overhead for one candidate and measures the residuals.
pub fn compare_with_candidate(
    observed: &BTreeMap<String, u64>,
    candidate: &TokenCountCandidate,
) -> CandidateMatch {
    let paired: Vec<(&String, u64, u64)> = observed
        .iter()
        .filter_map(|(text_id, observed_count)| {
            candidate
                .counts
                .get(text_id)
                .map(|candidate_count| (text_id, *observed_count, *candidate_count))
        })
        .collect();
    let differences: Vec<i64> = paired
        .iter()
        .map(|(_, observed_count, candidate_count)| {
            *observed_count as i64 - *candidate_count as i64
        })
        .collect();
    let estimated_overhead = rounded_median(&differences);
    let least_squares_overhead = if differences.is_empty() {
        0.0
    } else {
        differences.iter().sum::<i64>() as f64 / differences.len() as f64
    };
    let residuals: Vec<TextResidual> = paired
        .iter()
        .map(|(text_id, observed_count, candidate_count)| TextResidual {
            text_id: (*text_id).clone(),
            observed: *observed_count,
            candidate: *candidate_count,
            residual: *observed_count as i64 - *candidate_count as i64 - estimated_overhead,
        })
        .collect();
    let texts_compared = residuals.len();
    let exact_matches = residuals
        .iter()
        .filter(|residual| residual.residual == 0)
        .count();
    let exact_match_fraction = fraction(exact_matches, texts_compared);
    let mean_absolute_residual = if texts_compared == 0 {
        0.0
    } else {
        residuals
            .iter()
            .map(|residual| residual.residual.abs())
            .sum::<i64>() as f64
            / texts_compared as f64
    };
    let max_absolute_residual = residuals
        .iter()
        .map(|residual| residual.residual.abs())
        .max()
        .unwrap_or(0);

    let strength = if texts_compared < MIN_TEXTS_FOR_ANY_STATEMENT {
        EvidenceStrength::Insufficient
    } else if exact_matches == texts_compared && texts_compared >= MIN_TEXTS_FOR_STRONG_MATCH {
        EvidenceStrength::Strong
    } else if exact_match_fraction >= CLOSE_MATCH_FRACTION {
        EvidenceStrength::Moderate
    } else if exact_match_fraction >= PARTIAL_MATCH_FRACTION {
        EvidenceStrength::Weak
    } else {
        EvidenceStrength::None
    };
    let name = &candidate.name;
    let statement = match strength {
        EvidenceStrength::Insufficient => format!(
            "only {texts_compared} texts in common with {name}, too few to compare tokenizers"
        ),
        EvidenceStrength::Strong => format!(
            "exact match on all {texts_compared} texts after a constant overhead of {estimated_overhead} tokens: strong evidence the endpoint uses the same tokenizer as {name}"
        ),
        EvidenceStrength::Moderate => format!(
            "exact match on {exact_matches} of {texts_compared} texts (overhead {estimated_overhead}, mean absolute residual {mean_absolute_residual:.2}): moderate evidence of the same tokenizer as {name} or a close variant of it"
        ),
        EvidenceStrength::Weak => format!(
            "exact match on {exact_matches} of {texts_compared} texts: a partial match with {name}, as between related vocabularies; weak evidence"
        ),
        _ => format!(
            "exact match on {exact_matches} of {texts_compared} texts (mean absolute residual {mean_absolute_residual:.2}): the endpoint does not tokenize like {name}"
        ),
    };
    CandidateMatch {
        candidate_name: candidate.name.clone(),
        source: candidate.source.clone(),
        texts_compared,
        estimated_overhead,
        least_squares_overhead,
        exact_matches,
        exact_match_fraction,
        mean_absolute_residual,
        max_absolute_residual,
        residuals,
        strength,
        statement,
    }
}

fn fraction(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The median, rounded half away from zero for an even count; 0 for no values.
fn rounded_median(values: &[i64]) -> i64 {
    if values.is_empty() {
        return 0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        ((sorted[middle - 1] + sorted[middle]) as f64 / 2.0).round() as i64
    }
}

/// All candidates compared with the observed counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizerComparison {
    /// Best first: most exact matches, then smallest mean absolute residual.
    pub matches: Vec<CandidateMatch>,
    /// The strength of the best match.
    pub strength: EvidenceStrength,
    pub statement: String,
}

impl TokenizerComparison {
    /// The best candidate when it matches at least closely (moderate or strong).
    pub fn matched_candidate(&self) -> Option<&CandidateMatch> {
        self.matches
            .first()
            .filter(|best| best.strength >= EvidenceStrength::Moderate)
    }
}

/// Compares the observed counts with every candidate and ranks them.
pub fn compare_token_counts(
    observed: &BTreeMap<String, u64>,
    candidates: &[TokenCountCandidate],
) -> TokenizerComparison {
    let mut matches: Vec<CandidateMatch> = candidates
        .iter()
        .map(|candidate| compare_with_candidate(observed, candidate))
        .collect();
    matches.sort_by(|left, right| {
        right
            .strength
            .cmp(&left.strength)
            .then(
                right
                    .exact_match_fraction
                    .total_cmp(&left.exact_match_fraction),
            )
            .then(
                left.mean_absolute_residual
                    .total_cmp(&right.mean_absolute_residual),
            )
    });
    let (strength, statement) = match matches.first() {
        None => (
            EvidenceStrength::Insufficient,
            "no candidate tokenizer to compare with".to_owned(),
        ),
        Some(best) if best.strength == EvidenceStrength::Insufficient => (
            EvidenceStrength::Insufficient,
            format!(
                "only {} texts have reported counts; at least {MIN_TEXTS_FOR_ANY_STATEMENT} are needed to compare tokenizers",
                best.texts_compared
            ),
        ),
        Some(best) if best.strength >= EvidenceStrength::Moderate => {
            let equally_good: Vec<&str> = matches
                .iter()
                .filter(|other| {
                    other.strength == best.strength && other.exact_matches == best.exact_matches
                })
                .map(|other| other.candidate_name.as_str())
                .collect();
            let also = if equally_good.len() > 1 {
                format!(
                    " (equally matched: {}; these share a tokenizer)",
                    equally_good.join(", ")
                )
            } else {
                String::new()
            };
            (
                best.strength,
                format!(
                    "{}{also}; a tokenizer is public, so this shows how the endpoint tokenizes, not whose weights it runs",
                    best.statement
                ),
            )
        }
        Some(best) => (
            EvidenceStrength::None,
            format!(
                "no candidate matches: the closest, {}, matches {} of {} texts exactly; the endpoint's tokenizer is none of {}",
                best.candidate_name,
                best.exact_matches,
                best.texts_compared,
                matches
                    .iter()
                    .map(|candidate| candidate.candidate_name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    };
    TokenizerComparison {
        matches,
        strength,
        statement,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::tokenizer_texts;

    fn texts() -> Vec<TokenizerText> {
        tokenizer_texts().expect("built-in texts parse")
    }

    fn counts_of(tokenizer: LocalTokenizer) -> BTreeMap<String, u64> {
        tokenizer
            .count_texts(&texts())
            .expect("tokenizer loads from embedded ranks")
    }

    fn with_overhead(counts: &BTreeMap<String, u64>, overhead: u64) -> BTreeMap<String, u64> {
        counts
            .iter()
            .map(|(id, count)| (id.clone(), count + overhead))
            .collect()
    }

    #[test]
    fn known_counts_from_the_embedded_ranks() {
        // Reference values from OpenAI's tiktoken for these strings.
        assert_eq!(
            LocalTokenizer::Cl100kBase.count_tokens("hello world").ok(),
            Some(2)
        );
        assert_eq!(
            LocalTokenizer::O200kBase.count_tokens("hello world").ok(),
            Some(2)
        );
        assert_eq!(LocalTokenizer::Cl100kBase.count_tokens("").ok(), Some(0));
    }

    #[test]
    fn the_texts_tell_cl100k_and_o200k_apart_on_most_texts() {
        let cl100k = counts_of(LocalTokenizer::Cl100kBase);
        let o200k = counts_of(LocalTokenizer::O200kBase);
        let differing = cl100k
            .iter()
            .filter(|(id, count)| o200k.get(*id) != Some(count))
            .count();
        assert!(
            differing * 2 > cl100k.len(),
            "only {differing} of {} differ",
            cl100k.len()
        );
    }

    #[test]
    fn endpoint_reporting_cl100k_plus_seven_is_identified_as_cl100k_with_overhead_seven() {
        let observed = with_overhead(&counts_of(LocalTokenizer::Cl100kBase), 7);
        let comparison = compare_token_counts(
            &observed,
            &local_candidates(&texts()).expect("local tokenizers load"),
        );
        let best = comparison.matched_candidate().expect("a candidate matches");
        assert_eq!(best.candidate_name, "cl100k_base");
        assert_eq!(best.estimated_overhead, 7);
        assert_eq!(best.least_squares_overhead, 7.0);
        assert_eq!(best.exact_match_fraction, 1.0);
        assert_eq!(best.mean_absolute_residual, 0.0);
        assert_eq!(comparison.strength, EvidenceStrength::Strong);
        let texts_count = texts().len();
        assert!(
            comparison.statement.starts_with(&format!(
                "exact match on all {texts_count} texts after a constant overhead of 7 tokens: strong evidence the endpoint uses the same tokenizer as cl100k_base"
            )),
            "{}",
            comparison.statement
        );
        let o200k = &comparison.matches[1];
        assert_eq!(o200k.candidate_name, "o200k_base");
        assert!(
            o200k.strength <= EvidenceStrength::None,
            "{}",
            o200k.statement
        );
    }

    #[test]
    fn endpoint_reporting_o200k_plus_three_is_identified_as_o200k_with_overhead_three() {
        let observed = with_overhead(&counts_of(LocalTokenizer::O200kBase), 3);
        let comparison = compare_token_counts(
            &observed,
            &local_candidates(&texts()).expect("local tokenizers load"),
        );
        let best = comparison.matched_candidate().expect("a candidate matches");
        assert_eq!(best.candidate_name, "o200k_base");
        assert_eq!(best.estimated_overhead, 3);
        assert_eq!(best.exact_matches, texts().len());
        assert_eq!(comparison.strength, EvidenceStrength::Strong);
    }

    /// A tokenizer built like Qwen's: cl100k_base on ASCII, its own larger Chinese
    /// vocabulary elsewhere (simulated as one token per two non-ASCII characters).
    fn qwen_like_counts() -> BTreeMap<String, u64> {
        let cl100k = counts_of(LocalTokenizer::Cl100kBase);
        texts()
            .iter()
            .map(|text| {
                let count = if text.text.is_ascii() {
                    cl100k[&text.id]
                } else {
                    let non_ascii = text.text.chars().filter(|c| !c.is_ascii()).count() as u64;
                    let ascii_words = text
                        .text
                        .split(|c: char| !c.is_ascii_alphanumeric())
                        .filter(|w| !w.is_empty())
                        .count() as u64;
                    non_ascii.div_ceil(2) + ascii_words
                };
                (text.id.clone(), count + 5)
            })
            .collect()
    }

    #[test]
    fn qwen_like_profile_matches_neither_local_tokenizer() {
        let comparison = compare_token_counts(
            &qwen_like_counts(),
            &local_candidates(&texts()).expect("local tokenizers load"),
        );
        assert!(comparison.matched_candidate().is_none());
        assert_eq!(comparison.strength, EvidenceStrength::None);
        assert!(
            comparison.statement.starts_with("no candidate matches"),
            "{}",
            comparison.statement
        );
        for candidate in &comparison.matches {
            assert!(
                candidate.strength < EvidenceStrength::Moderate,
                "{}",
                candidate.statement
            );
            assert!(candidate.mean_absolute_residual > 1.0);
        }
    }

    #[test]
    fn a_reference_profile_is_matched_with_the_difference_of_overheads() {
        let reference_counts = with_overhead(&qwen_like_counts(), 4);
        let observed = with_overhead(&qwen_like_counts(), 10);
        let mut candidates = local_candidates(&texts()).expect("local tokenizers load");
        candidates.push(TokenCountCandidate {
            name: "reference qwen-official".to_owned(),
            source: CandidateSource::ReferenceProfile {
                endpoint_name: "qwen-official".to_owned(),
            },
            counts: reference_counts,
        });
        let comparison = compare_token_counts(&observed, &candidates);
        let best = comparison
            .matched_candidate()
            .expect("the reference matches");
        assert_eq!(best.candidate_name, "reference qwen-official");
        assert_eq!(best.estimated_overhead, 6);
    }

    #[test]
    fn a_few_preprocessing_differences_leave_a_close_match_and_show_in_residuals() {
        let mut observed = with_overhead(&counts_of(LocalTokenizer::Cl100kBase), 7);
        let changed_ids: Vec<String> = observed.keys().take(3).cloned().collect();
        for id in &changed_ids {
            if let Some(count) = observed.get_mut(id) {
                *count += 2;
            }
        }
        let comparison = compare_token_counts(
            &observed,
            &local_candidates(&texts()).expect("local tokenizers load"),
        );
        let best = &comparison.matches[0];
        assert_eq!(best.candidate_name, "cl100k_base");
        assert_eq!(best.estimated_overhead, 7);
        assert_eq!(best.strength, EvidenceStrength::Moderate);
        let off: Vec<&str> = best
            .residuals
            .iter()
            .filter(|r| r.residual != 0)
            .map(|r| r.text_id.as_str())
            .collect();
        assert_eq!(
            off,
            changed_ids.iter().map(String::as_str).collect::<Vec<_>>()
        );
        assert!(best.least_squares_overhead > 7.0);
    }

    #[test]
    fn too_few_texts_is_insufficient() {
        let observed: BTreeMap<String, u64> =
            with_overhead(&counts_of(LocalTokenizer::Cl100kBase), 7)
                .into_iter()
                .take(5)
                .collect();
        let comparison = compare_token_counts(
            &observed,
            &local_candidates(&texts()).expect("local tokenizers load"),
        );
        assert_eq!(comparison.strength, EvidenceStrength::Insufficient);
    }

    #[test]
    fn median_rounds_even_counts() {
        assert_eq!(rounded_median(&[1, 2, 3]), 2);
        assert_eq!(rounded_median(&[1, 2]), 2);
        assert_eq!(rounded_median(&[]), 0);
        assert_eq!(rounded_median(&[-3, -2]), -3);
    }
}
