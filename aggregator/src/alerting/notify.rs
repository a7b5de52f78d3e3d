//! Notification channels for alerts: email (see [`super::email`]), Discord
//! and Slack webhooks and an SMS gateway with a Twilio-style API (the web dashboard gets every alert over
//! the WebSocket already). Configured under `notifications:` in alerts.yml,
//! in the monitoring design document's format, extended compatibly:
//!
//! ```yaml
//! notifications:
//!   discord: { enabled: true, webhook_url: https://discord.com/api/webhooks/..., min_severity: warning }
//!   slack:   { enabled: false, webhook_url: "" }
//!   sms:
//!     enabled: true
//!     url: https://api.twilio.com/2010-04-01/Accounts/AC.../Messages.json
//!     account_sid: AC...
//!     auth_token: ...
//!     from: "+15550100"
//!     to: ["+15550199"]        # critical alerts only, unless min_severity says otherwise
//!   alertmanager: { enabled: true, url: http://127.0.0.1:9093 }   # an existing Alertmanager (v2 API)
//! ```
//!
//! Alertmanager is told of firing alerts again every minute (each with an
//! end three minutes ahead, as Prometheus does), so an alert the aggregator
//! stops sending expires there instead of firing forever.
//!
//! Each channel has its own queue and task, so a channel that is down or slow
//! never delays the others; retries follow [`super::retry`]. Webhook URLs
//! and tokens are secrets: they never appear in logs or errors.

use std::sync::Arc;
use std::time::Duration;

use p2pmon_common::telemetry::HealthKey;
use p2pmon_common::yaml_config::Findings;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::email::EmailError;
use super::engine::{Change, Level, Transition};
use super::message::{self, Rendered, Templates};
use super::push::{self, Outgoing, Push, check_url};
use super::retry::{self, DeliveryError, On429, Policy, http_attempt, with_retries};

/// Why the channels cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("cannot build the notification HTTP client: {0}")]
    Client(reqwest::Error),
    #[error(transparent)]
    Email(#[from] EmailError),
    #[error("{field}: {0}", field = .0.field)]
    Template(#[from] super::message::TemplateError),
}

/// Why one message was not delivered on a channel.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cannot build the email: {0}")]
    Email(EmailError),
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
}

/// Notifications waiting per channel; past this they are dropped and counted.
const QUEUE: usize = 1000;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsConfig {
    #[serde(default)]
    pub email: super::email::EmailConfig,
    #[serde(default)]
    pub discord: WebhookConfig,
    #[serde(default)]
    pub slack: WebhookConfig,
    #[serde(default)]
    pub sms: SmsConfig,
    #[serde(default)]
    pub alertmanager: AlertmanagerConfig,
    #[serde(default)]
    pub ntfy: push::NtfyConfig,
    #[serde(default)]
    pub telegram: push::TelegramConfig,
    #[serde(default)]
    pub pushover: push::PushoverConfig,
    #[serde(default)]
    pub gotify: push::GotifyConfig,
    #[serde(default)]
    pub teams: push::TeamsConfig,
    /// A generic webhook, signed (see [`push::SignedWebhookConfig`]).
    #[serde(default)]
    pub webhook: push::SignedWebhookConfig,
    /// Attempts per message on 429, 5xx or no answer.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// First wait after a 5xx; doubles each time.
    #[serde(default = "default_retry_ms")]
    pub retry_base_ms: u64,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How long a channel waits after a first alert for others to group
    /// with it (same host, rule, change and severity).
    #[serde(default = "default_group_wait_ms")]
    pub group_wait_ms: u64,
    /// Seconds between reminders of an alert still firing and not
    /// acknowledged; 0 never reminds.
    #[serde(default = "default_repeat_interval")]
    pub repeat_interval: u64,
    /// Title and text of messages (see [`super::message`]).
    #[serde(default)]
    pub templates: super::message::TemplatesConfig,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            email: super::email::EmailConfig::default(),
            discord: WebhookConfig::default(),
            slack: WebhookConfig::default(),
            sms: SmsConfig::default(),
            alertmanager: AlertmanagerConfig::default(),
            ntfy: push::NtfyConfig::default(),
            telegram: push::TelegramConfig::default(),
            pushover: push::PushoverConfig::default(),
            gotify: push::GotifyConfig::default(),
            teams: push::TeamsConfig::default(),
            webhook: push::SignedWebhookConfig::default(),
            max_attempts: default_attempts(),
            retry_base_ms: default_retry_ms(),
            timeout_ms: default_timeout_ms(),
            group_wait_ms: default_group_wait_ms(),
            repeat_interval: default_repeat_interval(),
            templates: super::message::TemplatesConfig::default(),
        }
    }
}

fn default_attempts() -> u32 {
    5
}
fn default_retry_ms() -> u64 {
    1000
}
fn default_timeout_ms() -> u64 {
    10_000
}
fn default_group_wait_ms() -> u64 {
    200
}
fn default_repeat_interval() -> u64 {
    4 * 3600
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub webhook_url: String,
    /// Alerts below this severity are not sent (warning by default, as in the shipped alerts.yml).
    #[serde(default = "warning")]
    pub min_severity: Level,
    /// Also send when an alert resolves.
    #[serde(default = "yes")]
    pub send_resolved: bool,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            webhook_url: String::new(),
            min_severity: Level::Warning,
            send_resolved: true,
        }
    }
}

/// The URL is a secret: Debug shows only whether it is set.
impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("enabled", &self.enabled)
            .field(
                "webhook_url",
                &if self.webhook_url.is_empty() {
                    ""
                } else {
                    "<secret>"
                },
            )
            .field("min_severity", &self.min_severity)
            .finish()
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    #[serde(default)]
    pub enabled: bool,
    /// The gateway's message endpoint (Twilio: `.../Accounts/{sid}/Messages.json`).
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub account_sid: String,
    #[serde(default)]
    pub auth_token: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default = "critical")]
    pub min_severity: Level,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            url: String::new(),
            account_sid: String::new(),
            auth_token: String::new(),
            from: String::new(),
            to: Vec::new(),
            min_severity: Level::Critical,
        }
    }
}

impl std::fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsConfig")
            .field("enabled", &self.enabled)
            .field("to", &self.to.len())
            .field("min_severity", &self.min_severity)
            .finish_non_exhaustive()
    }
}

fn warning() -> Level {
    Level::Warning
}
fn critical() -> Level {
    Level::Critical
}
fn yes() -> bool {
    true
}

/// An Alertmanager to forward alerts to (`POST {url}/api/v2/alerts`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    #[serde(default)]
    pub enabled: bool,
    /// Its base URL, e.g. `http://127.0.0.1:9093`.
    #[serde(default)]
    pub url: String,
    #[serde(default = "warning")]
    pub min_severity: Level,
    #[serde(default = "yes")]
    pub send_resolved: bool,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            url: String::new(),
            min_severity: warning(),
            send_resolved: yes(),
        }
    }
}

/// How often firing alerts are sent to Alertmanager again.
pub const KEEP_ALIVE_MS: i64 = 60_000;

impl NotificationsConfig {
    /// The push channels' sections (see [`push`]), in a fixed order.
    pub fn push_channels(&self) -> Vec<Arc<dyn Push>> {
        vec![
            Arc::new(self.ntfy.clone()),
            Arc::new(self.telegram.clone()),
            Arc::new(self.pushover.clone()),
            Arc::new(self.gotify.clone()),
            Arc::new(self.teams.clone()),
            Arc::new(self.webhook.clone()),
        ]
    }

    pub fn validate(&self, findings: &mut Findings) {
        for channel in self.push_channels() {
            if channel.enabled() {
                channel.validate(findings);
            }
        }
        if self.alertmanager.enabled {
            check_url(
                "notifications.alertmanager.url",
                &self.alertmanager.url,
                findings,
            );
        }
        self.email.validate(findings);
        for (name, hook) in [("discord", &self.discord), ("slack", &self.slack)] {
            if hook.enabled {
                check_url(
                    &format!("notifications.{name}.webhook_url"),
                    &hook.webhook_url,
                    findings,
                );
            }
        }
        if self.sms.enabled {
            check_url("notifications.sms.url", &self.sms.url, findings);
            if self.sms.to.is_empty() {
                findings.error(
                    "notifications.sms.to",
                    "an enabled SMS channel needs at least one number",
                );
            }
            if self.sms.from.is_empty() {
                findings.error(
                    "notifications.sms.from",
                    "an enabled SMS channel needs a sender number",
                );
            }
        }
        findings.in_range("notifications.max_attempts", self.max_attempts, 1..=20);
        findings.in_range("notifications.timeout_ms", self.timeout_ms, 100..=120_000);
        findings.in_range(
            "notifications.group_wait_ms",
            self.group_wait_ms,
            0..=60_000,
        );
        if self.repeat_interval != 0 {
            findings.in_range(
                "notifications.repeat_interval",
                self.repeat_interval,
                60..=7 * 86_400,
            );
        }
        self.templates.validate(findings);
    }
}

impl Channel {
    fn queue_up(&self, transition: &Transition) {
        if self.queue.try_send(transition.clone()).is_err() {
            p2pmon_common::count!(
                self.stats.dropped,
                1,
                warn,
                channel = self.name,
                alert = transition.alert.id,
                "Notification queue full; dropped."
            );
        }
    }
}

p2pmon_common::figures! {
    /// Deliveries per channel (`notifications{channel, outcome}`), for
    /// `/metrics` and tests; the reader adds the channel's label.
    pub struct ChannelStats in "" {
        sent: Counter, "notifications", "count", HealthKey::None,
            "Notification attempts, by channel and outcome.", labels = &[("outcome", "sent")];
        failed: Counter, "notifications", "count", HealthKey::None,
            "Notification attempts, by channel and outcome.", labels = &[("outcome", "failed")];
        retried: Counter, "notifications", "count", HealthKey::None,
            "Notification attempts, by channel and outcome.", labels = &[("outcome", "retried")];
        dropped: Counter, "notifications", "count", HealthKey::None,
            "Notification attempts, by channel and outcome.", labels = &[("outcome", "dropped")];
    }
}

struct Channel {
    name: &'static str,
    min_severity: Level,
    send_resolved: bool,
    /// Told of firing alerts again every minute (Alertmanager).
    keep_alive: bool,
    queue: mpsc::Sender<Transition>,
    stats: Arc<ChannelStats>,
}

pub struct Notifier {
    channels: Vec<Channel>,
}

/// One enabled channel, as configured.
struct Spec {
    name: &'static str,
    target: Target,
    min_severity: Level,
    send_resolved: bool,
    keep_alive: bool,
}

fn http_client(config: &NotificationsConfig) -> Result<reqwest::Client, NotifyError> {
    // reqwest is built without a default TLS provider: use ring, as ingest does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_millis(config.timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| NotifyError::Client(e.without_url()))
}

/// The enabled channels, in a fixed order.
fn enabled(config: &NotificationsConfig) -> Result<Vec<Spec>, NotifyError> {
    let mut specs = Vec::new();
    if config.email.enabled {
        let mailer =
            super::email::Mailer::new(&config.email, Duration::from_millis(config.timeout_ms))?;
        specs.push(Spec {
            name: "email",
            target: Target::Email(mailer),
            min_severity: config.email.min_severity,
            send_resolved: config.email.send_resolved,
            keep_alive: false,
        });
    }
    for (name, hook, make) in [
        (
            "discord",
            &config.discord,
            Target::Discord as fn(String) -> Target,
        ),
        (
            "slack",
            &config.slack,
            Target::Slack as fn(String) -> Target,
        ),
    ] {
        if hook.enabled {
            specs.push(Spec {
                name,
                target: make(hook.webhook_url.clone()),
                min_severity: hook.min_severity,
                send_resolved: hook.send_resolved,
                keep_alive: false,
            });
        }
    }
    if config.sms.enabled {
        specs.push(Spec {
            name: "sms",
            target: Target::Sms(config.sms.clone()),
            min_severity: config.sms.min_severity,
            send_resolved: false,
            keep_alive: false,
        });
    }
    if config.alertmanager.enabled {
        specs.push(Spec {
            name: "alertmanager",
            target: Target::Alertmanager(config.alertmanager.url.trim_end_matches('/').to_string()),
            min_severity: config.alertmanager.min_severity,
            send_resolved: config.alertmanager.send_resolved,
            keep_alive: true,
        });
    }
    for channel in config.push_channels() {
        if channel.enabled() {
            specs.push(Spec {
                name: channel.name(),
                min_severity: channel.min_severity(),
                send_resolved: channel.send_resolved(),
                keep_alive: false,
                target: Target::Push(channel),
            });
        }
    }
    Ok(specs)
}

/// Send `transition` on every enabled channel now, whatever its severity
/// filter, and say how each went (`test-notifications`).
pub async fn send_to_all(
    config: &NotificationsConfig,
    transition: &Transition,
) -> Result<Vec<(&'static str, Result<(), SendError>)>, NotifyError> {
    let client = http_client(config)?;
    let templates = templates(config)?;
    let group = [transition.clone()];
    let mut results = Vec::new();
    for spec in enabled(config)? {
        let stats = ChannelStats::default();
        let sent = send_one(
            spec.name,
            &spec.target,
            &client,
            config,
            &templates,
            &stats,
            &group,
        )
        .await;
        results.push((spec.name, sent));
    }
    Ok(results)
}

#[derive(Clone)]
enum Target {
    Email(super::email::Mailer),
    Discord(String),
    Slack(String),
    Sms(SmsConfig),
    Alertmanager(String),
    Push(Arc<dyn Push>),
}

impl Target {
    /// The shortest wait between two attempts the service asks for.
    fn min_backoff(&self) -> Duration {
        match self {
            Target::Push(channel) => channel.min_backoff(),
            _ => Duration::ZERO,
        }
    }

    fn on_429(&self) -> On429 {
        match self {
            Target::Push(channel) => channel.on_429(),
            _ => On429::Wait,
        }
    }
}

impl Notifier {
    /// Start a task per enabled channel.
    pub fn start(config: &NotificationsConfig) -> Result<Self, NotifyError> {
        let client = http_client(config)?;
        let templates = Arc::new(templates(config)?);
        let mut channels = Vec::new();
        for spec in enabled(config)? {
            let (queue, receiver) = mpsc::channel(QUEUE);
            let stats = Arc::new(ChannelStats::default());
            tokio::spawn(deliver(
                spec.name,
                spec.target,
                client.clone(),
                config.clone(),
                templates.clone(),
                receiver,
                stats.clone(),
            ));
            channels.push(Channel {
                name: spec.name,
                min_severity: spec.min_severity,
                send_resolved: spec.send_resolved,
                keep_alive: spec.keep_alive,
                queue,
                stats,
            });
        }
        Ok(Self { channels })
    }

    /// Queue `transition` on every channel that wants it.
    pub fn notify(&self, transition: &Transition) {
        for channel in &self.channels {
            let wanted = match transition.change {
                Change::Fired | Change::Escalated | Change::Reminder => true,
                Change::Resolved | Change::ResolvedByAdmin => channel.send_resolved,
                // Alertmanager keys alerts by labels, severity among them.
                Change::Deescalated => channel.keep_alive,
                Change::Repeated | Change::Acknowledged => false,
            };
            if !wanted || transition.alert.severity < channel.min_severity {
                continue;
            }
            channel.queue_up(transition);
        }
    }

    /// Tell the keep-alive channels (Alertmanager) of `alerts` again.
    pub fn keep_alive(&self, alerts: &[super::engine::Alert]) {
        for channel in self.channels.iter().filter(|c| c.keep_alive) {
            for alert in alerts.iter().filter(|a| a.severity >= channel.min_severity) {
                channel.queue_up(&Transition {
                    change: Change::Repeated,
                    alert: alert.clone(),
                });
            }
        }
    }

    /// Delivery counts per enabled channel.
    pub fn stats(&self) -> Vec<(&'static str, Arc<ChannelStats>)> {
        self.channels
            .iter()
            .map(|c| (c.name, c.stats.clone()))
            .collect()
    }
}

fn templates(config: &NotificationsConfig) -> Result<Templates, NotifyError> {
    Ok(Templates::new(&config.templates)?)
}

async fn deliver(
    name: &'static str,
    target: Target,
    client: reqwest::Client,
    config: NotificationsConfig,
    templates: Arc<Templates>,
    mut queue: mpsc::Receiver<Transition>,
    stats: Arc<ChannelStats>,
) {
    let wait = Duration::from_millis(config.group_wait_ms);
    while let Some(first) = queue.recv().await {
        let mut pending = vec![first];
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        while pending.len() < QUEUE {
            match queue.try_recv() {
                Ok(next) => pending.push(next),
                Err(_) => break,
            }
        }
        for group in message::group(pending) {
            let ids: Vec<i64> = group.iter().map(|t| t.alert.id).collect();
            match send_one(name, &target, &client, &config, &templates, &stats, &group).await {
                Ok(()) => {
                    p2pmon_common::count!(stats.sent, 1, info, channel = name, alerts = ?ids, "Notification sent.");
                }
                Err(why) => {
                    p2pmon_common::count!(stats.failed, 1, error, channel = name, alerts = ?ids, %why, "Notification not delivered.");
                }
            }
        }
    }
}

/// Deliver one message about `group` on one channel, with retries.
async fn send_one(
    name: &'static str,
    target: &Target,
    client: &reqwest::Client,
    config: &NotificationsConfig,
    templates: &Templates,
    stats: &ChannelStats,
    group: &[Transition],
) -> Result<(), SendError> {
    let Some(first) = group.first() else {
        return Ok(());
    };
    let id = first.alert.id;
    let policy = Policy {
        max_attempts: config.max_attempts,
        base: Duration::from_millis(config.retry_base_ms).max(target.min_backoff()),
    };
    let rendered = templates.render(group);
    match target {
        Target::Email(mailer) => {
            let mut body = format!("{}\n\n", rendered.text);
            for (name, value) in message::fields(group) {
                body.push_str(&format!("{name}: {value}\n"));
            }
            match mailer.message(&rendered.title, body) {
                Ok(email) => Ok(with_retries(name, id, policy, Some(&stats.retried), || {
                    mailer.attempt(&email)
                })
                .await?),
                Err(error) => Err(SendError::Email(error)),
            }
        }
        _ => {
            // Every request is tried (SMS: one per number); the first failure
            // is kept. Each attempt is built anew: a signed webhook's
            // timestamp is the attempt's.
            let build = |at_ms| http_requests(target, client, &rendered, group, at_ms);
            let mut outcome = Ok(());
            for index in 0..build(crate::clock::now_ms()).len() {
                let sent = with_retries(name, id, policy, Some(&stats.retried), || {
                    let request = build(crate::clock::now_ms()).into_iter().nth(index);
                    async move {
                        match request {
                            Some(request) => http_attempt(&request, target.on_429()).await,
                            None => retry::Outcome::Refused("no request to send".to_string()),
                        }
                    }
                })
                .await;
                outcome = outcome.and(sent);
            }
            Ok(outcome?)
        }
    }
}

/// One alert as Alertmanager's v2 API takes it: labels identify it (rule,
/// host, severity, type and the alert's own labels), a resolved one ends
/// when it resolved, a firing one three keep-alives ahead.
fn alertmanager_alert(transition: &Transition) -> serde_json::Value {
    let alert = &transition.alert;
    let name = |key: &str| -> String {
        key.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let mut labels = serde_json::Map::new();
    for (key, value) in &alert.labels {
        labels.insert(name(key), value.clone().into());
    }
    let severity = serde_json::to_value(alert.severity).unwrap_or_default();
    let alert_type = serde_json::to_value(alert.alert_type).unwrap_or_default();
    labels.insert("alertname".to_string(), alert.rule.clone().into());
    labels.insert("host".to_string(), alert.host.clone().into());
    labels.insert("severity".to_string(), severity);
    labels.insert("type".to_string(), alert_type);
    let ends = match transition.change {
        Change::Resolved | Change::ResolvedByAdmin => alert.resolved_ms.unwrap_or(alert.updated_ms),
        _ => crate::clock::now_ms() + 3 * KEEP_ALIVE_MS,
    };
    serde_json::json!({
        "labels": labels,
        "annotations": { "summary": alert.message, "value": alert.value.to_string() },
        "startsAt": crate::clock::rfc3339(alert.started_ms),
        "endsAt": crate::clock::rfc3339(ends),
    })
}

fn http_requests(
    target: &Target,
    client: &reqwest::Client,
    rendered: &Rendered,
    group: &[Transition],
    now_ms: i64,
) -> Vec<reqwest::RequestBuilder> {
    let Some(transition) = group.first() else {
        return Vec::new();
    };
    let colour = message::colour(transition);
    match target {
        // Host text is in the title, the text and the fields: escaped for
        // each service's markup, and Discord told to ping nobody.
        Target::Discord(url) => {
            let fields: Vec<serde_json::Value> = message::fields(group)
                .into_iter()
                .map(|(name, value)| serde_json::json!({ "name": name, "value": message::discord_escape(&value), "inline": true }))
                .collect();
            let body = serde_json::json!({
                "username": "p2pmon",
                "allowed_mentions": { "parse": [] },
                "embeds": [{
                    "title": message::discord_escape(&rendered.title),
                    "description": message::discord_escape(&rendered.text),
                    "color": colour,
                    "fields": fields,
                }],
            });
            vec![client.post(url).json(&body)]
        }
        Target::Slack(url) => {
            let fields: Vec<serde_json::Value> = message::fields(group)
                .into_iter()
                .map(|(name, value)| serde_json::json!({ "title": name, "value": message::entity_escape(&value), "short": true }))
                .collect();
            let body = serde_json::json!({
                "text": message::entity_escape(&rendered.title),
                "attachments": [{
                    "color": format!("#{colour:06x}"),
                    "text": message::entity_escape(&rendered.text),
                    "fields": fields,
                }],
            });
            vec![client.post(url).json(&body)]
        }
        Target::Email(_) => Vec::new(),
        Target::Push(channel) => channel.requests(
            client,
            &Outgoing {
                rendered,
                group,
                now_ms,
            },
        ),
        Target::Alertmanager(base) => {
            let alerts: Vec<serde_json::Value> = group.iter().map(alertmanager_alert).collect();
            vec![client.post(format!("{base}/api/v2/alerts")).json(&alerts)]
        }
        Target::Sms(sms) => {
            let text = format!("p2pmon {}: {}", rendered.title, rendered.text);
            let text: String = text.chars().take(320).collect();
            sms.to
                .iter()
                .map(|to| {
                    let form = url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("To", to)
                        .append_pair("From", &sms.from)
                        .append_pair("Body", &text)
                        .finish();
                    client
                        .post(&sms.url)
                        .basic_auth(&sms.account_sid, Some(&sms.auth_token))
                        .header(
                            reqwest::header::CONTENT_TYPE,
                            "application/x-www-form-urlencoded",
                        )
                        .body(form)
                })
                .collect()
        }
    }
}
