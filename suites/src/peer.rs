//! Peer answer readings: the post-processors with which the frameworks whose prompts
//! Jianzhen reproduces read a reply, written from their published definitions, so a run
//! can be scored the way the public leaderboards score it and set beside Jianzhen's own
//! reading ([`crate::extract`]).
//!
//! Jianzhen's cascade reads the model's answer; a peer reading is what the peer's
//! leaderboard would count. They differ on purpose: OpenCompass's `first-capital` takes
//! the first capital letter anywhere in the reply, so "DNS（域名解析系统）是…" reads `D`
//! and "My answer is B" reads `M`. Both numbers matter to a reviewer, so both are kept.
//!
//! | extractor | definition |
//! |---|---|
//! | `opencompass_first_capital` | `first_capital_postprocess`, `opencompass/utils/text_postprocessors.py` (open-compass/opencompass @ 014fb105): the first character for which Python's `str.isupper()` holds, else nothing |
//! | `opencompass_first_option` | `first_option_postprocess(text, options='ABCD')`, same file: an ordered list of Chinese and English answer patterns, then the "cushion" patterns; the first pattern that matches gives the first option letter inside its match |
//! | `opencompass_first_option_abcde` | the same with `options='ABCDE'` |
//! | `opencompass_first_capital_multi` | `first_capital_postprocess_multi`, same file: the first run of `A`-`D` letters (`re.search(r'([A-D]+)')`) |
//! | `gaokao_bench` | `GaokaoBenchEvaluator.do_predictions_postprocess`, `opencompass/datasets/GaokaoBench.py` (open-compass/opencompass @ 2de18782): single choice the last `A`-`D` of the reply; multi-select the `A`-`D` after `【答案】` (else in the last 10 characters, whitespace removed); sub-questions one letter after each `【答案】` when there are as many as sub-questions, else the first capital letters; seven-choose-five the first five `A`-`G` |
//!
//! Which template uses which is [`peer_for_template`]: OpenCompass's `ceval_gen_5f30c7`,
//! `cmmlu_gen_c13365` and the CLUE generation configurations (`CLUE_C3_gen_8c358f`,
//! `CLUE_ocnli_gen_c4cb6c`, and the lettered `FewCLUE_*_gen_*`, whose `*_eval_cfg` set
//! `pred_postprocessor=first_capital_postprocess`) name `first_capital_postprocess`;
//! `ceval_zero_shot_gen_bd40ef` names `first_option_postprocess` with `ABCD`; `GaokaoBench_gen_5cfe9e` scores with
//! `GaokaoBenchEvaluator`; `agieval_gen_5c79b4` (open-compass/opencompass @ 659c25b7)
//! reads its single-choice subsets with `first_option_postprocess(options='ABCDE')` and
//! `gaokao-physics`, `jec-qa-kd`, `jec-qa-ca` with `first_capital_postprocess_multi`
//! (its cloze subsets with `AGIEvalEvaluator`, not reproduced), so its reading depends on
//! the subject ([`peer_for`]). lm-evaluation-harness's `ceval-valid` and `cmmlu` are
//! `multiple_choice` tasks: lm-eval reads no generated text for them (its reading is the
//! log-likelihood argmax, Jianzhen's `loglik_echo`), so they have no peer text reading.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// A named peer reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerExtractor {
    /// OpenCompass `first_capital_postprocess`.
    OpencompassFirstCapital,
    /// OpenCompass `first_option_postprocess` with options `ABCD`.
    OpencompassFirstOption,
    /// OpenCompass `first_option_postprocess` with options `ABCDE` (AGIEval).
    OpencompassFirstOptionAbcde,
    /// OpenCompass `first_capital_postprocess_multi` (AGIEval's multi-answer subsets).
    OpencompassFirstCapitalMulti,
    /// OpenCompass / GAOKAO-Bench `GaokaoBenchEvaluator`'s extraction.
    GaokaoBench,
}

impl PeerExtractor {
    pub const ALL: [PeerExtractor; 5] = [
        PeerExtractor::OpencompassFirstCapital,
        PeerExtractor::OpencompassFirstOption,
        PeerExtractor::OpencompassFirstOptionAbcde,
        PeerExtractor::OpencompassFirstCapitalMulti,
        PeerExtractor::GaokaoBench,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PeerExtractor::OpencompassFirstCapital => "opencompass_first_capital",
            PeerExtractor::OpencompassFirstOption => "opencompass_first_option",
            PeerExtractor::OpencompassFirstOptionAbcde => "opencompass_first_option_abcde",
            PeerExtractor::OpencompassFirstCapitalMulti => "opencompass_first_capital_multi",
            PeerExtractor::GaokaoBench => "gaokao_bench",
        }
    }

    /// Where the definition was read, for reports and `--help`.
    pub fn source(self) -> &'static str {
        match self {
            PeerExtractor::OpencompassFirstCapital => {
                "OpenCompass first_capital_postprocess (opencompass/utils/text_postprocessors.py)"
            }
            PeerExtractor::OpencompassFirstOption => {
                "OpenCompass first_option_postprocess, options ABCD (opencompass/utils/text_postprocessors.py)"
            }
            PeerExtractor::OpencompassFirstOptionAbcde => {
                "OpenCompass first_option_postprocess, options ABCDE (opencompass/utils/text_postprocessors.py)"
            }
            PeerExtractor::OpencompassFirstCapitalMulti => {
                "OpenCompass first_capital_postprocess_multi (opencompass/utils/text_postprocessors.py)"
            }
            PeerExtractor::GaokaoBench => {
                "OpenCompass GaokaoBenchEvaluator (opencompass/datasets/GaokaoBench.py)"
            }
        }
    }

    /// The letters this reading takes from `reply` for an item of `shape`; empty when it
    /// finds none (the peer then counts the item wrong).
    pub fn read(self, reply: &str, shape: AnswerShape) -> Vec<String> {
        match (self, shape) {
            (PeerExtractor::OpencompassFirstCapital, _) => {
                first_capital(reply).map(String::from).into_iter().collect()
            }
            (PeerExtractor::OpencompassFirstOption, _) => first_option(reply, "ABCD")
                .map(String::from)
                .into_iter()
                .collect(),
            (PeerExtractor::OpencompassFirstOptionAbcde, _) => first_option(reply, "ABCDE")
                .map(String::from)
                .into_iter()
                .collect(),
            (PeerExtractor::OpencompassFirstCapitalMulti, _) => {
                first_capital_multi(reply).into_iter().collect()
            }
            (PeerExtractor::GaokaoBench, shape) => gaokao_bench(reply, shape),
        }
    }
}

impl fmt::Display for PeerExtractor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PeerExtractor {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        PeerExtractor::ALL
            .into_iter()
            .find(|extractor| extractor.as_str() == name)
            .ok_or_else(|| {
                format!(
                    "unknown extractor `{name}`; known: jianzhen, opencompass (the template's own), {}",
                    PeerExtractor::ALL.map(PeerExtractor::as_str).join(", ")
                )
            })
    }
}

/// The answer reading a run asks for instead of Jianzhen's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerReading {
    /// The reading of the framework the template comes from (`opencompass`), subject by
    /// subject where it depends on the subject (AGIEval).
    Framework,
    /// One peer extractor for every item.
    Named(PeerExtractor),
}

impl AnswerReading {
    /// The extractor for items of `subject` rendered with `template`; `None` where the
    /// framework has no text reading for them (AGIEval's cloze subset).
    pub fn for_subject(self, template: &str, subject: &str) -> Option<PeerExtractor> {
        match self {
            AnswerReading::Named(extractor) => Some(extractor),
            AnswerReading::Framework => peer_for(template, subject),
        }
    }

    /// The name recorded in the manifest: the extractor, or for a framework reading the
    /// template's extractor where it is one, else `opencompass (per subject)`.
    pub fn name(self, template: &str) -> String {
        match self {
            AnswerReading::Named(extractor) => extractor.as_str().to_string(),
            AnswerReading::Framework => peer_for_template(template).map_or_else(
                || "opencompass (per subject)".to_string(),
                |extractor| extractor.as_str().to_string(),
            ),
        }
    }
}

/// Whether the framework `template` comes from reads generated text in a way reproduced
/// here, for some subject at least.
pub fn has_framework_reading(template: &str) -> bool {
    peer_for_template(template).is_some() || template == AGIEVAL_TEMPLATE
}

/// The AGIEval template, whose OpenCompass reading depends on the subset.
const AGIEVAL_TEMPLATE: &str = "agieval_gen_5c79b4";

/// What shape of answer an item takes, as GAOKAO-Bench's question types say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerShape {
    /// One letter.
    Single,
    /// A set of letters written together (`AC`).
    MultiSelect,
    /// One letter for each of this many sub-questions.
    SubQuestions(usize),
    /// Seven-choose-five: five letters among `A`-`G`.
    FiveOutOfSeven,
}

/// The peer reading of the framework a template comes from for items of `subject`, when
/// it has one that reads generated text (AGIEval's depends on the subset).
pub fn peer_for(template: &str, subject: &str) -> Option<PeerExtractor> {
    if template == AGIEVAL_TEMPLATE {
        return match subject {
            "gaokao-physics" | "jec-qa-kd" | "jec-qa-ca" => {
                Some(PeerExtractor::OpencompassFirstCapitalMulti)
            }
            "gaokao-mathcloze" => None,
            _ => Some(PeerExtractor::OpencompassFirstOptionAbcde),
        };
    }
    peer_for_template(template)
}

/// The peer reading of the framework a template comes from, when it has one that reads
/// generated text and it is the same for every subject (not AGIEval's: [`peer_for`]).
pub fn peer_for_template(template: &str) -> Option<PeerExtractor> {
    match template {
        "ceval_gen_5f30c7"
        | "cmmlu_gen_c13365"
        | "clue_c3_gen_8c358f"
        | "clue_ocnli_gen_c4cb6c"
        | "fewclue_tnews_gen_b90e4a"
        | "fewclue_ocnli_fc_gen_f97a97"
        | "fewclue_cluewsc_gen_c68933"
        | "fewclue_csl_gen_28b223"
        | "fewclue_bustm_gen_634f41"
        | "fewclue_eprstmt_gen_740ea0"
        | "fewclue_chid_gen_0a29a2" => Some(PeerExtractor::OpencompassFirstCapital),
        "ceval_zero_shot_gen_bd40ef" => Some(PeerExtractor::OpencompassFirstOption),
        "gaokao_gen_5cfe9e" => Some(PeerExtractor::GaokaoBench),
        _ => None,
    }
}

/// The shape of an item's answer, from its stored gold: a JSON list is one answer per
/// sub-question, several letters a multi-select set, one letter a single choice; `None`
/// for golds that are not letters (spans, numbers, labels, free text).
pub fn shape_of(gold: &str) -> Option<(AnswerShape, Vec<String>)> {
    if let Ok(sets) = serde_json::from_str::<Vec<String>>(gold)
        && gold.starts_with('[')
        && sets.iter().all(|set| is_letters(set))
    {
        return Some((AnswerShape::SubQuestions(sets.len()), sets));
    }
    if !is_letters(gold) {
        return None;
    }
    let shape = if gold.chars().count() == 1 {
        AnswerShape::Single
    } else {
        AnswerShape::MultiSelect
    };
    Some((shape, vec![gold.to_string()]))
}

fn is_letters(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|character| character.is_ascii_uppercase())
}

/// The peer's credit for `read` against `gold`, as its evaluator gives it: answers
/// compared position by position (a list of another length earns nothing), and, for
/// GAOKAO-Bench's multi-select sets only, half credit for a subset of the gold letters
/// (OpenCompass's `AccEvaluator`, used elsewhere, compares whole strings).
pub fn peer_credit(
    extractor: PeerExtractor,
    shape: AnswerShape,
    gold: &[String],
    read: &[String],
) -> f64 {
    if gold.len() != read.len() || gold.is_empty() {
        return 0.0;
    }
    let points: f64 = gold
        .iter()
        .zip(read)
        .map(|(gold, read)| {
            if gold == read {
                1.0
            } else if extractor == PeerExtractor::GaokaoBench
                && shape == AnswerShape::MultiSelect
                && read.chars().all(|letter| gold.contains(letter))
            {
                0.5
            } else {
                0.0
            }
        })
        .sum();
    points / gold.len() as f64
}

/// A peer reading as stored: letters written together, or a JSON list of sub-answers.
pub fn peer_text(shape: AnswerShape, read: &[String]) -> String {
    match shape {
        AnswerShape::SubQuestions(_) | AnswerShape::FiveOutOfSeven => {
            serde_json::Value::from(read.to_vec()).to_string()
        }
        AnswerShape::Single | AnswerShape::MultiSelect => read.join(""),
    }
}

/// `first_capital_postprocess`: the first character that is upper case. Python's
/// `str.isupper()` on one character is true for cased upper-case letters of any script
/// (`Ａ`, `Σ`), as Rust's `char::is_uppercase` is.
fn first_capital(reply: &str) -> Option<char> {
    reply.chars().find(|character| character.is_uppercase())
}

/// `first_capital_postprocess_multi`: the first run of letters `A`-`D`.
fn first_capital_multi(reply: &str) -> Option<String> {
    let start = reply.find(|character: char| ('A'..='D').contains(&character))?;
    let run: String = reply[start..]
        .chars()
        .take_while(|character| ('A'..='D').contains(character))
        .collect();
    Some(run)
}

/// `first_option_postprocess(text, options, cushion=True)`'s patterns, in its order, with
/// `{o}` standing for the option class. Python's `$` also matches before a final `\n`,
/// which `\n?$` reproduces here.
const FIRST_OPTION_PATTERNS: [&str; 43] = [
    r"答案是?\s?([{o}])",
    r"答案是?\s?：([{o}])",
    r"答案是?\s?:([{o}])",
    r"答案应该?是\s?([{o}])",
    r"答案应该?选\s?([{o}])",
    r"答案为\s?([{o}])",
    r"答案选\s?([{o}])",
    r"选择?\s?([{o}])",
    r"只有选?项?\s?([{o}])\s?是?对",
    r"只有选?项?\s?([{o}])\s?是?错",
    r"只有选?项?\s?([{o}])\s?不?正确",
    r"只有选?项?\s?([{o}])\s?错误",
    r"说法不?对选?项?的?是\s?([{o}])",
    r"说法不?正确选?项?的?是\s?([{o}])",
    r"说法错误选?项?的?是\s?([{o}])",
    r"([{o}])\s?是正确的",
    r"([{o}])\s?是正确答案",
    r"选项\s?([{o}])\s?正确",
    r"所以答\s?([{o}])",
    r"1.\s?([{o}])[.。$]?\n?$",
    r"所以\s?([{o}][.。$]?\n?$)",
    r"所有\s?([{o}][.。$]?\n?$)",
    r"[\s，：:,]([{o}])[。，,\.]?\n?$",
    r"[\s，,：:][故即]([{o}])[。\.]?\n?$",
    r"[\s，,：:]因此([{o}])[。\.]?\n?$",
    r"[是为。]\s?([{o}])[。\.]?\n?$",
    r"因此\s?([{o}])[。\.]?\n?$",
    r"显然\s?([{o}])[。\.]?\n?$",
    r"答案是\s?(\S+)(?:。|\n?$)",
    r"答案应该是\s?(\S+)(?:。|\n?$)",
    r"答案为\s?(\S+)(?:。|\n?$)",
    r"[Tt]he answer is ([{o}])",
    r"[Tt]he answer is option ([{o}])",
    r"[Tt]he correct answer is ([{o}])",
    r"[Tt]he correct answer is option ([{o}])",
    r"[Tt]he answer to the question is ([{o}])",
    r"^选项\s?([{o}])",
    r"^([{o}])\s?选?项",
    r"(\s|^)[{o}][\s。，,：:\.$]",
    r"(\s|^)[{o}](\s|$)",
    r"1.\s?(.*?)\n?$",
    // The cushion patterns, which `first_option_postprocess` appends by default.
    r"([{o}]):",
    r"[{o}]",
];

/// The compiled patterns for `options` (`ABCD` or `ABCDE`).
fn first_option_patterns(options: &str) -> &'static [Regex] {
    static ABCD: OnceLock<Vec<Regex>> = OnceLock::new();
    static ABCDE: OnceLock<Vec<Regex>> = OnceLock::new();
    let cell = if options == "ABCDE" { &ABCDE } else { &ABCD };
    cell.get_or_init(|| {
        FIRST_OPTION_PATTERNS
            .iter()
            // Every pattern is a constant checked by the tests; one that failed to
            // compile would only be skipped.
            .filter_map(|pattern| Regex::new(&pattern.replace("{o}", options)).ok())
            .collect()
    })
}

/// `first_option_postprocess`: the first pattern that matches anywhere (`re.search`)
/// gives the first of `options` (in the options' order) that occurs in the whole match.
fn first_option(reply: &str, options: &str) -> Option<char> {
    first_option_patterns(options).iter().find_map(|pattern| {
        let matched = pattern.find(reply)?.as_str();
        options.chars().find(|option| matched.contains(*option))
    })
}

/// `GaokaoBenchEvaluator.do_predictions_postprocess` by question type.
fn gaokao_bench(reply: &str, shape: AnswerShape) -> Vec<String> {
    let letters_in = |text: &str, last: char| -> Vec<char> {
        text.chars()
            .filter(|character| ('A'..=last).contains(character))
            .collect()
    };
    match shape {
        // The last `A`-`D` (the first one of the reversed reply).
        AnswerShape::Single => letters_in(reply, 'D')
            .last()
            .map(|letter| vec![letter.to_string()])
            .unwrap_or_default(),
        AnswerShape::MultiSelect => {
            let content: String = reply.chars().filter(|c| !c.is_whitespace()).collect();
            // `content.find('【答案】') > 0`: a marker at the very start does not count,
            // as in the published code.
            let tail = match content.find("【答案】") {
                Some(index) if index > 0 => content[index..].to_string(),
                _ => {
                    let characters: Vec<char> = content.chars().collect();
                    let start = characters.len().saturating_sub(10);
                    characters[start..].iter().collect()
                }
            };
            let answer: String = letters_in(&tail, 'D').into_iter().collect();
            if answer.is_empty() {
                Vec::new()
            } else {
                vec![answer]
            }
        }
        AnswerShape::SubQuestions(count) => {
            static MARKED: OnceLock<Option<Regex>> = OnceLock::new();
            let marked = MARKED
                .get_or_init(|| Regex::new(r"【答案】\s*[:：]*\s*([A-Z])").ok())
                .as_ref();
            let after_markers: Vec<String> = marked
                .map(|pattern| {
                    pattern
                        .captures_iter(reply)
                        .filter_map(|captures| captures.get(1))
                        .map(|letter| letter.as_str().to_string())
                        .collect()
                })
                .unwrap_or_default();
            if after_markers.len() == count {
                after_markers
            } else {
                letters_in(reply, 'Z')
                    .into_iter()
                    .take(count)
                    .map(String::from)
                    .collect()
            }
        }
        AnswerShape::FiveOutOfSeven => letters_in(reply, 'G')
            .into_iter()
            .take(5)
            .map(String::from)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_capital_is_the_first_upper_case_character() {
        let read =
            |reply: &str| PeerExtractor::OpencompassFirstCapital.read(reply, AnswerShape::Single);
        // Cases from the issue's measurement on the README demo's replies.
        assert_eq!(
            read("DNS（域名解析系统）是将域名转换为IP地址的系统。"),
            ["D"]
        );
        assert_eq!(read("最终答案是C. 24.5 L"), ["C"]);
        assert_eq!(read("My answer is B"), ["M"]);
        assert_eq!(read("答案：b"), Vec::<String>::new());
        // Python's isupper() holds for full-width and Greek capitals too.
        assert_eq!(read("选Ｂ"), ["Ｂ"]);
        assert_eq!(read("Σ"), ["Σ"]);
    }

    #[test]
    fn first_option_follows_the_pattern_order() {
        let read =
            |reply: &str| PeerExtractor::OpencompassFirstOption.read(reply, AnswerShape::Single);
        for pattern in FIRST_OPTION_PATTERNS {
            assert!(
                Regex::new(&pattern.replace("{o}", "ABCD")).is_ok(),
                "{pattern} compiles"
            );
        }
        assert_eq!(
            first_option_patterns("ABCD").len(),
            FIRST_OPTION_PATTERNS.len()
        );
        assert_eq!(
            first_option_patterns("ABCDE").len(),
            FIRST_OPTION_PATTERNS.len()
        );
        // AGIEval's five options: E is an answer there, not with ABCD.
        assert_eq!(
            PeerExtractor::OpencompassFirstOptionAbcde.read("答案是E", AnswerShape::Single),
            ["E"]
        );
        assert_eq!(read("答案是E"), Vec::<String>::new());
        // `答案是?\s?([ABCD])` comes first, so the answer wins over earlier letters.
        assert_eq!(read("A和B都不对，答案是C"), ["C"]);
        assert_eq!(read("答案应该选 D"), ["D"]);
        assert_eq!(read("我认为只有选项B是对的"), ["B"]);
        assert_eq!(read("The correct answer is option A"), ["A"]);
        // `选择?\s?([ABCD])` comes before the patterns that look at the end of the reply.
        assert_eq!(read("综上所述答案是：选D和A"), ["D"]);
        // `答案为\s?(\S+)(?:。|$)` takes a run of text; the first option letter inside it
        // in ABCD order counts, not the first in the text.
        assert_eq!(read("综上，答案为：D或A。"), ["A"]);
        // No pattern but the cushion `[ABCD]` matches: the first letter anywhere.
        assert_eq!(read("DNS（域名解析系统）"), ["D"]);
        assert_eq!(read("无法判断"), Vec::<String>::new());
        // Lower-case letters are not options.
        assert_eq!(read("答案是b"), Vec::<String>::new());
    }

    #[test]
    fn gaokao_bench_reads_each_question_type_as_its_evaluator() {
        let read = |reply: &str, shape| PeerExtractor::GaokaoBench.read(reply, shape);
        // Single choice: the last A-D, wherever it is.
        assert_eq!(
            read(
                "【解析】A错误，B正确。<eoe>\n【答案】B <eoa>",
                AnswerShape::Single
            ),
            ["B"]
        );
        assert_eq!(read("选B，因为C项不对", AnswerShape::Single), ["C"]);
        // Multi-select: letters after 【答案】, whitespace removed.
        assert_eq!(
            read(
                "【解析】A对D错 <eoe>\n【答案】 A C <eoa>",
                AnswerShape::MultiSelect
            ),
            ["AC"]
        );
        // A reply that starts with 【答案】 falls back to its last 10 characters.
        assert_eq!(
            read(
                "【答案】AB，解析很长很长很长很长的一段话D",
                AnswerShape::MultiSelect
            ),
            ["D"]
        );
        // Sub-questions: one letter after each 【答案】 when the count matches …
        assert_eq!(
            read(
                "【答案】B <eoa> 【答案】：C <eoa>",
                AnswerShape::SubQuestions(2)
            ),
            ["B", "C"]
        );
        // … else the first capital letters, at most as many as sub-questions.
        assert_eq!(
            read("I think B then C then D", AnswerShape::SubQuestions(2)),
            ["I", "B"]
        );
        assert_eq!(
            read("答案：ABCDEFG", AnswerShape::FiveOutOfSeven),
            ["A", "B", "C", "D", "E"]
        );
    }

    #[test]
    fn names_parse_and_templates_map_to_their_framework_s_reading() {
        for extractor in PeerExtractor::ALL {
            assert_eq!(extractor.as_str().parse::<PeerExtractor>(), Ok(extractor));
        }
        assert!("nope".parse::<PeerExtractor>().is_err());
        assert_eq!(
            peer_for_template("ceval_gen_5f30c7"),
            Some(PeerExtractor::OpencompassFirstCapital)
        );
        assert_eq!(
            peer_for_template("ceval_zero_shot_gen_bd40ef"),
            Some(PeerExtractor::OpencompassFirstOption)
        );
        assert_eq!(peer_for_template("lmeval_cmmlu"), None);
        assert_eq!(
            peer_for_template("fewclue_bustm_gen_634f41"),
            Some(PeerExtractor::OpencompassFirstCapital)
        );
        // iflytek and csldcp are Jianzhen's own templates, answered by label name.
        assert_eq!(peer_for_template("jianzhen_iflytek_labels_v1"), None);
        assert_eq!(
            peer_for("agieval_gen_5c79b4", "jec-qa-kd"),
            Some(PeerExtractor::OpencompassFirstCapitalMulti)
        );
        assert_eq!(
            peer_for("agieval_gen_5c79b4", "logiqa-zh"),
            Some(PeerExtractor::OpencompassFirstOptionAbcde)
        );
        assert_eq!(peer_for("agieval_gen_5c79b4", "gaokao-mathcloze"), None);
        assert_eq!(peer_for_template("agieval_gen_5c79b4"), None);
        // `opencompass` reads AGIEval subset by subset.
        assert!(has_framework_reading("agieval_gen_5c79b4"));
        assert!(!has_framework_reading("lmeval_cmmlu"));
        let framework = AnswerReading::Framework;
        assert_eq!(
            framework.for_subject("agieval_gen_5c79b4", "jec-qa-ca"),
            Some(PeerExtractor::OpencompassFirstCapitalMulti)
        );
        assert_eq!(
            framework.name("agieval_gen_5c79b4"),
            "opencompass (per subject)"
        );
        assert_eq!(
            framework.name("ceval_gen_5f30c7"),
            "opencompass_first_capital"
        );
        let named = AnswerReading::Named(PeerExtractor::GaokaoBench);
        assert_eq!(
            named.for_subject("ceval_gen_5f30c7", "law"),
            Some(PeerExtractor::GaokaoBench)
        );
    }

    #[test]
    fn first_capital_multi_is_the_first_run_of_a_to_d() {
        let read = |reply: &str| {
            PeerExtractor::OpencompassFirstCapitalMulti.read(reply, AnswerShape::MultiSelect)
        };
        assert_eq!(read("答案是：ACD，因为B错"), ["ACD"]);
        // `[A-D]+` takes the run it finds first, even inside a word.
        assert_eq!(read("DNS"), ["D"]);
        assert_eq!(read("选EF"), Vec::<String>::new());
    }
}
