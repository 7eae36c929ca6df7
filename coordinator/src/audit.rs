//! The provenance audit of a run: turns the stored answers to the built-in probes and to
//! the multiple-choice items into one fingerprint profile per endpoint, and the profiles
//! (with reference profiles from earlier runs) into the report's provenance section.
//!
//! The evidence and its wording live in `jianzhen-provenance`; this module only gathers
//! what the store holds.

use std::collections::BTreeMap;

use jianzhen_provenance::agreement::McAnswer;
use jianzhen_provenance::family::load_configured;
use jianzhen_provenance::identity::{ClassifiedAnswer, classify_identity};
use jianzhen_provenance::persona::BAND_PERSONAS;
use jianzhen_provenance::profile::FingerprintProfile;
use jianzhen_provenance::rank::RankedItem;
use jianzhen_provenance::report::{
    ProvenanceFindings, audit_profile_with_families, render_provenance_section,
};

use crate::error::CoordinatorError;
use crate::planner::ProbeKind;
use crate::spec::RunSpec;
use crate::store::{ProbeRow, ScoredRow};
use jianzhen_suites::grading::{ItemKind, Response, grade};
use jianzhen_suites::outcome::Outcome;

/// The declared vendor written into a profile when the spec names none.
pub const UNDECLARED_VENDOR: &str = "undeclared";

/// The answer to one item of the multiple-choice fingerprint (the built-in bank, or an
/// item re-asked under a persona; see `planner::provenance`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProvenanceMcRow {
    pub endpoint: String,
    /// `probe:mc_choice` or `probe:mc_first_token`.
    pub kind: ItemKind,
    /// The persona id it was asked under (stored as the item's subject).
    pub persona: String,
    /// The suite the item belongs to (stored as its category): `provenance-bank`, or
    /// the run's suite it was taken from.
    pub suite: String,
    pub item_id: String,
    pub repeat: u32,
    pub gold: String,
    pub options: Vec<String>,
    pub outcome: Outcome,
    pub response_text: String,
    pub finish_reason: String,
    /// The first token's candidates as stored: `[["B", -0.1], [" A", -2.5]]`.
    pub logprobs_json: String,
}

impl ProvenanceMcRow {
    /// The key the profile's answer sheets use, the same as the run's own items'.
    fn sheet_key(&self) -> String {
        format!("{}/{}#{}", self.suite, self.item_id, self.repeat)
    }

    fn candidates(&self) -> Vec<(String, f64)> {
        // A row stored without candidates (`""`, `[]`) has none.
        serde_json::from_str(&self.logprobs_json).unwrap_or_default()
    }

    /// The letter chosen, read again with this build's reading (as `rescore` would), or
    /// `None` when the reply gave no readable, untruncated letter.
    fn chosen(&self, candidates: Vec<(String, f64)>) -> Option<char> {
        if matches!(self.outcome, Outcome::ApiError | Outcome::Refused) {
            return None;
        }
        let response = Response {
            text: self.response_text.clone(),
            finish_reason: self.finish_reason.clone(),
            logprobs: candidates,
            ..Response::default()
        };
        let score = grade(self.kind, &self.gold, &self.options, &response);
        match score.outcome {
            Outcome::Correct | Outcome::Wrong => score
                .extracted
                .as_deref()
                .and_then(|letter| letter.chars().next()),
            _ => None,
        }
    }

    /// The options' first-token log-probabilities (the best per letter), `None` when the
    /// endpoint returned none of the option letters.
    fn ranked(&self, candidates: &[(String, f64)], gold: char) -> Option<RankedItem> {
        let option_count = u8::try_from(self.options.len()).ok()?;
        let letters: Vec<char> = (0..option_count)
            .map(|index| char::from(b'A' + index))
            .collect();
        let mut logprobs: BTreeMap<char, f64> = BTreeMap::new();
        for (token, logprob) in candidates {
            let mut characters = token.trim().chars();
            let (Some(letter), None) = (characters.next(), characters.next()) else {
                continue;
            };
            if !letters.contains(&letter) {
                continue;
            }
            let best = logprobs.entry(letter).or_insert(f64::NEG_INFINITY);
            *best = best.max(*logprob);
        }
        (!logprobs.is_empty()).then_some(RankedItem {
            gold,
            option_count,
            logprobs,
        })
    }
}

/// Adds an endpoint's fingerprint answers to its profile: the built-in persona's to
/// its own answers (the bank), the others' to its persona sheets; first-token rows
/// also to its rank sheets.
fn add_fingerprint_answers(profile: &mut FingerprintProfile, answers: &[&ProvenanceMcRow]) {
    let built_in = BAND_PERSONAS[0].id;
    for row in answers {
        let Some(gold) = row.gold.chars().next() else {
            continue;
        };
        if row.outcome == Outcome::ApiError {
            continue;
        }
        let candidates = row.candidates();
        let ranked = row.ranked(&candidates, gold);
        let answer = McAnswer {
            suite: row.suite.clone(),
            gold,
            option_count: u8::try_from(row.options.len()).unwrap_or(u8::MAX),
            chosen: row.chosen(candidates),
        };
        let key = row.sheet_key();
        if row.persona == built_in {
            profile.mc_answers.insert(key.clone(), answer);
            if let Some(ranked) = ranked {
                profile.mc_ranks.insert(key, ranked);
            }
            continue;
        }
        profile
            .persona_mc_answers
            .entry(row.persona.clone())
            .or_default()
            .insert(key.clone(), answer);
        if let Some(ranked) = ranked {
            profile
                .persona_mc_ranks
                .entry(row.persona.clone())
                .or_default()
                .insert(key, ranked);
        }
    }
}

/// One profile per endpoint of the run, from its probe answers, its multiple-choice
/// answers and its fingerprint answers (`answers`: the bank, the persona slices).
/// `created_at` is the run's creation time (RFC 3339).
pub fn build_profiles(
    spec: &RunSpec,
    probes: &[ProbeRow],
    rows: &[ScoredRow],
    answers: &[ProvenanceMcRow],
    created_at: &str,
) -> Vec<FingerprintProfile> {
    spec.endpoints
        .iter()
        .map(|endpoint| {
            let mut profile = FingerprintProfile::new(
                endpoint.name.clone(),
                endpoint
                    .vendor
                    .clone()
                    .unwrap_or_else(|| UNDECLARED_VENDOR.to_string()),
                endpoint.model.clone(),
                created_at.to_string(),
            );
            for probe in probes.iter().filter(|probe| {
                probe.endpoint == endpoint.name && probe.outcome != Outcome::ApiError
            }) {
                if probe.kind == ProbeKind::Identity {
                    profile.identity_answers.push(ClassifiedAnswer {
                        probe_id: probe.probe_id.clone(),
                        answer: probe.response_text.clone(),
                        classification: classify_identity(&probe.response_text),
                        leading_question: None,
                    });
                } else if probe.kind == ProbeKind::Tokenizer && probe.prompt_tokens > 0 {
                    profile
                        .tokenizer_counts
                        .insert(probe.probe_id.clone(), u64::from(probe.prompt_tokens));
                } else if probe.kind == ProbeKind::Open {
                    profile
                        .open_answers
                        .insert(probe.probe_id.clone(), probe.response_text.clone());
                }
            }
            for row in rows
                .iter()
                .filter(|row| row.endpoint == endpoint.name && row.outcome != Outcome::ApiError)
            {
                let Some(gold) = row.gold.chars().next() else {
                    continue;
                };
                // Only a letter the model actually gave counts as its choice; a truncated
                // answer's letter is not its answer.
                let chosen = match row.outcome {
                    Outcome::Correct | Outcome::Wrong => row
                        .extracted
                        .as_deref()
                        .and_then(|letter| letter.chars().next()),
                    _ => None,
                };
                profile.mc_answers.insert(
                    format!("{}/{}#{}", row.suite, row.item_id, row.repeat),
                    McAnswer {
                        suite: row.suite.clone(),
                        gold,
                        option_count: row.option_count,
                        chosen,
                    },
                );
            }
            let own: Vec<&ProvenanceMcRow> = answers
                .iter()
                .filter(|row| row.endpoint == endpoint.name)
                .collect();
            add_fingerprint_answers(&mut profile, &own);
            profile
        })
        .collect()
}

/// Whether any evidence was collected for the profile.
fn has_evidence(profile: &FingerprintProfile) -> bool {
    !profile.identity_answers.is_empty()
        || !profile.tokenizer_counts.is_empty()
        || !profile.open_answers.is_empty()
}

/// The findings for every endpoint that answered probes, each compared with the run's
/// other endpoints and with the given reference profiles.
///
/// # Errors
/// A local tokenizer that fails to load, or a built-in probe file defect.
pub fn audit(
    profiles: &[FingerprintProfile],
    references: &[FingerprintProfile],
) -> Result<Vec<ProvenanceFindings>, CoordinatorError> {
    // Family tokenizer files (JIANZHEN_QWEN_TIKTOKEN=/path/to/qwen.tiktoken,
    // JIANZHEN_DEEPSEEK_TOKENIZER_JSON=/path/to/tokenizer.json) are the operator's to
    // supply; a path that is set but wrong fails with what to do.
    let families = load_configured(|variable| std::env::var(variable).ok())?;
    let mut findings = Vec::new();
    for candidate in profiles.iter().filter(|profile| has_evidence(profile)) {
        let mut library: Vec<FingerprintProfile> = profiles
            .iter()
            .filter(|other| other.endpoint_name != candidate.endpoint_name)
            .cloned()
            .collect();
        library.extend(references.iter().cloned());
        findings.push(audit_profile_with_families(candidate, &library, &families)?);
    }
    Ok(findings)
}

/// The Markdown provenance section for all audited endpoints.
pub fn markdown_section(findings: &[ProvenanceFindings]) -> String {
    let mut section = String::from("## Provenance audit\n\n");
    section.push_str(
        "Evidence about whether each endpoint is what its vendor says it is: identity claims against the declared vendor, tokenizer fingerprints from reported token usage, and agreement on the same multiple-choice items, above all on the same wrong answers, with the run's other endpoints and with reference profiles. Each line states its strength; none is a verdict.\n\n",
    );
    for finding in findings {
        section.push_str(&render_provenance_section(finding));
        section.push('\n');
    }
    section
}

/// Parses reference profiles sent by a client; `names` label them in errors.
///
/// # Errors
/// A profile that is not valid JSON of a supported version.
pub fn parse_references(profiles: &[String]) -> Result<Vec<FingerprintProfile>, CoordinatorError> {
    profiles
        .iter()
        .enumerate()
        .map(|(index, json)| {
            FingerprintProfile::from_json(
                json,
                std::path::Path::new(&format!("reference profile #{}", index + 1)),
            )
            .map_err(CoordinatorError::from)
        })
        .collect()
}

/// Per endpoint, how many answers of each probe kind were collected (for messages).
pub fn probe_counts(probes: &[ProbeRow]) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for probe in probes {
        *counts
            .entry((probe.endpoint.clone(), probe.kind.as_str().to_string()))
            .or_insert(0) += 1;
    }
    counts
}
