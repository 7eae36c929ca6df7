//! Hostile input (issue 11): URLs that point inside the lab, replies meant to exhaust a
//! worker, numbers meant to panic the coordinator, batches meant to hold a lease, and
//! secrets meant to reach a log. Each is replayed against real servers on loopback and
//! seen refused or contained.

use std::time::Duration;

use jianzhen_coordinator::CoordinatorConfig;
use jianzhen_proto::v1;
use jianzhen_testkit::fixtures::write_ceval;
use jianzhen_testkit::stores::test_store_url;
use jianzhen_testkit::{Fault, Script};
use jianzhen_worker::egress::EgressPolicy;

use crate::common::*;

/// The reason every item of a finished run ended in `api_error` with, from report.md's
/// table of API errors.
async fn api_error_messages(cluster: &InProcessCluster, run_id: &str) -> String {
    let files = cluster
        .controller
        .render_report(run_id)
        .await
        .expect("report");
    report_text(&files, "report.md")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_refuse_internal_addresses_and_redirects_to_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    write_ceval(&data, &[("law", 2)]).expect("fixture");
    // A server that would answer on 127.0.0.1, redirecting to the metadata address.
    let redirecting = jianzhen_testkit::start(Script::new("A").fault(
        "",
        Fault::Redirect("http://169.254.169.254/latest/meta-data/iam/security-credentials/".into()),
        None,
    ))
    .await;
    let port = redirecting.address.port();
    let url = test_store_url(dir.path(), "egress").await;
    // Workers that allow nothing: the defaults of `jianzhen worker`.
    let cluster = InProcessCluster::start_with(
        &url,
        1,
        CoordinatorConfig::default(),
        EgressPolicy::public_only(),
    )
    .await;
    for (name, base_url, expected) in [
        (
            "loopback",
            format!("http://127.0.0.2:{port}/v1"),
            "loopback address",
        ),
        (
            "metadata",
            "http://169.254.169.254/v1".to_string(),
            "link-local",
        ),
        (
            "mapped",
            format!("http://[::ffff:127.0.0.1]:{port}/v1"),
            "loopback address",
        ),
        (
            "named",
            format!("http://localhost:{port}/v1"),
            "egress guard",
        ),
    ] {
        let spec = run_spec(name, &[("ceval", &data, 0)], &base_url, 2, 10);
        let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(30)).await;
        let status = cluster
            .controller
            .run_status(&submitted.run_id)
            .await
            .expect("status");
        assert_eq!(outcome_count(&status, "api_error"), 2, "{name}: {status:?}");
        let report = api_error_messages(&cluster, &submitted.run_id).await;
        assert!(report.contains(expected), "{name}: {report}");
        assert!(
            report.contains("--allow-endpoint"),
            "{name} says what to do: {report}"
        );
    }
    assert_eq!(redirecting.requests(), 0, "no request reached the server");

    // An allowed host that redirects: the redirect is not followed.
    let allowed = InProcessCluster::start_with(
        &test_store_url(dir.path(), "redirect").await,
        1,
        CoordinatorConfig::default(),
        EgressPolicy::with_loopback(),
    )
    .await;
    let spec = run_spec(
        "redirect",
        &[("ceval", &data, 0)],
        &redirecting.base_url(),
        2,
        10,
    );
    let submitted = submit_and_wait(&allowed.controller, &spec, Duration::from_secs(30)).await;
    let status = allowed
        .controller
        .run_status(&submitted.run_id)
        .await
        .expect("status");
    assert_eq!(outcome_count(&status, "api_error"), 2, "{status:?}");
    let report = api_error_messages(&allowed, &submitted.run_id).await;
    assert!(report.contains("HTTP 303"), "{report}");
    assert_eq!(
        redirecting.requests(),
        2,
        "one request per item, none to the redirect"
    );
    cluster.shutdown().await;
    allowed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_a_reply_ends_the_item_at_once_and_the_run_completes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    let questions = write_ceval(&data, &[("law", 3)]).expect("fixture");
    // One item gets an 80 MiB answer; the others are answered normally.
    let server = jianzhen_testkit::start(Script::new("答案是A").fault(
        &questions[0].marker,
        Fault::HugeBody(80 * 1024 * 1024),
        None,
    ))
    .await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "flood").await, 1).await;
    let spec = run_spec("flood", &[("ceval", &data, 0)], &server.base_url(), 2, 10);
    let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(60)).await;
    let status = cluster
        .controller
        .run_status(&submitted.run_id)
        .await
        .expect("status");
    assert_eq!(outcome_count(&status, "api_error"), 1, "{status:?}");
    assert_eq!(status.done_items, 3);
    let report = api_error_messages(&cluster, &submitted.run_id).await;
    assert!(report.contains("response too large"), "{report}");
    // Not retried: one request for the flooded item, one for each other.
    assert_eq!(server.requests(), 3);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_that_would_panic_or_exhaust_the_coordinator_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    write_ceval(&data, &[("law", 2)]).expect("fixture");
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "numbers").await, 0).await;
    let base = run_spec(
        "numbers",
        &[("ceval", &data, 0)],
        "http://127.0.0.1:9/v1",
        2,
        10,
    );
    for (change, field) in [
        (("timeout_secs = 10", "timeout_secs = inf"), "timeout_secs"),
        (
            ("timeout_secs = 10", "timeout_secs = 1e300"),
            "timeout_secs",
        ),
        (("timeout_secs = 10", "timeout_secs = nan"), "timeout_secs"),
        (
            ("max_concurrency = 2", "max_concurrency = 4000000000"),
            "max_concurrency",
        ),
        (
            ("max_attempts = 2", "max_attempts = 4000000000"),
            "max_attempts",
        ),
        (("shard_size = 10", "shard_size = 4000000000"), "shard_size"),
        (
            ("shard_size = 10", "shard_size = 10\nrepeats = 3000000"),
            "repeats",
        ),
        (
            (
                "max_attempts = 2",
                "max_attempts = 2\nrequests_per_second = inf",
            ),
            "requests_per_second",
        ),
        (
            ("max_attempts = 2", "max_attempts = 2\ntemperature = -1"),
            "temperature",
        ),
        (
            ("max_attempts = 2", "max_attempts = 2\nmax_tokens = 0"),
            "max_tokens",
        ),
        (
            (
                "max_attempts = 2",
                "max_attempts = 2\nmax_response_bytes = 1",
            ),
            "max_response_bytes",
        ),
    ] {
        let spec = base.replace(change.0, change.1);
        assert_ne!(spec, base, "the change applies: {change:?}");
        let error = cluster
            .controller
            .submit_run(&spec)
            .await
            .expect_err("refused")
            .to_string();
        assert!(error.contains(field), "{change:?}: {error}");
    }
    // The coordinator still serves.
    assert!(cluster.controller.list_runs().await.is_ok());
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reported_counts_saturate_and_empty_batches_do_not_hold_a_lease() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    write_ceval(&data, &[("law", 4)]).expect("fixture");
    let config = CoordinatorConfig {
        progress_timeout: Some(Duration::from_millis(600)),
        sweep_interval: Duration::from_millis(50),
        ..CoordinatorConfig::default()
    };
    let cluster = InProcessCluster::start_with(
        &test_store_url(dir.path(), "counts").await,
        0,
        config,
        EgressPolicy::public_only(),
    )
    .await;
    let controller = &cluster.controller;
    let spec = run_spec(
        "counts",
        &[("ceval", &data, 0)],
        "http://127.0.0.1:9/v1",
        4,
        2,
    );
    let run_id = controller.submit_run(&spec).await.expect("submit").run_id;
    controller.register_worker("hand").await;
    let lease = controller
        .lease_shard("hand")
        .await
        .expect("lease")
        .expect("pending shard");
    // A result claiming u32::MAX throttled answers: counted as at most its attempts.
    let item = &lease.items[0];
    let (stored, _) = controller
        .report_results(v1::ReportResultsRequest {
            throttle_waits: 0,
            worker_id: "hand".into(),
            run_id: run_id.clone(),
            shard_id: lease.shard_id.clone(),
            epoch: lease.epoch,
            results: vec![
                v1::ItemResult {
                    item_key: item.item_key.clone(),
                    repeat: item.repeat,
                    text: "A".into(),
                    finish_reason: "stop".into(),
                    attempts: 1,
                    throttled: u32::MAX,
                    ..Default::default()
                },
                v1::ItemResult {
                    item_key: lease.items[1].item_key.clone(),
                    repeat: lease.items[1].repeat,
                    text: "B".into(),
                    finish_reason: "stop".into(),
                    attempts: 1,
                    throttled: u32::MAX,
                    ..Default::default()
                },
            ],
        })
        .await
        .expect("report");
    assert_eq!(stored, 2);
    let status = controller.run_status(&run_id).await.expect("status");
    assert_eq!(status.budgets[0].throttled, 2, "{status:?}");
    assert!(status.budgets[0].effective_concurrency >= 1.0);
    // Empty batches (and repeats of stored results) every 100 ms: the lease still
    // expires at its progress deadline.
    let started = tokio::time::Instant::now();
    let mut refused = None;
    while started.elapsed() < Duration::from_secs(5) {
        match controller
            .report_results(v1::ReportResultsRequest {
                throttle_waits: 0,
                worker_id: "hand".into(),
                run_id: run_id.clone(),
                shard_id: lease.shard_id.clone(),
                epoch: lease.epoch,
                results: Vec::new(),
            })
            .await
        {
            Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(error) => {
                refused = Some(error.to_string());
                break;
            }
        }
    }
    let refused = refused.expect("the lease expired although empty batches kept coming");
    assert!(refused.contains("not held"), "{refused}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_password_never_reaches_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("coordinator.log");
    let output = std::process::Command::new(BINARY)
        .args([
            "coordinator",
            "--listen",
            "127.0.0.1:0",
            "--store",
            "postgres://jianzhen:S3cretStorePassw0rd@127.0.0.1:9/jianzhen",
        ])
        .env("JIANZHEN_LOG", "trace")
        .stderr(std::fs::File::create(&log).expect("log"))
        .output()
        .expect("run the coordinator");
    assert!(!output.status.success(), "no PostgreSQL listens on port 9");
    let text =
        std::fs::read_to_string(&log).expect("log") + &String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("cannot open the store"), "{text}");
    assert!(!text.contains("S3cretStorePassw0rd"), "{text}");
}
