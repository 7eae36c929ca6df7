//! Leases: who holds which shard, under which epoch, until when.
//!
//! Pure state driven by the caller's clock (`tokio::time::Instant`, so tests pause time).
//! Two clocks, kept apart on purpose: worker *liveness* (heartbeats, TTL) and shard
//! *progress* (a deadline pushed back only when an item result arrives). A worker that is
//! alive but stuck on one hung request loses its shard to the progress deadline.
//! A lease whose requests the endpoint throttles is not stuck: the endpoint answers
//! "later". Its holder says so (`throttle_waits` on a report) and the deadline moves too,
//! but only within the run's throttle deadline after the last stored result, so a worker
//! cannot keep a shard by claiming throttling forever.
//!
//! Epochs come from the store (they only grow, across restarts); this table only holds
//! the live ones. A report is accepted only for the exact (shard, epoch, worker) held.
//!
//! A lease is first *reserved* (no epoch yet) while its caller reads the shard's items and
//! claims it in the store, then *confirmed* with the epoch the store gave, or cancelled.
//! A reserved shard counts as leased (no second caller may reserve it) and its shares
//! count against the budgets, but no report is accepted for it and it never expires: its
//! caller resolves it.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

/// Identifies a shard across runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardRef {
    pub run_id: String,
    pub shard_id: String,
}

/// The concurrency budget is held per endpoint of a run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointRef {
    pub run_id: String,
    pub endpoint: String,
}

#[derive(Debug, Clone)]
struct Lease {
    worker_id: String,
    /// `None` while the lease is reserved: its caller is claiming it in the store.
    epoch: Option<u64>,
    endpoint: EndpointRef,
    concurrency_share: u32,
    judge_share: u32,
    progress_timeout: Duration,
    progress_deadline: Instant,
    /// How long after the last real progress throttled waits may still push the
    /// deadline back (the run's throttle deadline).
    throttle_allowance: Duration,
    /// When the lease was granted or last stored a result.
    last_progress: Instant,
}

/// A lease to grant.
#[derive(Debug, Clone)]
pub struct Grant {
    pub shard: ShardRef,
    pub endpoint: EndpointRef,
    pub worker_id: String,
    /// The epoch the store assigned to this lease.
    pub epoch: u64,
    /// Requests in flight the holder may have against the endpoint.
    pub concurrency_share: u32,
    /// Requests in flight the holder may have against the run's judge model (0 when
    /// the shard has no judged item).
    pub judge_share: u32,
    pub progress_timeout: Duration,
    /// The endpoint's throttle deadline: see [`LeaseTable::record_throttle_wait`].
    pub throttle_allowance: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryReason {
    /// The holder stopped heartbeating (crashed, partitioned).
    WorkerLost,
    /// The holder is alive but no result arrived before the progress deadline.
    NoProgress,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredLease {
    pub shard: ShardRef,
    pub epoch: u64,
    pub worker_id: String,
    pub reason: ExpiryReason,
}

#[derive(Debug)]
pub struct LeaseTable {
    heartbeat_ttl: Duration,
    workers: HashMap<String, Instant>,
    /// When each worker last asked for work: a registered worker that never asks (or a
    /// flood of made-up worker ids) must not dilute the shares of the ones that work.
    asked: HashMap<String, Instant>,
    leases: HashMap<ShardRef, Lease>,
    /// Shards whose items call the run's judge model, learned when their items are first
    /// loaded, so that a spent judge budget skips them without loading them again.
    judged_shards: HashSet<ShardRef>,
}

impl LeaseTable {
    pub fn new(heartbeat_ttl: Duration) -> Self {
        LeaseTable {
            heartbeat_ttl,
            workers: HashMap::new(),
            asked: HashMap::new(),
            leases: HashMap::new(),
            judged_shards: HashSet::new(),
        }
    }

    pub fn heartbeat_ttl(&self) -> Duration {
        self.heartbeat_ttl
    }

    /// Records a sign of life. Returns false for a worker this table does not know, which
    /// must register again (its leases, if any, are gone).
    pub fn heartbeat(&mut self, worker_id: &str, now: Instant) -> bool {
        match self.workers.get_mut(worker_id) {
            Some(last_seen) => {
                *last_seen = (*last_seen).max(now);
                true
            }
            None => false,
        }
    }

    pub fn register(&mut self, worker_id: &str, now: Instant) {
        self.workers.insert(worker_id.to_string(), now);
    }

    pub fn is_alive(&self, worker_id: &str, now: Instant) -> bool {
        self.workers.get(worker_id).is_some_and(|last_seen| {
            now.saturating_duration_since(*last_seen) <= self.heartbeat_ttl
        })
    }

    pub fn alive_workers(&self, now: Instant) -> usize {
        self.workers
            .values()
            .filter(|last_seen| now.saturating_duration_since(**last_seen) <= self.heartbeat_ttl)
            .count()
    }

    /// Records that a worker asked for a lease.
    pub fn note_asked(&mut self, worker_id: &str, now: Instant) {
        self.asked.insert(worker_id.to_string(), now);
    }

    /// The live workers that hold a lease or asked for one within a heartbeat TTL: the
    /// ones budgets are split over.
    pub fn working_workers(&self, now: Instant) -> usize {
        self.workers
            .iter()
            .filter(|(_, last_seen)| {
                now.saturating_duration_since(**last_seen) <= self.heartbeat_ttl
            })
            .filter(|(worker_id, _)| {
                self.asked.get(*worker_id).is_some_and(|asked| {
                    now.saturating_duration_since(*asked) <= self.heartbeat_ttl
                }) || self
                    .leases
                    .values()
                    .any(|lease| &lease.worker_id == *worker_id)
            })
            .count()
    }

    pub fn is_leased(&self, shard: &ShardRef) -> bool {
        self.leases.contains_key(shard)
    }

    pub fn leased_count(&self) -> usize {
        self.leases.len()
    }

    /// How much of an endpoint's concurrency budget the live leases hold. A worker holding
    /// several leases of one endpoint (the next shard, prefetched while the current one
    /// drains) runs all their items within one pool of slots, so it counts once, with
    /// the largest of its shares.
    pub fn granted_concurrency(&self, endpoint: &EndpointRef) -> u32 {
        let mut by_worker: HashMap<&str, u32> = HashMap::new();
        for lease in self
            .leases
            .values()
            .filter(|lease| &lease.endpoint == endpoint)
        {
            let share = by_worker.entry(lease.worker_id.as_str()).or_insert(0);
            *share = (*share).max(lease.concurrency_share);
        }
        by_worker.values().sum()
    }

    /// The largest share `worker_id`'s leases of `endpoint` hold (0: none).
    fn worker_share(&self, endpoint: &EndpointRef, worker_id: &str) -> u32 {
        self.leases
            .values()
            .filter(|lease| &lease.endpoint == endpoint && lease.worker_id == worker_id)
            .map(|lease| lease.concurrency_share)
            .max()
            .unwrap_or(0)
    }

    /// The share a new lease on `endpoint` may take, or `None` when the budget is spent.
    /// Shares are split evenly over the live workers so that one worker cannot take the
    /// whole budget while others idle, and their sum never exceeds `max_concurrency`.
    pub fn concurrency_share(
        &self,
        endpoint: &EndpointRef,
        max_concurrency: u32,
        now: Instant,
    ) -> Option<u32> {
        let remaining = max_concurrency.saturating_sub(self.granted_concurrency(endpoint));
        self.even_share_within(remaining, max_concurrency, now)
    }

    /// As [`LeaseTable::concurrency_share`], for a lease asked by `worker_id`: the share
    /// it already holds on `endpoint` counts as its own, so a worker prefetching its next
    /// shard gets it within the share it has (its slots carry over from one shard to the
    /// next) instead of being refused because the budget is all granted. The budget still
    /// holds: the worker counts once, with its largest share.
    pub fn concurrency_share_for(
        &self,
        endpoint: &EndpointRef,
        max_concurrency: u32,
        worker_id: &str,
        now: Instant,
    ) -> Option<u32> {
        let others = self
            .granted_concurrency(endpoint)
            .saturating_sub(self.worker_share(endpoint, worker_id));
        let remaining = max_concurrency.saturating_sub(others);
        self.even_share_within(remaining, max_concurrency, now)
    }

    fn even_share_within(&self, remaining: u32, max_concurrency: u32, now: Instant) -> Option<u32> {
        if remaining == 0 {
            return None;
        }
        let workers = self.working_workers(now).max(1) as u32;
        let even_share = max_concurrency.div_ceil(workers).max(1);
        Some(even_share.min(remaining))
    }

    /// The judge share a new lease of `run_id` may take: at most `wanted` (its endpoint
    /// share, as each of its items calls the judge once), an even split of the judge's
    /// `max_concurrency` over the live workers, and what is left of it; `None` when the
    /// judge's budget is spent. The judge is one model for the whole run, so its budget
    /// spans every endpoint's leases: without it, N endpoints × their concurrency would
    /// call the judge at once.
    pub fn judge_share(
        &self,
        run_id: &str,
        max_concurrency: u32,
        wanted: u32,
        now: Instant,
    ) -> Option<u32> {
        let granted: u32 = self
            .leases
            .values()
            .filter(|lease| lease.endpoint.run_id == run_id)
            .map(|lease| lease.judge_share)
            .sum();
        let max_concurrency = max_concurrency.max(1);
        let remaining = max_concurrency.saturating_sub(granted);
        let workers = self.working_workers(now).max(1) as u32;
        let even_share = max_concurrency.div_ceil(workers).max(1);
        (remaining > 0).then(|| wanted.max(1).min(even_share).min(remaining))
    }

    /// Whether `shard`'s items were seen to call the judge.
    pub fn is_judged_shard(&self, shard: &ShardRef) -> bool {
        self.judged_shards.contains(shard)
    }

    pub fn note_judged_shard(&mut self, shard: &ShardRef) {
        self.judged_shards.insert(shard.clone());
    }

    /// Reserves `shard` for `worker_id` before it is claimed in the store: nobody else may
    /// reserve it, and `concurrency_share` counts against the endpoint's budget. Returns
    /// false (and changes nothing) when the shard is leased or reserved already.
    pub fn reserve(
        &mut self,
        shard: &ShardRef,
        endpoint: &EndpointRef,
        worker_id: &str,
        concurrency_share: u32,
        now: Instant,
    ) -> bool {
        if self.leases.contains_key(shard) {
            return false;
        }
        self.leases.insert(
            shard.clone(),
            Lease {
                worker_id: worker_id.to_string(),
                epoch: None,
                endpoint: endpoint.clone(),
                concurrency_share,
                judge_share: 0,
                progress_timeout: Duration::ZERO,
                progress_deadline: now,
                throttle_allowance: Duration::ZERO,
                last_progress: now,
            },
        );
        true
    }

    /// Sets the judge share of `worker_id`'s reservation of `shard`.
    pub fn set_reserved_judge_share(&mut self, shard: &ShardRef, worker_id: &str, share: u32) {
        if let Some(lease) = self.reserved_by_mut(shard, worker_id) {
            lease.judge_share = share;
        }
    }

    /// Turns `worker_id`'s reservation of `shard` into a lease under `epoch` (the store
    /// claimed it). Returns false when there is no such reservation.
    pub fn confirm(
        &mut self,
        shard: &ShardRef,
        worker_id: &str,
        epoch: u64,
        progress_timeout: Duration,
        throttle_allowance: Duration,
        now: Instant,
    ) -> bool {
        let Some(lease) = self.reserved_by_mut(shard, worker_id) else {
            return false;
        };
        lease.epoch = Some(epoch);
        lease.progress_timeout = progress_timeout;
        lease.progress_deadline = now + progress_timeout;
        lease.throttle_allowance = throttle_allowance;
        lease.last_progress = now;
        true
    }

    /// Drops `worker_id`'s reservation of `shard` (the claim did not happen or was undone).
    pub fn cancel_reservation(&mut self, shard: &ShardRef, worker_id: &str) -> bool {
        if self.reserved_by_mut(shard, worker_id).is_none() {
            return false;
        }
        self.leases.remove(shard);
        true
    }

    fn reserved_by_mut(&mut self, shard: &ShardRef, worker_id: &str) -> Option<&mut Lease> {
        self.leases
            .get_mut(shard)
            .filter(|lease| lease.epoch.is_none() && lease.worker_id == worker_id)
    }

    /// Reservations whose claim is in flight.
    pub fn reserved(&self) -> usize {
        self.leases
            .values()
            .filter(|lease| lease.epoch.is_none())
            .count()
    }

    /// Grants a lease. The caller has already raised the shard's epoch in the store.
    pub fn grant(&mut self, grant: Grant, now: Instant) {
        self.leases.insert(
            grant.shard,
            Lease {
                worker_id: grant.worker_id,
                epoch: Some(grant.epoch),
                endpoint: grant.endpoint,
                concurrency_share: grant.concurrency_share,
                judge_share: grant.judge_share,
                progress_timeout: grant.progress_timeout,
                progress_deadline: now + grant.progress_timeout,
                throttle_allowance: grant.throttle_allowance,
                last_progress: now,
            },
        );
    }

    /// Leases held right now (reservations not counted).
    pub fn held(&self) -> usize {
        self.leases
            .values()
            .filter(|lease| lease.epoch.is_some())
            .count()
    }

    /// True when `worker_id` holds `shard` under exactly `epoch`.
    pub fn holds(&self, shard: &ShardRef, epoch: u64, worker_id: &str) -> bool {
        self.leases
            .get(shard)
            .is_some_and(|lease| lease.epoch == Some(epoch) && lease.worker_id == worker_id)
    }

    /// Results arrived: push the progress deadline back. The deadline only moves later.
    ///
    /// The holder's other leases of the same endpoint are pushed back too: a worker runs
    /// all its leases of an endpoint on one pool of request slots, so a lease it leased
    /// ahead waits for the slots the current one frees. Progress on the pool is progress
    /// for each of them; without this, a prefetched lease behind slow or retried requests
    /// expired while healthy and its items were asked twice.
    pub fn record_progress(&mut self, shard: &ShardRef, now: Instant) {
        let Some(lease) = self
            .leases
            .get_mut(shard)
            .filter(|lease| lease.epoch.is_some())
        else {
            return;
        };
        lease.progress_deadline = lease.progress_deadline.max(now + lease.progress_timeout);
        lease.last_progress = lease.last_progress.max(now);
        let (worker_id, endpoint) = (lease.worker_id.clone(), lease.endpoint.clone());
        for sibling in self.leases.values_mut().filter(|other| {
            other.epoch.is_some() && other.worker_id == worker_id && other.endpoint == endpoint
        }) {
            sibling.progress_deadline = sibling
                .progress_deadline
                .max(now + sibling.progress_timeout);
        }
    }

    /// The holder's requests are being throttled: the endpoint answers, so the lease is
    /// not stuck. Pushes the progress deadline back like a result would, as long as `now`
    /// lies within the throttle allowance after the last real progress; returns whether
    /// it did. Items give up on throttling at the same deadline, so past it a lease with
    /// no results is stuck after all.
    pub fn record_throttle_wait(&mut self, shard: &ShardRef, now: Instant) -> bool {
        let Some(lease) = self
            .leases
            .get_mut(shard)
            .filter(|lease| lease.epoch.is_some())
        else {
            return false;
        };
        if now > lease.last_progress + lease.throttle_allowance {
            return false;
        }
        lease.progress_deadline = lease.progress_deadline.max(now + lease.progress_timeout);
        true
    }

    /// Ends a lease (shard finished or given back). Only the current holder may release.
    pub fn release(&mut self, shard: &ShardRef, epoch: u64, worker_id: &str) -> bool {
        if !self.holds(shard, epoch, worker_id) {
            return false;
        }
        self.leases.remove(shard);
        true
    }

    /// Removes and returns every lease whose holder is dead or whose progress deadline
    /// passed; forgets workers not seen for a TTL. Reservations stay: their callers
    /// resolve them (a reservation confirmed for a forgotten worker expires next time).
    pub fn expire(&mut self, now: Instant) -> Vec<ExpiredLease> {
        let mut expired = Vec::new();
        let dead: Vec<String> = self
            .workers
            .iter()
            .filter(|(_, last_seen)| {
                now.saturating_duration_since(**last_seen) > self.heartbeat_ttl
            })
            .map(|(worker_id, _)| worker_id.clone())
            .collect();
        for worker_id in &dead {
            self.workers.remove(worker_id);
            self.asked.remove(worker_id);
        }
        self.leases.retain(|shard, lease| {
            let Some(epoch) = lease.epoch else {
                return true;
            };
            let reason = if !self.workers.contains_key(&lease.worker_id) {
                Some(ExpiryReason::WorkerLost)
            } else if now > lease.progress_deadline {
                Some(ExpiryReason::NoProgress)
            } else {
                None
            };
            match reason {
                Some(reason) => {
                    expired.push(ExpiredLease {
                        shard: shard.clone(),
                        epoch,
                        worker_id: lease.worker_id.clone(),
                        reason,
                    });
                    false
                }
                None => true,
            }
        });
        expired.sort_by(|a, b| a.shard.cmp(&b.shard));
        expired
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

    fn grant(shard: ShardRef, worker_id: &str, epoch: u64, concurrency_share: u32) -> Grant {
        Grant {
            shard,
            endpoint: endpoint(),
            worker_id: worker_id.to_string(),
            epoch,
            concurrency_share,
            judge_share: 0,
            progress_timeout: PROGRESS,
            throttle_allowance: THROTTLE_ALLOWANCE,
        }
    }

    const THROTTLE_ALLOWANCE: Duration = Duration::from_secs(300);

    #[tokio::test(start_paused = true)]
    async fn throttled_waits_hold_a_lease_only_within_the_throttle_allowance() {
        let mut table = LeaseTable::new(TTL);
        table.register("w1", Instant::now());
        table.grant(grant(shard("s1"), "w1", 1, 2), Instant::now());
        // The endpoint throttles for 4 minutes, longer than the 60 s progress deadline:
        // the lease holds while its holder keeps saying so.
        for _ in 0..8 {
            tokio::time::advance(Duration::from_secs(30)).await;
            table.heartbeat("w1", Instant::now());
            assert!(table.record_throttle_wait(&shard("s1"), Instant::now()));
            assert!(
                table.expire(Instant::now()).is_empty(),
                "throttled, not stuck"
            );
        }
        // A result resets the allowance...
        table.record_progress(&shard("s1"), Instant::now());
        for _ in 0..10 {
            tokio::time::advance(Duration::from_secs(30)).await;
            table.heartbeat("w1", Instant::now());
            table.record_throttle_wait(&shard("s1"), Instant::now());
            assert!(table.expire(Instant::now()).is_empty());
        }
        // ...but claims of throttling past it move nothing: the lease expires.
        for _ in 0..4 {
            tokio::time::advance(Duration::from_secs(30)).await;
            table.heartbeat("w1", Instant::now());
            assert!(!table.record_throttle_wait(&shard("s1"), Instant::now()));
            let expired = table.expire(Instant::now());
            if !expired.is_empty() {
                assert_eq!(expired[0].reason, ExpiryReason::NoProgress);
                return;
            }
        }
        panic!("a lease throttled past its allowance must expire");
    }

    const TTL: Duration = Duration::from_secs(10);
    const PROGRESS: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn a_dead_worker_loses_its_lease_after_the_ttl() {
        let mut table = LeaseTable::new(TTL);
        let start = Instant::now();
        table.register("w1", start);
        table.grant(grant(shard("s1"), "w1", 1, 2), start);
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(table.expire(Instant::now()).is_empty(), "within the TTL");
        tokio::time::advance(Duration::from_secs(2)).await;
        let expired = table.expire(Instant::now());
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].reason, ExpiryReason::WorkerLost);
        assert!(!table.holds(&shard("s1"), 1, "w1"));
        assert!(
            !table.heartbeat("w1", Instant::now()),
            "a forgotten worker must register again"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeats_keep_a_worker_alive_but_do_not_extend_progress() {
        let mut table = LeaseTable::new(TTL);
        table.register("w1", Instant::now());
        table.grant(grant(shard("s1"), "w1", 3, 2), Instant::now());
        // The progress deadline is 60 s away; heartbeat every 5 s for 70 s.
        for _ in 0..14 {
            tokio::time::advance(Duration::from_secs(5)).await;
            assert!(table.heartbeat("w1", Instant::now()));
            let expired = table.expire(Instant::now());
            if !expired.is_empty() {
                assert_eq!(expired[0].reason, ExpiryReason::NoProgress);
                assert_eq!(expired[0].epoch, 3);
                assert!(
                    table.is_alive("w1", Instant::now()),
                    "the worker itself stays alive"
                );
                return;
            }
        }
        panic!("a stuck lease must expire on its progress deadline");
    }

    #[tokio::test(start_paused = true)]
    async fn progress_pushes_the_deadline_back() {
        let mut table = LeaseTable::new(TTL);
        table.register("w1", Instant::now());
        table.grant(grant(shard("s1"), "w1", 1, 2), Instant::now());
        for _ in 0..10 {
            tokio::time::advance(Duration::from_secs(30)).await;
            table.heartbeat("w1", Instant::now());
            table.record_progress(&shard("s1"), Instant::now());
            assert!(table.expire(Instant::now()).is_empty());
        }
        assert!(table.holds(&shard("s1"), 1, "w1"));
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_exact_epoch_and_holder_are_accepted() {
        let mut table = LeaseTable::new(TTL);
        table.register("w1", Instant::now());
        table.register("w2", Instant::now());
        table.grant(grant(shard("s1"), "w1", 4, 2), Instant::now());
        assert!(table.holds(&shard("s1"), 4, "w1"));
        assert!(!table.holds(&shard("s1"), 3, "w1"), "stale epoch");
        assert!(!table.holds(&shard("s1"), 4, "w2"), "other worker");
        assert!(!table.release(&shard("s1"), 4, "w2"));
        assert!(table.release(&shard("s1"), 4, "w1"));
        assert!(!table.is_leased(&shard("s1")));
    }

    #[tokio::test(start_paused = true)]
    async fn judge_shares_never_exceed_the_judge_budget_across_endpoints() {
        let mut table = LeaseTable::new(TTL);
        let now = Instant::now();
        // Two endpoints of one run share its judge (max 3); another run has its own.
        let mut granted = Vec::new();
        for (index, endpoint_name) in ["a", "b", "a", "b"].iter().enumerate() {
            let Some(share) = table.judge_share("run", 3, 2, now) else {
                granted.push(0);
                continue;
            };
            granted.push(share);
            table.grant(
                Grant {
                    endpoint: EndpointRef {
                        run_id: "run".into(),
                        endpoint: (*endpoint_name).into(),
                    },
                    judge_share: share,
                    ..grant(shard(&format!("s{index}")), "w1", 1, 2)
                },
                now,
            );
        }
        assert_eq!(
            granted,
            [2, 1, 0, 0],
            "the run's judge budget spans endpoints"
        );
        assert_eq!(table.judge_share("other-run", 3, 2, now), Some(2));
        // A lease that ends gives its judge share back.
        assert!(table.release(&shard("s0"), 1, "w1"));
        assert_eq!(table.judge_share("run", 3, 5, now), Some(2));
        // With two live workers, one lease takes at most half (rounded up) of a budget.
        table.register("w1", now);
        table.register("w2", now);
        table.note_asked("w2", now);
        assert_eq!(table.judge_share("fresh-run", 4, 4, now), Some(2));
    }

    #[tokio::test]
    async fn concurrency_shares_never_exceed_the_endpoint_budget() {
        let mut table = LeaseTable::new(TTL);
        let now = Instant::now();
        for worker in ["w1", "w2", "w3", "w4"] {
            table.register(worker, now);
            table.note_asked(worker, now);
        }
        let mut granted = 0;
        for (index, worker) in ["w1", "w2", "w3", "w4"].iter().enumerate() {
            match table.concurrency_share(&endpoint(), 3, now) {
                Some(share) => {
                    table.grant(grant(shard(&format!("s{index}")), worker, 1, share), now);
                    granted += share;
                }
                None => assert_eq!(granted, 3, "refused only when the budget is spent"),
            }
        }
        assert_eq!(table.granted_concurrency(&endpoint()), 3);
        assert!(table.concurrency_share(&endpoint(), 3, now).is_none());
        assert!(table.release(&shard("s0"), 1, "w1"));
        assert_eq!(table.concurrency_share(&endpoint(), 3, now), Some(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_reserved_shard_is_taken_counts_against_the_budget_and_never_expires() {
        let mut table = LeaseTable::new(TTL);
        let now = Instant::now();
        table.register("w1", now);
        table.register("w2", now);
        assert!(table.reserve(&shard("s1"), &endpoint(), "w1", 2, now));
        assert!(
            !table.reserve(&shard("s1"), &endpoint(), "w2", 1, now),
            "a reserved shard cannot be reserved again"
        );
        assert!(table.is_leased(&shard("s1")));
        assert_eq!(table.granted_concurrency(&endpoint()), 2);
        assert_eq!(table.concurrency_share(&endpoint(), 2, now), None);
        // No report is accepted for a reservation, whatever epoch is claimed.
        assert!(!table.holds(&shard("s1"), 0, "w1"));
        assert_eq!((table.held(), table.reserved()), (0, 1));
        // Its holder dies while claiming: the reservation stays until its caller ends it.
        tokio::time::advance(TTL * 2).await;
        assert!(table.expire(Instant::now()).is_empty());
        assert!(
            !table.cancel_reservation(&shard("s1"), "w2"),
            "only the reserving worker cancels"
        );
        assert!(!table.confirm(&shard("s1"), "w2", 5, PROGRESS, THROTTLE_ALLOWANCE, now));
        assert!(table.confirm(
            &shard("s1"),
            "w1",
            5,
            PROGRESS,
            THROTTLE_ALLOWANCE,
            Instant::now()
        ));
        assert!(table.holds(&shard("s1"), 5, "w1"));
        assert!(
            !table.cancel_reservation(&shard("s1"), "w1"),
            "a lease is not a reservation"
        );
        // Confirmed for a worker already forgotten: the next expiry ends it.
        let expired = table.expire(Instant::now());
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].reason, ExpiryReason::WorkerLost);
        assert_eq!(expired[0].epoch, 5);
        // A cancelled reservation frees the shard and its share.
        assert!(table.reserve(&shard("s2"), &endpoint(), "w2", 2, Instant::now()));
        assert!(table.cancel_reservation(&shard("s2"), "w2"));
        assert!(!table.is_leased(&shard("s2")));
        assert_eq!(table.granted_concurrency(&endpoint()), 0);
    }

    #[tokio::test]
    async fn a_worker_prefetching_its_next_shard_counts_once_against_the_budget() {
        let mut table = LeaseTable::new(TTL);
        let now = Instant::now();
        for worker in ["w1", "w2"] {
            table.register(worker, now);
            table.note_asked(worker, now);
        }
        table.grant(grant(shard("s1"), "w1", 1, 4), now);
        table.grant(grant(shard("s2"), "w2", 1, 4), now);
        assert_eq!(
            table.concurrency_share(&endpoint(), 8, now),
            None,
            "budget spent"
        );
        // w1 asks again while s1 drains: its next shard shares its 4 slots.
        assert_eq!(
            table.concurrency_share_for(&endpoint(), 8, "w1", now),
            Some(4)
        );
        table.grant(grant(shard("s3"), "w1", 1, 4), now);
        assert_eq!(table.granted_concurrency(&endpoint()), 8);
        // A third worker gets nothing: the budget is all held, prefetch or not.
        table.register("w3", now);
        table.note_asked("w3", now);
        assert_eq!(table.concurrency_share_for(&endpoint(), 8, "w3", now), None);
        // s1 ends; w1 still holds 4 through s3.
        assert!(table.release(&shard("s1"), 1, "w1"));
        assert_eq!(table.granted_concurrency(&endpoint()), 8);
        assert!(table.release(&shard("s3"), 1, "w1"));
        assert_eq!(table.granted_concurrency(&endpoint()), 4);
        assert_eq!(
            table.concurrency_share_for(&endpoint(), 8, "w3", now),
            Some(3),
            "an even split over three working workers"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn progress_on_one_lease_keeps_the_holders_prefetched_lease_of_that_endpoint_alive() {
        let mut table = LeaseTable::new(TTL);
        let start = Instant::now();
        for worker in ["w1", "w2"] {
            table.register(worker, start);
        }
        // w1 drains s1 and has leased s3 ahead; s3's items wait for s1's slots.
        table.grant(grant(shard("s1"), "w1", 1, 4), start);
        table.grant(grant(shard("s3"), "w1", 1, 4), start);
        table.grant(grant(shard("s2"), "w2", 1, 4), start);
        let later = start + PROGRESS - Duration::from_secs(1);
        table.record_progress(&shard("s1"), later);
        let first_check = start + PROGRESS + Duration::from_secs(1);
        for worker in ["w1", "w2"] {
            table.heartbeat(worker, first_check);
        }
        let expired: Vec<String> = table
            .expire(first_check)
            .into_iter()
            .map(|lease| lease.shard.shard_id)
            .collect();
        assert_eq!(
            expired,
            vec!["s2".to_string()],
            "w1's leases share the progress of its pool; w2's stalled lease expires"
        );
        // Without further progress, s1 and s3 expire one progress timeout later.
        let second_check = later + PROGRESS + Duration::from_secs(1);
        table.heartbeat("w1", second_check);
        let expired = table.expire(second_check);
        assert_eq!(expired.len(), 2, "{expired:?}");
        assert!(
            expired
                .iter()
                .all(|lease| lease.reason == ExpiryReason::NoProgress),
            "{expired:?}"
        );
    }

    #[tokio::test]
    async fn workers_that_never_ask_for_work_do_not_dilute_the_shares() {
        let mut table = LeaseTable::new(TTL);
        let now = Instant::now();
        table.register("real", now);
        table.note_asked("real", now);
        for index in 0..50 {
            table.register(&format!("fake-{index}"), now);
        }
        assert_eq!(table.alive_workers(now), 51);
        assert_eq!(table.working_workers(now), 1);
        assert_eq!(table.concurrency_share(&endpoint(), 8, now), Some(8));
        // A second worker that asks halves the share.
        table.register("second", now);
        table.note_asked("second", now);
        assert_eq!(table.concurrency_share(&endpoint(), 8, now), Some(4));
    }
}
