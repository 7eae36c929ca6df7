//! Broken records of published files are left out visibly: a run over fixtures with one
//! broken record of each kind completes with exactly the valid items, and `status`, the
//! manifest, `report.md`, `report.html` and `suites check` name every left-out record
//! with its reason; `--strict` (`strict = true`) refuses the data with the same reason.

use std::path::Path;
use std::time::Duration;

use jianzhen_testkit::Script;
use jianzhen_testkit::stores::test_store_url;

use crate::common::*;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent folder")).expect("mkdir");
    std::fs::write(path, text).expect("write fixture");
}

/// AGIEval with an empty label list and a label `。` (as the published `data/v1` files
/// have), C-Eval with an empty option and a two-letter answer.
fn write_fixtures(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let agieval = root.join("agieval");
    write(
        &agieval.join("jec-qa-kd.jsonl"),
        concat!(
            "{\"passage\": null, \"question\": \"法律甲？\", \"options\": [\"(A)一\", \"(B)二\", \"(C)三\", \"(D)四\"], \"label\": [\"B\"], \"answer\": null}\n",
            "{\"passage\": null, \"question\": \"法律乙？\", \"options\": [\"(A)一\", \"(B)二\", \"(C)三\", \"(D)四\"], \"label\": [], \"answer\": null}\n",
        ),
    );
    write(
        &agieval.join("jec-qa-ca.jsonl"),
        concat!(
            "{\"passage\": \"案情。\", \"question\": \"案例甲？\", \"options\": [\"(A)一\", \"(B)二\", \"(C)三\", \"(D)四\"], \"label\": \"。\", \"answer\": null}\n",
            "{\"passage\": \"案情。\", \"question\": \"案例乙？\", \"options\": [\"(A)一\", \"(B)二\", \"(C)三\", \"(D)四\"], \"label\": \"D\", \"answer\": null}\n",
        ),
    );
    let ceval = root.join("ceval");
    write(
        &ceval.join("val/law_val.csv"),
        "id,question,A,B,C,D,answer\r\n0,法学甲,一,二,三,四,A\r\n1,法学乙,一,,三,四,B\r\n2,法学丙,一,二,三,四,AB\r\n3,法学丁,一,二,三,四,C\r\n",
    );
    (agieval, ceval)
}

fn spec(agieval: &Path, ceval: &Path, base_url: &str, strict: bool) -> String {
    let strict = if strict { "strict = true\n" } else { "" };
    format!(
        "name = \"left-out\"\n[[suites]]\nname = \"agieval\"\ndata = \"{}\"\n{strict}[[suites]]\nname = \"ceval\"\ndata = \"{}\"\n{strict}[[endpoints]]\nname = \"scripted\"\nbase_url = \"{base_url}\"\nmodel = \"scripted\"\ntimeout_secs = 10\n",
        agieval.display(),
        ceval.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_records_are_left_out_and_named_in_status_manifest_and_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (agieval, ceval) = write_fixtures(&dir.path().join("data"));
    let server = jianzhen_testkit::start(Script::new("答案是B")).await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "store").await, 1).await;

    let strict = cluster
        .controller
        .submit_run(&spec(&agieval, &ceval, &server.base_url(), true))
        .await
        .expect_err("strict refuses the broken records");
    let message = strict.to_string();
    assert!(
        message.contains(
            "jec-qa-kd.jsonl:2: `label` is an empty list: the record names no answer; fix or remove this record"
        ),
        "{message}"
    );

    let text = spec(&agieval, &ceval, &server.base_url(), false);
    let submitted = cluster.controller.submit_run(&text).await.expect("submit");
    // 1 + 1 AGIEval, 2 C-Eval: exactly the valid records.
    assert_eq!(submitted.total_items, 4);
    wait_for_run(
        &cluster.controller,
        &submitted.run_id,
        Duration::from_secs(60),
    )
    .await;
    // The same files leave out the same records: the same run.
    let again = cluster.controller.submit_run(&text).await.expect("again");
    assert_eq!(again.run_id, submitted.run_id);
    assert!(again.resumed);

    let status = cluster
        .controller
        .run_status(&submitted.run_id)
        .await
        .expect("status");
    let counts: Vec<(&str, &str, &str, u64)> = status
        .left_out
        .iter()
        .map(|count| {
            (
                count.suite.as_str(),
                count.file.as_str(),
                count.subject.as_str(),
                count.records,
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("agieval", "jec-qa-ca.jsonl", "jec-qa-ca", 1),
            ("agieval", "jec-qa-kd.jsonl", "jec-qa-kd", 1),
            ("ceval", "val/law_val.csv", "law", 2),
        ]
    );

    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    let manifest: serde_json::Value =
        serde_json::from_str(&report_text(&files, "manifest.json")).expect("manifest");
    let ceval_left_out = &manifest["suites"][1]["left_out"];
    assert_eq!(
        ceval_left_out,
        &serde_json::json!([
            {"file": "val/law_val.csv", "record": "line 3", "subject": "law", "reason": "option B is empty"},
            {"file": "val/law_val.csv", "record": "line 4", "subject": "law", "reason": "answer `AB` is not a single letter A-D (multi-answer or lowercase answers are not supported)"},
        ])
    );
    assert_eq!(manifest["suites"][1]["items"], 2);

    let markdown = report_text(&files, "report.md");
    for line in [
        "## Records left out",
        "4 records of the data files cannot become valid items",
        "| ceval | val/law_val.csv | law | 2 |",
        "| agieval | jec-qa-kd.jsonl | line 2 | `label` is an empty list: the record names no answer |",
        "| ceval | val/law_val.csv | line 3 | option B is empty |",
    ] {
        assert!(markdown.contains(line), "{line} in {markdown}");
    }
    let html = report_text(&files, "report.html");
    assert!(html.contains("<div id=\"left-out\">"), "{html}");
    assert!(html.contains("Records left out"), "{html}");
    assert!(
        html.contains("`label` `。` is not an option letter")
            || html.contains("<code>label</code> <code>。</code> is not an option letter"),
        "the reason is in report.html"
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn suites_check_lists_left_out_records_and_strict_refuses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (agieval, _) = write_fixtures(dir.path());
    let output = run_cli(vec![
        "suites".into(),
        "check".into(),
        "agieval".into(),
        "--data".into(),
        agieval.display().to_string(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("2 items in 2 subjects"), "{stdout}");
    assert!(stdout.contains("records left out: 2"), "{stdout}");
    assert!(
        stdout.contains(
            "- jec-qa-kd.jsonl: line 2: `label` is an empty list: the record names no answer"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("- jec-qa-ca.jsonl: line 1: `label` `。` is not an option letter"),
        "{stdout}"
    );

    let output = run_cli(vec![
        "suites".into(),
        "check".into(),
        "agieval".into(),
        "--data".into(),
        agieval.display().to_string(),
        "--strict".into(),
    ])
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("jec-qa-kd.jsonl:2: `label` is an empty list: the record names no answer"),
        "{stderr}"
    );
}
