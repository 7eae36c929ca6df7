//! Prompt templates reproduced byte for byte from OpenCompass, rendered as chat messages
//! the way OpenCompass sends them to API (chat) models.
//!
//! # Sources read
//! - `ceval_gen_5f30c7`: open-compass/opencompass
//!   `opencompass/configs/datasets/ceval/ceval_gen_5f30c7.py` (commit 623d8dcf, same text
//!   at abaf0b45).
//! - `cmmlu_gen_c13365`: open-compass/opencompass
//!   `configs/datasets/cmmlu/cmmlu_gen_c13365.py` (commit b2e2a334; the text is the same at
//!   0b1ca398, where `fix_id_list` sat on the inferencer instead of the retriever).
//! - How a template becomes a conversation: `opencompass/openicl/icl_prompt_template.py`
//!   (commit 7858334b), `opencompass/openicl/icl_retriever/icl_base_retriever.py`,
//!   `opencompass/utils/prompt.py` (commit 119bfd15: `safe_format`, `PromptList`) and
//!   `APITemplateParser` in `opencompass/models/base_api.py` (commit 14540630), with the
//!   usual API meta template `round=[HUMAN, BOT(generate=True)]`; the OpenAI model class
//!   then maps HUMAN → `user` and BOT → `assistant`.
//!
//! # What OpenCompass does, and so what this module does
//! 1. Both configs have only an `ice_template` whose `begin` is the `</E>` ice token and
//!    whose round is HUMAN (question) then BOT (answer). `FixKRetriever` with
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

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::SuiteError;
use crate::item::{McItem, SuiteName};

/// One chat turn as sent to an OpenAI-compatible endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `user` or `assistant`.
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

/// A template the user can name on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TemplateInfo {
    pub name: &'static str,
    pub suite: SuiteName,
    pub description: &'static str,
    /// Few-shot examples OpenCompass uses with this template (`fix_id_list` length).
    pub default_shots: usize,
}

/// The literal text of one template. Everything that shapes the prompt lives here, so
/// [`template_hash`] covers it.
struct TemplateText {
    info: TemplateInfo,
    /// HUMAN prompt up to the subject's Chinese name (inserted by the config's f-string).
    human_before_subject: &'static str,
    /// HUMAN prompt after the subject's Chinese name, with `{field}` placeholders.
    human_after_subject: &'static str,
    /// BOT prompt, with `{answer}`.
    bot: &'static str,
    /// Column order of the dataset rows, which is the order `safe_format` substitutes in.
    substitution_order: &'static [&'static str],
}

/// Bumped when the way pieces are assembled changes (not the text itself, which the hash
/// already covers), so old results are not mistaken for new ones.
const RENDERING_VERSION: &str = "opencompass-api-chat-v1";

static TEMPLATES: [TemplateText; 2] = [
    TemplateText {
        info: TemplateInfo {
            name: "ceval_gen_5f30c7",
            suite: SuiteName::Ceval,
            description: "OpenCompass C-Eval gen prompt: 以下是中国关于{科目}考试的单项选择题… \
                          答案: , five fixed dev examples as earlier chat turns",
            default_shots: 5,
        },
        human_before_subject: "以下是中国关于",
        human_after_subject: "考试的单项选择题，请选出其中的正确答案。\n{question}\nA. {A}\nB. {B}\nC. {C}\nD. {D}\n答案: ",
        bot: "{answer}",
        substitution_order: &[
            "id",
            "question",
            "A",
            "B",
            "C",
            "D",
            "answer",
            "explanation",
        ],
    },
    TemplateText {
        info: TemplateInfo {
            name: "cmmlu_gen_c13365",
            suite: SuiteName::Cmmlu,
            description: "OpenCompass CMMLU gen prompt: 以下是关于{科目}的单项选择题… 题目：, \
                          examples answered 答案是: X, five fixed dev examples as earlier chat turns",
            default_shots: 5,
        },
        human_before_subject: "以下是关于",
        human_after_subject: "的单项选择题，请直接给出正确答案的选项。\n题目：{question}\nA. {A}\nB. {B}\nC. {C}\nD. {D}",
        bot: "答案是: {answer}",
        substitution_order: &["question", "A", "B", "C", "D", "answer"],
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
    let mut hasher = Sha256::new();
    let substitution_order = template.substitution_order.join(",");
    let default_shots = template.info.default_shots.to_string();
    let pieces = [
        RENDERING_VERSION,
        template.info.name,
        template.info.suite.as_str(),
        template.human_before_subject,
        template.human_after_subject,
        template.bot,
        substitution_order.as_str(),
        default_shots.as_str(),
    ];
    for piece in pieces {
        // Length-prefix each piece so moving text between pieces changes the hash too.
        hasher.update((piece.len() as u64).to_le_bytes());
        hasher.update(piece.as_bytes());
    }
    let digest = hex::encode(hasher.finalize());
    Ok(digest[..16].to_string())
}

/// The few-shot examples `FixKRetriever(fix_id_list=[0..count])` picks: the first `count`
/// dev rows of the subject, in file order.
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

/// Renders `item` with `template_name` as chat messages: one `user`/`assistant` pair per
/// shot, then the item as the final `user` turn.
///
/// `subject_chinese_name` is inserted where the config's f-string put `_ch_name`; take it
/// from [`crate::subjects::subject_info`].
///
/// # Errors
/// [`SuiteError::UnknownTemplate`] for an unknown template; [`SuiteError::Render`] when the
/// item or a shot does not have four options, or a shot has no answer.
pub fn render_chat(
    template_name: &str,
    subject_chinese_name: &str,
    item: &McItem,
    shots: &[McItem],
) -> Result<Vec<ChatMessage>, SuiteError> {
    let template = template_text(template_name)?;
    let human_template = format!(
        "{}{subject_chinese_name}{}",
        template.human_before_subject, template.human_after_subject
    );

    // The evaluated item's answer is blanked, as GenInferencer does with
    // `gen_field_replace_token=''`, so the gold letter can never leak into the prompt.
    let item_fields = row_fields(template, item, "")?;

    let mut messages = Vec::with_capacity(shots.len() * 2 + 1);
    for shot in shots {
        let answer = shot.answer.ok_or_else(|| SuiteError::Render {
            template: template_name.to_string(),
            item_id: shot.id.clone(),
            problem: "a few-shot example has no answer; take shots from the dev split".to_string(),
        })?;
        let answer = answer.to_string();
        let shot_fields = row_fields(template, shot, &answer)?;
        // First pass: the example's own fields (generate_ice_item). Second pass: the
        // evaluated item's fields, because OpenCompass formats the whole prompt list after
        // inserting the examples.
        let user = safe_format(&safe_format(&human_template, &shot_fields), &item_fields);
        let assistant = safe_format(&safe_format(template.bot, &shot_fields), &item_fields);
        messages.push(ChatMessage::new("user", user));
        messages.push(ChatMessage::new("assistant", assistant));
    }
    messages.push(ChatMessage::new(
        "user",
        safe_format(&human_template, &item_fields),
    ));
    Ok(messages)
}

/// The row as OpenCompass's dataset holds it, in column order.
fn row_fields<'row>(
    template: &TemplateText,
    item: &'row McItem,
    answer: &'row str,
) -> Result<Vec<(&'static str, std::borrow::Cow<'row, str>)>, SuiteError> {
    use std::borrow::Cow;

    if item.options.len() != 4 {
        return Err(SuiteError::Render {
            template: template.info.name.to_string(),
            item_id: item.id.clone(),
            problem: format!(
                "the template has options A-D but the item has {} options",
                item.options.len()
            ),
        });
    }
    // The `id` column is the last segment of `{subject}/{split}/{row id}`.
    let row_id = item.id.rsplit('/').next().unwrap_or_default();
    let mut fields = Vec::with_capacity(template.substitution_order.len());
    for key in template.substitution_order {
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
fn safe_format(template: &str, fields: &[(&str, std::borrow::Cow<'_, str>)]) -> String {
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
        assert_eq!(templates().count(), 2);
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
}
