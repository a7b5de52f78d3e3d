//! The status page's tables: each listed server's uptime per UTC day
//! (`status_days`, computed from the 1 min rollups of its `server_up` by
//! [`crate::status_page`]) and what the admins publish (`status_posts`,
//! with their `status_updates`).

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::StoreError;
use super::rollups::minute_buckets;
use crate::uptime::{Minute, Span, Tally};

pub const SCHEMA: &str = "
-- A server's uptime on one UTC day (day: its start, Unix ms). settled: the
-- day is long enough past that late points are no longer expected.
CREATE TABLE IF NOT EXISTS status_days (
    host_id        TEXT NOT NULL,
    server         TEXT NOT NULL,
    day            INTEGER NOT NULL,
    up_ms          REAL NOT NULL,
    down_ms        REAL NOT NULL,
    no_data_ms     REAL NOT NULL,
    maintenance_ms REAL NOT NULL,
    worst_start    INTEGER,
    worst_end      INTEGER,
    settled        INTEGER NOT NULL,
    PRIMARY KEY (host_id, server, day)
) WITHOUT ROWID;

-- Incidents and maintenance windows published on the status page. servers:
-- a JSON array of the page's server ids. ends_ms: a maintenance window's
-- planned end; an incident's resolution (NULL while open).
CREATE TABLE IF NOT EXISTS status_posts (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('incident', 'maintenance')),
    title      TEXT NOT NULL,
    servers    TEXT NOT NULL,
    starts_ms  INTEGER NOT NULL,
    ends_ms    INTEGER,
    alert_id   INTEGER,
    silences   TEXT NOT NULL DEFAULT '[]',
    author     TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS status_posts_by_start ON status_posts (starts_ms);

CREATE TABLE IF NOT EXISTS status_updates (
    id      INTEGER PRIMARY KEY,
    post_id INTEGER NOT NULL,
    at_ms   INTEGER NOT NULL,
    state   TEXT NOT NULL,
    body    TEXT NOT NULL,
    author  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS status_updates_by_post ON status_updates (post_id, at_ms);
";

/// The id of `host`'s `server_up` series for `server` (login, char, map).
pub fn server_series(
    conn: &Connection,
    host: &str,
    server: &str,
) -> Result<Option<i64>, StoreError> {
    let tags = serde_json::json!({ "server": server }).to_string();
    Ok(conn
        .prepare_cached(
            "SELECT id FROM series WHERE host_id = ?1 AND name = 'server_up' AND tags = ?2",
        )?
        .query_row(params![host, tags], |r| r.get(0))
        .optional()?)
}

/// Every `server_up` series: (id, host, server tag), by host and server.
pub fn all_server_series(conn: &Connection) -> Result<Vec<(i64, String, String)>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT id, host_id, tags FROM series WHERE name = 'server_up' ORDER BY host_id, tags",
    )?;
    let rows = statement.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut found = Vec::new();
    for row in rows {
        let (id, host, tags) = row?;
        let tags: std::collections::BTreeMap<String, String> =
            serde_json::from_str(&tags).unwrap_or_default();
        if let Some(server) = tags.get("server") {
            found.push((id, host, server.clone()));
        }
    }
    Ok(found)
}

/// The start of the first minute `series` has data for, if any.
pub fn first_minute(conn: &Connection, series: i64) -> Result<Option<i64>, StoreError> {
    let rows: Option<i64> = conn
        .prepare_cached("SELECT MIN(bucket) FROM rollup_1m WHERE series_id = ?1")?
        .query_row([series], |r| r.get(0))?;
    let chunks: Option<i64> = conn
        .prepare_cached("SELECT MIN(start_ts) FROM rollup_chunks WHERE series_id = ?1")?
        .query_row([series], |r| r.get(0))?;
    Ok(match (rows, chunks) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// `series`' minutes in `span`, each the mean of its samples.
pub fn minutes(conn: &Connection, series: i64, span: Span) -> Result<Vec<Minute>, StoreError> {
    Ok(
        minute_buckets(conn, series, span.start_ms, span.end_ms - 1)?
            .into_iter()
            .filter(|b| b.4 > 0)
            .map(|(start_ms, _, _, sum, count)| Minute {
                start_ms,
                up: sum / count as f64,
            })
            .collect(),
    )
}

/// One server's day as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DayRow {
    pub day_ms: i64,
    pub tally: Tally,
    pub worst: Option<Span>,
    pub settled: bool,
}

pub fn put_day(
    conn: &Connection,
    host: &str,
    server: &str,
    row: &DayRow,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO status_days
           (host_id, server, day, up_ms, down_ms, no_data_ms, maintenance_ms, worst_start, worst_end, settled)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        host,
        server,
        row.day_ms,
        row.tally.up_ms,
        row.tally.down_ms,
        row.tally.no_data_ms,
        row.tally.maintenance_ms,
        row.worst.map(|w| w.start_ms),
        row.worst.map(|w| w.end_ms),
        row.settled
    ])?;
    Ok(())
}

/// `host`'s days for `server` from `from_day_ms` on, in order.
pub fn days(
    conn: &Connection,
    host: &str,
    server: &str,
    from_day_ms: i64,
) -> Result<Vec<DayRow>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT day, up_ms, down_ms, no_data_ms, maintenance_ms, worst_start, worst_end, settled
           FROM status_days WHERE host_id = ?1 AND server = ?2 AND day >= ?3 ORDER BY day",
    )?;
    let rows = statement.query_map(params![host, server, from_day_ms], |r| {
        let worst = match (r.get::<_, Option<i64>>(5)?, r.get::<_, Option<i64>>(6)?) {
            (Some(start_ms), Some(end_ms)) => Some(Span { start_ms, end_ms }),
            _ => None,
        };
        Ok(DayRow {
            day_ms: r.get(0)?,
            tally: Tally {
                up_ms: r.get(1)?,
                down_ms: r.get(2)?,
                no_data_ms: r.get(3)?,
                maintenance_ms: r.get(4)?,
            },
            worst,
            settled: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Forget the days of `span` (every server): they are computed again, say
/// after a maintenance window was published for them.
pub fn unsettle(conn: &Connection, span: Span) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM status_days WHERE day > ?1 - 86400000 AND day < ?2",
        params![span.start_ms, span.end_ms],
    )?;
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostKind {
    Incident,
    Maintenance,
}

impl PostKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Incident => "incident",
            Self::Maintenance => "maintenance",
        }
    }
}

/// A published incident or maintenance window with its updates, oldest
/// first. The first update is the post's text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Post {
    pub id: i64,
    pub kind: PostKind,
    pub title: String,
    pub servers: Vec<String>,
    pub starts_ms: i64,
    pub ends_ms: Option<i64>,
    #[serde(skip)]
    pub alert_id: Option<i64>,
    #[serde(skip)]
    pub silences: Vec<i64>,
    #[serde(skip)]
    pub author: String,
    pub created_ms: i64,
    pub updates: Vec<Update>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Update {
    pub at_ms: i64,
    /// investigating, identified, monitoring or resolved (incidents);
    /// scheduled, in_progress or completed (maintenance).
    pub state: String,
    pub body: String,
    #[serde(skip)]
    pub author: String,
}

/// Save `post` and its updates (ids ignored); the id it got.
pub fn insert_post(conn: &mut Connection, post: &Post) -> Result<i64, StoreError> {
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO status_posts (kind, title, servers, starts_ms, ends_ms, alert_id, silences, author, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            post.kind.as_str(),
            post.title,
            serde_json::to_string(&post.servers).map_err(|e| StoreError::Invalid(e.to_string()))?,
            post.starts_ms,
            post.ends_ms,
            post.alert_id,
            serde_json::to_string(&post.silences).map_err(|e| StoreError::Invalid(e.to_string()))?,
            post.author,
            post.created_ms
        ],
    )?;
    let id = tx.last_insert_rowid();
    for update in &post.updates {
        add_update_in(&tx, id, update)?;
    }
    tx.commit()?;
    Ok(id)
}

fn add_update_in(conn: &Connection, post: i64, update: &Update) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO status_updates (post_id, at_ms, state, body, author) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![post, update.at_ms, update.state, update.body, update.author],
    )?;
    Ok(())
}

/// Add `update` to post `id`; with `ends_ms`, the post ends then (an
/// incident resolved, a window completed). False when there is no such post.
pub fn add_update(
    conn: &mut Connection,
    id: i64,
    update: &Update,
    ends_ms: Option<i64>,
) -> Result<bool, StoreError> {
    let tx = conn.transaction()?;
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM status_posts WHERE id = ?1)",
        [id],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(false);
    }
    add_update_in(&tx, id, update)?;
    if let Some(ends_ms) = ends_ms {
        tx.execute(
            "UPDATE status_posts SET ends_ms = ?2 WHERE id = ?1",
            params![id, ends_ms],
        )?;
    }
    tx.commit()?;
    Ok(true)
}

/// Posts not over before `since_ms` (open incidents, windows still ahead,
/// and what ended since), newest start first.
pub fn posts(conn: &Connection, since_ms: i64) -> Result<Vec<Post>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT id, kind, title, servers, starts_ms, ends_ms, alert_id, silences, author, created_ms
           FROM status_posts WHERE ends_ms IS NULL OR ends_ms >= ?1
          ORDER BY starts_ms DESC, id DESC",
    )?;
    let rows = statement.query_map([since_ms], |r| {
        let kind: String = r.get(1)?;
        let servers: String = r.get(3)?;
        let silences: String = r.get(7)?;
        Ok(Post {
            id: r.get(0)?,
            kind: if kind == "maintenance" {
                PostKind::Maintenance
            } else {
                PostKind::Incident
            },
            title: r.get(2)?,
            servers: serde_json::from_str(&servers).unwrap_or_default(),
            starts_ms: r.get(4)?,
            ends_ms: r.get(5)?,
            alert_id: r.get(6)?,
            silences: serde_json::from_str(&silences).unwrap_or_default(),
            author: r.get(8)?,
            created_ms: r.get(9)?,
            updates: Vec::new(),
        })
    })?;
    let mut posts: Vec<Post> = rows.collect::<Result<_, _>>()?;
    let mut updates = conn.prepare_cached(
        "SELECT at_ms, state, body, author FROM status_updates WHERE post_id = ?1 ORDER BY at_ms, id",
    )?;
    for post in &mut posts {
        post.updates = updates
            .query_map([post.id], |r| {
                Ok(Update {
                    at_ms: r.get(0)?,
                    state: r.get(1)?,
                    body: r.get(2)?,
                    author: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
    }
    Ok(posts)
}

/// Post `id`, whatever its age.
pub fn post(conn: &Connection, id: i64) -> Result<Option<Post>, StoreError> {
    Ok(posts(conn, i64::MIN)?.into_iter().find(|p| p.id == id))
}
