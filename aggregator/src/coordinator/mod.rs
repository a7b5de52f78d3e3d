//! The P2P coordinator, optional (aggregator.yml `coordinator:`): it pushes
//! its events to us ([`events`]), we poll its host registry ([`poll`]) and
//! send it automatic actions ([`crate::alerting::actions`]). Routes and
//! shapes follow the reference coordinator (FastAPI, port 8001): a token in
//! `X-API-Key`, hosts under `/api/v1/hosts/`.

pub mod assignments;
pub mod events;
pub mod poll;
pub mod sync;

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

/// Largest answer read from the coordinator.
const MAX_ANSWER: usize = 8 * 1024 * 1024;

impl Coordinator {
    /// GET `path` and parse its JSON answer as `what` (for errors). The
    /// error says why in words, never with the URL or token.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
    ) -> Result<T, String> {
        let response = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .map_err(|e| format!("not reachable: {}", e.without_url()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("{path} answered {}", status.as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n as usize > MAX_ANSWER)
        {
            return Err(format!("{path}: answer over {MAX_ANSWER} bytes"));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("{path}: answer cut short: {}", e.without_url()))?;
        if body.len() > MAX_ANSWER {
            return Err(format!("{path}: answer over {MAX_ANSWER} bytes"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("{path}: answer is not {what}: {e}"))
    }
}

/// Read the coordinator token from `path` (first line, trimmed).
pub fn read_token(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|text| text.lines().next().unwrap_or("").trim().to_string())
        .map_err(|e| format!("cannot read coordinator.token_file {}: {e}", path.display()))
}
