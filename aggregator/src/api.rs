//! The query API (default `127.0.0.1:5121`), read by FluxCP and the
//! dashboard. JSON, bearer tokens (`token create --api`) or a dashboard
//! session (see [`crate::web`]), described in `aggregator/openapi.yaml`.
//! Only `/api/v1/health` answers without either.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use p2pmon_common::wire::HostType;
use serde::Deserialize;

use crate::alerting::{self, Status, UpdateError};
use p2pmon_common::telemetry::{Telemetry, health_object};

use crate::clock::now_ms;
use crate::live::{HostState, LatestPoint, mean, names};
use crate::refusal::Refusal;
use crate::state::Shared;
use crate::store::{self, EventFilter, Tier};

pub mod responses;

use responses::{
    ActionLog, ActiveAlerts, AlertDetail, AlertList, AlertUpdated, Answer, CoordinatorAnswer,
    EventsPage, EventsPushed, Health, HostCounts, HostDetail, HostRevoked, HostSummary, HostsPage,
    MapRow, MapsAnswer, MapsByHostType, MapsCoordinator, Matrix, NetworkHealth, Realtime,
    SilenceCreated, SilenceEnded, SilenceList, StoreHealth, TestAlert, Traffic, WsTicket,
    ZoneCounts,
};

pub fn router(shared: Arc<Shared>) -> Router {
    // Pushes from the coordinator are small: larger bodies get 413 unread.
    let events_route: axum::routing::MethodRouter<Arc<Shared>> = get(events)
        .post(push_events)
        .layer(axum::extract::DefaultBodyLimit::max(
            crate::coordinator::MAX_BODY,
        ));
    let protected = Router::new()
        .route("/api/v1/hosts", get(hosts))
        .route("/api/v1/hosts/{id}", get(host).delete(revoke))
        .route("/api/v1/maps", get(maps))
        .route("/api/v1/metrics/realtime", get(realtime))
        .route("/api/v1/metrics/historical", get(historical))
        .route("/api/v1/players/history", get(player_history))
        .route("/api/v1/network/matrix", get(matrix))
        .route("/api/v1/events", events_route)
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/alerts/active", get(active_alerts))
        .route("/api/v1/alerts/test", axum::routing::post(test_alert))
        .route("/api/v1/actions", get(actions))
        .route("/api/v1/rules", get(rules))
        .route("/metrics", get(prometheus))
        .route("/api/v1/coordinator", get(coordinator))
        .route("/api/v1/silences", get(silences).post(create_silence))
        .route("/api/v1/silences/{id}", axum::routing::delete(end_silence))
        .route("/api/v1/alerts/{id}", get(alert).patch(update_alert))
        .route("/api/v1/ws-ticket", axum::routing::post(ws_ticket))
        .merge(crate::status_page::routes::protected())
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            require_token,
        ));
    Router::new()
        .route("/api/v1/health", get(health))
        .merge(protected)
        .merge(crate::status_page::routes::public(
            shared.config.status_page.enabled,
        ))
        .merge(crate::web::router())
        .fallback(|| async { Refusal::new(StatusCode::NOT_FOUND, "not_found", "no such API path") })
        .layer(middleware::from_fn(crate::access_log::log_request))
        .with_state(shared)
}

/// Who made an authenticated API request: the hash of its API token (the
/// bearer's, or the one a dashboard session was opened with).
#[derive(Clone)]
pub struct Caller {
    pub token_hash: String,
}

async fn require_token(
    State(shared): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let ok = match token {
        Some(token) => {
            let shared = shared.clone();
            let hash = crate::auth::hash(&token);
            let ok = tokio::task::spawn_blocking(move || shared.api_token_ok(&token))
                .await
                .unwrap_or(false);
            if ok {
                request.extensions_mut().insert(Caller { token_hash: hash });
            }
            ok
        }
        None => false,
    };
    // A dashboard session: reads as is, changes only with its CSRF token.
    if !ok && let Some((_, session)) = crate::web::session_of(&shared, request.headers()) {
        let reading = matches!(request.method().as_str(), "GET" | "HEAD");
        let csrf_ok = request
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == session.csrf);
        if !reading && !csrf_ok {
            return Refusal::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "a change from a dashboard session needs its X-CSRF-Token",
            )
            .into_response();
        }
        request.extensions_mut().insert(Caller {
            token_hash: session.token_hash,
        });
        return next.run(request).await;
    }
    if !ok {
        return Refusal::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid API token (create one with `p2pmon-aggregator token create --api`)",
        )
        .into_response();
    }
    next.run(request).await
}

fn store_error(error: store::StoreError) -> Refusal {
    Refusal::store_unavailable(&error)
}

async fn health(State(shared): State<Arc<Shared>>) -> Response {
    let store_ok = shared.store.read(store::ping).await.is_ok();
    let now = now_ms();
    let mut hosts = HostCounts::default();
    for host in shared.live.read().values() {
        hosts.count(HostState::of(host.last_seen_ms, now, &shared.config.hosts));
    }
    let body = Health {
        status: if store_ok { "ok" } else { "degraded" },
        version: env!("CARGO_PKG_VERSION"),
        uptime_s: shared.started.elapsed().as_secs(),
        store: StoreHealth {
            ok: store_ok,
            figures: health_object(&shared.store.figures.readings()),
            bytes_per_point: shared.store.figures.bytes_per_point(),
        },
        hosts,
        // Each counter under the key its declaration gives it (telemetry).
        ingest: shared.ingest.health(),
        influxdb: shared
            .tsdb
            .as_ref()
            .map(|t| health_object(&t.stats.readings())),
        websocket: health_object(&shared.hub.stats.readings()),
    };
    let status = if store_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Answer(body)).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostsQuery {
    status: Option<HostState>,
    search: Option<String>,
    #[serde(default)]
    sort: HostSort,
    #[serde(default = "one")]
    page: usize,
    #[serde(default = "fifty")]
    per_page: usize,
}

fn one() -> usize {
    1
}
fn fifty() -> usize {
    50
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum HostSort {
    #[default]
    Id,
    Status,
    Quality,
    Players,
    Cpu,
    LastSeen,
}

async fn summaries(
    shared: &Arc<Shared>,
) -> Result<Vec<(HostSummary, Vec<LatestPoint>, store::HostRow)>, Refusal> {
    let rows = shared.store.read(store::hosts).await.map_err(store_error)?;
    let now = now_ms();
    let live = shared.live.read();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let host = live.get(&row.id).cloned().unwrap_or_default();
        let status = HostState::of(
            host.last_seen_ms.or(row.last_seen_ms),
            now,
            &shared.config.hosts,
        );
        let mut latest: Vec<LatestPoint> = host.latest.values().cloned().collect();
        latest.sort_by(|a, b| (&a.name, &a.tags).cmp(&(&b.name, &b.tags)));
        out.push((
            HostSummary {
                id: row.id.clone(),
                host_type: if row.host_type == "vps" {
                    HostType::Vps
                } else {
                    host.host_type
                },
                status,
                revoked: row.revoked_ms.is_some(),
                last_seen_ms: host.last_seen_ms.or(row.last_seen_ms),
                agent_version: row.agent_version.clone(),
                quality_score: host.quality(status),
                cpu_usage: host.value(names::CPU),
                memory_usage: host.value(names::MEMORY),
                players: host.players(),
                latency_ms: host.latency_ms(),
                maps: host.maps().into_keys().collect(),
            },
            latest,
            row,
        ));
    }
    Ok(out)
}

async fn hosts(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<HostsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Answer<HostsPage>, Refusal> {
    let Query(query) =
        query.map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    if query.page == 0 || query.per_page == 0 || query.per_page > 1000 {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "page starts at 1; per_page is 1 to 1000",
        ));
    }
    let mut list: Vec<HostSummary> = summaries(&shared)
        .await?
        .into_iter()
        .map(|(s, _, _)| s)
        .collect();
    if let Some(status) = query.status {
        list.retain(|h| h.status == status);
    }
    if let Some(search) = query.search.as_deref().map(str::to_lowercase) {
        list.retain(|h| {
            h.id.contains(&search) || h.maps.iter().any(|m| m.to_lowercase().contains(&search))
        });
    }
    let desc = |a: Option<f64>, b: Option<f64>| b.unwrap_or(-1.0).total_cmp(&a.unwrap_or(-1.0));
    match query.sort {
        HostSort::Id => list.sort_by(|a, b| a.id.cmp(&b.id)),
        HostSort::Status => list.sort_by_key(|h| (h.status as u8, h.id.clone())),
        HostSort::Quality => {
            list.sort_by(|a, b| b.quality_score.cmp(&a.quality_score).then(a.id.cmp(&b.id)))
        }
        HostSort::Players => list.sort_by(|a, b| desc(a.players, b.players).then(a.id.cmp(&b.id))),
        HostSort::Cpu => list.sort_by(|a, b| desc(a.cpu_usage, b.cpu_usage).then(a.id.cmp(&b.id))),
        HostSort::LastSeen => {
            list.sort_by(|a, b| b.last_seen_ms.cmp(&a.last_seen_ms).then(a.id.cmp(&b.id)))
        }
    }
    let total = list.len();
    let page: Vec<HostSummary> = list
        .into_iter()
        .skip((query.page - 1) * query.per_page)
        .take(query.per_page)
        .collect();
    Ok(Answer(HostsPage {
        hosts: page,
        total,
        page: query.page,
        per_page: query.per_page,
    }))
}

async fn host(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Answer<HostDetail>, Refusal> {
    let found = summaries(&shared)
        .await?
        .into_iter()
        .find(|(s, _, _)| s.id == id);
    let Some((summary, latest, row)) = found else {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such host",
        ));
    };
    let assigned: Vec<crate::coordinator::assignments::Assignment> = shared
        .coordinator
        .view()
        .assignments
        .map(|p| p.assignments.into_iter().filter(|a| a.host == id).collect())
        .unwrap_or_default();
    Ok(Answer(HostDetail {
        host: summary,
        assigned_maps: assigned,
        db_sync: shared.coordinator.sync.get(&id),
        enrolled_ms: row.enrolled_ms,
        revoked_ms: row.revoked_ms,
        hello_ms: row.hello_ms,
        plugins: row.plugins,
        refused_plugins: row.refused_plugins,
        metrics: latest,
    }))
}

async fn revoke(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Answer<HostRevoked>, Refusal> {
    let host = id.clone();
    let revoked = shared
        .store
        .exec(move |conn| crate::auth::revoke_host(conn, &host, now_ms()))
        .await
        .map_err(store_error)?;
    if !revoked {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such enrolled host",
        ));
    }
    shared.after_revoke(&id);
    Ok(Answer(HostRevoked {
        host: id,
        revoked: true,
    }))
}

/// How many distinct maps are up (or not known down) on P2P hosts and on VPS.
fn maps_by_host_type(rows: &[MapRow]) -> MapsByHostType {
    let distinct = |host_type: HostType| {
        rows.iter()
            .filter(|r| r.host_type == host_type && r.up != Some(false))
            .map(|r| r.map.as_str())
            .collect::<BTreeSet<_>>()
            .len()
    };
    MapsByHostType {
        p2p: distinct(HostType::P2p),
        vps: distinct(HostType::Vps),
    }
}

fn map_rows(shared: &Shared) -> Vec<MapRow> {
    let now = now_ms();
    let live = shared.live.read();
    let mut rows = Vec::new();
    for (id, host) in live.iter() {
        let status = HostState::of(host.last_seen_ms, now, &shared.config.hosts);
        for (map, on_host) in host.maps() {
            rows.push(MapRow {
                map,
                host: id.clone(),
                host_type: host.host_type,
                host_status: status,
                players: on_host.players,
                up: on_host.up,
                assigned: None,
            });
        }
    }
    rows.sort_by(|a, b| (&a.map, &a.host).cmp(&(&b.map, &b.host)));
    rows
}

/// The maps hosts report, with the coordinator's assignments beside them:
/// which are assigned where, which of those are not served, and how many
/// maps run on P2P hosts and on VPS.
async fn maps(State(shared): State<Arc<Shared>>) -> Answer<MapsAnswer> {
    let mut rows = map_rows(&shared);
    let total_players: f64 = rows.iter().filter_map(|r| r.players).sum();
    let view = shared.coordinator.view();
    let placed = view.assignments.unwrap_or_default();
    // With no active session anywhere, where maps are is unknown (see
    // coordinator::assignments), not "nowhere".
    if view.configured && placed.unknown.is_none() {
        let assigned: BTreeSet<(&str, &str)> = placed
            .assignments
            .iter()
            .map(|a| (a.map.as_str(), a.host.as_str()))
            .collect();
        for row in &mut rows {
            row.assigned = Some(assigned.contains(&(row.map.as_str(), row.host.as_str())));
        }
    }
    let not_served: Vec<crate::coordinator::assignments::Assignment> = placed
        .assignments
        .iter()
        .filter(|a| a.served == Some(false))
        .cloned()
        .collect();
    let p2p_zones = placed.zones.iter().filter(|z| z.p2p_enabled).count();
    let by_host_type = maps_by_host_type(&rows);
    Answer(MapsAnswer {
        maps: rows,
        total_players,
        by_host_type,
        coordinator: MapsCoordinator {
            configured: view.configured,
            reachable: view.reachable,
            error: view.assignments_error,
            unknown_reason: placed.unknown,
            zones: ZoneCounts {
                total: placed.zones.len(),
                p2p_enabled: p2p_zones,
                vps_only: placed.zones.len() - p2p_zones,
            },
            assignments: placed.assignments,
            not_served,
        },
    })
}

async fn realtime(State(shared): State<Arc<Shared>>) -> Answer<Realtime> {
    let now = now_ms();
    let mut counts = HostCounts::default();
    let mut players = 0.0;
    let mut latencies = Vec::new();
    let mut losses = Vec::new();
    {
        let live = shared.live.read();
        for host in live.values() {
            let state = HostState::of(host.last_seen_ms, now, &shared.config.hosts);
            counts.count(state);
            if state == HostState::Offline {
                continue;
            }
            players += host.players().unwrap_or(0.0);
            latencies.extend(host.latency_ms());
            losses.extend(mean(
                host.latest
                    .values()
                    .filter(|p| p.name == names::PACKET_LOSS)
                    .map(|p| p.value),
            ));
        }
    }
    let rows = map_rows(&shared);
    let HostCounts {
        online,
        degraded,
        offline,
    } = counts;
    let known = online + degraded + offline;
    let loss = mean(losses.iter().copied());
    // Network health: the share of hosts reporting, less the mean packet loss.
    let score = if known == 0 {
        100.0
    } else {
        (100.0 * (online as f64 + 0.5 * degraded as f64) / known as f64 - loss.unwrap_or(0.0))
            .clamp(0.0, 100.0)
    };
    let status = if score >= 90.0 {
        "good"
    } else if score >= 60.0 {
        "degraded"
    } else {
        "poor"
    };
    Answer(Realtime {
        timestamp_ms: now,
        active_hosts: online + degraded,
        hosts: counts,
        total_players: players,
        network_health: NetworkHealth {
            score: score.round(),
            status,
            packet_loss_percent: loss,
        },
        average_latency_ms: mean(latencies.iter().copied()),
        maps: maps_by_host_type(&rows),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlayerHistoryQuery {
    #[serde(default = "default_player_days")]
    days: u32,
}

fn default_player_days() -> u32 {
    30
}

/// Players per host and per map, each UTC day's peak and average, over the
/// last `days` days (1 to 366) from the hour rollups.
async fn player_history(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<PlayerHistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Answer<responses::PlayerHistory>, Refusal> {
    let Query(query) =
        query.map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    if !(1..=366).contains(&query.days) {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "days is 1 to 366",
        ));
    }
    let today = crate::status_page::days::day_of(now_ms());
    let from = today - (i64::from(query.days) - 1) * crate::uptime::DAY_MS;
    let to = today + crate::uptime::DAY_MS;
    let rows = shared
        .store
        .read(move |conn| store::daily(conn, crate::live::names::PLAYERS, from, to))
        .await
        .map_err(store_error)?;
    let (hosts, maps) = crate::players::history(&rows, today, crate::status_page::day_name);
    Ok(Answer(responses::PlayerHistory {
        days: query.days,
        first_day: crate::status_page::day_name(from),
        hosts,
        maps,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    #[serde(default = "default_timeframe")]
    timeframe: String,
    metric: String,
    host: Option<String>,
    /// `avg,min,max,count` (any of them): the answer's series as arrays.
    fields: Option<String>,
}

fn default_timeframe() -> String {
    "1h".to_string()
}

/// The window and tier of a timeframe.
pub fn timeframe(name: &str) -> Option<(i64, Tier)> {
    let hour = 3_600_000;
    match name {
        "1h" => Some((hour, Tier::Raw)),
        "24h" => Some((24 * hour, Tier::Minute)),
        "7d" => Some((7 * 24 * hour, Tier::Hour)),
        "30d" => Some((30 * 24 * hour, Tier::Hour)),
        _ => None,
    }
}

async fn historical(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Answer<responses::History>, Refusal> {
    let Query(query) =
        query.map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let (window, tier) = timeframe(&query.timeframe).ok_or_else(|| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "timeframe is one of 1h, 24h, 7d, 30d",
        )
    })?;
    if !p2pmon_common::rules::is_name(&query.metric, p2pmon_common::rules::MAX_NAME) {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "metric is not a metric name",
        ));
    }
    let fields = query
        .fields
        .as_deref()
        .map(responses::Fields::parse)
        .transpose()
        .map_err(|why| Refusal::new(StatusCode::BAD_REQUEST, "bad_query", why))?;
    let to = now_ms();
    let ask = store::HistoryAsk {
        metric: query.metric.clone(),
        host: query.host.clone(),
        tier,
        from_ms: to - window,
        to_ms: to,
        max_series: 1000,
    };
    // InfluxDB when it is the history backend and answering; the embedded
    // store otherwise.
    let mut influxdb_error = None;
    if let Some(reader) = shared.tsdb.as_ref().and_then(|t| t.reader.as_ref()) {
        if !reader.available(to) {
            influxdb_error = Some("failed recently; asked again shortly".to_string());
        } else {
            match reader.history(&ask, to).await {
                Ok(series) => {
                    return Ok(Answer(history_answer(
                        &query, &ask, "influxdb", fields, series, None,
                    )));
                }
                Err(why) => {
                    tracing::warn!(%why, "InfluxDB history read failed; the embedded store answers.");
                    influxdb_error = Some(why.to_string());
                }
            }
        }
    }
    let embedded = ask.clone();
    let series = shared
        .store
        .read(move |conn| store::history(conn, &embedded))
        .await
        .map_err(store_error)?;
    Ok(Answer(history_answer(
        &query,
        &ask,
        "embedded",
        fields,
        series,
        influxdb_error,
    )))
}

fn history_answer(
    query: &HistoryQuery,
    ask: &store::HistoryAsk,
    source: &'static str,
    fields: Option<responses::Fields>,
    series: Vec<store::HistorySeries>,
    influxdb_error: Option<String>,
) -> responses::History {
    responses::History {
        timeframe: query.timeframe.clone(),
        tier: ask.tier,
        from_ms: ask.from_ms,
        to_ms: ask.to_ms,
        metric: query.metric.clone(),
        source,
        influxdb_error,
        series: responses::HistoryBody { fields, series },
    }
}

/// One measured link in the matrix, from the latest points of the probing
/// host whose `target` is the other end.
#[derive(Default)]
struct MatrixLink {
    latency: Option<(f64, i64)>,
    loss: Option<(f64, i64)>,
    jitter: Option<(f64, i64)>,
    /// `target_up` (aggregator, coordinator) or `peer_service_up`.
    up: Option<(f64, i64)>,
    service_up: Option<(f64, i64)>,
}

impl MatrixLink {
    fn reads(metric: &str) -> bool {
        matches!(
            metric,
            names::LATENCY | names::PACKET_LOSS | names::JITTER | "target_up" | names::SERVICE_UP
        )
    }

    fn slot(&mut self, metric: &str) -> Option<&mut Option<(f64, i64)>> {
        Some(match metric {
            names::LATENCY => &mut self.latency,
            names::PACKET_LOSS => &mut self.loss,
            names::JITTER => &mut self.jitter,
            "target_up" => &mut self.up,
            names::SERVICE_UP => &mut self.service_up,
            _ => return None,
        })
    }

    /// Whether the latest probe got an answer: not when it lost every echo
    /// or could not connect, and then the latency is the last good one,
    /// not today's.
    fn answering(&self) -> Option<bool> {
        let newest = |m: Option<(f64, i64)>| m.map_or(i64::MIN, |(_, at)| at);
        let latency_at = newest(self.latency);
        let lost = self
            .loss
            .is_some_and(|(v, at)| v >= 100.0 && at >= latency_at);
        let down = self.up.is_some_and(|(v, at)| v < 1.0 && at >= latency_at);
        if lost || down {
            return Some(false);
        }
        (self.latency.is_some() || self.loss.is_some() || self.up.is_some()).then_some(true)
    }

    fn to_link(&self, from: String, to: String) -> responses::MatrixLink {
        let answering = self.answering();
        let timestamp_ms = [
            self.latency,
            self.loss,
            self.jitter,
            self.up,
            self.service_up,
        ]
        .iter()
        .flatten()
        .map(|(_, at)| *at)
        .max()
        .unwrap_or(0);
        responses::MatrixLink {
            from,
            to,
            answering,
            // At 100 % loss there is no latency: "no answer", and when the
            // last good figure was.
            latency_ms: self
                .latency
                .map(|(latency, _)| (answering != Some(false)).then_some(latency)),
            last_answer_ms: self.latency.map(|(_, at)| at),
            packet_loss_percent: self.loss.map(|(loss, _)| loss),
            jitter_ms: self
                .jitter
                .filter(|_| answering != Some(false))
                .map(|(jitter, _)| jitter),
            service_up: self.service_up.map(|(up, _)| up >= 1.0),
            timestamp_ms,
        }
    }
}

async fn matrix(State(shared): State<Arc<Shared>>) -> Answer<Matrix> {
    let mut links: BTreeMap<(String, String), MatrixLink> = BTreeMap::new();
    let mut hosts: Vec<String> = Vec::new();
    let mut traffic: Vec<Traffic> = Vec::new();
    {
        let live = shared.live.read();
        for (id, host) in live.iter() {
            hosts.push(id.clone());
            let total = |name: &str, direction: Option<&str>| {
                let mut values = host
                    .series(name)
                    .filter(|p| {
                        direction
                            .is_none_or(|d| p.tags.get("direction").map(String::as_str) == Some(d))
                    })
                    .map(|p| p.value)
                    .peekable();
                values.peek().is_some().then(|| values.sum::<f64>())
            };
            traffic.push(Traffic {
                host: id.clone(),
                bandwidth_bytes_per_second: total(names::BANDWIDTH, None),
                rx_bytes_per_second: total(names::BANDWIDTH, Some("rx")),
                tx_bytes_per_second: total(names::BANDWIDTH, Some("tx")),
                errors_per_second: total(names::ERROR_RATE, None),
                connections: total(names::CONNECTIONS, None),
            });
            for point in host.latest.values() {
                let Some(target) = point.tags.get("target") else {
                    continue;
                };
                if !MatrixLink::reads(&point.name) {
                    continue;
                }
                let link = links.entry((id.clone(), target.clone())).or_default();
                let Some(slot) = link.slot(&point.name) else {
                    continue;
                };
                if slot.is_none_or(|(_, at)| at <= point.timestamp_ms) {
                    *slot = Some((point.value, point.timestamp_ms));
                }
            }
        }
    }
    hosts.sort();
    let links: Vec<responses::MatrixLink> = links
        .into_iter()
        .map(|((from, to), link)| link.to_link(from, to))
        .collect();
    traffic.sort_by(|a, b| a.host.cmp(&b.host));
    Answer(Matrix {
        hosts,
        links,
        traffic,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    host: Option<String>,
    kind: Option<String>,
    severity: Option<String>,
    #[serde(default)]
    since_ms: i64,
    #[serde(default = "hundred")]
    limit: usize,
}

fn hundred() -> usize {
    100
}

async fn events(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Answer<EventsPage>, Refusal> {
    let Query(query) =
        query.map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    if query.limit == 0 || query.limit > 1000 {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "limit is 1 to 1000",
        ));
    }
    if let Some(severity) = &query.severity
        && !["info", "warning", "error", "critical"].contains(&severity.as_str())
    {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "severity is info, warning, error or critical",
        ));
    }
    let filter = EventFilter {
        host: query.host,
        kind: query.kind,
        min_severity: query.severity,
        since_ms: query.since_ms,
        limit: query.limit,
    };
    let events = shared
        .store
        .read(move |conn| store::events(conn, &filter))
        .await
        .map_err(store_error)?;
    Ok(Answer(EventsPage { events }))
}

fn bad_query(message: impl Into<String>) -> Refusal {
    Refusal::new(StatusCode::BAD_REQUEST, "bad_query", message)
}

async fn active_alerts(State(shared): State<Arc<Shared>>) -> Answer<ActiveAlerts> {
    Answer(ActiveAlerts {
        alerts: shared.alerting.active(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsQuery {
    status: Option<String>,
    host: Option<String>,
    #[serde(default = "hundred")]
    limit: usize,
}

async fn alerts(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<AlertsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Answer<AlertList>, Refusal> {
    let Query(query) = query.map_err(|e| bad_query(e.body_text()))?;
    if query.limit == 0 || query.limit > 1000 {
        return Err(bad_query("limit is 1 to 1000"));
    }
    let status = match query.status.as_deref() {
        None => None,
        Some("firing") => Some(Status::Firing),
        Some("acknowledged") => Some(Status::Acknowledged),
        Some("resolved") => Some(Status::Resolved),
        Some(_) => return Err(bad_query("status is firing, acknowledged or resolved")),
    };
    // Changes made a moment ago are in the store before it is read.
    shared.alerting.sync().await;
    let filter = alerting::AlertFilter {
        status,
        host: query.host,
        limit: query.limit,
    };
    let alerts = shared
        .store
        .read(move |conn| alerting::list(conn, &filter))
        .await
        .map_err(store_error)?;
    Ok(Answer(AlertList { alerts }))
}

/// The coordinator's host registry and how it matches the reporting hosts.
/// The aggregator and its hosts' latest points in Prometheus' text format.
async fn prometheus(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::exposition::render_all(&shared),
    )
        .into_response()
}

/// The alert rules and notification channels in force (secrets left out).
async fn rules(State(shared): State<Arc<Shared>>) -> Answer<alerting::InForce> {
    Answer(shared.alerting.configuration())
}

/// A single-use ticket that opens one WebSocket connection within a minute
/// (`?token=TICKET`): for browsers, which should not hold an API token.
async fn ws_ticket(
    State(shared): State<Arc<Shared>>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> Result<Answer<WsTicket>, Refusal> {
    let (ticket, expires_ms) = shared
        .sessions
        .ticket(now_ms(), caller.token_hash)
        .map_err(store_error)?;
    Ok(Answer(WsTicket { ticket, expires_ms }))
}

async fn coordinator(State(shared): State<Arc<Shared>>) -> Answer<CoordinatorAnswer> {
    Answer(CoordinatorAnswer {
        coordinator: shared.coordinator.view(),
        db_sync: shared.coordinator.sync.all(),
    })
}

/// Events pushed by the coordinator (see [`crate::coordinator`]).
async fn push_events(
    State(shared): State<Arc<Shared>>,
    body: Result<bytes::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Answer<EventsPushed>, Refusal> {
    let body = body.map_err(|e| {
        let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "bad_request"
        };
        Refusal::new(e.status(), code, e.body_text())
    })?;
    let (stored, duplicate) = crate::coordinator::accept(&shared, &body).await?;
    Ok(Answer(EventsPushed { stored, duplicate }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionsQuery {
    host: Option<String>,
    #[serde(default = "hundred")]
    limit: usize,
}

/// The automatic actions' audit log, newest first.
async fn actions(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<ActionsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Answer<ActionLog>, Refusal> {
    let Query(query) = query.map_err(|e| bad_query(e.body_text()))?;
    if query.limit == 0 || query.limit > 1000 {
        return Err(bad_query("limit is 1 to 1000"));
    }
    let entries = shared
        .store
        .read(move |conn| alerting::actions::list(conn, query.host.as_deref(), query.limit))
        .await
        .map_err(store_error)?;
    Ok(Answer(ActionLog { actions: entries }))
}

fn no_alert() -> Refusal {
    Refusal::new(StatusCode::NOT_FOUND, "not_found", "no such alert")
}

async fn alert(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Answer<AlertDetail>, Refusal> {
    let id: i64 = id.parse().map_err(|_| no_alert())?;
    shared.alerting.sync().await;
    let found = shared
        .store
        .read(move |conn| {
            let one = alerting::get(conn, id)?;
            let history = alerting::history(conn, id)?;
            Ok(one.map(|a| (a, history)))
        })
        .await
        .map_err(store_error)?;
    let (alert, history) = found.ok_or_else(no_alert)?;
    Ok(Answer(AlertDetail { alert, history }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertUpdate {
    status: String,
    #[serde(default)]
    resolution_notes: Option<String>,
    /// Who made the change (FluxCP sends its admin's name); kept on the alert
    /// as `acknowledged_by` or `resolved_by`.
    #[serde(default)]
    author: Option<String>,
}

/// Longest resolution note kept.
const MAX_NOTES: usize = 4000;
/// Longest author name kept.
const MAX_AUTHOR: usize = 100;

async fn update_alert(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Result<Json<AlertUpdate>, axum::extract::rejection::JsonRejection>,
) -> Result<Answer<AlertUpdated>, Refusal> {
    let id: i64 = id.parse().map_err(|_| no_alert())?;
    let bad = |message: String| Refusal::new(StatusCode::BAD_REQUEST, "bad_request", message);
    let Json(update) = body.map_err(|e| bad(e.body_text()))?;
    let status = match update.status.as_str() {
        "acknowledged" => Status::Acknowledged,
        "resolved" => Status::Resolved,
        _ => return Err(bad("status is acknowledged or resolved".to_string())),
    };
    if update
        .resolution_notes
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTES)
    {
        return Err(bad(format!(
            "resolution_notes is at most {MAX_NOTES} characters"
        )));
    }
    let author = update
        .author
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty());
    if author
        .as_deref()
        .is_some_and(|a| !p2pmon_common::rules::is_clean_value(a, MAX_AUTHOR))
    {
        return Err(bad(format!(
            "author is at most {MAX_AUTHOR} bytes, without control or bidirectional characters"
        )));
    }
    match shared
        .alerting
        .update(id, status, update.resolution_notes, author)
        .await
    {
        Ok(alert) => Ok(Answer(AlertUpdated { alert })),
        Err(UpdateError::NotOpen(_)) => Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no open alert with this id",
        )),
        Err(UpdateError::BadStatus) => Err(bad("status is acknowledged or resolved".to_string())),
        Err(UpdateError::Store(error)) => Err(store_error(error)),
        Err(error @ UpdateError::EnginePoisoned) => Err(Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "alerting",
            error.to_string(),
        )),
    }
}

/// `POST /api/v1/alerts/test`: what `p2pmon-aggregator test-alerts` calls.
async fn test_alert(State(shared): State<Arc<Shared>>) -> Result<Answer<TestAlert>, Refusal> {
    match shared.alerting.fire_test().await {
        Ok(alert) => Ok(Answer(TestAlert { alert })),
        Err(UpdateError::Store(error)) => Err(store_error(error)),
        Err(other) => Err(Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "alerting",
            other.to_string(),
        )),
    }
}

async fn silences(State(shared): State<Arc<Shared>>) -> Result<Answer<SilenceList>, Refusal> {
    let now = now_ms();
    let silences = shared
        .store
        .read(move |conn| alerting::silence::current(conn, now))
        .await
        .map_err(store_error)?;
    Ok(Answer(SilenceList { silences }))
}

async fn create_silence(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<alerting::silence::NewSilence>, axum::extract::rejection::JsonRejection>,
) -> Result<Answer<SilenceCreated>, Refusal> {
    let bad = |message: String| Refusal::new(StatusCode::BAD_REQUEST, "bad_request", message);
    let Json(new) = body.map_err(|e| bad(e.body_text()))?;
    let now = now_ms();
    new.check(now).map_err(|e| bad(e.to_string()))?;
    let silence = shared
        .store
        .exec(move |conn| alerting::silence::insert(conn, &new, now))
        .await
        .map_err(store_error)?;
    tracing::info!(id = silence.id, author = %silence.author, host = ?silence.host, rule = ?silence.rule, "Silence created.");
    shared.alerting.add_silence(silence.clone());
    Ok(Answer(SilenceCreated { silence }))
}

async fn end_silence(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Answer<SilenceEnded>, Refusal> {
    let missing = || {
        Refusal::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such silence running or scheduled",
        )
    };
    let id: i64 = id.parse().map_err(|_| missing())?;
    let now = now_ms();
    let ended = shared
        .store
        .exec(move |conn| alerting::silence::end(conn, id, now))
        .await
        .map_err(store_error)?;
    if !ended {
        return Err(missing());
    }
    shared.alerting.end_silence(id);
    Ok(Answer(SilenceEnded { ended: id }))
}
