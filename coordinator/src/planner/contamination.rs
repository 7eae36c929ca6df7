//! Planning the contamination audit (docs/contamination.md): for every suite of the run
//! that asks multiple-choice items by generation, a sample of its items per subject is
//! planned again four times — with its options rotated (`contamination:order`), with one
//! wrong option hidden for the model to write (`contamination:masked`), and its first
//! half to be finished with and without the dataset's name (`contamination:guided`,
//! `contamination:general`), and its question's text to be echoed with every prompt
//! token's log-probability (`contamination:min_k`, Min-K%) — and the project's control
//! items are planned masked and echoed too. They are ordinary items (budgets,
//! retries, cache, store, rescore) under the suite [`CONTAMINATION_SUITE`], so they never
//! count in the benchmark's scores.
//!
//! A child of the planner so it renders and shards exactly as the planner does.

use std::collections::BTreeMap;

use jianzhen_suites::contamination::{
    MASK, MIN_K_PERCENT, NEAR_EXACT_THRESHOLD, control_items, dataset_name, general_prompt,
    guided_prompt, masked_index, masked_prompt, order_shift, permute, split_question,
};
use jianzhen_suites::grading::ItemKind;
use jianzhen_suites::template::{ChatMessage, ScoringMode};
use serde::{Deserialize, Serialize};

use super::{
    PlannedItem, PlannedShard, PreparedSuite, RenderedItem, ShardContext, SuiteDefinition,
    emit_shards, few_shot_examples, kept_per_subject, messages_json, short_hash,
};
use crate::error::CoordinatorError;
use crate::request::ItemRequest;
use crate::spec::RunSpec;

/// The suite name under which the audit's items are planned and stored.
pub const CONTAMINATION_SUITE: &str = "contamination";

/// The subject of the control items.
pub const CONTROL_SUBJECT: &str = "control";

/// Generation limit of a masked-option request: an option is a short text.
pub const MASKED_MAX_TOKENS: u32 = 64;

/// Generation limit of a completion request: the rest of a question.
pub const COMPLETION_MAX_TOKENS: u32 = 128;

/// What the audit asked, recorded in the manifest so a reader can redo it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContaminationManifest {
    /// `contamination_sample`: items per subject (absent: every item the run evaluates).
    pub sample_per_subject: Option<u32>,
    /// How each item's options are rotated.
    pub order_rule: String,
    /// Which option is hidden, and how a guess is compared.
    pub mask_rule: String,
    /// How a question is cut for guided completion, and what is compared.
    #[serde(default)]
    pub completion_rule: String,
    pub near_exact_threshold: f64,
    /// What the Min-K% test asks and computes (absent from runs planned before it).
    #[serde(default)]
    pub min_k_rule: String,
    /// K of Min-K%, in percent.
    #[serde(default)]
    pub min_k_percent: u32,
    /// Control items asked masked and echoed (per endpoint and repeat).
    pub control_items: usize,
    pub suites: Vec<ContaminationSuiteManifest>,
    /// Extra requests per endpoint and repeat: 5 per sampled item (rotated, masked,
    /// guided and general completion, Min-K% echo), 2 per control item (masked, Min-K%
    /// echo). The Min-K% ones are sent only to an endpoint that echoes prompt
    /// log-probabilities (the others are answered by the worker's echo check).
    pub extra_requests_per_endpoint: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContaminationSuiteManifest {
    pub suite: String,
    /// Items asked again with rotated options (and as many masked).
    pub sampled_items: usize,
    /// Why the suite is not audited, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// The rule of [`order_shift`], in words, for the manifest.
pub const ORDER_RULE: &str = "options rotated by s = 1 + FNV-1a-64(item id) mod (n - 1): new option i is old option (i + s) mod n, so every option and the gold move to a new letter; stored as the item's options and gold";
/// The rule of [`masked_index`], in words, for the manifest.
pub const MASK_RULE: &str = "the k-th wrong option in letter order is hidden, k = FNV-1a-64(\"mask:\" + item id) mod (n - 1); a guess is exact when equal after removing whitespace and punctuation, near-exact at a character Dice overlap >= the threshold";

/// The rule of guided completion, in words, for the manifest.
pub const COMPLETION_RULE: &str = "the trimmed question cut after its first ceil(n/2) characters; the second half asked for with the dataset's name and split (guided) and without (general); each completion's character Dice overlap with the true second half compared per item";

/// The Min-K% test, in words, for the manifest.
pub const MIN_K_RULE: &str = "the trimmed question text alone sent to /v1/completions with echo and logprobs (after the worker's echo check; an endpoint that does not echo is not asked); per item, the mean of its lowest K% prompt-token log-probabilities (at least one token; the first token has none); the benchmark's items against the control items by a one-sided Mann-Whitney U test (normal approximation, continuity and tie corrections)";

/// A Min-K% item: the question's text alone, echoed with its prompt log-probabilities.
fn min_k_item(
    label: &str,
    subject: &str,
    item_id: &str,
    question: &str,
    source: &str,
) -> Result<Option<RenderedItem>, CoordinatorError> {
    let text = question.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let messages = ItemRequest::prompt_logprobs(text).stored_messages();
    let messages_json = messages_json(&messages)?;
    let kind = ItemKind::MinKProbability;
    Ok(Some(RenderedItem {
        item_key: short_hash(
            &[
                CONTAMINATION_SUITE,
                &kind.name(),
                label,
                item_id,
                &messages_json,
            ],
            16,
        ),
        judge_identity: String::new(),
        messages_json,
        subject: subject.to_string(),
        category: label.to_string(),
        item_id: item_id.to_string(),
        gold: String::new(),
        options: Vec::new(),
        messages,
        source: format!("{source} (question text, echoed)"),
        kind,
        // One generated token: some servers refuse 0; it lies past the prompt.
        max_tokens: 1,
    }))
}

/// Why a suite cannot be audited, if it cannot.
fn skip_reason(prepared: &PreparedSuite) -> Option<String> {
    if matches!(prepared.definition, SuiteDefinition::Task(_)) {
        return Some("not a single-answer multiple-choice suite".to_string());
    }
    if prepared.answers_hidden() {
        return Some(format!(
            "split `{}` has no public answers to compare with",
            prepared.split
        ));
    }
    if prepared.scoring != ScoringMode::Gen {
        return Some(
            "scored by log-probabilities; the option-order test compares generated answers: use `gen` scoring".to_string(),
        );
    }
    None
}

fn user(content: String) -> ChatMessage {
    ChatMessage {
        role: "user".to_string(),
        content,
    }
}

/// A masked-option item for a question with `options` and gold letter `gold`.
fn masked_item(
    label: &str,
    subject: &str,
    item_id: &str,
    question: &str,
    options: &[String],
    gold: char,
    source: &str,
) -> Result<Option<RenderedItem>, CoordinatorError> {
    let Some(hidden) = masked_index(item_id, options.len(), gold) else {
        return Ok(None);
    };
    let messages = vec![user(masked_prompt(question, options, hidden))];
    let messages_json = messages_json(&messages)?;
    let kind = ItemKind::MaskedOption;
    let gold = options[hidden].clone();
    let mut shown = options.to_vec();
    shown[hidden] = MASK.to_string();
    Ok(Some(RenderedItem {
        item_key: short_hash(
            &[
                CONTAMINATION_SUITE,
                &kind.name(),
                label,
                item_id,
                &messages_json,
                &gold,
            ],
            16,
        ),
        judge_identity: String::new(),
        messages_json,
        subject: subject.to_string(),
        category: label.to_string(),
        item_id: item_id.to_string(),
        gold,
        options: shown,
        messages,
        source: format!("{source} (option {} hidden)", (b'A' + hidden as u8) as char),
        kind,
        max_tokens: MASKED_MAX_TOKENS,
    }))
}

/// A completion item: the prompt as one user message, the true second half as gold.
fn completion_item(
    label: &str,
    subject: &str,
    item_id: &str,
    prompt: String,
    second_half: &str,
    kind: ItemKind,
    source: &str,
) -> Result<RenderedItem, CoordinatorError> {
    let messages = vec![user(prompt)];
    let messages_json = messages_json(&messages)?;
    Ok(RenderedItem {
        item_key: short_hash(
            &[
                CONTAMINATION_SUITE,
                &kind.name(),
                label,
                item_id,
                &messages_json,
                second_half,
            ],
            16,
        ),
        judge_identity: String::new(),
        messages_json,
        subject: subject.to_string(),
        category: label.to_string(),
        item_id: item_id.to_string(),
        gold: second_half.to_string(),
        options: Vec::new(),
        messages,
        source: format!("{source} (first half of the question)"),
        kind,
        max_tokens: COMPLETION_MAX_TOKENS,
    })
}

/// Plans the audit's items into `items` and `shards`.
///
/// # Errors
/// A prompt that does not render (as for the run's own items), a control set defect.
pub(super) fn plan_contamination(
    run_id: &str,
    spec: &RunSpec,
    suites: &[PreparedSuite],
    cache_scope: &str,
    items: &mut Vec<PlannedItem>,
    shards: &mut Vec<PlannedShard>,
) -> Result<ContaminationManifest, CoordinatorError> {
    let mut by_subject: BTreeMap<String, Vec<RenderedItem>> = BTreeMap::new();
    let mut suite_manifests = Vec::new();
    for prepared in suites {
        let label = prepared.label();
        if let Some(reason) = skip_reason(prepared) {
            suite_manifests.push(ContaminationSuiteManifest {
                suite: label,
                sampled_items: 0,
                skipped: Some(reason),
            });
            continue;
        }
        // The run's own items, then the sample of each subject among them.
        let kept = kept_per_subject(
            prepared.items.choice(),
            |item| item.subject.as_str(),
            prepared.limit_per_subject,
            prepared.spread,
        );
        let kept: Vec<_> = kept.into_iter().cloned().collect();
        let sample = kept_per_subject(
            &kept,
            |item| item.subject.as_str(),
            spec.contamination_sample,
            true,
        );
        let mut sampled = 0;
        for item in sample {
            let Some(gold) = item.answer else { continue };
            if item.options.len() < 2 {
                continue;
            }
            let subject = format!("{label}/{}", item.subject);
            let source = format!("{}:{}", item.source.path.display(), item.source.line);
            let shift = order_shift(&item.id, item.options.len());
            let (options, new_gold, order) = permute(&item.options, gold, shift);
            let mut rotated = item.clone();
            rotated.options = options;
            rotated.answer = Some(new_gold);
            let shots = few_shot_examples(prepared, &item.subject)?;
            let messages = prepared.render(&rotated, shots)?;
            let messages_json = messages_json(&messages)?;
            let kind = ItemKind::PermutedChoice;
            let gold_text = new_gold.to_string();
            let entry = by_subject.entry(subject.clone()).or_default();
            entry.push(RenderedItem {
                item_key: short_hash(
                    &[
                        CONTAMINATION_SUITE,
                        &kind.name(),
                        &label,
                        &item.id,
                        &messages_json,
                        &gold_text,
                    ],
                    16,
                ),
                judge_identity: String::new(),
                messages_json,
                subject: subject.clone(),
                category: label.clone(),
                item_id: item.id.clone(),
                gold: gold_text,
                options: rotated.options.clone(),
                messages,
                source: format!("{source} (options in order {order})"),
                kind,
                max_tokens: 0,
            });
            let (first_half, second_half) = split_question(&item.question);
            if !first_half.is_empty() && !second_half.is_empty() {
                let guided = guided_prompt(dataset_name(&label), &prepared.split, &first_half);
                for (kind, prompt) in [
                    (ItemKind::GuidedCompletion, guided),
                    (ItemKind::GeneralCompletion, general_prompt(&first_half)),
                ] {
                    entry.push(completion_item(
                        &label,
                        &subject,
                        &item.id,
                        prompt,
                        &second_half,
                        kind,
                        &source,
                    )?);
                }
            }
            if let Some(masked) = masked_item(
                &label,
                &subject,
                &item.id,
                &item.question,
                &item.options,
                gold,
                &source,
            )? {
                entry.push(masked);
            }
            if let Some(min_k) = min_k_item(&label, &subject, &item.id, &item.question, &source)? {
                entry.push(min_k);
            }
            sampled += 1;
        }
        suite_manifests.push(ContaminationSuiteManifest {
            suite: label,
            sampled_items: sampled,
            skipped: None,
        });
    }
    let control = control_items().map_err(|error| CoordinatorError::Internal(error.to_string()))?;
    for item in &control {
        if let Some(masked) = masked_item(
            CONTROL_SUBJECT,
            CONTROL_SUBJECT,
            &item.id,
            &item.question,
            &item.options,
            item.answer,
            "built-in contamination control item",
        )? {
            by_subject
                .entry(CONTROL_SUBJECT.to_string())
                .or_default()
                .push(masked);
        }
        if let Some(min_k) = min_k_item(
            CONTROL_SUBJECT,
            CONTROL_SUBJECT,
            &item.id,
            &item.question,
            "built-in contamination control item",
        )? {
            by_subject
                .entry(CONTROL_SUBJECT.to_string())
                .or_default()
                .push(min_k);
        }
    }
    let extra_requests_per_endpoint = by_subject.values().map(Vec::len).sum();
    for endpoint in &spec.endpoints {
        for (subject, rendered) in &by_subject {
            emit_shards(
                &ShardContext {
                    run_id,
                    spec,
                    endpoint,
                    suite: CONTAMINATION_SUITE,
                    subject,
                    template: "contamination",
                    cache_scope,
                },
                rendered,
                items,
                shards,
            );
        }
    }
    Ok(ContaminationManifest {
        sample_per_subject: spec.contamination_sample,
        order_rule: ORDER_RULE.to_string(),
        mask_rule: MASK_RULE.to_string(),
        completion_rule: COMPLETION_RULE.to_string(),
        near_exact_threshold: NEAR_EXACT_THRESHOLD,
        min_k_rule: MIN_K_RULE.to_string(),
        min_k_percent: MIN_K_PERCENT,
        control_items: control.len(),
        suites: suite_manifests,
        extra_requests_per_endpoint,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use jianzhen_suites::template;
    use jianzhen_suites::{McItem, SourceLocation, SuiteName};

    use super::super::{PreparedSuite, SuiteDefinition, SuiteItems, plan};
    use super::*;

    fn item(subject: &str, index: usize, answer: char) -> McItem {
        McItem {
            id: format!("{subject}/val/{index}"),
            subject: subject.to_string(),
            question: format!("问题{index}"),
            options: ["甲", "乙", "丙", "丁"]
                .map(|stem| format!("{stem}{index}"))
                .to_vec(),
            answer: Some(answer),
            explanation: None,
            source: SourceLocation {
                path: PathBuf::from(format!("val/{subject}_val.csv")),
                line: index as u64 + 2,
            },
        }
    }

    /// C-Eval's shipped spec with `items`, as `prepare_suites` gives it to the planner.
    fn prepared(items: Vec<McItem>, scoring: ScoringMode) -> PreparedSuite {
        let mut shipped =
            jianzhen_suites::spec::builtin_spec(SuiteName::Ceval).expect("C-Eval spec");
        shipped.scoring = scoring;
        PreparedSuite {
            definition: SuiteDefinition::Declarative(Box::new(shipped)),
            scoring,
            split: "val".into(),
            template: template::default_template(SuiteName::Ceval).to_string(),
            shots: 0,
            limit_per_subject: None,
            spread: false,
            data_dir: "/data/ceval".into(),
            items: SuiteItems::Choice(items),
            fewshot_pool: BTreeMap::new(),
            files: vec![],
            left_out: vec![],
            extractor: None,
        }
    }

    fn spec(extra: &str) -> RunSpec {
        RunSpec::from_toml(
            &format!(
                "name = \"t\"\n{extra}[[suites]]\nname = \"ceval\"\ndata = \"/data/ceval\"\n[[endpoints]]\nname = \"e\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n"
            ),
            "test",
        )
        .expect("test spec parses")
    }

    #[test]
    fn sampled_items_are_planned_rotated_and_masked_beside_the_control_set() {
        let items: Vec<McItem> = (0..6)
            .map(|index| item(if index < 3 { "law" } else { "logic" }, index, 'A'))
            .collect();
        let suites = [prepared(items, ScoringMode::Gen)];
        let plain = plan("run", &spec(""), &suites, &[], "t", "").expect("plan");
        assert!(plain.manifest.contamination.is_none());
        let audited = plan(
            "run",
            &spec("contamination = true\ncontamination_sample = 2\n"),
            &suites,
            &[],
            "t",
            "",
        )
        .expect("plan");
        let control = control_items().expect("control set").len();
        let extra: Vec<&PlannedItem> = audited
            .items
            .iter()
            .filter(|item| item.suite == CONTAMINATION_SUITE)
            .collect();
        // 2 sampled items in each of 2 subjects, asked five ways, and the control items
        // masked and echoed.
        assert_eq!(extra.len(), 2 * 2 * 5 + 2 * control);
        assert_eq!(audited.items.len(), plain.items.len() + extra.len());
        let manifest = audited.manifest.contamination.expect("manifest");
        assert_eq!(manifest.extra_requests_per_endpoint, 20 + 2 * control);
        assert_eq!(manifest.min_k_percent, 20);
        let min_k: Vec<&&PlannedItem> = extra
            .iter()
            .filter(|item| item.kind == ItemKind::MinKProbability)
            .collect();
        assert_eq!(min_k.len(), 4 + control);
        let law = min_k
            .iter()
            .find(|item| item.item_id == "law/val/0")
            .expect("item 0 echoed");
        // The question's text alone, typed as a prompt-log-probability request.
        assert_eq!(
            ItemRequest::from_stored(law.messages.clone(), 0),
            Ok(ItemRequest::prompt_logprobs("问题0"))
        );
        assert_eq!((law.subject.as_str(), law.max_tokens), ("ceval/law", 1));
        assert!(
            min_k
                .iter()
                .filter(|item| item.subject == CONTROL_SUBJECT)
                .all(|item| !item.messages[0].content.is_empty())
        );
        let guided: Vec<&&PlannedItem> = extra
            .iter()
            .filter(|item| item.kind == ItemKind::GuidedCompletion)
            .collect();
        assert_eq!(guided.len(), 4);
        // 问题0 is cut after 问题: the gold is the rest.
        let first = guided
            .iter()
            .find(|item| item.item_id == "law/val/0")
            .expect("item 0");
        assert_eq!(first.gold, "0");
        assert!(
            first.messages[0]
                .content
                .ends_with("C-Eval（val）题目前半部分：问题")
        );
        assert_eq!(manifest.suites[0].sampled_items, 4);
        for rotated in extra
            .iter()
            .filter(|item| item.kind == ItemKind::PermutedChoice)
        {
            assert_ne!(rotated.gold, "A", "the gold moved: {}", rotated.item_id);
            let index = (rotated.gold.as_bytes()[0] - b'A') as usize;
            assert!(
                rotated.options[index].starts_with('甲'),
                "{:?}",
                rotated.options
            );
            assert!(rotated.subject.starts_with("ceval/"));
            assert_eq!(rotated.category, "ceval");
        }
        let masked: Vec<&&PlannedItem> = extra
            .iter()
            .filter(|item| item.kind == ItemKind::MaskedOption)
            .collect();
        assert_eq!(masked.len(), 4 + control);
        for item in masked {
            assert!(item.options.contains(&MASK.to_string()));
            assert!(!item.options.contains(&item.gold));
            assert_eq!(item.max_tokens, MASKED_MAX_TOKENS);
        }
        // Planning twice gives the same items (resume is free).
        let again = plan(
            "run",
            &spec("contamination = true\ncontamination_sample = 2\n"),
            &suites,
            &[],
            "t",
            "",
        )
        .expect("plan");
        assert_eq!(again.items, audited.items);
    }

    #[test]
    fn a_suite_scored_by_log_probabilities_is_skipped_with_its_reason() {
        let suites = [prepared(
            vec![item("law", 0, 'B')],
            ScoringMode::LoglikFirstToken,
        )];
        let audited = plan(
            "run",
            &spec("contamination = true\n"),
            &suites,
            &[],
            "t",
            "",
        )
        .expect("plan");
        let manifest = audited.manifest.contamination.expect("manifest");
        assert!(
            manifest.suites[0]
                .skipped
                .as_deref()
                .is_some_and(|reason| reason.contains("use `gen` scoring"))
        );
    }
}
