//! The gRPC face of the coordinator: authenticates the caller, checks its role, and
//! translates messages to [`Controller`] calls and errors to status codes (in
//! `error.rs`). Every RPC checks the caller before it touches the store.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use jianzhen_proto::v1;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::auth::{self, Principal, Role};
use crate::controller::Controller;

/// How callers are identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication {
    /// Every caller is the local admin: an embedded coordinator on loopback
    /// (`jianzhen run`), or one started with `--insecure`.
    LocalAdmin,
    /// Every call carries a bearer token from `jianzhen token create`.
    Tokens,
}

pub struct CoordinatorService {
    controller: Arc<Controller>,
    authentication: Authentication,
}

impl CoordinatorService {
    /// A service where every caller is the local admin (embedded, loopback only).
    pub fn new(controller: Arc<Controller>) -> Self {
        Self::with_authentication(controller, Authentication::LocalAdmin)
    }

    pub fn with_authentication(
        controller: Arc<Controller>,
        authentication: Authentication,
    ) -> Self {
        CoordinatorService {
            controller,
            authentication,
        }
    }

    async fn caller<T>(&self, request: &Request<T>) -> Result<Principal, Status> {
        match self.authentication {
            Authentication::LocalAdmin => Ok(Principal::local_admin()),
            Authentication::Tokens => {
                let token = auth::bearer_token(request.metadata())?;
                Ok(self.controller.authenticate(&token).await?)
            }
        }
    }

    /// A worker RPC: the worker (or admin) role, and the worker id bound to this token.
    async fn worker_caller<T>(
        &self,
        request: &Request<T>,
        action: &str,
        worker_id: &str,
    ) -> Result<Principal, Status> {
        let principal = self.caller(request).await?;
        principal.require(action, &[Role::Worker, Role::Admin])?;
        require("worker_id", worker_id)?;
        if worker_id.len() > 200 {
            return Err(Status::invalid_argument(
                "`worker_id` is longer than 200 characters",
            ));
        }
        self.controller.bind_worker(&principal, worker_id)?;
        Ok(principal)
    }

    /// A run RPC: one of `roles`, and a run the caller may see (else "unknown run").
    async fn run_caller<T>(
        &self,
        request: &Request<T>,
        action: &str,
        roles: &[Role],
        run_id: &str,
    ) -> Result<Principal, Status> {
        let principal = self.caller(request).await?;
        principal.require(action, roles)?;
        self.controller.visible_run(&principal, run_id).await?;
        Ok(principal)
    }
}

const READERS: &[Role] = &[Role::Admin, Role::Reviewer, Role::Vendor];
const CHANGERS: &[Role] = &[Role::Admin, Role::Vendor];

fn require(field: &str, value: &str) -> Result<(), Status> {
    if value.is_empty() {
        return Err(Status::invalid_argument(format!(
            "`{field}` must not be empty"
        )));
    }
    Ok(())
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[tonic::async_trait]
impl v1::coordinator_server::Coordinator for CoordinatorService {
    async fn register_worker(
        &self,
        request: Request<v1::RegisterWorkerRequest>,
    ) -> Result<Response<v1::RegisterWorkerResponse>, Status> {
        let worker_id = request.get_ref().worker_id.clone();
        self.worker_caller(&request, "registering a worker", &worker_id)
            .await?;
        let request = request.into_inner();
        self.controller.register_worker(&request.worker_id).await;
        let config = self.controller.config();
        Ok(Response::new(v1::RegisterWorkerResponse {
            heartbeat_interval_ms: millis(config.heartbeat_interval),
            heartbeat_ttl_ms: millis(config.heartbeat_ttl),
        }))
    }

    async fn heartbeat(
        &self,
        request: Request<v1::HeartbeatRequest>,
    ) -> Result<Response<v1::HeartbeatResponse>, Status> {
        let worker_id = request.get_ref().worker_id.clone();
        self.worker_caller(&request, "heartbeats", &worker_id)
            .await?;
        let request = request.into_inner();
        let known = self.controller.heartbeat(&request.worker_id).await;
        Ok(Response::new(v1::HeartbeatResponse { known }))
    }

    async fn lease_shard(
        &self,
        request: Request<v1::LeaseShardRequest>,
    ) -> Result<Response<v1::LeaseShardResponse>, Status> {
        let worker_id = request.get_ref().worker_id.clone();
        let principal = self
            .worker_caller(&request, "leasing shards", &worker_id)
            .await?;
        let lease = self
            .controller
            .lease_shard_for(&worker_id, principal.trusted)
            .await?;
        Ok(Response::new(v1::LeaseShardResponse { lease }))
    }

    async fn report_results(
        &self,
        request: Request<v1::ReportResultsRequest>,
    ) -> Result<Response<v1::ReportResultsResponse>, Status> {
        let worker_id = request.get_ref().worker_id.clone();
        self.worker_caller(&request, "reporting results", &worker_id)
            .await?;
        let request = request.into_inner();
        require("shard_id", &request.shard_id)?;
        let (stored, duplicates) = self.controller.report_results(request).await?;
        Ok(Response::new(v1::ReportResultsResponse {
            stored,
            duplicates,
        }))
    }

    async fn complete_shard(
        &self,
        request: Request<v1::CompleteShardRequest>,
    ) -> Result<Response<v1::CompleteShardResponse>, Status> {
        let worker_id = request.get_ref().worker_id.clone();
        self.worker_caller(&request, "completing shards", &worker_id)
            .await?;
        let request = request.into_inner();
        require("shard_id", &request.shard_id)?;
        let done = self.controller.complete_shard(request).await?;
        Ok(Response::new(v1::CompleteShardResponse { done }))
    }

    async fn submit_run(
        &self,
        request: Request<v1::SubmitRunRequest>,
    ) -> Result<Response<v1::SubmitRunResponse>, Status> {
        let principal = self.caller(&request).await?;
        let submitted = self
            .controller
            .submit_run_as(&principal, &request.into_inner().spec_toml)
            .await?;
        Ok(Response::new(v1::SubmitRunResponse {
            run_id: submitted.run_id,
            resumed: submitted.resumed,
            total_items: submitted.total_items,
            already_done: submitted.already_done,
            from_cache: submitted.from_cache,
        }))
    }

    async fn get_run_status(
        &self,
        request: Request<v1::GetRunStatusRequest>,
    ) -> Result<Response<v1::RunStatus>, Status> {
        let run_id = request.get_ref().run_id.clone();
        self.run_caller(&request, "reading a run's status", READERS, &run_id)
            .await?;
        let status = self.controller.run_status(&run_id).await?;
        Ok(Response::new(status))
    }

    type WatchRunStream =
        Pin<Box<dyn Stream<Item = Result<v1::RunStatus, Status>> + Send + 'static>>;

    async fn watch_run(
        &self,
        request: Request<v1::WatchRunRequest>,
    ) -> Result<Response<Self::WatchRunStream>, Status> {
        let run_id = request.get_ref().run_id.clone();
        self.run_caller(&request, "watching a run", READERS, &run_id)
            .await?;
        let request = request.into_inner();
        // Fail fast on an unknown run rather than streaming errors.
        self.controller.run_status(&request.run_id).await?;
        let interval = Duration::from_millis(request.interval_ms.clamp(100, 60_000));
        let controller = self.controller.clone();
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            loop {
                let status = controller
                    .run_status(&request.run_id)
                    .await
                    .map_err(Status::from);
                let finished = matches!(&status, Ok(status) if status.state == v1::RunState::Complete as i32)
                    || status.is_err();
                if sender.send(status).await.is_err() || finished {
                    return;
                }
                tokio::time::sleep(interval).await;
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(receiver),
        )))
    }

    async fn list_runs(
        &self,
        request: Request<v1::ListRunsRequest>,
    ) -> Result<Response<v1::ListRunsResponse>, Status> {
        let principal = self.caller(&request).await?;
        principal.require("listing runs", READERS)?;
        let runs = self.controller.list_runs_for(&principal).await?;
        Ok(Response::new(v1::ListRunsResponse { runs }))
    }

    async fn retry_run(
        &self,
        request: Request<v1::RetryRunRequest>,
    ) -> Result<Response<v1::RetryRunResponse>, Status> {
        let run_id = request.get_ref().run_id.clone();
        let principal = self
            .run_caller(&request, "retrying a run", CHANGERS, &run_id)
            .await?;
        let requeued = self.controller.retry_run(&run_id).await?;
        self.controller
            .audit(&principal, "run.retry", &run_id)
            .await;
        Ok(Response::new(v1::RetryRunResponse { requeued }))
    }

    async fn rescore_run(
        &self,
        request: Request<v1::RescoreRunRequest>,
    ) -> Result<Response<v1::RescoreRunResponse>, Status> {
        let run_id = request.get_ref().run_id.clone();
        let principal = self
            .run_caller(&request, "re-scoring a run", CHANGERS, &run_id)
            .await?;
        let request = request.into_inner();
        let extractor = Some(request.extractor.as_str()).filter(|name| !name.is_empty());
        let (checked, changed) = self
            .controller
            .rescore_run_with(&request.run_id, extractor)
            .await?;
        self.controller
            .audit(&principal, "run.rescore", &run_id)
            .await;
        Ok(Response::new(v1::RescoreRunResponse {
            checked,
            changed,
            // The reading now in effect: the one asked for, or this build's cascade.
            extractor: extractor
                .unwrap_or(jianzhen_suites::extract::EXTRACTOR_VERSION)
                .to_string(),
        }))
    }

    async fn export_profile(
        &self,
        request: Request<v1::ExportProfileRequest>,
    ) -> Result<Response<v1::ExportProfileResponse>, Status> {
        let run_id = request.get_ref().run_id.clone();
        let principal = self
            .run_caller(
                &request,
                "exporting a fingerprint profile (per-item evidence)",
                &[Role::Admin, Role::Reviewer],
                &run_id,
            )
            .await?;
        self.controller
            .audit(&principal, "profile.export", &run_id)
            .await;
        let request = request.into_inner();
        let profile_json = self
            .controller
            .export_profile(&request.run_id, &request.endpoint)
            .await?;
        Ok(Response::new(v1::ExportProfileResponse { profile_json }))
    }

    async fn render_report(
        &self,
        request: Request<v1::RenderReportRequest>,
    ) -> Result<Response<v1::RenderReportResponse>, Status> {
        let principal = self.caller(&request).await?;
        principal.require("reading a report", READERS)?;
        let request = request.into_inner();
        let compare_with =
            (!request.compare_run_id.is_empty()).then_some(request.compare_run_id.as_str());
        let files = self
            .controller
            .render_report_for(
                &principal,
                &request.run_id,
                compare_with,
                &request.reference_profiles,
            )
            .await?;
        Ok(Response::new(v1::RenderReportResponse {
            files: files
                .into_iter()
                .map(|file| v1::ReportFile {
                    name: file.name,
                    content: file.content,
                })
                .collect(),
        }))
    }

    async fn add_endpoint(
        &self,
        request: Request<v1::AddEndpointRequest>,
    ) -> Result<Response<v1::AddEndpointResponse>, Status> {
        let principal = self.caller(&request).await?;
        let replaced = self
            .controller
            .add_endpoint(&principal, request.into_inner())
            .await?;
        Ok(Response::new(v1::AddEndpointResponse { replaced }))
    }

    async fn list_endpoints(
        &self,
        request: Request<v1::ListEndpointsRequest>,
    ) -> Result<Response<v1::ListEndpointsResponse>, Status> {
        let principal = self.caller(&request).await?;
        let endpoints = self.controller.list_endpoints_for(&principal).await?;
        Ok(Response::new(v1::ListEndpointsResponse { endpoints }))
    }

    async fn publish_suite(
        &self,
        request: Request<v1::PublishSuiteRequest>,
    ) -> Result<Response<v1::PublishSuiteResponse>, Status> {
        let principal = self.caller(&request).await?;
        let request = request.into_inner();
        let items = self
            .controller
            .publish_suite(
                &principal,
                &request.name,
                &request.suite_toml,
                &request.description,
            )
            .await?;
        Ok(Response::new(v1::PublishSuiteResponse { items }))
    }

    async fn list_published_suites(
        &self,
        request: Request<v1::ListPublishedSuitesRequest>,
    ) -> Result<Response<v1::ListPublishedSuitesResponse>, Status> {
        let principal = self.caller(&request).await?;
        let suites = self.controller.published_suites(&principal).await?;
        Ok(Response::new(v1::ListPublishedSuitesResponse { suites }))
    }

    async fn list_audit(
        &self,
        request: Request<v1::ListAuditRequest>,
    ) -> Result<Response<v1::ListAuditResponse>, Status> {
        let principal = self.caller(&request).await?;
        let entries = self
            .controller
            .audit_entries(&principal, request.get_ref().limit)
            .await?;
        Ok(Response::new(v1::ListAuditResponse { entries }))
    }
}
