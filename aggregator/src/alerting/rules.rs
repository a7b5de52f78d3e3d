//! conf/p2p/alerts.yml: rules in the original monitoring design document's
//! format (`alerts.<metric>` with `warning`, `critical` and `duration` in
//! seconds), read exactly as it writes them, extended compatibly. Every extension is optional:
//!
//! ```yaml
//! alerts:
//!   cpu_usage:
//!     warning: 80
//!     critical: 90
//!     duration: 300
//!     recovery: { warning: 70, critical: 85 }   # hysteresis: clear below these
//!     direction: above                           # or below (e.g. player_count)
//!     type: performance                          # performance, security, network, game
//!     hosts: { vps-1: { critical: 95 } }         # per-host overrides
//!     maps: { prontera: { warning: 60 } }        # per-map overrides (tag `map`)
//! events:                                        # rules on events from plugins
//!   hack_trade: { min_severity: warning, type: security }
//! no_data: { enabled: true, intervals: 6 }          # a host silent for 6 intervals
//! plugin_quarantined: { enabled: true }             # an agent quarantined a plugin
//! flap: { window: 600, max_fires: 3 }               # flap damping
//! notifications: ...                             # the channels (read by notify)
//! actions: ...                                   # automatic actions (read by actions)
//! ```

use std::collections::BTreeMap;

use p2pmon_common::wire::Severity;
use p2pmon_common::yaml_config::Findings;
use serde::{Deserialize, Serialize};

/// The four alert types of the monitoring design document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertType {
    Performance,
    Security,
    Network,
    Game,
}

impl AlertType {
    /// `set` when the rule names a type, else a guess from the metric.
    pub fn or_guess(set: Option<AlertType>, metric: &str) -> Self {
        set.unwrap_or_else(|| Self::guess(metric))
    }

    /// The type a rule gets when it names none, from its metric's name.
    pub fn guess(metric: &str) -> Self {
        const NETWORK: [&str; 6] = [
            "network",
            "latency",
            "packet_loss",
            "jitter",
            "connection",
            "bandwidth",
        ];
        const GAME: [&str; 5] = ["player", "map_", "mob_", "item_", "zeny"];
        if NETWORK.iter().any(|n| metric.contains(n)) {
            AlertType::Network
        } else if GAME
            .iter()
            .any(|g| metric.starts_with(g) || metric.contains(g))
        {
            AlertType::Game
        } else if metric.contains("security")
            || metric.contains("suspicion")
            || metric.contains("login")
        {
            AlertType::Security
        } else {
            AlertType::Performance
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Above,
    Below,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Levels {
    #[serde(default)]
    pub warning: Option<f64>,
    #[serde(default)]
    pub critical: Option<f64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    #[serde(default)]
    pub warning: Option<f64>,
    #[serde(default)]
    pub critical: Option<f64>,
    #[serde(default)]
    pub duration: Option<u64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricRule {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub warning: Option<f64>,
    #[serde(default)]
    pub critical: Option<f64>,
    /// Seconds a threshold must stay crossed before the alert fires.
    #[serde(default)]
    pub duration: u64,
    #[serde(default)]
    pub recovery: Levels,
    #[serde(default)]
    pub direction: Direction,
    #[serde(default, rename = "type")]
    pub alert_type: Option<AlertType>,
    #[serde(default)]
    pub hosts: BTreeMap<String, Override>,
    #[serde(default)]
    pub maps: BTreeMap<String, Override>,
}

fn yes() -> bool {
    true
}

/// A series whose alert fired `max_fires` times within `window` seconds is
/// flapping: its alert then stays open until the value has stayed on the
/// safe side for a whole window, so an oscillation is one alert, not a flood.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlapRule {
    #[serde(default = "flap_window")]
    pub window: u64,
    #[serde(default = "flap_fires")]
    pub max_fires: usize,
}

fn flap_window() -> u64 {
    600
}
fn flap_fires() -> usize {
    3
}

impl Default for FlapRule {
    fn default() -> Self {
        Self {
            window: flap_window(),
            max_fires: flap_fires(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoDataRule {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Collection intervals (metrics.yml `collection.interval`) without a
    /// batch before the alert fires.
    #[serde(default = "six")]
    pub intervals: u32,
}

fn six() -> u32 {
    6
}

/// `plugin_quarantined`: fired from the agents' `agent_plugin_quarantined`
/// and `agent_plugin_failing` self-metrics, per host and plugin.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginQuarantinedRule {
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl Default for PluginQuarantinedRule {
    fn default() -> Self {
        Self { enabled: true }
    }
}

impl Default for NoDataRule {
    fn default() -> Self {
        Self {
            enabled: true,
            intervals: six(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRule {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Events below this severity are ignored.
    #[serde(default = "warning")]
    pub min_severity: Severity,
    #[serde(default = "security", rename = "type")]
    pub alert_type: AlertType,
}

fn warning() -> Severity {
    Severity::Warning
}
fn security() -> AlertType {
    AlertType::Security
}

/// The thresholds that apply to one series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    pub warning: Option<f64>,
    pub critical: Option<f64>,
    pub recovery_warning: Option<f64>,
    pub recovery_critical: Option<f64>,
    pub duration_ms: i64,
    pub below: bool,
}

impl MetricRule {
    /// Thresholds for `host` and the series' `map` tag: a map override wins
    /// over a host override, which wins over the rule.
    pub fn thresholds(&self, host: &str, map: Option<&str>) -> Thresholds {
        let mut t = Thresholds {
            warning: self.warning,
            critical: self.critical,
            recovery_warning: self.recovery.warning,
            recovery_critical: self.recovery.critical,
            duration_ms: self.duration as i64 * 1000,
            below: self.direction == Direction::Below,
        };
        let overrides = [self.hosts.get(host), map.and_then(|m| self.maps.get(m))];
        for o in overrides.into_iter().flatten() {
            t.warning = o.warning.or(t.warning);
            t.critical = o.critical.or(t.critical);
            if let Some(seconds) = o.duration {
                t.duration_ms = seconds as i64 * 1000;
            }
        }
        t
    }

    pub fn alert_type(&self, metric: &str) -> AlertType {
        AlertType::or_guess(self.alert_type, metric)
    }
}

/// The metric rules' and event rules' problems, with their paths
/// (`alerts.<metric>`, `events.<kind>`).
pub fn validate_rules(
    alerts: &BTreeMap<String, MetricRule>,
    events: &BTreeMap<String, EventRule>,
    findings: &mut Findings,
) {
    for (metric, rule) in alerts {
        let at = format!("alerts.{metric}");
        if !p2pmon_common::rules::is_name(metric, p2pmon_common::rules::MAX_NAME) {
            findings.error(
                &at,
                format!("{metric:?} is not a metric name ([a-z][a-z0-9_.]*)"),
            );
        }
        if rule.warning.is_none() && rule.critical.is_none() {
            findings.error(&at, "needs warning, critical or both");
        }
        findings.in_range(format!("{at}.duration"), rule.duration, 0..=86_400 * 7);
        let below = rule.direction == Direction::Below;
        // Warning comes before critical on the way to trouble.
        if let (Some(w), Some(c)) = (rule.warning, rule.critical)
            && ((!below && w > c) || (below && w < c))
        {
            findings.error(
                &at,
                format!(
                    "warning {w} is past critical {c} for direction {}",
                    if below { "below" } else { "above" }
                ),
            );
        }
        for (level, threshold, recovery) in [
            ("warning", rule.warning, rule.recovery.warning),
            ("critical", rule.critical, rule.recovery.critical),
        ] {
            if let Some(r) = recovery {
                match threshold {
                    None => findings.error(
                        format!("{at}.recovery.{level}"),
                        format!("there is no {level} threshold to recover from"),
                    ),
                    Some(t) if (!below && r > t) || (below && r < t) => findings.error(
                        format!("{at}.recovery.{level}"),
                        format!("{r} must be on the safe side of the {level} threshold {t}"),
                    ),
                    Some(_) => {}
                }
            }
        }
        for value in [
            rule.warning,
            rule.critical,
            rule.recovery.warning,
            rule.recovery.critical,
        ]
        .into_iter()
        .flatten()
        {
            if !value.is_finite() {
                findings.error(&at, "thresholds must be finite numbers");
            }
        }
    }
    for kind in events.keys() {
        if !p2pmon_common::rules::is_name(kind, p2pmon_common::rules::MAX_NAME) {
            findings.error(
                format!("events.{kind}"),
                format!("{kind:?} is not an event kind"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use p2pmon_common::yaml_config::{self, ConfigErrors};

    use super::*;
    use crate::alerting::AlertsConfig;

    fn parse(text: &str) -> Result<AlertsConfig, ConfigErrors> {
        yaml_config::parse(Path::new("alerts.yml"), text)
    }

    #[test]
    fn the_shipped_file_reads_as_written() {
        let config =
            parse(include_str!("../../../conf/p2p/alerts.yml")).expect("the shipped alerts.yml");
        let cpu = &config.alerts["cpu_usage"];
        assert_eq!(
            (cpu.warning, cpu.critical, cpu.duration),
            (Some(80.0), Some(90.0), 300)
        );
        assert_eq!(
            config.alerts["network_latency"].alert_type("network_latency"),
            AlertType::Network
        );
        assert_eq!(cpu.alert_type("cpu_usage"), AlertType::Performance);
    }

    #[test]
    fn overrides_apply_map_over_host_over_rule() {
        let config = parse(
            "alerts:\n  player_count:\n    warning: 10\n    critical: 2\n    direction: below\n    duration: 60\n    hosts: { vps-1: { critical: 5 } }\n    maps: { prontera: { warning: 50, duration: 0 } }\n",
        )
        .expect("valid");
        let rule = &config.alerts["player_count"];
        let t = rule.thresholds("vps-1", Some("prontera"));
        assert_eq!(
            (t.warning, t.critical, t.duration_ms, t.below),
            (Some(50.0), Some(5.0), 0, true)
        );
        assert_eq!(rule.thresholds("other", None).critical, Some(2.0));
    }

    #[test]
    fn bad_rules_are_all_reported() {
        let errors = parse(
            "alerts:\n  cpu_usage: { warning: 95, critical: 90 }\n  memory_usage: { duration: 5 }\n  disk_usage: { warning: 80, recovery: { warning: 85 } }\n  net: { warning: 1, colour: red }\n",
        )
        .expect_err("invalid");
        let text = errors.to_string();
        assert!(
            text.contains("alerts.cpu_usage: warning 95 is past critical 90"),
            "{text}"
        );
        assert!(
            text.contains("alerts.memory_usage: needs warning, critical or both"),
            "{text}"
        );
        assert!(
            text.contains("alerts.disk_usage.recovery.warning"),
            "{text}"
        );
        assert!(text.contains("colour"), "{text}");
    }
}
