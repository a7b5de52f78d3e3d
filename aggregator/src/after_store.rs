//! The one stage every stored write goes through, whoever sent it: an
//! agent's batch (ingest) or the coordinator's events (pushed, or derived
//! from its registry). What the store kept goes to alert rules, InfluxDB,
//! the live view and the feed.
//!
//! The two sources differ in what the stored records say about the host:
//! an agent's batch is the host's own word (it updates when the host was
//! last seen, and its latest values), while the coordinator's events never
//! count as data from the host itself, so a silent agent still raises
//! `no_data`; database sync events also update the sync status.

use std::collections::BTreeMap;

use p2pmon_common::wire::{MetricKind, MetricRecord};

use crate::coordinator::sync;
use crate::feed::{FeedMessage, Status, WsMetric};
use crate::live::LatestPoint;
use crate::state::Shared;
use crate::store::WriteOutcome;

/// Who sent what was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The host's agent; `received` is when the batch arrived (Unix ms).
    Agent { received: i64 },
    /// The coordinator, about the host.
    Coordinator,
}

/// Hand on what the store kept of one write for `host`.
pub fn stored(shared: &Shared, host: &str, source: Source, outcome: WriteOutcome) {
    let WriteOutcome {
        metrics,
        series_ids,
        event_records: events,
        ..
    } = outcome;
    shared
        .alerting
        .observe(host, &metrics, &series_ids, &events);
    if let Source::Agent { received } = source {
        if let Some(tsdb) = &shared.tsdb {
            // What the store kept (a host over its series limit loses new series).
            let kept = metrics
                .iter()
                .zip(&series_ids)
                .filter(|(_, id)| id.is_some());
            tsdb.offer(host, kept.map(|(m, _)| m));
        }
        update_live(shared, host, received, &metrics, &series_ids);
        publish_metrics(shared, host, received, metrics, &series_ids);
    }
    for event in events {
        let status = match source {
            Source::Agent { .. } => Status::Event {
                host: host.to_string(),
                event,
            },
            Source::Coordinator => {
                if let Some(lag) = shared.coordinator.sync.apply(host, &event) {
                    let point = MetricRecord {
                        plugin: "coordinator".to_string(),
                        name: sync::LAG.to_string(),
                        value: lag,
                        unit: "s".to_string(),
                        kind: MetricKind::Gauge,
                        tags: BTreeMap::new(),
                        timestamp_ms: event.timestamp_ms,
                    };
                    shared.alerting.observe_unstored(host, &[point]);
                }
                Status::CoordinatorEvent {
                    host: host.to_string(),
                    event,
                }
            }
        };
        shared.hub.publish(FeedMessage::Status(status));
    }
}

/// The host was seen at `received`; its latest value per stored series.
fn update_live(
    shared: &Shared,
    host: &str,
    received: i64,
    metrics: &[MetricRecord],
    series_ids: &[Option<i64>],
) {
    let mut live = shared.live.write();
    let entry = live.entry(host.to_string()).or_default();
    entry.last_seen_ms = Some(received);
    for (metric, id) in metrics.iter().zip(series_ids) {
        let Some(id) = id else { continue };
        let ts = metric.timestamp_ms as i64;
        match entry.latest.get_mut(id) {
            Some(point) if point.timestamp_ms <= ts => {
                point.value = metric.value;
                point.timestamp_ms = ts;
            }
            Some(_) => {}
            None => {
                entry.latest.insert(
                    *id,
                    LatestPoint {
                        name: metric.name.clone(),
                        tags: metric.tags.clone(),
                        unit: metric.unit.clone(),
                        plugin: metric.plugin.clone(),
                        value: metric.value,
                        timestamp_ms: ts,
                    },
                );
            }
        }
    }
}

/// One `metrics` message with the stored metrics, when anyone listens.
fn publish_metrics(
    shared: &Shared,
    host: &str,
    received: i64,
    metrics: Vec<MetricRecord>,
    series_ids: &[Option<i64>],
) {
    // Nobody listening: skip building the message.
    if shared.hub.client_count() == 0 {
        return;
    }
    let metrics: Vec<WsMetric> = metrics
        .into_iter()
        .zip(series_ids)
        .filter(|(_, id)| id.is_some())
        .map(|(m, _)| WsMetric {
            group: shared.metrics.metrics.group_of(&m.name).map(str::to_string),
            name: m.name,
            value: m.value,
            unit: m.unit,
            tags: m.tags,
            timestamp_ms: m.timestamp_ms,
            plugin: m.plugin,
        })
        .collect();
    shared.hub.publish(FeedMessage::Metrics {
        host: host.to_string(),
        stored_ms: received as u64,
        metrics,
    });
}
