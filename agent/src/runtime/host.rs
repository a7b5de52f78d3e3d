//! The host side of the contract: the data each plugin's `Store` carries, the
//! capability check in front of every host function, and the memory limiter.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use wasmtime::ResourceLimiter;

use super::bindings::p2pmon::plugin::{host, system, types};
use super::system::{SystemProbe, unix_ms};
use crate::capability::Capability;
use crate::stats::PluginStats;
use p2pmon_common::rules::truncate;

/// Longest string a plugin may hand to a host function (log lines, keys).
const MAX_HOST_STRING: usize = 8 * 1024;

/// Everything a plugin instance's `Store` holds.
pub struct PluginState {
    /// Instance name from agent.yml (or the file name for `plugin inspect`).
    pub name: Arc<str>,
    pub grants: BTreeSet<Capability>,
    pub config: Arc<BTreeMap<String, String>>,
    pub memory: MemoryGuard,
    pub system: Arc<SystemProbe>,
    pub stats: Arc<PluginStats>,
    /// Message the SDK's panic hook reported, if the plugin panicked.
    pub panic_message: Option<String>,
    /// When the current call must end; the epoch callback checks it.
    pub deadline: Option<Instant>,
    /// Capabilities already reported as missing, to log each once at warn.
    denied_logged: BTreeSet<Capability>,
}

impl PluginState {
    pub fn new(
        name: Arc<str>,
        grants: BTreeSet<Capability>,
        config: Arc<BTreeMap<String, String>>,
        memory_limit: usize,
        system: Arc<SystemProbe>,
        stats: Arc<PluginStats>,
    ) -> Self {
        Self {
            name,
            grants,
            config,
            memory: MemoryGuard::new(memory_limit),
            system,
            stats,
            panic_message: None,
            deadline: None,
            denied_logged: BTreeSet::new(),
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
}

/// Why a store refused to grow: carried inside the trap so the caller can
/// tell an out-of-memory stop from other traps.
#[derive(Debug, thiserror::Error)]
#[error("plugin memory limit of {limit} bytes exceeded (asked for {requested} bytes)")]
pub struct MemoryLimitExceeded {
    pub limit: usize,
    pub requested: usize,
}

/// Caps a plugin's linear memory and tables, and remembers the peak.
pub struct MemoryGuard {
    limit: usize,
    current: usize,
    peak: usize,
}

/// Table elements a plugin may have; generous for Rust, small for the host.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl MemoryGuard {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            current: 0,
            peak: 0,
        }
    }

    /// Bytes of linear memory the plugin currently has.
    pub fn current(&self) -> usize {
        self.current
    }

    pub fn peak(&self) -> usize {
        self.peak
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
        let total = self.current.saturating_sub(current).saturating_add(desired);
        if total > self.limit {
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                limit: self.limit,
                requested: total,
            }));
        }
        self.current = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
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
