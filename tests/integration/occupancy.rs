//! An endpoint kept full across shard boundaries: a worker leases its next shard while
//! the current one's last requests are in flight, so the next shard's requests take the
//! slots they free. Checked from the scripted endpoint's own record of when each request
//! held a slot (the overlap itself, never a duration), with every item stored exactly
//! once; and a worker that stops while holding a prefetched lease loses both of its
//! leases to the coordinator's expiry, and their items are stored once by another worker.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jianzhen_coordinator::CoordinatorConfig;
use jianzhen_coordinator::store::ResultCoverage;
use jianzhen_testkit::fixtures::{FixtureQuestion, write_ceval};
use jianzhen_testkit::stores::test_store_url;
use jianzhen_testkit::{Script, ServedRequest};
use tokio::sync::watch;

use crate::common::*;

/// Three subjects, one shard each (`shard_size = 10`), over 4 slots with equal answer
/// times, so requests start in waves. Sizes 9, 6 and 5: in whatever order the shards are
/// leased, no shard and no two shards fill a whole number of waves (none of 9, 6, 5, 15,
/// 14, 11 is a multiple of 4), so with the next shard leased ahead every boundary wave
/// holds requests of both shards; without it the next shard starts after the last
/// request of the current one finished.
const SUBJECTS: [(&str, usize); 3] = [("logic", 9), ("law", 6), ("marxism", 5)];

/// The subject (and so the shard) of a served request: every fixture question carries
/// its unique marker followed by a full-width colon.
fn subject_of<'a>(request: &ServedRequest, questions: &'a [FixtureQuestion]) -> &'a str {
    questions
        .iter()
        .find(|question| request.question.contains(&format!("{}：", question.marker)))
        .map(|question| question.subject.as_str())
        .unwrap_or_else(|| panic!("a request for no fixture item: {}", request.question))
}

/// Per subject: when its first request got a slot and when its last one finished.
fn spans_by_subject(
    served: &[ServedRequest],
    questions: &[FixtureQuestion],
) -> Vec<(String, Instant, Instant)> {
    let mut spans: BTreeMap<&str, (Instant, Instant)> = BTreeMap::new();
    for request in served {
        let span = spans
            .entry(subject_of(request, questions))
            .or_insert((request.started, request.finished));
        span.0 = span.0.min(request.started);
        span.1 = span.1.max(request.finished);
    }
    let mut spans: Vec<(String, Instant, Instant)> = spans
        .into_iter()
        .map(|(subject, (first, last))| (subject.to_string(), first, last))
        .collect();
    spans.sort_by_key(|(_, first, _)| *first);
    spans
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_next_shard_starts_before_the_last_request_of_the_current_one_finishes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    let questions = write_ceval(&data, &SUBJECTS).expect("fixture");
    // Long enough answers that the next lease arrives while the current shard's last
    // requests are still being answered, even on a loaded machine (a lease round trip
    // took over 300 ms with a dozen tests and a compile sharing 2 cores).
    let server = jianzhen_testkit::start(
        Script::new("答案是A")
            .with_delay(Duration::from_millis(1000))
            .with_slots(4),
    )
    .await;
    let store = test_store_url(dir.path(), "occupancy").await;
    let cluster = InProcessCluster::start(&store, 1).await;
    let spec = run_spec(
        "occupancy",
        &[("ceval", data.as_path(), 0)],
        &server.base_url(),
        4,
        10,
    );
    let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(60)).await;

    let coverage = cluster
        .controller
        .store()
        .result_coverage(&submitted.run_id)
        .await
        .expect("coverage");
    let total = questions.len() as u64;
    assert_eq!(
        coverage,
        ResultCoverage {
            planned: total,
            stored: total,
            missing: 0,
            unplanned: 0
        },
        "every item stored exactly once"
    );
    for question in &questions {
        assert_eq!(
            server.chat_requests_containing(&format!("{}：", question.marker)),
            1,
            "{} asked once",
            question.marker
        );
    }
    assert!(
        server.max_in_flight() <= 4,
        "the worker's leases together kept to its share of 4 slots: {} in flight at once",
        server.max_in_flight()
    );

    let spans = spans_by_subject(&server.served_requests(), &questions);
    assert_eq!(spans.len(), SUBJECTS.len(), "{spans:?}");
    for pair in spans.windows(2) {
        let (current, _, current_last_end) = &pair[0];
        let (next, next_first_start, _) = &pair[1];
        assert!(
            next_first_start < current_last_end,
            "shard `{next}` started {:?} after the last request of shard `{current}` finished: the endpoint drained between them",
            next_first_start.duration_since(*current_last_end)
        );
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_that_stops_holding_a_prefetched_lease_loses_both_and_each_item_is_stored_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    let questions = write_ceval(&data, &SUBJECTS).expect("fixture");
    let server = jianzhen_testkit::start(
        Script::new("答案是A")
            .with_delay(Duration::from_millis(300))
            .with_slots(4),
    )
    .await;
    let store = test_store_url(dir.path(), "occupancy-stop").await;
    // The stopped worker's heartbeat task outlives it in this process, so its leases end
    // by the progress deadline, which is short here.
    let config = CoordinatorConfig {
        progress_timeout: Some(Duration::from_secs(2)),
        sweep_interval: Duration::from_millis(200),
        ..CoordinatorConfig::default()
    };
    let cluster = InProcessCluster::start_with(
        &store,
        0,
        config,
        jianzhen_worker::egress::EgressPolicy::with_loopback(),
    )
    .await;
    let spec = run_spec(
        "occupancy-stop",
        &[("ceval", data.as_path(), 0)],
        &server.base_url(),
        4,
        10,
    );
    let submitted = cluster.controller.submit_run(&spec).await.expect("submit");

    let (_stop_first, first_stopped) = watch::channel(false);
    let mut first = jianzhen_worker::WorkerConfig::new(&cluster.url, "prefetching");
    first.egress = jianzhen_worker::egress::EgressPolicy::with_loopback();
    let first_worker = tokio::spawn(jianzhen_worker::run_worker(first, first_stopped));
    wait_until(
        Duration::from_secs(20),
        "the worker to hold its current lease and a prefetched one",
        || {
            let controller = cluster.controller.clone();
            async move {
                controller
                    .leasing()
                    .counts(tokio::time::Instant::now())
                    .held
                    >= 2
            }
        },
    )
    .await;
    // Gone without a word: its requests in flight are dropped, nothing is completed.
    first_worker.abort();
    let _ = first_worker.await;

    let (stop_second, second_stopped) = watch::channel(false);
    let mut second = jianzhen_worker::WorkerConfig::new(&cluster.url, "takes-over");
    second.egress = jianzhen_worker::egress::EgressPolicy::with_loopback();
    let second_worker = tokio::spawn(jianzhen_worker::run_worker(second, second_stopped));
    wait_for_run(
        &cluster.controller,
        &submitted.run_id,
        Duration::from_secs(60),
    )
    .await;

    let coverage = cluster
        .controller
        .store()
        .result_coverage(&submitted.run_id)
        .await
        .expect("coverage");
    let total = questions.len() as u64;
    assert_eq!(
        coverage,
        ResultCoverage {
            planned: total,
            stored: total,
            missing: 0,
            unplanned: 0
        },
        "every item stored exactly once after both leases of the stopped worker expired"
    );
    let _ = stop_second.send(true);
    let _ = second_worker.await;
    cluster.shutdown().await;
}
