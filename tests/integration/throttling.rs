//! Throttling never costs an item: 429 and 503 (with or without `Retry-After`) do not use
//! up `max_attempts`, an item waits them out until the run's throttle deadline, and a
//! lease whose requests are being throttled keeps its shard past the progress deadline.

use std::time::Duration;

use jianzhen_coordinator::CoordinatorConfig;
use jianzhen_testkit::fixtures::write_ceval;
use jianzhen_testkit::stores::test_store_url;
use jianzhen_testkit::{Fault, Script};

use crate::common::*;

fn spec(data: &std::path::Path, base_url: &str, extra_endpoint_keys: &str) -> String {
    format!(
        "name = \"throttling\"\nshard_size = 6\n[[suites]]\nname = \"ceval\"\ndata = \"{}\"\n[[endpoints]]\nname = \"scripted\"\nbase_url = \"{base_url}\"\nmodel = \"scripted\"\nmax_concurrency = 6\ntimeout_secs = 5\nmax_attempts = 2\n{extra_endpoint_keys}\n",
        data.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_items_wait_instead_of_failing_and_keep_their_lease() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    let questions = write_ceval(&data, &[("law", 12)]).expect("fixture");
    // Every item is throttled 4 times, more than its 2 attempts: half with 429 and
    // Retry-After 1, half with 503 without it (jittered backoff). Each shard is throttled
    // for about 4 s before its first result, twice the progress deadline below.
    let mut script = Script::new("无法回答");
    for (index, question) in questions.iter().enumerate() {
        let needle = format!("{}：", question.marker);
        let fault = if index % 2 == 0 {
            Fault::Status {
                status: 429,
                retry_after_secs: Some(1),
            }
        } else {
            Fault::Status {
                status: 503,
                retry_after_secs: None,
            }
        };
        script = script
            .rule(&needle, &format!("答案是{}", question.answer))
            .fault(&needle, fault, Some(4));
    }
    let server = jianzhen_testkit::start(script).await;
    let config = CoordinatorConfig {
        progress_timeout: Some(Duration::from_secs(2)),
        ..CoordinatorConfig::default()
    };
    let cluster = InProcessCluster::start_with(
        &test_store_url(dir.path(), "store").await,
        1,
        config,
        jianzhen_worker::egress::EgressPolicy::with_loopback(),
    )
    .await;
    let submitted = submit_and_wait(
        &cluster.controller,
        &spec(&data, &server.base_url(), ""),
        Duration::from_secs(120),
    )
    .await;
    let rows = cluster
        .controller
        .store()
        .scored_rows(&submitted.run_id)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 12, "every item has exactly one result");
    for row in &rows {
        assert_eq!(
            row.outcome.as_str(),
            "correct",
            "{} ended {} ({})",
            row.item_id,
            row.outcome,
            row.error_message
        );
        assert_eq!(
            (row.attempts, row.throttled),
            (5, 4),
            "{}: 4 throttled requests and the answer",
            row.item_id
        );
    }
    // Had a lease expired while its items waited, its shard would have been leased
    // again and its items asked again: every request is accounted for.
    assert_eq!(
        server.requests(),
        12 * 5,
        "no item was asked twice: no lease expired while throttled"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_throttled_past_the_throttle_deadline_ends_in_api_error_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    let questions = write_ceval(&data, &[("law", 4)]).expect("fixture");
    let throttled = &questions[0];
    let mut script = Script::new("无法回答");
    for question in &questions {
        script = script.rule(
            &format!("{}：", question.marker),
            &format!("答案是{}", question.answer),
        );
    }
    let script = script.fault(
        &format!("{}：", throttled.marker),
        Fault::Status {
            status: 429,
            retry_after_secs: Some(1),
        },
        None,
    );
    let server = jianzhen_testkit::start(script).await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "store").await, 1).await;
    let submitted = submit_and_wait(
        &cluster.controller,
        &spec(&data, &server.base_url(), "throttle_deadline_secs = 3"),
        Duration::from_secs(60),
    )
    .await;
    let rows = cluster
        .controller
        .store()
        .scored_rows(&submitted.run_id)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 4);
    let marker_id = throttled.marker.rsplit('-').next().unwrap_or("?");
    for row in &rows {
        if row.item_id.ends_with(&format!("/{marker_id}")) {
            assert_eq!(row.outcome.as_str(), "api_error");
            assert!(
                row.error_message.contains("throttle deadline of 3s")
                    && row.error_message.contains("throttle_deadline_secs"),
                "the reason and what to do: {}",
                row.error_message
            );
            // Only throttled requests, more than max_attempts = 2: none was a failure.
            assert!(row.throttled >= 3, "{} throttled", row.throttled);
            assert_eq!(row.attempts, row.throttled);
        } else {
            assert_eq!(row.outcome.as_str(), "correct", "{}", row.item_id);
        }
    }
    cluster.shutdown().await;
}

#[test]
fn a_throttle_deadline_of_zero_or_past_a_day_is_refused() {
    let base = "name = \"t\"\n[[suites]]\nname = \"ceval\"\ndata = \"x\"\n[[endpoints]]\nname = \"e\"\nbase_url = \"http://127.0.0.1:1/v1\"\nmodel = \"m\"\n";
    for (value, expected) in [("0", "at least 1"), ("86401", "at most 86400")] {
        let text = format!("{base}throttle_deadline_secs = {value}\n");
        let error = jianzhen_coordinator::spec::RunSpec::from_toml(&text, "spec.toml")
            .expect_err("refused")
            .to_string();
        assert!(error.contains(expected), "{value}: {error}");
    }
    let text = format!("{base}throttle_deadline_secs = 600\n");
    let spec = jianzhen_coordinator::spec::RunSpec::from_toml(&text, "spec.toml").expect("valid");
    assert_eq!(spec.endpoints[0].throttle_deadline_secs, Some(600));
}
