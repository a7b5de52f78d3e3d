//! Points as compressed chunks per series (the store's version 2; see
//! docs/internals/store.md, "Version 2: chunks").
//!
//! The head ([`super::head`], a row per batch) is where every batch lands,
//! with its stream's `last_seq`, in one transaction before it is
//! acknowledged. [`seal`] moves a host's head points of closed windows into
//! a chunk per series and window (`p2pmon_chunks`, pco with the decimal
//! pre-pass) and takes them out of their rows, in one transaction, so a
//! kill at any moment leaves either the head's points or the chunks. Only
//! points of rows the rollups already hold in the file (ids at or below
//! the rollup watermark) are sealed, so recovery after a crash never
//! needs a sealed point again. Reads of raw points ([`raw_points`]) merge
//! the head with the chunks that overlap the range.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// The span of a level-0 chunk: head points are sealed a window at a time.
pub const WINDOW_MS: i64 = 2 * 3_600_000;
/// The span of a level-1 chunk: a closed day's chunks are compacted into one.
pub const DAY_MS: i64 = 86_400_000;
/// A window is sealed this long after it closed: points a little late
/// (collect jitter, a short outage's backfill) still land in its chunk.
pub const GRACE_MS: i64 = 10 * 60_000;

/// How far behind sealing is when the oldest head row (by id) has time
/// `oldest_ts`: from when its window was due to be sealed to `now_ms`.
pub fn sealing_lag_ms(oldest_ts: Option<i64>, now_ms: i64) -> i64 {
    oldest_ts.map_or(0, |ts| {
        let due = ts - ts.rem_euclid(WINDOW_MS) + WINDOW_MS + GRACE_MS;
        (now_ms - due).max(0)
    })
}

/// The oldest head row's first time, by id (which follows arrival).
pub fn oldest_head_ts(conn: &Connection) -> Result<Option<i64>, StoreError> {
    super::head::oldest_ts(conn)
}

/// What one [`seal`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sealed {
    pub chunks: u64,
    pub points: u64,
    /// Encoded bytes written.
    pub bytes: u64,
    /// The earliest point sealed (to tell whether a closed day got a new
    /// level-0 chunk that compaction has to merge).
    pub earliest_ms: Option<i64>,
    /// Where to go on: the call stopped at its point budget or host count
    /// before this host (or part way through it); `None` once every host
    /// was looked at.
    pub resume_at: Option<String>,
}

/// What one [`compact`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compacted {
    /// Level-0 and level-1 chunks merged away...
    pub chunks_in: u64,
    /// ...into this many level-1 chunks.
    pub chunks_out: u64,
    pub points: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// 1 h rollup buckets folded into their chunks.
    pub hour_buckets: u64,
    pub resume_after: Option<i64>,
}

fn codec_error(series: i64, error: p2pmon_chunks::ChunkError) -> StoreError {
    StoreError::Invalid(format!("chunk of series {series}: {error}"))
}

/// Whether the store has the chunk tables (a store last opened read-write
/// by an older build has not).
fn has_chunks(conn: &Connection) -> Result<bool, StoreError> {
    super::has_table(conn, "chunks")
}

/// Series a sealing or compaction step visits at most: each is a
/// transaction even when it has nothing to do, and ingest waits for the
/// step (1,000 hosts of 50 series made a step of 50,000 transactions).
const SERIES_PER_STEP: usize = 2_000;

/// The next [`SERIES_PER_STEP`] series ids after `after`, in order.
fn series_after(conn: &Connection, after: i64) -> Result<Vec<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id FROM series WHERE id > ?1 ORDER BY id LIMIT ?2")?
        .query_map(params![after, SERIES_PER_STEP as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

/// Where the next step resumes when this one visited a full
/// [`series_after`] list: after its last series.
fn resume_after_visited(visited: &[i64]) -> Option<i64> {
    (visited.len() == SERIES_PER_STEP)
        .then(|| visited.last().copied())
        .flatten()
}

fn encode(series: i64, points: &[(i64, f64)]) -> Result<Vec<u8>, StoreError> {
    let ts: Vec<i64> = points.iter().map(|p| p.0).collect();
    let values: Vec<f64> = points.iter().map(|p| p.1).collect();
    p2pmon_chunks::encode(p2pmon_chunks::Config::default(), &ts, &values)
        .map_err(|e| codec_error(series, e))
}

fn insert_chunk(
    tx: &rusqlite::Transaction<'_>,
    series: i64,
    level: i64,
    points: &[(i64, f64)],
    data: &[u8],
) -> Result<(), StoreError> {
    let (first, last) = points.iter().fold((i64::MAX, i64::MIN), |(lo, hi), p| {
        (lo.min(p.0), hi.max(p.0))
    });
    tx.prepare_cached(
        "INSERT INTO chunks (series_id, start_ts, end_ts, count, level, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        series,
        first,
        last,
        points.len() as i64,
        level,
        data
    ])?;
    Ok(())
}

/// Hosts a sealing step visits at most (each a transaction, work or not).
const HOSTS_PER_STEP: usize = 200;

/// Seal head points older than `before_ms` (rounded down to a window
/// edge) into level-0 chunks, one per series and window, for hosts from
/// `from_host` on (in order), stopping once about `max_points` are sealed
/// or [`HOSTS_PER_STEP`] hosts visited (`resume_at` says where). Each
/// transaction inserts the chunks of a host's points it takes out of the
/// head rows (whole rows, up to the budget), together. Only rows at or
/// below the rollup watermark are taken.
pub fn seal(
    conn: &mut Connection,
    before_ms: i64,
    from_host: &str,
    max_points: u64,
) -> Result<Sealed, StoreError> {
    let cut = before_ms - before_ms.rem_euclid(WINDOW_MS);
    let watermark = super::head::watermark(conn)?;
    let mut sealed = Sealed::default();
    let mut host = if from_host.is_empty() {
        super::head::host_after(conn, "")?
    } else {
        Some(from_host.to_string())
    };
    let mut visited = 0;
    while let Some(current) = host.take() {
        if sealed.points >= max_points || visited == HOSTS_PER_STEP {
            sealed.resume_at = Some(current);
            break;
        }
        visited += 1;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let budget = max_points - sealed.points;
        let mut taken =
            super::head::take(&tx, Some(&current), cut, watermark, budget, |r| r.1 < cut)?;
        let rows = &mut taken.points;
        // Stable: equal times keep the order stored.
        rows.sort_by_key(|&(series, ts, _)| (series, ts));
        for run in rows.chunk_by(|a, b| a.0 == b.0) {
            let series = run[0].0;
            let points: Vec<(i64, f64)> = run.iter().map(|r| (r.1, r.2)).collect();
            for part in
                points.chunk_by(|a, b| a.0.div_euclid(WINDOW_MS) == b.0.div_euclid(WINDOW_MS))
            {
                let data = encode(series, part)?;
                insert_chunk(&tx, series, 0, part, &data)?;
                sealed.chunks += 1;
                sealed.bytes += data.len() as u64;
            }
        }
        tx.commit()?;
        sealed.points += rows.len() as u64;
        if let Some(earliest) = rows.iter().map(|r| r.1).min() {
            sealed.earliest_ms = Some(sealed.earliest_ms.unwrap_or(i64::MAX).min(earliest));
        }
        host = if taken.more {
            // The budget ran out inside this host.
            Some(current)
        } else {
            super::head::host_after(conn, &current)?
        };
    }
    Ok(sealed)
}

/// Merge each closed day's chunks of a series (days ending at or before
/// `before_ms` rounded down to a day, that hold a level-0 chunk) into one
/// level-1 chunk, for series after `after_series`, stopping once about
/// `max_points` are merged or [`SERIES_PER_STEP`] series visited. Each series is one transaction: the day's
/// chunk inserted and the ones it replaces deleted together, and the day's
/// 1 min rollups folded into a rollup chunk, and the series' hour rollups of
/// closed days into their 10-day chunks ([`super::rollups::fold`]).
/// Points keep the order reads give them (by time; equal times in the
/// order stored).
pub fn compact(
    conn: &mut Connection,
    before_ms: i64,
    after_series: i64,
    max_points: u64,
) -> Result<Compacted, StoreError> {
    let cut = before_ms - before_ms.rem_euclid(DAY_MS);
    let mut done = Compacted::default();
    let visit = series_after(conn, after_series)?;
    done.resume_after = resume_after_visited(&visit);
    for id in visit {
        if done.points >= max_points {
            done.resume_after = Some(id - 1);
            break;
        }
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let starts: Vec<i64> = tx
            .prepare_cached(
                "SELECT start_ts FROM chunks
                  WHERE series_id = ?1 AND level = 0 AND end_ts < ?2 ORDER BY start_ts",
            )?
            .query_map(params![id, cut], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut days: Vec<i64> = starts.iter().map(|t| t - t.rem_euclid(DAY_MS)).collect();
        days.dedup();
        for day in days {
            let parts: Vec<(i64, i64, Vec<u8>)> = tx
                .prepare_cached(
                    "SELECT id, level, data FROM chunks
                      WHERE series_id = ?1 AND start_ts >= ?2 AND start_ts < ?3
                      ORDER BY start_ts, id",
                )?
                .query_map(params![id, day, day + DAY_MS], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<Result<_, _>>()?;
            // The day's minute rollups go into a chunk with it.
            super::rollups::fold(&tx, super::rollups::MINUTE, id, day, day + DAY_MS)?;
            if let [(chunk, _, _)] = parts.as_slice() {
                // One chunk for the whole day: it is the day's chunk as it is.
                tx.prepare_cached("UPDATE chunks SET level = 1 WHERE id = ?1")?
                    .execute([chunk])?;
                continue;
            }
            let mut points: Vec<(i64, f64)> = Vec::new();
            for (_, _, data) in &parts {
                let decoded = p2pmon_chunks::decode(data).map_err(|e| codec_error(id, e))?;
                points.extend(decoded.timestamps.into_iter().zip(decoded.values));
                done.bytes_in += data.len() as u64;
            }
            points.sort_by_key(|p| p.0);
            let data = encode(id, &points)?;
            insert_chunk(&tx, id, 1, &points, &data)?;
            let mut delete = tx.prepare_cached("DELETE FROM chunks WHERE id = ?1")?;
            for (chunk, _, _) in &parts {
                delete.execute([chunk])?;
            }
            done.chunks_in += parts.len() as u64;
            done.chunks_out += 1;
            done.points += points.len() as u64;
            done.bytes_out += data.len() as u64;
        }
        // Every closed day's hour rollups go into the chunk of their span.
        let hours = super::rollups::fold_before(&tx, super::rollups::HOUR, id, cut)?;
        done.hour_buckets += hours;
        done.points += hours;
        tx.commit()?;
    }
    Ok(done)
}

/// Raw points of one series with `from_ms <= ts <= to_ms`, from the
/// chunks and the head, in time order.
pub fn raw_points(
    conn: &Connection,
    series_id: i64,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<(i64, f64)>, StoreError> {
    let mut out: Vec<(i64, f64)> = Vec::new();
    if has_chunks(conn)? {
        let mut statement = conn.prepare_cached(
            "SELECT data FROM chunks
              WHERE series_id = ?1 AND end_ts >= ?2 AND start_ts <= ?3 ORDER BY start_ts, id",
        )?;
        let mut rows = statement.query(params![series_id, from_ms, to_ms])?;
        while let Some(row) = rows.next()? {
            let data: Vec<u8> = row.get(0)?;
            let points = p2pmon_chunks::decode(&data).map_err(|e| codec_error(series_id, e))?;
            out.extend(
                points
                    .timestamps
                    .into_iter()
                    .zip(points.values)
                    .filter(|(t, _)| (from_ms..=to_ms).contains(t)),
            );
        }
    }
    let sealed = out.len();
    out.extend(super::head::points(conn, series_id, from_ms, to_ms)?);
    if sealed > 0 {
        // Chunks of one window may overlap (late points sealed later), and
        // head points may be older than sealed ones: a stable sort keeps
        // equal times in the order they were stored.
        out.sort_by_key(|p| p.0);
    }
    Ok(out)
}

/// The latest point of one series: the head's, or the last chunk's when
/// the head has none.
pub fn latest(conn: &Connection, series_id: i64) -> Result<Option<(i64, f64)>, StoreError> {
    let head = super::head::latest(conn, series_id)?;
    if head.is_some() || !has_chunks(conn)? {
        return Ok(head);
    }
    latest_sealed(conn, series_id)
}

/// The latest point of one series in its chunks.
pub fn latest_sealed(conn: &Connection, series_id: i64) -> Result<Option<(i64, f64)>, StoreError> {
    if !has_chunks(conn)? {
        return Ok(None);
    }
    let data: Option<Vec<u8>> = conn
        .prepare_cached(
            "SELECT data FROM chunks WHERE series_id = ?1 ORDER BY end_ts DESC, id DESC LIMIT 1",
        )?
        .query_row([series_id], |r| r.get(0))
        .optional()?;
    let Some(data) = data else {
        return Ok(None);
    };
    let points = p2pmon_chunks::decode(&data).map_err(|e| codec_error(series_id, e))?;
    Ok(points
        .timestamps
        .into_iter()
        .zip(points.values)
        .max_by_key(|p| p.0))
}

/// Points in the head and in chunks.
pub fn point_count(conn: &Connection) -> Result<i64, StoreError> {
    super::snapshot(conn, || {
        let head = super::head::count(conn)?;
        let sealed: i64 = if has_chunks(conn)? {
            conn.query_row("SELECT COALESCE(SUM(count), 0) FROM chunks", [], |r| {
                r.get(0)
            })?
        } else {
            0
        };
        Ok(head + sealed)
    })
}

/// What the store holds and how compactly (`store stats`, `/metrics`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ChunkStats {
    /// The database file (pages in use and free; the WAL not included).
    pub file_bytes: u64,
    pub head_points: u64,
    pub sealed_points: u64,
    pub chunks: u64,
    /// Encoded bytes in chunks.
    pub chunk_bytes: u64,
    /// File bytes over every point stored.
    pub bytes_per_point: f64,
    /// How far behind sealing is, in ms: [`sealing_lag_ms`] (0 until the
    /// oldest head row's window is due).
    pub sealing_lag_ms: i64,
}

/// [`ChunkStats`] at `now_ms`: counts and sums over the chunk index, the
/// head's row count and its oldest row (by id, which follows arrival).
pub fn stats(conn: &Connection, now_ms: i64) -> Result<ChunkStats, StoreError> {
    super::snapshot(conn, || stats_now(conn, now_ms))
}

fn stats_now(conn: &Connection, now_ms: i64) -> Result<ChunkStats, StoreError> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let head = super::head::count(conn)?;
    let oldest = oldest_head_ts(conn)?;
    let mut stats = stats_of_chunks(conn)?;
    stats.file_bytes = (pages * page_size).max(0) as u64;
    stats.head_points = head.max(0) as u64;
    let points = stats.head_points + stats.sealed_points;
    stats.bytes_per_point = if points == 0 {
        0.0
    } else {
        stats.file_bytes as f64 / points as f64
    };
    stats.sealing_lag_ms = sealing_lag_ms(oldest, now_ms);
    Ok(stats)
}

/// The chunk figures of [`ChunkStats`] alone (sealed points, chunks, their
/// bytes): one pass over the chunk index, the head not counted.
pub fn stats_of_chunks(conn: &Connection) -> Result<ChunkStats, StoreError> {
    if !has_chunks(conn)? {
        return Ok(ChunkStats::default());
    }
    let (chunks, sealed, bytes): (i64, i64, i64) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(count), 0), COALESCE(SUM(length(data)), 0) FROM chunks",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok(ChunkStats {
        sealed_points: sealed.max(0) as u64,
        chunks: chunks.max(0) as u64,
        chunk_bytes: bytes.max(0) as u64,
        ..ChunkStats::default()
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use p2pmon_common::wire::{MetricKind, MetricRecord};

    use super::*;
    use crate::store::{HistoryAsk, Store, Tier, WriteJob, history, schema};

    const DAY: i64 = 86_400_000;

    fn job(seq: u64, points: &[(&str, i64, f64)]) -> WriteJob {
        job_of("host-a", seq, points)
    }

    fn job_of(host: &str, seq: u64, points: &[(&str, i64, f64)]) -> WriteJob {
        let mut job = WriteJob::new(Arc::from(host), "s".to_string(), seq, 0);
        job.metrics = points
            .iter()
            .map(|(name, ts, value)| MetricRecord {
                plugin: "system".to_string(),
                name: name.to_string(),
                value: *value,
                unit: "percent".to_string(),
                kind: MetricKind::Gauge,
                tags: BTreeMap::new(),
                timestamp_ms: *ts as u64,
            })
            .collect();
        job
    }

    /// The store with its background sealing off: these tests seal and
    /// compact by hand.
    fn unsealed(path: &std::path::Path) -> Arc<Store> {
        Store::open_with(
            path,
            crate::store::Options {
                sealing: false,
                ..Default::default()
            },
        )
        .expect("open")
    }

    /// A sealing step visits at most HOSTS_PER_STEP hosts and stops once
    /// its point budget is spent; a compaction step visits at
    /// most SERIES_PER_STEP series, with or without work. Each says where
    /// the next one resumes; every point is sealed in the end.
    #[tokio::test]
    async fn a_step_visits_a_bounded_number_of_hosts_or_series() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("store.db");
        let store = unsealed(&path);
        let names: Vec<String> = (0..=SERIES_PER_STEP).map(|i| format!("m{i}")).collect();
        let points: Vec<(&str, i64, f64)> = names
            .iter()
            .map(|n| (n.as_str(), DAY + 5_000, 1.0))
            .collect();
        store.write(job(1, &points)).await.expect("write");
        for h in 0..=HOSTS_PER_STEP {
            let host = format!("host-b{h:03}");
            let two = [("cpu_usage", DAY, 1.0), ("cpu_usage", DAY + 1, 2.0)];
            store.write(job_of(&host, 1, &two)).await.expect("write");
        }
        store.close().await.expect("close");
        let mut conn = schema::open(&path).expect("conn");
        // A budget of one point: one host's points, and where to go on.
        let one = seal(&mut conn, 2 * DAY, "", 1).expect("seal");
        assert_eq!(one.points as usize, names.len(), "one whole head row");
        assert_eq!(one.resume_at.as_deref(), Some("host-b000"));
        let full = seal(&mut conn, 2 * DAY, "host-b000", u64::MAX).expect("seal");
        assert_eq!(full.points as usize, 2 * HOSTS_PER_STEP);
        let at = full.resume_at.expect("a full step resumes");
        assert_eq!(at, format!("host-b{HOSTS_PER_STEP:03}"));
        let rest = seal(&mut conn, 2 * DAY, &at, u64::MAX).expect("seal");
        assert_eq!((rest.points, rest.resume_at), (2, None));
        let total = names.len() + 2 * (HOSTS_PER_STEP + 1);
        assert_eq!(point_count(&conn).expect("count"), total as i64);
        assert_eq!(super::super::head::count(&conn).expect("head"), 0);
        let compacted = compact(&mut conn, 3 * DAY, 0, u64::MAX).expect("compact");
        assert!(compacted.resume_after.is_some(), "{compacted:?}");
    }

    fn raw(conn: &Connection, metric: &str) -> Vec<(i64, u64)> {
        let ask = HistoryAsk {
            metric: metric.to_string(),
            host: None,
            tier: Tier::Raw,
            from_ms: 0,
            to_ms: i64::MAX,
            max_series: 10,
        };
        history(conn, &ask)
            .expect("history")
            .into_iter()
            .flat_map(|s| s.points)
            .map(|p| (p.t, p.avg.to_bits()))
            .collect()
    }

    /// Two days of 5 s points, two series, written through the store as
    /// ingest writes them; sealing moves every closed window into chunks,
    /// and every read answers as before, bit for bit.
    #[tokio::test]
    async fn sealed_points_read_back_as_they_were_stored() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("store.db");
        let store = unsealed(&path);
        let start = 100 * DAY;
        let mut seq = 0;
        // 2 days at 5 s: 34,560 steps, 96 to a batch.
        for batch in 0..360 {
            seq += 1;
            let points: Vec<(&str, i64, f64)> = (0..96)
                .flat_map(|i| {
                    let ts = start + (batch * 96 + i) * 5_000 + i % 7;
                    [
                        ("cpu_usage", ts, ((ts / 5_000) % 1_000) as f64 / 100.0),
                        ("network_io", ts, ts as f64 / 3.0),
                    ]
                })
                .collect();
            store.write(job(seq as u64, &points)).await.expect("write");
        }
        // A point that arrives late for a window that gets sealed, and one
        // with a time already stored.
        store
            .write(job(
                seq as u64 + 1,
                &[("cpu_usage", start + 10, 0.5), ("cpu_usage", start, 7.0)],
            ))
            .await
            .expect("late");
        store.flush().await.expect("flush");
        let before_cpu = raw(&schema::open(&path).expect("conn"), "cpu_usage");
        let before_net = raw(&schema::open(&path).expect("conn"), "network_io");
        let total = before_cpu.len() + before_net.len();
        assert_eq!(total, 2 * 2 * 17_280 + 2);

        let mut conn = schema::open(&path).expect("conn");
        // The last 2 h window of the second day is still open.
        let now = start + 2 * DAY - 3_600_000;
        // A small budget: one head row (96 steps of both series, in the
        // first window), and where to go on.
        let first = seal(&mut conn, now, "", 1).expect("seal");
        assert_eq!(
            (first.points, first.chunks, first.resume_at.as_deref()),
            (192, 2, Some("host-a")),
            "{first:?}"
        );
        let rest = seal(&mut conn, now, "host-a", u64::MAX).expect("seal");
        assert_eq!(rest.resume_at, None);
        // Windows end at 2 h edges; the last one (still open) stays in the head.
        let sealed = first.points + rest.points;
        let head = super::super::head::count(&conn).expect("head");
        assert_eq!(sealed as i64 + head, total as i64);
        assert_eq!(head, 2 * 1_440, "the head keeps the open window");
        // 23 closed windows a series; the first in two chunks (the row of
        // the first step, and the rest).
        assert_eq!(first.chunks + rest.chunks, 2 * 24);
        let bytes_per_point = (first.bytes + rest.bytes) as f64 / sealed as f64;
        assert!(bytes_per_point < 8.0, "{bytes_per_point} bytes per point");

        assert_eq!(raw(&conn, "cpu_usage"), before_cpu);
        assert_eq!(raw(&conn, "network_io"), before_net);
        assert_eq!(point_count(&conn).expect("count"), total as i64);
        let figures = stats(&conn, now).expect("stats");
        assert_eq!(
            (figures.head_points, figures.sealed_points, figures.chunks),
            (head as u64, sealed, 48)
        );
        assert_eq!(figures.chunk_bytes, first.bytes + rest.bytes);
        assert_eq!(
            figures.sealing_lag_ms, 0,
            "only the open window is in the head"
        );
        assert!(figures.file_bytes > figures.chunk_bytes && figures.bytes_per_point > 0.0);
        // Sealing again finds nothing new; a range inside one chunk reads
        // just that range.
        assert_eq!(seal(&mut conn, now, "", u64::MAX).expect("seal").points, 0);
        let series: i64 = conn
            .query_row("SELECT id FROM series WHERE name = 'cpu_usage'", [], |r| {
                r.get(0)
            })
            .expect("id");
        let part = raw_points(&conn, series, start + DAY, start + DAY + 60_000).expect("range");
        assert_eq!(part.len(), 12);
        assert!(
            part.iter()
                .all(|p| (start + DAY..=start + DAY + 60_000).contains(&p.0))
        );
        store.close().await.expect("close");
    }

    /// Points the rollups do not hold yet in the file stay in the head,
    /// so recovery after a crash can still fold them in.
    #[tokio::test]
    async fn points_past_the_rollup_watermark_are_not_sealed() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("store.db");
        let store = unsealed(&path);
        store
            .write(job(1, &[("cpu_usage", DAY, 1.0)]))
            .await
            .expect("write");
        store.flush().await.expect("flush");
        store
            .write(job(2, &[("cpu_usage", DAY + 5_000, 2.0)]))
            .await
            .expect("write");
        let mut conn = schema::open(&path).expect("conn");
        let sealed = seal(&mut conn, 10 * DAY, "", u64::MAX).expect("seal");
        assert_eq!(sealed.points, 1, "only the flushed point: {sealed:?}");
        // The unsealed point's window closed at DAY + 2 h.
        assert_eq!(
            stats(&conn, 10 * DAY).expect("stats").sealing_lag_ms,
            9 * DAY - WINDOW_MS - GRACE_MS
        );
        let series: i64 = conn
            .query_row("SELECT id FROM series", [], |r| r.get(0))
            .expect("id");
        assert_eq!(
            latest(&conn, series).expect("latest"),
            Some((DAY + 5_000, 2.0))
        );
        store.close().await.expect("close");
        let mut conn = schema::open(&path).expect("conn");
        seal(&mut conn, 10 * DAY, "", u64::MAX).expect("seal");
        assert_eq!(
            latest(&conn, series).expect("latest"),
            Some((DAY + 5_000, 2.0)),
            "from the chunk"
        );
        assert_eq!(raw(&conn, "cpu_usage").len(), 2);
    }

    /// A closed day's 2 h chunks become one day chunk, reads answer as
    /// before, and a late chunk for a compacted day is merged into it.
    #[tokio::test]
    async fn a_closed_day_is_compacted_into_one_chunk() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("store.db");
        let store = unsealed(&path);
        let start = 100 * DAY;
        // Three days of one series at 60 s, with two points at one time.
        let mut points: Vec<(&str, i64, f64)> = (0..3 * 1_440)
            .map(|i| ("cpu_usage", start + i * 60_000, (i % 97) as f64 / 4.0))
            .collect();
        points.push(("cpu_usage", start + 60_000, -1.0));
        store.write(job(1, &points)).await.expect("write");
        store.close().await.expect("close");
        let mut conn = schema::open(&path).expect("conn");
        let before = raw(&conn, "cpu_usage");
        let now = start + 2 * DAY + 3 * 3_600_000;
        let sealed = seal(&mut conn, now, "", u64::MAX).expect("seal");
        assert_eq!(sealed.chunks, 12 + 12 + 1);
        assert_eq!(sealed.earliest_ms, Some(start));
        // The third day is still open: only the first two are compacted.
        let done = compact(&mut conn, now, 0, u64::MAX).expect("compact");
        assert_eq!((done.chunks_in, done.chunks_out), (24, 2), "{done:?}");
        // Points merged, and the two closed days' hour rollups folded.
        assert_eq!((done.points, done.hour_buckets), (2 * 1_440 + 1 + 48, 48));
        let hour_rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM rollup_1h", [], |r| r.get(0))
            .expect("hour rows");
        assert_eq!(hour_rows, 24, "the open day's hours stay rows");
        assert_eq!(raw(&conn, "cpu_usage"), before);
        let levels: Vec<(i64, i64)> = conn
            .prepare("SELECT level, count FROM chunks ORDER BY start_ts")
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .expect("levels");
        assert_eq!(levels, [(1, 1_441), (1, 1_440), (0, 120)]);
        assert_eq!(
            compact(&mut conn, now, 0, u64::MAX).expect("again"),
            Compacted::default()
        );

        // A late point for the first day: sealed into its own chunk, then
        // merged with the day's chunk.
        let store = unsealed(&path);
        store
            .write(job(
                2,
                &[
                    ("cpu_usage", start + 30_000, 9.5),
                    ("cpu_usage", start + 5 * DAY, 1.0),
                ],
            ))
            .await
            .expect("late");
        store.close().await.expect("close");
        let mut conn = schema::open(&path).expect("conn");
        assert_eq!(seal(&mut conn, now, "", u64::MAX).expect("seal").chunks, 1);
        let done = compact(&mut conn, now, 0, u64::MAX).expect("compact");
        assert_eq!((done.chunks_in, done.chunks_out), (2, 1), "{done:?}");
        let mut expected = before.clone();
        expected.insert(1, (start + 30_000, 9.5f64.to_bits()));
        expected.push((start + 5 * DAY, 1f64.to_bits()));
        assert_eq!(raw(&conn, "cpu_usage"), expected);
        // The rest of the third day, and a day with one chunk only, which
        // is relabelled rather than rewritten.
        let later = start + 7 * DAY;
        assert_eq!(
            seal(&mut conn, later, "", u64::MAX).expect("seal").chunks,
            12
        );
        let done = compact(&mut conn, later, 0, u64::MAX).expect("compact");
        assert_eq!((done.chunks_in, done.chunks_out), (12, 1), "{done:?}");
        let levels: Vec<(i64, i64)> = conn
            .prepare("SELECT level, count FROM chunks ORDER BY start_ts")
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .expect("levels");
        assert_eq!(levels, [(1, 1_442), (1, 1_440), (1, 1_440), (1, 1)]);
        assert_eq!(point_count(&conn).expect("count"), 3 * 1_440 + 3);
    }
}
