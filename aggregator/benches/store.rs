//! Bytes per point of the chunk codecs on realistic data, next to
//! VictoriaMetrics storing the same points in the same run.
//!
//! `make bench-store`. 100 hosts x 50 realistic series (see
//! `p2pmon_chunks::realistic`), 24 h at 5 s: every series is cut into
//! chunks of 1 h, 2 h and the whole span and encoded with each codec
//! (Gorilla-style and pco, each with and without the decimal pre-pass),
//! decoded again and compared bit for bit; encode and decode rates are
//! timed. Then the same points go through the embedded store itself
//! (`p2pmon_aggregator::store::Store`: the writer thread, batches of 500
//! points, 32 in flight), a 2 h window of every host at a time, waiting
//! after each window for the writer's own background sealing; once the day
//! is compacted (one chunk per series, the minute rollups folded), the file
//! is measured as it is and vacuumed. The same points are imported into a
//! VictoriaMetrics started here (Debian's `victoria-metrics`, as
//! `tests/src/victoria.rs` runs it), flushed and force-merged; both are
//! measured on disk (apparent file sizes).
//!
//! Knobs: STORE_BENCH_HOSTS (100), STORE_BENCH_HOURS (24), STORE_BENCH_VM
//! (1; 0 skips VictoriaMetrics), STORE_BENCH_STORE (1; 0 skips the store).

use std::io::Write;
use std::time::{Duration, Instant};

use p2pmon_aggregator::store::{self, Store, WriteJob};
use p2pmon_chunks::{Codec, Config, decode, encode, realistic};
use p2pmon_common::wire::{MetricKind, MetricRecord};

mod support;

use support::{Result, Victoria, cpu_seconds, dir_bytes, http};

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const CONFIGS: [(&str, Config); 4] = [
    (
        "gorilla",
        Config {
            codec: Codec::Gorilla,
            decimal: false,
        },
    ),
    (
        "gorilla+decimal",
        Config {
            codec: Codec::Gorilla,
            decimal: true,
        },
    ),
    (
        "pco",
        Config {
            codec: Codec::Pco,
            decimal: false,
        },
    ),
    (
        "pco+decimal",
        Config {
            codec: Codec::Pco,
            decimal: true,
        },
    ),
];

#[derive(Default, Clone, Copy)]
struct Tally {
    bytes: u64,
    chunks: u64,
    encode: Duration,
    decode: Duration,
}

fn main() -> Result<()> {
    // `cargo bench` passes --bench; nothing else is taken.
    let hosts = knob("STORE_BENCH_HOSTS", 100);
    let hours = knob("STORE_BENCH_HOURS", 24);
    let with_vm = knob("STORE_BENCH_VM", 1) == 1;
    let with_store = knob("STORE_BENCH_STORE", 1) == 1;
    let points = hours * 3_600_000 / realistic::STEP_MS as usize;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    // Whole days that closed (with the store's grace) before now, so that
    // the store seals and compacts all of it.
    let day = 86_400_000;
    let closed = now_ms - store::chunks::GRACE_MS;
    let start_ms = closed - closed.rem_euclid(day) - (hours as i64 + 23) / 24 * day;
    let total = (hosts * realistic::SERIES_PER_HOST * points) as f64;
    eprintln!(
        "{hosts} hosts x {} series x {points} points ({total:.0} points)",
        realistic::SERIES_PER_HOST
    );

    let spans = [(720usize, "1 h"), (1440, "2 h"), (points, "whole")];
    let mut tallies = [[Tally::default(); 4]; 3];
    let mut exponents = std::collections::BTreeMap::<String, usize>::new();
    // What the timestamp column alone costs: the same timestamps with
    // constant values (whose column is then a few bytes).
    let mut timestamp_bytes = [0u64; 4];
    for host in 0..hosts {
        for index in 0..realistic::SERIES_PER_HOST {
            let (ts, values) = realistic::series(host, index, start_ms, points);
            let zeros = vec![0.0; ts.len()];
            for (c, (_, config)) in CONFIGS.iter().enumerate() {
                timestamp_bytes[c] += encode(*config, &ts, &zeros)?.len() as u64;
            }
            for (s, (span, _)) in spans.iter().enumerate() {
                for (c, (_, config)) in CONFIGS.iter().enumerate() {
                    let tally = &mut tallies[s][c];
                    for (t, v) in ts.chunks(*span).zip(values.chunks(*span)) {
                        let started = Instant::now();
                        let chunk = encode(*config, t, v)?;
                        tally.encode += started.elapsed();
                        let started = Instant::now();
                        let back = decode(&chunk)?;
                        tally.decode += started.elapsed();
                        if back.timestamps != t
                            || back
                                .values
                                .iter()
                                .zip(v)
                                .any(|(a, b)| a.to_bits() != b.to_bits())
                        {
                            return Err(format!(
                                "{config:?} lost points of host {host} series {index}"
                            )
                            .into());
                        }
                        if s == 2 && c == 3 {
                            let header = p2pmon_chunks::header(&chunk)?;
                            let key = match header.exponent {
                                Some(e) => format!("decimal 10^-{e}"),
                                None => "floats".to_string(),
                            };
                            *exponents.entry(key).or_default() += 1;
                        }
                        tally.bytes += chunk.len() as u64;
                        tally.chunks += 1;
                    }
                }
            }
        }
    }
    println!("\nchunk codecs: bytes per point (encoded bytes only), encode / decode in M points/s");
    println!(
        "{:<18} {:>22} {:>22} {:>22}",
        "codec", spans[0].1, spans[1].1, spans[2].1
    );
    for (c, (name, _)) in CONFIGS.iter().enumerate() {
        let cells: Vec<String> = (0..3)
            .map(|s| {
                let t = tallies[s][c];
                format!(
                    "{:.3} ({:.0}/{:.0})",
                    t.bytes as f64 / total,
                    total / t.encode.as_secs_f64() / 1e6,
                    total / t.decode.as_secs_f64() / 1e6
                )
            })
            .collect();
        println!(
            "{name:<18} {:>22} {:>22} {:>22}",
            cells[0], cells[1], cells[2]
        );
    }
    println!(
        "of which timestamps (whole span, same timestamps with constant values): {}",
        CONFIGS
            .iter()
            .zip(timestamp_bytes)
            .map(|((name, _), b)| format!("{name} {:.3}", b as f64 / total))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("value modes picked by pco+decimal on whole-span chunks: {exponents:?}");

    let stored = if with_store {
        Some(store_bytes(hosts, start_ms, points)?)
    } else {
        None
    };
    if let Some(stored) = &stored {
        println!(
            "\nthe embedded store, after sealing and compaction: file {} bytes, {:.3} bytes per point ({} free pages); vacuumed {} bytes, {:.3} bytes per point",
            stored.file,
            stored.file as f64 / total,
            stored.free_pages,
            stored.vacuumed,
            stored.vacuumed as f64 / total
        );
        println!(
            "  writes {:.0} points/s, building the records included ({:.1} s); waits for sealing after each window {:.1} s in all, for compaction {:.1} s; CPU {:.1} s",
            total / stored.write.as_secs_f64(),
            stored.write.as_secs_f64(),
            stored.seal.as_secs_f64(),
            stored.compact.as_secs_f64(),
            stored.cpu_s
        );
    }
    if with_vm {
        let (all, data) = victoria_bytes(hosts, start_ms, points)?;
        println!(
            "VictoriaMetrics after flush and force merge: {all} bytes, {:.3} bytes per point ({:.3} in data/, the rest indexdb)",
            all as f64 / total,
            data as f64 / total
        );
        if let Some(stored) = &stored {
            println!(
                "ratio to VictoriaMetrics (whole dir): the store's file {:.2}x, vacuumed {:.2}x",
                stored.file as f64 / all as f64,
                stored.vacuumed as f64 / all as f64
            );
        }
        println!(
            "ratio to VictoriaMetrics (whole dir), encoded chunks alone: {}",
            CONFIGS
                .iter()
                .enumerate()
                .map(|(c, (name, _))| format!(
                    "{name} {:.2}x (2 h chunks {:.2}x)",
                    tallies[2][c].bytes as f64 / all as f64,
                    tallies[1][c].bytes as f64 / all as f64
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// What the embedded store did with the points.
struct Stored {
    file: u64,
    free_pages: i64,
    vacuumed: u64,
    write: Duration,
    seal: Duration,
    compact: Duration,
    cpu_s: f64,
}

/// Write every host's points through the store a 2 h window at a time (batches
/// of 500 points, 32 in flight), let its background sealing catch up after
/// each, wait for the day's compaction, and measure the file.
fn store_bytes(hosts: usize, start_ms: i64, points: usize) -> Result<Stored> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("store.db");
    let runtime = tokio::runtime::Runtime::new()?;
    let specs = realistic::specs();
    eprintln!("store: generating the series...");
    let data: Vec<Vec<(Vec<i64>, Vec<f64>)>> = (0..hosts)
        .map(|host| {
            (0..realistic::SERIES_PER_HOST)
                .map(|index| realistic::series(host, index, start_ms, points))
                .collect()
        })
        .collect();
    let cpu = cpu_seconds(std::process::id());
    let (mut write, mut seal) = (Duration::ZERO, Duration::ZERO);
    let store = Store::open(&path)?;
    let window = 1_440;
    let per_batch = 10;
    let mut seq = vec![0u64; hosts];
    for first in (0..points).step_by(window) {
        let last = (first + window).min(points);
        let started = Instant::now();
        runtime.block_on(async {
            use futures_util::StreamExt;
            let mut jobs = Vec::new();
            for (host, series) in data.iter().enumerate() {
                for step in (first..last).step_by(per_batch) {
                    seq[host] += 1;
                    let mut job = WriteJob::new(
                        std::sync::Arc::from(format!("bench-{host:04}")),
                        "s".to_string(),
                        seq[host],
                        0,
                    );
                    for (spec, (ts, values)) in specs.iter().zip(series) {
                        for i in step..(step + per_batch).min(last) {
                            job.metrics.push(MetricRecord {
                                plugin: spec.plugin.to_string(),
                                name: spec.name.to_string(),
                                value: values[i],
                                unit: String::new(),
                                kind: MetricKind::Gauge,
                                tags: spec
                                    .tags
                                    .iter()
                                    .map(|(k, v)| (k.to_string(), v.to_string()))
                                    .collect(),
                                timestamp_ms: ts[i] as u64,
                            });
                        }
                    }
                    jobs.push(job);
                }
            }
            let mut writes =
                futures_util::stream::iter(jobs.into_iter().map(|job| store.write(job)))
                    .buffer_unordered(32);
            while let Some(outcome) = writes.next().await {
                outcome?;
            }
            Ok::<_, store::StoreError>(())
        })?;
        write += started.elapsed();
        let started = Instant::now();
        while store.figures.head_points.get() > 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        seal += started.elapsed();
        eprintln!(
            "store: {last} of {points} steps written; sealed {} points in {} chunks",
            store.figures.sealed_points.get(),
            store.figures.chunks.get()
        );
    }
    let started = Instant::now();
    let series = (hosts * realistic::SERIES_PER_HOST) as u64;
    let reader = store::schema::open_read_only(&path)?;
    loop {
        let (level0, level1): (i64, i64) = reader.query_row(
            "SELECT (SELECT COUNT(*) FROM chunks WHERE level = 0), (SELECT COUNT(*) FROM chunks WHERE level = 1)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if level0 == 0 && level1 as u64 >= series {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let compact = started.elapsed();
    drop(reader);
    let sealed = store.figures.sealed_points.get();
    if sealed != (hosts * realistic::SERIES_PER_HOST * points) as u64 {
        return Err(format!("the store sealed {sealed} points").into());
    }
    runtime.block_on(store.close())?;
    drop(store);
    let cpu_s = cpu_seconds(std::process::id()) - cpu;
    let file = std::fs::metadata(&path)?.len();
    let conn = rusqlite::Connection::open(&path)?;
    let free_pages: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    conn.execute_batch("VACUUM")?;
    drop(conn);
    Ok(Stored {
        file,
        free_pages,
        vacuumed: std::fs::metadata(&path)?.len(),
        write,
        seal,
        compact,
        cpu_s,
    })
}

/// Import the same points into a VictoriaMetrics of its own, flush and
/// force-merge it, and measure its directory: (all, data/ only).
fn victoria_bytes(hosts: usize, start_ms: i64, points: usize) -> Result<(u64, u64)> {
    let dir = tempfile::tempdir()?;
    let vm = Victoria::start(dir.path())?;
    let addr = vm.addr.clone();
    eprintln!("VictoriaMetrics: importing...");
    let started = Instant::now();
    let specs = realistic::specs();
    for host in 0..hosts {
        // One JSON line per series, as /api/v1/import takes them.
        let mut body = Vec::with_capacity(points * realistic::SERIES_PER_HOST * 32);
        for (index, spec) in specs.iter().enumerate() {
            let (ts, values) = realistic::series(host, index, start_ms, points);
            write!(
                body,
                "{{\"metric\":{{\"__name__\":\"{}\",\"host\":\"bench-{host:04}\"",
                spec.name
            )?;
            for (k, v) in &spec.tags {
                write!(body, ",\"{k}\":\"{v}\"")?;
            }
            body.extend_from_slice(b"},\"values\":[");
            let mut buffer = ryu::Buffer::new();
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(buffer.format(*v).as_bytes());
            }
            body.extend_from_slice(b"],\"timestamps\":[");
            for (i, t) in ts.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                write!(body, "{t}")?;
            }
            body.extend_from_slice(b"]}\n");
        }
        let (status, answer) = http(&addr, "POST", "/api/v1/import", &body)?;
        if !(200..300).contains(&status) {
            return Err(format!("import: {status}: {answer:.300}").into());
        }
    }
    eprintln!(
        "VictoriaMetrics: imported in {:.1} s; flushing and merging...",
        started.elapsed().as_secs_f64()
    );
    http(&addr, "GET", "/internal/force_flush", b"")?;
    let (status, answer) = http(&addr, "GET", "/internal/force_merge", b"")?;
    if status != 200 {
        return Err(format!("force_merge: {status}: {answer:.300}").into());
    }
    // Merges run in the background: wait for none active and a size that
    // holds still.
    let mut last = 0;
    let mut still = 0;
    let deadline = Instant::now() + Duration::from_secs(900);
    while still < 3 {
        std::thread::sleep(Duration::from_secs(2));
        let (_, metrics) = http(&addr, "GET", "/metrics", b"")?;
        let active: f64 = metrics
            .lines()
            .filter(|l| l.starts_with("vm_active_merges"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        let size = dir_bytes(dir.path());
        still = if active == 0.0 && size == last {
            still + 1
        } else {
            0
        };
        last = size;
        if Instant::now() > deadline {
            return Err("victoria-metrics kept merging".into());
        }
    }
    // Every point must be there before its size means anything.
    let query = format!(
        "/api/v1/query?query=sum(count_over_time(%7Bhost%3D~%22bench-.*%22%7D%5B{}h%5D))&time={}",
        (points as i64 * realistic::STEP_MS / 3_600_000) + 2,
        (start_ms + points as i64 * realistic::STEP_MS) / 1000 + 60
    );
    let (_, answer) = http(&addr, "GET", &query, b"")?;
    let counted = answer
        .rsplit_once(",\"")
        .and_then(|(_, rest)| rest.split('"').next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0);
    let expected = (hosts * realistic::SERIES_PER_HOST * points) as f64;
    if counted != expected {
        return Err(format!(
            "VictoriaMetrics holds {counted} points, {expected} were sent: {answer:.300}"
        )
        .into());
    }
    Ok((dir_bytes(dir.path()), dir_bytes(&dir.path().join("data"))))
}
