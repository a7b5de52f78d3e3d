//! The WASM plugin runtime: one wasmtime [`Engine`] and [`Linker`] for the
//! process, a cache of compiled plugins, and a [`PluginInstance`] per plugin
//! with its own `Store`, memory limit and time limit.
//!
//! Loading a plugin file: read it; turn a core module built by the SDK into a
//! component (wit-component); compile it (wasmtime's on-disk cache makes the
//! next start cheap); check the contract version it was built for; link it
//! (`InstancePre`). Calls are async: while a plugin runs, the epoch ticker
//! makes it yield to tokio every tick, and past its time limit the next tick
//! interrupts it.

pub mod fixture;
mod host;
mod loader;
mod log_budget;
pub mod system;
mod ticker;
mod wasi;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::Linker;
use wasmtime::{Config, Engine, Store, Trap, UpdateDeadline};

pub use host::{MemoryLimitExceeded, PluginState};
pub use loader::{LoadError, contract_version};
use system::SystemProbe;
use ticker::EpochTicker;

use crate::access::Access;
use crate::bindings;
use crate::capability::Capability;
use crate::stats::PluginStats;

pub use crate::bindings::p2pmon::plugin::types::{Collection, MetricKind, PluginInfo, Severity};

/// Errors creating the runtime itself.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot configure the WASM engine: {0}")]
    Engine(String),
    #[error("cannot use the compiled-plugin cache {}: {message}", .dir.display())]
    Cache { dir: PathBuf, message: String },
    #[error(transparent)]
    Probe(#[from] system::ProbeError),
    #[error("{0}")]
    Access(String),
}

/// How a plugin call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The plugin returned `err`: logged and counted, the instance stays.
    #[error("plugin reported an error: {0}")]
    Failed(String),
    #[error(
        "time limit of {limit_ms} ms exceeded (raise `time_ms` on this plugin in agent.yml, or `limits.time_ms` for all)"
    )]
    Timeout { limit_ms: u64 },
    #[error(
        "memory limit of {} MiB ({limit_bytes} bytes) exceeded (raise `memory_mb` on this plugin in agent.yml, or `limits.memory_mb` for all)",
        .limit_bytes >> 20
    )]
    OutOfMemory { limit_bytes: usize },
    #[error("plugin panicked: {0}")]
    Panic(String),
    #[error("plugin trapped: {0}")]
    Trap(String),
}

impl CallError {
    /// Whether the instance is unusable and must be replaced.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, CallError::Failed(_))
    }
}

/// Engine-wide choices.
#[derive(Clone, Debug, Default)]
pub struct RuntimeOptions {
    /// Directory for wasmtime's compiled-code cache; `None` disables it.
    pub cache_dir: Option<PathBuf>,
    /// Use the pooling instance allocator instead of on-demand allocation.
    /// Measured in the `plugin_runtime` benchmark; off by default (see
    /// docs/internals/plugins-runtime.md).
    pub pooling: bool,
}

/// Grants and limits for one plugin instance, from agent.yml.
#[derive(Clone, Debug)]
pub struct Sandbox {
    pub grants: BTreeSet<Capability>,
    pub config: Arc<BTreeMap<String, String>>,
    pub memory_limit_bytes: usize,
    pub time_limit: Duration,
    /// What the scoped capabilities reach; shared by the plugin's successive
    /// instances, so tail positions survive a restart.
    pub access: Arc<Access>,
}

impl Sandbox {
    /// No grants, small limits: for reading metadata (`plugin inspect`).
    pub fn inspect() -> Self {
        Self {
            grants: BTreeSet::new(),
            config: Arc::default(),
            memory_limit_bytes: 64 << 20,
            time_limit: Duration::from_secs(2),
            access: Arc::default(),
        }
    }
}

/// The process-wide plugin runtime.
pub struct Runtime {
    engine: Engine,
    linker: Linker<PluginState>,
    ticker: EpochTicker,
    system: Arc<SystemProbe>,
    /// Compiled plugins by SHA-256 of the file, so a file loaded twice is
    /// compiled once.
    compiled: Mutex<HashMap<String, Arc<LoadedPlugin>>>,
}

/// A plugin file compiled, version-checked and linked, ready to instantiate.
pub struct LoadedPlugin {
    pub path: PathBuf,
    /// Hex SHA-256 of the file as read from disk.
    pub sha256: String,
    /// Contract version the plugin was built for.
    pub contract: semver::Version,
    pre: bindings::PluginPre<PluginState>,
}

impl Runtime {
    pub fn new(options: &RuntimeOptions) -> Result<Self, RuntimeError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        // Plugins are small; a modest stack keeps deep recursion a trap
        // rather than a host problem.
        config.max_wasm_stack(1 << 20);
        if let Some(dir) = &options.cache_dir {
            let cache_error = |message: String| RuntimeError::Cache {
                dir: dir.clone(),
                message,
            };
            std::fs::create_dir_all(dir).map_err(|e| cache_error(e.to_string()))?;
            let mut cache_config = wasmtime::CacheConfig::new();
            cache_config.with_directory(dir);
            let cache = wasmtime::Cache::new(cache_config)
                .map_err(|e| cache_error(loader::one_line(&e)))?;
            config.cache(Some(cache));
        }
        if options.pooling {
            let mut pool = wasmtime::PoolingAllocationConfig::default();
            pool.total_component_instances(64)
                .total_core_instances(256)
                .total_memories(128)
                .total_tables(128)
                .max_memory_size(1 << 30);
            config.allocation_strategy(pool);
        }
        let engine =
            Engine::new(&config).map_err(|e| RuntimeError::Engine(loader::one_line(&e)))?;
        let mut linker = Linker::new(&engine);
        bindings::Plugin::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
            &mut linker,
            |state: &mut PluginState| state,
        )
        .map_err(|e| RuntimeError::Engine(loader::one_line(&e)))?;
        // WASI 0.2 for Python and JavaScript plugins, with nothing reachable
        // (wasi.rs); a plugin that does not import it is linked as before.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::Engine(loader::one_line(&e)))?;
        Ok(Self {
            ticker: EpochTicker::start(engine.clone()),
            engine,
            linker,
            system: Arc::new(SystemProbe::new()?),
            compiled: Mutex::new(HashMap::new()),
        })
    }

    /// Load, compile, version-check and link a plugin file. The same file
    /// (by content) is compiled once per process.
    pub fn load(&self, path: &Path) -> Result<Arc<LoadedPlugin>, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            message: source.to_string(),
        })?;
        let sha256 = loader::sha256_hex(&bytes);
        if let Some(found) = self.cached(&sha256) {
            return Ok(found);
        }
        let component = loader::compile(&self.engine, path, &bytes)?;
        let contract = loader::check_contract(path, &component)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(bindings::PluginPre::new)
            .map_err(|e| LoadError::Link {
                path: path.to_path_buf(),
                message: loader::one_line(&e),
            })?;
        let loaded = Arc::new(LoadedPlugin {
            path: path.to_path_buf(),
            sha256: sha256.clone(),
            contract,
            pre,
        });
        if let Ok(mut compiled) = self.compiled.lock() {
            compiled.insert(sha256, loaded.clone());
        }
        Ok(loaded)
    }

    fn cached(&self, sha256: &str) -> Option<Arc<LoadedPlugin>> {
        self.compiled.lock().ok()?.get(sha256).cloned()
    }

    /// A fresh instance of `plugin` in its own store with `sandbox`'s limits.
    pub async fn instantiate(
        &self,
        plugin: &LoadedPlugin,
        name: Arc<str>,
        sandbox: &Sandbox,
        stats: Arc<PluginStats>,
    ) -> Result<PluginInstance, CallError> {
        self.instantiate_with(plugin, name, sandbox, stats, None)
            .await
    }

    /// [`Runtime::instantiate`], with sql, file, net and http answered from
    /// `fixture` when one is given (`plugin test`).
    pub async fn instantiate_with(
        &self,
        plugin: &LoadedPlugin,
        name: Arc<str>,
        sandbox: &Sandbox,
        stats: Arc<PluginStats>,
        fixture: Option<Arc<fixture::Fixture>>,
    ) -> Result<PluginInstance, CallError> {
        let mut state = PluginState::new(
            name,
            sandbox.grants.clone(),
            sandbox.config.clone(),
            sandbox.memory_limit_bytes,
            self.system.clone(),
            sandbox.access.clone(),
            stats,
        );
        state.fixture = fixture;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.memory);
        store.epoch_deadline_callback(|context| {
            let expired = context
                .data()
                .deadline
                .is_some_and(|deadline| Instant::now() >= deadline);
            if expired {
                Ok(UpdateDeadline::Interrupt)
            } else {
                // Give the tokio worker back every tick so a busy plugin never
                // holds up the others.
                Ok(UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(tokio::task::yield_now()),
                ))
            }
        });
        let mut instance = PluginInstance {
            store,
            bindings: None,
            time_limit: sandbox.time_limit,
            ticker: self.ticker.clone(),
        };
        let pre = plugin.pre.clone();
        let bindings = instance
            .guarded(async |store| pre.instantiate_async(store).await)
            .await?;
        instance.bindings = Some(Arc::new(bindings));
        Ok(instance)
    }

    /// Read a plugin's metadata in a throwaway instance with no grants.
    pub async fn inspect(&self, plugin: &LoadedPlugin) -> Result<PluginInfo, CallError> {
        let name: Arc<str> = Arc::from(plugin.path.display().to_string());
        let mut instance = self
            .instantiate(plugin, name, &Sandbox::inspect(), Arc::default())
            .await?;
        instance.metadata().await
    }
}

/// One live plugin instance. Dropped and recreated after a fatal error.
pub struct PluginInstance {
    store: Store<PluginState>,
    bindings: Option<Arc<bindings::Plugin>>,
    time_limit: Duration,
    ticker: EpochTicker,
}

impl PluginInstance {
    /// Call the plugin's `metadata` export.
    pub async fn metadata(&mut self) -> Result<PluginInfo, CallError> {
        let bindings = self.bindings()?;
        self.guarded(async |store| bindings.p2pmon_plugin_guest().call_metadata(store).await)
            .await
    }

    /// Call the plugin's `collect` export.
    pub async fn collect(&mut self) -> Result<Collection, CallError> {
        let bindings = self.bindings()?;
        self.guarded(async |store| bindings.p2pmon_plugin_guest().call_collect(store).await)
            .await?
            .map_err(CallError::Failed)
    }

    /// Bytes of linear memory the instance holds now.
    pub fn memory_bytes(&self) -> usize {
        self.store.data().memory.current()
    }

    /// Largest linear memory the instance has held.
    pub fn peak_memory_bytes(&self) -> usize {
        self.store.data().memory.peak()
    }

    fn bindings(&self) -> Result<Arc<bindings::Plugin>, CallError> {
        self.bindings
            .clone()
            .ok_or_else(|| CallError::Trap("instance is not initialised".to_string()))
    }

    /// Run `call` under the time limit, with the epoch ticker running, and
    /// turn a trap into a [`CallError`] that says what happened.
    async fn guarded<R>(
        &mut self,
        call: impl AsyncFnOnce(&mut Store<PluginState>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let limit = self.time_limit;
        self.store.data_mut().begin_call(Instant::now() + limit);
        self.store.data_mut().panic_message = None;
        self.store.set_epoch_deadline(1);
        let _ticking = self.ticker.hold();
        // The epoch check only runs inside wasm; a host function that hangs is
        // caught by this outer timeout (with a margin for the epoch path).
        let outcome = tokio::time::timeout(
            limit + ticker::TICK * 4 + Duration::from_millis(100),
            call(&mut self.store),
        )
        .await;
        self.store.data_mut().deadline = None;
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.classify(error)),
            Err(_elapsed) => Err(CallError::Timeout {
                limit_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
            }),
        }
    }

    fn classify(&mut self, error: wasmtime::Error) -> CallError {
        let state = self.store.data_mut();
        if let Some(oom) = error.downcast_ref::<MemoryLimitExceeded>() {
            return CallError::OutOfMemory {
                limit_bytes: oom.limit,
            };
        }
        if let Some(message) = state.panic_message.take() {
            return CallError::Panic(message);
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => CallError::Timeout {
                limit_ms: u64::try_from(self.time_limit.as_millis()).unwrap_or(u64::MAX),
            },
            _ => CallError::Trap(loader::one_line(&error)),
        }
    }
}
