//! Hugging Face byte-level BPE, read from a `tokenizer.json`, counted the way the
//! `tokenizers` library counts it.
//!
//! tiktoken-rs's [`tiktoken_rs::CoreBPE`] cannot stand in for it faithfully, for two
//! reasons:
//!
//! - Hugging Face BPE applies its *merges* in list order, and only the listed pairs. A
//!   tiktoken rank table merges any adjacent pair whose concatenation is a token, so a
//!   token reachable by another split (`a` + `bc` where only `ab` + `c` is a merge) would
//!   merge where Hugging Face leaves two tokens.
//! - The pre-tokenizer is a *sequence* of splits, each applied to every piece the previous
//!   one produced (DeepSeek's: digit runs of at most three, then CJK runs, then a
//!   GPT-style word pattern). One combined pattern does not split the same way, because a
//!   later split never sees across a boundary an earlier one made.
//!
//! So this module applies the splits in sequence with fancy-regex (the engine tiktoken-rs
//! already builds, so no new crate is compiled), maps each piece's bytes to the byte-level
//! alphabet, and merges by the lowest merge rank, leftmost first — what `tokenizers`'s
//! `Word::merge_all` does with its priority queue.
//!
//! Only the shape DeepSeek's file has is accepted: no normalizer, a sequence of isolating
//! regex splits ending in a byte-level step without its own regex, and a plain BPE model.
//! Any other shape is refused with the part that is not supported, rather than counted
//! approximately.
//!
//! Counts are those of `encode(text, add_special_tokens=False)`: no BOS is added, but
//! added tokens written in the text (`<think>`, `<｜User｜>`) are matched first and count
//! one token each, as a serving stack that tokenizes with `tokenizers` counts them. The
//! fixed texts contain none of them.

use std::collections::HashMap;

use fancy_regex::Regex;
use serde::Deserialize;

/// The parts of `tokenizer.json` that decide token counts.
#[derive(Debug, Deserialize)]
struct TokenizerJson {
    #[serde(default)]
    added_tokens: Vec<AddedToken>,
    normalizer: Option<Normalizer>,
    pre_tokenizer: PreTokenizer,
    model: BpeModel,
}

#[derive(Debug, Deserialize)]
struct AddedToken {
    content: String,
    #[serde(default)]
    single_word: bool,
    #[serde(default)]
    lstrip: bool,
    #[serde(default)]
    rstrip: bool,
    #[serde(default)]
    normalized: bool,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
enum Normalizer {
    Sequence {
        normalizers: Vec<serde_json::Value>,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
enum PreTokenizer {
    Sequence {
        pretokenizers: Vec<PreTokenizer>,
    },
    Split {
        pattern: SplitPattern,
        behavior: String,
        invert: bool,
    },
    ByteLevel {
        add_prefix_space: bool,
        use_regex: bool,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
enum SplitPattern {
    Regex(String),
    String(String),
}

#[derive(Debug, Deserialize)]
struct BpeModel {
    #[serde(rename = "type")]
    kind: String,
    dropout: Option<f64>,
    continuing_subword_prefix: Option<String>,
    end_of_word_suffix: Option<String>,
    #[serde(default)]
    byte_fallback: bool,
    #[serde(default)]
    ignore_merges: bool,
    vocab: HashMap<String, u32>,
    merges: Vec<MergeEntry>,
}

/// A merge is `"left right"` in older files and `["left", "right"]` in newer ones.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum MergeEntry {
    Joined(String),
    Pair(String, String),
}

/// A byte-level BPE tokenizer ready to count.
pub struct ByteLevelBpe {
    /// Added tokens matched in the raw text, then in what is left after the normalizer
    /// (a no-op here), each alternation longest first so a match is leftmost-longest, as
    /// `tokenizers`' two Aho-Corasick passes find them. `None` when there are none.
    added_token_passes: [Option<Regex>; 2],
    /// The pre-tokenizer's isolating splits, applied in order to every piece.
    splits: Vec<Regex>,
    /// The token id of each single byte, through GPT-2's byte-to-character alphabet.
    byte_token_ids: Vec<u32>,
    /// `(left id, right id)` → `(merge rank, merged id)`: only listed pairs merge, lowest
    /// rank first.
    merges: HashMap<(u32, u32), (u32, u32)>,
    /// Tokens in the BPE vocabulary (added tokens not included).
    pub vocabulary_size: usize,
}

impl std::fmt::Debug for ByteLevelBpe {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ByteLevelBpe")
            .field("splits", &self.splits.len())
            .field("merges", &self.merges.len())
            .field("vocabulary_size", &self.vocabulary_size)
            .finish_non_exhaustive()
    }
}

/// GPT-2's `bytes_to_unicode`: printable Latin-1 bytes stand for themselves, the others
/// are numbered from U+0100 in byte order, so every byte is one visible character.
fn byte_to_character() -> Vec<char> {
    let printable = |byte: u8| matches!(byte, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut next_unprintable = 256u32;
    (0..=255u8)
        .map(|byte| {
            if printable(byte) {
                char::from(byte)
            } else {
                let character =
                    char::from_u32(next_unprintable).unwrap_or(char::REPLACEMENT_CHARACTER);
                next_unprintable += 1;
                character
            }
        })
        .collect()
}

/// One alternation of the added tokens that are (or are not) matched after the
/// normalizer, longest first.
fn added_token_matcher(tokens: &[AddedToken], normalized: bool) -> Result<Option<Regex>, String> {
    let mut contents: Vec<&str> = Vec::new();
    for token in tokens.iter().filter(|token| token.normalized == normalized) {
        if token.single_word || token.lstrip || token.rstrip {
            return Err(format!(
                "added token {:?} with single_word, lstrip or rstrip is not supported",
                token.content
            ));
        }
        if !token.content.is_empty() {
            contents.push(&token.content);
        }
    }
    if contents.is_empty() {
        return Ok(None);
    }
    contents.sort_by_key(|content| std::cmp::Reverse(content.len()));
    let alternation = contents
        .iter()
        .map(|content| fancy_regex::escape(content))
        .collect::<Vec<_>>()
        .join("|");
    Regex::new(&alternation)
        .map(Some)
        .map_err(|error| format!("added tokens do not compile as a pattern: {error}"))
}

/// Collects the isolating splits of a pre-tokenizer, which must end in a plain
/// byte-level step.
fn collect_splits(
    pre_tokenizer: PreTokenizer,
    splits: &mut Vec<Regex>,
    saw_byte_level: &mut bool,
) -> Result<(), String> {
    match pre_tokenizer {
        PreTokenizer::Sequence { pretokenizers } => pretokenizers
            .into_iter()
            .try_for_each(|inner| collect_splits(inner, splits, saw_byte_level)),
        _ if *saw_byte_level => {
            Err("a pre-tokenizer step after the byte-level step is not supported".to_owned())
        }
        PreTokenizer::Split {
            pattern,
            behavior,
            invert,
        } => {
            if behavior != "Isolated" || invert {
                return Err(format!(
                    "split behaviour {behavior} (invert {invert}) is not supported, only Isolated"
                ));
            }
            let pattern = match pattern {
                SplitPattern::Regex(pattern) => pattern,
                SplitPattern::String(literal) => fancy_regex::escape(&literal).into_owned(),
            };
            let regex = Regex::new(&pattern)
                .map_err(|error| format!("split pattern {pattern:?} does not compile: {error}"))?;
            splits.push(regex);
            Ok(())
        }
        PreTokenizer::ByteLevel {
            add_prefix_space,
            use_regex,
        } => {
            if add_prefix_space || use_regex {
                return Err(format!(
                    "byte-level step with add_prefix_space {add_prefix_space} and use_regex {use_regex} is not supported"
                ));
            }
            *saw_byte_level = true;
            Ok(())
        }
        PreTokenizer::Other => Err(
            "a pre-tokenizer type other than Sequence, Split and ByteLevel is not supported"
                .to_owned(),
        ),
    }
}

impl ByteLevelBpe {
    /// Reads a `tokenizer.json`.
    ///
    /// # Errors
    /// A reason, for the caller to wrap with the file's name, when the JSON does not parse
    /// or has a shape this module does not count faithfully.
    pub fn from_tokenizer_json(bytes: &[u8]) -> Result<ByteLevelBpe, String> {
        let file: TokenizerJson = serde_json::from_slice(bytes)
            .map_err(|error| format!("not a Hugging Face tokenizer.json: {error}"))?;
        match file.normalizer {
            None => {}
            Some(Normalizer::Sequence { normalizers }) if normalizers.is_empty() => {}
            Some(_) => return Err("a normalizer is not supported".to_owned()),
        }
        let added_token_passes = [
            added_token_matcher(&file.added_tokens, false)?,
            added_token_matcher(&file.added_tokens, true)?,
        ];
        let mut splits = Vec::new();
        let mut saw_byte_level = false;
        collect_splits(file.pre_tokenizer, &mut splits, &mut saw_byte_level)?;
        if !saw_byte_level {
            return Err("the pre-tokenizer has no byte-level step".to_owned());
        }
        let model = file.model;
        if model.kind != "BPE"
            || model.dropout.is_some()
            || model.continuing_subword_prefix.is_some()
            || model.end_of_word_suffix.is_some()
            || model.byte_fallback
            || model.ignore_merges
        {
            return Err(format!(
                "model {} with dropout, subword affixes, byte fallback or ignore_merges is not supported",
                model.kind
            ));
        }
        let byte_token_ids = byte_to_character()
            .into_iter()
            .enumerate()
            .map(|(byte, character)| {
                model
                    .vocab
                    .get(character.encode_utf8(&mut [0; 4]) as &str)
                    .copied()
                    .ok_or_else(|| format!("byte {byte:#04x} has no token in the vocabulary"))
            })
            .collect::<Result<Vec<u32>, String>>()?;
        let token_id = |token: &str| {
            model
                .vocab
                .get(token)
                .copied()
                .ok_or_else(|| format!("merge names {token:?}, which is not in the vocabulary"))
        };
        let mut merges = HashMap::with_capacity(model.merges.len());
        for (rank, entry) in model.merges.iter().enumerate() {
            let (left, right) = match entry {
                MergeEntry::Joined(joined) => joined
                    .split_once(' ')
                    .ok_or_else(|| format!("merge {joined:?} is not `left right`"))?,
                MergeEntry::Pair(left, right) => (left.as_str(), right.as_str()),
            };
            let merged = token_id(&format!("{left}{right}"))?;
            let rank = u32::try_from(rank).map_err(|_| "too many merges".to_owned())?;
            // A pair listed twice keeps its last rank, as `tokenizers` collects its merge
            // map; DeepSeek's file lists no pair twice.
            merges.insert((token_id(left)?, token_id(right)?), (rank, merged));
        }
        Ok(ByteLevelBpe {
            added_token_passes,
            splits,
            byte_token_ids,
            merges,
            vocabulary_size: model.vocab.len(),
        })
    }

    /// The pieces the pre-tokenizer cuts `text` into: each split isolates its matches and
    /// the text between them, in every piece the previous split left.
    ///
    /// # Errors
    /// fancy-regex's backtracking limit, as its message.
    pub fn pre_tokenize<'text>(&self, text: &'text str) -> Result<Vec<&'text str>, String> {
        let mut pieces = vec![text];
        for split in &self.splits {
            let mut next_pieces = Vec::with_capacity(pieces.len());
            for piece in pieces {
                let mut previous_end = 0;
                for found in split.find_iter(piece) {
                    let found = found.map_err(|error| format!("{error}"))?;
                    if found.start() > previous_end {
                        next_pieces.push(&piece[previous_end..found.start()]);
                    }
                    if found.end() > found.start() {
                        next_pieces.push(found.as_str());
                    }
                    previous_end = found.end();
                }
                if previous_end < piece.len() {
                    next_pieces.push(&piece[previous_end..]);
                }
            }
            pieces = next_pieces;
        }
        Ok(pieces)
    }

    /// The token ids of one pre-tokenized piece: start from its bytes and merge the
    /// adjacent pair with the lowest merge rank, the leftmost among equals, until no
    /// listed pair is left.
    pub fn encode_piece(&self, piece: &str) -> Vec<u32> {
        let mut symbols: Vec<u32> = piece
            .bytes()
            .map(|byte| self.byte_token_ids[usize::from(byte)])
            .collect();
        loop {
            let best = symbols
                .windows(2)
                .enumerate()
                .filter_map(|(position, pair)| {
                    self.merges
                        .get(&(pair[0], pair[1]))
                        .map(|&(rank, merged)| (rank, position, merged))
                })
                .min_by_key(|&(rank, position, _)| (rank, position));
            let Some((_, position, merged)) = best else {
                return symbols;
            };
            symbols[position] = merged;
            symbols.remove(position + 1);
        }
    }

    /// Cuts `text` around the added tokens written in it: `(segment, is an added token)`
    /// in order.
    ///
    /// # Errors
    /// fancy-regex's backtracking limit, as its message.
    pub fn split_added_tokens<'text>(
        &self,
        text: &'text str,
    ) -> Result<Vec<(&'text str, bool)>, String> {
        let mut segments = vec![(text, false)];
        for matcher in self.added_token_passes.iter().flatten() {
            let mut next_segments = Vec::with_capacity(segments.len());
            for (segment, is_added) in segments {
                if is_added {
                    next_segments.push((segment, true));
                    continue;
                }
                let mut previous_end = 0;
                for found in matcher.find_iter(segment) {
                    let found = found.map_err(|error| format!("{error}"))?;
                    if found.start() > previous_end {
                        next_segments.push((&segment[previous_end..found.start()], false));
                    }
                    next_segments.push((found.as_str(), true));
                    previous_end = found.end();
                }
                if previous_end < segment.len() {
                    next_segments.push((&segment[previous_end..], false));
                }
            }
            segments = next_segments;
        }
        Ok(segments)
    }

    /// The number of tokens `text` encodes to without added BOS or EOS.
    ///
    /// # Errors
    /// As for [`ByteLevelBpe::pre_tokenize`].
    pub fn count_tokens(&self, text: &str) -> Result<u64, String> {
        let mut count = 0;
        for (segment, is_added) in self.split_added_tokens(text)? {
            if is_added {
                count += 1;
                continue;
            }
            for piece in self.pre_tokenize(segment)? {
                count += self.encode_piece(piece).len() as u64;
            }
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tokenizer.json in DeepSeek's shape over a tiny vocabulary: the 256 byte tokens
    /// (ids 0-255) and the given merges, numbered after them.
    fn tiny_tokenizer_json(splits: &[&str], merges: &[(&str, &str)]) -> Vec<u8> {
        let mut vocab: serde_json::Map<String, serde_json::Value> = byte_to_character()
            .into_iter()
            .enumerate()
            .map(|(id, character)| (character.to_string(), id.into()))
            .collect();
        for (left, right) in merges {
            let next = vocab.len();
            vocab
                .entry(format!("{left}{right}"))
                .or_insert_with(|| next.into());
        }
        let mut pretokenizers: Vec<serde_json::Value> = splits
            .iter()
            .map(|pattern| {
                serde_json::json!({"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false})
            })
            .collect();
        pretokenizers.push(serde_json::json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}));
        serde_json::to_vec(&serde_json::json!({
            "normalizer": {"type": "Sequence", "normalizers": []},
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": pretokenizers},
            "model": {
                "type": "BPE", "dropout": null, "unk_token": null,
                "continuing_subword_prefix": null, "end_of_word_suffix": null,
                "fuse_unk": false, "byte_fallback": false,
                "vocab": vocab,
                "merges": merges.iter().map(|(left, right)| format!("{left} {right}")).collect::<Vec<_>>(),
            }
        }))
        .expect("json")
    }

    #[test]
    fn bytes_map_to_gpt2_characters() {
        let characters = byte_to_character();
        assert_eq!(characters[usize::from(b'a')], 'a');
        // Space and newline are unprintable in GPT-2's alphabet: Ġ and Ċ.
        assert_eq!(characters[usize::from(b' ')], 'Ġ');
        assert_eq!(characters[usize::from(b'\n')], 'Ċ');
        assert_eq!(characters[0xAD], 'Ń');
    }

    #[test]
    fn only_listed_merges_apply_in_list_order_not_any_pair_that_forms_a_token() {
        // "abc" is a token, made by "ab" + "c". With "b c" listed first, "abc" becomes
        // "a" + "bc", and "a bc" is not a merge: two tokens, as Hugging Face counts. A
        // tiktoken rank table holding "abc" would merge "a" + "bc" into one.
        let bpe = ByteLevelBpe::from_tokenizer_json(&tiny_tokenizer_json(
            &[],
            &[("b", "c"), ("a", "b"), ("ab", "c")],
        ))
        .expect("tiny tokenizer");
        assert_eq!(bpe.encode_piece("abc").len(), 2);
        assert_eq!(bpe.encode_piece("abd").len(), 2);
        assert_eq!(bpe.encode_piece("bcbc").len(), 2);
        assert_eq!(bpe.vocabulary_size, 259);
    }

    #[test]
    fn equal_ranks_merge_leftmost_first() {
        // "aaa" with "a a" → "aa" + "a", not "a" + "aa"; "aa a" is a merge, "a aa" not.
        let bpe = ByteLevelBpe::from_tokenizer_json(&tiny_tokenizer_json(
            &[],
            &[("a", "a"), ("aa", "a")],
        ))
        .expect("tiny tokenizer");
        assert_eq!(bpe.encode_piece("aaa").len(), 1);
        assert_eq!(bpe.encode_piece("aaaa").len(), 2);
    }

    #[test]
    fn each_split_applies_to_the_pieces_the_previous_one_left() {
        let bpe = ByteLevelBpe::from_tokenizer_json(&tiny_tokenizer_json(
            &[r"\p{N}{1,3}", r"[\u4e00-\u9fa5]+", r" ?\p{L}+|\s+"],
            &[],
        ))
        .expect("tiny tokenizer");
        assert_eq!(
            bpe.pre_tokenize("abc1234567 你好x").expect("split"),
            vec!["abc", "123", "456", "7", " ", "你好", "x"]
        );
        assert_eq!(bpe.pre_tokenize("").expect("split"), Vec::<&str>::new());
        // No merges: one token per byte; 你 and 好 are three bytes each.
        assert_eq!(bpe.count_tokens("1 你好").expect("count"), 8);
    }

    #[test]
    fn added_tokens_in_the_text_count_one_each_longest_first() {
        let mut file: serde_json::Value =
            serde_json::from_slice(&tiny_tokenizer_json(&[r"\p{L}+|\p{N}|[^\p{L}\p{N}]+"], &[]))
                .expect("json");
        file["added_tokens"] = serde_json::json!([
            {"id": 300, "content": "<think>", "special": false, "normalized": true},
            {"id": 301, "content": "<think", "special": false, "normalized": false},
            {"id": 302, "content": "<|end|>", "special": true, "normalized": false},
        ]);
        let bpe = ByteLevelBpe::from_tokenizer_json(&serde_json::to_vec(&file).expect("json"))
            .expect("tiny tokenizer");
        // The raw-text pass runs first: "<think" is taken before "<think>" is looked for,
        // which leaves ">" to the pre-tokenizer.
        assert_eq!(
            bpe.split_added_tokens("a<think>b<|end|>").expect("split"),
            vec![
                ("a", false),
                ("<think", true),
                (">b", false),
                ("<|end|>", true)
            ]
        );
        // a, <think, >, b, <|end|>: five tokens with no merges.
        assert_eq!(bpe.count_tokens("a<think>b<|end|>").expect("count"), 5);
    }

    #[test]
    fn shapes_that_would_count_differently_are_refused() {
        let mut file: serde_json::Value =
            serde_json::from_slice(&tiny_tokenizer_json(&[r"\d"], &[])).expect("json");
        file["normalizer"] = serde_json::json!({"type": "NFC"});
        let error = ByteLevelBpe::from_tokenizer_json(&serde_json::to_vec(&file).expect("json"))
            .expect_err("normalizer");
        assert!(error.contains("normalizer"), "{error}");

        let mut file: serde_json::Value =
            serde_json::from_slice(&tiny_tokenizer_json(&[r"\d"], &[])).expect("json");
        file["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed".into();
        let error = ByteLevelBpe::from_tokenizer_json(&serde_json::to_vec(&file).expect("json"))
            .expect_err("removed split");
        assert!(error.contains("Removed"), "{error}");

        let mut file: serde_json::Value =
            serde_json::from_slice(&tiny_tokenizer_json(&[], &[])).expect("json");
        file["model"]["merges"] = serde_json::json!(["x y"]);
        let error = ByteLevelBpe::from_tokenizer_json(&serde_json::to_vec(&file).expect("json"))
            .expect_err("merge result outside the vocabulary");
        assert!(error.contains("\"xy\""), "{error}");

        let error = ByteLevelBpe::from_tokenizer_json(b"{}").expect_err("not a tokenizer");
        assert!(
            error.contains("not a Hugging Face tokenizer.json"),
            "{error}"
        );
    }
}
