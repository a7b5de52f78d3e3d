//! `debug-metrics HOST`: follow one host's points through the running
//! aggregator. First what the API knows of the host (status, last batch,
//! agent, plugins, refused plugins), then every batch as the feed carries
//! it once stored: each point with its age at storing (agent clock to
//! aggregator clock), plus the host's alerts and status changes.

use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use super::health::reachable;
use crate::config::AggregatorConfig;

/// Follow `host` until `batches` batches were shown (or forever).
pub async fn follow(
    config: &AggregatorConfig,
    token: &str,
    host: &str,
    batches: Option<usize>,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    show_host(config, token, host, out).await?;
    follow_feed(config, token, host, batches, out).await
}

/// What the API knows of `host`: status, last batch, agent, plugins.
async fn show_host(
    config: &AggregatorConfig,
    token: &str,
    host: &str,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let api = reachable(config.api.listen);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let answer = http
        .get(format!("http://{api}/api/v1/hosts/{host}"))
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("no aggregator answers on {api} (api.listen)"))?;
    if answer.status() == reqwest::StatusCode::NOT_FOUND {
        anyhow::bail!("{host} is not an enrolled host (p2pmon-aggregator host list)");
    }
    let detail: serde_json::Value = answer.error_for_status()?.json().await?;
    let summary = &detail["host"];
    writeln!(
        out,
        "host {host}: {} ({}), agent {}, last batch {}, {} series",
        summary["status"].as_str().unwrap_or("?"),
        summary["host_type"].as_str().unwrap_or("?"),
        summary["agent_version"].as_str().unwrap_or("?"),
        summary["last_seen_ms"],
        detail["metrics"].as_array().map_or(0, Vec::len)
    )?;
    let plugins: Vec<String> = detail["plugins"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            format!(
                "{} {}",
                p["name"].as_str().unwrap_or("?"),
                p["version"].as_str().unwrap_or("?")
            )
        })
        .collect();
    writeln!(out, "plugins: {}", plugins.join(", "))?;
    if let Some(refused) = detail["refused_plugins"]
        .as_array()
        .filter(|r| !r.is_empty())
    {
        writeln!(
            out,
            "REFUSED plugins (not on ingest.plugin_allowlist): {refused:?}"
        )?;
    }
    Ok(())
}

/// Every feed message about `host` until `batches` batches were shown.
async fn follow_feed(
    config: &AggregatorConfig,
    token: &str,
    host: &str,
    batches: Option<usize>,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let ws = reachable(config.websocket.listen);
    let url = format!(
        "ws://{ws}{}?token={token}&hosts={host}",
        config.websocket.path
    );
    let (mut feed, _) = tokio_tungstenite::connect_async(url)
        .await
        .with_context(|| format!("cannot follow the feed at ws://{ws}"))?;
    writeln!(out, "following {host} (Ctrl-C stops)...")?;
    out.flush()?;
    let mut shown = 0;
    while let Some(message) = feed.next().await {
        let Message::Text(text) = message? else {
            continue;
        };
        let message: serde_json::Value = serde_json::from_str(&text)?;
        match message["type"].as_str() {
            Some("metrics") => {
                show_batch(&message, out)?;
                shown += 1;
            }
            Some("alert") => writeln!(out, "alert: {}", message["alert"])?,
            Some("status") => writeln!(out, "status: {}", message["status"])?,
            _ => {}
        }
        out.flush()?;
        if batches.is_some_and(|wanted| shown >= wanted) {
            break;
        }
    }
    Ok(())
}

/// A `metrics` message: each point with its age at storing.
fn show_batch(message: &serde_json::Value, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let stored = message["stored_ms"].as_i64().unwrap_or(0);
    let metrics = message["metrics"].as_array().cloned().unwrap_or_default();
    writeln!(out, "batch stored at {stored}: {} points", metrics.len())?;
    for metric in metrics {
        let age = stored - metric["timestamp_ms"].as_i64().unwrap_or(stored);
        let tags = metric["tags"]
            .as_object()
            .filter(|t| !t.is_empty())
            .map(|t| serde_json::Value::Object(t.clone()).to_string())
            .unwrap_or_default();
        writeln!(
            out,
            "  {}{tags} = {} {} (from {}, {age} ms before storing)",
            metric["name"].as_str().unwrap_or("?"),
            metric["value"],
            metric["unit"].as_str().unwrap_or(""),
            metric["plugin"].as_str().unwrap_or("?"),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_shows_each_point_with_its_age_at_storing() {
        let message = serde_json::json!({
            "type": "metrics",
            "host": "alpha",
            "stored_ms": 10_250,
            "metrics": [
                {"name": "cpu_usage", "value": 41.5, "unit": "percent", "tags": {}, "plugin": "system", "timestamp_ms": 10_000},
                {"name": "player_count", "value": 3.0, "unit": "", "tags": {"map": "prontera"}, "plugin": "game", "timestamp_ms": 9_000},
            ],
        });
        let mut out = Vec::new();
        show_batch(&message, &mut out).unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&out);
        assert_eq!(
            text,
            "batch stored at 10250: 2 points\n  cpu_usage = 41.5 percent (from system, 250 ms before storing)\n  player_count{\"map\":\"prontera\"} = 3.0  (from game, 1250 ms before storing)\n"
        );
    }
}
