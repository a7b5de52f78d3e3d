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
    stats.calls.fetch_add(1, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let outcome = instance.collect().await;
    let elapsed = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    stats.last_duration_us.store(elapsed, Ordering::Relaxed);
    stats
        .memory_bytes
        .store(instance.memory_bytes() as u64, Ordering::Relaxed);
    match outcome {
        Ok(collection) => {
            let checked = validate::check(name, descriptors, collection, unix_ms());
            if checked.rejected > 0 {
                stats
                    .rejected
                    .fetch_add(checked.rejected, Ordering::Relaxed);
                tracing::warn!(
                    plugin = name,
                    rejected = checked.rejected,
                    first = checked.first_problem.as_deref().unwrap_or(""),
                    "Dropped invalid plugin output."
                );
            }
            Ok(checked.records)
        }
        Err(error) => {
            stats.record_failure(&error);
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

/// Run the plugin until `shutdown` turns true or the batcher goes away.
pub async fn run(
    runtime: Arc<Runtime>,
    mut task: PluginTask,
    records: mpsc::Sender<Vec<Record>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let name = task.name.clone();
    let initial_backoff = Duration::from_millis(task.restart.initial_backoff_ms);
    let max_backoff = Duration::from_millis(task.restart.max_backoff_ms);
    let mut backoff = initial_backoff;
    let mut crashes_in_a_row: u32 = 0;
    let mut successes_in_a_row: u32 = 0;
    let mut failures_in_a_row: u32 = 0;
    let mut quarantines_in_a_row: u32 = 0;
    let mut next = Instant::now() + task.first_delay;
    let mut instance = task.instance.take();
    let mut cpu = CpuWindow::new(&task.restart, Instant::now());
    // No call before this (a throttled or CPU-quarantined plugin).
    let mut not_before = Instant::now();

    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next.max(not_before)) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        // Fixed-rate schedule; a late call skips the missed slots.
        next += task.interval;
        let now = Instant::now();
        if next < now {
            next = now + task.interval;
        }

        let ran = instance.is_some();
        let waited_before = task.stats.host_wait_us.load(Ordering::Relaxed);
        let failure = match instance.as_mut() {
            Some(live) => match collect_once(&name, live, &task.descriptors, &task.stats).await {
                Ok(batch) => {
                    successes_in_a_row += 1;
                    failures_in_a_row = 0;
                    // It runs again: no longer quarantined nor failing.
                    task.stats.quarantined.store(false, Ordering::Relaxed);
                    task.stats.failing.store(false, Ordering::Relaxed);
                    if successes_in_a_row >= HEALTHY_AFTER_CALLS {
                        crashes_in_a_row = 0;
                        quarantines_in_a_row = 0;
                        backoff = initial_backoff;
                    }
                    if !batch.is_empty() && records.send(batch).await.is_err() {
                        return;
                    }
                    None
                }
                Err(error) => Some(error),
            },
            None => {
                task.stats.restarts.fetch_add(1, Ordering::Relaxed);
                match runtime
                    .instantiate(
                        &task.plugin,
                        name.clone(),
                        &task.sandbox,
                        task.stats.clone(),
                    )
                    .await
                {
                    Ok(fresh) => {
                        tracing::info!(plugin = %name, "Plugin restarted.");
                        instance = Some(fresh);
                        // Collect right away: the restart took the slot.
                        next = Instant::now();
                        None
                    }
                    Err(error) => {
                        task.stats.record_failure(&error);
                        Some(error)
                    }
                }
            }
        };

        if ran {
            // The call's own time: its duration less its waits on the
            // outside world (a probe's timeout is not CPU).
            let waited = task
                .stats
                .host_wait_us
                .load(Ordering::Relaxed)
                .saturating_sub(waited_before);
            let call = Duration::from_micros(
                task.stats
                    .last_duration_us
                    .load(Ordering::Relaxed)
                    .saturating_sub(waited),
            );
            match cpu.record(call, Instant::now(), task.restart.quarantine_after) {
                CpuVerdict::Within => {}
                CpuVerdict::Throttle(until) => {
                    task.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        plugin = %name,
                        share_percent = task.restart.cpu_percent,
                        window_ms = task.restart.cpu_window_ms,
                        "Plugin over its CPU share; throttled until the next window."
                    );
                    not_before = until;
                }
                CpuVerdict::Quarantine => {
                    task.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    task.stats.quarantined.store(true, Ordering::Relaxed);
                    let cooldown = quarantine_cooldown(&task.restart, quarantines_in_a_row);
                    quarantines_in_a_row = quarantines_in_a_row.saturating_add(1);
                    tracing::error!(
                        plugin = %name,
                        windows = task.restart.quarantine_after,
                        retry_in_s = cooldown.as_secs(),
                        "Plugin quarantined: over its CPU share for too many windows in a row; it is tried again after the cool-down."
                    );
                    not_before = Instant::now() + cooldown;
                    // A crashed instance is not used again, quarantined or not.
                    if failure.as_ref().is_some_and(CallError::is_fatal) {
                        instance = None;
                    }
                    continue;
                }
            }
        }
        let Some(error) = failure else { continue };
        successes_in_a_row = 0;
        if !error.is_fatal() {
            failures_in_a_row += 1;
            if failures_in_a_row == task.restart.quarantine_after {
                task.stats.failing.store(true, Ordering::Relaxed);
                tracing::error!(
                    plugin = %name,
                    %error,
                    failures = failures_in_a_row,
                    "Plugin failed every call; reported as failing until a call succeeds."
                );
            } else {
                tracing::warn!(plugin = %name, %error, "Plugin collect failed.");
            }
            continue;
        }
        instance = None;
        crashes_in_a_row += 1;
        if crashes_in_a_row >= task.restart.quarantine_after {
            task.stats.quarantined.store(true, Ordering::Relaxed);
            let cooldown = quarantine_cooldown(&task.restart, quarantines_in_a_row);
            quarantines_in_a_row = quarantines_in_a_row.saturating_add(1);
            tracing::error!(
                plugin = %name,
                %error,
                crashes = crashes_in_a_row,
                retry_in_s = cooldown.as_secs(),
                "Plugin quarantined after repeated crashes; it is tried again after the cool-down."
            );
            // On probation after the cool-down: one more crash before it is
            // healthy quarantines it again, for twice as long.
            crashes_in_a_row = task.restart.quarantine_after.saturating_sub(1);
            backoff = initial_backoff;
            next = Instant::now() + cooldown;
            continue;
        }
        tracing::warn!(
            plugin = %name,
            %error,
            restart_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
            crashes = crashes_in_a_row,
            "Plugin crashed; restarting after backoff."
        );
        next = Instant::now() + backoff;
        backoff = (backoff * 2).min(max_backoff);
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
