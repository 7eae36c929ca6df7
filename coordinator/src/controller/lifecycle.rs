//! Run lifecycle: submitting (planning, storing, answering from the cache), retrying,
//! and the status of one run or all.
//!
//! Submitting marks the run as being planned in the lease manager, so its shards are not
//! leased before the cache has answered what it can (see `leasing`).

use std::sync::Arc;

use jianzhen_proto::v1;
use tokio::time::Instant;

use super::{Controller, Submitted, now_ms, prepare_suites, provenance_probes};
use crate::error::CoordinatorError;
use crate::planner;
use crate::spec::RunSpec;
use crate::store::RUN_COMPLETE;

impl Controller {
    /// Plans a run and stores it. The same spec over the same data gives the same run
    /// id; submitting it again resumes it.
    ///
    /// # Errors
    /// Invalid spec, unreadable or malformed data, store errors.
    pub async fn submit_run(&self, spec_toml: &str) -> Result<Submitted, CoordinatorError> {
        self.submit_run_as(&crate::auth::Principal::local_admin(), spec_toml)
            .await
    }

    /// Plans and stores a spec already admitted and resolved for `tenant` (see
    /// `tenancy`). A vendor's run id and request keys include the tenant, so the same
    /// spec from two tenants gives two runs and two caches.
    pub(super) async fn submit_resolved(
        &self,
        spec: RunSpec,
        tenant: &crate::auth::Tenant,
        max_items: u64,
    ) -> Result<Submitted, CoordinatorError> {
        let owner = tenant.to_stored();
        let mut canonical = spec.to_toml()?;
        if !owner.is_empty() {
            canonical.push_str(&format!("\n# owner = {owner}\n"));
        }
        let cache_scope = owner.clone();
        let harness_version = self.harness_version.clone();
        let loading_spec = spec.clone();
        // Loading reads and hashes every data file: keep it off the async workers.
        let (prepared, plan) = tokio::task::spawn_blocking(move || {
            let prepared = prepare_suites(&loading_spec)?;
            // Refuse a run too large to plan before planning it (memory is the limit).
            let suite_items: u64 = prepared
                .iter()
                .map(|suite| suite.item_count() as u64)
                .sum();
            let planned = suite_items
                .saturating_mul(loading_spec.endpoints.len() as u64)
                .saturating_mul(u64::from(loading_spec.repeats));
            let limit = max_items.min(crate::spec::MAX_PLANNED_ITEMS);
            if planned > limit {
                return Err(CoordinatorError::InvalidSpec {
                    origin: "submitted spec".to_string(),
                    problem: format!(
                        "the run would plan {planned} items (suite items × endpoints × repeats); at most {limit} are accepted for this token: split it into several runs, or limit_per_subject"
                    ),
                });
            }
            let run_id = planner::run_id_for(&canonical, &prepared);
            let probes = if loading_spec.provenance {
                provenance_probes()?
            } else {
                Vec::new()
            };
            let plan = planner::plan(
                &run_id,
                &loading_spec,
                &prepared,
                &probes,
                &harness_version,
                &cache_scope,
            )?;
            Ok::<_, CoordinatorError>((prepared, plan))
        })
        .await
        .map_err(|error| CoordinatorError::Internal(format!("planning task failed: {error}")))??;
        drop(prepared);
        let manifest_json = serde_json::to_string_pretty(&plan.manifest)
            .map_err(|error| CoordinatorError::Internal(error.to_string()))?;
        let spec_toml = spec.to_toml()?;
        // No shard of the run may be leased before its cached answers are in: a worker
        // would ask the endpoint for items the cache answers. The planning mark keeps
        // the run's shards out of leasing until it drops; no lock is held meanwhile.
        let planning = self.leasing.begin_planning(&plan.run_id);
        let is_new = self
            .store
            .insert_plan(
                &plan,
                &spec.name,
                &spec_toml,
                &manifest_json,
                &owner,
                now_ms(),
            )
            .await?;
        let counts_before = self.store.run_counts(&plan.run_id).await?;
        let from_cache = if spec.cache {
            self.fill_from_cache(&plan.run_id).await?
        } else {
            0
        };
        if !is_new || from_cache > 0 {
            self.store.refresh_run_state(&plan.run_id, now_ms()).await?;
        }
        drop(planning);
        self.remember_spec(&plan.run_id, Arc::new(spec));
        let counts = self.store.run_counts(&plan.run_id).await?;
        tracing::info!(run_id = %plan.run_id, items = counts.total_items, done = counts.done_items, resumed = !is_new, "run submitted");
        Ok(Submitted {
            run_id: plan.run_id,
            resumed: !is_new,
            total_items: counts.total_items,
            already_done: counts_before.done_items,
            from_cache,
        })
    }

    /// Queues again the run's items that ended in `api_error`.
    ///
    /// # Errors
    /// Unknown run; store errors.
    pub async fn retry_run(&self, run_id: &str) -> Result<u64, CoordinatorError> {
        self.spec_for(run_id).await?;
        let requeued = self.store.retry_api_errors(run_id).await?;
        tracing::info!(run_id, requeued, "api_error items queued again");
        Ok(requeued)
    }

    /// # Errors
    /// Unknown run; store errors.
    pub async fn run_status(&self, run_id: &str) -> Result<v1::RunStatus, CoordinatorError> {
        let record = self.run_record(run_id).await?;
        let counts = self.store.run_counts(run_id).await?;
        let spec = self.spec_for(run_id).await?;
        let (workers_alive, views) =
            self.leasing
                .budget_views(run_id, &spec.endpoints, Instant::now());
        let budgets = spec
            .endpoints
            .iter()
            .zip(views)
            .map(|(endpoint, view)| v1::EndpointBudget {
                endpoint: endpoint.name.clone(),
                max_concurrency: endpoint.max_concurrency,
                effective_concurrency: view
                    .adaptive
                    .map_or(f64::from(endpoint.max_concurrency), |(effective, _)| {
                        effective
                    }),
                granted_concurrency: view.granted_concurrency,
                throttled: view.adaptive.map_or(0, |(_, throttled)| throttled),
                max_requests_per_second: endpoint.requests_per_second.unwrap_or(0.0),
            })
            .collect();
        Ok(v1::RunStatus {
            run_id: record.run_id,
            name: record.name,
            state: if record.state == RUN_COMPLETE {
                v1::RunState::Complete.into()
            } else {
                v1::RunState::Running.into()
            },
            total_items: counts.total_items,
            done_items: counts.done_items,
            shards_total: counts.shards_total,
            shards_done: counts.shards_done,
            shards_leased: counts.shards_leased,
            workers_alive: u32::try_from(workers_alive).unwrap_or(u32::MAX),
            outcomes: counts
                .outcomes
                .into_iter()
                .map(|(outcome, count)| v1::OutcomeCount {
                    outcome: outcome.as_str().to_string(),
                    count,
                })
                .collect(),
            created_at_ms: u64::try_from(record.created_at_ms).unwrap_or(0),
            budgets,
            coordinator_insecure: self.config.insecure,
            left_out: left_out_counts(&record.manifest_json),
        })
    }

    /// # Errors
    /// Store errors.
    pub async fn list_runs(&self) -> Result<Vec<v1::RunStatus>, CoordinatorError> {
        self.list_runs_for(&crate::auth::Principal::local_admin())
            .await
    }
}

/// The manifest's left-out records counted per suite, file and subject, for `status`.
/// A manifest written before records were left out has none.
fn left_out_counts(manifest_json: &str) -> Vec<v1::LeftOutCount> {
    let manifest: planner::Manifest = match serde_json::from_str(manifest_json) {
        Ok(manifest) => manifest,
        Err(_) => return Vec::new(),
    };
    manifest
        .suites
        .iter()
        .flat_map(|suite| {
            jianzhen_suites::left_out::counts(&suite.left_out)
                .into_iter()
                .map(|((file, subject), records)| v1::LeftOutCount {
                    suite: suite.suite.clone(),
                    file,
                    subject,
                    records: records as u64,
                })
        })
        .collect()
}
