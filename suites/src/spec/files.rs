//! Matching a spec's file patterns against the data directory.
//!
//! Patterns are relative, `/`-separated paths. Within one path segment `*` matches any
//! run of characters, `?` one character, and `{subject}` matches a non-empty run that
//! becomes the file's subject; a segment that is exactly `**` matches any number of
//! directories. Names starting with `.` (editor backups, macOS `._x.csv`) only match a
//! segment that itself starts with `.`. Results are sorted by relative path, so loads are
//! deterministic on every platform.

use std::path::{Path, PathBuf};

use crate::error::SuiteError;

/// One data file a pattern matched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MatchedFile {
    /// Path relative to the data directory, `/`-separated.
    pub relative_path: String,
    pub path: PathBuf,
    /// What `{subject}` matched, when the pattern has it.
    pub subject: Option<String>,
}

/// Rejects patterns that could leave the data directory or cannot match anything.
pub(crate) fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("file patterns must not be empty".to_string());
    }
    if pattern.starts_with('/') || pattern.contains('\\') || pattern.contains(':') {
        return Err(format!(
            "`{pattern}` must be relative to the data directory, with `/` separators"
        ));
    }
    for segment in pattern.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(format!(
                "`{pattern}` has an empty, `.` or `..` segment; patterns stay inside the data directory"
            ));
        }
        if segment.contains("**") && segment != "**" {
            return Err(format!("`**` must be a whole segment in `{pattern}`"));
        }
    }
    if pattern.ends_with("**") {
        return Err(format!(
            "`{pattern}` must end in a file name pattern, not `**`"
        ));
    }
    Ok(())
}

/// Every file under `data_dir` that one of `patterns` matches, sorted by relative path,
/// each file once.
///
/// # Errors
/// [`SuiteError::Io`] when a directory on the way cannot be listed.
pub fn match_files(data_dir: &Path, patterns: &[&str]) -> Result<Vec<MatchedFile>, SuiteError> {
    let mut found = Vec::new();
    for pattern in patterns {
        let segments: Vec<&str> = pattern.split('/').collect();
        walk(data_dir, "", &segments, None, &mut found)?;
    }
    found.sort();
    found.dedup_by(|left, right| left.relative_path == right.relative_path);
    Ok(found)
}

fn walk(
    dir: &Path,
    relative: &str,
    segments: &[&str],
    subject: Option<&str>,
    found: &mut Vec<MatchedFile>,
) -> Result<(), SuiteError> {
    let Some((segment, rest)) = segments.split_first() else {
        return Ok(());
    };
    let join = |name: &str| {
        if relative.is_empty() {
            name.to_string()
        } else {
            format!("{relative}/{name}")
        }
    };
    if *segment == "**" {
        // Zero directories, then each subdirectory with `**` still in force.
        walk(dir, relative, rest, subject, found)?;
        for (name, path) in entries(dir)? {
            if path.is_dir() && !name.starts_with('.') {
                walk(&path, &join(&name), segments, subject, found)?;
            }
        }
        return Ok(());
    }
    let is_last = rest.is_empty();
    for (name, path) in entries(dir)? {
        if name.starts_with('.') && !segment.starts_with('.') {
            continue;
        }
        let Some(captured) = match_segment(segment, &name) else {
            continue;
        };
        let subject = captured.as_deref().or(subject);
        if is_last {
            if path.is_file() {
                found.push(MatchedFile {
                    relative_path: join(&name),
                    path,
                    subject: subject.map(str::to_string),
                });
            }
        } else if path.is_dir() {
            walk(&path, &join(&name), rest, subject, found)?;
        }
    }
    Ok(())
}

/// The UTF-8-named entries of `dir`; a missing directory has none (the caller reports
/// "no files match" with the pattern, which says more than "not found").
fn entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, SuiteError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let read = std::fs::read_dir(dir).map_err(|source| SuiteError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut entries = Vec::new();
    for entry in read {
        let entry = entry.map_err(|source| SuiteError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        if let Some(name) = entry.file_name().to_str() {
            entries.push((name.to_string(), entry.path()));
        }
    }
    entries.sort();
    Ok(entries)
}

#[derive(Debug, PartialEq)]
enum Token {
    Literal(char),
    Any,
    One,
    Subject,
}

fn tokens(segment: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut rest = segment;
    while let Some(character) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("{subject}") {
            tokens.push(Token::Subject);
            rest = after;
            continue;
        }
        tokens.push(match character {
            '*' => Token::Any,
            '?' => Token::One,
            other => Token::Literal(other),
        });
        rest = &rest[character.len_utf8()..];
    }
    tokens
}

/// `Some(captured subject)` when `name` matches `segment`; `Some(None)` for a match
/// without `{subject}`. The first (shortest) subject that lets the rest match wins.
fn match_segment(segment: &str, name: &str) -> Option<Option<String>> {
    let tokens = tokens(segment);
    let characters: Vec<char> = name.chars().collect();
    let mut subject = None;
    matches(&tokens, &characters, &mut subject).then_some(subject)
}

fn matches(tokens: &[Token], name: &[char], subject: &mut Option<String>) -> bool {
    let Some((token, rest)) = tokens.split_first() else {
        return name.is_empty();
    };
    match token {
        Token::Literal(expected) => {
            name.first() == Some(expected) && matches(rest, &name[1..], subject)
        }
        Token::One => !name.is_empty() && matches(rest, &name[1..], subject),
        Token::Any => (0..=name.len()).any(|taken| matches(rest, &name[taken..], subject)),
        Token::Subject => (1..=name.len()).any(|taken| {
            if matches(rest, &name[taken..], subject) {
                *subject = Some(name[..taken].iter().collect());
                true
            } else {
                false
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_match_with_wildcards_and_capture_the_subject() {
        assert_eq!(
            match_segment("{subject}_val.csv", "computer_network_val.csv"),
            Some(Some("computer_network".to_string()))
        );
        assert_eq!(match_segment("{subject}_val.csv", "_val.csv"), None);
        assert_eq!(match_segment("{subject}_val.csv", "x_dev.csv"), None);
        assert_eq!(match_segment("*.jsonl", "a.jsonl"), Some(None));
        assert_eq!(match_segment("part-?.jsonl", "part-1.jsonl"), Some(None));
        assert_eq!(match_segment("part-?.jsonl", "part-12.jsonl"), None);
        assert_eq!(match_segment("题库.json", "题库.json"), Some(None));
    }

    #[test]
    fn files_are_found_recursively_sorted_and_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        for relative in [
            "val/b_val.csv",
            "val/a_val.csv",
            "val/._a_val.csv",
            "val/notes.txt",
            "nested/x/deep.jsonl",
            "top.jsonl",
        ] {
            let path = dir.path().join(relative);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, "").expect("write");
        }
        let found = match_files(dir.path(), &["val/{subject}_val.csv"]).expect("match");
        let summary: Vec<(&str, Option<&str>)> = found
            .iter()
            .map(|file| (file.relative_path.as_str(), file.subject.as_deref()))
            .collect();
        assert_eq!(
            summary,
            vec![("val/a_val.csv", Some("a")), ("val/b_val.csv", Some("b"))]
        );
        let found = match_files(dir.path(), &["**/*.jsonl", "top.jsonl"]).expect("match");
        let paths: Vec<&str> = found
            .iter()
            .map(|file| file.relative_path.as_str())
            .collect();
        assert_eq!(paths, vec!["nested/x/deep.jsonl", "top.jsonl"]);
        assert!(
            match_files(dir.path(), &["missing/*.csv"])
                .expect("match")
                .is_empty()
        );
    }

    #[test]
    fn patterns_must_stay_inside_the_data_directory() {
        assert!(check_pattern("val/{subject}_val.csv").is_ok());
        assert!(check_pattern("**/*.jsonl").is_ok());
        for bad in [
            "/etc/passwd",
            "../x.csv",
            "a//b.csv",
            "a/**",
            "a**b/c.csv",
            "C:\\x.csv",
            "",
        ] {
            assert!(check_pattern(bad).is_err(), "{bad}");
        }
    }
}
