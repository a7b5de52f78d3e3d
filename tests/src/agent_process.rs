//! The agent as a real process shipping to an aggregator: a directory with
//! agent.yml, the plugins, the spool and the credential file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};

use crate::aggregator::merge;
use crate::build_wasm;

/// A plugin for [`AgentProcess::configure`]: its package (built from source),
/// instance name, capabilities and interval.
pub struct PluginSpec<'a> {
    pub package: &'a str,
    pub name: &'a str,
    pub capabilities: &'a [&'a str],
    pub interval_ms: u64,
}

/// The counter fixture: reports 1, 2, 3... one value per collect.
pub fn counter(interval_ms: u64) -> PluginSpec<'static> {
    PluginSpec {
        package: "p2pmon-fixture-counter",
        name: "counter",
        capabilities: &[],
        interval_ms,
    }
}

/// The real system plugin.
pub fn system(interval_ms: u64) -> PluginSpec<'static> {
    PluginSpec {
        package: "p2pmon-plugin-system",
        name: "system",
        capabilities: &["system", "log"],
        interval_ms,
    }
}

pub struct AgentProcess {
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub binary: PathBuf,
    pub child: Option<std::process::Child>,
}

impl AgentProcess {
    /// Write agent.yml in `dir` for host `host_id` shipping to `ingest_url`,
    /// enrolling with `join_token`, running `plugins`; `extra` YAML is merged
    /// over it.
    pub fn configure(
        binary: &Path,
        dir: &Path,
        host_id: &str,
        ingest_url: &str,
        join_token: &str,
        plugins: &[PluginSpec],
        extra: &str,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir.join("plugins"))?;
        let mut plugin_yaml = String::new();
        for plugin in plugins {
            let wasm = build_wasm(plugin.package)?;
            let file = format!("{}.wasm", plugin.name);
            std::fs::copy(&wasm, dir.join("plugins").join(&file))?;
            plugin_yaml.push_str(&format!(
                "  - name: {}\n    file: {file}\n    capabilities: [{}]\n    interval_ms: {}\n",
                plugin.name,
                plugin.capabilities.join(", "),
                plugin.interval_ms
            ));
        }
        let yaml = format!(
            "host_id: {host_id}\nplugins_dir: plugins\n\
             collection: {{flush_interval_ms: 200, jitter_percent: 0}}\n\
             output: {{kind: aggregator}}\n\
             aggregator:\n  url: '{ingest_url}'\n  join_token: '{join_token}'\n  credential_file: credential\n  \
             spool: {{dir: spool, max_mb: 64}}\n  backoff: {{initial_ms: 100, max_ms: 1000}}\n  drain_timeout_ms: 10000\n\
             plugins:\n{plugin_yaml}"
        );
        let mut config: serde_yaml::Value = serde_yaml::from_str(&yaml)?;
        if !extra.trim().is_empty() {
            merge(&mut config, serde_yaml::from_str(extra)?);
        }
        let yaml = serde_yaml::to_string(&config)?;
        let config_path = dir.join("agent.yml");
        std::fs::write(&config_path, yaml)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            config_path,
            binary: binary.to_path_buf(),
            child: None,
        })
    }

    /// An agent for `host` in `root/host` shipping to `aggregator`, with a
    /// fresh join token from it (configured, not started).
    pub fn for_aggregator(
        binary: &Path,
        root: &Path,
        host: &str,
        aggregator: &crate::aggregator::AggregatorProcess,
        plugins: &[PluginSpec],
        extra: &str,
    ) -> Result<Self> {
        Self::configure(
            binary,
            &root.join(host),
            host,
            &aggregator.ingest_url(),
            &aggregator.command(&["token", "create", "--join"])?,
            plugins,
            extra,
        )
    }

    /// Start `run`; logs go to agent.log in the directory.
    pub fn start(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let child = std::process::Command::new(&self.binary)
            .arg("--config")
            .arg(&self.config_path)
            .arg("run")
            .env("P2PMON_LOG", "info")
            .env_remove("P2PMON_JOIN_TOKEN")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    /// Run `p2pmon-agent --config ... ARGS` to completion: (success, stdout + stderr).
    pub fn command(&self, args: &[&str]) -> Result<(bool, String)> {
        let output = std::process::Command::new(&self.binary)
            .arg("--config")
            .arg(&self.config_path)
            .args(args)
            .env_remove("P2PMON_JOIN_TOKEN")
            .output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok((output.status.success(), text))
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("agent.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Wait until the log contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> Result<()> {
        crate::wait::eventually_blocking(timeout, || {
            let log = self.log();
            anyhow::ensure!(
                log.contains(needle),
                "{needle:?} not in the agent log:\n{log}"
            );
            Ok(())
        })
    }

    /// Batch files waiting in the spool.
    pub fn spooled(&self) -> usize {
        std::fs::read_dir(self.dir.join("spool"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".zst"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// SIGTERM: the agent flushes, drains the spool (bounded), and exits.
    pub fn stop(&mut self) -> Result<std::process::ExitStatus> {
        crate::terminate(&mut self.child)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether `values` are exactly 1, 2, ..., n (each once, none missing);
/// otherwise which are missing and which repeat.
pub fn check_sequence(values: &[f64]) -> Result<u64> {
    let mut sorted: Vec<u64> = values.iter().map(|v| *v as u64).collect();
    sorted.sort_unstable();
    let n = sorted.last().copied().unwrap_or(0);
    let mut repeated = Vec::new();
    for pair in sorted.windows(2) {
        if pair[0] == pair[1] {
            repeated.push(pair[0]);
        }
    }
    let present: std::collections::BTreeSet<u64> = sorted.iter().copied().collect();
    let missing: Vec<u64> = (1..=n).filter(|i| !present.contains(i)).collect();
    if !missing.is_empty() || !repeated.is_empty() {
        bail!(
            "sequence 1..={n}: {} missing (first {:?}), {} stored twice (first {:?})",
            missing.len(),
            &missing[..missing.len().min(10)],
            repeated.len(),
            &repeated[..repeated.len().min(10)]
        );
    }
    Ok(n)
}
