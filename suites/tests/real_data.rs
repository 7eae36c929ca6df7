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
        skipped(&format!(
            "real benchmark data not found at {} (set JIANZHEN_REAL_DATA)",
            root.display()
        ));
        None
    }
}

/// Says on the terminal that the running test skipped (part of) its work: the harness
/// captures `eprintln!` of passing tests, not the stderr handle written to directly.
fn skipped(reason: &str) {
    use std::io::Write as _;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
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

/// The built-in specs must read the real files exactly as the hand-written loaders do,
/// and every template must render every real item (chat, and per-option texts where the
/// template scores options).
#[test]
fn builtin_specs_and_every_template_handle_the_real_files() {
    use jianzhen_suites::spec::{builtin_spec, load_with_spec};
    use jianzhen_suites::template::{
        ScoringMode, fixed_shots, render_choice_continuations, takes_shots, templates,
    };

    let Some(root) = real_data_root() else {
        return;
    };
    for (suite, data) in [
        (SuiteName::Ceval, root.join("ceval")),
        (SuiteName::Cmmlu, root.join("cmmlu").join("data")),
    ] {
        let split = suite.default_split();
        let spec = builtin_spec(suite).expect("builtin spec");
        let through_spec = load_with_spec(&spec, &data, split).expect("spec load");
        let by_hand = load_suite(suite, &data, split, &[], true).expect("hand load");
        assert_eq!(through_spec.items, by_hand.items, "{suite}");
        assert_eq!(through_spec.fewshot_pool, by_hand.fewshot_pool, "{suite}");
        assert_eq!(through_spec.files, by_hand.files, "{suite}");

        for info in templates().filter(|info| info.suite == suite) {
            for item in &by_hand.items {
                let chinese_name = subject_info(suite, &item.subject)
                    .expect("every subject is mapped")
                    .chinese_name;
                let count = if takes_shots(info.name) { 5 } else { 0 };
                let shots = fixed_shots(&item.subject, &by_hand.fewshot_pool[&item.subject], count)
                    .expect("five dev rows");
                render_chat(info.name, chinese_name, item, shots).expect("chat renders");
                if info.supports(ScoringMode::LoglikEcho) {
                    let prompts = render_choice_continuations(info.name, chinese_name, item, shots)
                        .expect("continuations render");
                    assert_eq!(prompts.options.len(), 4);
                }
            }
        }
    }
}
