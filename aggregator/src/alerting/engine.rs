//! The alert state machine, evaluated on arrival: every stored point of a
//! series with a rule moves that series' state, and the point that keeps a
//! threshold crossed past its duration fires the alert as it is ingested.
//! Pure: no I/O, no clock (point timestamps are the clock, so a backfilled
//! outage is judged by when things happened, not when they arrived).
//!
//! Per series: `pending` while a threshold is crossed for less than its
//! duration, then `firing` at warning or critical (escalating and
//! de-escalating between them), then `resolved` once the value is back on the
//! safe side of the recovery threshold (the threshold itself when none is
//! set). Events matching an event rule fire at once; more of the same kind
//! from the same host count into the open alert.

use std::collections::{BTreeMap, HashMap};

use p2pmon_common::wire::{EventRecord, MetricRecord, Severity};
use serde::Serialize;

use super::AlertsConfig;
use super::rules::{AlertType, FlapRule, Thresholds};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Warning,
    Critical,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Firing,
    Acknowledged,
    Resolved,
}

/// An alert as the API, the feed and the store see it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alert {
    pub id: i64,
    /// The metric or event kind the rule is about.
    pub rule: String,
    #[serde(rename = "type")]
    pub alert_type: AlertType,
    pub host: String,
    /// The series' tags (metric rules) or the event's fields (event rules).
    pub labels: BTreeMap<String, String>,
    pub severity: Level,
    pub status: Status,
    pub value: f64,
    pub threshold: Option<f64>,
    pub message: String,
    /// Events counted into this alert (1 for metric rules).
    pub count: u64,
    pub started_ms: i64,
    pub updated_ms: i64,
    pub resolved_ms: Option<i64>,
    pub resolution_notes: Option<String>,
    /// Who acknowledged it, as the client said (FluxCP sends its admin's name).
    pub acknowledged_by: Option<String>,
    /// Who resolved it by hand; `None` when it resolved by itself.
    pub resolved_by: Option<String>,
}

/// What happened to an alert, for history and notifications.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Fired,
    Escalated,
    Deescalated,
    Repeated,
    /// Still firing after `notifications.repeat_interval`: said again.
    Reminder,
    Resolved,
    Acknowledged,
    ResolvedByAdmin,
}

impl Alert {
    /// A new firing alert at `at_ms`, counted once, with no labels, value or
    /// threshold (callers set those that apply).
    fn firing(
        id: i64,
        rule: &str,
        alert_type: AlertType,
        host: &str,
        severity: Level,
        message: String,
        at_ms: i64,
    ) -> Self {
        Self {
            id,
            rule: rule.to_string(),
            alert_type,
            host: host.to_string(),
            labels: BTreeMap::new(),
            severity,
            status: Status::Firing,
            value: 0.0,
            threshold: None,
            message,
            count: 1,
            started_ms: at_ms,
            updated_ms: at_ms,
            resolved_ms: None,
            resolution_notes: None,
            acknowledged_by: None,
            resolved_by: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub change: Change,
    pub alert: Alert,
}

#[derive(Default)]
struct SeriesState {
    last_ms: i64,
    warning_since: Option<i64>,
    critical_since: Option<i64>,
    /// The open alert's id.
    open: Option<i64>,
    /// When this series' alerts fired, within the flap window.
    fired: std::collections::VecDeque<i64>,
    /// Flapping and back on the safe side since then.
    safe_since: Option<i64>,
}

/// How a series is known: by its id in the store (the ingest path: no key
/// to build per point), or by name for what is not stored (silent hosts,
/// coordinator gauges).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SeriesKey {
    Stored(i64),
    Named(String),
}

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

pub struct Engine {
    rules: AlertsConfig,
    series: FastMap<SeriesKey, SeriesState>,
    /// Open alerts (firing or acknowledged), by id.
    open: BTreeMap<i64, Alert>,
    /// Event alerts open per (rule, host).
    open_events: HashMap<String, i64>,
    next_id: i64,
}

/// The rule name of silent-host alerts.
pub const NO_DATA: &str = "no_data";
/// A plugin an agent quarantined (or whose calls all fail).
pub const PLUGIN_QUARANTINED: &str = "plugin_quarantined";

/// What peers' probes say about a silent host, and from which probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reach {
    pub reachable: bool,
    /// `service_port` (a port the host's own services keep open, such as
    /// the map-server's) or `echo` (the agent's echo responder).
    pub evidence: &'static str,
}

/// The agent self-metrics behind `plugin_quarantined`, with the `reason`
/// label each gives.
fn plugin_health_reason(metric: &str) -> Option<&'static str> {
    match metric {
        "agent_plugin_quarantined" => Some("crashes"),
        "agent_plugin_failing" => Some("failing"),
        _ => None,
    }
}

fn series_key(rule: &str, host: &str, labels: &BTreeMap<String, String>) -> String {
    let mut key = format!("{rule}\u{1}{host}");
    for (k, v) in labels {
        key.push('\u{1}');
        key.push_str(k);
        key.push('=');
        key.push_str(v);
    }
    key
}

fn crossed(value: f64, threshold: Option<f64>, below: bool) -> bool {
    threshold.is_some_and(|t| if below { value <= t } else { value >= t })
}

impl SeriesState {
    /// Take the point `value` at `ts` into the crossing timers; the level
    /// whose threshold has now been crossed for its whole duration.
    fn held_level(&mut self, value: f64, ts: i64, t: &Thresholds) -> Option<Level> {
        self.warning_since =
            crossed(value, t.warning, t.below).then(|| self.warning_since.unwrap_or(ts));
        self.critical_since =
            crossed(value, t.critical, t.below).then(|| self.critical_since.unwrap_or(ts));
        let held = |since: Option<i64>| since.is_some_and(|s| ts - s >= t.duration_ms);
        if held(self.critical_since) {
            Some(Level::Critical)
        } else if held(self.warning_since) {
            Some(Level::Warning)
        } else {
            None
        }
    }

    /// Whether a resolution at `ts` must wait: the series fired
    /// `flap.max_fires` times within the flap window and has not been on the
    /// safe side for a whole window yet.
    fn flapping(&mut self, ts: i64, flap: &FlapRule) -> bool {
        let window = flap.window as i64 * 1000;
        while self.fired.front().is_some_and(|t| ts - t > window) {
            self.fired.pop_front();
        }
        if self.fired.len() >= flap.max_fires {
            let since = *self.safe_since.get_or_insert(ts);
            if ts - since < window {
                return true;
            }
        }
        self.safe_since = None;
        false
    }
}

/// What a host's silence means, from peers' probes (`reach`): the
/// `cause` label (`agent_down`, `host_offline`, `unknown`) and why.
fn silence_cause(reach: Option<Reach>) -> (&'static str, &'static str) {
    match reach {
        Some(Reach {
            reachable: true,
            evidence: "service_port",
        }) => (
            "agent_down",
            "peers still reach its service port: the agent is down or cannot reach the aggregator",
        ),
        Some(Reach {
            reachable: true, ..
        }) => (
            "agent_down",
            "its agent still answers peers' echo probes: the agent cannot reach the aggregator",
        ),
        Some(Reach {
            reachable: false,
            evidence: "service_port",
        }) => (
            "host_offline",
            "peers reach neither its agent nor its service port: the host is offline",
        ),
        Some(Reach {
            reachable: false, ..
        }) => (
            "host_offline",
            "peers get no echo answers from it (no service port is probed, so a stopped agent looks the same)",
        ),
        None => (
            "unknown",
            "fewer than two peers agree on whether they reach it: no telling whether the host or its agent is down",
        ),
    }
}

/// Hysteresis: an open level holds until the value passes its recovery
/// line (without one, the threshold itself).
fn with_hysteresis(
    current: Option<Level>,
    target: Option<Level>,
    value: f64,
    t: &Thresholds,
) -> Option<Level> {
    if let Some(level) = current
        && target < Some(level)
    {
        let recovery = match level {
            Level::Critical => t.recovery_critical,
            Level::Warning => t.recovery_warning,
        };
        if crossed(value, recovery, t.below) {
            return Some(level);
        }
    }
    target
}

/// Move an open metric alert to level `to`; the change that is.
fn change_level(
    alert: &mut Alert,
    metric: &MetricRecord,
    host: &str,
    to: Level,
    t: &Thresholds,
) -> Change {
    let from = alert.severity;
    alert.severity = to;
    alert.value = metric.value;
    alert.threshold = threshold(t, to);
    alert.message = describe(&metric.name, host, metric.value, to, t);
    alert.updated_ms = metric.timestamp_ms as i64;
    if to > from {
        Change::Escalated
    } else {
        Change::Deescalated
    }
}

impl Engine {
    /// An engine with `rules`, resuming `open` alerts (from the store, each
    /// with its series' id when it has one) and numbering new ones after
    /// `last_id`.
    pub fn new(rules: AlertsConfig, open: Vec<(Alert, Option<i64>)>, last_id: i64) -> Self {
        let mut engine = Self {
            rules,
            series: FastMap::default(),
            open: BTreeMap::new(),
            open_events: HashMap::new(),
            next_id: last_id + 1,
        };
        for (alert, series_id) in open {
            if engine.rules.events.contains_key(&alert.rule)
                && !engine.rules.alerts.contains_key(&alert.rule)
            {
                engine
                    .open_events
                    .insert(format!("{}\u{1}{}", alert.rule, alert.host), alert.id);
            } else {
                // A silent-host alert's labels say why; its key has none.
                let labels = if alert.rule == NO_DATA {
                    BTreeMap::new()
                } else {
                    alert.labels.clone()
                };
                let key = match series_id {
                    Some(id) => SeriesKey::Stored(id),
                    None => SeriesKey::Named(series_key(&alert.rule, &alert.host, &labels)),
                };
                let state = engine.series.entry(key).or_default();
                state.open = Some(alert.id);
                // Its threshold has held long enough already: while the value
                // stays crossed the alert stays as it is, with no second wait.
                let long_ago = Some(i64::MIN / 2);
                state.warning_since = long_ago;
                if alert.severity == Level::Critical {
                    state.critical_since = long_ago;
                }
            }
            engine.open.insert(alert.id, alert);
        }
        engine
    }

    pub fn rules(&self) -> &AlertsConfig {
        &self.rules
    }

    /// New rules (settings changed); series state and open alerts stay.
    pub fn set_rules(&mut self, rules: AlertsConfig) {
        self.rules = rules;
    }

    /// Open alerts, oldest first.
    pub fn open_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.open.values()
    }

    /// Keep `alert` open and say it fired.
    fn open(&mut self, alert: Alert) -> Transition {
        self.open.insert(alert.id, alert.clone());
        Transition {
            change: Change::Fired,
            alert,
        }
    }

    /// Feed one point of a series that is not stored (known by name).
    pub fn observe_metric(&mut self, host: &str, metric: &MetricRecord) -> Option<Transition> {
        self.alerts_on(&metric.name)?;
        let key = SeriesKey::Named(series_key(&metric.name, host, &metric.tags));
        self.observe_keyed(host, metric, key)
    }

    /// Feed one stored point of series `series_id`.
    pub fn observe_stored(
        &mut self,
        host: &str,
        metric: &MetricRecord,
        series_id: i64,
    ) -> Option<Transition> {
        self.observe_keyed(host, metric, SeriesKey::Stored(series_id))
    }

    fn alerts_on(&self, metric: &str) -> Option<&super::rules::MetricRule> {
        self.rules.alerts.get(metric).filter(|r| r.enabled)
    }

    fn observe_keyed(
        &mut self,
        host: &str,
        metric: &MetricRecord,
        key: SeriesKey,
    ) -> Option<Transition> {
        let rule = self.alerts_on(&metric.name)?;
        let t = rule.thresholds(host, metric.tags.get("map").map(String::as_str));
        // The type is worked out from the name only when an alert opens.
        let set_type = rule.alert_type;
        let state = self.series.entry(key).or_default();
        let ts = metric.timestamp_ms as i64;
        if ts < state.last_ms {
            return None; // out of order (a backfill behind newer points)
        }
        state.last_ms = ts;
        let value = metric.value;
        let current = state
            .open
            .and_then(|id| self.open.get(&id))
            .map(|a| a.severity);
        let target = with_hysteresis(current, state.held_level(value, ts, &t), value, &t);
        match (current, target) {
            (None, None) => None,
            (None, Some(level)) => {
                let id = self.next_id;
                self.next_id += 1;
                state.open = Some(id);
                state.fired.push_back(ts);
                let message = describe(&metric.name, host, value, level, &t);
                let alert_type = AlertType::or_guess(set_type, &metric.name);
                Some(self.open(Alert {
                    labels: metric.tags.clone(),
                    value,
                    threshold: threshold(&t, level),
                    ..Alert::firing(id, &metric.name, alert_type, host, level, message, ts)
                }))
            }
            (Some(_), None) => {
                // Flapping: resolve only after a whole window on the safe side.
                if state.flapping(ts, &self.rules.flap) {
                    return None;
                }
                let id = state.open.take()?;
                let mut alert = self.open.remove(&id)?;
                alert.status = Status::Resolved;
                alert.value = value;
                alert.updated_ms = ts;
                alert.resolved_ms = Some(ts);
                Some(Transition {
                    change: Change::Resolved,
                    alert,
                })
            }
            (Some(from), Some(to)) if from != to => {
                let alert = self.open.get_mut(&state.open?)?;
                let change = change_level(alert, metric, host, to, &t);
                Some(Transition {
                    change,
                    alert: alert.clone(),
                })
            }
            (Some(_), Some(_)) => {
                state.safe_since = None;
                // Still firing: keep the latest value, no transition.
                if let Some(alert) = state.open.and_then(|id| self.open.get_mut(&id)) {
                    alert.value = value;
                    alert.updated_ms = ts;
                }
                None
            }
        }
    }

    /// Feed one stored event.
    pub fn observe_event(&mut self, host: &str, event: &EventRecord) -> Option<Transition> {
        let rule = self.rules.events.get(&event.kind).filter(|r| r.enabled)?;
        if event.severity < rule.min_severity {
            return None;
        }
        let level = if event.severity >= Severity::Critical {
            Level::Critical
        } else {
            Level::Warning
        };
        let key = format!("{}\u{1}{host}", event.kind);
        let ts = event.timestamp_ms as i64;
        if let Some(alert) = self
            .open_events
            .get(&key)
            .and_then(|id| self.open.get_mut(id))
        {
            alert.count += 1;
            alert.updated_ms = ts;
            alert.labels = event.fields.clone();
            alert.message = event.message.clone();
            let change = if level > alert.severity {
                alert.severity = level;
                Change::Escalated
            } else {
                Change::Repeated
            };
            return Some(Transition {
                change,
                alert: alert.clone(),
            });
        }
        let id = self.next_id;
        self.next_id += 1;
        self.open_events.insert(key, id);
        Some(self.open(Alert {
            labels: event.fields.clone(),
            value: 1.0,
            ..Alert::firing(
                id,
                &event.kind,
                rule.alert_type,
                host,
                level,
                event.message.clone(),
                ts,
            )
        }))
    }

    /// Judge a host's silence: `no_data` fires once `now - last_seen`
    /// reaches `limit_ms` and resolves when data flows again, its value then
    /// how long the host was silent. `reach` is what peers' latest probes to
    /// the host say, telling an agent that is down from a host that is
    /// offline; the alert's labels name the cause and the evidence.
    pub fn observe_silence(
        &mut self,
        host: &str,
        last_seen_ms: i64,
        now_ms: i64,
        limit_ms: i64,
        reach: Option<Reach>,
    ) -> Option<Transition> {
        if !self.rules.no_data.enabled {
            return None;
        }
        let labels = BTreeMap::new();
        let state = self
            .series
            .entry(SeriesKey::Named(series_key(NO_DATA, host, &labels)))
            .or_default();
        let silent_ms = now_ms - last_seen_ms;
        match (state.open, silent_ms >= limit_ms) {
            (None, true) => {
                let (cause, why) = silence_cause(reach);
                let id = self.next_id;
                self.next_id += 1;
                state.open = Some(id);
                // Remembered for the value at resolution.
                state.last_ms = last_seen_ms;
                let message = format!("no data from {host} for {} s; {why}", silent_ms / 1000);
                let mut labels: BTreeMap<String, String> =
                    [("cause".to_string(), cause.to_string())].into();
                if let Some(reach) = reach {
                    labels.insert("evidence".to_string(), reach.evidence.to_string());
                }
                Some(self.open(Alert {
                    labels,
                    value: (silent_ms / 1000) as f64,
                    threshold: Some((limit_ms / 1000) as f64),
                    ..Alert::firing(
                        id,
                        NO_DATA,
                        AlertType::Network,
                        host,
                        Level::Critical,
                        message,
                        now_ms,
                    )
                }))
            }
            (Some(id), false) => {
                state.open = None;
                let quiet_since = std::mem::take(&mut state.last_ms);
                let mut alert = self.open.remove(&id)?;
                // The last batch before the silence; for an alert resumed
                // after a restart, worked out from when it fired and its value.
                let quiet_since = if quiet_since > 0 {
                    quiet_since
                } else {
                    alert.started_ms - (alert.value * 1000.0) as i64
                };
                let silent_s = (last_seen_ms - quiet_since).max(0) as f64 / 1000.0;
                alert.value = (silent_s * 10.0).round() / 10.0;
                alert.message =
                    format!("data from {host} again after {:.0} s of silence", silent_s);
                alert.status = Status::Resolved;
                alert.updated_ms = now_ms;
                alert.resolved_ms = Some(now_ms);
                Some(Transition {
                    change: Change::Resolved,
                    alert,
                })
            }
            _ => None,
        }
    }

    /// Judge an agent self-metric about a plugin's health
    /// (`agent_plugin_quarantined`, `agent_plugin_failing`, tagged with the
    /// plugin): `plugin_quarantined` fires for the host and plugin when it
    /// turns 1 and resolves when it is back to 0 (the plugin ran again).
    pub fn observe_plugin_health(
        &mut self,
        host: &str,
        metric: &MetricRecord,
    ) -> Option<Transition> {
        if !self.rules.plugin_quarantined.enabled || metric.plugin != "agent" {
            return None;
        }
        let reason = plugin_health_reason(&metric.name)?;
        let plugin = metric.tags.get("plugin")?;
        let labels: BTreeMap<String, String> = [
            ("plugin".to_string(), plugin.clone()),
            ("reason".to_string(), reason.to_string()),
        ]
        .into();
        let key = SeriesKey::Named(series_key(PLUGIN_QUARANTINED, host, &labels));
        let state = self.series.entry(key).or_default();
        let ts = metric.timestamp_ms as i64;
        if ts < state.last_ms {
            return None;
        }
        state.last_ms = ts;
        match (state.open, metric.value >= 1.0) {
            (None, true) => {
                let id = self.next_id;
                self.next_id += 1;
                state.open = Some(id);
                let message = match reason {
                    "crashes" => format!(
                        "plugin {plugin} on {host} is quarantined after repeated crashes; its data is missing until it runs again"
                    ),
                    _ => format!(
                        "plugin {plugin} on {host} fails every call; its data is missing until a call succeeds"
                    ),
                };
                Some(self.open(Alert {
                    labels,
                    value: 1.0,
                    ..Alert::firing(
                        id,
                        PLUGIN_QUARANTINED,
                        AlertType::Performance,
                        host,
                        Level::Warning,
                        message,
                        ts,
                    )
                }))
            }
            (Some(id), false) => {
                state.open = None;
                let mut alert = self.open.remove(&id)?;
                alert.value = 0.0;
                alert.message = format!("plugin {plugin} on {host} runs again");
                alert.status = Status::Resolved;
                alert.updated_ms = ts;
                alert.resolved_ms = Some(ts);
                Some(Transition {
                    change: Change::Resolved,
                    alert,
                })
            }
            _ => None,
        }
    }

    /// A synthetic critical alert (`test-alerts`): it goes wherever a real
    /// one goes, and is resolved like one.
    pub fn fire_test(&mut self, now_ms: i64) -> Transition {
        let id = self.next_id;
        self.next_id += 1;
        let message = "A synthetic alert from p2pmon-aggregator test-alerts.".to_string();
        self.open(Alert::firing(
            id,
            "test_alert",
            AlertType::Performance,
            "p2pmon-aggregator",
            Level::Critical,
            message,
            now_ms,
        ))
    }

    /// An admin acknowledges or resolves an open alert. `None` when `id` is
    /// not open. A resolved metric alert needs its full duration again to
    /// fire anew.
    pub fn update(
        &mut self,
        id: i64,
        status: Status,
        notes: Option<String>,
        author: Option<String>,
        now_ms: i64,
    ) -> Option<Transition> {
        let alert = self.open.get_mut(&id)?;
        alert.updated_ms = now_ms;
        if notes.is_some() {
            alert.resolution_notes = notes;
        }
        match status {
            Status::Firing => None,
            Status::Acknowledged => {
                alert.status = Status::Acknowledged;
                alert.acknowledged_by = author;
                Some(Transition {
                    change: Change::Acknowledged,
                    alert: alert.clone(),
                })
            }
            Status::Resolved => {
                let mut alert = self.open.remove(&id)?;
                alert.status = Status::Resolved;
                alert.resolved_ms = Some(now_ms);
                alert.resolved_by = author;
                self.open_events.retain(|_, open| *open != id);
                for state in self.series.values_mut().filter(|s| s.open == Some(id)) {
                    state.open = None;
                    state.warning_since = None;
                    state.critical_since = None;
                }
                Some(Transition {
                    change: Change::ResolvedByAdmin,
                    alert,
                })
            }
        }
    }
}

fn threshold(t: &Thresholds, level: Level) -> Option<f64> {
    match level {
        Level::Warning => t.warning,
        Level::Critical => t.critical,
    }
}

fn describe(metric: &str, host: &str, value: f64, level: Level, t: &Thresholds) -> String {
    let side = if t.below { "below" } else { "above" };
    let limit = threshold(t, level).map_or(String::new(), |v| format!("{v}"));
    let level = match level {
        Level::Warning => "warning",
        Level::Critical => "critical",
    };
    format!(
        "{metric} on {host} is {value:.2}: {level} ({side} {limit} for {} s)",
        t.duration_ms / 1000
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use p2pmon_common::wire::MetricKind;

    use super::*;

    fn engine(yaml: &str) -> Engine {
        let rules: AlertsConfig =
            p2pmon_common::yaml_config::parse(Path::new("alerts.yml"), yaml).expect("rules");
        Engine::new(rules, Vec::new(), 0)
    }

    fn point(name: &str, value: f64, at_s: i64) -> MetricRecord {
        MetricRecord {
            plugin: "system".to_string(),
            name: name.to_string(),
            value,
            unit: "percent".to_string(),
            kind: MetricKind::Gauge,
            tags: BTreeMap::new(),
            timestamp_ms: (1_000_000 + at_s * 1000) as u64,
        }
    }

    fn feed(engine: &mut Engine, values: &[(i64, f64)]) -> Vec<(Change, Level)> {
        values
            .iter()
            .filter_map(|(at, v)| engine.observe_metric("host-a", &point("cpu_usage", *v, *at)))
            .map(|t| (t.change, t.alert.severity))
            .collect()
    }

    const CPU_RULE: &str = "alerts:\n  cpu_usage: { warning: 80, critical: 90, duration: 300 }\n";

    #[test]
    fn fires_on_the_point_that_completes_the_duration() {
        let mut e = engine(CPU_RULE);
        assert!(feed(&mut e, &[(0, 95.0), (100, 96.0), (299, 97.0)]).is_empty());
        assert_eq!(
            feed(&mut e, &[(300, 95.0)]),
            [(Change::Fired, Level::Critical)]
        );
        let open: Vec<&Alert> = e.open_alerts().collect();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].threshold, Some(90.0));
        assert!(
            open[0]
                .message
                .contains("cpu_usage on host-a is 95.00: critical"),
            "{}",
            open[0].message
        );
    }

    #[test]
    fn a_dip_restarts_the_wait() {
        let mut e = engine(CPU_RULE);
        assert!(feed(&mut e, &[(0, 95.0), (200, 50.0), (250, 95.0), (500, 95.0)]).is_empty());
        assert_eq!(
            feed(&mut e, &[(550, 95.0)]),
            [(Change::Fired, Level::Critical)]
        );
    }

    #[test]
    fn escalates_deescalates_and_resolves() {
        let mut e = engine(CPU_RULE);
        let changes = feed(
            &mut e,
            &[
                (0, 85.0),
                (300, 85.0),
                (310, 95.0),
                (610, 95.0),
                (620, 85.0),
                (630, 10.0),
            ],
        );
        assert_eq!(
            changes,
            [
                (Change::Fired, Level::Warning),
                (Change::Escalated, Level::Critical),
                (Change::Deescalated, Level::Warning),
                (Change::Resolved, Level::Warning),
            ]
        );
        assert_eq!(e.open_alerts().count(), 0);
    }

    #[test]
    fn recovery_thresholds_hold_an_alert_open() {
        let mut e = engine(
            "alerts:\n  cpu_usage: { warning: 80, duration: 0, recovery: { warning: 70 } }\n",
        );
        assert_eq!(
            feed(&mut e, &[(0, 85.0)]),
            [(Change::Fired, Level::Warning)]
        );
        assert!(
            feed(&mut e, &[(10, 75.0), (20, 71.0)]).is_empty(),
            "above the recovery line"
        );
        assert_eq!(
            feed(&mut e, &[(30, 65.0)]),
            [(Change::Resolved, Level::Warning)]
        );
    }

    #[test]
    fn below_rules_and_out_of_order_points() {
        let mut e =
            engine("alerts:\n  cpu_usage: { warning: 10, critical: 2, direction: below }\n");
        assert_eq!(
            feed(&mut e, &[(10, 1.0)]),
            [(Change::Fired, Level::Critical)]
        );
        // A late point from before is ignored, even though it is healthy.
        assert!(feed(&mut e, &[(5, 50.0)]).is_empty());
        assert_eq!(
            feed(&mut e, &[(20, 50.0)]),
            [(Change::Resolved, Level::Critical)]
        );
    }

    #[test]
    fn each_series_has_its_own_state() {
        let mut e = engine("alerts:\n  disk_usage: { warning: 80 }\n");
        let mut root = point("disk_usage", 90.0, 0);
        root.tags.insert("mount".to_string(), "/".to_string());
        let mut data = point("disk_usage", 10.0, 0);
        data.tags.insert("mount".to_string(), "/data".to_string());
        assert!(e.observe_metric("h", &root).is_some());
        assert!(e.observe_metric("h", &data).is_none());
        assert!(e.observe_metric("other-host", &root).is_some());
        assert_eq!(e.open_alerts().count(), 2);
    }

    fn event(kind: &str, severity: Severity) -> EventRecord {
        EventRecord {
            plugin: "anticheat".to_string(),
            kind: kind.to_string(),
            severity,
            message: "a character tried to trade items it does not have".to_string(),
            fields: [("account_id".to_string(), "2000001".to_string())].into(),
            timestamp_ms: 5_000,
        }
    }

    #[test]
    fn events_fire_at_once_and_count_into_the_open_alert() {
        let mut e = engine("events:\n  hack_trade: { min_severity: warning }\n");
        let first = e
            .observe_event("h", &event("hack_trade", Severity::Warning))
            .expect("fires");
        assert_eq!(
            (first.change, first.alert.alert_type),
            (Change::Fired, AlertType::Security)
        );
        let second = e
            .observe_event("h", &event("hack_trade", Severity::Critical))
            .expect("counts");
        assert_eq!(
            (second.change, second.alert.count, second.alert.severity),
            (Change::Escalated, 2, Level::Critical)
        );
        assert!(
            e.observe_event("h", &event("hack_trade", Severity::Info))
                .is_none(),
            "below min_severity"
        );
        assert!(
            e.observe_event("h", &event("ddos_detected", Severity::Critical))
                .is_none(),
            "no rule"
        );
    }

    #[test]
    fn an_admin_resolve_needs_a_full_duration_to_fire_again() {
        let mut e = engine(CPU_RULE);
        feed(&mut e, &[(0, 95.0), (300, 95.0)]);
        let id = e.open_alerts().next().map(|a| a.id).expect("open");
        let ack = e
            .update(
                id,
                Status::Acknowledged,
                None,
                Some("gm_alice".to_string()),
                0,
            )
            .expect("ack");
        assert_eq!(ack.alert.status, Status::Acknowledged);
        assert_eq!(ack.alert.acknowledged_by.as_deref(), Some("gm_alice"));
        let done = e
            .update(
                id,
                Status::Resolved,
                Some("fan replaced".to_string()),
                Some("gm_bob".to_string()),
                0,
            )
            .expect("resolve");
        assert_eq!(done.alert.resolution_notes.as_deref(), Some("fan replaced"));
        assert_eq!(
            (
                done.alert.acknowledged_by.as_deref(),
                done.alert.resolved_by.as_deref()
            ),
            (Some("gm_alice"), Some("gm_bob"))
        );
        assert!(
            e.update(id, Status::Resolved, None, None, 0).is_none(),
            "not open any more"
        );
        assert!(feed(&mut e, &[(310, 95.0), (600, 95.0)]).is_empty());
        assert_eq!(
            feed(&mut e, &[(610, 95.0)]),
            [(Change::Fired, Level::Critical)]
        );
        assert!(e.open_alerts().all(|a| a.id > id), "new alert, new id");
    }

    #[test]
    fn an_oscillating_metric_is_one_alert_not_a_flood() {
        let mut e = engine(
            "alerts:\n  cpu_usage: { warning: 80, duration: 0 }\nflap: { window: 600, max_fires: 3 }\n",
        );
        // Every 10 s across the threshold, for 5 minutes.
        let points: Vec<(i64, f64)> = (0..30)
            .map(|i| (i * 10, if i % 2 == 0 { 85.0 } else { 75.0 }))
            .collect();
        let changes = feed(&mut e, &points);
        let fired = changes.iter().filter(|(c, _)| *c == Change::Fired).count();
        assert_eq!(fired, 3, "{changes:?}");
        assert_eq!(
            e.open_alerts().count(),
            1,
            "the third stays open while it flaps"
        );
        // Calm for a whole window: resolved once.
        let calm: Vec<(i64, f64)> = (0..=61).map(|i| (300 + i * 10, 50.0)).collect();
        assert_eq!(feed(&mut e, &calm), [(Change::Resolved, Level::Warning)]);
    }

    const SERVICE_UP: Option<Reach> = Some(Reach {
        reachable: true,
        evidence: "service_port",
    });
    const ECHO_LOST: Option<Reach> = Some(Reach {
        reachable: false,
        evidence: "echo",
    });
    const SERVICE_DOWN: Option<Reach> = Some(Reach {
        reachable: false,
        evidence: "service_port",
    });

    #[test]
    fn a_silent_host_fires_once_with_its_likely_cause_and_resolves() {
        let mut e = engine("no_data: { intervals: 3 }\n");
        assert!(
            e.observe_silence("h", 0, 29_000, 30_000, SERVICE_UP)
                .is_none()
        );
        let fired = e
            .observe_silence("h", 0, 30_000, 30_000, SERVICE_UP)
            .expect("fires");
        assert_eq!(fired.alert.labels["cause"], "agent_down");
        assert_eq!(fired.alert.labels["evidence"], "service_port");
        assert_eq!(fired.alert.value, 30.0);
        assert!(
            fired.alert.message.contains("no data from h for 30 s"),
            "{}",
            fired.alert.message
        );
        assert!(
            e.observe_silence("h", 0, 40_000, 30_000, ECHO_LOST)
                .is_none(),
            "once"
        );
        // Data again at 68.5 s: the resolved alert says how long it was
        // silent, not the threshold it crossed.
        let back = e
            .observe_silence("h", 68_500, 69_000, 30_000, None)
            .expect("resolves");
        assert_eq!(back.change, Change::Resolved);
        assert_eq!(back.alert.value, 68.5);
        assert!(
            back.alert.message.contains("after 68 s"),
            "{}",
            back.alert.message
        );
        let offline = e
            .observe_silence("g", 0, 60_000, 30_000, SERVICE_DOWN)
            .expect("fires");
        assert_eq!(offline.alert.labels["cause"], "host_offline");
        assert_eq!(offline.alert.labels["evidence"], "service_port");
        let echo_only = e
            .observe_silence("k", 0, 60_000, 30_000, ECHO_LOST)
            .expect("fires");
        assert_eq!(echo_only.alert.labels["cause"], "host_offline");
        assert_eq!(echo_only.alert.labels["evidence"], "echo");
        let unknown = e
            .observe_silence("u", 0, 60_000, 30_000, None)
            .expect("fires");
        assert_eq!(unknown.alert.labels["cause"], "unknown");
        assert!(!unknown.alert.labels.contains_key("evidence"));
        let mut off = engine("no_data: { enabled: false }\n");
        assert!(off.observe_silence("h", 0, 60_000, 30_000, None).is_none());
    }

    fn health(name: &str, plugin: &str, value: f64, ts: u64) -> MetricRecord {
        MetricRecord {
            plugin: "agent".to_string(),
            name: name.to_string(),
            value,
            unit: "count".to_string(),
            kind: p2pmon_common::wire::MetricKind::Gauge,
            tags: [("plugin".to_string(), plugin.to_string())].into(),
            timestamp_ms: ts,
        }
    }

    #[test]
    fn a_quarantined_plugin_fires_per_host_and_plugin_and_resolves_when_it_runs() {
        let mut e = engine("");
        assert!(
            e.observe_plugin_health("h", &health("agent_plugin_quarantined", "network", 0.0, 1))
                .is_none()
        );
        let fired = e
            .observe_plugin_health("h", &health("agent_plugin_quarantined", "network", 1.0, 2))
            .expect("fires");
        assert_eq!(fired.change, Change::Fired);
        assert_eq!(fired.alert.rule, PLUGIN_QUARANTINED);
        assert_eq!(fired.alert.labels["plugin"], "network");
        assert_eq!(fired.alert.labels["reason"], "crashes");
        assert!(
            fired.alert.message.contains("network on h"),
            "{}",
            fired.alert.message
        );
        // Still quarantined: no second alert; another plugin is its own.
        assert!(
            e.observe_plugin_health("h", &health("agent_plugin_quarantined", "network", 1.0, 3))
                .is_none()
        );
        assert!(
            e.observe_plugin_health("h", &health("agent_plugin_failing", "game", 1.0, 3))
                .is_some()
        );
        // A plugin's own metric of that name is not the agent's.
        let mut forged = health("agent_plugin_quarantined", "system", 1.0, 3);
        forged.plugin = "system".to_string();
        assert!(e.observe_plugin_health("h", &forged).is_none());
        // Out of order: ignored.
        assert!(
            e.observe_plugin_health("h", &health("agent_plugin_quarantined", "network", 0.0, 1))
                .is_none()
        );
        let back = e
            .observe_plugin_health("h", &health("agent_plugin_quarantined", "network", 0.0, 4))
            .expect("resolves");
        assert_eq!(
            (back.change, back.alert.id),
            (Change::Resolved, fired.alert.id)
        );
        let mut off = engine("plugin_quarantined: { enabled: false }\n");
        assert!(
            off.observe_plugin_health("h", &health("agent_plugin_quarantined", "network", 1.0, 2))
                .is_none()
        );
    }

    #[test]
    fn open_alerts_resume_after_a_restart() {
        let mut first = engine(CPU_RULE);
        feed(&mut first, &[(0, 95.0), (300, 95.0)]);
        let open: Vec<(Alert, Option<i64>)> =
            first.open_alerts().cloned().map(|a| (a, None)).collect();
        let rules = first.rules().clone();
        let mut second = Engine::new(rules, open, 1);
        // Still high: no second alert; back to normal: the same alert resolves.
        assert!(feed(&mut second, &[(310, 95.0)]).is_empty());
        let resolved = second
            .observe_metric("host-a", &point("cpu_usage", 10.0, 320))
            .expect("resolves");
        assert_eq!((resolved.change, resolved.alert.id), (Change::Resolved, 1));
    }

    #[test]
    fn stored_series_resume_by_their_id() {
        let mut first = engine(CPU_RULE);
        for at in [0, 300] {
            first.observe_stored("host-a", &point("cpu_usage", 95.0, at), 7);
        }
        // Another host's series of the same metric is its own.
        assert!(
            first
                .observe_stored("host-b", &point("cpu_usage", 10.0, 301), 8)
                .is_none()
        );
        let open: Vec<(Alert, Option<i64>)> =
            first.open_alerts().cloned().map(|a| (a, Some(7))).collect();
        assert_eq!(open.len(), 1);
        let mut second = Engine::new(first.rules().clone(), open, 1);
        assert!(
            second
                .observe_stored("host-a", &point("cpu_usage", 96.0, 310), 7)
                .is_none(),
            "still the same open alert"
        );
        let resolved = second
            .observe_stored("host-a", &point("cpu_usage", 10.0, 320), 7)
            .expect("resolves");
        assert_eq!((resolved.change, resolved.alert.id), (Change::Resolved, 1));
    }
}
