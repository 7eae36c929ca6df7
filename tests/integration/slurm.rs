//! `deploy/slurm/jianzhen-workers.sbatch` as Slurm runs it (one bash per array task with
//! the SLURM_* variables set): its workers register under per-task ids, finish a run, and
//! stop cleanly on SIGTERM (the script `exec`s the worker, so the signal reaches it).

use std::process::{Command, Stdio};
use std::time::Duration;

use jianzhen_coordinator::store::Store;
use jianzhen_proto::{CoordinatorClient, v1};
use jianzhen_testkit::Script;
use jianzhen_testkit::fixtures::write_ceval;
use jianzhen_testkit::stores::test_store_url;

use crate::common::*;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/slurm/jianzhen-workers.sbatch"
);

#[test]
fn the_sbatch_script_says_what_is_missing() {
    let output = Command::new("bash")
        .arg(SCRIPT)
        .env_remove("JIANZHEN_COORDINATOR")
        .output()
        .expect("run the script");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("set JIANZHEN_COORDINATOR"), "{stderr}");
    let output = Command::new("bash")
        .arg(SCRIPT)
        .env("JIANZHEN_COORDINATOR", "http://127.0.0.1:1")
        .env("JIANZHEN_BIN", "/nonexistent/jianzhen")
        .output()
        .expect("run the script");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("set JIANZHEN_BIN"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_array_of_sbatch_workers_finishes_a_run_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    write_ceval(&data, &[("law", 40)]).expect("fixture");
    let server = jianzhen_testkit::start(Script::new("答案是A")).await;
    let store = test_store_url(dir.path(), "slurm").await;
    let (_coordinator, url) = start_coordinator_process(&store, "127.0.0.1:0");
    let mut tasks: Vec<Reaped> = (0..2)
        .map(|task| {
            Reaped(
                Command::new("bash")
                    .arg(SCRIPT)
                    .env("JIANZHEN_BIN", BINARY)
                    .env("JIANZHEN_COORDINATOR", &url)
                    .env("JIANZHEN_WORKER_ARGS", "--allow-endpoint 127.0.0.0/8")
                    .env("SLURM_ARRAY_JOB_ID", "4242")
                    .env("SLURM_ARRAY_TASK_ID", task.to_string())
                    .env("JIANZHEN_LOG", "error")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start an array task"),
            )
        })
        .collect();
    let spec_path = dir.path().join("run.toml");
    std::fs::write(
        &spec_path,
        run_spec("slurm", &[("ceval", &data, 0)], &server.base_url(), 4, 5),
    )
    .expect("spec");
    let run_id = submit_via_cli(&spec_path, &url);
    let mut client = CoordinatorClient::connect(url.clone())
        .await
        .expect("connect");
    wait_until(Duration::from_secs(60), "the run to complete", || {
        let mut client = client.clone();
        let run_id = run_id.clone();
        async move {
            client
                .get_run_status(v1::GetRunStatusRequest { run_id })
                .await
                .is_ok_and(|status| status.into_inner().state == v1::RunState::Complete as i32)
        }
    })
    .await;
    let coverage = Store::open(&store)
        .await
        .expect("store")
        .result_coverage(&run_id)
        .await
        .expect("coverage");
    assert_eq!(
        coverage,
        jianzhen_coordinator::store::ResultCoverage {
            planned: 40,
            stored: 40,
            missing: 0,
            unplanned: 0
        },
        "every item stored exactly once"
    );
    let status = client
        .get_run_status(v1::GetRunStatusRequest {
            run_id: run_id.clone(),
        })
        .await
        .expect("status")
        .into_inner();
    assert_eq!(status.done_items, 40);
    for task in &mut tasks {
        let (exit, _) = task.terminate(Duration::from_secs(15));
        assert!(
            exit.success(),
            "an array task stops cleanly on SIGTERM: {exit:?}"
        );
    }
}
