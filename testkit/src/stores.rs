//! Stores for tests: SQLite in the test's folder by default; a fresh PostgreSQL database
//! per test when `JIANZHEN_TEST_POSTGRES_URL` names a server (as `.ci/run` does), so the
//! same tests exercise both stores.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

static DATABASES: AtomicU32 = AtomicU32::new(0);

/// The environment variable holding an admin URL of a PostgreSQL server for tests,
/// e.g. `postgres://jianzhen:jianzhen@127.0.0.1:5432/postgres`.
pub const POSTGRES_ENV: &str = "JIANZHEN_TEST_POSTGRES_URL";

/// A store URL for one test.
///
/// # Panics
/// If `JIANZHEN_TEST_POSTGRES_URL` is set but the database cannot be created.
pub async fn test_store_url(dir: &Path, name: &str) -> String {
    match std::env::var(POSTGRES_ENV) {
        Ok(base) if !base.is_empty() => fresh_postgres_database(&base, name).await,
        _ => {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                crate::skipped(
                    "the PostgreSQL runs of the store tests",
                    &format!("{POSTGRES_ENV} is not set; they ran on SQLite (scripts/start-postgres.sh starts a server)"),
                );
            });
            format!("sqlite:{}", dir.join(format!("{name}.db")).display())
        }
    }
}

/// Creates an empty database on the server of `admin_url` and returns its URL.
///
/// # Panics
/// If the server cannot be reached or refuses.
pub async fn fresh_postgres_database(admin_url: &str, name: &str) -> String {
    sqlx::any::install_default_drivers();
    let database = format!(
        "jz_{}_{}_{}",
        name.chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_lowercase(),
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::SeqCst)
    );
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(admin_url)
        .await
        .unwrap_or_else(|error| {
            panic!("cannot reach the test PostgreSQL server ({POSTGRES_ENV}): {error}")
        });
    let statement = format!("CREATE DATABASE {database}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(&pool)
        .await
        .unwrap_or_else(|error| panic!("cannot create test database {database}: {error}"));
    pool.close().await;
    let (without_query, query) = admin_url
        .split_once('?')
        .map_or((admin_url, None), |(url, query)| (url, Some(query)));
    let base = without_query
        .rsplit_once('/')
        .map_or(without_query, |(base, _)| base);
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}
