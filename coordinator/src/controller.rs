//! The coordinator's logic, independent of gRPC: submit and plan runs, grant and fence
//! leases, score and store results, answer status queries, render reports.
//!
//! The gRPC layer in [`crate::service`] only translates messages to these calls.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jianzhen_proto::v1;
use jianzhen_suites::extract::{Extraction, extract_choice_with_options};
use jianzhen_suites::load::load_suite;
use jianzhen_suites::outcome::{Outcome, score_choice};
use jianzhen_suites::{SuiteName, template};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::error::CoordinatorError;
use crate::lease::{EndpointRef, Grant, LeaseTable, ShardRef};
use crate::planner::{self, PreparedSuite};
use crate::report::{self, ReportFile};
use crate::spec::RunSpec;
use crate::store::{RUN_COMPLETE, Store, StoredResult};

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
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            heartbeat_ttl: Duration::from_secs(15),
            heartbeat_interval: Duration::from_secs(3),
            sweep_interval: Duration::from_millis(500),
            progress_timeout: None,
        }
    }
}

pub struct Controller {
    store: Store,
    config: CoordinatorConfig,
    leases: Mutex<LeaseTable>,
    /// Parsed specs of the runs seen, so leasing does not re-parse TOML every time.
    specs: Mutex<HashMap<String, Arc<RunSpec>>>,
    harness_version: String,
}

/// What `submit_run` tells the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub run_id: String,
    pub resumed: bool,
    pub total_items: u64,
    pub already_done: u64,
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
            harness_version: harness_version.to_string(),
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
        let spec = RunSpec::from_toml(spec_toml, "submitted spec")?;
        let canonical = spec.to_toml()?;
        let harness_version = self.harness_version.clone();
        let loading_spec = spec.clone();
        // Loading reads and hashes every data file: keep it off the async workers.
        let (prepared, plan) = tokio::task::spawn_blocking(move || {
            let prepared = prepare_suites(&loading_spec)?;
            let run_id = planner::run_id_for(&canonical, &prepared);
            let plan = planner::plan(&run_id, &loading_spec, &prepared, &harness_version)?;
            Ok::<_, CoordinatorError>((prepared, plan))
        })
        .await
        .map_err(|error| CoordinatorError::Internal(format!("planning task failed: {error}")))??;
        drop(prepared);
        let manifest_json = serde_json::to_string_pretty(&plan.manifest)
            .map_err(|error| CoordinatorError::Internal(error.to_string()))?;
        let spec_toml = spec.to_toml()?;
        let is_new = self
            .store
            .insert_plan(&plan, &spec.name, &spec_toml, &manifest_json, now_ms())
            .await?;
        if !is_new {
            self.store.refresh_run_state(&plan.run_id, now_ms()).await?;
        }
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
            already_done: counts.done_items,
        })
    }

    async fn spec_for(&self, run_id: &str) -> Result<Arc<RunSpec>, CoordinatorError> {
        if let Some(spec) = self.specs.lock().await.get(run_id) {
            return Ok(spec.clone());
        }
        let record =
            self.store
                .run_record(run_id)
                .await?
                .ok_or_else(|| CoordinatorError::UnknownRun {
                    run_id: run_id.to_string(),
                })?;
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

    pub async fn heartbeat(&self, worker_id: &str) -> bool {
        self.leases
            .lock()
            .await
            .heartbeat(worker_id, Instant::now())
    }

    /// Leases the next pending shard whose endpoint has concurrency budget left.
    ///
    /// # Errors
    /// Store errors. An unknown worker gets `Ok(None)` after being registered.
    pub async fn lease_shard(
        &self,
        worker_id: &str,
    ) -> Result<Option<v1::ShardLease>, CoordinatorError> {
        let mut leases = self.leases.lock().await;
        let now = Instant::now();
        if !leases.is_alive(worker_id, now) {
            // A worker we forgot (after a restart or a long pause) is welcome back.
            leases.register(worker_id, now);
        }
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
            let Some(share) =
                leases.concurrency_share(&endpoint_ref, endpoint.max_concurrency, now)
            else {
                continue;
            };
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
            let epoch = self
                .store
                .lease_shard(&pending.run_id, &pending.shard_id)
                .await?;
            let progress_timeout = self.config.progress_timeout.unwrap_or_else(|| {
                Duration::from_secs_f64(
                    endpoint.timeout_secs * f64::from(endpoint.max_attempts) + 30.0,
                )
            });
            leases.grant(
                Grant {
                    shard,
                    endpoint: endpoint_ref,
                    worker_id: worker_id.to_string(),
                    epoch,
                    concurrency_share: share,
                    progress_timeout,
                },
                now,
            );
            let mut items = Vec::with_capacity(open_items.len());
            for open in open_items {
                let messages: Vec<template::ChatMessage> =
                    serde_json::from_str(&open.messages_json).map_err(|error| {
                        CoordinatorError::Internal(format!(
                            "stored prompt of item {} is not valid: {error}",
                            open.item_key
                        ))
                    })?;
                items.push(v1::ItemRequest {
                    item_key: open.item_key,
                    repeat: open.repeat,
                    messages: messages
                        .into_iter()
                        .map(|message| v1::ChatMessage {
                            role: message.role,
                            content: message.content,
                        })
                        .collect(),
                });
            }
            tracing::debug!(worker_id, run_id = %pending.run_id, shard_id = %pending.shard_id, epoch, items = items.len(), share, "shard leased");
            return Ok(Some(v1::ShardLease {
                run_id: pending.run_id,
                shard_id: pending.shard_id,
                epoch,
                endpoint: Some(v1::EndpointConfig {
                    name: endpoint.name.clone(),
                    base_url: endpoint.base_url.clone(),
                    model: endpoint.model.clone(),
                    api_key_env: endpoint.api_key_env.clone().unwrap_or_default(),
                    max_concurrency: share,
                    timeout_ms: (endpoint.timeout_secs * 1000.0) as u64,
                    temperature: endpoint.temperature,
                    max_tokens: endpoint.max_tokens,
                    max_attempts: endpoint.max_attempts,
                }),
                items,
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
            let mut leases = self.leases.lock().await;
            if !leases.holds(&shard, request.epoch, &request.worker_id) {
                return Err(CoordinatorError::StaleLease {
                    shard_id: request.shard_id,
                    epoch: request.epoch,
                    worker_id: request.worker_id,
                });
            }
            leases.record_progress(&shard, Instant::now());
        }
        let received_at_ms = now_ms();
        let mut stored_results = Vec::with_capacity(request.results.len());
        let mut unknown = 0u32;
        for result in request.results {
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
            let (extracted, outcome) =
                score_response(&result, &scoring.gold, &scoring.options_json);
            let error_class =
                v1::ErrorClass::try_from(result.error_class).unwrap_or(v1::ErrorClass::None);
            stored_results.push(StoredResult {
                run_id: request.run_id.clone(),
                endpoint,
                item_key: result.item_key,
                repeat: result.repeat,
                shard_id: request.shard_id.clone(),
                epoch: request.epoch,
                worker_id: request.worker_id.clone(),
                response_text: result.text,
                finish_reason: result.finish_reason,
                prompt_tokens: result.prompt_tokens,
                completion_tokens: result.completion_tokens,
                latency_ms: result.latency_ms,
                error_class: error_class.as_str_name().to_string(),
                error_message: result.error_message,
                http_status: result.http_status,
                attempts: result.attempts,
                extracted,
                outcome: outcome.as_str().to_string(),
                received_at_ms,
            });
        }
        let stored = self.store.insert_results(&stored_results).await?;
        let duplicates = u32::try_from(stored_results.len()).unwrap_or(u32::MAX) - stored + unknown;
        Ok((stored, duplicates))
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
        Ok(done)
    }

    /// Expires dead or stuck leases and puts their shards back in the queue.
    ///
    /// # Errors
    /// Store errors.
    pub async fn sweep(&self) -> Result<usize, CoordinatorError> {
        let mut leases = self.leases.lock().await;
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
            self.store
                .requeue_shard(&lease.shard.run_id, &lease.shard.shard_id)
                .await?;
        }
        Ok(expired.len())
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
        let record =
            self.store
                .run_record(run_id)
                .await?
                .ok_or_else(|| CoordinatorError::UnknownRun {
                    run_id: run_id.to_string(),
                })?;
        let counts = self.store.run_counts(run_id).await?;
        let workers_alive = self.leases.lock().await.alive_workers(Instant::now());
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
                .map(|(outcome, count)| v1::OutcomeCount { outcome, count })
                .collect(),
            created_at_ms: u64::try_from(record.created_at_ms).unwrap_or(0),
        })
    }

    /// # Errors
    /// Store errors.
    pub async fn list_runs(&self) -> Result<Vec<v1::RunStatus>, CoordinatorError> {
        let mut statuses = Vec::new();
        for record in self.store.list_runs().await? {
            statuses.push(self.run_status(&record.run_id).await?);
        }
        Ok(statuses)
    }

    /// # Errors
    /// Unknown run; store or aggregation errors.
    pub async fn render_report(&self, run_id: &str) -> Result<Vec<ReportFile>, CoordinatorError> {
        let record =
            self.store
                .run_record(run_id)
                .await?
                .ok_or_else(|| CoordinatorError::UnknownRun {
                    run_id: run_id.to_string(),
                })?;
        let counts = self.store.run_counts(run_id).await?;
        let rows = self.store.scored_rows(run_id).await?;
        tokio::task::spawn_blocking(move || report::render(&record, &counts, &rows))
            .await
            .map_err(|error| CoordinatorError::Internal(format!("report task failed: {error}")))?
    }
}

/// Extracts and scores one raw response. Errors are `api_error` and answers cut off by
/// the token limit are `truncated`, never `wrong`; the letter read from a truncated
/// answer is still stored, for inspection.
pub fn score_response(
    result: &v1::ItemResult,
    gold: &str,
    options_json: &str,
) -> (Option<String>, Outcome) {
    if result.error_class != v1::ErrorClass::None as i32 {
        return (None, Outcome::ApiError);
    }
    let options: Vec<String> = serde_json::from_str(options_json).unwrap_or_default();
    let extraction = extract_choice_with_options(&result.text, &options);
    let extracted = match extraction {
        Extraction::Choice(letter) => Some(letter.to_string()),
        Extraction::Unextractable => None,
    };
    if result.finish_reason == "length" {
        return (extracted, Outcome::Truncated);
    }
    let Some(gold_letter) = gold.chars().next() else {
        return (extracted, Outcome::Unextractable);
    };
    (extracted, score_choice(&extraction, gold_letter))
}

/// Loads every suite of the spec (blocking IO).
///
/// # Errors
/// Unknown suites or templates, unreadable or malformed data files.
pub fn prepare_suites(spec: &RunSpec) -> Result<Vec<PreparedSuite>, CoordinatorError> {
    spec.suites
        .iter()
        .map(|suite_spec| {
            let suite: SuiteName = suite_spec.name.parse()?;
            let split = suite_spec
                .split
                .clone()
                .unwrap_or_else(|| suite.default_split().to_string());
            let template = suite_spec
                .template
                .clone()
                .unwrap_or_else(|| template::default_template(suite).to_string());
            template::template_info(&template)?;
            let loaded = load_suite(
                suite,
                &suite_spec.data,
                &split,
                &suite_spec.subjects,
                suite_spec.shots > 0,
            )?;
            Ok(PreparedSuite {
                suite,
                split,
                template,
                shots: suite_spec.shots,
                limit_per_subject: suite_spec.limit_per_subject,
                data_dir: display_path(&suite_spec.data),
                loaded,
            })
        })
        .collect()
}

fn display_path(path: &Path) -> String {
    path.display().to_string()
}
