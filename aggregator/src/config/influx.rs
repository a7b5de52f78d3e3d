//! `influxdb:` in aggregator.yml: the optional external time-series store
//! (run by [`crate::tsdb`]).

use p2pmon_common::yaml_config::Findings;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxConfig {
    /// Base URL, e.g. `http://127.0.0.1:8086`; empty: off.
    #[serde(default)]
    pub url: String,
    #[serde(default = "default_name")]
    pub org: String,
    #[serde(default = "default_name")]
    pub bucket: String,
    /// The InfluxDB token (`Authorization: Token ...`), or a file holding it.
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub token_file: Option<std::path::PathBuf>,
    #[serde(default = "default_batch_lines")]
    pub batch_lines: usize,
    #[serde(default = "default_flush_ms")]
    pub flush_ms: u64,
    #[serde(default = "default_buffer_lines")]
    pub buffer_lines: usize,
    #[serde(default = "yes")]
    pub gzip: bool,
    /// Batches in flight at once.
    #[serde(default = "default_parallel")]
    pub parallel: usize,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Answer the history API from InfluxDB (Flux); off for stores that
    /// take the write API only (VictoriaMetrics).
    #[serde(default = "yes")]
    pub read_history: bool,
}

fn default_name() -> String {
    "p2pmon".to_string()
}
fn default_batch_lines() -> usize {
    5000
}
fn default_flush_ms() -> u64 {
    1000
}
fn default_buffer_lines() -> usize {
    1_000_000
}
fn yes() -> bool {
    true
}
fn default_parallel() -> usize {
    4
}
fn default_timeout_ms() -> u64 {
    10_000
}

impl Default for InfluxConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            org: default_name(),
            bucket: default_name(),
            token: String::new(),
            token_file: None,
            batch_lines: default_batch_lines(),
            flush_ms: default_flush_ms(),
            buffer_lines: default_buffer_lines(),
            gzip: true,
            parallel: default_parallel(),
            timeout_ms: default_timeout_ms(),
            read_history: true,
        }
    }
}

impl InfluxConfig {
    pub fn validate(&self, findings: &mut Findings) {
        if self.url.is_empty() {
            return;
        }
        match url::Url::parse(&self.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => findings.error("influxdb.url", "must be an http:// or https:// URL"),
        }
        findings.in_range("influxdb.batch_lines", self.batch_lines, 1..=100_000);
        findings.in_range("influxdb.flush_ms", self.flush_ms, 10..=60_000);
        findings.in_range("influxdb.buffer_lines", self.buffer_lines, 1..=100_000_000);
        findings.in_range("influxdb.timeout_ms", self.timeout_ms, 100..=120_000);
        findings.in_range("influxdb.parallel", self.parallel, 1..=64);
    }
}

impl InfluxConfig {
    /// The token: `token_file`'s first line (relative to `base_dir`), or
    /// `token`.
    pub fn read_token(&self, base_dir: &std::path::Path) -> Result<String, String> {
        match &self.token_file {
            Some(file) => super::read_secret(&base_dir.join(file), "influxdb.token_file"),
            None => Ok(self.token.clone()),
        }
    }
}
