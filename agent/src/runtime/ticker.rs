//! The epoch ticker: advances the engine's epoch every [`TICK`] while at least
//! one plugin call is running, and sleeps otherwise, so an idle agent costs no
//! wake-ups for time limits.

use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use wasmtime::Engine;

/// Granularity of time limits and of the yields that keep plugins from
/// holding a tokio worker.
pub const TICK: Duration = Duration::from_millis(5);

/// How often an idle ticker thread checks whether the runtime is gone.
const IDLE_CHECK: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct EpochTicker {
    shared: Arc<Shared>,
}

struct Shared {
    active_calls: Mutex<usize>,
    wake: Condvar,
}

/// Keeps the ticker running while alive.
pub struct Ticking {
    shared: Arc<Shared>,
}

impl EpochTicker {
    /// Start the ticker thread for `engine`. It ends once every handle is dropped.
    pub fn start(engine: Engine) -> Self {
        let shared = Arc::new(Shared {
            active_calls: Mutex::new(0),
            wake: Condvar::new(),
        });
        let weak = Arc::downgrade(&shared);
        let spawned = std::thread::Builder::new()
            .name("p2pmon-epoch".to_string())
            .spawn(move || run(engine, weak));
        if let Err(error) = spawned {
            // Without the thread, time limits fall back to the outer timeout.
            tracing::error!(%error, "Cannot start the epoch ticker thread.");
        }
        Self { shared }
    }

    /// Tick until the returned guard is dropped.
    pub fn hold(&self) -> Ticking {
        if let Ok(mut active) = self.shared.active_calls.lock() {
            *active += 1;
        }
        self.shared.wake.notify_one();
        Ticking {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Ticking {
    fn drop(&mut self) {
        if let Ok(mut active) = self.shared.active_calls.lock() {
            *active = active.saturating_sub(1);
        }
    }
}

fn run(engine: Engine, shared: Weak<Shared>) {
    loop {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let active = match shared.active_calls.lock() {
            Ok(guard) => {
                if *guard == 0 {
                    match shared.wake.wait_timeout(guard, IDLE_CHECK) {
                        Ok((guard, _)) => *guard,
                        Err(_) => return,
                    }
                } else {
                    *guard
                }
            }
            Err(_) => return,
        };
        drop(shared);
        if active > 0 {
            std::thread::sleep(TICK);
            engine.increment_epoch();
        }
    }
}
