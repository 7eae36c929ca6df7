//! Operators' view of a run: `/metrics` of the coordinator and of every worker process,
//! scraped during a run, agree with the store at its end; the coordinator's gRPC health
//! service says SERVING while its store answers; `--log-format json` writes JSON lines.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use jianzhen_coordinator::store::Store;
use jianzhen_proto::{CoordinatorClient, v1};
use jianzhen_testkit::fixtures::write_ceval;
use jianzhen_testkit::stores::test_store_url;
use jianzhen_testkit::{Fault, Script};

use crate::common::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// The samples of a Prometheus text exposition: `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn sum_of(samples: &BTreeMap<String, f64>, prefix: &str) -> f64 {
    samples
        .iter()
        .filter(|(key, _)| key.starts_with(prefix))
        .map(|(_, value)| value)
        .sum()
}

async fn scrape(port: u16) -> String {
    // reqwest is built without a bundled crypto provider; plain HTTP needs none, but the
    // client insists on one being installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("scrape /metrics");
    assert!(response.status().is_success(), "{}", response.status());
    response.text().await.expect("metrics text")
}

async fn status(url: &str, run_id: &str) -> Option<v1::RunStatus> {
    let mut client = CoordinatorClient::connect(url.to_string()).await.ok()?;
    client
        .get_run_status(v1::GetRunStatusRequest {
            run_id: run_id.to_string(),
        })
        .await
        .ok()
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_scraped_during_a_run_agree_with_the_store_and_health_is_serving() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ceval");
    let questions = write_ceval(&data, &[("law", 120)]).expect("fixture");
    let mut script = Script::new("答案是A").with_delay(Duration::from_millis(60));
    // Some items throttled once, one refused for good (api_error).
    for question in questions.iter().take(6) {
        script = script.fault(
            &format!("{}：", question.marker),
            Fault::Status {
                status: 429,
                retry_after_secs: Some(1),
            },
            Some(1),
        );
    }
    script = script.fail(&format!("{}：", questions[10].marker), 400);
    let server = jianzhen_testkit::start(script).await;
    let store = test_store_url(dir.path(), "metrics").await;
    let coordinator_metrics = free_port();
    let mut coordinator = Command::new(BINARY)
        .args([
            "coordinator",
            "--listen",
            "127.0.0.1:0",
            "--store",
            &store,
            "--insecure",
        ])
        .args([
            "--metrics-listen",
            &format!("127.0.0.1:{coordinator_metrics}"),
        ])
        .args(["--log-format", "json"])
        .env("JIANZHEN_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the coordinator");
    let url = {
        use std::io::{BufRead, BufReader};
        let mut line = String::new();
        BufReader::new(coordinator.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("address line");
        line.trim()
            .strip_prefix("coordinator listening on ")
            .expect("address")
            .to_string()
    };
    let coordinator = Reaped(coordinator);
    let worker_ports = [free_port(), free_port()];
    let workers: Vec<Reaped> = worker_ports
        .iter()
        .enumerate()
        .map(|(index, port)| {
            Reaped(
                Command::new(BINARY)
                    .args([
                        "worker",
                        "--coordinator",
                        &url,
                        "--id",
                        &format!("m-{index}"),
                    ])
                    .args(["--allow-endpoint", "127.0.0.0/8"])
                    .args(["--metrics-listen", &format!("127.0.0.1:{port}")])
                    .env("JIANZHEN_LOG", "error")
                    .stdout(Stdio::null())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .expect("start a worker"),
            )
        })
        .collect();

    // Readiness: the health service answers SERVING while the store is reachable.
    let mut health = tonic_health::pb::health_client::HealthClient::new(
        tonic::transport::Channel::from_shared(url.clone())
            .expect("url")
            .connect()
            .await
            .expect("connect"),
    );
    let mut serving = None;
    for _ in 0..50 {
        if let Ok(response) = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: "jianzhen.v1.Coordinator".to_string(),
            })
            .await
        {
            serving = Some(response.into_inner().status);
            if serving
                == Some(tonic_health::pb::health_check_response::ServingStatus::Serving as i32)
            {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        serving,
        Some(tonic_health::pb::health_check_response::ServingStatus::Serving as i32)
    );

    // The same readiness over plain HTTP, for probes that cannot speak TLS gRPC.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ready = reqwest::get(format!("http://127.0.0.1:{coordinator_metrics}/readyz"))
        .await
        .expect("readyz");
    assert_eq!(ready.status().as_u16(), 200);

    let spec_path = dir.path().join("run.toml");
    std::fs::write(
        &spec_path,
        run_spec("metrics", &[("ceval", &data, 0)], &server.base_url(), 4, 10),
    )
    .expect("spec");
    let run_id = submit_via_cli(&spec_path, &url);

    // Scrape during the run: leases are held and requests are in flight at some point.
    let mut during = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let done = status(&url, &run_id)
            .await
            .is_some_and(|status| status.state == v1::RunState::Complete as i32);
        if done {
            break;
        }
        let text = scrape(coordinator_metrics).await;
        let seen = samples(&text);
        if during.is_none()
            && seen.get("jianzhen_leases_held").copied().unwrap_or(0.0) > 0.0
            && sum_of(&seen, "jianzhen_items_total") > 0.0
        {
            during = Some(text);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run did not complete"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let during = during.expect("a scrape during the run saw leases held and items stored");
    eprintln!("scrape during the run:\n{during}");

    let coordinator_end = samples(&scrape(coordinator_metrics).await);
    let mut worker_ends = Vec::new();
    for port in worker_ports {
        worker_ends.push(samples(&scrape(port).await));
    }
    drop(workers);
    drop(coordinator);

    let reopened = Store::open(&store).await.expect("reopen");
    let rows = reopened.scored_rows(&run_id).await.expect("rows");
    assert_eq!(rows.len(), 120);
    let mut outcomes = BTreeMap::<String, f64>::new();
    for row in &rows {
        *outcomes
            .entry(row.outcome.as_str().to_string())
            .or_default() += 1.0;
    }
    for (outcome, count) in &outcomes {
        assert_eq!(
            coordinator_end.get(&format!("jianzhen_items_total{{outcome=\"{outcome}\"}}")),
            Some(count),
            "items by outcome {outcome}: {coordinator_end:?}"
        );
    }
    assert_eq!(sum_of(&coordinator_end, "jianzhen_items_total"), 120.0);
    assert_eq!(outcomes.get("api_error"), Some(&1.0));
    let throttled: f64 = rows.iter().map(|row| f64::from(row.throttled)).sum();
    assert_eq!(throttled, 6.0);
    assert_eq!(
        coordinator_end.get("jianzhen_throttled_requests_total"),
        Some(&throttled)
    );
    assert_eq!(coordinator_end.get("jianzhen_leases_held"), Some(&0.0));
    assert_eq!(
        coordinator_end.get("jianzhen_leases_granted_total"),
        Some(&12.0),
        "12 shards of 10, each leased once"
    );
    // The workers together: every item once, every request counted by result.
    let workers_total = |prefix: &str| -> f64 {
        worker_ends
            .iter()
            .map(|samples| sum_of(samples, prefix))
            .sum()
    };
    assert_eq!(workers_total("jianzhen_worker_items_total"), 120.0);
    assert_eq!(
        workers_total("jianzhen_worker_items_total{result=\"api_error\"}"),
        1.0
    );
    assert_eq!(
        workers_total("jianzhen_worker_requests_total{result=\"throttled\"}"),
        throttled
    );
    assert_eq!(
        workers_total("jianzhen_worker_requests_total"),
        server.requests() as f64,
        "every request the endpoint saw is counted once"
    );
    assert_eq!(workers_total("jianzhen_worker_requests_in_flight"), 0.0);
    assert_eq!(
        workers_total("jianzhen_worker_request_seconds_count"),
        server.requests() as f64
    );
    let prompt_tokens: f64 = rows.iter().map(|row| f64::from(row.prompt_tokens)).sum();
    assert!(prompt_tokens > 0.0);
    assert_eq!(
        workers_total("jianzhen_worker_tokens_total{kind=\"prompt\"}"),
        prompt_tokens
    );
}

#[test]
fn log_format_json_writes_one_json_object_per_line() {
    let mut coordinator = Reaped(
        Command::new(BINARY)
            .args([
                "--log-format",
                "json",
                "coordinator",
                "--listen",
                "127.0.0.1:0",
            ])
            .args(["--store", "sqlite::memory:", "--insecure"])
            .env("JIANZHEN_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the coordinator"),
    );
    std::thread::sleep(Duration::from_millis(800));
    let (exit, _) = coordinator.terminate(Duration::from_secs(10));
    assert!(exit.success(), "{exit:?}");
    let mut stderr = String::new();
    use std::io::Read as _;
    coordinator
        .0
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let lines: Vec<&str> = stderr.lines().filter(|line| !line.is_empty()).collect();
    assert!(
        lines.len() >= 2,
        "the coordinator logged serving and stopping: {stderr}"
    );
    for line in &lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}"));
        assert!(
            value["level"].is_string() && value["fields"].is_object(),
            "{line}"
        );
    }
    assert!(
        lines.iter().any(|line| line.contains("\"listen\":")),
        "structured fields are kept as fields: {stderr}"
    );
}

#[test]
fn the_grafana_dashboard_uses_only_metrics_that_exist() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/grafana/jianzhen-dashboard.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("dashboard")).expect("JSON");
    // Vectors are exported once they have a child: give each one.
    let coordinator = jianzhen_coordinator::metrics::get().expect("coordinator metrics");
    coordinator
        .leases_expired
        .with_label_values(&["no_progress"]);
    coordinator.shards_requeued.with_label_values(&["expired"]);
    coordinator.items.with_label_values(&["correct"]);
    coordinator
        .effective_concurrency
        .with_label_values(&["r", "e"]);
    let worker = jianzhen_worker::metrics::get().expect("worker metrics");
    worker.requests.with_label_values(&["answered"]);
    worker.tokens.with_label_values(&["prompt"]);
    worker.items.with_label_values(&["answered"]);
    let mut exported: Vec<String> = jianzhen_coordinator::metrics::registry()
        .gather()
        .iter()
        .chain(jianzhen_worker::metrics::registry().gather().iter())
        .map(|family| family.name().to_string())
        .collect();
    exported.sort();
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 8);
    let mut used = 0;
    for panel in panels {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if !word.starts_with("jianzhen_") {
                    continue;
                }
                let name = word.trim_end_matches("_bucket");
                assert!(
                    exported.iter().any(|found| found == name),
                    "panel {:?} uses {word}, which nothing exports ({exported:?})",
                    panel["title"]
                );
                used += 1;
            }
        }
    }
    assert!(used >= 12, "{used}");
}
