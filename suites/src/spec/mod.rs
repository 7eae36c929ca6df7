//! Declarative suite specs: a TOML file that describes a multiple-choice suite (its
//! files, how records map to questions, options and answers, subjects and categories,
//! few-shot source, template and scoring mode), so a new CSV or JSONL multiple-choice set
//! runs with a spec file alone. Every key is documented in `docs/suite-spec.md`.
//!
//! # Layout
//! - this file: the [`DeclarativeSuite`] types, parsing ([`load_spec_file`], [`load_spec_str`])
//!   with checks that name the spec file and line, the built-in specs
//!   ([`builtin_spec`]), and template dispatch ([`DeclarativeSuite::render_chat`]).
//! - [`files`]: matching the spec's file patterns (`*`, `?`, `**`, `{subject}`) against
//!   the data directory.
//! - [`records`]: reading CSV / JSONL / JSON records into [`McItem`]s
//!   ([`load_with_spec`]).
//! - [`inline`]: templates written inside a spec.
//!
//! The built-in C-Eval and CMMLU suites are themselves specs (`specs/ceval.toml`,
//! `specs/cmmlu.toml`), and their records are read only through them ([`crate::load`] is
//! their entry point by name); the keys `layout`, `fields.answer.letters` and
//! `fields.answer_optional_in` keep the words and rules of the former hand-written loader.

pub mod files;
pub mod inline;
pub mod records;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::SuiteError;
use crate::item::{McItem, SuiteName};
use crate::template::{self, ChatMessage, ScoringMode};

pub use records::{
    SpecLoad, SpecLoadOptions, list_file_subjects, load_with_spec, load_with_spec_options,
};

/// The C-Eval spec, as shipped.
pub const CEVAL_SPEC: &str = include_str!("../../specs/ceval.toml");
/// The CMMLU spec, as shipped.
pub const CMMLU_SPEC: &str = include_str!("../../specs/cmmlu.toml");

/// A multiple-choice suite described declaratively: a user's spec file, or the shipped
/// spec of C-Eval or CMMLU ([`builtin_spec`]). (The run spec's entry naming a suite for a
/// run is the coordinator's `spec::SuiteSpec`, a different thing.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclarativeSuite {
    /// Suite name; part of every item id's context and of reports. `ceval` and `cmmlu`
    /// name the built-in suites.
    pub name: String,
    /// Version of the spec; bump it when a change alters items or prompts, so results
    /// computed under the old spec are not mixed with new ones.
    pub version: String,
    /// One line for `suites list`.
    #[serde(default)]
    pub description: String,
    pub format: DataFormat,
    /// The split evaluated when the user names none.
    pub default_split: Option<String>,
    /// How answers are scored; must be one the template supports.
    #[serde(default = "default_scoring")]
    pub scoring: ScoringMode,
    /// Split name → file patterns relative to the data directory.
    pub splits: BTreeMap<String, FilePatterns>,
    pub fields: FieldMap,
    pub subject: SubjectSource,
    /// Subject key → the name inserted into prompts (`{subject}`); a subject without an
    /// entry is named by its key.
    #[serde(default)]
    pub subject_names: BTreeMap<String, String>,
    /// Subject key → the category (or categories) its accuracy is aggregated under.
    #[serde(default)]
    pub categories: BTreeMap<String, Categories>,
    /// Where few-shot examples come from; absent means zero-shot.
    pub fewshot: Option<FewshotSource>,
    pub template: TemplateSpec,
    /// Refuse the whole load at the first record that cannot become an item, instead of
    /// leaving it out and naming it (as `--strict` does for one run).
    #[serde(default)]
    pub strict: bool,
    /// How a run reads generated answers unless its run spec says otherwise: `jianzhen`
    /// (default), `opencompass` (the template's OpenCompass post-processor) or a peer
    /// extractor's name ([`crate::peer`]); checked when a run is prepared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extractor: Option<String>,
    /// The data directory's layout in words, for the user whose folder does not match it;
    /// `{data_dir}` and `{this_split}` (the split being read) are filled in. When set, the split's files are taken to
    /// live in folders, and a missing split folder, a folder without data files, an
    /// unknown subject and a subject without its few-shot file are reported as such
    /// ([`SuiteError::MissingSplit`], [`SuiteError::NoSubjects`],
    /// [`SuiteError::UnknownSubject`], [`SuiteError::MissingFewshotFile`]) instead of
    /// as "no file matches". The shipped C-Eval and CMMLU specs set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
}

fn default_scoring() -> ScoringMode {
    ScoringMode::Gen
}

/// The file format of a suite's data files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    /// A header row, then one record per row; quoted cells may span lines.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// One JSON array of objects.
    Json,
}

/// One pattern or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FilePatterns {
    One(String),
    Many(Vec<String>),
}

impl FilePatterns {
    pub fn patterns(&self) -> Vec<&str> {
        match self {
            FilePatterns::One(pattern) => vec![pattern.as_str()],
            FilePatterns::Many(patterns) => patterns.iter().map(String::as_str).collect(),
        }
    }
}

/// Where each part of an item is read from in a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMap {
    /// Field holding the record's id (CSV: column header; an empty string names a column
    /// with an empty header, like CMMLU's index). Absent: the record's 0-based position
    /// in its file.
    pub id: Option<String>,
    pub question: String,
    pub options: OptionsField,
    pub answer: AnswerField,
    /// Optional field with an explanation (used by chain-of-thought shots); a missing or
    /// blank value is no explanation.
    pub explanation: Option<String>,
    /// Splits whose answers are withheld: there the answer field may be missing or empty
    /// and the item has no gold answer.
    #[serde(default)]
    pub answer_hidden_in: Vec<String>,
    /// Splits that are scored but where a record may leave its answer empty: such a
    /// record becomes an item without a gold answer, as in a hidden split, but the split
    /// is not marked as withholding answers (CMMLU's `test`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answer_optional_in: Vec<String>,
}

/// How a record gives its options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptionsField {
    /// One field per option, in letter order.
    Columns { columns: Vec<String> },
    /// A JSON array of option texts.
    List {
        field: String,
        /// Options carry their letter (`A. …`, `(B)…`): strip it and order by it.
        #[serde(default)]
        strip_letter_prefix: bool,
    },
    /// One string holding every option, split on `separator`.
    Joined {
        field: String,
        #[serde(default = "default_separator")]
        separator: String,
        #[serde(default)]
        strip_letter_prefix: bool,
    },
    /// The options are lines of the question text (`A. …` on its own line); the question
    /// becomes the text before the first of them.
    Question,
}

fn default_separator() -> String {
    "\n".to_string()
}

/// How a record gives its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case", deny_unknown_fields)]
pub enum AnswerField {
    /// An option letter, `A`..; surrounding whitespace is ignored, case is not.
    Letter {
        field: String,
        /// The only letters an answer may be, as one string (`"ABCD"`); anything else is
        /// refused as "not a single letter A-D". Absent: any capital letter of an option.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        letters: Option<String>,
    },
    /// The option's position, counted from `base` (0 or 1).
    Index { field: String, base: u8 },
    /// The text of the right option, which must equal exactly one option.
    Text { field: String },
    /// A JSON array with exactly one entry: a letter, or a position counted from `base`.
    List {
        field: String,
        #[serde(default)]
        base: u8,
    },
}

impl AnswerField {
    fn field(&self) -> &str {
        match self {
            AnswerField::Letter { field, .. }
            | AnswerField::Index { field, .. }
            | AnswerField::Text { field }
            | AnswerField::List { field, .. } => field,
        }
    }
}

/// Where an item's subject comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case", deny_unknown_fields)]
pub enum SubjectSource {
    /// The `{subject}` part of the file name pattern.
    File,
    /// A field of each record: a string, or with `pick` a list of labels (Xiezhi's
    /// `"labels": ["历史学", …]`) of which one is taken.
    Field {
        field: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pick: Option<Pick>,
    },
    /// One subject for the whole suite.
    Value { value: String },
}

/// Which entry of a list field is the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    /// The first entry (the broadest label, where lists run from broad to fine).
    First,
    /// The last entry (the finest label).
    Last,
    /// The list must hold exactly one entry; a record with more is left out.
    Only,
}

/// One category or several (CMMLU counts some subjects in two).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Categories {
    One(String),
    Many(Vec<String>),
}

impl Categories {
    pub fn names(&self) -> Vec<&str> {
        match self {
            Categories::One(name) => vec![name.as_str()],
            Categories::Many(names) => names.iter().map(String::as_str).collect(),
        }
    }
}

/// The few-shot examples: the first `count` items of the subject in `split`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FewshotSource {
    pub split: String,
    pub count: usize,
}

/// A built-in template by name, or one written in the spec (`user`, optional `system`
/// and `assistant`). Exactly one of `builtin` and `user` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    /// A name from [`crate::template::templates`].
    pub builtin: Option<String>,
    /// Inline: the template's name, recorded with results. Defaults to
    /// `{suite name}_inline`.
    pub name: Option<String>,
    /// Inline: the system message, if any.
    pub system: Option<String>,
    /// Inline: the user message for the item and for each shot.
    pub user: Option<String>,
    /// Inline: each shot's assistant reply; defaults to `{answer}`.
    pub assistant: Option<String>,
}

/// Parses and checks a spec file.
///
/// # Errors
/// [`SuiteError::Io`] when it cannot be read, [`SuiteError::SpecInvalid`] naming the file
/// and line for TOML errors, unknown keys and inconsistent settings.
pub fn load_spec_file(path: &Path) -> Result<DeclarativeSuite, SuiteError> {
    let text = std::fs::read_to_string(path).map_err(|source| SuiteError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    load_spec_str(&text, &path.display().to_string())
}

/// Parses and checks spec text; `origin` names it in errors (a path, or `builtin:ceval`).
///
/// # Errors
/// [`SuiteError::SpecInvalid`] as for [`load_spec_file`].
pub fn load_spec_str(text: &str, origin: &str) -> Result<DeclarativeSuite, SuiteError> {
    let spec: DeclarativeSuite = toml::from_str(text).map_err(|error| SuiteError::SpecInvalid {
        origin: origin.to_string(),
        line: error.span().map(|span| line_of_offset(text, span.start)),
        problem: error.message().trim().to_string(),
    })?;
    if let Err((key, problem)) = spec.check() {
        return Err(SuiteError::SpecInvalid {
            origin: origin.to_string(),
            line: locate_key(text, &key),
            problem: format!("`{key}`: {problem}"),
        });
    }
    Ok(spec)
}

/// The spec of a built-in suite.
///
/// # Errors
/// [`SuiteError::SpecInvalid`] if the shipped spec is broken (a test guards this).
pub fn builtin_spec(suite: SuiteName) -> Result<DeclarativeSuite, SuiteError> {
    match suite {
        SuiteName::Ceval => load_spec_str(CEVAL_SPEC, "builtin:ceval"),
        SuiteName::Cmmlu => load_spec_str(CMMLU_SPEC, "builtin:cmmlu"),
    }
}

fn line_of_offset(text: &str, offset: usize) -> u64 {
    let end = offset.min(text.len());
    1 + text.as_bytes()[..end]
        .iter()
        .filter(|byte| **byte == b'\n')
        .count() as u64
}

/// Best-effort line of a dotted key such as `fields.answer.base`: the first line that
/// assigns its last segment after the table that holds it, or the table's header.
fn locate_key(text: &str, dotted: &str) -> Option<u64> {
    let segments: Vec<&str> = dotted.split('.').collect();
    let last = segments.last().copied().unwrap_or(dotted);
    let assigns = |line: &str, key: &str| {
        line.trim_start()
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
            || line.contains(&format!("{{ {key} ="))
            || line.contains(&format!(", {key} ="))
    };
    let mut table = String::new();
    let mut fallback = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(header) = trimmed
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            table = header.trim().to_string();
            if table == dotted {
                return Some(index as u64 + 1);
            }
            continue;
        }
        let parent = segments[..segments.len().saturating_sub(1)].join(".");
        if assigns(line, last) {
            if table == parent || (parent.starts_with(&table) && !table.is_empty()) {
                return Some(index as u64 + 1);
            }
            fallback.get_or_insert(index as u64 + 1);
        }
    }
    fallback
}

impl DeclarativeSuite {
    /// Checks what TOML types cannot: references between keys and supported combinations.
    /// Returns the offending key and the problem.
    fn check(&self) -> Result<(), (String, String)> {
        let fail = |key: &str, problem: String| Err((key.to_string(), problem));
        if self.name.trim().is_empty() || self.name.contains('/') {
            return fail("name", "must be non-empty and must not contain `/`".into());
        }
        if self.version.trim().is_empty() {
            return fail("version", "must be non-empty, e.g. \"1\"".into());
        }
        if self.splits.is_empty() {
            return fail("splits", "list at least one split and its files".into());
        }
        let split_names = self.splits.keys().cloned().collect::<Vec<_>>().join(", ");
        for (split, patterns) in &self.splits {
            let key = format!("splits.{split}");
            let patterns = patterns.patterns();
            if patterns.is_empty() {
                return fail(&key, "give at least one file pattern".into());
            }
            for pattern in patterns {
                if let Err(problem) = files::check_pattern(pattern) {
                    return fail(&key, problem);
                }
                let subjects = pattern.matches("{subject}").count();
                match (&self.subject, subjects) {
                    (SubjectSource::File, 1) => {}
                    (SubjectSource::File, _) => {
                        return fail(
                            &key,
                            format!(
                                "`subject.from = \"file\"` needs exactly one `{{subject}}` in \
                                 every pattern, `{pattern}` has {subjects}"
                            ),
                        );
                    }
                    (_, 0) => {}
                    (_, _) => {
                        return fail(
                            &key,
                            format!(
                                "`{pattern}` uses `{{subject}}` but subjects do not come from \
                                 file names; set `subject.from = \"file\"` or use `*`"
                            ),
                        );
                    }
                }
            }
        }
        if let Some(split) = &self.default_split
            && !self.splits.contains_key(split)
        {
            return fail(
                "default_split",
                format!("split `{split}` is not under [splits] ({split_names})"),
            );
        }
        for (key, splits) in [
            ("fields.answer_hidden_in", &self.fields.answer_hidden_in),
            ("fields.answer_optional_in", &self.fields.answer_optional_in),
        ] {
            for split in splits {
                if !self.splits.contains_key(split) {
                    return fail(
                        key,
                        format!("split `{split}` is not under [splits] ({split_names})"),
                    );
                }
            }
        }
        if let AnswerField::Letter {
            letters: Some(letters),
            ..
        } = &self.fields.answer
            && (letters.is_empty() || !letters.chars().all(|letter| letter.is_ascii_uppercase()))
        {
            return fail(
                "fields.answer.letters",
                format!("`{letters}` should be capital letters A-Z, e.g. \"ABCD\""),
            );
        }
        match &self.fields.options {
            OptionsField::Columns { columns } if !(2..=26).contains(&columns.len()) => {
                return fail(
                    "fields.options.columns",
                    format!("give 2 to 26 option columns, not {}", columns.len()),
                );
            }
            OptionsField::List { .. } if self.format == DataFormat::Csv => {
                return fail(
                    "fields.options.from",
                    "CSV cells cannot hold a list; use `columns` or `joined`".into(),
                );
            }
            OptionsField::Joined { separator, .. } if separator.is_empty() => {
                return fail("fields.options.separator", "must not be empty".into());
            }
            _ => {}
        }
        match &self.fields.answer {
            AnswerField::Index { base, .. } if *base > 1 => {
                return fail("fields.answer.base", format!("must be 0 or 1, not {base}"));
            }
            AnswerField::List { base, .. } if *base > 1 => {
                return fail("fields.answer.base", format!("must be 0 or 1, not {base}"));
            }
            AnswerField::List { .. } if self.format == DataFormat::Csv => {
                return fail(
                    "fields.answer.from",
                    "CSV cells cannot hold a list; use `letter`, `index` or `text`".into(),
                );
            }
            _ => {}
        }
        if self.fields.answer.field().is_empty() && self.format != DataFormat::Csv {
            return fail("fields.answer.field", "must name a field".into());
        }
        if let Some(fewshot) = &self.fewshot
            && !self.splits.contains_key(&fewshot.split)
        {
            return fail(
                "fewshot.split",
                format!(
                    "split `{}` is not under [splits] ({split_names})",
                    fewshot.split
                ),
            );
        }
        self.check_template()
    }

    fn check_template(&self) -> Result<(), (String, String)> {
        let fail = |key: &str, problem: String| Err((key.to_string(), problem));
        let spec = &self.template;
        match (&spec.builtin, &spec.user) {
            (Some(name), None) => {
                if spec.system.is_some() || spec.assistant.is_some() || spec.name.is_some() {
                    return fail(
                        "template",
                        "a `builtin` template takes no `name`, `system` or `assistant`".into(),
                    );
                }
                let info = template::template_info(name)
                    .map_err(|error| ("template.builtin".to_string(), error.to_string()))?;
                if let OptionsField::Columns { columns } = &self.fields.options
                    && columns.len() != 4
                {
                    return fail(
                        "template.builtin",
                        format!(
                            "`{name}` renders options A-D but the spec has {} option columns",
                            columns.len()
                        ),
                    );
                }
                if !info.supports(self.scoring) {
                    return fail(
                        "scoring",
                        format!(
                            "template `{name}` supports {}, not {}",
                            modes_list(info.scoring_modes),
                            self.scoring
                        ),
                    );
                }
                if self.fewshot_count() > 0 && !template::takes_shots(name) {
                    return fail(
                        "fewshot.count",
                        format!("template `{name}` is zero-shot only; set the count to 0"),
                    );
                }
                Ok(())
            }
            (None, Some(user)) => {
                for (key, text) in [
                    ("template.user", Some(user)),
                    ("template.system", spec.system.as_ref()),
                    ("template.assistant", spec.assistant.as_ref()),
                ] {
                    if let Some(text) = text
                        && let Err(problem) = inline::check_placeholders(text)
                    {
                        return fail(key, problem);
                    }
                }
                if !inline::SCORING_MODES.contains(&self.scoring) {
                    return fail(
                        "scoring",
                        format!(
                            "inline templates support {}, not {}",
                            modes_list(inline::SCORING_MODES),
                            self.scoring
                        ),
                    );
                }
                Ok(())
            }
            (Some(_), Some(_)) => fail(
                "template",
                "set either `builtin` or an inline `user` template, not both".into(),
            ),
            (None, None) => fail(
                "template",
                "set `builtin = \"<name>\"` or an inline `user = \"...{question}...\"`".into(),
            ),
        }
    }

    /// The split evaluated when the user names none: `default_split`, else the only
    /// split, else `test`.
    pub fn default_split(&self) -> &str {
        if let Some(split) = &self.default_split {
            return split;
        }
        match self.splits.keys().next() {
            Some(only) if self.splits.len() == 1 => only,
            _ => "test",
        }
    }

    /// Few-shot examples per item (0 without a `[fewshot]` table).
    pub fn fewshot_count(&self) -> usize {
        self.fewshot.as_ref().map_or(0, |fewshot| fewshot.count)
    }

    /// The name inserted into prompts for `subject`.
    pub fn subject_name<'spec>(&'spec self, subject: &'spec str) -> &'spec str {
        self.subject_names
            .get(subject)
            .map_or(subject, String::as_str)
    }

    /// The categories `subject` is aggregated under (empty when unmapped).
    pub fn categories_of(&self, subject: &str) -> Vec<&str> {
        self.categories
            .get(subject)
            .map(Categories::names)
            .unwrap_or_default()
    }

    /// The template's name as recorded with results.
    pub fn template_name(&self) -> String {
        match (&self.template.builtin, &self.template.name) {
            (Some(builtin), _) => builtin.clone(),
            (None, Some(name)) => name.clone(),
            (None, None) => format!("{}_inline", self.name),
        }
    }

    /// The template's hash as recorded with results.
    ///
    /// # Errors
    /// [`SuiteError::UnknownTemplate`] for an unknown built-in name.
    pub fn template_hash(&self) -> Result<String, SuiteError> {
        match &self.template.builtin {
            Some(name) => template::template_hash(name),
            None => Ok(inline::hash(&self.template_name(), &self.template)),
        }
    }

    /// Whether the spec's template can be scored in `mode`: a built-in template's own
    /// modes, or `gen` and `loglik_first_token` for an inline template.
    pub fn supports(&self, mode: ScoringMode) -> bool {
        match &self.template.builtin {
            Some(name) => template::template_info(name).is_ok_and(|info| info.supports(mode)),
            None => inline::SCORING_MODES.contains(&mode),
        }
    }

    /// The modes [`DeclarativeSuite::supports`], for messages.
    pub fn supported_modes(&self) -> String {
        match &self.template.builtin {
            Some(name) => template::template_info(name)
                .map(|info| modes_list(info.scoring_modes))
                .unwrap_or_default(),
            None => modes_list(inline::SCORING_MODES),
        }
    }

    /// Renders `item` for `loglik_echo`: the shared prefix and each option's continuation,
    /// with the spec's built-in template (OpenCompass PPL or lm-eval).
    ///
    /// # Errors
    /// As [`crate::template::render_choice_continuations`]; an inline template, which
    /// has no continuations ([`DeclarativeSuite::supports`] says so first).
    pub fn render_choice_continuations(
        &self,
        item: &McItem,
        shots: &[McItem],
    ) -> Result<template::ChoicePrompts, SuiteError> {
        let Some(name) = &self.template.builtin else {
            return Err(SuiteError::UnknownTemplate {
                name: format!(
                    "{} (inline templates cannot score option texts)",
                    self.template_name()
                ),
            });
        };
        template::render_choice_continuations(name, self.subject_name(&item.subject), item, shots)
    }

    /// Renders `item` as chat messages with the spec's template, naming the subject with
    /// [`DeclarativeSuite::subject_name`].
    ///
    /// # Errors
    /// As [`crate::template::render_chat`].
    pub fn render_chat(
        &self,
        item: &McItem,
        shots: &[McItem],
    ) -> Result<Vec<ChatMessage>, SuiteError> {
        let subject_name = self.subject_name(&item.subject);
        match &self.template.builtin {
            Some(name) => template::render_chat(name, subject_name, item, shots),
            None => inline::render_chat(
                &self.template_name(),
                &self.template,
                subject_name,
                item,
                shots,
            ),
        }
    }
}

fn modes_list(modes: &[ScoringMode]) -> String {
    modes
        .iter()
        .map(|mode| mode.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subjects;

    #[test]
    fn builtin_specs_parse_and_match_the_subject_tables() {
        for suite in SuiteName::ALL {
            let spec = builtin_spec(suite).expect("builtin spec parses");
            assert_eq!(spec.name, suite.as_str());
            assert_eq!(spec.default_split(), suite.default_split());
            assert_eq!(spec.template_name(), template::default_template(suite));
            assert_eq!(
                spec.template_hash().expect("hash"),
                template::template_hash(template::default_template(suite)).expect("hash")
            );
            assert_eq!(spec.fewshot_count(), 5);
            let table = subjects::subjects(suite);
            assert_eq!(spec.subject_names.len(), table.len());
            assert_eq!(spec.categories.len(), table.len());
            for info in table {
                assert_eq!(
                    spec.subject_name(info.key),
                    info.chinese_name,
                    "{}",
                    info.key
                );
                let expected: Vec<&str> = info.categories().iter().map(|c| c.as_str()).collect();
                assert_eq!(spec.categories_of(info.key), expected, "{}", info.key);
            }
        }
    }

    const MINIMAL: &str = r#"
name = "toy"
version = "1"
format = "jsonl"

[splits]
test = "toy.jsonl"

[fields]
question = "q"
options = { from = "list", field = "choices" }
answer = { from = "index", field = "label", base = 0 }

[subject]
from = "value"
value = "toy"

[template]
user = "{question}\nA. {A}\nB. {B}\n答案："
"#;

    #[test]
    fn minimal_spec_parses_with_defaults() {
        let spec = load_spec_str(MINIMAL, "toy.toml").expect("valid");
        assert_eq!(spec.scoring, ScoringMode::Gen);
        assert_eq!(spec.default_split(), "test");
        assert_eq!(spec.fewshot_count(), 0);
        assert_eq!(spec.template_name(), "toy_inline");
        assert_eq!(spec.subject_name("toy"), "toy");
        assert!(spec.categories_of("toy").is_empty());
        assert_eq!(spec.template_hash().expect("hash").len(), 16);
    }

    fn invalid(text: &str) -> (Option<u64>, String) {
        match load_spec_str(text, "bad.toml") {
            Err(SuiteError::SpecInvalid {
                origin,
                line,
                problem,
            }) => {
                assert_eq!(origin, "bad.toml");
                (line, problem)
            }
            other => panic!("expected an invalid spec, got {other:?}"),
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_line() {
        let (line, problem) = invalid(&MINIMAL.replace("question = \"q\"", "questoin = \"q\""));
        assert_eq!(line, Some(10), "{problem}");
        assert!(problem.contains("questoin"), "{problem}");

        let (line, problem) = invalid(&MINIMAL.replace("base = 0", "base = 2"));
        assert_eq!(line, Some(12), "{problem}");
        assert!(problem.contains("fields.answer.base"), "{problem}");

        let (line, problem) = invalid(&MINIMAL.replace("format = \"jsonl\"", "format = \"xlsx\""));
        assert_eq!(line, Some(4), "{problem}");
        assert!(problem.contains("xlsx"), "{problem}");

        let (_, problem) = invalid(&MINIMAL.replace("from = \"list\"", "from = \"lists\""));
        assert!(problem.contains("lists"), "{problem}");

        let error = load_spec_str(&MINIMAL.replace("{question}", "{questoin}"), "bad.toml")
            .expect_err("typo in placeholder");
        assert!(error.to_string().starts_with("bad.toml:19:"), "{error}");
        assert!(error.to_string().contains("{questoin}"), "{error}");
    }

    #[test]
    fn inconsistent_settings_are_rejected() {
        let cases = [
            (
                MINIMAL.replace("from = \"value\"\nvalue = \"toy\"", "from = \"file\""),
                "{subject}",
            ),
            (
                MINIMAL.replace("format = \"jsonl\"", "format = \"csv\""),
                "CSV cells cannot hold a list",
            ),
            (
                MINIMAL.replace(
                    "[template]\n",
                    "[template]\nbuiltin = \"ceval_gen_5f30c7\"\n",
                ),
                "not both",
            ),
            (
                MINIMAL.replace("user = ", "builtin = \"nope\"\n#"),
                "unknown prompt template",
            ),
            (
                format!("default_split = \"dev\"\n{MINIMAL}"),
                "default_split",
            ),
            (
                MINIMAL.replace(
                    "format = \"jsonl\"",
                    "format = \"jsonl\"\nscoring = \"loglik_echo\"",
                ),
                "inline templates support gen, loglik_first_token",
            ),
            (
                MINIMAL.replace("test = \"toy.jsonl\"", "test = \"../toy.jsonl\""),
                "..",
            ),
        ];
        for (text, expected) in cases {
            let (_, problem) = invalid(&text);
            assert!(problem.contains(expected), "{expected}: {problem}");
        }
    }

    #[test]
    fn builtin_template_combinations_are_checked() {
        let with_builtin = |template: &str, scoring: &str, shots: usize| {
            CEVAL_SPEC
                .replace(
                    "builtin = \"ceval_gen_5f30c7\"",
                    &format!("builtin = \"{template}\""),
                )
                .replace("scoring = \"gen\"", &format!("scoring = \"{scoring}\""))
                .replace("count = 5", &format!("count = {shots}"))
        };
        assert!(load_spec_str(&with_builtin("ceval_ppl_578f8d", "loglik_echo", 5), "x").is_ok());
        let (_, problem) = invalid(&with_builtin("ceval_ppl_578f8d", "gen", 5));
        assert!(problem.contains("supports loglik_echo"), "{problem}");
        let (_, problem) = invalid(&with_builtin("cmmlu_0shot_cot_gen_305931", "gen", 5));
        assert!(problem.contains("zero-shot only"), "{problem}");
        assert!(load_spec_str(&with_builtin("cmmlu_0shot_cot_gen_305931", "gen", 0), "x").is_ok());
    }

    const EXAMPLE_SPEC: &str = include_str!("../../specs/examples/campus_quiz.toml");

    fn write(dir: &Path, relative: &str, contents: &str) {
        let path = dir.join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
    }

    #[test]
    fn example_jsonl_suite_runs_from_its_spec_alone() {
        let spec = load_spec_str(EXAMPLE_SPEC, "specs/examples/campus_quiz.toml").expect("spec");
        let dir = tempfile::tempdir().expect("tempdir");
        // Records made up for this test.
        write(
            dir.path(),
            "dev.jsonl",
            "{\"qid\": \"lib-d1\", \"topic\": \"library\", \"stem\": \"借书需要带什么？\", \"choices\": [\"A. 校园卡\", \"B. 饭卡\", \"C. 雨伞\"], \"label\": 0}\n\
             {\"qid\": \"can-d1\", \"topic\": \"canteen\", \"stem\": \"食堂几点开门？\", \"choices\": [\"B. 六点半\", \"A. 五点\", \"C. 九点\"], \"label\": 1, \"why\": \"早餐六点半开始\"}\n",
        );
        write(
            dir.path(),
            "test.jsonl",
            "{\"qid\": \"lib-1\", \"topic\": \"library\", \"stem\": \"自习室在几楼？\", \"choices\": [\"A. 一楼\", \"B. 三楼\", \"C. 地下室\"], \"label\": 1}\n",
        );
        write(
            dir.path(),
            "extra/more.jsonl",
            "{\"qid\": \"can-1\", \"topic\": \"canteen\", \"stem\": \"哪个窗口卖面条？\", \"choices\": [\"A. 一号\", \"B. 二号\", \"C. 三号\"], \"label\": 2}\n",
        );
        let loaded = load_with_spec(&spec, dir.path(), spec.default_split()).expect("load");
        let ids: Vec<&str> = loaded.items.iter().map(|item| item.id.as_str()).collect();
        assert_eq!(ids, vec!["canteen/test/can-1", "library/test/lib-1"]);
        assert_eq!(loaded.items[1].options, vec!["一楼", "三楼", "地下室"]);
        assert_eq!(loaded.items[1].answer, Some('B'));
        let paths: Vec<&str> = loaded
            .files
            .iter()
            .map(|file| file.relative_path.as_str())
            .collect();
        assert_eq!(paths, vec!["dev.jsonl", "extra/more.jsonl", "test.jsonl"]);
        assert_eq!(
            loaded.fewshot_pool["canteen"][0].options,
            vec!["五点", "六点半", "九点"]
        );
        assert_eq!(
            loaded.fewshot_pool["canteen"][0].explanation.as_deref(),
            Some("早餐六点半开始")
        );
        assert_eq!(
            spec.categories_of("canteen"),
            vec!["Facilities", "Daily life"]
        );
        assert!(loaded.clone().into_loaded_suite().is_err());

        let item = &loaded.items[0];
        let shots = template::fixed_shots(
            &item.subject,
            &loaded.fewshot_pool[&item.subject],
            spec.fewshot_count(),
        )
        .expect("shots");
        let messages = spec.render_chat(item, shots).expect("render");
        let contents: Vec<(&str, &str)> = messages
            .iter()
            .map(|message| (message.role.as_str(), message.content.as_str()))
            .collect();
        assert_eq!(
            contents,
            vec![
                ("system", "你是一名熟悉校园生活的助手。"),
                (
                    "user",
                    "以下是关于食堂的单项选择题，请直接给出正确答案的选项。\n食堂几点开门？\nA. 五点\nB. 六点半\nC. 九点\n答案："
                ),
                ("assistant", "B"),
                (
                    "user",
                    "以下是关于食堂的单项选择题，请直接给出正确答案的选项。\n哪个窗口卖面条？\nA. 一号\nB. 二号\nC. 三号\n答案："
                ),
            ]
        );
        assert_eq!(spec.template_name(), "campus_quiz_v1");

        // A bad record names its file and line.
        write(
            dir.path(),
            "extra/more.jsonl",
            "{\"qid\": \"can-1\", \"topic\": \"canteen\", \"stem\": \"?\", \"choices\": [\"A. 一号\", \"B. 二号\"], \"label\": 1}\n\
             {\"qid\": \"can-2\", \"topic\": \"canteen\", \"stem\": \"?\", \"choices\": [\"A. 一号\", \"B. 二号\"], \"label\": 2}\n",
        );
        let strict = SpecLoadOptions {
            strict: true,
            ..SpecLoadOptions::default()
        };
        let error = load_with_spec_options(&spec, dir.path(), "test", &strict)
            .expect_err("label out of range");
        let message = error.to_string();
        assert!(message.contains("more.jsonl:2: "), "{message}");
        assert!(message.contains("out of range"), "{message}");
    }
}
