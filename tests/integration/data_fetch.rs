//! `jianzhen data fetch` against a local HTTP server standing in for the published
//! location: the archive's files are verified against the manifest's hashes and moved into
//! place; a file that does not match leaves nothing behind and is named.

use std::io::Write as _;

use jianzhen_testkit::fixtures::write_ceval;
use sha2::{Digest, Sha256};

use crate::common::*;

/// The fixture files as a zip wrapped in a top folder, as published archives often are,
/// and the manifest of their hashes.
fn archive_and_manifest(folder: &std::path::Path, files: &[&str]) -> (Vec<u8>, String) {
    archive_in(folder, files, "ceval-exam")
}

fn archive_in(folder: &std::path::Path, files: &[&str], top: &str) -> (Vec<u8>, String) {
    let mut buffer = std::io::Cursor::new(Vec::new());
    let mut writer = zip::ZipWriter::new(&mut buffer);
    let mut manifest = String::new();
    for path in files {
        let bytes = std::fs::read(folder.join(path)).expect("fixture file");
        writer
            .start_file(
                format!("{top}/{path}"),
                zip::write::SimpleFileOptions::default(),
            )
            .expect("zip entry");
        writer.write_all(&bytes).expect("zip write");
        manifest.push_str(&format!(
            "{path}\t{}\n",
            hex::encode(Sha256::digest(&bytes))
        ));
    }
    writer.finish().expect("zip finish");
    (buffer.into_inner(), manifest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetched_files_are_verified_before_they_are_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fixture = dir.path().join("published");
    write_ceval(&fixture, &[("law", 4), ("logic", 3)]).expect("fixture");
    let files = [
        "val/law_val.csv",
        "val/logic_val.csv",
        "dev/law_dev.csv",
        "dev/logic_dev.csv",
    ];
    let (archive, manifest) = archive_and_manifest(&fixture, &files);
    let server =
        jianzhen_testkit::start_file_server(vec![("/ceval-exam.zip".into(), archive)]).await;
    let url = format!("http://{}/ceval-exam.zip", server.address);
    let manifest_path = dir.path().join("manifest.tsv");
    std::fs::write(&manifest_path, &manifest).expect("manifest");

    let out = dir.path().join("data");
    let output = run_cli(vec![
        "data".into(),
        "fetch".into(),
        "ceval".into(),
        "--to".into(),
        out.display().to_string(),
        "--url".into(),
        url.clone(),
        "--manifest".into(),
        manifest_path.display().to_string(),
    ])
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for path in files {
        assert_eq!(
            std::fs::read(out.join("ceval").join(path)).expect("fetched file"),
            std::fs::read(fixture.join(path)).expect("fixture file"),
            "{path}"
        );
    }
    let checked = run_cli(vec![
        "suites".into(),
        "check".into(),
        "ceval".into(),
        "--data".into(),
        out.join("ceval").display().to_string(),
    ])
    .await;
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(String::from_utf8_lossy(&checked.stdout).contains("7 items in 2 subjects"));

    // A manifest that expects other bytes for one file: refused, named, nothing kept.
    let tampered = manifest.replacen(
        &manifest[manifest.find('\t').expect("tab") + 1..][..64],
        &"0".repeat(64),
        1,
    );
    std::fs::write(&manifest_path, tampered).expect("manifest");
    let refused_out = dir.path().join("refused");
    let output = run_cli(vec![
        "data".into(),
        "fetch".into(),
        "ceval".into(),
        "--to".into(),
        refused_out.display().to_string(),
        "--url".into(),
        url,
        "--manifest".into(),
        manifest_path.display().to_string(),
    ])
    .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("val/law_val.csv: sha256"), "{stderr}");
    assert!(stderr.contains("nothing was kept"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(&refused_out).expect("folder").collect();
    assert!(
        left.is_empty(),
        "no file or staging folder is left behind: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetched_task_suite_is_ready_to_run_from_the_printed_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fixture = dir.path().join("published");
    std::fs::create_dir_all(fixture.join("datasets")).expect("mkdir");
    std::fs::write(
        fixture.join("datasets/cmath_dev.jsonl"),
        "{\"grade\": 1, \"input\": \"1+1=?\", \"golden\": \"2\"}\n{\"grade\": 2, \"input\": \"2+2=?\", \"golden\": \"4\"}\n",
    )
    .expect("fixture");
    // GitHub archives wrap the repository in `{repo}-{commit}/`.
    let (archive, manifest) = archive_in(&fixture, &["datasets/cmath_dev.jsonl"], "cmath-9fa13ef");
    let server = jianzhen_testkit::start_file_server(vec![("/cmath.zip".into(), archive)]).await;
    let manifest_path = dir.path().join("manifest.tsv");
    std::fs::write(&manifest_path, &manifest).expect("manifest");
    let out = dir.path().join("data");
    let output = run_cli(vec![
        "data".into(),
        "fetch".into(),
        "cmath".into(),
        "--to".into(),
        out.display().to_string(),
        "--url".into(),
        format!("http://{}/cmath.zip", server.address),
        "--manifest".into(),
        manifest_path.display().to_string(),
    ])
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let data_folder = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert_eq!(
        std::path::PathBuf::from(&data_folder),
        out.join("cmath").join("datasets")
    );
    let checked = run_cli(vec![
        "suites".into(),
        "check".into(),
        "cmath".into(),
        "--data".into(),
        data_folder,
    ])
    .await;
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let stdout = String::from_utf8_lossy(&checked.stdout);
    assert!(stdout.contains("2 items in 2 subjects"), "{stdout}");
    assert!(stdout.contains("number 2"), "{stdout}");
}
