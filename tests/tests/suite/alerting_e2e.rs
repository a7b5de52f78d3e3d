//! Alerting end to end, with every channel at once: the shipped cpu_usage
//! rule (warning 80, critical 90, 300 s) on one host goes warning, critical,
//! resolved, and each message reaches the real SMTP server, the Discord and
//! Slack receivers and WebSocket clients exactly once. Discord answers the
//! first message with a 429 and that delays Discord alone. A silenced host
//! reaches no channel; an oscillating metric makes a handful of messages,
//! not a flood; an alert left firing is reminded.

use std::time::{Duration, Instant};

use p2pmon_tests::aggregator::{Feed, TestAggregator, alerts_within, batch, metric, now_ms};
use p2pmon_tests::fake_http::{FakeHttp, Reply, wait_for};
use p2pmon_tests::smtp::{received, smtp_server};
use serde_json::Value;

/// Discord rate-limits its first message for 2 s; everything else is taken.
async fn webhooks() -> anyhow::Result<FakeHttp> {
    FakeHttp::start(|path, nth| match path {
        "/discord" if nth == 1 => Reply::body(
            429,
            r#"{"message": "You are being rate limited.", "retry_after": 2.0, "global": false}"#,
        ),
        _ => Reply::status(204),
    })
    .await
}

fn rules(smtp_port: u16, ca: &std::path::Path, hooks: &str) -> String {
    format!(
        "alerts:
  cpu_usage:
    warning: 80
    critical: 90
    duration: 300
    recovery: {{ warning: 70, critical: 85 }}
  memory_usage: {{ warning: 80, duration: 0 }}
flap: {{ window: 600, max_fires: 3 }}
notifications:
  email:
    enabled: true
    recipients: [admin@yourserver.com]
    from: alerts@yourserver.com
    smtp: {{ host: 127.0.0.1, port: {smtp_port}, security: starttls, username: alerts, password: pw, ca_file: '{ca}' }}
  discord: {{ enabled: true, webhook_url: '{hooks}/discord' }}
  slack: {{ enabled: true, webhook_url: '{hooks}/slack' }}
  retry_base_ms: 100
",
        ca = ca.display()
    )
}

/// Titles as each channel received them, in order.
fn discord_titles(hooks: &FakeHttp) -> Vec<String> {
    hooks
        .on("/discord")
        .iter()
        .filter(|s| s.body.contains("embeds"))
        .map(|s| {
            s.json()["embeds"][0]["title"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// Discord titles, counting only delivered requests (the 429 is not).
fn delivered_discord(hooks: &FakeHttp) -> Vec<String> {
    let mut titles = discord_titles(hooks);
    if !titles.is_empty() {
        titles.remove(0); // the first attempt got the 429; its retry follows
    }
    titles
}

fn slack_titles(hooks: &FakeHttp) -> Vec<String> {
    hooks
        .on("/slack")
        .iter()
        .map(|s| s.json()["text"].as_str().unwrap_or("").to_string())
        .collect()
}

fn email_subjects(store: &std::path::Path) -> Vec<String> {
    received(store)
        .iter()
        .filter_map(|(text, _)| {
            text.lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .map(str::to_string)
        })
        .collect()
}

/// (host, change, severity) of the alert messages received within `wait`.
async fn ws_alerts(ws: &mut Feed, wait: Duration) -> anyhow::Result<Vec<(String, String, String)>> {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    Ok(alerts_within(ws, wait)
        .await?
        .iter()
        .map(|a| (text(&a["host"]), text(&a["change"]), text(&a["severity"])))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warning_critical_resolved_reach_every_channel_exactly_once() -> anyhow::Result<()> {
    let smtp = smtp_server("pw")?;
    let hooks = webhooks().await?;
    let agg = TestAggregator::start_with_alerts(&rules(smtp.port, &smtp.cert, &hooks.base)).await?;
    let mut ws = agg.feed().await?;
    let http = reqwest::Client::new();
    let silenced = http
        .post(agg.api_url("/api/v1/silences")?)
        .bearer_auth(&agg.api_token)
        .json(&serde_json::json!({
            "host": "host-b", "ends_ms": now_ms() + 3_600_000, "author": "admin", "comment": "maintenance",
        }))
        .send()
        .await?;
    assert_eq!(silenced.status(), reqwest::StatusCode::OK);
    let a = agg.enroll("host-a").await?;
    let b = agg.enroll("host-b").await?;

    // Both hosts: 85 % for 300 s (warning), 95 % for 300 s (critical), then 60 % (resolved).
    let t0 = now_ms() - 3_600_000;
    let steps: [(u64, f64); 5] = [
        (0, 85.0),
        (300, 85.0),
        (310, 95.0),
        (610, 95.0),
        (620, 60.0),
    ];
    let expected = [
        "[WARNING] cpu_usage on host-a",
        "[CRITICAL] cpu_usage on host-a",
        "[RESOLVED] cpu_usage on host-a",
    ];
    let mut seq = 0;
    let mut sent_at = Vec::new();
    for (offset, value) in steps {
        seq += 1;
        sent_at.push(Instant::now());
        for (host, cred) in [("host-a", &a), ("host-b", &b)] {
            let point = metric("cpu_usage", value, &[], t0 + offset * 1000);
            agg.post_batch(cred, &batch(host, "s", seq, vec![point]))
                .await?;
        }
        if offset == 300 {
            // The warning reaches email and Slack within a second, while
            // Discord waits out its 429 (2 s) on its own.
            wait_for("warning on slack and email", || {
                slack_titles(&hooks).len() == 1 && email_subjects(smtp.store.path()).len() == 1
            })
            .await?;
            let fast = sent_at[1].elapsed();
            assert!(fast < Duration::from_millis(1500), "{fast:?}");
            assert!(delivered_discord(&hooks).is_empty());
            wait_for("warning on discord", || {
                delivered_discord(&hooks).len() == 1
            })
            .await?;
            let discord = hooks.on("/discord");
            let waited = discord[1].at - discord[0].at;
            assert!(waited >= Duration::from_secs(2), "{waited:?}");
        }
    }
    wait_for("three messages on every channel", || {
        slack_titles(&hooks).len() >= 3
            && delivered_discord(&hooks).len() >= 3
            && email_subjects(smtp.store.path()).len() >= 3
    })
    .await?;
    let feed = ws_alerts(&mut ws, Duration::from_secs(2)).await?;
    // Exactly once: nothing more arrives.
    assert_eq!(slack_titles(&hooks), expected);
    assert_eq!(delivered_discord(&hooks), expected);
    assert_eq!(email_subjects(smtp.store.path()), expected);
    let host_a: Vec<(&str, &str)> = feed
        .iter()
        .filter(|(h, ..)| h == "host-a")
        .map(|(_, c, s)| (c.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        host_a,
        [
            ("fired", "warning"),
            ("escalated", "critical"),
            ("resolved", "critical")
        ]
    );
    // The silenced host: the same alerts on the feed, no message anywhere.
    assert_eq!(feed.iter().filter(|(h, ..)| h == "host-b").count(), 3);
    let everything = format!(
        "{:?} {:?} {:?}",
        discord_titles(&hooks),
        slack_titles(&hooks),
        email_subjects(smtp.store.path())
    );
    assert!(!everything.contains("host-b"), "{everything}");

    // Oscillation around memory_usage's threshold, 20 times: three fires,
    // then it stays one open alert (flap damping), not 20 messages.
    for i in 0..20u64 {
        seq += 1;
        let value = if i % 2 == 0 { 95.0 } else { 10.0 };
        let point = metric("memory_usage", value, &[], t0 + 700_000 + i * 10_000);
        agg.post_batch(&a, &batch("host-a", "s", seq, vec![point]))
            .await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let memory: Vec<String> = slack_titles(&hooks)
        .into_iter()
        .filter(|t| t.contains("memory_usage"))
        .collect();
    assert_eq!(
        memory,
        [
            "[WARNING] memory_usage on host-a",
            "[RESOLVED] memory_usage on host-a",
            "[WARNING] memory_usage on host-a",
            "[RESOLVED] memory_usage on host-a",
            "[WARNING] memory_usage on host-a",
        ]
    );
    Ok(())
}

#[tokio::test]
async fn an_alert_left_firing_is_reminded_until_acknowledged() -> anyhow::Result<()> {
    let hooks = webhooks().await?;
    let agg = TestAggregator::start_with_alerts(&format!(
        "alerts:\n  cpu_usage: {{ warning: 80, duration: 0 }}\nnotifications:\n  slack: {{ enabled: true, webhook_url: '{}/slack' }}\n  repeat_interval: 60\n",
        hooks.base
    ))
    .await?;
    let cred = agg.host("host-a").await?;
    agg.gauge(&cred, "cpu_usage", 97.0).await?;
    wait_for("the alert on slack", || slack_titles(&hooks).len() == 1).await?;
    let (_, active) = agg.api("/api/v1/alerts/active").await?;
    let id = active["alerts"][0]["id"].as_i64().expect("alert id");
    // A minute later (as the aggregator's clock sees it): one reminder.
    let alerting = &agg.server.as_ref().expect("running").shared.alerting;
    let now = now_ms() as i64;
    alerting.remind(now + 30_000);
    alerting.remind(now + 61_000);
    alerting.remind(now + 62_000);
    wait_for("the reminder on slack", || slack_titles(&hooks).len() == 2).await?;
    assert_eq!(slack_titles(&hooks)[1], "[REMINDER] cpu_usage on host-a");
    // Acknowledged: no more reminders.
    let acked = reqwest::Client::new()
        .patch(agg.api_url(&format!("/api/v1/alerts/{id}"))?)
        .bearer_auth(&agg.api_token)
        .json(&serde_json::json!({"status": "acknowledged"}))
        .send()
        .await?;
    assert_eq!(acked.status(), reqwest::StatusCode::OK);
    alerting.remind(now + 200_000);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(slack_titles(&hooks).len(), 2);
    Ok(())
}
