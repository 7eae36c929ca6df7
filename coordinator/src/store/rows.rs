//! Rows out of the store, mapped once per type: every record the store returns
//! implements sqlx's [`FromRow`], so a query names its type (`query_as::<_, CacheHit>`)
//! and no method maps columns by hand.
//!
//! Item kinds, outcomes and options are parsed here, where they leave the store; a value
//! this build cannot read comes back as a column decode error that [`StoreError`] turns
//! into its typed form (`UnknownKind`, `UnknownValue`).
//!
//! Hand-written rather than `#[derive(FromRow)]`: the derive's proc-macro crate would
//! compile a second sqlx, with a bundled SQLite and the PostgreSQL driver, for the build
//! host into every build (minutes on CI) for the same few lines per type.

use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use super::access::{AuditRecord, EndpointRecord, PublishedSuiteRecord, TokenRecord};
use super::*;
use crate::audit::ProvenanceMcRow;

/// A stored value this build has no meaning for (a store written by another version).
#[derive(Debug, thiserror::Error)]
#[error(
    "stored {column} `{value}` is unknown to this version of Jianzhen; open this store with the Jianzhen version that wrote it, or start a new store"
)]
pub(super) struct UnknownStoredValue {
    pub(super) column: &'static str,
    pub(super) value: String,
}

fn decode_error(
    column: &str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: Box::new(source),
    }
}

/// A count or size stored as BIGINT; negative values (never written) read as 0.
pub(super) fn u32_at(row: &AnyRow, column: &str) -> Result<u32, sqlx::Error> {
    let value: i64 = row.try_get(column)?;
    Ok(u32::try_from(value.max(0)).unwrap_or(u32::MAX))
}

fn u64_at(row: &AnyRow, column: &str) -> Result<u64, sqlx::Error> {
    let value: i64 = row.try_get(column)?;
    Ok(u64::try_from(value.max(0)).unwrap_or(0))
}

/// An item's kind, by its stored name.
pub(super) fn kind_at(row: &AnyRow, column: &str) -> Result<ItemKind, sqlx::Error> {
    let text: String = row.try_get(column)?;
    text.parse::<ItemKind>()
        .map_err(|source| decode_error(column, source))
}

/// A result's outcome, by its stored name.
pub(super) fn outcome_at(row: &AnyRow, column: &'static str) -> Result<Outcome, sqlx::Error> {
    let text: String = row.try_get(column)?;
    text.parse::<Outcome>().map_err(|_| {
        decode_error(
            column,
            UnknownStoredValue {
                column,
                value: text.clone(),
            },
        )
    })
}

/// An item's options (a JSON list of texts, written by the planner).
fn options_at(row: &AnyRow, column: &'static str) -> Result<Vec<String>, sqlx::Error> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|_| {
        decode_error(
            column,
            UnknownStoredValue {
                column,
                value: text.chars().take(80).collect(),
            },
        )
    })
}

impl FromRow<'_, AnyRow> for PendingShard {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(PendingShard {
            run_id: row.try_get("run_id")?,
            shard_id: row.try_get("shard_id")?,
            endpoint: row.try_get("endpoint")?,
            epoch: u64_at(row, "epoch")?,
        })
    }
}

impl FromRow<'_, AnyRow> for OpenItem {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(OpenItem {
            item_key: row.try_get("item_key")?,
            repeat: u32_at(row, "repeat_index")?,
            messages_json: row.try_get("messages_json")?,
            max_tokens: u32_at(row, "max_tokens")?,
            top_logprobs: u32_at(row, "top_logprobs")?,
        })
    }
}

impl FromRow<'_, AnyRow> for ScoringInput {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(ScoringInput {
            gold: row.try_get("gold")?,
            options: options_at(row, "options_json")?,
            request_key: row.try_get("request_key")?,
            kind: kind_at(row, "kind")?,
        })
    }
}

impl FromRow<'_, AnyRow> for ShardItemScoring {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(ShardItemScoring {
            item_key: row.try_get("item_key")?,
            repeat: u32_at(row, "repeat_index")?,
            endpoint: row.try_get("endpoint")?,
            scoring: ScoringInput::from_row(row)?,
        })
    }
}

/// What scoring needs of one item, with the endpoint it was planned for.
pub(super) struct EndpointScoringInput {
    pub(super) endpoint: String,
    pub(super) scoring: ScoringInput,
}

impl FromRow<'_, AnyRow> for EndpointScoringInput {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(EndpointScoringInput {
            endpoint: row.try_get("endpoint")?,
            scoring: ScoringInput::from_row(row)?,
        })
    }
}

impl FromRow<'_, AnyRow> for CacheHit {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(CacheHit {
            endpoint: row.try_get("endpoint")?,
            item_key: row.try_get("item_key")?,
            repeat: u32_at(row, "repeat_index")?,
            shard_id: row.try_get("shard_id")?,
            scoring: ScoringInput::from_row(row)?,
            response_text: row.try_get("response_text")?,
            finish_reason: row.try_get("finish_reason")?,
            prompt_tokens: u32_at(row, "prompt_tokens")?,
            completion_tokens: u32_at(row, "completion_tokens")?,
            latency_ms: u64_at(row, "latency_ms")?,
            logprobs_json: row.try_get("logprobs_json")?,
            judge_text: row.try_get("judge_text")?,
        })
    }
}

impl FromRow<'_, AnyRow> for RescoreInput {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(RescoreInput {
            endpoint: row.try_get("endpoint")?,
            item_key: row.try_get("item_key")?,
            repeat: u32_at(row, "repeat_index")?,
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
    }
}

impl FromRow<'_, AnyRow> for ResultRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(ResultRow {
            kind: kind_at(row, "kind")?,
            endpoint: row.try_get("endpoint")?,
            suite: row.try_get("suite")?,
            subject: row.try_get("subject")?,
            category: row.try_get("category")?,
            item_id: row.try_get("item_id")?,
            repeat: u32_at(row, "repeat_index")?,
            gold: row.try_get("gold")?,
            extracted: row.try_get("extracted")?,
            outcome: outcome_at(row, "outcome")?,
            latency_ms: u64_at(row, "latency_ms")?,
            prompt_tokens: u32_at(row, "prompt_tokens")?,
            completion_tokens: u32_at(row, "completion_tokens")?,
            attempts: u32_at(row, "attempts")?,
            throttled: u32_at(row, "throttled")?,
            messages_json: row.try_get("messages_json")?,
            option_count: u8::try_from(options_at(row, "options_json")?.len()).unwrap_or(u8::MAX),
            response_text: row.try_get("response_text")?,
            finish_reason: row.try_get("finish_reason")?,
            error_message: row.try_get("error_message")?,
        })
    }
}

impl FromRow<'_, AnyRow> for ContaminationRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(ContaminationRow {
            endpoint: row.try_get("endpoint")?,
            kind: kind_at(row, "kind")?,
            subject: row.try_get("subject")?,
            // The audited suite is stored as the item's category.
            suite: row.try_get("category")?,
            item_id: row.try_get("item_id")?,
            repeat: u32_at(row, "repeat_index")?,
            gold: row.try_get("gold")?,
            options: options_at(row, "options_json")?,
            extracted: row.try_get("extracted")?,
            outcome: outcome_at(row, "outcome")?,
            response_text: row.try_get("response_text")?,
            // Written by this store as `[["token", logprob], …]`; a row without any
            // (`""`) has none.
            logprobs: serde_json::from_str(&row.try_get::<String, _>("logprobs_json")?)
                .unwrap_or_default(),
            error_message: row.try_get("error_message")?,
        })
    }
}

impl FromRow<'_, AnyRow> for ProbeRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let stored = kind_at(row, "kind")?;
        let ItemKind::Probe(kind) = stored else {
            return Err(decode_error(
                "kind",
                UnknownStoredValue {
                    column: "probe kind",
                    value: stored.name(),
                },
            ));
        };
        Ok(ProbeRow {
            endpoint: row.try_get("endpoint")?,
            kind,
            probe_id: row.try_get("item_id")?,
            repeat: u32_at(row, "repeat_index")?,
            response_text: row.try_get("response_text")?,
            prompt_tokens: u32_at(row, "prompt_tokens")?,
            completion_tokens: u32_at(row, "completion_tokens")?,
            outcome: outcome_at(row, "outcome")?,
            error_message: row.try_get("error_message")?,
        })
    }
}

impl FromRow<'_, AnyRow> for RunRecord {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
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
}

/// One outcome of a run with how many results have it.
pub(super) struct OutcomeCount {
    pub(super) outcome: Outcome,
    pub(super) count: u64,
}

impl FromRow<'_, AnyRow> for OutcomeCount {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(OutcomeCount {
            outcome: outcome_at(row, "outcome")?,
            count: u64_at(row, "n")?,
        })
    }
}

impl FromRow<'_, AnyRow> for TokenRecord {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(TokenRecord {
            name: row.try_get("name")?,
            role: row.try_get("role")?,
            trusted: row.try_get::<i64, _>("trusted")? != 0,
            created_at_ms: row.try_get("created_at_ms")?,
            expires_at_ms: row.try_get("expires_at_ms")?,
            revoked_at_ms: row.try_get("revoked_at_ms")?,
        })
    }
}

impl FromRow<'_, AnyRow> for EndpointRecord {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(EndpointRecord {
            owner: row.try_get("owner")?,
            name: row.try_get("name")?,
            base_url: row.try_get("base_url")?,
            model: row.try_get("model")?,
            vendor: row.try_get("vendor")?,
            key_nonce: row.try_get("key_nonce")?,
            key_sealed: row.try_get("key_sealed")?,
            created_at_ms: row.try_get("created_at_ms")?,
        })
    }
}

impl FromRow<'_, AnyRow> for PublishedSuiteRecord {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(PublishedSuiteRecord {
            name: row.try_get("name")?,
            suite_toml: row.try_get("suite_toml")?,
            description: row.try_get("description")?,
            items: row.try_get("items")?,
        })
    }
}

impl FromRow<'_, AnyRow> for AuditRecord {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(AuditRecord {
            at_ms: row.try_get("at_ms")?,
            actor: row.try_get("actor")?,
            action: row.try_get("action")?,
            target: row.try_get("target")?,
        })
    }
}

impl FromRow<'_, AnyRow> for ProvenanceMcRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(ProvenanceMcRow {
            endpoint: row.try_get("endpoint")?,
            kind: kind_at(row, "kind")?,
            // The persona a slice was asked under is stored as the item's subject, the
            // suite it came from as its category.
            persona: row.try_get("subject")?,
            suite: row.try_get("category")?,
            item_id: row.try_get("item_id")?,
            repeat: u32_at(row, "repeat_index")?,
            gold: row.try_get("gold")?,
            options: options_at(row, "options_json")?,
            outcome: outcome_at(row, "outcome")?,
            response_text: row.try_get("response_text")?,
            finish_reason: row.try_get("finish_reason")?,
            logprobs_json: row.try_get("logprobs_json")?,
        })
    }
}
