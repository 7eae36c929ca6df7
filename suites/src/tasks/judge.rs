//! Grading by a judge model, for suites whose published evaluation asks one: Chinese
//! SimpleQA. The judge prompt is OpenCompass's (`opencompass/datasets/chinese_simpleqa.py`
//! @ 3ce9b0a4, Apache-2.0), byte for byte: a system message and a user message with the
//! question, the reference and the predicted answer; the judge answers A (correct), B
//! (incorrect) or C (not attempted), read as the first of those letters in its reply.

use sha2::{Digest, Sha256};

use crate::outcome::Outcome;

/// The judge's system message.
pub const SIMPLEQA_JUDGE_SYSTEM: &str =
    "你是一个智能助手，请根据给定问题、标准答案和模型预测的答案来评估模型的回答是否正确。";

/// The judge's user message, with `{question}`, `{target}` and `{predicted_answer}`.
pub const SIMPLEQA_JUDGE_TEMPLATE: &str = include_str!("simpleqa_judge.txt");

/// Name and hash of the judge prompt, recorded in the manifest.
pub const SIMPLEQA_JUDGE_NAME: &str = "chinese_simpleqa_judge";

/// sha256 (16 hex digits) of the judge's system and user templates.
pub fn judge_prompt_hash() -> String {
    let mut hasher = Sha256::new();
    hasher.update(SIMPLEQA_JUDGE_SYSTEM.as_bytes());
    hasher.update([0u8]);
    hasher.update(SIMPLEQA_JUDGE_TEMPLATE.trim_end().as_bytes());
    hex::encode(hasher.finalize())[..16].to_string()
}

/// The judge's messages for one question, before the answer is known: the system message
/// and the user template with `{predicted_answer}` left in place.
pub fn simpleqa_judge_prompt(question: &str, target: &str) -> (String, String) {
    let user = SIMPLEQA_JUDGE_TEMPLATE
        .trim_end()
        .replace("{question}", question)
        .replace("{target}", target);
    (SIMPLEQA_JUDGE_SYSTEM.to_string(), user)
}

/// What the judge decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Correct,
    Incorrect,
    NotAttempted,
}

impl Verdict {
    /// Stored as the item's extraction.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Correct => "judge:correct",
            Verdict::Incorrect => "judge:incorrect",
            Verdict::NotAttempted => "judge:not_attempted",
        }
    }

    /// The outcome class: a not-attempted answer ("我不知道") is `unextractable`, as the
    /// multiple-choice cascade counts uncertainty; it is never wrong.
    pub fn outcome(self) -> Outcome {
        match self {
            Verdict::Correct => Outcome::Correct,
            Verdict::Incorrect => Outcome::Wrong,
            Verdict::NotAttempted => Outcome::Unextractable,
        }
    }
}

/// The verdict in a judge's reply: the first `A`, `B` or `C` in it, as OpenCompass's
/// `post_process_csimpleqa` reads it; `None` when there is none (OpenCompass then counts
/// the answer as not attempted; Jianzhen keeps that apart as an unreadable judge reply).
pub fn read_verdict(reply: &str) -> Option<Verdict> {
    reply.chars().find_map(|c| match c {
        'A' => Some(Verdict::Correct),
        'B' => Some(Verdict::Incorrect),
        'C' => Some(Verdict::NotAttempted),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_judge_prompt_is_opencompass_s() {
        let (system, user) = simpleqa_judge_prompt("伏兔穴所属的经脉是什么？", "足阳明胃经");
        assert!(system.starts_with("你是一个智能助手"));
        assert!(
            user.starts_with("请根据给定问题、标准答案和模型预测的答案来评估模型的回答是否正确。")
        );
        // The last block uses ASCII colons, unlike the examples above it.
        assert!(user.contains(
            "```\n问题: 伏兔穴所属的经脉是什么？\n正确答案: 足阳明胃经\n预测答案: {predicted_answer}\n```"
        ));
        assert!(user.ends_with("只返回字母\"A\"、\"B\"或\"C\"，无须添加其他文本。"));
        assert_eq!(
            user.matches('{').count(),
            1,
            "only the answer is left to fill"
        );
        assert_eq!(judge_prompt_hash().len(), 16);
    }

    #[test]
    fn verdicts_are_the_first_of_a_b_c() {
        assert_eq!(read_verdict("A"), Some(Verdict::Correct));
        assert_eq!(read_verdict("评定：B:【错误】"), Some(Verdict::Incorrect));
        assert_eq!(read_verdict("C"), Some(Verdict::NotAttempted));
        assert_eq!(read_verdict("无法判断"), None);
        assert_eq!(Verdict::NotAttempted.outcome(), Outcome::Unextractable);
    }
}
