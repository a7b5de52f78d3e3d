//! What the running aggregator keeps in memory about every host: the latest
//! value of every series (for the realtime API and the hosts page), whether
//! it said hello to this process, and its status from the age of its last
//! batch.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use p2pmon_common::wire::HostType;
use serde::Serialize;

use crate::config::HostsConfig;
use crate::store::{HostRow, SeriesLatest};

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
    pub fn warm(&self, latest: Vec<SeriesLatest>, hosts: &[HostRow]) {
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
