//! Alerting through the real ingest path: rules from an alerts.yml in the
//! original monitoring design document's format, evaluated as points arrive
//! (durations judged by the points' own timestamps), alerts pushed to
//! WebSocket clients, kept across a restart, and closed by the API.

use std::time::Duration;

use p2pmon_common::wire::{EventRecord, HostType, Record, Severity};
use p2pmon_tests::aggregator::{
    TestAggregator, alerts_until, alerts_within, batch, metric, now_ms,
};
use serde_json::json;

const RULES: &str = "alerts:
  cpu_usage:
    warning: 80
    critical: 90
    duration: 300
  network_latency:
    warning: 150
    critical: 200
    duration: 60
events:
  hack_trade: { min_severity: warning }
";

#[tokio::test]
async fn a_threshold_held_for_its_duration_fires_on_arrival_and_survives_a_restart()
-> anyhow::Result<()> {
    let mut agg = TestAggregator::start_with_alerts(RULES).await?;
    let mut ws = agg.feed().await?;
    let cred = agg.host("host-a").await?;
    let now = now_ms();
    let minute = 60_000;

    // High for 4 minutes: pending, not yet an alert.
    let early: Vec<Record> = (0..5)
        .map(|i| metric("cpu_usage", 95.0, &[], now - 9 * minute + i * minute))
        .collect();
    agg.send(&cred, early).await?;
    let raised = alerts_until(&mut ws, "host-a", now - 5 * minute, Duration::from_secs(5)).await?;
    assert!(raised.is_empty(), "{raised:?}");
    let (_, active) = agg.api("/api/v1/alerts/active").await?;
    assert_eq!(active["alerts"], json!([]));

    // The point at 5 minutes completes the rule's 300 s: it fires as it is ingested.
    let late = vec![metric("cpu_usage", 96.0, &[], now - 4 * minute)];
    agg.send(&cred, late).await?;
    let fired = alerts_within(&mut ws, Duration::from_secs(2)).await?;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["change"], "fired");
    assert_eq!(fired[0]["severity"], "critical");
    assert_eq!(fired[0]["host"], "host-a");
    assert_eq!(fired[0]["type"], "performance");
    assert_eq!(fired[0]["threshold"], 90.0);
    let id = fired[0]["id"].as_i64().expect("id");

    // Still high after a restart: the same alert, no second one.
    agg.restart().await?;
    let mut ws = agg.feed().await?;
    let (_, active) = agg.api("/api/v1/alerts/active").await?;
    assert_eq!(
        active["alerts"].as_array().map(Vec::len),
        Some(1),
        "{active}"
    );
    assert_eq!(active["alerts"][0]["id"], id);
    let (status, _) = agg.hello(&cred.credential, HostType::P2p).await?;
    assert_eq!(status, reqwest::StatusCode::OK);
    let still_high = vec![metric("cpu_usage", 95.0, &[], now - 3 * minute)];
    agg.send(&cred, still_high).await?;
    let raised = alerts_until(&mut ws, "host-a", now - 3 * minute, Duration::from_secs(5)).await?;
    assert!(raised.is_empty(), "{raised:?}");

    // Down to warning, then back to normal: the same alert de-escalates and resolves.
    let lower = vec![metric("cpu_usage", 85.0, &[], now - 2 * minute)];
    agg.send(&cred, lower).await?;
    let normal = vec![metric("cpu_usage", 12.0, &[], now - minute)];
    agg.send(&cred, normal).await?;
    let changes = alerts_within(&mut ws, Duration::from_secs(2)).await?;
    let seen: Vec<(&str, i64)> = changes
        .iter()
        .map(|a| {
            (
                a["change"].as_str().unwrap_or(""),
                a["id"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(seen, [("deescalated", id), ("resolved", id)]);

    let (_, detail) = agg.api(&format!("/api/v1/alerts/{id}")).await?;
    let history: Vec<&str> = detail["history"]
        .as_array()
        .map(|h| h.iter().filter_map(|c| c["change"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(history, ["fired", "deescalated", "resolved"]);
    assert_eq!(detail["alert"]["status"], "resolved");
    let (_, active) = agg.api("/api/v1/alerts/active").await?;
    assert_eq!(active["alerts"], json!([]));
    Ok(())
}

fn hack(account: &str, at: u64) -> Record {
    Record::Event(EventRecord {
        plugin: "anticheat".to_string(),
        kind: "hack_trade".to_string(),
        severity: Severity::Critical,
        message: "a character tried to trade items it does not have".to_string(),
        fields: [("account_id".to_string(), account.to_string())].into(),
        timestamp_ms: at,
    })
}

#[tokio::test]
async fn security_events_raise_one_alert_per_host_until_an_admin_resolves_it() -> anyhow::Result<()>
{
    let agg = TestAggregator::start_with_alerts(RULES).await?;
    let cred = agg.enroll("host-a").await?;
    let now = now_ms();
    agg.post_batch(
        &cred,
        &batch(
            "host-a",
            "s",
            1,
            vec![hack("2000001", now), hack("2000002", now + 1)],
        ),
    )
    .await?;
    let (_, active) = agg.api("/api/v1/alerts/active").await?;
    let alerts = active["alerts"].as_array().cloned().unwrap_or_default();
    assert_eq!(alerts.len(), 1, "{active}");
    assert_eq!(alerts[0]["type"], "security");
    assert_eq!(alerts[0]["count"], 2);
    assert_eq!(alerts[0]["labels"]["account_id"], "2000002");
    let id = alerts[0]["id"].as_i64().expect("id");

    let url = agg.api_url(&format!("/api/v1/alerts/{id}"))?;
    let patch = |body: serde_json::Value| {
        reqwest::Client::new()
            .patch(url.clone())
            .bearer_auth(&agg.api_token)
            .json(&body)
            .send()
    };
    // An author that would forge a line in a log or a page is refused.
    let forged =
        patch(json!({"status": "acknowledged", "author": "gm\nERROR Host revoked"})).await?;
    assert_eq!(forged.status(), reqwest::StatusCode::BAD_REQUEST);
    let acked = patch(json!({"status": "acknowledged", "author": "gm_alice"})).await?;
    assert_eq!(acked.status(), reqwest::StatusCode::OK);
    let response = patch(json!({
        "status": "resolved",
        "resolution_notes": "account 2000002 banned",
        "author": "gm_bob"
    }))
    .await?;
    assert_eq!(response.status(), reqwest::StatusCode::OK);

    // The next one is a new alert.
    agg.post_batch(
        &cred,
        &batch("host-a", "s", 2, vec![hack("2000003", now + 2)]),
    )
    .await?;
    let (_, active) = agg.api("/api/v1/alerts/active").await?;
    assert_eq!(active["alerts"].as_array().map(Vec::len), Some(1));
    assert_ne!(active["alerts"][0]["id"], id);
    let (_, all) = agg.api("/api/v1/alerts?host=host-a").await?;
    assert_eq!(all["alerts"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        all["alerts"][1]["resolution_notes"],
        "account 2000002 banned"
    );
    assert_eq!(all["alerts"][1]["acknowledged_by"], "gm_alice");
    assert_eq!(all["alerts"][1]["resolved_by"], "gm_bob");
    assert_eq!(all["alerts"][0]["resolved_by"], serde_json::Value::Null);
    Ok(())
}

#[tokio::test]
async fn a_malformed_alerts_file_stops_start_up_naming_each_problem() -> anyhow::Result<()> {
    let rules = tempfile::tempdir()?;
    let path = rules.path().join("alerts.yml");
    std::fs::write(
        &path,
        "alerts:\n  cpu_usage: { warning: 95, critical: 90 }\n  memory_usage: { warning: high }\n",
    )?;
    let error =
        match TestAggregator::start_with(&format!("alerts_file: '{}'", path.display())).await {
            Ok(_) => anyhow::bail!("started with a malformed alerts.yml"),
            Err(error) => format!("{error:#}"),
        };
    assert!(
        error.contains("alerts.cpu_usage: warning 95 is past critical 90"),
        "{error}"
    );
    assert!(error.contains("alerts.memory_usage.warning"), "{error}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_alerts_runs_a_synthetic_alert_through_the_running_aggregator() -> anyhow::Result<()> {
    use p2pmon_tests::aggregator::AggregatorProcess;
    let dir = tempfile::tempdir()?;
    let binary = crate::bins::aggregator();
    let mut aggregator = AggregatorProcess::configure(&binary, dir.path(), "")?;

    // Nobody serving yet: the error says where it looked.
    let error = aggregator.command(&["test-alerts"]).expect_err("no server");
    assert!(error.to_string().contains("api.listen"), "{error}");

    tokio::task::block_in_place(|| aggregator.start())?;
    let token = aggregator.command(&["token", "create", "--api"])?;
    let url = format!("{}?token={token}", aggregator.ws_url());
    let mut ws = tokio_tungstenite::connect_async(url).await?.0;
    let output = tokio::task::block_in_place(|| aggregator.command(&["test-alerts"]))?;
    assert!(output.contains("fired     alert #1"), "{output}");
    assert!(output.contains("resolved  alert #1"), "{output}");
    let seen: Vec<String> = alerts_within(&mut ws, Duration::from_secs(2))
        .await?
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                a["rule"].as_str().unwrap_or(""),
                a["change"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(seen, ["test_alert fired", "test_alert resolved_by_admin"]);
    let conn = aggregator.db()?;
    let status: String =
        conn.query_row("SELECT status FROM alerts WHERE id = 1", [], |r| r.get(0))?;
    assert_eq!(status, "resolved");
    tokio::task::block_in_place(|| aggregator.stop())?;
    Ok(())
}

#[tokio::test]
async fn a_silent_host_raises_no_data_telling_a_down_agent_from_an_offline_host()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // A fast collection interval (200 ms) and 5 of them: silence after 1 s.
    std::fs::write(dir.path().join("alerts.yml"), "no_data: { intervals: 5 }\n")?;
    std::fs::write(
        dir.path().join("metrics.yml"),
        "collection:\n  interval: 200\n",
    )?;
    let agg = TestAggregator::start_with(&format!(
        "alerts_file: '{}'\nmetrics_file: '{}'",
        dir.path().join("alerts.yml").display(),
        dir.path().join("metrics.yml").display()
    ))
    .await?;
    let mut ws = agg.feed().await?;
    let a = agg.enroll("host-a").await?;
    let e = agg.enroll("host-e").await?;
    let peers = [
        ("host-b", agg.enroll("host-b").await?),
        ("host-c", agg.enroll("host-c").await?),
        ("host-d", agg.enroll("host-d").await?),
    ];
    for (cred, host) in [(&a, "host-a"), (&e, "host-e")] {
        let records = vec![metric("cpu_usage", 5.0, &[], now_ms())];
        agg.post_batch(cred, &batch(host, "s", 1, records)).await?;
    }
    // host-a and host-e go silent. host-b and host-c keep reporting and keep
    // reaching host-a: two witnesses, host-a's agent is down, not the
    // machine. host-e is probed by host-d alone, which says it is gone: one
    // host's word about another labels nothing.
    let mut fired = Vec::new();
    for seq in 1..=12 {
        for (i, (host, cred)) in peers.iter().enumerate() {
            let records = if i < 2 {
                vec![metric(
                    "packet_loss",
                    0.0,
                    &[("target", "host-a")],
                    now_ms(),
                )]
            } else {
                vec![metric(
                    "packet_loss",
                    100.0,
                    &[("target", "host-e")],
                    now_ms(),
                )]
            };
            agg.post_batch(cred, &batch(host, "s", seq, records))
                .await?;
        }
        fired.extend(alerts_within(&mut ws, Duration::from_millis(250)).await?);
        if fired.len() >= 2 {
            break;
        }
    }
    assert_eq!(fired.len(), 2, "{fired:?}");
    let lone = fired
        .iter()
        .find(|f| f["host"] == "host-e")
        .expect("host-e");
    assert_eq!(lone["labels"]["cause"], "unknown", "{lone}");
    fired.retain(|f| f["host"] == "host-a");
    assert_eq!(fired[0]["rule"], "no_data");
    assert_eq!(fired[0]["labels"]["cause"], "agent_down");
    assert_eq!(fired[0]["severity"], "critical");

    // host-a reports again: resolved within a second.
    agg.post_batch(
        &a,
        &batch(
            "host-a",
            "s",
            2,
            vec![metric("cpu_usage", 5.0, &[], now_ms())],
        ),
    )
    .await?;
    let resolved = alerts_within(&mut ws, Duration::from_millis(1500)).await?;
    assert!(
        resolved
            .iter()
            .any(|r| r["rule"] == "no_data" && r["change"] == "resolved"),
        "{resolved:?}"
    );
    Ok(())
}

/// The rules and channels in force, for the pages: thresholds as loaded,
/// channels without their secrets.
#[tokio::test]
async fn the_rules_in_force_are_listed_without_secrets() -> anyhow::Result<()> {
    let agg = p2pmon_tests::aggregator::TestAggregator::start_with_alerts(
        "alerts:\n  cpu_usage: { warning: 80, critical: 90, duration: 300 }\n\
         events:\n  hack_trade: { min_severity: warning, type: security }\n\
         notifications:\n  discord: { enabled: true, webhook_url: 'https://discord.example/api/webhooks/42/s3cr3t-t0ken' }\n",
    )
    .await?;
    let (status, rules) = agg.api("/api/v1/rules").await?;
    assert!(status.is_success(), "{rules}");
    let cpu = &rules["metric_rules"][0];
    assert_eq!(
        (
            &cpu["metric"],
            &cpu["warning"],
            &cpu["critical"],
            &cpu["duration_s"]
        ),
        (&"cpu_usage".into(), &80.0.into(), &90.0.into(), &300.into())
    );
    assert_eq!(rules["event_rules"][0]["kind"], "hack_trade");
    assert_eq!(rules["plugin_quarantined"]["enabled"], true);
    let discord = rules["channels"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["channel"] == "discord"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(discord["enabled"], true);
    assert_eq!(discord["target"], "discord.example");
    assert!(!rules.to_string().contains("s3cr3t"), "{rules}");
    Ok(())
}
