//! Plugin runtime benchmarks (criterion):
//! - `collect_call/empty`: host-to-plugin call overhead of an empty collect,
//!   limits and epoch ticker included (target: under 5 us);
//! - `collect_call/system`: a real collect of the system plugin;
//! - `instantiate/on_demand` vs `instantiate/pooling`: a fresh instance from
//!   `InstancePre` (target: under 50 us), and whether the pooling allocator pays.
//!
//! Run: `make bench` (or `cargo bench -p p2pmon-tests --bench plugin_runtime`).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use p2pmon_agent::runtime::{Runtime, RuntimeOptions, Sandbox};
use p2pmon_tests::build_wasm;

fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn collect_call(c: &mut Criterion) {
    let rt = tokio();
    let runtime = Runtime::new(&RuntimeOptions::default()).expect("runtime");
    let mut group = c.benchmark_group("collect_call");
    for (label, package, grants) in [
        ("empty", "p2pmon-fixture-empty", vec![]),
        (
            "system",
            "p2pmon-plugin-system",
            vec!["system".parse().expect("capability")],
        ),
    ] {
        let plugin = runtime
            .load(&build_wasm(package).expect("build plugin"))
            .expect("load plugin");
        let sandbox = Sandbox {
            grants: grants.into_iter().collect(),
            ..Sandbox::inspect()
        };
        let mut instance = rt
            .block_on(runtime.instantiate(&plugin, Arc::from(label), &sandbox, Arc::default()))
            .expect("instantiate");
        group.bench_function(label, |b| {
            b.iter(|| black_box(rt.block_on(instance.collect()).expect("collect")));
        });
    }
    group.finish();
}

fn instantiate(c: &mut Criterion) {
    let rt = tokio();
    let mut group = c.benchmark_group("instantiate");
    for (label, pooling) in [("on_demand", false), ("pooling", true)] {
        let runtime = Runtime::new(&RuntimeOptions {
            cache_dir: None,
            pooling,
        })
        .expect("runtime");
        let plugin = runtime
            .load(&build_wasm("p2pmon-plugin-system").expect("build plugin"))
            .expect("load plugin");
        let sandbox = Sandbox::inspect();
        group.bench_function(label, |b| {
            b.iter(|| {
                black_box(
                    rt.block_on(runtime.instantiate(
                        &plugin,
                        Arc::from("bench"),
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

criterion_group!(benches, collect_call, instantiate);
criterion_main!(benches);
