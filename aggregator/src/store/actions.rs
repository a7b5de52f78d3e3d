//! The `action_log` table: the automatic actions' audit log.

use rusqlite::{Connection, params};
use serde::Serialize;

use super::StoreError;

/// One decision of the audit log, as stored and shown
/// (`GET /api/v1/actions`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActionEntry {
    pub id: i64,
    pub timestamp_ms: i64,
    pub action: String,
    pub host: String,
    pub alert_id: i64,
    pub rule: String,
    pub dry_run: bool,
    pub outcome: String,
    pub detail: String,
}

/// Save `entry` (its `id` is ignored); returns the id it got.
pub fn insert(conn: &Connection, entry: &ActionEntry) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO action_log (ts, action, host_id, alert_id, rule, dry_run, outcome, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            entry.timestamp_ms,
            entry.action,
            entry.host,
            entry.alert_id,
            entry.rule,
            entry.dry_run,
            entry.outcome,
            entry.detail,
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The audit log, newest first, optionally for one host.
pub fn list(
    conn: &Connection,
    host: Option<&str>,
    limit: usize,
) -> Result<Vec<ActionEntry>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT id, ts, action, host_id, alert_id, rule, dry_run, outcome, detail FROM action_log
         WHERE (?1 IS NULL OR host_id = ?1) ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = statement.query_map(params![host, limit as i64], |r| {
        Ok(ActionEntry {
            id: r.get(0)?,
            timestamp_ms: r.get(1)?,
            action: r.get(2)?,
            host: r.get(3)?,
            alert_id: r.get(4)?,
            rule: r.get(5)?,
            dry_run: r.get(6)?,
            outcome: r.get(7)?,
            detail: r.get(8)?,
        })
    })?;
    Ok(rows.filter_map(Result::ok).collect())
}

/// Hosts with a `quarantine` action the coordinator accepted (`done`)
/// before `before_ms`.
pub fn quarantined_before(
    conn: &Connection,
    before_ms: i64,
) -> Result<std::collections::BTreeSet<String>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT DISTINCT host_id FROM action_log
         WHERE action = 'quarantine' AND outcome = 'done' AND ts < ?1",
    )?;
    let rows = statement.query_map([before_ms], |row| row.get::<_, String>(0))?;
    Ok(rows.filter_map(Result::ok).collect())
}
