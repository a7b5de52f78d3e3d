//! What the aggregator's metrics.yml lets this agent collect. Every hello
//! answer carries the groups; the last ones are kept in a file beside the
//! spool so that a restarted agent applies them before it reconnects. Before
//! the first answer ever (or from an aggregator that sends none) everything
//! is collected, and the aggregator filters.

use std::path::PathBuf;
use std::sync::RwLock;

use p2pmon_common::collection::MetricGroups;
use p2pmon_common::describe;
use p2pmon_common::files::write_atomically;
use p2pmon_common::telemetry::{Figure, HealthKey};
use p2pmon_common::wire::{HelloAnswer, Record};

/// The file beside the spool's batches that keeps the last groups.
pub const GROUPS_FILE: &str = "metric-groups.json";

pub struct CollectionFilter {
    groups: RwLock<Option<MetricGroups>>,
    /// Where the last groups are kept, if anywhere.
    file: Option<PathBuf>,
    /// Metric records left out, in total (`agent_records_not_collected`).
    pub left_out: Figure,
}

fn left_out() -> Figure {
    Figure::new(describe!(
        "agent",
        "records_not_collected",
        Counter,
        "count",
        HealthKey::None,
        "Metric records left out: the aggregator's metrics.yml does not collect them."
    ))
}

impl Default for CollectionFilter {
    fn default() -> Self {
        Self {
            groups: RwLock::default(),
            file: None,
            left_out: left_out(),
        }
    }
}

impl CollectionFilter {
    /// A filter kept in `file`, starting from what it holds (an unreadable
    /// file is ignored: the next hello replaces it).
    pub fn open(file: PathBuf) -> Self {
        let groups = std::fs::read(&file)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<MetricGroups>(&bytes).ok());
        Self {
            groups: RwLock::new(groups),
            file: Some(file),
            left_out: left_out(),
        }
    }

    /// Apply the groups of a hello answer (`metrics`); a missing or
    /// unreadable value means collect everything.
    pub fn set_from_hello(&self, answer: &HelloAnswer) {
        let groups = answer.metrics.clone();
        let Ok(mut current) = self.groups.write() else {
            return;
        };
        if *current == groups {
            return;
        }
        let disabled = groups.as_ref().map_or(0, |g| {
            g.groups.values().filter(|group| !group.enabled).count()
        });
        tracing::info!(
            groups = groups.as_ref().map_or(0, |g| g.groups.len()),
            disabled,
            "Collecting what the aggregator's metrics.yml lists."
        );
        if let Some(file) = &self.file {
            let saved = match &groups {
                Some(groups) => serde_json::to_vec(groups)
                    .map_err(std::io::Error::other)
                    .and_then(|bytes| write_atomically(file, &bytes)),
                None => std::fs::remove_file(file).or_else(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        Ok(())
                    } else {
                        Err(e)
                    }
                }),
            };
            if let Err(error) = saved {
                tracing::warn!(%error, file = %file.display(), "Cannot keep the metric groups; a restart collects everything until it reconnects.");
            }
        }
        *current = groups;
    }

    /// Drop the metrics the groups do not collect; events always stay.
    pub fn retain(&self, records: &mut Vec<Record>) {
        let Ok(groups) = self.groups.read() else {
            return;
        };
        let Some(groups) = groups.as_ref() else {
            return;
        };
        let before = records.len();
        records.retain(|record| match record {
            Record::Metric(m) => groups.allows(&m.plugin, &m.name),
            Record::Event(_) => true,
        });
        let dropped = (before - records.len()) as u64;
        if dropped > 0 {
            self.left_out.add(dropped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p2pmon_common::wire::{EventRecord, MetricKind, MetricRecord, Severity};

    fn metric(plugin: &str, name: &str) -> Record {
        Record::Metric(MetricRecord {
            plugin: plugin.to_string(),
            name: name.to_string(),
            value: 1.0,
            unit: String::new(),
            kind: MetricKind::Gauge,
            tags: Default::default(),
            timestamp_ms: 1,
        })
    }

    /// A hello answer as the aggregator's JSON reads.
    fn answer(json: serde_json::Value) -> HelloAnswer {
        serde_json::from_value(json).expect("a hello answer")
    }

    #[test]
    fn the_hello_answer_decides_what_is_kept() {
        let filter = CollectionFilter::default();
        let mut records = vec![
            metric("system", "swap_usage"),
            metric("system", "cpu_usage"),
        ];
        filter.retain(&mut records);
        assert_eq!(records.len(), 2, "no groups yet: everything is kept");

        filter.set_from_hello(&answer(serde_json::json!({
            "host_id": "a",
            "metrics": {"system": {"include": ["cpu_usage"]}, "game": {"enabled": false}}
        })));
        let event = Record::Event(EventRecord {
            plugin: "game".to_string(),
            kind: "map_down".to_string(),
            severity: Severity::Warning,
            message: String::new(),
            fields: Default::default(),
            timestamp_ms: 1,
        });
        let mut records = vec![
            metric("system", "swap_usage"),
            metric("system", "cpu_usage"),
            metric("game", "player_count"),
            event.clone(),
        ];
        filter.retain(&mut records);
        assert_eq!(records, vec![metric("system", "cpu_usage"), event]);
        assert_eq!(filter.left_out.get(), 2);

        filter.set_from_hello(&answer(serde_json::json!({ "host_id": "a" })));
        let mut records = vec![metric("game", "player_count")];
        filter.retain(&mut records);
        assert_eq!(
            records.len(),
            1,
            "an answer without groups collects everything"
        );
    }

    #[test]
    fn the_last_groups_survive_a_restart() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("metric-groups.json");
        let filter = CollectionFilter::open(file.clone());
        filter.set_from_hello(&answer(
            serde_json::json!({ "metrics": {"game": {"enabled": false}} }),
        ));
        drop(filter);

        let restarted = CollectionFilter::open(file.clone());
        let mut records = vec![
            metric("game", "player_count"),
            metric("system", "cpu_usage"),
        ];
        restarted.retain(&mut records);
        assert_eq!(records, vec![metric("system", "cpu_usage")]);

        std::fs::write(&file, b"{not json").expect("write");
        let mut records = vec![metric("game", "player_count")];
        CollectionFilter::open(file).retain(&mut records);
        assert_eq!(records.len(), 1, "an unreadable file is ignored");
    }
}
