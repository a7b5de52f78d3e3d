//! Wire types. What the agent emits: a [`Batch`] of [`Record`]s, each a
//! metric or an event stamped with the plugin that produced it. And the
//! ingest protocol around it: enrollment, the hello an agent sends when it
//! connects, and the acknowledgement of a stored batch.
//!
//! Transport: HTTP/2 (TLS with ALPN, or prior knowledge on plain loopback)
//! from agent to aggregator, one long-lived connection; bodies are JSON
//! compressed with zstd (`Content-Encoding: zstd`); the agent authenticates
//! with `Authorization: Bearer <host credential>`.

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
    /// Identifies the sequence `seq` counts in: one per agent spool, so that
    /// a host whose spool was wiped starts a fresh count instead of having its
    /// new batches mistaken for replays. Empty for stdout/file output.
    #[serde(default)]
    pub stream: String,
    /// Increases by one with every batch of the stream; the aggregator stores
    /// a (host, stream, seq) once, however often it arrives.
    pub seq: u64,
    pub created_ms: u64,
    pub records: Vec<Record>,
}

/// HTTP paths of the ingest listener.
pub mod paths {
    pub const ENROLL: &str = "/ingest/v1/enroll";
    pub const HELLO: &str = "/ingest/v1/hello";
    pub const BATCHES: &str = "/ingest/v1/batches";
}

/// An agent trading a single-use join token for its own host credential.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    pub join_token: String,
    /// The name the host asks for; `[a-z0-9][a-z0-9_.-]*`.
    pub host_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub host_id: String,
    /// Secret; the agent keeps it in a file only it can read.
    pub credential: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostType {
    /// A volunteer machine.
    #[default]
    P2p,
    /// A VPS: hosts critical maps and is the fallback.
    Vps,
}

impl HostType {
    pub fn as_str(self) -> &'static str {
        match self {
            HostType::P2p => "p2p",
            HostType::Vps => "vps",
        }
    }
}

/// A loaded plugin, as reported in the hello.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginIdentity {
    pub name: String,
    pub version: String,
    /// SHA-256 of the .wasm file, lowercase hex.
    pub sha256: String,
}

/// Sent once per connection before any batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    pub agent_version: String,
    #[serde(default)]
    pub host_type: HostType,
    pub plugins: Vec<PluginIdentity>,
}

/// The aggregator's answer to a batch it accepted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub seq: u64,
    /// Records written by this delivery (0 for a duplicate).
    pub stored: u64,
    /// The batch had been stored before; nothing was written again.
    pub duplicate: bool,
    /// Records refused, by reason (`series_limit`, `timestamp_too_old`, ...).
    pub rejected: BTreeMap<String, u64>,
    /// The first few problems, in words.
    pub problems: Vec<String>,
}

/// The body of every non-2xx ingest or API answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable, machine-readable (`body_too_large`, `forged_host`, ...).
    pub code: String,
    pub message: String,
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
