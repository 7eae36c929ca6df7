//! The worker's error type.

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(
        "invalid coordinator address `{url}`: {source}; use a URL like http://coordinator:7443"
    )]
    InvalidCoordinatorUrl {
        url: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("cannot set up the connection to the coordinator at `{url}`: {source}")]
    Coordinator {
        url: String,
        #[source]
        source: jianzhen_proto::client::ClientError,
    },
    #[error("could not build the HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
}
