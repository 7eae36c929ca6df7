//! The coordinator's logic, independent of gRPC: a thin orchestrator over parts that
//! each own their state, in the manner of quickwit's control plane.
//!
//! # Layout
//! - `leasing`: the lease table, budgets (AIMD), planning marks and requeue backlog
//!   ([`LeaseManager`]), and the lease, complete and sweep flows; its lock is never held
//!   across a store call;
//! - `scoring`: grading reported results, answering from the response cache, re-scoring;
//! - `lifecycle`: submitting, retrying, status and listing of runs;
//! - `reports`: rendered reports and fingerprint profiles;
//! - `tenancy`: who owns which run and endpoint, and what each role may do.
//!
//! The gRPC layer in [`crate::service`] only translates messages to these calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jianzhen_proto::v1;
use jianzhen_suites::template;

use crate::error::CoordinatorError;
use crate::planner;
pub(crate) use crate::planner::prepare::resolve_extractor;
pub use crate::planner::prepare_suites;
use crate::spec::RunSpec;
use crate::store::{RunRecord, Store};

mod leasing;
mod lifecycle;
mod reports;
mod scoring;
mod tenancy;
pub use leasing::{BudgetView, LeaseCounts, LeaseManager, PlanningGuard, Reserved};
pub use reports::rfc3339_from_millis;
pub use scoring::{MAX_ERROR_MESSAGE_BYTES, MAX_STORED_TEXT_BYTES};
pub use tenancy::{create_token, revoke_token};

/// Timing knobs. Defaults suit a cluster; tests shorten them.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// A worker that has not heartbeated for this long is dead; its leases expire.
    pub heartbeat_ttl: Duration,
    /// How often workers are asked to heartbeat.
    pub heartbeat_interval: Duration,
    /// How often expired leases are swept.
    pub sweep_interval: Duration,
    /// Progress deadline of a lease; `None` derives it from the endpoint's timeout and
    /// attempts, so a slow but working endpoint never loses its leases.
    pub progress_timeout: Option<Duration>,
    /// Seals and opens the keys of vendor-registered endpoints; without it, registering
    /// an endpoint with a key is refused.
    pub secrets: Option<crate::secrets::SecretBox>,
    /// Started with `--insecure`: every status says so.
    pub insecure: bool,
    /// What one vendor token may ask for.
    pub vendor_quota: VendorQuota,
    /// The folder published suites' data must lie under (`--data-root`); `None`: any
    /// absolute path the admin names.
    pub data_root: Option<std::path::PathBuf>,
}

/// Per-vendor limits: a vendor is evaluated, it does not get the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorQuota {
    /// Items of one run (suite items × endpoints × repeats).
    pub max_items_per_run: u64,
    /// Runs of the vendor not yet complete.
    pub max_runs_in_flight: u64,
    pub max_repeats: u32,
}

impl Default for VendorQuota {
    fn default() -> Self {
        VendorQuota {
            max_items_per_run: 200_000,
            max_runs_in_flight: 4,
            max_repeats: 5,
        }
    }
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            heartbeat_ttl: Duration::from_secs(15),
            heartbeat_interval: Duration::from_secs(3),
            sweep_interval: Duration::from_millis(500),
            progress_timeout: None,
            secrets: None,
            insecure: false,
            vendor_quota: VendorQuota::default(),
            data_root: None,
        }
    }
}

pub struct Controller {
    /// Everything that must survive a restart; shared by every part.
    store: Store,
    config: CoordinatorConfig,
    /// Leases, budgets and planning marks: their own state behind their own short lock.
    leasing: LeaseManager,
    /// Parsed specs of the runs seen, so leasing does not re-parse TOML every time (held
    /// only for a map lookup or insert).
    specs: Mutex<HashMap<String, Arc<RunSpec>>>,
    harness_version: String,
    /// Which token registered each worker id: a lease is bound to the worker id that
    /// took it, and a worker id to the token that registered it.
    worker_tokens: Mutex<HashMap<String, String>>,
    /// What scoring needs of the items of held leases (`scoring`), so a reported
    /// result is scored without a query of its own (held only for a map lookup or
    /// insert).
    shard_scoring: Mutex<HashMap<crate::lease::ShardRef, Arc<scoring::ShardScoring>>>,
}

/// What `submit_run` tells the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub run_id: String,
    pub resumed: bool,
    pub total_items: u64,
    pub already_done: u64,
    pub from_cache: u64,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Controller {
    /// Opens the store and fences every lease of a previous life of this coordinator.
    ///
    /// # Errors
    /// The store cannot be opened.
    pub async fn open(
        store_url: &str,
        config: CoordinatorConfig,
        harness_version: &str,
    ) -> Result<Arc<Controller>, CoordinatorError> {
        let store = Store::open(store_url).await?;
        let requeued = store.requeue_all_leased().await?;
        if requeued > 0 {
            tracing::info!(
                requeued,
                "requeued shards leased before the coordinator restarted"
            );
        }
        Ok(Arc::new(Controller {
            store,
            leasing: LeaseManager::new(config.heartbeat_ttl),
            config,
            specs: Mutex::new(HashMap::new()),
            harness_version: harness_version.to_string(),
            worker_tokens: Mutex::new(HashMap::new()),
            shard_scoring: Mutex::new(HashMap::new()),
        }))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &CoordinatorConfig {
        &self.config
    }

    /// The run's record, or [`CoordinatorError::UnknownRun`].
    async fn run_record(&self, run_id: &str) -> Result<RunRecord, CoordinatorError> {
        self.store
            .run_record(run_id)
            .await?
            .ok_or_else(|| CoordinatorError::UnknownRun {
                run_id: run_id.to_string(),
            })
    }

    /// The run's parsed spec, from the cache or the store.
    async fn spec_for(&self, run_id: &str) -> Result<Arc<RunSpec>, CoordinatorError> {
        let cached = self
            .specs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(run_id)
            .cloned();
        if let Some(spec) = cached {
            return Ok(spec);
        }
        let record = self.run_record(run_id).await?;
        let spec = Arc::new(RunSpec::from_toml(
            &record.spec_toml,
            &format!("stored spec of {run_id}"),
        )?);
        self.remember_spec(run_id, spec.clone());
        Ok(spec)
    }

    fn remember_spec(&self, run_id: &str, spec: Arc<RunSpec>) {
        self.specs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(run_id.to_string(), spec);
    }
}

/// A count as a gauge value (saturating: a gauge is an i64).
fn gauge_value(count: impl TryInto<i64>) -> i64 {
    count.try_into().unwrap_or(i64::MAX)
}

/// An endpoint's (or the judge's) settings as one lease gets them: `share` of its
/// concurrency and the same share of its rate, so the leases together never exceed
/// either (and both shrink with the budget).
fn lease_endpoint_config(endpoint: &crate::spec::EndpointSpec, share: u32) -> v1::EndpointConfig {
    v1::EndpointConfig {
        name: endpoint.name.clone(),
        base_url: endpoint.base_url.clone(),
        model: endpoint.model.clone(),
        api_key_env: endpoint.api_key_env.clone().unwrap_or_default(),
        max_concurrency: share,
        timeout_ms: (endpoint.timeout_secs * 1000.0) as u64,
        temperature: endpoint.temperature,
        max_tokens: endpoint.max_tokens,
        max_attempts: endpoint.max_attempts,
        requests_per_second: endpoint.requests_per_second.map_or(0.0, |rate| {
            rate * f64::from(share) / f64::from(endpoint.max_concurrency.max(1))
        }),
        api_key: String::new(),
        max_response_bytes: endpoint.max_response_bytes.unwrap_or(0),
        throttle_deadline_ms: endpoint
            .throttle_deadline_secs
            .map_or(0, |secs| secs.saturating_mul(1000)),
    }
}

/// The name under which results answered from the response cache are stored.
pub const CACHE_WORKER: &str = "cache";

/// Generation limits of the probes: a tokenizer text needs one token (only its prompt
/// count matters), an identity answer a few sentences, an open answer a paragraph.
const IDENTITY_MAX_TOKENS: u32 = 160;
const TOKENIZER_MAX_TOKENS: u32 = 1;
const OPEN_MAX_TOKENS: u32 = 256;

/// The built-in provenance probes as chat requests.
///
/// # Errors
/// A built-in probe file that does not parse (a build defect).
pub fn provenance_probes() -> Result<Vec<planner::ProbeItem>, CoordinatorError> {
    use jianzhen_provenance::probes::{identity_probes, open_prompts, tokenizer_texts};
    use planner::{ProbeItem, ProbeKind};
    let user = |content: &str| template::ChatMessage {
        role: "user".to_string(),
        content: content.to_string(),
    };
    let mut items = Vec::new();
    for probe in identity_probes()? {
        let mut messages = Vec::new();
        if let Some(system) = &probe.system {
            messages.push(template::ChatMessage {
                role: "system".to_string(),
                content: system.clone(),
            });
        }
        messages.push(user(&probe.user));
        items.push(ProbeItem {
            id: probe.id.clone(),
            kind: ProbeKind::Identity,
            messages,
            max_tokens: IDENTITY_MAX_TOKENS,
        });
    }
    for text in tokenizer_texts()? {
        items.push(ProbeItem {
            id: text.id.clone(),
            kind: ProbeKind::Tokenizer,
            messages: vec![user(&text.text)],
            max_tokens: TOKENIZER_MAX_TOKENS,
        });
    }
    for prompt in open_prompts()? {
        items.push(ProbeItem {
            id: prompt.id.clone(),
            kind: ProbeKind::Open,
            messages: vec![user(&prompt.prompt)],
            max_tokens: OPEN_MAX_TOKENS,
        });
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339_from_millis(0), "1970-01-01T00:00:00Z");
        // 2026-11-28T21:20:33Z
        assert_eq!(
            rfc3339_from_millis(1_795_900_833_000),
            "2026-11-28T21:20:33Z"
        );
        assert_eq!(rfc3339_from_millis(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
