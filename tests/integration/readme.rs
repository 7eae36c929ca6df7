//! The README's commands, run as a reader runs them. Every fenced `sh` block of README.md
//! carries a marker on the line before it: `<!-- readme-test: run -->`, or
//! `<!-- readme-test: skip (why) -->` for a block that needs the network, an API key, a
//! long build or several machines. The `run` blocks are run in order by bash in a fresh
//! folder holding a copy of `examples/`, with the `jianzhen` under test first on the PATH.
//! Two things in their text are replaced, and nothing else: the demo model's URL
//! (`http://127.0.0.1:8765/v1`) by a scripted model's, and the coordinator's port 7443 by
//! a free one.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jianzhen_testkit::Script;

use crate::common::BINARY;

const DEMO_URL: &str = "http://127.0.0.1:8765/v1";
const COORDINATOR_ADDRESS: &str = "127.0.0.1:7443";
const BLOCK_TIMEOUT: Duration = Duration::from_secs(180);

#[derive(Debug, PartialEq, Eq)]
enum Marker {
    Run,
    Skip(String),
}

#[derive(Debug)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    marker: Marker,
    text: String,
}

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
}

/// The `sh` blocks with their markers; panics on a block without one, so a new command
/// cannot go into the README unchecked by accident.
fn shell_blocks(readme: &str) -> Vec<Block> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut blocks = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index].trim_end();
        if !line.starts_with("```") {
            index += 1;
            continue;
        }
        let language = line.trim_start_matches('`');
        let end = lines[index + 1..]
            .iter()
            .position(|line| line.trim_end() == "```")
            .map(|offset| index + 1 + offset)
            .unwrap_or_else(|| panic!("README.md:{}: unclosed code block", index + 1));
        if matches!(language, "sh" | "bash" | "shell" | "console") {
            let marker_line = index
                .checked_sub(1)
                .map(|previous| lines[previous].trim())
                .unwrap_or_default();
            let marker = match marker_line
                .strip_prefix("<!-- readme-test: ")
                .and_then(|rest| rest.strip_suffix(" -->"))
            {
                Some("run") => Marker::Run,
                Some(skip) if skip.starts_with("skip (") && skip.ends_with(')') => {
                    Marker::Skip(skip["skip (".len()..skip.len() - 1].to_string())
                }
                _ => panic!(
                    "README.md:{}: a shell block needs `<!-- readme-test: run -->` or `<!-- readme-test: skip (why) -->` on the line before it, found {marker_line:?}",
                    index + 1
                ),
            };
            blocks.push(Block {
                line: index + 1,
                marker,
                text: lines[index + 1..end].join("\n"),
            });
        }
        index = end + 1;
    }
    blocks
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for entry in std::fs::read_dir(from).expect("read folder") {
        let entry = entry.expect("folder entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// Runs one block with bash in `dir`; the whole process group (background jobs too) is
/// killed afterwards, so a failing block leaves no coordinator behind.
fn run_block(line: usize, text: &str, dir: &Path, path_env: &str) -> (bool, String) {
    let log = dir.join(format!("block-{line}.log"));
    let log_file = std::fs::File::create(&log).expect("create the block's log");
    let mut child = Command::new("bash")
        .args(["-euo", "pipefail", "-c", text])
        .current_dir(dir)
        .env("PATH", path_env)
        .env("HOME", dir.join("home"))
        .env_remove("JIANZHEN_COORDINATOR")
        .env("JIANZHEN_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log handle"))
        .stderr(log_file)
        .process_group(0)
        .spawn()
        .expect("run bash");
    let group = child.id() as i32;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for bash") {
            break Some(status);
        }
        if started.elapsed() > BLOCK_TIMEOUT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // SAFETY: killpg only sends a signal to the group this test created.
    unsafe {
        libc::killpg(group, libc::SIGKILL);
    }
    let _ = child.wait();
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    match status {
        Some(status) => (status.success(), format!("{output}\n[{status}]")),
        None => (
            false,
            format!("{output}\n[timed out after {BLOCK_TIMEOUT:?}]"),
        ),
    }
}

#[test]
fn every_shell_block_of_the_readme_says_whether_it_is_run() {
    let blocks = shell_blocks(&readme());
    assert!(
        blocks
            .iter()
            .filter(|block| block.marker == Marker::Run)
            .count()
            >= 2,
        "the first-hour commands are run: {blocks:?}"
    );
    for block in &blocks {
        if let Marker::Skip(reason) = &block.marker {
            assert!(
                !reason.trim().is_empty(),
                "README.md:{}: say why",
                block.line
            );
        }
    }
    // The two set-up commands stay in the README, as its first block.
    assert!(
        blocks[0].text.contains("scripts/demo.sh")
            && blocks[0].text.contains("cargo test --workspace"),
        "{:?}",
        blocks[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_commands_that_need_no_network_run_as_written() {
    let blocks = shell_blocks(&readme());
    let server = jianzhen_testkit::start(Script::new("答案是B")).await;
    let model_url = server.base_url();
    let address = format!("127.0.0.1:{}", free_port());
    let dir = tempfile::tempdir().expect("temp dir");
    let work = dir.path().to_path_buf();
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        &work.join("examples"),
    );
    std::fs::create_dir_all(work.join("home")).expect("home");
    // The spec the cluster block submits names the demo model too.
    let spec = work.join("examples/sample-run.toml");
    let text = std::fs::read_to_string(&spec).expect("read the sample spec");
    assert!(text.contains(DEMO_URL), "{text}");
    std::fs::write(&spec, text.replace(DEMO_URL, &model_url)).expect("write the sample spec");

    let binary_dir = PathBuf::from(BINARY)
        .parent()
        .expect("the binary's folder")
        .to_path_buf();
    let path_env = format!(
        "{}:{}",
        binary_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = 0;
    for block in blocks.iter().filter(|block| block.marker == Marker::Run) {
        let text = block
            .text
            .replace(DEMO_URL, &model_url)
            .replace(COORDINATOR_ADDRESS, &address);
        let (work, path_env) = (work.clone(), path_env.clone());
        let line = block.line;
        let (ok, output) =
            tokio::task::spawn_blocking(move || run_block(line, &text, &work, &path_env))
                .await
                .expect("the block's task");
        assert!(ok, "README.md:{line}: the block failed:\n{output}");
        ran += 1;
    }
    assert!(ran >= 2);

    // What the blocks promise: the first run's report with its repeat consistency, and
    // the cluster's report.
    let first = std::fs::read_to_string(work.join("out/first/report.md")).expect("out/first");
    assert!(first.contains("## Consistency between repeats"), "{first}");
    assert!(work.join("out/first/report.html").is_file());
    let cluster = std::fs::read_to_string(work.join("out/cluster/report.md")).expect("out/cluster");
    assert!(cluster.contains("| qwen-local | ceval |"), "{cluster}");
}
