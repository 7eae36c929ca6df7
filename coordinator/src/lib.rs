//! # jianzhen-coordinator
//!
//! The coordinator plans runs into shards, leases shards to workers under fencing epochs,
//! scores the raw responses workers send back, keeps everything in a store, and
//! aggregates scores with polars into reports.
//!
//! # Layout
//! - [`spec`]: the run spec (TOML) and its validation.
//! - [`planner`]: pure planning of items and shards with content-derived ids.
//! - [`lease`]: the pure lease table: liveness, progress deadlines, epochs, shares.
//! - [`budget`]: adaptive (AIMD) endpoint concurrency budgets.
//! - [`store`]: SQLite store through sqlx (runs, items, shards, results).
//! - [`controller`]: the logic tying them together, independent of gRPC.
//! - [`service`]: the tonic service, a thin translation layer.
//! - [`aggregate`], [`stats`] and [`report`]: polars aggregation, confidence intervals
//!   and paired tests, and the report files.
//! - [`peer_compare`]: the replies read by Jianzhen and by the template's source
//!   framework (OpenCompass's post-processors), set side by side in the report.
//! - [`serve`]: run the gRPC server on a listener until shutdown.

pub mod aggregate;
pub mod audit;
pub mod budget;
pub mod compare;
pub mod controller;
pub mod error;
pub mod html;
pub mod lease;
pub mod peer_compare;
pub mod planner;
pub mod report;
pub mod service;
pub mod spec;
pub mod stats;
pub mod store;
pub mod summary;

use std::future::Future;
use std::sync::Arc;

pub use controller::{Controller, CoordinatorConfig};
pub use error::CoordinatorError;
use jianzhen_proto::CoordinatorServer;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

/// Largest gRPC message accepted: a lease of a few dozen long few-shot prompts, a
/// report of a big run.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Serves the coordinator on `listener` until `shutdown` resolves, sweeping expired
/// leases in the background.
///
/// # Errors
/// The transport fails.
pub async fn serve(
    listener: TcpListener,
    controller: Arc<Controller>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let (stop_sweeper, sweeper_shutdown) = tokio::sync::watch::channel(false);
    let sweeper = controller.spawn_sweeper(sweeper_shutdown);
    let service = CoordinatorServer::new(service::CoordinatorService::new(controller))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let result = tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    let _ = stop_sweeper.send(true);
    let _ = sweeper.await;
    result
}
