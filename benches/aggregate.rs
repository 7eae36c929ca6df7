//! Aggregation benchmark: 5 million result rows (4 endpoints × 2 suites × 60 subjects ×
//! ~10,400 items) into every report table (subject, category, suite frames, the summary
//! with bootstrap intervals, paired comparisons), printing seconds and peak memory.
//!
//! `cargo bench --bench aggregate` (release), or `--profile dev` for a quick look.
//! `JIANZHEN_BENCH_ROWS` changes the row count.

use std::time::Instant;

use jianzhen_coordinator::aggregate::aggregate;
use jianzhen_coordinator::stats::SplitMix64;
use jianzhen_coordinator::store::ScoredRow;
use jianzhen_coordinator::summary::summarise;

/// Peak resident memory of this process (Linux `VmHWM`), in MiB.
fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    let rows_wanted: usize = std::env::var("JIANZHEN_BENCH_ROWS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(5_000_000);
    let endpoints = ["alpha", "beta", "gamma", "delta"];
    let suites = ["ceval", "cmmlu"];
    let subjects: Vec<String> = (0..60).map(|index| format!("subject_{index:02}")).collect();
    let categories = ["STEM", "Humanities", "Social Science", "Other"];
    let outcomes = [
        "correct",
        "wrong",
        "unextractable",
        "truncated",
        "refused",
        "api_error",
    ];
    let items_per_subject = rows_wanted / (endpoints.len() * suites.len() * subjects.len());

    let started = Instant::now();
    let mut rng = SplitMix64::new(5);
    let mut rows = Vec::with_capacity(rows_wanted);
    for endpoint in endpoints {
        for suite in suites {
            for (subject_index, subject) in subjects.iter().enumerate() {
                for item in 0..items_per_subject {
                    let roll = rng.below(100);
                    let outcome = match roll {
                        0..=54 => outcomes[0],
                        55..=89 => outcomes[1],
                        90..=94 => outcomes[2],
                        95..=96 => outcomes[3],
                        97 => outcomes[4],
                        _ => outcomes[5],
                    };
                    rows.push(ScoredRow {
                        endpoint: endpoint.to_string(),
                        suite: suite.to_string(),
                        subject: subject.clone(),
                        category: categories[subject_index % categories.len()].to_string(),
                        item_id: format!("{subject}/test/{item}"),
                        repeat: 0,
                        gold: "A".to_string(),
                        extracted: Some("A".to_string()),
                        outcome: outcome.parse().expect("an outcome name"),
                        credit: f64::from(u8::from(outcome == "correct")),
                        weight: 1.0,
                        latency_ms: rng.below(2000) as u64,
                        prompt_tokens: 300,
                        completion_tokens: 4,
                        attempts: 1,
                        throttled: 0,
                        messages_json: String::new(),
                        option_count: 4,
                        response_text: String::new(),
                        finish_reason: "stop".to_string(),
                        error_message: String::new(),
                    });
                }
            }
        }
    }
    let generated = started.elapsed();

    let started = Instant::now();
    let aggregates = aggregate(&rows).expect("aggregate");
    let aggregated = started.elapsed();
    let started = Instant::now();
    let summary = summarise(&aggregates, &rows).expect("summarise");
    let summarised = started.elapsed();

    println!(
        "jianzhen aggregation benchmark ({} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    println!("  result rows:              {}", rows.len());
    println!(
        "  generating rows:          {:.2} s",
        generated.as_secs_f64()
    );
    println!(
        "  polars tables:            {:.2} s (subject {} rows, category {}, suite {})",
        aggregated.as_secs_f64(),
        aggregates.by_subject.height(),
        aggregates.by_category.height(),
        aggregates.by_suite.height()
    );
    println!(
        "  summary + stats:          {:.2} s ({} paired comparisons, bootstrap intervals, latency percentiles)",
        summarised.as_secs_f64(),
        summary.comparisons.len()
    );
    println!(
        "  aggregation total:        {:.2} s",
        (aggregated + summarised).as_secs_f64()
    );
    if let Some(peak) = peak_memory_mib() {
        println!("  peak memory (VmHWM):      {peak:.0} MiB");
    }
}
