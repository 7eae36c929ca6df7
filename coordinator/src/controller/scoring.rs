//! Scoring: grading what workers report, answering items from the response cache, and
//! re-scoring stored answers — all through `jianzhen_suites::grading::grade`, from a
//! [`Response`] read once from the wire or from a stored row.
//!
//! What a worker reports is bounded here before it is scored or stored.

use std::sync::{Arc, PoisonError};

use jianzhen_proto::v1;
use jianzhen_suites::grading::{Failure, Response, Score, grade};
use tokio::time::Instant;

use super::{CACHE_WORKER, Controller, now_ms};
use crate::error::CoordinatorError;
use crate::lease::ShardRef;
use crate::store::{ScoreUpdate, ShardItemScoring, StoredResult};

/// The longest answer (and judge reply) stored per item; a longer one is cut.
pub const MAX_STORED_TEXT_BYTES: usize = 1024 * 1024;
/// The longest error message stored per item (it is shown in reports).
pub const MAX_ERROR_MESSAGE_BYTES: usize = 2_000;

impl Controller {
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
        if !self
            .leasing
            .holds(&shard, request.epoch, &request.worker_id)
        {
            self.note_refused();
            tracing::info!(run_id = %request.run_id, shard_id = %request.shard_id, worker_id = %request.worker_id, epoch = request.epoch, results = request.results.len(), "report refused: the lease is not held at this epoch");
            return Err(CoordinatorError::StaleLease {
                shard_id: request.shard_id,
                epoch: request.epoch,
                worker_id: request.worker_id,
            });
        }
        if request.throttle_waits > 0 {
            let held = self.leasing.record_throttle_wait(&shard, Instant::now());
            tracing::debug!(run_id = %request.run_id, shard_id = %request.shard_id, worker_id = %request.worker_id, throttle_waits = request.throttle_waits, held, "lease waiting on endpoint throttling");
        }
        let shard_items = self.shard_scoring(&shard, request.epoch).await?;
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
            let Some(item) = shard_items.find(&result.item_key, result.repeat) else {
                unknown += 1;
                tracing::warn!(shard_id = %request.shard_id, item_key = %result.item_key, "result for an item that is not part of the shard; ignored");
                continue;
            };
            let scoring = &item.scoring;
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
                endpoint: item.endpoint.clone(),
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
            self.leasing
                .record_throttling(&request.run_id, &endpoint, throttled, Instant::now());
        }
        let stored = self.store.insert_results(&stored_results).await?;
        // Progress is results stored for the first time: an empty batch, or the same
        // results sent again, must not hold a lease past its deadline.
        if stored > 0 {
            self.leasing.record_progress(&shard, Instant::now());
        }
        let duplicates = u32::try_from(stored_results.len())
            .unwrap_or(u32::MAX)
            .saturating_sub(stored)
            .saturating_add(unknown);
        Ok((stored, duplicates))
    }

    /// What scoring needs of every item of a held lease: read from the store at the
    /// lease's first report and kept while the lease is held, so a result costs no query
    /// of its own. Memory follows the shards in flight: loading one drops the inputs of
    /// every lease no longer held.
    async fn shard_scoring(
        &self,
        shard: &ShardRef,
        epoch: u64,
    ) -> Result<Arc<ShardScoring>, CoordinatorError> {
        let cached = self
            .shard_scoring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(shard)
            .filter(|cached| cached.epoch == epoch)
            .cloned();
        if let Some(cached) = cached {
            return Ok(cached);
        }
        let items = self
            .store
            .shard_scoring_inputs(&shard.run_id, &shard.shard_id)
            .await?;
        let loaded = Arc::new(ShardScoring { epoch, items });
        let mut cache = self
            .shard_scoring
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cache.retain(|held, _| self.leasing.is_leased(held));
        cache.insert(shard.clone(), loaded.clone());
        Ok(loaded)
    }

    /// Forgets the cached scoring inputs of a run's shards (their items' kinds changed).
    fn forget_shard_scoring(&self, run_id: &str) {
        self.shard_scoring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|shard, _| shard.run_id != run_id);
    }

    /// Answers the run's open items from the response cache; returns how many.
    pub(super) async fn fill_from_cache(&self, run_id: &str) -> Result<u64, CoordinatorError> {
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
            let reading = super::resolve_extractor(Some(name), &template).map_err(|problem| {
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
        self.forget_shard_scoring(run_id);
        Ok(())
    }
}

/// The scoring inputs of one leased shard's items, as [`Controller::shard_scoring`]
/// keeps them.
pub(super) struct ShardScoring {
    /// The lease they were read for: a shard leased again reads them again.
    epoch: u64,
    /// Sorted by (item key, repeat).
    items: Vec<ShardItemScoring>,
}

impl ShardScoring {
    fn find(&self, item_key: &str, repeat: u32) -> Option<&ShardItemScoring> {
        self.items
            .binary_search_by(|item| (item.item_key.as_str(), item.repeat).cmp(&(item_key, repeat)))
            .ok()
            .and_then(|index| self.items.get(index))
    }
}

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
/// candidates are an echo item's option sums, a Min-K% item's prompt tokens, else the
/// first token's (stored in one column: an item has one of them).
fn response_from_wire(result: &mut v1::ItemResult, error_class: v1::ErrorClass) -> Response {
    let mut candidates = if !result.option_logliks.is_empty() {
        std::mem::take(&mut result.option_logliks)
    } else if !result.prompt_token_logprobs.is_empty() {
        std::mem::take(&mut result.prompt_token_logprobs)
    } else {
        std::mem::take(&mut result.first_token_logprobs)
    };
    // Whichever list it is, it is bounded here (count, token size, finite values): a
    // worker is a network peer too, and a non-finite value would not even store as JSON.
    jianzhen_proto::bound_prompt_token_logprobs(&mut candidates);
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
