//! Classify an identity answer into the maker and model family it claims, and compare
//! the claims with the vendor the endpoint is declared to be.
//!
//! The classifier is a term table plus context rules, not a model, so that every
//! decision can be traced to the words that caused it:
//! - Terms (ChatGPT, 通义千问, 文心一言, Kimi…) are found case-insensitively; Latin terms
//!   only at word boundaries, so `meta` does not match inside `metadata`. The longest
//!   term wins where terms overlap (`GPT-4o` over `GPT-4`).
//! - A mention preceded in its clause by a negation ("我不是", "not", "unlike", "rather
//!   than") or followed by one ("…无关", "…不同") is a denial, not a claim. Items of a
//!   list inherit the stance of the list's first item ("not affiliated with OpenAI,
//!   Google, or Anthropic").
//! - A mention inside a comparison ("像ChatGPT一样", "such as Claude", "GPT-4等") is a
//!   comparison, and one in a sentence that is about someone else while the answer speaks
//!   of itself elsewhere ("ChatGPT是OpenAI开发的，而我是…") is a third-party mention.
//!   Neither counts as a claim.
//!
//! Self-identification is learnt behaviour: a model trained on ChatGPT's answers says
//! "I am ChatGPT" without being ChatGPT, and a wrapper can make any model say anything
//! with a system prompt. The strength statements say so.
//!
//! # Leading questions are reported apart
//! "Are you ChatGPT?" measures agreement with the question as much as identity: small
//! models say yes to whatever they are asked. So only **unprompted** claims (answers to
//! probes that name no model) count as identity evidence. Answers to leading probes are
//! reported apart ([`LeadingQuestionFindings`]) and calibrated against each other: the
//! probes ask the same model about several makers, and a model that says yes to two or
//! more different makers shows nothing by its yeses. A yes to one maker only is weak
//! evidence at most. And a model whose unprompted answers name its declared vendor at
//! least as often as any other is never called strong evidence of another maker.

use serde::{Deserialize, Serialize};

use crate::evidence::EvidenceStrength;
use crate::probes::{IdentityProbe, ProbeAsks, ProbeKind};

/// The makers the classifier knows. `Unknown` stands for "no maker named".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Maker {
    #[serde(rename = "openai")]
    OpenAi,
    #[serde(rename = "anthropic")]
    Anthropic,
    #[serde(rename = "google")]
    Google,
    #[serde(rename = "meta")]
    Meta,
    #[serde(rename = "alibaba")]
    Alibaba,
    #[serde(rename = "baidu")]
    Baidu,
    #[serde(rename = "zhipu")]
    Zhipu,
    #[serde(rename = "deepseek")]
    DeepSeek,
    #[serde(rename = "moonshot")]
    Moonshot,
    #[serde(rename = "minimax")]
    MiniMax,
    #[serde(rename = "bytedance")]
    ByteDance,
    #[serde(rename = "tencent")]
    Tencent,
    #[serde(rename = "01ai")]
    ZeroOneAi,
    #[serde(rename = "baichuan")]
    Baichuan,
    #[serde(rename = "iflytek")]
    IFlytek,
    #[serde(rename = "sensetime")]
    SenseTime,
    #[serde(rename = "unknown")]
    Unknown,
}

impl Maker {
    /// Every known maker, `Unknown` last.
    pub const ALL: [Maker; 17] = [
        Maker::OpenAi,
        Maker::Anthropic,
        Maker::Google,
        Maker::Meta,
        Maker::Alibaba,
        Maker::Baidu,
        Maker::Zhipu,
        Maker::DeepSeek,
        Maker::Moonshot,
        Maker::MiniMax,
        Maker::ByteDance,
        Maker::Tencent,
        Maker::ZeroOneAi,
        Maker::Baichuan,
        Maker::IFlytek,
        Maker::SenseTime,
        Maker::Unknown,
    ];

    /// The name used in reports, with the model family a reader knows best.
    pub fn display_name(self) -> &'static str {
        match self {
            Maker::OpenAi => "OpenAI",
            Maker::Anthropic => "Anthropic",
            Maker::Google => "Google",
            Maker::Meta => "Meta",
            Maker::Alibaba => "Alibaba (Qwen, 通义千问)",
            Maker::Baidu => "Baidu (ERNIE, 文心一言)",
            Maker::Zhipu => "Zhipu AI (GLM, 智谱)",
            Maker::DeepSeek => "DeepSeek (深度求索)",
            Maker::Moonshot => "Moonshot AI (Kimi, 月之暗面)",
            Maker::MiniMax => "MiniMax (abab, 海螺)",
            Maker::ByteDance => "ByteDance (Doubao, 豆包)",
            Maker::Tencent => "Tencent (Hunyuan, 混元)",
            Maker::ZeroOneAi => "01.AI (Yi, 零一万物)",
            Maker::Baichuan => "Baichuan (百川智能)",
            Maker::IFlytek => "iFlytek (Spark, 讯飞星火)",
            Maker::SenseTime => "SenseTime (SenseNova, 日日新)",
            Maker::Unknown => "unknown",
        }
    }

    /// Reads a declared vendor as people write it in configuration ("alibaba", "Qwen",
    /// "阿里云", "OpenAI", "zhipuai", "01-ai"); `Unknown` when nothing is recognised.
    /// Matching ignores case and punctuation so "Zhipu-AI" and "zhipuai" both work.
    pub fn from_vendor_name(vendor_name: &str) -> Maker {
        let normalised_vendor = normalise_vendor_name(vendor_name);
        if normalised_vendor.is_empty() {
            return Maker::Unknown;
        }
        // Longest terms first, so "chatglm" is not read as something shorter.
        let mut terms: Vec<&MakerTerm> = MAKER_TERMS.iter().collect();
        terms.sort_by_key(|term| std::cmp::Reverse(term.term.len()));
        for term in terms {
            let normalised_term = normalise_vendor_name(term.term);
            if !normalised_term.is_empty() && normalised_vendor.contains(&normalised_term) {
                return term.maker;
            }
        }
        if normalised_vendor.contains("01ai") || normalised_vendor == "yi" {
            return Maker::ZeroOneAi;
        }
        Maker::Unknown
    }
}

impl std::fmt::Display for Maker {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.display_name())
    }
}

fn normalise_vendor_name(name: &str) -> String {
    name.chars()
        .filter(|character| character.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// One row of the term table: the text, who it names, and the model family if the term
/// names a model rather than a company.
struct MakerTerm {
    /// Lower-case; Latin terms are matched at word boundaries.
    term: &'static str,
    maker: Maker,
    model_family: Option<&'static str>,
}

const fn term(term: &'static str, maker: Maker, model_family: Option<&'static str>) -> MakerTerm {
    MakerTerm {
        term,
        maker,
        model_family,
    }
}

/// The term table. Bare words that are common in ordinary text ("Spark", "Yi", "字节",
/// "商量") are left out on purpose: a false claim is worse than a missed one, because
/// claims are what the findings list as contradictions.
const MAKER_TERMS: &[MakerTerm] = &[
    term("openai", Maker::OpenAi, None),
    term("open ai", Maker::OpenAi, None),
    term("chatgpt", Maker::OpenAi, Some("ChatGPT")),
    term("instructgpt", Maker::OpenAi, Some("GPT-3.5")),
    term("gpt-4o", Maker::OpenAi, Some("GPT-4o")),
    term("gpt4o", Maker::OpenAi, Some("GPT-4o")),
    term("gpt-4", Maker::OpenAi, Some("GPT-4")),
    term("gpt4", Maker::OpenAi, Some("GPT-4")),
    term("gpt-3.5", Maker::OpenAi, Some("GPT-3.5")),
    term("gpt3.5", Maker::OpenAi, Some("GPT-3.5")),
    term("gpt-3.5-turbo", Maker::OpenAi, Some("GPT-3.5")),
    term("gpt-3", Maker::OpenAi, Some("GPT-3")),
    term("gpt", Maker::OpenAi, Some("GPT")),
    term("anthropic", Maker::Anthropic, None),
    term("claude", Maker::Anthropic, Some("Claude")),
    term("google", Maker::Google, None),
    term("谷歌", Maker::Google, None),
    term("deepmind", Maker::Google, None),
    term("gemini", Maker::Google, Some("Gemini")),
    term("bard", Maker::Google, Some("Bard")),
    term("palm", Maker::Google, Some("PaLM")),
    term("palm 2", Maker::Google, Some("PaLM")),
    term("lamda", Maker::Google, Some("LaMDA")),
    term("gemma", Maker::Google, Some("Gemma")),
    term("meta", Maker::Meta, None),
    term("meta ai", Maker::Meta, None),
    term("facebook", Maker::Meta, None),
    term("llama", Maker::Meta, Some("Llama")),
    term("羊驼", Maker::Meta, Some("Llama")),
    term("qwen", Maker::Alibaba, Some("Qwen")),
    term("tongyi", Maker::Alibaba, Some("Qwen")),
    term("tongyi qianwen", Maker::Alibaba, Some("Qwen")),
    term("通义千问", Maker::Alibaba, Some("Qwen")),
    term("通义", Maker::Alibaba, Some("Qwen")),
    term("千问", Maker::Alibaba, Some("Qwen")),
    term("alibaba", Maker::Alibaba, None),
    term("alibaba cloud", Maker::Alibaba, None),
    term("aliyun", Maker::Alibaba, None),
    term("阿里巴巴", Maker::Alibaba, None),
    term("阿里云", Maker::Alibaba, None),
    term("阿里", Maker::Alibaba, None),
    term("baidu", Maker::Baidu, None),
    term("百度", Maker::Baidu, None),
    term("ernie", Maker::Baidu, Some("ERNIE")),
    term("ernie bot", Maker::Baidu, Some("ERNIE")),
    term("文心一言", Maker::Baidu, Some("ERNIE")),
    term("文心", Maker::Baidu, Some("ERNIE")),
    term("zhipu", Maker::Zhipu, None),
    term("zhipuai", Maker::Zhipu, None),
    term("智谱", Maker::Zhipu, None),
    term("智谱清言", Maker::Zhipu, Some("GLM")),
    term("chatglm", Maker::Zhipu, Some("GLM")),
    term("glm", Maker::Zhipu, Some("GLM")),
    term("deepseek", Maker::DeepSeek, Some("DeepSeek")),
    term("深度求索", Maker::DeepSeek, None),
    term("moonshot", Maker::Moonshot, None),
    term("moonshot ai", Maker::Moonshot, None),
    term("月之暗面", Maker::Moonshot, None),
    term("kimi", Maker::Moonshot, Some("Kimi")),
    term("minimax", Maker::MiniMax, None),
    term("稀宇", Maker::MiniMax, None),
    term("abab", Maker::MiniMax, Some("abab")),
    term("hailuo", Maker::MiniMax, Some("Hailuo")),
    term("海螺", Maker::MiniMax, Some("Hailuo")),
    term("bytedance", Maker::ByteDance, None),
    term("字节跳动", Maker::ByteDance, None),
    term("doubao", Maker::ByteDance, Some("Doubao")),
    term("豆包", Maker::ByteDance, Some("Doubao")),
    term("skylark", Maker::ByteDance, Some("Skylark")),
    term("云雀大模型", Maker::ByteDance, Some("Skylark")),
    term("tencent", Maker::Tencent, None),
    term("腾讯", Maker::Tencent, None),
    term("hunyuan", Maker::Tencent, Some("Hunyuan")),
    term("混元", Maker::Tencent, Some("Hunyuan")),
    term("01.ai", Maker::ZeroOneAi, None),
    term("01-ai", Maker::ZeroOneAi, None),
    term("零一万物", Maker::ZeroOneAi, None),
    term("yi-large", Maker::ZeroOneAi, Some("Yi")),
    term("yi-lightning", Maker::ZeroOneAi, Some("Yi")),
    term("yi-34b", Maker::ZeroOneAi, Some("Yi")),
    term("yi-6b", Maker::ZeroOneAi, Some("Yi")),
    term("万知", Maker::ZeroOneAi, Some("Yi")),
    term("baichuan", Maker::Baichuan, Some("Baichuan")),
    term("百川智能", Maker::Baichuan, None),
    term("百川", Maker::Baichuan, Some("Baichuan")),
    term("iflytek", Maker::IFlytek, None),
    term("iflytek spark", Maker::IFlytek, Some("Spark")),
    term("sparkdesk", Maker::IFlytek, Some("Spark")),
    term("科大讯飞", Maker::IFlytek, None),
    term("讯飞", Maker::IFlytek, None),
    term("讯飞星火", Maker::IFlytek, Some("Spark")),
    term("星火认知", Maker::IFlytek, Some("Spark")),
    term("星火大模型", Maker::IFlytek, Some("Spark")),
    term("sensetime", Maker::SenseTime, None),
    term("商汤", Maker::SenseTime, None),
    term("sensenova", Maker::SenseTime, Some("SenseNova")),
    term("日日新", Maker::SenseTime, Some("SenseNova")),
    term("sensechat", Maker::SenseTime, Some("SenseChat")),
];

/// What a mention of a maker means in its context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MentionStance {
    /// The answer says it is this model or made by this maker.
    Claim,
    /// The answer says it is not ("我不是ChatGPT", "not affiliated with OpenAI").
    Denial,
    /// Named as something it is like or compared with ("像ChatGPT一样").
    Comparison,
    /// Named in a sentence about someone else while the answer speaks of itself elsewhere.
    ThirdParty,
}

/// One maker or model named in an answer, with what the context makes of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MakerMention {
    pub maker: Maker,
    /// The model family when the term names a model ("GPT-4o", "Qwen"); `None` for a
    /// company name.
    pub model_family: Option<String>,
    /// The text as it appears in the answer, to quote in reports.
    pub matched_text: String,
    /// Byte offset in the answer, so a reader can find the context.
    pub byte_offset: usize,
    pub stance: MentionStance,
    /// True when no maker was named and the claim comes from a "yes" to a leading
    /// question ("你是ChatGPT吗？" → "是的"); weaker, as models often agree to please.
    pub inferred_from_yes_to_leading_question: bool,
}

/// A training-data cutoff the answer states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClaimedCutoff {
    pub year: u16,
    pub month: Option<u8>,
}

impl std::fmt::Display for ClaimedCutoff {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.month {
            Some(month) => write!(formatter, "{}-{month:02}", self.year),
            None => write!(formatter, "{}", self.year),
        }
    }
}

/// The classification of one answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityClassification {
    /// Every maker or model named, in order of appearance.
    pub mentions: Vec<MakerMention>,
    /// The distinct makers claimed, in order of first claim.
    pub claimed_makers: Vec<Maker>,
    /// The first maker claimed, `Unknown` if none.
    pub primary_maker: Maker,
    /// The first model family claimed for the primary maker.
    pub primary_model_family: Option<String>,
    /// The distinct makers explicitly denied.
    pub denied_makers: Vec<Maker>,
    /// Set only for answers to training-cutoff probes.
    pub claimed_cutoff: Option<ClaimedCutoff>,
}

impl IdentityClassification {
    fn from_mentions(mentions: Vec<MakerMention>) -> IdentityClassification {
        let mut claimed_makers = Vec::new();
        let mut denied_makers = Vec::new();
        for mention in &mentions {
            let makers = match mention.stance {
                MentionStance::Claim => &mut claimed_makers,
                MentionStance::Denial => &mut denied_makers,
                MentionStance::Comparison | MentionStance::ThirdParty => continue,
            };
            if !makers.contains(&mention.maker) {
                makers.push(mention.maker);
            }
        }
        let primary_maker = claimed_makers.first().copied().unwrap_or(Maker::Unknown);
        let primary_model_family = mentions
            .iter()
            .filter(|mention| mention.stance == MentionStance::Claim)
            .filter(|mention| mention.maker == primary_maker)
            .find_map(|mention| mention.model_family.clone());
        IdentityClassification {
            mentions,
            claimed_makers,
            primary_maker,
            primary_model_family,
            denied_makers,
            claimed_cutoff: None,
        }
    }
}

/// One probe's answer with its classification, the unit [`compare_with_declared`] reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassifiedAnswer {
    pub probe_id: String,
    pub answer: String,
    pub classification: IdentityClassification,
    /// Set when the probe was a leading question ("Are you ChatGPT?"): the answer then
    /// counts apart from unprompted claims. `None` for other probes and for answers
    /// classified without their probe.
    #[serde(default)]
    pub leading_question: Option<LeadingQuestion>,
}

/// What a leading probe asked and how the model answered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadingQuestion {
    /// The model the question names ("ChatGPT").
    pub named_model: String,
    /// Its maker.
    pub named_maker: Maker,
    pub reply: LeadingReply,
}

/// A reply to "Are you X?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadingReply {
    Yes,
    No,
    /// Neither a yes nor a no can be read (a refusal, a digression).
    Unclear,
}

/// Classifies an answer with no knowledge of the question.
pub fn classify_identity(answer: &str) -> IdentityClassification {
    IdentityClassification::from_mentions(find_mentions(answer))
}

/// Classifies an answer to a known probe: as [`classify_identity`], plus a bare "yes"
/// or "no" to a leading question counts for or against the model it names, and answers
/// to training-cutoff probes have their stated cutoff extracted.
pub fn classify_probe_answer(probe: &IdentityProbe, answer: &str) -> ClassifiedAnswer {
    let mut mentions = find_mentions(answer);
    if let Some(named_model) = &probe.named_model {
        let names_the_model = find_mentions(named_model).into_iter().next();
        let named_maker_mentioned = names_the_model
            .as_ref()
            .is_some_and(|named| mentions.iter().any(|mention| mention.maker == named.maker));
        let no_claim_made = !mentions
            .iter()
            .any(|mention| mention.stance == MentionStance::Claim);
        if let Some(named) = names_the_model
            && !named_maker_mentioned
            && no_claim_made
        {
            let stance = match leading_reply_polarity(answer) {
                Some(true) => Some(MentionStance::Claim),
                Some(false) => Some(MentionStance::Denial),
                None => None,
            };
            if let Some(stance) = stance {
                mentions.insert(
                    0,
                    MakerMention {
                        maker: named.maker,
                        model_family: named.model_family,
                        matched_text: named_model.clone(),
                        byte_offset: 0,
                        stance,
                        inferred_from_yes_to_leading_question: true,
                    },
                );
            }
        }
    }
    let mut classification = IdentityClassification::from_mentions(mentions);
    if probe.asks == ProbeAsks::TrainingCutoff {
        classification.claimed_cutoff = extract_claimed_cutoff(answer);
    }
    let leading_question = leading_question_of(probe, answer, &classification);
    ClassifiedAnswer {
        probe_id: probe.id.clone(),
        answer: answer.to_owned(),
        classification,
        leading_question,
    }
}

/// For a leading probe, the maker it names and whether the reply agrees. An opening yes
/// or no decides; otherwise a claim of the named maker is a yes and a denial of it, or a
/// claim of another maker only, a no.
fn leading_question_of(
    probe: &IdentityProbe,
    answer: &str,
    classification: &IdentityClassification,
) -> Option<LeadingQuestion> {
    if probe.kind != ProbeKind::Leading {
        return None;
    }
    let named_model = probe.named_model.as_ref()?;
    let named_maker = find_mentions(named_model).first()?.maker;
    let reply = match leading_reply_polarity(answer) {
        Some(true) => LeadingReply::Yes,
        Some(false) => LeadingReply::No,
        None if classification.claimed_makers.contains(&named_maker) => LeadingReply::Yes,
        None if classification.denied_makers.contains(&named_maker)
            || !classification.claimed_makers.is_empty() =>
        {
            LeadingReply::No
        }
        None => LeadingReply::Unclear,
    };
    Some(LeadingQuestion {
        named_model: named_model.clone(),
        named_maker,
        reply,
    })
}

/// Whether a reply to a yes/no question opens with yes (`Some(true)`) or no.
fn leading_reply_polarity(answer: &str) -> Option<bool> {
    let opening = answer
        .trim_start_matches(|character: char| {
            character.is_whitespace() || "\"'“”‘’*".contains(character)
        })
        .to_ascii_lowercase();
    const NEGATIVE_OPENINGS: &[&str] = &["不", "没有", "并不", "并非", "no", "nope", "not "];
    const POSITIVE_OPENINGS: &[&str] = &[
        "是的",
        "对",
        "没错",
        "正是",
        "yes",
        "yeah",
        "yep",
        "correct",
        "that's right",
        "indeed",
    ];
    if NEGATIVE_OPENINGS
        .iter()
        .any(|opening_word| starts_with_word(&opening, opening_word))
    {
        return Some(false);
    }
    if POSITIVE_OPENINGS
        .iter()
        .any(|opening_word| starts_with_word(&opening, opening_word))
        || (opening.starts_with('是') && !opening.starts_with("是否"))
    {
        return Some(true);
    }
    None
}

fn starts_with_word(text: &str, word: &str) -> bool {
    if !text.starts_with(word) {
        return false;
    }
    // "no" must not match "nobody"; Chinese has no word boundaries to check.
    let is_latin_word = word
        .chars()
        .all(|character| character.is_ascii_alphabetic());
    !is_latin_word
        || !text[word.len()..]
            .chars()
            .next()
            .is_some_and(|character| character.is_ascii_alphanumeric())
}

/// Finds every term of the table in the answer and decides each mention's stance.
fn find_mentions(answer: &str) -> Vec<MakerMention> {
    // ASCII lower-casing keeps byte offsets identical to the original text.
    let lowered = answer.to_ascii_lowercase();
    let mut spans: Vec<(usize, usize, &MakerTerm)> = Vec::new();
    for maker_term in MAKER_TERMS {
        let is_latin = maker_term.term.is_ascii();
        for (start, _) in lowered.match_indices(maker_term.term) {
            let end = start + maker_term.term.len();
            if is_latin && !is_at_word_boundaries(&lowered, start, end) {
                continue;
            }
            spans.push((start, end, maker_term));
        }
    }
    // Longest first at each start, then drop spans overlapping a kept one.
    spans.sort_by(|left, right| left.0.cmp(&right.0).then(right.1.cmp(&left.1)));
    let mut kept: Vec<(usize, usize, &MakerTerm)> = Vec::new();
    for span in spans {
        if kept.last().is_some_and(|last| span.0 < last.1) {
            continue;
        }
        kept.push(span);
    }

    let answer_refers_to_itself = contains_self_reference(&lowered);
    let mut mentions: Vec<MakerMention> = Vec::with_capacity(kept.len());
    let mut previous_span: Option<(usize, usize)> = None;
    for (start, end, maker_term) in kept {
        let stance = match previous_span {
            Some((_, previous_end))
                if continues_a_list(&lowered, previous_end, start, end)
                    && mentions.last().is_some() =>
            {
                mentions
                    .last()
                    .map(|previous| previous.stance)
                    .unwrap_or(MentionStance::Claim)
            }
            _ => stance_in_context(&lowered, start, end, answer_refers_to_itself),
        };
        mentions.push(MakerMention {
            maker: maker_term.maker,
            model_family: maker_term.model_family.map(str::to_owned),
            matched_text: answer[start..end].to_owned(),
            byte_offset: start,
            stance,
            inferred_from_yes_to_leading_question: false,
        });
        previous_span = Some((start, end));
    }
    mentions
}

fn is_at_word_boundaries(text: &str, start: usize, end: usize) -> bool {
    let before_is_word = text[..start]
        .chars()
        .next_back()
        .is_some_and(|character| character.is_ascii_alphanumeric());
    let after_is_word = text[end..]
        .chars()
        .next()
        .is_some_and(|character| character.is_ascii_alphanumeric());
    !before_is_word && !after_is_word
}

/// Characters that end a clause. A full stop only ends one before whitespace or the end
/// of the text, so "01.AI" and "GPT-3.5" stay whole.
fn is_clause_boundary(
    text: &str,
    byte_index: usize,
    character: char,
    include_commas: bool,
) -> bool {
    match character {
        '。' | '！' | '？' | '!' | '?' | '；' | ';' | '\n' => true,
        '，' | ',' => include_commas,
        '.' => text[byte_index + 1..]
            .chars()
            .next()
            .is_none_or(char::is_whitespace),
        _ => false,
    }
}

/// Byte range of the clause (or, without commas, the sentence) around `start..end`.
fn enclosing_range(text: &str, start: usize, end: usize, include_commas: bool) -> (usize, usize) {
    let range_start = text[..start]
        .char_indices()
        .rev()
        .find(|&(index, character)| is_clause_boundary(text, index, character, include_commas))
        .map(|(index, character)| index + character.len_utf8())
        .unwrap_or(0);
    let range_end = text[end..]
        .char_indices()
        .find(|&(index, character)| {
            is_clause_boundary(text, end + index, character, include_commas)
        })
        .map(|(index, _)| end + index)
        .unwrap_or(text.len());
    (range_start, range_end)
}

/// Words after which what came before no longer governs what follows
/// ("我不是ChatGPT，而是通义千问").
const CONTRAST_RESETS: &[&str] = &[
    "but", "however", "instead", "但是", "但", "不过", "而是", "而我",
];

const NEGATIONS_BEFORE: &[&str] = &[
    "not",
    "n't",
    "n’t",
    "cannot",
    "never",
    "unlike",
    "rather than",
    "instead of",
    "neither",
    "nor",
    "other than",
    "no affiliation",
    "no relation",
    "no connection",
    "without",
    "不是",
    "并非",
    "不属于",
    "不同于",
    "不像",
    "不隶属",
    "不基于",
    "并不",
    "而不是",
    "没有",
    "不由",
    "区别于",
    "有别于",
    "不来自",
    "不使用",
    "否认",
];

const NEGATIONS_AFTER: &[&str] = &[
    "无关",
    "没有关系",
    "没有任何关系",
    "毫无关系",
    "无关联",
    "没有关联",
    "不同",
    "不一样",
    "有区别",
    "不是同一",
    "是另一",
    "是其他",
    "不是我",
    "is not me",
    "isn't me",
    "is a different",
    "are different",
    "has nothing to do",
    "is another",
];

/// Comparisons, and questions the answer leaves open ("whether I'm related to ChatGPT").
const COMPARISONS_BEFORE: &[&str] = &[
    "like",
    "whether",
    "是否",
    "such as",
    "similar to",
    "compared to",
    "compared with",
    "including",
    "e.g",
    "alongside",
    "类似",
    "像",
    "比如",
    "例如",
    "诸如",
    "包括",
    "如同",
    "对比",
    "其他",
    "other",
];

const COMPARISONS_AFTER_AT_START: &[&str] =
    &["等", "之类", "一样", "and other", "etc", "and others"];
const COMPARISONS_AFTER_ANYWHERE: &[&str] = &["相比", "类似", "相似", "相当", "相提并论", "一样"];

const SELF_REFERENCES: &[&str] = &[
    "我",
    "本模型",
    "本助手",
    "作为",
    "i",
    "i'm",
    "i’m",
    "im",
    "me",
    "my",
    "myself",
    "i've",
    "i'd",
    "as an ai",
    "as a language model",
    "as an assistant",
    "this model",
    "this assistant",
];

/// Finds a cue as a word: Latin cues need word boundaries ("not" is not in "note"), "非"
/// style Chinese cues need none. Returns the byte offset just past the last occurrence.
fn last_cue_end(text: &str, cues: &[&str]) -> Option<usize> {
    cues.iter()
        .filter_map(|cue| {
            text.match_indices(cue)
                .filter(|(index, _)| cue_is_whole_word(text, *index, cue))
                .map(|(index, _)| index + cue.len())
                .last()
        })
        .max()
}

fn cue_is_whole_word(text: &str, index: usize, cue: &str) -> bool {
    // "n't" is a suffix ("don't", "isn't"): it must follow a letter, not a boundary.
    let is_contraction_suffix = cue.starts_with("n'") || cue.starts_with("n’");
    let cue_starts_latin =
        !is_contraction_suffix && cue.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    let cue_ends_latin = cue.chars().last().is_some_and(|c| c.is_ascii_alphabetic());
    let before_ok = !cue_starts_latin
        || !text[..index]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    let after_ok = !cue_ends_latin
        || !text[index + cue.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    before_ok && after_ok
}

fn contains_cue(text: &str, cues: &[&str]) -> bool {
    last_cue_end(text, cues).is_some()
}

fn contains_self_reference(text: &str) -> bool {
    contains_cue(text, SELF_REFERENCES)
}

/// The stance of a mention from the words around it.
fn stance_in_context(
    lowered: &str,
    start: usize,
    end: usize,
    answer_refers_to_itself: bool,
) -> MentionStance {
    let (clause_start, clause_end) = enclosing_range(lowered, start, end, true);
    let mut before = &lowered[clause_start..start];
    if let Some(reset_end) = last_cue_end(before, CONTRAST_RESETS) {
        before = &before[reset_end..];
    }
    let after = &lowered[end..clause_end];

    if contains_cue(before, NEGATIONS_BEFORE) || contains_cue(after, NEGATIONS_AFTER) {
        return MentionStance::Denial;
    }
    let after_trimmed = after.trim_start();
    if contains_cue(before, COMPARISONS_BEFORE)
        || COMPARISONS_AFTER_AT_START
            .iter()
            .any(|cue| after_trimmed.starts_with(cue))
        || contains_cue(after, COMPARISONS_AFTER_ANYWHERE)
    {
        return MentionStance::Comparison;
    }
    if answer_refers_to_itself && !sentence_refers_to_itself(lowered, start, end) {
        return MentionStance::ThirdParty;
    }
    MentionStance::Claim
}

/// Whether the mention's sentence speaks of the answerer, looking before the mention and
/// after it up to a contrast ("ChatGPT是OpenAI开发的，而我是…" is about ChatGPT).
fn sentence_refers_to_itself(lowered: &str, start: usize, end: usize) -> bool {
    let (sentence_start, sentence_end) = enclosing_range(lowered, start, end, false);
    let before = &lowered[sentence_start..start];
    let mut after = &lowered[end..sentence_end];
    const CONTRASTS_AFTER: &[&str] = &["而", "but", "while", "whereas", "however", "但", "不过"];
    if let Some(contrast_start) = CONTRASTS_AFTER
        .iter()
        .filter_map(|cue| {
            after
                .match_indices(cue)
                .find(|(index, _)| cue_is_whole_word(after, *index, cue))
                .map(|(index, _)| index)
        })
        .min()
    {
        after = &after[..contrast_start];
    }
    contains_self_reference(before) || contains_self_reference(after)
}

/// Whether the text between two mentions only joins list items ("OpenAI, Google, or
/// Anthropic", "ChatGPT、Claude或Gemini"), so the second inherits the first's stance.
fn continues_a_list(lowered: &str, previous_end: usize, start: usize, end: usize) -> bool {
    let between = lowered[previous_end..start].trim();
    const CONNECTOR_WORDS: &[&str] = &[
        "and",
        "or",
        "nor",
        "和",
        "或者",
        "或",
        "与",
        "及",
        "以及",
        "还是",
        "跟",
        "也不是",
    ];
    let mut remaining = between;
    let mut saw_connector_word_or_enumeration_comma = false;
    loop {
        remaining = remaining.trim_start();
        if remaining.is_empty() {
            break;
        }
        if let Some(rest) = remaining
            .strip_prefix(',')
            .or_else(|| remaining.strip_prefix('，'))
            .or_else(|| remaining.strip_prefix('/'))
            .or_else(|| remaining.strip_prefix('&'))
        {
            remaining = rest;
            continue;
        }
        if let Some(rest) = remaining.strip_prefix('、') {
            saw_connector_word_or_enumeration_comma = true;
            remaining = rest;
            continue;
        }
        let connector = CONNECTOR_WORDS
            .iter()
            .find(|word| remaining.starts_with(**word) && cue_is_whole_word(remaining, 0, word));
        match connector {
            Some(word) => {
                saw_connector_word_or_enumeration_comma = true;
                remaining = &remaining[word.len()..];
            }
            None => return false,
        }
    }
    if between.is_empty() {
        // Adjacent terms ("OpenAI ChatGPT") are one phrase.
        return true;
    }
    if saw_connector_word_or_enumeration_comma {
        return true;
    }
    // Only commas between: a list item only if nothing else follows in its own clause,
    // so "我不是ChatGPT，通义千问是我的名字" does not inherit the denial.
    let (_, clause_end) = enclosing_range(lowered, start, end, true);
    lowered[end..clause_end].trim().is_empty()
}

const ENGLISH_MONTHS: &[(&str, u8)] = &[
    ("january", 1),
    ("february", 2),
    ("march", 3),
    ("april", 4),
    ("may", 5),
    ("june", 6),
    ("july", 7),
    ("august", 8),
    ("september", 9),
    ("october", 10),
    ("november", 11),
    ("december", 12),
    ("jan", 1),
    ("feb", 2),
    ("mar", 3),
    ("apr", 4),
    ("jun", 6),
    ("jul", 7),
    ("aug", 8),
    ("sept", 9),
    ("sep", 9),
    ("oct", 10),
    ("nov", 11),
    ("dec", 12),
];

/// The first year from 2000 to 2039 in the answer, with the month when it is written
/// next to it ("2023年10月", "October 2023", "2023-10"). Later years in the same answer
/// ("…as of 2024, I cannot browse") are ignored: cutoff answers state it first.
pub fn extract_claimed_cutoff(answer: &str) -> Option<ClaimedCutoff> {
    let lowered = answer.to_ascii_lowercase();
    let bytes = lowered.as_bytes();
    let mut index = 0;
    while index + 4 <= bytes.len() {
        let candidate = &bytes[index..index + 4];
        let is_four_digits = candidate.iter().all(u8::is_ascii_digit);
        let digit_before = index > 0 && bytes[index - 1].is_ascii_digit();
        let digit_after = bytes.get(index + 4).is_some_and(u8::is_ascii_digit);
        if is_four_digits && !digit_before && !digit_after {
            let year: u16 = lowered[index..index + 4].parse().unwrap_or(0);
            if (2000..2040).contains(&year) {
                let month = month_after_year(&lowered[index + 4..])
                    .or_else(|| month_before_year(&lowered[..index]));
                return Some(ClaimedCutoff { year, month });
            }
        }
        index += 1;
    }
    None
}

fn month_after_year(after: &str) -> Option<u8> {
    let rest = after
        .strip_prefix('年')
        .or_else(|| after.strip_prefix('-'))
        .or_else(|| after.strip_prefix('/'))
        .or_else(|| after.strip_prefix('.'))?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let month: u8 = digits.parse().ok()?;
    (1..=12).contains(&month).then_some(month)
}

fn month_before_year(before: &str) -> Option<u8> {
    let before = before.trim_end().trim_end_matches(',').trim_end();
    ENGLISH_MONTHS.iter().find_map(|(name, month)| {
        let ends_with_month = before.ends_with(name)
            && !before[..before.len() - name.len()]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphabetic());
        ends_with_month.then_some(*month)
    })
}

/// An answer that claims a maker other than the declared vendor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityContradiction {
    pub probe_id: String,
    pub claimed_maker: Maker,
    pub claimed_model_family: Option<String>,
    /// The words that carried the claim, quoted in reports.
    pub matched_text: String,
    pub inferred_from_yes_to_leading_question: bool,
    /// The answer was to a leading question: listed, but not identity evidence.
    #[serde(default)]
    pub from_leading_question: bool,
}

/// How many answers claimed one maker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MakerClaimCount {
    pub maker: Maker,
    pub answers: usize,
}

/// A training cutoff stated in one answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CutoffClaim {
    pub probe_id: String,
    pub cutoff: ClaimedCutoff,
}

/// What the identity answers show against the declared vendor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityFindings {
    pub declared_vendor: Maker,
    pub answers_total: usize,
    /// Answers that claim at least one maker, leading questions included.
    pub answers_with_claim: usize,
    /// Answers to probes that name no model and that claim at least one maker: the only
    /// answers that count as identity evidence.
    #[serde(default)]
    pub unprompted_answers_with_claim: usize,
    /// Probes whose answer claims the declared vendor and no one else.
    pub consistent_probe_ids: Vec<String>,
    /// One entry per probe and other maker claimed; those from leading questions are
    /// marked and do not count towards the strength.
    pub contradictions: Vec<IdentityContradiction>,
    /// Probes whose answer claims no maker (refusals, "我是一个AI助手").
    pub probe_ids_without_claim: Vec<String>,
    /// Makers claimed in unprompted answers, most answers first.
    pub claimed_maker_counts: Vec<MakerClaimCount>,
    pub claimed_cutoffs: Vec<CutoffClaim>,
    /// Answers to leading questions, calibrated across the makers they name; `None` when
    /// no leading probe was answered.
    #[serde(default)]
    pub leading: Option<LeadingQuestionFindings>,
    pub strength: EvidenceStrength,
    /// One or two plain sentences for the report.
    pub statement: String,
}

impl IdentityFindings {
    /// Distinct probes with at least one contradiction, leading questions included.
    pub fn contradicting_probe_count(&self) -> usize {
        count_distinct_probes(self.contradictions.iter())
    }

    /// Distinct unprompted probes with at least one contradiction: what the strength
    /// rests on.
    pub fn unprompted_contradicting_probe_count(&self) -> usize {
        count_distinct_probes(
            self.contradictions
                .iter()
                .filter(|contradiction| !contradiction.from_leading_question),
        )
    }
}

fn count_distinct_probes<'a>(
    contradictions: impl Iterator<Item = &'a IdentityContradiction>,
) -> usize {
    let mut probe_ids: Vec<&str> = contradictions
        .map(|contradiction| contradiction.probe_id.as_str())
        .collect();
    probe_ids.sort_unstable();
    probe_ids.dedup();
    probe_ids.len()
}

/// How one maker fared in the leading questions that named it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadingReplies {
    pub maker: Maker,
    pub asked: usize,
    pub yes: usize,
    pub no: usize,
}

/// The leading questions, reported apart from unprompted claims. The set asks about
/// several makers, so it calibrates itself: yeses to two or more different makers are
/// agreement with the question, not identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadingQuestionFindings {
    /// Leading questions answered.
    pub answered: usize,
    /// Per maker named, in maker order.
    pub by_maker: Vec<LeadingReplies>,
    /// Distinct makers the model said yes to (its declared vendor included).
    pub makers_agreed_to: Vec<Maker>,
    /// At most weak: only a yes to one maker other than the declared vendor says
    /// anything, and even that is easily swayed.
    pub strength: EvidenceStrength,
    pub statement: String,
}

fn leading_question_findings(
    declared_vendor: Maker,
    answers: &[ClassifiedAnswer],
) -> Option<LeadingQuestionFindings> {
    let mut by_maker: std::collections::BTreeMap<Maker, LeadingReplies> = Default::default();
    let mut answered = 0;
    for leading in answers
        .iter()
        .filter_map(|answer| answer.leading_question.as_ref())
    {
        answered += 1;
        let replies = by_maker
            .entry(leading.named_maker)
            .or_insert(LeadingReplies {
                maker: leading.named_maker,
                asked: 0,
                yes: 0,
                no: 0,
            });
        replies.asked += 1;
        match leading.reply {
            LeadingReply::Yes => replies.yes += 1,
            LeadingReply::No => replies.no += 1,
            LeadingReply::Unclear => {}
        }
    }
    if answered == 0 {
        return None;
    }
    let by_maker: Vec<LeadingReplies> = by_maker.into_values().collect();
    let makers_agreed_to: Vec<Maker> = by_maker
        .iter()
        .filter(|replies| replies.yes > 0)
        .map(|replies| replies.maker)
        .collect();
    let total_yes: usize = by_maker.iter().map(|replies| replies.yes).sum();
    let names = |makers: &[Maker]| {
        makers
            .iter()
            .map(|maker| maker.display_name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let makers_asked = by_maker.len();
    let (strength, statement) = match makers_agreed_to.as_slice() {
        [] => (
            EvidenceStrength::None,
            format!(
                "leading questions (\"Are you X?\", reported apart): no yes to any of the {answered} questions about {makers_asked} makers"
            ),
        ),
        [only] if *only == declared_vendor => (
            EvidenceStrength::None,
            format!(
                "leading questions (\"Are you X?\", reported apart): yes only to questions naming {} ({total_yes} of {answered} answered)",
                only.display_name()
            ),
        ),
        [only] => {
            let denied_others = by_maker
                .iter()
                .filter(|replies| replies.maker != *only && replies.no > 0)
                .count();
            let calibration = if denied_others > 0 {
                format!("and no to questions about {denied_others} other makers")
            } else {
                "with no question about another maker answered no, so the yeses are not calibrated"
                    .to_owned()
            };
            (
                EvidenceStrength::Weak,
                format!(
                    "leading questions (\"Are you X?\", reported apart): yes to questions naming {} ({total_yes} of {answered} answered) {calibration}; weak evidence at most, as models often agree to please",
                    only.display_name()
                ),
            )
        }
        several => (
            EvidenceStrength::None,
            format!(
                "leading questions (\"Are you X?\", reported apart): yes to questions naming {} different makers ({}; {total_yes} of {answered} answered): the model agrees with whatever it is asked, so these answers show nothing about its identity",
                several.len(),
                names(several)
            ),
        ),
    };
    Some(LeadingQuestionFindings {
        answered,
        by_maker,
        makers_agreed_to,
        strength,
        statement,
    })
}

/// Compares the makers the answers claim with the declared vendor, lists contradictions
/// with their probe ids and states the strength of what they show. Only unprompted
/// answers count towards the strength; leading questions are judged apart (see the
/// module documentation).
pub fn compare_with_declared(
    declared_vendor: Maker,
    answers: &[ClassifiedAnswer],
) -> IdentityFindings {
    let mut consistent_probe_ids = Vec::new();
    let mut contradictions = Vec::new();
    let mut probe_ids_without_claim = Vec::new();
    let mut claimed_cutoffs = Vec::new();
    let mut answers_per_maker: std::collections::BTreeMap<Maker, usize> = Default::default();
    let mut answers_with_claim = 0;
    let mut unprompted_answers_with_claim = 0;

    for answer in answers {
        let classification = &answer.classification;
        let from_leading_question = answer.leading_question.is_some();
        if let Some(cutoff) = classification.claimed_cutoff {
            claimed_cutoffs.push(CutoffClaim {
                probe_id: answer.probe_id.clone(),
                cutoff,
            });
        }
        if classification.claimed_makers.is_empty() {
            probe_ids_without_claim.push(answer.probe_id.clone());
            continue;
        }
        answers_with_claim += 1;
        if !from_leading_question {
            unprompted_answers_with_claim += 1;
            for maker in &classification.claimed_makers {
                *answers_per_maker.entry(*maker).or_default() += 1;
            }
        }
        let mut contradicted = false;
        for maker in &classification.claimed_makers {
            if *maker == declared_vendor || declared_vendor == Maker::Unknown {
                continue;
            }
            contradicted = true;
            // Quote the first claim of that maker, preferring one that names a model.
            let claims_of_maker: Vec<&MakerMention> = classification
                .mentions
                .iter()
                .filter(|mention| mention.stance == MentionStance::Claim && mention.maker == *maker)
                .collect();
            let quoted = claims_of_maker
                .iter()
                .find(|mention| mention.model_family.is_some())
                .or(claims_of_maker.first());
            if let Some(quoted) = quoted {
                contradictions.push(IdentityContradiction {
                    probe_id: answer.probe_id.clone(),
                    claimed_maker: *maker,
                    claimed_model_family: quoted.model_family.clone(),
                    matched_text: quoted.matched_text.clone(),
                    inferred_from_yes_to_leading_question: quoted
                        .inferred_from_yes_to_leading_question,
                    from_leading_question,
                });
            }
        }
        if !contradicted
            && !from_leading_question
            && classification.claimed_makers.contains(&declared_vendor)
        {
            consistent_probe_ids.push(answer.probe_id.clone());
        }
    }

    let mut claimed_maker_counts: Vec<MakerClaimCount> = answers_per_maker
        .into_iter()
        .map(|(maker, answers)| MakerClaimCount { maker, answers })
        .collect();
    claimed_maker_counts.sort_by(|left, right| {
        right
            .answers
            .cmp(&left.answers)
            .then(left.maker.cmp(&right.maker))
    });

    let mut findings = IdentityFindings {
        declared_vendor,
        answers_total: answers.len(),
        answers_with_claim,
        unprompted_answers_with_claim,
        consistent_probe_ids,
        contradictions,
        probe_ids_without_claim,
        claimed_maker_counts,
        claimed_cutoffs,
        leading: leading_question_findings(declared_vendor, answers),
        strength: EvidenceStrength::Insufficient,
        statement: String::new(),
    };
    let (strength, statement) = identity_strength_statement(&findings);
    findings.strength = strength;
    findings.statement = statement;
    findings
}

/// The overall strength and statement: the unprompted claims decide; the leading
/// questions add at most weak evidence, and only where the unprompted claims say
/// nothing; their own statement follows.
fn identity_strength_statement(findings: &IdentityFindings) -> (EvidenceStrength, String) {
    let (unprompted_strength, unprompted_statement) = unprompted_strength_statement(findings);
    let Some(leading) = &findings.leading else {
        return (unprompted_strength, unprompted_statement);
    };
    let strength = if unprompted_strength <= EvidenceStrength::None
        && leading.strength > EvidenceStrength::None
    {
        leading.strength
    } else {
        unprompted_strength
    };
    (
        strength,
        format!("{unprompted_statement}; {}", leading.statement),
    )
}

fn unprompted_strength_statement(findings: &IdentityFindings) -> (EvidenceStrength, String) {
    let claims_text = findings
        .claimed_maker_counts
        .iter()
        .map(|count| format!("{} ({} answers)", count.maker.display_name(), count.answers))
        .collect::<Vec<_>>()
        .join(", ");
    let unprompted_total = findings.answers_total.saturating_sub(
        findings
            .leading
            .as_ref()
            .map_or(0, |leading| leading.answered),
    );
    if findings.unprompted_answers_with_claim == 0 {
        return (
            EvidenceStrength::Insufficient,
            format!(
                "none of the {unprompted_total} unprompted answers names a maker, so the identity probes say nothing about provenance here"
            ),
        );
    }
    if findings.declared_vendor == Maker::Unknown {
        return (
            EvidenceStrength::None,
            format!(
                "no declared vendor to compare with; {} of {unprompted_total} unprompted answers name a maker: {claims_text}",
                findings.unprompted_answers_with_claim
            ),
        );
    }
    let contradicting = findings.unprompted_contradicting_probe_count();
    let consistent = findings.consistent_probe_ids.len();
    let declared = findings.declared_vendor.display_name();
    if contradicting == 0 {
        return (
            EvidenceStrength::None,
            format!(
                "all {} unprompted answers that name a maker name the declared vendor {declared}; a system prompt or fine-tuning sets these answers easily, so this does not show the model is {declared}'s own",
                findings.unprompted_answers_with_claim
            ),
        );
    }
    let mut other_makers: Vec<Maker> = findings
        .contradictions
        .iter()
        .filter(|contradiction| !contradiction.from_leading_question)
        .map(|contradiction| contradiction.claimed_maker)
        .collect();
    other_makers.sort();
    other_makers.dedup();
    let other_makers_text = other_makers
        .iter()
        .map(|maker| maker.display_name())
        .collect::<Vec<_>>()
        .join(", ");
    let total = findings.unprompted_answers_with_claim;
    // Strong needs the other maker named more often than the declared vendor: a model
    // that mostly names its own maker and sometimes repeats "ChatGPT" from web text is
    // the genuine vendor's ordinary behaviour, not a sign of another maker.
    let strength = if contradicting >= 3 && contradicting * 2 >= total && contradicting > consistent
    {
        EvidenceStrength::Strong
    } else if contradicting >= 2 && contradicting * 3 >= total {
        EvidenceStrength::Moderate
    } else {
        EvidenceStrength::Weak
    };
    let meaning = match strength {
        EvidenceStrength::Strong => format!(
            "{}: the model learnt to call itself {other_makers_text}, either because it is served by that model or because it was trained on its outputs; the answers cannot tell which, and do not by themselves prove a wrapper",
            strength.label()
        ),
        EvidenceStrength::Moderate => format!(
            "{}: models trained on another model's outputs or on web text quoting it also say this, so it calls for the tokenizer and wrong-answer checks rather than proving anything",
            strength.label()
        ),
        _ if consistent > 0 => format!(
            "{}: {consistent} unprompted answers name the declared vendor itself, and a few answers naming another maker are common in models trained on web text that quotes ChatGPT",
            strength.label()
        ),
        _ => format!(
            "{}: a single answer naming another maker is common in models trained on web text that quotes ChatGPT",
            strength.label()
        ),
    };
    (
        strength,
        format!(
            "{contradicting} of {total} unprompted answers that name a maker name {other_makers_text} instead of the declared vendor {declared}; {meaning}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::identity_probes;

    /// (answer, expected primary maker, expected model family, expected denied makers)
    type Case = (&'static str, Maker, Option<&'static str>, &'static [Maker]);

    #[rustfmt::skip]
    const CASES: &[Case] = &[
        ("我是ChatGPT，由OpenAI开发的大型语言模型。", Maker::OpenAi, Some("ChatGPT"), &[]),
        ("I am ChatGPT, a large language model trained by OpenAI.", Maker::OpenAi, Some("ChatGPT"), &[]),
        ("I'm based on GPT-3.5.", Maker::OpenAi, Some("GPT-3.5"), &[]),
        ("I'm GPT-4o, OpenAI's model.", Maker::OpenAi, Some("GPT-4o"), &[]),
        ("我是基于GPT-4架构的模型。", Maker::OpenAi, Some("GPT-4"), &[]),
        ("As an AI language model developed by OpenAI, I cannot browse the internet.", Maker::OpenAi, None, &[]),
        ("I am Claude, an AI assistant made by Anthropic.", Maker::Anthropic, Some("Claude"), &[]),
        ("我是Claude，由Anthropic公司开发。", Maker::Anthropic, Some("Claude"), &[]),
        ("I am Gemini, a large language model built by Google.", Maker::Google, Some("Gemini"), &[]),
        ("I'm Bard, Google's experimental conversational AI.", Maker::Google, Some("Bard"), &[]),
        ("I am based on PaLM 2.", Maker::Google, Some("PaLM"), &[]),
        ("我是谷歌训练的语言模型。", Maker::Google, None, &[]),
        ("I'm Llama, a model from Meta AI.", Maker::Meta, Some("Llama"), &[]),
        ("我是通义千问，是阿里云自主研发的超大规模语言模型。", Maker::Alibaba, Some("Qwen"), &[]),
        ("I am Qwen, created by Alibaba Cloud.", Maker::Alibaba, Some("Qwen"), &[]),
        ("我是文心一言，英文名是ERNIE Bot，由百度开发。", Maker::Baidu, Some("ERNIE"), &[]),
        ("我是ChatGLM，由智谱AI和清华大学KEG实验室联合训练的语言模型。", Maker::Zhipu, Some("GLM"), &[]),
        ("我是智谱清言，智谱AI开发的助手。", Maker::Zhipu, Some("GLM"), &[]),
        ("我是DeepSeek，由深度求索公司开发的智能助手。", Maker::DeepSeek, Some("DeepSeek"), &[]),
        ("你好，我是Kimi，由月之暗面科技有限公司开发的人工智能助手。", Maker::Moonshot, Some("Kimi"), &[]),
        ("I am Kimi, developed by Moonshot AI.", Maker::Moonshot, Some("Kimi"), &[]),
        ("我是海螺AI，由MiniMax开发。", Maker::MiniMax, Some("Hailuo"), &[]),
        ("我基于abab大模型，由MiniMax研发。", Maker::MiniMax, Some("abab"), &[]),
        ("我是豆包，是字节跳动开发的人工智能。", Maker::ByteDance, Some("Doubao"), &[]),
        ("I'm Doubao, an assistant built by ByteDance.", Maker::ByteDance, Some("Doubao"), &[]),
        ("我是腾讯混元大模型。", Maker::Tencent, Some("Hunyuan"), &[]),
        ("我是由零一万物开发的Yi-Large模型。", Maker::ZeroOneAi, Some("Yi"), &[]),
        ("I was developed by 01.AI.", Maker::ZeroOneAi, None, &[]),
        ("我是百川智能开发的百川大模型。", Maker::Baichuan, Some("Baichuan"), &[]),
        ("我是讯飞星火认知大模型，由科大讯飞研发。", Maker::IFlytek, Some("Spark"), &[]),
        ("我是商汤科技的日日新大模型。", Maker::SenseTime, Some("SenseNova"), &[]),
        ("I am SenseNova, developed by SenseTime.", Maker::SenseTime, Some("SenseNova"), &[]),
        // Negations do not count as claims.
        ("我不是ChatGPT，我是通义千问。", Maker::Alibaba, Some("Qwen"), &[Maker::OpenAi]),
        ("我不是ChatGPT，而是百度开发的文心一言。", Maker::Baidu, Some("ERNIE"), &[Maker::OpenAi]),
        ("I am not affiliated with OpenAI.", Maker::Unknown, None, &[Maker::OpenAi]),
        ("I am not affiliated with OpenAI, Google, or Anthropic.", Maker::Unknown, None, &[Maker::OpenAi, Maker::Google, Maker::Anthropic]),
        ("Unlike ChatGPT, I was developed by Baidu.", Maker::Baidu, None, &[Maker::OpenAi]),
        ("I'm Qwen rather than ChatGPT.", Maker::Alibaba, Some("Qwen"), &[Maker::OpenAi]),
        ("我和OpenAI没有任何关系，我是DeepSeek。", Maker::DeepSeek, Some("DeepSeek"), &[Maker::OpenAi]),
        ("我并非由OpenAI开发。", Maker::Unknown, None, &[Maker::OpenAi]),
        ("我不是ChatGPT、Claude或Gemini，我是混元。", Maker::Tencent, Some("Hunyuan"), &[Maker::OpenAi, Maker::Anthropic, Maker::Google]),
        ("No, I'm not ChatGPT. I'm Claude, made by Anthropic.", Maker::Anthropic, Some("Claude"), &[Maker::OpenAi]),
        ("我不是ChatGPT，通义千问是我的名字。", Maker::Alibaba, Some("Qwen"), &[Maker::OpenAi]),
        ("Hello! I'm Claude. I don't have information about whether I'm related to ChatGPT.", Maker::Anthropic, Some("Claude"), &[Maker::OpenAi]),
        ("I don't think I'm ChatGPT.", Maker::Unknown, None, &[Maker::OpenAi]),
        ("I'm not ChatGPT or any OpenAI product.", Maker::Unknown, None, &[Maker::OpenAi]),
        ("No, I am not built on GPT-3.5. I am Yi-Large, developed by 01.AI.", Maker::ZeroOneAi, Some("Yi"), &[Maker::OpenAi]),
        ("我是Kimi。我不是GPT，也不是Claude。", Maker::Moonshot, Some("Kimi"), &[Maker::OpenAi, Maker::Anthropic]),
        // Comparisons and third-party mentions do not count either.
        ("我是小智。我不清楚背后用的是哪个模型，可能是类似ChatGPT的模型。", Maker::Unknown, None, &[]),
        ("我和ChatGPT一样都是大语言模型，但我是由智谱AI开发的GLM-4。", Maker::Zhipu, Some("GLM"), &[]),
        ("我是一个像ChatGPT一样的AI助手。", Maker::Unknown, None, &[]),
        ("I am an assistant similar to ChatGPT and Claude.", Maker::Unknown, None, &[]),
        ("ChatGPT是OpenAI开发的，而我是Kimi。", Maker::Moonshot, Some("Kimi"), &[]),
        ("与GPT-4等模型相比，我更擅长中文。我是文心一言。", Maker::Baidu, Some("ERNIE"), &[]),
        // No maker named at all.
        ("我是一个人工智能助手，很高兴为你服务。", Maker::Unknown, None, &[]),
        ("I'm an AI assistant. How can I help you today?", Maker::Unknown, None, &[]),
        ("I can't share details about the model behind this service.", Maker::Unknown, None, &[]),
        // Words that look like terms but are not.
        ("Metadata about me is not available; I am a helpful assistant.", Maker::Unknown, None, &[]),
        ("I'm a large language model. My training data ends in 2023.", Maker::Unknown, None, &[]),
        // Terse answers with no self-reference are claims.
        ("OpenAI。", Maker::OpenAi, None, &[]),
        ("通义千问", Maker::Alibaba, Some("Qwen"), &[]),
        // A denial followed by a claim of another model: the claim counts.
        ("I'm not ChatGPT, but I am based on GPT-4 technology.", Maker::OpenAi, Some("GPT-4"), &[Maker::OpenAi]),
    ];

    #[test]
    fn classifies_every_table_answer() {
        assert!(CASES.len() >= 40);
        let mut failures = Vec::new();
        for (answer, maker, family, denied) in CASES {
            let classification = classify_identity(answer);
            let family_matches = classification.primary_model_family.as_deref() == *family;
            let mut expected_denied = denied.to_vec();
            expected_denied.sort();
            let mut actual_denied = classification.denied_makers.clone();
            actual_denied.sort();
            if classification.primary_maker != *maker
                || !family_matches
                || actual_denied != expected_denied
            {
                failures.push(format!(
                    "{answer}\n  expected {maker:?} {family:?} denied {expected_denied:?}\n  got {:?} {:?} denied {actual_denied:?}\n  mentions {:?}",
                    classification.primary_maker, classification.primary_model_family, classification.mentions
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn claims_naming_two_makers_list_both() {
        let classification = classify_identity("我是文心一言，我的底层模型是GPT-4。");
        assert_eq!(
            classification.claimed_makers,
            vec![Maker::Baidu, Maker::OpenAi]
        );
    }

    fn probe(id: &str) -> IdentityProbe {
        identity_probes()
            .expect("built-in probes parse")
            .into_iter()
            .find(|probe| probe.id == id)
            .expect("probe exists")
    }

    #[test]
    fn bare_yes_to_a_leading_question_claims_the_named_model() {
        let answer =
            classify_probe_answer(&probe("zh-leading-chatgpt"), "是的，我可以帮你做很多事情。");
        assert_eq!(answer.classification.primary_maker, Maker::OpenAi);
        assert!(answer.classification.mentions[0].inferred_from_yes_to_leading_question);
    }

    #[test]
    fn bare_no_to_a_leading_question_denies_the_named_model() {
        let answer = classify_probe_answer(&probe("en-leading-claude"), "No. How can I help?");
        assert_eq!(answer.classification.primary_maker, Maker::Unknown);
        assert_eq!(answer.classification.denied_makers, vec![Maker::Anthropic]);
    }

    #[test]
    fn an_explicit_answer_to_a_leading_question_is_read_as_written() {
        let answer = classify_probe_answer(&probe("zh-leading-chatgpt"), "不是，我是通义千问。");
        assert_eq!(answer.classification.primary_maker, Maker::Alibaba);
        assert!(
            answer
                .classification
                .mentions
                .iter()
                .all(|m| !m.inferred_from_yes_to_leading_question)
        );
    }

    #[test]
    fn cutoff_is_extracted_only_for_cutoff_probes() {
        let answer = classify_probe_answer(
            &probe("en-direct-cutoff"),
            "My training data goes up to September 2021.",
        );
        assert_eq!(
            answer.classification.claimed_cutoff,
            Some(ClaimedCutoff {
                year: 2021,
                month: Some(9)
            })
        );
        let answer = classify_probe_answer(&probe("en-direct-who"), "I was released in 2023.");
        assert_eq!(answer.classification.claimed_cutoff, None);
    }

    #[test]
    fn cutoff_formats() {
        type CutoffCase = (&'static str, Option<(u16, Option<u8>)>);
        let cases: &[CutoffCase] = &[
            ("我的训练数据截止到2023年10月。", Some((2023, Some(10)))),
            ("知识截止日期为2024年。", Some((2024, None))),
            ("Knowledge cutoff: 2023-04.", Some((2023, Some(4)))),
            ("As of Oct 2023.", Some((2023, Some(10)))),
            ("I don't know.", None),
            ("Version 12345 has no year.", None),
        ];
        for (answer, expected) in cases {
            let expected = expected.map(|(year, month)| ClaimedCutoff { year, month });
            assert_eq!(extract_claimed_cutoff(answer), expected, "{answer}");
        }
    }

    #[test]
    fn vendor_names_are_read_as_people_write_them() {
        for (name, maker) in [
            ("alibaba", Maker::Alibaba),
            ("Qwen", Maker::Alibaba),
            ("阿里云", Maker::Alibaba),
            ("OpenAI", Maker::OpenAi),
            ("Zhipu-AI", Maker::Zhipu),
            ("zhipuai", Maker::Zhipu),
            ("01-ai", Maker::ZeroOneAi),
            ("moonshot", Maker::Moonshot),
            ("deepseek", Maker::DeepSeek),
            ("iFlytek", Maker::IFlytek),
            ("some startup", Maker::Unknown),
            ("", Maker::Unknown),
        ] {
            assert_eq!(Maker::from_vendor_name(name), maker, "{name}");
        }
    }

    fn classified(probe_id: &str, answer: &str) -> ClassifiedAnswer {
        ClassifiedAnswer {
            probe_id: probe_id.to_owned(),
            answer: answer.to_owned(),
            classification: classify_identity(answer),
            leading_question: None,
        }
    }

    #[test]
    fn consistent_answers_are_no_evidence() {
        let answers = vec![
            classified("p1", "我是通义千问，由阿里云开发。"),
            classified("p2", "I am Qwen."),
            classified("p3", "我是一个AI助手。"),
        ];
        let findings = compare_with_declared(Maker::Alibaba, &answers);
        assert_eq!(findings.strength, EvidenceStrength::None);
        assert_eq!(findings.consistent_probe_ids, vec!["p1", "p2"]);
        assert_eq!(findings.probe_ids_without_claim, vec!["p3"]);
        assert!(findings.contradictions.is_empty());
        assert!(
            findings.statement.contains("does not show"),
            "{}",
            findings.statement
        );
    }

    #[test]
    fn a_vendor_whose_model_calls_itself_chatgpt_is_contradicted_with_probe_ids() {
        let answers = vec![
            classified("zh-direct-who", "我是ChatGPT，由OpenAI开发。"),
            classified("en-direct-who", "I am ChatGPT."),
            classified("en-direct-company", "I was created by OpenAI."),
            classified("zh-system-who", "我是星辰大模型。"),
        ];
        let findings = compare_with_declared(Maker::Baichuan, &answers);
        assert_eq!(findings.contradicting_probe_count(), 3);
        assert_eq!(findings.contradictions[0].probe_id, "zh-direct-who");
        assert_eq!(findings.contradictions[0].claimed_maker, Maker::OpenAi);
        assert_eq!(
            findings.contradictions[0].claimed_model_family.as_deref(),
            Some("ChatGPT")
        );
        assert_eq!(findings.strength, EvidenceStrength::Strong);
        assert!(
            findings.statement.contains("do not by themselves prove"),
            "{}",
            findings.statement
        );
        assert_eq!(
            findings.claimed_maker_counts[0],
            MakerClaimCount {
                maker: Maker::OpenAi,
                answers: 3
            }
        );
    }

    #[test]
    fn one_stray_claim_is_weak_evidence() {
        let answers = vec![
            classified("p1", "我是文心一言。"),
            classified("p2", "我是文心一言，由百度开发。"),
            classified("p3", "我是文心一言。"),
            classified("p4", "I am ChatGPT."),
        ];
        let findings = compare_with_declared(Maker::Baidu, &answers);
        assert_eq!(findings.strength, EvidenceStrength::Weak);
        assert_eq!(findings.contradicting_probe_count(), 1);
    }

    #[test]
    fn no_claims_at_all_is_insufficient() {
        let answers = vec![classified("p1", "我是一个AI助手。")];
        let findings = compare_with_declared(Maker::Baidu, &answers);
        assert_eq!(findings.strength, EvidenceStrength::Insufficient);
    }

    #[test]
    fn yeses_to_leading_questions_alone_are_weak() {
        let answers: Vec<ClassifiedAnswer> = [
            "zh-leading-chatgpt",
            "zh-leading-gpt4",
            "en-leading-chatgpt",
            "en-leading-gpt35",
        ]
        .iter()
        .map(|id| classify_probe_answer(&probe(id), "是的。"))
        .collect();
        let findings = compare_with_declared(Maker::Tencent, &answers);
        assert_eq!(findings.contradicting_probe_count(), 4);
        assert_eq!(findings.strength, EvidenceStrength::Weak);
    }

    /// Every built-in probe answered by a script, classified with its probe.
    fn scripted(script: impl Fn(&IdentityProbe) -> String) -> Vec<ClassifiedAnswer> {
        identity_probes()
            .expect("built-in probes parse")
            .iter()
            .map(|probe| classify_probe_answer(probe, &script(probe)))
            .collect()
    }

    fn in_language(probe: &IdentityProbe, chinese: &str, english: &str) -> String {
        match probe.language {
            crate::probes::ProbeLanguage::Chinese => chinese.to_owned(),
            crate::probes::ProbeLanguage::English => english.to_owned(),
        }
    }

    #[test]
    fn a_sycophantic_model_saying_yes_to_every_leading_question_shows_nothing() {
        let answers = scripted(|probe| match probe.kind {
            ProbeKind::Leading => in_language(probe, "是的。", "Yes."),
            _ => in_language(probe, "我是一个人工智能助手。", "I am an AI assistant."),
        });
        let findings = compare_with_declared(Maker::Tencent, &answers);
        let leading = findings.leading.as_ref().expect("leading probes answered");
        assert_eq!(leading.answered, 13);
        assert_eq!(
            leading.makers_agreed_to,
            vec![
                Maker::OpenAi,
                Maker::Anthropic,
                Maker::Meta,
                Maker::Alibaba,
                Maker::Baidu,
                Maker::DeepSeek
            ]
        );
        assert_eq!(leading.strength, EvidenceStrength::None);
        assert_eq!(findings.unprompted_contradicting_probe_count(), 0);
        assert_eq!(findings.strength, EvidenceStrength::Insufficient);
        assert!(
            findings.statement.contains(
                "yes to questions naming 6 different makers (OpenAI, Anthropic, Meta, Alibaba (Qwen, 通义千问), Baidu (ERNIE, 文心一言), DeepSeek (深度求索); 13 of 13 answered): the model agrees with whatever it is asked, so these answers show nothing about its identity"
            ),
            "{}",
            findings.statement
        );
        assert!(
            !findings.statement.contains("evidence:"),
            "{}",
            findings.statement
        );
    }

    /// Qwen as issue 17 met it: declared Alibaba, truly Alibaba's, naming Qwen whenever
    /// it is asked openly and agreeing with every "Are you X?".
    fn genuine_qwen(probe: &IdentityProbe) -> String {
        match (probe.kind, probe.asks) {
            (ProbeKind::Leading, _) => {
                let named = probe.named_model.as_deref().unwrap_or("that model");
                in_language(
                    probe,
                    &format!("是的，我是{named}。"),
                    &format!("Yes, I am {named}."),
                )
            }
            (_, ProbeAsks::TrainingCutoff) => in_language(
                probe,
                "我的知识截止到2024年。",
                "My knowledge goes up to 2024.",
            ),
            _ => in_language(
                probe,
                "我是通义千问，由阿里云开发的大规模语言模型。",
                "I am Qwen, a large language model created by Alibaba Cloud.",
            ),
        }
    }

    #[test]
    fn a_genuine_vendor_agreeing_to_are_you_chatgpt_is_not_evidence_of_another_maker() {
        let answers = scripted(genuine_qwen);
        let findings = compare_with_declared(Maker::Alibaba, &answers);
        // 39 probes name no model; the 8 cutoff ones claim no maker.
        assert_eq!(findings.unprompted_answers_with_claim, 31);
        assert_eq!(findings.consistent_probe_ids.len(), 31);
        assert_eq!(findings.unprompted_contradicting_probe_count(), 0);
        // The yeses to ChatGPT, Claude, Llama, ERNIE, DeepSeek are listed, as leading.
        assert_eq!(findings.contradicting_probe_count(), 11);
        assert!(
            findings
                .contradictions
                .iter()
                .all(|contradiction| contradiction.from_leading_question)
        );
        assert_eq!(findings.strength, EvidenceStrength::None);
        assert!(
            findings.statement.starts_with(
                "all 31 unprompted answers that name a maker name the declared vendor Alibaba (Qwen, 通义千问)"
            ),
            "{}",
            findings.statement
        );
        assert!(
            findings
                .statement
                .contains("the model agrees with whatever it is asked"),
            "{}",
            findings.statement
        );
        assert!(!findings.statement.contains("strong evidence"));
        assert!(!findings.statement.contains("moderate evidence"));
    }

    #[test]
    fn a_genuine_vendor_that_sometimes_repeats_chatgpt_unprompted_is_weak_at_most() {
        let answers = scripted(|probe| match probe.id.as_str() {
            "zh-indirect-citation" => "模型名称：ChatGPT，开发机构：OpenAI。".to_owned(),
            "en-direct-base" => "I am based on GPT-4.".to_owned(),
            _ => genuine_qwen(probe),
        });
        let findings = compare_with_declared(Maker::Alibaba, &answers);
        assert_eq!(findings.unprompted_contradicting_probe_count(), 2);
        assert_eq!(findings.consistent_probe_ids.len(), 29);
        assert_eq!(findings.strength, EvidenceStrength::Weak);
        assert!(
            findings.statement.starts_with(
                "2 of 31 unprompted answers that name a maker name OpenAI instead of the declared vendor Alibaba (Qwen, 通义千问); weak evidence: 29 unprompted answers name the declared vendor itself"
            ),
            "{}",
            findings.statement
        );
    }

    #[test]
    fn a_real_wrapper_claiming_chatgpt_unprompted_is_strong() {
        let answers = scripted(|probe| match (probe.kind, probe.asks) {
            (ProbeKind::Leading, _) => {
                let named_maker = probe
                    .named_model
                    .as_deref()
                    .and_then(|named| find_mentions(named).first().map(|mention| mention.maker));
                if named_maker == Some(Maker::OpenAi) {
                    in_language(probe, "是的，我是ChatGPT。", "Yes, I am ChatGPT.")
                } else {
                    in_language(
                        probe,
                        "不是，我是ChatGPT，由OpenAI开发。",
                        "No, I am ChatGPT, made by OpenAI.",
                    )
                }
            }
            (_, ProbeAsks::TrainingCutoff) => in_language(
                probe,
                "我的训练数据截止到2021年9月。",
                "My knowledge cutoff is September 2021.",
            ),
            _ => in_language(
                probe,
                "我是ChatGPT，由OpenAI开发。",
                "I am ChatGPT, made by OpenAI.",
            ),
        });
        let findings = compare_with_declared(Maker::Baichuan, &answers);
        assert_eq!(findings.unprompted_contradicting_probe_count(), 31);
        assert_eq!(findings.strength, EvidenceStrength::Strong);
        assert!(
            findings.statement.starts_with(
                "31 of 31 unprompted answers that name a maker name OpenAI instead of the declared vendor Baichuan (百川智能); strong evidence"
            ),
            "{}",
            findings.statement
        );
        let leading = findings.leading.as_ref().expect("leading probes answered");
        assert_eq!(leading.makers_agreed_to, vec![Maker::OpenAi]);
        assert_eq!(leading.strength, EvidenceStrength::Weak);
        assert!(
            leading
                .statement
                .contains("yes to questions naming OpenAI (5 of 13 answered) and no to questions about 5 other makers"),
            "{}",
            leading.statement
        );
    }
}
