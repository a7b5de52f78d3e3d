//! The network plugin: how well this host reaches the rest of the network,
//! and what reaches its map-server.
//!
//! - `network_latency`, `packet_loss` (percent) and `network_jitter` per
//!   `target`: UDP echo round trips to peer hosts (their agents answer on
//!   `net.echo_listen`); TCP connect time to the `aggregator` and the
//!   `coordinator`, with `target_up` 1/0; `peer_service_up` 1/0 per peer:
//!   whether a port the peer's own services keep open (its map-server's)
//!   accepts a TCP connection, so the aggregator can tell a stopped agent
//!   (whose echo responder stops with it) from a host that is offline;
//! - `bandwidth_usage` per interface and direction (bytes/s, over the time
//!   since the plugin's last collect, so the rate covers its interval);
//! - `connection_count` (established) and `connections_half_open` on the
//!   map-server port, `new_connection_rate` (accepted per second),
//!   `tcp_retransmit_rate` (percent of segments sent) and `network_error_rate`
//!   (errors per second);
//! - events `connection_flood` (one address holding many connections) and
//!   `syn_flood` (many half-open handshakes).
//!
//! Config (all optional): `aggregator`, `coordinator` (`host:port`), `peers`
//! (`id=host:port,...`, their echo responders), `peer_service_port` (the
//! port probed on each peer's host; default `map_server_port`, 0 = none),
//! `peer_services` (`id=host:port,...`, per peer, over `peer_service_port`),
//! `echo_count` (5), `echo_spacing_ms` (20), `timeout_ms` (500),
//! `map_server_port` (5121), `flood_connections` (50 per address),
//! `syn_flood` (200 half-open).
//!
//! Time: the TCP probes wait at most `timeout_ms`, the echoes
//! `(echo_count - 1) * echo_spacing_ms` plus `timeout_ms` after the last one;
//! the defaults take at most 1.1 s of the agent's 2 s limit. The agent also
//! ends every probe call before the plugin's time limit, so a dead or lossy
//! link shows as a target down or as loss, never as a crashed collect.

use p2pmon_plugin_sdk::host::config_or;
use p2pmon_plugin_sdk::rates::IntervalRates;
use p2pmon_plugin_sdk::{
    Capability, Collection, MetricSpec, Plugin, PluginInfo, Severity, Unit, export_plugin, host,
    net, system,
};

#[derive(Default)]
pub struct NetworkPlugin {
    settings: Option<Settings>,
    /// The probe error last reported: the same one is not repeated.
    probe_error: Option<String>,
    previous: Option<(u64, system::ProtocolStats)>,
    /// Byte counters per interface at the last collect, for rates over the
    /// plugin's own interval.
    traffic: IntervalRates<(String, &'static str)>,
}

/// An interface's name and its received and sent byte counters.
struct Settings {
    tcp_targets: Vec<(String, String)>,
    peers: Vec<(String, String)>,
    /// Peer id and `host:port` of a service port on its host.
    services: Vec<(String, String)>,
    echo_count: u32,
    echo_spacing_ms: u32,
    timeout_ms: u32,
    map_server_port: u16,
    flood_connections: u32,
    syn_flood: u32,
}

impl Settings {
    fn load() -> Result<Self, String> {
        let mut tcp_targets = Vec::new();
        for name in ["aggregator", "coordinator"] {
            let target: String = config_or(name, String::new())?;
            if !target.is_empty() {
                tcp_targets.push((name.to_string(), target));
            }
        }
        let peers = parse_peers(&config_or::<String>("peers", String::new())?)?;
        let map_server_port: u16 = config_or("map_server_port", 5121)?;
        let service_port: u16 = config_or("peer_service_port", map_server_port)?;
        let explicit = parse_peers(&config_or::<String>("peer_services", String::new())?)?;
        let services = peer_services(&peers, service_port, explicit);
        Ok(Self {
            tcp_targets,
            peers,
            services,
            echo_count: config_or("echo_count", 5u32)?.clamp(1, 100),
            echo_spacing_ms: config_or("echo_spacing_ms", 20)?,
            timeout_ms: config_or("timeout_ms", 500)?,
            map_server_port,
            flood_connections: config_or("flood_connections", 50)?,
            syn_flood: config_or("syn_flood", 200)?,
        })
    }
}

/// `id=host:port, id2=host:port` into pairs.
fn parse_peers(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once('=') {
            Some((id, target)) if !id.trim().is_empty() && target.contains(':') => {
                Ok((id.trim().to_string(), target.trim().to_string()))
            }
            _ => Err(format!("config `peers`: {item:?} is not `id=host:port`")),
        })
        .collect()
}

/// The service port probed per peer: its entry in `explicit`, else its
/// echo host at `port` (none when `port` is 0).
fn peer_services(
    peers: &[(String, String)],
    port: u16,
    explicit: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let mut services: Vec<(String, String)> = peers
        .iter()
        .filter(|(id, _)| !explicit.iter().any(|(e, _)| e == id))
        .filter(|_| port != 0)
        .filter_map(|(id, echo)| {
            let (host, _) = echo.rsplit_once(':')?;
            Some((id.clone(), format!("{host}:{port}")))
        })
        .collect();
    services.extend(explicit);
    services
}

impl Plugin for NetworkPlugin {
    fn info() -> PluginInfo {
        PluginInfo::new("network", env!("CARGO_PKG_VERSION"))
            .description("Latency, loss and jitter to peers, aggregator and coordinator; bandwidth; map-server connections.")
            .metric(MetricSpec::gauge("network_latency", Unit::Milliseconds).describe("Round trip (UDP echo) or connect time (TCP) per target"))
            .metric(MetricSpec::gauge("packet_loss", Unit::Percent).describe("Echo packets lost per peer"))
            .metric(MetricSpec::gauge("network_jitter", Unit::Milliseconds).describe("Mean change between consecutive round trips per peer"))
            .metric(MetricSpec::gauge("target_up", Unit::Count).describe("1 when the aggregator or coordinator accepts a TCP connection"))
            .metric(MetricSpec::gauge("peer_service_up", Unit::Count).describe("1 when a peer's service port (its map-server's) accepts a TCP connection"))
            .metric(MetricSpec::gauge("bandwidth_usage", Unit::BytesPerSecond).describe("Traffic per interface and direction"))
            .metric(MetricSpec::gauge("connection_count", Unit::Count).describe("Established connections on the map-server port"))
            .metric(MetricSpec::gauge("connections_half_open", Unit::Count).describe("Handshakes in progress on the map-server port"))
            .metric(MetricSpec::gauge("new_connection_rate", Unit::PerSecond).describe("TCP connections accepted per second"))
            .metric(MetricSpec::gauge("tcp_retransmit_rate", Unit::Percent).describe("Segments retransmitted, of segments sent"))
            .metric(MetricSpec::gauge("network_error_rate", Unit::PerSecond).describe("TCP and UDP errors per second"))
            .capability(Capability::Net)
            .capability(Capability::System)
            .capability(Capability::Config)
            .capability(Capability::Clock)
            .interval_ms(10_000)
    }

    fn collect(&mut self, out: &mut Collection) -> Result<(), String> {
        if self.settings.is_none() {
            self.settings = Some(Settings::load()?);
        }
        let Some(settings) = &self.settings else {
            return Ok(());
        };
        let mut errors = Vec::new();
        errors.extend(probe_tcp(settings, out));
        errors.extend(probe_peers(settings, out));
        let error = (!errors.is_empty()).then(|| errors.join("; "));
        if error.is_some() && error != self.probe_error {
            out.event(
                "probe_failed",
                Severity::Warning,
                "a network probe was refused or failed",
            )
            .field("error", error.clone().unwrap_or_default());
        }
        self.probe_error = error;
        connections(settings, out)?;
        self.bandwidth(out)?;
        self.counters(out)?;
        Ok(())
    }
}

/// TCP connect probes (aggregator, coordinator, peers' service ports, all at
/// once); the error, if the call failed.
fn probe_tcp(settings: &Settings, out: &mut Collection) -> Option<String> {
    if settings.tcp_targets.is_empty() && settings.services.is_empty() {
        return None;
    }
    let targets: Vec<String> = settings
        .tcp_targets
        .iter()
        .chain(&settings.services)
        .map(|(_, t)| t.clone())
        .collect();
    match net::tcp_connect(&targets, settings.timeout_ms) {
        Ok(probes) => {
            let (named, services) = probes.split_at(settings.tcp_targets.len().min(probes.len()));
            for ((name, _), probe) in settings.tcp_targets.iter().zip(named) {
                out.gauge("target_up", if probe.connected { 1.0 } else { 0.0 })
                    .tag("target", name.clone());
                if probe.connected {
                    out.gauge("network_latency", probe.connect_ms)
                        .tag("target", name.clone());
                }
            }
            for ((id, target), probe) in settings.services.iter().zip(services) {
                let port = target.rsplit_once(':').map_or("", |(_, p)| p);
                out.gauge("peer_service_up", if probe.connected { 1.0 } else { 0.0 })
                    .tag("target", id.clone())
                    .tag("port", port.to_string());
            }
            None
        }
        Err(error) => Some(error.to_string()),
    }
}

/// UDP echo probes; the error, if the call failed.
fn probe_peers(settings: &Settings, out: &mut Collection) -> Option<String> {
    if settings.peers.is_empty() {
        return None;
    }
    let targets: Vec<String> = settings.peers.iter().map(|(_, t)| t.clone()).collect();
    match net::udp_echo(
        &targets,
        settings.echo_count,
        settings.echo_spacing_ms,
        settings.timeout_ms,
    ) {
        Ok(probes) => {
            for ((id, _), probe) in settings.peers.iter().zip(&probes) {
                out.gauge("packet_loss", probe.loss() * 100.0)
                    .tag("target", id.clone());
                if probe.received > 0 {
                    out.gauge("network_latency", probe.avg_ms)
                        .tag("target", id.clone());
                    out.gauge("network_jitter", probe.jitter_ms)
                        .tag("target", id.clone());
                }
            }
            None
        }
        Err(error) => Some(error.to_string()),
    }
}

impl NetworkPlugin {
    /// Bytes per second per interface and direction since this plugin's last
    /// collect, so the rate covers its whole interval (the host's own rate
    /// covers only its short refresh window; it is used for the first
    /// collect, and when a counter went backwards: the interface was reset).
    fn bandwidth(&mut self, out: &mut Collection) -> Result<(), String> {
        let request = system::Request {
            networks: true,
            ..system::Request::none()
        };
        let snap = system::snapshot(request)?;
        let at = host::now_ms()?;
        let nets: Vec<_> = snap
            .networks
            .iter()
            .filter(|n| n.interface != "lo")
            .collect();
        let counters = nets.iter().flat_map(|n| {
            [
                ((n.interface.clone(), "rx"), n.rx_bytes),
                ((n.interface.clone(), "tx"), n.tx_bytes),
            ]
        });
        let rates = self.traffic.update(at, counters);
        for (net, pair) in nets.iter().zip(rates.chunks(2)) {
            for (((interface, direction), rate), fallback) in pair
                .iter()
                .zip([net.rx_bytes_per_second, net.tx_bytes_per_second])
            {
                out.gauge("bandwidth_usage", rate.unwrap_or(fallback))
                    .tag("interface", interface.clone())
                    .tag("direction", *direction);
            }
        }
        Ok(())
    }
}

fn connections(settings: &Settings, out: &mut Collection) -> Result<(), String> {
    let port = settings.map_server_port;
    let sockets = match system::tcp_connections(&[port]) {
        Ok(sockets) => sockets,
        // Not Linux: no socket tables, the rest still works.
        Err(p2pmon_plugin_sdk::HostError::Unavailable(_)) => return Ok(()),
        Err(error) => return Err(error.to_string()),
    };
    for socket in sockets {
        let port_tag = socket.port.to_string();
        out.gauge("connection_count", f64::from(socket.established))
            .tag("port", port_tag.clone());
        out.gauge("connections_half_open", f64::from(socket.syn_received))
            .tag("port", port_tag.clone());
        if socket.syn_received >= settings.syn_flood {
            out.event(
                "syn_flood",
                Severity::Critical,
                "many half-open connections on the map-server port",
            )
            .field("port", port_tag.clone())
            .field("half_open", socket.syn_received.to_string());
        }
        for (remote, count) in &socket.top_remotes {
            if *count >= settings.flood_connections {
                out.event(
                    "connection_flood",
                    Severity::Warning,
                    "one address holds many connections to the map-server",
                )
                .field("ip", remote.clone())
                .field("port", port_tag.clone())
                .field("connections", count.to_string());
            }
        }
    }
    Ok(())
}

impl NetworkPlugin {
    fn counters(&mut self, out: &mut Collection) -> Result<(), String> {
        let now = match system::protocol_counters() {
            Ok(now) => now,
            Err(p2pmon_plugin_sdk::HostError::Unavailable(_)) => return Ok(()),
            Err(error) => return Err(error.to_string()),
        };
        let at = host::now_ms()?;
        if let Some((then_ms, then)) = self.previous.replace((at, now)) {
            let seconds = at.saturating_sub(then_ms) as f64 / 1000.0;
            if seconds <= 0.0 {
                return Ok(());
            }
            let delta = |a: u64, b: u64| a.saturating_sub(b) as f64;
            out.gauge(
                "new_connection_rate",
                delta(now.tcp_passive_opens, then.tcp_passive_opens) / seconds,
            );
            let sent = delta(now.tcp_out_segs, then.tcp_out_segs);
            let retrans = delta(now.tcp_retrans_segs, then.tcp_retrans_segs);
            out.gauge(
                "tcp_retransmit_rate",
                if sent > 0.0 {
                    retrans * 100.0 / sent
                } else {
                    0.0
                },
            );
            let errors = delta(now.tcp_attempt_fails, then.tcp_attempt_fails)
                + delta(now.tcp_estab_resets, then.tcp_estab_resets)
                + delta(now.tcp_in_errs, then.tcp_in_errs)
                + delta(now.udp_in_errors, then.udp_in_errors)
                + delta(now.udp_rcvbuf_errors, then.udp_rcvbuf_errors)
                + delta(now.udp_sndbuf_errors, then.udp_sndbuf_errors);
            out.gauge("network_error_rate", errors / seconds);
        }
        Ok(())
    }
}

export_plugin!(NetworkPlugin);

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn service_ports_follow_the_peers_unless_named() {
        let peers = pairs(&[
            ("a", "10.0.0.1:5124"),
            ("b", "[fd00::2]:5124"),
            ("c", "c.example:5124"),
        ]);
        let services = peer_services(&peers, 5121, pairs(&[("c", "c.example:6900")]));
        assert_eq!(
            services,
            pairs(&[
                ("a", "10.0.0.1:5121"),
                ("b", "[fd00::2]:5121"),
                ("c", "c.example:6900")
            ])
        );
        assert_eq!(peer_services(&peers, 0, Vec::new()), Vec::new());
        assert!(parse_peers("a=nohost").is_err());
    }

    #[test]
    fn bandwidth_covers_the_whole_interval_between_collects() {
        use p2pmon_plugin_sdk::testing::Harness;
        let mut plugin = Harness::<NetworkPlugin>::new();
        let rx = |out: &p2pmon_plugin_sdk::Collection| {
            out.metrics_named("bandwidth_usage")
                .find(|m| m.tag_value("direction") == Some("rx"))
                .map(|m| m.value())
        };
        plugin.host().now_ms(1_000_000);
        // First collect: the host's own rate.
        let first = plugin.collect().expect("collect");
        assert_eq!(rx(&first), Some(1_000_000.0));
        // 10 s later, 50 MB more: 5 MB/s over the interval, whatever the
        // host's short window says.
        plugin
            .host()
            .now_ms(1_010_000)
            .edit_snapshot(|s| s.networks[0].rx_bytes += 50_000_000);
        let second = plugin.collect().expect("collect");
        assert_eq!(rx(&second), Some(5_000_000.0));
        // A counter that went backwards (interface reset): the host's rate.
        plugin
            .host()
            .now_ms(1_020_000)
            .edit_snapshot(|s| s.networks[0].rx_bytes = 10);
        let third = plugin.collect().expect("collect");
        assert_eq!(rx(&third), Some(1_000_000.0));
    }
}

#[cfg(test)]
mod mock_tests;
