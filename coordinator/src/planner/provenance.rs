//! Planning the provenance audit's multiple-choice fingerprint (docs/provenance.md):
//!
//! - **Enough items.** When the run's suites hold fewer single-letter items than
//!   [`multiple_choice_items_for_power`], every endpoint is also asked the built-in bank
//!   ([`jianzhen_provenance::bank`]) by first-token log-probabilities (one token, its
//!   top log-probabilities), so no reply is cut at the token limit and each item gives
//!   the options' order as well as the argmax.
//! - **The persona band.** Each endpoint the spec marks `reference = true` is asked a
//!   slice of those items again under the band's other personas
//!   ([`BAND_PERSONAS`]: neutral, vendor-like; built-in is the run itself), each as a
//!   system message, with the same scoring as the original item, so the report judges
//!   suspects against how far a persona moves the reference's own answers.
//!
//! They are ordinary items (workers, budgets, retries, cache, store) under the suite
//! [`PROVENANCE_SUITE`], of the probe kinds [`ProbeKind::McFirstToken`] and
//! [`ProbeKind::McChoice`], so they never count in the benchmark's scores. Their subject
//! is the persona id and their category the suite the item comes from, so the audit keys
//! them as the run's own answers (`suite/item#repeat`).
//!
//! A child of the planner so it renders and shards exactly as the planner does.

use std::collections::BTreeSet;

use jianzhen_provenance::bank::{BANK_SUITE, bank_items, multiple_choice_items_for_power};
use jianzhen_provenance::persona::{BAND_PERSONAS, Persona};
use jianzhen_suites::grading::{ItemKind, ProbeKind};
use jianzhen_suites::template::ChatMessage;
use serde::{Deserialize, Serialize};

use super::{
    CONTAMINATION_SUITE, PROVENANCE_SUITE, PlannedItem, PlannedShard, ProbeItem, RenderedItem,
    ShardContext, emit_shards, messages_json, short_hash,
};
use crate::error::CoordinatorError;
use crate::spec::RunSpec;

/// Items of the slice each reference is re-asked under every other persona.
pub const PERSONA_SLICE_ITEMS: usize = 64;

/// The template name recorded on the fingerprint's shards.
const TEMPLATE: &str = "provenance-mc";

/// What the multiple-choice fingerprint asked, recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvenanceAnswersManifest {
    /// Single-letter items of the run's own suites (per endpoint and repeat).
    pub run_items: usize,
    /// Items the run needs before shared errors can tell (see the bank module).
    pub items_for_power: usize,
    /// Bank items added per endpoint (0 when the suites held enough).
    pub bank_items: usize,
    /// How the bank is asked.
    pub bank_scoring: String,
    /// Endpoints re-asked under personas.
    pub references: Vec<String>,
    /// Personas each reference is re-asked under (besides the built-in run).
    pub personas: Vec<String>,
    /// Items in each reference's persona slice.
    pub persona_slice_items: usize,
    /// Extra requests per repeat, all endpoints together.
    pub extra_requests: usize,
}

/// The probes actually sent: with `provenance_answers_only`, only the tokenizer texts.
pub(super) fn probes_sent<'a>(spec: &RunSpec, probes: &'a [ProbeItem]) -> Vec<&'a ProbeItem> {
    probes
        .iter()
        .filter(|probe| !spec.provenance_answers_only || probe.kind == ProbeKind::Tokenizer)
        .collect()
}

/// The cost of the fingerprint, stated before the run (the suites are not loaded yet,
/// so it gives the most the run can add); `None` without provenance.
pub fn cost_statement(spec: &RunSpec) -> Option<String> {
    if !spec.provenance {
        return None;
    }
    let bank = bank_items().map_or(0, |items| items.len());
    let references: Vec<&str> = spec
        .endpoints
        .iter()
        .filter(|endpoint| endpoint.reference)
        .map(|endpoint| endpoint.name.as_str())
        .collect();
    let personas = BAND_PERSONAS.len() - 1;
    let repeats = if spec.repeats > 1 {
        format!(", each × {} repeats", spec.repeats)
    } else {
        String::new()
    };
    let band = if references.is_empty() {
        "no endpoint is marked `reference = true`, so no persona band is measured".to_string()
    } else {
        format!(
            "{} re-asked up to {PERSONA_SLICE_ITEMS} items under {personas} personas ({} extra requests each)",
            references.join(", "),
            PERSONA_SLICE_ITEMS * personas
        )
    };
    let probes = if spec.provenance_answers_only {
        "the 69 tokenizer texts only (`provenance_answers_only`)"
    } else {
        "the built-in probes"
    };
    Some(format!(
        "provenance audit: {probes}; {bank} built-in multiple-choice items per endpoint by first token (one token each) if the suites hold fewer than {} single-letter items; {band}{repeats}",
        multiple_choice_items_for_power()
    ))
}

fn message(role: &str, content: String) -> ChatMessage {
    ChatMessage {
        role: role.to_string(),
        content,
    }
}

/// `messages` under `persona`: its system message first, in place of any the item had.
fn under_persona(persona: &Persona, messages: &[ChatMessage]) -> Vec<ChatMessage> {
    let mut personal: Vec<ChatMessage> = persona
        .system
        .map(|system| message("system", system.to_string()))
        .into_iter()
        .collect();
    personal.extend(
        messages
            .iter()
            .filter(|message| message.role != "system")
            .cloned(),
    );
    personal
}

/// One multiple-choice item as the fingerprint asks it.
struct FingerprintItem {
    /// The suite it belongs to (`provenance-bank` for the bank).
    suite: String,
    item_id: String,
    gold: String,
    options: Vec<String>,
    messages: Vec<ChatMessage>,
    kind: ProbeKind,
    max_tokens: u32,
    source: String,
}

impl FingerprintItem {
    fn rendered(&self, persona: &Persona) -> Result<RenderedItem, CoordinatorError> {
        let messages = under_persona(persona, &self.messages);
        let messages_json = messages_json(&messages)?;
        let kind = ItemKind::Probe(self.kind);
        Ok(RenderedItem {
            item_key: short_hash(
                &[
                    TEMPLATE,
                    &kind.name(),
                    persona.id,
                    &self.suite,
                    &self.item_id,
                    &messages_json,
                    &self.gold,
                    &self.max_tokens.to_string(),
                ],
                16,
            ),
            judge_identity: String::new(),
            messages_json,
            subject: persona.id.to_string(),
            category: self.suite.clone(),
            item_id: self.item_id.clone(),
            gold: self.gold.clone(),
            options: self.options.clone(),
            messages,
            source: format!("{} (persona {})", self.source, persona.id),
            kind,
            max_tokens: self.max_tokens,
        })
    }
}

/// The run's own single-letter items, once each (first endpoint, first repeat).
fn run_items(items: &[PlannedItem]) -> Vec<FingerprintItem> {
    let Some(first_endpoint) = items.first().map(|item| item.endpoint.clone()) else {
        return Vec::new();
    };
    let mut seen = BTreeSet::new();
    items
        .iter()
        .filter(|item| {
            item.endpoint == first_endpoint
                && item.repeat == 0
                && item.suite != PROVENANCE_SUITE
                && item.suite != CONTAMINATION_SUITE
                && matches!(
                    item.kind,
                    ItemKind::Choice | ItemKind::PeerChoice(_) | ItemKind::FirstToken
                )
                && item.gold.chars().count() == 1
        })
        .filter(|item| seen.insert(item.item_key.clone()))
        .map(|item| FingerprintItem {
            suite: item.suite.clone(),
            item_id: item.item_id.clone(),
            gold: item.gold.clone(),
            options: item.options.clone(),
            messages: item.messages.clone(),
            kind: if item.kind.asks_first_token() {
                ProbeKind::McFirstToken
            } else {
                ProbeKind::McChoice
            },
            max_tokens: item.max_tokens,
            source: item.source.clone(),
        })
        .collect()
}

/// Every `step`-th of `items` so a slice spans all suites and subjects, at most `count`.
fn spread<T>(items: Vec<T>, count: usize) -> Vec<T> {
    if count == 0 {
        return Vec::new();
    }
    if items.len() <= count {
        return items;
    }
    let total = items.len();
    items
        .into_iter()
        .enumerate()
        .filter(|(index, _)| {
            // Index `index` is kept when some j < count has ⌊j·total/count⌋ = index.
            let j = (index * count).div_ceil(total);
            j < count && j * total / count == *index
        })
        .map(|(_, item)| item)
        .collect()
}

/// Plans the fingerprint's items into `items` and `shards` (call after the run's own
/// items are planned: they are read from `items`).
///
/// # Errors
/// A defect of the built-in bank; a prompt that does not serialise.
pub(super) fn plan_provenance_answers(
    run_id: &str,
    spec: &RunSpec,
    cache_scope: &str,
    items: &mut Vec<PlannedItem>,
    shards: &mut Vec<PlannedShard>,
) -> Result<ProvenanceAnswersManifest, CoordinatorError> {
    let own = run_items(items);
    let items_for_power = multiple_choice_items_for_power();
    let bank: Vec<FingerprintItem> = if own.len() < items_for_power {
        bank_items()
            .map_err(|error| CoordinatorError::Internal(error.to_string()))?
            .into_iter()
            .map(|item| FingerprintItem {
                messages: vec![message("user", item.prompt())],
                suite: BANK_SUITE.to_string(),
                gold: item.answer.to_string(),
                source: format!("built-in provenance bank {}", item.id),
                item_id: item.id,
                options: item.options,
                kind: ProbeKind::McFirstToken,
                max_tokens: 1,
            })
            .collect()
    } else {
        Vec::new()
    };
    let built_in = &BAND_PERSONAS[0];
    let bank_rendered: Vec<RenderedItem> = bank
        .iter()
        .map(|item| item.rendered(built_in))
        .collect::<Result<_, _>>()?;
    let run_items_count = own.len();
    let bank_count = bank.len();
    // The slice: the bank first (asked the same way for everyone), then the run's own.
    let slice_from_own = PERSONA_SLICE_ITEMS.saturating_sub(bank.len());
    let slice: Vec<FingerprintItem> = bank
        .into_iter()
        .take(PERSONA_SLICE_ITEMS)
        .chain(spread(own, slice_from_own))
        .collect();
    let other_personas = &BAND_PERSONAS[1..];
    let mut extra_requests = 0;
    let mut references = Vec::new();
    for endpoint in &spec.endpoints {
        let context = |subject: &'static str| ShardContext {
            run_id,
            spec,
            endpoint,
            suite: PROVENANCE_SUITE,
            subject,
            template: TEMPLATE,
            cache_scope,
        };
        if !bank_rendered.is_empty() {
            emit_shards(&context(built_in.id), &bank_rendered, items, shards);
            extra_requests += bank_rendered.len();
        }
        if !endpoint.reference || slice.is_empty() {
            continue;
        }
        references.push(endpoint.name.clone());
        for persona in other_personas {
            let rendered: Vec<RenderedItem> = slice
                .iter()
                .map(|item| item.rendered(persona))
                .collect::<Result<_, _>>()?;
            extra_requests += rendered.len();
            emit_shards(&context(persona.id), &rendered, items, shards);
        }
    }
    Ok(ProvenanceAnswersManifest {
        run_items: run_items_count,
        items_for_power,
        bank_items: bank_count,
        bank_scoring: "first token: one generated token with its top log-probabilities; the most likely option letter, and the options' order".to_string(),
        references,
        personas: other_personas
            .iter()
            .map(|persona| persona.id.to_string())
            .collect(),
        persona_slice_items: slice.len(),
        extra_requests,
    })
}
