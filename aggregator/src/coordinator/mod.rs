//! The P2P coordinator, optional (aggregator.yml `coordinator:`): it pushes
//! its events to us ([`events`]), we poll its host registry ([`poll`]) and
//! send it automatic actions ([`crate::alerting::actions`]). Routes and
//! shapes follow the reference coordinator (FastAPI, port 8001): a token in
//! `X-API-Key`, hosts under `/api/v1/hosts/`.

pub mod events;
pub mod poll;

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

pub use events::{MAX_BODY, accept};

/// How the token travels: the reference coordinator checks `X-API-Key`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoordinatorAuth {
    #[default]
    ApiKey,
    Bearer,
}

/// A coordinator to call: its base URL, token, and an HTTP client.
#[derive(Clone)]
pub struct Coordinator {
    url: String,
    token: String,
    auth: CoordinatorAuth,
    client: reqwest::Client,
}

impl Coordinator {
    pub fn new(
        url: &str,
        token: String,
        auth: CoordinatorAuth,
        timeout: Duration,
    ) -> Result<Self, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the coordinator HTTP client: {e}"))?;
        Ok(Self {
            url: url.trim_end_matches('/').to_string(),
            token,
            auth,
            client,
        })
    }

    /// A request to `path` (from `/`) with the token set.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let (header, value) = match self.auth {
            CoordinatorAuth::ApiKey => ("x-api-key", self.token.clone()),
            CoordinatorAuth::Bearer => ("authorization", format!("Bearer {}", self.token)),
        };
        self.client
            .request(method, format!("{}{path}", self.url))
            .header(header, value)
    }
}

/// Read the coordinator token from `path` (first line, trimmed).
pub fn read_token(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|text| text.lines().next().unwrap_or("").trim().to_string())
        .map_err(|e| format!("cannot read coordinator.token_file {}: {e}", path.display()))
}
