//! # jianzhen-testkit
//!
//! A scripted OpenAI-compatible model server for tests and benchmarks: a real HTTP/1.1
//! server on `127.0.0.1:0` that answers `/v1/chat/completions` from a table, so every
//! score is known in advance. It can also misbehave on purpose — HTTP 429/500/503 with or
//! without `Retry-After`, hangs, connection resets, garbage and truncated bodies, empty
//! answers, moderation refusals — for a given number of attempts or always. It counts
//! requests, the most it saw in flight at once, and the mean number in flight, and logs
//! every chat request (the rule it matched, the client's address, when it arrived and
//! was answered) for tests in other processes at `GET /_scripted/requests`.
//!
//! It can also stand for an endpoint with a fixed number of slots (a vLLM server's
//! `--max-num-seqs`): requests beyond them wait for a free one, and the server records
//! when each request held a slot, so a benchmark or a test measures how full the
//! endpoint was kept from the endpoint's own clock ([`ScriptedServer::served_requests`],
//! [`Occupancy`]).
//!
//! The HTTP layer is written by hand on a TCP socket (not a framework) precisely so that
//! it can break the protocol the way real endpoints and proxies do.
//!
//! Also fixture writers for the suites' file formats (C-Eval and CMMLU CSV), and test
//! stores (SQLite, or PostgreSQL when a test server is configured).
//!
//! # Layout
//! - this file: [`ScriptedServer`], its rules and misbehaviours, and the request log;
//! - [`fixtures`]: writers of small data files in the suites' real formats;
//! - [`stores`]: a fresh store per test, on SQLite or on the PostgreSQL server named by
//!   `JIANZHEN_TEST_POSTGRES_URL`;
//! - `src/bin/scripted-model.rs`: the same server as a process, for tests that run the
//!   endpoint on another host (network namespaces).

pub mod fixtures;
pub mod stores;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Says that a test (or part of one) was skipped and why, on the terminal. The test
/// harness captures `eprintln!` of passing tests, so a skip would otherwise be silent and
/// "N passed" would overstate what ran; the stderr handle written to directly is not
/// captured. CI sets the variables that turn these skips into failures
/// (`JIANZHEN_REQUIRE_BROWSER`, `JIANZHEN_TEST_POSTGRES_URL`).
pub fn skipped(test: &str, reason: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
}

/// A way for the server to fail a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// An HTTP error status, with a `Retry-After` header (seconds) when given.
    Status {
        status: u16,
        retry_after_secs: Option<u64>,
    },
    /// Never answers (until the client gives up or the server stops).
    Hang,
    /// Closes the connection with a TCP reset without answering.
    Reset,
    /// HTTP 200 with a body that is not JSON.
    Garbage,
    /// HTTP 200 whose body stops half-way (the connection closes early).
    TruncatedBody,
    /// HTTP 200 with an empty answer.
    EmptyContent,
    /// DashScope-style moderation refusal: HTTP 400, `data_inspection_failed`.
    Moderation,
    /// HTTP 200 with `finish_reason: content_filter` and no content.
    ContentFilter,
    /// HTTP 200 with this text and `finish_reason: length`.
    Cut(String),
    /// A redirect (303 See Other) to this location.
    Redirect(String),
    /// HTTP 200 with a JSON body of this many bytes (a reply meant to exhaust memory).
    HugeBody(usize),
    /// HTTP 200 with this answer instead of the scripted one: with `times`, a model
    /// that answers the same question differently when asked again (as a server
    /// batching parallel requests does at temperature 0).
    Answer(String),
}

#[derive(Debug, Clone)]
struct FaultRule {
    needle: String,
    fault: Fault,
    /// How many matching requests get the fault; `None`: all of them.
    times: Option<u32>,
}

/// Counts the tokens of one message's text, so the scripted server can report the
/// `usage.prompt_tokens` a given tokenizer would (for tokenizer fingerprint tests).
#[derive(Clone)]
pub struct TokenCounter(pub Arc<dyn Fn(&str) -> usize + Send + Sync>);

impl std::fmt::Debug for TokenCounter {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("TokenCounter")
    }
}

/// How the scripted model answers: the first fault rule whose needle occurs in the last
/// user message (and that has attempts left) decides; otherwise the first answer rule;
/// otherwise `default_answer`.
#[derive(Debug, Clone, Default)]
pub struct Script {
    pub rules: Vec<(String, String)>,
    /// Answers under a system prompt: (system needle, question needle, answer), looked
    /// up before [`Script::rules`] when the request's system message contains the needle
    /// (a model whose answers a persona moves).
    pub persona_rules: Vec<(String, String, String)>,
    faults: Vec<FaultRule>,
    pub default_answer: String,
    /// Delay before every answer, to keep requests in flight.
    pub delay: Duration,
    /// How `usage.prompt_tokens` is computed: this counter over every message's content
    /// plus a constant chat-template overhead; by default, characters.
    pub prompt_tokens: Option<(TokenCounter, usize)>,
    /// When set, the server is a forwarding proxy instead of a scripted model.
    proxy: Option<Proxy>,
    /// Files served on GET (path → bytes), e.g. an archive for `jianzhen data fetch`.
    files: Vec<(String, Vec<u8>)>,
    /// Echoed prompt log-probabilities are misplaced, as llama-cpp-python's server
    /// returns them (each token scored by the distribution that follows it): every
    /// prompt token scores -10.
    misplaced_echo: bool,
    /// When set, echoed Chinese prompts score as a model that has (or has not) seen them
    /// would: see [`Script::with_prompt_familiarity`].
    memorised_prompts: Option<Vec<String>>,
    /// `echo` is ignored, as llama.cpp's server ignores it: only the generated token
    /// comes back, without prompt log-probabilities.
    ignores_echo: bool,
    /// Chat requests served at once; more wait for a free slot, as on a serving engine
    /// with a fixed batch. `None`: no limit.
    slots: Option<usize>,
}

#[derive(Debug, Clone, Default)]
struct Proxy {
    upstream: String,
    rewrites: Vec<(String, String)>,
}

impl Script {
    pub fn new(default_answer: &str) -> Self {
        Script {
            default_answer: default_answer.to_string(),
            ..Script::default()
        }
    }

    pub fn rule(mut self, needle: &str, answer: &str) -> Self {
        self.rules.push((needle.to_string(), answer.to_string()));
        self
    }

    /// Under a system message containing `system_needle`, questions containing `needle`
    /// get `answer` instead of their ordinary rule.
    pub fn persona_rule(mut self, system_needle: &str, needle: &str, answer: &str) -> Self {
        self.persona_rules.push((
            system_needle.to_string(),
            needle.to_string(),
            answer.to_string(),
        ));
        self
    }

    /// Questions containing `needle` get `fault` for the first `times` requests (every
    /// request when `None`), then normal answers.
    pub fn fault(mut self, needle: &str, fault: Fault, times: Option<u32>) -> Self {
        self.faults.push(FaultRule {
            needle: needle.to_string(),
            fault,
            times,
        });
        self
    }

    /// Questions containing `needle` always get HTTP `status`.
    pub fn fail(self, needle: &str, status: u16) -> Self {
        self.fault(
            needle,
            Fault::Status {
                status,
                retry_after_secs: None,
            },
            None,
        )
    }

    /// Questions containing `needle` always get `text` with `finish_reason: length`.
    pub fn truncate(self, needle: &str, text: &str) -> Self {
        self.fault(needle, Fault::Cut(text.to_string()), None)
    }

    /// Echoes prompt log-probabilities the way llama-cpp-python's server does: misplaced
    /// by one token, so every prompt token looks unlikely (-10).
    pub fn with_misplaced_echo(mut self) -> Self {
        self.misplaced_echo = true;
        self
    }

    /// Ignores `echo` on `/v1/completions`, as llama.cpp's server does.
    pub fn ignoring_echo(mut self) -> Self {
        self.ignores_echo = true;
        self
    }

    /// Echoed prompts that contain Chinese score by familiarity, for the Min-K% test: a
    /// prompt containing one of `memorised` (a text the model has seen) scores near 0,
    /// token `p` (from 1; the first has none) at -0.01 · (1 + p mod 4); any other such
    /// prompt scores as ordinary text, -(1 + p mod 4). With K = 20% and eight or more
    /// tokens, Min-K% is then -0.04 for a memorised text and -4 for an ordinary one.
    /// Prompts without Chinese (the echo check's counting sequence, option sums) keep
    /// the usual scores.
    pub fn with_prompt_familiarity(mut self, memorised: &[String]) -> Self {
        self.memorised_prompts = Some(memorised.to_vec());
        self
    }

    /// The scripted log-probability of the prompt token at `position` (≥ 1), when the
    /// script scores `prompt` by familiarity.
    fn familiar_logprob(&self, prompt: &str, position: usize) -> Option<f64> {
        let memorised = self.memorised_prompts.as_ref()?;
        if !prompt
            .chars()
            .any(|character| ('\u{4e00}'..='\u{9fff}').contains(&character))
        {
            return None;
        }
        let step = 1.0 + (position % 4) as f64;
        if memorised
            .iter()
            .any(|text| !text.is_empty() && prompt.contains(text.as_str()))
        {
            Some(-0.01 * step)
        } else {
            Some(-step)
        }
    }

    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Serves at most `slots` chat requests at once; the others wait for a free slot
    /// (the time they wait is not part of their served interval).
    pub fn with_slots(mut self, slots: usize) -> Self {
        self.slots = Some(slots.max(1));
        self
    }

    /// Reports `usage.prompt_tokens` as `counter` over the messages plus `overhead`.
    pub fn with_token_counter(mut self, counter: TokenCounter, overhead: usize) -> Self {
        self.prompt_tokens = Some((counter, overhead));
        self
    }

    fn answer_under(&self, system: &str, question: &str) -> &str {
        self.persona_rules
            .iter()
            .find(|(system_needle, needle, _)| {
                !system.is_empty()
                    && system.contains(system_needle.as_str())
                    && question.contains(needle.as_str())
            })
            .map_or_else(|| self.answer(question), |(_, _, answer)| answer.as_str())
    }

    fn answer(&self, question: &str) -> &str {
        self.rules
            .iter()
            .find(|(needle, _)| question.contains(needle.as_str()))
            .map_or(self.default_answer.as_str(), |(_, answer)| answer.as_str())
    }
}

/// What the server saw.
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    /// Requests that asked for log-probabilities.
    pub logprob_requests: AtomicU64,
    /// The first prompt of every `/v1/completions` request, in arrival order.
    completion_prompts: Mutex<Vec<String>>,
    /// The `Authorization` header of every request that had one (tests check which keys
    /// reached the endpoint, and which never did).
    authorizations: Mutex<Vec<String>>,
    /// The last user message of every chat request, in arrival order: how many times each
    /// item was asked (the exactly-once checks count them).
    chat_questions: Mutex<Vec<String>>,
    /// Who asked, when, and when the answer was written, per chat request: the
    /// request log a test in other processes reads over HTTP (`GET /_scripted/requests`).
    chat_log: Mutex<Vec<ChatRecord>>,
    pub in_flight: AtomicU64,
    pub max_in_flight: AtomicU64,
    timeline: Mutex<Timeline>,
    /// When each chat request was served (held a slot), by the server's monotonic clock:
    /// the endpoint's own record of how busy it was.
    served: Mutex<Vec<ServedInterval>>,
}

/// One chat request's time in a slot, as [`Counters::served`] keeps it: the question is
/// kept by its index in `chat_questions`, so a long run does not store its prompts twice.
#[derive(Debug, Clone, Copy)]
struct ServedInterval {
    question_index: Option<usize>,
    started: Instant,
    finished: Instant,
}

/// A chat request as the endpoint served it.
#[derive(Debug, Clone)]
pub struct ServedRequest {
    /// The last user message (empty for a proxied request).
    pub question: String,
    /// When it got a slot and began to be answered.
    pub started: Instant,
    /// When its answer was ready to be written.
    pub finished: Instant,
}

/// How full an endpoint with `slots` slots was kept, time-weighted, from its own record
/// of the requests it served: the integral of busy slots over the span from the first
/// request's start to the last one's end, divided by `slots × span`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Occupancy {
    pub requests: usize,
    /// From the first request's start to the last one's end.
    pub span: Duration,
    /// Seconds of slot time the requests held, summed.
    pub busy_slot_seconds: f64,
    /// Busy slots on average over the span.
    pub mean_busy_slots: f64,
    /// `mean_busy_slots / slots`, between 0 and 1.
    pub fraction: f64,
}

impl Occupancy {
    /// Computes the occupancy of `slots` slots from served requests; `None` when there
    /// are none (or they took no time).
    pub fn of(served: &[ServedRequest], slots: usize) -> Option<Occupancy> {
        let first = served.iter().map(|request| request.started).min()?;
        let last = served.iter().map(|request| request.finished).max()?;
        let span = last.checked_duration_since(first)?;
        if span.is_zero() {
            return None;
        }
        let busy_slot_seconds: f64 = served
            .iter()
            .map(|request| {
                request
                    .finished
                    .saturating_duration_since(request.started)
                    .as_secs_f64()
            })
            .sum();
        let mean_busy_slots = busy_slot_seconds / span.as_secs_f64();
        Some(Occupancy {
            requests: served.len(),
            span,
            busy_slot_seconds,
            mean_busy_slots,
            fraction: mean_busy_slots / slots.max(1) as f64,
        })
    }
}

/// One chat request as the server saw it.
#[derive(Debug, Clone)]
struct ChatRecord {
    /// The needle of the first answer or fault rule the question matched (empty: none),
    /// so the log names the item without carrying the whole prompt.
    needle: String,
    /// The client's IP address: tells which worker host asked.
    peer: String,
    /// Wall-clock milliseconds since the Unix epoch, comparable across processes.
    arrived_ms: u64,
    /// When the answer was ready to be written (0 while it is still being prepared).
    answered_ms: u64,
}

fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// The integral of requests in flight over time, for the mean concurrency.
#[derive(Debug, Default)]
struct Timeline {
    in_flight: u64,
    last_change: Option<Instant>,
    first_start: Option<Instant>,
    last_start: Option<Instant>,
    last_end: Option<Instant>,
    request_seconds: f64,
}

impl Counters {
    fn change(&self, delta: i64) {
        let Ok(mut timeline) = self.timeline.lock() else {
            return;
        };
        let now = Instant::now();
        if let Some(last) = timeline.last_change {
            timeline.request_seconds +=
                timeline.in_flight as f64 * now.duration_since(last).as_secs_f64();
        }
        timeline.last_change = Some(now);
        timeline.in_flight = timeline.in_flight.saturating_add_signed(delta);
        if delta > 0 {
            timeline.first_start.get_or_insert(now);
            timeline.last_start = Some(now);
        } else {
            timeline.last_end = Some(now);
        }
    }

    /// Time from the first request's arrival to the last one's.
    pub fn arrival_span(&self) -> Duration {
        let Ok(timeline) = self.timeline.lock() else {
            return Duration::ZERO;
        };
        match (timeline.first_start, timeline.last_start) {
            (Some(first), Some(last)) => last.duration_since(first),
            _ => Duration::ZERO,
        }
    }

    /// Mean requests in flight between the first request's start and the last one's end.
    pub fn mean_in_flight(&self) -> f64 {
        let Ok(timeline) = self.timeline.lock() else {
            return 0.0;
        };
        match (timeline.first_start, timeline.last_end) {
            (Some(first), Some(last)) if last > first => {
                timeline.request_seconds / last.duration_since(first).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

struct ServerState {
    script: Script,
    counters: Arc<Counters>,
    /// Requests seen per fault rule, to apply `times`.
    fault_hits: Mutex<HashMap<usize, u32>>,
    stopped: watch::Receiver<bool>,
    /// The endpoint's slots, when the script limits them.
    slots: Option<Arc<tokio::sync::Semaphore>>,
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

    /// How many `/v1/completions` requests had a first prompt starting with `prefix`.
    pub fn completions_starting_with(&self, prefix: &str) -> usize {
        self.counters
            .completion_prompts
            .lock()
            .map_or(0, |prompts| {
                prompts
                    .iter()
                    .filter(|prompt| prompt.starts_with(prefix))
                    .count()
            })
    }

    pub fn mean_in_flight(&self) -> f64 {
        self.counters.mean_in_flight()
    }

    /// How many chat requests asked a question containing `needle` (an item's marker).
    pub fn chat_requests_containing(&self, needle: &str) -> usize {
        self.counters.chat_questions.lock().map_or(0, |seen| {
            seen.iter()
                .filter(|question| question.contains(needle))
                .count()
        })
    }

    /// Every chat request answered so far with the interval it held a slot, in the order
    /// they finished.
    pub fn served_requests(&self) -> Vec<ServedRequest> {
        let intervals = self
            .counters
            .served
            .lock()
            .map(|served| served.clone())
            .unwrap_or_default();
        let Ok(questions) = self.counters.chat_questions.lock() else {
            return Vec::new();
        };
        intervals
            .into_iter()
            .map(|interval| ServedRequest {
                question: interval
                    .question_index
                    .and_then(|index| questions.get(index).cloned())
                    .unwrap_or_default(),
                started: interval.started,
                finished: interval.finished,
            })
            .collect()
    }

    /// The `Authorization` headers received, in arrival order.
    pub fn authorizations(&self) -> Vec<String> {
        self.counters
            .authorizations
            .lock()
            .map(|seen| seen.clone())
            .unwrap_or_default()
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

/// Starts a plain file server: GET `path` answers the bytes (a stand-in for a dataset's
/// published download location).
///
/// # Panics
/// If no loopback port can be bound.
pub async fn start_file_server(files: Vec<(String, Vec<u8>)>) -> ScriptedServer {
    let script = Script {
        files,
        ..Script::default()
    };
    start_on(script, 0).await
}

/// Starts a "wrapper" endpoint: an OpenAI-compatible proxy that forwards every chat
/// completion to `upstream` (a base URL ending in `/v1`) unchanged and rewrites only the
/// answer text (`from` → `to`), as a vendor reselling another model under its own name
/// would. Used to test that the provenance audit sees through it.
///
/// # Panics
/// If no loopback port can be bound.
pub async fn start_proxy(upstream: &str, rewrites: &[(&str, &str)], port: u16) -> ScriptedServer {
    let script = Script {
        proxy: Some(Proxy {
            upstream: upstream.trim_end_matches('/').to_string(),
            rewrites: rewrites
                .iter()
                .map(|(from, to)| (from.to_string(), to.to_string()))
                .collect(),
        }),
        ..Script::default()
    };
    start_on(script, port).await
}

/// Starts the server on a given loopback port (0 for an ephemeral one).
///
/// # Panics
/// If the port cannot be bound.
pub async fn start_on(script: Script, port: u16) -> ScriptedServer {
    start_at(script, SocketAddr::from(([127, 0, 0, 1], port))).await
}

/// Starts the server on `address`: another interface than loopback when the endpoint is
/// a host of its own (the network-namespace test runs it in its own namespace).
///
/// # Panics
/// If the address cannot be bound.
pub async fn start_at(script: Script, address: SocketAddr) -> ScriptedServer {
    let listener = TcpListener::bind(address)
        .await
        .unwrap_or_else(|error| panic!("bind {address} for the scripted model: {error}"));
    let address = listener
        .local_addr()
        .expect("local address of a bound listener");
    let counters = Arc::new(Counters::default());
    let (stop, stopped) = watch::channel(false);
    let slots = script
        .slots
        .map(|slots| Arc::new(tokio::sync::Semaphore::new(slots)));
    let state = Arc::new(ServerState {
        script,
        counters: counters.clone(),
        fault_hits: Mutex::new(HashMap::new()),
        stopped: stopped.clone(),
        slots,
    });
    let mut accept_stopped = stopped;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, peer)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve_connection(stream, peer, state.clone()));
                }
                _ = accept_stopped.changed() => return,
            }
        }
    });
    ScriptedServer {
        address,
        counters,
        stop,
    }
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
    close: bool,
    authorization: Option<String>,
}

/// Reads one HTTP/1.1 request; `None` at end of stream or on a malformed request.
async fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).await.ok()? == 0 {
        return None;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut content_length = 0usize;
    let mut close = false;
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        if name == "content-length" {
            content_length = value.parse().ok()?;
        } else if name == "connection" && value.eq_ignore_ascii_case("close") {
            close = true;
        } else if name == "authorization" {
            authorization = Some(value.to_string());
        }
    }
    let mut body = vec![0u8; content_length];
    reader.read_exact(&mut body).await.ok()?;
    Some(Request {
        method,
        path,
        body,
        close,
        authorization,
    })
}

fn response_bytes(status: u16, extra_headers: &[(String, String)], body: &str) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in extra_headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

fn completion(model: &Value, content: &str, finish_reason: &str, prompt_chars: usize) -> String {
    let completion_chars = content.chars().count();
    json!({
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": prompt_chars, "completion_tokens": completion_chars, "total_tokens": prompt_chars + completion_chars}
    })
    .to_string()
}

/// A one-token answer with its top log-probabilities, as OpenAI's chat API returns them
/// for `logprobs: true`: the first option letter of the scripted answer is the most likely
/// token, the other letters behind it. An answer without a letter has only words among
/// its top candidates (no option letter to pick).
fn first_token_completion(model: &Value, answer: &str, prompt_chars: usize) -> String {
    let chosen = answer
        .chars()
        .find(|character| matches!(character, 'A'..='D'));
    let candidates: Vec<(String, f64)> = match chosen {
        Some(letter) => std::iter::once((letter.to_string(), -0.05))
            .chain(
                ['A', 'B', 'C', 'D']
                    .iter()
                    .filter(|other| **other != letter)
                    .enumerate()
                    .map(|(rank, other)| (format!(" {other}"), -2.0 - rank as f64)),
            )
            .chain(std::iter::once(("答".to_string(), -6.0)))
            .collect(),
        None => vec![
            ("答".to_string(), -0.05),
            ("这".to_string(), -1.5),
            ("我".to_string(), -2.5),
        ],
    };
    let top: Vec<Value> = candidates
        .iter()
        .map(|(token, logprob)| json!({"token": token, "logprob": logprob, "bytes": null}))
        .collect();
    let first = &candidates[0];
    json!({
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": first.0},
            "finish_reason": "length",
            "logprobs": {"content": [{"token": first.0, "logprob": first.1, "top_logprobs": top}]}
        }],
        "usage": {"prompt_tokens": prompt_chars, "completion_tokens": 1, "total_tokens": prompt_chars + 1}
    })
    .to_string()
}

/// A legacy completions answer with `echo`: every prompt character is one token with
/// its offset; prompt tokens score -0.5 each, except the last one of a prompt, which
/// scores -0.1 when it is the first option letter of the scripted answer for that prompt
/// and -3.0 otherwise, so the scripted letter's text is the most likely. Without `echo`
/// only the generated token comes back, with no log-probabilities (as llama.cpp's server
/// answers), which a log-likelihood scorer cannot use.
fn echo_completion(script: &Script, counters: &Counters, body: &[u8]) -> Vec<u8> {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return response_bytes(400, &[], r#"{"error":{"message":"body is not JSON"}}"#);
    };
    let prompts: Vec<String> = match &body["prompt"] {
        Value::String(prompt) => vec![prompt.clone()],
        Value::Array(prompts) => prompts
            .iter()
            .filter_map(|prompt| prompt.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if let Ok(mut seen) = counters.completion_prompts.lock() {
        seen.push(prompts.first().cloned().unwrap_or_default());
    }
    let echo = body["echo"] == true && !script.ignores_echo;
    let mut prompt_tokens = 0;
    let choices: Vec<Value> = prompts
        .iter()
        .enumerate()
        .map(|(index, prompt)| {
            let characters: Vec<char> = prompt.chars().collect();
            prompt_tokens += characters.len();
            if !echo {
                return json!({"index": index, "text": "\n", "logprobs": null, "finish_reason": "length"});
            }
            let chosen = script
                .answer(prompt)
                .chars()
                .find(|character| matches!(character, 'A'..='D'));
            let last_letter = characters
                .iter()
                .rposition(|character| !character.is_whitespace());
            let mut tokens = Vec::with_capacity(characters.len() + 1);
            let mut logprobs = Vec::with_capacity(characters.len() + 1);
            let mut offsets = Vec::with_capacity(characters.len() + 1);
            for (position, character) in characters.iter().enumerate() {
                tokens.push(Value::from(character.to_string()));
                offsets.push(Value::from(position));
                let familiar = script.familiar_logprob(prompt, position);
                logprobs.push(if position == 0 {
                    Value::Null
                } else if let Some(logprob) = familiar {
                    Value::from(logprob)
                } else if script.misplaced_echo {
                    Value::from(-10.0)
                } else if Some(position) == last_letter {
                    Value::from(if Some(*character) == chosen { -0.1 } else { -3.0 })
                } else {
                    Value::from(-0.5)
                });
            }
            tokens.push(Value::from("\n"));
            offsets.push(Value::from(characters.len()));
            logprobs.push(Value::from(-1.0));
            json!({
                "index": index,
                "text": format!("{prompt}\n"),
                "logprobs": {"tokens": tokens, "token_logprobs": logprobs, "text_offset": offsets},
                "finish_reason": "length"
            })
        })
        .collect();
    let response = json!({
        "id": "cmpl-scripted",
        "object": "text_completion",
        "model": body["model"],
        "choices": choices,
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": prompts.len(), "total_tokens": prompt_tokens + prompts.len()}
    });
    response_bytes(200, &[], &response.to_string())
}

/// What to do with one request.
enum Action {
    Respond(Vec<u8>),
    /// Send these bytes, then close the connection.
    RespondAndClose(Vec<u8>),
    Reset,
    Hang,
}

async fn serve_connection(stream: TcpStream, peer: SocketAddr, state: Arc<ServerState>) {
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader).await {
        let served = state
            .script
            .files
            .iter()
            .find(|(path, _)| request.method == "GET" && *path == request.path);
        if let Some((_, bytes)) = served {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\n\r\n",
                bytes.len()
            );
            let stream = reader.get_mut();
            if stream.write_all(head.as_bytes()).await.is_err()
                || stream.write_all(bytes).await.is_err()
                || request.close
            {
                return;
            }
            continue;
        }
        if let Some(authorization) = &request.authorization
            && let Ok(mut seen) = state.counters.authorizations.lock()
        {
            seen.push(authorization.clone());
        }
        let action = match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/v1/models") => Action::Respond(response_bytes(
                200,
                &[],
                &json!({"object": "list", "data": [{"id": "scripted", "object": "model"}]})
                    .to_string(),
            )),
            ("GET", "/_scripted/requests") => {
                Action::Respond(response_bytes(200, &[], &request_log_json(&state)))
            }
            ("POST", "/v1/chat/completions") => {
                let record = state.counters.chat_log.lock().ok().map(|mut log| {
                    log.push(ChatRecord {
                        needle: String::new(),
                        peer: peer.ip().to_string(),
                        arrived_ms: wall_clock_ms(),
                        answered_ms: 0,
                    });
                    log.len() - 1
                });
                let action = chat(&state, &request.body).await;
                let needle = rule_needle(&state.script, &request.body);
                if let (Some(index), Ok(mut log)) = (record, state.counters.chat_log.lock())
                    && let Some(entry) = log.get_mut(index)
                {
                    entry.needle = needle;
                    entry.answered_ms = wall_clock_ms();
                }
                action
            }
            ("POST", "/v1/completions") => {
                state.counters.requests.fetch_add(1, Ordering::SeqCst);
                state
                    .counters
                    .logprob_requests
                    .fetch_add(1, Ordering::SeqCst);
                Action::Respond(echo_completion(
                    &state.script,
                    &state.counters,
                    &request.body,
                ))
            }
            _ => Action::Respond(response_bytes(
                404,
                &[],
                r#"{"error":{"message":"not found"}}"#,
            )),
        };
        let stream = reader.get_mut();
        match action {
            Action::Respond(bytes) => {
                if stream.write_all(&bytes).await.is_err() || request.close {
                    return;
                }
            }
            Action::RespondAndClose(bytes) => {
                let _ = stream.write_all(&bytes).await;
                let _ = stream.shutdown().await;
                return;
            }
            Action::Reset => {
                // Linger 0 makes close() send RST instead of FIN.
                let _ = socket2_linger_zero(stream);
                return;
            }
            Action::Hang => {
                let mut stopped = state.stopped.clone();
                let _ = stopped.changed().await;
                return;
            }
        }
    }
}

#[allow(deprecated)]
fn socket2_linger_zero(stream: &TcpStream) -> std::io::Result<()> {
    stream.set_linger(Some(Duration::ZERO))
}

async fn chat(state: &ServerState, body: &[u8]) -> Action {
    let counters = &state.counters;
    // A request beyond the endpoint's slots waits here, before it counts as served.
    let _slot = match &state.slots {
        Some(slots) => match slots.clone().acquire_owned().await {
            Ok(slot) => Some(slot),
            // The slots are never closed; answer like an overloaded server if they were.
            Err(_) => {
                return Action::Respond(response_bytes(
                    503,
                    &[],
                    r#"{"error":{"message":"no slot"}}"#,
                ));
            }
        },
        None => None,
    };
    let started = Instant::now();
    counters.requests.fetch_add(1, Ordering::SeqCst);
    let now_in_flight = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    counters
        .max_in_flight
        .fetch_max(now_in_flight, Ordering::SeqCst);
    counters.change(1);
    let mut question_index = None;
    let action = match &state.script.proxy {
        Some(proxy) => forward(proxy, body).await,
        None => chat_action(state, body, &mut question_index).await,
    };
    counters.in_flight.fetch_sub(1, Ordering::SeqCst);
    counters.change(-1);
    if let Ok(mut served) = counters.served.lock() {
        served.push(ServedInterval {
            question_index,
            started,
            finished: Instant::now(),
        });
    }
    action
}

/// Answers one chat request; `question_index` is set to the index of its question in
/// the counters' `chat_questions`.
async fn chat_action(
    state: &ServerState,
    body: &[u8],
    question_index: &mut Option<usize>,
) -> Action {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return Action::Respond(response_bytes(
            400,
            &[],
            r#"{"error":{"message":"body is not JSON"}}"#,
        ));
    };
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let question = messages
        .iter()
        .rev()
        .find(|message| message["role"] == "user")
        .and_then(|message| message["content"].as_str())
        .unwrap_or_default()
        .to_string();
    if let Ok(mut seen) = state.counters.chat_questions.lock() {
        seen.push(question.clone());
        *question_index = Some(seen.len() - 1);
    }
    let contents = messages
        .iter()
        .filter_map(|message| message["content"].as_str());
    let prompt_chars: usize = match &state.script.prompt_tokens {
        Some((counter, overhead)) => {
            contents.map(|content| (counter.0)(content)).sum::<usize>() + overhead
        }
        None => contents.map(|content| content.chars().count()).sum(),
    };
    if !state.script.delay.is_zero() {
        tokio::time::sleep(state.script.delay).await;
    }
    let model = &body["model"];
    let Some(fault) = active_fault(state, &question) else {
        let system: String = messages
            .iter()
            .filter(|message| message["role"] == "system")
            .filter_map(|message| message["content"].as_str())
            .collect();
        let answer = state.script.answer_under(&system, &question);
        if body["logprobs"] == true {
            state
                .counters
                .logprob_requests
                .fetch_add(1, Ordering::SeqCst);
            return Action::Respond(response_bytes(
                200,
                &[],
                &first_token_completion(model, answer, prompt_chars),
            ));
        }
        return Action::Respond(response_bytes(
            200,
            &[],
            &completion(model, answer, "stop", prompt_chars),
        ));
    };
    match fault {
        Fault::Status {
            status,
            retry_after_secs,
        } => {
            let headers: Vec<(String, String)> = retry_after_secs
                .map(|secs| ("retry-after".to_string(), secs.to_string()))
                .into_iter()
                .collect();
            let body =
                json!({"error": {"message": format!("scripted {status}"), "type": "server_error"}})
                    .to_string();
            Action::Respond(response_bytes(status, &headers, &body))
        }
        Fault::Hang => Action::Hang,
        Fault::Reset => Action::Reset,
        Fault::Garbage => Action::Respond(response_bytes(
            200,
            &[],
            "<html><body>502 Bad Gateway</body></html>",
        )),
        Fault::TruncatedBody => {
            let full = completion(model, "B", "stop", prompt_chars);
            let mut bytes = response_bytes(200, &[], &full);
            bytes.truncate(bytes.len() - full.len() / 2);
            Action::RespondAndClose(bytes)
        }
        Fault::EmptyContent => Action::Respond(response_bytes(
            200,
            &[],
            &completion(model, "", "stop", prompt_chars),
        )),
        Fault::Moderation => Action::Respond(response_bytes(
            400,
            &[],
            r#"{"error":{"code":"data_inspection_failed","message":"Input data may contain inappropriate content.","type":"data_inspection_failed"}}"#,
        )),
        Fault::ContentFilter => Action::Respond(response_bytes(
            200,
            &[],
            &completion(model, "", "content_filter", prompt_chars),
        )),
        Fault::Cut(text) => Action::Respond(response_bytes(
            200,
            &[],
            &completion(model, &text, "length", prompt_chars),
        )),
        Fault::Redirect(location) => Action::Respond(response_bytes(
            303,
            &[("location".to_string(), location)],
            "{}",
        )),
        Fault::HugeBody(bytes) => {
            let filler = "A".repeat(bytes);
            Action::Respond(response_bytes(
                200,
                &[],
                &completion(model, &filler, "stop", prompt_chars),
            ))
        }
        Fault::Answer(text) => Action::Respond(response_bytes(
            200,
            &[],
            &completion(model, &text, "stop", prompt_chars),
        )),
    }
}

/// Forwards one request to the proxy's upstream and rewrites the answer text.
async fn forward(proxy: &Proxy, body: &[u8]) -> Action {
    let stream = TcpStream::connect(
        proxy
            .upstream
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default(),
    )
    .await;
    let Ok(stream) = stream else {
        return Action::Respond(response_bytes(
            502,
            &[],
            r#"{"error":{"message":"upstream unreachable"}}"#,
        ));
    };
    let path = format!(
        "/{}/chat/completions",
        proxy
            .upstream
            .trim_start_matches("http://")
            .split_once('/')
            .map_or("v1", |(_, path)| path)
    );
    let mut reader = BufReader::new(stream);
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: upstream\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    if reader.get_mut().write_all(head.as_bytes()).await.is_err()
        || reader.get_mut().write_all(body).await.is_err()
    {
        return Action::Respond(response_bytes(
            502,
            &[],
            r#"{"error":{"message":"upstream write failed"}}"#,
        ));
    }
    let mut response = Vec::new();
    if reader.read_to_end(&mut response).await.is_err() {
        return Action::Respond(response_bytes(
            502,
            &[],
            r#"{"error":{"message":"upstream read failed"}}"#,
        ));
    }
    let text = String::from_utf8_lossy(&response);
    let Some((head, upstream_body)) = text.split_once("\r\n\r\n") else {
        return Action::Respond(response_bytes(
            502,
            &[],
            r#"{"error":{"message":"upstream sent no body"}}"#,
        ));
    };
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(502);
    let mut rewritten = upstream_body.to_string();
    for (from, to) in &proxy.rewrites {
        rewritten = rewritten.replace(from.as_str(), to.as_str());
    }
    Action::Respond(response_bytes(status, &[], &rewritten))
}

/// The needle of the first rule (answer, then fault) the request's last user message
/// matches; empty when none does.
fn rule_needle(script: &Script, body: &[u8]) -> String {
    let question = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|body| {
            body["messages"].as_array().and_then(|messages| {
                messages
                    .iter()
                    .rev()
                    .find(|message| message["role"] == "user")
                    .and_then(|message| message["content"].as_str())
                    .map(str::to_string)
            })
        })
        .unwrap_or_default();
    script
        .rules
        .iter()
        .map(|(needle, _)| needle)
        .chain(script.faults.iter().map(|rule| &rule.needle))
        .find(|needle| question.contains(needle.as_str()))
        .cloned()
        .unwrap_or_default()
}

/// The request log as JSON: `{"requests": [{"needle", "peer", "arrived_ms",
/// "answered_ms"}, ...]}` in arrival order.
fn request_log_json(state: &ServerState) -> String {
    let requests: Vec<Value> = state
        .counters
        .chat_log
        .lock()
        .map(|log| {
            log.iter()
                .map(|record| {
                    json!({
                        "needle": record.needle,
                        "peer": record.peer,
                        "arrived_ms": record.arrived_ms,
                        "answered_ms": record.answered_ms,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({ "requests": requests }).to_string()
}

/// The fault that applies to this request, counting it against the rule's `times`.
fn active_fault(state: &ServerState, question: &str) -> Option<Fault> {
    let mut hits = state.fault_hits.lock().ok()?;
    for (index, rule) in state.script.faults.iter().enumerate() {
        if !question.contains(rule.needle.as_str()) {
            continue;
        }
        let seen = hits.entry(index).or_insert(0);
        *seen += 1;
        if rule.times.is_none_or(|times| *seen <= times) {
            return Some(rule.fault.clone());
        }
        return None;
    }
    None
}
