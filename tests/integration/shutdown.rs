//! Graceful shutdown with real processes: SIGTERM to a worker finishes its items in
//! flight, reports them and hands its shard back at once, so a rolling restart of every
//! worker during a run loses nothing and asks the endpoint nothing twice; SIGTERM to the
//! coordinator makes it exit cleanly.

use std::time::Duration;

use jianzhen_coordinator::store::Store;
use jianzhen_proto::{CoordinatorClient, v1};
use jianzhen_testkit::fixtures::write_ceval;
use jianzhen_testkit::stores::test_store_url;

use crate::common::*;

async fn status(url: &str, run_id: &str) -> Option<v1::RunStatus> {
    let mut client = CoordinatorClient::connect(url.to_string()).await.ok()?;
    client
        .get_run_status(v1::GetRunStatusRequest {
            run_id: run_id.to_string(),
        })
        .await
        .ok()
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_every_worker_loses_nothing_and_redoes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    let questions = write_ceval(&data, &[("law", 300), ("logic", 300)]).expect("fixture");
    let planned = varied_replies("ceval", &questions)
        .into_iter()
        // Only answers: an HTTP error would be retried and count as a second request.
        .map(|mut entry| {
            if matches!(entry.reply, Reply::HttpError(_)) {
                entry.reply = Reply::Text("无法确定".into());
                entry.expected = "unextractable";
            }
            entry
        })
        .collect::<Vec<_>>();
    // Slow answers keep requests in flight whenever a worker is told to stop.
    let server = jianzhen_testkit::start(script_for(&planned, Duration::from_millis(150))).await;
    let store = test_store_url(dir.path(), "rolling").await;
    let (mut coordinator, url) = start_coordinator_process(&store, "127.0.0.1:0");
    let mut workers: Vec<Reaped> = (0..3)
        .map(|index| start_worker_process(&url, &format!("rolling-{index}-0")))
        .collect();
    let spec_path = dir.path().join("run.toml");
    std::fs::write(
        &spec_path,
        run_spec("rolling", &[("ceval", &data, 0)], &server.base_url(), 6, 20),
    )
    .expect("spec");
    let run_id = submit_via_cli(&spec_path, &url);
    let total = planned.len() as u64;

    // Restart every worker in turn, twice, each while it holds work; then let the run end.
    let mut restarts = Vec::new();
    for round in 1..=2 {
        for (index, worker) in workers.iter_mut().enumerate() {
            tokio::time::sleep(Duration::from_millis(700)).await;
            let before = status(&url, &run_id).await.map_or(0, |s| s.done_items);
            let (exit, took) = worker.terminate(Duration::from_secs(25));
            assert!(
                exit.success(),
                "worker {index} exits cleanly on SIGTERM: {exit:?}"
            );
            restarts.push((index, before, took));
            *worker = start_worker_process(&url, &format!("rolling-{index}-{round}"));
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(status) = status(&url, &run_id).await
            && status.state == v1::RunState::Complete as i32
        {
            assert_eq!(status.done_items, total);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run did not complete after the restarts {restarts:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before_last = restarts.last().map_or(0, |restart| restart.1);
    assert!(
        before_last < total,
        "the last restart happened during the run, not after it: {restarts:?}"
    );

    // Nothing redone: a worker that was stopped finished and reported what it had sent,
    // so the endpoint was asked exactly once per item. (SIGKILL instead redoes the
    // requests in flight.)
    let redone = server.requests().saturating_sub(total);
    eprintln!(
        "rolling restart: {} restarts {:?}, {} items, {} requests, {redone} redone",
        restarts.len(),
        restarts
            .iter()
            .map(|(index, done, took)| format!("w{index}@{done} exit {:.2}s", took.as_secs_f64()))
            .collect::<Vec<_>>(),
        total,
        server.requests()
    );
    assert_eq!(redone, 0, "items asked twice after {restarts:?}");

    // SIGTERM to the coordinator: it stops and exits cleanly.
    let (exit, took) = coordinator.terminate(Duration::from_secs(15));
    assert!(
        exit.success(),
        "the coordinator exits cleanly: {exit:?} after {took:?}"
    );
    drop(workers);

    let reopened = Store::open(&store).await.expect("reopen");
    let coverage = reopened.result_coverage(&run_id).await.expect("coverage");
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
    let rows = reopened.scored_rows(&run_id).await.expect("rows");
    let mut expected = std::collections::BTreeMap::<&str, u64>::new();
    for entry in &planned {
        *expected.entry(entry.expected).or_default() += 1;
    }
    let mut found = std::collections::BTreeMap::<&str, u64>::new();
    for row in &rows {
        *found.entry(row.outcome.as_str()).or_default() += 1;
    }
    assert_eq!(found, expected, "the scores equal the scripted ones");
}
