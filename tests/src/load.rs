//! Load for the benchmarks that run the aggregator as a process: hosts
//! enrolled straight in its store, hellos, zstd-compressed JSON batches as
//! agents send them, many requests in flight at once, and what the process
//! spent doing it.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use futures_util::StreamExt;
use p2pmon_aggregator::auth::{self, TokenKind};
use p2pmon_aggregator::store::schema;
use p2pmon_common::wire::{Batch, paths};

use crate::aggregator::{AggregatorProcess, now_ms};

/// Ingest limits high enough that a benchmark measures ingest, not the
/// per-host rate limiter or the request size limits.
pub const UNLIMITED_INGEST: &str = "ingest: {rate_per_host: 100000000, burst_per_host: 100000000, max_records_per_batch: 100000, max_body_kb: 65536, max_decompressed_kb: 262144}";

/// The environment variable `name` as a number, or `default` when it is
/// unset or not a number.
pub fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Enroll `hosts` straight in the store of a configured aggregator, as
/// `token create` and enroll would; (host, credential) pairs in order.
pub fn enroll(
    agg: &AggregatorProcess,
    hosts: impl IntoIterator<Item = String>,
) -> Result<Vec<(String, String)>> {
    let mut conn = schema::open(&agg.config.store_path())?;
    let mut credentials = Vec::new();
    for host in hosts {
        let token = auth::create_token(&conn, TokenKind::Join, "", None, now_ms() as i64)?;
        let enrolled = auth::enroll(&mut conn, &token, &host, now_ms() as i64)?;
        credentials.push((host, enrolled.credential));
    }
    Ok(credentials)
}

/// An HTTP client that keeps `concurrency` connections open.
pub fn client(concurrency: usize) -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?)
}

/// Say hello for every host, `concurrency` at a time.
pub async fn hello_all(
    client: &reqwest::Client,
    ingest_url: &str,
    credentials: &[(String, String)],
    concurrency: usize,
) -> Result<()> {
    let hellos = credentials
        .iter()
        .map(|(_, credential)| {
            client
                .post(format!("{ingest_url}{}", paths::HELLO))
                .bearer_auth(credential)
                .json(&serde_json::json!({"agent_version": "bench", "plugins": []}))
        })
        .collect();
    fire(hellos, concurrency).await?;
    Ok(())
}

/// How a batch body is encoded (before zstd).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// What older agents send.
    Json,
    /// `p2pmon_common::compact`, what agents send to an aggregator that
    /// offers it.
    Compact,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Json => "application/json",
            Encoding::Compact => p2pmon_common::compact::CONTENT_TYPE,
        }
    }
}

/// `batch` as an older agent sends it: JSON, zstd-compressed.
pub fn encode(batch: &Batch) -> Result<Vec<u8>> {
    encode_as(batch, Encoding::Json)
}

/// `batch` in `encoding`, zstd-compressed.
pub fn encode_as(batch: &Batch, encoding: Encoding) -> Result<Vec<u8>> {
    let bytes = match encoding {
        Encoding::Json => serde_json::to_vec(batch)?,
        Encoding::Compact => p2pmon_common::compact::encode(batch),
    };
    Ok(zstd::encode_all(&bytes[..], 3)?)
}

/// A POST of a JSON batch (see [`encode`]) to ingest as `credential`.
pub fn batch_request(
    client: &reqwest::Client,
    ingest_url: &str,
    credential: &str,
    body: Vec<u8>,
) -> reqwest::RequestBuilder {
    request_as(client, ingest_url, credential, body, Encoding::Json)
}

/// A POST of a batch body in `encoding` (see [`encode_as`]).
pub fn request_as(
    client: &reqwest::Client,
    ingest_url: &str,
    credential: &str,
    body: Vec<u8>,
    encoding: Encoding,
) -> reqwest::RequestBuilder {
    client
        .post(format!("{ingest_url}{}", paths::BATCHES))
        .bearer_auth(credential)
        .header("content-type", encoding.content_type())
        .header("content-encoding", "zstd")
        .body(body)
}

/// Send every request with `concurrency` in flight; the wall time and the
/// answers (JSON, or null when the body is not JSON). Any answer that is
/// not a success fails the whole run.
pub async fn fire(
    requests: Vec<reqwest::RequestBuilder>,
    concurrency: usize,
) -> Result<(Duration, Vec<serde_json::Value>)> {
    let started = Instant::now();
    let answers: Vec<Result<serde_json::Value>> = futures_util::stream::iter(requests)
        .map(|request| async move {
            let response = request.send().await?;
            let status = response.status();
            let body = response.text().await?;
            if !status.is_success() {
                bail!("{status}: {body}");
            }
            Ok(serde_json::from_str(&body).unwrap_or(serde_json::Value::Null))
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    Ok((elapsed, answers.into_iter().collect::<Result<Vec<_>>>()?))
}

/// The points and events the aggregator says it stored, over batch acks.
pub fn stored(acks: &[serde_json::Value]) -> u64 {
    acks.iter().filter_map(|a| a["stored"].as_u64()).sum()
}

/// The points the aggregator's store holds (head and chunks).
pub fn points_in_store(agg: &AggregatorProcess) -> Result<u64> {
    let counts = p2pmon_aggregator::store::counts(&agg.db()?)?;
    Ok(counts.points as u64)
}

/// CPU seconds (user and system) per thread name of process `pid`.
pub fn thread_cpu(pid: u32) -> Vec<(String, f64)> {
    let mut by_name: std::collections::BTreeMap<String, f64> = Default::default();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let ticks: f64 = fields
            .get(11..13)
            .map(|f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum())
            .unwrap_or(0.0);
        *by_name.entry(name).or_default() += ticks / 100.0;
    }
    by_name.into_iter().collect()
}

/// CPU seconds (user and system) of process `pid` so far, all threads,
/// including those that have exited.
pub fn process_cpu(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.rfind(')')?;
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let ticks: f64 = fields
        .get(11..13)?
        .iter()
        .filter_map(|v| v.parse::<f64>().ok())
        .sum();
    Some(ticks / 100.0)
}

/// Peak resident memory of process `pid`, in KiB.
pub fn rss_peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// The median of `values` (NaN when there are none).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if !n.is_multiple_of(2) => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}
