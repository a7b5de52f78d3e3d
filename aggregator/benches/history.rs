//! History reads from the embedded store's chunks and rollups, next to
//! VictoriaMetrics answering the same queries over the same points in the
//! same run.
//!
//! `make bench-history`. 1,000 hosts' `cpu_usage` every 60 s for 30 closed
//! days, and 20 more series of the first host (43.2 M + 0.9 M points,
//! values from `p2pmon_chunks::realistic`), written by the store's writer,
//! then sealed and compacted as the running aggregator does
//! (`store::upkeep::catch_up`: day chunks, minute rollups as rollup chunks).
//! Each query runs 100 times after 5 warm-up runs; p50 and p99 of the
//! store's read plus the JSON encoding of its answer (what the API does
//! before the socket), and of VictoriaMetrics' `/api/v1/query_range` (or
//! `/api/v1/export` for raw points) over HTTP, with the CPU each spent:
//!
//! - the 30-day chart of the 1,000 series (1 h rollups), as the dashboard
//!   asks it (`fields=avg`: a time and an average a point, in columns) and
//!   with every field (an object of five numbers a point);
//! - one host's series over 24 h (1 min rollups, from a rollup chunk);
//! - that host's 21 series over 24 h;
//! - one series' raw points of the last hour (from its day chunk).
//!
//! Knobs: HISTORY_BENCH_HOSTS (1000), HISTORY_BENCH_DAYS (30).

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use p2pmon_aggregator::api::responses::{self, Fields, History, HistoryBody};
use p2pmon_aggregator::store::{self, HistoryAsk, Options, Store, Tier, WriteJob};
use p2pmon_chunks::realistic;
use p2pmon_common::wire::{MetricKind, MetricRecord};

mod support;

use support::{Result, Victoria, cpu_seconds, http};

const DAY: i64 = 86_400_000;
const STEP: i64 = 60_000;
const RUNS: usize = 100;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One series: its host, name, and points.
struct Series {
    host: String,
    name: String,
    ts: Vec<i64>,
    values: Vec<f64>,
}

/// `cpu_usage` of every host, and 20 more series of host 0.
fn series(hosts: usize, start_ms: i64, points: usize) -> Vec<Series> {
    let specs = realistic::specs();
    let mut out = Vec::new();
    let one = |host: usize, index: usize, name: &str| {
        // Realistic values, 60 s apart with a few ms of collect jitter.
        let (_, values) = realistic::series(host, index, start_ms, points);
        let ts = (0..points as i64)
            .map(|i| start_ms + i * STEP + (i * 7 + host as i64) % 13)
            .collect();
        Series {
            host: format!("bench-{host:04}"),
            name: name.to_string(),
            ts,
            values,
        }
    };
    for host in 0..hosts {
        out.push(one(host, 0, "cpu_usage"));
    }
    for (index, spec) in specs.iter().enumerate().skip(1).take(20) {
        out.push(one(0, index, &format!("{}_{index}", spec.name)));
    }
    out
}

/// Write every series through the store (sealing off), then seal and
/// compact it all.
fn fill_store(path: &std::path::Path, all: &[Series], now_ms: i64) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let store = Store::open_with(
        path,
        Options {
            sealing: false,
            ..Options::default()
        },
    )?;
    let started = Instant::now();
    runtime.block_on(async {
        use futures_util::StreamExt;
        let mut seqs = std::collections::HashMap::<&str, u64>::new();
        let jobs = all.iter().flat_map(|s| {
            s.ts.chunks(500)
                .zip(s.values.chunks(500))
                .map(|(ts, values)| (s, ts, values))
                .collect::<Vec<_>>()
        });
        let jobs: Vec<WriteJob> = jobs
            .map(|(s, ts, values)| {
                let seq = seqs.entry(&s.host).or_default();
                *seq += 1;
                let mut job = WriteJob::new(Arc::from(s.host.as_str()), "s".to_string(), *seq, 0);
                job.metrics = ts
                    .iter()
                    .zip(values)
                    .map(|(t, v)| MetricRecord {
                        plugin: "system".to_string(),
                        name: s.name.clone(),
                        value: *v,
                        unit: "percent".to_string(),
                        kind: MetricKind::Gauge,
                        tags: Default::default(),
                        timestamp_ms: *t as u64,
                    })
                    .collect();
                job
            })
            .collect();
        let mut writes = futures_util::stream::iter(jobs.into_iter().map(|job| store.write(job)))
            .buffer_unordered(32);
        while let Some(outcome) = writes.next().await {
            outcome?;
        }
        store.close().await
    })?;
    eprintln!(
        "store: written in {:.1} s; sealing and compacting...",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let mut conn = store::schema::open(path)?;
    let done = store::upkeep::catch_up(&mut conn, now_ms, &mut |_| {})?;
    eprintln!(
        "store: {} points sealed, {} chunks compacted in {:.1} s",
        done.sealed_points,
        done.chunks_merged,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// VictoriaMetrics with the same points (imported, flushed).
fn fill_victoria(vm: &Victoria, all: &[Series]) -> Result<()> {
    let started = Instant::now();
    for group in all.chunks(50) {
        let mut body = Vec::new();
        for s in group {
            write!(
                body,
                "{{\"metric\":{{\"__name__\":\"{}\",\"host\":\"{}\"}},\"values\":[",
                s.name, s.host
            )?;
            let mut buffer = ryu::Buffer::new();
            for (i, v) in s.values.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(buffer.format(*v).as_bytes());
            }
            body.extend_from_slice(b"],\"timestamps\":[");
            for (i, t) in s.ts.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                write!(body, "{t}")?;
            }
            body.extend_from_slice(b"]}\n");
        }
        let (status, answer) = http(&vm.addr, "POST", "/api/v1/import", &body)?;
        if !(200..300).contains(&status) {
            return Err(format!("import: {status}: {answer:.300}").into());
        }
    }
    http(&vm.addr, "GET", "/internal/force_flush", b"")?;
    // Imported points become searchable after a flush and a short delay.
    std::thread::sleep(Duration::from_secs(3));
    eprintln!(
        "VictoriaMetrics: imported in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// p50 and p99 of `RUNS` timed calls (after 5 untimed), and the CPU
/// seconds process `pid` spent on the timed ones.
fn time(
    pid: u32,
    mut call: impl FnMut() -> Result<usize>,
) -> Result<(Duration, Duration, f64, usize)> {
    let mut size = 0;
    for _ in 0..5 {
        size = call()?;
    }
    let cpu = cpu_seconds(pid);
    let mut took: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            call().map(|_| started.elapsed())
        })
        .collect::<Result<_>>()?;
    let cpu = cpu_seconds(pid) - cpu;
    took.sort();
    Ok((took[RUNS / 2], took[RUNS * 99 / 100 - 1], cpu, size))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> Result<()> {
    let hosts = knob("HISTORY_BENCH_HOSTS", 1_000);
    let days = knob("HISTORY_BENCH_DAYS", 30) as i64;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let closed = now_ms - store::chunks::GRACE_MS;
    let end_ms = closed - closed.rem_euclid(DAY);
    let start_ms = end_ms - days * DAY;
    let points = (days * DAY / STEP) as usize;
    let all = series(hosts, start_ms, points);
    let total: usize = all.iter().map(|s| s.ts.len()).sum();
    eprintln!("{} series, {total} points over {days} days", all.len());

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("store.db");
    fill_store(&path, &all, now_ms)?;
    let vm_dir = tempfile::tempdir()?;
    let vm = Victoria::start(vm_dir.path())?;
    fill_victoria(&vm, &all)?;

    let conn = store::schema::open_read_only(&path)?;
    let ask = |metric: &str, host: Option<&str>, tier: Tier, from_ms: i64| HistoryAsk {
        metric: metric.to_string(),
        host: host.map(str::to_string),
        tier,
        from_ms,
        to_ms: end_ms,
        max_series: 1_000,
    };
    // The answer's JSON as the API writes it: an object per point, or
    // (`fields=avg`, what the dashboard's charts ask) columns.
    let read = |asks: &[HistoryAsk], fields: Option<Fields>| -> Result<usize> {
        let mut bytes = 0;
        for ask in asks {
            let series = store::history(&conn, ask)?;
            let answer = History {
                timeframe: "30d".to_string(),
                tier: ask.tier,
                from_ms: ask.from_ms,
                to_ms: ask.to_ms,
                metric: ask.metric.clone(),
                source: "embedded",
                influxdb_error: None,
                series: HistoryBody { fields, series },
            };
            bytes += responses::json(&answer)?.len();
        }
        Ok(bytes)
    };
    let avg = Some(Fields {
        avg: true,
        ..Fields::default()
    });
    let host0 = "bench-0000";
    let day_ago = end_ms - DAY;
    let host_series: Vec<HistoryAsk> = all
        .iter()
        .filter(|s| s.host == host0)
        .map(|s| ask(&s.name, Some(host0), Tier::Minute, day_ago))
        .collect();
    let (s, e) = (start_ms / 1000, end_ms / 1000 - 1);
    let (d, h) = (day_ago / 1000, (end_ms - 3_600_000) / 1000);
    let chart = format!(
        "/api/v1/query_range?query=avg_over_time(cpu_usage%5B1h%5D)&start={s}&end={e}&step=3600"
    );
    let cases: Vec<(String, Vec<HistoryAsk>, Option<Fields>, String)> = vec![
        (
            format!("30 days of {hosts} series (1 h), avg"),
            vec![ask("cpu_usage", None, Tier::Hour, start_ms)],
            avg,
            chart.clone(),
        ),
        (
            format!("30 days of {hosts} series (1 h), all"),
            vec![ask("cpu_usage", None, Tier::Hour, start_ms)],
            None,
            chart,
        ),
        (
            "one series, 24 h (1 min)".to_string(),
            vec![ask("cpu_usage", Some(host0), Tier::Minute, day_ago)],
            None,
            format!(
                "/api/v1/query_range?query=avg_over_time(cpu_usage%7Bhost%3D%22{host0}%22%7D%5B1m%5D)&start={d}&end={e}&step=60"
            ),
        ),
        (
            format!("one host's {} series, 24 h (1 min)", host_series.len()),
            host_series,
            None,
            format!(
                "/api/v1/query_range?query=avg_over_time(%7Bhost%3D%22{host0}%22%7D%5B1m%5D)&start={d}&end={e}&step=60"
            ),
        ),
        (
            "one series, raw, last hour".to_string(),
            vec![ask("cpu_usage", Some(host0), Tier::Raw, end_ms - 3_600_000)],
            None,
            format!(
                "/api/v1/export?match%5B%5D=cpu_usage%7Bhost%3D%22{host0}%22%7D&start={h}&end={e}"
            ),
        ),
    ];
    println!(
        "\nhistory reads, {RUNS} runs each: p50 / p99 (CPU seconds for the {RUNS}); answer bytes"
    );
    println!(
        "{:<42} {:>30} {:>30} {:>10}",
        "query", "store (read + JSON)", "VictoriaMetrics (HTTP)", "p99 ratio"
    );
    for (name, asks, fields, vm_query) in &cases {
        let ours = time(std::process::id(), || read(asks, *fields))?;
        let theirs = time(vm.pid(), || {
            let (status, body) = http(&vm.addr, "GET", vm_query, b"")?;
            if status != 200 || body.len() < 50 {
                return Err(format!("{vm_query}: {status} {body:.200}").into());
            }
            Ok(body.len())
        })?;
        println!(
            "{name:<42} {:>30} {:>30} {:>9.2}x",
            format!(
                "{:.2} / {:.2} ms ({:.2} s); {} B",
                ms(ours.0),
                ms(ours.1),
                ours.2,
                ours.3
            ),
            format!(
                "{:.2} / {:.2} ms ({:.2} s); {} B",
                ms(theirs.0),
                ms(theirs.1),
                theirs.2,
                theirs.3
            ),
            ours.1.as_secs_f64() / theirs.1.as_secs_f64()
        );
    }
    Ok(())
}
