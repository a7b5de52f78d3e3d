//! One actor per plugin: it owns the plugin's instance, calls `collect` on the
//! plugin's interval, validates the output and sends it to the batcher. A
//! crash (trap, timeout, out of memory, panic) drops the instance; the next
//! one is created after an exponential backoff, and after too many crashes in
//! a row (without [`HEALTHY_AFTER_CALLS`] good calls between them) the plugin
//! is quarantined: left alone for a cool-down that doubles with each
//! quarantine in a row, then tried again (one more crash before it is healthy
//! quarantines it again). A plugin whose calls all fail without crashing is
//! reported as failing. Both show in the self-metrics
//! (`agent_plugin_quarantined`, `agent_plugin_failing`), which the aggregator
//! turns into a `plugin_quarantined` alert. Nothing here can stop another
//! plugin. A plugin whose calls take more than `restart.cpu_percent` of a
//! core over `restart.cpu_window_ms` waits for the next window (throttled);
//! `quarantine_after` throttled windows in a row quarantine it like crashes.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::config::RestartConfig;
use crate::runtime::system::unix_ms;
use crate::runtime::{CallError, LoadedPlugin, PluginInstance, Runtime, Sandbox};
use crate::stats::PluginStats;
use crate::validate::{self, Descriptors};
use p2pmon_common::telemetry::Figure;
use p2pmon_common::wire::Record;

/// Successful calls in a row after which an instance counts as healthy again:
/// its crash streak and backoff are forgotten. One success is not enough, or
/// a plugin that crashes every other call would never back off.
pub const HEALTHY_AFTER_CALLS: u32 = 3;

/// Everything an actor needs to run one configured plugin.
pub struct PluginTask {
    pub name: Arc<str>,
    pub plugin: Arc<LoadedPlugin>,
    pub sandbox: Sandbox,
    pub interval: Duration,
    /// Delay before the first collect, so plugins do not all run at once.
    pub first_delay: Duration,
    pub descriptors: Descriptors,
    pub restart: RestartConfig,
    pub stats: Arc<PluginStats>,
    /// An instance created while reading metadata, reused for the first call.
    pub instance: Option<PluginInstance>,
}

/// Collect once with `instance`, validate, and count. Shared by the actor
/// and `collect --once`.
pub async fn collect_once(
    name: &str,
    instance: &mut PluginInstance,
    descriptors: &Descriptors,
    stats: &PluginStats,
) -> Result<Vec<Record>, CallError> {
    stats.calls.inc();
    let started = std::time::Instant::now();
    let outcome = instance.collect().await;
    let elapsed = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    stats.last_duration_us.store(elapsed, Ordering::Relaxed);
    stats.memory_bytes.set(instance.memory_bytes() as u64);
    match outcome {
        Ok(collection) => {
            let checked = validate::check(name, descriptors, collection, unix_ms());
            if checked.rejected > 0 {
                p2pmon_common::count!(
                    stats.rejected,
                    checked.rejected,
                    warn,
                    plugin = name,
                    rejected = checked.rejected,
                    first = checked.first_problem.as_deref().unwrap_or(""),
                    "Dropped invalid plugin output."
                );
            }
            Ok(checked.records)
        }
        Err(error) => {
            failure_figure(stats, &error).inc();
            Err(error)
        }
    }
}

/// The time a plugin's calls took in the current window, against its share.
struct CpuWindow {
    window: Duration,
    budget: Duration,
    start: Instant,
    busy: Duration,
    over: bool,
    over_in_a_row: u32,
}

enum CpuVerdict {
    Within,
    /// Over the share: no call before this instant (the window's end).
    Throttle(Instant),
    /// Over the share for `quarantine_after` windows in a row.
    Quarantine,
}

impl CpuWindow {
    fn new(restart: &RestartConfig, now: Instant) -> Self {
        let window = Duration::from_millis(restart.cpu_window_ms);
        Self {
            window,
            budget: window.mul_f64(restart.cpu_percent as f64 / 100.0),
            start: now,
            busy: Duration::ZERO,
            over: false,
            over_in_a_row: 0,
        }
    }

    /// Count a call that took `call`, ending at `now`.
    fn record(&mut self, call: Duration, now: Instant, quarantine_after: u32) -> CpuVerdict {
        if now.duration_since(self.start) >= self.window {
            if !self.over {
                self.over_in_a_row = 0;
            }
            self.start = now;
            self.busy = Duration::ZERO;
            self.over = false;
        }
        self.busy += call;
        if self.over || self.busy <= self.budget {
            return CpuVerdict::Within;
        }
        self.over = true;
        self.over_in_a_row += 1;
        if self.over_in_a_row >= quarantine_after {
            self.over_in_a_row = 0;
            CpuVerdict::Quarantine
        } else {
            CpuVerdict::Throttle(self.start + self.window)
        }
    }
}

/// The streaks that decide a plugin's backoff, failing and quarantine.
struct Streaks {
    initial_backoff: Duration,
    max_backoff: Duration,
    backoff: Duration,
    crashes: u32,
    successes: u32,
    failures: u32,
    quarantines: u32,
}

/// One plugin's actor: its task, its instance and its schedule.
struct Actor {
    task: PluginTask,
    instance: Option<PluginInstance>,
    streaks: Streaks,
    cpu: CpuWindow,
    next: Instant,
    /// No call before this (a throttled or CPU-quarantined plugin).
    not_before: Instant,
}

/// Run the plugin until `shutdown` turns true or the batcher goes away.
pub async fn run(
    runtime: Arc<Runtime>,
    task: PluginTask,
    records: mpsc::Sender<Vec<Record>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut actor = Actor::new(task);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(actor.next.max(actor.not_before)) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        actor.advance_schedule();
        let ran = actor.instance.is_some();
        let waited_before = actor.task.stats.host_wait_us.load(Ordering::Relaxed);
        let ControlFlow::Continue(failure) = actor.call_or_restart(&runtime, &records).await else {
            return;
        };
        if ran && actor.quarantined_for_cpu(waited_before, failure.as_ref()) {
            continue;
        }
        if let Some(error) = failure {
            actor.after_failure(error);
        }
    }
}

impl Actor {
    fn new(mut task: PluginTask) -> Self {
        let initial_backoff = Duration::from_millis(task.restart.initial_backoff_ms);
        let now = Instant::now();
        Self {
            instance: task.instance.take(),
            streaks: Streaks {
                initial_backoff,
                max_backoff: Duration::from_millis(task.restart.max_backoff_ms),
                backoff: initial_backoff,
                crashes: 0,
                successes: 0,
                failures: 0,
                quarantines: 0,
            },
            cpu: CpuWindow::new(&task.restart, now),
            next: now + task.first_delay,
            not_before: now,
            task,
        }
    }

    /// Fixed-rate schedule; a late call skips the missed slots.
    fn advance_schedule(&mut self) {
        self.next += self.task.interval;
        let now = Instant::now();
        if self.next < now {
            self.next = now + self.task.interval;
        }
    }

    /// Collect with the live instance, or make a new one after a crash.
    /// Breaks when the batcher is gone.
    async fn call_or_restart(
        &mut self,
        runtime: &Runtime,
        records: &mpsc::Sender<Vec<Record>>,
    ) -> ControlFlow<(), Option<CallError>> {
        let task = &self.task;
        let Some(live) = self.instance.as_mut() else {
            task.stats.restarts.inc();
            let fresh = runtime
                .instantiate(
                    &task.plugin,
                    task.name.clone(),
                    &task.sandbox,
                    task.stats.clone(),
                )
                .await;
            return ControlFlow::Continue(match fresh {
                Ok(fresh) => {
                    tracing::info!(plugin = %task.name, "Plugin restarted.");
                    self.instance = Some(fresh);
                    // Collect right away: the restart took the slot.
                    self.next = Instant::now();
                    None
                }
                Err(error) => {
                    failure_figure(&task.stats, &error).inc();
                    Some(error)
                }
            });
        };
        match collect_once(&task.name, live, &task.descriptors, &task.stats).await {
            Ok(batch) => {
                let streaks = &mut self.streaks;
                streaks.successes += 1;
                streaks.failures = 0;
                // It runs again: no longer quarantined nor failing.
                task.stats.quarantined.set(0);
                task.stats.failing.set(0);
                if streaks.successes >= HEALTHY_AFTER_CALLS {
                    streaks.crashes = 0;
                    streaks.quarantines = 0;
                    streaks.backoff = streaks.initial_backoff;
                }
                if !batch.is_empty() && records.send(batch).await.is_err() {
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(None)
            }
            Err(error) => ControlFlow::Continue(Some(error)),
        }
    }

    /// Hold the call just made to the plugin's CPU share: throttle it, or
    /// quarantine it (true) after too many windows over the share.
    fn quarantined_for_cpu(&mut self, waited_before: u64, failure: Option<&CallError>) -> bool {
        let stats = &self.task.stats;
        let restart = &self.task.restart;
        // The call's own time: its duration less its waits on the outside
        // world (a probe's timeout is not CPU).
        let waited = stats
            .host_wait_us
            .load(Ordering::Relaxed)
            .saturating_sub(waited_before);
        let call = Duration::from_micros(
            stats
                .last_duration_us
                .load(Ordering::Relaxed)
                .saturating_sub(waited),
        );
        match self
            .cpu
            .record(call, Instant::now(), restart.quarantine_after)
        {
            CpuVerdict::Within => false,
            CpuVerdict::Throttle(until) => {
                stats.throttled.inc();
                tracing::warn!(
                    plugin = %self.task.name,
                    share_percent = restart.cpu_percent,
                    window_ms = restart.cpu_window_ms,
                    "Plugin over its CPU share; throttled until the next window."
                );
                self.not_before = until;
                false
            }
            CpuVerdict::Quarantine => {
                stats.throttled.inc();
                stats.quarantined.set(1);
                let cooldown = quarantine_cooldown(restart, self.streaks.quarantines);
                self.streaks.quarantines = self.streaks.quarantines.saturating_add(1);
                tracing::error!(
                    plugin = %self.task.name,
                    windows = restart.quarantine_after,
                    retry_in_s = cooldown.as_secs(),
                    "Plugin quarantined: over its CPU share for too many windows in a row; it is tried again after the cool-down."
                );
                self.not_before = Instant::now() + cooldown;
                // A crashed instance is not used again, quarantined or not.
                if failure.is_some_and(CallError::is_fatal) {
                    self.instance = None;
                }
                true
            }
        }
    }

    /// A failed call: counted towards failing, or a crash that drops the
    /// instance and restarts it after a backoff or a quarantine.
    fn after_failure(&mut self, error: CallError) {
        let (name, stats, restart) = (&self.task.name, &self.task.stats, &self.task.restart);
        let streaks = &mut self.streaks;
        streaks.successes = 0;
        if !error.is_fatal() {
            streaks.failures += 1;
            if streaks.failures == restart.quarantine_after {
                stats.failing.set(1);
                tracing::error!(
                    plugin = %name,
                    %error,
                    failures = streaks.failures,
                    "Plugin failed every call; reported as failing until a call succeeds."
                );
            } else {
                tracing::warn!(plugin = %name, %error, "Plugin collect failed.");
            }
            return;
        }
        self.instance = None;
        streaks.crashes += 1;
        if streaks.crashes >= restart.quarantine_after {
            stats.quarantined.set(1);
            let cooldown = quarantine_cooldown(restart, streaks.quarantines);
            streaks.quarantines = streaks.quarantines.saturating_add(1);
            tracing::error!(
                plugin = %name,
                %error,
                crashes = streaks.crashes,
                retry_in_s = cooldown.as_secs(),
                "Plugin quarantined after repeated crashes; it is tried again after the cool-down."
            );
            // On probation after the cool-down: one more crash before it is
            // healthy quarantines it again, for twice as long.
            streaks.crashes = restart.quarantine_after.saturating_sub(1);
            streaks.backoff = streaks.initial_backoff;
            self.next = Instant::now() + cooldown;
            return;
        }
        tracing::warn!(
            plugin = %name,
            %error,
            restart_in_ms = u64::try_from(streaks.backoff.as_millis()).unwrap_or(u64::MAX),
            crashes = streaks.crashes,
            "Plugin crashed; restarting after backoff."
        );
        self.next = Instant::now() + streaks.backoff;
        streaks.backoff = (streaks.backoff * 2).min(streaks.max_backoff);
    }
}

/// The figure a failed call counts in.
fn failure_figure<'a>(stats: &'a PluginStats, error: &CallError) -> &'a Figure {
    match error {
        CallError::Failed(_) => &stats.errors,
        CallError::Timeout { .. } => &stats.timeouts,
        CallError::OutOfMemory { .. } => &stats.out_of_memory,
        CallError::Panic(_) => &stats.panics,
        CallError::Trap(_) => &stats.traps,
    }
}

/// The cool-down of the quarantine that follows `earlier` ones in a row:
/// `quarantine_ms`, doubled each time, at most `max_quarantine_ms`.
fn quarantine_cooldown(restart: &RestartConfig, earlier: u32) -> Duration {
    let factor = 1u64 << earlier.min(32);
    Duration::from_millis(
        restart
            .quarantine_ms
            .saturating_mul(factor)
            .min(restart.max_quarantine_ms),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarantine_cool_down_doubles_up_to_its_cap() {
        let restart = RestartConfig {
            quarantine_ms: 1_000,
            max_quarantine_ms: 5_000,
            ..RestartConfig::default()
        };
        let seconds: Vec<u64> = (0..5)
            .map(|n| quarantine_cooldown(&restart, n).as_millis() as u64)
            .collect();
        assert_eq!(seconds, [1_000, 2_000, 4_000, 5_000, 5_000]);
        assert_eq!(
            quarantine_cooldown(&restart, u32::MAX),
            Duration::from_millis(5_000)
        );
    }
}
