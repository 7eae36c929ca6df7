//! The suites beyond C-Eval and CMMLU run end to end: fixtures written in each suite's
//! published layout, one run over all of them against the scripted model, and exact
//! per-subject counts and credits in `scores.csv` (partial credit for GAOKAO-Bench
//! multi-select and sub-questions, CMRC2018 span F1, CMATH numbers, label names, OCNLI's
//! letter order, refusals of free-text questions). Then `rescore` changes nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use jianzhen_testkit::Script;
use jianzhen_testkit::stores::test_store_url;

use crate::common::*;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent folder")).expect("mkdir");
    std::fs::write(path, text).expect("write fixture");
}

/// Writes every suite's fixture under `root`; returns (suite, data folder) pairs.
fn write_fixtures(root: &Path) -> Vec<(&'static str, std::path::PathBuf)> {
    let gaokao = root.join("gaokao");
    write(
        &gaokao.join("Bench/Obj_Prompt.json"),
        r#"{"examples": [
            {"type": "single_choice", "keyword": "2010-2022_History_MCQs", "prefix_prompt": "请你做一道历史选择题\n题目如下："},
            {"type": "multi_choice", "keyword": "2010-2022_Physics_MCQs", "prefix_prompt": "请你做一道物理选择题。\n"},
            {"type": "multi_question_choice", "keyword": "2010-2022_Geography_MCQs", "prefix_prompt": "请你做一道地理选择题，其中包含两到三个小题。\n"}
        ]}"#,
    );
    write(
        &gaokao.join("Data/Objective_Questions/2010-2022_History_MCQs.json"),
        r#"{"keywords": "2010-2022_History_MCQs", "example": [
            {"year": "2010", "category": "（新课标）", "question": "史题甲（　　）A．秦 B．汉 C．唐 D．宋", "answer": ["B"], "analysis": "", "index": 0, "score": 4},
            {"year": "2011", "category": "（新课标）", "question": "史题乙（　　）A．秦 B．汉 C．唐 D．宋", "answer": ["C"], "analysis": "", "index": 1, "score": 4},
            {"year": "2012", "category": "（新课标）", "question": "史题丙（　　）A．秦 B．汉 C．唐 D．宋", "answer": ["D"], "analysis": "", "index": 2, "score": 4}
        ]}"#,
    );
    write(
        &gaokao.join("Data/Objective_Questions/2010-2022_Physics_MCQs.json"),
        r#"{"keywords": "2010-2022_Physics_MCQs", "example": [
            {"year": "2019", "category": "（全国卷Ⅰ）", "question": "物理甲 A．一 B．二 C．三 D．四", "answer": ["AC"], "analysis": "", "index": 0, "score": 6},
            {"year": "2020", "category": "（全国卷Ⅰ）", "question": "物理乙 A．一 B．二 C．三 D．四", "answer": ["BD"], "analysis": "", "index": 1, "score": 6}
        ]}"#,
    );
    write(
        &gaokao.join("Data/Objective_Questions/2010-2022_Geography_MCQs.json"),
        r#"{"keywords": "2010-2022_Geography_MCQs", "example": [
            {"year": "2018", "category": "（全国卷Ⅱ）", "question": "地理甲 1．第一问 A．一 B．二 C．三 D．四 2．第二问 A．一 B．二 C．三 D．四", "answer": ["B", "C"], "analysis": "", "index": 0, "score": 4},
            {"year": "2019", "category": "（全国卷Ⅱ）", "question": "地理乙 三问 A．一 B．二 C．三 D．四", "answer": ["A", "D", "C"], "analysis": "", "index": 1, "score": 4}
        ]}"#,
    );

    let agieval = root.join("agieval");
    write(
        &agieval.join("logiqa-zh.jsonl"),
        "{\"passage\": \"逻辑材料。\", \"question\": \"逻辑甲？\", \"options\": [\"(A)一\", \"(B)二\", \"(C)三\", \"(D)四\"], \"label\": \"B\", \"answer\": null}\n",
    );
    write(
        &agieval.join("gaokao-mathcloze.jsonl"),
        "{\"passage\": null, \"question\": \"填空甲：1+2=____\", \"options\": null, \"label\": null, \"answer\": \"3\"}\n",
    );

    let c3 = root.join("c3");
    write(
        &c3.join("c3-d-dev.json"),
        r#"[[["男：对话甲", "女：好的"], [{"question": "对话问甲?", "choice": ["去商店", "去学校", "回家"], "answer": "去学校"}], "d-1"]]"#,
    );
    write(
        &c3.join("c3-m-dev.json"),
        r#"[[["短文甲。"], [{"question": "短文问甲?", "choice": ["春", "夏", "秋", "冬"], "answer": "冬"}], "m-1"]]"#,
    );

    let cmrc = root.join("cmrc");
    write(
        &cmrc.join("cmrc2018_dev.json"),
        r#"{"version": "v1.0", "data": [{"paragraphs": [{"id": "DEV_0", "context": "某校建于1927年，原名北京大学预科。", "qas": [
            {"question": "跨度甲：建于哪一年？", "id": "DEV_0_QUERY_0", "answers": [{"text": "1927年", "answer_start": 3}, {"text": "1927年", "answer_start": 3}]},
            {"question": "跨度乙：原名是什么？", "id": "DEV_0_QUERY_1", "answers": [{"text": "北京大学", "answer_start": 11}]}
        ]}], "id": "DEV_0", "title": "某校"}]}"#,
    );

    let ocnli = root.join("ocnli");
    write(
        &ocnli.join("dev.json"),
        concat!(
            "{\"sentence1\":\"前提甲\",\"sentence2\":\"假设甲\",\"label\":\"entailment\",\"genre\":\"lit\",\"id\":0}\n",
            "{\"sentence1\":\"前提乙\",\"sentence2\":\"假设乙\",\"label\":\"neutral\",\"genre\":\"lit\",\"id\":1}\n",
            "{\"sentence1\":\"前提丙\",\"sentence2\":\"假设丙\",\"label\":\"contradiction\",\"genre\":\"lit\",\"id\":2}\n",
            "{\"sentence1\":\"前提丁\",\"sentence2\":\"假设丁\",\"label\":\"-\",\"genre\":\"lit\",\"id\":3}\n",
        ),
    );

    let fewclue = root.join("fewclue");
    write(
        &fewclue.join("eprstmt/test_public.json"),
        "{\"id\": 1, \"sentence\": \"情感甲：很好用\", \"label\": \"Positive\"}\n{\"id\": 2, \"sentence\": \"情感乙：太慢了\", \"label\": \"Negative\"}\n",
    );
    write(
        &fewclue.join("iflytek/test_public.json"),
        "{\"label\": 10, \"label_des\": \"社区服务\", \"sentence\": \"应用甲：买菜到家\", \"id\": 1}\n{\"label\": 99, \"label_des\": \"银行\", \"sentence\": \"应用乙：手机转账\", \"id\": 2}\n",
    );

    let simpleqa = root.join("simpleqa");
    write(
        &simpleqa.join("chinese_simpleqa.jsonl"),
        concat!(
            "{\"id\": \"q1\", \"primary_category\": \"中华文化\", \"secondary_category\": \"文学\", \"question\": \"事实甲：《狂人日记》的作者是谁？\", \"answer\": \"鲁迅\", \"urls\": []}\n",
            "{\"id\": \"q2\", \"primary_category\": \"中华文化\", \"secondary_category\": \"地理\", \"question\": \"事实乙：中国的首都是哪里？\", \"answer\": \"北京\", \"urls\": []}\n",
        ),
    );

    let cmath = root.join("cmath");
    write(
        &cmath.join("cmath_dev.jsonl"),
        concat!(
            "{\"grade\": 1, \"input\": \"算术甲：99-90等于几？\", \"golden\": \"9\", \"reasoning_step\": 1, \"num_digits\": 2}\n",
            "{\"grade\": 1, \"input\": \"算术乙：2除以7是多少？\", \"golden\": \"2/7\", \"reasoning_step\": 1, \"num_digits\": 1}\n",
        ),
    );

    vec![
        ("gaokao", gaokao),
        ("agieval", agieval),
        ("c3", c3),
        ("cmrc2018", cmrc),
        ("ocnli", ocnli),
        ("fewclue_eprstmt", fewclue.clone()),
        ("fewclue_iflytek", fewclue),
        ("simpleqa", simpleqa),
        ("cmath", cmath),
    ]
}

fn script() -> Script {
    Script::new("我不确定")
        // GAOKAO-Bench single choice: right, wrong, unreadable (the default).
        .rule("史题甲", "【解析】汉朝。<eoe>\n【答案】B <eoa>")
        .rule("史题乙", "【解析】略 <eoe>\n【答案】A <eoa>")
        // Multi-select: a correct subset earns half, the exact set all.
        .rule("物理甲", "【解析】略 <eoe>\n【答案】A <eoa>")
        .rule("物理乙", "【解析】略 <eoe>\n【答案】BD <eoa>")
        // Two sub-questions, one right.
        .rule("地理甲", "（1）【答案】B <eoa>\n（2）【答案】D <eoa>")
        .rule(
            "地理乙",
            "（1）【答案】A <eoa>\n（2）【答案】D <eoa>\n（3）【答案】C <eoa>",
        )
        .rule("逻辑甲", "答案是：B")
        .rule("填空甲", "答案是： 3")
        .rule("对话问甲", "B")
        .rule("短文问甲", "C")
        .rule("跨度甲", "答案是1927年。")
        .rule("跨度乙", "答案是北京")
        // OCNLI shows 蕴含 (A), 矛盾 (B), 无关 (C): neutral is C.
        .rule("假设甲", "A")
        .rule("假设乙", "C")
        .rule("假设丙", "C")
        .rule("情感甲", "A")
        .rule("情感乙", "A")
        .rule("应用甲", "社区服务")
        .rule("应用乙", "这是一款社区服务应用")
        .rule("事实甲", "鲁迅。")
        .rule("事实乙", "抱歉，我无法回答这个问题。")
        .rule("算术甲", "99-90=9，所以答案是\\boxed{9}")
        .rule("算术乙", "2÷7≈\\boxed{0.3}")
}

/// One `scores.csv` row: (n, correct, points, refused, unextractable); points are
/// weighted by sub-answers.
type Row = (u64, u64, f64, u64, u64);

/// (suite, subject) → [`Row`] from `scores.csv`.
fn scores(csv_bytes: &[u8]) -> BTreeMap<(String, String), Row> {
    let mut reader = csv::Reader::from_reader(csv_bytes);
    let headers = reader.headers().expect("header").clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|header| header == name)
            .unwrap_or_else(|| panic!("scores.csv lacks {name}"))
    };
    let mut parsed = BTreeMap::new();
    for record in reader.records() {
        let record = record.expect("row");
        let integer = |name: &str| record[column(name)].parse::<u64>().expect("integer");
        let points: f64 = record[column("points")].parse().expect("points");
        let weight: f64 = record[column("weight")].parse().expect("weight");
        let accuracy: f64 = record[column("accuracy")].parse().expect("accuracy");
        assert!(
            (accuracy - points / weight).abs() < 1e-9,
            "accuracy is points / weight in {record:?}"
        );
        parsed.insert(
            (
                record[column("suite")].to_string(),
                record[column("subject")].to_string(),
            ),
            (
                integer("n"),
                integer("correct"),
                points,
                integer("refused"),
                integer("unextractable"),
            ),
        );
    }
    parsed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_task_suite_runs_and_scores_with_its_own_rules() {
    let dir = tempfile::tempdir().expect("temp dir");
    let suites = write_fixtures(&dir.path().join("data"));
    let server = jianzhen_testkit::start(script()).await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "store").await, 2).await;
    let suite_refs: Vec<(&str, &Path, u32)> = suites
        .iter()
        .map(|(name, path)| (*name, path.as_path(), 0))
        .collect();
    let spec = run_spec("task-suites", &suite_refs, &server.base_url(), 3, 4);
    let submitted = cluster.controller.submit_run(&spec).await.expect("submit");
    // 7 GAOKAO + 2 AGIEval + 2 C3 + 2 CMRC + 3 OCNLI (one `-` dropped) + 2 + 2 FewCLUE
    // + 2 SimpleQA + 2 CMATH.
    assert_eq!(submitted.total_items, 24);
    wait_for_run(
        &cluster.controller,
        &submitted.run_id,
        Duration::from_secs(60),
    )
    .await;

    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    let actual = scores(report_file(&files, "scores.csv"));
    let third = 2.0 / 3.0;
    let expected: Vec<((&str, &str), Row)> = vec![
        (("agieval", "gaokao-mathcloze"), (1, 1, 1.0, 0, 0)),
        (("agieval", "logiqa-zh"), (1, 1, 1.0, 0, 0)),
        (("c3", "c3-d"), (1, 1, 1.0, 0, 0)),
        (("c3", "c3-m"), (1, 0, 0.0, 0, 0)),
        (("cmath", "grade1"), (2, 1, 1.0, 0, 0)),
        (("cmrc2018", "cmrc2018_dev"), (2, 1, 1.0 + third, 0, 0)),
        (("fewclue_eprstmt", "eprstmt"), (2, 1, 1.0, 0, 0)),
        (("fewclue_iflytek", "iflytek"), (2, 1, 1.0, 0, 0)),
        // Sub-questions weigh one each, as GAOKAO-Bench scores a file: (1 + 3) of
        // (2 + 3) sub-answers right, so accuracy 0.8 (the item mean would be 0.75).
        (("gaokao", "2010-2022_Geography_MCQs"), (2, 1, 4.0, 0, 0)),
        (("gaokao", "2010-2022_History_MCQs"), (3, 1, 1.0, 0, 1)),
        (("gaokao", "2010-2022_Physics_MCQs"), (2, 1, 1.5, 0, 0)),
        (("ocnli", "ocnli"), (3, 2, 2.0, 0, 0)),
        (("simpleqa", "中华文化"), (2, 1, 1.0, 1, 0)),
    ];
    let actual_keys: Vec<(String, String)> = actual.keys().cloned().collect();
    let expected_keys: Vec<(String, String)> = expected
        .iter()
        .map(|((suite, subject), _)| (suite.to_string(), subject.to_string()))
        .collect();
    assert_eq!(actual_keys, expected_keys, "one row per suite and subject");
    for ((suite, subject), (n, correct, points, refused, unextractable)) in expected {
        let row = actual[&(suite.to_string(), subject.to_string())];
        assert_eq!(
            (row.0, row.1, row.3, row.4),
            (n, correct, refused, unextractable),
            "{suite}/{subject}: n, correct, refused, unextractable"
        );
        assert!(
            (row.2 - points).abs() < 1e-9,
            "{suite}/{subject}: points {} != {points}",
            row.2
        );
    }

    // The manifest names each suite's template, its hash and where it comes from.
    let manifest: serde_json::Value =
        serde_json::from_slice(report_file(&files, "manifest.json")).expect("manifest");
    let templates: BTreeMap<&str, &str> = manifest["suites"]
        .as_array()
        .expect("suites")
        .iter()
        .map(|suite| {
            (
                suite["suite"].as_str().expect("suite"),
                suite["template"].as_str().expect("template"),
            )
        })
        .collect();
    assert_eq!(templates["gaokao"], "gaokao_gen_5cfe9e");
    // Exam subjects fall in C-Eval's categories; CLUE tasks are language understanding.
    let markdown = report_text(&files, "report.md");
    for row in [
        "| scripted | gaokao | Humanities | 1 | 3 |",
        "| scripted | gaokao | STEM | 1 | 2 |",
        "| scripted | gaokao | Social Science | 1 | 2 |",
        "| scripted | c3 | Language understanding | 2 | 2 |",
        "| scripted | cmath | STEM | 1 | 2 |",
    ] {
        assert!(markdown.contains(row), "{row} in {markdown}");
    }
    assert_eq!(templates["ocnli"], "clue_ocnli_gen_c4cb6c");
    assert_eq!(templates["cmath"], "cmath_evalscope_0shot");

    // Re-scoring the stored answers with the same build changes nothing.
    let (checked, changed) = cluster
        .controller
        .rescore_run(&submitted.run_id)
        .await
        .expect("rescore");
    assert_eq!((checked, changed), (24, 0));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lettered_task_suites_are_scored_by_the_first_token_and_filtered_by_subject() {
    let dir = tempfile::tempdir().expect("temp dir");
    let suites = write_fixtures(&dir.path().join("data"));
    let path_of = |wanted: &str| {
        suites
            .iter()
            .find(|(name, _)| *name == wanted)
            .map(|(_, path)| path.as_path())
            .expect("fixture")
    };
    let server = jianzhen_testkit::start(script()).await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "store").await, 2).await;
    let first_token_spec = |names: &[&str]| {
        let suite_refs: Vec<(&str, &Path, u32)> =
            names.iter().map(|name| (*name, path_of(name), 0)).collect();
        run_spec("first-token", &suite_refs, &server.base_url(), 3, 4).replace(
            "shots = 0\n",
            "shots = 0\nscoring = \"loglik_first_token\"\n",
        )
    };

    // AGIEval's cloze file cannot be scored by a letter: refused with the way out.
    let error = cluster
        .controller
        .submit_run(&first_token_spec(&["agieval"]))
        .await
        .expect_err("a cloze item under first-token scoring is refused");
    let message = error.to_string();
    assert!(
        message.contains("gaokao-mathcloze") && message.contains("subjects"),
        "{message}"
    );
    // GAOKAO-Bench's prompt asks for the analysis first: no first-token scoring.
    let error = cluster
        .controller
        .submit_run(&first_token_spec(&["gaokao"]))
        .await
        .expect_err("GAOKAO-Bench by first token is refused");
    assert!(
        error
            .to_string()
            .contains("first-token scoring is offered for"),
        "{error}"
    );
    // A subject the data does not have is named with the ones it has.
    let error = cluster
        .controller
        .submit_run(&first_token_spec(&["agieval"]).replace(
            "name = \"agieval\"\n",
            "name = \"agieval\"\nsubjects = [\"logiqa\"]\n",
        ))
        .await
        .expect_err("an unknown subject is refused");
    assert!(
        error.to_string().contains("gaokao-mathcloze, logiqa-zh"),
        "{error}"
    );

    let spec = first_token_spec(&["agieval", "c3", "ocnli", "fewclue_eprstmt"]).replace(
        "name = \"agieval\"\n",
        "name = \"agieval\"\nsubjects = [\"logiqa-zh\"]\n",
    );
    let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(60)).await;
    // 1 AGIEval (logiqa-zh only) + 2 C3 + 3 OCNLI + 2 eprstmt, each one request for the
    // first token's log-probabilities.
    assert_eq!(submitted.total_items, 8);
    assert_eq!(
        server
            .counters
            .logprob_requests
            .load(std::sync::atomic::Ordering::SeqCst),
        8
    );
    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    let actual = scores(report_file(&files, "scores.csv"));
    let correct: Vec<(&str, &str, u64, u64)> = actual
        .iter()
        .map(|((suite, subject), row)| (suite.as_str(), subject.as_str(), row.0, row.1))
        .collect();
    // The scripted model's letter is the most likely first token: C3 short text C (gold
    // D), OCNLI contradiction C (gold B, as the prompt orders 矛盾 second), eprstmt's
    // negative review A (gold B) are wrong.
    assert_eq!(
        correct,
        [
            ("agieval", "logiqa-zh", 1, 1),
            ("c3", "c3-d", 1, 1),
            ("c3", "c3-m", 1, 0),
            ("fewclue_eprstmt", "eprstmt", 2, 1),
            ("ocnli", "ocnli", 3, 2),
        ]
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(report_file(&files, "manifest.json")).expect("manifest");
    for suite in manifest["suites"].as_array().expect("suites") {
        assert!(
            suite["scoring"]
                .as_str()
                .is_some_and(|scoring| scoring.starts_with("loglik_first_token")),
            "{suite}"
        );
    }
    let (checked, changed) = cluster
        .controller
        .rescore_run(&submitted.run_id)
        .await
        .expect("rescore");
    assert_eq!((checked, changed), (8, 0));
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_task_suite_with_shots_or_a_wrong_template_is_refused_with_advice() {
    let dir = tempfile::tempdir().expect("temp dir");
    let suites = write_fixtures(&dir.path().join("data"));
    let cmath = &suites
        .iter()
        .find(|(name, _)| *name == "cmath")
        .expect("cmath")
        .1;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "store").await, 0).await;
    let spec = run_spec(
        "shots",
        &[("cmath", cmath, 5)],
        "http://127.0.0.1:9/v1",
        1,
        4,
    );
    let error = cluster
        .controller
        .submit_run(&spec)
        .await
        .expect_err("five-shot CMATH is refused");
    assert!(error.to_string().contains("set `shots = 0`"), "{error}");
    let spec = run_spec(
        "template",
        &[("cmath", cmath, 0)],
        "http://127.0.0.1:9/v1",
        1,
        4,
    )
    .replace(
        "shots = 0\n",
        "shots = 0\ntemplate = \"clue_c3_gen_8c358f\"\n",
    );
    let error = cluster
        .controller
        .submit_run(&spec)
        .await
        .expect_err("a C3 template on CMATH is refused");
    assert!(
        error.to_string().contains("cmath_evalscope_0shot"),
        "{error}"
    );
    let spec = run_spec(
        "missing",
        &[("c3", cmath, 0)],
        "http://127.0.0.1:9/v1",
        1,
        4,
    );
    let error = cluster
        .controller
        .submit_run(&spec)
        .await
        .expect_err("C3 without its files is refused");
    assert!(error.to_string().contains("c3-d-dev.json"), "{error}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simpleqa_answers_are_graded_by_the_judge_model_when_one_is_given() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("simpleqa");
    write(
        &data.join("chinese_simpleqa.jsonl"),
        concat!(
            "{\"id\": \"q1\", \"primary_category\": \"中华文化\", \"secondary_category\": \"文学\", \"question\": \"事实甲：《狂人日记》的作者是谁？\", \"answer\": \"鲁迅\", \"urls\": []}\n",
            "{\"id\": \"q2\", \"primary_category\": \"中华文化\", \"secondary_category\": \"文学\", \"question\": \"事实乙：《女神》的作者是谁？\", \"answer\": \"郭沫若\", \"urls\": []}\n",
            "{\"id\": \"q3\", \"primary_category\": \"自然科学\", \"secondary_category\": \"化学\", \"question\": \"事实丙：菱镁矿的主要成分是什么？\", \"answer\": \"碳酸镁（MgCO3）\", \"urls\": []}\n",
            "{\"id\": \"q4\", \"primary_category\": \"自然科学\", \"secondary_category\": \"地理\", \"question\": \"事实丁：珠峰在哪两国边境？\", \"answer\": \"中国和尼泊尔\", \"urls\": []}\n",
        ),
    );
    let model = jianzhen_testkit::start(
        Script::new("我不知道")
            .rule("事实甲", "鲁迅。")
            .rule("事实乙", "巴金")
            .rule("事实丙", "MgCO3")
            .rule("事实丁", "尼泊尔和中国"),
    )
    .await;
    // The judge sees OpenCompass's prompt with the predicted answer filled in; it accepts
    // the paraphrase "MgCO3", which reference matching alone would not.
    let judge = jianzhen_testkit::start(
        Script::new("无法判断")
            .rule("预测答案: 鲁迅。", "A")
            .rule("预测答案: 巴金", "B")
            .rule("预测答案: MgCO3", "A:【正确】")
            .fail("预测答案: 尼泊尔和中国", 500),
    )
    .await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "store").await, 2).await;
    let spec = run_spec("judged", &[("simpleqa", &data, 0)], &model.base_url(), 2, 4)
        + &format!(
            "[judge]\nname = \"judge\"\nbase_url = \"{}\"\nmodel = \"judge\"\nmax_concurrency = 2\ntimeout_secs = 10\nmax_attempts = 2\n",
            judge.base_url()
        );
    let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(60)).await;
    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    let actual = scores(report_file(&files, "scores.csv"));
    // 中华文化: correct (A), wrong (B); 自然科学: correct (A, a paraphrase), api_error
    // (the judge failed; the item can be retried).
    assert_eq!(
        actual[&("simpleqa".to_string(), "中华文化".to_string())].1,
        1
    );
    assert_eq!(
        actual[&("simpleqa".to_string(), "自然科学".to_string())].1,
        1
    );
    let status = cluster
        .controller
        .run_status(&submitted.run_id)
        .await
        .expect("status");
    let count = |outcome: &str| outcome_count(&status, outcome);
    assert_eq!(
        [count("correct"), count("wrong"), count("api_error")],
        [2, 1, 1]
    );
    // Every answer went to the judge; the failing one twice (max_attempts = 2).
    assert_eq!(judge.requests(), 5);
    let manifest: serde_json::Value =
        serde_json::from_slice(report_file(&files, "manifest.json")).expect("manifest");
    assert_eq!(manifest["judge"]["prompt"], "chinese_simpleqa_judge");
    assert_eq!(manifest["judge"]["endpoint"]["model"], "judge");
    let markdown = report_text(&files, "report.md");
    // 3 judged answers: 2 correct, 1 incorrect → given attempted 66.7%, F1 = 2·(2/3)·(2/3)/(4/3).
    assert!(
        markdown.contains("| scripted | simpleqa | 3 | 2 | 1 | 0 | 66.7 | 66.7 | 66.7 | 33.3 |"),
        "{markdown}"
    );
    // One of the two accepted answers ("MgCO3") names no reference: not yet a warning.
    assert!(!markdown.contains("Check the judge"), "{markdown}");

    // Re-grading the stored verdicts changes nothing; the same requests in another run
    // come from the cache with their verdicts, without calling the model or the judge.
    let (checked, changed) = cluster
        .controller
        .rescore_run(&submitted.run_id)
        .await
        .expect("rescore");
    assert_eq!((checked, changed), (4, 0));
    let (model_calls, judge_calls) = (model.requests(), judge.requests());
    let again = cluster
        .controller
        .submit_run(&spec.replace("name = \"judged\"", "name = \"judged-again\""))
        .await
        .expect("submit again");
    wait_for_run(&cluster.controller, &again.run_id, Duration::from_secs(60)).await;
    let status = cluster
        .controller
        .run_status(&again.run_id)
        .await
        .expect("status");
    let correct = outcome_count(&status, "correct");
    assert_eq!(correct, 2, "cached verdicts score the same");
    assert_eq!(
        model.requests() - model_calls,
        1,
        "only the failed item is asked again"
    );
    assert_eq!(
        judge.requests() - judge_calls,
        2,
        "and judged again (two attempts)"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_judge_s_concurrency_limit_holds_across_workers_and_endpoints() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("simpleqa");
    let lines: String = (0..12)
        .map(|index| {
            format!(
                "{{\"id\": \"q{index}\", \"primary_category\": \"中华文化\", \"secondary_category\": \"文学\", \"question\": \"问题{index}：作者是谁？\", \"answer\": \"鲁迅\", \"urls\": []}}\n"
            )
        })
        .collect();
    write(&data.join("chinese_simpleqa.jsonl"), &lines);
    let model = jianzhen_testkit::start(Script::new("鲁迅")).await;
    // A slow judge allowing two requests at once: 2 workers × 2 endpoints × 4 slots
    // would otherwise call it up to 16 at a time.
    let judge =
        jianzhen_testkit::start(Script::new("A").with_delay(Duration::from_millis(40))).await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "store").await, 2).await;
    let spec = run_spec(
        "judge-budget",
        &[("simpleqa", &data, 0)],
        &model.base_url(),
        4,
        3,
    ) + &format!(
        "[[endpoints]]\nname = \"second\"\nbase_url = \"{}\"\nmodel = \"scripted\"\nmax_concurrency = 4\n\
             [judge]\nname = \"judge\"\nbase_url = \"{}\"\nmodel = \"judge\"\nmax_concurrency = 2\ntimeout_secs = 10\n",
        model.base_url(),
        judge.base_url()
    );
    let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(120)).await;
    let status = cluster
        .controller
        .run_status(&submitted.run_id)
        .await
        .expect("status");
    assert_eq!(
        outcome_count(&status, "correct"),
        24,
        "{:?}",
        status.outcomes
    );
    assert_eq!(judge.requests(), 24, "every answer judged once");
    assert!(
        judge.max_in_flight() <= 2,
        "the judge saw {} requests at once; its max_concurrency is 2",
        judge.max_in_flight()
    );
    cluster.shutdown().await;
}

/// `--extractor opencompass` reads GAOKAO-Bench's multi-select and sub-question answers
/// in the run as GAOKAO-Bench's evaluator does (its reading, its half credit), and
/// `rescore --extractor jianzhen` switches them back: the run's scores are the peer's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gaokao_multi_answers_are_scored_by_the_peer_reading_in_the_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let suites = write_fixtures(&dir.path().join("data"));
    let gaokao = &suites
        .iter()
        .find(|(name, _)| *name == "gaokao")
        .expect("the gaokao fixture")
        .1;
    // GAOKAO-Bench reads a multi-select reply without 【答案】 from its last 10
    // characters: "C都对，答案是AC" gives CAC, a subset of AC (half credit), where
    // Jianzhen reads AC.
    let server = jianzhen_testkit::start(
        Script::new("我不确定")
            .rule("史题甲", "【解析】汉朝。<eoe>\n【答案】B <eoa>")
            .rule("史题乙", "【解析】略 <eoe>\n【答案】A <eoa>")
            .rule("物理甲", "A和C都对，答案是AC")
            .rule("物理乙", "【解析】略 <eoe>\n【答案】BD <eoa>")
            .rule("地理甲", "（1）【答案】B <eoa>\n（2）【答案】D <eoa>")
            .rule(
                "地理乙",
                "（1）【答案】A <eoa>\n（2）【答案】D <eoa>\n（3）【答案】C <eoa>",
            ),
    )
    .await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "store").await, 1).await;
    let spec = run_spec(
        "gaokao-peer",
        &[("gaokao", gaokao.as_path(), 0)],
        &server.base_url(),
        3,
        4,
    )
    .replace(
        "name = \"gaokao\"\n",
        "name = \"gaokao\"\nextractor = \"opencompass\"\n",
    );
    let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(60)).await;
    let scored = |files: &[jianzhen_coordinator::report::ReportFile]| {
        let scores = scores(report_file(files, "scores.csv"));
        let physics = scores[&("gaokao".to_string(), "2010-2022_Physics_MCQs".to_string())];
        let geography = scores[&("gaokao".to_string(), "2010-2022_Geography_MCQs".to_string())];
        (physics, geography)
    };
    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    let (physics, geography) = scored(&files);
    assert_eq!(
        physics,
        (2, 1, 1.5, 0, 0),
        "GAOKAO-Bench's reading and credit"
    );
    assert_eq!(geography, (2, 1, 4.0, 0, 0));

    let (_, changed) = cluster
        .controller
        .rescore_run_with(&submitted.run_id, Some("jianzhen"))
        .await
        .expect("rescore with Jianzhen's reading");
    assert!(changed >= 1, "the physics answer is read again");
    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    let (physics, geography) = scored(&files);
    assert_eq!(physics, (2, 2, 2.0, 0, 0), "Jianzhen reads AC");
    assert_eq!(geography, (2, 1, 4.0, 0, 0));
    cluster.shutdown().await;
}
