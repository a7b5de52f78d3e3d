//! The InfluxDB path against a real line-protocol server: Debian's
//! VictoriaMetrics takes the InfluxDB v2 write API (`/api/v2/write`, gzip).
//! The aggregator starts while it is away: points wait in the buffer (the
//! embedded store keeps serving the API meanwhile), then every one of them
//! arrives once it is up, checked through VictoriaMetrics' export API.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use p2pmon_common::wire::Record;
use p2pmon_tests::aggregator::{TestAggregator, batch, free_port, http_ok, metric, now_ms};

const HOSTS: usize = 3;
const PER_HOST: usize = 2000;

fn start_victoria(port: u16, dir: &std::path::Path) -> Result<std::process::Child> {
    std::process::Command::new("victoria-metrics")
        .arg(format!("-storageDataPath={}", dir.display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg("-loggerLevel=ERROR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("victoria-metrics is not installed: run `make test-deps`")
}

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
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let influx = health(&agg).await?;
        if influx["failures"].as_u64().unwrap_or(0) >= 1 {
            assert_eq!(influx["sent_lines"], 0, "{influx}");
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no failed write while away: {influx}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, history) = agg
        .api("/api/v1/metrics/historical?timeframe=1h&metric=cpu_usage")
        .await?;
    assert!(status.is_success());
    assert_eq!(history["series"].as_array().map(Vec::len), Some(HOSTS));

    // Up: everything buffered arrives (the retry waits at most a few seconds here).
    let dir = tempfile::tempdir()?;
    let mut victoria = start_victoria(port, dir.path())?;
    let result = async {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !http_ok(&format!("{base}/health")).unwrap_or(false) {
            anyhow::ensure!(Instant::now() < deadline, "victoria-metrics did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let total = (HOSTS * PER_HOST) as u64;
        loop {
            let influx = health(&agg).await?;
            if influx["sent_lines"].as_u64() == Some(total) && influx["buffered_lines"] == 0 {
                assert_eq!(influx["dropped_lines"], 0, "{influx}");
                assert_eq!(influx["rejected_lines"], 0, "{influx}");
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "not all sent: {influx}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Every point is there, as VictoriaMetrics exports it.
        let http = reqwest::Client::new();
        http.get(format!("{base}/internal/force_flush"))
            .send()
            .await?;
        let export = http
            .get(format!(
                "{base}/api/v1/export?{}",
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair(
                        "match[]",
                        "{__name__=~\"cpu_usage_value|player_count_value\"}"
                    )
                    .finish()
            ))
            .send()
            .await?
            .text()
            .await?;
        let mut samples = 0;
        let mut escaped = false;
        for line in export.lines() {
            let series: serde_json::Value = serde_json::from_str(line)?;
            samples += series["values"].as_array().map_or(0, Vec::len);
            escaped |= series["metric"]["map"] == "prt fild,08";
        }
        assert_eq!(samples as u64, total, "every point exported once");
        assert!(
            escaped,
            "tag values with spaces and commas survive: {export}"
        );
        anyhow::Ok(())
    }
    .await;
    let _ = victoria.kill();
    let _ = victoria.wait();
    result
}
