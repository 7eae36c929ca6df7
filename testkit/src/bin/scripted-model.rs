//! A scripted OpenAI-compatible model server for manual checks, benchmarks and tests that
//! run the endpoint as a process of its own — answers every chat completion with a fixed
//! text, or from a script file — or, with `--proxy`, a "wrapper" endpoint that forwards to
//! another one and rewrites words in its answers (for provenance checks).
//!
//! `scripted-model [--port P | --listen ADDR] [--answer TEXT] [--delay-ms MS] [--script FILE]`
//! `scripted-model --proxy http://127.0.0.1:8765/v1 [--rewrite FROM=TO ...] [--port P]`
//!
//! A script file is JSON: `{"default_answer": "A", "delay_ms": 150, "rules": [["NEEDLE",
//! "ANSWER"], ...], "truncate": [["NEEDLE", "TEXT"], ...]}` (every key optional; a
//! question containing NEEDLE gets ANSWER, or TEXT cut off by the token limit).
//! `GET /_scripted/requests` returns the log of chat requests (see the library).
//! Prints its base URL.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

fn main() {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut answer = "A".to_string();
    let mut delay_ms = 0u64;
    let mut script_file: Option<PathBuf> = None;
    let mut proxy: Option<String> = None;
    let mut rewrites: Vec<(String, String)> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--port" => {
                let port: u16 = value
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("bad --port `{value}`")));
                listen.set_port(port);
            }
            "--listen" => {
                listen = value
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("bad --listen `{value}`: write IP:PORT")))
            }
            "--answer" => answer = value,
            "--delay-ms" => {
                delay_ms = value
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("bad --delay-ms `{value}`")))
            }
            "--script" => script_file = Some(PathBuf::from(value)),
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
    let mut script =
        jianzhen_testkit::Script::new(&answer).with_delay(Duration::from_millis(delay_ms));
    if let Some(path) = &script_file {
        script = read_script(path, script);
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
                jianzhen_testkit::start_proxy(&upstream, &pairs, listen.port()).await
            }
            None => jianzhen_testkit::start_at(script, listen).await,
        };
        println!("{}", server.base_url());
        // Run until Ctrl-C or SIGTERM (tests stop it with a signal).
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .unwrap_or_else(|error| usage(&format!("cannot wait for SIGTERM: {error}")));
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    });
}

/// Adds the rules of a script file to `script`; exits with a message naming the file
/// when it cannot be read or is not a script.
fn read_script(path: &PathBuf, mut script: jianzhen_testkit::Script) -> jianzhen_testkit::Script {
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| {
        usage(&format!("cannot read --script {}: {error}", path.display()))
    });
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|error| {
        usage(&format!("--script {} is not JSON: {error}", path.display()))
    });
    if let Some(default) = value["default_answer"].as_str() {
        script.default_answer = default.to_string();
    }
    if let Some(delay) = value["delay_ms"].as_u64() {
        script.delay = Duration::from_millis(delay);
    }
    let pairs = |key: &str| -> Vec<(String, String)> {
        value[key]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|entry| {
                        match (entry[0].as_str(), entry[1].as_str()) {
                            (Some(needle), Some(text)) => (needle.to_string(), text.to_string()),
                            _ => usage(&format!(
                                "--script {}: every `{key}` entry is [\"NEEDLE\", \"TEXT\"], found {entry}",
                                path.display()
                            )),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    for (needle, answer) in pairs("rules") {
        script = script.rule(&needle, &answer);
    }
    for (needle, text) in pairs("truncate") {
        script = script.truncate(&needle, &text);
    }
    script
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "error: {problem}\nusage: scripted-model [--port P | --listen IP:PORT] [--answer TEXT] [--delay-ms MS] [--script FILE]\n       scripted-model --proxy BASE_URL [--rewrite FROM=TO ...] [--port P]"
    );
    std::process::exit(2);
}
