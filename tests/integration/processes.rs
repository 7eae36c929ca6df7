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
    // Kill the first worker once a quarter of the run is done and at least two leases are
    // out, so the killed one most likely dies mid-shard. (At least, not exactly: a worker
    // prefetches its next lease, so two workers hold two to six.)
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
        if status.done_items >= total / 4 && status.shards_leased >= 2 {
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

/// The signals a process ignores, from the `SigIgn` mask in `/proc/PID/status`.
fn ignores_signal(pid: u32, signal: libc::c_int) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|error| panic!("read /proc/{pid}/status: {error}"));
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no SigIgn line in /proc/{pid}/status:\n{status}"));
    let mask = u64::from_str_radix(mask, 16).expect("SigIgn is a hex mask");
    mask & (1u64 << (signal - 1)) != 0
}

/// The CI-only death of a coordinator in the middle of a test (a zombie with nothing in its
/// log) was SIGPIPE: `main` restores its default so `jianzhen … | head` ends quietly, and
/// rustls and hyper write sockets with `writev(2)`, which raises SIGPIPE when the peer has
/// gone. The serving commands ignore it, so a client that goes away mid-response ends only
/// its own connection. Replayed with the commonest case: `jianzhen status --watch` killed
/// while the coordinator streams it updates (the next writes hit a closed socket).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_killed_mid_stream_does_not_kill_the_coordinator() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    write_ceval(&data, &[("law", 4)]).expect("fixture");
    let store = test_store_url(dir.path(), "sigpipe").await;
    let (mut coordinator, url) = start_coordinator_process(&store, "127.0.0.1:0");
    assert!(
        ignores_signal(coordinator.0.id(), libc::SIGPIPE),
        "the coordinator must ignore SIGPIPE"
    );
    let worker = start_worker_process(&url, "sigpipe");
    // Read once the worker has started: the disposition is set before any thread starts.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        ignores_signal(worker.0.id(), libc::SIGPIPE),
        "a worker must ignore SIGPIPE"
    );
    drop(worker);

    // No worker serves the run, so it stays pending and the watch stream keeps writing.
    let spec_path = dir.path().join("run.toml");
    std::fs::write(
        &spec_path,
        run_spec(
            "sigpipe",
            &[("ceval", &data, 0)],
            "http://127.0.0.1:9/v1",
            1,
            4,
        ),
    )
    .expect("write spec");
    let run_id = submit_via_cli(&spec_path, &url);
    for round in 0..2 {
        let mut watcher = Reaped(
            Command::new(BINARY)
                .args(["status", &run_id, "--watch", "--coordinator", &url])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("start `jianzhen status --watch`"),
        );
        std::thread::sleep(Duration::from_millis(600));
        watcher.kill();
        std::thread::sleep(Duration::from_millis(1200));
        assert!(
            coordinator.0.try_wait().expect("wait").is_none(),
            "round {round}: the coordinator died after a watching client was killed: {:?}",
            coordinator.0.try_wait()
        );
    }
    let mut client = CoordinatorClient::connect(url.clone())
        .await
        .expect("the coordinator still accepts connections");
    client
        .get_run_status(v1::GetRunStatusRequest { run_id })
        .await
        .expect("and still answers");
}
