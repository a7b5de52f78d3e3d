//! The embedded store's schema, and opening a connection to it.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// Bumped when the schema changes; a store written by a newer version is refused.
///
/// 2: points sealed into compressed chunks (the `chunks` table). A schema-1
/// store is upgraded on open: the table is added, and the writer's sealing
/// (or `store compact`) moves its rows into chunks.
///
/// 3: 1 h rollups of closed days as chunks (`rollup_1h_chunks`), folded by
/// compaction; an older store's hour rows are folded by its first pass.
pub const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS hosts (
    id              TEXT PRIMARY KEY,
    credential_hash TEXT NOT NULL UNIQUE,
    enrolled_ms     INTEGER NOT NULL,
    revoked_ms      INTEGER,
    host_type       TEXT NOT NULL DEFAULT 'p2p',
    agent_version   TEXT NOT NULL DEFAULT '',
    plugins         TEXT NOT NULL DEFAULT '[]',
    refused_plugins TEXT NOT NULL DEFAULT '[]',
    hello_ms        INTEGER,
    last_seen_ms    INTEGER
);

CREATE TABLE IF NOT EXISTS tokens (
    hash        TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('join', 'api')),
    name        TEXT NOT NULL DEFAULT '',
    created_ms  INTEGER NOT NULL,
    expires_ms  INTEGER,
    used_ms     INTEGER,
    used_by     TEXT,
    revoked_ms  INTEGER
) WITHOUT ROWID;

-- Highest batch sequence stored per (host, stream): the dedupe key.
CREATE TABLE IF NOT EXISTS streams (
    host_id  TEXT NOT NULL,
    stream   TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (host_id, stream)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS series (
    id      INTEGER PRIMARY KEY,
    host_id TEXT NOT NULL,
    name    TEXT NOT NULL,
    tags    TEXT NOT NULL,
    unit    TEXT NOT NULL,
    kind    TEXT NOT NULL,
    plugin  TEXT NOT NULL,
    UNIQUE (host_id, name, tags)
);
CREATE INDEX IF NOT EXISTS series_by_name ON series (name);

-- Raw points. AUTOINCREMENT keeps row ids increasing even after retention
-- empties the table: the rollup watermark relies on it.
CREATE TABLE IF NOT EXISTS points (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    series_id INTEGER NOT NULL,
    ts        INTEGER NOT NULL,
    value     REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS points_by_series ON points (series_id, ts);

CREATE TABLE IF NOT EXISTS rollup_1m (
    series_id INTEGER NOT NULL,
    bucket    INTEGER NOT NULL,
    min       REAL NOT NULL,
    max       REAL NOT NULL,
    sum       REAL NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (series_id, bucket)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS rollup_1h (
    series_id INTEGER NOT NULL,
    bucket    INTEGER NOT NULL,
    min       REAL NOT NULL,
    max       REAL NOT NULL,
    sum       REAL NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (series_id, bucket)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS events (
    id       INTEGER PRIMARY KEY,
    host_id  TEXT NOT NULL,
    ts       INTEGER NOT NULL,
    plugin   TEXT NOT NULL,
    kind     TEXT NOT NULL,
    severity TEXT NOT NULL,
    message  TEXT NOT NULL,
    fields   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_ts ON events (ts);
CREATE INDEX IF NOT EXISTS events_by_host ON events (host_id, ts);

-- Alerts: the latest state of each, and every change it went through.
CREATE TABLE IF NOT EXISTS alerts (
    id               INTEGER PRIMARY KEY,
    rule             TEXT NOT NULL,
    type             TEXT NOT NULL,
    host_id          TEXT NOT NULL,
    labels           TEXT NOT NULL,
    severity         TEXT NOT NULL,
    status           TEXT NOT NULL,
    value            REAL NOT NULL,
    threshold        REAL,
    message          TEXT NOT NULL,
    count            INTEGER NOT NULL,
    started_ms       INTEGER NOT NULL,
    updated_ms       INTEGER NOT NULL,
    resolved_ms      INTEGER,
    resolution_notes TEXT,
    acknowledged_by  TEXT,
    resolved_by      TEXT
);
CREATE INDEX IF NOT EXISTS alerts_by_status ON alerts (status, id);
CREATE TABLE IF NOT EXISTS alert_history (
    alert_id INTEGER NOT NULL,
    ts       INTEGER NOT NULL,
    change   TEXT NOT NULL,
    severity TEXT NOT NULL,
    value    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_history_by_alert ON alert_history (alert_id, ts);

-- Automatic actions: every decision and its outcome (the audit log).
CREATE TABLE IF NOT EXISTS action_log (
    id       INTEGER PRIMARY KEY,
    ts       INTEGER NOT NULL,
    action   TEXT NOT NULL,
    host_id  TEXT NOT NULL,
    alert_id INTEGER NOT NULL,
    rule     TEXT NOT NULL,
    dry_run  INTEGER NOT NULL,
    outcome  TEXT NOT NULL,
    detail   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS action_log_by_host ON action_log (host_id, id);

-- Silences and maintenance windows: no notifications for matching alerts
-- between starts_ms and ends_ms (host or rule NULL matches any).
CREATE TABLE IF NOT EXISTS silences (
    id         INTEGER PRIMARY KEY,
    host_id    TEXT,
    rule       TEXT,
    starts_ms  INTEGER NOT NULL,
    ends_ms    INTEGER NOT NULL,
    author     TEXT NOT NULL,
    comment    TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
";

/// The chunk tables (see [`super::chunks`]).
const CHUNKS_SCHEMA: &str = "
-- Sealed points: one BLOB per series and window (level 0), or per day
-- once compacted (level 1). start_ts and end_ts are the first and last
-- point's times.
CREATE TABLE IF NOT EXISTS chunks (
    id        INTEGER PRIMARY KEY,
    series_id INTEGER NOT NULL,
    start_ts  INTEGER NOT NULL,
    end_ts    INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    level     INTEGER NOT NULL,
    data      BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_series ON chunks (series_id, end_ts);

-- A closed day's 1 min rollups of one series (see store/rollups.rs);
-- start_ts and end_ts are its first and last bucket, count its buckets.
CREATE TABLE IF NOT EXISTS rollup_chunks (
    id        INTEGER PRIMARY KEY,
    series_id INTEGER NOT NULL,
    start_ts  INTEGER NOT NULL,
    end_ts    INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    data      BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS rollup_chunks_by_series ON rollup_chunks (series_id, end_ts);

-- 1 h rollups of one series' closed days, a chunk per 10-day span (see
-- store/rollups.rs); the same columns as rollup_chunks.
CREATE TABLE IF NOT EXISTS rollup_1h_chunks (
    id        INTEGER PRIMARY KEY,
    series_id INTEGER NOT NULL,
    start_ts  INTEGER NOT NULL,
    end_ts    INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    data      BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS rollup_1h_chunks_by_series ON rollup_1h_chunks (series_id, end_ts);
";

/// Open (creating if needed) the store at `path` for reading and writing,
/// in WAL mode, with the schema in place.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|error| StoreError::Io {
            path: dir.to_path_buf(),
            error,
        })?;
    }
    let conn = Connection::open(path).map_err(|error| StoreError::Open {
        path: path.to_path_buf(),
        error,
    })?;
    configure(&conn)?;
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(CHUNKS_SCHEMA)?;
    conn.execute_batch(super::status::SCHEMA)?;
    add_missing_columns(&conn)?;
    let version: Option<i64> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |row| row.get(0),
        )
        .ok();
    match version {
        None => {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                [SCHEMA_VERSION],
            )?;
        }
        Some(v) if v > SCHEMA_VERSION => {
            return Err(StoreError::NewerSchema {
                path: path.to_path_buf(),
                found: v,
            });
        }
        Some(v) if v < SCHEMA_VERSION => {
            tracing::info!(
                path = %path.display(),
                from = v,
                to = SCHEMA_VERSION,
                "Upgraded the store's schema; its points and rollups move into compressed chunks in the background (or now: `p2pmon-aggregator store compact`)."
            );
            conn.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                [SCHEMA_VERSION],
            )?;
        }
        Some(_) => {}
    }
    Ok(conn)
}

/// Columns added to schema 1 after stores were written with it: added to an
/// older store in place (nullable, so every row it holds stays as it was).
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("alerts", "acknowledged_by", "TEXT"),
    ("alerts", "resolved_by", "TEXT"),
];

fn add_missing_columns(conn: &Connection) -> Result<(), StoreError> {
    for (table, column, kind) in ADDED_COLUMNS {
        let present: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
            [table, column],
            |row| row.get(0),
        )?;
        if !present {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
        }
    }
    Ok(())
}

/// A read-only connection to an existing store.
pub fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|error| StoreError::Open {
        path: path.to_path_buf(),
        error,
    })?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

pub use crate::config::Durability;

/// Apply `durability` to a writing connection.
pub fn set_durability(conn: &Connection, durability: Durability) -> Result<(), StoreError> {
    let level = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", level)?;
    Ok(())
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(Duration::from_secs(5))?;
    // WAL: readers never block the writer. synchronous=FULL unless
    // store.durability says otherwise (see [`Durability`]): an ack tells
    // the agent it may delete the batch, so the commit must be on disk.
    conn.pragma_update(None, "page_size", 16_384)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    set_durability(conn, Durability::Full)?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::open;

    #[test]
    fn an_older_store_gets_the_added_columns_and_keeps_its_rows() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("store.db");
        {
            // The alerts table as schema 1 first wrote it.
            let conn = rusqlite::Connection::open(&path).expect("open");
            conn.execute_batch(
                "CREATE TABLE alerts (id INTEGER PRIMARY KEY, rule TEXT NOT NULL, type TEXT NOT NULL,
                     host_id TEXT NOT NULL, labels TEXT NOT NULL, severity TEXT NOT NULL,
                     status TEXT NOT NULL, value REAL NOT NULL, threshold REAL, message TEXT NOT NULL,
                     count INTEGER NOT NULL, started_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
                     resolved_ms INTEGER, resolution_notes TEXT);
                 INSERT INTO alerts VALUES (7, 'cpu_usage', 'performance', 'host-a', '{}', 'critical',
                     'resolved', 97.0, 90.0, 'CPU', 1, 1, 2, 2, 'fan replaced');",
            )
            .expect("old schema");
        }
        let conn = open(&path).expect("migrated");
        let row: (String, Option<String>, Option<String>) = conn
            .query_row(
                "SELECT resolution_notes, acknowledged_by, resolved_by FROM alerts WHERE id = 7",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .expect("row kept");
        assert_eq!(row, ("fan replaced".to_string(), None, None));
        drop(conn);
        // Opening again finds the columns there and adds nothing.
        open(&path).expect("reopened");
    }
}
