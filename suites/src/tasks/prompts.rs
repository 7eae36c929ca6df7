//! Prompt templates of the task suites, reproduced byte for byte from the OpenCompass
//! configurations that the suites' `*_gen.py` aliases import (the source file and commit
//! read are recorded on each template), and how each template shows the options, which
//! decides the gold letter.
//!
//! Quirks of the published prompts are kept on purpose, since a changed byte changes
//! scores: OCNLI's ` B. 矛盾` with a leading space, CLUEWSC's mismatched quotes
//! (`“{span1}“`, `”A“`), eprstmt's ASCII quotes after a full-width colon, chid's missing
//! line break before `答：`, C3's `[NULL]` padding of missing choices.
//!
//! Where OpenCompass has no configuration, the template is the project's own and says so
//! in its source: FewCLUE iflytek (119 labels) and csldcp (67 labels), which are answered
//! by label name, and CMATH, whose authors publish no prompt (evalscope's zero-shot prompt
//! is used).
//!
//! The answer extraction is Jianzhen's own (the multiple-choice cascade and
//! [`super::grade`]), not OpenCompass's `first_capital_postprocess`, which takes the first
//! capital letter of a reply and so scores "My answer is B" as `M`.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::grade::AnswerKind;
use super::{ItemGold, TaskSuite};
use crate::error::SuiteError;
use crate::formats::{EvalItem, ItemKind, Options, letter, ocnli};
use crate::template::ChatMessage;

/// How a template shows the options of a choice item.
#[derive(Debug, Clone, Copy)]
pub enum ChoiceDisplay {
    /// The item's own options, in their order (GAOKAO-Bench, AGIEval, C3, chid).
    AsLoaded,
    /// A fixed list of labels; each entry pairs the loader's label (the option text, or
    /// the item field named by `key_field`) with the text the prompt shows at that
    /// position, so the gold letter follows the prompt, not the file.
    Fixed {
        key_field: Option<&'static str>,
        labels: &'static [(&'static str, &'static str)],
    },
    /// Answered by label name (more labels than letters).
    LabelNames,
    /// Not a choice item.
    None,
}

/// One prompt template of a task suite.
#[derive(Debug)]
pub struct TaskTemplate {
    pub name: &'static str,
    /// The suite it is for, by [`TaskSuite::name`].
    pub suite: &'static str,
    /// Where it comes from: file, commit; or that it is the project's own.
    pub source: &'static str,
    /// The user message, with `{placeholders}`; the second pattern, when present, is for
    /// the suite's cloze (free-text) items.
    pub pattern: &'static str,
    pub cloze_pattern: Option<&'static str>,
    pub choices: ChoiceDisplay,
}

const OCNLI_LABELS: [&str; 3] = ocnli::LABELS;

static TEMPLATES: [TaskTemplate; 16] = [
    TaskTemplate {
        name: "gaokao_gen_5cfe9e",
        suite: "gaokao",
        source: "OpenCompass configs/datasets/GaokaoBench/GaokaoBench_gen_5cfe9e.py @ 1650cee7; prefix_prompt + question, the prefix read from the data's Bench/Obj_Prompt.json (identical to the config's _MCQ_prompts)",
        pattern: "{prefix_prompt}{question}",
        cloze_pattern: None,
        choices: ChoiceDisplay::AsLoaded,
    },
    TaskTemplate {
        name: "agieval_gen_5c79b4",
        suite: "agieval",
        source: "OpenCompass opencompass/configs/datasets/agieval/agieval_gen_5c79b4.py @ 659c25b7 (Chinese subsets identical to agieval_gen_617738); question = passage + question, options as published joined by newlines",
        pattern: "{intro}\n{question}\n{options}\n答案是： ",
        cloze_pattern: Some("{intro}\n{question}\n答案是： "),
        choices: ChoiceDisplay::AsLoaded,
    },
    TaskTemplate {
        name: "clue_c3_gen_8c358f",
        suite: "c3",
        source: "OpenCompass opencompass/configs/datasets/CLUE_C3/CLUE_C3_gen_8c358f.py @ 3ce9b0a4; paragraphs joined without separator, missing choices padded with [NULL] (C3Dataset_V2)",
        pattern: "{content}\n问：{question}\nA. {choice0}\nB. {choice1}\nC. {choice2}\nD. {choice3}\n请从“A”，“B”，“C”，“D”中进行选择。\n答：",
        cloze_pattern: None,
        choices: ChoiceDisplay::AsLoaded,
    },
    TaskTemplate {
        name: "clue_cmrc_gen_1bd3c8",
        suite: "cmrc2018",
        source: "OpenCompass opencompass/configs/datasets/CLUE_CMRC/CLUE_CMRC_gen_1bd3c8.py @ 3ce9b0a4",
        pattern: "根据文章回答问题。你的答案应该尽可能简练，请以 ‘答案是’ 开头的句式作答。\n文章：{context}\n问：{question}\n答：",
        cloze_pattern: None,
        choices: ChoiceDisplay::None,
    },
    TaskTemplate {
        name: "clue_ocnli_gen_c4cb6c",
        suite: "ocnli",
        source: "OpenCompass opencompass/configs/datasets/CLUE_ocnli/CLUE_ocnli_gen_c4cb6c.py @ d66be569; entailment→A, contradiction→B, neutral→C (CMNLIDatasetV2)",
        pattern: "语句一：“{sentence1}”\n语句二：“{sentence2}”\n请问这两句话是什么关系？\nA. 蕴含\n B. 矛盾\n C. 无关\n请从“A”，“B”，“C”中进行选择。\n答：",
        cloze_pattern: None,
        choices: ChoiceDisplay::Fixed {
            key_field: None,
            labels: &[
                (OCNLI_LABELS[0], "蕴含"),
                (OCNLI_LABELS[2], "矛盾"),
                (OCNLI_LABELS[1], "无关"),
            ],
        },
    },
    TaskTemplate {
        name: "fewclue_tnews_gen_b90e4a",
        suite: "fewclue_tnews",
        source: "OpenCompass opencompass/configs/datasets/FewCLUE_tnews/FewCLUE_tnews_gen_b90e4a.py @ abaf0b45; answer letter by label_desc (TNewsDatasetV2)",
        pattern: "{sentence}\n请判断上述内容属于什么新闻？\nA. 农业新闻\nB. 旅游新闻\nC. 游戏新闻\nD. 科技类别公司新闻\nE. 体育类别新闻\nF. 初升高教育新闻\nG. 娱乐圈新闻\nH. 投资资讯\nI. 军事类别常识\nJ. 车辆新闻\nK. 楼市新闻\nL. 环球不含中国类别新闻\nM. 书籍文化历史类别新闻\nN. 故事类别新闻\nO. 股票市场类别新闻\n请从“A”，“B”，“C”，“D”，“E”，“F”，“G”，“H”，“I”，“J”，“K”，“L”，“M”，“N”，“O”中进行选择。\n答：",
        cloze_pattern: None,
        choices: ChoiceDisplay::Fixed {
            key_field: Some("label_desc"),
            labels: &[
                ("news_agriculture", "农业新闻"),
                ("news_travel", "旅游新闻"),
                ("news_game", "游戏新闻"),
                ("news_tech", "科技类别公司新闻"),
                ("news_sports", "体育类别新闻"),
                ("news_edu", "初升高教育新闻"),
                ("news_entertainment", "娱乐圈新闻"),
                ("news_finance", "投资资讯"),
                ("news_military", "军事类别常识"),
                ("news_car", "车辆新闻"),
                ("news_house", "楼市新闻"),
                ("news_world", "环球不含中国类别新闻"),
                ("news_culture", "书籍文化历史类别新闻"),
                ("news_story", "故事类别新闻"),
                ("news_stock", "股票市场类别新闻"),
            ],
        },
    },
    TaskTemplate {
        name: "fewclue_ocnli_fc_gen_f97a97",
        suite: "fewclue_ocnli",
        source: "OpenCompass configs/datasets/FewCLUE_ocnli_fc/FewCLUE_ocnli_fc_gen_f97a97.py @ 0b1ca398; entailment→A, contradiction→B, neutral→C",
        pattern: "阅读文章：{sentence1}\n根据上文，回答如下问题：{sentence2}\nA. 对\nB. 错\nC. 可能\n请从“A”，“B”，“C”中进行选择。\n答：",
        cloze_pattern: None,
        choices: ChoiceDisplay::Fixed {
            key_field: None,
            labels: &[
                (OCNLI_LABELS[0], "对"),
                (OCNLI_LABELS[2], "错"),
                (OCNLI_LABELS[1], "可能"),
            ],
        },
    },
    TaskTemplate {
        name: "fewclue_cluewsc_gen_c68933",
        suite: "fewclue_cluewsc",
        source: "OpenCompass opencompass/configs/datasets/FewCLUE_cluewsc/FewCLUE_cluewsc_gen_c68933.py @ 8c1dff3c; true→A, false→B (CluewscDatasetV2)",
        pattern: "{text}\n此处，“{span2}”是否指代“{span1}“？\nA. 是\nB. 否\n请从”A“，”B“中进行选择。\n答：",
        cloze_pattern: None,
        choices: ChoiceDisplay::Fixed {
            key_field: None,
            labels: &[("true", "是"), ("false", "否")],
        },
    },
    TaskTemplate {
        name: "fewclue_csl_gen_28b223",
        suite: "fewclue_csl",
        source: "OpenCompass opencompass/configs/datasets/FewCLUE_csl/FewCLUE_csl_gen_28b223.py @ 3ce9b0a4; 0→A, 1→B, keywords joined with ，(CslDatasetV2)",
        pattern: "摘要是对论文内容不加注释和评论的简短陈述，要求扼要地说明研究工作的目的、研究方法和最终结论等。\n关键词是一篇学术论文的核心词汇，一般由一系列名词组成。关键词在全文中应有较高出现频率，且能起到帮助文献检索的作用。\n摘要：{abst}\n关键词：{keywords}\n请问上述关键词是否匹配摘要且符合要求？\nA. 否\nB. 是\n请从”A“，”B“中进行选择。\n答：",
        cloze_pattern: None,
        choices: ChoiceDisplay::Fixed {
            key_field: None,
            labels: &[("0", "否"), ("1", "是")],
        },
    },
    TaskTemplate {
        name: "fewclue_bustm_gen_634f41",
        suite: "fewclue_bustm",
        source: "OpenCompass opencompass/configs/datasets/FewCLUE_bustm/FewCLUE_bustm_gen_634f41.py @ 6ea409c0; 0→A, 1→B (AFQMCDatasetV2)",
        pattern: "语句一：“{sentence1}”\n语句二：“{sentence2}”\n请判断语句一和语句二说的是否是一个意思？\nA. 无关\nB. 相关\n请从“A”，“B”中进行选择。\n答：",
        cloze_pattern: None,
        choices: ChoiceDisplay::Fixed {
            key_field: None,
            labels: &[("0", "无关"), ("1", "相关")],
        },
    },
    TaskTemplate {
        name: "fewclue_eprstmt_gen_740ea0",
        suite: "fewclue_eprstmt",
        source: "OpenCompass opencompass/configs/datasets/FewCLUE_eprstmt/FewCLUE_eprstmt_gen_740ea0.py @ 3ce9b0a4; Positive→A, Negative→B (EprstmtDatasetV2)",
        pattern: "内容： \"{sentence}\"。请对上述内容进行情绪分类。\nA. 积极\nB. 消极\n请从”A“，”B“中进行选择。\n答：",
        cloze_pattern: None,
        choices: ChoiceDisplay::Fixed {
            key_field: None,
            labels: &[("Positive", "积极"), ("Negative", "消极")],
        },
    },
    TaskTemplate {
        name: "fewclue_chid_gen_0a29a2",
        suite: "fewclue_chid",
        source: "OpenCompass opencompass/configs/datasets/FewCLUE_chid/FewCLUE_chid_gen_0a29a2.py @ abaf0b45; #idiom# → ______ (CHIDDatasetV2)",
        pattern: "{content}\n请选择______处所填的词\nA. {A}\nB. {B}\nC. {C}\nD. {D}\nE. {E}\nF. {F}\nG. {G}\n请从”A“，”B“，”C“，”D“，”E“，”F“，”G“中进行选择。答：",
        cloze_pattern: None,
        choices: ChoiceDisplay::AsLoaded,
    },
    TaskTemplate {
        name: "jianzhen_iflytek_labels_v1",
        suite: "fewclue_iflytek",
        source: "Jianzhen's own (OpenCompass has no FewCLUE iflytek config); 119 labels, answered by name",
        pattern: "{sentence}\n请判断上述应用描述属于哪一类应用。可选类别：{labels}\n请直接回答类别名称。\n答：",
        cloze_pattern: None,
        choices: ChoiceDisplay::LabelNames,
    },
    TaskTemplate {
        name: "jianzhen_csldcp_labels_v1",
        suite: "fewclue_csldcp",
        source: "Jianzhen's own (OpenCompass has no FewCLUE csldcp config); 67 disciplines, answered by name",
        pattern: "{content}\n请判断上述论文摘要属于哪个学科。可选学科：{labels}\n请直接回答学科名称。\n答：",
        cloze_pattern: None,
        choices: ChoiceDisplay::LabelNames,
    },
    TaskTemplate {
        name: "chinese_simpleqa_gen",
        suite: "simpleqa",
        source: "OpenCompass opencompass/configs/datasets/chinese_simpleqa/chinese_simpleqa_gen.py @ 3ce9b0a4 (the bare question); graded by reference match, not the published LLM judge",
        pattern: "{question}",
        cloze_pattern: None,
        choices: ChoiceDisplay::None,
    },
    TaskTemplate {
        name: "cmath_evalscope_0shot",
        suite: "cmath",
        source: "evalscope evalscope/benchmarks/cmath/cmath_adapter.py @ 4ada9e9c (the CMATH authors publish no prompt; OpenCompass has no CMATH config); scored with CMATH's own number matching",
        pattern: "{question}\n请一步一步推理，最后将答案放在\\boxed{}中。\n",
        cloze_pattern: None,
        choices: ChoiceDisplay::None,
    },
];

impl TaskTemplate {
    /// Whether the prompt ends on the answer cue right before an option letter (`答：`,
    /// `答案是： `), so the reply's first token is the letter: what first-token scoring
    /// (`loglik_first_token`) reads. GAOKAO-Bench's prompt asks for 【解析】 first, the
    /// label-name templates answer with names, and the others are not choice items.
    pub fn leads_to_letter(&self) -> bool {
        let lettered = matches!(
            self.choices,
            ChoiceDisplay::AsLoaded | ChoiceDisplay::Fixed { .. }
        );
        lettered && (self.pattern.ends_with("答：") || self.pattern.ends_with("答案是： "))
    }
}

/// Every task template.
pub fn templates() -> impl Iterator<Item = &'static TaskTemplate> {
    TEMPLATES.iter()
}

/// The template named `name`.
///
/// # Errors
/// [`SuiteError::UnknownTemplate`].
pub fn template(name: &str) -> Result<&'static TaskTemplate, SuiteError> {
    TEMPLATES
        .iter()
        .find(|template| template.name == name)
        .ok_or_else(|| SuiteError::UnknownTemplate {
            name: name.to_string(),
        })
}

/// The template a suite uses when the run spec names none.
pub fn default_template(suite: TaskSuite) -> &'static str {
    let name = suite.name();
    TEMPLATES
        .iter()
        .find(|template| template.suite == name)
        .map_or("", |template| template.name)
}

/// The templates of `suite`.
pub fn templates_for(suite: TaskSuite) -> Vec<&'static str> {
    let name = suite.name();
    TEMPLATES
        .iter()
        .filter(|template| template.suite == name)
        .map(|template| template.name)
        .collect()
}

/// Whether `template` is one of `suite`'s templates.
pub fn template_fits(template: &str, suite: TaskSuite) -> bool {
    templates_for(suite).contains(&template)
}

/// sha256 (first 16 hex digits) over the template's name and patterns, recorded with
/// every result, so a changed byte shows.
///
/// # Errors
/// [`SuiteError::UnknownTemplate`].
pub fn template_hash(name: &str) -> Result<String, SuiteError> {
    let template = template(name)?;
    let mut hasher = Sha256::new();
    for part in [
        template.name,
        template.pattern,
        template.cloze_pattern.unwrap_or(""),
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    if let ChoiceDisplay::Fixed { labels, .. } = template.choices {
        for (key, shown) in labels {
            hasher.update(key.as_bytes());
            hasher.update(shown.as_bytes());
            hasher.update([0u8]);
        }
    }
    // iflytek's label list is built in rather than read from a data file (whose sha256
    // the manifest records), so it is part of the prompt's identity.
    if template.suite == "fewclue_iflytek" {
        for label in crate::formats::fewclue::IFLYTEK_LABELS {
            hasher.update(label.as_bytes());
            hasher.update([0u8]);
        }
    }
    Ok(hex::encode(hasher.finalize())[..16].to_string())
}

/// The intro line AGIEval's configuration puts before each Chinese subset's questions.
fn agieval_intro(subset: &str) -> Option<&'static str> {
    Some(match subset {
        "gaokao-chinese" => "以下是一道中国高考语文选择题，请选择正确的答案。",
        "gaokao-english" => "以下是一道中国高考英语选择题，请选择正确的答案。",
        "gaokao-geography" => "以下是一道中国高考地理选择题，请选择正确的答案。",
        "gaokao-history" => "以下是一道中国高考历史选择题，请选择正确的答案。",
        "gaokao-biology" => "以下是一道中国高考生物选择题，请选择正确的答案。",
        "gaokao-chemistry" => "以下是一道中国高考化学选择题，请选择正确的答案。",
        "gaokao-physics" => "以下是一道中国高考物理选择题，请选择正确的答案。",
        "gaokao-mathqa" => "以下是一道中国高考数学选择题，请选择正确的答案。",
        "logiqa-zh" => "以下是一道中国公务员考试题，请选择正确的答案。",
        "jec-qa-kd" => "以下是一道中国司法考试基础知识题，请选择正确的答案。",
        "jec-qa-ca" => "以下是一道中国司法考试案例分析题，请选择正确的答案。",
        "gaokao-mathcloze" => "以下是一道中国高考数学填空题，请填入正确的答案。",
        _ => return None,
    })
}

fn listed_options(item: &EvalItem) -> Vec<String> {
    match &item.kind {
        ItemKind::SingleChoice { options, .. }
        | ItemKind::MultiChoice { options, .. }
        | ItemKind::MultiQuestion { options, .. }
        | ItemKind::Withheld { options, .. } => match options {
            Options::Listed(texts) => texts.clone(),
            Options::InQuestion { count } => vec![String::new(); *count],
        },
        _ => Vec::new(),
    }
}

/// The placeholder values of `item` under `template`.
fn variables(
    template: &TaskTemplate,
    item: &EvalItem,
) -> Result<BTreeMap<&'static str, String>, SuiteError> {
    let mut values: BTreeMap<&'static str, String> = BTreeMap::new();
    let field = |name: &str| item.fields.get(name).cloned().unwrap_or_default();
    let context = item.context.clone().unwrap_or_default();
    let options = listed_options(item);
    values.insert("question", item.question.clone());
    values.insert("context", context.clone());
    match template.suite {
        "gaokao" => {
            values.insert("prefix_prompt", field("prefix_prompt"));
        }
        "agieval" => {
            let intro = agieval_intro(&item.subject).ok_or_else(|| {
                item.source.malformed(format!(
                    "AGIEval subset `{}` is not one of the Chinese subsets this template has an intro for",
                    item.subject
                ))
            })?;
            values.insert("intro", intro.to_string());
            // AGIEvalDataset_v2: the passage glued to the question, no separator.
            values.insert("question", format!("{context}{}", item.question));
            values.insert("options", field("options_text"));
        }
        "c3" => {
            values.insert("content", context.replace('\n', ""));
            for index in 0..4 {
                let choice = options
                    .get(index)
                    .cloned()
                    .unwrap_or_else(|| "[NULL]".to_string());
                values.insert(["choice0", "choice1", "choice2", "choice3"][index], choice);
            }
        }
        "ocnli" | "fewclue_ocnli" => {
            values.insert("sentence1", context);
            values.insert("sentence2", item.question.clone());
        }
        "fewclue_tnews" | "fewclue_eprstmt" | "fewclue_iflytek" => {
            values.insert("sentence", item.question.clone());
        }
        "fewclue_cluewsc" => {
            values.insert("text", item.question.clone());
            values.insert("span1", field("span1_text"));
            values.insert("span2", field("span2_text"));
        }
        "fewclue_csl" => {
            values.insert("abst", item.question.clone());
            values.insert("keywords", field("keywords"));
        }
        "fewclue_bustm" => {
            values.insert("sentence1", item.question.clone());
            values.insert("sentence2", field("sentence2"));
        }
        "fewclue_chid" => {
            values.insert("content", item.question.replace("#idiom#", "______"));
            for (index, name) in ["A", "B", "C", "D", "E", "F", "G"].into_iter().enumerate() {
                values.insert(name, options.get(index).cloned().unwrap_or_default());
            }
        }
        "fewclue_csldcp" => {
            values.insert("content", item.question.clone());
        }
        _ => {}
    }
    if matches!(template.choices, ChoiceDisplay::LabelNames) {
        values.insert("labels", options.join("，"));
    }
    Ok(values)
}

/// Fills `{name}` placeholders; braces around anything else (`\boxed{}`) stay as they are.
fn fill(pattern: &str, values: &BTreeMap<&'static str, String>) -> String {
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if values.contains_key(&after[..close]) => {
                out.push_str(&values[&after[..close]]);
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Renders `item` with `template` as one user message, as OpenCompass's `HUMAN` round.
///
/// # Errors
/// [`SuiteError::UnknownTemplate`]; a malformed-record error for an item the template
/// cannot show (an AGIEval subset without a Chinese intro).
pub fn render(template_name: &str, item: &EvalItem) -> Result<Vec<ChatMessage>, SuiteError> {
    let template = template(template_name)?;
    let values = variables(template, item)?;
    let pattern = match (&item.kind, template.cloze_pattern) {
        (ItemKind::FreeText { .. }, Some(cloze)) => cloze,
        _ => template.pattern,
    };
    Ok(vec![ChatMessage {
        role: "user".to_string(),
        content: fill(pattern, &values),
    }])
}

/// How `item` is graded under `template`: the gold letter follows the options as the
/// prompt shows them.
///
/// # Errors
/// [`SuiteError::UnknownTemplate`]; a malformed-record error when the item's label is not
/// one the template shows.
pub fn item_gold(template_name: &str, item: &EvalItem) -> Result<ItemGold, SuiteError> {
    let template = template(template_name)?;
    let generic = super::item_gold(item);
    match (template.choices, &item.kind) {
        (ChoiceDisplay::Fixed { key_field, labels }, ItemKind::SingleChoice { answer, .. }) => {
            let key = match key_field {
                Some(name) => item.fields.get(name).cloned().ok_or_else(|| {
                    item.source.malformed(format!(
                        "the item has no `{name}`, which `{template_name}` maps answers by"
                    ))
                })?,
                None => listed_options(item)
                    .get(*answer)
                    .cloned()
                    .unwrap_or_default(),
            };
            let position = labels
                .iter()
                .position(|(known, _)| *known == key)
                .ok_or_else(|| {
                    item.source.malformed(format!(
                        "label `{key}` is not one of the labels `{template_name}` shows"
                    ))
                })?;
            Ok(ItemGold {
                kind: AnswerKind::Choice,
                gold: letter(position).map(String::from).unwrap_or_default(),
                options: labels
                    .iter()
                    .map(|(_, shown)| (*shown).to_string())
                    .collect(),
            })
        }
        (ChoiceDisplay::LabelNames, ItemKind::SingleChoice { answer, .. }) => {
            let options = listed_options(item);
            Ok(ItemGold {
                kind: AnswerKind::Label,
                gold: options.get(*answer).cloned().unwrap_or_default(),
                options,
            })
        }
        // No gold: read the prediction against the options as the prompt shows them.
        (ChoiceDisplay::Fixed { labels, .. }, ItemKind::Withheld { .. }) => Ok(ItemGold {
            kind: AnswerKind::Choice,
            gold: String::new(),
            options: labels
                .iter()
                .map(|(_, shown)| (*shown).to_string())
                .collect(),
        }),
        (ChoiceDisplay::LabelNames, ItemKind::Withheld { .. }) => Ok(ItemGold {
            kind: AnswerKind::Label,
            gold: String::new(),
            options: listed_options(item),
        }),
        (_, ItemKind::SingleChoice { .. }) if template.suite == "c3" => {
            // C3 always shows four options, padding with [NULL].
            let mut options = generic.options;
            options.resize(4, "[NULL]".to_string());
            Ok(ItemGold { options, ..generic })
        }
        _ => Ok(generic),
    }
}

/// How each possible reading of a reply to a withheld `item` under `template` is named in
/// the benchmark's submission: `(reading, label)` pairs, the reading being the option
/// letter as the prompt shows the options (`A` → `entailment` for OCNLI, whose prompt puts
/// 蕴含 first) or, for label-name templates, the label name (`射击游戏` → `16` for iflytek).
/// Empty for an item that is not withheld.
///
/// # Errors
/// [`SuiteError::UnknownTemplate`]; a malformed-record error when a label the template
/// shows is not among the item's options.
pub fn prediction_labels(
    template_name: &str,
    item: &EvalItem,
) -> Result<Vec<(String, String)>, SuiteError> {
    let template = template(template_name)?;
    let ItemKind::Withheld { labels, keys, .. } = &item.kind else {
        return Ok(Vec::new());
    };
    let letter_of = |position: usize| {
        letter(position).map(String::from).ok_or_else(|| {
            item.source.malformed(format!(
                "option {position} has no letter under `{template_name}`"
            ))
        })
    };
    match template.choices {
        ChoiceDisplay::Fixed {
            key_field,
            labels: shown,
        } => {
            // Without a key field the template matches the option text (which is the
            // label for these tasks); with one (tnews's `label_desc`), the option's key.
            let options = listed_options(item);
            let matched: &[String] = match key_field {
                None => &options,
                Some(_) => keys,
            };
            shown
                .iter()
                .enumerate()
                .map(|(position, (key, _))| {
                    let index = matched.iter().position(|known| known == key).ok_or_else(|| {
                        item.source.malformed(format!(
                            "label `{key}` that `{template_name}` shows is not one of the item's labels"
                        ))
                    })?;
                    Ok((letter_of(position)?, labels.get(index).cloned().unwrap_or_default()))
                })
                .collect()
        }
        ChoiceDisplay::LabelNames => Ok(listed_options(item)
            .into_iter()
            .zip(labels.iter().cloned())
            .collect()),
        ChoiceDisplay::AsLoaded | ChoiceDisplay::None => labels
            .iter()
            .enumerate()
            .map(|(position, label)| Ok((letter_of(position)?, label.clone())))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::RecordSource;

    fn item(kind: ItemKind, question: &str, context: Option<&str>) -> EvalItem {
        EvalItem {
            id: "x/1".into(),
            suite: "t".into(),
            subject: "logiqa-zh".into(),
            context: context.map(String::from),
            question: question.into(),
            fields: BTreeMap::new(),
            kind,
            points: None,
            source: RecordSource::at_line(std::path::Path::new("t.jsonl"), 1),
        }
    }

    #[test]
    fn first_token_scoring_is_offered_where_the_prompt_ends_on_the_answer_cue() {
        let first_token: Vec<&str> = templates()
            .filter(|template| template.leads_to_letter())
            .map(|template| template.name)
            .collect();
        assert_eq!(
            first_token,
            [
                "agieval_gen_5c79b4",
                "clue_c3_gen_8c358f",
                "clue_ocnli_gen_c4cb6c",
                "fewclue_tnews_gen_b90e4a",
                "fewclue_ocnli_fc_gen_f97a97",
                "fewclue_cluewsc_gen_c68933",
                "fewclue_csl_gen_28b223",
                "fewclue_bustm_gen_634f41",
                "fewclue_eprstmt_gen_740ea0",
                "fewclue_chid_gen_0a29a2",
            ]
        );
    }

    #[test]
    fn every_suite_has_a_default_template_and_hashes_differ() {
        let mut hashes = std::collections::BTreeSet::new();
        for suite in TaskSuite::all() {
            let name = default_template(suite);
            assert!(!name.is_empty(), "{suite} has a template");
            assert!(template_fits(name, suite));
            assert!(hashes.insert(template_hash(name).expect("hash")));
        }
    }

    #[test]
    fn c3_pads_to_four_choices_and_joins_paragraphs() {
        let mut three = item(
            ItemKind::SingleChoice {
                options: Options::Listed(vec!["甲".into(), "乙".into(), "丙".into()]),
                answer: 2,
            },
            "问什么？",
            Some("男：你好\n女：你好"),
        );
        three.subject = "c3-d".into();
        let messages = render("clue_c3_gen_8c358f", &three).expect("renders");
        assert_eq!(
            messages[0].content,
            "男：你好女：你好\n问：问什么？\nA. 甲\nB. 乙\nC. 丙\nD. [NULL]\n请从“A”，“B”，“C”，“D”中进行选择。\n答："
        );
        let gold = item_gold("clue_c3_gen_8c358f", &three).expect("gold");
        assert_eq!((gold.gold.as_str(), gold.options.len()), ("C", 4));
    }

    #[test]
    fn ocnli_letters_follow_the_prompt_not_the_file() {
        // The loader's order is entailment, neutral, contradiction; the prompt shows
        // 蕴含 (entailment), 矛盾 (contradiction), 无关 (neutral).
        let neutral = item(
            ItemKind::SingleChoice {
                options: Options::Listed(OCNLI_LABELS.map(String::from).to_vec()),
                answer: 1,
            },
            "他去了。",
            Some("他说要去。"),
        );
        let messages = render("clue_ocnli_gen_c4cb6c", &neutral).expect("renders");
        assert_eq!(
            messages[0].content,
            "语句一：“他说要去。”\n语句二：“他去了。”\n请问这两句话是什么关系？\nA. 蕴含\n B. 矛盾\n C. 无关\n请从“A”，“B”，“C”中进行选择。\n答："
        );
        let gold = item_gold("clue_ocnli_gen_c4cb6c", &neutral).expect("gold");
        assert_eq!(gold.gold, "C");
        assert_eq!(gold.options, ["蕴含", "矛盾", "无关"]);
        let fewclue = item_gold("fewclue_ocnli_fc_gen_f97a97", &neutral).expect("gold");
        assert_eq!(
            (fewclue.gold.as_str(), fewclue.options[2].as_str()),
            ("C", "可能")
        );
    }

    #[test]
    fn agieval_glues_the_passage_and_keeps_published_options() {
        let mut question = item(
            ItemKind::SingleChoice {
                options: Options::Listed(vec!["甲".into(), "乙".into()]),
                answer: 0,
            },
            "问题？",
            Some("材料。"),
        );
        question
            .fields
            .insert("options_text".into(), "(A)甲\n(B)乙".into());
        let messages = render("agieval_gen_5c79b4", &question).expect("renders");
        assert_eq!(
            messages[0].content,
            "以下是一道中国公务员考试题，请选择正确的答案。\n材料。问题？\n(A)甲\n(B)乙\n答案是： "
        );
        let cloze = item(
            ItemKind::FreeText {
                answers: vec!["3".into()],
            },
            "1+2=?",
            None,
        );
        let mut cloze = cloze;
        cloze.subject = "gaokao-mathcloze".into();
        assert_eq!(
            render("agieval_gen_5c79b4", &cloze).expect("renders")[0].content,
            "以下是一道中国高考数学填空题，请填入正确的答案。\n1+2=?\n答案是： "
        );
        let mut english = question.clone();
        english.subject = "lsat-ar".into();
        assert!(render("agieval_gen_5c79b4", &english).is_err());
    }

    #[test]
    fn eprstmt_and_chid_keep_their_quirks() {
        let positive = item(
            ItemKind::SingleChoice {
                options: Options::Listed(vec!["Negative".into(), "Positive".into()]),
                answer: 1,
            },
            "很好用",
            None,
        );
        assert_eq!(
            render("fewclue_eprstmt_gen_740ea0", &positive).expect("renders")[0].content,
            "内容： \"很好用\"。请对上述内容进行情绪分类。\nA. 积极\nB. 消极\n请从”A“，”B“中进行选择。\n答："
        );
        assert_eq!(
            item_gold("fewclue_eprstmt_gen_740ea0", &positive)
                .expect("gold")
                .gold,
            "A"
        );
        let candidates: Vec<String> = ["一", "二", "三", "四", "五", "六", "七"]
            .map(String::from)
            .to_vec();
        let idiom = item(
            ItemKind::SingleChoice {
                options: Options::Listed(candidates),
                answer: 3,
            },
            "他#idiom#地走了。",
            None,
        );
        let content = &render("fewclue_chid_gen_0a29a2", &idiom).expect("renders")[0].content;
        assert!(content.starts_with("他______地走了。\n请选择______处所填的词\nA. 一\n"));
        assert!(content.ends_with("G. 七\n请从”A“，”B“，”C“，”D“，”E“，”F“，”G“中进行选择。答："));
    }

    #[test]
    fn cmath_keeps_the_boxed_braces() {
        let question = item(
            ItemKind::Numeric { answer: "3".into() },
            "1+2等于几？",
            None,
        );
        assert_eq!(
            render("cmath_evalscope_0shot", &question).expect("renders")[0].content,
            "1+2等于几？\n请一步一步推理，最后将答案放在\\boxed{}中。\n"
        );
    }

    #[test]
    fn many_labels_are_answered_by_name() {
        let app = item(
            ItemKind::SingleChoice {
                options: Options::Listed(vec!["社区服务".into(), "银行".into()]),
                answer: 1,
            },
            "手机银行",
            None,
        );
        let gold = item_gold("jianzhen_iflytek_labels_v1", &app).expect("gold");
        assert_eq!((gold.kind, gold.gold.as_str()), (AnswerKind::Label, "银行"));
        assert_eq!(
            render("jianzhen_iflytek_labels_v1", &app).expect("renders")[0].content,
            "手机银行\n请判断上述应用描述属于哪一类应用。可选类别：社区服务，银行\n请直接回答类别名称。\n答："
        );
    }
}
