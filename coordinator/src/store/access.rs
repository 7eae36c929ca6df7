//! The store's tables of trust: tokens (hashes only), vendor-registered endpoints (keys
//! sealed), suites published to vendors, and the audit log. Rows in, typed records out
//! (their `FromRow` mappings are in `rows`);
//! the rules about who may do what live in `auth` and the controller.

use sqlx::Row;

use super::{Store, StoreError};

/// A token as the store keeps it: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub name: String,
    pub role: String,
    pub trusted: bool,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

/// A registered endpoint; its key is sealed (`secrets::Sealed` as hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRecord {
    pub owner: String,
    pub name: String,
    pub base_url: String,
    pub model: String,
    pub vendor: String,
    pub key_nonce: String,
    pub key_sealed: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedSuiteRecord {
    pub name: String,
    pub suite_toml: String,
    pub description: String,
    pub items: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
}

impl Store {
    /// Adds a token. Returns false when a token of that name exists (names are
    /// identities and are never reused, even after revocation).
    ///
    /// # Errors
    /// Database errors.
    pub async fn insert_token(
        &self,
        record: &TokenRecord,
        token_hash: &str,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO tokens (name, role, token_hash, trusted, created_at_ms, expires_at_ms, revoked_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, NULL) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&record.name)
        .bind(&record.role)
        .bind(token_hash)
        .bind(i64::from(record.trusted))
        .bind(record.created_at_ms)
        .bind(record.expires_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// # Errors
    /// Database errors.
    pub async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        Ok(sqlx::query_as::<_, TokenRecord>(
            "SELECT name, role, trusted, created_at_ms, expires_at_ms, revoked_at_ms FROM tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// # Errors
    /// Database errors.
    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        Ok(sqlx::query_as::<_, TokenRecord>(
            "SELECT name, role, trusted, created_at_ms, expires_at_ms, revoked_at_ms FROM tokens ORDER BY created_at_ms, name",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Revokes the named token; returns false when there is no live token of that name.
    ///
    /// # Errors
    /// Database errors.
    pub async fn revoke_token(&self, name: &str, now_ms: i64) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE tokens SET revoked_at_ms = $1 WHERE name = $2 AND revoked_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Registers (or replaces) an endpoint. Returns true when one was replaced.
    ///
    /// # Errors
    /// Database errors.
    pub async fn upsert_endpoint(&self, record: &EndpointRecord) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let removed = sqlx::query("DELETE FROM endpoints WHERE owner = $1 AND name = $2")
            .bind(&record.owner)
            .bind(&record.name)
            .execute(&mut *transaction)
            .await?;
        sqlx::query(
            "INSERT INTO endpoints (owner, name, base_url, model, vendor, key_nonce, key_sealed, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&record.owner)
        .bind(&record.name)
        .bind(&record.base_url)
        .bind(&record.model)
        .bind(&record.vendor)
        .bind(&record.key_nonce)
        .bind(&record.key_sealed)
        .bind(record.created_at_ms)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(removed.rows_affected() > 0)
    }

    /// # Errors
    /// Database errors.
    pub async fn endpoint(
        &self,
        owner: &str,
        name: &str,
    ) -> Result<Option<EndpointRecord>, StoreError> {
        Ok(sqlx::query_as::<_, EndpointRecord>(
            "SELECT owner, name, base_url, model, vendor, key_nonce, key_sealed, created_at_ms FROM endpoints WHERE owner = $1 AND name = $2",
        )
        .bind(owner)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The endpoints of `owner`, or of every owner when `None`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_endpoints(
        &self,
        owner: Option<&str>,
    ) -> Result<Vec<EndpointRecord>, StoreError> {
        let rows = match owner {
            Some(owner) => {
                sqlx::query_as::<_, EndpointRecord>(
            "SELECT owner, name, base_url, model, vendor, key_nonce, key_sealed, created_at_ms FROM endpoints WHERE owner = $1 ORDER BY name",
        )
                .bind(owner)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as::<_, EndpointRecord>(
            "SELECT owner, name, base_url, model, vendor, key_nonce, key_sealed, created_at_ms FROM endpoints ORDER BY owner, name",
        )
                .fetch_all(&self.pool)
                .await?
            }
        };
        Ok(rows)
    }

    /// # Errors
    /// Database errors.
    pub async fn publish_suite(
        &self,
        record: &PublishedSuiteRecord,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query("DELETE FROM published_suites WHERE name = $1")
            .bind(&record.name)
            .execute(&mut *transaction)
            .await?;
        sqlx::query(
            "INSERT INTO published_suites (name, suite_toml, description, items, published_at_ms)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&record.name)
        .bind(&record.suite_toml)
        .bind(&record.description)
        .bind(record.items)
        .bind(now_ms)
        .execute(&mut *transaction)
        .await?;
        Ok(transaction.commit().await?)
    }

    /// # Errors
    /// Database errors.
    pub async fn published_suites(&self) -> Result<Vec<PublishedSuiteRecord>, StoreError> {
        Ok(sqlx::query_as::<_, PublishedSuiteRecord>(
            "SELECT name, suite_toml, description, items FROM published_suites ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// # Errors
    /// Database errors.
    pub async fn record_audit(&self, entry: &AuditRecord) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit (at_ms, actor, action, target) VALUES ($1, $2, $3, $4)")
            .bind(entry.at_ms)
            .bind(&entry.actor)
            .bind(&entry.action)
            .bind(&entry.target)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The newest `limit` entries, newest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn audit_entries(&self, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(sqlx::query_as::<_, AuditRecord>(
            "SELECT at_ms, actor, action, target FROM audit ORDER BY at_ms DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every text value of every row of every table, for tests that prove a secret is
    /// stored nowhere in clear.
    ///
    /// # Errors
    /// Database errors.
    pub async fn dump_all_text(&self) -> Result<Vec<String>, StoreError> {
        let tables = [
            "runs",
            "shards",
            "items",
            "results",
            "retired_results",
            "response_cache",
            "meta",
            "tokens",
            "endpoints",
            "published_suites",
            "audit",
        ];
        let mut values = Vec::new();
        for table in tables {
            // The table names are the fixed list above, never input.
            for row in sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
                .fetch_all(&self.pool)
                .await?
            {
                for index in 0..row.len() {
                    if let Ok(Some(text)) = row.try_get::<Option<String>, _>(index) {
                        values.push(text);
                    }
                }
            }
        }
        Ok(values)
    }
}
