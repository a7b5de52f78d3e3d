//! The machine snapshot (capability `system`): cpu, memory and swap, disks,
//! network counters, load, uptime and a process summary; TCP sockets per
//! local port and the kernel's protocol counters.

pub use crate::bindings::p2pmon::plugin::system::{
    CpuStats, DiskStats, LoadAverage, MemoryStats, NetworkStats, PortConnections, ProcessStats,
    ProcessSummary, ProtocolStats, SnapshotRequest as Request, SystemSnapshot as Snapshot,
};
use crate::host::HostError;

impl Default for Request {
    /// Everything but the process summary, which is the costly part.
    fn default() -> Self {
        Request {
            cpu: true,
            memory: true,
            disks: true,
            networks: true,
            processes: false,
        }
    }
}

impl Request {
    /// Every part, the process summary included.
    pub fn all() -> Self {
        Request {
            processes: true,
            ..Request::default()
        }
    }

    /// No part: only uptime and load, which are always present.
    pub fn none() -> Self {
        Request {
            cpu: false,
            memory: false,
            disks: false,
            networks: false,
            processes: false,
        }
    }
}

/// Take a snapshot of the machine (capability `system`).
pub fn snapshot(request: Request) -> Result<Snapshot, HostError> {
    crate::bindings::p2pmon::plugin::system::snapshot(request).map_err(HostError::from)
}

/// TCP sockets on each local port in `ports` (at most 64): listening,
/// established and half-open counts and the busiest remote addresses
/// (capability `system`; Linux hosts, since contract 1.1).
pub fn tcp_connections(ports: &[u16]) -> Result<Vec<PortConnections>, HostError> {
    crate::bindings::p2pmon::plugin::system::tcp_connections(ports).map_err(HostError::from)
}

/// The kernel's TCP and UDP counters since boot; take the difference of two
/// calls for rates (capability `system`; Linux hosts, since contract 1.1).
pub fn protocol_counters() -> Result<ProtocolStats, HostError> {
    crate::bindings::p2pmon::plugin::system::protocol_counters().map_err(HostError::from)
}
