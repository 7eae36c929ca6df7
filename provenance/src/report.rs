//! The provenance section of a report, for one endpoint.
//!
//! [`audit_profile`] gathers every line of evidence for a candidate profile (identity
//! claims against the declared vendor, tokenizer match against local tokenizers and
//! reference profiles, agreement with each reference) into [`ProvenanceFindings`];
//! [`render_provenance_section`] writes them as Markdown. The section ends with a plain
//! summary of what the evidence shows and, as prominently, what it does not: no line of
//! evidence here proves a wrapper on its own, and the text never says otherwise.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::error::ProvenanceError;
use crate::evidence::EvidenceStrength;
use crate::family::LoadedFamilyTokenizer;
use crate::identity::{
    ClassifiedAnswer, IdentityFindings, Maker, classify_identity, classify_probe_answer,
    compare_with_declared,
};
use crate::probes::{TOKENIZER_TEXT_SET_NAME, identity_probes, tokenizer_texts};
use crate::profile::{FingerprintProfile, ReferenceMatch, compare_profiles};
use crate::tokenizer::{
    TokenCountCandidate, TokenizerComparison, compare_token_counts, local_candidates,
};

/// Everything known about one endpoint's provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvenanceFindings {
    pub endpoint_name: String,
    pub model: String,
    /// As written in the configuration.
    pub declared_vendor: String,
    pub declared_maker: Maker,
    /// `None` when no identity answers were collected.
    pub identity: Option<IdentityFindings>,
    /// `None` when no token counts were collected.
    pub tokenizer: Option<TokenizerComparison>,
    /// Nearest first (see [`compare_profiles`]).
    pub references: Vec<ReferenceMatch>,
}

/// Builds the findings for a candidate profile against reference profiles. Identity
/// answers are classified again with this build's classifier, so old profiles benefit
/// from its fixes; answers to probes this build does not know are classified without
/// the probe. A reference with the candidate's own endpoint name is skipped.
///
/// # Errors
/// [`ProvenanceError::TokenizerUnavailable`] if a local tokenizer fails to load, or a
/// built-in data error (see [`crate::probes`]).
pub fn audit_profile(
    candidate: &FingerprintProfile,
    references: &[FingerprintProfile],
) -> Result<ProvenanceFindings, ProvenanceError> {
    audit_profile_with_families(candidate, references, &[])
}

/// As [`audit_profile`], with model-family tokenizers loaded from their vendors' files
/// (see [`crate::family`]) among the tokenizer candidates, so a match with, say, Qwen's
/// tokenizer is found without a Qwen reference profile.
///
/// # Errors
/// As for [`audit_profile`].
pub fn audit_profile_with_families(
    candidate: &FingerprintProfile,
    references: &[FingerprintProfile],
    families: &[LoadedFamilyTokenizer],
) -> Result<ProvenanceFindings, ProvenanceError> {
    let references: Vec<FingerprintProfile> = references
        .iter()
        .filter(|reference| reference.endpoint_name != candidate.endpoint_name)
        .cloned()
        .collect();
    let declared_maker = candidate.declared_maker();

    let identity = if candidate.identity_answers.is_empty() {
        None
    } else {
        let probes = identity_probes()?;
        let reclassified: Vec<ClassifiedAnswer> = candidate
            .identity_answers
            .iter()
            .map(
                |stored| match probes.iter().find(|probe| probe.id == stored.probe_id) {
                    Some(probe) => classify_probe_answer(probe, &stored.answer),
                    None => ClassifiedAnswer {
                        probe_id: stored.probe_id.clone(),
                        answer: stored.answer.clone(),
                        classification: classify_identity(&stored.answer),
                        leading_question: None,
                    },
                },
            )
            .collect();
        Some(compare_with_declared(declared_maker, &reclassified))
    };

    let tokenizer = if candidate.tokenizer_counts.is_empty() {
        None
    } else {
        let mut candidates: Vec<TokenCountCandidate> = Vec::new();
        if candidate.tokenizer_text_set == TOKENIZER_TEXT_SET_NAME {
            let texts = tokenizer_texts()?;
            candidates.extend(local_candidates(&texts)?);
            for family in families {
                candidates.push(family.candidate(&texts)?);
            }
        }
        candidates.extend(
            references
                .iter()
                .filter(|reference| {
                    !reference.tokenizer_counts.is_empty()
                        && reference.tokenizer_text_set == candidate.tokenizer_text_set
                })
                .map(FingerprintProfile::as_tokenizer_candidate),
        );
        Some(compare_token_counts(
            &candidate.tokenizer_counts,
            &candidates,
        ))
    };

    Ok(ProvenanceFindings {
        endpoint_name: candidate.endpoint_name.clone(),
        model: candidate.model.clone(),
        declared_vendor: candidate.declared_vendor.clone(),
        declared_maker,
        identity,
        tokenizer,
        references: compare_profiles(candidate, &references),
    })
}

/// Table cells hold answer quotes and names: keep them on one line and keep `|` from
/// ending the cell.
fn table_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |value| format!("{:.0}%", value * 100.0))
}

fn decimal(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |value| format!("{value:.2}"))
}

/// The Markdown section. Headings start at level 3 so it fits under a report's
/// per-endpoint heading.
pub fn render_provenance_section(findings: &ProvenanceFindings) -> String {
    let mut markdown = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(
        markdown,
        "### Provenance: {} (model `{}`)\n",
        findings.endpoint_name,
        table_cell(&findings.model)
    );
    let _ = writeln!(
        markdown,
        "Declared vendor: {} (read as {}).\n",
        table_cell(&findings.declared_vendor),
        findings.declared_maker.display_name()
    );
    render_identity(&mut markdown, findings.identity.as_ref());
    render_tokenizer(&mut markdown, findings.tokenizer.as_ref());
    render_references(&mut markdown, &findings.references);
    render_summary(&mut markdown, findings);
    markdown
}

fn render_identity(markdown: &mut String, identity: Option<&IdentityFindings>) {
    let _ = writeln!(markdown, "#### Claimed identity vs declared vendor\n");
    let Some(identity) = identity else {
        let _ = writeln!(markdown, "No identity probes were answered.\n");
        return;
    };
    let _ = writeln!(markdown, "{}.\n", identity.statement);
    if !identity.claimed_maker_counts.is_empty() {
        let _ = writeln!(markdown, "| Maker claimed | Answers |\n| --- | ---: |");
        for count in &identity.claimed_maker_counts {
            let _ = writeln!(
                markdown,
                "| {} | {} |",
                count.maker.display_name(),
                count.answers
            );
        }
        let _ = writeln!(markdown);
    }
    let unprompted: Vec<_> = identity
        .contradictions
        .iter()
        .filter(|contradiction| !contradiction.from_leading_question)
        .collect();
    if !unprompted.is_empty() {
        let _ = writeln!(
            markdown,
            "Unprompted answers claiming another maker:\n\n| Probe | Maker | Model | Words |\n| --- | --- | --- | --- |"
        );
        for contradiction in unprompted {
            let words = if contradiction.inferred_from_yes_to_leading_question {
                format!(
                    "\"yes\" to a question naming {}",
                    contradiction.matched_text
                )
            } else {
                contradiction.matched_text.clone()
            };
            let _ = writeln!(
                markdown,
                "| `{}` | {} | {} | {} |",
                contradiction.probe_id,
                contradiction.claimed_maker.display_name(),
                contradiction.claimed_model_family.as_deref().unwrap_or("–"),
                table_cell(&words)
            );
        }
        let _ = writeln!(markdown);
    }
    if let Some(leading) = &identity.leading {
        let _ = writeln!(
            markdown,
            "Leading questions (\"Are you X?\"), reported apart: a yes measures agreement with the question as much as identity, so they are calibrated across the makers they name.\n\n| Maker named | Asked | Yes | No |\n| --- | ---: | ---: | ---: |"
        );
        for replies in &leading.by_maker {
            let _ = writeln!(
                markdown,
                "| {} | {} | {} | {} |",
                replies.maker.display_name(),
                replies.asked,
                replies.yes,
                replies.no
            );
        }
        // The identity statement above already carries the leading questions' meaning.
        let _ = writeln!(markdown);
    }
    if !identity.claimed_cutoffs.is_empty() {
        let cutoffs = identity
            .claimed_cutoffs
            .iter()
            .map(|claim| format!("{} (`{}`)", claim.cutoff, claim.probe_id))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(markdown, "Training cutoffs stated: {cutoffs}.\n");
    }
}

fn render_tokenizer(markdown: &mut String, tokenizer: Option<&TokenizerComparison>) {
    let _ = writeln!(markdown, "#### Tokenizer fingerprint\n");
    let Some(tokenizer) = tokenizer else {
        let _ = writeln!(markdown, "No token counts were collected.\n");
        return;
    };
    let _ = writeln!(
        markdown,
        "| Candidate | Texts | Overhead | Exact matches | Mean abs. residual | Strength |\n| --- | ---: | ---: | ---: | ---: | --- |"
    );
    for candidate in &tokenizer.matches {
        let _ = writeln!(
            markdown,
            "| {} | {} | {} | {} ({}) | {:.2} | {} |",
            table_cell(&candidate.candidate_name),
            candidate.texts_compared,
            candidate.estimated_overhead,
            candidate.exact_matches,
            percent(Some(candidate.exact_match_fraction)),
            candidate.mean_absolute_residual,
            candidate.strength
        );
    }
    let _ = writeln!(markdown, "\n{}.\n", tokenizer.statement);
}

fn render_references(markdown: &mut String, references: &[ReferenceMatch]) {
    let _ = writeln!(
        markdown,
        "#### Nearest references by wrong-answer agreement\n"
    );
    if references.is_empty() {
        let _ = writeln!(markdown, "No reference profiles were given.\n");
        return;
    }
    let _ = writeln!(
        markdown,
        "| Reference | Declared vendor | Items both answered | Raw agreement | Cohen's κ | CAPA | Same wrong answer | 95% interval | Expected if independent | Tokenizer exact matches | Open-answer trigram Jaccard |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"
    );
    for reference in references {
        let agreement = &reference.agreement;
        let wrong = &agreement.wrong_answers;
        let interval = wrong.interval_95.map_or_else(
            || "–".to_owned(),
            |interval| {
                format!(
                    "{}–{}",
                    percent(Some(interval.lower)),
                    percent(Some(interval.upper))
                )
            },
        );
        let tokenizer = reference.tokenizer.as_ref().map_or_else(
            || "–".to_owned(),
            |tokenizer| {
                format!(
                    "{} of {}",
                    tokenizer.exact_matches, tokenizer.texts_compared
                )
            },
        );
        let _ = writeln!(
            markdown,
            "| {} | {} | {} | {} | {} | {} | {} ({} of {}) | {} | {} | {} | {} |",
            table_cell(&reference.reference_endpoint),
            table_cell(&reference.reference_declared_vendor),
            agreement.items_both_answered,
            percent(agreement.raw_agreement),
            decimal(agreement.cohens_kappa),
            decimal(agreement.capa),
            percent(wrong.rate),
            wrong.items_same_wrong_option,
            wrong.items_both_wrong,
            interval,
            percent(wrong.expected_under_independence()),
            tokenizer,
            decimal(
                reference
                    .open_answers
                    .as_ref()
                    .and_then(|open| open.mean_trigram_jaccard)
            ),
        );
    }
    let _ = writeln!(markdown);
    for reference in references {
        if let Some(band) = &reference.persona_band {
            let _ = writeln!(markdown, "Persona band: {}.\n", band.statement);
        }
        if let Some(rank) = &reference.rank {
            let level = if rank.band_measured {
                "the level is its measured rank band across personas"
            } else {
                "no rank band measured for it, so 0.50 is assumed for the same model"
            };
            let _ = writeln!(
                markdown,
                "First-token rank agreement with {} ({}; {level}): {}.\n",
                table_cell(&reference.reference_endpoint),
                rank.judgement.strength,
                rank.judgement.statement
            );
        }
    }
    if let Some(nearest) = references.first() {
        let _ = writeln!(
            markdown,
            "Nearest: {}. With it, {}.\n",
            table_cell(&nearest.reference_endpoint),
            nearest.agreement.statement
        );
    }
}

/// One summary line per line of evidence, then what the evidence cannot show.
fn render_summary(markdown: &mut String, findings: &ProvenanceFindings) {
    let _ = writeln!(markdown, "#### What the evidence shows and does not show\n");
    let mut shows: Vec<String> = Vec::new();
    if let Some(identity) = &findings.identity {
        shows.push(format!(
            "Identity ({}): {}.",
            identity.strength, identity.statement
        ));
    }
    if let Some(tokenizer) = &findings.tokenizer {
        shows.push(format!(
            "Tokenizer ({}): {}.",
            tokenizer.strength, tokenizer.statement
        ));
    }
    if let Some(nearest) = findings.references.first() {
        let wrong = &nearest.agreement.wrong_answers;
        let sentence = match (wrong.rate, wrong.expected_under_independence()) {
            (Some(rate), Some(expected))
                if nearest.agreement.strength >= EvidenceStrength::Weak =>
            {
                format!(
                    "Answers ({}): shares {} of wrong answers with reference {} (expected {} for independent models): {}.",
                    nearest.agreement.strength,
                    percent(Some(rate)),
                    nearest.reference_endpoint,
                    percent(Some(expected)),
                    nearest.agreement.interpretation
                )
            }
            // Shared letter habits put the independent level at the same-model level: no
            // number of items can tell, which is not "independent" either.
            _ if nearest.agreement.power.as_ref().is_some_and(|power| {
                !power.can_tell && power.items_both_wrong_needed.is_none()
            }) =>
            {
                format!(
                    "Answers ({}): the shared errors cannot tell independent models from the same model here, because the endpoints fall back to the same letters when wrong; with the nearest reference, {}, {}.",
                    nearest.agreement.strength,
                    nearest.reference_endpoint,
                    nearest.agreement.statement
                )
            }
            // The data cannot tell: say so, never "independent".
            _ if nearest.agreement.strength == EvidenceStrength::Insufficient => format!(
                "Answers ({}): the shared errors cannot tell independent models from the same model yet; with the nearest reference, {}, {}.",
                nearest.agreement.strength, nearest.reference_endpoint, nearest.agreement.statement
            ),
            _ => format!(
                "Answers ({}): no reference shares wrong answers beyond what independent models do; the nearest, {}: {}.",
                nearest.agreement.strength, nearest.reference_endpoint, nearest.agreement.statement
            ),
        };
        shows.push(sentence);
        if let Some(open) = &nearest.open_answers {
            shows.push(format!(
                "Open answers ({}): {}.",
                open.strength, open.statement
            ));
        }
        let tokenizer_matches_nearest = nearest
            .tokenizer
            .as_ref()
            .is_some_and(|tokenizer| tokenizer.strength == EvidenceStrength::Strong);
        if tokenizer_matches_nearest && nearest.agreement.strength == EvidenceStrength::Strong {
            shows.push(format!(
                "Together: the endpoint tokenizes exactly like reference {} and shares nearly all its wrong answers. Two independent lines of evidence point to the same model behind both.",
                nearest.reference_endpoint
            ));
        }
    }
    // Rank agreement is judged per reference; the closest order (highest mean τ) is the
    // one worth a line, whichever reference is nearest by shared errors.
    let closest_order = findings
        .references
        .iter()
        .filter_map(|reference| {
            let rank = reference.rank.as_ref()?;
            Some((reference, rank, rank.agreement.mean_tau?))
        })
        .max_by(|left, right| left.2.total_cmp(&right.2));
    if let Some((reference, rank, _)) = closest_order {
        shows.push(format!(
            "Option order ({}): with reference {}, {}.",
            rank.judgement.strength, reference.reference_endpoint, rank.judgement.statement
        ));
    }
    if shows.is_empty() {
        shows.push("No evidence was collected for this endpoint.".to_owned());
    }
    for line in &shows {
        let _ = writeln!(markdown, "- {line}");
    }
    let _ = writeln!(markdown, "\nWhat it does not show:\n");
    let mut limits = vec![
        "Identity answers are set easily by a system prompt or fine-tuning, and models trained on another model's outputs repeat its name; they neither prove nor rule out a wrapper.",
        "A tokenizer match shows a shared tokenizer, not shared weights: tokenizers are public and are reused.",
        "Shared wrong answers show shared behaviour. A wrapper and a model distilled from the reference's answers both produce it; this evidence cannot tell them apart.",
    ];
    if findings.references.is_empty() {
        limits.push("No reference profiles were given, so the endpoint was not compared with any known model.");
    }
    for limit in limits {
        let _ = writeln!(markdown, "- {limit}");
    }
    markdown.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agreement::McAnswer;
    use crate::tokenizer::LocalTokenizer;

    const LETTERS: [char; 4] = ['A', 'B', 'C', 'D'];

    fn profile_answering(
        name: &str,
        vendor: &str,
        wrong_pick: impl Fn(usize) -> usize,
    ) -> FingerprintProfile {
        let mut profile = FingerprintProfile::new(
            name,
            vendor,
            format!("{name}-model"),
            "2026-01-01T00:00:00Z",
        );
        for index in 0..120 {
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
            profile.mc_answers.insert(
                format!("ceval/physics/{index:03}"),
                McAnswer {
                    suite: "ceval".to_owned(),
                    gold,
                    option_count: 4,
                    chosen: Some(chosen),
                },
            );
        }
        profile
    }

    fn add_identity(profile: &mut FingerprintProfile, answers: &[(&str, &str)]) {
        for (probe_id, answer) in answers {
            profile.identity_answers.push(ClassifiedAnswer {
                probe_id: (*probe_id).to_owned(),
                answer: (*answer).to_owned(),
                classification: classify_identity(answer),
                leading_question: None,
            });
        }
    }

    fn scenario() -> (FingerprintProfile, FingerprintProfile, FingerprintProfile) {
        let texts = tokenizer_texts().expect("built-in texts");
        let cl100k = LocalTokenizer::Cl100kBase
            .count_texts(&texts)
            .expect("cl100k loads");

        let mut source = profile_answering("gpt35-official", "openai", |index| index);
        source.tokenizer_counts = cl100k
            .iter()
            .map(|(id, count)| (id.clone(), count + 7))
            .collect();
        source.open_answers.insert(
            "zh-open-poem".to_owned(),
            "长江万里向东流，浪卷千堆雪未休。".to_owned(),
        );

        // The wrapper forwards everything to the source, with its own template overhead
        // and a rewritten answer to the direct identity question only.
        let mut wrapper = source.clone();
        wrapper.endpoint_name = "startup-model".to_owned();
        wrapper.declared_vendor = "baichuan".to_owned();
        wrapper.tokenizer_counts = cl100k
            .iter()
            .map(|(id, count)| (id.clone(), count + 9))
            .collect();
        add_identity(
            &mut wrapper,
            &[
                ("zh-direct-who", "我是百川大模型，由百川智能开发。"),
                (
                    "en-direct-who",
                    "I am ChatGPT, a large language model trained by OpenAI.",
                ),
                ("en-direct-company", "I was created by OpenAI."),
                ("zh-system-company", "我是由OpenAI训练的。"),
                ("zh-leading-chatgpt", "是的，我是ChatGPT。"),
            ],
        );

        let mut independent =
            profile_answering("glm-official", "zhipu", |index| index * 7 + index / 5);
        independent.tokenizer_counts = cl100k
            .iter()
            .enumerate()
            .map(|(position, (id, count))| (id.clone(), count + 3 + (position as u64 % 4)))
            .collect();
        (source, wrapper, independent)
    }

    #[test]
    fn wrapper_audit_places_it_next_to_its_source_with_figures_and_limits() {
        let (source, wrapper, independent) = scenario();
        let findings = audit_profile(&wrapper, &[independent, source]).expect("audit");
        assert_eq!(findings.declared_maker, Maker::Baichuan);
        let identity = findings.identity.as_ref().expect("identity answers");
        assert_eq!(identity.contradicting_probe_count(), 4);
        assert_eq!(identity.strength, EvidenceStrength::Strong);
        let tokenizer = findings.tokenizer.as_ref().expect("counts");
        assert_eq!(tokenizer.matches[0].strength, EvidenceStrength::Strong);
        assert_eq!(findings.references[0].reference_endpoint, "gpt35-official");
        assert_eq!(
            findings.references[0].agreement.wrong_answers.rate,
            Some(1.0)
        );

        let markdown = render_provenance_section(&findings);
        assert!(
            markdown.contains("### Provenance: startup-model"),
            "{markdown}"
        );
        assert!(
            markdown.contains("| `en-direct-who` | OpenAI | ChatGPT | ChatGPT |"),
            "{markdown}"
        );
        assert!(markdown.contains("| cl100k_base | "), "{markdown}");
        assert!(
            markdown
                .contains("shares 100% of wrong answers with reference gpt35-official (expected "),
            "{markdown}"
        );
        assert!(
            markdown.contains(
                "for independent models): strong evidence of shared weights or shared answers"
            ),
            "{markdown}"
        );
        assert!(
            markdown.contains("it does not by itself prove a wrapper"),
            "{markdown}"
        );
        assert!(
            markdown.contains("Two independent lines of evidence point to the same model"),
            "{markdown}"
        );
        assert!(markdown.contains("What it does not show"), "{markdown}");
    }

    #[test]
    fn independent_endpoint_is_not_placed_next_to_the_reference() {
        let (source, _wrapper, independent) = scenario();
        let findings = audit_profile(&independent, &[source]).expect("audit");
        let nearest = &findings.references[0];
        assert!(
            nearest.agreement.strength < EvidenceStrength::Moderate,
            "{}",
            nearest.agreement.statement
        );
        assert!(
            nearest
                .tokenizer
                .as_ref()
                .is_some_and(|tokenizer| tokenizer.strength < EvidenceStrength::Moderate)
        );
        let markdown = render_provenance_section(&findings);
        assert!(
            markdown
                .contains("no reference shares wrong answers beyond what independent models do"),
            "{markdown}"
        );
        assert!(
            !markdown.contains("Two independent lines of evidence"),
            "{markdown}"
        );
    }

    #[test]
    fn underpowered_agreement_is_reported_as_unable_to_tell_not_as_independent() {
        // Issue 17's shape: 16 items both got wrong, 10 with the same wrong option.
        let mut candidate =
            FingerprintProfile::new("xingchen", "Xingchen AI", "m", "2026-01-01T00:00:00Z");
        let mut reference =
            FingerprintProfile::new("qwen", "Alibaba", "qwen2.5", "2026-01-01T00:00:00Z");
        for index in 0..36 {
            let (first, second) = match index {
                0..10 => ('B', 'B'),
                10..13 => ('B', 'C'),
                13..16 => ('B', 'D'),
                _ => ('A', 'A'),
            };
            for (profile, chosen) in [(&mut candidate, first), (&mut reference, second)] {
                profile.mc_answers.insert(
                    format!("cmmlu/x/{index:03}"),
                    McAnswer {
                        suite: "cmmlu".to_owned(),
                        gold: 'A',
                        option_count: 4,
                        chosen: Some(chosen),
                    },
                );
            }
        }
        add_identity(&mut candidate, &[("zh-direct-who", "我是星辰大模型。")]);
        let findings = audit_profile(&candidate, &[reference]).expect("audit");
        let agreement = &findings.references[0].agreement;
        // Letter-preference baseline: first B 17, C 1, D 1 of 19; second B 11, C 4, D 4
        // of 19 (add-one smoothing); (17·11 + 4 + 4) / 361 = 0.540.
        assert!(
            agreement
                .wrong_answers
                .expected_from_letter_preferences
                .is_some_and(|expected| (expected - 195.0 / 361.0).abs() < 1e-12),
            "{:?}",
            agreement.wrong_answers
        );
        assert_eq!(agreement.strength, EvidenceStrength::Insufficient);
        let markdown = render_provenance_section(&findings);
        // h = (0.80 − 0.540) / 2; N = 3.841459 × 0.600799 × 0.399201 / h² = 54.59 → 55.
        assert!(
            markdown.contains("too few shared errors to tell (n = 16; about 55 needed)"),
            "{markdown}"
        );
        assert!(
            markdown.contains(
                "the shared errors cannot tell independent models from the same model yet"
            ),
            "{markdown}"
        );
        assert!(
            !markdown.contains("consistent with independent models")
                && !markdown.contains("beyond what independent models do"),
            "{markdown}"
        );
    }

    #[test]
    fn a_genuine_vendor_is_not_accused_by_its_yeses_to_leading_questions() {
        let mut qwen =
            FingerprintProfile::new("qwen", "Alibaba", "qwen2.5", "2026-01-01T00:00:00Z");
        let probes = identity_probes().expect("built-in probes");
        let answers: Vec<(String, String)> = probes
            .iter()
            .map(|probe| {
                let answer = match &probe.named_model {
                    Some(named) => format!("Yes, I am {named}."),
                    None => "I am Qwen, created by Alibaba Cloud.".to_owned(),
                };
                (probe.id.clone(), answer)
            })
            .collect();
        let borrowed: Vec<(&str, &str)> = answers
            .iter()
            .map(|(id, answer)| (id.as_str(), answer.as_str()))
            .collect();
        add_identity(&mut qwen, &borrowed);
        let findings = audit_profile(&qwen, &[]).expect("audit");
        let identity = findings.identity.as_ref().expect("identity answers");
        assert_eq!(identity.strength, EvidenceStrength::None);
        let markdown = render_provenance_section(&findings);
        assert!(markdown.contains("| OpenAI | 5 | 5 | 0 |"), "{markdown}");
        assert!(
            markdown.contains("Leading questions (\"Are you X?\"), reported apart"),
            "{markdown}"
        );
        assert!(
            !markdown.contains("Unprompted answers claiming another maker"),
            "{markdown}"
        );
        assert!(
            !markdown.contains("strong evidence: the model learnt"),
            "{markdown}"
        );
    }

    #[test]
    fn empty_profile_renders_without_evidence() {
        let profile =
            FingerprintProfile::new("bare", "unknown-startup", "m", "2026-01-01T00:00:00Z");
        let findings = audit_profile(&profile, &[]).expect("audit");
        let markdown = render_provenance_section(&findings);
        assert!(markdown.contains("No identity probes were answered."));
        assert!(markdown.contains("No token counts were collected."));
        assert!(
            markdown.contains("No reference profiles were given, so the endpoint was not compared")
        );
    }

    #[test]
    fn table_cells_escape_pipes_and_newlines() {
        assert_eq!(table_cell("a|b\nc"), "a\\|b c");
    }
}
