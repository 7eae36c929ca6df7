//! Command-line interface. `run` is the one-machine path: an embedded coordinator and N
//! workers in this process, talking real gRPC over loopback, the same code path as a
//! cluster. The other commands are the cluster pieces.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use jianzhen_coordinator::spec::{EndpointSpec, RunSpec, SuiteSpec};
use jianzhen_coordinator::{Controller, CoordinatorConfig};
use jianzhen_proto::v1;
use tokio::net::TcpListener;
use tokio::sync::watch;

const DEFAULT_COORDINATOR: &str = "http://127.0.0.1:7443";

#[derive(Parser)]
#[command(
    name = "jianzhen",
    version,
    about = "鉴真 Jianzhen: a distributed benchmark harness for Chinese LLMs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as text, or as JSON objects (one a line, with their fields: run_id,
    /// shard_id, worker_id, endpoint, …) for a log collector.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate on this machine: embedded coordinator + workers, progress, report folder.
    Run(Box<RunArgs>),
    /// Serve the coordinator for a cluster.
    Coordinator(CoordinatorArgs),
    /// Run a worker that leases shards from a coordinator.
    Worker(WorkerArgs),
    /// Submit a run spec (TOML) to a coordinator; prints the run id.
    Submit(SubmitArgs),
    /// Show a run's progress, or list the runs.
    Status(StatusArgs),
    /// Write a run's report folder: report.md, report.html, scores.csv, results.parquet,
    /// manifest.json; provenance.json when the run has a provenance audit; compare.md and
    /// compare.csv with --compare.
    Report(ReportArgs),
    /// Queue again the items of a run that ended in api_error; everything else is kept.
    Retry(RetryArgs),
    /// What Jianzhen knows about suites: list, show, check a suite's files.
    #[command(subcommand)]
    Suites(crate::suites_cmd::SuitesCommand),
    /// Download a suite's published files and verify their hashes.
    #[command(subcommand)]
    Data(crate::data_fetch::DataCommand),
    /// Re-score a finished run's stored answers with the current answer extraction; no
    /// endpoint is called. Then `jianzhen report` shows the new scores.
    Rescore(RescoreArgs),
    /// Save an endpoint's provenance evidence from a run as a fingerprint profile (JSON),
    /// to compare later endpoints with (`--reference`).
    Fingerprint(FingerprintArgs),
    /// Create, list and revoke access tokens (directly in the store; operator only).
    #[command(subcommand)]
    Token(crate::access_cmd::TokenCommand),
    /// Register your endpoint (URL, model, key) with a coordinator, or list yours.
    #[command(subcommand)]
    Endpoint(crate::access_cmd::EndpointCommand),
    /// Publish a suite on the coordinator for vendors to be evaluated on (admin).
    Publish(crate::access_cmd::PublishArgs),
    /// List the suites published to vendors.
    Published(crate::access_cmd::ClientOnlyArgs),
    /// Show who did what on the coordinator (admin).
    Audit(crate::access_cmd::AuditArgs),
}

/// How a client reaches and proves itself to a coordinator. The token is read from
/// `JIANZHEN_TOKEN` or a file, never from a flag value (which shell history and `ps`
/// would keep).
#[derive(Args, Clone)]
pub(crate) struct ClientArgs {
    #[arg(long, env = "JIANZHEN_COORDINATOR", default_value = DEFAULT_COORDINATOR)]
    pub(crate) coordinator: String,
    /// A file holding the token from `jianzhen token create` (else JIANZHEN_TOKEN).
    #[arg(long, env = "JIANZHEN_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// The CA certificate (PEM) that signed the coordinator's certificate, for https://.
    #[arg(long, env = "JIANZHEN_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// This client's certificate (PEM), for a coordinator started with --client-ca.
    #[arg(long, env = "JIANZHEN_CLIENT_CERT", requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// The key (PEM) of --client-cert.
    #[arg(long, env = "JIANZHEN_CLIENT_KEY", requires = "client_cert")]
    client_key: Option<PathBuf>,
}

impl ClientArgs {
    pub(crate) fn credentials(&self) -> Result<jianzhen_proto::client::ClientCredentials> {
        let read = |path: &PathBuf, what: &str| {
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the {what} {}", path.display()))
        };
        let token = match &self.token_file {
            Some(path) => Some(read(path, "token file")?.trim().to_string()),
            None => std::env::var("JIANZHEN_TOKEN")
                .ok()
                .map(|token| token.trim().to_string())
                .filter(|token| !token.is_empty()),
        };
        let identity_pem = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => {
                Some((read(cert, "client certificate")?, read(key, "client key")?))
            }
            _ => None,
        };
        Ok(jianzhen_proto::client::ClientCredentials {
            token,
            tls: jianzhen_proto::client::ClientTls {
                ca_pem: self
                    .ca_cert
                    .as_ref()
                    .map(|path| read(path, "CA certificate"))
                    .transpose()?,
                identity_pem,
            },
        })
    }
}

#[derive(Args)]
struct FingerprintArgs {
    run: String,
    /// The endpoint's name in the run.
    #[arg(long)]
    endpoint: String,
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
struct RunArgs {
    /// A run spec (TOML). Without it, the suite and endpoint flags below describe the run.
    #[arg(long, conflicts_with_all = ["suite", "endpoint"])]
    spec: Option<PathBuf>,
    /// Suite to evaluate: ceval, cmmlu, gaokao, agieval, c3, cmrc2018, ocnli,
    /// fewclue_TASK, simpleqa, cmath (see `jianzhen suites list`), or any name with
    /// --suite-spec.
    #[arg(long)]
    suite: Option<String>,
    /// A declarative suite spec (TOML, docs/suite-spec.md) for a suite Jianzhen does not
    /// know; --suite then names it in reports.
    #[arg(long)]
    suite_spec: Option<PathBuf>,
    /// Folder with the suite's files in their published layout.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Split to evaluate (default: the suite's own, e.g. val for C-Eval, test for CMMLU).
    #[arg(long)]
    split: Option<String>,
    /// In-context examples from the dev split.
    #[arg(long, default_value_t = 0)]
    shots: u32,
    /// Prompt template (default: the suite's OpenCompass gen template).
    #[arg(long)]
    template: Option<String>,
    /// Comma-separated subjects (default: all).
    #[arg(long, value_delimiter = ',')]
    subjects: Vec<String>,
    /// At most this many items per subject.
    #[arg(long)]
    limit_per_subject: Option<u32>,
    /// With --limit-per-subject: take items evenly spaced through each subject, not the
    /// first ones.
    #[arg(long)]
    spread: bool,
    /// `gen` (generate, extract the answer), `loglik_first_token` (one token with
    /// top_logprobs; the most likely option letter; chat endpoints too) or `loglik_echo`
    /// (the option texts' summed log-probabilities from /v1/completions with echo, as
    /// lm-eval `multiple_choice` and OpenCompass PPL; llama.cpp's server cannot).
    #[arg(long)]
    scoring: Option<String>,
    /// Refuse the data at the first record that cannot become an item (empty answer,
    /// empty option, answer outside the options), instead of leaving it out and naming
    /// it in the report.
    #[arg(long)]
    strict: bool,
    /// Read generated answers as the template's source framework does (`opencompass`)
    /// or with a named peer extractor (`opencompass_first_capital`,
    /// `opencompass_first_option`, `opencompass_first_option_abcde`,
    /// `opencompass_first_capital_multi`, `gaokao_bench`) instead of Jianzhen's cascade
    /// (`jianzhen`, the default). The report shows both readings either way.
    #[arg(long)]
    extractor: Option<String>,
    /// A judge model (OpenAI-compatible base URL) for suites graded by one (simpleqa):
    /// every answer is sent to it with the suite's published judge prompt.
    #[arg(long, requires = "judge_model")]
    judge_endpoint: Option<String>,
    /// Model name of the judge.
    #[arg(long, requires = "judge_endpoint")]
    judge_model: Option<String>,
    /// Environment variable holding the judge's API key.
    #[arg(long, requires = "judge_endpoint")]
    judge_api_key_env: Option<String>,
    /// Base URL of an OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1.
    #[arg(long)]
    endpoint: Option<String>,
    /// Model name sent to the endpoint.
    #[arg(long)]
    model: Option<String>,
    /// Name of the endpoint in reports (default: the model name).
    #[arg(long)]
    endpoint_name: Option<String>,
    /// Environment variable holding the API key (never pass the key itself).
    #[arg(long)]
    api_key_env: Option<String>,
    /// Requests in flight at once against the endpoint.
    #[arg(long, default_value_t = 4)]
    concurrency: u32,
    /// Requests started per second against the endpoint (default: no limit).
    #[arg(long)]
    requests_per_second: Option<f64>,
    #[arg(long, default_value_t = 120.0)]
    timeout_secs: f64,
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,
    #[arg(long, default_value_t = 256)]
    max_tokens: u32,
    #[arg(long, default_value_t = 1)]
    repeats: u32,
    /// Worker tasks in this process.
    #[arg(long, default_value_t = 2)]
    workers: u32,
    /// Report folder; also holds the SQLite store, so running again resumes.
    #[arg(long)]
    out: PathBuf,
    /// Hide the progress bars.
    #[arg(long)]
    no_progress: bool,
    /// Call the endpoint for every item even when an identical request was answered in an
    /// earlier run (the response cache is used by default).
    #[arg(long)]
    no_cache: bool,
    /// Queue again the items of this run that ended in api_error (after a resumed run).
    #[arg(long)]
    retry_errors: bool,
    /// Also send the built-in provenance probes (identity, tokenizer fingerprint, open
    /// prompts) and add a provenance section to the report.
    #[arg(long)]
    provenance: bool,
    /// Also run the contamination audit (option order, masked options, guided
    /// completion; see docs/contamination.md) and add a contamination section to the
    /// report.
    #[arg(long)]
    contamination: bool,
    /// With --contamination: at most this many items per subject in the audit.
    #[arg(long, requires = "contamination")]
    contamination_sample: Option<u32>,
    /// The maker the endpoint's vendor declares (e.g. Alibaba), for the provenance audit.
    #[arg(long)]
    vendor: Option<String>,
    /// A fingerprint profile of a known model to compare with; repeatable.
    #[arg(long = "reference")]
    references: Vec<PathBuf>,
    /// A private network, address or host name the endpoint may be on (loopback is
    /// allowed on one machine; e.g. 10.0.0.0/8 for a vLLM on the lab's network).
    #[arg(long = "allow-endpoint")]
    allow_endpoint: Vec<String>,
}

#[derive(Args)]
struct CoordinatorArgs {
    #[arg(long, default_value = "127.0.0.1:7443")]
    listen: SocketAddr,
    /// Serve Prometheus metrics on http://ADDRESS/metrics (and liveness on /healthz).
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// Where runs and results are kept: `sqlite:PATH` (one machine; missing folders are
    /// created) or `postgres://USER:PASSWORD@HOST:5432/DATABASE` (a cluster, several
    /// coordinators' restarts, backups).
    #[arg(long, default_value = "sqlite:jianzhen.db")]
    store: String,
    /// A worker silent this long is dead and its shards are requeued.
    #[arg(long, default_value_t = 15.0)]
    heartbeat_ttl_secs: f64,
    /// How often workers heartbeat.
    #[arg(long, default_value_t = 3.0)]
    heartbeat_interval_secs: f64,
    /// Progress deadline of a lease (default: derived from the endpoint's timeout).
    #[arg(long)]
    progress_timeout_secs: Option<f64>,
    /// The coordinator's TLS certificate (PEM); with --tls-key, clients use https://.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (PEM) from every client (mTLS).
    #[arg(long, requires = "tls_cert")]
    client_ca: Option<PathBuf>,
    /// 32 random bytes (or 64 hex digits) that seal vendors' endpoint keys at rest;
    /// create with `head -c 32 /dev/urandom > FILE`. Without it, endpoint keys are refused.
    #[arg(long, env = "JIANZHEN_SECRETS_KEY_FILE")]
    secrets_key_file: Option<PathBuf>,
    /// No authentication (every caller is admin) and, off loopback, no TLS. Only for a
    /// coordinator nobody else can reach; every status line says so.
    #[arg(long)]
    insecure: bool,
    /// Most items (suite items × endpoints × repeats) in one run of a vendor token.
    #[arg(long, default_value_t = 200_000)]
    vendor_max_items: u64,
    /// Most runs of one vendor not yet complete.
    #[arg(long, default_value_t = 4)]
    vendor_max_runs: u64,
    /// Most repeats in a vendor's run.
    #[arg(long, default_value_t = 5)]
    vendor_max_repeats: u32,
    /// Suites published to vendors must have their data under this folder (paths are
    /// canonicalised; `..` and symlinks out of it are refused).
    #[arg(long)]
    data_root: Option<PathBuf>,
}

#[derive(Args)]
struct WorkerArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Unique worker id (default: host, pid and a random suffix).
    #[arg(long)]
    id: Option<String>,
    /// An environment variable that run specs may name as an endpoint's key
    /// (`api_key_env`); repeatable. Any other name is refused.
    #[arg(long = "allow-key-env")]
    allow_key_env: Vec<String>,
    /// A network (10.0.0.0/8), address or host name that endpoint calls may reach although
    /// it is loopback, private or link-local; repeatable. By default workers call public
    /// addresses only (docs/security.md, egress guard).
    #[arg(long = "allow-endpoint")]
    allow_endpoint: Vec<String>,
    /// On SIGTERM or Ctrl-C: how long the requests in flight may take to finish and be
    /// reported before the worker hands its shard back and exits (keep it below the
    /// orchestrator's own grace, 30 s on Kubernetes).
    #[arg(long, default_value_t = 20.0)]
    shutdown_grace_secs: f64,
    /// Serve Prometheus metrics on http://ADDRESS/metrics and liveness on /healthz.
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
}

#[derive(Args)]
struct SubmitArgs {
    spec: PathBuf,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
struct StatusArgs {
    /// Run id; without it, all runs are listed.
    run: Option<String>,
    /// Follow the run until it completes.
    #[arg(long)]
    watch: bool,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
struct RetryArgs {
    run: String,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
struct RescoreArgs {
    run: String,
    /// Read the answers with this extractor from now on: `jianzhen` (Jianzhen's cascade),
    /// `opencompass` (each suite's template's own post-processor) or a peer extractor's
    /// name (`opencompass_first_capital`, `opencompass_first_option`,
    /// `opencompass_first_option_abcde`, `opencompass_first_capital_multi`,
    /// `gaokao_bench`); recorded in the manifest. Without it, each suite keeps its
    /// extractor.
    #[arg(long)]
    extractor: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
struct ReportArgs {
    run: String,
    #[arg(long)]
    out: PathBuf,
    /// Also compare with this run item by item (compare.md, compare.csv): what changed.
    #[arg(long)]
    compare: Option<String>,
    /// A fingerprint profile of a known model (from `jianzhen fingerprint`) to compare the
    /// run's endpoints with in the provenance section; repeatable.
    #[arg(long = "reference")]
    references: Vec<PathBuf>,
    #[command(flatten)]
    client: ClientArgs,
}

/// Long-running commands that serve or call over the network (`coordinator`, `worker`,
/// `run`) ignore SIGPIPE again, which `main` restored to its default for the printing
/// commands. Why: rustls and hyper write with `writev(2)`, which, unlike `send` with
/// `MSG_NOSIGNAL`, raises SIGPIPE when the peer has reset the connection; with the default
/// disposition one client that disconnects mid-response killed the whole coordinator
/// silently, with nothing in its log. Ignored, the write fails with EPIPE and only that
/// connection ends.
fn survive_broken_connections() {
    #[cfg(unix)]
    // SAFETY: called on the main thread before the async runtime or any other thread
    // starts; SIG_IGN is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Prints a line on stdout, ignoring a reader that went away (`jianzhen run … | head -1`):
/// `run` ignores SIGPIPE (see `survive_broken_connections`), so `println!` would panic
/// there instead of the command ending as it would have.
fn print_quietly(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Coordinator(_) | Command::Worker(_) | Command::Run(_)
    ) {
        survive_broken_connections();
    }
    let quiet_by_default = matches!(cli.command, Command::Run(_));
    init_tracing(quiet_by_default, cli.log_format);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: could not start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Suites(command) => crate::suites_cmd::run(command),
            Command::Data(command) => crate::data_fetch::run(command).await,
            Command::Run(args) => run(*args).await,
            Command::Coordinator(args) => coordinator(args).await,
            Command::Worker(args) => worker(args).await,
            Command::Submit(args) => submit(args).await,
            Command::Status(args) => status(args).await,
            Command::Report(args) => report(args).await,
            Command::Retry(args) => retry(args).await,
            Command::Fingerprint(args) => fingerprint(args).await,
            Command::Rescore(args) => rescore(args).await,
            Command::Token(command) => crate::access_cmd::token(command).await,
            Command::Endpoint(command) => crate::access_cmd::endpoint(command).await,
            Command::Publish(args) => crate::access_cmd::publish(args).await,
            Command::Published(args) => crate::access_cmd::published(args).await,
            Command::Audit(args) => crate::access_cmd::audit(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(quiet_by_default: bool, format: LogFormat) {
    let default = if quiet_by_default { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("JIANZHEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    if format == LogFormat::Json {
        let _ = tracing_subscriber::fmt()
            .json()
            .with_current_span(false)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
        return;
    }
    // Colour codes only for a terminal: a log file or a pipe gets plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

fn run_spec_from_flags(args: &RunArgs) -> Result<(RunSpec, String)> {
    if let Some(path) = &args.spec {
        let (mut spec, text) = read_spec(path)?;
        if !args.no_cache && !args.contamination {
            return Ok((spec, text));
        }
        if args.no_cache {
            spec.cache = false;
        }
        if args.contamination {
            spec.contamination = true;
            spec.contamination_sample = args.contamination_sample.or(spec.contamination_sample);
        }
        let text = spec.to_toml()?;
        return Ok((spec, text));
    }
    let (Some(suite), Some(endpoint), Some(model)) = (&args.suite, &args.endpoint, &args.model)
    else {
        bail!(
            "give either --spec FILE, or --suite, --data, --endpoint and --model (see `jianzhen run --help`)"
        );
    };
    let Some(data) = &args.data else {
        bail!("--data is required with --suite: the folder holding the suite's files");
    };
    let data = std::path::absolute(data)
        .with_context(|| format!("cannot resolve --data {}", data.display()))?;
    let endpoint_name = args.endpoint_name.clone().unwrap_or_else(|| model.clone());
    let spec = RunSpec {
        name: format!("{suite}-{endpoint_name}"),
        seed: 0,
        repeats: args.repeats,
        shard_size: 25,
        cache: !args.no_cache,
        provenance: args.provenance,
        contamination: args.contamination,
        contamination_sample: args.contamination_sample,
        provenance_answers_only: false,
        suites: vec![SuiteSpec {
            name: suite.clone(),
            spec: args
                .suite_spec
                .clone()
                .map(|path| std::path::absolute(&path).unwrap_or(path)),
            data,
            split: args.split.clone(),
            shots: args.shots,
            template: args.template.clone(),
            subjects: args.subjects.clone(),
            limit_per_subject: args.limit_per_subject,
            spread: args.spread,
            scoring: args.scoring.clone(),
            strict: args.strict,
            extractor: args.extractor.clone(),
        }],
        endpoints: vec![EndpointSpec {
            name: endpoint_name,
            base_url: endpoint.clone(),
            model: model.clone(),
            vendor: args.vendor.clone(),
            reference: false,
            api_key_env: args.api_key_env.clone(),
            max_concurrency: args.concurrency,
            requests_per_second: args.requests_per_second,
            timeout_secs: args.timeout_secs,
            temperature: args.temperature,
            max_tokens: args.max_tokens,
            max_attempts: 3,
            registered: false,
            max_response_bytes: None,
            throttle_deadline_secs: None,
        }],
        judge: match (&args.judge_endpoint, &args.judge_model) {
            (Some(base_url), Some(model)) => Some(EndpointSpec {
                name: "judge".to_string(),
                base_url: base_url.clone(),
                model: model.clone(),
                vendor: None,
                reference: false,
                api_key_env: args.judge_api_key_env.clone(),
                max_concurrency: args.concurrency,
                requests_per_second: None,
                timeout_secs: args.timeout_secs,
                temperature: 0.0,
                max_tokens: 32,
                max_attempts: 3,
                registered: false,
                max_response_bytes: None,
                throttle_deadline_secs: None,
            }),
            _ => None,
        },
    };
    let text = spec.to_toml().context("could not write the run spec")?;
    // Validate exactly as a submitted file would be.
    RunSpec::from_toml(&text, "command line")?;
    Ok((spec, text))
}

fn read_spec(path: &Path) -> Result<(RunSpec, String)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read run spec {}", path.display()))?;
    let mut spec = RunSpec::from_toml(&text, &path.display().to_string())?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let base = std::path::absolute(&base).unwrap_or(base);
    spec.resolve_paths(&base);
    let text = spec.to_toml()?;
    Ok((spec, text))
}

pub(crate) type Client = jianzhen_proto::client::AuthedClient;

pub(crate) async fn connect(args: &ClientArgs) -> Result<Client> {
    let url = &args.coordinator;
    let credentials = args.credentials()?;
    jianzhen_proto::client::connect(url, &credentials)
        .await
        .with_context(|| format!("cannot reach the coordinator at {url}; is `jianzhen coordinator` running there, and for https:// is --ca-cert its CA? (set --coordinator or JIANZHEN_COORDINATOR)"))
}

/// The local client of the embedded coordinator of `jianzhen run`.
async fn connect_local(url: &str) -> Result<Client> {
    jianzhen_proto::client::connect(url, &jianzhen_proto::client::ClientCredentials::default())
        .await
        .with_context(|| format!("cannot reach the embedded coordinator at {url}"))
}

pub(crate) fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{}", status.message())
}

async fn run(args: RunArgs) -> Result<()> {
    let (spec, spec_toml) = run_spec_from_flags(&args)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output folder {}", args.out.display()))?;
    let out = std::path::absolute(&args.out)?;
    let store_url = format!("sqlite:{}", out.join("jianzhen.db").display());
    let controller = Controller::open(
        &store_url,
        CoordinatorConfig::default(),
        env!("CARGO_PKG_VERSION"),
    )
    .await?;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind a loopback port")?;
    let address = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let mut server_stopped = stopped.clone();
    let server = tokio::spawn(jianzhen_coordinator::serve(
        listener,
        controller,
        async move {
            let _ = server_stopped.changed().await;
        },
    ));
    let url = format!("http://{address}");
    // One machine: loopback (a local llama.cpp or vLLM) is allowed, and what the user adds.
    let egress = egress_policy(
        jianzhen_worker::egress::EgressPolicy::with_loopback(),
        &args.allow_endpoint,
    )?;
    let mut workers = Vec::new();
    for index in 0..args.workers.max(1) {
        let mut config = jianzhen_worker::WorkerConfig::new(
            &url,
            &format!("local-{index}-{}", std::process::id()),
        );
        config.egress = egress.clone();
        // The one-machine run reads only the key variables its own spec names.
        config.allowed_key_envs = spec
            .endpoints
            .iter()
            .chain(&spec.judge)
            .filter_map(|endpoint| endpoint.api_key_env.clone())
            .collect();
        workers.push(tokio::spawn(jianzhen_worker::run_worker(
            config,
            stopped.clone(),
        )));
    }

    let result = drive_run(
        &url,
        &spec,
        &spec_toml,
        &out,
        !args.no_progress,
        args.retry_errors,
        &args.references,
    )
    .await;

    let _ = stop.send(true);
    for worker in workers {
        let _ = worker.await;
    }
    let _ = server.await;
    result
}

async fn drive_run(
    url: &str,
    spec: &RunSpec,
    spec_toml: &str,
    out: &Path,
    progress: bool,
    retry_errors: bool,
    references: &[PathBuf],
) -> Result<()> {
    // Read the reference profiles before spending any endpoint call.
    read_references(references)?;
    // The audit's cost, before any request is sent.
    if let Some(cost) = jianzhen_coordinator::contamination::cost_statement(spec) {
        eprintln!("{cost}");
    }
    if let Some(cost) = jianzhen_coordinator::planner::provenance::cost_statement(spec) {
        eprintln!("{cost}");
    }
    let mut client = connect_local(url).await?;
    let submitted = client
        .submit_run(v1::SubmitRunRequest {
            spec_toml: spec_toml.to_string(),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    if submitted.resumed {
        eprintln!(
            "resuming run {}: {} of {} items already answered",
            submitted.run_id, submitted.already_done, submitted.total_items
        );
    } else {
        eprintln!(
            "run {} ({}): {} items",
            submitted.run_id, spec.name, submitted.total_items
        );
    }
    if submitted.from_cache > 0 {
        eprintln!(
            "{} items answered from the response cache (--no-cache to call the endpoint again)",
            submitted.from_cache
        );
    }
    if retry_errors {
        let requeued = client
            .retry_run(v1::RetryRunRequest {
                run_id: submitted.run_id.clone(),
            })
            .await
            .map_err(status_error)?
            .into_inner()
            .requeued;
        eprintln!("{requeued} items that ended in api_error queued again");
    }
    let progress = if progress {
        Progress::Stderr
    } else {
        Progress::Hidden
    };
    let status = follow_run(&mut client, &submitted.run_id, progress).await?;
    write_report(&mut client, &submitted.run_id, out, None, references).await?;
    if let Some(hint) = truncation_hint(&status, Some(spec)) {
        eprintln!("{hint}");
    }
    Ok(())
}

fn outcome_count(status: &v1::RunStatus, outcome: &str) -> u64 {
    status
        .outcomes
        .iter()
        .find(|count| count.outcome == outcome)
        .map_or(0, |count| count.count)
}

/// How a followed run shows its progress.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Nothing until the end (`run --no-progress`).
    Hidden,
    /// A progress bar on a terminal; otherwise a line on stderr now and then, so a log
    /// file or a CI job sees the run move.
    Stderr,
    /// A progress bar on a terminal; otherwise a line on stdout now and then
    /// (`status --watch > file`).
    Stdout,
}

/// Least time between two progress lines when the output is not a terminal.
const PROGRESS_LINE_EVERY: Duration = Duration::from_secs(2);

fn progress_line(status: &v1::RunStatus, started: std::time::Instant) -> String {
    let elapsed = started.elapsed().as_secs();
    let share = if status.total_items == 0 {
        0.0
    } else {
        status.done_items as f64 * 100.0 / status.total_items as f64
    };
    format!(
        "[{:02}:{:02}:{:02}] {} {}/{} items ({share:.0}%)  correct {}  wrong {}  unextractable {}  truncated {}  refused {}  api_error {}  workers {}",
        elapsed / 3600,
        elapsed / 60 % 60,
        elapsed % 60,
        status.run_id,
        status.done_items,
        status.total_items,
        outcome_count(status, "correct"),
        outcome_count(status, "wrong"),
        outcome_count(status, "unextractable"),
        outcome_count(status, "truncated"),
        outcome_count(status, "refused"),
        outcome_count(status, "api_error"),
        status.workers_alive
    )
}

/// Polls the run's status with a progress bar (or progress lines) until it completes;
/// returns the last status.
async fn follow_run(
    client: &mut Client,
    run_id: &str,
    progress: Progress,
) -> Result<v1::RunStatus> {
    let terminal = match progress {
        Progress::Stdout => std::io::stdout().is_terminal(),
        Progress::Stderr | Progress::Hidden => std::io::stderr().is_terminal(),
    };
    let bar = if progress != Progress::Hidden && terminal {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    let lines = progress != Progress::Hidden && !terminal;
    let started = std::time::Instant::now();
    let mut last_line: Option<(std::time::Instant, u64)> = None;
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:36.cyan/blue} {pos}/{len} items  {per_sec}  ETA {eta}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut stream = client
        .watch_run(v1::WatchRunRequest {
            run_id: run_id.to_string(),
            interval_ms: 250,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let mut last: Option<v1::RunStatus> = None;
    while let Some(status) = stream.message().await.map_err(status_error)? {
        bar.set_length(status.total_items);
        bar.set_position(status.done_items);
        let throttling: String = status
            .budgets
            .iter()
            .filter(|budget| budget.throttled > 0)
            .map(|budget| {
                format!(
                    "  {} throttled {}x, concurrency {:.0}/{}",
                    budget.endpoint,
                    budget.throttled,
                    budget.effective_concurrency,
                    budget.max_concurrency
                )
            })
            .collect();
        bar.set_message(format!(
            "{}correct {}  wrong {}  unextractable {}  truncated {}  refused {}  errors {}  workers {}{throttling}",
            // Predictions of a hidden split are counted apart from any score.
            match outcome_count(&status, "answered") {
                0 => String::new(),
                answered => format!("answered (hidden split) {answered}  "),
            },
            outcome_count(&status, "correct"),
            outcome_count(&status, "wrong"),
            outcome_count(&status, "unextractable"),
            outcome_count(&status, "truncated"),
            outcome_count(&status, "refused"),
            outcome_count(&status, "api_error"),
            status.workers_alive
        ));
        let complete = status.state == v1::RunState::Complete as i32;
        let due = last_line.is_none_or(|(at, done)| {
            done != status.done_items && at.elapsed() >= PROGRESS_LINE_EVERY
        });
        if lines && due && !complete {
            let line = progress_line(&status, started);
            if progress == Progress::Stdout {
                // SIGPIPE is ignored in `run` (see `survive_broken_connections`), so a reader
                // that went away must not turn a progress line into a panic.
                use std::io::Write as _;
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "{line}");
                let _ = stdout.flush();
            } else {
                eprintln!("{line}");
            }
            last_line = Some((std::time::Instant::now(), status.done_items));
        }
        last = Some(status);
        if complete {
            break;
        }
    }
    bar.finish_and_clear();
    let Some(status) = last else {
        bail!(
            "the coordinator closed the status stream of {run_id} before the run completed; run the same command again to resume"
        );
    };
    if status.state != v1::RunState::Complete as i32 {
        bail!(
            "the status stream of {run_id} ended before the run completed; run the same command again to resume"
        );
    }
    eprintln!(
        "run {} complete: {} items (correct {}, wrong {}, unextractable {}, truncated {}, refused {}, api_error {})",
        status.run_id,
        status.done_items,
        outcome_count(&status, "correct"),
        outcome_count(&status, "wrong"),
        outcome_count(&status, "unextractable"),
        outcome_count(&status, "truncated"),
        outcome_count(&status, "refused"),
        outcome_count(&status, "api_error"),
    );
    // Hidden splits' replies are predictions, counted apart from any score.
    if outcome_count(&status, "answered") > 0 {
        eprintln!(
            "{} answers to questions whose gold is withheld (hidden split): predictions for the benchmark's leaderboard, not scored",
            outcome_count(&status, "answered")
        );
    }
    let left_out: u64 = status.left_out.iter().map(|count| count.records).sum();
    if left_out > 0 {
        eprintln!(
            "{left_out} records of the data files could not become items and were left out (report.md lists them; --strict refuses them instead)"
        );
    }
    if outcome_count(&status, "api_error") > 0 {
        eprintln!(
            "{} items ended in api_error (report.md lists their messages; `jianzhen report RUN --out DIR` writes one); `jianzhen retry {}` (or `run ... --retry-errors`) asks them again",
            outcome_count(&status, "api_error"),
            status.run_id
        );
    }
    Ok(status)
}

/// The `max_tokens` to suggest when answers were cut off: four times the old limit, at
/// least 1024 (what a model that reasons before it answers needs for a C-Eval item).
fn suggested_max_tokens(current: u32) -> u32 {
    current.saturating_mul(4).max(1024)
}

/// Says, at the end of a run, how many answers the token limit cut off and how to
/// rerun: a truncated answer is scored as wrong-like, so a low limit lowers the score.
fn truncation_hint(status: &v1::RunStatus, spec: Option<&RunSpec>) -> Option<String> {
    let truncated = outcome_count(status, "truncated");
    if truncated == 0 || status.done_items == 0 {
        return None;
    }
    let share = truncated as f64 * 100.0 / status.done_items as f64;
    let limits: Vec<u32> = spec
        .map(|spec| {
            spec.endpoints
                .iter()
                .map(|endpoint| endpoint.max_tokens)
                .collect()
        })
        .unwrap_or_default();
    let how = match limits.iter().max() {
        Some(&limit) if spec.is_some_and(|spec| spec.endpoints.len() == 1) => format!(
            "run again with --max-tokens {} (or `max_tokens = {}` in a run spec)",
            suggested_max_tokens(limit),
            suggested_max_tokens(limit)
        ),
        Some(&limit) => format!(
            "raise `max_tokens` in the run spec (e.g. to {}) and run again",
            suggested_max_tokens(limit)
        ),
        None => "raise `max_tokens` in the run spec (e.g. to 1024) and submit it again".to_string(),
    };
    Some(format!(
        "{truncated} of {} answers ({share:.0}%) were cut off by the token limit (outcome truncated; they count against the score): {how}. A new limit makes a new run; the answers that ended on their own come from the response cache, so only the cut-off ones are asked again",
        status.done_items
    ))
}

fn read_references(paths: &[PathBuf]) -> Result<Vec<String>> {
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!(
                    "cannot read reference profile {}; create one with `jianzhen fingerprint`",
                    path.display()
                )
            })?;
            // Checked here so a bad file is named by its path, not by its position.
            jianzhen_provenance::profile::FingerprintProfile::from_json(&text, path)?;
            Ok(text)
        })
        .collect()
}

/// A report file name that stays inside the folder it is joined to: a plain file name,
/// or one folder and a file (`{endpoint}/ceval_submission.json` of a run with several
/// endpoints); no `..`, nothing hidden, nothing absolute.
fn is_safe_report_path(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    parts.len() <= 2 && parts.iter().all(|part| is_plain_file_name(part))
}

/// One path component: no separator, no `..`, not hidden.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && Path::new(name)
            .file_name()
            .is_some_and(|file| file == std::ffi::OsStr::new(name))
}

async fn write_report(
    client: &mut Client,
    run_id: &str,
    out: &Path,
    compare_with: Option<&str>,
    references: &[PathBuf],
) -> Result<()> {
    let report = client
        .render_report(v1::RenderReportRequest {
            run_id: run_id.to_string(),
            compare_run_id: compare_with.unwrap_or_default().to_string(),
            reference_profiles: read_references(references)?,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for file in &report.files {
        // The names come from the coordinator: only names that stay under --out.
        if !is_safe_report_path(&file.name) {
            bail!(
                "the coordinator sent a report file named {:?}, which is not a plain file name; nothing of it was written (is the coordinator the one you meant?)",
                file.name
            );
        }
        let path = out.join(&file.name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, &file.content)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    eprintln!("report written to {}", out.display());
    if let Some(markdown) = report.files.iter().find(|file| file.name == "report.md") {
        // The suite table is the headline; print it so a terminal user sees the scores.
        let text = String::from_utf8_lossy(&markdown.content);
        let table: Vec<&str> = text
            .lines()
            .skip_while(|line| !line.starts_with("| endpoint | suite | subjects"))
            .take_while(|line| line.starts_with('|'))
            .collect();
        // Only a header when every suite was a hidden split: nothing to show.
        if table.len() > 2 {
            print_quietly(&table.join("\n"));
        }
        // A hidden split has no scores: say what will be submitted instead.
        let hidden: Vec<&str> = text
            .lines()
            .skip_while(|line| !line.starts_with("## Hidden test split"))
            .skip(1)
            .take_while(|line| !line.starts_with("## "))
            .filter(|line| line.starts_with('|'))
            .collect();
        if !hidden.is_empty() {
            print_quietly(&format!(
                "no accuracy for a hidden split; predictions for the leaderboard:\n{}",
                hidden.join("\n")
            ));
        }
        // Failed requests say why here, not only in the store: a wrong key or an
        // endpoint that cannot serve the scoring mode fails every item the same way.
        let api_errors: Vec<&str> = text
            .lines()
            .skip_while(|line| *line != "## API errors")
            .skip(1)
            .take_while(|line| !line.starts_with("## "))
            .filter(|line| line.starts_with('|') || line.ends_with("items)."))
            .collect();
        if !api_errors.is_empty() {
            eprintln!(
                "API errors (most frequent first):\n{}",
                api_errors.join("\n")
            );
        }
    }
    Ok(())
}

async fn coordinator(args: CoordinatorArgs) -> Result<()> {
    let positive = |value: f64, flag: &str| -> Result<Duration> {
        if !(value > 0.0 && value.is_finite()) {
            bail!("{flag} must be a positive number of seconds");
        }
        Ok(Duration::from_secs_f64(value))
    };
    let read = |path: &PathBuf, what: &str| {
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the {what} {}", path.display()))
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(jianzhen_coordinator::ServerTls {
            certificate_pem: read(cert, "TLS certificate")?,
            key_pem: read(key, "TLS key")?,
            client_ca_pem: args
                .client_ca
                .as_ref()
                .map(|path| read(path, "client CA certificate"))
                .transpose()?,
        }),
        _ => None,
    };
    // A coordinator that others can reach must not be open to all: refuse to start
    // without TLS off loopback, or without authentication, unless told --insecure.
    let loopback = args.listen.ip().is_loopback();
    if !args.insecure && !loopback && tls.is_none() {
        bail!(
            "refusing to listen on {} without TLS: anyone on the network could read prompts, answers and keys; pass --tls-cert and --tls-key (docs/security.md), or --insecure for a network nobody else can reach",
            args.listen
        );
    }
    let secrets = args
        .secrets_key_file
        .as_ref()
        .map(|path| jianzhen_coordinator::secrets::SecretBox::from_key_file(path))
        .transpose()?;
    let config = CoordinatorConfig {
        heartbeat_ttl: positive(args.heartbeat_ttl_secs, "--heartbeat-ttl-secs")?,
        heartbeat_interval: positive(args.heartbeat_interval_secs, "--heartbeat-interval-secs")?,
        progress_timeout: args
            .progress_timeout_secs
            .map(|secs| positive(secs, "--progress-timeout-secs"))
            .transpose()?,
        secrets,
        insecure: args.insecure,
        vendor_quota: jianzhen_coordinator::controller::VendorQuota {
            max_items_per_run: args.vendor_max_items,
            max_runs_in_flight: args.vendor_max_runs,
            max_repeats: args.vendor_max_repeats,
        },
        data_root: args.data_root.clone(),
        ..CoordinatorConfig::default()
    };
    let shown_store = jianzhen_coordinator::store::redact_url(&args.store);
    // The store's own errors name it (without its password) and say what to do.
    let controller = Controller::open(&args.store, config, env!("CARGO_PKG_VERSION")).await?;
    let listener = TcpListener::bind(args.listen).await.with_context(|| {
        format!(
            "cannot listen on {}; is another coordinator running there?",
            args.listen
        )
    })?;
    let address = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    if args.insecure {
        tracing::warn!(listen = %address, "INSECURE: no authentication; every caller is admin (started with --insecure)");
    }
    tracing::info!(listen = %address, store = %shown_store, tls = tls.is_some(), mtls = args.client_ca.is_some(), authentication = !args.insecure, "coordinator serving");
    // Printed on stdout so scripts (and tests) that pass port 0 learn the real address.
    println!("coordinator listening on {scheme}://{address}");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let options = jianzhen_coordinator::ServeOptions {
        authentication: if args.insecure {
            jianzhen_coordinator::service::Authentication::LocalAdmin
        } else {
            jianzhen_coordinator::service::Authentication::Tokens
        },
        tls,
    };
    if let Some(address) = args.metrics_listen {
        crate::metrics_http::serve(
            address,
            vec![jianzhen_coordinator::metrics::registry()],
            Some(controller.store().clone()),
        )
        .await?;
    }
    let terminated = terminate_signal()?;
    let store = controller.store().clone();
    jianzhen_coordinator::serve_with(listener, controller, options, async {
        terminated.await;
        tracing::info!("shutdown requested; no new calls are accepted, the ones in progress finish");
    })
    .await
    .context("the coordinator's gRPC server failed (for TLS: are --tls-cert and --tls-key a matching PEM pair?)")?;
    store.close().await;
    tracing::info!("coordinator stopped");
    Ok(())
}

/// Resolves on SIGTERM (how Kubernetes, Slurm and systemd stop a process) or Ctrl-C.
///
/// # Errors
/// The SIGTERM handler cannot be installed.
fn terminate_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate =
        signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut interrupt =
        signal(SignalKind::interrupt()).context("cannot install the Ctrl-C handler")?;
    // Only a signal that arrived stops the process: a signal stream that ends (`None`,
    // its driver gone) must not read as one, or a serving coordinator would shut down on
    // its own and refuse every connection.
    Ok(async move {
        tokio::select! {
            Some(()) = terminate.recv() => {}
            Some(()) = interrupt.recv() => {}
            else => std::future::pending::<()>().await,
        }
    })
}

fn egress_policy(
    mut policy: jianzhen_worker::egress::EgressPolicy,
    allowed: &[String],
) -> Result<jianzhen_worker::egress::EgressPolicy> {
    for text in allowed {
        policy.allowed.push(
            jianzhen_worker::egress::Allowed::parse(text)
                .map_err(|problem| anyhow::anyhow!("--allow-endpoint: {problem}"))?,
        );
    }
    Ok(policy)
}

async fn worker(args: WorkerArgs) -> Result<()> {
    let worker_id = args.id.unwrap_or_else(jianzhen_worker::default_worker_id);
    let mut config = jianzhen_worker::WorkerConfig::new(&args.client.coordinator, &worker_id);
    config.credentials = args.client.credentials()?;
    config.allowed_key_envs = args.allow_key_env.into_iter().collect();
    config.egress = egress_policy(
        jianzhen_worker::egress::EgressPolicy::public_only(),
        &args.allow_endpoint,
    )?;
    if !(args.shutdown_grace_secs.is_finite() && (0.0..=3600.0).contains(&args.shutdown_grace_secs))
    {
        anyhow::bail!("--shutdown-grace-secs must be between 0 and 3600");
    }
    config.shutdown_grace = Duration::from_secs_f64(args.shutdown_grace_secs);
    if let Some(address) = args.metrics_listen {
        crate::metrics_http::serve(address, vec![jianzhen_worker::metrics::registry()], None)
            .await?;
    }
    let (stop, stopped) = watch::channel(false);
    let terminated = terminate_signal()?;
    tokio::spawn(async move {
        terminated.await;
        tracing::info!("shutdown requested; finishing the items in flight");
        let _ = stop.send(true);
    });
    jianzhen_worker::run_worker(config, stopped).await?;
    Ok(())
}

async fn submit(args: SubmitArgs) -> Result<()> {
    let (_, spec_toml) = read_spec(&args.spec)?;
    let mut client = connect(&args.client).await?;
    let submitted = client
        .submit_run(v1::SubmitRunRequest { spec_toml })
        .await
        .map_err(status_error)?
        .into_inner();
    eprintln!(
        "{} run {}: {} items, {} already answered",
        if submitted.resumed {
            "resumed"
        } else {
            "submitted"
        },
        submitted.run_id,
        submitted.total_items,
        submitted.already_done
    );
    println!("{}", submitted.run_id);
    Ok(())
}

fn status_line(status: &v1::RunStatus) -> String {
    let state = if status.state == v1::RunState::Complete as i32 {
        "complete"
    } else {
        "running"
    };
    let outcomes: Vec<String> = status
        .outcomes
        .iter()
        .map(|count| format!("{} {}", count.outcome, count.count))
        .collect();
    let budgets: Vec<String> = status
        .budgets
        .iter()
        .map(|budget| {
            format!(
                "{}: concurrency {:.1}/{} ({} granted), throttled {}",
                budget.endpoint,
                budget.effective_concurrency,
                budget.max_concurrency,
                budget.granted_concurrency,
                budget.throttled
            )
        })
        .collect();
    let warning = if status.coordinator_insecure {
        "INSECURE coordinator (--insecure: no authentication)  "
    } else {
        ""
    };
    let left_out: u64 = status.left_out.iter().map(|count| count.records).sum();
    let left_out = if left_out == 0 {
        String::new()
    } else {
        let files: Vec<String> = status
            .left_out
            .iter()
            .map(|count| format!("{} {} {}", count.suite, count.file, count.records))
            .collect();
        format!("  left out {left_out} records ({})", files.join(", "))
    };
    format!(
        "{warning}{}  {}  {}  {}/{} items  shards {}/{} done, {} leased  workers {}  [{}]  {{{}}}{left_out}",
        status.run_id,
        status.name,
        state,
        status.done_items,
        status.total_items,
        status.shards_done,
        status.shards_total,
        status.shards_leased,
        status.workers_alive,
        outcomes.join(", "),
        budgets.join("; ")
    )
}

async fn status(args: StatusArgs) -> Result<()> {
    let mut client = connect(&args.client).await?;
    let Some(run_id) = args.run else {
        let runs = client
            .list_runs(v1::ListRunsRequest {})
            .await
            .map_err(status_error)?
            .into_inner()
            .runs;
        if runs.is_empty() {
            println!("no runs yet; submit one with `jianzhen submit run.toml`");
        }
        for run in runs {
            println!("{}", status_line(&run));
        }
        return Ok(());
    };
    if args.watch {
        let status = follow_run(&mut client, &run_id, Progress::Stdout).await?;
        if let Some(hint) = truncation_hint(&status, None) {
            eprintln!("{hint}");
        }
        return Ok(());
    }
    let status = client
        .get_run_status(v1::GetRunStatusRequest { run_id })
        .await
        .map_err(status_error)?
        .into_inner();
    println!("{}", status_line(&status));
    Ok(())
}

async fn rescore(args: RescoreArgs) -> Result<()> {
    let mut client = connect(&args.client).await?;
    let response = client
        .rescore_run(v1::RescoreRunRequest {
            run_id: args.run.clone(),
            extractor: args.extractor.clone().unwrap_or_default(),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    println!(
        "{} answers of {} re-scored with extractor {}: {} changed",
        response.checked, args.run, response.extractor, response.changed
    );
    Ok(())
}

async fn fingerprint(args: FingerprintArgs) -> Result<()> {
    let mut client = connect(&args.client).await?;
    let profile = client
        .export_profile(v1::ExportProfileRequest {
            run_id: args.run.clone(),
            endpoint: args.endpoint.clone(),
        })
        .await
        .map_err(status_error)?
        .into_inner()
        .profile_json;
    let parsed = jianzhen_provenance::profile::FingerprintProfile::from_json(&profile, &args.out)?;
    jianzhen_provenance::profile::save_profile(&parsed, &args.out)?;
    eprintln!(
        "profile of `{}` written to {} ({} identity answers, {} token counts, {} multiple-choice answers, {} open answers)",
        args.endpoint,
        args.out.display(),
        parsed.identity_answers.len(),
        parsed.tokenizer_counts.len(),
        parsed.mc_answers.len(),
        parsed.open_answers.len()
    );
    Ok(())
}

async fn retry(args: RetryArgs) -> Result<()> {
    let mut client = connect(&args.client).await?;
    let requeued = client
        .retry_run(v1::RetryRunRequest {
            run_id: args.run.clone(),
        })
        .await
        .map_err(status_error)?
        .into_inner()
        .requeued;
    println!(
        "{requeued} items of {} that ended in api_error queued again",
        args.run
    );
    Ok(())
}

async fn report(args: ReportArgs) -> Result<()> {
    let mut client = connect(&args.client).await?;
    write_report(
        &mut client,
        &args.run,
        &args.out,
        args.compare.as_deref(),
        &args.references,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::is_safe_report_path;

    #[test]
    fn report_files_from_a_coordinator_stay_under_out() {
        for good in ["report.md", "results.parquet", "qwen/ceval_submission.json"] {
            assert!(is_safe_report_path(good), "{good}");
        }
        for bad in [
            "../x", "/x", "a/../b", "a/b/c", "..", ".", ".bashrc", "a/.x", "", "a/", "a\\b", "x\0y",
        ] {
            assert!(!is_safe_report_path(bad), "{bad:?}");
        }
    }
}
