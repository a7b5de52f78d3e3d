//! What request handlers and background jobs share ([`Shared`]): the
//! running parts, each built from its own config by `server`, plus the
//! ingest counters and the credential caches. The data it holds about hosts
//! lives in [`crate::live`]; time helpers in [`crate::clock`].

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use p2pmon_common::describe;
use p2pmon_common::telemetry::{Family, Figure, HealthKey, Reading, Telemetry, health_object};

use crate::clock::now_ms;
use crate::config::{AggregatorConfig, MetricsConfig};
use crate::fanout::Hub;
use crate::feed::{FeedMessage, Status};
use crate::live::{HostState, Live, names};
use crate::store::Store;

/// Ingest counters, for `/metrics` and the health answer.
#[derive(Debug)]
pub struct IngestStats {
    pub batches: Figure,
    /// `ingest_duplicate_batches`; `duplicates` in the health answer.
    pub duplicate_batches: Figure,
    pub points: Figure,
    pub events: Figure,
    /// Batches that came in the compact encoding (`/metrics` only).
    pub compact_batches: Figure,
    /// Refused requests by error code, and refused records by reason.
    pub refused: Family,
}

impl Default for IngestStats {
    fn default() -> Self {
        Self {
            batches: Figure::new(describe!(
                "ingest",
                "batches",
                Counter,
                "count",
                HealthKey::Name,
                "Batches stored."
            )),
            duplicate_batches: Figure::new(describe!(
                "ingest",
                "duplicate_batches",
                Counter,
                "count",
                HealthKey::Alias("duplicates"),
                "Batches acknowledged again without storing."
            )),
            points: Figure::new(describe!(
                "ingest",
                "points",
                Counter,
                "count",
                HealthKey::Name,
                "Points stored."
            )),
            events: Figure::new(describe!(
                "ingest",
                "events",
                Counter,
                "count",
                HealthKey::Name,
                "Events stored."
            )),
            compact_batches: Figure::new(describe!(
                "ingest",
                "compact_batches",
                Counter,
                "count",
                HealthKey::None,
                "Batches received in the compact encoding (the rest came as JSON)."
            )),
            refused: Family::new(
                describe!(
                    "ingest",
                    "refused",
                    Counter,
                    "count",
                    HealthKey::Name,
                    "Requests and records refused, by reason."
                ),
                "reason",
            ),
        }
    }
}

impl Telemetry for IngestStats {
    fn readings(&self) -> Vec<Reading> {
        let mut readings = vec![
            self.batches.reading(),
            self.duplicate_batches.reading(),
            self.points.reading(),
            self.events.reading(),
            self.compact_batches.reading(),
        ];
        readings.extend(self.refused.readings());
        readings
    }
}

impl IngestStats {
    pub fn count_refusal(&self, code: &str, n: u64) {
        self.refused.add(code, n);
    }

    /// The health answer's `ingest` object (`refused` there even when empty).
    pub fn health(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut object = health_object(&self.readings());
        object
            .entry("refused")
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        object
    }
}

/// Recently verified secrets, so that a busy host does not cost a database
/// read per batch. Entries live [`AUTH_TTL`]: a revocation takes effect
/// within that long.
pub const AUTH_TTL: Duration = Duration::from_secs(1);

/// Distinct peers whose probes must agree before a silent host is labelled
/// reachable (`agent_down`) or not (`host_offline`): one host alone cannot
/// label another.
pub const WITNESSES: usize = 2;

#[derive(Default)]
pub struct AuthCache {
    entries: Mutex<HashMap<String, (Option<String>, Instant)>>,
}

impl AuthCache {
    pub fn get(&self, key: &str) -> Option<Option<String>> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(key)
            .filter(|(_, at)| at.elapsed() < AUTH_TTL)
            .map(|(v, _)| v.clone())
    }

    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }

    pub fn put(&self, key: String, value: Option<String>) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > 100_000 {
                entries.retain(|_, (_, at)| at.elapsed() < AUTH_TTL);
            }
            entries.insert(key, (value, Instant::now()));
        }
    }
}

/// Everything request handlers share.
pub struct Shared {
    pub config: AggregatorConfig,
    pub alerting: Arc<crate::alerting::Alerting>,
    pub metrics: MetricsConfig,
    pub store: Arc<Store>,
    pub live: Live,
    pub hub: Arc<Hub>,
    pub ingest: IngestStats,
    pub hosts_auth: AuthCache,
    pub api_auth: AuthCache,
    pub started: Instant,
    /// The coordinator's host registry, as last polled.
    pub coordinator: crate::coordinator::registry::Registry,
    /// Dashboard sessions and WebSocket tickets.
    pub sessions: crate::web::session::Sessions,
    /// The port the feed listens on (as bound: the config may say 0).
    pub ws_port: u16,
    /// Forwarding to InfluxDB, when configured.
    pub tsdb: Option<Arc<crate::tsdb::Tsdb>>,
    /// The public status page as last built.
    pub status_page: crate::status_page::cache::StatusPage,
}

impl Shared {
    /// The host a credential belongs to (cached for [`AUTH_TTL`]).
    pub async fn host_for(&self, credential: &str) -> Option<String> {
        let key = crate::auth::hash(credential);
        if let Some(cached) = self.hosts_auth.get(&key) {
            return cached;
        }
        let credential = credential.to_string();
        let found = self
            .store
            .read(move |conn| crate::auth::host_for_credential(conn, &credential))
            .await
            .unwrap_or_else(|error| {
                tracing::error!(%error, "Credential lookup failed.");
                None
            });
        self.hosts_auth.put(key, found.clone());
        found
    }

    /// Whether `token` is a live API token (cached for [`AUTH_TTL`]).
    pub fn api_token_ok(&self, token: &str) -> bool {
        self.api_token_hash_ok(&crate::auth::hash(token))
    }

    /// Whether the API token of hash `key` is live (cached for [`AUTH_TTL`]).
    pub fn api_token_hash_ok(&self, key: &str) -> bool {
        if let Some(cached) = self.api_auth.get(key) {
            return cached.is_some();
        }
        let ok = crate::store::schema::open_read_only(self.store.path())
            .and_then(|conn| crate::auth::api_token_hash_valid(&conn, key, now_ms()))
            .unwrap_or(false);
        self.api_auth.put(key.to_string(), ok.then(String::new));
        ok
    }

    /// Every known host's last batch and what peers' probes to it within
    /// `window_ms` say (for the no-data rule): a port its own services keep
    /// open (`peer_service_up`) is the better evidence, since the echo
    /// responder lives in the agent and stops with it; the echo
    /// (`packet_loss` under 100 %) is used when no service port is probed.
    ///
    /// Hosts are volunteers, so one host's word about another is evidence,
    /// never a verdict: a label needs [`WITNESSES`] distinct peers saying the
    /// same and none saying otherwise; a host's claims about itself count
    /// for nothing.
    pub fn silence_view(
        &self,
        now: i64,
        window_ms: i64,
    ) -> Vec<(String, i64, Option<crate::alerting::engine::Reach>)> {
        use crate::alerting::engine::Reach;
        let live = self.live.read();
        // target -> (peers that got an answer, peers that did not)
        type Votes<'a> = HashMap<&'a str, (BTreeSet<&'a str>, BTreeSet<&'a str>)>;
        let mut echo: Votes = HashMap::new();
        let mut service: Votes = HashMap::new();
        for (peer, host) in live.iter() {
            for (name, seen) in [
                (names::PACKET_LOSS, &mut echo),
                (names::SERVICE_UP, &mut service),
            ] {
                for point in host.series(name) {
                    if now - point.timestamp_ms > window_ms {
                        continue;
                    }
                    let Some(target) = point.tags.get("target") else {
                        continue;
                    };
                    if target == peer {
                        continue;
                    }
                    let answered = if name == names::PACKET_LOSS {
                        point.value < 100.0
                    } else {
                        point.value >= 1.0
                    };
                    let (yes, no) = seen.entry(target.as_str()).or_default();
                    if answered {
                        yes.insert(peer.as_str());
                    } else {
                        no.insert(peer.as_str());
                    }
                }
            }
        }
        let verdict = |votes: Option<&(BTreeSet<&str>, BTreeSet<&str>)>| {
            let (yes, no) = votes?;
            // A peer that got an answer at any time in the window wins
            // over its own misses.
            let no = no.difference(yes).count();
            match (yes.len(), no) {
                (y, 0) if y >= WITNESSES => Some(true),
                (0, n) if n >= WITNESSES => Some(false),
                _ => None,
            }
        };
        live.iter()
            .filter_map(|(id, host)| {
                let service = verdict(service.get(id.as_str()));
                let echo = verdict(echo.get(id.as_str()));
                let reach = match (service, echo) {
                    (Some(true), _) => Some(Reach {
                        reachable: true,
                        evidence: "service_port",
                    }),
                    (_, Some(true)) => Some(Reach {
                        reachable: true,
                        evidence: "echo",
                    }),
                    (Some(false), _) => Some(Reach {
                        reachable: false,
                        evidence: "service_port",
                    }),
                    (None, Some(false)) => Some(Reach {
                        reachable: false,
                        evidence: "echo",
                    }),
                    (None, None) => None,
                };
                Some((id.clone(), host.last_seen_ms?, reach))
            })
            .collect()
    }

    /// Make a revocation take effect now in this process: forget cached
    /// credentials, require a new hello, and tell the feed.
    pub fn after_revoke(&self, host: &str) {
        self.hosts_auth.clear();
        if let Some(entry) = self.live.write().get_mut(host) {
            entry.hello_ok = false;
        }
        tracing::warn!(%host, "Host revoked.");
        self.hub.publish(FeedMessage::Status(Status::HostRevoked {
            host: host.to_string(),
        }));
    }

    /// Publish host state changes on the feed; called every second.
    pub fn publish_state_changes(&self) {
        let now = now_ms();
        let mut changes = Vec::new();
        {
            let mut live = self.live.write();
            for (id, host) in live.iter_mut() {
                let state = HostState::of(host.last_seen_ms, now, &self.config.hosts);
                if state != host.published_state {
                    changes.push((id.clone(), host.published_state, state, host.last_seen_ms));
                    host.published_state = state;
                }
            }
        }
        for (id, previous, state, last_seen_ms) in changes {
            tracing::info!(host = %id, ?previous, ?state, "Host state changed.");
            self.hub.publish(FeedMessage::Status(Status::HostState {
                host: id,
                state,
                previous,
                last_seen_ms,
            }));
        }
    }
}
