//! The coordinator's host registry, polled from a local server that answers
//! like the reference coordinator (`GET /api/v1/hosts/` behind `X-API-Key`):
//! a registered host without an agent is unmonitored and raises an alert,
//! an agent the coordinator does not list is unknown, and a malformed
//! answer keeps the last good view and is reported.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use p2pmon_tests::aggregator::{TestAggregator, batch, metric, now_ms};
use p2pmon_tests::fake_http::{FakeHttp, Reply};
use serde_json::{Value, json};

fn registry() -> String {
    json!([
        {"id": 1, "host_id": "p2p-1", "player_id": "1", "status": "online", "quality_score": 91.5,
         "current_players": 12, "max_players": 50, "current_zones": 2, "max_zones": 5, "latency_ms": 23.0},
        {"id": 2, "host_id": "p2p-2", "player_id": "2", "status": "online", "quality_score": 80.0,
         "current_players": 0, "max_players": 50, "current_zones": 1, "max_zones": 5, "latency_ms": 40.0},
        {"id": 3, "host_id": "p2p-3", "player_id": "3", "status": "offline", "quality_score": 10.0,
         "current_players": 0, "max_players": 50, "current_zones": 0, "max_zones": 5, "latency_ms": 0.0},
    ])
    .to_string()
}

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
