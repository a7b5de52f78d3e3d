//! Automatic actions against a local HTTP server that answers like a
//! coordinator: anti-cheat events become security alerts that quarantine
//! the host, in dry run and for real; a silent host is failed over and
//! overloaded hosts are drained where the coordinator has routes for them
//! (the reference coordinator has none: there they are audited as
//! unsupported and nothing is called); the guards (rate limit per action,
//! cap on hosts per window) hold, and every decision is audited.

use std::time::Duration;

use p2pmon_common::wire::{EventRecord, Record, Severity};
use p2pmon_tests::aggregator::{TestAggregator, batch, metric, now_ms};
use p2pmon_tests::fake_http::{FakeHttp, Reply, wait_for};
use p2pmon_tests::wait::eventually;
use serde_json::Value;

fn cheat(kind: &str, account: &str, at: u64) -> Record {
    Record::Event(EventRecord {
        plugin: "anticheat".to_string(),
        kind: kind.to_string(),
        severity: Severity::Critical,
        message: format!("{kind} by account {account}"),
        fields: [("account_id".to_string(), account.to_string())].into(),
        timestamp_ms: at,
    })
}

/// The event rules the anti-cheat plugin's kinds need, and `actions`.
fn rules(actions: &str) -> String {
    format!(
        "alerts:
  cpu_usage: {{ warning: 80, critical: 90, duration: 0 }}
events:
  hack_trade: {{ min_severity: warning, type: security }}
  failed_login_burst: {{ min_severity: warning, type: security }}
actions:
{actions}"
    )
}

/// A coordinator that answers 503 once per path, then 200.
async fn coordinator() -> anyhow::Result<FakeHttp> {
    FakeHttp::start(|_, nth| {
        if nth == 1 {
            Reply::status(503)
        } else {
            Reply::body(200, r#"{"status": "ok"}"#)
        }
    })
    .await
}

fn coordinator_config(fake: &FakeHttp) -> String {
    format!(
        "coordinator: {{ url: '{}', token: coordinator-secret, timeout_ms: 2000 }}",
        fake.base
    )
}

/// The audit log once it holds `count` entries (oldest first).
async fn audit(agg: &TestAggregator, count: usize) -> anyhow::Result<Vec<Value>> {
    eventually(Duration::from_secs(15), async || {
        let (_, body) = agg.api("/api/v1/actions").await?;
        let mut entries = body["actions"].as_array().cloned().unwrap_or_default();
        anyhow::ensure!(
            entries.len() >= count,
            "audit log: {entries:?}, wanted {count} entries"
        );
        entries.reverse();
        Ok(entries)
    })
    .await
}

#[tokio::test]
async fn a_dry_run_audits_the_quarantine_and_calls_nothing() -> anyhow::Result<()> {
    let fake = coordinator().await?;
    let agg = TestAggregator::start_with_alerts_and(
        &rules("  dry_run: true\n  quarantine: { enabled: true }\n"),
        &coordinator_config(&fake),
    )
    .await?;
    let cred = agg.host("host-a").await?;
    agg.send(&cred, vec![cheat("hack_trade", "2000001", now_ms())])
        .await?;
    let entries = audit(&agg, 1).await?;
    assert_eq!(entries[0]["action"], "quarantine");
    assert_eq!(entries[0]["outcome"], "dry_run");
    assert_eq!(entries[0]["dry_run"], true);
    assert_eq!(entries[0]["host"], "host-a");
    assert_eq!(
        entries[0]["detail"],
        "would call DELETE /api/v1/hosts/host-a"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Only the registry polls reach the coordinator.
    let calls: Vec<_> = fake
        .all()
        .into_iter()
        .filter(|s| s.method != "GET")
        .collect();
    assert!(calls.is_empty(), "a dry run calls nothing: {calls:?}");
    Ok(())
}

#[tokio::test]
async fn a_real_quarantine_calls_the_coordinator_once_with_its_token() -> anyhow::Result<()> {
    let fake = coordinator().await?;
    let agg = TestAggregator::start_with_alerts_and(
        &rules("  dry_run: false\n  quarantine: { enabled: true }\n"),
        &coordinator_config(&fake),
    )
    .await?;
    let cred = agg.enroll("host-a").await?;
    let now = now_ms();
    agg.post_batch(
        &cred,
        &batch("host-a", "s", 1, vec![cheat("hack_trade", "2000001", now)]),
    )
    .await?;
    let entries = audit(&agg, 1).await?;
    assert_eq!(entries[0]["outcome"], "done", "{entries:?}");
    assert_eq!(entries[0]["dry_run"], false);
    // The 503 was retried; both attempts carry the same idempotency key.
    let calls = fake.on("/api/v1/hosts/host-a");
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[1].method, "DELETE");
    assert_eq!(calls[1].header("x-api-key"), "coordinator-secret");
    assert_eq!(
        calls[0].header("idempotency-key"),
        calls[1].header("idempotency-key")
    );
    let body = calls[1].json();
    assert_eq!(body["host_id"], "host-a");
    assert_eq!(body["action"], "quarantine");
    assert_eq!(body["alert"]["type"], "security");
    assert_eq!(body["alert"]["severity"], "critical");

    // More events count into the open alert: no second call.
    agg.post_batch(
        &cred,
        &batch(
            "host-a",
            "s",
            2,
            vec![cheat("hack_trade", "2000002", now + 1)],
        ),
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fake.on("/api/v1/hosts/host-a").len(), 2);
    assert_eq!(audit(&agg, 1).await?.len(), 1);
    // The token never shows in the audit log.
    let (_, log) = agg.api("/api/v1/actions").await?;
    assert!(!log.to_string().contains("coordinator-secret"), "{log}");
    Ok(())
}

#[tokio::test]
async fn guards_cap_the_hosts_per_window_and_rate_limit_each_action() -> anyhow::Result<()> {
    let fake = FakeHttp::start(|_, _| Reply::status(200)).await?;
    let agg = TestAggregator::start_with_alerts_and(
        &rules(
            "  dry_run: false
  max_hosts: 2
  window: 3600
  quarantine: { enabled: true }
  load_balance: { enabled: true, rate_limit: { max: 1, per: 600 }, path: '/api/v1/pool/{host}/drain' }
",
        ),
        &coordinator_config(&fake),
    )
    .await?;
    let now = now_ms();
    let mut creds = Vec::new();
    for host in ["host-a", "host-b", "host-c"] {
        creds.push((host, agg.enroll(host).await?));
    }
    for (i, (host, cred)) in creds.iter().enumerate() {
        let event = cheat("failed_login_burst", "2000001", now + i as u64);
        agg.post_batch(cred, &batch(host, "s", 1, vec![event]))
            .await?;
        audit(&agg, i + 1).await?;
    }
    // host-a again (already counted in the window), then host-b.
    for (host, cred) in &creds[..2] {
        let cpu = metric("cpu_usage", 97.0, &[], now + 10);
        agg.post_batch(cred, &batch(host, "s", 2, vec![cpu]))
            .await?;
    }
    let entries = audit(&agg, 5).await?;
    let summary: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("").to_string(),
                e["host"].as_str().unwrap_or("").to_string(),
                e["outcome"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let expected = [
        ("quarantine", "host-a", "done"),
        ("quarantine", "host-b", "done"),
        ("quarantine", "host-c", "host_cap"),
        ("load_balance", "host-a", "done"),
        ("load_balance", "host-b", "rate_limited"),
    ];
    assert_eq!(
        summary,
        expected
            .iter()
            .map(|(a, h, o)| (a.to_string(), h.to_string(), o.to_string()))
            .collect::<Vec<_>>()
    );
    assert!(fake.on("/api/v1/hosts/host-c").is_empty());
    assert_eq!(fake.on("/api/v1/pool/host-a/drain").len(), 1);
    assert!(fake.on("/api/v1/pool/host-b/drain").is_empty());
    Ok(())
}

#[tokio::test]
async fn a_silent_host_is_failed_over_and_a_refusal_is_audited() -> anyhow::Result<()> {
    // The coordinator refuses (409: no backup host free); not retried.
    let fake = FakeHttp::start(|_, _| Reply::body(409, r#"{"detail": "no backup host"}"#)).await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("alerts.yml"),
        "no_data: { intervals: 5 }\nactions:\n  dry_run: false\n  failover: { enabled: true, path: '/api/v1/pool/{host}/failover' }\n",
    )?;
    std::fs::write(
        dir.path().join("metrics.yml"),
        "collection:\n  interval: 200\n",
    )?;
    let agg = TestAggregator::start_with(&format!(
        "alerts_file: '{}'\nmetrics_file: '{}'\n{}",
        dir.path().join("alerts.yml").display(),
        dir.path().join("metrics.yml").display(),
        coordinator_config(&fake)
    ))
    .await?;
    let cred = agg.host("host-a").await?;
    agg.gauge(&cred, "cpu_usage", 5.0).await?;
    wait_for("the failover call", || {
        !fake.on("/api/v1/pool/host-a/failover").is_empty()
    })
    .await?;
    let entries = audit(&agg, 1).await?;
    assert_eq!(entries[0]["action"], "failover");
    assert_eq!(entries[0]["rule"], "no_data");
    assert_eq!(entries[0]["outcome"], "failed");
    assert!(
        entries[0]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("refused with 409"),
        "{entries:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.on("/api/v1/pool/host-a/failover").len(), 1);
    Ok(())
}

#[tokio::test]
async fn actions_the_reference_coordinator_lacks_are_audited_unsupported_not_called()
-> anyhow::Result<()> {
    let fake = p2pmon_tests::fake_coordinator::FakeCoordinator::start("k").await?;
    let agg = TestAggregator::start_with_alerts_and(
        "alerts:\n  cpu_usage: { warning: 50, critical: 90, duration: 0 }\n\
         actions:\n  dry_run: false\n  load_balance: { enabled: true }\n",
        &format!(
            "coordinator: {{ url: '{}', token: k, poll_s: 60 }}",
            fake.base
        ),
    )
    .await?;
    let cred = agg.host("host-a").await?;
    agg.gauge(&cred, "cpu_usage", 97.0).await?;
    let entries = audit(&agg, 1).await?;
    assert_eq!(entries[0]["action"], "load_balance");
    assert_eq!(entries[0]["outcome"], "unsupported", "{entries:?}");
    assert!(
        entries[0]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("actions.load_balance.path"),
        "{entries:?}"
    );
    assert!(
        fake.seen().iter().all(|s| s.method == "GET"),
        "nothing but polls"
    );
    Ok(())
}

/// The start-up error with `alerts` as alerts.yml.
async fn start_error(alerts: &str) -> String {
    TestAggregator::start_with_alerts(alerts)
        .await
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default()
}

#[tokio::test]
async fn actions_without_a_coordinator_or_with_a_bad_path_stop_start_up() -> anyhow::Result<()> {
    let no_coordinator =
        start_error("actions:\n  dry_run: false\n  quarantine: { enabled: true }\n").await;
    assert!(
        no_coordinator.contains("no coordinator.url"),
        "{no_coordinator}"
    );
    let bad_path = start_error(
        "actions:\n  quarantine: { enabled: true, path: /api/v1/quarantine, method: GET }\n",
    )
    .await;
    assert!(
        bad_path.contains("actions.quarantine.path: must start with / and contain {host}"),
        "{bad_path}"
    );
    assert!(bad_path.contains("actions.quarantine.method"), "{bad_path}");
    Ok(())
}
