//! Agent self-metrics: per plugin call counts, failures by kind, collect
//! duration and memory. Plugins' actors update them; the batcher turns them
//! into `agent_plugin_*` records at every flush, and `metrics_listen` serves
//! them (with the spool's and the sender's) in Prometheus' text format.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::runtime::CallError;
use p2pmon_common::wire::{MetricKind, MetricRecord, Record};

#[derive(Debug, Default)]
pub struct PluginStats {
    pub calls: AtomicU64,
    /// `collect` returned `err`.
    pub errors: AtomicU64,
    /// Traps other than timeouts, out-of-memory and panics.
    pub traps: AtomicU64,
    pub timeouts: AtomicU64,
    pub out_of_memory: AtomicU64,
    pub panics: AtomicU64,
    pub restarts: AtomicU64,
    /// Host calls refused for a missing capability.
    pub denied: AtomicU64,
    /// Metrics and events dropped by output validation.
    pub rejected: AtomicU64,
    /// `host.log` lines dropped over the per-call log budget.
    pub log_dropped: AtomicU64,
    /// CPU windows in which the plugin went over `restart.cpu_percent` and
    /// was made to wait.
    pub throttled: AtomicU64,
    /// Microseconds calls spent waiting on host functions that reach
    /// outside (sql, net, http, file), in all: not the plugin's CPU time.
    pub host_wait_us: AtomicU64,
    pub last_duration_us: AtomicU64,
    pub memory_bytes: AtomicU64,
    /// Crashed too often: stopped for a cool-down (see the supervisor).
    pub quarantined: AtomicBool,
    /// Every call failed for `restart.quarantine_after` calls in a row.
    pub failing: AtomicBool,
}

impl PluginStats {
    pub fn record_denied(&self) {
        self.denied.fetch_add(1, Ordering::Relaxed);
    }

    /// Count a failed call by kind.
    pub fn record_failure(&self, error: &CallError) {
        let counter = match error {
            CallError::Failed(_) => &self.errors,
            CallError::Timeout { .. } => &self.timeouts,
            CallError::OutOfMemory { .. } => &self.out_of_memory,
            CallError::Panic(_) => &self.panics,
            CallError::Trap(_) => &self.traps,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Crashes of every kind (what restarts the plugin).
    pub fn crashes(&self) -> u64 {
        self.traps.load(Ordering::Relaxed)
            + self.timeouts.load(Ordering::Relaxed)
            + self.out_of_memory.load(Ordering::Relaxed)
            + self.panics.load(Ordering::Relaxed)
    }

    /// The stats as records tagged with the plugin's name.
    pub fn to_records(&self, plugin: &str, timestamp_ms: u64) -> Vec<Record> {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed) as f64;
        let rows: [(&str, f64, &str, MetricKind); 16] = [
            (
                "agent_plugin_calls",
                load(&self.calls),
                "count",
                MetricKind::Counter,
            ),
            (
                "agent_plugin_errors",
                load(&self.errors),
                "count",
                MetricKind::Counter,
            ),
            (
                "agent_plugin_traps",
                load(&self.traps),
                "count",
                MetricKind::Counter,
            ),
            (
                "agent_plugin_timeouts",
                load(&self.timeouts),
                "count",
                MetricKind::Counter,
            ),
            (
                "agent_plugin_out_of_memory",
                load(&self.out_of_memory),
                "count",
                MetricKind::Counter,
            ),
            (
                "agent_plugin_panics",
                load(&self.panics),
                "count",
                MetricKind::Counter,
            ),
            (
                "agent_plugin_restarts",
                load(&self.restarts),
                "count",
                MetricKind::Counter,
            ),
            (
                "agent_plugin_denied_calls",
                load(&self.denied),
                "count",
                MetricKind::Counter,
            ),
            (
                "agent_plugin_rejected_items",
                load(&self.rejected),
                "count",
                MetricKind::Counter,
            ),
            (
                "agent_plugin_log_dropped",
                load(&self.log_dropped),
                "count",
                MetricKind::Counter,
            ),
            (
                "agent_plugin_throttled",
                load(&self.throttled),
                "count",
                MetricKind::Counter,
            ),
            (
                "agent_plugin_collect_duration",
                load(&self.last_duration_us) / 1000.0,
                "milliseconds",
                MetricKind::Gauge,
            ),
            (
                "agent_plugin_memory",
                load(&self.memory_bytes),
                "bytes",
                MetricKind::Gauge,
            ),
            (
                "agent_plugin_quarantined",
                f64::from(u8::from(self.quarantined.load(Ordering::Relaxed))),
                "count",
                MetricKind::Gauge,
            ),
            (
                "agent_plugin_failing",
                f64::from(u8::from(self.failing.load(Ordering::Relaxed))),
                "count",
                MetricKind::Gauge,
            ),
            (
                "agent_plugin_crashes",
                self.crashes() as f64,
                "count",
                MetricKind::Counter,
            ),
        ];
        rows.into_iter()
            .map(|(name, value, unit, kind)| {
                let tags = [("plugin".to_string(), plugin.to_string())].into();
                agent_metric(name, value, unit, kind, tags, timestamp_ms)
            })
            .collect()
    }
}

/// Every self-metric of a running agent: its plugins', and when it ships to
/// an aggregator, the spool's, the sender's and the collection filter's.
pub struct SelfMetrics {
    pub plugins: Vec<(Arc<str>, Arc<PluginStats>)>,
    pub transport: Option<crate::transport::Handles>,
}

impl SelfMetrics {
    pub fn to_records(&self, timestamp_ms: u64) -> Vec<Record> {
        let mut records = Vec::new();
        for (name, stats) in &self.plugins {
            records.extend(stats.to_records(name, timestamp_ms));
        }
        if let Some(transport) = &self.transport {
            records.extend(transport.to_records(timestamp_ms));
        }
        records
    }

    /// The same, in Prometheus' text format (`p2pmon_agent_*`).
    pub fn exposition(&self, timestamp_ms: u64) -> String {
        use p2pmon_common::prometheus::{Sample, render};
        let samples = self
            .to_records(timestamp_ms)
            .into_iter()
            .filter_map(|record| match record {
                Record::Metric(m) => {
                    let help = format!("{} ({}), the agent's own figure", m.name, m.unit);
                    let sample = Sample::new("p2pmon_", &m.name, m.kind, &help, m.value);
                    Some(m.tags.iter().fold(sample, |s, (k, v)| s.label(k, v)))
                }
                Record::Event(_) => None,
            })
            .collect();
        render(samples)
    }
}

/// A self-metric of the agent: plugin `agent`, the given tags.
pub fn agent_metric(
    name: &str,
    value: f64,
    unit: &str,
    kind: MetricKind,
    tags: BTreeMap<String, String>,
    timestamp_ms: u64,
) -> Record {
    Record::Metric(MetricRecord {
        plugin: "agent".to_string(),
        name: name.to_string(),
        value,
        unit: unit.to_string(),
        kind,
        tags,
        timestamp_ms,
    })
}
