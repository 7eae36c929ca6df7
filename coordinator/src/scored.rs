//! What a stored result is worth: its credit (the share of the item's points earned) and
//! its weight in averages, decided by the item's kind ([`ItemKind::credit`],
//! [`ItemKind::weight`]) from the stored extraction. The store returns results as stored
//! ([`ResultRow`]); grading knowledge stays with the suites, and this is where the two
//! meet for aggregation.

use jianzhen_suites::grading::ItemKind;

use crate::store::{ResultRow, ScoredRow, Store, StoreError};

impl From<ResultRow> for ScoredRow {
    fn from(row: ResultRow) -> Self {
        let kind: ItemKind = row.kind;
        ScoredRow {
            credit: kind.credit(&row.gold, row.extracted.as_deref(), row.outcome),
            weight: kind.weight(&row.gold),
            endpoint: row.endpoint,
            suite: row.suite,
            subject: row.subject,
            category: row.category,
            item_id: row.item_id,
            repeat: row.repeat,
            gold: row.gold,
            extracted: row.extracted,
            outcome: row.outcome,
            latency_ms: row.latency_ms,
            prompt_tokens: row.prompt_tokens,
            completion_tokens: row.completion_tokens,
            attempts: row.attempts,
            throttled: row.throttled,
            messages_json: row.messages_json,
            option_count: row.option_count,
            response_text: row.response_text,
            finish_reason: row.finish_reason,
            error_message: row.error_message,
        }
    }
}

impl Store {
    /// Every scored result of a run joined with its item, with what it is worth: the
    /// input of aggregation.
    ///
    /// # Errors
    /// Database errors, or a stored kind or outcome this build does not know.
    pub async fn scored_rows(&self, run_id: &str) -> Result<Vec<ScoredRow>, StoreError> {
        Ok(self
            .result_rows(run_id)
            .await?
            .into_iter()
            .map(ScoredRow::from)
            .collect())
    }
}
