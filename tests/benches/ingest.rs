//! Ingest throughput: points per second from many simulated hosts into the
//! aggregator's embedded store, next to VictoriaMetrics ingesting the same
//! points as InfluxDB line protocol, in the same run on the same machine;
//! then the InfluxDB path: first the aggregator's forwarder alone (the
//! buffer, line encoding, gzipped batches, the writer task: the code `serve`
//! runs, fed the same points), then the whole aggregator storing and
//! forwarding every point into a VictoriaMetrics, each timed until the last
//! line is accepted there. The embedded store is measured with the default
//! durability (an fsync per commit) and without it, and as the whole
//! aggregator: an alert rule evaluated on every point and two WebSocket
//! clients taking every metrics message.
//!
//! `make bench-ingest` (installs Debian's victoria-metrics if missing).
//! Knobs: BENCH_HOSTS (1000), BENCH_BATCHES (4 per host), BENCH_POINTS
//! (500 per batch), BENCH_CONCURRENCY (32 requests in flight), BENCH_RUNS
//! (5 alternated rounds of VictoriaMetrics direct, plain and gzipped, the
//! forwarder alone and the store's compact variants; their medians are
//! compared; JSON batches and the InfluxDB path run once).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use p2pmon_aggregator::auth::{self, TokenKind};
use p2pmon_aggregator::store::schema;
use p2pmon_common::wire::Batch;
use p2pmon_tests::aggregator::{AggregatorProcess, metric, now_ms};
use p2pmon_tests::load::{self, fire, knob};
use p2pmon_tests::victoria::Victoria;

struct Plan {
    hosts: usize,
    batches: usize,
    points: usize,
    concurrency: usize,
    runs: usize,
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

/// The same batch as InfluxDB line protocol (ms precision), with the
/// aggregator's own encoder.
fn line_protocol(batch: &Batch) -> String {
    let mut out = String::with_capacity(batch.records.len() * 64);
    for record in &batch.records {
        if let p2pmon_common::wire::Record::Metric(m) = record {
            p2pmon_aggregator::tsdb::line(&batch.host_id, m, &mut out);
        }
    }
    out
}

/// What runs besides the store in one measured run.
#[derive(Clone, Copy, PartialEq)]
enum Beside<'a> {
    Nothing,
    /// Forwarding every point to this InfluxDB-compatible store, timed
    /// until it has accepted them all.
    Influx(&'a str),
    /// The rest of the aggregator at work: an alert rule on the metric
    /// (every point evaluated; it never fires) and `FEED_CLIENTS` WebSocket
    /// clients taking every metrics message.
    Alerting,
}

const FEED_CLIENTS: usize = 2;

/// WebSocket clients of `agg`'s feed reading everything until dropped;
/// the count of metrics messages they got.
async fn feed_clients(
    agg: &AggregatorProcess,
    token: &str,
) -> Result<(Vec<tokio::task::JoinHandle<()>>, Arc<AtomicU64>)> {
    use futures_util::StreamExt;
    let received = Arc::new(AtomicU64::new(0));
    let url = format!("{}?token={token}", agg.ws_url());
    let mut readers = Vec::new();
    for _ in 0..FEED_CLIENTS {
        let (mut ws, _) = tokio_tungstenite::connect_async(url.clone()).await?;
        let received = received.clone();
        readers.push(tokio::spawn(async move {
            while let Some(Ok(message)) = ws.next().await {
                if let tokio_tungstenite::tungstenite::Message::Text(text) = message
                    && text.contains("\"metrics\"")
                {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    Ok((readers, received))
}

/// The aggregator's ingest rate, with what runs `beside` the store.
async fn bench_p2pmon(
    plan: &Plan,
    base_ms: u64,
    beside: Beside<'_>,
    encoding: load::Encoding,
    durability: &str,
) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut overrides = format!(
        "{}\nstore: {{ durability: {durability} }}\n",
        load::UNLIMITED_INGEST
    );
    let influx = match beside {
        Beside::Influx(url) => Some(url),
        _ => None,
    };
    if let Some(url) = influx {
        overrides.push_str(&format!(
            "influxdb: {{ url: '{url}', buffer_lines: {} }}\n",
            plan.total()
        ));
    }
    if beside == Beside::Alerting {
        let alerts = dir.path().join("alerts.yml");
        std::fs::write(
            &alerts,
            "alerts: { bench_metric: { warning: 1.0e12, critical: 2.0e12, duration: 60 } }\nno_data: { enabled: false }\n",
        )?;
        overrides.push_str(&format!("alerts_file: '{}'\n", alerts.display()));
    }
    let mut agg = AggregatorProcess::configure(
        std::path::Path::new(env!("CARGO_BIN_EXE_p2pmon-test-aggregator")),
        dir.path(),
        &overrides,
    )?;
    let credentials = load::enroll(&agg, (0..plan.hosts).map(|h| format!("bench-{h:04}")))?;
    // The feed's clients need an API token, made before the store is open.
    let token = match beside {
        Beside::Alerting => {
            let conn = schema::open(&agg.config.store_path())?;
            Some(auth::create_token(
                &conn,
                TokenKind::Api,
                "bench",
                None,
                now_ms() as i64,
            )?)
        }
        _ => None,
    };
    agg.start()?;
    let feed = match &token {
        Some(token) => Some(feed_clients(&agg, token).await?),
        None => None,
    };
    let client = load::client(plan.concurrency)?;
    let ingest_url = agg.ingest_url();
    load::hello_all(&client, &ingest_url, &credentials, plan.concurrency).await?;

    eprintln!("p2pmon: encoding {} points...", plan.total());
    let mut requests = Vec::with_capacity(plan.hosts * plan.batches);
    // Host-major rounds: every host's batch 1, then every host's batch 2, ...
    for b in 0..plan.batches {
        for (host, cred) in &credentials {
            let body = load::encode_as(&batch_for(plan, host, b, base_ms), encoding)?;
            requests.push(load::request_as(&client, &ingest_url, cred, body, encoding));
        }
    }
    eprintln!("p2pmon: sending...");
    let started = Instant::now();
    let (mut elapsed, acks) = fire(requests, plan.concurrency).await?;
    if influx.is_some() {
        // Until the last line is in the external store.
        let health = format!("{}/api/v1/health", agg.api_url());
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let answer: serde_json::Value = client.get(&health).send().await?.json().await?;
            if answer["influxdb"]["sent_lines"].as_u64() == Some(plan.total() as u64) {
                break;
            }
            if Instant::now() > deadline || answer["influxdb"]["dropped_lines"] != 0 {
                bail!(
                    "not all lines reached the external store: {}",
                    answer["influxdb"]
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        elapsed = started.elapsed();
    }
    let stored = load::stored(&acks);
    if stored != plan.total() as u64 {
        bail!("p2pmon stored {stored} of {} points", plan.total());
    }
    let counted = load::points_in_store(&agg)?;
    if counted != plan.total() as u64 {
        bail!("the store holds {counted} of {} points", plan.total());
    }
    let rate = plan.total() as f64 / elapsed.as_secs_f64();
    if let Some((readers, received)) = feed {
        // A metrics message per batch for each client; a client that falls
        // behind the hub's queue skips what it missed (by design), so the
        // count is reported, and must not be nothing.
        let published = (plan.hosts * plan.batches * FEED_CLIENTS) as u64;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let got = received.load(Ordering::Relaxed);
        readers.iter().for_each(tokio::task::JoinHandle::abort);
        if got == 0 {
            bail!("the feed's clients got none of {published} metrics messages");
        }
        println!(
            "  {FEED_CLIENTS} feed clients (in the bench's process) took {got} of the {published} metrics messages published for them"
        );
    }
    let peak = agg.pid().and_then(load::rss_peak_kib).unwrap_or(0);
    if let Some(pid) = agg.pid() {
        println!("  aggregator CPU by thread: {:?}", load::thread_cpu(pid));
    }
    println!(
        "p2pmon {}, {:?} batches, durability {durability}: {} points in {:.2} s = {:.0} points/s (aggregator peak RSS {} MiB; every point verified in the store)",
        match beside {
            Beside::Nothing => "embedded store",
            Beside::Influx(_) => "embedded store + InfluxDB path into VictoriaMetrics",
            Beside::Alerting =>
                "whole aggregator (store, an alert rule on every point, 2 feed clients)",
        },
        encoding,
        plan.total(),
        elapsed.as_secs_f64(),
        rate,
        peak / 1024
    );
    agg.stop()?;
    Ok(rate)
}

/// Rows VictoriaMetrics took through its InfluxDB endpoints.
async fn victoria_rows(client: &reqwest::Client, base: &str) -> Result<f64> {
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(metrics
        .lines()
        .filter(|l| l.starts_with("vm_rows_inserted_total{type=\"influx\"}"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum())
}

fn gzipped(text: &str) -> Result<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(text.as_bytes())?;
    Ok(encoder.finish()?)
}

/// VictoriaMetrics taking the line protocol directly, plain or gzipped
/// (bodies encoded before the clock starts).
async fn bench_victoria(plan: &Plan, base_ms: u64, base: &str, gzip: bool) -> Result<f64> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(plan.concurrency)
        .build()?;
    eprintln!("VictoriaMetrics: encoding {} points...", plan.total());
    let mut requests = Vec::with_capacity(plan.hosts * plan.batches);
    for b in 0..plan.batches {
        for h in 0..plan.hosts {
            let host = format!("bench-{h:04}");
            let text = line_protocol(&batch_for(plan, &host, b, base_ms));
            let request = client.post(format!("{base}/api/v2/write?precision=ms"));
            requests.push(if gzip {
                request
                    .header("content-encoding", "gzip")
                    .body(gzipped(&text)?)
            } else {
                request.body(text)
            });
        }
    }
    eprintln!("VictoriaMetrics: sending...");
    let (elapsed, _) = fire(requests, plan.concurrency).await?;
    let rate = plan.total() as f64 / elapsed.as_secs_f64();
    // Every row accepted?
    let inserted = victoria_rows(&client, base).await?;
    if inserted as usize != plan.total() {
        bail!("VictoriaMetrics took {inserted} of {} lines", plan.total());
    }
    println!(
        "VictoriaMetrics (line protocol{}, /api/v2/write): {} points in {:.2} s = {:.0} points/s (rows inserted: {inserted})",
        if gzip { ", gzipped" } else { "" },
        plan.total(),
        elapsed.as_secs_f64(),
        rate,
    );
    Ok(rate)
}

/// The aggregator's forwarder alone into a fresh VictoriaMetrics: every
/// host's batches offered as ingest offers them, timed until the last line
/// is accepted.
async fn bench_forwarder(plan: &Plan, base_ms: u64, base: &str) -> Result<f64> {
    let config: p2pmon_aggregator::tsdb::InfluxConfig = serde_yaml::from_str(&format!(
        "{{ url: '{base}', buffer_lines: {} }}",
        plan.total()
    ))?;
    let dir = tempfile::tempdir()?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (tsdb, task) = p2pmon_aggregator::tsdb::start(
        &config,
        String::new(),
        dir.path().join("pending.lp"),
        stopped,
    )
    .map_err(anyhow::Error::msg)?;
    let mut batches = Vec::with_capacity(plan.hosts * plan.batches);
    for b in 0..plan.batches {
        for h in 0..plan.hosts {
            batches.push(batch_for(plan, &format!("bench-{h:04}"), b, base_ms));
        }
    }
    let started = Instant::now();
    for batch in &batches {
        tsdb.offer(
            &batch.host_id,
            batch.records.iter().filter_map(|r| match r {
                p2pmon_common::wire::Record::Metric(m) => Some(m),
                _ => None,
            }),
        );
        // As ingest does between batches.
        tokio::task::yield_now().await;
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while tsdb.stats.sent_lines.get() < plan.total() as u64 {
        if Instant::now() > deadline {
            bail!("the forwarder did not send everything: {:?}", tsdb.stats);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let _ = stop.send(true);
    let _ = task.await;
    let dropped = tsdb.stats.dropped_lines.get();
    if dropped > 0 {
        bail!("the forwarder dropped {dropped} lines");
    }
    let rate = plan.total() as f64 / elapsed.as_secs_f64();
    println!(
        "p2pmon's InfluxDB forwarder alone (encode, buffer, gzip, send): {} points in {:.2} s = {:.0} points/s",
        plan.total(),
        elapsed.as_secs_f64(),
        rate
    );
    Ok(rate)
}

fn main() -> Result<()> {
    let plan = Plan {
        hosts: knob("BENCH_HOSTS", 1000),
        batches: knob("BENCH_BATCHES", 4),
        points: knob("BENCH_POINTS", 500),
        concurrency: knob("BENCH_CONCURRENCY", 32),
        runs: knob("BENCH_RUNS", 5).max(1),
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // Five minutes ago: inside ingest's max_age, and in a window sealing
    // cannot take yet (it takes windows closed at least 10 minutes ago), so
    // every run measures ingest alone whatever the time of day. Sealing's
    // own pace is `make bench-store`'s.
    let base_ms = now_ms() - 300_000;
    println!(
        "ingest: {} hosts x {} batches x {} points = {} points, {} requests in flight",
        plan.hosts,
        plan.batches,
        plan.points,
        plan.total(),
        plan.concurrency
    );
    // The default durability (an fsync per commit) with JSON and compact
    // batches; then compact batches without the fsync, as VictoriaMetrics
    // takes writes (it keeps them in memory and writes them out every
    // second or so; store.durability: normal survives a killed process).
    let full = "full";
    let p2pmon = |beside: Beside<'_>, encoding, durability: &str| {
        runtime.block_on(bench_p2pmon(&plan, base_ms, beside, encoding, durability))
    };
    let ours = p2pmon(Beside::Nothing, load::Encoding::Json, full)?;
    // The compact variants: the store with and without the fsync per
    // commit, and the whole aggregator.
    let variants = || -> Result<[f64; 3]> {
        Ok([
            p2pmon(Beside::Nothing, load::Encoding::Compact, full)?,
            p2pmon(Beside::Nothing, load::Encoding::Compact, "normal")?,
            p2pmon(Beside::Alerting, load::Encoding::Compact, full)?,
        ])
    };
    if !std::path::Path::new(p2pmon_tests::victoria::BINARY).exists() {
        variants()?;
        println!(
            "VictoriaMetrics: not installed (apt-get install victoria-metrics); the rest skipped"
        );
        return Ok(());
    }
    // The InfluxDB path, each time into a fresh VictoriaMetrics.
    let fresh = |run: &dyn Fn(&str) -> Result<f64>| -> Result<f64> {
        let victoria = Victoria::start()?;
        let rate = run(&victoria.base)?;
        let rows = runtime.block_on(victoria_rows(&reqwest::Client::new(), &victoria.base))?;
        if rows as usize != plan.total() {
            bail!("VictoriaMetrics took {rows} of {} lines", plan.total());
        }
        Ok(rate)
    };
    // Short runs on a small machine are noisy: rounds of VictoriaMetrics,
    // p2pmon's forwarder and p2pmon's compact variants, alternated, and
    // the medians of each.
    let (mut direct, mut direct_gzip, mut forwarder) = (Vec::new(), Vec::new(), Vec::new());
    let (mut compact, mut unsynced, mut whole) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=plan.runs {
        println!("round {round} of {}", plan.runs);
        direct.push(fresh(&|base| {
            runtime.block_on(bench_victoria(&plan, base_ms, base, false))
        })?);
        direct_gzip.push(fresh(&|base| {
            runtime.block_on(bench_victoria(&plan, base_ms, base, true))
        })?);
        forwarder.push(fresh(&|base| {
            runtime.block_on(bench_forwarder(&plan, base_ms, base))
        })?);
        let [store, store_unsynced, store_whole] = variants()?;
        compact.push(store);
        unsynced.push(store_unsynced);
        whole.push(store_whole);
    }
    let forwarded = fresh(&|base| p2pmon(Beside::Influx(base), load::Encoding::Compact, full))?;
    let (direct, direct_gzip, forwarder) = (
        load::median(direct),
        load::median(direct_gzip),
        load::median(forwarder),
    );
    let (compact, unsynced, whole) = (
        load::median(compact),
        load::median(unsynced),
        load::median(whole),
    );
    println!(
        "medians of {} rounds: VictoriaMetrics direct {direct:.0} points/s plain, {direct_gzip:.0} gzipped; p2pmon's forwarder alone {forwarder:.0}; p2pmon compact {compact:.0}, without the fsync {unsynced:.0}, whole aggregator {whole:.0}",
        plan.runs
    );
    println!(
        "ratio embedded store / VictoriaMetrics direct: {:.2}x with JSON batches, {:.2}x with compact batches, {:.2}x compact without an fsync per commit (target 1.0x)",
        ours / direct,
        compact / direct,
        unsynced / direct
    );
    println!(
        "ratio forwarder alone / VictoriaMetrics direct: {:.2}x plain, {:.2}x gzipped (target 0.8x)",
        forwarder / direct,
        forwarder / direct_gzip
    );
    println!(
        "ratio whole aggregator (store, alert rule, feed clients) / VictoriaMetrics direct: {:.2}x (target 0.8x)",
        whole / direct
    );
    println!(
        "ratio store + InfluxDB forwarding / VictoriaMetrics direct: {:.2}x plain, {:.2}x gzipped",
        forwarded / direct,
        forwarded / direct_gzip
    );
    Ok(())
}
