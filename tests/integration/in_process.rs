//! An in-process run over fixture files in both formats gives exactly the expected
//! per-subject scores; resubmitting finds all work done and calls the model no more.

use std::time::Duration;

use jianzhen_proto::v1;
use jianzhen_testkit::Script;
use jianzhen_testkit::fixtures::{write_ceval, write_cmmlu};

use jianzhen_testkit::stores::test_store_url;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_over_ceval_and_cmmlu_fixtures_scores_exactly_as_scripted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ceval_dir = dir.path().join("ceval");
    let cmmlu_dir = dir.path().join("cmmlu");
    let ceval = write_ceval(
        &ceval_dir,
        &[("computer_network", 12), ("law", 9), ("logic", 5)],
    )
    .expect("ceval fixture");
    let cmmlu = write_cmmlu(&cmmlu_dir, &[("agronomy", 10), ("chinese_history", 8)])
        .expect("cmmlu fixture");
    let mut planned = varied_replies("ceval", &ceval);
    planned.extend(varied_replies("cmmlu", &cmmlu));
    let server = jianzhen_testkit::start(script_for(&planned, Duration::ZERO)).await;

    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "store").await, 2).await;
    // C-Eval zero-shot, CMMLU five-shot from dev: both prompt paths are exercised.
    let spec = run_spec(
        "fixtures",
        &[("ceval", &ceval_dir, 0), ("cmmlu", &cmmlu_dir, 5)],
        &server.base_url(),
        3,
        4,
    );
    let submitted = cluster.controller.submit_run(&spec).await.expect("submit");
    assert!(!submitted.resumed);
    assert_eq!(submitted.total_items, planned.len() as u64);

    let run_id = submitted.run_id.clone();
    wait_for_run(&cluster.controller, &run_id, Duration::from_secs(60)).await;

    let files = cluster
        .controller
        .render_report(&run_id)
        .await
        .expect("report");
    let actual = parse_scores(report_file(&files, "scores.csv"));
    let expected = expected_counts(&planned);
    assert_eq!(
        actual, expected,
        "per-subject counts must match the script exactly"
    );

    // Categories come from the published mappings.
    let csv_text = report_text(&files, "scores.csv");
    assert!(
        csv_text.contains("ceval,computer_network,STEM,12,"),
        "{csv_text}"
    );
    assert!(csv_text.contains("ceval,law,Humanities,9,"), "{csv_text}");

    let manifest: serde_json::Value =
        serde_json::from_slice(report_file(&files, "manifest.json")).expect("manifest is JSON");
    let templates: Vec<&str> = manifest["suites"]
        .as_array()
        .expect("suites")
        .iter()
        .map(|suite| suite["template"].as_str().expect("template"))
        .collect();
    assert_eq!(templates, ["ceval_gen_5f30c7", "cmmlu_gen_c13365"]);
    assert_eq!(
        manifest["suites"][0]["files"].as_array().map(Vec::len),
        Some(3),
        "three C-Eval val files hashed"
    );
    assert_eq!(manifest["suites"][1]["shots"], 5);
    assert_eq!(manifest["report"]["answered_items"], planned.len() as u64);

    let report_md = report_text(&files, "report.md");
    assert!(
        report_md.contains("| scripted | ceval | 3 | 26 |"),
        "{report_md}"
    );

    // Every item was asked exactly as often as scripted — once, or max_attempts (2) times
    // for a server error — and stored exactly once; resubmitting calls nothing.
    let coverage = cluster
        .controller
        .store()
        .result_coverage(&run_id)
        .await
        .expect("coverage");
    let total = planned.len() as u64;
    assert_eq!(
        coverage,
        jianzhen_coordinator::store::ResultCoverage {
            planned: total,
            stored: total,
            missing: 0,
            unplanned: 0
        }
    );
    for entry in &planned {
        let expected = if matches!(entry.reply, Reply::HttpError(_)) {
            2
        } else {
            1
        };
        assert_eq!(
            server.chat_requests_containing(&entry.needle),
            expected,
            "requests for {}",
            entry.needle
        );
    }
    let requests_before = server.requests();
    let again = cluster
        .controller
        .submit_run(&spec)
        .await
        .expect("resubmit");
    assert_eq!(again.run_id, run_id);
    assert!(again.resumed);
    assert_eq!(again.already_done, planned.len() as u64);
    let status = cluster
        .controller
        .run_status(&run_id)
        .await
        .expect("status");
    assert_eq!(status.state, v1::RunState::Complete as i32);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        server.requests(),
        requests_before,
        "a finished run costs no endpoint calls"
    );

    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_concurrency_limit_holds_across_workers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ceval_dir = dir.path().join("ceval");
    let questions =
        write_ceval(&ceval_dir, &[("computer_network", 24), ("law", 24)]).expect("fixture");
    let planned = varied_replies("ceval", &questions)
        .into_iter()
        .map(|mut entry| {
            entry.reply = Reply::Text("A".into());
            entry
        })
        .collect::<Vec<_>>();
    // Answers slow enough (150 ms) that the harness's own scheduling between two requests
    // is small beside them, so the mean below measures the budget, not the machine's load.
    let server = jianzhen_testkit::start(script_for(&planned, Duration::from_millis(150))).await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "store").await, 4).await;
    let spec = run_spec(
        "budget",
        &[("ceval", &ceval_dir, 0)],
        &server.base_url(),
        3,
        4,
    );
    let submitted = cluster.controller.submit_run(&spec).await.expect("submit");
    let run_id = submitted.run_id.clone();
    wait_for_run(&cluster.controller, &run_id, Duration::from_secs(60)).await;
    assert_eq!(server.requests(), 48);
    assert!(
        server.max_in_flight() <= 3,
        "server saw {} requests at once",
        server.max_in_flight()
    );
    assert_eq!(
        server.max_in_flight(),
        3,
        "the budget is used up to its limit"
    );
    // Throughput close to the limit: on average most of the 3 slots are busy.
    eprintln!("mean requests in flight: {:.2}", server.mean_in_flight());
    assert!(
        server.mean_in_flight() >= 2.0,
        "mean in flight {:.2} of a budget of 3",
        server.mean_in_flight()
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jsonl_suite_runs_with_a_declarative_spec_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("campus");
    std::fs::create_dir_all(&data).expect("data dir");
    let record = |qid: &str, topic: &str, stem: &str, label: usize| {
        format!(
            "{{\"qid\": \"{qid}\", \"topic\": \"{topic}\", \"stem\": \"{stem}\", \"choices\": [\"A. 甲\", \"B. 乙\", \"C. 丙\"], \"label\": {label}, \"why\": \"示例\"}}\n"
        )
    };
    std::fs::write(
        data.join("dev.jsonl"),
        record("d1", "library", "示例题：图书馆几点开门？", 0)
            + &record("d2", "canteen", "示例题：食堂在哪里？", 1),
    )
    .expect("dev");
    let mut test = String::new();
    for index in 0..6 {
        let topic = if index % 2 == 0 { "library" } else { "canteen" };
        test.push_str(&record(
            &format!("t{index}"),
            topic,
            &format!("校园题{index}：下列哪项正确？"),
            index % 3,
        ));
    }
    std::fs::write(data.join("test.jsonl"), test).expect("test");
    // Right on the library questions, always "A" (right only when the label is 0) otherwise.
    let mut script = Script::new("A");
    for index in (0..6).step_by(2) {
        script = script.rule(
            &format!("校园题{index}："),
            &format!("答案是{}", ['A', 'B', 'C'][index % 3]),
        );
    }
    let server = jianzhen_testkit::start(script).await;
    let suite_spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("suites/specs/examples/campus_quiz.toml");
    let spec = format!(
        "name = \"campus\"\n[[suites]]\nname = \"campus\"\nspec = \"{}\"\ndata = \"{}\"\nshots = 1\n[[endpoints]]\nname = \"scripted\"\nbase_url = \"{}\"\nmodel = \"m\"\n",
        suite_spec.display(),
        data.display(),
        server.base_url()
    );
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "campus").await, 2).await;
    let submitted = cluster.controller.submit_run(&spec).await.expect("submit");
    assert_eq!(submitted.total_items, 6);
    let run_id = submitted.run_id.clone();
    wait_for_run(&cluster.controller, &run_id, Duration::from_secs(60)).await;
    let files = cluster
        .controller
        .render_report(&run_id)
        .await
        .expect("report");
    let scores = report_text(&files, "scores.csv");
    // canteen: items 1, 3, 5 with labels 1, 0, 2 -> only item 3 right; library: all 3 right.
    assert!(
        scores.contains("scripted,campus-quiz,canteen,Facilities|Daily life,3,1,"),
        "{scores}"
    );
    assert!(
        scores.contains("scripted,campus-quiz,library,Facilities,3,3,3.0,1.0"),
        "{scores}"
    );
    let manifest = report_text(&files, "manifest.json");
    assert!(
        manifest.contains("campus_quiz_v1"),
        "the spec's template is recorded: {manifest}"
    );
    // The prompt is the spec's own template, with the 1-shot example from dev.jsonl.
    let rows = cluster
        .controller
        .store()
        .scored_rows(&run_id)
        .await
        .expect("rows");
    assert!(
        rows[0].messages_json.contains("你是一名熟悉校园生活的助手"),
        "{}",
        rows[0].messages_json
    );
    assert!(
        rows[0].messages_json.contains("示例题"),
        "{}",
        rows[0].messages_json
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suite_spec_s_own_scoring_mode_is_the_one_that_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    let questions = write_ceval(&data, &[("computer_network", 4)]).expect("fixture");
    // The scripted letter is the likeliest option (echo) and the likeliest first token;
    // the last item's scripted letter is wrong.
    let mut script = Script::new("无法回答");
    for (index, question) in questions.iter().enumerate() {
        let wrong = if question.answer == 'A' { 'B' } else { 'A' };
        let letter = if index == 3 { wrong } else { question.answer };
        script = script.rule(&format!("{}：", question.marker), &letter.to_string());
    }
    let server = jianzhen_testkit::start(script).await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "spec-modes").await, 2).await;
    let builtin = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("suites/specs/ceval.toml"),
    )
    .expect("the built-in C-Eval spec");
    let logprob_requests = || {
        server
            .counters
            .logprob_requests
            .load(std::sync::atomic::Ordering::SeqCst)
    };
    for (mode, template, run) in [
        ("loglik_echo", "ceval_ppl_578f8d", "spec-echo"),
        ("loglik_first_token", "ceval_gen_5f30c7", "spec-first-token"),
    ] {
        // A copy of the C-Eval spec naming another suite, template and scoring mode.
        let text = builtin
            .replace("name = \"ceval\"", &format!("name = \"{run}\""))
            .replace("scoring = \"gen\"", &format!("scoring = \"{mode}\""))
            .replace(
                "builtin = \"ceval_gen_5f30c7\"",
                &format!("builtin = \"{template}\""),
            );
        let spec_path = dir.path().join(format!("{run}.toml"));
        std::fs::write(&spec_path, text).expect("spec file");
        let spec = format!(
            "name = \"{run}\"\n[[suites]]\nname = \"{run}\"\nspec = \"{}\"\ndata = \"{}\"\n[[endpoints]]\nname = \"scripted\"\nbase_url = \"{}\"\nmodel = \"m\"\n",
            spec_path.display(),
            data.display(),
            server.base_url()
        );
        let before = logprob_requests();
        let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(60)).await;
        let status = cluster
            .controller
            .run_status(&submitted.run_id)
            .await
            .expect("status");
        assert_eq!(
            [
                outcome_count(&status, "correct"),
                outcome_count(&status, "wrong")
            ],
            [3, 1],
            "{mode}"
        );
        assert!(
            logprob_requests() - before >= 4,
            "{mode}: every item asked for log-probabilities"
        );
        let files = cluster
            .controller
            .render_report(&submitted.run_id)
            .await
            .expect("report");
        let manifest: serde_json::Value =
            serde_json::from_slice(report_file(&files, "manifest.json")).expect("manifest");
        let suite = &manifest["suites"][0];
        assert_eq!(suite["template"], template);
        assert!(
            suite["scoring"]
                .as_str()
                .is_some_and(|scoring| scoring.starts_with(mode)),
            "{suite}"
        );
        // The run spec may name another mode, which the template must support.
        let error = cluster
            .controller
            .submit_run(&spec.replace(
                "spec = ",
                if mode == "loglik_echo" {
                    "scoring = \"gen\"\nspec = "
                } else {
                    "scoring = \"loglik_echo\"\nspec = "
                },
            ))
            .await
            .expect_err("a mode the template lacks");
        assert!(error.to_string().contains("supports"), "{error}");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_token_scoring_picks_the_most_likely_option_letter() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    let questions = write_ceval(&data, &[("computer_network", 8)]).expect("fixture");
    let mut script = Script::new("无法回答");
    let mut expected = [0u64; 3]; // correct, wrong, unextractable
    for (index, question) in questions.iter().enumerate() {
        let wrong = if question.answer == 'A' { 'B' } else { 'A' };
        let (reply, slot) = match index % 4 {
            0 => (question.answer.to_string(), 0),
            1 => (wrong.to_string(), 1),
            2 => ("这个问题我不回答".to_string(), 2),
            _ => (format!("答案是{}", question.answer), 0),
        };
        expected[slot] += 1;
        script = script.rule(&format!("{}：", question.marker), &reply);
    }
    let server = jianzhen_testkit::start(script).await;
    let cluster =
        InProcessCluster::start(&test_store_url(dir.path(), "first-token").await, 2).await;
    let mut spec = run_spec(
        "first-token",
        &[("ceval", &data, 0)],
        &server.base_url(),
        2,
        4,
    );
    spec = spec.replace(
        "shots = 0\n",
        "shots = 0\nscoring = \"loglik_first_token\"\n",
    );
    let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(60)).await;
    assert_eq!(
        server
            .counters
            .logprob_requests
            .load(std::sync::atomic::Ordering::SeqCst),
        8,
        "every request asked for log-probabilities"
    );
    let status = cluster
        .controller
        .run_status(&submitted.run_id)
        .await
        .expect("status");
    let count = |outcome: &str| outcome_count(&status, outcome);
    assert_eq!(
        [count("correct"), count("wrong"), count("unextractable")],
        expected
    );
    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    let manifest = report_text(&files, "manifest.json");
    assert!(
        manifest.contains("loglik_first_token"),
        "the scoring mode is in the manifest: {manifest}"
    );

    // CMMLU's OpenCompass chat template teaches `答案是: X`, so its first token is not the
    // letter: refused with the templates that work.
    let cmmlu = dir.path().join("cmmlu");
    write_cmmlu(&cmmlu, &[("agronomy", 2)]).expect("fixture");
    let spec = run_spec(
        "cmmlu-first-token",
        &[("cmmlu", &cmmlu, 0)],
        &server.base_url(),
        2,
        4,
    )
    .replace(
        "shots = 0\n",
        "shots = 0\nscoring = \"loglik_first_token\"\n",
    );
    let error = cluster
        .controller
        .submit_run(&spec)
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("lmeval_cmmlu"), "{error}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_scoring_sums_each_options_log_probabilities() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    let questions = write_ceval(&data, &[("computer_network", 6)]).expect("fixture");
    let mut script = Script::new("无法回答");
    let mut expected_correct = 0;
    for (index, question) in questions.iter().enumerate() {
        let wrong = if question.answer == 'A' { 'B' } else { 'A' };
        let letter = if index % 3 == 2 {
            wrong
        } else {
            expected_correct += 1;
            question.answer
        };
        script = script.rule(&format!("{}：", question.marker), &letter.to_string());
    }
    let server = jianzhen_testkit::start(script).await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "echo").await, 2).await;
    for (template, run) in [
        ("ceval_ppl_578f8d", "echo-ppl"),
        ("lmeval_ceval_valid", "echo-lmeval"),
    ] {
        let spec = run_spec(run, &[("ceval", &data, 0)], &server.base_url(), 2, 4).replace(
            "shots = 0\n",
            &format!("shots = 0\nscoring = \"loglik_echo\"\ntemplate = \"{template}\"\n"),
        );
        let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(60)).await;
        let status = cluster
            .controller
            .run_status(&submitted.run_id)
            .await
            .expect("status");
        let count = |outcome: &str| outcome_count(&status, outcome);
        assert_eq!(
            [count("correct"), count("wrong")],
            [expected_correct, 6 - expected_correct],
            "{template}: the scripted letter's text is the most likely"
        );
        let files = cluster
            .controller
            .render_report(&submitted.run_id)
            .await
            .expect("report");
        let manifest = report_text(&files, "manifest.json");
        assert!(manifest.contains("loglik_echo"), "{manifest}");
        assert!(manifest.contains(template), "{manifest}");
        // Re-scoring from the stored sums changes nothing.
        let (checked, changed) = cluster
            .controller
            .rescore_run(&submitted.run_id)
            .await
            .expect("rescore");
        assert_eq!((checked, changed), (6, 0));
    }
    // One request per item (all options in one `prompt` list), each asking for echo,
    // and the echo check, once per lease: 2 shards of 4 and 2 items in each run.
    let checks = server.completions_starting_with("1, 2, 3, 4,");
    assert_eq!(checks, 4, "echo checks");
    assert_eq!(
        server
            .counters
            .logprob_requests
            .load(std::sync::atomic::Ordering::SeqCst),
        12 + checks as u64
    );

    // A server that misplaces echoed log-probabilities (llama-cpp-python's) fails the
    // check: its items end in api_error saying why, and none is sent.
    let misplaced = jianzhen_testkit::start(Script::new("A").with_misplaced_echo()).await;
    let spec = run_spec(
        "echo-misplaced",
        &[("ceval", &data, 0)],
        &misplaced.base_url(),
        2,
        4,
    )
    .replace("shots = 0\n", "shots = 0\nscoring = \"loglik_echo\"\n");
    let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(60)).await;
    let status = cluster
        .controller
        .run_status(&submitted.run_id)
        .await
        .expect("status");
    assert_eq!(outcome_count(&status, "api_error"), 6);
    assert_eq!(
        (
            misplaced.requests(),
            misplaced.completions_starting_with("1, 2, 3, 4,")
        ),
        (2, 2),
        "only the echo checks were sent, one per lease"
    );
    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    let report = report_text(&files, "report.md");
    assert!(
        report.contains(
            "| scripted | 6 | the endpoint's echoed prompt log-probabilities fail Jianzhen's check"
        ) && report.contains("-10.00 per character"),
        "{report}"
    );

    // A generation template cannot score options' texts: refused with the ones that can.
    let spec = run_spec("echo-gen", &[("ceval", &data, 0)], &server.base_url(), 2, 4).replace(
        "shots = 0\n",
        "shots = 0\nscoring = \"loglik_echo\"\ntemplate = \"ceval_gen_5f30c7\"\n",
    );
    let error = cluster
        .controller
        .submit_run(&spec)
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("ceval_ppl_578f8d"), "{error}");
    cluster.shutdown().await;
}
