//! The P2P coordinator, optional (aggregator.yml `coordinator:`). Routes and
//! shapes follow the reference coordinator (FastAPI, port 8001): a token in
//! `X-API-Key`, hosts under `/api/v1/hosts/`, 100 requests per minute per
//! client and path. That coordinator never calls out, so we poll it
//! ([`poll`]: hosts, zones and sessions, its health and Prometheus
//! figures) and derive its events from what changes between polls
//! ([`derive`]); a coordinator that can push sends them to
//! `POST /api/v1/events` ([`events`]). Automatic actions call it
//! ([`crate::alerting::actions`]).
//!
//! Host ids: the coordinator takes any string as a `host_id`; agents' ids
//! are lowercase `[a-z0-9][a-z0-9_.-]*`, at most 64 bytes. A coordinator id
//! is matched to the agent id [`agent_id`] makes of it (lowercased, every
//! other character a `-`); ids with control characters, too long, or two
//! that come out the same are skipped and named.

pub mod assignments;
pub mod derive;
pub mod events;
pub mod poll;
pub mod registry;
pub mod sync;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use events::{MAX_BODY, accept};

pub use crate::config::CoordinatorAuth;
use crate::config::{CoordinatorConfig, read_secret};

/// One host as the coordinator lists it (fields we use; others ignored).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct RegisteredHost {
    /// The coordinator's integer key; sessions name hosts by it. A host
    /// removed and registered again gets a new one.
    #[serde(default)]
    pub id: Option<i64>,
    /// Its id at the coordinator, as written there.
    pub host_id: String,
    /// The agent id it is matched to ([`agent_id`]).
    #[serde(default)]
    pub agent_id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub quality_score: Option<f64>,
    #[serde(default)]
    pub current_players: Option<i64>,
    #[serde(default)]
    pub max_players: Option<i64>,
    #[serde(default)]
    pub current_zones: Option<i64>,
    #[serde(default)]
    pub max_zones: Option<i64>,
    /// Claimed in its heartbeats, as are the next two.
    #[serde(default)]
    pub latency_ms: Option<f64>,
    #[serde(default)]
    pub packet_loss_percent: Option<f64>,
    #[serde(default)]
    pub bandwidth_usage_mbps: Option<f64>,
}

/// Why a call to the coordinator failed. The words never carry the URL or
/// the token.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    #[error("{0}")]
    Secret(String),
    #[error("cannot build the coordinator HTTP client: {0}")]
    Client(String),
    #[error("not reachable: {0}")]
    Unreachable(String),
    #[error("{path} answered 429 (rate limited; retry after {seconds} s)")]
    RateLimited { path: String, seconds: u64 },
    #[error("{path} answered {status} (redirect to {to}; not followed)")]
    Redirected {
        path: String,
        status: u16,
        to: String,
    },
    #[error("{path} answered {status}")]
    Status { path: String, status: u16 },
    #[error("{path}: answer over {MAX_ANSWER} bytes")]
    TooLarge { path: String },
    #[error("{path}: answer cut short: {reason}")]
    CutShort { path: String, reason: String },
    #[error("{path}: answer is not {what}: {reason}")]
    NotExpected {
        path: String,
        what: String,
        reason: String,
    },
}

/// A coordinator to call: its base URL, token, and an HTTP client.
#[derive(Clone)]
pub struct Coordinator {
    url: String,
    token: String,
    auth: CoordinatorAuth,
    client: reqwest::Client,
    /// Agent id to the coordinator's own `host_id`, from the last poll (so
    /// actions call it by the id it knows).
    ids: Arc<RwLock<BTreeMap<String, String>>>,
    /// No request before this (Unix ms): its last 429's `Retry-After`.
    not_before_ms: Arc<AtomicI64>,
}

impl Coordinator {
    /// The coordinator `config` names, with its token read (`token_file`
    /// relative to `base_dir`); `None` when no URL is set.
    pub fn from_config(
        config: &CoordinatorConfig,
        base_dir: &Path,
    ) -> Result<Option<Self>, CoordinatorError> {
        if config.url.is_empty() {
            return Ok(None);
        }
        let token = match &config.token_file {
            Some(file) => read_secret(&base_dir.join(file), "coordinator.token_file")
                .map_err(CoordinatorError::Secret)?,
            None => config.token.clone(),
        };
        Self::new(
            &config.url,
            token,
            config.auth,
            Duration::from_millis(config.timeout_ms),
        )
        .map(Some)
    }

    pub fn new(
        url: &str,
        token: String,
        auth: CoordinatorAuth,
        timeout: Duration,
    ) -> Result<Self, CoordinatorError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CoordinatorError::Client(e.to_string()))?;
        Ok(Self {
            url: url.trim_end_matches('/').to_string(),
            token,
            auth,
            client,
            ids: Arc::default(),
            not_before_ms: Arc::default(),
        })
    }

    /// The coordinator's `host_id` for an agent id (the agent id itself
    /// when the last poll did not list it).
    pub fn coordinator_id(&self, agent: &str) -> String {
        self.ids
            .read()
            .ok()
            .and_then(|ids| ids.get(agent).cloned())
            .unwrap_or_else(|| agent.to_string())
    }

    fn set_ids(&self, ids: BTreeMap<String, String>) {
        if let Ok(mut held) = self.ids.write() {
            *held = ids;
        }
    }

    /// How long its last 429 asked us to wait, from now.
    pub fn retry_after(&self) -> Duration {
        let left = self.not_before_ms.load(Ordering::Relaxed) - crate::clock::now_ms();
        Duration::from_millis(left.max(0) as u64)
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
    ) -> Result<T, CoordinatorError> {
        let body = self.get_body(path).await?;
        serde_json::from_slice(&body).map_err(|e| CoordinatorError::NotExpected {
            path: path.to_string(),
            what: what.to_string(),
            reason: e.to_string(),
        })
    }

    /// GET `path` and return its body (any 2xx). A 429 sets when the next
    /// request may go ([`Self::retry_after`]); a redirect says where to (the
    /// reference coordinator answers 307 to a collection path without its
    /// trailing slash).
    pub async fn get_body(&self, path: &str) -> Result<bytes::Bytes, CoordinatorError> {
        let response = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .map_err(|e| CoordinatorError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let seconds = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(60)
                .min(MAX_RETRY_AFTER_S);
            let until = crate::clock::now_ms() + seconds as i64 * 1000;
            self.not_before_ms.fetch_max(until, Ordering::Relaxed);
            return Err(CoordinatorError::RateLimited {
                path: path.to_string(),
                seconds,
            });
        }
        if status.is_redirection() {
            let to = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("?");
            return Err(CoordinatorError::Redirected {
                path: path.to_string(),
                status: status.as_u16(),
                to: to.to_string(),
            });
        }
        if !status.is_success() {
            return Err(CoordinatorError::Status {
                path: path.to_string(),
                status: status.as_u16(),
            });
        }
        if response
            .content_length()
            .is_some_and(|n| n as usize > MAX_ANSWER)
        {
            return Err(CoordinatorError::TooLarge {
                path: path.to_string(),
            });
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| CoordinatorError::CutShort {
                path: path.to_string(),
                reason: e.without_url().to_string(),
            })?;
        if body.len() > MAX_ANSWER {
            return Err(CoordinatorError::TooLarge {
                path: path.to_string(),
            });
        }
        Ok(body)
    }
}

/// The longest `Retry-After` honoured (its window is a minute).
const MAX_RETRY_AFTER_S: u64 = 300;

/// Why a coordinator `host_id` has no agent id.
pub fn agent_id(coordinator_id: &str) -> Result<String, &'static str> {
    if p2pmon_common::rules::is_host_id(coordinator_id) {
        return Ok(coordinator_id.to_string());
    }
    if coordinator_id.chars().any(char::is_control) {
        return Err("has control characters");
    }
    let mapped: String = coordinator_id
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_' | '.' | '-') => c,
            _ => '-',
        })
        .collect();
    if p2pmon_common::rules::is_host_id(&mapped) {
        Ok(mapped)
    } else if mapped.is_empty() {
        Err("is empty")
    } else if mapped.len() > 64 {
        Err("is over 64 characters")
    } else {
        Err("does not start with a letter or digit")
    }
}
