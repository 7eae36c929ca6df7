//! Jianzhen's reading of the replies set beside the reading of the framework each
//! template comes from ([`jianzhen_suites::peer`]): per endpoint and suite, the score
//! under each, how many replies they read differently, and a few examples. A reviewer
//! then sees how much of a gap between two leaderboards comes from answer reading alone.
//!
//! Computed from the stored replies at report time: nothing is called again, and the
//! stored scores (Jianzhen's reading) are not changed.

use std::collections::BTreeMap;

use jianzhen_suites::peer::{PeerExtractor, peer_credit, peer_for, peer_text, shape_of};

use crate::planner::Manifest;
use crate::report::markdown as markdown_renderer;
use crate::report::table::{Cell, Column, Section, Table};
use crate::store::ScoredRow;
use jianzhen_suites::outcome::Outcome;

/// Examples shown per endpoint and suite.
const EXAMPLES: usize = 3;

/// One endpoint's suite read both ways.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerComparison {
    pub endpoint: String,
    pub suite: String,
    pub extractor: PeerExtractor,
    /// Items compared (every scored item of the suite, failures included, as in `n`).
    pub items: usize,
    /// Weighted points and the weight they are out of (sub-questions weigh one each).
    pub jianzhen_points: f64,
    pub peer_points: f64,
    pub weight: f64,
    /// Replies whose counted answer differs between the two readings.
    pub differ: usize,
    pub examples: Vec<Example>,
}

/// One reply read differently.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub item_id: String,
    pub gold: String,
    pub jianzhen: String,
    pub peer: String,
    pub reply: String,
}

/// The answer Jianzhen counted: its extraction when the reply was graded, else nothing
/// (refused, unextractable, truncated and failed replies count no answer).
fn jianzhen_reading(row: &ScoredRow) -> String {
    match (&row.extracted, row.outcome) {
        (Some(extracted), Outcome::Correct | Outcome::Wrong) => extracted.clone(),
        _ => String::new(),
    }
}

/// The comparisons of a run: one per endpoint and generation-scored suite whose template
/// has a peer reading (`manifest.suites[].template`), over the rows with letter golds.
pub fn compare(manifest: &Manifest, rows: &[ScoredRow]) -> Vec<PeerComparison> {
    // Suite → its template, for suites scored from generated text.
    let templates: BTreeMap<&str, &str> = manifest
        .suites
        .iter()
        .filter(|suite| suite.scoring.starts_with("gen"))
        .map(|suite| (suite.suite.as_str(), suite.template.as_str()))
        .collect();
    let mut comparisons: BTreeMap<(String, String, PeerExtractor), PeerComparison> =
        BTreeMap::new();
    for row in rows {
        let Some(extractor) = templates
            .get(row.suite.as_str())
            .and_then(|template| peer_for(template, &row.subject))
        else {
            continue;
        };
        let Some((shape, gold)) = shape_of(&row.gold) else {
            continue;
        };
        let read = if row.outcome == Outcome::ApiError {
            Vec::new()
        } else {
            extractor.read(&row.response_text, shape)
        };
        let entry = comparisons
            .entry((row.endpoint.clone(), row.suite.clone(), extractor))
            .or_insert_with(|| PeerComparison {
                endpoint: row.endpoint.clone(),
                suite: row.suite.clone(),
                extractor,
                items: 0,
                jianzhen_points: 0.0,
                peer_points: 0.0,
                weight: 0.0,
                differ: 0,
                examples: Vec::new(),
            });
        entry.items += 1;
        entry.weight += row.weight;
        entry.jianzhen_points += row.credit * row.weight;
        entry.peer_points += peer_credit(extractor, shape, &gold, &read) * row.weight;
        let jianzhen = jianzhen_reading(row);
        let peer = peer_text(shape, &read);
        if jianzhen != peer {
            entry.differ += 1;
            if entry.examples.len() < EXAMPLES {
                entry.examples.push(Example {
                    item_id: row.item_id.clone(),
                    gold: row.gold.clone(),
                    jianzhen,
                    peer,
                    reply: excerpt(&row.response_text),
                });
            }
        }
    }
    comparisons.into_values().collect()
}

/// The start of a reply, on one line, for a table cell.
fn excerpt(reply: &str) -> String {
    let flat: String = reply.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut characters = flat.chars();
    let head: String = characters.by_ref().take(80).collect();
    if characters.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// Points over weight as a share; undefined (shown `–`) without weight.
fn share(points: f64, weight: f64) -> f64 {
    if weight <= 0.0 {
        return f64::NAN;
    }
    points / weight
}

/// A reading as a cell: `–` for no answer.
fn reading(text: &str) -> Cell {
    Cell::text(if text.is_empty() { "–" } else { text })
}

/// The report's section (in `report.md` and `report.html`): none when no suite of the
/// run has a peer reading.
pub fn section(comparisons: &[PeerComparison]) -> Option<Section> {
    if comparisons.is_empty() {
        return None;
    }
    let mut section = Section::new("Answer reading: Jianzhen and the source framework");
    section.paragraph(
        "The same stored replies read two ways: by Jianzhen's extraction (the scores above), and by the post-processor of the framework the template comes from, written from its published definition (`jianzhen rescore RUN --extractor NAME` scores a run with it). The gap between the two accuracies is the part of a leaderboard difference that comes from answer reading alone. *Differ* counts replies whose counted answer is not the same.",
    );
    let mut scores = Table::new([
        Column::text("endpoint"),
        Column::text("suite"),
        Column::text("peer reading"),
        Column::number("n"),
        Column::number("Jianzhen %"),
        Column::number("peer %"),
        Column::number("differ"),
    ]);
    for comparison in comparisons {
        scores.push([
            reading(&comparison.endpoint),
            reading(&comparison.suite),
            Cell::Code(comparison.extractor.to_string()),
            Cell::count(comparison.items),
            Cell::Percent(share(comparison.jianzhen_points, comparison.weight)),
            Cell::Percent(share(comparison.peer_points, comparison.weight)),
            Cell::count(comparison.differ),
        ]);
    }
    section.table(scores);
    let mut examples = Table::new([
        Column::text("endpoint"),
        Column::text("item"),
        Column::text("gold"),
        Column::text("Jianzhen"),
        Column::text("peer"),
        Column::text("reply"),
    ]);
    for comparison in comparisons {
        for example in &comparison.examples {
            examples.push([
                reading(&comparison.endpoint),
                reading(&example.item_id),
                reading(&example.gold),
                reading(&example.jianzhen),
                reading(&example.peer),
                Cell::LongText(if example.reply.is_empty() {
                    "–".to_string()
                } else {
                    example.reply.clone()
                }),
            ]);
        }
    }
    if !examples.is_empty() {
        section.table(examples);
    }
    Some(section)
}

/// [`section`] in Markdown: an empty string when no suite of the run has a peer reading.
pub fn markdown(comparisons: &[PeerComparison]) -> String {
    section(comparisons).map_or_else(String::new, |section| markdown_renderer::section(&section))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jianzhen_suites::peer::AnswerShape;

    /// A manifest with only the fields these tests need (the rest default, as in a
    /// manifest stored by an older version).
    fn manifest(document: serde_json::Value) -> Manifest {
        serde_json::from_value(document).expect("reads as a manifest")
    }

    fn row(
        item: &str,
        gold: &str,
        reply: &str,
        extracted: Option<&str>,
        outcome: &str,
    ) -> ScoredRow {
        ScoredRow {
            item_id: item.into(),
            gold: gold.into(),
            response_text: reply.into(),
            extracted: extracted.map(str::to_string),
            credit: f64::from(u8::from(outcome == "correct")),
            ..ScoredRow::example("scripted", "computer_network", outcome)
        }
    }

    #[test]
    fn the_peer_reading_is_scored_and_differences_counted() {
        let manifest = manifest(serde_json::json!({"suites": [
            {"suite": "ceval", "template": "ceval_gen_5f30c7", "scoring": "gen: chat completion + answer extraction"}
        ]}));
        let rows = vec![
            // The issue's examples: Jianzhen reads B and C, first-capital D and … C.
            row(
                "a",
                "B",
                "DNS（域名解析系统）是B选项。答案：B",
                Some("B"),
                "correct",
            ),
            row("b", "C", "最终答案是C. 24.5 L", Some("C"), "correct"),
            row("c", "A", "My answer is A", Some("A"), "correct"),
            row("d", "A", "A", Some("A"), "correct"),
            row("e", "D", "", None, "api_error"),
        ];
        let comparisons = compare(&manifest, &rows);
        assert_eq!(comparisons.len(), 1);
        let comparison = &comparisons[0];
        assert_eq!(comparison.extractor, PeerExtractor::OpencompassFirstCapital);
        assert_eq!(comparison.items, 5);
        assert!((comparison.jianzhen_points - 4.0).abs() < 1e-9);
        // first-capital: D (wrong), C (right), M (wrong), A (right), nothing.
        assert!((comparison.peer_points - 2.0).abs() < 1e-9);
        assert_eq!(comparison.differ, 2);
        assert_eq!(comparison.examples[0].peer, "D");
        assert_eq!(comparison.examples[1].peer, "M");
        let section = markdown(&comparisons);
        assert!(
            section.contains(
                "| scripted | ceval | `opencompass_first_capital` | 5 | 80.0 | 40.0 | 2 |"
            ),
            "{section}"
        );
        assert!(
            section.contains("| scripted | a | B | B | D |"),
            "{section}"
        );
    }

    #[test]
    fn agieval_is_read_per_subset_as_its_configuration_says() {
        let manifest = manifest(serde_json::json!({"suites": [
            {"suite": "agieval", "template": "agieval_gen_5c79b4", "scoring": "gen: …"}
        ]}));
        let in_subject =
            |subject: &str, item: &str, gold: &str, reply: &str, extracted: &str, outcome: &str| {
                ScoredRow {
                    suite: "agieval".into(),
                    subject: subject.into(),
                    ..row(item, gold, reply, Some(extracted), outcome)
                }
            };
        let rows = vec![
            // first_option_postprocess(ABCDE): `答案是?\s?([ABCDE])` finds E.
            in_subject("logiqa-zh", "l1", "E", "答案是E", "E", "correct"),
            // first_capital_postprocess_multi: the first run of A-D, "AB", not the gold "B".
            in_subject(
                "jec-qa-kd",
                "k1",
                "B",
                "AB两项中B正确，答案：B",
                "B",
                "correct",
            ),
            in_subject("gaokao-mathcloze", "c1", "3", "3", "3", "correct"),
        ];
        let comparisons = compare(&manifest, &rows);
        let read: Vec<(&str, PeerExtractor, f64, usize)> = comparisons
            .iter()
            .map(|c| (c.suite.as_str(), c.extractor, c.peer_points, c.differ))
            .collect();
        assert_eq!(
            read,
            [
                (
                    "agieval",
                    PeerExtractor::OpencompassFirstOptionAbcde,
                    1.0,
                    0
                ),
                (
                    "agieval",
                    PeerExtractor::OpencompassFirstCapitalMulti,
                    0.0,
                    1
                ),
            ]
        );
    }

    #[test]
    fn gaokao_sub_questions_and_multi_select_follow_its_evaluator() {
        assert_eq!(
            shape_of(r#"["B","C"]"#).map(|(shape, _)| shape),
            Some(AnswerShape::SubQuestions(2))
        );
        assert_eq!(
            shape_of("AC").map(|(shape, _)| shape),
            Some(AnswerShape::MultiSelect)
        );
        assert_eq!(shape_of(r#"["北京"]"#), None);
        assert_eq!(shape_of("12"), None);
        let gaokao = PeerExtractor::GaokaoBench;
        // AGIEval's accuracy compares whole strings: a subset earns nothing.
        let multi = PeerExtractor::OpencompassFirstCapitalMulti;
        let gold = ["AC".to_string()];
        assert_eq!(
            peer_credit(multi, AnswerShape::MultiSelect, &gold, &["A".into()]),
            0.0
        );
        assert_eq!(
            peer_credit(multi, AnswerShape::MultiSelect, &gold, &["AC".into()]),
            1.0
        );
        assert_eq!(
            peer_credit(gaokao, AnswerShape::MultiSelect, &gold, &["A".into()]),
            0.5
        );
        assert_eq!(
            peer_credit(gaokao, AnswerShape::MultiSelect, &gold, &["AD".into()]),
            0.0
        );
        let sub = ["B".to_string(), "C".to_string()];
        assert_eq!(
            peer_credit(
                gaokao,
                AnswerShape::SubQuestions(2),
                &sub,
                &["B".into(), "D".into()]
            ),
            0.5
        );
        assert_eq!(
            peer_credit(gaokao, AnswerShape::SubQuestions(2), &sub, &["B".into()]),
            0.0
        );
        // No peer reading for templates without one, or for log-likelihood runs.
        let manifest = manifest(serde_json::json!({"suites": [
            {"suite": "cmmlu", "template": "cmmlu_gen_c13365", "scoring": "loglik_first_token: …"},
            {"suite": "x", "template": "lmeval_cmmlu", "scoring": "gen: …"}
        ]}));
        let rows = vec![row("a", "B", "B", Some("B"), "correct")];
        assert!(compare(&manifest, &rows).is_empty());
        assert_eq!(markdown(&[]), "");
    }
}
