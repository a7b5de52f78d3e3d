//! Settings from FluxCP's database: the addon's `p2p_monitor_settings` table
//! (fluxcp/schemas/) in the real MariaDB, applied over alerts.yml within
//! seconds and without a restart; an invalid row is reported and its last
//! good value kept.

use std::time::Duration;

use futures_util::StreamExt;
use mysql_async::prelude::Queryable;
use p2pmon_tests::aggregator::{TestAggregator, batch, metric, now_ms};
use p2pmon_tests::workspace_root;
use p2pmon_tests::world::MARIADB;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

const DB: &str = "p2pmon_t_settings";

async fn database() -> anyhow::Result<mysql_async::Conn> {
    let mut conn = mysql_async::Conn::from_url(MARIADB).await?;
    conn.query_drop(format!("DROP DATABASE IF EXISTS {DB}"))
        .await?;
    conn.query_drop(format!("CREATE DATABASE {DB}")).await?;
    conn.query_drop(format!("USE {DB}")).await?;
    let schema = std::fs::read_to_string(
        workspace_root().join("fluxcp/schemas/logindb/p2p_monitor_settings.20261126.sql"),
    )?;
    conn.query_drop(schema).await?;
    Ok(conn)
}

/// Post cpu_usage = `value` for `host` until an alert for it arrives.
async fn first_alert(
    agg: &TestAggregator,
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    host: &str,
    value: f64,
) -> anyhow::Result<Option<Value>> {
    let cred = agg.enroll(host).await?;
    for seq in 1..=20 {
        agg.post_batch(
            &cred,
            &batch(
                host,
                "s",
                seq,
                vec![metric("cpu_usage", value, &[], now_ms())],
            ),
        )
        .await?;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(400);
        while let Ok(Some(message)) = tokio::time::timeout_at(deadline, ws.next()).await {
            if let Message::Text(text) = message? {
                let v: Value = serde_json::from_str(&text)?;
                if v["type"] == "alert" && v["alert"]["host"] == host {
                    return Ok(Some(v["alert"].clone()));
                }
            }
        }
    }
    Ok(None)
}

#[tokio::test]
async fn thresholds_from_the_settings_table_apply_within_seconds() -> anyhow::Result<()> {
    let mut db = database().await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("alerts.yml"),
        "alerts:\n  cpu_usage: { warning: 80, critical: 90, duration: 0 }\n",
    )?;
    let agg = TestAggregator::start_with(&format!(
        "alerts_file: '{}'\nsettings: {{ url: '{MARIADB}/{DB}', poll_s: 1 }}",
        dir.path().join("alerts.yml").display()
    ))
    .await?;
    let url = format!("{}?token={}", agg.ws_url()?, agg.api_token);
    let mut ws = tokio_tungstenite::connect_async(url).await?.0;

    // FluxCP lowers the cpu threshold: 60 % becomes critical.
    db.query_drop(
        "UPDATE p2p_monitor_settings SET setting_value = '{\"cpu\":50,\"memory\":85,\"latency\":200}' WHERE setting_name = 'alert_thresholds'",
    )
    .await?;
    let alert = first_alert(&agg, &mut ws, "host-a", 60.0)
        .await?
        .expect("an alert at 60 %");
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["threshold"], 50.0);

    // A broken row: reported on the feed, the last good value stays.
    db.query_drop(
        "UPDATE p2p_monitor_settings SET setting_value = '{cpu: fifty' WHERE setting_name = 'alert_thresholds'",
    )
    .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut reported = None;
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, ws.next()).await {
        if let Message::Text(text) = message? {
            let v: Value = serde_json::from_str(&text)?;
            if v["type"] == "status" && v["status"]["kind"] == "settings_invalid" {
                reported = Some(v);
                break;
            }
        }
    }
    let reported = reported.expect("the invalid row is reported");
    assert_eq!(reported["status"]["setting"], "alert_thresholds");
    assert!(
        reported["status"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("not valid JSON")
    );
    let alert = first_alert(&agg, &mut ws, "host-b", 60.0)
        .await?
        .expect("still 50 %");
    assert_eq!(alert["threshold"], 50.0);

    drop(ws);
    db.query_drop(format!("DROP DATABASE {DB}")).await?;
    Ok(())
}

#[tokio::test]
async fn a_malformed_settings_url_is_refused_at_start() -> anyhow::Result<()> {
    let result =
        TestAggregator::start_with("settings: { url: 'postgres://nope', table: 'x; drop' }").await;
    let error = match result {
        Ok(_) => anyhow::bail!("started with a malformed settings section"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        error.contains("settings.url") && error.contains("settings.table"),
        "{error}"
    );
    Ok(())
}
