//! The store: runs, planned items, shards (with their lease epochs) and raw results.
//!
//! One code path over sqlx's `Any` driver: SQLite embedded by default. All state that
//! must survive a coordinator restart lives here; the lease table in memory is rebuilt by
//! requeueing every shard that was leased when the coordinator stopped.
//!
//! Results are keyed by (run, endpoint, item, repeat) and inserted with
//! `ON CONFLICT DO NOTHING`: a retried or duplicated report never counts twice.
//!
//! # Layout
//! This file holds the row types and the typed reads every part shares: item kinds and
//! outcomes are parsed here once, where they leave the store, and every method returns a
//! typed [`StoreError`]. The methods live by table family:
//! - `schema`: opening a store and running its migrations (`coordinator/migrations/`);
//! - `legacy`: bringing stores from before migrations (schema 4, 5) to schema 6;
//! - `shards`: planned items and shards, leases under epochs, requeueing;
//! - `results`: answers (at most once each), the response cache, re-scoring, and the
//!   rows reports, provenance and the contamination audit read;
//! - `runs`: run records, state and counts;
//! - `access`: tokens, registered endpoints, published suites and the audit log;
//! - `rows`: every record's [`sqlx::FromRow`] mapping, kinds and outcomes parsed there.

use std::str::FromStr;

use jianzhen_suites::grading::{ItemKind, ProbeKind};
use jianzhen_suites::outcome::Outcome;
use jianzhen_suites::peer::PeerExtractor;
use jianzhen_suites::tasks::grade::AnswerKind;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, ConnectOptions, Row};

use crate::error::CoordinatorError;
use crate::planner::Plan;

mod access;
mod leasing_queries;
mod legacy;
mod provenance_queries;
mod results;
mod rows;
mod runs;
mod schema;
mod shards;
pub use access::{AuditRecord, EndpointRecord, PublishedSuiteRecord, TokenRecord};

/// The schema version in the `meta` table, as builds from before migrations read it: a
/// store of another version is refused with advice rather than failing later on a
/// missing column. From schema 6 on, sqlx's migration history is the version.
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
    /// The epoch of its last lease (0 if never leased): a claim is fenced by it.
    pub epoch: u64,
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

/// What scoring needs of one item of a shard, with the item's key: a leased shard's
/// items are read once and reported results are scored from memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardItemScoring {
    pub item_key: String,
    pub repeat: u32,
    pub endpoint: String,
    pub scoring: ScoringInput,
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
    /// A `contamination:` kind.
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
    /// A Min-K% item's echoed prompt tokens with their log-probabilities (empty for the
    /// other kinds).
    pub logprobs: Vec<(String, f64)>,
    /// Why the endpoint gave no answer, when it gave none.
    pub error_message: String,
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

/// One stored result joined with its item, as stored: what [`ScoredRow`] is made from
/// (`crate::scored` adds the item's credit and weight, which its kind decides).
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRow {
    pub kind: ItemKind,
    pub endpoint: String,
    pub suite: String,
    pub subject: String,
    pub category: String,
    pub item_id: String,
    pub repeat: u32,
    pub gold: String,
    pub extracted: Option<String>,
    pub outcome: Outcome,
    pub latency_ms: u64,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub attempts: u32,
    pub throttled: u32,
    pub messages_json: String,
    pub option_count: u8,
    pub response_text: String,
    pub finish_reason: String,
    pub error_message: String,
}

/// What can go wrong in the store, typed: the database itself, or a stored value this
/// build cannot read back into its type (a store written by another version).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Database(sqlx::Error),
    #[error(
        "stored {column} `{value}` is unknown to this version of Jianzhen; read this store with the version that wrote it"
    )]
    UnknownValue { column: &'static str, value: String },
    #[error(transparent)]
    UnknownKind(#[from] jianzhen_suites::grading::UnknownItemKind),
}

impl From<sqlx::Error> for StoreError {
    /// A column this build could not read back into its type ([`rows`]) becomes the
    /// typed error; anything else is the database's.
    fn from(error: sqlx::Error) -> Self {
        let sqlx::Error::ColumnDecode { index, source } = error else {
            return StoreError::Database(error);
        };
        let source = match source.downcast::<jianzhen_suites::grading::UnknownItemKind>() {
            Ok(unknown) => return StoreError::UnknownKind(*unknown),
            Err(source) => source,
        };
        match source.downcast::<rows::UnknownStoredValue>() {
            Ok(unknown) => StoreError::UnknownValue {
                column: unknown.column,
                value: unknown.value,
            },
            Err(source) => StoreError::Database(sqlx::Error::ColumnDecode { index, source }),
        }
    }
}

impl StoreError {
    /// Whether the database cannot be reached right now (see
    /// [`crate::error::store_unreachable`]), as opposed to a query or a value that failed.
    pub fn is_unreachable(&self) -> bool {
        match self {
            StoreError::Database(error) => crate::error::store_unreachable(error),
            StoreError::UnknownValue { .. } | StoreError::UnknownKind(_) => false,
        }
    }
}

/// The `LIKE` pattern of every stored kind name that starts with `prefix` (probes,
/// contamination items, a kind's peer-read forms `NAME@peer`).
fn kinds_starting_with(prefix: &str) -> String {
    format!("{prefix}%")
}

fn as_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
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

    /// Every event sqlx emits (its targets start with `sqlx`), with its level and
    /// message, from the moment the first test asks; one global subscriber, because
    /// SQLite statements run on sqlx's own worker thread.
    fn sqlx_events() -> &'static std::sync::Mutex<Vec<(tracing::Level, String)>> {
        use tracing_subscriber::layer::SubscriberExt;

        struct SqlxEvents;
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SqlxEvents {
            fn on_event(
                &self,
                event: &tracing::Event<'_>,
                _context: tracing_subscriber::layer::Context<'_, S>,
            ) {
                if !event.metadata().target().starts_with("sqlx") {
                    return;
                }
                let mut message = Message(String::new());
                event.record(&mut message);
                SQLX_EVENTS
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push((*event.metadata().level(), message.0));
            }
        }
        static SQLX_EVENTS: std::sync::Mutex<Vec<(tracing::Level, String)>> =
            std::sync::Mutex::new(Vec::new());
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            let subscriber = tracing_subscriber::registry().with(SqlxEvents);
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other test of this crate installs a global subscriber");
        });
        &SQLX_EVENTS
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlx_slow_statement_and_slow_acquire_notices_are_debug_logs_not_terminal_warnings() {
        let events = sqlx_events();
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&format!("sqlite:{}", dir.path().join("slow.db").display()))
            .await
            .expect("open");
        // A busy moment of a normal run: one transaction holds SQLite's single connection
        // past sqlx's 2 s slow-acquire threshold while another query waits for it.
        let held = store.pool.begin().await.expect("begin");
        let waiting = tokio::spawn({
            let store = store.clone();
            async move { store.ping().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(2300)).await;
        held.commit().await.expect("commit");
        waiting
            .await
            .expect("the waiting query ran")
            .expect("and answered");
        // A statement past the 1 s slow-statement threshold: a count made longer until it
        // takes 1.5 s on this machine.
        let mut rows: i64 = 1_000_000;
        loop {
            let started = std::time::Instant::now();
            let counted: i64 = sqlx::query_scalar(
                "WITH RECURSIVE counter(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM counter WHERE n < $1)
                 SELECT COUNT(*) FROM counter",
            )
            .bind(rows)
            .fetch_one(&store.pool)
            .await
            .expect("count");
            assert_eq!(counted, rows);
            if started.elapsed() >= std::time::Duration::from_millis(1500) {
                break;
            }
            assert!(rows < 1_000_000_000, "no count took 1.5 s");
            rows *= 4;
        }
        store.close().await;
        let events = events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        // Both notices were emitted (so this test sees them), at debug level.
        let slow_statements: Vec<_> = events
            .iter()
            .filter(|(_, message)| message.contains("slow statement"))
            .collect();
        let slow_acquires: Vec<_> = events
            .iter()
            .filter(|(_, message)| message.contains("time to acquire exceeded slow threshold"))
            .collect();
        assert!(
            !slow_statements.is_empty(),
            "a slow statement was noticed: {events:?}"
        );
        assert!(
            !slow_acquires.is_empty(),
            "a slow acquire was noticed: {events:?}"
        );
        for (level, message) in slow_statements.iter().chain(&slow_acquires) {
            assert_eq!(*level, tracing::Level::DEBUG, "{message}");
        }
        // And nothing of sqlx's reaches the CLI's default filter (info, or warn for the
        // quiet commands): a normal run prints no sqlx line.
        let printed: Vec<_> = events
            .iter()
            .filter(|(level, _)| *level <= tracing::Level::INFO)
            .collect();
        assert!(
            printed.is_empty(),
            "sqlx lines a user would see: {printed:?}"
        );
    }

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

    #[tokio::test]
    async fn the_migrations_are_recorded_once_and_a_newer_store_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("migrated.db").display());
        let store = Store::open(&url).await.expect("a fresh store opens");
        store.close().await;
        // Opening again applies nothing twice.
        let store = Store::open(&url).await.expect("reopens");
        let applied: Vec<i64> =
            sqlx::query("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                .fetch_all(&store.pool)
                .await
                .expect("the migration history")
                .iter()
                .map(|row| row.try_get("version").expect("version"))
                .collect();
        assert_eq!(applied, vec![1], "migration 1 applied once");
        // A newer Jianzhen applied a migration this build does not know.
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             SELECT 2, 'from the future', TRUE, checksum, 0 FROM _sqlx_migrations WHERE version = 1",
        )
        .execute(&store.pool)
        .await
        .expect("a later migration recorded");
        store.close().await;
        let Err(error) = Store::open(&url).await else {
            panic!("a store with an unknown migration is refused");
        };
        let message = error.to_string();
        assert!(
            matches!(error, CoordinatorError::StoreVersion { .. }),
            "{message}"
        );
        assert!(message.contains("migration 2"), "{message}");
        assert!(message.contains("newer Jianzhen"), "{message}");
    }
}
