//! Reading JSON and JSONL files with errors that point at the file and line or record,
//! shared by every loader in [`crate::formats`].

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::SuiteError;
use crate::formats::RecordSource;

/// The file's text, without a leading byte-order mark (some editors on Windows add one).
pub(crate) fn read_text(path: &Path) -> Result<String, SuiteError> {
    let bytes = std::fs::read(path).map_err(|source| SuiteError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|error| {
        let offset = error.utf8_error().valid_up_to();
        let line = error.as_bytes()[..offset]
            .iter()
            .filter(|byte| **byte == b'\n')
            .count() as u64
            + 1;
        SuiteError::Malformed {
            path: path.to_path_buf(),
            line,
            problem: "the file is not valid UTF-8; re-save it as UTF-8".to_string(),
        }
    })?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// A file that is one JSON document.
pub(crate) fn read_document(path: &Path) -> Result<Value, SuiteError> {
    parse_document(path, &read_text(path)?)
}

/// `text`, read from `path`, as one JSON document; an error names the line.
pub(crate) fn parse_document(path: &Path, text: &str) -> Result<Value, SuiteError> {
    serde_json::from_str(text).map_err(|error| SuiteError::Malformed {
        path: path.to_path_buf(),
        line: error.line() as u64,
        problem: format!("not valid JSON ({error})"),
    })
}

/// One JSONL record with the line it was read from.
pub(crate) type LineRecord = (RecordSource, Map<String, Value>);

/// A file with one JSON object per line; blank lines are skipped. Each object comes with
/// the [`RecordSource`] of its line.
pub(crate) fn read_lines(path: &Path) -> Result<Vec<LineRecord>, SuiteError> {
    parse_lines(path, &read_text(path)?)
}

/// `text`, read from `path`, as one JSON object per line (blank lines skipped), each with
/// the [`RecordSource`] of its line.
pub(crate) fn parse_lines(path: &Path, text: &str) -> Result<Vec<LineRecord>, SuiteError> {
    let mut records = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let source = RecordSource::at_line(path, index as u64 + 1);
        let value: Value = serde_json::from_str(line)
            .map_err(|error| source.malformed(format!("not valid JSON ({error})")))?;
        let Value::Object(object) = value else {
            return Err(source.malformed("expected a JSON object on this line"));
        };
        records.push((source, object));
    }
    Ok(records)
}

/// The record at `source` as an object.
pub(crate) fn as_object<'value>(
    value: &'value Value,
    source: &RecordSource,
) -> Result<&'value Map<String, Value>, SuiteError> {
    value
        .as_object()
        .ok_or_else(|| source.malformed("expected a JSON object"))
}

/// The array under `key`.
pub(crate) fn array<'value>(
    object: &'value Map<String, Value>,
    key: &str,
    source: &RecordSource,
) -> Result<&'value Vec<Value>, SuiteError> {
    match object.get(key) {
        Some(Value::Array(values)) => Ok(values),
        Some(other) => Err(source.malformed(format!(
            "`{key}` should be a list, found {}",
            kind_of(other)
        ))),
        None => Err(source.malformed(format!("missing field `{key}`"))),
    }
}

/// The string under `key`.
pub(crate) fn string(
    object: &Map<String, Value>,
    key: &str,
    source: &RecordSource,
) -> Result<String, SuiteError> {
    match object.get(key) {
        Some(Value::String(text)) => Ok(text.clone()),
        Some(other) => Err(source.malformed(format!(
            "`{key}` should be a string, found {}",
            kind_of(other)
        ))),
        None => Err(source.malformed(format!("missing field `{key}`"))),
    }
}

/// The string under `key`, `None` when it is absent or null.
pub(crate) fn optional_string(
    object: &Map<String, Value>,
    key: &str,
    source: &RecordSource,
) -> Result<Option<String>, SuiteError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => string(object, key, source).map(Some),
    }
}

/// A list of strings under `key`.
pub(crate) fn strings(
    object: &Map<String, Value>,
    key: &str,
    source: &RecordSource,
) -> Result<Vec<String>, SuiteError> {
    array(object, key, source)?
        .iter()
        .enumerate()
        .map(|(index, value)| {
            value.as_str().map(str::to_string).ok_or_else(|| {
                source.malformed(format!(
                    "`{key}[{index}]` should be a string, found {}",
                    kind_of(value)
                ))
            })
        })
        .collect()
}

/// A list under `key` whose entries are strings, or numbers read as their JSON text
/// (`39764.0`), for lists where a spreadsheet export turned some texts into numbers.
pub(crate) fn texts(
    object: &Map<String, Value>,
    key: &str,
    source: &RecordSource,
) -> Result<Vec<String>, SuiteError> {
    array(object, key, source)?
        .iter()
        .enumerate()
        .map(|(index, value)| match value {
            Value::String(text) => Ok(text.clone()),
            Value::Number(number) => Ok(number.to_string()),
            other => Err(source.malformed(format!(
                "`{key}[{index}]` should be a string, found {}",
                kind_of(other)
            ))),
        })
        .collect()
}

/// An id or label that the published files write sometimes as a number, sometimes as a
/// string (`"id": 12` and `"id": "12"` both occur), as text.
pub(crate) fn scalar_text(
    object: &Map<String, Value>,
    key: &str,
    source: &RecordSource,
) -> Result<String, SuiteError> {
    match object.get(key) {
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Number(number)) => Ok(number.to_string()),
        Some(other) => Err(source.malformed(format!(
            "`{key}` should be a string or a number, found {}",
            kind_of(other)
        ))),
        None => Err(source.malformed(format!("missing field `{key}`"))),
    }
}

/// A non-negative integer written as a number or as a string of digits.
pub(crate) fn index(
    object: &Map<String, Value>,
    key: &str,
    source: &RecordSource,
) -> Result<usize, SuiteError> {
    let text = scalar_text(object, key, source)?;
    text.trim()
        .parse()
        .map_err(|_| source.malformed(format!("`{key}` should be a whole number, found `{text}`")))
}

/// A number written as a JSON number or as a string.
pub(crate) fn number(
    object: &Map<String, Value>,
    key: &str,
    source: &RecordSource,
) -> Result<f64, SuiteError> {
    let text = scalar_text(object, key, source)?;
    text.trim()
        .parse()
        .map_err(|_| source.malformed(format!("`{key}` should be a number, found `{text}`")))
}

pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The stem of `path` (`c3-d-dev` for `data/c3-d-dev.json`), for subjects and ids.
pub(crate) fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_errors_name_the_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.jsonl");
        std::fs::write(&path, "{\"a\": 1}\n\n{\"a\": \n").expect("write");
        let error = read_lines(&path)
            .expect_err("line 3 is cut off")
            .to_string();
        assert!(error.contains("x.jsonl:3: not valid JSON"), "{error}");
        std::fs::write(&path, "\u{feff}{\"a\": 1}\n[1]\n").expect("write");
        let error = read_lines(&path).expect_err("line 2 is a list").to_string();
        assert!(
            error.contains("x.jsonl:2: expected a JSON object"),
            "{error}"
        );
    }

    #[test]
    fn missing_files_say_so() {
        let error = read_document(Path::new("/nonexistent/x.json"))
            .expect_err("no such file")
            .to_string();
        assert!(
            error.starts_with("cannot read /nonexistent/x.json"),
            "{error}"
        );
    }
}
