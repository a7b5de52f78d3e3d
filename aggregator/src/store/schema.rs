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
///
/// 4: the head as a row per batch (`head_batches`, see [`super::head`])
/// instead of a row per point (`points`): an older store's rows are moved
/// into it on open ([`migrate_points`]), with progress, and `points` is
/// dropped.
pub const SCHEMA_VERSION: i64 = 4;

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
    conn.execute_batch(super::head::SCHEMA)?;
    conn.execute_batch(super::status::SCHEMA)?;
    add_missing_columns(&conn)?;
    migrate_points(&conn)?;
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

/// Rows of `points` moved per transaction by [`migrate_points`].
const MIGRATE_ROWS: i64 = 200_000;
/// Most points in one head row made by [`migrate_points`].
const MIGRATED_ROW_POINTS: usize = 10_000;

/// Move the rows of a store's `points` table (schema 3 and older: a row
/// per point) into the head's rows (`head_batches`), then drop it. First
/// the points past the old rollup watermark are added to the rollups, so
/// every moved row is one the rollups hold (the head's watermark covers
/// them). Each step is a transaction, so a kill leaves every point in one
/// table or the other; the next open goes on.
pub fn migrate_points(conn: &Connection) -> Result<(), StoreError> {
    if !super::has_table(conn, "points")? {
        return Ok(());
    }
    let total: i64 = conn.query_row("SELECT COUNT(*) FROM points", [], |r| r.get(0))?;
    let tx = conn.unchecked_transaction()?;
    let old_watermark: i64 = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'rollup_watermark'",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0);
    for (table, width) in [("rollup_1m", 60_000), ("rollup_1h", 3_600_000)] {
        tx.execute(
            &format!(
                "INSERT INTO {table} (series_id, bucket, min, max, sum, count)
                 SELECT series_id, ts - (ts % {width}), MIN(value), MAX(value), SUM(value), COUNT(*)
                   FROM points WHERE id > ?1 GROUP BY 1, 2
                 ON CONFLICT (series_id, bucket) DO UPDATE SET
                   min = min({table}.min, excluded.min), max = max({table}.max, excluded.max),
                   sum = {table}.sum + excluded.sum, count = {table}.count + excluded.count"
            ),
            [old_watermark],
        )?;
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('rollup_watermark', (SELECT COALESCE(MAX(id), 0) FROM points))
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [],
    )?;
    tx.commit()?;
    let mut moved = 0i64;
    let mut orphans = 0i64;
    loop {
        let tx = conn.unchecked_transaction()?;
        let rows: Vec<(i64, Option<String>, i64, i64, f64)> = tx
            .prepare_cached(
                "SELECT p.id, s.host_id, p.series_id, p.ts, p.value
                   FROM points p LEFT JOIN series s ON s.id = p.series_id
                  ORDER BY p.id LIMIT ?1",
            )?
            .query_map([MIGRATE_ROWS], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<Result<_, _>>()?;
        let Some(&(last, ..)) = rows.last() else {
            break;
        };
        let mut by_host: std::collections::BTreeMap<String, Vec<super::head::Row>> =
            Default::default();
        for (_, host, series, ts, value) in rows.iter().cloned() {
            match host {
                Some(host) => by_host.entry(host).or_default().push((series, ts, value)),
                None => orphans += 1,
            }
        }
        let mut head_id = None;
        for (host, mut points) in by_host {
            points.sort_by_key(|&(series, ts, _)| (series, ts));
            for part in points.chunks(MIGRATED_ROW_POINTS) {
                head_id = super::head::insert(&tx, &host, part)?.or(head_id);
            }
        }
        tx.execute("DELETE FROM points WHERE id <= ?1", [last])?;
        if let Some(id) = head_id {
            // Nothing new is written before the move ends: every head row is
            // a moved one, which the rollups hold.
            super::head::set_watermark(&tx, id)?;
        }
        tx.commit()?;
        moved += rows.len() as i64;
        tracing::info!(
            moved,
            of = total,
            "Moving the store's points into its head rows (an upgrade to schema {SCHEMA_VERSION})."
        );
    }
    if orphans > 0 {
        tracing::warn!(
            points = orphans,
            "Points of series no longer in the store were dropped by the upgrade."
        );
    }
    conn.execute_batch("DROP TABLE points; DELETE FROM meta WHERE key = 'rollup_watermark';")?;
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
    if super::has_table(&conn, "points")? {
        return Err(StoreError::Invalid(format!(
            "{} was written by an older version (its points are rows of `points`): start the aggregator, or run `p2pmon-aggregator store compact`, once to upgrade it",
            path.display()
        )));
    }
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
    use super::{SCHEMA, open, open_read_only};

    /// A schema-3 store: a row per point, the rollups holding the first
    /// two (the watermark), the third past it, a fourth of a series no
    /// longer there. Opening it moves every point of a known series into
    /// head rows, adds the third to the rollups, and drops `points`.
    #[test]
    fn a_store_of_point_rows_is_moved_into_head_rows() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("store.db");
        {
            let conn = rusqlite::Connection::open(&path).expect("open");
            conn.execute_batch(SCHEMA).expect("schema");
            conn.execute_batch(
                "CREATE TABLE points (id INTEGER PRIMARY KEY AUTOINCREMENT, series_id INTEGER NOT NULL,
                                      ts INTEGER NOT NULL, value REAL NOT NULL);
                 INSERT INTO meta VALUES ('schema_version', 3), ('rollup_watermark', 2);
                 INSERT INTO series (id, host_id, name, tags, unit, kind, plugin)
                     VALUES (1, 'a', 'cpu_usage', '{}', 'percent', 'gauge', 'system'),
                            (2, 'b', 'cpu_usage', '{}', 'percent', 'gauge', 'system');
                 INSERT INTO points (series_id, ts, value)
                     VALUES (1, 60000, 1.0), (2, 60000, 5.0), (1, 60001, 3.0), (9, 60000, 7.0);
                 INSERT INTO rollup_1m VALUES (1, 60000, 1.0, 1.0, 1.0, 1), (2, 60000, 5.0, 5.0, 5.0, 1);
                 INSERT INTO rollup_1h VALUES (1, 0, 1.0, 1.0, 1.0, 1), (2, 0, 5.0, 5.0, 5.0, 1);",
            )
            .expect("schema 3");
        }
        assert!(open_read_only(&path).is_err(), "refused until upgraded");
        let conn = open(&path).expect("upgraded");
        let gone: bool = conn
            .query_row(
                "SELECT NOT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'points')",
                [],
                |r| r.get(0),
            )
            .expect("tables");
        assert!(gone, "points dropped");
        let mut head = Vec::new();
        super::super::head::each_after(&conn, 0, |_, row| head.push(row)).expect("head");
        head.sort_by(|a, b| a.partial_cmp(b).expect("numbers"));
        assert_eq!(head, [(1, 60000, 1.0), (1, 60001, 3.0), (2, 60000, 5.0)]);
        let minute: (f64, f64, f64, i64) = conn
            .query_row(
                "SELECT min, max, sum, count FROM rollup_1m WHERE series_id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .expect("minute");
        assert_eq!(
            minute,
            (1.0, 3.0, 4.0, 2),
            "the point past the watermark added"
        );
        let hour_count: i64 = conn
            .query_row("SELECT count FROM rollup_1h WHERE series_id = 1", [], |r| {
                r.get(0)
            })
            .expect("hour");
        assert_eq!(hour_count, 2);
        let watermark = super::super::head::watermark(&conn).expect("watermark");
        let last: i64 = conn
            .query_row("SELECT MAX(id) FROM head_batches", [], |r| r.get(0))
            .expect("last");
        assert_eq!(watermark, last, "the moved rows are covered");
        drop(conn);
        open_read_only(&path).expect("readable once upgraded");
        open(&path).expect("opened again: nothing to move");
    }

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
