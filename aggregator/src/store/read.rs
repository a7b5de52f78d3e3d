//! Reads behind the query API. Each takes a (read-only) connection.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};
use serde::Serialize;

use super::{StoreError, rollups};

/// The tier a history query reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Raw,
    Minute,
    Hour,
}

/// The latest point of one series.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesLatest {
    pub series_id: i64,
    pub host_id: String,
    pub name: String,
    pub tags: BTreeMap<String, String>,
    pub unit: String,
    pub plugin: String,
    pub ts: i64,
    pub value: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryPoint {
    /// Start of the bucket (or the point's time for raw), Unix ms.
    pub t: i64,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    pub count: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistorySeries {
    pub host: String,
    pub metric: String,
    pub tags: BTreeMap<String, String>,
    pub unit: String,
    pub points: Vec<HistoryPoint>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredEvent {
    pub id: i64,
    pub host: String,
    pub timestamp_ms: i64,
    pub plugin: String,
    pub kind: String,
    pub severity: String,
    pub message: String,
    pub fields: BTreeMap<String, String>,
}

/// A host as enrolled, with what its last hello said.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HostRow {
    pub id: String,
    pub host_type: String,
    pub enrolled_ms: i64,
    pub revoked_ms: Option<i64>,
    pub agent_version: String,
    pub plugins: serde_json::Value,
    pub refused_plugins: serde_json::Value,
    pub hello_ms: Option<i64>,
    pub last_seen_ms: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StoreCounts {
    pub series: i64,
    pub points: i64,
    pub events: i64,
}

fn parse_tags(text: &str) -> BTreeMap<String, String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// The latest point of every series: a pass over each host's head rows,
/// newest first, then the last chunk of the series the head has none of.
pub fn latest_points(conn: &Connection) -> Result<Vec<SeriesLatest>, StoreError> {
    let mut series = conn
        .prepare("SELECT id, host_id, name, tags, unit, plugin FROM series ORDER BY host_id, id")?;
    let mut out = Vec::new();
    let rows = series.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?;
    let mut head: Option<(String, super::head::Latest)> = None;
    for row in rows {
        let (id, host_id, name, tags, unit, plugin) = row?;
        if head.as_ref().is_none_or(|(host, _)| *host != host_id) {
            head = Some((
                host_id.clone(),
                super::head::latest_of_host(conn, &host_id)?,
            ));
        }
        let in_head = head
            .as_ref()
            .and_then(|(_, latest)| latest.get(&id).copied());
        let latest = match in_head {
            Some(point) => Some(point),
            None => super::chunks::latest_sealed(conn, id)?,
        };
        if let Some((ts, value)) = latest {
            out.push(SeriesLatest {
                series_id: id,
                host_id,
                name,
                tags: parse_tags(&tags),
                unit,
                plugin,
                ts,
                value,
            });
        }
    }
    Ok(out)
}

/// What a history read asks (of the embedded store or of InfluxDB).
#[derive(Clone, Debug)]
pub struct HistoryAsk {
    pub metric: String,
    pub host: Option<String>,
    pub tier: Tier,
    pub from_ms: i64,
    pub to_ms: i64,
    pub max_series: usize,
}

/// Points of the asked metric (optionally one host's) between the two
/// times, from the asked tier, for at most `max_series` series.
pub fn history(conn: &Connection, ask: &HistoryAsk) -> Result<Vec<HistorySeries>, StoreError> {
    let found = series_named(conn, &ask.metric, ask.host.as_deref(), ask.max_series)?;
    // Raw points come from the head and the chunks (`chunks::raw_points`),
    // rollups from rows and rollup chunks (`rollups::buckets`).
    let tier = match ask.tier {
        Tier::Raw => None,
        Tier::Minute => Some(rollups::MINUTE),
        Tier::Hour => Some(rollups::HOUR),
    };
    let chunked = match tier {
        Some(tier) => rollups::has_chunks(conn, tier)?,
        None => false,
    };
    let mut out = Vec::with_capacity(found.len());
    for (id, host_id, tags, unit) in found {
        let points: Vec<HistoryPoint> = match tier {
            Some(tier) => rollups::buckets(conn, tier, chunked, id, ask.from_ms, ask.to_ms)?
                .into_iter()
                .map(|(t, min, max, sum, count)| HistoryPoint {
                    t,
                    avg: sum / count as f64,
                    min,
                    max,
                    count,
                })
                .collect(),
            None => super::chunks::raw_points(conn, id, ask.from_ms, ask.to_ms)?
                .into_iter()
                .map(|(t, value)| HistoryPoint {
                    t,
                    avg: value,
                    min: value,
                    max: value,
                    count: 1,
                })
                .collect(),
        };
        out.push(HistorySeries {
            host: host_id,
            metric: ask.metric.clone(),
            tags: parse_tags(&tags),
            unit,
            points,
        });
    }
    Ok(out)
}

/// Series named `metric` (optionally one host's), by host and tags: id,
/// host, tags (JSON) and unit.
fn series_named(
    conn: &Connection,
    metric: &str,
    host: Option<&str>,
    limit: usize,
) -> Result<Vec<(i64, String, String, String)>, StoreError> {
    let mut series = conn.prepare_cached(
        "SELECT id, host_id, tags, unit FROM series
         WHERE name = ?1 AND (?2 IS NULL OR host_id = ?2) ORDER BY host_id, tags LIMIT ?3",
    )?;
    let found = series
        .query_map(
            params![metric, host, i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?
        .collect::<Result<_, _>>()?;
    Ok(found)
}

/// Filters of an events query.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub host: Option<String>,
    pub kind: Option<String>,
    pub min_severity: Option<String>,
    pub since_ms: i64,
    pub limit: usize,
}

/// A row of `SELECT id, host_id, ts, plugin, kind, severity, message,
/// fields FROM events`.
fn stored_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        id: r.get(0)?,
        host: r.get(1)?,
        timestamp_ms: r.get(2)?,
        plugin: r.get(3)?,
        kind: r.get(4)?,
        severity: r.get(5)?,
        message: r.get(6)?,
        fields: parse_tags(&r.get::<_, String>(7)?),
    })
}

/// Every event of the given kinds since `since_ms`, oldest first (for state
/// rebuilt from events at start-up).
pub fn events_of_kinds(
    conn: &Connection,
    since_ms: i64,
    kinds: &[&str],
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT id, host_id, ts, plugin, kind, severity, message, fields FROM events
         WHERE ts >= ?1 AND kind IN (SELECT value FROM json_each(?2)) ORDER BY ts, id",
    )?;
    let kinds = serde_json::to_string(kinds).unwrap_or_default();
    let rows = statement.query_map(params![since_ms, kinds], stored_event)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Newest first.
pub fn events(conn: &Connection, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
    let severities: &[&str] = match filter.min_severity.as_deref() {
        Some("critical") => &["critical"],
        Some("error") => &["error", "critical"],
        Some("warning") => &["warning", "error", "critical"],
        _ => &["info", "warning", "error", "critical"],
    };
    let mut statement = conn.prepare_cached(
        "SELECT id, host_id, ts, plugin, kind, severity, message, fields FROM events
         WHERE ts >= ?1 AND (?2 IS NULL OR host_id = ?2) AND (?3 IS NULL OR kind = ?3)
           AND severity IN (SELECT value FROM json_each(?4))
         ORDER BY ts DESC, id DESC LIMIT ?5",
    )?;
    let severities = serde_json::to_string(severities).unwrap_or_default();
    let rows = statement.query_map(
        params![
            filter.since_ms,
            filter.host,
            filter.kind,
            severities,
            filter.limit as i64
        ],
        stored_event,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn hosts(conn: &Connection) -> Result<Vec<HostRow>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT id, host_type, enrolled_ms, revoked_ms, agent_version, plugins, refused_plugins,
                hello_ms, last_seen_ms
         FROM hosts ORDER BY id",
    )?;
    let rows = statement.query_map([], |r| {
        Ok(HostRow {
            id: r.get(0)?,
            host_type: r.get(1)?,
            enrolled_ms: r.get(2)?,
            revoked_ms: r.get(3)?,
            agent_version: r.get(4)?,
            plugins: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
            refused_plugins: serde_json::from_str(&r.get::<_, String>(6)?).unwrap_or_default(),
            hello_ms: r.get(7)?,
            last_seen_ms: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn counts(conn: &Connection) -> Result<StoreCounts, StoreError> {
    let count = |table: &str| -> Result<i64, StoreError> {
        Ok(conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?)
    };
    Ok(StoreCounts {
        series: count("series")?,
        points: super::chunks::point_count(conn)?,
        events: count("events")?,
    })
}

/// One series' UTC day from its hour rollups.
#[derive(Clone, Debug, PartialEq)]
pub struct DailyRow {
    pub host: String,
    pub tags: BTreeMap<String, String>,
    /// Start of the day, Unix ms.
    pub day_ms: i64,
    pub max: f64,
    pub sum: f64,
    pub count: i64,
}

/// Every series named `metric`, per UTC day from `from_ms` to `to_ms`: the
/// day's highest value and the sum and count of its points, from the hour
/// rollups (kept a year by default), by host, tags and day.
pub fn daily(
    conn: &Connection,
    metric: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<DailyRow>, StoreError> {
    const DAY: i64 = 86_400_000;
    let chunked = rollups::has_chunks(conn, rollups::HOUR)?;
    let mut out: Vec<DailyRow> = Vec::new();
    for (id, host, tags, _) in series_named(conn, metric, None, usize::MAX)? {
        let tags = parse_tags(&tags);
        let mut days: Vec<DailyRow> = Vec::new();
        for (bucket, _, max, sum, count) in
            rollups::buckets(conn, rollups::HOUR, chunked, id, from_ms, to_ms - 1)?
        {
            let day_ms = bucket - bucket.rem_euclid(DAY);
            match days.last_mut() {
                Some(last) if last.day_ms == day_ms => {
                    last.max = last.max.max(max);
                    last.sum += sum;
                    last.count += count;
                }
                _ => days.push(DailyRow {
                    host: host.clone(),
                    tags: tags.clone(),
                    day_ms,
                    max,
                    sum,
                    count,
                }),
            }
        }
        out.extend(days);
    }
    Ok(out)
}
