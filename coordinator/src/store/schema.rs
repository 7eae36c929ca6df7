//! Opening a store: the connection pool, the schema, and the upgrades from older schema
//! versions.

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
        // SQLite: one connection serialises every transaction, so leasing needs no retry
        // on SQLITE_BUSY and is atomic by construction. PostgreSQL: a small pool; leasing
        // is serialised by the coordinator's lease lock, and every write is idempotent.
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
        let pool = AnyPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(acquire_timeout)
            .acquire_slow_level(log::LevelFilter::Debug)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        let store = Store { pool };
        if kind == StoreKind::Sqlite && !url.contains(":memory:") {
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&store.pool)
                .await?;
            sqlx::query("PRAGMA synchronous=NORMAL")
                .execute(&store.pool)
                .await?;
        }
        for statement in SCHEMA {
            sqlx::query(*statement).execute(&store.pool).await?;
        }
        store.check_schema_version(&url).await?;
        // After the migrations: an upgraded store has the column only from here on.
        sqlx::query("CREATE INDEX IF NOT EXISTS cache_by_family ON response_cache (family_key)")
            .execute(&store.pool)
            .await?;
        Ok(store)
    }

    async fn check_schema_version(&self, url: &str) -> Result<(), CoordinatorError> {
        let version: Option<String> =
            sqlx::query("SELECT value FROM meta WHERE key = 'schema_version'")
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.try_get("value"))
                .transpose()?;
        let found = match version {
            Some(version) if version == SCHEMA_VERSION => return Ok(()),
            Some(version) if version == "4" => {
                self.migrate_4_to_5().await?;
                return self.migrate_5_to_6().await;
            }
            Some(version) if version == "5" => return self.migrate_5_to_6().await,
            Some(version) => version,
            None => {
                let runs: i64 = sqlx::query("SELECT COUNT(*) AS n FROM runs")
                    .fetch_one(&self.pool)
                    .await?
                    .try_get("n")?;
                if runs > 0 {
                    "1".to_string()
                } else {
                    sqlx::query("INSERT INTO meta (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO NOTHING")
                        .bind(SCHEMA_VERSION)
                        .execute(&self.pool)
                        .await?;
                    return Ok(());
                }
            }
        };
        Err(CoordinatorError::StoreVersion {
            store: redact_url(url),
            found,
            expected: SCHEMA_VERSION.to_string(),
        })
    }

    /// Schema 4 → 5: the judge model's reply beside every answer (results, the results set
    /// aside by `retry`, and the response cache). Nothing else changed, so a store written
    /// by the previous version keeps its runs and cache.
    async fn migrate_4_to_5(&self) -> Result<(), CoordinatorError> {
        let mut transaction = self.pool.begin().await?;
        for statement in [
            "ALTER TABLE results ADD COLUMN judge_text TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE retired_results ADD COLUMN judge_text TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE response_cache ADD COLUMN judge_text TEXT NOT NULL DEFAULT ''",
        ] {
            sqlx::query(statement).execute(&mut *transaction).await?;
        }
        sqlx::query("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        tracing::info!("store upgraded from schema 4 to 5 (judge replies)");
        Ok(())
    }

    /// Schema 5 → 6: every run has an owner (the lab's, `''`, for all earlier runs); the
    /// tables of tokens, registered endpoints, published suites and the audit are new
    /// (created by [`SCHEMA`] before this runs).
    async fn migrate_5_to_6(&self) -> Result<(), CoordinatorError> {
        // Each column is added only where it is missing: a store written by a build
        // between the two versions may have some of them already.
        let mut missing = Vec::new();
        for (probe, statement) in [
            (
                "SELECT owner FROM runs WHERE 1 = 0",
                "ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT ''",
            ),
            (
                "SELECT family_key FROM items WHERE 1 = 0",
                "ALTER TABLE items ADD COLUMN family_key TEXT NOT NULL DEFAULT ''",
            ),
            (
                "SELECT limit_tokens FROM items WHERE 1 = 0",
                "ALTER TABLE items ADD COLUMN limit_tokens BIGINT NOT NULL DEFAULT 0",
            ),
            (
                "SELECT family_key FROM response_cache WHERE 1 = 0",
                "ALTER TABLE response_cache ADD COLUMN family_key TEXT NOT NULL DEFAULT ''",
            ),
            (
                "SELECT max_tokens FROM response_cache WHERE 1 = 0",
                "ALTER TABLE response_cache ADD COLUMN max_tokens BIGINT NOT NULL DEFAULT 0",
            ),
        ] {
            if sqlx::query(probe).fetch_all(&self.pool).await.is_err() {
                missing.push(statement);
            }
        }
        let mut transaction = self.pool.begin().await?;
        for statement in missing {
            sqlx::query(statement).execute(&mut *transaction).await?;
        }
        sqlx::query("UPDATE meta SET value = $1 WHERE key = 'schema_version'")
            .bind(SCHEMA_VERSION)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        tracing::info!("store upgraded from schema 5 to 6 (run owners, tokens, endpoints)");
        Ok(())
    }
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        spec_toml TEXT NOT NULL,
        manifest_json TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        finished_at_ms BIGINT,
        owner TEXT NOT NULL DEFAULT ''
    )",
    "CREATE TABLE IF NOT EXISTS shards (
        run_id TEXT NOT NULL,
        shard_id TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        suite TEXT NOT NULL,
        subject TEXT NOT NULL,
        item_count BIGINT NOT NULL,
        state TEXT NOT NULL,
        epoch BIGINT NOT NULL,
        PRIMARY KEY (run_id, shard_id)
    )",
    "CREATE TABLE IF NOT EXISTS items (
        run_id TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        item_key TEXT NOT NULL,
        repeat_index BIGINT NOT NULL,
        shard_id TEXT NOT NULL,
        suite TEXT NOT NULL,
        subject TEXT NOT NULL,
        category TEXT NOT NULL,
        item_id TEXT NOT NULL,
        gold TEXT NOT NULL,
        options_json TEXT NOT NULL,
        messages_json TEXT NOT NULL,
        template TEXT NOT NULL,
                source TEXT NOT NULL,
        request_key TEXT NOT NULL,
                kind TEXT NOT NULL,
        max_tokens BIGINT NOT NULL,
        top_logprobs BIGINT NOT NULL,
        family_key TEXT NOT NULL DEFAULT '',
        limit_tokens BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (run_id, endpoint, item_key, repeat_index)
    )",
    "CREATE INDEX IF NOT EXISTS items_by_shard ON items (run_id, shard_id)",
    "CREATE TABLE IF NOT EXISTS results (
        run_id TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        item_key TEXT NOT NULL,
        repeat_index BIGINT NOT NULL,
        shard_id TEXT NOT NULL,
        epoch BIGINT NOT NULL,
        worker_id TEXT NOT NULL,
        response_text TEXT NOT NULL,
        finish_reason TEXT NOT NULL,
        prompt_tokens BIGINT NOT NULL,
        completion_tokens BIGINT NOT NULL,
        latency_ms BIGINT NOT NULL,
        error_class TEXT NOT NULL,
        error_message TEXT NOT NULL,
        http_status BIGINT NOT NULL,
        attempts BIGINT NOT NULL,
                throttled BIGINT NOT NULL,
        attempt_log_json TEXT NOT NULL,
        logprobs_json TEXT NOT NULL,
        judge_text TEXT NOT NULL,
        extracted TEXT,
        outcome TEXT NOT NULL,
        received_at_ms BIGINT NOT NULL,
        PRIMARY KEY (run_id, endpoint, item_key, repeat_index)
    )",
    // Results set aside by `jianzhen retry`, kept for the record.
    "CREATE TABLE IF NOT EXISTS retired_results AS SELECT * FROM results WHERE 1 = 0",
    // Answers by exact request, shared by every run in this store.
    "CREATE TABLE IF NOT EXISTS response_cache (
        request_key TEXT PRIMARY KEY,
        response_text TEXT NOT NULL,
        finish_reason TEXT NOT NULL,
        prompt_tokens BIGINT NOT NULL,
        completion_tokens BIGINT NOT NULL,
                latency_ms BIGINT NOT NULL,
        logprobs_json TEXT NOT NULL,
        judge_text TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        family_key TEXT NOT NULL DEFAULT '',
        max_tokens BIGINT NOT NULL DEFAULT 0
    )",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    // Bearer tokens: only their SHA-256 (the token is shown once, at creation).
    "CREATE TABLE IF NOT EXISTS tokens (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        trusted BIGINT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        expires_at_ms BIGINT,
        revoked_at_ms BIGINT
    )",
    // Vendor-registered endpoints; the key only sealed (secrets.rs).
    "CREATE TABLE IF NOT EXISTS endpoints (
        owner TEXT NOT NULL,
        name TEXT NOT NULL,
        base_url TEXT NOT NULL,
        model TEXT NOT NULL,
        vendor TEXT NOT NULL,
        key_nonce TEXT NOT NULL,
        key_sealed TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        PRIMARY KEY (owner, name)
    )",
    // Suites the operator publishes to vendors: a `[[suites]]` table with its data path.
    "CREATE TABLE IF NOT EXISTS published_suites (
        name TEXT PRIMARY KEY,
        suite_toml TEXT NOT NULL,
        description TEXT NOT NULL,
        items BIGINT NOT NULL,
        published_at_ms BIGINT NOT NULL
    )",
    // Who did what, for the operator.
    "CREATE TABLE IF NOT EXISTS audit (
        at_ms BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL
    )",
];
