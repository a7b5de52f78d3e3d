//! The machine snapshot (capability `system`): cpu, memory and swap, disks,
//! network counters, load, uptime and a process summary; processes by name;
//! TCP sockets per local port and the kernel's protocol counters.
//!
//! Is rAthena's map server running, and how big is it?
//!
//! ```no_run
//! use p2pmon_plugin_sdk::{system, Collection, HostError};
//!
//! fn check(out: &mut Collection) -> Result<(), HostError> {
//!     let groups = system::processes_named(&["map-server"])?;
//!     let map = &groups[0];
//!     out.gauge("map_server_processes", f64::from(map.count));
//!     out.gauge("map_server_memory", map.memory_bytes as f64);
//!     if let Some(started) = map.started_at_ms {
//!         out.gauge("map_server_started", started as f64 / 1000.0);
//!     }
//!     Ok(())
//! }
//! ```

pub use crate::bindings::p2pmon::plugin::system::{
    CpuStats, DiskStats, LoadAverage, MemoryStats, NetworkStats, PortConnections, ProcessGroup,
    ProcessStats, ProcessSummary, ProtocolStats, SnapshotRequest as Request,
    SystemSnapshot as Snapshot,
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
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::p2pmon::plugin::system::snapshot(request).map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::call(|host| host.on_snapshot(request))
}

/// The processes running under each of `names` (at most 64), one
/// [`ProcessGroup`] per name in the order asked: how many distinct processes
/// (threads are not counted), their pids, CPU and resident memory summed, and
/// when the oldest started. A name matches a process's name (Linux cuts it to
/// 15 bytes) or its executable's file name; a name nothing runs under has
/// `count == 0` (capability `system`; since contract 1.2).
pub fn processes_named(names: &[&str]) -> Result<Vec<ProcessGroup>, HostError> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::p2pmon::plugin::system::processes_named(&names)
        .map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::call(|host| host.on_processes_named(&names))
}

/// TCP sockets on each local port in `ports` (at most 64): listening,
/// established and half-open counts and the busiest remote addresses
/// (capability `system`; Linux hosts, since contract 1.1).
pub fn tcp_connections(ports: &[u16]) -> Result<Vec<PortConnections>, HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::p2pmon::plugin::system::tcp_connections(ports)
        .map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::call(|host| host.on_tcp_connections(ports))
}

/// The kernel's TCP and UDP counters since boot; take the difference of two
/// calls for rates (capability `system`; Linux hosts, since contract 1.1).
pub fn protocol_counters() -> Result<ProtocolStats, HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::p2pmon::plugin::system::protocol_counters().map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::call(|host| host.on_protocol_counters())
}
