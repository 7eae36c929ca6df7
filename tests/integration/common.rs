//! Helpers shared by the integration tests.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jianzhen_coordinator::{Controller, CoordinatorConfig};
use jianzhen_testkit::Script;
use jianzhen_testkit::fixtures::FixtureQuestion;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What the scripted model replies to one question, and the outcome that must follow.
#[derive(Debug, Clone)]
pub struct Planned {
    pub suite: &'static str,
    pub subject: String,
    pub needle: String,
    pub reply: Reply,
    pub expected: &'static str,
}

#[derive(Debug, Clone)]
pub enum Reply {
    Text(String),
    /// Cut off by the token limit.
    Truncated(String),
    HttpError(u16),
}

/// Builds a varied script over fixture questions: answers in many Chinese and English
/// forms, some wrong, some unreadable, some failing, with the outcome each must get.
pub fn varied_replies(suite: &'static str, questions: &[FixtureQuestion]) -> Vec<Planned> {
    questions
        .iter()
        .enumerate()
        .map(|(index, question)| {
            let gold = question.answer;
            let wrong = match gold {
                'A' => 'C',
                'B' => 'D',
                'C' => 'A',
                _ => 'B',
            };
            let (reply, expected) = match index % 10 {
                0 => (Reply::Text(gold.to_string()), "correct"),
                1 => (Reply::Text(format!("答案是{gold}")), "correct"),
                2 => (Reply::Text(format!("正确答案：{gold}．")), "correct"),
                3 => (Reply::Text(format!("根据题意分析，应选{wrong}。")), "wrong"),
                4 => (
                    Reply::Text("这道题我无法确定。".to_string()),
                    "unextractable",
                ),
                5 => (Reply::Text(format!("The answer is {gold}.")), "correct"),
                6 => (Reply::Text(format!("答案: {wrong}")), "wrong"),
                7 => (Reply::HttpError(500), "api_error"),
                8 => (
                    Reply::Truncated(format!("让我们逐一分析每个选项：\n{gold}.")),
                    "truncated",
                ),
                _ => (Reply::Text(format!("（{gold}）")), "correct"),
            };
            Planned {
                suite,
                subject: question.subject.clone(),
                // The marker is followed by a full-width colon in every fixture question,
                // which keeps `X-1` from matching `X-10`.
                needle: format!("{}：", question.marker),
                reply,
                expected,
            }
        })
        .collect()
}

pub fn script_for(planned: &[Planned], delay: Duration) -> Script {
    let mut script = Script::new("无法回答").with_delay(delay);
    for entry in planned {
        script = match &entry.reply {
            Reply::Text(text) => script.rule(&entry.needle, text),
            Reply::Truncated(text) => script.truncate(&entry.needle, text),
            Reply::HttpError(status) => script.fail(&entry.needle, *status),
        };
    }
    script
}

/// Expected (n, correct, wrong, unextractable, truncated, api_error) per (suite, subject).
pub fn expected_counts(planned: &[Planned]) -> BTreeMap<(String, String), [u64; 6]> {
    let mut counts: BTreeMap<(String, String), [u64; 6]> = BTreeMap::new();
    for entry in planned {
        let row = counts
            .entry((entry.suite.to_string(), entry.subject.clone()))
            .or_default();
        row[0] += 1;
        let slot = match entry.expected {
            "correct" => 1,
            "wrong" => 2,
            "unextractable" => 3,
            "truncated" => 4,
            _ => 5,
        };
        row[slot] += 1;
    }
    counts
}

/// Parses `scores.csv` into (suite, subject) → (n, correct, wrong, unextractable, truncated,
/// api_error),
/// checking that `accuracy` equals correct / n on every row.
pub fn parse_scores(csv_bytes: &[u8]) -> BTreeMap<(String, String), [u64; 6]> {
    let mut reader = csv::Reader::from_reader(csv_bytes);
    let headers = reader.headers().expect("scores.csv has a header").clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|header| header == name)
            .unwrap_or_else(|| panic!("scores.csv lacks column {name}: {headers:?}"))
    };
    let (suite, subject, accuracy) = (column("suite"), column("subject"), column("accuracy"));
    let counted = [
        "n",
        "correct",
        "wrong",
        "unextractable",
        "truncated",
        "api_error",
    ]
    .map(column);
    let mut parsed = BTreeMap::new();
    for record in reader.records() {
        let record = record.expect("scores.csv row");
        let number = |index: usize| record[index].parse::<u64>().expect("integer cell");
        let row = counted.map(number);
        let stated: f64 = record[accuracy].parse().expect("accuracy is a number");
        assert!(
            (stated - row[1] as f64 / row[0] as f64).abs() < 1e-9,
            "accuracy {stated} != {}/{} in {:?}",
            row[1],
            row[0],
            record
        );
        parsed.insert(
            (record[suite].to_string(), record[subject].to_string()),
            row,
        );
    }
    parsed
}

/// A coordinator and workers in this process, on loopback, over real gRPC.
pub struct InProcessCluster {
    pub url: String,
    pub controller: Arc<Controller>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl InProcessCluster {
    pub async fn start(store_url: &str, workers: usize) -> InProcessCluster {
        // The scripted endpoints listen on loopback.
        Self::start_with(
            store_url,
            workers,
            CoordinatorConfig::default(),
            jianzhen_worker::egress::EgressPolicy::with_loopback(),
        )
        .await
    }

    /// With the coordinator's settings and the workers' egress policy of a test.
    pub async fn start_with(
        store_url: &str,
        workers: usize,
        config: CoordinatorConfig,
        egress: jianzhen_worker::egress::EgressPolicy,
    ) -> InProcessCluster {
        let controller = Controller::open(store_url, config, "test")
            .await
            .expect("open the store");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut server_stopped = stopped.clone();
        let serving = controller.clone();
        tasks.push(tokio::spawn(async move {
            jianzhen_coordinator::serve(listener, serving, async move {
                let _ = server_stopped.changed().await;
            })
            .await
            .expect("coordinator serves");
        }));
        for index in 0..workers {
            let mut config =
                jianzhen_worker::WorkerConfig::new(&url, &format!("test-worker-{index}"));
            config.egress = egress.clone();
            let stopped = stopped.clone();
            tasks.push(tokio::spawn(async move {
                jianzhen_worker::run_worker(config, stopped)
                    .await
                    .expect("worker runs");
            }));
        }
        InProcessCluster {
            url,
            controller,
            stop,
            tasks,
        }
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

pub fn run_spec(
    name: &str,
    suites: &[(&str, &Path, u32)],
    base_url: &str,
    max_concurrency: u32,
    shard_size: u32,
) -> String {
    let mut text = format!("name = \"{name}\"\nshard_size = {shard_size}\n");
    for (suite, data, shots) in suites {
        text.push_str(&format!(
            "[[suites]]\nname = \"{suite}\"\ndata = \"{}\"\nshots = {shots}\n",
            data.display()
        ));
    }
    text.push_str(&format!(
        "[[endpoints]]\nname = \"scripted\"\nbase_url = \"{base_url}\"\nmodel = \"scripted\"\nmax_concurrency = {max_concurrency}\ntimeout_secs = 10\nmax_attempts = 2\n"
    ));
    text
}

/// The content of one file of a rendered report.
pub fn report_file<'a>(
    files: &'a [jianzhen_coordinator::report::ReportFile],
    name: &str,
) -> &'a [u8] {
    &files
        .iter()
        .find(|file| file.name == name)
        .unwrap_or_else(|| panic!("the report has no {name}"))
        .content
}

/// One file of a rendered report as text (report.md, report.html, manifest.json …).
pub fn report_text(files: &[jianzhen_coordinator::report::ReportFile], name: &str) -> String {
    String::from_utf8(report_file(files, name).to_vec())
        .unwrap_or_else(|error| panic!("{name} is not UTF-8: {error}"))
}

/// The `jianzhen` binary under test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_jianzhen");

/// A child process that is killed when dropped, so a failing test leaves none behind.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Reaped {
    /// SIGTERM, as Kubernetes or Slurm stop a process; returns its exit status and how
    /// long it took to exit. Panics if it is still running after `within`.
    pub fn terminate(&mut self, within: Duration) -> (std::process::ExitStatus, Duration) {
        let started = std::time::Instant::now();
        let pid = libc::pid_t::try_from(self.0.id()).expect("a pid fits pid_t");
        // SAFETY: kill(2) with a pid of our own child and a valid signal number.
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0, "SIGTERM to process {pid}");
        while started.elapsed() < within {
            if let Some(status) = self.0.try_wait().expect("wait for the process") {
                return (status, started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("process {pid} still running {within:?} after SIGTERM");
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `jianzhen coordinator` on `listen` (port 0 for any) with short lease timings;
/// returns it and the URL it printed.
pub fn start_coordinator_process(store: &str, listen: &str) -> (Reaped, String) {
    let mut child = std::process::Command::new(BINARY)
        .args([
            "coordinator",
            "--listen",
            listen,
            "--store",
            store,
            "--insecure",
        ])
        .args([
            "--heartbeat-ttl-secs",
            "1.5",
            "--heartbeat-interval-secs",
            "0.25",
        ])
        .env("JIANZHEN_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("start the coordinator process");
    let url = coordinator_url(&mut child);
    (Reaped(child), url)
}

/// The URL a `jianzhen coordinator` process started with a piped stdout prints on its
/// first line (the real port when it listens on port 0).
pub fn coordinator_url(child: &mut std::process::Child) -> String {
    use std::io::{BufRead, BufReader};
    let stdout = child.stdout.take().expect("coordinator stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the coordinator prints its address");
    line.trim()
        .strip_prefix("coordinator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line from the coordinator: {line:?}"))
        .to_string()
}

/// Starts `jianzhen worker` against `url`.
pub fn start_worker_process(url: &str, id: &str) -> Reaped {
    Reaped(
        std::process::Command::new(BINARY)
            .args(["worker", "--coordinator", url, "--id", id])
            .args(["--allow-endpoint", "127.0.0.0/8"])
            .env("JIANZHEN_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start a worker process"),
    )
}

/// Runs the CLI off the async threads (an in-process coordinator must keep serving).
pub async fn run_cli(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(BINARY)
            .args(&args)
            .output()
            .expect("run the jianzhen binary")
    })
    .await
    .expect("the CLI task")
}

/// Waits until the run is complete.
pub async fn wait_for_run(controller: &Arc<Controller>, run_id: &str, timeout: Duration) {
    wait_until(timeout, "the run to complete", || {
        let controller = controller.clone();
        let run_id = run_id.to_string();
        async move {
            controller
                .run_status(&run_id)
                .await
                .is_ok_and(|status| status.state == jianzhen_proto::v1::RunState::Complete as i32)
        }
    })
    .await;
}

/// Submits a run spec to an in-process controller and waits until the run completes.
pub async fn submit_and_wait(
    controller: &Arc<Controller>,
    spec: &str,
    timeout: Duration,
) -> jianzhen_coordinator::controller::Submitted {
    let submitted = controller.submit_run(spec).await.expect("submit");
    wait_for_run(controller, &submitted.run_id, timeout).await;
    submitted
}

/// `jianzhen submit SPEC --coordinator URL` as a user runs it; returns the run id it prints.
pub fn submit_via_cli(spec_path: &std::path::Path, url: &str) -> String {
    let submitted = std::process::Command::new(BINARY)
        .arg("submit")
        .arg(spec_path)
        .args(["--coordinator", url])
        .output()
        .expect("run jianzhen submit");
    assert!(
        submitted.status.success(),
        "submit failed: {}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    let run_id = String::from_utf8(submitted.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    assert!(run_id.starts_with("run-"), "{run_id}");
    run_id
}

/// How many of a run's results ended in `outcome` (0 when none did).
pub fn outcome_count(status: &jianzhen_proto::v1::RunStatus, outcome: &str) -> u64 {
    status
        .outcomes
        .iter()
        .find(|count| count.outcome == outcome)
        .map_or(0, |count| count.count)
}
