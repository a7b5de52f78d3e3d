//! The socket parts of the `system` capability: TCP sockets per local port and
//! the kernel's protocol counters, from Linux's /proc/net.

use std::collections::HashMap;

use crate::bindings::p2pmon::plugin::system::{PortConnections, ProtocolStats};
use crate::bindings::p2pmon::plugin::types::HostError;

/// Ports one call may ask about.
pub const MAX_PORTS: usize = 64;
const TOP_REMOTES: usize = 10;

#[cfg(target_os = "linux")]
pub fn tcp_connections(ports: &[u16]) -> Result<Vec<PortConnections>, HostError> {
    use procfs::net::TcpState;

    if ports.len() > MAX_PORTS {
        return Err(HostError::Invalid(format!(
            "{} ports; at most {MAX_PORTS} per call",
            ports.len()
        )));
    }
    let unavailable = |e: procfs::ProcError| HostError::Unavailable(format!("/proc/net/tcp: {e}"));
    let mut entries = procfs::net::tcp().map_err(unavailable)?;
    // IPv6 may be disabled: then there is no tcp6 table, which is fine.
    entries.extend(procfs::net::tcp6().unwrap_or_default());
    let mut out: Vec<PortConnections> = ports
        .iter()
        .map(|&port| PortConnections {
            port,
            listening: 0,
            established: 0,
            syn_received: 0,
            time_wait: 0,
            close_wait: 0,
            top_remotes: Vec::new(),
        })
        .collect();
    let mut remotes: Vec<HashMap<String, u32>> = vec![HashMap::new(); ports.len()];
    for entry in entries {
        let Some(index) = ports.iter().position(|&p| p == entry.local_address.port()) else {
            continue;
        };
        let counts = &mut out[index];
        match entry.state {
            TcpState::Listen => counts.listening += 1,
            TcpState::Established => {
                counts.established += 1;
                let ip = entry.remote_address.ip().to_canonical().to_string();
                *remotes[index].entry(ip).or_default() += 1;
            }
            TcpState::SynRecv => counts.syn_received += 1,
            TcpState::TimeWait => counts.time_wait += 1,
            TcpState::CloseWait => counts.close_wait += 1,
            _ => {}
        }
    }
    for (counts, by_remote) in out.iter_mut().zip(remotes) {
        let mut top: Vec<(String, u32)> = by_remote.into_iter().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top.truncate(TOP_REMOTES);
        counts.top_remotes = top;
    }
    Ok(out)
}

#[cfg(target_os = "linux")]
pub fn protocol_counters() -> Result<ProtocolStats, HostError> {
    let snmp =
        procfs::net::snmp().map_err(|e| HostError::Unavailable(format!("/proc/net/snmp: {e}")))?;
    Ok(ProtocolStats {
        tcp_active_opens: snmp.tcp_active_opens,
        tcp_passive_opens: snmp.tcp_passive_opens,
        tcp_attempt_fails: snmp.tcp_attempt_fails,
        tcp_estab_resets: snmp.tcp_estab_resets,
        tcp_curr_estab: snmp.tcp_curr_estab,
        tcp_retrans_segs: snmp.tcp_retrans_segs,
        tcp_out_segs: snmp.tcp_out_segs,
        tcp_in_errs: snmp.tcp_in_errs,
        tcp_out_rsts: snmp.tcp_out_rsts,
        udp_in_errors: snmp.udp_in_errors,
        udp_rcvbuf_errors: snmp.udp_rcvbuf_errors,
        udp_sndbuf_errors: snmp.udp_sndbuf_errors,
        udp_no_ports: snmp.udp_no_ports,
    })
}

#[cfg(not(target_os = "linux"))]
pub fn tcp_connections(_ports: &[u16]) -> Result<Vec<PortConnections>, HostError> {
    Err(HostError::Unavailable(
        "TCP socket tables are read on Linux only".to_string(),
    ))
}

#[cfg(not(target_os = "linux"))]
pub fn protocol_counters() -> Result<ProtocolStats, HostError> {
    Err(HostError::Unavailable(
        "protocol counters are read on Linux only".to_string(),
    ))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn counts_a_listening_port_and_its_connections() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let _a = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let _b = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let counts = super::tcp_connections(&[port]).expect("read");
        assert_eq!(counts[0].listening, 1);
        assert_eq!(counts[0].established, 2);
        assert_eq!(counts[0].top_remotes, [("127.0.0.1".to_string(), 2)]);
        let before = super::protocol_counters().expect("snmp");
        let _c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let after = super::protocol_counters().expect("snmp");
        assert!(after.tcp_passive_opens > before.tcp_passive_opens);
    }
}
