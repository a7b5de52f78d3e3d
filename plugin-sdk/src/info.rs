//! What a plugin declares about itself: [`PluginInfo`], [`MetricSpec`],
//! [`Unit`] and [`Capability`].

use crate::bindings::p2pmon::plugin::types as wit;

/// A capability a plugin asks the agent to grant. The agent's config decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    /// Write to the agent's log ([`crate::host::info`] and friends).
    Log,
    /// Read the wall clock ([`crate::host::now_ms`]).
    Clock,
    /// Read this plugin's `config` values ([`crate::host::config`]).
    Config,
    /// Read the machine snapshot and socket tables ([`crate::system`]).
    System,
    /// Read-only queries on granted databases ([`crate::sql`]); since 1.1.
    Sql,
    /// Read and tail files under granted paths ([`crate::file`]); since 1.1.
    File,
    /// TCP and UDP echo probes to granted targets ([`crate::net`]); since 1.1.
    Net,
    /// GET requests under granted URL prefixes ([`crate::http`]); since 1.1.
    Http,
}

impl Capability {
    /// Every capability of this contract version.
    pub const ALL: [Capability; 8] = [
        Capability::Log,
        Capability::Clock,
        Capability::Config,
        Capability::System,
        Capability::Sql,
        Capability::File,
        Capability::Net,
        Capability::Http,
    ];

    /// The name used in agent.yml `capabilities:` lists.
    pub const fn as_str(self) -> &'static str {
        match self {
            Capability::Log => "log",
            Capability::Clock => "clock",
            Capability::Config => "config",
            Capability::System => "system",
            Capability::Sql => "sql",
            Capability::File => "file",
            Capability::Net => "net",
            Capability::Http => "http",
        }
    }
}

/// Unit of a metric's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Percent,
    Bytes,
    BytesPerSecond,
    Seconds,
    Milliseconds,
    Count,
    PerSecond,
    Ratio,
}

impl Unit {
    /// The unit's wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Unit::Percent => "percent",
            Unit::Bytes => "bytes",
            Unit::BytesPerSecond => "bytes_per_second",
            Unit::Seconds => "seconds",
            Unit::Milliseconds => "milliseconds",
            Unit::Count => "count",
            Unit::PerSecond => "per_second",
            Unit::Ratio => "ratio",
        }
    }
}

/// Whether a metric is a gauge or a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    Gauge,
    Counter,
}

/// A metric the plugin may produce, as shown by `p2pmon-agent plugin inspect`.
#[derive(Clone, Debug)]
pub struct MetricSpec {
    name: String,
    unit: Unit,
    kind: MetricKind,
    description: String,
}

impl MetricSpec {
    /// A gauge: a value that goes up and down.
    pub fn gauge(name: &str, unit: Unit) -> Self {
        Self::new(name, unit, MetricKind::Gauge)
    }

    /// A counter: a value that only grows.
    pub fn counter(name: &str, unit: Unit) -> Self {
        Self::new(name, unit, MetricKind::Counter)
    }

    fn new(name: &str, unit: Unit, kind: MetricKind) -> Self {
        Self {
            name: name.to_string(),
            unit,
            kind,
            description: String::new(),
        }
    }

    /// A one-line description.
    pub fn describe(mut self, description: &str) -> Self {
        self.description = description.to_string();
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn unit(&self) -> Unit {
        self.unit
    }

    pub fn kind(&self) -> MetricKind {
        self.kind
    }

    /// The text set with [`MetricSpec::describe`].
    pub fn description(&self) -> &str {
        &self.description
    }
}

/// A plugin's metadata: name, version, metrics, capabilities and interval.
#[derive(Clone, Debug)]
pub struct PluginInfo {
    name: String,
    version: String,
    description: String,
    metrics: Vec<MetricSpec>,
    capabilities: Vec<Capability>,
    default_interval_ms: u32,
}

impl PluginInfo {
    /// `name` is the plugin's identity in the agent's logs and metrics;
    /// `version` is usually `env!("CARGO_PKG_VERSION")`.
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            name: name.to_string(),
            version: version.to_string(),
            description: String::new(),
            metrics: Vec::new(),
            capabilities: Vec::new(),
            default_interval_ms: 5_000,
        }
    }

    pub fn description(mut self, description: &str) -> Self {
        self.description = description.to_string();
        self
    }

    pub fn metric(mut self, metric: MetricSpec) -> Self {
        self.metrics.push(metric);
        self
    }

    pub fn capability(mut self, capability: Capability) -> Self {
        if !self.capabilities.contains(&capability) {
            self.capabilities.push(capability);
        }
        self
    }

    /// Interval the plugin suggests (default 5000 ms, the interval of the shipped metrics.yml).
    pub fn interval_ms(mut self, interval_ms: u32) -> Self {
        self.default_interval_ms = interval_ms;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// The text set with [`PluginInfo::description`].
    pub fn description_text(&self) -> &str {
        &self.description
    }

    /// The metrics declared; the agent refuses any other.
    pub fn metrics(&self) -> &[MetricSpec] {
        &self.metrics
    }

    /// The metric declared as `name`.
    pub fn metric_spec(&self, name: &str) -> Option<&MetricSpec> {
        self.metrics.iter().find(|m| m.name == name)
    }

    pub fn capabilities(&self) -> &[Capability] {
        &self.capabilities
    }

    pub fn default_interval_ms(&self) -> u32 {
        self.default_interval_ms
    }

    pub(crate) fn into_wit(self) -> wit::PluginInfo {
        wit::PluginInfo {
            name: self.name,
            version: self.version,
            description: self.description,
            metrics: self
                .metrics
                .into_iter()
                .map(|m| wit::MetricDescriptor {
                    name: m.name,
                    unit: m.unit.as_str().to_string(),
                    kind: match m.kind {
                        MetricKind::Gauge => wit::MetricKind::Gauge,
                        MetricKind::Counter => wit::MetricKind::Counter,
                    },
                    description: m.description,
                })
                .collect(),
            capabilities: self
                .capabilities
                .iter()
                .map(|c| c.as_str().to_string())
                .collect(),
            default_interval_ms: self.default_interval_ms,
        }
    }
}
