//! Endpoint occupancy benchmark: how full a coordinator and 4 workers (real gRPC on
//! loopback) keep an endpoint with a fixed number of slots and a fixed latency, measured
//! at the endpoint. The endpoint is the testkit's scripted server with 64 slots and
//! 200 ms per answer; the suite is a synthetic C-Eval-shaped fixture with the val split's
//! 52 subjects and their item counts (1,346 items), so shards end at the same subject
//! boundaries as on the real data. Run with `cargo bench --bench occupancy`.
//!
//! Prints the wall time (workers started to run complete), the floor (items × latency /
//! slots: every slot busy from the first request to the last) and the time-weighted
//! occupancy computed from the scripted server's own record of when each request held a
//! slot.
//!
//! Environment: `JIANZHEN_BENCH_WORKERS` (default 4), `JIANZHEN_BENCH_CONCURRENCY` (64,
//! the spec's `max_concurrency`), `JIANZHEN_BENCH_SLOTS` (64), `JIANZHEN_BENCH_LATENCY_MS`
//! (200), `JIANZHEN_BENCH_SHARD_SIZE` (the spec default when unset).

use std::time::{Duration, Instant};

use jianzhen_coordinator::{Controller, CoordinatorConfig};
use jianzhen_proto::v1;
use jianzhen_testkit::Occupancy;
use jianzhen_testkit::fixtures::write_ceval;

/// C-Eval's val split: its 52 subjects and how many items each has (1,346 in all). The
/// questions written are synthetic; only the shape is C-Eval's.
const CEVAL_VAL_SUBJECTS: [(&str, usize); 52] = [
    ("accountant", 49),
    ("advanced_mathematics", 19),
    ("art_studies", 33),
    ("basic_medicine", 19),
    ("business_administration", 33),
    ("chinese_language_and_literature", 23),
    ("civil_servant", 47),
    ("clinical_medicine", 22),
    ("college_chemistry", 24),
    ("college_economics", 55),
    ("college_physics", 19),
    ("college_programming", 37),
    ("computer_architecture", 21),
    ("computer_network", 19),
    ("discrete_mathematics", 16),
    ("education_science", 29),
    ("electrical_engineer", 37),
    ("environmental_impact_assessment_engineer", 31),
    ("fire_engineer", 31),
    ("high_school_biology", 19),
    ("high_school_chemistry", 19),
    ("high_school_chinese", 19),
    ("high_school_geography", 19),
    ("high_school_history", 20),
    ("high_school_mathematics", 18),
    ("high_school_physics", 19),
    ("high_school_politics", 19),
    ("ideological_and_moral_cultivation", 19),
    ("law", 24),
    ("legal_professional", 23),
    ("logic", 22),
    ("mao_zedong_thought", 24),
    ("marxism", 19),
    ("metrology_engineer", 24),
    ("middle_school_biology", 21),
    ("middle_school_chemistry", 20),
    ("middle_school_geography", 12),
    ("middle_school_history", 22),
    ("middle_school_mathematics", 19),
    ("middle_school_physics", 19),
    ("middle_school_politics", 21),
    ("modern_chinese_history", 23),
    ("operating_system", 19),
    ("physician", 49),
    ("plant_protection", 22),
    ("probability_and_statistics", 18),
    ("professional_tour_guide", 29),
    ("sports_science", 19),
    ("tax_accountant", 49),
    ("teacher_qualification", 44),
    ("urban_and_rural_planner", 46),
    ("veterinary_medicine", 23),
];

mod support;

use support::{LoopbackCluster, env_number};

fn main() {
    let workers = env_number("JIANZHEN_BENCH_WORKERS", 4);
    let concurrency = env_number("JIANZHEN_BENCH_CONCURRENCY", 64);
    let slots = env_number("JIANZHEN_BENCH_SLOTS", 64);
    let latency = Duration::from_millis(env_number("JIANZHEN_BENCH_LATENCY_MS", 200) as u64);
    let shard_size = std::env::var("JIANZHEN_BENCH_SHARD_SIZE")
        .ok()
        .map(|size| format!("shard_size = {size}\n"))
        .unwrap_or_default();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("ceval");
        write_ceval(&data, &CEVAL_VAL_SUBJECTS).expect("fixture");
        let script = jianzhen_testkit::Script::new("答案是A")
            .with_delay(latency)
            .with_slots(slots);
        let server = jianzhen_testkit::start(script).await;

        let store = format!("sqlite:{}", dir.path().join("bench.db").display());
        let controller = Controller::open(&store, CoordinatorConfig::default(), "bench")
            .await
            .expect("store");
        let mut cluster = LoopbackCluster::serve(&controller).await;
        let spec = format!(
            "name = \"occupancy\"\n{shard_size}[[suites]]\nname = \"ceval\"\ndata = \"{}\"\n[[endpoints]]\nname = \"slots\"\nbase_url = \"{}\"\nmodel = \"scripted\"\nmax_concurrency = {concurrency}\n",
            data.display(),
            server.base_url()
        );
        let submitted = controller.submit_run(&spec).await.expect("submit");

        let started = Instant::now();
        cluster.start_workers(workers, "occupancy");
        loop {
            let status = controller
                .run_status(&submitted.run_id)
                .await
                .expect("status");
            if status.state == v1::RunState::Complete as i32 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let elapsed = started.elapsed();

        let served = server.served_requests();
        let total = submitted.total_items as usize;
        let busy_slots = slots.min(concurrency).max(1);
        let floor = latency.as_secs_f64() * total as f64 / busy_slots as f64;
        println!(
            "jianzhen endpoint occupancy ({} build)",
            if cfg!(debug_assertions) { "debug" } else { "release" }
        );
        println!("  items:                 {total}");
        println!(
            "  workers:               {workers} (spec max_concurrency {concurrency}, endpoint {slots} slots, {} ms each)",
            latency.as_millis()
        );
        println!("  run wall time:         {:.3} s", elapsed.as_secs_f64());
        println!("  floor:                 {floor:.3} s (items × latency / slots)");
        println!("  wall over floor:       {:.2}×", elapsed.as_secs_f64() / floor);
        match Occupancy::of(&served, slots) {
            Some(occupancy) => {
                println!(
                    "  endpoint busy span:    {:.3} s (first request start to last end)",
                    occupancy.span.as_secs_f64()
                );
                println!(
                    "  occupancy:             {:.1}% ({:.1} of {slots} slots busy on average, time-weighted, at the endpoint)",
                    occupancy.fraction * 100.0,
                    occupancy.mean_busy_slots
                );
                println!("  requests served:       {}", occupancy.requests);
            }
            None => println!("  occupancy:             no request reached the endpoint"),
        }
        println!("  most in flight:        {}", server.max_in_flight());

        cluster.stop().await;
    });
}
