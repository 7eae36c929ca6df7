//! # jianzhen-proto
//!
//! The gRPC protocol between the coordinator, its workers and the CLI, generated from
//! `proto/jianzhen/v1/coordinator.proto`. The coordinator and worker crates meet only here.

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
