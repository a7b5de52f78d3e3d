//! The FluxCP addon (fluxcp/): `php -l` on every file, then its PHPUnit
//! tests (fluxcp/tests/) against a running aggregator filled here and the
//! real MariaDB, and its pages in Chromium on FluxCP stand-ins
//! (fluxcp/tests/server.php) from the installer on. Debian's php-cli,
//! php-curl, php-mysql, phpunit and chromium (`make test-deps`).

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

/// A connection to the test MariaDB.
async fn mariadb() -> Result<mysql_async::Conn> {
    mysql_async::Conn::new(
        mysql_async::Opts::from_url("mysql://root@127.0.0.1:3306")
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    )
    .await
    .context("is MariaDB running on 127.0.0.1:3306?")
}

/// A fresh, empty database `name` (each test its own: they run side by side).
async fn empty_database(name: &str) -> Result<()> {
    use mysql_async::prelude::Queryable;
    let mut conn = mariadb().await?;
    conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
        .await?;
    conn.query_drop(format!("CREATE DATABASE `{name}`")).await?;
    conn.disconnect().await?;
    Ok(())
}

/// A fresh database `name` holding the addon's settings table and its
/// default rows: every schema file, in version order, as FluxCP's
/// installer runs them.
async fn settings_database(name: &str) -> Result<()> {
    use mysql_async::prelude::Queryable;
    empty_database(name).await?;
    let mut conn = mariadb().await?;
    conn.query_drop(format!("USE `{name}`")).await?;
    let mut files: Vec<_> = std::fs::read_dir(workspace_root().join("fluxcp/schemas/logindb"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    files.retain(|f| f.extension().is_some_and(|e| e == "sql"));
    files.sort();
    anyhow::ensure!(!files.is_empty(), "no schema files");
    for file in files {
        conn.query_drop(std::fs::read_to_string(&file)?)
            .await
            .with_context(|| file.display().to_string())?;
    }
    conn.disconnect().await?;
    Ok(())
}

#[tokio::test]
async fn the_addons_phpunit_tests_pass_against_the_aggregator_and_mariadb() -> Result<()> {
    if Command::new("phpunit").arg("--version").output().is_err() {
        bail!("phpunit is not installed: run `make test-deps`");
    }
    settings_database(DATABASE).await?;
    // The status page lists two of the hosts' map-servers, one under a
    // hostile name (PagesTest: the players' page shows both as text, never
    // a host id).
    let agg = TestAggregator::start_with_alerts_and(
        "alerts:\n  cpu_usage: { warning: 80, critical: 95, duration: 0 }\n",
        &format!(
            "status_page: {{ enabled: true, groups: [{{ name: Midgard, servers: [\
               {{ id: prontera, name: 'Prontera map', host: fluxcp-b, server: map }},\
               {{ id: hostile, name: '{HOSTILE}', host: fluxcp-a, server: map }}] }}] }}"
        ),
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
        let mut records = vec![
            metric("cpu_usage", cpu, &[], now),
            metric("player_count", 12.0, &[("map", map)], now),
            metric("map_status", 1.0, &[("map", map)], now),
            metric("network_latency", 25.0, &[("target", peer)], now),
            metric("server_up", 1.0, &[("server", "map")], now),
        ];
        if host == "fluxcp-b" {
            // Every echo to fluxcp-a lost: the network page says "no answer".
            records.push(metric("packet_loss", 100.0, &[("target", peer)], now));
        }
        let (status, ack) = agg.post_batch(&cred, &batch(host, "s", 1, records)).await?;
        anyhow::ensure!(status.is_success(), "{ack}");
    }
    // The status page as its minute tick would build it, with those points.
    agg.refresh_status_page().await?;
    let fluxcp = workspace_root().join("fluxcp");
    let data = tempfile::tempdir()?;
    let output = tokio::task::spawn_blocking({
        let api = agg.api_url("")?;
        let ws = agg.ws_url()?;
        let token = agg.api_token.clone();
        let data = data.path().to_path_buf();
        move || {
            Command::new("phpunit")
                .env("P2PMON_DATA_DIR", data)
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

/// A PHP built-in server running the FluxCP stand-in on `port`, killed on drop.
struct PhpServer(std::process::Child);

impl PhpServer {
    fn start(port: u16, env: &[(&str, String)]) -> Result<Self> {
        let mut command = Command::new("php");
        command
            .args(["-S", &format!("127.0.0.1:{port}"), "tests/server.php"])
            .current_dir(workspace_root().join("fluxcp"))
            .env("PHP_CLI_SERVER_WORKERS", "2")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .context("php is not installed: run `make test-deps`")?;
        Ok(Self(child))
    }
}

impl Drop for PhpServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_for_http(url: &str) -> Result<()> {
    p2pmon_tests::wait::eventually(std::time::Duration::from_secs(5), async || {
        let probe = url.to_string();
        let up = tokio::task::spawn_blocking(move || p2pmon_tests::aggregator::http_ok(&probe))
            .await?
            .unwrap_or(false);
        anyhow::ensure!(up, "{url} did not answer");
        Ok(())
    })
    .await
}

/// A TCP relay in front of the aggregator's feed, so a test can make the feed
/// drop: the browser's WebSocket goes through `listen`, and each connection
/// made to `cut` ends every connection the relay carries at that moment (the
/// browser sees the TCP connection close, no close frame).
struct FeedRelay {
    listen: std::net::SocketAddr,
    cut: std::net::SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl FeedRelay {
    async fn start(target: std::net::SocketAddr) -> Result<Self> {
        use tokio::net::{TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let cutter = TcpListener::bind("127.0.0.1:0").await?;
        let (listen, cut) = (listener.local_addr()?, cutter.local_addr()?);
        let (cuts, _) = tokio::sync::broadcast::channel::<()>(4);
        let relay = tokio::spawn({
            let cuts = cuts.clone();
            async move {
                while let Ok((mut browser, _)) = listener.accept().await {
                    let mut cut = cuts.subscribe();
                    tokio::spawn(async move {
                        let Ok(mut feed) = TcpStream::connect(target).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut browser, &mut feed) => {}
                            _ = cut.recv() => {}
                        }
                    });
                }
            }
        });
        let cutting = tokio::spawn(async move {
            while let Ok((asker, _)) = cutter.accept().await {
                let _ = cuts.send(());
                drop(asker);
            }
        });
        Ok(Self {
            listen,
            cut,
            tasks: vec![relay, cutting],
        })
    }
}

impl Drop for FeedRelay {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The addon in Chromium as a new user meets it (fluxcp/tests/browser.mjs):
/// FluxCP's installer, the login form, every page by the sub-menu, the four
/// stored settings with only the CPU threshold changed, a silence by the
/// logged-in admin, the language switch; live updates where the origin is
/// allowed, and after the feed drops there, a reconnection with a fresh ticket
/// and live updates again; in-place refreshes with a message naming the
/// setting where the origin is not allowed. Then the database holds what the
/// page said.
// Multi-threaded: the aggregator in this process answers the PHP side while
// the test waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_addon_in_chromium_from_install_to_live_pages() -> Result<()> {
    use mysql_async::prelude::Queryable;
    let web = workspace_root().join("web");
    if !web.join("node_modules/playwright-core").is_dir() {
        bail!("run `make web` first (playwright-core)");
    }
    let database = "p2pmon_fluxcp_browser";
    empty_database(database).await?;
    let [port_a, port_b] = p2pmon_tests::aggregator::free_ports::<2>()?;
    // Only A's origin: B is the same host on another port, so not the same origin.
    let agg = TestAggregator::start_with_alerts_and(
        "alerts:\n  cpu_usage: { warning: 80, critical: 95, duration: 0 }\n",
        &format!("websocket: {{allowed_origins: ['http://127.0.0.1:{port_a}']}}"),
    )
    .await?;
    let cred = agg.enroll("fluxcp-b").await?;
    let records = vec![metric("cpu_usage", 20.0, &[], now_ms())];
    agg.post_batch(&cred, &batch("fluxcp-b", "s", 1, records))
        .await?;
    let data = tempfile::tempdir()?;
    let refresh_b = 1500;
    // A reaches the feed through the relay, which the browser script cuts.
    let feed: std::net::SocketAddr = agg
        .ws_url()?
        .trim_start_matches("ws://")
        .trim_end_matches("/monitor")
        .parse()?;
    let relay = FeedRelay::start(feed).await?;
    let relayed = format!("ws://{}/monitor", relay.listen);
    let env = |refresh: u32, ws: String| -> Result<Vec<(&'static str, String)>> {
        Ok(vec![
            ("P2PMON_API", agg.api_url("")?),
            ("P2PMON_TOKEN", agg.api_token.clone()),
            ("P2PMON_WS", ws),
            (
                "P2PMON_MYSQL_DSN",
                "mysql:host=127.0.0.1;port=3306".to_string(),
            ),
            ("P2PMON_MYSQL_DB", database.to_string()),
            ("P2PMON_DATA_DIR", data.path().display().to_string()),
            ("P2PMON_REFRESH", refresh.to_string()),
        ])
    };
    let _a = PhpServer::start(port_a, &env(5000, relayed)?)?;
    let _b = PhpServer::start(port_b, &env(refresh_b, agg.ws_url()?)?)?;
    let base_a = format!("http://127.0.0.1:{port_a}");
    let base_b = format!("http://127.0.0.1:{port_b}");
    wait_for_http(&format!("{base_a}/?module=account&action=login")).await?;
    wait_for_http(&format!("{base_b}/?module=account&action=login")).await?;
    let cut_feed = relay.cut.to_string();
    let output = tokio::task::spawn_blocking({
        let ingest = agg.ingest_url("")?;
        let web = web.clone();
        move || {
            Command::new("node")
                .arg("tests/browser.mjs")
                .current_dir(workspace_root().join("fluxcp"))
                .env("BASE_A", base_a)
                .env("BASE_B", base_b)
                .env("REFRESH_B", refresh_b.to_string())
                .env("CUT_FEED", cut_feed)
                .env("INGEST", ingest)
                .env("CREDENTIAL", cred)
                .env("WEB", web)
                .output()
        }
    })
    .await??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("FluxCP in Chromium: {stdout}");
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("refresh_update_ms"), "{stdout}");
    assert!(stdout.contains("live_after_reconnect_ms"), "{stdout}");

    // What the settings form saved: the CPU threshold, by gm_alice; the other three untouched.
    let mut conn = mariadb().await?;
    let rows: Vec<(String, String, Option<String>)> = conn
        .query(format!(
            "SELECT setting_name, setting_value, updated_by FROM `{database}`.p2p_monitor_settings ORDER BY setting_name"
        ))
        .await?;
    conn.disconnect().await?;
    let expected = [
        (
            "alert_thresholds",
            r#"{"cpu":66,"memory":85,"latency":200}"#,
            Some("gm_alice"),
        ),
        (
            "discord_webhook",
            "https://discord.com/api/webhooks/your-webhook-url",
            None,
        ),
        ("monitoring_interval", "5000", None),
        ("notification_emails", r#"["admin@yourserver.com"]"#, None),
    ];
    let got: Vec<(&str, &str, Option<&str>)> = rows
        .iter()
        .map(|(n, v, by)| (n.as_str(), v.as_str(), by.as_deref()))
        .collect();
    assert_eq!(got, expected);
    // The silence, as the aggregator keeps it.
    let (_, silences) = agg.api("/api/v1/silences").await?;
    let mine = silences["silences"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["comment"] == "browser silence"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(mine["author"], "gm_alice", "{silences}");
    assert_eq!(mine["host"], "fluxcp-b", "{silences}");
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
    p2pmon_tests::wait::eventually(std::time::Duration::from_secs(10), async || {
        let (_, rules) = agg.api("/api/v1/rules").await?;
        let cpu = rules["metric_rules"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["metric"] == "cpu_usage"))
            .cloned()
            .unwrap_or_default();
        anyhow::ensure!(
            cpu["critical"] == 77.0,
            "the aggregator did not apply the saved threshold: {rules}"
        );
        Ok(())
    })
    .await?;
    Ok(())
}
