//! Loads the real published C-Eval and CMMLU files when they are present beside the
//! project (`../shared/data`, or `JIANZHEN_REAL_DATA`), and checks the published counts.
//! The data is never part of the project (licences); without it these tests say so and
//! pass, since a fresh clone cannot have it.

use std::path::PathBuf;

use jianzhen_suites::SuiteName;
use jianzhen_suites::load::load_suite;
use jianzhen_suites::subjects::subject_info;
use jianzhen_suites::template::{default_template, render_chat};

fn real_data_root() -> Option<PathBuf> {
    let root = std::env::var_os("JIANZHEN_REAL_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    if root.is_dir() {
        Some(root)
    } else {
        eprintln!(
            "real benchmark data not found at {}; skipping",
            root.display()
        );
        None
    }
}

#[test]
fn ceval_real_files_load_with_published_counts() {
    let Some(root) = real_data_root() else {
        return;
    };
    let data = root.join("ceval");
    let val =
        load_suite(SuiteName::Ceval, &data, "val", &[], true).expect("C-Eval val and dev load");
    assert_eq!(val.items.len(), 1346);
    assert_eq!(val.fewshot_pool.values().map(Vec::len).sum::<usize>(), 260);
    assert_eq!(val.fewshot_pool.len(), 52);
    assert!(
        val.items
            .iter()
            .all(|item| item.answer.is_some() && item.options.len() == 4)
    );
    let test = load_suite(SuiteName::Ceval, &data, "test", &[], false).expect("C-Eval test loads");
    assert_eq!(test.items.len(), 12342);
    assert!(
        test.items.iter().all(|item| item.answer.is_none()),
        "test answers are hidden"
    );
    for item in &val.items {
        let info = subject_info(SuiteName::Ceval, &item.subject).expect("every subject is mapped");
        let shots = &val.fewshot_pool[&item.subject][..5];
        render_chat(
            default_template(SuiteName::Ceval),
            info.chinese_name,
            item,
            shots,
        )
        .expect("5-shot prompt renders");
    }
}

#[test]
fn cmmlu_real_files_load_with_published_counts() {
    let Some(root) = real_data_root() else {
        return;
    };
    let data = root.join("cmmlu").join("data");
    let test =
        load_suite(SuiteName::Cmmlu, &data, "test", &[], true).expect("CMMLU test and dev load");
    assert_eq!(test.items.len(), 11582);
    assert_eq!(test.fewshot_pool.values().map(Vec::len).sum::<usize>(), 335);
    let subjects: std::collections::BTreeSet<&str> = test
        .items
        .iter()
        .map(|item| item.subject.as_str())
        .collect();
    assert_eq!(subjects.len(), 67);
    assert!(
        subjects
            .iter()
            .all(|subject| subject_info(SuiteName::Cmmlu, subject).is_some())
    );
}
