//! The portable fingerprint profile: one endpoint's evidence in one JSON file, so a lab
//! can build a library of known models and compare every new vendor endpoint with it.
//!
//! The format is versioned ([`PROFILE_FORMAT_VERSION`]). The version is read before the
//! rest, so a profile from a newer Jianzhen is refused with a message that says so
//! rather than with a confusing parse error. Fields added later must carry
//! `#[serde(default)]` so older profiles of the same version still load.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::agreement::{AgreementReport, AnswerSheet, SameModelLevel, compare_answer_sheets_with};
use crate::error::ProvenanceError;
use crate::identity::{ClassifiedAnswer, Maker};
use crate::persona::{BAND_PERSONAS, PersonaBand, persona_band};
use crate::probes::TOKENIZER_TEXT_SET_NAME;
use crate::rank::{
    RankAgreement, RankJudgement, RankSheet, compare_rank_sheets, judge_rank_agreement, rank_band,
};
use crate::similarity::{OpenAnswerSimilarity, compare_open_answers};
use crate::tokenizer::{
    CandidateMatch, CandidateSource, TokenCountCandidate, compare_with_candidate,
};

/// The profile format this build writes and reads.
pub const PROFILE_FORMAT_VERSION: u32 = 1;

/// One endpoint's provenance evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FingerprintProfile {
    pub format_version: u32,
    /// The endpoint's name in the run configuration.
    pub endpoint_name: String,
    /// The vendor as declared by whoever configured the endpoint, kept as written; read
    /// it with [`FingerprintProfile::declared_maker`].
    pub declared_vendor: String,
    /// The model name the endpoint was called with.
    pub model: String,
    /// When the evidence was collected, RFC 3339; the caller supplies it because this
    /// crate reads no clock.
    pub created_at: String,
    /// Identity probe answers with their classification at the time of collection.
    #[serde(default)]
    pub identity_answers: Vec<ClassifiedAnswer>,
    /// Which tokenizer text set the counts are for; counts from different sets are not
    /// compared.
    #[serde(default = "default_tokenizer_text_set")]
    pub tokenizer_text_set: String,
    /// Reported `usage.prompt_tokens` per tokenizer text id, overhead included.
    #[serde(default)]
    pub tokenizer_counts: BTreeMap<String, u64>,
    /// Multiple-choice answers per item key, with suite and gold.
    #[serde(default)]
    pub mc_answers: AnswerSheet,
    /// Open answers per open prompt id.
    #[serde(default)]
    pub open_answers: BTreeMap<String, String>,
    /// Multiple-choice answers re-asked under personas, per persona id ("neutral",
    /// "vendor-like"; see [`crate::persona::BAND_PERSONAS`]), usually on a slice of the
    /// items. With [`FingerprintProfile::mc_answers`] as the built-in run they give the
    /// profile's persona band, the same-model level suspects are judged against when
    /// this profile is a reference.
    #[serde(default)]
    pub persona_mc_answers: BTreeMap<String, AnswerSheet>,
    /// First-token log-probabilities of the options per item key (the items asked by
    /// first token, keyed as [`FingerprintProfile::mc_answers`]), where the endpoint
    /// returned `top_logprobs`.
    #[serde(default)]
    pub mc_ranks: RankSheet,
    /// The same under personas, per persona id, as
    /// [`FingerprintProfile::persona_mc_answers`].
    #[serde(default)]
    pub persona_mc_ranks: BTreeMap<String, RankSheet>,
}

fn default_tokenizer_text_set() -> String {
    TOKENIZER_TEXT_SET_NAME.to_owned()
}

impl FingerprintProfile {
    /// An empty profile of the current version for the built-in tokenizer text set.
    pub fn new(
        endpoint_name: impl Into<String>,
        declared_vendor: impl Into<String>,
        model: impl Into<String>,
        created_at: impl Into<String>,
    ) -> FingerprintProfile {
        FingerprintProfile {
            format_version: PROFILE_FORMAT_VERSION,
            endpoint_name: endpoint_name.into(),
            declared_vendor: declared_vendor.into(),
            model: model.into(),
            created_at: created_at.into(),
            identity_answers: Vec::new(),
            tokenizer_text_set: default_tokenizer_text_set(),
            tokenizer_counts: BTreeMap::new(),
            mc_answers: AnswerSheet::new(),
            open_answers: BTreeMap::new(),
            persona_mc_answers: BTreeMap::new(),
            mc_ranks: RankSheet::new(),
            persona_mc_ranks: BTreeMap::new(),
        }
    }

    /// The rank-agreement band from [`FingerprintProfile::persona_mc_ranks`] (with
    /// [`FingerprintProfile::mc_ranks`] as the built-in persona): the lower end of the
    /// interval of the reference's mean τ with itself across personas; `None` without
    /// persona log-probabilities or with too few ranked items.
    pub fn rank_band(&self) -> Option<f64> {
        if self.persona_mc_ranks.is_empty() {
            return None;
        }
        let mut sheets = self.persona_mc_ranks.clone();
        sheets
            .entry(BAND_PERSONAS[0].id.to_owned())
            .or_insert_with(|| self.mc_ranks.clone());
        rank_band(&sheets)
    }

    /// The declared vendor as a known maker, `Unknown` if not recognised.
    pub fn declared_maker(&self) -> Maker {
        Maker::from_vendor_name(&self.declared_vendor)
    }

    /// The persona band from [`FingerprintProfile::persona_mc_answers`], with the
    /// built-in answers as the `built-in` persona; `None` without persona answers.
    pub fn persona_band(&self) -> Option<PersonaBand> {
        if self.persona_mc_answers.is_empty() {
            return None;
        }
        let mut sheets = self.persona_mc_answers.clone();
        sheets
            .entry(BAND_PERSONAS[0].id.to_owned())
            .or_insert_with(|| self.mc_answers.clone());
        Some(persona_band(&self.endpoint_name, &sheets))
    }

    /// This profile's token counts as a candidate for another endpoint's comparison.
    pub fn as_tokenizer_candidate(&self) -> TokenCountCandidate {
        TokenCountCandidate {
            name: format!("reference {}", self.endpoint_name),
            source: CandidateSource::ReferenceProfile {
                endpoint_name: self.endpoint_name.clone(),
            },
            counts: self.tokenizer_counts.clone(),
        }
    }

    /// Parses a profile; `origin` names the file in errors.
    ///
    /// # Errors
    /// [`ProvenanceError::ProfileParse`] for invalid JSON or missing fields,
    /// [`ProvenanceError::UnsupportedProfileVersion`] for another format version.
    pub fn from_json(json: &str, origin: &Path) -> Result<FingerprintProfile, ProvenanceError> {
        #[derive(Deserialize)]
        struct VersionOnly {
            format_version: u32,
        }
        let parse_error = |source| ProvenanceError::ProfileParse {
            path: origin.to_path_buf(),
            source,
        };
        let version: VersionOnly = serde_json::from_str(json).map_err(parse_error)?;
        if version.format_version != PROFILE_FORMAT_VERSION {
            return Err(ProvenanceError::UnsupportedProfileVersion {
                path: origin.to_path_buf(),
                found: version.format_version,
                supported: PROFILE_FORMAT_VERSION,
            });
        }
        serde_json::from_str(json).map_err(parse_error)
    }

    /// Pretty JSON with a trailing newline, so profiles diff well in version control.
    ///
    /// # Errors
    /// [`ProvenanceError::ProfileSerialize`]; cannot happen for the types used here, but
    /// serde's signature allows it.
    pub fn to_json(&self) -> Result<String, ProvenanceError> {
        let mut json = serde_json::to_string_pretty(self).map_err(|source| {
            ProvenanceError::ProfileSerialize {
                endpoint: self.endpoint_name.clone(),
                source,
            }
        })?;
        json.push('\n');
        Ok(json)
    }
}

/// Reads a profile file.
///
/// # Errors
/// [`ProvenanceError::ProfileRead`] if the file cannot be read, otherwise as for
/// [`FingerprintProfile::from_json`]; every error names the file.
pub fn load_profile(path: &Path) -> Result<FingerprintProfile, ProvenanceError> {
    let json = std::fs::read_to_string(path).map_err(|source| ProvenanceError::ProfileRead {
        path: path.to_path_buf(),
        source,
    })?;
    FingerprintProfile::from_json(&json, path)
}

/// Writes a profile file through a temporary file in the same folder and a rename, so a
/// crash never leaves half a profile where a complete one was.
///
/// # Errors
/// [`ProvenanceError::ProfileWrite`] naming the file, or
/// [`ProvenanceError::ProfileSerialize`].
pub fn save_profile(profile: &FingerprintProfile, path: &Path) -> Result<(), ProvenanceError> {
    let json = profile.to_json()?;
    let temporary_path = temporary_sibling(path);
    let write_error = |source| ProvenanceError::ProfileWrite {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(&temporary_path, json).map_err(write_error)?;
    std::fs::rename(&temporary_path, path).map_err(|source| {
        // Best effort: the rename error is the one worth reporting.
        let _ = std::fs::remove_file(&temporary_path);
        write_error(source)
    })
}

fn temporary_sibling(path: &Path) -> PathBuf {
    let mut file_name = path
        .file_name()
        .map(|name| name.to_os_string())
        .unwrap_or_default();
    file_name.push(".tmp");
    path.with_file_name(file_name)
}

/// How close one reference profile is to the candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceMatch {
    pub reference_endpoint: String,
    pub reference_model: String,
    pub reference_declared_vendor: String,
    /// Agreement on the multiple-choice items both profiles hold.
    pub agreement: AgreementReport,
    /// The reference's token counts as a tokenizer candidate; `None` when either profile
    /// has no counts or the two used different text sets.
    pub tokenizer: Option<CandidateMatch>,
    /// Character n-gram overlap of open answers; `None` when either profile has none.
    pub open_answers: Option<OpenAnswerSimilarity>,
    /// The reference's persona band, when it was re-asked under personas; the agreement
    /// above is then judged against it.
    #[serde(default)]
    pub persona_band: Option<PersonaBand>,
    /// First-token rank agreement of the wrong options, when both profiles hold
    /// log-probabilities for common items.
    #[serde(default)]
    pub rank: Option<RankComparison>,
}

/// Rank agreement with a reference, judged between independence (τ = 0) and the same
/// model's level: the reference's own rank band across personas when measured, else
/// [`ASSUMED_SAME_MODEL_RANK_TAU`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankComparison {
    pub agreement: RankAgreement,
    pub same_model_level: f64,
    /// Whether the level is the reference's measured rank band.
    pub band_measured: bool,
    pub judgement: RankJudgement,
}

/// The same-model rank agreement assumed when a reference has no rank band: the middle
/// of τ's positive range, far above the 0 of independent orders. Only a measured band
/// should be trusted; the report says which one was used.
pub const ASSUMED_SAME_MODEL_RANK_TAU: f64 = 0.5;

/// The independence level for rank agreement: unrelated orders of the wrong options
/// have mean τ 0.
pub const INDEPENDENT_RANK_TAU: f64 = 0.0;

fn compare_ranks(
    candidate: &FingerprintProfile,
    reference: &FingerprintProfile,
) -> Option<RankComparison> {
    if candidate.mc_ranks.is_empty() || reference.mc_ranks.is_empty() {
        return None;
    }
    let band = reference.rank_band();
    let same_model_level = band.unwrap_or(ASSUMED_SAME_MODEL_RANK_TAU);
    let agreement = compare_rank_sheets(&candidate.mc_ranks, &reference.mc_ranks);
    let judgement = judge_rank_agreement(&agreement, INDEPENDENT_RANK_TAU, same_model_level);
    Some(RankComparison {
        agreement,
        same_model_level,
        band_measured: band.is_some(),
        judgement,
    })
}

impl ReferenceMatch {
    /// The ranking key: the lower end of the 95% interval of wrong-answer agreement, so
    /// a reference sharing 3 of 3 errors does not outrank one sharing 95 of 100.
    fn wrong_answer_rank_key(&self) -> f64 {
        self.agreement
            .wrong_answers
            .interval_95
            .map_or(-1.0, |interval| interval.lower)
    }

    fn tokenizer_rank_key(&self) -> f64 {
        self.tokenizer
            .as_ref()
            .map_or(-1.0, |tokenizer| tokenizer.exact_match_fraction)
    }
}

/// Compares a candidate profile with each reference and ranks the references, nearest
/// first: by wrong-answer agreement (lower end of its 95% interval), then by the
/// fraction of tokenizer texts whose counts match exactly.
pub fn compare_profiles(
    candidate: &FingerprintProfile,
    references: &[FingerprintProfile],
) -> Vec<ReferenceMatch> {
    let mut matches: Vec<ReferenceMatch> = references
        .iter()
        .map(|reference| {
            let comparable_counts = !candidate.tokenizer_counts.is_empty()
                && !reference.tokenizer_counts.is_empty()
                && candidate.tokenizer_text_set == reference.tokenizer_text_set;
            let persona_band = reference.persona_band();
            let same_model = persona_band
                .as_ref()
                .map_or(SameModelLevel::ASSUMED, PersonaBand::level_or_assumed);
            ReferenceMatch {
                reference_endpoint: reference.endpoint_name.clone(),
                reference_model: reference.model.clone(),
                reference_declared_vendor: reference.declared_vendor.clone(),
                agreement: compare_answer_sheets_with(
                    &candidate.mc_answers,
                    &reference.mc_answers,
                    same_model,
                ),
                tokenizer: comparable_counts.then(|| {
                    compare_with_candidate(
                        &candidate.tokenizer_counts,
                        &reference.as_tokenizer_candidate(),
                    )
                }),
                open_answers: (!candidate.open_answers.is_empty()
                    && !reference.open_answers.is_empty())
                .then(|| compare_open_answers(&candidate.open_answers, &reference.open_answers)),
                persona_band,
                rank: compare_ranks(candidate, reference),
            }
        })
        .collect();
    matches.sort_by(|left, right| {
        right
            .wrong_answer_rank_key()
            .total_cmp(&left.wrong_answer_rank_key())
            .then(
                right
                    .tokenizer_rank_key()
                    .total_cmp(&left.tokenizer_rank_key()),
            )
            .then(left.reference_endpoint.cmp(&right.reference_endpoint))
    });
    matches
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agreement::McAnswer;
    use crate::evidence::EvidenceStrength;
    use crate::identity::classify_identity;

    fn mc(gold: char, chosen: char) -> McAnswer {
        McAnswer {
            suite: "cmmlu".to_owned(),
            gold,
            option_count: 4,
            chosen: Some(chosen),
        }
    }

    /// A profile answering 100 items: right on every third, otherwise the wrong letter
    /// picked by `wrong_pick` from the item index.
    fn profile(
        name: &str,
        vendor: &str,
        wrong_pick: impl Fn(usize) -> usize,
        token_offset: u64,
    ) -> FingerprintProfile {
        const LETTERS: [char; 4] = ['A', 'B', 'C', 'D'];
        let mut profile = FingerprintProfile::new(
            name,
            vendor,
            format!("{name}-model"),
            "2026-01-01T00:00:00Z",
        );
        for index in 0..100 {
            let gold = LETTERS[index % 4];
            let chosen = if index % 3 == 0 {
                gold
            } else {
                let wrong: Vec<char> = LETTERS
                    .iter()
                    .copied()
                    .filter(|letter| *letter != gold)
                    .collect();
                wrong[wrong_pick(index) % 3]
            };
            profile
                .mc_answers
                .insert(format!("cmmlu/law/{index:03}"), mc(gold, chosen));
        }
        for index in 0..30 {
            profile.tokenizer_counts.insert(
                format!("t{index:02}"),
                (index as u64 * 7) % 23
                    + token_offset
                    + if name.starts_with("indep") {
                        index as u64 % 3
                    } else {
                        0
                    },
            );
        }
        profile
    }

    #[test]
    fn profile_round_trips_through_a_file() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("qwen.json");
        let mut original = profile("qwen-official", "alibaba", |index| index, 5);
        let answer = "我是通义千问。";
        original.identity_answers.push(ClassifiedAnswer {
            probe_id: "zh-direct-who".to_owned(),
            answer: answer.to_owned(),
            classification: classify_identity(answer),
            leading_question: None,
        });
        original
            .open_answers
            .insert("zh-open-poem".to_owned(), "长江东去浪淘沙".to_owned());
        save_profile(&original, &path).expect("save");
        let loaded = load_profile(&path).expect("load");
        assert_eq!(loaded, original);
        assert_eq!(loaded.declared_maker(), Maker::Alibaba);
        assert!(!temporary_sibling(&path).exists());
    }

    #[test]
    fn missing_file_error_names_the_file() {
        let error = load_profile(Path::new("/nonexistent/ref.json")).expect_err("missing");
        assert!(
            error.to_string().contains("/nonexistent/ref.json"),
            "{error}"
        );
    }

    #[test]
    fn invalid_json_error_names_the_file() {
        let error =
            FingerprintProfile::from_json("{\"format_version\": 1}", Path::new("refs/broken.json"))
                .expect_err("missing fields");
        assert!(matches!(error, ProvenanceError::ProfileParse { .. }));
        assert!(error.to_string().contains("refs/broken.json"), "{error}");
    }

    #[test]
    fn newer_format_version_is_refused_before_parsing_the_rest() {
        let error = FingerprintProfile::from_json(
            "{\"format_version\": 2, \"something_new\": []}",
            Path::new("new.json"),
        )
        .expect_err("version 2");
        assert!(
            matches!(
                error,
                ProvenanceError::UnsupportedProfileVersion {
                    found: 2,
                    supported: 1,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn profile_without_optional_evidence_loads_with_defaults() {
        let json = r#"{"format_version":1,"endpoint_name":"e","declared_vendor":"baidu","model":"m","created_at":"2026-01-01T00:00:00Z"}"#;
        let profile = FingerprintProfile::from_json(json, Path::new("minimal.json"))
            .expect("minimal profile");
        assert_eq!(profile.tokenizer_text_set, TOKENIZER_TEXT_SET_NAME);
        assert!(profile.mc_answers.is_empty());
    }

    #[test]
    fn a_reference_with_persona_answers_judges_suspects_against_its_band() {
        let mut reference = profile("qwen", "alibaba", |index| index, 0);
        // Re-asked under the vendor-like persona, the reference moves half its wrong
        // answers (the even items among the 66 it gets wrong: 33), so it shares 50% of
        // its wrong answers with itself: Wilson 95% 38.3%–61.7%.
        reference.persona_mc_answers.insert(
            "vendor-like".to_owned(),
            profile(
                "qwen",
                "alibaba",
                |index| index + usize::from(index % 2 == 0),
                0,
            )
            .mc_answers,
        );
        let band = reference.persona_band().expect("persona answers");
        assert_eq!(band.personas, vec!["built-in", "vendor-like"]);
        assert_eq!(
            (band.items_same_wrong_option, band.items_both_wrong),
            (33, 66)
        );
        // A wrapper under its own persona moves the other half.
        let wrapper = profile(
            "xingchen",
            "xingchen",
            |index| index + usize::from(index % 2 == 1),
            0,
        );
        let without_band = {
            let mut plain = reference.clone();
            plain.persona_mc_answers.clear();
            compare_profiles(&wrapper, &[plain])
        };
        assert!(
            without_band[0]
                .agreement
                .interpretation
                .starts_with("consistent with independent models"),
            "{}",
            without_band[0].agreement.statement
        );
        let with_band = compare_profiles(&wrapper, &[reference]);
        let matched = &with_band[0];
        assert!(matched.persona_band.is_some());
        assert!(
            matched
                .agreement
                .statement
                .contains("38% for the same model under a persona, as measured"),
            "{}",
            matched.agreement.statement
        );
        assert!(
            !matched
                .agreement
                .statement
                .contains("consistent with independent models"),
            "{}",
            matched.agreement.statement
        );
    }

    #[test]
    fn wrapper_is_ranked_next_to_its_source_and_independent_model_apart() {
        let source = profile("gpt-source", "openai", |index| index, 7);
        let independent = profile("independent", "zhipu", |index| index * 7 + index / 5, 3);
        let mut wrapper = source.clone();
        wrapper.endpoint_name = "startup-wrapper".to_owned();
        wrapper.declared_vendor = "some startup".to_owned();
        // The wrapper's template adds two tokens more than its source's.
        for count in wrapper.tokenizer_counts.values_mut() {
            *count += 2;
        }
        let ranked = compare_profiles(&wrapper, &[independent.clone(), source.clone()]);
        assert_eq!(ranked[0].reference_endpoint, "gpt-source");
        assert_eq!(ranked[0].agreement.wrong_answers.rate, Some(1.0));
        assert_eq!(ranked[0].agreement.strength, EvidenceStrength::Strong);
        let tokenizer = ranked[0].tokenizer.as_ref().expect("counts compared");
        assert_eq!(tokenizer.exact_match_fraction, 1.0);
        assert_eq!(tokenizer.estimated_overhead, 2);
        assert_eq!(ranked[1].reference_endpoint, "independent");
        assert!(
            ranked[1].agreement.strength < EvidenceStrength::Moderate,
            "{}",
            ranked[1].agreement.statement
        );
        assert!(
            ranked[1]
                .tokenizer
                .as_ref()
                .is_some_and(|t| t.exact_match_fraction < 0.5)
        );
    }

    #[test]
    fn tokenizer_counts_from_another_text_set_are_not_compared() {
        let candidate = profile("a", "openai", |index| index, 1);
        let mut reference = profile("b", "openai", |index| index, 1);
        reference.tokenizer_text_set = "some-other-set".to_owned();
        let ranked = compare_profiles(&candidate, &[reference]);
        assert!(ranked[0].tokenizer.is_none());
    }
}
