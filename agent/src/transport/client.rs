//! HTTP to the aggregator's ingest port: enroll, hello, batches. One pooled
//! connection, kept alive between requests (HTTP/2 over TLS when the
//! aggregator offers it); the agent always dials out, so hosts behind NAT work.

use std::path::Path;
use std::time::Duration;

use p2pmon_common::wire::{
    Ack, EnrollRequest, EnrollResponse, ErrorBody, Hello, HelloAnswer, RefusalCode, paths,
};

use crate::config::{AggregatorLink, check_aggregator_url};

/// What became of a request.
#[derive(Debug)]
pub enum Reply<T> {
    /// 2xx with the expected body.
    Ok(T),
    /// The aggregator answered with an error.
    Refused(Refused),
    /// No answer: connection refused, reset, timed out, TLS failure, or a 2xx
    /// whose body could not be read. Worth retrying.
    Unreachable(String),
}

#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    /// The machine-readable code of the error body (`forged_host`, ...).
    pub code: String,
    pub message: String,
    /// From `Retry-After`, when given in seconds.
    pub retry_after: Option<Duration>,
}

impl Refused {
    /// Whether the aggregator refused with `code`.
    pub fn is(&self, code: RefusalCode) -> bool {
        self.code == code.as_str()
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {}: {}", self.status, self.code, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("aggregator.url: {0}")]
    Url(String),
    #[error("aggregator.ca_file {path}: {error}")]
    CaFile { path: String, error: String },
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

pub struct Client {
    http: reqwest::Client,
    base: reqwest::Url,
}

impl Client {
    /// A client for `link`; relative `ca_file` paths resolve against `base_dir`.
    pub fn new(link: &AggregatorLink, base_dir: &Path) -> Result<Self, ClientError> {
        let base = check_aggregator_url(&link.url, link.insecure_http).map_err(ClientError::Url)?;
        // reqwest is built without a default crypto provider; ring is the
        // one rustls uses here. Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("p2pmon-agent/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_millis(link.request_timeout_ms))
            .connect_timeout(Duration::from_millis(link.request_timeout_ms.min(5_000)))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(1)
            .tcp_keepalive(Duration::from_secs(30))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .no_proxy();
        if !link.ca_file.as_os_str().is_empty() {
            let path = base_dir.join(&link.ca_file);
            let ca_error = |error: String| ClientError::CaFile {
                path: path.display().to_string(),
                error,
            };
            let pem = std::fs::read(&path).map_err(|e| ca_error(e.to_string()))?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_error(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca_error("no PEM certificate in the file".to_string()));
            }
            // A private CA: trust it alone, not the system's roots as well.
            builder = builder.tls_certs_only(certs);
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Build(error_chain(&e)))?;
        Ok(Self { http, base })
    }

    pub fn base(&self) -> &reqwest::Url {
        &self.base
    }

    fn url(&self, path: &str) -> reqwest::Url {
        let mut url = self.base.clone();
        url.set_path(path);
        url
    }

    /// Exchange a join token for a host credential.
    pub async fn enroll(&self, join_token: &str, host_id: &str) -> Reply<EnrollResponse> {
        let request = EnrollRequest {
            join_token: join_token.to_string(),
            host_id: host_id.to_string(),
        };
        let body = serde_json::to_vec(&request).unwrap_or_default();
        self.post(paths::ENROLL, None, body, false).await
    }

    /// Say who this agent is and which plugins it runs.
    pub async fn hello(&self, credential: &str, hello: &Hello) -> Reply<HelloAnswer> {
        let body = serde_json::to_vec(hello).unwrap_or_default();
        self.post(paths::HELLO, Some(credential), body, false).await
    }

    /// Send one spooled batch (zstd-compressed; in the compact encoding
    /// when `compact`, else JSON).
    pub async fn send(&self, credential: &str, body: Vec<u8>, compact: bool) -> Reply<Ack> {
        let content_type = if compact {
            p2pmon_common::compact::CONTENT_TYPE
        } else {
            "application/json"
        };
        self.post_as(paths::BATCHES, Some(credential), body, true, content_type)
            .await
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        credential: Option<&str>,
        body: Vec<u8>,
        zstd: bool,
    ) -> Reply<T> {
        self.post_as(path, credential, body, zstd, "application/json")
            .await
    }

    async fn post_as<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        credential: Option<&str>,
        body: Vec<u8>,
        zstd: bool,
        content_type: &str,
    ) -> Reply<T> {
        let mut request = self
            .http
            .post(self.url(path))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        if zstd {
            request = request.header(reqwest::header::CONTENT_ENCODING, "zstd");
        }
        if let Some(credential) = credential {
            request = request.bearer_auth(credential);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return Reply::Unreachable(error_chain(&error)),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(error) => return Reply::Unreachable(error_chain(&error)),
        };
        if status.is_success() {
            return match serde_json::from_slice(&bytes) {
                Ok(value) => Reply::Ok(value),
                Err(error) => {
                    Reply::Unreachable(format!("HTTP {status} with an unreadable body: {error}"))
                }
            };
        }
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => (body.code, body.message),
            Err(_) => (
                "http_error".to_string(),
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
            ),
        };
        Reply::Refused(Refused {
            status: status.as_u16(),
            code,
            message,
            retry_after,
        })
    }
}

/// An error with its causes, so "error sending request" says why.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
