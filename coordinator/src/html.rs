//! `report.html`: one self-contained file a reviewer can open anywhere. Inline CSS and
//! SVG only — no script, no font, no image from the network — and the page's own CJK
//! font: a subset of a CJK font with only the characters it uses ([`crate::font`]).
//!
//! Sections: leaderboard, category bars with 95% whiskers, subject heatmap, outcome
//! stacked bars, paired comparisons, latency and tokens, the manifest, and example items
//! per subject (prompt, raw answer, extracted answer, gold) for reading failures.
//! This file holds the page: its chrome, charts, example items and font. Its tables are
//! the report's [`crate::report::table::Table`]s, built once (the same ones `report.md`
//! shows) and rendered by [`crate::report::html`]; the leaderboard's cells carry `data-*`
//! attributes naming what they show, so tests can read them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::report::html::{inline_markdown, section, table};
use crate::report::{self, ReportInput, percent};
use crate::store::ScoredRow;
use crate::summary::{CategorySummary, OUTCOMES};
use jianzhen_suites::outcome::Outcome;

/// Escapes text for HTML (the report's HTML renderer's, for the sections that still write
/// their own HTML).
pub use crate::report::html::escape;

/// Examples shown per endpoint and subject: failures first, then one success.
const EXAMPLES_PER_ENDPOINT: usize = 4;

const PALETTE: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

fn outcome_colour(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Correct => "#2e7d32",
        Outcome::Wrong => "#c62828",
        Outcome::Unextractable => "#f9a825",
        Outcome::Truncated => "#6a1b9a",
        Outcome::Refused => "#455a64",
        Outcome::ApiError | Outcome::Answered | Outcome::Recorded => "#8d6e63",
    }
}

fn anchor(suite: &str, subject: &str) -> String {
    let clean = |text: &str| {
        text.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
    };
    format!("examples-{}-{}", clean(suite), clean(subject))
}

const STYLE: &str = r#"
body { font-family: "Jianzhen CJK", "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", "Helvetica Neue", Arial, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; margin-top: 2.2rem; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.meta { color: #555; } .note { color: #555; font-size: 0.9rem; max-width: 60rem; }
.legend span { display: inline-block; margin-right: 1rem; font-size: 0.85rem; }
.legend i { display: inline-block; width: 0.8rem; height: 0.8rem; margin-right: 0.3rem; vertical-align: middle; }
pre { background: #f7f7f7; padding: 0.6rem; overflow-x: auto; font-size: 0.8rem; white-space: pre-wrap; word-break: break-word; }
.answer { white-space: pre-wrap; word-break: break-word; max-width: 28rem; }
.sig { font-weight: bold; color: #b71c1c; }
nav a { margin-right: 0.8rem; }
"#;

pub fn render(input: &ReportInput<'_>) -> String {
    let ReportInput {
        record,
        counts,
        manifest,
        manifest_document,
        summary,
        tables,
        rows,
        provenance_markdown,
        hidden,
        ..
    } = input;
    let or_unknown = |text: &str| {
        if text.is_empty() {
            "?".to_string()
        } else {
            escape(text)
        }
    };
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Jianzhen report: {}</title>\n<style>{FONT_FACE_SLOT}{STYLE}</style>\n</head>\n<body>\n",
        escape(&record.name)
    );
    let _ = writeln!(
        page,
        "<h1>鉴真 Jianzhen report: {}</h1>",
        escape(&record.name)
    );
    let _ = writeln!(
        page,
        "<p class=\"meta\">Run <code>{}</code> ({}) · {} of {} items answered · jianzhen {} · extractor <code>{}</code> · seed {} · repeats {}</p>",
        escape(&record.run_id),
        escape(&record.state),
        counts.done_items,
        counts.total_items,
        or_unknown(&manifest.harness_version),
        or_unknown(&manifest.extractor),
        manifest.seed,
        manifest.repeats,
    );
    if counts.done_items != counts.total_items {
        let _ = writeln!(
            page,
            "<p class=\"sig\">Incomplete run: scores cover the answered items only.</p>"
        );
    }
    let _ = writeln!(
        page,
        "<nav><a href=\"#leaderboard\">Leaderboard</a><a href=\"#categories\">Categories</a><a href=\"#subjects\">Subjects</a><a href=\"#outcomes\">Outcomes</a><a href=\"#comparisons\">Comparisons</a><a href=\"#endpoints\">Endpoints</a><a href=\"#manifest\">Manifest</a><a href=\"#examples\">Examples</a></nav>"
    );

    if let Some(hidden) = hidden {
        let _ = writeln!(page, "<div id=\"hidden-split\">{}</div>", section(hidden));
    }
    leaderboard(&mut page, input);
    if let Some(judged) = report::judged_section(rows) {
        page.push_str(&section(&judged));
    }
    category_charts(&mut page, &summary.categories);
    collapsed_table(
        &mut page,
        "Scores by category as a table",
        &tables.categories,
    );
    heatmap(&mut page, input);
    collapsed_table(&mut page, "Scores by subject as a table", &tables.subjects);
    outcome_bars(&mut page, input);
    api_errors(&mut page, rows);
    crate::consistency::html_section(&mut page, rows);
    comparisons(&mut page, input);
    endpoints(&mut page, input);
    if let Some(section) = provenance_markdown {
        let _ = writeln!(
            page,
            "<div id=\"provenance\">{}</div>",
            markdown_to_html(section)
        );
    }

    if let Some(reading) =
        crate::peer_compare::section(&crate::peer_compare::compare(manifest, rows))
    {
        let _ = writeln!(
            page,
            "<div id=\"answer-reading\">{}</div>",
            section(&reading)
        );
    }
    let _ = writeln!(
        page,
        "<div id=\"left-out\">{}</div>",
        section(&report::left_out_section(manifest))
    );

    let _ = writeln!(page, "<h2 id=\"manifest\">Manifest</h2>");
    let _ = writeln!(
        page,
        "<p class=\"note\">What the numbers rest on: harness version, data file hashes, template names and hashes, endpoint settings (never keys), seed.</p>"
    );
    let manifest_text = serde_json::to_string_pretty(manifest_document).unwrap_or_default();
    let _ = writeln!(
        page,
        "<pre id=\"manifest-json\">{}</pre>",
        escape(&manifest_text)
    );

    examples(&mut page, rows);
    let _ = writeln!(page, "</body>\n</html>");
    embed_font(page)
}

/// A table a chart already shows, folded away under the chart for readers who want the
/// figures.
fn collapsed_table(page: &mut String, summary: &str, rows: &report::table::Table) {
    let _ = write!(
        page,
        "<details><summary>{}</summary>\n{}</details>\n",
        escape(summary),
        table(rows)
    );
}

/// Where the `@font-face` rule goes once the page's characters are known.
const FONT_FACE_SLOT: &str = "/* font */";

/// Puts a subset of a CJK font with the page's characters into its style sheet, so
/// Chinese text does not depend on the reader's fonts.
fn embed_font(page: String) -> String {
    let Some(source) = crate::font::find_font() else {
        tracing::warn!(
            "no CJK font to embed in report.html: its Chinese text shows in the reader's fonts (empty boxes where there are none); install one (Debian: apt-get install fonts-noto-cjk) or set {}",
            crate::font::FONT_ENV
        );
        return page;
    };
    match crate::font::subset_for_text(&source, &page) {
        Ok(font) => page.replacen(FONT_FACE_SLOT, &font.css(), 1),
        Err(error) => {
            tracing::warn!(%error, "report.html is written without an embedded font");
            page
        }
    }
}

fn leaderboard(page: &mut String, input: &ReportInput<'_>) {
    let _ = writeln!(page, "<h2 id=\"leaderboard\">Leaderboard</h2>");
    let _ = writeln!(
        page,
        "<p class=\"note\">Accuracy in % (the mean credit: partial credit for multi-select and sub-questions, F1 for spans, where a suite gives them; <i>correct</i> counts full credit). <b>Subject mean</b>: mean of per-subject accuracies, as C-Eval and CMMLU publish theirs (95% percentile bootstrap over subjects). <b>Item mean</b>: every item weighs the same, except that each sub-question of a GAOKAO-Bench item counts (95% Wilson interval over items). Every answered item is in the denominator; the outcome columns show what it holds.</p>"
    );
    // The suite table's rows as a leaderboard: per suite, best subject mean first (the
    // same rows as report.md's "Scores by suite", in ranking order).
    let subject_mean: BTreeMap<(&str, &str), f64> = input
        .summary
        .suites
        .iter()
        .map(|suite| {
            (
                (suite.endpoint.as_str(), suite.suite.as_str()),
                suite.subject_mean,
            )
        })
        .collect();
    let rank = |row: &report::table::Row| {
        let endpoint = row.key("endpoint").unwrap_or_default();
        let suite = row.key("suite").unwrap_or_default();
        let mean = subject_mean
            .get(&(endpoint, suite))
            .copied()
            .unwrap_or(f64::NAN);
        (suite.to_string(), mean)
    };
    let mut leaderboard = input.tables.suites.clone();
    leaderboard.rows.sort_by(|a, b| {
        let ((suite_a, mean_a), (suite_b, mean_b)) = (rank(a), rank(b));
        suite_a.cmp(&suite_b).then(mean_b.total_cmp(&mean_a))
    });
    page.push_str(&table(&leaderboard));
}

fn endpoint_colours(names: &[String]) -> BTreeMap<String, &'static str> {
    names
        .iter()
        .enumerate()
        .map(|(index, name)| (name.clone(), PALETTE[index % PALETTE.len()]))
        .collect()
}

fn category_charts(page: &mut String, categories: &[CategorySummary]) {
    let _ = writeln!(page, "<h2 id=\"categories\">Categories</h2>");
    let _ = writeln!(
        page,
        "<p class=\"note\">Item-mean accuracy per category; whiskers are 95% Wilson intervals.</p>"
    );
    let mut by_suite: BTreeMap<&str, Vec<&CategorySummary>> = BTreeMap::new();
    for category in categories {
        by_suite
            .entry(category.suite.as_str())
            .or_default()
            .push(category);
    }
    for (suite, entries) in by_suite {
        let mut category_names: Vec<&str> = entries
            .iter()
            .map(|entry| entry.category.as_str())
            .collect();
        category_names.sort_unstable();
        category_names.dedup();
        let mut endpoint_names: Vec<String> =
            entries.iter().map(|entry| entry.endpoint.clone()).collect();
        endpoint_names.sort_unstable();
        endpoint_names.dedup();
        let colours = endpoint_colours(&endpoint_names);
        let (width, height, left, top, bottom) = (760.0, 300.0, 44.0, 12.0, 56.0);
        let plot_height = height - top - bottom;
        let group_width = (width - left - 10.0) / category_names.len().max(1) as f64;
        let bar_width = group_width * 0.8 / endpoint_names.len().max(1) as f64;
        let y = |accuracy: f64| top + plot_height * (1.0 - accuracy.clamp(0.0, 1.0));
        let _ = writeln!(page, "<h3>{}</h3>", escape(suite));
        let _ = writeln!(
            page,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"category accuracy for {}\">",
            escape(suite)
        );
        for tick in [0.0, 0.25, 0.5, 0.75, 1.0] {
            let _ = writeln!(
                page,
                "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e0e0e0\"/><text x=\"{}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
                width - 10.0,
                left - 4.0,
                y(tick) + 3.0,
                (tick * 100.0) as u32,
                y = y(tick)
            );
        }
        for (group, category) in category_names.iter().enumerate() {
            let group_left = left + group as f64 * group_width + group_width * 0.1;
            for (index, endpoint) in endpoint_names.iter().enumerate() {
                let Some(entry) = entries
                    .iter()
                    .find(|entry| entry.category == *category && &entry.endpoint == endpoint)
                else {
                    continue;
                };
                let x = group_left + index as f64 * bar_width;
                let top_of_bar = y(entry.item_mean);
                let colour = colours.get(endpoint).copied().unwrap_or("#888");
                let _ = writeln!(
                    page,
                    "<rect x=\"{x:.1}\" y=\"{top_of_bar:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\"><title>{} · {}: {}% ({}–{}), n = {}</title></rect>",
                    bar_width * 0.92,
                    (top + plot_height - top_of_bar).max(0.0),
                    escape(endpoint),
                    escape(category),
                    percent(entry.item_mean),
                    percent(entry.item_mean_interval.0),
                    percent(entry.item_mean_interval.1),
                    entry.n
                );
                let centre = x + bar_width * 0.46;
                let (low, high) = (y(entry.item_mean_interval.0), y(entry.item_mean_interval.1));
                let _ = writeln!(
                    page,
                    "<line x1=\"{centre:.1}\" x2=\"{centre:.1}\" y1=\"{low:.1}\" y2=\"{high:.1}\" stroke=\"#222\"/><line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{low:.1}\" y2=\"{low:.1}\" stroke=\"#222\"/><line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{high:.1}\" y2=\"{high:.1}\" stroke=\"#222\"/>",
                    centre - 3.0,
                    centre + 3.0,
                    centre - 3.0,
                    centre + 3.0
                );
            }
            let _ = writeln!(
                page,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
                group_left + group_width * 0.4,
                top + plot_height + 16.0,
                escape(category)
            );
        }
        let _ = writeln!(page, "</svg>");
        let _ = write!(page, "<div class=\"legend\">");
        for endpoint in &endpoint_names {
            let _ = write!(
                page,
                "<span><i style=\"background:{}\"></i>{}</span>",
                colours.get(endpoint).copied().unwrap_or("#888"),
                escape(endpoint)
            );
        }
        let _ = writeln!(page, "</div>");
    }
}

/// One heatmap cell: accuracy, n, category.
type HeatCell = (f64, i64, String);

fn heatmap(page: &mut String, input: &ReportInput<'_>) {
    let _ = writeln!(page, "<h2 id=\"subjects\">Subjects</h2>");
    let _ = writeln!(
        page,
        "<p class=\"note\">Accuracy per subject (%); colour from red (0) to green (100). Each subject links to example items.</p>"
    );
    let mut endpoints: Vec<String> = input
        .summary
        .subjects
        .iter()
        .map(|subject| subject.endpoint.clone())
        .collect();
    endpoints.sort_unstable();
    endpoints.dedup();
    let mut cells: BTreeMap<(String, String), BTreeMap<String, HeatCell>> = BTreeMap::new();
    for subject in &input.summary.subjects {
        cells
            .entry((subject.suite.clone(), subject.subject.clone()))
            .or_default()
            .insert(
                subject.endpoint.clone(),
                (subject.accuracy, subject.n, subject.category.clone()),
            );
    }
    let _ = write!(
        page,
        "<table id=\"subject-heatmap\"><thead><tr><th>suite</th><th>subject</th><th>category</th>"
    );
    for endpoint in &endpoints {
        let _ = write!(page, "<th>{}</th>", escape(endpoint));
    }
    let _ = writeln!(page, "</tr></thead><tbody>");
    for ((suite, subject), by_endpoint) in &cells {
        let category = by_endpoint
            .values()
            .next()
            .map_or("", |cell| cell.2.as_str());
        let _ = write!(
            page,
            "<tr><td>{}</td><td><a href=\"#{}\">{}</a></td><td>{}</td>",
            escape(suite),
            anchor(suite, subject),
            escape(subject),
            escape(category)
        );
        for endpoint in &endpoints {
            match by_endpoint.get(endpoint) {
                Some((accuracy, n, _)) => {
                    let hue = (accuracy.clamp(0.0, 1.0) * 120.0).round();
                    let _ = write!(
                        page,
                        "<td class=\"num\" style=\"background:hsl({hue},65%,80%)\" title=\"n = {n}\" data-endpoint=\"{}\" data-suite=\"{}\" data-subject=\"{}\">{}</td>",
                        escape(endpoint),
                        escape(suite),
                        escape(subject),
                        percent(*accuracy)
                    );
                }
                None => {
                    let _ = write!(page, "<td></td>");
                }
            }
        }
        let _ = writeln!(page, "</tr>");
    }
    let _ = writeln!(page, "</tbody></table>");
}

fn outcome_bars(page: &mut String, input: &ReportInput<'_>) {
    let _ = writeln!(page, "<h2 id=\"outcomes\">Outcomes</h2>");
    let _ = writeln!(
        page,
        "<p class=\"note\">What became of every item, never folded together.</p>"
    );
    let (label_width, bar_width, row_height) = (220.0, 600.0, 26.0);
    let height = row_height * input.summary.suites.len() as f64 + 8.0;
    let _ = writeln!(
        page,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" role=\"img\" aria-label=\"outcomes\">",
        label_width + bar_width + 10.0
    );
    for (index, suite) in input.summary.suites.iter().enumerate() {
        let y = 4.0 + index as f64 * row_height;
        let _ = writeln!(
            page,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\">{} · {}</text>",
            label_width - 6.0,
            y + 15.0,
            escape(&suite.endpoint),
            escape(&suite.suite)
        );
        let total = suite.n.max(1) as f64;
        let mut x = label_width;
        for (outcome, count) in OUTCOMES.iter().zip(suite.outcomes.counts) {
            if count == 0 {
                continue;
            }
            let width = bar_width * count as f64 / total;
            let _ = writeln!(
                page,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"20\" fill=\"{}\"><title>{outcome}: {count} of {}</title></rect>",
                outcome_colour(*outcome),
                suite.n
            );
            x += width;
        }
    }
    let _ = writeln!(page, "</svg>");
    let _ = write!(page, "<div class=\"legend\">");
    for outcome in OUTCOMES {
        let _ = write!(
            page,
            "<span><i style=\"background:{}\"></i>{outcome}</span>",
            outcome_colour(outcome)
        );
    }
    let _ = writeln!(page, "</div>");
}

/// Under the outcome bars: why requests failed, by message, so a reviewer need not open
/// the store (nothing is written when no item failed).
fn api_errors(page: &mut String, rows: &[ScoredRow]) {
    let counts = report::api_error_counts(rows);
    if counts.is_empty() {
        return;
    }
    let _ = writeln!(page, "<h3 id=\"api-errors\">API errors</h3>");
    page.push_str(&table(&report::api_errors_table(&counts)));
    if counts.len() > report::API_ERROR_MESSAGES_SHOWN {
        let _ = writeln!(
            page,
            "<p class=\"note\">{} more distinct messages: see <code>results.parquet</code>, column <code>error_message</code>.</p>",
            counts.len() - report::API_ERROR_MESSAGES_SHOWN
        );
    }
}

fn comparisons(page: &mut String, input: &ReportInput<'_>) {
    let _ = writeln!(page, "<h2 id=\"comparisons\">Paired comparisons</h2>");
    if input.tables.comparisons.is_empty() {
        let _ = writeln!(
            page,
            "<p class=\"note\">One endpoint only: nothing to compare.</p>"
        );
        return;
    }
    let _ = writeln!(
        page,
        "<p class=\"note\">Every two endpoints on the items both answered (API errors left out). Difference = first − second in points with a 95% interval; McNemar's test on the items where exactly one was right (exact binomial below 25 of them). Bold: significant at 5%.</p>"
    );
    page.push_str(&table(&input.tables.comparisons));
}

fn endpoints(page: &mut String, input: &ReportInput<'_>) {
    let _ = writeln!(page, "<h2 id=\"endpoints\">Endpoints: speed and cost</h2>");
    page.push_str(&table(&input.tables.usage));
}

/// Splits a Markdown table row into cells, keeping `\|` inside a cell.
fn table_cells(line: &str) -> Vec<String> {
    let placeholder = '\u{1f}';
    let protected = line
        .trim()
        .trim_matches('|')
        .replace("\\|", &placeholder.to_string());
    protected
        .split('|')
        .map(|cell| cell.trim().replace(placeholder, "|"))
        .collect()
}

/// The small Markdown subset the provenance section is written in (headings, tables,
/// lists, paragraphs, inline code and bold), as HTML.
pub fn markdown_to_html(markdown: &str) -> String {
    let mut html = String::new();
    let lines: Vec<&str> = markdown.lines().collect();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index].trim_end();
        if line.starts_with('|') {
            let mut rows = Vec::new();
            while index < lines.len() && lines[index].trim_start().starts_with('|') {
                rows.push(lines[index]);
                index += 1;
            }
            html.push_str("<table>");
            for (row_index, row) in rows.iter().enumerate() {
                let cells = table_cells(row);
                if cells
                    .iter()
                    .all(|cell| cell.chars().all(|c| matches!(c, '-' | ':')) && !cell.is_empty())
                {
                    continue;
                }
                let tag = if row_index == 0 { "th" } else { "td" };
                html.push_str("<tr>");
                for cell in cells {
                    let _ = write!(html, "<{tag}>{}</{tag}>", inline_markdown(&cell));
                }
                html.push_str("</tr>");
            }
            html.push_str("</table>\n");
            continue;
        }
        if line.starts_with("- ") {
            html.push_str("<ul>");
            while index < lines.len() && lines[index].starts_with("- ") {
                let _ = write!(html, "<li>{}</li>", inline_markdown(&lines[index][2..]));
                index += 1;
            }
            html.push_str("</ul>\n");
            continue;
        }
        let heading = line.chars().take_while(|c| *c == '#').count();
        if heading > 0 && line[heading..].starts_with(' ') {
            let level = heading.clamp(2, 4);
            let _ = writeln!(
                html,
                "<h{level}>{}</h{level}>",
                inline_markdown(line[heading..].trim())
            );
        } else if !line.trim().is_empty() {
            let _ = writeln!(html, "<p>{}</p>", inline_markdown(line));
        }
        index += 1;
    }
    html
}

/// The last user message of a stored prompt: the question itself.
fn question_of(messages_json: &str) -> String {
    let messages: Vec<serde_json::Value> = serde_json::from_str(messages_json).unwrap_or_default();
    messages
        .iter()
        .rev()
        .find(|message| message["role"] == "user")
        .and_then(|message| message["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn examples(page: &mut String, rows: &[ScoredRow]) {
    let _ = writeln!(page, "<h2 id=\"examples\">Example items</h2>");
    let _ = writeln!(
        page,
        "<p class=\"note\">Per subject and endpoint, up to {EXAMPLES_PER_ENDPOINT} items, failures first: the question as sent, the raw answer, what was extracted, and the gold answer. Every item is in <code>results.parquet</code>.</p>"
    );
    let mut by_subject: BTreeMap<(&str, &str), BTreeMap<&str, Vec<&ScoredRow>>> = BTreeMap::new();
    for row in rows {
        by_subject
            .entry((row.suite.as_str(), row.subject.as_str()))
            .or_default()
            .entry(row.endpoint.as_str())
            .or_default()
            .push(row);
    }
    for ((suite, subject), by_endpoint) in by_subject {
        let _ = writeln!(
            page,
            "<h3 id=\"{}\">{} · {}</h3>",
            anchor(suite, subject),
            escape(suite),
            escape(subject)
        );
        let _ = writeln!(
            page,
            "<table><thead><tr><th>endpoint</th><th>item</th><th>outcome</th><th>gold</th><th>extracted</th><th>question</th><th>raw answer</th></tr></thead><tbody>"
        );
        for (endpoint, mut items) in by_endpoint {
            // Failures first (they are what a reviewer reads), then successes.
            items.sort_by_key(|row| {
                (
                    row.outcome == Outcome::Correct,
                    row.item_id.as_str(),
                    row.repeat,
                )
            });
            for row in items.into_iter().take(EXAMPLES_PER_ENDPOINT) {
                let answer = if row.outcome == Outcome::ApiError {
                    &row.error_message
                } else {
                    &row.response_text
                };
                let _ = writeln!(
                    page,
                    "<tr><td>{}</td><td>{}</td><td style=\"color:{}\">{}</td><td>{}</td><td>{}</td><td><details><summary>question</summary><div class=\"answer\">{}</div></details></td><td><div class=\"answer\">{}</div></td></tr>",
                    escape(endpoint),
                    escape(&row.item_id),
                    outcome_colour(row.outcome),
                    escape(row.outcome.as_str()),
                    escape(&row.gold),
                    escape(row.extracted.as_deref().unwrap_or("–")),
                    escape(&question_of(&row.messages_json)),
                    escape(answer),
                );
            }
        }
        let _ = writeln!(page, "</tbody></table>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_html() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(escape("答案是B"), "答案是B");
    }

    #[test]
    fn the_provenance_markdown_becomes_html() {
        let markdown = "### Provenance: m\n\nSome **strong** `evidence` <x>.\n\n| a | b |\n|---|---|\n| 1 \\| 2 | 3 |\n\n- one\n- two\n";
        let html = markdown_to_html(markdown);
        assert!(html.contains("<h3>Provenance: m</h3>"), "{html}");
        assert!(
            html.contains("<p>Some <b>strong</b> <code>evidence</code> &lt;x&gt;.</p>"),
            "{html}"
        );
        assert!(
            html.contains("<tr><th>a</th><th>b</th></tr><tr><td>1 | 2</td><td>3</td></tr>"),
            "{html}"
        );
        assert!(html.contains("<ul><li>one</li><li>two</li></ul>"), "{html}");
    }

    #[test]
    fn anchors_are_plain_ascii() {
        assert_eq!(
            anchor("ceval", "computer_network"),
            "examples-ceval-computer-network"
        );
    }

    #[test]
    fn the_question_is_the_last_user_message() {
        let messages = r#"[{"role":"user","content":"例题"},{"role":"assistant","content":"A"},{"role":"user","content":"问题"}]"#;
        assert_eq!(question_of(messages), "问题");
        assert_eq!(question_of("not json"), "");
    }
}
