//! Agent self-metrics: per plugin call counts, failures by kind, collect
//! duration and memory. Plugins' actors and host functions count them; the
//! batcher turns them into `agent_plugin_*` records at every flush, and
//! `metrics_listen` serves them (with the spool's and the sender's) in
//! Prometheus' text format. Each figure is declared once
//! ([`p2pmon_common::telemetry`]) and read from that declaration by both.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use p2pmon_common::describe;
use p2pmon_common::telemetry::{Figure, HealthKey, Reading, Telemetry};
use p2pmon_common::wire::{MetricRecord, Record};

const GROUP: &str = "agent_plugin";

/// One plugin's figures.
#[derive(Debug)]
pub struct PluginStats {
    pub calls: Figure,
    /// `collect` returned `err`.
    pub errors: Figure,
    /// Traps other than timeouts, out-of-memory and panics.
    pub traps: Figure,
    pub timeouts: Figure,
    pub out_of_memory: Figure,
    pub panics: Figure,
    pub restarts: Figure,
    /// Host calls refused for a missing capability or out of scope.
    pub denied: Figure,
    /// Metrics and events dropped by output validation.
    pub rejected: Figure,
    /// `host.log` lines dropped over the per-call log budget.
    pub log_dropped: Figure,
    /// CPU windows in which the plugin went over `restart.cpu_percent` and
    /// was made to wait.
    pub throttled: Figure,
    pub memory_bytes: Figure,
    /// 1 while it crashed too often: stopped for a cool-down (see the
    /// supervisor).
    pub quarantined: Figure,
    /// 1 once every call failed for `restart.quarantine_after` calls in a row.
    pub failing: Figure,
    /// Microseconds the last call took (read as milliseconds).
    pub last_duration_us: AtomicU64,
    /// Microseconds calls spent waiting on host functions that reach
    /// outside (sql, net, http, file), in all: not the plugin's CPU time.
    /// The supervisor's CPU share reads it; it is not reported.
    pub host_wait_us: AtomicU64,
}

macro_rules! plugin_counter {
    ($name:literal, $help:literal) => {
        Figure::new(describe!(
            GROUP,
            $name,
            Counter,
            "count",
            HealthKey::None,
            $help
        ))
    };
}

impl Default for PluginStats {
    fn default() -> Self {
        Self {
            calls: plugin_counter!("calls", "Calls of the plugin's collect."),
            errors: plugin_counter!("errors", "Calls the plugin answered with an error."),
            traps: plugin_counter!("traps", "Calls that trapped."),
            timeouts: plugin_counter!("timeouts", "Calls stopped at their time limit."),
            out_of_memory: plugin_counter!("out_of_memory", "Calls stopped at their memory limit."),
            panics: plugin_counter!("panics", "Calls in which the plugin panicked."),
            restarts: plugin_counter!("restarts", "New instances after a crash."),
            denied: plugin_counter!(
                "denied_calls",
                "Host calls refused: capability not granted or target out of scope."
            ),
            rejected: plugin_counter!(
                "rejected_items",
                "Metrics and events dropped by output validation."
            ),
            log_dropped: plugin_counter!(
                "log_dropped",
                "Log lines dropped over the per-call budget."
            ),
            throttled: plugin_counter!(
                "throttled",
                "CPU windows in which the plugin was over its share and waited."
            ),
            memory_bytes: Figure::new(describe!(
                GROUP,
                "memory",
                Gauge,
                "bytes",
                HealthKey::None,
                "Linear memory of the plugin's instance."
            )),
            quarantined: Figure::new(describe!(
                GROUP,
                "quarantined",
                Gauge,
                "count",
                HealthKey::None,
                "1 while the plugin is quarantined after repeated crashes."
            )),
            failing: Figure::new(describe!(
                GROUP,
                "failing",
                Gauge,
                "count",
                HealthKey::None,
                "1 while every call of the plugin fails."
            )),
            last_duration_us: AtomicU64::new(0),
            host_wait_us: AtomicU64::new(0),
        }
    }
}

impl PluginStats {
    /// A host call refused (the callers log it, once per kind).
    pub fn record_denied(&self) {
        self.denied.inc();
    }

    /// Crashes of every kind (what restarts the plugin).
    pub fn crashes(&self) -> u64 {
        self.traps.get() + self.timeouts.get() + self.out_of_memory.get() + self.panics.get()
    }
}

impl Telemetry for PluginStats {
    fn readings(&self) -> Vec<Reading> {
        let duration = describe!(
            GROUP,
            "collect_duration",
            Gauge,
            "milliseconds",
            HealthKey::None,
            "How long the plugin's last collect took."
        );
        let crashes = describe!(
            GROUP,
            "crashes",
            Counter,
            "count",
            HealthKey::None,
            "Crashes of every kind: traps, timeouts, out of memory, panics."
        );
        let mut readings: Vec<Reading> = [
            &self.calls,
            &self.errors,
            &self.traps,
            &self.timeouts,
            &self.out_of_memory,
            &self.panics,
            &self.restarts,
            &self.denied,
            &self.rejected,
            &self.log_dropped,
            &self.throttled,
        ]
        .iter()
        .map(|figure| figure.reading())
        .collect();
        readings.push(Reading::new(
            duration,
            self.last_duration_us.load(Ordering::Relaxed) as f64 / 1000.0,
        ));
        readings.extend([
            self.memory_bytes.reading(),
            self.quarantined.reading(),
            self.failing.reading(),
        ]);
        readings.push(Reading::new(crashes, self.crashes() as f64));
        readings
    }
}

/// Every self-metric of a running agent: its plugins', and when it ships to
/// an aggregator, the spool's, the sender's and the collection filter's.
pub struct SelfMetrics {
    pub plugins: Vec<(Arc<str>, Arc<PluginStats>)>,
    pub transport: Option<Arc<dyn Telemetry + Send + Sync>>,
}

impl SelfMetrics {
    /// Every reading, a plugin's labelled with its name.
    pub fn readings(&self) -> Vec<Reading> {
        let mut readings = Vec::new();
        for (name, stats) in &self.plugins {
            readings.extend(
                stats
                    .readings()
                    .into_iter()
                    .map(|reading| reading.label("plugin", name)),
            );
        }
        if let Some(transport) = &self.transport {
            readings.extend(transport.readings());
        }
        readings
    }

    pub fn to_records(&self, timestamp_ms: u64) -> Vec<Record> {
        self.readings()
            .iter()
            .map(|reading| agent_record(reading, timestamp_ms))
            .collect()
    }

    /// The same, in Prometheus' text format (`p2pmon_agent_*`).
    pub fn exposition(&self) -> String {
        let samples = self
            .readings()
            .iter()
            .map(|reading| reading.sample("p2pmon_"))
            .collect();
        p2pmon_common::prometheus::render(samples)
    }
}

/// A reading as a self-metric record of the agent: plugin `agent`, its
/// labels as tags.
pub fn agent_record(reading: &Reading, timestamp_ms: u64) -> Record {
    let describe = reading.describe;
    Record::Metric(MetricRecord {
        plugin: "agent".to_string(),
        name: describe.metric_name().into_owned(),
        value: reading.value,
        unit: describe.unit.to_string(),
        kind: describe.kind,
        tags: reading.labels.iter().cloned().collect(),
        timestamp_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_s_figures_are_records_under_their_names() {
        let stats = PluginStats::default();
        stats.calls.add(4);
        stats.timeouts.inc();
        stats.panics.inc();
        stats.quarantined.set(1);
        stats.last_duration_us.store(2_500, Ordering::Relaxed);
        let metrics = SelfMetrics {
            plugins: vec![(Arc::from("system"), Arc::new(stats))],
            transport: None,
        };
        let records: Vec<(String, f64, String)> = metrics
            .to_records(7)
            .into_iter()
            .filter_map(|record| match record {
                Record::Metric(m) => {
                    assert_eq!(m.plugin, "agent");
                    assert_eq!(m.tags.get("plugin").map(String::as_str), Some("system"));
                    Some((m.name, m.value, m.unit))
                }
                Record::Event(_) => None,
            })
            .collect();
        let names: Vec<&str> = records.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "agent_plugin_calls",
                "agent_plugin_errors",
                "agent_plugin_traps",
                "agent_plugin_timeouts",
                "agent_plugin_out_of_memory",
                "agent_plugin_panics",
                "agent_plugin_restarts",
                "agent_plugin_denied_calls",
                "agent_plugin_rejected_items",
                "agent_plugin_log_dropped",
                "agent_plugin_throttled",
                "agent_plugin_collect_duration",
                "agent_plugin_memory",
                "agent_plugin_quarantined",
                "agent_plugin_failing",
                "agent_plugin_crashes",
            ]
        );
        let value = |name: &str| {
            records
                .iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, v, u)| (*v, u.clone()))
        };
        assert_eq!(value("agent_plugin_calls"), Some((4.0, "count".into())));
        assert_eq!(value("agent_plugin_crashes"), Some((2.0, "count".into())));
        assert_eq!(
            value("agent_plugin_collect_duration"),
            Some((2.5, "milliseconds".into()))
        );
        assert_eq!(
            value("agent_plugin_quarantined"),
            Some((1.0, "count".into()))
        );
        let text = metrics.exposition();
        assert!(
            text.contains("p2pmon_agent_plugin_calls_total{plugin=\"system\"} 4"),
            "{text}"
        );
    }
}
