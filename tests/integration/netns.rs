//! Real network faults. The coordinator, PostgreSQL, three workers and the scripted
//! endpoint each run on a host of their own: a Linux network namespace joined to a bridge
//! by a veth pair, all made by this test with `ip netns` / `ip link`. Then the links break
//! as a lab's network breaks them, one phase (and one run) per fault:
//!
//! 1. one worker's link is cut while it holds a lease: its lease expires and the shard is
//!    redone by the others; when the link returns its late reports are refused by epoch
//!    (fencing) and it goes back to work;
//! 2. the coordinator is partitioned from PostgreSQL for longer than a heartbeat TTL: it
//!    keeps answering, with UNAVAILABLE "the store is unavailable", its health turns
//!    NOT_SERVING, no lease is lost, and the run carries on when the store returns;
//! 3. the endpoint's link gets 200 ms latency and 5% packet loss (tc netem).
//!
//! After each: every item stored exactly once with the scripted score, and answered —
//! counted per item at the endpoint (its request log) and in the store. A timeline of each
//! phase is printed (`--nocapture`).
//!
//! Needs root, iproute2 (`ip`, `tc`), PostgreSQL's server binaries and the scripted
//! endpoint binary (`cargo build -p jianzhen-testkit --bin scripted-model`). Without them
//! it says so and passes, unless JIANZHEN_REQUIRE_NETNS=1 (set by `.ci/run`), which makes
//! it fail. Phase 3 uses the kernel's `sch_netem`; where the kernel lacks it the phase is
//! run with a stand-in — an NFQUEUE whose verdicts this test delays or drops (iptables,
//! `netem_queue.rs`) — and skipped with a line saying so where neither works, unless
//! JIANZHEN_REQUIRE_NETEM=1.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jianzhen_coordinator::store::{ResultCoverage, Store};
use jianzhen_proto::{CoordinatorClient, v1};
use jianzhen_testkit::fixtures::write_ceval;
use jianzhen_testkit::skipped;

use crate::common::*;

const REQUIRE_NETNS: &str = "JIANZHEN_REQUIRE_NETNS";
const REQUIRE_NETEM: &str = "JIANZHEN_REQUIRE_NETEM";
const TEST: &str = "netns::network_faults_lose_nothing_and_count_every_item_once";

/// The coordinator's liveness settings: a worker silent for the TTL loses its leases.
const HEARTBEAT_TTL: Duration = Duration::from_secs(3);
/// How long the scripted endpoint takes per answer: keeps requests in flight.
const ANSWER_DELAY_MS: u64 = 150;

fn required(variable: &str) -> bool {
    std::env::var(variable).is_ok_and(|value| value == "1")
}

fn on_path(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|candidate| candidate.is_file())
    })
}

/// PostgreSQL's server binaries (Debian installs them under /usr/lib/postgresql/N/bin).
fn postgres_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// The scripted endpoint binary, built beside `jianzhen` by
/// `cargo build -p jianzhen-testkit --bin scripted-model` (or named by
/// JIANZHEN_SCRIPTED_MODEL).
fn scripted_model() -> PathBuf {
    std::env::var_os("JIANZHEN_SCRIPTED_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(BINARY)
                .parent()
                .map(|dir| dir.join("scripted-model"))
                .unwrap_or_default()
        })
}

/// What this machine lacks for the test, if anything.
fn missing_requirement() -> Option<String> {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("it needs root (network namespaces, veth pairs, a bridge)".into());
    }
    for (tool, package) in [
        ("ip", "iproute2"),
        ("tc", "iproute2"),
        ("runuser", "util-linux"),
    ] {
        if on_path(tool).is_none() {
            return Some(format!(
                "`{tool}` is not installed (Debian: apt-get install {package})"
            ));
        }
    }
    if postgres_bin().is_none() {
        return Some(
            "PostgreSQL's initdb and pg_ctl are not under /usr/lib/postgresql/*/bin (Debian: apt-get install postgresql)".into(),
        );
    }
    let users = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    if !users.lines().any(|line| line.starts_with("postgres:")) {
        return Some("there is no `postgres` user to run the server as (Debian's postgresql package creates it)".into());
    }
    let model = scripted_model();
    if !model.is_file() {
        return Some(format!(
            "the scripted endpoint {} is missing; build it with `cargo build -p jianzhen-testkit --bin scripted-model` (`cargo test --workspace` builds it too)",
            model.display()
        ));
    }
    let probe = format!("jz{}-probe", std::process::id());
    if let Err(error) = run("ip", &["netns", "add", &probe]) {
        return Some(format!("cannot create a network namespace: {error}"));
    }
    let _ = run("ip", &["netns", "del", &probe]);
    None
}

/// Runs a command to completion; its stdout, or what went wrong with its stderr.
fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run {program}: {error}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn must(program: &str, args: &[&str]) -> String {
    run(program, args).unwrap_or_else(|error| panic!("{error}"))
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The pid in a name this test made (`jz{pid}-…`, `jz{pid}br`), if it is one.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("jz")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let after = &rest[digits.len()..];
    (after.starts_with('-') || after == "br")
        .then(|| digits.parse().ok())
        .flatten()
}

/// SIGKILLs the processes inside the named network namespace. Each pid that `ip netns
/// pids` lists is checked again against the namespace's own inode just before the signal,
/// because other tests run beside this one on the same machine: a pid that exited and was
/// reused by a neighbour's process in between (pid_max is 32,768 here) must not be hit.
fn kill_processes_in_namespace(name: &str) {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(namespace) = std::fs::metadata(format!("/run/netns/{name}")) else {
        return;
    };
    let pids = run("ip", &["netns", "pids", name]).unwrap_or_default();
    for pid in pids
        .lines()
        .filter_map(|pid| pid.trim().parse::<i32>().ok())
    {
        let inside = std::fs::metadata(format!("/proc/{pid}/ns/net")).is_ok_and(|process| {
            process.dev() == namespace.dev() && process.ino() == namespace.ino()
        });
        if inside {
            // SAFETY: kill(2) on a process just seen inside a namespace this test made.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Removes what a crashed earlier run of this test left (its pid is gone): processes in
/// its namespaces, the namespaces, its bridge and its PostgreSQL folder. Names carry the
/// pid, so a run that is still going (another test process) is left alone.
fn remove_leftovers() {
    let namespaces = run("ip", &["netns", "list"]).unwrap_or_default();
    for name in namespaces
        .lines()
        .filter_map(|line| line.split_whitespace().next())
    {
        if owner_pid(name).is_some_and(|pid| !pid_alive(pid)) {
            kill_processes_in_namespace(name);
            let _ = run("ip", &["netns", "del", name]);
        }
    }
    let links = run("ip", &["-o", "link", "show", "type", "bridge"]).unwrap_or_default();
    for name in links
        .lines()
        .filter_map(|line| line.split(':').nth(1).map(str::trim))
    {
        if owner_pid(name).is_some_and(|pid| !pid_alive(pid)) {
            let _ = run("ip", &["link", "del", name]);
        }
    }
    if let Ok(entries) = std::fs::read_dir("/tmp") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if owner_pid(&name).is_some_and(|pid| !pid_alive(pid)) && name.ends_with("-pg") {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// One host: a namespace with `eth0` on the bridge.
struct Host {
    ns: String,
    /// The root-side end of its veth pair, a port of the bridge: setting it down cuts the
    /// host's link (packets are dropped silently, as a failed switch port drops them).
    port: String,
    ip: String,
}

/// The hosts, their processes and PostgreSQL; everything is removed on drop, also when
/// the test panics, and the logs are printed then.
struct Lab {
    bridge: String,
    hosts: BTreeMap<&'static str, Host>,
    processes: Vec<Reaped>,
    postgres: Option<(PathBuf, PathBuf)>,
    /// The PostgreSQL folder (readable by the `postgres` user) and the processes' logs.
    dir: PathBuf,
}

impl Lab {
    fn build(names: &[&'static str]) -> Lab {
        remove_leftovers();
        let pid = std::process::id();
        let tag = format!("jz{pid}");
        // A /24 per test process, so two runs at once do not share addresses (mostly).
        let subnet = format!("10.77.{}", 20 + pid % 200);
        let dir = PathBuf::from(format!("/tmp/{tag}-pg"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the lab folder");
        let mut lab = Lab {
            bridge: format!("{tag}br"),
            hosts: BTreeMap::new(),
            processes: Vec::new(),
            postgres: None,
            dir,
        };
        must("ip", &["link", "add", &lab.bridge, "type", "bridge"]);
        // The test itself talks to every host through the bridge (an operator's machine
        // on the same network), so the bridge has the first address.
        must(
            "ip",
            &["addr", "add", &format!("{subnet}.1/24"), "dev", &lab.bridge],
        );
        must("ip", &["link", "set", &lab.bridge, "up"]);
        for (index, name) in names.iter().enumerate() {
            let ns = format!("{tag}-{name}");
            let port = format!("{tag}-{index}");
            let peer = format!("{tag}p{index}");
            let ip = format!("{subnet}.{}", 10 + index);
            must("ip", &["netns", "add", &ns]);
            lab.hosts.insert(
                name,
                Host {
                    ns: ns.clone(),
                    port: port.clone(),
                    ip: ip.clone(),
                },
            );
            must(
                "ip",
                &["link", "add", &port, "type", "veth", "peer", "name", &peer],
            );
            must("ip", &["link", "set", &peer, "netns", &ns]);
            must("ip", &["link", "set", &port, "master", &lab.bridge, "up"]);
            let inside = |args: &[&str]| {
                let mut full = vec!["netns", "exec", ns.as_str(), "ip"];
                full.extend_from_slice(args);
                must("ip", &full);
            };
            inside(&["link", "set", peer.as_str(), "name", "eth0"]);
            inside(&["addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
            inside(&["link", "set", "eth0", "up"]);
            inside(&["link", "set", "lo", "up"]);
        }
        lab
    }

    fn host(&self, name: &str) -> &Host {
        self.hosts
            .get(name)
            .unwrap_or_else(|| panic!("no host {name}"))
    }

    /// A command run on `host` (`ip netns exec`, which execs the program itself, so the
    /// child's pid is the program's).
    fn command(&self, host: &str, program: &Path) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.host(host).ns])
            .arg(program);
        command
    }

    fn log(&self, name: &str) -> std::fs::File {
        std::fs::File::create(self.dir.join(name)).expect("create a log file")
    }

    /// Sets `host`'s link down or up.
    fn link(&self, host: &str, up: bool) {
        must(
            "ip",
            &[
                "link",
                "set",
                &self.host(host).port,
                if up { "up" } else { "down" },
            ],
        );
    }

    /// A private PostgreSQL server on the `pg` host, in a fresh cluster that trusts the
    /// lab's subnet. Returns the store URL.
    fn start_postgres(&mut self) -> String {
        let bin = postgres_bin().expect("checked before");
        let data = self.dir.join("data");
        let ip = self.host("pg").ip.clone();
        let subnet = format!(
            "{}.0/24",
            ip.rsplit_once('.').map_or("10.77.0", |(net, _)| net)
        );
        // The server refuses to run as root: the folder belongs to `postgres`.
        must("chown", &["postgres:", &self.dir.display().to_string()]);
        must(
            "runuser",
            &[
                "-u",
                "postgres",
                "--",
                &bin.join("initdb").display().to_string(),
                "-D",
                &data.display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let hba = data.join("pg_hba.conf");
        let mut rules = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
        rules.push_str(&format!("host all all {subnet} trust\n"));
        std::fs::write(&hba, rules).expect("write pg_hba.conf");
        let options = format!(
            "-c listen_addresses={ip} -p 5432 -k {} -c fsync=off",
            self.dir.display()
        );
        let started = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.host("pg").ns,
                "runuser",
                "-u",
                "postgres",
                "--",
            ])
            .arg(bin.join("pg_ctl"))
            .args([
                "-D",
                &data.display().to_string(),
                "-w",
                "-t",
                "30",
                "-o",
                &options,
            ])
            .arg("-l")
            .arg(self.dir.join("postgres.log"))
            .arg("start")
            .stdout(Stdio::null())
            .status()
            .expect("run pg_ctl start");
        assert!(
            started.success(),
            "PostgreSQL did not start on the pg host; see {}",
            self.dir.join("postgres.log").display()
        );
        self.postgres = Some((bin, data));
        format!("postgres://postgres@{ip}:5432/postgres")
    }

    fn stop_postgres(&mut self) {
        if let Some((bin, data)) = self.postgres.take() {
            let _ = Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(bin.join("pg_ctl"))
                .args(["-D", &data.display().to_string(), "-m", "immediate", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for name in [
                "coordinator.log",
                "w0.log",
                "w1.log",
                "w2.log",
                "endpoint.log",
                "postgres.log",
            ] {
                let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(30)..].join("\n");
                eprintln!("---- last lines of {name}:\n{tail}");
            }
        }
        self.processes.clear();
        self.stop_postgres();
        for host in self.hosts.values() {
            kill_processes_in_namespace(&host.ns);
            let _ = run("ip", &["netns", "del", &host.ns]);
        }
        let _ = run("ip", &["link", "del", &self.bridge]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

async fn http_get(url: &str) -> Result<(u16, String), String> {
    // reqwest is built without a bundled crypto provider; plain HTTP needs none, but the
    // client insists on one being installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .map_err(|error| error.to_string())?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(|error| error.to_string())?;
    Ok((status, text))
}

/// The sum of a metric over its labels in Prometheus text (0 when absent).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(key, _)| *key == name || key.starts_with(&format!("{name}{{")))
        .filter_map(|(_, value)| value.parse::<f64>().ok())
        .sum()
}

async fn scrape(host_ip: &str, port: u16) -> Option<String> {
    http_get(&format!("http://{host_ip}:{port}/metrics"))
        .await
        .ok()
        .map(|(_, text)| text)
}

async fn status(url: &str, run_id: &str) -> Result<v1::RunStatus, tonic::Status> {
    let call = async {
        let mut client = CoordinatorClient::connect(url.to_string())
            .await
            .map_err(|error| tonic::Status::unavailable(error.to_string()))?;
        client
            .get_run_status(v1::GetRunStatusRequest {
                run_id: run_id.to_string(),
            })
            .await
            .map(tonic::Response::into_inner)
    };
    tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("no answer in 20 s")))
}

async fn health(url: &str) -> Option<i32> {
    let channel = tonic::transport::Channel::from_shared(url.to_string())
        .ok()?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(3))
        .connect()
        .await
        .ok()?;
    tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: "jianzhen.v1.Coordinator".to_string(),
        })
        .await
        .ok()
        .map(|response| response.into_inner().status)
}

/// One chat request in the endpoint's log.
#[derive(Debug, Clone)]
struct Asked {
    needle: String,
    peer: String,
    arrived_ms: u64,
    answered_ms: u64,
}

async fn endpoint_log(endpoint_ip: &str) -> Vec<Asked> {
    let (_, text) = http_get(&format!("http://{endpoint_ip}:8000/_scripted/requests"))
        .await
        .expect("read the endpoint's request log");
    let log: serde_json::Value = serde_json::from_str(&text).expect("the request log is JSON");
    log["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|entry| Asked {
            needle: entry["needle"].as_str().unwrap_or_default().to_string(),
            peer: entry["peer"].as_str().unwrap_or_default().to_string(),
            arrived_ms: entry["arrived_ms"].as_u64().unwrap_or(0),
            answered_ms: entry["answered_ms"].as_u64().unwrap_or(0),
        })
        .collect()
}

/// A phase's run: its items and what the scripted endpoint answers to each.
struct Phase {
    name: &'static str,
    planned: Vec<Planned>,
    spec: PathBuf,
}

fn prepare_phase(dir: &Path, name: &'static str, subject: &'static str, items: usize) -> Phase {
    let data = dir.join(name);
    let questions = write_ceval(&data, &[(subject, items)]).expect("fixture");
    let planned: Vec<Planned> = varied_replies("ceval", &questions)
        .into_iter()
        // Only answers: an HTTP error is retried and would be a second request for
        // reasons other than the network.
        .map(|mut entry| {
            if matches!(entry.reply, Reply::HttpError(_)) {
                entry.reply = Reply::Text("无法确定".into());
                entry.expected = "unextractable";
            }
            entry
        })
        .collect();
    Phase {
        name,
        planned,
        spec: data.join("run.toml"),
    }
}

/// The per-item check after a phase: the run is complete, every item was stored exactly
/// once with its scripted outcome, and the endpoint answered every item. Returns the
/// endpoint's requests per item (needle → requests) for the phase's own bounds.
async fn verify(
    phase: &Phase,
    store_url: &str,
    run_id: &str,
    log: &[Asked],
) -> BTreeMap<String, Vec<Asked>> {
    let total = phase.planned.len() as u64;
    let store = Store::open(store_url).await.expect("open the store");
    let coverage = store.result_coverage(run_id).await.expect("coverage");
    assert_eq!(
        coverage,
        ResultCoverage {
            planned: total,
            stored: total,
            missing: 0,
            unplanned: 0
        },
        "{}: every planned item stored exactly once",
        phase.name
    );
    let rows = store.scored_rows(run_id).await.expect("rows");
    let mut expected = BTreeMap::<&str, u64>::new();
    for entry in &phase.planned {
        *expected.entry(entry.expected).or_default() += 1;
    }
    let mut found = BTreeMap::<&str, u64>::new();
    for row in &rows {
        *found.entry(row.outcome.as_str()).or_default() += 1;
    }
    assert_eq!(
        found, expected,
        "{}: the scores equal the scripted ones",
        phase.name
    );
    store.close().await;
    let mut asked: BTreeMap<String, Vec<Asked>> = BTreeMap::new();
    for entry in &phase.planned {
        asked.insert(entry.needle.clone(), Vec::new());
    }
    for request in log {
        if let Some(requests) = asked.get_mut(&request.needle) {
            requests.push(request.clone());
        }
    }
    let unanswered: Vec<&String> = asked
        .iter()
        .filter(|(_, requests)| requests.is_empty())
        .map(|(needle, _)| needle)
        .collect();
    assert!(
        unanswered.is_empty(),
        "{}: items never asked at the endpoint: {unanswered:?}",
        phase.name
    );
    asked
}

/// Which worker stored each item of a run (by the needle in its prompt), read from the
/// store: tells an item redone by another worker from one the cut worker finished.
async fn stored_by(store_url: &str, run_id: &str, phase: &Phase) -> BTreeMap<String, String> {
    use sqlx::Row as _;
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(store_url)
        .await
        .expect("connect to the store");
    let rows = sqlx::query(
        "SELECT i.messages_json AS messages, r.worker_id AS worker FROM results r JOIN items i \
         ON i.run_id = r.run_id AND i.endpoint = r.endpoint AND i.item_key = r.item_key \
         AND i.repeat_index = r.repeat_index WHERE r.run_id = $1",
    )
    .bind(run_id)
    .fetch_all(&pool)
    .await
    .expect("read who stored each result");
    pool.close().await;
    let mut by_needle = BTreeMap::new();
    for row in rows {
        let messages: String = row.try_get("messages").expect("messages");
        let worker: String = row.try_get("worker").expect("worker");
        if let Some(entry) = phase
            .planned
            .iter()
            .find(|entry| messages.contains(&entry.needle))
        {
            by_needle.insert(entry.needle.clone(), worker);
        }
    }
    by_needle
}

/// The leases of `worker` the coordinator expired, as (shard, epoch), from its log.
fn expired_leases(log: &Path, worker: &str) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|line| line.contains("lease expired; shard requeued"))
        .filter(|line| line.contains(&format!("worker_id={worker}")))
        .filter_map(|line| {
            let field = |key: &str| {
                line.split_whitespace()
                    .find_map(|word| word.strip_prefix(key))
                    .map(str::to_string)
            };
            Some((field("shard_id=")?, field("epoch=")?.parse().ok()?))
        })
        .collect()
}

/// Results of a lease (shard, epoch, worker) stored after `after_ms`.
async fn stored_under(
    store_url: &str,
    run_id: &str,
    shard_id: &str,
    epoch: u64,
    worker: &str,
    after_ms: u64,
) -> i64 {
    use sqlx::Row as _;
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(store_url)
        .await
        .expect("connect to the store");
    let count: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM results WHERE run_id = $1 AND shard_id = $2 AND epoch = $3 \
         AND worker_id = $4 AND received_at_ms > $5",
    )
    .bind(run_id)
    .bind(shard_id)
    .bind(i64::try_from(epoch).unwrap_or(i64::MAX))
    .bind(worker)
    .bind(i64::try_from(after_ms).unwrap_or(i64::MAX))
    .fetch_one(&pool)
    .await
    .expect("count a lease's results")
    .try_get("n")
    .expect("count");
    pool.close().await;
    count
}

/// netem's stand-in on the endpoint host: iptables queues what crosses its `eth0` (with
/// `--queue-bypass`, so traffic flows if the queue's reader is gone) to a thread that
/// holds what the endpoint sends for 200 ms and drops 5% both ways.
fn start_queue_netem(ns: &str) -> Result<crate::netem_queue::Emulator, String> {
    if on_path("iptables").is_none() {
        return Err("`iptables` is not installed (Debian: apt-get install iptables)".into());
    }
    let emulator = crate::netem_queue::Emulator::start(ns, 0, Duration::from_millis(200), 5)?;
    for (chain, direction) in [("OUTPUT", "-o"), ("INPUT", "-i")] {
        run(
            "ip",
            &[
                "netns",
                "exec",
                ns,
                "iptables",
                "-A",
                chain,
                direction,
                "eth0",
                "-j",
                "NFQUEUE",
                "--queue-num",
                "0",
                "--queue-bypass",
            ],
        )?;
    }
    Ok(emulator)
}

/// Events of a phase, in seconds since it started.
struct Timeline {
    start: Instant,
    start_ms: u64,
    events: Vec<(f64, String)>,
}

impl Timeline {
    fn new() -> Self {
        Timeline {
            start: Instant::now(),
            start_ms: wall_ms(),
            events: Vec::new(),
        }
    }

    fn note(&mut self, what: impl Into<String>) {
        self.events
            .push((self.start.elapsed().as_secs_f64(), what.into()));
    }

    fn at_wall(&mut self, wall: u64, what: impl Into<String>) {
        self.events.push((
            wall.saturating_sub(self.start_ms) as f64 / 1000.0,
            what.into(),
        ));
    }

    fn print(&mut self, phase: &str) {
        self.events
            .sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
        println!("netns {phase} timeline:");
        for (at, what) in &self.events {
            println!("  +{at:6.2}s  {what}");
        }
    }
}

/// Polls the coordinator's metrics and notes every rise of the counters that tell a
/// fault's story, until the run completes.
async fn watch_run(
    url: &str,
    coordinator_ip: &str,
    run_id: &str,
    timeline: &mut Timeline,
    limit: Duration,
) {
    let counters = [
        ("jianzhen_leases_expired_total", "lease(s) expired"),
        (
            "jianzhen_stale_reports_total",
            "late report(s) refused by epoch",
        ),
        ("jianzhen_leases_granted_total", "lease(s) granted"),
    ];
    let mut last: Vec<f64> = Vec::new();
    let deadline = Instant::now() + limit;
    loop {
        if let Some(text) = scrape(coordinator_ip, 9464).await {
            let now: Vec<f64> = counters
                .iter()
                .map(|(name, _)| metric(&text, name))
                .collect();
            if !last.is_empty() {
                for (index, (name, what)) in counters.iter().enumerate() {
                    // Grants are many; only the expiry and refusal counters are events.
                    if *name != "jianzhen_leases_granted_total" && now[index] > last[index] {
                        timeline.note(format!(
                            "{} {what} ({name} {} → {})",
                            now[index] - last[index],
                            last[index],
                            now[index]
                        ));
                    }
                }
            }
            last = now;
        }
        if let Ok(status) = status(url, run_id).await
            && status.state == v1::RunState::Complete as i32
        {
            timeline.note(format!("run complete: {} items", status.done_items));
            return;
        }
        assert!(
            Instant::now() < deadline,
            "run {run_id} did not complete within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_faults_lose_nothing_and_count_every_item_once() {
    if let Some(missing) = missing_requirement() {
        assert!(
            !required(REQUIRE_NETNS),
            "{REQUIRE_NETNS}=1 but the network-fault test cannot run: {missing}"
        );
        skipped(
            TEST,
            &format!("{missing}; set {REQUIRE_NETNS}=1 to make this a failure"),
        );
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut lab = Lab::build(&["coord", "pg", "ep", "w0", "w1", "w2"]);
    let coordinator_ip = lab.host("coord").ip.clone();
    let endpoint_ip = lab.host("ep").ip.clone();
    let store_url = lab.start_postgres();

    let phases = [
        prepare_phase(dir.path(), "cut", "computer_network", 480),
        prepare_phase(dir.path(), "partition", "operating_system", 480),
        prepare_phase(dir.path(), "netem", "law", 240),
    ];

    // The endpoint: one scripted-model process on its own host, answering every phase's
    // items from a script file and logging every request.
    let rules: Vec<[&str; 2]> = phases
        .iter()
        .flat_map(|phase| phase.planned.iter())
        .filter_map(|entry| match &entry.reply {
            Reply::Text(text) => Some([entry.needle.as_str(), text.as_str()]),
            _ => None,
        })
        .collect();
    let truncated: Vec<[&str; 2]> = phases
        .iter()
        .flat_map(|phase| phase.planned.iter())
        .filter_map(|entry| match &entry.reply {
            Reply::Truncated(text) => Some([entry.needle.as_str(), text.as_str()]),
            _ => None,
        })
        .collect();
    let script = dir.path().join("script.json");
    std::fs::write(
        &script,
        serde_json::json!({
            "default_answer": "无法回答",
            "delay_ms": ANSWER_DELAY_MS,
            "rules": rules,
            "truncate": truncated,
        })
        .to_string(),
    )
    .expect("write the script");
    let mut endpoint = lab
        .command("ep", &scripted_model())
        .args(["--listen", &format!("{endpoint_ip}:8000"), "--script"])
        .arg(&script)
        .stdout(Stdio::piped())
        .stderr(lab.log("endpoint.log"))
        .spawn()
        .expect("start the scripted endpoint");
    let base_url = {
        use std::io::BufRead as _;
        let mut line = String::new();
        std::io::BufReader::new(endpoint.stdout.take().expect("endpoint stdout"))
            .read_line(&mut line)
            .expect("the endpoint prints its URL");
        line.trim().to_string()
    };
    assert_eq!(base_url, format!("http://{endpoint_ip}:8000/v1"));
    lab.processes.push(Reaped(endpoint));

    let mut coordinator = lab
        .command("coord", Path::new(BINARY))
        .args(["coordinator", "--insecure", "--store", &store_url])
        .args(["--listen", &format!("{coordinator_ip}:7443")])
        .args(["--metrics-listen", &format!("{coordinator_ip}:9464")])
        .args([
            "--heartbeat-ttl-secs",
            &HEARTBEAT_TTL.as_secs_f64().to_string(),
            "--heartbeat-interval-secs",
            "0.5",
        ])
        .env("JIANZHEN_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(lab.log("coordinator.log"))
        .spawn()
        .expect("start the coordinator");
    let url = coordinator_url(&mut coordinator);
    lab.processes.push(Reaped(coordinator));
    let workers = ["w0", "w1", "w2"];
    for worker in workers {
        let ip = lab.host(worker).ip.clone();
        let child = lab
            .command(worker, Path::new(BINARY))
            .args([
                "worker",
                "--coordinator",
                &url,
                "--id",
                &format!("netns-{worker}"),
            ])
            .args(["--allow-endpoint", "10.0.0.0/8"])
            .args(["--metrics-listen", &format!("{ip}:9465")])
            .env("JIANZHEN_LOG", "info")
            .stdout(Stdio::null())
            .stderr(lab.log(&format!("{worker}.log")))
            .spawn()
            .expect("start a worker");
        lab.processes.push(Reaped(child));
    }
    let worker_ips: BTreeMap<String, String> = workers
        .iter()
        .map(|worker| (format!("netns-{worker}"), lab.host(worker).ip.clone()))
        .collect();

    // ---- Phase 1: one worker's link is cut while it holds a lease.
    let phase = &phases[0];
    std::fs::write(
        &phase.spec,
        run_spec(
            "netns-cut",
            &[("ceval", &dir.path().join(phase.name), 0)],
            &base_url,
            6,
            20,
        ),
    )
    .expect("spec");
    let mut timeline = Timeline::new();
    let run_id = submit_via_cli(&phase.spec, &url);
    timeline.note("run submitted (480 items, 3 workers, 6 concurrent)");
    let cut = "w1";
    let cut_ip = lab.host(cut).ip.clone();
    // It holds a lease: the coordinator says shards are leased, and the worker itself has
    // requests in flight.
    let started = Instant::now();
    let held = loop {
        let leased = status(&url, &run_id)
            .await
            .map_or(0, |status| status.shards_leased);
        let in_flight = match scrape(&cut_ip, 9465).await {
            Some(text) => metric(&text, "jianzhen_worker_requests_in_flight"),
            None => 0.0,
        };
        if leased >= 3 && in_flight >= 1.0 {
            break (leased, in_flight);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "worker {cut} never held a lease"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let cut_ms = wall_ms();
    lab.link(cut, false);
    timeline.note(format!(
        "link of {cut} cut (it held a lease: {} shards leased, {} of its requests in flight when checked)",
        held.0, held.1
    ));
    // Longer than the heartbeat TTL plus a sweep: its lease must expire meanwhile.
    let outage = HEARTBEAT_TTL * 2;
    let mut expired_during_cut = 0.0;
    let until = Instant::now() + outage;
    while Instant::now() < until {
        if let Some(text) = scrape(&coordinator_ip, 9464).await {
            let expired = metric(&text, "jianzhen_leases_expired_total");
            if expired > expired_during_cut {
                timeline.note(format!(
                    "coordinator: {expired} lease(s) expired (worker_lost)"
                ));
                expired_during_cut = expired;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    lab.link(cut, true);
    let restored_ms = wall_ms();
    timeline.note(format!("link of {cut} restored after {outage:?}"));
    assert!(
        expired_during_cut >= 1.0,
        "the cut worker's lease did not expire while its link was down"
    );
    watch_run(
        &url,
        &coordinator_ip,
        &run_id,
        &mut timeline,
        Duration::from_secs(240),
    )
    .await;
    let finished = timeline.start.elapsed();
    let log = endpoint_log(&endpoint_ip).await;
    let asked = verify(phase, &store_url, &run_id, &log).await;
    let owners = stored_by(&store_url, &run_id, phase).await;
    let cut_worker = format!("netns-{cut}");
    // The cut worker's requests that were in flight at the cut (arrived, not answered).
    let in_flight_at_cut = log
        .iter()
        .filter(|request| request.peer == cut_ip && request.arrived_ms <= cut_ms)
        .filter(|request| request.answered_ms == 0 || request.answered_ms > cut_ms)
        .filter(|request| asked.contains_key(&request.needle))
        .count();
    let mut redone = 0usize;
    let mut extra = 0usize;
    let mut first_redo: Option<u64> = None;
    for (needle, requests) in &asked {
        if requests.len() < 2 {
            continue;
        }
        redone += 1;
        extra += requests.len() - 1;
        // Only what the cut worker held is asked twice, and only it asks twice: every
        // other worker asked the item at most once. (Its first request may be the later
        // one: a request it sent during the cut reaches the endpoint when the link
        // returns, after another worker redid the item.)
        let others = requests
            .iter()
            .filter(|request| request.peer != cut_ip)
            .count();
        assert!(
            others <= 1 && others < requests.len(),
            "item {needle} asked twice, not because of the cut worker: {requests:?}"
        );
        assert!(
            requests.len() <= 2,
            "item {needle} asked {} times: {requests:?}",
            requests.len()
        );
        if let Some(redo) = requests.iter().find(|request| request.peer != cut_ip) {
            first_redo =
                Some(first_redo.map_or(redo.arrived_ms, |at: u64| at.min(redo.arrived_ms)));
        }
        // It was stored once, by the worker whose report was accepted.
        let owner = owners.get(needle).expect("stored");
        assert!(
            worker_ips.contains_key(owner),
            "item {needle} stored by unknown worker {owner}"
        );
    }
    if let Some(at) = first_redo {
        timeline.at_wall(
            at,
            "first item redone by another worker (its request at the endpoint)",
        );
    }
    // Back to work: results the cut worker stored after its link returned.
    let back_at_work = owners
        .values()
        .filter(|owner| **owner == cut_worker)
        .count();
    let late_requests = log
        .iter()
        .filter(|request| request.peer == cut_ip && request.arrived_ms > restored_ms)
        .filter(|request| asked.contains_key(&request.needle))
        .count();
    let refused = scrape(&coordinator_ip, 9464)
        .await
        .map_or(0.0, |text| metric(&text, "jianzhen_stale_reports_total"));
    // How the cut worker learnt its lease was gone when the link returned: its own late
    // report refused by epoch, or its heartbeat answered "unknown" first (it then drops
    // the shard without reporting). Which comes first is a race on the restored link;
    // both are fencing, and nothing it sent under the old lease may be stored.
    let worker_log =
        std::fs::read_to_string(lab.dir.join(format!("{cut}.log"))).unwrap_or_default();
    let forgotten = worker_log.contains("coordinator forgot this worker");
    let refused_in_log = worker_log.contains("report refused; dropping the shard");
    let expired = expired_leases(&lab.dir.join("coordinator.log"), &cut_worker);
    assert!(
        !expired.is_empty(),
        "the coordinator log names no expired lease of {cut_worker}"
    );
    for (shard_id, epoch) in &expired {
        assert_eq!(
            stored_under(&store_url, &run_id, shard_id, *epoch, &cut_worker, cut_ms).await,
            0,
            "results of {cut_worker}'s expired lease on {shard_id} (epoch {epoch}) were stored after the cut"
        );
        // The late report as the cut worker sends it, replayed over the restored link:
        // refused by epoch, whichever way the worker itself found out.
        let mut client = CoordinatorClient::connect(url.clone())
            .await
            .expect("connect to the coordinator");
        let late = client
            .report_results(v1::ReportResultsRequest {
                worker_id: cut_worker.clone(),
                run_id: run_id.clone(),
                shard_id: shard_id.clone(),
                epoch: *epoch,
                results: Vec::new(),
                throttle_waits: 0,
            })
            .await
            .expect_err("a report on an expired lease is refused");
        assert_eq!(
            late.code(),
            tonic::Code::FailedPrecondition,
            "{}",
            late.message()
        );
        assert!(late.message().contains("epoch"), "{}", late.message());
    }
    let refused_after = scrape(&coordinator_ip, 9464)
        .await
        .map_or(0.0, |text| metric(&text, "jianzhen_stale_reports_total"));
    assert_eq!(
        refused_after - refused,
        expired.len() as f64,
        "jianzhen_stale_reports_total counts every refused report"
    );
    timeline.print("phase 1 (worker link cut)");
    println!(
        "netns phase 1: {} items, {} requests at the endpoint, {redone} items asked twice ({extra} extra requests); the cut worker had {in_flight_at_cut} requests in flight at the cut, sent {late_requests} after its link returned, and stored {back_at_work} results in all; {refused} late reports refused by epoch; finished in {:.1}s",
        phase.planned.len(),
        asked.values().map(Vec::len).sum::<usize>(),
        finished.as_secs_f64()
    );
    println!(
        "netns phase 1: the cut worker learnt it lost {} lease(s) by {}",
        expired.len(),
        match (refused_in_log, forgotten) {
            (true, true) => "its late report refused by epoch and its heartbeat answered unknown",
            (true, false) => "its late report refused by epoch",
            (false, true) => "its heartbeat answered unknown (no late report was sent)",
            (false, false) => "neither (?)",
        }
    );
    assert!(
        refused_in_log || forgotten,
        "the cut worker never learnt that its lease was gone"
    );
    assert!(
        late_requests > 0,
        "the cut worker did not go back to work after its link returned"
    );
    // Honest bound: an item is asked twice only if the cut worker held it when the link
    // went down: requests it had in flight, answers it had not reported yet, and items it
    // started before it learnt its lease was gone. None of these is more than its lease's
    // 20 items (one shard at a time per worker).
    assert!(
        extra <= 20,
        "{extra} extra requests, more than the cut worker's shard of 20 items"
    );

    // ---- Phase 2: the coordinator loses PostgreSQL for longer than a heartbeat TTL.
    let phase = &phases[1];
    std::fs::write(
        &phase.spec,
        // Two shards for three workers: one worker is idle and keeps asking for a lease
        // during the partition. Leasing holds the lease table's lock while it waits for
        // the store, which must not hold up heartbeats (or every worker would be
        // declared lost when the store returns).
        run_spec(
            "netns-partition",
            &[("ceval", &dir.path().join(phase.name), 0)],
            &base_url,
            6,
            240,
        ),
    )
    .expect("spec");
    let expired_before = scrape(&coordinator_ip, 9464)
        .await
        .map_or(0.0, |text| metric(&text, "jianzhen_leases_expired_total"));
    let mut timeline = Timeline::new();
    let run_id = submit_via_cli(&phase.spec, &url);
    timeline.note("run submitted (480 items in 2 shards: one worker idle)");
    let started = Instant::now();
    while status(&url, &run_id)
        .await
        .map_or(0, |status| status.done_items)
        < 100
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "phase 2 made no progress"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lab.link("pg", false);
    timeline.note("PostgreSQL's link cut (coordinator partitioned from its store)");
    let partition = Duration::from_secs(10);
    let until = Instant::now() + partition;
    let mut unavailable: Option<String> = None;
    let mut not_serving = false;
    let mut readyz_503 = false;
    while Instant::now() < until {
        if unavailable.is_none() {
            let asked_at = Instant::now();
            match status(&url, &run_id).await {
                Err(error) if error.code() == tonic::Code::Unavailable => {
                    timeline.note(format!(
                        "status call answered UNAVAILABLE in {:.1}s: {}",
                        asked_at.elapsed().as_secs_f64(),
                        error.message()
                    ));
                    unavailable = Some(error.message().to_string());
                }
                Err(error) => panic!(
                    "during the partition the status call got {:?}: {}",
                    error.code(),
                    error.message()
                ),
                Ok(_) => {}
            }
        }
        if !not_serving
            && health(&url).await
                == Some(tonic_health::pb::health_check_response::ServingStatus::NotServing as i32)
        {
            timeline.note("grpc.health.v1: NOT_SERVING");
            not_serving = true;
        }
        if !readyz_503
            && let Ok((code, body)) =
                http_get(&format!("http://{coordinator_ip}:9464/readyz")).await
            && code == 503
        {
            timeline.note(format!("/readyz: 503 {}", body.trim()));
            readyz_503 = true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    lab.link("pg", true);
    timeline.note(format!("PostgreSQL's link restored after {partition:?}"));
    let message =
        unavailable.expect("the coordinator never answered UNAVAILABLE during the partition");
    assert!(
        message.contains("the store is unavailable")
            && message.contains("check that the database server runs"),
        "the UNAVAILABLE message says what is wrong and what to do: {message}"
    );
    assert!(
        not_serving,
        "the health service never said NOT_SERVING during the partition"
    );
    assert!(
        readyz_503,
        "/readyz never answered 503 during the partition"
    );
    let healed = Instant::now();
    loop {
        if health(&url).await
            == Some(tonic_health::pb::health_check_response::ServingStatus::Serving as i32)
        {
            timeline.note("grpc.health.v1: SERVING again");
            break;
        }
        assert!(
            healed.elapsed() < Duration::from_secs(30),
            "health did not return to SERVING after the store came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    watch_run(
        &url,
        &coordinator_ip,
        &run_id,
        &mut timeline,
        Duration::from_secs(240),
    )
    .await;
    let finished = timeline.start.elapsed();
    let log = endpoint_log(&endpoint_ip).await;
    let asked = verify(phase, &store_url, &run_id, &log).await;
    let requests: usize = asked.values().map(Vec::len).sum();
    let expired_after = scrape(&coordinator_ip, 9464)
        .await
        .map_or(0.0, |text| metric(&text, "jianzhen_leases_expired_total"));
    timeline.print("phase 2 (coordinator partitioned from PostgreSQL)");
    println!(
        "netns phase 2: {} items, {requests} requests at the endpoint, {} leases expired; finished in {:.1}s",
        phase.planned.len(),
        expired_after - expired_before,
        finished.as_secs_f64()
    );
    // Nothing lost and nothing redone: workers kept their results while reports failed,
    // and heartbeats kept their leases.
    assert_eq!(
        expired_after, expired_before,
        "a lease expired during the store partition"
    );
    assert_eq!(
        requests,
        phase.planned.len(),
        "the endpoint was asked once per item"
    );

    // ---- Phase 3: 200 ms latency and 5% loss on the endpoint's link.
    let phase = &phases[2];
    let endpoint_port = lab.host("ep").port.clone();
    let endpoint_ns = lab.host("ep").ns.clone();
    // The endpoint's own side delays and drops what it sends; the bridge's side drops
    // what it sends to the endpoint: each round trip gains 200 ms and both directions
    // lose packets.
    let netem = run(
        "ip",
        &[
            "netns",
            "exec",
            &endpoint_ns,
            "tc",
            "qdisc",
            "add",
            "dev",
            "eth0",
            "root",
            "netem",
            "delay",
            "200ms",
            "loss",
            "5%",
        ],
    );
    let (emulator, how) = match netem {
        Ok(_) => {
            must(
                "tc",
                &[
                    "qdisc",
                    "add",
                    "dev",
                    &endpoint_port,
                    "root",
                    "netem",
                    "loss",
                    "5%",
                ],
            );
            (None, "tc netem".to_string())
        }
        // A kernel without netem: the same delay and loss from an NFQUEUE (the packets
        // wait in the kernel while a thread of this test holds their verdicts).
        Err(netem_error) => match start_queue_netem(&endpoint_ns) {
            Ok(emulator) => (
                Some(emulator),
                format!("an NFQUEUE stand-in for netem (tc netem: {netem_error})"),
            ),
            Err(queue_error) => {
                assert!(
                    !required(REQUIRE_NETEM),
                    "{REQUIRE_NETEM}=1 but neither tc netem ({netem_error}) nor its NFQUEUE stand-in ({queue_error}) works here"
                );
                skipped(
                    "netns phase 3 (latency and loss on the endpoint's link)",
                    &format!(
                        "tc netem does not work on this kernel ({netem_error}; it needs CONFIG_NET_SCH_NETEM) and its NFQUEUE stand-in neither ({queue_error}; it needs iptables)"
                    ),
                );
                return;
            }
        },
    };
    std::fs::write(
        &phase.spec,
        run_spec(
            "netns-netem",
            &[("ceval", &dir.path().join(phase.name), 0)],
            &base_url,
            6,
            20,
        ),
    )
    .expect("spec");
    let mut timeline = Timeline::new();
    timeline.note(format!(
        "endpoint's link: 200 ms delay on what it sends, 5% loss each way, by {how}"
    ));
    let run_id = submit_via_cli(&phase.spec, &url);
    timeline.note("run submitted (240 items)");
    watch_run(
        &url,
        &coordinator_ip,
        &run_id,
        &mut timeline,
        Duration::from_secs(300),
    )
    .await;
    let finished = timeline.start.elapsed();
    let mut emulated = String::new();
    match emulator {
        Some(emulator) => {
            let _ = run("ip", &["netns", "exec", &endpoint_ns, "iptables", "-F"]);
            let counts = emulator.stop().expect("the NFQUEUE stand-in stops");
            emulated = format!(
                "; the stand-in saw {} packets, delayed {} and dropped {}",
                counts.packets, counts.delayed, counts.dropped
            );
            assert!(counts.dropped > 0, "no packet was dropped: {counts:?}");
        }
        None => {
            let _ = run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &endpoint_ns,
                    "tc",
                    "qdisc",
                    "del",
                    "dev",
                    "eth0",
                    "root",
                ],
            );
            let _ = run("tc", &["qdisc", "del", "dev", &endpoint_port, "root"]);
        }
    }
    let log = endpoint_log(&endpoint_ip).await;
    let asked = verify(phase, &store_url, &run_id, &log).await;
    let requests: usize = asked.values().map(Vec::len).sum();
    timeline.print("phase 3 (latency and loss on the endpoint's link)");
    println!(
        "netns phase 3: {} items, {requests} requests at the endpoint; finished in {:.1}s{emulated}",
        phase.planned.len(),
        finished.as_secs_f64()
    );
    assert_eq!(
        requests,
        phase.planned.len(),
        "the endpoint was asked once per item (TCP hides the loss)"
    );
}
