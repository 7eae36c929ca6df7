//! The run spec: what to evaluate (suites), against what (endpoints), how often (repeats).
//!
//! A run spec is TOML. Keys are documented in `docs/run-spec.md`. A spec never holds a
//! secret: an endpoint names the environment variable that holds its key.

use std::path::{Path, PathBuf};

use jianzhen_suites::SuiteName;
use serde::{Deserialize, Serialize};

use crate::error::CoordinatorError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// A human name for the run; the run id is derived from the content, not the name.
    pub name: String,
    /// Recorded in the manifest and sent to endpoints that accept a seed.
    #[serde(default)]
    pub seed: u64,
    /// How many times every item is asked (for variance estimates at temperature > 0).
    #[serde(default = "default_repeats")]
    pub repeats: u32,
    /// Items per shard: the unit a worker leases. Small enough that losing a worker costs
    /// little, large enough that leasing is not the bottleneck.
    #[serde(default = "default_shard_size")]
    pub shard_size: u32,
    /// Reuse stored responses to identical requests (same endpoint URL, model, generation
    /// settings, prompt and repeat) from earlier runs instead of calling the endpoint.
    #[serde(default = "default_cache")]
    pub cache: bool,
    /// Also send the built-in provenance probes (identity questions, tokenizer
    /// fingerprint texts, open prompts) to every endpoint, for `jianzhen fingerprint` and
    /// the report's provenance section.
    #[serde(default)]
    pub provenance: bool,
    /// Also run the contamination audit (docs/contamination.md): every sampled
    /// multiple-choice item asked again with its options rotated, with one wrong option
    /// hidden for the model to write, and its second half asked for with and without the
    /// dataset's name; plus the project's control items.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub contamination: bool,
    /// At most this many items per subject in the contamination audit (evenly spaced
    /// through the items the run evaluates); absent: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contamination_sample: Option<u32>,
    /// With `provenance`: send only the tokenizer texts and the multiple-choice
    /// fingerprint (docs/provenance.md), not the generated identity and open probes —
    /// for endpoints too slow for a few hundred generated answers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub provenance_answers_only: bool,
    pub suites: Vec<SuiteSpec>,
    pub endpoints: Vec<EndpointSpec>,
    /// A judge model for suites whose published evaluation grades answers with one
    /// (Chinese SimpleQA): it is sent each answer with the suite's judge prompt. Not
    /// evaluated itself; its key is read from `api_key_env` on the workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<EndpointSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteSpec {
    /// `ceval` or `cmmlu`; with `spec`, any name for the suite.
    pub name: String,
    /// A declarative suite spec (TOML, see docs/suite-spec.md) for a suite Jianzhen does
    /// not know: its files, field map, subjects, categories and template.
    #[serde(default)]
    pub spec: Option<PathBuf>,
    /// The folder holding the suite's files in its published layout. Absent: `name` is a
    /// suite the operator published (`jianzhen publish`), whose data the coordinator
    /// holds; vendors can only name such suites.
    #[serde(default, skip_serializing_if = "path_is_empty")]
    pub data: PathBuf,
    /// Split to evaluate; defaults to the suite's split with public answers.
    #[serde(default)]
    pub split: Option<String>,
    /// Number of in-context examples taken from the dev split (default: 0).
    #[serde(default)]
    pub shots: u32,
    /// Prompt template name; defaults to the suite's OpenCompass generation template.
    #[serde(default)]
    pub template: Option<String>,
    /// Subjects to evaluate; empty means all.
    #[serde(default)]
    pub subjects: Vec<String>,
    /// At most this many items per subject (the first ones in file order).
    #[serde(default)]
    pub limit_per_subject: Option<u32>,
    /// With `limit_per_subject`: take items evenly spaced through each subject instead of
    /// the first ones (files sorted by label otherwise give a one-label sample).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub spread: bool,
    /// `gen` (default): generate an answer and extract the letter. `loglik_first_token`:
    /// one generated token with its top log-probabilities; the most likely option letter
    /// is the answer (as lm-eval's and OpenCompass's likelihood modes, on chat endpoints).
    #[serde(default)]
    pub scoring: Option<String>,
    /// Refuse the run at the first data record that cannot become an item, instead of
    /// leaving it out and naming it in the manifest and report (`--strict`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict: bool,
    /// How generated single-letter answers are read: `jianzhen` (default, Jianzhen's
    /// cascade), `opencompass` (the template's OpenCompass post-processor, as its
    /// leaderboard reads them; AGIEval subset by subset) or a peer extractor's name
    /// (`opencompass_first_capital`, …; see `jianzhen_suites::peer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extractor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    /// Name used in reports; unique within the run.
    pub name: String,
    /// Base URL of an OpenAI-compatible API, e.g. `http://127.0.0.1:8000/v1`. Absent for
    /// an endpoint registered with `jianzhen endpoint add` (then `name` names it).
    #[serde(default)]
    pub base_url: String,
    #[serde(default)]
    pub model: String,
    /// The endpoint was registered with `jianzhen endpoint add`: its URL and model come
    /// from the registry, and its key goes to workers inside the lease (sealed at rest).
    /// Set by the coordinator when it resolves the spec.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub registered: bool,
    /// The maker the vendor declares (e.g. "Alibaba", "DeepSeek"): the provenance audit
    /// compares it with what the model says about itself.
    #[serde(default)]
    pub vendor: Option<String>,
    /// A known model for the provenance audit: re-asked a slice of the multiple-choice
    /// items under the persona band's system prompts, so the endpoints compared with it
    /// are judged against how far a persona moves its own answers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reference: bool,
    /// Name of the environment variable holding the API key, read by each worker from its
    /// own environment. Never the key itself.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Requests in flight at once across the whole cluster.
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: u32,
    /// Requests started per second across the whole cluster; absent means no limit.
    #[serde(default)]
    pub requests_per_second: Option<f64>,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: f64,
    #[serde(default)]
    pub temperature: f64,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// Attempts per request on real transient failures (connect, timeout, 5xx other than
    /// 503). Throttling (429, 503) never uses one up.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// How long one item may keep being throttled before it ends as `api_error`; absent:
    /// 30 minutes (the worker's default). It also bounds how long a lease waiting on
    /// throttling keeps its shard without a result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle_deadline_secs: Option<u64>,
    /// A reply body larger than this many bytes ends the item as `api_error` ("response
    /// too large"); absent: the worker's default, 4 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<u64>,
}

/// Bounds on what a spec may ask for: each far above any real evaluation, each far below
/// what would exhaust the coordinator.
pub const MAX_REPEATS: u64 = 100;
pub const MAX_SHARD_SIZE: u64 = 1_000;
pub const MAX_SUITES: u64 = 64;
pub const MAX_ENDPOINTS: u64 = 64;
pub const MAX_SHOTS: u64 = 64;
pub const MAX_SUBJECTS: u64 = 1_000;
pub const MAX_NAME_BYTES: u64 = 200;
pub const MAX_URL_BYTES: u64 = 2_048;
pub const MAX_TIMEOUT_SECS: f64 = 3_600.0;
pub const MAX_REQUESTS_PER_SECOND: f64 = 100_000.0;
pub const MAX_CONCURRENCY: u64 = 4_096;
pub const MAX_ATTEMPTS: u64 = 20;
/// A day: throttling longer than that is an outage, and `jianzhen retry` is the answer.
pub const MAX_THROTTLE_DEADLINE_SECS: u64 = 86_400;
pub const MAX_TOKENS: u64 = 131_072;
pub const MIN_RESPONSE_BYTES: u64 = 1_024;
pub const MAX_RESPONSE_BYTES: u64 = 256 * 1024 * 1024;
/// Items of a run (suite items × endpoints × repeats) planned at most.
pub const MAX_PLANNED_ITEMS: u64 = 20_000_000;

fn path_is_empty(path: &Path) -> bool {
    path.as_os_str().is_empty()
}

fn default_repeats() -> u32 {
    1
}
fn default_shard_size() -> u32 {
    25
}
fn default_cache() -> bool {
    true
}
fn default_max_concurrency() -> u32 {
    4
}
fn default_timeout_secs() -> f64 {
    120.0
}
fn default_max_tokens() -> u32 {
    256
}
fn default_max_attempts() -> u32 {
    3
}

impl RunSpec {
    /// Parses and validates a spec. `origin` names the file (or "command line") in errors.
    ///
    /// # Errors
    /// [`CoordinatorError::InvalidSpec`] naming the problem and how to fix it.
    pub fn from_toml(text: &str, origin: &str) -> Result<RunSpec, CoordinatorError> {
        reject_inline_secrets(text, origin)?;
        let spec: RunSpec =
            toml::from_str(text).map_err(|error| CoordinatorError::InvalidSpec {
                origin: origin.to_string(),
                problem: error.to_string(),
            })?;
        spec.validate(origin)?;
        Ok(spec)
    }

    /// # Errors
    /// Only if serialization fails, which a valid spec never does.
    pub fn to_toml(&self) -> Result<String, CoordinatorError> {
        toml::to_string(self).map_err(|error| CoordinatorError::Internal(error.to_string()))
    }

    /// Resolves relative data paths against `base` (the spec file's folder), so a spec can
    /// be submitted from anywhere.
    pub fn resolve_paths(&mut self, base: &Path) {
        for suite in &mut self.suites {
            if suite.data.is_relative() && !path_is_empty(&suite.data) {
                suite.data = base.join(&suite.data);
            }
            if let Some(spec) = &mut suite.spec
                && spec.is_relative()
            {
                *spec = base.join(&*spec);
            }
        }
    }

    fn validate(&self, origin: &str) -> Result<(), CoordinatorError> {
        let invalid = |problem: String| CoordinatorError::InvalidSpec {
            origin: origin.to_string(),
            problem,
        };
        if self.suites.is_empty() {
            return Err(invalid(
                "no [[suites]] given; add at least one suite".into(),
            ));
        }
        if self.endpoints.is_empty() {
            return Err(invalid(
                "no [[endpoints]] given; add at least one endpoint".into(),
            ));
        }
        if self.repeats == 0 {
            return Err(invalid("`repeats` must be at least 1".into()));
        }
        if self.shard_size == 0 {
            return Err(invalid("`shard_size` must be at least 1".into()));
        }
        if self.contamination_sample.is_some() && !self.contamination {
            return Err(invalid(
                "`contamination_sample` is set but the audit is off; add `contamination = true` (or drop the sample)".into(),
            ));
        }
        if self.contamination_sample == Some(0) {
            return Err(invalid(
                "`contamination_sample` must be at least 1; drop it to audit every item".into(),
            ));
        }
        // Every number a client sends is bounded where it enters (docs/security.md).
        let within = |field: &str, value: u64, max: u64| -> Result<(), CoordinatorError> {
            if value > max {
                return Err(invalid(format!(
                    "`{field}` is {value}; at most {max} is accepted"
                )));
            }
            Ok(())
        };
        within("repeats", u64::from(self.repeats), MAX_REPEATS)?;
        within("shard_size", u64::from(self.shard_size), MAX_SHARD_SIZE)?;
        within("number of [[suites]]", self.suites.len() as u64, MAX_SUITES)?;
        within(
            "number of [[endpoints]]",
            self.endpoints.len() as u64,
            MAX_ENDPOINTS,
        )?;
        within("length of `name`", self.name.len() as u64, MAX_NAME_BYTES)?;
        for suite in &self.suites {
            within(
                &format!("suite `{}`: shots", suite.name),
                u64::from(suite.shots),
                MAX_SHOTS,
            )?;
            within(
                &format!("suite `{}`: number of subjects", suite.name),
                suite.subjects.len() as u64,
                MAX_SUBJECTS,
            )?;
            within(
                "length of a suite name",
                suite.name.len() as u64,
                MAX_NAME_BYTES,
            )?;
            if suite.limit_per_subject == Some(0) {
                return Err(invalid(format!(
                    "suite `{}`: limit_per_subject must be at least 1 (leave it out for all items)",
                    suite.name
                )));
            }
        }
        for suite in &self.suites {
            if let Some(other) = suite.scoring.as_deref()
                && jianzhen_suites::template::ScoringMode::from_name(other).is_none()
            {
                return Err(invalid(format!(
                    "suite `{}`: unknown scoring `{other}`; use {}",
                    suite.name,
                    jianzhen_suites::template::ScoringMode::names_for_message()
                )));
            }
            // A suite without `data` names a published suite, resolved by the coordinator.
            if suite.spec.is_none()
                && !path_is_empty(&suite.data)
                && suite
                    .name
                    .parse::<jianzhen_suites::tasks::TaskSuite>()
                    .is_err()
            {
                suite.name.parse::<SuiteName>().map_err(|error| {
                    invalid(format!("{error}; for another suite, describe it in a suite spec file and set `spec`"))
                })?;
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for endpoint in self.endpoints.iter().chain(&self.judge) {
            if !names.insert(endpoint.name.as_str()) {
                return Err(invalid(format!(
                    "endpoint name `{}` is used twice (the judge counts); endpoint names must be unique",
                    endpoint.name
                )));
            }
            // An empty URL names a registered endpoint; the coordinator resolves it.
            if !(endpoint.base_url.is_empty()
                || endpoint.base_url.starts_with("http://")
                || endpoint.base_url.starts_with("https://"))
            {
                return Err(invalid(format!(
                    "endpoint `{}`: base_url `{}` must start with http:// or https://",
                    endpoint.name, endpoint.base_url
                )));
            }
            if endpoint.max_concurrency == 0 {
                return Err(invalid(format!(
                    "endpoint `{}`: max_concurrency must be at least 1",
                    endpoint.name
                )));
            }
            if !(endpoint.timeout_secs.is_finite()
                && endpoint.timeout_secs > 0.0
                && endpoint.timeout_secs <= MAX_TIMEOUT_SECS)
            {
                return Err(invalid(format!(
                    "endpoint `{}`: timeout_secs must be a positive number of seconds, at most {MAX_TIMEOUT_SECS}",
                    endpoint.name
                )));
            }
            if endpoint.requests_per_second.is_some_and(|rate| {
                !(rate.is_finite() && rate > 0.0 && rate <= MAX_REQUESTS_PER_SECOND)
            }) {
                return Err(invalid(format!(
                    "endpoint `{}`: requests_per_second must be positive and at most {MAX_REQUESTS_PER_SECOND} (leave it out for no limit)",
                    endpoint.name
                )));
            }
            if !(endpoint.temperature.is_finite() && (0.0..=2.0).contains(&endpoint.temperature)) {
                return Err(invalid(format!(
                    "endpoint `{}`: temperature must be between 0 and 2",
                    endpoint.name
                )));
            }
            if endpoint.max_attempts == 0 {
                return Err(invalid(format!(
                    "endpoint `{}`: max_attempts must be at least 1",
                    endpoint.name
                )));
            }
            if endpoint.max_tokens == 0 {
                return Err(invalid(format!(
                    "endpoint `{}`: max_tokens must be at least 1",
                    endpoint.name
                )));
            }
            let field = |name: &str| format!("endpoint `{}`: {name}", endpoint.name);
            within(
                &field("max_concurrency"),
                u64::from(endpoint.max_concurrency),
                MAX_CONCURRENCY,
            )?;
            within(
                &field("max_attempts"),
                u64::from(endpoint.max_attempts),
                MAX_ATTEMPTS,
            )?;
            if endpoint.throttle_deadline_secs == Some(0) {
                return Err(invalid(format!(
                    "endpoint `{}`: throttle_deadline_secs must be at least 1 (leave it out for 30 minutes)",
                    endpoint.name
                )));
            }
            within(
                &field("throttle_deadline_secs"),
                endpoint.throttle_deadline_secs.unwrap_or(0),
                MAX_THROTTLE_DEADLINE_SECS,
            )?;
            within(
                &field("max_tokens"),
                u64::from(endpoint.max_tokens),
                MAX_TOKENS,
            )?;
            within(
                &field("length of base_url"),
                endpoint.base_url.len() as u64,
                MAX_URL_BYTES,
            )?;
            within(
                &field("length of the name"),
                endpoint.name.len() as u64,
                MAX_NAME_BYTES,
            )?;
            if let Some(bytes) = endpoint.max_response_bytes
                && !(MIN_RESPONSE_BYTES..=MAX_RESPONSE_BYTES).contains(&bytes)
            {
                return Err(invalid(format!(
                    "endpoint `{}`: max_response_bytes must be between {MIN_RESPONSE_BYTES} and {MAX_RESPONSE_BYTES}",
                    endpoint.name
                )));
            }
        }
        Ok(())
    }
}

/// A key pasted into a spec would end up in the store and the manifest; refuse it with a
/// message that says what to do instead.
fn reject_inline_secrets(text: &str, origin: &str) -> Result<(), CoordinatorError> {
    let Ok(value) = text.parse::<toml::Table>() else {
        return Ok(()); // the typed parse reports the syntax error with its position
    };
    let endpoints = value
        .get("endpoints")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .chain(value.get("judge"));
    for endpoint in endpoints {
        let Some(table) = endpoint.as_table() else {
            continue;
        };
        for secret_key in ["api_key", "key", "token", "authorization"] {
            if table.contains_key(secret_key) {
                let name = table.get("name").and_then(|v| v.as_str()).unwrap_or("?");
                return Err(CoordinatorError::InvalidSpec {
                    origin: origin.to_string(),
                    problem: format!(
                        "endpoint `{name}` has `{secret_key}`: never put a key in a run spec; \
                         export it in the workers' environment and set `api_key_env` to the variable's name"
                    ),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "t"
[[suites]]
name = "ceval"
data = "data/ceval"
[[endpoints]]
name = "m"
base_url = "http://127.0.0.1:1/v1"
model = "m"
"#;

    #[test]
    fn minimal_spec_takes_defaults() {
        let spec = RunSpec::from_toml(MINIMAL, "t.toml").expect("minimal spec parses");
        assert_eq!(spec.repeats, 1);
        assert_eq!(spec.shard_size, 25);
        assert_eq!(spec.endpoints[0].max_concurrency, 4);
        assert_eq!(spec.endpoints[0].temperature, 0.0);
        assert_eq!(spec.suites[0].shots, 0);
        assert!(spec.cache);
        assert_eq!(spec.endpoints[0].requests_per_second, None);
    }

    #[test]
    fn inline_key_is_refused_with_advice() {
        let text = MINIMAL.replace("model = \"m\"", "model = \"m\"\napi_key = \"sk-secret\"");
        let error = RunSpec::from_toml(&text, "t.toml").expect_err("inline key refused");
        let message = error.to_string();
        assert!(message.contains("api_key_env"), "{message}");
        assert!(
            !message.contains("sk-secret"),
            "the secret must not be echoed: {message}"
        );
    }

    #[test]
    fn a_judge_is_validated_like_an_endpoint_and_never_holds_a_key() {
        let judge =
            "\n[judge]\nname = \"judge\"\nbase_url = \"http://127.0.0.1:2/v1\"\nmodel = \"j\"\n";
        let spec = RunSpec::from_toml(&format!("{MINIMAL}{judge}"), "t.toml").expect("valid");
        assert_eq!(
            spec.judge.as_ref().map(|judge| judge.model.as_str()),
            Some("j")
        );
        let keyed = format!("{MINIMAL}{judge}api_key = \"sk-judge-secret\"\n");
        let message = RunSpec::from_toml(&keyed, "t.toml")
            .expect_err("a key in the judge is refused")
            .to_string();
        assert!(message.contains("api_key_env"), "{message}");
        assert!(!message.contains("sk-judge-secret"), "{message}");
        let clash = format!(
            "{MINIMAL}{}",
            judge.replace("name = \"judge\"", "name = \"m\"")
        );
        let message = RunSpec::from_toml(&clash, "t.toml")
            .expect_err("the judge's name must differ from the endpoints'")
            .to_string();
        assert!(message.contains("used twice"), "{message}");
    }

    #[test]
    fn unknown_suite_and_bad_url_are_named() {
        let text = MINIMAL.replace("name = \"ceval\"", "name = \"mmlu\"");
        let message = RunSpec::from_toml(&text, "t.toml")
            .expect_err("bad suite")
            .to_string();
        assert!(
            message.contains("mmlu") && message.contains("t.toml"),
            "{message}"
        );
        let text = MINIMAL.replace("http://127.0.0.1:1/v1", "127.0.0.1:1");
        let message = RunSpec::from_toml(&text, "t.toml")
            .expect_err("bad url")
            .to_string();
        assert!(message.contains("http://"), "{message}");
    }

    #[test]
    fn relative_data_paths_resolve_against_the_spec_folder() {
        let mut spec = RunSpec::from_toml(MINIMAL, "t.toml").expect("parses");
        spec.resolve_paths(Path::new("/srv/specs"));
        assert_eq!(spec.suites[0].data, PathBuf::from("/srv/specs/data/ceval"));
    }
}
