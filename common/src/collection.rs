//! metrics.yml's groups, as both sides apply them: the aggregator sends them
//! to every agent in its hello answer, the agent leaves out what they do not
//! allow before spooling, and the aggregator refuses it again at ingest (for
//! agents that connected before a change, or older ones).
//!
//! A metric listed in a group's `include` is collected when that group is
//! enabled. A metric listed nowhere is decided by the group that claims its
//! plugin (`plugins`, by default the group's own name): collected only when
//! that group is enabled and has no `include` list. Metrics of a plugin that
//! no group claims (custom plugins, the agent's self-metrics) are collected.
//! Events are not metrics and are never filtered here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One group of metrics.yml `metrics:`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricGroup {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Plugins whose unlisted metrics this group decides; empty means the
    /// plugin named like the group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<String>,
    /// The metrics of the group; empty means every metric of its plugins.
    #[serde(default)]
    pub include: Vec<String>,
}

fn default_true() -> bool {
    true
}

impl Default for MetricGroup {
    fn default() -> Self {
        Self {
            enabled: true,
            plugins: Vec::new(),
            include: Vec::new(),
        }
    }
}

impl MetricGroup {
    fn claims(&self, own_name: &str, plugin: &str) -> bool {
        if self.plugins.is_empty() {
            own_name == plugin
        } else {
            self.plugins.iter().any(|p| p == plugin)
        }
    }
}

/// The groups by name, as metrics.yml `metrics:` and the hello answer carry
/// them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MetricGroups {
    pub groups: BTreeMap<String, MetricGroup>,
}

impl MetricGroups {
    /// Whether `metric` from `plugin` is collected and stored.
    pub fn allows(&self, plugin: &str, metric: &str) -> bool {
        if let Some(group) = self.group_listing(metric) {
            return group.enabled;
        }
        match self.groups.iter().find(|(name, g)| g.claims(name, plugin)) {
            Some((_, group)) => group.enabled && group.include.is_empty(),
            None => true,
        }
    }

    /// The name of the group whose `include` lists `metric`.
    pub fn group_of(&self, metric: &str) -> Option<&str> {
        self.groups
            .iter()
            .find(|(_, g)| g.include.iter().any(|m| m == metric))
            .map(|(name, _)| name.as_str())
    }

    /// Whether `metric` from `plugin` belongs to another plugin: its group's
    /// `include` lists it, that group claims other plugins, and one of them
    /// runs on the host (`running`). A host running none of them leaves the
    /// name to whoever stores it first.
    pub fn assigned_elsewhere(
        &self,
        plugin: &str,
        metric: &str,
        running: impl Fn(&str) -> bool,
    ) -> bool {
        let Some(name) = self.group_of(metric) else {
            return false;
        };
        let group = &self.groups[name];
        if group.claims(name, plugin) {
            return false;
        }
        if group.plugins.is_empty() {
            running(name)
        } else {
            group.plugins.iter().any(|p| running(p))
        }
    }

    fn group_listing(&self, metric: &str) -> Option<&MetricGroup> {
        self.group_of(metric).map(|name| &self.groups[name])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collection(yaml: &str) -> MetricGroups {
        serde_yaml::from_str(yaml).expect("test groups parse")
    }

    #[test]
    fn listed_metrics_follow_their_group_and_unlisted_ones_their_plugins_group() {
        let c = collection(
            "system: {include: [cpu_usage, memory_usage]}\n\
             game: {enabled: false, include: [player_count]}\n\
             security: {plugins: [anticheat], include: [failed_logins]}\n\
             network: {}\n",
        );
        assert!(c.allows("system", "cpu_usage"));
        assert!(!c.allows("system", "swap_usage"), "not in system's include");
        assert!(!c.allows("game", "player_count"), "group disabled");
        assert!(
            !c.allows("game", "mob_count"),
            "unlisted, plugin's group disabled"
        );
        assert!(c.allows("anticheat", "failed_logins"));
        assert!(!c.allows("anticheat", "suspicion_score"));
        assert!(
            c.allows("network", "anything"),
            "no include: all of the plugin"
        );
        assert!(c.allows("custom", "queue_depth"), "no group claims custom");
        let system_runs = |p: &str| p == "system";
        assert!(c.assigned_elsewhere("evil", "cpu_usage", system_runs));
        assert!(!c.assigned_elsewhere("system", "cpu_usage", system_runs));
        assert!(
            !c.assigned_elsewhere("evil", "cpu_usage", |_| false),
            "its owner does not run here"
        );
        assert!(
            c.assigned_elsewhere("evil", "failed_logins", |p| p == "anticheat"),
            "a group's plugins list names the owners"
        );
        assert!(!c.assigned_elsewhere("evil", "queue_depth", system_runs));
        assert!(c.allows("agent", "agent_records_sent"));
        // A listed metric is decided by its group, whichever plugin sends it.
        assert!(c.allows("custom", "cpu_usage"));
        assert!(!c.allows("custom", "player_count"));
        assert_eq!(c.group_of("failed_logins"), Some("security"));
    }

    #[test]
    fn no_groups_allows_everything() {
        assert!(MetricGroups::default().allows("system", "cpu_usage"));
    }
}
