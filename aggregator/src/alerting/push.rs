//! The push channels: ntfy, Telegram, Pushover, Gotify, Microsoft Teams
//! (workflow webhooks) and a generic signed webhook. Each is a section of
//! `notifications:` in alerts.yml with the same `enabled`, `min_severity`
//! and `send_resolved` as the other channels, and is delivered by
//! [`super::notify`] with the same grouping, retries and 429 handling.
//!
//! ```yaml
//! notifications:
//!   ntfy:     { enabled: true, url: https://ntfy.sh, topic: p2pmon-alerts, token: tk_... }
//!   telegram: { enabled: true, bot_token: "123456:ABC...", chat_id: "-1001234567890" }
//!   pushover: { enabled: true, token: a..., user: u... }
//!   gotify:   { enabled: true, url: https://gotify.example.org, token: A... }
//!   teams:    { enabled: true, webhook_url: https://....logic.azure.com/workflows/.../invoke?...&sig=... }
//!   webhook:  { enabled: true, url: https://hooks.example.org/p2pmon, secret: whsec_... }
//! ```
//!
//! What each service is sent follows its own API documentation (cited on
//! each builder below). Tokens, keys, secrets and the URLs that carry them
//! are secrets: `Debug` shows only whether they are set, summaries show the
//! host, and delivery errors never carry a URL (see [`super::retry`]).

use std::time::Duration;

use base64::Engine as _;
use hmac::Mac as _;
use p2pmon_common::yaml_config::Findings;
use serde::Deserialize;
use serde_json::json;

use super::engine::{Change, Level, Transition};
use super::message::{self, Rendered};
use super::retry::On429;

/// One message about a group of transitions, as every channel renders it.
pub struct Outgoing<'a> {
    pub rendered: &'a Rendered,
    pub group: &'a [Transition],
    /// Wall clock of this attempt (ms): the signed webhook's timestamp.
    pub now_ms: i64,
}

impl Outgoing<'_> {
    fn first(&self) -> Option<&Transition> {
        self.group.first()
    }

    /// What kind of news this is, for priorities and icons.
    fn tone(&self) -> Tone {
        match self.first() {
            Some(t) if matches!(t.change, Change::Resolved | Change::ResolvedByAdmin) => {
                Tone::Resolved
            }
            Some(t) if t.alert.severity == Level::Critical => Tone::Critical,
            _ => Tone::Warning,
        }
    }

    /// The title, with what could disguise it escaped (see [`message::plain`]).
    fn title(&self) -> String {
        message::plain(&self.rendered.title)
    }

    /// The text and the fields as `name: value` lines under it (see
    /// [`message::plain`]).
    fn plain_body(&self) -> String {
        let mut body = self.rendered.text.clone();
        for (name, value) in message::fields(self.group) {
            body.push_str(&format!("\n{name}: {value}"));
        }
        message::plain(&body)
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Tone {
    Critical,
    Warning,
    Resolved,
}

/// A push channel's part of the delivery: checked at load, summarised for
/// the rules-in-force answer, reached by `check-health`, and turned into
/// HTTP requests (one per message; retried by the caller).
pub trait Push: Send + Sync {
    fn name(&self) -> &'static str;
    fn enabled(&self) -> bool;
    fn min_severity(&self) -> Level;
    fn send_resolved(&self) -> bool;
    /// Problems, named by field (never quoting a secret).
    fn validate(&self, findings: &mut Findings);
    /// Where messages go, without secrets (the host, a topic, a chat).
    fn summary(&self) -> String;
    /// The URL `check-health` connects to.
    fn endpoint(&self) -> String;
    /// The shortest wait between two attempts the service asks for.
    fn min_backoff(&self) -> Duration {
        Duration::ZERO
    }
    /// What the service's 429 means.
    fn on_429(&self) -> On429 {
        On429::Wait
    }
    fn requests(
        &self,
        client: &reqwest::Client,
        message: &Outgoing<'_>,
    ) -> Vec<reqwest::RequestBuilder>;
}

/// A token, key or secret URL from alerts.yml: `Debug` shows only whether
/// it is set.
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "<secret>"
        })
    }
}

/// The host of `url`, or nothing (summaries show no path or query: they
/// may hold a secret).
pub fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default()
}

/// Problems name the field, never the URL (it may hold a secret).
pub fn check_url(field: &str, text: &str, findings: &mut Findings) {
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
        Ok(_) => findings.error(field, "must be an http:// or https:// URL"),
        Err(_) if text.is_empty() => findings.error(field, "is empty but the channel is enabled"),
        Err(_) => findings.error(field, "is not a URL"),
    }
}

fn require(field: &str, value: &str, what: &str, findings: &mut Findings) {
    if value.trim().is_empty() {
        findings.error(field, format!("an enabled channel needs {what}"));
    }
}

/// At most `max` characters, the last one an ellipsis when cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// At most `max` bytes of UTF-8, cut at a character boundary.
fn clip_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn warning() -> Level {
    Level::Warning
}

/// The three settings every channel has, read from its section.
macro_rules! delivery {
    ($name:literal) => {
        fn name(&self) -> &'static str {
            $name
        }
        fn enabled(&self) -> bool {
            self.enabled
        }
        fn min_severity(&self) -> Level {
            self.min_severity
        }
        fn send_resolved(&self) -> bool {
            self.send_resolved
        }
    };
}

/// ntfy (ntfy.sh or a self-hosted server): a JSON publish to the server's
/// root URL with the topic in the body (ntfy docs, "Publish as JSON");
/// a token as `Authorization: Bearer` for protected topics.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NtfyConfig {
    pub enabled: bool,
    pub min_severity: Level,
    pub send_resolved: bool,
    /// The server, e.g. `https://ntfy.sh`.
    pub url: String,
    pub topic: String,
    /// An access token (`tk_...`); empty for an open topic.
    pub token: Secret,
}

impl Default for NtfyConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            min_severity: warning(),
            send_resolved: true,
            url: "https://ntfy.sh".to_string(),
            topic: String::new(),
            token: Secret::default(),
        }
    }
}

/// ntfy's own rule for topic names.
fn valid_topic(topic: &str) -> bool {
    (1..=64).contains(&topic.len())
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Push for NtfyConfig {
    delivery!("ntfy");

    fn validate(&self, findings: &mut Findings) {
        check_url("notifications.ntfy.url", &self.url, findings);
        if !valid_topic(&self.topic) {
            findings.error(
                "notifications.ntfy.topic",
                "must be 1 to 64 letters, digits, '-' or '_'",
            );
        }
    }

    fn summary(&self) -> String {
        format!("topic {} on {}", self.topic, host_of(&self.url))
    }

    fn endpoint(&self) -> String {
        self.url.clone()
    }

    fn requests(&self, client: &reqwest::Client, m: &Outgoing<'_>) -> Vec<reqwest::RequestBuilder> {
        // ntfy priorities: 5 max, 4 high, 3 default; tags that are emoji
        // short codes show as the emoji.
        let (priority, tag) = match m.tone() {
            Tone::Critical => (5, "rotating_light"),
            Tone::Warning => (4, "warning"),
            Tone::Resolved => (3, "white_check_mark"),
        };
        let body = json!({
            "topic": self.topic,
            "title": clip(&m.title(), 250),
            // Longer messages would become an attachment.
            "message": clip_bytes(&m.plain_body(), 4096),
            "priority": priority,
            "tags": [tag],
        });
        // JSON goes to the server's root (a path there is a topic name).
        let root = format!("{}/", self.url.trim_end_matches('/'));
        let request = client.post(root).json(&body);
        vec![if self.token.is_empty() {
            request
        } else {
            request.bearer_auth(self.token.expose())
        }]
    }
}

/// Telegram: the Bot API's `sendMessage` (core.telegram.org/bots/api),
/// HTML parse mode with `<`, `>` and `&` as entities, so nothing a host
/// reports becomes markup; resolutions arrive silently.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelegramConfig {
    pub enabled: bool,
    pub min_severity: Level,
    pub send_resolved: bool,
    /// The token @BotFather gave (`123456:ABC...`); it is part of the URL.
    pub bot_token: Secret,
    /// A user, group (`-100...`) or `@channelname`.
    pub chat_id: String,
    pub api_url: String,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            min_severity: warning(),
            send_resolved: true,
            bot_token: Secret::default(),
            chat_id: String::new(),
            api_url: "https://api.telegram.org".to_string(),
        }
    }
}

impl Push for TelegramConfig {
    delivery!("telegram");

    fn validate(&self, findings: &mut Findings) {
        check_url("notifications.telegram.api_url", &self.api_url, findings);
        // A bot token is `<bot id>:<secret>`; anything else would change the URL's path.
        let token = self.bot_token.expose();
        let valid = token.split_once(':').is_some_and(|(id, key)| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
        if !valid {
            findings.error(
                "notifications.telegram.bot_token",
                "must be the token @BotFather gave (digits, ':', then letters, digits, '_' or '-')",
            );
        }
        require(
            "notifications.telegram.chat_id",
            &self.chat_id,
            "a chat id",
            findings,
        );
    }

    fn summary(&self) -> String {
        format!("chat {} via {}", self.chat_id, host_of(&self.api_url))
    }

    fn endpoint(&self) -> String {
        self.api_url.clone()
    }

    fn requests(&self, client: &reqwest::Client, m: &Outgoing<'_>) -> Vec<reqwest::RequestBuilder> {
        // 4096 characters after entities are parsed: clip before escaping.
        let title = clip(&m.title(), 256);
        let body = clip(&m.plain_body(), 4096 - 1 - title.chars().count());
        let text = format!(
            "<b>{}</b>\n{}",
            message::entity_escape(&title),
            message::entity_escape(&body)
        );
        let url = format!(
            "{}/bot{}/sendMessage",
            self.api_url.trim_end_matches('/'),
            self.bot_token.expose()
        );
        vec![client.post(url).json(&json!({
            "chat_id": self.chat_id,
            "text": text,
            "parse_mode": "HTML",
            "link_preview_options": { "is_disabled": true },
            "disable_notification": m.tone() == Tone::Resolved,
        }))]
    }
}

/// Pushover: `POST /1/messages.json` with the application token and the
/// user (or group) key as form fields (pushover.net/api). Its rules for
/// clients: a 4xx (429 included: the monthly quota is used up) is not
/// retried, a 5xx or no answer at most every 5 s.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushoverConfig {
    pub enabled: bool,
    pub min_severity: Level,
    pub send_resolved: bool,
    /// The application's API token.
    pub token: Secret,
    /// The user or group key.
    pub user: Secret,
    pub url: String,
}

impl Default for PushoverConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            min_severity: warning(),
            send_resolved: true,
            token: Secret::default(),
            user: Secret::default(),
            url: "https://api.pushover.net/1/messages.json".to_string(),
        }
    }
}

impl Push for PushoverConfig {
    delivery!("pushover");

    fn validate(&self, findings: &mut Findings) {
        check_url("notifications.pushover.url", &self.url, findings);
        require(
            "notifications.pushover.token",
            self.token.expose(),
            "an application token",
            findings,
        );
        require(
            "notifications.pushover.user",
            self.user.expose(),
            "a user or group key",
            findings,
        );
    }

    fn summary(&self) -> String {
        format!("a user key via {}", host_of(&self.url))
    }

    fn endpoint(&self) -> String {
        self.url.clone()
    }

    fn min_backoff(&self) -> Duration {
        Duration::from_secs(5)
    }

    /// Pushover answers 429 once the application's monthly quota is used.
    fn on_429(&self) -> On429 {
        On429::Refuse
    }

    fn requests(&self, client: &reqwest::Client, m: &Outgoing<'_>) -> Vec<reqwest::RequestBuilder> {
        // 1 high (bypasses quiet hours), 0 normal, -1 quiet. 2 (emergency)
        // would repeat until acknowledged in Pushover: not used.
        let priority = match m.tone() {
            Tone::Critical => "1",
            Tone::Warning => "0",
            Tone::Resolved => "-1",
        };
        let at = m.first().map_or(m.now_ms, |t| t.alert.updated_ms) / 1000;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", self.token.expose())
            .append_pair("user", self.user.expose())
            .append_pair("title", &clip(&m.title(), 250))
            .append_pair("message", &clip(&m.plain_body(), 1024))
            .append_pair("priority", priority)
            .append_pair("timestamp", &at.to_string())
            .finish();
        vec![
            client
                .post(&self.url)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(form),
        ]
    }
}

/// Gotify: `POST /message` with an application token in `X-Gotify-Key`
/// (gotify.net/docs/pushmsg), shown as plain text by its clients.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GotifyConfig {
    pub enabled: bool,
    pub min_severity: Level,
    pub send_resolved: bool,
    /// The server, e.g. `https://gotify.example.org`.
    pub url: String,
    /// An application token.
    pub token: Secret,
}

impl Default for GotifyConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            min_severity: warning(),
            send_resolved: true,
            url: String::new(),
            token: Secret::default(),
        }
    }
}

impl Push for GotifyConfig {
    delivery!("gotify");

    fn validate(&self, findings: &mut Findings) {
        check_url("notifications.gotify.url", &self.url, findings);
        require(
            "notifications.gotify.token",
            self.token.expose(),
            "an application token",
            findings,
        );
    }

    fn summary(&self) -> String {
        host_of(&self.url)
    }

    fn endpoint(&self) -> String {
        self.url.clone()
    }

    fn requests(&self, client: &reqwest::Client, m: &Outgoing<'_>) -> Vec<reqwest::RequestBuilder> {
        // Gotify's Android app: 8 and up a loud notification, 4-7 a sound,
        // 1-3 silent.
        let priority = match m.tone() {
            Tone::Critical => 8,
            Tone::Warning => 5,
            Tone::Resolved => 2,
        };
        let body = json!({
            "title": m.title(),
            "message": m.plain_body(),
            "priority": priority,
            "extras": { "client::display": { "contentType": "text/plain" } },
        });
        vec![
            client
                .post(format!("{}/message", self.url.trim_end_matches('/')))
                .header("X-Gotify-Key", self.token.expose())
                .json(&body),
        ]
    }
}

/// Microsoft Teams through a Workflows webhook ("When a Teams webhook
/// request is received", the successor of the Office 365 connectors): a
/// message with one Adaptive Card. The URL's `sig` is its secret.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TeamsConfig {
    pub enabled: bool,
    pub min_severity: Level,
    pub send_resolved: bool,
    pub webhook_url: Secret,
}

impl Default for TeamsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            min_severity: warning(),
            send_resolved: true,
            webhook_url: Secret::default(),
        }
    }
}

impl Push for TeamsConfig {
    delivery!("teams");

    fn validate(&self, findings: &mut Findings) {
        check_url(
            "notifications.teams.webhook_url",
            self.webhook_url.expose(),
            findings,
        );
    }

    fn summary(&self) -> String {
        host_of(self.webhook_url.expose())
    }

    fn endpoint(&self) -> String {
        self.webhook_url.expose().to_string()
    }

    fn requests(&self, client: &reqwest::Client, m: &Outgoing<'_>) -> Vec<reqwest::RequestBuilder> {
        let colour = match m.tone() {
            Tone::Critical => "Attention",
            Tone::Warning => "Warning",
            Tone::Resolved => "Good",
        };
        let facts: Vec<serde_json::Value> = message::fields(m.group)
            .into_iter()
            .map(|(name, value)| json!({ "title": name, "value": message::card_escape(&value) }))
            .collect();
        let card = json!({
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                { "type": "TextBlock", "text": message::card_escape(&m.rendered.title), "weight": "Bolder",
                  "size": "Medium", "color": colour, "wrap": true },
                { "type": "TextBlock", "text": message::card_escape(&m.rendered.text), "wrap": true },
                { "type": "FactSet", "facts": facts },
            ],
        });
        let body = json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": card,
            }],
        });
        vec![client.post(self.webhook_url.expose()).json(&body)]
    }
}

/// Any HTTP endpoint: a JSON body (`type`, `title`, `text`, `alerts` as the
/// API shows them), signed as the Standard Webhooks specification says:
/// `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature:
/// v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed by the secret
/// (`whsec_` and base64, or any other text as its UTF-8 bytes).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignedWebhookConfig {
    pub enabled: bool,
    pub min_severity: Level,
    pub send_resolved: bool,
    pub url: Secret,
    pub secret: Secret,
}

impl Default for SignedWebhookConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            min_severity: warning(),
            send_resolved: true,
            url: Secret::default(),
            secret: Secret::default(),
        }
    }
}

/// The shortest key accepted (the specification asks for 24 to 64 bytes).
const MIN_KEY_BYTES: usize = 16;

/// Why a webhook secret cannot sign.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum KeyError {
    #[error("is empty but the channel is enabled")]
    Empty,
    #[error("starts with whsec_ but the rest is not base64")]
    NotBase64,
    #[error("is shorter than {MIN_KEY_BYTES} bytes")]
    Short,
}

/// The HMAC key a secret stands for.
pub fn signing_key(secret: &str) -> Result<Vec<u8>, KeyError> {
    if secret.is_empty() {
        return Err(KeyError::Empty);
    }
    let key = match secret.strip_prefix("whsec_") {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| KeyError::NotBase64)?,
        None => secret.as_bytes().to_vec(),
    };
    if key.len() < MIN_KEY_BYTES {
        return Err(KeyError::Short);
    }
    Ok(key)
}

/// `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` under `key`.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag)
    )
}

impl Push for SignedWebhookConfig {
    delivery!("webhook");

    fn validate(&self, findings: &mut Findings) {
        check_url("notifications.webhook.url", self.url.expose(), findings);
        if let Err(error) = signing_key(self.secret.expose()) {
            findings.error("notifications.webhook.secret", error.to_string());
        }
    }

    fn summary(&self) -> String {
        host_of(self.url.expose())
    }

    fn endpoint(&self) -> String {
        self.url.expose().to_string()
    }

    fn requests(&self, client: &reqwest::Client, m: &Outgoing<'_>) -> Vec<reqwest::RequestBuilder> {
        let Some(first) = m.first() else {
            return Vec::new();
        };
        let change = serde_json::to_value(first.change).unwrap_or_default();
        let change = change.as_str().unwrap_or("changed");
        let alerts: Vec<&super::engine::Alert> = m.group.iter().map(|t| &t.alert).collect();
        let body = json!({
            "type": format!("alert.{change}"),
            "title": m.rendered.title,
            "text": m.rendered.text,
            "alerts": alerts,
        });
        let body = serde_json::to_vec(&body).unwrap_or_default();
        // The same id on every attempt of one message: receivers drop repeats.
        let id = format!(
            "p2pmon-{}-{change}-{}",
            first.alert.id, first.alert.updated_ms
        );
        let timestamp = m.now_ms / 1000;
        // A key that does not decode was refused at load.
        let key = signing_key(self.secret.expose()).unwrap_or_default();
        vec![
            client
                .post(self.url.expose())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("webhook-id", &id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature(&key, &id, timestamp, &body))
                .body(body),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_reference_vector() {
        // The test vector of the Standard Webhooks reference libraries.
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_or_default();
        assert_eq!(
            signature(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(signing_key(""), Err(KeyError::Empty));
        assert_eq!(signing_key("whsec_not base64!"), Err(KeyError::NotBase64));
        assert_eq!(signing_key("short"), Err(KeyError::Short));
        assert_eq!(
            signing_key("a plain secret of some length"),
            Ok(b"a plain secret of some length".to_vec())
        );
    }

    #[test]
    fn clipping_keeps_limits_and_characters_whole() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 3), "abc");
        let long = "é".repeat(3000);
        let cut = clip_bytes(&long, 4096);
        assert!(cut.len() <= 4096 && cut.ends_with('…'), "{}", cut.len());
        assert_eq!(clip_bytes("short", 4096), "short");
    }

    fn problems(yaml: &str, section: fn(&str) -> Box<dyn Push>) -> String {
        let mut findings = Findings::default();
        section(yaml).validate(&mut findings);
        format!("{findings:?}")
    }

    #[test]
    fn sections_refuse_what_would_misdirect_a_message() {
        let ntfy = |y: &str| -> Box<dyn Push> {
            Box::new(serde_yaml::from_str::<NtfyConfig>(y).unwrap_or_default())
        };
        let bad_topic = problems("{ enabled: true, topic: 'alerts/../admin' }", ntfy);
        assert!(
            bad_topic.contains("notifications.ntfy.topic"),
            "{bad_topic}"
        );
        assert!(!problems("{ enabled: true, topic: p2pmon-alerts }", ntfy).contains("topic"));
        let telegram = |y: &str| -> Box<dyn Push> {
            Box::new(serde_yaml::from_str::<TelegramConfig>(y).unwrap_or_default())
        };
        // A token with a path in it would send the message somewhere else.
        let bad_token = problems(
            "{ enabled: true, bot_token: '1:abc/../../other', chat_id: '5' }",
            telegram,
        );
        assert!(bad_token.contains("bot_token"), "{bad_token}");
        assert!(
            !bad_token.contains("abc"),
            "a problem quotes the secret: {bad_token}"
        );
        let fine = problems(
            "{ enabled: true, bot_token: '123456:AA-bb_CC', chat_id: '-100123' }",
            telegram,
        );
        assert!(!fine.contains("notifications"), "{fine}");
        let webhook = |y: &str| -> Box<dyn Push> {
            Box::new(serde_yaml::from_str::<SignedWebhookConfig>(y).unwrap_or_default())
        };
        let unsigned = problems("{ enabled: true, url: 'https://h.example/x' }", webhook);
        assert!(
            unsigned.contains("notifications.webhook.secret"),
            "{unsigned}"
        );
        let unknown: Result<GotifyConfig, _> = serde_yaml::from_str("{ enabled: true, tokn: x }");
        assert!(unknown.is_err(), "a misspelt key is refused");
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let config: PushoverConfig =
            serde_yaml::from_str("{ enabled: true, token: tok-SECRET, user: usr-SECRET }")
                .unwrap_or_default();
        let shown = format!("{config:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("<secret>"), "{shown}");
    }
}
