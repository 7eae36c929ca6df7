//! Results: storing answers (at most once each), the response cache, re-scoring, and
//! the rows reports, provenance and the contamination audit read back.

use super::rows;
use super::*;

impl Store {
    /// # Errors
    /// Database errors; `Ok(None)` when the item is not part of the shard.
    pub async fn scoring_input(
        &self,
        run_id: &str,
        shard_id: &str,
        item_key: &str,
        repeat: u32,
    ) -> Result<Option<(String, ScoringInput)>, StoreError> {
        let row = sqlx::query_as::<_, rows::EndpointScoringInput>(
            "SELECT endpoint, gold, options_json, request_key, kind FROM items
             WHERE run_id = $1 AND shard_id = $2 AND item_key = $3 AND repeat_index = $4",
        )
        .bind(run_id)
        .bind(shard_id)
        .bind(item_key)
        .bind(i64::from(repeat))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| (row.endpoint, row.scoring)))
    }

    /// What scoring needs of every item of a shard, sorted by (item key, repeat) so a
    /// reported result finds its item by binary search: read once per lease rather than
    /// once per result.
    ///
    /// # Errors
    /// Database errors.
    pub async fn shard_scoring_inputs(
        &self,
        run_id: &str,
        shard_id: &str,
    ) -> Result<Vec<ShardItemScoring>, StoreError> {
        let mut items = sqlx::query_as::<_, ShardItemScoring>(
            "SELECT endpoint, item_key, repeat_index, gold, options_json, request_key, kind FROM items
             WHERE run_id = $1 AND shard_id = $2",
        )
        .bind(run_id)
        .bind(shard_id)
        .fetch_all(&self.pool)
        .await?;
        // Sorted here, not by the database: PostgreSQL's collation need not be bytewise.
        items.sort_unstable_by(|left, right| {
            (left.item_key.as_str(), left.repeat).cmp(&(right.item_key.as_str(), right.repeat))
        });
        Ok(items)
    }

    /// Stores results; each is stored at most once. Returns how many were new.
    ///
    /// Many rows per statement (and one transaction per call): on SQLite's single
    /// connection a statement per result made the store the cluster's bottleneck.
    ///
    /// # Errors
    /// Database errors.
    pub async fn insert_results(&self, results: &[StoredResult]) -> Result<u32, StoreError> {
        if results.is_empty() {
            return Ok(0);
        }
        let mut transaction = self.pool.begin().await?;
        let mut newly_stored: Vec<(Outcome, u32)> = Vec::with_capacity(results.len());
        for chunk in results.chunks(ROWS_PER_STATEMENT) {
            let sql = insert_results_sql(chunk.len());
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for result in chunk {
                query = query
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
                    .bind(result.extracted.as_deref())
                    .bind(result.outcome.as_str())
                    .bind(result.received_at_ms)
                    .bind(&result.judge_text);
            }
            // Only the rows inserted now come back (a duplicate hits the conflict).
            for row in query.fetch_all(&mut *transaction).await? {
                newly_stored.push((
                    rows::outcome_at(&row, "outcome")?,
                    rows::u32_at(&row, "throttled")?,
                ));
            }
            let cached: Vec<&StoredResult> = chunk
                .iter()
                .filter(|result| result.cache_key.is_some())
                .collect();
            if cached.is_empty() {
                continue;
            }
            let mut query = sqlx::query(sqlx::AssertSqlSafe(insert_cache_sql(cached.len())));
            for result in cached {
                query = query
                    .bind(result.cache_key.as_deref())
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
                    .bind(i64::from(result.repeat));
            }
            query.execute(&mut *transaction).await?;
        }
        transaction.commit().await?;
        // Counted once committed, so the counters agree with the store.
        if let Some(metrics) = crate::metrics::get() {
            for (outcome, throttled) in &newly_stored {
                metrics.items.with_label_values(&[outcome.as_str()]).inc();
                metrics.throttled.inc_by(u64::from(*throttled));
            }
        }
        Ok(u32::try_from(newly_stored.len()).unwrap_or(u32::MAX))
    }

    /// Items of a run without a result whose exact request has a cached answer.
    ///
    /// # Errors
    /// Database errors.
    pub async fn cache_hits(&self, run_id: &str) -> Result<Vec<CacheHit>, StoreError> {
        Ok(sqlx::query_as::<_, CacheHit>(
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
        .await?)
    }

    /// The run's open items answerable by the same request under another token limit:
    /// an answer that ended on its own (`stop`) with fewer tokens than the item's limit.
    /// Read after [`Store::cache_hits`] (exact requests first); the largest cached limit
    /// first when several qualify.
    ///
    /// # Errors
    /// Database errors.
    pub async fn cache_family_hits(&self, run_id: &str) -> Result<Vec<CacheHit>, StoreError> {
        Ok(sqlx::query_as::<_, CacheHit>(
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
        .await?)
    }

    /// Sets aside the run's `api_error` results (kept in `retired_results`) and queues
    /// their shards again. Returns how many items were requeued.
    ///
    /// # Errors
    /// Database errors.
    pub async fn retry_api_errors(&self, run_id: &str) -> Result<u64, StoreError> {
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

    /// Every stored result of a run joined with its item, as stored (`Store::scored_rows`
    /// adds what each is worth).
    ///
    /// # Errors
    /// Database errors.
    pub async fn result_rows(&self, run_id: &str) -> Result<Vec<ResultRow>, StoreError> {
        Ok(sqlx::query_as::<_, ResultRow>(
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
        .bind(kinds_starting_with(ItemKind::PROBE_PREFIX))
        // The contamination audit's items are evidence about the benchmark, not scores.
        .bind(kinds_starting_with(ItemKind::CONTAMINATION_PREFIX))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every scored (multiple-choice) result of a run with what re-scoring needs.
    ///
    /// # Errors
    /// Database errors.
    pub async fn rescore_inputs(&self, run_id: &str) -> Result<Vec<RescoreInput>, StoreError> {
        Ok(sqlx::query_as::<_, RescoreInput>(
            "SELECT r.endpoint, r.item_key, r.repeat_index, i.gold, i.options_json, r.response_text,
                    r.finish_reason, r.error_class, r.extracted, r.outcome, i.kind, r.logprobs_json,
                    r.judge_text
             FROM results r JOIN items i ON i.run_id = r.run_id AND i.endpoint = r.endpoint
                AND i.item_key = r.item_key AND i.repeat_index = r.repeat_index
                          WHERE r.run_id = $1 AND i.kind NOT LIKE $2
             ORDER BY r.endpoint, r.item_key, r.repeat_index",
        )
        .bind(run_id)
        .bind(kinds_starting_with(ItemKind::PROBE_PREFIX))
        .fetch_all(&self.pool)
        .await?)
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
    ) -> Result<(), StoreError> {
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
        Ok(transaction.commit().await?)
    }

    /// The subjects of a run's suite, sorted.
    ///
    /// # Errors
    /// Database errors.
    pub async fn suite_subjects(
        &self,
        run_id: &str,
        suite: &str,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT subject FROM items WHERE run_id = $1 AND suite = $2 ORDER BY subject",
        )
        .bind(run_id)
        .bind(suite)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| row.try_get("subject"))
            .collect::<Result<_, _>>()?)
    }

    /// Switches the answer reading of a run's generated letter answers: for each (suite,
    /// subject, peer), its single-letter, multi-select and sub-question items, in Jianzhen's
    /// reading or any peer's, get that family's kind read by `peer`
    /// ([`ItemKind::read_by`]; `None` is Jianzhen's own); the run's manifest becomes
    /// `manifest_json`. One transaction, so the kinds and the manifest never disagree.
    ///
    /// # Errors
    /// Database errors.
    pub async fn set_answer_reading(
        &self,
        run_id: &str,
        readings: &[(String, String, Option<PeerExtractor>)],
        manifest_json: &str,
    ) -> Result<(), StoreError> {
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
                .bind(kinds_starting_with(&format!("{}@", family.name())))
                .execute(&mut *transaction)
                .await?;
            }
        }
        sqlx::query("UPDATE runs SET manifest_json = $1 WHERE run_id = $2")
            .bind(manifest_json)
            .bind(run_id)
            .execute(&mut *transaction)
            .await?;
        Ok(transaction.commit().await?)
    }

    /// Answers to the contamination audit's items of a run.
    ///
    /// # Errors
    /// Database errors.
    pub async fn contamination_rows(
        &self,
        run_id: &str,
    ) -> Result<Vec<ContaminationRow>, StoreError> {
        Ok(sqlx::query_as::<_, ContaminationRow>(
            "SELECT i.endpoint, i.kind, i.subject, i.category, i.item_id, i.repeat_index, i.gold,
                    i.options_json, r.extracted, r.outcome, r.response_text, r.logprobs_json,
                    r.error_message
             FROM results r JOIN items i ON i.run_id = r.run_id AND i.endpoint = r.endpoint
                AND i.item_key = r.item_key AND i.repeat_index = r.repeat_index
             WHERE r.run_id = $1 AND i.kind LIKE $2
             ORDER BY i.endpoint, i.subject, i.item_id, i.kind, i.repeat_index",
        )
        .bind(run_id)
        .bind(kinds_starting_with(ItemKind::CONTAMINATION_PREFIX))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Answers to the provenance probes of a run.
    ///
    /// # Errors
    /// Database errors.
    pub async fn probe_rows(&self, run_id: &str) -> Result<Vec<ProbeRow>, StoreError> {
        Ok(sqlx::query_as::<_, ProbeRow>(
            "SELECT i.endpoint, i.kind, i.item_id, i.repeat_index, r.response_text, r.prompt_tokens,
                    r.completion_tokens, r.outcome, r.error_message
             FROM results r JOIN items i ON i.run_id = r.run_id AND i.endpoint = r.endpoint
                AND i.item_key = r.item_key AND i.repeat_index = r.repeat_index
                          WHERE r.run_id = $1 AND i.kind LIKE $2
             ORDER BY i.endpoint, i.kind, i.item_id, i.repeat_index",
        )
        .bind(run_id)
        .bind(kinds_starting_with(ItemKind::PROBE_PREFIX))
        .fetch_all(&self.pool)
        .await?)
    }

    /// How a run's planned items are covered by stored results: (items planned, results
    /// stored, planned items without a result, results for no planned item). A run whose
    /// every item was stored exactly once has `planned == stored` and no gap either way.
    ///
    /// # Errors
    /// Database errors.
    pub async fn result_coverage(&self, run_id: &str) -> Result<ResultCoverage, StoreError> {
        let count = |sql: &'static str| async move {
            let count: i64 = sqlx::query_scalar(sql)
                .bind(run_id)
                .fetch_one(&self.pool)
                .await?;
            Ok::<u64, StoreError>(u64::try_from(count).unwrap_or(0))
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

/// Result rows per insert statement: 23 parameters each stays far below SQLite's 32,766
/// and PostgreSQL's 65,535 bound parameters.
const ROWS_PER_STATEMENT: usize = 256;

/// `($1, ..., $n), ($n+1, ...)`: `rows` groups of `columns` numbered placeholders.
fn placeholder_rows(rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(row * columns + column + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

/// Inserts `rows` results, each at most once; returns what the new ones count in the
/// metrics. Both SQLite and PostgreSQL return only the rows inserted.
fn insert_results_sql(rows: usize) -> String {
    format!(
        "INSERT INTO results (run_id, endpoint, item_key, repeat_index, shard_id, epoch, worker_id,
            response_text, finish_reason, prompt_tokens, completion_tokens, latency_ms, error_class,
            error_message, http_status, attempts, throttled, attempt_log_json, logprobs_json, extracted,
            outcome, received_at_ms, judge_text)
         VALUES {}
         ON CONFLICT (run_id, endpoint, item_key, repeat_index) DO NOTHING
         RETURNING outcome, throttled",
        placeholder_rows(rows, 23)
    )
}

/// Caches `rows` answers; each item's family key and token limit come from its planned
/// row. `WHERE TRUE` keeps SQLite from reading `ON CONFLICT` as part of the join.
fn insert_cache_sql(rows: usize) -> String {
    format!(
        "INSERT INTO response_cache (request_key, response_text, finish_reason, prompt_tokens,
            completion_tokens, latency_ms, logprobs_json, created_at_ms, judge_text,
            family_key, max_tokens)
         SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7,
            v.column8, v.column9, i.family_key, i.limit_tokens
         FROM (VALUES {}) AS v
         JOIN items i ON i.run_id = v.column10 AND i.endpoint = v.column11
            AND i.item_key = v.column12 AND i.repeat_index = v.column13
         WHERE TRUE
         ON CONFLICT (request_key) DO NOTHING",
        placeholder_rows(rows, 13)
    )
}
