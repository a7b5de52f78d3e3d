//! `/metrics` in Prometheus' text format, checked by Debian's promtool
//! (`promtool check metrics`: syntax and Prometheus' naming lints): the
//! aggregator's (its own figures and its hosts' latest points) and the
//! agent's (its self-metrics).

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use p2pmon_tests::aggregator::{TestAggregator, batch, metric, now_ms};

/// `promtool check metrics` on `text`: (passed, what it said).
fn promtool(text: &str) -> Result<(bool, String)> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("promtool is not installed: run `make test-deps` (Debian's prometheus package)")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(text.as_bytes())?;
    let output = child.wait_with_output()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((output.status.success() && said.trim().is_empty(), said))
}

#[tokio::test]
async fn the_aggregators_metrics_pass_promtool() -> Result<()> {
    let agg = TestAggregator::start_with_alerts(
        "alerts:\n  cpu_usage: { warning: 80, critical: 95, duration: 0 }\n",
    )
    .await?;
    let now = now_ms();
    for (host, cpu) in [("host-a", 91.0), ("host-b", 12.0)] {
        let cred = agg.enroll(host).await?;
        let records = vec![
            metric("cpu_usage", cpu, &[], now),
            metric(
                "bandwidth_usage",
                2048.0,
                &[("interface", "eth0"), ("direction", "rx")],
                now,
            ),
            metric("player_count", 7.0, &[("map", "prt \"fild\" 08")], now),
            metric("custom.queue_depth", 3.0, &[("queue.name", "x")], now),
        ];
        agg.post_batch(&cred, &batch(host, "s", 1, records)).await?;
    }
    let response = agg
        .http
        .get(agg.api_url("/metrics")?)
        .bearer_auth(&agg.api_token)
        .send()
        .await?;
    assert!(response.status().is_success());
    assert!(
        response.headers()["content-type"]
            .to_str()?
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await?;
    let (passed, said) = promtool(&text)?;
    assert!(passed, "promtool: {said}\n{text}");
    for line in [
        "p2pmon_cpu_usage{host=\"host-a\",host_type=\"p2p\"} 91",
        "p2pmon_bandwidth_usage{host=\"host-b\",host_type=\"p2p\",direction=\"rx\",interface=\"eth0\"} 2048",
        "p2pmon_player_count_value{host=\"host-a\",host_type=\"p2p\",map=\"prt \\\"fild\\\" 08\"} 7",
        "p2pmon_custom_queue_depth{host=\"host-a\",host_type=\"p2p\",queue_name=\"x\"} 3",
        "p2pmon_aggregator_alerts_active{severity=\"warning\"} 1",
        "p2pmon_aggregator_hosts{status=\"online\"} 2",
        "p2pmon_aggregator_ingest_points_total 8",
    ] {
        assert!(text.contains(line), "missing {line}:\n{text}");
    }
    // Without the token: refused.
    let refused = agg.http.get(agg.api_url("/metrics")?).send().await?;
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);
    // promtool does fail on what it should (the check can fail).
    let (passed, _) = promtool("# TYPE bad_metric counter\nbad_metric 1\n")?;
    assert!(!passed, "a counter without _total is a lint error");
    Ok(())
}

#[test]
fn the_agents_self_metrics_pass_promtool() -> Result<()> {
    use p2pmon_tests::agent_process::{AgentProcess, system};
    use p2pmon_tests::aggregator::{AggregatorProcess, free_port, http_ok};
    use p2pmon_tests::wait::eventually_blocking;
    let root = tempfile::tempdir()?;
    let mut aggregator = AggregatorProcess::configure(
        &crate::bins::aggregator(),
        &root.path().join("aggregator"),
        "",
    )?;
    aggregator.start()?;
    let port = free_port()?;
    let mut agent = AgentProcess::for_aggregator(
        &crate::bins::agent(),
        root.path(),
        "host-a",
        &aggregator,
        &[system(200)],
        &format!("metrics_listen: '127.0.0.1:{port}'"),
    )?;
    agent.start()?;
    let url = format!("http://127.0.0.1:{port}/metrics");
    // reqwest needs a rustls provider even for plain HTTP; in this process
    // nothing else may have installed one yet.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let text = eventually_blocking(std::time::Duration::from_secs(30), || {
        anyhow::ensure!(http_ok(&url).unwrap_or(false), "nothing at {url}");
        let text = runtime.block_on(async { reqwest::get(&url).await?.text().await })?;
        // Once the first batch went out, every family is there.
        anyhow::ensure!(
            text.contains("p2pmon_agent_records_sent_total ")
                && !text.contains("p2pmon_agent_records_sent_total 0\n")
                && text.contains("p2pmon_agent_plugin_calls_total{plugin=\"system\"}"),
            "not every family yet at {url}:\n{text}"
        );
        Ok(text)
    })
    .with_context(|| agent.log())?;
    let (passed, said) = promtool(&text)?;
    assert!(passed, "promtool: {said}\n{text}");
    assert!(agent.stop()?.success(), "{}", agent.log());
    Ok(())
}
