//! `GET /metrics` (API token): the aggregator in Prometheus' text format,
//! for a Prometheus already running beside it. Its own figures
//! (`p2pmon_aggregator_*`: ingest, refusals, feed, alerts, channels, hosts by
//! status) and the latest point of every host series (`p2pmon_<metric>` with
//! `host`, `host_type` and the series' tags as labels; a gauge each).
//!
//! The counters are read from their declarations
//! ([`p2pmon_common::telemetry`]), so a figure has the same name here as in
//! the health answer's group.

use std::collections::BTreeMap;

use p2pmon_common::prometheus::{Sample, render};
use p2pmon_common::telemetry::{Reading, Telemetry};
use p2pmon_common::wire::MetricKind;

use crate::clock::now_ms;
use crate::live::{HostLive, HostState, LatestPoint};
use crate::state::Shared;

const SELF: &str = "p2pmon_aggregator_";

pub fn render_all(shared: &Shared) -> String {
    let mut samples = own_figures(shared);
    samples.extend(alerts_active(shared));
    samples.extend(hosts(shared));
    render(samples)
}

/// Uptime and the counters of ingest, the feed, the channels and InfluxDB.
fn own_figures(shared: &Shared) -> Vec<Sample> {
    let mut readings: Vec<Reading> = shared.ingest.readings();
    readings.extend(shared.store.figures.readings());
    readings.extend(shared.hub.stats.readings());
    for (channel, stats) in shared.alerting.channel_stats() {
        readings.extend(stats.readings().into_iter().map(|mut reading| {
            reading
                .labels
                .insert(0, ("channel".to_string(), channel.to_string()));
            reading
        }));
    }
    if let Some(tsdb) = &shared.tsdb {
        readings.extend(tsdb.stats.readings());
    }
    let mut samples = vec![Sample::new(
        SELF,
        "uptime_seconds",
        MetricKind::Gauge,
        "Seconds since the aggregator started.",
        shared.started.elapsed().as_secs_f64(),
    )];
    samples.extend(readings.iter().map(|reading| reading.sample(SELF)));
    samples
}

/// Alerts firing or acknowledged, by severity (both severities always).
fn alerts_active(shared: &Shared) -> Vec<Sample> {
    let mut active: BTreeMap<String, u64> =
        [("warning".to_string(), 0), ("critical".to_string(), 0)].into();
    for alert in shared.alerting.active() {
        let severity = serde_json::to_value(alert.severity)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        *active.entry(severity).or_default() += 1;
    }
    active
        .into_iter()
        .map(|(severity, n)| {
            Sample::new(
                SELF,
                "alerts_active",
                MetricKind::Gauge,
                "Alerts firing or acknowledged, by severity.",
                n as f64,
            )
            .label("severity", &severity)
        })
        .collect()
}

/// Hosts by status, and every host's latest points.
fn hosts(shared: &Shared) -> Vec<Sample> {
    let now = now_ms();
    let mut samples = Vec::new();
    let mut by_status: BTreeMap<&str, u64> =
        [("online", 0), ("degraded", 0), ("offline", 0)].into();
    let live = shared.live.read();
    for (host, state) in live.iter() {
        let status = match HostState::of(state.last_seen_ms, now, &shared.config.hosts) {
            HostState::Online => "online",
            HostState::Degraded => "degraded",
            HostState::Offline => "offline",
        };
        *by_status.entry(status).or_default() += 1;
        samples.extend(
            state
                .latest
                .values()
                .map(|point| latest_point(host, state, point)),
        );
    }
    drop(live);
    samples.extend(by_status.into_iter().map(|(status, n)| {
        Sample::new(
            SELF,
            "hosts",
            MetricKind::Gauge,
            "Hosts by status.",
            n as f64,
        )
        .label("status", status)
    }));
    samples
}

/// One host series' latest point: a gauge labelled with the host, its type
/// and the series' tags.
fn latest_point(host: &str, state: &HostLive, point: &LatestPoint) -> Sample {
    let help = if point.unit.is_empty() {
        format!(
            "{} (latest point; from the {} plugin)",
            point.name, point.plugin
        )
    } else {
        format!(
            "{} in {} (latest point; from the {} plugin)",
            point.name, point.unit, point.plugin
        )
    };
    let sample = Sample::new(
        "p2pmon_",
        &point.name,
        MetricKind::Gauge,
        &help,
        point.value,
    )
    .label("host", host)
    .label("host_type", state.host_type.as_str());
    point
        .tags
        .iter()
        .fold(sample, |sample, (key, value)| sample.label(key, value))
}
