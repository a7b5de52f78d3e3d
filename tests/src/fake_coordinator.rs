//! A local stand-in for the reference P2P coordinator (rathena-AI-world,
//! `p2p-coordinator/coordinator-service`: FastAPI over PostgreSQL and
//! Redis), answering as that service does where the aggregator touches it.
//! Each behaviour names the file of that service it follows:
//!
//! - `middleware/api_key.py`: with a key set, every path but `/`, `/health`,
//!   the docs and two monitoring pages needs `X-API-Key`; without it 401
//!   `{"detail": "Missing X-API-Key header", "error": "unauthorized"}`, with
//!   a wrong one 401 `{"detail": "Invalid API key", ...}`. It runs before
//!   the rate limit (it is the outer middleware, `main.py`).
//! - `middleware/rate_limit.py`: 100 requests per 60 s per client address
//!   and path (fixed window from the first request), then 429 with
//!   `Retry-After` and `X-RateLimit-*` headers; the same paths are exempt.
//! - FastAPI's router: a collection path without its trailing slash answers
//!   307 to the path with it; an unknown path 404 `{"detail": "Not Found"}`.
//! - `api/hosts.py`, `services/host_registry.py`, `models/host.py`: the host
//!   list sorted by `quality_score`, highest first; registration sets status
//!   `online` (nothing ever sets it back); registering a known `host_id`
//!   updates that row, a new one gets the next integer `id` (ids are never
//!   reused, so a host removed and registered again comes back under a new
//!   one); heartbeats store latency, loss, bandwidth, players and zones and
//!   recompute the score; `last_heartbeat` is in no answer; `DELETE` answers
//!   204 with no body, or 404 `{"detail": "Host not found: ID"}`, and drops
//!   the host's sessions (cascade, `models/session.py`).
//! - `api/zones.py`, `services/zone_manager.py`: zones sorted by
//!   `p2p_priority` (highest first) then `zone_name`; `active_sessions`
//!   stays 0 (its statistics update is never called).
//! - `api/sessions.py`, `services/session_manager.py`: new sessions are
//!   `pending` with ids `session-` and 16 hex digits; activation always
//!   fails (it compares an integer with the text column): 400; the
//!   active sessions of an unknown zone or host answer 200 `[]`; a
//!   cleanup (`services/background_tasks.py`, every 5 min) fails pending
//!   and active sessions older than 30 min. Only [`FakeCoordinator::seed_session`]
//!   makes a session active, as writing to its database would.
//! - Timestamps are ISO 8601 with an offset (`+00:00`), as Python's
//!   `isoformat()` writes timezone-aware columns.
//! - `api/monitoring.py`: `GET /api/v1/monitoring/metrics` is Prometheus
//!   text (ten `p2p_*` gauges); `main.py`: `/health` pings Redis (200
//!   `healthy`, 503 `unhealthy`) and `/metrics` is a placeholder JSON.
//!
//! It also answers no route the real one lacks (no failover, no drain, no
//! event push: those are 404 or 405, as there).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Result;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::Digest;

use crate::fake_http::Seen;

/// One host row (the fields `HostResponse` answers, `api/hosts.py`).
#[derive(Clone, Debug)]
struct Host {
    id: i64,
    host_id: String,
    player_id: String,
    player_name: String,
    ip_address: String,
    port: i64,
    cpu_cores: i64,
    cpu_frequency_mhz: i64,
    memory_mb: i64,
    network_speed_mbps: i64,
    latency_ms: f64,
    packet_loss_percent: f64,
    bandwidth_usage_mbps: f64,
    status: String,
    max_players: i64,
    current_players: i64,
    max_zones: i64,
    current_zones: i64,
    quality_score: f64,
}

impl Host {
    /// `models/host.py` `calculate_quality_score`: latency (30 points),
    /// loss (20), free capacity (25) and hardware (25), clamped to 0..100.
    fn score(&mut self) {
        let latency = (30.0 - self.latency_ms / 10.0).max(0.0);
        let loss = (20.0 - self.packet_loss_percent * 2.0).max(0.0);
        let used = if self.max_players == 0 {
            100.0
        } else {
            self.current_players as f64 / self.max_players as f64 * 100.0
        };
        let capacity = (100.0 - used) / 100.0 * 25.0;
        let hardware = (self.cpu_cores as f64 / 4.0 * 10.0).min(10.0)
            + (self.memory_mb as f64 / 8192.0 * 10.0).min(10.0)
            + (self.network_speed_mbps as f64 / 100.0 * 5.0).min(5.0);
        let total = (latency + loss + capacity + hardware).clamp(0.0, 100.0);
        self.quality_score = (total * 100.0).round() / 100.0;
    }

    fn json(&self) -> Value {
        json!({
            "id": self.id, "host_id": self.host_id, "player_id": self.player_id,
            "player_name": self.player_name, "ip_address": self.ip_address, "port": self.port,
            "public_ip": null, "cpu_cores": self.cpu_cores, "cpu_frequency_mhz": self.cpu_frequency_mhz,
            "memory_mb": self.memory_mb, "network_speed_mbps": self.network_speed_mbps,
            "latency_ms": self.latency_ms, "packet_loss_percent": self.packet_loss_percent,
            "bandwidth_usage_mbps": self.bandwidth_usage_mbps, "status": self.status,
            "max_players": self.max_players, "current_players": self.current_players,
            "max_zones": self.max_zones, "current_zones": self.current_zones,
            "quality_score": self.quality_score,
        })
    }
}

#[derive(Clone, Debug)]
struct Zone {
    id: i64,
    zone_id: String,
    zone_name: String,
    map_name: String,
    p2p_enabled: bool,
    p2p_priority: i64,
}

impl Zone {
    /// `ZoneResponse` (`api/zones.py`); the counters stay at their defaults.
    fn json(&self) -> Value {
        json!({
            "id": self.id, "zone_id": self.zone_id, "zone_name": self.zone_name,
            "zone_display_name": self.zone_name, "map_name": self.map_name,
            "max_players": 100, "recommended_players": 50, "p2p_enabled": self.p2p_enabled,
            "p2p_priority": self.p2p_priority, "fallback_enabled": true,
            "min_host_quality_score": 50.0, "min_bandwidth_mbps": 50, "max_latency_ms": 100,
            "status": "enabled", "total_sessions": 0, "active_sessions": 0,
            "total_players_served": 0, "description": null,
        })
    }
}

#[derive(Clone, Debug)]
struct Session {
    id: i64,
    session_id: String,
    host: i64,
    zone: i64,
    status: String,
    current_players: i64,
    average_latency_ms: f64,
    average_packet_loss_percent: f64,
    created_ms: i64,
    ended_ms: Option<i64>,
}

impl Session {
    /// `SessionResponse` (`api/sessions.py`).
    fn json(&self) -> Value {
        json!({
            "id": self.id, "session_id": self.session_id, "host_id": self.host, "zone_id": self.zone,
            "connected_players": [], "current_players": self.current_players, "max_players": 50,
            "status": self.status, "average_latency_ms": self.average_latency_ms,
            "average_packet_loss_percent": self.average_packet_loss_percent,
            "bandwidth_usage_mbps": 0.0,
            "started_at": (self.status == "active").then(|| iso(self.created_ms)),
            "ended_at": self.ended_ms.map(iso),
            "created_at": iso(self.created_ms), "updated_at": iso(self.created_ms),
        })
    }
}

/// Python's `isoformat()` of a timezone-aware UTC time.
fn iso(ms: i64) -> String {
    let text = p2pmon_aggregator::clock::rfc3339(ms);
    match text.strip_suffix('Z') {
        Some(base) => format!("{base}+00:00"),
        None => text,
    }
}

fn now_ms() -> i64 {
    crate::aggregator::now_ms() as i64
}

struct State {
    api_key: Option<String>,
    rate_limit: (u32, Duration),
    windows: HashMap<(String, String), (Instant, u32)>,
    hosts: Vec<Host>,
    next_host: i64,
    zones: Vec<Zone>,
    sessions: Vec<Session>,
    next_session: i64,
    redis_up: bool,
    hung: bool,
    zones_failing: bool,
    seen: Vec<Seen>,
}

/// The stand-in, serving on a free loopback port.
#[derive(Clone)]
pub struct FakeCoordinator {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    state: Arc<Mutex<State>>,
}

static SESSION_COUNTER: AtomicU64 = AtomicU64::new(0);

impl FakeCoordinator {
    /// Start with API keys on (`key`), no hosts, no sessions, and the zones
    /// of [`Self::add_zone`] calls.
    pub async fn start(key: &str) -> Result<Self> {
        // Its own calls (register, heartbeat) go through reqwest.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let state = Arc::new(Mutex::new(State {
            api_key: Some(key.to_string()),
            rate_limit: (100, Duration::from_secs(60)),
            windows: HashMap::new(),
            hosts: Vec::new(),
            next_host: 1,
            zones: Vec::new(),
            sessions: Vec::new(),
            next_session: 1,
            redis_up: true,
            hung: false,
            zones_failing: false,
            seen: Vec::new(),
        }));
        let shared = state.clone();
        let app = axum::Router::new().fallback(
            move |ConnectInfo(peer): ConnectInfo<SocketAddr>,
                  method: Method,
                  uri: Uri,
                  headers: HeaderMap,
                  body: Bytes| {
                let state = shared.clone();
                async move { answer(&state, peer, method, uri, headers, body).await }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        Ok(Self { base, state })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Requests `max` per `window` per client and path (default 100 per 60 s).
    pub fn set_rate_limit(&self, max: u32, window: Duration) {
        self.lock().rate_limit = (max, window);
    }

    /// A zone as an operator creates it (`POST /api/v1/zones/`).
    pub fn add_zone(&self, zone_id: &str, map_name: &str, p2p_enabled: bool, priority: i64) {
        let mut state = self.lock();
        let id = state.zones.len() as i64 + 1;
        state.zones.push(Zone {
            id,
            zone_id: zone_id.to_string(),
            zone_name: zone_id.to_string(),
            map_name: map_name.to_string(),
            p2p_enabled,
            p2p_priority: priority,
        });
    }

    /// A session written straight into its database (the API cannot make
    /// one active); returns its `session_id`.
    pub fn seed_session(&self, host_id: &str, zone_id: &str, status: &str, players: i64) -> String {
        self.seed_session_at(host_id, zone_id, status, players, now_ms())
    }

    /// As [`Self::seed_session`], created at `created_ms`.
    pub fn seed_session_at(
        &self,
        host_id: &str,
        zone_id: &str,
        status: &str,
        players: i64,
        created_ms: i64,
    ) -> String {
        let mut state = self.lock();
        let host = state
            .hosts
            .iter()
            .find(|h| h.host_id == host_id)
            .map(|h| h.id)
            .unwrap_or(-1);
        let zone = state
            .zones
            .iter()
            .find(|z| z.zone_id == zone_id)
            .map(|z| z.id)
            .unwrap_or(-1);
        let session_id = new_session_id();
        let id = state.next_session;
        state.next_session += 1;
        state.sessions.push(Session {
            id,
            session_id: session_id.clone(),
            host,
            zone,
            status: status.to_string(),
            current_players: players,
            average_latency_ms: 20.0,
            average_packet_loss_percent: 0.0,
            created_ms,
            ended_ms: None,
        });
        session_id
    }

    /// Set a seeded session's status (as its own code does on end).
    pub fn set_session_status(&self, session_id: &str, status: &str) {
        let mut state = self.lock();
        if let Some(s) = state
            .sessions
            .iter_mut()
            .find(|s| s.session_id == session_id)
        {
            s.status = status.to_string();
            s.ended_ms = Some(now_ms());
        }
    }

    /// One run of its stale-session cleanup (`cleanup_stale_sessions`,
    /// 30 minutes): pending and active sessions older than that fail.
    pub fn run_cleanup(&self) -> usize {
        let cutoff = now_ms() - 30 * 60 * 1000;
        let mut state = self.lock();
        let mut count = 0;
        for s in state.sessions.iter_mut() {
            if matches!(s.status.as_str(), "pending" | "active") && s.created_ms < cutoff {
                s.status = "failed".to_string();
                s.ended_ms = Some(now_ms());
                count += 1;
            }
        }
        count
    }

    /// Redis down: `/health` answers 503 (the rest still answers, as the
    /// rate limit fails open there).
    pub fn set_redis_up(&self, up: bool) {
        self.lock().redis_up = up;
    }

    /// Its database failing for zones: `GET /api/v1/zones/` answers 500
    /// `{"detail": "Database error occurred"}` (`api/zones.py`).
    pub fn set_zones_failing(&self, failing: bool) {
        self.lock().zones_failing = failing;
    }

    /// Hung: every request waits a minute before it is answered (a
    /// coordinator that is down behind a proxy that still accepts).
    pub fn set_hung(&self, hung: bool) {
        self.lock().hung = hung;
    }

    /// The integer id a host has now.
    pub fn id_of(&self, host_id: &str) -> Option<i64> {
        self.lock()
            .hosts
            .iter()
            .find(|h| h.host_id == host_id)
            .map(|h| h.id)
    }

    /// Requests as received, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// Requests on `path`.
    pub fn on(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }

    /// Register a host through its API, as a game client does; returns its
    /// integer id.
    pub async fn register(&self, host_id: &str) -> Result<i64> {
        let answer: Value = self
            .client(reqwest::Method::POST, "/api/v1/hosts/register")
            .json(&json!({
                "host_id": host_id, "player_id": format!("player-{host_id}"),
                "player_name": host_id, "ip_address": "192.0.2.10", "port": 5121,
                "cpu_cores": 4, "cpu_frequency_mhz": 3000, "memory_mb": 8192,
                "network_speed_mbps": 100,
            }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        answer["id"]
            .as_i64()
            .ok_or_else(|| anyhow::anyhow!("no id in {answer}"))
    }

    /// A heartbeat through its API (what the host claims).
    pub async fn heartbeat(&self, host_id: &str, latency_ms: f64, loss: f64) -> Result<()> {
        self.client(
            reqwest::Method::POST,
            &format!("/api/v1/hosts/{host_id}/heartbeat"),
        )
        .json(&json!({
            "latency_ms": latency_ms, "packet_loss_percent": loss,
            "bandwidth_usage_mbps": 12.5, "current_players": 3, "current_zones": 1,
        }))
        .send()
        .await?
        .error_for_status()?;
        Ok(())
    }

    /// Remove a host through its API (what quarantine calls).
    pub async fn unregister(&self, host_id: &str) -> Result<u16> {
        let response = self
            .client(reqwest::Method::DELETE, &format!("/api/v1/hosts/{host_id}"))
            .send()
            .await?;
        Ok(response.status().as_u16())
    }

    fn client(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let key = self.lock().api_key.clone().unwrap_or_default();
        reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .header("x-api-key", key)
    }
}

fn new_session_id() -> String {
    let n = SESSION_COUNTER.fetch_add(1, Ordering::Relaxed);
    let digest = sha2::Sha256::digest(format!("{n}-{}", now_ms()).as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("session-{}", &hex[..16])
}

fn reply(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

fn not_found() -> Response {
    reply(404, json!({"detail": "Not Found"}))
}

/// `middleware/api_key.py` and `middleware/rate_limit.py` both exempt these.
const EXEMPT: [&str; 7] = [
    "/",
    "/health",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/api/v1/monitoring/health",
    "/api/v1/monitoring/dashboard",
];

async fn answer(
    state: &Mutex<State>,
    peer: SocketAddr,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let hung = {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        s.seen.push(Seen {
            method: method.to_string(),
            path: path.clone(),
            query: uri.query().unwrap_or_default().to_string(),
            headers: headers.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
            at: Instant::now(),
        });
        s.hung
    };
    if hung {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    if !EXEMPT.contains(&path.as_str()) {
        if let Some(key) = s.api_key.clone() {
            match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
                None | Some("") => {
                    return reply(
                        401,
                        json!({"detail": "Missing X-API-Key header", "error": "unauthorized"}),
                    );
                }
                Some(given) if given != key => {
                    return reply(
                        401,
                        json!({"detail": "Invalid API key", "error": "unauthorized"}),
                    );
                }
                Some(_) => {}
            }
        }
        let (max, window) = s.rate_limit;
        let now = Instant::now();
        let entry = s
            .windows
            .entry((peer.ip().to_string(), path.clone()))
            .or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        if entry.1 >= max {
            // Redis' TTL, in whole seconds, rounded up.
            let ttl = window
                .saturating_sub(now.duration_since(entry.0))
                .as_millis()
                .div_ceil(1000) as u64;
            let mut response = reply(
                429,
                json!({"error": "rate_limit_exceeded",
                       "message": format!("Rate limit exceeded. Try again in {ttl} seconds."),
                       "limit": max, "window_seconds": window.as_secs()}),
            );
            let h = response.headers_mut();
            h.insert("retry-after", ttl.into());
            h.insert("x-ratelimit-limit", max.into());
            h.insert("x-ratelimit-remaining", 0.into());
            return response;
        }
        entry.1 += 1;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    route(&mut s, &method, &path, &body)
}

fn route(s: &mut State, method: &Method, path: &str, body: &Value) -> Response {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let get = method == Method::GET;
    match (method.as_str(), segments.as_slice()) {
        // FastAPI's redirect_slashes: the route is declared as "/".
        ("GET", ["api", "v1", "hosts"] | ["api", "v1", "zones"])
        | ("POST", ["api", "v1", "sessions"]) => {
            let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
            if let Ok(location) = format!("{path}/").parse() {
                response.headers_mut().insert("location", location);
            }
            response
        }
        ("GET", ["api", "v1", "hosts", ""]) => {
            let mut hosts = s.hosts.clone();
            hosts.sort_by(|a, b| b.quality_score.total_cmp(&a.quality_score));
            reply(200, Value::Array(hosts.iter().map(Host::json).collect()))
        }
        ("POST", ["api", "v1", "hosts", "register"]) => register(s, body),
        ("POST", ["api", "v1", "hosts", id, "heartbeat"]) => heartbeat(s, id, body),
        ("GET", ["api", "v1", "hosts", id]) => match s.hosts.iter().find(|h| h.host_id == *id) {
            Some(host) => reply(200, host.json()),
            None => reply(404, json!({"detail": format!("Host not found: {id}")})),
        },
        ("DELETE", ["api", "v1", "hosts", id]) => {
            let Some(at) = s.hosts.iter().position(|h| h.host_id == *id) else {
                return reply(404, json!({"detail": format!("Host not found: {id}")}));
            };
            let removed = s.hosts.remove(at);
            s.sessions.retain(|session| session.host != removed.id);
            StatusCode::NO_CONTENT.into_response()
        }
        ("GET", ["api", "v1", "zones", ""]) if s.zones_failing => {
            reply(500, json!({"detail": "Database error occurred"}))
        }
        ("GET", ["api", "v1", "zones", ""]) => {
            let mut zones = s.zones.clone();
            zones.sort_by(|a, b| {
                (b.p2p_priority, &a.zone_name).cmp(&(a.p2p_priority, &b.zone_name))
            });
            reply(200, Value::Array(zones.iter().map(Zone::json).collect()))
        }
        ("GET", ["api", "v1", "sessions", "zone", zone, "active"]) => {
            let key = s.zones.iter().find(|z| z.zone_id == *zone).map(|z| z.id);
            reply(200, active(s, |session| Some(session.zone) == key))
        }
        ("GET", ["api", "v1", "sessions", "host", host, "active"]) => {
            let key = s.hosts.iter().find(|h| h.host_id == *host).map(|h| h.id);
            reply(200, active(s, |session| Some(session.host) == key))
        }
        ("POST", ["api", "v1", "sessions", id, "activate"]) => reply(
            400,
            json!({"detail": format!("Failed to activate session {id}")}),
        ),
        ("POST", ["api", "v1", "sessions", ""]) => create_session(s, body),
        ("GET", ["api", "v1", "monitoring", "metrics"]) => prometheus(s),
        ("GET", ["health"]) if s.redis_up => reply(
            200,
            json!({"status": "healthy", "service": "p2p-coordinator", "version": "1.0.0",
                   "database": {"postgres": "connected", "redis": "connected"}}),
        ),
        ("GET", ["health"]) => reply(
            503,
            json!({"status": "unhealthy", "error": "Error 111 connecting to localhost:6379. Connection refused."}),
        ),
        ("GET", ["metrics"]) => reply(
            200,
            json!({"message": "placeholder: not implemented there"}),
        ),
        (_, ["api", "v1", "hosts", _]) if !get => {
            reply(405, json!({"detail": "Method Not Allowed"}))
        }
        _ => not_found(),
    }
}

fn active(s: &State, pick: impl Fn(&Session) -> bool) -> Value {
    Value::Array(
        s.sessions
            .iter()
            .filter(|session| session.status == "active" && pick(session))
            .map(Session::json)
            .collect(),
    )
}

/// `register_host`: the same `host_id` updates its row (status back to
/// online), a new one gets the next id.
fn register(s: &mut State, body: &Value) -> Response {
    let text = |key: &str| body[key].as_str().map(str::to_string);
    let int = |key: &str| body[key].as_i64();
    let (Some(host_id), Some(player_id), Some(player_name), Some(ip), Some(port)) = (
        text("host_id"),
        text("player_id"),
        text("player_name"),
        text("ip_address"),
        int("port"),
    ) else {
        return reply(
            422,
            json!({"detail": [{"type": "missing", "msg": "Field required"}]}),
        );
    };
    let (cores, mhz, memory, network) = (
        int("cpu_cores").unwrap_or(1),
        int("cpu_frequency_mhz").unwrap_or(1),
        int("memory_mb").unwrap_or(1),
        int("network_speed_mbps").unwrap_or(1),
    );
    let at = match s.hosts.iter().position(|h| h.host_id == host_id) {
        Some(at) => at,
        None => {
            let id = s.next_host;
            s.next_host += 1;
            s.hosts.push(Host {
                id,
                host_id: host_id.clone(),
                player_id: String::new(),
                player_name: String::new(),
                ip_address: String::new(),
                port: 0,
                cpu_cores: 0,
                cpu_frequency_mhz: 0,
                memory_mb: 0,
                network_speed_mbps: 0,
                latency_ms: 0.0,
                packet_loss_percent: 0.0,
                bandwidth_usage_mbps: 0.0,
                status: String::new(),
                max_players: 50,
                current_players: 0,
                max_zones: 5,
                current_zones: 0,
                quality_score: 0.0,
            });
            s.hosts.len() - 1
        }
    };
    let host = &mut s.hosts[at];
    host.player_id = player_id;
    host.player_name = player_name;
    host.ip_address = ip;
    host.port = port;
    host.cpu_cores = cores;
    host.cpu_frequency_mhz = mhz;
    host.memory_mb = memory;
    host.network_speed_mbps = network;
    host.status = "online".to_string();
    host.score();
    reply(201, host.json())
}

/// `update_heartbeat`: pydantic checks the ranges (422), an unknown host 404.
fn heartbeat(s: &mut State, id: &str, body: &Value) -> Response {
    let num = |key: &str| body[key].as_f64();
    let (Some(latency), Some(loss), Some(bandwidth), Some(players), Some(zones)) = (
        num("latency_ms"),
        num("packet_loss_percent"),
        num("bandwidth_usage_mbps"),
        body["current_players"].as_i64(),
        body["current_zones"].as_i64(),
    ) else {
        return reply(
            422,
            json!({"detail": [{"type": "missing", "msg": "Field required"}]}),
        );
    };
    if latency < 0.0 || !(0.0..=100.0).contains(&loss) || bandwidth < 0.0 || players < 0 {
        return reply(
            422,
            json!({"detail": [{"type": "less_than_equal", "msg": "out of range"}]}),
        );
    }
    let Some(host) = s.hosts.iter_mut().find(|h| h.host_id == id) else {
        return reply(404, json!({"detail": format!("Host not found: {id}")}));
    };
    host.latency_ms = latency;
    host.packet_loss_percent = loss;
    host.bandwidth_usage_mbps = bandwidth;
    host.current_players = players;
    host.current_zones = zones;
    host.score();
    reply(200, host.json())
}

/// `create_session`: the host must be online and the zone P2P-enabled;
/// the session starts `pending`.
fn create_session(s: &mut State, body: &Value) -> Response {
    let host = s
        .hosts
        .iter()
        .find(|h| Some(h.host_id.as_str()) == body["host_id"].as_str() && h.status == "online")
        .map(|h| h.id);
    let zone = s
        .zones
        .iter()
        .find(|z| Some(z.zone_id.as_str()) == body["zone_id"].as_str() && z.p2p_enabled)
        .map(|z| z.id);
    let (Some(host), Some(zone)) = (host, zone) else {
        return reply(400, json!({"detail": "Failed to create session"}));
    };
    let session = Session {
        id: s.next_session,
        session_id: new_session_id(),
        host,
        zone,
        status: "pending".to_string(),
        current_players: 0,
        average_latency_ms: 0.0,
        average_packet_loss_percent: 0.0,
        created_ms: now_ms(),
        ended_ms: None,
    };
    s.next_session += 1;
    let body = session.json();
    s.sessions.push(session);
    reply(201, body)
}

/// `get_prometheus_metrics` (`api/monitoring.py`).
fn prometheus(s: &State) -> Response {
    let online: Vec<&Host> = s.hosts.iter().filter(|h| h.status == "online").collect();
    let quality = if online.is_empty() {
        0.0
    } else {
        online.iter().map(|h| h.quality_score).sum::<f64>() / online.len() as f64
    };
    let active: Vec<&Session> = s.sessions.iter().filter(|x| x.status == "active").collect();
    let players: i64 = active.iter().map(|x| x.current_players).sum();
    let latency = if active.is_empty() {
        0.0
    } else {
        active.iter().map(|x| x.average_latency_ms).sum::<f64>() / active.len() as f64
    };
    let gauges: [(&str, &str, String); 10] = [
        (
            "p2p_hosts_total",
            "hosts registered",
            s.hosts.len().to_string(),
        ),
        ("p2p_hosts_online", "hosts online", online.len().to_string()),
        (
            "p2p_host_quality_score_avg",
            "mean quality of online hosts",
            format!("{quality:.2}"),
        ),
        ("p2p_zones_total", "zones", s.zones.len().to_string()),
        (
            "p2p_zones_enabled",
            "zones with P2P on",
            s.zones.iter().filter(|z| z.p2p_enabled).count().to_string(),
        ),
        (
            "p2p_sessions_total",
            "sessions",
            s.sessions.len().to_string(),
        ),
        (
            "p2p_sessions_active",
            "active sessions",
            active.len().to_string(),
        ),
        (
            "p2p_players_total",
            "players in active sessions",
            players.to_string(),
        ),
        (
            "p2p_session_latency_ms_avg",
            "mean session latency (ms)",
            format!("{latency:.2}"),
        ),
        (
            "p2p_coordinator_up",
            "1 while the service answers",
            "1".to_string(),
        ),
    ];
    let mut text = String::new();
    for (name, help, value) in gauges {
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n\n"
        ));
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
