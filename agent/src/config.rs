//! The agent's configuration, `conf/p2p/agent.yml`: where plugins live, what
//! each one is granted, and where batches go.
//!
//! Relative paths are resolved against the directory of the config file, so
//! the same file works from any working directory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::capability::Capability;

pub mod grants;
use p2pmon_common::wire::HostType;
use p2pmon_common::yaml_config::{self, ConfigErrors, Findings, Validate};

/// Default location of the agent config, relative to the working directory.
pub const DEFAULT_PATH: &str = "conf/p2p/agent.yml";

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Identity of this host in batches; empty means the machine's hostname.
    #[serde(default)]
    pub host_id: String,
    /// Directory holding plugin `.wasm` files.
    #[serde(default = "default_plugins_dir")]
    pub plugins_dir: PathBuf,
    /// Compiled-plugin cache; empty disables it (every start recompiles).
    #[serde(default)]
    pub cache_dir: PathBuf,
    #[serde(default)]
    pub collection: CollectionConfig,
    #[serde(default)]
    pub output: OutputConfig,
    /// The aggregator batches go to when `output.kind: aggregator`.
    #[serde(default)]
    pub aggregator: AggregatorLink,
    /// Limits for plugins that set none of their own.
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub restart: RestartConfig,
    /// MySQL/MariaDB connections plugins may be granted by name (`sql`).
    #[serde(default)]
    pub sql: BTreeMap<String, SqlConnectionConfig>,
    /// The UDP echo responder that other hosts' `net` probes measure.
    #[serde(default)]
    pub net: NetConfig,
    #[serde(default)]
    pub plugins: Vec<PluginConfig>,
    /// Where to serve the agent's self-metrics in Prometheus' text format
    /// (`GET /metrics`), e.g. `127.0.0.1:9464`; empty is off.
    #[serde(default)]
    pub metrics_listen: String,
    /// Directory of the config file, for resolving relative paths.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

fn default_plugins_dir() -> PathBuf {
    PathBuf::from("plugins")
}

/// Batching, as in metrics.yml's `collection` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionConfig {
    /// Records per batch before it is flushed (default 1000, as in metrics.yml).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Longest time a record waits in a partial batch (default 5000 ms, metrics.yml's interval).
    #[serde(default = "default_flush_interval_ms")]
    pub flush_interval_ms: u64,
    /// Plugins start at a random offset of up to this share of their interval,
    /// so plugins with the same interval do not all run at once.
    #[serde(default = "default_jitter_percent")]
    pub jitter_percent: u32,
}

fn default_batch_size() -> usize {
    1000
}
fn default_flush_interval_ms() -> u64 {
    5000
}
fn default_jitter_percent() -> u32 {
    10
}

impl Default for CollectionConfig {
    fn default() -> Self {
        Self {
            batch_size: default_batch_size(),
            flush_interval_ms: default_flush_interval_ms(),
            jitter_percent: default_jitter_percent(),
        }
    }
}

/// Where `run` writes batches.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    #[serde(default)]
    pub kind: OutputKind,
    /// File to append to when `kind: file`.
    #[serde(default)]
    pub path: PathBuf,
    #[serde(default)]
    pub format: OutputFormat,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    #[default]
    Stdout,
    File,
    /// The spool, then the aggregator (the `aggregator` section).
    Aggregator,
}

/// The road to the aggregator: where it is, how this host proves who it is,
/// and the on-disk spool that holds batches until the aggregator has stored them.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregatorLink {
    /// The aggregator's ingest address, e.g. `https://monitor.example.net:5123`.
    #[serde(default)]
    pub url: String,
    /// Allow `http://` to a non-loopback address (credentials and data travel
    /// in clear text). Loopback addresses may always use plain HTTP.
    #[serde(default)]
    pub insecure_http: bool,
    /// PEM file with the CA (or self-signed certificate) that signed the
    /// aggregator's certificate; empty trusts the system's roots.
    #[serde(default)]
    pub ca_file: PathBuf,
    /// Where the host credential obtained at enrollment is kept (mode 0600).
    #[serde(default = "default_credential_file")]
    pub credential_file: PathBuf,
    /// A join token to enroll with on first start when there is no credential
    /// yet; `P2PMON_JOIN_TOKEN` in the environment works too. Single-use.
    #[serde(default)]
    pub join_token: String,
    /// `p2p` (a volunteer machine) or `vps`.
    #[serde(default)]
    pub host_type: HostType,
    #[serde(default)]
    pub spool: SpoolConfig,
    #[serde(default)]
    pub backoff: BackoffConfig,
    /// Longest wait for one request to the aggregator.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// On shutdown, how long to keep sending the spool before leaving the rest
    /// on disk for the next start.
    #[serde(default = "default_drain_timeout_ms")]
    pub drain_timeout_ms: u64,
}

fn default_credential_file() -> PathBuf {
    PathBuf::from("/var/lib/p2pmon/credential")
}
fn default_request_timeout_ms() -> u64 {
    10_000
}
fn default_drain_timeout_ms() -> u64 {
    5_000
}

impl Default for AggregatorLink {
    fn default() -> Self {
        Self {
            url: String::new(),
            insecure_http: false,
            ca_file: PathBuf::new(),
            credential_file: default_credential_file(),
            join_token: String::new(),
            host_type: HostType::default(),
            spool: SpoolConfig::default(),
            backoff: BackoffConfig::default(),
            request_timeout_ms: default_request_timeout_ms(),
            drain_timeout_ms: default_drain_timeout_ms(),
        }
    }
}

/// Batches waiting for the aggregator, on disk.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolConfig {
    #[serde(default = "default_spool_dir")]
    pub dir: PathBuf,
    /// Size cap; when full, the oldest batches are dropped and counted.
    #[serde(default = "default_spool_max_mb")]
    pub max_mb: u64,
}

fn default_spool_dir() -> PathBuf {
    PathBuf::from("/var/lib/p2pmon/spool")
}
fn default_spool_max_mb() -> u64 {
    256
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            dir: default_spool_dir(),
            max_mb: default_spool_max_mb(),
        }
    }
}

/// Waits between failed attempts: exponential with full jitter.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackoffConfig {
    #[serde(default = "default_link_initial_ms")]
    pub initial_ms: u64,
    #[serde(default = "default_link_max_ms")]
    pub max_ms: u64,
}

fn default_link_initial_ms() -> u64 {
    500
}
/// The ceiling between delivery attempts: after an outage the spool gets
/// through within it (1,000 agents at 5 s make 200 attempts a second at an
/// aggregator that is down, which costs it nothing).
fn default_link_max_ms() -> u64 {
    5_000
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial_ms: default_link_initial_ms(),
            max_ms: default_link_max_ms(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    /// One JSON object per batch per line.
    #[default]
    Json,
    /// One human-readable line per record.
    Text,
}

/// Per-plugin sandbox limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Linear memory a plugin may grow to, in MiB.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u64,
    /// Wall time one call may take, in milliseconds.
    #[serde(default = "default_time_ms")]
    pub time_ms: u64,
}

fn default_memory_mb() -> u64 {
    64
}
fn default_time_ms() -> u64 {
    2000
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            memory_mb: default_memory_mb(),
            time_ms: default_time_ms(),
        }
    }
}

/// How a failing plugin is restarted and when it is given up on.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartConfig {
    /// Wait before the first restart; doubles after each further failure.
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// Crashes (trap, timeout, out of memory, panic) in a row before the
    /// plugin is quarantined: not run for a cool-down, then tried again.
    /// Three good calls in a row reset the count and the backoff. Also the
    /// failed calls (`collect` returned an error) in a row after which the
    /// plugin is reported as failing.
    #[serde(default = "default_quarantine_after")]
    pub quarantine_after: u32,
    /// The first quarantine's cool-down; it doubles with each quarantine in a
    /// row, up to `max_quarantine_ms`.
    #[serde(default = "default_quarantine_ms")]
    pub quarantine_ms: u64,
    #[serde(default = "default_max_quarantine_ms")]
    pub max_quarantine_ms: u64,
    /// Share of one core a plugin's calls may take over `cpu_window_ms`.
    /// Past it the plugin waits for the next window (throttled, counted in
    /// `agent_plugin_throttled`); `quarantine_after` throttled windows in a
    /// row quarantine it.
    #[serde(default = "default_cpu_percent")]
    pub cpu_percent: u64,
    #[serde(default = "default_cpu_window_ms")]
    pub cpu_window_ms: u64,
}

fn default_cpu_percent() -> u64 {
    25
}
fn default_cpu_window_ms() -> u64 {
    60_000
}

fn default_quarantine_ms() -> u64 {
    600_000
}
fn default_max_quarantine_ms() -> u64 {
    6 * 3_600_000
}

fn default_initial_backoff_ms() -> u64 {
    1000
}
fn default_max_backoff_ms() -> u64 {
    300_000
}
fn default_quarantine_after() -> u32 {
    5
}

impl Default for RestartConfig {
    fn default() -> Self {
        Self {
            initial_backoff_ms: default_initial_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
            quarantine_after: default_quarantine_after(),
            quarantine_ms: default_quarantine_ms(),
            max_quarantine_ms: default_max_quarantine_ms(),
            cpu_percent: default_cpu_percent(),
            cpu_window_ms: default_cpu_window_ms(),
        }
    }
}

/// A database plugins read with the `sql` capability. Use a read-only user:
/// the agent also opens every session read-only and refuses anything but a
/// single SELECT, but the database's own grants are the first line.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlConnectionConfig {
    /// `mysql://user:password@host:3306/database`.
    pub url: String,
    /// Rows one query may return; more are cut and the result marked truncated.
    #[serde(default = "default_max_rows")]
    pub max_rows: u32,
    /// A query running longer is cancelled on the server (`KILL QUERY`).
    #[serde(default = "default_sql_timeout_ms")]
    pub timeout_ms: u64,
    /// Connections kept for this database, shared by every plugin granted it.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
}

fn default_max_rows() -> u32 {
    10_000
}
fn default_sql_timeout_ms() -> u64 {
    2_000
}
fn default_pool_size() -> usize {
    2
}

/// The agent's UDP echo responder: peers' `net.udp-echo` probes measure the
/// round trip to this host through it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetConfig {
    /// Address to answer echo probes on, e.g. `0.0.0.0:5124`; empty is off.
    #[serde(default)]
    pub echo_listen: String,
    /// Replies per second at most (a flood is not reflected); default 500.
    #[serde(default = "default_echo_rate")]
    pub echo_max_per_second: u32,
}

fn default_echo_rate() -> u32 {
    500
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            echo_listen: String::new(),
            echo_max_per_second: default_echo_rate(),
        }
    }
}

/// What a plugin may reach through the capabilities that take a scope.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantScopes {
    /// Names of connections in the top-level `sql` section.
    #[serde(default)]
    pub sql: Vec<String>,
    /// Files and directories (everything below them) the plugin may read.
    #[serde(default)]
    pub files: Vec<PathBuf>,
    /// Probe targets: `host:port`, or `host:*` for every port of a host.
    #[serde(default, deserialize_with = "grants::scope_list")]
    pub net: Vec<grants::Target>,
    /// URL prefixes the plugin may GET, e.g. `http://127.0.0.1:8080/api/`.
    #[serde(default, deserialize_with = "grants::scope_list")]
    pub http: Vec<grants::HttpPrefix>,
}

/// One plugin instance and what it is granted.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// Name of this instance in logs and metrics; unique.
    #[serde(default)]
    pub name: String,
    /// The `.wasm` file, relative to `plugins_dir`.
    #[serde(default)]
    pub file: PathBuf,
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Capabilities granted; whatever is not listed is denied.
    #[serde(default, deserialize_with = "grants::scope_list")]
    pub capabilities: Vec<Capability>,
    /// Scopes of `sql`, `file`, `net` and `http`: without one, the capability
    /// reaches nothing.
    #[serde(default)]
    pub grants: GrantScopes,
    /// Collect interval; unset means the plugin's own default.
    #[serde(default)]
    pub interval_ms: Option<u64>,
    /// Overrides `limits.memory_mb`.
    #[serde(default)]
    pub memory_mb: Option<u64>,
    /// Overrides `limits.time_ms`.
    #[serde(default)]
    pub time_ms: Option<u64>,
    /// Values the plugin reads with the `config` capability.
    #[serde(default)]
    pub config: BTreeMap<String, serde_yaml::Value>,
}

fn default_enabled() -> bool {
    true
}

/// Whether the agent can write in `dir`, creating it if needed: `dir` is a
/// writable directory, or the nearest existing folder above it is. Tried by
/// creating (and removing) a file, which answers for root and ACLs alike.
fn writable_dir(dir: &Path) -> Result<(), String> {
    let mut existing = dir;
    while !existing.exists() {
        match existing.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => existing = parent,
            _ => return Err("no existing folder above it".to_string()),
        }
    }
    if !existing.is_dir() {
        return Err(format!("{} is not a directory", existing.display()));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let probe = existing.join(format!(".p2pmon-check-{}-{nanos}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) if existing == dir => Err(format!("cannot write in it: {e}")),
        Err(e) => Err(format!(
            "cannot be created: cannot write in {}: {e}",
            existing.display()
        )),
    }
}

/// Bounds on limits and intervals; outside them a config is rejected.
const MEMORY_MB: std::ops::RangeInclusive<u64> = 1..=4096;
const TIME_MS: std::ops::RangeInclusive<u64> = 1..=600_000;
const INTERVAL_MS: std::ops::RangeInclusive<u64> = 50..=86_400_000;

impl AgentConfig {
    /// Load and validate a config file, reporting every problem at once.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let mut config: AgentConfig = yaml_config::load(path)?;
        config.base_dir = yaml_config::config_dir(path);
        Ok(config)
    }

    /// Built-in defaults, for commands that can run without a config file.
    pub fn defaults() -> Self {
        let mut config: AgentConfig = yaml_config::parse(Path::new("<defaults>"), "")
            .unwrap_or_else(|e| unreachable!("built-in defaults are valid: {e}"));
        config.base_dir = PathBuf::from(".");
        config
    }

    /// `plugins_dir` resolved against the config file's directory.
    pub fn plugins_dir(&self) -> PathBuf {
        self.base_dir.join(&self.plugins_dir)
    }

    /// `cache_dir` resolved, or `None` when caching is off.
    pub fn cache_dir(&self) -> Option<PathBuf> {
        (!self.cache_dir.as_os_str().is_empty()).then(|| self.base_dir.join(&self.cache_dir))
    }

    /// Problems with paths this config names that loading lets pass, as
    /// `(field, problem)`, for `check-config`: the spool and credential
    /// folders (created on first use, so they may be missing if they can be
    /// created), granted files that do not exist yet, and `plugins_dir`.
    /// Loading itself refuses missing plugin files, an unusable `cache_dir`
    /// and an output file that cannot be written.
    pub fn path_problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, text: String| problems.push((field.to_string(), text));
        let plugins_dir = self.plugins_dir();
        if !plugins_dir.is_dir() {
            problem(
                "plugins_dir",
                format!("{} is not a directory", plugins_dir.display()),
            );
        }
        for (index, plugin) in self.plugins.iter().enumerate() {
            for (i, granted) in plugin.grants.files.iter().enumerate() {
                if granted.is_absolute() && !granted.exists() {
                    problem(
                        &format!("plugins[{index}].grants.files[{i}]"),
                        format!(
                            "{} does not exist (yet); the plugin's reads fail until it does",
                            granted.display()
                        ),
                    );
                }
            }
        }
        if self.output.kind == OutputKind::Aggregator {
            let spool = self.resolve(&self.aggregator.spool.dir);
            if let Err(why) = writable_dir(&spool) {
                problem(
                    "aggregator.spool.dir",
                    format!("{}: {why}", spool.display()),
                );
            }
            let credential = self.resolve(&self.aggregator.credential_file);
            let parent = credential.parent().unwrap_or(Path::new("/"));
            if credential.is_dir() {
                problem(
                    "aggregator.credential_file",
                    format!("{} is a directory", credential.display()),
                );
            } else if let Err(why) = writable_dir(parent) {
                problem(
                    "aggregator.credential_file",
                    format!("{}: {why}", parent.display()),
                );
            }
        }
        problems
    }

    /// The output file resolved against the config file's directory.
    pub fn output_path(&self) -> PathBuf {
        self.base_dir.join(&self.output.path)
    }

    /// The host identity: `host_id`, or the machine's hostname.
    pub fn host_id(&self) -> String {
        if self.host_id.is_empty() {
            sysinfo::System::host_name().unwrap_or_else(|_| "unknown-host".to_string())
        } else {
            self.host_id.clone()
        }
    }

    /// The host identity as the aggregator knows it (lowercase).
    pub fn aggregator_host_id(&self) -> String {
        self.host_id().to_ascii_lowercase()
    }

    /// A path of the `aggregator` section resolved against the config's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        self.base_dir.join(path)
    }

    /// A plugin's file resolved against `plugins_dir`.
    pub fn plugin_path(&self, plugin: &PluginConfig) -> PathBuf {
        self.plugins_dir().join(&plugin.file)
    }

    /// The plugins that are enabled, in config order.
    pub fn enabled_plugins(&self) -> impl Iterator<Item = &PluginConfig> {
        self.plugins.iter().filter(|p| p.enabled)
    }
}

impl PluginConfig {
    /// Granted capabilities.
    pub fn grants(&self) -> BTreeSet<Capability> {
        self.capabilities.iter().copied().collect()
    }

    /// The `config` map as strings, as plugins read it.
    pub fn config_strings(&self) -> BTreeMap<String, String> {
        self.config
            .iter()
            .map(|(key, value)| (key.clone(), yaml_scalar_to_string(value)))
            .collect()
    }
}

impl AgentConfig {
    fn validate_link(&self, base_dir: &Path, findings: &mut Findings) {
        let link = &self.aggregator;
        if let Err(problem) = check_aggregator_url(&link.url, link.insecure_http) {
            findings.error("aggregator.url", problem);
        }
        if !link.ca_file.as_os_str().is_empty() && !base_dir.join(&link.ca_file).is_file() {
            findings.error(
                "aggregator.ca_file",
                format!("{} does not exist", base_dir.join(&link.ca_file).display()),
            );
        }
        if link.credential_file.as_os_str().is_empty() {
            findings.error("aggregator.credential_file", "is required");
        }
        if link.spool.dir.as_os_str().is_empty() {
            findings.error("aggregator.spool.dir", "is required");
        }
        findings.in_range("aggregator.spool.max_mb", link.spool.max_mb, 1..=1_048_576);
        findings.in_range(
            "aggregator.backoff.initial_ms",
            link.backoff.initial_ms,
            1..=3_600_000,
        );
        if link.backoff.max_ms < link.backoff.initial_ms {
            findings.error(
                "aggregator.backoff.max_ms",
                "must not be below aggregator.backoff.initial_ms",
            );
        }
        findings.in_range(
            "aggregator.request_timeout_ms",
            link.request_timeout_ms,
            100..=600_000,
        );
        findings.in_range(
            "aggregator.drain_timeout_ms",
            link.drain_timeout_ms,
            0..=600_000,
        );
        let host = self.aggregator_host_id();
        if !p2pmon_common::rules::is_host_id(&host) {
            findings.error(
                "host_id",
                format!(
                    "{host:?} cannot identify a host at the aggregator (1 to 64 of a-z, 0-9, _, . and -, starting with a letter or digit)"
                ),
            );
        }
    }
}

impl AgentConfig {
    fn validate_sql_and_net(&self, findings: &mut Findings) {
        for (name, connection) in &self.sql {
            let at = |field: &str| format!("sql.{name}.{field}");
            if !p2pmon_common::rules::is_plugin_name(name) {
                findings.error(
                    format!("sql.{name}"),
                    "connection names are 1 to 64 of a-z, 0-9, _ and -",
                );
            }
            if let Err(problem) = mysql_async::Opts::from_url(&connection.url) {
                findings.error(at("url"), format!("not a mysql:// URL: {problem}"));
            }
            findings.in_range(at("max_rows"), connection.max_rows, 1..=1_000_000);
            findings.in_range(at("timeout_ms"), connection.timeout_ms, 1..=600_000);
            findings.in_range(at("pool_size"), connection.pool_size, 1..=64);
        }
        if !self.net.echo_listen.is_empty()
            && self
                .net
                .echo_listen
                .parse::<std::net::SocketAddr>()
                .is_err()
        {
            findings.error(
                "net.echo_listen",
                format!(
                    "{:?} is not an address:port (for example 0.0.0.0:5124)",
                    self.net.echo_listen
                ),
            );
        }
        if !self.metrics_listen.is_empty()
            && self.metrics_listen.parse::<std::net::SocketAddr>().is_err()
        {
            findings.error(
                "metrics_listen",
                format!(
                    "{:?} is not an address:port (for example 127.0.0.1:9464)",
                    self.metrics_listen
                ),
            );
        }
        findings.in_range(
            "net.echo_max_per_second",
            self.net.echo_max_per_second,
            1..=100_000,
        );
    }

    /// Each scoped capability needs its scope and each scope its capability,
    /// so a grant never silently reaches nothing or everything.
    fn validate_scopes(&self, index: usize, plugin: &PluginConfig, findings: &mut Findings) {
        let granted = plugin.grants();
        let scopes = &plugin.grants;
        let pairs = [
            (Capability::Sql, "sql", scopes.sql.is_empty()),
            (Capability::File, "files", scopes.files.is_empty()),
            (Capability::Net, "net", scopes.net.is_empty()),
            (Capability::Http, "http", scopes.http.is_empty()),
        ];
        for (capability, field, empty) in pairs {
            let at = format!("plugins[{index}].grants.{field}");
            match (granted.contains(&capability), empty) {
                (true, true) => findings.error(
                    at,
                    format!("the `{capability}` capability is granted but reaches nothing; list what it may reach here"),
                ),
                (false, false) => findings.error(
                    at,
                    format!("is set but `{capability}` is not in this plugin's capabilities"),
                ),
                _ => {}
            }
        }
        for (i, name) in scopes.sql.iter().enumerate() {
            if !self.sql.contains_key(name) {
                findings.error(
                    format!("plugins[{index}].grants.sql[{i}]"),
                    format!("no connection {name:?} in the top-level sql section"),
                );
            }
        }
        for (i, path) in scopes.files.iter().enumerate() {
            if !path.is_absolute() {
                findings.error(
                    format!("plugins[{index}].grants.files[{i}]"),
                    format!("{} must be an absolute path", path.display()),
                );
            }
        }
    }
}

/// Why `url` cannot be the aggregator's address: not http(s), or plain HTTP
/// to a host that is not loopback without `insecure_http`.
pub fn check_aggregator_url(url: &str, insecure_http: bool) -> Result<reqwest::Url, String> {
    if url.is_empty() {
        return Err("is required when output.kind is aggregator".to_string());
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    match parsed.scheme() {
        "https" => {}
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if !loopback && !insecure_http {
                return Err(format!(
                    "{url:?} is plain HTTP to a non-loopback address; use https:// (set aggregator.insecure_http: true to allow clear text)"
                ));
            }
        }
        other => return Err(format!("{url:?}: scheme {other:?} is not http or https")),
    }
    if parsed.host().is_none() {
        return Err(format!("{url:?} has no host"));
    }
    Ok(parsed)
}

fn yaml_scalar_to_string(value: &serde_yaml::Value) -> String {
    match value {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Null => String::new(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        serde_yaml::Value::Number(n) => n.to_string(),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim_end().to_string())
            .unwrap_or_default(),
    }
}

impl Validate for AgentConfig {
    fn validate(&self, base_dir: &Path, findings: &mut Findings) {
        self.validate_limits(findings);
        self.validate_output(base_dir, findings);
        self.validate_sql_and_net(findings);
        let plugins_dir = base_dir.join(&self.plugins_dir);
        let mut names = BTreeSet::new();
        for (index, plugin) in self.plugins.iter().enumerate() {
            self.validate_plugin(index, plugin, &plugins_dir, &mut names, findings);
        }
    }
}

impl AgentConfig {
    /// `collection`, `limits` and `restart`.
    fn validate_limits(&self, findings: &mut Findings) {
        if self.collection.batch_size == 0 || self.collection.batch_size > 100_000 {
            findings.error(
                "collection.batch_size",
                format!(
                    "{} is out of range (1 to 100000)",
                    self.collection.batch_size
                ),
            );
        }
        findings.in_range(
            "collection.flush_interval_ms",
            self.collection.flush_interval_ms,
            INTERVAL_MS,
        );
        findings.in_range(
            "collection.jitter_percent",
            self.collection.jitter_percent,
            0..=100,
        );
        findings.in_range("limits.memory_mb", self.limits.memory_mb, MEMORY_MB);
        findings.in_range("limits.time_ms", self.limits.time_ms, TIME_MS);
        findings.in_range(
            "restart.initial_backoff_ms",
            self.restart.initial_backoff_ms,
            1..=3_600_000,
        );
        if self.restart.max_backoff_ms < self.restart.initial_backoff_ms {
            findings.error(
                "restart.max_backoff_ms",
                "must not be below restart.initial_backoff_ms",
            );
        }
        findings.in_range(
            "restart.quarantine_after",
            self.restart.quarantine_after,
            1..=1000,
        );
        findings.in_range(
            "restart.quarantine_ms",
            self.restart.quarantine_ms,
            1..=86_400_000,
        );
        findings.in_range("restart.cpu_percent", self.restart.cpu_percent, 1..=100);
        findings.in_range(
            "restart.cpu_window_ms",
            self.restart.cpu_window_ms,
            1000..=3_600_000,
        );
        if self.restart.max_quarantine_ms < self.restart.quarantine_ms {
            findings.error(
                "restart.max_quarantine_ms",
                "must not be below restart.quarantine_ms",
            );
        }
    }

    /// Where batches go (and the link to the aggregator), and the cache.
    fn validate_output(&self, base_dir: &Path, findings: &mut Findings) {
        if self.output.kind == OutputKind::File && self.output.path.as_os_str().is_empty() {
            findings.error("output.path", "is required when output.kind is file");
        }

        if self.output.kind == OutputKind::Aggregator {
            self.validate_link(base_dir, findings);
        }
        if self.output.kind == OutputKind::File && !self.output.path.as_os_str().is_empty() {
            let path = base_dir.join(&self.output.path);
            let parent = path.parent().unwrap_or(Path::new("/"));
            if path.is_dir() {
                findings.error("output.path", format!("{} is a directory", path.display()));
            } else if let Err(why) = writable_dir(parent) {
                findings.error("output.path", format!("{}: {why}", parent.display()));
            }
        }
        // wasmtime refuses a cache it cannot create or write, and only says
        // so at start-up; say it here, with the setting's name.
        if !self.cache_dir.as_os_str().is_empty() {
            let cache = base_dir.join(&self.cache_dir);
            if let Err(why) = writable_dir(&cache) {
                findings.error("cache_dir", format!("{}: {why}", cache.display()));
            }
        }
    }

    /// One plugin entry: its name (unique, not `agent`), file, scopes,
    /// limits and config values.
    fn validate_plugin<'a>(
        &self,
        index: usize,
        plugin: &'a PluginConfig,
        plugins_dir: &Path,
        names: &mut BTreeSet<&'a str>,
        findings: &mut Findings,
    ) {
        let at = |field: &str| format!("plugins[{index}].{field}");
        if !p2pmon_common::rules::is_plugin_name(&plugin.name) {
            findings.error(
                at("name"),
                format!(
                    "{:?} is not a valid name (1 to 64 of a-z, 0-9, _ and -)",
                    plugin.name
                ),
            );
        } else if plugin.name == "agent" {
            // The agent's own self-metrics go out as plugin `agent`; the
            // aggregator trusts `agent_*` series only from it.
            findings.error(
                at("name"),
                "\"agent\" is the agent's own name; choose another",
            );
        } else if !names.insert(plugin.name.as_str()) {
            findings.error(at("name"), format!("{:?} is used twice", plugin.name));
        }
        if plugin.file.as_os_str().is_empty() {
            findings.error(at("file"), "is required");
        } else if plugin.enabled && !plugins_dir.join(&plugin.file).is_file() {
            findings.error(
                at("file"),
                format!(
                    "{} does not exist (build the plugins first: make plugins)",
                    plugins_dir.join(&plugin.file).display()
                ),
            );
        }
        self.validate_scopes(index, plugin, findings);
        if let Some(interval) = plugin.interval_ms {
            findings.in_range(at("interval_ms"), interval, INTERVAL_MS);
        }
        if let Some(memory) = plugin.memory_mb {
            findings.in_range(at("memory_mb"), memory, MEMORY_MB);
        }
        if let Some(time) = plugin.time_ms {
            findings.in_range(at("time_ms"), time, TIME_MS);
        }
        for (key, value) in &plugin.config {
            if matches!(
                value,
                serde_yaml::Value::Mapping(_) | serde_yaml::Value::Tagged(_)
            ) {
                findings.error(
                    format!("plugins[{index}].config.{key}"),
                    "must be a scalar or a list",
                );
            }
        }
    }
}
