//! Planned items and their shards: inserting a plan, leasing shards under epochs, the
//! open items of a shard, finishing and requeueing shards.

use super::*;

impl Store {
    /// Shards waiting for a worker and the items they hold: the queue depth.
    ///
    /// # Errors
    /// Database errors (the store is unreachable).
    pub async fn queue_depth(&self) -> Result<(u64, u64), StoreError> {
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
    ) -> Result<bool, StoreError> {
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
    pub async fn requeue_all_leased(&self) -> Result<u64, StoreError> {
        Ok(sqlx::query("UPDATE shards SET state = $1 WHERE state = $2")
            .bind(SHARD_PENDING)
            .bind(SHARD_LEASED)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Pending shards of running runs, oldest run first, in a stable order.
    ///
    /// # Errors
    /// Database errors.
    pub async fn pending_shards(&self, limit: u32) -> Result<Vec<PendingShard>, StoreError> {
        Ok(sqlx::query_as::<_, PendingShard>(
            "SELECT s.run_id, s.shard_id, s.endpoint, s.epoch FROM shards s JOIN runs r ON r.run_id = s.run_id
             WHERE s.state = $1 AND r.state = $2
             ORDER BY r.created_at_ms, s.run_id, s.shard_id LIMIT $3",
        )
        .bind(SHARD_PENDING)
        .bind(RUN_RUNNING)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Items of a shard that have no stored result yet.
    ///
    /// # Errors
    /// Database errors.
    pub async fn open_items(
        &self,
        run_id: &str,
        shard_id: &str,
    ) -> Result<Vec<OpenItem>, StoreError> {
        Ok(sqlx::query_as::<_, OpenItem>(
            "SELECT i.item_key, i.repeat_index, i.messages_json, i.max_tokens, i.top_logprobs FROM items i
             LEFT JOIN results r ON r.run_id = i.run_id AND r.endpoint = i.endpoint
                AND r.item_key = i.item_key AND r.repeat_index = i.repeat_index
             WHERE i.run_id = $1 AND i.shard_id = $2 AND r.item_key IS NULL
             ORDER BY i.item_key, i.repeat_index",
        )
        .bind(run_id)
        .bind(shard_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// How many of the shard's items have no result yet: the count of [`Store::open_items`],
    /// without reading every item's prompt to get it (this runs on every shard's end).
    ///
    /// # Errors
    /// Database errors.
    pub async fn open_item_count(&self, run_id: &str, shard_id: &str) -> Result<u64, StoreError> {
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM items i
             LEFT JOIN results r ON r.run_id = i.run_id AND r.endpoint = i.endpoint
                AND r.item_key = i.item_key AND r.repeat_index = i.repeat_index
             WHERE i.run_id = $1 AND i.shard_id = $2 AND r.item_key IS NULL",
        )
        .bind(run_id)
        .bind(shard_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(open).unwrap_or(0))
    }

    /// Marks the run complete (with its finish time) once none of its shards is left
    /// undone; the one place both ways of finishing a shard end a run.
    pub(super) async fn complete_run_if_every_shard_is_done(
        &self,
        run_id: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
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
        Ok(())
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
    ) -> Result<bool, StoreError> {
        let open = self.open_item_count(run_id, shard_id).await?;
        let state = if open == 0 { SHARD_DONE } else { SHARD_PENDING };
        sqlx::query("UPDATE shards SET state = $1 WHERE run_id = $2 AND shard_id = $3")
            .bind(state)
            .bind(run_id)
            .bind(shard_id)
            .execute(&self.pool)
            .await?;
        if open == 0 {
            self.complete_run_if_every_shard_is_done(run_id, now_ms)
                .await?;
        }
        Ok(open == 0)
    }
}
