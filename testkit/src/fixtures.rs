//! Small fixture suites written for the project, in the published file formats: C-Eval
//! (`{split}/{subject}_{split}.csv`, CRLF, quoted cells with line breaks) and CMMLU
//! (`{split}/{subject}.csv` with an unnamed index column). Every question carries a unique
//! marker so a scripted model can answer it deterministically.

use std::fs;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureQuestion {
    pub subject: String,
    /// Unique text inside the question, for scripted answers.
    pub marker: String,
    pub options: [String; 4],
    pub answer: char,
}

const LETTERS: [char; 4] = ['A', 'B', 'C', 'D'];

fn question_text(marker: &str, index: usize) -> String {
    // Every third question spans two lines, as real C-Eval cells sometimes do.
    if index.is_multiple_of(3) {
        format!("测试题 {marker}：下列说法中哪一项是正确的？\n请仔细阅读后作答。")
    } else {
        format!("测试题 {marker}：下列说法中哪一项是正确的？")
    }
}

fn options_for(marker: &str) -> [String; 4] {
    ["甲", "乙", "丙", "丁"].map(|stem| format!("{stem}方案（{marker}）"))
}

fn csv_writer(path: &Path) -> std::io::Result<csv::Writer<fs::File>> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let file = fs::File::create(path)?;
    Ok(csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(file))
}

/// Writes a C-Eval-format suite: `val` with `count` items per subject, `dev` with five.
/// Answers cycle A, B, C, D.
///
/// # Errors
/// IO errors.
pub fn write_ceval(
    dir: &Path,
    subjects: &[(&str, usize)],
) -> std::io::Result<Vec<FixtureQuestion>> {
    let mut questions = Vec::new();
    for (subject, count) in subjects {
        let mut val = csv_writer(&dir.join("val").join(format!("{subject}_val.csv")))?;
        val.write_record(["id", "question", "A", "B", "C", "D", "answer"])?;
        for index in 0..*count {
            let marker = format!("CE-{subject}-{index}");
            let options = options_for(&marker);
            let answer = LETTERS[index % 4];
            val.write_record([
                index.to_string(),
                question_text(&marker, index),
                options[0].clone(),
                options[1].clone(),
                options[2].clone(),
                options[3].clone(),
                answer.to_string(),
            ])?;
            questions.push(FixtureQuestion {
                subject: subject.to_string(),
                marker,
                options,
                answer,
            });
        }
        val.flush()?;
        let mut dev = csv_writer(&dir.join("dev").join(format!("{subject}_dev.csv")))?;
        dev.write_record([
            "id",
            "question",
            "A",
            "B",
            "C",
            "D",
            "answer",
            "explanation",
        ])?;
        for index in 0..5 {
            let marker = format!("CE-DEV-{subject}-{index}");
            let options = options_for(&marker);
            dev.write_record([
                index.to_string(),
                question_text(&marker, index + 1),
                options[0].clone(),
                options[1].clone(),
                options[2].clone(),
                options[3].clone(),
                LETTERS[(index + 1) % 4].to_string(),
                format!("1. 解析{index}\n2. 因此选{}", LETTERS[(index + 1) % 4]),
            ])?;
        }
        dev.flush()?;
    }
    Ok(questions)
}

/// Writes a CMMLU-format suite: `test` with `count` items per subject, `dev` with five,
/// each file led by an unnamed index column. Answers cycle D, C, B, A.
///
/// # Errors
/// IO errors.
pub fn write_cmmlu(
    dir: &Path,
    subjects: &[(&str, usize)],
) -> std::io::Result<Vec<FixtureQuestion>> {
    let mut questions = Vec::new();
    for (subject, count) in subjects {
        for (split, rows) in [("test", *count), ("dev", 5)] {
            let mut writer = csv_writer(&dir.join(split).join(format!("{subject}.csv")))?;
            writer.write_record(["", "Question", "A", "B", "C", "D", "Answer"])?;
            for index in 0..rows {
                let marker = if split == "test" {
                    format!("CM-{subject}-{index}")
                } else {
                    format!("CM-DEV-{subject}-{index}")
                };
                let options = options_for(&marker);
                let answer = LETTERS[3 - index % 4];
                writer.write_record([
                    index.to_string(),
                    format!("{marker}：以下哪个选项正确？"),
                    options[0].clone(),
                    options[1].clone(),
                    options[2].clone(),
                    options[3].clone(),
                    answer.to_string(),
                ])?;
                if split == "test" {
                    questions.push(FixtureQuestion {
                        subject: subject.to_string(),
                        marker,
                        options,
                        answer,
                    });
                }
            }
            writer.flush()?;
        }
    }
    Ok(questions)
}
