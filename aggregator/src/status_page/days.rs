//! Per-day uptime of the page's servers, kept in `status_days`: closed
//! days are computed once (again while late points may still arrive, and
//! when a maintenance window is published for them), today each pass.

use std::collections::BTreeMap;

use rusqlite::Connection;

use crate::config::{StatusPageConfig, StatusServer};
use crate::store::StoreError;
use crate::store::status::{self, DayRow, PostKind};
use crate::uptime::{self, DAY_MS, MINUTE_MS, Span};

/// How long after its end a day is computed again, for points an agent
/// spooled through an outage and delivers late.
pub const SETTLE_MS: i64 = 6 * 3_600_000;

/// One server's place in the store: whose `server_up` it is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Source {
    pub host: String,
    /// login, char or map.
    pub server: String,
}

/// The start of the UTC day holding `ms`.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS) * DAY_MS
}

/// Where a listed server's `server_up` is.
pub fn source(server: &StatusServer) -> Source {
    Source {
        host: server.host.clone(),
        server: server.server.tag().to_string(),
    }
}

/// The maintenance windows of each listed server's source (a post with no
/// servers concerns every one).
pub fn maintenance(
    config: &StatusPageConfig,
    posts: &[status::Post],
) -> BTreeMap<Source, Vec<Span>> {
    let mut windows: BTreeMap<Source, Vec<Span>> = BTreeMap::new();
    for server in config.servers() {
        let spans = windows.entry(source(server)).or_default();
        for post in posts.iter().filter(|p| p.kind == PostKind::Maintenance) {
            if post.servers.is_empty() || post.servers.contains(&server.id) {
                spans.push(Span {
                    start_ms: post.starts_ms,
                    end_ms: post.ends_ms.unwrap_or(post.starts_ms),
                });
            }
        }
    }
    windows
}

/// Compute what `source` is missing of the `days` days up to today (those
/// not stored, not settled, and today up to the last whole minute). Reads
/// only; the rows come back to be written.
pub fn pending(
    conn: &Connection,
    source: &Source,
    days: u32,
    maintenance: &[Span],
    now_ms: i64,
) -> Result<Vec<DayRow>, StoreError> {
    let today = day_of(now_ms);
    let first_day = today - (i64::from(days) - 1) * DAY_MS;
    let Some(series) = status::server_series(conn, &source.host, &source.server)? else {
        return Ok(Vec::new());
    };
    let Some(first_minute) = status::first_minute(conn, series)? else {
        return Ok(Vec::new());
    };
    let stored: BTreeMap<i64, bool> = status::days(conn, &source.host, &source.server, first_day)?
        .into_iter()
        .map(|row| (row.day_ms, row.settled))
        .collect();
    let until = now_ms.div_euclid(MINUTE_MS) * MINUTE_MS - MINUTE_MS;
    let mut rows = Vec::new();
    let mut day = first_day.max(day_of(first_minute));
    while day <= today {
        if stored.get(&day) != Some(&true) {
            let period = Span {
                start_ms: day,
                end_ms: (day + DAY_MS).min(until.max(day)),
            };
            let minutes = status::minutes(conn, series, period)?;
            let account = uptime::account_from(&minutes, period, maintenance, first_minute);
            rows.push(DayRow {
                day_ms: day,
                tally: account.tally,
                worst: account.worst(),
                settled: day + DAY_MS + SETTLE_MS <= now_ms,
            });
        }
        day += DAY_MS;
    }
    Ok(rows)
}

/// Each `server_up` series' account for `period` (a month, say), straight
/// from the minutes: (host, server, account), by host and server.
pub fn report(
    conn: &Connection,
    period: Span,
    maintenance: &BTreeMap<Source, Vec<Span>>,
) -> Result<Vec<(Source, uptime::Account)>, StoreError> {
    let mut out = Vec::new();
    for (series, host, server) in status::all_server_series(conn)? {
        let Some(first_minute) = status::first_minute(conn, series)? else {
            continue;
        };
        let source = Source { host, server };
        let minutes = status::minutes(conn, series, period)?;
        let windows = maintenance.get(&source).map_or(&[][..], Vec::as_slice);
        let (_, whole) = uptime::by_day_from(&minutes, period, windows, first_minute);
        out.push((source, whole));
    }
    Ok(out)
}
