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
use jianzhen_provenance::profile::FingerprintProfile;
use jianzhen_provenance::report::{
    ProvenanceFindings, audit_profile_with_families, render_provenance_section,
};

use crate::error::CoordinatorError;
use crate::planner::ProbeKind;
use crate::spec::RunSpec;
use crate::store::{ProbeRow, ScoredRow};
use jianzhen_suites::outcome::Outcome;

/// The declared vendor written into a profile when the spec names none.
pub const UNDECLARED_VENDOR: &str = "undeclared";

/// One profile per endpoint of the run, from its probe answers and multiple-choice
/// answers. `created_at` is the run's creation time (RFC 3339).
pub fn build_profiles(
    spec: &RunSpec,
    probes: &[ProbeRow],
    rows: &[ScoredRow],
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
    // Family tokenizer files (JIANZHEN_QWEN_TIKTOKEN=/path/to/qwen.tiktoken) are the
    // operator's to supply; a path that is set but wrong fails with what to do.
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
