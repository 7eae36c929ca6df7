//! Loads the real published files of the suites in `formats` when they are present
//! beside the project (`../shared/data`, or `JIANZHEN_REAL_DATA`) and checks the counts
//! published in the data README. Without the data these tests say so and pass: a fresh
//! clone cannot have it (licences).

use std::collections::BTreeMap;
use std::path::PathBuf;

use jianzhen_suites::formats::fewclue::{FewClueTask, load_task};
use jianzhen_suites::formats::{
    EvalItem, ItemKind, c3, cmath, cmrc2018, gaokao, ocnli, score, simpleqa,
};

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

fn kinds(items: &[EvalItem]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for item in items {
        let kind = match item.kind {
            ItemKind::SingleChoice { .. } => "single",
            ItemKind::MultiChoice { .. } => "multi",
            ItemKind::MultiQuestion { .. } => "multi_question",
            ItemKind::Span { .. } => "span",
            ItemKind::Numeric { .. } => "numeric",
            ItemKind::FreeText { .. } => "free_text",
            ItemKind::Withheld { .. } => "withheld",
        };
        *counts.entry(kind).or_insert(0) += 1;
    }
    counts
}

fn assert_unique_ids(items: &[EvalItem]) {
    let ids: std::collections::HashSet<&str> = items.iter().map(|item| item.id.as_str()).collect();
    assert_eq!(ids.len(), items.len(), "item ids are unique");
}

#[test]
fn gaokao_objective_questions() {
    let Some(root) = real_data_root() else { return };
    let items = gaokao::load_objective(&root.join("gaokao_bench")).expect("GAOKAO-Bench loads");
    assert_eq!(items.len(), 1781);
    assert_unique_ids(&items);
    let kinds = kinds(&items);
    eprintln!("gaokao: {} items, {kinds:?}", items.len());
    // Physics is the one multi_choice file (64 items).
    assert_eq!(kinds.get("multi"), Some(&64));
    // Scoring the gold answers against themselves earns every point.
    for item in &items {
        let gold = match &item.kind {
            ItemKind::SingleChoice { answer, .. } => {
                vec![std::collections::BTreeSet::from([*answer])]
            }
            ItemKind::MultiChoice { answers, .. } => vec![answers.clone()],
            ItemKind::MultiQuestion { answers, .. } => answers.clone(),
            _ => unreachable!("GAOKAO-Bench objective items are choice items"),
        };
        let points = item.points.expect("every GAOKAO item has points");
        let scored = score::score_choice_item(&item.kind, &gold, points).expect("choice item");
        assert_eq!(scored.earned, scored.possible, "{}", item.id);
    }
}

#[test]
fn c3_splits() {
    let Some(root) = real_data_root() else { return };
    let data = root.join("clue_c3/data");
    let dev = c3::load_split(&data, "dev").expect("C3 dev loads");
    let test = c3::load_split(&data, "test").expect("C3 test loads");
    eprintln!("c3: dev {}, test {}", dev.len(), test.len());
    assert_eq!(dev.len(), 3816);
    assert_eq!(test.len(), 3892);
    assert_unique_ids(&dev);
    assert_unique_ids(&test);
}

#[test]
fn cmrc2018_both_layouts() {
    let Some(root) = real_data_root() else { return };
    for (name, expected) in [("cmrc2018_dev.json", 3219), ("cmrc2018_trial.json", 1002)] {
        let plain = cmrc2018::load_file(&root.join("clue_cmrc2018/data").join(name))
            .expect("plain layout loads");
        let squad = cmrc2018::load_file(&root.join("clue_cmrc2018/squad-style-data").join(name))
            .expect("SQuAD-style layout loads");
        eprintln!(
            "cmrc2018 {name}: plain {}, squad {}",
            plain.len(),
            squad.len()
        );
        assert_eq!(plain.len(), expected);
        assert_eq!(squad.len(), expected);
        assert_unique_ids(&plain);
        // The two layouts hold the same questions, answers included.
        for (plain, squad) in plain.iter().zip(&squad) {
            assert_eq!((&plain.id, &plain.kind), (&squad.id, &squad.kind));
        }
        for item in &plain {
            let ItemKind::Span { answers } = &item.kind else {
                panic!("span items only")
            };
            assert_eq!(score::span_f1(&answers[0], answers), 1.0, "{}", item.id);
            assert!(score::span_em(&answers[0], answers), "{}", item.id);
        }
    }
}

#[test]
fn ocnli_dev_drops_unlabelled_records() {
    let Some(root) = real_data_root() else { return };
    let dev = ocnli::load_file(&root.join("clue_ocnli/data/ocnli/dev.json")).expect("dev loads");
    eprintln!(
        "ocnli dev: {} items, {} dropped",
        dev.items.len(),
        dev.dropped.len()
    );
    assert_eq!(dev.items.len() + dev.dropped.len(), 3000);
    assert_eq!(dev.dropped.len(), 50);
    let test = ocnli::load_file(&root.join("clue_ocnli/data/ocnli/test.json"));
    assert!(test.is_err(), "test.json hides labels");
}

/// OCNLI's `test.json` runs as a hidden split: all 3,000 records become items without
/// gold, none is left out, and the submission has one line per record in file order.
#[test]
fn ocnli_test_is_a_hidden_split_with_a_line_per_record() {
    use jianzhen_suites::left_out::RecordPolicy;
    use jianzhen_suites::tasks::submission::ClueSubmission;
    use jianzhen_suites::tasks::{TaskSuite, load_task_with};
    let Some(root) = real_data_root() else { return };
    let data = root.join("clue_ocnli/data/ocnli");
    let load = load_task_with(TaskSuite::Ocnli, &data, "test", RecordPolicy::Refuse)
        .expect("test.json loads as a hidden split");
    assert_eq!(load.items.len(), 3000);
    assert!(load.left_out.is_empty(), "{:?}", load.left_out);
    assert_eq!(kinds(&load.items).get("withheld"), Some(&3000));
    let submission = ClueSubmission::for_split(
        TaskSuite::Ocnli,
        "test",
        "clue_ocnli_gen_c4cb6c",
        &load.items,
        &load.left_out,
    )
    .expect("builds")
    .expect("hidden");
    let rendered = submission.render(&Default::default());
    assert_eq!((rendered.lines, rendered.answered), (3000, 0));
    let text = String::from_utf8(rendered.content).expect("utf-8");
    assert!(
        text.starts_with("{\"id\": 0, \"label\": \"\"}\n{\"id\": 1, "),
        "{text:.80}"
    );
}

#[test]
fn fewclue_tasks() {
    let Some(root) = real_data_root() else { return };
    let datasets = root.join("fewclue/datasets");
    let expected = [
        (FewClueTask::Tnews, 2010, 1098),
        (FewClueTask::Iflytek, 1749, 1373),
        (FewClueTask::Ocnli, 2520, 160),
        (FewClueTask::Cluewsc, 976, 159),
        (FewClueTask::Csl, 2838, 160),
        (FewClueTask::Csldcp, 1784, 2068),
        (FewClueTask::Bustm, 1772, 160),
        (FewClueTask::Eprstmt, 610, 160),
        (FewClueTask::Chid, 2002, 202),
    ];
    for (task, test_count, dev_count) in expected {
        let test = load_task(&datasets, task, "test_public.json").expect("test_public loads");
        let dev = load_task(&datasets, task, "dev_few_all.json").expect("dev_few_all loads");
        eprintln!(
            "fewclue {task}: test_public {}, dev_few_all {}",
            test.len(),
            dev.len()
        );
        assert_eq!((task, test.len(), dev.len()), (task, test_count, dev_count));
        assert_unique_ids(&test);
        assert_unique_ids(&dev);
    }
}

#[test]
fn simpleqa_and_cmath() {
    let Some(root) = real_data_root() else { return };
    let simpleqa = simpleqa::load_file(&root.join("chinese_simpleqa/data/chinese_simpleqa.jsonl"))
        .expect("SimpleQA loads");
    assert_eq!(simpleqa.len(), 3000);
    assert_unique_ids(&simpleqa);
    let dev = cmath::load_file(&root.join("cmath/datasets/cmath_dev.jsonl")).expect("CMATH loads");
    assert_eq!(dev.len(), 600);
    for item in &dev {
        let ItemKind::Numeric { answer } = &item.kind else {
            panic!("numeric items only")
        };
        assert_eq!(
            score::score_numeric(&format!("答案是{answer}"), answer),
            Some(true),
            "{}",
            item.id
        );
    }
    let distractor = cmath::load_file(&root.join("cmath/datasets/distractor.jsonl"))
        .expect("CMATH distractor loads");
    eprintln!(
        "simpleqa {}, cmath dev {}, distractor {}",
        simpleqa.len(),
        dev.len(),
        distractor.len()
    );
    assert_eq!(distractor.len(), 360);
}

/// Every item of every task suite on the real files renders with its default template
/// and has a gold answer that template can show (tnews by `label_desc`, OCNLI's letters).
#[test]
fn every_real_item_renders_and_has_a_gold_answer() {
    use jianzhen_suites::tasks::{TaskSuite, load_task, prompts};
    let Some(root) = real_data_root() else { return };
    let folder = |suite: TaskSuite| -> PathBuf {
        match suite {
            TaskSuite::Gaokao => root.join("gaokao_bench"),
            TaskSuite::Agieval => root.join("agieval"),
            TaskSuite::C3 => root.join("clue_c3/data"),
            TaskSuite::Cmrc2018 => root.join("clue_cmrc2018/squad-style-data"),
            TaskSuite::Ocnli => root.join("clue_ocnli/data/ocnli"),
            TaskSuite::FewClue(_) => root.join("fewclue/datasets"),
            TaskSuite::SimpleQa => root.join("chinese_simpleqa/data"),
            TaskSuite::Cmath => root.join("cmath/datasets"),
        }
    };
    let mut rendered = 0;
    for suite in TaskSuite::all() {
        let data = folder(suite);
        if !data.is_dir() {
            skipped(&format!("{suite}: no real data at {}", data.display()));
            continue;
        }
        let load = load_task(suite, &data, suite.default_split())
            .unwrap_or_else(|error| panic!("{suite} loads: {error}"));
        let template = prompts::default_template(suite);
        let mut golds: BTreeMap<String, usize> = BTreeMap::new();
        for item in &load.items {
            let messages = prompts::render(template, item)
                .unwrap_or_else(|error| panic!("{suite} {} renders: {error}", item.id));
            assert!(!messages[0].content.is_empty());
            assert!(
                !messages[0].content.contains("{question}"),
                "{suite} {}: a placeholder was left",
                item.id
            );
            let gold = prompts::item_gold(template, item)
                .unwrap_or_else(|error| panic!("{suite} {} has a gold: {error}", item.id));
            assert!(!gold.gold.is_empty(), "{suite} {}", item.id);
            *golds.entry(gold.gold.clone()).or_insert(0) += 1;
            rendered += 1;
        }
        eprintln!(
            "{suite}: {} items rendered with {template}; {} distinct gold answers",
            load.items.len(),
            golds.len()
        );
        // Label tasks use more than one answer: a mapping that sent every record to one
        // letter would show here.
        if matches!(
            suite,
            TaskSuite::FewClue(_) | TaskSuite::Ocnli | TaskSuite::C3
        ) {
            assert!(golds.len() > 1, "{suite}: gold answers {golds:?}");
        }
        // iflytek's prompt lists IFLYTEK's whole label set whatever the split, and the
        // file's 98 labels are among them under the same names.
        if suite == TaskSuite::FewClue(jianzhen_suites::formats::fewclue::FewClueTask::Iflytek) {
            let first = prompts::item_gold(template, &load.items[0]).expect("gold");
            assert_eq!(first.options.len(), 119, "{:?}", first.options);
            assert_eq!(golds.len(), 98, "distinct labels in test_public");
        }
    }
    eprintln!("{rendered} real items rendered");
}

/// Every published file loads with the counts it had, whatever the policy: leaving out
/// broken records changes nothing on these files, since none holds one; the only records
/// left out are OCNLI's 50 labelled `-`, which its own evaluation leaves out too.
#[test]
fn the_published_files_leave_out_only_ocnli_s_unlabelled_records() {
    use jianzhen_suites::SuiteName;
    use jianzhen_suites::left_out::RecordPolicy;
    use jianzhen_suites::load::load_suite_with;
    use jianzhen_suites::tasks::{TaskSuite, load_task_with};
    let Some(root) = real_data_root() else { return };
    for (suite, folder, splits) in [
        (
            SuiteName::Ceval,
            root.join("ceval"),
            ["val", "dev", "test"].as_slice(),
        ),
        (
            SuiteName::Cmmlu,
            root.join("cmmlu/data"),
            ["test", "dev"].as_slice(),
        ),
    ] {
        if !folder.is_dir() {
            continue;
        }
        for split in splits {
            let load = |policy| {
                load_suite_with(suite, &folder, split, &[], false, policy)
                    .unwrap_or_else(|error| panic!("{suite} {split}: {error}"))
            };
            let lenient = load(RecordPolicy::LeaveOut);
            assert!(
                lenient.left_out.is_empty(),
                "{suite} {split}: {:?}",
                lenient.left_out
            );
            assert_eq!(
                lenient.items,
                load(RecordPolicy::Refuse).items,
                "{suite} {split}"
            );
            eprintln!(
                "{suite} {split}: {} items, none left out",
                lenient.items.len()
            );
        }
    }
    let folders = [
        (TaskSuite::Gaokao, "gaokao_bench"),
        (TaskSuite::C3, "clue_c3/data"),
        (TaskSuite::Cmrc2018, "clue_cmrc2018/squad-style-data"),
        (TaskSuite::Ocnli, "clue_ocnli/data/ocnli"),
        (TaskSuite::SimpleQa, "chinese_simpleqa/data"),
        (TaskSuite::Cmath, "cmath/datasets"),
    ];
    let fewclue = TaskSuite::all()
        .into_iter()
        .filter(|suite| matches!(suite, TaskSuite::FewClue(_)))
        .map(|suite| (suite, "fewclue/datasets"));
    for (suite, folder) in folders.into_iter().chain(fewclue) {
        let data = root.join(folder);
        if !data.is_dir() {
            continue;
        }
        let split = suite.default_split();
        let lenient = load_task_with(suite, &data, split, RecordPolicy::LeaveOut)
            .unwrap_or_else(|error| panic!("{suite}: {error}"));
        let strict = load_task_with(suite, &data, split, RecordPolicy::Refuse)
            .unwrap_or_else(|error| panic!("{suite}: {error}"));
        assert_eq!(lenient.items, strict.items, "{suite}");
        let expected = if suite == TaskSuite::Ocnli { 50 } else { 0 };
        assert_eq!(
            lenient.left_out.len(),
            expected,
            "{suite}: {:?}",
            lenient.left_out
        );
        assert!(
            lenient
                .left_out
                .iter()
                .all(|record| record.reason.starts_with("label `-`")),
            "{suite}"
        );
        eprintln!(
            "{suite} {split}: {} items, {} left out",
            lenient.items.len(),
            lenient.left_out.len()
        );
    }
}
