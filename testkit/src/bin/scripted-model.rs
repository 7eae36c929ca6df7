//! A scripted OpenAI-compatible model server for manual checks and benchmarks:
//! answers every chat completion with a fixed text.
//!
//! `scripted-model [--port P] [--answer TEXT] [--delay-ms MS]`; prints its base URL.

use std::time::Duration;

fn main() {
    let mut port = 0u16;
    let mut answer = "A".to_string();
    let mut delay_ms = 0u64;
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
            other => usage(&format!("unknown flag `{other}`")),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|error| usage(&format!("cannot start the runtime: {error}")));
    runtime.block_on(async move {
        let script =
            jianzhen_testkit::Script::new(&answer).with_delay(Duration::from_millis(delay_ms));
        let server = jianzhen_testkit::start_on(script, port).await;
        println!("{}", server.base_url());
        let _ = tokio::signal::ctrl_c().await;
    });
}

fn usage(problem: &str) -> ! {
    eprintln!("error: {problem}\nusage: scripted-model [--port P] [--answer TEXT] [--delay-ms MS]");
    std::process::exit(2);
}
