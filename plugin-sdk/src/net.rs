//! Probes to the targets agent.yml grants (capability `net`, since contract
//! 1.1): TCP connect time, and UDP echo round trips, loss and jitter against
//! another agent's echo responder.

pub use crate::bindings::p2pmon::plugin::net::{TcpProbe, UdpProbe};
use crate::host::HostError;

/// Connect to every `host:port` in `targets` at once and report how long each
/// took. One ungranted target refuses the whole call.
pub fn tcp_connect(targets: &[String], timeout_ms: u32) -> Result<Vec<TcpProbe>, HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::p2pmon::plugin::net::tcp_connect(targets, timeout_ms)
        .map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::call(|host| host.on_tcp_connect(targets, timeout_ms))
}

/// Send `count` echo packets `spacing_ms` apart to every target and wait up
/// to `timeout_ms` after the last one for the replies.
pub fn udp_echo(
    targets: &[String],
    count: u32,
    spacing_ms: u32,
    timeout_ms: u32,
) -> Result<Vec<UdpProbe>, HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::p2pmon::plugin::net::udp_echo(targets, count, spacing_ms, timeout_ms)
        .map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::call(|host| host.on_udp_echo(targets, count, spacing_ms, timeout_ms))
}

impl UdpProbe {
    /// Share of packets that did not come back, 0 to 1; 1 when none was sent.
    pub fn loss(&self) -> f64 {
        if self.sent == 0 {
            1.0
        } else {
            1.0 - f64::from(self.received.min(self.sent)) / f64::from(self.sent)
        }
    }
}
