//! One collect round of all four plugins (system, game, network,
//! anti-cheat) against the host simulator with 1,000 online players on 200
//! maps, through the real agent code and the local MariaDB.
//!
//! Run: `make bench-collect` (or `cargo bench -p p2pmon-tests --bench collect`).
//! Prints the criterion timing per round and the process's peak RSS, which
//! bounds the agent's (it also holds the simulator and criterion).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use p2pmon_hostsim::Incident;
use p2pmon_tests::world::{World, round};

const PLAYERS: u32 = 1_000;
const MAPS: usize = 200;

fn collect(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let (world, mut agent) = rt.block_on(async {
        let world = World::new("bench_collect").await.expect("simulated host");
        let maps: Vec<String> = (0..MAPS).map(|i| format!("p2p_map{i:03}")).collect();
        world.sim.populate(PLAYERS, &maps).await.expect("populate");
        for _ in 0..20 {
            world.sim.tick().await.expect("tick");
        }
        world
            .sim
            .inject(Incident::UnsupportedPacket, 5)
            .await
            .expect("inject");
        let plugins = format!(
            r#"  - name: system
    file: p2pmon_plugin_system.wasm
    capabilities: [system, clock]
{game}  - name: network
    file: p2pmon_plugin_network.wasm
    capabilities: [net, system, config, clock]
    grants: {{ net: ["{map}"] }}
    config: {{ aggregator: "{map}", map_server_port: {port} }}
{anticheat}"#,
            game = world.game_plugin(),
            anticheat = world.anticheat_plugin(""),
            map = world.map_server,
            port = world.map_server.port(),
        );
        let mut agent = world.agent("", &plugins).await.expect("agent");
        let records = round(&mut agent).await.expect("first round");
        assert!(records.len() > 2 * MAPS, "{} records", records.len());
        (world, agent)
    });

    let mut group = c.benchmark_group("collect");
    group.sample_size(30);
    group.bench_function("four_plugins_1000_players_200_maps", |b| {
        b.iter(|| black_box(rt.block_on(agent.collect_round())));
    });
    group.finish();

    println!(
        "peak RSS of the whole bench process: {:.1} MiB",
        peak_rss_mib()
    );
    rt.block_on(async {
        agent.close().await;
        world.close().await.expect("close");
    });
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

criterion_group!(benches, collect);
criterion_main!(benches);
