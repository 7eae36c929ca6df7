//! The coordinator's error type, and its mapping to gRPC status codes in one place.

use jianzhen_suites::SuiteError;

#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    #[error("invalid run spec {origin}: {problem}")]
    InvalidSpec { origin: String, problem: String },
    #[error(transparent)]
    Suite(#[from] SuiteError),
    #[error(transparent)]
    Provenance(#[from] jianzhen_provenance::ProvenanceError),
    #[error(
        "suite `{suite}` split `{split}` has no gold answers ({location}); evaluate a split with answers, e.g. `val` for C-Eval"
    )]
    NoGoldAnswers {
        suite: String,
        split: String,
        location: String,
    },
    #[error("unknown run `{run_id}`; `jianzhen status` lists the runs this coordinator knows")]
    UnknownRun { run_id: String },
    #[error(
        "lease on shard {shard_id} epoch {epoch} is not held by worker {worker_id} (expired or superseded); drop the shard and lease again"
    )]
    StaleLease {
        shard_id: String,
        epoch: u64,
        worker_id: String,
    },
    #[error("store error: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error(
        "cannot open the store {store}: {source}; check that the database server runs and the URL, user and password are right"
    )]
    StoreUnavailable {
        store: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "cannot open the SQLite store {store}: {source}; check that its folder is writable and the file is a Jianzhen store (or pick another path)"
    )]
    SqliteUnavailable {
        store: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "cannot create the folder {folder} for the SQLite store {store}: {source}; create it yourself or pick a --store path in a folder you can write"
    )]
    StoreFolder {
        folder: String,
        store: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid store: {problem}")]
    InvalidStore { problem: String },
    #[error(
        "the store {store} has schema version {found}, this Jianzhen needs {expected}; use a new store (a new --out folder or database) or the Jianzhen version that wrote it"
    )]
    StoreVersion {
        store: String,
        found: String,
        expected: String,
    },
    #[error("aggregation error: {0}")]
    Aggregation(#[from] polars::error::PolarsError),
    #[error("{0}")]
    InvalidRequest(String),
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    #[error("{0}")]
    NotConfigured(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for CoordinatorError {
    fn from(error: sqlx::Error) -> Self {
        CoordinatorError::Store(crate::store::StoreError::Database(error))
    }
}

/// Whether a store error means the database cannot be reached right now (a network
/// partition, a server restarting, every connection busy past the acquire timeout), as
/// opposed to a query that failed on a reachable database.
pub fn store_unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // SQLSTATE class 08 (connection exception) and the server shutting down or
        // starting up (57P01..57P03).
        sqlx::Error::Database(database) => database
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P0")),
        _ => false,
    }
}

impl From<CoordinatorError> for tonic::Status {
    fn from(error: CoordinatorError) -> Self {
        // A store that cannot be reached is a passing condition, not a bug: UNAVAILABLE
        // tells clients to retry (workers do so by themselves), and the message says what
        // the operator can do. Nothing is lost meanwhile: workers keep their results until
        // a report is accepted.
        if let CoordinatorError::Store(source) = &error
            && source.is_unreachable()
        {
            return tonic::Status::unavailable(format!(
                "the store is unavailable ({source}): the coordinator keeps running and answers again when the database does; check that the database server runs and that the coordinator can reach it, then retry (workers retry by themselves and keep their results)"
            ));
        }
        let message = error.to_string();
        match error {
            CoordinatorError::InvalidSpec { .. }
            | CoordinatorError::Suite(_)
            | CoordinatorError::NoGoldAnswers { .. } => tonic::Status::invalid_argument(message),
            CoordinatorError::UnknownRun { .. } => tonic::Status::not_found(message),
            CoordinatorError::InvalidRequest(_) => tonic::Status::invalid_argument(message),
            CoordinatorError::Auth(error) => error.into(),
            CoordinatorError::NotConfigured(_) => tonic::Status::failed_precondition(message),
            // Never the secret itself: the messages name the remedy only.
            CoordinatorError::Secret(_) => tonic::Status::failed_precondition(message),
            CoordinatorError::StaleLease { .. } => tonic::Status::failed_precondition(message),
            CoordinatorError::Provenance(_)
            | CoordinatorError::Store(_)
            | CoordinatorError::StoreVersion { .. }
            | CoordinatorError::StoreUnavailable { .. }
            | CoordinatorError::SqliteUnavailable { .. }
            | CoordinatorError::StoreFolder { .. }
            | CoordinatorError::InvalidStore { .. }
            | CoordinatorError::Aggregation(_)
            | CoordinatorError::Internal(_) => tonic::Status::internal(message),
        }
    }
}
