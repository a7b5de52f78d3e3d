//! The binaries' own figures (counters and gauges), each declared once with
//! its one name, unit, kind and help text, and read from that declaration by
//! every reader: the aggregator's `/metrics` and health answer, the agent's
//! self-metrics records and its `metrics_listen`.
//!
//! A struct of figures is declared with [`figures!`](crate::figures); it
//! implements [`Telemetry`], which yields [`Reading`]s. A count that is worth
//! a log line is made with [`count!`](crate::count), which adds to the figure
//! and logs in one statement, naming the figure, so the log and the number
//! cannot drift apart.
//!
//! Names: a figure belongs to a group (`websocket`, `ingest`, `agent_plugin`)
//! and its metric name is `<group>_<name>`. In the aggregator's health JSON the
//! group is the object and the key follows [`HealthKey`], since those keys are
//! a public contract older than this module (`aggregator/openapi.yaml`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::wire::MetricKind;

#[doc(hidden)]
pub use tracing as __tracing;

/// How a figure is keyed in the health JSON object of its group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthKey {
    /// Its name (`ingest.batches`).
    Name,
    /// Its name as a Prometheus sample, ending in `_total` for a counter
    /// (`websocket.accepted_total`).
    Sample,
    /// Another key the health contract already uses (`ingest.duplicates` for
    /// `ingest_duplicate_batches`).
    Alias(&'static str),
    /// Not in the health answer.
    None,
}

/// What a figure is: declared once, read by every reader.
#[derive(Debug)]
pub struct Describe {
    pub group: &'static str,
    pub name: &'static str,
    pub help: &'static str,
    pub unit: &'static str,
    pub kind: MetricKind,
    pub health: HealthKey,
    /// Labels every reading of this figure carries (`outcome="sent"`).
    pub labels: &'static [(&'static str, &'static str)],
}

impl Describe {
    /// `<group>_<name>`: the record name of the agent's self-metrics and,
    /// after the binary's prefix, the `/metrics` family.
    pub fn metric_name(&self) -> Cow<'static, str> {
        if self.group.is_empty() {
            Cow::Borrowed(self.name)
        } else {
            Cow::Owned(format!("{}_{}", self.group, self.name))
        }
    }

    /// The key in the health JSON object of its group, if it is there.
    pub fn health_key(&self) -> Option<Cow<'static, str>> {
        match self.health {
            HealthKey::Name => Some(Cow::Borrowed(self.name)),
            HealthKey::Sample if self.kind == MetricKind::Counter => {
                Some(Cow::Owned(format!("{}_total", self.name)))
            }
            HealthKey::Sample => Some(Cow::Borrowed(self.name)),
            HealthKey::Alias(key) => Some(Cow::Borrowed(key)),
            HealthKey::None => None,
        }
    }
}

/// One counter or gauge (a whole number).
#[derive(Debug)]
pub struct Figure {
    describe: &'static Describe,
    value: AtomicU64,
}

impl Figure {
    pub const fn new(describe: &'static Describe) -> Self {
        Self {
            describe,
            value: AtomicU64::new(0),
        }
    }

    pub fn describe(&self) -> &'static Describe {
        self.describe
    }

    pub fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }

    pub fn inc(&self) {
        self.add(1);
    }

    /// For gauges: take `n` off (never below zero).
    pub fn sub(&self, n: u64) {
        let _ = self
            .value
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
    }

    /// For gauges.
    pub fn set(&self, n: u64) {
        self.value.store(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }

    pub fn reading(&self) -> Reading {
        Reading::new(self.describe, self.get() as f64)
    }
}

/// A counter per value of one label (`ingest_refused` by `reason`).
#[derive(Debug)]
pub struct Family {
    describe: &'static Describe,
    label: &'static str,
    values: Mutex<BTreeMap<String, u64>>,
}

impl Family {
    pub const fn new(describe: &'static Describe, label: &'static str) -> Self {
        Self {
            describe,
            label,
            values: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn describe(&self) -> &'static Describe {
        self.describe
    }

    pub fn add(&self, value: &str, n: u64) {
        if let Ok(mut values) = self.values.lock() {
            *values.entry(value.to_string()).or_default() += n;
        }
    }

    /// Every label value with its count.
    pub fn values(&self) -> BTreeMap<String, u64> {
        self.values.lock().map(|v| v.clone()).unwrap_or_default()
    }

    pub fn readings(&self) -> Vec<Reading> {
        self.values()
            .into_iter()
            .map(|(value, n)| Reading::new(self.describe, n as f64).label(self.label, &value))
            .collect()
    }
}

/// A figure's value at the time it was read, with its labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    pub describe: &'static Describe,
    pub value: f64,
    /// The figure's own labels, then those added by the reader's source.
    pub labels: Vec<(String, String)>,
}

impl PartialEq for Describe {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Reading {
    pub fn new(describe: &'static Describe, value: f64) -> Self {
        Self {
            describe,
            value,
            labels: describe
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    pub fn label(mut self, name: &str, value: &str) -> Self {
        self.labels.push((name.to_string(), value.to_string()));
        self
    }

    /// As a Prometheus sample: `prefix` + the metric name.
    pub fn sample(&self, prefix: &str) -> crate::prometheus::Sample {
        let d = self.describe;
        let sample =
            crate::prometheus::Sample::new(prefix, &d.metric_name(), d.kind, d.help, self.value);
        self.labels
            .iter()
            .fold(sample, |sample, (k, v)| sample.label(k, v))
    }
}

/// Something that holds figures.
pub trait Telemetry {
    /// Every figure's value now, in declaration order.
    fn readings(&self) -> Vec<Reading>;
}

/// The health JSON object of `readings` (one group): each figure under its
/// [`HealthKey`], a labelled one as an object by label value.
pub fn health_object(readings: &[Reading]) -> serde_json::Map<String, serde_json::Value> {
    let mut object = serde_json::Map::new();
    for reading in readings {
        let Some(key) = reading.describe.health_key() else {
            continue;
        };
        let value = serde_json::Value::from(reading.value as u64);
        let own = reading.describe.labels.len();
        match reading.labels.get(own) {
            None => {
                object.insert(key.into_owned(), value);
            }
            Some((_, label)) => {
                let entry = object
                    .entry(key.into_owned())
                    .or_insert_with(|| serde_json::Value::Object(Default::default()));
                if let serde_json::Value::Object(by_label) = entry {
                    by_label.insert(label.clone(), value);
                }
            }
        }
    }
    object
}

/// Declare a struct of [`Figure`]s in one group, with `Default` and
/// [`Telemetry`]:
///
/// ```
/// use p2pmon_common::telemetry::{HealthKey, Telemetry};
/// p2pmon_common::figures! {
///     /// The feed's figures.
///     pub struct Feed in "websocket" {
///         clients: Gauge, "clients", "count", HealthKey::Name, "Connected clients.";
///         accepted: Counter, "accepted", "count", HealthKey::Sample, "Clients accepted.";
///     }
/// }
/// let feed = Feed::default();
/// feed.accepted.inc();
/// assert_eq!(feed.readings()[1].describe.metric_name(), "websocket_accepted");
/// ```
#[macro_export]
macro_rules! figures {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident in $group:literal {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $kind:ident, $metric:literal, $unit:literal, $health:expr, $help:literal
                $(, labels = $labels:expr)?;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug)]
        $vis struct $name {
            $( $(#[$fmeta])* pub $field: $crate::telemetry::Figure, )*
        }

        impl Default for $name {
            fn default() -> Self {
                Self {
                    $(
                        $field: $crate::telemetry::Figure::new($crate::describe!(
                            $group, $metric, $kind, $unit, $health, $help
                            $(, labels = $labels)?
                        )),
                    )*
                }
            }
        }

        impl $crate::telemetry::Telemetry for $name {
            fn readings(&self) -> Vec<$crate::telemetry::Reading> {
                vec![$( self.$field.reading(), )*]
            }
        }
    };
}

/// A `&'static` [`Describe`]:
/// `describe!("agent_plugin", "calls", Counter, "count", HealthKey::None, "Plugin calls.")`,
/// optionally `, labels = &[("outcome", "sent")]`.
#[macro_export]
macro_rules! describe {
    ($group:expr, $name:expr, $kind:ident, $unit:expr, $health:expr, $help:expr $(, labels = $labels:expr)?) => {{
        static DESCRIBE: $crate::telemetry::Describe = $crate::telemetry::Describe {
            group: $group,
            name: $name,
            help: $help,
            unit: $unit,
            kind: $crate::wire::MetricKind::$kind,
            health: $health,
            labels: $crate::describe!(@labels $($labels)?),
        };
        &DESCRIBE
    }};
    (@labels) => { &[] };
    (@labels $labels:expr) => { $labels };
}

/// Add to a figure and log it, in one statement:
/// `count!(stats.dropped_slow, n, warn, clients = n, "Clients fell behind.")`.
/// The log line carries the figure's metric name (`figure`) and the amount.
#[macro_export]
macro_rules! count {
    ($figure:expr, $n:expr, $level:ident, $($arg:tt)+) => {{
        let figure: &$crate::telemetry::Figure = &$figure;
        let n: u64 = $n;
        figure.add(n);
        $crate::telemetry::__tracing::$level!(
            figure = %figure.describe().metric_name(),
            count = n,
            $($arg)+
        );
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::figures! {
        /// A stand-in group shaped like the aggregator's feed figures.
        struct Demo in "websocket" {
            clients: Gauge, "clients", "count", HealthKey::Name, "Connected clients.";
            dropped_slow: Counter, "dropped_slow", "count", HealthKey::Sample, "Dropped.";
            duplicate_batches: Counter, "duplicate_batches", "count", HealthKey::Alias("duplicates"), "Dups.";
            sent: Counter, "notifications", "count", HealthKey::None, "Sent.", labels = &[("outcome", "sent")];
        }
    }

    #[test]
    fn one_declaration_names_the_metric_and_the_health_key() {
        let demo = Demo::default();
        demo.clients.add(3);
        demo.clients.sub(1);
        crate::count!(demo.dropped_slow, 2, warn, "Two fell behind.");
        demo.duplicate_batches.inc();
        demo.sent.add(5);
        let readings = demo.readings();
        let names: Vec<_> = readings
            .iter()
            .map(|r| (r.describe.metric_name().into_owned(), r.value))
            .collect();
        assert_eq!(
            names,
            [
                ("websocket_clients".to_string(), 2.0),
                ("websocket_dropped_slow".to_string(), 2.0),
                ("websocket_duplicate_batches".to_string(), 1.0),
                ("websocket_notifications".to_string(), 5.0),
            ]
        );
        let health = serde_json::Value::Object(health_object(&readings));
        assert_eq!(
            health,
            serde_json::json!({ "clients": 2, "dropped_slow_total": 2, "duplicates": 1 })
        );
        let sample = readings[3].sample("p2pmon_");
        assert_eq!(sample.name, "p2pmon_websocket_notifications_total");
        assert_eq!(sample.labels, [("outcome".to_string(), "sent".to_string())]);
    }

    #[test]
    fn a_family_reads_one_value_per_label() {
        static REFUSED: Describe = Describe {
            group: "ingest",
            name: "refused",
            help: "Refused, by reason.",
            unit: "count",
            kind: MetricKind::Counter,
            health: HealthKey::Name,
            labels: &[],
        };
        let family = Family::new(&REFUSED, "reason");
        family.add("too_large", 2);
        family.add("forged_host", 1);
        family.add("too_large", 1);
        let readings = family.readings();
        assert_eq!(readings.len(), 2);
        assert_eq!(
            serde_json::Value::Object(health_object(&readings)),
            serde_json::json!({ "refused": { "forged_host": 1, "too_large": 3 } })
        );
        assert_eq!(readings[1].sample("p").labels[0].0, "reason");
    }

    #[test]
    fn a_gauge_does_not_go_below_zero() {
        let demo = Demo::default();
        demo.clients.sub(4);
        assert_eq!(demo.clients.get(), 0);
    }
}
