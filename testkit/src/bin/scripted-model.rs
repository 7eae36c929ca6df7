//! A scripted OpenAI-compatible model server for manual checks and benchmarks — answers
//! every chat completion with a fixed text — or, with `--proxy`, a "wrapper" endpoint that
//! forwards to another one and rewrites words in its answers (for provenance checks).
//!
//! `scripted-model [--port P] [--answer TEXT] [--delay-ms MS]`
//! `scripted-model --proxy http://127.0.0.1:8765/v1 [--rewrite FROM=TO ...] [--port P]`
//! Prints its base URL.

use std::time::Duration;

fn main() {
    let mut port = 0u16;
    let mut answer = "A".to_string();
    let mut delay_ms = 0u64;
    let mut proxy: Option<String> = None;
    let mut rewrites: Vec<(String, String)> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--port" => {
                port = value
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("bad --port `{value}`")))
            }
            "--answer" => answer = value,
            "--delay-ms" => {
                delay_ms = value
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("bad --delay-ms `{value}`")))
            }
            "--proxy" => proxy = Some(value),
            "--rewrite" => {
                let Some((from, to)) = value.split_once('=') else {
                    usage(&format!("bad --rewrite `{value}`: write FROM=TO"));
                };
                rewrites.push((from.to_string(), to.to_string()));
            }
            other => usage(&format!("unknown flag `{other}`")),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|error| usage(&format!("cannot start the runtime: {error}")));
    runtime.block_on(async move {
        let server = match proxy {
            Some(upstream) => {
                let pairs: Vec<(&str, &str)> = rewrites
                    .iter()
                    .map(|(from, to)| (from.as_str(), to.as_str()))
                    .collect();
                jianzhen_testkit::start_proxy(&upstream, &pairs, port).await
            }
            None => {
                let script = jianzhen_testkit::Script::new(&answer)
                    .with_delay(Duration::from_millis(delay_ms));
                jianzhen_testkit::start_on(script, port).await
            }
        };
        println!("{}", server.base_url());
        let _ = tokio::signal::ctrl_c().await;
    });
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "error: {problem}\nusage: scripted-model [--port P] [--answer TEXT] [--delay-ms MS]\n       scripted-model --proxy BASE_URL [--rewrite FROM=TO ...] [--port P]"
    );
    std::process::exit(2);
}
