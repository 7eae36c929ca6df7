//! `jianzhen data fetch NAME --to DIR`: downloads a suite's public files from their
//! published location and checks every file against the sha256 Jianzhen was verified
//! with, so a lab knows it evaluates the same bytes as everyone else. Nothing is kept
//! unless every expected file is present and matches: the archive is downloaded and
//! unpacked beside the target and moved into place only at the end.
//!
//! Jianzhen ships no benchmark data; this command fetches it from its publishers.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use sha2::{Digest, Sha256};

#[derive(Subcommand)]
pub enum DataCommand {
    /// Download a suite's published files into DIR/NAME and verify their hashes.
    Fetch(FetchArgs),
}

#[derive(Args)]
pub struct FetchArgs {
    /// ceval or cmmlu.
    name: String,
    /// Folder to create `NAME/` in.
    #[arg(long)]
    to: PathBuf,
    /// Download from this URL instead (a mirror); the files are verified all the same.
    #[arg(long)]
    url: Option<String>,
    /// Expected files and hashes (`relative/path<TAB>sha256` per line) instead of the
    /// built-in list, for another version of the data.
    #[arg(long)]
    manifest: Option<PathBuf>,
}

/// A suite's published archive and the files Jianzhen expects in it.
struct Source {
    name: &'static str,
    url: &'static str,
    /// What the files are, for messages.
    origin: &'static str,
    manifest: &'static str,
}

const SOURCES: [Source; 2] = [
    Source {
        name: "ceval",
        url: "https://huggingface.co/datasets/ceval/ceval-exam/resolve/main/ceval-exam.zip",
        origin: "C-Eval ceval-exam.zip (dev/val/test CSVs; CC BY-NC-SA 4.0)",
        manifest: include_str!("../data/manifests/ceval.tsv"),
    },
    Source {
        name: "cmmlu",
        url: "https://github.com/haonan-li/CMMLU/archive/d6e7b716d8ac694f38969a6c0407437d1fded799.zip",
        origin: "CMMLU data/ (dev/test CSVs; CC BY-NC 4.0)",
        manifest: include_str!("../data/manifests/cmmlu.tsv"),
    },
];

pub async fn run(command: DataCommand) -> Result<()> {
    match command {
        DataCommand::Fetch(args) => fetch(&args).await,
    }
}

fn parse_manifest(text: &str, origin: &str) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((path, hash)) = line.split_once('\t') else {
            bail!(
                "{origin}:{}: expected `relative/path<TAB>sha256`, found `{line}`",
                index + 1
            );
        };
        if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
            bail!("{origin}:{}: `{hash}` is not a sha256 in hex", index + 1);
        }
        files.insert(path.to_string(), hash.to_ascii_lowercase());
    }
    if files.is_empty() {
        bail!("{origin} lists no files");
    }
    Ok(files)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The archive path of an expected file: archives often wrap the files in a top folder
/// (`CMMLU-<commit>/data/dev/x.csv`), so leading components are stripped until the path
/// is one the manifest expects.
fn expected_path<'m>(entry: &str, expected: &'m BTreeMap<String, String>) -> Option<&'m str> {
    let mut rest = entry;
    loop {
        if let Some((path, _)) = expected.get_key_value(rest) {
            return Some(path.as_str());
        }
        rest = rest.split_once('/')?.1;
    }
}

async fn fetch(args: &FetchArgs) -> Result<()> {
    let Some(source) = SOURCES.iter().find(|source| source.name == args.name) else {
        let names: Vec<&str> = SOURCES.iter().map(|source| source.name).collect();
        bail!(
            "no published source known for `{}`; known: {}",
            args.name,
            names.join(", ")
        );
    };
    let expected = match &args.manifest {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read manifest {}", path.display()))?;
            parse_manifest(&text, &path.display().to_string())?
        }
        None => parse_manifest(
            source.manifest,
            &format!("built-in manifest of {}", source.name),
        )?,
    };
    let target = args.to.join(source.name);
    if target.exists() {
        bail!(
            "{} already exists; remove it, or choose another --to",
            target.display()
        );
    }
    std::fs::create_dir_all(&args.to)
        .with_context(|| format!("cannot create {}", args.to.display()))?;
    let url = args.url.as_deref().unwrap_or(source.url);
    eprintln!("downloading {} from {url}", source.origin);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::get(url).await.with_context(|| {
        format!("cannot download {url}; check the network, or pass --url with a mirror")
    })?;
    if !response.status().is_success() {
        bail!(
            "{url} answered HTTP {}; pass --url with a mirror of the archive",
            response.status()
        );
    }
    let archive = response
        .bytes()
        .await
        .with_context(|| format!("the download from {url} broke off; run the command again"))?;
    eprintln!(
        "downloaded {} bytes, sha256 {}",
        archive.len(),
        sha256_hex(&archive)
    );

    // Unpack beside the target, verify, then move into place: a failure leaves nothing.
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{}-", source.name))
        .tempdir_in(&args.to)
        .with_context(|| format!("cannot create a staging folder in {}", args.to.display()))?;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive.as_ref()))
        .with_context(|| format!("{url} is not a zip archive"))?;
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    for index in 0..zip.len() {
        let mut entry = zip
            .by_index(index)
            .with_context(|| format!("entry {index} of the archive is unreadable"))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry
            .name()
            .with_context(|| format!("entry {index} of the archive has an unreadable name"))?
            .to_string();
        let Some(path) = expected_path(&name, &expected) else {
            continue;
        };
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot unpack {name}"))?;
        let destination = staging.path().join(path);
        if let Some(parent) = destination.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&destination, &bytes)
            .with_context(|| format!("cannot write {}", destination.display()))?;
        found.insert(path.to_string(), sha256_hex(&bytes));
    }
    let missing: Vec<&String> = expected
        .keys()
        .filter(|path| !found.contains_key(*path))
        .collect();
    let mismatched: Vec<String> = found
        .iter()
        .filter(|(path, hash)| expected.get(*path) != Some(*hash))
        .map(|(path, hash)| format!("{path}: sha256 {hash}, expected {}", expected[path]))
        .collect();
    if !missing.is_empty() || !mismatched.is_empty() {
        let mut problem = String::new();
        if !missing.is_empty() {
            problem.push_str(&format!(
                "{} expected files are missing (first: {})",
                missing.len(),
                missing[0]
            ));
        }
        for line in mismatched.iter().take(5) {
            problem.push_str(&format!("\n  {line}"));
        }
        if mismatched.len() > 5 {
            problem.push_str(&format!("\n  … and {} more", mismatched.len() - 5));
        }
        bail!(
            "the archive from {url} is not the version Jianzhen expects: {problem}\nnothing was kept; if this is a newer version you trust, pass --manifest with its hashes"
        );
    }
    let staged = staging.keep();
    std::fs::rename(&staged, &target)
        .with_context(|| format!("cannot move the files into {}", target.display()))?;
    eprintln!(
        "{} files verified and written to {}",
        found.len(),
        target.display()
    );
    println!("{}", target.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_manifests_parse_with_the_published_counts() {
        let ceval = parse_manifest(SOURCES[0].manifest, "ceval").expect("ceval manifest");
        assert_eq!(ceval.len(), 52 * 3);
        let cmmlu = parse_manifest(SOURCES[1].manifest, "cmmlu").expect("cmmlu manifest");
        assert_eq!(cmmlu.len(), 67 * 2);
    }

    #[test]
    fn archive_paths_are_found_under_a_wrapping_folder() {
        let expected = parse_manifest(&format!("data/dev/a.csv\t{}\n", "0".repeat(64)), "m")
            .expect("manifest");
        assert_eq!(
            expected_path("CMMLU-abc/data/dev/a.csv", &expected),
            Some("data/dev/a.csv")
        );
        assert_eq!(
            expected_path("data/dev/a.csv", &expected),
            Some("data/dev/a.csv")
        );
        assert_eq!(expected_path("other/b.csv", &expected), None);
    }

    #[test]
    fn a_bad_manifest_line_is_named() {
        let error = parse_manifest("dev/a.csv\tnothex\n", "m.tsv")
            .expect_err("bad hash")
            .to_string();
        assert!(error.contains("m.tsv:1"), "{error}");
    }
}
