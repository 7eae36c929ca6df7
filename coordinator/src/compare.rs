//! Run against run, item by item: what changed between two runs (a new model version, a
//! new prompt, a re-scored run). `jianzhen report RUN --compare OTHER` writes
//! `compare.md` and `compare.csv` beside the run's report.
//!
//! Endpoints are paired by name; when the runs share no endpoint name and each has exactly
//! one endpoint, those two are paired. Items are matched by (suite, item id, repeat).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::report::table::{Cell, Column, Table};
use crate::report::{ReportFile, csv, markdown};
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

/// An extracted answer as a cell: none is a missing value (an empty CSV field).
fn extracted_cell(extracted: Option<&str>) -> Cell {
    extracted.map_or(Cell::Missing, Cell::text)
}

/// `compare.md` (per suite, then the changed items) and `compare.csv` (every item in
/// both runs), from tables built once.
pub fn render_comparison(
    a: &RunRecord,
    rows_a: &[ScoredRow],
    b: &RunRecord,
    rows_b: &[ScoredRow],
) -> Vec<ReportFile> {
    let mut md = String::new();
    let mut per_suite_table = Table::new([
        Column::text("endpoint A"),
        Column::text("endpoint B"),
        Column::text("suite"),
        Column::number("items in both"),
        Column::number("accuracy A"),
        Column::number("accuracy B"),
        Column::number("B − A"),
        Column::text("95% CI"),
        Column::number("p (McNemar)"),
        Column::number("right→wrong"),
        Column::number("wrong→right"),
        Column::number("answer changed"),
        Column::number("outcome changed"),
    ]);
    let mut items_table = Table::new([
        Column::text("endpoint_a"),
        Column::text("endpoint_b"),
        Column::text("suite"),
        Column::text("subject"),
        Column::text("item_id"),
        Column::number("repeat"),
        Column::text("gold"),
        Column::text("extracted_a"),
        Column::text("extracted_b"),
        Column::text("outcome_a"),
        Column::text("outcome_b"),
        Column::text("changed"),
    ]);
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
            per_suite_table.push([
                Cell::text(endpoint_a),
                Cell::text(endpoint_b),
                Cell::text(suite),
                Cell::count(matched.len()),
                Cell::Percent(accuracy_a),
                Cell::Percent(accuracy_b),
                Cell::Percent(comparison.difference),
                Cell::PercentInterval(comparison.interval),
                Cell::Fixed {
                    value: comparison.p_value,
                    decimals: 4,
                },
                Cell::count(right_to_wrong),
                Cell::count(wrong_to_right),
                Cell::count(answer_changed),
                Cell::count(outcome_changed),
            ]);
            for (row_a, row_b) in matched {
                let changed = row_a.outcome != row_b.outcome || row_a.extracted != row_b.extracted;
                items_table.push([
                    Cell::text(endpoint_a),
                    Cell::text(endpoint_b),
                    Cell::text(suite),
                    Cell::text(&row_a.subject),
                    Cell::text(&row_a.item_id),
                    Cell::count(row_a.repeat),
                    // A hidden split's item has no gold: a missing value, not empty text.
                    if row_a.gold.is_empty() {
                        Cell::Missing
                    } else {
                        Cell::text(&row_a.gold)
                    },
                    extracted_cell(row_a.extracted.as_deref()),
                    extracted_cell(row_b.extracted.as_deref()),
                    Cell::text(row_a.outcome.as_str()),
                    Cell::text(row_b.outcome.as_str()),
                    Cell::text(changed.to_string()),
                ]);
                if changed {
                    changes.push((row_a, row_b));
                }
            }
        }
    }
    md.push_str(&markdown::table(&per_suite_table));
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
        let mut changes_table = Table::new([
            Column::text("suite"),
            Column::text("subject"),
            Column::text("item"),
            Column::text("gold"),
            Column::text("A"),
            Column::text("B"),
        ]);
        let reading = |row: &ScoredRow| {
            Cell::text(format!(
                "{} ({})",
                row.outcome,
                row.extracted.as_deref().unwrap_or("–")
            ))
        };
        for (row_a, row_b) in changes.iter().take(LISTED_CHANGES) {
            changes_table.push([
                Cell::text(&row_a.suite),
                Cell::text(&row_a.subject),
                Cell::text(&row_a.item_id),
                Cell::text(&row_a.gold),
                reading(row_a),
                reading(row_b),
            ]);
        }
        md.push_str(&markdown::table(&changes_table));
    }
    vec![
        ReportFile {
            name: "compare.md".to_string(),
            content: md.into_bytes(),
        },
        ReportFile {
            name: "compare.csv".to_string(),
            content: csv::table(&items_table),
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
