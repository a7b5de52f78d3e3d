//! The plugin run natively against the SDK's mock host.

use p2pmon_plugin_sdk::net::TcpProbe;
use p2pmon_plugin_sdk::system::PortConnections;
use p2pmon_plugin_sdk::testing::Harness;

use super::NetworkPlugin;

#[test]
fn probes_the_aggregator_and_counts_map_server_connections() {
    let mut plugin = Harness::<NetworkPlugin>::new();
    plugin
        .host()
        .config("aggregator", "monitor.example:5123")
        .tcp_probe(TcpProbe {
            target: "monitor.example:5123".to_string(),
            connected: true,
            connect_ms: 12.5,
            error: None,
        })
        .port(PortConnections {
            port: 5121,
            listening: 1,
            established: 3,
            syn_received: 0,
            time_wait: 0,
            close_wait: 0,
            top_remotes: vec![("198.51.100.7".to_string(), 2)],
        });
    let out = plugin.collect().expect("collect");
    let aggregator = |name: &str| {
        out.metrics_named(name)
            .find(|m| m.tag_value("target") == Some("aggregator"))
            .map(|m| m.value())
    };
    assert_eq!(aggregator("target_up"), Some(1.0));
    assert_eq!(aggregator("network_latency"), Some(12.5));
    assert_eq!(out.metric("connection_count").map(|m| m.value()), Some(3.0));
    assert!(plugin.host().calls().contains(&"net.tcp-connect"));
}

#[test]
fn a_refused_probe_is_an_event_not_a_failed_collect() {
    let mut plugin = Harness::<NetworkPlugin>::new();
    // No probe result set: the mock refuses the target as ungranted.
    plugin.host().config("aggregator", "monitor.example:5123");
    let out = plugin.collect().expect("collect");
    let event = out.first_event("probe_failed").expect("event");
    assert!(
        event
            .field_value("error")
            .is_some_and(|e| e.contains("monitor.example:5123")),
        "{event:?}"
    );
}
