//! The built-in probe data, written for this project and shipped inside the crate with
//! `include_str!` so an audit needs no data files on the machine that runs it:
//! - `probes/identity.jsonl`: identity probes (who are you, which company made you, what
//!   model are you based on, when does your training data end, are you ChatGPT…), in
//!   Chinese and English, asked directly, indirectly, as leading questions, under a
//!   generic system prompt and under a vendor-neutral persona.
//! - `probes/tokenizer_texts.jsonl`: texts whose token counts fingerprint a tokenizer
//!   (see [`crate::tokenizer`]).
//! - `probes/open_prompts.jsonl`: open prompts whose answers are compared by n-gram
//!   overlap (see [`crate::similarity`]).
//!
//! Ids are stable: results and profiles are keyed by them, so an id is never reused for a
//! different text. Add new entries with new ids instead of editing old ones.

use std::collections::HashSet;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::ProvenanceError;

const IDENTITY_PROBES_FILE: &str = "identity.jsonl";
const IDENTITY_PROBES_JSONL: &str = include_str!("../probes/identity.jsonl");
const TOKENIZER_TEXTS_FILE: &str = "tokenizer_texts.jsonl";
const TOKENIZER_TEXTS_JSONL: &str = include_str!("../probes/tokenizer_texts.jsonl");
const OPEN_PROMPTS_FILE: &str = "open_prompts.jsonl";
const OPEN_PROMPTS_JSONL: &str = include_str!("../probes/open_prompts.jsonl");

/// The name of the tokenizer text set, stored in profiles so counts from a different set
/// are never compared as if they were the same texts.
pub const TOKENIZER_TEXT_SET_NAME: &str = "jianzhen-tokenizer-texts-v1";

/// The language a probe is written in; answers usually follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProbeLanguage {
    #[serde(rename = "zh")]
    Chinese,
    #[serde(rename = "en")]
    English,
}

/// How the question is put. Models answer differently under each framing, and a wrapper
/// that rewrites the identity answer often only catches the direct form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// "你是谁？", with no system prompt.
    Direct,
    /// The identity is asked for through a task (fill a blank, write a citation).
    Indirect,
    /// "Are you ChatGPT?": names a model, so a bare "yes" or "no" still says something.
    Leading,
    /// Under the generic system prompt "You are a helpful assistant.".
    SystemPrompt,
    /// Under a vendor-neutral persona ("你是“小智”…") that the model must see through.
    Persona,
}

/// What the probe asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeAsks {
    /// The model's name.
    Identity,
    /// The company that made it.
    Maker,
    /// The model it is built on.
    BaseModel,
    /// When its training data ends.
    TrainingCutoff,
    /// Whether it is one named model ([`IdentityProbe::named_model`]).
    NamedModel,
}

/// One identity probe: a system prompt (optional) and one user message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityProbe {
    /// Stable id; answers and profiles are keyed by it.
    pub id: String,
    pub language: ProbeLanguage,
    pub kind: ProbeKind,
    pub asks: ProbeAsks,
    /// Sent as the system message when present.
    pub system: Option<String>,
    /// Sent as the single user message.
    pub user: String,
    /// For leading questions, the model named in the question, so a bare "是的" can be read
    /// as agreeing to that name.
    pub named_model: Option<String>,
    /// What the probe asks, in plain words, for reports.
    pub purpose: String,
}

/// One tokenizer fingerprint text, sent as a single user message with `max_tokens: 1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenizerText {
    /// Stable id; token counts in profiles are keyed by it.
    pub id: String,
    /// What kind of text it is (chinese_prose, classical_chinese, code, emoji…), so a
    /// mismatch can be traced to the kind of text that differs.
    pub category: String,
    pub text: String,
}

/// One open prompt whose answers are compared by character n-gram overlap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenPrompt {
    /// Stable id; open answers in profiles are keyed by it.
    pub id: String,
    pub language: ProbeLanguage,
    pub prompt: String,
    /// Why the prompt is in the set.
    pub purpose: String,
}

/// The built-in identity probes, in file order.
///
/// # Errors
/// [`ProvenanceError::BuiltinDataLine`] or [`ProvenanceError::DuplicateBuiltinId`] if the
/// shipped file was edited into an invalid state; the crate's tests catch that first.
pub fn identity_probes() -> Result<Vec<IdentityProbe>, ProvenanceError> {
    parse_builtin_jsonl(
        IDENTITY_PROBES_FILE,
        IDENTITY_PROBES_JSONL,
        |probe: &IdentityProbe| probe.id.clone(),
    )
}

/// The built-in tokenizer fingerprint texts, in file order.
///
/// # Errors
/// As for [`identity_probes`].
pub fn tokenizer_texts() -> Result<Vec<TokenizerText>, ProvenanceError> {
    parse_builtin_jsonl(
        TOKENIZER_TEXTS_FILE,
        TOKENIZER_TEXTS_JSONL,
        |text: &TokenizerText| text.id.clone(),
    )
}

/// The built-in open prompts, in file order.
///
/// # Errors
/// As for [`identity_probes`].
pub fn open_prompts() -> Result<Vec<OpenPrompt>, ProvenanceError> {
    parse_builtin_jsonl(
        OPEN_PROMPTS_FILE,
        OPEN_PROMPTS_JSONL,
        |prompt: &OpenPrompt| prompt.id.clone(),
    )
}

/// Parses one JSON object per non-blank line and rejects repeated ids, because every
/// result downstream is keyed by id and a repeat would silently merge two probes.
fn parse_builtin_jsonl<Record: DeserializeOwned>(
    file: &'static str,
    contents: &str,
    id_of: impl Fn(&Record) -> String,
) -> Result<Vec<Record>, ProvenanceError> {
    let mut records = Vec::new();
    let mut seen_ids = HashSet::new();
    for (line_index, line) in contents.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: Record =
            serde_json::from_str(line).map_err(|source| ProvenanceError::BuiltinDataLine {
                file,
                line: line_index + 1,
                source,
            })?;
        let id = id_of(&record);
        if !seen_ids.insert(id.clone()) {
            return Err(ProvenanceError::DuplicateBuiltinId { file, id });
        }
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_probe_suite_has_at_least_forty_probes_in_both_languages() {
        let probes = identity_probes().expect("built-in probes parse");
        assert!(probes.len() >= 40, "only {} probes", probes.len());
        let chinese = probes
            .iter()
            .filter(|probe| probe.language == ProbeLanguage::Chinese)
            .count();
        let english = probes.len() - chinese;
        assert!(chinese >= 20 && english >= 15, "zh {chinese}, en {english}");
    }

    #[test]
    fn identity_probes_cover_every_kind_and_question() {
        let probes = identity_probes().expect("built-in probes parse");
        for kind in [
            ProbeKind::Direct,
            ProbeKind::Indirect,
            ProbeKind::Leading,
            ProbeKind::SystemPrompt,
            ProbeKind::Persona,
        ] {
            assert!(probes.iter().any(|probe| probe.kind == kind), "{kind:?}");
        }
        for asks in [
            ProbeAsks::Identity,
            ProbeAsks::Maker,
            ProbeAsks::BaseModel,
            ProbeAsks::TrainingCutoff,
            ProbeAsks::NamedModel,
        ] {
            assert!(probes.iter().any(|probe| probe.asks == asks), "{asks:?}");
        }
    }

    #[test]
    fn system_prompt_and_persona_probes_carry_a_system_message_and_leading_ones_name_a_model() {
        for probe in identity_probes().expect("built-in probes parse") {
            let needs_system = matches!(probe.kind, ProbeKind::SystemPrompt | ProbeKind::Persona);
            assert_eq!(probe.system.is_some(), needs_system, "{}", probe.id);
            assert_eq!(
                probe.named_model.is_some(),
                probe.kind == ProbeKind::Leading,
                "{}",
                probe.id
            );
            assert!(!probe.user.trim().is_empty(), "{}", probe.id);
        }
    }

    #[test]
    fn tokenizer_texts_number_at_least_sixty_and_have_no_edge_whitespace() {
        let texts = tokenizer_texts().expect("built-in texts parse");
        assert!(texts.len() >= 60, "only {} texts", texts.len());
        for text in &texts {
            // Servers may strip a message's edge whitespace, which would change the count
            // for reasons that have nothing to do with the tokenizer.
            assert_eq!(text.text, text.text.trim(), "{}", text.id);
            assert!(
                !text.text.contains("<|"),
                "{} looks like a special token",
                text.id
            );
        }
        for category in [
            "chinese_prose",
            "classical_chinese",
            "code",
            "numbers",
            "mixed_script",
            "emoji",
            "rare_characters",
            "repeated",
        ] {
            assert!(
                texts.iter().any(|text| text.category == category),
                "{category}"
            );
        }
    }

    #[test]
    fn open_prompts_number_at_least_ten_in_both_languages() {
        let prompts = open_prompts().expect("built-in prompts parse");
        assert!(prompts.len() >= 10);
        assert!(prompts.iter().any(|p| p.language == ProbeLanguage::Chinese));
        assert!(prompts.iter().any(|p| p.language == ProbeLanguage::English));
    }

    #[test]
    fn repeated_id_is_rejected_with_the_file_named() {
        let contents = "{\"id\":\"a\",\"category\":\"x\",\"text\":\"1\"}\n{\"id\":\"a\",\"category\":\"x\",\"text\":\"2\"}\n";
        let error = parse_builtin_jsonl("test.jsonl", contents, |text: &TokenizerText| {
            text.id.clone()
        })
        .expect_err("duplicate id must fail");
        assert!(error.to_string().contains("test.jsonl"));
        assert!(error.to_string().contains("`a`"));
    }

    #[test]
    fn invalid_line_is_reported_with_its_number() {
        let contents = "{\"id\":\"a\",\"category\":\"x\",\"text\":\"1\"}\n\nnot json\n";
        let error = parse_builtin_jsonl("test.jsonl", contents, |text: &TokenizerText| {
            text.id.clone()
        })
        .expect_err("bad line must fail");
        assert!(error.to_string().contains("line 3"), "{error}");
    }
}
