//! The FluxCP addon (fluxcp/): `php -l` on every file, then its PHPUnit
//! tests (fluxcp/tests/) against a running aggregator filled here and the
//! real MariaDB, with the addon's p2p_monitor_settings table created from
//! its schema file. Debian's php-cli, php-curl, php-mysql and phpunit
//! (`make test-deps`).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use p2pmon_common::wire::HostType;
use p2pmon_tests::aggregator::{TestAggregator, batch, metric, now_ms};
use p2pmon_tests::workspace_root;

const HOSTILE: &str = "<img src=x onerror=alert(1)>";
const DATABASE: &str = "p2pmon_fluxcp_test";

fn php_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            php_files(&path, found)?;
        } else if path.extension().is_some_and(|e| e == "php") {
            found.push(path);
        }
    }
    Ok(())
}

#[test]
fn every_addon_file_passes_php_lint() -> Result<()> {
    let mut files = Vec::new();
    php_files(&workspace_root().join("fluxcp"), &mut files)?;
    assert!(files.len() >= 20, "{files:?}");
    for file in files {
        let output = Command::new("php")
            .arg("-l")
            .arg(&file)
            .output()
            .context("php is not installed: run `make test-deps`")?;
        assert!(
            output.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&output.stdout)
        );
        // FluxCP's rule: no file runs outside FluxCP.
        let text = std::fs::read_to_string(&file)?;
        if !file.starts_with(workspace_root().join("fluxcp/tests")) {
            assert!(
                text.starts_with("<?php\nif (!defined('FLUX_ROOT')) exit;")
                    || text.starts_with("<?php if (!defined('FLUX_ROOT')) exit; ?>"),
                "{} does not start with the FLUX_ROOT guard",
                file.display()
            );
        }
    }
    Ok(())
}

/// A fresh database `name` holding the addon's settings table and its
/// default rows (each test its own: they run side by side).
async fn settings_database(name: &str) -> Result<()> {
    use mysql_async::prelude::Queryable;
    let mut conn = mysql_async::Conn::new(
        mysql_async::Opts::from_url("mysql://root@127.0.0.1:3306")
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    )
    .await
    .context("is MariaDB running on 127.0.0.1:3306?")?;
    conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
        .await?;
    conn.query_drop(format!("CREATE DATABASE `{name}`")).await?;
    conn.query_drop(format!("USE `{name}`")).await?;
    let schema = std::fs::read_to_string(
        workspace_root().join("fluxcp/schemas/logindb/p2p_monitor_settings.20261126.sql"),
    )?;
    conn.query_drop(schema).await?;
    conn.disconnect().await?;
    Ok(())
}

#[tokio::test]
async fn the_addons_phpunit_tests_pass_against_the_aggregator_and_mariadb() -> Result<()> {
    if Command::new("phpunit").arg("--version").output().is_err() {
        bail!("phpunit is not installed: run `make test-deps`");
    }
    settings_database(DATABASE).await?;
    let agg = TestAggregator::start_with_alerts(
        "alerts:\n  cpu_usage: { warning: 80, critical: 95, duration: 0 }\n",
    )
    .await?;
    let now = now_ms();
    for (host, cpu, map) in [
        ("fluxcp-a", 20.0, HOSTILE),
        ("fluxcp-b", 91.0, "prt_fild08"),
        ("fluxcp-c", 30.0, "prontera"),
    ] {
        let cred = agg.enroll(host).await?;
        if host == "fluxcp-c" {
            agg.hello(&cred, HostType::Vps).await?;
        }
        let peer = if host == "fluxcp-a" {
            "fluxcp-c"
        } else {
            "fluxcp-a"
        };
        let records = vec![
            metric("cpu_usage", cpu, &[], now),
            metric("player_count", 12.0, &[("map", map)], now),
            metric("map_status", 1.0, &[("map", map)], now),
            metric("network_latency", 25.0, &[("target", peer)], now),
        ];
        let (status, ack) = agg.post_batch(&cred, &batch(host, "s", 1, records)).await?;
        anyhow::ensure!(status.is_success(), "{ack}");
    }
    let fluxcp = workspace_root().join("fluxcp");
    let output = tokio::task::spawn_blocking({
        let api = agg.api_url("")?;
        let ws = agg.ws_url()?;
        let token = agg.api_token.clone();
        move || {
            Command::new("phpunit")
                .args(["--configuration", "tests/phpunit.xml"])
                .current_dir(&fluxcp)
                .env("P2PMON_API", api)
                .env("P2PMON_TOKEN", token)
                .env("P2PMON_WS", ws)
                .env("P2PMON_MYSQL_DSN", "mysql:host=127.0.0.1;port=3306")
                .env("P2PMON_MYSQL_DB", DATABASE)
                .env("P2PMON_HOSTILE", HOSTILE)
                .output()
        }
    })
    .await??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("OK ("), "{stdout}");
    Ok(())
}

/// The addon's live updates in a real browser: its hosts page, served by
/// PHP's built-in server, follows the feed with the ticket its PHP side got
/// and changes a host's CPU cell when a batch arrives.
// Multi-threaded: the aggregator in this process answers the PHP side while
// the test waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_addons_hosts_page_updates_live_in_chromium() -> Result<()> {
    let web = workspace_root().join("web");
    if !web.join("node_modules/playwright-core").is_dir() {
        bail!("run `make web` first (playwright-core)");
    }
    let database = "p2pmon_fluxcp_live";
    settings_database(database).await?;
    let agg = TestAggregator::start_with("websocket: {allowed_origins: ['*']}").await?;
    let cred = agg.enroll("fluxcp-b").await?;
    let records = vec![metric("cpu_usage", 20.0, &[], now_ms())];
    agg.post_batch(&cred, &batch("fluxcp-b", "s", 1, records))
        .await?;
    let port = p2pmon_tests::aggregator::free_port()?;
    let mut php = Command::new("php")
        .args(["-S", &format!("127.0.0.1:{port}"), "tests/server.php"])
        .current_dir(workspace_root().join("fluxcp"))
        .env("P2PMON_API", agg.api_url("")?)
        .env("P2PMON_TOKEN", &agg.api_token)
        .env("P2PMON_WS", agg.ws_url()?)
        .env("P2PMON_MYSQL_DSN", "mysql:host=127.0.0.1;port=3306")
        .env("P2PMON_MYSQL_DB", database)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("php is not installed: run `make test-deps`")?;
    let base = format!("http://127.0.0.1:{port}");
    let ready = format!("{base}/?action=hosts");
    for _ in 0..100 {
        let probe = ready.clone();
        let up = tokio::task::spawn_blocking(move || p2pmon_tests::aggregator::http_ok(&probe))
            .await?
            .unwrap_or(false);
        if up {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let output = tokio::task::spawn_blocking({
        let ingest = agg.ingest_url("")?;
        move || {
            Command::new("node")
                .arg("tests/fluxcp-live.mjs")
                .current_dir(&web)
                .env("BASE", base)
                .env("INGEST", ingest)
                .env("CREDENTIAL", cred)
                .output()
        }
    })
    .await??;
    let _ = php.kill();
    let _ = php.wait();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("FluxCP hosts page: {stdout}");
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("live_update_ms"), "{stdout}");
    Ok(())
}

/// What the settings page saves, the aggregator applies: a threshold saved
/// through the page shows in the rules in force within its poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_saved_in_fluxcp_are_applied_by_the_aggregator() -> Result<()> {
    let database = "p2pmon_fluxcp_settings";
    settings_database(database).await?;
    let agg = TestAggregator::start_with_alerts_and(
        "alerts:\n  cpu_usage: { warning: 80, critical: 90, duration: 0 }\n",
        &format!("settings: {{ url: 'mysql://root@127.0.0.1:3306/{database}', poll_s: 1 }}"),
    )
    .await?;
    let output = tokio::task::spawn_blocking({
        let api = agg.api_url("")?;
        let ws = agg.ws_url()?;
        let token = agg.api_token.clone();
        move || {
            Command::new("php")
                .args(["tests/save_settings.php", r#"{"cpu":77}"#, "4000"])
                .current_dir(workspace_root().join("fluxcp"))
                .env("P2PMON_API", api)
                .env("P2PMON_TOKEN", token)
                .env("P2PMON_WS", ws)
                .env("P2PMON_MYSQL_DSN", "mysql:host=127.0.0.1;port=3306")
                .env("P2PMON_MYSQL_DB", database)
                .output()
        }
    })
    .await??;
    let said = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        said.trim(),
        "saved",
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, rules) = agg.api("/api/v1/rules").await?;
        let cpu = rules["metric_rules"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["metric"] == "cpu_usage"))
            .cloned()
            .unwrap_or_default();
        if cpu["critical"] == 77.0 {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the aggregator did not apply the saved threshold: {rules}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(())
}
