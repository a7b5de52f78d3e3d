//! p2pmon agent: loads sandboxed WASM plugins, collects their metrics and
//! events on schedule, and ships them in batches.
//!
//! - [`config`]: agent.yml, validated with every error reported at once.
//! - [`bindings`]: the host side of the WIT contract (generated types).
//! - [`runtime`]: wasmtime engine, plugin loading, sandboxed instances.
//! - [`access`]: what the scoped capabilities reach (sql, file, net, http).
//! - [`supervisor`]: one actor per plugin (schedule, restarts, quarantine).
//! - [`output`]: the batcher and the sinks.
//! - [`transport`]: the spool and the sender to the aggregator, enrollment.
//! - [`agent`]: wiring it together; [`cli`]: the `p2pmon-agent` commands.

pub mod access;
pub mod agent;
pub mod bindings;
pub mod capability;
pub mod cli;
pub mod config;
pub mod output;
pub mod plugin_tool;
pub mod runtime;
pub mod stats;
pub mod supervisor;
pub mod transport;
pub mod validate;
