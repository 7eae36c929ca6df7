//! Runs: their records, state and counts.

use super::rows;
use super::*;

impl Store {
    /// A resumed run whose items are all done is complete; one with open work runs again.
    ///
    /// # Errors
    /// Database errors.
    pub async fn refresh_run_state(&self, run_id: &str, now_ms: i64) -> Result<(), StoreError> {
        let shards: Vec<String> =
            sqlx::query_scalar("SELECT shard_id FROM shards WHERE run_id = $1 AND state <> $2")
                .bind(run_id)
                .bind(SHARD_DONE)
                .fetch_all(&self.pool)
                .await?;
        for shard_id in &shards {
            let open = self.open_item_count(run_id, shard_id).await?;
            if open == 0 {
                self.finish_shard(run_id, shard_id, now_ms).await?;
            }
        }
        let remaining: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM shards WHERE run_id = $1 AND state <> $2")
                .bind(run_id)
                .bind(SHARD_DONE)
                .fetch_one(&self.pool)
                .await?;
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
    pub async fn run_record(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        Ok(sqlx::query_as::<_, RunRecord>(
            "SELECT run_id, name, spec_toml, manifest_json, state, created_at_ms, owner FROM runs WHERE run_id = $1",
        )
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// # Errors
    /// Database errors.
    pub async fn list_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        Ok(sqlx::query_as::<_, RunRecord>(
            "SELECT run_id, name, spec_toml, manifest_json, state, created_at_ms, owner FROM runs ORDER BY created_at_ms, run_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// # Errors
    /// Database errors.
    pub async fn run_counts(&self, run_id: &str) -> Result<RunCounts, StoreError> {
        let count = |sql: &'static str| async move {
            let value: i64 = sqlx::query_scalar(sql)
                .bind(run_id)
                .fetch_one(&self.pool)
                .await?;
            Ok::<u64, StoreError>(u64::try_from(value).unwrap_or(0))
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
        counts.outcomes = sqlx::query_as::<_, rows::OutcomeCount>(
            "SELECT outcome, COUNT(*) AS n FROM results WHERE run_id = $1 GROUP BY outcome ORDER BY outcome",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| (row.outcome, row.count))
        .collect();
        Ok(counts)
    }
}
