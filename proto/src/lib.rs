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

/// The most prompt tokens a prompt-log-probability answer carries
/// (`ItemResult.prompt_token_logprobs`): far above any benchmark question (a few hundred
/// tokens), far below what would bloat a report message; the rest is dropped.
pub const MAX_PROMPT_TOKEN_LOGPROBS: usize = 4096;

/// The most bytes of one echoed token's text kept (a token is a few bytes; an endpoint
/// that sends more is cut at a character boundary).
pub const MAX_PROMPT_TOKEN_BYTES: usize = 64;

/// Keeps at most [`MAX_PROMPT_TOKEN_LOGPROBS`] tokens, each cut to
/// [`MAX_PROMPT_TOKEN_BYTES`], and drops non-finite log-probabilities' tokens: what a
/// worker reads from an endpoint and what a coordinator accepts from a worker.
pub fn bound_prompt_token_logprobs(tokens: &mut Vec<v1::TokenLogprob>) {
    tokens.retain(|token| token.logprob.is_finite());
    tokens.truncate(MAX_PROMPT_TOKEN_LOGPROBS);
    for token in tokens.iter_mut() {
        if token.token.len() > MAX_PROMPT_TOKEN_BYTES {
            let mut end = MAX_PROMPT_TOKEN_BYTES;
            while !token.token.is_char_boundary(end) {
                end -= 1;
            }
            token.token.truncate(end);
        }
    }
}

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
    fn prompt_token_logprobs_are_bounded_in_count_and_size() {
        let mut tokens: Vec<v1::TokenLogprob> = (0..super::MAX_PROMPT_TOKEN_LOGPROBS + 10)
            .map(|index| v1::TokenLogprob {
                token: if index == 0 {
                    "题".repeat(30)
                } else {
                    "x".to_string()
                },
                logprob: if index == 1 { f64::NAN } else { -1.0 },
            })
            .collect();
        super::bound_prompt_token_logprobs(&mut tokens);
        assert_eq!(tokens.len(), super::MAX_PROMPT_TOKEN_LOGPROBS);
        // 30 × 3 bytes cut to the last whole character within 64 bytes: 21 characters.
        assert_eq!(tokens[0].token, "题".repeat(21));
        assert!(tokens.iter().all(|token| token.logprob == -1.0));
    }

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
