//! A report table as data: columns and rows of typed cells, built once from the summary
//! (or the aggregates, or the manifest) and rendered by one renderer per format:
//! [`super::markdown::table`] (`report.md`), [`super::html::table`] (`report.html`) and
//! [`super::csv::table`] (`scores.csv`, and any table on request). The renderers own the
//! escaping and the number formats, so a table cannot say something different in two
//! formats, and a section that wants a table in a new format writes no new loop.
//!
//! # Adopting it in a section
//!
//! A section that renders its own tables today (the provenance audit, whose Markdown is
//! written outside the report code) moves over in three steps (the contamination audit,
//! `crate::contamination::section`, is an example with subheadings and lists):
//!
//! 1. Build the table once from its figures:
//!    ```ignore
//!    let mut table = Table::new([
//!        Column::text("endpoint"),
//!        Column::number("items"),
//!        Column::number("accuracy"),
//!    ]);
//!    for figure in &figures {
//!        table.push([
//!            Cell::text(&figure.endpoint),
//!            Cell::count(figure.items),
//!            Cell::Percent(figure.accuracy),
//!        ]);
//!    }
//!    ```
//! 2. Write the Markdown section's table with `markdown::table(&table)` and the HTML
//!    section's with `html::table(&table)`; prose and headings stay with the section.
//! 3. For cells a test or a reader picks out of the HTML, name the column
//!    ([`Column::metric`]) and the row ([`Row::keyed`]): the cell then carries
//!    `data-{key}="…"` and `data-metric="…"` attributes.

/// How a column's cells line up: text left, numbers right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// One column: its header and how its cells line up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The header, the same in every format.
    pub name: String,
    pub align: Align,
    /// In HTML, the `data-metric` attribute of this column's cells, so a reader (or a
    /// test) can find a figure without counting columns.
    pub metric: Option<String>,
}

impl Column {
    /// A left-aligned column (names, intervals, free text).
    pub fn text(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            align: Align::Left,
            metric: None,
        }
    }

    /// A right-aligned column (counts, percentages, p values).
    pub fn number(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            align: Align::Right,
            metric: None,
        }
    }

    /// Names the figure the column's cells hold (HTML `data-metric`).
    #[must_use]
    pub fn metric(mut self, metric: impl Into<String>) -> Self {
        self.metric = Some(metric.into());
        self
    }
}

/// One cell: what it holds, not how it looks. Each renderer formats and escapes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Plain text on one line (Markdown folds whitespace and escapes `|`).
    Text(String),
    /// Text with inline Markdown (`code`, **bold**), as the manifest's reasons are written:
    /// kept as is in Markdown and CSV, turned into tags in HTML.
    Markdown(String),
    /// A name shown as code (a template, a file, an extractor).
    Code(String),
    /// Long free text (a reply, an error message): wraps in HTML.
    LongText(String),
    /// A count.
    Count(i64),
    /// A share in `[0, 1]`, shown in percent with one decimal (`–` when undefined).
    Percent(f64),
    /// A 95% interval of a share, shown in percent (`40.0–60.0`).
    PercentInterval((f64, f64)),
    /// A number with a fixed number of decimals (a p value).
    Fixed { value: f64, decimals: usize },
    /// A number at full precision (the shortest text that reads back the same), as the
    /// CSV files carry them.
    Float(f64),
    /// No value (an answer that was not extracted): `–` on the pages, an empty field in
    /// CSV (where an empty text is `""`).
    Missing,
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(text.into())
    }

    /// A count from any integer type the summaries use.
    pub fn count(count: impl TryInto<i64>) -> Self {
        Self::Count(count.try_into().unwrap_or(i64::MAX))
    }
}

/// A row: its cells, in column order, and what it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub cells: Vec<Cell>,
    /// What the row is about, as `(key, value)` pairs (`endpoint`, `suite`): in HTML every
    /// cell of a [`Column::metric`] column carries them as `data-{key}` attributes.
    pub keys: Vec<(String, String)>,
    /// A row to stand out (a significant difference): bold in HTML.
    pub emphasis: bool,
}

impl Row {
    pub fn new(cells: impl IntoIterator<Item = Cell>) -> Self {
        Self {
            cells: cells.into_iter().collect(),
            keys: Vec::new(),
            emphasis: false,
        }
    }

    /// Names what the row is about (see [`Row::keys`]).
    #[must_use]
    pub fn keyed(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.keys.push((key.into(), value.into()));
        self
    }

    /// The value of one of the row's keys.
    pub fn key(&self, key: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    #[must_use]
    pub fn emphasised(mut self, emphasis: bool) -> Self {
        self.emphasis = emphasis;
        self
    }
}

/// A table: columns and rows, nothing about how a format shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The HTML element id (`leaderboard-table`), for links and tests; none for a table
    /// nothing points at.
    pub id: Option<String>,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

impl Table {
    pub fn new(columns: impl IntoIterator<Item = Column>) -> Self {
        Self {
            id: None,
            columns: columns.into_iter().collect(),
            rows: Vec::new(),
        }
    }

    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Adds a row of cells in column order.
    pub fn push(&mut self, cells: impl IntoIterator<Item = Cell>) {
        self.rows.push(Row::new(cells));
    }

    pub fn push_row(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// A share in percent with one decimal; `–` for an undefined share (no items).
pub fn percent(value: f64) -> String {
    if value.is_nan() {
        return "–".to_string();
    }
    format!("{:.1}", value * 100.0)
}

/// A 95% interval of a share in percent: `40.0–60.0`.
pub fn percent_interval(interval: (f64, f64)) -> String {
    format!("{}–{}", percent(interval.0), percent(interval.1))
}

/// The text every format shares for a number cell; `None` for text cells.
pub(super) fn number_text(cell: &Cell) -> Option<String> {
    match cell {
        Cell::Count(count) => Some(count.to_string()),
        Cell::Percent(share) => Some(percent(*share)),
        Cell::PercentInterval(interval) => Some(percent_interval(*interval)),
        Cell::Fixed { value, decimals } => Some(format!("{value:.decimals$}")),
        Cell::Float(value) => Some(float_text(*value)),
        Cell::Text(_) | Cell::Markdown(_) | Cell::Code(_) | Cell::LongText(_) | Cell::Missing => {
            None
        }
    }
}

/// The shortest text that reads back as the same float, as polars writes it in a CSV
/// file (serde_json and polars both print with the `zmij` algorithm), so `scores.csv`
/// keeps its bytes: `1.0`, `0.6666666666666666`, `NaN`.
pub(super) fn float_text(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    serde_json::to_string(&value).unwrap_or_else(|_| value.to_string())
}

/// A report section as data: a heading, paragraphs and tables in order, so `report.md`
/// and `report.html` show the same section from one build (prose in inline Markdown:
/// `code` and **bold**).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Section {
    /// The HTML element id of the section's heading, for links; none when nothing
    /// links to it.
    pub id: Option<String>,
    pub blocks: Vec<Block>,
}

/// One part of a [`Section`].
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A `##` heading.
    Heading(String),
    /// A heading inside the section: `###` (level 3) or `####` (level 4).
    Subheading {
        level: u8,
        text: String,
    },
    /// A paragraph of inline Markdown.
    Paragraph(String),
    /// A bulleted list, each item a line of inline Markdown.
    List(Vec<String>),
    Table(Table),
}

impl Section {
    pub fn new(heading: impl Into<String>) -> Self {
        Self {
            id: None,
            blocks: vec![Block::Heading(heading.into())],
        }
    }

    pub fn paragraph(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Paragraph(text.into()));
    }

    /// A heading inside the section, `level` 3 or 4 (`###`, `####`).
    pub fn subheading(&mut self, level: u8, text: impl Into<String>) {
        self.blocks.push(Block::Subheading {
            level,
            text: text.into(),
        });
    }

    pub fn list(&mut self, items: Vec<String>) {
        self.blocks.push(Block::List(items));
    }

    pub fn table(&mut self, table: Table) {
        self.blocks.push(Block::Table(table));
    }
}

#[cfg(test)]
mod tests {
    use super::super::{csv, html, markdown};
    use super::*;

    /// One table with what each format must escape: `|` (Markdown), `<&>"` (HTML), commas,
    /// quotes and line breaks (CSV), and Chinese text, which passes through untouched.
    fn awkward_table() -> Table {
        let mut table = Table::new([
            Column::text("endpoint"),
            Column::text("answer"),
            Column::number("n").metric("n"),
            Column::number("accuracy"),
            Column::text("95% CI"),
            Column::number("p"),
        ])
        .with_id("awkward-table");
        table.push_row(
            Row::new([
                Cell::text("模型|甲"),
                Cell::LongText("答案是 <B> & \"C\",\n然后".to_string()),
                Cell::count(12_u64),
                Cell::Percent(2.0 / 3.0),
                Cell::PercentInterval((0.5, 0.75)),
                Cell::Fixed {
                    value: 0.012_345,
                    decimals: 4,
                },
            ])
            .keyed("endpoint", "模型|甲")
            .emphasised(true),
        );
        table.push([
            Cell::Code("tpl`x".to_string()),
            Cell::Markdown("`label` is **empty**".to_string()),
            Cell::count(0_i64),
            Cell::Percent(f64::NAN),
            Cell::PercentInterval((0.0, 1.0)),
            Cell::Float(1.0),
        ]);
        table
    }

    #[test]
    fn one_table_renders_to_markdown_html_and_csv() {
        let table = awkward_table();

        assert_eq!(
            markdown::table(&table),
            "| endpoint | answer | n | accuracy | 95% CI | p |\n\
             |---|---|---:|---:|---|---:|\n\
             | 模型\\|甲 | 答案是 <B> & \"C\", 然后 | 12 | 66.7 | 50.0–75.0 | 0.0123 |\n\
             | `tpl`x` | `label` is **empty** | 0 | – | 0.0–100.0 | 1.0 |\n"
        );

        assert_eq!(
            html::table(&table),
            "<table id=\"awkward-table\"><thead><tr><th>endpoint</th><th>answer</th><th>n</th><th>accuracy</th><th>95% CI</th><th>p</th></tr></thead><tbody>\n\
             <tr class=\"sig\"><td>模型|甲</td><td><div class=\"answer\">答案是 &lt;B&gt; &amp; &quot;C&quot;,\n然后</div></td><td class=\"num\" data-endpoint=\"模型|甲\" data-metric=\"n\">12</td><td class=\"num\">66.7</td><td>50.0–75.0</td><td class=\"num\">0.0123</td></tr>\n\
             <tr><td><code>tpl`x</code></td><td><code>label</code> is <b>empty</b></td><td class=\"num\" data-metric=\"n\">0</td><td class=\"num\">–</td><td>0.0–100.0</td><td class=\"num\">1.0</td></tr>\n\
             </tbody></table>\n"
        );

        assert_eq!(
            String::from_utf8(csv::table(&table)).expect("utf-8"),
            "endpoint,answer,n,accuracy,95% CI,p\n\
             模型|甲,\"答案是 <B> & \"\"C\"\",\n然后\",12,66.7,50.0–75.0,0.0123\n\
             tpl`x,`label` is **empty**,0,–,0.0–100.0,1.0\n"
        );
    }

    #[test]
    fn csv_fields_are_quoted_only_where_csv_needs_it() {
        assert_eq!(csv::field("plain"), "plain");
        assert_eq!(csv::field("a,b"), "\"a,b\"");
        assert_eq!(csv::field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv::field("two\r\nlines"), "\"two\r\nlines\"");
        // Empty text is not a missing value.
        assert_eq!(csv::field(""), "\"\"");
        assert_eq!(float_text(f64::NAN), "NaN");
        assert_eq!(float_text(f64::NEG_INFINITY), "-inf");
        assert_eq!(float_text(0.1 + 0.2), "0.30000000000000004");
        // No value is an empty field in CSV and a dash on the pages.
        let mut table = Table::new([Column::text("gold"), Column::text("extracted")]);
        table.push([Cell::text(""), Cell::Missing]);
        assert_eq!(
            String::from_utf8(csv::table(&table)).expect("utf-8"),
            "gold,extracted\n\"\",\n"
        );
        assert!(markdown::table(&table).ends_with("|  | – |\n"));
    }

    #[test]
    fn a_section_renders_its_heading_prose_and_tables_in_order() {
        let mut section = Section::new("Records left out");
        section.id = Some("left-out-heading".to_string());
        section.paragraph("All are in `manifest.json`.");
        let mut table = Table::new([Column::text("suite"), Column::number("records")]);
        table.push([Cell::text("ceval"), Cell::count(2_usize)]);
        section.table(table);

        assert_eq!(
            markdown::section(&section),
            "## Records left out\n\nAll are in `manifest.json`.\n\n| suite | records |\n|---|---:|\n| ceval | 2 |\n\n"
        );
        assert_eq!(
            html::section(&section),
            "<h2 id=\"left-out-heading\">Records left out</h2>\n\
             <p class=\"note\">All are in <code>manifest.json</code>.</p>\n\
             <table><thead><tr><th>suite</th><th>records</th></tr></thead><tbody>\n\
             <tr><td>ceval</td><td class=\"num\">2</td></tr>\n\
             </tbody></table>\n"
        );
    }
}
