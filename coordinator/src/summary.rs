//! The report's numbers as plain Rust values, read out of the polars tables once, so the
//! Markdown, HTML and CSV outputs all show exactly the same figures.

use std::collections::{BTreeMap, HashMap};

use polars::prelude::PolarsResult;

use crate::aggregate::{Aggregates, Aggregator, float_at, int_at, text_at};
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
    let mut statistics = RowStatistics::default();
    statistics.push(rows);
    summarise_statistics(aggregates, &statistics)
}

/// The tables and the summary of rows that arrive a page at a time (from the store, or a
/// generator): each page is aggregated and tallied, then dropped, so no page outlives its
/// turn. Gives the same [`Summary`] as [`summarise`] of all the rows at once.
#[derive(Default)]
pub struct Summariser {
    /// The polars tables (per subject, category, suite), summed a chunk at a time.
    aggregator: Aggregator,
    /// Latency, tokens and the answer sheets of paired comparisons.
    statistics: RowStatistics,
}

impl Summariser {
    /// Adds a page of rows.
    ///
    /// # Errors
    /// Polars errors (none are expected for well-formed rows).
    pub fn push(&mut self, rows: &[ScoredRow]) -> PolarsResult<()> {
        self.aggregator.push(rows)?;
        self.statistics.push(rows);
        Ok(())
    }

    /// The tables and the summary of every row pushed.
    ///
    /// # Errors
    /// Polars errors reading the tables.
    pub fn finish(self) -> PolarsResult<(Aggregates, Summary)> {
        let aggregates = self.aggregator.finish()?;
        let summary = summarise_statistics(&aggregates, &self.statistics)?;
        Ok((aggregates, summary))
    }
}

/// The summary from the tables and the tallies of the rows.
///
/// # Errors
/// Polars errors reading the tables.
fn summarise_statistics(
    aggregates: &Aggregates,
    statistics: &RowStatistics,
) -> PolarsResult<Summary> {
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
        usage: statistics.usage(),
        comparisons: statistics.comparisons(),
    })
}

/// What the summary needs of the rows besides the polars tables, tallied a page at a
/// time: per endpoint, latency counts (one entry per distinct millisecond value, so exact
/// percentiles need no list of every latency) and token sums; per suite, a compact answer
/// sheet for the paired comparisons.
#[derive(Default)]
pub struct RowStatistics {
    /// Endpoint → its tallies.
    usage: BTreeMap<String, UsageTally>,
    /// Suite → who answered which item, and how.
    sheets: BTreeMap<String, SuiteSheets>,
}

/// One endpoint's latency and tokens so far.
#[derive(Default)]
struct UsageTally {
    /// Items answered (any outcome but `api_error`).
    answered: usize,
    /// Latency in ms → how many answered items took it.
    latency_counts: BTreeMap<u64, u64>,
    prompt_tokens: u64,
    completion_tokens: u64,
    /// Over every row, `api_error` included: the retries were spent on it too.
    attempts: u64,
    throttled: u64,
}

impl UsageTally {
    /// Nearest-rank percentile of the answered latencies, as [`percentile`] of them sorted.
    fn latency_percentile(&self, fraction: f64) -> u64 {
        if self.answered == 0 {
            return 0;
        }
        let rank = ((self.answered as f64 - 1.0) * fraction).round() as u64;
        let rank = rank.min(self.answered as u64 - 1);
        let mut seen = 0;
        for (latency, count) in &self.latency_counts {
            seen += count;
            if seen > rank {
                return *latency;
            }
        }
        0
    }
}

/// The answer sheets of one suite: (item id, repeat) → a slot, and per endpoint a byte
/// per slot. Paired comparisons need every item both endpoints answered, so this grows
/// with the suite's distinct items (about 100 bytes each), never with a copy of the rows.
#[derive(Default)]
struct SuiteSheets {
    /// Item id → repeat → slot.
    slots: HashMap<String, HashMap<u32, u32>>,
    /// Slots handed out so far.
    slot_count: u32,
    /// Endpoint → per slot: [`NOT_ANSWERED`], [`ANSWERED_WRONG`] or [`ANSWERED_CORRECT`].
    answers: BTreeMap<String, Vec<u8>>,
}

const NOT_ANSWERED: u8 = 0;
const ANSWERED_WRONG: u8 = 1;
const ANSWERED_CORRECT: u8 = 2;

impl SuiteSheets {
    fn slot(&mut self, item_id: &str, repeat: u32) -> usize {
        let next_slot = self.slot_count;
        // Looked up by `&str` first: the id is copied only the first time it is seen.
        let slot = match self.slots.get_mut(item_id) {
            Some(repeats) => *repeats.entry(repeat).or_insert(next_slot),
            None => {
                self.slots
                    .insert(item_id.to_string(), HashMap::from([(repeat, next_slot)]));
                next_slot
            }
        };
        if slot == next_slot {
            self.slot_count += 1;
        }
        slot as usize
    }

    fn record(&mut self, endpoint: &str, item_id: &str, repeat: u32, correct: bool) {
        let slot = self.slot(item_id, repeat);
        let sheet = match self.answers.get_mut(endpoint) {
            Some(sheet) => sheet,
            None => self.answers.entry(endpoint.to_string()).or_default(),
        };
        if sheet.len() <= slot {
            sheet.resize(slot + 1, NOT_ANSWERED);
        }
        sheet[slot] = if correct {
            ANSWERED_CORRECT
        } else {
            ANSWERED_WRONG
        };
    }
}

impl RowStatistics {
    /// Tallies a page of rows.
    pub fn push(&mut self, rows: &[ScoredRow]) {
        for row in rows {
            let tally = match self.usage.get_mut(&row.endpoint) {
                Some(tally) => tally,
                None => self.usage.entry(row.endpoint.clone()).or_default(),
            };
            tally.attempts += u64::from(row.attempts);
            tally.throttled += u64::from(row.throttled);
            // An api_error leaves the item out of latency, tokens and comparisons:
            // neither endpoint was really asked.
            if row.outcome == Outcome::ApiError {
                continue;
            }
            tally.answered += 1;
            *tally.latency_counts.entry(row.latency_ms).or_default() += 1;
            tally.prompt_tokens += u64::from(row.prompt_tokens);
            tally.completion_tokens += u64::from(row.completion_tokens);
            let sheets = match self.sheets.get_mut(&row.suite) {
                Some(sheets) => sheets,
                None => self.sheets.entry(row.suite.clone()).or_default(),
            };
            sheets.record(
                &row.endpoint,
                &row.item_id,
                row.repeat,
                row.outcome == Outcome::Correct,
            );
        }
    }

    fn usage(&self) -> Vec<EndpointUsage> {
        self.usage
            .iter()
            .map(|(endpoint, tally)| EndpointUsage {
                endpoint: endpoint.clone(),
                answered: tally.answered,
                latency_p50_ms: tally.latency_percentile(0.50),
                latency_p95_ms: tally.latency_percentile(0.95),
                latency_p99_ms: tally.latency_percentile(0.99),
                prompt_tokens: tally.prompt_tokens,
                completion_tokens: tally.completion_tokens,
                attempts: tally.attempts,
                throttled: tally.throttled,
            })
            .collect()
    }

    /// Every pair of endpoints, per suite, on the items both answered.
    fn comparisons(&self) -> Vec<EndpointComparison> {
        let mut comparisons = Vec::new();
        for (suite, sheets) in &self.sheets {
            let endpoints: Vec<(&String, &Vec<u8>)> = sheets.answers.iter().collect();
            for (index, (first, first_sheet)) in endpoints.iter().enumerate() {
                for (second, second_sheet) in endpoints.iter().skip(index + 1) {
                    let pairs: Vec<(bool, bool)> = first_sheet
                        .iter()
                        .zip(second_sheet.iter())
                        .filter(|(first_answer, second_answer)| {
                            **first_answer != NOT_ANSWERED && **second_answer != NOT_ANSWERED
                        })
                        .map(|(first_answer, second_answer)| {
                            (
                                *first_answer == ANSWERED_CORRECT,
                                *second_answer == ANSWERED_CORRECT,
                            )
                        })
                        .collect();
                    if pairs.is_empty() {
                        continue;
                    }
                    let n = pairs.len() as f64;
                    comparisons.push(EndpointComparison {
                        suite: suite.clone(),
                        first: (*first).clone(),
                        second: (*second).clone(),
                        first_accuracy: pairs.iter().filter(|pair| pair.0).count() as f64 / n,
                        second_accuracy: pairs.iter().filter(|pair| pair.1).count() as f64 / n,
                        comparison: paired_comparison(&pairs),
                    });
                }
            }
        }
        comparisons
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{AGGREGATION_CHUNK_ROWS, aggregate};
    use crate::stats::SplitMix64;

    /// `count` rows over 3 endpoints (each item asked of all three in turn, so they pair
    /// up), 2 suites and 7 subjects, with repeats, partial credit in sums that stay exact
    /// (halves), api errors and a spread of latencies.
    fn synthetic_rows(count: usize, first_index: usize) -> Vec<ScoredRow> {
        let mut rng = SplitMix64::new(first_index as u64);
        (first_index..first_index + count)
            .map(|index| {
                let outcome = match rng.below(10) {
                    0..=4 => "correct",
                    5..=7 => "wrong",
                    8 => "unextractable",
                    _ => "api_error",
                };
                let item = index / 3;
                let subject = format!("subject_{}", item / 2 % 7);
                let mut row = ScoredRow {
                    suite: ["ceval", "cmmlu"][item % 2].into(),
                    category: ["STEM", "Humanities|China specific"][item / 2 % 7 % 2].into(),
                    item_id: format!("{subject}/test/{}", item / 14 % 5000),
                    repeat: (item / 70_000) as u32,
                    latency_ms: rng.below(3000) as u64,
                    prompt_tokens: rng.below(500) as u32,
                    attempts: 1 + rng.below(2) as u32,
                    ..ScoredRow::example(["a", "b", "c"][index % 3], &subject, outcome)
                };
                if outcome == "wrong" && index % 4 == 0 {
                    row.credit = 0.5;
                }
                row
            })
            .collect()
    }

    /// The figures of a run do not depend on how its rows were paged: the tables and the
    /// summary of rows pushed in uneven pages (across several polars chunks and folds)
    /// equal those of all the rows at once.
    #[test]
    fn rows_pushed_in_pages_give_the_same_tables_and_summary_as_all_at_once() {
        let rows = synthetic_rows(2 * AGGREGATION_CHUNK_ROWS + 12_345, 0);
        let aggregates = aggregate(&rows).expect("aggregates");
        let summary = summarise(&aggregates, &rows).expect("summary");

        let mut summariser = Summariser::default();
        for page in rows.chunks(9_999) {
            summariser.push(page).expect("push");
        }
        let (paged_aggregates, paged_summary) = summariser.finish().expect("finish");

        assert!(paged_aggregates.by_subject.equals(&aggregates.by_subject));
        assert!(paged_aggregates.by_category.equals(&aggregates.by_category));
        assert!(paged_aggregates.by_suite.equals(&aggregates.by_suite));
        assert_eq!(paged_summary, summary);

        // And the figures are those of the rows, counted here by hand.
        let total: i64 = summary.suites.iter().map(|suite| suite.n).sum();
        assert_eq!(total, rows.len() as i64);
        let answered_by_a = rows
            .iter()
            .filter(|row| row.endpoint == "a" && row.outcome != Outcome::ApiError)
            .count();
        assert_eq!(summary.usage[0].endpoint, "a");
        assert_eq!(summary.usage[0].answered, answered_by_a);
        let mut latencies: Vec<u64> = rows
            .iter()
            .filter(|row| row.endpoint == "a" && row.outcome != Outcome::ApiError)
            .map(|row| row.latency_ms)
            .collect();
        latencies.sort_unstable();
        assert_eq!(
            summary.usage[0].latency_p95_ms,
            percentile(&latencies, 0.95)
        );
        assert_eq!(
            summary.usage[0].latency_p50_ms,
            percentile(&latencies, 0.50)
        );
        // 3 endpoints → 3 pairs per suite, 2 suites.
        assert_eq!(summary.comparisons.len(), 6);
        assert!(
            summary
                .comparisons
                .iter()
                .all(|pair| pair.comparison.items > 0)
        );
    }

    #[test]
    fn paired_comparisons_count_the_items_both_answered() {
        let row = |endpoint: &str, item: &str, outcome: &str| ScoredRow {
            item_id: item.into(),
            ..ScoredRow::example(endpoint, "law", outcome)
        };
        let rows = vec![
            row("a", "law/1", "correct"),
            row("b", "law/1", "wrong"),
            row("a", "law/2", "correct"),
            row("b", "law/2", "correct"),
            // Only a answered: left out.
            row("a", "law/3", "wrong"),
            // b failed to answer: left out.
            row("a", "law/4", "correct"),
            row("b", "law/4", "api_error"),
            row("b", "law/5", "wrong"),
            row("a", "law/5", "wrong"),
        ];
        let aggregates = aggregate(&rows).expect("aggregates");
        let summary = summarise(&aggregates, &rows).expect("summary");
        assert_eq!(summary.comparisons.len(), 1);
        let pair = &summary.comparisons[0];
        assert_eq!((pair.first.as_str(), pair.second.as_str()), ("a", "b"));
        assert_eq!(pair.comparison.items, 3);
        assert_eq!(pair.comparison.both_correct, 1);
        assert_eq!(pair.comparison.only_first, 1);
        assert_eq!(pair.comparison.only_second, 0);
        assert_eq!(pair.comparison.both_wrong, 1);
        assert!((pair.first_accuracy - 2.0 / 3.0).abs() < 1e-12);
        assert!((pair.second_accuracy - 1.0 / 3.0).abs() < 1e-12);
    }

    /// Set in the child process of the memory test: how many rows it aggregates.
    const MEMORY_CHILD_ROWS: &str = "JIANZHEN_TEST_AGGREGATION_MEMORY_ROWS";
    const MEMORY_TEST_NAME: &str =
        "summary::tests::aggregating_a_large_run_a_page_at_a_time_keeps_memory_bounded";

    fn peak_resident_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .expect("a VmHWM line")
    }

    /// Runs this test alone in a child process that aggregates `rows` rows a page at a
    /// time; returns (rows counted in the suite table, the child's peak resident KiB).
    fn child_peak(rows: usize) -> (i64, u64) {
        let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                MEMORY_TEST_NAME,
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(MEMORY_CHILD_ROWS, rows.to_string())
            .output()
            .expect("run the child");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "child failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let line = stdout
            .lines()
            .find_map(|line| {
                line.split_once("aggregated rows=")
                    .map(|(_, figures)| figures)
            })
            .unwrap_or_else(|| panic!("no figures from the child: {stdout}"));
        let (counted, peak) = line.split_once(" vmhwm_kib=").expect("two figures");
        (
            counted.parse().expect("a row count"),
            peak.parse().expect("a peak"),
        )
    }

    /// The report's aggregation holds a page of rows and per-subject sums, not the run: a
    /// child process aggregating 16× more rows peaks at nearly the same resident memory
    /// (measured from the process, `VmHWM`). Holding the rows, or one frame of all of
    /// them, would add hundreds of MiB (a `ScoredRow` alone is over 400 bytes).
    #[test]
    fn aggregating_a_large_run_a_page_at_a_time_keeps_memory_bounded() {
        if let Ok(rows) = std::env::var(MEMORY_CHILD_ROWS) {
            let rows: usize = rows.parse().expect("a row count");
            let mut summariser = Summariser::default();
            let mut start = 0;
            while start < rows {
                let page = synthetic_rows(50_000.min(rows - start), start);
                start += page.len();
                summariser.push(&page).expect("push");
            }
            let (_, summary) = summariser.finish().expect("finish");
            let counted: i64 = summary.suites.iter().map(|suite| suite.n).sum();
            println!(
                "aggregated rows={counted} vmhwm_kib={}",
                peak_resident_kib()
            );
            return;
        }
        let (small_rows, large_rows) = (50_000, 800_000);
        let (small_counted, small_peak) = child_peak(small_rows);
        let (large_counted, large_peak) = child_peak(large_rows);
        assert_eq!(small_counted, small_rows as i64);
        assert_eq!(large_counted, large_rows as i64);
        let growth_mib = large_peak.saturating_sub(small_peak) / 1024;
        // 750,000 more rows: the answer sheets of paired comparisons grow with distinct
        // items (5,000 × 7 subjects × repeats here, a few MiB); everything else is bounded.
        assert!(
            growth_mib < 64,
            "peak grew by {growth_mib} MiB from {small_rows} to {large_rows} rows ({small_peak} → {large_peak} KiB)"
        );
    }
}
