//! Automatic actions: when an alert fires, ask the coordinator to act on the
//! host. Three actions, each an HTTP call to the coordinator (base URL and
//! token under `coordinator:` in aggregator.yml):
//!
//! - `failover`: move the host's maps to a backup or VPS (default trigger:
//!   the host went silent, `no_data`);
//! - `load_balance`: stop assigning maps to an overloaded host (default
//!   trigger: critical `cpu_usage` or `memory_usage`);
//! - `quarantine`: take a host with critical security alerts (anti-cheat
//!   events) out of the pool.
//!
//! Guards, all in alerts.yml under `actions:`:
//!
//! ```yaml
//! actions:
//!   dry_run: true              # default: decide, audit, call nothing
//!   max_hosts: 3               # distinct hosts acted on per window, all actions together
//!   window: 3600               # seconds
//!   quarantine:
//!     enabled: true
//!     types: [security]        # alert types that trigger it
//!     rules: []                # and/or rule names (metric names, event kinds, no_data)
//!     min_severity: critical
//!     rate_limit: { max: 5, per: 600 }
//!     method: DELETE          # the reference coordinator's route: the host leaves the pool
//!     path: /api/v1/hosts/{host}
//! ```
//!
//! The reference coordinator has only the quarantine route
//! (`DELETE /api/v1/hosts/{host_id}`: 204, the host and its sessions go).
//! It has no failover or drain route, so an enabled `failover` or
//! `load_balance` without a `path` of its own (or with the default one) is reported as unsupported when
//! the aggregator starts and by `check-health`, and its decisions are
//! audited as `unsupported` instead of calling a route that is not there.
//! The host id in the path is the coordinator's own (as its registry
//! lists it), not the agent id it was matched to.
//!
//! Each alert triggers each action at most once. A silenced alert triggers
//! nothing. Every decision (done, failed, dry run, rate limited, host cap)
//! is kept in the audit log (`GET /api/v1/actions`) and sent to WebSocket
//! clients as a `status` message with kind `action`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use p2pmon_common::yaml_config::Findings;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::engine::{Alert, Change, Level, Transition};
use super::retry::{On429, Policy, http_attempt, with_retries};
use super::rules::AlertType;
use crate::coordinator::Coordinator;
use crate::fanout::Hub;
use crate::feed::{Dynamic, FeedMessage, Status};
use crate::store::{Store, StoreError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Failover,
    LoadBalance,
    Quarantine,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Failover, Kind::LoadBalance, Kind::Quarantine];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Failover => "failover",
            Kind::LoadBalance => "load_balance",
            Kind::Quarantine => "quarantine",
        }
    }

    fn default_rules(self) -> Vec<String> {
        let names: &[&str] = match self {
            Kind::Failover => &[super::engine::NO_DATA],
            Kind::LoadBalance => &["cpu_usage", "memory_usage"],
            Kind::Quarantine => &[],
        };
        names.iter().map(|n| n.to_string()).collect()
    }

    /// Whether the reference coordinator has this action's default route.
    pub fn reference_supports(self) -> bool {
        matches!(self, Kind::Quarantine)
    }

    fn default_types(self) -> Vec<AlertType> {
        match self {
            Kind::Quarantine => vec![AlertType::Security],
            _ => Vec::new(),
        }
    }

    /// The reference coordinator has `DELETE /api/v1/hosts/{host_id}`
    /// (the host leaves the pool): quarantine uses it. It has no failover or
    /// drain route; those defaults are for a coordinator that adds them.
    fn default_call(self) -> (&'static str, &'static str) {
        match self {
            Kind::Failover => ("POST", "/api/v1/hosts/{host}/failover"),
            Kind::LoadBalance => ("POST", "/api/v1/hosts/{host}/drain"),
            Kind::Quarantine => ("DELETE", "/api/v1/hosts/{host}"),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsConfig {
    /// Decide and audit, but call nothing.
    #[serde(default = "yes")]
    pub dry_run: bool,
    /// Distinct hosts acted on within `window`, all actions together.
    #[serde(default = "default_max_hosts")]
    pub max_hosts: usize,
    /// Seconds.
    #[serde(default = "default_window")]
    pub window: u64,
    #[serde(default)]
    pub failover: ActionRule,
    #[serde(default)]
    pub load_balance: ActionRule,
    #[serde(default)]
    pub quarantine: ActionRule,
}

impl Default for ActionsConfig {
    fn default() -> Self {
        Self {
            dry_run: true,
            max_hosts: default_max_hosts(),
            window: default_window(),
            failover: ActionRule::default(),
            load_balance: ActionRule::default(),
            quarantine: ActionRule::default(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_max_hosts() -> usize {
    3
}
fn default_window() -> u64 {
    3600
}

/// When one action runs and what it calls. Unset lists and path take the
/// action's defaults (see the module docs).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRule {
    #[serde(default)]
    pub enabled: bool,
    /// Rule names (metric names, event kinds, `no_data`) that trigger it.
    #[serde(default)]
    pub rules: Option<Vec<String>>,
    /// Alert types that trigger it.
    #[serde(default)]
    pub types: Option<Vec<AlertType>>,
    #[serde(default = "critical")]
    pub min_severity: Level,
    #[serde(default)]
    pub rate_limit: RateLimit,
    #[serde(default)]
    pub method: Option<String>,
    /// Path under the coordinator's URL; `{host}` is the host id.
    #[serde(default)]
    pub path: Option<String>,
}

impl Default for ActionRule {
    fn default() -> Self {
        Self {
            enabled: false,
            rules: None,
            types: None,
            min_severity: Level::Critical,
            rate_limit: RateLimit::default(),
            method: None,
            path: None,
        }
    }
}

fn critical() -> Level {
    Level::Critical
}

/// At most `max` calls of one action per `per` seconds.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub max: usize,
    pub per: u64,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self { max: 5, per: 600 }
    }
}

impl ActionsConfig {
    fn rule(&self, kind: Kind) -> &ActionRule {
        match kind {
            Kind::Failover => &self.failover,
            Kind::LoadBalance => &self.load_balance,
            Kind::Quarantine => &self.quarantine,
        }
    }

    pub fn any_enabled(&self) -> bool {
        Kind::ALL.iter().any(|k| self.rule(*k).enabled)
    }

    /// Enabled actions with no route at the reference coordinator (their
    /// default path, no `path` of their own), with why.
    pub fn unsupported(&self) -> Vec<(Kind, String)> {
        Kind::ALL
            .into_iter()
            .filter(|kind| {
                let rule = self.rule(*kind);
                let (_, default_path) = kind.default_call();
                rule.enabled
                    && !kind.reference_supports()
                    && rule.path.as_deref().is_none_or(|p| p == default_path)
            })
            .map(|kind| {
                let (method, path) = kind.default_call();
                (
                    kind,
                    format!(
                        "{}: the reference coordinator has no {method} {path}; set actions.{}.path to your coordinator's route",
                        kind.name(),
                        kind.name()
                    ),
                )
            })
            .collect()
    }

    pub fn validate(&self, findings: &mut Findings) {
        findings.in_range("actions.max_hosts", self.max_hosts, 1..=100_000);
        findings.in_range("actions.window", self.window, 1..=7 * 86_400);
        for kind in Kind::ALL {
            let rule = self.rule(kind);
            let at = format!("actions.{}", kind.name());
            findings.in_range(
                format!("{at}.rate_limit.max"),
                rule.rate_limit.max,
                1..=10_000,
            );
            findings.in_range(
                format!("{at}.rate_limit.per"),
                rule.rate_limit.per,
                1..=7 * 86_400,
            );
            if let Some(method) = &rule.method
                && !matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
            {
                findings.error(
                    format!("{at}.method"),
                    format!("{method:?} is not one of POST, PUT, PATCH, DELETE"),
                );
            }
            if let Some(path) = &rule.path
                && (!path.starts_with('/') || !path.contains("{host}"))
            {
                findings.error(format!("{at}.path"), "must start with / and contain {host}");
            }
        }
    }
}

/// What became of one decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The coordinator accepted the call.
    Done,
    /// The call was refused or never got through.
    Failed,
    /// Dry run: the call that would have been made.
    DryRun,
    /// The action's rate limit was reached.
    RateLimited,
    /// The cap on hosts acted on per window was reached.
    HostCap,
    /// The coordinator has no route for it (see the module docs).
    Unsupported,
}

/// One audit log entry.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub id: i64,
    pub timestamp_ms: i64,
    pub action: Kind,
    pub host: String,
    pub alert_id: i64,
    pub rule: String,
    pub dry_run: bool,
    pub outcome: Outcome,
    pub detail: String,
}

struct Request {
    kind: Kind,
    alert: Alert,
}

/// Why the actions cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ActionsError {
    #[error("actions are enabled without dry_run but aggregator.yml sets no coordinator.url")]
    NoCoordinator,
}

/// Takes alert transitions and runs the actions they trigger, in order, in
/// one task (so guards see every decision before the next).
pub struct Actions {
    config: ActionsConfig,
    queue: Option<mpsc::UnboundedSender<Request>>,
}

impl Actions {
    /// Start the action task. With no action enabled, nothing runs.
    pub fn start(
        config: ActionsConfig,
        coordinator: Option<Coordinator>,
        store: Arc<Store>,
        hub: Arc<Hub>,
    ) -> Result<Self, ActionsError> {
        if !config.any_enabled() {
            return Ok(Self {
                config,
                queue: None,
            });
        }
        for (_, why) in config.unsupported() {
            tracing::warn!("Automatic action unsupported, it will not be called: {why}");
        }
        if coordinator.is_none() && !config.dry_run {
            return Err(ActionsError::NoCoordinator);
        }
        let (queue, receiver) = mpsc::unbounded_channel();
        let runner = Runner {
            config: config.clone(),
            coordinator,
            store,
            hub,
            acted: HashMap::new(),
            calls: HashMap::new(),
            hosts: HashMap::new(),
        };
        tokio::spawn(runner.run(receiver));
        Ok(Self {
            config,
            queue: Some(queue),
        })
    }

    /// Queue the actions `transition` triggers (not for silenced alerts).
    pub fn consider(&self, transition: &Transition) {
        let Some(queue) = &self.queue else {
            return;
        };
        if !matches!(transition.change, Change::Fired | Change::Escalated) {
            return;
        }
        let alert = &transition.alert;
        for kind in Kind::ALL {
            let rule = self.config.rule(kind);
            if !rule.enabled || alert.severity < rule.min_severity {
                continue;
            }
            let by_rule = rule
                .rules
                .clone()
                .unwrap_or_else(|| kind.default_rules())
                .contains(&alert.rule);
            let by_type = rule
                .types
                .clone()
                .unwrap_or_else(|| kind.default_types())
                .contains(&alert.alert_type);
            if by_rule || by_type {
                let _ = queue.send(Request {
                    kind,
                    alert: alert.clone(),
                });
            }
        }
    }
}

/// How long an alert's decision is remembered (an escalation later than
/// this may act again, within the guards).
const ACTED_KEPT_MS: i64 = 24 * 3600 * 1000;

struct Runner {
    config: ActionsConfig,
    coordinator: Option<Coordinator>,
    store: Arc<Store>,
    hub: Arc<Hub>,
    /// (action, alert id) already decided, and when; kept a day.
    acted: HashMap<(Kind, i64), i64>,
    /// Recent calls per action (wall clock, ms).
    calls: HashMap<Kind, VecDeque<i64>>,
    /// Hosts acted on within the window, and when last.
    hosts: HashMap<String, i64>,
}

impl Runner {
    async fn run(mut self, mut queue: mpsc::UnboundedReceiver<Request>) {
        while let Some(request) = queue.recv().await {
            let now = crate::clock::now_ms();
            self.acted.retain(|_, at| now - *at < ACTED_KEPT_MS);
            if self
                .acted
                .insert((request.kind, request.alert.id), now)
                .is_some()
            {
                continue;
            }
            let (outcome, detail) = self.decide(&request).await;
            self.audit(&request, outcome, detail).await;
        }
    }

    async fn decide(&mut self, request: &Request) -> (Outcome, String) {
        let now = crate::clock::now_ms();
        let rule = self.config.rule(request.kind).clone();
        if let Some((_, why)) = self
            .config
            .unsupported()
            .into_iter()
            .find(|(kind, _)| *kind == request.kind)
        {
            return (Outcome::Unsupported, why);
        }
        let host = &request.alert.host;
        let per_ms = rule.rate_limit.per as i64 * 1000;
        let calls = self.calls.entry(request.kind).or_default();
        while calls.front().is_some_and(|t| now - t >= per_ms) {
            calls.pop_front();
        }
        if calls.len() >= rule.rate_limit.max {
            return (
                Outcome::RateLimited,
                format!(
                    "{} calls within {} s already",
                    rule.rate_limit.max, rule.rate_limit.per
                ),
            );
        }
        let window_ms = self.config.window as i64 * 1000;
        self.hosts.retain(|_, at| now - *at < window_ms);
        if !self.hosts.contains_key(host) && self.hosts.len() >= self.config.max_hosts {
            return (
                Outcome::HostCap,
                format!(
                    "{} hosts acted on within {} s already",
                    self.config.max_hosts, self.config.window
                ),
            );
        }
        calls.push_back(now);
        self.hosts.insert(host.clone(), now);
        let (default_method, default_path) = request.kind.default_call();
        let method = rule.method.as_deref().unwrap_or(default_method);
        let coordinator_id = self
            .coordinator
            .as_ref()
            .map(|c| c.coordinator_id(host))
            .unwrap_or_else(|| host.clone());
        let path = rule
            .path
            .as_deref()
            .unwrap_or(default_path)
            .replace("{host}", &encode_segment(&coordinator_id));
        let call = format!("{method} {path}");
        if self.config.dry_run {
            return (Outcome::DryRun, format!("would call {call}"));
        }
        let Some(coordinator) = &self.coordinator else {
            return (Outcome::Failed, "no coordinator configured".to_string());
        };
        let method =
            reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let alert = &request.alert;
        let body = serde_json::json!({
            "host_id": coordinator_id,
            "action": request.kind.name(),
            "reason": alert.message,
            "requested_by": "p2pmon",
            "alert": {
                "id": alert.id,
                "rule": alert.rule,
                "type": alert.alert_type,
                "severity": alert.severity,
                "value": alert.value,
            },
        });
        let http = coordinator
            .request(method, &path)
            .header(
                "Idempotency-Key",
                format!("p2pmon-{}-{}", request.kind.name(), alert.id),
            )
            .json(&body);
        let policy = Policy {
            max_attempts: 3,
            base: Duration::from_millis(500),
        };
        match with_retries(request.kind.name(), alert.id, policy, None, || {
            http_attempt(&http, On429::Wait)
        })
        .await
        {
            Ok(()) => (Outcome::Done, format!("{call} accepted")),
            Err(why) => (Outcome::Failed, format!("{call}: {why}")),
        }
    }

    async fn audit(&self, request: &Request, outcome: Outcome, detail: String) {
        let alert = &request.alert;
        let dry_run = self.config.dry_run;
        tracing::warn!(
            action = request.kind.name(),
            host = %alert.host,
            alert = alert.id,
            ?outcome,
            dry_run,
            %detail,
            "Automatic action."
        );
        let mut entry = Entry {
            id: 0,
            timestamp_ms: crate::clock::now_ms(),
            action: request.kind,
            host: alert.host.clone(),
            alert_id: alert.id,
            rule: alert.rule.clone(),
            dry_run,
            outcome,
            detail,
        };
        let saved = entry.clone();
        match self.store.exec(move |conn| insert(conn, &saved)).await {
            Ok(id) => entry.id = id,
            Err(error) => tracing::error!(%error, "Action not saved in the audit log."),
        }
        self.hub.publish(FeedMessage::Status(Status::Action {
            host: alert.host.clone(),
            entry: Dynamic::new(entry),
        }));
    }
}

/// A host id as one URL path segment.
fn encode_segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn insert(conn: &mut Connection, entry: &Entry) -> Result<i64, StoreError> {
    crate::store::actions::insert(
        conn,
        &ActionEntry {
            id: 0,
            timestamp_ms: entry.timestamp_ms,
            action: entry.action.name().to_string(),
            host: entry.host.clone(),
            alert_id: entry.alert_id,
            rule: entry.rule.clone(),
            dry_run: entry.dry_run,
            outcome: super::text(&entry.outcome),
            detail: entry.detail.clone(),
        },
    )
}

pub use crate::store::actions::{ActionEntry, list};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ids_stay_one_path_segment() {
        assert_eq!(encode_segment("p2p-host-1"), "p2p-host-1");
        assert_eq!(encode_segment("a/../b c"), "a%2F..%2Fb%20c");
    }

    #[test]
    fn actions_without_a_route_there_are_unsupported() {
        let mut config = ActionsConfig::default();
        assert!(config.unsupported().is_empty(), "nothing enabled");
        config.failover.enabled = true;
        config.load_balance.enabled = true;
        config.load_balance.path = Some("/api/v1/pool/{host}/drain".to_string());
        config.quarantine.enabled = true;
        let unsupported = config.unsupported();
        assert_eq!(unsupported.len(), 1, "{unsupported:?}");
        assert_eq!(unsupported[0].0, Kind::Failover);
        assert!(unsupported[0].1.contains("actions.failover.path"));
    }

    #[test]
    fn a_path_without_the_host_is_refused() {
        let mut config = ActionsConfig::default();
        config.quarantine.path = Some("/api/v1/hosts/quarantine".to_string());
        config.failover.method = Some("GET".to_string());
        let mut findings = Findings::default();
        config.validate(&mut findings);
        let text = format!("{findings:?}");
        assert!(text.contains("actions.quarantine.path"), "{text}");
        assert!(text.contains("actions.failover.method"), "{text}");
    }
}
