//! Renders a [`Table`] as a Markdown (GitHub) table, the form `report.md` shows.

use super::table::{Align, Block, Cell, Section, Table, number_text};

/// One line of text fit for a Markdown table cell: whitespace folded to single spaces
/// (a line break would end the row) and `|` escaped (it would end the cell).
pub fn cell_text(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn cell(cell: &Cell) -> String {
    if let Some(number) = number_text(cell) {
        return number;
    }
    match cell {
        Cell::Code(code) if code.is_empty() => String::new(),
        Cell::Code(code) => format!("`{}`", cell_text(code)),
        Cell::Text(text) | Cell::Markdown(text) | Cell::LongText(text) => cell_text(text),
        Cell::Missing => "–".to_string(),
        _ => String::new(),
    }
}

/// The table: a header row, the alignment row (`---` text, `---:` numbers) and a line per
/// row, each line ending in a newline.
pub fn table(table: &Table) -> String {
    let mut markdown = String::new();
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    markdown.push_str(&line(
        table
            .columns
            .iter()
            .map(|column| cell_text(&column.name))
            .collect(),
    ));
    markdown.push('|');
    for column in &table.columns {
        markdown.push_str(match column.align {
            Align::Left => "---|",
            Align::Right => "---:|",
        });
    }
    markdown.push('\n');
    for row in &table.rows {
        markdown.push_str(&line(row.cells.iter().map(cell).collect()));
    }
    markdown
}

/// A section: `## heading`, then each subheading, paragraph, list and table followed by a
/// blank line.
pub fn section(section: &Section) -> String {
    let mut markdown = String::new();
    for block in &section.blocks {
        match block {
            Block::Heading(heading) => {
                markdown.push_str("## ");
                markdown.push_str(heading);
                markdown.push_str("\n\n");
            }
            Block::Subheading { level, text } => {
                markdown.push_str(&"#".repeat(usize::from(*level)));
                markdown.push(' ');
                markdown.push_str(text);
                markdown.push_str("\n\n");
            }
            Block::Paragraph(text) => {
                markdown.push_str(text);
                markdown.push_str("\n\n");
            }
            Block::List(items) => {
                for item in items {
                    markdown.push_str("- ");
                    markdown.push_str(item);
                    markdown.push('\n');
                }
                markdown.push('\n');
            }
            Block::Table(rows) => {
                markdown.push_str(&table(rows));
                markdown.push('\n');
            }
        }
    }
    markdown
}
