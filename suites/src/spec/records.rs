//! Loading a split through a [`DeclarativeSuite`]: files matched, records read (CSV, JSONL,
//! JSON), each record mapped to an [`McItem`] by the spec's field map.
//!
//! C-Eval and CMMLU are read here too, through their shipped specs ([`crate::load`] is
//! their entry point). Cell text is kept as published (CSV line endings
//! normalised like Python's universal newlines), ids are `{subject}/{split}/{row id}`,
//! items are sorted by subject and then file order, and any record that cannot be read
//! exactly (missing field, empty option, answer that names no option, duplicate id) is
//! left out naming the file and line (CSV, JSONL) or the record's position (JSON), or
//! refused so under `strict` — never an item with a guessed answer.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::SuiteError;
use crate::formats::{RecordSource, json};
use crate::item::{McItem, SourceLocation, SuiteName};
use crate::left_out::{Intake, LeftOut, RecordPolicy};
use crate::load::{DataFileDigest, LoadedSuite, decode_like_python};
use crate::spec::files::{MatchedFile, match_files};
use crate::spec::{AnswerField, DataFormat, DeclarativeSuite, OptionsField, Pick, SubjectSource};

/// Everything read for one split through a spec.
#[derive(Debug, Clone)]
pub struct SpecLoad {
    /// The spec's `name` and `version`, recorded with results.
    pub suite: String,
    pub version: String,
    pub split: String,
    /// Items to evaluate, sorted by subject and then by their order in the files.
    pub items: Vec<McItem>,
    /// Few-shot examples by subject, in file order; empty unless few-shot was loaded.
    pub fewshot_pool: BTreeMap<String, Vec<McItem>>,
    /// Every file read (including few-shot files), sorted by relative path.
    pub files: Vec<DataFileDigest>,
    /// Records left out (evaluated and few-shot files), with file, record, subject and
    /// reason; empty under `strict`, where they are errors.
    pub left_out: Vec<LeftOut>,
}

impl SpecLoad {
    /// The load as the planner's [`LoadedSuite`], for specs named after a built-in suite.
    ///
    /// # Errors
    /// [`SuiteError::UnknownSuite`] for any other suite name.
    pub fn into_loaded_suite(self) -> Result<LoadedSuite, SuiteError> {
        let suite: SuiteName = self.suite.parse()?;
        Ok(LoadedSuite {
            suite,
            split: self.split,
            items: self.items,
            fewshot_pool: self.fewshot_pool,
            files: self.files,
            left_out: self.left_out,
        })
    }
}

/// Choices for [`load_with_spec_options`].
#[derive(Debug, Clone, Default)]
pub struct SpecLoadOptions {
    /// Only these subjects (each must have items); empty means all.
    pub subjects: Vec<String>,
    /// Skip the few-shot pool even when the spec has one (0-shot runs).
    pub skip_fewshot: bool,
    /// Refuse the load at the first record that cannot become an item (`--strict`);
    /// otherwise such records are left out and listed in [`SpecLoad::left_out`] (unless
    /// the spec itself says `strict = true`).
    pub strict: bool,
}

/// Loads `split` with every subject, and the few-shot pool when the spec asks for shots.
///
/// # Errors
/// As [`load_with_spec_options`].
pub fn load_with_spec(
    spec: &DeclarativeSuite,
    data_dir: &Path,
    split: &str,
) -> Result<SpecLoad, SuiteError> {
    load_with_spec_options(spec, data_dir, split, &SpecLoadOptions::default())
}

/// Loads `split` of the suite `spec` describes from `data_dir`.
///
/// # Errors
/// [`SuiteError::SpecLoad`] for a split the spec lacks, patterns that match no file, a
/// requested subject without items or a subject without few-shot examples;
/// [`SuiteError::Io`] for unreadable files; [`SuiteError::Malformed`] /
/// [`SuiteError::MalformedRecord`] for bad records.
pub fn load_with_spec_options(
    spec: &DeclarativeSuite,
    data_dir: &Path,
    split: &str,
    options: &SpecLoadOptions,
) -> Result<SpecLoad, SuiteError> {
    let wanted: BTreeSet<&str> = options.subjects.iter().map(String::as_str).collect();
    let policy = if options.strict || spec.strict {
        RecordPolicy::Refuse
    } else {
        RecordPolicy::LeaveOut
    };
    if spec.layout.is_some() && !wanted.is_empty() && spec.subject == SubjectSource::File {
        // Subjects are file names here: an unknown one is named before anything is read,
        // with the subjects the split does have.
        let available = list_file_subjects(spec, data_dir, split)?;
        crate::load::require_known_subjects(&spec.name, split, &options.subjects, &available)?;
    }
    let mut intake = Intake::new(policy);
    let (mut items, mut files) = load_split(
        spec,
        data_dir,
        split,
        SplitRole::Evaluated,
        &|subject| wanted.is_empty() || wanted.contains(subject),
        &mut intake,
    )?;
    for subject in &wanted {
        if !items.iter().any(|item| item.subject == *subject) {
            return Err(spec_load(
                spec,
                format!(
                    "split `{split}` has no items of subject `{subject}`; drop the subject \
                     filter or check its spelling"
                ),
            ));
        }
    }
    items.retain(|item| wanted.is_empty() || wanted.contains(item.subject.as_str()));

    let mut fewshot_pool = BTreeMap::new();
    if let Some(fewshot) = spec.fewshot.as_ref().filter(|fewshot| fewshot.count > 0)
        && !options.skip_fewshot
    {
        let evaluated: BTreeSet<&str> = items.iter().map(|item| item.subject.as_str()).collect();
        let (pool_items, pool_files) = if fewshot.split == split {
            // The evaluated split is the few-shot split itself: reuse it rather than
            // reading (and listing) the same files twice.
            (items.clone(), Vec::new())
        } else {
            load_split(
                spec,
                data_dir,
                &fewshot.split,
                SplitRole::Fewshot,
                &|subject| evaluated.contains(subject),
                &mut intake,
            )?
        };
        let mut used_files = BTreeSet::new();
        for item in pool_items {
            if evaluated.contains(item.subject.as_str()) {
                used_files.insert(item.source.path.clone());
                fewshot_pool
                    .entry(item.subject.clone())
                    .or_insert_with(Vec::new)
                    .push(item);
            }
        }
        for subject in &evaluated {
            if !fewshot_pool.contains_key(*subject) {
                return Err(missing_fewshot(spec, data_dir, &fewshot.split, subject));
            }
        }
        files.extend(
            pool_files
                .into_iter()
                .filter(|(path, _)| used_files.contains(path)),
        );
    }

    let mut files: Vec<DataFileDigest> = files.into_iter().map(|(_, digest)| digest).collect();
    files.sort_by(|left, right| left.relative_path.cmp(&right.relative_path));
    let mut left_out = intake.into_left_out();
    // Only the selected subjects' records count; one whose subject cannot be read is kept
    // in the list, since it might have been one of them.
    left_out.retain(|record| {
        wanted.is_empty() || record.subject.is_empty() || wanted.contains(record.subject.as_str())
    });
    crate::left_out::relativize(&mut left_out, data_dir);
    Ok(SpecLoad {
        suite: spec.name.clone(),
        version: spec.version.clone(),
        split: split.to_string(),
        items,
        fewshot_pool,
        files,
        left_out,
    })
}

/// The subjects that have a data file in `split` (from the `{subject}` of the file
/// names), sorted.
///
/// # Errors
/// As the file listing of [`load_with_spec_options`]: a split the spec lacks or whose
/// files are missing ([`SuiteError::MissingSplit`], [`SuiteError::NoSubjects`] for a spec
/// with a `layout`, [`SuiteError::SpecLoad`] otherwise), [`SuiteError::Io`].
pub fn list_file_subjects(
    spec: &DeclarativeSuite,
    data_dir: &Path,
    split: &str,
) -> Result<Vec<String>, SuiteError> {
    let matched = split_files(spec, data_dir, split, SplitRole::Evaluated)?;
    let subjects: BTreeSet<String> = matched
        .into_iter()
        .filter_map(|file| file.subject)
        .collect();
    Ok(subjects.into_iter().collect())
}

fn spec_load(spec: &DeclarativeSuite, problem: String) -> SuiteError {
    SuiteError::SpecLoad {
        suite: spec.name.clone(),
        problem,
    }
}

/// Why a split is read: its errors say so (a missing few-shot folder suggests 0 shots).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SplitRole {
    Evaluated,
    Fewshot,
}

/// The spec's layout text with `{data_dir}` and `{this_split}` filled in (a literal
/// `{split}` stays, as the layout's own placeholder).
fn layout_text(layout: &str, data_dir: &Path, split: &str) -> String {
    layout
        .replace("{data_dir}", &data_dir.display().to_string())
        .replace("{this_split}", split)
}

/// The folder a pattern's files live in: its leading segments without wildcards.
fn pattern_folder(data_dir: &Path, pattern: &str) -> std::path::PathBuf {
    let segments: Vec<&str> = pattern.split('/').collect();
    let mut folder = data_dir.to_path_buf();
    for segment in &segments[..segments.len().saturating_sub(1)] {
        if segment.contains(['*', '?', '{']) {
            break;
        }
        folder.push(segment);
    }
    folder
}

/// A subject without few-shot examples: for a spec with a `layout`, the file that should
/// hold them ([`SuiteError::MissingFewshotFile`]).
fn missing_fewshot(
    spec: &DeclarativeSuite,
    data_dir: &Path,
    fewshot_split: &str,
    subject: &str,
) -> SuiteError {
    let pattern = spec.splits.get(fewshot_split).and_then(|patterns| {
        patterns
            .patterns()
            .first()
            .map(|pattern| pattern.to_string())
    });
    match (&spec.layout, pattern) {
        (Some(_), Some(pattern)) if pattern.contains("{subject}") => {
            SuiteError::MissingFewshotFile {
                suite: spec.name.clone(),
                subject: subject.to_string(),
                path: data_dir.join(pattern.replace("{subject}", subject)),
            }
        }
        _ => spec_load(
            spec,
            format!(
                "subject `{subject}` has no few-shot examples in split `{fewshot_split}`; add \
                 them or run with 0 shots"
            ),
        ),
    }
}

/// The files of `split`, sorted by relative path; an error when there are none.
fn split_files(
    spec: &DeclarativeSuite,
    data_dir: &Path,
    split: &str,
    role: SplitRole,
) -> Result<Vec<MatchedFile>, SuiteError> {
    let fewshot_hint = |mut expected_layout: String| {
        if role == SplitRole::Fewshot {
            expected_layout.push_str(&format!(
                " (few-shot examples come from the {split} split; run with 0 shots to do without)"
            ));
        }
        expected_layout
    };
    let split_names = || spec.splits.keys().cloned().collect::<Vec<_>>().join(", ");
    let Some(patterns) = spec.splits.get(split) else {
        if let Some(layout) = &spec.layout
            && !data_dir.join(split).is_dir()
        {
            return Err(SuiteError::MissingSplit {
                path: data_dir.join(split),
                split: split.to_string(),
                expected_layout: fewshot_hint(format!(
                    "{}; the suite's splits are {}",
                    layout_text(layout, data_dir, split),
                    split_names()
                )),
            });
        }
        return Err(spec_load(
            spec,
            format!("has no split `{split}`; its splits are {}", split_names()),
        ));
    };
    let patterns = patterns.patterns();
    let matched = match_files(data_dir, &patterns)?;
    if !matched.is_empty() {
        return Ok(matched);
    }
    let first_pattern = patterns.first().copied().unwrap_or_default();
    if let Some(layout) = &spec.layout {
        let folder = pattern_folder(data_dir, first_pattern);
        if !folder.is_dir() {
            return Err(SuiteError::MissingSplit {
                path: folder,
                split: split.to_string(),
                expected_layout: fewshot_hint(format!(
                    "{}; split `{split}` reads `{}`",
                    layout_text(layout, data_dir, split),
                    patterns.join("`, `")
                )),
            });
        }
        return Err(SuiteError::NoSubjects {
            suite: spec.name.clone(),
            path: folder,
            expected_pattern: first_pattern
                .rsplit('/')
                .next()
                .unwrap_or(first_pattern)
                .to_string(),
        });
    }
    Err(spec_load(
        spec,
        format!(
            "no file in {} matches `{}` (split `{split}`); check the data directory",
            data_dir.display(),
            patterns.join("`, `")
        ),
    ))
}

type FileDigests = Vec<(std::path::PathBuf, DataFileDigest)>;

/// Reads every file of `split` whose subject (when the file name gives it) `keep`
/// accepts; items are sorted by subject, stable in file order.
fn load_split(
    spec: &DeclarativeSuite,
    data_dir: &Path,
    split: &str,
    role: SplitRole,
    keep: &dyn Fn(&str) -> bool,
    intake: &mut Intake,
) -> Result<(Vec<McItem>, FileDigests), SuiteError> {
    let matched = split_files(spec, data_dir, split, role)?;
    let mut items = Vec::new();
    let mut files = Vec::new();
    let mut seen_ids: HashMap<String, String> = HashMap::new();
    for file in &matched {
        if let Some(subject) = &file.subject
            && !keep(subject)
        {
            continue;
        }
        let bytes = std::fs::read(&file.path).map_err(|source| SuiteError::Io {
            path: file.path.clone(),
            source,
        })?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let records = read_records(spec, split, file, &bytes)?;
        let mut file_items = Vec::with_capacity(records.len());
        for (position, record) in records.iter().enumerate() {
            let here = format!("{} {}", file.relative_path, record.source.record);
            let item = to_item(spec, split, file, position, record).and_then(|item| match seen_ids
                .get(&item.id)
            {
                Some(first) => Err(record.source.malformed(format!(
                    "id `{}` appears twice: it was already used ({first}); item ids must be \
                     unique, so set `fields.id` to a field that is",
                    item.id
                ))),
                None => Ok(item),
            });
            let subject = record_subject(spec, file, record);
            if let Some(item) = intake.take(item, &subject)? {
                seen_ids.insert(item.id.clone(), here);
                file_items.push(item);
            }
        }
        intake.finish_file(&file.path, file_items.len())?;
        files.push((
            file.path.clone(),
            DataFileDigest {
                relative_path: file.relative_path.clone(),
                sha256,
                rows: file_items.len(),
            },
        ));
        items.extend(file_items.into_iter().filter(|item| keep(&item.subject)));
    }
    items.sort_by(|left, right| left.subject.cmp(&right.subject));
    Ok((items, files))
}

/// One record with where it came from.
struct Record {
    source: RecordSource,
    fields: Map<String, Value>,
    /// What makes the record unreadable before its fields are looked at (a CSV row with
    /// another number of cells than the header, a JSON entry that is not an object): it
    /// is left out (or refused) like any other broken record.
    problem: Option<String>,
}

impl Record {
    fn new(source: RecordSource, fields: Map<String, Value>) -> Record {
        Record {
            source,
            fields,
            problem: None,
        }
    }
}

fn read_records(
    spec: &DeclarativeSuite,
    split: &str,
    file: &MatchedFile,
    bytes: &[u8],
) -> Result<Vec<Record>, SuiteError> {
    let path = file.path.as_path();
    let text = decode_like_python(path, bytes)?;
    match spec.format {
        DataFormat::Csv => read_csv(spec, split, path, &text),
        DataFormat::Jsonl => Ok(json::parse_lines(path, &text)?
            .into_iter()
            .map(|(source, fields)| Record::new(source, fields))
            .collect()),
        DataFormat::Json => {
            let document = json::parse_document(path, &text)?;
            let Value::Array(values) = document else {
                return Err(SuiteError::Malformed {
                    path: path.to_path_buf(),
                    line: 1,
                    problem: "expected a JSON array of records (format = \"json\")".to_string(),
                });
            };
            Ok(values
                .into_iter()
                .enumerate()
                .map(|(index, value)| {
                    let source = RecordSource::at_record(path, format!("[{index}]"));
                    match value {
                        Value::Object(fields) => Record::new(source, fields),
                        _ => Record {
                            source,
                            fields: Map::new(),
                            problem: Some("expected a JSON object".to_string()),
                        },
                    }
                })
                .collect())
        }
    }
}

/// CSV records as field maps keyed by the trimmed header, after checking the header has
/// every column the spec reads.
fn read_csv(
    spec: &DeclarativeSuite,
    split: &str,
    path: &Path,
    text: &str,
) -> Result<Vec<Record>, SuiteError> {
    let csv_error = |error: csv::Error| SuiteError::Malformed {
        path: path.to_path_buf(),
        line: error.position().map_or(0, csv::Position::line),
        problem: format!("cannot parse CSV: {error}"),
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        // Checked by hand below so the error names the line and the expected count.
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(|header| header.trim().to_string())
        .collect();
    for column in required_columns(spec, split) {
        if !headers.contains(&column) {
            // An empty name is an index column without a header; say so, since "no ``
            // column" alone does not tell the user what is missing.
            let unnamed = if column.is_empty() {
                " (an empty name reads an unnamed index column, like the first column of \
                 CMMLU's `,Question,A,B,C,D,Answer`)"
            } else {
                ""
            };
            return Err(SuiteError::Malformed {
                path: path.to_path_buf(),
                line: 1,
                problem: format!(
                    "header has no `{column}` column (header is `{}`){unnamed}",
                    headers.join(",")
                ),
            });
        }
    }
    let mut records = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, csv::Position::line);
        let source = RecordSource::at_line(path, line);
        if record.len() != headers.len() {
            records.push(Record {
                source,
                fields: Map::new(),
                problem: Some(format!(
                    "record has {} columns but the header has {}",
                    record.len(),
                    headers.len()
                )),
            });
            continue;
        }
        let mut fields = Map::new();
        for (header, cell) in headers.iter().zip(record.iter()) {
            // The first column of a name wins, as a header lookup by position would.
            fields
                .entry(header.clone())
                .or_insert_with(|| Value::String(cell.to_string()));
        }
        records.push(Record::new(source, fields));
    }
    Ok(records)
}

/// Columns every CSV file of `split` must have. The answer column is one of them unless
/// the split withholds answers or lets them be empty (then a missing answer is checked
/// per record); the explanation is optional.
fn required_columns(spec: &DeclarativeSuite, split: &str) -> Vec<String> {
    let fields = &spec.fields;
    let mut columns = vec![fields.question.clone()];
    columns.extend(fields.id.clone());
    let answer_may_be_missing = fields
        .answer_hidden_in
        .iter()
        .chain(&fields.answer_optional_in)
        .any(|listed| listed == split);
    if !answer_may_be_missing {
        columns.push(fields.answer.field().to_string());
    }
    match &fields.options {
        OptionsField::Columns { columns: names } => columns.extend(names.iter().cloned()),
        OptionsField::List { field, .. } | OptionsField::Joined { field, .. } => {
            columns.push(field.clone());
        }
        OptionsField::Question => {}
    }
    if let SubjectSource::Field { field, .. } = &spec.subject {
        columns.push(field.clone());
    }
    columns
}

fn to_item(
    spec: &DeclarativeSuite,
    split: &str,
    file: &MatchedFile,
    position: usize,
    record: &Record,
) -> Result<McItem, SuiteError> {
    let source = &record.source;
    if let Some(problem) = &record.problem {
        return Err(source.malformed(problem.clone()));
    }
    let fields = &spec.fields;
    let text_of = |field: &str| -> Result<Option<String>, SuiteError> {
        match record.fields.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(Value::Number(number)) => Ok(Some(number.to_string())),
            Some(other) => Err(source.malformed(format!(
                "field `{field}` should be a string, found {}",
                json_kind(other)
            ))),
        }
    };
    let required = |field: &str| -> Result<String, SuiteError> {
        text_of(field)?
            .ok_or_else(|| source.malformed(format!("the record has no `{field}` field")))
    };

    let row_id = match &fields.id {
        Some(field) => {
            let id = required(field)?.trim().to_string();
            if id.is_empty() {
                return Err(source.malformed("the id field is empty"));
            }
            id
        }
        None => position.to_string(),
    };

    let subject = match &spec.subject {
        SubjectSource::File => file.subject.clone().unwrap_or_default(),
        SubjectSource::Field { field, pick } => field_subject(record, field, *pick)?,
        SubjectSource::Value { value } => value.clone(),
    };
    if subject.is_empty() || subject.contains('/') {
        return Err(source.malformed(format!(
            "subject `{subject}` is empty or contains `/`, which item ids cannot hold"
        )));
    }

    let mut question = required(&fields.question)?;
    let options = match &fields.options {
        OptionsField::Columns { columns } => {
            let mut options = Vec::with_capacity(columns.len());
            for column in columns {
                options.push(text_of(column)?.unwrap_or_default());
            }
            options
        }
        OptionsField::List {
            field,
            strip_letter_prefix,
        } => {
            let Some(Value::Array(values)) = record.fields.get(field) else {
                return Err(
                    source.malformed(format!("field `{field}` should be a list of option texts"))
                );
            };
            let mut texts = Vec::with_capacity(values.len());
            for value in values {
                match value {
                    Value::String(text) => texts.push(text.clone()),
                    other => {
                        return Err(source.malformed(format!(
                            "field `{field}` should hold strings, found {}",
                            json_kind(other)
                        )));
                    }
                }
            }
            order_by_prefix(texts, *strip_letter_prefix)
                .map_err(|problem| source.malformed(problem))?
        }
        OptionsField::Joined {
            field,
            separator,
            strip_letter_prefix,
        } => {
            let joined = required(field)?;
            let mut texts: Vec<String> = joined
                .split(separator.as_str())
                .map(str::to_string)
                .collect();
            // A trailing separator leaves no option behind it.
            if texts.len() > 1 && texts.last().is_some_and(|last| last.trim().is_empty()) {
                texts.pop();
            }
            order_by_prefix(texts, *strip_letter_prefix)
                .map_err(|problem| source.malformed(problem))?
        }
        OptionsField::Question => {
            let (stem, options) =
                split_question(&question).map_err(|problem| source.malformed(problem))?;
            question = stem;
            options
        }
    };
    if question.trim().is_empty() {
        return Err(source.malformed("the question is empty"));
    }
    if options.len() < 2 || options.len() > 26 {
        return Err(source.malformed(format!(
            "the record has {} options; multiple-choice items need 2 to 26",
            options.len()
        )));
    }
    for (index, option) in options.iter().enumerate() {
        if option.trim().is_empty() {
            return Err(source.malformed(format!("option {} is empty", letter(index))));
        }
    }

    let hidden = fields.answer_hidden_in.iter().any(|hidden| hidden == split);
    let optional = fields
        .answer_optional_in
        .iter()
        .any(|listed| listed == split);
    let answer = read_answer(&fields.answer, record, &options, hidden, optional)?;

    let explanation = match &fields.explanation {
        Some(field) => text_of(field)?.filter(|text| !text.trim().is_empty()),
        None => None,
    };

    Ok(McItem {
        id: format!("{subject}/{split}/{row_id}"),
        subject,
        question,
        options,
        answer,
        explanation,
        source: SourceLocation {
            path: source.path.clone(),
            // JSON records have no line; 0 says so, as for file-level CSV errors.
            line: source.line.unwrap_or(0),
        },
    })
}

/// The subject in `field`: a string, or with `pick` one entry of a list of labels.
fn field_subject(record: &Record, field: &str, pick: Option<Pick>) -> Result<String, SuiteError> {
    let source = &record.source;
    let text = |value: &Value| match value {
        Value::String(text) => Ok(text.trim().to_string()),
        Value::Number(number) => Ok(number.to_string()),
        other => Err(source.malformed(format!(
            "subject field `{field}` should hold strings, found {}",
            json_kind(other)
        ))),
    };
    match (record.fields.get(field), pick) {
        (None | Some(Value::Null), _) => {
            Err(source.malformed(format!("the record has no `{field}` field")))
        }
        (Some(Value::Array(labels)), None) => Err(source.malformed(format!(
            "subject field `{field}` is a list ({} entries); set `subject.pick` to \
             \"first\", \"last\" or \"only\" in the spec",
            labels.len()
        ))),
        (Some(Value::Array(labels)), Some(pick)) => {
            let chosen = match (pick, labels.as_slice()) {
                (_, []) => {
                    return Err(source.malformed(format!(
                        "subject field `{field}` is an empty list: the record names no subject"
                    )));
                }
                (Pick::Only, [only]) => only,
                (Pick::Only, _) => {
                    return Err(source.malformed(format!(
                        "subject field `{field}` holds {} labels, and `pick = \"only\"` \
                         takes a list of one",
                        labels.len()
                    )));
                }
                (Pick::First, [first, ..]) => first,
                (Pick::Last, [.., last]) => last,
            };
            text(chosen)
        }
        (Some(value), _) => text(value),
    }
}

/// The subject a record would have had, for naming it when it is left out; empty when
/// that part of the record is what cannot be read.
fn record_subject(spec: &DeclarativeSuite, file: &MatchedFile, record: &Record) -> String {
    match &spec.subject {
        SubjectSource::File => file.subject.clone().unwrap_or_default(),
        SubjectSource::Field { field, pick } => {
            field_subject(record, field, *pick).unwrap_or_default()
        }
        SubjectSource::Value { value } => value.clone(),
    }
}

fn read_answer(
    spec: &AnswerField,
    record: &Record,
    options: &[String],
    hidden: bool,
    optional: bool,
) -> Result<Option<char>, SuiteError> {
    let source = &record.source;
    let field = spec.field();
    let value = match record.fields.get(field) {
        None | Some(Value::Null) => {
            if hidden {
                return Ok(None);
            }
            return Err(source.malformed(format!("the record has no `{field}` field")));
        }
        Some(value) => value,
    };
    if (hidden || optional) && matches!(value, Value::String(text) if text.trim().is_empty()) {
        return Ok(None);
    }
    let in_range = |index: usize| -> Result<Option<char>, SuiteError> {
        if index < options.len() {
            Ok(Some(letter(index)))
        } else {
            Err(source.malformed(format!(
                "answer `{value}` is out of range for {} options",
                options.len()
            )))
        }
    };
    let from_index = |value: &Value, base: u8| -> Result<Option<char>, SuiteError> {
        let index = match value {
            Value::Number(number) => number.as_u64(),
            Value::String(text) => text.trim().parse::<u64>().ok(),
            _ => None,
        }
        .ok_or_else(|| {
            source.malformed(format!(
                "answer `{value}` is not a whole number (index answer)"
            ))
        })?;
        let index = index
            .checked_sub(u64::from(base))
            .and_then(|index| usize::try_from(index).ok())
            .ok_or_else(|| {
                source.malformed(format!("answer `{value}` is below the base {base}"))
            })?;
        in_range(index)
    };
    let letters = match spec {
        AnswerField::Letter { letters, .. } => letters.as_deref(),
        _ => None,
    };
    let from_letter = |text: &str| -> Result<Option<char>, SuiteError> {
        let answer = text.trim();
        if answer.is_empty() {
            return Err(source.malformed("the answer is empty"));
        }
        if let Some(letters) = letters {
            let mut characters = answer.chars();
            return match (characters.next(), characters.next()) {
                (Some(letter), None) if letters.contains(letter) && letter.is_ascii_uppercase() => {
                    in_range(usize::from(letter as u8 - b'A'))
                }
                _ => Err(source.malformed(format!(
                    "answer `{answer}` is not a single letter {} (multi-answer or lowercase \
                     answers are not supported)",
                    letter_range(letters)
                ))),
            };
        }
        let mut characters = answer.chars();
        match (characters.next(), characters.next()) {
            (Some(letter @ 'A'..='Z'), None) => in_range(usize::from(letter as u8 - b'A')),
            _ => Err(source.malformed(format!(
                "answer `{answer}` is not a single capital letter (multi-answer or lowercase \
                 answers are not supported)"
            ))),
        }
    };
    match spec {
        AnswerField::Letter { .. } => match value {
            Value::String(text) => from_letter(text),
            other => Err(source.malformed(format!(
                "answer should be a letter string, found {}",
                json_kind(other)
            ))),
        },
        AnswerField::Index { base, .. } => from_index(value, *base),
        AnswerField::Text { .. } => {
            let Value::String(text) = value else {
                return Err(source.malformed(format!(
                    "answer should be the option's text, found {}",
                    json_kind(value)
                )));
            };
            let exact: Vec<usize> = (0..options.len())
                .filter(|i| options[*i] == *text)
                .collect();
            let matching = if exact.is_empty() {
                (0..options.len())
                    .filter(|i| options[*i].trim() == text.trim())
                    .collect()
            } else {
                exact
            };
            match matching.as_slice() {
                [index] => in_range(*index),
                [] => Err(source.malformed(format!("answer `{text}` is not one of the options"))),
                _ => Err(source.malformed(format!(
                    "answer `{text}` matches several options; the right one is ambiguous"
                ))),
            }
        }
        AnswerField::List { base, .. } => {
            let Value::Array(entries) = value else {
                return Err(source.malformed(format!(
                    "answer should be a list, found {}",
                    json_kind(value)
                )));
            };
            match entries.as_slice() {
                [Value::String(text)] => from_letter(text),
                [number @ Value::Number(_)] => from_index(number, *base),
                [] if hidden => Ok(None),
                [] => Err(source.malformed("the answer list is empty")),
                [_] => Err(source.malformed(format!(
                    "answer entry `{value}` should be a letter or an index"
                ))),
                _ => Err(source.malformed(format!(
                    "answer `{value}` has several entries; items with several right options \
                     are not single-choice (load them with `formats`)"
                ))),
            }
        }
    }
}

/// `ABCD` as `A-D`; letters that do not run on are listed as they are.
fn letter_range(letters: &str) -> String {
    let bytes = letters.as_bytes();
    let runs_on = bytes.windows(2).all(|pair| pair[1] == pair[0] + 1);
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) if runs_on && bytes.len() > 1 => {
            format!("{}-{}", char::from(*first), char::from(*last))
        }
        _ => letters.to_string(),
    }
}

fn letter(index: usize) -> char {
    crate::formats::letter(index).unwrap_or('?')
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The letter an option text starts with and the text after it: `A. x`, `A．x`, `A、x`,
/// `A:x`, `A：x`, `A)x`, `(A) x`, `（A）x`. A bare letter followed by text (`ATP`) is not a
/// prefix.
fn letter_prefix(text: &str) -> Option<(char, &str)> {
    let trimmed = text.trim_start();
    let (letter, rest) = if let Some(inner) = trimmed
        .strip_prefix('(')
        .or_else(|| trimmed.strip_prefix('（'))
    {
        let mut characters = inner.chars();
        let letter = characters.next()?;
        let rest = characters.as_str();
        let rest = rest.strip_prefix(')').or_else(|| rest.strip_prefix('）'))?;
        (letter, rest)
    } else {
        let mut characters = trimmed.chars();
        let letter = characters.next()?;
        let rest = characters.as_str();
        let rest = ['.', '．', '、', ':', '：', ')', '）']
            .iter()
            .find_map(|separator| rest.strip_prefix(*separator))?;
        (letter, rest)
    };
    letter
        .is_ascii_uppercase()
        .then(|| (letter, rest.trim_start()))
}

/// With `strip`, reads each option's letter prefix: all prefixed → ordered by letter (the
/// letters must be A, B, ... without gaps); none prefixed → kept in order; a mix is an
/// error, since the order is then unknowable.
fn order_by_prefix(texts: Vec<String>, strip: bool) -> Result<Vec<String>, String> {
    if !strip {
        return Ok(texts);
    }
    let prefixed: Vec<Option<(char, &str)>> =
        texts.iter().map(|text| letter_prefix(text)).collect();
    if prefixed.iter().all(Option::is_none) {
        return Ok(texts);
    }
    if prefixed.iter().any(Option::is_none) {
        return Err(
            "some options start with a letter (`A. …`) and some do not; the order is ambiguous"
                .to_string(),
        );
    }
    let mut lettered: Vec<(char, String)> = prefixed
        .into_iter()
        .flatten()
        .map(|(letter, rest)| (letter, rest.to_string()))
        .collect();
    lettered.sort_by_key(|(letter, _)| *letter);
    for (index, (letter, _)) in lettered.iter().enumerate() {
        if *letter != self::letter(index) {
            let letters: String = lettered.iter().map(|(letter, _)| *letter).collect();
            return Err(format!(
                "option letters `{letters}` are not A, B, C, ... without gaps or repeats"
            ));
        }
    }
    Ok(lettered.into_iter().map(|(_, text)| text).collect())
}

/// Splits a question whose options are its own lines (`A. …`, `B. …`, ... in order,
/// each starting a line) into the stem before them and the option texts. A line that
/// does not start the next letter continues the previous option.
fn split_question(question: &str) -> Result<(String, Vec<String>), String> {
    let lines: Vec<&str> = question.split('\n').collect();
    let first = lines
        .iter()
        .position(|line| matches!(letter_prefix(line), Some(('A', _))))
        .ok_or("the question has no option lines (`A. …` on a line of its own)")?;
    let mut options: Vec<String> = Vec::new();
    for line in &lines[first..] {
        match letter_prefix(line) {
            Some((found, rest)) if found == letter(options.len()) => {
                options.push(rest.to_string());
            }
            _ => match options.last_mut() {
                Some(last) => {
                    last.push('\n');
                    last.push_str(line);
                }
                None => return Err("the option lines are out of order".to_string()),
            },
        }
    }
    for option in &mut options {
        let trimmed_len = option.trim_end().len();
        option.truncate(trimmed_len);
    }
    let stem = lines[..first].join("\n").trim_end().to_string();
    Ok((stem, options))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::load_suite;
    use crate::spec::{builtin_spec, load_spec_str};

    use crate::test_fixtures::{CMMLU_DEV, CMMLU_TEST, ceval_folder, write};

    fn ceval_fixture() -> tempfile::TempDir {
        ceval_folder(&["toy_subject", "another"], &[])
    }

    /// Loads as `--strict` does: the first record that cannot become an item is an error.
    fn load_strict(
        spec: &DeclarativeSuite,
        dir: &Path,
        split: &str,
    ) -> Result<SpecLoad, SuiteError> {
        let options = SpecLoadOptions {
            strict: true,
            ..SpecLoadOptions::default()
        };
        load_with_spec_options(spec, dir, split, &options)
    }

    fn assert_same(spec_load: &SpecLoad, loaded: &LoadedSuite) {
        assert_eq!(spec_load.items, loaded.items);
        assert_eq!(spec_load.fewshot_pool, loaded.fewshot_pool);
        assert_eq!(spec_load.files, loaded.files);
        assert_eq!(spec_load.split, loaded.split);
    }

    #[test]
    fn ceval_spec_gives_the_hand_written_loaders_items() {
        let dir = ceval_fixture();
        let spec = builtin_spec(SuiteName::Ceval).expect("spec");
        for split in ["val", "dev", "test"] {
            let through_spec = load_with_spec(&spec, dir.path(), split).expect("spec load");
            let by_hand = load_suite(SuiteName::Ceval, dir.path(), split, &[], split != "test")
                .expect("hand load");
            if split == "test" {
                // No few-shot for the hidden-answer split by hand; compare items only.
                assert_eq!(through_spec.items, by_hand.items);
            } else {
                assert_same(&through_spec, &by_hand);
            }
            assert!(!through_spec.items.is_empty());
        }
        let zero_shot = load_with_spec_options(
            &spec,
            dir.path(),
            "val",
            &SpecLoadOptions {
                subjects: vec!["toy_subject".to_string()],
                skip_fewshot: true,
                strict: false,
            },
        )
        .expect("spec load");
        let by_hand = load_suite(
            SuiteName::Ceval,
            dir.path(),
            "val",
            &["toy_subject".to_string()],
            false,
        )
        .expect("hand load");
        assert_same(&zero_shot, &by_hand);
        let converted = zero_shot.into_loaded_suite().expect("ceval is built in");
        assert_eq!(converted.suite, SuiteName::Ceval);
    }

    #[test]
    fn cmmlu_spec_gives_the_hand_written_loaders_items() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "test/agronomy.csv", CMMLU_TEST);
        write(dir.path(), "dev/agronomy.csv", CMMLU_DEV);
        write(dir.path(), "test/arts.csv", CMMLU_DEV);
        write(dir.path(), "dev/arts.csv", CMMLU_DEV);
        let spec = builtin_spec(SuiteName::Cmmlu).expect("spec");
        for split in ["test", "dev"] {
            let through_spec = load_with_spec(&spec, dir.path(), split).expect("spec load");
            let by_hand =
                load_suite(SuiteName::Cmmlu, dir.path(), split, &[], true).expect("hand load");
            assert_same(&through_spec, &by_hand);
        }
        let through_spec = load_with_spec(&spec, dir.path(), "test").expect("spec load");
        assert_eq!(through_spec.items[1].question, "另一个问题，\n跨两行");
        assert_eq!(through_spec.items[2].options[1], " 二 ");
    }

    #[test]
    fn malformed_builtin_records_name_file_and_line() {
        let spec = builtin_spec(SuiteName::Cmmlu).expect("spec");
        let cases = [
            (
                ",Question,A,B,C,D,Answer\n0,问题,1,,3,4,A\n",
                2,
                "option B is empty",
            ),
            (
                ",Question,A,B,C,D,Answer\n0,问题,1,2,3,4,A\n1,问题,1,2,3\n",
                3,
                "columns",
            ),
            (",Question,A,B,C,D,Answer\n0,问题,1,2,3,4,AB\n", 2, "`AB`"),
            (
                ",Question,A,B,C,D,Answer\n0,问题,1,2,3,4,E\n",
                2,
                "out of range",
            ),
            (
                ",Question,A,B,C,D,Answer\n0,问题,1,2,3,4,A\n0,问题,1,2,3,4,B\n",
                3,
                "already used",
            ),
            (",Question,A,B,C,D\n0,问题,1,2,3,4\n", 2, "no `Answer`"),
            (
                "Question,A,B,C,D,Answer\n问题,1,2,3,4,A\n",
                1,
                "no `` column",
            ),
        ];
        for (contents, expected_line, expected_problem) in cases {
            let dir = tempfile::tempdir().expect("tempdir");
            write(dir.path(), "test/arts.csv", contents);
            let error = load_with_spec_options(
                &spec,
                dir.path(),
                "test",
                &SpecLoadOptions {
                    skip_fewshot: true,
                    strict: true,
                    ..SpecLoadOptions::default()
                },
            )
            .expect_err(contents);
            match error {
                SuiteError::Malformed {
                    path,
                    line,
                    problem,
                } => {
                    assert!(path.ends_with("test/arts.csv"));
                    assert_eq!(line, expected_line, "{contents}: {problem}");
                    assert!(problem.contains(expected_problem), "{problem}");
                }
                other => panic!("expected malformed, got {other:?}"),
            }
        }
    }

    /// CMMLU's `test` may leave an answer empty (an item without gold, the split still
    /// scored); its `dev` may not; C-Eval's `letters` refuses a letter past D in the
    /// former hand loader's words.
    #[test]
    fn builtin_answer_rules_come_from_the_shipped_specs() {
        let cmmlu = builtin_spec(SuiteName::Cmmlu).expect("spec");
        assert!(cmmlu.fields.answer_hidden_in.is_empty());
        let dir = tempfile::tempdir().expect("tempdir");
        let contents = ",Question,A,B,C,D,Answer\n0,问题,1,2,3,4,\n1,问题,1,2,3,4,B\n";
        write(dir.path(), "test/arts.csv", contents);
        write(dir.path(), "dev/arts.csv", contents);
        let zero_shot_strict = SpecLoadOptions {
            skip_fewshot: true,
            strict: true,
            ..SpecLoadOptions::default()
        };
        let test = load_with_spec_options(&cmmlu, dir.path(), "test", &zero_shot_strict)
            .expect("test loads");
        let answers: Vec<Option<char>> = test.items.iter().map(|item| item.answer).collect();
        assert_eq!(answers, [None, Some('B')]);
        let error = load_strict(&cmmlu, dir.path(), "dev").expect_err("dev needs answers");
        assert!(
            error
                .to_string()
                .contains("arts.csv:2: the answer is empty"),
            "{error}"
        );

        let ceval = builtin_spec(SuiteName::Ceval).expect("spec");
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "val/law_val.csv",
            "id,question,A,B,C,D,answer\n0,问题,1,2,3,4,E\n",
        );
        let error = load_strict(&ceval, dir.path(), "val").expect_err("E is no answer");
        assert!(
            error.to_string().contains(
                "law_val.csv:2: answer `E` is not a single letter A-D (multi-answer or \
                 lowercase answers are not supported)"
            ),
            "{error}"
        );
        assert_eq!(letter_range("ABCD"), "A-D");
        assert_eq!(letter_range("ACE"), "ACE");
    }

    #[test]
    fn load_level_problems_say_what_to_do() {
        let dir = ceval_fixture();
        let spec = builtin_spec(SuiteName::Ceval).expect("spec");
        let error = load_with_spec(&spec, dir.path(), "train").expect_err("no such split");
        assert!(error.to_string().contains("dev, test, val"), "{error}");
        let empty = tempfile::tempdir().expect("tempdir");
        let error = load_with_spec(&spec, empty.path(), "val").expect_err("no files");
        assert!(
            error.to_string().contains("val/{subject}_val.csv"),
            "{error}"
        );
        let error = load_with_spec_options(
            &spec,
            dir.path(),
            "val",
            &SpecLoadOptions {
                subjects: vec!["astrology".to_string()],
                skip_fewshot: false,
                strict: false,
            },
        )
        .expect_err("unknown subject");
        assert!(error.to_string().contains("astrology"), "{error}");
        std::fs::remove_file(dir.path().join("dev/another_dev.csv")).expect("remove");
        let error = load_with_spec(&spec, dir.path(), "val").expect_err("no dev file");
        assert!(error.to_string().contains("`another`"), "{error}");
        assert!(error.to_string().contains("0 shots"), "{error}");
    }

    const JSON_SPEC: &str = r#"
name = "shapes"
version = "2"
format = "json"

[splits]
test = "data/*.json"

[fields]
id = "no"
question = "q"
options = { from = "joined", field = "opts", separator = "|", strip_letter_prefix = true }
answer = { from = "text", field = "gold" }

[subject]
from = "field"
field = "area"

[template]
user = "{question}\nA. {A}\nB. {B}\nC. {C}"
"#;

    #[test]
    fn json_records_with_joined_options_and_text_answers() {
        let spec = load_spec_str(JSON_SPEC, "shapes.toml").expect("spec");
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "data/a.json",
            r#"[{"no": 7, "area": "几何", "q": "三角形有几条边？", "opts": "C. 四|A. 三|B. 二|", "gold": "三"},
                {"no": 8, "area": "代数", "q": "1+2=?", "opts": "A. 3|B. 4|C. 5", "gold": "3"}]"#,
        );
        let loaded = load_with_spec(&spec, dir.path(), "test").expect("load");
        let summary: Vec<(&str, &[String], Option<char>, u64)> = loaded
            .items
            .iter()
            .map(|item| {
                (
                    item.id.as_str(),
                    item.options.as_slice(),
                    item.answer,
                    item.source.line,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "代数/test/8",
                    &["3".to_string(), "4".to_string(), "5".to_string()][..],
                    Some('A'),
                    0
                ),
                (
                    "几何/test/7",
                    &["三".to_string(), "二".to_string(), "四".to_string()][..],
                    Some('A'),
                    0
                ),
            ]
        );

        write(
            dir.path(),
            "data/a.json",
            r#"[{"no": 1, "area": "x", "q": "q", "opts": "A. 1|B. 2", "gold": "1"},
                {"no": 2, "area": "x", "q": "q", "opts": "A. 1|B. 1", "gold": "1"}]"#,
        );
        match load_strict(&spec, dir.path(), "test").expect_err("ambiguous") {
            SuiteError::MalformedRecord {
                record, problem, ..
            } => {
                assert_eq!(record, "[1]");
                assert!(problem.contains("several options"), "{problem}");
            }
            other => panic!("expected a record error, got {other:?}"),
        }
    }

    #[test]
    fn options_embedded_in_the_question_and_list_answers() {
        let text = r#"
name = "embedded"
version = "1"
format = "jsonl"

[splits]
test = "*.jsonl"

[fields]
question = "question"
options = { from = "question" }
answer = { from = "list", field = "label" }
answer_hidden_in = []

[subject]
from = "value"
value = "general"

[template]
user = "{question}\n{A}\n{B}"
"#;
        let spec = load_spec_str(text, "embedded.toml").expect("spec");
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "q.jsonl",
            "{\"question\": \"下列说法正确的是\\n（A）地球是平的\\n（B）水在常压下100℃沸腾\\n且不会结冰\", \"label\": [\"B\"]}\n\
             \n\
             {\"question\": \"选出质数\\nA. 4\\nB. 5\", \"label\": [1]}\n\
             {\"question\": \"多选\\nA. 1\\nB. 2\", \"label\": [\"A\", \"B\"]}\n",
        );
        let error = load_strict(&spec, dir.path(), "test").expect_err("multi-answer");
        assert!(error.to_string().contains(":4: "), "{error}");
        assert!(error.to_string().contains("several entries"), "{error}");

        write(
            dir.path(),
            "q.jsonl",
            "{\"question\": \"下列说法正确的是\\n（A）地球是平的\\n（B）水在常压下100℃沸腾\\n且不会结冰\", \"label\": [\"B\"]}\n\
             \n\
             {\"question\": \"选出质数\\nA. 4\\nB. 5\", \"label\": [1]}\n",
        );
        let loaded = load_with_spec(&spec, dir.path(), "test").expect("load");
        assert_eq!(loaded.items[0].question, "下列说法正确的是");
        assert_eq!(
            loaded.items[0].options,
            vec!["地球是平的", "水在常压下100℃沸腾\n且不会结冰"]
        );
        assert_eq!(loaded.items[0].answer, Some('B'));
        assert_eq!(loaded.items[1].id, "general/test/1");
        assert_eq!(loaded.items[1].source.line, 3);
        assert_eq!(loaded.items[1].answer, Some('B'));
    }

    #[test]
    fn letter_prefixes_and_ordering() {
        assert_eq!(letter_prefix("A. 北京"), Some(('A', "北京")));
        assert_eq!(letter_prefix("（C）上海"), Some(('C', "上海")));
        assert_eq!(letter_prefix("B、广州"), Some(('B', "广州")));
        assert_eq!(letter_prefix("ATP 合成"), None);
        assert_eq!(letter_prefix("a. 小写"), None);
        assert_eq!(
            order_by_prefix(vec!["B. 2".into(), "A. 1".into()], true),
            Ok(vec!["1".to_string(), "2".to_string()])
        );
        assert_eq!(
            order_by_prefix(vec!["2".into(), "1".into()], true),
            Ok(vec!["2".to_string(), "1".to_string()])
        );
        assert!(order_by_prefix(vec!["A. 1".into(), "2".into()], true).is_err());
        assert!(order_by_prefix(vec!["A. 1".into(), "C. 2".into()], true).is_err());
        assert_eq!(
            order_by_prefix(vec!["B. 2".into()], false),
            Ok(vec!["B. 2".to_string()])
        );
    }
}
