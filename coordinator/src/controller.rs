//! The coordinator's logic, independent of gRPC: a thin orchestrator over parts that
//! each own their state, in the manner of quickwit's control plane.
//!
//! # Layout
//! - `leasing`: the lease table, budgets (AIMD), planning marks and requeue backlog
//!   ([`LeaseManager`]), and the lease, complete and sweep flows; its lock is never held
//!   across a store call;
//! - `scoring`: grading reported results, answering from the response cache, re-scoring;
//! - `lifecycle`: submitting, retrying, status and listing of runs;
//! - `reports`: rendered reports and fingerprint profiles;
//! - `tenancy`: who owns which run and endpoint, and what each role may do.
//!
//! The gRPC layer in [`crate::service`] only translates messages to these calls.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jianzhen_proto::v1;
use jianzhen_suites::left_out::RecordPolicy;
use jianzhen_suites::load::load_suite_with;
use jianzhen_suites::peer::{AnswerReading, PeerExtractor, has_framework_reading};
use jianzhen_suites::tasks::{self, TaskSuite};
use jianzhen_suites::{SuiteName, template};

use crate::error::CoordinatorError;
use crate::planner::{self, PreparedSuite, SuiteDefinition};
use crate::spec::RunSpec;
use crate::store::{RunRecord, Store};

mod leasing;
mod lifecycle;
mod reports;
mod scoring;
mod tenancy;
pub use leasing::{BudgetView, LeaseCounts, LeaseManager, PlanningGuard, Reserved};
pub use reports::rfc3339_from_millis;
pub use scoring::{MAX_ERROR_MESSAGE_BYTES, MAX_STORED_TEXT_BYTES};
pub use tenancy::{create_token, revoke_token};

/// Timing knobs. Defaults suit a cluster; tests shorten them.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// A worker that has not heartbeated for this long is dead; its leases expire.
    pub heartbeat_ttl: Duration,
    /// How often workers are asked to heartbeat.
    pub heartbeat_interval: Duration,
    /// How often expired leases are swept.
    pub sweep_interval: Duration,
    /// Progress deadline of a lease; `None` derives it from the endpoint's timeout and
    /// attempts, so a slow but working endpoint never loses its leases.
    pub progress_timeout: Option<Duration>,
    /// Seals and opens the keys of vendor-registered endpoints; without it, registering
    /// an endpoint with a key is refused.
    pub secrets: Option<crate::secrets::SecretBox>,
    /// Started with `--insecure`: every status says so.
    pub insecure: bool,
    /// What one vendor token may ask for.
    pub vendor_quota: VendorQuota,
    /// The folder published suites' data must lie under (`--data-root`); `None`: any
    /// absolute path the admin names.
    pub data_root: Option<std::path::PathBuf>,
}

/// Per-vendor limits: a vendor is evaluated, it does not get the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorQuota {
    /// Items of one run (suite items × endpoints × repeats).
    pub max_items_per_run: u64,
    /// Runs of the vendor not yet complete.
    pub max_runs_in_flight: u64,
    pub max_repeats: u32,
}

impl Default for VendorQuota {
    fn default() -> Self {
        VendorQuota {
            max_items_per_run: 200_000,
            max_runs_in_flight: 4,
            max_repeats: 5,
        }
    }
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            heartbeat_ttl: Duration::from_secs(15),
            heartbeat_interval: Duration::from_secs(3),
            sweep_interval: Duration::from_millis(500),
            progress_timeout: None,
            secrets: None,
            insecure: false,
            vendor_quota: VendorQuota::default(),
            data_root: None,
        }
    }
}

pub struct Controller {
    /// Everything that must survive a restart; shared by every part.
    store: Store,
    config: CoordinatorConfig,
    /// Leases, budgets and planning marks: their own state behind their own short lock.
    leasing: LeaseManager,
    /// Parsed specs of the runs seen, so leasing does not re-parse TOML every time (held
    /// only for a map lookup or insert).
    specs: Mutex<HashMap<String, Arc<RunSpec>>>,
    harness_version: String,
    /// Which token registered each worker id: a lease is bound to the worker id that
    /// took it, and a worker id to the token that registered it.
    worker_tokens: Mutex<HashMap<String, String>>,
}

/// What `submit_run` tells the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub run_id: String,
    pub resumed: bool,
    pub total_items: u64,
    pub already_done: u64,
    pub from_cache: u64,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Controller {
    /// Opens the store and fences every lease of a previous life of this coordinator.
    ///
    /// # Errors
    /// The store cannot be opened.
    pub async fn open(
        store_url: &str,
        config: CoordinatorConfig,
        harness_version: &str,
    ) -> Result<Arc<Controller>, CoordinatorError> {
        let store = Store::open(store_url).await?;
        let requeued = store.requeue_all_leased().await?;
        if requeued > 0 {
            tracing::info!(
                requeued,
                "requeued shards leased before the coordinator restarted"
            );
        }
        Ok(Arc::new(Controller {
            store,
            leasing: LeaseManager::new(config.heartbeat_ttl),
            config,
            specs: Mutex::new(HashMap::new()),
            harness_version: harness_version.to_string(),
            worker_tokens: Mutex::new(HashMap::new()),
        }))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &CoordinatorConfig {
        &self.config
    }

    /// The run's record, or [`CoordinatorError::UnknownRun`].
    async fn run_record(&self, run_id: &str) -> Result<RunRecord, CoordinatorError> {
        self.store
            .run_record(run_id)
            .await?
            .ok_or_else(|| CoordinatorError::UnknownRun {
                run_id: run_id.to_string(),
            })
    }

    /// The run's parsed spec, from the cache or the store.
    async fn spec_for(&self, run_id: &str) -> Result<Arc<RunSpec>, CoordinatorError> {
        let cached = self
            .specs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(run_id)
            .cloned();
        if let Some(spec) = cached {
            return Ok(spec);
        }
        let record = self.run_record(run_id).await?;
        let spec = Arc::new(RunSpec::from_toml(
            &record.spec_toml,
            &format!("stored spec of {run_id}"),
        )?);
        self.remember_spec(run_id, spec.clone());
        Ok(spec)
    }

    fn remember_spec(&self, run_id: &str, spec: Arc<RunSpec>) {
        self.specs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(run_id.to_string(), spec);
    }
}

/// A count as a gauge value (saturating: a gauge is an i64).
fn gauge_value(count: impl TryInto<i64>) -> i64 {
    count.try_into().unwrap_or(i64::MAX)
}

/// An endpoint's (or the judge's) settings as one lease gets them: `share` of its
/// concurrency and the same share of its rate, so the leases together never exceed
/// either (and both shrink with the budget).
fn lease_endpoint_config(endpoint: &crate::spec::EndpointSpec, share: u32) -> v1::EndpointConfig {
    v1::EndpointConfig {
        name: endpoint.name.clone(),
        base_url: endpoint.base_url.clone(),
        model: endpoint.model.clone(),
        api_key_env: endpoint.api_key_env.clone().unwrap_or_default(),
        max_concurrency: share,
        timeout_ms: (endpoint.timeout_secs * 1000.0) as u64,
        temperature: endpoint.temperature,
        max_tokens: endpoint.max_tokens,
        max_attempts: endpoint.max_attempts,
        requests_per_second: endpoint.requests_per_second.map_or(0.0, |rate| {
            rate * f64::from(share) / f64::from(endpoint.max_concurrency.max(1))
        }),
        api_key: String::new(),
        max_response_bytes: endpoint.max_response_bytes.unwrap_or(0),
        throttle_deadline_ms: endpoint
            .throttle_deadline_secs
            .map_or(0, |secs| secs.saturating_mul(1000)),
    }
}

/// The name under which results answered from the response cache are stored.
pub const CACHE_WORKER: &str = "cache";

/// Generation limits of the probes: a tokenizer text needs one token (only its prompt
/// count matters), an identity answer a few sentences, an open answer a paragraph.
const IDENTITY_MAX_TOKENS: u32 = 160;
const TOKENIZER_MAX_TOKENS: u32 = 1;
const OPEN_MAX_TOKENS: u32 = 256;

/// The built-in provenance probes as chat requests.
///
/// # Errors
/// A built-in probe file that does not parse (a build defect).
pub fn provenance_probes() -> Result<Vec<planner::ProbeItem>, CoordinatorError> {
    use jianzhen_provenance::probes::{identity_probes, open_prompts, tokenizer_texts};
    use planner::{ProbeItem, ProbeKind};
    let user = |content: &str| template::ChatMessage {
        role: "user".to_string(),
        content: content.to_string(),
    };
    let mut items = Vec::new();
    for probe in identity_probes()? {
        let mut messages = Vec::new();
        if let Some(system) = &probe.system {
            messages.push(template::ChatMessage {
                role: "system".to_string(),
                content: system.clone(),
            });
        }
        messages.push(user(&probe.user));
        items.push(ProbeItem {
            id: probe.id.clone(),
            kind: ProbeKind::Identity,
            messages,
            max_tokens: IDENTITY_MAX_TOKENS,
        });
    }
    for text in tokenizer_texts()? {
        items.push(ProbeItem {
            id: text.id.clone(),
            kind: ProbeKind::Tokenizer,
            messages: vec![user(&text.text)],
            max_tokens: TOKENIZER_MAX_TOKENS,
        });
    }
    for prompt in open_prompts()? {
        items.push(ProbeItem {
            id: prompt.id.clone(),
            kind: ProbeKind::Open,
            messages: vec![user(&prompt.prompt)],
            max_tokens: OPEN_MAX_TOKENS,
        });
    }
    Ok(items)
}

/// Loads every suite of the spec (blocking IO).
///
/// # Errors
/// Unknown suites or templates, unreadable or malformed data files.
pub fn prepare_suites(spec: &RunSpec) -> Result<Vec<PreparedSuite>, CoordinatorError> {
    spec.suites
        .iter()
        .map(|suite_spec| match &suite_spec.spec {
            Some(path) => prepare_declarative_suite(suite_spec, path),
            None => match suite_spec.name.parse::<TaskSuite>() {
                Ok(task) => prepare_task_suite(suite_spec, task),
                Err(_) => prepare_builtin_suite(suite_spec),
            },
        })
        .collect()
}

fn require_gen_template(
    template: &str,
    origin: &str,
    instead: &str,
) -> Result<(), CoordinatorError> {
    let info = template::template_info(template)?;
    if info.supports(template::ScoringMode::Gen) {
        return Ok(());
    }
    Err(CoordinatorError::InvalidSpec {
        origin: origin.to_string(),
        problem: format!(
            "template `{template}` scores options by log-likelihood, which this version runs only as a prompt reference; choose a generation template such as `{instead}`"
        ),
    })
}

/// The scoring mode a suite of the run spec asks for.
fn scoring_mode(suite_spec: &crate::spec::SuiteSpec) -> template::ScoringMode {
    match suite_spec.scoring.as_deref() {
        Some("loglik_first_token") => template::ScoringMode::LoglikFirstToken,
        Some("loglik_echo") => template::ScoringMode::LoglikEcho,
        _ => template::ScoringMode::Gen,
    }
}

fn prepare_builtin_suite(
    suite_spec: &crate::spec::SuiteSpec,
) -> Result<PreparedSuite, CoordinatorError> {
    let suite: SuiteName = suite_spec.name.parse()?;
    let scoring = scoring_mode(suite_spec);
    let split = suite_spec
        .split
        .clone()
        .unwrap_or_else(|| suite.default_split().to_string());
    let template = match scoring {
        template::ScoringMode::LoglikEcho => echo_template(suite_spec, suite)?,
        _ => generation_template(suite_spec, suite, scoring)?,
    };
    let extractor = answer_reading(suite_spec, &template, scoring)?;
    let loaded = load_suite_with(
        suite,
        &suite_spec.data,
        &split,
        &suite_spec.subjects,
        suite_spec.shots > 0,
        RecordPolicy::strict(suite_spec.strict),
    )?;
    Ok(PreparedSuite {
        definition: SuiteDefinition::Builtin(suite),
        scoring,
        split,
        template,
        shots: suite_spec.shots,
        limit_per_subject: suite_spec.limit_per_subject,
        spread: suite_spec.spread,
        data_dir: display_path(&suite_spec.data),
        items: loaded.items,
        task_items: Vec::new(),
        fewshot_pool: loaded.fewshot_pool,
        files: loaded.files,
        left_out: loaded.left_out,
        extractor,
    })
}

/// The template of a built-in suite scored from a generated reply (`gen`) or its first
/// token (`loglik_first_token`), which must lead straight to the option letter.
fn generation_template(
    suite_spec: &crate::spec::SuiteSpec,
    suite: SuiteName,
    scoring: template::ScoringMode,
) -> Result<String, CoordinatorError> {
    let template = suite_spec
        .template
        .clone()
        .unwrap_or_else(|| template::default_template(suite).to_string());
    require_gen_template(
        &template,
        &format!("suite {suite}"),
        template::default_template(suite),
    )?;
    if scoring != template::ScoringMode::LoglikFirstToken
        || template::template_info(&template)?.supports(scoring)
    {
        return Ok(template);
    }
    let candidates: Vec<&str> = template::templates()
        .filter(|info| {
            info.suite == suite
                && info.supports(template::ScoringMode::Gen)
                && info.supports(scoring)
        })
        .map(|info| info.name)
        .collect();
    Err(CoordinatorError::InvalidSpec {
        origin: format!("suite {suite}"),
        problem: format!(
            "template `{template}` does not lead straight to the option letter, so it cannot be scored by the first token; use one of: {}",
            candidates.join(", ")
        ),
    })
}

/// The template of a built-in suite scored by echoed log-likelihoods (`loglik_echo`): it
/// must score options by their text (OpenCompass PPL, lm-eval); the default is the
/// suite's OpenCompass PPL template.
fn echo_template(
    suite_spec: &crate::spec::SuiteSpec,
    suite: SuiteName,
) -> Result<String, CoordinatorError> {
    let scoring = template::ScoringMode::LoglikEcho;
    let candidates: Vec<&str> = template::templates()
        .filter(|info| info.suite == suite && info.supports(scoring))
        .map(|info| info.name)
        .collect();
    let template = match &suite_spec.template {
        Some(template) => template.clone(),
        None => candidates
            .iter()
            .find(|name| name.contains("_ppl_"))
            .or(candidates.first())
            .map(|name| (*name).to_string())
            .ok_or_else(|| CoordinatorError::InvalidSpec {
                origin: format!("suite {suite}"),
                problem: "no template of this suite scores options by log-likelihood".to_string(),
            })?,
    };
    if template::template_info(&template)?.supports(scoring) {
        return Ok(template);
    }
    Err(CoordinatorError::InvalidSpec {
        origin: format!("suite {suite}"),
        problem: format!(
            "template `{template}` generates an answer; `loglik_echo` scores each option's text, so use one of: {}",
            candidates.join(", ")
        ),
    })
}

/// A suite described by a declarative spec file: a new CSV or JSONL multiple-choice set
/// runs without code.
fn prepare_declarative_suite(
    suite_spec: &crate::spec::SuiteSpec,
    path: &Path,
) -> Result<PreparedSuite, CoordinatorError> {
    let declarative = jianzhen_suites::spec::load_spec_file(path)?;
    let origin = format!("suite {} ({})", suite_spec.name, path.display());
    if suite_spec.template.is_some() {
        return Err(CoordinatorError::InvalidSpec {
            origin,
            problem: "a declarative suite takes its template from its spec file; remove `template` from the run spec".to_string(),
        });
    }
    // The spec file names its scoring mode; the run spec may name another, which the
    // template must support too.
    let scoring = match suite_spec.scoring {
        Some(_) => scoring_mode(suite_spec),
        None => declarative.scoring,
    };
    if !declarative.supports(scoring) {
        return Err(CoordinatorError::InvalidSpec {
            origin,
            problem: format!(
                "the suite spec's template `{}` supports {}, not {scoring}; change `scoring`",
                declarative.template_name(),
                declarative.supported_modes()
            ),
        });
    }
    let split = suite_spec
        .split
        .clone()
        .unwrap_or_else(|| declarative.default_split().to_string());
    let options = jianzhen_suites::spec::SpecLoadOptions {
        subjects: suite_spec.subjects.clone(),
        skip_fewshot: suite_spec.shots == 0,
        strict: suite_spec.strict,
    };
    let load = jianzhen_suites::spec::load_with_spec_options(
        &declarative,
        &suite_spec.data,
        &split,
        &options,
    )?;
    // The run spec's reading, else the suite spec's own.
    let mut reading_spec = suite_spec.clone();
    if reading_spec.extractor.is_none() {
        reading_spec.extractor = declarative.extractor.clone();
    }
    let extractor = answer_reading(&reading_spec, &declarative.template_name(), scoring)?;
    Ok(PreparedSuite {
        scoring,
        template: declarative.template_name(),
        definition: SuiteDefinition::Declarative(Box::new(declarative)),
        split,
        shots: suite_spec.shots,
        limit_per_subject: suite_spec.limit_per_subject,
        spread: suite_spec.spread,
        data_dir: display_path(&suite_spec.data),
        items: load.items,
        task_items: Vec::new(),
        fewshot_pool: load.fewshot_pool,
        files: load.files,
        left_out: load.left_out,
        extractor,
    })
}

/// A suite read by `jianzhen_suites::formats` (GAOKAO-Bench, AGIEval, C3, CMRC2018,
/// OCNLI, FewCLUE, Chinese SimpleQA, CMATH): zero-shot, scored by generation or, where the
/// prompt ends on the answer cue, by the first token.
fn prepare_task_suite(
    suite_spec: &crate::spec::SuiteSpec,
    task: TaskSuite,
) -> Result<PreparedSuite, CoordinatorError> {
    let origin = format!("suite {task}");
    let template = suite_spec
        .template
        .clone()
        .unwrap_or_else(|| tasks::prompts::default_template(task).to_string());
    if !tasks::prompts::template_fits(&template, task) {
        return Err(CoordinatorError::InvalidSpec {
            origin,
            problem: format!(
                "template `{template}` is not a template of suite {task}; use one of: {}",
                tasks::prompts::templates_for(task).join(", ")
            ),
        });
    }
    if suite_spec.shots > 0 {
        return Err(CoordinatorError::InvalidSpec {
            origin,
            problem: format!(
                "suite {task} runs zero-shot, as its published OpenCompass configuration does; set `shots = 0` (or drop --shots)"
            ),
        });
    }
    let scoring = scoring_mode(suite_spec);
    match scoring {
        template::ScoringMode::Gen => {}
        template::ScoringMode::LoglikFirstToken => {
            if !tasks::prompts::template(&template)?.leads_to_letter() {
                let offered: Vec<&str> = tasks::prompts::templates()
                    .filter(|candidate| candidate.leads_to_letter())
                    .map(|candidate| candidate.suite)
                    .collect();
                return Err(CoordinatorError::InvalidSpec {
                    origin,
                    problem: format!(
                        "template `{template}` does not end on the answer cue before an option letter, so it cannot be scored by the first token; remove `scoring` (first-token scoring is offered for ceval, cmmlu, {})",
                        offered.join(", ")
                    ),
                });
            }
        }
        template::ScoringMode::LoglikEcho => {
            return Err(CoordinatorError::InvalidSpec {
                origin,
                problem: format!(
                    "suite {task} has no published log-likelihood template here (loglik_echo is for C-Eval, CMMLU and suite specs with their PPL or lm-eval templates); use `gen`, or `loglik_first_token` where the prompt ends on the answer cue"
                ),
            });
        }
    }
    let split = suite_spec
        .split
        .clone()
        .unwrap_or_else(|| task.default_split().to_string());
    let mut load = tasks::load_task_with(
        task,
        &suite_spec.data,
        &split,
        RecordPolicy::strict(suite_spec.strict),
    )?;
    load.keep_subjects(&suite_spec.subjects)?;
    let extractor = answer_reading(suite_spec, &template, scoring)?;
    Ok(PreparedSuite {
        definition: SuiteDefinition::Task(task),
        scoring,
        split,
        template,
        shots: 0,
        limit_per_subject: suite_spec.limit_per_subject,
        spread: suite_spec.spread,
        data_dir: display_path(&suite_spec.data),
        items: Vec::new(),
        task_items: load.items,
        fewshot_pool: BTreeMap::new(),
        files: load.files,
        left_out: load.left_out,
        extractor,
    })
}

/// The answer reading a suite of the run spec asks for (`extractor`): `None` for
/// Jianzhen's own (`jianzhen`, or no key), the template's framework's reading for
/// `opencompass`, or a named peer extractor.
///
/// # Errors
/// [`CoordinatorError::InvalidSpec`] for an unknown name, `opencompass` with a template
/// that has no OpenCompass text reading, or a log-likelihood scoring mode (which reads
/// no text).
fn answer_reading(
    suite_spec: &crate::spec::SuiteSpec,
    template: &str,
    scoring: template::ScoringMode,
) -> Result<Option<AnswerReading>, CoordinatorError> {
    let origin = format!("suite {}", suite_spec.name);
    let reading =
        resolve_extractor(suite_spec.extractor.as_deref(), template).map_err(|problem| {
            CoordinatorError::InvalidSpec {
                origin: origin.clone(),
                problem,
            }
        })?;
    if reading.is_some() && scoring != template::ScoringMode::Gen {
        return Err(CoordinatorError::InvalidSpec {
            origin,
            problem: format!(
                "`extractor` reads generated text, and this suite is scored by {scoring}; drop `extractor` or use `gen`"
            ),
        });
    }
    Ok(reading)
}

/// `jianzhen` (or none) → `None`; `opencompass` → the reading of `template`'s framework
/// (subject by subject for AGIEval); a peer extractor's name → it. The error says what is
/// known.
fn resolve_extractor(name: Option<&str>, template: &str) -> Result<Option<AnswerReading>, String> {
    match name {
        None | Some("jianzhen") => Ok(None),
        Some("opencompass") if has_framework_reading(template) => {
            Ok(Some(AnswerReading::Framework))
        }
        Some("opencompass") => Err(format!(
            "template `{template}` has no OpenCompass text post-processor reproduced here; name one of {} or use `jianzhen`",
            PeerExtractor::ALL.map(PeerExtractor::as_str).join(", ")
        )),
        Some(name) => name
            .parse()
            .map(|extractor| Some(AnswerReading::Named(extractor))),
    }
}

fn display_path(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339_from_millis(0), "1970-01-01T00:00:00Z");
        // 2026-11-28T21:20:33Z
        assert_eq!(
            rfc3339_from_millis(1_795_900_833_000),
            "2026-11-28T21:20:33Z"
        );
        assert_eq!(rfc3339_from_millis(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
