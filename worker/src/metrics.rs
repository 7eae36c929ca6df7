//! The worker's Prometheus metrics: requests in flight, requests by result, retries,
//! throttled requests, request latency, tokens, items finished. One registry per process
//! ([`registry`]); the binary serves it on `--metrics-listen` (`/metrics`, with
//! `/healthz` for liveness).

use std::sync::LazyLock;

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// The worker's metrics, registered in [`registry`].
pub struct WorkerMetrics {
    /// Requests sent to endpoints and not answered yet.
    pub in_flight: IntGauge,
    /// Requests by result: `answered`, `throttled` (429/503), `failed`.
    pub requests: IntCounterVec,
    /// Requests sent again after a real failure (throttled ones are not retries).
    pub retries: IntCounter,
    /// Seconds from sending a request to its whole reply (or failure).
    pub latency: Histogram,
    /// Tokens the endpoints reported, by `kind` (`prompt`, `completion`).
    pub tokens: IntCounterVec,
    /// Items finished, by `result` (`answered`, `api_error`).
    pub items: IntCounterVec,
}

fn build(registry: &Registry) -> Result<WorkerMetrics, prometheus::Error> {
    let metrics = WorkerMetrics {
        in_flight: IntGauge::new(
            "jianzhen_worker_requests_in_flight",
            "Requests sent to endpoints and not answered yet",
        )?,
        requests: IntCounterVec::new(
            Opts::new(
                "jianzhen_worker_requests_total",
                "Requests sent to endpoints, by result (answered, throttled, failed)",
            ),
            &["result"],
        )?,
        retries: IntCounter::new(
            "jianzhen_worker_retries_total",
            "Requests sent again after a real failure",
        )?,
        latency: Histogram::with_opts(
            HistogramOpts::new(
                "jianzhen_worker_request_seconds",
                "Latency of one request to an endpoint",
            )
            .buckets(vec![
                0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
            ]),
        )?,
        tokens: IntCounterVec::new(
            Opts::new(
                "jianzhen_worker_tokens_total",
                "Tokens reported by the endpoints, by kind (prompt, completion)",
            ),
            &["kind"],
        )?,
        items: IntCounterVec::new(
            Opts::new(
                "jianzhen_worker_items_total",
                "Items finished, by result (answered, api_error)",
            ),
            &["result"],
        )?,
    };
    registry.register(Box::new(metrics.in_flight.clone()))?;
    registry.register(Box::new(metrics.requests.clone()))?;
    registry.register(Box::new(metrics.retries.clone()))?;
    registry.register(Box::new(metrics.latency.clone()))?;
    registry.register(Box::new(metrics.tokens.clone()))?;
    registry.register(Box::new(metrics.items.clone()))?;
    Ok(metrics)
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);
static METRICS: LazyLock<Option<WorkerMetrics>> = LazyLock::new(|| {
    build(&REGISTRY)
        .inspect_err(|error| tracing::error!(%error, "worker metrics could not be registered; /metrics will lack them"))
        .ok()
});

/// The registry `/metrics` serves.
pub fn registry() -> &'static Registry {
    LazyLock::force(&METRICS);
    &REGISTRY
}

/// The metrics, or `None` if they could not be registered (logged once).
pub fn get() -> Option<&'static WorkerMetrics> {
    METRICS.as_ref()
}

/// Counts a request in flight for as long as it lives, and its latency when it ends.
pub(crate) struct InFlight {
    started: std::time::Instant,
}

impl InFlight {
    pub(crate) fn start() -> InFlight {
        if let Some(metrics) = get() {
            metrics.in_flight.inc();
        }
        InFlight {
            started: std::time::Instant::now(),
        }
    }
}

impl Drop for InFlight {
    // On drop, so a request cancelled by shutdown or a lost lease is not left counted.
    fn drop(&mut self) {
        if let Some(metrics) = get() {
            metrics.in_flight.dec();
            metrics
                .latency
                .observe(self.started.elapsed().as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_metric_registers_and_in_flight_returns_to_zero() {
        let metrics = super::get().expect("metrics register");
        let before = metrics.latency.get_sample_count();
        {
            let _request = super::InFlight::start();
            assert!(metrics.in_flight.get() >= 1);
        }
        assert_eq!(metrics.latency.get_sample_count(), before + 1);
        metrics.requests.with_label_values(&["answered"]).inc();
        metrics.tokens.with_label_values(&["prompt"]).inc();
        metrics.items.with_label_values(&["answered"]).inc();
        let names: Vec<String> = super::registry()
            .gather()
            .iter()
            .map(|family| family.name().to_string())
            .collect();
        for name in [
            "jianzhen_worker_requests_in_flight",
            "jianzhen_worker_requests_total",
            "jianzhen_worker_retries_total",
            "jianzhen_worker_request_seconds",
            "jianzhen_worker_tokens_total",
            "jianzhen_worker_items_total",
        ] {
            assert!(
                names.iter().any(|found| found == name),
                "{name} in {names:?}"
            );
        }
    }
}
