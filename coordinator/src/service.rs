//! The gRPC face of the coordinator: translates messages to [`Controller`] calls and
//! errors to status codes (in `error.rs`). No logic lives here.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use jianzhen_proto::v1;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::controller::Controller;

pub struct CoordinatorService {
    controller: Arc<Controller>,
}

impl CoordinatorService {
    pub fn new(controller: Arc<Controller>) -> Self {
        CoordinatorService { controller }
    }
}

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
        let request = request.into_inner();
        require("worker_id", &request.worker_id)?;
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
        let request = request.into_inner();
        require("worker_id", &request.worker_id)?;
        let known = self.controller.heartbeat(&request.worker_id).await;
        Ok(Response::new(v1::HeartbeatResponse { known }))
    }

    async fn lease_shard(
        &self,
        request: Request<v1::LeaseShardRequest>,
    ) -> Result<Response<v1::LeaseShardResponse>, Status> {
        let request = request.into_inner();
        require("worker_id", &request.worker_id)?;
        let lease = self.controller.lease_shard(&request.worker_id).await?;
        Ok(Response::new(v1::LeaseShardResponse { lease }))
    }

    async fn report_results(
        &self,
        request: Request<v1::ReportResultsRequest>,
    ) -> Result<Response<v1::ReportResultsResponse>, Status> {
        let request = request.into_inner();
        require("worker_id", &request.worker_id)?;
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
        let request = request.into_inner();
        require("worker_id", &request.worker_id)?;
        require("shard_id", &request.shard_id)?;
        let done = self.controller.complete_shard(request).await?;
        Ok(Response::new(v1::CompleteShardResponse { done }))
    }

    async fn submit_run(
        &self,
        request: Request<v1::SubmitRunRequest>,
    ) -> Result<Response<v1::SubmitRunResponse>, Status> {
        let submitted = self
            .controller
            .submit_run(&request.into_inner().spec_toml)
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
        let status = self
            .controller
            .run_status(&request.into_inner().run_id)
            .await?;
        Ok(Response::new(status))
    }

    type WatchRunStream =
        Pin<Box<dyn Stream<Item = Result<v1::RunStatus, Status>> + Send + 'static>>;

    async fn watch_run(
        &self,
        request: Request<v1::WatchRunRequest>,
    ) -> Result<Response<Self::WatchRunStream>, Status> {
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
        _request: Request<v1::ListRunsRequest>,
    ) -> Result<Response<v1::ListRunsResponse>, Status> {
        let runs = self.controller.list_runs().await?;
        Ok(Response::new(v1::ListRunsResponse { runs }))
    }

    async fn retry_run(
        &self,
        request: Request<v1::RetryRunRequest>,
    ) -> Result<Response<v1::RetryRunResponse>, Status> {
        let requeued = self
            .controller
            .retry_run(&request.into_inner().run_id)
            .await?;
        Ok(Response::new(v1::RetryRunResponse { requeued }))
    }

    async fn rescore_run(
        &self,
        request: Request<v1::RescoreRunRequest>,
    ) -> Result<Response<v1::RescoreRunResponse>, Status> {
        let request = request.into_inner();
        let extractor = Some(request.extractor.as_str()).filter(|name| !name.is_empty());
        let (checked, changed) = self
            .controller
            .rescore_run_with(&request.run_id, extractor)
            .await?;
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
        let request = request.into_inner();
        let compare_with =
            (!request.compare_run_id.is_empty()).then_some(request.compare_run_id.as_str());
        let files = self
            .controller
            .render_report_compared(&request.run_id, compare_with, &request.reference_profiles)
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
}
