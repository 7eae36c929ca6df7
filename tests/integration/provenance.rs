//! The provenance audit with scripted endpoints: an "origin" model, a "wrapper" that
//! forwards every request to it and rewrites only its identity answer, and an
//! "independent" model. The audit must place the wrapper next to its source (shared wrong
//! answers, the same tokenizer counts) and the independent model apart — within one run,
//! and again in a later run through a saved fingerprint profile used as a reference.

use std::sync::Arc;
use std::time::Duration;

use jianzhen_provenance::tokenizer::LocalTokenizer;
use jianzhen_testkit::fixtures::write_ceval;
use jianzhen_testkit::stores::test_store_url;
use jianzhen_testkit::{Script, TokenCounter};

use crate::common::*;

const LETTERS: [char; 4] = ['A', 'B', 'C', 'D'];

fn counter(tokenizer: LocalTokenizer) -> TokenCounter {
    TokenCounter(Arc::new(move |text: &str| {
        usize::try_from(tokenizer.count_tokens(text).expect("tokenizer loads"))
            .unwrap_or(usize::MAX)
    }))
}

fn shifted(letter: char, by: usize) -> char {
    let index = LETTERS
        .iter()
        .position(|candidate| *candidate == letter)
        .unwrap_or(0);
    LETTERS[(index + by) % 4]
}

fn findings_for<'a>(findings: &'a serde_json::Value, endpoint: &str) -> &'a serde_json::Value {
    findings
        .as_array()
        .expect("findings list")
        .iter()
        .find(|finding| finding["endpoint_name"] == endpoint)
        .unwrap_or_else(|| panic!("no findings for {endpoint}: {findings}"))
}

fn reference<'a>(finding: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    finding["references"]
        .as_array()
        .expect("references")
        .iter()
        .find(|reference| reference["reference_endpoint"] == name)
        .unwrap_or_else(|| panic!("no reference {name} in {finding}"))
}

fn endpoint_block(name: &str, base_url: &str, vendor: &str) -> String {
    format!(
        "[[endpoints]]\nname = \"{name}\"\nbase_url = \"{base_url}\"\nmodel = \"{name}-model\"\nvendor = \"{vendor}\"\nmax_concurrency = 4\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_places_a_wrapper_next_to_its_source_and_an_independent_model_apart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    let questions = write_ceval(
        &data,
        &[("computer_network", 30), ("law", 30), ("logic", 30)],
    )
    .expect("fixture");

    // The origin answers half right; its wrong answers follow one pattern, the independent
    // model's another, so they never pick the same wrong option.
    let mut origin_script = Script::new("我是通义千问，由阿里云开发的大语言模型。")
        .with_token_counter(counter(LocalTokenizer::Cl100kBase), 7);
    let mut independent_script = Script::new("我是文心一言，由百度公司开发的人工智能助手。")
        .with_token_counter(counter(LocalTokenizer::O200kBase), 3);
    for (index, question) in questions.iter().enumerate() {
        let needle = format!("{}：", question.marker);
        let origin = if index % 2 == 0 {
            question.answer
        } else {
            shifted(question.answer, 1 + index % 3)
        };
        let independent = if index % 3 == 0 {
            question.answer
        } else {
            shifted(question.answer, 1 + (index + 1) % 3)
        };
        origin_script = origin_script.rule(&needle, &format!("答案是{origin}"));
        independent_script = independent_script.rule(&needle, &format!("答案：{independent}"));
    }
    let origin = jianzhen_testkit::start(origin_script).await;
    let independent = jianzhen_testkit::start(independent_script).await;
    let wrapper = jianzhen_testkit::start_proxy(
        &origin.base_url(),
        &[("通义千问", "星辰大模型"), ("阿里云", "星辰智能")],
        0,
    )
    .await;

    let spec = format!(
        "name = \"audit\"\nprovenance = true\nshard_size = 20\n[[suites]]\nname = \"ceval\"\ndata = \"{}\"\n{}{}{}",
        data.display(),
        endpoint_block("origin", &origin.base_url(), "Alibaba"),
        endpoint_block("wrapper", &wrapper.base_url(), "Xingchen AI"),
        endpoint_block("independent", &independent.base_url(), "Baidu"),
    );
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "audit").await, 2).await;
    let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(90)).await;

    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    let findings: serde_json::Value =
        serde_json::from_slice(report_file(&files, "provenance.json")).expect("provenance.json");
    let wrapper_findings = findings_for(&findings, "wrapper");
    let to_origin = reference(wrapper_findings, "origin");
    let to_independent = reference(wrapper_findings, "independent");
    assert_eq!(
        wrapper_findings["references"][0]["reference_endpoint"], "origin",
        "the nearest reference of the wrapper is its source"
    );
    assert_eq!(
        to_origin["agreement"]["wrong_answers"]["rate"], 1.0,
        "the wrapper shares every wrong answer"
    );
    assert!(
        to_origin["agreement"]["wrong_answers"]["items_both_wrong"]
            .as_u64()
            .expect("count")
            >= 30
    );
    assert_eq!(to_independent["agreement"]["wrong_answers"]["rate"], 0.0);
    assert_eq!(
        to_origin["tokenizer"]["exact_match_fraction"], 1.0,
        "the same token counts as its source"
    );

    // The tokenizer fingerprint names the real tokenizers and their template overheads.
    let best =
        |endpoint: &str| findings_for(&findings, endpoint)["tokenizer"]["matches"][0].clone();
    let wrapper_best = best("wrapper");
    assert_eq!(wrapper_best["exact_match_fraction"], 1.0);
    let origin_tokenizer = findings_for(&findings, "origin")["tokenizer"]["matches"]
        .as_array()
        .expect("matches")
        .iter()
        .find(|candidate| {
            candidate["candidate_name"]
                .as_str()
                .is_some_and(|name| name.contains("cl100k"))
        })
        .cloned()
        .expect("cl100k candidate");
    assert_eq!(origin_tokenizer["exact_match_fraction"], 1.0);
    assert_eq!(origin_tokenizer["estimated_overhead"], 7);
    let independent_best = best("independent");
    assert!(
        independent_best["candidate_name"]
            .as_str()
            .is_some_and(|name| name.contains("o200k")),
        "{independent_best}"
    );
    assert_eq!(independent_best["estimated_overhead"], 3);
    assert_eq!(independent_best["exact_match_fraction"], 1.0);

    // Identity: the origin and the independent model claim their declared makers; the
    // wrapper's rewritten answers claim no known maker, so identity alone cannot tell.
    let identity = |endpoint: &str| findings_for(&findings, endpoint)["identity"].clone();
    assert_eq!(
        identity("origin")["contradictions"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    assert_eq!(
        identity("independent")["contradictions"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );

    // The report says it in words.
    let markdown = report_text(&files, "report.md");
    assert!(markdown.contains("## Provenance audit"), "{markdown}");
    assert!(markdown.contains("Provenance: wrapper"), "{markdown}");
    let html = report_text(&files, "report.html");
    assert!(html.contains("id=\"provenance\""));

    // The origin's evidence saved as a profile (through the CLI) and used as a reference by
    // a later run that audits the wrapper alone.
    let profile_path = dir.path().join("origin.json");
    let exported = run_cli(vec![
        "fingerprint".into(),
        submitted.run_id.clone(),
        "--endpoint".into(),
        "origin".into(),
        "--coordinator".into(),
        cluster.url.clone(),
        "--out".into(),
        profile_path.display().to_string(),
    ])
    .await;
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let profile =
        jianzhen_provenance::profile::load_profile(&profile_path).expect("the saved profile loads");
    assert_eq!(profile.endpoint_name, "origin");
    assert_eq!(profile.mc_answers.len(), 90);
    assert!(profile.tokenizer_counts.len() >= 60 && profile.identity_answers.len() >= 40);

    let later = format!(
        "name = \"audit-later\"\nprovenance = true\nshard_size = 20\n[[suites]]\nname = \"ceval\"\ndata = \"{}\"\n{}",
        data.display(),
        endpoint_block("new-vendor", &wrapper.base_url(), "Xingchen AI"),
    );
    let later_run = submit_and_wait(&cluster.controller, &later, Duration::from_secs(90)).await;
    let reference_json = std::fs::read_to_string(&profile_path).expect("profile text");
    let files = cluster
        .controller
        .render_report_compared(&later_run.run_id, None, &[reference_json])
        .await
        .expect("report with a reference");
    let findings: serde_json::Value =
        serde_json::from_slice(report_file(&files, "provenance.json")).expect("provenance.json");
    let new_vendor = findings_for(&findings, "new-vendor");
    assert_eq!(new_vendor["references"][0]["reference_endpoint"], "origin");
    assert_eq!(
        reference(new_vendor, "origin")["agreement"]["wrong_answers"]["rate"],
        1.0
    );
    cluster.shutdown().await;
}
