//! The real binary as separate processes: one coordinator and two workers on loopback.
//! One worker is killed with SIGKILL in the middle of the run; the run still completes,
//! and every item is stored exactly once with the scripted scores.

use std::process::Command;
use std::time::Duration;

use jianzhen_coordinator::store::Store;
use jianzhen_proto::{CoordinatorClient, v1};
use jianzhen_testkit::fixtures::write_ceval;

use jianzhen_testkit::stores::test_store_url;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_run_loses_nothing_and_doubles_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    let questions = write_ceval(
        &data,
        &[("computer_network", 40), ("law", 40), ("logic", 40)],
    )
    .expect("fixture");
    let planned = varied_replies("ceval", &questions);
    // Slow answers keep shards in flight long enough to kill a worker holding one.
    let server = jianzhen_testkit::start(script_for(&planned, Duration::from_millis(60))).await;
    let store_path = test_store_url(dir.path(), "cluster").await;
    let (coordinator, url) = start_coordinator_process(&store_path, "127.0.0.1:0");
    let mut doomed = start_worker_process(&url, "doomed");
    let _survivor = start_worker_process(&url, "survivor");

    let spec_path = dir.path().join("run.toml");
    std::fs::write(
        &spec_path,
        run_spec("kill", &[("ceval", &data, 0)], &server.base_url(), 4, 5),
    )
    .expect("write spec");
    let run_id = submit_via_cli(&spec_path, &url);

    let mut client = CoordinatorClient::connect(url.clone())
        .await
        .expect("connect");
    let total = planned.len() as u64;
    // Kill the first worker once a quarter of the run is done and both workers hold a
    // lease, so the killed one dies mid-shard.
    loop {
        let status = client
            .get_run_status(v1::GetRunStatusRequest {
                run_id: run_id.clone(),
            })
            .await
            .expect("status")
            .into_inner();
        assert!(
            status.state != v1::RunState::Complete as i32,
            "the run finished before the kill"
        );
        if status.done_items >= total / 4 && status.shards_leased == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.0.kill().expect("SIGKILL the worker");
    let _ = doomed.0.wait();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let status = client
            .get_run_status(v1::GetRunStatusRequest {
                run_id: run_id.clone(),
            })
            .await
            .expect("status")
            .into_inner();
        if status.state == v1::RunState::Complete as i32 {
            assert_eq!(status.done_items, total);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run did not complete after the kill: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let report_dir = dir.path().join("report");
    let report = Command::new(BINARY)
        .args(["report", &run_id, "--out"])
        .arg(&report_dir)
        .args(["--coordinator", &url])
        .output()
        .expect("run jianzhen report");
    assert!(
        report.status.success(),
        "report failed: {}",
        String::from_utf8_lossy(&report.stderr)
    );
    let scores = std::fs::read(report_dir.join("scores.csv")).expect("scores.csv written");
    assert_eq!(parse_scores(&scores), expected_counts(&planned));
    assert!(report_dir.join("report.md").exists() && report_dir.join("manifest.json").exists());

    drop(coordinator);
    let store = Store::open(&store_path).await.expect("reopen store");
    let coverage = store.result_coverage(&run_id).await.expect("coverage");
    assert_eq!(
        coverage,
        jianzhen_coordinator::store::ResultCoverage {
            planned: total,
            stored: total,
            missing: 0,
            unplanned: 0
        },
        "every planned item stored exactly once"
    );
    // Every item reached the endpoint, some twice at most: the killed worker's items in
    // flight are asked again, nothing else is.
    let asked: Vec<usize> = planned
        .iter()
        .map(|entry| server.chat_requests_containing(&entry.needle))
        .collect();
    assert!(asked.iter().all(|count| *count >= 1), "{asked:?}");
    let redone: usize = planned
        .iter()
        .zip(&asked)
        .map(|(entry, count)| {
            let attempts = if matches!(entry.reply, Reply::HttpError(_)) {
                2
            } else {
                1
            };
            count.saturating_sub(attempts)
        })
        .sum();
    eprintln!("items asked again after the kill: {redone}");
    assert!(
        redone <= 2 * 4 * 5,
        "at most the killed worker's leases are redone: {redone}"
    );
}
