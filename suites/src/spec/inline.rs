//! Templates written inside a spec: a `user` message with placeholders, an optional
//! `system` message and the shots' `assistant` reply.
//!
//! Placeholders are `{subject}` (the subject's prompt name), `{question}`, `{A}`..`{Z}`
//! (option texts), `{answer}` (a shot's letter; empty for the evaluated item, so the gold
//! answer never reaches the prompt) and `{explanation}`. Substitution is a single pass:
//! text inserted from the data is never scanned again, so a question containing `{A}`
//! stays as written (unlike OpenCompass's sequential `safe_format`, which the built-in
//! OpenCompass templates reproduce on purpose). Any other `{word}` is rejected when the
//! spec is loaded, since it is almost always a typo; other braces (`\frac{1}{2}`) are
//! kept.

use sha2::{Digest, Sha256};

use crate::error::SuiteError;
use crate::item::McItem;
use crate::spec::TemplateSpec;
use crate::template::{ChatMessage, ScoringMode};

/// Modes an inline template can be scored in: it renders chat messages only.
pub const SCORING_MODES: &[ScoringMode] = &[ScoringMode::Gen, ScoringMode::LoglikFirstToken];

/// Bumped when substitution or message assembly changes.
const INLINE_RENDERING_VERSION: &str = "spec-inline-chat-v1";

/// The placeholder names in `text`: `{` + ASCII letters/underscores + `}`.
fn placeholders(text: &str) -> Vec<(usize, usize, &str)> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    while let Some(open) = text[start..].find('{').map(|offset| start + offset) {
        let name_end = text[open + 1..]
            .find(|character: char| !(character.is_ascii_alphabetic() || character == '_'))
            .map_or(text.len(), |offset| open + 1 + offset);
        if name_end > open + 1 && bytes.get(name_end) == Some(&b'}') {
            found.push((open, name_end + 1, &text[open + 1..name_end]));
            start = name_end + 1;
        } else {
            start = open + 1;
        }
    }
    found
}

fn is_known(name: &str) -> bool {
    matches!(name, "subject" | "question" | "answer" | "explanation")
        || (name.len() == 1 && name.chars().all(|character| character.is_ascii_uppercase()))
}

/// Rejects unknown `{word}` placeholders.
pub(crate) fn check_placeholders(text: &str) -> Result<(), String> {
    match placeholders(text)
        .into_iter()
        .find(|(_, _, name)| !is_known(name))
    {
        None => Ok(()),
        Some((_, _, name)) => Err(format!(
            "unknown placeholder `{{{name}}}`; use {{subject}}, {{question}}, {{A}}..{{Z}}, \
             {{answer}} or {{explanation}}"
        )),
    }
}

/// Hash of an inline template, like [`crate::template::template_hash`].
pub(crate) fn hash(name: &str, template: &TemplateSpec) -> String {
    let pieces = [
        INLINE_RENDERING_VERSION,
        name,
        template.system.as_deref().unwrap_or(""),
        template.user.as_deref().unwrap_or(""),
        template.assistant.as_deref().unwrap_or("{answer}"),
    ];
    let mut hasher = Sha256::new();
    for piece in pieces {
        hasher.update((piece.len() as u64).to_le_bytes());
        hasher.update(piece.as_bytes());
    }
    hex::encode(hasher.finalize())[..16].to_string()
}

fn fill(
    template_name: &str,
    text: &str,
    subject: &str,
    item: &McItem,
    answer: &str,
) -> Result<String, SuiteError> {
    let mut out = String::with_capacity(text.len() + item.question.len());
    let mut last = 0;
    for (start, end, name) in placeholders(text) {
        out.push_str(&text[last..start]);
        let value = match name {
            "subject" => subject,
            "question" => item.question.as_str(),
            "answer" => answer,
            "explanation" => item.explanation.as_deref().unwrap_or(""),
            letter => {
                let index = letter
                    .bytes()
                    .next()
                    .map_or(usize::MAX, |byte| usize::from(byte.wrapping_sub(b'A')));
                item.options
                    .get(index)
                    .map(String::as_str)
                    .ok_or_else(|| SuiteError::Render {
                        template: template_name.to_string(),
                        item_id: item.id.clone(),
                        problem: format!(
                            "the template uses {{{letter}}} but the item has {} options",
                            item.options.len()
                        ),
                    })?
            }
        };
        out.push_str(value);
        last = end;
    }
    out.push_str(&text[last..]);
    Ok(out)
}

/// Renders an inline template: the system message, a user/assistant pair per shot, and
/// the item as the final user message.
pub(crate) fn render_chat(
    template_name: &str,
    template: &TemplateSpec,
    subject: &str,
    item: &McItem,
    shots: &[McItem],
) -> Result<Vec<ChatMessage>, SuiteError> {
    let user = template.user.as_deref().unwrap_or("{question}");
    let assistant = template.assistant.as_deref().unwrap_or("{answer}");
    let message = |role: &str, content: String| ChatMessage {
        role: role.to_string(),
        content,
    };
    let mut messages = Vec::with_capacity(shots.len() * 2 + 2);
    if let Some(system) = &template.system {
        messages.push(message(
            "system",
            fill(template_name, system, subject, item, "")?,
        ));
    }
    for shot in shots {
        let answer = shot.answer.ok_or_else(|| SuiteError::Render {
            template: template_name.to_string(),
            item_id: shot.id.clone(),
            problem: "a few-shot example has no answer; take shots from a split with answers"
                .to_string(),
        })?;
        let answer = answer.to_string();
        messages.push(message(
            "user",
            fill(template_name, user, subject, shot, &answer)?,
        ));
        messages.push(message(
            "assistant",
            fill(template_name, assistant, subject, shot, &answer)?,
        ));
    }
    messages.push(message(
        "user",
        fill(template_name, user, subject, item, "")?,
    ));
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::item::SourceLocation;

    fn item(id: &str, question: &str, options: &[&str], answer: Option<char>) -> McItem {
        McItem {
            id: id.to_string(),
            subject: "物理".to_string(),
            question: question.to_string(),
            options: options.iter().map(|option| option.to_string()).collect(),
            answer,
            explanation: None,
            source: SourceLocation {
                path: PathBuf::from("x.jsonl"),
                line: 1,
            },
        }
    }

    fn spec(user: &str) -> TemplateSpec {
        TemplateSpec {
            builtin: None,
            name: Some("quiz_v1".to_string()),
            system: Some("你是{subject}老师。".to_string()),
            user: Some(user.to_string()),
            assistant: Some("答案：{answer}".to_string()),
        }
    }

    #[test]
    fn renders_shots_and_substitutes_once() {
        let template = spec("{question}\nA. {A}\nB. {B}\nC. {C}");
        let shot = item("s/dev/0", "1+1=?", &["1", "2", "3"], Some('B'));
        let evaluated = item(
            "s/test/0",
            "求 \\frac{1}{2}+{A}",
            &["1", "{B}", "0"],
            Some('A'),
        );
        let messages =
            render_chat("quiz_v1", &template, "物理", &evaluated, &[shot]).expect("render");
        let contents: Vec<(&str, &str)> = messages
            .iter()
            .map(|message| (message.role.as_str(), message.content.as_str()))
            .collect();
        assert_eq!(
            contents,
            vec![
                ("system", "你是物理老师。"),
                ("user", "1+1=?\nA. 1\nB. 2\nC. 3"),
                ("assistant", "答案：B"),
                ("user", "求 \\frac{1}{2}+{A}\nA. 1\nB. {B}\nC. 0"),
            ]
        );
    }

    #[test]
    fn placeholders_are_checked() {
        assert!(check_placeholders("{question} {A} {Z} {subject} {answer} {explanation}").is_ok());
        assert!(check_placeholders("\\frac{1}{2} {} {a1}").is_ok());
        let problem = check_placeholders("{questoin}").expect_err("typo");
        assert!(problem.contains("{questoin}"), "{problem}");
        let template = spec("{question}\nE. {E}");
        let error = render_chat(
            "quiz_v1",
            &template,
            "物理",
            &item("s/test/1", "q", &["1", "2"], None),
            &[],
        )
        .expect_err("no option E");
        assert!(error.to_string().contains("{E}"), "{error}");
        assert_eq!(hash("quiz_v1", &template), hash("quiz_v1", &template));
        assert_ne!(hash("quiz_v1", &template), hash("quiz_v2", &template));
    }
}
