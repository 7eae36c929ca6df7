//! # jianzhen-proto
//!
//! The gRPC protocol between the coordinator, its workers and the CLI, generated from
//! `proto/jianzhen/v1/coordinator.proto`. The coordinator and worker crates meet only here.
//!
//! # Layout
//! - [`v1`]: the generated messages and services (tonic/prost). An item's request is the
//!   `oneof request` of `ItemRequest` (chat, first-token, log-likelihood echo), answered
//!   by `ItemResult`; retired field numbers are `reserved` in the `.proto`.
//! - [`client`]: connecting to a coordinator (TLS, bearer tokens) for the CLI and workers.
//! - Shared limits both sides must agree on ([`ECHO_CHECK_TIMEOUT`],
//!   [`DEFAULT_THROTTLE_DEADLINE`]) and a redacting `Debug` for endpoint configurations.

#![allow(clippy::all, clippy::pedantic)]

pub mod v1 {
    tonic::include_proto!("jianzhen.v1");
}

pub use v1::coordinator_client::CoordinatorClient;
pub use v1::coordinator_server::{Coordinator, CoordinatorServer};

/// The longest a worker spends checking an endpoint's echoed log-probabilities before it
/// scores a shard's `loglik_echo` items (one attempt, at most this long); the coordinator
/// adds it to the progress deadline of such shards.
pub const ECHO_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long one item may keep being throttled when the run spec does not say: the
/// worker gives up on it, and the coordinator stops extending the lease, after this long.
pub const DEFAULT_THROTTLE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

pub mod client;

/// Redacted: the key of a registered endpoint must never reach a log line.
impl std::fmt::Debug for v1::EndpointConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("EndpointConfig")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key_env", &self.api_key_env)
            .field("api_key", &redacted(&self.api_key))
            .field("max_concurrency", &self.max_concurrency)
            .field("timeout_ms", &self.timeout_ms)
            .field("temperature", &self.temperature)
            .field("max_tokens", &self.max_tokens)
            .field("max_attempts", &self.max_attempts)
            .field("requests_per_second", &self.requests_per_second)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("throttle_deadline_ms", &self.throttle_deadline_ms)
            .finish()
    }
}

/// Redacted: a vendor's key must never reach a log line.
impl std::fmt::Debug for v1::AddEndpointRequest {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AddEndpointRequest")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &redacted(&self.api_key))
            .field("vendor", &self.vendor)
            .finish()
    }
}

fn redacted(secret: &str) -> &'static str {
    if secret.is_empty() { "" } else { "<redacted>" }
}

#[cfg(test)]
mod tests {
    use super::v1;

    #[test]
    fn debug_output_never_shows_a_key() {
        let config = v1::EndpointConfig {
            name: "acme".into(),
            api_key: "sk-very-secret".into(),
            ..Default::default()
        };
        let request = v1::AddEndpointRequest {
            name: "acme".into(),
            api_key: "sk-very-secret".into(),
            ..Default::default()
        };
        for text in [format!("{config:?}"), format!("{request:?}")] {
            assert!(!text.contains("sk-very-secret"), "{text}");
            assert!(text.contains("<redacted>"), "{text}");
        }
    }
}
