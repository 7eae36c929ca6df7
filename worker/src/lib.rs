//! # jianzhen-worker
//!
//! A worker leases shards from the coordinator over gRPC and calls model endpoints.
//! It needs no data files and never sees gold answers: it receives rendered requests and
//! returns raw responses.
//!
//! # Layout
//! - [`client`]: the OpenAI-compatible chat completions client with retries.
//! - [`limiter`]: the requests-per-second limiter of a lease.
//! - [`metrics`]: the worker's Prometheus metrics.
//! - [`runner`]: the worker loop (register, heartbeat, lease, run, report, complete).
//! - [`slots`]: a worker's request slots on one endpoint, shared by its leases of it, and
//!   the signal to lease the next shard before the current one drains.
//! - [`error`]: the crate's error type.

pub mod client;
pub mod egress;
pub mod error;
pub mod limiter;
pub mod metrics;
pub mod runner;
pub mod slots;

pub use error::WorkerError;
pub use runner::{WorkerConfig, default_worker_id, run_worker};
