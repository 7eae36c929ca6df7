-- Jianzhen store, migration 1: the schema as of store schema version 6 (2026-11).
--
-- One text for SQLite and PostgreSQL (sqlx's Any driver). Every statement is
-- idempotent (IF NOT EXISTS) so that a store written before migrations existed, already
-- at schema 6, adopts this migration without change (store/legacy.rs brings schema 4
-- and 5 stores to 6 first). Never edit this file: sqlx checks its checksum against
-- every store it was applied to. A schema change is a new file, 0002_….sql, listed in
-- store/schema.rs MIGRATIONS.

CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    spec_toml TEXT NOT NULL,
    manifest_json TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    finished_at_ms BIGINT,
    owner TEXT NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS shards (
    run_id TEXT NOT NULL,
    shard_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    suite TEXT NOT NULL,
    subject TEXT NOT NULL,
    item_count BIGINT NOT NULL,
    state TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    PRIMARY KEY (run_id, shard_id)
);

CREATE TABLE IF NOT EXISTS items (
    run_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    item_key TEXT NOT NULL,
    repeat_index BIGINT NOT NULL,
    shard_id TEXT NOT NULL,
    suite TEXT NOT NULL,
    subject TEXT NOT NULL,
    category TEXT NOT NULL,
    item_id TEXT NOT NULL,
    gold TEXT NOT NULL,
    options_json TEXT NOT NULL,
    messages_json TEXT NOT NULL,
    template TEXT NOT NULL,
    source TEXT NOT NULL,
    request_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    max_tokens BIGINT NOT NULL,
    top_logprobs BIGINT NOT NULL,
    family_key TEXT NOT NULL DEFAULT '',
    limit_tokens BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, endpoint, item_key, repeat_index)
);

CREATE INDEX IF NOT EXISTS items_by_shard ON items (run_id, shard_id);

CREATE TABLE IF NOT EXISTS results (
    run_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    item_key TEXT NOT NULL,
    repeat_index BIGINT NOT NULL,
    shard_id TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    worker_id TEXT NOT NULL,
    response_text TEXT NOT NULL,
    finish_reason TEXT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    latency_ms BIGINT NOT NULL,
    error_class TEXT NOT NULL,
    error_message TEXT NOT NULL,
    http_status BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    throttled BIGINT NOT NULL,
    attempt_log_json TEXT NOT NULL,
    logprobs_json TEXT NOT NULL,
    judge_text TEXT NOT NULL,
    extracted TEXT,
    outcome TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    PRIMARY KEY (run_id, endpoint, item_key, repeat_index)
);

-- Results set aside by `jianzhen retry`, kept for the record.
CREATE TABLE IF NOT EXISTS retired_results AS SELECT * FROM results WHERE 1 = 0;

-- Answers by exact request, shared by every run in this store.
CREATE TABLE IF NOT EXISTS response_cache (
    request_key TEXT PRIMARY KEY,
    response_text TEXT NOT NULL,
    finish_reason TEXT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    latency_ms BIGINT NOT NULL,
    logprobs_json TEXT NOT NULL,
    judge_text TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    family_key TEXT NOT NULL DEFAULT '',
    max_tokens BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- Bearer tokens: only their SHA-256 (the token is shown once, at creation).
CREATE TABLE IF NOT EXISTS tokens (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    trusted BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT,
    revoked_at_ms BIGINT
);

-- Vendor-registered endpoints; the key only sealed (secrets.rs).
CREATE TABLE IF NOT EXISTS endpoints (
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    base_url TEXT NOT NULL,
    model TEXT NOT NULL,
    vendor TEXT NOT NULL,
    key_nonce TEXT NOT NULL,
    key_sealed TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (owner, name)
);

-- Suites the operator publishes to vendors: a `[[suites]]` table with its data path.
CREATE TABLE IF NOT EXISTS published_suites (
    name TEXT PRIMARY KEY,
    suite_toml TEXT NOT NULL,
    description TEXT NOT NULL,
    items BIGINT NOT NULL,
    published_at_ms BIGINT NOT NULL
);

-- Who did what, for the operator.
CREATE TABLE IF NOT EXISTS audit (
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS cache_by_family ON response_cache (family_key);
