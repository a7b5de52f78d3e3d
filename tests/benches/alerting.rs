//! Alerting measured two ways in one run, against the aggregator process.
//!
//! 1. What evaluating alert rules costs ingest. The same points from
//!    BENCH_HOSTS hosts go into a fresh aggregator with no alert rules, and
//!    into one with 20 metric rules that cover every metric the batches
//!    carry (two of them fire for a few hosts' series, the rest never do).
//!    The two alternate, BENCH_RUNS times each; the medians and the
//!    overhead of the rules are printed (target: under 10 %).
//! 2. How soon a notification leaves. BENCH_LAT_HOSTS hosts each send one
//!    point over a threshold, BENCH_LAT_INTERVAL_MS apart; a local HTTP
//!    server stands in for Discord and records when each host's
//!    notification arrives. p50, p99 and max of arrival minus the start of
//!    the batch's request are printed (target: p99 under 1 s). Delivery
//!    settings are left at their defaults (any wait to group alerts
//!    included), so the figure is what a default setup gets.
//!
//! Every point is checked in the store, every expected alert in the alerts
//! table, every notification at the receiver; a shortfall fails the run.
//!
//! `make bench-alerting`. Knobs: BENCH_HOSTS (1000), BENCH_BATCHES (4 per
//! host), BENCH_POINTS (500 per batch), BENCH_CONCURRENCY (32 requests in
//! flight), BENCH_RUNS (3 per variant), BENCH_LAT_HOSTS (200),
//! BENCH_LAT_INTERVAL_MS (5; 0 sends every batch at once).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use p2pmon_common::wire::Batch;
use p2pmon_tests::aggregator::{AggregatorProcess, metric, now_ms};
use p2pmon_tests::fake_http::{FakeHttp, Reply};
use p2pmon_tests::load::{self, knob, median};

/// Distinct metric names per batch, each with a rule in the rules variant.
const METRICS: usize = 20;
/// Series (values of the `series` tag) per metric and host.
const SERIES: usize = 5;

/// The rules that fire: (metric, series, every how many hosts, value,
/// duration in seconds, severity it fires at). `alerts_yml` gives them
/// these thresholds: warning 80, critical 95.
const FIRING: [(usize, usize, usize, f64, u64, &str); 2] = [
    (0, 0, 25, 90.0, 0, "warning"),
    (1, 1, 40, 97.0, 2, "critical"),
];

fn host_name(h: usize) -> String {
    format!("bench-{h:04}")
}

fn metric_name(m: usize) -> String {
    format!("bench_m{m:02}")
}

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

    /// Time steps (one second apart) per batch: every step carries each
    /// metric's series once, in order, until the batch is full.
    fn steps_per_batch(&self) -> usize {
        self.points.div_ceil(METRICS * SERIES)
    }

    /// Record `i` of a batch: (metric, series, step within the batch).
    fn slot(i: usize) -> (usize, usize, usize) {
        (i % METRICS, (i / METRICS) % SERIES, i / (METRICS * SERIES))
    }

    fn timestamp(&self, base_ms: u64, b: usize, step: usize) -> u64 {
        base_ms + ((b * self.steps_per_batch() + step) as u64) * 1000
    }

    /// The value of host `h`'s series at `step` (counted over all batches):
    /// between 20 and 70, where no rule fires, except the series that
    /// [`FIRING`] names on its hosts.
    fn value(h: usize, m: usize, s: usize, step: usize) -> f64 {
        for (metric, series, every, value, ..) in FIRING {
            if (m, s) == (metric, series) && h.is_multiple_of(every) {
                return value;
            }
        }
        20.0 + ((h * 7 + m * 13 + s * 3 + step * 11) % 50) as f64 + 0.25
    }

    fn batch(&self, h: usize, b: usize, base_ms: u64) -> Batch {
        let records = (0..self.points)
            .map(|i| {
                let (m, s, step) = Self::slot(i);
                let series = s.to_string();
                metric(
                    &metric_name(m),
                    Self::value(h, m, s, b * self.steps_per_batch() + step),
                    &[("series", series.as_str())],
                    self.timestamp(base_ms, b, step),
                )
            })
            .collect();
        Batch {
            host_id: host_name(h),
            stream: "bench".to_string(),
            seq: b as u64 + 1,
            created_ms: now_ms(),
            records,
        }
    }

    /// The alerts the rules variant must raise: (metric, severity) to
    /// count. A firing series fires once its points span its duration.
    fn expected_alerts(&self, base_ms: u64) -> BTreeMap<(String, String), u64> {
        let mut expected = BTreeMap::new();
        for (m, s, every, _, duration_s, severity) in FIRING {
            let stamps: Vec<u64> = (0..self.batches)
                .flat_map(|b| {
                    (0..self.points)
                        .map(Self::slot)
                        .filter(move |&(mm, ss, _)| (mm, ss) == (m, s))
                        .map(move |(.., step)| self.timestamp(base_ms, b, step))
                })
                .collect();
            let (Some(first), Some(last)) = (stamps.iter().min(), stamps.iter().max()) else {
                continue;
            };
            if last - first >= duration_s * 1000 {
                let hosts = (0..self.hosts).filter(|h| h.is_multiple_of(every)).count() as u64;
                expected.insert((metric_name(m), severity.to_string()), hosts);
            }
        }
        expected
    }
}

/// alerts.yml for a variant. Both turn off the silent-host rule, which
/// would otherwise fire for hosts waiting their turn in a long run.
fn alerts_yml(with_rules: bool) -> String {
    if !with_rules {
        return "alerts: {}\nno_data: { enabled: false }\n".to_string();
    }
    let mut yml = String::from("alerts:\n");
    for m in 0..METRICS {
        let firing = FIRING.iter().find(|f| f.0 == m);
        let rule = match firing {
            Some((.., duration, _)) => {
                format!("{{ warning: 80, critical: 95, duration: {duration} }}")
            }
            // Half watch for highs, half for lows, with varied durations;
            // the values stay between the two.
            None if m.is_multiple_of(2) => format!(
                "{{ warning: 80, critical: 95, duration: {}, recovery: {{ warning: 75 }} }}",
                [0, 30, 60, 300][m % 4]
            ),
            None => format!(
                "{{ warning: 10, critical: 5, direction: below, duration: {} }}",
                [0, 60, 120][m % 3]
            ),
        };
        yml.push_str(&format!("  {}: {rule}\n", metric_name(m)));
    }
    yml.push_str("no_data: { enabled: false }\n");
    yml
}

/// A fresh aggregator in `dir` with `alerts` as its alerts.yml, ingest
/// limits out of the way, `hosts` enrolled, started, and hellos said.
async fn start_aggregator(
    dir: &Path,
    alerts: &str,
    hosts: impl IntoIterator<Item = String>,
    client: &reqwest::Client,
    concurrency: usize,
) -> Result<(AggregatorProcess, Vec<(String, String)>)> {
    let alerts_path = dir.join("alerts.yml");
    std::fs::write(&alerts_path, alerts)?;
    let mut agg = AggregatorProcess::configure(
        Path::new(env!("CARGO_BIN_EXE_p2pmon-test-aggregator")),
        dir,
        &format!(
            "{}\nalerts_file: '{}'\n",
            load::UNLIMITED_INGEST,
            alerts_path.display()
        ),
    )?;
    let credentials = load::enroll(&agg, hosts)?;
    agg.start()?;
    load::hello_all(client, &agg.ingest_url(), &credentials, concurrency).await?;
    Ok((agg, credentials))
}

/// One ingest run's figures.
struct Run {
    points_per_s: f64,
    cpu_us_per_point: f64,
}

/// Ingest the pre-encoded `bodies` (per batch, per host) into a fresh
/// aggregator with or without the rules; check every point and alert.
async fn ingest_run(
    plan: &Plan,
    bodies: &[Vec<Vec<u8>>],
    with_rules: bool,
    expected: &BTreeMap<(String, String), u64>,
    label: &str,
) -> Result<Run> {
    let dir = tempfile::tempdir()?;
    let client = load::client(plan.concurrency)?;
    let (mut agg, credentials) = start_aggregator(
        dir.path(),
        &alerts_yml(with_rules),
        (0..plan.hosts).map(host_name),
        &client,
        plan.concurrency,
    )
    .await?;
    let ingest_url = agg.ingest_url();
    // Host-major rounds: every host's batch 1, then every host's batch 2, ...
    let requests = bodies
        .iter()
        .flat_map(|round| round.iter().zip(&credentials))
        .map(|(body, (_, credential))| {
            load::batch_request(&client, &ingest_url, credential, body.clone())
        })
        .collect();
    let pid = agg.pid().context("the aggregator is not running")?;
    let cpu_before = load::process_cpu(pid).unwrap_or(0.0);
    let (elapsed, acks) = load::fire(requests, plan.concurrency).await?;
    let cpu = load::process_cpu(pid).unwrap_or(0.0) - cpu_before;

    let total = plan.total() as u64;
    let stored = load::stored(&acks);
    if stored != total {
        bail!("{label}: the aggregator acknowledged {stored} of {total} points");
    }
    let counted = load::points_in_store(&agg)?;
    if counted != total {
        bail!("{label}: the store holds {counted} of {total} points");
    }
    // A clean shutdown saves every alert change before the check below.
    let status = agg.stop()?;
    if !status.success() {
        bail!(
            "{label}: the aggregator exited with {status}; see {}",
            dir.path().join("aggregator.log").display()
        );
    }
    let mut raised: BTreeMap<(String, String), u64> = BTreeMap::new();
    {
        let db = agg.db()?;
        let mut statement =
            db.prepare("SELECT rule, severity, COUNT(*) FROM alerts GROUP BY rule, severity")?;
        let rows = statement.query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))?;
        for row in rows {
            let (key, count): ((String, String), i64) = row?;
            raised.insert(key, count as u64);
        }
    }
    let want = if with_rules {
        expected.clone()
    } else {
        BTreeMap::new()
    };
    if raised != want {
        bail!("{label}: alerts raised {raised:?}, expected {want:?}");
    }

    let run = Run {
        points_per_s: total as f64 / elapsed.as_secs_f64(),
        cpu_us_per_point: cpu * 1e6 / total as f64,
    };
    let alerts: u64 = raised.values().sum();
    println!(
        "  {label}: {total} points in {:.2} s = {:.0} points/s, aggregator CPU {:.1} µs/point; every point stored, {alerts} alerts as expected",
        elapsed.as_secs_f64(),
        run.points_per_s,
        run.cpu_us_per_point,
    );
    Ok(run)
}

/// The machine's CPUs and 1-minute load average, with a warning when other
/// work is running: wall-clock figures are only comparable on a quiet machine.
fn machine_note() -> String {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load: f64 = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let busy = if load > cpus as f64 / 2.0 {
        " (busy: other work competes with the benchmark, expect noise)"
    } else {
        ""
    };
    format!("machine: {cpus} CPUs, load average {load:.2}{busy}")
}

async fn bench_ingest(plan: &Plan) -> Result<()> {
    let base_ms = now_ms() - 3_600_000;
    println!("{}", machine_note());
    println!(
        "alert evaluation on ingest: {} hosts x {} batches x {} points = {} points per run ({} metrics x {} series per host), {} requests in flight, {} runs per variant",
        plan.hosts,
        plan.batches,
        plan.points,
        plan.total(),
        METRICS,
        SERIES,
        plan.concurrency,
        plan.runs
    );
    let expected = plan.expected_alerts(base_ms);
    eprintln!("encoding {} points...", plan.total());
    let bodies = (0..plan.batches)
        .map(|b| {
            (0..plan.hosts)
                .map(|h| load::encode(&plan.batch(h, b, base_ms)))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;

    let (mut without, mut with) = (Vec::new(), Vec::new());
    for r in 1..=plan.runs {
        without.push(
            ingest_run(
                plan,
                &bodies,
                false,
                &expected,
                &format!("run {r}, no rules"),
            )
            .await?,
        );
        with.push(
            ingest_run(
                plan,
                &bodies,
                true,
                &expected,
                &format!("run {r}, {METRICS} rules"),
            )
            .await?,
        );
    }
    let rate = |runs: &[Run]| median(runs.iter().map(|r| r.points_per_s).collect());
    let cpu = |runs: &[Run]| median(runs.iter().map(|r| r.cpu_us_per_point).collect());
    let (a, b) = (rate(&without), rate(&with));
    let (cpu_a, cpu_b) = (cpu(&without), cpu(&with));
    println!(
        "no rules (median of {}): {a:.0} points/s, {cpu_a:.1} µs CPU/point",
        plan.runs
    );
    println!(
        "{METRICS} rules (median of {}): {b:.0} points/s, {cpu_b:.1} µs CPU/point",
        plan.runs
    );
    let overhead = (a - b) / a * 100.0;
    println!(
        "overhead of evaluating {METRICS} rules: {overhead:.1} % of throughput (target < 10 %: {}); {:.1} % more aggregator CPU per point",
        if overhead < 10.0 { "met" } else { "NOT met" },
        (cpu_b - cpu_a) / cpu_a * 100.0
    );
    // Each pair ran back to back, so its ratio shows the spread that the
    // machine's noise leaves in the figure above.
    let pairs: Vec<String> = without
        .iter()
        .zip(&with)
        .map(|(a, b)| {
            format!(
                "{:.1}",
                (a.points_per_s - b.points_per_s) / a.points_per_s * 100.0
            )
        })
        .collect();
    println!("  overhead per run pair: {} %", pairs.join(", "));
    Ok(())
}

/// The hosts a Discord message names: the host of each embed's title
/// ("[WARNING] lat_metric on <host>", perhaps followed by a count) and
/// each `Host` field. A body in another shape is searched for host names
/// (`lat-` and four digits).
fn hosts_named(body: &str) -> Vec<String> {
    let mut hosts = Vec::new();
    if let Ok(message) = serde_json::from_str::<serde_json::Value>(body) {
        for embed in message["embeds"].as_array().into_iter().flatten() {
            let title = embed["title"].as_str().unwrap_or("");
            if let Some((_, rest)) = title.rsplit_once(" on ")
                && let Some(host) = rest.split_whitespace().next()
            {
                hosts.push(host.to_string());
            }
            for field in embed["fields"].as_array().into_iter().flatten() {
                if field["name"] == "Host"
                    && let Some(host) = field["value"].as_str()
                {
                    hosts.push(host.to_string());
                }
            }
        }
    }
    if hosts.is_empty() {
        let mut rest = body;
        while let Some(at) = rest.find("lat-") {
            let name: String = rest[at..].chars().take(8).collect();
            if name.len() == 8 && name[4..].bytes().all(|c| c.is_ascii_digit()) {
                hosts.push(name);
            }
            rest = &rest[at + 4..];
        }
    }
    hosts.sort();
    hosts.dedup();
    hosts
}

/// The nearest-rank percentile `p` (0 to 1) of sorted `values`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

async fn bench_latency(hosts: usize, interval: Duration, concurrency: usize) -> Result<()> {
    println!(
        "notification latency: {hosts} hosts each send one point over lat_metric's warning threshold, {} ms apart; Discord webhook on a local server",
        interval.as_millis()
    );
    let discord = FakeHttp::start(|_, _| Reply::status(204)).await?;
    let webhook = format!("{}/discord", discord.base);

    let dir = tempfile::tempdir()?;
    let client = load::client(concurrency)?;
    let alerts = format!(
        "alerts:\n  lat_metric: {{ warning: 50, duration: 0 }}\nno_data: {{ enabled: false }}\nnotifications:\n  discord: {{ enabled: true, webhook_url: '{webhook}' }}\n"
    );
    let (mut agg, credentials) = start_aggregator(
        dir.path(),
        &alerts,
        (0..hosts).map(|h| format!("lat-{h:04}")),
        &client,
        concurrency,
    )
    .await?;
    let ingest_url = agg.ingest_url();

    // Encode first, then send each batch in its own slot.
    let first = tokio::time::Instant::now() + Duration::from_millis(200);
    let mut sends = Vec::with_capacity(hosts);
    for (i, (host, credential)) in credentials.iter().enumerate() {
        let batch = Batch {
            host_id: host.clone(),
            stream: "bench".to_string(),
            seq: 1,
            created_ms: now_ms(),
            records: vec![metric("lat_metric", 75.0, &[], now_ms())],
        };
        let request = load::batch_request(&client, &ingest_url, credential, load::encode(&batch)?);
        let slot = first + interval * i as u32;
        let host = host.clone();
        sends.push(tokio::spawn(async move {
            tokio::time::sleep_until(slot).await;
            let sent = Instant::now();
            let response = request.send().await?;
            let status = response.status();
            let ack: serde_json::Value = response.json().await.unwrap_or_default();
            if !status.is_success() || ack["stored"] != 1 {
                bail!("{host}: the batch was not stored ({status}: {ack})");
            }
            Ok((host, sent))
        }));
    }
    let mut sent_at = HashMap::with_capacity(hosts);
    for send in sends {
        let (host, sent) = send.await??;
        sent_at.insert(host, sent);
    }

    // Wait until every host's notification is in.
    let deadline = Instant::now() + Duration::from_secs(30);
    let arrived = loop {
        let mut arrived: HashMap<String, Instant> = HashMap::new();
        for request in discord.on("/discord") {
            for host in hosts_named(&request.body) {
                if arrived.insert(host.clone(), request.at).is_some() {
                    bail!("{host} was notified more than once");
                }
            }
        }
        if sent_at.keys().all(|host| arrived.contains_key(host)) {
            break arrived;
        }
        if Instant::now() > deadline {
            let mut missing: Vec<&String> = sent_at
                .keys()
                .filter(|h| !arrived.contains_key(*h))
                .collect();
            missing.sort();
            bail!(
                "{} of {hosts} notifications did not arrive within 30 s of the last send (e.g. {:?}); see {}",
                missing.len(),
                &missing[..missing.len().min(5)],
                dir.path().join("aggregator.log").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    if let Some(stranger) = arrived.keys().find(|h| !sent_at.contains_key(*h)) {
        bail!("a notification names {stranger}, which sent nothing");
    }
    let mut latencies: Vec<Duration> = sent_at
        .iter()
        .map(|(host, sent)| arrived[host].saturating_duration_since(*sent))
        .collect();
    latencies.sort();
    let requests = discord.on("/discord").len();
    agg.stop()?;

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p99 = percentile(&latencies, 0.99);
    println!(
        "  {hosts} of {hosts} notifications arrived, one per host, in {requests} webhook requests"
    );
    println!(
        "  from batch send to webhook request: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target p99 < 1 s: {})",
        ms(percentile(&latencies, 0.5)),
        ms(p99),
        ms(latencies[latencies.len() - 1]),
        if p99 < Duration::from_secs(1) {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(())
}

fn main() -> Result<()> {
    let plan = Plan {
        hosts: knob("BENCH_HOSTS", 1000),
        batches: knob("BENCH_BATCHES", 4),
        points: knob("BENCH_POINTS", 500),
        concurrency: knob("BENCH_CONCURRENCY", 32),
        runs: knob("BENCH_RUNS", 3),
    };
    if plan.hosts == 0 || plan.batches == 0 || plan.points == 0 || plan.runs == 0 {
        bail!("BENCH_HOSTS, BENCH_BATCHES, BENCH_POINTS and BENCH_RUNS must be at least 1");
    }
    let latency_hosts = knob("BENCH_LAT_HOSTS", 200);
    if latency_hosts == 0 || latency_hosts > 10_000 {
        bail!("BENCH_LAT_HOSTS must be between 1 and 10000");
    }
    let interval = Duration::from_millis(knob("BENCH_LAT_INTERVAL_MS", 5) as u64);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench_ingest(&plan))?;
    runtime.block_on(bench_latency(latency_hosts, interval, plan.concurrency))?;
    Ok(())
}
