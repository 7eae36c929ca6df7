//! The trust commands: tokens (straight in the store, for the operator), vendors'
//! endpoints, published suites and the audit log (through the coordinator, checked by
//! role). See docs/security.md.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use jianzhen_coordinator::auth::{Role, parse_lifetime_ms};
use jianzhen_coordinator::spec::SuiteSpec;
use jianzhen_coordinator::store::Store;
use jianzhen_proto::v1;

use crate::cli::{ClientArgs, connect, status_error};

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once (the store keeps only its hash).
    Create(TokenCreateArgs),
    /// List the tokens: names, roles, expiry, revocation (never the tokens).
    List(StoreArgs),
    /// Revoke a token by name; it is refused from the next call on.
    Revoke(TokenRevokeArgs),
}

#[derive(Args)]
pub struct StoreArgs {
    /// The coordinator's store (the operator's access is the root of trust).
    #[arg(long, env = "JIANZHEN_STORE", default_value = "sqlite:jianzhen.db")]
    store: String,
}

#[derive(Args)]
pub struct TokenCreateArgs {
    /// admin, vendor, reviewer or worker.
    #[arg(long)]
    role: String,
    /// A unique name: the caller's identity in the audit log (for a vendor, the tenant).
    #[arg(long)]
    name: String,
    /// Lifetime such as 30d, 12h or 90m (default: until revoked).
    #[arg(long)]
    expires: Option<String>,
    /// For a worker: trusted with gold answers (judged items carry them). Workers that
    /// call vendors' endpoints should not be.
    #[arg(long)]
    trusted: bool,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args)]
pub struct TokenRevokeArgs {
    name: String,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Subcommand)]
pub enum EndpointCommand {
    /// Register (or replace) one of your endpoints; the key is read from standard input.
    Add(EndpointAddArgs),
    /// Your registered endpoints (an admin sees all), without keys.
    List(ClientOnlyArgs),
}

#[derive(Args)]
pub struct EndpointAddArgs {
    #[arg(long)]
    name: String,
    /// Base URL of the OpenAI-compatible API, e.g. https://api.example.com/v1.
    #[arg(long)]
    url: String,
    #[arg(long)]
    model: String,
    /// Read the endpoint's API key from standard input (never pass it as a flag).
    #[arg(long)]
    key_stdin: bool,
    /// The maker you declare, for the provenance audit.
    #[arg(long)]
    vendor: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct ClientOnlyArgs {
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct PublishArgs {
    /// The name vendors use in their specs (`[[suites]] name = "…"`).
    name: String,
    /// The suite (ceval, cmmlu, …, or any name with --suite-spec).
    #[arg(long)]
    suite: String,
    /// The suite's folder on the coordinator's machine.
    #[arg(long)]
    data: PathBuf,
    #[arg(long)]
    suite_spec: Option<PathBuf>,
    #[arg(long)]
    split: Option<String>,
    #[arg(long, default_value_t = 0)]
    shots: u32,
    #[arg(long)]
    template: Option<String>,
    #[arg(long)]
    scoring: Option<String>,
    #[arg(long)]
    limit_per_subject: Option<u32>,
    #[arg(long, default_value = "")]
    description: String,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct AuditArgs {
    /// At most this many newest entries.
    #[arg(long, default_value_t = 200)]
    limit: u32,
    #[command(flatten)]
    client: ClientArgs,
}

async fn open_store(args: &StoreArgs) -> Result<Store> {
    let shown = jianzhen_coordinator::store::redact_url(&args.store);
    Store::open(&args.store)
        .await
        .with_context(|| format!("cannot open the store {shown}"))
}

fn millis_text(millis: Option<i64>) -> String {
    millis.map_or_else(
        || "-".to_string(),
        jianzhen_coordinator::controller::rfc3339_from_millis,
    )
}

pub async fn token(command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::Create(args) => {
            let role: Role = args.role.parse().map_err(anyhow::Error::msg)?;
            let lifetime = args
                .expires
                .as_deref()
                .map(parse_lifetime_ms)
                .transpose()
                .map_err(anyhow::Error::msg)?;
            if args.trusted && role != Role::Worker {
                bail!("--trusted is for worker tokens (admins are trusted already)");
            }
            let store = open_store(&args.store).await?;
            let token = jianzhen_coordinator::controller::create_token(
                &store,
                &args.name,
                role,
                args.trusted,
                lifetime,
            )
            .await?;
            eprintln!(
                "token `{}` ({role}) created; it is shown once, below. Give it to its holder as a file (--token-file) or JIANZHEN_TOKEN.",
                args.name
            );
            println!("{token}");
        }
        TokenCommand::List(args) => {
            let store = open_store(&args).await?;
            println!("name\trole\ttrusted\tcreated\texpires\trevoked");
            for token in store.list_tokens().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    token.name,
                    token.role,
                    token.trusted,
                    millis_text(Some(token.created_at_ms)),
                    millis_text(token.expires_at_ms),
                    millis_text(token.revoked_at_ms)
                );
            }
        }
        TokenCommand::Revoke(args) => {
            let store = open_store(&args.store).await?;
            jianzhen_coordinator::controller::revoke_token(&store, &args.name).await?;
            eprintln!("token `{}` revoked", args.name);
        }
    }
    Ok(())
}

pub async fn endpoint(command: EndpointCommand) -> Result<()> {
    match command {
        EndpointCommand::Add(args) => {
            let mut api_key = String::new();
            if args.key_stdin {
                std::io::stdin()
                    .take(8192)
                    .read_to_string(&mut api_key)
                    .context("cannot read the key from standard input")?;
            }
            let api_key = api_key.trim().to_string();
            if args.key_stdin && api_key.is_empty() {
                bail!(
                    "--key-stdin was given but standard input was empty; pipe the key in (e.g. `jianzhen endpoint add … --key-stdin < key.txt`)"
                );
            }
            let mut client = connect(&args.client).await?;
            let replaced = client
                .add_endpoint(v1::AddEndpointRequest {
                    name: args.name.clone(),
                    base_url: args.url.clone(),
                    model: args.model.clone(),
                    api_key,
                    vendor: args.vendor.unwrap_or_default(),
                })
                .await
                .map_err(status_error)?
                .into_inner()
                .replaced;
            eprintln!(
                "endpoint `{}` {} (model `{}` at {}); name it in a run spec as `[[endpoints]] name = \"{}\"`",
                args.name,
                if replaced { "replaced" } else { "registered" },
                args.model,
                args.url,
                args.name
            );
        }
        EndpointCommand::List(args) => {
            let mut client = connect(&args.client).await?;
            let endpoints = client
                .list_endpoints(v1::ListEndpointsRequest {})
                .await
                .map_err(status_error)?
                .into_inner()
                .endpoints;
            if endpoints.is_empty() {
                println!("no endpoints registered; add one with `jianzhen endpoint add`");
            }
            for endpoint in endpoints {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    if endpoint.owner.is_empty() {
                        "lab"
                    } else {
                        endpoint.owner.as_str()
                    },
                    endpoint.name,
                    endpoint.model,
                    endpoint.base_url,
                    if endpoint.has_key {
                        "key kept"
                    } else {
                        "no key"
                    }
                );
            }
        }
    }
    Ok(())
}

pub async fn publish(args: PublishArgs) -> Result<()> {
    let suite = SuiteSpec {
        name: args.suite.clone(),
        spec: args.suite_spec.clone(),
        data: args.data.clone(),
        split: args.split.clone(),
        shots: args.shots,
        template: args.template.clone(),
        subjects: Vec::new(),
        limit_per_subject: args.limit_per_subject,
        spread: false,
        scoring: args.scoring.clone(),
        strict: false,
        extractor: None,
    };
    let suite_toml = toml::to_string(&suite).context("cannot write the suite table")?;
    let mut client = connect(&args.client).await?;
    let items = client
        .publish_suite(v1::PublishSuiteRequest {
            name: args.name.clone(),
            suite_toml,
            description: args.description.clone(),
        })
        .await
        .map_err(status_error)?
        .into_inner()
        .items;
    eprintln!(
        "published `{}` ({items} items); vendors name it as `[[suites]] name = \"{}\"`",
        args.name, args.name
    );
    Ok(())
}

pub async fn published(args: ClientOnlyArgs) -> Result<()> {
    let mut client = connect(&args.client).await?;
    let suites = client
        .list_published_suites(v1::ListPublishedSuitesRequest {})
        .await
        .map_err(status_error)?
        .into_inner()
        .suites;
    if suites.is_empty() {
        println!("no suites published yet");
    }
    for suite in suites {
        println!(
            "{}\t{} items\t{}",
            suite.name, suite.items, suite.description
        );
    }
    Ok(())
}

pub async fn audit(args: AuditArgs) -> Result<()> {
    let mut client = connect(&args.client).await?;
    let entries = client
        .list_audit(v1::ListAuditRequest { limit: args.limit })
        .await
        .map_err(status_error)?
        .into_inner()
        .entries;
    for entry in entries {
        println!(
            "{}\t{}\t{}\t{}",
            millis_text(i64::try_from(entry.at_ms).ok()),
            entry.actor,
            entry.action,
            entry.target
        );
    }
    Ok(())
}
