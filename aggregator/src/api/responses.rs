//! The query API's response bodies: one type per documented response of
//! `aggregator/openapi.yaml`, each tied by [`Documented`] to the path,
//! method and status whose schema describes it. Handlers answer with
//! [`Answer`], which only takes a documented type, and [`DOCUMENTED`]
//! lists them all: the OpenAPI test in `tests/tests/suite/openapi.rs`
//! validates a real body of every entry against its schema, so a field
//! added, removed or retyped on one side only fails there.
//!
//! Errors are [`crate::refusal::Refusal`] (`{code, message}`, the `Error`
//! schema).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use p2pmon_common::wire::HostType;
use serde::Serialize;

use crate::alerting::InForce;
use crate::alerting::actions::ActionEntry;
use crate::alerting::silence::Silence;
use crate::alerting::{Alert, HistoryEntry};
use crate::coordinator::assignments::Assignment;
use crate::coordinator::registry::View;
use crate::coordinator::sync::SyncStatus;
use crate::live::{HostState, LatestPoint};
pub use crate::status_page::StatusAnswer;
use crate::store::status::Post;
use crate::store::{HistoryPoint, HistorySeries, StoredEvent, Tier};

/// A response body described in openapi.yaml under `PATH`, `METHOD`,
/// `STATUS`.
pub trait Documented: Serialize {
    const METHOD: &'static str;
    const PATH: &'static str;
    const STATUS: u16;

    /// About how many bytes the JSON takes: the buffer it is written into
    /// starts that large (a 30-day chart's answer is tens of MB; grown by
    /// doubling it would be copied a dozen times).
    fn json_size(&self) -> usize {
        128
    }
}

/// One documented response: which type answers which route and status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DocumentedResponse {
    pub type_name: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    pub status: u16,
}

/// `body` as JSON, into a buffer of its [`Documented::json_size`].
pub fn json<T: Documented>(body: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(body.json_size());
    serde_json::to_writer(&mut out, body)?;
    Ok(out)
}

/// A handler's answer: a documented body with its documented status.
pub struct Answer<T>(pub T);

impl<T: Documented> IntoResponse for Answer<T> {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(T::STATUS).unwrap_or(StatusCode::OK);
        match json(&self.0) {
            Ok(body) => (
                status,
                [(
                    axum::http::header::CONTENT_TYPE,
                    axum::http::HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            // As axum's Json answers a body it cannot write.
            Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
        }
    }
}

macro_rules! documented {
    ($($name:ident => $method:literal $path:literal $status:literal $(sized $size:path)?,)*) => {
        $(
            impl Documented for $name {
                const METHOD: &'static str = $method;
                const PATH: &'static str = $path;
                const STATUS: u16 = $status;
                $(
                    fn json_size(&self) -> usize {
                        $size(self)
                    }
                )?
            }
        )*
        /// Every response type of the API, with the route and status whose
        /// schema in openapi.yaml it must match.
        pub const DOCUMENTED: &[DocumentedResponse] = &[
            $(DocumentedResponse {
                type_name: stringify!($name),
                method: $method,
                path: $path,
                status: $status,
            },)*
        ];
    };
}

documented! {
    Health => "get" "/api/v1/health" 200,
    HostsPage => "get" "/api/v1/hosts" 200,
    HostDetail => "get" "/api/v1/hosts/{id}" 200,
    HostRevoked => "delete" "/api/v1/hosts/{id}" 200,
    MapsAnswer => "get" "/api/v1/maps" 200,
    Realtime => "get" "/api/v1/metrics/realtime" 200,
    History => "get" "/api/v1/metrics/historical" 200 sized History::estimated_json_bytes,
    PlayerHistory => "get" "/api/v1/players/history" 200,
    Matrix => "get" "/api/v1/network/matrix" 200,
    EventsPage => "get" "/api/v1/events" 200,
    EventsPushed => "post" "/api/v1/events" 202,
    ActiveAlerts => "get" "/api/v1/alerts/active" 200,
    AlertList => "get" "/api/v1/alerts" 200,
    AlertDetail => "get" "/api/v1/alerts/{id}" 200,
    AlertUpdated => "patch" "/api/v1/alerts/{id}" 200,
    TestAlert => "post" "/api/v1/alerts/test" 200,
    ActionLog => "get" "/api/v1/actions" 200,
    InForce => "get" "/api/v1/rules" 200,
    WsTicket => "post" "/api/v1/ws-ticket" 200,
    CoordinatorAnswer => "get" "/api/v1/coordinator" 200,
    SilenceList => "get" "/api/v1/silences" 200,
    SilenceCreated => "post" "/api/v1/silences" 200,
    SilenceEnded => "delete" "/api/v1/silences/{id}" 200,
    StatusAnswer => "get" "/api/v1/status" 200,
    StatusPosted => "post" "/api/v1/status/posts" 200,
    StatusPosts => "get" "/api/v1/status/posts" 200,
    StatusUptime => "get" "/api/v1/status/uptime" 200,
    StatusUpdated => "post" "/api/v1/status/posts/{id}/updates" 200,
}

/// Hosts by status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HostCounts {
    pub online: u64,
    pub degraded: u64,
    pub offline: u64,
}

impl HostCounts {
    pub fn count(&mut self, state: HostState) {
        match state {
            HostState::Online => self.online += 1,
            HostState::Degraded => self.degraded += 1,
            HostState::Offline => self.offline += 1,
        }
    }
}

/// `GET /api/v1/health`, also with 503 when the store does not answer.
#[derive(Debug, Serialize)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
    pub uptime_s: u64,
    pub store: StoreHealth,
    pub hosts: HostCounts,
    pub ingest: Counts,
    pub influxdb: Option<Counts>,
    pub websocket: Counts,
}

#[derive(Debug, Serialize)]
pub struct StoreHealth {
    pub ok: bool,
    /// The store's figures (`store_*` in `/metrics`), by the keys their
    /// declarations give them.
    #[serde(flatten)]
    pub figures: Counts,
    /// The file's bytes over every point stored.
    pub bytes_per_point: f64,
}

/// A group of the aggregator's counters (`ingest`, `influxdb`, `websocket`),
/// each under the key its declaration gives it (`p2pmon_common::telemetry`);
/// the keys are those `aggregator/openapi.yaml` lists.
pub type Counts = serde_json::Map<String, serde_json::Value>;

/// A host in the list: status, latest figures, quality score.
#[derive(Clone, Debug, Serialize)]
pub struct HostSummary {
    pub id: String,
    pub host_type: HostType,
    pub status: HostState,
    pub revoked: bool,
    pub last_seen_ms: Option<i64>,
    pub agent_version: String,
    pub quality_score: u32,
    pub cpu_usage: Option<f64>,
    pub memory_usage: Option<f64>,
    pub players: Option<f64>,
    pub latency_ms: Option<f64>,
    pub maps: Vec<String>,
}

/// `GET /api/v1/hosts`: one page.
#[derive(Debug, Serialize)]
pub struct HostsPage {
    pub hosts: Vec<HostSummary>,
    pub total: usize,
    pub page: usize,
    pub per_page: usize,
}

/// `GET /api/v1/hosts/{id}`.
#[derive(Debug, Serialize)]
pub struct HostDetail {
    pub host: HostSummary,
    pub assigned_maps: Vec<Assignment>,
    pub db_sync: Option<SyncStatus>,
    pub enrolled_ms: i64,
    pub revoked_ms: Option<i64>,
    pub hello_ms: Option<i64>,
    /// As the last hello reported them (stored as its JSON).
    pub plugins: serde_json::Value,
    pub refused_plugins: serde_json::Value,
    pub metrics: Vec<LatestPoint>,
}

/// `DELETE /api/v1/hosts/{id}`.
#[derive(Debug, Serialize)]
pub struct HostRevoked {
    pub host: String,
    pub revoked: bool,
}

/// A map a host reports.
#[derive(Debug, Serialize)]
pub struct MapRow {
    pub map: String,
    pub host: String,
    pub host_type: HostType,
    pub host_status: HostState,
    pub players: Option<f64>,
    pub up: Option<bool>,
    /// Whether the coordinator assigns this map to this host; `None`
    /// without a coordinator view.
    pub assigned: Option<bool>,
}

/// Distinct maps up (or not known down) on P2P hosts and on VPS.
#[derive(Debug, Serialize)]
pub struct MapsByHostType {
    pub p2p: usize,
    pub vps: usize,
}

/// `GET /api/v1/maps`.
#[derive(Debug, Serialize)]
pub struct MapsAnswer {
    pub maps: Vec<MapRow>,
    pub total_players: f64,
    pub by_host_type: MapsByHostType,
    pub coordinator: MapsCoordinator,
}

/// The coordinator's side of `GET /api/v1/maps`.
#[derive(Debug, Serialize)]
pub struct MapsCoordinator {
    pub configured: bool,
    pub reachable: bool,
    pub error: Option<String>,
    pub unknown_reason: Option<String>,
    pub zones: ZoneCounts,
    pub assignments: Vec<Assignment>,
    pub not_served: Vec<Assignment>,
}

#[derive(Debug, Serialize)]
pub struct ZoneCounts {
    pub total: usize,
    pub p2p_enabled: usize,
    pub vps_only: usize,
}

/// `GET /api/v1/metrics/realtime`.
#[derive(Debug, Serialize)]
pub struct Realtime {
    pub timestamp_ms: i64,
    /// Online plus degraded.
    pub active_hosts: u64,
    pub hosts: HostCounts,
    pub total_players: f64,
    pub network_health: NetworkHealth,
    pub average_latency_ms: Option<f64>,
    pub maps: MapsByHostType,
}

#[derive(Debug, Serialize)]
pub struct NetworkHealth {
    pub score: f64,
    /// `good`, `degraded` or `poor`.
    pub status: &'static str,
    pub packet_loss_percent: Option<f64>,
}

/// `GET /api/v1/metrics/historical`.
#[derive(Debug, Serialize)]
pub struct History {
    pub timeframe: String,
    pub tier: Tier,
    pub from_ms: i64,
    pub to_ms: i64,
    pub metric: String,
    /// Which store answered: `embedded` or `influxdb`.
    pub source: &'static str,
    /// Why InfluxDB did not answer (the embedded store did).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub influxdb_error: Option<String>,
    pub series: HistoryBody,
}

impl History {
    /// Its JSON's bytes, about: some 16 a point for the time and 20 a
    /// field, 100 an object of five.
    fn estimated_json_bytes(&self) -> usize {
        let points: usize = self.series.series.iter().map(|s| s.points.len()).sum();
        let per_point = match self.series.fields {
            Some(f) => {
                16 + 20
                    * [f.avg, f.min, f.max, f.count]
                        .iter()
                        .filter(|&&f| f)
                        .count()
            }
            None => 100,
        };
        4096 + points.saturating_mul(per_point)
    }
}

/// The point fields a history answer carries as arrays (`fields=avg,max`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fields {
    pub avg: bool,
    pub min: bool,
    pub max: bool,
    pub count: bool,
}

impl Fields {
    /// `avg,min,max,count`, any of them, in any order, each once.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut fields = Self::default();
        for name in text.split(',') {
            let slot = match name {
                "avg" => &mut fields.avg,
                "min" => &mut fields.min,
                "max" => &mut fields.max,
                "count" => &mut fields.count,
                _ => return Err("fields is a list of avg, min, max, count".to_string()),
            };
            if std::mem::replace(slot, true) {
                return Err(format!("fields names {name} twice"));
            }
        }
        Ok(fields)
    }
}

/// The series of a history answer: each with an object per point, or, when
/// the request named `fields`, with `t` and one array per field, which is
/// what a chart draws and a third of the bytes (a 30-day chart of 1,000
/// series: 720,000 points).
#[derive(Debug)]
pub struct HistoryBody {
    pub fields: Option<Fields>,
    pub series: Vec<HistorySeries>,
}

impl Serialize for HistoryBody {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.fields {
            None => self.series.serialize(serializer),
            Some(fields) => {
                serializer.collect_seq(self.series.iter().map(|series| Columns { series, fields }))
            }
        }
    }
}

/// One series as columns.
struct Columns<'a> {
    series: &'a HistorySeries,
    fields: Fields,
}

impl Serialize for Columns<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Column<'a, T, F: Fn(&HistoryPoint) -> T>(&'a [HistoryPoint], F);
        impl<T: Serialize, F: Fn(&HistoryPoint) -> T> Serialize for Column<'_, T, F> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.iter().map(&self.1))
            }
        }
        let s = self.series;
        let points = s.points.as_slice();
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("host", &s.host)?;
        map.serialize_entry("metric", &s.metric)?;
        map.serialize_entry("tags", &s.tags)?;
        map.serialize_entry("unit", &s.unit)?;
        map.serialize_entry("t", &Column(points, |p| p.t))?;
        if self.fields.avg {
            map.serialize_entry("avg", &Column(points, |p| p.avg))?;
        }
        if self.fields.min {
            map.serialize_entry("min", &Column(points, |p| p.min))?;
        }
        if self.fields.max {
            map.serialize_entry("max", &Column(points, |p| p.max))?;
        }
        if self.fields.count {
            map.serialize_entry("count", &Column(points, |p| p.count))?;
        }
        map.end()
    }
}

/// `GET /api/v1/network/matrix`.
#[derive(Debug, Serialize)]
pub struct Matrix {
    pub hosts: Vec<String>,
    pub links: Vec<MatrixLink>,
    pub traffic: Vec<Traffic>,
}

/// One measured link; a figure the host does not report is left out.
#[derive(Debug, Default, Serialize)]
pub struct MatrixLink {
    pub from: String,
    pub to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answering: Option<bool>,
    /// Present when a latency was measured; null while the target does not
    /// answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<Option<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_answer_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packet_loss_percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_up: Option<bool>,
    pub timestamp_ms: i64,
}

/// A host's traffic from its latest points.
#[derive(Debug, Serialize)]
pub struct Traffic {
    pub host: String,
    pub bandwidth_bytes_per_second: Option<f64>,
    pub rx_bytes_per_second: Option<f64>,
    pub tx_bytes_per_second: Option<f64>,
    pub errors_per_second: Option<f64>,
    pub connections: Option<f64>,
}

/// `GET /api/v1/events`.
#[derive(Debug, Serialize)]
pub struct EventsPage {
    pub events: Vec<StoredEvent>,
}

/// `POST /api/v1/events` (202).
#[derive(Debug, Serialize)]
pub struct EventsPushed {
    pub stored: usize,
    pub duplicate: bool,
}

/// `GET /api/v1/alerts/active`.
#[derive(Debug, Serialize)]
pub struct ActiveAlerts {
    pub alerts: Vec<Alert>,
}

/// `GET /api/v1/alerts`.
#[derive(Debug, Serialize)]
pub struct AlertList {
    pub alerts: Vec<Alert>,
}

/// `GET /api/v1/alerts/{id}`.
#[derive(Debug, Serialize)]
pub struct AlertDetail {
    pub alert: Alert,
    pub history: Vec<HistoryEntry>,
}

/// `PATCH /api/v1/alerts/{id}`.
#[derive(Debug, Serialize)]
pub struct AlertUpdated {
    pub alert: Alert,
}

/// `POST /api/v1/alerts/test`.
#[derive(Debug, Serialize)]
pub struct TestAlert {
    pub alert: Alert,
}

/// `GET /api/v1/actions`.
#[derive(Debug, Serialize)]
pub struct ActionLog {
    pub actions: Vec<ActionEntry>,
}

/// `POST /api/v1/ws-ticket`.
#[derive(Debug, Serialize)]
pub struct WsTicket {
    pub ticket: String,
    pub expires_ms: i64,
}

/// `GET /api/v1/coordinator`.
#[derive(Debug, Serialize)]
pub struct CoordinatorAnswer {
    pub coordinator: View,
    pub db_sync: Vec<SyncStatus>,
}

/// `GET /api/v1/silences`.
#[derive(Debug, Serialize)]
pub struct SilenceList {
    pub silences: Vec<Silence>,
}

/// `POST /api/v1/silences`.
#[derive(Debug, Serialize)]
pub struct SilenceCreated {
    pub silence: Silence,
}

/// `DELETE /api/v1/silences/{id}`.
#[derive(Debug, Serialize)]
pub struct SilenceEnded {
    pub ended: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_route_and_status_is_listed_once() {
        let mut seen = std::collections::BTreeSet::new();
        for entry in DOCUMENTED {
            assert!(
                seen.insert((entry.method, entry.path, entry.status)),
                "{entry:?} listed twice"
            );
            assert!(entry.path.starts_with("/api/v1/"), "{entry:?}");
        }
        assert_eq!((Health::PATH, Health::STATUS), ("/api/v1/health", 200));
        assert_eq!(EventsPushed::STATUS, 202);
    }

    /// With `fields`, each series is `t` and the named arrays, index for
    /// index the points it would carry without.
    #[test]
    fn history_as_columns_carries_the_points_named() {
        let point = |t: i64, v: f64| HistoryPoint {
            t,
            avg: v,
            min: v - 1.0,
            max: v + 1.0,
            count: 3,
        };
        let series = vec![HistorySeries {
            host: "alpha".to_string(),
            metric: "cpu_usage".to_string(),
            tags: [("core".to_string(), "0".to_string())].into(),
            unit: "percent".to_string(),
            points: vec![point(60_000, 1.5), point(120_000, f64::NAN)],
        }];
        let fields = Fields::parse("max,avg").expect("fields");
        let columns = serde_json::to_value(HistoryBody {
            fields: Some(fields),
            series: series.clone(),
        })
        .expect("json");
        assert_eq!(
            columns,
            serde_json::json!([{
                "host": "alpha", "metric": "cpu_usage", "tags": {"core": "0"}, "unit": "percent",
                "t": [60_000, 120_000], "avg": [1.5, null], "max": [2.5, null]
            }])
        );
        let points = serde_json::to_value(HistoryBody {
            fields: None,
            series,
        })
        .expect("json");
        assert_eq!(points[0]["points"][0]["min"], 0.5);
        assert_eq!(points[0]["points"][1]["count"], 3);
        assert!(points[0].get("t").is_none());
        for bad in ["", "avg,", "avg,avg", "mean", "AVG"] {
            assert!(Fields::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Fields::parse("count,min,avg,max"),
            Ok(Fields {
                avg: true,
                min: true,
                max: true,
                count: true
            })
        );
    }

    #[test]
    fn an_answer_carries_its_documented_status() {
        let pushed = Answer(EventsPushed {
            stored: 1,
            duplicate: false,
        })
        .into_response();
        assert_eq!(pushed.status(), StatusCode::ACCEPTED);
        let ended = Answer(SilenceEnded { ended: 3 }).into_response();
        assert_eq!(ended.status(), StatusCode::OK);
    }

    #[test]
    fn a_link_leaves_out_what_was_not_measured_and_nulls_a_lost_latency() {
        let bare = MatrixLink {
            from: "a".into(),
            to: "b".into(),
            timestamp_ms: 5,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&bare).ok(),
            Some(serde_json::json!({"from": "a", "to": "b", "timestamp_ms": 5}))
        );
        let dark = MatrixLink {
            answering: Some(false),
            latency_ms: Some(None),
            last_answer_ms: Some(4),
            ..bare
        };
        let json = serde_json::to_value(&dark).unwrap_or_default();
        assert_eq!(json["latency_ms"], serde_json::Value::Null);
        assert!(
            json.as_object()
                .is_some_and(|o| o.contains_key("latency_ms"))
        );
        assert_eq!(json["answering"], false);
    }
}

/// `POST /api/v1/status/posts`: the post as published.
#[derive(Debug, Serialize)]
pub struct StatusPosted {
    pub post: Post,
}

/// `POST /api/v1/status/posts/{id}/updates`: the post with its updates.
#[derive(Debug, Serialize)]
pub struct StatusUpdated {
    pub post: Post,
}

/// `GET /api/v1/players/history`.
#[derive(Debug, Serialize)]
pub struct PlayerHistory {
    pub days: u32,
    pub first_day: String,
    /// By host: its map-server's total.
    pub hosts: std::collections::BTreeMap<String, crate::players::PlayerTrend>,
    /// By map, over the hosts that served it.
    pub maps: std::collections::BTreeMap<String, crate::players::PlayerTrend>,
}

/// `GET /api/v1/status/posts`: the posts with what the public page leaves
/// out.
#[derive(Debug, Serialize)]
pub struct StatusPosts {
    pub posts: Vec<AdminPost>,
}

#[derive(Debug, Serialize)]
pub struct AdminPost {
    #[serde(flatten)]
    pub post: Post,
    pub alert_id: Option<i64>,
    pub author: String,
}

/// `GET /api/v1/status/uptime`: each listed server's month.
#[derive(Debug, Serialize)]
pub struct StatusUptime {
    pub month: String,
    pub servers: Vec<ServerUptime>,
}

#[derive(Debug, Serialize)]
pub struct ServerUptime {
    pub id: String,
    pub name: String,
    #[serde(flatten)]
    pub figures: crate::ops::uptime_report::Figures,
}
