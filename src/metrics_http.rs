//! The `/metrics` (Prometheus text), `/healthz` (liveness) and, for a coordinator,
//! `/readyz` (the store answers) HTTP endpoint of a process, on the address of
//! `--metrics-listen`. Plain HTTP on its own port, so Kubernetes probes and Prometheus
//! reach it even when the gRPC port needs TLS or mTLS.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{Encoder, TextEncoder};

/// Binds `address` and serves `registries` (gathered together) until the process ends;
/// with a `store`, `/readyz` answers 200 while it does and 503 otherwise (without one,
/// `/readyz` is `/healthz`). Returns the bound address (port 0 picks one).
///
/// # Errors
/// The address cannot be bound.
pub async fn serve(
    address: SocketAddr,
    registries: Vec<&'static prometheus::Registry>,
    store: Option<jianzhen_coordinator::store::Store>,
) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| {
            format!("cannot listen on {address} for --metrics-listen; is the port taken?")
        })?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(move || metrics(registries.clone())))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(move || ready(store.clone())));
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the metrics endpoint stopped");
        }
    });
    tracing::info!(listen = %bound, "metrics on /metrics, liveness on /healthz");
    Ok(bound)
}

async fn metrics(registries: Vec<&'static prometheus::Registry>) -> impl IntoResponse {
    let families: Vec<_> = registries
        .iter()
        .flat_map(|registry| registry.gather())
        .collect();
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    match encoder.encode(&families, &mut body) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, encoder.format_type().to_string())],
            body,
        ),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain".to_string())],
            format!("cannot encode the metrics: {error}\n").into_bytes(),
        ),
    }
}

async fn ready(store: Option<jianzhen_coordinator::store::Store>) -> (StatusCode, String) {
    let Some(store) = store else {
        return (StatusCode::OK, "ok\n".to_string());
    };
    // A store behind a partition does not refuse, it stays silent: without a bound the
    // probe would wait for the pool's acquire timeout (5 s), longer than Kubernetes' 1 s
    // probe timeout, and say nothing clear.
    match tokio::time::timeout(READY_TIMEOUT, store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ok\n".to_string()),
        Ok(Err(error)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unavailable: {error}\n"),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "store unavailable: no answer within {} ms\n",
                READY_TIMEOUT.as_millis()
            ),
        ),
    }
}

/// How long `/readyz` waits for the store's answer.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(800);
