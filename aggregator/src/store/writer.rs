//! The writer thread: batches in, transactions out. See the module above.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use p2pmon_common::wire::{EventRecord, MetricKind, MetricRecord, Severity};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use super::upkeep::{Need, StoreFigures, Upkeep};
use super::{Command, GROUP_MAX_POINTS, StoreError};
use crate::clock::now_ms;
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
    /// Series one plugin of the host may have, so that one plugin cannot
    /// spend the host's whole budget. The agent's own series (plugin
    /// `agent`, names `agent_*`) count against neither: they have their
    /// own [`AGENT_SERIES`] per host.
    pub max_series_per_plugin: usize,
    /// The host's plugins from its hello (instance name -> file SHA-256):
    /// instances of one file share the metric names it owns.
    pub plugin_files: Arc<std::collections::BTreeMap<String, String>>,
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
            max_series_per_plugin: usize::MAX,
            plugin_files: Arc::default(),
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
    /// Points refused because they would have created a series past their
    /// plugin's cap.
    pub plugin_series_limited: u64,
    /// Points refused because another plugin of the host owns their name.
    pub not_owner: u64,
    /// For each metric of the job, its series id, or `None` if it was
    /// refused by the series cap (same order).
    pub series_ids: Vec<Option<i64>>,
    /// The job's records, handed back for the live view and the feed.
    pub metrics: Vec<MetricRecord>,
    pub event_records: Vec<EventRecord>,
}

/// Rows removed by retention.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Deleted {
    /// Points in all, of the head and of chunks.
    pub points: u64,
    /// Of `points`, those that were in chunks.
    pub sealed_points: u64,
    pub minute_rollups: u64,
    pub hour_rollups: u64,
    pub events: u64,
    /// Series idle past `series_idle_days`, removed (their budget freed).
    pub series: u64,
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

/// Hash maps of the hot path: foldhash is several times faster than the
/// default SipHash on short keys and still seeded per process.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What the writer remembers of the store, to spare lookups.
#[derive(Default)]
struct Caches {
    /// host -> series key (see [`series_key`]) -> series id.
    series: FastMap<Arc<str>, FastMap<String, i64>>,
    /// Plugins' series per host (the agent's own not included).
    series_per_host: FastMap<Arc<str>, usize>,
    /// Series per (host, plugin).
    series_per_plugin: FastMap<(Arc<str>, String), usize>,
    /// host -> metric name -> the plugin that owns the name on that host.
    owners: FastMap<Arc<str>, FastMap<String, String>>,
    last_seq: FastMap<(Arc<str>, String), u64>,
}

/// `name US key RS value US key RS value ...` into `out`: a unique key for a
/// series of one host, cheaper to build than its tags' JSON. Names and tag
/// keys are `[a-z0-9_.]` and tag values have no control characters (ingest
/// checks both), so the separators cannot be forged.
fn series_key(out: &mut String, metric: &MetricRecord) {
    out.clear();
    out.push_str(&metric.name);
    for (key, value) in &metric.tags {
        out.push('\x1f');
        out.push_str(key);
        out.push('\x1e');
        out.push_str(value);
    }
}

pub(super) struct Writer {
    conn: Connection,
    caches: Caches,
    minute: FastMap<(i64, i64), Agg>,
    hour: FastMap<(i64, i64), Agg>,
    /// Id of the last raw point folded into `minute` and `hour`.
    covered_up_to: i64,
    last_flush: Instant,
    upkeep: Upkeep,
    figures: Arc<StoreFigures>,
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
    /// A writer on `conn`; with `sealing`, it seals and compacts in the
    /// background ([`Upkeep`]). It keeps `figures` current.
    pub(super) fn new(
        conn: Connection,
        sealing: bool,
        figures: Arc<StoreFigures>,
    ) -> Result<Self, StoreError> {
        let covered_up_to = super::head::watermark(&conn)?;
        figures.load(&conn, now_ms())?;
        Ok(Self {
            conn,
            caches: Caches::default(),
            minute: FastMap::default(),
            hour: FastMap::default(),
            covered_up_to,
            last_flush: Instant::now(),
            upkeep: Upkeep::new(sealing),
            figures,
        })
    }

    /// Fold head points past the rollup watermark into the rollups (after a
    /// crash).
    pub(super) fn recover(&mut self) -> Result<(), StoreError> {
        let mut last = self.covered_up_to;
        let (minute, hour) = (&mut self.minute, &mut self.hour);
        super::head::each_after(&self.conn, self.covered_up_to, |id, (series, ts, value)| {
            accumulate(minute, hour, series, ts, value);
            last = id;
        })?;
        let recovered = self.minute.values().map(|a| a.count).sum::<i64>();
        self.covered_up_to = last;
        if recovered > 0 {
            tracing::info!(points = recovered, "Rolled up points past the watermark.");
        }
        self.flush_rollups()
    }

    pub(super) fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut group: Vec<WriteJob> = Vec::new();
        loop {
            // While a sealing pass is under way, the queue is polled and the
            // pass goes on whenever it is empty.
            let command = if self.upkeep.busy() {
                match commands.try_recv() {
                    Ok(command) => Some(command),
                    Err(mpsc::error::TryRecvError::Empty) => None,
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                }
            } else {
                match commands.blocking_recv() {
                    Some(command) => Some(command),
                    None => break,
                }
            };
            let idle = command.is_none();
            if let Some(command) = command
                && self.handle(command, &mut commands, &mut group).is_break()
            {
                return;
            }
            let due = self.last_flush.elapsed() >= ROLLUP_FLUSH_EVERY
                || self.minute.len() + self.hour.len() >= ROLLUP_FLUSH_BUCKETS;
            if due && let Err(error) = self.flush_rollups() {
                tracing::error!(%error, "Writing rollups failed; will retry.");
            }
            let now = now_ms();
            if let Need::Step = self.upkeep.due(now, idle) {
                // Sealing takes only points the rollups hold in the file.
                match self.flush_rollups() {
                    Ok(()) => self.upkeep.run(&mut self.conn, &self.figures, now),
                    Err(error) => self.upkeep.failed(&error),
                }
            }
        }
        if let Err(error) = self.flush_rollups() {
            tracing::error!(%error, "Writing rollups at shutdown failed.");
        }
    }

    /// One command, and the writes queued behind a write (one group);
    /// `Break` once told to stop.
    fn handle(
        &mut self,
        command: Command,
        commands: &mut mpsc::Receiver<Command>,
        group: &mut Vec<WriteJob>,
    ) -> std::ops::ControlFlow<()> {
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
                    self.write_group(group);
                }
                Command::Exec(f) => f(&mut self.conn),
                Command::Retention(retention, now_ms, reply) => {
                    let deleted = apply_retention(&mut self.conn, retention, now_ms);
                    if let Ok(deleted) = &deleted {
                        if deleted.series > 0 {
                            // Series ids, counts and owners of removed series
                            // are learned again from the table.
                            self.caches = Caches::default();
                        }
                        self.figures
                            .head_points
                            .sub(deleted.points - deleted.sealed_points);
                        if let Err(error) = self.figures.reload_chunks(&self.conn, now_ms) {
                            tracing::warn!(%error, "Reading the chunk figures failed.");
                        }
                    }
                    let _ = reply.send(deleted);
                }
                Command::Flush(reply) => {
                    let _ = reply.send(self.flush_rollups());
                }
                Command::Tick => {}
                Command::Stop(reply) => {
                    let _ = reply.send(self.flush_rollups());
                    return std::ops::ControlFlow::Break(());
                }
            }
        }
        std::ops::ControlFlow::Continue(())
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
                self.caches = Caches::default();
                let message = error.to_string();
                for job in group.drain(..) {
                    if let Some(reply) = job.reply {
                        let _ = reply.send(Err(StoreError::Write(message.clone())));
                    }
                }
            }
        }
    }

    /// Everything in `group` in one transaction. The caches are updated as
    /// it goes; if it fails, the caller clears them.
    fn write_transaction(&mut self, group: &[WriteJob]) -> Result<Vec<WriteOutcome>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut outcomes = Vec::with_capacity(group.len());
        // Every job's points, each job's run sorted by series and time (the
        // order of its head row, and runs the rollups add at once).
        let mut rows: Vec<super::head::Row> = Vec::new();
        let mut last_id = None;
        let mut key = String::with_capacity(256);
        for job in group {
            let stream_key = (job.host_id.clone(), job.stream.clone());
            let stored_seq = match self.caches.last_seq.get(&stream_key) {
                Some(seq) => Some(*seq),
                None => tx
                    .prepare_cached(
                        "SELECT last_seq FROM streams WHERE host_id = ?1 AND stream = ?2",
                    )?
                    .query_row(params![&*job.host_id, &job.stream], |r| r.get::<_, i64>(0))
                    .optional()?
                    .map(|s| s as u64),
            };
            if stored_seq.is_some_and(|stored| job.seq <= stored) {
                outcomes.push(WriteOutcome {
                    duplicate: true,
                    ..WriteOutcome::default()
                });
                continue;
            }
            let mut outcome = WriteOutcome {
                series_ids: Vec::with_capacity(job.metrics.len()),
                ..WriteOutcome::default()
            };
            let first = rows.len();
            for metric in &job.metrics {
                series_key(&mut key, metric);
                let slot = self
                    .caches
                    .series_id(&tx, &job.host_id, &key, metric, job)?;
                outcome.series_ids.push(slot.ok());
                match slot {
                    Ok(id) => {
                        rows.push((id, metric.timestamp_ms as i64, metric.value));
                        outcome.points += 1;
                    }
                    Err(SeriesCap::Host) => outcome.series_limited += 1,
                    Err(SeriesCap::Plugin) => outcome.plugin_series_limited += 1,
                    Err(SeriesCap::Owner) => outcome.not_owner += 1,
                }
            }
            for event in &job.events {
                let fields = serde_json::to_string(&event.fields)
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                tx.prepare_cached(
                    "INSERT INTO events (host_id, ts, plugin, kind, severity, message, fields)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
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
            let job_rows = &mut rows[first..];
            // Stable: points of one series and time keep the order sent.
            job_rows.sort_by_key(|&(series, ts, _)| (series, ts));
            last_id = super::head::insert(&tx, &job.host_id, job_rows)?.or(last_id);
            tx.prepare_cached(
                "INSERT INTO streams (host_id, stream, last_seq) VALUES (?1, ?2, ?3)
                 ON CONFLICT (host_id, stream) DO UPDATE SET last_seq = excluded.last_seq",
            )?
            .execute(params![&*job.host_id, &job.stream, job.seq as i64])?;
            tx.prepare_cached("UPDATE hosts SET last_seen_ms = ?2 WHERE id = ?1")?
                .execute(params![&*job.host_id, job.received_ms])?;
            self.caches.last_seq.insert(stream_key, job.seq);
            outcomes.push(outcome);
        }
        tx.commit()?;
        self.figures.head_points.add(rows.len() as u64);
        for &(_, ts, _) in &rows {
            self.upkeep.wrote(ts);
        }
        accumulate_sorted(&mut self.minute, &mut self.hour, &rows);
        if let Some(last_id) = last_id {
            self.covered_up_to = last_id;
        }
        Ok(outcomes)
    }

    /// Write the pending rollups and the watermark in one transaction.
    fn flush_rollups(&mut self) -> Result<(), StoreError> {
        self.last_flush = Instant::now();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for (table, pending) in [("rollup_1m", &self.minute), ("rollup_1h", &self.hour)] {
            let mut upsert = tx.prepare_cached(&format!(
                "INSERT INTO {table} (series_id, bucket, min, max, sum, count) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (series_id, bucket) DO UPDATE SET
                   min = min({table}.min, excluded.min), max = max({table}.max, excluded.max),
                   sum = {table}.sum + excluded.sum, count = {table}.count + excluded.count"
            ))?;
            for ((series, bucket), agg) in pending {
                upsert.execute(params![
                    series, bucket, agg.min, agg.max, agg.sum, agg.count
                ])?;
            }
        }
        super::head::set_watermark(&tx, self.covered_up_to)?;
        tx.commit()?;
        self.minute.clear();
        self.hour.clear();
        Ok(())
    }
}

/// Series of the agent's own (`agent_*` from plugin `agent`) a host may
/// have: a few per plugin, outside the plugins' budget so that a plugin
/// spending it cannot hide the agent's health.
pub const AGENT_SERIES: usize = 4096;

/// Which cap refused a new series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SeriesCap {
    Host,
    Plugin,
    /// Another plugin of the host owns the metric's name.
    Owner,
}

fn is_agent_series(metric: &MetricRecord) -> bool {
    metric.plugin == "agent" && metric.name.starts_with("agent_")
}

impl Caches {
    /// The id of `host`'s series `key` (from [`series_key`]), creating it
    /// unless the host or the metric's plugin is at its cap.
    fn series_id(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        host: &Arc<str>,
        key: &str,
        metric: &MetricRecord,
        job: &WriteJob,
    ) -> Result<Result<i64, SeriesCap>, StoreError> {
        if !self.may_carry(tx, host, metric, job)? {
            return Ok(Err(SeriesCap::Owner));
        }
        if let Some(id) = self.series.get(host).and_then(|m| m.get(key)) {
            return Ok(Ok(*id));
        }
        let tags =
            serde_json::to_string(&metric.tags).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let found = tx
            .prepare_cached("SELECT id FROM series WHERE host_id = ?1 AND name = ?2 AND tags = ?3")?
            .query_row(params![&**host, &metric.name, &tags], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => match self.create_series(tx, host, metric, &tags, job)? {
                Ok(id) => id,
                Err(cap) => return Ok(Err(cap)),
            },
        };
        self.series
            .entry(host.clone())
            .or_default()
            .insert(key.to_string(), id);
        Ok(Ok(id))
    }

    /// Whether `metric`'s plugin may carry its name on `host`. A metric name
    /// belongs to the plugin whose series first carried it on this host (and
    /// to other instances of the same file): another plugin's points of that
    /// name, in another series or the same one, would feed its alerts and
    /// actions.
    fn may_carry(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        host: &Arc<str>,
        metric: &MetricRecord,
        job: &WriteJob,
    ) -> Result<bool, StoreError> {
        let same_file = |owner: &str| {
            owner == metric.plugin
                || job
                    .plugin_files
                    .get(owner)
                    .is_some_and(|file| job.plugin_files.get(&metric.plugin) == Some(file))
        };
        if let Some(owner) = self.owners.get(host).and_then(|m| m.get(&metric.name)) {
            return Ok(same_file(owner));
        }
        let found: Option<String> = tx
            .prepare_cached("SELECT plugin FROM series WHERE host_id = ?1 AND name = ?2 LIMIT 1")?
            .query_row(params![&**host, &metric.name], |r| r.get(0))
            .optional()?;
        let mine = found.as_deref().is_none_or(same_file);
        if let Some(owner) = found {
            self.owners
                .entry(host.clone())
                .or_default()
                .insert(metric.name.clone(), owner);
        }
        Ok(mine)
    }

    /// A new series, unless its host (agent series aside) or its plugin is
    /// at its cap; the counts are read once per host and plugin, then kept.
    fn create_series(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        host: &Arc<str>,
        metric: &MetricRecord,
        tags: &str,
        job: &WriteJob,
    ) -> Result<Result<i64, SeriesCap>, StoreError> {
        let agent = is_agent_series(metric);
        let count = match self.series_per_host.get(host) {
            Some(count) => *count,
            None => {
                let count: i64 = tx
                    .prepare_cached(
                        "SELECT COUNT(*) FROM series WHERE host_id = ?1
                           AND NOT (plugin = 'agent' AND name LIKE 'agent\\_%' ESCAPE '\\')",
                    )?
                    .query_row([&**host], |r| r.get(0))?;
                count as usize
            }
        };
        self.series_per_host.insert(host.clone(), count);
        let plugin_key = (host.clone(), metric.plugin.clone());
        let of_plugin = match self.series_per_plugin.get(&plugin_key) {
            Some(count) => *count,
            None => {
                let count: i64 = tx
                    .prepare_cached(
                        "SELECT COUNT(*) FROM series WHERE host_id = ?1 AND plugin = ?2",
                    )?
                    .query_row(params![&**host, &metric.plugin], |r| r.get(0))?;
                count as usize
            }
        };
        self.series_per_plugin.insert(plugin_key.clone(), of_plugin);
        if agent {
            if of_plugin >= AGENT_SERIES {
                return Ok(Err(SeriesCap::Plugin));
            }
        } else if count >= job.max_series {
            return Ok(Err(SeriesCap::Host));
        } else if of_plugin >= job.max_series_per_plugin {
            return Ok(Err(SeriesCap::Plugin));
        }
        tx.prepare_cached(
            "INSERT INTO series (host_id, name, tags, unit, kind, plugin) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            &**host,
            &metric.name,
            tags,
            &metric.unit,
            kind_str(metric.kind),
            &metric.plugin
        ])?;
        if !agent {
            self.series_per_host.insert(host.clone(), count + 1);
        }
        self.series_per_plugin.insert(plugin_key, of_plugin + 1);
        self.owners
            .entry(host.clone())
            .or_default()
            .entry(metric.name.clone())
            .or_insert_with(|| metric.plugin.clone());
        Ok(Ok(tx.last_insert_rowid()))
    }
}

fn accumulate(
    minute: &mut FastMap<(i64, i64), Agg>,
    hour: &mut FastMap<(i64, i64), Agg>,
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

/// Add `rows` (sorted by series and time) to the rollups: a run of rows of
/// one series and bucket is looked up once, its values added in order (the
/// same sums, bit for bit, as [`accumulate`] row by row).
fn accumulate_sorted(
    minute: &mut FastMap<(i64, i64), Agg>,
    hour: &mut FastMap<(i64, i64), Agg>,
    rows: &[(i64, i64, f64)],
) {
    for (map, width) in [(minute, MINUTE_MS), (hour, HOUR_MS)] {
        let bucket = |ts: i64| ts - ts.rem_euclid(width);
        for run in rows.chunk_by(|a, b| a.0 == b.0 && bucket(a.1) == bucket(b.1)) {
            let (series, ts, first) = run[0];
            let values = run.iter().map(|r| r.2);
            match map.entry((series, bucket(ts))) {
                std::collections::hash_map::Entry::Occupied(entry) => {
                    let agg = entry.into_mut();
                    values.for_each(|v| agg.add(v));
                }
                std::collections::hash_map::Entry::Vacant(entry) => {
                    let agg = entry.insert(Agg::new(first));
                    values.skip(1).for_each(|v| agg.add(v));
                }
            }
        }
    }
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
    // Head points past raw_days (when sealing is behind or off): the rows
    // that hold one, rewritten.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let raw_cut = cut(retention.raw_days);
    deleted.points += super::head::take(&tx, None, raw_cut, i64::MAX, u64::MAX, |r| r.1 < raw_cut)?
        .points
        .len() as u64;
    tx.commit()?;
    for chunk in series.chunks(500) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut minute =
                tx.prepare_cached("DELETE FROM rollup_1m WHERE series_id = ?1 AND bucket < ?2")?;
            let mut hour =
                tx.prepare_cached("DELETE FROM rollup_1h WHERE series_id = ?1 AND bucket < ?2")?;
            // Sealed points go a whole chunk at a time, once its last point
            // is past the cut.
            let mut sealed = tx.prepare_cached(
                "SELECT COALESCE(SUM(count), 0) FROM chunks WHERE series_id = ?1 AND end_ts < ?2",
            )?;
            let mut chunks =
                tx.prepare_cached("DELETE FROM chunks WHERE series_id = ?1 AND end_ts < ?2")?;
            let mut folded = tx.prepare_cached(
                "SELECT COALESCE(SUM(count), 0) FROM rollup_chunks WHERE series_id = ?1 AND end_ts < ?2",
            )?;
            let mut minute_chunks = tx
                .prepare_cached("DELETE FROM rollup_chunks WHERE series_id = ?1 AND end_ts < ?2")?;
            let mut hours_folded = tx.prepare_cached(
                "SELECT COALESCE(SUM(count), 0) FROM rollup_1h_chunks WHERE series_id = ?1 AND end_ts < ?2",
            )?;
            let mut hour_chunks = tx.prepare_cached(
                "DELETE FROM rollup_1h_chunks WHERE series_id = ?1 AND end_ts < ?2",
            )?;
            for id in chunk {
                let count: i64 =
                    sealed.query_row(params![id, cut(retention.raw_days)], |r| r.get(0))?;
                chunks.execute(params![id, cut(retention.raw_days)])?;
                deleted.points += count as u64;
                deleted.sealed_points += count as u64;
                deleted.minute_rollups +=
                    minute.execute(params![id, cut(retention.minute_days)])? as u64;
                let count: i64 =
                    folded.query_row(params![id, cut(retention.minute_days)], |r| r.get(0))?;
                minute_chunks.execute(params![id, cut(retention.minute_days)])?;
                deleted.minute_rollups += count as u64;
                deleted.hour_rollups += hour.execute(params![id, cut(retention.hour_days)])? as u64;
                let count: i64 =
                    hours_folded.query_row(params![id, cut(retention.hour_days)], |r| r.get(0))?;
                hour_chunks.execute(params![id, cut(retention.hour_days)])?;
                deleted.hour_rollups += count as u64;
            }
        }
        tx.commit()?;
    }
    let oldest_kept = cut(retention.raw_days.max(retention.hour_days));
    deleted.events = conn.execute("DELETE FROM events WHERE ts < ?1", [oldest_kept])? as u64;
    let idle_cut = cut(retention.series_idle_days);
    let in_head = super::head::series_since(conn, idle_cut)?;
    let idle: Vec<i64> = conn
        .prepare(
            "SELECT id FROM series s
              WHERE NOT EXISTS (SELECT 1 FROM chunks WHERE series_id = s.id AND end_ts >= ?1)
                AND NOT EXISTS (SELECT 1 FROM rollup_1m WHERE series_id = s.id AND bucket >= ?1)
                AND NOT EXISTS (SELECT 1 FROM rollup_chunks WHERE series_id = s.id AND end_ts >= ?1)
                AND NOT EXISTS (SELECT 1 FROM rollup_1h WHERE series_id = s.id AND bucket >= ?1)
                AND NOT EXISTS (SELECT 1 FROM rollup_1h_chunks WHERE series_id = s.id AND end_ts >= ?1)",
        )?
        .query_map([idle_cut], |r| r.get(0))?
        .filter(|id| !matches!(id, Ok(id) if in_head.contains(id)))
        .collect::<Result<_, _>>()?;
    for chunk in idle.chunks(500) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            // What idle series still hold (older points, when raw_days is
            // longer than series_idle_days) goes with them: their head
            // points are all before the idle cut.
            let gone: std::collections::HashSet<i64> = chunk.iter().copied().collect();
            deleted.points += super::head::take(&tx, None, idle_cut, i64::MAX, u64::MAX, |r| {
                gone.contains(&r.0)
            })?
            .points
            .len() as u64;
            let mut sealed = tx.prepare_cached(
                "SELECT COALESCE(SUM(count), 0) FROM chunks WHERE series_id = ?1",
            )?;
            for id in chunk {
                let count: i64 = sealed.query_row([id], |r| r.get(0))?;
                deleted.points += count as u64;
                deleted.sealed_points += count as u64;
            }
        }
        for table in [
            "chunks",
            "rollup_chunks",
            "rollup_1m",
            "rollup_1h",
            "rollup_1h_chunks",
        ] {
            let mut delete =
                tx.prepare_cached(&format!("DELETE FROM {table} WHERE series_id = ?1"))?;
            for id in chunk {
                delete.execute([id])?;
            }
        }
        let mut series = tx.prepare_cached("DELETE FROM series WHERE id = ?1")?;
        for id in chunk {
            deleted.series += series.execute([id])? as u64;
        }
        drop(series);
        tx.commit()?;
    }
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
            s.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect()
        })
        .expect("rollup rows")
    }

    #[test]
    fn rollups_survive_a_crash_before_they_are_flushed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let mut writer = Writer::new(
            super::super::schema::open(&path).expect("open"),
            false,
            Arc::default(),
        )
        .expect("writer");
        writer.flush_rollups().expect("flush");
        let mut group = vec![job(
            "h",
            1,
            &[(60_000, 1.0), (60_500, 3.0), (120_000, 10.0)],
        )];
        writer.write_group(&mut group);
        // Flushed once: the first batch's rollups are in the file.
        writer.flush_rollups().expect("flush");
        let mut group = vec![job("h", 2, &[(61_000, 5.0)])];
        writer.write_group(&mut group);
        // "Crash": the second batch's rollups were only in memory.
        drop(writer);

        let mut writer = Writer::new(
            super::super::schema::open(&path).expect("open"),
            false,
            Arc::default(),
        )
        .expect("writer");
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

    /// Runs of one series and bucket added at once give the sums row by
    /// row gives, bit for bit, whatever the runs and buckets.
    #[test]
    fn rollups_of_sorted_runs_equal_rollups_row_by_row() {
        let mut rows: Vec<(i64, i64, f64)> = (0..5_000i64)
            .map(|i| {
                let series = i % 7;
                let ts = (i * 7_919) % 7_200_000 - 3_600_000;
                (series, ts, (i as f64).sin() * 1e3 + 0.1)
            })
            .collect();
        rows.sort_unstable_by_key(|&(s, t, _)| (s, t));
        let (mut minute, mut hour) = (FastMap::default(), FastMap::default());
        accumulate_sorted(&mut minute, &mut hour, &rows[..2_000]);
        accumulate_sorted(&mut minute, &mut hour, &rows[2_000..]);
        let (mut one_minute, mut one_hour) = (FastMap::default(), FastMap::default());
        for &(series, ts, value) in &rows {
            accumulate(&mut one_minute, &mut one_hour, series, ts, value);
        }
        let bits = |map: &FastMap<(i64, i64), Agg>| {
            let mut out: Vec<_> = map
                .iter()
                .map(|(k, a)| {
                    (
                        *k,
                        a.min.to_bits(),
                        a.max.to_bits(),
                        a.sum.to_bits(),
                        a.count,
                    )
                })
                .collect();
            out.sort_unstable();
            out
        };
        assert_eq!(bits(&minute), bits(&one_minute));
        assert_eq!(bits(&hour), bits(&one_hour));
        assert!(
            minute.len() > 7 * 60 && hour.len() == 7 * 2,
            "{} {}",
            minute.len(),
            hour.len()
        );
    }

    #[test]
    fn duplicates_in_one_group_are_stored_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = super::super::schema::open(&dir.path().join("t.db")).expect("open");
        let mut writer = Writer::new(conn, false, Arc::default()).expect("writer");
        let mut group = vec![
            job("h", 1, &[(1, 1.0)]),
            job("h", 1, &[(1, 1.0)]),
            job("h", 2, &[(2, 2.0)]),
        ];
        let outcomes = writer.write_transaction(&group).expect("write");
        assert_eq!(
            outcomes.iter().map(|o| o.duplicate).collect::<Vec<_>>(),
            vec![false, true, false]
        );
        group.clear();
        assert_eq!(super::super::head::count(&writer.conn).expect("count"), 2);
    }

    #[test]
    fn retention_deletes_per_tier() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = super::super::schema::open(&dir.path().join("t.db")).expect("open");
        let mut writer = Writer::new(conn, false, Arc::default()).expect("writer");
        let day = 86_400_000i64;
        let now = 100 * day;
        let mut group = vec![job(
            "h",
            1,
            &[(now - 40 * day, 1.0), (now - 10 * day, 2.0), (now, 3.0)],
        )];
        writer.write_group(&mut group);
        writer.flush_rollups().expect("flush");
        let retention = Retention {
            raw_days: 5,
            minute_days: 30,
            hour_days: 365,
            series_idle_days: 365,
        };
        let deleted = apply_retention(&mut writer.conn, retention, now).expect("retention");
        assert_eq!(deleted.points, 2);
        assert_eq!(deleted.minute_rollups, 1);
        assert_eq!(deleted.hour_rollups, 0);
        assert_eq!(deleted.series, 0, "the series still has rows");
    }

    /// Retention drops sealed points a whole chunk at a time, and a series
    /// whose recent points are all sealed is not idle.
    #[test]
    fn retention_drops_whole_chunks() {
        use super::super::chunks::{point_count, raw_points, seal};
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = super::super::schema::open(&dir.path().join("t.db")).expect("open");
        let mut writer = Writer::new(conn, false, Arc::default()).expect("writer");
        let day = 86_400_000i64;
        let now = 100 * day;
        let mut group = vec![job(
            "h",
            1,
            &[
                (now - 40 * day, 1.0),
                (now - 40 * day + 5_000, 1.5),
                (now - 10 * day, 2.0),
                (now - 2 * day, 3.0),
                (now, 4.0),
            ],
        )];
        writer.write_group(&mut group);
        writer.flush_rollups().expect("flush");
        let conn = &mut writer.conn;
        let sealed = seal(conn, now - day, "", u64::MAX).expect("seal");
        assert_eq!((sealed.points, sealed.chunks), (4, 3));
        let retention = Retention {
            raw_days: 5,
            minute_days: 30,
            hour_days: 365,
            series_idle_days: 1,
        };
        let deleted = apply_retention(conn, retention, now).expect("retention");
        assert_eq!(
            (deleted.points, deleted.sealed_points),
            (3, 3),
            "{deleted:?}"
        );
        assert_eq!(deleted.series, 0, "the series has a point of today");
        let series: i64 = conn
            .query_row("SELECT id FROM series", [], |r| r.get(0))
            .expect("id");
        assert_eq!(
            raw_points(conn, series, 0, i64::MAX).expect("read"),
            [(now - 2 * day, 3.0), (now, 4.0)]
        );
        assert_eq!(point_count(conn).expect("count"), 2);
        // With its head point and rollups gone, the series still has the
        // sealed point of two days ago: idle only once that is past
        // series_idle_days too.
        conn.execute_batch(
            "DELETE FROM head_batches; DELETE FROM rollup_1m; DELETE FROM rollup_1h;",
        )
        .expect("empty head and rollups");
        let longer = Retention {
            series_idle_days: 3,
            ..retention
        };
        let deleted = apply_retention(conn, longer, now).expect("retention");
        assert_eq!(deleted.series, 0, "{deleted:?}");
        let deleted = apply_retention(conn, retention, now).expect("retention");
        // The idle series' last sealed point goes with it, and is counted.
        assert_eq!(
            (deleted.series, deleted.points, deleted.sealed_points),
            (1, 1, 1),
            "{deleted:?}"
        );
        assert_eq!(
            point_count(conn).expect("count"),
            0,
            "its chunks went with it"
        );
    }

    /// Hour rollups folded into their 10-day chunks go a whole chunk at a
    /// time once its last bucket is past `hour_days`, counted by bucket.
    #[test]
    fn retention_drops_whole_hour_chunks() {
        use super::super::rollups::{HOUR, buckets, fold_before};
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = super::super::schema::open(&dir.path().join("t.db")).expect("open");
        let mut writer = Writer::new(conn, false, Arc::default()).expect("writer");
        let (day, hour) = (86_400_000i64, 3_600_000i64);
        let now = 100 * day;
        let mut group = vec![job(
            "h",
            1,
            &[
                (now - 40 * day, 1.0),
                (now - 40 * day + hour, 2.0),
                (now - 2 * day, 3.0),
                (now, 4.0),
            ],
        )];
        writer.write_group(&mut group);
        writer.flush_rollups().expect("flush");
        let conn = &mut writer.conn;
        let series: i64 = conn
            .query_row("SELECT id FROM series", [], |r| r.get(0))
            .expect("id");
        let tx = conn.transaction().expect("tx");
        assert_eq!(fold_before(&tx, HOUR, series, now).expect("fold"), 3);
        tx.commit().expect("commit");
        let (rows, chunks): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM rollup_1h), (SELECT COUNT(*) FROM rollup_1h_chunks)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("counts");
        assert_eq!((rows, chunks), (1, 2), "today's row; two 10-day spans");
        let retention = Retention {
            raw_days: 365,
            minute_days: 365,
            hour_days: 30,
            series_idle_days: 365,
        };
        let deleted = apply_retention(conn, retention, now).expect("retention");
        assert_eq!(deleted.hour_rollups, 2, "{deleted:?}");
        let left: Vec<i64> = buckets(conn, HOUR, true, series, 0, i64::MAX)
            .expect("read")
            .into_iter()
            .map(|b| b.0)
            .collect();
        assert_eq!(left, [now - 2 * day, now]);
    }

    /// A plugin that filled the host's budget with series it then stopped
    /// writing gets the budget back once they are idle past
    /// `series_idle_days`; live series and their rows stay.
    #[test]
    fn idle_series_are_removed_and_their_budget_freed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = super::super::schema::open(&dir.path().join("t.db")).expect("open");
        let mut writer = Writer::new(conn, false, Arc::default()).expect("writer");
        let day = 86_400_000i64;
        let now = 100 * day;
        let capped = |seq: u64, name: &str, ts: i64| {
            let mut j = job("h", seq, &[(ts, 1.0)]);
            j.metrics[0].name = name.to_string();
            j.max_series = 2;
            j
        };
        let group = vec![
            capped(1, "junk", now - 40 * day),
            capped(2, "live", now - day),
            capped(3, "late", now),
        ];
        let outcomes = writer.write_transaction(&group).expect("written");
        let limited: Vec<u64> = outcomes.iter().map(|o| o.series_limited).collect();
        assert_eq!(limited, [0, 0, 1], "the third series is over the cap");
        writer.flush_rollups().expect("flush");
        let retention = Retention {
            raw_days: 30,
            minute_days: 30,
            hour_days: 30,
            series_idle_days: 30,
        };
        let deleted = apply_retention(&mut writer.conn, retention, now).expect("retention");
        assert_eq!(deleted.series, 1, "{deleted:?}");
        writer.caches = Caches::default();
        let outcomes = writer
            .write_transaction(&[capped(4, "late", now)])
            .expect("written");
        assert_eq!(
            (outcomes[0].points, outcomes[0].series_limited),
            (1, 0),
            "budget freed"
        );
        let names: Vec<String> = writer
            .conn
            .prepare("SELECT name FROM series ORDER BY name")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("names");
        assert_eq!(names, ["late", "live"]);
    }
}
