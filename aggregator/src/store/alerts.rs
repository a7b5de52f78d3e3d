//! The `alerts` and `alert_history` tables: every alert's latest state and
//! each change it went through. Rows carry the alert's enums as their
//! stored names (`alerting` reads them into its types).

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::StoreError;

/// An alert as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRecord {
    pub id: i64,
    pub rule: String,
    /// `performance`, `security`, `network` or `game`.
    pub alert_type: String,
    pub host: String,
    pub labels: BTreeMap<String, String>,
    /// `warning` or `critical`.
    pub severity: String,
    /// `firing`, `acknowledged` or `resolved`.
    pub status: String,
    pub value: f64,
    pub threshold: Option<f64>,
    pub message: String,
    pub count: i64,
    pub started_ms: i64,
    pub updated_ms: i64,
    pub resolved_ms: Option<i64>,
    pub resolution_notes: Option<String>,
    pub acknowledged_by: Option<String>,
    pub resolved_by: Option<String>,
}

/// One change an alert went through (`GET /api/v1/alerts/{id}`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub timestamp_ms: i64,
    /// The change as stored (`fired`, `acknowledged`, ...).
    pub change: String,
    pub severity: String,
    pub value: f64,
}

/// Filters of `GET /api/v1/alerts`.
pub struct AlertQuery<'a> {
    pub status: Option<&'a str>,
    pub host: Option<&'a str>,
    pub limit: usize,
}

const COLUMNS: &str =
    "id, rule, type, host_id, labels, severity, status, value, threshold, message, count,
                       started_ms, updated_ms, resolved_ms, resolution_notes, acknowledged_by, resolved_by";

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    serde_json::to_string(labels).unwrap_or_default()
}

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRecord> {
    let labels: String = r.get(4)?;
    Ok(AlertRecord {
        id: r.get(0)?,
        rule: r.get(1)?,
        alert_type: r.get(2)?,
        host: r.get(3)?,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        severity: r.get(5)?,
        status: r.get(6)?,
        value: r.get(7)?,
        threshold: r.get(8)?,
        message: r.get(9)?,
        count: r.get(10)?,
        started_ms: r.get(11)?,
        updated_ms: r.get(12)?,
        resolved_ms: r.get(13)?,
        resolution_notes: r.get(14)?,
        acknowledged_by: r.get(15)?,
        resolved_by: r.get(16)?,
    })
}

/// Save an alert's new state and the `change` that led to it, in one
/// transaction.
pub fn save_change(
    conn: &mut Connection,
    alert: &AlertRecord,
    change: &str,
) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT INTO alerts (id, rule, type, host_id, labels, severity, status, value, threshold, message,
                             count, started_ms, updated_ms, resolved_ms, resolution_notes,
                             acknowledged_by, resolved_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
         ON CONFLICT (id) DO UPDATE SET labels = excluded.labels, severity = excluded.severity,
             status = excluded.status, value = excluded.value, threshold = excluded.threshold,
             message = excluded.message, count = excluded.count, updated_ms = excluded.updated_ms,
             resolved_ms = excluded.resolved_ms, resolution_notes = excluded.resolution_notes,
             acknowledged_by = excluded.acknowledged_by, resolved_by = excluded.resolved_by",
        params![
            alert.id,
            alert.rule,
            alert.alert_type,
            alert.host,
            labels_text(&alert.labels),
            alert.severity,
            alert.status,
            alert.value,
            alert.threshold,
            alert.message,
            alert.count,
            alert.started_ms,
            alert.updated_ms,
            alert.resolved_ms,
            alert.resolution_notes,
            alert.acknowledged_by,
            alert.resolved_by,
        ],
    )?;
    tx.execute(
        "INSERT INTO alert_history (alert_id, ts, change, severity, value) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![alert.id, alert.updated_ms, change, alert.severity, alert.value],
    )?;
    tx.commit()?;
    Ok(())
}

/// Open alerts (firing or acknowledged), oldest first, each with the id of
/// its series when one is stored under its host, rule and labels.
pub fn open(conn: &Connection) -> Result<Vec<(AlertRecord, Option<i64>)>, StoreError> {
    let mut statement = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM alerts WHERE status IN ('firing', 'acknowledged') ORDER BY id"
    ))?;
    let alerts: Vec<AlertRecord> = statement
        .query_map([], record)?
        .filter_map(Result::ok)
        .collect();
    let mut series =
        conn.prepare("SELECT id FROM series WHERE host_id = ?1 AND name = ?2 AND tags = ?3")?;
    let mut out = Vec::with_capacity(alerts.len());
    for alert in alerts {
        let id = series
            .query_row(
                params![alert.host, alert.rule, labels_text(&alert.labels)],
                |r| r.get::<_, i64>(0),
            )
            .optional()?;
        out.push((alert, id));
    }
    Ok(out)
}

/// The highest alert id stored (0 when none is).
pub fn last_id(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .query_row("SELECT MAX(id) FROM alerts", [], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .optional()?
        .flatten()
        .unwrap_or(0))
}

/// Alerts newest first (resolved ones included).
pub fn list(conn: &Connection, query: &AlertQuery<'_>) -> Result<Vec<AlertRecord>, StoreError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM alerts WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR host_id = ?2)
         ORDER BY id DESC LIMIT ?3"
    ))?;
    let rows = statement.query_map(
        params![query.status, query.host, query.limit as i64],
        record,
    )?;
    Ok(rows.filter_map(Result::ok).collect())
}

/// One alert by id.
pub fn get(conn: &Connection, id: i64) -> Result<Option<AlertRecord>, StoreError> {
    let mut statement =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM alerts WHERE id = ?1"))?;
    Ok(statement.query_row(params![id], record).optional()?)
}

/// One alert's changes, oldest first.
pub fn history(conn: &Connection, id: i64) -> Result<Vec<HistoryEntry>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT ts, change, severity, value FROM alert_history WHERE alert_id = ?1 ORDER BY ts, rowid",
    )?;
    let rows = statement.query_map(params![id], |r| {
        Ok(HistoryEntry {
            timestamp_ms: r.get(0)?,
            change: r.get(1)?,
            severity: r.get(2)?,
            value: r.get(3)?,
        })
    })?;
    Ok(rows.filter_map(Result::ok).collect())
}
