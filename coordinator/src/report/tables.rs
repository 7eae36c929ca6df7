//! The score tables of a report, built once from the [`Summary`] as [`Table`]s: `report.md`
//! and `report.html` render the same ones.

use crate::summary::{OUTCOMES, Summary};

use super::table::{Cell, Column, Row, Table};

/// The tables every full report shows, built once.
pub struct ScoreTables {
    /// Per endpoint and suite: subject and item means with intervals, outcome counts (the
    /// HTML leaderboard; its figures carry `data-endpoint`, `data-suite`, `data-metric`).
    pub suites: Table,
    pub categories: Table,
    pub subjects: Table,
    /// Latency and tokens per endpoint.
    pub usage: Table,
    /// Every two endpoints on the items both answered; empty with one endpoint.
    pub comparisons: Table,
}

impl ScoreTables {
    pub fn build(summary: &Summary) -> Self {
        Self {
            suites: suites(summary),
            categories: categories(summary),
            subjects: subjects(summary),
            usage: usage(summary),
            comparisons: comparisons(summary),
        }
    }
}

fn outcome_columns() -> impl Iterator<Item = Column> {
    OUTCOMES
        .iter()
        .map(|outcome| Column::number(outcome.as_str()).metric(outcome.as_str()))
}

fn suites(summary: &Summary) -> Table {
    let mut table = Table::new(
        [
            Column::text("endpoint"),
            Column::text("suite"),
            Column::number("subjects").metric("subjects"),
            Column::number("n").metric("n"),
            Column::number("subject mean").metric("subject_mean"),
            Column::text("95% CI").metric("subject_mean_ci"),
            Column::number("item mean").metric("item_mean"),
            Column::text("95% CI").metric("item_mean_ci"),
        ]
        .into_iter()
        .chain(outcome_columns()),
    )
    .with_id("leaderboard-table");
    for suite in &summary.suites {
        let cells = [
            Cell::text(&suite.endpoint),
            Cell::text(&suite.suite),
            Cell::count(suite.subjects),
            Cell::count(suite.n),
            Cell::Percent(suite.subject_mean),
            Cell::PercentInterval(suite.subject_mean_interval),
            Cell::Percent(suite.item_mean),
            Cell::PercentInterval(suite.item_mean_interval),
        ]
        .into_iter()
        .chain(
            suite
                .outcomes
                .counts
                .iter()
                .map(|count| Cell::count(*count)),
        );
        table.push_row(
            Row::new(cells)
                .keyed("endpoint", &suite.endpoint)
                .keyed("suite", &suite.suite),
        );
    }
    table
}

fn categories(summary: &Summary) -> Table {
    let mut table = Table::new([
        Column::text("endpoint"),
        Column::text("suite"),
        Column::text("category"),
        Column::number("subjects"),
        Column::number("n"),
        Column::number("subject mean"),
        Column::number("item mean"),
        Column::text("95% CI"),
    ])
    .with_id("categories-table");
    for category in &summary.categories {
        table.push([
            Cell::text(&category.endpoint),
            Cell::text(&category.suite),
            Cell::text(&category.category),
            Cell::count(category.subjects),
            Cell::count(category.n),
            Cell::Percent(category.subject_mean),
            Cell::Percent(category.item_mean),
            Cell::PercentInterval(category.item_mean_interval),
        ]);
    }
    table
}

fn subjects(summary: &Summary) -> Table {
    let mut table = Table::new(
        [
            Column::text("endpoint"),
            Column::text("suite"),
            Column::text("subject"),
            Column::text("category"),
            Column::number("n"),
            Column::number("accuracy"),
            Column::text("95% CI"),
        ]
        .into_iter()
        // No `data-metric` here: the leaderboard's (endpoint, suite, metric) cells are
        // the only ones a reader picks out of the page.
        .chain(
            OUTCOMES
                .iter()
                .map(|outcome| Column::number(outcome.as_str())),
        ),
    )
    .with_id("subjects-table");
    for subject in &summary.subjects {
        let cells = [
            Cell::text(&subject.endpoint),
            Cell::text(&subject.suite),
            Cell::text(&subject.subject),
            Cell::text(&subject.category),
            Cell::count(subject.n),
            Cell::Percent(subject.accuracy),
            Cell::PercentInterval(subject.interval),
        ]
        .into_iter()
        .chain(
            subject
                .outcomes
                .counts
                .iter()
                .map(|count| Cell::count(*count)),
        );
        table.push(cells);
    }
    table
}

fn usage(summary: &Summary) -> Table {
    let mut table = Table::new([
        Column::text("endpoint"),
        Column::number("answered"),
        Column::number("latency p50 (ms)"),
        Column::number("p95 (ms)"),
        Column::number("p99 (ms)"),
        Column::number("prompt tokens"),
        Column::number("completion tokens"),
        Column::number("requests sent"),
        Column::number("throttled (429/503)"),
    ])
    .with_id("endpoints-table");
    for usage in &summary.usage {
        table.push([
            Cell::text(&usage.endpoint),
            Cell::count(usage.answered),
            Cell::count(usage.latency_p50_ms),
            Cell::count(usage.latency_p95_ms),
            Cell::count(usage.latency_p99_ms),
            Cell::count(usage.prompt_tokens),
            Cell::count(usage.completion_tokens),
            Cell::count(usage.attempts),
            Cell::count(usage.throttled),
        ]);
    }
    table
}

fn comparisons(summary: &Summary) -> Table {
    let mut table = Table::new([
        Column::text("suite"),
        Column::text("first"),
        Column::text("second"),
        Column::number("items"),
        Column::number("first acc"),
        Column::number("second acc"),
        Column::number("difference"),
        Column::text("95% CI"),
        Column::number("only first"),
        Column::number("only second"),
        Column::number("p").metric("p_value"),
        Column::text("significant"),
    ])
    .with_id("comparisons-table");
    for pair in &summary.comparisons {
        let comparison = &pair.comparison;
        let significant = comparison.significant();
        table.push_row(
            Row::new([
                Cell::text(&pair.suite),
                Cell::text(&pair.first),
                Cell::text(&pair.second),
                Cell::count(comparison.items),
                Cell::Percent(pair.first_accuracy),
                Cell::Percent(pair.second_accuracy),
                Cell::Percent(comparison.difference),
                Cell::PercentInterval(comparison.interval),
                Cell::count(comparison.only_first),
                Cell::count(comparison.only_second),
                Cell::Fixed {
                    value: comparison.p_value,
                    decimals: 4,
                },
                Cell::text(if significant { "yes (p < 0.05)" } else { "no" }),
            ])
            .emphasised(significant),
        );
    }
    table
}
