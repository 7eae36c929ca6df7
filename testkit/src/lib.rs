//! # jianzhen-testkit
//!
//! A scripted OpenAI-compatible model server for tests and benchmarks: a real HTTP
//! server on `127.0.0.1:0` that answers `/v1/chat/completions` from a table, so every
//! score is known in advance. It counts requests and the most it saw in flight at once.
//!
//! Also fixture writers for the suites' file formats (C-Eval and CMMLU CSV).

pub mod fixtures;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How the scripted model answers: the first rule whose needle occurs in the last user
/// message wins; otherwise `default_answer`. A failure rule answers with an HTTP error.
#[derive(Debug, Clone, Default)]
pub struct Script {
    pub rules: Vec<(String, String)>,
    pub failures: Vec<(String, u16)>,
    /// Questions whose answer is cut off: `finish_reason: length`.
    pub truncations: Vec<(String, String)>,
    pub default_answer: String,
    /// Delay before every answer, to keep requests in flight.
    pub delay: Duration,
}

impl Script {
    pub fn new(default_answer: &str) -> Self {
        Script {
            rules: Vec::new(),
            failures: Vec::new(),
            truncations: Vec::new(),
            default_answer: default_answer.to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn rule(mut self, needle: &str, answer: &str) -> Self {
        self.rules.push((needle.to_string(), answer.to_string()));
        self
    }

    /// Questions containing `needle` get HTTP `status` with an error body, every time.
    pub fn fail(mut self, needle: &str, status: u16) -> Self {
        self.failures.push((needle.to_string(), status));
        self
    }

    /// Questions containing `needle` get `text` with `finish_reason: length`.
    pub fn truncate(mut self, needle: &str, text: &str) -> Self {
        self.truncations
            .push((needle.to_string(), text.to_string()));
        self
    }

    fn failure(&self, question: &str) -> Option<u16> {
        self.failures
            .iter()
            .find(|(needle, _)| question.contains(needle.as_str()))
            .map(|(_, status)| *status)
    }

    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    fn answer(&self, question: &str) -> &str {
        self.rules
            .iter()
            .find(|(needle, _)| question.contains(needle.as_str()))
            .map_or(self.default_answer.as_str(), |(_, answer)| answer.as_str())
    }
}

#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub in_flight: AtomicU64,
    pub max_in_flight: AtomicU64,
}

struct ServerState {
    script: Script,
    counters: Arc<Counters>,
}

/// A running scripted server; stops when dropped.
pub struct ScriptedServer {
    pub address: SocketAddr,
    pub counters: Arc<Counters>,
    stop: watch::Sender<bool>,
}

impl ScriptedServer {
    /// The base URL to put in a run spec: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.address)
    }

    pub fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::SeqCst)
    }

    pub fn max_in_flight(&self) -> u64 {
        self.counters.max_in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Starts the server on an ephemeral loopback port.
///
/// # Panics
/// If no loopback port can be bound (a broken test machine).
pub async fn start(script: Script) -> ScriptedServer {
    start_on(script, 0).await
}

/// Starts the server on a given loopback port (0 for an ephemeral one).
///
/// # Panics
/// If the port cannot be bound.
pub async fn start_on(script: Script, port: u16) -> ScriptedServer {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind a loopback port for the scripted model");
    let address = listener
        .local_addr()
        .expect("local address of a bound listener");
    let counters = Arc::new(Counters::default());
    let state = Arc::new(ServerState {
        script,
        counters: counters.clone(),
    });
    let app = Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .with_state(state);
    let (stop, mut stopped) = watch::channel(false);
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.changed().await;
        };
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
    });
    ScriptedServer {
        address,
        counters,
        stop,
    }
}

async fn models() -> Json<Value> {
    Json(json!({"object": "list", "data": [{"id": "scripted", "object": "model"}]}))
}

async fn chat_completions(
    State(state): State<Arc<ServerState>>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let counters = &state.counters;
    counters.requests.fetch_add(1, Ordering::SeqCst);
    let now_in_flight = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    counters
        .max_in_flight
        .fetch_max(now_in_flight, Ordering::SeqCst);

    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let question = messages
        .iter()
        .rev()
        .find(|message| message["role"] == "user")
        .and_then(|message| message["content"].as_str())
        .unwrap_or_default()
        .to_string();
    let prompt_chars: usize = messages
        .iter()
        .filter_map(|message| message["content"].as_str())
        .map(|content| content.chars().count())
        .sum();
    if !state.script.delay.is_zero() {
        tokio::time::sleep(state.script.delay).await;
    }
    if let Some(status) = state.script.failure(&question) {
        counters.in_flight.fetch_sub(1, Ordering::SeqCst);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (
            status,
            Json(json!({"error": {"message": "scripted failure", "type": "server_error"}})),
        );
    }
    let truncated = state
        .script
        .truncations
        .iter()
        .find(|(needle, _)| question.contains(needle.as_str()))
        .map(|(_, text)| text.clone());
    let finish_reason = if truncated.is_some() {
        "length"
    } else {
        "stop"
    };
    let answer = truncated.unwrap_or_else(|| state.script.answer(&question).to_string());
    counters.in_flight.fetch_sub(1, Ordering::SeqCst);
    let completion_chars = answer.chars().count();
    (
        StatusCode::OK,
        Json(json!({
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": prompt_chars, "completion_tokens": completion_chars, "total_tokens": prompt_chars + completion_chars}
        })),
    )
}
