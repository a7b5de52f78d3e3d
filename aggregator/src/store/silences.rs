//! The `silences` table: silences and maintenance windows (see
//! `alerting::silence` for what they do).

use rusqlite::{Connection, params};
use serde::Serialize;

use super::StoreError;

/// A silence as stored and shown (`GET /api/v1/silences`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Silence {
    pub id: i64,
    pub host: Option<String>,
    pub rule: Option<String>,
    pub starts_ms: i64,
    pub ends_ms: i64,
    pub author: String,
    pub comment: String,
    pub created_ms: i64,
}

/// Save `silence` (its `id` is ignored); returns it with the id it got.
pub fn insert(conn: &Connection, silence: Silence) -> Result<Silence, StoreError> {
    conn.execute(
        "INSERT INTO silences (host_id, rule, starts_ms, ends_ms, author, comment, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            silence.host,
            silence.rule,
            silence.starts_ms,
            silence.ends_ms,
            silence.author,
            silence.comment,
            silence.created_ms
        ],
    )?;
    Ok(Silence {
        id: conn.last_insert_rowid(),
        ..silence
    })
}

/// End silence `id` at `now_ms`; false when there is no such silence still
/// running.
pub fn end(conn: &Connection, id: i64, now_ms: i64) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE silences SET ends_ms = ?2 WHERE id = ?1 AND ends_ms > ?2",
        params![id, now_ms],
    )? == 1)
}

/// Silences not over yet (running or scheduled), soonest first.
pub fn current(conn: &Connection, now_ms: i64) -> Result<Vec<Silence>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT id, host_id, rule, starts_ms, ends_ms, author, comment, created_ms FROM silences
         WHERE ends_ms > ?1 ORDER BY starts_ms, id",
    )?;
    let rows = statement.query_map(params![now_ms], |r| {
        Ok(Silence {
            id: r.get(0)?,
            host: r.get(1)?,
            rule: r.get(2)?,
            starts_ms: r.get(3)?,
            ends_ms: r.get(4)?,
            author: r.get(5)?,
            comment: r.get(6)?,
            created_ms: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
