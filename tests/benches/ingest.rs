//! Ingest throughput: points per second from many simulated hosts into the
//! aggregator's embedded store, next to VictoriaMetrics ingesting the same
//! points as InfluxDB line protocol, in the same run on the same machine.
//!
//! `make bench-ingest` (installs Debian's victoria-metrics if missing).
//! Knobs: BENCH_HOSTS (1000), BENCH_BATCHES (4 per host), BENCH_POINTS
//! (500 per batch), BENCH_CONCURRENCY (32 requests in flight).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use p2pmon_aggregator::auth::{self, TokenKind};
use p2pmon_aggregator::store::schema;
use p2pmon_common::wire::{Batch, paths};
use p2pmon_tests::aggregator::{AggregatorProcess, free_port, http_ok, metric, now_ms};

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Plan {
    hosts: usize,
    batches: usize,
    points: usize,
    concurrency: usize,
}

impl Plan {
    fn total(&self) -> usize {
        self.hosts * self.batches * self.points
    }
}

/// The points of batch `b` of host `h`: 50 series, the rest as time steps.
fn batch_for(plan: &Plan, host: &str, b: usize, base_ms: u64) -> Batch {
    let series = 50.min(plan.points);
    let steps = plan.points / series;
    let mut records = Vec::with_capacity(plan.points);
    for step in 0..steps {
        let ts = base_ms + ((b * steps + step) as u64) * 1000;
        for s in 0..series {
            let core = s.to_string();
            records.push(metric(
                "bench_metric",
                (s * step) as f64 + 0.5,
                &[("series", core.as_str())],
                ts,
            ));
        }
    }
    Batch {
        host_id: host.to_string(),
        stream: "bench".to_string(),
        seq: b as u64 + 1,
        created_ms: now_ms(),
        records,
    }
}

/// The same batch as InfluxDB line protocol (ms precision).
fn line_protocol(batch: &Batch) -> String {
    let mut out = String::with_capacity(batch.records.len() * 64);
    for record in &batch.records {
        if let p2pmon_common::wire::Record::Metric(m) = record {
            out.push_str(&m.name);
            out.push_str(",host=");
            out.push_str(&batch.host_id);
            for (k, v) in &m.tags {
                out.push(',');
                out.push_str(k);
                out.push('=');
                out.push_str(v);
            }
            out.push_str(&format!(" value={} {}\n", m.value, m.timestamp_ms));
        }
    }
    out
}

/// Send every request with `concurrency` in flight; the wall time.
async fn fire(
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

/// CPU seconds per thread name of process `pid` (where the time went).
fn thread_cpu(pid: u32) -> Vec<(String, f64)> {
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

fn rss_peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

async fn bench_p2pmon(plan: &Plan, base_ms: u64) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut agg = AggregatorProcess::configure(
        std::path::Path::new(env!("CARGO_BIN_EXE_p2pmon-test-aggregator")),
        dir.path(),
        "ingest: {rate_per_host: 100000000, burst_per_host: 100000000, max_records_per_batch: 100000, max_body_kb: 65536, max_decompressed_kb: 262144}",
    )?;
    // Enroll every host straight in the store, as `token create` + enroll would.
    let mut credentials = Vec::with_capacity(plan.hosts);
    {
        let mut conn = schema::open(&agg.config.store_path())?;
        for h in 0..plan.hosts {
            let token = auth::create_token(&conn, TokenKind::Join, "", None, now_ms() as i64)?;
            let host = format!("bench-{h:04}");
            let enrolled = auth::enroll(&mut conn, &token, &host, now_ms() as i64)?;
            credentials.push((host, enrolled.credential));
        }
    }
    agg.start()?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(plan.concurrency)
        .build()?;
    let hellos = credentials
        .iter()
        .map(|(_, cred)| {
            client
                .post(format!("{}{}", agg.ingest_url(), paths::HELLO))
                .bearer_auth(cred)
                .json(&serde_json::json!({"agent_version": "bench", "plugins": []}))
        })
        .collect();
    fire(hellos, plan.concurrency).await?;

    eprintln!("p2pmon: encoding {} points...", plan.total());
    let mut requests = Vec::with_capacity(plan.hosts * plan.batches);
    // Host-major rounds: every host's batch 1, then every host's batch 2, ...
    for b in 0..plan.batches {
        for (host, cred) in &credentials {
            let body = zstd::encode_all(
                &serde_json::to_vec(&batch_for(plan, host, b, base_ms))?[..],
                3,
            )?;
            requests.push(
                client
                    .post(format!("{}{}", agg.ingest_url(), paths::BATCHES))
                    .bearer_auth(cred)
                    .header("content-type", "application/json")
                    .header("content-encoding", "zstd")
                    .body(body),
            );
        }
    }
    eprintln!("p2pmon: sending...");
    let (elapsed, acks) = fire(requests, plan.concurrency).await?;
    let stored: u64 = acks.iter().filter_map(|a| a["stored"].as_u64()).sum();
    if stored != plan.total() as u64 {
        bail!("p2pmon stored {stored} of {} points", plan.total());
    }
    let counted: i64 = agg
        .db()?
        .query_row("SELECT COUNT(*) FROM points", [], |r| r.get(0))?;
    if counted != plan.total() as i64 {
        bail!("the store holds {counted} of {} points", plan.total());
    }
    let rate = plan.total() as f64 / elapsed.as_secs_f64();
    let peak = agg.pid().and_then(rss_peak_kib).unwrap_or(0);
    if let Some(pid) = agg.pid() {
        println!("  aggregator CPU by thread: {:?}", thread_cpu(pid));
    }
    println!(
        "p2pmon embedded store: {} points in {:.2} s = {:.0} points/s (aggregator peak RSS {} MiB; every point verified in the store)",
        plan.total(),
        elapsed.as_secs_f64(),
        rate,
        peak / 1024
    );
    agg.stop()?;
    Ok(rate)
}

async fn bench_victoria(plan: &Plan, base_ms: u64) -> Result<Option<f64>> {
    let binary = std::path::Path::new("/usr/bin/victoria-metrics");
    if !binary.exists() {
        println!("VictoriaMetrics: not installed (apt-get install victoria-metrics); skipped");
        return Ok(None);
    }
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let mut child = std::process::Command::new(binary)
        .arg(format!("-storageDataPath={}", dir.path().display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg("-loggerLevel=ERROR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting victoria-metrics")?;
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http_ok(&format!("{base}/health")).unwrap_or(false) {
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("victoria-metrics did not come up");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(plan.concurrency)
        .build()?;
    eprintln!("VictoriaMetrics: encoding {} points...", plan.total());
    let mut requests = Vec::with_capacity(plan.hosts * plan.batches);
    for b in 0..plan.batches {
        for h in 0..plan.hosts {
            let host = format!("bench-{h:04}");
            requests.push(
                client
                    .post(format!("{base}/api/v2/write?precision=ms"))
                    .body(line_protocol(&batch_for(plan, &host, b, base_ms))),
            );
        }
    }
    eprintln!("VictoriaMetrics: sending...");
    let (elapsed, _) = fire(requests, plan.concurrency).await?;
    let rate = plan.total() as f64 / elapsed.as_secs_f64();
    // Every row accepted?
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let inserted: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("vm_rows_inserted_total{type=\"influx\"}"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum();
    let peak = rss_peak_kib(child.id()).unwrap_or(0);
    println!(
        "VictoriaMetrics (line protocol, /api/v2/write): {} points in {:.2} s = {:.0} points/s (rows inserted: {inserted}; peak RSS {} MiB)",
        plan.total(),
        elapsed.as_secs_f64(),
        rate,
        peak / 1024
    );
    let _ = child.kill();
    let _ = child.wait();
    Ok(Some(rate))
}

fn main() -> Result<()> {
    let plan = Plan {
        hosts: knob("BENCH_HOSTS", 1000),
        batches: knob("BENCH_BATCHES", 4),
        points: knob("BENCH_POINTS", 500),
        concurrency: knob("BENCH_CONCURRENCY", 32),
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let base_ms = now_ms() - 3_600_000;
    println!(
        "ingest: {} hosts x {} batches x {} points = {} points, {} requests in flight",
        plan.hosts,
        plan.batches,
        plan.points,
        plan.total(),
        plan.concurrency
    );
    let ours = runtime.block_on(bench_p2pmon(&plan, base_ms))?;
    let theirs = runtime.block_on(bench_victoria(&plan, base_ms))?;
    if let Some(theirs) = theirs {
        println!("ratio p2pmon / VictoriaMetrics: {:.2}x", ours / theirs);
    }
    Ok(())
}
