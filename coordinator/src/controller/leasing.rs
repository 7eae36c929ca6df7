//! Lease management: who holds which shard, the endpoints' adaptive budgets (AIMD), the
//! runs still being planned, and the requeues the store refused — one part of the
//! controller with its own state, in the manner of quickwit's control plane.
//!
//! # No lock across I/O
//! [`LeaseManager`] holds its state behind one `std::sync::Mutex` and has no `async`
//! method: every critical section is a few map operations, so the lock cannot be held
//! across a store round trip, and a heartbeat is answered while another call waits on
//! the database. The flows that do talk to the store (leasing, completing, sweeping) are
//! the `impl Controller` below; they take the lock in short steps before and after each
//! store call.
//!
//! # Why a shard is never leased twice
//! Leasing a shard takes three steps:
//! 1. **reserve** (in memory, under the lock): the shard is refused if any lease or
//!    reservation of it exists, or if its run is still being planned; otherwise it is
//!    recorded as reserved by this worker, with its budget shares counted;
//! 2. **claim** (in the store, no lock): `pending → leased` at epoch `e + 1`, only if the
//!    shard is still pending at the epoch `e` read with the queue
//!    ([`crate::store::Store::claim_pending_shard`]); a stale queue read (the shard
//!    finished, claimed or requeued since) claims nothing. The claim's epoch is known
//!    before it is sent, so even a claim whose answer never came back is given back
//!    fenced by that epoch;
//! 3. **confirm** (in memory, under the lock): the reservation becomes the lease under the
//!    store's epoch, unless a planning of the run began meanwhile (then the claim is
//!    undone, as its items may be answered by the cache).
//!
//! Step 1 is atomic in memory and step 2 in the store, so two callers can never both
//! hold a shard. A reservation whose caller goes away (an error, or a cancelled RPC)
//! is dropped by [`ShardReservation`]'s `Drop`, and a claim it made is requeued by the
//! next sweep. Finishing and requeueing are fenced by epoch in the store too, so a late
//! completion of an expired lease changes nothing there.
//!
//! # Planning
//! A run's shards are not leased while its plan is being inserted and its cached answers
//! filled ([`LeaseManager::begin_planning`]): a worker would ask the endpoint for items
//! the cache answers. The mark is in memory and no lock is held across the inserts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jianzhen_proto::v1;
use tokio::time::Instant;

use super::{Controller, gauge_value, lease_endpoint_config, now_ms};
use crate::budget::AdaptiveBudget;
use crate::error::CoordinatorError;
use crate::lease::{EndpointRef, ExpiredLease, ExpiryReason, LeaseTable, ShardRef};
use crate::request::ItemRequest;
use crate::spec::{EndpointSpec, RunSpec};
use crate::store::PendingShard;

/// The lease table, the budgets and the planning marks, behind one short-held lock.
#[derive(Debug)]
pub struct LeaseManager {
    state: Mutex<LeasingState>,
}

#[derive(Debug)]
struct LeasingState {
    /// Live workers, leases and reservations.
    table: LeaseTable,
    /// Adaptive concurrency budgets per endpoint of a run (AIMD on throttling).
    budgets: HashMap<EndpointRef, AdaptiveBudget>,
    /// Runs whose plan is being inserted and answered from the cache: their shards wait.
    planning: HashMap<String, Planning>,
    /// Shards whose lease ended (expired, or a claim abandoned) but whose requeue the
    /// store refused or that was never attempted: retried at every sweep, so no shard
    /// stays marked leased forever. Each is fenced by the epoch of the lease it ends.
    requeue_backlog: Vec<(ShardRef, u64)>,
}

/// The planning marks of one run.
#[derive(Debug, Default, Clone, Copy)]
struct Planning {
    /// Plannings in progress (two submits of one spec may overlap).
    active: usize,
    /// Plannings ever begun: a reservation made before one began is not confirmed.
    begun: u64,
}

/// What a lease on a pending shard may take, worked out under the lock.
#[derive(Debug, Clone, Copy)]
pub struct Reserved {
    /// Requests in flight the holder may have against the endpoint.
    pub concurrency_share: u32,
    /// Plannings of the run begun when the reservation was made.
    planning_begun: u64,
}

/// What a claimed lease is confirmed with.
#[derive(Debug, Clone, Copy)]
struct LeaseTerms {
    /// The epoch the store's claim gave.
    epoch: u64,
    progress_timeout: Duration,
    /// The endpoint's throttle deadline (see `LeaseTable::record_throttle_wait`).
    throttle_allowance: Duration,
}

/// A snapshot of the lease table, for status, metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseCounts {
    /// Leases held under an epoch.
    pub held: usize,
    /// Shards reserved while their claim is in the store.
    pub reserved: usize,
    pub workers_alive: usize,
}

/// An endpoint's budget as `status` shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetView {
    pub granted_concurrency: u32,
    /// The AIMD limit now and the throttled answers so far; `None` before any lease.
    pub adaptive: Option<(f64, u64)>,
}

impl LeaseManager {
    pub fn new(heartbeat_ttl: Duration) -> Self {
        LeaseManager {
            state: Mutex::new(LeasingState {
                table: LeaseTable::new(heartbeat_ttl),
                budgets: HashMap::new(),
                planning: HashMap::new(),
                requeue_backlog: Vec::new(),
            }),
        }
    }

    /// The state; a panic while it was held cannot leave it half-changed in a way that
    /// matters more than stopping leasing would, so a poisoned lock is taken over.
    fn state(&self) -> MutexGuard<'_, LeasingState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn register(&self, worker_id: &str, now: Instant) {
        self.state().table.register(worker_id, now);
    }

    /// Records a sign of life; false for a worker that must register again.
    pub fn heartbeat(&self, worker_id: &str, now: Instant) -> bool {
        self.state().table.heartbeat(worker_id, now)
    }

    /// A worker asks for work: a worker forgotten (after a restart or a long pause) is
    /// welcome back, and it counts for the budget split.
    pub fn note_asked(&self, worker_id: &str, now: Instant) {
        let mut state = self.state();
        if !state.table.is_alive(worker_id, now) {
            state.table.register(worker_id, now);
        }
        state.table.note_asked(worker_id, now);
    }

    pub fn counts(&self, now: Instant) -> LeaseCounts {
        let state = self.state();
        LeaseCounts {
            held: state.table.held(),
            reserved: state.table.reserved(),
            workers_alive: state.table.alive_workers(now),
        }
    }

    /// Marks `run_id` as being planned until the returned guard drops: none of its shards
    /// is reserved meanwhile, and a reservation made before is not confirmed.
    pub fn begin_planning(&self, run_id: &str) -> PlanningGuard<'_> {
        let mut state = self.state();
        let planning = state.planning.entry(run_id.to_string()).or_default();
        planning.active += 1;
        planning.begun += 1;
        PlanningGuard {
            manager: self,
            run_id: run_id.to_string(),
        }
    }

    /// Reserves `shard` for `worker_id` if nobody leases or reserves it, its run is not
    /// being planned, and its endpoint's budget (and, for a shard known to call the
    /// judge, the judge's) has room.
    pub fn reserve(
        &self,
        shard: &ShardRef,
        endpoint: &EndpointRef,
        max_concurrency: u32,
        judge_max_concurrency: Option<u32>,
        worker_id: &str,
        now: Instant,
    ) -> Option<Reserved> {
        let mut state = self.state();
        let state = &mut *state;
        let planning = state
            .planning
            .get(&shard.run_id)
            .copied()
            .unwrap_or_default();
        if planning.active > 0 || state.table.is_leased(shard) {
            return None;
        }
        let limit = state
            .budgets
            .entry(endpoint.clone())
            .or_insert_with(|| AdaptiveBudget::new(max_concurrency, now))
            .limit();
        // A worker asking while it holds a lease of this endpoint prefetches its next
        // shard: the lease shares its slots, so it counts once against the budget.
        let concurrency_share = state
            .table
            .concurrency_share_for(endpoint, limit, worker_id, now)?;
        // A shard known to call the judge waits, without loading its items, while the
        // run's judge budget is spent.
        let judge_spent = judge_max_concurrency.is_some_and(|judge_max| {
            state
                .table
                .judge_share(&shard.run_id, judge_max, 1, now)
                .is_none()
        });
        if judge_spent && state.table.is_judged_shard(shard) {
            return None;
        }
        if !state
            .table
            .reserve(shard, endpoint, worker_id, concurrency_share, now)
        {
            return None;
        }
        Some(Reserved {
            concurrency_share,
            planning_begun: planning.begun,
        })
    }

    /// The judge share of a reserved shard whose items call the judge: at most `wanted`,
    /// and `None` while the run's judge budget is spent.
    fn reserve_judge_share(
        &self,
        shard: &ShardRef,
        worker_id: &str,
        judge_max_concurrency: u32,
        wanted: u32,
        now: Instant,
    ) -> Option<u32> {
        let mut state = self.state();
        state.table.note_judged_shard(shard);
        let share = state
            .table
            .judge_share(&shard.run_id, judge_max_concurrency, wanted, now)?;
        state
            .table
            .set_reserved_judge_share(shard, worker_id, share);
        Some(share)
    }

    /// Confirms a claimed reservation under `terms.epoch`; false when a planning of the
    /// run began since it was reserved (the caller undoes the claim).
    fn confirm(
        &self,
        shard: &ShardRef,
        worker_id: &str,
        reserved: Reserved,
        terms: LeaseTerms,
        now: Instant,
    ) -> bool {
        let mut state = self.state();
        let planning = state
            .planning
            .get(&shard.run_id)
            .copied()
            .unwrap_or_default();
        if planning.active > 0 || planning.begun != reserved.planning_begun {
            return false;
        }
        let confirmed = state.table.confirm(
            shard,
            worker_id,
            terms.epoch,
            terms.progress_timeout,
            terms.throttle_allowance,
            now,
        );
        if confirmed && let Some(metrics) = crate::metrics::get() {
            metrics.leases_granted.inc();
            metrics.leases_held.set(gauge_value(state.table.held()));
        }
        confirmed
    }

    /// True when `worker_id` holds `shard` under exactly `epoch`.
    pub fn holds(&self, shard: &ShardRef, epoch: u64, worker_id: &str) -> bool {
        self.state().table.holds(shard, epoch, worker_id)
    }

    /// Whether any lease or reservation of `shard` exists.
    pub fn is_leased(&self, shard: &ShardRef) -> bool {
        self.state().table.is_leased(shard)
    }

    pub fn record_progress(&self, shard: &ShardRef, now: Instant) {
        self.state().table.record_progress(shard, now);
    }

    pub fn record_throttle_wait(&self, shard: &ShardRef, now: Instant) -> bool {
        self.state().table.record_throttle_wait(shard, now)
    }

    /// Ends a lease; returns the leases still held.
    pub fn release(&self, shard: &ShardRef, epoch: u64, worker_id: &str) -> usize {
        let mut state = self.state();
        state.table.release(shard, epoch, worker_id);
        state.table.held()
    }

    /// Removes every lease whose holder is dead or whose progress stalled; returns them
    /// and the leases still held.
    pub fn expire(&self, now: Instant) -> (Vec<ExpiredLease>, usize) {
        let mut state = self.state();
        let expired = state.table.expire(now);
        (expired, state.table.held())
    }

    fn take_backlog(&self) -> Vec<(ShardRef, u64)> {
        std::mem::take(&mut self.state().requeue_backlog)
    }

    fn defer_requeues(&self, shards: &[(ShardRef, u64)]) {
        self.state().requeue_backlog.extend_from_slice(shards);
    }

    /// Feeds the endpoint's adaptive budget: shrink on throttling, grow back without.
    pub fn record_throttling(&self, run_id: &str, endpoint: &str, throttled: u32, now: Instant) {
        let mut state = self.state();
        let key = EndpointRef {
            run_id: run_id.to_string(),
            endpoint: endpoint.to_string(),
        };
        let Some(budget) = state.budgets.get_mut(&key) else {
            return;
        };
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

    /// The budgets of `endpoints` of `run_id` and the live workers, read at one moment.
    pub fn budget_views(
        &self,
        run_id: &str,
        endpoints: &[EndpointSpec],
        now: Instant,
    ) -> (usize, Vec<BudgetView>) {
        let state = self.state();
        let views = endpoints
            .iter()
            .map(|endpoint| {
                let key = EndpointRef {
                    run_id: run_id.to_string(),
                    endpoint: endpoint.name.clone(),
                };
                BudgetView {
                    granted_concurrency: state.table.granted_concurrency(&key),
                    adaptive: state
                        .budgets
                        .get(&key)
                        .map(|budget| (budget.effective(), budget.throttled_total())),
                }
            })
            .collect();
        (state.table.alive_workers(now), views)
    }
}

/// Ends a planning mark when dropped (also on an error or a cancelled submit).
pub struct PlanningGuard<'a> {
    manager: &'a LeaseManager,
    run_id: String,
}

impl Drop for PlanningGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.manager.state();
        if let Some(planning) = state.planning.get_mut(&self.run_id) {
            planning.active = planning.active.saturating_sub(1);
        }
    }
}

/// Where a reservation's claim in the store stands, for its `Drop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// Not claimed (or the claim was refused or undone): nothing to requeue.
    None,
    /// The claim was sent (it would take this epoch) and its answer never came back.
    InFlight(u64),
    /// Claimed under this epoch.
    Held(u64),
}

/// A shard reserved in memory for one leasing call. Dropped without
/// [`ShardReservation::confirm`] succeeding, it cancels the reservation and leaves any
/// claim it made to the next sweep's requeue.
struct ShardReservation<'a> {
    manager: &'a LeaseManager,
    shard: ShardRef,
    worker_id: String,
    reserved: Reserved,
    claim: Claim,
    confirmed: bool,
}

impl ShardReservation<'_> {
    fn confirm(&mut self, terms: LeaseTerms) -> bool {
        self.confirmed = self.manager.confirm(
            &self.shard,
            &self.worker_id,
            self.reserved,
            terms,
            Instant::now(),
        );
        self.confirmed
    }
}

impl Drop for ShardReservation<'_> {
    fn drop(&mut self) {
        if self.confirmed {
            return;
        }
        let mut state = self.manager.state();
        state.table.cancel_reservation(&self.shard, &self.worker_id);
        match self.claim {
            Claim::None => {}
            // Requeueing is fenced by the epoch, so a claim that never committed (or a
            // shard leased again since) changes nothing.
            Claim::InFlight(epoch) | Claim::Held(epoch) => {
                state.requeue_backlog.push((self.shard.clone(), epoch));
            }
        }
    }
}

impl Controller {
    /// The lease table, budgets and planning marks.
    pub fn leasing(&self) -> &LeaseManager {
        &self.leasing
    }

    pub async fn register_worker(&self, worker_id: &str) {
        self.leasing.register(worker_id, Instant::now());
        tracing::info!(worker_id, "worker registered");
    }

    /// Records a worker's heartbeat; false when the worker must register again. Never
    /// waits for the store: the lease table's lock is never held across a store query.
    pub async fn heartbeat(&self, worker_id: &str) -> bool {
        self.leasing.heartbeat(worker_id, Instant::now())
    }

    /// Counts a report or completion refused by fencing (a stale or lost lease).
    pub(super) fn note_refused(&self) {
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
        self.leasing.note_asked(worker_id, Instant::now());
        for pending in self.store.pending_shards(500).await? {
            let shard = ShardRef {
                run_id: pending.run_id.clone(),
                shard_id: pending.shard_id.clone(),
            };
            // A shard leased already is skipped before its spec is even looked up.
            if self.leasing.is_leased(&shard) {
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
            let Some(reserved) = self.leasing.reserve(
                &shard,
                &endpoint_ref,
                endpoint.max_concurrency,
                spec.judge.as_ref().map(|judge| judge.max_concurrency),
                worker_id,
                Instant::now(),
            ) else {
                continue;
            };
            let reservation = ShardReservation {
                manager: &self.leasing,
                shard,
                worker_id: worker_id.to_string(),
                reserved,
                claim: Claim::None,
                confirmed: false,
            };
            if let Some(lease) = self
                .lease_reserved(reservation, pending, &spec, endpoint, trusted)
                .await?
            {
                return Ok(Some(lease));
            }
        }
        Ok(None)
    }

    /// Reads a reserved shard's items, claims it in the store and confirms the lease;
    /// `None` when the shard turns out to have nothing to lease to this worker.
    async fn lease_reserved(
        &self,
        mut reservation: ShardReservation<'_>,
        pending: PendingShard,
        spec: &RunSpec,
        endpoint: &EndpointSpec,
        trusted: bool,
    ) -> Result<Option<v1::ShardLease>, CoordinatorError> {
        let worker_id = reservation.worker_id.clone();
        let share = reservation.reserved.concurrency_share;
        let open_items = self
            .store
            .open_items(&pending.run_id, &pending.shard_id)
            .await?;
        if open_items.is_empty() {
            self.store
                .finish_shard(&pending.run_id, &pending.shard_id, now_ms())
                .await?;
            return Ok(None);
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
            return Ok(None);
        }
        let mut endpoint_config = lease_endpoint_config(endpoint, share);
        if endpoint.registered {
            endpoint_config.api_key = self.registered_key(&pending.run_id, &endpoint.name).await?;
        }
        // Judged items call the run's judge model once each: the lease needs a share of
        // the judge's concurrency too, or it waits like one over the budget.
        let judge_share = match &spec.judge {
            Some(judge) if judged => {
                let Some(judge_share) = self.leasing.reserve_judge_share(
                    &reservation.shard,
                    &worker_id,
                    judge.max_concurrency,
                    share,
                    Instant::now(),
                ) else {
                    return Ok(None);
                };
                judge_share
            }
            _ => 0,
        };
        reservation.claim = Claim::InFlight(pending.epoch.saturating_add(1));
        let Some(epoch) = self
            .store
            .claim_pending_shard(&pending.run_id, &pending.shard_id, pending.epoch)
            .await?
        else {
            // The queue was read before another caller finished or took the shard.
            reservation.claim = Claim::None;
            return Ok(None);
        };
        reservation.claim = Claim::Held(epoch);
        let progress_timeout = self.progress_timeout(spec, endpoint, &items);
        let throttle_allowance = endpoint.throttle_deadline_secs.map_or(
            jianzhen_proto::DEFAULT_THROTTLE_DEADLINE,
            Duration::from_secs,
        );
        if !reservation.confirm(LeaseTerms {
            epoch,
            progress_timeout,
            throttle_allowance,
        }) {
            // The run is being planned again (resubmitted): its cached answers may fill
            // the items read above, so the claim is given back; the shard is leased
            // again once the planning is done.
            self.store
                .requeue_leased_shard(&pending.run_id, &pending.shard_id, epoch)
                .await?;
            reservation.claim = Claim::None;
            return Ok(None);
        }
        tracing::debug!(worker_id, run_id = %pending.run_id, shard_id = %pending.shard_id, epoch, items = items.len(), share, "shard leased");
        Ok(Some(v1::ShardLease {
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
            progress_timeout_ms: u64::try_from(progress_timeout.as_millis()).unwrap_or(u64::MAX),
        }))
    }

    /// The progress deadline of a lease: the configured one, else the endpoint's timeout
    /// and attempts (plus the judge's, and the echo check's) with a margin.
    fn progress_timeout(
        &self,
        spec: &RunSpec,
        endpoint: &EndpointSpec,
        items: &[v1::ItemRequest],
    ) -> Duration {
        // A judged item waits for the judge too.
        let judge_secs = spec.judge.as_ref().map_or(0.0, |judge| {
            judge.timeout_secs * f64::from(judge.max_attempts)
        });
        // Echo-scored items wait for the worker's check of the endpoint's echo first.
        let echo_check_secs = if items.iter().any(|item| {
            matches!(
                item.request,
                Some(
                    v1::item_request::Request::LoglikEcho(_)
                        | v1::item_request::Request::PromptLogprobs(_)
                )
            )
        }) {
            jianzhen_proto::ECHO_CHECK_TIMEOUT.as_secs_f64()
        } else {
            0.0
        };
        self.config.progress_timeout.unwrap_or_else(|| {
            Duration::from_secs_f64(
                endpoint.timeout_secs * f64::from(endpoint.max_attempts)
                    + judge_secs
                    + echo_check_secs
                    + 30.0,
            )
        })
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
        let stale = |request: v1::CompleteShardRequest| CoordinatorError::StaleLease {
            shard_id: request.shard_id,
            epoch: request.epoch,
            worker_id: request.worker_id,
        };
        if !self
            .leasing
            .holds(&shard, request.epoch, &request.worker_id)
        {
            self.note_refused();
            return Err(stale(request));
        }
        // Fenced in the store by the epoch: if the lease expired and was requeued (or
        // leased again) while this ran, nothing changes and the holder is told.
        let Some(done) = self
            .store
            .finish_leased_shard(&request.run_id, &request.shard_id, request.epoch, now_ms())
            .await?
        else {
            self.leasing
                .release(&shard, request.epoch, &request.worker_id);
            self.note_refused();
            return Err(stale(request));
        };
        let held = self
            .leasing
            .release(&shard, request.epoch, &request.worker_id);
        if let Some(metrics) = crate::metrics::get() {
            metrics.leases_held.set(gauge_value(held));
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
        let (expired, held) = self.leasing.expire(Instant::now());
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
                    ExpiryReason::WorkerLost => "worker_lost",
                    ExpiryReason::NoProgress => "no_progress",
                };
                metrics.leases_expired.with_label_values(&[reason]).inc();
            }
        }
        if let Some(metrics) = crate::metrics::get() {
            metrics.leases_held.set(gauge_value(held));
        }
        // The expired leases are gone from the table: their shards must be marked pending
        // in the store, or they would stay leased and never be done. Shards whose requeue
        // failed at an earlier sweep (the store was unreachable) go first. Each requeue
        // is fenced by the epoch it ends, so a shard leased again since is left alone.
        let mut requeue = self.leasing.take_backlog();
        let retried = requeue.len();
        requeue.extend(
            expired
                .iter()
                .map(|lease| (lease.shard.clone(), lease.epoch)),
        );
        for (index, (shard, epoch)) in requeue.iter().enumerate() {
            if let Err(error) = self
                .store
                .requeue_leased_shard(&shard.run_id, &shard.shard_id, *epoch)
                .await
            {
                self.leasing.defer_requeues(&requeue[index..]);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: &str) -> ShardRef {
        ShardRef {
            run_id: "run".into(),
            shard_id: id.into(),
        }
    }

    fn endpoint() -> EndpointRef {
        EndpointRef {
            run_id: "run".into(),
            endpoint: "m".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_being_planned_is_not_reserved_and_a_reservation_from_before_is_not_confirmed() {
        let manager = LeaseManager::new(Duration::from_secs(10));
        let now = Instant::now();
        manager.register("w1", now);
        let planning = manager.begin_planning("run");
        assert!(
            manager
                .reserve(&shard("s1"), &endpoint(), 4, None, "w1", now)
                .is_none(),
            "no shard of a run being planned is reserved"
        );
        drop(planning);
        let reserved = manager
            .reserve(&shard("s1"), &endpoint(), 4, None, "w1", now)
            .expect("reserved once the planning is done");
        // A resubmission begins (and even ends) while the claim is in the store.
        drop(manager.begin_planning("run"));
        let terms = LeaseTerms {
            epoch: 1,
            progress_timeout: Duration::from_secs(60),
            throttle_allowance: Duration::from_secs(60),
        };
        assert!(!manager.confirm(&shard("s1"), "w1", reserved, terms, now));
        assert_eq!(manager.counts(now).held, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reservation_dropped_by_its_caller_is_cancelled_and_its_claim_requeued() {
        let manager = LeaseManager::new(Duration::from_secs(10));
        let now = Instant::now();
        manager.register("w1", now);
        for (claim, backlog) in [
            (Claim::None, Vec::new()),
            (Claim::InFlight(3), vec![(shard("s1"), 3)]),
            (Claim::Held(7), vec![(shard("s1"), 7)]),
        ] {
            let reserved = manager
                .reserve(&shard("s1"), &endpoint(), 4, None, "w1", now)
                .expect("free shard");
            let reservation = ShardReservation {
                manager: &manager,
                shard: shard("s1"),
                worker_id: "w1".into(),
                reserved,
                claim,
                confirmed: false,
            };
            assert!(manager.is_leased(&shard("s1")));
            drop(reservation);
            assert!(!manager.is_leased(&shard("s1")), "{claim:?}");
            assert_eq!(manager.take_backlog(), backlog, "{claim:?}");
        }
    }
}
