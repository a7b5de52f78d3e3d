//! What the running aggregator keeps in memory: the latest value of every
//! series per host (for the realtime API and the hosts page), which hosts
//! said hello to this process, host status, and counters.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use p2pmon_common::wire::HostType;
use serde::Serialize;

use crate::config::{AggregatorConfig, HostsConfig, MetricsConfig};
use crate::fanout::Hub;
use crate::store::{SeriesLatest, Store};

/// Metric names the aggregator reads meaning from. Plugins emit them (the
/// system plugin today; game and network plugins with the same names).
pub mod names {
    pub const CPU: &str = "cpu_usage";
    pub const MEMORY: &str = "memory_usage";
    pub const PLAYERS: &str = "player_count";
    pub const MAP_STATUS: &str = "map_status";
    /// Milliseconds to a `target` (a peer host id, `coordinator`, ...).
    pub const LATENCY: &str = "network_latency";
    /// Percent lost to a `target`.
    pub const PACKET_LOSS: &str = "packet_loss";
    /// 1 when a peer's service port (the map-server's) accepts a connection,
    /// per `target` peer (network plugin).
    pub const SERVICE_UP: &str = "peer_service_up";
    /// Mean change between round trips to a `target` (network plugin).
    pub const JITTER: &str = "network_jitter";
    pub const QUARANTINED: &str = "agent_plugin_quarantined";
    /// Bytes per second, per interface and direction (network plugin).
    pub const BANDWIDTH: &str = "bandwidth_usage";
    /// TCP and UDP errors per second (network plugin).
    pub const ERROR_RATE: &str = "network_error_rate";
    /// Established connections on the map-server port (network plugin).
    pub const CONNECTIONS: &str = "connection_count";
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    Online,
    Degraded,
    #[default]
    Offline,
}

impl HostState {
    pub fn of(last_seen_ms: Option<i64>, now_ms: i64, config: &HostsConfig) -> Self {
        let Some(seen) = last_seen_ms else {
            return HostState::Offline;
        };
        let age = now_ms.saturating_sub(seen);
        if age <= config.degraded_after_s as i64 * 1000 {
            HostState::Online
        } else if age <= config.offline_after_s as i64 * 1000 {
            HostState::Degraded
        } else {
            HostState::Offline
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatestPoint {
    pub name: String,
    pub tags: BTreeMap<String, String>,
    pub unit: String,
    pub plugin: String,
    pub value: f64,
    pub timestamp_ms: i64,
}

#[derive(Clone, Debug, Default)]
pub struct HostLive {
    pub host_type: HostType,
    /// Said hello to this process (batches are refused until it has).
    pub hello_ok: bool,
    /// The hello's plugins: instance name -> SHA-256 of its file. Instances
    /// of one file own the same metric names.
    pub plugin_files: Arc<BTreeMap<String, String>>,
    pub last_seen_ms: Option<i64>,
    /// Keyed by series id.
    pub latest: HashMap<i64, LatestPoint>,
    /// Last state published on the feed.
    pub published_state: HostState,
}

impl HostLive {
    pub fn series<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a LatestPoint> + 'a {
        self.latest.values().filter(move |p| p.name == name)
    }

    /// The untagged series `name`, or the first one with tags.
    pub fn value(&self, name: &str) -> Option<f64> {
        let mut found: Option<&LatestPoint> = None;
        for point in self.series(name) {
            if point.tags.is_empty() {
                return Some(point.value);
            }
            found.get_or_insert(point);
        }
        found.map(|p| p.value)
    }

    /// Players on the host: the untagged `player_count`, else the sum per map.
    pub fn players(&self) -> Option<f64> {
        let mut per_map = None;
        for point in self.series(names::PLAYERS) {
            match point.tags.get("map") {
                None => return Some(point.value),
                Some(_) => *per_map.get_or_insert(0.0) += point.value,
            }
        }
        per_map
    }

    /// Maps the host reports, with players and up/down where known.
    pub fn maps(&self) -> BTreeMap<String, MapOnHost> {
        let mut maps: BTreeMap<String, MapOnHost> = BTreeMap::new();
        for point in self.latest.values() {
            let Some(map) = point.tags.get("map") else {
                continue;
            };
            let entry = maps.entry(map.clone()).or_default();
            match point.name.as_str() {
                names::PLAYERS => entry.players = Some(point.value),
                names::MAP_STATUS => entry.up = Some(point.value > 0.0),
                _ => {}
            }
        }
        maps
    }

    /// Mean latency to every target.
    pub fn latency_ms(&self) -> Option<f64> {
        mean(self.series(names::LATENCY).map(|p| p.value))
    }

    pub fn quarantined_plugins(&self) -> usize {
        self.series(names::QUARANTINED)
            .filter(|p| p.value > 0.0)
            .count()
    }

    /// 0 to 100: starts at 100, loses points for what the design docs name
    /// (CPU over 80 %, memory over 85 %, latency over 100 ms, failing
    /// plugins) and for late reports; an offline host scores 0.
    pub fn quality(&self, state: HostState) -> u32 {
        let mut score: i64 = match state {
            HostState::Offline => return 0,
            HostState::Degraded => 70,
            HostState::Online => 100,
        };
        if self.value(names::CPU).is_some_and(|v| v > 80.0) {
            score -= 20;
        }
        if self.value(names::MEMORY).is_some_and(|v| v > 85.0) {
            score -= 20;
        }
        if self.latency_ms().is_some_and(|v| v > 100.0) {
            score -= 20;
        }
        score -= 10 * self.quarantined_plugins().min(3) as i64;
        score.clamp(0, 100) as u32
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MapOnHost {
    pub players: Option<f64>,
    pub up: Option<bool>,
}

pub fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, count) = values.fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    (count > 0).then(|| sum / count as f64)
}

/// Every host the aggregator knows of, live.
#[derive(Default)]
pub struct Live {
    pub hosts: RwLock<HashMap<String, HostLive>>,
}

impl Live {
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, HostLive>> {
        self.hosts.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, HostLive>> {
        self.hosts.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Fill from the store at start-up.
    pub fn warm(&self, latest: Vec<SeriesLatest>, hosts: &[crate::store::HostRow]) {
        let mut live = self.write();
        for row in hosts {
            let host = live.entry(row.id.clone()).or_default();
            host.host_type = if row.host_type == "vps" {
                HostType::Vps
            } else {
                HostType::P2p
            };
            host.last_seen_ms = row.last_seen_ms;
        }
        for point in latest {
            live.entry(point.host_id.clone())
                .or_default()
                .latest
                .insert(
                    point.series_id,
                    LatestPoint {
                        name: point.name,
                        tags: point.tags,
                        unit: point.unit,
                        plugin: point.plugin,
                        value: point.value,
                        timestamp_ms: point.ts,
                    },
                );
        }
    }
}

/// Ingest counters, reported by the health endpoint.
#[derive(Default)]
pub struct IngestStats {
    pub batches: AtomicU64,
    pub duplicates: AtomicU64,
    pub points: AtomicU64,
    pub events: AtomicU64,
    /// Refused requests by error code, and refused records by reason.
    pub refused: Mutex<BTreeMap<String, u64>>,
}

impl IngestStats {
    pub fn count_refusal(&self, code: &str, n: u64) {
        if let Ok(mut refused) = self.refused.lock() {
            *refused.entry(code.to_string()).or_default() += n;
        }
    }

    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "batches": self.batches.load(Ordering::Relaxed),
            "duplicates": self.duplicates.load(Ordering::Relaxed),
            "points": self.points.load(Ordering::Relaxed),
            "events": self.events.load(Ordering::Relaxed),
            "refused": self.refused.lock().map(|r| r.clone()).unwrap_or_default(),
        })
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
    pub coordinator: crate::coordinator::poll::Registry,
    /// Dashboard sessions and WebSocket tickets.
    pub sessions: crate::web::session::Sessions,
    /// The port the feed listens on (as bound: the config may say 0).
    pub ws_port: u16,
    /// Forwarding to InfluxDB, when configured.
    pub tsdb: Option<Arc<crate::tsdb::Tsdb>>,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Unix ms as RFC 3339 (what Alertmanager and Flux read); empty if out of range.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
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
            self.hub.publish_status(
                Some(&id),
                serde_json::json!({
                    "kind": "host_state",
                    "host": id,
                    "state": state,
                    "previous": previous,
                    "last_seen_ms": last_seen_ms,
                }),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(name: &str, tags: &[(&str, &str)], value: f64) -> LatestPoint {
        LatestPoint {
            name: name.to_string(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            unit: String::new(),
            plugin: "p".to_string(),
            value,
            timestamp_ms: 0,
        }
    }

    fn host(points: Vec<LatestPoint>) -> HostLive {
        let mut host = HostLive::default();
        for (id, p) in points.into_iter().enumerate() {
            host.latest.insert(id as i64, p);
        }
        host
    }

    #[test]
    fn state_follows_heartbeat_age() {
        let config = HostsConfig::default();
        assert_eq!(HostState::of(None, 100_000, &config), HostState::Offline);
        assert_eq!(
            HostState::of(Some(95_000), 100_000, &config),
            HostState::Online
        );
        assert_eq!(
            HostState::of(Some(70_000), 100_000, &config),
            HostState::Degraded
        );
        assert_eq!(
            HostState::of(Some(1_000), 100_000, &config),
            HostState::Offline
        );
    }

    #[test]
    fn players_maps_and_quality() {
        let h = host(vec![
            point("player_count", &[("map", "prontera")], 10.0),
            point("player_count", &[("map", "geffen")], 5.0),
            point("map_status", &[("map", "geffen")], 0.0),
            point("cpu_usage", &[], 95.0),
            point("network_latency", &[("target", "a")], 50.0),
            point("network_latency", &[("target", "b")], 250.0),
        ]);
        assert_eq!(h.players(), Some(15.0));
        assert_eq!(h.maps()["geffen"].up, Some(false));
        assert_eq!(h.latency_ms(), Some(150.0));
        // CPU over 80 and latency over 100: 100 - 20 - 20.
        assert_eq!(h.quality(HostState::Online), 60);
        assert_eq!(h.quality(HostState::Offline), 0);
    }
}
