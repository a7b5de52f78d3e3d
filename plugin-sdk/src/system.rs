//! The machine snapshot (capability `system`): cpu, memory and swap, disks,
//! network counters, load, uptime and a process summary.

pub use crate::bindings::p2pmon::plugin::system::{
    CpuStats, DiskStats, LoadAverage, MemoryStats, NetworkStats, ProcessStats, ProcessSummary,
    SnapshotRequest as Request, SystemSnapshot as Snapshot,
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
