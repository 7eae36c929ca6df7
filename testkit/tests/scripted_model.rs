//! The `scripted-model` binary as other processes use it (the network-fault test runs it
//! on a host of its own): it answers from a script file on the address it is given and
//! logs every chat request, with the rule it matched and the client's address.
//!
//! Being an integration test of this package also makes `cargo test --workspace` build
//! the binary, so the integration tests of the root package find it beside `jianzhen`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

/// One HTTP/1.1 request with `connection: close`; the response body.
fn http(address: &str, method: &str, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connect to scripted-model");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("a response with a body");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

#[test]
fn answers_from_a_script_file_and_logs_who_asked_what() {
    let dir = tempfile_dir();
    let script = dir.join("script.json");
    std::fs::write(
        &script,
        r#"{"default_answer": "不知道", "rules": [["题目-1：", "答案是B"]], "truncate": [["题目-2：", "让我们"]]}"#,
    )
    .expect("write the script");
    let mut child = Command::new(env!("CARGO_BIN_EXE_scripted-model"))
        .args(["--listen", "127.0.0.1:0", "--script"])
        .arg(&script)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start scripted-model");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("it prints its URL");
    let address = line
        .trim()
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix("/v1"))
        .unwrap_or_else(|| panic!("unexpected URL line {line:?}"))
        .to_string();
    let ask = |question: &str| {
        let body = serde_json::json!({
            "model": "scripted",
            "messages": [{"role": "user", "content": question}],
        })
        .to_string();
        let answer: serde_json::Value =
            serde_json::from_str(&http(&address, "POST", "/v1/chat/completions", &body))
                .expect("a JSON completion");
        (
            answer["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            answer["choices"][0]["finish_reason"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    assert_eq!(
        ask("测试 题目-1：哪一项？"),
        ("答案是B".into(), "stop".into())
    );
    assert_eq!(
        ask("测试 题目-2：哪一项？"),
        ("让我们".into(), "length".into())
    );
    assert_eq!(ask("别的问题"), ("不知道".into(), "stop".into()));
    let log: serde_json::Value =
        serde_json::from_str(&http(&address, "GET", "/_scripted/requests", ""))
            .expect("the request log is JSON");
    let requests = log["requests"].as_array().expect("requests");
    let needles: Vec<&str> = requests
        .iter()
        .map(|request| request["needle"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(needles, ["题目-1：", "题目-2：", ""]);
    for request in requests {
        assert_eq!(request["peer"], "127.0.0.1");
        let arrived = request["arrived_ms"].as_u64().expect("arrived_ms");
        let answered = request["answered_ms"].as_u64().expect("answered_ms");
        assert!(arrived > 0 && answered >= arrived, "{request}");
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh folder under the system's temp dir (this package has no tempfile crate).
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("scripted-model-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temp folder");
    dir
}
