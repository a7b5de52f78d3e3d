//! Checking what a plugin hands back before it leaves the agent. A plugin is
//! untrusted: names, tags, values and sizes are validated here, and whatever
//! fails is dropped and counted, never passed on. A metric the plugin did
//! not declare in its metadata is refused the same way: without a
//! declaration it has no unit and no kind, and a typo in a name would
//! otherwise start a new series silently.

use std::collections::{BTreeMap, HashMap};

use crate::runtime::{Collection, PluginInfo};
use p2pmon_common::rules::{
    MAX_FIELD_VALUE, MAX_MESSAGE, MAX_NAME, MAX_TAG_VALUE, MAX_TAGS, check_tag, is_name, truncate,
};
use p2pmon_common::wire::{EventRecord, MetricKind, MetricRecord, Record};

/// Most metrics one collect call may return; the rest are dropped.
pub const MAX_METRICS: usize = 10_000;
/// Most events one collect call may return; the rest are dropped.
pub const MAX_EVENTS: usize = 1_000;

/// Units and kinds a plugin declared for its metrics, by name.
#[derive(Clone, Debug, Default)]
pub struct Descriptors {
    by_name: HashMap<String, (String, MetricKind)>,
}

impl Descriptors {
    pub fn from_info(info: &PluginInfo) -> Self {
        let by_name = info
            .metrics
            .iter()
            .map(|m| (m.name.clone(), (m.unit.clone(), m.kind.into())))
            .collect();
        Self { by_name }
    }
}

/// Result of validating one collection.
#[derive(Debug, Default)]
pub struct Checked {
    pub records: Vec<Record>,
    pub rejected: u64,
    /// Why the first rejected item was rejected, for the log.
    pub first_problem: Option<String>,
}

impl Checked {
    fn reject(&mut self, problem: impl FnOnce() -> String) {
        self.rejected += 1;
        if self.first_problem.is_none() {
            self.first_problem = Some(problem());
        }
    }
}

fn labels(
    pairs: Vec<(String, String)>,
    max_value: usize,
) -> Result<BTreeMap<String, String>, String> {
    if pairs.len() > MAX_TAGS {
        return Err(format!("{} tags (at most {MAX_TAGS})", pairs.len()));
    }
    let mut map = BTreeMap::new();
    for (key, value) in pairs {
        check_tag(&key, &value, max_value)?;
        if map.insert(key.clone(), value).is_some() {
            return Err(format!("tag key {key:?} appears twice"));
        }
    }
    Ok(map)
}

/// Validate `collection` from `plugin` into records stamped `now_ms` where
/// the plugin gave no timestamp.
pub fn check(
    plugin: &str,
    descriptors: &Descriptors,
    collection: Collection,
    now_ms: u64,
) -> Checked {
    let mut checked = Checked::default();
    let metric_count = collection.metrics.len();
    if metric_count > MAX_METRICS {
        checked.rejected += (metric_count - MAX_METRICS) as u64;
        checked.first_problem = Some(format!(
            "{metric_count} metrics in one collect (at most {MAX_METRICS})"
        ));
    }
    for metric in collection.metrics.into_iter().take(MAX_METRICS) {
        if !is_name(&metric.name, MAX_NAME) {
            checked.reject(|| {
                format!(
                    "metric name {:?} is not [a-z][a-z0-9_.]* of at most {MAX_NAME} bytes",
                    truncate(metric.name.clone(), 64)
                )
            });
            continue;
        }
        if !metric.value.is_finite() {
            checked.reject(|| format!("metric {} has a non-finite value", metric.name));
            continue;
        }
        let tags = match labels(metric.tags, MAX_TAG_VALUE) {
            Ok(tags) => tags,
            Err(problem) => {
                checked.reject(|| format!("metric {}: {problem}", metric.name));
                continue;
            }
        };
        let Some((unit, kind)) = descriptors.by_name.get(&metric.name).cloned() else {
            checked.reject(|| {
                format!(
                    "metric {} is not declared in the plugin's metadata; declare it in info() with .metric(MetricSpec::gauge(\"{}\", UNIT)) (or ::counter)",
                    metric.name, metric.name
                )
            });
            continue;
        };
        checked.records.push(Record::Metric(MetricRecord {
            plugin: plugin.to_string(),
            name: metric.name,
            value: metric.value,
            unit,
            kind,
            tags,
            timestamp_ms: metric.timestamp_ms.unwrap_or(now_ms),
        }));
    }

    let event_count = collection.events.len();
    if event_count > MAX_EVENTS {
        checked.rejected += (event_count - MAX_EVENTS) as u64;
        checked.first_problem.get_or_insert_with(|| {
            format!("{event_count} events in one collect (at most {MAX_EVENTS})")
        });
    }
    for event in collection.events.into_iter().take(MAX_EVENTS) {
        if !is_name(&event.kind, MAX_NAME) {
            checked.reject(|| {
                format!(
                    "event kind {:?} is not [a-z][a-z0-9_.]* of at most {MAX_NAME} bytes",
                    truncate(event.kind.clone(), 64)
                )
            });
            continue;
        }
        let fields = match labels(event.fields, MAX_FIELD_VALUE) {
            Ok(fields) => fields,
            Err(problem) => {
                checked.reject(|| format!("event {}: {problem}", event.kind));
                continue;
            }
        };
        checked.records.push(Record::Event(EventRecord {
            plugin: plugin.to_string(),
            kind: event.kind,
            severity: event.severity.into(),
            message: truncate(
                p2pmon_common::rules::escape_text(&event.message).into_owned(),
                MAX_MESSAGE,
            ),
            fields,
            timestamp_ms: event.timestamp_ms.unwrap_or(now_ms),
        }));
    }
    checked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::p2pmon::plugin::types as wit;

    /// Descriptors declaring `names` as gauges counted in `count`.
    fn declaring(names: &[&str]) -> Descriptors {
        Descriptors {
            by_name: names
                .iter()
                .map(|n| (n.to_string(), ("count".to_string(), MetricKind::Gauge)))
                .collect(),
        }
    }

    fn metric(name: &str, value: f64, tags: &[(&str, &str)]) -> wit::Metric {
        wit::Metric {
            name: name.to_string(),
            value,
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            timestamp_ms: None,
        }
    }

    #[test]
    fn drops_bad_metrics_and_keeps_good_ones() {
        let collection = Collection {
            metrics: vec![
                metric("cpu_usage", 12.5, &[("core", "0")]),
                metric("Bad Name", 1.0, &[]),
                metric("nan_value", f64::NAN, &[]),
                metric("dup_tags", 1.0, &[("a", "1"), ("a", "2")]),
                metric("ctrl", 1.0, &[("a", "line\nbreak")]),
            ],
            events: vec![],
        };
        let declared = declaring(&["cpu_usage", "nan_value", "dup_tags", "ctrl"]);
        let checked = check("test", &declared, collection, 42);
        assert_eq!(checked.records.len(), 1);
        assert_eq!(checked.rejected, 4);
        let Record::Metric(m) = &checked.records[0] else {
            panic!("expected a metric");
        };
        assert_eq!(m.timestamp_ms, 42);
        assert_eq!(m.tags.get("core").map(String::as_str), Some("0"));
        assert!(
            checked
                .first_problem
                .unwrap_or_default()
                .contains("Bad Name")
        );
    }

    #[test]
    fn caps_the_number_of_metrics() {
        let metrics = (0..MAX_METRICS + 5)
            .map(|_| metric("m", 1.0, &[]))
            .collect();
        let checked = check(
            "test",
            &declaring(&["m"]),
            Collection {
                metrics,
                events: vec![],
            },
            0,
        );
        assert_eq!(checked.records.len(), MAX_METRICS);
        assert_eq!(checked.rejected, 5);
    }

    #[test]
    fn refuses_undeclared_metrics_naming_the_fix() {
        let collection = Collection {
            metrics: vec![
                metric("players_online", 12.0, &[]),
                metric("players_onlnie", 12.0, &[]),
            ],
            events: vec![],
        };
        let checked = check("game", &declaring(&["players_online"]), collection, 1);
        assert_eq!(checked.rejected, 1);
        assert_eq!(checked.records.len(), 1);
        let Record::Metric(m) = &checked.records[0] else {
            panic!("expected a metric");
        };
        assert_eq!(
            (m.name.as_str(), m.unit.as_str()),
            ("players_online", "count")
        );
        let problem = checked.first_problem.unwrap_or_default();
        assert!(
            problem.contains("players_onlnie is not declared")
                && problem.contains("MetricSpec::gauge(\"players_onlnie\""),
            "{problem}"
        );
    }

    #[test]
    fn truncates_long_event_messages_on_a_char_boundary() {
        let event = wit::Event {
            kind: "big".to_string(),
            severity: wit::Severity::Warning,
            message: "é".repeat(MAX_MESSAGE),
            fields: vec![],
            timestamp_ms: Some(7),
        };
        let checked = check(
            "test",
            &Descriptors::default(),
            Collection {
                metrics: vec![],
                events: vec![event],
            },
            0,
        );
        let Record::Event(e) = &checked.records[0] else {
            panic!("expected an event");
        };
        assert!(e.message.len() <= MAX_MESSAGE);
        assert_eq!(e.timestamp_ms, 7);
    }
}
