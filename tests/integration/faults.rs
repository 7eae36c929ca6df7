//! Reliability: every fault an endpoint can produce ends in the right outcome class and
//! the run completes; throttling shrinks the endpoint's budget; `retry` re-runs only the
//! items that ended in `api_error`; the response cache spends no endpoint call twice.

use std::collections::BTreeMap;
use std::time::Duration;

use jianzhen_coordinator::Controller;
use jianzhen_proto::v1;
use jianzhen_suites::outcome::Outcome;
use jianzhen_testkit::fixtures::write_ceval;
use jianzhen_testkit::{Fault, Script};

use jianzhen_testkit::stores::test_store_url;

use crate::common::*;

fn spec_with(
    data: &std::path::Path,
    base_url: &str,
    extra_endpoint_keys: &str,
    top_level: &str,
) -> String {
    format!(
        "name = \"faults\"\nshard_size = 4\n{top_level}\n[[suites]]\nname = \"ceval\"\ndata = \"{}\"\n[[endpoints]]\nname = \"scripted\"\nbase_url = \"{base_url}\"\nmodel = \"scripted\"\nmax_concurrency = 4\n{extra_endpoint_keys}\n",
        data.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_mode_ends_in_its_outcome_class_and_the_run_completes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    let questions = write_ceval(&data, &[("computer_network", 18)]).expect("fixture");
    let once = Some(1);
    let always = None;
    let status = |status: u16, retry_after_secs: Option<u64>| Fault::Status {
        status,
        retry_after_secs,
    };
    // (fault, how many times, expected outcome, expected attempts)
    let cases: Vec<(Fault, Option<u32>, &str, u32)> = vec![
        (status(429, Some(1)), once, "correct", 2),
        (status(429, None), once, "correct", 2),
        (status(500, None), once, "correct", 2),
        (status(503, Some(1)), once, "correct", 2),
        (Fault::Hang, once, "correct", 2),
        (Fault::Reset, once, "correct", 2),
        (Fault::Garbage, once, "correct", 2),
        (Fault::TruncatedBody, once, "correct", 2),
        (status(500, None), always, "api_error", 3),
        (Fault::Garbage, always, "api_error", 3),
        (Fault::Reset, always, "api_error", 3),
        (Fault::Hang, always, "api_error", 3),
        (status(400, None), always, "api_error", 1),
        (Fault::EmptyContent, always, "unextractable", 1),
        (Fault::Moderation, always, "refused", 1),
        (Fault::ContentFilter, always, "refused", 1),
        (
            Fault::Cut("让我们逐一分析：\nA.".into()),
            always,
            "truncated",
            1,
        ),
        (status(429, Some(1)), Some(2), "correct", 3),
    ];
    assert_eq!(cases.len(), questions.len());
    let mut script = Script::new("无法回答");
    let mut expected = BTreeMap::new();
    for (question, (fault, times, outcome, attempts)) in questions.iter().zip(&cases) {
        let needle = format!("{}：", question.marker);
        script = script
            .rule(&needle, &format!("答案是{}", question.answer))
            .fault(&needle, fault.clone(), *times);
        expected.insert(
            format!(
                "{}/val/{}",
                question.subject,
                question.marker.rsplit('-').next().unwrap_or("?")
            ),
            (outcome.to_string(), *attempts, fault.clone()),
        );
    }
    let server = jianzhen_testkit::start(script).await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "store").await, 2).await;
    let spec = spec_with(
        &data,
        &server.base_url(),
        "timeout_secs = 1\nmax_attempts = 3",
        "",
    );
    let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(90)).await;

    let rows = cluster
        .controller
        .store()
        .scored_rows(&submitted.run_id)
        .await
        .expect("rows");
    assert_eq!(rows.len(), cases.len(), "every item has exactly one result");
    for row in &rows {
        let (outcome, attempts, fault) = expected
            .get(&row.item_id)
            .unwrap_or_else(|| panic!("unexpected item {}", row.item_id));
        assert_eq!(
            row.outcome.as_str(),
            outcome,
            "{} under {fault:?}",
            row.item_id
        );
        assert_eq!(
            row.attempts, *attempts,
            "attempts of {} under {fault:?}",
            row.item_id
        );
    }
    let throttled: u32 = rows.iter().map(|row| row.throttled).sum();
    // The 429s (one, one, two) and the 503: each throttled request is counted; a 503
    // without Retry-After would be throttling too (tests/integration/throttling.rs).
    assert_eq!(throttled, 1 + 1 + 1 + 2, "throttled attempts counted");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_shrinks_the_budget_and_the_run_still_completes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    write_ceval(&data, &[("law", 40)]).expect("fixture");
    // The first 12 requests, whatever they are, are told to slow down.
    let script = Script::new("A")
        .fault(
            "测试题",
            Fault::Status {
                status: 429,
                retry_after_secs: None,
            },
            Some(12),
        )
        .with_delay(Duration::from_millis(20));
    let server = jianzhen_testkit::start(script).await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "store").await, 2).await;
    let spec = spec_with(&data, &server.base_url(), "max_attempts = 6", "")
        .replace("max_concurrency = 4", "max_concurrency = 8");
    let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(60)).await;
    let status = cluster
        .controller
        .run_status(&submitted.run_id)
        .await
        .expect("status");
    let budget = &status.budgets[0];
    assert_eq!(
        budget.throttled, 12,
        "every 429 is counted once: {budget:?}"
    );
    assert!(
        budget.effective_concurrency < 8.0,
        "the budget shrank: {budget:?}"
    );
    assert_eq!(status.done_items, 40);
    assert!(
        status
            .outcomes
            .iter()
            .all(|count| count.outcome != "api_error"),
        "{:?}",
        status.outcomes
    );
    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    let report = report_text(&files, "report.md");
    assert!(report.contains("| scripted | 40 |"), "{report}");
    assert!(
        report.contains("| 12 |"),
        "throttled attempts appear in the report: {report}"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_reruns_only_the_items_that_ended_in_api_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    let questions = write_ceval(&data, &[("logic", 8)]).expect("fixture");
    let mut script = Script::new("无法回答");
    for question in &questions {
        script = script.rule(
            &format!("{}：", question.marker),
            &question.answer.to_string(),
        );
    }
    // Two items fail their first request; with one attempt allowed they end in api_error.
    for question in &questions[..2] {
        script = script.fault(
            &format!("{}：", question.marker),
            Fault::Status {
                status: 502,
                retry_after_secs: None,
            },
            Some(1),
        );
    }
    let server = jianzhen_testkit::start(script).await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "store").await, 2).await;
    let spec = spec_with(&data, &server.base_url(), "max_attempts = 1", "");
    let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(60)).await;
    let count = outcome_count;
    let status = cluster
        .controller
        .run_status(&submitted.run_id)
        .await
        .expect("status");
    assert_eq!(
        (count(&status, "correct"), count(&status, "api_error")),
        (6, 2)
    );
    assert_eq!(server.requests(), 8);
    // The report says why they failed, grouped by message.
    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    let report = report_text(&files, "report.md");
    let api_errors = report
        .split("## API errors")
        .nth(1)
        .unwrap_or_else(|| panic!("no API errors section: {report}"));
    let error_row = api_errors
        .lines()
        .find(|line| line.starts_with("| scripted |"))
        .unwrap_or_else(|| panic!("no error row: {api_errors}"));
    assert!(
        error_row.starts_with("| scripted | 2 |") && error_row.contains("502"),
        "{error_row}"
    );
    let html = report_text(&files, "report.html");
    assert!(html.contains("<h3 id=\"api-errors\">"), "{html}");

    // Through the real CLI, as a user would.
    let output = run_cli(vec![
        "retry".into(),
        submitted.run_id.clone(),
        "--coordinator".into(),
        cluster.url.clone(),
    ])
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.starts_with("2 items"), "{printed}");
    wait_for_run(
        &cluster.controller,
        &submitted.run_id,
        Duration::from_secs(60),
    )
    .await;
    let status = cluster
        .controller
        .run_status(&submitted.run_id)
        .await
        .expect("status");
    assert_eq!(
        (count(&status, "correct"), count(&status, "api_error")),
        (8, 0)
    );
    assert_eq!(
        server.requests(),
        10,
        "only the two failed items were asked again"
    );
    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    let report = report_text(&files, "report.md");
    assert!(!report.contains("## API errors"), "{report}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_response_cache_answers_identical_requests_of_later_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    write_ceval(&data, &[("law", 6), ("logic", 6)]).expect("fixture");
    let server = jianzhen_testkit::start(Script::new("答案是A")).await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "store").await, 2).await;

    let first = cluster
        .controller
        .submit_run(&spec_with(&data, &server.base_url(), "", ""))
        .await
        .expect("submit");
    wait_for_run(&cluster.controller, &first.run_id, Duration::from_secs(60)).await;
    assert_eq!(server.requests(), 12);

    // Another run (another name, so another run id) asking the same requests.
    let renamed = spec_with(&data, &server.base_url(), "", "")
        .replace("name = \"faults\"", "name = \"again\"");
    let second = cluster
        .controller
        .submit_run(&renamed)
        .await
        .expect("submit");
    assert_ne!(second.run_id, first.run_id);
    assert_eq!(second.from_cache, 12);
    let status = cluster
        .controller
        .run_status(&second.run_id)
        .await
        .expect("status");
    assert_eq!(
        status.state,
        v1::RunState::Complete as i32,
        "answered entirely from the cache"
    );
    assert_eq!(server.requests(), 12, "zero endpoint calls");
    let first_scores = cluster
        .controller
        .render_report(&first.run_id)
        .await
        .expect("report");
    let second_scores = cluster
        .controller
        .render_report(&second.run_id)
        .await
        .expect("report");
    assert_eq!(
        parse_scores(report_file(&first_scores, "scores.csv")),
        parse_scores(report_file(&second_scores, "scores.csv"))
    );

    // The two runs compared item by item through the CLI: nothing changed.
    let compare_dir = dir.path().join("compare");
    let output = run_cli(vec![
        "report".into(),
        second.run_id.clone(),
        "--compare".into(),
        first.run_id.clone(),
        "--coordinator".into(),
        cluster.url.clone(),
        "--out".into(),
        compare_dir.display().to_string(),
    ])
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let compare = std::fs::read_to_string(compare_dir.join("compare.md")).expect("compare.md");
    assert!(compare.contains("0 items changed"), "{compare}");
    assert!(
        compare.contains("| scripted | scripted | ceval | 12 |"),
        "{compare}"
    );
    assert_eq!(
        std::fs::read_to_string(compare_dir.join("compare.csv"))
            .expect("compare.csv")
            .lines()
            .count(),
        13
    );

    // `cache = false` forces fresh calls.
    let forced = renamed.replace("shard_size = 4\n", "shard_size = 4\ncache = false\n");
    let third = cluster
        .controller
        .submit_run(&forced)
        .await
        .expect("submit");
    assert_eq!(third.from_cache, 0);
    wait_for_run(&cluster.controller, &third.run_id, Duration::from_secs(60)).await;
    assert_eq!(server.requests(), 24);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requests_per_second_limit_holds_across_workers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    write_ceval(&data, &[("law", 30), ("logic", 30)]).expect("fixture");
    let server = jianzhen_testkit::start(Script::new("A")).await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "store").await, 4).await;
    let spec = spec_with(&data, &server.base_url(), "requests_per_second = 30.0", "")
        .replace("max_concurrency = 4", "max_concurrency = 6");
    submit_and_wait(&cluster.controller, &spec, Duration::from_secs(60)).await;
    assert_eq!(server.requests(), 60);
    // At 30 requests/s the 60 arrivals span at least ~2 s. Each of the 4 workers may fire
    // its very first request at once, so allow those 4 to come early.
    let floor = Duration::from_secs_f64((60.0 - 4.0) / 30.0 * 0.95);
    let span = server.counters.arrival_span();
    assert!(
        span >= floor,
        "60 requests arrived within {span:?}, faster than 30/s allows ({floor:?})"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_report_from_an_expired_lease_is_refused_and_counts_nothing() {
    use jianzhen_coordinator::CoordinatorConfig;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    write_ceval(&data, &[("law", 3)]).expect("fixture");
    let config = CoordinatorConfig {
        heartbeat_ttl: Duration::from_millis(200),
        ..CoordinatorConfig::default()
    };
    let store = test_store_url(dir.path(), "fencing").await;
    let controller = Controller::open(&store, config, "test")
        .await
        .expect("open");
    let spec = spec_with(&data, "http://127.0.0.1:9/v1", "", "");
    let submitted = controller.submit_run(&spec).await.expect("submit");

    controller.register_worker("slow").await;
    let first = controller
        .lease_shard("slow")
        .await
        .expect("lease")
        .expect("a shard");
    // The slow worker stops heartbeating; its lease expires and the shard is leased again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(controller.sweep().await.expect("sweep"), 1);
    controller.register_worker("fresh").await;
    let second = controller
        .lease_shard("fresh")
        .await
        .expect("lease")
        .expect("a shard");
    assert_eq!(second.shard_id, first.shard_id);
    assert!(second.epoch > first.epoch, "a new lease has a higher epoch");

    let result = |item: &v1::ItemRequest, text: &str| v1::ItemResult {
        item_key: item.item_key.clone(),
        repeat: item.repeat,
        text: text.to_string(),
        finish_reason: "stop".into(),
        ..v1::ItemResult::default()
    };
    let late = v1::ReportResultsRequest {
        throttle_waits: 0,
        worker_id: "slow".into(),
        run_id: submitted.run_id.clone(),
        shard_id: first.shard_id.clone(),
        epoch: first.epoch,
        results: first.items.iter().map(|item| result(item, "D")).collect(),
    };
    let refused = controller
        .report_results(late)
        .await
        .expect_err("stale epoch refused");
    assert!(refused.to_string().contains("epoch"), "{refused}");
    assert_eq!(
        tonic::Status::from(refused).code(),
        tonic::Code::FailedPrecondition
    );

    let current = v1::ReportResultsRequest {
        throttle_waits: 0,
        worker_id: "fresh".into(),
        run_id: submitted.run_id.clone(),
        shard_id: second.shard_id.clone(),
        epoch: second.epoch,
        results: second.items.iter().map(|item| result(item, "A")).collect(),
    };
    let (stored, duplicates) = controller
        .report_results(current.clone())
        .await
        .expect("current epoch accepted");
    assert_eq!((stored, duplicates), (3, 0));
    // The same report again (a retried RPC) counts nothing twice.
    let (stored, duplicates) = controller
        .report_results(current)
        .await
        .expect("retried report accepted");
    assert_eq!((stored, duplicates), (0, 3));
    let rows = controller
        .store()
        .scored_rows(&submitted.run_id)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter().all(|row| row.extracted.as_deref() == Some("A")),
        "only the current holder's answers are stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rescore_rereads_stored_answers_without_calling_the_model() {
    use jianzhen_coordinator::store::ScoreUpdate;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    let questions = write_ceval(&data, &[("law", 4)]).expect("fixture");
    let mut script = Script::new("无法回答");
    for question in &questions {
        script = script.rule(
            &format!("{}：", question.marker),
            &format!("正确答案是：{}．", question.answer),
        );
    }
    let server = jianzhen_testkit::start(script).await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "rescore").await, 2).await;
    let submitted = cluster
        .controller
        .submit_run(&spec_with(&data, &server.base_url(), "", ""))
        .await
        .expect("submit");
    wait_for_run(
        &cluster.controller,
        &submitted.run_id,
        Duration::from_secs(60),
    )
    .await;
    let rows = cluster
        .controller
        .store()
        .scored_rows(&submitted.run_id)
        .await
        .expect("rows");
    assert!(rows.iter().all(|row| row.outcome == Outcome::Correct));
    // Pretend an older extractor misread two answers.
    let store = cluster.controller.store();
    let inputs = store
        .rescore_inputs(&submitted.run_id)
        .await
        .expect("inputs");
    let stale: Vec<ScoreUpdate> = inputs
        .iter()
        .take(2)
        .map(|input| ScoreUpdate {
            endpoint: input.endpoint.clone(),
            item_key: input.item_key.clone(),
            repeat: input.repeat,
            extracted: None,
            outcome: Outcome::Unextractable,
        })
        .collect();
    store
        .update_scores(&submitted.run_id, &stale)
        .await
        .expect("stale scores");
    let requests_before = server.requests();

    let output = run_cli(vec![
        "rescore".into(),
        submitted.run_id.clone(),
        "--coordinator".into(),
        cluster.url.clone(),
    ])
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.starts_with("4 answers") && printed.contains("2 changed"),
        "{printed}"
    );
    let rows = cluster
        .controller
        .store()
        .scored_rows(&submitted.run_id)
        .await
        .expect("rows");
    assert!(
        rows.iter().all(|row| row.outcome == Outcome::Correct),
        "all answers read again"
    );
    assert_eq!(
        server.requests(),
        requests_before,
        "re-scoring calls no endpoint"
    );
    cluster.shutdown().await;
}
