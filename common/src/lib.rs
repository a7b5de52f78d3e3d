//! What the agent and the aggregator must agree on.
//!
//! - [`wire`]: batches, records and the ingest protocol messages.
//! - [`rules`]: names, tags and sizes every record obeys; the agent enforces
//!   them on plugin output, the aggregator again on what arrives.
//! - [`collection`]: metrics.yml's groups, which metrics are collected.
//! - [`files`]: files written whole or not at all.
//! - [`logging`]: the log set-up of both binaries.
//! - [`prometheus`]: the `/metrics` text format of both binaries.
//! - [`telemetry`]: the binaries' own counters and gauges, declared once and
//!   read by `/metrics`, the health answer and the agent's self-metrics.
//! - [`yaml_config`]: the config loader that reports every error at once.

pub mod collection;
pub mod compact;
pub mod files;
pub mod logging;
pub mod prometheus;
pub mod rules;
pub mod telemetry;
pub mod wire;
pub mod yaml_config;
