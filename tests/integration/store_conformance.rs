//! One conformance suite for the store, run against every backend: SQLite in the first
//! test pass, PostgreSQL in `.ci/run`'s second (`JIANZHEN_TEST_POSTGRES_URL`), as
//! quickwit runs one `metastore_test_suite!` against each metastore. It drives the
//! `Store` API directly — plan, lease under epochs, results stored at most once, cache,
//! coverage, retry, re-scoring, and the typed reads — so a backend that differs in any of
//! them fails here, named, rather than somewhere in a run.

use std::time::Duration;

use jianzhen_coordinator::store::{ScoreUpdate, StoredResult};
use jianzhen_coordinator::{Controller, CoordinatorConfig};
use jianzhen_suites::grading::ItemKind;
use jianzhen_suites::outcome::Outcome;
use jianzhen_testkit::fixtures::write_ceval;
use jianzhen_testkit::stores::test_store_url;

fn result_for(
    run_id: &str,
    endpoint: &str,
    shard_id: &str,
    epoch: u64,
    item_key: &str,
    outcome: Outcome,
) -> StoredResult {
    StoredResult {
        run_id: run_id.to_string(),
        endpoint: endpoint.to_string(),
        item_key: item_key.to_string(),
        repeat: 0,
        shard_id: shard_id.to_string(),
        epoch,
        worker_id: "conformance".to_string(),
        response_text: "答案是A".to_string(),
        finish_reason: "stop".to_string(),
        prompt_tokens: 10,
        completion_tokens: 2,
        latency_ms: 5,
        error_class: if outcome == Outcome::ApiError {
            "ERROR_CLASS_HTTP".to_string()
        } else {
            "ERROR_CLASS_NONE".to_string()
        },
        error_message: String::new(),
        http_status: 200,
        attempts: 1,
        throttled: 0,
        attempt_log_json: "[]".to_string(),
        logprobs_json: "[]".to_string(),
        judge_text: String::new(),
        extracted: Some("A".to_string()),
        outcome,
        received_at_ms: 1,
        cache_key: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_behaves_the_same_on_every_backend() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    write_ceval(&data, &[("law", 3), ("computer_network", 2)]).expect("fixture");
    let url = test_store_url(dir.path(), "conformance").await;
    let controller = Controller::open(&url, CoordinatorConfig::default(), "test")
        .await
        .expect("open");
    let spec = format!(
        "name = \"conformance\"\nshard_size = 2\n[[suites]]\nname = \"ceval\"\ndata = \"{}\"\n[[endpoints]]\nname = \"scripted\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"scripted\"\n",
        data.display()
    );
    let submitted = controller.submit_run(&spec).await.expect("submit");
    let run_id = submitted.run_id.clone();
    let store = controller.store();

    // Plan: 5 items in 3 shards (2 + 1 for law with shard_size 2, 2 for the other).
    let coverage = store.result_coverage(&run_id).await.expect("coverage");
    assert_eq!(
        (coverage.planned, coverage.stored, coverage.missing),
        (5, 0, 5)
    );
    let pending = store.pending_shards(100).await.expect("pending");
    assert_eq!(pending.len(), 3, "{pending:?}");

    // The shard of two items (shard ids are content hashes, so their order varies).
    let mut two_item_shard = None;
    for candidate in &pending {
        let open = store
            .open_items(&run_id, &candidate.shard_id)
            .await
            .expect("open items");
        if open.len() == 2 {
            two_item_shard = Some(candidate.clone());
        }
    }
    let shard = &two_item_shard.expect("a shard of two items");

    // Leases: a claim is fenced by the epoch read with the queue, epochs only grow, and
    // a stale claim, requeue or finish changes nothing.
    let seen = shard.epoch;
    let first = store
        .claim_pending_shard(&run_id, &shard.shard_id, seen)
        .await
        .expect("claim")
        .expect("a pending shard is claimed");
    assert_eq!(first, seen + 1, "a claim takes the next epoch");
    assert_eq!(
        store
            .claim_pending_shard(&run_id, &shard.shard_id, seen)
            .await
            .expect("claim again"),
        None,
        "a leased shard cannot be claimed twice"
    );
    assert!(
        !store
            .requeue_leased_shard(&run_id, &shard.shard_id, first + 1)
            .await
            .expect("stale requeue"),
        "a requeue of another epoch changes nothing"
    );
    assert!(
        store
            .requeue_leased_shard(&run_id, &shard.shard_id, first)
            .await
            .expect("requeue"),
        "the lease's own epoch requeues it"
    );
    assert_eq!(
        store
            .claim_pending_shard(&run_id, &shard.shard_id, seen)
            .await
            .expect("stale claim"),
        None,
        "a claim from a stale queue read takes nothing"
    );
    let second = store
        .claim_pending_shard(&run_id, &shard.shard_id, first)
        .await
        .expect("claim again")
        .expect("requeued shard is claimed again");
    assert!(second > first, "epochs grow: {first} then {second}");
    assert_eq!(
        store
            .finish_leased_shard(&run_id, &shard.shard_id, first, 0)
            .await
            .expect("stale finish"),
        None,
        "an expired lease cannot finish the shard"
    );

    // The shard's open items, each with its typed scoring input.
    let open = store
        .open_items(&run_id, &shard.shard_id)
        .await
        .expect("open items");
    assert_eq!(open.len(), 2);
    assert_eq!(
        store
            .open_item_count(&run_id, &shard.shard_id)
            .await
            .expect("open item count"),
        2,
        "the count agrees with the open items"
    );
    let (endpoint, scoring) = store
        .scoring_input(&run_id, &shard.shard_id, &open[0].item_key, 0)
        .await
        .expect("scoring input")
        .expect("the item belongs to the shard");
    assert_eq!(endpoint, "scripted");
    assert_eq!(scoring.kind, ItemKind::Choice);
    assert_eq!(scoring.options.len(), 4);
    assert!(
        store
            .scoring_input(&run_id, &shard.shard_id, "not-an-item", 0)
            .await
            .expect("query")
            .is_none()
    );

    // Results are stored at most once, whatever is sent again.
    let results = vec![
        result_for(
            &run_id,
            &endpoint,
            &shard.shard_id,
            second,
            &open[0].item_key,
            Outcome::Correct,
        ),
        result_for(
            &run_id,
            &endpoint,
            &shard.shard_id,
            second,
            &open[1].item_key,
            Outcome::ApiError,
        ),
    ];
    assert_eq!(store.insert_results(&results).await.expect("insert"), 2);
    assert_eq!(
        store.insert_results(&results).await.expect("insert again"),
        0
    );
    let coverage = store.result_coverage(&run_id).await.expect("coverage");
    assert_eq!(
        (
            coverage.planned,
            coverage.stored,
            coverage.missing,
            coverage.unplanned
        ),
        (5, 2, 3, 0)
    );
    assert_eq!(
        store
            .finish_leased_shard(&run_id, &shard.shard_id, second, 2)
            .await
            .expect("finish"),
        Some(true),
        "a shard with every item answered is done by its lease's epoch"
    );

    // Counts and typed outcomes read back.
    let counts = store.run_counts(&run_id).await.expect("counts");
    assert_eq!(counts.total_items, 5);
    assert_eq!(counts.done_items, 2);
    let mut outcomes = counts.outcomes.clone();
    outcomes.sort();
    assert_eq!(
        outcomes,
        vec![(Outcome::Correct, 1), (Outcome::ApiError, 1)]
    );
    let rows = store.scored_rows(&run_id).await.expect("rows");
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .any(|row| row.outcome == Outcome::Correct && row.credit == 1.0)
    );

    // Re-scoring updates outcomes in place; `retry` sets api_error results aside and
    // queues their shard again.
    let inputs = store.rescore_inputs(&run_id).await.expect("inputs");
    assert_eq!(inputs.len(), 2);
    let correct = inputs
        .iter()
        .find(|input| input.outcome == Outcome::Correct)
        .expect("the correct one");
    store
        .update_scores(
            &run_id,
            &[ScoreUpdate {
                endpoint: correct.endpoint.clone(),
                item_key: correct.item_key.clone(),
                repeat: 0,
                extracted: None,
                outcome: Outcome::Unextractable,
            }],
        )
        .await
        .expect("update");
    let rows = store.scored_rows(&run_id).await.expect("rows");
    assert!(
        rows.iter()
            .any(|row| row.outcome == Outcome::Unextractable && row.credit == 0.0)
    );
    assert_eq!(store.retry_api_errors(&run_id).await.expect("retry"), 1);
    let coverage = store.result_coverage(&run_id).await.expect("coverage");
    assert_eq!((coverage.stored, coverage.missing), (1, 4));
    let pending = store.pending_shards(100).await.expect("pending");
    assert!(
        pending
            .iter()
            .any(|pending| pending.shard_id == shard.shard_id),
        "the retried shard is pending again"
    );

    // A resubmission resumes: same run id, nothing planned twice.
    let again = controller.submit_run(&spec).await.expect("resubmit");
    assert_eq!(again.run_id, run_id);
    assert_eq!(
        store
            .result_coverage(&run_id)
            .await
            .expect("coverage")
            .planned,
        5
    );
    let runs = store.list_runs().await.expect("runs");
    assert_eq!(runs.len(), 1);
    tokio::time::timeout(Duration::from_secs(5), store.close())
        .await
        .expect("the store closes");
}
