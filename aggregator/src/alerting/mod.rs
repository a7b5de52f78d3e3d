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
pub mod message;
pub mod notify;
pub mod retry;
pub mod rules;
pub mod settings;
pub mod silence;

use std::sync::{Arc, Mutex};

use p2pmon_common::wire::{EventRecord, MetricRecord};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use crate::fanout::Hub;
use crate::feed::{Dynamic, FeedMessage};
use crate::store::{Store, StoreError};
pub use engine::{Alert, Change, Level, Status, Transition};
pub use rules::AlertsConfig;

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
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Alerting {
    /// Resume the open alerts from `store` and start saving.
    pub async fn start(
        rules: AlertsConfig,
        coordinator: Option<crate::coordinator::Coordinator>,
        store: Arc<Store>,
        hub: Arc<Hub>,
    ) -> Result<Arc<Self>, StoreError> {
        let now = crate::clock::now_ms();
        let (open, last_id, silences) = store
            .read(move |conn| {
                Ok((
                    open_alerts(conn)?,
                    last_id(conn)?,
                    silence::current(conn, now)?,
                ))
            })
            .await?;
        if !open.is_empty() {
            tracing::info!(open = open.len(), "Open alerts resumed.");
        }
        let notifier =
            notify::Notifier::start(&rules.notifications).map_err(StoreError::Invalid)?;
        let actions = actions::Actions::start(
            rules.actions.clone(),
            coordinator,
            store.clone(),
            hub.clone(),
        )
        .map_err(StoreError::Invalid)?;
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
                .map_err(|_| StoreError::Write("alert engine poisoned".to_string()))?;
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
    /// over it), for the pages. Secrets stay out: a webhook shows as its
    /// host, email and SMS as counts and their server.
    pub fn configuration(&self) -> serde_json::Value {
        use serde_json::json;
        let rules = self
            .engine
            .lock()
            .map(|engine| engine.rules().clone())
            .unwrap_or_default();
        let metric_rules: Vec<serde_json::Value> = rules
            .alerts
            .iter()
            .map(|(metric, rule)| {
                json!({
                    "metric": metric,
                    "enabled": rule.enabled,
                    "warning": rule.warning,
                    "critical": rule.critical,
                    "duration_s": rule.duration,
                    "direction": format!("{:?}", rule.direction).to_lowercase(),
                    "type": rule.alert_type(metric),
                    "overrides": rule.hosts.len() + rule.maps.len(),
                })
            })
            .collect();
        let event_rules: Vec<serde_json::Value> = rules
            .events
            .iter()
            .map(|(kind, rule)| {
                json!({
                    "kind": kind,
                    "enabled": rule.enabled,
                    "min_severity": rule.min_severity,
                    "type": rule.alert_type,
                })
            })
            .collect();
        let host_of = |url: &str| {
            url::Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default()
        };
        let n = &rules.notifications;
        let webhook = |name: &str, hook: &notify::WebhookConfig| {
            json!({
                "channel": name,
                "enabled": hook.enabled,
                "min_severity": hook.min_severity,
                "send_resolved": hook.send_resolved,
                "target": host_of(&hook.webhook_url),
            })
        };
        let channels = vec![
            json!({
                "channel": "email",
                "enabled": n.email.enabled,
                "min_severity": n.email.min_severity,
                "send_resolved": n.email.send_resolved,
                "target": format!("{} recipient(s) via {}", n.email.recipients.len(), n.email.smtp.host),
            }),
            webhook("discord", &n.discord),
            webhook("slack", &n.slack),
            json!({
                "channel": "alertmanager",
                "enabled": n.alertmanager.enabled,
                "min_severity": n.alertmanager.min_severity,
                "send_resolved": n.alertmanager.send_resolved,
                "target": host_of(&n.alertmanager.url),
            }),
            json!({
                "channel": "sms",
                "enabled": n.sms.enabled,
                "min_severity": n.sms.min_severity,
                "send_resolved": false,
                "target": format!("{} number(s) via {}", n.sms.to.len(), host_of(&n.sms.url)),
            }),
        ];
        json!({
            "metric_rules": metric_rules,
            "event_rules": event_rules,
            "no_data": { "enabled": rules.no_data.enabled, "intervals": rules.no_data.intervals },
            "plugin_quarantined": { "enabled": rules.plugin_quarantined.enabled },
            "channels": channels,
        })
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
                .map_err(|_| StoreError::Write("alert engine poisoned".to_string()))?;
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
    let alert = &transition.alert;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT INTO alerts (id, rule, type, host_id, labels, severity, status, value, threshold, message,
                             count, started_ms, updated_ms, resolved_ms, resolution_notes,
                             acknowledged_by, resolved_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
         ON CONFLICT (id) DO UPDATE SET labels = excluded.labels, severity = excluded.severity,
             status = excluded.status, value = excluded.value, threshold = excluded.threshold,
             message = excluded.message, count = excluded.count, updated_ms = excluded.updated_ms,
             resolved_ms = excluded.resolved_ms, resolution_notes = excluded.resolution_notes,
             acknowledged_by = excluded.acknowledged_by, resolved_by = excluded.resolved_by",
        params![
            alert.id,
            alert.rule,
            text(&alert.alert_type),
            alert.host,
            serde_json::to_string(&alert.labels).unwrap_or_default(),
            text(&alert.severity),
            text(&alert.status),
            alert.value,
            alert.threshold,
            alert.message,
            alert.count as i64,
            alert.started_ms,
            alert.updated_ms,
            alert.resolved_ms,
            alert.resolution_notes,
            alert.acknowledged_by,
            alert.resolved_by,
        ],
    )?;
    tx.execute(
        "INSERT INTO alert_history (alert_id, ts, change, severity, value) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![alert.id, alert.updated_ms, text(&transition.change), text(&alert.severity), alert.value],
    )?;
    tx.commit()?;
    Ok(())
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

const COLUMNS: &str =
    "id, rule, type, host_id, labels, severity, status, value, threshold, message, count,
                       started_ms, updated_ms, resolved_ms, resolution_notes, acknowledged_by, resolved_by";

fn row_to_alert(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Alert>> {
    let severity: String = r.get(5)?;
    let status: String = r.get(6)?;
    let alert_type: String = r.get(2)?;
    let labels: String = r.get(4)?;
    let (Some(severity), Some(status), Some(alert_type)) = (
        match severity.as_str() {
            "warning" => Some(Level::Warning),
            "critical" => Some(Level::Critical),
            _ => None,
        },
        parse::<Status>(status),
        parse::<rules::AlertType>(alert_type),
    ) else {
        return Ok(None);
    };
    Ok(Some(Alert {
        id: r.get(0)?,
        rule: r.get(1)?,
        alert_type,
        host: r.get(3)?,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        severity,
        status,
        value: r.get(7)?,
        threshold: r.get(8)?,
        message: r.get(9)?,
        count: r.get::<_, i64>(10)? as u64,
        started_ms: r.get(11)?,
        updated_ms: r.get(12)?,
        resolved_ms: r.get(13)?,
        resolution_notes: r.get(14)?,
        acknowledged_by: r.get(15)?,
        resolved_by: r.get(16)?,
    }))
}

/// Open alerts with their series' id (metric alerts whose series is stored).
fn open_alerts(conn: &Connection) -> Result<Vec<(Alert, Option<i64>)>, StoreError> {
    let mut statement = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM alerts WHERE status IN ('firing', 'acknowledged') ORDER BY id"
    ))?;
    let alerts: Vec<Alert> = statement
        .query_map([], row_to_alert)?
        .filter_map(|r| r.ok().flatten())
        .collect();
    let mut series =
        conn.prepare("SELECT id FROM series WHERE host_id = ?1 AND name = ?2 AND tags = ?3")?;
    let mut out = Vec::with_capacity(alerts.len());
    for alert in alerts {
        let tags = serde_json::to_string(&alert.labels).unwrap_or_default();
        let id = series
            .query_row(params![alert.host, alert.rule, tags], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?;
        out.push((alert, id));
    }
    Ok(out)
}

fn last_id(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .query_row("SELECT MAX(id) FROM alerts", [], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .optional()?
        .flatten()
        .unwrap_or(0))
}

/// Filters of `GET /api/v1/alerts`.
pub struct AlertFilter {
    pub status: Option<Status>,
    pub host: Option<String>,
    pub limit: usize,
}

/// Alerts newest first (history, resolved included).
pub fn list(conn: &Connection, filter: &AlertFilter) -> Result<Vec<Alert>, StoreError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM alerts WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR host_id = ?2)
         ORDER BY id DESC LIMIT ?3"
    ))?;
    let status = filter.status.as_ref().map(text);
    let rows = statement.query_map(
        params![status, filter.host, filter.limit as i64],
        row_to_alert,
    )?;
    Ok(rows.filter_map(|r| r.ok().flatten()).collect())
}

/// One alert by id.
pub fn get(conn: &Connection, id: i64) -> Result<Option<Alert>, StoreError> {
    let mut statement =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM alerts WHERE id = ?1"))?;
    Ok(statement
        .query_row(params![id], row_to_alert)
        .optional()?
        .flatten())
}

/// One alert's changes, oldest first.
pub fn history(conn: &Connection, id: i64) -> Result<Vec<serde_json::Value>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT ts, change, severity, value FROM alert_history WHERE alert_id = ?1 ORDER BY ts, rowid",
    )?;
    let rows = statement.query_map(params![id], |r| {
        Ok(serde_json::json!({
            "timestamp_ms": r.get::<_, i64>(0)?,
            "change": r.get::<_, String>(1)?,
            "severity": r.get::<_, String>(2)?,
            "value": r.get::<_, f64>(3)?,
        }))
    })?;
    Ok(rows.filter_map(Result::ok).collect())
}
