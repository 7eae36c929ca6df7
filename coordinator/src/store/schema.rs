//! Opening a store: the connection pool and the schema, which sqlx's migrator keeps in
//! step with this build (`coordinator/migrations/`, embedded at compile time).
//!
//! A store written before migrations existed (schema 4, 5 or 6 in its `meta` table) is
//! first brought to schema 6 by [`legacy`](super::legacy); migration 1 is that schema
//! written idempotently, so such a store adopts it unchanged. A store migrated by a newer
//! Jianzhen (a migration this build does not know) is refused before anything is written.

use std::borrow::Cow;

use sqlx::SqlStr;
use sqlx::error::BoxDynError;
use sqlx::migrate::{MigrateError, Migration, MigrationSource, MigrationType, Migrator};

use super::*;

impl Store {
    /// Waits for the queries in progress and closes every connection (a clean SQLite
    /// checkpoint), for a coordinator that is shutting down.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Whether the store answers a trivial query: the coordinator's readiness.
    ///
    /// # Errors
    /// The store is unreachable.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Opens (creating if needed) the store at `url`: `sqlite:PATH` or `sqlite::memory:`.
    ///
    /// # Errors
    /// The database cannot be opened, the schema cannot be created, or the store was
    /// written by a Jianzhen with another schema.
    pub async fn open(url: &str) -> Result<Store, CoordinatorError> {
        sqlx::any::install_default_drivers();
        let url = normalise_url(url);
        let kind: StoreKind = url
            .parse()
            .map_err(|problem: String| CoordinatorError::InvalidStore { problem })?;
        // SQLite: one connection serialises every transaction, so nothing needs a retry
        // on SQLITE_BUSY. PostgreSQL: a small pool; leasing is safe without a lock because
        // every change of a shard's state is conditional on the state and epoch its
        // caller read (store/leasing_queries.rs), and every result write is idempotent.
        let connections = match kind {
            StoreKind::Sqlite => 1,
            StoreKind::Postgres => 8,
        };
        // How long a query waits for a connection (including opening one and checking an
        // idle one). SQLite's single connection is shared by every transaction, so a busy
        // moment may need long. A PostgreSQL server that does not answer (a partition
        // drops its packets) would otherwise hold every call of the coordinator for the
        // full wait; 5 s lets it answer "store unavailable" well within a worker's
        // heartbeat TTL and the health check's interval.
        let acquire_timeout = match kind {
            StoreKind::Sqlite => std::time::Duration::from_secs(30),
            StoreKind::Postgres => std::time::Duration::from_secs(5),
        };
        if kind == StoreKind::Sqlite {
            create_sqlite_folder(&url)?;
        }
        let unavailable = |source: sqlx::Error| match kind {
            StoreKind::Sqlite => CoordinatorError::SqliteUnavailable {
                store: sqlite_path(&url).unwrap_or(&url).to_string(),
                source,
            },
            StoreKind::Postgres => CoordinatorError::StoreUnavailable {
                store: redact_url(&url),
                source,
            },
        };
        // sqlx's slow-statement and slow-acquire warnings are tuning signals for the logs
        // (debug level), not news for a user's terminal during a normal run.
        let options = url
            .parse::<sqlx::any::AnyConnectOptions>()
            .map_err(unavailable)?
            .log_statements(log::LevelFilter::Trace)
            .log_slow_statements(log::LevelFilter::Debug, std::time::Duration::from_secs(1));
        let mut pool_options = AnyPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(acquire_timeout)
            .acquire_slow_level(log::LevelFilter::Debug);
        if kind == StoreKind::Sqlite {
            // Per connection, so a connection sqlx opens again (after its lifetime) has
            // them too.
            pool_options = pool_options.after_connect(|connection, _| {
                Box::pin(async move {
                    for pragma in SQLITE_CONNECTION_PRAGMAS {
                        sqlx::query(*pragma).execute(&mut *connection).await?;
                    }
                    Ok(())
                })
            });
        }
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        let store = Store { pool };
        if kind == StoreKind::Sqlite && !url.contains(":memory:") {
            // A property of the database file: set once, kept by every connection.
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&store.pool)
                .await?;
        }
        store.upgrade_legacy_schema(&url).await?;
        store.run_migrations(&url).await?;
        Ok(store)
    }

    /// Applies the migrations this build knows that the store has not seen, in order,
    /// each in its own transaction (PostgreSQL: under sqlx's advisory lock, so two
    /// coordinators starting at once do not both apply one).
    async fn run_migrations(&self, url: &str) -> Result<(), CoordinatorError> {
        let migrator = Migrator::new(EmbeddedMigrations).await.map_err(|error| {
            CoordinatorError::Internal(format!("the embedded migrations: {error}"))
        })?;
        match migrator.run(&self.pool).await {
            Ok(()) => {}
            Err(MigrateError::VersionMissing(version)) => {
                return Err(CoordinatorError::StoreVersion {
                    store: redact_url(url),
                    found: format!("with migration {version} (written by a newer Jianzhen)"),
                    expected: format!("migrations up to {}", latest_migration()),
                });
            }
            Err(MigrateError::Execute(source)) => return Err(StoreError::Database(source).into()),
            Err(other) => {
                return Err(CoordinatorError::InvalidStore {
                    problem: format!(
                        "the store {} cannot be migrated: {other}; use a new store (a new --out folder or database) or the Jianzhen version that wrote it",
                        redact_url(url)
                    ),
                });
            }
        }
        // Builds from before migrations read this key; it stays the schema they knew.
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO NOTHING",
        )
        .bind(SCHEMA_VERSION)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// Settings of every SQLite connection. With the write-ahead log, `synchronous=NORMAL`
/// syncs at checkpoints rather than at every commit (a power cut may lose the last
/// commits, never corrupt the store; a lost result is asked again on resume); the page
/// cache, memory-mapped reads and in-memory temporary tables keep the single
/// connection's statements off the disk where they can.
const SQLITE_CONNECTION_PRAGMAS: &[&str] = &[
    "PRAGMA synchronous=NORMAL",
    // 64 MiB (a negative size is in KiB).
    "PRAGMA cache_size=-65536",
    "PRAGMA temp_store=MEMORY",
    // 256 MiB.
    "PRAGMA mmap_size=268435456",
];

/// The store's migrations, in order. Each file is applied once per store and never
/// edited afterwards (sqlx compares checksums); a schema change is a new file here.
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "schema 6: runs, shards, items, results, cache, access",
    include_str!("../../migrations/0001_schema_6.sql"),
)];

fn latest_migration() -> i64 {
    MIGRATIONS.last().map_or(0, |(version, _, _)| *version)
}

/// [`MIGRATIONS`] as sqlx's migration source: the texts are embedded at compile time
/// (sqlx's `migrate!` macro would compile sqlx's proc-macro crate, with a second bundled
/// SQLite for the build host, into every build for the same result).
#[derive(Debug)]
struct EmbeddedMigrations;

type ResolvedMigrations = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Vec<Migration>, BoxDynError>> + Send>,
>;

impl MigrationSource<'static> for EmbeddedMigrations {
    fn resolve(self) -> ResolvedMigrations {
        let migrations = MIGRATIONS
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    SqlStr::from_static(sql),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}
