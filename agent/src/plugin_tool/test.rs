//! `p2pmon-agent plugin test FILE [--config plugin.yml] [--fixture DIR] [--runs N]`:
//! a plugin run in the agent's sandbox without a running host. sql, file,
//! net and http answer from the fixture directory (see
//! [`crate::runtime::fixture`]), never from the world; `system` reads this
//! machine. The output is what the agent would ship (validated), what it
//! would drop, the calls the sandbox refused, and each call's error.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use p2pmon_common::wire::Record;
use serde::Serialize;

use crate::capability::Capability;
use crate::config::PluginConfig;
use crate::runtime::fixture::{Fixture, FixtureError};
use crate::runtime::{
    CallError, LoadError, PluginInfo, PluginInstance, Runtime, RuntimeError, RuntimeOptions,
    Sandbox,
};
use crate::stats::PluginStats;
use crate::validate::{self, Descriptors};

/// What to run.
#[derive(Clone, Debug)]
pub struct TestOptions {
    pub file: PathBuf,
    /// The plugin's entry as in agent.yml's `plugins:` list (capabilities,
    /// grants, config, memory_mb, time_ms); without it, the plugin is
    /// granted what its metadata requests, with an empty config.
    pub config: Option<PathBuf>,
    /// Fixture directory; without one, sql, file, net and http are all
    /// `unavailable`.
    pub fixture: Option<PathBuf>,
    pub runs: u32,
    pub cache_dir: Option<PathBuf>,
}

/// Why a test could not be run at all (the plugin was never called).
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error("{}: {message}", .path.display())]
    Config { path: PathBuf, message: String },
    #[error("fixture {0}")]
    Fixture(#[from] FixtureError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// One collect call.
#[derive(Debug, Serialize)]
pub struct RunReport {
    pub run: u32,
    pub duration_ms: f64,
    /// What the agent would ship, validated.
    pub records: Vec<Record>,
    /// Metrics and events validation dropped, and why the first was.
    pub rejected: u64,
    pub first_problem: Option<String>,
    /// The call's error: returned by the plugin, or a trap, timeout, out of
    /// memory.
    pub error: Option<String>,
}

/// The whole test.
#[derive(Debug, Default, Serialize)]
pub struct TestReport {
    pub file: String,
    pub name: String,
    pub version: String,
    pub contract: String,
    /// The load refusal, when the agent would not load the file.
    pub refused: Option<String>,
    pub granted: Vec<String>,
    pub runs: Vec<RunReport>,
    /// Host calls refused for a missing capability or out of scope.
    pub denied_calls: u64,
    /// Log lines over the per-call budget.
    pub log_dropped: u64,
    pub peak_memory_bytes: usize,
}

impl TestReport {
    /// Loaded, every run returned without error, nothing dropped, nothing
    /// refused.
    pub fn passed(&self) -> bool {
        self.refused.is_none()
            && !self.runs.is_empty()
            && self
                .runs
                .iter()
                .all(|r| r.error.is_none() && r.rejected == 0)
            && self.denied_calls == 0
    }

    /// The report as text, for a person.
    pub fn text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(out, "plugin test {}", self.file);
        if let Some(refused) = &self.refused {
            let _ = writeln!(out, "  refused: {refused}");
            let _ = writeln!(out, "FAIL");
            return out;
        }
        let _ = writeln!(
            out,
            "  {} {} (contract {}), granted: {}",
            self.name,
            self.version,
            self.contract,
            if self.granted.is_empty() {
                "nothing".to_string()
            } else {
                self.granted.join(", ")
            }
        );
        for run in &self.runs {
            let metrics = run
                .records
                .iter()
                .filter(|r| matches!(r, Record::Metric(_)))
                .count();
            let _ = writeln!(
                out,
                "run {}: {:.1} ms, {metrics} metrics, {} events",
                run.run,
                run.duration_ms,
                run.records.len() - metrics
            );
            for record in &run.records {
                match record {
                    Record::Metric(m) => {
                        let tags: Vec<String> =
                            m.tags.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                        let _ = writeln!(
                            out,
                            "  metric {}{{{}}} = {} {}",
                            m.name,
                            tags.join(","),
                            m.value,
                            m.unit
                        );
                    }
                    Record::Event(e) => {
                        let _ = writeln!(
                            out,
                            "  event  {} [{:?}] {}",
                            e.kind,
                            e.severity,
                            p2pmon_common::rules::escape_text(&e.message)
                        );
                    }
                }
            }
            if run.rejected > 0 {
                let _ = writeln!(
                    out,
                    "  rejected: {} item(s); first: {}",
                    run.rejected,
                    run.first_problem.as_deref().unwrap_or("?")
                );
            }
            if let Some(error) = &run.error {
                let _ = writeln!(out, "  error: {error}");
            }
        }
        if self.denied_calls > 0 {
            let _ = writeln!(
                out,
                "denied: {} host call(s) refused (the log above names each)",
                self.denied_calls
            );
        }
        if self.log_dropped > 0 {
            let _ = writeln!(out, "log: {} line(s) over the budget", self.log_dropped);
        }
        let _ = writeln!(out, "peak memory: {} KiB", self.peak_memory_bytes >> 10);
        let _ = writeln!(out, "{}", if self.passed() { "PASS" } else { "FAIL" });
        out
    }
}

/// The plugin's entry, from a plugin.yml.
fn read_entry(path: &Path) -> Result<PluginConfig, TestError> {
    let text = std::fs::read_to_string(path).map_err(|e| TestError::Config {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    serde_yaml::from_str(&text).map_err(|e| TestError::Config {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Run the test. `Err` only when it could not start (bad plugin.yml or
/// fixture); a refused or failing plugin is a report that did not pass.
pub async fn run_test(options: &TestOptions) -> Result<TestReport, TestError> {
    let entry = options.config.as_deref().map(read_entry).transpose()?;
    let fixture = Arc::new(match &options.fixture {
        Some(dir) => Fixture::load(dir)?,
        None => Fixture::default(),
    });
    let runtime = Runtime::new(&RuntimeOptions {
        // wasmtime's cache wants an absolute path.
        cache_dir: options
            .cache_dir
            .as_deref()
            .map(|dir| std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())),
        pooling: false,
    })?;
    let mut report = TestReport {
        file: options.file.display().to_string(),
        ..TestReport::default()
    };
    let plugin = match runtime.load(&options.file) {
        Ok(plugin) => plugin,
        Err(error) => {
            report.refused = Some(refusal(&error));
            return Ok(report);
        }
    };
    report.contract = plugin.contract.to_string();
    let info = match runtime.inspect(&plugin).await {
        Ok(info) => info,
        Err(error) => {
            report.refused = Some(format!("cannot read metadata: {error}"));
            return Ok(report);
        }
    };
    report.name = info.name.clone();
    report.version = info.version.clone();
    let sandbox = sandbox_for(entry.as_ref(), &info);
    report.granted = sandbox.grants.iter().map(|c| c.to_string()).collect();
    let name: Arc<str> = Arc::from(
        entry
            .as_ref()
            .map(|e| e.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| info.name.clone()),
    );
    let descriptors = Descriptors::from_info(&info);
    let stats = Arc::new(PluginStats::default());
    let mut instance: Option<PluginInstance> = None;
    for run in 1..=options.runs.max(1) {
        let started = Instant::now();
        let live = match instance.take() {
            Some(live) => Ok(live),
            None => {
                runtime
                    .instantiate_with(
                        &plugin,
                        name.clone(),
                        &sandbox,
                        stats.clone(),
                        Some(fixture.clone()),
                    )
                    .await
            }
        };
        match live {
            Ok(live) => {
                instance = collect_once(live, run, started, &name, &descriptors, &mut report).await;
            }
            Err(error) => report.runs.push(failed_run(run, started, &error)),
        }
    }
    report.denied_calls = stats.denied.get();
    report.log_dropped = stats.log_dropped.get();
    Ok(report)
}

/// The sandbox `plugin test` runs the plugin in: plugin.yml's grants,
/// config and limits when given, else every capability the plugin asks
/// for under the agent's default limits.
fn sandbox_for(entry: Option<&PluginConfig>, info: &PluginInfo) -> Sandbox {
    let defaults = crate::config::LimitsConfig::default();
    match entry {
        Some(entry) => Sandbox {
            grants: entry.grants(),
            config: Arc::new(entry.config_strings()),
            memory_limit_bytes: mib(entry.memory_mb.unwrap_or(defaults.memory_mb)),
            time_limit: Duration::from_millis(entry.time_ms.unwrap_or(defaults.time_ms)),
            access: Arc::default(),
        },
        None => Sandbox {
            grants: info
                .capabilities
                .iter()
                .filter_map(|c| c.parse::<Capability>().ok())
                .collect(),
            config: Arc::default(),
            memory_limit_bytes: mib(defaults.memory_mb),
            time_limit: Duration::from_millis(defaults.time_ms),
            access: Arc::default(),
        },
    }
}

/// One collect call on a live instance, its run added to `report`. The
/// instance is handed back unless the call's error was fatal (the agent
/// drops such an instance too; the next run starts a new one).
async fn collect_once(
    mut live: PluginInstance,
    run: u32,
    started: Instant,
    name: &Arc<str>,
    descriptors: &Descriptors,
    report: &mut TestReport,
) -> Option<PluginInstance> {
    let outcome = live.collect().await;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    report.peak_memory_bytes = report.peak_memory_bytes.max(live.peak_memory_bytes());
    match outcome {
        Ok(collection) => {
            let checked = validate::check(
                name,
                descriptors,
                collection,
                crate::runtime::system::unix_ms(),
            );
            report.runs.push(RunReport {
                run,
                duration_ms,
                records: checked.records,
                rejected: checked.rejected,
                first_problem: checked.first_problem,
                error: None,
            });
            Some(live)
        }
        Err(error) => {
            report.runs.push(failed_run(run, started, &error));
            (!error.is_fatal()).then_some(live)
        }
    }
}

fn failed_run(run: u32, started: Instant, error: &CallError) -> RunReport {
    RunReport {
        run,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        records: Vec::new(),
        rejected: 0,
        first_problem: None,
        error: Some(error.to_string()),
    }
}

fn refusal(error: &LoadError) -> String {
    error.to_string()
}

fn mib(megabytes: u64) -> usize {
    usize::try_from(megabytes << 20).unwrap_or(usize::MAX)
}
