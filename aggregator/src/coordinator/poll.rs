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
use crate::state::{HostState, Shared, now_ms};

/// Largest registry answer read.
const MAX_ANSWER: usize = 8 * 1024 * 1024;
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The gauges alert rules see.
pub const UNMONITORED: &str = "coordinator_unmonitored";
pub const UNKNOWN: &str = "coordinator_unknown";

/// One host as the coordinator lists it (fields we use; others ignored).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct RegisteredHost {
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
}

#[derive(Default)]
pub struct Registry {
    view: RwLock<View>,
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
    let response = coordinator
        .request(reqwest::Method::GET, "/api/v1/hosts/")
        .send()
        .await
        .map_err(|e| format!("not reachable: {}", e.without_url()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("answered {}", status.as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|n| n as usize > MAX_ANSWER)
    {
        return Err(format!("answer over {MAX_ANSWER} bytes"));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("answer cut short: {}", e.without_url()))?;
    if body.len() > MAX_ANSWER {
        return Err(format!("answer over {MAX_ANSWER} bytes"));
    }
    let hosts: Vec<RegisteredHost> =
        serde_json::from_slice(&body).map_err(|e| format!("answer is not a host list: {e}"))?;
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
                apply(&shared, hosts);
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

fn apply(shared: &Shared, hosts: Vec<RegisteredHost>) {
    let now = now_ms();
    let reporting: BTreeMap<String, HostState> = shared
        .live
        .read()
        .iter()
        .map(|(id, live)| {
            (
                id.clone(),
                HostState::of(live.last_seen_ms, now, &shared.config.hosts),
            )
        })
        .collect();
    let (unmonitored, unknown) = correlate(&hosts, &reporting);
    let before = shared.coordinator.view();
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
        .collect();
    shared.coordinator.update(|v| {
        v.reachable = true;
        v.error = None;
        v.last_ok_ms = Some(now);
        v.hosts = hosts;
        v.unmonitored = unmonitored;
        v.unknown = unknown;
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
