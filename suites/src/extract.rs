//! Answer extraction: reads which option a model chose from its free-text reply, in
//! Chinese or English.
//!
//! The extractor is a cascade, from the most specific evidence to the least, and it
//! refuses to guess: a reply that names several letters without a conclusion is
//! [`Extraction::Unextractable`], which is counted apart from wrong answers.
//!
//! 1. Reasoning before a closing `</think>` is dropped; an unclosed `<think>` means the
//!    reply was cut off inside its reasoning. When a later line opens a new item in the
//!    prompt's format (`以下是中国关于…`, `题目：`, `Question:`, `下一题`) and a letter can be
//!    read before it, only that part counts: base models invent the next question.
//! 2. Full-width forms are folded (`Ｂ` → `B`, `（` → `(`, `：` → `:`, `．` → `.`) and
//!    markdown/LaTeX emphasis (`**`, `$`) is removed.
//! 3. The whole reply is just a letter: `B`, `B.`, `(B)`, `b)`. Lowercase letters are only
//!    read in this form (and as `(b)` after a conclusion), never from running text.
//! 4. Conclusion markers, the last one first: `答案是`, `答案：`, `选`, `应选`, `故`,
//!    `the answer is`, `Answer:`, `\boxed{`… followed by a letter. A conclusion naming two
//!    letters (`答案是A或C`, `可能是A，也可能是D`) is unextractable. With option texts, a
//!    conclusion followed by an option's exact text (`答案是：北京`) counts too. A
//!    lowercase letter counts here when it ends the sentence (`Answer: b`). A reply that
//!    ends in `…, so C.` counts as concluding with C.
//! 5. The last non-empty line is just a letter (a chain of thought ending in `B`).
//! 6. The reply starts with a letter and a separator: `B. 北京`, `B、`, `(B) ...`.
//! 7. Assertions (`B正确`, `B is correct`), then an option listing with exactly one line
//!    marked right (`B. 北京（正确）`, `B. 北京 √`), then mentions (`选项B`, `B选项`,
//!    `option B`, `(B)`) that all agree.
//! 8. With option texts: the whole reply is one option's text.
//! 9. Exactly one standalone capital letter in the reply (never inside a word: `DNA`,
//!    `A lot`, `I think` do not count; nor inside a quoted option text). Several distinct
//!    letters here are unextractable.
//! 10. With option texts: exactly one option's text appears in the reply, not counting
//!     ones it rules out (`维生素A不对`, `neither Paris`).
//!
//! [`is_refusal`] then tells a reply that declines to answer apart from one we could not
//! read. Both are checked against `corpus/extraction.jsonl`, a regression corpus of
//! replies written for the project with the label a careful human grader would give.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// What the extractor read from a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Extraction {
    /// The option letter, uppercase.
    Choice(char),
    /// No single option could be read; scored apart from wrong answers.
    Unextractable,
}

/// Recorded with every result, so a change to the cascade is visible in reports.
pub const EXTRACTOR_VERSION: &str = "cascade-v2";

/// Reads the chosen letter among the first `option_count` letters from `response`.
pub fn extract_choice(response: &str, option_count: usize) -> Extraction {
    extract(response, option_count, &[])
}

/// Like [`extract_choice`], and when no letter is found, also accepts a reply that gives
/// an option's text instead of its letter. This is the one the coordinator calls.
pub fn extract_choice_with_options(response: &str, options: &[String]) -> Extraction {
    extract(response, options.len(), options)
}

/// Whether `response` declines to answer: it holds a refusal phrase ("抱歉，我无法回答这个
/// 问题", "作为一个AI语言模型，我不能…", "I'm sorry, but I can't help with that", "涉及
/// 敏感内容") and no option letter can be read from it.
///
/// Conservative on purpose: uncertainty is not refusal ("我不知道", "我无法确定答案",
/// "I'm not sure" stay unextractable), and any readable letter wins over a refusal phrase
/// ("抱歉，我不确定，但答案是B" is B). Reasoning inside `<think>…</think>` is ignored,
/// like everywhere else in this module. Letters are read here for every position A-Z,
/// since the option count is unknown; [`crate::outcome::classify_choice`] reads them
/// against the item's own options instead.
pub fn is_refusal(response: &str) -> bool {
    is_refusal_given(response, extract(response, 26, &[]))
}

/// [`is_refusal`] for a reply already read as `extraction`.
pub(crate) fn is_refusal_given(response: &str, extraction: Extraction) -> bool {
    if extraction != Extraction::Unextractable {
        return false;
    }
    // A reply cut off inside its reasoning never got to answer, nor to refuse.
    strip_reasoning(response).is_some_and(has_refusal_phrase)
}

/// Phrases that decline the request itself. They name the act of answering or helping
/// ("无法回答", "can't help"), never mere doubt ("无法确定", "not sure"), which is an
/// unextractable answer, not a refusal.
const REFUSAL_PHRASES: &[&str] = &[
    "无法回答",
    "不能回答",
    "无法作答",
    "不能作答",
    "无法回复",
    "不能回复",
    "拒绝回答",
    "不便回答",
    "不便作答",
    "不予回答",
    "无可奉告",
    "无法提供",
    "不能提供",
    "无法协助",
    "不能协助",
    "无法帮助",
    "不能帮助",
    "帮不了",
    "无能为力",
    "无法满足",
    "不能满足",
    "无法对此",
    "不能对此",
    "无法讨论",
    "不能讨论",
    "无法评论",
    "不能评论",
    "超出了我的能力",
    "涉及敏感",
    "敏感话题",
    "敏感内容",
    "比较敏感",
    "换个话题",
    "can't help",
    "cannot help",
    "can not help",
    "unable to help",
    "not able to help",
    "can't assist",
    "cannot assist",
    "unable to assist",
    "not able to assist",
    "can't answer",
    "cannot answer",
    "unable to answer",
    "not able to answer",
    "won't answer",
    "will not answer",
    "decline to answer",
    "can't provide",
    "cannot provide",
    "unable to provide",
    "not able to provide",
    "can't comply",
    "cannot comply",
    "can't fulfill",
    "cannot fulfill",
    "can't respond",
    "cannot respond",
    "can't discuss",
    "cannot discuss",
];

/// Disclaimers that refuse only when followed by a negation in the same reply ("作为一个
/// AI语言模型，我没有个人观点"); on their own they often preface a real answer.
const AI_DISCLAIMERS: &[&str] = &[
    "作为一个ai",
    "作为ai",
    "作为一个人工智能",
    "作为人工智能",
    "作为一个语言模型",
    "作为语言模型",
    "as an ai",
    "as a language model",
];

/// Negations that turn an [`AI_DISCLAIMERS`] entry into a refusal.
const DISCLAIMER_NEGATIONS: &[&str] = &[
    "不能",
    "无法",
    "没有",
    "不会",
    "不具备",
    "can't",
    "cannot",
    "don't",
    "do not",
    "unable",
    "not able",
];

fn has_refusal_phrase(text: &str) -> bool {
    let text: String = normalize(text)
        .into_iter()
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if REFUSAL_PHRASES.iter().any(|phrase| text.contains(phrase)) {
        return true;
    }
    AI_DISCLAIMERS.iter().any(|disclaimer| {
        text.find(disclaimer).is_some_and(|start| {
            let rest = &text[start + disclaimer.len()..];
            DISCLAIMER_NEGATIONS
                .iter()
                .any(|negation| rest.contains(negation))
        })
    })
}

/// The outcome of one cascade step: a decision (choice or definite refusal), or no
/// evidence, in which case the next step runs.
type StepResult = Option<Extraction>;

fn extract(response: &str, option_count: usize, options: &[String]) -> Extraction {
    // Letters beyond Z do not exist; zero options means nothing can be chosen.
    let option_count = option_count.min(26);
    if option_count == 0 {
        return Extraction::Unextractable;
    }
    let Some(answer_part) = strip_reasoning(response) else {
        return Extraction::Unextractable;
    };
    // A base model that answered often goes on to invent the next question in the
    // prompt's own format, answer included; that invented answer is not its reply.
    if let Some(before_next_item) = text_before_invented_item(answer_part) {
        // Only a plain answer counts here (a letter, a conclusion, a leading letter): a
        // mere mention ("A项分析：…") before an echoed question is not an answer.
        let reply = Reply::new(before_next_item, option_count, options);
        let plain_answer = reply
            .whole_reply_is_letter()
            .or_else(|| reply.last_conclusion())
            .or_else(|| reply.last_line_is_letter())
            .or_else(|| reply.leading_letter());
        if let Some(extraction @ Extraction::Choice(_)) = plain_answer {
            return extraction;
        }
    }
    run_cascade(answer_part, option_count, options)
}

fn run_cascade(answer_part: &str, option_count: usize, options: &[String]) -> Extraction {
    let reply = Reply::new(answer_part, option_count, options);
    if reply.chars.iter().all(|c| c.is_whitespace()) {
        return Extraction::Unextractable;
    }

    let steps: [&dyn Fn(&Reply) -> StepResult; 12] = [
        &|reply| reply.whole_reply_is_letter(),
        &|reply| reply.last_conclusion(),
        &|reply| reply.terminal_letter_after_so(),
        &|reply| reply.last_line_is_letter(),
        &|reply| reply.leading_letter(),
        &|reply| reply.agreeing_assertions(),
        &|reply| reply.verdict_marks(),
        &|reply| reply.agreeing_mentions(),
        &|reply| reply.whole_reply_is_option_text(),
        &|reply| reply.single_standalone_letter(),
        &|reply| reply.single_option_text_inside(),
        &|_| Some(Extraction::Unextractable),
    ];
    steps
        .iter()
        .find_map(|step| step(&reply))
        .unwrap_or(Extraction::Unextractable)
}

/// Line openings that start a new item in the published prompt formats (C-Eval's and
/// CMMLU's headers, `题目：`, `Question:`) or announce one (`下一题`).
const NEXT_ITEM_HEADERS: &[&str] = &[
    "以下是中国关于",
    "以下是关于",
    "题目:",
    "题目：",
    "问题:",
    "问题：",
    "下一题",
    "Question:",
];

/// The text before the first line (other than the first) that opens a new item, if any.
/// The caller only trusts it when a letter can be read from it: a reply that first
/// echoes the question ("分析\n题目：…\n答案：B") keeps its whole text.
fn text_before_invented_item(text: &str) -> Option<&str> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let content = line.trim_start();
        if offset > 0
            && !text[..offset].trim().is_empty()
            && NEXT_ITEM_HEADERS
                .iter()
                .any(|header| content.starts_with(header))
        {
            return Some(&text[..offset]);
        }
        offset += line.len();
    }
    None
}

/// The text after the last `</think>`; `None` when a `<think>` block never closes.
pub(crate) fn strip_reasoning(response: &str) -> Option<&str> {
    if let Some(position) = response.rfind("</think>") {
        return Some(&response[position + "</think>".len()..]);
    }
    if response.contains("<think>") {
        return None;
    }
    Some(response)
}

/// Folds full-width forms to ASCII and drops emphasis marks, so every later step only
/// needs to know one spelling.
fn normalize(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| !matches!(c, '*' | '$' | '`'))
        .map(|c| match c {
            // Full-width ASCII block (Ａ, ｂ, （, ：, ．, ，, ［ ...) maps 1:1 onto ASCII.
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            // Typographic apostrophes ("I’m", "can’t") are common in chat output; folded
            // so the pronoun `I` and English phrases have one spelling.
            '’' => '\'',
            '【' | '〔' => '[',
            '】' | '〕' => ']',
            other => other,
        })
        .collect()
}

/// Words after which a capital `A` is still a letter, not the English article
/// ("A is correct", "A because ...").
const NOT_AFTER_ARTICLE: &[&str] = &[
    "is", "was", "and", "or", "but", "because", "since", "as", "so", "then", "which", "with",
    "for", "seems", "should", "would", "must", "can", "could", "might", "may", "fits", "matches",
    "here", "correct", "right", "wrong", "true", "false", "only", "vs",
];

/// Text between a conclusion marker and its letter that carries no meaning of its own.
/// Longer entries first, so `应该是` is consumed whole before `应`.
const FILLERS: &[&str] = &[
    "应该是",
    "应该为",
    "应该选",
    "应当是",
    "只能是",
    "可能是",
    "肯定是",
    "一定是",
    "正确的是",
    "选择",
    "选项",
    "应为",
    "应是",
    "应选",
    "就是",
    "即为",
    "则为",
    "也就是",
    "都是",
    "只剩下",
    "剩下",
    "了",
    "答案",
    "是",
    "为",
    "选",
    "择",
    "项",
    "的",
    "应",
    "该",
    "当",
    ":",
    "=",
    "(",
    "[",
    "]",
    "{",
    "\"",
    "“",
    "'",
    "‘",
    "「",
    "『",
    "《",
    "<",
    " ",
    "\t",
    "\n",
    ",",
    "、",
    "\\boxed{",
    "\\text{",
    "\\mathrm{",
    "\\textbf{",
];

/// English fillers, matched case-insensitively and only as whole words.
const WORD_FILLERS: &[&str] = &[
    "is",
    "would",
    "should",
    "will",
    "must",
    "be",
    "of",
    "the",
    "choice",
    "option",
    "letter",
    "likely",
    "probably",
    "definitely",
    "clearly",
    "therefore",
    "thus",
    "answer",
    "correct",
    "final",
    "most",
    "to",
    "this",
    "question",
    "here",
    "hence",
];

/// Phrases after which the model states its conclusion. `(pattern, is_english_word)`:
/// English ones match case-insensitively at a word boundary.
const CONCLUSION_MARKERS: &[(&str, bool)] = &[
    ("答案", false),
    ("正确选项", false),
    ("正确的选项", false),
    ("正确的是", false),
    ("选", false),
    ("故", false),
    ("所以", false),
    ("因此", false),
    ("综上", false),
    // `答：B` in exam answer style; `答案` above already covers the longer form.
    ("答:", false),
    ("应该是", false),
    ("应当是", false),
    ("\\boxed{", false),
    ("answer", true),
    ("correct option", true),
    ("correct choice", true),
    ("choose", true),
    ("chose", true),
    ("select", true),
    ("go with", true),
    ("pick", true),
    ("therefore", true),
    ("thus", true),
];

/// Text right after a letter that asserts it is the right one.
const ASSERTIONS_AFTER_LETTER: &[&str] = &[
    "正确",
    "是正确",
    "项正确",
    "项是正确",
    "选项正确",
    "选项是正确",
    "是对的",
    " is correct",
    " is the correct",
    " is right",
    " is the right",
];

/// Text right before a letter that rules it out ("不是A", "not A").
const NEGATIONS_BEFORE_LETTER: &[&str] = &[
    "不是",
    "不选",
    "排除",
    "除了",
    "not ",
    "isn't ",
    "except ",
    "neither ",
    "nor ",
    "neither is ",
    "nor is ",
];

/// Text right after a letter that rules it out ("A错误", "A is wrong").
const NEGATIONS_AFTER_LETTER: &[&str] = &[
    "错",
    "不正确",
    "不对",
    "不是",
    "不符合",
    "有误",
    "是错",
    "项错",
    "选项错",
    "项不",
    "选项不",
    " is wrong",
    " is incorrect",
    " is not",
    " is false",
    " isn't",
];

/// Connectives that join two letters into a non-answer ("A和C", "A or B").
/// Hedges count as joiners: "可能是A，也可能是D" names two letters, not one.
const LETTER_JOINERS: &[&str] = &[
    "和",
    "或",
    "或者",
    "或者是",
    "还是",
    "与",
    "及",
    "、",
    ",",
    "/",
    "&",
    "and",
    "or",
    "or maybe",
    "or possibly",
    ",也可能是",
    ",也可能",
    ",或者是",
    ",或者",
    "也可能是",
];

/// Separators that may follow a letter at the start of a reply ("B. 北京", "B、").
const LEADING_SEPARATORS: &[char] = &['.', ':', '、', ')', ']', '\n', ',', '。', ';'];

/// Trailing punctuation allowed after a letter that is the whole reply or line.
const TRAILING_PUNCTUATION: &[char] = &['.', '。', ':', '、', '!', '！', ',', ';', '?'];

struct Reply {
    chars: Vec<char>,
    /// `chars` with ASCII lowercased, same length, for case-insensitive English matching.
    lower: Vec<char>,
    /// The last allowed letter (`D` for four options).
    last_letter: char,
    /// Option texts, normalised like the reply and trimmed, in letter order.
    options: Vec<Vec<char>>,
}

impl Reply {
    fn new(text: &str, option_count: usize, options: &[String]) -> Reply {
        let chars = normalize(text);
        let lower = chars.iter().map(|c| c.to_ascii_lowercase()).collect();
        let last_letter = char::from_u32('A' as u32 + option_count as u32 - 1).unwrap_or('A');
        let options = options
            .iter()
            .map(|option| trim(&normalize(option)).to_vec())
            .collect();
        Reply {
            chars,
            lower,
            last_letter,
            options,
        }
    }

    fn char_at(&self, index: usize) -> Option<char> {
        self.chars.get(index).copied()
    }

    fn is_allowed(&self, letter: char) -> bool {
        ('A'..=self.last_letter).contains(&letter)
    }

    fn is_word_char_at(&self, index: Option<usize>) -> bool {
        index
            .and_then(|index| self.char_at(index))
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    /// `A` followed by a lowercase English word reads as the article ("A lot"); `I`
    /// followed by a space or apostrophe is the pronoun ("I think", "I'm").
    fn is_english_word_letter(&self, index: usize) -> bool {
        match self.char_at(index) {
            Some('A') => {
                if self.char_at(index + 1) != Some(' ') {
                    return false;
                }
                let word: String = self.chars[index + 2..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphabetic())
                    .collect();
                word.starts_with(|c: char| c.is_ascii_lowercase())
                    && !NOT_AFTER_ARTICLE.contains(&word.as_str())
            }
            Some('I') => matches!(self.char_at(index + 1), Some(' ' | '\'')),
            _ => false,
        }
    }

    /// An allowed uppercase letter at `index` that is not part of a word.
    fn standalone_letter_at(&self, index: usize) -> Option<char> {
        let letter = self.char_at(index)?;
        if !self.is_allowed(letter)
            || self.is_word_char_at(index.checked_sub(1))
            || self.is_word_char_at(Some(index + 1))
            || self.is_english_word_letter(index)
        {
            return None;
        }
        Some(letter)
    }

    /// Whether the letter at `index` is ruled out by its context ("A错误", "不是A").
    fn is_negated(&self, index: usize) -> bool {
        self.is_span_negated(index, index + 1)
    }

    /// Whether the text in `start..end` (a letter or an option's text) is ruled out by
    /// the words around it ("维生素A不对", "neither Paris").
    fn is_span_negated(&self, start: usize, end: usize) -> bool {
        let before = NEGATIONS_BEFORE_LETTER.iter().any(|pattern| {
            let len = pattern.chars().count();
            start >= len && self.lower_starts_with(start - len, pattern)
        });
        let after = NEGATIONS_AFTER_LETTER
            .iter()
            .any(|pattern| self.lower_starts_with(end, pattern));
        before || after
    }

    /// A standalone letter that is not ruled out by its context.
    fn affirmed_letter_at(&self, index: usize) -> Option<char> {
        self.standalone_letter_at(index)
            .filter(|_| !self.is_negated(index))
    }

    /// Whether another allowed letter follows the letter at `index` through a joiner
    /// ("A和C", "A, B", "A or B").
    fn joined_to_another_letter(&self, index: usize) -> bool {
        let position = self.skip_spaces(index + 1);
        // Every joiner is tried, since a short one (",") can prefix a longer one
        // (",也可能是").
        LETTER_JOINERS.iter().any(|joiner| {
            self.lower_starts_with(position, joiner) && {
                let after = self.skip_spaces(position + joiner.chars().count());
                self.standalone_letter_at(after).is_some()
            }
        })
    }

    fn skip_spaces(&self, mut index: usize) -> usize {
        while self.char_at(index).is_some_and(|c| c == ' ' || c == '\t') {
            index += 1;
        }
        index
    }

    fn lower_starts_with(&self, index: usize, pattern: &str) -> bool {
        (index..).zip(pattern.chars()).all(|(position, expected)| {
            self.lower.get(position) == Some(&expected.to_ascii_lowercase())
        })
    }

    /// Start indices of `pattern`; English words only at word boundaries.
    fn find_all(&self, pattern: &str, is_english_word: bool) -> Vec<usize> {
        let pattern_len = pattern.chars().count();
        (0..self.chars.len())
            .filter(|&index| self.lower_starts_with(index, pattern))
            .filter(|&index| {
                !is_english_word
                    || (!self.is_word_char_at(index.checked_sub(1))
                        && !self.is_word_char_at(Some(index + pattern_len)))
            })
            .collect()
    }

    fn skip_fillers(&self, mut index: usize) -> usize {
        // Bounded so a reply of nothing but filler cannot wander far from its marker.
        for _ in 0..12 {
            let filler = FILLERS
                .iter()
                .find(|filler| self.lower_starts_with(index, filler))
                .map(|filler| filler.chars().count())
                .or_else(|| {
                    WORD_FILLERS
                        .iter()
                        .find(|word| {
                            let len = word.chars().count();
                            self.lower_starts_with(index, word)
                                && !self.is_word_char_at(Some(index + len))
                        })
                        .map(|word| word.chars().count())
                });
            match filler {
                Some(len) => index += len,
                None => break,
            }
        }
        index
    }

    /// Step 3: the reply is a letter and nothing else.
    fn whole_reply_is_letter(&self) -> StepResult {
        self.bare_letter(&self.chars).map(Extraction::Choice)
    }

    /// A lone letter, possibly bracketed and followed by punctuation. Lowercase is
    /// accepted here because nothing else in the text could be meant.
    fn bare_letter(&self, text: &[char]) -> Option<char> {
        let mut text = trim(text);
        while let Some((last, rest)) = text.split_last() {
            if TRAILING_PUNCTUATION.contains(last) || last.is_whitespace() {
                text = rest;
            } else {
                break;
            }
        }
        let text = strip_brackets(trim(text));
        match text {
            [letter] => {
                let upper = letter.to_ascii_uppercase();
                self.is_allowed(upper).then_some(upper)
            }
            _ => None,
        }
    }

    /// Step 4: the last conclusion marker that is followed by a letter (or an option's
    /// text) decides.
    fn last_conclusion(&self) -> StepResult {
        let mut marker_ends: Vec<usize> = CONCLUSION_MARKERS
            .iter()
            .flat_map(|(pattern, is_english_word)| {
                let len = pattern.chars().count();
                self.find_all(pattern, *is_english_word)
                    .into_iter()
                    // `选项B` mentions an option; it is not a choice ("选项B错误").
                    .filter(move |&start| {
                        !(*pattern == "选" && self.char_at(start + 1) == Some('项'))
                    })
                    .map(move |start| start + len)
            })
            .collect();
        marker_ends.sort_unstable();
        marker_ends.dedup();
        for &marker_end in marker_ends.iter().rev() {
            let position = self.skip_fillers(marker_end);
            if self.standalone_letter_at(position).is_some() && self.is_negated(position) {
                // "所以A错误": the marker introduces a rejected option, not a choice.
                continue;
            }
            if let Some(letter) = self.standalone_letter_at(position) {
                if self.joined_to_another_letter(position) {
                    return Some(Extraction::Unextractable);
                }
                return Some(Extraction::Choice(letter));
            }
            if let Some(letter) = self.lowercase_letter_in_parentheses(position) {
                return Some(Extraction::Choice(letter));
            }
            if let Some(letter) = self.option_text_at(position) {
                return Some(Extraction::Choice(letter));
            }
        }
        None
    }

    /// A lowercase letter right after a conclusion, when nothing can follow it that would
    /// make it a word: `(b)`, or `b` ending the sentence ("Answer: b", "答案是b。"). "The
    /// answer is a matter of taste" stays unread, because `a` runs on into words.
    fn lowercase_letter_in_parentheses(&self, index: usize) -> Option<char> {
        let letter = self.char_at(index)?;
        let upper = letter.to_ascii_uppercase();
        if !letter.is_ascii_lowercase() || !self.is_allowed(upper) {
            return None;
        }
        let bracketed = index
            .checked_sub(1)
            .and_then(|before| self.char_at(before))
            .is_some_and(|c| c == '(')
            && self.char_at(index + 1) == Some(')');
        let ends_sentence = !self.is_word_char_at(index.checked_sub(1))
            && self.char_at(index + 1).is_none_or(|next| {
                next == '\n' || (TRAILING_PUNCTUATION.contains(&next) && next != ':')
            });
        (bracketed || ends_sentence).then_some(upper)
    }

    /// Step 4b: the reply ends in "…, so C." — an English conclusion too loose to trust
    /// anywhere but at the very end ("so A and B are out" is not a choice).
    fn terminal_letter_after_so(&self) -> StepResult {
        let mut end = self.chars.len();
        while end > 0
            && (TRAILING_PUNCTUATION.contains(&self.chars[end - 1])
                || self.chars[end - 1].is_whitespace())
        {
            end -= 1;
        }
        let index = end.checked_sub(1)?;
        let letter = self.affirmed_letter_at(index)?;
        let mut before = index;
        while before > 0 && self.chars[before - 1] == ' ' {
            before -= 1;
        }
        ["so", "hence", "then"]
            .iter()
            .any(|word| {
                let len = word.chars().count();
                before >= len
                    && self.lower_starts_with(before - len, word)
                    && !self.is_word_char_at((before - len).checked_sub(1))
            })
            .then_some(Extraction::Choice(letter))
    }

    /// Step 7b: an option listing with a verdict mark on exactly one line ("B. 北京（正确）",
    /// "B. 北京 √"). Only bracketed verdicts and check marks count: a bare "B. 正确" may
    /// just echo an option whose text is "正确".
    fn verdict_marks(&self) -> StepResult {
        let mut letters = BTreeSet::new();
        for line in self.chars.split(|c| *c == '\n') {
            let line = trim(line);
            let (opening, after) = match line {
                ['(' | '[', letter, after, ..] => (*letter, Some(*after)),
                [letter, after, ..] => (*letter, Some(*after)),
                [letter] => (*letter, None),
                [] => continue,
            };
            // `DNA √` opens with a word, not an option letter.
            if !self.is_allowed(opening) || after.is_some_and(|c| c.is_ascii_alphanumeric()) {
                continue;
            }
            let text: String = line.iter().collect::<String>().to_lowercase();
            if ["(正确)", "(对)", "(correct)", "√", "✓", "✔"]
                .iter()
                .any(|mark| text.contains(mark))
            {
                letters.insert(opening);
            }
        }
        single(&letters)
    }

    /// An option's exact text at `index`, ending at punctuation, a line end or the end of
    /// the reply. The longest matching option wins ("北京市" over "北京").
    fn option_text_at(&self, index: usize) -> Option<char> {
        let rest = self.chars.get(index..)?;
        let mut best: Option<(usize, usize)> = None;
        for (option_index, option) in self.options.iter().enumerate() {
            if option.is_empty() || !rest.starts_with(option) {
                continue;
            }
            let ends_cleanly = rest.get(option.len()).is_none_or(|next| {
                next.is_whitespace()
                    || TRAILING_PUNCTUATION.contains(next)
                    || matches!(
                        next,
                        '"' | '”' | '\'' | '’' | '」' | '』' | '》' | ')' | ']'
                    )
            });
            if ends_cleanly && best.is_none_or(|(_, len)| option.len() > len) {
                best = Some((option_index, option.len()));
            }
        }
        best.and_then(|(option_index, _)| letter_for_index(option_index))
    }

    /// Step 5: the last non-empty line is a bare letter.
    fn last_line_is_letter(&self) -> StepResult {
        let last_line = self
            .chars
            .split(|c| *c == '\n')
            .rev()
            .find(|line| !trim(line).is_empty())?;
        let letter = self.bare_letter(last_line)?;
        // Lowercase is only trusted when the line is the whole reply (step 3).
        last_line
            .contains(&letter)
            .then_some(Extraction::Choice(letter))
    }

    /// Step 6: "B. 北京", "B、…", "(B) …", "b) …".
    fn leading_letter(&self) -> StepResult {
        let mut index = self.skip_spaces(0);
        while self.char_at(index).is_some_and(|c| c == '\n' || c == ' ') {
            index += 1;
        }
        let opened = matches!(self.char_at(index), Some('(' | '['));
        if opened {
            index += 1;
        }
        let letter = self.char_at(index)?;
        let upper = letter.to_ascii_uppercase();
        if !self.is_allowed(upper) {
            return None;
        }
        let next = self.char_at(index + 1);
        if letter.is_ascii_lowercase() && next != Some(')') {
            return None;
        }
        if self.joined_to_another_letter(index)
            || self.is_negated(index)
            || self.lines_start_with_different_letters()
        {
            return None;
        }
        let accepted = match next {
            None => true,
            Some('.') => !self
                .char_at(index + 2)
                .is_some_and(|c| c.is_ascii_alphabetic()),
            Some(' ') => {
                let after = self.skip_spaces(index + 1);
                !self.char_at(after).is_some_and(|c| c.is_ascii_alphabetic())
                    && !self.is_english_word_letter(index)
            }
            Some(separator) => LEADING_SEPARATORS.contains(&separator),
        };
        accepted.then_some(Extraction::Choice(upper))
    }

    /// Whether several lines open with different letters ("A. 错误\nB. 正确"): an
    /// option-by-option analysis, whose first line is not an answer.
    fn lines_start_with_different_letters(&self) -> bool {
        let mut line_start = 0;
        let mut letters = BTreeSet::new();
        for (index, c) in self.chars.iter().enumerate() {
            if index == line_start {
                let position = self.skip_spaces(index);
                let position = if matches!(self.char_at(position), Some('(' | '[')) {
                    position + 1
                } else {
                    position
                };
                if let Some(letter) = self.standalone_letter_at(position) {
                    letters.insert(letter);
                }
            }
            if *c == '\n' {
                line_start = index + 1;
            }
        }
        letters.len() > 1
    }

    /// Step 7a: every letter asserted correct ("B正确", "B is correct") is the same one.
    fn agreeing_assertions(&self) -> StepResult {
        let letters: BTreeSet<char> = (0..self.chars.len())
            .filter_map(|index| {
                let letter = self.standalone_letter_at(index)?;
                ASSERTIONS_AFTER_LETTER
                    .iter()
                    .any(|assertion| self.lower_starts_with(index + 1, assertion))
                    .then_some(letter)
            })
            .collect();
        single(&letters)
    }

    /// Step 7b: every explicit mention ("选项B", "B选项", "B项", "option B", "(B)") names
    /// the same letter.
    fn agreeing_mentions(&self) -> StepResult {
        let mut letters = BTreeSet::new();
        for index in 0..self.chars.len() {
            let Some(letter) = self.affirmed_letter_at(index) else {
                continue;
            };
            let before = |pattern: &str| {
                let len = pattern.chars().count();
                index >= len && self.lower_starts_with(index - len, pattern)
            };
            let after = |pattern: &str| self.lower_starts_with(index + 1, pattern);
            if before("选项")
                || before("option ")
                || after("选项")
                || after("项")
                || (before("(") && after(")"))
            {
                letters.insert(letter);
            }
        }
        single(&letters)
    }

    /// Step 8: the reply is one option's text, give or take punctuation.
    fn whole_reply_is_option_text(&self) -> StepResult {
        let mut text = trim(&self.chars);
        while let Some((last, rest)) = text.split_last() {
            if TRAILING_PUNCTUATION.contains(last) || last.is_whitespace() {
                text = rest;
            } else {
                break;
            }
        }
        let position = self
            .options
            .iter()
            .position(|option| !option.is_empty() && option.as_slice() == text)?;
        letter_for_index(position).map(Extraction::Choice)
    }

    /// Step 9: exactly one standalone letter, outside any quoted option text.
    fn single_standalone_letter(&self) -> StepResult {
        let inside_option_text = self.option_text_spans();
        let letters: BTreeSet<char> = (0..self.chars.len())
            .filter(|index| !inside_option_text.iter().any(|span| span.contains(index)))
            .filter_map(|index| self.affirmed_letter_at(index))
            .collect();
        match letters.len() {
            0 => None,
            1 => single(&letters),
            // Several letters and no conclusion: refuse rather than guess.
            _ => Some(Extraction::Unextractable),
        }
    }

    /// Where option texts occur in the reply, so a letter inside one ("维生素C") is not
    /// taken for a choice.
    fn option_text_spans(&self) -> Vec<std::ops::Range<usize>> {
        let mut spans = Vec::new();
        for option in self.options.iter().filter(|option| option.len() >= 2) {
            for start in 0..self.chars.len() {
                if self.chars[start..].starts_with(option) {
                    spans.push(start..start + option.len());
                }
            }
        }
        spans
    }

    /// Step 10: exactly one option's text (two characters or more, so a one-character
    /// option cannot match by accident) occurs in the reply, not counting occurrences it
    /// rules out ("维生素A不对，维生素C才对").
    fn single_option_text_inside(&self) -> StepResult {
        let found: Vec<usize> = self
            .options
            .iter()
            .enumerate()
            .filter(|(_, option)| {
                option.len() >= 2
                    && (0..self.chars.len()).any(|start| {
                        self.chars[start..].starts_with(option)
                            && !self.is_span_negated(start, start + option.len())
                    })
            })
            .map(|(index, _)| index)
            .collect();
        // An option that is part of another found option ("北京" in "北京市") is not
        // separate evidence.
        let independent: Vec<usize> = found
            .iter()
            .copied()
            .filter(|&index| {
                !found.iter().any(|&other| {
                    other != index
                        && self.options[other].len() > self.options[index].len()
                        && contains(&self.options[other], &self.options[index])
                })
            })
            .collect();
        match independent.as_slice() {
            [index] => letter_for_index(*index).map(Extraction::Choice),
            _ => None,
        }
    }
}

fn single(letters: &BTreeSet<char>) -> StepResult {
    match letters.iter().collect::<Vec<_>>().as_slice() {
        [letter] => Some(Extraction::Choice(**letter)),
        _ => None,
    }
}

fn letter_for_index(index: usize) -> Option<char> {
    u32::try_from(index)
        .ok()
        .and_then(|index| char::from_u32('A' as u32 + index))
}

fn contains(haystack: &[char], needle: &[char]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

fn trim(text: &[char]) -> &[char] {
    let start = text
        .iter()
        .position(|c| !c.is_whitespace())
        .unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|c| !c.is_whitespace())
        .map_or(start, |position| position + 1);
    &text[start..end]
}

fn strip_brackets(text: &[char]) -> &[char] {
    match text {
        ['(', inner @ .., ')']
        | ['[', inner @ .., ']']
        | ['「', inner @ .., '」']
        | ['"', inner @ .., '"']
        | ['“', inner @ .., '”'] => trim(inner),
        [inner @ .., ')'] => inner,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use Extraction::{Choice, Unextractable};

    #[test]
    fn letter_cascade_table() {
        let cases: &[(&str, Extraction)] = &[
            // Bare letters and their punctuation.
            ("B", Choice('B')),
            ("B.", Choice('B')),
            ("B．", Choice('B')),
            ("B。", Choice('B')),
            ("  C \n", Choice('C')),
            ("（B）", Choice('B')),
            ("(B)", Choice('B')),
            ("[D]", Choice('D')),
            ("【A】", Choice('A')),
            ("Ｂ", Choice('B')),
            ("**B**", Choice('B')),
            ("$C$", Choice('C')),
            // Lowercase only where nothing else could be meant.
            ("b)", Choice('B')),
            ("b", Choice('B')),
            ("(c)", Choice('C')),
            ("b) 北京", Choice('B')),
            ("I think b is right", Unextractable),
            // After a conclusion, a lowercase letter that ends the sentence is a choice
            // (cascade-v2); one that runs on into words is the article.
            ("the answer is b", Choice('B')),
            ("The answer is a matter of taste", Unextractable),
            // Chinese conclusions.
            ("答案是B", Choice('B')),
            ("答案：B", Choice('B')),
            ("答案: B", Choice('B')),
            ("答案为 C。", Choice('C')),
            ("正确答案是：B．", Choice('B')),
            ("答案是：Ｄ", Choice('D')),
            ("答案应该是A", Choice('A')),
            ("答案选B", Choice('B')),
            ("答案是选项C", Choice('C')),
            ("答案是 **B**", Choice('B')),
            ("选B", Choice('B')),
            ("应选B", Choice('B')),
            ("故选D。", Choice('D')),
            ("我选择C", Choice('C')),
            ("正确的选项是A", Choice('A')),
            ("最终答案：\\boxed{C}", Choice('C')),
            ("因此，D", Choice('D')),
            ("答案是B，而不是A", Choice('B')),
            // Mentions and assertions.
            ("B选项", Choice('B')),
            ("选项B", Choice('B')),
            ("B项正确", Choice('B')),
            ("A错误，B正确", Choice('B')),
            ("选项A错误，选项B正确。", Choice('B')),
            ("我认为是B", Choice('B')),
            // English.
            ("The answer is B", Choice('B')),
            ("The answer is B.", Choice('B')),
            ("Answer: (B)", Choice('B')),
            ("answer: (c)", Choice('C')),
            ("The correct answer is D because it fits.", Choice('D')),
            ("The answer is A because the others are wrong", Choice('A')),
            ("I choose C", Choice('C')),
            ("B is correct", Choice('B')),
            ("Option C", Choice('C')),
            ("A lot of people pick C", Choice('C')),
            ("A lot of thought went into this", Unextractable),
            ("I think the capital is Beijing", Unextractable),
            ("The DNA double helix", Unextractable),
            // Reasoning blocks and chains of thought.
            ("<think>A看起来对，但C也可能</think>\n答案：B", Choice('B')),
            ("<think>嗯，选A还是B？</think>B", Choice('B')),
            ("<think>还在想A还是B", Unextractable),
            (
                "先看A：错误。再看B：也错误。C符合题意。\n答案: C",
                Choice('C'),
            ),
            ("答案是A。\n等等，重新计算一下，答案应为D。", Choice('D')),
            ("分析：A项说法错误，C项说法错误。\nB", Choice('B')),
            ("B. 北京是中国的首都", Choice('B')),
            ("C、因为水是液体", Choice('C')),
            ("D\n解析：A、B、C都不符合", Choice('D')),
            // Rejected options are not choices.
            ("所以A错误，B正确", Choice('B')),
            ("A是错误的", Unextractable),
            ("A错误", Unextractable),
            ("The answer is not A", Unextractable),
            ("不是A，是C", Choice('C')),
            ("A. 错误\nB. 正确", Unextractable),
            ("A is wrong, so the answer is C", Choice('C')),
            // Refusals: several letters with no conclusion.
            ("A和C都对", Unextractable),
            ("A or B", Unextractable),
            ("A、B都对", Unextractable),
            ("答案是A或C", Unextractable),
            ("答案：A和B", Unextractable),
            ("答案：AC", Unextractable),
            ("选项A和选项C都有道理", Unextractable),
            ("", Unextractable),
            ("   \n ", Unextractable),
            ("我不知道", Unextractable),
            // Letters beyond the option count are not choices.
            ("E", Unextractable),
            ("答案是E", Unextractable),
        ];
        assert!(cases.len() >= 60, "only {} cases", cases.len());
        let mut failures = Vec::new();
        for (response, expected) in cases {
            let actual = extract_choice(response, 4);
            if actual != *expected {
                failures.push(format!(
                    "{response:?}: expected {expected:?}, got {actual:?}"
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn option_text_table() {
        let options: Vec<String> = ["上海", "北京", "北京市", "维生素C"]
            .iter()
            .map(|option| option.to_string())
            .collect();
        let cases: &[(&str, Extraction)] = &[
            ("答案是：北京", Choice('B')),
            ("答案是：北京。", Choice('B')),
            ("答案是北京市", Choice('C')),
            ("答案：“上海”", Choice('A')),
            ("北京市", Choice('C')),
            ("上海。", Choice('A')),
            ("维生素C", Choice('D')),
            ("我认为是维生素C", Choice('D')),
            ("首都当然是上海啦", Choice('A')),
            // A letter still beats option text.
            ("答案是B", Choice('B')),
            // Two option texts and no conclusion: refuse.
            ("上海或北京", Unextractable),
            ("不知道", Unextractable),
        ];
        let mut failures = Vec::new();
        for (response, expected) in cases {
            let actual = extract_choice_with_options(response, &options);
            if actual != *expected {
                failures.push(format!(
                    "{response:?}: expected {expected:?}, got {actual:?}"
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn refusals_need_a_refusal_phrase_and_no_answer() {
        for refusal in [
            "抱歉，我无法回答这个问题。",
            "作为一个AI语言模型，我不能提供医疗建议。",
            "I'm sorry, but I can't help with that.",
            "I’m sorry, but I can’t help with that.",
            "这个问题涉及敏感内容，我无法回答",
            "<think>敏感</think>对不起，我不能回答。",
        ] {
            assert!(is_refusal(refusal), "{refusal:?} is a refusal");
        }
        for not_refusal in [
            "",
            "我不知道",
            "我无法确定答案",
            "I'm not sure.",
            "抱歉，我不确定，但答案是B",
            "作为一个AI语言模型，我认为答案是C",
            "As an AI, I think the answer is A.",
            // Cut off inside reasoning: it never got to refuse.
            "<think>这个问题涉及敏感内容，我无法回答",
            "<think>我无法回答</think>B",
        ] {
            assert!(!is_refusal(not_refusal), "{not_refusal:?} is not a refusal");
        }
    }

    #[test]
    fn invented_next_item_is_ignored_only_after_an_answer() {
        let continued = "B\n\n以下是中国关于地理考试的单项选择题，请选出其中的正确答案。\n\
                         题目\nA. 甲\nB. 乙\nC. 丙\nD. 丁\n答案: A";
        assert_eq!(extract_choice(continued, 4), Choice('B'));
        let echoed_first = "好的。\n题目：示例\nA. 甲\nB. 乙\nC. 丙\nD. 丁\n答案：C";
        assert_eq!(extract_choice(echoed_first, 4), Choice('C'));
    }

    #[test]
    fn option_count_limits_letters() {
        assert_eq!(extract_choice("E", 5), Choice('E'));
        assert_eq!(extract_choice("答案是E", 5), Choice('E'));
        assert_eq!(extract_choice("C", 2), Unextractable);
        assert_eq!(extract_choice("A", 0), Unextractable);
    }
}
