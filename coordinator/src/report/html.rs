//! Renders a [`Table`] as an HTML table, the form `report.html` shows: a `<thead>` of the
//! column names, number cells right-aligned (`class="num"`), cells of a named column
//! carrying `data-*` attributes (see [`super::table::Column::metric`]).

use std::fmt::Write as _;

use super::table::{Align, Block, Cell, Section, Table, number_text};

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Inline Markdown (`code` and **bold**) on escaped text, as HTML.
pub fn inline_markdown(text: &str) -> String {
    let escaped = escape(text);
    let mut html = String::with_capacity(escaped.len());
    let mut in_code = false;
    let mut in_bold = false;
    let mut rest = escaped.as_str();
    while let Some(character) = rest.chars().next() {
        if rest.starts_with("**") && !in_code {
            html.push_str(if in_bold { "</b>" } else { "<b>" });
            in_bold = !in_bold;
            rest = &rest[2..];
            continue;
        }
        if character == '`' {
            html.push_str(if in_code { "</code>" } else { "<code>" });
            in_code = !in_code;
        } else {
            html.push(character);
        }
        rest = &rest[character.len_utf8()..];
    }
    if in_code {
        html.push_str("</code>");
    }
    if in_bold {
        html.push_str("</b>");
    }
    html
}

fn content(cell: &Cell) -> String {
    if let Some(number) = number_text(cell) {
        return escape(&number);
    }
    match cell {
        Cell::Text(text) => escape(text),
        Cell::Markdown(text) => inline_markdown(text),
        Cell::Code(code) if code.is_empty() => String::new(),
        Cell::Code(code) => format!("<code>{}</code>", escape(code)),
        Cell::LongText(text) => format!("<div class=\"answer\">{}</div>", escape(text)),
        Cell::Missing => "–".to_string(),
        _ => String::new(),
    }
}

/// The table, ending in a newline.
pub fn table(table: &Table) -> String {
    let mut html = String::new();
    match &table.id {
        Some(id) => {
            let _ = write!(html, "<table id=\"{}\">", escape(id));
        }
        None => html.push_str("<table>"),
    }
    html.push_str("<thead><tr>");
    for column in &table.columns {
        let _ = write!(html, "<th>{}</th>", escape(&column.name));
    }
    html.push_str("</tr></thead><tbody>\n");
    for row in &table.rows {
        html.push_str(if row.emphasis {
            "<tr class=\"sig\">"
        } else {
            "<tr>"
        });
        for (column, cell) in table.columns.iter().zip(&row.cells) {
            html.push_str("<td");
            if column.align == Align::Right {
                html.push_str(" class=\"num\"");
            }
            if let Some(metric) = &column.metric {
                for (key, value) in &row.keys {
                    let _ = write!(html, " data-{}=\"{}\"", escape(key), escape(value));
                }
                let _ = write!(html, " data-metric=\"{}\"", escape(metric));
            }
            let _ = write!(html, ">{}</td>", content(cell));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody></table>\n");
    html
}

/// A section: an `<h2>` (with the section's id), `<h3>`/`<h4>` subheadings, paragraphs,
/// lists and tables.
pub fn section(section: &Section) -> String {
    let mut html = String::new();
    for block in &section.blocks {
        match block {
            Block::Heading(heading) => match &section.id {
                Some(id) => {
                    let _ = writeln!(
                        html,
                        "<h2 id=\"{}\">{}</h2>",
                        escape(id),
                        inline_markdown(heading)
                    );
                }
                None => {
                    let _ = writeln!(html, "<h2>{}</h2>", inline_markdown(heading));
                }
            },
            Block::Subheading { level, text } => {
                let level = (*level).clamp(3, 4);
                let _ = writeln!(html, "<h{level}>{}</h{level}>", inline_markdown(text));
            }
            Block::Paragraph(text) => {
                let _ = writeln!(html, "<p class=\"note\">{}</p>", inline_markdown(text));
            }
            Block::List(items) => {
                html.push_str("<ul>");
                for item in items {
                    let _ = write!(html, "<li>{}</li>", inline_markdown(item));
                }
                html.push_str("</ul>\n");
            }
            Block::Table(rows) => html.push_str(&table(rows)),
        }
    }
    html
}
