//! The contamination audit with scripted endpoints of known truth: a "memoriser" that
//! answers every item by the gold letter of its original order, recites any hidden
//! option and, given the dataset's name, any question's second half, and finds the
//! benchmark's questions unsurprising (echoed prompt log-probabilities near 0); and a
//! "reasoner" that answers by the option's text (whatever its letter), knows nothing of
//! the items' wording and scores their tokens as ordinary text. The control items are
//! ordinary text to both. Through the whole pipeline (planner, workers, store, report),
//! the memoriser must be flagged with strong evidence on every test (option order,
//! masked option, guided completion, Min-K%) and the reasoner on none; the benchmark's
//! own scores must not include the audit's items; and `jianzhen run --contamination`
//! must state the cost before it runs, and, against an endpoint that ignores `echo` (as
//! llama.cpp's server does), say Min-K% did not run without sending its requests.

use std::time::Duration;

use jianzhen_suites::contamination::{MASK, split_question};
use jianzhen_testkit::Script;
use jianzhen_testkit::fixtures::{FixtureQuestion, write_ceval};
use jianzhen_testkit::stores::test_store_url;

use crate::common::*;

const LETTERS: [char; 4] = ['A', 'B', 'C', 'D'];

/// The question text testkit's `write_ceval` writes for a marker `CE-{subject}-{index}`.
fn question_text(question: &FixtureQuestion) -> String {
    let index: usize = question
        .marker
        .rsplit('-')
        .next()
        .and_then(|index| index.parse().ok())
        .expect("the marker ends with the item's index");
    let marker = &question.marker;
    if index.is_multiple_of(3) {
        format!("测试题 {marker}：下列说法中哪一项是正确的？\n请仔细阅读后作答。")
    } else {
        format!("测试题 {marker}：下列说法中哪一项是正确的？")
    }
}

/// The memoriser: for each item, a rule for the guided completion (the dataset named: it
/// recites the question's second half; asked without the name it does not), one for the
/// masked prompt (keyed on the option next to the mask, so whichever wrong option is
/// hidden it writes that one), then one for the question (the original gold letter,
/// whatever the order).
fn memoriser(questions: &[FixtureQuestion]) -> Script {
    let texts: Vec<String> = questions.iter().map(question_text).collect();
    let mut script = Script::new("答案是A").with_prompt_familiarity(&texts);
    for question in questions {
        let (first_half, second_half) = split_question(&question_text(question));
        script = script.rule(&format!("（val）题目前半部分：{first_half}"), &second_half);
    }
    for question in questions {
        for (index, option) in question.options.iter().enumerate() {
            let needle = if index == 0 {
                format!("A. {MASK}\nB. {}\n", question.options[1])
            } else {
                format!(
                    "{}. {}\n{}. {MASK}\n",
                    LETTERS[index - 1],
                    question.options[index - 1],
                    LETTERS[index]
                )
            };
            script = script.rule(&needle, option);
        }
    }
    for question in questions {
        script = script.rule(
            &format!("{}：", question.marker),
            &format!("答案是{}", question.answer),
        );
    }
    script
}

/// The reasoner: finds the gold option's text in the prompt and names its letter there;
/// asked for an option or a question's end, it does not know.
fn reasoner(questions: &[FixtureQuestion]) -> Script {
    let mut script = Script::new("我不知道。").with_prompt_familiarity(&[]);
    for question in questions {
        let gold = &question.options[(question.answer as u8 - b'A') as usize];
        for letter in LETTERS {
            script = script.rule(&format!("{letter}. {gold}\n"), &format!("答案是{letter}"));
        }
    }
    script
}

fn endpoint<'a>(findings: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    findings["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .find(|entry| entry["endpoint"] == name)
        .unwrap_or_else(|| panic!("no findings for {name}: {findings}"))
}

fn result<'a>(endpoint: &'a serde_json::Value, subject: &str) -> &'a serde_json::Value {
    endpoint["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|entry| entry["suite"] == "ceval" && entry["subject"] == subject)
        .unwrap_or_else(|| panic!("no {subject} results: {endpoint}"))
}

fn close(value: &serde_json::Value, expected: f64) -> bool {
    value
        .as_f64()
        .is_some_and(|value| (value - expected).abs() <= expected.abs() * 1e-9 + 1e-15)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memoriser_is_flagged_strongly_on_every_test_and_the_reasoner_on_none() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    let questions = write_ceval(&data, &[("law", 12), ("logic", 12)]).expect("fixture");
    let memoriser_server = jianzhen_testkit::start(memoriser(&questions)).await;
    let reasoner_server = jianzhen_testkit::start(reasoner(&questions)).await;
    let block = |name: &str, url: &str| {
        format!(
            "[[endpoints]]\nname = \"{name}\"\nbase_url = \"{url}\"\nmodel = \"{name}\"\nmax_concurrency = 4\n"
        )
    };
    let spec = format!(
        "name = \"contamination\"\ncontamination = true\ncontamination_sample = 10\nshard_size = 20\n[[suites]]\nname = \"ceval\"\ndata = \"{}\"\n{}{}",
        data.display(),
        block("memoriser", &memoriser_server.base_url()),
        block("reasoner", &reasoner_server.base_url()),
    );
    let cluster =
        InProcessCluster::start(&test_store_url(dir.path(), "contamination").await, 2).await;
    let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(90)).await;
    // 24 items, 20 sampled (10 per subject) asked five ways, 44 control items asked two
    // ways (masked, echoed); per endpoint.
    assert_eq!(submitted.total_items, 2 * (24 + 5 * 20 + 2 * 44));

    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    let findings: serde_json::Value =
        serde_json::from_slice(report_file(&files, "contamination.json")).expect("json");

    let memoriser = endpoint(&findings, "memoriser");
    let all = result(memoriser, "(all)");
    println!(
        "memoriser: order {}\nmemoriser: masked {}\nmemoriser: completion {}\nmemoriser: min_k {}",
        all["order"], all["masked"], all["completion"], all["min_k"]
    );
    assert_eq!(memoriser["order_strength"], "strong");
    assert_eq!(memoriser["masked_strength"], "strong");
    assert_eq!(memoriser["completion_strength"], "strong");
    assert_eq!(memoriser["min_k_strength"], "strong");
    let min_k = &all["min_k"];
    assert_eq!(min_k["k_percent"], 20);
    assert_eq!(
        (min_k["items"].as_u64(), min_k["control_items"].as_u64()),
        (Some(20), Some(44))
    );
    // Every question and control item has eight or more tokens, so Min-K% (K = 20) is the
    // scripted -0.01 · 4 of a memorised text and -4 of an ordinary one.
    assert!(close(&min_k["median"], -0.04), "{min_k}");
    assert!(close(&min_k["control_median"], -4.0), "{min_k}");
    // Mann–Whitney by hand: U = 20 · 44 = 880 (AUC 1); tie groups of 20 and 44 in
    // N = 64: σ² = 880/12 · (65 − 93 120 / 4032) = 3073.016; z = 439.5 / σ = 7.928.
    assert_eq!(min_k["mann_whitney"]["u"], 880.0);
    assert_eq!(min_k["mann_whitney"]["auc"], 1.0);
    assert!(
        (min_k["mann_whitney"]["z"].as_f64().expect("z") - 7.928_234).abs() < 1e-5,
        "{min_k}"
    );
    assert!(
        min_k["mann_whitney"]["p"].as_f64().expect("p") < 1e-12,
        "{min_k}"
    );
    assert!(memoriser.get("min_k_not_run").is_none(), "{memoriser}");
    let completion = &all["completion"];
    assert_eq!(completion["pairs"], 20);
    assert_eq!(completion["mean_overlap_guided"], 1.0);
    assert_eq!(completion["guided_higher"], 20);
    assert_eq!(completion["guided_near_exact"], 20);
    // Sign test, 20 of 20 closer with the dataset named: 0.5^20.
    assert!(
        close(&completion["sign_test_p"], 1.0 / 1_048_576.0),
        "{completion}"
    );
    let order = &all["order"];
    assert_eq!(order["pairs"], 20);
    assert_eq!(order["accuracy_original"], 1.0);
    assert_eq!(order["accuracy_permuted"], 0.0);
    assert_eq!(order["old_letter_share"], 1.0);
    assert_eq!(order["right_original_only"], 20);
    assert_eq!(order["right_permuted_only"], 0);
    // McNemar, b = 20, c = 0: 2 · 0.5^20.
    assert!(close(&order["mcnemar_p"], 2.0 / 1_048_576.0), "{order}");
    for subject in ["law", "logic"] {
        let figures = result(memoriser, subject);
        // b = 10, c = 0 in each subject: 2 · 0.5^10 = 0.001953125, still strong.
        assert!(close(&figures["order"]["mcnemar_p"], 0.001_953_125));
        assert_eq!(figures["order"]["strength"], "strong");
        assert_eq!(figures["masked"]["strength"], "strong");
        // 10 against 44: z = 219.5 / 30.219 = 7.264, still strong.
        assert_eq!(figures["min_k"]["strength"], "strong");
    }
    let masked = &all["masked"];
    assert_eq!(masked["benchmark"]["asked"], 20);
    assert_eq!(masked["benchmark"]["exact"], 20);
    assert_eq!(masked["control"]["asked"], 44);
    assert_eq!(masked["control"]["exact"], 0);
    // Fisher, 20 of 20 against 0 of 44: 1 / C(64, 20).
    assert!(
        close(&masked["fisher_p"], 1.0 / 19_619_725_782_651_120.0),
        "{masked}"
    );
    assert_eq!(memoriser["flipped"].as_array().map(Vec::len), Some(20));
    assert_eq!(memoriser["flipped"][0]["followed_old_letter"], true);

    let reasoner = endpoint(&findings, "reasoner");
    let all = result(reasoner, "(all)");
    println!(
        "reasoner: order {}\nreasoner: masked {}\nreasoner: completion {}\nreasoner: min_k {}",
        all["order"], all["masked"], all["completion"], all["min_k"]
    );
    assert_eq!(reasoner["order_strength"], "none");
    assert_eq!(reasoner["masked_strength"], "none");
    assert_eq!(reasoner["completion_strength"], "none");
    assert_eq!(reasoner["min_k_strength"], "none");
    // Ordinary text on both sides: every pair tied, AUC ½, nothing to rank (p = 1).
    assert!(close(&all["min_k"]["median"], -4.0), "{}", all["min_k"]);
    assert_eq!(all["min_k"]["mann_whitney"]["auc"], 0.5);
    assert_eq!(all["min_k"]["mann_whitney"]["p"], 1.0);
    assert_eq!(all["completion"]["pairs"], 20);
    assert_eq!(all["completion"]["guided_higher"], 0);
    assert_eq!(all["completion"]["sign_test_p"], 1.0);
    assert_eq!(all["order"]["accuracy_original"], 1.0);
    assert_eq!(all["order"]["accuracy_permuted"], 1.0);
    assert_eq!(all["order"]["old_letter_share"], 0.0);
    assert_eq!(all["order"]["mcnemar_p"], 1.0);
    assert_eq!(all["masked"]["benchmark"]["exact"], 0);
    assert_eq!(all["masked"]["benchmark"]["near"], 0);
    assert_eq!(all["masked"]["fisher_p"], 1.0);
    assert_eq!(reasoner["flipped"].as_array().map(Vec::len), Some(0));

    // The benchmark's scores are the suite's own items only.
    let scores = report_text(&files, "scores.csv");
    assert!(!scores.contains("contamination"), "{scores}");
    let markdown = report_text(&files, "report.md");
    assert!(markdown.contains("## Contamination audit"), "{markdown}");
    assert!(markdown.contains(
        "Evidence: option order **strong**, masked option **strong**, guided completion **strong**, Min-K% **strong**."
    ));
    assert!(markdown.contains(
        "Evidence: option order **none**, masked option **none**, guided completion **none**, Min-K% **none**."
    ));
    assert!(
        markdown.contains("#### Min-K% prompt log-probability (Shi et al. 2023)"),
        "{markdown}"
    );
    assert!(markdown.contains("Does not show:"));
    let html = report_text(&files, "report.html");
    assert!(html.contains("id=\"contamination\""));
    assert!(html.contains("aria-label=\"contamination audit for memoriser\""));
    let manifest = report_text(&files, "manifest.json");
    assert!(manifest.contains("\"order_rule\""), "{manifest}");
    assert!(manifest.contains("\"min_k_percent\": 20"), "{manifest}");

    // Rescoring reads every stored reply again through grade(): nothing changes, and
    // the audit reads the same.
    let (checked, changed) = cluster
        .controller
        .rescore_run(&submitted.run_id)
        .await
        .expect("rescore");
    assert_eq!(
        checked, submitted.total_items,
        "rescore reads the audit's items too"
    );
    assert_eq!(changed, 0, "rescoring changed stored scores");
    let again = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report after rescore");
    assert_eq!(
        report_file(&again, "contamination.json"),
        report_file(&files, "contamination.json")
    );

    // A resubmission plans the same items: nothing is asked again.
    let again = cluster
        .controller
        .submit_run(&spec)
        .await
        .expect("resubmit");
    assert!(again.resumed);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jianzhen_run_states_the_audit_cost_before_it_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    let questions = write_ceval(&data, &[("law", 4)]).expect("fixture");
    // An endpoint that ignores `echo`, as llama.cpp's server does.
    let server = jianzhen_testkit::start(reasoner(&questions).ignoring_echo()).await;
    let out = dir.path().join("out");
    let output = run_cli(vec![
        "run".into(),
        "--suite".into(),
        "ceval".into(),
        "--data".into(),
        data.display().to_string(),
        "--endpoint".into(),
        server.base_url(),
        "--model".into(),
        "reasoner".into(),
        "--contamination".into(),
        "--contamination-sample".into(),
        "2".into(),
        "--no-progress".into(),
        "--out".into(),
        out.display().to_string(),
    ])
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let cost = stderr
        .find("contamination audit: 5 extra requests per sampled multiple-choice item (at most 2 per subject")
        .expect("the cost is stated");
    let started = stderr.find("run run-").expect("the run's line");
    assert!(cost < started, "the cost comes before the run: {stderr}");
    // Chat requests: 4 items + 2 sampled × 4 + 44 masked control items. The Min-K% items
    // (2 + 44) are not sent: each shard's echo check (the counting sequence "1, 2, …")
    // found no prompt log-probabilities, and no other completions request went out.
    let checks = server.completions_starting_with("1,");
    assert!(checks >= 1, "the echo was checked");
    assert_eq!(server.completions_starting_with(""), checks);
    assert_eq!(server.requests(), (4 + 2 * 4 + 44 + checks) as u64);
    let json = std::fs::read_to_string(out.join("contamination.json")).expect("contamination.json");
    assert!(json.contains("\"order_strength\": \"none\""), "{json}");
    assert!(json.contains("\"min_k_not_run\""), "{json}");
    let report = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(report.contains("## Contamination audit"));
    assert!(report.contains("Min-K% **not run**"), "{report}");
    assert!(
        report.contains("Not run: no prompt log-probabilities came back for the"),
        "{report}"
    );
    assert!(!report.contains("| AUC |"), "no Min-K% figure: {report}");
}
