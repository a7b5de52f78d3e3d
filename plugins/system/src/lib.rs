//! The system plugin: the monitoring design document's system metrics
//! (cpu_usage, memory_usage, disk_usage, network_io) plus swap, load, uptime
//! and process count, all read through the agent's `system` capability.

use p2pmon_plugin_sdk::rates::IntervalRates;
use p2pmon_plugin_sdk::{
    Capability, Collection, MetricSpec, Plugin, PluginInfo, Unit, export_plugin, host, system,
};

#[derive(Default)]
pub struct SystemPlugin {
    /// Byte counters per interface and direction at the last collect, so
    /// network_io covers the plugin's whole interval, not only the host's
    /// short refresh window.
    traffic: IntervalRates<(String, &'static str)>,
}

/// Share of `used` in `total` as a percentage; 0 when `total` is 0.
fn percent(used: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        used as f64 * 100.0 / total as f64
    }
}

impl Plugin for SystemPlugin {
    fn info() -> PluginInfo {
        PluginInfo::new("system", env!("CARGO_PKG_VERSION"))
            .description("CPU, memory, swap, disk and network usage, load and uptime of the host.")
            .metric(
                MetricSpec::gauge("cpu_usage", Unit::Percent).describe("CPU busy time, all cores"),
            )
            .metric(MetricSpec::gauge("memory_usage", Unit::Percent).describe("RAM in use"))
            .metric(MetricSpec::gauge("swap_usage", Unit::Percent).describe("Swap in use"))
            .metric(
                MetricSpec::gauge("disk_usage", Unit::Percent).describe("Space used, per mount"),
            )
            .metric(
                MetricSpec::gauge("network_io", Unit::BytesPerSecond)
                    .describe("Traffic per interface and direction (rx, tx)"),
            )
            .metric(
                MetricSpec::counter("network_errors", Unit::Count)
                    .describe("Receive and transmit errors per interface since boot"),
            )
            .metric(MetricSpec::gauge("load_average", Unit::Count).describe("1, 5 and 15 min load"))
            .metric(MetricSpec::gauge("uptime", Unit::Seconds).describe("Time since boot"))
            .metric(
                MetricSpec::gauge("process_count", Unit::Count).describe("Processes on the host"),
            )
            .capability(Capability::System)
            .capability(Capability::Clock)
            .interval_ms(5_000)
    }

    fn collect(&mut self, out: &mut Collection) -> Result<(), String> {
        let snap = system::snapshot(system::Request::all()).map_err(|e| e.to_string())?;

        if let Some(cpu) = &snap.cpu {
            out.gauge("cpu_usage", f64::from(cpu.usage_percent));
        }
        if let Some(mem) = &snap.memory {
            out.gauge("memory_usage", percent(mem.used_bytes, mem.total_bytes));
            out.gauge(
                "swap_usage",
                percent(mem.swap_used_bytes, mem.swap_total_bytes),
            );
        }
        for disk in &snap.disks {
            let used = disk.total_bytes.saturating_sub(disk.available_bytes);
            out.gauge("disk_usage", percent(used, disk.total_bytes))
                .tag("mount", disk.mount_point.clone())
                .tag("device", disk.device.clone());
        }
        // The clock is needed for rates over the plugin's own interval; without
        // its grant the host's short-window rate is reported, as before.
        let counters = snap.networks.iter().flat_map(|n| {
            [
                ((n.interface.clone(), "rx"), n.rx_bytes),
                ((n.interface.clone(), "tx"), n.tx_bytes),
            ]
        });
        let rates = match host::now_ms() {
            Ok(now) => self.traffic.update(now, counters),
            Err(_) => counters.map(|(key, _)| (key, None)).collect(),
        };
        for (net, pair) in snap.networks.iter().zip(rates.chunks(2)) {
            for (((interface, direction), rate), fallback) in pair
                .iter()
                .zip([net.rx_bytes_per_second, net.tx_bytes_per_second])
            {
                out.gauge("network_io", rate.unwrap_or(fallback))
                    .tag("interface", interface.clone())
                    .tag("direction", *direction);
            }
            out.counter("network_errors", (net.rx_errors + net.tx_errors) as f64)
                .tag("interface", net.interface.clone());
        }
        for (period, value) in [
            ("1m", snap.load.one),
            ("5m", snap.load.five),
            ("15m", snap.load.fifteen),
        ] {
            out.gauge("load_average", value).tag("period", period);
        }
        out.gauge("uptime", snap.uptime_seconds as f64);
        if let Some(procs) = &snap.processes {
            out.gauge("process_count", f64::from(procs.total));
        }
        Ok(())
    }
}

export_plugin!(SystemPlugin);

#[cfg(test)]
mod mock_tests;
