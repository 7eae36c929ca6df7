//! The request slots a worker holds on one endpoint of a run, shared by every lease it
//! holds on that endpoint, and the signal that tells the worker loop to lease its next
//! shard before the current one drains.
//!
//! Why one pool per endpoint rather than one per lease: a shard's last requests leave
//! most of a lease's slots idle while they finish. With the pool carried over, the next
//! shard (leased ahead, while the current one's last items are in flight) takes each
//! slot as soon as it frees, and the endpoint never drains at a shard or subject
//! boundary. The coordinator counts a worker's leases of one endpoint once, with the
//! largest share, so the pool is sized by the newest lease's share.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::limiter::RateLimiter;

/// A worker's slots on one endpoint of one run.
#[derive(Debug)]
pub struct EndpointSlots {
    /// One permit per request the worker may have in flight against the endpoint.
    permits: Arc<Semaphore>,
    /// The pool's size: the concurrency share of the newest lease. Changed only by
    /// [`EndpointSlots::resize`].
    size: Mutex<usize>,
    /// Items of this worker's leases on the endpoint that wait for a slot: when fewer
    /// than the slots wait, slots will fall idle within one request's time unless more
    /// work is leased.
    waiting: AtomicUsize,
    /// Leases running on this pool: a pool with none has nothing to refill.
    leases: AtomicUsize,
    /// The concurrency and rate shares of the leases running on the pool, oldest first.
    /// The pool and the rate limiter follow the newest live lease, so when a lease ends
    /// they fall back to the newest one still running: the coordinator counts only live
    /// leases, and a pool left at an ended lease's larger share would exceed the budget.
    live_shares: Mutex<Vec<LiveShare>>,
    next_lease: AtomicU64,
    /// Wakes the worker loop when the pool runs short of waiting items.
    wants_work: Arc<Notify>,
    /// Times a lease on the pool passed on throttled waits: a lease whose items wait for
    /// slots that throttled requests hold waits on the endpoint's throttling too.
    throttled: AtomicU64,
}

impl EndpointSlots {
    pub fn new(size: u32, wants_work: Arc<Notify>) -> Self {
        let size = size.max(1) as usize;
        EndpointSlots {
            permits: Arc::new(Semaphore::new(size)),
            size: Mutex::new(size),
            waiting: AtomicUsize::new(0),
            leases: AtomicUsize::new(0),
            live_shares: Mutex::new(Vec::new()),
            next_lease: AtomicU64::new(0),
            wants_work,
            throttled: AtomicU64::new(0),
        }
    }

    /// The pool's size now.
    pub fn size(&self) -> usize {
        *self.size.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the pool to `share` slots (a new lease's share: the coordinator's budget may
    /// have grown or shrunk since the last). Growing adds slots at once; shrinking takes
    /// the free ones at once and the rest as requests in flight end, so the worker never
    /// has more requests in flight than the largest share it holds.
    pub fn resize(&self, share: u32) {
        let share = share.max(1) as usize;
        let mut size = self.size.lock().unwrap_or_else(PoisonError::into_inner);
        if share > *size {
            self.permits.add_permits(share - *size);
        } else if share < *size {
            let excess = *size - share;
            let forgotten = self.permits.forget_permits(excess);
            let still_held = excess - forgotten;
            if still_held > 0 {
                let permits = self.permits.clone();
                // Queued behind the items already waiting (the semaphore is fair), so the
                // current lease's items are not starved by the shrink.
                tokio::spawn(async move {
                    let Ok(count) = u32::try_from(still_held) else {
                        return;
                    };
                    if let Ok(taken) = permits.acquire_many_owned(count).await {
                        taken.forget();
                    }
                });
            }
        }
        *size = share;
    }

    /// Counts a lease running on the pool until the guard drops, and sizes the pool and
    /// the endpoint's rate limiter to the lease's shares (the newest lease's budget).
    pub fn lease_started(
        self: &Arc<Self>,
        share: u32,
        requests_per_second: f64,
        limiter: Arc<RateLimiter>,
    ) -> LeaseOnSlots {
        self.leases.fetch_add(1, Ordering::SeqCst);
        let lease = self.next_lease.fetch_add(1, Ordering::SeqCst);
        self.live_shares
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(LiveShare {
                lease,
                share,
                requests_per_second,
                limiter: limiter.clone(),
            });
        self.resize(share);
        limiter.set_rate(requests_per_second);
        LeaseOnSlots {
            slots: self.clone(),
            lease,
        }
    }

    /// A lease ended: the pool and the limiter go back to the newest lease still running.
    fn lease_ended(&self, lease: u64) {
        let newest = {
            let mut live = self
                .live_shares
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            live.retain(|entry| entry.lease != lease);
            live.last().map(|entry| {
                (
                    entry.share,
                    entry.requests_per_second,
                    entry.limiter.clone(),
                )
            })
        };
        if let Some((share, requests_per_second, limiter)) = newest {
            self.resize(share);
            limiter.set_rate(requests_per_second);
        }
    }

    /// Counts `count` items waiting for a slot; each one's [`WaitingItem`] uncounts it
    /// when it gets its slot or gives up.
    pub fn items_waiting(self: &Arc<Self>, count: usize) -> Vec<WaitingItem> {
        self.waiting.fetch_add(count, Ordering::SeqCst);
        (0..count)
            .map(|_| WaitingItem {
                slots: Some(self.clone()),
            })
            .collect()
    }

    /// True when a lease runs on the pool and fewer items wait than it has slots: the
    /// worker should lease more work now, so that it is there when the slots free.
    pub fn wants_work(&self) -> bool {
        self.leases.load(Ordering::SeqCst) > 0 && self.waiting.load(Ordering::SeqCst) < self.size()
    }

    /// A lease on the pool passed on throttled waits of its requests.
    pub fn note_throttled(&self) {
        self.throttled.fetch_add(1, Ordering::SeqCst);
    }

    /// How many times leases on the pool passed on throttled waits.
    pub fn throttled_count(&self) -> u64 {
        self.throttled.load(Ordering::SeqCst)
    }

    /// Closes the pool: no waiting item gets a slot any more (shutdown).
    pub fn close(&self) {
        self.permits.close();
    }

    fn item_left_the_queue(&self) {
        let before = self.waiting.fetch_sub(1, Ordering::SeqCst);
        if before <= self.size() {
            self.wants_work.notify_one();
        }
    }
}

/// The budget one running lease was granted on the pool's endpoint.
#[derive(Debug)]
struct LiveShare {
    lease: u64,
    share: u32,
    requests_per_second: f64,
    limiter: Arc<RateLimiter>,
}

/// A lease running on a pool of slots; uncounted when dropped.
#[derive(Debug)]
pub struct LeaseOnSlots {
    slots: Arc<EndpointSlots>,
    lease: u64,
}

impl Drop for LeaseOnSlots {
    fn drop(&mut self) {
        self.slots.lease_ended(self.lease);
        self.slots.leases.fetch_sub(1, Ordering::SeqCst);
        // The lease ended: its worker may have room for another.
        self.slots.wants_work.notify_one();
    }
}

/// An item waiting for a slot of the pool.
#[derive(Debug)]
pub struct WaitingItem {
    slots: Option<Arc<EndpointSlots>>,
}

impl WaitingItem {
    /// Waits for a slot; `None` when the pool was closed (shutdown). Either way the item
    /// no longer counts as waiting.
    pub async fn acquire(self) -> Option<OwnedSemaphorePermit> {
        let permits = self.slots.as_ref()?.permits.clone();
        let permit = permits.acquire_owned().await.ok();
        // Dropping `self` uncounts the item; a future dropped while it waits (its task
        // aborted) drops `self` too.
        drop(self);
        permit
    }
}

impl Drop for WaitingItem {
    fn drop(&mut self) {
        // An item dropped while waiting (its lease lost, the worker stopping) no longer
        // waits.
        if let Some(slots) = self.slots.take() {
            slots.item_left_the_queue();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_worker_is_told_to_lease_more_once_fewer_items_wait_than_there_are_slots() {
        let notify = Arc::new(Notify::new());
        let slots = Arc::new(EndpointSlots::new(2, notify.clone()));
        assert!(!slots.wants_work(), "no lease runs on the pool yet");
        let lease = slots.lease_started(2, 10.0, Arc::new(RateLimiter::new(10.0)));
        let mut waiting = slots.items_waiting(3);
        assert!(!slots.wants_work(), "three items wait for two slots");
        let first = waiting.remove(0).acquire().await.expect("a free slot");
        assert!(!slots.wants_work(), "two items wait for two slots");
        let _second = waiting.remove(0).acquire().await.expect("a free slot");
        assert!(slots.wants_work(), "one item waits for two slots");
        // The notification was stored for the worker loop.
        tokio::time::timeout(std::time::Duration::from_secs(1), notify.notified())
            .await
            .expect("the worker loop is woken");
        drop(first);
        drop(waiting);
        drop(lease);
        assert!(!slots.wants_work(), "no lease runs on the pool any more");
    }

    /// The reviewer's case: a worker holds lease A (share 4), prefetches B with share 8,
    /// and B ends first. The coordinator now counts the worker at 4 and grants the rest to
    /// others, so the pool must shrink back to A's 4, not stay at B's 8.
    #[tokio::test]
    async fn when_the_newest_lease_ends_the_pool_returns_to_the_share_of_the_one_still_running() {
        let limiter = Arc::new(RateLimiter::new(5.0));
        let slots = Arc::new(EndpointSlots::new(4, Arc::new(Notify::new())));
        let lease_a = slots.lease_started(4, 5.0, limiter.clone());
        assert_eq!(slots.size(), 4);
        let lease_b = slots.lease_started(8, 20.0, limiter.clone());
        assert_eq!(slots.size(), 8);
        drop(lease_b);
        assert_eq!(
            slots.size(),
            4,
            "back to the share of lease A, still running"
        );
        assert_eq!(slots.permits.available_permits(), 4);
        drop(lease_a);
        assert_eq!(
            slots.size(),
            4,
            "no lease runs: the next one sizes the pool"
        );
    }

    #[tokio::test]
    async fn resizing_never_leaves_more_requests_in_flight_than_the_larger_share() {
        let slots = Arc::new(EndpointSlots::new(4, Arc::new(Notify::new())));
        let mut held = Vec::new();
        for item in slots.items_waiting(3) {
            held.push(item.acquire().await.expect("a free slot"));
        }
        // One slot is free, two of the excess are held by requests in flight.
        slots.resize(1);
        assert_eq!(slots.size(), 1);
        assert_eq!(slots.permits.available_permits(), 0);
        held.pop();
        held.pop();
        // The shrink takes the freed slots; the last request in flight keeps its own.
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        assert_eq!(slots.permits.available_permits(), 0);
        held.pop();
        assert_eq!(slots.permits.available_permits(), 1);
        slots.resize(3);
        assert_eq!(slots.permits.available_permits(), 3);
    }
}
