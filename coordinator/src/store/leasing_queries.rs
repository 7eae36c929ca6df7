//! The store's side of leasing without a coordinator-wide lock: every change of a
//! shard's lease state is conditional on the state (and epoch) the caller saw, so the
//! store's row is the atomic step and a stale caller changes nothing.
//!
//! - [`Store::claim_pending_shard`] takes a shard only if it is still pending;
//! - [`Store::finish_leased_shard`] ends only the lease of the given epoch;
//! - [`Store::requeue_leased_shard`] gives back only the lease of the given epoch.

use super::*;

impl Store {
    /// Marks a pending shard leased and raises its epoch; returns the new epoch, or
    /// `None` when the shard is no longer pending (another lease, finished, or its
    /// previous lease not yet requeued).
    ///
    /// # Errors
    /// Database errors.
    pub async fn claim_pending_shard(
        &self,
        run_id: &str,
        shard_id: &str,
    ) -> Result<Option<u64>, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let claimed = sqlx::query(
            "UPDATE shards SET state = $1, epoch = epoch + 1
             WHERE run_id = $2 AND shard_id = $3 AND state = $4",
        )
        .bind(SHARD_LEASED)
        .bind(run_id)
        .bind(shard_id)
        .bind(SHARD_PENDING)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        if claimed == 0 {
            transaction.rollback().await?;
            return Ok(None);
        }
        let epoch: i64 =
            sqlx::query_scalar("SELECT epoch FROM shards WHERE run_id = $1 AND shard_id = $2")
                .bind(run_id)
                .bind(shard_id)
                .fetch_one(&mut *transaction)
                .await?;
        transaction.commit().await?;
        Ok(Some(u64::try_from(epoch).unwrap_or(0)))
    }

    /// Ends the lease of `epoch`: the shard is done if every item has a result, else
    /// pending again; the run is complete when its last shard is done. Returns
    /// `Some(done)`, or `None` when the shard is not leased under `epoch` any more (the
    /// lease expired and was requeued meanwhile): nothing is changed then.
    ///
    /// # Errors
    /// Database errors.
    pub async fn finish_leased_shard(
        &self,
        run_id: &str,
        shard_id: &str,
        epoch: u64,
        now_ms: i64,
    ) -> Result<Option<bool>, StoreError> {
        let open = self.open_items(run_id, shard_id).await?.len();
        let state = if open == 0 { SHARD_DONE } else { SHARD_PENDING };
        let changed = sqlx::query(
            "UPDATE shards SET state = $1
             WHERE run_id = $2 AND shard_id = $3 AND state = $4 AND epoch = $5",
        )
        .bind(state)
        .bind(run_id)
        .bind(shard_id)
        .bind(SHARD_LEASED)
        .bind(as_i64(epoch))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(None);
        }
        if open == 0 {
            let remaining: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM shards WHERE run_id = $1 AND state <> $2")
                    .bind(run_id)
                    .bind(SHARD_DONE)
                    .fetch_one(&self.pool)
                    .await?;
            if remaining == 0 {
                sqlx::query(
                    "UPDATE runs SET state = $1, finished_at_ms = $2 WHERE run_id = $3 AND state <> $1",
                )
                .bind(RUN_COMPLETE)
                .bind(now_ms)
                .bind(run_id)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(Some(open == 0))
    }

    /// Puts a shard leased under `epoch` back in the queue; a shard leased again since
    /// (a higher epoch) or no longer leased is left alone. `None` requeues whatever lease
    /// the shard has (a claim whose epoch never came back). Returns whether it changed.
    ///
    /// # Errors
    /// Database errors.
    pub async fn requeue_leased_shard(
        &self,
        run_id: &str,
        shard_id: &str,
        epoch: Option<u64>,
    ) -> Result<bool, StoreError> {
        let changed = match epoch {
            Some(epoch) => sqlx::query(
                "UPDATE shards SET state = $1
                 WHERE run_id = $2 AND shard_id = $3 AND state = $4 AND epoch = $5",
            )
            .bind(SHARD_PENDING)
            .bind(run_id)
            .bind(shard_id)
            .bind(SHARD_LEASED)
            .bind(as_i64(epoch))
            .execute(&self.pool)
            .await?
            .rows_affected(),
            None => sqlx::query(
                "UPDATE shards SET state = $1 WHERE run_id = $2 AND shard_id = $3 AND state = $4",
            )
            .bind(SHARD_PENDING)
            .bind(run_id)
            .bind(shard_id)
            .bind(SHARD_LEASED)
            .execute(&self.pool)
            .await?
            .rows_affected(),
        };
        Ok(changed > 0)
    }
}
