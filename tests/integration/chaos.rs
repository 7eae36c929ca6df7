//! Chaos with real processes: a run of 2,000 items on 3 worker processes while the test
//! kills (SIGKILL) workers and the coordinator at seeded random moments and restarts
//! them. The final scores equal the scripted ones (what a clean run gives) and every item
//! is stored exactly once. `JIANZHEN_CHAOS_SEED` replays a failing schedule.

use std::process::Command;
use std::time::Duration;

use jianzhen_coordinator::store::Store;
use jianzhen_proto::{CoordinatorClient, v1};
use jianzhen_testkit::fixtures::write_ceval;

use jianzhen_testkit::stores::test_store_url;

use crate::common::*;

/// A small deterministic generator (xorshift64*), so a seed replays the same schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

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
async fn killing_workers_and_the_coordinator_at_random_changes_nothing() {
    let seed: u64 = std::env::var("JIANZHEN_CHAOS_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(20261128);
    let mut rng = Rng(seed.max(1));
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    let questions = write_ceval(
        &data,
        &[
            ("computer_network", 500),
            ("law", 500),
            ("logic", 500),
            ("basic_medicine", 500),
        ],
    )
    .expect("fixture");
    let planned = varied_replies("ceval", &questions)
        .into_iter()
        // Persistent HTTP errors would make the run slow for no extra chaos; keep answers.
        .map(|mut entry| {
            if matches!(entry.reply, Reply::HttpError(_)) {
                entry.reply = Reply::Text("无法确定".into());
                entry.expected = "unextractable";
            }
            entry
        })
        .collect::<Vec<_>>();
    let server = jianzhen_testkit::start(script_for(&planned, Duration::from_millis(8))).await;
    let store = test_store_url(dir.path(), "chaos").await;
    let (mut coordinator_process, url) = start_coordinator_process(&store, "127.0.0.1:0");
    let listen = url.trim_start_matches("http://").to_string();
    let mut workers: Vec<Reaped> = (0..3)
        .map(|index| start_worker_process(&url, &format!("chaos-{index}")))
        .collect();

    let spec_path = dir.path().join("run.toml");
    std::fs::write(
        &spec_path,
        run_spec("chaos", &[("ceval", &data, 0)], &server.base_url(), 6, 20),
    )
    .expect("spec");
    let run_id = submit_via_cli(&spec_path, &url);
    let total = planned.len() as u64;
    assert!(total >= 2000);

    let mut kills = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    loop {
        tokio::time::sleep(Duration::from_millis(rng.between(300, 900))).await;
        if let Some(status) = status(&url, &run_id).await
            && status.state == v1::RunState::Complete as i32
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "seed {seed}: the run did not complete; kills so far: {kills:?}"
        );
        // Up to 12 faults, then let the run finish.
        if kills.len() >= 12 {
            continue;
        }
        // The second fault always restarts the coordinator, so every schedule covers it.
        let target = if kills.len() == 1 {
            3
        } else {
            rng.between(0, 3)
        };
        if target == 3 {
            coordinator_process.kill();
            tokio::time::sleep(Duration::from_millis(rng.between(100, 600))).await;
            coordinator_process = start_coordinator_process(&store, &listen).0;
            kills.push("coordinator".to_string());
        } else {
            let index = target as usize;
            workers[index].kill();
            tokio::time::sleep(Duration::from_millis(rng.between(50, 400))).await;
            workers[index] = start_worker_process(&url, &format!("chaos-{index}-{}", kills.len()));
            kills.push(format!("worker {index}"));
        }
    }
    assert!(
        kills.iter().any(|kill| kill == "coordinator"),
        "seed {seed}: the schedule must restart the coordinator at least once: {kills:?}"
    );
    assert!(
        kills.iter().any(|kill| kill.starts_with("worker")),
        "seed {seed}: and kill a worker: {kills:?}"
    );

    let report_dir = dir.path().join("report");
    let report = Command::new(BINARY)
        .args(["report", &run_id, "--out"])
        .arg(&report_dir)
        .args(["--coordinator", &url])
        .output()
        .expect("report");
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let scores = std::fs::read(report_dir.join("scores.csv")).expect("scores.csv");
    assert_eq!(
        parse_scores(&scores),
        expected_counts(&planned),
        "seed {seed}, kills {kills:?}"
    );

    drop(workers);
    drop(coordinator_process);
    let store = Store::open(&store).await.expect("reopen");
    let coverage = store.result_coverage(&run_id).await.expect("coverage");
    assert_eq!(
        coverage,
        jianzhen_coordinator::store::ResultCoverage {
            planned: total,
            stored: total,
            missing: 0,
            unplanned: 0
        },
        "seed {seed}: every planned item stored exactly once"
    );
    for entry in &planned {
        assert!(
            server.chat_requests_containing(&entry.needle) >= 1,
            "seed {seed}: {} never reached the endpoint",
            entry.needle
        );
    }
    eprintln!(
        "chaos seed {seed}: {} faults injected: {kills:?}",
        kills.len()
    );
}
