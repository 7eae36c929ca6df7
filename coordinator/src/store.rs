//! The store: runs, planned items, shards (with their lease epochs) and raw results.
//!
//! One code path over sqlx's `Any` driver: SQLite embedded by default. All state that
//! must survive a coordinator restart lives here; the lease table in memory is rebuilt by
//! requeueing every shard that was leased when the coordinator stopped.
//!
//! Results are keyed by (run, endpoint, item, repeat) and inserted with
//! `ON CONFLICT DO NOTHING`: a retried or duplicated report never counts twice.

use std::str::FromStr;

use jianzhen_suites::grading::{ItemKind, ProbeKind};
use jianzhen_suites::outcome::Outcome;
use jianzhen_suites::peer::PeerExtractor;
use jianzhen_suites::tasks::grade::AnswerKind;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, ConnectOptions, Row};

use crate::error::CoordinatorError;
use crate::planner::Plan;

mod access;
pub use access::{AuditRecord, EndpointRecord, PublishedSuiteRecord, TokenRecord};

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

/// Bumped whenever the schema changes; a store of another version is refused with advice
/// rather than failing later on a missing column.
pub const SCHEMA_VERSION: &str = "6";

pub const SHARD_PENDING: &str = "pending";
pub const SHARD_LEASED: &str = "leased";
pub const SHARD_DONE: &str = "done";
pub const RUN_RUNNING: &str = "running";
pub const RUN_COMPLETE: &str = "complete";

#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingShard {
    pub run_id: String,
    pub shard_id: String,
    pub endpoint: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenItem {
    pub item_key: String,
    pub repeat: u32,
    pub messages_json: String,
    /// 0: the endpoint's own limit.
    pub max_tokens: u32,
    /// 0: no log-probabilities asked for.
    pub top_logprobs: u32,
}

/// What scoring needs to know about an item; never sent to workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoringInput {
    pub gold: String,
    pub options: Vec<String>,
    pub request_key: String,
    pub kind: ItemKind,
}

/// An item of a run with no result yet whose exact request has a cached answer.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheHit {
    pub endpoint: String,
    pub item_key: String,
    pub repeat: u32,
    pub shard_id: String,
    pub scoring: ScoringInput,
    pub response_text: String,
    pub finish_reason: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub latency_ms: u64,
    pub logprobs_json: String,
    pub judge_text: String,
}

/// A raw response with its score, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResult {
    pub run_id: String,
    pub endpoint: String,
    pub item_key: String,
    pub repeat: u32,
    pub shard_id: String,
    pub epoch: u64,
    pub worker_id: String,
    pub response_text: String,
    pub finish_reason: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub latency_ms: u64,
    pub error_class: String,
    pub error_message: String,
    pub http_status: u32,
    pub attempts: u32,
    pub throttled: u32,
    pub attempt_log_json: String,
    /// The first token's top candidates as `[[token, logprob], ...]` (first-token items).
    pub logprobs_json: String,
    /// The judge model's reply (judged items); empty otherwise.
    pub judge_text: String,
    pub extracted: Option<String>,
    pub outcome: Outcome,
    pub received_at_ms: i64,
    /// Set for answers worth caching (no error): the request they answer.
    pub cache_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub run_id: String,
    pub name: String,
    pub spec_toml: String,
    pub manifest_json: String,
    pub state: String,
    pub created_at_ms: i64,
    /// Whose run it is (`auth::Tenant`, stored form).
    pub owner: String,
}

/// See [`Store::result_coverage`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResultCoverage {
    pub planned: u64,
    pub stored: u64,
    pub missing: u64,
    pub unplanned: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunCounts {
    pub total_items: u64,
    pub done_items: u64,
    pub shards_total: u64,
    pub shards_done: u64,
    pub shards_leased: u64,
    pub outcomes: Vec<(Outcome, u64)>,
}

/// A stored multiple-choice result, as re-scoring reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RescoreInput {
    pub endpoint: String,
    pub item_key: String,
    pub repeat: u32,
    pub gold: String,
    pub options: Vec<String>,
    pub response_text: String,
    pub finish_reason: String,
    /// The proto enum's name, e.g. `ERROR_CLASS_NONE`.
    pub error_class: String,
    pub extracted: Option<String>,
    pub outcome: Outcome,
    pub kind: ItemKind,
    pub logprobs_json: String,
    pub judge_text: String,
}

/// A new score for a stored result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreUpdate {
    pub endpoint: String,
    pub item_key: String,
    pub repeat: u32,
    pub extracted: Option<String>,
    pub outcome: Outcome,
}

/// The answer to one provenance probe.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRow {
    pub endpoint: String,
    pub kind: ProbeKind,
    pub probe_id: String,
    pub repeat: u32,
    pub response_text: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// `recorded`, or `api_error` when the endpoint gave no answer.
    pub outcome: Outcome,
    pub error_message: String,
}

/// The answer to one item of the contamination audit.
#[derive(Debug, Clone, PartialEq)]
pub struct ContaminationRow {
    pub endpoint: String,
    /// `contamination:order` or `contamination:masked`.
    pub kind: ItemKind,
    /// `{suite}/{subject}`, or `control`.
    pub subject: String,
    /// The audited suite (stored as the item's category), or `control`.
    pub suite: String,
    /// The audited item's own id (the control item's id).
    pub item_id: String,
    pub repeat: u32,
    /// The rotated gold letter, or the hidden option's text.
    pub gold: String,
    /// The options as asked (rotated, or with the hidden one masked).
    pub options: Vec<String>,
    pub extracted: Option<String>,
    pub outcome: Outcome,
    pub response_text: String,
}

/// One scored item, joined with its item metadata: the input of aggregation.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredRow {
    pub endpoint: String,
    pub suite: String,
    pub subject: String,
    pub category: String,
    pub item_id: String,
    pub repeat: u32,
    pub gold: String,
    pub extracted: Option<String>,
    pub outcome: Outcome,
    /// Share of the item's points earned, in `[0, 1]`: 1 for a correct answer, 0 for any
    /// other outcome, except partial credit (multi-select, sub-answers) and span F1 of
    /// task-suite items, recomputed from the stored extraction.
    pub credit: f64,
    /// How much the item counts in averages: its number of sub-answers for GAOKAO-Bench
    /// items with several sub-questions (GAOKAO-Bench scores a file over its
    /// sub-questions), 1 otherwise.
    pub weight: f64,
    pub latency_ms: u64,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub attempts: u32,
    pub throttled: u32,
    /// The rendered prompt, as JSON chat messages.
    pub messages_json: String,
    /// How many options the item offers.
    pub option_count: u8,
    pub response_text: String,
    pub finish_reason: String,
    pub error_message: String,
}

#[cfg(test)]
impl ScoredRow {
    /// A C-Eval row of one item (`SUBJECT/val/x`) for unit tests, full credit when
    /// `outcome` is `correct`; tests change the fields they are about.
    pub(crate) fn example(endpoint: &str, subject: &str, outcome: &str) -> ScoredRow {
        let outcome: Outcome = outcome.parse().unwrap_or(Outcome::Wrong);
        ScoredRow {
            credit: f64::from(u8::from(outcome == Outcome::Correct)),
            weight: 1.0,
            endpoint: endpoint.into(),
            suite: "ceval".into(),
            subject: subject.into(),
            category: "Humanities".into(),
            item_id: format!("{subject}/val/x"),
            repeat: 0,
            gold: "A".into(),
            extracted: None,
            outcome,
            latency_ms: 10,
            prompt_tokens: 1,
            completion_tokens: 1,
            attempts: 1,
            throttled: 0,
            messages_json: "[]".into(),
            option_count: 4,
            response_text: String::new(),
            finish_reason: "stop".into(),
            error_message: String::new(),
        }
    }
}

/// A stored value this build cannot read back into its type.
#[derive(Debug, thiserror::Error)]
#[error(
    "stored {column} `{value}` is unknown to this version of Jianzhen; read this store with the version that wrote it"
)]
struct UnknownStoredValue {
    column: &'static str,
    value: String,
}

/// The `LIKE` pattern of every probe kind's stored name.
fn probe_kinds_pattern() -> String {
    format!("{}%", ItemKind::PROBE_PREFIX)
}

/// The `LIKE` pattern of the contamination audit's kinds' stored names.
fn contamination_kinds_pattern() -> String {
    format!("{}%", ItemKind::CONTAMINATION_PREFIX)
}

/// Reads an item's kind, once, where it comes out of the store.
fn kind_at(row: &AnyRow, column: &str) -> Result<ItemKind, sqlx::Error> {
    let text: String = row.try_get(column)?;
    text.parse::<ItemKind>()
        .map_err(|error| sqlx::Error::Decode(Box::new(error)))
}

/// Reads a result's outcome, once, where it comes out of the store.
fn outcome_at(row: &AnyRow, column: &'static str) -> Result<Outcome, sqlx::Error> {
    let text: String = row.try_get(column)?;
    text.parse::<Outcome>().map_err(|_| {
        sqlx::Error::Decode(Box::new(UnknownStoredValue {
            column,
            value: text,
        }))
    })
}

/// Reads an item's options (a JSON list of texts, written by the planner).
fn options_at(row: &AnyRow, column: &'static str) -> Result<Vec<String>, sqlx::Error> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|_| {
        sqlx::Error::Decode(Box::new(UnknownStoredValue {
            column,
            value: text.chars().take(80).collect(),
        }))
    })
}

fn as_u32(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

fn as_u64(value: i64) -> u64 {
    u64::try_from(value.max(0)).unwrap_or(0)
}

fn as_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

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
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Shards waiting for a worker and the items they hold: the queue depth.
    ///
    /// # Errors
    /// Database errors (the store is unreachable).
    pub async fn queue_depth(&self) -> Result<(u64, u64), sqlx::Error> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS shards, COALESCE(SUM(item_count), 0) AS items FROM shards WHERE state = $1",
        )
        .bind(SHARD_PENDING)
        .fetch_one(&self.pool)
        .await?;
        let shards: i64 = row.try_get("shards")?;
        let items: i64 = row.try_get("items")?;
        Ok((
            u64::try_from(shards).unwrap_or(0),
            u64::try_from(items).unwrap_or(0),
        ))
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

    /// Stores a plan. Items and shards already present (a resumed run) are kept as they
    /// are, with their results. Returns true if the run is new.
    ///
    /// # Errors
    /// Database errors.
    pub async fn insert_plan(
        &self,
        plan: &Plan,
        name: &str,
        spec_toml: &str,
        manifest_json: &str,
        owner: &str,
        now_ms: i64,
    ) -> Result<bool, sqlx::Error> {
        let mut transaction = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO runs (run_id, name, spec_toml, manifest_json, state, created_at_ms, owner)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (run_id) DO NOTHING",
        )
        .bind(&plan.run_id)
        .bind(name)
        .bind(spec_toml)
        .bind(manifest_json)
        .bind(RUN_RUNNING)
        .bind(now_ms)
        .bind(owner)
        .execute(&mut *transaction)
        .await?
        .rows_affected()
            > 0;
        for shard in &plan.shards {
            sqlx::query(
                "INSERT INTO shards (run_id, shard_id, endpoint, suite, subject, item_count, state, epoch)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 0) ON CONFLICT (run_id, shard_id) DO NOTHING",
            )
            .bind(&plan.run_id)
            .bind(&shard.shard_id)
            .bind(&shard.endpoint)
            .bind(&shard.suite)
            .bind(&shard.subject)
            .bind(i64::from(shard.item_count))
            .bind(SHARD_PENDING)
            .execute(&mut *transaction)
            .await?;
        }
        for item in &plan.items {
            let options_json = serde_json::to_string(&item.options).unwrap_or_default();
            let messages_json = serde_json::to_string(&item.messages).unwrap_or_default();
            sqlx::query(
                "INSERT INTO items (run_id, endpoint, item_key, repeat_index, shard_id, suite, subject,
                    category, item_id, gold, options_json, messages_json, template, source, request_key, kind,
                    max_tokens, top_logprobs, family_key, limit_tokens)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                    $19, $20)
                 ON CONFLICT (run_id, endpoint, item_key, repeat_index) DO NOTHING",
            )
            .bind(&plan.run_id)
            .bind(&item.endpoint)
            .bind(&item.item_key)
            .bind(i64::from(item.repeat))
            .bind(&item.shard_id)
            .bind(&item.suite)
            .bind(&item.subject)
            .bind(&item.category)
            .bind(&item.item_id)
            .bind(&item.gold)
            .bind(options_json)
            .bind(messages_json)
            .bind(&item.template)
            .bind(&item.source)
                        .bind(&item.request_key)
                        .bind(item.kind.name())
            .bind(i64::from(item.max_tokens))
            .bind(i64::from(item.top_logprobs))
            .bind(&item.family_key)
            .bind(i64::from(item.limit_tokens))
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(inserted)
    }

    /// At start-up no lease survives: every shard marked leased goes back to pending.
    /// Its epoch stays, so the next lease gets a higher one and old holders are fenced.
    ///
    /// # Errors
    /// Database errors.
    pub async fn requeue_all_leased(&self) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query("UPDATE shards SET state = $1 WHERE state = $2")
            .bind(SHARD_PENDING)
            .bind(SHARD_LEASED)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// # Errors
    /// Database errors.
    pub async fn requeue_shard(&self, run_id: &str, shard_id: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE shards SET state = $1 WHERE run_id = $2 AND shard_id = $3 AND state = $4",
        )
        .bind(SHARD_PENDING)
        .bind(run_id)
        .bind(shard_id)
        .bind(SHARD_LEASED)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Pending shards of running runs, oldest run first, in a stable order.
    ///
    /// # Errors
    /// Database errors.
    pub async fn pending_shards(&self, limit: u32) -> Result<Vec<PendingShard>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT s.run_id, s.shard_id, s.endpoint FROM shards s JOIN runs r ON r.run_id = s.run_id
             WHERE s.state = $1 AND r.state = $2
             ORDER BY r.created_at_ms, s.run_id, s.shard_id LIMIT $3",
        )
        .bind(SHARD_PENDING)
        .bind(RUN_RUNNING)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PendingShard {
                    run_id: row.try_get("run_id")?,
                    shard_id: row.try_get("shard_id")?,
                    endpoint: row.try_get("endpoint")?,
                })
            })
            .collect()
    }

    /// Marks a shard leased and raises its epoch; returns the new epoch.
    ///
    /// # Errors
    /// Database errors.
    pub async fn lease_shard(&self, run_id: &str, shard_id: &str) -> Result<u64, sqlx::Error> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query(
            "UPDATE shards SET state = $1, epoch = epoch + 1 WHERE run_id = $2 AND shard_id = $3",
        )
        .bind(SHARD_LEASED)
        .bind(run_id)
        .bind(shard_id)
        .execute(&mut *transaction)
        .await?;
        let row = sqlx::query("SELECT epoch FROM shards WHERE run_id = $1 AND shard_id = $2")
            .bind(run_id)
            .bind(shard_id)
            .fetch_one(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(as_u64(row.try_get("epoch")?))
    }

    /// Items of a shard that have no stored result yet.
    ///
    /// # Errors
    /// Database errors.
    pub async fn open_items(
        &self,
        run_id: &str,
        shard_id: &str,
    ) -> Result<Vec<OpenItem>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT i.item_key, i.repeat_index, i.messages_json, i.max_tokens, i.top_logprobs FROM items i
             LEFT JOIN results r ON r.run_id = i.run_id AND r.endpoint = i.endpoint
                AND r.item_key = i.item_key AND r.repeat_index = i.repeat_index
             WHERE i.run_id = $1 AND i.shard_id = $2 AND r.item_key IS NULL
             ORDER BY i.item_key, i.repeat_index",
        )
        .bind(run_id)
        .bind(shard_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(OpenItem {
                    item_key: row.try_get("item_key")?,
                    repeat: as_u32(row.try_get("repeat_index")?),
                    messages_json: row.try_get("messages_json")?,
                    max_tokens: as_u32(row.try_get("max_tokens")?),
                    top_logprobs: as_u32(row.try_get("top_logprobs")?),
                })
            })
            .collect()
    }

    /// The endpoint a shard belongs to.
    ///
    /// # Errors
    /// Database errors, or `RowNotFound` for an unknown shard.
    pub async fn shard_endpoint(
        &self,
        run_id: &str,
        shard_id: &str,
    ) -> Result<String, sqlx::Error> {
        let row = sqlx::query("SELECT endpoint FROM shards WHERE run_id = $1 AND shard_id = $2")
            .bind(run_id)
            .bind(shard_id)
            .fetch_one(&self.pool)
            .await?;
        row.try_get("endpoint")
    }

    /// # Errors
    /// Database errors; `Ok(None)` when the item is not part of the shard.
    pub async fn scoring_input(
        &self,
        run_id: &str,
        shard_id: &str,
        item_key: &str,
        repeat: u32,
    ) -> Result<Option<(String, ScoringInput)>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT endpoint, gold, options_json, request_key, kind FROM items
             WHERE run_id = $1 AND shard_id = $2 AND item_key = $3 AND repeat_index = $4",
        )
        .bind(run_id)
        .bind(shard_id)
        .bind(item_key)
        .bind(i64::from(repeat))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some((
            row.try_get("endpoint")?,
            ScoringInput {
                gold: row.try_get("gold")?,
                options: options_at(&row, "options_json")?,
                request_key: row.try_get("request_key")?,
                kind: kind_at(&row, "kind")?,
            },
        )))
    }

    /// Stores results; each is stored at most once. Returns how many were new.
    ///
    /// # Errors
    /// Database errors.
    pub async fn insert_results(&self, results: &[StoredResult]) -> Result<u32, sqlx::Error> {
        let mut transaction = self.pool.begin().await?;
        let mut stored = 0;
        let mut newly_stored = Vec::new();
        for result in results {
            let affected = sqlx::query(
                "INSERT INTO results (run_id, endpoint, item_key, repeat_index, shard_id, epoch, worker_id,
                    response_text, finish_reason, prompt_tokens, completion_tokens, latency_ms, error_class,
                    error_message, http_status, attempts, throttled, attempt_log_json, logprobs_json, extracted,
                    outcome, received_at_ms, judge_text)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
                    $20, $21, $22, $23)
                 ON CONFLICT (run_id, endpoint, item_key, repeat_index) DO NOTHING",
            )
            .bind(&result.run_id)
            .bind(&result.endpoint)
            .bind(&result.item_key)
            .bind(i64::from(result.repeat))
            .bind(&result.shard_id)
            .bind(as_i64(result.epoch))
            .bind(&result.worker_id)
            .bind(&result.response_text)
            .bind(&result.finish_reason)
            .bind(i64::from(result.prompt_tokens))
            .bind(i64::from(result.completion_tokens))
            .bind(as_i64(result.latency_ms))
            .bind(&result.error_class)
            .bind(&result.error_message)
            .bind(i64::from(result.http_status))
            .bind(i64::from(result.attempts))
            .bind(i64::from(result.throttled))
                        .bind(&result.attempt_log_json)
            .bind(&result.logprobs_json)
            .bind(result.extracted.clone())
            .bind(result.outcome.as_str())
            .bind(result.received_at_ms)
            .bind(&result.judge_text)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
            if affected > 0 {
                stored += 1;
                newly_stored.push(result);
            }
            if let Some(cache_key) = &result.cache_key {
                // The item's family key and limit come from its planned row.
                sqlx::query(
                    "INSERT INTO response_cache (request_key, response_text, finish_reason, prompt_tokens,
                        completion_tokens, latency_ms, logprobs_json, created_at_ms, judge_text,
                        family_key, max_tokens)
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, i.family_key, i.limit_tokens
                     FROM items i WHERE i.run_id = $10 AND i.endpoint = $11 AND i.item_key = $12
                        AND i.repeat_index = $13
                     ON CONFLICT (request_key) DO NOTHING",
                )
                .bind(cache_key)
                .bind(&result.response_text)
                .bind(&result.finish_reason)
                .bind(i64::from(result.prompt_tokens))
                .bind(i64::from(result.completion_tokens))
                                .bind(as_i64(result.latency_ms))
                .bind(&result.logprobs_json)
                .bind(result.received_at_ms)
                .bind(&result.judge_text)
                .bind(&result.run_id)
                .bind(&result.endpoint)
                .bind(&result.item_key)
                .bind(i64::from(result.repeat))
                .execute(&mut *transaction)
                .await?;
            }
        }
        transaction.commit().await?;
        // Counted once committed, so the counters agree with the store.
        if let Some(metrics) = crate::metrics::get() {
            for result in newly_stored {
                metrics
                    .items
                    .with_label_values(&[result.outcome.as_str()])
                    .inc();
                metrics.throttled.inc_by(u64::from(result.throttled));
            }
        }
        Ok(stored)
    }

    /// Items of a run without a result whose exact request has a cached answer.
    ///
    /// # Errors
    /// Database errors.
    pub async fn cache_hits(&self, run_id: &str) -> Result<Vec<CacheHit>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT i.endpoint, i.item_key, i.repeat_index, i.shard_id, i.gold, i.options_json, i.request_key, i.kind,
                    c.response_text, c.finish_reason, c.prompt_tokens, c.completion_tokens, c.latency_ms,
                    c.logprobs_json, c.judge_text
             FROM items i
             JOIN response_cache c ON c.request_key = i.request_key
             LEFT JOIN results r ON r.run_id = i.run_id AND r.endpoint = i.endpoint
                AND r.item_key = i.item_key AND r.repeat_index = i.repeat_index
             WHERE i.run_id = $1 AND r.item_key IS NULL
             ORDER BY i.endpoint, i.item_key, i.repeat_index",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(cache_hit_from_row).collect()
    }

    /// The run's open items answerable by the same request under another token limit:
    /// an answer that ended on its own (`stop`) with fewer tokens than the item's limit.
    /// Read after [`Store::cache_hits`] (exact requests first); the largest cached limit
    /// first when several qualify.
    ///
    /// # Errors
    /// Database errors.
    pub async fn cache_family_hits(&self, run_id: &str) -> Result<Vec<CacheHit>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT i.endpoint, i.item_key, i.repeat_index, i.shard_id, i.gold, i.options_json, i.request_key, i.kind,
                    c.response_text, c.finish_reason, c.prompt_tokens, c.completion_tokens, c.latency_ms,
                    c.logprobs_json, c.judge_text
             FROM items i
             JOIN response_cache c ON c.family_key = i.family_key
             LEFT JOIN results r ON r.run_id = i.run_id AND r.endpoint = i.endpoint
                AND r.item_key = i.item_key AND r.repeat_index = i.repeat_index
             WHERE i.run_id = $1 AND r.item_key IS NULL AND i.family_key <> ''
                AND c.finish_reason = 'stop' AND c.completion_tokens < i.limit_tokens
             ORDER BY i.endpoint, i.item_key, i.repeat_index, c.max_tokens DESC",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(cache_hit_from_row).collect()
    }

    /// Sets aside the run's `api_error` results (kept in `retired_results`) and queues
    /// their shards again. Returns how many items were requeued.
    ///
    /// # Errors
    /// Database errors.
    pub async fn retry_api_errors(&self, run_id: &str) -> Result<u64, sqlx::Error> {
        let mut transaction = self.pool.begin().await?;
        let api_error = Outcome::ApiError.as_str();
        sqlx::query(
            "INSERT INTO retired_results SELECT * FROM results WHERE run_id = $1 AND outcome = $2",
        )
        .bind(run_id)
        .bind(api_error)
        .execute(&mut *transaction)
        .await?;
        sqlx::query(
            "UPDATE shards SET state = $1 WHERE run_id = $2 AND state = $3 AND shard_id IN
                (SELECT shard_id FROM results WHERE run_id = $2 AND outcome = $4)",
        )
        .bind(SHARD_PENDING)
        .bind(run_id)
        .bind(SHARD_DONE)
        .bind(api_error)
        .execute(&mut *transaction)
        .await?;
        let requeued = sqlx::query("DELETE FROM results WHERE run_id = $1 AND outcome = $2")
            .bind(run_id)
            .bind(api_error)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
        if requeued > 0 {
            sqlx::query("UPDATE runs SET state = $1, finished_at_ms = NULL WHERE run_id = $2")
                .bind(RUN_RUNNING)
                .bind(run_id)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(requeued)
    }

    /// Marks the shard done if every item has a result; otherwise puts it back in the
    /// queue. Returns true when done. Marks the run complete when its last shard is done.
    ///
    /// # Errors
    /// Database errors.
    pub async fn finish_shard(
        &self,
        run_id: &str,
        shard_id: &str,
        now_ms: i64,
    ) -> Result<bool, sqlx::Error> {
        let open = self.open_items(run_id, shard_id).await?.len();
        let state = if open == 0 { SHARD_DONE } else { SHARD_PENDING };
        sqlx::query("UPDATE shards SET state = $1 WHERE run_id = $2 AND shard_id = $3")
            .bind(state)
            .bind(run_id)
            .bind(shard_id)
            .execute(&self.pool)
            .await?;
        if open == 0 {
            let remaining: i64 =
                sqlx::query("SELECT COUNT(*) AS n FROM shards WHERE run_id = $1 AND state <> $2")
                    .bind(run_id)
                    .bind(SHARD_DONE)
                    .fetch_one(&self.pool)
                    .await?
                    .try_get("n")?;
            if remaining == 0 {
                sqlx::query("UPDATE runs SET state = $1, finished_at_ms = $2 WHERE run_id = $3 AND state <> $1")
                    .bind(RUN_COMPLETE)
                    .bind(now_ms)
                    .bind(run_id)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(open == 0)
    }

    /// A resumed run whose items are all done is complete; one with open work runs again.
    ///
    /// # Errors
    /// Database errors.
    pub async fn refresh_run_state(&self, run_id: &str, now_ms: i64) -> Result<(), sqlx::Error> {
        let shards: Vec<String> =
            sqlx::query("SELECT shard_id FROM shards WHERE run_id = $1 AND state <> $2")
                .bind(run_id)
                .bind(SHARD_DONE)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|row| row.try_get("shard_id"))
                .collect::<Result<_, _>>()?;
        for shard_id in &shards {
            let open = self.open_items(run_id, shard_id).await?.len();
            if open == 0 {
                self.finish_shard(run_id, shard_id, now_ms).await?;
            }
        }
        let remaining: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM shards WHERE run_id = $1 AND state <> $2")
                .bind(run_id)
                .bind(SHARD_DONE)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
        let state = if remaining == 0 {
            RUN_COMPLETE
        } else {
            RUN_RUNNING
        };
        sqlx::query("UPDATE runs SET state = $1 WHERE run_id = $2")
            .bind(state)
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        if remaining == 0 {
            sqlx::query(
                "UPDATE runs SET finished_at_ms = $1 WHERE run_id = $2 AND finished_at_ms IS NULL",
            )
            .bind(now_ms)
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// # Errors
    /// Database errors.
    pub async fn run_record(&self, run_id: &str) -> Result<Option<RunRecord>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT run_id, name, spec_toml, manifest_json, state, created_at_ms, owner FROM runs WHERE run_id = $1",
        )
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_record_from_row).transpose()
    }

    /// # Errors
    /// Database errors.
    pub async fn list_runs(&self) -> Result<Vec<RunRecord>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT run_id, name, spec_toml, manifest_json, state, created_at_ms, owner FROM runs ORDER BY created_at_ms, run_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run_record_from_row).collect()
    }

    /// # Errors
    /// Database errors.
    pub async fn run_counts(&self, run_id: &str) -> Result<RunCounts, sqlx::Error> {
        let count = |sql: &'static str| async move {
            let value: i64 = sqlx::query(sql)
                .bind(run_id)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
            Ok::<u64, sqlx::Error>(as_u64(value))
        };
        let mut counts = RunCounts {
            total_items: count("SELECT COUNT(*) AS n FROM items WHERE run_id = $1").await?,
            done_items: count("SELECT COUNT(*) AS n FROM results WHERE run_id = $1").await?,
            shards_total: count("SELECT COUNT(*) AS n FROM shards WHERE run_id = $1").await?,
            shards_done: count(
                "SELECT COUNT(*) AS n FROM shards WHERE run_id = $1 AND state = 'done'",
            )
            .await?,
            shards_leased: count(
                "SELECT COUNT(*) AS n FROM shards WHERE run_id = $1 AND state = 'leased'",
            )
            .await?,
            outcomes: Vec::new(),
        };
        let rows = sqlx::query("SELECT outcome, COUNT(*) AS n FROM results WHERE run_id = $1 GROUP BY outcome ORDER BY outcome")
            .bind(run_id)
            .fetch_all(&self.pool)
            .await?;
        for row in &rows {
            counts
                .outcomes
                .push((outcome_at(row, "outcome")?, as_u64(row.try_get("n")?)));
        }
        Ok(counts)
    }

    /// Every stored result of a run joined with its item, for aggregation.
    ///
    /// # Errors
    /// Database errors.
    pub async fn scored_rows(&self, run_id: &str) -> Result<Vec<ScoredRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT i.endpoint, i.suite, i.subject, i.category, i.item_id, i.repeat_index, i.gold,
                    r.extracted, r.outcome, r.latency_ms, r.prompt_tokens, r.completion_tokens,
                    r.attempts, r.throttled, i.messages_json, r.response_text, r.finish_reason,
                    r.error_message, i.options_json, i.kind
             FROM results r JOIN items i ON i.run_id = r.run_id AND i.endpoint = r.endpoint
                AND i.item_key = r.item_key AND i.repeat_index = r.repeat_index
                                       WHERE r.run_id = $1 AND i.kind NOT LIKE $2
                                         AND i.kind NOT LIKE $3
             ORDER BY i.endpoint, i.suite, i.subject, i.item_id, i.repeat_index",
        )
        .bind(run_id)
        .bind(probe_kinds_pattern())
        // The contamination audit's items are evidence about the benchmark, not scores.
        .bind(contamination_kinds_pattern())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let kind = kind_at(row, "kind")?;
                let gold: String = row.try_get("gold")?;
                let extracted: Option<String> = row.try_get("extracted")?;
                let outcome = outcome_at(row, "outcome")?;
                Ok(ScoredRow {
                    credit: kind.credit(&gold, extracted.as_deref(), outcome),
                    weight: kind.weight(&gold),
                    endpoint: row.try_get("endpoint")?,
                    suite: row.try_get("suite")?,
                    subject: row.try_get("subject")?,
                    category: row.try_get("category")?,
                    item_id: row.try_get("item_id")?,
                    repeat: as_u32(row.try_get("repeat_index")?),
                    gold,
                    extracted,
                    outcome,
                    latency_ms: as_u64(row.try_get("latency_ms")?),
                    prompt_tokens: as_u32(row.try_get("prompt_tokens")?),
                    completion_tokens: as_u32(row.try_get("completion_tokens")?),
                    attempts: as_u32(row.try_get("attempts")?),
                    throttled: as_u32(row.try_get("throttled")?),
                    messages_json: row.try_get("messages_json")?,
                    option_count: u8::try_from(options_at(row, "options_json")?.len())
                        .unwrap_or(u8::MAX),
                    response_text: row.try_get("response_text")?,
                    finish_reason: row.try_get("finish_reason")?,
                    error_message: row.try_get("error_message")?,
                })
            })
            .collect()
    }

    /// Every scored (multiple-choice) result of a run with what re-scoring needs.
    ///
    /// # Errors
    /// Database errors.
    pub async fn rescore_inputs(&self, run_id: &str) -> Result<Vec<RescoreInput>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT r.endpoint, r.item_key, r.repeat_index, i.gold, i.options_json, r.response_text,
                    r.finish_reason, r.error_class, r.extracted, r.outcome, i.kind, r.logprobs_json,
                    r.judge_text
             FROM results r JOIN items i ON i.run_id = r.run_id AND i.endpoint = r.endpoint
                AND i.item_key = r.item_key AND i.repeat_index = r.repeat_index
                          WHERE r.run_id = $1 AND i.kind NOT LIKE $2
             ORDER BY r.endpoint, r.item_key, r.repeat_index",
        )
        .bind(run_id)
        .bind(probe_kinds_pattern())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RescoreInput {
                    endpoint: row.try_get("endpoint")?,
                    item_key: row.try_get("item_key")?,
                    repeat: as_u32(row.try_get("repeat_index")?),
                    gold: row.try_get("gold")?,
                    options: options_at(row, "options_json")?,
                    response_text: row.try_get("response_text")?,
                    finish_reason: row.try_get("finish_reason")?,
                    error_class: row.try_get("error_class")?,
                    extracted: row.try_get("extracted")?,
                    outcome: outcome_at(row, "outcome")?,
                    kind: kind_at(row, "kind")?,
                    logprobs_json: row.try_get("logprobs_json")?,
                    judge_text: row.try_get("judge_text")?,
                })
            })
            .collect()
    }

    /// Replaces the extracted answer and outcome of stored results (re-scoring); the raw
    /// responses are never touched.
    ///
    /// # Errors
    /// Database errors.
    pub async fn update_scores(
        &self,
        run_id: &str,
        updates: &[ScoreUpdate],
    ) -> Result<(), sqlx::Error> {
        let mut transaction = self.pool.begin().await?;
        for update in updates {
            sqlx::query(
                "UPDATE results SET extracted = $1, outcome = $2
                 WHERE run_id = $3 AND endpoint = $4 AND item_key = $5 AND repeat_index = $6",
            )
            .bind(update.extracted.clone())
            .bind(update.outcome.as_str())
            .bind(run_id)
            .bind(&update.endpoint)
            .bind(&update.item_key)
            .bind(i64::from(update.repeat))
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await
    }

    /// The subjects of a run's suite, sorted.
    ///
    /// # Errors
    /// Database errors.
    pub async fn suite_subjects(
        &self,
        run_id: &str,
        suite: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT DISTINCT subject FROM items WHERE run_id = $1 AND suite = $2 ORDER BY subject",
        )
        .bind(run_id)
        .bind(suite)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| row.try_get("subject")).collect()
    }

    /// Switches the answer reading of a run's generated single-letter items: for each
    /// (suite, subject, kind), items of them whose kind is `choice` or starts with
    /// `peer_prefix` get `kind`; the run's manifest becomes `manifest_json`. One
    /// transaction, so the kinds and the manifest never disagree.
    ///
    /// # Errors
    /// Database errors.
    pub async fn set_answer_reading(
        &self,
        run_id: &str,
        readings: &[(String, String, Option<PeerExtractor>)],
        manifest_json: &str,
    ) -> Result<(), sqlx::Error> {
        // The kinds a peer can read, each with its peer-read forms (`NAME@peer`).
        let families = [
            ItemKind::Choice,
            ItemKind::Graded(AnswerKind::MultiChoice),
            ItemKind::Graded(AnswerKind::MultiQuestion),
        ];
        let mut transaction = self.pool.begin().await?;
        for (suite, subject, peer) in readings {
            for family in families {
                sqlx::query(
                    "UPDATE items SET kind = $1
                     WHERE run_id = $2 AND suite = $3 AND subject = $4
                       AND (kind = $5 OR kind LIKE $6)",
                )
                .bind(family.read_by(*peer).name())
                .bind(run_id)
                .bind(suite)
                .bind(subject)
                .bind(family.name())
                .bind(format!("{}@%", family.name()))
                .execute(&mut *transaction)
                .await?;
            }
        }
        sqlx::query("UPDATE runs SET manifest_json = $1 WHERE run_id = $2")
            .bind(manifest_json)
            .bind(run_id)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await
    }

    /// Answers to the contamination audit's items of a run.
    ///
    /// # Errors
    /// Database errors.
    pub async fn contamination_rows(
        &self,
        run_id: &str,
    ) -> Result<Vec<ContaminationRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT i.endpoint, i.kind, i.subject, i.category, i.item_id, i.repeat_index, i.gold,
                    i.options_json, r.extracted, r.outcome, r.response_text
             FROM results r JOIN items i ON i.run_id = r.run_id AND i.endpoint = r.endpoint
                AND i.item_key = r.item_key AND i.repeat_index = r.repeat_index
             WHERE r.run_id = $1 AND i.kind LIKE $2
             ORDER BY i.endpoint, i.subject, i.item_id, i.kind, i.repeat_index",
        )
        .bind(run_id)
        .bind(contamination_kinds_pattern())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ContaminationRow {
                    endpoint: row.try_get("endpoint")?,
                    kind: kind_at(row, "kind")?,
                    subject: row.try_get("subject")?,
                    suite: row.try_get("category")?,
                    item_id: row.try_get("item_id")?,
                    repeat: as_u32(row.try_get("repeat_index")?),
                    gold: row.try_get("gold")?,
                    options: options_at(row, "options_json")?,
                    extracted: row.try_get("extracted")?,
                    outcome: outcome_at(row, "outcome")?,
                    response_text: row.try_get("response_text")?,
                })
            })
            .collect()
    }

    /// Answers to the provenance probes of a run.
    ///
    /// # Errors
    /// Database errors.
    pub async fn probe_rows(&self, run_id: &str) -> Result<Vec<ProbeRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT i.endpoint, i.kind, i.item_id, i.repeat_index, r.response_text, r.prompt_tokens,
                    r.completion_tokens, r.outcome, r.error_message
             FROM results r JOIN items i ON i.run_id = r.run_id AND i.endpoint = r.endpoint
                AND i.item_key = r.item_key AND i.repeat_index = r.repeat_index
                          WHERE r.run_id = $1 AND i.kind LIKE $2
             ORDER BY i.endpoint, i.kind, i.item_id, i.repeat_index",
        )
        .bind(run_id)
        .bind(probe_kinds_pattern())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let ItemKind::Probe(kind) = kind_at(row, "kind")? else {
                    return Err(sqlx::Error::Decode(
                        "a probe row whose kind is not a probe".into(),
                    ));
                };
                Ok(ProbeRow {
                    endpoint: row.try_get("endpoint")?,
                    kind,
                    probe_id: row.try_get("item_id")?,
                    repeat: as_u32(row.try_get("repeat_index")?),
                    response_text: row.try_get("response_text")?,
                    prompt_tokens: as_u32(row.try_get("prompt_tokens")?),
                    completion_tokens: as_u32(row.try_get("completion_tokens")?),
                    outcome: outcome_at(row, "outcome")?,
                    error_message: row.try_get("error_message")?,
                })
            })
            .collect()
    }

    /// How a run's planned items are covered by stored results: (items planned, results
    /// stored, planned items without a result, results for no planned item). A run whose
    /// every item was stored exactly once has `planned == stored` and no gap either way.
    ///
    /// # Errors
    /// Database errors.
    pub async fn result_coverage(&self, run_id: &str) -> Result<ResultCoverage, sqlx::Error> {
        let count = |sql: &'static str| async move {
            let row = sqlx::query(sql).bind(run_id).fetch_one(&self.pool).await?;
            Ok::<u64, sqlx::Error>(as_u64(row.try_get("n")?))
        };
        Ok(ResultCoverage {
            planned: count("SELECT COUNT(*) AS n FROM items WHERE run_id = $1").await?,
            stored: count("SELECT COUNT(*) AS n FROM results WHERE run_id = $1").await?,
            missing: count(
                "SELECT COUNT(*) AS n FROM items i WHERE i.run_id = $1 AND NOT EXISTS (
                    SELECT 1 FROM results r WHERE r.run_id = i.run_id AND r.endpoint = i.endpoint
                      AND r.item_key = i.item_key AND r.repeat_index = i.repeat_index)",
            )
            .await?,
            unplanned: count(
                "SELECT COUNT(*) AS n FROM results r WHERE r.run_id = $1 AND NOT EXISTS (
                    SELECT 1 FROM items i WHERE i.run_id = r.run_id AND i.endpoint = r.endpoint
                      AND i.item_key = r.item_key AND i.repeat_index = r.repeat_index)",
            )
            .await?,
        })
    }
}

fn cache_hit_from_row(row: &AnyRow) -> Result<CacheHit, sqlx::Error> {
    Ok(CacheHit {
        endpoint: row.try_get("endpoint")?,
        item_key: row.try_get("item_key")?,
        repeat: as_u32(row.try_get("repeat_index")?),
        shard_id: row.try_get("shard_id")?,
        scoring: ScoringInput {
            gold: row.try_get("gold")?,
            options: options_at(row, "options_json")?,
            request_key: row.try_get("request_key")?,
            kind: kind_at(row, "kind")?,
        },
        response_text: row.try_get("response_text")?,
        finish_reason: row.try_get("finish_reason")?,
        prompt_tokens: as_u32(row.try_get("prompt_tokens")?),
        completion_tokens: as_u32(row.try_get("completion_tokens")?),
        latency_ms: as_u64(row.try_get("latency_ms")?),
        logprobs_json: row.try_get("logprobs_json")?,
        judge_text: row.try_get("judge_text")?,
    })
}

fn run_record_from_row(row: &AnyRow) -> Result<RunRecord, sqlx::Error> {
    Ok(RunRecord {
        run_id: row.try_get("run_id")?,
        name: row.try_get("name")?,
        spec_toml: row.try_get("spec_toml")?,
        manifest_json: row.try_get("manifest_json")?,
        state: row.try_get("state")?,
        created_at_ms: row.try_get("created_at_ms")?,
        owner: row.try_get("owner")?,
    })
}

/// A store URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    let user = credentials.split(':').next().unwrap_or_default();
    format!("{scheme}://{user}:***@{host}")
}

/// Accepts `sqlite:PATH`, `sqlite://PATH` and a bare path ending in `.db`, and makes
/// sure SQLite creates the file when it does not exist yet.
pub fn normalise_url(url: &str) -> String {
    let url = if url.contains(':') && !url.starts_with('/') && !url.starts_with('.') {
        url.to_string()
    } else {
        format!("sqlite:{url}")
    };
    if url.starts_with("sqlite:") && !url.contains(":memory:") && !url.contains("mode=") {
        let separator = if url.contains('?') { '&' } else { '?' };
        return format!("{url}{separator}mode=rwc");
    }
    url
}

/// The file path of a normalised `sqlite:` URL (`None` for an in-memory database).
fn sqlite_path(url: &str) -> Option<&str> {
    let path = url.strip_prefix("sqlite:")?;
    let path = path.strip_prefix("//").unwrap_or(path);
    let path = path.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then_some(path)
}

/// SQLite creates a missing file but not a missing folder, and says only "unable to
/// open database file"; a fresh machine rarely has `/var/lib/jianzhen`, so the folder is
/// made here (or the error names it).
fn create_sqlite_folder(url: &str) -> Result<(), CoordinatorError> {
    let Some(path) = sqlite_path(url) else {
        return Ok(());
    };
    let Some(folder) = std::path::Path::new(path)
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
    else {
        return Ok(());
    };
    std::fs::create_dir_all(folder).map_err(|source| CoordinatorError::StoreFolder {
        folder: folder.display().to_string(),
        store: path.to_string(),
        source,
    })
}

/// The store kinds: SQLite embedded (the default), PostgreSQL for clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

impl FromStr for StoreKind {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        if url.starts_with("sqlite:") || url.ends_with(".db") {
            return Ok(StoreKind::Sqlite);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(StoreKind::Postgres);
        }
        Err(format!(
            "unsupported store `{}`; use sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE",
            redact_url(url)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_are_normalised() {
        assert_eq!(
            normalise_url("sqlite:/tmp/j.db"),
            "sqlite:/tmp/j.db?mode=rwc"
        );
        assert_eq!(normalise_url("/tmp/j.db"), "sqlite:/tmp/j.db?mode=rwc");
        assert_eq!(normalise_url("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(
            "postgres://u:p@h/db".parse::<StoreKind>(),
            Ok(StoreKind::Postgres)
        );
        assert!("mysql://x".parse::<StoreKind>().is_err());
        assert_eq!(
            redact_url("postgres://jz:secret@db:5432/x"),
            "postgres://jz:***@db:5432/x"
        );
    }

    #[tokio::test]
    async fn a_sqlite_store_in_a_missing_folder_creates_the_folder() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("var/lib/jianzhen/jianzhen.db");
        Store::open(&format!("sqlite:{}", path.display()))
            .await
            .expect("the missing folders are created");
        assert!(path.is_file(), "{} was created", path.display());
    }

    #[tokio::test]
    async fn a_sqlite_folder_that_cannot_be_made_is_named_without_database_server_advice() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A file where the folder should be: no user, root included, can make it.
        let blocker = dir.path().join("not-a-folder");
        std::fs::write(&blocker, b"x").expect("write blocker");
        let url = format!("sqlite:{}", blocker.join("sub/jianzhen.db").display());
        let Err(error) = Store::open(&url).await else {
            panic!("a store under a file cannot open");
        };
        let message = error.to_string();
        assert!(
            matches!(error, CoordinatorError::StoreFolder { .. }),
            "{message}"
        );
        assert!(
            message.contains(&blocker.join("sub").display().to_string()),
            "names the folder: {message}"
        );
        assert!(!message.contains("database server"), "{message}");
        assert!(!message.contains("mode=rwc"), "{message}");
    }

    #[test]
    fn sqlite_paths_are_read_from_urls() {
        assert_eq!(
            sqlite_path("sqlite:/var/lib/j.db?mode=rwc"),
            Some("/var/lib/j.db")
        );
        assert_eq!(sqlite_path("sqlite://rel/j.db"), Some("rel/j.db"));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://h/db"), None);
    }

    #[tokio::test]
    async fn a_schema_4_store_is_upgraded_and_keeps_its_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("old.db").display());
        // Make a schema-4 store: today's schema without the judge column, version 4.
        {
            let store = Store::open(&url).await.expect("open");
            for statement in [
                "ALTER TABLE results DROP COLUMN judge_text",
                "ALTER TABLE retired_results DROP COLUMN judge_text",
                "ALTER TABLE response_cache DROP COLUMN judge_text",
                // Schema 4 had no run owners and no limit-free cache keys either
                // (schema 6).
                "ALTER TABLE runs DROP COLUMN owner",
                "DROP INDEX IF EXISTS cache_by_family",
                "ALTER TABLE items DROP COLUMN family_key",
                "ALTER TABLE items DROP COLUMN limit_tokens",
                "ALTER TABLE response_cache DROP COLUMN family_key",
                "ALTER TABLE response_cache DROP COLUMN max_tokens",
            ] {
                sqlx::query(statement)
                    .execute(&store.pool)
                    .await
                    .expect("drop column");
            }
            sqlx::query("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
                .execute(&store.pool)
                .await
                .expect("set version");
            sqlx::query(
                "INSERT INTO response_cache (request_key, response_text, finish_reason, prompt_tokens,
                    completion_tokens, latency_ms, logprobs_json, created_at_ms)
                 VALUES ('k', 'B', 'stop', 1, 1, 1, '[]', 0)",
            )
            .execute(&store.pool)
            .await
            .expect("old cache row");
            store.pool.close().await;
        }
        let store = Store::open(&url).await.expect("a schema-4 store opens");
        let version: String = sqlx::query("SELECT value FROM meta WHERE key = 'schema_version'")
            .fetch_one(&store.pool)
            .await
            .expect("version")
            .try_get("value")
            .expect("value");
        assert_eq!(version, SCHEMA_VERSION);
        let judge_text: String =
            sqlx::query("SELECT judge_text FROM response_cache WHERE request_key = 'k'")
                .fetch_one(&store.pool)
                .await
                .expect("the old row is kept")
                .try_get("judge_text")
                .expect("judge_text");
        assert_eq!(judge_text, "");
        store.pool.close().await;
        // Opening again is a no-op.
        Store::open(&url).await.expect("reopens");
        // Any other old version is refused with advice.
        let store = Store::open(&url).await.expect("open");
        sqlx::query("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
            .execute(&store.pool)
            .await
            .expect("set version");
        store.pool.close().await;
        let Err(error) = Store::open(&url).await else {
            panic!("schema 3 is refused");
        };
        assert!(error.to_string().contains("new store"), "{error}");
    }
}
