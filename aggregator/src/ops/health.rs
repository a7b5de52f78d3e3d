//! `check-health` and `check-websocket`: what the running aggregator
//! depends on, checked from outside it, one line per check. Nothing is
//! sent: the SMTP server gets a connection test, webhooks a TCP connect, the
//! settings database a read of its table.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::alerting::AlertsConfig;
use crate::alerting::email::Mailer;
use crate::auth::{self, TokenKind};
use crate::clock::now_ms;
use crate::config::AggregatorConfig;
use crate::store;

const TIMEOUT: Duration = Duration::from_secs(10);

/// The result of one check.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Ok(String),
    Failed(String),
    /// Not configured.
    Skipped(String),
}

/// `addr` with an unspecified IP replaced by loopback (to connect to it).
pub fn reachable(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    addr
}

/// A two-minute API token of our own, so no secret has to be passed in.
pub fn short_token(config: &AggregatorConfig, name: &str) -> anyhow::Result<String> {
    let conn = store::schema::open(&config.store_path())?;
    Ok(auth::create_token(
        &conn,
        TokenKind::Api,
        name,
        Some(120_000),
        now_ms(),
    )?)
}

fn store_check(config: &AggregatorConfig) -> Outcome {
    let path = config.store_path();
    if !path.is_file() {
        return Outcome::Failed(format!("no store at {}", path.display()));
    }
    let checked =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|conn| {
                conn.busy_timeout(TIMEOUT)?;
                conn.query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0))
            });
    match checked {
        Ok(answer) if answer == "ok" => {
            Outcome::Ok(format!("{} passes quick_check", path.display()))
        }
        Ok(answer) => Outcome::Failed(format!("{}: {answer}", path.display())),
        Err(error) => Outcome::Failed(format!("{}: {error}", path.display())),
    }
}

async fn api_check(http: &reqwest::Client, addr: SocketAddr) -> Outcome {
    let url = format!("http://{addr}/api/v1/health");
    let answer = async {
        let response = http.get(&url).send().await?;
        let status = response.status();
        let body: serde_json::Value = response.json().await?;
        Ok::<_, reqwest::Error>((status, body))
    }
    .await;
    match answer {
        Ok((status, body)) if status.is_success() && body["status"] == "ok" => Outcome::Ok(
            format!("{addr} answers, {} hosts online", body["hosts"]["online"]),
        ),
        Ok((status, body)) => Outcome::Failed(format!("{addr} answers {status}: {body}")),
        Err(error) => Outcome::Failed(format!(
            "no aggregator answers on {addr} (api.listen): {}",
            error.without_url()
        )),
    }
}

/// Connect to the feed with `token`, ping it and wait for the pong.
pub async fn websocket_check(config: &AggregatorConfig, token: &str) -> Outcome {
    let addr = reachable(config.websocket.listen);
    let url = format!("ws://{addr}{}?token={token}", config.websocket.path);
    let started = Instant::now();
    let connected = tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(url)).await;
    let mut socket = match connected {
        Ok(Ok((socket, _))) => socket,
        Ok(Err(error)) => return Outcome::Failed(format!("ws://{addr}: {error}")),
        Err(_) => return Outcome::Failed(format!("ws://{addr}: no answer in {TIMEOUT:?}")),
    };
    let connect_ms = started.elapsed().as_millis();
    let pinged = Instant::now();
    if let Err(error) = socket.send(Message::Ping(PING.to_vec().into())).await {
        return Outcome::Failed(format!("ws://{addr}: {error}"));
    }
    let pong = async {
        while let Some(message) = socket.next().await {
            match message {
                Ok(Message::Pong(payload)) if payload.as_ref() == PING => return Ok(()),
                Ok(_) => continue,
                Err(error) => return Err(error.to_string()),
            }
        }
        Err("closed before answering".to_string())
    };
    match tokio::time::timeout(TIMEOUT, pong).await {
        Ok(Ok(())) => Outcome::Ok(format!(
            "ws://{addr}{} connected in {connect_ms} ms, ping answered in {} ms",
            config.websocket.path,
            pinged.elapsed().as_millis()
        )),
        Ok(Err(error)) => Outcome::Failed(format!("ws://{addr}: {error}")),
        Err(_) => Outcome::Failed(format!("ws://{addr}: no pong in {TIMEOUT:?}")),
    }
}

const PING: &[u8] = b"p2pmon-check";

/// The InfluxDB (or compatible) store's `/health`, when one is configured.
async fn tsdb_check(http: &reqwest::Client, config: &AggregatorConfig) -> Outcome {
    let url = config.influxdb.url.trim_end_matches('/');
    if url.is_empty() {
        return Outcome::Skipped("influxdb.url not set".to_string());
    }
    match http.get(format!("{url}/health")).send().await {
        Ok(response) if response.status().is_success() => {
            Outcome::Ok(format!("{url} answers /health"))
        }
        Ok(response) => Outcome::Failed(format!("{url}/health answered {}", response.status())),
        Err(error) => Outcome::Failed(format!("{url}: {}", error.without_url())),
    }
}

async fn smtp_check(alerts: &AlertsConfig) -> Outcome {
    let email = &alerts.notifications.email;
    if !email.enabled {
        return Outcome::Skipped("email not enabled in alerts.yml".to_string());
    }
    let server = format!("{}:{}", email.smtp.host, email.smtp.port);
    let mailer = match Mailer::new(email, TIMEOUT) {
        Ok(mailer) => mailer,
        Err(error) => return Outcome::Failed(error.to_string()),
    };
    match mailer.check().await {
        Ok(()) => Outcome::Ok(format!("{server} accepts a session")),
        Err(error) => Outcome::Failed(format!("{server}: {error}")),
    }
}

/// A TCP connection to the host and port of `url` (no request is sent).
async fn connect_check(url: &str) -> Outcome {
    let parsed = match url::Url::parse(url) {
        Ok(parsed) => parsed,
        Err(error) => return Outcome::Failed(format!("not a URL: {error}")),
    };
    let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else {
        return Outcome::Failed("the URL has no host".to_string());
    };
    let target = format!("{host}:{port}");
    match tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect(&target)).await {
        Ok(Ok(_)) => Outcome::Ok(format!("{target} accepts connections")),
        Ok(Err(error)) => Outcome::Failed(format!("{target}: {error}")),
        Err(_) => Outcome::Failed(format!("{target}: no answer in {TIMEOUT:?}")),
    }
}

async fn settings_check(config: &AggregatorConfig) -> Outcome {
    let settings = &config.settings;
    if settings.url.is_empty() {
        return Outcome::Skipped("settings.url not set".to_string());
    }
    let opts = match mysql_async::Opts::from_url(&settings.url) {
        Ok(opts) => opts,
        Err(_) => return Outcome::Failed("settings.url is not a mysql:// URL".to_string()),
    };
    let read = async {
        use mysql_async::prelude::Queryable;
        let mut conn = mysql_async::Conn::new(opts).await?;
        let count: Option<u64> = conn
            .query_first(format!("SELECT COUNT(*) FROM `{}`", settings.table))
            .await?;
        conn.disconnect().await?;
        Ok::<_, mysql_async::Error>(count.unwrap_or(0))
    };
    match tokio::time::timeout(TIMEOUT, read).await {
        Ok(Ok(rows)) => Outcome::Ok(format!("{} holds {rows} rows", settings.table)),
        Ok(Err(error)) => Outcome::Failed(format!("{}: {error}", settings.table)),
        Err(_) => Outcome::Failed(format!("no answer in {TIMEOUT:?}")),
    }
}

/// The coordinator: its `/health`, its host list with our token, and the
/// enabled automatic actions it has no route for.
pub async fn coordinator_check(config: &AggregatorConfig, alerts: &AlertsConfig) -> Outcome {
    let unsupported: Vec<String> = alerts
        .actions
        .unsupported()
        .into_iter()
        .map(|(_, why)| why)
        .collect();
    let coordinator =
        match crate::coordinator::Coordinator::from_config(&config.coordinator, &config.base_dir) {
            Ok(Some(coordinator)) => coordinator,
            Ok(None) if unsupported.is_empty() => {
                return Outcome::Skipped("coordinator.url not set".to_string());
            }
            Ok(None) => {
                return Outcome::Failed(format!("unsupported actions: {}", unsupported.join("; ")));
            }
            Err(error) => return Outcome::Failed(error.to_string()),
        };
    let health = match coordinator.get_body("/health").await {
        Ok(_) => "/health healthy".to_string(),
        Err(error) => return Outcome::Failed(error.to_string()),
    };
    let hosts = match coordinator
        .get_json::<Vec<serde_json::Value>>("/api/v1/hosts/", "a host list")
        .await
    {
        Ok(hosts) => format!("{} hosts registered", hosts.len()),
        Err(error) => return Outcome::Failed(format!("{health}; {error}")),
    };
    if unsupported.is_empty() {
        Outcome::Ok(format!("{health}, {hosts}"))
    } else {
        Outcome::Failed(format!(
            "{health}, {hosts}; unsupported actions: {}",
            unsupported.join("; ")
        ))
    }
}

/// Every check, in order: (name, outcome).
pub async fn check_all(
    config: &AggregatorConfig,
    alerts: &AlertsConfig,
    token: &str,
) -> Vec<(&'static str, Outcome)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .unwrap_or_default();
    let notifications = &alerts.notifications;
    let webhook = |enabled: bool, url: &str, name: &str| {
        let url = url.to_string();
        let name = name.to_string();
        async move {
            if enabled {
                connect_check(&url).await
            } else {
                Outcome::Skipped(format!("{name} not enabled in alerts.yml"))
            }
        }
    };
    let mut checks = vec![
        ("store", store_check(config)),
        ("api", api_check(&http, reachable(config.api.listen)).await),
        ("websocket", websocket_check(config, token).await),
        ("tsdb", tsdb_check(&http, config).await),
        ("smtp", smtp_check(alerts).await),
        (
            "discord",
            webhook(
                notifications.discord.enabled,
                &notifications.discord.webhook_url,
                "discord",
            )
            .await,
        ),
        (
            "slack",
            webhook(
                notifications.slack.enabled,
                &notifications.slack.webhook_url,
                "slack",
            )
            .await,
        ),
        (
            "sms",
            webhook(notifications.sms.enabled, &notifications.sms.url, "sms").await,
        ),
    ];
    for channel in notifications.push_channels() {
        let endpoint = channel.endpoint();
        let name = channel.name();
        checks.push((name, webhook(channel.enabled(), &endpoint, name).await));
    }
    checks.push(("settings", settings_check(config).await));
    checks.push(("coordinator", coordinator_check(config, alerts).await));
    checks
}
