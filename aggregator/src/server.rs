//! Running the aggregator: bind the three listeners (ingest, API, WebSocket),
//! open the store, start the background jobs, and on shutdown stop taking
//! requests, let those in progress finish, and flush the store.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::alerting::{Alerting, AlertsConfig};
use crate::config::{AggregatorConfig, MetricsConfig};
use crate::fanout::{self, Hub};
use crate::ingest::{self, IngestState, RateLimits};
use crate::limits::{CapAcceptor, ConnectionCounter};
use crate::state::{IngestStats, Live, Shared, now_ms};
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
    Config(#[from] p2pmon_common::yaml_config::ConfigErrors),
    #[error("{0}")]
    Setup(String),
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

impl Server {
    /// Bind every listener (a taken port stops start-up, naming its
    /// setting), open the store and start serving.
    pub async fn start(config: AggregatorConfig) -> Result<Self, ServeError> {
        let metrics = MetricsConfig::load(&config.metrics_path())?;
        let alert_rules = AlertsConfig::load_or_empty(&config.alerts_path())?;
        let ingest_listener = bind("ingest.listen", config.ingest.listen)?;
        let api_listener = bind("api.listen", config.api.listen)?;
        let ws_listener = bind("websocket.listen", config.websocket.listen)?;
        let local = |l: &std::net::TcpListener, setting, addr| {
            l.local_addr().map_err(|error| ServeError::Bind {
                setting,
                addr,
                error,
            })
        };
        let ingest_addr = local(&ingest_listener, "ingest.listen", config.ingest.listen)?;
        let api_addr = local(&api_listener, "api.listen", config.api.listen)?;
        let ws_addr = local(&ws_listener, "websocket.listen", config.websocket.listen)?;

        // One aggregator per data directory; a restore waits for none.
        let data_lock = crate::ops::lock_data_dir(&config.data_dir())
            .map_err(|e| ServeError::Setup(e.to_string()))?;
        let store = Store::open_with(&config.store_path(), config.store.durability)?;
        let live = Live::default();
        let (latest, hosts) = store
            .read(|conn| Ok((store::latest_points(conn)?, store::hosts(conn)?)))
            .await?;
        live.warm(latest, &hosts);

        let hub = Hub::new(config.websocket.client_queue);
        let coordinator = config.coordinator().map_err(ServeError::Setup)?;
        let alerting =
            Alerting::start(alert_rules, coordinator.clone(), store.clone(), hub.clone()).await?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        // The external store, when configured.
        let tsdb = if config.influxdb.url.is_empty() {
            None
        } else {
            let token = config.influxdb_token().map_err(ServeError::Setup)?;
            let (tsdb, task) = crate::tsdb::start(
                &config.influxdb,
                token,
                config.data_dir().join("influxdb-pending.lp"),
                shutdown_rx.clone(),
            )
            .map_err(ServeError::Setup)?;
            tasks.push(task);
            Some(tsdb)
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
            ws_port: ws_addr.port(),
            tsdb,
        });
        let replayed = crate::coordinator::sync::rebuild(&shared, crate::state::now_ms()).await?;
        if replayed > 0 {
            tracing::info!(
                events = replayed,
                "Database sync status rebuilt from stored events."
            );
        }

        // Ingest, over TLS when configured, and the query API: each under
        // its listener's timeouts and connection caps.
        let limits = &config.limits;
        let ingest_app = ingest::router(Arc::new(IngestState {
            shared: shared.clone(),
            rates: RateLimits::default(),
        }))
        .layer(axum::middleware::from_fn_with_state(
            limits.ingest.body_timeout(),
            crate::limits::body_deadline,
        ));
        let ingest_conns = ConnectionCounter::new(
            "ingest",
            limits.ingest.max_connections,
            limits.ingest.max_per_address,
            &limits.proxies,
        );
        let ingest_handle = axum_server::Handle::new();
        let service = ingest_app.into_make_service_with_connect_info::<SocketAddr>();
        let capped = CapAcceptor::new(ingest_conns.clone());
        match config.tls_paths() {
            Some((cert, key)) => {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
                    .await
                    .map_err(ServeError::Tls)?;
                let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls)
                    .handshake_timeout(limits.ingest.header_timeout())
                    .acceptor(capped);
                let server = axum_server::from_tcp(ingest_listener)
                    .map_err(|error| ServeError::Bind {
                        setting: "ingest.listen",
                        addr: ingest_addr,
                        error,
                    })?
                    .acceptor(acceptor)
                    .handle(ingest_handle.clone());
                let server = crate::limits::configure(server, &limits.ingest);
                tasks.push(tokio::spawn(async move {
                    if let Err(error) = server.serve(service).await {
                        tracing::error!(%error, "Ingest listener failed.");
                    }
                }));
            }
            None => {
                let server = axum_server::from_tcp(ingest_listener)
                    .map_err(|error| ServeError::Bind {
                        setting: "ingest.listen",
                        addr: ingest_addr,
                        error,
                    })?
                    .acceptor(capped)
                    .handle(ingest_handle.clone());
                let server = crate::limits::configure(server, &limits.ingest);
                tasks.push(tokio::spawn(async move {
                    if let Err(error) = server.serve(service).await {
                        tracing::error!(%error, "Ingest listener failed.");
                    }
                }));
            }
        }

        // Query API.
        let api_conns = ConnectionCounter::new(
            "api",
            limits.api.max_connections,
            limits.api.max_per_address,
            &limits.proxies,
        );
        let api_app =
            crate::api::router(shared.clone()).layer(axum::middleware::from_fn_with_state(
                limits.api.body_timeout(),
                crate::limits::body_deadline,
            ));
        let api_handle = axum_server::Handle::new();
        let api_server = axum_server::from_tcp(api_listener)
            .map_err(|error| ServeError::Bind {
                setting: "api.listen",
                addr: api_addr,
                error,
            })?
            .acceptor(CapAcceptor::new(api_conns.clone()))
            .handle(api_handle.clone());
        let api_server = crate::limits::configure(api_server, &limits.api);
        tasks.push(tokio::spawn(async move {
            let served = api_server
                .serve(api_app.into_make_service_with_connect_info::<SocketAddr>())
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "API listener failed.");
            }
        }));

        // WebSocket fan-out.
        let ws_listener =
            tokio::net::TcpListener::from_std(ws_listener).map_err(|error| ServeError::Bind {
                setting: "websocket.listen",
                addr: ws_addr,
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
        let ws_conns = ConnectionCounter::new(
            "websocket",
            // Admitted clients are capped by websocket.max_clients; this
            // also bounds those still handshaking.
            config.websocket.max_clients.saturating_add(1024),
            limits.websocket.max_per_address,
            &limits.proxies,
        );
        tasks.push(tokio::spawn(fanout::serve(
            ws_listener,
            config.websocket.clone(),
            fanout::Gate::new(ws_conns.clone(), limits.websocket.handshake_timeout_s),
            hub,
            check,
            shutdown_rx.clone(),
        )));

        // Host state changes, every second.
        let status_shared = shared.clone();
        let mut status_stop = shutdown_rx.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut ticks: u64 = 0;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        ticks += 1;
                        // Feed clients whose token was revoked (by
                        // `token revoke`, another process) are closed.
                        if ticks.is_multiple_of(REVOKED_FEED_CHECK_S) {
                            let shared = status_shared.clone();
                            let _ = tokio::task::spawn_blocking(move || {
                                shared.hub.end_revoked(|hash| shared.api_token_hash_ok(hash))
                            })
                            .await;
                        }
                        status_shared.publish_state_changes();
                        let now = now_ms();
                        let interval = status_shared.metrics.collection.interval as i64;
                        let view = status_shared.silence_view(now, interval * 6);
                        status_shared.alerting.check_silence(&view, now, interval);
                        status_shared.alerting.remind(now);
                    }
                    _ = status_stop.changed() => break,
                }
            }
        }));

        // The coordinator's host registry, when configured.
        if let Some(coordinator) = coordinator {
            tasks.push(tokio::spawn(crate::coordinator::poll::run(
                coordinator,
                Duration::from_secs(config.coordinator.poll_s),
                shared.clone(),
                shutdown_rx.clone(),
            )));
        }

        // Settings from FluxCP's database, when configured.
        if !config.settings.url.is_empty() {
            tasks.push(tokio::spawn(crate::alerting::settings::run(
                config.settings.clone(),
                shared.alerting.clone(),
                shutdown_rx.clone(),
            )));
        }

        // Retention: at start and then hourly.
        let retention_shared = shared.clone();
        let mut retention_stop = shutdown_rx.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(RETENTION_EVERY);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let retention = retention_shared.metrics.retention();
                        match retention_shared.store.apply_retention(retention, now_ms()).await {
                            Ok(deleted) => tracing::info!(?deleted, "Retention applied."),
                            Err(error) => tracing::error!(%error, "Retention failed."),
                        }
                    }
                    _ = retention_stop.changed() => break,
                }
            }
        }));

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
            ingest_handle,
            api_handle,
            connections: [ingest_conns, api_conns, ws_conns],
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

/// One `access` line per HTTP request (ingest and API): who, what, the
/// answer and how long it took. The path only: queries can carry tickets.
pub async fn access_log(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0.to_string())
        .unwrap_or_default();
    let response = next.run(request).await;
    tracing::info!(
        target: p2pmon_common::logging::ACCESS,
        %peer,
        %method,
        %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// Make a revocation take effect now in this process: forget cached
/// credentials, require a new hello, and tell the feed.
pub fn after_revoke(shared: &Shared, host: &str) {
    shared.hosts_auth.clear();
    if let Some(entry) = shared.live.write().get_mut(host) {
        entry.hello_ok = false;
    }
    tracing::warn!(%host, "Host revoked.");
    shared.hub.publish_status(
        Some(host),
        serde_json::json!({ "kind": "host_revoked", "host": host }),
    );
}
