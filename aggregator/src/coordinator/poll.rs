//! Polls the coordinator (the reference coordinator's routes) and sets
//! what it says against the hosts whose agents report here. Each poll asks:
//!
//! - `GET /api/v1/hosts/`, the host registry. Ids are matched to agent ids
//!   by [`super::agent_id`]; hosts skipped (unmatchable ids) are named in
//!   the log and in `skipped`;
//! - zones and active sessions ([`super::assignments`]);
//! - `GET /health` and `GET /api/v1/monitoring/metrics` (its Prometheus
//!   text), stored as series of the source `coordinator` with its
//!   reachability (`coordinator_down`, 1 while the registry cannot be
//!   read), `coordinator_unhealthy` (1 while `/health` is not 200) and the
//!   registry's answer time (`coordinator_latency_ms`).
//!
//! From the registry:
//!
//! - an *unmonitored* host: registered at the coordinator and online there,
//!   but with no agent reporting here (never enrolled, or offline);
//! - an *unknown* host: an agent reporting here for a host the coordinator
//!   does not list;
//! - what each host claims in its heartbeats (loss, latency, bandwidth,
//!   players), stored beside its agent's series as
//!   `coordinator_claimed_*`, and `coordinator_claim_mismatch`: how many
//!   percentage points its claimed loss is from the loss its agent and its
//!   peers measure (mean of `packet_loss` from it and to it, last five
//!   minutes), since volunteer hosts are untrusted;
//! - a host quarantined here (a `quarantine` action the coordinator
//!   accepted) that is in the registry again: `quarantined_host_returned`,
//!   once per registration (its integer id).
//!
//! Each poll feeds alert rules a gauge per host, 1 while the case lasts
//! (`coordinator_unmonitored`, `coordinator_unknown`: a metric rule such as
//! `{warning: 1, duration: 120}` fires after two minutes and resolves by
//! itself, and a host that leaves the registry gets 0, so its alert
//! resolves), tells the feed when a case starts (`status` messages with kind
//! `unmonitored_host` or `unknown_to_coordinator`), derives events from
//! what changed ([`super::derive`]), and shows in `GET /api/v1/coordinator`.
//! A failing or malformed answer keeps the last good view, is reported once
//! on the feed (`coordinator_unreachable`), and the next poll waits twice
//! as long, up to five minutes (and never before a 429's `Retry-After`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use p2pmon_common::rules::{MAX_NAME, is_name};
use p2pmon_common::wire::{EventRecord, MetricKind, MetricRecord};
use tokio::sync::watch;

pub use super::RegisteredHost;
use super::assignments::{self, Assignments, NOT_SERVED};
use super::events::{self, NO_HOST, RETURNED};
pub use super::registry::{Claim, Registry, Skipped, View};
use super::{Coordinator, CoordinatorError};
use crate::clock::now_ms;
use crate::feed::{FeedMessage, Status};
use crate::live::{HostState, MapOnHost, names};
use crate::state::Shared;
use crate::store::WriteJob;

const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The gauges alert rules see.
pub const UNMONITORED: &str = "coordinator_unmonitored";
pub const UNKNOWN: &str = "coordinator_unknown";
pub const DOWN: &str = "coordinator_down";
pub const UNHEALTHY: &str = "coordinator_unhealthy";
pub const LATENCY: &str = "coordinator_latency_ms";
pub const MISMATCH: &str = "coordinator_claim_mismatch";

/// How far back measured loss counts.
const MEASURED_WINDOW_MS: i64 = 5 * 60 * 1000;
/// Most series read from its Prometheus text.
const MAX_PROMETHEUS_SERIES: usize = 1000;

/// Fetch the registry once: the hosts matched to agent ids, and those left out.
async fn fetch(
    coordinator: &Coordinator,
) -> Result<(Vec<RegisteredHost>, Vec<Skipped>), CoordinatorError> {
    let hosts: Vec<RegisteredHost> = coordinator
        .get_json("/api/v1/hosts/", "a host list")
        .await?;
    Ok(match_ids(hosts))
}

/// Give each host its agent id; skip those without one or sharing one.
pub fn match_ids(hosts: Vec<RegisteredHost>) -> (Vec<RegisteredHost>, Vec<Skipped>) {
    let mut skipped = Vec::new();
    let mut matched: Vec<RegisteredHost> = Vec::new();
    for mut host in hosts {
        match super::agent_id(&host.host_id) {
            Ok(agent) => {
                host.agent_id = agent;
                matched.push(host);
            }
            Err(why) => skipped.push(Skipped {
                host_id: host.host_id,
                reason: format!("the id {why}"),
            }),
        }
    }
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for host in &matched {
        *count.entry(host.agent_id.clone()).or_default() += 1;
    }
    let (good, shared): (Vec<_>, Vec<_>) = matched
        .into_iter()
        .partition(|h| count.get(&h.agent_id) == Some(&1));
    skipped.extend(shared.into_iter().map(|h| Skipped {
        reason: format!("another host's id also matches the agent id {}", h.agent_id),
        host_id: h.host_id,
    }));
    (good, skipped)
}

/// Set the registry against the hosts reporting here: (unmonitored, unknown).
pub fn correlate(
    registered: &[RegisteredHost],
    reporting: &BTreeMap<String, HostState>,
) -> (Vec<String>, Vec<String>) {
    let listed: BTreeSet<&str> = registered.iter().map(|h| h.agent_id.as_str()).collect();
    let unmonitored = registered
        .iter()
        .filter(|h| h.status == "online" || h.status == "busy")
        .filter(|h| {
            reporting
                .get(&h.agent_id)
                .is_none_or(|state| *state == HostState::Offline)
        })
        .map(|h| h.agent_id.clone())
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
        let wait_now = wait.max(coordinator.retry_after());
        tokio::select! {
            _ = tokio::time::sleep(wait_now) => {}
            _ = shutdown.changed() => return,
        }
        let started = Instant::now();
        let asked_ms = now_ms();
        match fetch(&coordinator).await {
            Ok((hosts, skipped)) => {
                // Named once when the set changes, not every poll.
                if !skipped.is_empty() && skipped != shared.coordinator.view().skipped {
                    let named: Vec<String> = skipped
                        .iter()
                        .map(|s| format!("{:?} ({})", s.host_id, s.reason))
                        .collect();
                    tracing::warn!(
                        hosts = %named.join(", "),
                        "Coordinator hosts skipped: no agent id matches them."
                    );
                }
                let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
                wait = every;
                coordinator.set_ids(
                    hosts
                        .iter()
                        .map(|h| (h.agent_id.clone(), h.host_id.clone()))
                        .collect(),
                );
                let placed = assignments::fetch(&coordinator, &hosts).await;
                if let Err(error) = &placed {
                    tracing::warn!(%error, "Coordinator zones or sessions not read; keeping the last ones.");
                }
                let healthy = coordinator.get_body("/health").await.is_ok();
                let exposition = coordinator
                    .get_body("/api/v1/monitoring/metrics")
                    .await
                    .map(|b| String::from_utf8_lossy(&b).into_owned());
                if let Err(error) = &exposition {
                    tracing::debug!(%error, "Coordinator metrics not read.");
                }
                own_health(
                    &shared,
                    false,
                    Some(latency_ms),
                    healthy,
                    exposition.ok().as_deref(),
                )
                .await;
                shared.coordinator.update(|v| {
                    v.latency_ms = Some(latency_ms);
                    v.healthy = Some(healthy);
                });
                apply(&shared, asked_ms, hosts, skipped, placed).await;
            }
            Err(error) => {
                let error = error.to_string();
                wait = (wait * 2).clamp(every, MAX_BACKOFF);
                let was_reachable = shared.coordinator.view().reachable || wait == every;
                tracing::warn!(%error, retry_s = wait.as_secs(), "Coordinator poll failed.");
                shared.coordinator.update(|v| {
                    v.reachable = false;
                    v.error = Some(error.clone());
                });
                let healthy = coordinator.get_body("/health").await.is_ok();
                own_health(&shared, true, None, healthy, None).await;
                if was_reachable {
                    shared
                        .hub
                        .publish(FeedMessage::Status(Status::CoordinatorUnreachable {
                            error,
                        }));
                }
            }
        }
    }
}

/// A gauge of the source `coordinator`.
fn gauge(name: &str, value: f64, unit: &str, now: i64) -> MetricRecord {
    MetricRecord {
        plugin: "coordinator".to_string(),
        name: name.to_string(),
        value,
        unit: unit.to_string(),
        kind: MetricKind::Gauge,
        tags: BTreeMap::new(),
        timestamp_ms: now as u64,
    }
}

/// Store points under `host` (a stream of their own, never the agent's)
/// and show them to alert rules.
async fn store_points(shared: &Shared, host: &str, points: Vec<MetricRecord>, now: i64) {
    if points.is_empty() {
        return;
    }
    shared.alerting.observe_unstored(host, &points);
    let mut job = WriteJob::new(
        Arc::from(host),
        "coordinator-poll".to_string(),
        events::next_unsequenced(now),
        now,
    );
    job.metrics = points;
    if let Err(error) = shared.store.write(job).await {
        tracing::error!(%error, "Coordinator figures not stored.");
    }
}

/// The coordinator's own health as series of the source `coordinator`.
async fn own_health(
    shared: &Shared,
    down: bool,
    latency_ms: Option<f64>,
    healthy: bool,
    exposition: Option<&str>,
) {
    let now = now_ms();
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let mut points = vec![
        gauge(DOWN, flag(down), "", now),
        gauge(UNHEALTHY, flag(!healthy), "", now),
    ];
    if let Some(latency) = latency_ms {
        points.push(gauge(LATENCY, latency, "ms", now));
    }
    if let Some(text) = exposition {
        points.extend(parse_prometheus(text, now));
    }
    store_points(shared, NO_HOST, points, now).await;
}

/// Gauges from Prometheus text: `name value` or `name{k="v",...} value`;
/// comments, names that are not ours to store, and unreadable lines are
/// left out.
pub fn parse_prometheus(text: &str, now: i64) -> Vec<MetricRecord> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, rest) = match line.find('{') {
            Some(open) => match line[open..].find('}') {
                Some(close) => (&line[..open + close + 1], &line[open + close + 1..]),
                None => continue,
            },
            None => match line.split_once(char::is_whitespace) {
                Some((name, rest)) => (name, rest),
                None => continue,
            },
        };
        let Some(value) = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite())
        else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.trim_end_matches('}')),
            None => (series, ""),
        };
        if !is_name(name, MAX_NAME) {
            continue;
        }
        let mut tags = BTreeMap::new();
        let mut readable = true;
        for pair in labels.split(',').filter(|p| !p.trim().is_empty()) {
            match pair.split_once('=') {
                Some((key, value))
                    if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') =>
                {
                    let key = key.trim().to_string();
                    let value = value[1..value.len() - 1].to_string();
                    if p2pmon_common::rules::check_tag(
                        &key,
                        &value,
                        p2pmon_common::rules::MAX_FIELD_VALUE,
                    )
                    .is_err()
                    {
                        readable = false;
                    }
                    tags.insert(key, value);
                }
                _ => readable = false,
            }
        }
        if !readable {
            continue;
        }
        let mut point = gauge(name, value, "", now);
        point.tags = tags;
        out.push(point);
        if out.len() >= MAX_PROMETHEUS_SERIES {
            break;
        }
    }
    out
}

/// Mean loss measured for each host: its own `packet_loss` probes and its
/// peers' probes to it, within the last five minutes.
fn measured_loss(shared: &Shared, now: i64) -> BTreeMap<String, f64> {
    let live = shared.live.read();
    let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for (id, host) in live.iter() {
        for point in host.series(names::PACKET_LOSS) {
            if now - point.timestamp_ms > MEASURED_WINDOW_MS {
                continue;
            }
            let mut add = |who: &str| {
                let entry = sums.entry(who.to_string()).or_default();
                entry.0 += point.value;
                entry.1 += 1;
            };
            add(id);
            if let Some(target) = point.tags.get("target")
                && target != id
            {
                add(target);
            }
        }
    }
    sums.into_iter()
        .map(|(id, (sum, n))| (id, sum / n as f64))
        .collect()
}

/// Agent ids with a `quarantine` action the coordinator accepted before
/// `before_ms` (a host listed by a request sent after its removal was
/// accepted has registered again; one listed before may just not be gone
/// yet).
async fn quarantined(shared: &Shared, before_ms: i64) -> BTreeSet<String> {
    shared
        .store
        .read(move |conn| crate::store::actions::quarantined_before(conn, before_ms))
        .await
        .unwrap_or_else(|error| {
            tracing::error!(%error, "Quarantined hosts not read.");
            BTreeSet::new()
        })
}

async fn apply(
    shared: &Shared,
    asked_ms: i64,
    hosts: Vec<RegisteredHost>,
    skipped: Vec<Skipped>,
    placed: Result<Assignments, CoordinatorError>,
) {
    let now = now_ms();
    let (reporting, serving) = live_hosts(shared, now);
    let before = shared.coordinator.view();
    let first_poll = before.last_ok_ms.is_none();
    let placed_ok = placed.is_ok();
    let (mut placed, placed_error) = match placed {
        Ok(placed) => (Some(placed), None),
        Err(error) => (before.assignments.clone(), Some(error.to_string())),
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
    let started = cases_started(
        &before,
        &unmonitored,
        &unknown,
        &not_served_now,
        &not_served_before,
    );

    // Events from what changed since the last good poll.
    let mut derived = if first_poll {
        Vec::new()
    } else {
        let sessions = match (&before.assignments, placed_ok, &placed) {
            (Some(then), true, Some(now)) => {
                Some((then.sessions.as_slice(), now.sessions.as_slice()))
            }
            _ => None,
        };
        super::derive::diff(&before.hosts, &hosts, sessions, now)
    };
    derived.extend(returned(shared, &hosts, asked_ms).await);
    let claims = claims(shared, &hosts, now);

    let left: Vec<String> = before
        .hosts
        .iter()
        .filter(|was| !hosts.iter().any(|h| h.agent_id == was.agent_id))
        .map(|was| was.agent_id.clone())
        .collect();
    shared.coordinator.update(|v| {
        v.reachable = true;
        v.error = None;
        v.last_ok_ms = Some(now);
        v.hosts = hosts;
        v.skipped = skipped;
        v.unmonitored = unmonitored;
        v.unknown = unknown;
        v.claims = claims;
        v.assignments = placed;
        v.assignments_error = placed_error;
    });
    let view = shared.coordinator.view();
    rule_gauges(
        shared,
        &view,
        &left,
        &reporting,
        (&not_served_now, &not_served_before),
        now,
    );
    store_claimed(shared, &view, now).await;
    for status in started {
        shared.hub.publish(FeedMessage::Status(status));
    }
    publish_derived(shared, derived, now).await;
}

/// Every live host's state, and what the ones not offline serve.
fn live_hosts(
    shared: &Shared,
    now: i64,
) -> (
    BTreeMap<String, HostState>,
    BTreeMap<String, BTreeMap<String, MapOnHost>>,
) {
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
}

/// Cases that start with this poll, for the feed: hosts unmonitored or
/// unknown since, maps assigned but not served since.
fn cases_started(
    before: &View,
    unmonitored: &[String],
    unknown: &[String],
    not_served_now: &HostMaps,
    not_served_before: &HostMaps,
) -> Vec<Status> {
    let new_cases = |now: &[String], then: &[String]| -> Vec<String> {
        now.iter().filter(|h| !then.contains(h)).cloned().collect()
    };
    new_cases(unmonitored, &before.unmonitored)
        .into_iter()
        .map(|host| Status::UnmonitoredHost {
            message: format!("{host} is registered at the coordinator but no agent reports for it"),
            host,
        })
        .chain(
            new_cases(unknown, &before.unknown)
                .into_iter()
                .map(|host| Status::UnknownToCoordinator {
                    message: format!("{host} reports here but the coordinator does not list it"),
                    host,
                }),
        )
        .chain(
            not_served_now
                .difference(not_served_before)
                .map(|(host, map)| Status::MapNotServed {
                    message: format!(
                        "{map} is assigned to {host} by the coordinator but its map-server does not serve it"
                    ),
                    host: host.clone(),
                }),
        )
        .collect()
}

/// A quarantined host in the registry again, once per registration.
async fn returned(
    shared: &Shared,
    hosts: &[RegisteredHost],
    asked_ms: i64,
) -> Vec<super::derive::Derived> {
    let mut derived = Vec::new();
    let quarantined = quarantined(shared, asked_ms).await;
    if let Ok(mut returned) = shared.coordinator.returned.lock() {
        for host in hosts.iter().filter(|h| quarantined.contains(&h.agent_id)) {
            let key = (host.agent_id.clone(), host.id.unwrap_or_default());
            if returned.insert(key) {
                let mut fields = BTreeMap::from([
                    ("coordinator_id".to_string(), host.host_id.clone()),
                    (
                        "id".to_string(),
                        host.id.map(|i| i.to_string()).unwrap_or_default(),
                    ),
                    ("derived".to_string(), "poll".to_string()),
                ]);
                fields.insert("status".to_string(), host.status.clone());
                derived.push(super::derive::Derived {
                    host: host.agent_id.clone(),
                    kind: RETURNED,
                    message: format!(
                        "{} was quarantined here and is registered at the coordinator again",
                        host.host_id
                    ),
                    fields,
                });
            }
        }
    }
    derived
}

/// Claimed against measured loss, for hosts with both.
fn claims(shared: &Shared, hosts: &[RegisteredHost], now: i64) -> Vec<Claim> {
    let measured = measured_loss(shared, now);
    hosts
        .iter()
        .filter_map(|h| {
            Some(Claim {
                host: h.agent_id.clone(),
                claimed_loss_percent: h.packet_loss_percent?,
                measured_loss_percent: *measured.get(&h.agent_id)?,
            })
        })
        .collect()
}

/// (host, map) pairs.
type HostMaps = BTreeSet<(String, String)>;

/// The gauges alert rules read: a map not served, a host unmonitored
/// (0 once gone from the registry) or unknown to the coordinator.
fn rule_gauges(
    shared: &Shared,
    view: &View,
    left: &[String],
    reporting: &BTreeMap<String, HostState>,
    (not_served_now, not_served_before): (&HostMaps, &HostMaps),
    now: i64,
) {
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    // Per map: 1 while not served, and 0 once it is again or the
    // assignment ended, so the alert resolves.
    for (host, map) in not_served_now.union(not_served_before) {
        let served = !not_served_now.contains(&(host.clone(), map.clone()));
        let mut point = gauge(NOT_SERVED, flag(!served), "", now);
        point.tags.insert("map".to_string(), map.clone());
        shared.alerting.observe_unstored(host, &[point]);
    }
    for host in &view.hosts {
        let point = gauge(
            UNMONITORED,
            flag(view.unmonitored.contains(&host.agent_id)),
            "",
            now,
        );
        shared.alerting.observe_unstored(&host.agent_id, &[point]);
    }
    // Gone from the registry: no longer unmonitored.
    for host in left {
        shared
            .alerting
            .observe_unstored(host, &[gauge(UNMONITORED, 0.0, "", now)]);
    }
    for (host, state) in reporting {
        if *state != HostState::Offline {
            let point = gauge(UNKNOWN, flag(view.unknown.contains(host)), "", now);
            shared.alerting.observe_unstored(host, &[point]);
        }
    }
}

/// What each host claims, stored beside its agent's series.
async fn store_claimed(shared: &Shared, view: &View, now: i64) {
    for host in &view.hosts {
        let mut points = Vec::new();
        let mut claim = |name: &str, value: Option<f64>, unit: &str| {
            if let Some(value) = value.filter(|v| v.is_finite()) {
                points.push(gauge(name, value, unit, now));
            }
        };
        claim(
            "coordinator_claimed_packet_loss",
            host.packet_loss_percent,
            "%",
        );
        claim("coordinator_claimed_latency_ms", host.latency_ms, "ms");
        claim(
            "coordinator_claimed_bandwidth_mbps",
            host.bandwidth_usage_mbps,
            "Mbit/s",
        );
        claim(
            "coordinator_claimed_players",
            host.current_players.map(|p| p as f64),
            "",
        );
        if let Some(c) = view.claims.iter().find(|c| c.host == host.agent_id) {
            let gap = (c.claimed_loss_percent - c.measured_loss_percent).abs();
            points.push(gauge(MISMATCH, gap, "%", now));
        }
        store_points(shared, &host.agent_id, points, now).await;
    }
}

/// Store derived events (stream `coordinator-derived`) and hand them on as
/// pushed ones are.
async fn publish_derived(shared: &Shared, derived: Vec<super::derive::Derived>, now: i64) {
    if derived.is_empty() {
        return;
    }
    let mut by_host: BTreeMap<String, Vec<EventRecord>> = BTreeMap::new();
    for event in derived {
        tracing::info!(host = %event.host, kind = event.kind, message = %event.message, "Coordinator event derived.");
        let severity =
            events::severity_of(event.kind).unwrap_or(p2pmon_common::wire::Severity::Info);
        by_host.entry(event.host).or_default().push(EventRecord {
            plugin: "coordinator".to_string(),
            kind: event.kind.to_string(),
            severity,
            message: event.message,
            fields: event.fields,
            timestamp_ms: now as u64,
        });
    }
    let seq = events::next_unsequenced(now);
    if let Err(error) = events::store(shared, by_host, "coordinator-derived", seq, now).await {
        tracing::error!(%error, "Derived coordinator events not stored.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(id: &str, status: &str) -> RegisteredHost {
        RegisteredHost {
            host_id: id.to_string(),
            agent_id: id.to_string(),
            status: status.to_string(),
            ..RegisteredHost::default()
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

    #[test]
    fn coordinator_ids_match_agent_ids_or_are_named() {
        let long = "x".repeat(65);
        let listed = [
            "Host-12345",
            "p2p-1",
            "VPS_2",
            "P2P-1",
            "bad\nid",
            "Ünïcode",
            long.as_str(),
        ]
        .into_iter()
        .map(|id| RegisteredHost {
            host_id: id.to_string(),
            ..RegisteredHost::default()
        })
        .collect();
        let (good, skipped) = match_ids(listed);
        let good: Vec<(&str, &str)> = good
            .iter()
            .map(|h| (h.host_id.as_str(), h.agent_id.as_str()))
            .collect();
        assert_eq!(good, [("Host-12345", "host-12345"), ("VPS_2", "vps_2")]);
        let named: Vec<(&str, &str)> = skipped
            .iter()
            .map(|s| (s.host_id.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                ("bad\nid", "the id has control characters"),
                ("Ünïcode", "the id does not start with a letter or digit"),
                (long.as_str(), "the id is over 64 characters"),
                ("p2p-1", "another host's id also matches the agent id p2p-1"),
                ("P2P-1", "another host's id also matches the agent id p2p-1"),
            ]
        );
    }

    #[test]
    fn prometheus_text_becomes_gauges() {
        let text = "# HELP p2p_hosts_total hosts\n# TYPE p2p_hosts_total gauge\np2p_hosts_total 3\n\np2p_host_quality_score_avg 71.25\nx{zone=\"prt\"} 2 1700000000\nBad-Name 1\np2p_sessions_active NaN\nbroken{a=1} 2\n";
        let points = parse_prometheus(text, 5);
        let got: Vec<(&str, f64, usize)> = points
            .iter()
            .map(|p| (p.name.as_str(), p.value, p.tags.len()))
            .collect();
        assert_eq!(
            got,
            [
                ("p2p_hosts_total", 3.0, 0),
                ("p2p_host_quality_score_avg", 71.25, 0),
                ("x", 2.0, 1)
            ]
        );
    }
}
