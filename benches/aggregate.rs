//! Aggregation benchmark: 5 million result rows (4 endpoints × 2 suites × 60 subjects ×
//! ~10,400 items) into every report table (subject, category, suite frames, the summary
//! with bootstrap intervals, paired comparisons), printing seconds and peak memory.
//!
//! `cargo bench --bench aggregate` (release), or `--profile dev` for a quick look.
//! `JIANZHEN_BENCH_ROWS` changes the row count. The rows arrive in pages of 100,000 and
//! each is dropped once aggregated, as a paged read of the store would bring them;
//! `JIANZHEN_BENCH_MATERIALISED=1` builds every row first, in one Vec, as the report
//! holds them today, and also prints the peak once the rows are built.

use std::time::Instant;

use jianzhen_coordinator::stats::SplitMix64;
use jianzhen_coordinator::store::ScoredRow;
use jianzhen_coordinator::summary::Summariser;

/// Peak resident memory of this process (Linux `VmHWM`), in MiB.
fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Synthetic result rows in a fixed order (endpoint, suite, subject, item), the same
/// sequence whether they are taken all at once or a page at a time.
struct SyntheticRows {
    rng: SplitMix64,
    endpoints: [&'static str; 4],
    suites: [&'static str; 2],
    subjects: Vec<String>,
    items_per_subject: usize,
    /// Index of the next row in the sequence.
    next: usize,
}

impl SyntheticRows {
    fn new(rows_wanted: usize) -> Self {
        let subjects: Vec<String> = (0..60).map(|index| format!("subject_{index:02}")).collect();
        let items_per_subject = rows_wanted / (4 * 2 * subjects.len());
        SyntheticRows {
            rng: SplitMix64::new(5),
            endpoints: ["alpha", "beta", "gamma", "delta"],
            suites: ["ceval", "cmmlu"],
            subjects,
            items_per_subject,
            next: 0,
        }
    }

    fn total(&self) -> usize {
        self.endpoints.len() * self.suites.len() * self.subjects.len() * self.items_per_subject
    }
}

impl Iterator for SyntheticRows {
    type Item = ScoredRow;

    fn next(&mut self) -> Option<ScoredRow> {
        if self.next >= self.total() {
            return None;
        }
        let categories = ["STEM", "Humanities", "Social Science", "Other"];
        let item = self.next % self.items_per_subject;
        let subject_index = (self.next / self.items_per_subject) % self.subjects.len();
        let suite_index = (self.next / (self.items_per_subject * self.subjects.len())) % 2;
        let endpoint_index = self.next / (self.items_per_subject * self.subjects.len() * 2);
        self.next += 1;
        let subject = &self.subjects[subject_index];
        let outcome = match self.rng.below(100) {
            0..=54 => "correct",
            55..=89 => "wrong",
            90..=94 => "unextractable",
            95..=96 => "truncated",
            97 => "refused",
            _ => "api_error",
        };
        Some(ScoredRow {
            endpoint: self.endpoints[endpoint_index].to_string(),
            suite: self.suites[suite_index].to_string(),
            subject: subject.clone(),
            category: categories[subject_index % categories.len()].to_string(),
            item_id: format!("{subject}/test/{item}"),
            repeat: 0,
            gold: "A".to_string(),
            extracted: Some("A".to_string()),
            outcome: outcome.parse().expect("an outcome name"),
            credit: f64::from(u8::from(outcome == "correct")),
            weight: 1.0,
            latency_ms: self.rng.below(2000) as u64,
            prompt_tokens: 300,
            completion_tokens: 4,
            attempts: 1,
            throttled: 0,
            messages_json: String::new(),
            option_count: 4,
            response_text: String::new(),
            finish_reason: "stop".to_string(),
            error_message: String::new(),
        })
    }
}

/// Rows per page in the paged mode, about what one read of the store would bring.
const PAGE_ROWS: usize = 100_000;

fn main() {
    let rows_wanted: usize = std::env::var("JIANZHEN_BENCH_ROWS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(5_000_000);
    // `JIANZHEN_BENCH_MATERIALISED=1`: every row in one Vec first, as the report holds the
    // store's rows today; by default the rows arrive a page at a time and each page is
    // dropped once aggregated, so the figure is the aggregation's own memory.
    let materialised = std::env::var("JIANZHEN_BENCH_MATERIALISED").is_ok_and(|value| value == "1");
    let mut generator = SyntheticRows::new(rows_wanted);
    let row_count = generator.total();

    let started = Instant::now();
    let mut summariser = Summariser::default();
    let mut peak_with_rows = None;
    let generated;
    if materialised {
        let rows: Vec<ScoredRow> = generator.collect();
        generated = started.elapsed();
        peak_with_rows = peak_memory_mib();
        summariser.push(&rows).expect("aggregate");
    } else {
        let mut generating = std::time::Duration::ZERO;
        loop {
            let page_started = Instant::now();
            let page: Vec<ScoredRow> = generator.by_ref().take(PAGE_ROWS).collect();
            generating += page_started.elapsed();
            if page.is_empty() {
                break;
            }
            summariser.push(&page).expect("aggregate");
        }
        generated = generating;
    }
    let pushed = started.elapsed() - generated;
    let started = Instant::now();
    let (aggregates, summary) = summariser.finish().expect("summarise");
    let finished = started.elapsed();

    println!(
        "jianzhen aggregation benchmark ({} build, {})",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        if materialised {
            "rows materialised in one Vec"
        } else {
            "rows in pages of 100,000"
        }
    );
    println!("  result rows:              {row_count}");
    println!(
        "  generating rows:          {:.2} s",
        generated.as_secs_f64()
    );
    println!(
        "  polars chunk sums + tallies: {:.2} s (subject {} rows, category {}, suite {})",
        pushed.as_secs_f64(),
        aggregates.by_subject.height(),
        aggregates.by_category.height(),
        aggregates.by_suite.height()
    );
    println!(
        "  tables + summary + stats: {:.2} s ({} paired comparisons, bootstrap intervals, latency percentiles)",
        finished.as_secs_f64(),
        summary.comparisons.len()
    );
    println!(
        "  aggregation total:        {:.2} s",
        (pushed + finished).as_secs_f64()
    );
    if let Some(peak) = peak_with_rows {
        println!("  peak memory, rows built:  {peak:.0} MiB");
    }
    if let Some(peak) = peak_memory_mib() {
        println!("  peak memory (VmHWM):      {peak:.0} MiB");
    }
}
