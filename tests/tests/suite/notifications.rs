//! Alert notifications to Discord, Slack and an SMS gateway, tested against
//! a local HTTP server that answers like them (429 with retry_after, 5xx,
//! 4xx, a channel that hangs), through the real ingest path.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use p2pmon_tests::aggregator::{TestAggregator, batch, metric, now_ms};
use p2pmon_tests::fake_http::{FakeHttp, Reply, wait_for};
use p2pmon_tests::wait::eventually;

/// Discord rate-limits once (retry_after in the body, seconds), "flaky"
/// fails twice with 502, "bad" refuses, "hang" never answers in time.
async fn fake_services() -> anyhow::Result<FakeHttp> {
    FakeHttp::start(|path, nth| match path {
        "/discord" if nth == 1 => Reply::body(
            429,
            r#"{"message": "You are being rate limited.", "retry_after": 0.4, "global": false}"#,
        )
        .header("retry-after", "5"),
        "/flaky" if nth <= 2 => Reply::status(502),
        "/bad" => Reply::body(400, "unknown webhook"),
        "/hang" => Reply::status(200).after(Duration::from_secs(60)),
        "/sms" => Reply::body(201, r#"{"sid": "SM1"}"#),
        _ => Reply::status(204),
    })
    .await
}

fn rules(base: &str, discord: &str, slack: &str) -> String {
    format!(
        "alerts:
  cpu_usage: {{ warning: 80, critical: 90, duration: 0 }}
notifications:
  discord: {{ enabled: true, webhook_url: '{base}/{discord}' }}
  slack: {{ enabled: true, webhook_url: '{base}/{slack}' }}
  sms:
    enabled: true
    url: '{base}/sms'
    account_sid: AC123
    auth_token: secret-token
    from: '+15550100'
    to: ['+15550199', '+15550198']
  max_attempts: 4
  retry_base_ms: 100
  timeout_ms: 30000
"
    )
}

#[tokio::test]
async fn each_channel_gets_the_alert_once_and_a_hung_channel_delays_nobody() -> anyhow::Result<()> {
    let received = fake_services().await?;
    let base = &received.base;
    let agg = TestAggregator::start_with_alerts(&rules(base, "discord", "hang")).await?;
    let cred = agg.host("host-a").await?;
    let sent_at = Instant::now();
    agg.gauge(&cred, "cpu_usage", 97.0).await?;

    // Discord: a 429, then the retry after the 0.4 s the body asked for
    // (not the header's 5 s), and it is delivered.
    wait_for("discord delivery", || received.on("/discord").len() == 2).await?;
    let discord = received.on("/discord");
    let gap = discord[1].at - discord[0].at;
    assert!(
        gap >= Duration::from_millis(400) && gap < Duration::from_secs(4),
        "{gap:?}"
    );
    let embed: serde_json::Value = serde_json::from_str(&discord[1].body)?;
    assert_eq!(
        embed["embeds"][0]["title"],
        "[CRITICAL] cpu_usage on host-a"
    );
    assert_eq!(embed["embeds"][0]["color"], 0xE74C3C);
    // SMS: one message per number, Basic auth, form-encoded, critical only.
    wait_for("sms delivery", || received.on("/sms").len() == 2).await?;
    let sms = received.on("/sms");
    assert!(
        sms[0].body.contains("To=%2B15550199") && sms[0].body.contains("From=%2B15550100"),
        "{}",
        sms[0].body
    );
    assert!(
        sms[0]
            .body
            .contains("Body=p2pmon+%5BCRITICAL%5D+cpu_usage+on+host-a"),
        "{}",
        sms[0].body
    );
    let auth = sms[0].header("authorization");
    assert!(auth.starts_with("Basic "), "{auth}");
    // Slack hangs; the others did not wait for it.
    assert!(sent_at.elapsed() < Duration::from_secs(10));
    assert_eq!(received.on("/hang").len(), 1);

    // No second notification while the alert stays open: a channel sends in
    // order, so Discord's third message being the resolution (below) says
    // the point at 98 sent nothing there; SMS is counted at the end.
    agg.gauge(&cred, "cpu_usage", 98.0).await?;

    // Resolved: Discord hears it (green); SMS (critical only, firing only) does not.
    agg.gauge(&cred, "cpu_usage", 10.0).await?;
    wait_for("resolved on discord", || received.on("/discord").len() >= 3).await?;
    assert_eq!(received.on("/discord").len(), 3);
    let resolved: serde_json::Value = serde_json::from_str(&received.on("/discord")[2].body)?;
    assert_eq!(
        resolved["embeds"][0]["title"],
        "[RESOLVED] cpu_usage on host-a"
    );
    assert_eq!(resolved["embeds"][0]["color"], 0x2ECC71);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(received.on("/sms").len(), 2);
    Ok(())
}

#[tokio::test]
async fn server_errors_are_retried_and_other_refusals_are_not() -> anyhow::Result<()> {
    let received = fake_services().await?;
    let base = &received.base;
    let agg = TestAggregator::start_with_alerts(&rules(base, "bad", "flaky")).await?;
    let cred = agg.host("host-a").await?;
    // A warning: Discord and Slack want it, SMS (critical only) does not.
    agg.gauge(&cred, "cpu_usage", 85.0).await?;
    wait_for("slack after two 502s", || received.on("/flaky").len() == 3).await?;
    let body: serde_json::Value = serde_json::from_str(&received.on("/flaky")[2].body)?;
    assert_eq!(body["text"], "[WARNING] cpu_usage on host-a");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(received.on("/bad").len(), 1, "a 400 is not retried");
    assert!(received.on("/sms").is_empty(), "warnings do not go by SMS");
    assert_eq!(agg.channel_counts("slack"), (1, 0, 2));
    assert_eq!(agg.channel_counts("discord"), (0, 1, 0));
    Ok(())
}

/// Everything this test binary logs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut all) = self.0.lock() {
            all.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn webhook_secrets_stay_out_of_logs_and_answers() -> anyhow::Result<()> {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .try_init()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Nothing listens on port 9: the delivery fails, and is logged.
    let secret = "T0PSECRET-webhook-token";
    let agg = TestAggregator::start_with_alerts(&format!(
        "alerts:\n  cpu_usage: {{ warning: 80, duration: 0 }}\nnotifications:\n  discord: {{ enabled: true, webhook_url: 'http://127.0.0.1:9/api/webhooks/1/{secret}' }}\n  max_attempts: 2\n  retry_base_ms: 50\n"
    ))
    .await?;
    let cred = agg.host("host-a").await?;
    agg.gauge(&cred, "cpu_usage", 97.0).await?;
    let text = || {
        String::from_utf8_lossy(&captured.0.lock().map(|b| b.clone()).unwrap_or_default())
            .into_owned()
    };
    wait_for("the failed delivery in the log", || {
        text().contains("Notification not delivered")
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}: {}", text()))?;
    assert!(text().contains("not reachable"), "{}", text());
    assert!(
        !text().contains(secret),
        "the webhook token leaked into the log:\n{}",
        text()
    );
    for path in ["/api/v1/health", "/api/v1/alerts/active", "/api/v1/alerts"] {
        let (_, body) = agg.api(path).await?;
        assert!(!body.to_string().contains(secret), "{path}: {body}");
    }
    Ok(())
}

/// `p2pmon-aggregator test-notifications` with `alerts` as its alerts.yml,
/// off the test's runtime thread (the stand-ins answer meanwhile).
pub async fn test_notifications(alerts: &str) -> anyhow::Result<std::process::Output> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("alerts.yml"), alerts)?;
    let config = p2pmon_tests::aggregator::write_config(dir.path(), "alerts_file: alerts.yml")?;
    let binary = crate::bins::aggregator();
    Ok(tokio::task::spawn_blocking(move || {
        std::process::Command::new(binary)
            .args(["test-notifications", "--config"])
            .arg(&config)
            .output()
    })
    .await??)
}

#[tokio::test]
async fn test_notifications_reports_each_channel() -> anyhow::Result<()> {
    let received = fake_services().await?;
    let base = &received.base;
    let output = test_notifications(&format!(
        "notifications:\n  discord: {{ enabled: true, webhook_url: '{base}/ok' }}\n  slack: {{ enabled: true, webhook_url: '{base}/bad' }}\n  max_attempts: 1\n"
    ))
    .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !output.status.success(),
        "a failed channel fails the command"
    );
    assert!(stdout.contains("discord  ok"), "{stdout}");
    assert!(
        stdout.contains("slack    FAILED: refused with 400"),
        "{stdout}"
    );
    let sent: serde_json::Value = serde_json::from_str(&received.on("/ok")[0].body)?;
    assert_eq!(
        sent["embeds"][0]["title"],
        "[CRITICAL] test_notification on p2pmon-aggregator"
    );
    Ok(())
}

#[tokio::test]
async fn a_silence_keeps_channels_quiet_but_the_alert_visible() -> anyhow::Result<()> {
    let received = fake_services().await?;
    let base = &received.base;
    let agg = TestAggregator::start_with_alerts(&format!(
        "alerts:\n  cpu_usage: {{ warning: 80, duration: 0 }}\nnotifications:\n  discord: {{ enabled: true, webhook_url: '{base}/ok' }}\n"
    ))
    .await?;
    let http = reqwest::Client::new();
    let silence: serde_json::Value = http
        .post(agg.api_url("/api/v1/silences")?)
        .bearer_auth(&agg.api_token)
        .json(&serde_json::json!({
            "host": "host-a",
            "ends_ms": now_ms() + 3_600_000,
            "author": "admin",
            "comment": "disk replacement",
        }))
        .send()
        .await?
        .json()
        .await?;
    let id = silence["silence"]["id"].as_i64().expect("silence id");
    let a = agg.enroll("host-a").await?;
    let b = agg.enroll("host-b").await?;
    agg.post_batch(
        &a,
        &batch(
            "host-a",
            "s",
            1,
            vec![metric("cpu_usage", 95.0, &[], now_ms())],
        ),
    )
    .await?;
    agg.post_batch(
        &b,
        &batch(
            "host-b",
            "s",
            1,
            vec![metric("cpu_usage", 95.0, &[], now_ms())],
        ),
    )
    .await?;
    wait_for("host-b on discord", || received.on("/ok").len() == 1).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = received.on("/ok");
    assert_eq!(sent.len(), 1, "host-a is silenced");
    assert!(sent[0].body.contains("host-b"), "{}", sent[0].body);
    let (_, active) = agg.api("/api/v1/alerts/active").await?;
    assert_eq!(
        active["alerts"].as_array().map(Vec::len),
        Some(2),
        "silenced alerts still show"
    );

    // Ended early: host-a's next alert is sent.
    let ended = http
        .delete(agg.api_url(&format!("/api/v1/silences/{id}"))?)
        .bearer_auth(&agg.api_token)
        .send()
        .await?;
    assert_eq!(ended.status(), reqwest::StatusCode::OK);
    agg.post_batch(
        &a,
        &batch(
            "host-a",
            "s",
            2,
            vec![metric("cpu_usage", 10.0, &[], now_ms())],
        ),
    )
    .await?;
    wait_for("host-a resolved on discord", || {
        received.on("/ok").len() == 2
    })
    .await?;
    assert!(
        received.on("/ok")[1]
            .body
            .contains("[RESOLVED] cpu_usage on host-a")
    );
    Ok(())
}

/// Forwarding to an existing Alertmanager: Debian's prometheus-alertmanager
/// on loopback gets the alert through its v2 API while it fires (labels
/// alertname, host, severity, type; an end a few minutes ahead, renewed
/// every minute), and sees it end when it resolves.
#[tokio::test]
async fn alerts_are_forwarded_to_a_real_alertmanager() -> anyhow::Result<()> {
    use anyhow::Context;
    let dir = tempfile::tempdir()?;
    let port = p2pmon_tests::aggregator::free_port()?;
    std::fs::write(
        dir.path().join("alertmanager.yml"),
        "route: { receiver: quiet }\nreceivers:\n  - name: quiet\n",
    )?;
    let mut alertmanager = std::process::Command::new("prometheus-alertmanager")
        .arg(format!(
            "--config.file={}",
            dir.path().join("alertmanager.yml").display()
        ))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("prometheus-alertmanager is not installed: run `make test-deps`")?;
    let base = format!("http://127.0.0.1:{port}");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(20), async || {
        let ready = http.get(format!("{base}/-/ready")).send().await?;
        anyhow::ensure!(
            ready.status().is_success(),
            "Alertmanager not ready: {}",
            ready.status()
        );
        Ok(())
    })
    .await
    .context("Alertmanager did not start")?;
    let result = async {
        let agg = TestAggregator::start_with_alerts(&format!(
            "alerts:\n  cpu_usage: {{ warning: 80, critical: 95, duration: 0 }}\n\
             notifications:\n  alertmanager: {{ enabled: true, url: '{base}' }}\n  group_wait_ms: 0\n"
        ))
        .await?;
        let cred = agg.enroll("host-a").await?;
        let send = |seq: u64, cpu: f64| batch("host-a", "s", seq, vec![metric("cpu_usage", cpu, &[], now_ms())]);
        agg.post_batch(&cred, &send(1, 91.0)).await?;
        let active = |http: reqwest::Client, base: String| async move {
            let alerts: Vec<serde_json::Value> = http
                .get(format!("{base}/api/v2/alerts?active=true&silenced=false&inhibited=false"))
                .send()
                .await?
                .json()
                .await?;
            anyhow::Ok(alerts)
        };
        let alert = eventually(Duration::from_secs(10), async || {
            let alerts = active(http.clone(), base.clone()).await?;
            alerts
                .into_iter()
                .find(|a| a["labels"]["alertname"] == "cpu_usage")
                .context("the alert never reached Alertmanager")
        })
        .await?;
        assert_eq!(alert["labels"]["host"], "host-a", "{alert}");
        assert_eq!(alert["labels"]["severity"], "warning", "{alert}");
        assert_eq!(alert["labels"]["type"], "performance", "{alert}");
        assert_eq!(alert["status"]["state"], "active", "{alert}");
        assert!(alert["annotations"]["summary"].as_str().unwrap_or("").contains("cpu_usage"));

        agg.post_batch(&cred, &send(2, 10.0)).await?;
        eventually(Duration::from_secs(10), async || {
            let alerts = active(http.clone(), base.clone()).await?;
            anyhow::ensure!(
                !alerts.iter().any(|a| a["labels"]["alertname"] == "cpu_usage"),
                "the alert did not end in Alertmanager"
            );
            Ok(())
        })
        .await?;
        let sent = agg.channel_counts("alertmanager").0;
        assert!(sent >= 2, "fired and resolved: {sent} sent");
        anyhow::Ok(())
    }
    .await;
    let _ = alertmanager.kill();
    let _ = alertmanager.wait();
    result
}
