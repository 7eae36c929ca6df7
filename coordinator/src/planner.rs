//! The planner: a run spec and loaded suites in, items and shards out.
//!
//! Pure: no IO, no clock. Every id is derived from content (the spec, the data file
//! hashes, the rendered prompt), so planning the same spec again yields the same ids and
//! the store recognises the work already done. Resume is free.

use std::collections::BTreeMap;

use jianzhen_suites::McItem;
use jianzhen_suites::formats::EvalItem;
use jianzhen_suites::grading::ItemKind;
use jianzhen_suites::left_out::LeftOut;
use jianzhen_suites::load::DataFileDigest;
use jianzhen_suites::peer::AnswerReading;
use jianzhen_suites::spec::DeclarativeSuite;
use jianzhen_suites::tasks::submission::ClueSubmission;
use jianzhen_suites::tasks::{self, TaskSuite};
use jianzhen_suites::template::{ChatMessage, ScoringMode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::CoordinatorError;
use crate::request::{Ask, ItemRequest, JudgeStep};
use crate::spec::{EndpointSpec, RunSpec};

pub mod contamination;
pub use contamination::{CONTAMINATION_SUITE, ContaminationManifest};
pub mod prepare;
pub use prepare::prepare_suites;
pub mod provenance;
pub use provenance::ProvenanceAnswersManifest;

/// Where a suite's format, prompts and categories come from.
#[derive(Debug, Clone)]
pub enum SuiteDefinition {
    /// A declarative suite spec (TOML): supplied by the user, or the shipped spec of
    /// C-Eval or CMMLU with the template and scoring the run chose
    /// ([`prepare::prepare_suites`]).
    Declarative(Box<DeclarativeSuite>),
    /// A suite read by `jianzhen_suites::formats` (GAOKAO-Bench, C3, CMRC2018, ...), whose
    /// items may be multi-answer, span, numeric or free text.
    Task(TaskSuite),
}

/// A suite of the spec with its data loaded and its settings resolved.
#[derive(Debug, Clone)]
pub struct PreparedSuite {
    pub definition: SuiteDefinition,
    /// How answers are scored: generated text, or the first token's log-probabilities.
    pub scoring: ScoringMode,
    pub split: String,
    pub template: String,
    pub shots: u32,
    pub limit_per_subject: Option<u32>,
    /// With a limit: take items evenly spaced through each subject, not the first ones.
    pub spread: bool,
    pub data_dir: String,
    /// Items to evaluate: multiple-choice items of a declarative suite (C-Eval, CMMLU, a
    /// user's spec), or a task suite's items. Their number is [`SuiteItems::len`].
    pub items: SuiteItems,
    /// In-context examples by subject.
    pub fewshot_pool: BTreeMap<String, Vec<McItem>>,
    /// Every data file read, with its hash.
    pub files: Vec<DataFileDigest>,
    /// Records of those files left out (file, record, subject, reason): part of the run
    /// id, the manifest and the report.
    pub left_out: Vec<LeftOut>,
    /// A peer reading of generated single-letter answers instead of Jianzhen's cascade
    /// (`--extractor`); `None` reads them with Jianzhen's.
    pub extractor: Option<AnswerReading>,
}

/// The items of one suite: one list, whose kind follows the suite's definition.
#[derive(Debug, Clone)]
pub enum SuiteItems {
    /// Single-answer multiple-choice items, in file order per subject, of a
    /// [`SuiteDefinition::Declarative`] suite.
    Choice(Vec<McItem>),
    /// Items of a [`SuiteDefinition::Task`] suite (multi-answer, span, number, free text,
    /// label), in file order.
    Task(Vec<EvalItem>),
}

/// What every item has, whatever its suite: for counting and listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemHeader<'a> {
    /// The suite's own id of the item.
    pub id: &'a str,
    pub subject: &'a str,
}

impl SuiteItems {
    /// How many items the suite evaluates (before a run's per-subject limit).
    pub fn len(&self) -> usize {
        match self {
            SuiteItems::Choice(items) => items.len(),
            SuiteItems::Task(items) => items.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each item's id and subject, in order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = ItemHeader<'_>> + '_> {
        match self {
            SuiteItems::Choice(items) => Box::new(items.iter().map(|item| ItemHeader {
                id: &item.id,
                subject: &item.subject,
            })),
            SuiteItems::Task(items) => Box::new(items.iter().map(|item| ItemHeader {
                id: &item.id,
                subject: &item.subject,
            })),
        }
    }

    /// The multiple-choice items; none for a task suite.
    pub fn choice(&self) -> &[McItem] {
        match self {
            SuiteItems::Choice(items) => items,
            SuiteItems::Task(_) => &[],
        }
    }

    /// A task suite's items; none for a multiple-choice suite.
    pub fn task(&self) -> &[EvalItem] {
        match self {
            SuiteItems::Choice(_) => &[],
            SuiteItems::Task(items) => items,
        }
    }
}

impl PreparedSuite {
    /// How many items the suite evaluates, whatever their kind.
    pub fn item_count(&self) -> usize {
        self.items.len()
    }

    /// The suite's name in results and reports.
    pub fn label(&self) -> String {
        match &self.definition {
            SuiteDefinition::Declarative(spec) => spec.name.clone(),
            SuiteDefinition::Task(suite) => suite.name(),
        }
    }

    /// The categories a subject counts in, `|`-separated ("Other" when unmapped).
    /// CMMLU counts some subjects in two categories (e.g. Social Science and China
    /// specific); both are kept and the category table counts each.
    fn categories(&self, subject: &str) -> String {
        let names: Vec<String> = match &self.definition {
            SuiteDefinition::Declarative(spec) => spec
                .categories_of(subject)
                .into_iter()
                .map(str::to_string)
                .collect(),
            SuiteDefinition::Task(task) => vec![task.category(subject)],
        };
        if names.is_empty() {
            return "Other".to_string();
        }
        names.join("|")
    }

    fn render(
        &self,
        item: &McItem,
        shots: &[McItem],
    ) -> Result<Vec<ChatMessage>, CoordinatorError> {
        Ok(match &self.definition {
            SuiteDefinition::Declarative(spec) if self.scoring == ScoringMode::LoglikEcho => {
                ItemRequest::loglik_echo(&spec.render_choice_continuations(item, shots)?)
                    .stored_messages()
            }
            SuiteDefinition::Declarative(spec) => spec.render_chat(item, shots)?,
            SuiteDefinition::Task(suite) => {
                return Err(CoordinatorError::Internal(format!(
                    "suite {suite} has no multiple-choice items to render"
                )));
            }
        })
    }

    /// Whether the benchmark withholds the evaluated split's answers (C-Eval's `test`, a
    /// spec's `answer_hidden_in`, OCNLI's and FewCLUE's `test`): its items are answered
    /// for the benchmark's own leaderboard and written as a predictions file, never
    /// scored here.
    pub fn answers_hidden(&self) -> bool {
        match &self.definition {
            SuiteDefinition::Declarative(spec) => {
                spec.fields.answer_hidden_in.contains(&self.split)
            }
            SuiteDefinition::Task(task) => task.answers_hidden(&self.split),
        }
    }

    fn template_hash(&self) -> Result<String, CoordinatorError> {
        Ok(match &self.definition {
            SuiteDefinition::Declarative(spec) => spec.template_hash()?,
            SuiteDefinition::Task(_) => tasks::prompts::template_hash(&self.template)?,
        })
    }

    /// The content-derived key of one item of this suite: the same item with the same
    /// prompt, scoring and gold has the same key in every run.
    fn item_key(&self, label: &str, item_id: &str, messages_json: &str, gold: &str) -> String {
        short_hash(
            &[
                self.scoring.as_str(),
                label,
                item_id,
                &self.template,
                &self.shots.to_string(),
                messages_json,
                gold,
            ],
            16,
        )
    }

    /// Renders the items of a task suite: prompt, grading kind and gold for each.
    fn render_task_items(
        &self,
        label: &str,
        judge: Option<&EndpointSpec>,
    ) -> Result<RenderedBySubject, CoordinatorError> {
        let mut rendered_by_subject: RenderedBySubject = BTreeMap::new();
        let kept = kept_per_subject(
            self.items.task(),
            |item| item.subject.as_str(),
            self.limit_per_subject,
            self.spread,
        );
        let first_token = self.scoring == ScoringMode::LoglikFirstToken;
        let hidden = self.answers_hidden();
        for item in kept {
            let gold = tasks::prompts::item_gold(&self.template, item)?;
            // First-token scoring reads one option letter: an item with several answers
            // or a free answer cannot be scored that way, and is refused, not skipped.
            if first_token && gold.kind != tasks::grade::AnswerKind::Choice {
                return Err(CoordinatorError::InvalidSpec {
                    origin: format!("suite {label}"),
                    problem: format!(
                        "item {} ({}: {}) is graded as `{}`, not one option letter, so `loglik_first_token` cannot score it; leave its subject `{}` out with `subjects`, or use `gen`",
                        item.id,
                        item.source.path.display(),
                        item.source.record,
                        gold.kind.as_str(),
                        item.subject
                    ),
                });
            }
            let mut messages = tasks::prompts::render(&self.template, item)?;
            // Chinese SimpleQA's published grading asks a judge model; with one in the
            // spec, the judge prompt travels with the item.
            let judged = judge.filter(|_| {
                matches!(self.definition, SuiteDefinition::Task(TaskSuite::SimpleQa))
                    && gold.kind == tasks::grade::AnswerKind::FreeText
            });
            let mut judge_identity = String::new();
            if let Some(judge) = judged {
                let target = tasks::grade::references(&gold.gold).join(" / ");
                let (system, user) = tasks::judge::simpleqa_judge_prompt(&item.question, &target);
                messages = ItemRequest {
                    ask: Ask::Chat { messages },
                    judge: Some(JudgeStep {
                        system,
                        user_template: user,
                    }),
                }
                .stored_messages();
                judge_identity = format!(
                    "{}|{}|{}|{}",
                    judge.base_url.trim_end_matches('/'),
                    judge.model,
                    judge.temperature,
                    judge.max_tokens
                );
            }
            let messages_json = messages_json(&messages)?;
            let item_key = self.item_key(label, &item.id, &messages_json, &gold.gold);
            rendered_by_subject
                .entry(item.subject.clone())
                .or_default()
                .push(RenderedItem {
                    kind: if judged.is_some() {
                        ItemKind::JudgeSimpleQa
                    } else if first_token {
                        ItemKind::FirstToken
                    } else if hidden {
                        // No gold: the reply is read as a prediction (letter or label).
                        match gold.kind {
                            tasks::grade::AnswerKind::Label => ItemKind::HiddenLabel,
                            _ => ItemKind::HiddenChoice,
                        }
                    } else {
                        ItemKind::for_answer(gold.kind)
                    },
                    judge_identity,
                    max_tokens: u32::from(first_token),
                    item_key,
                    messages_json,
                    subject: item.subject.clone(),
                    category: self.categories(&item.subject),
                    item_id: item.id.clone(),
                    gold: gold.gold,
                    options: gold.options,
                    messages,
                    source: format!("{}: {}", item.source.path.display(), item.source.record),
                });
        }
        Ok(rendered_by_subject)
    }
}

/// One request to send: an item of a suite, for one endpoint, one repeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedItem {
    /// Content-derived: the same item with the same prompt has the same key in every run.
    pub item_key: String,
    pub repeat: u32,
    pub endpoint: String,
    pub suite: String,
    pub subject: String,
    pub category: String,
    /// The suite's own id of the item, `{subject}/{split}/{row id}`.
    pub item_id: String,
    pub gold: String,
    pub options: Vec<String>,
    pub messages: Vec<ChatMessage>,
    pub shard_id: String,
    pub template: String,
    /// `file:line` of the record in the user's data.
    pub source: String,
    /// Key of the exact request (endpoint URL, model, generation settings, prompt,
    /// repeat) in the response cache shared by all runs of a store.
    pub request_key: String,
    /// The same request whatever its token limit: an answer cached under a smaller limit
    /// that ended on its own (`stop`, fewer tokens than this item's limit) is this item's
    /// answer too, so raising `max_tokens` asks again only the answers that were cut off.
    pub family_key: String,
    /// The token limit the request is sent with (the item's, else the endpoint's).
    pub limit_tokens: u32,
    /// How the item is asked and scored (stored by its name).
    pub kind: ItemKind,
    /// Generation limit for this item; 0 means the endpoint's own.
    pub max_tokens: u32,
    /// Top log-probabilities of the first token to ask for; 0 for none.
    pub top_logprobs: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedShard {
    pub shard_id: String,
    pub endpoint: String,
    pub suite: String,
    pub subject: String,
    pub item_count: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub run_id: String,
    pub items: Vec<PlannedItem>,
    pub shards: Vec<PlannedShard>,
    pub manifest: Manifest,
}

/// What a reviewer needs to reproduce a score: versions, data hashes, templates,
/// endpoint settings (never keys), seed.
// `default`: a manifest stored by an older version lacks the fields added since; the report
// reads it as this type all the same.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Manifest {
    pub harness: String,
    pub harness_version: String,
    pub run_id: String,
    pub run_name: String,
    pub seed: u64,
    pub repeats: u32,
    pub extractor: String,
    pub suites: Vec<SuiteManifest>,
    pub endpoints: Vec<EndpointManifest>,
    /// Present when the run audits provenance: how many probes of each kind were sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<ProvenanceManifest>,
    /// Present when the run audits contamination: what was asked and by which rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contamination: Option<ContaminationManifest>,
    /// The judge model and prompt, when a suite is graded by one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeManifest>,
}

/// Who grades judged items, and with which prompt (never a key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeManifest {
    pub endpoint: EndpointManifest,
    pub prompt: String,
    pub prompt_hash: String,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvenanceManifest {
    pub identity_probes: usize,
    pub tokenizer_texts: usize,
    pub open_prompts: usize,
    /// The multiple-choice fingerprint: the bank added for power, the persona slices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answers: Option<ProvenanceAnswersManifest>,
}

/// The suite name under which provenance probes are planned and stored.
pub const PROVENANCE_SUITE: &str = "provenance";

/// What a probe is for; decides how its answers are read by the audit.
pub use jianzhen_suites::grading::ProbeKind;

/// A provenance probe to send to every endpoint: no gold answer, the raw answer (and its
/// token usage) is the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeItem {
    pub id: String,
    pub kind: ProbeKind,
    pub messages: Vec<ChatMessage>,
    /// Generation limit for this probe; 0 means the endpoint's own.
    pub max_tokens: u32,
}

// `default`: a manifest stored by an older version lacks the fields added since; the report
// reads it as this type all the same.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SuiteManifest {
    pub suite: String,
    pub split: String,
    pub data_dir: String,
    pub template: String,
    pub template_hash: String,
    pub shots: u32,
    pub scoring: String,
    pub items: usize,
    pub subjects: usize,
    pub files: Vec<DataFileDigest>,
    /// Records of the files that could not become items and were left out, each with
    /// its file, record, subject and reason.
    #[serde(default)]
    pub left_out: Vec<LeftOut>,
    /// For a split whose answers the benchmark withholds: the report file holding the
    /// predictions for its leaderboard; no accuracy exists for such a split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictions_file: Option<String>,
    /// For OCNLI's and FewCLUE's hidden `test` split: how the predictions file is written
    /// in CLUE's submission format (a line per record of the test file, in its order).
    /// Absent for C-Eval's format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission: Option<ClueSubmission>,
    /// The peer extractor that reads this suite's generated single-letter answers
    /// (`--extractor`, `jianzhen rescore --extractor`); absent: Jianzhen's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_reading: Option<String>,
}

/// The predictions file of a suite's hidden split, written beside the report:
/// `ceval_submission.json` for C-Eval, as its leaderboard names it.
pub fn predictions_file_name(suite: &str) -> String {
    format!("{suite}_submission.json")
}

// `default`: a manifest stored by an older version lacks the fields added since; the report
// reads it as this type all the same.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointManifest {
    pub name: String,
    pub base_url: String,
    pub model: String,
    /// Only the variable's name; the key itself never leaves the workers.
    pub api_key_env: Option<String>,
    pub max_concurrency: u32,
    pub timeout_secs: f64,
    pub temperature: f64,
    pub max_tokens: u32,
    pub max_attempts: u32,
}

impl From<&EndpointSpec> for EndpointManifest {
    fn from(endpoint: &EndpointSpec) -> Self {
        EndpointManifest {
            name: endpoint.name.clone(),
            base_url: endpoint.base_url.clone(),
            model: endpoint.model.clone(),
            api_key_env: endpoint.api_key_env.clone(),
            max_concurrency: endpoint.max_concurrency,
            timeout_secs: endpoint.timeout_secs,
            temperature: endpoint.temperature,
            max_tokens: endpoint.max_tokens,
            max_attempts: endpoint.max_attempts,
        }
    }
}

/// A prompt as stored and hashed: its messages as JSON.
fn messages_json(messages: &[ChatMessage]) -> Result<String, CoordinatorError> {
    serde_json::to_string(messages).map_err(|error| CoordinatorError::Internal(error.to_string()))
}

fn short_hash(parts: &[&str], hex_chars: usize) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        // A separator that cannot occur in the parts keeps ("ab","c") apart from ("a","bc").
        hasher.update([0u8]);
    }
    let digest = hex::encode(hasher.finalize());
    digest[..hex_chars].to_string()
}

/// The run id: a hash of the spec, of every data file the run reads and of the records
/// left out of them, so the same spec over the same data is the same run, and changed
/// data (or a change in which records are left out) is a new run.
pub fn run_id_for(spec_toml: &str, suites: &[PreparedSuite]) -> String {
    let mut parts: Vec<String> = vec![spec_toml.to_string()];
    for suite in suites {
        for file in &suite.files {
            parts.push(format!("{}:{}", file.relative_path, file.sha256));
        }
        // The same files give the same left-out records; a harness that reads them
        // differently evaluates other items, which is another run.
        for record in &suite.left_out {
            parts.push(format!("left out {}:{}", record.file, record.record));
        }
    }
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    format!("run-{}", short_hash(&refs, 12))
}

/// Expands a run into items (endpoint × suite item × repeat) grouped into shards of the
/// same endpoint and subject.
///
/// # Errors
/// A suite item without a gold answer, an unknown template, or a few-shot request that
/// the dev split cannot satisfy.
pub fn plan(
    run_id: &str,
    spec: &RunSpec,
    suites: &[PreparedSuite],
    probes: &[ProbeItem],
    harness_version: &str,
    cache_scope: &str,
) -> Result<Plan, CoordinatorError> {
    let mut items = Vec::new();
    let mut shards = Vec::new();
    let mut suite_manifests = Vec::new();

    for prepared in suites {
        let template_hash = prepared.template_hash()?;
        let label = prepared.label();
        // Render each item's prompt once; it is the same for every endpoint and repeat.
        let mut rendered_by_subject: RenderedBySubject = match prepared.definition {
            SuiteDefinition::Task(_) => prepared.render_task_items(&label, spec.judge.as_ref())?,
            _ => BTreeMap::new(),
        };
        let kept = kept_per_subject(
            prepared.items.choice(),
            |item| item.subject.as_str(),
            prepared.limit_per_subject,
            prepared.spread,
        );
        let hidden = prepared.answers_hidden();
        if hidden && prepared.scoring != ScoringMode::Gen {
            return Err(CoordinatorError::InvalidSpec {
                origin: format!("suite {label}"),
                problem: format!(
                    "split `{}` has its answers withheld, so its replies are written as a predictions file for the benchmark's leaderboard; that needs generated answers: use `gen` scoring",
                    prepared.split
                ),
            });
        }
        for item in kept {
            // A hidden split's items have no gold: their replies are predictions.
            let gold = match item.answer {
                _ if hidden => String::new(),
                Some(gold) => gold.to_string(),
                None => {
                    return Err(CoordinatorError::NoGoldAnswers {
                        suite: label.clone(),
                        split: prepared.split.clone(),
                        location: format!("{}:{}", item.source.path.display(), item.source.line),
                    });
                }
            };
            let category = prepared.categories(&item.subject);
            let shots = few_shot_examples(prepared, &item.subject)?;
            let messages = prepared.render(item, shots)?;
            let messages_json = messages_json(&messages)?;
            let item_key = prepared.item_key(&label, &item.id, &messages_json, &gold);
            rendered_by_subject
                .entry(item.subject.clone())
                .or_default()
                .push(RenderedItem {
                    judge_identity: String::new(),
                    kind: if hidden {
                        ItemKind::HiddenChoice
                    } else {
                        ItemKind::for_choice(prepared.scoring)
                    },
                    max_tokens: if prepared.scoring == ScoringMode::Gen {
                        0
                    } else {
                        1
                    },
                    item_key,
                    messages_json,
                    subject: item.subject.clone(),
                    category,
                    item_id: item.id.clone(),
                    gold,
                    options: item.options.clone(),
                    messages,
                    source: format!("{}:{}", item.source.path.display(), item.source.line),
                });
        }

        if let Some(reading) = prepared.extractor {
            for item in rendered_by_subject.values_mut().flatten() {
                if let Some(extractor) = reading.for_subject(&prepared.template, &item.subject) {
                    item.kind = item.kind.read_by(Some(extractor));
                }
            }
        }
        let item_count: usize = rendered_by_subject.values().map(Vec::len).sum();
        // CLUE's format needs every record of the test file, not only the ones a limit
        // keeps: the leaderboard compares the file line by line.
        let submission = match prepared.definition {
            SuiteDefinition::Task(task) if hidden => ClueSubmission::for_split(
                task,
                &prepared.split,
                &prepared.template,
                prepared.items.task(),
                &prepared.left_out,
            )?,
            _ => None,
        };
        suite_manifests.push(SuiteManifest {
            suite: label.clone(),
            split: prepared.split.clone(),
            data_dir: prepared.data_dir.clone(),
            template: prepared.template.clone(),
            template_hash,
            shots: prepared.shots,
            scoring: match prepared.scoring {
                ScoringMode::LoglikFirstToken => {
                    "loglik_first_token: one token with top_logprobs; the most likely option letter"
                        .to_string()
                }
                ScoringMode::LoglikEcho => {
                    "loglik_echo: /v1/completions with echo and logprobs; the option whose text's tokens have the highest summed log-probability"
                        .to_string()
                }
                ScoringMode::Gen => "gen: chat completion + answer extraction".to_string(),
            },
            items: item_count,
            subjects: rendered_by_subject.len(),
            files: prepared.files.clone(),
            left_out: prepared.left_out.clone(),
            predictions_file: match &submission {
                Some(submission) => Some(submission.file_name.clone()),
                None => hidden.then(|| predictions_file_name(&label)),
            },
            submission,
            answer_reading: prepared
                .extractor
                .map(|reading| reading.name(&prepared.template)),
        });

        for endpoint in &spec.endpoints {
            for (subject, rendered) in &rendered_by_subject {
                emit_shards(
                    &ShardContext {
                        run_id,
                        spec,
                        endpoint,
                        suite: &label,
                        subject,
                        template: &prepared.template,
                        cache_scope,
                    },
                    rendered,
                    &mut items,
                    &mut shards,
                );
            }
        }
    }

    let contamination_manifest = if spec.contamination {
        Some(contamination::plan_contamination(
            run_id,
            spec,
            suites,
            cache_scope,
            &mut items,
            &mut shards,
        )?)
    } else {
        None
    };

    let probe_manifest = if spec.provenance {
        let mut by_kind: BTreeMap<&str, Vec<RenderedItem>> = BTreeMap::new();
        let probes = provenance::probes_sent(spec, probes);
        for probe in probes.iter().copied() {
            let messages_json = messages_json(&probe.messages)?;
            by_kind
                .entry(probe.kind.as_str())
                .or_default()
                .push(RenderedItem {
                    judge_identity: String::new(),
                    item_key: short_hash(
                        &[
                            "probe",
                            &probe.id,
                            &messages_json,
                            &probe.max_tokens.to_string(),
                        ],
                        16,
                    ),
                    messages_json,
                    subject: probe.kind.as_str().to_string(),
                    category: "Provenance".to_string(),
                    item_id: probe.id.clone(),
                    gold: String::new(),
                    options: Vec::new(),
                    messages: probe.messages.clone(),
                    source: format!("built-in {} probe {}", probe.kind.as_str(), probe.id),
                    kind: ItemKind::Probe(probe.kind),
                    max_tokens: probe.max_tokens,
                });
        }
        for endpoint in &spec.endpoints {
            for (kind, rendered) in &by_kind {
                emit_shards(
                    &ShardContext {
                        run_id,
                        spec,
                        endpoint,
                        suite: PROVENANCE_SUITE,
                        subject: kind,
                        template: "probe",
                        cache_scope,
                    },
                    rendered,
                    &mut items,
                    &mut shards,
                );
            }
        }
        let count = |kind: ProbeKind| probes.iter().filter(|probe| probe.kind == kind).count();
        let answers = provenance::plan_provenance_answers(
            run_id,
            spec,
            cache_scope,
            &mut items,
            &mut shards,
        )?;
        Some(ProvenanceManifest {
            identity_probes: count(ProbeKind::Identity),
            tokenizer_texts: count(ProbeKind::Tokenizer),
            open_prompts: count(ProbeKind::Open),
            answers: Some(answers),
        })
    } else {
        None
    };

    let manifest = Manifest {
        harness: "jianzhen".to_string(),
        harness_version: harness_version.to_string(),
        run_id: run_id.to_string(),
        run_name: spec.name.clone(),
        seed: spec.seed,
        repeats: spec.repeats,
        extractor: jianzhen_suites::extract::EXTRACTOR_VERSION.to_string(),
        suites: suite_manifests,
        endpoints: spec.endpoints.iter().map(EndpointManifest::from).collect(),
        provenance: probe_manifest,
        contamination: contamination_manifest,
        judge: spec
            .judge
            .as_ref()
            .filter(|_| items.iter().any(|item| item.kind == ItemKind::JudgeSimpleQa))
            .map(|judge| JudgeManifest {
                endpoint: EndpointManifest::from(judge),
                prompt: tasks::judge::SIMPLEQA_JUDGE_NAME.to_string(),
                prompt_hash: tasks::judge::judge_prompt_hash(),
                source: "OpenCompass opencompass/datasets/chinese_simpleqa.py @ 3ce9b0a4 (csimpleqa_judge_prompt_new)".to_string(),
            }),
    };
    Ok(Plan {
        run_id: run_id.to_string(),
        items,
        shards,
        manifest,
    })
}

/// The items a per-subject limit keeps, in their order: the first `limit` of each subject,
/// or with `spread`, `limit` items evenly spaced through it (positions `⌊j·n/limit⌋`), so
/// a small sample of a file sorted by label still sees every label. Deterministic: the
/// same data and limit keep the same items.
fn kept_per_subject<T>(
    items: &[T],
    subject_of: impl Fn(&T) -> &str,
    limit: Option<u32>,
    spread: bool,
) -> Vec<&T> {
    let Some(limit) = limit.map(|limit| limit as usize) else {
        return items.iter().collect();
    };
    let mut totals: BTreeMap<&str, usize> = BTreeMap::new();
    for item in items {
        *totals.entry(subject_of(item)).or_insert(0) += 1;
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    items
        .iter()
        .filter(|item| {
            let subject = subject_of(item);
            let position = seen.entry(subject).or_insert(0);
            let index = *position;
            *position += 1;
            let total = totals.get(subject).copied().unwrap_or(0);
            if !spread || total <= limit {
                return index < limit;
            }
            // Position `index` is kept when some j in 0..limit has ⌊j·total/limit⌋ = index.
            let j = (index * limit).div_ceil(total);
            j < limit && j * total / limit == index
        })
        .collect()
}

/// Rendered items by subject, in subject order.
type RenderedBySubject = BTreeMap<String, Vec<RenderedItem>>;

#[derive(Debug, Clone)]
struct RenderedItem {
    item_key: String,
    /// The judge model's URL, model and settings for judged items (part of the cache
    /// key: another judge is another request); empty otherwise.
    judge_identity: String,
    messages_json: String,
    subject: String,
    category: String,
    item_id: String,
    gold: String,
    options: Vec<String>,
    messages: Vec<ChatMessage>,
    source: String,
    kind: ItemKind,
    max_tokens: u32,
}

/// How many top candidates a first-token item asks for.
pub const FIRST_TOKEN_TOP_LOGPROBS: u32 = 20;

/// Where a group of rendered items goes: one endpoint, one suite, one subject.
struct ShardContext<'a> {
    run_id: &'a str,
    spec: &'a RunSpec,
    endpoint: &'a EndpointSpec,
    suite: &'a str,
    subject: &'a str,
    template: &'a str,
    /// The tenant's cache scope, part of every request key (empty for the lab).
    cache_scope: &'a str,
}

/// Expands rendered items into units (item × repeat) and groups them into shards of at
/// most `shard_size`, with content-derived shard ids.
fn emit_shards(
    context: &ShardContext<'_>,
    rendered: &[RenderedItem],
    items: &mut Vec<PlannedItem>,
    shards: &mut Vec<PlannedShard>,
) {
    let ShardContext {
        run_id,
        spec,
        endpoint,
        suite,
        subject,
        template,
        cache_scope,
    } = context;
    let mut units: Vec<(u32, &RenderedItem)> = Vec::new();
    for repeat in 0..spec.repeats {
        units.extend(rendered.iter().map(|item| (repeat, item)));
    }
    for (chunk_index, chunk) in units.chunks(spec.shard_size as usize).enumerate() {
        let mut id_parts = vec![
            run_id.to_string(),
            endpoint.name.clone(),
            suite.to_string(),
            subject.to_string(),
            chunk_index.to_string(),
        ];
        id_parts.extend(
            chunk
                .iter()
                .map(|(repeat, item)| format!("{}#{repeat}", item.item_key)),
        );
        let refs: Vec<&str> = id_parts.iter().map(String::as_str).collect();
        let shard_id = format!("s-{}", short_hash(&refs, 16));
        shards.push(PlannedShard {
            shard_id: shard_id.clone(),
            endpoint: endpoint.name.clone(),
            suite: suite.to_string(),
            subject: subject.to_string(),
            item_count: chunk.len() as u32,
        });
        for (repeat, item) in chunk {
            let top_logprobs = if item.kind.asks_first_token() {
                FIRST_TOKEN_TOP_LOGPROBS
            } else {
                0
            };
            let max_tokens = if item.max_tokens > 0 {
                item.max_tokens
            } else {
                endpoint.max_tokens
            };
            let temperature = endpoint.temperature.to_string();
            let max_tokens_text = max_tokens.to_string();
            let top_logprobs_text = top_logprobs.to_string();
            let repeat_text = repeat.to_string();
            let mut parts = vec![
                endpoint.base_url.trim_end_matches('/'),
                &endpoint.model,
                &temperature,
                &max_tokens_text,
                &top_logprobs_text,
                &item.messages_json,
                &repeat_text,
            ];
            if !item.judge_identity.is_empty() {
                parts.push(&item.judge_identity);
            }
            // A tenant's cached answers serve only that tenant (the lab's scope is empty,
            // which keeps the keys of runs stored before tenants existed).
            if !cache_scope.is_empty() {
                parts.push(*cache_scope);
            }
            let request_key = short_hash(&parts, 32);
            // The family key: the same parts without the limit (the fourth).
            let family_parts: Vec<&str> = parts
                .iter()
                .enumerate()
                .filter(|(index, _)| *index != 3)
                .map(|(_, part)| *part)
                .chain(std::iter::once("family"))
                .collect();
            let family_key = short_hash(&family_parts, 32);
            items.push(PlannedItem {
                item_key: item.item_key.clone(),
                repeat: *repeat,
                endpoint: endpoint.name.clone(),
                suite: suite.to_string(),
                subject: item.subject.clone(),
                category: item.category.clone(),
                item_id: item.item_id.clone(),
                gold: item.gold.clone(),
                options: item.options.clone(),
                messages: item.messages.clone(),
                shard_id: shard_id.clone(),
                template: template.to_string(),
                source: item.source.clone(),
                request_key,
                family_key,
                limit_tokens: max_tokens,
                kind: item.kind,
                max_tokens: item.max_tokens,
                top_logprobs,
            });
        }
    }
}

/// The first `shots` dev items of the subject, as OpenCompass's FixKRetriever takes them.
fn few_shot_examples<'a>(
    prepared: &'a PreparedSuite,
    subject: &str,
) -> Result<&'a [jianzhen_suites::McItem], CoordinatorError> {
    let wanted = prepared.shots as usize;
    if wanted == 0 {
        return Ok(&[]);
    }
    let pool = prepared
        .fewshot_pool
        .get(subject)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if pool.len() < wanted {
        return Err(CoordinatorError::InvalidSpec {
            origin: format!("suite {}", prepared.label()),
            problem: format!(
                "{wanted}-shot asked, but the dev split has {} examples for subject `{subject}`; lower `shots` or add dev rows",
                pool.len()
            ),
        });
    }
    Ok(&pool[..wanted])
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use jianzhen_suites::template;
    use jianzhen_suites::{SourceLocation, SuiteName};

    use super::*;

    fn item(subject: &str, index: usize, answer: char) -> McItem {
        McItem {
            id: format!("{subject}/val/{index}"),
            subject: subject.to_string(),
            question: format!("问题{index}"),
            options: vec!["甲".into(), "乙".into(), "丙".into(), "丁".into()],
            answer: Some(answer),
            explanation: None,
            source: SourceLocation {
                path: PathBuf::from(format!("val/{subject}_val.csv")),
                line: index as u64 + 2,
            },
        }
    }

    /// C-Eval's shipped spec with `items`, as `prepare_suites` gives it to the planner.
    fn prepared(items: Vec<McItem>) -> PreparedSuite {
        let shipped = jianzhen_suites::spec::builtin_spec(SuiteName::Ceval).expect("C-Eval spec");
        PreparedSuite {
            definition: SuiteDefinition::Declarative(Box::new(shipped)),
            scoring: ScoringMode::Gen,
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

    fn spec(endpoints: &[&str], shard_size: u32, repeats: u32) -> RunSpec {
        let mut text = format!(
            "name = \"t\"\nshard_size = {shard_size}\nrepeats = {repeats}\n[[suites]]\nname = \"ceval\"\ndata = \"/data/ceval\"\n"
        );
        for name in endpoints {
            text.push_str(&format!(
                "[[endpoints]]\nname = \"{name}\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n"
            ));
        }
        RunSpec::from_toml(&text, "test").expect("test spec parses")
    }

    fn items(count: usize) -> Vec<McItem> {
        (0..count)
            .map(|index| {
                let subject = if index % 2 == 0 {
                    "computer_network"
                } else {
                    "law"
                };
                item(subject, index, ['A', 'B', 'C', 'D'][index % 4])
            })
            .collect()
    }

    #[test]
    fn planning_twice_gives_identical_ids() {
        let suites = [prepared(items(30))];
        let first = plan("run-x", &spec(&["a", "b"], 4, 2), &suites, &[], "0", "").expect("plans");
        let second = plan("run-x", &spec(&["a", "b"], 4, 2), &suites, &[], "0", "").expect("plans");
        assert_eq!(first.items, second.items);
        assert_eq!(first.shards, second.shards);
    }

    #[test]
    fn every_unit_is_planned_once_in_a_shard_of_one_endpoint_and_subject() {
        let suites = [prepared(items(30))];
        let planned =
            plan("run-x", &spec(&["a", "b"], 4, 2), &suites, &[], "0", "").expect("plans");
        // 30 items × 2 endpoints × 2 repeats.
        assert_eq!(planned.items.len(), 120);
        let mut keys: Vec<_> = planned
            .items
            .iter()
            .map(|item| (item.endpoint.clone(), item.item_key.clone(), item.repeat))
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 120, "no unit planned twice");
        let total: u32 = planned.shards.iter().map(|shard| shard.item_count).sum();
        assert_eq!(total, 120);
        for shard in &planned.shards {
            assert!(shard.item_count <= 4);
            let members: Vec<_> = planned
                .items
                .iter()
                .filter(|item| item.shard_id == shard.shard_id)
                .collect();
            assert_eq!(members.len() as u32, shard.item_count);
            assert!(
                members
                    .iter()
                    .all(|item| item.endpoint == shard.endpoint && item.subject == shard.subject)
            );
        }
    }

    #[test]
    fn item_keys_do_not_depend_on_the_endpoint_or_run() {
        let suites = [prepared(items(4))];
        let one = plan("run-1", &spec(&["a"], 10, 1), &suites, &[], "0", "").expect("plans");
        let two = plan("run-2", &spec(&["b"], 10, 1), &suites, &[], "0", "").expect("plans");
        let keys = |plan: &Plan| {
            plan.items
                .iter()
                .map(|item| item.item_key.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&one), keys(&two));
        assert_ne!(one.shards[0].shard_id, two.shards[0].shard_id);
    }

    #[test]
    fn items_without_gold_answers_are_refused_with_their_location() {
        let mut hidden = items(2);
        hidden[1].answer = None;
        let error = plan(
            "run-x",
            &spec(&["a"], 10, 1),
            &[prepared(hidden)],
            &[],
            "0",
            "",
        )
        .expect_err("refused");
        assert!(error.to_string().contains("val/law_val.csv:3"), "{error}");
    }

    #[test]
    fn spread_keeps_evenly_spaced_items_of_each_subject() {
        let numbers: Vec<(usize, &str)> = (0..10).map(|n| (n, "a")).chain([(10, "b")]).collect();
        let kept = |limit, spread| -> Vec<usize> {
            kept_per_subject(&numbers, |item| item.1, Some(limit), spread)
                .into_iter()
                .map(|item| item.0)
                .collect()
        };
        assert_eq!(kept(3, false), [0, 1, 2, 10]);
        // ⌊0·10/3⌋, ⌊1·10/3⌋, ⌊2·10/3⌋ = 0, 3, 6; subject b has one item.
        assert_eq!(kept(3, true), [0, 3, 6, 10]);
        assert_eq!(kept(4, true), [0, 2, 5, 7, 10]);
        assert_eq!(
            kept(20, true).len(),
            11,
            "a limit above the count keeps all"
        );
    }

    #[test]
    fn limit_per_subject_takes_the_first_items() {
        let mut suite = prepared(items(10));
        suite.limit_per_subject = Some(2);
        let planned = plan("run-x", &spec(&["a"], 10, 1), &[suite], &[], "0", "").expect("plans");
        assert_eq!(planned.items.len(), 4);
    }

    #[test]
    fn request_keys_differ_by_endpoint_setting_and_repeat_but_not_by_run() {
        let suites = [prepared(items(2))];
        let one = plan("run-1", &spec(&["a"], 10, 2), &suites, &[], "0", "").expect("plans");
        let two = plan("run-2", &spec(&["a"], 10, 2), &suites, &[], "0", "").expect("plans");
        assert_eq!(
            one.items[0].request_key, two.items[0].request_key,
            "same request in another run"
        );
        let keys: std::collections::BTreeSet<_> = one
            .items
            .iter()
            .map(|item| item.request_key.clone())
            .collect();
        assert_eq!(keys.len(), 4, "2 items x 2 repeats are 4 distinct requests");
        let mut hotter = spec(&["a"], 10, 2);
        hotter.endpoints[0].temperature = 0.7;
        let three = plan("run-1", &hotter, &suites, &[], "0", "").expect("plans");
        assert_ne!(one.items[0].request_key, three.items[0].request_key);
    }

    #[test]
    fn run_ids_change_with_the_data() {
        let mut suite = prepared(items(2));
        let before = run_id_for("spec", std::slice::from_ref(&suite));
        suite.files.push(DataFileDigest {
            relative_path: "val/law_val.csv".into(),
            sha256: "ab".into(),
            rows: 1,
        });
        assert_ne!(before, run_id_for("spec", &[suite]));
    }

    /// The prompt a C-Eval or CMMLU item has under `template` straight from the published
    /// subject tables and template texts (`jianzhen_suites::subjects`, `template`): what
    /// planning the suite by name gave before runs went through the shipped specs.
    fn published_prompt(
        suite: SuiteName,
        template_name: &str,
        scoring: ScoringMode,
        item: &McItem,
        shots: &[McItem],
    ) -> Vec<ChatMessage> {
        let name = jianzhen_suites::subjects::subject_info(suite, &item.subject)
            .map_or(item.subject.as_str(), |info| info.chinese_name);
        if scoring == ScoringMode::LoglikEcho {
            let prompts = template::render_choice_continuations(template_name, name, item, shots)
                .expect("continuations render");
            return ItemRequest::loglik_echo(&prompts).stored_messages();
        }
        template::render_chat(template_name, name, item, shots).expect("prompt renders")
    }

    /// The categories of a subject in the published tables, as the planner writes them.
    fn published_categories(suite: SuiteName, subject: &str) -> String {
        let names: Vec<String> = jianzhen_suites::subjects::subject_info(suite, subject)
            .map(|info| info.categories().iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        if names.is_empty() {
            "Other".to_string()
        } else {
            names.join("|")
        }
    }

    /// C-Eval and CMMLU are prepared through their shipped specs (`builtin_spec` with the
    /// run's template and scoring): planned that way, every template of both suites gives
    /// each item the prompt, key, category, kind and gold that the published subject
    /// tables and template texts give it, with the template's own hash, on a hidden split
    /// too.
    #[test]
    fn shipped_specs_plan_exactly_as_the_suites_named_directly() {
        let mut planned = 0;
        for info in template::templates() {
            let suite = info.suite;
            let table = jianzhen_suites::subjects::subjects(suite);
            let subjects = [table[0].key, table[table.len() - 1].key, "unmapped_subject"];
            let suite_items: Vec<McItem> = (0..9)
                .map(|index| item(subjects[index % 3], index, ['A', 'B', 'C', 'D'][index % 4]))
                .collect();
            let shots = if template::takes_shots(info.name) {
                2
            } else {
                0
            };
            let fewshot_pool: BTreeMap<String, Vec<McItem>> = subjects
                .iter()
                .map(|subject| {
                    let dev = (0..2)
                        .map(|index| McItem {
                            explanation: Some(format!("解析{index}")),
                            ..item(subject, 100 + index, 'B')
                        })
                        .collect::<Vec<_>>();
                    (subject.to_string(), dev)
                })
                .collect();
            let mut splits = vec![("val", true)];
            if suite == SuiteName::Ceval {
                splits.push(("test", false));
            }
            for scoring in info.scoring_modes {
                for (split, with_answers) in &splits {
                    if !with_answers && *scoring != ScoringMode::Gen {
                        continue;
                    }
                    let mut shipped = jianzhen_suites::spec::builtin_spec(suite).expect("spec");
                    shipped.template.builtin = Some(info.name.to_string());
                    shipped.scoring = *scoring;
                    let mut by_spec = prepared(suite_items.clone());
                    by_spec.definition = SuiteDefinition::Declarative(Box::new(shipped));
                    by_spec.scoring = *scoring;
                    by_spec.template = info.name.to_string();
                    by_spec.split = split.to_string();
                    by_spec.shots = shots;
                    by_spec.fewshot_pool = fewshot_pool.clone();
                    if !with_answers && let SuiteItems::Choice(items) = &mut by_spec.items {
                        for item in items {
                            item.answer = None;
                        }
                    }
                    let run_spec = spec(&["a"], 4, 1);
                    let case = format!("{} {scoring} {split}", info.name);
                    let actual = plan("run-x", &run_spec, &[by_spec.clone()], &[], "0", "")
                        .unwrap_or_else(|error| panic!("{case}: {error}"));
                    assert_eq!(actual.items.len(), 9, "{case}");
                    let label = suite.to_string();
                    for planned_item in &actual.items {
                        let source = by_spec
                            .items
                            .choice()
                            .iter()
                            .find(|item| item.id == planned_item.item_id)
                            .expect("planned item comes from the suite");
                        let pool = &by_spec.fewshot_pool[&source.subject][..shots as usize];
                        let messages = published_prompt(suite, info.name, *scoring, source, pool);
                        let gold = source.answer.map(String::from).unwrap_or_default();
                        let key = by_spec.item_key(
                            &label,
                            &source.id,
                            &messages_json(&messages).expect("json"),
                            &gold,
                        );
                        assert_eq!(planned_item.messages, messages, "{case}");
                        assert_eq!(planned_item.item_key, key, "{case}");
                        assert_eq!(planned_item.suite, label, "{case}");
                        assert_eq!(
                            planned_item.category,
                            published_categories(suite, &source.subject),
                            "{case}"
                        );
                        assert_eq!(planned_item.gold, gold, "{case}");
                        let kind = if *with_answers {
                            ItemKind::for_choice(*scoring)
                        } else {
                            ItemKind::HiddenChoice
                        };
                        assert_eq!(planned_item.kind, kind, "{case}");
                    }
                    let shard_items: u32 = actual.shards.iter().map(|shard| shard.item_count).sum();
                    assert_eq!(shard_items, 9, "{case}");
                    let manifest = &actual.manifest.suites[0];
                    assert_eq!(
                        manifest.template_hash,
                        template::template_hash(info.name).expect("hash"),
                        "{case}"
                    );
                    assert_eq!(
                        manifest.predictions_file,
                        (!with_answers).then(|| predictions_file_name(&label)),
                        "{case}"
                    );
                    planned += 1;
                }
            }
        }
        // Every template of both suites plans in each of its scoring modes.
        assert!(
            planned >= template::templates().count(),
            "{planned} planned"
        );
    }
}
