//! Harness overhead benchmark: items/s through a coordinator and 2 workers (real gRPC on
//! loopback) against a scripted endpoint that answers instantly, and the CPU time the
//! whole process spends per item. Run with `cargo bench --bench throughput`.
//!
//! Environment: `JIANZHEN_BENCH_ITEMS` (default 2000), `JIANZHEN_BENCH_WORKERS` (2),
//! `JIANZHEN_BENCH_CONCURRENCY` (16), `JIANZHEN_BENCH_STORE` (a store URL, e.g.
//! PostgreSQL's, instead of a fresh SQLite file; each run's data lies in a new temporary
//! folder, so it is a new run there too).

use std::time::{Duration, Instant};

use jianzhen_coordinator::{Controller, CoordinatorConfig};
use jianzhen_proto::v1;
use jianzhen_testkit::fixtures::write_ceval;

mod support;

use support::{LoopbackCluster, env_number};

/// User + system CPU time of this process, from /proc (Linux).
fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let user_ticks: u64 = fields.get(11)?.parse().ok()?;
    let system_ticks: u64 = fields.get(12)?.parse().ok()?;
    // The kernel reports in USER_HZ, 100 on every mainstream Linux.
    Some(Duration::from_millis((user_ticks + system_ticks) * 10))
}

fn main() {
    let items = env_number("JIANZHEN_BENCH_ITEMS", 2000);
    let workers = env_number("JIANZHEN_BENCH_WORKERS", 2);
    let concurrency = env_number("JIANZHEN_BENCH_CONCURRENCY", 16);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("ceval");
        let subjects = ["computer_network", "law", "logic", "basic_medicine"];
        let per_subject = items.div_ceil(subjects.len());
        let layout: Vec<(&str, usize)> = subjects.iter().map(|subject| (*subject, per_subject)).collect();
        write_ceval(&data, &layout).expect("fixture");
        let server = jianzhen_testkit::start(jianzhen_testkit::Script::new("答案是A")).await;

        let store = std::env::var("JIANZHEN_BENCH_STORE")
            .unwrap_or_else(|_| format!("sqlite:{}", dir.path().join("bench.db").display()));
        let controller = Controller::open(&store, CoordinatorConfig::default(), "bench").await.expect("store");
        let mut cluster = LoopbackCluster::serve(&controller).await;
        let spec = format!(
            "name = \"bench\"\nshard_size = 50\n[[suites]]\nname = \"ceval\"\ndata = \"{}\"\n[[endpoints]]\nname = \"instant\"\nbase_url = \"{}\"\nmodel = \"scripted\"\nmax_concurrency = {concurrency}\n",
            data.display(),
            server.base_url()
        );

        let cpu_before_plan = process_cpu_time();
        let plan_started = Instant::now();
        let submitted = controller.submit_run(&spec).await.expect("submit");
        let plan_elapsed = plan_started.elapsed();

        let cpu_before = process_cpu_time();
        let started = Instant::now();
        cluster.start_workers(workers, "bench");
        // Completion is read from the run's record every 10 ms (one primary-key read); the
        // full status, whose counts scan the run's items and results, is asked at the
        // 250 ms interval a watching `jianzhen run` asks it at. Asking it every 20 ms
        // made the bench's own polling a large share of the store's work.
        let mut last_status = Instant::now();
        loop {
            let record = controller
                .store()
                .run_record(&submitted.run_id)
                .await
                .expect("run record")
                .expect("the run exists");
            if record.state == jianzhen_coordinator::store::RUN_COMPLETE {
                break;
            }
            if last_status.elapsed() >= Duration::from_millis(250) {
                last_status = Instant::now();
                controller.run_status(&submitted.run_id).await.expect("status");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let status = controller.run_status(&submitted.run_id).await.expect("status");
        assert_eq!(status.state, v1::RunState::Complete as i32, "the run is complete");
        assert_eq!(status.done_items, submitted.total_items, "every item has its result");
        let elapsed = started.elapsed();
        let cpu_after = process_cpu_time();

        let report_started = Instant::now();
        let files = controller.render_report(&submitted.run_id).await.expect("report");
        let report_elapsed = report_started.elapsed();
        for name in ["report.md", "report.html", "scores.csv", "results.parquet", "manifest.json"] {
            assert!(files.iter().any(|file| file.name == name), "the report has {name}");
        }

        let total = submitted.total_items as f64;
        println!("jianzhen harness throughput ({} build)", if cfg!(debug_assertions) { "debug" } else { "release" });
        println!("  items:                 {}", submitted.total_items);
        println!("  store:                 {}", jianzhen_coordinator::store::redact_url(&store).split(':').next().unwrap_or_default());
        println!("  workers:               {workers} (endpoint concurrency {concurrency})");
        println!("  plan + store:          {:.3} s", plan_elapsed.as_secs_f64());
        println!("  run wall time:         {:.3} s", elapsed.as_secs_f64());
        println!("  throughput:            {:.0} items/s", total / elapsed.as_secs_f64());
        if let (Some(before), Some(after), Some(before_plan)) = (cpu_before, cpu_after, cpu_before_plan) {
            let run_cpu = after.saturating_sub(before);
            println!(
                "  CPU per item:          {:.3} ms (coordinator + workers + scripted endpoint, one process)",
                run_cpu.as_secs_f64() * 1000.0 / total
            );
            println!("  CPU for planning:      {:.3} s", before.saturating_sub(before_plan).as_secs_f64());
        }
        println!("  report render:         {:.3} s", report_elapsed.as_secs_f64());
        println!("  endpoint requests:     {}", server.requests());

        cluster.stop().await;
    });
}
