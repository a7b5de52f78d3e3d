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
    assert_eq!(plugin.host().calls(), &["system.snapshot"]);
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
