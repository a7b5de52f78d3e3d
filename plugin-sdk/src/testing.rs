//! Native unit tests for plugins: run a [`Plugin`] with `cargo test`, its host
//! calls answered by a [`MockHost`] instead of the agent.
//!
//! Built only for native targets (never into the `.wasm`). A [`Harness`] holds
//! one plugin instance, as the agent does between calls, and a [`MockHost`]
//! with the grants the plugin's [`PluginInfo`] requests. Set what the host
//! answers, collect, and look at the [`Collection`]:
//!
//! ```
//! use p2pmon_plugin_sdk::testing::Harness;
//! use p2pmon_plugin_sdk::{host, system, Capability, Collection, MetricSpec, Plugin, PluginInfo, Unit};
//!
//! #[derive(Default)]
//! struct MapWatch;
//!
//! impl Plugin for MapWatch {
//!     fn info() -> PluginInfo {
//!         PluginInfo::new("map-watch", "0.1.0")
//!             .metric(MetricSpec::gauge("map_server_up", Unit::Count))
//!             .capability(Capability::System)
//!             .capability(Capability::Config)
//!     }
//!
//!     fn collect(&mut self, out: &mut Collection) -> Result<(), String> {
//!         let name = host::config("process")?.unwrap_or_else(|| "map-server".to_string());
//!         let groups = system::processes_named(&[name.as_str()])?;
//!         out.gauge("map_server_up", f64::from(groups[0].count)).tag("process", name);
//!         Ok(())
//!     }
//! }
//!
//! let mut plugin = Harness::<MapWatch>::new();
//! plugin.host().config("process", "map-server").process("map-server", &[4242], 30 << 20);
//! let out = plugin.collect().expect("collect");
//! let up = out.metric("map_server_up").expect("metric");
//! assert_eq!(up.value(), 1.0);
//! assert_eq!(up.tag_value("process"), Some("map-server"));
//!
//! // Without the grant the call is denied, as the agent would.
//! plugin.host().deny(Capability::System);
//! assert!(plugin.collect().unwrap_err().contains("capability `system` not granted"));
//! ```
//!
//! Outside [`Harness::collect`] (or [`MockHost::run`]) there is no host: every
//! host function returns [`HostError::Unavailable`] and logging is dropped.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use crate::file::{StartAt, Tail};
use crate::host::{HostError, Level};
use crate::http::Response;
use crate::net::{TcpProbe, UdpProbe};
use crate::sql::{QueryResult, Value};
use crate::system::{
    CpuStats, DiskStats, LoadAverage, MemoryStats, NetworkStats, PortConnections, ProcessGroup,
    ProcessStats, ProcessSummary, ProtocolStats, Request, Snapshot,
};
use crate::{Capability, Collection, Plugin, PluginInfo};

/// The agent's caps, mirrored so a test sees what the agent would do.
const MAX_READ_BYTES: usize = 1 << 20;

thread_local! {
    // Each test runs on its own thread: one mock per test, no locking.
    static CURRENT: RefCell<Option<MockHost>> = const { RefCell::new(None) };
}

/// Answer a host call from the installed mock, or `Unavailable` without one.
pub(crate) fn call<T: NoHost>(f: impl FnOnce(&mut MockHost) -> T) -> T {
    CURRENT.with(|current| match current.borrow_mut().as_mut() {
        Some(host) => f(host),
        None => T::no_host(),
    })
}

/// What a host call returns when no mock is installed.
pub(crate) trait NoHost {
    fn no_host() -> Self;
}

impl NoHost for () {
    fn no_host() -> Self {}
}

impl<T> NoHost for Result<T, HostError> {
    fn no_host() -> Self {
        Err(HostError::Unavailable(
            "no host: run the plugin in testing::Harness::collect or MockHost::run".to_string(),
        ))
    }
}

/// A text file the mock serves, and where this plugin's tail stands in it.
#[derive(Clone, Debug, Default)]
struct MockFile {
    content: Vec<u8>,
    position: Option<usize>,
}

/// A stand-in for the agent: grants, config, a system snapshot, processes,
/// SQL answers, files and probe results, all set by the test. It records the
/// plugin's log lines, SQL statements and host calls for the test to check.
#[derive(Clone, Debug)]
pub struct MockHost {
    grants: BTreeSet<&'static str>,
    config: BTreeMap<String, String>,
    now_ms: u64,
    snapshot: Snapshot,
    processes: Vec<ProcessGroup>,
    ports: Vec<PortConnections>,
    protocol: ProtocolStats,
    sql: Vec<(String, String, QueryResult)>,
    files: BTreeMap<String, MockFile>,
    /// Granted paths with no file yet (a log the server has not written).
    missing: std::collections::BTreeSet<String>,
    tcp: Vec<TcpProbe>,
    udp: Vec<UdpProbe>,
    http: BTreeMap<String, Response>,
    logs: Vec<(Level, String)>,
    queries: Vec<(String, String, Vec<Value>)>,
    calls: Vec<&'static str>,
}

impl Default for MockHost {
    fn default() -> Self {
        Self::new()
    }
}

impl MockHost {
    /// A host that grants nothing, with [`sample_snapshot`] as the machine
    /// and the clock at 2023-11-14 22:13:20 UTC (1,700,000,000,000 ms).
    pub fn new() -> Self {
        Self {
            grants: BTreeSet::new(),
            config: BTreeMap::new(),
            now_ms: 1_700_000_000_000,
            snapshot: sample_snapshot(),
            processes: Vec::new(),
            ports: Vec::new(),
            protocol: ProtocolStats {
                tcp_active_opens: 0,
                tcp_passive_opens: 0,
                tcp_attempt_fails: 0,
                tcp_estab_resets: 0,
                tcp_curr_estab: 0,
                tcp_retrans_segs: 0,
                tcp_out_segs: 0,
                tcp_in_errs: 0,
                tcp_out_rsts: 0,
                udp_in_errors: 0,
                udp_rcvbuf_errors: 0,
                udp_sndbuf_errors: 0,
                udp_no_ports: 0,
            },
            sql: Vec::new(),
            files: BTreeMap::new(),
            missing: std::collections::BTreeSet::new(),
            tcp: Vec::new(),
            udp: Vec::new(),
            http: BTreeMap::new(),
            logs: Vec::new(),
            queries: Vec::new(),
            calls: Vec::new(),
        }
    }

    /// Grant a capability (as `capabilities:` in agent.yml does).
    pub fn grant(&mut self, capability: Capability) -> &mut Self {
        self.grants.insert(capability.as_str());
        self
    }

    /// Withdraw a capability: its calls return [`HostError::Denied`].
    pub fn deny(&mut self, capability: Capability) -> &mut Self {
        self.grants.remove(capability.as_str());
        self
    }

    /// A value of the plugin's `config:` map, as the agent hands it: text.
    pub fn config(&mut self, key: &str, value: impl ToString) -> &mut Self {
        self.config.insert(key.to_string(), value.to_string());
        self
    }

    /// What [`crate::host::now_ms`] returns.
    pub fn now_ms(&mut self, now_ms: u64) -> &mut Self {
        self.now_ms = now_ms;
        self
    }

    /// The machine [`crate::system::snapshot`] describes; parts the plugin
    /// does not request are left out of its answer, as the agent does.
    pub fn snapshot(&mut self, snapshot: Snapshot) -> &mut Self {
        self.snapshot = snapshot;
        self
    }

    /// Change the current snapshot in place (`|s| s.uptime_seconds = 30`).
    pub fn edit_snapshot(&mut self, edit: impl FnOnce(&mut Snapshot)) -> &mut Self {
        edit(&mut self.snapshot);
        self
    }

    /// Processes running under `name`: one per pid, `memory_bytes` in all,
    /// started an hour before the mock's clock (as set when this is called).
    /// Names never set have none.
    pub fn process(&mut self, name: &str, pids: &[u32], memory_bytes: u64) -> &mut Self {
        let mut pids = pids.to_vec();
        pids.sort_unstable();
        self.process_group(ProcessGroup {
            name: name.to_string(),
            count: u32::try_from(pids.len()).unwrap_or(u32::MAX),
            started_at_ms: (!pids.is_empty()).then(|| self.now_ms.saturating_sub(3_600_000)),
            pids,
            cpu_percent: 0.0,
            memory_bytes,
        })
    }

    /// A [`ProcessGroup`] exactly as given (CPU, start time, ...).
    pub fn process_group(&mut self, group: ProcessGroup) -> &mut Self {
        self.processes.retain(|g| g.name != group.name);
        self.processes.push(group);
        self
    }

    /// What [`crate::system::tcp_connections`] reports for a port.
    pub fn port(&mut self, connections: PortConnections) -> &mut Self {
        self.ports.retain(|p| p.port != connections.port);
        self.ports.push(connections);
        self
    }

    /// What [`crate::system::protocol_counters`] returns.
    pub fn protocol_counters(&mut self, counters: ProtocolStats) -> &mut Self {
        self.protocol = counters;
        self
    }

    /// Answer every query on `connection` with `result` (see [`rows`]). The
    /// connection counts as granted in `grants.sql`.
    pub fn sql(&mut self, connection: &str, result: QueryResult) -> &mut Self {
        self.sql_matching(connection, "", result)
    }

    /// Answer queries on `connection` whose statement contains `needle` with
    /// `result`; the first match in the order set wins.
    pub fn sql_matching(
        &mut self,
        connection: &str,
        needle: &str,
        result: QueryResult,
    ) -> &mut Self {
        self.sql
            .push((connection.to_string(), needle.to_string(), result));
        self
    }

    /// A file the plugin may read and tail (granted in `grants.files`).
    pub fn file(&mut self, path: &str, content: impl Into<Vec<u8>>) -> &mut Self {
        self.missing.remove(path);
        self.files.entry(path.to_string()).or_default().content = content.into();
        self
    }

    /// A granted path where no file exists yet: reads and tails fail as the
    /// agent's do (`Unavailable`, no such file) until [`Self::file`] or
    /// [`Self::append`] creates it.
    pub fn missing_file(&mut self, path: &str) -> &mut Self {
        self.files.remove(path);
        self.missing.insert(path.to_string());
        self
    }

    /// Append to a file, as a server writing its log would.
    pub fn append(&mut self, path: &str, more: impl AsRef<[u8]>) -> &mut Self {
        self.missing.remove(path);
        self.files
            .entry(path.to_string())
            .or_default()
            .content
            .extend_from_slice(more.as_ref());
        self
    }

    /// The answer of [`crate::net::tcp_connect`] for `probe.target`.
    pub fn tcp_probe(&mut self, probe: TcpProbe) -> &mut Self {
        self.tcp.retain(|p| p.target != probe.target);
        self.tcp.push(probe);
        self
    }

    /// The answer of [`crate::net::udp_echo`] for `probe.target`.
    pub fn udp_probe(&mut self, probe: UdpProbe) -> &mut Self {
        self.udp.retain(|p| p.target != probe.target);
        self.udp.push(probe);
        self
    }

    /// The answer of [`crate::http::get`] for `url`.
    pub fn http(&mut self, url: &str, response: Response) -> &mut Self {
        self.http.insert(url.to_string(), response);
        self
    }

    /// Lines the plugin logged (only with the `log` grant, as in the agent).
    pub fn logs(&self) -> &[(Level, String)] {
        &self.logs
    }

    /// Every SQL query the plugin ran: connection, statement, parameters.
    pub fn queries(&self) -> &[(String, String, Vec<Value>)] {
        &self.queries
    }

    /// Host functions the plugin called, in order (`"system.snapshot"`),
    /// denied ones included.
    pub fn calls(&self) -> &[&'static str] {
        &self.calls
    }

    /// Run `f` with this host answering host calls.
    pub fn run<T>(&mut self, f: impl FnOnce() -> T) -> T {
        // Puts the host back even when `f` panics, so the test can inspect it.
        struct Installed<'a>(&'a mut MockHost);
        impl Drop for Installed<'_> {
            fn drop(&mut self) {
                if let Some(host) = CURRENT.with(|c| c.borrow_mut().take()) {
                    *self.0 = host;
                }
            }
        }
        let host = std::mem::take(self);
        CURRENT.with(|c| *c.borrow_mut() = Some(host));
        let _installed = Installed(self);
        f()
    }

    fn require(&mut self, capability: Capability, function: &'static str) -> Result<(), HostError> {
        self.calls.push(function);
        if self.grants.contains(capability.as_str()) {
            Ok(())
        } else {
            Err(HostError::Denied(capability.as_str().to_string()))
        }
    }

    pub(crate) fn on_log(&mut self, level: Level, message: &str) {
        if self.require(Capability::Log, "host.log").is_ok() {
            self.logs.push((level, message.to_string()));
        }
    }

    pub(crate) fn on_now_ms(&mut self) -> Result<u64, HostError> {
        self.require(Capability::Clock, "host.now-ms")?;
        Ok(self.now_ms)
    }

    pub(crate) fn on_config_get(&mut self, key: &str) -> Result<Option<String>, HostError> {
        self.require(Capability::Config, "host.config-get")?;
        Ok(self.config.get(key).cloned())
    }

    pub(crate) fn on_config_keys(&mut self) -> Result<Vec<String>, HostError> {
        self.require(Capability::Config, "host.config-keys")?;
        Ok(self.config.keys().cloned().collect())
    }

    pub(crate) fn on_snapshot(&mut self, request: Request) -> Result<Snapshot, HostError> {
        self.require(Capability::System, "system.snapshot")?;
        let mut snap = self.snapshot.clone();
        if !request.cpu {
            snap.cpu = None;
        }
        if !request.memory {
            snap.memory = None;
        }
        if !request.disks {
            snap.disks.clear();
        }
        if !request.networks {
            snap.networks.clear();
        }
        if !request.processes {
            snap.processes = None;
        }
        snap.taken_at_ms = self.now_ms;
        Ok(snap)
    }

    pub(crate) fn on_processes_named(
        &mut self,
        names: &[String],
    ) -> Result<Vec<ProcessGroup>, HostError> {
        self.require(Capability::System, "system.processes-named")?;
        if names.len() > 64 {
            return Err(HostError::Invalid(format!(
                "{} names asked for, at most 64",
                names.len()
            )));
        }
        Ok(names
            .iter()
            .map(|name| {
                self.processes
                    .iter()
                    .find(|g| &g.name == name)
                    .cloned()
                    .unwrap_or_else(|| ProcessGroup {
                        name: name.clone(),
                        count: 0,
                        pids: Vec::new(),
                        cpu_percent: 0.0,
                        memory_bytes: 0,
                        started_at_ms: None,
                    })
            })
            .collect())
    }

    pub(crate) fn on_tcp_connections(
        &mut self,
        ports: &[u16],
    ) -> Result<Vec<PortConnections>, HostError> {
        self.require(Capability::System, "system.tcp-connections")?;
        Ok(ports
            .iter()
            .map(|&port| {
                self.ports
                    .iter()
                    .find(|p| p.port == port)
                    .cloned()
                    .unwrap_or(PortConnections {
                        port,
                        listening: 0,
                        established: 0,
                        syn_received: 0,
                        time_wait: 0,
                        close_wait: 0,
                        top_remotes: Vec::new(),
                    })
            })
            .collect())
    }

    pub(crate) fn on_protocol_counters(&mut self) -> Result<ProtocolStats, HostError> {
        self.require(Capability::System, "system.protocol-counters")?;
        Ok(self.protocol)
    }

    pub(crate) fn on_sql_query(
        &mut self,
        connection: &str,
        statement: &str,
        params: &[Value],
    ) -> Result<QueryResult, HostError> {
        self.require(Capability::Sql, "sql.query")?;
        self.queries.push((
            connection.to_string(),
            statement.to_string(),
            params.to_vec(),
        ));
        let mut granted = false;
        for (conn, needle, result) in &self.sql {
            if conn == connection {
                granted = true;
                if statement.contains(needle.as_str()) {
                    return Ok(result.clone());
                }
            }
        }
        if granted {
            Err(HostError::Unavailable(format!(
                "the mock has no answer for {statement:?} on `{connection}`"
            )))
        } else {
            Err(HostError::Denied(format!(
                "sql: connection `{connection}` is not granted to this plugin"
            )))
        }
    }

    fn granted_file(&mut self, path: &str) -> Result<&mut MockFile, HostError> {
        if self.missing.contains(path) {
            return Err(HostError::Unavailable(format!(
                "{path}: No such file or directory (os error 2)"
            )));
        }
        self.files
            .get_mut(path)
            .ok_or_else(|| HostError::Denied(format!("file: {path} is outside the granted paths")))
    }

    pub(crate) fn on_file_tail(
        &mut self,
        path: &str,
        start: StartAt,
        max_bytes: u32,
    ) -> Result<Tail, HostError> {
        self.require(Capability::File, "file.tail")?;
        let file = self.granted_file(path)?;
        let len = file.content.len();
        let mut position = *file.position.get_or_insert(match start {
            StartAt::Beginning => 0,
            StartAt::End => len,
        });
        let reset = position > len;
        if reset {
            position = 0;
        }
        let budget = (max_bytes as usize).min(MAX_READ_BYTES);
        let window = &file.content[position..len.min(position.saturating_add(budget))];
        // Only complete lines; a partial last line waits for its newline.
        let complete = window
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let lines = String::from_utf8_lossy(&window[..complete])
            .lines()
            .map(str::to_string)
            .collect();
        position += complete;
        file.position = Some(position);
        Ok(Tail {
            lines,
            cut_lines: 0,
            reset,
            backlog_bytes: (len - position) as u64,
        })
    }

    pub(crate) fn on_file_read(
        &mut self,
        path: &str,
        max_bytes: u32,
    ) -> Result<Vec<u8>, HostError> {
        self.require(Capability::File, "file.read")?;
        let file = self.granted_file(path)?;
        let n = file
            .content
            .len()
            .min((max_bytes as usize).min(MAX_READ_BYTES));
        Ok(file.content[..n].to_vec())
    }

    pub(crate) fn on_tcp_connect(
        &mut self,
        targets: &[String],
        _timeout_ms: u32,
    ) -> Result<Vec<TcpProbe>, HostError> {
        self.require(Capability::Net, "net.tcp-connect")?;
        targets
            .iter()
            .map(|target| {
                self.tcp
                    .iter()
                    .find(|p| &p.target == target)
                    .cloned()
                    .ok_or_else(|| HostError::Denied(format!("net: {target} is not granted")))
            })
            .collect()
    }

    pub(crate) fn on_udp_echo(
        &mut self,
        targets: &[String],
        _count: u32,
        _spacing_ms: u32,
        _timeout_ms: u32,
    ) -> Result<Vec<UdpProbe>, HostError> {
        self.require(Capability::Net, "net.udp-echo")?;
        targets
            .iter()
            .map(|target| {
                self.udp
                    .iter()
                    .find(|p| &p.target == target)
                    .cloned()
                    .ok_or_else(|| HostError::Denied(format!("net: {target} is not granted")))
            })
            .collect()
    }

    pub(crate) fn on_http_get(
        &mut self,
        url: &str,
        _timeout_ms: u32,
        max_bytes: u32,
    ) -> Result<Response, HostError> {
        self.require(Capability::Http, "http.get")?;
        let response = self.http.get(url).cloned().ok_or_else(|| {
            HostError::Denied(format!("http: {url} is not under a granted prefix"))
        })?;
        if response.body.len() > max_bytes as usize {
            return Err(HostError::Invalid(format!(
                "body of {} bytes is over max_bytes {max_bytes}",
                response.body.len()
            )));
        }
        Ok(response)
    }
}

/// A query result with `columns` and `rows`, for [`MockHost::sql`].
pub fn rows(columns: &[&str], rows: Vec<Vec<Value>>) -> QueryResult {
    QueryResult {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        rows,
        truncated: false,
    }
}

/// A plausible machine: 4 cores at 25 %, 8 GiB of memory half used, no swap
/// in use, `/` on a 100 GB disk 40 % used, `eth0` moving 1 MB/s in and
/// 0.5 MB/s out, up for an hour, 120 processes.
pub fn sample_snapshot() -> Snapshot {
    const GIB: u64 = 1 << 30;
    Snapshot {
        taken_at_ms: 1_700_000_000_000,
        uptime_seconds: 3_600,
        load: LoadAverage {
            one: 0.5,
            five: 0.4,
            fifteen: 0.3,
        },
        cpu: Some(CpuStats {
            usage_percent: 25.0,
            per_core_percent: vec![25.0; 4],
            core_count: 4,
        }),
        memory: Some(MemoryStats {
            total_bytes: 8 * GIB,
            used_bytes: 4 * GIB,
            available_bytes: 4 * GIB,
            swap_total_bytes: 2 * GIB,
            swap_used_bytes: 0,
        }),
        disks: vec![DiskStats {
            device: "/dev/sda1".to_string(),
            mount_point: "/".to_string(),
            file_system: "ext4".to_string(),
            total_bytes: 100_000_000_000,
            available_bytes: 60_000_000_000,
            removable: false,
        }],
        networks: vec![NetworkStats {
            interface: "eth0".to_string(),
            rx_bytes: 10_000_000_000,
            tx_bytes: 5_000_000_000,
            rx_packets: 10_000_000,
            tx_packets: 5_000_000,
            rx_errors: 0,
            tx_errors: 0,
            rx_bytes_per_second: 1_000_000.0,
            tx_bytes_per_second: 500_000.0,
        }],
        processes: Some(ProcessSummary {
            total: 120,
            running: 2,
            top_by_memory: vec![ProcessStats {
                pid: 812,
                name: "mariadbd".to_string(),
                cpu_percent: 3.0,
                memory_bytes: 400 << 20,
            }],
        }),
    }
}

/// One plugin instance and the host it runs on, for native tests.
pub struct Harness<P: Plugin> {
    plugin: P,
    info: PluginInfo,
    host: MockHost,
}

impl<P: Plugin> Default for Harness<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Plugin> std::fmt::Debug for Harness<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("info", &self.info)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl<P: Plugin> Harness<P> {
    /// A fresh instance (`P::default()`) on a [`MockHost`] that grants what
    /// `P::info()` requests, as an agent.yml granting everything it asks would.
    pub fn new() -> Self {
        let info = P::info();
        let mut host = MockHost::new();
        for capability in info.capabilities() {
            host.grant(*capability);
        }
        Self {
            plugin: P::default(),
            info,
            host,
        }
    }

    /// The host, to set what it answers or read what the plugin did.
    pub fn host(&mut self) -> &mut MockHost {
        &mut self.host
    }

    /// What `P::info()` declared.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// The plugin instance, to look at its state.
    pub fn plugin(&mut self) -> &mut P {
        &mut self.plugin
    }

    /// One collect call, as the agent makes it. `Err` is what the plugin
    /// returned.
    ///
    /// # Panics
    ///
    /// When the plugin emits a metric its `info()` does not declare: the
    /// agent refuses such metrics, so the test fails here, naming the metric.
    pub fn collect(&mut self) -> Result<Collection, String> {
        let plugin = &mut self.plugin;
        let mut out = Collection::default();
        self.host.run(|| plugin.collect(&mut out))?;
        let undeclared: BTreeSet<&str> = out
            .metrics()
            .iter()
            .map(|m| m.name())
            .filter(|name| !self.info.metrics().iter().any(|spec| spec.name() == *name))
            .collect();
        assert!(
            undeclared.is_empty(),
            "plugin {} emitted metrics its info() does not declare, which the agent refuses: {}; add .metric(MetricSpec::gauge(NAME, UNIT)) for each",
            self.info.name(),
            undeclared.into_iter().collect::<Vec<_>>().join(", ")
        );
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MetricSpec, Severity, Unit, file, host, sql};

    #[derive(Default)]
    struct LogWatch {
        collects: u32,
    }

    impl Plugin for LogWatch {
        fn info() -> PluginInfo {
            PluginInfo::new("log-watch", "1.0.0")
                .metric(MetricSpec::counter("lines", Unit::Count))
                .metric(MetricSpec::gauge("online", Unit::Count))
                .capability(Capability::File)
                .capability(Capability::Sql)
                .capability(Capability::Log)
        }

        fn collect(&mut self, out: &mut Collection) -> Result<(), String> {
            self.collects += 1;
            let tail = file::tail("/srv/map.log", file::StartAt::Beginning, 4096)?;
            out.counter("lines", tail.lines.len() as f64);
            for line in tail.lines.iter().filter(|l| l.contains("error")) {
                out.event("map_error", Severity::Error, line);
            }
            let result = sql::query(
                "main",
                "SELECT COUNT(*) FROM `char` WHERE online = ?",
                &[sql::Value::Int(1)],
            )?;
            let online = result.rows.first().and_then(|r| r[0].as_i64()).unwrap_or(0);
            out.gauge("online", online as f64);
            host::info(&format!("collect {}", self.collects));
            Ok(())
        }
    }

    #[test]
    fn files_tail_from_where_the_last_call_stopped() {
        let mut h = Harness::<LogWatch>::new();
        h.host()
            .file("/srv/map.log", "start\nerror: map crashed\npart")
            .sql("main", rows(&["COUNT(*)"], vec![vec![Value::Int(7)]]));
        let out = h.collect().expect("first collect");
        assert_eq!(out.metric("lines").map(|m| m.value()), Some(2.0));
        assert_eq!(out.metric("online").map(|m| m.value()), Some(7.0));
        let event = out.first_event("map_error").expect("event");
        assert_eq!(event.severity(), Severity::Error);
        assert_eq!(event.message(), "error: map crashed");

        h.host().append("/srv/map.log", "ial line\nnext\n");
        let out = h.collect().expect("second collect");
        assert_eq!(out.metric("lines").map(|m| m.value()), Some(2.0));
        assert_eq!(h.plugin().collects, 2);
        assert_eq!(h.host().logs().len(), 2);
        let (connection, statement, params) = &h.host().queries()[0];
        assert_eq!(connection, "main");
        assert!(statement.starts_with("SELECT COUNT(*)"));
        assert_eq!(params, &vec![Value::Int(1)]);
    }

    #[test]
    fn ungranted_scopes_are_denied_like_the_agent_does() {
        let mut h = Harness::<LogWatch>::new();
        let error = h.collect().expect_err("no file set up");
        assert_eq!(
            error,
            "denied: file: /srv/map.log is outside the granted paths"
        );
        h.host().file("/srv/map.log", "");
        let error = h.collect().expect_err("no sql connection");
        assert!(
            error.contains("connection `main` is not granted"),
            "{error}"
        );
        h.host()
            .sql("main", rows(&["n"], vec![]))
            .deny(Capability::Log);
        h.collect().expect("collect");
        assert!(h.host().logs().is_empty(), "log dropped without the grant");
        assert_eq!(h.host().calls().last(), Some(&"host.log"));
    }

    #[derive(Default)]
    struct Sloppy;

    impl Plugin for Sloppy {
        fn info() -> PluginInfo {
            PluginInfo::new("sloppy", "1.0.0").metric(MetricSpec::gauge("declared", Unit::Count))
        }

        fn collect(&mut self, out: &mut Collection) -> Result<(), String> {
            out.gauge("declared", 1.0);
            out.gauge("forgotten", 2.0);
            Ok(())
        }
    }

    #[test]
    #[should_panic(expected = "does not declare, which the agent refuses: forgotten")]
    fn an_undeclared_metric_fails_the_test() {
        let _ = Harness::<Sloppy>::new().collect();
    }

    #[test]
    fn snapshot_leaves_out_parts_not_requested_and_host_calls_need_a_host() {
        let mut host = MockHost::new();
        host.grant(Capability::System)
            .edit_snapshot(|s| s.uptime_seconds = 42);
        let snap = host
            .run(|| crate::system::snapshot(Request::none()))
            .expect("snapshot");
        assert_eq!(snap.uptime_seconds, 42);
        assert!(snap.cpu.is_none() && snap.disks.is_empty() && snap.processes.is_none());
        assert_eq!(host.calls(), &["system.snapshot"]);
        let outside = crate::system::snapshot(Request::all());
        assert!(
            matches!(outside, Err(HostError::Unavailable(_))),
            "{outside:?}"
        );
    }
}
