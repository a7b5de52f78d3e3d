//! The coordinator's host registry, polled from a local server that answers
//! like the reference coordinator (`GET /api/v1/hosts/` behind `X-API-Key`):
//! a registered host without an agent is unmonitored and raises an alert,
//! an agent the coordinator does not list is unknown, and a malformed
//! answer keeps the last good view and is reported. Its zones and sessions
//! (`GET /api/v1/zones/`, `GET /api/v1/sessions/zone/{zone_id}/active`) say
//! which maps are on which host: the maps data shows them beside what the
//! hosts serve, and an assigned map that is not served raises an alert.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use p2pmon_common::wire::HostType;
use p2pmon_tests::aggregator::{TestAggregator, batch, metric, now_ms};
use p2pmon_tests::fake_coordinator::{reference_coordinator, registry};
use p2pmon_tests::fake_http::{FakeHttp, Reply};
use serde_json::{Value, json};

/// The coordinator view once `done` holds (polls every second).
async fn view_when(
    agg: &TestAggregator,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, body) = agg.api("/api/v1/coordinator").await?;
        if done(&body["coordinator"]) {
            return Ok(body["coordinator"].clone());
        }
        if Instant::now() > deadline {
            anyhow::bail!("timed out waiting for {what}: {body}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn unmonitored_and_unknown_hosts_show_and_a_bad_answer_keeps_the_last_view()
-> anyhow::Result<()> {
    // The registry, or a malformed body while `broken` is set.
    let list = registry();
    let broken = Arc::new(AtomicBool::new(false));
    let answer_broken = broken.clone();
    let fake = FakeHttp::start(move |_, _| {
        if answer_broken.load(Ordering::Relaxed) {
            Reply::body(200, r#"{"detail": "oops"}"#)
        } else {
            Reply::body(200, &list)
        }
    })
    .await?;
    let agg = TestAggregator::start_with_alerts_and(
        "alerts:\n  coordinator_unmonitored: { warning: 1, duration: 2, type: network }\n",
        &format!(
            "coordinator: {{ url: '{}', token: registry-key, poll_s: 1 }}",
            fake.base
        ),
    )
    .await?;
    for host in ["p2p-1", "vps-9"] {
        let cred = agg.enroll(host).await?;
        agg.post_batch(
            &cred,
            &batch(host, "s", 1, vec![metric("cpu_usage", 5.0, &[], now_ms())]),
        )
        .await?;
    }
    let view = view_when(&agg, "the registry", |v| {
        v["reachable"] == true && v["unknown"] == json!(["vps-9"])
    })
    .await?;
    assert_eq!(view["unmonitored"], json!(["p2p-2"]), "{view}");
    assert_eq!(view["hosts"].as_array().map(Vec::len), Some(3));
    assert_eq!(view["hosts"][0]["quality_score"], 91.5);
    assert_eq!(fake.all()[0].header("x-api-key"), "registry-key");
    assert_eq!(fake.all()[0].path, "/api/v1/hosts/");

    // Unmonitored for the rule's 2 s: an alert on p2p-2 only (p2p-1 was
    // unmonitored for a moment before its agent reported, not 2 s).
    let deadline = Instant::now() + Duration::from_secs(10);
    let alerts = loop {
        let (_, active) = agg.api("/api/v1/alerts/active").await?;
        let alerts = active["alerts"].as_array().cloned().unwrap_or_default();
        if !alerts.is_empty() || Instant::now() > deadline {
            break alerts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["rule"], "coordinator_unmonitored");
    assert_eq!(alerts[0]["host"], "p2p-2");

    // A malformed answer: unreachable, the last good hosts kept.
    broken.store(true, Ordering::Relaxed);
    let view = view_when(&agg, "the malformed answer", |v| v["reachable"] == false).await?;
    assert!(
        view["error"]
            .as_str()
            .unwrap_or("")
            .contains("not a host list"),
        "{view}"
    );
    assert_eq!(view["hosts"].as_array().map(Vec::len), Some(3));
    assert!(!view.to_string().contains("registry-key"));
    // And back (after a doubled wait).
    broken.store(false, Ordering::Relaxed);
    view_when(&agg, "recovery", |v| v["reachable"] == true).await?;
    // Still one alert: an unmonitored host is said once while it lasts.
    let (_, active) = agg.api("/api/v1/alerts/active").await?;
    assert_eq!(active["alerts"].as_array().map(Vec::len), Some(1));
    Ok(())
}

#[tokio::test]
async fn map_assignments_show_beside_what_hosts_serve_and_an_unserved_map_alerts()
-> anyhow::Result<()> {
    let zones_down = Arc::new(AtomicBool::new(false));
    let fake = FakeHttp::start(reference_coordinator(zones_down.clone())).await?;
    let agg = TestAggregator::start_with_alerts_and(
        "alerts:\n  coordinator_map_not_served: { warning: 1, duration: 1, type: game }\n",
        &format!(
            "coordinator: {{ url: '{}', token: registry-key, poll_s: 1 }}",
            fake.base
        ),
    )
    .await?;
    // p2p-1 serves prt_fild08 but its pay_dun00 is down; vps-1 serves the
    // town, which is not P2P-enabled.
    let p2p = agg.enroll("p2p-1").await?;
    let vps = agg.enroll("vps-1").await?;
    agg.hello(&vps, HostType::Vps).await?;
    let now = now_ms();
    let up = |map: &str, value: f64| metric("map_status", value, &[("map", map)], now);
    let records = vec![
        up("prt_fild08", 1.0),
        metric("player_count", 7.0, &[("map", "prt_fild08")], now),
        up("pay_dun00", 0.0),
    ];
    agg.post_batch(&p2p, &batch("p2p-1", "s", 1, records))
        .await?;
    agg.post_batch(&vps, &batch("vps-1", "s", 1, vec![up("prontera", 1.0)]))
        .await?;

    let deadline = Instant::now() + Duration::from_secs(15);
    let maps = loop {
        let (_, maps) = agg.api("/api/v1/maps").await?;
        // Polls every second: wait for one after the batches above.
        if maps["coordinator"]["not_served"].as_array().map(Vec::len) == Some(1) {
            break maps;
        }
        anyhow::ensure!(Instant::now() < deadline, "no assignments: {maps}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let placed = &maps["coordinator"];
    assert_eq!(
        placed["zones"],
        json!({"total": 3, "p2p_enabled": 2, "vps_only": 1}),
        "{maps}"
    );
    assert_eq!(placed["assignments"][0]["map"], "pay_dun00");
    assert_eq!(placed["assignments"][0]["host"], "p2p-1");
    assert_eq!(placed["assignments"][0]["served"], false);
    assert_eq!(placed["assignments"][1]["map"], "prt_fild08");
    assert_eq!(placed["assignments"][1]["served"], true);
    assert_eq!(placed["assignments"][1]["players"], 7);
    assert_eq!(placed["assignments"].as_array().map(Vec::len), Some(2));
    assert_eq!(maps["by_host_type"], json!({"p2p": 1, "vps": 1}), "{maps}");
    let row = |map: &str| {
        maps["maps"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["map"] == map).cloned())
            .unwrap_or_default()
    };
    assert_eq!(row("prt_fild08")["assigned"], true);
    assert_eq!(row("prontera")["assigned"], false);
    assert_eq!(row("prontera")["host_type"], "vps");
    let (_, host) = agg.api("/api/v1/hosts/p2p-1").await?;
    assert_eq!(
        host["assigned_maps"].as_array().map(Vec::len),
        Some(2),
        "{host}"
    );
    // Only zones with active sessions are asked; the unsafe zone id never.
    let asked: Vec<String> = fake.all().into_iter().map(|s| s.path).collect();
    assert!(
        !asked
            .iter()
            .any(|p| p.contains("prontera") || p.contains("..")),
        "{asked:?}"
    );

    // The unserved map alerts (per map) after the rule's second...
    let alert = loop {
        let (_, active) = agg.api("/api/v1/alerts/active").await?;
        let alerts = active["alerts"].as_array().cloned().unwrap_or_default();
        if let Some(alert) = alerts
            .into_iter()
            .find(|a| a["rule"] == "coordinator_map_not_served")
        {
            break alert;
        }
        anyhow::ensure!(Instant::now() < deadline, "no alert: {active}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(alert["host"], "p2p-1");
    assert!(alert.to_string().contains("pay_dun00"), "{alert}");
    // ...and resolves once the map-server serves it.
    agg.post_batch(&p2p, &batch("p2p-1", "s", 2, vec![up("pay_dun00", 1.0)]))
        .await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, active) = agg.api("/api/v1/alerts/active").await?;
        if !active.to_string().contains("coordinator_map_not_served") {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "still firing: {active}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Zones failing: the last assignments stay, the error shows.
    zones_down.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, maps) = agg.api("/api/v1/maps").await?;
        if maps["coordinator"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("500"))
        {
            assert_eq!(
                maps["coordinator"]["assignments"].as_array().map(Vec::len),
                Some(2)
            );
            assert_eq!(
                maps["coordinator"]["reachable"], true,
                "the host list still answers"
            );
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "no zones error: {maps}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
