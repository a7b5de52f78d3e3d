//! Alerting: rules from alerts.yml evaluated on every stored point and
//! event ([`engine`]), alerts kept in the store with their history, served
//! by the API and pushed to WebSocket clients as `alert` messages.
//!
//! Evaluation runs inline in ingest (a mutex and a few comparisons per
//! point); persistence runs in one task, in order, so the store always holds
//! each alert's latest state.

pub mod actions;
pub mod email;
pub mod engine;
pub mod in_force;
pub mod message;
pub mod notify;
pub mod push;
pub mod retry;
pub mod rules;
pub mod settings;
pub mod silence;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use p2pmon_common::wire::{EventRecord, MetricRecord};
use p2pmon_common::yaml_config::{self, ConfigErrors, Findings, Validate};
use rusqlite::Connection;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use crate::fanout::Hub;
use crate::feed::{Dynamic, FeedMessage};
use crate::store::alerts::{AlertQuery, AlertRecord};
use crate::store::{self, Store, StoreError};
pub use engine::{Alert, Change, Level, Status, Transition};
pub use in_force::InForce;

/// alerts.yml as a whole: the rules (see [`rules`]) and the sections of
/// the parts that act on them. It lives here, above its sections, so the
/// rules never depend on the parts that read them.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    #[serde(default)]
    pub alerts: BTreeMap<String, rules::MetricRule>,
    #[serde(default)]
    pub events: BTreeMap<String, rules::EventRule>,
    /// A host that sends nothing for this many collection intervals.
    #[serde(default)]
    pub no_data: rules::NoDataRule,
    /// A plugin an agent quarantined, or whose calls all fail.
    #[serde(default)]
    pub plugin_quarantined: rules::PluginQuarantinedRule,
    /// Flap damping for metric rules.
    #[serde(default)]
    pub flap: rules::FlapRule,
    /// The channels (see [`notify`]).
    #[serde(default)]
    pub notifications: notify::NotificationsConfig,
    /// Automatic actions and their guards (see [`actions`]).
    #[serde(default)]
    pub actions: actions::ActionsConfig,
}

impl AlertsConfig {
    /// Load `path`; a missing file means no rules (said once in the log).
    pub fn load_or_empty(path: &Path) -> Result<Self, ConfigErrors> {
        if !path.exists() {
            tracing::warn!(file = %path.display(), "No alerts file: no alert rules.");
            return Ok(Self::default());
        }
        yaml_config::load(path)
    }
}

impl Validate for AlertsConfig {
    fn validate(&self, _base_dir: &Path, findings: &mut Findings) {
        rules::validate_rules(&self.alerts, &self.events, findings);
        self.notifications.validate(findings);
        self.actions.validate(findings);
        findings.in_range("no_data.intervals", self.no_data.intervals, 1..=10_000);
        findings.in_range("flap.window", self.flap.window, 1..=86_400);
        findings.in_range("flap.max_fires", self.flap.max_fires, 1..=1000);
    }
}

enum Job {
    /// Boxed: a transition is large next to the reply handle.
    Save(Box<Transition>),
    /// Reply once everything queued before has been saved.
    Sync(oneshot::Sender<()>),
}

pub struct Alerting {
    engine: Mutex<engine::Engine>,
    /// alerts.yml as loaded; database settings apply over it.
    base_rules: AlertsConfig,
    /// The collection interval from the settings table, if set (ms).
    interval_override: std::sync::atomic::AtomicI64,
    /// Running and scheduled silences (the store has them too).
    silences: Mutex<Vec<silence::Silence>>,
    notifier: Mutex<Arc<notify::Notifier>>,
    actions: actions::Actions,
    /// When each firing alert was last notified (wall clock, ms), for reminders.
    notified: Mutex<std::collections::HashMap<i64, i64>>,
    /// When Alertmanager was last told of the open alerts (ms).
    kept_alive_ms: std::sync::atomic::AtomicI64,
    jobs: mpsc::UnboundedSender<Job>,
    hub: Arc<Hub>,
    saver: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("no open alert {0}")]
    NotOpen(i64),
    #[error("status must be acknowledged or resolved")]
    BadStatus,
    #[error("the alert engine panicked earlier")]
    EnginePoisoned,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why alerting cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AlertingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Channels(#[from] notify::NotifyError),
    #[error(transparent)]
    Actions(#[from] actions::ActionsError),
}

impl Alerting {
    /// Resume the open alerts from `store` and start saving.
    pub async fn start(
        rules: AlertsConfig,
        coordinator: Option<crate::coordinator::Coordinator>,
        store: Arc<Store>,
        hub: Arc<Hub>,
    ) -> Result<Arc<Self>, AlertingError> {
        let now = crate::clock::now_ms();
        let (open, last_id, silences) = store
            .read(move |conn| {
                Ok((
                    open_alerts(conn)?,
                    store::alerts::last_id(conn)?,
                    store::silences::current(conn, now)?,
                ))
            })
            .await?;
        if !open.is_empty() {
            tracing::info!(open = open.len(), "Open alerts resumed.");
        }
        let notifier = notify::Notifier::start(&rules.notifications)?;
        let actions = actions::Actions::start(
            rules.actions.clone(),
            coordinator,
            store.clone(),
            hub.clone(),
        )?;
        let base_rules = rules.clone();
        let engine = engine::Engine::new(rules, open, last_id);
        let (jobs, mut queue) = mpsc::unbounded_channel();
        let saver = tokio::spawn(async move {
            while let Some(job) = queue.recv().await {
                match job {
                    Job::Save(transition) => {
                        if let Err(error) = store.exec(move |conn| save(conn, &transition)).await {
                            tracing::error!(%error, "Alert not saved.");
                        }
                    }
                    Job::Sync(done) => {
                        let _ = done.send(());
                    }
                }
            }
        });
        Ok(Arc::new(Self {
            engine: Mutex::new(engine),
            base_rules,
            interval_override: std::sync::atomic::AtomicI64::new(0),
            silences: Mutex::new(silences),
            notifier: Mutex::new(Arc::new(notifier)),
            actions,
            notified: Mutex::default(),
            kept_alive_ms: std::sync::atomic::AtomicI64::new(0),
            jobs,
            hub,
            saver: Mutex::new(Some(saver)),
        }))
    }

    /// Evaluate what was just stored for `host`: metrics whose series was
    /// accepted (`series_ids[i]` is set) and events.
    pub fn observe(
        &self,
        host: &str,
        metrics: &[MetricRecord],
        series_ids: &[Option<i64>],
        events: &[EventRecord],
    ) {
        let transitions: Vec<Transition> = {
            let Ok(mut engine) = self.engine.lock() else {
                return;
            };
            // The agents' word on their plugins, stored or not.
            let mut out: Vec<Transition> = metrics
                .iter()
                .filter_map(|m| engine.observe_plugin_health(host, m))
                .collect();
            if !engine.rules().alerts.is_empty() || !engine.rules().events.is_empty() {
                for (metric, id) in metrics.iter().zip(series_ids) {
                    if let Some(id) = id {
                        out.extend(engine.observe_stored(host, metric, *id));
                    }
                }
                for event in events {
                    out.extend(engine.observe_event(host, event));
                }
            }
            out
        };
        for transition in transitions {
            self.emit(transition);
        }
    }

    fn emit(&self, transition: Transition) {
        tracing::info!(
            id = transition.alert.id,
            rule = %transition.alert.rule,
            host = %transition.alert.host,
            change = ?transition.change,
            severity = ?transition.alert.severity,
            "Alert {}.",
            match transition.change {
                Change::Fired => "fired",
                Change::Escalated => "escalated",
                Change::Deescalated => "de-escalated",
                Change::Repeated => "repeated",
                Change::Reminder => "reminder",
                Change::Resolved => "resolved",
                Change::Acknowledged => "acknowledged",
                Change::ResolvedByAdmin => "resolved by an admin",
            }
        );
        self.hub.publish(FeedMessage::Alert {
            host: transition.alert.host.clone(),
            alert: Dynamic::new(transition.alert.clone()),
            change: Dynamic::new(transition.change),
        });
        if let Ok(mut notified) = self.notified.lock() {
            match transition.change {
                Change::Fired | Change::Escalated => {
                    notified.insert(transition.alert.id, crate::clock::now_ms());
                }
                // `remind` keeps its own clock.
                Change::Reminder => {}
                Change::Resolved | Change::ResolvedByAdmin | Change::Acknowledged => {
                    notified.remove(&transition.alert.id);
                }
                Change::Deescalated | Change::Repeated => {}
            }
        }
        if self.silenced(&transition.alert) {
            tracing::info!(
                id = transition.alert.id,
                "Alert silenced: no notifications, no actions."
            );
        } else {
            if let Ok(notifier) = self.notifier.lock().map(|n| n.clone()) {
                notifier.notify(&transition);
            }
            self.actions.consider(&transition);
        }
        let _ = self.jobs.send(Job::Save(Box::new(transition)));
    }

    /// Deliveries per enabled notification channel.
    pub fn channel_stats(&self) -> Vec<(&'static str, Arc<notify::ChannelStats>)> {
        self.notifier.lock().map(|n| n.stats()).unwrap_or_default()
    }

    /// Open alerts (firing or acknowledged), oldest first.
    pub fn active(&self) -> Vec<Alert> {
        self.engine
            .lock()
            .map(|engine| engine.open_alerts().cloned().collect())
            .unwrap_or_default()
    }

    /// Acknowledge or resolve open alert `id` (`PATCH /api/v1/alerts/{id}`);
    /// returns it once saved.
    pub async fn update(
        &self,
        id: i64,
        status: Status,
        notes: Option<String>,
        author: Option<String>,
    ) -> Result<Alert, UpdateError> {
        if status == Status::Firing {
            return Err(UpdateError::BadStatus);
        }
        let transition = {
            let mut engine = self
                .engine
                .lock()
                .map_err(|_| UpdateError::EnginePoisoned)?;
            engine
                .update(id, status, notes, author, crate::clock::now_ms())
                .ok_or(UpdateError::NotOpen(id))?
        };
        let alert = transition.alert.clone();
        self.emit(transition);
        self.sync().await;
        Ok(alert)
    }

    /// Evaluate points that are not stored (the coordinator's gauges).
    pub fn observe_unstored(&self, host: &str, metrics: &[MetricRecord]) {
        let transitions: Vec<Transition> = {
            let Ok(mut engine) = self.engine.lock() else {
                return;
            };
            metrics
                .iter()
                .filter_map(|m| engine.observe_metric(host, m))
                .collect()
        };
        for transition in transitions {
            self.emit(transition);
        }
    }

    /// Judge every known host's silence (run every second). `hosts` are
    /// (host, last batch, whether peers still reach it).
    pub fn check_silence(
        &self,
        hosts: &[(String, i64, Option<engine::Reach>)],
        now_ms: i64,
        interval_ms: i64,
    ) {
        let transitions: Vec<Transition> = {
            let Ok(mut engine) = self.engine.lock() else {
                return;
            };
            let interval_ms = match self
                .interval_override
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                0 => interval_ms,
                set => set,
            };
            let limit = interval_ms * i64::from(engine.rules().no_data.intervals);
            hosts
                .iter()
                .filter_map(|(host, seen, reachable)| {
                    engine.observe_silence(host, *seen, now_ms, limit, *reachable)
                })
                .collect()
        };
        for transition in transitions {
            self.emit(transition);
        }
    }

    /// Remind the channels of alerts still firing (not acknowledged) once
    /// `notifications.repeat_interval` has passed since they last heard of
    /// them (run every second). Alerts resumed after a restart count from
    /// the restart.
    pub fn remind(&self, now_ms: i64) {
        let due: Vec<Transition> = {
            let Ok(engine) = self.engine.lock() else {
                return;
            };
            let every_ms = engine.rules().notifications.repeat_interval as i64 * 1000;
            let Ok(mut notified) = self.notified.lock() else {
                return;
            };
            if every_ms == 0 {
                return;
            }
            engine
                .open_alerts()
                .filter(|alert| alert.status == Status::Firing)
                .filter(|alert| {
                    let last = notified.entry(alert.id).or_insert(now_ms);
                    if now_ms - *last >= every_ms {
                        *last = now_ms;
                        true
                    } else {
                        false
                    }
                })
                .map(|alert| Transition {
                    change: Change::Reminder,
                    alert: Alert {
                        updated_ms: now_ms,
                        ..alert.clone()
                    },
                })
                .collect()
        };
        for transition in due {
            self.emit(transition);
        }
        self.keep_alive(now_ms);
    }

    /// Every minute, tell keep-alive channels (Alertmanager) of the open
    /// alerts again, so they stay active there while they are here.
    fn keep_alive(&self, now_ms: i64) {
        use std::sync::atomic::Ordering;
        let last = self.kept_alive_ms.load(Ordering::Relaxed);
        if now_ms - last < notify::KEEP_ALIVE_MS {
            return;
        }
        self.kept_alive_ms.store(now_ms, Ordering::Relaxed);
        let open: Vec<Alert> = match self.engine.lock() {
            Ok(engine) => engine.open_alerts().cloned().collect(),
            Err(_) => return,
        };
        if open.is_empty() {
            return;
        }
        if let Ok(notifier) = self.notifier.lock() {
            notifier.keep_alive(&open);
        }
    }

    /// Apply the settings table over alerts.yml: thresholds to the engine,
    /// recipients and webhook to new channel tasks, the interval to no-data.
    pub fn apply_settings(&self, overrides: &settings::Overrides) {
        let rules = settings::apply(&self.base_rules, overrides);
        match notify::Notifier::start(&rules.notifications) {
            Ok(notifier) => {
                if let Ok(mut current) = self.notifier.lock() {
                    *current = Arc::new(notifier);
                }
            }
            Err(error) => tracing::error!(%error, "Channels from the settings table not applied."),
        }
        if let Some(ms) = overrides.interval_ms {
            self.interval_override
                .store(ms as i64, std::sync::atomic::Ordering::Relaxed);
        }
        if let Ok(mut engine) = self.engine.lock() {
            engine.set_rules(rules);
        }
    }

    /// The rules and channels in force (alerts.yml with the settings table
    /// over it), for the pages; see [`InForce`].
    pub fn configuration(&self) -> InForce {
        let rules = self
            .engine
            .lock()
            .map(|engine| engine.rules().clone())
            .unwrap_or_default();
        InForce::of(&rules)
    }

    /// Tell the feed a setting row is invalid (the last good value stays).
    pub fn report_setting_error(&self, setting: &str, error: &str) {
        self.hub
            .publish(FeedMessage::Status(crate::feed::Status::SettingsInvalid {
                setting: setting.to_string(),
                error: error.to_string(),
            }));
    }

    /// Fire a synthetic alert through the whole pipeline (feed, channels,
    /// store); returns it once saved.
    pub async fn fire_test(&self) -> Result<Alert, UpdateError> {
        let transition = {
            let mut engine = self
                .engine
                .lock()
                .map_err(|_| UpdateError::EnginePoisoned)?;
            engine.fire_test(crate::clock::now_ms())
        };
        let alert = transition.alert.clone();
        self.emit(transition);
        self.sync().await;
        Ok(alert)
    }

    fn silenced(&self, alert: &Alert) -> bool {
        let now = crate::clock::now_ms();
        self.silences.lock().is_ok_and(|mut silences| {
            silences.retain(|s| s.ends_ms > now);
            silences
                .iter()
                .any(|s| s.matches(&alert.host, &alert.rule, now))
        })
    }

    /// Take a new silence into account (after it was stored).
    pub fn add_silence(&self, silence: silence::Silence) {
        if let Ok(mut silences) = self.silences.lock() {
            silences.push(silence);
        }
    }

    /// Forget silence `id` (ended early).
    pub fn end_silence(&self, id: i64) {
        if let Ok(mut silences) = self.silences.lock() {
            silences.retain(|s| s.id != id);
        }
    }

    /// Wait until every alert change so far is in the store.
    pub async fn sync(&self) {
        let (done, wait) = oneshot::channel();
        if self.jobs.send(Job::Sync(done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// Save what is queued and stop; later changes are not saved.
    pub async fn close(&self) {
        self.sync().await;
        let saver = self.saver.lock().ok().and_then(|mut s| s.take());
        if let Some(saver) = saver {
            saver.abort();
        }
    }
}

fn save(conn: &mut Connection, transition: &Transition) -> Result<(), StoreError> {
    store::alerts::save_change(
        conn,
        &record_of(&transition.alert),
        &text(&transition.change),
    )
}

/// A unit enum's serde name.
pub(crate) fn text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn parse<T: serde::de::DeserializeOwned>(text: String) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text)).ok()
}

/// An alert as the store keeps it.
fn record_of(alert: &Alert) -> AlertRecord {
    AlertRecord {
        id: alert.id,
        rule: alert.rule.clone(),
        alert_type: text(&alert.alert_type),
        host: alert.host.clone(),
        labels: alert.labels.clone(),
        severity: text(&alert.severity),
        status: text(&alert.status),
        value: alert.value,
        threshold: alert.threshold,
        message: alert.message.clone(),
        count: alert.count as i64,
        started_ms: alert.started_ms,
        updated_ms: alert.updated_ms,
        resolved_ms: alert.resolved_ms,
        resolution_notes: alert.resolution_notes.clone(),
        acknowledged_by: alert.acknowledged_by.clone(),
        resolved_by: alert.resolved_by.clone(),
    }
}

/// A stored alert read back; `None` when it names a severity, status or
/// type this aggregator does not know.
fn alert_of(record: AlertRecord) -> Option<Alert> {
    let severity = match record.severity.as_str() {
        "warning" => Level::Warning,
        "critical" => Level::Critical,
        _ => return None,
    };
    Some(Alert {
        id: record.id,
        rule: record.rule,
        alert_type: parse::<rules::AlertType>(record.alert_type)?,
        host: record.host,
        labels: record.labels,
        severity,
        status: parse::<Status>(record.status)?,
        value: record.value,
        threshold: record.threshold,
        message: record.message,
        count: record.count as u64,
        started_ms: record.started_ms,
        updated_ms: record.updated_ms,
        resolved_ms: record.resolved_ms,
        resolution_notes: record.resolution_notes,
        acknowledged_by: record.acknowledged_by,
        resolved_by: record.resolved_by,
    })
}

/// Open alerts with their series' id (metric alerts whose series is stored).
fn open_alerts(conn: &Connection) -> Result<Vec<(Alert, Option<i64>)>, StoreError> {
    Ok(store::alerts::open(conn)?
        .into_iter()
        .filter_map(|(record, series)| alert_of(record).map(|alert| (alert, series)))
        .collect())
}

/// Filters of `GET /api/v1/alerts`.
pub struct AlertFilter {
    pub status: Option<Status>,
    pub host: Option<String>,
    pub limit: usize,
}

/// Alerts newest first (history, resolved included).
pub fn list(conn: &Connection, filter: &AlertFilter) -> Result<Vec<Alert>, StoreError> {
    let status = filter.status.as_ref().map(text);
    let query = AlertQuery {
        status: status.as_deref(),
        host: filter.host.as_deref(),
        limit: filter.limit,
    };
    Ok(store::alerts::list(conn, &query)?
        .into_iter()
        .filter_map(alert_of)
        .collect())
}

/// One alert by id.
pub fn get(conn: &Connection, id: i64) -> Result<Option<Alert>, StoreError> {
    Ok(store::alerts::get(conn, id)?.and_then(alert_of))
}

pub use crate::store::alerts::{HistoryEntry, history};
