//! The operator's commands against a running aggregator: `backup` while it
//! ingests, `restore` (refused while it runs) giving back the identical
//! store, a backup killed part-way leaving the live store intact, `cleanup`,
//! and `check-health` / `check-websocket` passing and failing for real.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{Context, Result};
use p2pmon_common::wire::Record;
use p2pmon_tests::aggregator::{TestAggregator, batch, metric, now_ms};
use p2pmon_tests::fake_http::{FakeHttp, Reply};
use p2pmon_tests::smtp::smtp_server;
use p2pmon_tests::wait::eventually_blocking;

/// Run `p2pmon-aggregator --config CONFIG ARGS...`, whatever its exit.
fn run(config: &Path, args: &[&str]) -> Result<Output> {
    Ok(Command::new(crate::bins::aggregator())
        .arg("--config")
        .arg(config)
        .args(args)
        .env("P2PMON_LOG", "warn")
        .output()?)
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Every row of every table, as text: equal dumps mean identical stores.
fn dump(path: &Path) -> Result<Vec<String>> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut rows = Vec::new();
    for table in tables {
        let mut statement = conn.prepare(&format!("SELECT * FROM \"{table}\" ORDER BY 1"))?;
        let columns = statement.column_count();
        let mut query = statement.query([])?;
        while let Some(row) = query.next()? {
            let values: Vec<String> = (0..columns)
                .map(|i| format!("{:?}", row.get_ref(i).map(|v| format!("{v:?}"))))
                .collect();
            rows.push(format!("{table}: {}", values.join(", ")));
        }
    }
    Ok(rows)
}

/// `count` cpu_usage points for `host`, in batches of 5,000.
async fn ingest(agg: &TestAggregator, host: &str, first_seq: u64, count: usize) -> Result<()> {
    let cred = agg.enroll(host).await?;
    let now = now_ms();
    for (i, chunk) in (0..count).collect::<Vec<_>>().chunks(5_000).enumerate() {
        let records: Vec<Record> = chunk
            .iter()
            .map(|n| {
                let core = (n % 50).to_string();
                metric(
                    "cpu_usage",
                    *n as f64,
                    &[("core", &core)],
                    now - 1_000 + (*n as u64 % 1_000),
                )
            })
            .collect();
        let (status, ack) = agg
            .post_batch(&cred, &batch(host, "s", first_seq + i as u64, records))
            .await?;
        anyhow::ensure!(status.is_success(), "{ack}");
    }
    Ok(())
}

#[tokio::test]
async fn backup_while_running_then_restore_gives_the_identical_store() -> Result<()> {
    let mut agg = TestAggregator::start().await?;
    let config = agg.dir.path().join("aggregator.yml");
    ingest(&agg, "host-a", 1, 20_000).await?;
    agg.flush().await?;

    // Online: the aggregator keeps running (and ingesting) meanwhile.
    let backup = agg.dir.path().join("backup-1");
    let out = run(&config, &["backup", backup.to_str().context("path")?])?;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("backup complete"), "{}", text(&out));
    let manifest = p2pmon_aggregator::ops::verify(&backup)?;
    assert!(manifest.files.contains_key("conf/aggregator.yml"));
    assert!(manifest.files.contains_key("conf/metrics.yml"));
    let out = run(&config, &["backup", backup.to_str().context("path")?])?;
    assert!(!out.status.success(), "an existing directory is refused");

    // Later data, which the restore will take back out.
    ingest(&agg, "host-b", 1, 10).await?;
    let out = run(&config, &["restore", backup.to_str().context("path")?])?;
    assert!(
        !out.status.success(),
        "restore while running must be refused"
    );
    assert!(text(&out).contains("stop it first"), "{}", text(&out));
    assert_eq!(
        agg.stored_values("host-b", "cpu_usage")?.len(),
        10,
        "nothing touched"
    );

    agg.stop().await?;
    let live = agg.config.store_path();
    let out = run(&config, &["restore", backup.to_str().context("path")?])?;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(dump(&live)?, dump(&backup.join("store.db"))?);
    let kept = text(&out)
        .lines()
        .find_map(|l| l.strip_prefix("the replaced store is kept as "))
        .map(PathBuf::from)
        .context("where the old store went")?;
    assert!(kept.is_file(), "{}", kept.display());

    agg.restart().await?;
    assert_eq!(agg.stored_values("host-a", "cpu_usage")?.len(), 20_000);
    assert!(agg.stored_values("host-b", "cpu_usage")?.is_empty());
    let (status, hosts) = agg.api("/api/v1/hosts").await?;
    assert!(status.is_success(), "{hosts}");

    // A damaged backup is refused before anything is replaced.
    agg.stop().await?;
    std::fs::write(backup.join("conf/metrics.yml"), "edited")?;
    let before = dump(&live)?;
    let out = run(&config, &["restore", backup.to_str().context("path")?])?;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("does not match the manifest"),
        "{}",
        text(&out)
    );
    assert_eq!(dump(&live)?, before);
    Ok(())
}

#[tokio::test]
async fn a_backup_killed_part_way_leaves_the_live_store_intact() -> Result<()> {
    let agg = TestAggregator::start().await?;
    let config = agg.dir.path().join("aggregator.yml");
    ingest(&agg, "host-a", 1, 200_000).await?;
    agg.flush().await?;
    let points = |conn: &rusqlite::Connection| -> Result<i64> {
        Ok(p2pmon_aggregator::store::counts(conn)?.points)
    };
    let before = points(&agg.db()?)?;
    for (attempt, delay_ms) in [1u64, 10, 20, 35, 60, 150].into_iter().enumerate() {
        let dest = agg.dir.path().join(format!("killed-{attempt}"));
        let mut child = Command::new(crate::bins::aggregator())
            .arg("--config")
            .arg(&config)
            .arg("backup")
            .arg(&dest)
            .env("P2PMON_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        child.kill()?;
        child.wait()?;
        // Either no backup at all, or a complete one: never a half one.
        let partial = agg.dir.path().join(format!("killed-{attempt}.partial"));
        if dest.exists() {
            p2pmon_aggregator::ops::verify(&dest)?;
        }
        println!(
            "killed after {delay_ms} ms: backup {}, partial {}",
            dest.exists(),
            partial.exists()
        );
        let conn = agg.db()?;
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        assert_eq!(check, "ok", "attempt {attempt}");
        assert_eq!(points(&conn)?, before, "attempt {attempt}");
    }
    // The aggregator still stores, and a backup after the kills completes.
    ingest(&agg, "host-b", 1, 10).await?;
    assert_eq!(agg.stored_values("host-b", "cpu_usage")?.len(), 10);
    let dest = agg.dir.path().join("after");
    let out = run(&config, &["backup", dest.to_str().context("path")?])?;
    assert!(out.status.success(), "{}", text(&out));
    p2pmon_aggregator::ops::verify(&dest)?;
    Ok(())
}

#[tokio::test]
async fn cleanup_applies_retention_now() -> Result<()> {
    let agg = TestAggregator::start().await?;
    let config = agg.dir.path().join("aggregator.yml");
    let cred = agg.enroll("host-a").await?;
    // One point 40 days old is past the shipped 30-day retention... but
    // ingest refuses old points, so put it in the store directly.
    let recent = batch(
        "host-a",
        "s",
        1,
        vec![metric("cpu_usage", 1.0, &[], now_ms())],
    );
    agg.post_batch(&cred, &recent).await?;
    agg.flush().await?;
    let old = now_ms() as i64 - 40 * 86_400_000;
    {
        let conn = rusqlite::Connection::open(agg.config.store_path())?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let series: i64 = conn.query_row(
            "SELECT id FROM series WHERE host_id = 'host-a' AND name = 'cpu_usage'",
            [],
            |r| r.get(0),
        )?;
        // A head row as the store writes one (store/head.rs).
        let data = p2pmon_aggregator::store::head::encode(&[(series, old, 2.0)]);
        conn.execute(
            "INSERT INTO head_batches (host_id, min_ts, max_ts, count, data) VALUES ('host-a', ?1, ?1, 1, ?2)",
            rusqlite::params![old, data],
        )?;
    }
    assert_eq!(agg.stored_values("host-a", "cpu_usage")?.len(), 2);
    let out = run(&config, &["cleanup"])?;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("deleted 1 points"), "{}", text(&out));
    assert_eq!(agg.stored_values("host-a", "cpu_usage")?, vec![1.0]);
    Ok(())
}

/// `store stats` reads the file (with or without a server); `store
/// compact` seals and compacts a store written without sealing, saying how
/// far it got, and every point reads the same afterwards.
#[test]
fn store_stats_and_compact_report_and_keep_every_point() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = p2pmon_tests::aggregator::write_config(dir.path(), "")?;
    let loaded = p2pmon_aggregator::config::AggregatorConfig::load(&config)?;
    let out = run(&config, &["store", "stats"])?;
    assert!(!out.status.success());
    assert!(text(&out).contains("no store at"), "{}", text(&out));

    let now = now_ms() as i64;
    let (series, steps) = (3, 2 * 8_640);
    p2pmon_tests::aggregator::unsealed_store(
        &loaded.store_path(),
        "host-a",
        series,
        steps,
        now - 86_400_000,
    )?;
    let before = agg_points(&loaded)?;
    assert_eq!(before.len(), series * steps as usize);
    let stats = |config: &Path| -> Result<serde_json::Value> {
        let out = run(config, &["store", "stats", "--json"])?;
        assert!(out.status.success(), "{}", text(&out));
        Ok(serde_json::from_slice(&out.stdout)?)
    };
    let first = stats(&config)?;
    assert_eq!(first["head_points"], before.len(), "{first}");
    assert_eq!(first["sealed_points"], 0, "{first}");
    assert!(
        first["bytes_per_point"].as_f64().context("bpp")? > 20.0,
        "{first}"
    );
    assert!(
        first["sealing_lag_ms"].as_i64().context("lag")? > 0,
        "{first}"
    );

    let out = run(&config, &["store", "compact"])?;
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("sealed ") && said.contains("compacted "),
        "{said}"
    );
    assert!(said.contains("bytes/point"), "{said}");
    let after = stats(&config)?;
    assert_eq!(after["head_points"], 0, "{after}");
    assert_eq!(after["sealed_points"], before.len(), "{after}");
    assert_eq!(after["sealing_lag_ms"], 0, "{after}");
    assert_eq!(agg_points(&loaded)?, before);
    Ok(())
}

/// Every raw point of `host-a`'s `test_sequence` series, by series tag.
fn agg_points(
    config: &p2pmon_aggregator::config::AggregatorConfig,
) -> Result<Vec<(String, i64, u64)>> {
    let conn = p2pmon_aggregator::store::schema::open_read_only(&config.store_path())?;
    Ok(
        p2pmon_tests::aggregator::raw_history(&conn, "host-a", "test_sequence")?
            .into_iter()
            .flat_map(|s| {
                let n = s.tags["n"].clone();
                s.points
                    .into_iter()
                    .map(move |p| (n.clone(), p.t, p.avg.to_bits()))
            })
            .collect(),
    )
}

#[tokio::test]
async fn check_health_passes_against_real_services_and_names_each_failure() -> Result<()> {
    let smtp = smtp_server("s3cret")?;
    let discord = FakeHttp::start(|_, _| Reply::status(204)).await?;
    let root = tempfile::tempdir()?;
    let dir = root.path().join("aggregator");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("alerts.yml"),
        format!(
            "notifications:
  email:
    enabled: true
    recipients: [admin@yourserver.com]
    from: 'p2pmon <alerts@yourserver.com>'
    smtp: {{ host: 127.0.0.1, port: {port}, security: starttls, username: alerts, password: s3cret, ca_file: '{ca}' }}
  discord: {{ enabled: true, webhook_url: '{discord}/api/webhooks/1/x' }}
",
            port = smtp.port,
            ca = smtp.cert.display(),
            discord = discord.base
        ),
    )?;
    let mut aggregator = crate::bins::start_aggregator(&dir, "alerts_file: alerts.yml")?;
    let config = aggregator.config_path.clone();

    let out = run(&config, &["check-health"])?;
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    for line in [
        "ok    store",
        "ok    api",
        "ok    websocket",
        "ok    smtp",
        "ok    discord",
    ] {
        assert!(report.contains(line), "{line}: {report}");
    }
    assert!(report.contains("skip  settings"), "{report}");
    assert!(report.contains("skip  tsdb"), "{report}");
    assert!(discord.all().is_empty(), "nothing is sent to a webhook");

    let out = run(&config, &["check-websocket"])?;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("ping answered"), "{}", text(&out));

    // SMTP gone: that check fails, by name, and the exit says so.
    drop(smtp);
    let out = run(&config, &["check-health"])?;
    let report = text(&out);
    assert!(!out.status.success(), "{report}");
    assert!(report.contains("FAIL  smtp"), "{report}");
    assert!(report.contains("ok    api"), "{report}");

    // The aggregator stopped: the API and the feed fail.
    aggregator.stop()?;
    let out = run(&config, &["check-websocket"])?;
    assert!(!out.status.success());
    let report = text(&run(&config, &["check-health"])?);
    assert!(report.contains("FAIL  api"), "{report}");
    assert!(report.contains("FAIL  websocket"), "{report}");
    assert!(report.contains("ok    store"), "{report}");
    Ok(())
}

#[tokio::test]
async fn verify_metrics_names_gaps_and_silent_series() -> Result<()> {
    let agg = TestAggregator::start().await?;
    let config = agg.dir.path().join("aggregator.yml");
    let now = now_ms();
    let every_5s = |from_s: u64, to_s: u64| (from_s..=to_s).step_by(5).map(move |s| now - s * 1000);
    // host-a: 10 min of points every 5 s, none between 6 and 4 min ago.
    let a: Vec<Record> = every_5s(0, 600)
        .filter(|ts| !(now - 360_000..now - 240_000).contains(ts))
        .map(|ts| metric("cpu_usage", 1.0, &[], ts))
        .collect();
    // host-b: silent for the last 2 minutes.
    let b: Vec<Record> = every_5s(120, 600)
        .map(|ts| metric("cpu_usage", 1.0, &[], ts))
        .collect();
    for (host, records) in [("host-a", a), ("host-b", b)] {
        let cred = agg.enroll(host).await?;
        let (status, ack) = agg.post_batch(&cred, &batch(host, "s", 1, records)).await?;
        anyhow::ensure!(status.is_success(), "{ack}");
    }
    agg.flush().await?;

    let out = run(&config, &["verify-metrics", "--minutes", "15"])?;
    let report = text(&out);
    assert!(!out.status.success(), "{report}");
    assert!(report.contains("gap     host-a cpu_usage"), "{report}");
    assert!(report.contains("for 125 s"), "{report}");
    assert!(report.contains("silent  host-b cpu_usage"), "{report}");
    assert!(
        report.contains("2 series checked over 15 min; 2 gap(s)"),
        "{report}"
    );
    let out = run(
        &config,
        &["verify-metrics", "--minutes", "3", "--host", "host-a"],
    )?;
    assert!(
        out.status.success(),
        "no gap in the last 3 min: {}",
        text(&out)
    );
    Ok(())
}

/// The four log files: each line where it belongs, as JSON lines, and
/// reopened on SIGHUP after logrotate moved them.
#[test]
fn logs_go_to_their_four_files_and_are_reopened_on_sighup() -> Result<()> {
    let root = tempfile::tempdir()?;
    let dir = root.path().join("aggregator");
    let mut aggregator = crate::bins::start_aggregator(&dir, "logging: {dir: logs, format: json}")?;
    let logs = dir.join("logs");
    let read = |name: &str| std::fs::read_to_string(logs.join(name)).unwrap_or_default();
    let get =
        |path: &str| p2pmon_tests::aggregator::http_ok(&format!("{}{path}", aggregator.api_url()));
    get("/api/v1/health")?;
    let wait_for = |name: &str, needle: &str| -> Result<String> {
        eventually_blocking(Duration::from_secs(5), || {
            let text = read(name);
            anyhow::ensure!(
                text.contains(needle),
                "{needle} never reached {name}: {text:?}"
            );
            Ok(text)
        })
    };
    let access = wait_for("access.log", "/api/v1/health")?;
    let line: serde_json::Value = serde_json::from_str(access.lines().next().context("a line")?)?;
    assert_eq!(line["fields"]["path"], "/api/v1/health", "{line}");
    assert_eq!(line["fields"]["status"], 200, "{line}");
    wait_for("alerts.log", "\"target\":\"p2pmon_aggregator::alerting")?;
    // The API answers as soon as it listens, before the start-up line is
    // logged: wait for it.
    let monitor = wait_for("monitor.log", "Aggregator serving")?;
    assert!(
        !monitor.contains("/api/v1/health"),
        "access lines stay in access.log"
    );
    let stderr = std::fs::read_to_string(dir.join("aggregator.log"))?;
    assert!(
        !stderr.contains("/api/v1/health"),
        "and out of stderr: {stderr}"
    );
    // An unknown API path is a 404 in access.log, and nothing in error.log.
    get("/api/v1/nowhere")?;
    wait_for("access.log", "/api/v1/nowhere")?;
    assert!(!read("error.log").contains("nowhere"));

    // logrotate moves the files away, then sends SIGHUP.
    std::fs::rename(logs.join("access.log"), logs.join("access.log.1"))?;
    let pid = aggregator.pid().context("running")?;
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()?
            .success()
    );
    wait_for("monitor.log", "Log files reopened")?;
    get("/api/v1/health")?;
    let fresh = wait_for("access.log", "/api/v1/health")?;
    assert!(!fresh.contains("/api/v1/nowhere"), "a new file: {fresh}");
    let rotated = std::fs::read_to_string(logs.join("access.log.1"))?;
    assert!(rotated.contains("/api/v1/nowhere"), "{rotated}");
    assert!(aggregator.stop()?.success());
    Ok(())
}

#[test]
fn debug_metrics_follows_one_hosts_points_through_ingest() -> Result<()> {
    use p2pmon_tests::agent_process::{AgentProcess, counter};
    let root = tempfile::tempdir()?;
    let aggregator = crate::bins::start_aggregator(&root.path().join("aggregator"), "")?;
    let config = aggregator.config_path.clone();
    let out = run(&config, &["debug-metrics", "nobody", "--batches", "1"])?;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("not an enrolled host"),
        "{}",
        text(&out)
    );

    let mut agent = AgentProcess::for_aggregator(
        &crate::bins::agent(),
        root.path(),
        "host-a",
        &aggregator,
        &[counter(100)],
        "",
    )?;
    agent.start()?;
    // Once it has stored a batch of the host's, the host is online (the
    // header is read before following: a first batch stored meanwhile
    // leaves it offline there, so ask again).
    let report = eventually_blocking(Duration::from_secs(10), || {
        let out = run(&config, &["debug-metrics", "host-a", "--batches", "2"])?;
        let report = text(&out);
        anyhow::ensure!(
            out.status.success() && report.contains("host host-a: online"),
            "{report}"
        );
        Ok(report)
    })?;
    assert!(report.contains("host host-a: online (p2p)"), "{report}");
    assert!(report.contains("plugins: counter"), "{report}");
    assert_eq!(report.matches("batch stored at").count(), 2, "{report}");
    assert!(report.contains("  test_sequence = "), "{report}");
    assert!(report.contains("ms before storing"), "{report}");
    agent.stop()?;
    // Without log files, access lines stay out of stderr too.
    let stderr = std::fs::read_to_string(root.path().join("aggregator/aggregator.log"))?;
    assert!(stderr.contains("Aggregator serving"), "{stderr}");
    assert!(!stderr.contains("/api/v1/hosts/host-a"), "{stderr}");
    Ok(())
}
