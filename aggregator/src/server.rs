//! Running the aggregator: bind the three listeners (ingest, API, WebSocket),
//! open the store, start the background jobs, and on shutdown stop taking
//! requests, let those in progress finish, and flush the store.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::alerting::{Alerting, AlertsConfig};
use crate::clock::now_ms;
use crate::config::{AggregatorConfig, MetricsConfig};
use crate::fanout::{self, Hub};
use crate::ingest::{self, IngestState, RateLimits};
use crate::limits::{CapAcceptor, ConnectionCounter};
use crate::live::Live;
use crate::state::{IngestStats, Shared};
use crate::store::{self, Store, StoreError};

/// How often the feed's clients are checked for revoked tokens, in seconds.
const REVOKED_FEED_CHECK_S: u64 = 2;

/// How often retention runs while serving.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "cannot listen on {addr} ({setting} in aggregator.yml): {error}{hint}",
        hint = port_hint(*addr, error)
    )]
    Bind {
        setting: &'static str,
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("ingest.tls: {0}")]
    Tls(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Alerting(#[from] crate::alerting::AlertingError),
    #[error(transparent)]
    Tsdb(#[from] crate::tsdb::TsdbError),
    #[error(transparent)]
    Config(#[from] p2pmon_common::yaml_config::ConfigErrors),
    #[error(transparent)]
    Coordinator(#[from] crate::coordinator::CoordinatorError),
    #[error("{0}")]
    Setup(String),
}

/// The jobs beside the listeners: status and retention, the status page's
/// days, and the coordinator's poll and FluxCP's settings when configured.
fn background_jobs(
    shared: &Arc<Shared>,
    coordinator: Option<crate::coordinator::Coordinator>,
    shutdown: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let config = &shared.config;
    let mut tasks = vec![
        tokio::spawn(status_job(shared.clone(), shutdown.clone())),
        tokio::spawn(crate::status_page::job(shared.clone(), shutdown.clone())),
    ];
    if let Some(coordinator) = coordinator {
        tasks.push(tokio::spawn(crate::coordinator::poll::run(
            coordinator,
            Duration::from_secs(config.coordinator.poll_s),
            shared.clone(),
            shutdown.clone(),
        )));
    }
    if !config.settings.url.is_empty() {
        tasks.push(tokio::spawn(crate::alerting::settings::run(
            config.settings.clone(),
            shared.alerting.clone(),
            shutdown.clone(),
        )));
    }
    tasks.push(tokio::spawn(retention_job(shared.clone(), shutdown)));
    tasks
}

fn port_hint(addr: SocketAddr, error: &std::io::Error) -> String {
    if error.kind() != std::io::ErrorKind::AddrInUse {
        return String::new();
    }
    let mut hint = ". Another program holds the port".to_string();
    if addr.port() == 5121 {
        hint.push_str(" (5121 is also rAthena's map-server default port)");
    }
    hint.push_str("; stop it or choose another port in the setting named above");
    hint
}

fn bind(setting: &'static str, addr: SocketAddr) -> Result<std::net::TcpListener, ServeError> {
    let listener = std::net::TcpListener::bind(addr).map_err(|error| ServeError::Bind {
        setting,
        addr,
        error,
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|error| ServeError::Bind {
            setting,
            addr,
            error,
        })?;
    Ok(listener)
}

/// A running aggregator.
pub struct Server {
    pub shared: Arc<Shared>,
    pub ingest_addr: SocketAddr,
    pub api_addr: SocketAddr,
    pub ws_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    ingest_handle: axum_server::Handle<SocketAddr>,
    api_handle: axum_server::Handle<SocketAddr>,
    /// Open connections per listener (ingest, API, WebSocket).
    pub connections: [Arc<ConnectionCounter>; 3],
    tasks: Vec<JoinHandle<()>>,
    /// Held while serving (see [`crate::ops::lock_data_dir`]).
    _data_lock: std::fs::File,
}

/// The three listeners, bound (a taken port names its setting).
struct Listeners {
    ingest: std::net::TcpListener,
    api: std::net::TcpListener,
    ws: std::net::TcpListener,
    ingest_addr: SocketAddr,
    api_addr: SocketAddr,
    ws_addr: SocketAddr,
}

impl Listeners {
    fn bind(config: &AggregatorConfig) -> Result<Self, ServeError> {
        let ingest = bind("ingest.listen", config.ingest.listen)?;
        let api = bind("api.listen", config.api.listen)?;
        let ws = bind("websocket.listen", config.websocket.listen)?;
        let local = |l: &std::net::TcpListener, setting, addr| {
            l.local_addr().map_err(|error| ServeError::Bind {
                setting,
                addr,
                error,
            })
        };
        Ok(Self {
            ingest_addr: local(&ingest, "ingest.listen", config.ingest.listen)?,
            api_addr: local(&api, "api.listen", config.api.listen)?,
            ws_addr: local(&ws, "websocket.listen", config.websocket.listen)?,
            ingest,
            api,
            ws,
        })
    }
}

/// An HTTP listener being served: its task, the handle that stops it, and
/// its open connections.
struct Served {
    task: JoinHandle<()>,
    handle: axum_server::Handle<SocketAddr>,
    connections: Arc<ConnectionCounter>,
}

impl Server {
    /// Bind every listener (a taken port stops start-up, naming its
    /// setting), open the store and start serving.
    pub async fn start(config: AggregatorConfig) -> Result<Self, ServeError> {
        let metrics = MetricsConfig::load(&config.metrics_path())?;
        let alert_rules = AlertsConfig::load_or_empty(&config.alerts_path())?;
        let listeners = Listeners::bind(&config)?;
        // One aggregator per data directory; a restore waits for none.
        let data_lock = crate::ops::lock_data_dir(&config.data_dir())
            .map_err(|e| ServeError::Setup(e.to_string()))?;
        let (store, live) = open_store(&config).await?;

        let hub = Hub::new(config.websocket.client_queue);
        let coordinator =
            crate::coordinator::Coordinator::from_config(&config.coordinator, &config.base_dir)?;
        let alerting =
            Alerting::start(alert_rules, coordinator.clone(), store.clone(), hub.clone()).await?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let tsdb = match start_tsdb(&config, shutdown_rx.clone())? {
            Some((tsdb, task)) => {
                tasks.push(task);
                Some(tsdb)
            }
            None => None,
        };
        let shared = Arc::new(Shared {
            config: config.clone(),
            alerting,
            metrics,
            store,
            live,
            hub: hub.clone(),
            ingest: IngestStats::default(),
            hosts_auth: Default::default(),
            api_auth: Default::default(),
            started: Instant::now(),
            coordinator: Default::default(),
            sessions: Default::default(),
            ws_port: listeners.ws_addr.port(),
            tsdb,
            status_page: Default::default(),
        });
        let replayed =
            crate::coordinator::sync::rebuild(&shared.coordinator.sync, &shared.store, now_ms())
                .await?;
        if replayed > 0 {
            tracing::info!(
                events = replayed,
                "Database sync status rebuilt from stored events."
            );
        }

        let (ingest_addr, api_addr, ws_addr) =
            (listeners.ingest_addr, listeners.api_addr, listeners.ws_addr);
        let ingest = serve_ingest(&shared, listeners.ingest, ingest_addr).await?;
        let api = serve_api(&shared, listeners.api, api_addr)?;
        let (ws_conns, feed) = serve_feed(&shared, hub, listeners.ws, ws_addr, &shutdown_rx)?;
        tasks.extend([ingest.task, api.task, feed]);
        tasks.extend(background_jobs(&shared, coordinator, shutdown_rx));

        tracing::info!(
            ingest = %ingest_addr,
            api = %api_addr,
            websocket = %format!("ws://{ws_addr}{}", config.websocket.path),
            store = %config.store_path().display(),
            tls = config.ingest.tls.is_some(),
            "Aggregator serving."
        );
        Ok(Self {
            shared,
            ingest_addr,
            api_addr,
            ws_addr,
            shutdown,
            ingest_handle: ingest.handle,
            api_handle: api.handle,
            connections: [ingest.connections, api.connections, ws_conns],
            tasks,
            _data_lock: data_lock,
        })
    }

    /// Stop taking requests, let those in progress finish (their batches
    /// are stored and acknowledged), then flush and close the store.
    pub async fn shutdown(self) -> Result<(), StoreError> {
        self.ingest_handle
            .graceful_shutdown(Some(Duration::from_secs(10)));
        self.api_handle
            .graceful_shutdown(Some(Duration::from_secs(10)));
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
        self.shared.alerting.close().await;
        let closed = self.shared.store.close().await;
        tracing::info!("Aggregator stopped; store flushed.");
        closed
    }
}

/// Open the store and fill the live view from it.
async fn open_store(config: &AggregatorConfig) -> Result<(Arc<Store>, Live), ServeError> {
    let store = Store::open_with(
        &config.store_path(),
        store::Options {
            durability: config.store.durability,
            ..store::Options::default()
        },
    )?;
    let live = Live::default();
    let (latest, hosts) = store
        .read(|conn| Ok((store::latest_points(conn)?, store::hosts(conn)?)))
        .await?;
    live.warm(latest, &hosts);
    Ok((store, live))
}

/// The external store's handle and its writer task.
type TsdbRunning = (Arc<crate::tsdb::Tsdb>, JoinHandle<()>);

/// The external store, when `influxdb.url` is set: its handle and its task.
fn start_tsdb(
    config: &AggregatorConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<Option<TsdbRunning>, ServeError> {
    if config.influxdb.url.is_empty() {
        return Ok(None);
    }
    let token = config
        .influxdb
        .read_token(&config.base_dir)
        .map_err(ServeError::Setup)?;
    let started = crate::tsdb::start(
        &config.influxdb,
        token,
        config.data_dir().join("influxdb-pending.lp"),
        shutdown,
    )?;
    Ok(Some(started))
}

/// Ingest, over TLS when configured, under its listener's timeouts and
/// connection caps.
async fn serve_ingest(
    shared: &Arc<Shared>,
    listener: std::net::TcpListener,
    addr: SocketAddr,
) -> Result<Served, ServeError> {
    let config = &shared.config;
    let limits = &config.limits;
    let app = ingest::router(Arc::new(IngestState {
        shared: shared.clone(),
        rates: RateLimits::default(),
    }))
    .layer(axum::middleware::from_fn_with_state(
        limits.ingest.body_timeout(),
        crate::limits::body_deadline,
    ));
    let connections = ConnectionCounter::new(
        "ingest",
        limits.ingest.max_connections,
        limits.ingest.max_per_address,
        &limits.proxies,
    );
    let handle = axum_server::Handle::new();
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let capped = CapAcceptor::new(connections.clone());
    let from_tcp = |listener| {
        axum_server::from_tcp(listener).map_err(|error| ServeError::Bind {
            setting: "ingest.listen",
            addr,
            error,
        })
    };
    let task = match config.tls_paths() {
        Some((cert, key)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
                .await
                .map_err(ServeError::Tls)?;
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls)
                .handshake_timeout(limits.ingest.header_timeout())
                .acceptor(capped);
            let server = from_tcp(listener)?
                .acceptor(acceptor)
                .handle(handle.clone());
            let server = crate::limits::configure(server, &limits.ingest);
            tokio::spawn(async move {
                if let Err(error) = server.serve(service).await {
                    tracing::error!(%error, "Ingest listener failed.");
                }
            })
        }
        None => {
            let server = from_tcp(listener)?.acceptor(capped).handle(handle.clone());
            let server = crate::limits::configure(server, &limits.ingest);
            tokio::spawn(async move {
                if let Err(error) = server.serve(service).await {
                    tracing::error!(%error, "Ingest listener failed.");
                }
            })
        }
    };
    Ok(Served {
        task,
        handle,
        connections,
    })
}

/// The query API, under its listener's timeouts and connection caps.
fn serve_api(
    shared: &Arc<Shared>,
    listener: std::net::TcpListener,
    addr: SocketAddr,
) -> Result<Served, ServeError> {
    let limits = &shared.config.limits;
    let connections = ConnectionCounter::new(
        "api",
        limits.api.max_connections,
        limits.api.max_per_address,
        &limits.proxies,
    );
    let app = crate::api::router(shared.clone()).layer(axum::middleware::from_fn_with_state(
        limits.api.body_timeout(),
        crate::limits::body_deadline,
    ));
    let handle = axum_server::Handle::new();
    let server = axum_server::from_tcp(listener)
        .map_err(|error| ServeError::Bind {
            setting: "api.listen",
            addr,
            error,
        })?
        .acceptor(CapAcceptor::new(connections.clone()))
        .handle(handle.clone());
    let server = crate::limits::configure(server, &limits.api);
    let task = tokio::spawn(async move {
        let served = server
            .serve(app.into_make_service_with_connect_info::<SocketAddr>())
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "API listener failed.");
        }
    });
    Ok(Served {
        task,
        handle,
        connections,
    })
}

/// The WebSocket feed: clients come in with an API token or a ticket.
fn serve_feed(
    shared: &Arc<Shared>,
    hub: Arc<Hub>,
    listener: std::net::TcpListener,
    addr: SocketAddr,
    shutdown: &watch::Receiver<bool>,
) -> Result<(Arc<ConnectionCounter>, JoinHandle<()>), ServeError> {
    let config = &shared.config;
    let limits = &config.limits;
    let listener =
        tokio::net::TcpListener::from_std(listener).map_err(|error| ServeError::Bind {
            setting: "websocket.listen",
            addr,
            error,
        })?;
    let token_shared = shared.clone();
    let check: fanout::TokenCheck = Arc::new(move |token: &str| {
        token_shared.sessions.redeem(token, now_ms()).or_else(|| {
            token_shared
                .api_token_ok(token)
                .then(|| crate::auth::hash(token))
        })
    });
    let connections = ConnectionCounter::new(
        "websocket",
        // Admitted clients are capped by websocket.max_clients; this
        // also bounds those still handshaking.
        config.websocket.max_clients.saturating_add(1024),
        limits.websocket.max_per_address,
        &limits.proxies,
    );
    let task = tokio::spawn(fanout::serve(
        listener,
        config.websocket.clone(),
        fanout::Gate::new(connections.clone(), limits.websocket.handshake_timeout_s),
        hub,
        check,
        shutdown.clone(),
    ));
    Ok((connections, task))
}

/// Every second: host state changes on the feed, the no-data rule,
/// reminders, and every [`REVOKED_FEED_CHECK_S`] feed clients whose token
/// was revoked (by `token revoke`, another process) closed.
async fn status_job(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                ticks += 1;
                if ticks.is_multiple_of(REVOKED_FEED_CHECK_S) {
                    let shared = shared.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        shared.hub.end_revoked(|hash| shared.api_token_hash_ok(hash))
                    })
                    .await;
                }
                shared.publish_state_changes();
                let now = now_ms();
                let interval = shared.metrics.collection.interval as i64;
                let view = shared.silence_view(now, interval * 6);
                shared.alerting.check_silence(&view, now, interval);
                shared.alerting.remind(now);
            }
            _ = stop.changed() => break,
        }
    }
}

/// Retention: at start and then every [`RETENTION_EVERY`].
async fn retention_job(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(RETENTION_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let retention = shared.metrics.retention();
                match shared.store.apply_retention(retention, now_ms()).await {
                    Ok(deleted) => tracing::info!(?deleted, "Retention applied."),
                    Err(error) => tracing::error!(%error, "Retention failed."),
                }
            }
            _ = stop.changed() => break,
        }
    }
}
