//! The store's side of leasing without a coordinator-wide lock: every change of a
//! shard's lease state is conditional on the state (and epoch) the caller saw, so the
//! store's row is the atomic step and a stale caller changes nothing.
//!
//! - [`Store::claim_pending_shard`] takes a shard only if it is still pending at the
//!   epoch the caller read;
//! - [`Store::finish_leased_shard`] ends only the lease of the given epoch;
//! - [`Store::requeue_leased_shard`] gives back only the lease of the given epoch.

use super::*;

impl Store {
    /// Marks a shard leased under epoch `seen_epoch + 1` if it is still pending at
    /// `seen_epoch` (the epoch the caller read with the queue); returns the new epoch, or
    /// `None` when the shard was claimed, finished or requeued since. Because the caller
    /// knows the epoch its claim would take before it is sent, a claim whose answer never
    /// comes back can still be given back fenced by that epoch.
    ///
    /// # Errors
    /// Database errors.
    pub async fn claim_pending_shard(
        &self,
        run_id: &str,
        shard_id: &str,
        seen_epoch: u64,
    ) -> Result<Option<u64>, StoreError> {
        let epoch = seen_epoch.saturating_add(1);
        let claimed = sqlx::query(
            "UPDATE shards SET state = $1, epoch = $2
             WHERE run_id = $3 AND shard_id = $4 AND state = $5 AND epoch = $6",
        )
        .bind(SHARD_LEASED)
        .bind(as_i64(epoch))
        .bind(run_id)
        .bind(shard_id)
        .bind(SHARD_PENDING)
        .bind(as_i64(seen_epoch))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok((claimed > 0).then_some(epoch))
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
        let open = self.open_item_count(run_id, shard_id).await?;
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
            self.complete_run_if_every_shard_is_done(run_id, now_ms)
                .await?;
        }
        Ok(Some(open == 0))
    }

    /// Puts a shard leased under `epoch` back in the queue; a shard leased again since
    /// (a higher epoch) or no longer leased is left alone. Returns whether it changed.
    ///
    /// # Errors
    /// Database errors.
    pub async fn requeue_leased_shard(
        &self,
        run_id: &str,
        shard_id: &str,
        epoch: u64,
    ) -> Result<bool, StoreError> {
        let changed = sqlx::query(
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
        .rows_affected();
        Ok(changed > 0)
    }
}
