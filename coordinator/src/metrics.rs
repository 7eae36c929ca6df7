//! The coordinator's Prometheus metrics: items stored by outcome, the queue, leases
//! granted / held / expired / handed back, shards requeued, reports refused by fencing,
//! throttled requests and each endpoint's effective concurrency. One registry per process ([`registry`]); the binary
//! serves it as text on `--metrics-listen` (`/metrics`).
//!
//! Counters move where the event happens (a result stored for the first time, a lease
//! expired), never from a scrape, so they agree with the store: the sum of
//! `jianzhen_items_total` over outcomes is the number of results stored since the
//! process started.

use std::sync::LazyLock;

use prometheus::{GaugeVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// The coordinator's metrics, registered in [`registry`].
pub struct CoordinatorMetrics {
    /// Results stored for the first time, by outcome (`correct`, `api_error`, …).
    pub items: IntCounterVec,
    /// Throttled requests (429 / 503) reported with stored results.
    pub throttled: IntCounter,
    pub leases_granted: IntCounter,
    /// Leases taken away, by reason (`worker_lost`, `no_progress`).
    pub leases_expired: IntCounterVec,
    /// Shards put back in the queue with items left, by why (`expired`, `handed_back`).
    pub shards_requeued: IntCounterVec,
    /// Leases held right now.
    pub leases_held: IntGauge,
    /// Shards waiting for a worker, and the items they hold.
    pub queue_shards: IntGauge,
    pub queue_items: IntGauge,
    /// Each endpoint's effective concurrency (AIMD budget), by run and endpoint.
    pub effective_concurrency: GaugeVec,
    /// Reports and completions refused by fencing: the lease expired or was granted again
    /// with a higher epoch (a worker that was cut off and came back).
    pub stale_reports: IntCounter,
}

fn build(registry: &Registry) -> Result<CoordinatorMetrics, prometheus::Error> {
    let metrics = CoordinatorMetrics {
        items: IntCounterVec::new(
            Opts::new(
                "jianzhen_items_total",
                "Item results stored for the first time, by outcome",
            ),
            &["outcome"],
        )?,
        throttled: IntCounter::new(
            "jianzhen_throttled_requests_total",
            "Requests the endpoints throttled (429/503), as reported with stored results",
        )?,
        leases_granted: IntCounter::new("jianzhen_leases_granted_total", "Shard leases granted")?,
        leases_expired: IntCounterVec::new(
            Opts::new(
                "jianzhen_leases_expired_total",
                "Leases expired, by reason (worker_lost, no_progress)",
            ),
            &["reason"],
        )?,
        shards_requeued: IntCounterVec::new(
            Opts::new(
                "jianzhen_shards_requeued_total",
                "Shards put back in the queue with items left, by why (expired, handed_back)",
            ),
            &["why"],
        )?,
        leases_held: IntGauge::new("jianzhen_leases_held", "Shard leases held right now")?,
        queue_shards: IntGauge::new(
            "jianzhen_queue_shards",
            "Shards of running runs waiting for a worker",
        )?,
        queue_items: IntGauge::new(
            "jianzhen_queue_items",
            "Items of the shards waiting for a worker (answered ones of a requeued shard included)",
        )?,
        effective_concurrency: GaugeVec::new(
            Opts::new(
                "jianzhen_effective_concurrency",
                "An endpoint's effective concurrency after throttling (AIMD)",
            ),
            &["run_id", "endpoint"],
        )?,
        stale_reports: IntCounter::new(
            "jianzhen_stale_reports_total",
            "Reports and completions refused because the lease is no longer held at their epoch (fencing)",
        )?,
    };
    registry.register(Box::new(metrics.items.clone()))?;
    registry.register(Box::new(metrics.throttled.clone()))?;
    registry.register(Box::new(metrics.leases_granted.clone()))?;
    registry.register(Box::new(metrics.leases_expired.clone()))?;
    registry.register(Box::new(metrics.shards_requeued.clone()))?;
    registry.register(Box::new(metrics.leases_held.clone()))?;
    registry.register(Box::new(metrics.queue_shards.clone()))?;
    registry.register(Box::new(metrics.queue_items.clone()))?;
    registry.register(Box::new(metrics.effective_concurrency.clone()))?;
    registry.register(Box::new(metrics.stale_reports.clone()))?;
    Ok(metrics)
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);
static METRICS: LazyLock<Option<CoordinatorMetrics>> = LazyLock::new(|| {
    build(&REGISTRY)
        .inspect_err(|error| tracing::error!(%error, "coordinator metrics could not be registered; /metrics will lack them"))
        .ok()
});

/// The registry `/metrics` serves.
pub fn registry() -> &'static Registry {
    LazyLock::force(&METRICS);
    &REGISTRY
}

/// The metrics, or `None` if they could not be registered (logged once; names are
/// constants, so a test would catch it first).
pub fn get() -> Option<&'static CoordinatorMetrics> {
    METRICS.as_ref()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_metric_registers_and_is_exported() {
        let metrics = super::get().expect("metrics register");
        metrics.items.with_label_values(&["correct"]).inc();
        metrics
            .leases_expired
            .with_label_values(&["no_progress"])
            .inc();
        metrics
            .shards_requeued
            .with_label_values(&["expired"])
            .inc();
        metrics
            .effective_concurrency
            .with_label_values(&["run-1", "e"])
            .set(2.0);
        let names: Vec<String> = super::registry()
            .gather()
            .iter()
            .map(|family| family.name().to_string())
            .collect();
        for name in [
            "jianzhen_items_total",
            "jianzhen_throttled_requests_total",
            "jianzhen_leases_granted_total",
            "jianzhen_leases_expired_total",
            "jianzhen_shards_requeued_total",
            "jianzhen_leases_held",
            "jianzhen_queue_shards",
            "jianzhen_queue_items",
            "jianzhen_effective_concurrency",
            "jianzhen_stale_reports_total",
        ] {
            assert!(
                names.iter().any(|found| found == name),
                "{name} in {names:?}"
            );
        }
    }
}
