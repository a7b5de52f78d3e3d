//! Plugins in Python and JavaScript next to Rust, in the same run
//! (criterion):
//! - `polyglot_load/<lang>`: `Runtime::load` of the file with wasmtime's
//!   compiled-code cache warm (read, hash, deserialise, contract check,
//!   link), what every agent start pays per plugin file;
//! - `polyglot_instantiate/<lang>`: a fresh instance from `InstancePre`, what
//!   a restart after a crash pays;
//! - `polyglot_collect/<lang>`: one collect call that reports one metric;
//! - printed before them: linear memory per instance, and the process's RSS
//!   growth over ten instances.
//!
//! The plugins: the hostile fixtures in `mode: ok` (Rust, Python, JS: each
//! reads one config value and reports one metric) and the Rust system plugin.
//! Python and JS are built from source by scripts/polyglot-build.sh (cached).
//!
//! Run: `make bench-polyglot` (or `cargo bench -p p2pmon-tests --bench polyglot`).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use p2pmon_agent::runtime::{Runtime, RuntimeOptions, Sandbox};
use p2pmon_tests::{build_wasm, workspace_root};

fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn polyglot_build(lang: &str, dir: &str) -> PathBuf {
    let root = workspace_root();
    let output = Command::new(root.join("scripts/polyglot-build.sh"))
        .arg(lang)
        .arg(root.join(dir))
        .output()
        .expect("scripts/polyglot-build.sh");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// (label, file, sandbox) of each plugin measured.
fn plugins() -> Vec<(&'static str, PathBuf, Sandbox)> {
    let ok = |grants: &[&str]| Sandbox {
        grants: grants
            .iter()
            .map(|g| g.parse().expect("capability"))
            .collect(),
        config: Arc::new(BTreeMap::from([("mode".to_string(), "ok".to_string())])),
        memory_limit_bytes: 256 << 20,
        time_limit: Duration::from_secs(10),
        access: Arc::default(),
    };
    vec![
        (
            "rust_system",
            build_wasm("p2pmon-plugin-system").expect("system plugin"),
            ok(&["system", "clock"]),
        ),
        (
            "rust",
            build_wasm("p2pmon-fixture-hostile").expect("hostile fixture"),
            ok(&["config"]),
        ),
        (
            "python",
            polyglot_build("python", "tests/fixtures/polyglot-hostile/python"),
            ok(&["config"]),
        ),
        (
            "js",
            polyglot_build("js", "tests/fixtures/polyglot-hostile/js"),
            ok(&["config"]),
        ),
    ]
}

fn options() -> RuntimeOptions {
    RuntimeOptions {
        cache_dir: Some(workspace_root().join("target/polyglot/compiled")),
        pooling: false,
    }
}

fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        })
        .map_or(0, |kb| kb << 10)
}

/// Memory per instance, printed: linear memory after one collect, and RSS
/// growth over ten live instances.
fn memory_report() {
    let rt = tokio();
    let runtime = Runtime::new(&options()).expect("runtime");
    eprintln!(
        "polyglot memory: linear memory per instance after one collect; RSS growth of 10 live instances / 10"
    );
    for (label, file, sandbox) in plugins() {
        let started = Instant::now();
        let plugin = runtime.load(&file).expect("load");
        let first_load = started.elapsed();
        let before = rss_bytes();
        let mut live = Vec::new();
        for _ in 0..10 {
            let mut instance = rt
                .block_on(runtime.instantiate(&plugin, Arc::from(label), &sandbox, Arc::default()))
                .expect("instantiate");
            rt.block_on(instance.collect()).expect("collect");
            live.push(instance);
        }
        let grown = rss_bytes().saturating_sub(before) / 10;
        eprintln!(
            "  {label:12} file {:>6.1} MiB  linear {:>6.1} MiB  rss/instance {:>6.1} MiB  (first load in this process {:?})",
            std::fs::metadata(&file).map_or(0, |m| m.len()) as f64 / 1048576.0,
            live[0].memory_bytes() as f64 / 1048576.0,
            grown as f64 / 1048576.0,
            first_load,
        );
    }
}

fn load(c: &mut Criterion) {
    memory_report();
    let mut group = c.benchmark_group("polyglot_load");
    group.sample_size(10);
    for (label, file, _) in plugins() {
        // Compile once so the cache is warm, as on every start but the first.
        Runtime::new(&options())
            .expect("runtime")
            .load(&file)
            .expect("load");
        group.bench_function(label, |b| {
            b.iter_custom(|iterations| {
                let mut spent = Duration::ZERO;
                for _ in 0..iterations {
                    let runtime = Runtime::new(&options()).expect("runtime");
                    let started = Instant::now();
                    black_box(runtime.load(&file).expect("load"));
                    spent += started.elapsed();
                }
                spent
            });
        });
    }
    group.finish();
}

fn instantiate(c: &mut Criterion) {
    let rt = tokio();
    let runtime = Runtime::new(&options()).expect("runtime");
    let mut group = c.benchmark_group("polyglot_instantiate");
    group.sample_size(20);
    for (label, file, sandbox) in plugins() {
        let plugin = runtime.load(&file).expect("load");
        group.bench_function(label, |b| {
            b.iter(|| {
                black_box(
                    rt.block_on(runtime.instantiate(
                        &plugin,
                        Arc::from(label),
                        &sandbox,
                        Arc::default(),
                    ))
                    .expect("instantiate"),
                )
            });
        });
    }
    group.finish();
}

fn collect(c: &mut Criterion) {
    let rt = tokio();
    let runtime = Runtime::new(&options()).expect("runtime");
    let mut group = c.benchmark_group("polyglot_collect");
    for (label, file, sandbox) in plugins() {
        let plugin = runtime.load(&file).expect("load");
        let mut instance = rt
            .block_on(runtime.instantiate(&plugin, Arc::from(label), &sandbox, Arc::default()))
            .expect("instantiate");
        group.bench_function(label, |b| {
            b.iter(|| black_box(rt.block_on(instance.collect()).expect("collect")));
        });
    }
    group.finish();
}

criterion_group!(benches, load, instantiate, collect);
criterion_main!(benches);
