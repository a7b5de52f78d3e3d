//! Polls the coordinator's host registry (`GET /api/v1/hosts/`, the
//! reference coordinator's list) and sets it against the hosts whose agents
//! report here:
//!
//! - an *unmonitored* host: registered at the coordinator and online there,
//!   but with no agent reporting here (never enrolled, or offline);
//! - an *unknown* host: an agent reporting here for a host the coordinator
//!   does not list.
//!
//! Each poll feeds alert rules a gauge per host, 1 while the case lasts
//! (`coordinator_unmonitored`, `coordinator_unknown`: a metric rule such as
//! `{warning: 1, duration: 120}` fires after two minutes and resolves by
//! itself), tells the feed when a case starts (`status` messages with kind
//! `unmonitored_host` or `unknown_to_coordinator`), and shows in
//! `GET /api/v1/coordinator`. A failing or malformed answer keeps the last
//! good view, is reported once on the feed (`coordinator_unreachable`), and
//! the next poll waits twice as long, up to five minutes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use p2pmon_common::rules::is_host_id;
use p2pmon_common::wire::{MetricKind, MetricRecord};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::Coordinator;
use super::assignments::{self, Assignments, NOT_SERVED};
use crate::state::{HostState, Shared, now_ms};

const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The gauges alert rules see.
pub const UNMONITORED: &str = "coordinator_unmonitored";
pub const UNKNOWN: &str = "coordinator_unknown";

/// One host as the coordinator lists it (fields we use; others ignored).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct RegisteredHost {
    /// The coordinator's integer key; sessions name hosts by it.
    #[serde(default)]
    pub id: Option<i64>,
    pub host_id: String,
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
    #[serde(default)]
    pub latency_ms: Option<f64>,
}

/// What the last polls found (`GET /api/v1/coordinator`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct View {
    pub configured: bool,
    pub reachable: bool,
    pub last_ok_ms: Option<i64>,
    /// Why the last poll failed (never the URL or token).
    pub error: Option<String>,
    pub hosts: Vec<RegisteredHost>,
    /// Registered and online there, no agent reporting here.
    pub unmonitored: Vec<String>,
    /// Reporting here, not registered there.
    pub unknown: Vec<String>,
    /// Zones and which maps are on which host; `None` until first fetched.
    pub assignments: Option<Assignments>,
    /// Why the last zones or sessions fetch failed (the last good ones stay).
    pub assignments_error: Option<String>,
}

#[derive(Default)]
pub struct Registry {
    view: RwLock<View>,
    /// Database sync status per host, from pushed events.
    pub sync: super::sync::SyncBook,
}

impl Registry {
    pub fn view(&self) -> View {
        self.view.read().map(|v| v.clone()).unwrap_or_default()
    }

    fn update(&self, f: impl FnOnce(&mut View)) {
        if let Ok(mut view) = self.view.write() {
            f(&mut view);
        }
    }
}

/// Fetch and parse the registry once.
async fn fetch(coordinator: &Coordinator) -> Result<Vec<RegisteredHost>, String> {
    let hosts: Vec<RegisteredHost> = coordinator
        .get_json("/api/v1/hosts/", "a host list")
        .await?;
    let (good, bad): (Vec<_>, Vec<_>) = hosts.into_iter().partition(|h| is_host_id(&h.host_id));
    if !bad.is_empty() {
        tracing::warn!(
            skipped = bad.len(),
            "Coordinator listed hosts with invalid ids; skipped."
        );
    }
    Ok(good)
}

/// Set the registry against the hosts reporting here: (unmonitored, unknown).
pub fn correlate(
    registered: &[RegisteredHost],
    reporting: &BTreeMap<String, HostState>,
) -> (Vec<String>, Vec<String>) {
    let listed: BTreeSet<&str> = registered.iter().map(|h| h.host_id.as_str()).collect();
    let unmonitored = registered
        .iter()
        .filter(|h| h.status == "online" || h.status == "busy")
        .filter(|h| {
            reporting
                .get(&h.host_id)
                .is_none_or(|state| *state == HostState::Offline)
        })
        .map(|h| h.host_id.clone())
        .collect();
    let unknown = reporting
        .iter()
        .filter(|(id, state)| **state != HostState::Offline && !listed.contains(id.as_str()))
        .map(|(id, _)| id.clone())
        .collect();
    (unmonitored, unknown)
}

/// Poll until shutdown.
pub async fn run(
    coordinator: Coordinator,
    every: Duration,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    shared.coordinator.update(|v| v.configured = true);
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        match fetch(&coordinator).await {
            Ok(hosts) => {
                wait = every;
                let placed = assignments::fetch(&coordinator, &hosts).await;
                if let Err(error) = &placed {
                    tracing::warn!(%error, "Coordinator zones or sessions not read; keeping the last ones.");
                }
                apply(&shared, hosts, placed);
            }
            Err(error) => {
                wait = (wait * 2).clamp(every, MAX_BACKOFF);
                let was_reachable = shared.coordinator.view().reachable || wait == every;
                tracing::warn!(%error, retry_s = wait.as_secs(), "Coordinator poll failed.");
                shared.coordinator.update(|v| {
                    v.reachable = false;
                    v.error = Some(error.clone());
                });
                if was_reachable {
                    shared.hub.publish_status(
                        None,
                        serde_json::json!({ "kind": "coordinator_unreachable", "error": error }),
                    );
                }
            }
        }
    }
}

fn apply(shared: &Shared, hosts: Vec<RegisteredHost>, placed: Result<Assignments, String>) {
    let now = now_ms();
    let (reporting, serving) = {
        let live = shared.live.read();
        let mut states = BTreeMap::new();
        let mut serving = BTreeMap::new();
        for (id, host) in live.iter() {
            let state = HostState::of(host.last_seen_ms, now, &shared.config.hosts);
            if state != HostState::Offline {
                serving.insert(id.clone(), host.maps());
            }
            states.insert(id.clone(), state);
        }
        (states, serving)
    };
    let before = shared.coordinator.view();
    let (mut placed, placed_error) = match placed {
        Ok(placed) => (Some(placed), None),
        Err(error) => (before.assignments.clone(), Some(error)),
    };
    if let Some(placed) = placed.as_mut() {
        assignments::correlate(&mut placed.assignments, &serving);
    }
    let not_served_before = before
        .assignments
        .as_ref()
        .map(|p| assignments::not_served(&p.assignments))
        .unwrap_or_default();
    let not_served_now = placed
        .as_ref()
        .map(|p| assignments::not_served(&p.assignments))
        .unwrap_or_default();
    let (unmonitored, unknown) = correlate(&hosts, &reporting);
    let new_cases = |now: &[String], then: &[String]| -> Vec<String> {
        now.iter().filter(|h| !then.contains(h)).cloned().collect()
    };
    let started: Vec<(String, &str, String)> = new_cases(&unmonitored, &before.unmonitored)
        .into_iter()
        .map(|h| {
            let why = format!("{h} is registered at the coordinator but no agent reports for it");
            (h, "unmonitored_host", why)
        })
        .chain(new_cases(&unknown, &before.unknown).into_iter().map(|h| {
            let why = format!("{h} reports here but the coordinator does not list it");
            (h, "unknown_to_coordinator", why)
        }))
        .chain(
            not_served_now
                .difference(&not_served_before)
                .map(|(host, map)| {
                    let why = format!(
                        "{map} is assigned to {host} by the coordinator but its map-server does not serve it"
                    );
                    (host.clone(), "map_not_served", why)
                }),
        )
        .collect();
    shared.coordinator.update(|v| {
        v.reachable = true;
        v.error = None;
        v.last_ok_ms = Some(now);
        v.hosts = hosts;
        v.unmonitored = unmonitored;
        v.unknown = unknown;
        v.assignments = placed;
        v.assignments_error = placed_error;
    });
    // As gauges (1 while the case lasts), so a metric rule fires after its
    // duration and resolves by itself once the case ends.
    let gauge = |name: &str, value: bool| MetricRecord {
        plugin: "coordinator".to_string(),
        name: name.to_string(),
        value: if value { 1.0 } else { 0.0 },
        unit: String::new(),
        kind: MetricKind::Gauge,
        tags: BTreeMap::new(),
        timestamp_ms: now as u64,
    };
    // Per map: 1 while not served, and 0 once it is again or the
    // assignment ended, so the alert resolves.
    for (host, map) in not_served_now.union(&not_served_before) {
        let mut point = gauge(
            NOT_SERVED,
            not_served_now.contains(&(host.clone(), map.clone())),
        );
        point.tags.insert("map".to_string(), map.clone());
        shared.alerting.observe_unstored(host, &[point]);
    }
    let view = shared.coordinator.view();
    for host in &view.hosts {
        let unmonitored = view.unmonitored.contains(&host.host_id);
        let point = gauge(UNMONITORED, unmonitored);
        shared.alerting.observe_unstored(&host.host_id, &[point]);
    }
    for (host, state) in &reporting {
        if *state != HostState::Offline {
            let point = gauge(UNKNOWN, view.unknown.contains(host));
            shared.alerting.observe_unstored(host, &[point]);
        }
    }
    for (host, kind, message) in started {
        shared.hub.publish_status(
            Some(&host),
            serde_json::json!({ "kind": kind, "host": host, "message": message }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(id: &str, status: &str) -> RegisteredHost {
        RegisteredHost {
            id: None,
            host_id: id.to_string(),
            status: status.to_string(),
            quality_score: None,
            current_players: None,
            max_players: None,
            current_zones: None,
            max_zones: None,
            latency_ms: None,
        }
    }

    #[test]
    fn unmonitored_and_unknown_hosts_are_told_apart() {
        let registry = [
            registered("p2p-1", "online"),
            registered("p2p-2", "online"),
            registered("p2p-3", "offline"),
            registered("p2p-4", "busy"),
        ];
        let reporting: BTreeMap<String, HostState> = [
            ("p2p-1".to_string(), HostState::Online),
            ("p2p-4".to_string(), HostState::Offline),
            ("vps-9".to_string(), HostState::Degraded),
            ("old-5".to_string(), HostState::Offline),
        ]
        .into();
        let (unmonitored, unknown) = correlate(&registry, &reporting);
        assert_eq!(unmonitored, ["p2p-2", "p2p-4"]);
        assert_eq!(unknown, ["vps-9"]);
    }
}
