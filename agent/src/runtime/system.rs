//! The `system` capability: one sysinfo-backed probe shared by all plugins.
//!
//! Each part (cpu, memory, disks, networks, processes) is refreshed at most
//! once per [`REFRESH_EVERY`] and the result shared, so two plugins asking at
//! once cost one refresh and see the same figures, and rates (cpu usage,
//! bytes per second) are measured over a window of sensible length.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sysinfo::{
    Disks, Networks, ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System, ThreadKind,
    UpdateKind,
};

use crate::bindings::p2pmon::plugin::system as wit;

/// Shortest time between two refreshes of the same part.
pub const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// How long after the probe's first reading the next one is meaningful:
/// cpu and network rates need a window (sysinfo's minimum cpu interval is
/// 200 ms). No plugin collects sooner than this after start-up.
pub const FIRST_WINDOW: Duration = Duration::from_millis(250);

/// How many processes the summary lists.
const TOP_PROCESSES: usize = 5;

/// Most names one `processes-named` call may ask for, and longest name.
pub const MAX_PROCESS_NAMES: usize = 64;
pub const MAX_PROCESS_NAME: usize = 256;

/// Errors from the probe, mapped to `host-error::unavailable` for plugins.
#[derive(Debug, thiserror::Error)]
#[error("system information unavailable: {0}")]
pub struct ProbeError(String);

/// One process (never a thread) as the probe last saw it.
#[derive(Clone, Debug)]
struct ProcessRow {
    pid: u32,
    name: String,
    /// File name of the executable, when readable: Linux cuts `name` to 15
    /// bytes, the executable's name is whole.
    exe_name: Option<String>,
    cpu_percent: f32,
    memory_bytes: u64,
    started_at_s: u64,
    running: bool,
}

pub struct SystemProbe {
    state: Mutex<ProbeState>,
}

struct ProbeState {
    system: System,
    disks: Disks,
    networks: Networks,
    cpu: Part<wit::CpuStats>,
    memory: Part<wit::MemoryStats>,
    disk_stats: Part<Vec<wit::DiskStats>>,
    network_stats: Part<Vec<wit::NetworkStats>>,
    /// The process table, shared by the summary and `processes-named`.
    processes: Part<Arc<Vec<ProcessRow>>>,
    /// Counters at the previous network refresh, for rates.
    previous_network: HashMap<String, (u64, u64)>,
    previous_network_at: Instant,
}

/// One part of the snapshot and when it was last refreshed.
struct Part<T> {
    value: Option<T>,
    at: Option<Instant>,
}

impl<T: Clone> Part<T> {
    fn new() -> Self {
        Self {
            value: None,
            at: None,
        }
    }

    fn get(&mut self, refresh: impl FnOnce() -> T) -> T {
        match (&self.value, self.at) {
            (Some(value), Some(at)) if at.elapsed() < REFRESH_EVERY => value.clone(),
            _ => {
                let value = refresh();
                self.value = Some(value.clone());
                self.at = Some(Instant::now());
                value
            }
        }
    }
}

impl SystemProbe {
    /// Create the probe and take the first cpu and network readings, which
    /// later readings are measured against.
    pub fn new() -> Result<Self, ProbeError> {
        let mut system = System::new().map_err(|e| ProbeError(e.to_string()))?;
        system.refresh_cpu_usage();
        let networks =
            Networks::new_with_refreshed_list().map_err(|e| ProbeError(e.to_string()))?;
        let disks = Disks::new().map_err(|e| ProbeError(e.to_string()))?;
        let previous_network = networks
            .iter()
            .map(|(name, data)| {
                (
                    name.to_string_lossy().into_owned(),
                    (data.total_received(), data.total_transmitted()),
                )
            })
            .collect();
        Ok(Self {
            state: Mutex::new(ProbeState {
                system,
                disks,
                networks,
                cpu: Part::new(),
                memory: Part::new(),
                disk_stats: Part::new(),
                network_stats: Part::new(),
                processes: Part::new(),
                previous_network,
                previous_network_at: Instant::now(),
            }),
        })
    }

    /// Take a snapshot of the requested parts.
    pub fn snapshot(
        &self,
        request: wit::SnapshotRequest,
    ) -> Result<wit::SystemSnapshot, ProbeError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| ProbeError("probe lock poisoned".to_string()))?;
        let state = &mut *state;
        let load = System::load_average().map_err(|e| ProbeError(e.to_string()))?;
        let uptime = System::uptime().map_err(|e| ProbeError(e.to_string()))?;

        let cpu = request.cpu.then(|| state.cpu());
        let memory = request.memory.then(|| state.memory());
        let disks = if request.disks {
            state.disks()
        } else {
            Vec::new()
        };
        let networks = if request.networks {
            state.networks()
        } else {
            Vec::new()
        };
        let processes = request
            .processes
            .then(|| summarize_processes(&state.process_table()));

        Ok(wit::SystemSnapshot {
            taken_at_ms: unix_ms(),
            uptime_seconds: uptime,
            load: wit::LoadAverage {
                one: load.one,
                five: load.five,
                fifteen: load.fifteen,
            },
            cpu,
            memory,
            disks,
            networks,
            processes,
        })
    }
}

/// The parts of a snapshot, each refreshed at most once a second.
impl ProbeState {
    fn cpu(&mut self) -> wit::CpuStats {
        let system = &mut self.system;
        self.cpu.get(|| {
            system.refresh_cpu_usage();
            let per_core: Vec<f32> = system.cpus().iter().map(|c| c.usage()).collect();
            wit::CpuStats {
                usage_percent: system.global_cpu_usage(),
                core_count: u32::try_from(per_core.len()).unwrap_or(u32::MAX),
                per_core_percent: per_core,
            }
        })
    }

    fn memory(&mut self) -> wit::MemoryStats {
        let system = &mut self.system;
        self.memory.get(|| {
            system.refresh_memory();
            wit::MemoryStats {
                total_bytes: system.total_memory(),
                used_bytes: system.used_memory(),
                available_bytes: system.available_memory(),
                swap_total_bytes: system.total_swap(),
                swap_used_bytes: system.used_swap(),
            }
        })
    }

    fn disks(&mut self) -> Vec<wit::DiskStats> {
        let disks = &mut self.disks;
        self.disk_stats.get(|| {
            disks.refresh(true);
            disks
                .iter()
                .map(|d| wit::DiskStats {
                    device: d.name().to_string_lossy().into_owned(),
                    mount_point: d.mount_point().to_string_lossy().into_owned(),
                    file_system: d.file_system().to_string_lossy().into_owned(),
                    total_bytes: d.total_space(),
                    available_bytes: d.available_space(),
                    removable: d.is_removable(),
                })
                .collect()
        })
    }

    /// Interfaces with their counters and the rates since the last refresh.
    fn networks(&mut self) -> Vec<wit::NetworkStats> {
        let networks = &mut self.networks;
        let previous = &mut self.previous_network;
        let previous_at = &mut self.previous_network_at;
        self.network_stats.get(|| {
            networks.refresh(true);
            let seconds = previous_at.elapsed().as_secs_f64().max(0.001);
            *previous_at = Instant::now();
            let stats: Vec<wit::NetworkStats> = networks
                .iter()
                .map(|(name, data)| {
                    let name = name.to_string_lossy().into_owned();
                    let (rx, tx) = (data.total_received(), data.total_transmitted());
                    let (prev_rx, prev_tx) = previous.get(&name).copied().unwrap_or((rx, tx));
                    wit::NetworkStats {
                        interface: name,
                        rx_bytes: rx,
                        tx_bytes: tx,
                        rx_packets: data.total_packets_received(),
                        tx_packets: data.total_packets_transmitted(),
                        rx_errors: data.total_errors_on_received(),
                        tx_errors: data.total_errors_on_transmitted(),
                        rx_bytes_per_second: rx.saturating_sub(prev_rx) as f64 / seconds,
                        tx_bytes_per_second: tx.saturating_sub(prev_tx) as f64 / seconds,
                    }
                })
                .collect();
            *previous = stats
                .iter()
                .map(|s| (s.interface.clone(), (s.rx_bytes, s.tx_bytes)))
                .collect();
            stats
        })
    }
}

impl SystemProbe {
    /// The processes running under each of `names`, in the order asked.
    pub fn processes_named(&self, names: &[String]) -> Result<Vec<wit::ProcessGroup>, ProbeError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| ProbeError("probe lock poisoned".to_string()))?;
        let table = state.process_table();
        Ok(names.iter().map(|name| group_named(&table, name)).collect())
    }
}

impl ProbeState {
    /// The process table, refreshed at most once per [`REFRESH_EVERY`].
    fn process_table(&mut self) -> Arc<Vec<ProcessRow>> {
        let system = &mut self.system;
        self.processes.get(|| {
            // Without tasks: on Linux sysinfo otherwise lists every thread as
            // a process of its own (one mariadbd with 18 threads counted 18).
            system.refresh_processes_specifics(
                ProcessesToUpdate::All,
                true,
                ProcessRefreshKind::nothing()
                    .with_memory()
                    .with_cpu()
                    .with_exe(UpdateKind::OnlyIfNotSet)
                    .without_tasks(),
            );
            Arc::new(
                system
                    .processes()
                    .iter()
                    .filter(|(_, p)| p.thread_kind() != Some(ThreadKind::Userland))
                    .map(|(pid, p)| ProcessRow {
                        pid: pid.as_u32(),
                        name: p.name().to_string_lossy().into_owned(),
                        exe_name: p
                            .exe()
                            .and_then(|exe| exe.file_name())
                            .map(|n| n.to_string_lossy().into_owned()),
                        cpu_percent: p.cpu_usage(),
                        memory_bytes: p.memory(),
                        started_at_s: p.start_time(),
                        running: p.status() == ProcessStatus::Run,
                    })
                    .collect(),
            )
        })
    }
}

/// The processes of `table` whose name or executable's file name is `name`.
fn group_named(table: &[ProcessRow], name: &str) -> wit::ProcessGroup {
    let mut members: Vec<&ProcessRow> = table
        .iter()
        .filter(|p| p.name == name || p.exe_name.as_deref() == Some(name))
        .collect();
    members.sort_unstable_by_key(|p| p.pid);
    wit::ProcessGroup {
        name: name.to_string(),
        count: u32::try_from(members.len()).unwrap_or(u32::MAX),
        pids: members.iter().map(|p| p.pid).collect(),
        cpu_percent: members.iter().map(|p| p.cpu_percent).sum(),
        memory_bytes: members.iter().map(|p| p.memory_bytes).sum(),
        started_at_ms: members
            .iter()
            .map(|p| p.started_at_s.saturating_mul(1000))
            .min(),
    }
}

fn summarize_processes(table: &[ProcessRow]) -> wit::ProcessSummary {
    let mut all: Vec<wit::ProcessStats> = table
        .iter()
        .map(|p| wit::ProcessStats {
            pid: p.pid,
            name: p.name.clone(),
            cpu_percent: p.cpu_percent,
            memory_bytes: p.memory_bytes,
        })
        .collect();
    let running = table.iter().filter(|p| p.running).count();
    all.sort_unstable_by_key(|p| std::cmp::Reverse(p.memory_bytes));
    let total = all.len();
    all.truncate(TOP_PROCESSES);
    wit::ProcessSummary {
        total: u32::try_from(total).unwrap_or(u32::MAX),
        running: u32::try_from(running).unwrap_or(u32::MAX),
        top_by_memory: all,
    }
}

/// Wall-clock time in Unix milliseconds.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of `sleep` started under another name, killed on drop.
    struct Named {
        child: std::process::Child,
        _dir: tempfile::TempDir,
    }

    impl Drop for Named {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn spawn_named(name: &str) -> Named {
        let dir = tempfile::tempdir().expect("temp dir");
        let program = dir.path().join(name);
        std::fs::copy("/bin/sleep", &program).expect("copy sleep");
        let child = std::process::Command::new(&program)
            .arg("30")
            .spawn()
            .expect("start the named process");
        Named { child, _dir: dir }
    }

    #[test]
    fn finds_a_small_process_by_name_and_counts_processes_not_threads() {
        let first = spawn_named("map-server");
        let second = spawn_named("map-server");
        let probe = SystemProbe::new().expect("probe");
        let groups = probe
            .processes_named(&["map-server".to_string(), "no-such-server".to_string()])
            .expect("groups");
        assert_eq!(groups.len(), 2);
        let map = &groups[0];
        assert_eq!(map.name, "map-server");
        // Other tests may run a map-server meanwhile: ours are among them.
        assert_eq!(map.count as usize, map.pids.len(), "{map:?}");
        for pid in [first.child.id(), second.child.id()] {
            assert!(map.pids.contains(&pid), "{pid} missing: {map:?}");
        }
        assert!(map.pids.windows(2).all(|w| w[0] < w[1]), "{map:?}");
        // sleep is tiny: far below anything a top-5 by memory would show.
        assert!(
            map.memory_bytes > 0 && map.memory_bytes < u64::from(map.count) * (16 << 20),
            "{map:?}"
        );
        let started = map.started_at_ms.expect("start time");
        let now = unix_ms();
        assert!(
            started <= now && now - started < 120_000,
            "{started} vs {now}"
        );
        assert_eq!(groups[1].count, 0);
        assert_eq!(groups[1].started_at_ms, None);

        // This test binary runs several threads; none may count as a process.
        let table = probe.state.lock().expect("lock").process_table();
        let own = std::process::id();
        let own_threads = std::fs::read_dir(format!("/proc/{own}/task"))
            .map(|d| d.count())
            .unwrap_or(1);
        assert!(
            own_threads > 1,
            "the test harness runs more than one thread"
        );
        let task_pids: Vec<u32> = std::fs::read_dir(format!("/proc/{own}/task"))
            .expect("tasks")
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|&tid| tid != own)
            .collect();
        assert!(table.iter().any(|p| p.pid == own));
        assert!(
            !table.iter().any(|p| task_pids.contains(&p.pid)),
            "threads listed as processes"
        );
    }
}
