//! Hidden test splits: C-Eval's test answers are withheld, so a run of `--split test`
//! writes `ceval_submission.json` in C-Eval's leaderboard format beside a report that
//! says no accuracy exists and shows the outcome counts; a spec suite with
//! `answer_hidden_in` writes its predictions the same way.

use std::path::Path;
use std::time::Duration;

use jianzhen_testkit::Script;
use jianzhen_testkit::stores::test_store_url;

use crate::common::*;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent folder")).expect("mkdir");
    std::fs::write(path, text).expect("write fixture");
}

/// C-Eval's test layout: no `answer` column, ids as the published files number them.
fn write_ceval_test(root: &Path) {
    write(
        &root.join("test/computer_network_test.csv"),
        "id,question,A,B,C,D\r\n0,网络题零：TCP属于哪一层？,传输层,网络层,应用层,物理层\r\n1,网络题一：HTTP默认端口？,21,80,443,25\r\n2,网络题二：DNS的作用？,域名解析,加密,路由,压缩\r\n10,网络题十：IPv4地址长度？,16位,32位,64位,128位\r\n",
    );
    write(
        &root.join("test/law_test.csv"),
        "id,question,A,B,C,D\r\n0,法律题零：宪法是什么法？,根本法,普通法,程序法,实体法\r\n1,法律题一：民法调整什么关系？,平等主体,行政,刑事,国际\r\n",
    );
}

fn script() -> Script {
    Script::new("答案是A")
        .rule("网络题一", "正确答案是 B。")
        .rule("网络题二", "抱歉，我无法回答这个问题。")
        .rule("网络题十", "The answer is (B)")
        .rule("法律题零", "这道题我不确定。")
        .fail("法律题一", 500)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ceval_test_split_writes_the_leaderboard_submission() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    write_ceval_test(&data);
    let server = jianzhen_testkit::start(script()).await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "store").await, 2).await;
    let spec = format!(
        "name = \"ceval-test\"\n[[suites]]\nname = \"ceval\"\ndata = \"{}\"\nsplit = \"test\"\n[[endpoints]]\nname = \"scripted\"\nbase_url = \"{}\"\nmodel = \"scripted\"\ntimeout_secs = 10\nmax_attempts = 1\n",
        data.display(),
        server.base_url()
    );
    let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(60)).await;
    assert_eq!(submitted.total_items, 6);
    let status = cluster
        .controller
        .run_status(&submitted.run_id)
        .await
        .expect("status");
    assert_eq!(outcome_count(&status, "answered"), 3);
    assert_eq!(outcome_count(&status, "correct"), 0);

    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    // The whole file: subjects keyed by file name, questions by the CSV's `id`, only the
    // answered ones.
    assert_eq!(
        report_text(&files, "ceval_submission.json"),
        r#"{"computer_network":{"0":"A","1":"B","10":"B"},"law":{}}"#
    );
    let markdown = report_text(&files, "report.md");
    for line in [
        "## Hidden test split: predictions for the leaderboard",
        "**no accuracy exists for it here**",
        "| endpoint | suite | questions | answered | unextractable | truncated | refused | api_error | file |",
        "| scripted | ceval | 6 | 3 | 1 | 0 | 1 | 1 | `ceval_submission.json` |",
    ] {
        assert!(markdown.contains(line), "{line} in {markdown}");
    }
    // No accuracy row for the hidden suite.
    assert!(!markdown.contains("| scripted | ceval | 2 |"), "{markdown}");
    let manifest: serde_json::Value =
        serde_json::from_str(&report_text(&files, "manifest.json")).expect("manifest");
    assert_eq!(
        manifest["suites"][0]["predictions_file"],
        "ceval_submission.json"
    );
    let html = report_text(&files, "report.html");
    assert!(html.contains("<div id=\"hidden-split\">"), "{html}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_suite_with_hidden_answers_writes_its_predictions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("quiz");
    write(
        &data.join("test/网络.jsonl"),
        concat!(
            "{\"qid\": \"n1\", \"question\": \"网络题零：TCP属于哪一层？\", \"A\": \"传输层\", \"B\": \"网络层\", \"C\": \"应用层\", \"D\": \"物理层\"}\n",
            "{\"qid\": \"n2\", \"question\": \"网络题一：HTTP默认端口？\", \"A\": \"21\", \"B\": \"80\", \"C\": \"443\", \"D\": \"25\", \"answer\": \"\"}\n",
        ),
    );
    let spec_path = dir.path().join("quiz.toml");
    write(
        &spec_path,
        "name = \"quiz\"\nversion = \"1\"\nformat = \"jsonl\"\n\n[splits]\ntest = \"test/{subject}.jsonl\"\n\n[fields]\nid = \"qid\"\nquestion = \"question\"\noptions = { from = \"columns\", columns = [\"A\", \"B\", \"C\", \"D\"] }\nanswer = { from = \"letter\", field = \"answer\" }\nanswer_hidden_in = [\"test\"]\n\n[subject]\nfrom = \"file\"\n\n[template]\nbuiltin = \"ceval_gen_5f30c7\"\n",
    );
    let server = jianzhen_testkit::start(script()).await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "store").await, 1).await;
    let spec = format!(
        "name = \"quiz-test\"\n[[suites]]\nname = \"quiz\"\nspec = \"{}\"\ndata = \"{}\"\n[[endpoints]]\nname = \"scripted\"\nbase_url = \"{}\"\nmodel = \"scripted\"\ntimeout_secs = 10\n",
        spec_path.display(),
        data.display(),
        server.base_url()
    );
    let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(60)).await;
    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    assert_eq!(
        report_text(&files, "quiz_submission.json"),
        r#"{"网络":{"n1":"A","n2":"B"}}"#
    );
    cluster.shutdown().await;
}

/// OCNLI's `test.json` layout: no labels; ids out of order, as a submission must follow
/// the file's lines, not its ids.
fn write_ocnli_test(folder: &Path) {
    write(
        &folder.join("test.json"),
        concat!(
            "{\"sentence1\":\"推理题五的前提。\",\"sentence2\":\"推理题五的假设。\",\"id\":5}\n",
            "{\"sentence1\":\"推理题二的前提。\",\"sentence2\":\"推理题二的假设。\",\"id\":2}\n",
            "{\"sentence1\":\"推理题九的前提。\",\"sentence2\":\"推理题九的假设。\",\"id\":9}\n",
            "{\"sentence1\":\"推理题零的前提。\",\"sentence2\":\"推理题零的假设。\",\"id\":0}\n",
            "{\"sentence1\":\"推理题一的前提。\",\"sentence2\":\"推理题一的假设。\",\"id\":1}\n",
            "{\"sentence1\":\"推理题七的前提。\",\"sentence2\":\"推理题七的假设。\",\"id\":7}\n",
        ),
    );
}

fn clue_script() -> Script {
    Script::new("答案是A")
        .rule("推理题五", "答案是B")
        .rule("推理题二", "抱歉，我无法回答这个问题。")
        .rule("推理题九", "C. 无关")
        .fail("推理题零", 500)
        .rule("推理题一", "这两句话的关系我说不清。")
        .rule("成语题一", "答案是 D")
        .rule("成语题二", "抱歉，我无法回答这个问题。")
        .rule("应用题一", "这是一款射击游戏类应用。")
        .rule("应用题二", "答案是：小说")
}

fn task_suite_spec(name: &str, suites: &[(&str, &Path)], base_url: &str) -> String {
    let mut spec = format!("name = \"{name}\"\n");
    for (suite, data) in suites {
        spec.push_str(&format!(
            "[[suites]]\nname = \"{suite}\"\ndata = \"{}\"\nsplit = \"test\"\n",
            data.display()
        ));
    }
    spec.push_str(&format!(
        "[[endpoints]]\nname = \"scripted\"\nbase_url = \"{base_url}\"\nmodel = \"scripted\"\ntimeout_secs = 10\nmax_attempts = 1\n"
    ));
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocnli_test_split_writes_clue_s_submission_line_by_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ocnli");
    write_ocnli_test(&data);
    let server = jianzhen_testkit::start(clue_script()).await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "store").await, 2).await;
    let spec = task_suite_spec("ocnli-test", &[("ocnli", &data)], &server.base_url());
    let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(60)).await;
    assert_eq!(submitted.total_items, 6);
    let status = cluster
        .controller
        .run_status(&submitted.run_id)
        .await
        .expect("status");
    assert_eq!(outcome_count(&status, "answered"), 3);
    assert_eq!(outcome_count(&status, "correct"), 0);
    assert_eq!(outcome_count(&status, "wrong"), 0);

    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    // The whole file: one line per record in the file's order; the prompt shows 蕴含 A,
    // 矛盾 B, 无关 C; a record without a prediction keeps its line with an empty label.
    assert_eq!(
        report_text(&files, "ocnli_50k_predict.json"),
        concat!(
            "{\"id\": 5, \"label\": \"contradiction\"}\n",
            "{\"id\": 2, \"label\": \"\"}\n",
            "{\"id\": 9, \"label\": \"neutral\"}\n",
            "{\"id\": 0, \"label\": \"\"}\n",
            "{\"id\": 1, \"label\": \"\"}\n",
            "{\"id\": 7, \"label\": \"entailment\"}\n",
        )
    );
    let markdown = report_text(&files, "report.md");
    for line in [
        "## Hidden test split: predictions for the leaderboard",
        "**no accuracy exists for it here**",
        "CLUE's keeps their line with an empty label",
        "| scripted | ocnli | 6 | 3 | 1 | 0 | 1 | 1 | `ocnli_50k_predict.json` |",
    ] {
        assert!(markdown.contains(line), "{line} in {markdown}");
    }
    assert!(!markdown.contains("were not asked"), "{markdown}");
    let manifest: serde_json::Value =
        serde_json::from_str(&report_text(&files, "manifest.json")).expect("manifest");
    assert_eq!(
        manifest["suites"][0]["predictions_file"],
        "ocnli_50k_predict.json"
    );
    assert_eq!(
        manifest["suites"][0]["submission"]["records"]
            .as_array()
            .map(Vec::len),
        Some(6)
    );

    // Under a limit the file still has a line per record (the scorer compares line by
    // line); the records not asked carry no prediction, and the report says so.
    let limited = spec.replace(
        "split = \"test\"\n",
        "split = \"test\"\nlimit_per_subject = 2\n",
    );
    let submitted = submit_and_wait(&cluster.controller, &limited, Duration::from_secs(60)).await;
    assert_eq!(submitted.total_items, 2);
    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    assert_eq!(
        report_text(&files, "ocnli_50k_predict.json"),
        concat!(
            "{\"id\": 5, \"label\": \"contradiction\"}\n",
            "{\"id\": 2, \"label\": \"\"}\n",
            "{\"id\": 9, \"label\": \"\"}\n",
            "{\"id\": 0, \"label\": \"\"}\n",
            "{\"id\": 1, \"label\": \"\"}\n",
            "{\"id\": 7, \"label\": \"\"}\n",
        )
    );
    let markdown = report_text(&files, "report.md");
    assert!(
        markdown.contains("`ocnli_50k_predict.json` has a line for each of the test file's 6 records; 4 of them were not asked in this run"),
        "{markdown}"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fewclue_test_splits_write_each_task_s_submission() {
    let dir = tempfile::tempdir().expect("temp dir");
    let datasets = dir.path().join("datasets");
    write(
        &datasets.join("chid/test.json"),
        concat!(
            "{\"id\": 3001, \"candidates\": [\"一帆风顺\", \"二话不说\", \"三心二意\", \"四面八方\", \"五光十色\", \"六神无主\", \"七上八下\"], \"content\": \"成语题一：他#idiom#地来了。\"}\n",
            "{\"id\": 3000, \"candidates\": [\"一帆风顺\", \"二话不说\", \"三心二意\", \"四面八方\", \"五光十色\", \"六神无主\", \"七上八下\"], \"content\": \"成语题二：大家#idiom#。\"}\n",
        ),
    );
    write(
        &datasets.join("iflytek/test.json"),
        concat!(
            "{\"id\": 0, \"sentence\": \"应用题一：组队对战的手游。\"}\n",
            "{\"id\": 1, \"sentence\": \"应用题二：海量网文免费读。\"}\n",
            "{\"id\": 2, \"sentence\": \"应用题三：记录每天的花销。\"}\n",
        ),
    );
    let server = jianzhen_testkit::start(clue_script()).await;
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "store").await, 2).await;
    let spec = task_suite_spec(
        "fewclue-test",
        &[("fewclue_chid", &datasets), ("fewclue_iflytek", &datasets)],
        &server.base_url(),
    );
    let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(60)).await;
    assert_eq!(submitted.total_items, 5);
    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    // chid names the candidate by index; a refusal keeps its line with -1.
    assert_eq!(
        report_text(&files, "chidf_predict.json"),
        "{\"id\": 3001, \"answer\": 3}\n{\"id\": 3000, \"answer\": -1}\n"
    );
    // iflytek is answered by label name and submitted by label id; the default reply
    // names no label.
    assert_eq!(
        report_text(&files, "iflytekf_predict.json"),
        "{\"id\": 0, \"label\": \"16\"}\n{\"id\": 1, \"label\": \"36\"}\n{\"id\": 2, \"label\": \"\"}\n"
    );
    let markdown = report_text(&files, "report.md");
    for line in [
        "| scripted | fewclue_chid | 2 | 1 | 0 | 0 | 1 | 0 | `chidf_predict.json` |",
        "| scripted | fewclue_iflytek | 3 | 2 | 1 | 0 | 0 | 0 | `iflytekf_predict.json` |",
    ] {
        assert!(markdown.contains(line), "{line} in {markdown}");
    }
    cluster.shutdown().await;
}
