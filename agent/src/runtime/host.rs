//! The host side of the contract: the data each plugin's `Store` carries, the
//! capability check in front of every host function, and the memory limiter.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::fixture::Fixture;
use super::log_budget::LogBudget;
use super::system::{MAX_PROCESS_NAME, MAX_PROCESS_NAMES, SystemProbe, unix_ms};
use crate::access::file::FileAccess;
use crate::access::{Access, sockets};
use crate::bindings::p2pmon::plugin::{file, host, http, net, sql, system, types};
use crate::capability::Capability;
use crate::stats::PluginStats;
use p2pmon_common::rules::truncate;

/// Longest string a plugin may hand to a host function (log lines, keys).
const MAX_HOST_STRING: usize = 8 * 1024;
/// Distinct scope refusals logged at warn per instance; the rest are
/// counted (`agent_plugin_denied_calls`) and logged at debug.
const MAX_SCOPE_WARNINGS: usize = 8;

/// Everything a plugin instance's `Store` holds.
pub struct PluginState {
    /// Instance name from agent.yml (or the file name for `plugin inspect`).
    pub name: Arc<str>,
    pub grants: BTreeSet<Capability>,
    pub config: Arc<BTreeMap<String, String>>,
    pub memory: MemoryGuard,
    pub system: Arc<SystemProbe>,
    pub access: Arc<Access>,
    pub stats: Arc<PluginStats>,
    /// Message the SDK's panic hook reported, if the plugin panicked.
    pub panic_message: Option<String>,
    /// When the current call must end; the epoch callback checks it.
    pub deadline: Option<Instant>,
    /// Capabilities already reported as missing, to log each once at warn.
    denied_logged: BTreeSet<Capability>,
    /// Scope refusals already logged at warn (at most [`MAX_SCOPE_WARNINGS`]).
    scope_logged: BTreeSet<String>,
    /// What this call has logged, through `host.log` and stdout/stderr.
    log_budget: Arc<Mutex<LogBudget>>,
    /// WASI 0.2 with nothing reachable (see `wasi.rs`), for plugins whose
    /// toolchain imports it. In a mutex only to keep the state `Sync` (the
    /// linked plugin is shared between tasks); reached through `get_mut`,
    /// never locked.
    wasi: Mutex<(WasiCtx, ResourceTable)>,
    /// `plugin test`: sql, file, net and http answer from fixture files
    /// instead of the world.
    pub fixture: Option<Arc<Fixture>>,
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let (ctx, table) = self
            .wasi
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        WasiCtxView { ctx, table }
    }
}

impl PluginState {
    pub fn new(
        name: Arc<str>,
        grants: BTreeSet<Capability>,
        config: Arc<BTreeMap<String, String>>,
        memory_limit: usize,
        system: Arc<SystemProbe>,
        access: Arc<Access>,
        stats: Arc<PluginStats>,
    ) -> Self {
        let log_budget = Arc::new(Mutex::new(LogBudget::new(stats.clone())));
        let wasi = super::wasi::context(
            name.clone(),
            log_budget.clone(),
            grants.contains(&Capability::Clock),
        );
        Self {
            name,
            grants,
            config,
            memory: MemoryGuard::new(memory_limit),
            system,
            access,
            stats,
            panic_message: None,
            deadline: None,
            denied_logged: BTreeSet::new(),
            scope_logged: BTreeSet::new(),
            log_budget,
            wasi: Mutex::new((wasi, ResourceTable::new())),
            fixture: None,
        }
    }

    /// A call starts: its deadline, and the whole log budget.
    pub fn begin_call(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
        if let Ok(mut budget) = self.log_budget.lock() {
            budget.reset();
        }
    }

    /// Check a grant; on denial count it, log which grant is missing, and
    /// return the error the plugin sees.
    fn require(&mut self, capability: Capability, function: &str) -> Result<(), types::HostError> {
        if self.grants.contains(&capability) {
            return Ok(());
        }
        self.stats.record_denied();
        if self.denied_logged.insert(capability) {
            tracing::warn!(
                plugin = %self.name,
                capability = capability.as_str(),
                function,
                "Plugin called {function} without the `{capability}` capability; add it to this plugin's capabilities in agent.yml to allow it."
            );
        } else {
            tracing::debug!(plugin = %self.name, capability = capability.as_str(), function, "Capability denied again.");
        }
        Err(types::HostError::Denied(capability.as_str().to_string()))
    }

    /// Time left before the current call's deadline (a host function must not
    /// outlive the call that made it).
    fn remaining(&self) -> Duration {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(5))
    }

    /// Count and log a scope refusal (the capability was granted, the
    /// target not): each distinct refusal once at warn, up to
    /// [`MAX_SCOPE_WARNINGS`] per instance; every one is counted.
    fn scope_denied(&mut self, error: types::HostError) -> types::HostError {
        if let types::HostError::Denied(what) = &error {
            self.stats.record_denied();
            let key = truncate(what.clone(), 256);
            if self.scope_logged.len() < MAX_SCOPE_WARNINGS && self.scope_logged.insert(key) {
                tracing::warn!(plugin = %self.name, "Plugin refused: {what} (the same refusal again is counted in agent_plugin_denied_calls, not logged).");
            } else {
                tracing::debug!(plugin = %self.name, "Plugin refused again: {what}.");
            }
        }
        error
    }

    /// Whether this call may still log `bytes`; counts a line refused.
    fn log_allowed(&mut self, bytes: usize) -> bool {
        self.log_budget
            .lock()
            .map(|mut budget| budget.allow(&self.name, bytes))
            .unwrap_or(false)
    }
}

fn check_length(what: &str, value: &str) -> Result<(), types::HostError> {
    if value.len() > MAX_HOST_STRING {
        Err(types::HostError::Invalid(format!(
            "{what} is {} bytes, over the {MAX_HOST_STRING}-byte limit",
            value.len()
        )))
    } else {
        Ok(())
    }
}

impl types::Host for PluginState {}

impl host::Host for PluginState {
    fn log(&mut self, level: host::LogLevel, message: String) -> Result<(), types::HostError> {
        self.require(Capability::Log, "host.log")?;
        check_length("log message", &message)?;
        // Over the budget the line is dropped, not failed: logging must not
        // change what a plugin's collect does.
        if !self.log_allowed(message.len()) {
            return Ok(());
        }
        let plugin = &*self.name;
        match level {
            host::LogLevel::Trace => tracing::trace!(plugin, "{message}"),
            host::LogLevel::Debug => tracing::debug!(plugin, "{message}"),
            host::LogLevel::Info => tracing::info!(plugin, "{message}"),
            host::LogLevel::Warn => tracing::warn!(plugin, "{message}"),
            host::LogLevel::Error => tracing::error!(plugin, "{message}"),
        }
        Ok(())
    }

    fn now_ms(&mut self) -> Result<u64, types::HostError> {
        self.require(Capability::Clock, "host.now-ms")?;
        Ok(unix_ms())
    }

    fn config_get(&mut self, key: String) -> Result<Option<String>, types::HostError> {
        self.require(Capability::Config, "host.config-get")?;
        check_length("config key", &key)?;
        Ok(self.config.get(&key).cloned())
    }

    fn config_keys(&mut self) -> Result<Vec<String>, types::HostError> {
        self.require(Capability::Config, "host.config-keys")?;
        Ok(self.config.keys().cloned().collect())
    }

    fn report_panic(&mut self, message: String) {
        self.panic_message = Some(truncate(message, MAX_HOST_STRING));
    }
}

impl system::Host for PluginState {
    fn snapshot(
        &mut self,
        request: system::SnapshotRequest,
    ) -> Result<system::SystemSnapshot, types::HostError> {
        self.require(Capability::System, "system.snapshot")?;
        self.system
            .snapshot(request)
            .map_err(|e| types::HostError::Unavailable(e.to_string()))
    }

    fn tcp_connections(
        &mut self,
        ports: Vec<u16>,
    ) -> Result<Vec<system::PortConnections>, types::HostError> {
        self.require(Capability::System, "system.tcp-connections")?;
        sockets::tcp_connections(&ports)
    }

    fn protocol_counters(&mut self) -> Result<system::ProtocolStats, types::HostError> {
        self.require(Capability::System, "system.protocol-counters")?;
        sockets::protocol_counters()
    }

    fn processes_named(
        &mut self,
        names: Vec<String>,
    ) -> Result<Vec<system::ProcessGroup>, types::HostError> {
        self.require(Capability::System, "system.processes-named")?;
        if names.len() > MAX_PROCESS_NAMES {
            return Err(types::HostError::Invalid(format!(
                "{} names asked for, at most {MAX_PROCESS_NAMES}",
                names.len()
            )));
        }
        if let Some(name) = names
            .iter()
            .find(|n| n.is_empty() || n.len() > MAX_PROCESS_NAME)
        {
            return Err(types::HostError::Invalid(format!(
                "process name of {} bytes (1 to {MAX_PROCESS_NAME})",
                name.len()
            )));
        }
        self.system
            .processes_named(&names)
            .map_err(|e| types::HostError::Unavailable(e.to_string()))
    }
}

impl sql::Host for PluginState {
    async fn query(
        &mut self,
        connection: String,
        statement: String,
        params: Vec<sql::SqlValue>,
    ) -> Result<sql::QueryResult, types::HostError> {
        self.require(Capability::Sql, "sql.query")?;
        check_length("connection name", &connection)?;
        if let Some(fixture) = &self.fixture {
            return fixture.query(&connection, &statement);
        }
        let Some(pool) = self.access.sql.get(&connection).cloned() else {
            return Err(self.scope_denied(types::HostError::Denied(format!(
                "sql: connection `{connection}` is not granted to this plugin"
            ))));
        };
        let stats = self.stats.clone();
        outside(&stats, pool.query(&statement, params, self.remaining())).await
    }
}

impl file::Host for PluginState {
    async fn tail(
        &mut self,
        path: String,
        start: file::StartAt,
        max_bytes: u32,
    ) -> Result<file::TailResult, types::HostError> {
        self.require(Capability::File, "file.tail")?;
        check_length("path", &path)?;
        if let Some(fixture) = &self.fixture {
            return fixture.tail(&path, max_bytes);
        }
        // Off the async workers, under the call's deadline (see access::file).
        let stats = self.stats.clone();
        let work = FileAccess::off_worker(
            self.access.clone(),
            |access: &Access| &access.files,
            self.remaining(),
            move |files| files.tail(&path, start, max_bytes),
        );
        outside(&stats, work)
            .await
            .map_err(|e| self.scope_denied(e))
    }

    async fn read(&mut self, path: String, max_bytes: u32) -> Result<Vec<u8>, types::HostError> {
        self.require(Capability::File, "file.read")?;
        check_length("path", &path)?;
        if let Some(fixture) = &self.fixture {
            return fixture.read(&path, max_bytes);
        }
        let stats = self.stats.clone();
        let work = FileAccess::off_worker(
            self.access.clone(),
            |access: &Access| &access.files,
            self.remaining(),
            move |files| files.read(&path, max_bytes),
        );
        outside(&stats, work)
            .await
            .map_err(|e| self.scope_denied(e))
    }
}

impl net::Host for PluginState {
    async fn tcp_connect(
        &mut self,
        targets: Vec<String>,
        timeout_ms: u32,
    ) -> Result<Vec<net::TcpProbe>, types::HostError> {
        self.require(Capability::Net, "net.tcp-connect")?;
        if let Some(fixture) = &self.fixture {
            return fixture.tcp_connect(&targets);
        }
        let budget = crate::access::net::probe_budget(self.remaining());
        let access = self.access.clone();
        let stats = self.stats.clone();
        outside(&stats, access.net.tcp_connect(targets, timeout_ms, budget))
            .await
            .map_err(|e| self.scope_denied(e))
    }

    async fn udp_echo(
        &mut self,
        targets: Vec<String>,
        count: u32,
        spacing_ms: u32,
        timeout_ms: u32,
    ) -> Result<Vec<net::UdpProbe>, types::HostError> {
        self.require(Capability::Net, "net.udp-echo")?;
        if let Some(fixture) = &self.fixture {
            return fixture.udp_echo(&targets, count);
        }
        let budget = crate::access::net::probe_budget(self.remaining());
        let access = self.access.clone();
        let stats = self.stats.clone();
        outside(
            &stats,
            access
                .net
                .udp_echo(targets, count, spacing_ms, timeout_ms, budget),
        )
        .await
        .map_err(|e| self.scope_denied(e))
    }
}

impl http::Host for PluginState {
    async fn get(
        &mut self,
        url: String,
        timeout_ms: u32,
        max_bytes: u32,
    ) -> Result<http::Response, types::HostError> {
        self.require(Capability::Http, "http.get")?;
        check_length("url", &url)?;
        if let Some(fixture) = &self.fixture {
            return fixture.get(&url, max_bytes);
        }
        let timeout_ms = timeout_ms.min(millis(self.remaining()));
        let access = self.access.clone();
        let stats = self.stats.clone();
        outside(&stats, access.http.get(&url, timeout_ms, max_bytes))
            .await
            .map_err(|e| self.scope_denied(e))
    }
}

/// Await `work`, a wait on the world outside the sandbox (a database, a
/// probe, a URL, the filesystem), and count its time as host wait: it is
/// not the plugin's own CPU time, which the supervisor holds to a share.
async fn outside<T>(stats: &PluginStats, work: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let out = work.await;
    let waited = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    stats
        .host_wait_us
        .fetch_add(waited, std::sync::atomic::Ordering::Relaxed);
    out
}

fn millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

/// Why a store refused to grow: carried inside the trap so the caller can
/// tell an out-of-memory stop from other traps.
#[derive(Debug, thiserror::Error)]
#[error("plugin memory limit of {limit} bytes exceeded (asked for {requested} bytes)")]
pub struct MemoryLimitExceeded {
    pub limit: usize,
    pub requested: usize,
}

/// Caps what a plugin's store makes the host hold, linear memory and table
/// elements together, and remembers the peak. Tables live in host memory
/// (a slot per element), so a plugin declaring many large tables would
/// otherwise take tens of MB past a 2 MB limit unseen.
pub struct MemoryGuard {
    limit: usize,
    /// Bytes of linear memory, over all memories.
    linear: usize,
    /// Elements, over all tables.
    table_elements: usize,
    peak: usize,
}

/// Elements one table may have; generous for Rust, small for the host.
const MAX_TABLE_ELEMENTS: usize = 100_000;
/// Host bytes charged per table element: wasmtime keeps a pointer-sized
/// slot for each, plus lazy-init bookkeeping; 16 is above both.
const TABLE_ELEMENT_BYTES: usize = 16;

impl MemoryGuard {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            linear: 0,
            table_elements: 0,
            peak: 0,
        }
    }

    /// Bytes the plugin's store holds now: linear memory plus tables.
    pub fn current(&self) -> usize {
        self.linear
            .saturating_add(self.table_elements.saturating_mul(TABLE_ELEMENT_BYTES))
    }

    pub fn peak(&self) -> usize {
        self.peak
    }

    /// Accept `linear` bytes and `table_elements` elements, or refuse them
    /// as over the limit.
    fn admit(&mut self, linear: usize, table_elements: usize) -> wasmtime::Result<bool> {
        let total = linear.saturating_add(table_elements.saturating_mul(TABLE_ELEMENT_BYTES));
        if total > self.limit {
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                limit: self.limit,
                requested: total,
            }));
        }
        self.linear = linear;
        self.table_elements = table_elements;
        self.peak = self.peak.max(total);
        Ok(true)
    }
}

impl ResourceLimiter for MemoryGuard {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Sum over all memories: a component may hold more than one.
        let linear = self.linear.saturating_sub(current).saturating_add(desired);
        self.admit(linear, self.table_elements)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        // Summed over all tables, charged against the same limit.
        let elements = self
            .table_elements
            .saturating_sub(current)
            .saturating_add(desired);
        self.admit(self.linear, elements)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A core module with `tables` tables of `elements` each and one page
    /// of memory, instantiated under a guard of `limit` bytes.
    fn instantiate(tables: usize, elements: usize, limit: usize) -> (wasmtime::Result<()>, usize) {
        let engine = wasmtime::Engine::default();
        let declared: String = (0..tables)
            .map(|_| format!("(table {elements} funcref)"))
            .collect();
        let module = wasmtime::Module::new(&engine, format!("(module (memory 1) {declared})"))
            .expect("module");
        let mut store = wasmtime::Store::new(&engine, MemoryGuard::new(limit));
        store.limiter(|guard| guard);
        let result = wasmtime::Instance::new(&mut store, &module, &[]).map(|_| ());
        let held = store.data().current();
        (result, held)
    }

    #[test]
    fn table_elements_count_against_the_memory_limit() {
        // The attack: 56 tables of 100,000 elements under `memory_mb: 2`.
        let (result, held) = instantiate(56, 100_000, 2 << 20);
        let error = result.expect_err("56 x 100k table elements fit in 2 MiB");
        assert!(
            error.downcast_ref::<MemoryLimitExceeded>().is_some(),
            "{error:?}"
        );
        assert!(held <= 2 << 20, "held {held} bytes");
        // What a plugin really has (one small table) fits, and is counted.
        let (result, held) = instantiate(1, 1000, 2 << 20);
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(held, 65_536 + 1000 * TABLE_ELEMENT_BYTES);
    }
}
