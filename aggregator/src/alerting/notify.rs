//! Notification channels for alerts: email (see [`super::email`]), Discord
//! and Slack webhooks and an SMS gateway with a Twilio-style API (the web dashboard gets every alert over
//! the WebSocket already). Configured under `notifications:` in alerts.yml,
//! as the seed writes it, extended compatibly:
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
//! ```
//!
//! Each channel has its own queue and task, so a channel that is down or slow
//! never delays the others. A 429 waits for `retry_after` (body, as Discord
//! sends it) or `Retry-After` (header); a 5xx or no answer retries with a
//! doubling backoff; any other 4xx is not retried. Webhook URLs and tokens
//! are secrets: they never appear in logs or errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use p2pmon_common::yaml_config::Findings;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::engine::{Alert, Change, Level, Transition};

/// Notifications waiting per channel; past this they are dropped and counted.
const QUEUE: usize = 1000;
/// Longest wait a 429 may ask for before the message is given up.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

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
    /// Attempts per message on 429, 5xx or no answer.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// First wait after a 5xx; doubles each time.
    #[serde(default = "default_retry_ms")]
    pub retry_base_ms: u64,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            email: super::email::EmailConfig::default(),
            discord: WebhookConfig::default(),
            slack: WebhookConfig::default(),
            sms: SmsConfig::default(),
            max_attempts: default_attempts(),
            retry_base_ms: default_retry_ms(),
            timeout_ms: default_timeout_ms(),
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

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub webhook_url: String,
    /// Alerts below this severity are not sent (the seed's notification threshold).
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

impl NotificationsConfig {
    pub fn validate(&self, findings: &mut Findings) {
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
    }
}

/// Problems name the field, never the URL (it holds the webhook's secret).
fn check_url(field: &str, text: &str, findings: &mut Findings) {
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
        Ok(_) => findings.error(field, "must be an http:// or https:// URL"),
        Err(_) if text.is_empty() => findings.error(field, "is empty but the channel is enabled"),
        Err(_) => findings.error(field, "is not a URL"),
    }
}

/// Deliveries per channel, for the health report and tests.
#[derive(Debug, Default)]
pub struct ChannelStats {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
    pub dropped: AtomicU64,
}

struct Channel {
    name: &'static str,
    min_severity: Level,
    send_resolved: bool,
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
}

fn http_client(config: &NotificationsConfig) -> Result<reqwest::Client, String> {
    // reqwest is built without a default TLS provider: use ring, as ingest does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_millis(config.timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| {
            format!(
                "cannot build the notification HTTP client: {}",
                e.without_url()
            )
        })
}

/// The enabled channels, in a fixed order.
fn enabled(config: &NotificationsConfig) -> Result<Vec<Spec>, String> {
    let mut specs = Vec::new();
    if config.email.enabled {
        let mailer =
            super::email::Mailer::new(&config.email, Duration::from_millis(config.timeout_ms))?;
        specs.push(Spec {
            name: "email",
            target: Target::Email(mailer),
            min_severity: config.email.min_severity,
            send_resolved: config.email.send_resolved,
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
            });
        }
    }
    if config.sms.enabled {
        specs.push(Spec {
            name: "sms",
            target: Target::Sms(config.sms.clone()),
            min_severity: config.sms.min_severity,
            send_resolved: false,
        });
    }
    Ok(specs)
}

/// Send `transition` on every enabled channel now, whatever its severity
/// filter, and say how each went (`test-notifications`).
pub async fn send_to_all(
    config: &NotificationsConfig,
    transition: &Transition,
) -> Result<Vec<(&'static str, bool)>, String> {
    let client = http_client(config)?;
    let mut results = Vec::new();
    for spec in enabled(config)? {
        let stats = ChannelStats::default();
        let ok = send_one(spec.name, &spec.target, &client, config, &stats, transition).await;
        results.push((spec.name, ok));
    }
    Ok(results)
}

#[derive(Clone)]
enum Target {
    Email(super::email::Mailer),
    Discord(String),
    Slack(String),
    Sms(SmsConfig),
}

/// How one delivery attempt went.
pub enum Outcome {
    Delivered,
    /// Try again after the wait given (429), or the backoff (`None`).
    Retry(Option<Duration>, String),
    /// Refused for good (a 4xx other than 429, a permanent SMTP error).
    Refused(String),
}

impl Notifier {
    /// Start a task per enabled channel.
    pub fn start(config: &NotificationsConfig) -> Result<Self, String> {
        let client = http_client(config)?;
        let mut channels = Vec::new();
        for spec in enabled(config)? {
            let (queue, receiver) = mpsc::channel(QUEUE);
            let stats = Arc::new(ChannelStats::default());
            tokio::spawn(deliver(
                spec.name,
                spec.target,
                client.clone(),
                config.clone(),
                receiver,
                stats.clone(),
            ));
            channels.push(Channel {
                name: spec.name,
                min_severity: spec.min_severity,
                send_resolved: spec.send_resolved,
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
                Change::Fired | Change::Escalated => true,
                Change::Resolved | Change::ResolvedByAdmin => channel.send_resolved,
                Change::Deescalated | Change::Repeated | Change::Acknowledged => false,
            };
            if !wanted || transition.alert.severity < channel.min_severity {
                continue;
            }
            if channel.queue.try_send(transition.clone()).is_err() {
                channel.stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    channel = channel.name,
                    alert = transition.alert.id,
                    "Notification queue full; dropped."
                );
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

async fn deliver(
    name: &'static str,
    target: Target,
    client: reqwest::Client,
    config: NotificationsConfig,
    mut queue: mpsc::Receiver<Transition>,
    stats: Arc<ChannelStats>,
) {
    while let Some(transition) = queue.recv().await {
        let id = transition.alert.id;
        if send_one(name, &target, &client, &config, &stats, &transition).await {
            stats.sent.fetch_add(1, Ordering::Relaxed);
            tracing::info!(channel = name, alert = id, "Notification sent.");
        } else {
            stats.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Deliver one notification on one channel, with retries.
async fn send_one(
    name: &'static str,
    target: &Target,
    client: &reqwest::Client,
    config: &NotificationsConfig,
    stats: &ChannelStats,
    transition: &Transition,
) -> bool {
    let id = transition.alert.id;
    match target {
        Target::Email(mailer) => match mailer.message(&title(transition), text(transition)) {
            Ok(message) => with_retries(name, id, config, stats, || mailer.attempt(&message)).await,
            Err(error) => {
                tracing::error!(channel = name, alert = id, %error, "Cannot build the email.");
                false
            }
        },
        _ => {
            let mut ok = true;
            for request in http_requests(target, client, transition) {
                ok &= with_retries(name, id, config, stats, || http_attempt(&request)).await;
            }
            ok
        }
    }
}

/// One HTTP attempt, classified.
async fn http_attempt(request: &reqwest::RequestBuilder) -> Outcome {
    let Some(request) = request.try_clone() else {
        return Outcome::Refused("request cannot be repeated".to_string());
    };
    match request.send().await {
        Ok(response) if response.status().is_success() => Outcome::Delivered,
        Ok(response) if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
            let header = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok());
            // Discord says how long in the body (seconds, fractional).
            let body: Option<serde_json::Value> = response.json().await.ok();
            let seconds = body
                .as_ref()
                .and_then(|b| b.get("retry_after"))
                .and_then(serde_json::Value::as_f64)
                .or(header)
                .unwrap_or(1.0);
            let wait = Duration::from_secs_f64(seconds.clamp(0.0, MAX_RETRY_AFTER.as_secs_f64()));
            Outcome::Retry(Some(wait), "rate limited (429)".to_string())
        }
        Ok(response) if response.status().is_server_error() => {
            Outcome::Retry(None, format!("server error {}", response.status().as_u16()))
        }
        Ok(response) => Outcome::Refused(format!("refused with {}", response.status().as_u16())),
        Err(error) => Outcome::Retry(None, format!("not reachable: {}", error.without_url())),
    }
}

/// Run `attempt` until it delivers, is refused, or `max_attempts` is
/// reached; true once delivered.
async fn with_retries<F, Fut>(
    name: &str,
    alert: i64,
    config: &NotificationsConfig,
    stats: &ChannelStats,
    mut attempt: F,
) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let mut backoff = Duration::from_millis(config.retry_base_ms);
    for number in 1..=config.max_attempts {
        let wait = match attempt().await {
            Outcome::Delivered => return true,
            Outcome::Refused(why) => {
                tracing::error!(channel = name, alert, %why, "Channel refused the notification; not retrying.");
                return false;
            }
            Outcome::Retry(wait, why) => {
                let wait = wait.unwrap_or(backoff);
                tracing::warn!(channel = name, alert, attempt = number, wait_ms = wait.as_millis() as u64, %why, "Delivery failed; retrying.");
                wait
            }
        };
        if number == config.max_attempts {
            break;
        }
        stats.retried.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
    tracing::error!(
        channel = name,
        alert,
        attempts = config.max_attempts,
        "Notification not delivered."
    );
    false
}

/// The plain-text body of an email or SMS.
fn text(transition: &Transition) -> String {
    let alert = &transition.alert;
    let mut body = format!("{}\n\n", alert.message);
    for (name, value) in fields(alert) {
        body.push_str(&format!("{name}: {value}\n"));
    }
    body
}

fn title(transition: &Transition) -> String {
    let alert = &transition.alert;
    let what = match transition.change {
        Change::Resolved | Change::ResolvedByAdmin => "RESOLVED".to_string(),
        _ => format!("{:?}", alert.severity).to_uppercase(),
    };
    format!("[{what}] {} on {}", alert.rule, alert.host)
}

/// Discord embed colours: red, orange, green.
fn colour(transition: &Transition) -> u32 {
    match (transition.change, transition.alert.severity) {
        (Change::Resolved | Change::ResolvedByAdmin, _) => 0x2E_CC_71,
        (_, Level::Critical) => 0xE7_4C_3C,
        (_, Level::Warning) => 0xF3_9C_12,
    }
}

fn fields(alert: &Alert) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("Host", alert.host.clone()),
        ("Rule", alert.rule.clone()),
        ("Type", format!("{:?}", alert.alert_type).to_lowercase()),
        ("Value", format!("{}", alert.value)),
    ];
    if let Some(threshold) = alert.threshold {
        fields.push(("Threshold", format!("{threshold}")));
    }
    if alert.count > 1 {
        fields.push(("Count", alert.count.to_string()));
    }
    fields.push(("Alert", format!("#{}", alert.id)));
    fields
}

fn http_requests(
    target: &Target,
    client: &reqwest::Client,
    transition: &Transition,
) -> Vec<reqwest::RequestBuilder> {
    let alert = &transition.alert;
    match target {
        Target::Discord(url) => {
            let fields: Vec<serde_json::Value> = fields(alert)
                .into_iter()
                .map(|(name, value)| serde_json::json!({ "name": name, "value": value, "inline": true }))
                .collect();
            let body = serde_json::json!({
                "username": "p2pmon",
                "embeds": [{
                    "title": title(transition),
                    "description": alert.message,
                    "color": colour(transition),
                    "fields": fields,
                }],
            });
            vec![client.post(url).json(&body)]
        }
        Target::Slack(url) => {
            let fields: Vec<serde_json::Value> = fields(alert)
                .into_iter()
                .map(|(name, value)| serde_json::json!({ "title": name, "value": value, "short": true }))
                .collect();
            let body = serde_json::json!({
                "text": title(transition),
                "attachments": [{
                    "color": format!("#{:06x}", colour(transition)),
                    "text": alert.message,
                    "fields": fields,
                }],
            });
            vec![client.post(url).json(&body)]
        }
        Target::Email(_) => Vec::new(),
        Target::Sms(sms) => {
            let text = format!("p2pmon {}: {}", title(transition), alert.message);
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
