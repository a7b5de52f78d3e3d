//! Helpers for the workspace's integration tests and benchmarks: building
//! plugins and fixtures to wasm from source, writing agent configs into
//! temporary directories, running an agent against an in-memory sink,
//! capturing logs, local stand-ins for external HTTP services
//! ([`fake_http`]), VictoriaMetrics as a line-protocol store ([`victoria`]),
//! load for the benchmarks ([`load`]), waiting for a condition
//! ([`wait::eventually`]) and fixed ports for child processes ([`ports`]).

pub mod agent_process;
pub mod aggregator;
pub mod fake_coordinator;
pub mod fake_http;
pub mod load;
pub mod ports;
pub mod smtp;
pub mod victoria;
pub mod wait;
pub mod world;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use p2pmon_agent::agent::Agent;
use p2pmon_agent::config::{AgentConfig, OutputFormat};
use p2pmon_agent::output::Sink;
use p2pmon_common::wire::{Batch, Record};

/// SIGTERM the child in `slot` and wait for it to exit.
pub fn terminate(slot: &mut Option<std::process::Child>) -> Result<std::process::ExitStatus> {
    let Some(mut child) = slot.take() else {
        bail!("not running");
    };
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    Ok(child.wait()?)
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Build `package` for wasm32 with the `plugin` profile and return the
/// `.wasm` path. Uses its own target dir (target/wasm) because the outer
/// `cargo test` holds the lock on target/. Built once per test process.
pub fn build_wasm(package: &str) -> Result<PathBuf> {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built
        .lock()
        .map_err(|_| anyhow::anyhow!("build lock poisoned"))?;
    if let Some(path) = built.get(package) {
        return Ok(path.clone());
    }
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = Command::new(cargo)
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", root.join("target/wasm"))
        // Release plugins from plain rustc, as scripts/build-plugins.sh
        // builds them (`make test` runs the tests under clippy-driver).
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .args([
            "build",
            "--quiet",
            "--profile",
            "plugin",
            "--target",
            "wasm32-unknown-unknown",
            "-p",
            package,
        ])
        .output()
        .context("running cargo to build a wasm plugin")?;
    if !output.status.success() {
        bail!(
            "building {package} for wasm32 failed (is the target installed? `rustup target add wasm32-unknown-unknown`):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let path = root
        .join("target/wasm/wasm32-unknown-unknown/plugin")
        .join(format!("{}.wasm", package.replace('-', "_")));
    if !path.is_file() {
        bail!("cargo succeeded but {} is missing", path.display());
    }
    built.insert(package.to_string(), path.clone());
    Ok(path)
}

/// Every plugin crate under plugins/: (package name, directory).
pub fn plugin_packages() -> Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(workspace_root().join("plugins"))? {
        let dir = entry?.path();
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest)?;
        let name = text
            .lines()
            .find_map(|line| line.trim().strip_prefix("name = \""))
            .and_then(|rest| rest.strip_suffix('"'))
            .with_context(|| format!("no package name in {}", manifest.display()))?;
        found.push((name.to_string(), dir));
    }
    found.sort();
    Ok(found)
}

/// A temporary directory holding an agent.yml and the plugins it names.
pub struct AgentDir {
    pub dir: tempfile::TempDir,
}

impl AgentDir {
    pub fn new() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(dir.path().join("plugins"))?;
        Ok(Self { dir })
    }

    /// An agent directory holding the hostile fixture as `hostile.wasm`.
    pub fn with_hostile() -> Result<Self> {
        let dir = Self::new()?;
        dir.add_plugin(&build_wasm("p2pmon-fixture-hostile")?, "hostile.wasm")?;
        Ok(dir)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Copy a built wasm file into the plugins directory under `file_name`.
    pub fn add_plugin(&self, wasm: &Path, file_name: &str) -> Result<()> {
        std::fs::copy(wasm, self.path().join("plugins").join(file_name))?;
        Ok(())
    }

    /// Write `yaml` as agent.yml and return its path.
    pub fn write_config(&self, yaml: &str) -> Result<PathBuf> {
        let path = self.path().join("agent.yml");
        std::fs::write(&path, yaml)?;
        Ok(path)
    }

    /// Write and load `yaml` as agent.yml.
    pub fn config(&self, yaml: &str) -> Result<AgentConfig> {
        let path = self.write_config(yaml)?;
        AgentConfig::load(&path).map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// A `Write` that appends to a shared buffer.
#[derive(Clone, Default)]
pub struct SharedBuffer(pub Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("buffer lock poisoned"))?
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuffer {
    pub fn text(&self) -> String {
        self.0
            .lock()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }
}

/// Start an agent from `config`, run it for `duration`, shut it down, and
/// return the batches it wrote.
pub async fn run_agent_for(config: AgentConfig, duration: Duration) -> Result<Vec<Batch>> {
    let buffer = SharedBuffer::default();
    let sink = Sink::new(Box::new(buffer.clone()), OutputFormat::Json);
    let agent = Agent::start(config).await?;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(agent.run(sink, shutdown));
    tokio::time::sleep(duration).await;
    stop.send(true)?;
    running.await??;
    buffer
        .text()
        .lines()
        .map(|line| serde_json::from_str(line).context("parsing a batch"))
        .collect()
}

/// All records of `batches`, in order.
pub fn records(batches: &[Batch]) -> Vec<Record> {
    batches.iter().flat_map(|b| b.records.clone()).collect()
}

/// Timestamps of the `calls` metric that the hostile and counter fixtures
/// emit for `plugin`, in order.
pub fn call_times(batches: &[Batch], plugin: &str) -> Vec<u64> {
    records(batches)
        .into_iter()
        .filter_map(|r| match r {
            Record::Metric(m) if m.plugin == plugin && m.name == "calls" => Some(m.timestamp_ms),
            _ => None,
        })
        .collect()
}

/// Every value of the agent's self-metric `name` for `plugin`, in order.
pub fn self_metrics(batches: &[Batch], name: &str, plugin: &str) -> Vec<f64> {
    records(batches)
        .into_iter()
        .filter_map(|r| match r {
            Record::Metric(m)
                if m.plugin == "agent"
                    && m.name == name
                    && m.tags.get("plugin").map(String::as_str) == Some(plugin) =>
            {
                Some(m.value)
            }
            _ => None,
        })
        .collect()
}

/// The last value of an agent self-metric for `plugin`.
pub fn self_metric(batches: &[Batch], name: &str, plugin: &str) -> Option<f64> {
    self_metrics(batches, name, plugin).last().copied()
}

/// Run `f` with logs captured; returns its result and the log text.
/// The capture is per thread: use a current-thread tokio runtime inside.
pub fn with_captured_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    let buffer = SharedBuffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let result = tracing::subscriber::with_default(subscriber, f);
    (result, buffer.text())
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, written as
/// `{name}.pem` and `{name}.key` in `dir`.
pub fn write_self_signed(dir: &Path, name: &str) -> Result<(PathBuf, PathBuf)> {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, generated.cert.pem())?;
    std::fs::write(&key, generated.signing_key.serialize_pem())?;
    Ok((cert, key))
}
