//! Bad input gets a clear error naming what is wrong and what to do, and a failing
//! command exits non-zero.

use std::process::Command;

use jianzhen_testkit::fixtures::write_ceval;

const BINARY: &str = env!("CARGO_BIN_EXE_jianzhen");

fn run(args: &[&str]) -> (bool, String) {
    let output = Command::new(BINARY)
        .args(args)
        .output()
        .expect("run jianzhen");
    // The exit status goes with the text, so a failure that printed nothing (a signal)
    // says so.
    (
        output.status.success(),
        format!(
            "{}\n[{}]",
            String::from_utf8_lossy(&output.stderr),
            output.status
        ),
    )
}

#[test]
fn a_missing_data_folder_is_named_with_the_expected_layout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nowhere");
    let out = dir.path().join("out");
    let (ok, stderr) = run(&[
        "run",
        "--suite",
        "ceval",
        "--data",
        missing.to_str().expect("utf-8 path"),
        "--endpoint",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "--out",
        out.to_str().expect("utf-8 path"),
        "--no-progress",
    ]);
    assert!(!ok);
    assert!(stderr.contains("nowhere"), "{stderr}");
}

#[test]
fn a_malformed_row_is_named_by_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    write_ceval(&data, &[("law", 4)]).expect("fixture");
    let file = data.join("val").join("law_val.csv");
    let mut text = std::fs::read_to_string(&file).expect("read fixture");
    text.push_str("99,坏的题目,甲,乙,丙,丁,E\r\n");
    std::fs::write(&file, text).expect("write fixture");
    let out = dir.path().join("out");
    let (ok, stderr) = run(&[
        "run",
        "--suite",
        "ceval",
        "--data",
        data.to_str().expect("utf-8 path"),
        "--endpoint",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "--out",
        out.to_str().expect("utf-8 path"),
        "--no-progress",
        // Without --strict the row is left out and the run goes on (tests/left_out.rs).
        "--strict",
    ]);
    assert!(!ok);
    // Header on line 1; rows 0 and 3 span two lines each, so the bad row starts on line 8.
    assert!(stderr.contains("law_val.csv:8"), "{stderr}");
    assert!(stderr.contains("`E`"), "{stderr}");
    // The check a user runs first names the same row as left out.
    let output = Command::new(BINARY)
        .args(["suites", "check", "ceval", "--data"])
        .arg(&data)
        .output()
        .expect("run check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("- val/law_val.csv: line 8: answer `E` is not a single letter A-D"),
        "{stdout}"
    );
}

#[test]
fn a_key_pasted_into_a_spec_is_refused_without_echoing_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = dir.path().join("run.toml");
    std::fs::write(
        &spec,
        "name = \"x\"\n[[suites]]\nname = \"ceval\"\ndata = \"d\"\n[[endpoints]]\nname = \"e\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\napi_key = \"sk-very-secret\"\n",
    )
    .expect("write spec");
    let out = dir.path().join("out");
    let (ok, stderr) = run(&[
        "run",
        "--spec",
        spec.to_str().expect("utf-8 path"),
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    assert!(!ok);
    assert!(stderr.contains("api_key_env"), "{stderr}");
    assert!(!stderr.contains("sk-very-secret"), "{stderr}");
}

#[test]
fn an_unreachable_coordinator_says_what_to_check() {
    let (ok, stderr) = run(&["status", "--coordinator", "http://127.0.0.1:1"]);
    assert!(!ok);
    assert!(stderr.contains("jianzhen coordinator"), "{stderr}");
}

#[test]
fn the_example_run_spec_is_valid_and_points_at_the_sample_suite() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-run.toml");
    let text = std::fs::read_to_string(&path).expect("read the example spec");
    let mut spec = jianzhen_coordinator::spec::RunSpec::from_toml(&text, "sample-run.toml")
        .expect("example spec is valid");
    spec.resolve_paths(path.parent().expect("examples folder"));
    let suites =
        jianzhen_coordinator::controller::prepare_suites(&spec).expect("the sample suite loads");
    assert_eq!(suites[0].items.len(), 50);
    assert_eq!(
        suites[0]
            .items
            .iter()
            .map(|item| item.subject)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        5
    );
}

#[test]
fn suites_list_names_the_templates_with_their_hashes() {
    let output = Command::new(BINARY)
        .args(["suites", "list"])
        .output()
        .expect("run jianzhen suites list");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    for template in [
        "ceval_gen_5f30c7",
        "cmmlu_gen_c13365",
        "ceval_ppl_578f8d",
        "lmeval_cmmlu",
        "gaokao_gen_5cfe9e",
        "fewclue_chid_gen_0a29a2",
        "cmath_evalscope_0shot",
        "fewclue_csldcp",
    ] {
        assert!(stdout.contains(template), "{stdout}");
    }
    assert!(
        stdout.contains("fc08b6f647a8376e"),
        "the template hash is shown: {stdout}"
    );
}

#[test]
fn suites_check_counts_a_suite_and_names_a_bad_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    write_ceval(&data, &[("law", 4), ("logic", 5)]).expect("fixture");
    let data_arg = data.to_str().expect("utf-8 path");
    let output = Command::new(BINARY)
        .args(["suites", "check", "ceval", "--data", data_arg])
        .output()
        .expect("run check");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("split `val`: 9 items in 2 subjects; 10 few-shot examples"),
        "{stdout}"
    );
    assert!(stdout.contains("val/logic_val.csv"), "{stdout}");

    let file = data.join("val").join("logic_val.csv");
    let mut text = std::fs::read_to_string(&file).expect("read fixture");
    text.push_str("9,缺选项的题,甲,乙,丙\r\n");
    std::fs::write(&file, text).expect("write fixture");
    let (ok, stderr) = run(&["suites", "check", "ceval", "--data", data_arg, "--strict"]);
    assert!(!ok);
    assert!(stderr.contains("logic_val.csv:"), "{stderr}");
    // Without --strict the record is left out, counted and named.
    let output = Command::new(BINARY)
        .args(["suites", "check", "ceval", "--data", data_arg])
        .output()
        .expect("run check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("split `val`: 9 items in 2 subjects"),
        "{stdout}"
    );
    assert!(stdout.contains("records left out: 1"), "{stdout}");
    assert!(
        stdout.contains("record has 5 columns but the header has 7"),
        "{stdout}"
    );
}

#[test]
fn suites_check_loads_a_declarative_spec() {
    let dir = tempfile::tempdir().expect("temp dir");
    let record = |qid: &str, topic: &str, label: usize| {
        format!(
            "{{\"qid\": \"{qid}\", \"topic\": \"{topic}\", \"stem\": \"题{qid}\", \"choices\": [\"A. 甲\", \"B. 乙\", \"C. 丙\"], \"label\": {label}}}\n"
        )
    };
    std::fs::write(
        dir.path().join("dev.jsonl"),
        record("d1", "library", 0) + &record("d2", "canteen", 1),
    )
    .expect("dev");
    std::fs::write(
        dir.path().join("test.jsonl"),
        record("t1", "library", 2) + &record("t2", "canteen", 0) + &record("t3", "canteen", 1),
    )
    .expect("test");
    let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("suites/specs/examples/campus_quiz.toml");
    let output = Command::new(BINARY)
        .args([
            "suites",
            "check",
            spec.to_str().expect("utf-8 path"),
            "--data",
            dir.path().to_str().expect("utf-8 path"),
        ])
        .output()
        .expect("run check");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("split `test`: 3 items in 2 subjects; 2 few-shot examples"),
        "{stdout}"
    );
    assert!(stdout.contains("campus_quiz_v1"), "{stdout}");

    // `suites show` on the spec file: counts and the first item's prompt.
    let output = Command::new(BINARY)
        .args([
            "suites",
            "show",
            spec.to_str().expect("utf-8 path"),
            "--data",
            dir.path().to_str().expect("utf-8 path"),
        ])
        .output()
        .expect("run show");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("split `test`: 3 items in 2 subjects"),
        "{stdout}"
    );
    assert!(stdout.contains("prompt of "), "{stdout}");
    // Items are ordered by subject: canteen's first question comes first.
    assert!(stdout.contains("以下是关于食堂的单项选择题"), "{stdout}");
    assert!(
        stdout.contains("题t2\nA. 甲\nB. 乙\nC. 丙\n答案："),
        "the first item's prompt: {stdout}"
    );
}

#[test]
fn suites_show_previews_a_task_suite_with_its_gold() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("c3-d-dev.json"),
        r#"[[["男：去哪儿？", "女：去学校。"], [{"question": "女的去哪儿?", "choice": ["商店", "学校", "家"], "answer": "学校"}], "d-1"]]"#,
    )
    .expect("c3-d");
    std::fs::write(
        dir.path().join("c3-m-dev.json"),
        r#"[[["短文。"], [{"question": "问?", "choice": ["春", "夏"], "answer": "夏"}], "m-1"]]"#,
    )
    .expect("c3-m");
    let output = Command::new(BINARY)
        .args([
            "suites",
            "show",
            "c3",
            "--data",
            dir.path().to_str().expect("utf-8"),
        ])
        .output()
        .expect("run show");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("2 items in 2 subjects; kinds: single choice 2"),
        "{stdout}"
    );
    assert!(stdout.contains("graded as choice, gold B"), "{stdout}");
    assert!(
        stdout.contains(
            "男：去哪儿？女：去学校。\n问：女的去哪儿?\nA. 商店\nB. 学校\nC. 家\nD. [NULL]\n"
        ),
        "the OpenCompass C3 prompt: {stdout}"
    );
    let (ok, stderr) = run(&[
        "suites",
        "show",
        "c3",
        "--data",
        "/nonexistent",
        "--split",
        "test",
    ]);
    assert!(!ok);
    assert!(stderr.contains("c3-d-test.json"), "{stderr}");
}

#[test]
fn the_local_provenance_example_spec_is_valid() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/provenance-local.toml");
    let text = std::fs::read_to_string(&path).expect("read the example spec");
    let spec = jianzhen_coordinator::spec::RunSpec::from_toml(&text, "provenance-local.toml")
        .expect("example spec is valid");
    assert!(spec.provenance);
    let vendors: Vec<Option<&str>> = spec
        .endpoints
        .iter()
        .map(|endpoint| endpoint.vendor.as_deref())
        .collect();
    assert_eq!(
        vendors,
        [Some("Alibaba"), Some("Hugging Face"), Some("Xingchen AI")]
    );
}
