//! The agent: builds the runtime from the config, loads every enabled plugin
//! (a plugin that fails to load is reported and skipped, the others run), and
//! either collects once or runs the actors and the batcher until shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::access::{Access, Resources, net};
use crate::config::{AgentConfig, PluginConfig};
use crate::output::{BatcherSettings, Sink, run_batcher};
use crate::runtime::system::FIRST_WINDOW;
use crate::runtime::{
    CallError, LoadError, PluginInfo, Runtime, RuntimeError, RuntimeOptions, Sandbox,
};
use crate::stats::{PluginStats, SelfMetrics};
use crate::supervisor::{self, PluginTask};
use crate::validate::Descriptors;
use p2pmon_common::telemetry::Telemetry;
use p2pmon_common::wire::{PluginIdentity, Record};

/// Records in flight between actors and the batcher; a full channel makes
/// actors wait rather than drop data.
const CHANNEL_CAPACITY: usize = 256;

/// Why a configured plugin did not start.
#[derive(Debug, thiserror::Error)]
pub enum PluginStartError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{plugin}: cannot read metadata: {error}")]
    Metadata { plugin: String, error: CallError },
}

/// The outcome of one plugin in `collect --once`.
pub struct CollectOutcome {
    pub plugin: Arc<str>,
    pub result: Result<Vec<Record>, CallError>,
}

pub struct Agent {
    runtime: Arc<Runtime>,
    resources: Arc<Resources>,
    config: AgentConfig,
    tasks: Vec<PluginTask>,
    identities: Vec<PluginIdentity>,
    failed: Vec<PluginStartError>,
}

impl Agent {
    /// Build the runtime and load every enabled plugin in `config`.
    pub async fn start(config: AgentConfig) -> Result<Self, RuntimeError> {
        let runtime = Arc::new(Runtime::new(&RuntimeOptions {
            cache_dir: config.cache_dir(),
            pooling: false,
        })?);
        let resources = Arc::new(Resources::from_config(&config).map_err(RuntimeError::Access)?);
        let mut tasks = Vec::new();
        let mut identities = Vec::new();
        let mut failed = Vec::new();
        for plugin in config.enabled_plugins() {
            match start_plugin(&runtime, &resources, &config, plugin).await {
                Ok((task, identity)) => {
                    tasks.push(task);
                    identities.push(identity);
                }
                Err(error) => {
                    tracing::error!(plugin = %plugin.name, %error, "Plugin not started.");
                    failed.push(error);
                }
            }
        }
        Ok(Self {
            runtime,
            resources,
            config,
            tasks,
            identities,
            failed,
        })
    }

    /// Plugins that could not be started, with why.
    pub fn failed(&self) -> &[PluginStartError] {
        &self.failed
    }

    /// Name, version and SHA-256 of every plugin that started, for the hello.
    pub fn plugin_identities(&self) -> Vec<PluginIdentity> {
        self.identities.clone()
    }

    /// Names of the plugins that started.
    pub fn plugin_names(&self) -> Vec<Arc<str>> {
        self.tasks.iter().map(|t| t.name.clone()).collect()
    }

    /// Wait for the first rate window, run every plugin once, and close.
    pub async fn collect_once(mut self) -> Vec<CollectOutcome> {
        tokio::time::sleep(FIRST_WINDOW).await;
        let outcomes = self.collect_round().await;
        self.close().await;
        outcomes
    }

    /// Run every plugin once, in config order, keeping the instances (and
    /// their state) for the next round.
    pub async fn collect_round(&mut self) -> Vec<CollectOutcome> {
        let mut outcomes = Vec::with_capacity(self.tasks.len());
        for task in &mut self.tasks {
            let result = match task.instance.as_mut() {
                Some(instance) => {
                    supervisor::collect_once(&task.name, instance, &task.descriptors, &task.stats)
                        .await
                }
                None => Err(CallError::Trap("no instance".to_string())),
            };
            outcomes.push(CollectOutcome {
                plugin: task.name.clone(),
                result,
            });
        }
        outcomes
    }

    /// Drop the plugin instances and close the database pools.
    pub async fn close(mut self) {
        self.tasks.clear();
        self.resources.close().await;
    }

    /// Run the actors and the batcher until `shutdown` turns true; then let
    /// calls in progress finish, flush, and return the number of batches written.
    pub async fn run(self, sink: Sink, shutdown: watch::Receiver<bool>) -> std::io::Result<u64> {
        let echo = self.start_echo_responder().await?;
        let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
        let self_metrics = Arc::new(SelfMetrics {
            plugins: self
                .tasks
                .iter()
                .map(|t| (t.name.clone(), t.stats.clone()))
                .collect(),
            transport: sink
                .transport()
                .map(|handles| Arc::new(handles) as Arc<dyn Telemetry + Send + Sync>),
        });
        let metrics_server = self
            .start_metrics_server(self_metrics.clone(), shutdown.clone())
            .await?;
        let settings = BatcherSettings {
            host_id: if sink.is_spool() {
                self.config.aggregator_host_id()
            } else {
                self.config.host_id()
            },
            batch_size: self.config.collection.batch_size,
            flush_interval: Duration::from_millis(self.config.collection.flush_interval_ms),
        };
        for task in self.tasks {
            tokio::spawn(supervisor::run(
                self.runtime.clone(),
                task,
                sender.clone(),
                shutdown.clone(),
            ));
        }
        drop(sender);
        tracing::info!(plugins = self_metrics.plugins.len(), "Agent running.");
        // Ends once every actor has stopped and dropped its sender.
        let written = run_batcher(settings, sink, receiver, self_metrics).await;
        if let Some(echo) = echo {
            echo.abort();
        }
        if let Some(server) = metrics_server {
            server.abort();
        }
        self.resources.close().await;
        written
    }

    /// Serve the self-metrics on `metrics_listen` (`GET /metrics`), if set.
    /// A port that cannot be bound stops start-up with the setting's name.
    async fn start_metrics_server(
        &self,
        metrics: Arc<SelfMetrics>,
        mut shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<Option<tokio::task::JoinHandle<()>>> {
        let listen = &self.config.metrics_listen;
        if listen.is_empty() {
            return Ok(None);
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("metrics_listen {listen}: {e}")))?;
        tracing::info!(listen = %listen, "Serving self-metrics at /metrics.");
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        metrics.exposition(),
                    )
                }
            }),
        );
        Ok(Some(tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = shutdown.wait_for(|stop| *stop).await;
                })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "The self-metrics listener failed.");
            }
        })))
    }

    /// Answer peers' UDP echo probes when `net.echo_listen` is set. A port
    /// that cannot be bound stops start-up with the setting's name.
    async fn start_echo_responder(&self) -> std::io::Result<Option<tokio::task::JoinHandle<()>>> {
        let listen = &self.config.net.echo_listen;
        if listen.is_empty() {
            return Ok(None);
        }
        let socket = net::bind_echo_responder(listen)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("net.echo_listen {listen}: {e}")))?;
        tracing::info!(listen = %listen, "Answering UDP echo probes.");
        Ok(Some(tokio::spawn(net::run_echo_responder(
            socket,
            self.config.net.echo_max_per_second,
        ))))
    }
}

/// Load one plugin, read its metadata in its first instance, and plan its task.
async fn start_plugin(
    runtime: &Runtime,
    resources: &Resources,
    config: &AgentConfig,
    plugin: &PluginConfig,
) -> Result<(PluginTask, PluginIdentity), PluginStartError> {
    let loaded = runtime.load(&config.plugin_path(plugin))?;
    let name: Arc<str> = Arc::from(plugin.name.as_str());
    let sandbox = Sandbox {
        grants: plugin.grants(),
        config: Arc::new(plugin.config_strings()),
        memory_limit_bytes: usize::try_from(
            plugin.memory_mb.unwrap_or(config.limits.memory_mb) << 20,
        )
        .unwrap_or(usize::MAX),
        time_limit: Duration::from_millis(plugin.time_ms.unwrap_or(config.limits.time_ms)),
        access: Arc::new(Access::for_plugin(plugin, resources)),
    };
    let stats = Arc::new(PluginStats::default());
    let metadata_error = |error| PluginStartError::Metadata {
        plugin: plugin.name.clone(),
        error,
    };
    let mut instance = runtime
        .instantiate(&loaded, name.clone(), &sandbox, stats.clone())
        .await
        .map_err(metadata_error)?;
    let info = instance.metadata().await.map_err(metadata_error)?;
    warn_about_missing_grants(plugin, &info);

    let interval = Duration::from_millis(
        plugin
            .interval_ms
            .unwrap_or(match info.default_interval_ms {
                0 => 5000,
                ms => u64::from(ms),
            })
            .max(50),
    );
    let jitter_ms = interval.as_millis() as u64 * u64::from(config.collection.jitter_percent) / 100;
    tracing::info!(
        plugin = %name,
        file = %loaded.path.display(),
        sha256 = %loaded.sha256,
        version = %info.version,
        contract = %loaded.contract,
        interval_ms = interval.as_millis() as u64,
        "Plugin loaded."
    );
    let identity = PluginIdentity {
        name: name.to_string(),
        version: info.version.clone(),
        sha256: loaded.sha256.clone(),
    };
    let task = PluginTask {
        name,
        plugin: loaded,
        sandbox,
        interval,
        first_delay: FIRST_WINDOW + Duration::from_millis(fastrand::u64(0..=jitter_ms)),
        descriptors: Descriptors::from_info(&info),
        restart: config.restart.clone(),
        stats,
        instance: Some(instance),
    };
    Ok((task, identity))
}

fn warn_about_missing_grants(plugin: &PluginConfig, info: &PluginInfo) {
    let granted = plugin.grants();
    for requested in &info.capabilities {
        let is_granted = requested
            .parse()
            .map(|cap| granted.contains(&cap))
            .unwrap_or(false);
        if !is_granted {
            tracing::warn!(
                plugin = %plugin.name,
                capability = %requested,
                "Plugin requests the `{requested}` capability, which agent.yml does not grant; calls that need it will be denied."
            );
        }
    }
}
