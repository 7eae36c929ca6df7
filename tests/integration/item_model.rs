//! The typed item model against a store written before it: a run stored by the build
//! before item kinds and outcomes were typed (tests/fixtures/store-before-typed-kinds.db,
//! made with `jianzhen run` at commit 8c3a7a3 on the project's sample suite, with
//! provenance probes, against an endpoint whose replies cover correct, wrong,
//! unextractable, truncated and refused) reads back, re-scores to the same scores and
//! renders the same score table as it did then, with every probe answer read back. A kind this build
//! does not know stops `rescore` with its name, instead of being recorded as a probe.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jianzhen_coordinator::{Controller, CoordinatorConfig};
use jianzhen_suites::outcome::Outcome;

const RUN_ID: &str = "run-de370a23a5fe";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A copy of the fixture store (opening a store may upgrade it; the fixture stays as it
/// was committed).
async fn open_copy(dir: &Path) -> std::sync::Arc<Controller> {
    let path = dir.join("old.db");
    std::fs::copy(fixture("store-before-typed-kinds.db"), &path).expect("copy the fixture store");
    Controller::open(
        &format!("sqlite:{}", path.display()),
        CoordinatorConfig::default(),
        "test",
    )
    .await
    .expect("the store written before typed kinds opens")
}

fn report_file<'a>(files: &'a [jianzhen_coordinator::report::ReportFile], name: &str) -> &'a [u8] {
    &files
        .iter()
        .find(|file| file.name == name)
        .unwrap_or_else(|| panic!("the report has {name}"))
        .content
}

#[tokio::test]
async fn a_run_stored_before_typed_kinds_rescores_and_reports_as_it_did() {
    let dir = tempfile::tempdir().expect("temp dir");
    let controller = open_copy(dir.path()).await;

    let rows = controller
        .store()
        .scored_rows(RUN_ID)
        .await
        .expect("scored rows read back");
    let mut outcomes = BTreeMap::new();
    for row in &rows {
        *outcomes.entry(row.outcome).or_insert(0u32) += 1;
    }
    let expected = BTreeMap::from([
        (Outcome::Correct, 6),
        (Outcome::Wrong, 23),
        (Outcome::Unextractable, 5),
        (Outcome::Truncated, 6),
        (Outcome::Refused, 10),
    ]);
    assert_eq!(
        outcomes, expected,
        "the stored outcomes, as the old build scored them"
    );
    let probes = controller
        .store()
        .probe_rows(RUN_ID)
        .await
        .expect("probe rows");
    assert_eq!(
        probes.len(),
        133,
        "52 identity + 12 open + 69 tokenizer probes"
    );
    assert!(
        probes
            .iter()
            .all(|probe| probe.outcome == Outcome::Recorded)
    );

    // Every stored answer graded again through the one typed `grade`: nothing changes.
    let (checked, changed) = controller.rescore_run(RUN_ID).await.expect("rescore");
    assert_eq!((checked, changed), (50, 0));

    let files = controller.render_report(RUN_ID).await.expect("report");
    assert_eq!(
        String::from_utf8_lossy(report_file(&files, "scores.csv")),
        std::fs::read_to_string(fixture("store-before-typed-kinds.scores.csv")).expect("read"),
        "scores.csv as the old build wrote it"
    );
    // The provenance audit's statements have changed since (issue #17); its evidence is
    // what the store gives back: every probe answer, read through the typed kinds, as the
    // old build stored it.
    let pool =
        sqlx::SqlitePool::connect(&format!("sqlite:{}", dir.path().join("old.db").display()))
            .await
            .expect("connect");
    let stored: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT i.kind, i.item_id, r.response_text, r.prompt_tokens FROM results r
         JOIN items i ON i.run_id = r.run_id AND i.endpoint = r.endpoint
           AND i.item_key = r.item_key AND i.repeat_index = r.repeat_index
         WHERE r.run_id = ?1 AND i.kind LIKE 'probe:%' ORDER BY i.kind, i.item_id",
    )
    .bind(RUN_ID)
    .fetch_all(&pool)
    .await
    .expect("the stored probe answers");
    pool.close().await;
    let mut read: Vec<(String, String, String, i64)> = probes
        .iter()
        .map(|probe| {
            (
                format!("probe:{}", probe.kind.as_str()),
                probe.probe_id.clone(),
                probe.response_text.clone(),
                i64::from(probe.prompt_tokens),
            )
        })
        .collect();
    read.sort();
    assert_eq!(read, stored, "every probe answer, as stored");
    let provenance: serde_json::Value =
        serde_json::from_slice(report_file(&files, "provenance.json")).expect("provenance json");
    assert_eq!(provenance[0]["identity"]["answers_total"], 52);
}

#[tokio::test]
async fn an_unknown_item_kind_stops_rescore_with_its_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let controller = open_copy(dir.path()).await;
    // A store written by another version: one item of a kind this build does not know.
    // Before kinds were typed it fell through to the probe branch and was recorded.
    let pool =
        sqlx::SqlitePool::connect(&format!("sqlite:{}", dir.path().join("old.db").display()))
            .await
            .expect("connect");
    let changed = sqlx::query(
        "UPDATE items SET kind = 'choice:from_the_future' WHERE run_id = ?1 AND item_key IN
            (SELECT item_key FROM items WHERE run_id = ?1 AND kind = 'choice' LIMIT 1)",
    )
    .bind(RUN_ID)
    .execute(&pool)
    .await
    .expect("edit a kind")
    .rows_affected();
    assert_eq!(changed, 1);
    pool.close().await;

    let error = controller
        .rescore_run(RUN_ID)
        .await
        .expect_err("an unknown kind is not scored");
    let message = error.to_string();
    assert!(
        message.contains("unknown item kind `choice:from_the_future`"),
        "names the kind: {message}"
    );
    assert!(message.contains("version"), "says what to do: {message}");
    // Nothing was re-scored or recorded instead.
    let rows = controller.store().scored_rows(RUN_ID).await;
    assert!(rows.is_err(), "the report's read stops on the same kind");
}
