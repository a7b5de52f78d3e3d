//! A hostile volunteer host's text: a version string that forges a log line,
//! an event message with chat mentions and disguised links, a tag that
//! displays reversed. Against the aggregator built from this tree, its log
//! files and local stand-ins for Discord's and Slack's webhooks.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use p2pmon_common::wire::{EnrollRequest, EventRecord, Hello, HostType, Record, Severity, paths};
use p2pmon_tests::aggregator::{batch, metric, metric_from, now_ms};
use p2pmon_tests::fake_http::{FakeHttp, Reply, wait_for};

const FORGED: &str =
    "2026-12-01T00:00:00.000000Z ERROR p2pmon_aggregator::server: Host revoked. host=victim";
const LURE: &str =
    "<!channel> @everyone <https://evil.example|Session expired> [log in](https://evil.example)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_text_is_escaped_in_logs_and_chat_and_refused_in_tags() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chat = FakeHttp::start(|_, _| Reply::status(204)).await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("alerts.yml"),
        format!(
            "events:\n  security_event: {{ min_severity: warning, type: security }}\nnotifications:\n  discord: {{ enabled: true, webhook_url: '{0}/discord' }}\n  slack: {{ enabled: true, webhook_url: '{0}/slack' }}\n",
            chat.base
        ),
    )?;
    let mut aggregator = crate::bins::start_aggregator(
        dir.path(),
        "alerts_file: alerts.yml\nlogging: {dir: logs, format: text}",
    )?;
    let join = aggregator.command(&["token", "create", "--join"])?;
    let http = reqwest::Client::new();
    let ingest = aggregator.ingest_url();
    let enrolled: serde_json::Value = http
        .post(format!("{ingest}{}", paths::ENROLL))
        .json(&EnrollRequest {
            join_token: join,
            host_id: "mallory".to_string(),
        })
        .send()
        .await?
        .json()
        .await?;
    let credential = enrolled["credential"]
        .as_str()
        .context("credential")?
        .to_string();
    // The version string carries a newline and a whole forged log line.
    let hello = http
        .post(format!("{ingest}{}", paths::HELLO))
        .bearer_auth(&credential)
        .json(&Hello {
            agent_version: format!("1.0\n{FORGED}"),
            host_type: HostType::P2p,
            plugins: vec![],
        })
        .send()
        .await?;
    let hello_status = hello.status();

    let event = Record::Event(EventRecord {
        plugin: "anticheat".to_string(),
        kind: "security_event".to_string(),
        severity: Severity::Critical,
        message: format!("{LURE}\n{FORGED}\u{1b}[2J\u{0}"),
        fields: BTreeMap::new(),
        timestamp_ms: now_ms(),
    });
    let reversed = metric(
        "players_online",
        1.0,
        &[("map", "prt\u{202E}gnp.exe")],
        now_ms(),
    );
    let body = zstd::encode_all(
        &serde_json::to_vec(&batch("mallory", "s", 1, vec![event, reversed]))?[..],
        3,
    )?;
    let ack: serde_json::Value = http
        .post(format!("{ingest}{}", paths::BATCHES))
        .bearer_auth(&credential)
        .header("content-type", "application/json")
        .header("content-encoding", "zstd")
        .body(body)
        .send()
        .await?
        .json()
        .await?;
    // The bidi override is refused in a tag; the event is stored.
    assert_eq!(ack["stored"], 1, "{ack} (hello: {hello_status})");
    assert_eq!(ack["rejected"]["invalid_tag"], 1, "{ack}");

    // Discord and Slack each get the alert: mentions and links defused.
    wait_for("both webhooks", || {
        !chat.on("/discord").is_empty() && !chat.on("/slack").is_empty()
    })
    .await?;
    let discord = chat.on("/discord")[0].json();
    assert_eq!(
        discord["allowed_mentions"]["parse"],
        serde_json::json!([]),
        "{discord}"
    );
    let shown = discord["embeds"].to_string();
    assert!(
        !shown.contains("@everyone") && !shown.contains("[log in]("),
        "{shown}"
    );
    assert!(
        !shown.contains("\\u001b") && !shown.contains("\\u0000"),
        "{shown}"
    );
    let slack = chat.on("/slack")[0].json().to_string();
    assert!(slack.contains("&lt;!channel&gt;"), "{slack}");
    assert!(
        !slack.contains("<!channel>") && !slack.contains("<https://evil"),
        "{slack}"
    );
    assert!(!slack.contains("\\u001b"), "{slack}");

    // The store keeps the message as one escaped line.
    let stored: String = aggregator.db()?.query_row(
        "SELECT message FROM events WHERE host_id = 'mallory'",
        [],
        |r| r.get(0),
    )?;
    assert!(
        !stored.contains('\n') && !stored.contains('\u{1b}'),
        "{stored:?}"
    );
    assert!(stored.contains("\\n2026-12-01T00:00:00"), "{stored:?}");

    aggregator.stop()?;
    // No log file has a line the host wrote: the forged one is escaped
    // inside the real line that quotes it.
    for name in ["monitor.log", "error.log", "alerts.log"] {
        let log = std::fs::read_to_string(dir.path().join("logs").join(name))?;
        for line in log.lines() {
            assert!(
                !line.starts_with("2026-12-01T00:00:00"),
                "{name} has a forged line: {line}"
            );
            assert!(!line.contains('\u{1b}'), "{name}: {line:?}");
        }
    }
    let monitor = std::fs::read_to_string(dir.path().join("logs/monitor.log"))?;
    assert!(
        monitor.contains("1.0\\n2026-12-01T00:00:00"),
        "the version is logged, escaped: {monitor}"
    );
    Ok(())
}

/// An acknowledgement means durable: the writer that commits acknowledged
/// batches fsyncs its WAL at every commit (`synchronous=FULL`) unless
/// aggregator.yml opts out with `store.durability: normal`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_batches_are_committed_with_fsync_by_default() -> Result<()> {
    use p2pmon_tests::aggregator::TestAggregator;
    for (overrides, expected) in [("", 2i64), ("store: {durability: normal}", 1)] {
        let mut agg = TestAggregator::start_with(overrides).await?;
        let credential = agg.host("durable").await?;
        let (status, ack) = agg
            .send(&credential, vec![metric("cpu_usage", 5.0, &[], now_ms())])
            .await?;
        assert!(status.is_success(), "{ack}");
        let store = &agg.server.as_ref().context("server")?.shared.store;
        let level: i64 = store
            .exec(|conn| Ok(conn.pragma_query_value(None, "synchronous", |r| r.get(0))?))
            .await?;
        assert_eq!(
            level, expected,
            "synchronous with {overrides:?} (2 = FULL, 1 = NORMAL)"
        );
        agg.stop().await?;
    }
    // Anything else is a config error naming the choices.
    let error = TestAggregator::start_with("store: {durability: off}")
        .await
        .err()
        .context("durability: off was accepted")?;
    assert!(format!("{error:#}").contains("full"), "{error:#}");
    Ok(())
}

/// One plugin cannot spend the host's series budget: it is held to
/// `max_series_per_plugin`, another plugin's new series still fit, and the
/// agent's own `agent_*` series are stored even when the host is full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_plugin_cannot_spend_the_hosts_series_budget() -> Result<()> {
    use p2pmon_tests::aggregator::TestAggregator;
    let mut agg =
        TestAggregator::start_with("ingest: {max_series_per_host: 100, max_series_per_plugin: 60}")
            .await?;
    let credential = agg.enroll("greedy").await?;
    let of = |plugin: &str, name: &str, tags: &[(&str, &str)]| {
        metric_from(plugin, name, 1.0, tags, now_ms())
    };
    let cores: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    let send = |seq: u64, records: Vec<Record>| {
        let agg = &agg;
        let credential = credential.clone();
        async move {
            let (status, ack) = agg
                .post_batch(&credential, &batch("greedy", "s", seq, records))
                .await?;
            anyhow::ensure!(status.is_success(), "{ack}");
            Ok::<_, anyhow::Error>(ack)
        }
    };
    // The hog asks for 100 series: 60 are its share.
    let hog = cores
        .iter()
        .map(|c| of("hog", "cpu_usage", &[("core", c.as_str())]))
        .collect();
    let ack = send(1, hog).await?;
    assert_eq!(ack["stored"], 60, "{ack}");
    assert_eq!(ack["rejected"]["plugin_series_limit"], 40, "{ack}");
    // Another plugin's new series fit in what is left of the host's 100.
    let others = cores[..50]
        .iter()
        .map(|c| of("system", "memory_usage", &[("slot", c.as_str())]))
        .collect();
    let ack = send(2, others).await?;
    assert_eq!(ack["stored"], 40, "{ack}");
    assert_eq!(ack["rejected"]["series_limit"], 10, "{ack}");
    // The host is full; the agent's own series are still stored.
    let ack = send(
        3,
        vec![of("agent", "agent_plugin_calls", &[("plugin", "hog")])],
    )
    .await?;
    assert_eq!(ack["stored"], 1, "{ack}");
    agg.stop().await
}

/// A metric name belongs to the plugin that first stored it on a host: a
/// third-party plugin writing the system plugin's `memory_usage` (same
/// series or a new one) is refused, and no plugin may write the agent's own
/// `agent_*` series (which feed `plugin_quarantined`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_cannot_write_another_plugins_metrics() -> Result<()> {
    use p2pmon_tests::aggregator::TestAggregator;
    let mut agg = TestAggregator::start().await?;
    let credential = agg.enroll("shared").await?;
    let of = |plugin: &str, name: &str, value: f64, tags: &[(&str, &str)]| {
        metric_from(plugin, name, value, tags, now_ms())
    };
    let (_, ack) = agg
        .post_batch(
            &credential,
            &batch(
                "shared",
                "s",
                1,
                vec![of("system", "memory_usage", 40.0, &[])],
            ),
        )
        .await?;
    assert_eq!(ack["stored"], 1, "{ack}");
    let forged = vec![
        of("evil", "memory_usage", 99.0, &[]),
        of("evil", "memory_usage", 99.0, &[("slot", "1")]),
        of(
            "evil",
            "agent_plugin_quarantined",
            1.0,
            &[("plugin", "system")],
        ),
        of("evil", "evil_queue", 3.0, &[]),
    ];
    let (status, ack) = agg
        .post_batch(&credential, &batch("shared", "s", 2, forged))
        .await?;
    assert!(status.is_success(), "{ack}");
    assert_eq!(ack["stored"], 1, "only its own metric: {ack}");
    assert_eq!(ack["rejected"]["not_owner"], 3, "{ack}");
    // The system plugin's figure stands, and it keeps writing it.
    let (_, host) = agg.api("/api/v1/hosts/shared").await?;
    let memory = host["memory_usage"]
        .as_f64()
        .or_else(|| host["host"]["memory_usage"].as_f64());
    assert_eq!(memory, Some(40.0), "{host}");
    let (_, ack) = agg
        .post_batch(
            &credential,
            &batch(
                "shared",
                "s",
                3,
                vec![of("system", "memory_usage", 41.0, &[])],
            ),
        )
        .await?;
    assert_eq!(ack["stored"], 1, "{ack}");
    let (_, active) = agg.api("/api/v1/alerts/active").await?;
    assert_eq!(
        active["alerts"].as_array().map(Vec::len),
        Some(0),
        "{active}"
    );
    agg.stop().await
}
