//! The per-call log budget of a plugin instance, shared by `host.log` and
//! the WASI stdout and stderr streams.

use std::sync::Arc;

use crate::stats::PluginStats;

/// `host.log` lines one call may write; the rest are dropped and counted
/// (`agent_plugin_log_dropped`). A plugin logging in a loop wrote 507 MB in
/// 10 s without it.
pub const LOG_LINES_PER_CALL: u32 = 100;
/// `host.log` bytes one call may write.
pub const LOG_BYTES_PER_CALL: usize = 64 * 1024;

/// The per-call log budget, shared by `host.log` and the WASI stdout and
/// stderr streams: [`LOG_LINES_PER_CALL`] lines, [`LOG_BYTES_PER_CALL`] bytes.
pub struct LogBudget {
    lines: u32,
    bytes: usize,
    announced: bool,
    stats: Arc<PluginStats>,
}

impl LogBudget {
    pub fn new(stats: Arc<PluginStats>) -> Self {
        Self {
            lines: 0,
            bytes: 0,
            announced: false,
            stats,
        }
    }

    /// A new call starts with the whole budget.
    pub fn reset(&mut self) {
        self.lines = 0;
        self.bytes = 0;
        self.announced = false;
    }

    /// Whether this call may still log a line of `bytes`; counts a line
    /// refused and announces the first refusal of the call.
    pub fn allow(&mut self, plugin: &str, bytes: usize) -> bool {
        if self.lines < LOG_LINES_PER_CALL && self.bytes + bytes <= LOG_BYTES_PER_CALL {
            self.lines += 1;
            self.bytes += bytes;
            return true;
        }
        self.stats.log_dropped.inc();
        if !self.announced {
            self.announced = true;
            tracing::warn!(
                plugin,
                "Plugin logged over {LOG_LINES_PER_CALL} lines or {LOG_BYTES_PER_CALL} bytes in one call; the rest of this call's lines are dropped (counted in agent_plugin_log_dropped)."
            );
        }
        false
    }
}
