//! A requests-per-second limiter shared by the requests of one lease.
//!
//! Slots are handed out at fixed intervals: each caller takes the next free slot and
//! sleeps until it. No burst beyond one request, so the endpoint never sees more than its
//! share in any window, whatever the concurrency.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A worker keeps one limiter per endpoint across the leases it runs one after another,
/// so the spacing holds across lease boundaries too (a fresh limiter per lease would let
/// every new lease fire its first request at once).
#[derive(Debug)]
pub struct RateLimiter {
    state: Mutex<LimiterState>,
}

#[derive(Debug)]
struct LimiterState {
    interval: Option<Duration>,
    next_slot: Option<Instant>,
}

fn interval_for(requests_per_second: f64) -> Option<Duration> {
    (requests_per_second.is_finite() && requests_per_second > 0.0)
        .then(|| Duration::from_secs_f64(1.0 / requests_per_second))
}

impl RateLimiter {
    /// `requests_per_second` of 0 (or not finite) means no limit.
    pub fn new(requests_per_second: f64) -> Self {
        RateLimiter {
            state: Mutex::new(LimiterState {
                interval: interval_for(requests_per_second),
                next_slot: None,
            }),
        }
    }

    /// Changes the rate (a new lease may carry another share); the next slot already
    /// handed out stays.
    pub fn set_rate(&self, requests_per_second: f64) {
        if let Ok(mut state) = self.state.lock() {
            state.interval = interval_for(requests_per_second);
        }
    }

    /// Waits for this caller's slot.
    pub async fn acquire(&self) {
        let slot = {
            let Ok(mut state) = self.state.lock() else {
                return;
            };
            let Some(interval) = state.interval else {
                return;
            };
            let now = Instant::now();
            let slot = state.next_slot.map_or(now, |next| next.max(now));
            state.next_slot = Some(slot + interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_are_spaced_by_the_interval() {
        let limiter = RateLimiter::new(4.0);
        let start = Instant::now();
        for _ in 0..9 {
            limiter.acquire().await;
        }
        // 9 requests at 4/s: the last one starts 2 s after the first.
        assert_eq!(Instant::now().duration_since(start), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn spacing_holds_across_a_rate_change() {
        let limiter = RateLimiter::new(2.0);
        let start = Instant::now();
        limiter.acquire().await;
        limiter.acquire().await;
        // The slot after 0.5 s was already handed out at the old rate.
        limiter.set_rate(1.0);
        limiter.acquire().await;
        limiter.acquire().await;
        assert_eq!(Instant::now().duration_since(start), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_means_unlimited() {
        let limiter = RateLimiter::new(0.0);
        let start = Instant::now();
        for _ in 0..100 {
            limiter.acquire().await;
        }
        assert_eq!(Instant::now(), start);
    }
}
