//! An OpenAI-compatible client: one request in, one [`ItemResult`] out. Chat completions
//! for generation and first-token scoring; legacy completions with `echo` for
//! log-likelihood scoring ([`Call::Loglik`]) and for every prompt token's
//! log-probability ([`Call::PromptLogprobs`], the contamination audit's Min-K% test).
//!
//! Every failure becomes a classified result (never a panic, never a lost item):
//! connect errors, timeouts, HTTP statuses, bodies that are not chat completions.
//! Transient failures (connect, timeout, 5xx) are retried with exponential backoff and
//! jitter, honouring `Retry-After`, up to `max_attempts`. Throttling (429, 503) is the
//! endpoint saying "later", not a failure: it never uses up an attempt; the item waits
//! (`Retry-After`, else capped backoff) until the endpoint takes it or the throttle
//! deadline passes. The key is sent only in the `Authorization` header and never appears
//! in a result or a log line.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use jianzhen_proto::v1::{
    AttemptRecord, ChatMessage, EndpointConfig, ErrorClass, ItemResult, LoglikOption, TokenLogprob,
};
use rand::Rng;
use serde::Serialize;
use serde_json::Value;

use crate::egress::{EgressPolicy, EgressRefusal, GuardedResolver};
use crate::limiter::RateLimiter;

/// The default cap on a reply's body: far above any completion of a benchmark item, far
/// below what would hurt a worker (an endpoint answering 80 MiB must not be read whole).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;

/// The HTTP client for endpoints, with the egress guard around every call: its resolver
/// refuses forbidden addresses, it never follows redirects, and [`attempt`] checks each
/// URL before sending.
#[derive(Clone)]
pub struct EndpointHttp {
    client: reqwest::Client,
    policy: std::sync::Arc<EgressPolicy>,
}

impl EndpointHttp {
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(policy: EgressPolicy) -> Result<EndpointHttp, reqwest::Error> {
        let policy = std::sync::Arc::new(policy);
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(std::sync::Arc::new(GuardedResolver {
                policy: policy.clone(),
            }))
            .build()?;
        Ok(EndpointHttp { client, policy })
    }
}

/// Whether a reqwest error was the egress guard refusing an address, and why.
fn egress_refusal(error: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(refusal) = current.downcast_ref::<EgressRefusal>() {
            return Some(refusal.to_string());
        }
        source = current.source();
    }
    None
}

/// Longest wait a `Retry-After` header may impose on one attempt.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// How long one item may keep being throttled when the lease does not say
/// (`throttle_deadline_ms` = 0): generous, because an API that throttles for ten minutes
/// is slow, not broken.
pub const DEFAULT_THROTTLE_DEADLINE: Duration = jianzhen_proto::DEFAULT_THROTTLE_DEADLINE;
/// Longest wait between two throttled requests of one item without `Retry-After`.
const MAX_THROTTLE_BACKOFF: Duration = Duration::from_secs(30);
/// How much of an unexpected body is kept in an error message (it reaches reports).
const BODY_SNIPPET_CHARS: usize = 200;

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Serialize)]
struct ChatRequestBody<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    temperature: f64,
    max_tokens: u32,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_logprobs: Option<u32>,
}

#[derive(Serialize)]
struct EchoRequestBody<'a> {
    model: &'a str,
    prompt: Vec<String>,
    temperature: f64,
    /// One generated token: some servers refuse 0; it lies past the prompt and is ignored.
    max_tokens: u32,
    echo: bool,
    logprobs: u32,
}

/// What one item asks of the endpoint.
#[derive(Debug, Clone, Copy)]
pub enum Call<'a> {
    /// A chat completion; with `top_logprobs > 0`, the first token's top candidates too.
    Chat {
        messages: &'a [ChatMessage],
        top_logprobs: u32,
    },
    /// Every option's text (`prefix + continuation`) scored by the prompt log-probabilities
    /// a completions endpoint echoes back.
    Loglik {
        prefix: &'a str,
        options: &'a [LoglikOption],
    },
    /// Every prompt token's log-probability of `text`, echoed by a completions endpoint.
    PromptLogprobs { text: &'a str },
}

/// The outcome of one attempt, before retry decisions.
struct Attempt {
    result: ItemResult,
    retryable: bool,
    /// 429 or 503: the endpoint asks us to slow down (never counted against
    /// `max_attempts`).
    throttled: bool,
    retry_after: Option<Duration>,
}

/// Markers of content moderation in error bodies: DashScope (`data_inspection_failed`,
/// `DataInspectionFailed`), OpenAI/Azure (`content_filter`, `content_policy_violation`),
/// Zhipu (`1301`, 敏感), Qianfan (`336003`-style `sensitive`). A refusal of the content
/// is an outcome of the evaluation, not an infrastructure failure: never retried.
const MODERATION_MARKERS: [&str; 7] = [
    "data_inspection_failed",
    "datainspectionfailed",
    "content_filter",
    "content_policy_violation",
    "\"1301\"",
    "敏感",
    "sensitive",
];

fn is_moderation_body(body: &str) -> bool {
    let lowered = body.to_lowercase();
    MODERATION_MARKERS
        .iter()
        .any(|marker| lowered.contains(marker))
}

/// A short piece of an unexpected body for an error message, scrubbed of anything that
/// looks like a credential: a hostile or misdirected endpoint (a metadata service) must
/// not get its secrets into the store and the report through our error messages.
fn snippet(text: &str) -> String {
    let mut cut: String = text.chars().take(BODY_SNIPPET_CHARS).collect();
    if text.chars().count() > BODY_SNIPPET_CHARS {
        cut.push('…');
    }
    scrub_secrets(&cut)
}

/// Replaces every run of key-like characters (letters, digits, `-_+/=.`) of 16 or more
/// that mixes letters and digits, and every `sk-…` token, with `[redacted]`.
pub fn scrub_secrets(text: &str) -> String {
    let is_key_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/' | '=' | '.');
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let has_digit = run.chars().any(|c| c.is_ascii_digit());
        let has_letter = run.chars().any(|c| c.is_ascii_alphabetic());
        let looks_like_key = (run.len() >= 16 && has_digit && has_letter)
            || (run.starts_with("sk-") && run.len() > 6);
        if looks_like_key {
            out.push_str("[redacted]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if is_key_char(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Reads a body up to `limit` bytes. `Err(None)`: larger than the limit.
async fn read_capped(
    mut response: reqwest::Response,
    limit: u64,
) -> Result<String, Option<reqwest::Error>> {
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(None);
    }
    let mut body: Vec<u8> = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Some)? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn failure(class: ErrorClass, message: String, http_status: u32) -> ItemResult {
    ItemResult {
        error_class: class as i32,
        error_message: message,
        http_status,
        ..ItemResult::default()
    }
}

/// Reads a chat completion body. `Err` carries a message saying what was wrong.
pub fn parse_chat_body(body: &str) -> Result<ItemResult, String> {
    let value: Value = serde_json::from_str(body)
        .map_err(|error| format!("body is not JSON ({error}): {}", snippet(body)))?;
    let choice = value
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|choices| choices.first())
        .ok_or_else(|| format!("body has no `choices[0]`: {}", snippet(body)))?;
    let message = choice
        .get("message")
        .ok_or_else(|| format!("`choices[0]` has no `message`: {}", snippet(body)))?;
    let text = match message.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => {
            return Err(format!(
                "`message.content` is not a string: {}",
                snippet(&other.to_string())
            ));
        }
    };
    let finish_reason = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let usage = value.get("usage");
    let tokens = |field: &str| {
        usage
            .and_then(|usage| usage.get(field))
            .and_then(Value::as_u64)
            .and_then(|count| u32::try_from(count).ok())
            .unwrap_or(0)
    };
    Ok(ItemResult {
        text,
        finish_reason,
        prompt_tokens: tokens("prompt_tokens"),
        completion_tokens: tokens("completion_tokens"),
        first_token_logprobs: first_token_logprobs(choice),
        ..ItemResult::default()
    })
}

/// The first generated token's top candidates, from the chat shape
/// (`logprobs.content[0].top_logprobs[]`, OpenAI, vLLM, llama.cpp's server) or the legacy
/// completions shape (`logprobs.top_logprobs[0]` as a token → logprob map).
fn first_token_logprobs(choice: &Value) -> Vec<jianzhen_proto::v1::TokenLogprob> {
    let logprobs = &choice["logprobs"];
    if let Some(candidates) = logprobs["content"][0]["top_logprobs"].as_array() {
        return candidates
            .iter()
            .filter_map(|candidate| {
                Some(jianzhen_proto::v1::TokenLogprob {
                    token: candidate["token"].as_str()?.to_string(),
                    logprob: candidate["logprob"].as_f64()?,
                })
            })
            .collect();
    }
    if let Some(map) = logprobs["top_logprobs"][0].as_object() {
        return map
            .iter()
            .filter_map(|(token, logprob)| {
                Some(jianzhen_proto::v1::TokenLogprob {
                    token: token.clone(),
                    logprob: logprob.as_f64()?,
                })
            })
            .collect();
    }
    Vec::new()
}

/// Why an echo response cannot be scored.
#[derive(Debug)]
enum EchoProblem {
    /// Not a completions body: retried like any bad body.
    Malformed(String),
    /// A completions body without prompt log-probabilities covering the options: the
    /// endpoint does not support `echo` (llama.cpp's server, chat-only APIs).
    Unsupported(String),
}

/// Reads an echoed completions body: for each option, the sum of the log-probabilities
/// of the prompt tokens that lie inside its continuation (by `text_offset`, in
/// characters, as OpenAI and vLLM count them). A token that starts before the
/// continuation belongs to the prefix; the generated token lies past the prompt and is
/// ignored.
fn parse_echo_body(
    body: &str,
    prefix: &str,
    options: &[LoglikOption],
) -> Result<ItemResult, EchoProblem> {
    let value: Value = serde_json::from_str(body).map_err(|error| {
        EchoProblem::Malformed(format!("response is not JSON ({error}): {}", snippet(body)))
    })?;
    let Some(choices) = value["choices"].as_array() else {
        return Err(EchoProblem::Malformed(format!(
            "response has no `choices`: {}",
            snippet(body)
        )));
    };
    let unsupported = |problem: String| {
        EchoProblem::Unsupported(format!(
            "{problem}; the endpoint does not echo prompt log-probabilities (llama.cpp's server and chat-only APIs do not): use scoring = \"loglik_first_token\""
        ))
    };
    if choices.len() != options.len() {
        return Err(unsupported(format!(
            "{} prompts sent, {} choices returned",
            options.len(),
            choices.len()
        )));
    }
    let prefix_chars = prefix.chars().count() as u64;
    let mut candidates = Vec::with_capacity(options.len());
    for (position, choice) in choices.iter().enumerate() {
        let index = choice["index"]
            .as_u64()
            .and_then(|index| usize::try_from(index).ok())
            .unwrap_or(position);
        let Some(option) = options.get(index) else {
            return Err(EchoProblem::Malformed(format!(
                "choice index {index} is past the {} prompts",
                options.len()
            )));
        };
        let end = prefix_chars + option.continuation.chars().count() as u64;
        let logprobs = &choice["logprobs"];
        let (Some(offsets), Some(values)) = (
            logprobs["text_offset"].as_array(),
            logprobs["token_logprobs"].as_array(),
        ) else {
            return Err(unsupported(format!(
                "choice {index} has no `logprobs.text_offset` / `token_logprobs`"
            )));
        };
        let mut sum = 0.0;
        let mut counted = 0;
        for (offset, logprob) in offsets.iter().zip(values) {
            let Some(offset) = offset.as_u64() else {
                continue;
            };
            if offset < prefix_chars || offset >= end {
                continue;
            }
            let Some(logprob) = logprob.as_f64() else {
                return Err(unsupported(format!(
                    "choice {index} has no log-probability for the prompt token at {offset}"
                )));
            };
            sum += logprob;
            counted += 1;
        }
        if counted == 0 {
            return Err(unsupported(format!(
                "choice {index}: no echoed token lies inside option {}'s text",
                option.label
            )));
        }
        candidates.push(TokenLogprob {
            token: option.label.clone(),
            logprob: sum,
        });
    }
    let usage = &value["usage"];
    let count = |key: &str| {
        usage[key]
            .as_u64()
            .and_then(|count| u32::try_from(count).ok())
            .unwrap_or(0)
    };
    Ok(ItemResult {
        prompt_tokens: count("prompt_tokens"),
        completion_tokens: count("completion_tokens"),
        option_logliks: candidates,
        ..ItemResult::default()
    })
}

/// Reads an echoed completions body for one prompt: every prompt token (by
/// `text_offset`, before the end of `text`) that has a log-probability, in order, bounded
/// by [`jianzhen_proto::bound_prompt_token_logprobs`]. The first token has none (nothing
/// precedes it); the generated token lies past the prompt and is ignored.
fn parse_prompt_logprobs_body(body: &str, text: &str) -> Result<ItemResult, EchoProblem> {
    let value: Value = serde_json::from_str(body).map_err(|error| {
        EchoProblem::Malformed(format!("response is not JSON ({error}): {}", snippet(body)))
    })?;
    let Some(choice) = value["choices"]
        .as_array()
        .and_then(|choices| choices.first())
    else {
        return Err(EchoProblem::Malformed(format!(
            "response has no `choices[0]`: {}",
            snippet(body)
        )));
    };
    let unsupported = |problem: &str| {
        EchoProblem::Unsupported(format!(
            "{problem}; the endpoint does not echo prompt log-probabilities (llama.cpp's server and chat-only APIs do not), so the Min-K% test cannot run on it"
        ))
    };
    let logprobs = &choice["logprobs"];
    let (Some(tokens), Some(offsets), Some(values)) = (
        logprobs["tokens"].as_array(),
        logprobs["text_offset"].as_array(),
        logprobs["token_logprobs"].as_array(),
    ) else {
        return Err(unsupported(
            "the reply has no `logprobs.tokens` / `text_offset` / `token_logprobs`",
        ));
    };
    let end = text.chars().count() as u64;
    let mut prompt_tokens = Vec::new();
    for ((token, offset), logprob) in tokens.iter().zip(offsets).zip(values) {
        if prompt_tokens.len() > jianzhen_proto::MAX_PROMPT_TOKEN_LOGPROBS {
            break;
        }
        let (Some(offset), Some(logprob)) = (offset.as_u64(), logprob.as_f64()) else {
            continue;
        };
        if offset >= end {
            continue;
        }
        prompt_tokens.push(TokenLogprob {
            token: token.as_str().unwrap_or_default().to_string(),
            logprob,
        });
    }
    jianzhen_proto::bound_prompt_token_logprobs(&mut prompt_tokens);
    if prompt_tokens.is_empty() {
        return Err(unsupported(
            "no echoed prompt token carries a log-probability",
        ));
    }
    let usage = &value["usage"];
    let count = |key: &str| {
        usage[key]
            .as_u64()
            .and_then(|count| u32::try_from(count).ok())
            .unwrap_or(0)
    };
    Ok(ItemResult {
        prompt_tokens: count("prompt_tokens"),
        completion_tokens: count("completion_tokens"),
        prompt_token_logprobs: prompt_tokens,
        ..ItemResult::default()
    })
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let seconds: f64 = value.trim().parse().ok()?;
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(seconds).min(MAX_RETRY_AFTER))
}

async fn attempt(
    http: &EndpointHttp,
    endpoint: &EndpointConfig,
    api_key: Option<&str>,
    call: Call<'_>,
) -> Attempt {
    let base = endpoint.base_url.trim_end_matches('/');
    let (url, body) = match call {
        Call::Chat {
            messages,
            top_logprobs,
        } => {
            let body = ChatRequestBody {
                model: &endpoint.model,
                messages: messages
                    .iter()
                    .map(|message| WireMessage {
                        role: &message.role,
                        content: &message.content,
                    })
                    .collect(),
                temperature: endpoint.temperature,
                max_tokens: endpoint.max_tokens,
                stream: false,
                logprobs: (top_logprobs > 0).then_some(true),
                top_logprobs: (top_logprobs > 0).then_some(top_logprobs),
            };
            (
                format!("{base}/chat/completions"),
                serde_json::to_value(&body),
            )
        }
        Call::Loglik { prefix, options } => {
            let body = EchoRequestBody {
                model: &endpoint.model,
                prompt: options
                    .iter()
                    .map(|option| format!("{prefix}{}", option.continuation))
                    .collect(),
                temperature: 0.0,
                max_tokens: 1,
                echo: true,
                logprobs: 1,
            };
            (format!("{base}/completions"), serde_json::to_value(&body))
        }
        Call::PromptLogprobs { text } => {
            let body = EchoRequestBody {
                model: &endpoint.model,
                prompt: vec![text.to_string()],
                temperature: 0.0,
                max_tokens: 1,
                echo: true,
                logprobs: 1,
            };
            (format!("{base}/completions"), serde_json::to_value(&body))
        }
    };
    let body = match body {
        Ok(body) => body,
        Err(error) => {
            return Attempt {
                result: failure(
                    ErrorClass::Config,
                    format!("cannot encode the request: {error}"),
                    0,
                ),
                retryable: false,
                throttled: false,
                retry_after: None,
            };
        }
    };
    let refused = |message: String| Attempt {
        result: failure(ErrorClass::Config, message, 0),
        retryable: false,
        throttled: false,
        retry_after: None,
    };
    if let Err(refusal) = http.policy.check_url(&url, api_key.is_some()) {
        return refused(refusal.to_string());
    }
    let mut request = http
        .client
        .post(&url)
        .timeout(Duration::from_millis(endpoint.timeout_ms.max(1)))
        .json(&body);
    if let Some(key) = api_key {
        request = request.bearer_auth(key);
    }
    let transient = |class: ErrorClass, message: String, http_status: u32| Attempt {
        result: failure(class, message, http_status),
        retryable: true,
        throttled: false,
        retry_after: None,
    };
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => {
            if let Some(refusal) = egress_refusal(&error) {
                return refused(refusal);
            }
            let class = if error.is_timeout() {
                ErrorClass::Timeout
            } else {
                ErrorClass::Connect
            };
            // reqwest's error display holds the URL, never the headers.
            return transient(class, format!("request to {url} failed: {error}"), 0);
        }
    };
    let status = response.status();
    let http_status = u32::from(status.as_u16());
    let wait = retry_after(response.headers());
    let limit = if endpoint.max_response_bytes == 0 {
        DEFAULT_MAX_RESPONSE_BYTES
    } else {
        endpoint.max_response_bytes
    };
    let text = match read_capped(response, limit).await {
        Ok(text) => text,
        // Asking again would bring the same flood: not retried.
        Err(None) => {
            return Attempt {
                result: failure(
                    ErrorClass::BadBody,
                    format!(
                        "response too large: the reply from {url} exceeds {limit} bytes (max_response_bytes of the endpoint)"
                    ),
                    http_status,
                ),
                retryable: false,
                throttled: false,
                retry_after: None,
            };
        }
        Err(Some(error)) => {
            let class = if error.is_timeout() {
                ErrorClass::Timeout
            } else {
                ErrorClass::Connect
            };
            return transient(
                class,
                format!("reading the body from {url} failed: {error}"),
                http_status,
            );
        }
    };
    if !status.is_success() {
        if status.is_client_error() && status.as_u16() != 429 && is_moderation_body(&text) {
            return Attempt {
                result: failure(
                    ErrorClass::Moderation,
                    format!(
                        "HTTP {status} from {url}: content refused by moderation: {}",
                        snippet(&text)
                    ),
                    http_status,
                ),
                retryable: false,
                throttled: false,
                retry_after: None,
            };
        }
        // 503 is what gateways (and many Chinese APIs) answer when overloaded, with or
        // without Retry-After: the same "later" as 429.
        let throttled = matches!(status.as_u16(), 429 | 503);
        return Attempt {
            result: failure(
                ErrorClass::HttpStatus,
                format!("HTTP {status} from {url}: {}", snippet(&text)),
                http_status,
            ),
            retryable: status.as_u16() == 429 || status.is_server_error(),
            throttled,
            retry_after: wait,
        };
    }
    let echoed = match call {
        Call::Chat { .. } => Ok(parse_chat_body(&text)),
        Call::Loglik { prefix, options } => parse_echo_body(&text, prefix, options).map(Ok),
        Call::PromptLogprobs { text: prompt } => parse_prompt_logprobs_body(&text, prompt).map(Ok),
    };
    let parsed = match echoed {
        Ok(parsed) => parsed,
        // The endpoint answered, but without usable prompt log-probabilities (option
        // sums or Min-K% tokens): asking again will not change that.
        Err(EchoProblem::Unsupported(problem)) => {
            return Attempt {
                result: failure(ErrorClass::BadBody, problem, http_status),
                retryable: false,
                throttled: false,
                retry_after: None,
            };
        }
        Err(EchoProblem::Malformed(problem)) => Err(problem),
    };
    match parsed {
        Ok(mut result) => {
            result.http_status = http_status;
            Attempt {
                result,
                retryable: false,
                throttled: false,
                retry_after: None,
            }
        }
        // A 2xx body that is not a completion is usually a proxy's error page: retry.
        Err(problem) => transient(ErrorClass::BadBody, problem, http_status),
    }
}

/// The echo check's prompt: a counting sequence. After its first numbers a working model
/// predicts every token almost surely, so correctly echoed log-probabilities of the
/// continuation are close to 0.
const ECHO_CHECK_PREFIX: &str = "1,";

/// Mean log-probability per character of the counting sequence below which echoed
/// log-probabilities cannot be the model's own. Measured 2026-11-29 with
/// Qwen2.5-Coder-0.5B on llama-cpp-python 0.3.36's server, which scores each prompt token
/// with the distribution that follows it: -12.73 per character; the same server's
/// distributions read at the right position give about -0.1.
const ECHO_CHECK_MIN_MEAN_PER_CHAR: f64 = -1.5;

fn echo_check_continuation() -> String {
    (2..=40).map(|number| format!(" {number},")).collect()
}

/// What the echo check found about an endpoint's echoed prompt log-probabilities.
#[derive(Debug, Clone, PartialEq)]
pub enum EchoCheck {
    /// They look like the model's own predictions.
    Passed,
    /// They cannot be: scores from them would be wrong. Says why and what to do.
    Failed(String),
    /// No verdict (the request failed); the items go ahead and report their own errors.
    Inconclusive,
    /// The endpoint answered the check without prompt log-probabilities (llama.cpp's
    /// server ignores `echo`): option-sum items go ahead and report it themselves, as
    /// they always have; prompt-log-probability items (Min-K%) end without a request.
    NotEchoed(String),
}

/// The verdict on the summed log-probability of the counting sequence's `characters`.
fn echo_check_verdict(sum: f64, characters: usize) -> EchoCheck {
    let mean = sum / characters.max(1) as f64;
    if mean >= ECHO_CHECK_MIN_MEAN_PER_CHAR {
        return EchoCheck::Passed;
    }
    EchoCheck::Failed(format!(
        "the endpoint's echoed prompt log-probabilities fail Jianzhen's check: the counting sequence \"1, 2, 3, … 40\" scored {mean:.2} per character, where a model's own predictions give about -0.1 (llama-cpp-python's server is known to score each prompt token with the distribution of the next one), so log-likelihood scores from it would be wrong; use scoring = \"loglik_first_token\""
    ))
}

/// Asks the endpoint to echo a counting sequence and checks that the log-probabilities
/// it returns are plausible, before any item is scored with them: a server that
/// misplaces them (llama-cpp-python's) would otherwise produce confident, wrong scores.
pub async fn check_echo_logprobs(
    http: &EndpointHttp,
    endpoint: &EndpointConfig,
    api_key: Option<&str>,
    limiter: &RateLimiter,
) -> EchoCheck {
    let continuation = echo_check_continuation();
    let options = [LoglikOption {
        label: "check".to_string(),
        continuation: continuation.clone(),
    }];
    let call = Call::Loglik {
        prefix: ECHO_CHECK_PREFIX,
        options: &options,
    };
    // One attempt, bounded: the coordinator's progress deadline allows for this much; a
    // check that gets no answer lets the items go ahead and report their own errors.
    let bound_ms =
        u64::try_from(jianzhen_proto::ECHO_CHECK_TIMEOUT.as_millis()).unwrap_or(u64::MAX);
    let checked = EndpointConfig {
        max_attempts: 1,
        // Throttled once is inconclusive too: the items wait out the throttling themselves.
        throttle_deadline_ms: 1,
        timeout_ms: endpoint.timeout_ms.clamp(1, bound_ms),
        ..endpoint.clone()
    };
    // Its throttled waits are not the lease's business: the check is bounded anyway.
    let result = complete(
        http,
        &checked,
        api_key,
        call,
        limiter,
        &ThrottleSignal::default(),
    )
    .await;
    // A 2xx body without usable prompt log-probabilities: the endpoint answers
    // completions but does not echo.
    if result.error_class == ErrorClass::BadBody as i32 && (200..300).contains(&result.http_status)
    {
        tracing::debug!(endpoint = %endpoint.name, error = %result.error_message, "the endpoint does not echo prompt log-probabilities");
        return EchoCheck::NotEchoed(result.error_message);
    }
    if result.error_class != ErrorClass::None as i32 {
        tracing::debug!(endpoint = %endpoint.name, error = %result.error_message, "echo check inconclusive");
        return EchoCheck::Inconclusive;
    }
    let Some(sum) = result
        .option_logliks
        .first()
        .map(|candidate| candidate.logprob)
    else {
        return EchoCheck::Inconclusive;
    };
    let verdict = echo_check_verdict(sum, continuation.chars().count());
    if let EchoCheck::Failed(message) = &verdict {
        tracing::warn!(endpoint = %endpoint.name, %message, "echoed log-probabilities failed the check; the shard's loglik_echo items end in api_error");
    }
    verdict
}

/// Exponential backoff with full jitter: 0.5 s, 1 s, 2 s ... capped at 30 s.
fn backoff(attempt_number: u32) -> Duration {
    let ceiling_ms = 500u64
        .saturating_mul(1 << attempt_number.min(6))
        .min(30_000);
    let jittered = rand::rng().random_range(ceiling_ms / 2..=ceiling_ms);
    Duration::from_millis(jittered)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Counts the throttled waits of a lease's requests, so the shard loop can tell the
/// coordinator that the lease is waiting on the endpoint, not stuck (see
/// `ReportResultsRequest.throttle_waits`).
#[derive(Debug, Default)]
pub struct ThrottleSignal {
    waits: AtomicU32,
    /// Requests sleeping on a throttled answer right now: a long backoff (or
    /// `Retry-After`) must keep the lease alive while it lasts, not only when it begins.
    waiting: AtomicU32,
}

/// Counts one request as waiting on throttling while it lives.
struct WaitingGuard<'a>(&'a ThrottleSignal);

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ThrottleSignal {
    fn note_wait(&self) {
        self.waits.fetch_add(1, Ordering::Relaxed);
    }

    fn waiting(&self) -> WaitingGuard<'_> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        WaitingGuard(self)
    }

    /// The waits begun since the last call, plus the ones still going on.
    pub fn take(&self) -> u32 {
        self.waits
            .swap(0, Ordering::Relaxed)
            .saturating_add(self.waiting.load(Ordering::Relaxed))
    }
}

/// The lease's throttle deadline, or the default when it carries none.
fn throttle_deadline(endpoint: &EndpointConfig) -> Duration {
    if endpoint.throttle_deadline_ms == 0 {
        DEFAULT_THROTTLE_DEADLINE
    } else {
        Duration::from_millis(endpoint.throttle_deadline_ms)
    }
}

/// Sends one call, each request waiting for a slot of `limiter`. Real failures are
/// retried up to `max_attempts`; throttled requests (429, 503) are sent again after
/// `Retry-After` (else a capped backoff) without using up an attempt, until the lease's
/// throttle deadline has passed since the item was first throttled. Always returns a
/// result; its `error_class` says whether it is an answer, its `attempts` counts every
/// request sent (of which `throttled` were throttled) and its `attempt_log` shows each.
pub async fn complete(
    http: &EndpointHttp,
    endpoint: &EndpointConfig,
    api_key: Option<&str>,
    call: Call<'_>,
    limiter: &RateLimiter,
    signal: &ThrottleSignal,
) -> ItemResult {
    let started = Instant::now();
    let max_attempts = endpoint.max_attempts.max(1);
    let deadline = throttle_deadline(endpoint);
    let mut log = Vec::new();
    let mut throttled = 0u32;
    // Requests that failed for real: only these count against `max_attempts`.
    let mut failures = 0u32;
    let mut first_throttled: Option<Instant> = None;
    loop {
        limiter.acquire().await;
        let attempt_started = Instant::now();
        let outcome = {
            let _in_flight = crate::metrics::InFlight::start();
            attempt(http, endpoint, api_key, call).await
        };
        count_request(&outcome);
        let mut record = AttemptRecord {
            http_status: outcome.result.http_status,
            error_class: outcome.result.error_class,
            error_message: outcome.result.error_message.clone(),
            latency_ms: millis(attempt_started.elapsed()),
            waited_ms: 0,
        };
        let finish = |log: Vec<AttemptRecord>, mut result: ItemResult, throttled: u32| {
            result.attempts = u32::try_from(log.len()).unwrap_or(u32::MAX);
            result.throttled = throttled;
            result.attempt_log = log;
            result.latency_ms = millis(started.elapsed());
            count_item(&result);
            result
        };
        let wait = if outcome.throttled {
            throttled = throttled.saturating_add(1);
            let since = *first_throttled.get_or_insert(attempt_started);
            let spent = since.elapsed();
            if spent >= deadline {
                log.push(record);
                let mut result = outcome.result;
                result.error_message = format!(
                    "throttled for {}s ({throttled} requests answered 429/503), past the run's throttle deadline of {}s; raise throttle_deadline_secs of the endpoint or lower its max_concurrency / requests_per_second, then `jianzhen retry`: {}",
                    spent.as_secs(),
                    deadline.as_secs(),
                    result.error_message
                );
                return finish(log, result, throttled);
            }
            let consecutive = log
                .iter()
                .rev()
                .take_while(|record| is_throttle_status(record.http_status))
                .count();
            let wait = outcome.retry_after.unwrap_or_else(|| {
                throttle_backoff(u32::try_from(consecutive).unwrap_or(u32::MAX))
            });
            signal.note_wait();
            // Never sleep past the deadline: the last request goes out just before it.
            wait.min(deadline.saturating_sub(spent))
        } else {
            if outcome.retryable {
                failures = failures.saturating_add(1);
            }
            if !outcome.retryable || failures >= max_attempts {
                log.push(record);
                return finish(log, outcome.result, throttled);
            }
            if let Some(metrics) = crate::metrics::get() {
                metrics.retries.inc();
            }
            outcome.retry_after.unwrap_or_else(|| backoff(failures - 1))
        };
        record.waited_ms = millis(wait);
        log.push(record);
        tracing::debug!(
            endpoint = %endpoint.name,
            request = log.len(),
            failures,
            throttled = outcome.throttled,
            wait_ms = millis(wait),
            error = %outcome.result.error_message,
            "request not answered; sending it again"
        );
        let _waiting = outcome.throttled.then(|| signal.waiting());
        tokio::time::sleep(wait).await;
    }
}

fn count_request(outcome: &Attempt) {
    let Some(metrics) = crate::metrics::get() else {
        return;
    };
    let result = if outcome.throttled {
        "throttled"
    } else if outcome.result.error_class == ErrorClass::None as i32 {
        "answered"
    } else {
        "failed"
    };
    metrics.requests.with_label_values(&[result]).inc();
}

fn count_item(result: &ItemResult) {
    let Some(metrics) = crate::metrics::get() else {
        return;
    };
    let answered = result.error_class == ErrorClass::None as i32;
    metrics
        .items
        .with_label_values(&[if answered { "answered" } else { "api_error" }])
        .inc();
    metrics
        .tokens
        .with_label_values(&["prompt"])
        .inc_by(u64::from(result.prompt_tokens));
    metrics
        .tokens
        .with_label_values(&["completion"])
        .inc_by(u64::from(result.completion_tokens));
}

fn is_throttle_status(status: u32) -> bool {
    matches!(status, 429 | 503)
}

/// Backoff between throttled requests without `Retry-After`: like [`backoff`] but capped
/// at [`MAX_THROTTLE_BACKOFF`], so an item notices soon when the throttling ends.
fn throttle_backoff(consecutive: u32) -> Duration {
    backoff(consecutive).min(MAX_THROTTLE_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_echo_check_tells_misplaced_log_probabilities_from_real_ones() {
        let characters = echo_check_continuation().chars().count();
        assert_eq!(
            characters,
            8 * 3 + 31 * 4,
            "\" 2,\" … \" 9,\" and \" 10,\" … \" 40,\""
        );
        // The kind of figure measured on llama-cpp-python's server (-12.73 per character).
        assert!(matches!(
            echo_check_verdict(-10.0 * characters as f64, characters),
            EchoCheck::Failed(message) if message.contains("loglik_first_token")
        ));
        assert_eq!(
            echo_check_verdict(-0.1 * characters as f64, characters),
            EchoCheck::Passed
        );
        // The scripted server's -0.5 per character passes too.
        assert_eq!(
            echo_check_verdict(-0.5 * characters as f64, characters),
            EchoCheck::Passed
        );
    }

    #[test]
    fn a_chat_completion_body_is_read_with_usage() {
        let body = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"答案是 B"},"finish_reason":"stop"}],
                      "usage":{"prompt_tokens":120,"completion_tokens":4,"total_tokens":124}}"#;
        let result = parse_chat_body(body).expect("parses");
        assert_eq!(result.text, "答案是 B");
        assert_eq!(result.finish_reason, "stop");
        assert_eq!((result.prompt_tokens, result.completion_tokens), (120, 4));
    }

    #[test]
    fn first_token_candidates_are_read_in_both_shapes() {
        let chat = r#"{"choices":[{"message":{"content":"B"},"finish_reason":"length",
            "logprobs":{"content":[{"token":"B","logprob":-0.1,"top_logprobs":[{"token":"B","logprob":-0.1},{"token":" A","logprob":-2.5}]}]}}]}"#;
        let result = parse_chat_body(chat).expect("parses");
        let tokens: Vec<(&str, f64)> = result
            .first_token_logprobs
            .iter()
            .map(|candidate| (candidate.token.as_str(), candidate.logprob))
            .collect();
        assert_eq!(tokens, [("B", -0.1), (" A", -2.5)]);
        let legacy = r#"{"choices":[{"message":{"content":"C"},"logprobs":{"tokens":["C"],"top_logprobs":[{"C":-0.2,"D":-1.9}]}}]}"#;
        let result = parse_chat_body(legacy).expect("parses");
        assert_eq!(result.first_token_logprobs.len(), 2);
        assert!(
            result
                .first_token_logprobs
                .iter()
                .any(|candidate| candidate.token == "D" && candidate.logprob == -1.9)
        );
    }

    #[test]
    fn null_content_is_an_empty_answer_not_an_error() {
        let body = r#"{"choices":[{"message":{"role":"assistant","content":null},"finish_reason":"length"}]}"#;
        let result = parse_chat_body(body).expect("parses");
        assert_eq!(result.text, "");
        assert_eq!(result.finish_reason, "length");
    }

    #[test]
    fn bodies_that_are_not_completions_say_what_is_wrong() {
        assert!(
            parse_chat_body("<html>bad gateway</html>")
                .expect_err("not json")
                .contains("not JSON")
        );
        assert!(
            parse_chat_body(r#"{"error":{"message":"x"}}"#)
                .expect_err("no choices")
                .contains("choices[0]")
        );
        assert!(
            parse_chat_body(r#"{"choices":[{"message":{"content":5}}]}"#)
                .expect_err("number")
                .contains("not a string")
        );
    }

    fn options(labels: &[(&str, &str)]) -> Vec<LoglikOption> {
        labels
            .iter()
            .map(|(label, continuation)| LoglikOption {
                label: (*label).to_string(),
                continuation: (*continuation).to_string(),
            })
            .collect()
    }

    #[test]
    fn echoed_option_tokens_are_summed_by_offset() {
        // Prefix "问：答案是" (5 characters); continuations " A" and " B".
        let body = r#"{"choices":[
            {"index":0,"text":"问：答案是 A\n","logprobs":{"tokens":["问","：","答案","是"," A","\n"],"token_logprobs":[null,-1.0,-0.5,-0.2,-0.3,-2.0],"text_offset":[0,1,2,4,5,7]}},
            {"index":1,"text":"问：答案是 B\n","logprobs":{"tokens":["问","：","答案","是"," ","B","\n"],"token_logprobs":[null,-1.0,-0.5,-0.2,-0.1,-1.4,-2.0],"text_offset":[0,1,2,4,5,6,7]}}
        ],"usage":{"prompt_tokens":11,"completion_tokens":2}}"#;
        let result = parse_echo_body(body, "问：答案是", &options(&[("A", " A"), ("B", " B")]))
            .expect("scored");
        let sums: Vec<(String, f64)> = result
            .option_logliks
            .iter()
            .map(|candidate| (candidate.token.clone(), candidate.logprob))
            .collect();
        assert_eq!(sums[0].0, "A");
        assert!((sums[0].1 + 0.3).abs() < 1e-12, "{sums:?}");
        assert!((sums[1].1 + 1.5).abs() < 1e-12, "{sums:?}");
        assert_eq!(result.prompt_tokens, 11);
    }

    #[test]
    fn an_endpoint_without_echo_is_told_to_use_first_token_scoring() {
        // llama.cpp-style: only the generated text comes back, no prompt offsets.
        let body = r#"{"choices":[{"index":0,"text":"A","logprobs":null},{"index":1,"text":"B","logprobs":null}]}"#;
        let Err(EchoProblem::Unsupported(problem)) =
            parse_echo_body(body, "问", &options(&[("A", "A"), ("B", "B")]))
        else {
            panic!("an echo-less body is unsupported");
        };
        assert!(problem.contains("loglik_first_token"), "{problem}");
        let Err(EchoProblem::Malformed(_)) =
            parse_echo_body("<html>", "问", &options(&[("A", "A")]))
        else {
            panic!("a non-JSON body is malformed");
        };
    }

    #[test]
    fn echoed_prompt_tokens_are_read_in_order_without_the_generated_one() {
        // Prompt "下列说法" (4 characters): the first token has no log-probability, the
        // generated "\n" at offset 4 lies past the prompt.
        let body = r#"{"choices":[{"index":0,"text":"下列说法\n","logprobs":{"tokens":["下","列","说法","\n"],"token_logprobs":[null,-0.7,-2.5,-1.0],"text_offset":[0,1,2,4]}}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#;
        let result = parse_prompt_logprobs_body(body, "下列说法").expect("read");
        let tokens: Vec<(&str, f64)> = result
            .prompt_token_logprobs
            .iter()
            .map(|token| (token.token.as_str(), token.logprob))
            .collect();
        assert_eq!(tokens, [("列", -0.7), ("说法", -2.5)]);
        assert_eq!(result.prompt_tokens, 3);
        // llama.cpp's server answers in the chat shape without prompt tokens.
        let chat_shape = r#"{"choices":[{"index":0,"text":"。","logprobs":{"content":[{"token":"。","logprob":-0.3}]}}]}"#;
        let Err(EchoProblem::Unsupported(problem)) =
            parse_prompt_logprobs_body(chat_shape, "下列说法")
        else {
            panic!("a reply without echoed tokens is unsupported");
        };
        assert!(problem.contains("Min-K%"), "{problem}");
        // Only the first token echoed (no log-probability): nothing to read either.
        let first_only = r#"{"choices":[{"logprobs":{"tokens":["下"],"token_logprobs":[null],"text_offset":[0]}}]}"#;
        assert!(matches!(
            parse_prompt_logprobs_body(first_only, "下列说法"),
            Err(EchoProblem::Unsupported(_))
        ));
        assert!(matches!(
            parse_prompt_logprobs_body("<html>", "下"),
            Err(EchoProblem::Malformed(_))
        ));
    }

    #[test]
    fn an_echoed_prompt_is_bounded_in_count_and_size() {
        let count = jianzhen_proto::MAX_PROMPT_TOKEN_LOGPROBS + 100;
        let tokens: Vec<String> = (0..count).map(|_| "长".repeat(40)).collect();
        let offsets: Vec<usize> = (0..count).collect();
        let logprobs: Vec<f64> = vec![-1.0; count];
        let body = serde_json::json!({"choices": [{"logprobs": {"tokens": tokens, "text_offset": offsets, "token_logprobs": logprobs}}]}).to_string();
        let text = "字".repeat(count);
        let result = parse_prompt_logprobs_body(&body, &text).expect("read");
        assert_eq!(
            result.prompt_token_logprobs.len(),
            jianzhen_proto::MAX_PROMPT_TOKEN_LOGPROBS
        );
        assert!(
            result
                .prompt_token_logprobs
                .iter()
                .all(|token| token.token.len() <= jianzhen_proto::MAX_PROMPT_TOKEN_BYTES)
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) <= Duration::from_millis(500));
        assert!(backoff(3) >= Duration::from_millis(2000));
        assert!(backoff(20) <= Duration::from_secs(30));
    }

    #[test]
    fn error_snippets_keep_no_credentials() {
        let body = r#"{"Code":"Success","AccessKeyId":"AKIAIOSFODNN7EXAMPLE","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","Token":"sk-live-abc123"}"#;
        let kept = snippet(body);
        for secret in ["AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI", "sk-live-abc123"] {
            assert!(!kept.contains(secret), "{kept}");
        }
        assert!(
            kept.contains("AccessKeyId") && kept.contains("[redacted]"),
            "{kept}"
        );
        assert_eq!(
            scrub_secrets("HTTP 500 from model: overloaded"),
            "HTTP 500 from model: overloaded"
        );
        assert!(snippet(&"x".repeat(1000)).chars().count() <= BODY_SNIPPET_CHARS + 1);
    }
}
