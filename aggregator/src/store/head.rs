//! The head: points not sealed into chunks yet, one row per stored batch.
//!
//! A batch's points are one row of `head_batches` (its host, the first and
//! last point's times, the count, and the points as three little-endian
//! columns sorted by series and time), inserted in the transaction that
//! records the stream's `last_seq`. A row per batch instead of a row per
//! point: the write costs one B-tree entry, whatever the batch holds.
//! Reads of one series find its host's rows by time (`head_by_host`) and
//! pick the series' run out of each (a binary search on the sorted series
//! column). Sealing ([`super::chunks::seal`]) takes a host's rows at a time
//! and rewrites in place the rows it takes only part of, so a row keeps the
//! id the rollup watermark refers to.
//!
//! Layout of `data`: a version byte (1), the point count `n` (u32), then `n`
//! series ids (i64), `n` times (i64, Unix ms) and `n` values (f64 bits).

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

pub(super) const SCHEMA: &str = "
-- The head: one row per batch (see store/head.rs). AUTOINCREMENT: ids
-- only grow, which the rollup watermark (meta 'head_watermark') needs.
CREATE TABLE IF NOT EXISTS head_batches (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id TEXT NOT NULL,
    min_ts  INTEGER NOT NULL,
    max_ts  INTEGER NOT NULL,
    count   INTEGER NOT NULL,
    data    BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS head_by_host ON head_batches (host_id, max_ts);
";

const VERSION: u8 = 1;
const HEADER: usize = 5;
const POINT_BYTES: usize = 24;

/// One head point: series id, time (Unix ms), value.
pub type Row = (i64, i64, f64);

/// The latest (time, value) of each series (by id).
pub type Latest = std::collections::HashMap<i64, (i64, f64)>;

/// `rows` (sorted by series, then time) as a row's `data`.
pub fn encode(rows: &[Row]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + rows.len() * POINT_BYTES);
    out.push(VERSION);
    out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
    for &(series, _, _) in rows {
        out.extend_from_slice(&series.to_le_bytes());
    }
    for &(_, ts, _) in rows {
        out.extend_from_slice(&ts.to_le_bytes());
    }
    for &(_, _, value) in rows {
        out.extend_from_slice(&value.to_bits().to_le_bytes());
    }
    out
}

/// A row's `data`, checked: its version, and a length that is exactly what
/// its count says.
struct Columns<'a> {
    n: usize,
    body: &'a [u8],
}

fn columns(data: &[u8]) -> Result<Columns<'_>, StoreError> {
    let bad = |what: &str| StoreError::Invalid(format!("head batch: {what}"));
    let (&version, rest) = data.split_first().ok_or_else(|| bad("empty"))?;
    if version != VERSION {
        return Err(bad(&format!("unknown version {version}")));
    }
    let (count, body) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| bad("shorter than its header"))?;
    let n = u32::from_le_bytes(*count) as usize;
    if body.len() != n * POINT_BYTES {
        return Err(bad(&format!(
            "{} bytes for {n} points (expected {})",
            body.len(),
            n * POINT_BYTES
        )));
    }
    Ok(Columns { n, body })
}

impl Columns<'_> {
    fn word(&self, column: usize, i: usize) -> [u8; 8] {
        let at = (column * self.n + i) * 8;
        self.body[at..at + 8].try_into().expect("8 bytes")
    }
    fn series(&self, i: usize) -> i64 {
        i64::from_le_bytes(self.word(0, i))
    }
    fn ts(&self, i: usize) -> i64 {
        i64::from_le_bytes(self.word(1, i))
    }
    fn value(&self, i: usize) -> f64 {
        f64::from_bits(u64::from_le_bytes(self.word(2, i)))
    }
    fn row(&self, i: usize) -> Row {
        (self.series(i), self.ts(i), self.value(i))
    }
    /// The indices of `series`' points (the series column is sorted).
    fn run_of(&self, series: i64) -> std::ops::Range<usize> {
        let (mut lo, mut hi) = (0, self.n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.series(mid) < series {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let start = lo;
        hi = self.n;
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.series(mid) <= series {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        start..lo
    }
}

/// Column `i` of a result row as the blob it must be.
fn blob<'a>(row: &'a rusqlite::Row<'_>, i: usize) -> Result<&'a [u8], StoreError> {
    row.get_ref(i)?
        .as_blob()
        .map_err(|e| StoreError::Invalid(format!("head batch: {e}")))
}

/// Every point of a row's `data`, in stored order.
pub fn decode(data: &[u8]) -> Result<Vec<Row>, StoreError> {
    let c = columns(data)?;
    Ok((0..c.n).map(|i| c.row(i)).collect())
}

/// Store `rows` (sorted by series, then time) as one head row of `host`;
/// its id (`None` when there is nothing to store).
pub fn insert(
    tx: &rusqlite::Transaction<'_>,
    host: &str,
    rows: &[Row],
) -> Result<Option<i64>, StoreError> {
    let Some((min, max)) = span(rows) else {
        return Ok(None);
    };
    tx.prepare_cached(
        "INSERT INTO head_batches (host_id, min_ts, max_ts, count, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![host, min, max, rows.len() as i64, encode(rows)])?;
    Ok(Some(tx.last_insert_rowid()))
}

fn span(rows: &[Row]) -> Option<(i64, i64)> {
    rows.iter().fold(None, |acc, &(_, ts, _)| match acc {
        None => Some((ts, ts)),
        Some((lo, hi)) => Some((lo.min(ts), hi.max(ts))),
    })
}

/// The host a series belongs to.
fn host_of(conn: &Connection, series: i64) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT host_id FROM series WHERE id = ?1")?
        .query_row([series], |r| r.get(0))
        .optional()?)
}

/// Head points of `series` with `from_ms <= ts <= to_ms`, in time order
/// (equal times in the order stored).
pub fn points(
    conn: &Connection,
    series: i64,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<(i64, f64)>, StoreError> {
    let Some(host) = host_of(conn, series)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut statement = conn.prepare_cached(
        "SELECT data FROM head_batches
          WHERE host_id = ?1 AND max_ts >= ?2 AND min_ts <= ?3 ORDER BY id",
    )?;
    let mut rows = statement.query(params![host, from_ms, to_ms])?;
    let mut sorted = true;
    while let Some(row) = rows.next()? {
        let data = blob(row, 0)?;
        let c = columns(data)?;
        for i in c.run_of(series) {
            let ts = c.ts(i);
            if (from_ms..=to_ms).contains(&ts) {
                sorted &= out.last().is_none_or(|&(last, _)| last <= ts);
                out.push((ts, c.value(i)));
            }
        }
    }
    if !sorted {
        out.sort_by_key(|p| p.0);
    }
    Ok(out)
}

/// `host`'s head rows, newest (by their last point) first, each given to
/// `visit` with its last point's time until it says to stop.
fn newest_first(
    conn: &Connection,
    host: &str,
    mut visit: impl FnMut(i64, &Columns<'_>) -> std::ops::ControlFlow<()>,
) -> Result<(), StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT max_ts, data FROM head_batches WHERE host_id = ?1 ORDER BY max_ts DESC, id DESC",
    )?;
    let mut rows = statement.query([host])?;
    while let Some(row) = rows.next()? {
        let max_ts: i64 = row.get(0)?;
        if visit(max_ts, &columns(blob(row, 1)?)?).is_break() {
            break;
        }
    }
    Ok(())
}

/// The latest head point of every series of `host` that has one.
pub fn latest_of_host(conn: &Connection, host: &str) -> Result<Latest, StoreError> {
    use std::ops::ControlFlow;
    let series: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM series WHERE host_id = ?1")?
        .query_row([host], |r| r.get(0))?;
    let mut best = Latest::default();
    newest_first(conn, host, |max_ts, c| {
        // Every series seen, and none could have a later point in an
        // older row: done.
        if best.len() as i64 >= series && best.values().all(|&(ts, _)| ts > max_ts) {
            return ControlFlow::Break(());
        }
        for i in 0..c.n {
            let (id, ts, value) = c.row(i);
            let entry = best.entry(id).or_insert((ts, value));
            // Equal times: the first found stays.
            if ts > entry.0 {
                *entry = (ts, value);
            }
        }
        ControlFlow::Continue(())
    })?;
    Ok(best)
}

/// The latest head point of one series.
pub fn latest(conn: &Connection, series: i64) -> Result<Option<(i64, f64)>, StoreError> {
    use std::ops::ControlFlow;
    let Some(host) = host_of(conn, series)? else {
        return Ok(None);
    };
    let mut best: Option<(i64, f64)> = None;
    newest_first(conn, &host, |max_ts, c| {
        if best.is_some_and(|(ts, _)| ts > max_ts) {
            return ControlFlow::Break(());
        }
        for i in c.run_of(series) {
            let (ts, value) = (c.ts(i), c.value(i));
            if best.is_none_or(|(b, _)| ts > b) {
                best = Some((ts, value));
            }
        }
        ControlFlow::Continue(())
    })?;
    Ok(best)
}

/// The id of the last head row the rollups in the file hold.
pub fn watermark(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'head_watermark'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

/// Record that the rollups in the file hold every head row up to `id`.
pub fn set_watermark(tx: &rusqlite::Transaction<'_>, id: i64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('head_watermark', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [id],
    )?;
    Ok(())
}

/// The series with a head point at or after `since_ms`.
pub fn series_since(
    conn: &Connection,
    since_ms: i64,
) -> Result<std::collections::HashSet<i64>, StoreError> {
    let mut out = std::collections::HashSet::new();
    let mut statement = conn.prepare("SELECT data FROM head_batches WHERE max_ts >= ?1")?;
    let mut rows = statement.query([since_ms])?;
    while let Some(row) = rows.next()? {
        let c = columns(blob(row, 0)?)?;
        for i in 0..c.n {
            if c.ts(i) >= since_ms {
                out.insert(c.series(i));
            }
        }
    }
    Ok(out)
}

/// Points in the head.
pub fn count(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT COALESCE(SUM(count), 0) FROM head_batches",
        [],
        |r| r.get(0),
    )?)
}

/// The oldest head row's first time, by id (which follows arrival).
pub fn oldest_ts(conn: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT min_ts FROM head_batches ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?)
}

/// Every head point stored after row `after` (id), with its row's id, in
/// the order stored (the writer's recovery of rollups).
pub fn each_after(
    conn: &Connection,
    after: i64,
    mut f: impl FnMut(i64, Row),
) -> Result<(), StoreError> {
    let mut statement =
        conn.prepare("SELECT id, data FROM head_batches WHERE id > ?1 ORDER BY id")?;
    let mut rows = statement.query([after])?;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let c = columns(blob(row, 1)?)?;
        for i in 0..c.n {
            f(id, c.row(i));
        }
    }
    Ok(())
}

/// The first host after `after` (in order) that has head rows.
pub fn host_after(conn: &Connection, after: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT host_id FROM head_batches WHERE host_id > ?1 ORDER BY host_id LIMIT 1",
        )?
        .query_row([after], |r| r.get(0))
        .optional()?)
}

/// What [`take`] took out of the head.
#[derive(Debug, Default, PartialEq)]
pub struct Taken {
    /// The points, in the order stored (row by row).
    pub points: Vec<Row>,
    /// Rows it did not look at: it stopped at its budget.
    pub more: bool,
}

/// Take out of the head the points of `host` (every host's, with `None`)
/// that `pick` picks, looking only at rows with a point before
/// `before_ms` and with ids at most `max_id`, in id order, until about
/// `max_points` are taken (whole rows at a time): rows left empty are
/// deleted, the others rewritten in place (keeping their id).
pub fn take(
    tx: &rusqlite::Transaction<'_>,
    host: Option<&str>,
    before_ms: i64,
    max_id: i64,
    max_points: u64,
    mut pick: impl FnMut(&Row) -> bool,
) -> Result<Taken, StoreError> {
    let sql = match host {
        Some(_) => {
            "SELECT id, data FROM head_batches
              WHERE host_id = ?1 AND min_ts < ?2 AND id <= ?3 ORDER BY id"
        }
        None => {
            "SELECT id, data FROM head_batches
              WHERE ?1 IS NULL AND min_ts < ?2 AND id <= ?3 ORDER BY id"
        }
    };
    let mut found: Vec<(i64, Vec<Row>)> = Vec::new();
    let mut taken = Taken::default();
    {
        let mut statement = tx.prepare_cached(sql)?;
        let mut rows = statement.query(params![host, before_ms, max_id])?;
        let mut points = 0u64;
        while let Some(row) = rows.next()? {
            if points >= max_points {
                taken.more = true;
                break;
            }
            let decoded = decode(blob(row, 1)?)?;
            points += decoded.len() as u64;
            found.push((row.get(0)?, decoded));
        }
    }
    for (id, rows) in found {
        let before = taken.points.len();
        let mut kept = Vec::with_capacity(rows.len());
        for row in rows {
            if pick(&row) {
                taken.points.push(row);
            } else {
                kept.push(row);
            }
        }
        if taken.points.len() == before {
            continue;
        }
        match span(&kept) {
            None => {
                tx.prepare_cached("DELETE FROM head_batches WHERE id = ?1")?
                    .execute([id])?;
            }
            Some((min, max)) => {
                tx.prepare_cached(
                    "UPDATE head_batches SET min_ts = ?2, max_ts = ?3, count = ?4, data = ?5
                      WHERE id = ?1",
                )?
                .execute(params![
                    id,
                    min,
                    max,
                    kept.len() as i64,
                    encode(&kept)
                ])?;
            }
        }
    }
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Connection {
        let conn = Connection::open_in_memory().expect("db");
        conn.execute_batch(SCHEMA).expect("schema");
        conn.execute_batch(
            "CREATE TABLE series (id INTEGER PRIMARY KEY, host_id TEXT NOT NULL);
             INSERT INTO series VALUES (1, 'a'), (2, 'a'), (3, 'b');",
        )
        .expect("series");
        conn
    }

    #[test]
    fn data_round_trips_bit_for_bit_and_refuses_what_is_cut_or_padded() {
        let rows = vec![
            (1, 5, f64::NAN),
            (1, 6, -0.0),
            (2, i64::MIN, f64::INFINITY),
            (7, i64::MAX, 1e300),
        ];
        let data = encode(&rows);
        assert_eq!(data.len(), HEADER + 4 * POINT_BYTES);
        let back = decode(&data).expect("decode");
        let bits = |r: &[Row]| {
            r.iter()
                .map(|&(s, t, v)| (s, t, v.to_bits()))
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&back), bits(&rows));
        assert!(decode(&data[..data.len() - 1]).is_err(), "cut by a byte");
        let mut longer = data.clone();
        longer.push(0);
        assert!(decode(&longer).is_err(), "a byte too many");
        assert!(decode(&data[..3]).is_err(), "shorter than its header");
        assert!(decode(&[]).is_err(), "empty");
        let mut version = data.clone();
        version[0] = 2;
        assert!(decode(&version).is_err(), "unknown version");
        let mut count = data;
        count[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&count).is_err(), "a count past the body");
    }

    #[test]
    fn reads_pick_one_series_out_of_its_hosts_rows() {
        let mut conn = store();
        let tx = conn.transaction().expect("tx");
        insert(&tx, "a", &[(1, 10, 1.0), (1, 20, 2.0), (2, 10, 9.0)]).expect("row");
        // A late point, stored after later ones.
        insert(&tx, "a", &[(1, 15, 1.5), (2, 30, 9.5)]).expect("row");
        insert(&tx, "b", &[(3, 12, 3.0)]).expect("row");
        assert_eq!(insert(&tx, "b", &[]).expect("nothing"), None);
        tx.commit().expect("commit");
        assert_eq!(
            points(&conn, 1, 0, 100).expect("read"),
            [(10, 1.0), (15, 1.5), (20, 2.0)]
        );
        assert_eq!(
            points(&conn, 1, 12, 20).expect("read"),
            [(15, 1.5), (20, 2.0)]
        );
        assert_eq!(
            points(&conn, 2, 0, 100).expect("read"),
            [(10, 9.0), (30, 9.5)]
        );
        assert_eq!(points(&conn, 9, 0, 100).expect("unknown"), []);
        assert_eq!(latest(&conn, 1).expect("latest"), Some((20, 2.0)));
        assert_eq!(latest(&conn, 2).expect("latest"), Some((30, 9.5)));
        let of_a = latest_of_host(&conn, "a").expect("host");
        assert_eq!(of_a.len(), 2);
        assert_eq!(of_a[&1], (20, 2.0));
        assert_eq!(of_a[&2], (30, 9.5));
        assert_eq!(count(&conn).expect("count"), 6);
        assert_eq!(oldest_ts(&conn).expect("oldest"), Some(10));
        assert_eq!(host_after(&conn, "").expect("host").as_deref(), Some("a"));
        assert_eq!(host_after(&conn, "a").expect("host").as_deref(), Some("b"));
        assert_eq!(host_after(&conn, "b").expect("host"), None);
        let mut seen = Vec::new();
        each_after(&conn, 1, |id, row| seen.push((id, row))).expect("after");
        assert_eq!(
            seen,
            [(2, (1, 15, 1.5)), (2, (2, 30, 9.5)), (3, (3, 12, 3.0))]
        );
    }

    #[test]
    fn taking_points_rewrites_rows_in_place_and_deletes_emptied_ones() {
        let mut conn = store();
        let tx = conn.transaction().expect("tx");
        insert(&tx, "a", &[(1, 10, 1.0), (1, 20, 2.0)]).expect("row");
        insert(&tx, "a", &[(1, 12, 1.2)]).expect("row");
        insert(&tx, "a", &[(2, 5, 5.0)]).expect("row");
        let taken = take(&tx, Some("a"), 15, 2, u64::MAX, |r| r.1 < 15).expect("take");
        // Row 3 is past max_id: untouched.
        assert_eq!(taken.points, [(1, 10, 1.0), (1, 12, 1.2)]);
        assert!(!taken.more);
        tx.commit().expect("commit");
        let rows: Vec<(i64, i64, i64, i64)> = conn
            .prepare("SELECT id, min_ts, max_ts, count FROM head_batches ORDER BY id")
            .expect("sql")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(rows, [(1, 20, 20, 1), (3, 5, 5, 1)]);
        let tx = conn.transaction().expect("tx");
        let all = take(&tx, None, i64::MAX, i64::MAX, u64::MAX, |r| r.0 == 2).expect("take");
        assert_eq!(all.points, [(2, 5, 5.0)]);
        tx.commit().expect("commit");
        assert_eq!(count(&conn).expect("count"), 1);
        // A budget: whole rows until it is spent, and word of the rest.
        let tx = conn.transaction().expect("tx");
        insert(&tx, "a", &[(1, 30, 3.0), (1, 31, 3.1)]).expect("row");
        insert(&tx, "a", &[(1, 32, 3.2)]).expect("row");
        let some = take(&tx, Some("a"), i64::MAX, i64::MAX, 2, |_| true).expect("take");
        assert_eq!(some.points, [(1, 20, 2.0), (1, 30, 3.0), (1, 31, 3.1)]);
        assert!(some.more);
        let rest = take(&tx, Some("a"), i64::MAX, i64::MAX, 2, |_| true).expect("take");
        assert_eq!((rest.points, rest.more), (vec![(1, 32, 3.2)], false));
    }
}
