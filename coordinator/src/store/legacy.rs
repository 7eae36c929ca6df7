//! Stores written before the store had migrations: their `meta` table names a schema
//! version (4, 5 or 6), and there is no migration history. This brings schema 4 and 5 to
//! schema 6, the schema that migration 1 writes idempotently, so that the migrator can
//! adopt them; it is frozen (nothing new is ever added here — a schema change is a new
//! migration).

use super::*;

impl Store {
    /// Reads the `meta` schema version of a store written before migrations and upgrades
    /// schema 4 and 5 to 6. A fresh store (no `meta` table yet) and a store at 6 pass
    /// untouched; a store whose version this build cannot upgrade is refused with advice.
    pub(super) async fn upgrade_legacy_schema(&self, url: &str) -> Result<(), CoordinatorError> {
        let version = match sqlx::query("SELECT value FROM meta WHERE key = 'schema_version'")
            .fetch_optional(&self.pool)
            .await
        {
            Ok(row) => row
                .map(|row| row.try_get::<String, _>("value"))
                .transpose()?,
            // No `meta` table: a fresh store, made by the migrations.
            Err(sqlx::Error::Database(_)) => return Ok(()),
            Err(other) => return Err(StoreError::Database(other).into()),
        };
        let found = match version.as_deref() {
            Some(SCHEMA_VERSION) => return Ok(()),
            Some("4") => {
                self.upgrade_4_to_5().await?;
                return self.upgrade_5_to_6().await;
            }
            Some("5") => return self.upgrade_5_to_6().await,
            // A later schema is the migrator's to judge (it knows which it can run).
            Some(later) if later.parse::<u32>().is_ok_and(|number| number > 6) => {
                return Ok(());
            }
            Some(other) => other.to_string(),
            None => {
                let runs: i64 = sqlx::query("SELECT COUNT(*) AS n FROM runs")
                    .fetch_one(&self.pool)
                    .await?
                    .try_get("n")?;
                if runs == 0 {
                    return Ok(());
                }
                "1".to_string()
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
    async fn upgrade_4_to_5(&self) -> Result<(), CoordinatorError> {
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

    /// Schema 5 → 6: every run has an owner (the lab's, `''`, for all earlier runs), and
    /// items and cached answers carry the limit-free family key. The tables of tokens,
    /// registered endpoints, published suites and the audit are new: migration 1 creates
    /// them right after this.
    async fn upgrade_5_to_6(&self) -> Result<(), CoordinatorError> {
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
