//! WebSocket fan-out: latency from the moment a batch is sent to ingest to
//! the moment each client has the `metrics` message, with 1,000 and 10,000
//! clients; and the aggregator's memory per idle client.
//!
//! `make bench-fanout` (raises the open-file limit first).
//! Knobs: BENCH_CLIENTS ("1000,10000"), BENCH_MESSAGES (20), BENCH_RATE (5 per s).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use futures_util::StreamExt;
use p2pmon_aggregator::auth::{self, TokenKind};
use p2pmon_aggregator::store::schema;
use p2pmon_common::wire::paths;
use p2pmon_tests::aggregator::{AggregatorProcess, batch, metric, now_ms};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

fn now_us() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as f64)
        .unwrap_or(0.0)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn run(
    agg: &AggregatorProcess,
    token: &str,
    credential: &str,
    clients: usize,
    messages: usize,
    rate: f64,
    seq: &mut u64,
) -> Result<()> {
    let pid = agg.pid().unwrap_or(0);
    let before = rss_kib(pid);
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(clients * messages)));
    let url = format!("{}?token={token}", agg.ws_url());
    let mut readers = Vec::with_capacity(clients);
    let connect_started = Instant::now();
    let connections: Vec<_> = futures_util::stream::iter(0..clients)
        .map(|_| tokio_tungstenite::connect_async(url.clone()))
        .buffer_unordered(200)
        .collect()
        .await;
    for connection in connections {
        let (mut ws, _) = connection?;
        let latencies = latencies.clone();
        readers.push(tokio::spawn(async move {
            let mut mine = Vec::with_capacity(messages);
            while mine.len() < messages {
                match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
                    Ok(Some(Ok(Message::Text(text)))) => {
                        let received = now_us();
                        let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
                            continue;
                        };
                        if value["type"] == "metrics"
                            && let Some(sent) = value["metrics"][0]["value"].as_f64()
                        {
                            mine.push((received - sent) / 1000.0);
                        }
                    }
                    Ok(Some(Ok(_))) => {}
                    _ => break,
                }
            }
            latencies.lock().await.extend(mine);
        }));
    }
    eprintln!(
        "{clients} clients connected in {:.1} s",
        connect_started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_kib(pid);
    let http = reqwest::Client::new();
    let interval = Duration::from_secs_f64(1.0 / rate);
    for _ in 0..messages {
        *seq += 1;
        let b = batch(
            "bench-publisher",
            "bench",
            *seq,
            vec![metric("bench_sent_us", now_us(), &[], now_ms())],
        );
        let body = zstd::encode_all(&serde_json::to_vec(&b)?[..], 3)?;
        let response = http
            .post(format!("{}{}", agg.ingest_url(), paths::BATCHES))
            .bearer_auth(credential)
            .header("content-encoding", "zstd")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("ingest answered {}", response.status());
        }
        tokio::time::sleep(interval).await;
    }
    for reader in readers {
        let _ = reader.await;
    }
    let mut all = latencies.lock().await.clone();
    all.sort_by(f64::total_cmp);
    let expected = clients * messages;
    println!(
        "{clients:>6} clients: {} of {expected} deliveries; ingest->client latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; idle memory {:.1} KiB per client (aggregator RSS {} -> {} KiB)",
        all.len(),
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.last().copied().unwrap_or(f64::NAN),
        (idle.saturating_sub(before)) as f64 / clients as f64,
        before,
        idle
    );
    // Let the server notice the closed connections before the next round.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(())
}

fn main() -> Result<()> {
    let counts: Vec<usize> = std::env::var("BENCH_CLIENTS")
        .unwrap_or_else(|_| "1000,10000".to_string())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let messages: usize = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let rate: f64 = std::env::var("BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5.0);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir()?;
    let mut agg = AggregatorProcess::configure(
        std::path::Path::new(env!("CARGO_BIN_EXE_p2pmon-test-aggregator")),
        dir.path(),
        "websocket: {max_clients: 50000}",
    )?;
    let (token, credential) = {
        let mut conn = schema::open(&agg.config.store_path())?;
        let api = auth::create_token(&conn, TokenKind::Api, "bench", None, now_ms() as i64)?;
        let join = auth::create_token(&conn, TokenKind::Join, "", None, now_ms() as i64)?;
        let enrolled = auth::enroll(&mut conn, &join, "bench-publisher", now_ms() as i64)?;
        (api, enrolled.credential)
    };
    agg.start()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let http = reqwest::Client::new();
        http.post(format!("{}{}", agg.ingest_url(), paths::HELLO))
            .bearer_auth(&credential)
            .json(&serde_json::json!({"agent_version": "bench", "plugins": []}))
            .send()
            .await?;
        println!("fan-out: {messages} batches at {rate}/s to every client");
        let mut seq = 0;
        for clients in counts {
            run(&agg, &token, &credential, clients, messages, rate, &mut seq).await?;
        }
        anyhow::Ok(())
    })?;
    agg.stop()?;
    Ok(())
}
