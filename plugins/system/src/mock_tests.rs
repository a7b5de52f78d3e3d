//! The plugin run natively against the SDK's mock host.

use p2pmon_plugin_sdk::testing::Harness;
use p2pmon_plugin_sdk::{Capability, Unit};

use super::SystemPlugin;

#[test]
fn reports_the_mock_machine() {
    let mut plugin = Harness::<SystemPlugin>::new();
    // 4 cores at 25 %, 8 GiB half used, / 40 % used, eth0 1 MB/s in.
    let out = plugin.collect().expect("collect");
    let value = |name: &str| out.metric(name).map(|m| m.value());
    assert_eq!(value("cpu_usage"), Some(25.0));
    assert_eq!(value("memory_usage"), Some(50.0));
    assert_eq!(value("swap_usage"), Some(0.0));
    assert_eq!(value("uptime"), Some(3600.0));
    assert_eq!(value("process_count"), Some(120.0));
    let disk = out.metric("disk_usage").expect("disk");
    assert_eq!(disk.tag_value("mount"), Some("/"));
    assert!((disk.value() - 40.0).abs() < 1e-9);
    let rx = out
        .metrics_named("network_io")
        .find(|m| m.tag_value("direction") == Some("rx"))
        .expect("rx");
    assert_eq!((rx.tag_value("interface"), rx.value()), (Some("eth0"), 1e6));
    assert_eq!(plugin.host().calls(), &["system.snapshot", "host.now-ms"]);
    assert_eq!(
        plugin.info().metric_spec("network_io").map(|m| m.unit()),
        Some(Unit::BytesPerSecond)
    );
}

#[test]
fn an_empty_machine_divides_by_nothing() {
    let mut plugin = Harness::<SystemPlugin>::new();
    plugin.host().edit_snapshot(|s| {
        if let Some(memory) = &mut s.memory {
            memory.total_bytes = 0;
            memory.swap_total_bytes = 0;
        }
    });
    let out = plugin.collect().expect("collect");
    assert_eq!(out.metric("memory_usage").map(|m| m.value()), Some(0.0));
    plugin.host().deny(Capability::System);
    let error = plugin.collect().expect_err("denied");
    assert_eq!(error, "capability `system` not granted");
}

#[test]
fn network_io_covers_the_whole_interval_between_collects() {
    let mut plugin = Harness::<SystemPlugin>::new();
    let rx = |out: &p2pmon_plugin_sdk::Collection| {
        out.metrics_named("network_io")
            .find(|m| m.tag_value("direction") == Some("rx"))
            .map(|m| m.value())
    };
    plugin.host().now_ms(1_000_000);
    // First collect: the host's own short-window rate.
    assert_eq!(rx(&plugin.collect().expect("collect")), Some(1e6));
    // 10 s later, 30 MB more: 3 MB/s over the interval, whatever the host's
    // short window says.
    plugin
        .host()
        .now_ms(1_010_000)
        .edit_snapshot(|s| s.networks[0].rx_bytes += 30_000_000);
    assert_eq!(rx(&plugin.collect().expect("collect")), Some(3e6));
    // Without the clock grant: the host's rate, as before.
    plugin.host().deny(Capability::Clock);
    assert_eq!(rx(&plugin.collect().expect("collect")), Some(1e6));
}
