//! Broken records in published files are left out visibly (file, record, subject,
//! reason) and the load goes on; `strict` refuses them with the same reason. Fixtures are
//! written for the project in each affected format, with one broken record of each kind.

use std::path::Path;

use jianzhen_suites::formats::ItemKind;
use jianzhen_suites::left_out::{LeftOut, RecordPolicy, counts};
use jianzhen_suites::load::load_suite_with;
use jianzhen_suites::spec::{SpecLoadOptions, load_spec_str, load_with_spec_options};
use jianzhen_suites::tasks::{TaskSuite, load_task_with};
use jianzhen_suites::{SuiteError, SuiteName};

fn write(dir: &Path, relative: &str, contents: &str) {
    let path = dir.join(relative);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, contents).expect("write");
}

fn left(file: &str, record: &str, subject: &str, reason: &str) -> LeftOut {
    LeftOut {
        file: file.to_string(),
        record: record.to_string(),
        subject: subject.to_string(),
        reason: reason.to_string(),
    }
}

/// AGIEval's `data/v1` as published holds an empty `label` list (`jec-qa-kd`) and a label
/// `。` (`jec-qa-ca`); here with a letter past the options as well.
const JEC_QA_KD: &str = concat!(
    r#"{"passage": null, "question": "甲的行为构成？", "options": ["(A)盗窃罪", "(B)诈骗罪", "(C)抢夺罪", "(D)无罪"], "label": ["B"], "answer": null}"#,
    "\n",
    r#"{"passage": null, "question": "乙的行为构成？", "options": ["(A)盗窃罪", "(B)诈骗罪", "(C)抢夺罪", "(D)无罪"], "label": [], "answer": null}"#,
    "\n",
    r#"{"passage": null, "question": "丙应当？", "options": ["(A)赔偿", "(B)道歉"], "label": "C", "answer": null}"#,
    "\n",
);
const JEC_QA_CA: &str = concat!(
    r#"{"passage": "案情……", "question": "法院应当？", "options": ["(A)受理", "(B)不予受理", "(C)移送", "(D)驳回"], "label": "A", "answer": null}"#,
    "\n",
    r#"{"passage": "案情……", "question": "下列说法正确的是？", "options": ["(A)一", "(B)二", "(C)三", "(D)四"], "label": "。", "answer": null}"#,
    "\n",
);

#[test]
fn agieval_broken_records_are_left_out_with_their_reasons() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "jec-qa-kd.jsonl", JEC_QA_KD);
    write(dir.path(), "jec-qa-ca.jsonl", JEC_QA_CA);
    let load = load_task_with(
        TaskSuite::Agieval,
        dir.path(),
        "test",
        RecordPolicy::LeaveOut,
    )
    .expect("the suite loads without its broken records");
    let ids: Vec<&str> = load.items.iter().map(|item| item.id.as_str()).collect();
    assert_eq!(ids, ["jec-qa-kd/1", "jec-qa-ca/1"]);
    assert!(matches!(load.items[0].kind, ItemKind::MultiChoice { .. }));
    assert_eq!(
        load.left_out,
        vec![
            left(
                "jec-qa-kd.jsonl",
                "line 2",
                "jec-qa-kd",
                "`label` is an empty list: the record names no answer"
            ),
            left(
                "jec-qa-kd.jsonl",
                "line 3",
                "jec-qa-kd",
                "`label` names a letter outside the 2 options"
            ),
            left(
                "jec-qa-ca.jsonl",
                "line 2",
                "jec-qa-ca",
                "`label` `。` is not an option letter"
            ),
        ]
    );
    let per_file = counts(&load.left_out);
    assert_eq!(
        per_file[&("jec-qa-kd.jsonl".to_string(), "jec-qa-kd".to_string())],
        2
    );
    // Files from which records were left out are hashed like any other.
    let files: Vec<(&str, usize)> = load
        .files
        .iter()
        .map(|file| (file.relative_path.as_str(), file.rows))
        .collect();
    assert_eq!(files, [("jec-qa-ca.jsonl", 1), ("jec-qa-kd.jsonl", 1)]);

    let error = load_task_with(TaskSuite::Agieval, dir.path(), "test", RecordPolicy::Refuse)
        .expect_err("strict refuses");
    let message = error.to_string();
    assert!(
        message.ends_with(
            "jec-qa-kd.jsonl:2: `label` is an empty list: the record names no answer; fix or remove this record"
        ),
        "{message}"
    );
}

#[test]
fn a_file_with_no_readable_record_still_stops_the_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Records in another suite's shape: every one lacks `question`.
    write(
        dir.path(),
        "logiqa-zh.jsonl",
        "{\"stem\": \"q\", \"label\": \"A\"}\n{\"stem\": \"q\", \"label\": \"B\"}\n",
    );
    let error = load_task_with(
        TaskSuite::Agieval,
        dir.path(),
        "test",
        RecordPolicy::LeaveOut,
    )
    .expect_err("wrong format");
    assert!(matches!(
        error,
        SuiteError::NothingReadable { left_out: 2, .. }
    ));
    let message = error.to_string();
    assert!(
        message.contains("logiqa-zh.jsonl: none of the 2 records"),
        "{message}"
    );
    assert!(
        message.contains("line 1: missing field `question`"),
        "{message}"
    );
}

#[test]
fn ceval_csv_broken_rows_are_left_out_and_counted_per_subject() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "val/law_val.csv",
        "id,question,A,B,C,D,answer\r\n0,好问题,1,2,3,4,A\r\n1,空选项,1,,3,4,B\r\n2,坏答案,1,2,3,4,E\r\n3,多答案,1,2,3,4,AB\r\n4,又一个好问题,1,2,3,4,D\r\n",
    );
    write(
        dir.path(),
        "val/art_val.csv",
        "id,question,A,B,C,D,answer\r\n0,问题,1,2,3,4,C\r\n1,问题,1,2,3,4,\r\n",
    );
    let loaded = load_suite_with(
        SuiteName::Ceval,
        dir.path(),
        "val",
        &[],
        false,
        RecordPolicy::LeaveOut,
    )
    .expect("loads");
    let ids: Vec<&str> = loaded.items.iter().map(|item| item.id.as_str()).collect();
    assert_eq!(ids, ["art/val/0", "law/val/0", "law/val/4"]);
    let listed: Vec<String> = loaded.left_out.iter().map(LeftOut::describe).collect();
    assert_eq!(
        listed,
        [
            "val/art_val.csv: line 3: the answer is empty",
            "val/law_val.csv: line 3: option B is empty",
            "val/law_val.csv: line 4: answer `E` is not a single letter A-D (multi-answer or lowercase answers are not supported)",
            "val/law_val.csv: line 5: answer `AB` is not a single letter A-D (multi-answer or lowercase answers are not supported)",
        ]
    );
    let per_subject = counts(&loaded.left_out);
    assert_eq!(
        per_subject[&("val/law_val.csv".to_string(), "law".to_string())],
        3
    );
    assert_eq!(
        per_subject[&("val/art_val.csv".to_string(), "art".to_string())],
        1
    );
    let error = load_suite_with(
        SuiteName::Ceval,
        dir.path(),
        "val",
        &[],
        false,
        RecordPolicy::Refuse,
    )
    .expect_err("strict");
    assert!(
        error
            .to_string()
            .contains("art_val.csv:3: the answer is empty"),
        "{error}"
    );
    // A missing column is a whole-file problem: it stops the load under any policy.
    write(
        dir.path(),
        "val/art_val.csv",
        "id,question,A,B,C,answer\r\n0,问题,1,2,3,C\r\n",
    );
    let error = load_suite_with(
        SuiteName::Ceval,
        dir.path(),
        "val",
        &[],
        false,
        RecordPolicy::LeaveOut,
    )
    .expect_err("no D column");
    assert!(
        error.to_string().contains("header has no `D` column"),
        "{error}"
    );
}

/// A spec written from docs/suite-spec.md for M3KE's layout: one JSONL file per
/// subject, options in columns `A`..`D`, answers withheld in `test`.
const M3KE_SPEC: &str = r#"
name = "m3ke"
version = "1"
format = "jsonl"
default_split = "dev"

[splits]
dev = "dev/{subject}.jsonl"
test = "test/{subject}.jsonl"

[fields]
question = "question"
options = { from = "columns", columns = ["A", "B", "C", "D"] }
answer = { from = "letter", field = "answer" }
answer_hidden_in = ["test"]

[subject]
from = "file"

[template]
builtin = "ceval_gen_5f30c7"
"#;

#[test]
fn spec_suite_leaves_out_an_empty_option_and_strict_refuses() {
    let spec = load_spec_str(M3KE_SPEC, "m3ke.toml").expect("spec");
    let dir = tempfile::tempdir().expect("tempdir");
    let subject = "Humanistic Medicine-Natural Sciences-College";
    write(
        dir.path(),
        &format!("test/{subject}.jsonl"),
        concat!(
            r#"{"id": 0, "question": "人体最大的器官是？", "A": "皮肤", "B": "肝脏", "C": "大脑", "D": "心脏", "answer": ""}"#,
            "\n",
            r#"{"id": 1, "question": "下列属于……", "A": "", "B": "乙", "C": "丙", "D": "丁", "answer": ""}"#,
            "\n",
            r#"{"id": 2, "question": "下列属于……", "A": "甲", "B": "乙", "C": "丙", "D": "丁"}"#,
            "\n",
        ),
    );
    let lenient = SpecLoadOptions::default();
    let load = load_with_spec_options(&spec, dir.path(), "test", &lenient).expect("loads");
    assert_eq!(load.items.len(), 2);
    assert!(load.items.iter().all(|item| item.answer.is_none()));
    assert_eq!(
        load.left_out,
        vec![left(
            &format!("test/{subject}.jsonl"),
            "line 2",
            subject,
            "option A is empty"
        )]
    );

    let strict = SpecLoadOptions {
        strict: true,
        ..SpecLoadOptions::default()
    };
    let error = load_with_spec_options(&spec, dir.path(), "test", &strict).expect_err("strict");
    assert!(
        error
            .to_string()
            .contains(&format!("{subject}.jsonl:2: option A is empty")),
        "{error}"
    );
    // `strict = true` in the spec refuses as `--strict` does.
    let strict_spec = load_spec_str(
        &M3KE_SPEC.replace(
            "default_split = \"dev\"",
            "default_split = \"dev\"\nstrict = true",
        ),
        "m3ke.toml",
    )
    .expect("spec");
    assert!(load_with_spec_options(&strict_spec, dir.path(), "test", &lenient).is_err());
}

/// Xiezhi-shaped records: the subject is a list of labels from broad to fine.
const XIEZHI_SPEC: &str = r#"
name = "xiezhi"
version = "1"
format = "json"

[splits]
test = "xiezhi.json"

[fields]
question = "question"
options = { from = "joined", field = "options" }
answer = { from = "text", field = "answer" }

[subject]
from = "field"
field = "labels"
pick = "first"

[categories]
"历史学" = "Humanities"
"医学" = "STEM"

[template]
user = "{question}\nA. {A}\nB. {B}\nC. {C}\n答案："
"#;

const XIEZHI_RECORDS: &str = r#"[
  {"question": "秦朝统一六国是在哪一年？", "options": "公元前221年\n公元前206年\n公元前202年", "answer": "公元前221年", "labels": ["历史学", "中国史"]},
  {"question": "青霉素最早由谁发现？", "options": "弗莱明\n巴斯德\n科赫", "answer": "弗莱明", "labels": ["医学", "基础医学", "病原生物学"]},
  {"question": "没有标签的题目", "options": "甲\n乙\n丙", "answer": "甲", "labels": []}
]"#;

#[test]
fn subjects_come_from_a_list_field_with_pick() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "xiezhi.json", XIEZHI_RECORDS);
    let spec = load_spec_str(XIEZHI_SPEC, "xiezhi.toml").expect("spec");
    let load = load_with_spec_options(&spec, dir.path(), "test", &SpecLoadOptions::default())
        .expect("loads");
    let subjects: Vec<(&str, Vec<&str>)> = load
        .items
        .iter()
        .map(|item| (item.subject.as_str(), spec.categories_of(&item.subject)))
        .collect();
    assert_eq!(
        subjects,
        [("医学", vec!["STEM"]), ("历史学", vec!["Humanities"])]
    );
    assert_eq!(
        load.left_out,
        vec![left(
            "xiezhi.json",
            "[2]",
            "",
            "subject field `labels` is an empty list: the record names no subject"
        )]
    );

    let last = load_spec_str(
        &XIEZHI_SPEC.replace("pick = \"first\"", "pick = \"last\""),
        "xiezhi.toml",
    )
    .expect("spec");
    let load = load_with_spec_options(&last, dir.path(), "test", &SpecLoadOptions::default())
        .expect("loads");
    let subjects: Vec<&str> = load
        .items
        .iter()
        .map(|item| item.subject.as_str())
        .collect();
    assert_eq!(subjects, ["中国史", "病原生物学"]);

    // `only` takes a list of one; these have more, so every record is left out, which
    // makes the file unreadable as a whole.
    let only = load_spec_str(
        &XIEZHI_SPEC.replace("pick = \"first\"", "pick = \"only\""),
        "xiezhi.toml",
    )
    .expect("spec");
    let error = load_with_spec_options(&only, dir.path(), "test", &SpecLoadOptions::default())
        .expect_err("no record has one label");
    assert!(
        error
            .to_string()
            .contains("`pick = \"only\"` takes a list of one"),
        "{error}"
    );

    // Without `pick`, a list is named as such, not as a wrong type.
    let no_pick = load_spec_str(
        &XIEZHI_SPEC.replace("pick = \"first\"\n", ""),
        "xiezhi.toml",
    )
    .expect("spec");
    let strict = SpecLoadOptions {
        strict: true,
        ..SpecLoadOptions::default()
    };
    let error =
        load_with_spec_options(&no_pick, dir.path(), "test", &strict).expect_err("list subject");
    assert!(
        error
            .to_string()
            .contains("is a list (2 entries); set `subject.pick`"),
        "{error}"
    );
}

#[test]
fn spec_csv_rows_of_the_wrong_width_and_json_non_objects_are_left_out() {
    use jianzhen_suites::spec::builtin_spec;
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "test/arts.csv",
        ",Question,A,B,C,D,Answer\n0,问题,1,2,3,4,A\n1,问题,1,2,3\n2,问题,1,2,3,4,C\n",
    );
    let spec = builtin_spec(SuiteName::Cmmlu).expect("spec");
    let options = SpecLoadOptions {
        skip_fewshot: true,
        ..SpecLoadOptions::default()
    };
    let load = load_with_spec_options(&spec, dir.path(), "test", &options).expect("loads");
    assert_eq!(load.items.len(), 2);
    assert_eq!(
        load.left_out,
        vec![left(
            "test/arts.csv",
            "line 3",
            "arts",
            "record has 5 columns but the header has 7"
        )]
    );

    write(
        dir.path(),
        "xiezhi.json",
        &XIEZHI_RECORDS.replacen("[\n", "[\n  \"不是对象\",\n", 1),
    );
    let spec = load_spec_str(XIEZHI_SPEC, "xiezhi.toml").expect("spec");
    let load = load_with_spec_options(&spec, dir.path(), "test", &SpecLoadOptions::default())
        .expect("loads");
    assert_eq!(load.items.len(), 2);
    assert_eq!(load.left_out[0].record, "[0]");
    assert_eq!(load.left_out[0].reason, "expected a JSON object");
}
