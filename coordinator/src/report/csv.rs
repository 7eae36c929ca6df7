//! Renders a [`Table`] as CSV, the form `scores.csv` has always had (polars' writer):
//! a header of the column names, `,` between fields, `\n` after each line; a field is
//! quoted when it holds a comma, a quote (doubled inside) or a line break, and an empty
//! text is written `""` so it reads back as text rather than as a missing value. Numbers
//! are written in full: counts as integers, floats as the shortest text that reads back
//! the same, shares as the percent the other formats show.

use super::table::{Cell, Table, number_text};

/// One field, quoted where CSV needs it.
pub fn field(text: &str) -> String {
    if text.is_empty() {
        return "\"\"".to_string();
    }
    if text.contains([',', '"', '\n', '\r']) {
        return format!("\"{}\"", text.replace('"', "\"\""));
    }
    text.to_string()
}

fn cell(cell: &Cell) -> String {
    if let Some(number) = number_text(cell) {
        return number;
    }
    match cell {
        Cell::Text(text) | Cell::Markdown(text) | Cell::Code(text) | Cell::LongText(text) => {
            field(text)
        }
        // Missing: an empty field, which reads back as no value.
        _ => String::new(),
    }
}

/// The table as CSV bytes (UTF-8).
pub fn table(table: &Table) -> Vec<u8> {
    let mut csv = String::new();
    let line = |fields: Vec<String>| format!("{}\n", fields.join(","));
    csv.push_str(&line(
        table
            .columns
            .iter()
            .map(|column| field(&column.name))
            .collect(),
    ));
    for row in &table.rows {
        csv.push_str(&line(row.cells.iter().map(cell).collect()));
    }
    csv.into_bytes()
}
