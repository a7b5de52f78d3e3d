//! `GET /metrics` (API token): the aggregator in Prometheus' text format,
//! for a Prometheus already running beside it. Its own figures
//! (`p2pmon_aggregator_*`: ingest, refusals, feed, alerts, channels, hosts by
//! status) and the latest point of every host series (`p2pmon_<metric>` with
//! `host`, `host_type` and the series' tags as labels; a gauge each).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use p2pmon_common::prometheus::{Sample, render};
use p2pmon_common::wire::MetricKind;

use crate::clock::now_ms;
use crate::live::HostState;
use crate::state::Shared;

const SELF: &str = "p2pmon_aggregator_";

pub fn render_all(shared: &Shared) -> String {
    let mut samples = Vec::new();
    let own = |name: &str, kind: MetricKind, help: &str, value: f64| {
        Sample::new(SELF, name, kind, help, value)
    };
    let counter = |value: &std::sync::atomic::AtomicU64| value.load(Ordering::Relaxed) as f64;
    samples.push(own(
        "uptime_seconds",
        MetricKind::Gauge,
        "Seconds since the aggregator started.",
        shared.started.elapsed().as_secs_f64(),
    ));
    let ingest = &shared.ingest;
    for (name, value, help) in [
        ("ingest_batches", &ingest.batches, "Batches stored."),
        (
            "ingest_duplicate_batches",
            &ingest.duplicates,
            "Batches acknowledged again without storing.",
        ),
        ("ingest_points", &ingest.points, "Points stored."),
        ("ingest_events", &ingest.events, "Events stored."),
    ] {
        samples.push(own(name, MetricKind::Counter, help, counter(value)));
    }
    let refused = ingest.refused.lock().map(|r| r.clone()).unwrap_or_default();
    for (reason, n) in refused {
        samples.push(
            own(
                "ingest_refused",
                MetricKind::Counter,
                "Requests and records refused, by reason.",
                n as f64,
            )
            .label("reason", &reason),
        );
    }
    let hub = &shared.hub.stats;
    samples.push(own(
        "websocket_clients",
        MetricKind::Gauge,
        "Connected WebSocket clients.",
        hub.connected.load(Ordering::Relaxed) as f64,
    ));
    for (name, value, help) in [
        (
            "websocket_accepted",
            &hub.accepted_total,
            "WebSocket clients accepted.",
        ),
        (
            "websocket_refused",
            &hub.refused_total,
            "WebSocket handshakes refused.",
        ),
        (
            "websocket_dropped_slow",
            &hub.dropped_slow_total,
            "Clients disconnected for falling behind.",
        ),
        (
            "websocket_messages",
            &hub.messages_total,
            "Messages published on the feed.",
        ),
    ] {
        samples.push(own(name, MetricKind::Counter, help, counter(value)));
    }
    let mut active: BTreeMap<String, u64> =
        [("warning".to_string(), 0), ("critical".to_string(), 0)].into();
    for alert in shared.alerting.active() {
        let severity = serde_json::to_value(alert.severity)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        *active.entry(severity).or_default() += 1;
    }
    for (severity, n) in active {
        samples.push(
            own(
                "alerts_active",
                MetricKind::Gauge,
                "Alerts firing or acknowledged, by severity.",
                n as f64,
            )
            .label("severity", &severity),
        );
    }
    for (channel, stats) in shared.alerting.channel_stats() {
        for (outcome, value) in [
            ("sent", &stats.sent),
            ("failed", &stats.failed),
            ("retried", &stats.retried),
            ("dropped", &stats.dropped),
        ] {
            samples.push(
                own(
                    "notifications",
                    MetricKind::Counter,
                    "Notification attempts, by channel and outcome.",
                    counter(value),
                )
                .label("channel", channel)
                .label("outcome", outcome),
            );
        }
    }

    if let Some(tsdb) = &shared.tsdb {
        let stats = &tsdb.stats;
        for (name, value, help) in [
            (
                "influxdb_sent_lines",
                &stats.sent_lines,
                "Lines InfluxDB accepted.",
            ),
            (
                "influxdb_dropped_lines",
                &stats.dropped_lines,
                "Lines dropped from a full buffer.",
            ),
            (
                "influxdb_rejected_lines",
                &stats.rejected_lines,
                "Lines in batches InfluxDB refused for good.",
            ),
            (
                "influxdb_failures",
                &stats.failures,
                "Writes that failed and were retried.",
            ),
        ] {
            samples.push(own(name, MetricKind::Counter, help, counter(value)));
        }
        samples.push(own(
            "influxdb_buffered_lines",
            MetricKind::Gauge,
            "Lines waiting for InfluxDB.",
            counter(&stats.buffered_lines),
        ));
    }

    let now = now_ms();
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
        for point in state.latest.values() {
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
            let mut sample = Sample::new(
                "p2pmon_",
                &point.name,
                MetricKind::Gauge,
                &help,
                point.value,
            )
            .label("host", host)
            .label("host_type", state.host_type.as_str());
            for (key, value) in &point.tags {
                sample = sample.label(key, value);
            }
            samples.push(sample);
        }
    }
    drop(live);
    for (status, n) in by_status {
        samples.push(
            own("hosts", MetricKind::Gauge, "Hosts by status.", n as f64).label("status", status),
        );
    }
    render(samples)
}
