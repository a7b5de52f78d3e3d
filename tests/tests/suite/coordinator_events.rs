//! Events the coordinator pushes to `POST /api/v1/events`: stored under the
//! host they name, turned into alerts by event rules, fanned out as status
//! messages; a push without the API token, malformed, or oversized is
//! refused with nothing stored, and a retried push (same seq) is stored once.

use std::time::Duration;

use futures_util::StreamExt;
use p2pmon_tests::aggregator::{TestAggregator, alerts_within};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const RULES: &str = "events:\n  map_migration_failed: { min_severity: warning, type: game }\n";

async fn push(
    agg: &TestAggregator,
    token: Option<&str>,
    body: String,
) -> anyhow::Result<(StatusCode, Value)> {
    let mut request = agg
        .http
        .post(agg.api_url("/api/v1/events")?)
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

fn stored_events(agg: &TestAggregator) -> anyhow::Result<i64> {
    Ok(agg
        .db()?
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?)
}

#[tokio::test]
async fn a_failed_migration_raises_an_alert_and_reaches_the_feed() -> anyhow::Result<()> {
    let agg = TestAggregator::start_with_alerts(RULES).await?;
    let mut feed = agg.feed().await?;
    let body = json!({"seq": 1, "events": [
        {"kind": "map_migration_started", "host_id": "p2p-7", "fields": {"map": "prt_fild08", "to": "vps-1"}},
        {"kind": "map_migration_failed", "host_id": "p2p-7", "message": "prt_fild08 could not move to vps-1",
         "fields": {"map": "prt_fild08", "to": "vps-1"}},
    ]});
    let (status, answer) = push(&agg, Some(&agg.api_token), body.to_string()).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer, json!({"stored": 2, "duplicate": false}));

    let alerts = alerts_within(&mut feed, Duration::from_secs(1)).await?;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["rule"], "map_migration_failed");
    assert_eq!(alerts[0]["host"], "p2p-7");
    assert_eq!(alerts[0]["type"], "game");
    assert_eq!(
        alerts[0]["severity"], "critical",
        "the kind's default severity"
    );
    assert_eq!(alerts[0]["labels"]["map"], "prt_fild08");

    let (_, events) = agg.api("/api/v1/events?host=p2p-7").await?;
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["kind"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(kinds.len(), 2, "{events}");
    assert!(kinds.contains(&"map_migration_failed"));

    // The same push again (a retry): acknowledged, not stored twice.
    let (status, answer) = push(&agg, Some(&agg.api_token), body.to_string()).await?;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(answer["duplicate"], true);
    assert_eq!(stored_events(&agg)?, 2);

    // Status messages carried both events.
    let mut feed = agg.feed().await?;
    push(
        &agg,
        Some(&agg.api_token),
        json!({"events": [{"kind": "host_registered", "host_id": "p2p-8"}]}).to_string(),
    )
    .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    let mut seen = None;
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, feed.next()).await {
        if let Message::Text(text) = message? {
            let value: Value = serde_json::from_str(&text)?;
            if value["type"] == "status" && value["status"]["kind"] == "coordinator_event" {
                seen = Some(value);
                break;
            }
        }
    }
    let seen = seen.ok_or_else(|| anyhow::anyhow!("no coordinator_event status message"))?;
    assert_eq!(seen["status"]["event"]["kind"], "host_registered");
    assert_eq!(seen["status"]["host"], "p2p-8");
    Ok(())
}

#[tokio::test]
async fn forged_malformed_and_oversized_pushes_store_nothing() -> anyhow::Result<()> {
    let agg = TestAggregator::start_with_alerts(RULES).await?;
    let good =
        json!({"events": [{"kind": "map_migration_failed", "host_id": "p2p-7"}]}).to_string();
    let (status, _) = push(&agg, None, good.clone()).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = push(&agg, Some("forged-token"), good).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    for (body, says) in [
        ("{not json".to_string(), "not a push"),
        (json!({"events": []}).to_string(), "1 to 1000"),
        // One bad event refuses the whole push.
        (
            json!({"events": [{"kind": "host_registered", "host_id": "p2p-1"},
                              {"kind": "host_removed", "host_id": "<img src=x onerror=alert(1)>"}]})
            .to_string(),
            "events[1]: host_id",
        ),
        (
            json!({"events": [{"kind": "mystery_event"}]}).to_string(),
            "give its severity",
        ),
        (
            json!({"events": [{"kind": "db_sync", "timestamp_ms": 1}]}).to_string(),
            "over a week old",
        ),
        (
            json!({"events": [{"kind": "db_sync", "colour": "red"}]}).to_string(),
            "unknown field",
        ),
    ] {
        let (status, answer) = push(&agg, Some(&agg.api_token), body.clone()).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer.to_string().contains(says), "{body}: {answer}");
    }
    let huge =
        json!({"events": [{"kind": "db_sync", "message": "x".repeat(300 * 1024)}]}).to_string();
    let (status, _) = push(&agg, Some(&agg.api_token), huge).await?;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(stored_events(&agg)?, 0, "nothing stored");
    let (_, active) = agg.api("/api/v1/alerts/active").await?;
    assert_eq!(active["alerts"], json!([]));
    Ok(())
}

/// Database sync status from pushed events: last success, lag, failures and
/// checksum mismatches per host; the lag feeds a rule, a malformed lag is
/// refused with nothing stored, and the status survives a restart.
#[tokio::test]
async fn db_sync_events_give_each_host_a_sync_status_and_lag_alerts() -> anyhow::Result<()> {
    let rules = "alerts:\n  db_sync_lag_s: { warning: 60, critical: 300, duration: 0, type: game }\n\
                 events:\n  db_checksum_mismatch: { min_severity: warning, type: game }\n";
    let mut agg = TestAggregator::start_with_alerts(rules).await?;
    let token = agg.api_token.clone();
    let t0 = p2pmon_tests::aggregator::now_ms() as i64 - 600_000;
    let body = json!({"seq": 1, "events": [
        {"kind": "db_sync", "host_id": "p2p-1", "fields": {"lag_s": "4.5"}, "timestamp_ms": t0},
        {"kind": "db_sync", "host_id": "p2p-2", "timestamp_ms": t0},
        {"kind": "db_sync_failed", "host_id": "p2p-2", "message": "connection reset", "timestamp_ms": t0 + 120_000},
    ]});
    let (status, answer) = push(&agg, Some(&token), body.to_string()).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");

    let (_, view) = agg.api("/api/v1/coordinator").await?;
    let sync = view["db_sync"].as_array().cloned().unwrap_or_default();
    assert_eq!(sync.len(), 2, "{view}");
    assert_eq!(sync[0]["host"], "p2p-1");
    assert_eq!(sync[0]["lag_s"], 4.5);
    assert_eq!(sync[0]["failures"], 0);
    assert_eq!(sync[1]["host"], "p2p-2");
    assert_eq!(sync[1]["last_success_ms"], t0);
    assert_eq!(sync[1]["failures"], 1);
    assert_eq!(sync[1]["lag_s"], 120.0, "behind since the last success");
    assert_eq!(sync[1]["last_problem"], "connection reset");
    // p2p-2 is 120 s behind: over the warning (60), under critical (300).
    let (_, active) = agg.api("/api/v1/alerts/active").await?;
    let alerts = active["alerts"].as_array().cloned().unwrap_or_default();
    assert_eq!(alerts.len(), 1, "{active}");
    assert_eq!(alerts[0]["rule"], "db_sync_lag_s");
    assert_eq!(alerts[0]["host"], "p2p-2");
    assert_eq!(alerts[0]["severity"], "warning");

    // A lag that is not seconds: the whole push refused, nothing stored.
    let before = stored_events(&agg)?;
    let bad = json!({"events": [
        {"kind": "db_checksum_mismatch", "host_id": "p2p-1"},
        {"kind": "db_sync", "host_id": "p2p-1", "fields": {"lag_s": "-3"}},
    ]});
    let (status, answer) = push(&agg, Some(&token), bad.to_string()).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or("")
            .contains("events[1]"),
        "{answer}"
    );
    assert_eq!(stored_events(&agg)?, before);

    // A mismatch, then a restart: the status is rebuilt from the store.
    let mismatch = json!({"seq": 2, "events": [
        {"kind": "db_checksum_mismatch", "host_id": "p2p-1", "message": "char table differs"},
    ]});
    push(&agg, Some(&token), mismatch.to_string()).await?;
    agg.restart().await?;
    let (_, view) = agg.api("/api/v1/coordinator").await?;
    assert_eq!(view["db_sync"][0]["checksum_mismatches"], 1, "{view}");
    assert_eq!(view["db_sync"][0]["last_problem"], "char table differs");
    assert_eq!(view["db_sync"][1]["failures"], 1, "{view}");
    Ok(())
}
