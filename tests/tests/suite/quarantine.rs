//! Quarantine is neither forever nor silent: a plugin that keeps crashing is
//! tried again after a cool-down that grows, one whose calls all fail is
//! reported as failing, and the aggregator turns the agents' word on either
//! into a `plugin_quarantined` alert that resolves when the plugin runs again.

use std::time::Duration;

use p2pmon_common::wire::{MetricKind, MetricRecord, Record};
use p2pmon_tests::aggregator::{TestAggregator, batch, now_ms};
use p2pmon_tests::{AgentDir, call_times, run_agent_for, self_metrics};

#[tokio::test]
async fn a_quarantined_plugin_is_tried_again_after_a_growing_cool_down() -> anyhow::Result<()> {
    let dir = AgentDir::with_hostile()?;
    // Each instance answers once, then traps: two crashes quarantine it.
    let config = dir.config(
        r#"
plugins_dir: plugins
collection: { flush_interval_ms: 100, jitter_percent: 0 }
restart: { initial_backoff_ms: 10, max_backoff_ms: 20, quarantine_after: 2, quarantine_ms: 300, max_quarantine_ms: 600 }
plugins:
  - { name: relapsing, file: hostile.wasm, capabilities: [config], interval_ms: 50, config: { mode: trap-after, ok_calls: 1 } }
"#,
    )?;
    let batches = run_agent_for(config, Duration::from_millis(2300)).await?;
    let times = call_times(&batches, "relapsing");
    let gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // Good calls at about 0, 0.05 s (restart), then after cool-downs of
    // 0.3 s, 0.6 s, 0.6 s (the cap). Forever would stop at two.
    assert!(
        (4..=6).contains(&times.len()),
        "{} good calls, gaps {gaps:?}",
        times.len()
    );
    let first_cool = gaps
        .iter()
        .position(|g| *g >= 280)
        .unwrap_or_else(|| panic!("no cool-down in {gaps:?}"));
    assert!(gaps[first_cool] < 500, "{gaps:?}");
    assert!(
        gaps[first_cool + 1..]
            .iter()
            .all(|g| (580..900).contains(g)),
        "the cool-down does not double up to its cap: {gaps:?}"
    );
    // Reported while quarantined, cleared when it runs again.
    let quarantined = self_metrics(&batches, "agent_plugin_quarantined", "relapsing");
    let first = quarantined
        .iter()
        .position(|v| *v == 1.0)
        .expect("quarantined");
    assert!(
        quarantined[first..].contains(&0.0),
        "never cleared: {quarantined:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_plugin_failing_every_call_is_reported_as_failing() -> anyhow::Result<()> {
    let dir = AgentDir::with_hostile()?;
    // `deny` asks for a capability it is not granted: every collect fails.
    let config = dir.config(
        r#"
plugins_dir: plugins
collection: { flush_interval_ms: 100, jitter_percent: 0 }
restart: { quarantine_after: 3 }
plugins:
  - { name: broken, file: hostile.wasm, capabilities: [config], interval_ms: 50, config: { mode: deny } }
  - { name: fine, file: hostile.wasm, capabilities: [config], interval_ms: 50 }
"#,
    )?;
    let batches = run_agent_for(config, Duration::from_millis(800)).await?;
    let failing = self_metrics(&batches, "agent_plugin_failing", "broken");
    assert_eq!(failing.first(), Some(&0.0), "{failing:?}");
    assert_eq!(failing.last(), Some(&1.0), "{failing:?}");
    assert!(
        self_metrics(&batches, "agent_plugin_failing", "fine")
            .iter()
            .all(|v| *v == 0.0)
    );
    // Failing is not crashing: it keeps being called.
    let calls = self_metrics(&batches, "agent_plugin_calls", "broken");
    assert!(calls.last().is_some_and(|c| *c >= 8.0), "{calls:?}");
    Ok(())
}

fn health(name: &str, plugin: &str, value: f64, ts: u64) -> Record {
    Record::Metric(MetricRecord {
        plugin: "agent".to_string(),
        name: name.to_string(),
        value,
        unit: "count".to_string(),
        kind: MetricKind::Gauge,
        tags: [("plugin".to_string(), plugin.to_string())].into(),
        timestamp_ms: ts,
    })
}

#[tokio::test]
async fn the_aggregator_raises_plugin_quarantined_and_resolves_it() -> anyhow::Result<()> {
    let agg = TestAggregator::start().await?;
    let credential = agg.enroll("host-q").await?;
    let t = now_ms();
    let sends = [
        vec![health("agent_plugin_quarantined", "network", 0.0, t)],
        vec![
            health("agent_plugin_quarantined", "network", 1.0, t + 1_000),
            health("agent_plugin_failing", "game", 1.0, t + 1_000),
        ],
        vec![health(
            "agent_plugin_quarantined",
            "network",
            1.0,
            t + 2_000,
        )],
        vec![health(
            "agent_plugin_quarantined",
            "network",
            0.0,
            t + 3_000,
        )],
    ];
    let mut seen = Vec::new();
    for (seq, records) in sends.into_iter().enumerate() {
        let (status, body) = agg
            .post_batch(&credential, &batch("host-q", "s", seq as u64 + 1, records))
            .await?;
        assert!(status.is_success(), "{status} {body}");
        agg.flush().await?;
        let (_, alerts) = agg.api("/api/v1/alerts").await?;
        let mine: Vec<(String, String, String)> = alerts["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter(|a| a["rule"] == "plugin_quarantined" && a["host"] == "host-q")
            .map(|a| {
                (
                    a["labels"]["plugin"].as_str().unwrap_or("").to_string(),
                    a["labels"]["reason"].as_str().unwrap_or("").to_string(),
                    a["status"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        seen.push(mine);
    }
    let owned = |items: &[(&str, &str, &str)]| -> Vec<(String, String, String)> {
        let mut v: Vec<_> = items
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
        v.sort();
        v
    };
    for step in &mut seen {
        step.sort();
    }
    assert_eq!(seen[0], owned(&[]));
    assert_eq!(
        seen[1],
        owned(&[
            ("game", "failing", "firing"),
            ("network", "crashes", "firing")
        ])
    );
    assert_eq!(seen[2], seen[1], "one alert per plugin, not one per point");
    assert_eq!(
        seen[3],
        owned(&[
            ("game", "failing", "firing"),
            ("network", "crashes", "resolved")
        ])
    );
    Ok(())
}
