//! The agent's sender against an aggregator that answers from a script (each
//! answer of the status table once), and over TLS against the real one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use p2pmon_agent::transport::Transport;
use p2pmon_agent::transport::credential::Credential;
use p2pmon_common::wire::{Ack, Batch, paths};
use p2pmon_tests::AgentDir;
use p2pmon_tests::agent_process::{AgentProcess, check_sequence, counter};
use p2pmon_tests::aggregator::{AggregatorProcess, metric, now_ms, stored_values};
use p2pmon_tests::wait::{eventually, eventually_blocking};

/// What the scripted aggregator saw.
#[derive(Default)]
struct Seen {
    hellos: usize,
    /// (seq, status answered) per batch request.
    batches: Vec<(u64, u16)>,
    /// Answers still to give, in order; then 200.
    script: Vec<(StatusCode, &'static str, Option<u64>)>,
}

async fn scripted_server(seen: Arc<Mutex<Seen>>) -> Result<String> {
    let hello_seen = seen.clone();
    let app = axum::Router::new()
        .route(
            paths::HELLO,
            axum::routing::post(move || {
                let seen = hello_seen.clone();
                async move {
                    if let Ok(mut seen) = seen.lock() {
                        seen.hellos += 1;
                    }
                    axum::Json(serde_json::json!({"host_id": "scripted"}))
                }
            }),
        )
        .route(
            paths::BATCHES,
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let seen = seen.clone();
                async move { answer(&seen, &headers, &body) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

fn answer(seen: &Mutex<Seen>, headers: &HeaderMap, body: &[u8]) -> Response {
    let Ok(mut seen) = seen.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    assert_eq!(
        headers.get("content-encoding").map(|v| v.as_bytes()),
        Some(&b"zstd"[..])
    );
    assert_eq!(
        headers.get("authorization").map(|v| v.as_bytes()),
        Some(&b"Bearer p2ph_scripted"[..])
    );
    let batch: Batch = match zstd::stream::decode_all(body)
        .map_err(anyhow::Error::from)
        .and_then(|json| Ok(serde_json::from_slice(&json)?))
    {
        Ok(batch) => batch,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    let (status, code, retry_after) = if seen.script.is_empty() {
        (StatusCode::OK, "", None)
    } else {
        seen.script.remove(0)
    };
    seen.batches.push((batch.seq, status.as_u16()));
    if status == StatusCode::OK {
        return axum::Json(Ack {
            seq: batch.seq,
            stored: batch.records.len() as u64,
            ..Ack::default()
        })
        .into_response();
    }
    let mut response = (
        status,
        axum::Json(serde_json::json!({"code": code, "message": "scripted"})),
    )
        .into_response();
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(
            "retry-after",
            seconds
                .to_string()
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
    }
    response
}

#[tokio::test]
async fn each_answer_of_the_aggregator_gets_its_treatment() -> Result<()> {
    let seen = Arc::new(Mutex::new(Seen {
        script: vec![
            (StatusCode::INTERNAL_SERVER_ERROR, "boom", None), // seq 1: retried
            (StatusCode::OK, "", None),                        // seq 1: stored
            (StatusCode::PAYLOAD_TOO_LARGE, "too_many_records", None), // seq 2: dropped
            (StatusCode::CONFLICT, "hello_required", None),    // seq 3: hello, resend
            (StatusCode::TOO_MANY_REQUESTS, "rate_limited", Some(1)), // seq 3: wait 1 s
            (StatusCode::OK, "", None),                        // seq 3: stored
            (StatusCode::FORBIDDEN, "forged_host", None),      // seq 4: dropped
        ],
        ..Seen::default()
    }));
    let url = scripted_server(seen.clone()).await?;
    let dir = AgentDir::new()?;
    let config = dir.config(&format!(
        "host_id: scripted\noutput: {{kind: aggregator}}\naggregator:\n  url: '{url}'\n  credential_file: credential\n  \
         spool: {{dir: spool}}\n  backoff: {{initial_ms: 50, max_ms: 200}}\n"
    ))?;
    Credential {
        host_id: "scripted".to_string(),
        credential: "p2ph_scripted".to_string(),
        aggregator: url.clone(),
    }
    .save(&dir.path().join("credential"))?;

    let transport = Transport::start(&config, Vec::new())?;
    let now = now_ms();
    for (i, records) in [3usize, 5, 2, 7, 1].into_iter().enumerate() {
        let batch = (0..records)
            .map(|r| metric("x", (i * 10 + r) as f64, &[], now))
            .collect();
        transport.handles.spool.push("scripted", now, batch)?;
    }
    let started = Instant::now();
    eventually(Duration::from_secs(20), async || {
        let spool = &transport.handles.spool;
        ensure!(spool.is_empty(), "spool not drained: {:?}", spool.figures());
        Ok(())
    })
    .await?;
    let (batches, hellos) = {
        let seen = seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        (seen.batches.clone(), seen.hellos)
    };
    assert_eq!(
        batches,
        [
            (1, 500),
            (1, 200),
            (2, 413),
            (3, 409),
            (3, 429),
            (3, 200),
            (4, 403),
            (5, 200)
        ],
        "in order, one in flight"
    );
    assert_eq!(hellos, 2, "a hello at the start and after hello_required");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    let stats = &transport.handles.stats;
    assert_eq!(stats.batches_sent.get(), 3);
    assert_eq!(stats.records_sent.get(), 3 + 2 + 1);
    assert_eq!(stats.batches_rejected.get(), 2);
    assert_eq!(stats.records_rejected.get(), 5 + 7);
    assert_eq!(stats.send_failures.get(), 2, "the 500 and the 429");
    transport.finish().await;
    Ok(())
}

#[tokio::test]
async fn shutdown_leaves_what_cannot_be_sent_in_the_spool() -> Result<()> {
    let dir = AgentDir::new()?;
    // Nothing listens on port 9 of loopback.
    let config = dir.config(
        "host_id: nobody\noutput: {kind: aggregator}\naggregator:\n  url: 'http://127.0.0.1:9'\n  credential_file: credential\n  \
         join_token: p2pj_x\n  spool: {dir: spool}\n  drain_timeout_ms: 300\n",
    )?;
    let transport = Transport::start(&config, Vec::new())?;
    transport
        .handles
        .spool
        .push("nobody", now_ms(), vec![metric("x", 1.0, &[], now_ms())])?;
    let spool = transport.handles.spool.clone();
    let started = Instant::now();
    transport.finish().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the drain timeout bounds shutdown"
    );
    assert_eq!(spool.figures().batches, 1, "kept for the next start");
    Ok(())
}

#[test]
fn agents_ship_over_tls_and_refuse_a_certificate_they_do_not_trust() -> Result<()> {
    let root = tempfile::tempdir()?;
    let (cert, key) = p2pmon_tests::write_self_signed(root.path(), "aggregator")?;
    let (other_cert, _) = p2pmon_tests::write_self_signed(root.path(), "other")?;
    let mut aggregator = AggregatorProcess::configure(
        &crate::bins::aggregator(),
        &root.path().join("aggregator"),
        &format!(
            "ingest: {{tls: {{cert: '{}', key: '{}'}}}}",
            cert.display(),
            key.display()
        ),
    )?;
    aggregator.start()?;
    let https = aggregator.ingest_url().replace("http://", "https://");
    let agent_binary = crate::bins::agent();
    let mut agents = Vec::new();
    for (host, ca) in [("trusting", &cert), ("suspicious", &other_cert)] {
        let mut agent = AgentProcess::configure(
            &agent_binary,
            &root.path().join(host),
            host,
            &https,
            &aggregator.command(&["token", "create", "--join"])?,
            &[counter(100)],
            &format!("aggregator: {{ca_file: '{}'}}", ca.display()),
        )?;
        agent.start()?;
        agents.push(agent);
    }
    agents[1].wait_for_log("certificate", Duration::from_secs(30))?;
    eventually_blocking(Duration::from_secs(30), || {
        let stored = stored_values(&aggregator.db()?, "trusting", "test_sequence")?.len();
        ensure!(
            stored >= 5,
            "{stored} values over TLS:\n{}",
            agents[0].log()
        );
        Ok(())
    })?;
    for agent in &mut agents {
        agent.stop()?;
    }
    check_sequence(&stored_values(
        &aggregator.db()?,
        "trusting",
        "test_sequence",
    )?)
    .context("over TLS")?;
    assert!(stored_values(&aggregator.db()?, "suspicious", "test_sequence")?.is_empty());
    assert!(
        agents[1].spooled() > 0,
        "the untrusting agent keeps its data"
    );
    assert!(
        !aggregator
            .command(&["host", "list"])?
            .contains("suspicious"),
        "it never enrolled: the join token did not leave the host"
    );
    Ok(())
}
