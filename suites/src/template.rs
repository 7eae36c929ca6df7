//! Prompt templates reproduced byte for byte from OpenCompass and lm-evaluation-harness,
//! rendered as chat messages (generation and first-token scoring) and, for templates that
//! score each option, as one text per option (log-likelihood scoring).
//!
//! # Sources read
//! Each template's own doc comment in `TEMPLATES` names its config file and commit; the
//! same text is in [`TemplateInfo::source`]. The machinery around them:
//! - OpenCompass: `opencompass/openicl/icl_prompt_template.py` (commit 7858334b),
//!   `opencompass/openicl/icl_retriever/icl_base_retriever.py` (commit 0d9738c7:
//!   `generate_ice`, `generate_label_prompt`), `opencompass/utils/prompt.py` (commits
//!   119bfd15 and 3ce9b0a4, same text: `safe_format`, `PromptList`),
//!   `opencompass/openicl/icl_inferencer/icl_ppl_inferencer.py` (commit 2074493a),
//!   `LMTemplateParser` in `opencompass/models/base.py` (commit 014fb105) and
//!   `APITemplateParser` in `opencompass/models/base_api.py` (commit 14540630), with the
//!   usual API meta template `round=[HUMAN, BOT(generate=True)]`; the OpenAI model class
//!   then maps HUMAN → `user` and BOT → `assistant`.
//! - lm-evaluation-harness: `fewshot_context` and `append_target_question` in
//!   `lm_eval/api/task.py` (commit 44406dc3) and `ContextSampler`/`FirstNSampler` in
//!   `lm_eval/api/samplers.py` (commit 00048838).
//!
//! # OpenCompass templates as chat messages (`render_chat`)
//! 1. The few-shot configs have only an `ice_template` whose `begin` is the `</E>` ice
//!    token and whose round is HUMAN (question) then BOT (answer). `FixKRetriever` with
//!    `fix_id_list=[0, 1, 2, 3, 4]` takes the first five rows of the subject's dev split
//!    as in-context examples (see [`fixed_shots`]).
//! 2. Each example is the round with its own fields substituted, so it becomes a
//!    `user` turn and an `assistant` turn holding the BOT text (C-Eval: the letter; CMMLU:
//!    `答案是: ` and the letter).
//! 3. The evaluated item is the same round with `answer` set to `''`. Because BOT is the
//!    generating role, the API template parser stops before it: the last message is the
//!    `user` turn, and CMMLU's `答案是: ` prefix of the final BOT turn is *not* sent to chat
//!    models (it only reaches base models, as a string continuation).
//! 4. Substitution is OpenCompass's `safe_format`: `str.replace('{key}', value)` for each
//!    column in the dataset's column order (C-Eval: `id, question, A, B, C, D, answer,
//!    explanation`; CMMLU: `question, A, B, C, D, answer`). It is sequential, so a literal
//!    `{A}` inside a question (LaTeX such as `\bar{A}` occurs in the real data) is replaced
//!    by option A's text. We reproduce this quirk on purpose, since the goal is prompts
//!    identical to OpenCompass's; the examples are then formatted a second time with the
//!    evaluated item's fields, as OpenCompass formats the whole prompt list after inserting
//!    them.
//! 5. Line endings inside cells are `\n` (the loader normalises them as Python's
//!    universal-newline mode does) and cell text is not trimmed.
//! 6. The zero-shot configs (`ZeroRetriever`) render the same way with no examples.
//!    `cmmlu_0shot_cot_gen_305931` has a `prompt_template` and no `ice_template`, so
//!    OpenCompass cannot give it examples at all; asking for shots is an error here too.
//!
//! # OpenCompass PPL templates as texts to score ([`render_choice_continuations`])
//! The PPL configs key the ice template by label (`A`..`D`), and `PPLInferencer` scores
//! one full text per label. For a base model (no meta template) `LMTemplateParser` joins
//! every non-empty piece of the prompt list with `\n`; the pieces are, per example, its
//! HUMAN and BOT prompts and the `ice_separator` `\n`, then the `ice_eos_token` `\n`, then
//! the evaluated HUMAN prompt and the label's BOT prompt. So two examples give
//! `H1\nB1\n\n\nH2\nB2\n\n\n\n\nH\nB`, and zero examples (where the ice is the bare
//! string `\n`) give `\n\nH\nB`. OpenCompass ranks options by the mean token loss of the
//! whole text; the prefix is the same for every option, so when the options' continuations
//! have the same token count (they do: one letter, or `答案是: ` and one letter) ranking by
//! the summed log-probability of the continuation alone, as `LoglikEcho` does, picks the
//! same option.
//!
//! One deliberate difference: `generate_label_prompt_item` formats the evaluated row with
//! its real `answer`, so a question containing a literal `{answer}` would have the gold
//! letter written into the prompt. We blank `answer` as the generation path does, so the
//! prompts never depend on the gold answer (the item key hashes the prompt).
//!
//! # lm-evaluation-harness templates
//! `ceval-valid` and `cmmlu` are `output_type: multiple_choice` tasks. Without a chat
//! template the context is `description + examples + doc_to_text(doc)`, each example being
//! `doc_to_text + target_delimiter (" ") + letter + fewshot_delimiter ("\n\n")`, and each
//! option is scored as the continuation `" A"`, `" B"`, ... after the context: note the
//! full-width `答案：` with no trailing space, and the space on the target instead, where
//! OpenCompass writes the half-width `答案: ` with a trailing space.
//!
//! As chat messages we follow `--apply_chat_template` with `--fewshot_as_multiturn` off:
//! `fewshot_context` puts the task description in a `system` message, and the examples and
//! the question together in one `user` message (`get_chat_context` makes the examples one
//! user turn and `append_target_question` appends the question to it). In that mode
//! lm-eval drops the target delimiter, so a chat model's first reply token is compared
//! with the bare letters.
//!
//! `doc_to_text` is Jinja; the two expressions these templates use, `{{field}}` and
//! `{{field.strip()}}`, are implemented here (Python's `str.strip()`, which also strips
//! the separators U+001C..U+001F that Rust's `trim` keeps). Jinja substitutes once, so the
//! `{A}` quirk of OpenCompass does not exist in lm-eval prompts.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::SuiteError;
use crate::item::{McItem, SuiteName};

/// One chat turn as sent to an OpenAI-compatible endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    fn new(role: &str, content: String) -> ChatMessage {
        ChatMessage {
            role: role.to_string(),
            content,
        }
    }
}

/// How the answers to a template's prompts are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoringMode {
    /// Chat completion, then answer extraction from the reply.
    Gen,
    /// Completions with `echo` and `logprobs`: the summed log-probability of each option's
    /// continuation after the shared prefix (lm-eval `multiple_choice`, OpenCompass PPL).
    /// Use [`render_choice_continuations`].
    LoglikEcho,
    /// The `top_logprobs` of the first generated token, compared across the option letters.
    /// Works on chat endpoints ([`render_chat`]) and on completions endpoints
    /// ([`ChoicePrompts::first_token_prompt`]); needed where `echo` log-probabilities are
    /// wrong (llama.cpp's Python server).
    LoglikFirstToken,
}

impl ScoringMode {
    pub const ALL: [ScoringMode; 3] = [
        ScoringMode::Gen,
        ScoringMode::LoglikEcho,
        ScoringMode::LoglikFirstToken,
    ];

    /// The name used in specs, manifests and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ScoringMode::Gen => "gen",
            ScoringMode::LoglikEcho => "loglik_echo",
            ScoringMode::LoglikFirstToken => "loglik_first_token",
        }
    }

    /// The mode a run spec names exactly (`loglik_echo`, not `loglik-echo`), if any. Run
    /// specs and the planner read the mode through this one function, so a new mode is
    /// found by the compiler in `as_str`, not in string lists elsewhere.
    pub fn from_name(name: &str) -> Option<ScoringMode> {
        ScoringMode::ALL
            .into_iter()
            .find(|mode| mode.as_str() == name)
    }

    /// The names of every mode, for messages: "`gen`, `loglik_echo` or `loglik_first_token`".
    pub fn names_for_message() -> String {
        let names: Vec<String> = ScoringMode::ALL
            .iter()
            .map(|mode| format!("`{}`", mode.as_str()))
            .collect();
        match names.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

impl fmt::Display for ScoringMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ScoringMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ScoringMode::ALL
            .into_iter()
            .find(|mode| mode.as_str() == text.replace('-', "_"))
            .ok_or_else(|| {
                format!(
                    "unknown scoring mode `{text}`; known: gen, loglik_echo, loglik_first_token"
                )
            })
    }
}

/// A template the user can name on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TemplateInfo {
    pub name: &'static str,
    pub suite: SuiteName,
    pub description: &'static str,
    /// Few-shot examples the source framework uses with this template by default
    /// (OpenCompass: the `fix_id_list` length; lm-eval: 0 unless `--num_fewshot`).
    pub default_shots: usize,
    /// The mode the source framework scores this template with.
    pub native_mode: ScoringMode,
    /// Every mode the template can be scored with, the native one first. A mode is listed
    /// only where the prompt leads the model straight to a letter (chain-of-thought
    /// prompts are `gen` only; CMMLU's OpenCompass chat prompts teach `答案是: X`, so their
    /// first token is not the letter).
    pub scoring_modes: &'static [ScoringMode],
    /// Where the text was read: repository, file and commit.
    pub source: &'static str,
}

impl TemplateInfo {
    /// Whether prompts of this template can be scored in `mode`.
    pub fn supports(&self, mode: ScoringMode) -> bool {
        self.scoring_modes.contains(&mode)
    }
}

/// The literal text of one template. Everything that shapes the prompt lives here, so
/// [`template_hash`] covers it.
struct TemplateText {
    info: TemplateInfo,
    shape: Shape,
}

/// The ways the published templates are built.
enum Shape {
    /// An OpenCompass `ice_template` of `begin='</E>'` and a HUMAN/BOT round.
    OpenCompassRound(OpenCompassRound),
    /// An OpenCompass `prompt_template` with one HUMAN round and no ice template.
    OpenCompassSingleTurn(OpenCompassSingleTurn),
    /// An lm-evaluation-harness `multiple_choice` task.
    LmEval(LmEvalTask),
}

struct OpenCompassRound {
    /// HUMAN prompt up to the subject's Chinese name (inserted by the config's f-string).
    human_before_subject: &'static str,
    /// HUMAN prompt after the subject's Chinese name, with `{field}` placeholders.
    human_after_subject: &'static str,
    /// BOT prompt, with `{answer}` (gen: filled from the row; PPL: the label, which the
    /// config's comprehension writes in when it builds one template per label).
    bot: &'static str,
    /// Column order of the dataset rows, which is the order `safe_format` substitutes in.
    substitution_order: &'static [&'static str],
    /// PPL: the template is a dict keyed by the labels A-D, scored by `PPLInferencer`;
    /// otherwise a single meta template for `GenInferencer`.
    per_label: bool,
}

struct OpenCompassSingleTurn {
    human_before_subject: &'static str,
    human_after_subject: &'static str,
    substitution_order: &'static [&'static str],
}

struct LmEvalTask {
    /// The per-subject `description` up to the subject's Chinese name.
    description_before_subject: &'static str,
    description_after_subject: &'static str,
    /// `doc_to_text`, verbatim (YAML escapes decoded).
    doc_to_text: &'static str,
    /// `doc_to_choice`.
    choices: &'static [&'static str],
    /// `target_delimiter` (lm-eval's default, not set in these task files).
    target_delimiter: &'static str,
    /// `fewshot_delimiter` (lm-eval's default, not set in these task files).
    fewshot_delimiter: &'static str,
}

/// Bumped when the way pieces are assembled changes (not the text itself, which the hash
/// already covers), so old results are not mistaken for new ones. The hashes of the two
/// original gen templates are computed exactly as before this registry grew, so results
/// recorded with them stay comparable.
const RENDERING_VERSION: &str = "opencompass-api-chat-v1";
const PPL_RENDERING_VERSION: &str = "opencompass-ppl-v1";
const SINGLE_TURN_RENDERING_VERSION: &str = "opencompass-single-turn-v1";
const LM_EVAL_RENDERING_VERSION: &str = "lm-eval-multiple-choice-v1";

const CEVAL_COLUMNS: &[&str] = &[
    "id",
    "question",
    "A",
    "B",
    "C",
    "D",
    "answer",
    "explanation",
];
const CMMLU_COLUMNS: &[&str] = &["question", "A", "B", "C", "D", "answer"];

const GEN_AND_FIRST_TOKEN: &[ScoringMode] = &[ScoringMode::Gen, ScoringMode::LoglikFirstToken];
const GEN_ONLY: &[ScoringMode] = &[ScoringMode::Gen];
const LOGLIK: &[ScoringMode] = &[ScoringMode::LoglikEcho, ScoringMode::LoglikFirstToken];
const LOGLIK_AND_GEN: &[ScoringMode] = &[
    ScoringMode::LoglikEcho,
    ScoringMode::LoglikFirstToken,
    ScoringMode::Gen,
];

/// Every template, in the order `templates()` lists them.
static TEMPLATES: [TemplateText; 8] = [
    // open-compass/opencompass `opencompass/configs/datasets/ceval/ceval_gen_5f30c7.py`
    // (commit 623d8dcf, same text at abaf0b45).
    TemplateText {
        info: TemplateInfo {
            name: "ceval_gen_5f30c7",
            suite: SuiteName::Ceval,
            description: "OpenCompass C-Eval gen prompt: 以下是中国关于{科目}考试的单项选择题… \
                          答案: , five fixed dev examples as earlier chat turns",
            default_shots: 5,
            native_mode: ScoringMode::Gen,
            scoring_modes: GEN_AND_FIRST_TOKEN,
            source: "open-compass/opencompass opencompass/configs/datasets/ceval/ceval_gen_5f30c7.py @ 623d8dcf",
        },
        shape: Shape::OpenCompassRound(OpenCompassRound {
            human_before_subject: "以下是中国关于",
            human_after_subject: "考试的单项选择题，请选出其中的正确答案。\n{question}\nA. {A}\nB. {B}\nC. {C}\nD. {D}\n答案: ",
            bot: "{answer}",
            substitution_order: CEVAL_COLUMNS,
            per_label: false,
        }),
    },
    // open-compass/opencompass `configs/datasets/cmmlu/cmmlu_gen_c13365.py` (commit
    // b2e2a334; the text is the same at 0b1ca398, where `fix_id_list` sat on the
    // inferencer instead of the retriever).
    TemplateText {
        info: TemplateInfo {
            name: "cmmlu_gen_c13365",
            suite: SuiteName::Cmmlu,
            description: "OpenCompass CMMLU gen prompt: 以下是关于{科目}的单项选择题… 题目：, \
                          examples answered 答案是: X, five fixed dev examples as earlier chat turns",
            default_shots: 5,
            native_mode: ScoringMode::Gen,
            scoring_modes: GEN_ONLY,
            source: "open-compass/opencompass configs/datasets/cmmlu/cmmlu_gen_c13365.py @ b2e2a334",
        },
        shape: Shape::OpenCompassRound(OpenCompassRound {
            human_before_subject: "以下是关于",
            human_after_subject: "的单项选择题，请直接给出正确答案的选项。\n题目：{question}\nA. {A}\nB. {B}\nC. {C}\nD. {D}",
            bot: "答案是: {answer}",
            substitution_order: CMMLU_COLUMNS,
            per_label: false,
        }),
    },
    // open-compass/opencompass `opencompass/configs/datasets/ceval/ceval_ppl_578f8d.py`
    // (commit 3ce9b0a4): the same HUMAN text as ceval_gen_5f30c7, one template per label
    // with BOT `prompt=answer` (the bare letter), FixKRetriever [0..4], PPLInferencer,
    // test split `val`.
    TemplateText {
        info: TemplateInfo {
            name: "ceval_ppl_578f8d",
            suite: SuiteName::Ceval,
            description: "OpenCompass C-Eval PPL prompt: the ceval_gen_5f30c7 question, each \
                          option scored as the continuation `A`..`D`, five fixed dev examples",
            default_shots: 5,
            native_mode: ScoringMode::LoglikEcho,
            scoring_modes: LOGLIK,
            source: "open-compass/opencompass opencompass/configs/datasets/ceval/ceval_ppl_578f8d.py @ 3ce9b0a4",
        },
        shape: Shape::OpenCompassRound(OpenCompassRound {
            human_before_subject: "以下是中国关于",
            human_after_subject: "考试的单项选择题，请选出其中的正确答案。\n{question}\nA. {A}\nB. {B}\nC. {C}\nD. {D}\n答案: ",
            bot: "{answer}",
            substitution_order: CEVAL_COLUMNS,
            per_label: true,
        }),
    },
    // open-compass/opencompass
    // `opencompass/configs/datasets/ceval/ceval_zero_shot_gen_bd40ef.py` (commit
    // fb45d301): ZeroRetriever, GenInferencer(max_out_len=256), first_option_postprocess;
    // the HUMAN text ends `让我们一步一步思考。答案: `.
    TemplateText {
        info: TemplateInfo {
            name: "ceval_zero_shot_gen_bd40ef",
            suite: SuiteName::Ceval,
            description: "OpenCompass C-Eval zero-shot gen prompt: …让我们一步一步思考。答案: , \
                          no examples (max_out_len 256 in OpenCompass)",
            default_shots: 0,
            native_mode: ScoringMode::Gen,
            scoring_modes: GEN_ONLY,
            source: "open-compass/opencompass opencompass/configs/datasets/ceval/ceval_zero_shot_gen_bd40ef.py @ fb45d301",
        },
        shape: Shape::OpenCompassRound(OpenCompassRound {
            human_before_subject: "以下是中国关于",
            human_after_subject: "考试的单项选择题，请选出其中的正确答案。\n{question}\nA. {A}\nB. {B}\nC. {C}\nD. {D}\n让我们一步一步思考。答案: ",
            bot: "{answer}",
            substitution_order: CEVAL_COLUMNS,
            per_label: false,
        }),
    },
    // open-compass/opencompass `opencompass/configs/datasets/cmmlu/cmmlu_ppl_8b9c76.py`
    // (commit 3ce9b0a4): the cmmlu_gen_c13365 HUMAN text, one template per label with BOT
    // f'答案是: {answer}', FixKRetriever [0..4], PPLInferencer.
    TemplateText {
        info: TemplateInfo {
            name: "cmmlu_ppl_8b9c76",
            suite: SuiteName::Cmmlu,
            description: "OpenCompass CMMLU PPL prompt: the cmmlu_gen_c13365 question, each \
                          option scored as the continuation `答案是: A`..`D`, five fixed dev examples",
            default_shots: 5,
            native_mode: ScoringMode::LoglikEcho,
            scoring_modes: LOGLIK,
            source: "open-compass/opencompass opencompass/configs/datasets/cmmlu/cmmlu_ppl_8b9c76.py @ 3ce9b0a4",
        },
        shape: Shape::OpenCompassRound(OpenCompassRound {
            human_before_subject: "以下是关于",
            human_after_subject: "的单项选择题，请直接给出正确答案的选项。\n题目：{question}\nA. {A}\nB. {B}\nC. {C}\nD. {D}",
            bot: "答案是: {answer}",
            substitution_order: CMMLU_COLUMNS,
            per_label: true,
        }),
    },
    // open-compass/opencompass `configs/datasets/cmmlu/cmmlu_0shot_cot_gen_305931.py`
    // (commit f31297d3): prompt_prefix f'请回答以下关于{_ch_name}的单项选择题, ' plus
    // QUERY_TEMPLATE.strip(), a single HUMAN round, ZeroRetriever, GenInferencer,
    // match_answer_pattern r'(?i)答案\s*:\s*[\W]*([A-D])[\W]*'.
    TemplateText {
        info: TemplateInfo {
            name: "cmmlu_0shot_cot_gen_305931",
            suite: SuiteName::Cmmlu,
            description: "OpenCompass CMMLU zero-shot chain-of-thought prompt: 请回答以下关于{科目}的\
                          单项选择题, … '答案: $选项' …, options as A) …; zero-shot only",
            default_shots: 0,
            native_mode: ScoringMode::Gen,
            scoring_modes: GEN_ONLY,
            source: "open-compass/opencompass configs/datasets/cmmlu/cmmlu_0shot_cot_gen_305931.py @ f31297d3",
        },
        shape: Shape::OpenCompassSingleTurn(OpenCompassSingleTurn {
            human_before_subject: "请回答以下关于",
            human_after_subject: "的单项选择题, 你回答的最后一行**必须**是以下格式 '答案: $选项' (不带引号), 其中选项是ABCD之一. 请在回答之前一步步思考.\n\n{question}\n\nA) {A}\nB) {B}\nC) {C}\nD) {D}",
            substitution_order: CMMLU_COLUMNS,
        }),
    },
    // EleutherAI/lm-evaluation-harness `lm_eval/tasks/ceval/_default_ceval_yaml` (commit
    // 517aadc4): validation_split val, fewshot_split dev, sampler first_n, doc_to_text
    // "{{question.strip()}}\nA. {{A}}\nB. {{B}}\nC. {{C}}\nD. {{D}}\n答案：", doc_to_choice
    // [A, B, C, D]. The per-subject `ceval-valid_{subject}.yaml` files are generated by
    // `lm_eval/tasks/ceval/_generate_configs.py` (commit 2041dc34) with description
    // f"以下是中国关于{subject_zh}的单项选择题，请选出其中的正确答案。\n\n" (no 考试, unlike
    // OpenCompass); the generated files themselves are not in the index we could read.
    TemplateText {
        info: TemplateInfo {
            name: "lmeval_ceval_valid",
            suite: SuiteName::Ceval,
            description: "lm-evaluation-harness ceval-valid: description 以下是中国关于{科目}的单项\
                          选择题…\\n\\n, question ending 答案：, options scored as ` A`..` D`",
            default_shots: 0,
            native_mode: ScoringMode::LoglikEcho,
            scoring_modes: LOGLIK_AND_GEN,
            source: "EleutherAI/lm-evaluation-harness lm_eval/tasks/ceval/_default_ceval_yaml @ 517aadc4 + _generate_configs.py @ 2041dc34",
        },
        shape: Shape::LmEval(LmEvalTask {
            description_before_subject: "以下是中国关于",
            description_after_subject: "的单项选择题，请选出其中的正确答案。\n\n",
            doc_to_text: "{{question.strip()}}\nA. {{A}}\nB. {{B}}\nC. {{C}}\nD. {{D}}\n答案：",
            choices: &["A", "B", "C", "D"],
            target_delimiter: " ",
            fewshot_delimiter: "\n\n",
        }),
    },
    // EleutherAI/lm-evaluation-harness `lm_eval/tasks/cmmlu/_default_template_yaml`
    // (commit 0d03a9f3): test_split test, fewshot_split dev, sampler first_n, doc_to_text
    // "{{Question.strip()}}\nA. {{A}}\nB. {{B}}\nC. {{C}}\nD. {{D}}\n答案：". Per-subject
    // description from `lm_eval/tasks/cmmlu/_generate_configs.py` (commit 5c58524d):
    // f"以下是关于{subject_zh}的单项选择题，请直接给出正确答案的选项。\n\n".
    TemplateText {
        info: TemplateInfo {
            name: "lmeval_cmmlu",
            suite: SuiteName::Cmmlu,
            description: "lm-evaluation-harness cmmlu: description 以下是关于{科目}的单项选择题…\
                          \\n\\n, question ending 答案：, options scored as ` A`..` D`",
            default_shots: 0,
            native_mode: ScoringMode::LoglikEcho,
            scoring_modes: LOGLIK_AND_GEN,
            source: "EleutherAI/lm-evaluation-harness lm_eval/tasks/cmmlu/_default_template_yaml @ 0d03a9f3 + _generate_configs.py @ 5c58524d",
        },
        shape: Shape::LmEval(LmEvalTask {
            description_before_subject: "以下是关于",
            description_after_subject: "的单项选择题，请直接给出正确答案的选项。\n\n",
            doc_to_text: "{{Question.strip()}}\nA. {{A}}\nB. {{B}}\nC. {{C}}\nD. {{D}}\n答案：",
            choices: &["A", "B", "C", "D"],
            target_delimiter: " ",
            fewshot_delimiter: "\n\n",
        }),
    },
];

fn template_text(name: &str) -> Result<&'static TemplateText, SuiteError> {
    TEMPLATES
        .iter()
        .find(|template| template.info.name == name)
        .ok_or_else(|| SuiteError::UnknownTemplate {
            name: name.to_string(),
        })
}

/// Names of every known template, comma-separated, for error messages.
pub(crate) fn known_template_names() -> String {
    TEMPLATES
        .iter()
        .map(|template| template.info.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Metadata of the template called `name`.
///
/// # Errors
/// [`SuiteError::UnknownTemplate`] for a name this crate does not know.
pub fn template_info(name: &str) -> Result<&'static TemplateInfo, SuiteError> {
    template_text(name).map(|template| &template.info)
}

/// Every known template.
pub fn templates() -> impl Iterator<Item = &'static TemplateInfo> {
    TEMPLATES.iter().map(|template| &template.info)
}

/// Whether the template can render few-shot examples: false for configs without an
/// in-context template (`cmmlu_0shot_cot_gen_305931`) and for unknown names.
pub fn takes_shots(name: &str) -> bool {
    template_text(name)
        .is_ok_and(|template| !matches!(template.shape, Shape::OpenCompassSingleTurn(_)))
}

/// The template used when the user names none.
pub fn default_template(suite: SuiteName) -> &'static str {
    match suite {
        SuiteName::Ceval => "ceval_gen_5f30c7",
        SuiteName::Cmmlu => "cmmlu_gen_c13365",
    }
}

/// First 16 hex digits of a sha256 over every literal piece of the template, so any change
/// to the text (or to how it is assembled) changes the hash recorded with results.
///
/// # Errors
/// [`SuiteError::UnknownTemplate`] for a name this crate does not know.
pub fn template_hash(name: &str) -> Result<String, SuiteError> {
    let template = template_text(name)?;
    let info = &template.info;
    let default_shots = info.default_shots.to_string();
    let mut pieces: Vec<Cow<'static, str>> = Vec::new();
    match &template.shape {
        Shape::OpenCompassRound(round) => {
            let version = if round.per_label {
                PPL_RENDERING_VERSION
            } else {
                RENDERING_VERSION
            };
            pieces.extend([
                Cow::Borrowed(version),
                Cow::Borrowed(info.name),
                Cow::Borrowed(info.suite.as_str()),
                Cow::Borrowed(round.human_before_subject),
                Cow::Borrowed(round.human_after_subject),
                Cow::Borrowed(round.bot),
                Cow::Owned(round.substitution_order.join(",")),
                Cow::Owned(default_shots),
            ]);
            if round.per_label {
                // The constants of OpenCompass's PPL assembly, so a change to how we
                // reproduce it changes these hashes.
                pieces.extend(
                    [
                        "labels=A,B,C,D",
                        "ice_separator=\n",
                        "ice_eos_token=\n",
                        "join=\n",
                    ]
                    .map(Cow::Borrowed),
                );
            }
        }
        Shape::OpenCompassSingleTurn(single) => pieces.extend([
            Cow::Borrowed(SINGLE_TURN_RENDERING_VERSION),
            Cow::Borrowed(info.name),
            Cow::Borrowed(info.suite.as_str()),
            Cow::Borrowed(single.human_before_subject),
            Cow::Borrowed(single.human_after_subject),
            Cow::Owned(single.substitution_order.join(",")),
            Cow::Owned(default_shots),
        ]),
        Shape::LmEval(task) => pieces.extend([
            Cow::Borrowed(LM_EVAL_RENDERING_VERSION),
            Cow::Borrowed(info.name),
            Cow::Borrowed(info.suite.as_str()),
            Cow::Borrowed(task.description_before_subject),
            Cow::Borrowed(task.description_after_subject),
            Cow::Borrowed(task.doc_to_text),
            Cow::Owned(task.choices.join(",")),
            Cow::Borrowed(task.target_delimiter),
            Cow::Borrowed(task.fewshot_delimiter),
            Cow::Owned(default_shots),
        ]),
    }
    let mut hasher = Sha256::new();
    for piece in &pieces {
        // Length-prefix each piece so moving text between pieces changes the hash too.
        hasher.update((piece.len() as u64).to_le_bytes());
        hasher.update(piece.as_bytes());
    }
    let digest = hex::encode(hasher.finalize());
    Ok(digest[..16].to_string())
}

/// The few-shot examples `FixKRetriever(fix_id_list=[0..count])` (and lm-eval's
/// `first_n` sampler) pick: the first `count` dev rows of the subject, in file order.
///
/// # Errors
/// [`SuiteError::NotEnoughShots`] when the pool is smaller than `count`.
pub fn fixed_shots<'pool>(
    subject: &str,
    pool: &'pool [McItem],
    count: usize,
) -> Result<&'pool [McItem], SuiteError> {
    pool.get(..count).ok_or_else(|| SuiteError::NotEnoughShots {
        subject: subject.to_string(),
        wanted: count,
        available: pool.len(),
    })
}

/// Renders `item` with `template_name` as chat messages.
///
/// OpenCompass templates give one `user`/`assistant` pair per shot, then the item as the
/// final `user` turn. lm-eval templates give a `system` turn with the task description
/// and one `user` turn holding the examples and the question (see the module docs).
///
/// `subject_chinese_name` is inserted where the config put the subject's Chinese name;
/// take it from [`crate::subjects::subject_info`].
///
/// # Errors
/// [`SuiteError::UnknownTemplate`] for an unknown template; [`SuiteError::Render`] when the
/// item or a shot does not have four options, a shot has no answer, or shots are given to
/// a template that cannot take any.
pub fn render_chat(
    template_name: &str,
    subject_chinese_name: &str,
    item: &McItem,
    shots: &[McItem],
) -> Result<Vec<ChatMessage>, SuiteError> {
    let template = template_text(template_name)?;
    match &template.shape {
        Shape::OpenCompassRound(round) => {
            render_round_chat(template, round, subject_chinese_name, item, shots)
        }
        Shape::OpenCompassSingleTurn(single) => {
            refuse_shots(template, shots)?;
            let human_template = format!(
                "{}{subject_chinese_name}{}",
                single.human_before_subject, single.human_after_subject
            );
            let item_fields = row_fields(template.info.name, single.substitution_order, item, "")?;
            Ok(vec![ChatMessage::new(
                "user",
                safe_format(&human_template, &item_fields),
            )])
        }
        Shape::LmEval(task) => {
            let description = format!(
                "{}{subject_chinese_name}{}",
                task.description_before_subject, task.description_after_subject
            );
            let user = format!(
                "{}{}",
                lm_eval_examples(template, task, shots)?,
                lm_eval_doc_to_text(template, task, item)?
            );
            let mut messages = Vec::with_capacity(2);
            if !description.is_empty() {
                messages.push(ChatMessage::new("system", description));
            }
            messages.push(ChatMessage::new("user", user));
            Ok(messages)
        }
    }
}

/// One option's text to score after [`ChoicePrompts::prefix`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChoiceContinuation {
    /// The option letter this continuation stands for.
    pub letter: char,
    /// The text whose log-probability is summed, e.g. `A`, `答案是: A` or ` A`.
    pub continuation: String,
}

/// What a log-likelihood scorer sends for one item: a prefix shared by every option and
/// one continuation per option. The full text of option `X` is `prefix + continuation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChoicePrompts {
    pub template: String,
    /// Few-shot examples and the question, up to where the options' texts begin. Splitting
    /// here (and not after a shared `答案是: `) keeps whitespace that a tokenizer would join
    /// to the letter on the continuation side.
    pub prefix: String,
    /// One continuation per option, in letter order.
    pub options: Vec<ChoiceContinuation>,
}

impl ChoicePrompts {
    /// The full text scored for `letter`, or `None` for a letter the item does not have.
    pub fn full_text(&self, letter: char) -> Option<String> {
        self.options
            .iter()
            .find(|option| option.letter == letter)
            .map(|option| format!("{}{}", self.prefix, option.continuation))
    }

    /// The completions prompt for [`ScoringMode::LoglikFirstToken`]: the prefix plus the
    /// start every continuation shares (`答案是:`), without trailing whitespace, because
    /// tokenizers usually join a leading space to the letter (` A`). Compare the first
    /// token's candidates with their whitespace trimmed.
    pub fn first_token_prompt(&self) -> String {
        let mut shared: &str = self
            .options
            .first()
            .map_or("", |option| option.continuation.as_str());
        for option in &self.options {
            let common = shared
                .char_indices()
                .zip(option.continuation.chars())
                .take_while(|((_, left), right)| left == right)
                .last()
                .map_or(0, |((index, character), _)| index + character.len_utf8());
            shared = &shared[..common];
        }
        format!("{}{}", self.prefix, shared.trim_end())
    }
}

/// Renders the texts a log-likelihood scorer compares for `item`: the prefix every option
/// shares and each option's continuation, exactly as the template's source framework
/// scores them on a base model (see the module docs for OpenCompass PPL and lm-eval).
///
/// # Errors
/// [`SuiteError::UnknownTemplate`] for an unknown template;
/// [`SuiteError::ScoringModeUnsupported`] for a template that does not score options
/// (the OpenCompass gen templates); [`SuiteError::Render`] as for [`render_chat`].
pub fn render_choice_continuations(
    template_name: &str,
    subject_chinese_name: &str,
    item: &McItem,
    shots: &[McItem],
) -> Result<ChoicePrompts, SuiteError> {
    let template = template_text(template_name)?;
    let unsupported = || SuiteError::ScoringModeUnsupported {
        template: template.info.name.to_string(),
        mode: ScoringMode::LoglikEcho,
        supported: template
            .info
            .scoring_modes
            .iter()
            .map(|mode| mode.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    };
    match &template.shape {
        Shape::OpenCompassRound(round) if round.per_label => {
            render_ppl_texts(template, round, subject_chinese_name, item, shots)
        }
        Shape::OpenCompassRound(_) | Shape::OpenCompassSingleTurn(_) => Err(unsupported()),
        Shape::LmEval(task) => {
            let prefix = format!(
                "{}{subject_chinese_name}{}{}{}",
                task.description_before_subject,
                task.description_after_subject,
                lm_eval_examples(template, task, shots)?,
                lm_eval_doc_to_text(template, task, item)?
            );
            let options = item
                .letters()
                .zip(task.choices)
                .map(|(letter, choice)| ChoiceContinuation {
                    letter,
                    continuation: format!("{}{choice}", task.target_delimiter),
                })
                .collect();
            Ok(ChoicePrompts {
                template: template.info.name.to_string(),
                prefix,
                options,
            })
        }
    }
}

fn refuse_shots(template: &TemplateText, shots: &[McItem]) -> Result<(), SuiteError> {
    match shots.first() {
        None => Ok(()),
        Some(shot) => Err(SuiteError::Render {
            template: template.info.name.to_string(),
            item_id: shot.id.clone(),
            problem: "this template has no in-context example template, so it is zero-shot \
                      only; run it with 0 shots"
                .to_string(),
        }),
    }
}

fn shot_answer(template: &TemplateText, shot: &McItem) -> Result<char, SuiteError> {
    shot.answer.ok_or_else(|| SuiteError::Render {
        template: template.info.name.to_string(),
        item_id: shot.id.clone(),
        problem: "a few-shot example has no answer; take shots from the dev split".to_string(),
    })
}

fn render_round_chat(
    template: &TemplateText,
    round: &OpenCompassRound,
    subject_chinese_name: &str,
    item: &McItem,
    shots: &[McItem],
) -> Result<Vec<ChatMessage>, SuiteError> {
    let human_template = format!(
        "{}{subject_chinese_name}{}",
        round.human_before_subject, round.human_after_subject
    );
    let name = template.info.name;

    // The evaluated item's answer is blanked, as GenInferencer does with
    // `gen_field_replace_token=''`, so the gold letter can never leak into the prompt.
    let item_fields = row_fields(name, round.substitution_order, item, "")?;

    let mut messages = Vec::with_capacity(shots.len() * 2 + 1);
    for shot in shots {
        let answer = shot_answer(template, shot)?.to_string();
        let shot_fields = row_fields(name, round.substitution_order, shot, &answer)?;
        // First pass: the example's own fields (generate_ice_item). Second pass: the
        // evaluated item's fields, because OpenCompass formats the whole prompt list after
        // inserting the examples.
        let user = safe_format(&safe_format(&human_template, &shot_fields), &item_fields);
        let assistant = safe_format(&safe_format(round.bot, &shot_fields), &item_fields);
        messages.push(ChatMessage::new("user", user));
        messages.push(ChatMessage::new("assistant", assistant));
    }
    messages.push(ChatMessage::new(
        "user",
        safe_format(&human_template, &item_fields),
    ));
    Ok(messages)
}

/// OpenCompass PPL texts for a base model: the prompt list's pieces joined the way
/// `LMTemplateParser` does without a meta template (module docs).
fn render_ppl_texts(
    template: &TemplateText,
    round: &OpenCompassRound,
    subject_chinese_name: &str,
    item: &McItem,
    shots: &[McItem],
) -> Result<ChoicePrompts, SuiteError> {
    let human_template = format!(
        "{}{subject_chinese_name}{}",
        round.human_before_subject, round.human_after_subject
    );
    let name = template.info.name;
    let item_fields = row_fields(name, round.substitution_order, item, "")?;

    let mut pieces: Vec<String> = Vec::new();
    if shots.is_empty() {
        // No examples: `generate_ice` returns `ice_separator.join([]) + ice_eos_token`, the
        // string `\n`, which replaces the `</E>` begin.
        pieces.push("\n".to_string());
    } else {
        for shot in shots {
            let answer = shot_answer(template, shot)?.to_string();
            let shot_fields = row_fields(name, round.substitution_order, shot, &answer)?;
            // The example uses the template of its own label, whose BOT is the label.
            let bot = round.bot.replace("{answer}", &answer);
            pieces.push(safe_format(
                &safe_format(&human_template, &shot_fields),
                &item_fields,
            ));
            pieces.push(safe_format(&safe_format(&bot, &shot_fields), &item_fields));
            // ice_separator
            pieces.push("\n".to_string());
        }
        // ice_eos_token
        pieces.push("\n".to_string());
    }
    pieces.push(safe_format(&human_template, &item_fields));

    // `prompt += last_sep + item` for every non-empty piece, `last_sep = '\n'` after the
    // first; the label's BOT prompt follows after one more `\n`.
    let mut prefix = String::new();
    for piece in pieces.iter().filter(|piece| !piece.is_empty()) {
        if !prefix.is_empty() {
            prefix.push('\n');
        }
        prefix.push_str(piece);
    }
    prefix.push('\n');

    let options = item
        .letters()
        .map(|letter| ChoiceContinuation {
            letter,
            continuation: round.bot.replace("{answer}", &letter.to_string()),
        })
        .collect();
    Ok(ChoicePrompts {
        template: name.to_string(),
        prefix,
        options,
    })
}

/// lm-eval's `get_context`: each example's text, the target delimiter, its letter and the
/// few-shot delimiter.
fn lm_eval_examples(
    template: &TemplateText,
    task: &LmEvalTask,
    shots: &[McItem],
) -> Result<String, SuiteError> {
    let mut context = String::new();
    for shot in shots {
        let answer = shot_answer(template, shot)?;
        let choice = task
            .choices
            .iter()
            .find(|choice| choice.starts_with(answer) && choice.len() == answer.len_utf8())
            .ok_or_else(|| SuiteError::Render {
                template: template.info.name.to_string(),
                item_id: shot.id.clone(),
                problem: format!(
                    "answer `{answer}` is not one of the template's choices {}",
                    task.choices.join(", ")
                ),
            })?;
        context.push_str(&lm_eval_doc_to_text(template, task, shot)?);
        context.push_str(task.target_delimiter);
        context.push_str(choice);
        context.push_str(task.fewshot_delimiter);
    }
    Ok(context)
}

/// The subset of Jinja the lm-eval `doc_to_text` strings use: `{{field}}` and
/// `{{field.strip()}}`, substituted once.
fn lm_eval_doc_to_text(
    template: &TemplateText,
    task: &LmEvalTask,
    item: &McItem,
) -> Result<String, SuiteError> {
    let name = template.info.name;
    if item.options.len() != task.choices.len() {
        return Err(four_options_error(name, item));
    }
    let mut text = String::new();
    let mut rest = task.doc_to_text;
    while let Some(start) = rest.find("{{") {
        text.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| SuiteError::Render {
            template: name.to_string(),
            item_id: item.id.clone(),
            problem: "unclosed `{{` in the template's doc_to_text".to_string(),
        })?;
        let expression = after[..end].trim();
        let (field, strip) = match expression.strip_suffix(".strip()") {
            Some(field) => (field, true),
            None => (expression, false),
        };
        let value = match field {
            // C-Eval names the column `question`, CMMLU `Question`.
            "question" | "Question" => item.question.as_str(),
            "A" => item.options[0].as_str(),
            "B" => item.options[1].as_str(),
            "C" => item.options[2].as_str(),
            "D" => item.options[3].as_str(),
            other => {
                return Err(SuiteError::Render {
                    template: name.to_string(),
                    item_id: item.id.clone(),
                    problem: format!("doc_to_text uses field `{other}`, which items do not have"),
                });
            }
        };
        text.push_str(if strip { python_strip(value) } else { value });
        rest = &after[end + 2..];
    }
    text.push_str(rest);
    Ok(text)
}

/// Python's `str.strip()` with no argument: Unicode whitespace plus the information
/// separators U+001C..U+001F, which Python counts as whitespace and Rust does not.
fn python_strip(text: &str) -> &str {
    text.trim_matches(|character: char| {
        character.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&character)
    })
}

fn four_options_error(template_name: &str, item: &McItem) -> SuiteError {
    SuiteError::Render {
        template: template_name.to_string(),
        item_id: item.id.clone(),
        problem: format!(
            "the template has options A-D but the item has {} options",
            item.options.len()
        ),
    }
}

/// The row as OpenCompass's dataset holds it, in column order.
fn row_fields<'row>(
    template_name: &str,
    substitution_order: &'static [&'static str],
    item: &'row McItem,
    answer: &'row str,
) -> Result<Vec<(&'static str, Cow<'row, str>)>, SuiteError> {
    if item.options.len() != 4 {
        return Err(four_options_error(template_name, item));
    }
    // The `id` column is the last segment of `{subject}/{split}/{row id}`.
    let row_id = item.id.rsplit('/').next().unwrap_or_default();
    let mut fields = Vec::with_capacity(substitution_order.len());
    for key in substitution_order {
        let value: Cow<'row, str> = match *key {
            "id" => Cow::Borrowed(row_id),
            "question" => Cow::Borrowed(item.question.as_str()),
            "A" => Cow::Borrowed(item.options[0].as_str()),
            "B" => Cow::Borrowed(item.options[1].as_str()),
            "C" => Cow::Borrowed(item.options[2].as_str()),
            "D" => Cow::Borrowed(item.options[3].as_str()),
            "answer" => Cow::Borrowed(answer),
            "explanation" => Cow::Borrowed(item.explanation.as_deref().unwrap_or_default()),
            other => Cow::Owned(format!("{{{other}}}")),
        };
        fields.push((*key, value));
    }
    Ok(fields)
}

/// OpenCompass's `safe_format`: replace `{key}` with its value, one key at a time in
/// order. Unknown placeholders stay as they are.
fn safe_format(template: &str, fields: &[(&str, Cow<'_, str>)]) -> String {
    let mut text = template.to_string();
    for (key, value) in fields {
        let placeholder = format!("{{{key}}}");
        if text.contains(&placeholder) {
            text = text.replace(&placeholder, value);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::item::SourceLocation;

    #[test]
    fn every_scoring_mode_is_found_by_its_exact_name_and_named_in_messages() {
        for mode in ScoringMode::ALL {
            assert_eq!(ScoringMode::from_name(mode.as_str()), Some(mode));
            assert!(ScoringMode::names_for_message().contains(&format!("`{mode}`")));
        }
        assert_eq!(ScoringMode::from_name("loglik-echo"), None);
        assert_eq!(ScoringMode::from_name("GEN"), None);
        assert_eq!(
            ScoringMode::names_for_message(),
            "`gen`, `loglik_echo` or `loglik_first_token`"
        );
    }

    fn item(id: &str, question: &str, options: [&str; 4], answer: Option<char>) -> McItem {
        McItem {
            id: id.to_string(),
            subject: id.split('/').next().unwrap_or_default().to_string(),
            question: question.to_string(),
            options: options.iter().map(|option| option.to_string()).collect(),
            answer,
            explanation: None,
            source: SourceLocation {
                path: PathBuf::from("fixture.csv"),
                line: 2,
            },
        }
    }

    fn ceval_item() -> McItem {
        item(
            "high_school_chemistry/val/3",
            "水的化学式是____。",
            ["H2O", "CO2", "O2", "NaCl"],
            Some('A'),
        )
    }

    fn ceval_shots() -> Vec<McItem> {
        vec![
            item(
                "high_school_chemistry/dev/0",
                "1+1等于____。",
                ["1", "2", "3", "4"],
                Some('B'),
            ),
            item(
                "high_school_chemistry/dev/1",
                "天空通常是什么颜色？",
                ["红", "绿", "蓝", "黑"],
                Some('C'),
            ),
        ]
    }

    fn message(role: &str, content: &str) -> ChatMessage {
        ChatMessage::new(role, content.to_string())
    }

    #[test]
    fn ceval_zero_shot_is_one_user_turn() {
        let messages =
            render_chat("ceval_gen_5f30c7", "高中化学", &ceval_item(), &[]).expect("render");
        assert_eq!(
            messages,
            vec![message(
                "user",
                "以下是中国关于高中化学考试的单项选择题，请选出其中的正确答案。\n水的化学式是____。\nA. H2O\nB. CO2\nC. O2\nD. NaCl\n答案: "
            )]
        );
    }

    #[test]
    fn ceval_two_shot_puts_examples_in_earlier_turns() {
        let messages = render_chat(
            "ceval_gen_5f30c7",
            "高中化学",
            &ceval_item(),
            &ceval_shots(),
        )
        .expect("render");
        assert_eq!(
            messages,
            vec![
                message(
                    "user",
                    "以下是中国关于高中化学考试的单项选择题，请选出其中的正确答案。\n1+1等于____。\nA. 1\nB. 2\nC. 3\nD. 4\n答案: "
                ),
                message("assistant", "B"),
                message(
                    "user",
                    "以下是中国关于高中化学考试的单项选择题，请选出其中的正确答案。\n天空通常是什么颜色？\nA. 红\nB. 绿\nC. 蓝\nD. 黑\n答案: "
                ),
                message("assistant", "C"),
                message(
                    "user",
                    "以下是中国关于高中化学考试的单项选择题，请选出其中的正确答案。\n水的化学式是____。\nA. H2O\nB. CO2\nC. O2\nD. NaCl\n答案: "
                ),
            ]
        );
    }

    fn cmmlu_item() -> McItem {
        item(
            "agronomy/test/7",
            "下列哪种作物是虚构的？",
            ["稻米", " 小麦 ", "玉米", "云朵瓜"],
            Some('D'),
        )
    }

    #[test]
    fn cmmlu_zero_shot_keeps_option_whitespace() {
        let messages = render_chat("cmmlu_gen_c13365", "农学", &cmmlu_item(), &[]).expect("render");
        assert_eq!(
            messages,
            vec![message(
                "user",
                "以下是关于农学的单项选择题，请直接给出正确答案的选项。\n题目：下列哪种作物是虚构的？\nA. 稻米\nB.  小麦 \nC. 玉米\nD. 云朵瓜"
            )]
        );
    }

    #[test]
    fn cmmlu_two_shot_answers_with_prefix_but_final_turn_has_none() {
        let shots = vec![
            item(
                "agronomy/dev/0",
                "示例问题一\n第二行",
                ["甲", "乙", "丙", "丁"],
                Some('A'),
            ),
            item(
                "agronomy/dev/1",
                "示例问题二",
                ["1", "2", "3", "4"],
                Some('D'),
            ),
        ];
        let messages =
            render_chat("cmmlu_gen_c13365", "农学", &cmmlu_item(), &shots).expect("render");
        assert_eq!(
            messages,
            vec![
                message(
                    "user",
                    "以下是关于农学的单项选择题，请直接给出正确答案的选项。\n题目：示例问题一\n第二行\nA. 甲\nB. 乙\nC. 丙\nD. 丁"
                ),
                message("assistant", "答案是: A"),
                message(
                    "user",
                    "以下是关于农学的单项选择题，请直接给出正确答案的选项。\n题目：示例问题二\nA. 1\nB. 2\nC. 3\nD. 4"
                ),
                message("assistant", "答案是: D"),
                message(
                    "user",
                    "以下是关于农学的单项选择题，请直接给出正确答案的选项。\n题目：下列哪种作物是虚构的？\nA. 稻米\nB.  小麦 \nC. 玉米\nD. 云朵瓜"
                ),
            ]
        );
    }

    #[test]
    fn literal_braces_are_substituted_like_opencompass() {
        // OpenCompass replaces `{A}` sequentially, so `\bar{A}` in a question picks up
        // option A's text. We reproduce that on purpose.
        let quirky = item(
            "probability/val/8",
            "P(\\bar{A})=?",
            ["0.1", "0.2", "0.3", "0.4"],
            Some('B'),
        );
        let messages = render_chat("ceval_gen_5f30c7", "概率统计", &quirky, &[]).expect("render");
        assert_eq!(
            messages[0].content,
            "以下是中国关于概率统计考试的单项选择题，请选出其中的正确答案。\nP(\\bar0.1)=?\nA. 0.1\nB. 0.2\nC. 0.3\nD. 0.4\n答案: "
        );
        // `{answer}` in the evaluated item is blanked, never the gold letter.
        let leaky = item("x/val/0", "{answer}?", ["1", "2", "3", "4"], Some('C'));
        let messages = render_chat("ceval_gen_5f30c7", "科目", &leaky, &[]).expect("render");
        assert!(
            messages[0].content.contains("\n?\nA. 1"),
            "{:?}",
            messages[0]
        );
    }

    #[test]
    fn shots_without_answers_and_odd_option_counts_are_errors() {
        let mut unanswered = ceval_shots();
        unanswered[1].answer = None;
        let error = render_chat("ceval_gen_5f30c7", "高中化学", &ceval_item(), &unanswered)
            .expect_err("shot without answer");
        assert!(
            error.to_string().contains("high_school_chemistry/dev/1"),
            "{error}"
        );

        let mut three_options = ceval_item();
        three_options.options.pop();
        assert!(matches!(
            render_chat("ceval_gen_5f30c7", "高中化学", &three_options, &[]),
            Err(SuiteError::Render { .. })
        ));
        assert!(matches!(
            render_chat("mmlu_gen", "高中化学", &ceval_item(), &[]),
            Err(SuiteError::UnknownTemplate { .. })
        ));
    }

    #[test]
    fn template_metadata_and_hashes() {
        for suite in SuiteName::ALL {
            let info = template_info(default_template(suite)).expect("default template exists");
            assert_eq!(info.suite, suite);
            assert_eq!(info.default_shots, 5);
        }
        let ceval_hash = template_hash("ceval_gen_5f30c7").expect("hash");
        let cmmlu_hash = template_hash("cmmlu_gen_c13365").expect("hash");
        assert_eq!(ceval_hash.len(), 16);
        assert!(ceval_hash.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(ceval_hash, cmmlu_hash);
        assert_eq!(ceval_hash, template_hash("ceval_gen_5f30c7").expect("hash"));
        assert!(template_hash("nope").is_err());
        assert_eq!(templates().count(), 8);
    }

    #[test]
    fn fixed_shots_are_the_first_dev_rows() {
        let pool = ceval_shots();
        let picked = fixed_shots("high_school_chemistry", &pool, 1).expect("enough");
        assert_eq!(picked[0].id, "high_school_chemistry/dev/0");
        assert!(matches!(
            fixed_shots("high_school_chemistry", &pool, 5),
            Err(SuiteError::NotEnoughShots {
                wanted: 5,
                available: 2,
                ..
            })
        ));
    }

    fn cmmlu_shots() -> Vec<McItem> {
        vec![
            item(
                "agronomy/dev/0",
                "示例问题一\n第二行",
                ["甲", "乙", "丙", "丁"],
                Some('A'),
            ),
            item(
                "agronomy/dev/1",
                "示例问题二",
                ["1", "2", "3", "4"],
                Some('D'),
            ),
        ]
    }

    fn continuations(prompts: &ChoicePrompts) -> Vec<(char, &str)> {
        prompts
            .options
            .iter()
            .map(|option| (option.letter, option.continuation.as_str()))
            .collect()
    }

    #[test]
    fn ceval_ppl_zero_shot_texts() {
        let prompts =
            render_choice_continuations("ceval_ppl_578f8d", "高中化学", &ceval_item(), &[])
                .expect("render");
        assert_eq!(prompts.template, "ceval_ppl_578f8d");
        assert_eq!(
            prompts.prefix,
            "\n\n以下是中国关于高中化学考试的单项选择题，请选出其中的正确答案。\n水的化学式是____。\nA. H2O\nB. CO2\nC. O2\nD. NaCl\n答案: \n"
        );
        assert_eq!(
            continuations(&prompts),
            vec![('A', "A"), ('B', "B"), ('C', "C"), ('D', "D")]
        );
        assert_eq!(
            prompts.full_text('C').as_deref(),
            Some(
                "\n\n以下是中国关于高中化学考试的单项选择题，请选出其中的正确答案。\n水的化学式是____。\nA. H2O\nB. CO2\nC. O2\nD. NaCl\n答案: \nC"
            )
        );
        assert_eq!(prompts.full_text('E'), None);
        assert_eq!(
            prompts.first_token_prompt(),
            "\n\n以下是中国关于高中化学考试的单项选择题，请选出其中的正确答案。\n水的化学式是____。\nA. H2O\nB. CO2\nC. O2\nD. NaCl\n答案: \n"
        );
    }

    #[test]
    fn ceval_ppl_two_shot_texts() {
        let prompts = render_choice_continuations(
            "ceval_ppl_578f8d",
            "高中化学",
            &ceval_item(),
            &ceval_shots(),
        )
        .expect("render");
        assert_eq!(
            prompts.prefix,
            "以下是中国关于高中化学考试的单项选择题，请选出其中的正确答案。\n1+1等于____。\nA. 1\nB. 2\nC. 3\nD. 4\n答案: \nB\n\n\n\
             以下是中国关于高中化学考试的单项选择题，请选出其中的正确答案。\n天空通常是什么颜色？\nA. 红\nB. 绿\nC. 蓝\nD. 黑\n答案: \nC\n\n\n\n\n\
             以下是中国关于高中化学考试的单项选择题，请选出其中的正确答案。\n水的化学式是____。\nA. H2O\nB. CO2\nC. O2\nD. NaCl\n答案: \n"
        );
        assert_eq!(
            continuations(&prompts),
            vec![('A', "A"), ('B', "B"), ('C', "C"), ('D', "D")]
        );
    }

    #[test]
    fn ceval_ppl_as_chat_matches_the_gen_conversation() {
        // Same HUMAN and BOT text as ceval_gen_5f30c7, so the chat form (used for
        // first-token scoring) is the same conversation.
        let messages =
            render_chat("ceval_ppl_578f8d", "高中化学", &ceval_item(), &[]).expect("render");
        assert_eq!(
            messages,
            vec![message(
                "user",
                "以下是中国关于高中化学考试的单项选择题，请选出其中的正确答案。\n水的化学式是____。\nA. H2O\nB. CO2\nC. O2\nD. NaCl\n答案: "
            )]
        );
        let messages = render_chat(
            "ceval_ppl_578f8d",
            "高中化学",
            &ceval_item(),
            &ceval_shots(),
        )
        .expect("render");
        assert_eq!(
            messages,
            vec![
                message(
                    "user",
                    "以下是中国关于高中化学考试的单项选择题，请选出其中的正确答案。\n1+1等于____。\nA. 1\nB. 2\nC. 3\nD. 4\n答案: "
                ),
                message("assistant", "B"),
                message(
                    "user",
                    "以下是中国关于高中化学考试的单项选择题，请选出其中的正确答案。\n天空通常是什么颜色？\nA. 红\nB. 绿\nC. 蓝\nD. 黑\n答案: "
                ),
                message("assistant", "C"),
                message(
                    "user",
                    "以下是中国关于高中化学考试的单项选择题，请选出其中的正确答案。\n水的化学式是____。\nA. H2O\nB. CO2\nC. O2\nD. NaCl\n答案: "
                ),
            ]
        );
    }

    #[test]
    fn cmmlu_ppl_zero_shot_texts() {
        let prompts = render_choice_continuations("cmmlu_ppl_8b9c76", "农学", &cmmlu_item(), &[])
            .expect("render");
        assert_eq!(
            prompts.prefix,
            "\n\n以下是关于农学的单项选择题，请直接给出正确答案的选项。\n题目：下列哪种作物是虚构的？\nA. 稻米\nB.  小麦 \nC. 玉米\nD. 云朵瓜\n"
        );
        assert_eq!(
            continuations(&prompts),
            vec![
                ('A', "答案是: A"),
                ('B', "答案是: B"),
                ('C', "答案是: C"),
                ('D', "答案是: D")
            ]
        );
        // First-token scoring stops after the shared `答案是:`, without the space a
        // tokenizer would join to the letter.
        assert_eq!(
            prompts.first_token_prompt(),
            "\n\n以下是关于农学的单项选择题，请直接给出正确答案的选项。\n题目：下列哪种作物是虚构的？\nA. 稻米\nB.  小麦 \nC. 玉米\nD. 云朵瓜\n答案是:"
        );
    }

    #[test]
    fn cmmlu_ppl_two_shot_texts_and_chat() {
        let prompts =
            render_choice_continuations("cmmlu_ppl_8b9c76", "农学", &cmmlu_item(), &cmmlu_shots())
                .expect("render");
        assert_eq!(
            prompts.prefix,
            "以下是关于农学的单项选择题，请直接给出正确答案的选项。\n题目：示例问题一\n第二行\nA. 甲\nB. 乙\nC. 丙\nD. 丁\n答案是: A\n\n\n\
             以下是关于农学的单项选择题，请直接给出正确答案的选项。\n题目：示例问题二\nA. 1\nB. 2\nC. 3\nD. 4\n答案是: D\n\n\n\n\n\
             以下是关于农学的单项选择题，请直接给出正确答案的选项。\n题目：下列哪种作物是虚构的？\nA. 稻米\nB.  小麦 \nC. 玉米\nD. 云朵瓜\n"
        );
        let messages =
            render_chat("cmmlu_ppl_8b9c76", "农学", &cmmlu_item(), &cmmlu_shots()).expect("render");
        assert_eq!(
            messages,
            vec![
                message(
                    "user",
                    "以下是关于农学的单项选择题，请直接给出正确答案的选项。\n题目：示例问题一\n第二行\nA. 甲\nB. 乙\nC. 丙\nD. 丁"
                ),
                message("assistant", "答案是: A"),
                message(
                    "user",
                    "以下是关于农学的单项选择题，请直接给出正确答案的选项。\n题目：示例问题二\nA. 1\nB. 2\nC. 3\nD. 4"
                ),
                message("assistant", "答案是: D"),
                message(
                    "user",
                    "以下是关于农学的单项选择题，请直接给出正确答案的选项。\n题目：下列哪种作物是虚构的？\nA. 稻米\nB.  小麦 \nC. 玉米\nD. 云朵瓜"
                ),
            ]
        );
        let zero = render_chat("cmmlu_ppl_8b9c76", "农学", &cmmlu_item(), &[]).expect("render");
        assert_eq!(
            zero,
            vec![message(
                "user",
                "以下是关于农学的单项选择题，请直接给出正确答案的选项。\n题目：下列哪种作物是虚构的？\nA. 稻米\nB.  小麦 \nC. 玉米\nD. 云朵瓜"
            )]
        );
    }

    #[test]
    fn ceval_zero_shot_gen_prompts() {
        let messages = render_chat("ceval_zero_shot_gen_bd40ef", "高中化学", &ceval_item(), &[])
            .expect("render");
        assert_eq!(
            messages,
            vec![message(
                "user",
                "以下是中国关于高中化学考试的单项选择题，请选出其中的正确答案。\n水的化学式是____。\nA. H2O\nB. CO2\nC. O2\nD. NaCl\n让我们一步一步思考。答案: "
            )]
        );
        // OpenCompass runs it with ZeroRetriever; with examples (a FixKRetriever swapped
        // in) its ice template gives the same turn structure as ceval_gen_5f30c7.
        let messages = render_chat(
            "ceval_zero_shot_gen_bd40ef",
            "高中化学",
            &ceval_item(),
            &ceval_shots(),
        )
        .expect("render");
        assert_eq!(
            messages,
            vec![
                message(
                    "user",
                    "以下是中国关于高中化学考试的单项选择题，请选出其中的正确答案。\n1+1等于____。\nA. 1\nB. 2\nC. 3\nD. 4\n让我们一步一步思考。答案: "
                ),
                message("assistant", "B"),
                message(
                    "user",
                    "以下是中国关于高中化学考试的单项选择题，请选出其中的正确答案。\n天空通常是什么颜色？\nA. 红\nB. 绿\nC. 蓝\nD. 黑\n让我们一步一步思考。答案: "
                ),
                message("assistant", "C"),
                message(
                    "user",
                    "以下是中国关于高中化学考试的单项选择题，请选出其中的正确答案。\n水的化学式是____。\nA. H2O\nB. CO2\nC. O2\nD. NaCl\n让我们一步一步思考。答案: "
                ),
            ]
        );
    }

    #[test]
    fn cmmlu_zero_shot_cot_prompt_and_no_shots() {
        let messages =
            render_chat("cmmlu_0shot_cot_gen_305931", "农学", &cmmlu_item(), &[]).expect("render");
        assert_eq!(
            messages,
            vec![message(
                "user",
                "请回答以下关于农学的单项选择题, 你回答的最后一行**必须**是以下格式 '答案: $选项' (不带引号), 其中选项是ABCD之一. 请在回答之前一步步思考.\n\n下列哪种作物是虚构的？\n\nA) 稻米\nB)  小麦 \nC) 玉米\nD) 云朵瓜"
            )]
        );
        // The config has no in-context template, so two shots cannot be rendered.
        let error = render_chat(
            "cmmlu_0shot_cot_gen_305931",
            "农学",
            &cmmlu_item(),
            &cmmlu_shots(),
        )
        .expect_err("zero-shot only");
        assert!(
            matches!(&error, SuiteError::Render { item_id, .. } if item_id == "agronomy/dev/0")
        );
        assert!(error.to_string().contains("0 shots"), "{error}");
    }

    #[test]
    fn lmeval_ceval_zero_shot() {
        let messages =
            render_chat("lmeval_ceval_valid", "高中化学", &ceval_item(), &[]).expect("render");
        assert_eq!(
            messages,
            vec![
                message(
                    "system",
                    "以下是中国关于高中化学的单项选择题，请选出其中的正确答案。\n\n"
                ),
                message(
                    "user",
                    "水的化学式是____。\nA. H2O\nB. CO2\nC. O2\nD. NaCl\n答案："
                ),
            ]
        );
        let prompts =
            render_choice_continuations("lmeval_ceval_valid", "高中化学", &ceval_item(), &[])
                .expect("render");
        assert_eq!(
            prompts.prefix,
            "以下是中国关于高中化学的单项选择题，请选出其中的正确答案。\n\n水的化学式是____。\nA. H2O\nB. CO2\nC. O2\nD. NaCl\n答案："
        );
        assert_eq!(
            continuations(&prompts),
            vec![('A', " A"), ('B', " B"), ('C', " C"), ('D', " D")]
        );
        assert_eq!(
            prompts.first_token_prompt(),
            "以下是中国关于高中化学的单项选择题，请选出其中的正确答案。\n\n水的化学式是____。\nA. H2O\nB. CO2\nC. O2\nD. NaCl\n答案："
        );
    }

    #[test]
    fn lmeval_ceval_two_shot() {
        let messages = render_chat(
            "lmeval_ceval_valid",
            "高中化学",
            &ceval_item(),
            &ceval_shots(),
        )
        .expect("render");
        assert_eq!(
            messages,
            vec![
                message(
                    "system",
                    "以下是中国关于高中化学的单项选择题，请选出其中的正确答案。\n\n"
                ),
                message(
                    "user",
                    "1+1等于____。\nA. 1\nB. 2\nC. 3\nD. 4\n答案： B\n\n\
                     天空通常是什么颜色？\nA. 红\nB. 绿\nC. 蓝\nD. 黑\n答案： C\n\n\
                     水的化学式是____。\nA. H2O\nB. CO2\nC. O2\nD. NaCl\n答案："
                ),
            ]
        );
        let prompts = render_choice_continuations(
            "lmeval_ceval_valid",
            "高中化学",
            &ceval_item(),
            &ceval_shots(),
        )
        .expect("render");
        assert_eq!(
            prompts.prefix,
            "以下是中国关于高中化学的单项选择题，请选出其中的正确答案。\n\n\
             1+1等于____。\nA. 1\nB. 2\nC. 3\nD. 4\n答案： B\n\n\
             天空通常是什么颜色？\nA. 红\nB. 绿\nC. 蓝\nD. 黑\n答案： C\n\n\
             水的化学式是____。\nA. H2O\nB. CO2\nC. O2\nD. NaCl\n答案："
        );
        assert_eq!(
            continuations(&prompts),
            vec![('A', " A"), ('B', " B"), ('C', " C"), ('D', " D")]
        );
    }

    #[test]
    fn lmeval_cmmlu_zero_and_two_shot() {
        let messages = render_chat("lmeval_cmmlu", "农学", &cmmlu_item(), &[]).expect("render");
        assert_eq!(
            messages,
            vec![
                message(
                    "system",
                    "以下是关于农学的单项选择题，请直接给出正确答案的选项。\n\n"
                ),
                message(
                    "user",
                    "下列哪种作物是虚构的？\nA. 稻米\nB.  小麦 \nC. 玉米\nD. 云朵瓜\n答案："
                ),
            ]
        );
        let prompts =
            render_choice_continuations("lmeval_cmmlu", "农学", &cmmlu_item(), &cmmlu_shots())
                .expect("render");
        assert_eq!(
            prompts.prefix,
            "以下是关于农学的单项选择题，请直接给出正确答案的选项。\n\n\
             示例问题一\n第二行\nA. 甲\nB. 乙\nC. 丙\nD. 丁\n答案： A\n\n\
             示例问题二\nA. 1\nB. 2\nC. 3\nD. 4\n答案： D\n\n\
             下列哪种作物是虚构的？\nA. 稻米\nB.  小麦 \nC. 玉米\nD. 云朵瓜\n答案："
        );
        assert_eq!(
            continuations(&prompts),
            vec![('A', " A"), ('B', " B"), ('C', " C"), ('D', " D")]
        );
        let messages =
            render_chat("lmeval_cmmlu", "农学", &cmmlu_item(), &cmmlu_shots()).expect("render");
        assert_eq!(
            messages,
            vec![
                message(
                    "system",
                    "以下是关于农学的单项选择题，请直接给出正确答案的选项。\n\n"
                ),
                message(
                    "user",
                    "示例问题一\n第二行\nA. 甲\nB. 乙\nC. 丙\nD. 丁\n答案： A\n\n\
                     示例问题二\nA. 1\nB. 2\nC. 3\nD. 4\n答案： D\n\n\
                     下列哪种作物是虚构的？\nA. 稻米\nB.  小麦 \nC. 玉米\nD. 云朵瓜\n答案："
                ),
            ]
        );
        let zero = render_choice_continuations("lmeval_cmmlu", "农学", &cmmlu_item(), &[])
            .expect("render");
        assert_eq!(
            zero.prefix,
            "以下是关于农学的单项选择题，请直接给出正确答案的选项。\n\n下列哪种作物是虚构的？\nA. 稻米\nB.  小麦 \nC. 玉米\nD. 云朵瓜\n答案："
        );
    }

    #[test]
    fn lmeval_strips_the_question_like_python_and_substitutes_once() {
        // `question.strip()` trims Unicode whitespace and U+001C..U+001F (Python counts
        // them as whitespace); options are not stripped; `{A}` is not a Jinja placeholder.
        let padded = item(
            "x/val/0",
            "\u{3000} \u{1f}P(\\bar{A})=?\r\n",
            [" 0.1", "0.2", "0.3", "0.4"],
            Some('A'),
        );
        let messages = render_chat("lmeval_ceval_valid", "科目", &padded, &[]).expect("render");
        assert_eq!(
            messages[1].content,
            "P(\\bar{A})=?\nA.  0.1\nB. 0.2\nC. 0.3\nD. 0.4\n答案："
        );
    }

    #[test]
    fn gen_templates_have_no_option_continuations() {
        for name in [
            "ceval_gen_5f30c7",
            "cmmlu_gen_c13365",
            "ceval_zero_shot_gen_bd40ef",
            "cmmlu_0shot_cot_gen_305931",
        ] {
            let error = render_choice_continuations(name, "科目", &ceval_item(), &[])
                .expect_err("gen template");
            assert!(
                matches!(
                    &error,
                    SuiteError::ScoringModeUnsupported {
                        mode: ScoringMode::LoglikEcho,
                        ..
                    }
                ),
                "{error}"
            );
            assert!(
                !template_info(name)
                    .expect("known")
                    .supports(ScoringMode::LoglikEcho)
            );
        }
        let mut three = ceval_item();
        three.options.pop();
        for name in ["ceval_ppl_578f8d", "lmeval_ceval_valid"] {
            assert!(matches!(
                render_choice_continuations(name, "科目", &three, &[]),
                Err(SuiteError::Render { .. })
            ));
        }
    }

    #[test]
    fn every_template_renders_and_declares_its_modes() {
        for info in templates() {
            assert!(info.supports(info.native_mode), "{}", info.name);
            assert_eq!(info.scoring_modes.first(), Some(&info.native_mode));
            assert!(info.source.contains(" @ "), "{}", info.source);
            let item = match info.suite {
                SuiteName::Ceval => ceval_item(),
                SuiteName::Cmmlu => cmmlu_item(),
            };
            let messages = render_chat(info.name, "科目", &item, &[]).expect("chat");
            assert_eq!(messages.last().map(|m| m.role.as_str()), Some("user"));
            let loglik = render_choice_continuations(info.name, "科目", &item, &[]);
            assert_eq!(
                loglik.is_ok(),
                info.supports(ScoringMode::LoglikEcho),
                "{}",
                info.name
            );
        }
        assert_eq!(
            "loglik-first-token".parse::<ScoringMode>(),
            Ok(ScoringMode::LoglikFirstToken)
        );
        assert!("ppl".parse::<ScoringMode>().is_err());
    }

    #[test]
    fn template_hashes_are_pinned() {
        // A change to any template text or to how it is assembled must show up here (and
        // so in recorded results). The first two are the hashes recorded before the
        // registry grew, and must never change.
        let expected = [
            ("ceval_gen_5f30c7", "fc08b6f647a8376e"),
            ("cmmlu_gen_c13365", "8cade7fb202b3d32"),
            ("ceval_ppl_578f8d", "979314ff179cb5cd"),
            ("ceval_zero_shot_gen_bd40ef", "a1021e53b2463b47"),
            ("cmmlu_ppl_8b9c76", "ba56a93175d77f43"),
            ("cmmlu_0shot_cot_gen_305931", "2bc028166f2908f7"),
            ("lmeval_ceval_valid", "644a1fd8ad1d5516"),
            ("lmeval_cmmlu", "eac49fb0a7c824d5"),
        ];
        for (name, hash) in expected {
            assert_eq!(template_hash(name).expect("hash"), hash, "{name}");
        }
    }

    #[test]
    fn unknown_template_error_lists_every_template() {
        let error = template_info("mmlu_gen").expect_err("unknown");
        let message = error.to_string();
        for info in templates() {
            assert!(message.contains(info.name), "{message}");
        }
    }
}
