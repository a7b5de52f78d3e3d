//! The push channels (ntfy, Telegram, Pushover, Gotify, Teams workflows, a
//! signed webhook) through the real ingest path, each against a local
//! stand-in that checks what it is sent and answers as the service does:
//! - ntfy: binwiederhier/ntfy `server/server.go` and `server/errors.go`
//!   (JSON publish at the root, topic rule, priority 1-5, 4,096-byte
//!   messages, `{"code","http","error","link"}` errors, 429 without
//!   Retry-After);
//! - Telegram: the Bot API's `sendMessage` (token in the path, HTML parse
//!   mode's tags and entities, 4,096 characters, `{"ok":false,"error_code",
//!   "description","parameters":{"retry_after"}}` and a Retry-After header);
//! - Pushover: pushover.net/api (form fields, 1,024/250 characters, priority
//!   2 needs retry and expire, `{"status":0,"errors":[..]}`, 429 once the
//!   monthly quota is used, 5xx retried no sooner than 5 s);
//! - Gotify: gotify/server `api/message.go` and `auth/authentication.go`
//!   (`X-Gotify-Key` or `?token=`, `message` required, `{"error",
//!   "errorCode","errorDescription"}`);
//! - Teams: a workflow's "When a Teams webhook request is received" trigger
//!   (the `sig` query, a message with one Adaptive Card up to 1.4, 202);
//! - the webhook: a receiver verifying Standard Webhooks signatures.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use hmac::Mac as _;
use p2pmon_common::wire::{EventRecord, Record, Severity};
use p2pmon_tests::aggregator::{TestAggregator, metric, now_ms};
use p2pmon_tests::fake_http::{FakeHttp, Reply, Seen, wait_for};

const BOT: &str = "123456:AAtest-token_x";
const CHAT: &str = "-1001234567890";
const NTFY_TOKEN: &str = "tk_ntfySECRETtoken";
const PUSHOVER_APP: &str = "azGDORePK8gMaC0QOYAMyEEuzJnyUi";
const PUSHOVER_USER: &str = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG";
const GOTIFY_TOKEN: &str = "AvKcy9o-SECRET";
const TEAMS_SIG: &str = "teamsSECRETsig";
/// `whsec_` and the base64 of 32 bytes.
const HOOK_SECRET: &str = "whsec_c2VjcmV0LWtleS1vZi10aGlydHktdHdvLWJ5dGVzISE=";
const LURE: &str = "<!channel> @everyone <b>bold</b> & [log in](https://evil.example)";

fn json_reply(status: u16, body: serde_json::Value) -> Reply {
    Reply::body(status, &body.to_string()).header("content-type", "application/json")
}

/// ntfy's JSON publish: the first request is rate limited.
fn ntfy(seen: &Seen, nth: usize) -> Reply {
    let error = |http: u16, code: u32, text: &str| {
        json_reply(
            http,
            serde_json::json!({ "code": code, "http": http, "error": text, "link": "https://ntfy.sh/docs/publish/" }),
        )
    };
    if seen.header("authorization") != format!("Bearer {NTFY_TOKEN}") {
        return error(401, 40101, "unauthorized");
    }
    if seen.body.len() > 8192 {
        return error(413, 41303, "JSON body too large");
    }
    let body = seen.json();
    let topic = body["topic"].as_str().unwrap_or_default();
    if topic.is_empty()
        || topic.len() > 64
        || !topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return error(400, 40009, "invalid topic");
    }
    if !body["priority"]
        .as_i64()
        .is_some_and(|p| (1..=5).contains(&p))
    {
        return error(400, 40007, "invalid priority parameter");
    }
    if body["message"].as_str().unwrap_or_default().len() > 4096 {
        return error(400, 40014, "attachments not allowed");
    }
    if nth == 1 {
        return error(429, 42901, "limit reached: too many requests");
    }
    json_reply(
        200,
        serde_json::json!({ "id": "sPs71M8A2T", "time": 1, "event": "message", "topic": topic, "message": body["message"] }),
    )
}

/// Text as Telegram's HTML parse mode reads it: the tags it knows, the four
/// named entities; anything else refused as the Bot API does.
fn telegram_visible(text: &str) -> Result<String, String> {
    let mut visible = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            let end = rest
                .find('>')
                .ok_or("can't parse entities: unclosed start tag")?;
            let tag = rest[1..end].trim_start_matches('/');
            if !["b", "i", "u", "s", "code", "pre"].contains(&tag) {
                return Err(format!(
                    "can't parse entities: Unsupported start tag \"{tag}\""
                ));
            }
            rest = &rest[end + 1..];
        } else if c == '&' {
            let (entity, shown) = [
                ("&amp;", '&'),
                ("&lt;", '<'),
                ("&gt;", '>'),
                ("&quot;", '"'),
            ]
            .into_iter()
            .find(|(e, _)| rest.starts_with(e))
            .ok_or("can't parse entities: unsupported entity")?;
            visible.push(shown);
            rest = &rest[entity.len()..];
        } else {
            visible.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    Ok(visible)
}

/// The Bot API's sendMessage: rate limited once.
fn telegram(seen: &Seen, nth: usize) -> Reply {
    let error = |code: u16, description: &str| {
        json_reply(
            code,
            serde_json::json!({ "ok": false, "error_code": code, "description": description }),
        )
    };
    if seen.path != format!("/tg/bot{BOT}/sendMessage") {
        return error(401, "Unauthorized");
    }
    let body = seen.json();
    if body["chat_id"] != CHAT {
        return error(400, "Bad Request: chat not found");
    }
    if body["parse_mode"] != "HTML" {
        return error(400, "Bad Request: unsupported parse_mode");
    }
    let visible = match telegram_visible(body["text"].as_str().unwrap_or_default()) {
        Ok(visible) => visible,
        Err(why) => return error(400, &format!("Bad Request: {why}")),
    };
    if visible.chars().count() > 4096 {
        return error(400, "Bad Request: message is too long");
    }
    if nth == 1 {
        return json_reply(
            429,
            serde_json::json!({ "ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": { "retry_after": 1 } }),
        )
        .header("retry-after", "1");
    }
    json_reply(
        200,
        serde_json::json!({ "ok": true, "result": { "message_id": nth, "chat": { "id": -1001234567890_i64 }, "text": visible } }),
    )
}

fn form(body: &str) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

/// Pushover's messages API; `first` answers the first request (a 500, or a
/// 429 once the monthly quota is used).
fn pushover(seen: &Seen, nth: usize, first: u16) -> Reply {
    let refuse = |field: &str, why: &str| {
        json_reply(
            400,
            serde_json::json!({ field: "invalid", "errors": [why], "status": 0, "request": "5042853c" }),
        )
    };
    let fields = form(&seen.body);
    let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or_default();
    if get("token") != PUSHOVER_APP {
        return refuse("token", "application token is invalid");
    }
    if get("user") != PUSHOVER_USER {
        return refuse("user", "user identifier is invalid");
    }
    let message = get("message");
    if message.is_empty() || message.chars().count() > 1024 {
        return refuse(
            "message",
            "message cannot be blank or longer than 1024 characters",
        );
    }
    if get("title").chars().count() > 250 {
        return refuse("title", "title is too long");
    }
    match get("priority").parse::<i32>() {
        Ok(2) if !fields.contains_key("retry") || !fields.contains_key("expire") => {
            return refuse("expire", "expire must be supplied with priority=2");
        }
        Ok(-2..=2) => {}
        _ => return refuse("priority", "priority is invalid"),
    }
    if nth == 1 {
        return match first {
            429 => json_reply(
                429,
                serde_json::json!({ "errors": ["application has exceeded its monthly message limit"], "status": 0, "request": "5042853d" }),
            ),
            status => Reply::status(status),
        };
    }
    json_reply(
        200,
        serde_json::json!({ "status": 1, "request": "647d2300" }),
    )
}

/// Gotify's POST /message: its database fails once (500).
fn gotify(seen: &Seen, nth: usize) -> Reply {
    let token = form(&seen.query).get("token").cloned();
    let token = token.unwrap_or_else(|| seen.header("x-gotify-key").to_string());
    if token != GOTIFY_TOKEN {
        return json_reply(
            401,
            serde_json::json!({ "error": "Unauthorized", "errorCode": 401, "errorDescription": "you need to provide a valid access token or user credentials to access this api" }),
        );
    }
    let body = seen.json();
    if body["message"].as_str().unwrap_or_default().is_empty() {
        return json_reply(
            400,
            serde_json::json!({ "error": "Bad Request", "errorCode": 400, "errorDescription": "Field 'message' is required" }),
        );
    }
    if nth == 1 {
        return json_reply(
            500,
            serde_json::json!({ "error": "Internal Server Error", "errorCode": 500, "errorDescription": "database is locked" }),
        );
    }
    json_reply(
        200,
        serde_json::json!({ "id": 1, "appid": 1, "message": body["message"], "title": body["title"], "priority": body["priority"] }),
    )
}

/// A Teams workflow trigger: throttled once, then 202.
fn teams(seen: &Seen, nth: usize) -> Reply {
    if form(&seen.query).get("sig").is_none_or(|s| s != TEAMS_SIG) {
        return json_reply(
            401,
            serde_json::json!({ "error": { "code": "DirectApiAuthorizationRequired", "message": "The request must be authenticated." } }),
        );
    }
    let body = seen.json();
    let card = &body["attachments"][0];
    let version = card["content"]["version"].as_str().unwrap_or_default();
    let fits = body["type"] == "message"
        && card["contentType"] == "application/vnd.microsoft.card.adaptive"
        && card["content"]["type"] == "AdaptiveCard"
        && ["1.0", "1.1", "1.2", "1.3", "1.4"].contains(&version)
        && seen.body.len() <= 28 * 1024;
    if !fits {
        return json_reply(
            400,
            serde_json::json!({ "error": { "code": "InvalidRequestContent", "message": "The card could not be read." } }),
        );
    }
    if nth == 1 {
        return Reply::status(429).header("retry-after", "1");
    }
    Reply::status(202)
}

/// What a receiver of Standard Webhooks checks: a `v1` signature over
/// `id.timestamp.body` under the decoded secret, and a timestamp within
/// five minutes.
fn verified(seen: &Seen) -> Result<(), String> {
    let id = seen.header("webhook-id");
    let timestamp = seen.header("webhook-timestamp");
    let stamp: i64 = timestamp.parse().map_err(|_| "no timestamp")?;
    if (now_ms() as i64 / 1000 - stamp).abs() > 300 {
        return Err(format!("timestamp {stamp} outside the tolerance"));
    }
    let key = base64::engine::general_purpose::STANDARD
        .decode(HOOK_SECRET.trim_start_matches("whsec_"))
        .map_err(|e| e.to_string())?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(format!("{id}.{timestamp}.{}", seen.body).as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let offered = seen.header("webhook-signature");
    if offered
        .split(' ')
        .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
    {
        Ok(())
    } else {
        Err(format!("signature {offered} does not verify"))
    }
}

/// The signed webhook's receiver: down once (503), then verifying.
fn receiver(seen: &Seen, nth: usize) -> Reply {
    if let Err(why) = verified(seen) {
        return Reply::body(401, &why);
    }
    if nth == 1 {
        return Reply::status(503);
    }
    Reply::status(204)
}

/// The six stand-ins on one port; `pushover_first` is Pushover's first answer.
async fn services(pushover_first: u16) -> anyhow::Result<FakeHttp> {
    FakeHttp::judging(move |seen, nth| match seen.path.as_str() {
        "/ntfy/" => ntfy(seen, nth),
        path if path.starts_with("/tg/") => telegram(seen, nth),
        "/pushover/1/messages.json" => pushover(seen, nth, pushover_first),
        "/gotify/message" => gotify(seen, nth),
        "/workflows/abc123/triggers/manual/paths/invoke" => teams(seen, nth),
        "/hook" => receiver(seen, nth),
        _ => Reply::status(404),
    })
    .await
}

fn channels(base: &str, bot: &str, gotify_token: &str) -> String {
    format!(
        "  ntfy: {{ enabled: true, url: '{base}/ntfy', topic: p2pmon-alerts, token: '{NTFY_TOKEN}' }}
  telegram: {{ enabled: true, api_url: '{base}/tg', bot_token: '{bot}', chat_id: '{CHAT}' }}
  pushover: {{ enabled: true, url: '{base}/pushover/1/messages.json', token: '{PUSHOVER_APP}', user: '{PUSHOVER_USER}' }}
  gotify: {{ enabled: true, url: '{base}/gotify', token: '{gotify_token}' }}
  teams: {{ enabled: true, webhook_url: '{base}/workflows/abc123/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={TEAMS_SIG}' }}
  webhook: {{ enabled: true, url: '{base}/hook', secret: '{HOOK_SECRET}' }}
  max_attempts: 3
  retry_base_ms: 100
"
    )
}

const PATHS: [(&str, &str); 6] = [
    ("ntfy", "/ntfy/"),
    ("telegram", "/tg/bot123456:AAtest-token_x/sendMessage"),
    ("pushover", "/pushover/1/messages.json"),
    ("gotify", "/gotify/message"),
    ("teams", "/workflows/abc123/triggers/manual/paths/invoke"),
    ("webhook", "/hook"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_push_channel_delivers_as_its_service_expects() -> anyhow::Result<()> {
    let received = services(500).await?;
    let agg = TestAggregator::start_with_alerts(&format!(
        "events:\n  security_event: {{ min_severity: warning, type: security }}\nnotifications:\n{}",
        channels(&received.base, BOT, GOTIFY_TOKEN)
    ))
    .await?;
    let host = agg.host("mallory").await?;
    let event = Record::Event(EventRecord {
        plugin: "anticheat".to_string(),
        kind: "security_event".to_string(),
        severity: Severity::Critical,
        message: format!("{LURE}\u{1b}[2J\u{202E}gnp.exe"),
        fields: BTreeMap::new(),
        timestamp_ms: now_ms(),
    });
    agg.send_ok(&host, vec![event]).await?;

    // Each service refused or failed the first attempt (429, 500, 503) and
    // took the second; Pushover's came 5 s or more after its 500.
    for (channel, path) in PATHS {
        wait_for(channel, || received.on(path).len() >= 2).await?;
    }
    wait_for("the counts", || {
        PATHS
            .iter()
            .all(|(channel, _)| agg.channel_counts(channel) == (1, 0, 1))
    })
    .await
    .map_err(|e| {
        let counts: Vec<_> = PATHS
            .iter()
            .map(|(c, _)| (c, agg.channel_counts(c)))
            .collect();
        anyhow::anyhow!("{e}: {counts:?}")
    })?;
    let pushover = received.on("/pushover/1/messages.json");
    let gap = pushover[1].at - pushover[0].at;
    assert!(
        gap >= Duration::from_secs(5),
        "Pushover retried after {gap:?}"
    );
    let telegram = received.on(&format!("/tg/bot{BOT}/sendMessage"));
    let gap = telegram[1].at - telegram[0].at;
    assert!(
        gap >= Duration::from_millis(900),
        "Telegram's retry_after ignored: {gap:?}"
    );

    let title = "[CRITICAL] security_event on mallory";
    let ntfy = received.on("/ntfy/")[1].json();
    assert_eq!(ntfy["title"], title, "{ntfy}");
    assert_eq!(ntfy["priority"], 5, "{ntfy}");
    assert_eq!(ntfy["tags"], serde_json::json!(["rotating_light"]));
    let sent = telegram[1].json();
    let text = sent["text"].as_str().unwrap_or_default();
    assert!(text.starts_with(&format!("<b>{title}</b>\n")), "{text}");
    assert!(text.contains("&lt;b&gt;bold&lt;/b&gt; &amp;"), "{text}");
    assert_eq!(sent["disable_notification"], false);
    let fields = form(&pushover[1].body);
    assert_eq!(fields["priority"], "1", "{fields:?}");
    assert_eq!(fields["title"], title);
    let gotify = received.on("/gotify/message")[1].json();
    assert_eq!(gotify["priority"], 8, "{gotify}");
    let teams = received.on(PATHS[4].1)[1].json();
    let card = &teams["attachments"][0]["content"]["body"];
    assert_eq!(card[0]["color"], "Attention", "{card}");
    assert!(
        card[1]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("\\[log in\\]\\(https://evil.example\\)"),
        "{card}"
    );
    // Nothing a host wrote clears a screen or reverses text on a phone.
    for (channel, path) in PATHS {
        for seen in received.on(path) {
            let body = seen.json().to_string();
            assert!(
                !body.contains("\\u001b") && !body.contains('\u{202E}') || channel == "webhook",
                "{channel}: {body}"
            );
        }
    }

    // The webhook: both attempts one id, each signed for its own moment.
    let hooks = received.on("/hook");
    assert_eq!(hooks[0].header("webhook-id"), hooks[1].header("webhook-id"));
    for seen in &hooks {
        verified(seen).map_err(anyhow::Error::msg)?;
    }
    let body = hooks[1].json();
    assert_eq!(body["type"], "alert.fired", "{body}");
    assert_eq!(body["alerts"][0]["host"], "mallory");
    assert_eq!(body["alerts"][0]["severity"], "critical");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_not_retried_and_resolutions_go_quietly() -> anyhow::Result<()> {
    // A revoked bot token, a wrong Gotify token, Pushover's quota used up.
    let received = services(429).await?;
    let agg = TestAggregator::start_with_alerts(&format!(
        "alerts:\n  cpu_usage: {{ warning: 80, critical: 90, duration: 0 }}\nnotifications:\n{}",
        channels(&received.base, "999:revoked", "wrong-token")
    ))
    .await?;
    let host = agg.host("host-a").await?;
    agg.send_ok(&host, vec![metric("cpu_usage", 85.0, &[], now_ms())])
        .await?;
    wait_for("the refusals", || {
        ["telegram", "gotify", "pushover"]
            .iter()
            .all(|c| agg.channel_counts(c) == (0, 1, 0))
    })
    .await?;
    assert_eq!(
        received.on("/tg/bot999:revoked/sendMessage").len(),
        1,
        "a 401 is final"
    );
    assert_eq!(received.on("/gotify/message").len(), 1, "a 401 is final");
    assert_eq!(
        received.on("/pushover/1/messages.json").len(),
        1,
        "Pushover's 429 means the month's quota is gone"
    );

    // A warning: ntfy's priority 4; resolved: 3, with the check mark.
    wait_for("ntfy", || received.on("/ntfy/").len() == 2).await?;
    assert_eq!(received.on("/ntfy/")[1].json()["priority"], 4);
    agg.send_ok(&host, vec![metric("cpu_usage", 10.0, &[], now_ms())])
        .await?;
    wait_for("ntfy resolved", || received.on("/ntfy/").len() == 3).await?;
    let resolved = received.on("/ntfy/")[2].json();
    assert_eq!(resolved["title"], "[RESOLVED] cpu_usage on host-a");
    assert_eq!(resolved["priority"], 3);
    assert_eq!(resolved["tags"], serde_json::json!(["white_check_mark"]));
    wait_for("webhook resolved", || {
        received
            .on("/hook")
            .iter()
            .any(|s| s.json()["type"] == "alert.resolved")
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn test_notifications_reaches_the_push_channels() -> anyhow::Result<()> {
    let received = services(500).await?;
    let output = crate::notifications::test_notifications(&format!(
        "notifications:\n{}",
        channels(&received.base, BOT, "wrong-token")
    ))
    .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !output.status.success(),
        "a failed channel fails the command"
    );
    for channel in ["ntfy", "telegram", "pushover", "teams", "webhook"] {
        assert!(
            stdout.contains(&format!("{channel:<8} ok")),
            "{channel}: {stdout}"
        );
    }
    assert!(
        stdout.contains("gotify   FAILED: refused with 401"),
        "{stdout}"
    );
    for secret in [
        NTFY_TOKEN,
        BOT,
        PUSHOVER_APP,
        TEAMS_SIG,
        HOOK_SECRET,
        "wrong-token",
    ] {
        let all = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
        assert!(!all.contains(secret), "{secret} shown: {all}");
    }
    Ok(())
}
