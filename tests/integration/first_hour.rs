//! What a new user meets in the first hour, checked: a store in a folder that does not
//! exist yet, logs and progress written to files rather than terminals, the hint after a
//! run whose answers were cut off, the files `report --help` promises, and how many
//! answers changed between repeats.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

use jianzhen_testkit::fixtures::write_ceval;
use jianzhen_testkit::stores::test_store_url;
use jianzhen_testkit::{Fault, Script};

use crate::common::*;

/// Reads a child's stdout until `prefix` starts a line; returns the line's rest.
fn first_line_starting(reader: &mut impl BufRead, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .expect("read the child's output");
        assert!(
            read > 0,
            "the output ended before a line starting {prefix:?}"
        );
        if let Some(rest) = line.trim_end().strip_prefix(prefix) {
            return rest.to_string();
        }
    }
}

#[test]
fn the_coordinator_makes_a_missing_store_folder_and_logs_without_colour_codes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("var/lib/jianzhen/jianzhen.db");
    let mut child = Reaped(
        Command::new(BINARY)
            .args(["coordinator", "--listen", "127.0.0.1:0", "--store"])
            .arg(format!("sqlite:{}", store.display()))
            .env("JIANZHEN_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the coordinator"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let url = first_line_starting(&mut BufReader::new(stdout), "coordinator listening on ");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(store.is_file(), "{} was created", store.display());
    child.kill();
    let mut log = String::new();
    child
        .0
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut log)
        .expect("read the log");
    assert!(log.contains("coordinator serving"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "a log that is not a terminal has no ANSI codes: {log:?}"
    );
}

#[test]
fn a_store_folder_that_cannot_be_made_is_named_once_without_postgres_advice() {
    let dir = tempfile::tempdir().expect("temp dir");
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "x").expect("write");
    let output = Command::new(BINARY)
        .args(["coordinator", "--listen", "127.0.0.1:0", "--store"])
        .arg(format!("sqlite:{}", blocker.join("jianzhen.db").display()))
        .output()
        .expect("run the coordinator");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot create the folder {}", blocker.display())),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("cannot").count(),
        1,
        "one message, not the same one twice: {stderr}"
    );
    assert!(!stderr.contains("database server"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_watch_prints_progress_lines_and_workers_log_each_shard_to_a_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    let questions = write_ceval(&data, &[("law", 16), ("logic", 16)]).expect("fixture");
    let planned = varied_replies("ceval", &questions);
    // About 4 s in all: long enough for several progress lines.
    let server = jianzhen_testkit::start(script_for(&planned, Duration::from_millis(250))).await;
    let (_coordinator, url) =
        start_coordinator_process(&test_store_url(dir.path(), "watch").await, "127.0.0.1:0");
    let worker_log = dir.path().join("worker.log");
    let _worker = Reaped(
        Command::new(BINARY)
            .args(["worker", "--coordinator", &url, "--id", "logger"])
            .args(["--allow-endpoint", "127.0.0.0/8"])
            .env("JIANZHEN_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&worker_log).expect("log file"))
            .spawn()
            .expect("start a worker"),
    );
    let spec_path = dir.path().join("run.toml");
    std::fs::write(
        &spec_path,
        run_spec("watch", &[("ceval", &data, 0)], &server.base_url(), 2, 8),
    )
    .expect("write spec");
    let run_id = submit_via_cli(&spec_path, &url);

    let watch = run_cli(vec![
        "status".into(),
        run_id.clone(),
        "--watch".into(),
        "--coordinator".into(),
        url.clone(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&watch.stdout);
    let stderr = String::from_utf8_lossy(&watch.stderr);
    assert!(watch.status.success(), "{stderr}");
    let done: Vec<u64> = stdout
        .lines()
        .filter(|line| line.contains(&run_id))
        .map(|line| {
            let counts = line
                .split_whitespace()
                .find(|word| word.contains('/') && !word.contains(':'))
                .unwrap_or_else(|| panic!("no done/total in {line:?}"));
            counts
                .split('/')
                .next()
                .and_then(|done| done.parse().ok())
                .unwrap_or_else(|| panic!("bad count in {line:?}"))
        })
        .collect();
    assert!(
        done.len() >= 2,
        "progress lines while the run went on, not only at the end: {stdout:?}"
    );
    assert!(
        done[0] < planned.len() as u64,
        "the first line came before the end: {stdout:?}"
    );
    assert!(
        done.windows(2).all(|pair| pair[0] < pair[1]),
        "a line when the count moved: {stdout:?}"
    );
    assert!(stderr.contains("complete: 32 items"), "{stderr}");
    assert!(
        stderr.contains("were cut off by the token limit"),
        "truncated answers are pointed out: {stderr}"
    );

    let log = std::fs::read_to_string(&worker_log).expect("read the worker's log");
    let completed: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("shard completed"))
        .collect();
    assert!(completed.iter().all(|line| line.contains(&run_id)), "{log}");
    // A lease that expired on a slow machine may complete a shard twice; each of the
    // four shards of 8 items is logged at least once.
    let shards: std::collections::BTreeSet<&str> = completed
        .iter()
        .filter_map(|line| line.split("shard_id=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert_eq!(shards.len(), 4, "one line per shard of 8 items: {log}");
    assert!(!log.contains('\u{1b}'), "no ANSI codes in a file: {log:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_truncated_answers_ends_with_the_flag_to_rerun_and_shows_progress_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    let questions = write_ceval(&data, &[("law", 8)]).expect("fixture");
    let mut script = Script::new("答案是A").with_delay(Duration::from_millis(300));
    for question in questions.iter().take(2) {
        script = script.truncate(&format!("{}：", question.marker), "让我们逐一分析");
    }
    let server = jianzhen_testkit::start(script).await;
    let out = dir.path().join("out");
    // The same run with a token limit: run twice below.
    let run_with_limit = |limit: &'static str| {
        run_cli(
            [
                "run",
                "--suite",
                "ceval",
                "--data",
                data.to_str().expect("utf-8"),
                "--endpoint",
                &server.base_url(),
                "--model",
                "m",
                "--concurrency",
                "1",
                "--max-tokens",
                limit,
                "--out",
                out.to_str().expect("utf-8"),
            ]
            .map(String::from)
            .to_vec(),
        )
    };
    let output = run_with_limit("200").await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "2 of 8 answers (25%) were cut off by the token limit (outcome truncated; they count against the score): run again with --max-tokens 1024"
        ),
        "{stderr}"
    );
    assert!(
        stderr.lines().any(|line| line.contains("/8 items (")),
        "progress lines on stderr when it is not a terminal: {stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");

    // Running again with the suggested limit asks again only the two cut-off answers:
    // the six that ended on their own come from the response cache.
    let requests_before = server.requests();
    let again = run_with_limit("1024").await;
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(
        stderr.contains("6 items answered from the response cache"),
        "{stderr}"
    );
    assert_eq!(server.requests() - requests_before, 2, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_that_change_between_repeats_are_counted_and_report_help_names_every_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    let questions = write_ceval(&data, &[("law", 6)]).expect("fixture");
    // Gold is not A for every fixture question, so score changes are possible too.
    let mut script = Script::new("答案是A");
    for question in questions.iter().take(2) {
        // Asked twice (two repeats): once this, once the default.
        script = script.fault(
            &format!("{}：", question.marker),
            Fault::Answer("答案是C".into()),
            Some(1),
        );
    }
    let server = jianzhen_testkit::start(script).await;
    let spec = format!(
        "name = \"repeats\"\nrepeats = 3\n[[suites]]\nname = \"ceval\"\ndata = \"{}\"\n[[endpoints]]\nname = \"flaky\"\nbase_url = \"{}\"\nmodel = \"m\"\n",
        data.display(),
        server.base_url()
    );
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "repeats").await, 2).await;
    let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(60)).await;
    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    cluster.shutdown().await;
    let changed_scores = questions
        .iter()
        .take(2)
        .filter(|question| question.answer == 'A' || question.answer == 'C')
        .count();
    let md = report_text(&files, "report.md");
    assert!(md.contains("## Consistency between repeats"), "{md}");
    let row = format!("| flaky | ceval | 3 | 6 | 2 | 33.3 | {changed_scores} |");
    assert!(md.contains(&row), "expected {row} in:\n{md}");
    let html = report_text(&files, "report.html");
    assert!(
        html.contains("<td class=\"num\" data-metric=\"answer_changed\">2</td>"),
        "the HTML report shows it too"
    );

    let help = Command::new(BINARY)
        .args(["report", "--help"])
        .output()
        .expect("report --help");
    let help = String::from_utf8_lossy(&help.stdout);
    let mut names: Vec<String> = files.iter().map(|file| file.name.clone()).collect();
    names.extend(["provenance.json", "compare.md", "compare.csv"].map(String::from));
    for name in &names {
        assert!(
            help.contains(name.as_str()),
            "`report --help` names {name}:\n{help}"
        );
    }
}
