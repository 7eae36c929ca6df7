//! The adaptive concurrency budget of an endpoint: additive increase, multiplicative
//! decrease (AIMD), as TCP does, driven by the throttling the workers report.
//!
//! Pure state on the caller's clock. The effective limit starts at the endpoint's
//! `max_concurrency`, halves when the endpoint throttles (at most once per cool-down, so
//! one burst of 429s from many requests in flight counts once), and grows by one per
//! period without throttling, never above the maximum or below one.

use std::time::Duration;

use tokio::time::Instant;

/// One halving per this window, however many throttled answers arrive in it.
pub const DECREASE_COOLDOWN: Duration = Duration::from_secs(2);
/// One step up per this window without throttling.
pub const INCREASE_PERIOD: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct AdaptiveBudget {
    max_concurrency: u32,
    effective: f64,
    throttled_total: u64,
    last_decrease: Option<Instant>,
    last_increase: Instant,
}

impl AdaptiveBudget {
    pub fn new(max_concurrency: u32, now: Instant) -> Self {
        AdaptiveBudget {
            max_concurrency: max_concurrency.max(1),
            effective: f64::from(max_concurrency.max(1)),
            throttled_total: 0,
            last_decrease: None,
            last_increase: now,
        }
    }

    /// The endpoint answered `events` requests with throttling (429 / 503).
    pub fn on_throttled(&mut self, events: u32, now: Instant) {
        if events == 0 {
            return;
        }
        self.throttled_total = self.throttled_total.saturating_add(u64::from(events));
        let cooled_down = self
            .last_decrease
            .is_none_or(|last| now.saturating_duration_since(last) >= DECREASE_COOLDOWN);
        if cooled_down {
            self.effective = (self.effective / 2.0).max(1.0);
            self.last_decrease = Some(now);
            self.last_increase = now;
        }
    }

    /// Answers arrived without throttling.
    pub fn on_unthrottled(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last_increase) < INCREASE_PERIOD {
            return;
        }
        if self
            .last_decrease
            .is_some_and(|last| now.saturating_duration_since(last) < INCREASE_PERIOD)
        {
            return;
        }
        self.effective = (self.effective + 1.0).min(f64::from(self.max_concurrency));
        self.last_increase = now;
    }

    /// Requests in flight allowed now.
    pub fn limit(&self) -> u32 {
        (self.effective.floor() as u32).clamp(1, self.max_concurrency)
    }

    pub fn effective(&self) -> f64 {
        self.effective
    }

    pub fn max_concurrency(&self) -> u32 {
        self.max_concurrency
    }

    pub fn throttled_total(&self) -> u64 {
        self.throttled_total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn throttling_halves_once_per_cooldown_and_recovers_one_step_at_a_time() {
        let mut budget = AdaptiveBudget::new(16, Instant::now());
        assert_eq!(budget.limit(), 16);
        budget.on_throttled(5, Instant::now());
        assert_eq!(budget.limit(), 8);
        // More 429s from the same burst do not halve again.
        tokio::time::advance(Duration::from_millis(500)).await;
        budget.on_throttled(3, Instant::now());
        assert_eq!(budget.limit(), 8);
        tokio::time::advance(DECREASE_COOLDOWN).await;
        budget.on_throttled(1, Instant::now());
        assert_eq!(budget.limit(), 4);
        assert_eq!(budget.throttled_total(), 9);
        // Quiet periods grow it back by one each, up to the maximum.
        for expected in 5..=16 {
            tokio::time::advance(INCREASE_PERIOD).await;
            budget.on_unthrottled(Instant::now());
            assert_eq!(budget.limit(), expected);
        }
        tokio::time::advance(INCREASE_PERIOD).await;
        budget.on_unthrottled(Instant::now());
        assert_eq!(budget.limit(), 16, "never above the maximum");
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_never_drops_below_one() {
        let mut budget = AdaptiveBudget::new(3, Instant::now());
        for _ in 0..10 {
            tokio::time::advance(DECREASE_COOLDOWN).await;
            budget.on_throttled(1, Instant::now());
        }
        assert_eq!(budget.limit(), 1);
    }
}
