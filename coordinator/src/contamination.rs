//! The contamination audit of a run, read from the store: the option-order test (each
//! sampled item against itself with rotated options, paired by endpoint, item and
//! repeat), the masked-option test (benchmark items against the project's control
//! items) and guided completion (the same question half finished with and without the
//! dataset's name, paired) and Min-K% prompt log-probability (benchmark items against the
//! control items, where the endpoint echoes prompt log-probabilities), per suite and
//! subject, each with its statistic, interval, strength and what it does not show. Rendered as the report's "Contamination audit" section (Markdown, HTML
//! with a per-subject chart) and `contamination.json`.
//!
//! The statistics live in `jianzhen_suites::contamination`; the planning in
//! `planner::contamination`. What each test can and cannot show: docs/contamination.md.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jianzhen_suites::contamination::{
    CompletionFigures, GuessCounts, GuessFigures, MIN_K_PERCENT, MinKFigures, OrderFigures,
    OrderPair, Strength, char_overlap, completion_figures, control_items, guess_figures,
    match_guess, min_k_figures, min_k_score, order_figures, order_shift, permute, read_completion,
    read_guess,
};
use jianzhen_suites::grading::ItemKind;
use jianzhen_suites::outcome::Outcome;
use serde::Serialize;

use crate::error::CoordinatorError;
use crate::planner::contamination::{
    COMPLETION_RULE, CONTROL_SUBJECT, MASK_RULE, MIN_K_RULE, ORDER_RULE,
};
use crate::report::html::{self as report_html, escape};
use crate::report::markdown;
use crate::report::table::{Cell, Column, Section, Table};
use crate::report::{ReportFile, percent};
use crate::spec::RunSpec;
use crate::store::{ContaminationRow, ScoredRow};

/// Subject name of a suite's figures over all its subjects.
const ALL_SUBJECTS: &str = "(all)";

/// What the option-order test does not show, stated with every result.
const ORDER_LIMITS: &str = "A fall in accuracy under rotation shows a dependence on option positions; memorised answer letters are one cause, a position bias (a model that favours a letter) is another, and the old-letter share tells them apart only when it is well above chance. No fall does not show the model never saw the items: a model that memorised the answers' texts, not their letters, passes.";
/// What the masked-option test does not show, stated with every result.
const MASKED_LIMITS: &str = "Writing a hidden wrong option word for word is hard to do without having seen the item; but options that follow from the question (a series, a complementary pair) can be guessed, which the control items measure only on average. No match does not show the model never saw the items: small models recall little verbatim.";

/// What guided completion does not show, stated with every result.
const COMPLETION_LIMITS: &str = "More overlap when the dataset is named shows the name brings back the question's wording; a model can also finish a question well from its first half alone (both instructions then score high, and the test shows nothing). No gain does not show the model never saw the items: instruction-tuned models often ignore the dataset's name, and small models recall little verbatim.";

/// What Min-K% does not show, stated with every result.
const MIN_K_LIMITS: &str = "Higher Min-K% scores than the control items' show the model found the benchmark's wording less surprising than comparable questions written for the project. Having seen the items is one cause; others are wording the model knows well from elsewhere (exam Chinese is common in training data), shorter or more formulaic questions, and a control set that is small and written by one author. Calibration differs between models, so there is no absolute threshold and two models' scores are not comparable: only each model's benchmark-against-control comparison is read. No difference does not show the model never saw the items.";

/// The findings of one audited suite (or its subject) for one endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct SubjectFindings {
    pub suite: String,
    /// A subject of the suite, or `(all)`.
    pub subject: String,
    pub order: OrderFigures,
    pub masked: GuessFigures,
    pub completion: CompletionFigures,
    /// Min-K%: absent where the endpoint returned no prompt log-probabilities for the
    /// subject's items or for the control items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_k: Option<MinKFigures>,
}

/// An item whose correctness changed when its options were rotated.
#[derive(Debug, Clone, Serialize)]
pub struct FlippedItem {
    pub suite: String,
    pub subject: String,
    pub item_id: String,
    pub repeat: u32,
    /// The old letters in the rotated order (`BCDA`: rotated A is original B).
    pub permutation: String,
    pub original_gold: String,
    pub original_answer: Option<String>,
    pub rotated_gold: String,
    pub rotated_answer: Option<String>,
    /// `right_to_wrong` or `wrong_to_right`.
    pub direction: &'static str,
    /// The rotated answer is the original order's gold letter.
    pub followed_old_letter: bool,
}

/// One endpoint's audit.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointFindings {
    pub endpoint: String,
    /// Per suite, its `(all)` figures first, then each subject's.
    pub results: Vec<SubjectFindings>,
    /// The control items' masked-option guesses.
    pub control: GuessCounts,
    pub flipped: Vec<FlippedItem>,
    /// The strongest evidence of each test over the endpoint's suites.
    pub order_strength: Strength,
    pub masked_strength: Strength,
    pub completion_strength: Strength,
    /// The strongest Min-K% evidence; absent when the test did not run.
    pub min_k_strength: Option<Strength>,
    /// Min-K% scores of the control items that were answered.
    pub min_k_control_items: u64,
    /// Why Min-K% did not run for the endpoint (no figure is given then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_k_not_run: Option<String>,
}

/// The audit of a run: `contamination.json`.
#[derive(Debug, Clone, Serialize)]
pub struct ContaminationFindings {
    pub order_rule: &'static str,
    pub mask_rule: &'static str,
    pub completion_rule: &'static str,
    pub near_exact_threshold: f64,
    pub order_does_not_show: &'static str,
    pub masked_does_not_show: &'static str,
    pub completion_does_not_show: &'static str,
    pub min_k_rule: &'static str,
    pub min_k_percent: u32,
    pub min_k_does_not_show: &'static str,
    pub endpoints: Vec<EndpointFindings>,
}

/// The cost of the audit, stated before a run: `None` when the spec does not audit.
pub fn cost_statement(spec: &RunSpec) -> Option<String> {
    if !spec.contamination {
        return None;
    }
    let control = control_items().map_or(0, |items| items.len());
    let sample = match spec.contamination_sample {
        Some(count) => format!("at most {count} per subject"),
        None => "every item the run evaluates".to_string(),
    };
    let repeats = if spec.repeats > 1 {
        format!(", each × {} repeats", spec.repeats)
    } else {
        String::new()
    };
    Some(format!(
        "contamination audit: 5 extra requests per sampled multiple-choice item ({sample}: its options rotated, one wrong option hidden, its second half asked for with and without the dataset's name, its text echoed for Min-K% log-probabilities) and 2 for each of the {control} control items (masked, echoed), per endpoint{repeats}; the echo requests are sent only to an endpoint that returns prompt log-probabilities (one check request per shard finds out)"
    ))
}

type PairKey<'a> = (&'a str, &'a str, &'a str, u32);

/// The audit from a run's benchmark rows and its contamination rows; `None` when the run
/// has no contamination rows.
pub fn findings(
    rows: &[ScoredRow],
    audit_rows: &[ContaminationRow],
) -> Option<ContaminationFindings> {
    if audit_rows.is_empty() {
        return None;
    }
    let originals: BTreeMap<PairKey<'_>, &ScoredRow> = rows
        .iter()
        .map(|row| {
            (
                (
                    row.endpoint.as_str(),
                    row.suite.as_str(),
                    row.item_id.as_str(),
                    row.repeat,
                ),
                row,
            )
        })
        .collect();
    let mut endpoints: BTreeMap<&str, Vec<&ContaminationRow>> = BTreeMap::new();
    for row in audit_rows {
        endpoints
            .entry(row.endpoint.as_str())
            .or_default()
            .push(row);
    }
    let endpoints = endpoints
        .into_iter()
        .map(|(endpoint, rows)| endpoint_findings(endpoint, &rows, &originals))
        .collect();
    Some(ContaminationFindings {
        order_rule: ORDER_RULE,
        mask_rule: MASK_RULE,
        completion_rule: COMPLETION_RULE,
        near_exact_threshold: jianzhen_suites::contamination::NEAR_EXACT_THRESHOLD,
        order_does_not_show: ORDER_LIMITS,
        masked_does_not_show: MASKED_LIMITS,
        completion_does_not_show: COMPLETION_LIMITS,
        min_k_rule: MIN_K_RULE,
        min_k_percent: MIN_K_PERCENT,
        min_k_does_not_show: MIN_K_LIMITS,
        endpoints,
    })
}

/// The subject part of a stored `{suite}/{subject}`.
fn subject_of(row: &ContaminationRow) -> &str {
    row.subject
        .strip_prefix(row.suite.as_str())
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(&row.subject)
}

#[derive(Default)]
struct Tally {
    pairs: Vec<OrderPair>,
    guesses: GuessCounts,
    completions: Vec<(f64, f64)>,
    min_k: Vec<f64>,
}

fn endpoint_findings(
    endpoint: &str,
    rows: &[&ContaminationRow],
    originals: &BTreeMap<PairKey<'_>, &ScoredRow>,
) -> EndpointFindings {
    let mut control = GuessCounts::default();
    // (suite, subject) → tallies; subject ALL_SUBJECTS for the suite's total.
    let mut tallies: BTreeMap<(String, String), Tally> = BTreeMap::new();
    let mut flipped = Vec::new();
    // (suite, subject, item, repeat) → (guided overlap, general overlap).
    type Halves = (Option<f64>, Option<f64>);
    let mut completions: BTreeMap<(String, String, String, u32), Halves> = BTreeMap::new();
    let mut min_k_control: Vec<f64> = Vec::new();
    // Why the first Min-K% item without a score has none.
    let mut min_k_failure: Option<String> = None;
    let mut min_k_asked = 0usize;
    for row in rows {
        let subject = subject_of(row).to_string();
        let found = || match_guess(&read_guess(&row.response_text), &row.gold);
        if row.kind == ItemKind::MaskedOption && !answered(row.outcome) {
            continue;
        }
        match row.kind {
            ItemKind::MaskedOption if row.suite == CONTROL_SUBJECT => control.add(found()),
            ItemKind::MaskedOption => {
                let matched = found();
                for key in [subject.clone(), ALL_SUBJECTS.to_string()] {
                    tallies
                        .entry((row.suite.clone(), key))
                        .or_default()
                        .guesses
                        .add(matched);
                }
            }
            ItemKind::PermutedChoice => {
                let key = (
                    endpoint,
                    row.suite.as_str(),
                    row.item_id.as_str(),
                    row.repeat,
                );
                let Some(original) = originals.get(&key) else {
                    continue;
                };
                let pair = OrderPair {
                    correct_original: original.outcome == Outcome::Correct,
                    correct_permuted: row.outcome == Outcome::Correct,
                    followed_old_letter: row.extracted.as_deref() == Some(original.gold.as_str()),
                    option_count: row.options.len(),
                };
                if pair.correct_original != pair.correct_permuted {
                    let permutation =
                        original
                            .gold
                            .chars()
                            .next()
                            .map_or_else(String::new, |gold| {
                                let shift = order_shift(&row.item_id, row.options.len());
                                permute(&row.options, gold, shift).2
                            });
                    flipped.push(FlippedItem {
                        suite: row.suite.clone(),
                        subject: subject.clone(),
                        item_id: row.item_id.clone(),
                        repeat: row.repeat,
                        permutation,
                        original_gold: original.gold.clone(),
                        original_answer: original.extracted.clone(),
                        rotated_gold: row.gold.clone(),
                        rotated_answer: row.extracted.clone(),
                        direction: if pair.correct_original {
                            "right_to_wrong"
                        } else {
                            "wrong_to_right"
                        },
                        followed_old_letter: pair.followed_old_letter,
                    });
                }
                for key in [subject.clone(), ALL_SUBJECTS.to_string()] {
                    tallies
                        .entry((row.suite.clone(), key))
                        .or_default()
                        .pairs
                        .push(pair);
                }
            }
            ItemKind::GuidedCompletion | ItemKind::GeneralCompletion => {
                if row.outcome != Outcome::Recorded {
                    continue;
                }
                let overlap = char_overlap(&read_completion(&row.response_text), &row.gold);
                let halves = completions
                    .entry((
                        row.suite.clone(),
                        subject.clone(),
                        row.item_id.clone(),
                        row.repeat,
                    ))
                    .or_default();
                if row.kind == ItemKind::GuidedCompletion {
                    halves.0 = Some(overlap);
                } else {
                    halves.1 = Some(overlap);
                }
            }
            // An echoed prompt's log-probabilities are the same at every repeat: one
            // score per item, or the rank test would count each item `repeats` times.
            ItemKind::MinKProbability if row.repeat > 0 => {}
            ItemKind::MinKProbability => {
                min_k_asked += 1;
                let tokens: Vec<f64> = row.logprobs.iter().map(|(_, logprob)| *logprob).collect();
                let score = (row.outcome == Outcome::Recorded)
                    .then(|| min_k_score(&tokens, MIN_K_PERCENT))
                    .flatten();
                let Some(score) = score else {
                    min_k_failure.get_or_insert_with(|| {
                        if row.error_message.is_empty() {
                            format!("the answer was {}", row.outcome.as_str())
                        } else {
                            row.error_message.clone()
                        }
                    });
                    continue;
                };
                if row.suite == CONTROL_SUBJECT {
                    min_k_control.push(score);
                    continue;
                }
                for key in [subject.clone(), ALL_SUBJECTS.to_string()] {
                    tallies
                        .entry((row.suite.clone(), key))
                        .or_default()
                        .min_k
                        .push(score);
                }
            }
            _ => {}
        }
    }
    let min_k_scored = tallies.values().any(|tally| !tally.min_k.is_empty());
    let min_k_not_run = if min_k_asked == 0 {
        Some("no Min-K% item was planned (a run planned before the test existed)".to_string())
    } else if min_k_control.is_empty() || !min_k_scored {
        Some(format!(
            "no prompt log-probabilities came back for the {} ({})",
            if min_k_control.is_empty() {
                "control items"
            } else {
                "benchmark's items"
            },
            min_k_failure.as_deref().unwrap_or("no answer")
        ))
    } else {
        None
    };
    for ((suite, subject, _, _), halves) in completions {
        let (Some(guided), Some(general)) = halves else {
            continue;
        };
        for key in [subject.clone(), ALL_SUBJECTS.to_string()] {
            tallies
                .entry((suite.clone(), key))
                .or_default()
                .completions
                .push((guided, general));
        }
    }
    let mut results: Vec<SubjectFindings> = tallies
        .into_iter()
        .map(|((suite, subject), tally)| SubjectFindings {
            suite,
            subject,
            order: order_figures(&tally.pairs),
            masked: guess_figures(tally.guesses, control),
            completion: completion_figures(&tally.completions),
            min_k: (min_k_not_run.is_none() && !tally.min_k.is_empty())
                .then(|| min_k_figures(&tally.min_k, &min_k_control)),
        })
        .collect();
    // Each suite's total first, then its subjects in name order.
    results.sort_by(|a, b| {
        (
            a.suite.as_str(),
            a.subject != ALL_SUBJECTS,
            a.subject.as_str(),
        )
            .cmp(&(
                b.suite.as_str(),
                b.subject != ALL_SUBJECTS,
                b.subject.as_str(),
            ))
    });
    let strongest = |strength: &dyn Fn(&SubjectFindings) -> Strength| {
        results
            .iter()
            .filter(|result| result.subject == ALL_SUBJECTS)
            .map(strength)
            .max()
            .unwrap_or(Strength::None)
    };
    EndpointFindings {
        endpoint: endpoint.to_string(),
        order_strength: strongest(&|result| result.order.strength),
        masked_strength: strongest(&|result| result.masked.strength),
        completion_strength: strongest(&|result| result.completion.strength),
        min_k_strength: min_k_not_run.is_none().then(|| {
            strongest(&|result| {
                result
                    .min_k
                    .as_ref()
                    .map_or(Strength::None, |figures| figures.strength)
            })
        }),
        min_k_control_items: min_k_control.len() as u64,
        min_k_not_run,
        results,
        control,
        flipped,
    }
}

/// An answer to compare: a non-answer (api error, refusal) is left out of the guesses,
/// as it says nothing about what the model recalls.
fn answered(outcome: Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Correct | Outcome::Wrong | Outcome::Unextractable | Outcome::Truncated
    )
}

fn interval(bounds: (f64, f64)) -> String {
    format!("[{}, {}]", percent(bounds.0), percent(bounds.1))
}

fn p_value(p: f64) -> String {
    if p < 0.0001 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

/// How many flipped items the Markdown lists per endpoint (all are in the JSON).
const FLIPPED_SHOWN: usize = 20;

/// The report's "Contamination audit" section as data, built once: `report.md` and
/// `report.html` render it with the report's renderers.
pub fn section(findings: &ContaminationFindings) -> Section {
    let mut section = Section::new("Contamination audit");
    section.paragraph("Was the model trained on the benchmark? Each test below is evidence with a stated strength (strong / weak / none), never a verdict; what each can and cannot show is in docs/contamination.md.");
    for endpoint in &findings.endpoints {
        section.subheading(3, format!("Contamination: {}", endpoint.endpoint));
        section.paragraph(format!(
            "Evidence: option order **{}**, masked option **{}**, guided completion **{}**, Min-K% **{}**.",
            endpoint.order_strength.as_str(),
            endpoint.masked_strength.as_str(),
            endpoint.completion_strength.as_str(),
            endpoint.min_k_strength.map_or("not run", Strength::as_str)
        ));
        order_part(&mut section, endpoint);
        masked_part(&mut section, findings, endpoint);
        completion_part(&mut section, endpoint);
        min_k_part(&mut section, findings, endpoint);
    }
    section
}

/// The report's "Contamination audit" section in Markdown.
pub fn markdown(findings: &ContaminationFindings) -> String {
    markdown::section(&section(findings))
}

/// A strength in bold, as every table of the section shows it.
fn strength_cell(strength: Strength) -> Cell {
    Cell::Markdown(format!("**{}**", strength.as_str()))
}

/// A share in percent with its 95% interval, in one cell: `75.0 [30.1, 95.4]`.
fn share_cell(share: f64, bounds: (f64, f64)) -> Cell {
    Cell::text(format!("{} {}", percent(share), interval(bounds)))
}

fn order_part(section: &mut Section, endpoint: &EndpointFindings) {
    section.subheading(4, "Option order");
    section.paragraph("Each item asked again with its options rotated (the gold moves to a new letter). Accuracy in both orders (95% Wilson intervals), the share of rotated answers naming the original gold letter, and McNemar's exact test on the items right in one order only (b: original only, c: rotated only).");
    let mut table = Table::new([
        Column::text("suite"),
        Column::text("subject"),
        Column::number("items"),
        Column::text("accuracy original %"),
        Column::text("accuracy rotated %"),
        Column::text("old letter %"),
        Column::number("b / c"),
        Column::number("McNemar p"),
        Column::text("strength"),
    ]);
    for result in &endpoint.results {
        let order = &result.order;
        if order.pairs == 0 {
            continue;
        }
        table.push([
            Cell::text(&result.suite),
            Cell::text(&result.subject),
            Cell::count(order.pairs),
            share_cell(order.accuracy_original, order.accuracy_original_interval),
            share_cell(order.accuracy_permuted, order.accuracy_permuted_interval),
            share_cell(order.old_letter_share, order.old_letter_interval),
            Cell::text(format!(
                "{} / {}",
                order.right_original_only, order.right_permuted_only
            )),
            Cell::text(p_value(order.mcnemar_p)),
            strength_cell(order.strength),
        ]);
    }
    section.table(table);
    if !endpoint.flipped.is_empty() {
        section.paragraph(format!(
            "Items that flipped ({}; the first {} here, all in contamination.json):",
            endpoint.flipped.len(),
            FLIPPED_SHOWN.min(endpoint.flipped.len())
        ));
        section.list(
            endpoint
                .flipped
                .iter()
                .take(FLIPPED_SHOWN)
                .map(|item| {
                    format!(
                        "`{}` ({}, order {}): original gold {} answered {}; rotated gold {} answered {}{}",
                        item.item_id,
                        item.suite,
                        item.permutation,
                        item.original_gold,
                        item.original_answer.as_deref().unwrap_or("–"),
                        item.rotated_gold,
                        item.rotated_answer.as_deref().unwrap_or("–"),
                        if item.followed_old_letter {
                            " (the old letter)"
                        } else {
                            ""
                        }
                    )
                })
                .collect(),
        );
    }
    section.paragraph(format!("Does not show: {ORDER_LIMITS}"));
}

fn masked_part(
    section: &mut Section,
    findings: &ContaminationFindings,
    endpoint: &EndpointFindings,
) {
    section.subheading(4, "Masked option (TS-Guessing)");
    section.paragraph(format!(
        "One wrong option hidden and the model asked to write it. Exact and near-exact (character overlap ≥ {}) matches with the hidden text, against the project's {} control items (exact: {}, near-exact: {}); one-sided Fisher test of the exact rates.",
        findings.near_exact_threshold,
        endpoint.control.asked,
        endpoint.control.exact,
        endpoint.control.near
    ));
    let mut table = Table::new([
        Column::text("suite"),
        Column::text("subject"),
        Column::number("items"),
        Column::number("exact"),
        Column::number("near-exact"),
        Column::text("exact rate %"),
        Column::text("control exact rate %"),
        Column::number("Fisher p"),
        Column::text("strength"),
    ]);
    for result in &endpoint.results {
        let masked = &result.masked;
        if masked.benchmark.asked == 0 {
            continue;
        }
        table.push([
            Cell::text(&result.suite),
            Cell::text(&result.subject),
            Cell::count(masked.benchmark.asked),
            Cell::count(masked.benchmark.exact),
            Cell::count(masked.benchmark.near),
            share_cell(masked.exact_rate, masked.exact_interval),
            share_cell(masked.control_exact_rate, masked.control_exact_interval),
            Cell::text(p_value(masked.fisher_p)),
            strength_cell(masked.strength),
        ]);
    }
    section.table(table);
    section.paragraph(format!("Does not show: {MASKED_LIMITS}"));
}

fn completion_part(section: &mut Section, endpoint: &EndpointFindings) {
    section.subheading(4, "Guided completion (Golchin & Surdeanu 2023)");
    section.paragraph("The first half of each question, asked to be finished with the dataset's name and split (guided) and without (general). Mean character overlap of the completions with the true second half, items where each instruction came closer, guided completions that are near-exact, and a one-sided exact sign test (guided closer).");
    let mut table = Table::new([
        Column::text("suite"),
        Column::text("subject"),
        Column::number("items"),
        Column::number("overlap guided"),
        Column::number("overlap general"),
        Column::number("guided / general closer"),
        Column::text("guided near-exact %"),
        Column::number("sign test p"),
        Column::text("strength"),
    ]);
    for result in &endpoint.results {
        let completion = &result.completion;
        if completion.pairs == 0 {
            continue;
        }
        table.push([
            Cell::text(&result.suite),
            Cell::text(&result.subject),
            Cell::count(completion.pairs),
            Cell::Fixed {
                value: completion.mean_overlap_guided,
                decimals: 3,
            },
            Cell::Fixed {
                value: completion.mean_overlap_general,
                decimals: 3,
            },
            Cell::text(format!(
                "{} / {}",
                completion.guided_higher, completion.general_higher
            )),
            share_cell(
                completion.guided_near_exact as f64 / completion.pairs as f64,
                completion.guided_near_exact_interval,
            ),
            Cell::text(p_value(completion.sign_test_p)),
            strength_cell(completion.strength),
        ]);
    }
    section.table(table);
    section.paragraph(format!("Does not show: {COMPLETION_LIMITS}"));
}

/// The Min-K% part of one endpoint's section: its table, or why it did not run.
fn min_k_part(
    section: &mut Section,
    findings: &ContaminationFindings,
    endpoint: &EndpointFindings,
) {
    section.subheading(4, "Min-K% prompt log-probability (Shi et al. 2023)");
    if let Some(reason) = &endpoint.min_k_not_run {
        section.paragraph(format!(
            "Not run: {reason}. No figure is given for this endpoint."
        ));
        return;
    }
    section.paragraph(format!(
        "Each question's text echoed with its prompt-token log-probabilities; an item's score is the mean of its lowest {}% (higher: less surprising). The benchmark's items against the project's {} control items: medians and means, the AUC (the chance that a benchmark item scores above a control item, ½ when neither side is higher; 95% Hanley–McNeil interval) and a one-sided Mann–Whitney U test (normal approximation).",
        findings.min_k_percent, endpoint.min_k_control_items
    ));
    let mut table = Table::new([
        Column::text("suite"),
        Column::text("subject"),
        Column::number("items"),
        Column::text("Min-K% median (mean)"),
        Column::text("control median (mean)"),
        Column::text("AUC"),
        Column::number("U"),
        Column::number("z"),
        Column::number("p"),
        Column::text("strength"),
    ]);
    for result in &endpoint.results {
        let Some(min_k) = &result.min_k else {
            continue;
        };
        let test = &min_k.mann_whitney;
        table.push([
            Cell::text(&result.suite),
            Cell::text(&result.subject),
            Cell::count(min_k.items),
            Cell::text(format!("{:.3} ({:.3})", min_k.median, min_k.mean)),
            Cell::text(format!(
                "{:.3} ({:.3})",
                min_k.control_median, min_k.control_mean
            )),
            Cell::text(format!(
                "{:.3} [{:.3}, {:.3}]",
                test.auc, min_k.auc_interval.0, min_k.auc_interval.1
            )),
            Cell::text(test.u.to_string()),
            Cell::Fixed {
                value: test.z,
                decimals: 2,
            },
            Cell::text(p_value(test.p)),
            strength_cell(min_k.strength),
        ]);
    }
    section.table(table);
    section.paragraph(format!("Does not show: {MIN_K_LIMITS}"));
}

/// The section as HTML: its tables and, per endpoint, a chart of each suite's subjects
/// (accuracy in both orders, masked-option exact rate, and Min-K%'s AUC against the
/// control items where it ran).
pub fn html(findings: &ContaminationFindings) -> String {
    let mut page = String::from("<div id=\"contamination\">\n");
    let mut html = report_html::section(&section(findings));
    let mut charts = String::new();
    for endpoint in &findings.endpoints {
        chart(&mut charts, endpoint);
    }
    // The charts go after the section's heading and introduction.
    match html.find("<h3>") {
        Some(position) => html.insert_str(position, &charts),
        None => html.push_str(&charts),
    }
    page.push_str(&html);
    page.push_str("</div>\n");
    page
}

const SERIES: [(&str, &str); 4] = [
    ("accuracy original", "#4878d0"),
    ("accuracy rotated", "#ee854a"),
    ("masked exact rate", "#d65f5f"),
    ("Min-K% AUC", "#6acc64"),
];

fn chart(page: &mut String, endpoint: &EndpointFindings) {
    let groups: Vec<&SubjectFindings> = endpoint
        .results
        .iter()
        .filter(|result| result.subject != ALL_SUBJECTS)
        .collect();
    if groups.is_empty() {
        return;
    }
    let (left, top, bottom) = (44.0, 24.0, 70.0);
    let group_width = 68.0;
    let width = (left + 10.0 + group_width * groups.len() as f64).max(560.0);
    let height = 280.0;
    let plot_height = height - top - bottom;
    let y = |value: f64| top + plot_height * (1.0 - value.clamp(0.0, 1.0));
    let _ = writeln!(
        page,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"contamination audit for {}\">",
        escape(&endpoint.endpoint)
    );
    for tick in [0.0, 0.5, 1.0] {
        let _ = writeln!(
            page,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#e0e0e0\"/><text x=\"{}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
            width - 10.0,
            y(tick),
            y(tick),
            left - 4.0,
            y(tick) + 3.0,
            (tick * 100.0) as u32
        );
    }
    for (index, (name, colour)) in SERIES.iter().enumerate() {
        let x = left + 130.0 * index as f64;
        let _ = writeln!(
            page,
            "<rect x=\"{x}\" y=\"4\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{}\" y=\"13\" font-size=\"10\">{name}</text>",
            x + 14.0
        );
    }
    for (index, group) in groups.iter().enumerate() {
        let x0 = left + group_width * index as f64 + 6.0;
        // Min-K%'s AUC only where the test ran (½: no difference from the control).
        let values = [
            Some(group.order.accuracy_original),
            Some(group.order.accuracy_permuted),
            Some(group.masked.exact_rate),
            group.min_k.as_ref().map(|figures| figures.mann_whitney.auc),
        ];
        for (series, value) in values.iter().enumerate() {
            let Some(value) = value else { continue };
            let x = x0 + 14.0 * series as f64;
            let top_y = y(*value);
            let _ = writeln!(
                page,
                "<rect x=\"{x:.1}\" y=\"{top_y:.1}\" width=\"12\" height=\"{:.1}\" fill=\"{}\"><title>{} {}: {}</title></rect>",
                (top + plot_height - top_y).max(0.0),
                SERIES[series].1,
                escape(&group.subject),
                SERIES[series].0,
                percent(*value)
            );
        }
        let label_x = x0 + 27.0;
        let label_y = top + plot_height + 10.0;
        let _ = writeln!(
            page,
            "<text x=\"{label_x:.1}\" y=\"{label_y:.1}\" font-size=\"10\" text-anchor=\"end\" transform=\"rotate(-40 {label_x:.1} {label_y:.1})\">{}</text>",
            escape(&group.subject)
        );
    }
    let _ = writeln!(page, "</svg>");
}

/// Adds the audit to a rendered report: a section at the end of `report.md`, before the
/// manifest in `report.html`, and `contamination.json`.
///
/// # Errors
/// Serialising the findings (never, for valid figures).
pub fn attach(
    files: &mut Vec<ReportFile>,
    findings: &ContaminationFindings,
) -> Result<(), CoordinatorError> {
    for file in files.iter_mut() {
        if file.name == "report.md" {
            file.content.extend_from_slice(b"\n");
            file.content
                .extend_from_slice(markdown(findings).as_bytes());
        } else if file.name == "report.html" {
            let page = String::from_utf8_lossy(&file.content).into_owned();
            let section = html(findings);
            let page = match page.find("<h2 id=\"manifest\">") {
                Some(position) => {
                    let mut page = page;
                    page.insert_str(position, &section);
                    page
                }
                None => page.replacen("</body>", &format!("{section}</body>"), 1),
            };
            file.content = page.into_bytes();
        }
    }
    files.push(ReportFile {
        name: "contamination.json".to_string(),
        content: serde_json::to_vec_pretty(findings)
            .map_err(|error| CoordinatorError::Internal(error.to_string()))?,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    fn original(endpoint: &str, item: usize, gold: &str, answer: &str) -> ScoredRow {
        let mut row = ScoredRow::example(
            endpoint,
            "law",
            if gold == answer { "correct" } else { "wrong" },
        );
        row.item_id = format!("law/val/{item}");
        row.gold = gold.to_string();
        row.extracted = Some(answer.to_string());
        row
    }

    fn rotated(endpoint: &str, item: usize, gold: &str, answer: &str) -> ContaminationRow {
        ContaminationRow {
            endpoint: endpoint.to_string(),
            kind: ItemKind::PermutedChoice,
            subject: "ceval/law".to_string(),
            suite: "ceval".to_string(),
            item_id: format!("law/val/{item}"),
            repeat: 0,
            gold: gold.to_string(),
            options: ["甲", "乙", "丙", "丁"].map(String::from).to_vec(),
            extracted: Some(answer.to_string()),
            outcome: if gold == answer {
                Outcome::Correct
            } else {
                Outcome::Wrong
            },
            response_text: format!("答案是{answer}"),
            logprobs: Vec::new(),
            error_message: String::new(),
        }
    }

    /// A Min-K% answer whose prompt tokens have these log-probabilities.
    fn echoed(endpoint: &str, suite: &str, item: usize, tokens: &[f64]) -> ContaminationRow {
        ContaminationRow {
            kind: ItemKind::MinKProbability,
            subject: if suite == CONTROL_SUBJECT {
                suite.to_string()
            } else {
                format!("{suite}/law")
            },
            suite: suite.to_string(),
            gold: String::new(),
            options: Vec::new(),
            extracted: None,
            outcome: Outcome::Recorded,
            response_text: String::new(),
            logprobs: tokens
                .iter()
                .map(|logprob| ("字".to_string(), *logprob))
                .collect(),
            ..rotated(endpoint, item, "A", "A")
        }
    }

    fn masked(
        endpoint: &str,
        suite: &str,
        item: usize,
        hidden: &str,
        reply: &str,
    ) -> ContaminationRow {
        ContaminationRow {
            kind: ItemKind::MaskedOption,
            subject: if suite == CONTROL_SUBJECT {
                suite.to_string()
            } else {
                format!("{suite}/law")
            },
            suite: suite.to_string(),
            gold: hidden.to_string(),
            response_text: reply.to_string(),
            outcome: Outcome::Wrong,
            ..rotated(endpoint, item, "A", "A")
        }
    }

    fn completion(kind: ItemKind, item: usize, second_half: &str, reply: &str) -> ContaminationRow {
        ContaminationRow {
            kind,
            gold: second_half.to_string(),
            response_text: reply.to_string(),
            outcome: Outcome::Recorded,
            options: Vec::new(),
            ..rotated("m", item, "A", "A")
        }
    }

    #[test]
    fn pairs_are_matched_by_endpoint_item_and_repeat_and_counted_by_hand() {
        // Four items: 0 and 1 right then the old letter (A, B); 2 right in both orders;
        // 3 wrong then right.
        let rows = vec![
            original("m", 0, "A", "A"),
            original("m", 1, "B", "B"),
            original("m", 2, "C", "C"),
            original("m", 3, "D", "A"),
            // Another endpoint's answers never pair with this one's.
            original("other", 0, "A", "C"),
        ];
        let audit = vec![
            rotated("m", 0, "D", "A"),
            rotated("m", 1, "C", "B"),
            rotated("m", 2, "B", "B"),
            rotated("m", 3, "A", "A"),
            masked("m", "ceval", 0, "丙方案", "丙方案"),
            masked("m", "ceval", 1, "丁方案", "丁方案子"),
            masked("m", "ceval", 2, "乙方案", "不知道"),
            masked("m", CONTROL_SUBJECT, 0, "长江", "黄河"),
            masked("m", CONTROL_SUBJECT, 1, "钢铁", "空气"),
            completion(ItemKind::GuidedCompletion, 0, "丁戊", "后半部分：丁戊"),
            completion(ItemKind::GeneralCompletion, 0, "丁戊", "甲乙"),
            completion(ItemKind::GuidedCompletion, 1, "丁戊", "丁己"),
            completion(ItemKind::GeneralCompletion, 1, "丁戊", "丁戊"),
            // A guided completion without its general twin pairs with nothing.
            completion(ItemKind::GuidedCompletion, 2, "丁戊", "丁戊"),
        ];
        let findings = findings(&rows, &audit).expect("findings");
        let endpoint = &findings.endpoints[0];
        assert_eq!(findings.endpoints.len(), 1);
        let all = &endpoint.results[0];
        assert_eq!(
            (all.suite.as_str(), all.subject.as_str()),
            ("ceval", ALL_SUBJECTS)
        );
        assert_eq!(endpoint.results[1].subject, "law");
        let order = &all.order;
        assert_eq!(order.pairs, 4);
        assert_eq!(order.accuracy_original, 0.75);
        assert_eq!(order.accuracy_permuted, 0.5);
        assert_eq!(order.followed_old_letter, 2);
        assert_eq!(
            (order.right_original_only, order.right_permuted_only),
            (2, 1)
        );
        // b = 2, c = 1: 2 · (1 + 3) / 8 = 1 (capped)
        assert_eq!(order.mcnemar_p, 1.0);
        assert_eq!(endpoint.flipped.len(), 3);
        assert_eq!(endpoint.flipped[0].direction, "right_to_wrong");
        assert!(endpoint.flipped[0].followed_old_letter);
        assert_eq!(endpoint.flipped[2].direction, "wrong_to_right");
        // 丁方案子 against 丁方案: 2·3 / (4 + 3) = 0.857, near-exact.
        let guesses = all.masked.benchmark;
        assert_eq!((guesses.asked, guesses.exact, guesses.near), (3, 1, 1));
        assert_eq!(endpoint.control.asked, 2);
        assert_eq!(endpoint.control.exact, 0);
        // 1 of 3 against 0 of 2: C(3,1)·C(2,0)/C(5,1) = 3/5
        assert!((all.masked.fisher_p - 0.6).abs() < 1e-12);
        // Overlaps by hand: item 0 guided 1.0, general 0.0; item 1 guided 2·1/4 = 0.5,
        // general 1.0. One closer each way: P(X ≥ 1 | 2) = 3/4.
        let completion = &all.completion;
        assert_eq!(completion.pairs, 2);
        assert!((completion.mean_overlap_guided - 0.75).abs() < 1e-12);
        assert!((completion.mean_overlap_general - 0.5).abs() < 1e-12);
        assert_eq!(
            (completion.guided_higher, completion.general_higher),
            (1, 1)
        );
        assert!((completion.sign_test_p - 0.75).abs() < 1e-12);
        assert_eq!(completion.guided_near_exact, 1);
        assert_eq!(endpoint.completion_strength, Strength::None);
        let text = markdown(&findings);
        assert!(text.contains("### Contamination: m"), "{text}");
        assert!(
            text.contains("| ceval | (all) | 2 | 0.750 | 0.500 | 1 / 1 |"),
            "{text}"
        );
        // Wilson for 3 of 4, by hand: (0.75 + 0.4802 ∓ 0.6406) / 1.9604 = [30.1, 95.4].
        assert!(
            text.contains("| ceval | (all) | 4 | 75.0 [30.1, 95.4] | 50.0 [15.0, 85.0]"),
            "{text}"
        );
        assert!(text.contains("Does not show:"));
        assert!(text.contains("Min-K% **not run**"), "{text}");
        assert!(
            text.contains("Not run: no Min-K% item was planned"),
            "{text}"
        );
        let page = html(&findings);
        assert!(page.contains("<svg") && page.contains("id=\"contamination\""));
    }

    #[test]
    fn min_k_compares_the_benchmark_with_the_control_items_by_hand() {
        // Five tokens each: Min-K% (K = 20) is the lowest one. Benchmark items -0.5 and
        // -0.2; control items -3, -2 and -0.6 (and one the endpoint did not answer).
        let mut failed = echoed("m", CONTROL_SUBJECT, 9, &[]);
        failed.outcome = Outcome::ApiError;
        failed.error_message = "HTTP 500".to_string();
        let audit = vec![
            echoed("m", "ceval", 0, &[-0.1, -0.5, -0.1, -0.1, -0.1]),
            echoed("m", "ceval", 1, &[-0.2, -0.1, -0.1, -0.1, -0.1]),
            echoed("m", CONTROL_SUBJECT, 0, &[-3.0, -1.0, -1.0, -1.0, -1.0]),
            echoed("m", CONTROL_SUBJECT, 1, &[-1.0, -2.0, -1.0, -1.0, -1.0]),
            echoed("m", CONTROL_SUBJECT, 2, &[-0.6, -0.1, -0.1, -0.1, -0.1]),
            failed,
        ];
        let findings = findings(&[], &audit).expect("findings");
        let endpoint = &findings.endpoints[0];
        assert_eq!(endpoint.min_k_not_run, None);
        assert_eq!(endpoint.min_k_control_items, 3);
        let min_k = endpoint.results[0].min_k.as_ref().expect("Min-K% figures");
        assert_eq!((min_k.items, min_k.control_items), (2, 3));
        assert!((min_k.median - -0.35).abs() < 1e-12, "{min_k:?}");
        assert_eq!(min_k.control_median, -2.0);
        // Each benchmark item beats every control item: U = 6 of 6. No ties: σ² = 6/12 · 6
        // = 3; z = (6 − 3 − ½) / √3 = 1.4434; P(Z ≥ z) = 0.07446: not significant with so
        // few items, so no evidence.
        assert_eq!(min_k.mann_whitney.u, 6.0);
        assert!((min_k.mann_whitney.z - 2.5 / 3f64.sqrt()).abs() < 1e-12);
        assert!((min_k.mann_whitney.p - 0.074_46).abs() < 1e-4, "{min_k:?}");
        assert_eq!(endpoint.min_k_strength, Some(Strength::None));
        let text = markdown(&findings);
        assert!(
            text.contains("| ceval | (all) | 2 | -0.350 (-0.350) | -2.000 (-1.867) | 1.000 [1.000, 1.000] | 6 | 1.44 | 0.0745 | **none** |"),
            "{text}"
        );
        assert!(text.contains("no absolute threshold"), "{text}");
        assert!(html(&findings).contains("Min-K% AUC"));

        // An endpoint that echoes nothing: not run, with the worker's reason, no figure.
        let mut silent = echoed("m", "ceval", 0, &[]);
        silent.outcome = Outcome::ApiError;
        silent.error_message = "not sent: the endpoint answered Jianzhen's echo check without prompt log-probabilities".to_string();
        let mut silent_control = silent.clone();
        silent_control.suite = CONTROL_SUBJECT.to_string();
        silent_control.subject = CONTROL_SUBJECT.to_string();
        let findings = super::findings(&[], &[silent, silent_control]).expect("findings");
        let endpoint = &findings.endpoints[0];
        assert_eq!(endpoint.min_k_strength, None);
        assert!(endpoint.results.iter().all(|result| result.min_k.is_none()));
        let text = markdown(&findings);
        assert!(text.contains("Min-K% **not run**"), "{text}");
        assert!(
            text.contains(
                "Not run: no prompt log-probabilities came back for the control items (not sent"
            ),
            "{text}"
        );
        assert!(!text.contains("| AUC |"), "{text}");
    }

    #[test]
    fn no_audit_rows_no_section_and_the_cost_is_stated() {
        assert!(findings(&[], &[]).is_none());
        let mut spec = RunSpec::from_toml(
            "name = \"t\"\ncontamination = true\ncontamination_sample = 5\n[[suites]]\nname = \"ceval\"\ndata = \"/d\"\n[[endpoints]]\nname = \"e\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n",
            "test",
        )
        .expect("spec");
        let cost = cost_statement(&spec).expect("a cost");
        assert!(cost.contains("5 extra requests per sampled"), "{cost}");
        assert!(cost.contains("echoed for Min-K%"), "{cost}");
        assert!(cost.contains("at most 5 per subject"), "{cost}");
        assert!(cost.contains("44 control items"), "{cost}");
        spec.contamination = false;
        assert!(cost_statement(&spec).is_none());
        let refused = RunSpec::from_toml(
            "name = \"t\"\ncontamination_sample = 5\n[[suites]]\nname = \"ceval\"\ndata = \"/d\"\n[[endpoints]]\nname = \"e\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n",
            "test",
        )
        .expect_err("a sample without the audit");
        assert!(
            refused.to_string().contains("contamination = true"),
            "{refused}"
        );
    }

    /// The section is built as data and rendered by the report's Markdown renderer; the
    /// text is the one the hand-written writer produced, byte for byte: a run with every
    /// test (flipped items listed, Min-K% run) and one where Min-K% did not run.
    #[test]
    fn the_section_renders_the_markdown_of_the_former_writer_byte_for_byte() {
        let rows = vec![
            original("m", 0, "A", "A"),
            original("m", 1, "B", "B"),
            original("m", 3, "D", "A"),
            original("other", 0, "A", "C"),
        ];
        let audit = vec![
            rotated("m", 0, "D", "A"),
            rotated("m", 1, "C", "B"),
            rotated("m", 3, "A", "A"),
            rotated("other", 0, "B", "B"),
            masked("m", "ceval", 0, "丙方案", "丙方案"),
            masked("m", "ceval", 1, "丁方案", "丁方案子"),
            masked("m", CONTROL_SUBJECT, 0, "长江", "黄河"),
            completion(ItemKind::GuidedCompletion, 0, "丁戊", "后半部分：丁戊"),
            completion(ItemKind::GeneralCompletion, 0, "丁戊", "甲乙"),
            echoed("m", "ceval", 0, &[-0.1, -0.5, -0.1, -0.1, -0.1]),
            echoed("m", "ceval", 1, &[-0.2, -0.1, -0.1, -0.1, -0.1]),
            echoed("m", CONTROL_SUBJECT, 0, &[-3.0, -1.0, -1.0, -1.0, -1.0]),
            echoed("m", CONTROL_SUBJECT, 1, &[-1.0, -2.0, -1.0, -1.0, -1.0]),
        ];
        let everything = findings(&rows, &audit).expect("findings");
        assert!(!everything.endpoints[0].flipped.is_empty());
        assert!(everything.endpoints[0].min_k_not_run.is_none());
        let text = markdown(&everything);
        assert!(text.contains("| AUC |") && text.contains("Items that flipped"));
        assert_eq!(text, former_markdown(&everything));

        let mut silent = echoed("m", "ceval", 0, &[]);
        silent.outcome = Outcome::ApiError;
        silent.error_message = "not sent".to_string();
        let without_min_k =
            findings(&rows, &[rotated("m", 0, "D", "A"), silent]).expect("findings");
        assert_eq!(markdown(&without_min_k), former_markdown(&without_min_k));
    }

    /// The section's writer before it was built as data, kept verbatim as the reference
    /// the rendered Markdown must equal byte for byte.
    fn former_markdown(findings: &ContaminationFindings) -> String {
        let mut text = String::from("## Contamination audit\n\n");
        text.push_str("Was the model trained on the benchmark? Each test below is evidence with a stated strength (strong / weak / none), never a verdict; what each can and cannot show is in docs/contamination.md.\n\n");
        for endpoint in &findings.endpoints {
            let _ = writeln!(text, "### Contamination: {}\n", endpoint.endpoint);
            let _ = writeln!(
                text,
                "Evidence: option order **{}**, masked option **{}**, guided completion **{}**, Min-K% **{}**.\n",
                endpoint.order_strength.as_str(),
                endpoint.masked_strength.as_str(),
                endpoint.completion_strength.as_str(),
                endpoint.min_k_strength.map_or("not run", Strength::as_str)
            );
            text.push_str("#### Option order\n\n");
            text.push_str("Each item asked again with its options rotated (the gold moves to a new letter). Accuracy in both orders (95% Wilson intervals), the share of rotated answers naming the original gold letter, and McNemar's exact test on the items right in one order only (b: original only, c: rotated only).\n\n");
            text.push_str("| suite | subject | items | accuracy original % | accuracy rotated % | old letter % | b / c | McNemar p | strength |\n|---|---|---:|---|---|---|---:|---:|---|\n");
            for result in &endpoint.results {
                let order = &result.order;
                if order.pairs == 0 {
                    continue;
                }
                let _ = writeln!(
                    text,
                    "| {} | {} | {} | {} {} | {} {} | {} {} | {} / {} | {} | **{}** |",
                    result.suite,
                    result.subject,
                    order.pairs,
                    percent(order.accuracy_original),
                    interval(order.accuracy_original_interval),
                    percent(order.accuracy_permuted),
                    interval(order.accuracy_permuted_interval),
                    percent(order.old_letter_share),
                    interval(order.old_letter_interval),
                    order.right_original_only,
                    order.right_permuted_only,
                    p_value(order.mcnemar_p),
                    order.strength.as_str()
                );
            }
            text.push('\n');
            if !endpoint.flipped.is_empty() {
                let _ = writeln!(
                    text,
                    "Items that flipped ({}; the first {} here, all in contamination.json):\n",
                    endpoint.flipped.len(),
                    FLIPPED_SHOWN.min(endpoint.flipped.len())
                );
                for item in endpoint.flipped.iter().take(FLIPPED_SHOWN) {
                    let _ = writeln!(
                        text,
                        "- `{}` ({}, order {}): original gold {} answered {}; rotated gold {} answered {}{}",
                        item.item_id,
                        item.suite,
                        item.permutation,
                        item.original_gold,
                        item.original_answer.as_deref().unwrap_or("–"),
                        item.rotated_gold,
                        item.rotated_answer.as_deref().unwrap_or("–"),
                        if item.followed_old_letter {
                            " (the old letter)"
                        } else {
                            ""
                        }
                    );
                }
                text.push('\n');
            }
            let _ = writeln!(text, "Does not show: {ORDER_LIMITS}\n");
            text.push_str("#### Masked option (TS-Guessing)\n\n");
            let _ = writeln!(
                text,
                "One wrong option hidden and the model asked to write it. Exact and near-exact (character overlap ≥ {}) matches with the hidden text, against the project's {} control items (exact: {}, near-exact: {}); one-sided Fisher test of the exact rates.\n",
                findings.near_exact_threshold,
                endpoint.control.asked,
                endpoint.control.exact,
                endpoint.control.near
            );
            text.push_str("| suite | subject | items | exact | near-exact | exact rate % | control exact rate % | Fisher p | strength |\n|---|---|---:|---:|---:|---|---|---:|---|\n");
            for result in &endpoint.results {
                let masked = &result.masked;
                if masked.benchmark.asked == 0 {
                    continue;
                }
                let _ = writeln!(
                    text,
                    "| {} | {} | {} | {} | {} | {} {} | {} {} | {} | **{}** |",
                    result.suite,
                    result.subject,
                    masked.benchmark.asked,
                    masked.benchmark.exact,
                    masked.benchmark.near,
                    percent(masked.exact_rate),
                    interval(masked.exact_interval),
                    percent(masked.control_exact_rate),
                    interval(masked.control_exact_interval),
                    p_value(masked.fisher_p),
                    masked.strength.as_str()
                );
            }
            text.push('\n');
            let _ = writeln!(text, "Does not show: {MASKED_LIMITS}\n");
            text.push_str("#### Guided completion (Golchin & Surdeanu 2023)\n\n");
            text.push_str("The first half of each question, asked to be finished with the dataset's name and split (guided) and without (general). Mean character overlap of the completions with the true second half, items where each instruction came closer, guided completions that are near-exact, and a one-sided exact sign test (guided closer).\n\n");
            text.push_str("| suite | subject | items | overlap guided | overlap general | guided / general closer | guided near-exact % | sign test p | strength |\n|---|---|---:|---:|---:|---:|---|---:|---|\n");
            for result in &endpoint.results {
                let completion = &result.completion;
                if completion.pairs == 0 {
                    continue;
                }
                let _ = writeln!(
                    text,
                    "| {} | {} | {} | {:.3} | {:.3} | {} / {} | {} {} | {} | **{}** |",
                    result.suite,
                    result.subject,
                    completion.pairs,
                    completion.mean_overlap_guided,
                    completion.mean_overlap_general,
                    completion.guided_higher,
                    completion.general_higher,
                    percent(completion.guided_near_exact as f64 / completion.pairs as f64),
                    interval(completion.guided_near_exact_interval),
                    p_value(completion.sign_test_p),
                    completion.strength.as_str()
                );
            }
            text.push('\n');
            let _ = writeln!(text, "Does not show: {COMPLETION_LIMITS}\n");
            former_min_k_markdown(&mut text, findings, endpoint);
        }
        text
    }

    fn former_min_k_markdown(
        text: &mut String,
        findings: &ContaminationFindings,
        endpoint: &EndpointFindings,
    ) {
        text.push_str("#### Min-K% prompt log-probability (Shi et al. 2023)\n\n");
        if let Some(reason) = &endpoint.min_k_not_run {
            let _ = writeln!(
                text,
                "Not run: {reason}. No figure is given for this endpoint.\n"
            );
            return;
        }
        let _ = writeln!(
            text,
            "Each question's text echoed with its prompt-token log-probabilities; an item's score is the mean of its lowest {}% (higher: less surprising). The benchmark's items against the project's {} control items: medians and means, the AUC (the chance that a benchmark item scores above a control item, ½ when neither side is higher; 95% Hanley–McNeil interval) and a one-sided Mann–Whitney U test (normal approximation).\n",
            findings.min_k_percent, endpoint.min_k_control_items
        );
        text.push_str("| suite | subject | items | Min-K% median (mean) | control median (mean) | AUC | U | z | p | strength |\n|---|---|---:|---|---|---|---:|---:|---:|---|\n");
        for result in &endpoint.results {
            let Some(min_k) = &result.min_k else {
                continue;
            };
            let test = &min_k.mann_whitney;
            let _ = writeln!(
                text,
                "| {} | {} | {} | {:.3} ({:.3}) | {:.3} ({:.3}) | {:.3} [{:.3}, {:.3}] | {} | {:.2} | {} | **{}** |",
                result.suite,
                result.subject,
                min_k.items,
                min_k.median,
                min_k.mean,
                min_k.control_median,
                min_k.control_mean,
                test.auc,
                min_k.auc_interval.0,
                min_k.auc_interval.1,
                test.u,
                test.z,
                p_value(test.p),
                min_k.strength.as_str()
            );
        }
        text.push('\n');
        let _ = writeln!(text, "Does not show: {MIN_K_LIMITS}\n");
    }
}
