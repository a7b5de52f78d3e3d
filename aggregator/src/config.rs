//! The aggregator's configuration: `conf/p2p/aggregator.yml` (listeners,
//! ingest limits, host status thresholds) and `metrics.yml`
//! (retention, metric groups). Both are validated with every problem reported
//! at once, like the agent's config.
//!
//! Relative paths are resolved against the directory of the config file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use p2pmon_common::collection::MetricGroups;
use p2pmon_common::yaml_config::{self, ConfigErrors, Findings, Validate};

mod influx;
pub mod limits;
mod status_page;

pub use influx::InfluxConfig;
pub use limits::{HttpLimits, LimitsConfig, WebSocketLimits};
pub use status_page::{ServerKind, StatusGroup, StatusPageConfig, StatusServer};

/// Default location of the aggregator config, relative to the working directory.
pub const DEFAULT_PATH: &str = "conf/p2p/aggregator.yml";

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregatorConfig {
    /// Directory of the embedded store (`p2pmon.db` and its WAL).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// metrics.yml: retention and metric groups.
    #[serde(default = "default_metrics_file")]
    pub metrics_file: PathBuf,
    /// alerts.yml: alert rules and notification channels. A
    /// missing file means no rules.
    #[serde(default = "default_alerts_file")]
    pub alerts_file: PathBuf,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub websocket: WebSocketConfig,
    #[serde(default)]
    pub hosts: HostsConfig,
    #[serde(default)]
    pub tokens: TokensConfig,
    /// FluxCP's `p2p_monitor_settings` table, applied over alerts.yml.
    #[serde(default)]
    pub settings: SettingsConfig,
    /// The coordinator that automatic actions are sent to (optional).
    #[serde(default)]
    pub coordinator: CoordinatorConfig,
    /// The log files of `serve`.
    #[serde(default)]
    pub logging: LoggingConfig,
    /// Also write every point to an InfluxDB v2 write API (optional).
    #[serde(default)]
    pub influxdb: InfluxConfig,
    /// Timeouts and connection caps of each listener.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The embedded store's commit durability.
    #[serde(default)]
    pub store: StoreConfig,
    /// The public status page (off unless enabled).
    #[serde(default)]
    pub status_page: StatusPageConfig,
    /// Directory of the config file, for resolving relative paths.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/p2pmon")
}
fn default_metrics_file() -> PathBuf {
    PathBuf::from("metrics.yml")
}
fn default_alerts_file() -> PathBuf {
    PathBuf::from("alerts.yml")
}

/// Where agents deliver, and what they may deliver.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Agents connect here (outbound from the hosts, which sit behind NAT).
    #[serde(default = "default_ingest_listen")]
    pub listen: SocketAddr,
    /// Certificate and key (PEM) to serve TLS; required when `listen` is not
    /// a loopback address, unless `insecure_http` says otherwise.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Accept plain HTTP on a non-loopback address (behind a TLS proxy).
    #[serde(default)]
    pub insecure_http: bool,
    /// Largest compressed request body; larger ones get 413 before being read.
    #[serde(default = "default_max_body_kb")]
    pub max_body_kb: usize,
    /// Largest body after decompression (guards against compression bombs).
    #[serde(default = "default_max_decompressed_kb")]
    pub max_decompressed_kb: usize,
    /// Most records (metrics plus events) in one batch.
    #[serde(default = "default_max_records")]
    pub max_records_per_batch: usize,
    /// Most tags on one metric or fields on one event.
    #[serde(default = "default_max_tags")]
    pub max_tags: usize,
    /// Longest tag value.
    #[serde(default = "default_max_tag_value")]
    pub max_tag_value: usize,
    /// Records older than this are refused (a spool replaying a long outage
    /// stays well inside it).
    #[serde(default = "default_max_age_s")]
    pub max_age_s: u64,
    /// Records stamped further than this in the future are refused.
    #[serde(default = "default_max_future_s")]
    pub max_future_s: u64,
    /// Sustained records per second per host; beyond it, 429 with Retry-After.
    #[serde(default = "default_rate")]
    pub rate_per_host: u64,
    /// Records a host may send at once above the sustained rate (backfill).
    #[serde(default = "default_burst")]
    pub burst_per_host: u64,
    /// Distinct series (name plus tags) one host may create.
    #[serde(default = "default_max_series")]
    pub max_series_per_host: usize,
    /// Series one plugin of a host may create, so that one plugin cannot
    /// spend the host's budget; the agent's own `agent_*` series count
    /// against neither. Above `max_series_per_host` it is that.
    #[serde(default = "default_max_series_per_plugin")]
    pub max_series_per_plugin: usize,
    /// SHA-256 of the plugin files hosts may run; empty allows any plugin.
    #[serde(default)]
    pub plugin_allowlist: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn default_ingest_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5123))
}
fn default_max_body_kb() -> usize {
    1024
}
fn default_max_decompressed_kb() -> usize {
    16 * 1024
}
fn default_max_records() -> usize {
    10_000
}
fn default_max_tags() -> usize {
    p2pmon_common::rules::MAX_TAGS
}
fn default_max_tag_value() -> usize {
    p2pmon_common::rules::MAX_TAG_VALUE
}
fn default_max_age_s() -> u64 {
    7 * 86_400
}
fn default_max_future_s() -> u64 {
    300
}
fn default_rate() -> u64 {
    20_000
}
fn default_burst() -> u64 {
    200_000
}
fn default_max_series_per_plugin() -> usize {
    5_000
}
fn default_max_series() -> usize {
    10_000
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            listen: default_ingest_listen(),
            tls: None,
            insecure_http: false,
            max_body_kb: default_max_body_kb(),
            max_decompressed_kb: default_max_decompressed_kb(),
            max_records_per_batch: default_max_records(),
            max_tags: default_max_tags(),
            max_tag_value: default_max_tag_value(),
            max_age_s: default_max_age_s(),
            max_future_s: default_max_future_s(),
            rate_per_host: default_rate(),
            burst_per_host: default_burst(),
            max_series_per_host: default_max_series(),
            max_series_per_plugin: default_max_series_per_plugin(),
            plugin_allowlist: Vec::new(),
        }
    }
}

/// Where `serve` writes its four log files (monitor, alerts, access,
/// error); empty: stderr only. The shipped config says /var/log/p2p.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    #[serde(default)]
    pub dir: PathBuf,
    #[serde(default)]
    pub format: LogFormat,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The query API FluxCP and the dashboard read.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Default 127.0.0.1:5121 (FluxCP's default too), which is also rAthena's map-server port:
    /// on a machine running a map-server, move one of them.
    #[serde(default = "default_api_listen")]
    pub listen: SocketAddr,
}

fn default_api_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5121))
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: default_api_listen(),
        }
    }
}

/// The live feed, default `ws://HOST:5122/monitor` (FluxCP's default too).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketConfig {
    #[serde(default = "default_ws_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_ws_path")]
    pub path: String,
    /// Browser origins allowed to connect; `*` allows any. Clients that send
    /// no Origin (not browsers) are still authenticated by token.
    #[serde(default = "default_origins")]
    pub allowed_origins: Vec<String>,
    /// Messages queued for one client; a client that falls this far behind
    /// is disconnected so that it cannot slow the others.
    #[serde(default = "default_client_queue")]
    pub client_queue: usize,
    #[serde(default = "default_max_clients")]
    pub max_clients: usize,
}

fn default_ws_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5122))
}
fn default_ws_path() -> String {
    "/monitor".to_string()
}
fn default_origins() -> Vec<String> {
    vec![
        "http://127.0.0.1:5121".to_string(),
        "http://localhost:5121".to_string(),
    ]
}
fn default_client_queue() -> usize {
    256
}
fn default_max_clients() -> usize {
    20_000
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        Self {
            listen: default_ws_listen(),
            path: default_ws_path(),
            allowed_origins: default_origins(),
            client_queue: default_client_queue(),
            max_clients: default_max_clients(),
        }
    }
}

/// Where FluxCP keeps `p2p_monitor_settings` (optional).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsConfig {
    /// `mysql://user:password@host:3306/database`; empty turns it off.
    #[serde(default)]
    pub url: String,
    #[serde(default = "default_settings_table")]
    pub table: String,
    /// How often the table is read; changes apply within this time.
    #[serde(default = "default_settings_poll_s")]
    pub poll_s: u64,
}

fn default_settings_table() -> String {
    "p2p_monitor_settings".to_string()
}
fn default_settings_poll_s() -> u64 {
    5
}

impl Default for SettingsConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            table: default_settings_table(),
            poll_s: default_settings_poll_s(),
        }
    }
}

/// The URL holds a password: Debug shows only whether it is set.
impl std::fmt::Debug for SettingsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingsConfig")
            .field("url", &if self.url.is_empty() { "" } else { "<set>" })
            .field("table", &self.table)
            .field("poll_s", &self.poll_s)
            .finish()
    }
}

/// The P2P coordinator (its `/api/v1/hosts` routes). Empty url = none.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoordinatorConfig {
    #[serde(default)]
    pub url: String,
    /// Bearer token; prefer `token_file` to keep it out of this file.
    #[serde(default)]
    pub token: String,
    /// A file whose first line is the token (relative to this config).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// `api_key` (an `X-API-Key` header, as the reference coordinator
    /// checks) or `bearer`.
    #[serde(default)]
    pub auth: CoordinatorAuth,
    #[serde(default = "default_coordinator_timeout_ms")]
    pub timeout_ms: u64,
    /// Seconds between polls of its host registry; failures back off.
    #[serde(default = "default_coordinator_poll_s")]
    pub poll_s: u64,
}

fn default_coordinator_poll_s() -> u64 {
    15
}

fn default_coordinator_timeout_ms() -> u64 {
    5000
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            token: String::new(),
            token_file: None,
            auth: Default::default(),
            poll_s: default_coordinator_poll_s(),
            timeout_ms: default_coordinator_timeout_ms(),
        }
    }
}

/// The token is a secret: Debug shows only whether it is set.
impl std::fmt::Debug for CoordinatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordinatorConfig")
            .field("url", &self.url)
            .field("token", &if self.token.is_empty() { "" } else { "<set>" })
            .field("token_file", &self.token_file)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// A secret's file: its first line, trimmed; `setting` names it in the
/// error.
pub fn read_secret(path: &Path, setting: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|text| text.lines().next().unwrap_or("").trim().to_string())
        .map_err(|e| format!("cannot read {setting} {}: {e}", path.display()))
}

/// How the token travels: the reference coordinator checks `X-API-Key`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoordinatorAuth {
    #[default]
    ApiKey,
    Bearer,
}

/// When a host counts as degraded or offline.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostsConfig {
    /// Silence after which a host is degraded (agents report every 5 s).
    #[serde(default = "default_degraded_after_s")]
    pub degraded_after_s: u64,
    /// Silence after which a host is offline.
    #[serde(default = "default_offline_after_s")]
    pub offline_after_s: u64,
}

fn default_degraded_after_s() -> u64 {
    15
}
fn default_offline_after_s() -> u64 {
    60
}

impl Default for HostsConfig {
    fn default() -> Self {
        Self {
            degraded_after_s: default_degraded_after_s(),
            offline_after_s: default_offline_after_s(),
        }
    }
}

/// The embedded store.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `full` (default): an acknowledged batch is on disk (fsync'd) before
    /// the agent is told it may delete it. `normal`: faster, but an OS crash
    /// or power cut can lose the last acknowledged batches.
    #[serde(default)]
    pub durability: Durability,
}

/// What a commit, and so an acknowledgement, survives (`store.durability`
/// in aggregator.yml).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// `synchronous=FULL`: the WAL is fsync'd at every commit, so an
    /// acknowledged batch survives a power cut or an OS crash, not just the
    /// process being killed. The writer commits a group of batches at once,
    /// so the cost is one fsync per group, not per batch.
    #[default]
    Full,
    /// `synchronous=NORMAL`: no fsync at commit; an acknowledged batch
    /// survives the process being killed, but an OS crash or power cut can
    /// lose the last commits after agents were told to delete them.
    Normal,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensConfig {
    /// Lifetime of a join token unless `token create --ttl` says otherwise.
    #[serde(default = "default_join_ttl_s")]
    pub join_ttl_s: u64,
    /// Longest a dashboard session lasts (it ends sooner if its API token
    /// is revoked or expires).
    #[serde(default = "default_session_ttl_s")]
    pub session_ttl_s: u64,
}

fn default_join_ttl_s() -> u64 {
    86_400
}
/// How long a dashboard session lasts unless `tokens.session_ttl_s` says
/// otherwise.
pub const DEFAULT_SESSION_TTL_S: u64 = 12 * 3600;

fn default_session_ttl_s() -> u64 {
    DEFAULT_SESSION_TTL_S
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            join_ttl_s: default_join_ttl_s(),
            session_ttl_s: default_session_ttl_s(),
        }
    }
}

impl AggregatorConfig {
    /// Load and validate a config file, reporting every problem at once.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let mut config: AggregatorConfig = yaml_config::load(path)?;
        config.base_dir = yaml_config::config_dir(path);
        Ok(config)
    }

    /// The log directory, if files are wanted.
    pub fn log_dir(&self) -> Option<PathBuf> {
        (!self.logging.dir.as_os_str().is_empty()).then(|| self.base_dir.join(&self.logging.dir))
    }

    pub fn data_dir(&self) -> PathBuf {
        self.base_dir.join(&self.data_dir)
    }

    pub fn store_path(&self) -> PathBuf {
        self.data_dir().join("p2pmon.db")
    }

    pub fn metrics_path(&self) -> PathBuf {
        self.base_dir.join(&self.metrics_file)
    }

    pub fn alerts_path(&self) -> PathBuf {
        self.base_dir.join(&self.alerts_file)
    }

    pub fn tls_paths(&self) -> Option<(PathBuf, PathBuf)> {
        self.ingest
            .tls
            .as_ref()
            .map(|tls| (self.base_dir.join(&tls.cert), self.base_dir.join(&tls.key)))
    }
}

impl Validate for AggregatorConfig {
    fn validate(&self, base_dir: &Path, findings: &mut Findings) {
        self.influxdb.validate(findings);
        self.limits.validate(findings);
        self.settings.validate(findings);
        self.coordinator.validate(findings);
        self.ingest.validate(base_dir, findings);
        self.listeners_apart(findings);
        self.websocket.validate(findings);
        self.hosts.validate(findings);
        self.tokens.validate(findings);
        self.status_page.validate(findings);
    }
}

impl AggregatorConfig {
    /// No two listeners on one address (port 0: the system picks).
    fn listeners_apart(&self, findings: &mut Findings) {
        let ingest = &self.ingest;
        let listeners = [
            ("ingest.listen", ingest.listen),
            ("api.listen", self.api.listen),
            ("websocket.listen", self.websocket.listen),
        ];
        for (i, (a_name, a)) in listeners.iter().enumerate() {
            for (b_name, b) in &listeners[i + 1..] {
                if a == b && a.port() != 0 {
                    findings.error(*b_name, format!("{b} is also {a_name}"));
                }
            }
        }
    }
}

impl SettingsConfig {
    fn validate(&self, findings: &mut Findings) {
        if !self.url.is_empty() && mysql_async::Opts::from_url(&self.url).is_err() {
            findings.error("settings.url", "is not a mysql:// URL");
        }
        if self.table.is_empty()
            || !self
                .table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            findings.error("settings.table", "is a table name: a-z, A-Z, 0-9 and _");
        }
        findings.in_range("settings.poll_s", self.poll_s, 1..=3600);
    }
}

impl CoordinatorConfig {
    fn validate(&self, findings: &mut Findings) {
        let coordinator = self;
        if !coordinator.url.is_empty() {
            match url::Url::parse(&coordinator.url) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
                _ => findings.error("coordinator.url", "must be an http:// or https:// URL"),
            }
            if !coordinator.token.is_empty() && coordinator.token_file.is_some() {
                findings.error("coordinator", "set token or token_file, not both");
            }
        }
        findings.in_range(
            "coordinator.timeout_ms",
            coordinator.timeout_ms,
            100..=120_000,
        );
        findings.in_range("coordinator.poll_s", coordinator.poll_s, 1..=3600);
    }
}

impl IngestConfig {
    fn validate(&self, base_dir: &Path, findings: &mut Findings) {
        let ingest = self;
        findings.in_range("ingest.max_body_kb", ingest.max_body_kb, 1..=1024 * 1024);
        findings.in_range(
            "ingest.max_decompressed_kb",
            ingest.max_decompressed_kb,
            1..=4 * 1024 * 1024,
        );
        if ingest.max_decompressed_kb < ingest.max_body_kb {
            findings.error(
                "ingest.max_decompressed_kb",
                "must be at least ingest.max_body_kb",
            );
        }
        findings.in_range(
            "ingest.max_records_per_batch",
            ingest.max_records_per_batch,
            1..=1_000_000,
        );
        findings.in_range(
            "ingest.max_tags",
            ingest.max_tags,
            0..=p2pmon_common::rules::MAX_TAGS,
        );
        findings.in_range(
            "ingest.max_tag_value",
            ingest.max_tag_value,
            1..=p2pmon_common::rules::MAX_FIELD_VALUE,
        );
        findings.in_range("ingest.max_age_s", ingest.max_age_s, 60..=366 * 86_400);
        findings.in_range("ingest.max_future_s", ingest.max_future_s, 0..=86_400);
        findings.in_range(
            "ingest.rate_per_host",
            ingest.rate_per_host,
            1..=100_000_000,
        );
        if ingest.burst_per_host < ingest.max_records_per_batch as u64 {
            findings.error(
                "ingest.burst_per_host",
                format!(
                    "{} is below ingest.max_records_per_batch ({}): a full batch could never be accepted",
                    ingest.burst_per_host, ingest.max_records_per_batch
                ),
            );
        }
        findings.in_range(
            "ingest.max_series_per_host",
            ingest.max_series_per_host,
            1..=10_000_000,
        );
        findings.in_range(
            "ingest.max_series_per_plugin",
            ingest.max_series_per_plugin,
            1..=10_000_000,
        );
        for (i, sha) in ingest.plugin_allowlist.iter().enumerate() {
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                findings.error(
                    format!("ingest.plugin_allowlist[{i}]"),
                    format!("{sha:?} is not a SHA-256 in hex (64 characters)"),
                );
            }
        }
        if !ingest.listen.ip().is_loopback() && ingest.tls.is_none() && !ingest.insecure_http {
            findings.error(
                "ingest.listen",
                format!(
                    "{} is not a loopback address: set ingest.tls (cert and key) so agents connect over TLS, or ingest.insecure_http: true behind a TLS proxy",
                    ingest.listen
                ),
            );
        }
        if let Some(tls) = &ingest.tls {
            for (field, path) in [("ingest.tls.cert", &tls.cert), ("ingest.tls.key", &tls.key)] {
                if !base_dir.join(path).is_file() {
                    findings.error(
                        field,
                        format!("{} is not a readable file", base_dir.join(path).display()),
                    );
                }
            }
        }
    }
}

impl WebSocketConfig {
    fn validate(&self, findings: &mut Findings) {
        if !self.path.starts_with('/') {
            findings.error("websocket.path", "must start with /");
        }
        findings.in_range("websocket.client_queue", self.client_queue, 1..=65_536);
        findings.in_range("websocket.max_clients", self.max_clients, 1..=1_000_000);
    }
}

impl HostsConfig {
    fn validate(&self, findings: &mut Findings) {
        findings.in_range("hosts.degraded_after_s", self.degraded_after_s, 1..=86_400);
        if self.offline_after_s <= self.degraded_after_s {
            findings.error(
                "hosts.offline_after_s",
                "must be greater than hosts.degraded_after_s",
            );
        }
    }
}

impl TokensConfig {
    fn validate(&self, findings: &mut Findings) {
        findings.in_range("tokens.join_ttl_s", self.join_ttl_s, 60..=366 * 86_400);
        findings.in_range("tokens.session_ttl_s", self.session_ttl_s, 60..=30 * 86_400);
    }
}

/// metrics.yml, as far as the aggregator uses it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    #[serde(default)]
    pub collection: MetricsCollection,
    /// Groups (system, game, network, security) and the metric names in
    /// each: what agents collect and the store keeps; WebSocket clients
    /// subscribe by group.
    #[serde(default)]
    pub metrics: MetricGroups,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsCollection {
    /// Expected reporting interval of agents (default 5000 ms).
    #[serde(default = "default_interval")]
    pub interval: u64,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Default 30. How long raw points are kept; also the default of the tiers.
    #[serde(default = "default_retention_days")]
    pub retention_days: u64,
    /// Per-tier retention in days; each defaults to `retention_days`.
    #[serde(default)]
    pub retention: RetentionTiers,
}

fn default_interval() -> u64 {
    5000
}
fn default_batch_size() -> usize {
    1000
}
fn default_retention_days() -> u64 {
    30
}

impl Default for MetricsCollection {
    fn default() -> Self {
        Self {
            interval: default_interval(),
            batch_size: default_batch_size(),
            retention_days: default_retention_days(),
            retention: RetentionTiers::default(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionTiers {
    #[serde(default)]
    pub raw_days: Option<u64>,
    #[serde(default)]
    pub minute_days: Option<u64>,
    #[serde(default)]
    pub hour_days: Option<u64>,
    /// A series with nothing in any tier for this many days is removed, and
    /// the host's and its plugin's series budgets get it back. By default
    /// the longest tier: only series whose every row retention has already
    /// removed. Shorter frees budget sooner, dropping what is left of them.
    #[serde(default)]
    pub series_idle_days: Option<u64>,
}

/// Retention of each store tier, in days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub raw_days: u64,
    pub minute_days: u64,
    pub hour_days: u64,
    /// Series idle this long are removed (see `RetentionTiers`).
    pub series_idle_days: u64,
}

impl MetricsConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        yaml_config::load(path)
    }

    pub fn retention(&self) -> Retention {
        let c = &self.collection;
        let raw_days = c.retention.raw_days.unwrap_or(c.retention_days);
        let minute_days = c.retention.minute_days.unwrap_or(c.retention_days);
        let hour_days = c.retention.hour_days.unwrap_or(c.retention_days);
        Retention {
            raw_days,
            minute_days,
            hour_days,
            series_idle_days: c
                .retention
                .series_idle_days
                .unwrap_or(raw_days.max(minute_days).max(hour_days)),
        }
    }
}

impl Validate for MetricsConfig {
    fn validate(&self, _base_dir: &Path, findings: &mut Findings) {
        let c = &self.collection;
        findings.in_range("collection.interval", c.interval, 100..=3_600_000);
        findings.in_range("collection.batch_size", c.batch_size, 1..=1_000_000);
        findings.in_range("collection.retention_days", c.retention_days, 1..=3650);
        for (field, value) in [
            ("collection.retention.raw_days", c.retention.raw_days),
            ("collection.retention.minute_days", c.retention.minute_days),
            ("collection.retention.hour_days", c.retention.hour_days),
            (
                "collection.retention.series_idle_days",
                c.retention.series_idle_days,
            ),
        ] {
            if let Some(days) = value {
                findings.in_range(field, days, 1..=3650);
            }
        }
        let mut listed_in: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, group) in &self.metrics.groups {
            for (i, metric) in group.include.iter().enumerate() {
                let field = format!("metrics.{name}.include[{i}]");
                if !p2pmon_common::rules::is_name(metric, p2pmon_common::rules::MAX_NAME) {
                    findings.error(
                        field,
                        format!("{metric:?} is not a metric name ([a-z][a-z0-9_.]*)"),
                    );
                } else if let Some(first) = listed_in.insert(metric, name)
                    && first != name
                {
                    findings.error(
                        field,
                        format!("{metric} is listed in metrics.{first} too; a metric belongs to one group"),
                    );
                }
            }
            for (i, plugin) in group.plugins.iter().enumerate() {
                if !p2pmon_common::rules::is_plugin_name(plugin) {
                    findings.error(
                        format!("metrics.{name}.plugins[{i}]"),
                        format!("{plugin:?} is not a plugin name"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AggregatorConfig, ConfigErrors> {
        yaml_config::parse(Path::new("aggregator.yml"), text)
    }

    #[test]
    fn empty_file_gives_the_defaults() {
        let config = parse("").expect("defaults are valid");
        assert_eq!(config.api.listen.port(), 5121);
        assert_eq!(config.websocket.listen.port(), 5122);
        assert_eq!(config.websocket.path, "/monitor");
    }

    #[test]
    fn reports_every_problem_at_once() {
        let errors = parse(
            "ingest:\n  listen: 0.0.0.0:5123\n  max_body_kb: 0\n  plugin_allowlist: [nothex]\n  bogus: 1\napi:\n  listen: 127.0.0.1:5122\nhosts:\n  offline_after_s: 5\n",
        )
        .expect_err("invalid");
        let text = errors.to_string();
        for needle in [
            "ingest.listen",
            "ingest.max_body_kb",
            "ingest.plugin_allowlist[0]",
            "bogus",
            "websocket.listen",
            "hosts.offline_after_s",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
    }

    #[test]
    fn metrics_yml_tiers_default_to_retention_days() {
        let config: MetricsConfig = yaml_config::parse(
            Path::new("metrics.yml"),
            "collection:\n  retention_days: 10\n  retention:\n    hour_days: 365\nmetrics:\n  system:\n    include: [cpu_usage]\n",
        )
        .expect("valid");
        assert_eq!(
            config.retention(),
            Retention {
                raw_days: 10,
                minute_days: 10,
                hour_days: 365,
                series_idle_days: 365,
            }
        );
        assert_eq!(config.metrics.group_of("cpu_usage"), Some("system"));
        assert_eq!(config.metrics.group_of("nope"), None);
    }
}
