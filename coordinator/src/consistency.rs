//! Consistency between repeats: how many items got a different answer when asked again.
//!
//! Temperature 0 does not make an endpoint deterministic. A server batching requests
//! across parallel slots (llama.cpp's `-np`, vLLM, SGLang) sums floating-point values in
//! an order that depends on what else is in the batch, so a close call between two
//! options can flip from one request to the next; vendor APIs add load balancing over
//! replicas and silent model updates. A run with `repeats > 1` measures this instead of
//! hiding it: for every item answered in at least two repeats, the report says whether
//! all its answers agree.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::report::table::{Cell, Column, Table};
use crate::report::{html, markdown};
use crate::store::ScoredRow;
use jianzhen_suites::outcome::Outcome;

/// How consistent one endpoint was on one suite over the repeats of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatConsistency {
    pub endpoint: String,
    pub suite: String,
    /// Repeats per item in the run (the most any item has).
    pub repeats: u32,
    /// Items answered (without an API error) in at least two repeats.
    pub items: u64,
    /// Of those, items whose answers differ between repeats.
    pub changed_answer: u64,
    /// Of those, items scored correct in one repeat and not in another.
    pub changed_outcome: u64,
}

impl RepeatConsistency {
    /// Share of compared items whose answer changed, in `[0, 1]`.
    pub fn changed_share(&self) -> f64 {
        if self.items == 0 {
            return f64::NAN;
        }
        self.changed_answer as f64 / self.items as f64
    }
}

/// What counts as "the answer" of a row: the extracted answer, or the outcome when none
/// could be extracted (an unextractable answer differs from a letter).
fn answer_of(row: &ScoredRow) -> String {
    match &row.extracted {
        Some(extracted) => format!("answer:{extracted}"),
        None => format!("outcome:{}", row.outcome),
    }
}

/// Consistency per (endpoint, suite), for runs whose items were asked more than once;
/// empty when every item was asked once.
pub fn repeat_consistency(rows: &[ScoredRow]) -> Vec<RepeatConsistency> {
    // (endpoint, suite) -> item -> (repeat, answer, correct)
    type Answers<'a> = BTreeMap<&'a str, Vec<(u32, String, bool)>>;
    let mut by_item: BTreeMap<(&str, &str), Answers<'_>> = BTreeMap::new();
    for row in rows.iter().filter(|row| row.outcome != Outcome::ApiError) {
        by_item
            .entry((row.endpoint.as_str(), row.suite.as_str()))
            .or_default()
            .entry(row.item_id.as_str())
            .or_default()
            .push((row.repeat, answer_of(row), row.outcome == Outcome::Correct));
    }
    let repeats = rows.iter().map(|row| row.repeat + 1).max().unwrap_or(0);
    if repeats < 2 {
        return Vec::new();
    }
    by_item
        .into_iter()
        .map(|((endpoint, suite), items)| {
            let mut consistency = RepeatConsistency {
                endpoint: endpoint.to_string(),
                suite: suite.to_string(),
                repeats,
                items: 0,
                changed_answer: 0,
                changed_outcome: 0,
            };
            for answers in items.values().filter(|answers| answers.len() >= 2) {
                consistency.items += 1;
                let first = &answers[0];
                consistency.changed_answer +=
                    u64::from(answers.iter().any(|answer| answer.1 != first.1));
                consistency.changed_outcome +=
                    u64::from(answers.iter().any(|answer| answer.2 != first.2));
            }
            consistency
        })
        .collect()
}

const EXPLANATION: &str = "Items answered in at least two repeats (API errors left out), and how many got a different answer (the extracted answer, or unextractable) or a different score between repeats. Temperature 0 is not deterministic on most servers: batching across parallel requests changes the order of floating-point sums, so close calls flip (see docs/reports.md). Scores are means over all repeats.";

/// The consistency table, built once for both pages.
fn consistency_table(consistency: &[RepeatConsistency]) -> Table {
    let mut table = Table::new([
        Column::text("endpoint"),
        Column::text("suite"),
        Column::number("repeats"),
        Column::number("items compared"),
        Column::number("answer changed").metric("answer_changed"),
        Column::number("%"),
        Column::number("score changed"),
    ])
    .with_id("consistency-table");
    for row in consistency {
        table.push([
            Cell::text(&row.endpoint),
            Cell::text(&row.suite),
            Cell::count(row.repeats),
            Cell::count(row.items),
            Cell::count(row.changed_answer),
            Cell::Percent(row.changed_share()),
            Cell::count(row.changed_outcome),
        ]);
    }
    table
}

/// The `## Consistency between repeats` section of `report.md`; nothing for a run with
/// one repeat.
pub fn markdown_section(md: &mut String, rows: &[ScoredRow]) {
    let consistency = repeat_consistency(rows);
    if consistency.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## Consistency between repeats\n");
    let _ = writeln!(md, "{EXPLANATION}\n");
    md.push_str(&markdown::table(&consistency_table(&consistency)));
}

/// The same section for `report.html`.
pub fn html_section(page: &mut String, rows: &[ScoredRow]) {
    let consistency = repeat_consistency(rows);
    if consistency.is_empty() {
        return;
    }
    let _ = writeln!(
        page,
        "<h2 id=\"consistency\">Consistency between repeats</h2>\n<p class=\"note\">{}</p>",
        html::escape(EXPLANATION)
    );
    page.push_str(&html::table(&consistency_table(&consistency)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(item: &str, repeat: u32, extracted: Option<&str>, outcome: &str) -> ScoredRow {
        ScoredRow {
            item_id: item.into(),
            repeat,
            extracted: extracted.map(str::to_string),
            ..ScoredRow::example("m", "law", outcome)
        }
    }

    #[test]
    fn items_whose_answer_changed_between_repeats_are_counted() {
        let rows = vec![
            // Same answer twice.
            answered("a", 0, Some("B"), "correct"),
            answered("a", 1, Some("B"), "correct"),
            // A different wrong answer: the answer changed, the score did not.
            answered("b", 0, Some("C"), "wrong"),
            answered("b", 1, Some("D"), "wrong"),
            // Right, then unreadable: both changed.
            answered("c", 0, Some("A"), "correct"),
            answered("c", 1, None, "unextractable"),
            // Only one repeat answered: not compared.
            answered("d", 0, Some("A"), "correct"),
            answered("d", 1, None, "api_error"),
        ];
        let consistency = repeat_consistency(&rows);
        assert_eq!(
            consistency,
            [RepeatConsistency {
                endpoint: "m".into(),
                suite: rows[0].suite.clone(),
                repeats: 2,
                items: 3,
                changed_answer: 2,
                changed_outcome: 1,
            }]
        );
        let mut md = String::new();
        markdown_section(&mut md, &rows);
        assert!(md.contains("| m | ceval | 2 | 3 | 2 | 66.7 | 1 |"), "{md}");
    }

    #[test]
    fn a_run_with_one_repeat_has_no_section() {
        let rows = vec![answered("a", 0, Some("B"), "correct")];
        assert!(repeat_consistency(&rows).is_empty());
        let mut md = String::new();
        markdown_section(&mut md, &rows);
        assert!(md.is_empty());
    }
}
