//! The live feed: authentication, origin check, message shapes,
//! subscriptions, and a client that stops reading.

use std::time::Duration;

use futures_util::StreamExt;
use p2pmon_tests::aggregator::{TestAggregator, batch, metric, now_ms};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(agg: &TestAggregator, query: &str) -> anyhow::Result<Ws> {
    let url = format!("{}?token={}{query}", agg.ws_url()?, agg.api_token);
    let (ws, _) = tokio_tungstenite::connect_async(url).await?;
    Ok(ws)
}

/// The next message of `kind`, skipping others.
async fn next_of(ws: &mut Ws, kind: &str) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let message = tokio::time::timeout_at(deadline, ws.next())
            .await
            .map_err(|_| anyhow::anyhow!("no {kind} message within 10 s"))?
            .ok_or_else(|| anyhow::anyhow!("closed"))??;
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text)?;
            if value["type"] == kind {
                return Ok(value);
            }
        }
    }
}

#[tokio::test]
async fn clients_receive_metrics_and_status_as_the_design_describes() -> anyhow::Result<()> {
    let agg = TestAggregator::start().await?;
    let mut ws = connect(&agg, "").await?;
    let cred = agg.enroll("host-a").await?;
    let now = now_ms();
    let b = batch(
        "host-a",
        "s",
        1,
        vec![
            metric("cpu_usage", 42.0, &[], now),
            metric("player_count", 7.0, &[("map", "prontera")], now),
        ],
    );
    agg.post_batch(&cred, &b).await?;
    let message = next_of(&mut ws, "metrics").await?;
    assert_eq!(message["host"], "host-a");
    let metrics = message["metrics"].as_array().cloned().unwrap_or_default();
    assert_eq!(metrics.len(), 2);
    assert_eq!(metrics[0]["name"], "cpu_usage");
    assert_eq!(metrics[0]["value"], 42.0);
    assert_eq!(metrics[0]["group"], "system");
    assert_eq!(metrics[1]["tags"]["map"], "prontera");
    let status = next_of(&mut ws, "status").await?;
    assert!(status["status"]["kind"].is_string(), "{status}");
    Ok(())
}

#[tokio::test]
async fn subscriptions_narrow_what_a_client_gets() -> anyhow::Result<()> {
    let agg = TestAggregator::start().await?;
    let mut game = connect(&agg, "&groups=game&maps=geffen").await?;
    let mut other_host = connect(&agg, "&hosts=somebody-else").await?;
    let cred = agg.host("host-a").await?;
    let now = now_ms();
    agg.send(
        &cred,
        vec![
            metric("cpu_usage", 1.0, &[], now),
            metric("player_count", 3.0, &[("map", "prontera")], now),
            metric("player_count", 4.0, &[("map", "geffen")], now),
        ],
    )
    .await?;
    let message = next_of(&mut game, "metrics").await?;
    let metrics = message["metrics"].as_array().cloned().unwrap_or_default();
    assert_eq!(metrics.len(), 1, "{message}");
    assert_eq!(metrics[0]["tags"]["map"], "geffen");
    // The client subscribed to another host gets no metrics message.
    let nothing = tokio::time::timeout(
        Duration::from_millis(700),
        next_of(&mut other_host, "metrics"),
    )
    .await;
    assert!(nothing.is_err() || nothing.as_ref().is_ok_and(|r| r.is_err()));

    // A subscribe message changes the subscription on the fly.
    use futures_util::SinkExt;
    other_host
        .send(Message::Text(
            r#"{"type":"subscribe","hosts":["host-a"]}"#.into(),
        ))
        .await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    agg.send(&cred, vec![metric("cpu_usage", 2.0, &[], now + 1)])
        .await?;
    let message = next_of(&mut other_host, "metrics").await?;
    assert_eq!(message["metrics"][0]["value"], 2.0);
    Ok(())
}

#[tokio::test]
async fn handshakes_without_a_token_or_from_a_foreign_origin_are_refused() -> anyhow::Result<()> {
    let agg = TestAggregator::start().await?;
    let status_of = |result: Result<_, tokio_tungstenite::tungstenite::Error>| match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Some(response.status().as_u16())
        }
        _ => None,
    };
    let no_token = tokio_tungstenite::connect_async(agg.ws_url()?)
        .await
        .map(|_| ());
    assert_eq!(status_of(no_token), Some(401));
    let bad_token = tokio_tungstenite::connect_async(format!("{}?token=p2pa_wrong", agg.ws_url()?))
        .await
        .map(|_| ());
    assert_eq!(status_of(bad_token), Some(401));

    let mut request = format!("{}?token={}", agg.ws_url()?, agg.api_token).into_client_request()?;
    request
        .headers_mut()
        .insert("origin", "http://evil.example".parse()?);
    let foreign = tokio_tungstenite::connect_async(request).await.map(|_| ());
    assert_eq!(status_of(foreign), Some(403));

    let mut request = format!("{}?token={}", agg.ws_url()?, agg.api_token).into_client_request()?;
    request
        .headers_mut()
        .insert("origin", "http://127.0.0.1:5121".parse()?);
    assert!(tokio_tungstenite::connect_async(request).await.is_ok());

    let wrong_path = tokio_tungstenite::connect_async(format!(
        "ws://{}/elsewhere?token={}",
        agg.server.as_ref().map(|s| s.ws_addr).expect("running"),
        agg.api_token
    ))
    .await
    .map(|_| ());
    assert_eq!(status_of(wrong_path), Some(404));
    Ok(())
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_the_others_keep_up() -> anyhow::Result<()> {
    let agg = TestAggregator::start_with(
        "websocket: {client_queue: 4}\ningest: {rate_per_host: 10000000, burst_per_host: 10000000}",
    )
    .await?;
    let _stalled = connect(&agg, "").await?; // never read
    let mut reader = connect(&agg, "").await?;
    let cred = agg.enroll("host-a").await?;
    let batches = 60u64;
    let per_batch = 2000;
    let reading = tokio::spawn(async move {
        let mut seen = 0u64;
        while seen < batches {
            match next_of(&mut reader, "metrics").await {
                Ok(_) => seen += 1,
                Err(error) => return Err(error),
            }
        }
        Ok(seen)
    });
    let now = now_ms();
    for seq in 1..=batches {
        let records = (0..per_batch)
            .map(|i| {
                metric(
                    "padding_metric_with_a_long_name",
                    i as f64,
                    &[("slot", &i.to_string())],
                    now + seq,
                )
            })
            .collect();
        let (status, _) = agg
            .post_batch(&cred, &batch("host-a", "s", seq, records))
            .await?;
        assert!(status.is_success());
        // Let the reader drain its queue of 4 between publishes.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(reading.await??, batches);
    let (_, health) = agg.api("/api/v1/health").await?;
    // Only the stalled client was dropped; the reader saw every batch.
    assert_eq!(health["websocket"]["dropped_slow_total"], 1, "{health}");
    Ok(())
}
