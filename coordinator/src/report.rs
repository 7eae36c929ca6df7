//! The report folder of a run: `report.md`, `scores.csv`, `manifest.json`.
//!
//! Rendered at the coordinator from stored, scored results (so any client can ask for it
//! and a run can be re-reported without calling the model again).

use std::fmt::Write as _;

use serde_json::json;

use crate::aggregate::{self, float_at, int_at, text_at, wilson_interval};
use crate::error::CoordinatorError;
use crate::store::{RunCounts, RunRecord, ScoredRow};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    pub name: String,
    pub content: Vec<u8>,
}

fn percent(value: f64) -> String {
    if value.is_nan() {
        return "–".to_string();
    }
    format!("{:.1}", value * 100.0)
}

fn percentile(sorted: &[u64], fraction: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Per-endpoint latency and token figures, computed outside polars because they are
/// order statistics over a handful of thousands of values.
struct EndpointUsage {
    endpoint: String,
    latency_p50_ms: u64,
    latency_p95_ms: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
    answered: usize,
    attempts: u64,
    throttled: u64,
}

fn endpoint_usage(rows: &[ScoredRow]) -> Vec<EndpointUsage> {
    let mut endpoints: Vec<&str> = rows.iter().map(|row| row.endpoint.as_str()).collect();
    endpoints.sort_unstable();
    endpoints.dedup();
    endpoints
        .into_iter()
        .map(|endpoint| {
            let answered: Vec<&ScoredRow> = rows
                .iter()
                .filter(|row| row.endpoint == endpoint && row.outcome != "api_error")
                .collect();
            let all: Vec<&ScoredRow> = rows.iter().filter(|row| row.endpoint == endpoint).collect();
            let mut latencies: Vec<u64> = answered.iter().map(|row| row.latency_ms).collect();
            latencies.sort_unstable();
            EndpointUsage {
                endpoint: endpoint.to_string(),
                latency_p50_ms: percentile(&latencies, 0.5),
                latency_p95_ms: percentile(&latencies, 0.95),
                prompt_tokens: answered
                    .iter()
                    .map(|row| u64::from(row.prompt_tokens))
                    .sum(),
                completion_tokens: answered
                    .iter()
                    .map(|row| u64::from(row.completion_tokens))
                    .sum(),
                answered: answered.len(),
                attempts: all.iter().map(|row| u64::from(row.attempts)).sum(),
                throttled: all.iter().map(|row| u64::from(row.throttled)).sum(),
            }
        })
        .collect()
}

/// # Errors
/// Aggregation errors; a stored manifest that is not JSON.
pub fn render(
    record: &RunRecord,
    counts: &RunCounts,
    rows: &[ScoredRow],
) -> Result<Vec<ReportFile>, CoordinatorError> {
    let aggregates = aggregate::aggregate(rows)?;
    let manifest: serde_json::Value =
        serde_json::from_str(&record.manifest_json).map_err(|error| {
            CoordinatorError::Internal(format!(
                "stored manifest of {} is not JSON: {error}",
                record.run_id
            ))
        })?;

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
        manifest["harness_version"].as_str().unwrap_or("?"),
        manifest["extractor"].as_str().unwrap_or("?")
    );
    let _ = writeln!(
        md,
        "- Seed: {}; repeats: {}\n",
        manifest["seed"], manifest["repeats"]
    );

    let _ = writeln!(md, "## Scores by suite\n");
    let _ = writeln!(
        md,
        "Accuracy in %. *Subject mean* is the mean of per-subject accuracies (how C-Eval and CMMLU publish their averages); *item mean* weights every item equally. The 95% interval (Wilson) is for the item mean. Every answered item is in the denominator: unextractable answers, answers cut off by the token limit (truncated: raise `max_tokens`), refusals (moderation or a declined answer) and API errors count against the score and are shown apart.\n"
    );
    let _ = writeln!(
        md,
        "| endpoint | suite | subjects | n | subject mean | item mean | 95% CI | correct | wrong | unextractable | truncated | refused | api_error |"
    );
    let _ = writeln!(
        md,
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"
    );
    let suites = &aggregates.by_suite;
    for row in 0..suites.height() {
        let n = int_at(suites, "n", row)?;
        let correct = int_at(suites, "correct", row)?;
        let (low, high) = wilson_interval(correct, n);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {}–{} | {} | {} | {} | {} | {} | {} |",
            text_at(suites, "endpoint", row)?,
            text_at(suites, "suite", row)?,
            int_at(suites, "subjects", row)?,
            n,
            percent(float_at(suites, "accuracy_subject_mean", row)?),
            percent(float_at(suites, "accuracy_item_mean", row)?),
            percent(low),
            percent(high),
            correct,
            int_at(suites, "wrong", row)?,
            int_at(suites, "unextractable", row)?,
            int_at(suites, "truncated", row)?,
            int_at(suites, "refused", row)?,
            int_at(suites, "api_error", row)?,
        );
    }

    let _ = writeln!(md, "\n## Endpoints\n");
    let _ = writeln!(
        md,
        "| endpoint | answered | latency p50 (ms) | latency p95 (ms) | prompt tokens | completion tokens | requests sent | throttled (429/503) |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for usage in endpoint_usage(rows) {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            usage.endpoint,
            usage.answered,
            usage.latency_p50_ms,
            usage.latency_p95_ms,
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.attempts,
            usage.throttled
        );
    }

    let _ = writeln!(md, "\n## Scores by category\n");
    let _ = writeln!(
        md,
        "| endpoint | suite | category | subjects | n | subject mean | item mean |"
    );
    let _ = writeln!(md, "|---|---|---|---:|---:|---:|---:|");
    let categories = &aggregates.by_category;
    for row in 0..categories.height() {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            text_at(categories, "endpoint", row)?,
            text_at(categories, "suite", row)?,
            text_at(categories, "category", row)?,
            int_at(categories, "subjects", row)?,
            int_at(categories, "n", row)?,
            percent(float_at(categories, "accuracy_subject_mean", row)?),
            percent(float_at(categories, "accuracy_item_mean", row)?),
        );
    }

    let _ = writeln!(md, "\n## Scores by subject\n");
    let _ = writeln!(
        md,
        "| endpoint | suite | subject | category | n | correct | accuracy | wrong | unextractable | truncated | refused | api_error |"
    );
    let _ = writeln!(
        md,
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let subjects = &aggregates.by_subject;
    for row in 0..subjects.height() {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            text_at(subjects, "endpoint", row)?,
            text_at(subjects, "suite", row)?,
            text_at(subjects, "subject", row)?,
            text_at(subjects, "category", row)?,
            int_at(subjects, "n", row)?,
            int_at(subjects, "correct", row)?,
            percent(float_at(subjects, "accuracy", row)?),
            int_at(subjects, "wrong", row)?,
            int_at(subjects, "unextractable", row)?,
            int_at(subjects, "truncated", row)?,
            int_at(subjects, "refused", row)?,
            int_at(subjects, "api_error", row)?,
        );
    }

    let _ = writeln!(md, "\n## Provenance of this run\n");
    if let Some(suites) = manifest["suites"].as_array() {
        for suite in suites {
            let files = suite["files"].as_array().map_or(0, Vec::len);
            let _ = writeln!(
                md,
                "- Suite `{}` split `{}`: template `{}` (hash `{}`), {}-shot, {} items in {} subjects from {} files under `{}`; scoring: {}",
                suite["suite"].as_str().unwrap_or("?"),
                suite["split"].as_str().unwrap_or("?"),
                suite["template"].as_str().unwrap_or("?"),
                suite["template_hash"].as_str().unwrap_or("?"),
                suite["shots"],
                suite["items"],
                suite["subjects"],
                files,
                suite["data_dir"].as_str().unwrap_or("?"),
                suite["scoring"].as_str().unwrap_or("?"),
            );
        }
    }
    if let Some(endpoints) = manifest["endpoints"].as_array() {
        for endpoint in endpoints {
            let _ = writeln!(
                md,
                "- Endpoint `{}`: model `{}` at `{}`, temperature {}, max_tokens {}, max concurrency {}, timeout {} s",
                endpoint["name"].as_str().unwrap_or("?"),
                endpoint["model"].as_str().unwrap_or("?"),
                endpoint["base_url"].as_str().unwrap_or("?"),
                endpoint["temperature"],
                endpoint["max_tokens"],
                endpoint["max_concurrency"],
                endpoint["timeout_secs"],
            );
        }
    }
    let _ = writeln!(
        md,
        "\nData file hashes, template hashes and all settings are in `manifest.json`."
    );

    let mut full_manifest = manifest.clone();
    full_manifest["report"] = json!({
        "state": record.state,
        "total_items": counts.total_items,
        "answered_items": counts.done_items,
        "outcomes": counts.outcomes.iter().map(|(outcome, count)| (outcome.clone(), json!(count))).collect::<serde_json::Map<_, _>>(),
    });
    let manifest_bytes = serde_json::to_vec_pretty(&full_manifest)
        .map_err(|error| CoordinatorError::Internal(error.to_string()))?;

    Ok(vec![
        ReportFile {
            name: "report.md".to_string(),
            content: md.into_bytes(),
        },
        ReportFile {
            name: "scores.csv".to_string(),
            content: aggregate::scores_csv(subjects)?,
        },
        ReportFile {
            name: "manifest.json".to_string(),
            content: manifest_bytes,
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_ranks() {
        let values = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
        assert_eq!(percentile(&values, 0.5), 60);
        assert_eq!(percentile(&values, 0.95), 100);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
