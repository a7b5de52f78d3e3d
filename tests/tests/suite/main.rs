//! Every integration test of the workspace, in one binary: one link of
//! wasmtime instead of one per file. Each module is the tests of one area;
//! `make test` runs them with cargo-nextest, a process per test, so tests
//! that read the process's own memory (memory_limit, file_memory) still
//! measure themselves alone.

/// The package's binaries (tests/src/bin), which Cargo builds for this test.
mod bins {
    use std::path::PathBuf;

    pub fn agent() -> PathBuf {
        PathBuf::from(env!("CARGO_BIN_EXE_p2pmon-test-agent"))
    }

    pub fn aggregator() -> PathBuf {
        PathBuf::from(env!("CARGO_BIN_EXE_p2pmon-test-aggregator"))
    }

    pub fn hostsim() -> PathBuf {
        PathBuf::from(env!("CARGO_BIN_EXE_p2pmon-test-hostsim"))
    }

    /// The test aggregator binary configured in `dir` (aggregator.yml with
    /// `overrides`) and started.
    pub fn start_aggregator(
        dir: &std::path::Path,
        overrides: &str,
    ) -> anyhow::Result<p2pmon_tests::aggregator::AggregatorProcess> {
        let mut aggregator =
            p2pmon_tests::aggregator::AggregatorProcess::configure(&aggregator(), dir, overrides)?;
        aggregator.start()?;
        Ok(aggregator)
    }
}

mod actions;
mod alerting_e2e;
mod alerts;
mod architecture;
mod capabilities;
mod config;
mod contract;
mod coordinator_events;
mod coordinator_reference;
mod coordinator_registry;
mod dashboard;
mod delivery;
mod demo;
mod echo;
mod email;
mod file_memory;
mod fluxcp;
mod game_plugins;
mod hostile_clients;
mod hostile_hosts;
mod hostile_plugins;
mod influxdb;
mod ingest;
mod isolation;
mod loading;
mod memory_limit;
mod network_impaired;
mod notifications;
mod openapi;
mod operations;
mod plugin_author;
mod plugins;
mod polyglot;
mod prometheus;
mod push_channels;
mod quarantine;
mod settings;
mod simulator;
mod status_page;
mod transport;
mod websocket;
