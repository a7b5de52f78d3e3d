//! The aggregator against a stand-in that behaves as the reference
//! coordinator does (`p2pmon_tests::fake_coordinator`): zone counters that
//! stay 0, sessions active only when seeded, API keys, its rate limit, ids
//! that change when a host registers again, no event push. Polled every
//! second: assignments still appear, events are derived from what changes,
//! a quarantined host that comes back is reported, the coordinator's own
//! health alerts, and a host whose claimed loss disagrees with what is
//! measured is flagged.

use std::time::{Duration, Instant};

use p2pmon_common::wire::{EventRecord, Record, Severity};
use p2pmon_tests::aggregator::{TestAggregator, metric, now_ms};
use p2pmon_tests::fake_coordinator::FakeCoordinator;
use p2pmon_tests::wait::eventually;
use serde_json::Value;

const KEY: &str = "coordinator-key";

fn config(fake: &FakeCoordinator) -> String {
    format!(
        "coordinator: {{ url: '{}', token: {KEY}, poll_s: 1, timeout_ms: 400 }}",
        fake.base
    )
}

/// Poll `path` until `done` holds (15 s at most).
async fn api_when(
    agg: &TestAggregator,
    path: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    eventually(Duration::from_secs(15), async || {
        let (_, body) = agg.api(path).await?;
        anyhow::ensure!(done(&body), "no {what} yet: {body}");
        Ok(body)
    })
    .await
}

fn active_alerts(body: &Value) -> Vec<Value> {
    body["alerts"].as_array().cloned().unwrap_or_default()
}

fn has_alert(body: &Value, rule: &str, host: &str) -> bool {
    active_alerts(body)
        .iter()
        .any(|a| a["rule"] == rule && a["host"] == host)
}

fn events_of(body: &Value) -> Vec<Value> {
    body["events"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn assignments_appear_for_sessions_in_zones_whose_counters_are_0() -> anyhow::Result<()> {
    let fake = FakeCoordinator::start(KEY).await?;
    fake.add_zone("prt_fild08", "prt_fild08", true, 5);
    fake.add_zone("pay_dun00", "pay_dun00", true, 1);
    fake.add_zone("prontera", "prontera", false, 0);
    fake.register("Host-12345").await?;
    // Any string is a host_id there; one with a control character matches
    // no agent id.
    fake.register("bell\u{7}host").await?;
    let agg = TestAggregator::start_with(&config(&fake)).await?;

    // No active session anywhere: unknown, with the reason, not "none".
    let maps = api_when(&agg, "/api/v1/maps", "unknown assignments", |m| {
        m["coordinator"]["unknown_reason"].is_string()
    })
    .await?;
    assert!(
        maps["coordinator"]["unknown_reason"]
            .as_str()
            .unwrap_or("")
            .contains("no active session in its 3 zones"),
        "{maps}"
    );

    // A session made active in its database (its API cannot): the zone's
    // counter still says 0, and the assignment appears.
    let cred = agg.host("host-12345").await?;
    let now = now_ms();
    agg.send(
        &cred,
        vec![metric("map_status", 1.0, &[("map", "prt_fild08")], now)],
    )
    .await?;
    let session = fake.seed_session("Host-12345", "prt_fild08", "active", 9);
    let maps = api_when(&agg, "/api/v1/maps", "the assignment", |m| {
        m["coordinator"]["assignments"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    })
    .await?;
    let placed = &maps["coordinator"]["assignments"][0];
    assert_eq!(placed["map"], "prt_fild08", "{maps}");
    assert_eq!(placed["host"], "host-12345");
    assert_eq!(placed["session_id"], session.as_str());
    assert_eq!(placed["players"], 9);
    assert_eq!(placed["served"], true);
    assert!(maps["coordinator"]["unknown_reason"].is_null());
    let (_, view) = agg.api("/api/v1/coordinator").await?;
    let zones = view["coordinator"]["assignments"]["zones"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(zones.len(), 3);
    assert!(zones.iter().all(|z| z["active_sessions"] == 0), "{zones:?}");
    // The coordinator's id kept, the agent id beside it, the other named.
    assert_eq!(view["coordinator"]["hosts"][0]["host_id"], "Host-12345");
    assert_eq!(view["coordinator"]["hosts"][0]["agent_id"], "host-12345");
    assert_eq!(
        view["coordinator"]["skipped"],
        serde_json::json!([{"host_id": "bell\u{7}host", "reason": "the id has control characters"}])
    );
    assert_eq!(
        view["coordinator"]["hosts"].as_array().map(Vec::len),
        Some(1)
    );

    // Every request carried the key, asked paths with their slash, and none
    // was refused.
    let seen = fake.seen();
    let ours: Vec<_> = seen.iter().filter(|s| s.method == "GET").collect();
    assert!(!ours.is_empty());
    assert!(ours.iter().all(|s| s.header("x-api-key") == KEY));
    assert!(fake.on("/api/v1/hosts").is_empty() && fake.on("/api/v1/zones").is_empty());
    assert!(!fake.on("/api/v1/sessions/zone/prontera/active").is_empty());
    Ok(())
}

#[tokio::test]
async fn removing_a_host_raises_host_removed_and_resolves_its_unmonitored_alert()
-> anyhow::Result<()> {
    let fake = FakeCoordinator::start(KEY).await?;
    fake.add_zone("pay_dun00", "pay_dun00", true, 0);
    let agg = TestAggregator::start_with_alerts_and(
        "alerts:\n  coordinator_unmonitored: { warning: 1, duration: 1, type: network }\n",
        &config(&fake),
    )
    .await?;
    api_when(&agg, "/api/v1/coordinator", "a first poll", |v| {
        v["coordinator"]["reachable"] == true
    })
    .await?;
    // Registered there, no agent here: unmonitored, and an alert.
    let first_id = fake.register("p2p-2").await?;
    let session = fake.seed_session("p2p-2", "pay_dun00", "active", 0);
    api_when(
        &agg,
        "/api/v1/alerts/active",
        "the unmonitored alert",
        |a| has_alert(a, "coordinator_unmonitored", "p2p-2"),
    )
    .await?;
    api_when(&agg, "/api/v1/events?host=p2p-2", "session_started", |e| {
        events_of(e).iter().any(|e| e["kind"] == "session_started")
    })
    .await?;

    // Removed (204): host_removed derived, its session ended with it, and
    // the alert resolves.
    assert_eq!(fake.unregister("p2p-2").await?, 204);
    let events = api_when(&agg, "/api/v1/events?host=p2p-2", "host_removed", |e| {
        events_of(e).iter().any(|e| e["kind"] == "host_removed")
    })
    .await?;
    let removed = events_of(&events)
        .into_iter()
        .find(|e| e["kind"] == "host_removed")
        .unwrap_or_default();
    assert_eq!(removed["fields"]["id"], first_id.to_string(), "{removed}");
    assert_eq!(removed["fields"]["derived"], "poll");
    let ended = events_of(&events)
        .into_iter()
        .find(|e| e["kind"] == "session_ended")
        .unwrap_or_default();
    assert_eq!(ended["fields"]["session_id"], session.as_str(), "{events}");
    assert_eq!(ended["fields"]["reason"], "host_removed");
    api_when(&agg, "/api/v1/alerts/active", "the alert resolved", |a| {
        !has_alert(a, "coordinator_unmonitored", "p2p-2")
    })
    .await?;

    // Back at once, under a new id: registered again (not "re-registered":
    // a poll saw it gone in between).
    let second_id = fake.register("p2p-2").await?;
    assert!(second_id > first_id);
    let want = second_id.to_string();
    api_when(&agg, "/api/v1/events?host=p2p-2", "host_registered", |e| {
        events_of(e)
            .iter()
            .any(|e| e["kind"] == "host_registered" && e["fields"]["id"] == want.as_str())
    })
    .await?;
    // Removed and back between two polls: the same host under a new id.
    assert_eq!(fake.unregister("p2p-2").await?, 204);
    let third_id = fake.register("p2p-2").await?;
    let events = api_when(
        &agg,
        "/api/v1/events?host=p2p-2",
        "host_reregistered",
        |e| {
            events_of(e)
                .iter()
                .any(|e| e["kind"] == "host_reregistered")
        },
    )
    .await?;
    let again = events_of(&events)
        .into_iter()
        .find(|e| e["kind"] == "host_reregistered")
        .unwrap_or_default();
    assert_eq!(
        again["fields"]["previous_id"],
        second_id.to_string(),
        "{again}"
    );
    assert_eq!(again["fields"]["id"], third_id.to_string());
    Ok(())
}

#[tokio::test]
async fn a_quarantined_host_registering_again_is_reported_within_one_poll() -> anyhow::Result<()> {
    let fake = FakeCoordinator::start(KEY).await?;
    let alerts = "events:\n  hack_trade: { min_severity: warning, type: security }\n  \
        quarantined_host_returned: { min_severity: warning, type: security }\n\
        actions:\n  dry_run: false\n  quarantine: { enabled: true }\n";
    let agg = TestAggregator::start_with_alerts_and(alerts, &config(&fake)).await?;
    fake.register("Host-7").await?;
    let cred = agg.host("host-7").await?;
    api_when(&agg, "/api/v1/coordinator", "the host listed", |v| {
        v["coordinator"]["hosts"][0]["agent_id"] == "host-7"
    })
    .await?;
    // A critical security event: quarantine calls DELETE with the
    // coordinator's own id, which answers 204.
    let event = Record::Event(EventRecord {
        plugin: "anticheat".to_string(),
        kind: "hack_trade".to_string(),
        severity: Severity::Critical,
        message: "duplicated items traded".to_string(),
        fields: Default::default(),
        timestamp_ms: now_ms(),
    });
    agg.send(&cred, vec![event]).await?;
    api_when(&agg, "/api/v1/actions", "the quarantine", |a| {
        a.to_string().contains("\"outcome\":\"done\"")
    })
    .await?;
    let deletes: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.method == "DELETE")
        .collect();
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].path, "/api/v1/hosts/Host-7");
    assert_eq!(fake.id_of("Host-7"), None);

    // It registers again; the next poll reports it.
    fake.register("Host-7").await?;
    let back = Instant::now();
    let events = api_when(
        &agg,
        "/api/v1/events?host=host-7&kind=quarantined_host_returned",
        "the return",
        |e| !events_of(e).is_empty(),
    )
    .await?;
    assert!(
        back.elapsed() < Duration::from_millis(2500),
        "within one poll (1 s) and its requests: {:?}",
        back.elapsed()
    );
    assert_eq!(events_of(&events)[0]["severity"], "critical", "{events}");
    // A security alert, so the quarantine runs again within its guards.
    eventually(Duration::from_secs(10), async || {
        let removals = fake.seen().iter().filter(|s| s.method == "DELETE").count();
        anyhow::ensure!(removals >= 2, "not removed again: {removals} DELETE");
        Ok(())
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn the_coordinator_going_down_raises_its_alert_and_coming_back_resolves_it()
-> anyhow::Result<()> {
    let fake = FakeCoordinator::start(KEY).await?;
    fake.register("p2p-1").await?;
    let agg = TestAggregator::start_with_alerts_and(
        "alerts:\n  coordinator_down: { critical: 1, duration: 0, type: network }\n",
        &config(&fake),
    )
    .await?;
    api_when(&agg, "/api/v1/coordinator", "a first poll", |v| {
        v["coordinator"]["reachable"] == true && v["coordinator"]["healthy"] == true
    })
    .await?;
    // Its Prometheus figures are stored as series of the source coordinator.
    agg.flush().await?;
    assert_eq!(
        agg.stored_values("coordinator", "p2p_hosts_total")?.last(),
        Some(&1.0)
    );
    assert_eq!(
        agg.stored_values("coordinator", "p2p_coordinator_up")?
            .last(),
        Some(&1.0)
    );
    assert!(
        !agg.stored_values("coordinator", "coordinator_latency_ms")?
            .is_empty()
    );

    fake.set_hung(true);
    let alerts = api_when(&agg, "/api/v1/alerts/active", "the down alert", |a| {
        has_alert(a, "coordinator_down", "coordinator")
    })
    .await?;
    assert!(alerts.to_string().contains("critical"), "{alerts}");
    fake.set_hung(false);
    api_when(&agg, "/api/v1/alerts/active", "the alert resolved", |a| {
        !has_alert(a, "coordinator_down", "coordinator")
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_claimed_loss_far_from_the_measured_one_raises_the_claim_alert() -> anyhow::Result<()> {
    let fake = FakeCoordinator::start(KEY).await?;
    let agg = TestAggregator::start_with_alerts_and(
        "alerts:\n  coordinator_claim_mismatch: { warning: 10, critical: 30, duration: 0, type: security }\n",
        &config(&fake),
    )
    .await?;
    // p2p-1 claims 0.5 % but loses 40 % to its peer; p2p-2 claims 2 % and
    // its peer measures 2 % to it.
    for host in ["p2p-1", "p2p-2"] {
        fake.register(host).await?;
    }
    fake.heartbeat("p2p-1", 20.0, 0.5).await?;
    fake.heartbeat("p2p-2", 20.0, 2.0).await?;
    let now = now_ms();
    let one = agg.host("p2p-1").await?;
    let two = agg.host("p2p-2").await?;
    agg.send(
        &one,
        vec![metric("packet_loss", 40.0, &[("target", "vps-1")], now)],
    )
    .await?;
    agg.send(
        &two,
        vec![metric("packet_loss", 2.0, &[("target", "vps-1")], now)],
    )
    .await?;
    let alerts = api_when(&agg, "/api/v1/alerts/active", "the claim alert", |a| {
        has_alert(a, "coordinator_claim_mismatch", "p2p-1")
    })
    .await?;
    let alert = active_alerts(&alerts)
        .into_iter()
        .find(|a| a["rule"] == "coordinator_claim_mismatch")
        .unwrap_or_default();
    assert_eq!(alert["severity"], "critical", "{alert}");
    assert!(
        !has_alert(&alerts, "coordinator_claim_mismatch", "p2p-2"),
        "{alerts}"
    );
    let (_, view) = agg.api("/api/v1/coordinator").await?;
    let claims = view["coordinator"]["claims"].to_string();
    assert!(claims.contains("\"claimed_loss_percent\":0.5"), "{claims}");
    assert!(
        claims.contains("\"measured_loss_percent\":40.0"),
        "{claims}"
    );
    // The claims are kept beside the agent's own series.
    agg.flush().await?;
    assert_eq!(
        agg.stored_values("p2p-1", "coordinator_claimed_packet_loss")?
            .last(),
        Some(&0.5)
    );
    Ok(())
}

#[tokio::test]
async fn its_rate_limit_is_honoured_and_named() -> anyhow::Result<()> {
    let fake = FakeCoordinator::start(KEY).await?;
    fake.set_rate_limit(2, Duration::from_secs(5));
    let agg = TestAggregator::start_with(&config(&fake)).await?;
    let view = api_when(&agg, "/api/v1/coordinator", "a 429", |v| {
        v["coordinator"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("429"))
    })
    .await?;
    assert!(
        view["coordinator"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("retry after"),
        "{view}"
    );
    api_when(&agg, "/api/v1/coordinator", "recovery", |v| {
        v["coordinator"]["reachable"] == true && v["coordinator"]["error"].is_null()
    })
    .await?;
    // Two answered, the third refused with Retry-After 3: the next one
    // waits those 3 s (the backoff alone would be 2 s) and is answered.
    let hosts = fake.on("/api/v1/hosts/");
    assert!(hosts.len() >= 4, "{}", hosts.len());
    let gap = hosts[3].at.duration_since(hosts[2].at);
    assert!(
        gap >= Duration::from_millis(2900),
        "asked again after {gap:?}"
    );
    Ok(())
}

#[tokio::test]
async fn check_health_reports_the_coordinator_and_the_actions_it_lacks() -> anyhow::Result<()> {
    use p2pmon_aggregator::alerting::AlertsConfig;
    use p2pmon_aggregator::ops::health::{Outcome, coordinator_check};
    let fake = FakeCoordinator::start(KEY).await?;
    fake.register("p2p-1").await?;
    let agg = TestAggregator::start_with(&config(&fake)).await?;
    let alerts = |yaml: &str| -> anyhow::Result<AlertsConfig> {
        let path = agg.dir.path().join("check-alerts.yml");
        std::fs::write(&path, yaml)?;
        AlertsConfig::load_or_empty(&path).map_err(|e| anyhow::anyhow!("{e:?}"))
    };
    // Quarantine only: what the reference coordinator supports.
    let fine = coordinator_check(
        &agg.config,
        &alerts("actions:\n  quarantine: { enabled: true }\n")?,
    )
    .await;
    assert_eq!(
        fine,
        Outcome::Ok("/health healthy, 1 hosts registered".to_string())
    );
    // Drain without a route of its own: named as unsupported.
    let lacking = coordinator_check(
        &agg.config,
        &alerts("actions:\n  load_balance: { enabled: true }\n")?,
    )
    .await;
    let Outcome::Failed(why) = lacking else {
        anyhow::bail!("not a failure: {lacking:?}");
    };
    assert!(
        why.contains(
            "load_balance: the reference coordinator has no POST /api/v1/hosts/{host}/drain"
        ),
        "{why}"
    );
    // A wrong key is its 401, said plainly.
    let mut wrong = agg.config.clone();
    wrong.coordinator.token = "wrong".to_string();
    let refused = coordinator_check(&wrong, &AlertsConfig::default()).await;
    assert!(
        matches!(&refused, Outcome::Failed(why) if why.contains("/api/v1/hosts/ answered 401")),
        "{refused:?}"
    );
    Ok(())
}
