//! The writer thread: batches in, transactions out. See the module above.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use p2pmon_common::wire::{EventRecord, MetricKind, MetricRecord, Severity};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use super::{Command, GROUP_MAX_POINTS, StoreError};
use crate::config::Retention;

/// Rollups are written at least this often...
const ROLLUP_FLUSH_EVERY: Duration = Duration::from_secs(5);
/// ...or when this many buckets are pending.
const ROLLUP_FLUSH_BUCKETS: usize = 200_000;
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

/// One batch to store, already validated by ingest.
pub struct WriteJob {
    pub host_id: Arc<str>,
    pub stream: String,
    pub seq: u64,
    pub metrics: Vec<MetricRecord>,
    pub events: Vec<EventRecord>,
    /// Series the host may have in all; points of new series past it are refused.
    pub max_series: usize,
    pub received_ms: i64,
    pub(super) reply: Option<oneshot::Sender<Result<WriteOutcome, StoreError>>>,
}

impl WriteJob {
    pub fn new(host_id: Arc<str>, stream: String, seq: u64, received_ms: i64) -> Self {
        Self {
            host_id,
            stream,
            seq,
            metrics: Vec::new(),
            events: Vec::new(),
            max_series: usize::MAX,
            received_ms,
            reply: None,
        }
    }
}

/// What became of one batch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteOutcome {
    /// The (host, stream, seq) was stored before; nothing was written.
    pub duplicate: bool,
    pub points: u64,
    pub events: u64,
    /// Points refused because they would have created a series past the cap.
    pub series_limited: u64,
    /// For each metric of the job, whether it was stored (same order).
    pub stored_mask: Vec<bool>,
    /// The job's records, handed back for the live view and the feed.
    pub metrics: Vec<MetricRecord>,
    pub event_records: Vec<EventRecord>,
}

/// Rows removed by retention.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Deleted {
    pub points: u64,
    pub minute_rollups: u64,
    pub hour_rollups: u64,
    pub events: u64,
}

#[derive(Clone, Copy, Debug)]
struct Agg {
    min: f64,
    max: f64,
    sum: f64,
    count: i64,
}

impl Agg {
    fn new(value: f64) -> Self {
        Self {
            min: value,
            max: value,
            sum: value,
            count: 1,
        }
    }
    fn add(&mut self, value: f64) {
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum += value;
        self.count += 1;
    }
}

pub(super) struct Writer {
    conn: Connection,
    /// (host, name, tags JSON) -> series id.
    series: HashMap<(Arc<str>, String, String), i64>,
    series_per_host: HashMap<Arc<str>, usize>,
    last_seq: HashMap<(Arc<str>, String), u64>,
    minute: HashMap<(i64, i64), Agg>,
    hour: HashMap<(i64, i64), Agg>,
    /// Id of the last raw point folded into `minute` and `hour`.
    covered_up_to: i64,
    last_flush: Instant,
}

fn kind_str(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Gauge => "gauge",
        MetricKind::Counter => "counter",
    }
}

pub fn severity_str(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Error => "error",
        Severity::Critical => "critical",
    }
}

impl Writer {
    pub(super) fn new(conn: Connection) -> Result<Self, StoreError> {
        let covered_up_to = watermark(&conn)?;
        Ok(Self {
            conn,
            series: HashMap::new(),
            series_per_host: HashMap::new(),
            last_seq: HashMap::new(),
            minute: HashMap::new(),
            hour: HashMap::new(),
            covered_up_to,
            last_flush: Instant::now(),
        })
    }

    /// Fold points past the rollup watermark into the rollups (after a crash).
    pub(super) fn recover(&mut self) -> Result<(), StoreError> {
        let mut last = self.covered_up_to;
        {
            let mut statement = self
                .conn
                .prepare("SELECT id, series_id, ts, value FROM points WHERE id > ?1 ORDER BY id")?;
            let mut rows = statement.query([self.covered_up_to])?;
            while let Some(row) = rows.next()? {
                let id: i64 = row.get(0)?;
                let series: i64 = row.get(1)?;
                let ts: i64 = row.get(2)?;
                let value: f64 = row.get(3)?;
                accumulate(&mut self.minute, &mut self.hour, series, ts, value);
                last = id;
            }
        }
        let recovered = self.minute.values().map(|a| a.count).sum::<i64>();
        self.covered_up_to = last;
        if recovered > 0 {
            tracing::info!(points = recovered, "Rolled up points past the watermark.");
        }
        self.flush_rollups()
    }

    pub(super) fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut group: Vec<WriteJob> = Vec::new();
        while let Some(command) = commands.blocking_recv() {
            let mut next = Some(command);
            while let Some(command) = next.take() {
                match command {
                    Command::Write(job) => {
                        let mut points = job.metrics.len();
                        group.push(job);
                        while points < GROUP_MAX_POINTS {
                            match commands.try_recv() {
                                Ok(Command::Write(job)) => {
                                    points += job.metrics.len();
                                    group.push(job);
                                }
                                Ok(other) => {
                                    next = Some(other);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        self.write_group(&mut group);
                    }
                    Command::Exec(f) => f(&mut self.conn),
                    Command::Flush(reply) => {
                        let _ = reply.send(self.flush_rollups());
                    }
                    Command::Stop(reply) => {
                        let _ = reply.send(self.flush_rollups());
                        return;
                    }
                }
            }
            if self.last_flush.elapsed() >= ROLLUP_FLUSH_EVERY
                || self.minute.len() + self.hour.len() >= ROLLUP_FLUSH_BUCKETS
            {
                if let Err(error) = self.flush_rollups() {
                    tracing::error!(%error, "Writing rollups failed; will retry.");
                }
            }
        }
        if let Err(error) = self.flush_rollups() {
            tracing::error!(%error, "Writing rollups at shutdown failed.");
        }
    }

    fn write_group(&mut self, group: &mut Vec<WriteJob>) {
        match self.write_transaction(group) {
            Ok(outcomes) => {
                for (job, mut outcome) in group.drain(..).zip(outcomes) {
                    if !outcome.duplicate {
                        outcome.metrics = job.metrics;
                        outcome.event_records = job.events;
                    }
                    if let Some(reply) = job.reply {
                        let _ = reply.send(Ok(outcome));
                    }
                }
            }
            Err(error) => {
                tracing::error!(%error, batches = group.len(), "Store transaction failed; batches not acknowledged.");
                // Nothing of the transaction is in the file: forget what the
                // caches learned from it.
                self.series.clear();
                self.series_per_host.clear();
                self.last_seq.clear();
                let message = error.to_string();
                for job in group.drain(..) {
                    if let Some(reply) = job.reply {
                        let _ = reply.send(Err(StoreError::Write(message.clone())));
                    }
                }
            }
        }
    }

    fn write_transaction(&mut self, group: &[WriteJob]) -> Result<Vec<WriteOutcome>, StoreError> {
        let tx = self.conn.transaction()?;
        let mut outcomes = Vec::with_capacity(group.len());
        let mut last_id = self.covered_up_to;
        // Sequences stored by this transaction, applied to the cache on commit.
        let mut new_seqs: Vec<((Arc<str>, String), u64)> = Vec::new();
        let mut new_series: Vec<((Arc<str>, String, String), i64)> = Vec::new();
        let mut minute = HashMap::new();
        let mut hour = HashMap::new();
        {
            let mut insert_point =
                tx.prepare_cached("INSERT INTO points (series_id, ts, value) VALUES (?1, ?2, ?3)")?;
            let mut find_series = tx.prepare_cached(
                "SELECT id FROM series WHERE host_id = ?1 AND name = ?2 AND tags = ?3",
            )?;
            let mut count_series =
                tx.prepare_cached("SELECT COUNT(*) FROM series WHERE host_id = ?1")?;
            let mut insert_series = tx.prepare_cached(
                "INSERT INTO series (host_id, name, tags, unit, kind, plugin) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut find_seq = tx.prepare_cached(
                "SELECT last_seq FROM streams WHERE host_id = ?1 AND stream = ?2",
            )?;
            let mut upsert_seq = tx.prepare_cached(
                "INSERT INTO streams (host_id, stream, last_seq) VALUES (?1, ?2, ?3)
                 ON CONFLICT (host_id, stream) DO UPDATE SET last_seq = excluded.last_seq",
            )?;
            let mut insert_event = tx.prepare_cached(
                "INSERT INTO events (host_id, ts, plugin, kind, severity, message, fields)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let mut touch_host =
                tx.prepare_cached("UPDATE hosts SET last_seen_ms = ?2 WHERE id = ?1")?;

            for job in group {
                let stream_key = (job.host_id.clone(), job.stream.clone());
                let stored_seq = match new_seqs.iter().rev().find(|(k, _)| *k == stream_key) {
                    Some((_, seq)) => Some(*seq),
                    None => match self.last_seq.get(&stream_key) {
                        Some(seq) => Some(*seq),
                        None => find_seq
                            .query_row(params![&*job.host_id, &job.stream], |r| {
                                r.get::<_, i64>(0)
                            })
                            .optional()?
                            .map(|s| s as u64),
                    },
                };
                if let Some(seq) = stored_seq {
                    self.last_seq.insert(stream_key.clone(), seq);
                }
                if stored_seq.is_some_and(|stored| job.seq <= stored) {
                    outcomes.push(WriteOutcome {
                        duplicate: true,
                        ..WriteOutcome::default()
                    });
                    continue;
                }
                let mut outcome = WriteOutcome {
                    stored_mask: Vec::with_capacity(job.metrics.len()),
                    ..WriteOutcome::default()
                };
                for metric in &job.metrics {
                    let tags = serde_json::to_string(&metric.tags)
                        .map_err(|e| StoreError::Invalid(e.to_string()))?;
                    let key = (job.host_id.clone(), metric.name.clone(), tags);
                    let cached = self.series.get(&key).copied().or_else(|| {
                        new_series
                            .iter()
                            .rev()
                            .find(|(k, _)| *k == key)
                            .map(|(_, id)| *id)
                    });
                    let series_id = match cached {
                        Some(id) => Some(id),
                        None => match find_series
                            .query_row(params![&*key.0, &key.1, &key.2], |r| r.get::<_, i64>(0))
                            .optional()?
                        {
                            Some(id) => {
                                self.series.insert(key.clone(), id);
                                Some(id)
                            }
                            None => {
                                let count = match self.series_per_host.get(&job.host_id) {
                                    Some(count) => *count,
                                    None => {
                                        let count: i64 = count_series
                                            .query_row([&*job.host_id], |r| r.get(0))?;
                                        self.series_per_host
                                            .insert(job.host_id.clone(), count as usize);
                                        count as usize
                                    }
                                };
                                if count >= job.max_series {
                                    None
                                } else {
                                    insert_series.execute(params![
                                        &*key.0,
                                        &key.1,
                                        &key.2,
                                        &metric.unit,
                                        kind_str(metric.kind),
                                        &metric.plugin
                                    ])?;
                                    let id = tx.last_insert_rowid();
                                    self.series_per_host.insert(job.host_id.clone(), count + 1);
                                    new_series.push((key, id));
                                    Some(id)
                                }
                            }
                        },
                    };
                    let Some(series_id) = series_id else {
                        outcome.series_limited += 1;
                        outcome.stored_mask.push(false);
                        continue;
                    };
                    let ts = metric.timestamp_ms as i64;
                    insert_point.execute(params![series_id, ts, metric.value])?;
                    last_id = tx.last_insert_rowid();
                    accumulate(&mut minute, &mut hour, series_id, ts, metric.value);
                    outcome.points += 1;
                    outcome.stored_mask.push(true);
                }
                for event in &job.events {
                    let fields = serde_json::to_string(&event.fields)
                        .map_err(|e| StoreError::Invalid(e.to_string()))?;
                    insert_event.execute(params![
                        &*job.host_id,
                        event.timestamp_ms as i64,
                        &event.plugin,
                        &event.kind,
                        severity_str(event.severity),
                        &event.message,
                        fields
                    ])?;
                    outcome.events += 1;
                }
                upsert_seq.execute(params![&*job.host_id, &job.stream, job.seq as i64])?;
                touch_host.execute(params![&*job.host_id, job.received_ms])?;
                new_seqs.push((stream_key, job.seq));
                outcomes.push(outcome);
            }
        }
        tx.commit()?;
        for (key, seq) in new_seqs {
            self.last_seq.insert(key, seq);
        }
        for (key, id) in new_series {
            self.series.insert(key, id);
        }
        for (key, agg) in minute {
            merge(&mut self.minute, key, agg);
        }
        for (key, agg) in hour {
            merge(&mut self.hour, key, agg);
        }
        self.covered_up_to = last_id;
        Ok(outcomes)
    }

    /// Write the pending rollups and the watermark in one transaction.
    fn flush_rollups(&mut self) -> Result<(), StoreError> {
        self.last_flush = Instant::now();
        let tx = self.conn.transaction()?;
        for (table, pending) in [("rollup_1m", &self.minute), ("rollup_1h", &self.hour)] {
            let mut upsert = tx.prepare_cached(&format!(
                "INSERT INTO {table} (series_id, bucket, min, max, sum, count) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (series_id, bucket) DO UPDATE SET
                   min = min({table}.min, excluded.min), max = max({table}.max, excluded.max),
                   sum = {table}.sum + excluded.sum, count = {table}.count + excluded.count"
            ))?;
            for ((series, bucket), agg) in pending {
                upsert.execute(params![series, bucket, agg.min, agg.max, agg.sum, agg.count])?;
            }
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('rollup_watermark', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [self.covered_up_to],
        )?;
        tx.commit()?;
        self.minute.clear();
        self.hour.clear();
        Ok(())
    }
}

fn watermark(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'rollup_watermark'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

fn accumulate(
    minute: &mut HashMap<(i64, i64), Agg>,
    hour: &mut HashMap<(i64, i64), Agg>,
    series: i64,
    ts: i64,
    value: f64,
) {
    for (map, width) in [(minute, MINUTE_MS), (hour, HOUR_MS)] {
        map.entry((series, ts - ts.rem_euclid(width)))
            .and_modify(|a| a.add(value))
            .or_insert_with(|| Agg::new(value));
    }
}

fn merge(map: &mut HashMap<(i64, i64), Agg>, key: (i64, i64), agg: Agg) {
    map.entry(key)
        .and_modify(|a| {
            a.min = a.min.min(agg.min);
            a.max = a.max.max(agg.max);
            a.sum += agg.sum;
            a.count += agg.count;
        })
        .or_insert(agg);
}

/// Delete points, rollups and events past their tier's retention, a series
/// at a time so that ingest is never held up for long.
pub fn apply_retention(
    conn: &mut Connection,
    retention: Retention,
    now_ms: i64,
) -> Result<Deleted, StoreError> {
    let day = 86_400_000i64;
    let cut = |days: u64| now_ms - days as i64 * day;
    let series: Vec<i64> = conn
        .prepare("SELECT id FROM series")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut deleted = Deleted::default();
    for chunk in series.chunks(500) {
        let tx = conn.transaction()?;
        {
            let mut points = tx.prepare_cached("DELETE FROM points WHERE series_id = ?1 AND ts < ?2")?;
            let mut minute =
                tx.prepare_cached("DELETE FROM rollup_1m WHERE series_id = ?1 AND bucket < ?2")?;
            let mut hour =
                tx.prepare_cached("DELETE FROM rollup_1h WHERE series_id = ?1 AND bucket < ?2")?;
            for id in chunk {
                deleted.points += points.execute(params![id, cut(retention.raw_days)])? as u64;
                deleted.minute_rollups +=
                    minute.execute(params![id, cut(retention.minute_days)])? as u64;
                deleted.hour_rollups += hour.execute(params![id, cut(retention.hour_days)])? as u64;
            }
        }
        tx.commit()?;
    }
    let oldest_kept = cut(retention.raw_days.max(retention.hour_days));
    deleted.events = conn.execute("DELETE FROM events WHERE ts < ?1", [oldest_kept])? as u64;
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn job(host: &str, seq: u64, points: &[(i64, f64)]) -> WriteJob {
        let mut job = WriteJob::new(Arc::from(host), "s".to_string(), seq, 0);
        job.metrics = points
            .iter()
            .map(|(ts, value)| MetricRecord {
                plugin: "p".to_string(),
                name: "cpu_usage".to_string(),
                value: *value,
                unit: "percent".to_string(),
                kind: MetricKind::Gauge,
                tags: BTreeMap::new(),
                timestamp_ms: *ts as u64,
            })
            .collect();
        job
    }

    fn rollup(conn: &Connection, table: &str) -> Vec<(i64, f64, f64, f64, i64)> {
        conn.prepare(&format!(
            "SELECT bucket, min, max, sum, count FROM {table} ORDER BY bucket"
        ))
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
                .collect()
        })
        .expect("rollup rows")
    }

    #[test]
    fn rollups_survive_a_crash_before_they_are_flushed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let mut writer = Writer::new(super::super::schema::open(&path).expect("open")).expect("writer");
        writer.flush_rollups().expect("flush");
        let mut group = vec![job("h", 1, &[(60_000, 1.0), (60_500, 3.0), (120_000, 10.0)])];
        writer.write_group(&mut group);
        // Flushed once: the first batch's rollups are in the file.
        writer.flush_rollups().expect("flush");
        let mut group = vec![job("h", 2, &[(61_000, 5.0)])];
        writer.write_group(&mut group);
        // "Crash": the second batch's rollups were only in memory.
        drop(writer);

        let mut writer = Writer::new(super::super::schema::open(&path).expect("open")).expect("writer");
        writer.recover().expect("recover");
        let minute = rollup(&writer.conn, "rollup_1m");
        assert_eq!(
            minute,
            vec![(60_000, 1.0, 5.0, 9.0, 3), (120_000, 10.0, 10.0, 10.0, 1)]
        );
        let hour = rollup(&writer.conn, "rollup_1h");
        assert_eq!(hour, vec![(0, 1.0, 10.0, 19.0, 4)]);
        // Recovering again adds nothing twice.
        writer.recover().expect("recover");
        assert_eq!(rollup(&writer.conn, "rollup_1h"), hour);
    }

    #[test]
    fn duplicates_in_one_group_are_stored_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = super::super::schema::open(&dir.path().join("t.db")).expect("open");
        let mut writer = Writer::new(conn).expect("writer");
        let mut group = vec![job("h", 1, &[(1, 1.0)]), job("h", 1, &[(1, 1.0)]), job("h", 2, &[(2, 2.0)])];
        let outcomes = writer.write_transaction(&group).expect("write");
        assert_eq!(
            outcomes.iter().map(|o| o.duplicate).collect::<Vec<_>>(),
            vec![false, true, false]
        );
        group.clear();
        let points: i64 = writer
            .conn
            .query_row("SELECT COUNT(*) FROM points", [], |r| r.get(0))
            .expect("count");
        assert_eq!(points, 2);
    }

    #[test]
    fn retention_deletes_per_tier() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = super::super::schema::open(&dir.path().join("t.db")).expect("open");
        let mut writer = Writer::new(conn).expect("writer");
        let day = 86_400_000i64;
        let now = 100 * day;
        let mut group = vec![job("h", 1, &[(now - 40 * day, 1.0), (now - 10 * day, 2.0), (now, 3.0)])];
        writer.write_group(&mut group);
        writer.flush_rollups().expect("flush");
        let retention = Retention {
            raw_days: 5,
            minute_days: 30,
            hour_days: 365,
        };
        let deleted = apply_retention(&mut writer.conn, retention, now).expect("retention");
        assert_eq!(deleted.points, 2);
        assert_eq!(deleted.minute_rollups, 1);
        assert_eq!(deleted.hour_rollups, 0);
    }
}
