//! Wire types. What the agent emits: a [`Batch`] of [`Record`]s, each a
//! metric or an event stamped with the plugin that produced it. And the
//! ingest protocol around it: enrollment, the hello an agent sends when it
//! connects, and the acknowledgement of a stored batch.
//!
//! Transport: HTTP/2 (TLS with ALPN, or prior knowledge on plain loopback)
//! from agent to aggregator, one long-lived connection; bodies are JSON
//! compressed with zstd (`Content-Encoding: zstd`), batches in the compact
//! encoding ([`crate::compact`]) where the aggregator takes it; the agent authenticates
//! with `Authorization: Bearer <host credential>`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::collection::MetricGroups;

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
#[serde(tag = "type", rename_all = "snake_case", try_from = "FlatRecord")]
pub enum Record {
    Metric(MetricRecord),
    Event(EventRecord),
}

/// Every field either kind of record has, read in one pass. serde's
/// internally tagged enums buffer each object before reading it, which made
/// JSON decoding the largest cost of ingest; this reads the same JSON
/// directly and then checks that the fields of the named type are there.
#[derive(Deserialize)]
struct FlatRecord {
    #[serde(rename = "type")]
    record_type: RecordType,
    plugin: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    unit: Option<String>,
    /// `gauge`/`counter` for a metric, the event kind for an event.
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    severity: Option<Severity>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    fields: Option<BTreeMap<String, String>>,
    timestamp_ms: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum RecordType {
    Metric,
    Event,
}

impl TryFrom<FlatRecord> for Record {
    type Error = String;

    fn try_from(flat: FlatRecord) -> Result<Self, Self::Error> {
        let missing = |field: &str, of: &str| format!("missing field `{field}` of a {of}");
        Ok(match flat.record_type {
            RecordType::Metric => Record::Metric(MetricRecord {
                plugin: flat.plugin,
                name: flat.name.ok_or_else(|| missing("name", "metric"))?,
                value: flat.value.ok_or_else(|| missing("value", "metric"))?,
                unit: flat.unit.ok_or_else(|| missing("unit", "metric"))?,
                kind: match flat.kind.as_deref() {
                    Some("gauge") => MetricKind::Gauge,
                    Some("counter") => MetricKind::Counter,
                    Some(other) => {
                        return Err(format!(
                            "unknown metric kind `{other}`, expected `gauge` or `counter`"
                        ));
                    }
                    None => return Err(missing("kind", "metric")),
                },
                tags: flat.tags.ok_or_else(|| missing("tags", "metric"))?,
                timestamp_ms: flat.timestamp_ms,
            }),
            RecordType::Event => Record::Event(EventRecord {
                plugin: flat.plugin,
                kind: flat.kind.ok_or_else(|| missing("kind", "event"))?,
                severity: flat.severity.ok_or_else(|| missing("severity", "event"))?,
                message: flat.message.ok_or_else(|| missing("message", "event"))?,
                fields: flat.fields.ok_or_else(|| missing("fields", "event"))?,
                timestamp_ms: flat.timestamp_ms,
            }),
        })
    }
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

/// The `code` of an ingest refusal ([`ErrorBody`]): what the aggregator
/// sends and the agent reacts to, spelled in one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    /// 404: no such ingest path.
    NotFound,
    /// 413: the body (declared, read or decompressed) is over the limit.
    BodyTooLarge,
    /// 408: the body did not arrive in time.
    BodyTimeout,
    /// 400: the zstd body does not decompress.
    BadEncoding,
    /// 415: a `Content-Encoding` other than zstd or identity.
    UnsupportedEncoding,
    /// 400: the JSON is not what the path takes.
    Malformed,
    /// 401: missing, unknown or revoked host credential.
    Unauthorized,
    /// 401: the join token is unknown, spent or expired.
    InvalidJoinToken,
    /// 409: enrollment for a host id that exists.
    HostExists,
    /// 400: enrollment for a host id that is not one.
    InvalidHostId,
    /// 503: the store could not read or write; retry later.
    StoreUnavailable,
    /// 403: a plugin of the hello is not on `ingest.plugin_allowlist`.
    PluginNotAllowed,
    /// 403: the batch names another host than the credential's.
    ForgedHost,
    /// 409: batches before a hello (the aggregator restarted): hello again.
    HelloRequired,
    /// 413: more records than `ingest.max_records_per_batch`.
    TooManyRecords,
    /// 429: the host is over its rate; `Retry-After` says when to retry.
    RateLimited,
}

impl RefusalCode {
    pub const ALL: [RefusalCode; 16] = [
        Self::NotFound,
        Self::BodyTooLarge,
        Self::BodyTimeout,
        Self::BadEncoding,
        Self::UnsupportedEncoding,
        Self::Malformed,
        Self::Unauthorized,
        Self::InvalidJoinToken,
        Self::HostExists,
        Self::InvalidHostId,
        Self::StoreUnavailable,
        Self::PluginNotAllowed,
        Self::ForgedHost,
        Self::HelloRequired,
        Self::TooManyRecords,
        Self::RateLimited,
    ];

    /// The code as sent (`hello_required`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::BodyTooLarge => "body_too_large",
            Self::BodyTimeout => "body_timeout",
            Self::BadEncoding => "bad_encoding",
            Self::UnsupportedEncoding => "unsupported_encoding",
            Self::Malformed => "malformed",
            Self::Unauthorized => "unauthorized",
            Self::InvalidJoinToken => "invalid_join_token",
            Self::HostExists => "host_exists",
            Self::InvalidHostId => "invalid_host_id",
            Self::StoreUnavailable => "store_unavailable",
            Self::PluginNotAllowed => "plugin_not_allowed",
            Self::ForgedHost => "forged_host",
            Self::HelloRequired => "hello_required",
            Self::TooManyRecords => "too_many_records",
            Self::RateLimited => "rate_limited",
        }
    }

    /// The code an error body carries, if it is one of these.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

impl From<RefusalCode> for &'static str {
    fn from(code: RefusalCode) -> Self {
        code.as_str()
    }
}

impl std::fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The aggregator's answer to a hello it accepted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HelloAnswer {
    /// The host the credential belongs to.
    #[serde(default)]
    pub host_id: String,
    /// metrics.yml's groups: the agent leaves out, before spooling, what
    /// they do not collect. Missing or unreadable: collect everything.
    #[serde(default, deserialize_with = "lenient")]
    pub metrics: Option<MetricGroups>,
    /// The batch encodings the aggregator takes besides JSON
    /// ([`crate::compact::FORMAT`]); an older aggregator sends none, and
    /// gets JSON.
    #[serde(default, deserialize_with = "lenient_list")]
    pub batch_formats: Vec<String>,
}

/// A list that does not read as strings reads as empty.
fn lenient_list<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(lenient::<D, Vec<String>>(deserializer)?.unwrap_or_default())
}

/// A value that does not read as `T` reads as none, so an answer from a
/// newer aggregator never stops delivery.
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_codes_are_spelled_as_sent() {
        for code in RefusalCode::ALL {
            let json = serde_json::to_string(&code).expect("serialise");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(RefusalCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(RefusalCode::HelloRequired.as_str(), "hello_required");
        assert_eq!(RefusalCode::parse("no_such_code"), None);
    }

    #[test]
    fn hello_answers_read_leniently() {
        let answer: HelloAnswer =
            serde_json::from_str(r#"{"host_id": "a", "metrics": {"game": {"enabled": false}}}"#)
                .expect("parse");
        assert_eq!(answer.host_id, "a");
        let groups = answer.metrics.expect("groups");
        assert!(!groups.groups["game"].enabled);
        // Unreadable groups and a missing host read as nothing said.
        let answer: HelloAnswer =
            serde_json::from_str(r#"{"metrics": 7, "extra": true, "batch_formats": [1]}"#)
                .expect("parse");
        assert_eq!(answer, HelloAnswer::default());
        let text = serde_json::to_string(&HelloAnswer {
            host_id: "b".to_string(),
            metrics: Some(MetricGroups::default()),
            batch_formats: vec![crate::compact::FORMAT.to_string()],
        })
        .expect("serialise");
        assert_eq!(
            text,
            r#"{"host_id":"b","metrics":{},"batch_formats":["compact-1"]}"#
        );
        let answer: HelloAnswer = serde_json::from_str(&text).expect("parse");
        assert_eq!(answer.batch_formats, ["compact-1"]);
    }

    #[test]
    fn records_round_trip_through_json() {
        let records = vec![
            Record::Metric(MetricRecord {
                plugin: "system".to_string(),
                name: "cpu_usage".to_string(),
                value: 12.5,
                unit: "percent".to_string(),
                kind: MetricKind::Counter,
                tags: [("core".to_string(), "0".to_string())].into(),
                timestamp_ms: 7,
            }),
            Record::Event(EventRecord {
                plugin: "anticheat".to_string(),
                kind: "speed_violation".to_string(),
                severity: Severity::Critical,
                message: "too fast".to_string(),
                fields: [("account".to_string(), "42".to_string())].into(),
                timestamp_ms: 8,
            }),
        ];
        let json = serde_json::to_string(&records).expect("serialise");
        assert!(json.contains(r#""type":"metric""#));
        let back: Vec<Record> = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, records);
    }

    #[test]
    fn a_record_missing_a_field_of_its_type_is_an_error() {
        let error = serde_json::from_str::<Record>(
            r#"{"type":"metric","plugin":"p","value":1,"unit":"","kind":"gauge","tags":{},"timestamp_ms":1}"#,
        )
        .expect_err("no name");
        assert!(error.to_string().contains("name"), "{error}");
        assert!(
            serde_json::from_str::<Record>(r#"{"type":"other","plugin":"p","timestamp_ms":1}"#)
                .is_err()
        );
        assert!(
            serde_json::from_str::<Record>(
                r#"{"type":"metric","plugin":"p","name":"n","value":1,"unit":"","kind":"bogus","tags":{},"timestamp_ms":1}"#
            )
            .is_err()
        );
    }
}
