//! # jianzhen-coordinator
//!
//! The coordinator plans runs into shards, leases shards to workers under fencing epochs,
//! scores the raw responses workers send back, keeps everything in a store, and
//! aggregates scores with polars into reports.
//!
//! # Layout
//! - [`spec`]: the run spec (TOML) and its validation.
//! - [`planner`]: pure planning of items and shards with content-derived ids; each item
//!   gets a typed kind (`jianzhen_suites::grading::ItemKind`).
//! - [`request`]: an item's typed request (chat, first token, log-likelihood echo, judge
//!   step), its stored form and its proto `oneof`.
//! - [`lease`]: the pure lease table: liveness, progress deadlines, epochs, shares.
//! - [`budget`]: adaptive (AIMD) endpoint concurrency budgets.
//! - [`metrics`]: the coordinator's Prometheus metrics; [`serve_with`] also runs the
//!   `grpc.health.v1` service (ready while the store answers).
//! - [`store`]: SQLite or PostgreSQL store through sqlx (runs, items, shards, results,
//!   and in `store::access` tokens, endpoints, published suites, audit); its schema is
//!   sqlx migrations (`coordinator/migrations/`), its records `FromRow` types with item
//!   kinds and outcomes parsed where they leave it, and no domain logic: [`scored`] adds
//!   what each stored result is worth.
//! - [`controller`]: the logic tying them together, independent of gRPC; scoring is
//!   `jianzhen_suites::grading::grade` for live, cached and re-scored answers alike.
//! - [`service`]: the tonic service, a thin translation layer.
//! - [`aggregate`], [`stats`] and [`report`]: polars aggregation, confidence intervals
//!   and paired tests, and the report files (each table built once as a
//!   `report::table::Table`, rendered by `report::{markdown, html, csv}`); [`html`]: the
//!   page around them; [`consistency`]: answers that changed
//!   between repeats; [`font`]: the CJK font subset embedded in `report.html`.
//! - [`contamination`]: the contamination audit of a run (option order, masked options),
//!   planned by `planner::contamination`, as a report section and `contamination.json`.
//! - [`peer_compare`]: the replies read by Jianzhen and by the template's source
//!   framework (OpenCompass's post-processors), set side by side in the report.
//! - [`auth`] and [`secrets`]: roles, tokens and sealed endpoint keys; the controller's
//!   `tenancy` part applies them (who owns which run, what a vendor may submit).
//! - [`serve`]: run the gRPC server on a listener until shutdown; [`serve_with`] adds
//!   TLS and token authentication.

pub mod aggregate;
pub mod audit;
pub mod auth;
pub mod budget;
pub mod compare;
pub mod consistency;
pub mod contamination;
pub mod controller;
pub mod error;
pub mod font;
pub mod html;
pub mod lease;
pub mod metrics;
pub mod peer_compare;
pub mod planner;
pub mod report;
pub mod request;
pub mod scored;
pub mod secrets;
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

/// TLS material of the coordinator, as PEM text.
#[derive(Clone)]
pub struct ServerTls {
    pub certificate_pem: String,
    pub key_pem: String,
    /// When set, only clients with a certificate signed by this CA may connect (mTLS).
    pub client_ca_pem: Option<String>,
}

/// How the coordinator is served.
#[derive(Clone)]
pub struct ServeOptions {
    pub authentication: service::Authentication,
    pub tls: Option<ServerTls>,
}

/// Serves the coordinator on `listener` until `shutdown` resolves, sweeping expired
/// leases in the background. Every caller is the local admin: for the embedded
/// coordinator of `jianzhen run` on loopback (and tests). A shared coordinator uses
/// [`serve_with`].
///
/// # Errors
/// The transport fails.
pub async fn serve(
    listener: TcpListener,
    controller: Arc<Controller>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    serve_with(
        listener,
        controller,
        ServeOptions {
            authentication: service::Authentication::LocalAdmin,
            tls: None,
        },
        shutdown,
    )
    .await
}

/// Serves the coordinator with the given authentication and TLS.
///
/// # Errors
/// Bad TLS material; the transport fails.
pub async fn serve_with(
    listener: TcpListener,
    controller: Arc<Controller>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &options.tls {
        let mut config = tonic::transport::ServerTlsConfig::new().identity(
            tonic::transport::Identity::from_pem(&tls.certificate_pem, &tls.key_pem),
        );
        if let Some(ca) = &tls.client_ca_pem {
            config = config.client_ca_root(tonic::transport::Certificate::from_pem(ca));
        }
        builder = builder.tls_config(config)?;
    }
    let (stop_sweeper, sweeper_shutdown) = tokio::sync::watch::channel(false);
    let sweeper = controller.spawn_sweeper(sweeper_shutdown.clone());
    // grpc.health.v1 (unauthenticated, for probes): SERVING while the store answers.
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let health = tokio::spawn(report_health(
        controller.clone(),
        health_reporter,
        sweeper_shutdown,
    ));
    let service = CoordinatorServer::new(service::CoordinatorService::with_authentication(
        controller,
        options.authentication,
    ))
    .max_decoding_message_size(MAX_MESSAGE_BYTES)
    .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let result = builder
        .add_service(health_service)
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    let _ = stop_sweeper.send(true);
    let _ = sweeper.await;
    let _ = health.await;
    result
}

/// How often readiness checks the store.
const HEALTH_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// Keeps the health service's status (for the server as a whole, `""`, and for
/// `jianzhen.v1.Coordinator`) equal to whether the store answers: a coordinator without
/// its store can lease nothing and store nothing, so it is not ready.
async fn report_health(
    controller: Arc<Controller>,
    reporter: tonic_health::server::HealthReporter,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    use tonic::server::NamedService;
    let coordinator = <CoordinatorServer<service::CoordinatorService> as NamedService>::NAME;
    let mut last: Option<bool> = None;
    let mut interval = tokio::time::interval(HEALTH_CHECK_INTERVAL);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.changed() => return,
        }
        let reachable = match controller.store().ping().await {
            Ok(()) => true,
            Err(error) => {
                if last != Some(false) {
                    tracing::error!(%error, "store unreachable; health is NOT_SERVING until it answers");
                }
                false
            }
        };
        if last == Some(reachable) {
            continue;
        }
        if reachable && last.is_some() {
            tracing::info!("store reachable again; health is SERVING");
        }
        let status = if reachable {
            tonic_health::ServingStatus::Serving
        } else {
            tonic_health::ServingStatus::NotServing
        };
        reporter.set_service_status("", status).await;
        reporter.set_service_status(coordinator, status).await;
        last = Some(reachable);
    }
}
