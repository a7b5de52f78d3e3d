//! An external time-series store beside the embedded one (aggregator.yml
//! `influxdb:`): every stored point is also written to an InfluxDB v2 write
//! API (`POST /api/v2/write`, line protocol, `precision=ms`; VictoriaMetrics
//! takes the same). The embedded store stays the source of the API and the
//! pages, so the dashboard keeps working while the external store is away.
//!
//! Lines wait in a bounded buffer (`buffer_lines`; past it the oldest are
//! dropped and counted) and go out in batches of `batch_lines`, gzipped,
//! `parallel` at a time, every `flush_ms` or as soon as a batch is full. A batch that fails (no
//! answer, 5xx, 429) is kept and retried with a doubling wait up to a minute;
//! one refused with another 4xx would never succeed, so it is dropped and
//! counted as rejected.
//!
//! Lines still waiting when the aggregator stops are written to
//! `influxdb-pending.lp` in the data directory and queued again at the next
//! start, so a restart during an outage loses nothing.
//!
//! A point becomes `<metric>,host=<host>,<tags> value=<v> <ms>`. History reads
//! go to InfluxDB in Flux when `read_history` is on (see [`flux`]); the
//! embedded store answers whenever InfluxDB cannot.

pub mod flux;

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use p2pmon_common::telemetry::HealthKey;
use p2pmon_common::wire::MetricRecord;
use tokio::sync::{Notify, watch};

pub use crate::config::InfluxConfig;

/// Append `text` with a backslash before each of `special` (and before
/// backslashes); most names have none and are copied whole.
fn escaped(text: &str, special: &[u8], out: &mut String) {
    let needs = |b: u8| b == b'\\' || special.contains(&b);
    if !text.bytes().any(needs) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        if c.is_ascii() && needs(c as u8) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Escape a measurement name (commas, spaces).
fn measurement(name: &str, out: &mut String) {
    escaped(name, b", ", out);
}

/// Escape a tag key or value (commas, equals signs, spaces).
fn tag(text: &str, out: &mut String) {
    escaped(text, b",= ", out);
}

/// Append `metric` of `host` as one line of line protocol.
pub fn line(host: &str, metric: &MetricRecord, out: &mut String) {
    measurement(&metric.name, out);
    out.push_str(",host=");
    tag(host, out);
    for (key, value) in &metric.tags {
        if key == "host" || value.is_empty() {
            continue;
        }
        out.push(',');
        tag(key, out);
        out.push('=');
        tag(value, out);
    }
    // Ingest refuses non-finite values; a float field is never NaN here.
    let value = if metric.value.is_finite() {
        metric.value
    } else {
        0.0
    };
    out.push_str(" value=");
    out.push_str(ryu::Buffer::new().format_finite(value));
    out.push(' ');
    out.push_str(itoa::Buffer::new().format(metric.timestamp_ms));
    out.push('\n');
}

p2pmon_common::figures! {
    /// What the forwarder did, for `/metrics` and the health answer.
    pub struct TsdbStats in "influxdb" {
        sent_lines: Counter, "sent_lines", "count", HealthKey::Name,
            "Lines InfluxDB accepted.";
        dropped_lines: Counter, "dropped_lines", "count", HealthKey::Name,
            "Lines dropped from a full buffer.";
        rejected_lines: Counter, "rejected_lines", "count", HealthKey::Name,
            "Lines in batches InfluxDB refused for good.";
        failures: Counter, "failures", "count", HealthKey::Name,
            "Writes that failed and were retried.";
        buffered_lines: Gauge, "buffered_lines", "count", HealthKey::Name,
            "Lines waiting for InfluxDB.";
    }
}

/// Whole lines of line protocol, newline-terminated: one ingest batch's
/// points as one allocation, or one write request's body.
#[derive(Debug, Default)]
struct Lines {
    text: String,
    count: usize,
}

impl Lines {
    /// The byte offset just past the `n`th line (`n` < `count`).
    fn end_of(&self, n: usize) -> usize {
        self.text
            .bytes()
            .enumerate()
            .filter(|(_, b)| *b == b'\n')
            .nth(n - 1)
            .map_or(self.text.len(), |(i, _)| i + 1)
    }

    /// Split off the first `n` lines (`0 < n < count`).
    fn split_front(&mut self, n: usize) -> Lines {
        let rest = self.text.split_off(self.end_of(n));
        let front = std::mem::replace(&mut self.text, rest);
        self.count -= n;
        Lines {
            text: front,
            count: n,
        }
    }
}

/// Lines waiting, oldest first.
#[derive(Debug, Default)]
struct Queue {
    chunks: VecDeque<Lines>,
    lines: usize,
}

impl Queue {
    /// Drop the oldest lines past `capacity`; how many went.
    fn trim(&mut self, capacity: usize) -> usize {
        let mut over = self.lines.saturating_sub(capacity);
        let dropped = over;
        while over > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            if front.count <= over {
                over -= front.count;
                self.chunks.pop_front();
            } else {
                front.split_front(over);
                over = 0;
            }
        }
        self.lines -= dropped;
        dropped
    }
}

/// The bounded buffer between ingest and the writer task.
pub struct Tsdb {
    buffer: Mutex<Queue>,
    capacity: usize,
    batch_lines: usize,
    wake: Notify,
    pub stats: TsdbStats,
    /// History reads in Flux, when `read_history` is on.
    pub reader: Option<flux::FluxReader>,
}

impl Tsdb {
    fn new(capacity: usize, batch_lines: usize, reader: Option<flux::FluxReader>) -> Self {
        Self {
            buffer: Mutex::new(Queue::default()),
            capacity,
            batch_lines,
            wake: Notify::new(),
            stats: TsdbStats::default(),
            reader,
        }
    }

    /// Queue the lines of `metrics` from `host`; past the capacity the
    /// oldest lines go, counted.
    pub fn offer<'a>(&self, host: &str, metrics: impl IntoIterator<Item = &'a MetricRecord>) {
        let mut chunk = Lines::default();
        for metric in metrics {
            line(host, metric, &mut chunk.text);
            chunk.count += 1;
        }
        if chunk.count == 0 {
            return;
        }
        let Ok(mut queue) = self.buffer.lock() else {
            return;
        };
        queue.lines += chunk.count;
        queue.chunks.push_back(chunk);
        self.settle(&mut queue);
        if queue.lines >= self.batch_lines {
            self.wake.notify_one();
        }
    }

    /// Count what `trim` drops and what waits.
    fn settle(&self, queue: &mut Queue) {
        let dropped = queue.trim(self.capacity);
        if dropped > 0 {
            self.stats.dropped_lines.add(dropped as u64);
        }
        self.stats.buffered_lines.set(queue.lines as u64);
    }

    /// The next request's body: up to `batch_lines` of the oldest lines.
    fn take(&self) -> Lines {
        let Ok(mut queue) = self.buffer.lock() else {
            return Lines::default();
        };
        let mut batch = Lines::default();
        while batch.count < self.batch_lines {
            let Some(mut chunk) = queue.chunks.pop_front() else {
                break;
            };
            let room = self.batch_lines - batch.count;
            if chunk.count > room {
                let front = chunk.split_front(room);
                queue.chunks.push_front(chunk);
                chunk = front;
            }
            if batch.count == 0 {
                batch = chunk;
            } else {
                batch.text.push_str(&chunk.text);
                batch.count += chunk.count;
            }
        }
        queue.lines -= batch.count;
        self.stats.buffered_lines.set(queue.lines as u64);
        batch
    }

    /// Put a failed batch back in front; past the capacity the newest lines
    /// are dropped, counted, so that the order stays.
    fn put_back(&self, batch: Lines) {
        let Ok(mut queue) = self.buffer.lock() else {
            return;
        };
        let mut batch = batch;
        let room = self.capacity.saturating_sub(queue.lines);
        let mut dropped = 0;
        if batch.count > room {
            dropped = batch.count - room;
            batch = if room == 0 {
                Lines::default()
            } else {
                batch.split_front(room)
            };
        }
        if batch.count > 0 {
            queue.lines += batch.count;
            queue.chunks.push_front(batch);
        }
        if dropped > 0 {
            self.stats.dropped_lines.add(dropped as u64);
        }
        self.settle(&mut queue);
    }

    /// Queue the lines the last run kept in `path` (then remove it).
    fn reload(&self, path: &Path) -> std::io::Result<usize> {
        let mut text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        let count = text.lines().count();
        self.put_back(Lines { text, count });
        std::fs::remove_file(path)?;
        Ok(count)
    }

    /// Write what is still waiting to `path` (whole, or not at all).
    fn keep(&self, path: &Path) -> std::io::Result<usize> {
        let waiting = match self.buffer.lock() {
            Ok(mut queue) => std::mem::take(&mut *queue),
            Err(_) => return Ok(0),
        };
        if waiting.lines == 0 {
            return Ok(0);
        }
        let mut text = String::with_capacity(waiting.chunks.iter().map(|c| c.text.len()).sum());
        for chunk in &waiting.chunks {
            text.push_str(&chunk.text);
        }
        p2pmon_common::files::write_atomically(path, text.as_bytes())?;
        Ok(waiting.lines)
    }
}

/// Why forwarding to InfluxDB cannot start.
#[derive(Debug, thiserror::Error)]
pub enum TsdbError {
    #[error("influxdb: cannot build the HTTP client: {0}")]
    Client(reqwest::Error),
    #[error("influxdb: cannot read the lines kept by the last run ({}): {error}", path.display())]
    Pending {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// Start forwarding to `config.url`: the buffer ingest offers to (with the
/// lines a last run kept in `pending`), and the writer task. On `shutdown`
/// it flushes once more and keeps what is still waiting in `pending`.
pub fn start(
    config: &InfluxConfig,
    token: String,
    pending: PathBuf,
    shutdown: watch::Receiver<bool>,
) -> Result<(Arc<Tsdb>, tokio::task::JoinHandle<()>), TsdbError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(config.timeout_ms))
        .build()
        .map_err(|e| TsdbError::Client(e.without_url()))?;
    let reader = config
        .read_history
        .then(|| flux::FluxReader::new(config, token.clone(), client.clone()));
    let tsdb = Arc::new(Tsdb::new(config.buffer_lines, config.batch_lines, reader));
    match tsdb.reload(&pending) {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            lines = n,
            "InfluxDB: lines kept by the last run queued again."
        ),
        Err(error) => {
            return Err(TsdbError::Pending {
                path: pending,
                error,
            });
        }
    }
    let target = Arc::new(Target {
        client,
        url: write_url(config),
        token,
        gzip: config.gzip,
    });
    let writer = Writer {
        tsdb: tsdb.clone(),
        target,
        parallel: config.parallel,
        every: Duration::from_millis(config.flush_ms),
        pending,
    };
    let task = tokio::spawn(writer.run(shutdown));
    Ok((tsdb, task))
}

/// The write API's URL for `config`'s organisation and bucket.
fn write_url(config: &InfluxConfig) -> String {
    format!(
        "{}/api/v2/write?org={}&bucket={}&precision=ms",
        config.url.trim_end_matches('/'),
        url::form_urlencoded::byte_serialize(config.org.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(config.bucket.as_bytes()).collect::<String>(),
    )
}

/// The writer task: flushes every `every` (or when a batch is full), backs
/// off while InfluxDB fails, keeps what is left in `pending` at shutdown.
struct Writer {
    tsdb: Arc<Tsdb>,
    target: Arc<Target>,
    parallel: usize,
    every: Duration,
    pending: PathBuf,
}

impl Writer {
    async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::ZERO;
        loop {
            let wait = if backoff.is_zero() {
                self.every
            } else {
                backoff
            };
            let stop = tokio::select! {
                _ = tokio::time::sleep(wait) => false,
                _ = self.tsdb.wake.notified(), if backoff.is_zero() => false,
                _ = shutdown.changed() => true,
            };
            let failed = self.flush(backoff.is_zero()).await;
            backoff = if failed {
                (backoff * 2).clamp(Duration::from_secs(1), Duration::from_secs(60))
            } else {
                Duration::ZERO
            };
            if stop {
                self.keep_pending();
                return;
            }
        }
    }

    /// Keep `parallel` requests in flight (each compressing on a worker
    /// thread) until the buffer is empty or one fails; failed batches go
    /// back in front, oldest first. Returns whether one failed; the first
    /// failure is logged when `log_failure` (not while backing off).
    async fn flush(&self, log_failure: bool) -> bool {
        let mut in_flight = tokio::task::JoinSet::new();
        let mut failed = false;
        // Failed batches by the order they were taken, put back at the end.
        let mut retry = Vec::new();
        let mut taken = 0_u64;
        loop {
            while !failed && in_flight.len() < self.parallel {
                let batch = self.tsdb.take();
                if batch.count == 0 {
                    break;
                }
                let target = self.target.clone();
                taken += 1;
                let order = taken;
                in_flight.spawn(async move {
                    let outcome = target.send(&batch).await;
                    (order, batch, outcome)
                });
            }
            let Some(done) = in_flight.join_next().await else {
                break;
            };
            let Ok((order, batch, outcome)) = done else {
                tracing::error!("An InfluxDB write task failed; its lines are lost.");
                continue;
            };
            if let Some(why) = self.count(&batch, outcome) {
                if log_failure && !failed {
                    tracing::warn!(%why, "InfluxDB write failed; keeping the points and retrying.");
                }
                failed = true;
                retry.push((order, batch));
            }
        }
        // Back in front, oldest first.
        retry.sort_by_key(|(order, _)| std::cmp::Reverse(*order));
        for (_, batch) in retry {
            self.tsdb.put_back(batch);
        }
        failed
    }

    /// Count how `batch` went; the reason when it is to be retried.
    fn count(&self, batch: &Lines, outcome: Sent) -> Option<String> {
        let stats = &self.tsdb.stats;
        let lines = batch.count as u64;
        match outcome {
            Sent::Ok => {
                stats.sent_lines.add(lines);
                None
            }
            Sent::Rejected(why) => {
                p2pmon_common::count!(
                    stats.rejected_lines,
                    lines,
                    error,
                    lines,
                    %why,
                    "InfluxDB refused a batch; dropped it."
                );
                None
            }
            Sent::Retry(why) => {
                stats.failures.inc();
                Some(why)
            }
        }
    }

    /// At shutdown: what is still waiting goes to `pending`.
    fn keep_pending(&self) {
        let pending = &self.pending;
        match self.tsdb.keep(pending) {
            Ok(0) => {}
            Ok(n) => {
                tracing::warn!(lines = n, path = %pending.display(), "InfluxDB: lines not sent yet kept for the next start.")
            }
            Err(e) => {
                tracing::error!(path = %pending.display(), "InfluxDB: cannot keep the lines not sent yet: {e}")
            }
        }
    }
}

enum Sent {
    Ok,
    Retry(String),
    Rejected(String),
}

/// Where and how batches go.
struct Target {
    client: reqwest::Client,
    url: String,
    token: String,
    gzip: bool,
}

impl Target {
    async fn send(&self, batch: &Lines) -> Sent {
        let (client, url, token, gzip) = (&self.client, &self.url, &self.token, self.gzip);
        let mut request = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8");
        if !token.is_empty() {
            request = request.header(reqwest::header::AUTHORIZATION, format!("Token {token}"));
        }
        let mut body = None;
        if gzip {
            let text = batch.text.as_bytes();
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(text.len() / 4),
                flate2::Compression::fast(),
            );
            if encoder.write_all(text).is_ok()
                && let Ok(compressed) = encoder.finish()
            {
                body = Some(compressed);
                request = request.header(reqwest::header::CONTENT_ENCODING, "gzip");
            }
        }
        let body = body.unwrap_or_else(|| batch.text.clone().into_bytes());
        match request.body(body).send().await {
            Ok(response) if response.status().is_success() => Sent::Ok,
            Ok(response)
                if response.status().is_server_error() || response.status().as_u16() == 429 =>
            {
                Sent::Retry(format!("answered {}", response.status().as_u16()))
            }
            Ok(response) => {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                Sent::Rejected(format!(
                    "answered {status}: {}",
                    text.chars().take(200).collect::<String>()
                ))
            }
            Err(error) => Sent::Retry(format!("not reachable: {}", error.without_url())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p2pmon_common::wire::MetricKind;

    fn metric(name: &str, tags: &[(&str, &str)], value: f64) -> MetricRecord {
        MetricRecord {
            plugin: "system".to_string(),
            name: name.to_string(),
            value,
            unit: String::new(),
            kind: MetricKind::Gauge,
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            timestamp_ms: 1_700_000_000_123,
        }
    }

    #[test]
    fn points_become_escaped_lines() {
        let mut out = String::new();
        line("host-a", &metric("cpu_usage", &[], 12.5), &mut out);
        line(
            "host-a",
            &metric("player_count", &[("map", "prt fild,08=x")], 3.0),
            &mut out,
        );
        line(
            "host-a",
            &metric("disk_usage", &[("host", "forged"), ("mount", "")], f64::NAN),
            &mut out,
        );
        assert_eq!(
            out,
            "cpu_usage,host=host-a value=12.5 1700000000123\n\
             player_count,host=host-a,map=prt\\ fild\\,08\\=x value=3.0 1700000000123\n\
             disk_usage,host=host-a value=0.0 1700000000123\n"
        );
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_lines_and_counts_them() {
        let tsdb = Tsdb::new(3, 2, None);
        let points: Vec<MetricRecord> = (0..5).map(|i| metric("m", &[], i as f64)).collect();
        tsdb.offer("a", &points);
        assert_eq!(tsdb.stats.dropped_lines.get(), 2);
        let batch = tsdb.take();
        assert_eq!(batch.count, 2);
        assert!(batch.text.starts_with("m,host=a value=2.0 "), "{batch:?}");
        tsdb.put_back(batch);
        assert_eq!(tsdb.stats.buffered_lines.get(), 3);
        let again = tsdb.take();
        assert!(
            again.text.starts_with("m,host=a value=2.0 ") && again.text.contains("value=3.0"),
            "order kept after a retry: {again:?}"
        );
        // The buffer filled up meanwhile: the retried batch keeps its
        // oldest line, the rest is dropped and counted.
        tsdb.offer("a", &points[..1]);
        tsdb.put_back(again);
        assert_eq!(tsdb.stats.dropped_lines.get(), 3);
        assert_eq!(
            tsdb.take().text.lines().next().map(|l| &l[..17]),
            Some("m,host=a value=2.")
        );
    }

    #[test]
    fn batches_are_cut_at_line_boundaries_across_ingest_batches() {
        let tsdb = Tsdb::new(100, 4, None);
        for first in [0, 3, 6] {
            let points: Vec<MetricRecord> = (first..first + 3)
                .map(|i| metric("m", &[], i as f64))
                .collect();
            tsdb.offer("a", &points);
        }
        let mut values = Vec::new();
        let mut sizes = Vec::new();
        loop {
            let batch = tsdb.take();
            if batch.count == 0 {
                break;
            }
            assert_eq!(batch.text.lines().count(), batch.count);
            sizes.push(batch.count);
            for line in batch.text.lines() {
                values.push(
                    line.split(' ')
                        .nth(1)
                        .map(str::to_string)
                        .unwrap_or_default(),
                );
            }
        }
        assert_eq!(sizes, [4, 4, 1]);
        let expected: Vec<String> = (0..9).map(|i| format!("value={i}.0")).collect();
        assert_eq!(values, expected);
    }

    #[test]
    fn waiting_lines_are_kept_on_disk_and_queued_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("influxdb-pending.lp");
        let before = Tsdb::new(100, 3, None);
        let points: Vec<MetricRecord> = (0..7).map(|i| metric("m", &[], i as f64)).collect();
        before.offer("a", &points);
        assert_eq!(before.take().count, 3, "sent");
        assert_eq!(before.keep(&path).expect("kept"), 4);
        // The next run: a new point arrives, then the kept lines are queued
        // ahead of it.
        let after = Tsdb::new(100, 10, None);
        after.offer("b", &points[..1]);
        assert_eq!(after.reload(&path).expect("reloaded"), 4);
        assert!(!path.exists(), "loaded once");
        let batch = after.take();
        let values: Vec<&str> = batch
            .text
            .lines()
            .filter_map(|l| l.split(' ').nth(1))
            .collect();
        assert_eq!(
            values,
            [
                "value=3.0",
                "value=4.0",
                "value=5.0",
                "value=6.0",
                "value=0.0"
            ]
        );
        assert_eq!(after.keep(&path).expect("nothing waits"), 0);
        assert!(!path.exists());
    }
}
