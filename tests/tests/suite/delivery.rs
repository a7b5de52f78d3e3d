//! Agents and the aggregator as real processes on loopback: real plugins built
//! from source, enrollment with a join token, the spool, the store, the API
//! and the WebSocket feed. The counter fixture reports 1, 2, 3..., so "every
//! value from 1 to the last, each once" means nothing lost, nothing doubled.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use futures_util::StreamExt;
use p2pmon_tests::agent_process::{AgentProcess, check_sequence, counter, system};
use p2pmon_tests::aggregator::{
    AggregatorProcess, raw_history, stored_points, stored_values, unsealed_store,
};
use p2pmon_tests::wait::eventually_blocking;
use serde_json::Value;
use sha2::Digest;
use tokio_tungstenite::tungstenite::Message;

use crate::bins::start_aggregator;

fn join_token(aggregator: &AggregatorProcess) -> Result<String> {
    aggregator.command(&["token", "create", "--join"])
}

fn count_points(aggregator: &AggregatorProcess, host: &str, name: &str) -> Result<usize> {
    Ok(stored_values(&aggregator.db()?, host, name)?.len())
}

/// An agent for `host` in `root/host`, running the counter every
/// `interval_ms`, enrolled with a fresh join token, started.
fn start_counter_agent(
    root: &std::path::Path,
    aggregator: &AggregatorProcess,
    host: &str,
    interval_ms: u64,
    extra: &str,
) -> Result<AgentProcess> {
    let mut agent = AgentProcess::for_aggregator(
        &crate::bins::agent(),
        root,
        host,
        aggregator,
        &[counter(interval_ms)],
        extra,
    )?;
    agent.start()?;
    Ok(agent)
}

/// Wait until more than `more_than` counter values of `host` are stored.
fn wait_for_counter(aggregator: &AggregatorProcess, host: &str, more_than: usize) -> Result<()> {
    eventually_blocking(Duration::from_secs(30), || {
        let stored = count_points(aggregator, host, "test_sequence")?;
        ensure!(stored > more_than, "{stored} counter values of {host}");
        Ok(())
    })
}

#[test]
fn agents_with_real_plugins_reach_the_store_the_api_and_the_feed() -> Result<()> {
    let root = tempfile::tempdir()?;
    let aggregator = start_aggregator(&root.path().join("aggregator"), "")?;
    let api_token = aggregator.command(&["token", "create", "--api"])?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ws_url = format!("{}?token={api_token}", aggregator.ws_url());
    let (mut ws, _) = runtime.block_on(tokio_tungstenite::connect_async(ws_url))?;

    let mut agents = Vec::new();
    for host in ["host-a", "host-b"] {
        let mut agent = AgentProcess::configure(
            &crate::bins::agent(),
            &root.path().join(host),
            host,
            &aggregator.ingest_url(),
            &join_token(&aggregator)?,
            &[system(500), counter(100)],
            "",
        )?;
        agent.start()?;
        agents.push(agent);
    }

    // The feed carries the system plugin's metrics from each host.
    let mut seen = std::collections::BTreeSet::new();
    runtime.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while seen.len() < 2 {
            let message = tokio::time::timeout_at(deadline, ws.next())
                .await
                .context("no metrics from both hosts on the feed within 30 s")?
                .context("feed closed")??;
            if let Message::Text(text) = message {
                let value: Value = serde_json::from_str(&text)?;
                let has_cpu = value["metrics"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|m| m["name"] == "cpu_usage"));
                if value["type"] == "metrics" && has_cpu {
                    seen.insert(value["host"].as_str().unwrap_or_default().to_string());
                }
            }
        }
        anyhow::Ok(())
    })?;
    assert_eq!(seen, ["host-a", "host-b"].map(String::from).into());

    // The API lists both hosts online, with the plugins each one runs.
    let hosts: Value = get_json(
        &runtime,
        &format!("{}/api/v1/hosts", aggregator.api_url()),
        &api_token,
    )?;
    let listed: Vec<(&str, &str)> = hosts["hosts"]
        .as_array()
        .context("hosts array")?
        .iter()
        .map(|h| {
            (
                h["id"].as_str().unwrap_or(""),
                h["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [("host-a", "online"), ("host-b", "online")],
        "{hosts}"
    );
    let detail: Value = get_json(
        &runtime,
        &format!("{}/api/v1/hosts/host-a", aggregator.api_url()),
        &api_token,
    )?;
    let system_wasm = std::fs::read(root.path().join("host-a/plugins/system.wasm"))?;
    let expected = hex_sha256(&system_wasm);
    let plugins = detail["plugins"].as_array().context("plugins")?;
    assert!(
        plugins
            .iter()
            .any(|p| p["name"] == "system" && p["sha256"] == expected.as_str()),
        "the hello reports each plugin's SHA-256: {detail}"
    );
    assert!(detail["host"]["cpu_usage"].is_number(), "{detail}");

    wait_for_counter(&aggregator, "host-b", 4)?;
    for agent in &mut agents {
        assert!(agent.stop()?.success(), "{}", agent.log());
    }
    for (agent, host) in agents.iter().zip(["host-a", "host-b"]) {
        let values = stored_values(&aggregator.db()?, host, "test_sequence")?;
        let n = check_sequence(&values)?;
        assert!(n >= 5, "{host}: only {n} values");
        assert_eq!(agent.spooled(), 0, "{host}: the spool drained on shutdown");
    }
    // The agents sent their batches in the compact encoding the hello
    // answer offered, every one of them.
    let exposition = runtime.block_on(async {
        reqwest::Client::new()
            .get(format!("{}/metrics", aggregator.api_url()))
            .bearer_auth(&api_token)
            .send()
            .await?
            .text()
            .await
    })?;
    let figure = |name: &str| -> f64 {
        exposition
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(-1.0)
    };
    let compact = figure("p2pmon_aggregator_ingest_compact_batches_total");
    let batches = figure("p2pmon_aggregator_ingest_batches_total");
    assert!(
        compact > 0.0 && compact == batches,
        "{compact} of {batches} batches were compact"
    );
    Ok(())
}

/// GET `url` with an API token, its body as JSON.
fn get_json(runtime: &tokio::runtime::Runtime, url: &str, token: &str) -> Result<Value> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(runtime.block_on(async {
        reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await
    })?)
}

fn hex_sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn killing_the_aggregator_during_ingest_loses_and_doubles_nothing() -> Result<()> {
    let root = tempfile::tempdir()?;
    let mut aggregator = start_aggregator(&root.path().join("aggregator"), "")?;
    let mut agents = Vec::new();
    for host in ["kill-a", "kill-b", "kill-c"] {
        let extra = "collection: {flush_interval_ms: 100}";
        agents.push(start_counter_agent(
            root.path(),
            &aggregator,
            host,
            50,
            extra,
        )?);
    }
    wait_for_counter(&aggregator, "kill-c", 20)?;
    for round in 0..3 {
        // Mid-stream: three agents are sending a batch every 100 ms.
        std::thread::sleep(Duration::from_millis(700 + 300 * round));
        aggregator.kill9()?;
        std::thread::sleep(Duration::from_millis(1500));
        aggregator.start()?;
    }
    std::thread::sleep(Duration::from_secs(2));
    for agent in &mut agents {
        assert!(agent.stop()?.success(), "{}", agent.log());
    }
    for (agent, host) in agents.iter().zip(["kill-a", "kill-b", "kill-c"]) {
        assert_eq!(agent.spooled(), 0, "{host}: everything was acknowledged");
        let n = check_sequence(&stored_values(&aggregator.db()?, host, "test_sequence")?)
            .with_context(|| format!("{host}\n{}", agent.log()))?;
        assert!(n >= 60, "{host}: {n} values in about 6 s at 20 per second");
    }
    let log = std::fs::read_to_string(root.path().join("aggregator/aggregator.log"))?;
    assert!(
        log.contains("Agent connected"),
        "agents said hello again after each restart"
    );
    Ok(())
}

/// The issue asks for two minutes; `P2PMON_OUTAGE_S` shortens it for quick local runs.
fn outage() -> Duration {
    let seconds = std::env::var("P2PMON_OUTAGE_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    Duration::from_secs(seconds)
}

#[test]
fn an_aggregator_outage_is_spooled_and_backfilled_without_a_gap() -> Result<()> {
    let root = tempfile::tempdir()?;
    let mut aggregator = start_aggregator(&root.path().join("aggregator"), "")?;
    let extra = "aggregator: {backoff: {initial_ms: 200, max_ms: 5000}}";
    let mut agent = start_counter_agent(root.path(), &aggregator, "outage-host", 200, extra)?;
    wait_for_counter(&aggregator, "outage-host", 5)?;
    assert!(aggregator.stop()?.success());
    let outage = outage();
    let began = Instant::now();
    std::thread::sleep(outage);
    let spooled = agent.spooled();
    let minimum = (outage.as_millis() / 200 / 10) as usize; // a batch per flush, ~5 per second
    assert!(
        spooled > minimum,
        "{spooled} batches spooled during a {outage:?} outage"
    );
    aggregator.start()?;
    let down_for = began.elapsed();
    eventually_blocking(Duration::from_secs(60), || {
        ensure!(
            agent.spooled() == 0,
            "the backlog: {} spooled",
            agent.spooled()
        );
        Ok(())
    })?;
    assert!(agent.stop()?.success(), "{}", agent.log());

    let points = stored_points(&aggregator.db()?, "outage-host", "test_sequence")?;
    let values: Vec<f64> = points.iter().map(|(_, v)| *v).collect();
    let n = check_sequence(&values).with_context(|| agent.log())?;
    assert!(
        n as u128 >= down_for.as_millis() / 200,
        "{n} values over {down_for:?}"
    );
    let widest = points
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .max()
        .unwrap_or(0);
    assert!(widest < 1000, "a gap of {widest} ms in a 200 ms series");
    Ok(())
}

#[test]
fn an_agent_started_before_its_aggregator_enrolls_when_it_comes_and_honours_429() -> Result<()> {
    let root = tempfile::tempdir()?;
    // Tight limits: the backlog of a few seconds (over 8 batches of about 27
    // records) is over the burst of 200, so a 429 is certain; after each 1 s
    // wait 200 more records pass, above the ~135/s the agent produces.
    let mut aggregator = AggregatorProcess::configure(
        &crate::bins::aggregator(),
        &root.path().join("aggregator"),
        "ingest: {rate_per_host: 400, burst_per_host: 200, max_records_per_batch: 60}",
    )?;
    let token = aggregator.command(&["token", "create", "--join"])?;
    let mut agent = AgentProcess::configure(
        &crate::bins::agent(),
        &root.path().join("agent"),
        "late-host",
        &aggregator.ingest_url(),
        &token,
        &[counter(50)],
        "",
    )?;
    agent.start()?;
    agent.wait_for_log("unreachable for enrollment", Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_secs(3));
    assert!(agent.spooled() >= 5, "collecting while not enrolled");
    aggregator.start()?;
    agent.wait_for_log("Enrolled", Duration::from_secs(30))?;
    agent.wait_for_log("Aggregator asks to slow down", Duration::from_secs(30))?;
    eventually_blocking(Duration::from_secs(60), || {
        ensure!(
            agent.spooled() == 0,
            "the backlog: {} spooled",
            agent.spooled()
        );
        Ok(())
    })
    .with_context(|| agent.log())?;
    assert!(agent.stop()?.success(), "{}", agent.log());
    check_sequence(&stored_values(
        &aggregator.db()?,
        "late-host",
        "test_sequence",
    )?)?;
    let credential = std::fs::metadata(root.path().join("agent/credential"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(credential.permissions().mode() & 0o777, 0o600);
    }
    let _ = credential;
    Ok(())
}

#[test]
fn a_revoked_host_is_cut_off_within_seconds_and_keeps_its_data() -> Result<()> {
    let root = tempfile::tempdir()?;
    let aggregator = start_aggregator(&root.path().join("aggregator"), "")?;
    let agent = start_counter_agent(root.path(), &aggregator, "revoked-host", 100, "")?;
    wait_for_counter(&aggregator, "revoked-host", 3)?;
    aggregator.command(&["host", "revoke", "revoked-host"])?;
    let revoked_at = Instant::now();
    agent.wait_for_log("refused this host's credential", Duration::from_secs(10))?;
    assert!(
        revoked_at.elapsed() < Duration::from_secs(5),
        "cut off in {:?}",
        revoked_at.elapsed()
    );
    let stored = count_points(&aggregator, "revoked-host", "test_sequence")?;
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        count_points(&aggregator, "revoked-host", "test_sequence")?,
        stored,
        "nothing more is stored"
    );
    assert!(
        agent.spooled() > 0,
        "what it collects meanwhile stays in the spool"
    );
    Ok(())
}

#[test]
fn the_enroll_command_keeps_one_private_credential_and_explains_refusals() -> Result<()> {
    let root = tempfile::tempdir()?;
    let aggregator = start_aggregator(&root.path().join("aggregator"), "")?;
    let agent = AgentProcess::configure(
        &crate::bins::agent(),
        &root.path().join("agent"),
        "Enrolled-Host",
        &aggregator.ingest_url(),
        "",
        &[counter(1000)],
        "",
    )?;
    let (ok, text) = agent.command(&["enroll", "--token", "p2pj_forged"])?;
    assert!(!ok, "{text}");
    assert!(
        text.contains("enrollment refused") && text.contains("invalid_join_token"),
        "{text}"
    );
    assert!(!root.path().join("agent/credential").exists());

    let token = join_token(&aggregator)?;
    let (ok, text) = agent.command(&["enroll", "--token", &token])?;
    assert!(ok, "{text}");
    assert!(
        text.contains("\"enrolled-host\""),
        "host ids are lowercase: {text}"
    );
    let saved = std::fs::read_to_string(root.path().join("agent/credential"))?;
    assert!(saved.contains("p2ph_"));

    let second = join_token(&aggregator)?;
    let (ok, text) = agent.command(&["enroll", "--token", &second])?;
    assert!(
        !ok && text.contains("already enrolled") && text.contains("--force"),
        "{text}"
    );
    assert!(
        !text.contains("p2ph_"),
        "secrets stay out of messages: {text}"
    );
    let (ok, text) = agent.command(&["enroll", "--force", "--token", &token])?;
    assert!(
        !ok && text.contains("invalid_join_token"),
        "a used token: {text}"
    );
    let (ok, text) = agent.command(&["enroll", "--force", "--token", &second])?;
    assert!(
        !ok && text.contains("host_exists"),
        "a live host is not taken over: {text}"
    );
    // A lost credential: the admin revokes the host, the agent enrolls anew.
    aggregator.command(&["host", "revoke", "enrolled-host"])?;
    let (ok, text) = agent.command(&["enroll", "--force", "--token", &second])?;
    assert!(ok, "{text}");
    assert_ne!(
        std::fs::read_to_string(root.path().join("agent/credential"))?,
        saved
    );
    Ok(())
}

/// metrics.yml end to end: the real system plugin reports memory_usage and
/// more, but the aggregator's groups collect only cpu_usage of it. The store
/// never holds the rest. The agent learns the groups from its first hello
/// (what it spooled before is refused by the aggregator) and keeps them:
/// after a restart it leaves them out before its spool (and counts them), so
/// the aggregator has nothing more to refuse.
#[test]
fn metrics_left_out_of_metrics_yml_are_not_collected_by_the_agent() -> Result<()> {
    let root = tempfile::tempdir()?;
    let dir = root.path().join("aggregator");
    let mut aggregator = AggregatorProcess::configure(&crate::bins::aggregator(), &dir, "")?;
    std::fs::write(
        dir.join("metrics.yml"),
        "metrics:\n  system: {include: [cpu_usage]}\n",
    )?;
    aggregator.start()?;
    let api_token = aggregator.command(&["token", "create", "--api"])?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let refused = || -> Result<u64> {
        let health: Value = get_json(
            &runtime,
            &format!("{}/api/v1/health", aggregator.api_url()),
            &api_token,
        )?;
        Ok(health["ingest"]["refused"]["not_collected"]
            .as_u64()
            .unwrap_or(0))
    };
    let mut agent = AgentProcess::configure(
        &crate::bins::agent(),
        &root.path().join("host-a"),
        "host-a",
        &aggregator.ingest_url(),
        &join_token(&aggregator)?,
        &[system(200)],
        "",
    )?;
    let points = |name: &str| count_points(&aggregator, "host-a", name);
    let left_out = || -> Result<f64> {
        let counts = stored_values(&aggregator.db()?, "host-a", "agent_records_not_collected")?;
        Ok(counts.last().copied().unwrap_or(0.0))
    };

    agent.start()?;
    eventually_blocking(Duration::from_secs(30), || {
        ensure!(
            points("cpu_usage")? >= 2 && left_out()? > 0.0,
            "the agent has not learnt the groups"
        );
        Ok(())
    })?;
    assert!(agent.stop()?.success(), "{}", agent.log());
    let refused_first_run = refused()?;
    let cpu_first_run = points("cpu_usage")?;

    agent.start()?;
    eventually_blocking(Duration::from_secs(30), || {
        ensure!(
            points("cpu_usage")? >= cpu_first_run + 3,
            "no second run's points"
        );
        Ok(())
    })?;
    assert!(agent.stop()?.success(), "{}", agent.log());
    for name in ["memory_usage", "swap_usage", "uptime", "process_count"] {
        assert_eq!(points(name)?, 0, "{name} was stored");
    }
    assert_eq!(
        refused()?,
        refused_first_run,
        "after a restart the agent sends nothing metrics.yml leaves out"
    );
    Ok(())
}

/// Series of the compaction test, and points per series: 3 closed days at
/// 10 s, values 0, 1, 2... so that "each value once, in time order" means
/// nothing lost and nothing doubled.
const COMPACTION_SERIES: usize = 40;
const COMPACTION_STEPS: i64 = 3 * 8_640;

/// (head points, level-0 chunks, level-1 chunks) in the file now.
fn store_shape(aggregator: &AggregatorProcess) -> Result<(i64, i64, i64)> {
    let conn = aggregator.db()?;
    Ok(conn.query_row(
        "SELECT (SELECT COALESCE(SUM(count), 0) FROM head_batches),
                (SELECT COUNT(*) FROM chunks WHERE level = 0),
                (SELECT COUNT(*) FROM chunks WHERE level = 1)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}

/// Kill -9 the aggregator while `caught` holds for the store's shape; the
/// shape just after the kill.
fn kill_when(
    aggregator: &mut AggregatorProcess,
    what: &str,
    caught: impl Fn((i64, i64, i64)) -> bool,
) -> Result<(i64, i64, i64)> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let shape = store_shape(aggregator)?;
        if caught(shape) {
            aggregator.kill9()?;
            return store_shape(aggregator);
        }
        ensure!(Instant::now() < deadline, "never {what}: {shape:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn killing_the_aggregator_while_it_seals_and_compacts_loses_and_doubles_nothing() -> Result<()> {
    let root = tempfile::tempdir()?;
    let mut aggregator = AggregatorProcess::configure(
        &crate::bins::aggregator(),
        &root.path().join("aggregator"),
        "",
    )?;
    let day = 86_400_000;
    let now = p2pmon_tests::aggregator::now_ms() as i64;
    // Ending at yesterday's midnight (UTC): every day of it closed for
    // compaction whatever the time, also in the first minutes after
    // midnight, while compaction's grace still keeps yesterday open.
    unsealed_store(
        &aggregator.config.store_path(),
        "compact-a",
        COMPACTION_SERIES,
        COMPACTION_STEPS,
        now - now.rem_euclid(day) - day,
    )?;
    let total = COMPACTION_SERIES as i64 * COMPACTION_STEPS;
    assert_eq!(store_shape(&aggregator)?, (total, 0, 0));

    aggregator.start()?;
    let (head, level0, _) = kill_when(&mut aggregator, "sealing", |(head, level0, _)| {
        level0 > 0 && head > 0
    })?;
    ensure!(
        head > 0 && level0 > 0,
        "killed part way through sealing: {head} rows, {level0} chunks"
    );
    println!("killed while sealing: {head} rows left, {level0} chunks");

    aggregator.start()?;
    let (_, level0, level1) =
        kill_when(&mut aggregator, "compacting", |(head, level0, level1)| {
            head == 0 && level0 > 0 && level1 > 0
        })?;
    ensure!(
        level0 > 0 && level1 > 0,
        "killed part way through compaction: {level0} and {level1} chunks"
    );
    println!("killed while compacting: {level0} level-0 and {level1} level-1 chunks");

    aggregator.start()?;
    eventually_blocking(Duration::from_secs(120), || {
        let shape = store_shape(&aggregator)?;
        // One day chunk per series and calendar day (3 days span 3 or 4).
        ensure!(
            shape.0 == 0 && shape.1 == 0 && shape.2 <= 4 * COMPACTION_SERIES as i64,
            "{shape:?}"
        );
        Ok(())
    })?;
    let conn = aggregator.db()?;
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    assert_eq!(check, "ok");
    let series = raw_history(&conn, "compact-a", "test_sequence")?;
    assert_eq!(series.len(), COMPACTION_SERIES);
    for one in &series {
        let values: Vec<f64> = one.points.iter().map(|p| p.avg).collect();
        let expected: Vec<f64> = (0..COMPACTION_STEPS).map(|v| v as f64).collect();
        ensure!(
            values == expected,
            "series {:?}: {} values, not 0..{COMPACTION_STEPS} each once",
            one.tags,
            values.len()
        );
    }
    let token = aggregator.command(&["token", "create", "--api"])?;
    let health = get_json(
        &tokio::runtime::Runtime::new()?,
        &format!("{}/api/v1/health", aggregator.api_url()),
        &token,
    )?;
    assert_eq!(health["store"]["sealed_points"], total, "{health}");
    assert_eq!(health["store"]["head_points"], 0, "{health}");
    Ok(())
}
