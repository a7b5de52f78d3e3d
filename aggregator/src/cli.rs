//! The `p2pmon-aggregator` command line: `serve`, `token create|list|revoke`, `host list`,
//! `host revoke`, `test-notifications`, `test-alerts`, and the operator's
//! `cleanup`, `backup`, `restore`, `check-health`, `check-websocket`,
//! `verify-metrics`, `debug-metrics`, `store stats|compact`. The token, host and store commands
//! work on the store directly, so
//! they run with or without a server (which sees changes within a second).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Parser, Subcommand};
use tokio::sync::watch;

use crate::alerting::AlertsConfig;
use crate::alerting::engine::{Alert, Change, Level, Status, Transition};
use crate::alerting::notify;
use crate::alerting::rules::AlertType;
use crate::auth::{self, TokenKind};
use crate::clock::now_ms;
use crate::config::{self, AggregatorConfig};
use crate::ops::{self, health, health::Outcome};
use crate::server::Server;
use crate::store;

#[derive(Debug, Parser)]
#[command(
    name = "p2pmon-aggregator",
    version,
    about = "p2pmon aggregator: ingest from agents, embedded store, query API, live WebSocket feed."
)]
pub struct Cli {
    /// Aggregator config file.
    #[arg(long, global = true, default_value = config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Log filter (error, warn, info, debug, trace, or a tracing filter).
    #[arg(long, global = true, env = "P2PMON_LOG", default_value = "info")]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve ingest, the API and the WebSocket feed until SIGINT or SIGTERM.
    Serve,
    /// Create secrets.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Enrolled hosts.
    Host {
        #[command(subcommand)]
        command: HostCommand,
    },
    /// Send a test message on every enabled notification channel of
    /// alerts.yml and report each result (exit 1 if any failed).
    TestNotifications,
    /// Fire a synthetic alert through the running aggregator (feed,
    /// channels, store), check it is listed as active, then resolve it.
    TestAlerts,
    /// Apply metrics.yml's retention now (the server does it hourly).
    Cleanup,
    /// The embedded store: what it holds, and its compaction.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Copy the store (consistent, while the aggregator runs) and the config
    /// files into a new directory, with a manifest of checksums.
    Backup {
        /// The directory to create.
        dir: PathBuf,
    },
    /// Put a backup's store back (the current one is kept beside it). The
    /// aggregator must be stopped.
    Restore {
        /// A directory made by `backup`.
        dir: PathBuf,
        /// Also put back aggregator.yml, alerts.yml and metrics.yml.
        #[arg(long)]
        with_config: bool,
    },
    /// Check the store, the running aggregator's API and WebSocket feed, the
    /// SMTP server, webhooks and the settings database (exit 1 on any failure).
    CheckHealth,
    /// Connect to the running aggregator's WebSocket feed and ping it.
    CheckWebsocket,
    /// Follow one host's points through the running aggregator: what it
    /// knows of the host, then each batch as stored, point by point.
    DebugMetrics {
        host: String,
        /// Stop after this many batches (default: until Ctrl-C).
        #[arg(long)]
        batches: Option<usize>,
    },
    /// Reports over the stored history.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Which hosts' series have gaps in a recent window, and which went
    /// silent, since when (exit 1 if any).
    VerifyMetrics {
        /// The window, in minutes.
        #[arg(long, default_value_t = 60)]
        minutes: i64,
        /// A gap is more than this many collection intervals without a point.
        #[arg(long, default_value_t = 3)]
        intervals: i64,
        /// Only this host.
        #[arg(long)]
        host: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a new token on stdout (it is stored hashed and cannot be shown again).
    #[command(group(ArgGroup::new("kind").required(true).args(["join", "api"])))]
    Create {
        /// A single-use, expiring token an agent enrolls with.
        #[arg(long)]
        join: bool,
        /// A bearer token for API and WebSocket clients (FluxCP, the dashboard).
        #[arg(long)]
        api: bool,
        /// Lifetime of a join token in seconds (default: tokens.join_ttl_s).
        #[arg(long)]
        ttl: Option<u64>,
        /// A note to recognise the token by.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List tokens: id, kind, name, state and times (never the secrets).
    List,
    /// Revoke a token by its id from `token list` (or the token itself). A
    /// running aggregator refuses it within a second, and the dashboard
    /// sessions it opened end.
    Revoke {
        /// The id (8 or more characters of it) or the token.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Size on disk, points in the head and in chunks, bytes per point and
    /// how far behind sealing is.
    Stats {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Seal every closed window into chunks and compact every closed day
    /// now, with progress (what the server does in the background; after
    /// an upgrade, it moves the older store's points into chunks at once).
    Compact,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Each rAthena server's uptime (its `server_up`) over a month or a
    /// range of UTC days: no data counts as down, maintenance windows
    /// published on the status page are left out.
    #[command(group(ArgGroup::new("period").required(true).args(["month", "from"])))]
    Uptime {
        /// The month, YYYY-MM (UTC).
        #[arg(long)]
        month: Option<String>,
        /// The first day, YYYY-MM-DD (UTC), with --to.
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// The last day, included.
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// CSV instead of a table.
        #[arg(long)]
        csv: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum HostCommand {
    /// List enrolled hosts.
    List,
    /// Revoke a host's credential; its agent is refused within seconds.
    Revoke { host: String },
}

/// Parse the command line, set up logging and run: what `main` does.
pub fn entry() -> ExitCode {
    let cli = Cli::parse();
    // `serve` sets up its log files once the config is read.
    if !matches!(cli.command, Command::Serve) {
        p2pmon_common::logging::init(&cli.log);
    }
    main(cli)
}

pub fn main(cli: Cli) -> ExitCode {
    let config = match AggregatorConfig::load(&cli.config) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Serve => serve(config, &cli.log),
        Command::Token {
            command:
                TokenCommand::Create {
                    join,
                    api: _,
                    ttl,
                    name,
                },
        } => create_token(&config, join, ttl, &name),
        Command::Token {
            command: TokenCommand::List,
        } => list_tokens(&config),
        Command::Token {
            command: TokenCommand::Revoke { id },
        } => revoke_token(&config, &id),
        Command::Host {
            command: HostCommand::List,
        } => list_hosts(&config),
        Command::Host {
            command: HostCommand::Revoke { host },
        } => revoke_host(&config, &host),
        Command::TestNotifications => return test_notifications(&config),
        Command::TestAlerts => test_alerts(&config),
        Command::Cleanup => cleanup(&config),
        Command::Store { command } => store_command(&config, command),
        Command::Backup { dir } => ops::backup(&config, &cli.config, &dir, &mut say)
            .map(|_| ())
            .map_err(Into::into),
        Command::Restore { dir, with_config } => {
            ops::restore(&config, &cli.config, &dir, with_config, &mut say).map(|kept| {
                if let Some(kept) = kept {
                    println!("the replaced store is kept as {}", kept.display());
                }
            })
        }
        .map_err(Into::into),
        Command::Report {
            command:
                ReportCommand::Uptime {
                    month,
                    from,
                    to,
                    csv,
                },
        } => uptime_report(&config, month, from.zip(to), csv),
        Command::CheckHealth => return check_health(&config, false),
        Command::CheckWebsocket => return check_health(&config, true),
        Command::DebugMetrics { host, batches } => debug_metrics(&config, &host, batches),
        Command::VerifyMetrics {
            minutes,
            intervals,
            host,
        } => return verify_metrics(&config, minutes, intervals, host.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn test_notifications(config: &AggregatorConfig) -> ExitCode {
    let rules = match AlertsConfig::load_or_empty(&config.alerts_path()) {
        Ok(rules) => rules,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };
    let now = now_ms();
    let transition = Transition {
        change: Change::Fired,
        alert: Alert {
            id: 0,
            rule: "test_notification".to_string(),
            alert_type: AlertType::Performance,
            host: "p2pmon-aggregator".to_string(),
            labels: Default::default(),
            severity: Level::Critical,
            status: Status::Firing,
            value: 0.0,
            threshold: None,
            message:
                "A test message from p2pmon-aggregator test-notifications: this channel works."
                    .to_string(),
            count: 1,
            started_ms: now,
            updated_ms: now,
            resolved_ms: None,
            resolution_notes: None,
            acknowledged_by: None,
            resolved_by: None,
        },
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let results = runtime.block_on(notify::send_to_all(&rules.notifications, &transition));
    match results {
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
        Ok(results) if results.is_empty() => {
            println!(
                "No notification channel is enabled in {}.",
                config.alerts_path().display()
            );
            ExitCode::FAILURE
        }
        Ok(results) => {
            let mut failed = 0;
            for (channel, sent) in &results {
                match sent {
                    Ok(()) => println!("{channel:<8} ok"),
                    Err(why) => {
                        failed += 1;
                        println!("{channel:<8} FAILED: {why}");
                    }
                }
            }
            if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Progress lines of long commands, on stderr.
fn say(line: &str) {
    eprintln!("==> {line}");
}

fn cleanup(config: &AggregatorConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let deleted = runtime.block_on(ops::cleanup(config))?;
    println!(
        "deleted {} points, {} minute and {} hour rollups, {} events, {} idle series",
        deleted.points,
        deleted.minute_rollups,
        deleted.hour_rollups,
        deleted.events,
        deleted.series
    );
    Ok(())
}

fn uptime_report(
    config: &AggregatorConfig,
    month: Option<String>,
    days: Option<(String, String)>,
    csv: bool,
) -> anyhow::Result<()> {
    use ops::uptime_report as report;
    let (label, period) = match (month, days) {
        (Some(month), _) => (month.clone(), report::month(&month)?),
        (None, Some((from, to))) => {
            let period = crate::uptime::Span {
                start_ms: report::day(&from)?,
                end_ms: report::day(&to)? + crate::uptime::DAY_MS,
            };
            (format!("{from} to {to}"), period)
        }
        (None, None) => anyhow::bail!("give --month or --from and --to"),
    };
    let rows = report::report(config, period)?;
    if csv {
        print!("{}", report::csv(&rows)?);
    } else {
        print!("{}", report::text(&label, &rows));
    }
    Ok(())
}

fn store_command(config: &AggregatorConfig, command: StoreCommand) -> anyhow::Result<()> {
    match command {
        StoreCommand::Stats { json } => {
            let stats = ops::compaction::stats(config)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                print!("{}", stats_text(&config.store_path(), &stats));
            }
        }
        StoreCommand::Compact => {
            let started = std::time::Instant::now();
            let report = ops::compaction::compact(config, &mut |line| println!("{line}"))?;
            println!(
                "done in {:.1} s: {} points sealed into {} chunks, {} chunks compacted",
                started.elapsed().as_secs_f64(),
                report.sealed_points,
                report.chunks_written,
                report.chunks_merged
            );
            print!(
                "{}",
                stats_text(&config.store_path(), &ops::compaction::stats(config)?)
            );
        }
    }
    Ok(())
}

fn stats_text(path: &std::path::Path, stats: &store::chunks::ChunkStats) -> String {
    format!(
        "store {}\n  file         {:.1} MiB\n  points       {} ({} in the head, {} sealed in {} chunks of {:.1} MiB)\n  bytes/point  {:.2}\n  sealing lag  {} s\n",
        path.display(),
        stats.file_bytes as f64 / 1_048_576.0,
        stats.head_points + stats.sealed_points,
        stats.head_points,
        stats.sealed_points,
        stats.chunks,
        stats.chunk_bytes as f64 / 1_048_576.0,
        stats.bytes_per_point,
        stats.sealing_lag_ms / 1_000
    )
}

fn debug_metrics(
    config: &AggregatorConfig,
    host: &str,
    batches: Option<usize>,
) -> anyhow::Result<()> {
    let token = health::short_token(config, "debug-metrics")?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut out = std::io::stdout();
        tokio::select! {
            followed = ops::debug::follow(config, &token, host, batches, &mut out) => followed,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

fn verify_metrics(
    config: &AggregatorConfig,
    minutes: i64,
    intervals: i64,
    host: Option<&str>,
) -> ExitCode {
    let report = (|| -> anyhow::Result<_> {
        let metrics = config::MetricsConfig::load(&config.metrics_path())?;
        let interval = metrics.collection.interval as i64;
        let conn = store::schema::open_read_only(&config.store_path())?;
        let max_gap = interval * intervals.max(1);
        let report = ops::verify::verify(&conn, now_ms(), minutes.max(1) * 60_000, max_gap, host)?;
        Ok((report, max_gap))
    })();
    let (report, max_gap) = match report {
        Ok(found) => found,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    let at = |ms: i64| {
        let ago = (now_ms() - ms) / 1000;
        format!("{ms} ({ago} s ago)")
    };
    for gap in &report.gaps {
        let tags = if gap.tags == "{}" { "" } else { &gap.tags };
        match gap.until_ms {
            Some(until) => println!(
                "gap     {} {}{tags}: no point from {} for {} s",
                gap.host,
                gap.metric,
                at(gap.from_ms),
                (until - gap.from_ms) / 1000
            ),
            None => println!(
                "silent  {} {}{tags}: no point since {}",
                gap.host,
                gap.metric,
                at(gap.from_ms)
            ),
        }
    }
    println!(
        "{} series checked over {minutes} min; {} gap(s) over {} s",
        report.series,
        report.gaps.len(),
        max_gap / 1000
    );
    if report.gaps.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `check-health` (every check) or `check-websocket` (that one alone).
fn check_health(config: &AggregatorConfig, websocket_only: bool) -> ExitCode {
    let alerts = match AlertsConfig::load_or_empty(&config.alerts_path()) {
        Ok(alerts) => alerts,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };
    let token = match health::short_token(config, "check-health") {
        Ok(token) => token,
        Err(error) => {
            eprintln!("error: cannot open the store to make a token: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let results = runtime.block_on(async {
        if websocket_only {
            vec![("websocket", health::websocket_check(config, &token).await)]
        } else {
            health::check_all(config, &alerts, &token).await
        }
    });
    let mut failed = 0;
    for (name, outcome) in results {
        match outcome {
            Outcome::Ok(detail) => println!("ok    {name:<10} {detail}"),
            Outcome::Skipped(detail) => println!("skip  {name:<10} {detail}"),
            Outcome::Failed(detail) => {
                failed += 1;
                println!("FAIL  {name:<10} {detail}");
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} check(s) failed");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn test_alerts(config: &AggregatorConfig) -> anyhow::Result<()> {
    use anyhow::Context;
    let token = health::short_token(config, "test-alerts")?;
    let addr = health::reachable(config.api.listen);
    let base = format!("http://{addr}/api/v1/alerts");
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
        let fired: serde_json::Value = http
            .post(format!("{base}/test"))
            .bearer_auth(&token)
            .send()
            .await
            .with_context(|| format!("no aggregator answers on {addr} (api.listen); start it with `p2pmon-aggregator serve`"))?
            .error_for_status()?
            .json()
            .await?;
        let id = fired["alert"]["id"].as_i64().context("no alert id in the answer")?;
        println!("fired     alert #{id} (critical): sent to WebSocket clients and every enabled channel, saved");
        let active: serde_json::Value = http
            .get(format!("{base}/active"))
            .bearer_auth(&token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let listed = active["alerts"]
            .as_array()
            .is_some_and(|a| a.iter().any(|alert| alert["id"] == id));
        anyhow::ensure!(listed, "alert #{id} is not in /api/v1/alerts/active");
        println!("listed    alert #{id} is active");
        http.patch(format!("{base}/{id}"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"status": "resolved", "resolution_notes": "test-alerts"}))
            .send()
            .await?
            .error_for_status()?;
        println!("resolved  alert #{id}");
        Ok(())
    })
}

fn serve(config: AggregatorConfig, log: &str) -> anyhow::Result<()> {
    let files = match config.log_dir() {
        Some(dir) => {
            let json = config.logging.format == config::LogFormat::Json;
            let files = p2pmon_common::logging::init_with_files(log, &dir, json)
                .map_err(|e| anyhow::anyhow!("logging.dir: {e}"))?;
            tracing::info!(dir = %dir.display(), "Logging to monitor.log, alerts.log, access.log and error.log; SIGHUP reopens them.");
            Some(files)
        }
        None => {
            p2pmon_common::logging::init(log);
            None
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("p2pmon-aggregator")
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = Server::start(config).await?;
        let (stop, mut stopped) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            let _ = stop.send(true);
        });
        #[cfg(unix)]
        if let Some(files) = files {
            use tokio::signal::unix::{SignalKind, signal};
            let mut hangup = signal(SignalKind::hangup())?;
            tokio::spawn(async move {
                while hangup.recv().await.is_some() {
                    match files.reopen() {
                        Ok(()) => tracing::info!("Log files reopened."),
                        Err(error) => tracing::error!(%error, "Log files not reopened."),
                    }
                }
            });
        }
        let _ = stopped.wait_for(|s| *s).await;
        tracing::info!("Shutting down.");
        server.shutdown().await?;
        Ok(())
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn create_token(
    config: &AggregatorConfig,
    join: bool,
    ttl: Option<u64>,
    name: &str,
) -> anyhow::Result<()> {
    let conn = store::schema::open(&config.store_path())?;
    let (kind, ttl_ms) = if join {
        let ttl = ttl.unwrap_or(config.tokens.join_ttl_s);
        (TokenKind::Join, Some(ttl as i64 * 1000))
    } else {
        (TokenKind::Api, None)
    };
    let token = auth::create_token(&conn, kind, name, ttl_ms, now_ms())?;
    println!("{token}");
    match kind {
        TokenKind::Join => eprintln!(
            "Join token created: single use, valid for {} s. On the host: p2pmon-agent enroll --token <token>",
            ttl_ms.unwrap_or(0) / 1000
        ),
        TokenKind::Api => {
            eprintln!("API token created. Send it as `Authorization: Bearer <token>`.")
        }
    }
    Ok(())
}

fn list_tokens(config: &AggregatorConfig) -> anyhow::Result<()> {
    let conn = store::schema::open(&config.store_path())?;
    let now = now_ms();
    let time = |ms: Option<i64>| {
        ms.map(crate::clock::rfc3339)
            .unwrap_or_else(|| "-".to_string())
    };
    println!(
        "{:<12} {:<4} {:<8} {:<20} {:<20} {:<20} name",
        "ID", "KIND", "STATE", "CREATED", "EXPIRES", "USED/REVOKED"
    );
    for token in auth::list_tokens(&conn)? {
        let ended = token.revoked_ms.or(token.used_ms);
        println!(
            "{:<12} {:<4} {:<8} {:<20} {:<20} {:<20} {}",
            token.id,
            token.kind,
            token.state(now),
            time(Some(token.created_ms)),
            time(token.expires_ms),
            time(ended),
            p2pmon_common::rules::escape_text(&token.name)
        );
    }
    Ok(())
}

fn revoke_token(config: &AggregatorConfig, which: &str) -> anyhow::Result<()> {
    let conn = store::schema::open(&config.store_path())?;
    let id = auth::revoke_token(&conn, which, now_ms())?;
    eprintln!(
        "Token {id} revoked; a running aggregator refuses it, and ends the dashboard sessions it opened, within a second."
    );
    Ok(())
}

fn list_hosts(config: &AggregatorConfig) -> anyhow::Result<()> {
    let conn = store::schema::open(&config.store_path())?;
    let hosts = store::hosts(&conn)?;
    println!(
        "{:<24} {:<5} {:<8} {:<10} {:<14} plugins",
        "HOST", "TYPE", "STATE", "AGENT", "LAST SEEN (s)"
    );
    let now = now_ms();
    for host in hosts {
        let state = if host.revoked_ms.is_some() {
            "revoked"
        } else {
            "enrolled"
        };
        let seen = host
            .last_seen_ms
            .map(|t| ((now - t) / 1000).to_string())
            .unwrap_or_else(|| "never".to_string());
        let plugins = host
            .plugins
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|p| {
                        format!(
                            "{}@{} {:.12}",
                            p["name"].as_str().unwrap_or("?"),
                            p["version"].as_str().unwrap_or("?"),
                            p["sha256"].as_str().unwrap_or("?")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        println!(
            "{:<24} {:<5} {:<8} {:<10} {:<14} {plugins}",
            host.id, host.host_type, state, host.agent_version, seen
        );
    }
    Ok(())
}

fn revoke_host(config: &AggregatorConfig, host: &str) -> anyhow::Result<()> {
    let conn = store::schema::open(&config.store_path())?;
    if !auth::revoke_host(&conn, host, now_ms())? {
        anyhow::bail!("no enrolled host {host:?} (see `p2pmon-aggregator host list`)");
    }
    eprintln!("Host {host} revoked; a running aggregator refuses it within a second.");
    Ok(())
}
