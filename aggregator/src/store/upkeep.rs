//! Sealing and compaction in the background, on the writer's thread (see
//! docs/internals/store.md, "Version 2: chunks").
//!
//! The writer calls [`Upkeep::step`] between groups of batches. A pass
//! walks every series once: first sealing (head rows of closed 2 h windows
//! into level-0 chunks, [`chunks::seal`]), then compaction (a closed day's
//! chunks into one level-1 chunk, [`chunks::compact`]), a bounded number of
//! points per step so that a batch never waits long behind it. A pass
//! starts when a window or a day has closed since the last one, or when
//! points arrived for a window already sealed. A kill at any moment leaves
//! each series' rows or its chunks, never both: every step is transactions.

use std::time::{Duration, Instant};

use p2pmon_common::telemetry::HealthKey;
use rusqlite::Connection;

use super::StoreError;
use super::chunks::{self, DAY_MS, GRACE_MS, WINDOW_MS};

/// Points sealed or merged per step: a few tens of milliseconds.
const STEP_POINTS: u64 = 50_000;
/// Under steady ingest (the queue never empty), a step at least this often.
const BUSY_STEP_EVERY: Duration = Duration::from_millis(500);
/// After a failed step, the next try.
const RETRY_AFTER: Duration = Duration::from_secs(60);
/// A progress line this often while a pass runs.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

p2pmon_common::figures! {
    /// What the store holds and how compactly, kept by the writer (`/metrics`,
    /// the health answer's `store`).
    pub struct StoreFigures in "store" {
        file_bytes: Gauge, "file_bytes", "bytes", HealthKey::Name,
            "Size of the store's database file (the WAL not included).";
        head_points: Gauge, "head_points", "count", HealthKey::Name,
            "Points in the head (a row per batch), not sealed into chunks yet.";
        sealed_points: Gauge, "sealed_points", "count", HealthKey::Name,
            "Points in compressed chunks.";
        chunks: Gauge, "chunks", "count", HealthKey::Name,
            "Compressed chunks.";
        chunk_bytes: Gauge, "chunk_bytes", "bytes", HealthKey::Name,
            "Encoded bytes in chunks.";
        sealing_lag_seconds: Gauge, "sealing_lag_seconds", "seconds", HealthKey::Name,
            "From the end of the oldest head point's window (plus the grace for late points) to now; 0 when sealing is current.";
        sealed: Counter, "sealed", "count", HealthKey::Sample,
            "Points sealed into chunks since the aggregator started.";
        compacted: Counter, "compacted_chunks", "count", HealthKey::Sample,
            "Chunks merged into day chunks since the aggregator started.";
    }
}

impl StoreFigures {
    /// Read every gauge from the file (at open; a count of the head's rows).
    pub fn load(&self, conn: &Connection, now_ms: i64) -> Result<(), StoreError> {
        let stats = chunks::stats(conn, now_ms)?;
        self.head_points.set(stats.head_points);
        self.set_chunks(&stats);
        self.refresh(conn, now_ms)
    }

    /// The chunk gauges again from the chunk index (after retention, which
    /// drops chunks of many series at once).
    pub(super) fn reload_chunks(&self, conn: &Connection, now_ms: i64) -> Result<(), StoreError> {
        let stats = chunks::stats_of_chunks(conn)?;
        self.set_chunks(&stats);
        self.refresh(conn, now_ms)
    }

    fn set_chunks(&self, stats: &chunks::ChunkStats) {
        self.sealed_points.set(stats.sealed_points);
        self.chunks.set(stats.chunks);
        self.chunk_bytes.set(stats.chunk_bytes);
    }

    /// The file's size over every point stored (0 when empty).
    pub fn bytes_per_point(&self) -> f64 {
        let points = self.head_points.get() + self.sealed_points.get();
        if points == 0 {
            0.0
        } else {
            self.file_bytes.get() as f64 / points as f64
        }
    }

    /// The file's size and the sealing lag, after a step.
    fn refresh(&self, conn: &Connection, now_ms: i64) -> Result<(), StoreError> {
        let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        self.file_bytes.set((pages * page_size).max(0) as u64);
        let lag = chunks::sealing_lag_ms(chunks::oldest_head_ts(conn)?, now_ms);
        self.sealing_lag_seconds.set((lag / 1_000) as u64);
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pass {
    /// Sealing visits hosts (the head's rows are a host's batches), from
    /// `from` on ("": the first)...
    Seal { cut: i64, from: String },
    /// ...compaction series.
    Compact { cut: i64, after: i64 },
}

/// The writer's sealing and compaction state.
pub(super) struct Upkeep {
    enabled: bool,
    /// The cut of the last finished sealing pass (0: none yet).
    sealed_below: i64,
    compacted_below: i64,
    /// Rows were written for windows before `sealed_below`.
    late_rows: bool,
    /// Level-0 chunks were sealed for days before `compacted_below`.
    late_chunks: bool,
    pass: Option<Pass>,
    last_step: Instant,
    retry_at: Option<Instant>,
    progress: Progress,
}

#[derive(Default)]
struct Progress {
    started: Option<Instant>,
    last_line: Option<Instant>,
    points: u64,
    chunks: u64,
}

/// What the writer must do before a step (the rollups must hold every
/// point a seal may take) and after it (forget nothing: the figures).
pub(super) enum Need {
    Nothing,
    /// Flush the rollups, then call [`Upkeep::run`].
    Step,
}

impl Upkeep {
    pub(super) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            sealed_below: 0,
            compacted_below: 0,
            late_rows: false,
            late_chunks: false,
            pass: None,
            last_step: Instant::now(),
            retry_at: None,
            progress: Progress::default(),
        }
    }

    /// Whether a pass is under way (the writer then polls its queue instead
    /// of waiting on it).
    pub(super) fn busy(&self) -> bool {
        self.pass.is_some()
    }

    /// The writer stored a row at `ts`: one for a window already sealed, or
    /// due in the pass under way (which may have passed its series), makes
    /// another pass.
    pub(super) fn wrote(&mut self, ts: i64) {
        let cut = match self.pass {
            Some(Pass::Seal { cut, .. }) => cut.max(self.sealed_below),
            _ => self.sealed_below,
        };
        if ts < cut {
            self.late_rows = true;
        }
    }

    /// Whether a step is due now; `idle` when the writer's queue is empty.
    pub(super) fn due(&mut self, now_ms: i64, idle: bool) -> Need {
        if !self.enabled || self.retry_at.is_some_and(|at| Instant::now() < at) {
            return Need::Nothing;
        }
        if self.pass.is_none() {
            let seal_cut = floor(now_ms - GRACE_MS, WINDOW_MS);
            let compact_cut = floor(now_ms - GRACE_MS, DAY_MS);
            self.pass = if seal_cut > self.sealed_below || self.late_rows {
                self.late_rows = false;
                Some(Pass::Seal {
                    cut: seal_cut,
                    from: String::new(),
                })
            } else if compact_cut > self.compacted_below || self.late_chunks {
                self.late_chunks = false;
                Some(Pass::Compact {
                    cut: compact_cut,
                    after: 0,
                })
            } else {
                None
            };
            if self.pass.is_none() {
                return Need::Nothing;
            }
            self.progress = Progress::default();
        }
        if !idle && self.last_step.elapsed() < BUSY_STEP_EVERY {
            return Need::Nothing;
        }
        Need::Step
    }

    /// One step of the pass under way (the rollups flushed just before).
    pub(super) fn run(&mut self, conn: &mut Connection, figures: &StoreFigures, now_ms: i64) {
        let Some(pass) = self.pass.clone() else {
            return;
        };
        self.last_step = Instant::now();
        let result = match &pass {
            Pass::Seal { cut, from } => self.seal(conn, figures, *cut, from),
            Pass::Compact { cut, after } => self.compact(conn, figures, *cut, *after),
        };
        match result.and_then(|()| figures.refresh(conn, now_ms)) {
            Ok(()) => {
                self.retry_at = None;
                self.report(pass);
            }
            Err(error) => self.failed(&error),
        }
    }

    /// A step could not run or failed (a full disk, say): nothing of it is
    /// in the file; the pass starts over in a minute, and the writer waits
    /// on its queue meanwhile.
    pub(super) fn failed(&mut self, error: &StoreError) {
        tracing::error!(%error, "Sealing or compacting the store failed; will retry in a minute.");
        self.pass = None;
        self.retry_at = Some(Instant::now() + RETRY_AFTER);
    }

    fn seal(
        &mut self,
        conn: &mut Connection,
        figures: &StoreFigures,
        cut: i64,
        from: &str,
    ) -> Result<(), StoreError> {
        let sealed = chunks::seal(conn, cut, from, STEP_POINTS)?;
        figures.head_points.sub(sealed.points);
        figures.sealed_points.add(sealed.points);
        figures.sealed.add(sealed.points);
        figures.chunks.add(sealed.chunks);
        figures.chunk_bytes.add(sealed.bytes);
        self.progress.points += sealed.points;
        self.progress.chunks += sealed.chunks;
        if sealed.earliest_ms.is_some_and(|t| t < self.compacted_below) {
            self.late_chunks = true;
        }
        self.pass = match sealed.resume_at {
            Some(from) => Some(Pass::Seal { cut, from }),
            None => {
                self.sealed_below = cut;
                None
            }
        };
        Ok(())
    }

    fn compact(
        &mut self,
        conn: &mut Connection,
        figures: &StoreFigures,
        cut: i64,
        after: i64,
    ) -> Result<(), StoreError> {
        let done = chunks::compact(conn, cut, after, STEP_POINTS)?;
        figures.chunks.sub(done.chunks_in);
        figures.chunks.add(done.chunks_out);
        figures.chunk_bytes.sub(done.bytes_in);
        figures.chunk_bytes.add(done.bytes_out);
        figures.compacted.add(done.chunks_in);
        self.progress.points += done.points;
        self.progress.chunks += done.chunks_in;
        self.pass = match done.resume_after {
            Some(after) => Some(Pass::Compact { cut, after }),
            None => {
                self.compacted_below = cut;
                None
            }
        };
        Ok(())
    }

    /// A line every [`PROGRESS_EVERY`] while a long pass runs, and one when
    /// a pass that did something ends.
    fn report(&mut self, pass: Pass) {
        let now = Instant::now();
        let started = *self.progress.started.get_or_insert(now);
        let what = match pass {
            Pass::Seal { .. } => "Sealing",
            Pass::Compact { .. } => "Compacting",
        };
        if self.pass.is_none() {
            if self.progress.points > 0 {
                tracing::info!(
                    points = self.progress.points,
                    chunks = self.progress.chunks,
                    seconds = started.elapsed().as_secs_f64(),
                    "{what} done."
                );
            }
        } else if now - self.progress.last_line.unwrap_or(started) >= PROGRESS_EVERY {
            self.progress.last_line = Some(now);
            tracing::info!(
                points = self.progress.points,
                chunks = self.progress.chunks,
                seconds = started.elapsed().as_secs_f64(),
                "{what} the store: under way."
            );
        }
    }
}

fn floor(t: i64, width: i64) -> i64 {
    t - t.rem_euclid(width)
}

/// Points per transaction of [`catch_up`].
const CATCH_UP_POINTS: u64 = 200_000;

/// What [`catch_up`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CatchUp {
    pub sealed_points: u64,
    pub chunks_written: u64,
    pub chunks_merged: u64,
}

/// Seal every window and compact every day closed at `now_ms`, to the end,
/// [`CATCH_UP_POINTS`] a transaction, saying how far it got each step
/// (`store compact`; the same passes as the writer's, without waiting).
pub fn catch_up(
    conn: &mut Connection,
    now_ms: i64,
    say: &mut dyn FnMut(&str),
) -> Result<CatchUp, StoreError> {
    let before = now_ms - GRACE_MS;
    let head = chunks::stats(conn, now_ms)?.head_points;
    let mut report = CatchUp::default();
    let mut host = String::new();
    loop {
        let sealed = chunks::seal(conn, before, &host, CATCH_UP_POINTS)?;
        report.sealed_points += sealed.points;
        report.chunks_written += sealed.chunks;
        if sealed.points > 0 {
            say(&format!(
                "sealed {} of {head} head points into {} chunks",
                report.sealed_points, report.chunks_written
            ));
        }
        match sealed.resume_at {
            Some(next) => host = next,
            None => break,
        }
    }
    let mut after = 0;
    loop {
        let done = chunks::compact(conn, before, after, CATCH_UP_POINTS)?;
        report.chunks_merged += done.chunks_in;
        if done.chunks_in > 0 {
            say(&format!(
                "compacted {} chunks into day chunks",
                report.chunks_merged
            ));
        }
        match done.resume_after {
            Some(next) => after = next,
            None => break,
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    use p2pmon_common::wire::{MetricKind, MetricRecord};
    use rusqlite::Connection;

    use super::GRACE_MS;
    use crate::clock::now_ms;
    use crate::store::{HistoryAsk, Options, Store, Tier, WriteJob, history, schema};

    const DAY: i64 = 86_400_000;

    /// Two series at 30 s over `days` days ending `end_ms`, in batches of
    /// 200 steps, as ingest hands them to the store.
    async fn write_days(store: &Store, end_ms: i64, days: i64) -> u64 {
        let steps = days * DAY / 30_000;
        let mut seq = 0;
        for first in (0..steps).step_by(200) {
            seq += 1;
            let mut job = WriteJob::new(Arc::from("host-a"), "s".to_string(), seq, 0);
            for step in first..(first + 200).min(steps) {
                let ts = end_ms - days * DAY + step * 30_000 + step % 5;
                for (name, value) in [
                    ("cpu_usage", (step % 400) as f64 / 4.0),
                    ("network_io", ts as f64 * 1.5e-3),
                ] {
                    job.metrics.push(MetricRecord {
                        plugin: "system".to_string(),
                        name: name.to_string(),
                        value,
                        unit: "percent".to_string(),
                        kind: MetricKind::Gauge,
                        tags: BTreeMap::new(),
                        timestamp_ms: ts as u64,
                    });
                }
            }
            store.write(job).await.expect("write");
        }
        (steps * 2) as u64
    }

    /// Every point and rollup of both series, bit for bit.
    fn everything(conn: &Connection) -> Vec<(String, Tier, i64, u64, u64, u64, i64)> {
        let mut out = Vec::new();
        for metric in ["cpu_usage", "network_io"] {
            for tier in [Tier::Raw, Tier::Minute, Tier::Hour] {
                let ask = HistoryAsk {
                    metric: metric.to_string(),
                    host: None,
                    tier,
                    from_ms: i64::MIN,
                    to_ms: i64::MAX,
                    max_series: 10,
                };
                for series in history(conn, &ask).expect("history") {
                    out.extend(series.points.into_iter().map(|p| {
                        (
                            metric.to_string(),
                            tier,
                            p.t,
                            p.avg.to_bits(),
                            p.min.to_bits(),
                            p.max.to_bits(),
                            p.count,
                        )
                    }));
                }
            }
        }
        out
    }

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The running store seals closed windows and compacts closed days by
    /// itself, keeps its figures right, and reads answer as before.
    #[tokio::test]
    async fn the_writer_seals_and_compacts_in_the_background() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("store.db");
        let unsealed = Store::open_with(
            &path,
            Options {
                sealing: false,
                ..Options::default()
            },
        )
        .expect("open");
        // Three closed days, and points of the last hour (an open window).
        let now = now_ms();
        let mut total = write_days(&unsealed, now - DAY, 3).await;
        unsealed.flush().await.expect("flush");
        let before = everything(&schema::open(&path).expect("conn"));
        unsealed.close().await.expect("close");

        let store = Store::open(&path).expect("open");
        assert_eq!(store.figures.head_points.get(), total);
        // The points of the last hour come in while it seals.
        let mut job = WriteJob::new(Arc::from("host-a"), "s".to_string(), 1_000, 0);
        job.metrics.push(MetricRecord {
            plugin: "system".to_string(),
            name: "cpu_usage".to_string(),
            value: 0.25,
            unit: "percent".to_string(),
            kind: MetricKind::Gauge,
            tags: BTreeMap::new(),
            timestamp_ms: now as u64,
        });
        store.write(job).await.expect("write");
        total += 1;
        let figures = store.figures.clone();
        until("sealed and compacted", || {
            // One step of each takes all of it (fewer points than a step's budget).
            figures.head_points.get() == 1 && figures.compacted.get() > 0
        })
        .await;
        assert_eq!(
            figures.sealed_points.get() + figures.head_points.get(),
            total
        );
        assert_eq!(figures.sealed.get(), total - 1);
        store.flush().await.expect("flush");
        let conn = schema::open(&path).expect("conn");
        let stats = super::chunks::stats(&conn, now).expect("stats");
        assert_eq!(
            (
                stats.head_points,
                stats.sealed_points,
                stats.chunks,
                stats.chunk_bytes
            ),
            (
                figures.head_points.get(),
                figures.sealed_points.get(),
                figures.chunks.get(),
                figures.chunk_bytes.get()
            )
        );
        assert_eq!(figures.sealing_lag_seconds.get(), 0);
        // The minute and hour rollups of compacted days are chunks now.
        let cut = now - GRACE_MS - (now - GRACE_MS).rem_euclid(DAY);
        let (rows, folded, hour_rows, hours_folded): (i64, i64, i64, i64) = conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM rollup_1m WHERE bucket < ?1),
                        (SELECT COUNT(*) FROM rollup_chunks),
                        (SELECT COUNT(*) FROM rollup_1h WHERE bucket < ?1),
                        (SELECT COUNT(*) FROM rollup_1h_chunks)",
                [cut],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .expect("rollups");
        assert_eq!((rows, hour_rows), (0, 0));
        assert!(folded >= 2 * 3, "{folded} rollup chunks");
        assert!(hours_folded >= 2, "{hours_folded} hour rollup chunks");
        let after = everything(&conn);
        let (new, old): (Vec<_>, Vec<_>) = after.into_iter().partition(|p| p.2 >= now - 3_600_000);
        assert_eq!(old, before, "every older point and rollup as it was");
        assert_eq!(new.len(), 3, "the new point in each tier");
        store.close().await.expect("close");
    }

    /// Old points written while a sealing pass runs (a backfill) are
    /// sealed too, also those of series the pass had already passed.
    #[tokio::test]
    async fn rows_written_during_a_pass_are_sealed_too() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(&dir.path().join("store.db")).expect("open");
        let total = write_days(&store, now_ms() - DAY, 3).await;
        let figures = store.figures.clone();
        until("all sealed", || {
            figures.head_points.get() == 0 && figures.sealed_points.get() == total
        })
        .await;
        store.close().await.expect("close");
    }

    /// The store at `path` as schema 1 wrote it: a row per point in
    /// `points` (with its index and AUTOINCREMENT ids, the rollup watermark
    /// at the last), no head rows, no chunk tables, version 1.
    fn to_schema_1(path: &std::path::Path) {
        let mut conn = Connection::open(path).expect("conn");
        let tx = conn.transaction().expect("tx");
        tx.execute_batch(
            "CREATE TABLE points (id INTEGER PRIMARY KEY AUTOINCREMENT, series_id INTEGER NOT NULL,
                                  ts INTEGER NOT NULL, value REAL NOT NULL);
             CREATE INDEX points_by_series ON points (series_id, ts);",
        )
        .expect("points");
        let mut points = Vec::new();
        crate::store::head::each_after(&tx, 0, |_, row| points.push(row)).expect("head");
        for (series, ts, value) in points {
            tx.execute(
                "INSERT INTO points (series_id, ts, value) VALUES (?1, ?2, ?3)",
                rusqlite::params![series, ts, value],
            )
            .expect("row");
        }
        tx.execute_batch(
            "INSERT INTO meta (key, value) VALUES ('rollup_watermark', (SELECT MAX(id) FROM points));
             DELETE FROM meta WHERE key = 'head_watermark';
             DROP TABLE head_batches; DROP TABLE chunks; DROP TABLE rollup_1h_chunks;
             UPDATE meta SET value = 1 WHERE key = 'schema_version';",
        )
        .expect("schema 1");
        tx.commit().expect("commit");
        // Into the file itself: the test copies it.
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .expect("checkpoint");
    }

    /// A store written by the schema-1 writer (a row per point, no chunk
    /// table) is upgraded on open, and every point and rollup reads the
    /// same once its rows are in chunks: by the running store, and by
    /// `store compact` on a copy.
    #[tokio::test]
    async fn a_schema_1_store_is_migrated_with_every_point_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("store.db");
        let old = Store::open_with(
            &path,
            Options {
                sealing: false,
                ..Options::default()
            },
        )
        .expect("open");
        let now = now_ms();
        let total = write_days(&old, now - 2 * 3_600_000, 2).await;
        old.close().await.expect("close");
        drop(old);
        let before = everything(&schema::open_read_only(&path).expect("conn"));
        assert_eq!(
            before.iter().filter(|p| p.1 == Tier::Raw).count() as u64,
            total
        );
        to_schema_1(&path);
        let refused = schema::open_read_only(&path).expect_err("not upgraded yet");
        assert!(refused.to_string().contains("store compact"), "{refused}");
        let copy = dir.path().join("copy.db");
        std::fs::copy(&path, &copy).expect("copy");

        let store = Store::open(&path).expect("upgraded");
        let version: i64 = schema::open_read_only(&path)
            .expect("conn")
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .expect("version");
        assert_eq!(version, schema::SCHEMA_VERSION);
        let figures = store.figures.clone();
        until("migrated", || {
            figures.compacted.get() > 0 && figures.sealing_lag_seconds.get() == 0
        })
        .await;
        store.close().await.expect("close");
        let conn = schema::open_read_only(&path).expect("conn");
        let stats = super::chunks::stats(&conn, now).expect("stats");
        assert!(stats.sealed_points > total / 2, "{stats:?}");
        assert_eq!(stats.head_points + stats.sealed_points, total);
        assert_eq!(everything(&conn), before);

        let mut conn = schema::open(&copy).expect("copy");
        let mut lines = Vec::new();
        let report = super::catch_up(&mut conn, now, &mut |line| lines.push(line.to_string()))
            .expect("compact");
        assert_eq!(report.sealed_points, stats.sealed_points);
        assert!(report.chunks_merged > 0 && !lines.is_empty(), "{lines:?}");
        assert!(lines[0].starts_with("sealed "), "{lines:?}");
        assert_eq!(everything(&conn), before);
        // The hour rollups of closed days were rows; they are chunks now.
        let cut = super::floor(now - GRACE_MS, DAY);
        let (rows, folded): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM rollup_1h WHERE bucket < ?1),
                        (SELECT COUNT(*) FROM rollup_1h_chunks)",
                [cut],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("hour rollups");
        assert_eq!(rows, 0);
        assert!(folded >= 2, "{folded} hour rollup chunks");
    }
}
