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
    /// ceval, cmmlu, gaokao, c3, cmrc2018, ocnli, fewclue, simpleqa or cmath.
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
    /// The folder under `NAME/` to give `jianzhen run --data` (`""`: `NAME/` itself).
    data_folder: &'static str,
}

/// A GitHub archive at a fixed commit, the version the built-in manifest was made from.
macro_rules! github_archive {
    ($repo:literal, $commit:literal) => {
        concat!("https://github.com/", $repo, "/archive/", $commit, ".zip")
    };
}

const SOURCES: [Source; 9] = [
    Source {
        name: "ceval",
        url: "https://huggingface.co/datasets/ceval/ceval-exam/resolve/main/ceval-exam.zip",
        origin: "C-Eval ceval-exam.zip (dev/val/test CSVs; CC BY-NC-SA 4.0)",
        manifest: include_str!("../data/manifests/ceval.tsv"),
        data_folder: "",
    },
    Source {
        name: "cmmlu",
        url: "https://github.com/haonan-li/CMMLU/archive/d6e7b716d8ac694f38969a6c0407437d1fded799.zip",
        origin: "CMMLU data/ (dev/test CSVs; CC BY-NC 4.0)",
        manifest: include_str!("../data/manifests/cmmlu.tsv"),
        data_folder: "data",
    },
    Source {
        name: "gaokao",
        url: github_archive!(
            "OpenLMLab/GAOKAO-Bench",
            "6dbb24f8d8439041e5431c4c184a582182a6ce9c"
        ),
        origin: "GAOKAO-Bench objective questions and Bench/Obj_Prompt.json (Apache-2.0)",
        manifest: include_str!("../data/manifests/gaokao.tsv"),
        data_folder: "",
    },
    Source {
        name: "c3",
        url: github_archive!("nlpdata/c3", "1f41682ebb684d63afe7c583c8f38e137fc8a826"),
        origin: "C3 data/ (dialogue and mixed-genre reading comprehension; research use)",
        manifest: include_str!("../data/manifests/c3.tsv"),
        data_folder: "data",
    },
    Source {
        name: "cmrc2018",
        url: github_archive!("ymcui/cmrc2018", "c0eb1b6ba219847457e6af3180da722bbeb656af"),
        origin: "CMRC2018 dev and trial sets, plain and SQuAD-style (CC BY-SA 4.0)",
        manifest: include_str!("../data/manifests/cmrc2018.tsv"),
        data_folder: "squad-style-data",
    },
    Source {
        name: "ocnli",
        url: github_archive!(
            "CLUEbenchmark/OCNLI",
            "b53efdee17257a5c33993cf6fcf8ffff0497ea0e"
        ),
        origin: "OCNLI data/ocnli (dev, test, train.3k, train.10k)",
        manifest: include_str!("../data/manifests/ocnli.tsv"),
        data_folder: "data/ocnli",
    },
    Source {
        name: "fewclue",
        url: github_archive!(
            "CLUEbenchmark/FewCLUE",
            "62a02c6f31cf32814cfe522f78ef088228840f8d"
        ),
        origin: "FewCLUE datasets/ (test_public and dev_few_all of the nine tasks, label files)",
        manifest: include_str!("../data/manifests/fewclue.tsv"),
        data_folder: "datasets",
    },
    Source {
        name: "simpleqa",
        url: github_archive!(
            "OpenStellarTeam/ChineseSimpleQA",
            "8b1aa9ebc5b91092356eb61f20f355c5993e6ce5"
        ),
        origin: "Chinese SimpleQA data/chinese_simpleqa.jsonl (CC BY-NC-SA 4.0)",
        manifest: include_str!("../data/manifests/simpleqa.tsv"),
        data_folder: "data",
    },
    Source {
        name: "cmath",
        url: github_archive!("XiaoMi/cmath", "9fa13ef0b2d03f5a18c1ace7001248d3981d65ea"),
        origin: "CMATH datasets/ (dev set and distractor set; CC BY 4.0)",
        manifest: include_str!("../data/manifests/cmath.tsv"),
        data_folder: "datasets",
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
    let data = if source.data_folder.is_empty() {
        target.clone()
    } else {
        target.join(source.data_folder)
    };
    eprintln!(
        "{} files verified and written to {}; run with --data {}",
        found.len(),
        target.display(),
        data.display()
    );
    println!("{}", data.display());
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
        let counts: BTreeMap<&str, usize> = SOURCES
            .iter()
            .map(|source| {
                let files = parse_manifest(source.manifest, source.name).expect("manifest");
                (source.name, files.len())
            })
            .collect();
        // 14 objective files + Obj_Prompt.json; C3 d/m × train/dev/test; CMRC2018 dev and
        // trial in both layouts; OCNLI's four files; FewCLUE's 9 × 2 files + 2 label files.
        assert_eq!(counts["gaokao"], 15);
        assert_eq!(counts["c3"], 6);
        assert_eq!(counts["cmrc2018"], 4);
        assert_eq!(counts["ocnli"], 4);
        assert_eq!(counts["fewclue"], 20);
        assert_eq!(counts["simpleqa"], 1);
        assert_eq!(counts["cmath"], 2);
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
