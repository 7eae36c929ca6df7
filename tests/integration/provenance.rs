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

/// The origin's wrong option for bank item `index` (gold `gold`): one after the gold, or
/// two after it where its vendor-like persona moves the answer. `None`: it answers right.
fn origin_wrong(index: usize, gold: char, under_vendor_persona: bool) -> Option<char> {
    if index.is_multiple_of(4) {
        return None;
    }
    // The k-th wrong item; the persona moves 7 of every 12 of them (28 of 48).
    let wrong_rank = index - index / 4 - 1;
    let moved = under_vendor_persona && wrong_rank % 12 < 7;
    Some(shifted(gold, if moved { 2 } else { 1 }))
}

/// A suite too small for power gets the built-in bank; a reference re-asked under the
/// personas gives a band; a wrapper whose persona moved 28 of its 48 wrong answers is
/// "too few shared errors to tell" against the band — where the assumed 80% level would
/// have called it "consistent with independent models" (issue 17's false negative) — and
/// first-token log-probabilities give rank agreement on every bank item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_run_adds_the_bank_and_judges_a_persona_wrapper_against_the_reference_band() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    write_ceval(&data, &[("computer_network", 5), ("law", 5)]).expect("fixture");
    let bank = jianzhen_provenance::bank::bank_items().expect("bank");

    // Replies to the ten suite items (and the tokenizer texts) have no letter: only the
    // bank carries answers.
    let mut origin_script = Script::new("我不知道。");
    let mut wrapper_script = Script::new("我不知道。");
    let mut independent_script = Script::new("我不知道。");
    for (index, item) in bank.iter().enumerate() {
        let needle = item.question.as_str();
        let plain = origin_wrong(index, item.answer, false).unwrap_or(item.answer);
        let persona = origin_wrong(index, item.answer, true).unwrap_or(item.answer);
        let independent = if index.is_multiple_of(4) {
            item.answer
        } else {
            shifted(item.answer, 3)
        };
        origin_script = origin_script.rule(needle, &plain.to_string()).persona_rule(
            "星辰",
            needle,
            &persona.to_string(),
        );
        // The wrapper is the origin behind its own vendor-like persona.
        wrapper_script = wrapper_script.rule(needle, &persona.to_string());
        independent_script = independent_script.rule(needle, &independent.to_string());
    }
    let origin = jianzhen_testkit::start(origin_script).await;
    let wrapper = jianzhen_testkit::start(wrapper_script).await;
    let independent = jianzhen_testkit::start(independent_script).await;

    let spec = format!(
        "name = \"band\"\nprovenance = true\nprovenance_answers_only = true\nshard_size = 32\n[[suites]]\nname = \"ceval\"\ndata = \"{}\"\n{}reference = true\n{}{}",
        data.display(),
        endpoint_block("origin", &origin.base_url(), "Alibaba"),
        endpoint_block("wrapper", &wrapper.base_url(), "Xingchen AI"),
        endpoint_block("independent", &independent.base_url(), "Baidu"),
    );
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "band").await, 2).await;
    let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(90)).await;
    // 3 × (10 suite items + 69 tokenizer texts + 64 bank items) + 2 personas × 64.
    assert_eq!(submitted.total_items, 3 * (10 + 69 + 64) + 2 * 64);

    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    let manifest: serde_json::Value =
        serde_json::from_slice(report_file(&files, "manifest.json")).expect("manifest.json");
    let answers = &manifest["provenance"]["answers"];
    assert_eq!(answers["run_items"], 10);
    assert_eq!(answers["items_for_power"], 57);
    assert_eq!(answers["bank_items"], 64);
    assert_eq!(answers["references"], serde_json::json!(["origin"]));
    assert_eq!(
        answers["personas"],
        serde_json::json!(["neutral", "vendor-like"])
    );
    assert_eq!(answers["extra_requests"], 3 * 64 + 2 * 64);
    assert_eq!(manifest["provenance"]["identity_probes"], 0);
    // The bank was asked by first token, and only through log-probability requests.
    assert!(
        origin
            .counters
            .logprob_requests
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 3 * 64
    );

    let findings: serde_json::Value =
        serde_json::from_slice(report_file(&files, "provenance.json")).expect("provenance.json");
    let to_origin = reference(findings_for(&findings, "wrapper"), "origin");
    // The band: built-in = neutral (48 of 48), vendor-like moves 28 of 48 wrong answers:
    // 48 + 20 + 20 = 88 of 144 pooled, Wilson lower end 52.96%.
    let band = &to_origin["persona_band"];
    assert_eq!(band["items_both_wrong"], 144);
    assert_eq!(band["items_same_wrong_option"], 88);
    let level = band["same_model_level"]["rate"]
        .as_f64()
        .expect("band level");
    assert!((level - 0.5296).abs() < 5e-4, "{level}");
    // The wrapper: 20 of 48 (Wilson 28.9%–55.7%) reaches both the ⅓ baseline and the
    // band, so the data cannot tell; against the assumed 80% it would have read as
    // independent.
    let wrong = &to_origin["agreement"]["wrong_answers"];
    assert_eq!(wrong["items_both_wrong"], 48);
    assert_eq!(wrong["items_same_wrong_option"], 20);
    assert_eq!(to_origin["agreement"]["strength"], "insufficient");
    let statement = to_origin["agreement"]["statement"].as_str().expect("text");
    assert!(
        statement.contains("too few shared errors to tell (n = 48;")
            && statement.contains("53% for the same model under a persona, as measured"),
        "{statement}"
    );
    let mut without_band = jianzhen_provenance::profile::FingerprintProfile::new("o", "", "", "");
    let mut wrapper_sheet = without_band.clone();
    for (index, item) in bank.iter().enumerate() {
        let answer = |chosen: char| jianzhen_provenance::agreement::McAnswer {
            suite: "provenance-bank".into(),
            gold: item.answer,
            option_count: 4,
            chosen: Some(chosen),
        };
        let plain = origin_wrong(index, item.answer, false).unwrap_or(item.answer);
        let persona = origin_wrong(index, item.answer, true).unwrap_or(item.answer);
        without_band
            .mc_answers
            .insert(item.id.clone(), answer(plain));
        wrapper_sheet
            .mc_answers
            .insert(item.id.clone(), answer(persona));
    }
    let assumed = jianzhen_provenance::profile::compare_profiles(&wrapper_sheet, &[without_band]);
    assert!(
        assumed[0]
            .agreement
            .statement
            .contains("consistent with independent models"),
        "{}",
        assumed[0].agreement.statement
    );

    // The independent model shares none of the origin's 48 wrong answers.
    let independent_to_origin = reference(findings_for(&findings, "independent"), "origin");
    assert_eq!(
        independent_to_origin["agreement"]["wrong_answers"]["items_same_wrong_option"],
        0
    );
    assert_eq!(independent_to_origin["agreement"]["strength"], "none");

    // Ranks: every bank item is ranked; the origin's own personas give the rank band.
    let rank = &to_origin["rank"];
    assert_eq!(rank["agreement"]["items_ranked"], 64);
    assert_eq!(rank["band_measured"], true);
    let independent_rank = &independent_to_origin["rank"];
    assert_eq!(independent_rank["agreement"]["items_ranked"], 64);
    let tau = |rank: &serde_json::Value| rank["agreement"]["mean_tau"].as_f64().expect("τ");
    assert!(
        tau(rank) > tau(independent_rank),
        "{rank} {independent_rank}"
    );

    let markdown = report_text(&files, "report.md");
    assert!(markdown.contains("Persona band: origin re-asked under 3 personas"));
    assert!(markdown.contains("First-token rank agreement with origin"));
    cluster.shutdown().await;
}
