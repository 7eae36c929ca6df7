//! How every client (worker, CLI) connects to a coordinator: TLS when the URL is
//! `https://` (with the coordinator's CA, and a client certificate when the coordinator
//! asks for one), and the caller's bearer token on every call.
//!
//! The token travels in the `authorization` metadata, marked sensitive so tonic never
//! prints it; it is read by the CLI from `JIANZHEN_TOKEN` or a token file, never from a
//! flag value (flags end up in shell history and `ps`).

use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::CoordinatorClient;

/// The client type every caller uses: a channel with the caller's token attached.
pub type AuthedClient = CoordinatorClient<InterceptedService<Channel, BearerToken>>;

/// Largest message a client sends or accepts (a report of a big run).
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// TLS material of a client, as PEM text.
#[derive(Clone, Default)]
pub struct ClientTls {
    /// The CA that signed the coordinator's certificate.
    pub ca_pem: Option<String>,
    /// A client certificate and its key, for a coordinator started with `--client-ca`.
    pub identity_pem: Option<(String, String)>,
}

/// What a client presents to the coordinator.
#[derive(Clone, Default)]
pub struct ClientCredentials {
    /// The bearer token (`jz_…`); `None` for an embedded coordinator without auth.
    pub token: Option<String>,
    pub tls: ClientTls,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ClientCredentials")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ca", &self.tls.ca_pem.is_some())
            .field("client_certificate", &self.tls.identity_pem.is_some())
            .finish()
    }
}

/// Adds `authorization: Bearer …` to every request.
#[derive(Clone)]
pub struct BearerToken {
    value: Option<MetadataValue<Ascii>>,
}

impl Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.value {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid coordinator URL `{url}`: {source}")]
    InvalidUrl {
        url: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error(
        "the coordinator URL `{url}` is https:// but no CA certificate was given; pass --ca-cert FILE (the CA that signed the coordinator's certificate)"
    )]
    MissingCa { url: String },
    #[error(
        "the token is not valid header text (it must be the `jz_…` string `jianzhen token create` printed)"
    )]
    InvalidToken,
    #[error("TLS configuration for `{url}` was refused: {source}")]
    Tls {
        url: String,
        #[source]
        source: tonic::transport::Error,
    },
}

fn endpoint(url: &str, credentials: &ClientCredentials) -> Result<Endpoint, ClientError> {
    let mut endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|source| ClientError::InvalidUrl {
            url: url.to_string(),
            source,
        })?
        .connect_timeout(Duration::from_secs(3))
        .tcp_nodelay(true);
    if url.starts_with("https://") {
        let Some(ca) = &credentials.tls.ca_pem else {
            return Err(ClientError::MissingCa {
                url: url.to_string(),
            });
        };
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
        if let Some((cert, key)) = &credentials.tls.identity_pem {
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|source| ClientError::Tls {
                url: url.to_string(),
                source,
            })?;
    }
    Ok(endpoint)
}

fn interceptor(credentials: &ClientCredentials) -> Result<BearerToken, ClientError> {
    let value = match &credentials.token {
        Some(token) => {
            let mut value: MetadataValue<Ascii> = format!("Bearer {}", token.trim())
                .parse()
                .map_err(|_| ClientError::InvalidToken)?;
            value.set_sensitive(true);
            Some(value)
        }
        None => None,
    };
    Ok(BearerToken { value })
}

fn wrap(channel: Channel, token: BearerToken) -> AuthedClient {
    CoordinatorClient::with_interceptor(channel, token)
        .max_decoding_message_size(MAX_CLIENT_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_CLIENT_MESSAGE_BYTES)
}

/// A client that connects on first use and reconnects by itself (workers: the
/// coordinator may be restarting).
///
/// # Errors
/// A malformed URL, token or TLS material.
pub fn connect_lazy(
    url: &str,
    credentials: &ClientCredentials,
) -> Result<AuthedClient, ClientError> {
    let token = interceptor(credentials)?;
    Ok(wrap(endpoint(url, credentials)?.connect_lazy(), token))
}

/// A client connected now, so that an unreachable or untrusted coordinator is reported
/// at once (CLI commands).
///
/// # Errors
/// As [`connect_lazy`], and the connection (or the TLS handshake) failing.
pub async fn connect(
    url: &str,
    credentials: &ClientCredentials,
) -> Result<AuthedClient, ConnectError> {
    let token = interceptor(credentials)?;
    let channel = endpoint(url, credentials)?.connect().await?;
    Ok(wrap(channel, token))
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Config(#[from] ClientError),
    #[error(transparent)]
    Transport(#[from] tonic::transport::Error),
}
