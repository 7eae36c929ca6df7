//! The report's numbers as plain Rust values, read out of the polars tables once, so the
//! Markdown, HTML and CSV outputs all show exactly the same figures.

use std::collections::BTreeMap;

use polars::prelude::PolarsResult;

use crate::aggregate::{Aggregates, float_at, int_at, text_at};
use crate::stats::{
    PairedComparison, bootstrap_mean_interval, paired_comparison, wilson_interval_for_points,
};
use crate::store::ScoredRow;
use jianzhen_suites::outcome::Outcome;

/// Resamples of the bootstrap over subjects, and its seed: fixed so a report is
/// reproducible byte for byte.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;
pub const BOOTSTRAP_SEED: u64 = 20_261_128;

/// The outcome classes, in report order.
pub const OUTCOMES: [Outcome; 6] = Outcome::SCORED;

#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeCounts {
    /// In [`OUTCOMES`] order.
    pub counts: [i64; 6],
}

impl OutcomeCounts {
    pub fn get(&self, outcome: Outcome) -> i64 {
        OUTCOMES
            .iter()
            .position(|scored| *scored == outcome)
            .map_or(0, |index| self.counts[index])
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SuiteSummary {
    pub endpoint: String,
    pub suite: String,
    pub subjects: i64,
    pub n: i64,
    pub outcomes: OutcomeCounts,
    pub subject_mean: f64,
    /// Percentile bootstrap over subjects.
    pub subject_mean_interval: (f64, f64),
    pub item_mean: f64,
    /// Wilson.
    pub item_mean_interval: (f64, f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CategorySummary {
    pub endpoint: String,
    pub suite: String,
    pub category: String,
    pub subjects: i64,
    pub n: i64,
    pub correct: i64,
    pub subject_mean: f64,
    pub item_mean: f64,
    pub item_mean_interval: (f64, f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubjectSummary {
    pub endpoint: String,
    pub suite: String,
    pub subject: String,
    pub category: String,
    pub n: i64,
    pub outcomes: OutcomeCounts,
    pub accuracy: f64,
    pub interval: (f64, f64),
}

/// Latency and tokens of one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointUsage {
    pub endpoint: String,
    pub answered: usize,
    pub latency_p50_ms: u64,
    pub latency_p95_ms: u64,
    pub latency_p99_ms: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub attempts: u64,
    pub throttled: u64,
}

/// Two endpoints on the items of one suite both answered.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointComparison {
    pub suite: String,
    pub first: String,
    pub second: String,
    pub first_accuracy: f64,
    pub second_accuracy: f64,
    pub comparison: PairedComparison,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub suites: Vec<SuiteSummary>,
    pub categories: Vec<CategorySummary>,
    pub subjects: Vec<SubjectSummary>,
    pub usage: Vec<EndpointUsage>,
    pub comparisons: Vec<EndpointComparison>,
}

fn outcomes_at(frame: &polars::prelude::DataFrame, row: usize) -> PolarsResult<OutcomeCounts> {
    let mut counts = [0i64; 6];
    for (index, outcome) in OUTCOMES.iter().enumerate() {
        counts[index] = int_at(frame, outcome.as_str(), row)?;
    }
    Ok(OutcomeCounts { counts })
}

/// The 95% interval of an item-level accuracy over `n` items (Wilson). Sub-questions of
/// one item are not independent, so the interval counts items, not sub-answers.
fn item_interval(accuracy: f64, n: i64) -> (f64, f64) {
    if accuracy.is_nan() {
        return (0.0, 0.0);
    }
    wilson_interval_for_points(accuracy * n as f64, n)
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[u64], fraction: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// # Errors
/// Polars errors reading the tables.
pub fn summarise(aggregates: &Aggregates, rows: &[ScoredRow]) -> PolarsResult<Summary> {
    let frame = &aggregates.by_subject;
    let mut subjects = Vec::with_capacity(frame.height());
    for row in 0..frame.height() {
        let n = int_at(frame, "n", row)?;
        let outcomes = outcomes_at(frame, row)?;
        subjects.push(SubjectSummary {
            endpoint: text_at(frame, "endpoint", row)?,
            suite: text_at(frame, "suite", row)?,
            subject: text_at(frame, "subject", row)?,
            category: text_at(frame, "category", row)?,
            n,
            interval: item_interval(float_at(frame, "accuracy", row)?, n),
            outcomes,
            accuracy: float_at(frame, "accuracy", row)?,
        });
    }

    let mut subject_accuracies: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for subject in &subjects {
        subject_accuracies
            .entry((subject.endpoint.clone(), subject.suite.clone()))
            .or_default()
            .push(subject.accuracy);
    }

    let frame = &aggregates.by_suite;
    let mut suites = Vec::with_capacity(frame.height());
    for row in 0..frame.height() {
        let endpoint = text_at(frame, "endpoint", row)?;
        let suite = text_at(frame, "suite", row)?;
        let n = int_at(frame, "n", row)?;
        let outcomes = outcomes_at(frame, row)?;
        let accuracies = subject_accuracies
            .get(&(endpoint.clone(), suite.clone()))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        suites.push(SuiteSummary {
            subjects: int_at(frame, "subjects", row)?,
            n,
            item_mean_interval: item_interval(float_at(frame, "accuracy_item_mean", row)?, n),
            outcomes,
            subject_mean: float_at(frame, "accuracy_subject_mean", row)?,
            subject_mean_interval: bootstrap_mean_interval(
                accuracies,
                BOOTSTRAP_RESAMPLES,
                BOOTSTRAP_SEED,
            ),
            item_mean: float_at(frame, "accuracy_item_mean", row)?,
            endpoint,
            suite,
        });
    }

    let frame = &aggregates.by_category;
    let mut categories = Vec::with_capacity(frame.height());
    for row in 0..frame.height() {
        let n = int_at(frame, "n", row)?;
        let correct = int_at(frame, "correct", row)?;
        categories.push(CategorySummary {
            endpoint: text_at(frame, "endpoint", row)?,
            suite: text_at(frame, "suite", row)?,
            category: text_at(frame, "category", row)?,
            subjects: int_at(frame, "subjects", row)?,
            n,
            correct,
            subject_mean: float_at(frame, "accuracy_subject_mean", row)?,
            item_mean: float_at(frame, "accuracy_item_mean", row)?,
            item_mean_interval: item_interval(float_at(frame, "accuracy_item_mean", row)?, n),
        });
    }

    Ok(Summary {
        suites,
        categories,
        subjects,
        usage: endpoint_usage(rows),
        comparisons: endpoint_comparisons(rows),
    })
}

fn endpoint_usage(rows: &[ScoredRow]) -> Vec<EndpointUsage> {
    let mut by_endpoint: BTreeMap<&str, Vec<&ScoredRow>> = BTreeMap::new();
    for row in rows {
        by_endpoint
            .entry(row.endpoint.as_str())
            .or_default()
            .push(row);
    }
    by_endpoint
        .into_iter()
        .map(|(endpoint, rows)| {
            let answered: Vec<&&ScoredRow> = rows
                .iter()
                .filter(|row| row.outcome != Outcome::ApiError)
                .collect();
            let mut latencies: Vec<u64> = answered.iter().map(|row| row.latency_ms).collect();
            latencies.sort_unstable();
            EndpointUsage {
                endpoint: endpoint.to_string(),
                answered: answered.len(),
                latency_p50_ms: percentile(&latencies, 0.50),
                latency_p95_ms: percentile(&latencies, 0.95),
                latency_p99_ms: percentile(&latencies, 0.99),
                prompt_tokens: answered
                    .iter()
                    .map(|row| u64::from(row.prompt_tokens))
                    .sum(),
                completion_tokens: answered
                    .iter()
                    .map(|row| u64::from(row.completion_tokens))
                    .sum(),
                attempts: rows.iter().map(|row| u64::from(row.attempts)).sum(),
                throttled: rows.iter().map(|row| u64::from(row.throttled)).sum(),
            }
        })
        .collect()
}

/// (item id, repeat) → answered correctly.
type AnswerSheet<'a> = BTreeMap<(&'a str, u32), bool>;

/// Every pair of endpoints, per suite, on the items both answered (an `api_error` on
/// either side leaves the item out: neither endpoint was really asked).
fn endpoint_comparisons(rows: &[ScoredRow]) -> Vec<EndpointComparison> {
    // (suite, endpoint) -> (item_id, repeat) -> correct
    let mut sheets: BTreeMap<(&str, &str), AnswerSheet<'_>> = BTreeMap::new();
    for row in rows.iter().filter(|row| row.outcome != Outcome::ApiError) {
        sheets
            .entry((row.suite.as_str(), row.endpoint.as_str()))
            .or_default()
            .insert(
                (row.item_id.as_str(), row.repeat),
                row.outcome == Outcome::Correct,
            );
    }
    let mut comparisons = Vec::new();
    let keys: Vec<(&str, &str)> = sheets.keys().copied().collect();
    for (index, (suite, first)) in keys.iter().enumerate() {
        for (other_suite, second) in keys.iter().skip(index + 1) {
            if suite != other_suite {
                continue;
            }
            let (Some(first_sheet), Some(second_sheet)) =
                (sheets.get(&(suite, first)), sheets.get(&(suite, second)))
            else {
                continue;
            };
            let pairs: Vec<(bool, bool)> = first_sheet
                .iter()
                .filter_map(|(item, first_correct)| {
                    second_sheet
                        .get(item)
                        .map(|second_correct| (*first_correct, *second_correct))
                })
                .collect();
            if pairs.is_empty() {
                continue;
            }
            let n = pairs.len() as f64;
            comparisons.push(EndpointComparison {
                suite: suite.to_string(),
                first: first.to_string(),
                second: second.to_string(),
                first_accuracy: pairs.iter().filter(|pair| pair.0).count() as f64 / n,
                second_accuracy: pairs.iter().filter(|pair| pair.1).count() as f64 / n,
                comparison: paired_comparison(&pairs),
            });
        }
    }
    comparisons
}
