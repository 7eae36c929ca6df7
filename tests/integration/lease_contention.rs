//! Leasing under contention, against a real store: many workers lease, heartbeat, report
//! and complete at once on a multi-threaded runtime, and no shard is ever held by two of
//! them; a heartbeat is answered while another call waits inside the store; a run being
//! answered from the cache is not leased before the cache is done.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jianzhen_coordinator::{Controller, CoordinatorConfig};
use jianzhen_proto::v1;
use jianzhen_testkit::fixtures::write_ceval;
use jianzhen_testkit::stores::test_store_url;
use sqlx::Connection;

use crate::common::*;

/// Who holds each shard right now, as the test's workers see it, and the epochs seen.
#[derive(Default)]
struct Holders {
    current: HashMap<String, (String, u64)>,
    epochs: HashMap<String, u64>,
    double_leases: Vec<String>,
    leases: u64,
}

impl Holders {
    /// Records a lease; a shard someone else holds (or an epoch that did not grow) is a
    /// double lease.
    fn take(&mut self, shard_id: &str, worker_id: &str, epoch: u64) {
        self.leases += 1;
        if let Some((holder, held_epoch)) = self.current.get(shard_id) {
            self.double_leases.push(format!(
                "{shard_id} leased to {worker_id} at epoch {epoch} while {holder} held it at epoch {held_epoch}"
            ));
        }
        let last = self.epochs.insert(shard_id.to_string(), epoch);
        if last.is_some_and(|last| last >= epoch) {
            self.double_leases.push(format!(
                "{shard_id} leased at epoch {epoch} after epoch {last:?}"
            ));
        }
        self.current
            .insert(shard_id.to_string(), (worker_id.to_string(), epoch));
    }

    /// The worker is about to complete: from here the shard may be leased again as soon
    /// as the controller releases it.
    fn give_back(&mut self, shard_id: &str) {
        self.current.remove(shard_id);
    }
}

fn result_for(item: &v1::ItemRequest) -> v1::ItemResult {
    v1::ItemResult {
        item_key: item.item_key.clone(),
        repeat: item.repeat,
        text: "A".into(),
        finish_reason: "stop".into(),
        attempts: 1,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_lease_heartbeat_and_report_calls_never_lease_a_shard_twice() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    write_ceval(
        &data,
        &[("law", 30), ("logic", 25), ("computer_network", 20)],
    )
    .expect("fixture");
    // A long TTL and progress deadline: no lease expires, so any two holders at once
    // are a double lease, not a legitimate re-lease after an expiry.
    let config = CoordinatorConfig {
        heartbeat_ttl: Duration::from_secs(600),
        progress_timeout: Some(Duration::from_secs(600)),
        ..CoordinatorConfig::default()
    };
    let controller = Controller::open(
        &test_store_url(dir.path(), "contention").await,
        config,
        "test",
    )
    .await
    .expect("open the store");
    // Two endpoints, so two budgets; concurrency 3 each for 8 workers, so leases are
    // also refused for a spent budget while others are granted.
    let mut spec = run_spec(
        "contention",
        &[("ceval", &data, 0)],
        "http://127.0.0.1:9/v1",
        3,
        2,
    );
    spec.push_str(
        "[[endpoints]]\nname = \"second\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"second\"\nmax_concurrency = 3\ntimeout_secs = 10\nmax_attempts = 2\n",
    );
    let submitted = controller.submit_run(&spec).await.expect("submit");
    let run_id = submitted.run_id.clone();
    assert_eq!(submitted.total_items, 150, "75 questions × 2 endpoints");

    let holders = Arc::new(Mutex::new(Holders::default()));
    let stored_total = Arc::new(Mutex::new(0u64));
    let mut workers = Vec::new();
    for index in 0..8 {
        let controller = controller.clone();
        let holders = holders.clone();
        let stored_total = stored_total.clone();
        let run_id = run_id.clone();
        workers.push(tokio::spawn(async move {
            let worker_id = format!("contender-{index}");
            controller.register_worker(&worker_id).await;
            let mut round = 0u64;
            loop {
                round += 1;
                assert!(controller.heartbeat(&worker_id).await, "{worker_id} known");
                let lease = controller.lease_shard(&worker_id).await.expect("lease");
                let Some(lease) = lease else {
                    let status = controller.run_status(&run_id).await.expect("status");
                    if status.state == v1::RunState::Complete as i32 {
                        return;
                    }
                    tokio::task::yield_now().await;
                    continue;
                };
                holders
                    .lock()
                    .expect("holders")
                    .take(&lease.shard_id, &worker_id, lease.epoch);
                // Every third lease is handed back after half its items, so shards are
                // requeued and leased again under higher epochs.
                let hand_back = (round + index).is_multiple_of(3) && lease.items.len() > 1;
                let reported: Vec<v1::ItemResult> = if hand_back {
                    lease.items[..lease.items.len() / 2]
                        .iter()
                        .map(result_for)
                        .collect()
                } else {
                    lease.items.iter().map(result_for).collect()
                };
                for batch in [reported.clone(), reported] {
                    // The same batch twice: the second stores nothing.
                    assert!(controller.heartbeat(&worker_id).await);
                    let (stored, _) = controller
                        .report_results(v1::ReportResultsRequest {
                            worker_id: worker_id.clone(),
                            run_id: lease.run_id.clone(),
                            shard_id: lease.shard_id.clone(),
                            epoch: lease.epoch,
                            results: batch,
                            throttle_waits: 0,
                        })
                        .await
                        .expect("the holder's report is accepted");
                    *stored_total.lock().expect("total") += u64::from(stored);
                }
                holders.lock().expect("holders").give_back(&lease.shard_id);
                let done = controller
                    .complete_shard(v1::CompleteShardRequest {
                        worker_id: worker_id.clone(),
                        run_id: lease.run_id.clone(),
                        shard_id: lease.shard_id.clone(),
                        epoch: lease.epoch,
                    })
                    .await
                    .expect("the holder completes");
                assert_eq!(done, !hand_back, "a shard handed back is not done");
            }
        }));
    }
    // Sweeps and status reads race the workers too.
    let sweeper = {
        let controller = controller.clone();
        let run_id = run_id.clone();
        tokio::spawn(async move {
            loop {
                assert_eq!(controller.sweep().await.expect("sweep"), 0, "no expiry");
                let status = controller.run_status(&run_id).await.expect("status");
                if status.state == v1::RunState::Complete as i32 {
                    return;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let all_done = async {
        for worker in workers {
            worker.await.expect("worker task");
        }
        sweeper.await.expect("sweeper task");
    };
    tokio::time::timeout(Duration::from_secs(120), all_done)
        .await
        .expect("the contended run finishes");

    {
        let holders = holders.lock().expect("holders");
        assert!(
            holders.double_leases.is_empty(),
            "double leases: {:#?}",
            holders.double_leases
        );
        assert!(
            holders.leases > 75,
            "75 shards and hand-backs: {} leases",
            holders.leases
        );
    }
    assert_eq!(
        *stored_total.lock().expect("total"),
        150,
        "each item stored exactly once over all reports"
    );
    let rows = controller.store().scored_rows(&run_id).await.expect("rows");
    assert_eq!(rows.len(), 150);
    let distinct: HashSet<(String, String, u32)> = rows
        .iter()
        .map(|row| (row.endpoint.clone(), row.item_id.clone(), row.repeat))
        .collect();
    assert_eq!(distinct.len(), 150, "one row per item");
    let status = controller.run_status(&run_id).await.expect("status");
    assert_eq!(status.done_items, 150);
    assert_eq!(status.shards_leased, 0);
    assert_eq!(
        controller
            .leasing()
            .counts(tokio::time::Instant::now())
            .held,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_is_answered_while_a_lease_waits_inside_the_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    write_ceval(&data, &[("law", 4)]).expect("fixture");
    // SQLite on purpose: a second connection can hold its write lock.
    let url = format!("sqlite:{}", dir.path().join("blocked.db").display());
    let controller = Controller::open(&url, CoordinatorConfig::default(), "test")
        .await
        .expect("open the store");
    let spec = run_spec(
        "blocked",
        &[("ceval", &data, 0)],
        "http://127.0.0.1:9/v1",
        4,
        2,
    );
    controller.submit_run(&spec).await.expect("submit");
    controller.register_worker("leaser").await;
    controller.register_worker("bystander").await;

    // Another connection takes the database's write lock and keeps it: the lease's claim
    // (a write) waits inside the store until it is let go.
    let mut blocker = sqlx::AnyConnection::connect(&url)
        .await
        .expect("second connection");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut blocker)
        .await
        .expect("take the write lock");
    let leasing = {
        let controller = controller.clone();
        tokio::spawn(async move { controller.lease_shard("leaser").await })
    };
    // The lease has reserved its shard and is now reading and claiming it in the store.
    wait_until(Duration::from_secs(20), "the shard to be reserved", || {
        let controller = controller.clone();
        async move {
            controller
                .leasing()
                .counts(tokio::time::Instant::now())
                .reserved
                == 1
        }
    })
    .await;
    // Liveness is answered from the lease table, truthfully, without waiting for the
    // store: a known worker is known, an unknown one must register.
    assert!(controller.heartbeat("bystander").await);
    assert!(
        !controller.heartbeat("never-registered").await,
        "an unknown worker is told to register, not deferred"
    );
    controller.register_worker("late").await;
    assert!(controller.heartbeat("late").await);
    assert!(
        !leasing.is_finished(),
        "the lease is still waiting for the write lock"
    );

    sqlx::query("COMMIT")
        .execute(&mut blocker)
        .await
        .expect("let the write lock go");
    let lease = leasing
        .await
        .expect("lease task")
        .expect("the lease succeeds once the store answers")
        .expect("a pending shard");
    assert_eq!(lease.epoch, 1);
    assert_eq!(lease.items.len(), 2);
    let counts = controller.leasing().counts(tokio::time::Instant::now());
    assert_eq!((counts.held, counts.reserved), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_answered_from_the_cache_is_never_leased_while_it_is_filled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    write_ceval(&data, &[("law", 12), ("logic", 12)]).expect("fixture");
    let controller = Controller::open(
        &test_store_url(dir.path(), "cache-fill").await,
        CoordinatorConfig::default(),
        "test",
    )
    .await
    .expect("open the store");
    let spec = |name: &str| run_spec(name, &[("ceval", &data, 0)], "http://127.0.0.1:9/v1", 64, 2);
    // The first run is answered by hand, filling the response cache.
    let first = controller.submit_run(&spec("first")).await.expect("submit");
    controller.register_worker("filler").await;
    while let Some(lease) = controller.lease_shard("filler").await.expect("lease") {
        controller
            .report_results(v1::ReportResultsRequest {
                worker_id: "filler".into(),
                run_id: lease.run_id.clone(),
                shard_id: lease.shard_id.clone(),
                epoch: lease.epoch,
                results: lease.items.iter().map(result_for).collect(),
                throttle_waits: 0,
            })
            .await
            .expect("report");
        controller
            .complete_shard(v1::CompleteShardRequest {
                worker_id: "filler".into(),
                run_id: lease.run_id,
                shard_id: lease.shard_id,
                epoch: lease.epoch,
            })
            .await
            .expect("complete");
    }
    wait_for_run(&controller, &first.run_id, Duration::from_secs(10)).await;

    // Workers keep asking while a second run over the same requests is submitted: the
    // cache answers every item of it, so no shard of it may ever be leased.
    let submitting = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let leased: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let mut askers = Vec::new();
    for index in 0..4 {
        let controller = controller.clone();
        let submitting = submitting.clone();
        let leased = leased.clone();
        askers.push(tokio::spawn(async move {
            let worker_id = format!("asker-{index}");
            while submitting.load(std::sync::atomic::Ordering::SeqCst) {
                if let Some(lease) = controller.lease_shard(&worker_id).await.expect("lease") {
                    *leased
                        .lock()
                        .expect("leased")
                        .entry(lease.shard_id)
                        .or_default() += lease.items.len();
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    let second = controller
        .submit_run(&spec("second"))
        .await
        .expect("submit");
    submitting.store(false, std::sync::atomic::Ordering::SeqCst);
    for asker in askers {
        asker.await.expect("asker task");
    }
    assert_eq!(second.from_cache, 24, "every item answered from the cache");
    assert!(
        leased.lock().expect("leased").is_empty(),
        "shards leased during the cache fill: {:?}",
        leased.lock().expect("leased")
    );
    let status = controller.run_status(&second.run_id).await.expect("status");
    assert_eq!(status.state, v1::RunState::Complete as i32);
}
