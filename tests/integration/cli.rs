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
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
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
    ]);
    assert!(!ok);
    // Header on line 1; rows 0 and 3 span two lines each, so the bad row starts on line 8.
    assert!(stderr.contains("law_val.csv:8"), "{stderr}");
    assert!(stderr.contains("`E`"), "{stderr}");
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
            .map(|item| &item.subject)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        5
    );
}
