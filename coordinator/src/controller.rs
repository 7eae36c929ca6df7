//! The coordinator's logic, independent of gRPC: submit and plan runs, grant and fence
//! leases, score and store results, answer status queries, render reports.
//!
//! The gRPC layer in [`crate::service`] only translates messages to these calls.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jianzhen_proto::v1;
use jianzhen_suites::grading::{Failure, Response, Score, grade};
use jianzhen_suites::left_out::RecordPolicy;
use jianzhen_suites::load::load_suite_with;
use jianzhen_suites::peer::{AnswerReading, PeerExtractor, has_framework_reading};
use jianzhen_suites::tasks::{self, TaskSuite};
use jianzhen_suites::{SuiteName, template};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::audit;
use crate::budget::AdaptiveBudget;
use crate::error::CoordinatorError;
use crate::lease::{EndpointRef, Grant, LeaseTable, ShardRef};
use crate::planner::{self, PreparedSuite, SuiteDefinition};
use crate::report::{self, ProvenanceReport, ReportFile};
use crate::request::ItemRequest;
use crate::spec::RunSpec;
use crate::store::{RUN_COMPLETE, RunRecord, ScoreUpdate, Store, StoredResult};

mod tenancy;
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
    store: Store,
    config: CoordinatorConfig,
    leases: Mutex<LeaseTable>,
    /// Parsed specs of the runs seen, so leasing does not re-parse TOML every time.
    specs: Mutex<HashMap<String, Arc<RunSpec>>>,
    /// Adaptive concurrency budgets per endpoint of a run (AIMD on throttling).
    budgets: std::sync::Mutex<HashMap<EndpointRef, AdaptiveBudget>>,
    harness_version: String,
    /// Which token registered each worker id: a lease is bound to the worker id that
    /// took it, and a worker id to the token that registered it.
    worker_tokens: std::sync::Mutex<HashMap<String, String>>,
    /// Heartbeats that found the lease table locked, by worker: the lock is held across
    /// store queries (leasing, requeueing), and a store that hangs (a network partition)
    /// must not stop liveness, or every worker would be declared lost once it answers.
    /// The sweeper applies them before it expires anything.
    deferred_heartbeats: std::sync::Mutex<HashMap<String, Instant>>,
    /// Shards whose lease expired but whose requeue the store refused (it was
    /// unreachable): retried at every sweep, so no shard stays marked leased forever.
    requeue_backlog: std::sync::Mutex<Vec<ShardRef>>,
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
            leases: Mutex::new(LeaseTable::new(config.heartbeat_ttl)),
            config,
            specs: Mutex::new(HashMap::new()),
            budgets: std::sync::Mutex::new(HashMap::new()),
            harness_version: harness_version.to_string(),
            worker_tokens: std::sync::Mutex::new(HashMap::new()),
            deferred_heartbeats: std::sync::Mutex::new(HashMap::new()),
            requeue_backlog: std::sync::Mutex::new(Vec::new()),
        }))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &CoordinatorConfig {
        &self.config
    }

    /// Plans a run and stores it. The same spec over the same data gives the same run
    /// id; submitting it again resumes it.
    ///
    /// # Errors
    /// Invalid spec, unreadable or malformed data, store errors.
    pub async fn submit_run(&self, spec_toml: &str) -> Result<Submitted, CoordinatorError> {
        self.submit_run_as(&crate::auth::Principal::local_admin(), spec_toml)
            .await
    }

    /// Plans and stores a spec already admitted and resolved for `tenant` (see
    /// `tenancy`). A vendor's run id and request keys include the tenant, so the same
    /// spec from two tenants gives two runs and two caches.
    async fn submit_resolved(
        &self,
        spec: RunSpec,
        tenant: &crate::auth::Tenant,
        max_items: u64,
    ) -> Result<Submitted, CoordinatorError> {
        let owner = tenant.to_stored();
        let mut canonical = spec.to_toml()?;
        if !owner.is_empty() {
            canonical.push_str(&format!("\n# owner = {owner}\n"));
        }
        let cache_scope = owner.clone();
        let harness_version = self.harness_version.clone();
        let loading_spec = spec.clone();
        // Loading reads and hashes every data file: keep it off the async workers.
        let (prepared, plan) = tokio::task::spawn_blocking(move || {
            let prepared = prepare_suites(&loading_spec)?;
            // Refuse a run too large to plan before planning it (memory is the limit).
            let suite_items: u64 = prepared
                .iter()
                .map(|suite| (suite.items.len() + suite.task_items.len()) as u64)
                .sum();
            let planned = suite_items
                .saturating_mul(loading_spec.endpoints.len() as u64)
                .saturating_mul(u64::from(loading_spec.repeats));
            let limit = max_items.min(crate::spec::MAX_PLANNED_ITEMS);
            if planned > limit {
                return Err(CoordinatorError::InvalidSpec {
                    origin: "submitted spec".to_string(),
                    problem: format!(
                        "the run would plan {planned} items (suite items × endpoints × repeats); at most {limit} are accepted for this token: split it into several runs, or limit_per_subject"
                    ),
                });
            }
            let run_id = planner::run_id_for(&canonical, &prepared);
            let probes = if loading_spec.provenance {
                provenance_probes()?
            } else {
                Vec::new()
            };
            let plan = planner::plan(
                &run_id,
                &loading_spec,
                &prepared,
                &probes,
                &harness_version,
                &cache_scope,
            )?;
            Ok::<_, CoordinatorError>((prepared, plan))
        })
        .await
        .map_err(|error| CoordinatorError::Internal(format!("planning task failed: {error}")))??;
        drop(prepared);
        let manifest_json = serde_json::to_string_pretty(&plan.manifest)
            .map_err(|error| CoordinatorError::Internal(error.to_string()))?;
        let spec_toml = spec.to_toml()?;
        // No shard of the run may be leased before its cached answers are in: a worker
        // would ask the endpoint for items the cache answers (the lease lock keeps
        // leasing out until then).
        let leasing_paused = self.leases.lock().await;
        let is_new = self
            .store
            .insert_plan(
                &plan,
                &spec.name,
                &spec_toml,
                &manifest_json,
                &owner,
                now_ms(),
            )
            .await?;
        let counts_before = self.store.run_counts(&plan.run_id).await?;
        let from_cache = if spec.cache {
            self.fill_from_cache(&plan.run_id).await?
        } else {
            0
        };
        if !is_new || from_cache > 0 {
            self.store.refresh_run_state(&plan.run_id, now_ms()).await?;
        }
        drop(leasing_paused);
        self.specs
            .lock()
            .await
            .insert(plan.run_id.clone(), Arc::new(spec));
        let counts = self.store.run_counts(&plan.run_id).await?;
        tracing::info!(run_id = %plan.run_id, items = counts.total_items, done = counts.done_items, resumed = !is_new, "run submitted");
        Ok(Submitted {
            run_id: plan.run_id,
            resumed: !is_new,
            total_items: counts.total_items,
            already_done: counts_before.done_items,
            from_cache,
        })
    }

    /// Answers the run's open items from the response cache; returns how many.
    async fn fill_from_cache(&self, run_id: &str) -> Result<u64, CoordinatorError> {
        // Exact requests first, then the same requests answered under another token limit.
        let exact = self
            .fill_from_hits(run_id, self.store.cache_hits(run_id).await?)
            .await?;
        let family = self
            .fill_from_hits(run_id, self.store.cache_family_hits(run_id).await?)
            .await?;
        Ok(exact + family)
    }

    /// Stores cached answers as the run's results; returns how many were new.
    async fn fill_from_hits(
        &self,
        run_id: &str,
        hits: Vec<crate::store::CacheHit>,
    ) -> Result<u64, CoordinatorError> {
        if hits.is_empty() {
            return Ok(0);
        }
        let received_at_ms = now_ms();
        let results: Vec<StoredResult> = hits
            .into_iter()
            .map(|hit| {
                let response = Response {
                    text: hit.response_text,
                    finish_reason: hit.finish_reason,
                    failure: None,
                    logprobs: logprobs_from_json(&hit.logprobs_json),
                    judge_text: hit.judge_text,
                };
                let Score { extracted, outcome } = grade(
                    hit.scoring.kind,
                    &hit.scoring.gold,
                    &hit.scoring.options,
                    &response,
                );
                StoredResult {
                    run_id: run_id.to_string(),
                    endpoint: hit.endpoint,
                    item_key: hit.item_key,
                    repeat: hit.repeat,
                    shard_id: hit.shard_id,
                    epoch: 0,
                    worker_id: CACHE_WORKER.to_string(),
                    response_text: response.text,
                    finish_reason: response.finish_reason,
                    prompt_tokens: hit.prompt_tokens,
                    completion_tokens: hit.completion_tokens,
                    latency_ms: hit.latency_ms,
                    error_class: v1::ErrorClass::None.as_str_name().to_string(),
                    error_message: String::new(),
                    http_status: 200,
                    attempts: 0,
                    throttled: 0,
                    attempt_log_json: "[]".to_string(),
                    logprobs_json: hit.logprobs_json.clone(),
                    judge_text: response.judge_text,
                    extracted,
                    outcome,
                    received_at_ms,
                    cache_key: None,
                }
            })
            .collect();
        let stored = self.store.insert_results(&results).await?;
        tracing::info!(
            run_id,
            from_cache = stored,
            "answered items from the response cache"
        );
        Ok(u64::from(stored))
    }

    /// Re-scores every stored answer of a run with this build's answer extraction,
    /// without calling any endpoint. Returns (results checked, results whose extracted
    /// answer or outcome changed).
    ///
    /// # Errors
    /// Unknown run; store errors.
    pub async fn rescore_run(&self, run_id: &str) -> Result<(u64, u64), CoordinatorError> {
        self.rescore_run_with(run_id, None).await
    }

    /// [`Controller::rescore_run`], first switching every suite's generated single-letter
    /// items to the answer reading `extractor` names (`jianzhen`, `opencompass` for each
    /// template's own, or a peer extractor), recorded in the manifest
    /// (`suites[].answer_reading`); `None` keeps each suite's reading.
    ///
    /// # Errors
    /// Unknown run or extractor, `opencompass` for a suite whose template has no
    /// OpenCompass text reading; store errors.
    pub async fn rescore_run_with(
        &self,
        run_id: &str,
        extractor: Option<&str>,
    ) -> Result<(u64, u64), CoordinatorError> {
        self.spec_for(run_id).await?;
        if let Some(name) = extractor {
            self.switch_answer_reading(run_id, name).await?;
        }
        let inputs = self.store.rescore_inputs(run_id).await?;
        let updates: Vec<ScoreUpdate> = inputs
            .iter()
            .filter_map(|input| {
                let response = Response {
                    text: input.response_text.clone(),
                    finish_reason: input.finish_reason.clone(),
                    failure: failure_of(
                        v1::ErrorClass::from_str_name(&input.error_class)
                            .unwrap_or(v1::ErrorClass::None),
                    ),
                    logprobs: logprobs_from_json(&input.logprobs_json),
                    judge_text: input.judge_text.clone(),
                };
                let Score { extracted, outcome } =
                    grade(input.kind, &input.gold, &input.options, &response);
                (extracted != input.extracted || outcome != input.outcome).then(|| ScoreUpdate {
                    endpoint: input.endpoint.clone(),
                    item_key: input.item_key.clone(),
                    repeat: input.repeat,
                    extracted,
                    outcome,
                })
            })
            .collect();
        self.store.update_scores(run_id, &updates).await?;
        tracing::info!(
            run_id,
            checked = inputs.len(),
            changed = updates.len(),
            extractor = jianzhen_suites::extract::EXTRACTOR_VERSION,
            "run re-scored"
        );
        Ok((inputs.len() as u64, updates.len() as u64))
    }

    /// Sets the answer reading of every generation-scored suite of the run to `name`, in
    /// the items' kinds and the manifest.
    async fn switch_answer_reading(
        &self,
        run_id: &str,
        name: &str,
    ) -> Result<(), CoordinatorError> {
        let record = self.run_record(run_id).await?;
        let mut manifest: serde_json::Value =
            serde_json::from_str(&record.manifest_json).map_err(|error| {
                CoordinatorError::Internal(format!("stored manifest of {run_id}: {error}"))
            })?;
        let mut kinds = Vec::new();
        for suite in manifest["suites"].as_array_mut().into_iter().flatten() {
            let generated = suite["scoring"]
                .as_str()
                .is_some_and(|scoring| scoring.starts_with("gen"));
            if !generated || suite["predictions_file"].is_string() {
                continue;
            }
            let label = suite["suite"].as_str().unwrap_or_default().to_string();
            let template = suite["template"].as_str().unwrap_or_default().to_string();
            let reading = resolve_extractor(Some(name), &template).map_err(|problem| {
                CoordinatorError::InvalidRequest(format!("suite {label}: {problem}"))
            })?;
            match (reading, suite.as_object_mut()) {
                (Some(reading), _) => {
                    suite["answer_reading"] = serde_json::Value::from(reading.name(&template));
                }
                (None, Some(object)) => {
                    object.remove("answer_reading");
                }
                (None, None) => {}
            }
            // The reading may depend on the subject (AGIEval): one kind per subject.
            for subject in self.store.suite_subjects(run_id, &label).await? {
                let peer = reading.and_then(|reading| reading.for_subject(&template, &subject));
                kinds.push((label.clone(), subject, peer));
            }
        }
        let manifest_json = serde_json::to_string_pretty(&manifest)
            .map_err(|error| CoordinatorError::Internal(error.to_string()))?;
        self.store
            .set_answer_reading(run_id, &kinds, &manifest_json)
            .await?;
        Ok(())
    }

    /// Queues again the run's items that ended in `api_error`.
    ///
    /// # Errors
    /// Unknown run; store errors.
    pub async fn retry_run(&self, run_id: &str) -> Result<u64, CoordinatorError> {
        self.spec_for(run_id).await?;
        let requeued = self.store.retry_api_errors(run_id).await?;
        tracing::info!(run_id, requeued, "api_error items queued again");
        Ok(requeued)
    }

    fn budget_limit(&self, endpoint: &EndpointRef, max_concurrency: u32, now: Instant) -> u32 {
        let Ok(mut budgets) = self.budgets.lock() else {
            return max_concurrency;
        };
        budgets
            .entry(endpoint.clone())
            .or_insert_with(|| AdaptiveBudget::new(max_concurrency, now))
            .limit()
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

    async fn spec_for(&self, run_id: &str) -> Result<Arc<RunSpec>, CoordinatorError> {
        if let Some(spec) = self.specs.lock().await.get(run_id) {
            return Ok(spec.clone());
        }
        let record = self.run_record(run_id).await?;
        let spec = Arc::new(RunSpec::from_toml(
            &record.spec_toml,
            &format!("stored spec of {run_id}"),
        )?);
        self.specs
            .lock()
            .await
            .insert(run_id.to_string(), spec.clone());
        Ok(spec)
    }

    pub async fn register_worker(&self, worker_id: &str) {
        self.leases.lock().await.register(worker_id, Instant::now());
        tracing::info!(worker_id, "worker registered");
    }

    /// Records a worker's heartbeat; false when the worker must register again.
    ///
    /// Never waits for the lease table: its lock may be held across a store query that
    /// hangs. A busy table gets the heartbeat deferred (applied by the next sweep) and the
    /// worker is told it is known; a worker that was in fact forgotten learns it at a
    /// later heartbeat.
    pub async fn heartbeat(&self, worker_id: &str) -> bool {
        let now = Instant::now();
        if let Ok(mut leases) = self.leases.try_lock() {
            return leases.heartbeat(worker_id, now);
        }
        if let Ok(mut deferred) = self.deferred_heartbeats.lock() {
            deferred.insert(worker_id.to_string(), now);
        }
        true
    }

    /// Counts a report or completion refused by fencing (a stale or lost lease).
    fn note_refused(&self) {
        if let Some(metrics) = crate::metrics::get() {
            metrics.stale_reports.inc();
        }
    }

    /// Leases the next pending shard whose endpoint has concurrency budget left.
    ///
    /// # Errors
    /// Store errors. An unknown worker gets `Ok(None)` after being registered.
    pub async fn lease_shard(
        &self,
        worker_id: &str,
    ) -> Result<Option<v1::ShardLease>, CoordinatorError> {
        self.lease_shard_for(worker_id, true).await
    }

    /// As [`Controller::lease_shard`]; a worker the operator does not trust with gold
    /// answers (`trusted` false) is never given a shard with judged items, whose judge
    /// prompts carry the gold.
    ///
    /// # Errors
    /// Store errors; a registered endpoint whose key cannot be opened.
    pub async fn lease_shard_for(
        &self,
        worker_id: &str,
        trusted: bool,
    ) -> Result<Option<v1::ShardLease>, CoordinatorError> {
        let mut leases = self.leases.lock().await;
        let now = Instant::now();
        if !leases.is_alive(worker_id, now) {
            // A worker we forgot (after a restart or a long pause) is welcome back.
            leases.register(worker_id, now);
        }
        leases.note_asked(worker_id, now);
        for pending in self.store.pending_shards(500).await? {
            let shard = ShardRef {
                run_id: pending.run_id.clone(),
                shard_id: pending.shard_id.clone(),
            };
            if leases.is_leased(&shard) {
                continue;
            }
            let spec = self.spec_for(&pending.run_id).await?;
            let Some(endpoint) = spec
                .endpoints
                .iter()
                .find(|endpoint| endpoint.name == pending.endpoint)
            else {
                return Err(CoordinatorError::Internal(format!(
                    "shard {} names endpoint `{}` missing from its run spec",
                    pending.shard_id, pending.endpoint
                )));
            };
            let endpoint_ref = EndpointRef {
                run_id: pending.run_id.clone(),
                endpoint: endpoint.name.clone(),
            };
            let limit = self.budget_limit(&endpoint_ref, endpoint.max_concurrency, now);
            let Some(share) = leases.concurrency_share(&endpoint_ref, limit, now) else {
                continue;
            };
            // A shard known to call the judge waits, without loading its items, while the
            // run's judge budget is spent.
            let judge_spent = spec.judge.as_ref().is_some_and(|judge| {
                leases
                    .judge_share(&pending.run_id, judge.max_concurrency, 1, now)
                    .is_none()
            });
            if judge_spent && leases.is_judged_shard(&shard) {
                continue;
            }
            let open_items = self
                .store
                .open_items(&pending.run_id, &pending.shard_id)
                .await?;
            if open_items.is_empty() {
                self.store
                    .finish_shard(&pending.run_id, &pending.shard_id, now_ms())
                    .await?;
                continue;
            }
            let mut items = Vec::with_capacity(open_items.len());
            for open in open_items {
                let request = ItemRequest::from_stored_json(&open.messages_json, open.top_logprobs)
                    .map_err(|error| {
                        CoordinatorError::Internal(format!(
                            "stored request of item {}: {error}",
                            open.item_key
                        ))
                    })?;
                items.push(request.into_wire(open.item_key, open.repeat, open.max_tokens));
            }
            let judged = items.iter().any(|item| item.judge.is_some());
            if judged && !trusted {
                continue;
            }
            let mut endpoint_config = lease_endpoint_config(endpoint, share);
            if endpoint.registered {
                endpoint_config.api_key =
                    self.registered_key(&pending.run_id, &endpoint.name).await?;
            }
            // Judged items call the run's judge model once each: the lease needs a share
            // of the judge's concurrency too, or it waits like one over the budget.
            let judge_share = match &spec.judge {
                Some(judge) if items.iter().any(|item| item.judge.is_some()) => {
                    leases.note_judged_shard(&shard);
                    let Some(judge_share) =
                        leases.judge_share(&pending.run_id, judge.max_concurrency, share, now)
                    else {
                        continue;
                    };
                    judge_share
                }
                _ => 0,
            };
            let epoch = self
                .store
                .lease_shard(&pending.run_id, &pending.shard_id)
                .await?;
            // A judged item waits for the judge too.
            let judge_secs = spec.judge.as_ref().map_or(0.0, |judge| {
                judge.timeout_secs * f64::from(judge.max_attempts)
            });
            // Echo-scored items wait for the worker's check of the endpoint's echo first.
            let echo_check_secs = if items
                .iter()
                .any(|item| matches!(item.request, Some(v1::item_request::Request::LoglikEcho(_))))
            {
                jianzhen_proto::ECHO_CHECK_TIMEOUT.as_secs_f64()
            } else {
                0.0
            };
            let progress_timeout = self.config.progress_timeout.unwrap_or_else(|| {
                Duration::from_secs_f64(
                    endpoint.timeout_secs * f64::from(endpoint.max_attempts)
                        + judge_secs
                        + echo_check_secs
                        + 30.0,
                )
            });
            leases.grant(
                Grant {
                    shard,
                    endpoint: endpoint_ref,
                    worker_id: worker_id.to_string(),
                    epoch,
                    concurrency_share: share,
                    judge_share,
                    progress_timeout,
                    throttle_allowance: endpoint.throttle_deadline_secs.map_or(
                        jianzhen_proto::DEFAULT_THROTTLE_DEADLINE,
                        Duration::from_secs,
                    ),
                },
                now,
            );
            if let Some(metrics) = crate::metrics::get() {
                metrics.leases_granted.inc();
                metrics.leases_held.set(gauge_value(leases.held()));
            }
            tracing::debug!(worker_id, run_id = %pending.run_id, shard_id = %pending.shard_id, epoch, items = items.len(), share, "shard leased");
            return Ok(Some(v1::ShardLease {
                run_id: pending.run_id,
                shard_id: pending.shard_id,
                epoch,
                endpoint: Some(endpoint_config),
                items,
                judge: spec
                    .judge
                    .as_ref()
                    .filter(|_| judge_share > 0)
                    .map(|judge| lease_endpoint_config(judge, judge_share)),
                progress_timeout_ms: u64::try_from(progress_timeout.as_millis())
                    .unwrap_or(u64::MAX),
            }));
        }
        Ok(None)
    }

    /// Scores and stores a batch of results of a held lease. Returns (stored, duplicates).
    ///
    /// # Errors
    /// [`CoordinatorError::StaleLease`] if the worker does not hold the lease at this
    /// epoch; store errors.
    pub async fn report_results(
        &self,
        request: v1::ReportResultsRequest,
    ) -> Result<(u32, u32), CoordinatorError> {
        let shard = ShardRef {
            run_id: request.run_id.clone(),
            shard_id: request.shard_id.clone(),
        };
        {
            let leases = self.leases.lock().await;
            if !leases.holds(&shard, request.epoch, &request.worker_id) {
                self.note_refused();
                tracing::info!(run_id = %request.run_id, shard_id = %request.shard_id, worker_id = %request.worker_id, epoch = request.epoch, results = request.results.len(), "report refused: the lease is not held at this epoch");
                return Err(CoordinatorError::StaleLease {
                    shard_id: request.shard_id,
                    epoch: request.epoch,
                    worker_id: request.worker_id,
                });
            }
        }
        if request.throttle_waits > 0 {
            let held = self
                .leases
                .lock()
                .await
                .record_throttle_wait(&shard, Instant::now());
            tracing::debug!(run_id = %request.run_id, shard_id = %request.shard_id, worker_id = %request.worker_id, throttle_waits = request.throttle_waits, held, "lease waiting on endpoint throttling");
        }
        let received_at_ms = now_ms();
        let mut stored_results = Vec::with_capacity(request.results.len());
        let mut unknown = 0u32;
        // Reported counts are the worker's word: they saturate, never overflow.
        let throttled: u32 = request.results.iter().fold(0u32, |total, result| {
            total.saturating_add(result.throttled.min(result.attempts))
        });
        for mut result in request.results {
            // What a worker reports is bounded before it is scored or stored.
            truncate_text(&mut result.text, MAX_STORED_TEXT_BYTES);
            truncate_text(&mut result.judge_text, MAX_STORED_TEXT_BYTES);
            truncate_text(&mut result.error_message, MAX_ERROR_MESSAGE_BYTES);
            result.throttled = result.throttled.min(result.attempts);
            let Some((endpoint, scoring)) = self
                .store
                .scoring_input(
                    &request.run_id,
                    &request.shard_id,
                    &result.item_key,
                    result.repeat,
                )
                .await?
            else {
                unknown += 1;
                tracing::warn!(shard_id = %request.shard_id, item_key = %result.item_key, "result for an item that is not part of the shard; ignored");
                continue;
            };
            let error_class =
                v1::ErrorClass::try_from(result.error_class).unwrap_or(v1::ErrorClass::None);
            let response = response_from_wire(&mut result, error_class);
            let Score { extracted, outcome } =
                grade(scoring.kind, &scoring.gold, &scoring.options, &response);
            let cache_key =
                (error_class == v1::ErrorClass::None).then(|| scoring.request_key.clone());
            let attempt_log_json = attempt_log_json(&result.attempt_log);
            stored_results.push(StoredResult {
                run_id: request.run_id.clone(),
                endpoint,
                item_key: result.item_key,
                repeat: result.repeat,
                shard_id: request.shard_id.clone(),
                epoch: request.epoch,
                worker_id: request.worker_id.clone(),
                response_text: response.text,
                finish_reason: response.finish_reason,
                prompt_tokens: result.prompt_tokens,
                completion_tokens: result.completion_tokens,
                latency_ms: result.latency_ms,
                error_class: error_class.as_str_name().to_string(),
                error_message: result.error_message,
                http_status: result.http_status,
                attempts: result.attempts,
                throttled: result.throttled,
                attempt_log_json,
                logprobs_json: logprobs_json(&response.logprobs),
                judge_text: response.judge_text,
                extracted,
                outcome,
                received_at_ms,
                cache_key,
            });
        }
        if let Some(endpoint) = stored_results.first().map(|result| result.endpoint.clone()) {
            self.record_throttling(&request.run_id, &endpoint, throttled);
        }
        let stored = self.store.insert_results(&stored_results).await?;
        // Progress is results stored for the first time: an empty batch, or the same
        // results sent again, must not hold a lease past its deadline.
        if stored > 0 {
            self.leases
                .lock()
                .await
                .record_progress(&shard, Instant::now());
        }
        let duplicates = u32::try_from(stored_results.len())
            .unwrap_or(u32::MAX)
            .saturating_sub(stored)
            .saturating_add(unknown);
        Ok((stored, duplicates))
    }

    /// Feeds the endpoint's adaptive budget: shrink on throttling, grow back without.
    fn record_throttling(&self, run_id: &str, endpoint: &str, throttled: u32) {
        let Ok(mut budgets) = self.budgets.lock() else {
            return;
        };
        let key = EndpointRef {
            run_id: run_id.to_string(),
            endpoint: endpoint.to_string(),
        };
        let Some(budget) = budgets.get_mut(&key) else {
            return;
        };
        let now = Instant::now();
        if throttled > 0 {
            let before = budget.limit();
            budget.on_throttled(throttled, now);
            if budget.limit() < before {
                tracing::warn!(
                    run_id,
                    endpoint,
                    throttled,
                    limit = budget.limit(),
                    "endpoint is throttling; concurrency budget reduced"
                );
            }
        } else {
            budget.on_unthrottled(now);
        }
        if let Some(metrics) = crate::metrics::get() {
            metrics
                .effective_concurrency
                .with_label_values(&[run_id, endpoint])
                .set(budget.effective());
        }
    }

    /// # Errors
    /// [`CoordinatorError::StaleLease`] if the lease is not held; store errors.
    pub async fn complete_shard(
        &self,
        request: v1::CompleteShardRequest,
    ) -> Result<bool, CoordinatorError> {
        let shard = ShardRef {
            run_id: request.run_id.clone(),
            shard_id: request.shard_id.clone(),
        };
        let mut leases = self.leases.lock().await;
        if !leases.holds(&shard, request.epoch, &request.worker_id) {
            self.note_refused();
            return Err(CoordinatorError::StaleLease {
                shard_id: request.shard_id,
                epoch: request.epoch,
                worker_id: request.worker_id,
            });
        }
        let done = self
            .store
            .finish_shard(&request.run_id, &request.shard_id, now_ms())
            .await?;
        leases.release(&shard, request.epoch, &request.worker_id);
        if let Some(metrics) = crate::metrics::get() {
            metrics.leases_held.set(gauge_value(leases.held()));
            if !done {
                metrics
                    .shards_requeued
                    .with_label_values(&["handed_back"])
                    .inc();
            }
        }
        if !done {
            tracing::info!(run_id = %request.run_id, shard_id = %request.shard_id, worker_id = %request.worker_id, epoch = request.epoch, "shard handed back with items left; requeued");
        }
        Ok(done)
    }

    /// Expires dead or stuck leases and puts their shards back in the queue.
    ///
    /// # Errors
    /// Store errors.
    pub async fn sweep(&self) -> Result<usize, CoordinatorError> {
        let mut leases = self.leases.lock().await;
        let deferred: Vec<(String, Instant)> = self
            .deferred_heartbeats
            .lock()
            .map(|mut deferred| deferred.drain().collect())
            .unwrap_or_default();
        for (worker_id, seen) in deferred {
            leases.heartbeat(&worker_id, seen);
        }
        let expired = leases.expire(Instant::now());
        for lease in &expired {
            tracing::warn!(
                run_id = %lease.shard.run_id,
                shard_id = %lease.shard.shard_id,
                epoch = lease.epoch,
                worker_id = %lease.worker_id,
                reason = ?lease.reason,
                "lease expired; shard requeued"
            );
            if let Some(metrics) = crate::metrics::get() {
                let reason = match lease.reason {
                    crate::lease::ExpiryReason::WorkerLost => "worker_lost",
                    crate::lease::ExpiryReason::NoProgress => "no_progress",
                };
                metrics.leases_expired.with_label_values(&[reason]).inc();
            }
        }
        if let Some(metrics) = crate::metrics::get() {
            metrics.leases_held.set(gauge_value(leases.held()));
        }
        // The expired leases are gone from the table: their shards must be marked pending
        // in the store, or they would stay leased and never be done. Shards whose requeue
        // failed at an earlier sweep (the store was unreachable) go first.
        let mut requeue: Vec<ShardRef> = self
            .requeue_backlog
            .lock()
            .map(|mut backlog| std::mem::take(&mut *backlog))
            .unwrap_or_default();
        let retried = requeue.len();
        requeue.extend(expired.iter().map(|lease| lease.shard.clone()));
        for (index, shard) in requeue.iter().enumerate() {
            if let Err(error) = self
                .store
                .requeue_shard(&shard.run_id, &shard.shard_id)
                .await
            {
                self.defer_requeues(&requeue[index..]);
                return Err(error.into());
            }
            if index < retried {
                tracing::info!(run_id = %shard.run_id, shard_id = %shard.shard_id, "shard requeued now that the store answers");
            }
            if let Some(metrics) = crate::metrics::get() {
                metrics
                    .shards_requeued
                    .with_label_values(&["expired"])
                    .inc();
            }
        }
        drop(leases);
        // The queue depth costs one small query per sweep; a store that does not answer
        // leaves the last value (the health service reports the store itself).
        if let (Some(metrics), Ok((shards, items))) =
            (crate::metrics::get(), self.store.queue_depth().await)
        {
            metrics.queue_shards.set(gauge_value(shards));
            metrics.queue_items.set(gauge_value(items));
        }
        Ok(expired.len())
    }

    fn defer_requeues(&self, shards: &[ShardRef]) {
        if let Ok(mut backlog) = self.requeue_backlog.lock() {
            backlog.extend_from_slice(shards);
        }
    }

    /// Runs [`Controller::sweep`] every `sweep_interval` until `shutdown` resolves.
    pub fn spawn_sweeper(
        self: &Arc<Self>,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let controller = self.clone();
        let mut shutdown = shutdown;
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(controller.config.sweep_interval);
            loop {
                tokio::select! {
                    _ = interval.tick() => {
                        if let Err(error) = controller.sweep().await {
                            tracing::error!(%error, "lease sweep failed; retrying at the next tick");
                        }
                    }
                    _ = shutdown.changed() => return,
                }
            }
        })
    }

    /// # Errors
    /// Unknown run; store errors.
    pub async fn run_status(&self, run_id: &str) -> Result<v1::RunStatus, CoordinatorError> {
        let record = self.run_record(run_id).await?;
        let counts = self.store.run_counts(run_id).await?;
        let spec = self.spec_for(run_id).await?;
        let (workers_alive, granted): (usize, Vec<u32>) = {
            let leases = self.leases.lock().await;
            let granted = spec
                .endpoints
                .iter()
                .map(|endpoint| {
                    leases.granted_concurrency(&EndpointRef {
                        run_id: run_id.to_string(),
                        endpoint: endpoint.name.clone(),
                    })
                })
                .collect();
            (leases.alive_workers(Instant::now()), granted)
        };
        let budgets = {
            let known = self.budgets.lock().ok();
            spec.endpoints
                .iter()
                .zip(granted)
                .map(|(endpoint, granted)| {
                    let key = EndpointRef {
                        run_id: run_id.to_string(),
                        endpoint: endpoint.name.clone(),
                    };
                    let budget = known.as_ref().and_then(|budgets| budgets.get(&key));
                    v1::EndpointBudget {
                        endpoint: endpoint.name.clone(),
                        max_concurrency: endpoint.max_concurrency,
                        effective_concurrency: budget.map_or(
                            f64::from(endpoint.max_concurrency),
                            AdaptiveBudget::effective,
                        ),
                        granted_concurrency: granted,
                        throttled: budget.map_or(0, AdaptiveBudget::throttled_total),
                        max_requests_per_second: endpoint.requests_per_second.unwrap_or(0.0),
                    }
                })
                .collect()
        };
        Ok(v1::RunStatus {
            run_id: record.run_id,
            name: record.name,
            state: if record.state == RUN_COMPLETE {
                v1::RunState::Complete.into()
            } else {
                v1::RunState::Running.into()
            },
            total_items: counts.total_items,
            done_items: counts.done_items,
            shards_total: counts.shards_total,
            shards_done: counts.shards_done,
            shards_leased: counts.shards_leased,
            workers_alive: u32::try_from(workers_alive).unwrap_or(u32::MAX),
            outcomes: counts
                .outcomes
                .into_iter()
                .map(|(outcome, count)| v1::OutcomeCount {
                    outcome: outcome.as_str().to_string(),
                    count,
                })
                .collect(),
            created_at_ms: u64::try_from(record.created_at_ms).unwrap_or(0),
            budgets,
            coordinator_insecure: self.config.insecure,
            left_out: left_out_counts(&record.manifest_json),
        })
    }

    /// # Errors
    /// Store errors.
    pub async fn list_runs(&self) -> Result<Vec<v1::RunStatus>, CoordinatorError> {
        self.list_runs_for(&crate::auth::Principal::local_admin())
            .await
    }

    /// # Errors
    /// Unknown run; store or aggregation errors.
    pub async fn render_report(&self, run_id: &str) -> Result<Vec<ReportFile>, CoordinatorError> {
        self.render_report_compared(run_id, None, &[]).await
    }

    /// The report of `run_id`; with `compare_with`, also `compare.md` and `compare.csv`;
    /// when the run collected provenance probes, a provenance section compared with the
    /// run's other endpoints and with `references` (fingerprint profiles as JSON).
    ///
    /// # Errors
    /// Unknown runs, invalid reference profiles; store or aggregation errors.
    pub async fn render_report_compared(
        &self,
        run_id: &str,
        compare_with: Option<&str>,
        references: &[String],
    ) -> Result<Vec<ReportFile>, CoordinatorError> {
        let record = self.run_record(run_id).await?;
        let other = match compare_with {
            Some(other_id) => {
                let other_record = self.run_record(other_id).await?;
                Some((other_record, self.store.scored_rows(other_id).await?))
            }
            None => None,
        };
        let references = audit::parse_references(references)?;
        let counts = self.store.run_counts(run_id).await?;
        let rows = self.store.scored_rows(run_id).await?;
        let probes = self.store.probe_rows(run_id).await?;
        let fingerprint = self.store.provenance_mc_rows(run_id).await?;
        let audit_rows = self.store.contamination_rows(run_id).await?;
        let spec = if probes.is_empty() {
            None
        } else {
            Some(self.spec_for(run_id).await?)
        };
        tokio::task::spawn_blocking(move || {
            let provenance = match spec {
                Some(spec) => {
                    let profiles = audit::build_profiles(
                        &spec,
                        &probes,
                        &rows,
                        &fingerprint,
                        &rfc3339_from_millis(record.created_at_ms),
                    );
                    let findings = audit::audit(&profiles, &references)?;
                    Some(ProvenanceReport {
                        markdown: audit::markdown_section(&findings),
                        findings_json: serde_json::to_vec_pretty(&findings)
                            .map_err(|error| CoordinatorError::Internal(error.to_string()))?,
                    })
                }
                None => None,
            };
            let mut files = report::render(&record, &counts, &rows, provenance.as_ref())?;
            if let Some(findings) = crate::contamination::findings(&rows, &audit_rows) {
                crate::contamination::attach(&mut files, &findings)?;
            }
            if let Some((other_record, other_rows)) = other {
                files.extend(crate::compare::render_comparison(
                    &other_record,
                    &other_rows,
                    &record,
                    &rows,
                ));
            }
            Ok(files)
        })
        .await
        .map_err(|error| CoordinatorError::Internal(format!("report task failed: {error}")))?
    }

    /// An endpoint's evidence from a run as a portable fingerprint profile (JSON), to be
    /// used as a reference in later audits.
    ///
    /// # Errors
    /// Unknown run or endpoint, a run without provenance probes; store errors.
    pub async fn export_profile(
        &self,
        run_id: &str,
        endpoint: &str,
    ) -> Result<String, CoordinatorError> {
        let record = self.run_record(run_id).await?;
        let spec = self.spec_for(run_id).await?;
        if !spec
            .endpoints
            .iter()
            .any(|candidate| candidate.name == endpoint)
        {
            let names: Vec<&str> = spec
                .endpoints
                .iter()
                .map(|candidate| candidate.name.as_str())
                .collect();
            return Err(CoordinatorError::InvalidRequest(format!(
                "run {run_id} has no endpoint `{endpoint}`; its endpoints are: {}",
                names.join(", ")
            )));
        }
        let probes = self.store.probe_rows(run_id).await?;
        if !probes.iter().any(|probe| probe.endpoint == endpoint) {
            return Err(CoordinatorError::InvalidRequest(format!(
                "run {run_id} collected no provenance probes for `{endpoint}`; run it with `provenance = true` in the spec (or `jianzhen run --provenance`)"
            )));
        }
        let rows = self.store.scored_rows(run_id).await?;
        let fingerprint = self.store.provenance_mc_rows(run_id).await?;
        let profiles = audit::build_profiles(
            &spec,
            &probes,
            &rows,
            &fingerprint,
            &rfc3339_from_millis(record.created_at_ms),
        );
        let profile = profiles
            .into_iter()
            .find(|profile| profile.endpoint_name == endpoint)
            .ok_or_else(|| {
                CoordinatorError::Internal(format!("no profile built for `{endpoint}`"))
            })?;
        Ok(profile.to_json()?)
    }
}

/// The longest answer (and judge reply) stored per item; a longer one is cut.
pub const MAX_STORED_TEXT_BYTES: usize = 1024 * 1024;
/// The longest error message stored per item (it is shown in reports).
pub const MAX_ERROR_MESSAGE_BYTES: usize = 2_000;

/// Cuts `text` to at most `limit` bytes on a character boundary.
fn truncate_text(text: &mut String, limit: usize) {
    if text.len() <= limit {
        return;
    }
    let mut end = limit;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
}

/// Milliseconds since the Unix epoch as an RFC 3339 UTC timestamp (no time-zone data
/// needed: the civil-from-days algorithm of Howard Hinnant).
pub fn rfc3339_from_millis(millis: i64) -> String {
    let seconds = millis.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// Candidates as stored (first-token candidates or option sums): `[["B", -0.1], [" A", -2.5]]`.
fn logprobs_json(candidates: &[(String, f64)]) -> String {
    serde_json::to_string(candidates).unwrap_or_else(|_| "[]".to_string())
}

/// Stored candidates read back; a row written without any (`""`, `[]`) has none.
fn logprobs_from_json(text: &str) -> Vec<(String, f64)> {
    serde_json::from_str(text).unwrap_or_default()
}

/// What a worker reported, read once into what scoring needs. The reply's texts and
/// candidates move out of `result` (the stored row takes them from the response), so a
/// reply of up to [`MAX_STORED_TEXT_BYTES`] is never copied on this per-result path. The
/// candidates are an echo item's option sums, else the first token's (stored in one
/// column: an item has one or the other).
fn response_from_wire(result: &mut v1::ItemResult, error_class: v1::ErrorClass) -> Response {
    let candidates = if result.option_logliks.is_empty() {
        std::mem::take(&mut result.first_token_logprobs)
    } else {
        std::mem::take(&mut result.option_logliks)
    };
    Response {
        text: std::mem::take(&mut result.text),
        finish_reason: std::mem::take(&mut result.finish_reason),
        failure: failure_of(error_class),
        logprobs: candidates
            .into_iter()
            .map(|candidate| (candidate.token, candidate.logprob))
            .collect(),
        judge_text: std::mem::take(&mut result.judge_text),
    }
}

/// The scoring meaning of a worker's error class: moderation refusals apart from every
/// other failure.
fn failure_of(error_class: v1::ErrorClass) -> Option<Failure> {
    match error_class {
        v1::ErrorClass::None => None,
        v1::ErrorClass::Moderation => Some(Failure::Moderation),
        _ => Some(Failure::Failed),
    }
}

/// The manifest's left-out records counted per suite, file and subject, for `status`.
/// A manifest written before records were left out has none.
fn left_out_counts(manifest_json: &str) -> Vec<v1::LeftOutCount> {
    let manifest: planner::Manifest = match serde_json::from_str(manifest_json) {
        Ok(manifest) => manifest,
        Err(_) => return Vec::new(),
    };
    manifest
        .suites
        .iter()
        .flat_map(|suite| {
            jianzhen_suites::left_out::counts(&suite.left_out)
                .into_iter()
                .map(|((file, subject), records)| v1::LeftOutCount {
                    suite: suite.suite.clone(),
                    file,
                    subject,
                    records: records as u64,
                })
        })
        .collect()
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

fn attempt_log_json(log: &[v1::AttemptRecord]) -> String {
    let records: Vec<serde_json::Value> = log
        .iter()
        .map(|record| {
            serde_json::json!({
                "http_status": record.http_status,
                "error_class": v1::ErrorClass::try_from(record.error_class).unwrap_or(v1::ErrorClass::None).as_str_name(),
                "error_message": record.error_message,
                "latency_ms": record.latency_ms,
                "waited_ms": record.waited_ms,
            })
        })
        .collect();
    serde_json::Value::Array(records).to_string()
}

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
