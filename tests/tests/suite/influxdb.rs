//! The InfluxDB path against a real line-protocol server: Debian's
//! VictoriaMetrics takes the InfluxDB v2 write API (`/api/v2/write`, gzip).
//! The aggregator starts while it is away: points wait in the buffer (the
//! embedded store keeps serving the API meanwhile), then every one of them
//! arrives once it is up, checked through VictoriaMetrics' export API.

use std::time::Duration;

use anyhow::{Context, Result};
use p2pmon_common::wire::Record;
use p2pmon_tests::aggregator::{TestAggregator, batch, free_port, metric, now_ms};
use p2pmon_tests::fake_http::{FakeHttp, Reply};
use p2pmon_tests::victoria::Victoria;
use p2pmon_tests::wait::eventually;

const HOSTS: usize = 3;
const PER_HOST: usize = 2000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_point_reaches_victoriametrics_after_an_outage() -> Result<()> {
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let agg = TestAggregator::start_with(&format!(
        "influxdb: {{ url: '{base}', org: p2pmon, bucket: p2pmon, batch_lines: 500, flush_ms: 100 }}"
    ))
    .await?;
    let now = now_ms();
    for h in 0..HOSTS {
        let host = format!("host-{h}");
        let cred = agg.enroll(&host).await?;
        for chunk in 0..(PER_HOST / 500) {
            let records: Vec<Record> = (0..500)
                .map(|i| {
                    let n = chunk * 500 + i;
                    let ts = now - 600_000 + n as u64 * 100;
                    if n % 2 == 0 {
                        metric("cpu_usage", n as f64, &[], ts)
                    } else {
                        metric("player_count", 1.0, &[("map", "prt fild,08")], ts)
                    }
                })
                .collect();
            let (status, ack) = agg
                .post_batch(&cred, &batch(&host, "s", chunk as u64 + 1, records))
                .await?;
            anyhow::ensure!(status.is_success(), "{ack}");
        }
    }
    let health = |agg: &TestAggregator| {
        let agg_url = agg.api_url("/api/v1/health");
        let http = agg.http.clone();
        async move {
            let health: serde_json::Value = http.get(agg_url?).send().await?.json().await?;
            anyhow::Ok(health["influxdb"].clone())
        }
    };
    // The store is away: points wait, failures are counted, the API serves.
    let influx = eventually(Duration::from_secs(10), async || {
        let influx = health(&agg).await?;
        anyhow::ensure!(
            influx["failures"].as_u64().unwrap_or(0) >= 1,
            "no failed write while away: {influx}"
        );
        Ok(influx)
    })
    .await?;
    assert_eq!(influx["sent_lines"], 0, "{influx}");
    let (status, history) = agg
        .api("/api/v1/metrics/historical?timeframe=1h&metric=cpu_usage")
        .await?;
    assert!(status.is_success());
    assert_eq!(history["series"].as_array().map(Vec::len), Some(HOSTS));
    assert_eq!(history["source"], "embedded", "{history}");

    // Up: everything buffered arrives (the retry waits at most a few seconds here).
    let _victoria = Victoria::start_on(port)?;
    {
        let total = (HOSTS * PER_HOST) as u64;
        let influx = eventually(Duration::from_secs(60), async || {
            let influx = health(&agg).await?;
            anyhow::ensure!(
                influx["sent_lines"].as_u64() == Some(total) && influx["buffered_lines"] == 0,
                "not all sent: {influx}"
            );
            Ok(influx)
        })
        .await?;
        assert_eq!(influx["dropped_lines"], 0, "{influx}");
        assert_eq!(influx["rejected_lines"], 0, "{influx}");
        // Every point is there, as VictoriaMetrics exports it.
        let (series, samples) = exported(&base, "cpu_usage_value|player_count_value").await?;
        assert_eq!(samples as u64, total, "every point exported once");
        assert!(
            series.iter().any(|s| s["metric"]["map"] == "prt fild,08"),
            "tag values with spaces and commas survive: {series:?}"
        );
        let (_, history) = agg
            .api("/api/v1/metrics/historical?timeframe=1h&metric=player_count")
            .await?;
        assert_eq!(
            history["source"], "embedded",
            "VictoriaMetrics has no Flux: {history}"
        );
    }
    Ok(())
}

/// The series VictoriaMetrics holds for the measurements `names` (its export
/// API), and how many samples they have in all.
async fn exported(base: &str, names: &str) -> Result<(Vec<serde_json::Value>, usize)> {
    let http = reqwest::Client::new();
    http.get(format!("{base}/internal/force_flush"))
        .send()
        .await?;
    let selector = format!("{{__name__=~\"{names}\"}}");
    let export = http
        .get(format!(
            "{base}/api/v1/export?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("match[]", &selector)
                .finish()
        ))
        .send()
        .await?
        .text()
        .await?;
    let mut all = Vec::new();
    let mut samples = 0;
    for line in export.lines() {
        let series: serde_json::Value = serde_json::from_str(line)?;
        samples += series["values"].as_array().map_or(0, Vec::len);
        all.push(series);
    }
    Ok((all, samples))
}

/// Lines still waiting when the aggregator stops are kept in its data
/// directory and sent after the next start: a restart during an outage
/// loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_waiting_at_shutdown_are_sent_after_the_next_start() -> Result<()> {
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let mut agg = TestAggregator::start_with(&format!(
        "influxdb: {{ url: '{base}', batch_lines: 100, flush_ms: 50, read_history: false }}"
    ))
    .await?;
    let cred = agg.enroll("host-r").await?;
    let now = now_ms();
    let records: Vec<Record> = (0..300)
        .map(|i| metric("swap_usage", i as f64, &[], now - 300_000 + i * 1000))
        .collect();
    let (status, ack) = agg
        .post_batch(&cred, &batch("host-r", "s", 1, records))
        .await?;
    anyhow::ensure!(status.is_success(), "{ack}");
    agg.stop().await?;
    let pending = agg.config.data_dir().join("influxdb-pending.lp");
    let kept = std::fs::read_to_string(&pending).context("the waiting lines were not kept")?;
    assert_eq!(kept.lines().count(), 300, "{kept:.200}");
    assert!(
        kept.starts_with("swap_usage,host=host-r value=0.0 "),
        "{kept:.200}"
    );

    let _victoria = Victoria::start_on(port)?;
    {
        agg.restart().await?;
        eventually(Duration::from_secs(60), async || {
            let (_, health) = agg.api("/api/v1/health").await?;
            anyhow::ensure!(
                health["influxdb"]["sent_lines"] == 300,
                "not sent after the restart: {}",
                health["influxdb"]
            );
            Ok(())
        })
        .await?;
        assert!(!pending.exists(), "the kept lines are gone once loaded");
        assert_eq!(exported(&base, "swap_usage_value").await?.1, 300);
    }
    Ok(())
}

/// InfluxDB's CSV answer to the history query: host-x's mean, min, max and
/// count over two windows (a host the embedded store does not have, so the
/// answer's source shows).
const FLUX_ANSWER: &str = ",result,table,_start,_stop,_time,_value,_field,_measurement,host\r\n\
    ,mean,0,2026-01-01T00:00:00Z,2026-01-01T01:00:00Z,2026-01-01T00:00:00Z,20,value,cpu_usage,host-x\r\n\
    ,mean,0,2026-01-01T00:00:00Z,2026-01-01T01:00:00Z,2026-01-01T00:00:10Z,30,value,cpu_usage,host-x\r\n\
    ,min,1,2026-01-01T00:00:00Z,2026-01-01T01:00:00Z,2026-01-01T00:00:00Z,15,value,cpu_usage,host-x\r\n\
    ,max,2,2026-01-01T00:00:00Z,2026-01-01T01:00:00Z,2026-01-01T00:00:00Z,25,value,cpu_usage,host-x\r\n\
    ,count,3,2026-01-01T00:00:00Z,2026-01-01T01:00:00Z,2026-01-01T00:00:00Z,4,value,cpu_usage,host-x\r\n\r\n";

/// With InfluxDB as the history backend, the history API asks it in Flux
/// (token, bucket, measurement, host) and answers with its series; when it
/// fails, the embedded store answers, and reads leave InfluxDB alone for a
/// while instead of waiting on it each time. (No InfluxDB 2 server can be
/// installed here: a local stand-in answers the query route as InfluxDB does.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_reads_go_through_flux_and_fall_back_to_the_embedded_store() -> Result<()> {
    let influx = FakeHttp::start(|path, n| match (path, n) {
        ("/api/v2/query", 2) => Reply::body(500, "{\"code\":\"internal error\"}"),
        ("/api/v2/query", _) => Reply::body(200, FLUX_ANSWER).header("content-type", "text/csv"),
        _ => Reply::status(204),
    })
    .await?;
    let agg = TestAggregator::start_with(&format!(
        "influxdb: {{ url: '{}', org: ops, bucket: game-metrics, token: secret-token }}",
        influx.base
    ))
    .await?;
    let cred = agg.host("host-a").await?;
    let (status, ack) = agg
        .send(&cred, vec![metric("cpu_usage", 55.0, &[], now_ms())])
        .await?;
    anyhow::ensure!(status.is_success(), "{ack}");

    let (status, history) = agg
        .api("/api/v1/metrics/historical?timeframe=24h&metric=cpu_usage&host=host-x")
        .await?;
    assert!(status.is_success(), "{history}");
    assert_eq!(history["source"], "influxdb", "{history}");
    assert_eq!(history["series"][0]["host"], "host-x", "{history}");
    assert_eq!(
        history["series"][0]["points"][0],
        serde_json::json!({ "t": 1_767_225_600_000_i64, "avg": 20.0, "min": 15.0, "max": 25.0, "count": 4 })
    );
    let asked = influx.on("/api/v2/query");
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].header("authorization"), "Token secret-token");
    let flux = asked[0].json()["query"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for part in [
        "from(bucket: \"game-metrics\")",
        "r._measurement == \"cpu_usage\"",
        "r.host == \"host-x\"",
        "aggregateWindow(every: 60s, fn: mean",
    ] {
        assert!(flux.contains(part), "{part} not in {flux}");
    }

    // InfluxDB fails: the embedded store answers, with the reason.
    let (status, history) = agg
        .api("/api/v1/metrics/historical?timeframe=1h&metric=cpu_usage")
        .await?;
    assert!(status.is_success(), "{history}");
    assert_eq!(history["source"], "embedded", "{history}");
    assert!(
        history["influxdb_error"]
            .as_str()
            .is_some_and(|e| e.contains("answered 500")),
        "{history}"
    );
    assert_eq!(history["series"][0]["host"], "host-a", "{history}");
    assert_eq!(history["series"][0]["points"][0]["avg"], 55.0, "{history}");
    // And the next read does not ask it again right away.
    let (_, history) = agg
        .api("/api/v1/metrics/historical?timeframe=1h&metric=cpu_usage")
        .await?;
    assert_eq!(history["source"], "embedded", "{history}");
    assert_eq!(influx.on("/api/v2/query").len(), 2);
    Ok(())
}
