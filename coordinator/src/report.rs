//! The report folder of a run: `report.md`, `report.html`, `scores.csv`,
//! `results.parquet` and `manifest.json`.
//!
//! Rendered at the coordinator from stored, scored results (so any client can ask for it
//! and a run can be re-reported without calling the model again). All outputs take their
//! figures from one [`Summary`], so they agree to the digit.
//!
//! # Layout
//! - [`table`]: a table as data ([`table::Table`]: columns, rows of typed cells) and a
//!   section as data ([`table::Section`]: heading, paragraphs, tables). How to move a
//!   section onto them is in its module doc.
//! - [`markdown`], [`html`], [`csv`]: one renderer per format, each rendering any table.
//! - [`tables`]: the score tables, built once from the summary ([`tables::ScoreTables`]);
//!   this file builds the rest (hidden split, API errors, judged suites, records left
//!   out) and writes `report.md`; `crate::html` lays out `report.html` around the same
//!   tables.
//! - The manifest is read once as its type ([`crate::planner::Manifest`]); the stored
//!   document is passed through untouched into `manifest.json`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::json;

use crate::aggregate;
use crate::error::CoordinatorError;
use crate::planner::Manifest;
use crate::store::{RunCounts, RunRecord, ScoredRow};
use crate::summary::{self, Summary};
use jianzhen_suites::outcome::Outcome;

pub mod csv;
pub mod html;
pub mod markdown;
pub mod table;
pub mod tables;

use table::{Cell, Column, Section, Table};
pub use table::{percent, percent_interval};
use tables::ScoreTables;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    pub name: String,
    pub content: Vec<u8>,
}

/// Everything a renderer needs.
pub struct ReportInput<'a> {
    pub record: &'a RunRecord,
    pub counts: &'a RunCounts,
    /// The run's manifest, read as its type.
    pub manifest: &'a Manifest,
    /// The stored manifest document as written (`manifest.json`, and shown whole in
    /// `report.html`): passed through, never read field by field.
    pub manifest_document: &'a serde_json::Value,
    pub summary: &'a Summary,
    /// The score tables, built once from the summary; both pages render them.
    pub tables: &'a ScoreTables,
    pub rows: &'a [ScoredRow],
    /// The provenance audit's Markdown section, when the run collected probes.
    pub provenance_markdown: Option<&'a str>,
    /// A vendor's view: aggregate scores only, without the operator's paths and the
    /// pointers to per-item files (which a vendor does not get).
    pub vendor_view: bool,
    /// The section on hidden splits (predictions for a leaderboard, no accuracy), when
    /// the run evaluated one.
    pub hidden: Option<&'a Section>,
}

/// The provenance audit of a run, for the report.
pub struct ProvenanceReport {
    pub markdown: String,
    /// `provenance.json`: the findings per endpoint.
    pub findings_json: Vec<u8>,
}

/// # Errors
/// Aggregation errors; a stored manifest that does not read as a manifest.
pub fn render(
    record: &RunRecord,
    counts: &RunCounts,
    rows: &[ScoredRow],
    provenance: Option<&ProvenanceReport>,
) -> Result<Vec<ReportFile>, CoordinatorError> {
    let all_rows = rows;
    let ScoredView {
        hidden_rows,
        scored_rows,
        aggregates,
        summary,
        manifest,
        manifest_document,
    } = scored_view(record, rows)?;
    let rows: &[ScoredRow] = &scored_rows;
    let predictions = predictions(&manifest, &hidden_rows)?;
    let hidden =
        (!predictions.is_empty()).then(|| hidden_split_section(&hidden_rows, &predictions));
    let tables = ScoreTables::build(&summary);
    let input = ReportInput {
        record,
        counts,
        manifest: &manifest,
        manifest_document: &manifest_document,
        summary: &summary,
        tables: &tables,
        rows,
        provenance_markdown: provenance.map(|report| report.markdown.as_str()),
        vendor_view: false,
        hidden: hidden.as_ref(),
    };

    let mut full_manifest = manifest_document.clone();
    full_manifest["report"] = json!({
        "state": record.state,
        "total_items": counts.total_items,
        "answered_items": counts.done_items,
        "outcomes": counts.outcomes.iter().map(|(outcome, count)| (outcome.as_str().to_string(), json!(count))).collect::<serde_json::Map<_, _>>(),
        "bootstrap": {"resamples": summary::BOOTSTRAP_RESAMPLES, "seed": summary::BOOTSTRAP_SEED},
    });
    let manifest_bytes = serde_json::to_vec_pretty(&full_manifest)
        .map_err(|error| CoordinatorError::Internal(error.to_string()))?;

    let mut report_md = markdown_report(&input);
    if let Some(section) = &hidden {
        // Right after the run's summary lines, before any score table.
        let at = report_md.find("## ").unwrap_or(report_md.len());
        report_md.insert_str(at, &markdown::section(section));
    }
    let mut files = vec![
        ReportFile {
            name: "report.md".to_string(),
            content: report_md.into_bytes(),
        },
        ReportFile {
            name: "report.html".to_string(),
            content: crate::html::render(&input).into_bytes(),
        },
        ReportFile {
            name: "scores.csv".to_string(),
            content: aggregate::scores_csv(&aggregates.by_subject)?,
        },
        ReportFile {
            name: "results.parquet".to_string(),
            // Every item with its prompt and raw reply, hidden-split predictions included.
            content: aggregate::results_parquet(all_rows)?,
        },
        ReportFile {
            name: "manifest.json".to_string(),
            content: manifest_bytes,
        },
    ];
    for prediction in predictions {
        files.push(prediction.file);
    }
    if let Some(provenance) = provenance {
        files.push(ReportFile {
            name: "provenance.json".to_string(),
            content: provenance.findings_json.clone(),
        });
    }
    Ok(files)
}

/// What every view of a report starts from: the run's rows with a hidden split's
/// predictions kept apart (they have no gold: replies for the benchmark's leaderboard,
/// kept out of every score), the scored rows' aggregates and summary, and the stored
/// manifest, read as its type (and kept as the document it is, for `manifest.json`).
struct ScoredView<'a> {
    hidden_rows: Vec<ScoredRow>,
    /// The run's rows themselves when no row belongs to a hidden split (the usual case:
    /// a large run's rows are not copied), otherwise a copy of the scored ones.
    scored_rows: Cow<'a, [ScoredRow]>,
    aggregates: aggregate::Aggregates,
    summary: summary::Summary,
    manifest: Manifest,
    manifest_document: serde_json::Value,
}

fn scored_view<'a>(
    record: &RunRecord,
    rows: &'a [ScoredRow],
) -> Result<ScoredView<'a>, CoordinatorError> {
    let is_hidden = |row: &ScoredRow| row.gold.is_empty();
    let (hidden_rows, scored_rows) = if rows.iter().any(is_hidden) {
        let (hidden, scored): (Vec<ScoredRow>, Vec<ScoredRow>) =
            rows.iter().cloned().partition(|row| is_hidden(row));
        (hidden, Cow::Owned(scored))
    } else {
        (Vec::new(), Cow::Borrowed(rows))
    };
    let aggregates = aggregate::aggregate(&scored_rows)?;
    let summary = summary::summarise(&aggregates, &scored_rows)?;
    let unreadable = |error: serde_json::Error| {
        CoordinatorError::Internal(format!(
            "the stored manifest of run {} does not read as a manifest ({error}): the store was written by an incompatible version; report the run with that version",
            record.run_id
        ))
    };
    let manifest_document: serde_json::Value =
        serde_json::from_str(&record.manifest_json).map_err(unreadable)?;
    let manifest: Manifest = serde_json::from_str(&record.manifest_json).map_err(unreadable)?;
    Ok(ScoredView {
        hidden_rows,
        scored_rows,
        aggregates,
        summary,
        manifest,
        manifest_document,
    })
}

/// The report a vendor gets of its own run: `report.md` with aggregate tables only and
/// `scores.csv` (per subject). No `results.parquet`, `report.html` (example items),
/// `manifest.json` (the operator's data paths) or provenance files: nothing per item, no
/// gold answer.
///
/// # Errors
/// Aggregation errors; a stored manifest that does not read as a manifest.
pub fn render_vendor_view(
    record: &RunRecord,
    counts: &RunCounts,
    rows: &[ScoredRow],
) -> Result<Vec<ReportFile>, CoordinatorError> {
    let ScoredView {
        scored_rows,
        aggregates,
        summary,
        manifest,
        manifest_document,
        ..
    } = scored_view(record, rows)?;
    let tables = ScoreTables::build(&summary);
    let input = ReportInput {
        record,
        counts,
        manifest: &manifest,
        manifest_document: &manifest_document,
        summary: &summary,
        tables: &tables,
        rows: &scored_rows,
        provenance_markdown: None,
        vendor_view: true,
        hidden: None,
    };
    Ok(vec![
        ReportFile {
            name: "report.md".to_string(),
            content: markdown_report(&input).into_bytes(),
        },
        ReportFile {
            name: "scores.csv".to_string(),
            content: aggregate::scores_csv(&aggregates.by_subject)?,
        },
    ])
}

/// The predictions file of one suite's hidden split, with what it holds.
pub struct Predictions {
    pub suite: String,
    pub file: ReportFile,
    /// Questions with a prediction, and questions (CLUE: lines) in all, over every
    /// endpoint.
    pub answered: usize,
    pub items: usize,
    /// Lines of a CLUE-format file for records the run did not ask (a limit): they carry
    /// no prediction.
    pub unasked: usize,
}

/// The predictions files of the run's hidden splits, one per suite whose manifest names
/// one: `{"subject": {"id": "A", …}, …}`, C-Eval's leaderboard format (keyed by the test
/// files' `id`), with only the answered questions; or, for OCNLI and FewCLUE (a manifest
/// `submission`), CLUE's format: a line per record of the test file, in its order (see
/// [`jianzhen_suites::tasks::submission`]). With several endpoints or repeats the file is
/// per endpoint (`{endpoint}/…`) and the first repeat is taken.
///
/// # Errors
/// JSON serialisation failures.
pub fn predictions(
    manifest: &Manifest,
    hidden_rows: &[ScoredRow],
) -> Result<Vec<Predictions>, CoordinatorError> {
    let mut files = Vec::new();
    let endpoints: std::collections::BTreeSet<&str> = hidden_rows
        .iter()
        .map(|row| row.endpoint.as_str())
        .collect();
    for suite in &manifest.suites {
        let Some(file_name) = suite.predictions_file.as_deref() else {
            continue;
        };
        let name = suite.suite.as_str();
        // A manifest written before splits were recorded ran C-Eval's `test`.
        let split = if suite.split.is_empty() {
            "test"
        } else {
            suite.split.as_str()
        };
        let clue = suite.submission.as_ref();
        for endpoint in &endpoints {
            if let Some(clue) = clue {
                let rows: Vec<&ScoredRow> = hidden_rows
                    .iter()
                    .filter(|row| row.suite == name && row.endpoint == *endpoint && row.repeat == 0)
                    .collect();
                if rows.is_empty() {
                    continue;
                }
                let readings: BTreeMap<String, String> = rows
                    .iter()
                    .filter(|row| row.outcome == Outcome::Answered)
                    .filter_map(|row| Some((row.item_id.clone(), row.extracted.clone()?)))
                    .collect();
                let rendered = clue.render(&readings);
                files.push(Predictions {
                    suite: name.to_string(),
                    file: ReportFile {
                        name: report_file_name(&endpoints, endpoint, file_name),
                        content: rendered.content,
                    },
                    answered: rendered.answered,
                    items: rendered.lines,
                    unasked: rendered.lines.saturating_sub(rows.len()),
                });
                continue;
            }
            let mut by_subject: BTreeMap<String, serde_json::Map<String, serde_json::Value>> =
                BTreeMap::new();
            let mut items = 0;
            let mut answered = 0;
            for row in hidden_rows
                .iter()
                .filter(|row| row.suite == name && row.endpoint == *endpoint && row.repeat == 0)
            {
                items += 1;
                // Item ids are `{subject}/{split}/{row id}`; the row id is the file's.
                let prefix = format!("{}/{split}/", row.subject);
                let id = row.item_id.strip_prefix(&prefix).unwrap_or(&row.item_id);
                let entry = by_subject.entry(row.subject.clone()).or_default();
                if let (Some(letter), true) = (&row.extracted, row.outcome == Outcome::Answered) {
                    entry.insert(id.to_string(), json!(letter));
                    answered += 1;
                }
            }
            if items == 0 {
                continue;
            }
            // Ids in numeric order where they are numbers, as the files list them.
            let document: serde_json::Map<String, serde_json::Value> = by_subject
                .into_iter()
                .map(|(subject, answers)| {
                    let mut answers: Vec<(String, serde_json::Value)> =
                        answers.into_iter().collect();
                    answers.sort_by(|(left, _), (right, _)| {
                        match (left.parse::<u64>(), right.parse::<u64>()) {
                            (Ok(left), Ok(right)) => left.cmp(&right),
                            _ => left.cmp(right),
                        }
                    });
                    let answers: serde_json::Map<String, serde_json::Value> =
                        answers.into_iter().collect();
                    (subject, serde_json::Value::Object(answers))
                })
                .collect();
            let content = serde_json::to_vec(&serde_json::Value::Object(document))
                .map_err(|error| CoordinatorError::Internal(error.to_string()))?;
            files.push(Predictions {
                suite: name.to_string(),
                file: ReportFile {
                    name: report_file_name(&endpoints, endpoint, file_name),
                    content,
                },
                answered,
                items,
                unasked: 0,
            });
        }
    }
    Ok(files)
}

/// A predictions file's name in the report: per endpoint (`{endpoint}/…`) when the run
/// has several.
fn report_file_name(
    endpoints: &std::collections::BTreeSet<&str>,
    endpoint: &str,
    file_name: &str,
) -> String {
    if endpoints.len() > 1 {
        format!("{endpoint}/{file_name}")
    } else {
        file_name.to_string()
    }
}

/// The report's section on hidden splits: no accuracy, the outcome counts, and the file
/// to submit.
fn hidden_split_section(hidden_rows: &[ScoredRow], predictions: &[Predictions]) -> Section {
    let mut section = Section::new("Hidden test split: predictions for the leaderboard");
    section.paragraph(
        "The benchmark withholds this split's answers, so **no accuracy exists for it here**: the replies are predictions, written for the benchmark's own leaderboard. Submit the file named below as the benchmark asks (C-Eval: its website's submission page; CLUE and FewCLUE: their leaderboard's upload, one `*_predict.json` per task). Only *answered* questions (a readable option letter or label) carry a prediction; unextractable, truncated and refused replies and API errors do not, and count as missing there: C-Eval's file leaves them out, CLUE's keeps their line with an empty label (chid: `-1`), since CLUE's scorer compares the file with the test file line by line (`jianzhen retry` asks again after API errors).",
    );
    let mut table = Table::new([
        Column::text("endpoint"),
        Column::text("suite"),
        Column::number("questions"),
        Column::number("answered"),
        Column::number("unextractable"),
        Column::number("truncated"),
        Column::number("refused"),
        Column::number("api_error"),
        Column::text("file"),
    ]);
    let mut counts: BTreeMap<(String, String), BTreeMap<Outcome, u64>> = BTreeMap::new();
    for row in hidden_rows.iter().filter(|row| row.repeat == 0) {
        *counts
            .entry((row.endpoint.clone(), row.suite.clone()))
            .or_default()
            .entry(row.outcome)
            .or_insert(0) += 1;
    }
    for ((endpoint, suite), outcomes) in &counts {
        let file = predictions
            .iter()
            .find(|prediction| {
                prediction.suite == *suite
                    && (prediction.file.name.starts_with(&format!("{endpoint}/"))
                        || !prediction.file.name.contains('/'))
            })
            .map_or(String::new(), |prediction| prediction.file.name.clone());
        let count = |outcome: Outcome| Cell::count(outcomes.get(&outcome).copied().unwrap_or(0));
        table.push([
            Cell::text(endpoint),
            Cell::text(suite),
            Cell::count(outcomes.values().sum::<u64>()),
            count(Outcome::Answered),
            count(Outcome::Unextractable),
            count(Outcome::Truncated),
            count(Outcome::Refused),
            count(Outcome::ApiError),
            Cell::Code(file),
        ]);
    }
    section.table(table);
    for prediction in predictions
        .iter()
        .filter(|prediction| prediction.unasked > 0)
    {
        section.paragraph(format!(
            "`{}` has a line for each of the test file's {} records; {} of them were not asked in this run (a limit), so their lines carry no prediction and the file is not a full submission.",
            prediction.file.name, prediction.items, prediction.unasked
        ));
    }
    section
}

/// How many items of one endpoint ended in `api_error` with one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiErrorCount {
    pub endpoint: String,
    pub message: String,
    pub items: u64,
}

/// Distinct messages shown per run in `report.md` (and printed by `jianzhen run`); the
/// rest are counted in one line and are in `results.parquet`.
pub const API_ERROR_MESSAGES_SHOWN: usize = 5;

/// The `api_error` items grouped by endpoint and message, most frequent first: a run
/// whose items all fail says why in one line (a wrong key, an endpoint without echo)
/// instead of leaving the reason in the store.
pub fn api_error_counts(rows: &[ScoredRow]) -> Vec<ApiErrorCount> {
    let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for row in rows.iter().filter(|row| row.outcome == Outcome::ApiError) {
        *counts
            .entry((row.endpoint.as_str(), row.error_message.as_str()))
            .or_default() += 1;
    }
    let mut counts: Vec<ApiErrorCount> = counts
        .into_iter()
        .map(|((endpoint, message), items)| ApiErrorCount {
            endpoint: endpoint.to_string(),
            message: message.to_string(),
            items,
        })
        .collect();
    // Stable: equal counts keep the (endpoint, message) order of the map.
    counts.sort_by_key(|count| std::cmp::Reverse(count.items));
    counts
}

/// The API errors shown in the reports (the [`API_ERROR_MESSAGES_SHOWN`] most frequent
/// messages), as a table.
pub fn api_errors_table(counts: &[ApiErrorCount]) -> Table {
    let mut table = Table::new([
        Column::text("endpoint"),
        Column::number("items"),
        Column::text("message"),
    ]);
    for error in counts.iter().take(API_ERROR_MESSAGES_SHOWN) {
        table.push([
            Cell::text(&error.endpoint),
            Cell::count(error.items),
            Cell::LongText(error.message.clone()),
        ]);
    }
    table
}

/// Verdict counts of one endpoint on one judged suite.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JudgedMetrics {
    pub endpoint: String,
    pub suite: String,
    /// Judged answers (API errors and truncated answers are not judged).
    pub total: u64,
    pub correct: u64,
    pub incorrect: u64,
    pub not_attempted: u64,
    /// Answers that contain a reference (the grading used without a judge): a check on
    /// the judge.
    pub reference_matches: u64,
    /// Answers the judge called correct that contain no reference: a judge that accepts
    /// many of these deserves a look.
    pub accepted_without_reference: u64,
}

impl JudgedMetrics {
    fn ratio(numerator: u64, denominator: u64) -> f64 {
        if denominator == 0 {
            return 0.0;
        }
        numerator as f64 / denominator as f64
    }

    pub fn correct_share(&self) -> f64 {
        Self::ratio(self.correct, self.total)
    }

    pub fn given_attempted(&self) -> f64 {
        Self::ratio(self.correct, self.correct + self.incorrect)
    }

    /// Chinese SimpleQA's F1: harmonic mean of correct / all and correct / attempted.
    pub fn f1(&self) -> f64 {
        let (share, attempted) = (self.correct_share(), self.given_attempted());
        if share + attempted == 0.0 {
            return 0.0;
        }
        2.0 * share * attempted / (share + attempted)
    }
}

/// Verdict counts per (endpoint, suite) over the rows a judge graded.
pub fn judged_metrics(rows: &[ScoredRow]) -> Vec<JudgedMetrics> {
    let mut metrics: std::collections::BTreeMap<(String, String), JudgedMetrics> =
        std::collections::BTreeMap::new();
    for row in rows {
        let Some(verdict) = row
            .extracted
            .as_deref()
            .and_then(|extracted| extracted.strip_prefix("judge:"))
        else {
            continue;
        };
        let entry = metrics
            .entry((row.endpoint.clone(), row.suite.clone()))
            .or_insert_with(|| JudgedMetrics {
                endpoint: row.endpoint.clone(),
                suite: row.suite.clone(),
                ..JudgedMetrics::default()
            });
        entry.total += 1;
        let matches = jianzhen_suites::tasks::grade::grade_reply(
            jianzhen_suites::tasks::grade::AnswerKind::FreeText,
            &row.gold,
            &[],
            &row.response_text,
        )
        .outcome
            == jianzhen_suites::outcome::Outcome::Correct;
        entry.reference_matches += u64::from(matches);
        entry.accepted_without_reference += u64::from(verdict == "correct" && !matches);
        match verdict {
            "correct" => entry.correct += 1,
            "incorrect" => entry.incorrect += 1,
            _ => entry.not_attempted += 1,
        }
    }
    metrics.into_values().collect()
}

/// The judged suites' published metrics, one row per endpoint and suite.
fn judged_table(judged: &[JudgedMetrics]) -> Table {
    let mut table = Table::new([
        Column::text("endpoint"),
        Column::text("suite"),
        Column::number("answers"),
        Column::number("correct"),
        Column::number("incorrect"),
        Column::number("not attempted"),
        Column::number("correct %"),
        Column::number("given attempted %"),
        Column::number("F1"),
        Column::number("reference match %"),
    ]);
    for metric in judged {
        table.push([
            Cell::text(&metric.endpoint),
            Cell::text(&metric.suite),
            Cell::count(metric.total),
            Cell::count(metric.correct),
            Cell::count(metric.incorrect),
            Cell::count(metric.not_attempted),
            Cell::Percent(metric.correct_share()),
            Cell::Percent(metric.given_attempted()),
            Cell::Percent(metric.f1()),
            Cell::Percent(JudgedMetrics::ratio(metric.reference_matches, metric.total)),
        ]);
    }
    table
}

/// The judged suites' section (nothing when no suite was judged): the metrics and, for a
/// judge that accepts many answers without a reference, a warning.
pub fn judged_section(rows: &[ScoredRow]) -> Option<Section> {
    let judged = judged_metrics(rows);
    if judged.is_empty() {
        return None;
    }
    let mut section = Section::new("Judged suites");
    section.id = Some("judged".to_string());
    section.paragraph(
        "Graded by the judge model (manifest `judge`), with the suite's published metrics: *given attempted* = correct / (correct + incorrect); F1 = harmonic mean of that and correct / all (Chinese SimpleQA's F1). Not attempted answers (the judge's C) are counted as `unextractable` above. *Reference match* is the share of answers containing a reference answer (the grading without a judge), a check on the judge.",
    );
    section.table(judged_table(&judged));
    for metric in &judged {
        // More than half of the judge's "correct" answers name no reference: the judge
        // may be too weak or too lenient for this suite.
        if metric.accepted_without_reference * 2 > metric.correct && metric.correct > 0 {
            section.paragraph(format!(
                "**Check the judge:** for {} on {}, {} of the {} answers the judge called correct contain no reference answer; a judge that is too weak or too lenient inflates this score.",
                metric.endpoint,
                metric.suite,
                metric.accepted_without_reference,
                metric.correct
            ));
        }
    }
    Some(section)
}

/// A manifest field for the reader: `?` when a manifest stored by an older version
/// lacks it.
fn or_unknown(text: &str) -> &str {
    if text.is_empty() { "?" } else { text }
}

/// A number as the stored manifest wrote it (`0.0`, `60.0`): JSON's float text.
fn json_number(value: f64) -> String {
    serde_json::to_string(&value).unwrap_or_else(|_| "null".to_string())
}

fn markdown_report(input: &ReportInput<'_>) -> String {
    let ReportInput {
        record,
        counts,
        manifest,
        tables,
        ..
    } = input;
    let mut md = String::new();
    let complete = counts.done_items == counts.total_items;
    let _ = writeln!(md, "# Jianzhen report: {}\n", record.name);
    let _ = writeln!(md, "- Run: `{}` ({})", record.run_id, record.state);
    let _ = writeln!(
        md,
        "- Items: {} of {} answered{}",
        counts.done_items,
        counts.total_items,
        if complete {
            ""
        } else {
            " — **incomplete run: scores cover answered items only**"
        }
    );
    let _ = writeln!(
        md,
        "- Harness: jianzhen {}; answer extractor `{}`",
        or_unknown(&manifest.harness_version),
        or_unknown(&manifest.extractor)
    );
    let _ = writeln!(
        md,
        "- Seed: {}; repeats: {}\n",
        manifest.seed, manifest.repeats
    );

    let _ = writeln!(md, "## Scores by suite\n");
    let _ = writeln!(
        md,
        "Accuracy in %: the mean credit (partial credit for multi-select and sub-questions, F1 for spans, where a suite gives them; *correct* counts full credit). *Subject mean* is the mean of per-subject accuracies (how C-Eval and CMMLU publish their averages), with a 95% percentile-bootstrap interval over subjects; *item mean* weights every item equally (each sub-question of a GAOKAO-Bench item counts), with a 95% Wilson interval over items. Every answered item is in the denominator: unextractable answers, answers cut off by the token limit (truncated: raise `max_tokens`), refusals (moderation or a declined answer) and API errors count against the score and are shown apart.\n"
    );
    md.push_str(&markdown::table(&tables.suites));

    if let Some(section) = judged_section(input.rows) {
        md.push('\n');
        md.push_str(markdown::section(&section).trim_end_matches('\n'));
        md.push('\n');
    }

    let api_errors = api_error_counts(input.rows);
    if !api_errors.is_empty() {
        let _ = writeln!(md, "\n## API errors\n");
        let _ = writeln!(
            md,
            "Items whose request failed after its retries, by message (each item's own is in `results.parquet`, column `error_message`). `jianzhen retry RUN` asks them again once the cause is fixed.\n"
        );
        md.push_str(&markdown::table(&api_errors_table(&api_errors)));
        if api_errors.len() > API_ERROR_MESSAGES_SHOWN {
            let rest = &api_errors[API_ERROR_MESSAGES_SHOWN..];
            let _ = writeln!(
                md,
                "\n{} more distinct messages ({} items).",
                rest.len(),
                rest.iter().map(|error| error.items).sum::<u64>()
            );
        }
    }

    crate::consistency::markdown_section(&mut md, input.rows);

    if !tables.comparisons.is_empty() {
        let _ = writeln!(md, "\n## Paired comparisons\n");
        let _ = writeln!(
            md,
            "On the items both endpoints answered (API errors left out). Difference = first − second in points, with a 95% interval; McNemar's test on the discordant items (exact binomial below 25 of them)."
        );
        md.push('\n');
        md.push_str(&markdown::table(&tables.comparisons));
    }

    let _ = writeln!(md, "\n## Endpoints\n");
    md.push_str(&markdown::table(&tables.usage));

    let _ = writeln!(md, "\n## Scores by category\n");
    md.push_str(&markdown::table(&tables.categories));

    let _ = writeln!(md, "\n## Scores by subject\n");
    md.push_str(&markdown::table(&tables.subjects));

    if let Some(section) = input.provenance_markdown {
        md.push('\n');
        md.push_str(section);
    }

    if input.vendor_view {
        let _ = writeln!(
            md,
            "\nThis is a vendor's view of the run: aggregate scores only. Per-item data (prompts, replies, correct answers) stays with the operator (docs/security.md)."
        );
        return md;
    }
    md.push('\n');
    if let Some(section) =
        crate::peer_compare::section(&crate::peer_compare::compare(manifest, input.rows))
    {
        md.push_str(&markdown::section(&section));
    }
    md.push_str(&left_out_markdown(manifest));

    let _ = writeln!(md, "\n## Provenance of this run\n");
    for suite in &manifest.suites {
        let _ = writeln!(
            md,
            "- Suite `{}` split `{}`: template `{}` (hash `{}`), {}-shot, {} items in {} subjects from {} files under `{}`; scoring: {}",
            or_unknown(&suite.suite),
            or_unknown(&suite.split),
            or_unknown(&suite.template),
            or_unknown(&suite.template_hash),
            suite.shots,
            suite.items,
            suite.subjects,
            suite.files.len(),
            or_unknown(&suite.data_dir),
            or_unknown(&suite.scoring),
        );
    }
    for endpoint in &manifest.endpoints {
        let _ = writeln!(
            md,
            "- Endpoint `{}`: model `{}` at `{}`, temperature {}, max_tokens {}, max concurrency {}, timeout {} s",
            or_unknown(&endpoint.name),
            or_unknown(&endpoint.model),
            or_unknown(&endpoint.base_url),
            json_number(endpoint.temperature),
            endpoint.max_tokens,
            endpoint.max_concurrency,
            json_number(endpoint.timeout_secs),
        );
    }
    let _ = writeln!(
        md,
        "\nData file hashes, template hashes and all settings are in `manifest.json`; every item with its prompt and raw answer is in `results.parquet`; `report.html` has charts and example items."
    );
    md
}

/// Left-out records listed one by one per suite in the report; all are in the manifest.
const LEFT_OUT_LISTED: usize = 20;

/// The report's "Records left out" section, from the manifest's `suites[].left_out`:
/// counts per suite, file and subject, then the records with their reasons.
pub fn left_out_section(manifest: &Manifest) -> Section {
    let mut section = Section::new("Records left out");
    let total: usize = manifest
        .suites
        .iter()
        .map(|suite| suite.left_out.len())
        .sum();
    if total == 0 {
        section.paragraph("Every record of the data files became an item: none was left out.");
        return section;
    }
    section.paragraph(format!(
        "{total} records of the data files cannot become valid items (empty or malformed answer, empty option, answer outside the options, a multi-answer record in a single-choice set, or left out by the suite's own rules) and were left out of this run; scores are over the remaining items. The same files leave out the same records, and the run id depends on them. `--strict` (`strict = true`) refuses them instead. All are listed in `manifest.json` (`suites[].left_out`)."
    ));
    let mut counts_table = Table::new([
        Column::text("suite"),
        Column::text("file"),
        Column::text("subject"),
        Column::number("records left out"),
    ]);
    for suite in &manifest.suites {
        let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for record in &suite.left_out {
            *counts
                .entry((record.file.as_str(), record.subject.as_str()))
                .or_insert(0) += 1;
        }
        for ((file, subject), count) in counts {
            counts_table.push([
                Cell::text(&suite.suite),
                Cell::text(file),
                Cell::text(if subject.is_empty() { "?" } else { subject }),
                Cell::count(count),
            ]);
        }
    }
    section.table(counts_table);
    let mut records_table = Table::new([
        Column::text("suite"),
        Column::text("file"),
        Column::text("record"),
        Column::text("reason"),
    ]);
    for suite in &manifest.suites {
        for record in suite.left_out.iter().take(LEFT_OUT_LISTED) {
            records_table.push([
                Cell::text(&suite.suite),
                Cell::text(&record.file),
                Cell::text(&record.record),
                Cell::Markdown(record.reason.clone()),
            ]);
        }
        if suite.left_out.len() > LEFT_OUT_LISTED {
            records_table.push([
                Cell::text(&suite.suite),
                Cell::text("…"),
                Cell::text(format!("{} more", suite.left_out.len() - LEFT_OUT_LISTED)),
                Cell::Markdown("see `manifest.json`".to_string()),
            ]);
        }
    }
    section.table(records_table);
    section
}

/// [`left_out_section`] in Markdown, ending in one newline.
pub fn left_out_markdown(manifest: &Manifest) -> String {
    let mut md = markdown::section(&left_out_section(manifest))
        .trim_end_matches('\n')
        .to_string();
    md.push('\n');
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vendor_view_scores_only_items_with_a_gold() {
        let record = RunRecord {
            run_id: "run-v".into(),
            name: "v".into(),
            spec_toml: String::new(),
            manifest_json: "{}".into(),
            state: "complete".into(),
            created_at_ms: 0,
            owner: "vendor:acme".into(),
        };
        // Two scored items and one prediction of a hidden split (no gold, never scored).
        let hidden = ScoredRow {
            gold: String::new(),
            outcome: Outcome::Answered,
            ..ScoredRow::example("acme-v2", "law", "answered")
        };
        let rows = [
            ScoredRow::example("acme-v2", "law", "correct"),
            ScoredRow::example("acme-v2", "law", "wrong"),
            hidden,
        ];
        let files = render_vendor_view(&record, &RunCounts::default(), &rows).expect("vendor view");
        let scores = String::from_utf8(files[1].content.clone()).expect("utf-8");
        assert_eq!(files[1].name, "scores.csv");
        assert!(scores.contains("ceval,law,Humanities,2,1,"), "{scores}");
    }

    #[test]
    fn left_out_section_counts_per_file_and_lists_reasons() {
        let manifest: Manifest = serde_json::from_value(json!({"suites": [
            {"suite": "agieval", "left_out": [
                {"file": "jec-qa-kd.jsonl", "record": "line 212", "subject": "jec-qa-kd", "reason": "`label` is an empty list: the record names no answer"},
                {"file": "jec-qa-kd.jsonl", "record": "line 300", "subject": "jec-qa-kd", "reason": "`label` `|` is not an option letter"},
            ]},
            {"suite": "ceval", "left_out": []},
        ]}))
        .expect("reads as a manifest");
        let section = left_out_markdown(&manifest);
        assert!(section.starts_with("## Records left out\n"), "{section}");
        assert!(section.contains("2 records of the data files"), "{section}");
        assert!(
            section.contains("| agieval | jec-qa-kd.jsonl | jec-qa-kd | 2 |"),
            "{section}"
        );
        assert!(
            section.contains("| agieval | jec-qa-kd.jsonl | line 212 | `label` is an empty list: the record names no answer |"),
            "{section}"
        );
        // A `|` in a reason does not break the table.
        assert!(section.contains("`label` `\\|` is not"), "{section}");
        let none = left_out_markdown(&Manifest::default());
        assert!(none.contains("none was left out"), "{none}");
    }

    #[test]
    fn api_errors_are_grouped_by_endpoint_and_message_most_frequent_first() {
        let failed = |endpoint: &str, message: &str| ScoredRow {
            error_message: message.into(),
            ..ScoredRow::example(endpoint, "law", "api_error")
        };
        let rows = vec![
            failed("a", "HTTP 401: invalid key"),
            failed("b", "no echo"),
            failed("b", "no echo"),
            ScoredRow::example("b", "law", "correct"),
            failed("a", "HTTP 401: invalid key"),
            failed("a", "timeout | after 120 s\nretried 3 times"),
            failed("a", "HTTP 401: invalid key"),
        ];
        let counts = api_error_counts(&rows);
        let summary: Vec<(&str, &str, u64)> = counts
            .iter()
            .map(|count| (count.endpoint.as_str(), count.message.as_str(), count.items))
            .collect();
        assert_eq!(
            summary,
            [
                ("a", "HTTP 401: invalid key", 3),
                ("b", "no echo", 2),
                ("a", "timeout | after 120 s\nretried 3 times", 1),
            ]
        );
        assert_eq!(
            markdown::cell_text(&counts[2].message),
            "timeout \\| after 120 s retried 3 times"
        );
        assert!(api_error_counts(&rows[3..4]).is_empty());
    }

    #[test]
    fn judged_metrics_follow_simpleqa_s_definitions() {
        let metrics = JudgedMetrics {
            total: 10,
            correct: 4,
            incorrect: 4,
            not_attempted: 2,
            ..JudgedMetrics::default()
        };
        assert!((metrics.correct_share() - 0.4).abs() < 1e-12);
        assert!((metrics.given_attempted() - 0.5).abs() < 1e-12);
        // 2 · 0.4 · 0.5 / 0.9
        assert!((metrics.f1() - 0.4 / 0.9).abs() < 1e-12);
        assert_eq!(JudgedMetrics::default().f1(), 0.0);
    }
}
