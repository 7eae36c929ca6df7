//! Tenancy: who owns which run and endpoint, what each role may submit and read, and the
//! audit of it. The gRPC layer authenticates the caller into a [`Principal`]; the rules
//! that depend on the store (ownership, registered endpoints, published suites) are here.
//!
//! A vendor's run spec may name only suites the operator published and endpoints the
//! vendor registered; `api_key_env`, a judge and data paths are the operator's. A run a
//! caller may not see is answered exactly as a run that does not exist.

use jianzhen_proto::v1;

use super::{Controller, Submitted, now_ms};
use crate::auth::{self, AuthError, Principal, Role, Tenant};
use crate::error::CoordinatorError;
use crate::report::{self, ReportFile};
use crate::secrets::Sealed;
use crate::spec::{RunSpec, SuiteSpec};
use crate::store::{AuditRecord, EndpointRecord, PublishedSuiteRecord, Store, TokenRecord};

/// Longest names accepted for tokens, endpoints and published suites.
const MAX_NAME_CHARS: usize = 64;

fn check_name(what: &str, name: &str) -> Result<(), CoordinatorError> {
    let valid = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        return Ok(());
    }
    Err(CoordinatorError::InvalidRequest(format!(
        "{what} `{}` is not a valid name: use 1 to {MAX_NAME_CHARS} ASCII letters, digits, `-`, `_` or `.`",
        name.chars().take(MAX_NAME_CHARS).collect::<String>()
    )))
}

/// Creates a token in `store` and returns it (the only time it is ever shown). The
/// operator runs this with direct access to the store (`jianzhen token create`), which
/// is what makes the first admin token possible.
///
/// # Errors
/// A bad name, a name already used, store errors.
pub async fn create_token(
    store: &Store,
    name: &str,
    role: Role,
    trusted: bool,
    lifetime_ms: Option<i64>,
) -> Result<String, CoordinatorError> {
    check_name("token", name)?;
    let token = auth::new_token();
    let created_at_ms = now_ms();
    let record = TokenRecord {
        name: name.to_string(),
        role: role.as_str().to_string(),
        trusted: trusted || role == Role::Admin,
        created_at_ms,
        expires_at_ms: lifetime_ms.map(|lifetime| created_at_ms.saturating_add(lifetime)),
        revoked_at_ms: None,
    };
    if !store
        .insert_token(&record, &auth::token_hash(&token))
        .await?
    {
        return Err(CoordinatorError::InvalidRequest(format!(
            "a token named `{name}` exists already (names are never reused); choose another name, or `jianzhen token revoke {name}` and create `{name}-2`"
        )));
    }
    record_audit(
        store,
        "operator",
        "token.create",
        &format!("{name} ({role})"),
    )
    .await;
    Ok(token)
}

/// Revokes a token by name.
///
/// # Errors
/// No live token of that name; store errors.
pub async fn revoke_token(store: &Store, name: &str) -> Result<(), CoordinatorError> {
    if !store.revoke_token(name, now_ms()).await? {
        return Err(CoordinatorError::InvalidRequest(format!(
            "no live token named `{name}`; `jianzhen token list` shows them"
        )));
    }
    record_audit(store, "operator", "token.revoke", name).await;
    Ok(())
}

/// Writes an audit entry; a failure is logged, never hidden and never fatal to the call
/// it records (the call has happened).
async fn record_audit(store: &Store, actor: &str, action: &str, target: &str) {
    let entry = AuditRecord {
        at_ms: now_ms(),
        actor: actor.to_string(),
        action: action.to_string(),
        target: target.to_string(),
    };
    if let Err(error) = store.record_audit(&entry).await {
        tracing::error!(%error, actor, action, target, "could not write the audit entry; check the store");
    }
}

impl Controller {
    /// The principal a bearer token stands for.
    ///
    /// # Errors
    /// [`AuthError::Unauthenticated`] for an unknown, revoked or expired token (one
    /// message for all three: a caller learns nothing about other tokens).
    pub async fn authenticate(&self, token: &str) -> Result<Principal, CoordinatorError> {
        let refused = || {
            AuthError::Unauthenticated(
                "the token is not valid (unknown, revoked or expired); ask the operator for a new one (`jianzhen token create`)".to_string(),
            )
        };
        let Some(record) = self.store.token_by_hash(&auth::token_hash(token)).await? else {
            return Err(refused().into());
        };
        let now = now_ms();
        if record.revoked_at_ms.is_some() || record.expires_at_ms.is_some_and(|at| at <= now) {
            return Err(refused().into());
        }
        let role: Role = record.role.parse().map_err(CoordinatorError::Internal)?;
        Ok(Principal {
            name: record.name,
            role,
            trusted: record.trusted,
        })
    }

    /// Binds `worker_id` to the token that first used it: another token (another
    /// machine) cannot heartbeat, lease or report as that worker.
    ///
    /// # Errors
    /// [`AuthError::Forbidden`] when the id belongs to another token.
    pub fn bind_worker(
        &self,
        principal: &Principal,
        worker_id: &str,
    ) -> Result<(), CoordinatorError> {
        let Ok(mut bound) = self.worker_tokens.lock() else {
            return Err(CoordinatorError::Internal("worker table poisoned".into()));
        };
        let owner = bound
            .entry(worker_id.to_string())
            .or_insert_with(|| principal.name.clone());
        if *owner != principal.name {
            return Err(AuthError::Forbidden(format!(
                "worker id `{worker_id}` belongs to another token; start this worker with its own --id"
            ))
            .into());
        }
        Ok(())
    }

    /// The run's record if `principal` may see it; otherwise the same error as for a run
    /// that does not exist.
    ///
    /// # Errors
    /// [`CoordinatorError::UnknownRun`]; store errors.
    pub async fn visible_run(
        &self,
        principal: &Principal,
        run_id: &str,
    ) -> Result<crate::store::RunRecord, CoordinatorError> {
        let record = self.run_record(run_id).await?;
        if !principal.may_see_run(&Tenant::from_stored(&record.owner)) {
            return Err(CoordinatorError::UnknownRun {
                run_id: run_id.to_string(),
            });
        }
        Ok(record)
    }

    /// Admits a spec from `principal`, resolves published suites and registered
    /// endpoints, and plans it under the caller's tenant.
    ///
    /// # Errors
    /// What a vendor may not name; unknown published suites or endpoints; as
    /// [`Controller::submit_run`].
    pub async fn submit_run_as(
        &self,
        principal: &Principal,
        spec_toml: &str,
    ) -> Result<Submitted, CoordinatorError> {
        principal.require("submitting a run", &[Role::Admin, Role::Vendor])?;
        let spec = RunSpec::from_toml(spec_toml, "submitted spec")?;
        if principal.role == Role::Vendor {
            admit_vendor_spec(&spec)?;
        }
        let spec = self.resolve_spec(principal, spec).await?;
        let tenant = principal.tenant();
        let max_items = if principal.role == Role::Vendor {
            self.check_vendor_quota(&tenant, &spec).await?;
            self.config.vendor_quota.max_items_per_run
        } else {
            u64::MAX
        };
        let submitted = self.submit_resolved(spec, &tenant, max_items).await?;
        record_audit(
            &self.store,
            &principal.name,
            "run.submit",
            &submitted.run_id,
        )
        .await;
        Ok(submitted)
    }

    /// A vendor's repeats and runs in flight within its quota (items are checked when
    /// the run is planned).
    async fn check_vendor_quota(
        &self,
        tenant: &Tenant,
        spec: &RunSpec,
    ) -> Result<(), CoordinatorError> {
        let quota = self.config.vendor_quota;
        if spec.repeats > quota.max_repeats {
            return Err(AuthError::Forbidden(format!(
                "a vendor's run may repeat items at most {} times (repeats = {}); ask the operator for more",
                quota.max_repeats, spec.repeats
            ))
            .into());
        }
        let owner = tenant.to_stored();
        let in_flight = self
            .store
            .list_runs()
            .await?
            .iter()
            .filter(|run| run.owner == owner && run.state != crate::store::RUN_COMPLETE)
            .count() as u64;
        if in_flight >= quota.max_runs_in_flight {
            return Err(AuthError::Forbidden(format!(
                "{in_flight} of this vendor's runs are not complete; at most {} may be in flight: wait for one (`jianzhen status`)",
                quota.max_runs_in_flight
            ))
            .into());
        }
        Ok(())
    }

    /// Fills in published suites (a suite without `data`) and registered endpoints (an
    /// endpoint without `base_url`, or any endpoint of a vendor).
    async fn resolve_spec(
        &self,
        principal: &Principal,
        mut spec: RunSpec,
    ) -> Result<RunSpec, CoordinatorError> {
        let invalid = |problem: String| CoordinatorError::InvalidSpec {
            origin: "submitted spec".to_string(),
            problem,
        };
        let needs_catalogue = spec
            .suites
            .iter()
            .any(|suite| suite.data.as_os_str().is_empty());
        if needs_catalogue {
            let published = self.store.published_suites().await?;
            for suite in &mut spec.suites {
                if !suite.data.as_os_str().is_empty() {
                    continue;
                }
                let Some(entry) = published.iter().find(|entry| entry.name == suite.name) else {
                    let names: Vec<&str> =
                        published.iter().map(|entry| entry.name.as_str()).collect();
                    return Err(invalid(format!(
                        "suite `{}` has no `data` and is not a published suite; published suites: {}",
                        suite.name,
                        if names.is_empty() {
                            "none yet".to_string()
                        } else {
                            names.join(", ")
                        }
                    )));
                };
                let mut resolved = published_suite_spec(entry)?;
                // What a caller may still choose within a published suite.
                resolved.subjects = std::mem::take(&mut suite.subjects);
                resolved.limit_per_subject = suite.limit_per_subject.or(resolved.limit_per_subject);
                resolved.spread |= suite.spread;
                *suite = resolved;
            }
        }
        let owner = principal.tenant().to_stored();
        for endpoint in &mut spec.endpoints {
            let wants_registry = principal.role == Role::Vendor
                || endpoint.registered
                || endpoint.base_url.is_empty();
            if !wants_registry {
                continue;
            }
            let Some(record) = self.store.endpoint(&owner, &endpoint.name).await? else {
                return Err(invalid(format!(
                    "endpoint `{}` is not registered; register it first with `jianzhen endpoint add --name {} --url … --model … --key-stdin` (`jianzhen endpoint list` shows yours)",
                    endpoint.name, endpoint.name
                )));
            };
            if !endpoint.base_url.is_empty()
                && endpoint.base_url.trim_end_matches('/') != record.base_url.trim_end_matches('/')
            {
                return Err(invalid(format!(
                    "endpoint `{}`: base_url differs from the registered one; leave base_url out to use the registered endpoint",
                    endpoint.name
                )));
            }
            if !endpoint.model.is_empty() && endpoint.model != record.model {
                return Err(invalid(format!(
                    "endpoint `{}`: model differs from the registered one; leave model out to use the registered endpoint",
                    endpoint.name
                )));
            }
            endpoint.base_url = record.base_url;
            endpoint.model = record.model;
            endpoint.registered = true;
            if endpoint.vendor.is_none() && !record.vendor.is_empty() {
                endpoint.vendor = Some(record.vendor);
            }
        }
        for endpoint in spec.endpoints.iter().chain(&spec.judge) {
            if endpoint.base_url.is_empty() || endpoint.model.is_empty() {
                return Err(invalid(format!(
                    "endpoint `{}` needs base_url and model (or the name of a registered endpoint)",
                    endpoint.name
                )));
            }
        }
        Ok(spec)
    }

    /// The key of a registered endpoint of the run, opened for a lease.
    pub(super) async fn registered_key(
        &self,
        run_id: &str,
        endpoint: &str,
    ) -> Result<String, CoordinatorError> {
        let record = self.run_record(run_id).await?;
        let Some(registered) = self.store.endpoint(&record.owner, endpoint).await? else {
            return Err(CoordinatorError::NotConfigured(format!(
                "endpoint `{endpoint}` of run {run_id} is no longer registered; register it again with `jianzhen endpoint add`"
            )));
        };
        if registered.key_sealed.is_empty() {
            return Ok(String::new());
        }
        let Some(secrets) = &self.config.secrets else {
            return Err(CoordinatorError::NotConfigured(
                "this coordinator holds sealed endpoint keys but was started without --secrets-key-file; restart it with the same key file".into(),
            ));
        };
        Ok(secrets.open(
            &Sealed {
                nonce_hex: registered.key_nonce,
                ciphertext_hex: registered.key_sealed,
            },
            &format!("{}/{}", registered.owner, registered.name),
        )?)
    }

    /// Registers (or replaces) one of the caller's endpoints; the key is sealed.
    ///
    /// # Errors
    /// A bad name or URL; a key without a secrets key file; store errors.
    pub async fn add_endpoint(
        &self,
        principal: &Principal,
        request: v1::AddEndpointRequest,
    ) -> Result<bool, CoordinatorError> {
        principal.require("registering an endpoint", &[Role::Admin, Role::Vendor])?;
        check_name("endpoint", &request.name)?;
        let url = request.base_url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2048 {
            return Err(CoordinatorError::InvalidRequest(format!(
                "endpoint `{}`: the URL must start with https:// (or http://) and be at most 2048 characters",
                request.name
            )));
        }
        if url.split("://").nth(1).is_some_and(|rest| {
            rest.split('/')
                .next()
                .is_some_and(|host| host.contains('@'))
        }) {
            return Err(CoordinatorError::InvalidRequest(format!(
                "endpoint `{}`: credentials in the URL are refused; pass the key with --key-stdin",
                request.name
            )));
        }
        if request.model.is_empty() || request.model.len() > 256 || request.api_key.len() > 4096 {
            return Err(CoordinatorError::InvalidRequest(format!(
                "endpoint `{}`: give a model name (at most 256 characters) and a key of at most 4096 bytes",
                request.name
            )));
        }
        let owner = principal.tenant().to_stored();
        let sealed = if request.api_key.is_empty() {
            Sealed {
                nonce_hex: String::new(),
                ciphertext_hex: String::new(),
            }
        } else {
            let Some(secrets) = &self.config.secrets else {
                return Err(CoordinatorError::NotConfigured(
                    "this coordinator cannot keep endpoint keys: it was started without --secrets-key-file; ask the operator".into(),
                ));
            };
            secrets.seal(&request.api_key, &format!("{owner}/{}", request.name))?
        };
        let replaced = self
            .store
            .upsert_endpoint(&EndpointRecord {
                owner,
                name: request.name.clone(),
                base_url: url.to_string(),
                model: request.model.clone(),
                vendor: request.vendor.clone(),
                key_nonce: sealed.nonce_hex,
                key_sealed: sealed.ciphertext_hex,
                created_at_ms: now_ms(),
            })
            .await?;
        record_audit(&self.store, &principal.name, "endpoint.add", &request.name).await;
        tracing::info!(actor = %principal.name, endpoint = %request.name, replaced, "endpoint registered");
        Ok(replaced)
    }

    /// The caller's registered endpoints (an admin's: everyone's), without keys.
    ///
    /// # Errors
    /// A role that has no endpoints; store errors.
    pub async fn list_endpoints_for(
        &self,
        principal: &Principal,
    ) -> Result<Vec<v1::RegisteredEndpoint>, CoordinatorError> {
        principal.require("listing endpoints", &[Role::Admin, Role::Vendor])?;
        let owner = principal.tenant().to_stored();
        let records = self
            .store
            .list_endpoints((principal.role == Role::Vendor).then_some(owner.as_str()))
            .await?;
        Ok(records
            .into_iter()
            .map(|record| v1::RegisteredEndpoint {
                owner: record.owner,
                name: record.name,
                base_url: record.base_url,
                model: record.model,
                has_key: !record.key_sealed.is_empty(),
                created_at_ms: u64::try_from(record.created_at_ms).unwrap_or(0),
            })
            .collect())
    }

    /// Publishes a suite to vendors: checks that it loads and counts its items.
    ///
    /// # Errors
    /// Not an admin; a suite table that does not parse or load; store errors.
    pub async fn publish_suite(
        &self,
        principal: &Principal,
        name: &str,
        suite_toml: &str,
        description: &str,
    ) -> Result<u64, CoordinatorError> {
        principal.require("publishing a suite", &[Role::Admin])?;
        check_name("published suite", name)?;
        let entry = PublishedSuiteRecord {
            name: name.to_string(),
            suite_toml: suite_toml.to_string(),
            description: description.chars().take(500).collect(),
            items: 0,
        };
        let mut suite = published_suite_spec(&entry)?;
        // Published data lives under the operator's data root, when one is set: paths
        // are canonicalised (no `..`, no symlink out) and confined to it.
        if let Some(root) = &self.config.data_root {
            suite.data = confine(root, &suite.data, name)?;
            if let Some(spec_file) = &suite.spec {
                suite.spec = Some(confine(root, spec_file, name)?);
            }
        }
        let entry = PublishedSuiteRecord {
            suite_toml: toml::to_string(&suite).map_err(|error| {
                CoordinatorError::Internal(format!("cannot write the suite table: {error}"))
            })?,
            ..entry
        };
        let probe = RunSpec {
            name: format!("publish-{name}"),
            seed: 0,
            repeats: 1,
            shard_size: 25,
            cache: false,
            provenance: false,
            contamination: false,
            contamination_sample: None,
            provenance_answers_only: false,
            suites: vec![suite],
            endpoints: Vec::new(),
            judge: None,
        };
        let prepared = tokio::task::spawn_blocking(move || super::prepare_suites(&probe))
            .await
            .map_err(|error| {
                CoordinatorError::Internal(format!("loading task failed: {error}"))
            })??;
        let items: usize = prepared.iter().map(|suite| suite.item_count()).sum();
        let items = u64::try_from(items).unwrap_or(u64::MAX);
        self.store
            .publish_suite(
                &PublishedSuiteRecord {
                    items: i64::try_from(items).unwrap_or(i64::MAX),
                    ..entry
                },
                now_ms(),
            )
            .await?;
        record_audit(&self.store, &principal.name, "suite.publish", name).await;
        Ok(items)
    }

    /// # Errors
    /// Store errors.
    pub async fn published_suites(
        &self,
        principal: &Principal,
    ) -> Result<Vec<v1::PublishedSuite>, CoordinatorError> {
        principal.require(
            "listing published suites",
            &[Role::Admin, Role::Vendor, Role::Reviewer],
        )?;
        Ok(self
            .store
            .published_suites()
            .await?
            .into_iter()
            .map(|entry| v1::PublishedSuite {
                name: entry.name,
                description: entry.description,
                items: u64::try_from(entry.items).unwrap_or(0),
            })
            .collect())
    }

    /// # Errors
    /// Not an admin; store errors.
    pub async fn audit_entries(
        &self,
        principal: &Principal,
        limit: u32,
    ) -> Result<Vec<v1::AuditEntry>, CoordinatorError> {
        principal.require("reading the audit log", &[Role::Admin])?;
        let limit = if limit == 0 { 200 } else { limit.min(10_000) };
        Ok(self
            .store
            .audit_entries(limit)
            .await?
            .into_iter()
            .map(|entry| v1::AuditEntry {
                at_ms: u64::try_from(entry.at_ms).unwrap_or(0),
                actor: entry.actor,
                action: entry.action,
                target: entry.target,
            })
            .collect())
    }

    /// Records an action of `principal` (reports read, runs retried…).
    pub async fn audit(&self, principal: &Principal, action: &str, target: &str) {
        record_audit(&self.store, &principal.name, action, target).await;
    }

    /// The runs `principal` may see, with their status.
    ///
    /// # Errors
    /// Store errors.
    pub async fn list_runs_for(
        &self,
        principal: &Principal,
    ) -> Result<Vec<v1::RunStatus>, CoordinatorError> {
        let mut statuses = Vec::new();
        for record in self.store.list_runs().await? {
            if principal.may_see_run(&Tenant::from_stored(&record.owner)) {
                statuses.push(self.run_status(&record.run_id).await?);
            }
        }
        Ok(statuses)
    }

    /// The report files `principal` may have: the full report for the lab's roles, the
    /// aggregate view for a vendor (see [`report::render_vendor_view`]).
    ///
    /// # Errors
    /// As [`Controller::render_report_compared`]; runs the caller may not see are unknown.
    pub async fn render_report_for(
        &self,
        principal: &Principal,
        run_id: &str,
        compare_with: Option<&str>,
        references: &[String],
    ) -> Result<Vec<ReportFile>, CoordinatorError> {
        let record = self.visible_run(principal, run_id).await?;
        if let Some(other) = compare_with {
            self.visible_run(principal, other).await?;
        }
        record_audit(&self.store, &principal.name, "report.read", run_id).await;
        if principal.sees_items() {
            return self
                .render_report_compared(run_id, compare_with, references)
                .await;
        }
        if compare_with.is_some() || !references.is_empty() {
            return Err(AuthError::Forbidden(
                "comparisons and reference profiles are per-item evidence: they need the admin or reviewer role".into(),
            )
            .into());
        }
        let counts = self.store.run_counts(run_id).await?;
        let rows = self.store.scored_rows(run_id).await?;
        tokio::task::spawn_blocking(move || report::render_vendor_view(&record, &counts, &rows))
            .await
            .map_err(|error| CoordinatorError::Internal(format!("report task failed: {error}")))?
    }
}

/// `path` canonicalised, if it lies under the canonical `root`.
fn confine(
    root: &std::path::Path,
    path: &std::path::Path,
    suite: &str,
) -> Result<std::path::PathBuf, CoordinatorError> {
    let outside = || {
        CoordinatorError::InvalidRequest(format!(
            "published suite `{suite}`: {} is not a folder or file under the coordinator's data root {}; put the data there",
            path.display(),
            root.display()
        ))
    };
    let root = root.canonicalize().map_err(|_| outside())?;
    let resolved = path.canonicalize().map_err(|_| outside())?;
    if !resolved.starts_with(&root) {
        return Err(outside());
    }
    Ok(resolved)
}

/// The run-spec suite table stored for a published suite.
fn published_suite_spec(entry: &PublishedSuiteRecord) -> Result<SuiteSpec, CoordinatorError> {
    let suite: SuiteSpec = toml::from_str(&entry.suite_toml).map_err(|error| {
        CoordinatorError::InvalidRequest(format!(
            "published suite `{}`: the suite table does not parse: {error}",
            entry.name
        ))
    })?;
    if suite.data.as_os_str().is_empty() || suite.data.is_relative() {
        return Err(CoordinatorError::InvalidRequest(format!(
            "published suite `{}`: `data` must be an absolute path on the coordinator",
            entry.name
        )));
    }
    Ok(suite)
}

/// What a vendor's spec may not hold: everything that reaches the operator's
/// environment, files or gold answers.
fn admit_vendor_spec(spec: &RunSpec) -> Result<(), CoordinatorError> {
    let refused = |problem: String| -> CoordinatorError { AuthError::Forbidden(problem).into() };
    if spec.judge.is_some() {
        return Err(refused(
            "a vendor's run cannot name a judge: the judge sees gold answers and is the operator's; leave [judge] out".into(),
        ));
    }
    for endpoint in &spec.endpoints {
        if endpoint.api_key_env.is_some() {
            return Err(refused(format!(
                "endpoint `{}`: a vendor's run cannot name api_key_env (the workers' environment is the operator's); register the key with `jianzhen endpoint add --key-stdin`",
                endpoint.name
            )));
        }
    }
    for suite in &spec.suites {
        if !suite.data.as_os_str().is_empty() || suite.spec.is_some() {
            return Err(refused(format!(
                "suite `{}`: a vendor's run cannot name data paths or suite spec files; name a published suite (`jianzhen published` lists them)",
                suite.name
            )));
        }
        if suite.template.is_some()
            || suite.split.is_some()
            || suite.scoring.is_some()
            || suite.shots != 0
        {
            return Err(refused(format!(
                "suite `{}`: the split, template, shots and scoring of a published suite are the operator's; leave them out",
                suite.name
            )));
        }
    }
    Ok(())
}
