//! Peer answer readings: the report sets Jianzhen's reading beside the template's
//! framework's (OpenCompass `first_capital_postprocess` for `ceval_gen_5f30c7`), a run
//! can be scored with the peer's (`extractor = "opencompass"`), and `rescore
//! --extractor` switches a finished run's reading both ways, recorded in the manifest.

use std::path::Path;
use std::time::Duration;

use jianzhen_testkit::Script;
use jianzhen_testkit::stores::test_store_url;

use crate::common::*;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent folder")).expect("mkdir");
    std::fs::write(path, text).expect("write fixture");
}

/// Replies as the issue measured them: Jianzhen reads the answer, first-capital reads
/// the first capital letter wherever it is.
fn script() -> Script {
    Script::new("答案：B")
        .rule("读题一", "DNS（域名解析系统）是正确的，答案是B")
        .rule("读题二", "My answer is A")
        .rule("读题三", "C")
}

fn spec(data: &Path, base_url: &str, extractor: Option<&str>) -> String {
    let extractor = extractor.map_or(String::new(), |name| format!("extractor = \"{name}\"\n"));
    format!(
        "name = \"reading\"\n[[suites]]\nname = \"ceval\"\ndata = \"{}\"\n{extractor}[[endpoints]]\nname = \"scripted\"\nbase_url = \"{base_url}\"\nmodel = \"scripted\"\ntimeout_secs = 10\n",
        data.display()
    )
}

async fn correct(cluster: &InProcessCluster, run_id: &str) -> u64 {
    let status = cluster.controller.run_status(run_id).await.expect("status");
    outcome_count(&status, "correct")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_read_by_jianzhen_and_by_the_template_s_framework() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    write(
        &data.join("val/computer_network_val.csv"),
        "id,question,A,B,C,D,answer\r\n0,读题一：域名解析用什么？,FTP,DNS,HTTP,SMTP,B\r\n1,读题二：选A,甲,乙,丙,丁,A\r\n2,读题三：选C,甲,乙,丙,丁,C\r\n3,读题四：选D,甲,乙,丙,丁,D\r\n",
    );
    let server = jianzhen_testkit::start(script()).await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "store").await, 1).await;

    let submitted = submit_and_wait(
        &cluster.controller,
        &spec(&data, &server.base_url(), None),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(correct(&cluster, &submitted.run_id).await, 3);
    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    let markdown = report_text(&files, "report.md");
    for line in [
        "## Answer reading: Jianzhen and the source framework",
        "| scripted | ceval | `opencompass_first_capital` | 4 | 75.0 | 25.0 | 2 |",
        "| scripted | computer_network/val/0 | B | B | D | DNS（域名解析系统）是正确的，答案是B |",
        "| scripted | computer_network/val/1 | A | A | M | My answer is A |",
    ] {
        assert!(markdown.contains(line), "{line} in {markdown}");
    }
    assert!(
        report_text(&files, "report.html").contains("<div id=\"answer-reading\">"),
        "report.html has the section"
    );

    // Re-read the stored replies as OpenCompass does, then as Jianzhen does again.
    let (checked, changed) = cluster
        .controller
        .rescore_run_with(&submitted.run_id, Some("opencompass"))
        .await
        .expect("rescore");
    assert_eq!((checked, changed), (4, 2));
    assert_eq!(correct(&cluster, &submitted.run_id).await, 1);
    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    let manifest: serde_json::Value =
        serde_json::from_str(&report_text(&files, "manifest.json")).expect("manifest");
    assert_eq!(
        manifest["suites"][0]["answer_reading"],
        "opencompass_first_capital"
    );
    let (_, changed) = cluster
        .controller
        .rescore_run_with(&submitted.run_id, Some("jianzhen"))
        .await
        .expect("rescore");
    assert_eq!(changed, 2);
    assert_eq!(correct(&cluster, &submitted.run_id).await, 3);
    let error = cluster
        .controller
        .rescore_run_with(&submitted.run_id, Some("first_letter"))
        .await
        .expect_err("unknown extractor");
    assert!(
        error
            .to_string()
            .contains("unknown extractor `first_letter`"),
        "{error}"
    );

    // A run scored with the peer reading from the start (the replies come from the cache).
    let peer = submit_and_wait(
        &cluster.controller,
        &spec(&data, &server.base_url(), Some("opencompass")),
        Duration::from_secs(60),
    )
    .await;
    assert_ne!(peer.run_id, submitted.run_id);
    assert_eq!(correct(&cluster, &peer.run_id).await, 1);
    let files = cluster
        .controller
        .render_report(&peer.run_id)
        .await
        .expect("report");
    let manifest: serde_json::Value =
        serde_json::from_str(&report_text(&files, "manifest.json")).expect("manifest");
    assert_eq!(
        manifest["suites"][0]["answer_reading"],
        "opencompass_first_capital"
    );
    // A template without an OpenCompass text reading is refused with the names known.
    let error = cluster
        .controller
        .submit_run(
            &spec(&data, &server.base_url(), Some("opencompass")).replace(
                "[[endpoints]]",
                "template = \"lmeval_ceval_valid\"\n[[endpoints]]",
            ),
        )
        .await
        .expect_err("no OpenCompass reading");
    assert!(
        error
            .to_string()
            .contains("has no OpenCompass text post-processor"),
        "{error}"
    );

    // A suite spec names its reading too (a run spec's `extractor` would override it).
    let spec_path = dir.path().join("ceval-like.toml");
    write(
        &spec_path,
        &jianzhen_suites::spec::CEVAL_SPEC
            .replacen(
                "name = \"ceval\"",
                "name = \"ceval-like\"\nextractor = \"opencompass\"",
                1,
            )
            .replace("count = 5", "count = 0"),
    );
    let from_spec = submit_and_wait(
        &cluster.controller,
        &format!(
            "name = \"reading-spec\"\n[[suites]]\nname = \"ceval-like\"\nspec = \"{}\"\ndata = \"{}\"\n[[endpoints]]\nname = \"scripted\"\nbase_url = \"{}\"\nmodel = \"scripted\"\ntimeout_secs = 10\n",
            spec_path.display(),
            data.display(),
            server.base_url()
        ),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(correct(&cluster, &from_spec.run_id).await, 1);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agieval_is_read_subset_by_subset_as_opencompass_configures_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("agieval");
    write(
        &data.join("logiqa-zh.jsonl"),
        "{\"passage\": null, \"question\": \"逻辑甲？\", \"options\": [\"(A)一\", \"(B)二\", \"(C)三\", \"(D)四\", \"(E)五\"], \"label\": \"E\", \"answer\": null}\n",
    );
    write(
        &data.join("jec-qa-kd.jsonl"),
        "{\"passage\": null, \"question\": \"法律甲？\", \"options\": [\"(A)一\", \"(B)二\", \"(C)三\", \"(D)四\"], \"label\": \"B\", \"answer\": null}\n",
    );
    // first_option_postprocess(ABCDE) reads E; first_capital_postprocess_multi reads "AB".
    let server = jianzhen_testkit::start(
        Script::new("无法回答")
            .rule("逻辑甲", "答案是E")
            .rule("法律甲", "AB两项中只有B正确，答案是B"),
    )
    .await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "store").await, 1).await;
    let spec = format!(
        "name = \"agieval-reading\"\n[[suites]]\nname = \"agieval\"\ndata = \"{}\"\nextractor = \"opencompass\"\n[[endpoints]]\nname = \"scripted\"\nbase_url = \"{}\"\nmodel = \"scripted\"\ntimeout_secs = 10\n",
        data.display(),
        server.base_url()
    );
    let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(60)).await;
    assert_eq!(correct(&cluster, &submitted.run_id).await, 1);
    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    let manifest: serde_json::Value =
        serde_json::from_str(&report_text(&files, "manifest.json")).expect("manifest");
    assert_eq!(
        manifest["suites"][0]["answer_reading"],
        "opencompass (per subject)"
    );
    // Back to Jianzhen's reading, which reads B for the law question, and again per subset.
    let (_, changed) = cluster
        .controller
        .rescore_run_with(&submitted.run_id, Some("jianzhen"))
        .await
        .expect("rescore");
    assert_eq!(changed, 1);
    assert_eq!(correct(&cluster, &submitted.run_id).await, 2);
    let (_, changed) = cluster
        .controller
        .rescore_run_with(&submitted.run_id, Some("opencompass"))
        .await
        .expect("rescore");
    assert_eq!(changed, 1);
    assert_eq!(correct(&cluster, &submitted.run_id).await, 1);
    cluster.shutdown().await;
}
