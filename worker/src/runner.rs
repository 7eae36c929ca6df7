//! The worker loop: register, heartbeat, lease a shard, call the endpoint for each item
//! within the lease's concurrency share, stream results back in small batches, complete.
//!
//! The next shard is leased before the current one drains: as soon as fewer of the
//! worker's items wait for a slot than it has slots on the endpoint, it asks for another
//! lease, whose items take the slots the current shard's last requests free (the slots
//! are the worker's, per endpoint, carried from lease to lease: [`crate::slots`]). The
//! endpoint stays full across shard and subject boundaries instead of draining to the
//! last request of each shard. At most [`MAX_LEASES_HELD`] leases run at once.
//!
//! A worker holds no state worth keeping: if it dies, its lease expires at the
//! coordinator and the shard's unanswered items go to another worker. If the coordinator
//! refuses a report (stale epoch), the worker drops the shard at once.
//!
//! Shutting down (SIGTERM) is graceful: the worker stops leasing, starts no new item,
//! lets the items in flight finish within [`WorkerConfig::shutdown_grace`], reports them,
//! and hands its shard back with `CompleteShard`, so the unanswered items go to another
//! worker at once instead of after the lease expires.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jianzhen_proto::client::{AuthedClient, ClientCredentials};
use jianzhen_proto::v1::{
    self, CompleteShardRequest, ErrorClass, HeartbeatRequest, ItemResult, LeaseShardRequest,
    RegisterWorkerRequest, ReportResultsRequest, ShardLease, item_request,
};
use tokio::sync::{Notify, OnceCell, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::client::{Call, EchoCheck, EndpointHttp, ThrottleSignal, check_echo_logprobs, complete};
use crate::egress::EgressPolicy;
use crate::error::WorkerError;
use crate::limiter::RateLimiter;
use crate::slots::EndpointSlots;

/// Leases a worker runs at once: the one draining, the one prefetched to fill the slots
/// it frees, and one more for shards smaller than the worker's slots. More would only
/// keep shards from other workers at the end of a run.
pub const MAX_LEASES_HELD: usize = 3;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// e.g. `http://127.0.0.1:7443`.
    pub coordinator_url: String,
    /// Unique per worker process.
    pub worker_id: String,
    /// Wait between lease attempts when there is no work.
    pub idle_poll: Duration,
    /// Results are sent when this many are ready...
    pub report_batch: usize,
    /// ...or when the oldest unsent one is this old.
    pub report_interval: Duration,
    /// The worker token and TLS material it presents to the coordinator.
    pub credentials: ClientCredentials,
    /// The environment variables a lease may name as an endpoint's key
    /// (`--allow-key-env`). Anything else is refused: a spec must never be able to read
    /// an arbitrary variable of the worker's environment and send it to an endpoint.
    pub allowed_key_envs: std::collections::BTreeSet<String>,
    /// Where endpoint calls may go (`--allow-endpoint`); public addresses only by default.
    pub egress: EgressPolicy,
    /// On shutdown, how long requests already sent may take to finish before they are
    /// abandoned (their items go back to the queue unanswered). Kubernetes' default
    /// termination grace is 30 s: this must end well before it.
    pub shutdown_grace: Duration,
}

impl WorkerConfig {
    pub fn new(coordinator_url: &str, worker_id: &str) -> Self {
        WorkerConfig {
            coordinator_url: coordinator_url.to_string(),
            worker_id: worker_id.to_string(),
            idle_poll: Duration::from_millis(300),
            report_batch: 16,
            report_interval: Duration::from_millis(200),
            credentials: ClientCredentials::default(),
            allowed_key_envs: std::collections::BTreeSet::new(),
            egress: EgressPolicy::public_only(),
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

/// A default worker id: host name, process id and a random suffix.
pub fn default_worker_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|name| name.trim().to_string())
        })
        .unwrap_or_else(|| "worker".to_string());
    let suffix: u32 = rand::random::<u32>() % 0x10000;
    format!("{host}-{}-{suffix:04x}", std::process::id())
}

/// Connects lazily: the channel reconnects by itself when the coordinator restarts.
///
/// # Errors
/// The URL, token or TLS material is not valid.
pub fn coordinator_channel(
    url: &str,
    credentials: &ClientCredentials,
) -> Result<AuthedClient, WorkerError> {
    jianzhen_proto::client::connect_lazy(url, credentials).map_err(|source| {
        WorkerError::Coordinator {
            url: url.to_string(),
            source,
        }
    })
}

/// Runs the worker until `shutdown` turns true. Connection failures are retried
/// forever (the coordinator may be restarting); they never end the worker.
///
/// # Errors
/// Only configuration errors (bad URL, HTTP client).
pub async fn run_worker(
    config: WorkerConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), WorkerError> {
    let client = coordinator_channel(&config.coordinator_url, &config.credentials)?;
    // reqwest is built without a bundled crypto provider (it would pull aws-lc); install
    // ring once per process. A provider already installed by the embedder is kept.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = EndpointHttp::new(config.egress.clone())?;
    let heartbeat_interval = register_until_accepted(&client, &config, &mut shutdown).await;
    let Some(heartbeat_interval) = heartbeat_interval else {
        return Ok(());
    };
    tracing::info!(worker_id = %config.worker_id, coordinator = %config.coordinator_url, "worker registered");

    // The heartbeat runs on its own task so a slow endpoint never delays liveness.
    let (lost_tx, lost_rx) = watch::channel(0u64);
    // It runs until the worker returns, shutdown included: a worker finishing its items in
    // flight is alive, and its lease must not expire under it.
    let heartbeat = tokio::spawn(heartbeat_loop(
        client.clone(),
        config.clone(),
        heartbeat_interval,
        lost_tx,
    ));

    // Woken when a pool of slots runs short of waiting items, or a lease ends.
    let wants_work = Arc::new(Notify::new());
    let memory = Arc::new(Mutex::new(EndpointMemory::new(wants_work.clone())));
    let mut shards: JoinSet<()> = JoinSet::new();
    let mut backoff = config.idle_poll;
    loop {
        if *shutdown.borrow() {
            break;
        }
        // Lease when idle, or ahead of time when the slots of a running lease's endpoint
        // would otherwise fall idle.
        let lease_now = shards.is_empty()
            || (shards.len() < MAX_LEASES_HELD && lock_memory(&memory).wants_work());
        if !lease_now {
            tokio::select! {
                _ = wants_work.notified() => {}
                Some(_) = shards.join_next() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let lease = client
            .clone()
            .lease_shard(LeaseShardRequest {
                worker_id: config.worker_id.clone(),
            })
            .await;
        match lease {
            Ok(response) => match response.into_inner().lease {
                Some(lease) => {
                    backoff = config.idle_poll;
                    let (client, http, config, memory) =
                        (client.clone(), http.clone(), config.clone(), memory.clone());
                    let (lost, shutdown) = (lost_rx.clone(), shutdown.clone());
                    shards.spawn(async move {
                        run_shard(&client, &http, &config, lease, &memory, lost, shutdown).await;
                    });
                    continue;
                }
                None => backoff = config.idle_poll,
            },
            Err(status) => {
                tracing::warn!(code = ?status.code(), message = status.message(), "lease request failed; retrying");
                backoff = (backoff * 2).min(Duration::from_secs(3));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            Some(_) = shards.join_next() => {}
            _ = shutdown.changed() => {}
        }
    }
    // Each running lease finishes its items in flight and hands its shard back.
    while shards.join_next().await.is_some() {}
    heartbeat.abort();
    Ok(())
}

async fn register_until_accepted(
    client: &AuthedClient,
    config: &WorkerConfig,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Duration> {
    let mut wait = Duration::from_millis(100);
    loop {
        if *shutdown.borrow() {
            return None;
        }
        let response = client
            .clone()
            .register_worker(RegisterWorkerRequest {
                worker_id: config.worker_id.clone(),
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .await;
        match response {
            Ok(response) => {
                let interval = response.into_inner().heartbeat_interval_ms.max(50);
                return Some(Duration::from_millis(interval));
            }
            Err(status) => {
                tracing::warn!(coordinator = %config.coordinator_url, message = status.message(), "coordinator not reachable yet; retrying");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
        wait = (wait * 2).min(Duration::from_secs(3));
    }
}

/// Heartbeats; when the coordinator no longer knows this worker, registers again and
/// bumps `lost` so the current shard is dropped (its lease is gone).
async fn heartbeat_loop(
    client: AuthedClient,
    config: WorkerConfig,
    interval: Duration,
    lost: watch::Sender<u64>,
) {
    loop {
        tokio::time::sleep(interval).await;
        let response = client
            .clone()
            .heartbeat(HeartbeatRequest {
                worker_id: config.worker_id.clone(),
            })
            .await;
        match response {
            Ok(response) if response.get_ref().known => {}
            Ok(_) => {
                tracing::warn!(worker_id = %config.worker_id, "coordinator forgot this worker; registering again and dropping held shards");
                lost.send_modify(|generation| *generation += 1);
                let _ = client
                    .clone()
                    .register_worker(RegisterWorkerRequest {
                        worker_id: config.worker_id.clone(),
                        version: env!("CARGO_PKG_VERSION").to_string(),
                    })
                    .await;
            }
            Err(status) => tracing::debug!(
                message = status.message(),
                "heartbeat failed; coordinator unreachable"
            ),
        }
    }
}

/// What a worker keeps about the endpoints of its runs from one lease to the next: their
/// rate limiters, by `run/endpoint` (the judge's under `run/judge:NAME`), so that
/// consecutive leases keep one pace instead of each starting with a burst; and its
/// request slots on each endpoint, by `run/endpoint`, so that a prefetched lease fills
/// the slots the current one frees.
struct EndpointMemory {
    limiters: std::collections::HashMap<String, Arc<RateLimiter>>,
    slots: std::collections::HashMap<String, Arc<EndpointSlots>>,
    /// Handed to every pool of slots: wakes the worker loop to lease ahead.
    wants_work: Arc<Notify>,
}

/// The memory is only touched for a few map operations at a time, never across an
/// await; a panic while it was held leaves nothing half-changed that matters.
fn lock_memory(memory: &Mutex<EndpointMemory>) -> std::sync::MutexGuard<'_, EndpointMemory> {
    memory.lock().unwrap_or_else(PoisonError::into_inner)
}

impl EndpointMemory {
    fn new(wants_work: Arc<Notify>) -> Self {
        EndpointMemory {
            limiters: std::collections::HashMap::new(),
            slots: std::collections::HashMap::new(),
            wants_work,
        }
    }

    /// The pool of slots kept under `key` (new ones start at `share`; a lease sizes it
    /// with [`EndpointSlots::lease_started`]).
    fn slots(&mut self, key: String, share: u32) -> Arc<EndpointSlots> {
        let wants_work = &self.wants_work;
        let slots = self
            .slots
            .entry(key)
            .or_insert_with(|| Arc::new(EndpointSlots::new(share, wants_work.clone())));
        slots.clone()
    }

    /// Whether a pool a lease runs on has fewer items waiting than slots.
    fn wants_work(&self) -> bool {
        self.slots.values().any(|slots| slots.wants_work())
    }

    /// The limiter kept under `key`, set to the lease's rate share.
    fn limiter(&mut self, key: String, requests_per_second: f64) -> Arc<RateLimiter> {
        let limiter = self
            .limiters
            .entry(key)
            .or_insert_with(|| Arc::new(RateLimiter::new(requests_per_second)));
        limiter.set_rate(requests_per_second);
        limiter.clone()
    }
}

/// Runs one leased shard to its end, or until the lease is lost.
async fn run_shard(
    client: &AuthedClient,
    http: &EndpointHttp,
    config: &WorkerConfig,
    lease: ShardLease,
    memory: &Mutex<EndpointMemory>,
    mut lost: watch::Receiver<u64>,
    mut shutdown: watch::Receiver<bool>,
) {
    lost.mark_unchanged();
    let Some(endpoint) = lease.endpoint.clone() else {
        tracing::error!(shard_id = %lease.shard_id, "lease without endpoint configuration; skipping");
        return;
    };
    let endpoint = Arc::new(endpoint);
    let endpoint_key = format!("{}/{}", lease.run_id, endpoint.name);
    let (limiter, slots) = {
        let mut memory = lock_memory(memory);
        (
            memory.limiter(endpoint_key.clone(), endpoint.requests_per_second),
            memory.slots(endpoint_key, endpoint.max_concurrency),
        )
    };
    let _running_on_slots = slots.lease_started(
        endpoint.max_concurrency,
        endpoint.requests_per_second,
        limiter.clone(),
    );
    let api_key = resolve_api_key(&endpoint, config);
    let total = lease.items.len();
    // Echoed log-probabilities are checked once per lease, by the first echo-scored item
    // (the others wait for its verdict): a failed check fails them without a request. Per
    // lease, so a `jianzhen retry` after the server is fixed checks again.
    let echo_check: Arc<OnceCell<EchoCheck>> = Arc::new(OnceCell::new());
    // Throttled waits of this lease's requests (endpoint and judge), passed on to the
    // coordinator so that a lease waiting out throttling does not lose its shard.
    let throttle_signal = Arc::new(ThrottleSignal::default());
    // One line per shard at info: what an operator reads in a worker's log.
    let started = std::time::Instant::now();
    tracing::info!(worker_id = %config.worker_id, run_id = %lease.run_id, shard_id = %lease.shard_id, endpoint = %endpoint.name, epoch = lease.epoch, items = total, concurrency = endpoint.max_concurrency, "shard leased");
    // The judge model, for items graded by one: its own key, concurrency and rate.
    let judge = lease.judge.clone().map(|endpoint| {
        Arc::new(Judge {
            key: resolve_api_key(&endpoint, config),
            permits: Semaphore::new(endpoint.max_concurrency.max(1) as usize),
            limiter: lock_memory(memory).limiter(
                format!("{}/judge:{}", lease.run_id, endpoint.name),
                endpoint.requests_per_second,
            ),
            endpoint,
        })
    });

    let (results_tx, mut results_rx) = mpsc::channel::<ItemResult>(total.max(1));
    let mut calls = JoinSet::new();
    // Every item waits for one of the worker's slots on the endpoint, shared with its
    // other leases of it: counted as waiting until it has one, so the worker loop knows
    // when to lease ahead.
    let waiting = slots.items_waiting(total);
    // Items of this lease without a slot yet: while there are some and the pool's other
    // leases are being throttled, this lease waits on the endpoint's throttling too.
    let unstarted = Arc::new(std::sync::atomic::AtomicUsize::new(total));
    for (item, waiting_for_slot) in lease.items.into_iter().zip(waiting) {
        let unstarted = unstarted.clone();
        let http = http.clone();
        // A probe may carry its own generation limit.
        let endpoint = if item.max_tokens > 0 {
            Arc::new(v1::EndpointConfig {
                max_tokens: item.max_tokens,
                ..(*endpoint).clone()
            })
        } else {
            endpoint.clone()
        };
        let api_key = api_key.clone();
        let results_tx = results_tx.clone();
        let limiter = limiter.clone();
        let judge = judge.clone();
        let echo_check = echo_check.clone();
        let throttle_signal = throttle_signal.clone();
        calls.spawn(async move {
            let Some(endpoint_permit) = waiting_for_slot.acquire().await else {
                return;
            };
            unstarted.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            let call = match &item.request {
                Some(item_request::Request::Chat(chat)) => Ok(Call::Chat {
                    messages: &chat.messages,
                    top_logprobs: 0,
                }),
                Some(item_request::Request::FirstToken(first_token)) => Ok(Call::Chat {
                    messages: &first_token.messages,
                    top_logprobs: first_token.top_logprobs,
                }),
                Some(item_request::Request::LoglikEcho(loglik)) => Ok(Call::Loglik {
                    prefix: &loglik.prefix,
                    options: &loglik.options,
                }),
                Some(item_request::Request::PromptLogprobs(prompt)) => {
                    Ok(Call::PromptLogprobs { text: &prompt.text })
                }
                None => Err(
                    "the lease's item carries no request (a coordinator of another version?): run workers of the coordinator's version"
                        .to_string(),
                ),
            };
            let mut result = match (&api_key, call) {
                (_, Err(problem)) => ItemResult {
                    error_class: ErrorClass::Config as i32,
                    error_message: problem,
                    attempts: 0,
                    ..ItemResult::default()
                },
                (Err(problem), _) => ItemResult {
                    error_class: ErrorClass::Config as i32,
                    error_message: problem.clone(),
                    attempts: 0,
                    ..ItemResult::default()
                },
                (Ok(key), Ok(call)) => {
                    let echo_verdict = match call {
                        Call::Chat { .. } => None,
                        Call::Loglik { .. } | Call::PromptLogprobs { .. } => Some(
                            echo_check
                                .get_or_init(|| {
                                    check_echo_logprobs(&http, &endpoint, key.as_deref(), &limiter)
                                })
                                .await,
                        ),
                    };
                    match echo_verdict {
                        Some(EchoCheck::Failed(message)) => ItemResult {
                            error_class: ErrorClass::BadBody as i32,
                            error_message: message.clone(),
                            attempts: 0,
                            ..ItemResult::default()
                        },
                        // Min-K% needs the prompt's log-probabilities: an endpoint that
                        // answered the check without them is not asked once per item.
                        Some(EchoCheck::NotEchoed(message))
                            if matches!(call, Call::PromptLogprobs { .. }) =>
                        {
                            ItemResult {
                                error_class: ErrorClass::BadBody as i32,
                                error_message: format!(
                                    "not sent: the endpoint answered Jianzhen's echo check (`/v1/completions` with `echo`) without prompt log-probabilities ({}), as llama.cpp's server does; Min-K% needs an endpoint that echoes them (vLLM, SGLang)",
                                    message.split("; the endpoint does not echo").next().unwrap_or(message)
                                ),
                                attempts: 0,
                                ..ItemResult::default()
                            }
                        }
                        _ => {
                            complete(
                                &http,
                                &endpoint,
                                key.as_deref(),
                                call,
                                &limiter,
                                &throttle_signal,
                            )
                            .await
                        }
                    }
                }
            };
            // The endpoint's slot is free once its answer is in: the next item need not
            // wait for this one's verdict (the judge has slots of its own).
            drop(endpoint_permit);
            if let Some(call) = &item.judge
                && result.error_class == ErrorClass::None as i32
            {
                judge_answer(&http, judge.as_deref(), call, &mut result, &throttle_signal).await;
            }
            result.item_key = item.item_key;
            result.repeat = item.repeat;
            let _ = results_tx.send(result).await;
        });
    }
    drop(results_tx);

    let mut pending: Vec<ItemResult> = Vec::new();
    let mut reported = 0usize;
    let mut channel_open = true;
    let mut flush_timer = tokio::time::interval(config.report_interval);
    // Throttled waits are passed on a few times per progress deadline: often enough that
    // the deadline never passes while the endpoint keeps saying "later", rarely enough
    // to cost the coordinator nothing.
    let throttle_every = (Duration::from_millis(lease.progress_timeout_ms) / 4)
        .clamp(config.report_interval, Duration::from_secs(10));
    let mut throttle_timer = tokio::time::interval(throttle_every);
    throttle_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut throttle_waits = 0u32;
    let mut pool_throttled_seen = slots.throttled_count();
    // Set when shutdown began: the end of the grace period for the items in flight.
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    loop {
        let flush_now;
        tokio::select! {
            received = results_rx.recv(), if channel_open => match received {
                Some(result) => {
                    pending.push(result);
                    flush_now = pending.len() >= config.report_batch;
                }
                None => {
                    channel_open = false;
                    flush_now = true;
                }
            },
            _ = flush_timer.tick() => flush_now = !pending.is_empty(),
            _ = throttle_timer.tick() => {
                let own_waits = throttle_signal.take();
                if own_waits > 0 {
                    slots.note_throttled();
                }
                // A lease leased ahead whose items wait for slots held by another lease's
                // throttled requests is not stuck either: without this its progress
                // deadline would pass while the endpoint keeps saying "later" to the
                // requests ahead of it. The coordinator still bounds it by the throttle
                // deadline after the lease's last real progress.
                let pool_throttled = slots.throttled_count();
                let waiting_on_throttled_pool = own_waits == 0
                    && pool_throttled != pool_throttled_seen
                    && unstarted.load(std::sync::atomic::Ordering::SeqCst) > 0;
                pool_throttled_seen = pool_throttled;
                throttle_waits = throttle_waits
                    .saturating_add(own_waits)
                    .saturating_add(u32::from(waiting_on_throttled_pool));
                flush_now = throttle_waits > 0;
            }
            _ = lost.changed() => {
                tracing::warn!(shard_id = %lease.shard_id, "lease lost with the worker's registration; dropping the shard");
                calls.abort_all();
                return;
            }
            // Checked once: after the first change, a dropped sender would make
            // `changed()` return at once forever.
            _ = shutdown.changed(), if drain_deadline.is_none() => {
                // No new item starts (waiting ones get no slot and send nothing, in this
                // lease or any other the worker holds); the ones in flight have the
                // grace period to finish and be reported.
                slots.close();
                let deadline = tokio::time::Instant::now() + config.shutdown_grace;
                drain_deadline = Some(deadline);
                tracing::info!(worker_id = %config.worker_id, shard_id = %lease.shard_id, grace_secs = config.shutdown_grace.as_secs_f64(), "shutting down: finishing the items in flight, then handing the shard back");
                flush_now = !pending.is_empty();
            }
            _ = tokio::time::sleep_until(drain_deadline.unwrap_or_else(tokio::time::Instant::now)), if drain_deadline.is_some() && channel_open => {
                let unanswered = total.saturating_sub(reported + pending.len());
                tracing::warn!(worker_id = %config.worker_id, shard_id = %lease.shard_id, unanswered, "shutdown grace period over; abandoning the requests still in flight");
                calls.abort_all();
                channel_open = false;
                flush_now = true;
            }
        }
        if flush_now && (!pending.is_empty() || throttle_waits > 0) {
            let batch = std::mem::take(&mut pending);
            let count = batch.len();
            let waits = std::mem::take(&mut throttle_waits);
            if waits > 0 {
                tracing::debug!(shard_id = %lease.shard_id, throttle_waits = waits, "endpoint throttling; telling the coordinator the lease is waiting");
            }
            match report(
                client,
                config,
                &lease.run_id,
                &lease.shard_id,
                lease.epoch,
                batch.clone(),
                waits,
            )
            .await
            {
                ReportOutcome::Accepted => reported += count,
                ReportOutcome::LeaseLost => {
                    calls.abort_all();
                    return;
                }
                ReportOutcome::Retry => {
                    pending = batch;
                    throttle_waits = throttle_waits.saturating_add(waits);
                }
            }
        }
        if !channel_open && pending.is_empty() {
            break;
        }
        if !channel_open {
            // A worker shutting down does not wait forever for an unreachable coordinator:
            // after a second grace period its results are given up (the lease expires and
            // the items are asked again elsewhere).
            if drain_deadline.is_some_and(|deadline| {
                tokio::time::Instant::now() > deadline + config.shutdown_grace
            }) {
                tracing::warn!(worker_id = %config.worker_id, shard_id = %lease.shard_id, results = pending.len(), "shutting down with results the coordinator did not take; its lease will expire and they will be asked again");
                return;
            }
            // Results are buffered but the coordinator was unreachable: wait before retrying.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let completed = client
        .clone()
        .complete_shard(CompleteShardRequest {
            worker_id: config.worker_id.clone(),
            run_id: lease.run_id.clone(),
            shard_id: lease.shard_id.clone(),
            epoch: lease.epoch,
        })
        .await;
    match completed {
        Ok(response) => {
            tracing::info!(worker_id = %config.worker_id, run_id = %lease.run_id, shard_id = %lease.shard_id, endpoint = %endpoint.name, items = reported, seconds = format_args!("{:.1}", started.elapsed().as_secs_f64()), done = response.get_ref().done, "shard completed")
        }
        Err(status) => {
            tracing::warn!(shard_id = %lease.shard_id, message = status.message(), "completing the shard failed; its lease will expire and the coordinator will check it")
        }
    }
}

enum ReportOutcome {
    Accepted,
    LeaseLost,
    Retry,
}

async fn report(
    client: &AuthedClient,
    config: &WorkerConfig,
    run_id: &str,
    shard_id: &str,
    epoch: u64,
    results: Vec<ItemResult>,
    throttle_waits: u32,
) -> ReportOutcome {
    let response = client
        .clone()
        .report_results(ReportResultsRequest {
            worker_id: config.worker_id.clone(),
            run_id: run_id.to_string(),
            shard_id: shard_id.to_string(),
            epoch,
            results,
            throttle_waits,
        })
        .await;
    match response {
        Ok(_) => ReportOutcome::Accepted,
        Err(status)
            if status.code() == tonic::Code::FailedPrecondition
                || status.code() == tonic::Code::NotFound =>
        {
            tracing::warn!(
                shard_id,
                epoch,
                message = status.message(),
                "report refused; dropping the shard"
            );
            ReportOutcome::LeaseLost
        }
        Err(status) => {
            tracing::warn!(shard_id, code = ?status.code(), message = status.message(), "report failed; will retry");
            ReportOutcome::Retry
        }
    }
}

/// The run's judge model as a worker calls it: its configuration, its key (or why there
/// is none), and this lease's share of its concurrency and rate, which the coordinator
/// sets so that all leases together keep the judge's own limits.
struct Judge {
    endpoint: v1::EndpointConfig,
    key: Result<Option<String>, String>,
    permits: Semaphore,
    limiter: Arc<RateLimiter>,
}

/// Asks the judge model to grade `result`'s answer and stores its reply in
/// `result.judge_text`. A judge that cannot be reached makes the item an error (the answer
/// is kept in the result for the record), so `jianzhen retry` asks both again.
async fn judge_answer(
    http: &EndpointHttp,
    judge: Option<&Judge>,
    call: &v1::JudgeCall,
    result: &mut ItemResult,
    signal: &ThrottleSignal,
) {
    let Some(Judge {
        endpoint,
        key,
        permits,
        limiter,
    }) = judge
    else {
        result.error_class = ErrorClass::Config as i32;
        result.error_message =
            "the item is graded by a judge model, but the lease names none; add [judge] to the run spec".to_string();
        return;
    };
    let key = match key {
        Ok(key) => key.as_deref(),
        Err(problem) => {
            result.error_class = ErrorClass::Config as i32;
            result.error_message = format!("judge: {problem}");
            return;
        }
    };
    let messages = [
        v1::ChatMessage {
            role: "system".to_string(),
            content: call.system.clone(),
        },
        v1::ChatMessage {
            role: "user".to_string(),
            content: call
                .user_template
                .replace("{predicted_answer}", &result.text),
        },
    ];
    // Closed only when the lease ends, which cannot happen while its items run.
    let Ok(_judge_permit) = permits.acquire().await else {
        result.error_class = ErrorClass::Config as i32;
        result.error_message = "the judge's request slots were closed".to_string();
        return;
    };
    let verdict = complete(
        http,
        endpoint,
        key,
        Call::Chat {
            messages: &messages,
            top_logprobs: 0,
        },
        limiter,
        signal,
    )
    .await;
    result.attempts += verdict.attempts;
    result.throttled += verdict.throttled;
    if verdict.error_class != ErrorClass::None as i32 {
        result.error_class = verdict.error_class;
        result.error_message = format!("judge `{}`: {}", endpoint.name, verdict.error_message);
        result.http_status = verdict.http_status;
        return;
    }
    result.judge_text = verdict.text;
}

/// The endpoint's key: the one the lease carries (a registered endpoint), or the one in
/// the variable the spec names, if this worker allows that variable. `Ok(None)`: no key.
fn resolve_api_key(
    endpoint: &v1::EndpointConfig,
    config: &WorkerConfig,
) -> Result<Option<String>, String> {
    if !endpoint.api_key.is_empty() {
        return Ok(Some(endpoint.api_key.clone()));
    }
    if endpoint.api_key_env.is_empty() {
        return Ok(None);
    }
    let worker_id = &config.worker_id;
    if !config.allowed_key_envs.contains(&endpoint.api_key_env) {
        return Err(format!(
            "worker {worker_id} does not allow the key variable `{}` (endpoint `{}`); its operator must start it with --allow-key-env {}",
            endpoint.api_key_env, endpoint.name, endpoint.api_key_env
        ));
    }
    match std::env::var(&endpoint.api_key_env) {
        Ok(key) if !key.is_empty() => Ok(Some(key)),
        _ => Err(format!(
            "environment variable `{}` (the key of endpoint `{}`) is not set on worker {worker_id}; export it where the worker runs",
            endpoint.api_key_env, endpoint.name
        )),
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;

    fn endpoint(api_key_env: &str, api_key: &str) -> v1::EndpointConfig {
        v1::EndpointConfig {
            name: "acme".into(),
            api_key_env: api_key_env.into(),
            api_key: api_key.into(),
            ..Default::default()
        }
    }

    #[test]
    fn only_allowed_key_variables_are_read() {
        // PATH is set in every test environment: a spec naming it must not get its value.
        let mut config = WorkerConfig::new("http://127.0.0.1:1", "w1");
        let refused = resolve_api_key(&endpoint("PATH", ""), &config).expect_err("refused");
        assert!(refused.contains("--allow-key-env PATH"), "{refused}");
        config.allowed_key_envs.insert("PATH".into());
        let key = resolve_api_key(&endpoint("PATH", ""), &config).expect("allowed");
        assert_eq!(key, std::env::var("PATH").ok());
    }

    #[test]
    fn a_key_carried_by_the_lease_is_used_as_is() {
        let config = WorkerConfig::new("http://127.0.0.1:1", "w1");
        assert_eq!(
            resolve_api_key(&endpoint("", "sk-registered"), &config),
            Ok(Some("sk-registered".to_string()))
        );
        assert_eq!(resolve_api_key(&endpoint("", ""), &config), Ok(None));
    }
}
