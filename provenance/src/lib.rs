//! # jianzhen-provenance
//!
//! Is an endpoint what its vendor says it is, or a wrapper or distillation of another
//! model? This crate gathers evidence for that question and states the strength of each
//! piece; it never turns evidence into a verdict. It is pure: no network, no database, no
//! async runtime. The coordinator sends the probes and stores the replies; this crate
//! decides what the replies show.
//!
//! # Layout
//! - [`probes`]: the built-in identity probes (`probes/identity.jsonl`), tokenizer texts
//!   and open prompts, with their loaders.
//! - [`identity`]: classify an answer into the maker and model family it claims (with
//!   negations such as "我不是ChatGPT" not counted), and compare the claims with the
//!   declared vendor.
//! - [`tokenizer`]: compare an endpoint's reported `usage.prompt_tokens` on fixed texts
//!   with local tokenizers (cl100k_base, o200k_base) and reference profiles, after
//!   estimating the chat template's constant overhead.
//! - [`family`]: tokenizers of Chinese model families (Qwen's `qwen.tiktoken`,
//!   DeepSeek's `tokenizer.json`), loaded at run time from the file a package registry
//!   ships, checked by sha256.
//! - [`bytelevel`]: Hugging Face byte-level BPE from a `tokenizer.json` (merges in list
//!   order, the pre-tokenizer's splits in sequence), for families that ship one.
//! - [`agreement`]: agreement between two endpoints on multiple-choice items: raw, Cohen's
//!   kappa, CAPA, and above all agreement on the same wrong answers.
//! - [`bank`]: the built-in multiple-choice bank a provenance run adds when its suites
//!   hold too few items for power, and that threshold.
//! - [`persona`]: the persona null band — what a reference shares with itself when
//!   re-asked under personas — the same-model level a suspect is judged against.
//! - [`rank`]: first-token log-probability rank agreement of the options per item.
//! - [`similarity`]: character n-gram overlap of open-ended answers.
//! - [`profile`]: the portable, versioned fingerprint profile and its comparison with a
//!   library of reference profiles.
//! - [`report`]: the Markdown provenance section for one endpoint.
//! - [`evidence`]: the strength scale every finding is stated on.
//! - [`error`]: the crate's error type.

pub mod agreement;
pub mod bank;
pub mod bytelevel;
pub mod error;
pub mod evidence;
pub mod family;
pub mod identity;
pub mod persona;
pub mod probes;
pub mod profile;
pub mod rank;
pub mod report;
pub mod similarity;
pub mod tokenizer;

pub use error::ProvenanceError;
pub use evidence::EvidenceStrength;
