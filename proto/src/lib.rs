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
