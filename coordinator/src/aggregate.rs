//! Aggregation of scored items with polars: per subject, per category, per suite.
//!
//! Two suite averages are given, labelled: the mean over subjects (how C-Eval and CMMLU
//! publish their averages, and OpenCompass's naive average) and the mean over items.
//! Accuracy counts every planned-and-answered item in its denominator, including
//! `api_error` and `unextractable`, so failures never inflate a score; the outcome
//! columns show what the denominator holds.

use polars::prelude::*;
// The report's own `Column` (a table column) is imported below; a polars column is this.
use polars::prelude::Column as FrameColumn;

use jianzhen_suites::outcome::Outcome;

use crate::report::csv;
use crate::report::table::{Cell, Column, Table};
use crate::store::ScoredRow;

/// The aggregated tables, as polars frames.
pub struct Aggregates {
    /// endpoint, suite, subject, category, n, correct, points, accuracy, wrong, unextractable,
    /// truncated, refused, api_error, weight (sub-answers counted; n for most suites)
    /// truncated, refused, api_error
    pub by_subject: DataFrame,
    /// endpoint, suite, category, subjects, n, correct, accuracy_subject_mean, accuracy_item_mean
    pub by_category: DataFrame,
    /// endpoint, suite, subjects, n, correct, wrong, unextractable, truncated, refused,
    /// api_error,
    /// accuracy_subject_mean, accuracy_item_mean
    pub by_suite: DataFrame,
}

/// Rows per polars frame while aggregating: the rows are turned into a frame and summed
/// per subject one chunk at a time, so the aggregation's memory holds one chunk and the
/// per-subject sums, whatever the run's size (a 5M-row run once built one 5M-row frame
/// plus a copy of every key string, 3.95 GiB with the rows). A run smaller than a chunk
/// is aggregated in one pass, exactly as before.
pub const AGGREGATION_CHUNK_ROWS: usize = 65_536;

/// Partial per-subject sums kept before they are folded into one frame: bounds the
/// memory of the sums at this many times the number of subjects.
const PARTIAL_SUMS_BEFORE_FOLDING: usize = 16;

/// The grouping keys of the subject table.
const SUBJECT_KEYS: [&str; 4] = ["endpoint", "suite", "subject", "category"];

/// The per-subject sums, in the subject table's order; `n` is summed as a count.
const SUMMED_COLUMNS: [&str; 9] = [
    "n",
    "correct",
    "points",
    "weight",
    "wrong",
    "unextractable",
    "truncated",
    "refused",
    "api_error",
];

fn indicator(rows: &[ScoredRow], outcome: Outcome) -> Vec<i64> {
    rows.iter()
        .map(|row| i64::from(row.outcome == outcome))
        .collect()
}

fn text_column(name: &str, rows: &[ScoredRow], pick: fn(&ScoredRow) -> &str) -> FrameColumn {
    StringChunked::from_iter_values(name.into(), rows.iter().map(pick))
        .into_series()
        .into_column()
}

/// One chunk of rows summed per subject (the columns of [`SUBJECT_KEYS`] then
/// [`SUMMED_COLUMNS`]).
fn chunk_sums(rows: &[ScoredRow]) -> PolarsResult<DataFrame> {
    let items = DataFrame::new_infer_height(vec![
        text_column("endpoint", rows, |row| &row.endpoint),
        text_column("suite", rows, |row| &row.suite),
        text_column("subject", rows, |row| &row.subject),
        text_column("category", rows, |row| &row.category),
        FrameColumn::new("correct".into(), indicator(rows, Outcome::Correct)),
        FrameColumn::new(
            "points".into(),
            rows.iter()
                .map(|row| row.credit * row.weight)
                .collect::<Vec<f64>>(),
        ),
        FrameColumn::new(
            "weight".into(),
            rows.iter().map(|row| row.weight).collect::<Vec<f64>>(),
        ),
        FrameColumn::new("wrong".into(), indicator(rows, Outcome::Wrong)),
        FrameColumn::new(
            "unextractable".into(),
            indicator(rows, Outcome::Unextractable),
        ),
        FrameColumn::new("truncated".into(), indicator(rows, Outcome::Truncated)),
        FrameColumn::new("refused".into(), indicator(rows, Outcome::Refused)),
        FrameColumn::new("api_error".into(), indicator(rows, Outcome::ApiError)),
    ])?;
    let mut sums = vec![len().cast(DataType::Int64).alias("n")];
    sums.extend(
        SUMMED_COLUMNS
            .iter()
            .skip(1)
            .map(|name| col(*name).sum().alias(*name)),
    );
    items
        .lazy()
        .group_by(SUBJECT_KEYS.map(col))
        .agg(sums)
        .collect()
}

/// Partial per-subject sums folded into one: the sums of the sums, per subject.
fn fold_sums(partials: Vec<DataFrame>) -> PolarsResult<LazyFrame> {
    let frames: Vec<LazyFrame> = partials.into_iter().map(IntoLazy::lazy).collect();
    Ok(concat(frames, UnionArgs::default())?
        .group_by(SUBJECT_KEYS.map(col))
        .agg(
            SUMMED_COLUMNS
                .iter()
                .map(|name| col(*name).sum().alias(*name))
                .collect::<Vec<_>>(),
        ))
}

/// Aggregates rows as they come, a page at a time (from the store, or a chunk of a
/// slice): polars sums each chunk per subject and the partial sums are folded, so memory
/// is bounded by the chunk and the number of subjects, not by the run's rows.
///
/// ```text
/// let mut aggregator = Aggregator::default();
/// for page in pages { aggregator.push(&page)?; }
/// let aggregates = aggregator.finish()?;
/// ```
#[derive(Default)]
pub struct Aggregator {
    /// Per-subject sums of the chunks pushed so far, folded into one frame whenever
    /// [`PARTIAL_SUMS_BEFORE_FOLDING`] have gathered.
    partial_sums: Vec<DataFrame>,
}

impl Aggregator {
    /// Adds rows to the aggregation (any number: they are summed a chunk at a time).
    ///
    /// # Errors
    /// Polars errors (none are expected for well-formed rows).
    pub fn push(&mut self, rows: &[ScoredRow]) -> PolarsResult<()> {
        for chunk in rows.chunks(AGGREGATION_CHUNK_ROWS) {
            self.partial_sums.push(chunk_sums(chunk)?);
            if self.partial_sums.len() >= PARTIAL_SUMS_BEFORE_FOLDING {
                let partials = std::mem::take(&mut self.partial_sums);
                self.partial_sums.push(fold_sums(partials)?.collect()?);
            }
        }
        Ok(())
    }

    /// The tables of every row pushed.
    ///
    /// # Errors
    /// Polars errors (none are expected for well-formed rows).
    pub fn finish(mut self) -> PolarsResult<Aggregates> {
        if self.partial_sums.is_empty() {
            self.partial_sums.push(chunk_sums(&[])?);
        }
        tables_of_sums(fold_sums(self.partial_sums)?)
    }
}

/// # Errors
/// Polars errors (none are expected for well-formed rows).
pub fn aggregate(rows: &[ScoredRow]) -> PolarsResult<Aggregates> {
    let mut aggregator = Aggregator::default();
    aggregator.push(rows)?;
    aggregator.finish()
}

/// The subject, category and suite tables from the per-subject sums.
fn tables_of_sums(subject_sums: LazyFrame) -> PolarsResult<Aggregates> {
    // Accuracy is the mean credit: the share of correct answers for single-answer items,
    // with partial credit and span F1 where a task suite's items earn them. Items with
    // several sub-questions weigh as many (GAOKAO-Bench scores over sub-questions), so
    // points and the denominator are weighted; for every other suite the weight sum is n.
    let accuracy = |points: &str, weight: &str| {
        col(points).cast(DataType::Float64) / col(weight).cast(DataType::Float64)
    };
    let by_subject = subject_sums
        .with_column(accuracy("points", "weight").alias("accuracy"))
        .select([
            col("endpoint"),
            col("suite"),
            col("subject"),
            col("category"),
            col("n"),
            col("correct"),
            col("points"),
            col("accuracy"),
            col("wrong"),
            col("unextractable"),
            col("truncated"),
            col("refused"),
            col("api_error"),
            col("weight"),
        ])
        .sort(
            ["endpoint", "suite", "subject"],
            SortMultipleOptions::default(),
        )
        .collect()?;

    let by_category = per_category(&by_subject)?
        .lazy()
        .group_by([col("endpoint"), col("suite"), col("category")])
        .agg([
            len().cast(DataType::Int64).alias("subjects"),
            col("n").sum().alias("n"),
            col("correct").sum().alias("correct"),
            col("points").sum().alias("points"),
            col("weight").sum().alias("weight"),
            col("accuracy").mean().alias("accuracy_subject_mean"),
        ])
        .with_column(accuracy("points", "weight").alias("accuracy_item_mean"))
        .sort(
            ["endpoint", "suite", "category"],
            SortMultipleOptions::default(),
        )
        .collect()?;

    let by_suite = by_subject
        .clone()
        .lazy()
        .group_by([col("endpoint"), col("suite")])
        .agg([
            len().cast(DataType::Int64).alias("subjects"),
            col("n").sum().alias("n"),
            col("correct").sum().alias("correct"),
            col("points").sum().alias("points"),
            col("weight").sum().alias("weight"),
            col("wrong").sum().alias("wrong"),
            col("unextractable").sum().alias("unextractable"),
            col("truncated").sum().alias("truncated"),
            col("refused").sum().alias("refused"),
            col("api_error").sum().alias("api_error"),
            col("accuracy").mean().alias("accuracy_subject_mean"),
        ])
        .with_column(accuracy("points", "weight").alias("accuracy_item_mean"))
        .sort(["endpoint", "suite"], SortMultipleOptions::default())
        .collect()?;

    Ok(Aggregates {
        by_subject,
        by_category,
        by_suite,
    })
}

/// The subject table with one row per (subject, category) for subjects that a suite
/// counts in several categories (`|`-separated), so each category average includes them.
fn per_category(by_subject: &DataFrame) -> PolarsResult<DataFrame> {
    let mut endpoints = Vec::new();
    let mut suites = Vec::new();
    let mut categories = Vec::new();
    let mut counts = Vec::new();
    let mut corrects = Vec::new();
    let mut points = Vec::new();
    let mut weights = Vec::new();
    let mut accuracies = Vec::new();
    for row in 0..by_subject.height() {
        let category_list = text_at(by_subject, "category", row)?;
        for category in category_list.split('|') {
            endpoints.push(text_at(by_subject, "endpoint", row)?);
            suites.push(text_at(by_subject, "suite", row)?);
            categories.push(category.to_string());
            counts.push(int_at(by_subject, "n", row)?);
            corrects.push(int_at(by_subject, "correct", row)?);
            points.push(float_at(by_subject, "points", row)?);
            weights.push(float_at(by_subject, "weight", row)?);
            accuracies.push(float_at(by_subject, "accuracy", row)?);
        }
    }
    df!(
        "endpoint" => endpoints,
        "suite" => suites,
        "category" => categories,
        "n" => counts,
        "correct" => corrects,
        "points" => points,
        "weight" => weights,
        "accuracy" => accuracies,
    )
}

/// Reads a string cell.
pub fn text_at(frame: &DataFrame, name: &str, row: usize) -> PolarsResult<String> {
    Ok(frame
        .column(name)?
        .str()?
        .get(row)
        .unwrap_or_default()
        .to_string())
}

/// Reads an integer cell (any integer type).
pub fn int_at(frame: &DataFrame, name: &str, row: usize) -> PolarsResult<i64> {
    let column = frame.column(name)?.cast(&DataType::Int64)?;
    Ok(column.i64()?.get(row).unwrap_or(0))
}

/// Reads a float cell.
pub fn float_at(frame: &DataFrame, name: &str, row: usize) -> PolarsResult<f64> {
    let column = frame.column(name)?.cast(&DataType::Float64)?;
    Ok(column.f64()?.get(row).unwrap_or(f64::NAN))
}

/// A polars table as a report [`Table`]: its columns in order, text as text, integers
/// as counts and floats at full precision (as polars' own CSV writer prints them).
///
/// # Errors
/// Polars errors reading the cells.
pub fn table_of_frame(frame: &DataFrame) -> PolarsResult<Table> {
    let columns: Vec<(String, DataType)> = frame
        .get_column_names()
        .into_iter()
        .map(|name| name.to_string())
        .zip(frame.dtypes())
        .collect();
    let mut table = Table::new(columns.iter().map(|(name, dtype)| {
        if dtype.is_primitive_numeric() {
            Column::number(name.as_str())
        } else {
            Column::text(name.as_str())
        }
    }));
    for row in 0..frame.height() {
        let mut cells = Vec::with_capacity(columns.len());
        for (name, dtype) in &columns {
            cells.push(if dtype.is_float() {
                Cell::Float(float_at(frame, name, row)?)
            } else if dtype.is_integer() {
                Cell::Count(int_at(frame, name, row)?)
            } else {
                Cell::Text(text_at(frame, name, row)?)
            });
        }
        table.push(cells);
    }
    Ok(table)
}

/// `scores.csv`: one row per endpoint × suite × subject, the subject table's columns.
///
/// # Errors
/// Polars errors.
pub fn scores_csv(by_subject: &DataFrame) -> PolarsResult<Vec<u8>> {
    Ok(csv::table(&table_of_frame(by_subject)?))
}

pub use crate::stats::wilson_interval;

/// `results.parquet`: one row per answered item, with its prompt, raw response, extracted
/// answer, gold and outcome, for analysis outside Jianzhen.
///
/// # Errors
/// Polars errors.
pub fn results_parquet(rows: &[ScoredRow]) -> PolarsResult<Vec<u8>> {
    let text = |pick: fn(&ScoredRow) -> &str| {
        rows.iter()
            .map(|row| pick(row).to_string())
            .collect::<Vec<_>>()
    };
    let number = |pick: fn(&ScoredRow) -> i64| rows.iter().map(pick).collect::<Vec<_>>();
    let mut frame = df!(
        "endpoint" => text(|row| &row.endpoint),
        "suite" => text(|row| &row.suite),
        "subject" => text(|row| &row.subject),
        "category" => text(|row| &row.category),
        "item_id" => text(|row| &row.item_id),
        "repeat" => number(|row| i64::from(row.repeat)),
        "gold" => text(|row| &row.gold),
        "extracted" => rows.iter().map(|row| row.extracted.clone()).collect::<Vec<Option<String>>>(),
        "outcome" => text(|row| row.outcome.as_str()),
        "credit" => rows.iter().map(|row| row.credit).collect::<Vec<f64>>(),
        "finish_reason" => text(|row| &row.finish_reason),
        "latency_ms" => number(|row| i64::try_from(row.latency_ms).unwrap_or(i64::MAX)),
        "prompt_tokens" => number(|row| i64::from(row.prompt_tokens)),
        "completion_tokens" => number(|row| i64::from(row.completion_tokens)),
        "attempts" => number(|row| i64::from(row.attempts)),
        "throttled" => number(|row| i64::from(row.throttled)),
        "prompt_messages" => text(|row| &row.messages_json),
        "response" => text(|row| &row.response_text),
        "error_message" => text(|row| &row.error_message),
    )?;
    let mut buffer = Vec::new();
    ParquetWriter::new(&mut buffer).finish(&mut frame)?;
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(endpoint: &str, subject: &str, category: &str, outcome: &str) -> ScoredRow {
        ScoredRow {
            category: category.into(),
            ..ScoredRow::example(endpoint, subject, outcome)
        }
    }

    #[test]
    fn results_parquet_holds_one_row_per_item_with_the_raw_response() {
        let mut rows = vec![
            row("m", "law", "Humanities", "correct"),
            row("m", "law", "Humanities", "wrong"),
        ];
        rows[1].response_text = "答案是C".into();
        rows[1].extracted = Some("C".into());
        let bytes = results_parquet(&rows).expect("parquet");
        assert_eq!(&bytes[..4], b"PAR1");
        let frame = ParquetReader::new(std::io::Cursor::new(bytes))
            .finish()
            .expect("read back");
        assert_eq!(frame.height(), 2);
        assert_eq!(text_at(&frame, "response", 1).expect("cell"), "答案是C");
        assert_eq!(text_at(&frame, "extracted", 1).expect("cell"), "C");
        assert!(
            frame
                .column("extracted")
                .expect("column")
                .str()
                .expect("str")
                .get(0)
                .is_none()
        );
    }

    #[test]
    fn subject_category_and_suite_averages_are_computed_and_labelled() {
        let mut rows = Vec::new();
        // ancient_chinese (Humanities and China specific): 1 of 1 correct;
        // law (Humanities): 1 of 2 correct; logic (Humanities): 3 of 4 correct, 1 api_error;
        // computer_network (STEM): 0 of 1, unextractable.
        rows.push(row(
            "m",
            "ancient_chinese",
            "Humanities|China specific",
            "correct",
        ));
        rows.push(row("m", "law", "Humanities", "correct"));
        rows.push(row("m", "law", "Humanities", "wrong"));
        for outcome in ["correct", "correct", "correct", "api_error"] {
            rows.push(row("m", "logic", "Humanities", outcome));
        }
        rows.push(row("m", "computer_network", "STEM", "unextractable"));
        let aggregates = aggregate(&rows).expect("aggregates");

        let subjects = &aggregates.by_subject;
        assert_eq!(subjects.height(), 4);
        assert_eq!(text_at(subjects, "subject", 2).expect("cell"), "law");
        assert_eq!(int_at(subjects, "n", 3).expect("cell"), 4);
        assert!((float_at(subjects, "accuracy", 3).expect("cell") - 0.75).abs() < 1e-12);
        assert_eq!(int_at(subjects, "api_error", 3).expect("cell"), 1);

        // Categories in order: China specific, Humanities, STEM.
        let categories = &aggregates.by_category;
        assert_eq!(categories.height(), 3);
        assert_eq!(
            text_at(categories, "category", 0).expect("cell"),
            "China specific"
        );
        assert_eq!(int_at(categories, "n", 0).expect("cell"), 1);
        assert_eq!(
            text_at(categories, "category", 1).expect("cell"),
            "Humanities"
        );
        assert_eq!(int_at(categories, "subjects", 1).expect("cell"), 3);
        let humanities_subject_mean = (1.0 + 0.5 + 0.75) / 3.0;
        assert!(
            (float_at(categories, "accuracy_subject_mean", 1).expect("cell")
                - humanities_subject_mean)
                .abs()
                < 1e-12
        );
        assert!(
            (float_at(categories, "accuracy_item_mean", 1).expect("cell") - 5.0 / 7.0).abs()
                < 1e-12
        );

        // The suite counts every subject once, whatever its categories.
        let suites = &aggregates.by_suite;
        assert_eq!(int_at(suites, "n", 0).expect("cell"), 8);
        assert_eq!(int_at(suites, "unextractable", 0).expect("cell"), 1);
        let subject_mean = (1.0 + 0.5 + 0.75 + 0.0) / 4.0;
        assert!(
            (float_at(suites, "accuracy_subject_mean", 0).expect("cell") - subject_mean).abs()
                < 1e-12
        );

        let csv = String::from_utf8(scores_csv(subjects).expect("csv")).expect("utf-8");
        assert!(
            csv.starts_with("endpoint,suite,subject,category,n,correct,points,accuracy"),
            "{csv}"
        );
        assert!(
            csv.contains("m,ceval,logic,Humanities,4,3,3.0,0.75"),
            "{csv}"
        );
    }

    /// `scores.csv` is written through the report's CSV renderer; its bytes stay those of
    /// polars' CSV writer, which wrote it before (quoting, empty text, float digits).
    #[test]
    fn scores_csv_keeps_the_bytes_of_polars_csv_writer() {
        let mut frame = df!(
            "endpoint" => ["a,b", "say \"hi\"", "two\nlines", "", "模型|甲"],
            "n" => [1i64, 22, 333, -4, 0],
            "points" => [1.0f64, 2.0 / 3.0, 1e-7, 1.5e20, 0.0],
            "accuracy" => [f64::NAN, 0.1, 0.75, 123456.789, -0.0],
        )
        .expect("frame");
        let mut polars_bytes = Vec::new();
        CsvWriter::new(&mut polars_bytes)
            .include_header(true)
            .finish(&mut frame)
            .expect("polars csv");
        let ours = scores_csv(&frame).expect("csv");
        assert_eq!(
            String::from_utf8(ours).expect("utf-8"),
            String::from_utf8(polars_bytes).expect("utf-8")
        );
    }

    #[test]
    fn partial_credit_counts_in_accuracy_but_not_as_correct() {
        // A multi-select item earning half, a span scoring F1 2/3, one exact answer.
        let mut half = row("m", "physics", "STEM", "wrong");
        half.credit = 0.5;
        let mut span = row("m", "physics", "STEM", "wrong");
        span.credit = 2.0 / 3.0;
        let rows = vec![half, span, row("m", "physics", "STEM", "correct")];
        let aggregates = aggregate(&rows).expect("aggregates");
        let subjects = &aggregates.by_subject;
        assert_eq!(int_at(subjects, "correct", 0).expect("correct"), 1);
        let points = float_at(subjects, "points", 0).expect("points");
        assert!((points - (1.5 + 2.0 / 3.0)).abs() < 1e-12, "{points}");
        let accuracy = float_at(subjects, "accuracy", 0).expect("accuracy");
        assert!((accuracy - points / 3.0).abs() < 1e-12, "{accuracy}");
        let suite_mean = float_at(&aggregates.by_suite, "accuracy_item_mean", 0).expect("mean");
        assert!((suite_mean - accuracy).abs() < 1e-12);
    }

    #[test]
    fn items_with_sub_questions_weigh_as_many() {
        // Two sub-questions, one right (credit 0.5), and three sub-questions, all right:
        // 4 of 5 sub-answers, as GAOKAO-Bench scores a file, not (0.5 + 1) / 2.
        let mut two = row("m", "geography", "Other", "wrong");
        two.credit = 0.5;
        two.weight = 2.0;
        let mut three = row("m", "geography", "Other", "correct");
        three.weight = 3.0;
        let aggregates = aggregate(&[two, three]).expect("aggregates");
        let subjects = &aggregates.by_subject;
        assert_eq!(int_at(subjects, "n", 0).expect("n"), 2);
        let accuracy = float_at(subjects, "accuracy", 0).expect("accuracy");
        assert!((accuracy - 0.8).abs() < 1e-12, "{accuracy}");
        let item_mean = float_at(&aggregates.by_suite, "accuracy_item_mean", 0).expect("mean");
        assert!((item_mean - 0.8).abs() < 1e-12, "{item_mean}");
    }
}
