//! The coordinator's host registry (`GET /api/v1/hosts/` behind
//! `X-API-Key`): a registered host without an agent is unmonitored and
//! raises an alert, an agent the coordinator does not list is unknown, and
//! a malformed answer keeps the last good view and is reported. Its zones
//! and sessions (`GET /api/v1/zones/`,
//! `GET /api/v1/sessions/zone/{zone_id}/active`) say which maps are on
//! which host: the maps data shows them beside what the hosts serve, and an
//! assigned map that is not served raises an alert. The stand-in behaves as
//! the reference coordinator (`p2pmon_tests::fake_coordinator`); the stand-in
//! itself is checked against that behaviour at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;

use p2pmon_common::wire::HostType;
use p2pmon_tests::aggregator::{TestAggregator, batch, metric, now_ms};
use p2pmon_tests::fake_coordinator::FakeCoordinator;
use p2pmon_tests::fake_http::{FakeHttp, Reply};
use p2pmon_tests::wait::eventually;
use serde_json::{Value, json};

/// Three hosts as the reference coordinator lists them (quality first).
fn registry() -> String {
    let host = |id: i64, host_id: &str, status: &str, score: f64| {
        json!({"id": id, "host_id": host_id, "player_id": id.to_string(), "player_name": host_id,
               "ip_address": "192.0.2.1", "port": 5121, "public_ip": null, "cpu_cores": 4,
               "cpu_frequency_mhz": 3000, "memory_mb": 8192, "network_speed_mbps": 100,
               "latency_ms": 23.0, "packet_loss_percent": 0.0, "bandwidth_usage_mbps": 1.0,
               "status": status, "max_players": 50, "current_players": 0, "max_zones": 5,
               "current_zones": 0, "quality_score": score})
    };
    json!([
        host(1, "p2p-1", "online", 91.5),
        host(2, "p2p-2", "online", 80.0),
        host(3, "p2p-3", "offline", 10.0),
    ])
    .to_string()
}

/// The coordinator view once `done` holds (polls every second).
async fn view_when(
    agg: &TestAggregator,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    eventually(Duration::from_secs(15), async || {
        let (_, body) = agg.api("/api/v1/coordinator").await?;
        anyhow::ensure!(done(&body["coordinator"]), "no {what} yet: {body}");
        Ok(body["coordinator"].clone())
    })
    .await
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
    let alerts = eventually(Duration::from_secs(10), async || {
        let (_, active) = agg.api("/api/v1/alerts/active").await?;
        let alerts = active["alerts"].as_array().cloned().unwrap_or_default();
        anyhow::ensure!(!alerts.is_empty(), "no alert: {active}");
        Ok(alerts)
    })
    .await?;
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
    // Two P2P zones with a session each on p2p-1, a town that is VPS only,
    // and a zone whose id cannot go in a URL path.
    let fake = FakeCoordinator::start("registry-key").await?;
    fake.add_zone("prt_fild08", "prt_fild08", true, 0);
    fake.add_zone("pay_dun00", "pay_dun00", true, 0);
    fake.add_zone("prontera", "prontera", false, 0);
    fake.add_zone("../hosts", "x", true, 0);
    fake.register("p2p-1").await?;
    fake.seed_session("p2p-1", "prt_fild08", "active", 7);
    fake.seed_session("p2p-1", "pay_dun00", "active", 0);
    // Pending sessions are not listed as active there.
    fake.seed_session("p2p-1", "prontera", "pending", 0);
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

    // Polls every second: wait for one after the batches above.
    let maps = eventually(Duration::from_secs(15), async || {
        let (_, maps) = agg.api("/api/v1/maps").await?;
        anyhow::ensure!(
            maps["coordinator"]["not_served"].as_array().map(Vec::len) == Some(1),
            "no assignments: {maps}"
        );
        Ok(maps)
    })
    .await?;
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
    // Every zone is asked (its counters say 0), the unsafe zone id never,
    // and it is named.
    let asked: Vec<String> = fake.seen().into_iter().map(|s| s.path).collect();
    assert!(
        asked.iter().any(|p| p.contains("prontera")) && !asked.iter().any(|p| p.contains("..")),
        "{asked:?}"
    );
    let (_, view) = agg.api("/api/v1/coordinator").await?;
    assert_eq!(
        view["coordinator"]["assignments"]["skipped_zones"],
        json!(["\"../hosts\""])
    );

    // The unserved map alerts (per map) after the rule's second...
    let alert = eventually(Duration::from_secs(10), async || {
        let (_, active) = agg.api("/api/v1/alerts/active").await?;
        let alerts = active["alerts"].as_array().cloned().unwrap_or_default();
        alerts
            .into_iter()
            .find(|a| a["rule"] == "coordinator_map_not_served")
            .with_context(|| format!("no alert: {active}"))
    })
    .await?;
    assert_eq!(alert["host"], "p2p-1");
    assert!(alert.to_string().contains("pay_dun00"), "{alert}");
    // ...and resolves once the map-server serves it.
    agg.post_batch(&p2p, &batch("p2p-1", "s", 2, vec![up("pay_dun00", 1.0)]))
        .await?;
    eventually(Duration::from_secs(10), async || {
        let (_, active) = agg.api("/api/v1/alerts/active").await?;
        anyhow::ensure!(
            !active.to_string().contains("coordinator_map_not_served"),
            "still firing: {active}"
        );
        Ok(())
    })
    .await?;

    // Zones failing: the last assignments stay, the error shows.
    fake.set_zones_failing(true);
    let maps = eventually(Duration::from_secs(10), async || {
        let (_, maps) = agg.api("/api/v1/maps").await?;
        anyhow::ensure!(
            maps["coordinator"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("500")),
            "no zones error: {maps}"
        );
        Ok(maps)
    })
    .await?;
    assert_eq!(
        maps["coordinator"]["assignments"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(
        maps["coordinator"]["reachable"], true,
        "the host list still answers"
    );
    Ok(())
}

/// The stand-in answers as the reference coordinator does where the
/// aggregator touches it (each case names the behaviour it copies).
#[tokio::test]
async fn the_stand_in_behaves_as_the_reference_coordinator() -> anyhow::Result<()> {
    let fake = FakeCoordinator::start("k").await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let get = |path: &str, key: Option<&str>| {
        let mut request = http.get(format!("{}{path}", fake.base));
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        request.send()
    };
    // API keys: missing and wrong, each with its body; /health needs none.
    let missing = get("/api/v1/hosts/", None).await?;
    assert_eq!(missing.status(), 401);
    let body: Value = missing.json().await?;
    assert_eq!(
        body,
        json!({"detail": "Missing X-API-Key header", "error": "unauthorized"})
    );
    let wrong: Value = get("/api/v1/hosts/", Some("nope")).await?.json().await?;
    assert_eq!(wrong["detail"], "Invalid API key");
    let health = get("/health", None).await?;
    assert_eq!(health.status(), 200);
    // Without the trailing slash: 307 to it.
    let redirect = get("/api/v1/hosts", Some("k")).await?;
    assert_eq!(redirect.status(), 307);
    assert_eq!(redirect.headers()["location"], "/api/v1/hosts/");
    // Hosts by quality, highest first; a new id after removal (204, then 404).
    let low = fake.register("Host-Low").await?;
    fake.register("host-high").await?;
    fake.heartbeat("Host-Low", 250.0, 9.0).await?;
    let hosts: Value = get("/api/v1/hosts/", Some("k")).await?.json().await?;
    assert_eq!(hosts[0]["host_id"], "host-high", "{hosts}");
    assert_eq!(hosts[1]["packet_loss_percent"], 9.0);
    assert!(hosts[1].get("last_heartbeat").is_none());
    assert_eq!(fake.unregister("Host-Low").await?, 204);
    assert_eq!(fake.unregister("Host-Low").await?, 404);
    assert!(fake.register("Host-Low").await? > low);
    // Zones by priority then name, counters at 0; an unknown zone's
    // sessions are 200 []; sessions are session-<16 hex>, times with an
    // offset; activation fails.
    fake.add_zone("b_zone", "b", true, 0);
    fake.add_zone("a_zone", "a", true, 0);
    fake.add_zone("top", "t", true, 9);
    let zones: Value = get("/api/v1/zones/", Some("k")).await?.json().await?;
    let order: Vec<&str> = zones
        .as_array()
        .map(|z| z.iter().filter_map(|z| z["zone_id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(order, ["top", "a_zone", "b_zone"]);
    assert!(
        zones
            .as_array()
            .is_some_and(|z| z.iter().all(|z| z["active_sessions"] == 0))
    );
    let unknown = get("/api/v1/sessions/zone/nowhere/active", Some("k")).await?;
    assert_eq!(unknown.status(), 200);
    assert_eq!(unknown.json::<Value>().await?, json!([]));
    let created: Value = http
        .post(format!("{}/api/v1/sessions/", fake.base))
        .header("x-api-key", "k")
        .json(&json!({"host_id": "host-high", "zone_id": "top", "player_ids": []}))
        .send()
        .await?
        .json()
        .await?;
    let id = created["session_id"].as_str().unwrap_or("");
    assert!(
        id.len() == 24
            && id.starts_with("session-")
            && id[8..].bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(created["status"], "pending");
    assert!(
        created["created_at"]
            .as_str()
            .unwrap_or("")
            .ends_with("+00:00"),
        "{created}"
    );
    let activate = http
        .post(format!(
            "{}/api/v1/sessions/{}/activate",
            fake.base, created["id"]
        ))
        .header("x-api-key", "k")
        .send()
        .await?;
    assert_eq!(activate.status(), 400);
    let active: Value = get("/api/v1/sessions/host/host-high/active", Some("k"))
        .await?
        .json()
        .await?;
    assert_eq!(active, json!([]), "pending is not active");
    // No failover or drain route.
    let failover = http
        .post(format!("{}/api/v1/hosts/host-high/failover", fake.base))
        .header("x-api-key", "k")
        .send()
        .await?;
    assert_eq!(failover.status(), 404);
    // Prometheus text.
    let metrics = get("/api/v1/monitoring/metrics", Some("k"))
        .await?
        .text()
        .await?;
    assert!(metrics.contains("\np2p_hosts_total 2\n"), "{metrics}");
    assert!(metrics.contains("p2p_coordinator_up 1"));
    // 100 per path per window, then 429 with Retry-After.
    fake.set_rate_limit(3, Duration::from_secs(60));
    let mut last = None;
    for _ in 0..4 {
        last = Some(get("/api/v1/zones/", Some("k")).await?);
    }
    let refused = last.ok_or_else(|| anyhow::anyhow!("no answer"))?;
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"].to_str()?.parse()?;
    assert!((55..=60).contains(&retry), "{retry}");
    // Another path has its own window.
    assert_eq!(get("/api/v1/hosts/", Some("k")).await?.status(), 200);
    Ok(())
}
