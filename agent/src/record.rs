//! Wire types: what the agent emits. A [`Batch`] of [`Record`]s, each a
//! metric or an event stamped with the plugin that produced it. The
//! aggregator will read the same types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    Gauge,
    Counter,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricRecord {
    pub plugin: String,
    pub name: String,
    pub value: f64,
    /// From the plugin's declared metric; empty when it declared none.
    pub unit: String,
    pub kind: MetricKind,
    pub tags: BTreeMap<String, String>,
    pub timestamp_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub plugin: String,
    pub kind: String,
    pub severity: Severity,
    pub message: String,
    pub fields: BTreeMap<String, String>,
    pub timestamp_ms: u64,
}

/// One metric or event, tagged `"type": "metric"` or `"type": "event"` in JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Metric(MetricRecord),
    Event(EventRecord),
}

/// Records shipped together, numbered per host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub host_id: String,
    /// Increases by one with every batch this agent process emits.
    pub seq: u64,
    pub created_ms: u64,
    pub records: Vec<Record>,
}

impl Record {
    /// One human-readable line, for `output.format: text`.
    pub fn to_text(&self) -> String {
        fn labels(map: &BTreeMap<String, String>) -> String {
            if map.is_empty() {
                return String::new();
            }
            let inner: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            format!("{{{}}}", inner.join(","))
        }
        match self {
            Record::Metric(m) => format!(
                "{} {:<8} {}{} = {} {}",
                clock(m.timestamp_ms),
                m.plugin,
                m.name,
                labels(&m.tags),
                format_value(m.value),
                m.unit
            ),
            Record::Event(e) => format!(
                "{} {:<8} EVENT {} [{:?}] {} {}",
                clock(e.timestamp_ms),
                e.plugin,
                e.kind,
                e.severity,
                e.message,
                labels(&e.fields)
            ),
        }
    }
}

fn format_value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// `HH:MM:SS.mmm` (UTC) of a Unix-ms timestamp.
fn clock(timestamp_ms: u64) -> String {
    let ms = timestamp_ms % 1000;
    let seconds = timestamp_ms / 1000 % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{ms:03}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}
