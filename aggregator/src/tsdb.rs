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
//! A point becomes `<metric>,host=<host>,<tags> value=<v> <ms>`. History reads
//! from InfluxDB use Flux; [`flux_history`] builds that query.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use p2pmon_common::wire::MetricRecord;
use p2pmon_common::yaml_config::Findings;
use serde::Deserialize;
use tokio::sync::{Notify, watch};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxConfig {
    /// Base URL, e.g. `http://127.0.0.1:8086`; empty: off.
    #[serde(default)]
    pub url: String,
    #[serde(default = "default_name")]
    pub org: String,
    #[serde(default = "default_name")]
    pub bucket: String,
    /// The InfluxDB token (`Authorization: Token ...`), or a file holding it.
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub token_file: Option<std::path::PathBuf>,
    #[serde(default = "default_batch_lines")]
    pub batch_lines: usize,
    #[serde(default = "default_flush_ms")]
    pub flush_ms: u64,
    #[serde(default = "default_buffer_lines")]
    pub buffer_lines: usize,
    #[serde(default = "yes")]
    pub gzip: bool,
    /// Batches in flight at once.
    #[serde(default = "default_parallel")]
    pub parallel: usize,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_name() -> String {
    "p2pmon".to_string()
}
fn default_batch_lines() -> usize {
    5000
}
fn default_flush_ms() -> u64 {
    1000
}
fn default_buffer_lines() -> usize {
    1_000_000
}
fn yes() -> bool {
    true
}
fn default_parallel() -> usize {
    4
}
fn default_timeout_ms() -> u64 {
    10_000
}

impl Default for InfluxConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            org: default_name(),
            bucket: default_name(),
            token: String::new(),
            token_file: None,
            batch_lines: default_batch_lines(),
            flush_ms: default_flush_ms(),
            buffer_lines: default_buffer_lines(),
            gzip: true,
            parallel: default_parallel(),
            timeout_ms: default_timeout_ms(),
        }
    }
}

impl InfluxConfig {
    pub fn validate(&self, findings: &mut Findings) {
        if self.url.is_empty() {
            return;
        }
        match url::Url::parse(&self.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => findings.error("influxdb.url", "must be an http:// or https:// URL"),
        }
        findings.in_range("influxdb.batch_lines", self.batch_lines, 1..=100_000);
        findings.in_range("influxdb.flush_ms", self.flush_ms, 10..=60_000);
        findings.in_range("influxdb.buffer_lines", self.buffer_lines, 1..=100_000_000);
        findings.in_range("influxdb.timeout_ms", self.timeout_ms, 100..=120_000);
        findings.in_range("influxdb.parallel", self.parallel, 1..=64);
    }
}

/// Escape a measurement name (commas, spaces).
fn measurement(name: &str, out: &mut String) {
    for c in name.chars() {
        if matches!(c, ',' | ' ' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Escape a tag key or value (commas, equals signs, spaces).
fn tag(text: &str, out: &mut String) {
    for c in text.chars() {
        if matches!(c, ',' | '=' | ' ' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
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
    out.push_str(" value=");
    // Ingest refuses non-finite values; a float field is never NaN here.
    if metric.value.is_finite() {
        out.push_str(&format!("{:?}", metric.value));
    } else {
        out.push('0');
    }
    out.push(' ');
    out.push_str(&metric.timestamp_ms.to_string());
    out.push('\n');
}

/// A Flux string literal.
fn flux_string(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace("${", "\\${");
    format!("\"{escaped}\"")
}

/// The Flux query for `metric`'s history (optionally one host) between two
/// times, averaged per `every_s` window: what the history API would ask an
/// InfluxDB backend.
pub fn flux_history(
    bucket: &str,
    metric: &str,
    host: Option<&str>,
    from_ms: i64,
    to_ms: i64,
    every_s: u64,
) -> String {
    let mut query = format!(
        "from(bucket: {})\n  |> range(start: {}, stop: {})\n  |> filter(fn: (r) => r._measurement == {} and r._field == \"value\")\n",
        flux_string(bucket),
        crate::state::rfc3339(from_ms),
        crate::state::rfc3339(to_ms),
        flux_string(metric),
    );
    if let Some(host) = host {
        query.push_str(&format!(
            "  |> filter(fn: (r) => r.host == {})\n",
            flux_string(host)
        ));
    }
    query.push_str(&format!(
        "  |> aggregateWindow(every: {every_s}s, fn: mean, createEmpty: false)\n  |> yield(name: \"mean\")\n"
    ));
    query
}

/// What the forwarder did, for `/metrics` and the health answer.
#[derive(Debug, Default)]
pub struct TsdbStats {
    pub sent_lines: AtomicU64,
    pub dropped_lines: AtomicU64,
    pub rejected_lines: AtomicU64,
    pub failures: AtomicU64,
    pub buffered_lines: AtomicU64,
}

/// The bounded buffer between ingest and the writer task.
pub struct Tsdb {
    buffer: Mutex<VecDeque<String>>,
    capacity: usize,
    batch_lines: usize,
    wake: Notify,
    pub stats: TsdbStats,
}

impl Tsdb {
    /// Queue the lines of `metrics` from `host`; past the capacity the
    /// oldest lines go, counted.
    pub fn offer<'a>(&self, host: &str, metrics: impl IntoIterator<Item = &'a MetricRecord>) {
        let mut lines = Vec::new();
        for metric in metrics {
            let mut text = String::with_capacity(64);
            line(host, metric, &mut text);
            lines.push(text);
        }
        if lines.is_empty() {
            return;
        }
        let Ok(mut buffer) = self.buffer.lock() else {
            return;
        };
        buffer.extend(lines);
        let over = buffer.len().saturating_sub(self.capacity);
        if over > 0 {
            buffer.drain(..over);
            self.stats
                .dropped_lines
                .fetch_add(over as u64, Ordering::Relaxed);
        }
        self.stats
            .buffered_lines
            .store(buffer.len() as u64, Ordering::Relaxed);
        if buffer.len() >= self.batch_lines {
            self.wake.notify_one();
        }
    }

    fn take(&self) -> Vec<String> {
        let Ok(mut buffer) = self.buffer.lock() else {
            return Vec::new();
        };
        let n = buffer.len().min(self.batch_lines);
        let batch: Vec<String> = buffer.drain(..n).collect();
        self.stats
            .buffered_lines
            .store(buffer.len() as u64, Ordering::Relaxed);
        batch
    }

    /// Put a failed batch back in front (what does not fit is dropped).
    fn put_back(&self, batch: Vec<String>) {
        let Ok(mut buffer) = self.buffer.lock() else {
            return;
        };
        let room = self.capacity.saturating_sub(buffer.len());
        let dropped = batch.len().saturating_sub(room);
        for line in batch.into_iter().take(room).rev() {
            buffer.push_front(line);
        }
        if dropped > 0 {
            self.stats
                .dropped_lines
                .fetch_add(dropped as u64, Ordering::Relaxed);
        }
        self.stats
            .buffered_lines
            .store(buffer.len() as u64, Ordering::Relaxed);
    }
}

/// Start forwarding to `config.url`: the buffer ingest offers to, and the
/// writer task (it stops on `shutdown`, after one last flush).
pub fn start(
    config: &InfluxConfig,
    token: String,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(Arc<Tsdb>, tokio::task::JoinHandle<()>), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(config.timeout_ms))
        .build()
        .map_err(|e| {
            format!(
                "influxdb: cannot build the HTTP client: {}",
                e.without_url()
            )
        })?;
    let tsdb = Arc::new(Tsdb {
        buffer: Mutex::new(VecDeque::new()),
        capacity: config.buffer_lines,
        batch_lines: config.batch_lines,
        wake: Notify::new(),
        stats: TsdbStats::default(),
    });
    let url = format!(
        "{}/api/v2/write?org={}&bucket={}&precision=ms",
        config.url.trim_end_matches('/'),
        url::form_urlencoded::byte_serialize(config.org.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(config.bucket.as_bytes()).collect::<String>(),
    );
    let gzip = config.gzip;
    let parallel = config.parallel;
    let every = Duration::from_millis(config.flush_ms);
    let writer = tsdb.clone();
    let task = tokio::spawn(async move {
        let mut backoff = Duration::ZERO;
        loop {
            let wait = if backoff.is_zero() { every } else { backoff };
            let stop = tokio::select! {
                _ = tokio::time::sleep(wait) => false,
                _ = writer.wake.notified(), if backoff.is_zero() => false,
                _ = shutdown.changed() => true,
            };
            'drain: loop {
                let batches: Vec<Vec<String>> = (0..parallel)
                    .map(|_| writer.take())
                    .take_while(|batch| !batch.is_empty())
                    .collect();
                if batches.is_empty() {
                    break;
                }
                let sent = futures_util::future::join_all(
                    batches
                        .iter()
                        .map(|batch| send(&client, &url, &token, gzip, batch)),
                )
                .await;
                let mut retry = Vec::new();
                for (batch, outcome) in batches.into_iter().zip(sent) {
                    match outcome {
                        Sent::Ok => {
                            writer
                                .stats
                                .sent_lines
                                .fetch_add(batch.len() as u64, Ordering::Relaxed);
                        }
                        Sent::Rejected(why) => {
                            tracing::error!(lines = batch.len(), %why, "InfluxDB refused a batch; dropped it.");
                            writer
                                .stats
                                .rejected_lines
                                .fetch_add(batch.len() as u64, Ordering::Relaxed);
                        }
                        Sent::Retry(why) => {
                            writer.stats.failures.fetch_add(1, Ordering::Relaxed);
                            if backoff.is_zero() && retry.is_empty() {
                                tracing::warn!(%why, "InfluxDB write failed; keeping the points and retrying.");
                            }
                            retry.push(batch);
                        }
                    }
                }
                if retry.is_empty() {
                    backoff = Duration::ZERO;
                } else {
                    backoff = (backoff * 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
                    // Back in front, in their order.
                    for batch in retry.into_iter().rev() {
                        writer.put_back(batch);
                    }
                    break 'drain;
                }
            }
            if stop {
                return;
            }
        }
    });
    Ok((tsdb, task))
}

enum Sent {
    Ok,
    Retry(String),
    Rejected(String),
}

async fn send(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    gzip: bool,
    batch: &[String],
) -> Sent {
    let mut body: Vec<u8> = Vec::with_capacity(batch.len() * 64);
    for line in batch {
        body.extend_from_slice(line.as_bytes());
    }
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8");
    if !token.is_empty() {
        request = request.header(reqwest::header::AUTHORIZATION, format!("Token {token}"));
    }
    if gzip {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        if encoder.write_all(&body).is_ok()
            && let Ok(compressed) = encoder.finish()
        {
            body = compressed;
            request = request.header(reqwest::header::CONTENT_ENCODING, "gzip");
        }
    }
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
             disk_usage,host=host-a value=0 1700000000123\n"
        );
    }

    #[test]
    fn the_flux_history_query_is_built_with_escaped_strings() {
        let query = flux_history(
            "p2pmon",
            "cpu_usage",
            Some("evil\" or true or \""),
            0,
            3_600_000,
            60,
        );
        assert_eq!(
            query,
            "from(bucket: \"p2pmon\")\n  |> range(start: 1970-01-01T00:00:00Z, stop: 1970-01-01T01:00:00Z)\n  \
             |> filter(fn: (r) => r._measurement == \"cpu_usage\" and r._field == \"value\")\n  \
             |> filter(fn: (r) => r.host == \"evil\\\" or true or \\\"\")\n  \
             |> aggregateWindow(every: 60s, fn: mean, createEmpty: false)\n  |> yield(name: \"mean\")\n"
        );
        assert!(!flux_history("b", "m", None, 0, 1, 1).contains("r.host"));
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_lines_and_counts_them() {
        let tsdb = Tsdb {
            buffer: Mutex::new(VecDeque::new()),
            capacity: 3,
            batch_lines: 2,
            wake: Notify::new(),
            stats: TsdbStats::default(),
        };
        let points: Vec<MetricRecord> = (0..5).map(|i| metric("m", &[], i as f64)).collect();
        tsdb.offer("a", &points);
        assert_eq!(tsdb.stats.dropped_lines.load(Ordering::Relaxed), 2);
        let batch = tsdb.take();
        assert!(batch[0].contains("value=2.0"), "{batch:?}");
        tsdb.put_back(batch);
        assert_eq!(tsdb.stats.buffered_lines.load(Ordering::Relaxed), 3);
        assert!(
            tsdb.take()[0].contains("value=2.0"),
            "order kept after a retry"
        );
    }
}
