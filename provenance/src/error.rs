//! The crate's error type. Messages name the file (and line where there is one) and say
//! what to do next, because profiles are files that people pass around between labs.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ProvenanceError {
    /// A built-in data file shipped with the crate does not parse; only a broken edit of
    /// `provenance/probes/*.jsonl` can cause it, so the message points there.
    #[error(
        "built-in data file provenance/probes/{file} line {line} is invalid: {source}; fix the line in the crate sources"
    )]
    BuiltinDataLine {
        file: &'static str,
        line: usize,
        #[source]
        source: serde_json::Error,
    },

    #[error(
        "built-in data file provenance/probes/{file} repeats the id `{id}`; ids must be unique because results are keyed by them"
    )]
    DuplicateBuiltinId { file: &'static str, id: String },

    /// A local tokenizer failed to build from its rank file.
    #[error("cannot build the {tokenizer} tokenizer from its ranks: {reason}")]
    TokenizerUnavailable {
        tokenizer: &'static str,
        reason: String,
    },

    /// A family tokenizer file (see [`crate::family`]) that cannot be read.
    #[error(
        "cannot read the {family} tokenizer file {}: {source}; get it with {how_to_get}, then point the path at it",
        path.display()
    )]
    TokenizerFileRead {
        family: &'static str,
        path: PathBuf,
        how_to_get: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// A family tokenizer file that is not the file whose hash is recorded: counting with
    /// it would state a match with a tokenizer nobody checked.
    #[error(
        "{} is not the {family} tokenizer file this build knows: sha256 {found}, expected {expected}; get the recorded file with {how_to_get}",
        path.display()
    )]
    TokenizerFileHash {
        family: &'static str,
        path: PathBuf,
        expected: &'static str,
        found: String,
        how_to_get: &'static str,
    },

    /// A `tokenizer.json` whose hash matched but whose shape this crate cannot count
    /// faithfully: only a change to the recorded file or to [`crate::bytelevel`] causes it.
    #[error(
        "cannot count with the {family} tokenizer file {}: {reason}; this build's byte-level BPE reader does not match the recorded file, report it",
        path.display()
    )]
    TokenizerFileFormat {
        family: &'static str,
        path: PathBuf,
        reason: String,
    },

    #[error(
        "tokenizer file {} line {line} is not `base64 rank`; the file is damaged, download it again",
        path.display()
    )]
    TokenizerFileLine { path: PathBuf, line: usize },

    #[error("cannot read profile {}: {source}; check the path and its permissions", path.display())]
    ProfileRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "profile {} is not a valid Jianzhen fingerprint profile: {source}; was it written by `jianzhen fingerprint`?",
        path.display()
    )]
    ProfileParse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error(
        "profile {} has format version {found}, this build reads version {supported}; regenerate the profile or upgrade jianzhen",
        path.display()
    )]
    UnsupportedProfileVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    #[error("cannot write profile {}: {source}; check that the folder exists and is writable", path.display())]
    ProfileWrite {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot serialise profile for endpoint `{endpoint}`: {source}")]
    ProfileSerialize {
        endpoint: String,
        #[source]
        source: serde_json::Error,
    },
}
