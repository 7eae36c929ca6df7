//! Run against run, item by item: what changed between two runs (a new model version, a
//! new prompt, a re-scored run). `jianzhen report RUN --compare OTHER` writes
//! `compare.md` and `compare.csv` beside the run's report.
//!
//! Endpoints are paired by name; when the runs share no endpoint name and each has exactly
//! one endpoint, those two are paired. Items are matched by (suite, item id, repeat).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::report::{ReportFile, percent, percent_interval};
use crate::stats::paired_comparison;
use crate::store::{RunRecord, ScoredRow};
use jianzhen_suites::outcome::Outcome;

/// Changed items listed in `compare.md`; all of them are in `compare.csv`.
const LISTED_CHANGES: usize = 200;

type ItemKey<'a> = (&'a str, &'a str, u32);

fn by_item<'a>(rows: &'a [ScoredRow], endpoint: &str) -> BTreeMap<ItemKey<'a>, &'a ScoredRow> {
    rows.iter()
        .filter(|row| row.endpoint == endpoint)
        .map(|row| ((row.suite.as_str(), row.item_id.as_str(), row.repeat), row))
        .collect()
}

fn endpoint_pairs(rows_a: &[ScoredRow], rows_b: &[ScoredRow]) -> Vec<(String, String)> {
    let names = |rows: &[ScoredRow]| {
        rows.iter()
            .map(|row| row.endpoint.clone())
            .collect::<BTreeSet<_>>()
    };
    let (names_a, names_b) = (names(rows_a), names(rows_b));
    let shared: Vec<(String, String)> = names_a
        .intersection(&names_b)
        .map(|name| (name.clone(), name.clone()))
        .collect();
    if !shared.is_empty() {
        return shared;
    }
    match (names_a.iter().next(), names_b.iter().next()) {
        (Some(a), Some(b)) if names_a.len() == 1 && names_b.len() == 1 => {
            vec![(a.clone(), b.clone())]
        }
        _ => Vec::new(),
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

pub fn render_comparison(
    a: &RunRecord,
    rows_a: &[ScoredRow],
    b: &RunRecord,
    rows_b: &[ScoredRow],
) -> Vec<ReportFile> {
    let mut md = String::new();
    let mut csv = String::from(
        "endpoint_a,endpoint_b,suite,subject,item_id,repeat,gold,extracted_a,extracted_b,outcome_a,outcome_b,changed\n",
    );
    let _ = writeln!(md, "# Jianzhen comparison: {} vs {}\n", a.name, b.name);
    let _ = writeln!(
        md,
        "- A: `{}` ({})\n- B: `{}` ({})\n",
        a.run_id, a.name, b.run_id, b.name
    );
    let pairs = endpoint_pairs(rows_a, rows_b);
    if pairs.is_empty() {
        let _ = writeln!(
            md,
            "The runs share no endpoint name and do not have one endpoint each: nothing to pair."
        );
    }
    let mut changes = Vec::new();
    let _ = writeln!(
        md,
        "| endpoint A | endpoint B | suite | items in both | accuracy A | accuracy B | B − A | 95% CI | p (McNemar) | right→wrong | wrong→right | answer changed | outcome changed |"
    );
    let _ = writeln!(
        md,
        "|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"
    );
    for (endpoint_a, endpoint_b) in &pairs {
        let items_a = by_item(rows_a, endpoint_a);
        let items_b = by_item(rows_b, endpoint_b);
        let mut per_suite: BTreeMap<&str, Vec<(&ScoredRow, &ScoredRow)>> = BTreeMap::new();
        for (key, row_a) in &items_a {
            if let Some(row_b) = items_b.get(key) {
                per_suite.entry(key.0).or_default().push((row_a, row_b));
            }
        }
        for (suite, matched) in per_suite {
            let correct_pairs: Vec<(bool, bool)> = matched
                .iter()
                .map(|(row_a, row_b)| {
                    (
                        row_b.outcome == Outcome::Correct,
                        row_a.outcome == Outcome::Correct,
                    )
                })
                .collect();
            let comparison = paired_comparison(&correct_pairs);
            let n = matched.len() as f64;
            let accuracy_a = matched
                .iter()
                .filter(|(row_a, _)| row_a.outcome == Outcome::Correct)
                .count() as f64
                / n;
            let accuracy_b = matched
                .iter()
                .filter(|(_, row_b)| row_b.outcome == Outcome::Correct)
                .count() as f64
                / n;
            let right_to_wrong = matched
                .iter()
                .filter(|(x, y)| x.outcome == Outcome::Correct && y.outcome != Outcome::Correct)
                .count();
            let wrong_to_right = matched
                .iter()
                .filter(|(x, y)| x.outcome != Outcome::Correct && y.outcome == Outcome::Correct)
                .count();
            let answer_changed = matched
                .iter()
                .filter(|(x, y)| x.extracted != y.extracted)
                .count();
            let outcome_changed = matched
                .iter()
                .filter(|(x, y)| x.outcome != y.outcome)
                .count();
            let _ = writeln!(
                md,
                "| {endpoint_a} | {endpoint_b} | {suite} | {} | {} | {} | {} | {} | {:.4} | {right_to_wrong} | {wrong_to_right} | {answer_changed} | {outcome_changed} |",
                matched.len(),
                percent(accuracy_a),
                percent(accuracy_b),
                percent(comparison.difference),
                percent_interval(comparison.interval),
                comparison.p_value,
            );
            for (row_a, row_b) in matched {
                let changed = row_a.outcome != row_b.outcome || row_a.extracted != row_b.extracted;
                let _ = writeln!(
                    csv,
                    "{},{},{},{},{},{},{},{},{},{},{},{}",
                    csv_field(endpoint_a),
                    csv_field(endpoint_b),
                    csv_field(suite),
                    csv_field(&row_a.subject),
                    csv_field(&row_a.item_id),
                    row_a.repeat,
                    csv_field(&row_a.gold),
                    csv_field(row_a.extracted.as_deref().unwrap_or("")),
                    csv_field(row_b.extracted.as_deref().unwrap_or("")),
                    row_a.outcome,
                    row_b.outcome,
                    changed
                );
                if changed {
                    changes.push((row_a, row_b));
                }
            }
        }
    }
    let _ = writeln!(md, "\n## Changed items\n");
    let _ = writeln!(
        md,
        "{} items changed outcome or extracted answer{}.\n",
        changes.len(),
        if changes.len() > LISTED_CHANGES {
            format!("; the first {LISTED_CHANGES} are listed, all are in compare.csv")
        } else {
            String::new()
        }
    );
    if !changes.is_empty() {
        let _ = writeln!(md, "| suite | subject | item | gold | A | B |");
        let _ = writeln!(md, "|---|---|---|---|---|---|");
        for (row_a, row_b) in changes.iter().take(LISTED_CHANGES) {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} ({}) | {} ({}) |",
                row_a.suite,
                row_a.subject,
                row_a.item_id,
                row_a.gold,
                row_a.outcome,
                row_a.extracted.as_deref().unwrap_or("–"),
                row_b.outcome,
                row_b.extracted.as_deref().unwrap_or("–"),
            );
        }
    }
    vec![
        ReportFile {
            name: "compare.md".to_string(),
            content: md.into_bytes(),
        },
        ReportFile {
            name: "compare.csv".to_string(),
            content: csv.into_bytes(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(endpoint: &str, item: &str, outcome: &str, extracted: &str) -> ScoredRow {
        ScoredRow {
            item_id: item.into(),
            extracted: Some(extracted.into()),
            response_text: extracted.into(),
            ..ScoredRow::example(endpoint, "law", outcome)
        }
    }

    fn record(id: &str) -> RunRecord {
        RunRecord {
            run_id: id.into(),
            name: id.into(),
            spec_toml: String::new(),
            manifest_json: "{}".into(),
            state: "complete".into(),
            created_at_ms: 0,
            owner: String::new(),
        }
    }

    #[test]
    fn changes_between_runs_are_counted_item_by_item() {
        let before = vec![
            row("m", "law/val/0", "correct", "A"),
            row("m", "law/val/1", "wrong", "B"),
            row("m", "law/val/2", "wrong", "C"),
        ];
        // A different endpoint name, one endpoint per run: paired anyway.
        let after = vec![
            row("m2", "law/val/0", "wrong", "D"),
            row("m2", "law/val/1", "correct", "A"),
            row("m2", "law/val/2", "wrong", "C"),
        ];
        let files = render_comparison(&record("run-a"), &before, &record("run-b"), &after);
        let md = String::from_utf8(files[0].content.clone()).expect("utf-8");
        assert!(
            md.contains("| m | m2 | ceval | 3 | 33.3 | 33.3 | 0.0 |"),
            "{md}"
        );
        assert!(
            md.contains("| 1 | 1 | 2 | 2 |"),
            "right→wrong, wrong→right, answer changed, outcome changed: {md}"
        );
        assert!(md.contains("2 items changed"), "{md}");
        let csv = String::from_utf8(files[1].content.clone()).expect("utf-8");
        assert_eq!(csv.lines().count(), 4);
        assert!(
            csv.contains("m,m2,ceval,law,law/val/0,0,A,A,D,correct,wrong,true"),
            "{csv}"
        );
        assert!(csv.contains("law/val/2,0,A,C,C,wrong,wrong,false"), "{csv}");
    }
}
